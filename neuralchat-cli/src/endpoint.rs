//! Server addresses: `--server` accepts `ws://host:port/ws`, `http://host:port`
//! or a bare `host:port`, and every form is normalised to a WebSocket URL.

/// The server used when no `--server` is given.
pub const DEFAULT_SERVER: &str = "ws://127.0.0.1:8080/ws";

/// The port assumed for a bare `host` without a scheme.
const DEFAULT_PORT: u16 = 8080;

/// The WebSocket endpoint's path, used when the address has none.
const DEFAULT_PATH: &str = "/ws";

/// The port assumed for a broker address without one (MQTT over TLS:
/// [`DEFAULT_TLS_BROKER_PORT`]).
const DEFAULT_BROKER_PORT: u16 = 1883;
/// The port assumed for an `mqtts://` or `ssl://` address without one.
const DEFAULT_TLS_BROKER_PORT: u16 = 8883;

/// Normalises an MQTT broker address to `mqtt://host:port` (`mqtts://`,
/// `tcp://` and `ssl://` are kept as given; a missing port is 1883, or
/// 8883 over TLS).
pub fn normalize_broker(input: &str) -> Result<String, String> {
    let input = input.trim();
    let (scheme, rest) = match input.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            scheme @ ("mqtt" | "mqtts" | "tcp" | "ssl") => (scheme.to_string(), rest),
            other => {
                return Err(format!(
                    "unsupported scheme {other:?} in broker address {input:?}: use mqtt://host:port"
                ))
            }
        },
        None => ("mqtt".to_string(), input),
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '@', '?', '#', ' ']) {
        return Err(format!(
            "bad broker address {input:?}: use mqtt://host:port"
        ));
    }
    match split_port(authority) {
        Ok((_, Some(port))) => {
            port.parse::<u16>()
                .map_err(|_| format!("bad port {port:?} in broker address {input:?}"))?;
            Ok(format!("{scheme}://{authority}"))
        }
        Ok((host, None)) => {
            let port = match scheme.as_str() {
                "mqtts" | "ssl" => DEFAULT_TLS_BROKER_PORT,
                _ => DEFAULT_BROKER_PORT,
            };
            Ok(format!("{scheme}://{host}:{port}"))
        }
        Err(why) => Err(format!("{why} in broker address {input:?}")),
    }
}

/// Normalises a server address to `ws://host:port/path` (or `wss://` for
/// `https://` and `wss://`). A bare `host` gets port 8080; an address with a
/// scheme but no port keeps the scheme's default port. A missing or `/` path
/// becomes `/ws`.
pub fn normalize(input: &str) -> Result<String, String> {
    let input = input.trim();
    if input.is_empty() {
        return Err("the server address is empty".into());
    }
    let (scheme, rest, has_scheme) = match input.split_once("://") {
        Some((scheme, rest)) => {
            let scheme = match scheme.to_ascii_lowercase().as_str() {
                "ws" | "http" => "ws",
                "wss" | "https" => "wss",
                other => {
                    return Err(format!(
                        "unsupported scheme {other:?} in {input:?}: use ws://, http:// or host:port"
                    ))
                }
            };
            (scheme, rest, true)
        }
        None => ("ws", input, false),
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("no host in server address {input:?}"));
    }
    if authority.chars().any(|c| c.is_whitespace() || c == '@') {
        return Err(format!(
            "bad host {authority:?} in server address {input:?}"
        ));
    }
    let authority = match split_port(authority) {
        Ok((_, Some(port))) => {
            port.parse::<u16>()
                .map_err(|_| format!("bad port {port:?} in server address {input:?}"))?;
            authority.to_string()
        }
        Ok((host, None)) if has_scheme => host.to_string(),
        Ok((host, None)) => format!("{host}:{DEFAULT_PORT}"),
        Err(why) => return Err(format!("{why} in server address {input:?}")),
    };
    let path = if path.is_empty() || path == "/" {
        DEFAULT_PATH.to_string()
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        // A query or fragment straight after the host.
        format!("{DEFAULT_PATH}{path}")
    };
    Ok(format!("{scheme}://{authority}{path}"))
}

/// Splits `host[:port]` (IPv6 hosts in brackets) into the host and the port text.
fn split_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if authority.starts_with('[') {
        let Some(end) = authority.find(']') else {
            return Err("unclosed '[' in the host");
        };
        let (host, after) = authority.split_at(end + 1);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err("unexpected text after the IPv6 address"),
            },
        };
    }
    match authority.split_once(':') {
        None => Ok((authority, None)),
        Some((_, port)) if port.contains(':') => Err("an IPv6 address must be written in brackets"),
        Some((host, port)) => Ok((host, Some(port))),
    }
}

#[cfg(test)]
mod tests {
    use super::{normalize, normalize_broker};

    #[test]
    fn broker_addresses_get_a_scheme_and_a_port() {
        assert_eq!(
            normalize_broker("127.0.0.1").unwrap(),
            "mqtt://127.0.0.1:1883"
        );
        assert_eq!(normalize_broker("h:18831").unwrap(), "mqtt://h:18831");
        assert_eq!(normalize_broker("tcp://h:1").unwrap(), "tcp://h:1");
        assert_eq!(normalize_broker("mqtts://h").unwrap(), "mqtts://h:8883");
        for bad in ["ws://h:1", "h:x", "", "mqtt://", "mqtt://u@h:1", "h:1/path"] {
            assert!(normalize_broker(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keeps_a_full_websocket_url() {
        assert_eq!(
            normalize("ws://127.0.0.1:8080/ws").unwrap(),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(
            normalize("ws://h:1/custom/path").unwrap(),
            "ws://h:1/custom/path"
        );
    }

    #[test]
    fn turns_http_into_ws_and_adds_the_path() {
        assert_eq!(
            normalize("http://127.0.0.1:9000").unwrap(),
            "ws://127.0.0.1:9000/ws"
        );
        assert_eq!(normalize("HTTP://Host:9000/").unwrap(), "ws://Host:9000/ws");
        assert_eq!(
            normalize("https://chat.example.com").unwrap(),
            "wss://chat.example.com/ws"
        );
        assert_eq!(normalize("ws://h:1").unwrap(), "ws://h:1/ws");
    }

    #[test]
    fn bare_host_and_port() {
        assert_eq!(
            normalize("localhost:9000").unwrap(),
            "ws://localhost:9000/ws"
        );
        assert_eq!(normalize(" localhost ").unwrap(), "ws://localhost:8080/ws");
        assert_eq!(normalize("[::1]:9000").unwrap(), "ws://[::1]:9000/ws");
        assert_eq!(normalize("[::1]").unwrap(), "ws://[::1]:8080/ws");
        assert_eq!(normalize("h:1?x=y").unwrap(), "ws://h:1/ws?x=y");
    }

    #[test]
    fn refuses_bad_addresses() {
        for bad in [
            "",
            "ftp://x:1",
            "ws://",
            "h:notaport",
            "h:70000",
            "::1",
            "[::1",
            "a b:1",
            "u@h:1",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
