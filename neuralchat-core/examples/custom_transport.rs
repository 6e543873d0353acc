//! A custom transport over the engine's session API.
//!
//! A transport moves protocol frames (JSON text, see `docs/PROTOCOL.md`)
//! between a client and an engine session. It knows nothing about users,
//! rooms or rules:
//!
//! 1. [`Engine::connect`] opens a session and returns a [`SessionLink`].
//! 2. Each client frame goes to the session as [`Inbound`]`(text)`.
//! 3. Each server frame that comes out of `link.frames` goes to the client.
//! 4. When `link.closed` fires, the engine has closed the session (for
//!    example a slow consumer). When the client goes away, the transport
//!    sends [`Disconnect`].
//!
//! The transport here is "one JSON frame per line", carried over in-process
//! channels. neuralchat-server's WebSocket transport (`src/ws.rs`) is the
//! same bridge with a socket on the other side.
//!
//! ```text
//! # A scripted conversation between two clients (what CI runs):
//! cargo run -p neuralchat-core --example custom_transport
//!
//! # Talk to the engine yourself, one JSON frame per line on stdin:
//! printf '%s\n' '{"type":"register","username":"ann","password":"password1"}' \
//!     | cargo run -p neuralchat-core --example custom_transport -- --stdin
//! ```

use neuralchat_core::{
    ChatError, ClientFrame, Disconnect, Engine, EngineConfig, Inbound, ServerFrame, SessionLink,
};
use serde_json::Value;
use std::error::Error;
use std::io::BufRead;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long the scripted clients wait for an answer.
const DEADLINE: Duration = Duration::from_secs(10);
/// How long a closed connection waits for the session's last frames.
const DRAIN: Duration = Duration::from_secs(2);

type BoxError = Box<dyn Error>;

/// The transport's bridge for one connection: lines from `incoming` go
/// into the session, frames from the session go out to `outgoing`.
/// It returns when either side is done.
async fn serve(
    engine: Engine,
    peer: String,
    mut incoming: mpsc::Receiver<String>,
    outgoing: mpsc::Sender<String>,
) {
    let SessionLink {
        session,
        mut frames,
        mut closed,
    } = engine.connect("lines", peer);
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => {
                    if outgoing.send(frame.to_string()).await.is_err() {
                        break; // The client is gone.
                    }
                }
                None => return, // The session is gone.
            },
            reason = &mut closed => {
                // The engine closed the session: tell the client why, then stop.
                if let Ok(reason) = reason {
                    let error = ChatError::new(reason.code, reason.message);
                    let frame = ServerFrame::error(error, None).encode();
                    let _ = outgoing.send(frame.to_string()).await;
                }
                break;
            }
            line = incoming.recv() => match line {
                // `send` (not `do_send`) waits for room in the session's
                // mailbox: a fast client is held back, not queued without end.
                Some(line) => {
                    if session.send(Inbound(line)).await.is_err() {
                        break;
                    }
                }
                None => break, // The client hung up.
            },
        }
    }
    // The session answers the frames it already has, then stops.
    session.do_send(Disconnect);
    let _ = tokio::time::timeout(DRAIN, async {
        while let Some(frame) = frames.recv().await {
            if outgoing.send(frame.to_string()).await.is_err() {
                break;
            }
        }
    })
    .await;
}

/// A client at the other end of the line transport.
struct LineClient {
    /// Its name, for printing.
    name: &'static str,
    /// Lines to the server.
    to_server: mpsc::Sender<String>,
    /// Lines from the server.
    from_server: mpsc::Receiver<String>,
    /// The last `ref` used.
    next_ref: u64,
}

impl LineClient {
    /// Connects a client: spawns the transport's bridge for it and reads
    /// the server's `hello`.
    async fn connect(engine: &Engine, name: &'static str) -> Result<Self, BoxError> {
        let (to_server, incoming) = mpsc::channel(16);
        let (outgoing, from_server) = mpsc::channel(16);
        actix_rt::spawn(serve(
            engine.clone(),
            format!("{name}-pipe"),
            incoming,
            outgoing,
        ));
        let mut client = Self {
            name,
            to_server,
            from_server,
            next_ref: 0,
        };
        let hello = client.recv().await?;
        if hello["type"] != "hello" {
            return Err(format!("expected hello, got {hello}").into());
        }
        Ok(client)
    }

    /// The next server frame, printed as it arrives.
    async fn recv(&mut self) -> Result<Value, BoxError> {
        let line = tokio::time::timeout(DEADLINE, self.from_server.recv())
            .await
            .map_err(|_| format!("{}: no frame within {DEADLINE:?}", self.name))?
            .ok_or_else(|| format!("{}: the connection closed", self.name))?;
        println!("{:>5} <- {line}", self.name);
        // Frames are plain JSON; they also parse into the typed `ServerFrame`.
        serde_json::from_str::<ServerFrame>(&line)?;
        Ok(serde_json::from_str(&line)?)
    }

    /// Sends a client frame with a fresh `ref` and returns the answer that
    /// echoes it (printing every frame on the way).
    async fn request(&mut self, frame: ClientFrame) -> Result<Value, BoxError> {
        self.next_ref += 1;
        let reference = format!("{}-{}", self.name, self.next_ref);
        let mut json = serde_json::to_value(&frame)?;
        json["ref"] = Value::from(reference.clone());
        let line = json.to_string();
        println!("{:>5} -> {line}", self.name);
        self.to_server.send(line).await?;
        loop {
            let answer = self.recv().await?;
            if answer["ref"] == reference.as_str() {
                if answer["type"] == "error" {
                    return Err(format!("{}: {answer}", self.name).into());
                }
                return Ok(answer);
            }
        }
    }

    /// Registers and logs in.
    async fn sign_up(&mut self, password: &str) -> Result<(), BoxError> {
        self.request(ClientFrame::Register {
            username: self.name.into(),
            password: password.into(),
        })
        .await?;
        self.request(ClientFrame::Login {
            username: self.name.into(),
            password: password.into(),
        })
        .await?;
        Ok(())
    }
}

/// Two clients meet in a room, over the line transport.
async fn scripted(engine: &Engine) -> Result<(), BoxError> {
    let mut alice = LineClient::connect(engine, "alice").await?;
    let mut bob = LineClient::connect(engine, "bob").await?;
    alice.sign_up("password-a").await?;
    bob.sign_up("password-b").await?;
    let join = |room: &str| ClientFrame::Join {
        room: room.into(),
        since: None,
    };
    alice.request(join("lobby")).await?;
    bob.request(join("lobby")).await?;
    alice
        .request(ClientFrame::Send {
            room: "lobby".into(),
            text: "hello over a custom transport".into(),
            client_id: None,
        })
        .await?;
    // Bob's session pushes the live event to him.
    loop {
        let frame = bob.recv().await?;
        if frame["type"] == "event" && frame["event"]["kind"] == "message" {
            println!(
                "bob saw {}: {}",
                frame["event"]["author"], frame["event"]["text"]
            );
            break;
        }
    }
    Ok(())
}

/// One client on stdin/stdout: a line in is a client frame, a line out is
/// a server frame.
async fn stdin_stdout(engine: &Engine) -> Result<(), BoxError> {
    let (lines, incoming) = mpsc::channel(16);
    // std's stdin blocks: read it on its own thread.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if !line.trim().is_empty() && lines.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let (outgoing, mut frames) = mpsc::channel(16);
    let bridge = actix_rt::spawn(serve(engine.clone(), "stdin".into(), incoming, outgoing));
    while let Some(frame) = frames.recv().await {
        println!("{frame}");
    }
    bridge.await?;
    Ok(())
}

#[actix_rt::main]
async fn main() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let mut config = EngineConfig::default();
    config.accounts.bcrypt_cost = 4; // Fast hashing for the example only.
    config.bots.clear();
    let engine = Engine::builder(config)
        .database(dir.path().join("chat.db").to_string_lossy())
        .build()
        .await?;
    if std::env::args().any(|a| a == "--stdin") {
        stdin_stdout(&engine).await?;
    } else {
        scripted(&engine).await?;
    }
    engine.shutdown().await;
    Ok(())
}
