//! A WebSocket test client speaking the JSON frames of the protocol.
//!
//! Every wait has a deadline ([`DEFAULT_DEADLINE`] unless told otherwise).
//! Frames read while waiting for a request's answer are kept in a backlog and
//! returned by later receives, in order, so nothing is lost.

use crate::DEFAULT_DEADLINE;
use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The socket type.
type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a connection ended, from [`WsClient::expect_closed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The close code, when the server sent a close frame with one.
    pub code: Option<u16>,
    /// The close reason (empty when none).
    pub reason: String,
    /// The JSON frames that arrived before the close.
    pub frames: Vec<Value>,
}

/// A connected WebSocket client.
#[derive(Debug)]
pub struct WsClient {
    /// The socket.
    socket: Socket,
    /// Frames already read but not yet handed out.
    backlog: VecDeque<Value>,
    /// The `hello` frame read on connect.
    hello: Value,
    /// The counter for fresh `ref`s.
    next_ref: u64,
    /// The deadline for each wait.
    deadline: Duration,
}

/// Whether `frame` is an answer with the `ref` `reference`.
fn has_ref(frame: &Value, reference: &str) -> bool {
    frame.get("ref").and_then(Value::as_str) == Some(reference)
}

impl WsClient {
    /// Connects to `url` (e.g. `ws://127.0.0.1:PORT/ws`) and reads and checks
    /// the initial `hello` frame.
    pub async fn connect(url: &str) -> Result<WsClient> {
        let (socket, _) = tokio::time::timeout(
            DEFAULT_DEADLINE,
            tokio_tungstenite::connect_async_with_config(url, None, true),
        )
        .await
        .map_err(|_| anyhow!("connecting to {url}: no handshake within {DEFAULT_DEADLINE:?}"))?
        .with_context(|| format!("connecting to {url}"))?;
        let mut client = WsClient {
            socket,
            backlog: VecDeque::new(),
            hello: Value::Null,
            next_ref: 0,
            deadline: DEFAULT_DEADLINE,
        };
        let hello = client.recv_json().await.context("waiting for hello")?;
        if hello["type"] != "hello" || hello["protocol"] != "neuralchat/1" {
            bail!("the first frame is not a neuralchat/1 hello: {hello}");
        }
        if !hello["node"].is_string() || !hello["limits"].is_object() {
            bail!("hello lacks node or limits: {hello}");
        }
        client.hello = hello;
        Ok(client)
    }

    /// The `hello` frame the server sent on connect.
    pub fn hello(&self) -> &Value {
        &self.hello
    }

    /// Changes the deadline of every later wait.
    pub fn set_deadline(&mut self, deadline: Duration) {
        self.deadline = deadline;
    }

    /// Sends a JSON frame.
    pub async fn send_json(&mut self, frame: &Value) -> Result<()> {
        self.send_text(&frame.to_string()).await
    }

    /// Sends a text frame as is.
    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        tokio::time::timeout(self.deadline, self.socket.send(Message::text(text)))
            .await
            .map_err(|_| anyhow!("sending a frame took longer than {:?}", self.deadline))?
            .context("sending a frame")
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) -> Result<()> {
        let message = Message::binary(bytes.to_vec());
        tokio::time::timeout(self.deadline, self.socket.send(message))
            .await
            .map_err(|_| anyhow!("sending a frame took longer than {:?}", self.deadline))?
            .context("sending a frame")
    }

    /// Reads the next JSON frame from the socket (not the backlog) until `deadline`.
    async fn read_frame(&mut self, deadline: Instant) -> Result<Value> {
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .map_err(|_| anyhow!("no frame within the deadline"))?;
            match next {
                None => bail!("the connection is closed"),
                Some(Err(e)) => bail!("the connection failed: {e}"),
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str()).with_context(|| {
                        format!("the server sent non-JSON text: {}", text.as_str())
                    });
                }
                Some(Ok(Message::Binary(data))) => {
                    bail!("the server sent a binary frame ({} bytes)", data.len())
                }
                Some(Ok(Message::Close(frame))) => {
                    bail!("the server closed the connection: {frame:?}")
                }
                Some(Ok(_)) => continue, // ping, pong, raw frames
            }
        }
    }

    /// The next frame (backlog first) within the deadline.
    async fn next_frame(&mut self, deadline: Instant) -> Result<Value> {
        match self.backlog.pop_front() {
            Some(frame) => Ok(frame),
            None => self.read_frame(deadline).await,
        }
    }

    /// Receives the next frame within the deadline (10 s by default).
    pub async fn recv_json(&mut self) -> Result<Value> {
        let deadline = Instant::now() + self.deadline;
        self.next_frame(deadline).await
    }

    /// Receives frames until one satisfies `pred` and returns it; the frames
    /// before it are skipped (dropped). Fails at the deadline.
    pub async fn recv_until(&mut self, pred: impl Fn(&Value) -> bool) -> Result<Value> {
        let deadline = Instant::now() + self.deadline;
        let mut skipped = 0usize;
        loop {
            let frame = self.next_frame(deadline).await.with_context(|| {
                format!("waiting for a matching frame ({skipped} others skipped)")
            })?;
            if pred(&frame) {
                return Ok(frame);
            }
            skipped += 1;
        }
    }

    /// Receives frames until one satisfies `pred`; returns all of them, the
    /// matching one last. Fails at the deadline.
    pub async fn collect_until(&mut self, pred: impl Fn(&Value) -> bool) -> Result<Vec<Value>> {
        let deadline = Instant::now() + self.deadline;
        let mut frames = Vec::new();
        loop {
            let frame = self
                .next_frame(deadline)
                .await
                .with_context(|| format!("waiting for a matching frame; got so far: {frames:?}"))?;
            let done = pred(&frame);
            frames.push(frame);
            if done {
                return Ok(frames);
            }
        }
    }

    /// Waits until the next `event` frame whose event satisfies `pred`; returns the event.
    pub async fn recv_event(&mut self, pred: impl Fn(&Value) -> bool) -> Result<Value> {
        let frame = self
            .recv_until(|f| f["type"] == "event" && pred(&f["event"]))
            .await?;
        Ok(frame["event"].clone())
    }

    /// Asks for `room`'s history (200 events) until it holds every id in
    /// `ids` (events reach another node of a mesh a moment later); returns
    /// that history. Fails after three default deadlines.
    pub async fn history_holding(&mut self, room: &str, ids: &[String]) -> Result<Vec<Value>> {
        let started = Instant::now();
        loop {
            let answer = self
                .request(json!({"type": "history", "room": room, "limit": 200}))
                .await?;
            if let Some(events) = answer["events"].as_array() {
                let held: std::collections::HashSet<&str> =
                    events.iter().filter_map(|e| e["id"].as_str()).collect();
                if ids.iter().all(|id| held.contains(id.as_str())) {
                    return Ok(events.clone());
                }
            }
            if started.elapsed() > DEFAULT_DEADLINE * 3 {
                bail!("the history of {room} never held all of {ids:?}: {answer}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a bot's reply to the event `question`: its `reply_start`,
    /// its `delta` pieces and its stored `event`. Returns the pieces' text
    /// joined and the stored event.
    pub async fn bot_reply(&mut self, question: &str) -> Result<(String, Value)> {
        let start = self
            .recv_until(|f| f["type"] == "reply_start" && f["event"]["reply_to"] == question)
            .await?;
        let id = start["event"]["id"]
            .as_str()
            .ok_or_else(|| anyhow!("reply_start without an id: {start}"))?
            .to_owned();
        let mut streamed = String::new();
        loop {
            let frame = self
                .recv_until(|f| {
                    (f["type"] == "delta" && f["id"] == id.as_str())
                        || (f["type"] == "event" && f["event"]["id"] == id.as_str())
                })
                .await?;
            if frame["type"] == "event" {
                return Ok((streamed, frame["event"].clone()));
            }
            streamed.push_str(frame["text"].as_str().unwrap_or_default());
        }
    }

    /// Frames read but not yet handed out (read while waiting for an answer).
    pub fn backlog(&self) -> &VecDeque<Value> {
        &self.backlog
    }

    /// Empties the backlog and returns it.
    pub fn take_backlog(&mut self) -> Vec<Value> {
        self.backlog.drain(..).collect()
    }

    /// A fresh `ref` (`"r1"`, `"r2"`, ...).
    pub fn fresh_ref(&mut self) -> String {
        self.next_ref += 1;
        format!("r{}", self.next_ref)
    }

    /// Sends `frame` (a JSON object) with a fresh `ref` and waits for the frame
    /// answering it (the answer or an `error` with that `ref`). Other frames
    /// read meanwhile go to the backlog.
    pub async fn request(&mut self, mut frame: Value) -> Result<Value> {
        let reference = self.fresh_ref();
        let Some(object) = frame.as_object_mut() else {
            bail!("a request must be a JSON object: {frame}");
        };
        object.insert("ref".into(), Value::String(reference.clone()));
        self.send_json(&frame).await?;
        self.wait_ref(&reference)
            .await
            .with_context(|| format!("waiting for the answer to {frame}"))
    }

    /// Waits for the frame with `ref` `reference`, keeping others in the backlog.
    pub async fn wait_ref(&mut self, reference: &str) -> Result<Value> {
        if let Some(pos) = self.backlog.iter().position(|f| has_ref(f, reference)) {
            if let Some(frame) = self.backlog.remove(pos) {
                return Ok(frame);
            }
        }
        let deadline = Instant::now() + self.deadline;
        loop {
            let frame = self.read_frame(deadline).await?;
            if has_ref(&frame, reference) {
                return Ok(frame);
            }
            self.backlog.push_back(frame);
        }
    }

    /// Like [`request`](Self::request), but the answer must have type `expected`;
    /// an `error` (or anything else) fails with the frame.
    pub async fn request_ok(&mut self, frame: Value, expected: &str) -> Result<Value> {
        let answer = self.request(frame).await?;
        if answer["type"] != expected {
            bail!("expected a {expected} answer, got {answer}");
        }
        Ok(answer)
    }

    /// Registers `name` with `password`, logs in and returns the token.
    pub async fn register_and_login(&mut self, name: &str, password: &str) -> Result<String> {
        self.request_ok(
            json!({"type": "register", "username": name, "password": password}),
            "registered",
        )
        .await?;
        self.login(name, password).await
    }

    /// Logs in and returns the token.
    pub async fn login(&mut self, name: &str, password: &str) -> Result<String> {
        let answer = self
            .request_ok(
                json!({"type": "login", "username": name, "password": password}),
                "logged_in",
            )
            .await?;
        answer["token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("logged_in without a token: {answer}"))
    }

    /// Polls `who ROOM` until `user` is (or is not) online there, within
    /// the client's deadline.
    pub async fn wait_online(&mut self, room: &str, user: &str, online: bool) -> Result<()> {
        let started = std::time::Instant::now();
        loop {
            let who = self
                .request_ok(json!({"type": "who", "room": room}), "members")
                .await?;
            let now = who["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["user"] == user && m["online"] == true));
            if now == online {
                return Ok(());
            }
            if started.elapsed() > self.deadline {
                bail!("{user} never became online={online} in {room}: {who}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Joins `room`; returns the `joined` answer.
    pub async fn join(&mut self, room: &str) -> Result<Value> {
        self.request_ok(json!({"type": "join", "room": room}), "joined")
            .await
    }

    /// Sends a message and returns the `ack`.
    pub async fn send_message(
        &mut self,
        room: &str,
        text: &str,
        client_id: Option<&str>,
    ) -> Result<Value> {
        let mut frame = json!({"type": "send", "room": room, "text": text});
        if let Some(id) = client_id {
            frame["client_id"] = Value::String(id.to_string());
        }
        self.request_ok(frame, "ack").await
    }

    /// Sends `ping` and checks the `pong` answer.
    pub async fn ping(&mut self) -> Result<()> {
        self.request_ok(json!({"type": "ping"}), "pong")
            .await
            .map(drop)
    }

    /// Waits until the server closes the connection (a close frame or the end
    /// of the stream); returns the close and the frames that came before it.
    pub async fn expect_closed(&mut self) -> Result<Closed> {
        let deadline = Instant::now() + self.deadline;
        let mut frames: Vec<Value> = self.backlog.drain(..).collect();
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .map_err(|_| {
                    anyhow!("the connection was not closed in time; frames: {frames:?}")
                })?;
            match next {
                None => {
                    return Ok(Closed {
                        code: None,
                        reason: String::new(),
                        frames,
                    })
                }
                Some(Err(e)) => {
                    // A reset or protocol error also ends the connection.
                    return Ok(Closed {
                        code: None,
                        reason: format!("connection error: {e}"),
                        frames,
                    });
                }
                Some(Ok(Message::Close(frame))) => {
                    return Ok(Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame
                            .map(|f| f.reason.as_str().to_string())
                            .unwrap_or_default(),
                        frames,
                    })
                }
                Some(Ok(Message::Text(text))) => {
                    frames.push(
                        serde_json::from_str(text.as_str())
                            .unwrap_or_else(|_| Value::String(text.as_str().to_string())),
                    );
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Sends a close frame and waits briefly for the server's answer.
    pub async fn close(mut self) -> Result<()> {
        self.socket.close(None).await.context("closing")?;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake server: sends hello, then for every frame with a ref sends an
    /// unrelated event first and then a pong echoing the ref; closes on "bye".
    async fn fake_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let hello = json!({"type":"hello","protocol":"neuralchat/1","node":"n1","limits":{}});
            ws.send(Message::text(hello.to_string())).await.unwrap();
            while let Some(Ok(Message::Text(text))) = ws.next().await {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                if frame["type"] == "bye" {
                    ws.close(None).await.unwrap();
                    break;
                }
                let event = json!({"type":"event","event":{"text": frame["type"]}});
                ws.send(Message::text(event.to_string())).await.unwrap();
                let pong = json!({"type":"pong","ref": frame["ref"]});
                ws.send(Message::text(pong.to_string())).await.unwrap();
            }
        });
        format!("ws://{addr}/ws")
    }

    #[tokio::test]
    async fn requests_keep_other_frames_in_the_backlog() {
        let mut client = WsClient::connect(&fake_server().await).await.unwrap();
        assert_eq!(client.hello()["node"], "n1");
        let answer = client.request(json!({"type": "ping"})).await.unwrap();
        assert_eq!(answer, json!({"type": "pong", "ref": "r1"}));
        assert_eq!(client.backlog().len(), 1);
        client.ping().await.unwrap();
        let event = client.recv_event(|e| e["text"] == "ping").await.unwrap();
        assert_eq!(event["text"], "ping");
        assert_eq!(client.backlog().len(), 1);
        client.send_json(&json!({"type": "bye"})).await.unwrap();
        let closed = client.expect_closed().await.unwrap();
        assert_eq!(closed.frames.len(), 1);
    }

    #[tokio::test]
    async fn waits_end_at_the_deadline() {
        let mut client = WsClient::connect(&fake_server().await).await.unwrap();
        client.set_deadline(Duration::from_millis(200));
        let err = client.recv_json().await.unwrap_err();
        assert!(err.to_string().contains("no frame"), "{err:#}");
    }
}
