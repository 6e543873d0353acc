#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Promises docs/PROTOCOL.md makes, each checked end to end against a real
//! server process over a real WebSocket (and REST where the document names
//! it): audited reads, what a banned user sees, history cursors, sessions
//! and tokens, unknown fields, close codes, pings, `client_id` limits, the
//! direct conversation with oneself, registration limits, the write
//! deadline, the log-in deadline after `logout`, fragments, closing, and
//! the upgrade itself.

use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const PASSWORD: &str = "password-123";

/// WebSocket opcodes (RFC 6455) the raw client looks at.
const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;

/// A WebSocket client that only reads: it answers nothing, not even pings
/// (every WebSocket library answers them), and shows every frame the server
/// sends, control frames included.
struct RawWs {
    tcp: TcpStream,
    /// Bytes read but not yet parsed into frames.
    buf: Vec<u8>,
}

impl RawWs {
    /// Opens `/ws` on the server's port and reads the `101` answer.
    async fn connect(port: u16) -> RawWs {
        let (head, raw) = RawWs::upgrade(port, "/ws", &[]).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        raw
    }

    /// Asks for a WebSocket at `path`, writing `along` in the same write
    /// as the request; returns the answer's head (status line and
    /// headers) and the client, past the head.
    async fn upgrade(port: u16, path: &str, along: &[u8]) -> (String, RawWs) {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes();
        request.extend_from_slice(along);
        tcp.write_all(&request).await.unwrap();
        let mut raw = RawWs {
            tcp,
            buf: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let end = loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            assert!(raw.fill(deadline).await, "no upgrade answer");
        };
        let head = String::from_utf8_lossy(&raw.buf[..end]).into_owned();
        raw.buf.drain(..end + 4);
        (head, raw)
    }

    /// Reads more bytes; false at the end of the stream (or a reset).
    /// Panics at the deadline.
    async fn fill(&mut self, deadline: Instant) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout_at(deadline, self.tcp.read(&mut chunk)).await {
            Err(_) => panic!("nothing more from the server within the deadline"),
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Sends one frame, masked as a client must, final (`fin`) or not.
    async fn send(&mut self, opcode: u8, fin: bool, payload: &[u8]) {
        self.tcp
            .write_all(&masked(opcode, fin, payload))
            .await
            .unwrap();
    }

    /// The next text frame, skipping pings; `None` once the stream ended.
    async fn text(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            match self.frame(deadline).await? {
                (OP_PING, _) => continue,
                (OP_TEXT, payload) => return Some(serde_json::from_slice(&payload).unwrap()),
                (opcode, payload) => panic!("frame {opcode:#x} {payload:?}, not text"),
            }
        }
    }

    /// The next frame as (opcode, payload); `None` once the stream ended.
    async fn frame(&mut self, deadline: Instant) -> Option<(u8, Vec<u8>)> {
        loop {
            if let Some((used, frame)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if !self.fill(deadline).await {
                return None;
            }
        }
    }
}

/// One frame as a client sends it: masked, final (`fin`) or not.
fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![if fin { 0x80 | opcode } else { opcode }];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// One complete frame at the start of `buf`: the bytes it takes and its
/// (opcode, unmasked payload); `None` while incomplete.
fn parse_frame(buf: &[u8]) -> Option<(usize, (u8, Vec<u8>))> {
    let opcode = buf.first()? & 0x0f;
    let second = *buf.get(1)?;
    let (len, mut at) = match second & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (
            usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)).ok()?,
            10,
        ),
        n => (usize::from(n), 2),
    };
    let mask = if second & 0x80 != 0 {
        let mask = buf.get(at..at + 4)?.to_vec();
        at += 4;
        Some(mask)
    } else {
        None
    };
    let mut payload = buf.get(at..at + len)?.to_vec();
    if let Some(mask) = mask {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }
    Some((at + len, (opcode, payload)))
}

/// A connected client, registered and logged in as `name`; returns it and
/// its token.
async fn user(server: &ServerProcess, name: &str) -> (WsClient, String) {
    let mut ws = WsClient::connect(&server.ws_url()).await.unwrap();
    let token = ws.register_and_login(name, PASSWORD).await.unwrap();
    (ws, token)
}

/// The names in a `rooms` answer (frame or REST body).
fn room_names(page: &Value) -> Vec<String> {
    page["rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("no rooms in {page}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The ids of the events in a `history` answer.
fn event_ids(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {page}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The texts of the events in a `history` answer.
fn event_texts(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {page}"))
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect()
}

/// The users in a `members` answer (frame or REST body).
fn member_names(members: &Value) -> Vec<String> {
    members["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members in {members}"))
        .iter()
        .map(|m| m["user"].as_str().unwrap().to_owned())
        .collect()
}

/// A UUID as its 128-bit number.
fn uuid_value(id: &str) -> u128 {
    u128::from_str_radix(&id.replace('-', ""), 16).unwrap()
}

/// A 128-bit number written as a UUID (lower-case, hyphenated).
fn uuid_text(value: u128) -> String {
    let hex = format!("{value:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Waits (10 s) until the JSON log holds an audit record by `user` for each
/// of `actions`; returns those records.
async fn audit_records(server: &ServerProcess, user: &str, actions: &[&str]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let records: Vec<Value> = server
            .log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["stream"] == "audit" && r["user"] == user)
            .collect();
        let missing: Vec<&&str> = actions
            .iter()
            .filter(|a| !records.iter().any(|r| r["action"] == **a))
            .collect();
        if missing.is_empty() {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "no audit record for {missing:?} by {user}; log tail:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 1. Reads are audited (at debug level): `history`, `who`, `rooms`,
///    `mentions`.
#[tokio::test]
async fn reads_are_audited() {
    let server = ServerProcess::start(
        ServerOptions::new()
            .env("NEURALCHAT_LOG__LEVEL", "debug")
            .arg("--log-format")
            .arg("json"),
    )
    .await
    .unwrap();
    let (mut alice, _) = user(&server, "alice").await;
    alice.join("general").await.unwrap();
    for (frame, answer) in [
        (json!({"type":"history","room":"general"}), "history"),
        (json!({"type":"who","room":"general"}), "members"),
        (json!({"type":"rooms"}), "rooms"),
        (json!({"type":"mentions"}), "mentions"),
    ] {
        alice.request_ok(frame, answer).await.unwrap();
    }
    let records = audit_records(&server, "alice", &["history", "who", "rooms", "mentions"]).await;
    let history = records.iter().find(|r| r["action"] == "history").unwrap();
    assert_eq!(history["room"], "general", "{history}");
    let who = records.iter().find(|r| r["action"] == "who").unwrap();
    assert_eq!(who["room"], "general", "{who}");
}

/// 2. A public room a user is banned from is not listed to that user,
///    neither by the `rooms` frame nor by REST; others see it.
#[tokio::test]
async fn a_banned_user_does_not_see_the_room_in_the_room_list() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let (mut owner, _) = user(&server, "owner").await;
    owner.join("lounge").await.unwrap();
    owner.join("other").await.unwrap();
    let (mut eve, eve_token) = user(&server, "eve").await;
    eve.join("lounge").await.unwrap();
    let (mut bob, bob_token) = user(&server, "bob").await;
    let listed = eve
        .request_ok(json!({"type":"rooms"}), "rooms")
        .await
        .unwrap();
    assert_eq!(room_names(&listed), ["lounge", "other"], "{listed}");
    owner
        .request_ok(
            json!({"type":"send","room":"lounge","text":"/ban eve"}),
            "command",
        )
        .await
        .unwrap();

    let listed = eve
        .request_ok(json!({"type":"rooms"}), "rooms")
        .await
        .unwrap();
    assert_eq!(room_names(&listed), ["other"], "{listed}");
    let (status, page) = server
        .http()
        .get("/api/v1/rooms", Some(&eve_token))
        .await
        .unwrap();
    assert_eq!(status, 200, "{page}");
    assert_eq!(room_names(&page), ["other"], "{page}");

    let listed = bob
        .request_ok(json!({"type":"rooms"}), "rooms")
        .await
        .unwrap();
    assert_eq!(room_names(&listed), ["lounge", "other"], "{listed}");
    let (status, page) = server
        .http()
        .get("/api/v1/rooms", Some(&bob_token))
        .await
        .unwrap();
    assert_eq!(status, 200, "{page}");
    assert_eq!(room_names(&page), ["lounge", "other"], "{page}");
}

/// 3. `before` is a position in id order: a well-formed id that no event
///    has pages like one that does; a malformed one is `bad_cursor`.
#[tokio::test]
async fn history_before_any_well_formed_id_is_a_position() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let (mut alice, token) = user(&server, "alice").await;
    let joined = alice.join("general").await.unwrap();
    let join_id = event_ids(&json!({"events": joined["history"]}))[0].clone();
    let mut ids = vec![join_id];
    for text in ["one", "two", "three"] {
        let ack = alice.send_message("general", text, None).await.unwrap();
        ids.push(ack["id"].as_str().unwrap().to_owned());
    }
    // Just below "three": after "two", held by no event (the low bits of a
    // UUIDv7 are random, so "two" is not one below "three").
    let between = uuid_text(uuid_value(&ids[3]) - 1);
    assert!(!ids.contains(&between), "{between} is a stored id: {ids:?}");
    let page = alice
        .request_ok(
            json!({"type":"history","room":"general","before":between}),
            "history",
        )
        .await
        .unwrap();
    assert_eq!(event_ids(&page), ids[..3], "{page}");
    assert_eq!(page["more"], false, "{page}");
    let page = alice
        .request_ok(
            json!({"type":"history","room":"general","before":between,"limit":1}),
            "history",
        )
        .await
        .unwrap();
    assert_eq!(event_ids(&page), ids[2..3], "{page}");
    assert_eq!(page["more"], true, "{page}");
    // The same over REST.
    let (status, page) = server
        .http()
        .get(
            &format!("/api/v1/rooms/general/messages?before={between}"),
            Some(&token),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{page}");
    assert_eq!(event_ids(&page), ids[..3], "{page}");
    let (status, refused) = server
        .http()
        .get(
            "/api/v1/rooms/general/messages?before=not-an-id",
            Some(&token),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("bad_cursor"))
    );
    // After every event, and before every event.
    let page = alice
        .request_ok(
            json!({"type":"history","room":"general","before":"ffffffff-ffff-7fff-bfff-ffffffffffff"}),
            "history",
        )
        .await
        .unwrap();
    assert_eq!(event_ids(&page), ids, "{page}");
    let page = alice
        .request_ok(
            json!({"type":"history","room":"general","before":"00000000-0000-7000-8000-000000000000"}),
            "history",
        )
        .await
        .unwrap();
    assert_eq!(event_ids(&page), Vec::<String>::new(), "{page}");
    assert_eq!(page["more"], false, "{page}");

    for malformed in [
        "not-an-id",
        "01a211e9-d8f6",
        "ffffffff-ffff-7fff-bfff-fffffffffffg",
    ] {
        let refused = alice
            .request(json!({"type":"history","room":"general","before":malformed}))
            .await
            .unwrap();
        assert_eq!(
            (refused["type"].as_str(), refused["code"].as_str()),
            (Some("error"), Some("bad_cursor")),
            "{malformed}: {refused}"
        );
    }
}

/// 4a. A session logged in with a token outlives the token's revocation
///     elsewhere (`logout` on another connection, or REST logout); the
///     token itself no longer works.
#[tokio::test]
async fn a_session_outlives_the_revocation_of_its_token() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let http = server.http();
    let (mut first, token) = user(&server, "alice").await;
    first.join("general").await.unwrap();
    let mut second = WsClient::connect(&server.ws_url()).await.unwrap();
    second
        .request_ok(json!({"type":"auth","token":token}), "authenticated")
        .await
        .unwrap();
    second.join("general").await.unwrap();

    // Revoked by `logout` on the first connection.
    first
        .request_ok(json!({"type":"logout"}), "logged_out")
        .await
        .unwrap();
    let mut third = WsClient::connect(&server.ws_url()).await.unwrap();
    let refused = third
        .request(json!({"type":"auth","token":token}))
        .await
        .unwrap();
    assert_eq!(refused["code"], "invalid_token", "{refused}");
    let (status, body) = http.get("/api/v1/rooms", Some(&token)).await.unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );
    // The second session still works.
    second
        .send_message("general", "still here", None)
        .await
        .unwrap();
    second
        .request_ok(json!({"type":"history","room":"general"}), "history")
        .await
        .unwrap();

    // Revoked through REST.
    let (status, body) = http
        .post(
            "/api/v1/login",
            None,
            &json!({"username":"alice","password":PASSWORD}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let rest_token = body["token"].as_str().unwrap().to_owned();
    third
        .request_ok(json!({"type":"auth","token":rest_token}), "authenticated")
        .await
        .unwrap();
    let (status, body) = http
        .post_empty("/api/v1/logout", Some(&rest_token))
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
    let (status, body) = http.get("/api/v1/rooms", Some(&rest_token)).await.unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );
    third.send_message("general", "me too", None).await.unwrap();
    third.ping().await.unwrap();
}

/// 4b. After `logout` the connection is anonymous and gets no more room
///     events, but the user stays a member of the rooms.
#[tokio::test]
async fn after_logout_the_user_is_still_a_member() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let (mut alice, _) = user(&server, "alice").await;
    alice.join("general").await.unwrap();
    let (mut bob, bob_token) = user(&server, "bob").await;
    bob.join("general").await.unwrap();
    alice
        .request_ok(json!({"type":"logout"}), "logged_out")
        .await
        .unwrap();
    alice.take_backlog();

    let who = bob
        .request_ok(json!({"type":"who","room":"general"}), "members")
        .await
        .unwrap();
    assert!(member_names(&who).contains(&"alice".to_owned()), "{who}");
    let (status, members) = server
        .http()
        .get("/api/v1/rooms/general/members", Some(&bob_token))
        .await
        .unwrap();
    assert_eq!(status, 200, "{members}");
    assert!(
        member_names(&members).contains(&"alice".to_owned()),
        "{members}"
    );

    // Anonymous again: reads need a log-in.
    let refused = alice
        .request(json!({"type":"history","room":"general"}))
        .await
        .unwrap();
    assert_eq!(refused["code"], "unauthenticated", "{refused}");
    // No more events: bob's message was fanned out before his ack, so it
    // would be queued for alice before the answer to her next ping.
    bob.send_message("general", "anyone?", None).await.unwrap();
    alice.ping().await.unwrap();
    let before_pong = alice.take_backlog();
    assert!(
        !before_pong.iter().any(|f| f["type"] == "event"),
        "{before_pong:?}"
    );
}

/// 5. Fields a frame type does not define are ignored.
#[tokio::test]
async fn unknown_fields_are_ignored() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let (mut alice, _) = user(&server, "alice").await;
    alice.join("general").await.unwrap();
    let ack = alice
        .request_ok(
            json!({"type":"send","room":"general","text":"hello","zzz":{"a":[1,2]},"before":"garbage"}),
            "ack",
        )
        .await
        .unwrap();
    let history = alice
        .request_ok(
            json!({"type":"history","room":"general","since":"not-an-id","zzz":1}),
            "history",
        )
        .await
        .unwrap();
    assert!(
        event_ids(&history).contains(&ack["id"].as_str().unwrap().to_owned()),
        "{history}"
    );
    let rooms = alice
        .request_ok(json!({"type":"rooms","room":"nowhere","zzz":null}), "rooms")
        .await
        .unwrap();
    assert_eq!(room_names(&rooms), ["general"], "{rooms}");
    alice
        .request_ok(json!({"type":"ping","text":"x","zzz":[true]}), "pong")
        .await
        .unwrap();
}

/// 6a. Shutting down: a `shutting_down` error frame (no `ref`), then close
///     code 1012, on every connection, logged in or not.
#[tokio::test]
async fn shutdown_closes_every_connection_with_1012() {
    let mut server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let (mut alice, _) = user(&server, "alice").await;
    alice.join("general").await.unwrap();
    let mut anonymous = WsClient::connect(&server.ws_url()).await.unwrap();
    let (status, alice_closed, anonymous_closed) = tokio::join!(
        server.stop(),
        alice.expect_closed(),
        anonymous.expect_closed()
    );
    assert!(status.unwrap().success());
    for closed in [alice_closed.unwrap(), anonymous_closed.unwrap()] {
        assert_eq!(
            (closed.code, closed.reason.as_str()),
            (Some(1012), "shutting_down"),
            "{closed:?}"
        );
        let last = closed.frames.last().unwrap();
        assert_eq!(
            (last["type"].as_str(), last["code"].as_str()),
            (Some("error"), Some("shutting_down")),
            "{closed:?}"
        );
        assert!(last.get("ref").is_none(), "{last}");
    }
}

/// 6b. A client that never answers pings is closed with 1001 (`timeout`)
///     once silent for `[websocket] silence_secs`; one that answers stays.
#[tokio::test]
async fn a_client_that_never_answers_pings_is_closed_with_1001() {
    let server = ServerProcess::start(
        ServerOptions::new()
            .env("NEURALCHAT_WEBSOCKET__PING_SECS", "1")
            .env("NEURALCHAT_WEBSOCKET__SILENCE_SECS", "2"),
    )
    .await
    .unwrap();
    // Reads all the time, so its library answers every ping.
    let mut answering = WsClient::connect(&server.ws_url()).await.unwrap();
    answering.set_deadline(Duration::from_secs(20));
    let connected = Instant::now();
    let mut silent = RawWs::connect(server.port()).await;
    let silent_closed = async {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut pings = 0;
        loop {
            match silent.frame(deadline).await {
                Some((OP_PING, _)) => pings += 1,
                Some((OP_CLOSE, payload)) => break (pings, Some(payload), connected.elapsed()),
                Some(_) => {}
                None => break (pings, None, connected.elapsed()),
            }
        }
    };
    tokio::pin!(silent_closed);
    let (pings, close, after) = tokio::select! {
        closed = &mut silent_closed => closed,
        frame = answering.recv_json() => panic!("the answering client got {frame:?}"),
    };
    let close = close.expect("the connection ended without a close frame");
    assert!(close.len() >= 2, "a close frame without a code: {close:?}");
    let code = u16::from_be_bytes([close[0], close[1]]);
    let reason = String::from_utf8_lossy(&close[2..]).into_owned();
    assert_eq!((code, reason.as_str()), (1001, "timeout"));
    assert!(pings >= 2, "pinged {pings} times before the close");
    assert!(after >= Duration::from_secs(2), "closed after {after:?}");
    // The client that answered pings is older than the silence limit now
    // and still open.
    answering.ping().await.unwrap();
}

/// 6c. While the server shuts down (it gives each connection a second to
///     answer its close), a new WebSocket is answered 503 `shutting_down`.
#[tokio::test]
async fn an_upgrade_during_shutdown_is_answered_503() {
    let mut server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let port = server.port();
    let mut raw = RawWs::connect(port).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    assert_eq!(raw.text(deadline).await.unwrap()["type"], "hello");
    let late_comer = async {
        let error = raw.text(deadline).await.unwrap();
        assert_eq!(error["code"], "shutting_down", "{error}");
        // `raw` never answers the close, so the server is still waiting.
        let (head, _) = RawWs::upgrade(port, "/ws", &[]).await;
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
        let (opcode, payload) = raw.frame(deadline).await.unwrap();
        assert_eq!(opcode, OP_CLOSE);
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1012);
    };
    let (status, ()) = tokio::join!(server.stop(), late_comer);
    assert!(status.unwrap().success());
}

/// 7. The server pings as soon as the connection opens, before the client
///    sends anything (the next ping would come 30 s later).
#[tokio::test]
async fn the_first_ping_comes_at_connect() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let opened = Instant::now();
    let mut raw = RawWs::connect(server.port()).await;
    let deadline = opened + Duration::from_secs(5);
    let mut opcodes = Vec::new();
    while !opcodes.contains(&OP_PING) {
        let (opcode, _) = raw
            .frame(deadline)
            .await
            .expect("closed before the first ping");
        opcodes.push(opcode);
    }
    assert!(opened.elapsed() < Duration::from_secs(5));
    // `hello` comes too (the first JSON frame), with or before the ping.
    while !opcodes.contains(&OP_TEXT) {
        let (opcode, _) = raw.frame(deadline).await.expect("closed before hello");
        opcodes.push(opcode);
    }
}

/// 8. `client_id` has 1 to 128 bytes; a longer one is `bad_frame` and
///    nothing is stored.
#[tokio::test]
async fn a_client_id_over_128_bytes_is_a_bad_frame_and_not_stored() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let (mut alice, _) = user(&server, "alice").await;
    alice.join("general").await.unwrap();
    let longest = "x".repeat(128);
    let ack = alice
        .send_message("general", "fits", Some(&longest))
        .await
        .unwrap();
    assert_eq!(ack["client_id"], longest.as_str(), "{ack}");
    // 129 bytes; and 130 bytes in only 65 characters.
    for (text, client_id) in [
        ("one byte too many", "x".repeat(129)),
        ("two bytes a character", "é".repeat(65)),
    ] {
        let refused = alice
            .request(json!({"type":"send","room":"general","text":text,"client_id":client_id}))
            .await
            .unwrap();
        assert_eq!(
            (refused["type"].as_str(), refused["code"].as_str()),
            (Some("error"), Some("bad_frame")),
            "{refused}"
        );
    }
    let history = alice
        .request_ok(json!({"type":"history","room":"general"}), "history")
        .await
        .unwrap();
    assert_eq!(event_texts(&history), ["", "fits"], "{history}");
}

/// 9. `@alice` written by alice is her own notes, `@alice+alice`, with her
///    as its only member.
#[tokio::test]
async fn a_direct_conversation_with_oneself_is_ones_notes() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let (mut alice, token) = user(&server, "alice").await;
    let mut alice_elsewhere = WsClient::connect(&server.ws_url()).await.unwrap();
    alice_elsewhere
        .request_ok(json!({"type":"auth","token":token}), "authenticated")
        .await
        .unwrap();
    let (mut bob, _) = user(&server, "bob").await;

    let ack = alice
        .send_message("@alice", "note to self", None)
        .await
        .unwrap();
    assert_eq!(ack["room"], "@alice+alice", "{ack}");
    let id = ack["id"].as_str().unwrap().to_owned();
    // Its events reach every connection of hers, joined or not.
    let event = alice_elsewhere
        .recv_event(|e| e["id"] == id.as_str())
        .await
        .unwrap();
    assert_eq!(event["room"], "@alice+alice", "{event}");
    // The canonical name names the same conversation.
    let ack = alice
        .send_message("@alice+alice", "again", None)
        .await
        .unwrap();
    assert_eq!(ack["room"], "@alice+alice", "{ack}");
    let history = alice
        .request_ok(json!({"type":"history","room":"@alice"}), "history")
        .await
        .unwrap();
    assert_eq!(
        event_texts(&history),
        ["note to self", "again"],
        "{history}"
    );
    let who = alice
        .request_ok(json!({"type":"who","room":"@alice"}), "members")
        .await
        .unwrap();
    assert_eq!(who["room"], "@alice+alice", "{who}");
    assert_eq!(member_names(&who), ["alice"], "{who}");
    let rooms = alice
        .request_ok(json!({"type":"rooms"}), "rooms")
        .await
        .unwrap();
    assert_eq!(room_names(&rooms), ["@alice+alice"], "{rooms}");

    // Private to her.
    let refused = bob
        .request(json!({"type":"history","room":"@alice+alice"}))
        .await
        .unwrap();
    assert_eq!(refused["code"], "invite_only", "{refused}");
    let rooms = bob
        .request_ok(json!({"type":"rooms"}), "rooms")
        .await
        .unwrap();
    assert_eq!(room_names(&rooms), Vec::<String>::new(), "{rooms}");
}

/// 10. Registrations are limited per client address (over connections and
///     REST): over the limit, `rate_limited` with `retry_after_ms`.
#[tokio::test]
async fn registrations_are_limited_per_address() {
    let server = ServerProcess::start(
        ServerOptions::new()
            .env("NEURALCHAT_LIMITS__REGISTRATIONS_PER_ADDRESS", "3")
            .env("NEURALCHAT_LIMITS__SIGN_IN_WINDOW_SECS", "600"),
    )
    .await
    .unwrap();
    let register = |name: &str| json!({"type":"register","username":name,"password":PASSWORD});
    let mut first = WsClient::connect(&server.ws_url()).await.unwrap();
    let mut second = WsClient::connect(&server.ws_url()).await.unwrap();
    for name in ["u1", "u2"] {
        first
            .request_ok(register(name), "registered")
            .await
            .unwrap();
    }
    second
        .request_ok(register("u3"), "registered")
        .await
        .unwrap();
    for ws in [&mut first, &mut second] {
        let refused = ws.request(register("u4")).await.unwrap();
        assert_eq!(refused["code"], "rate_limited", "{refused}");
        // One registration comes back every 200 s (3 per 600 s).
        let wait = refused["retry_after_ms"].as_u64().unwrap();
        assert!((190_000..=200_000).contains(&wait), "{refused}");
    }
    let response = server
        .http()
        .send(
            "POST",
            "/api/v1/register",
            None,
            Some(&json!({"username":"u5","password":PASSWORD})),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 429, "{}", response.text());
    assert_eq!(response.json()["code"], "rate_limited");
    let seconds: u64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!((190..=200).contains(&seconds), "{seconds}");
    // The refused names were not registered.
    let answer = first
        .request(json!({"type":"login","username":"u4","password":PASSWORD}))
        .await
        .unwrap();
    assert_eq!(answer["code"], "invalid_credentials", "{answer}");
}

/// 11. With a queue too large to fill, the write deadline alone disconnects
///     a client that stops reading: its TCP connection is cut.
#[tokio::test]
async fn the_write_deadline_alone_disconnects_a_client_that_stops_reading() {
    /// Frames the server may queue for sleepy: more than this test sends.
    const OUTBOX: usize = 1_000_000;
    let server = ServerProcess::start(
        ServerOptions::new()
            .relaxed_limits()
            .env("NEURALCHAT_LIMITS__OUTBOX_CAPACITY", OUTBOX.to_string())
            .env("NEURALCHAT_LIMITS__WRITE_DEADLINE_SECS", "1"),
    )
    .await
    .unwrap();
    let (mut sleepy, _) = user(&server, "sleepy").await;
    sleepy.join("general").await.unwrap();
    let (mut talker, _) = user(&server, "talker").await;
    talker.join("general").await.unwrap();
    // Sleepy never reads again. Big events (4 bytes a character) fill its
    // socket buffers; the queue behind them never fills.
    let text = "😀".repeat(3_900);
    let started = Instant::now();
    let mut sent = 0;
    while !server.log_text().contains("client stopped reading") {
        for _ in 0..10 {
            talker.send_message("general", &text, None).await.unwrap();
            sent += 1;
        }
        talker.take_backlog();
        assert!(
            sent < 3_000 && started.elapsed() < Duration::from_secs(30),
            "sleepy was never disconnected ({sent} sent):\n{}",
            server.log_tail()
        );
    }
    // Its TCP connection is cut: what sleepy reads now ends.
    let closed = sleepy.expect_closed().await.unwrap();
    assert!(
        closed.frames.len() < sent,
        "{} of {sent} frames",
        closed.frames.len()
    );
    // The write deadline cut it, not a full queue: sleepy's queue can
    // never have held more frames than were sent, far below its capacity
    // (a full queue closes with `slow_consumer` and 1008 instead).
    assert!(sent < OUTBOX / 10, "{sent} frames sent");
    assert!(
        server
            .log_text()
            .contains("client stopped reading; disconnecting waited_secs=1"),
        "{}",
        server.log_tail()
    );
    // The talker is unaffected.
    talker
        .send_message("general", "still here", None)
        .await
        .unwrap();
}

/// 12. After `logout` the connection is unauthenticated again and is
///     closed like one that never logged in, `login_deadline_secs` after
///     the logout.
#[tokio::test]
async fn after_logout_the_log_in_deadline_applies_again() {
    let server = ServerProcess::start(
        ServerOptions::new().env("NEURALCHAT_LIMITS__LOGIN_DEADLINE_SECS", "2"),
    )
    .await
    .unwrap();
    let (mut leaving, _) = user(&server, "leaving").await;
    leaving.join("general").await.unwrap();
    // A connection opened after it that never logs in: its close (at its
    // deadline) is the reference, and shows that the deadline counted from
    // when `leaving` connected has passed too.
    let mut idle = WsClient::connect(&server.ws_url()).await.unwrap();
    let never = idle.expect_closed().await.unwrap();
    assert_eq!(
        (never.code, never.reason.as_str()),
        (Some(1008), "unauthenticated"),
        "{never:?}"
    );
    // Logged in, it outlived that deadline.
    leaving.ping().await.unwrap();

    leaving
        .request_ok(json!({"type":"logout"}), "logged_out")
        .await
        .unwrap();
    let logged_out = Instant::now();
    let closed = leaving.expect_closed().await.unwrap();
    let after = logged_out.elapsed();
    assert_eq!((closed.code, &closed.reason), (never.code, &never.reason));
    let error = |frames: &[Value]| {
        frames
            .iter()
            .find(|f| f["type"] == "error")
            .map(|f| f["code"].clone())
    };
    assert_eq!(
        error(&closed.frames),
        Some(json!("unauthenticated")),
        "{closed:?}"
    );
    assert_eq!(error(&never.frames), error(&closed.frames), "{never:?}");
    // Counted from the logout.
    assert!(
        after >= Duration::from_millis(1_500),
        "closed {after:?} after logout"
    );
}

/// 13. A message may come in fragments (RFC 6455 continuation frames): it
///     is read as one frame, and bounded like one: fragments joining to
///     more than 4× the frame limit close the connection with 1009 after an
///     `error` frame with code `frame_too_large`.
#[tokio::test]
async fn a_message_in_fragments_is_one_frame_bounded_like_one() {
    let server = ServerProcess::start(
        ServerOptions::new().env("NEURALCHAT_LIMITS__MAX_FRAME_BYTES", "1024"),
    )
    .await
    .unwrap();
    let mut raw = RawWs::connect(server.port()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    assert_eq!(raw.text(deadline).await.unwrap()["type"], "hello");
    raw.send(OP_TEXT, false, br#"{"type":"#).await;
    raw.send(OP_CONTINUATION, false, br#""dance","ref""#).await;
    raw.send(OP_CONTINUATION, true, br#":"f1"}"#).await;
    let answer = raw.text(deadline).await.unwrap();
    assert_eq!(answer["code"], "unknown_type", "{answer}");
    assert_eq!(answer["ref"], "f1", "{answer}");
    // 3,000 + 3,000 bytes: each fragment under 4,096, the message over.
    raw.send(OP_TEXT, false, &[b' '; 3_000]).await;
    raw.send(OP_CONTINUATION, true, &[b' '; 3_000]).await;
    let answer = raw.text(deadline).await.unwrap();
    assert_eq!(answer["code"], "frame_too_large", "{answer}");
    let (opcode, payload) = raw.frame(deadline).await.unwrap();
    assert_eq!(opcode, OP_CLOSE);
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1009);
}

/// 14. A client's close is answered with a close frame, and the server
///     then ends the TCP connection (RFC 6455: the server closes first),
///     without waiting for the client to hang up.
#[tokio::test]
async fn a_client_close_is_answered_and_the_server_ends_the_connection() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let mut raw = RawWs::connect(server.port()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    assert_eq!(raw.text(deadline).await.unwrap()["type"], "hello");
    let asked = Instant::now();
    raw.send(OP_CLOSE, true, &1000u16.to_be_bytes()).await;
    let answer = loop {
        match raw.frame(deadline).await {
            Some((OP_PING, _)) => continue,
            other => break other,
        }
    };
    let (opcode, _) = answer.expect("no close answer");
    assert_eq!(opcode, OP_CLOSE);
    // The stream ends: nothing more, and no wait for our own hang-up
    // (the server gives up on a close after a second; this one is answered
    // and ended as soon as its answer is written).
    assert!(raw.frame(deadline).await.is_none());
    assert!(
        asked.elapsed() < Duration::from_millis(900),
        "{:?}",
        asked.elapsed()
    );
}

/// 15. The upgrade: a frame the client sends right behind its upgrade
///     request, before the `101` came, is read; an upgrade to a path other
///     than `/ws` is answered 404 with the JSON error `not_found`; `GET /ws`
///     without an upgrade is answered 400.
#[tokio::test]
async fn the_upgrade_reads_what_follows_it_and_refuses_other_paths() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let early = masked(OP_TEXT, true, br#"{"type":"dance","ref":"early"}"#);
    let (head, mut raw) = RawWs::upgrade(server.port(), "/ws", &early).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(raw.text(deadline).await.unwrap()["type"], "hello");
    let answer = raw.text(deadline).await.unwrap();
    assert_eq!(answer["code"], "unknown_type", "{answer}");
    assert_eq!(answer["ref"], "early", "{answer}");

    let (head, mut raw) = RawWs::upgrade(server.port(), "/chat", &[]).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .expect("no content-length")
        .parse()
        .unwrap();
    while raw.buf.len() < length {
        assert!(raw.fill(deadline).await, "the body was cut short");
    }
    let body: Value = serde_json::from_slice(&raw.buf[..length]).unwrap();
    assert_eq!(body["code"], "not_found", "{body}");
    // And the connection is closed after it.
    raw.buf.clear();
    assert!(!raw.fill(deadline).await);

    let (status, _) = server.http().get("/ws", None).await.unwrap();
    assert_eq!(status, 400);
}
