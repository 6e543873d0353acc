//! The mesh's MQTT topics, under `neuralchat/v1/mesh/`:
//! - `events/{origin}`: events stored by node `origin`;
//! - `replies/{node}`: bot replies streaming on node `node` (start, pieces);
//! - `nodes/{node}`: a node's presence (retained; its last will says offline);
//! - `online/{node}`: who is online in which room on `node` (every few seconds);
//! - `stop/{node}`: `/stop` asked on `node`, for replies running elsewhere;
//! - `sync/request`: catch-up requests (every node reads them, the one
//!   asked answers);
//! - `sync/{node}`: catch-up answers for `node`.

/// The topics one node uses.
#[derive(Debug, Clone)]
pub struct Topics {
    /// Where this node publishes its events.
    pub events: String,
    /// Where this node publishes its bots' streaming replies.
    pub replies: String,
    /// This node's presence.
    pub presence: String,
    /// Who is online on this node.
    pub online: String,
    /// `/stop` asked on this node.
    pub stop: String,
    /// Catch-up requests.
    pub sync_request: String,
    /// Catch-up answers for this node.
    pub sync_answers: String,
}

/// The common prefix.
pub const PREFIX: &str = "neuralchat/v1/mesh";

impl Topics {
    /// The topics of node `node`.
    pub fn new(node: &str) -> Self {
        Self {
            events: format!("{PREFIX}/events/{node}"),
            replies: format!("{PREFIX}/replies/{node}"),
            presence: format!("{PREFIX}/nodes/{node}"),
            online: format!("{PREFIX}/online/{node}"),
            stop: format!("{PREFIX}/stop/{node}"),
            sync_request: format!("{PREFIX}/sync/request"),
            sync_answers: format!("{PREFIX}/sync/{node}"),
        }
    }

    /// Where to answer node `node`.
    pub fn answers_for(node: &str) -> String {
        format!("{PREFIX}/sync/{node}")
    }

    /// What a node subscribes to.
    pub fn subscriptions(&self) -> Vec<String> {
        vec![
            format!("{PREFIX}/events/+"),
            format!("{PREFIX}/replies/+"),
            format!("{PREFIX}/nodes/+"),
            format!("{PREFIX}/online/+"),
            format!("{PREFIX}/stop/+"),
            self.sync_request.clone(),
            self.sync_answers.clone(),
        ]
    }
}
