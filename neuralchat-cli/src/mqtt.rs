//! The MQTT transport: the same protocol frames, carried through an MQTT
//! broker that NeuralChat nodes are connected to (docs/PROTOCOL.md, "MQTT").
//! The client publishes `open` under its own client id; one node takes it
//! and answers `hello` (naming itself) on the client's `out` topic; the
//! client's frames then go to `in/{node}`. While idle the client pings the
//! node, so a node that vanished is noticed and the caller can reconnect.

use anyhow::{anyhow, Result};
use futures_util::StreamExt;
use paho_mqtt as mqtt;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// The client topics' prefix.
const CLIENTS: &str = "neuralchat/v1/clients";
/// Ping the node after this long without a frame from it.
const PING_AFTER: Duration = Duration::from_secs(5);
/// A node that does not answer a ping in this time is gone.
const PONG_WAIT: Duration = Duration::from_secs(5);
/// The `ref` prefix of the transport's own pings (their pongs are not
/// handed up).
const KEEPALIVE_REF: &str = "mqtt-keepalive";
/// MQTT keep-alive with the broker.
const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Frames the broker delivered and the caller has not read yet.
const QUEUE: usize = 4096;
/// Codes of `error` frames without `ref` after which the node has ended
/// the session.
const ENDING_CODES: [&str; 5] = [
    "no_session",
    "shutting_down",
    "slow_consumer",
    "frame_too_large",
    "unauthenticated",
];

/// A session held by some node, reached through one broker.
pub struct MqttConn {
    /// The broker, as given.
    pub url: String,
    /// The paho client.
    client: mqtt::AsyncClient,
    /// Messages from the broker; `None` in it means the connection dropped.
    messages: mqtt::AsyncReceiver<Option<mqtt::Message>>,
    /// This client's id (also the name of its topics).
    id: String,
    /// Where frames go, once `hello` named the node.
    input: Option<String>,
    /// Why the session ended, once it did.
    pub close_reason: Option<String>,
    /// Set when the last frame handed up ended the session.
    ending: Option<String>,
    /// When the node was last heard.
    last_heard: Instant,
    /// When the outstanding keep-alive ping was sent.
    ping_sent: Option<Instant>,
    /// Numbers keep-alive pings.
    pings: u64,
}

/// The broker address for paho: `mqtt://` is `tcp://`, `mqtts://` is
/// `ssl://`; a bare `host:port` is `tcp://`.
pub fn broker_uri(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("mqtt://") {
        format!("tcp://{rest}")
    } else if let Some(rest) = url.strip_prefix("mqtts://") {
        format!("ssl://{rest}")
    } else if url.contains("://") {
        url.to_string()
    } else {
        format!("tcp://{url}")
    }
}

/// Whether `url` names an MQTT broker rather than a WebSocket server.
pub fn is_broker(url: &str) -> bool {
    ["mqtt://", "mqtts://", "tcp://", "ssl://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
}

impl MqttConn {
    /// Connects to the broker and asks for a session (the `hello` answer is
    /// the first frame [`MqttConn::recv`] returns).
    /// Over `mqtts://` (or `ssl://`) the broker's certificate is verified
    /// against the system's CAs, or `ca_file` when given.
    pub async fn connect(url: &str, ca_file: Option<&Path>, limit: Duration) -> Result<Self> {
        // Random and long: the broker's ACL gives this id's topics to
        // whoever connects with it.
        let id = format!("nc{}", uuid::Uuid::now_v7().simple());
        let client = mqtt::CreateOptionsBuilder::new()
            .server_uri(broker_uri(url))
            .client_id(&id)
            .mqtt_version(mqtt::MQTT_VERSION_5)
            .create_client()
            .map_err(|e| anyhow!("{e}"))?;
        let mut client = client;
        let messages = client.get_stream(QUEUE);
        let mut options = mqtt::ConnectOptionsBuilder::new_v5();
        if broker_uri(url).starts_with("ssl://") {
            let mut ssl = mqtt::SslOptionsBuilder::new();
            ssl.enable_server_cert_auth(true).verify(true);
            if let Some(ca) = ca_file {
                ssl.trust_store(ca)
                    .map_err(|e| anyhow!("--ca {}: {e}", ca.display()))?;
            }
            options.ssl_options(ssl.finalize());
        }
        let options = options
            .clean_start(true)
            .keep_alive_interval(KEEP_ALIVE)
            .connect_timeout(limit)
            // If this process vanishes, the broker ends the session for it.
            .will_message(mqtt::Message::new(
                format!("{CLIENTS}/{id}/close"),
                Vec::new(),
                mqtt::QOS_1,
            ))
            .finalize();
        client.connect(options).await.map_err(|e| anyhow!("{e}"))?;
        client
            .subscribe(format!("{CLIENTS}/{id}/out"), mqtt::QOS_1)
            .await
            .map_err(|e| anyhow!("subscribing: {e}"))?;
        client
            .publish(mqtt::Message::new(
                format!("{CLIENTS}/{id}/open"),
                Vec::new(),
                mqtt::QOS_1,
            ))
            .await
            .map_err(|e| anyhow!("asking for a session: {e}"))?;
        Ok(Self {
            url: url.to_string(),
            client,
            messages,
            id,
            input: None,
            close_reason: None,
            ending: None,
            last_heard: Instant::now(),
            ping_sent: None,
            pings: 0,
        })
    }

    /// Sends one client frame to the session's node.
    pub async fn send(&mut self, text: String) -> Result<()> {
        let Some(input) = &self.input else {
            return Err(anyhow!("no node has taken the session yet"));
        };
        self.client
            .publish(mqtt::Message::new(input.clone(), text, mqtt::QOS_1))
            .await
            .map_err(|e| anyhow!("publishing to {}: {e}", self.url))
    }

    /// The next frame from the node; `None` once the session has ended.
    /// Cancel-safe: frames wait in the paho stream.
    pub async fn recv(&mut self) -> Option<String> {
        if let Some(reason) = self.ending.take() {
            self.close_reason = Some(reason);
        }
        if self.close_reason.is_some() {
            return None;
        }
        loop {
            let quiet_until = self.last_heard + PING_AFTER;
            let wake = match self.ping_sent {
                Some(sent) => sent + PONG_WAIT,
                None => quiet_until,
            };
            tokio::select! {
                message = self.messages.next() => match message {
                    Some(Some(message)) => {
                        self.last_heard = Instant::now();
                        let text = String::from_utf8_lossy(message.payload()).into_owned();
                        if self.take_frame(&text) {
                            return Some(text);
                        }
                    }
                    Some(None) | None => {
                        self.close_reason = Some(format!("lost the broker {}", self.url));
                        return None;
                    }
                },
                _ = tokio::time::sleep_until(wake) => {
                    if self.ping_sent.is_some() {
                        self.close_reason = Some(format!(
                            "the node stopped answering (no pong in {} s)", PONG_WAIT.as_secs()));
                        return None;
                    }
                    self.ping();
                }
            }
        }
    }

    /// Looks at a frame from the node: learns the node from `hello`, keeps
    /// the transport's own pongs, notes a session-ending error. Returns
    /// whether the caller gets it.
    fn take_frame(&mut self, text: &str) -> bool {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return true;
        };
        let kind = frame.get("type").and_then(Value::as_str).unwrap_or("");
        let reference = frame.get("ref").and_then(Value::as_str);
        match kind {
            "hello" => {
                if let Some(node) = frame.get("node").and_then(Value::as_str) {
                    self.input = Some(format!("{CLIENTS}/{}/in/{node}", self.id));
                }
            }
            "pong" if reference.is_some_and(|r| r.starts_with(KEEPALIVE_REF)) => {
                self.ping_sent = None;
                return false;
            }
            "error" if reference.is_none() => {
                let code = frame.get("code").and_then(Value::as_str).unwrap_or("");
                if ENDING_CODES.contains(&code) {
                    let message = frame.get("message").and_then(Value::as_str).unwrap_or("");
                    self.ending = Some(format!("the node ended the session ({code}: {message})"));
                }
            }
            _ => {}
        }
        true
    }

    /// Pings the node (without waiting).
    fn ping(&mut self) {
        let Some(input) = &self.input else {
            self.last_heard = Instant::now();
            return;
        };
        self.pings += 1;
        let frame = format!(
            r#"{{"type":"ping","ref":"{KEEPALIVE_REF}-{}"}}"#,
            self.pings
        );
        let _ = self
            .client
            .try_publish(mqtt::Message::new(input.clone(), frame, mqtt::QOS_1));
        self.ping_sent = Some(Instant::now());
    }

    /// Ends the session and disconnects (bounded: the command is done).
    pub async fn close(self) {
        let finish = async {
            let close = mqtt::Message::new(
                format!("{CLIENTS}/{}/close", self.id),
                Vec::new(),
                mqtt::QOS_1,
            );
            let _ = self.client.publish(close).await;
            let _ = self.client.disconnect(None).await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), finish).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses_map_to_paho_schemes() {
        assert_eq!(broker_uri("mqtt://h:1883"), "tcp://h:1883");
        assert_eq!(broker_uri("mqtts://h:8883"), "ssl://h:8883");
        assert_eq!(broker_uri("tcp://h:1"), "tcp://h:1");
        assert_eq!(broker_uri("h:1"), "tcp://h:1");
        assert!(is_broker("mqtt://h:1") && is_broker("ssl://h:1"));
        assert!(!is_broker("ws://h:1/ws"));
    }
}
