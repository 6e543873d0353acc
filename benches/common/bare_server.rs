//! A bare WebSocket broadcast server, the benches' peer: run as a child
//! process of the bench executable (which calls [`run_if_asked`] first
//! thing in `main`).
#![allow(dead_code)]

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::ws_member::FRAME_DEADLINE;

/// Set in the child process that runs the bare broadcast server.
const BARE_ENV: &str = "NEURALCHAT_BENCH_BARE_SERVER";

/// Runs the bare server instead of the bench when this process was started
/// as one; whether it did.
pub fn run_if_asked() -> bool {
    if std::env::var_os(BARE_ENV).is_none() {
        return false;
    }
    bare::main();
    true
}

/// A bare WebSocket broadcast server: every connection is a member of one
/// room; a `send` frame from one becomes an `event` frame (built once) for
/// every connection, sender included, then an `ack` for the sender. No
/// accounts, no storage, no actors; a bounded queue and a writer task per
/// connection, which writes what is queued and flushes once.
mod bare {
    use super::*;

    type Members = Arc<Mutex<Vec<(u64, mpsc::Sender<Message>)>>>;

    pub fn main() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        // Stop when the parent closes our stdin (or dies).
        std::thread::spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            std::process::exit(0);
        });
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let port = listener.local_addr().expect("local addr").port();
            println!("{port}");
            let members: Members = Arc::default();
            let ids = Arc::new(AtomicU64::new(0));
            let mut next = 0u64;
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                next += 1;
                tokio::spawn(connection(tcp, next, members.clone(), ids.clone()));
            }
        });
    }

    async fn connection(tcp: TcpStream, me: u64, members: Members, ids: Arc<AtomicU64>) {
        let _ = tcp.set_nodelay(true);
        let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
            return;
        };
        let (sink, mut stream) = ws.split();
        let (tx, rx) = mpsc::channel::<Message>(65536);
        let hello = r#"{"type":"hello","protocol":"neuralchat/1","node":"bare","limits":{}}"#;
        let _ = tx.try_send(Message::text(hello));
        members.lock().unwrap().push((me, tx.clone()));
        let writer = tokio::spawn(write_all(sink, rx));
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            let n = ids.fetch_add(1, Ordering::Relaxed);
            let id = format!("019ab000-0000-7000-8000-{n:012x}");
            let ts = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let event = json!({"type": "event", "event": {
                "id": id, "room": frame["room"], "kind": "message", "author": "bare",
                "origin": "bare", "ts": ts, "text": frame["text"],
            }});
            let event = Message::text(event.to_string());
            let mut slow = Vec::new();
            for (id, member) in members.lock().unwrap().iter() {
                if member.try_send(event.clone()).is_err() {
                    slow.push(*id);
                }
            }
            if !slow.is_empty() {
                members.lock().unwrap().retain(|(id, _)| !slow.contains(id));
            }
            let ack = json!({"type": "ack", "ref": frame["ref"], "id": id, "room": frame["room"]});
            if tx.try_send(Message::text(ack.to_string())).is_err() {
                break;
            }
        }
        members.lock().unwrap().retain(|(id, _)| *id != me);
        writer.abort();
    }

    async fn write_all(
        mut sink: SplitSink<WebSocketStream<TcpStream>, Message>,
        mut rx: mpsc::Receiver<Message>,
    ) {
        while let Some(message) = rx.recv().await {
            if sink.feed(message).await.is_err() {
                return;
            }
            while let Ok(message) = rx.try_recv() {
                if sink.feed(message).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    }
}

/// A running bare server (killed on drop; it also exits when our end of its
/// stdin closes).
pub struct BareServer {
    _child: tokio::process::Child,
    pub pid: u32,
    port: u16,
}

impl BareServer {
    pub async fn start() -> BareServer {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = tokio::process::Command::new(exe)
            .env(BARE_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the bare server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        tokio::time::timeout(FRAME_DEADLINE, BufReader::new(stdout).read_line(&mut line))
            .await
            .expect("the bare server did not say its port")
            .expect("reading the bare server's port");
        let port = line.trim().parse().expect("the bare server's port");
        BareServer {
            pid: child.id().expect("the bare server's pid"),
            _child: child,
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }
}
