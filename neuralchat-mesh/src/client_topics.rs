//! MQTT client sessions' topics, under `neuralchat/v1/clients/{client}/`,
//! where `{client}` is the client's MQTT client id (the broker's ACL lets a
//! client use only the topics of its own id):
//! - `open`: the client asks for a session; any node may take it (the
//!   nodes share one subscription);
//! - `in/{node}`: the client's frames for the session node `node` holds;
//! - `out`: the session's frames for the client;
//! - `close`: the client ends its session (also its last will).

/// The common prefix.
pub const CLIENTS: &str = "neuralchat/v1/clients";

/// The shared-subscription group of the nodes: an `open` goes to one node.
const SHARE_GROUP: &str = "neuralchat-nodes";

/// The shortest client id accepted: the id is what keeps another client
/// off a session's topics, so it must not be guessable.
pub const MIN_CLIENT_ID: usize = 16;
/// The longest client id accepted.
pub const MAX_CLIENT_ID: usize = 64;

/// What a message on a client topic asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientVerb {
    /// A new session.
    Open,
    /// A frame for the session.
    Frame,
    /// The end of the session.
    Close,
}

/// Whether `id` may name a client session: 16 to 64 letters, digits, `-`
/// or `_`.
pub fn valid_client_id(id: &str) -> bool {
    (MIN_CLIENT_ID..=MAX_CLIENT_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Reads a client topic: the client id and what it asks. `None` for any
/// other topic, a frame for another node, or an invalid client id.
pub fn parse<'a>(topic: &'a str, node: &str) -> Option<(&'a str, ClientVerb)> {
    let rest = topic.strip_prefix(CLIENTS)?.strip_prefix('/')?;
    let (client, verb) = rest.split_once('/')?;
    if !valid_client_id(client) {
        return None;
    }
    let verb = match verb {
        "open" => ClientVerb::Open,
        "close" => ClientVerb::Close,
        other => match other.strip_prefix("in/") {
            Some(to) if to == node => ClientVerb::Frame,
            _ => return None,
        },
    };
    Some((client, verb))
}

/// Where node frames for `client` go.
pub fn out(client: &str) -> String {
    format!("{CLIENTS}/{client}/out")
}

/// What node `node` subscribes to on its client links, each with whether
/// No Local applies (never: one is a shared subscription, and a node does
/// not publish on the others).
pub fn subscriptions(node: &str) -> Vec<(String, bool)> {
    vec![
        (format!("$share/{SHARE_GROUP}/{CLIENTS}/+/open"), false),
        (format!("{CLIENTS}/+/in/{node}"), false),
        (format!("{CLIENTS}/+/close"), false),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "abcdefghijklmnop";

    #[test]
    fn reads_each_verb_for_this_node_only() {
        let open = format!("{CLIENTS}/{ID}/open");
        assert_eq!(parse(&open, "a"), Some((ID, ClientVerb::Open)));
        let close = format!("{CLIENTS}/{ID}/close");
        assert_eq!(parse(&close, "a"), Some((ID, ClientVerb::Close)));
        let frame = format!("{CLIENTS}/{ID}/in/a");
        assert_eq!(parse(&frame, "a"), Some((ID, ClientVerb::Frame)));
        assert_eq!(parse(&frame, "b"), None);
        assert_eq!(parse(&format!("{CLIENTS}/{ID}/out"), "a"), None);
        assert_eq!(parse(&format!("{CLIENTS}/{ID}/in/a/x"), "a"), None);
        assert_eq!(parse("neuralchat/v1/mesh/events/a", "a"), None);
    }

    #[test]
    fn short_or_odd_client_ids_are_refused() {
        assert!(valid_client_id(ID));
        assert!(!valid_client_id("short"));
        assert!(!valid_client_id(&"x".repeat(65)));
        assert!(!valid_client_id("abcdefghijklmno+"));
        assert_eq!(parse(&format!("{CLIENTS}/short/open"), "a"), None);
    }
}
