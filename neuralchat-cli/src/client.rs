//! The protocol client: connects (with failover), waits for `hello`, sends
//! requests with a fresh `ref` and waits for the answer with that `ref` until
//! a deadline, and buffers the live frames (events, bot reply streams,
//! mentions, notices) that arrive meanwhile.

use crate::conn::{EmbeddedConn, FrameConn, WsConn};
use crate::error::{server_code, CliError};
use crate::frames::{self, Decoded, Live};
use crate::mqtt::MqttConn;
use crate::tls::Trust;
use anyhow::Result;
use neuralchat_core::protocol::{ClientFrame, ServerFrame, PROTOCOL};
use neuralchat_core::Event;
use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::{timeout, timeout_at, Instant};

/// The first pause after a `rate_limited` answer; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest pause between retries of a rate-limited request.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// WebSocket servers or MQTT brokers (normalised URLs), tried in order.
    Servers(Vec<String>),
    /// An engine in this process on this database.
    Embedded(String),
}

/// A connected, greeted protocol client.
pub struct Client {
    conn: FrameConn,
    timeout: Duration,
    next_ref: u64,
    live: VecDeque<Live>,
    user: Option<String>,
}

impl Client {
    /// Connects to the target and waits for its `hello`. With several servers,
    /// a server that cannot be reached or does not greet in time is skipped
    /// for the next one.
    /// `wss://` servers' certificates must verify against `trust`.
    pub async fn connect(target: &Target, trust: &Trust, timeout: Duration) -> Result<Self> {
        match target {
            Target::Embedded(database) => {
                let conn = EmbeddedConn::start(database)
                    .await
                    .map_err(|e| CliError::connect(format!("{e:#}")))?;
                let conn = FrameConn::Embedded(Box::new(conn));
                Self::greet(conn, timeout, timeout).await.map_err(|e| {
                    CliError::connect(format!("embedded engine on {database}: {e}")).into()
                })
            }
            Target::Servers(urls) => {
                let mut failures = Vec::new();
                for (i, url) in urls.iter().enumerate() {
                    match Self::connect_one(url, trust, timeout).await {
                        Ok(client) => return Ok(client),
                        Err(why) => {
                            if let Some(next) = urls.get(i + 1) {
                                eprintln!(
                                    "note: could not connect to {url} ({why}); trying {next}"
                                );
                            }
                            failures.push(format!("{url}: {why}"));
                        }
                    }
                }
                let message = match failures.as_slice() {
                    [] => "no server to connect to".to_string(),
                    [one] => format!("could not connect to {one}"),
                    many => format!("could not connect to any server: {}", many.join("; ")),
                };
                Err(CliError::connect(message).into())
            }
        }
    }

    /// Connects to one server and waits for its greeting, all within `limit`.
    async fn connect_one(url: &str, trust: &Trust, limit: Duration) -> Result<Self, String> {
        let start = Instant::now();
        if crate::mqtt::is_broker(url) {
            let conn = match timeout(limit, MqttConn::connect(url, trust.ca_file(), limit)).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return Err(format!("{e:#}")),
                Err(_) => return Err(format!("no connection within {}", secs(limit))),
            };
            let left = limit.saturating_sub(start.elapsed());
            return Self::greet(FrameConn::Mqtt(Box::new(conn)), left, limit).await;
        }
        let conn = match timeout(limit, WsConn::connect(url, trust)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(format!("{e:#}")),
            Err(_) => return Err(format!("no connection within {}", secs(limit))),
        };
        let left = limit.saturating_sub(start.elapsed());
        Self::greet(FrameConn::Ws(Box::new(conn)), left, limit).await
    }

    /// Waits up to `limit` for the `hello` frame; closes the connection on
    /// failure. Later requests may each take up to `request_timeout`.
    async fn greet(
        mut conn: FrameConn,
        limit: Duration,
        request_timeout: Duration,
    ) -> Result<Self, String> {
        let outcome = match timeout(limit, conn.recv()).await {
            Err(_) => Err(format!("no hello within {}", secs(limit))),
            Ok(None) => Err(conn
                .close_reason()
                .unwrap_or("the connection ended before hello")
                .to_string()),
            Ok(Some(text)) => check_hello(&text),
        };
        match outcome {
            Ok(_node) => Ok(Self {
                conn,
                timeout: request_timeout,
                next_ref: 0,
                live: VecDeque::new(),
                user: None,
            }),
            Err(why) => {
                conn.close().await;
                Err(why)
            }
        }
    }

    /// The user this session is authenticated as, if it is.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Sends a request and returns the answer frame (the one echoing the
    /// request's `ref`); an `error` answer becomes a [`CliError`]. A
    /// `rate_limited` answer is retried after a pause while time is left.
    pub async fn request(&mut self, frame: &ClientFrame) -> Result<ServerFrame> {
        let deadline = Instant::now() + self.timeout;
        let mut backoff = FIRST_BACKOFF;
        loop {
            self.next_ref += 1;
            let reference = self.next_ref.to_string();
            let text = encode(frame, &reference)?;
            if let Err(e) = self.conn.send(text).await {
                return Err(self.closed_error(Some(&format!("{e:#}"))).into());
            }
            match self.answer(&reference, deadline, frame.type_name()).await {
                Err(e)
                    if server_code(&e) == Some("rate_limited")
                        && Instant::now() + backoff < deadline =>
                {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                other => return other,
            }
        }
    }

    /// Authenticates the session with a stored token; returns the user name.
    pub async fn authenticate(&mut self, token: &str) -> Result<String> {
        let frame = ClientFrame::Auth {
            token: token.to_string(),
        };
        match self.request(&frame).await {
            Ok(ServerFrame::Authenticated { user, .. }) => {
                self.user = Some(user.clone());
                Ok(user)
            }
            Ok(other) => Err(unexpected("authenticated", &other).into()),
            Err(e) if server_code(&e) == Some("invalid_token") => {
                let message = e
                    .downcast_ref::<CliError>()
                    .map(|e| e.message.clone())
                    .unwrap_or_default();
                Err(CliError::server(
                    "invalid_token",
                    format!("{message} (run `neuralchat-cli login NAME` again)"),
                )
                .into())
            }
            Err(e) => Err(e),
        }
    }

    /// The next live frame, oldest first: from the buffer, else from the
    /// connection; `Ok(None)` when `deadline` passes first. Cancel-safe.
    pub async fn next_live(&mut self, deadline: Option<Instant>) -> Result<Option<Live>> {
        loop {
            if let Some(frame) = self.live.pop_front() {
                return Ok(Some(frame));
            }
            let text = match deadline {
                Some(deadline) => match timeout_at(deadline, self.conn.recv()).await {
                    Ok(text) => text,
                    Err(_) => return Ok(None),
                },
                None => self.conn.recv().await,
            };
            let Some(text) = text else {
                return Err(self.closed_error(None).into());
            };
            // Anything else is a late refusal, or an answer, of a request
            // that already gave up.
            if let Some(Decoded::Fatal(error)) = self.dispatch(&text)? {
                return Err(error.into());
            }
        }
    }

    /// The next live event; other live frames are skipped. `Ok(None)` when
    /// `deadline` passes first. Cancel-safe.
    pub async fn next_event(&mut self, deadline: Option<Instant>) -> Result<Option<Event>> {
        loop {
            match self.next_live(deadline).await? {
                None => return Ok(None),
                Some(Live::Event(event)) => return Ok(Some(event)),
                Some(_) => {}
            }
        }
    }

    /// Takes the live frames buffered so far.
    pub fn take_live(&mut self) -> Vec<Live> {
        self.live.drain(..).collect()
    }

    /// Closes the connection (shutting an embedded engine down).
    pub async fn close(self) {
        self.conn.close().await;
    }

    /// Waits for the answer with `reference`, buffering live frames
    /// meanwhile. `error` frames without a `ref` that refuse a frame unread
    /// are taken as the answer too: this client has one request in flight
    /// at a time.
    async fn answer(
        &mut self,
        reference: &str,
        deadline: Instant,
        kind: &str,
    ) -> Result<ServerFrame> {
        loop {
            let text = match timeout_at(deadline, self.conn.recv()).await {
                Err(_) => {
                    return Err(CliError::timeout(format!(
                        "no answer to {kind} within {}",
                        secs(self.timeout)
                    ))
                    .into())
                }
                Ok(None) => return Err(self.closed_error(None).into()),
                Ok(Some(text)) => text,
            };
            match self.dispatch(&text)? {
                Some(Decoded::Answer(answer_ref, answer)) if answer_ref == reference => {
                    return answer.map_err(Into::into);
                }
                Some(Decoded::Refusal(error) | Decoded::Fatal(error)) => return Err(error.into()),
                _ => {}
            }
        }
    }

    /// Decodes one incoming frame: live frames are buffered (`None`), the
    /// rest is returned.
    fn dispatch(&mut self, text: &str) -> Result<Option<Decoded>> {
        Ok(match frames::decode(text)? {
            Decoded::Live(live) => {
                self.live.push_back(live);
                None
            }
            other => Some(other),
        })
    }

    fn closed_error(&self, detail: Option<&str>) -> CliError {
        let reason = detail.or(self.conn.close_reason()).unwrap_or("it ended");
        CliError::closed(format!(
            "the connection to {} closed: {reason}",
            self.conn.endpoint()
        ))
    }
}

/// The error for an answer of the wrong kind.
pub fn unexpected(wanted: &str, got: &ServerFrame) -> CliError {
    CliError::protocol(format!(
        "expected a {wanted} answer, got {}",
        frames::frame_name(got)
    ))
}

/// Checks a `hello` frame; returns the node id.
fn check_hello(text: &str) -> Result<String, String> {
    let frame: Value =
        serde_json::from_str(text).map_err(|e| format!("the first frame is not JSON: {e}"))?;
    match frame.get("type").and_then(Value::as_str) {
        Some("hello") => {}
        Some("error") => return Err(error_of(&frame).to_string()),
        other => return Err(format!("expected hello, got {:?}", other.unwrap_or(""))),
    }
    let protocol = str_field(&frame, "protocol");
    if protocol != PROTOCOL {
        return Err(format!(
            "the server speaks {protocol:?}, this client speaks {PROTOCOL:?}"
        ));
    }
    Ok(str_field(&frame, "node").to_string())
}

/// A client frame with its `ref`, as JSON text.
fn encode(frame: &ClientFrame, reference: &str) -> Result<String> {
    let mut value = serde_json::to_value(frame)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("ref".into(), Value::String(reference.to_string()));
    }
    Ok(value.to_string())
}

/// The [`CliError`] for an `error` frame.
fn error_of(frame: &Value) -> CliError {
    CliError::server(str_field(frame, "code"), str_field(frame, "message"))
}

/// A string field of a frame, or "" when absent.
fn str_field<'a>(frame: &'a Value, name: &str) -> &'a str {
    frame.get(name).and_then(Value::as_str).unwrap_or("")
}

/// A duration in seconds for messages ("10s", "0.5s").
fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_frames_with_a_string_ref() {
        let frame = ClientFrame::Rooms {
            after: None,
            limit: None,
        };
        let text = encode(&frame, "7").unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], "rooms");
        assert_eq!(value["ref"], "7");
    }

    #[test]
    fn checks_the_hello() {
        let hello =
            format!(r#"{{"type":"hello","protocol":"{PROTOCOL}","node":"n1","limits":{{}}}}"#);
        assert_eq!(check_hello(&hello).unwrap(), "n1");
        assert!(check_hello(r#"{"type":"hello","protocol":"other/9","node":"n"}"#).is_err());
        let err = check_hello(r#"{"type":"error","code":"shutting_down","message":"bye"}"#);
        assert_eq!(err.unwrap_err(), "shutting_down: bye");
        assert!(check_hello("nope").is_err());
    }
}
