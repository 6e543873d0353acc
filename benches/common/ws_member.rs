//! WebSocket clients for the end-to-end benches: connect, sign up, log in,
//! join, over tokio-tungstenite with `TCP_NODELAY` on every client socket.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest wait for any one frame.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(30);
/// The password of every bench user.
pub const PASSWORD: &str = "password1";

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn ws_connect(url: &str) -> Ws {
    let (mut ws, _) = tokio::time::timeout(
        FRAME_DEADLINE,
        tokio_tungstenite::connect_async_with_config(url, None, true),
    )
    .await
    .expect("WebSocket handshake timed out")
    .expect("WebSocket handshake failed");
    let hello = next_text(&mut ws).await;
    assert!(hello.as_str().contains("\"hello\""), "no hello: {hello}");
    ws
}

/// The next text frame; panics on a close, an error or the deadline.
pub async fn next_text<S>(ws: &mut S) -> Utf8Bytes
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(FRAME_DEADLINE, ws.next())
            .await
            .expect("no frame within the deadline")
            .expect("the connection closed")
            .expect("the connection failed");
        match message {
            Message::Text(text) => return text,
            Message::Close(close) => panic!("the server closed the connection: {close:?}"),
            _ => continue,
        }
    }
}

/// Sends `frame` with `"ref": reference` and returns the answer (an
/// `error` answer panics). Other frames are skipped.
pub async fn request(ws: &mut Ws, mut frame: Value, reference: &str) -> Value {
    frame["ref"] = Value::String(reference.into());
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("sending");
    let needle = format!("\"ref\":\"{reference}\"");
    loop {
        let text = next_text(ws).await;
        if text.as_str().contains(&needle) {
            let answer: Value = serde_json::from_str(text.as_str()).expect("JSON answer");
            assert_ne!(answer["type"], "error", "{frame} was refused: {answer}");
            return answer;
        }
    }
}

/// A user of the real server: connects, registers, logs in, joins `rooms`.
pub async fn real_member(url: &str, name: &str, rooms: &[&str]) -> Ws {
    let mut ws = ws_connect(url).await;
    request(
        &mut ws,
        json!({"type": "register", "username": name, "password": PASSWORD}),
        "reg",
    )
    .await;
    request(
        &mut ws,
        json!({"type": "login", "username": name, "password": PASSWORD}),
        "login",
    )
    .await;
    for room in rooms {
        request(&mut ws, json!({"type": "join", "room": room}), "join").await;
    }
    ws
}

/// The TCP stream under a plain `ws://` client, for a raw reader.
pub fn raw_tcp(ws: Ws) -> std::net::TcpStream {
    let MaybeTlsStream::Plain(tcp) = ws.into_inner() else {
        panic!("the benches use plain ws://");
    };
    tcp.into_std().expect("a std TCP stream")
}

/// The real server's options for a flood: every per-connection and
/// per-address limit raised so nothing is refused, and a cheap bcrypt cost
/// so thousands of members sign up and log in quickly (a log-in counts
/// against its address while its password is checked).
pub fn unthrottled(dir: &std::path::Path) -> neuralchat_testkit::ServerOptions {
    neuralchat_testkit::ServerOptions::new()
        .dir(dir)
        .env("NEURALCHAT_LIMITS__FRAMES_PER_SECOND", "1000000")
        .env("NEURALCHAT_LIMITS__FRAME_BURST", "1000000")
        .env("NEURALCHAT_LIMITS__MESSAGES_PER_SECOND", "1000000")
        .env("NEURALCHAT_LIMITS__MESSAGE_BURST", "1000000")
        .env("NEURALCHAT_LIMITS__REGISTRATIONS_PER_ADDRESS", "1000000")
        .env("NEURALCHAT_LIMITS__LOGIN_ATTEMPTS_PER_ADDRESS", "1000000")
        .env("NEURALCHAT_LIMITS__CONNECTIONS_PER_ADDRESS", "1000000")
        .env("NEURALCHAT_ACCOUNTS__BCRYPT_COST", "4")
}

/// Reads and drops whatever comes on a raw sender's socket (its acks and
/// its own copies), until the socket ends or the task is aborted.
pub fn drain(socket: &std::net::TcpStream) -> tokio::task::JoinHandle<()> {
    let socket = socket.try_clone().expect("cloning the sender's socket");
    tokio::spawn(async move {
        let mut tcp = TcpStream::from_std(socket).expect("the sender's reader");
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
}
