//! The transport: a connection that carries protocol frames as JSON text,
//! over a WebSocket, through an MQTT broker, or straight into an in-process
//! engine. Everything
//! above this file is written once against [`FrameConn`].

use crate::mqtt::MqttConn;
use crate::tls::{self, Trust};
use anyhow::{anyhow, Context, Result};
use futures_util::{SinkExt, StreamExt};
use neuralchat_core::{Disconnect, Engine, EngineConfig, Inbound, SessionLink};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest wait for the server's answer to the client's Close frame.
const CLOSE_GRACE_MAX: Duration = Duration::from_secs(1);
/// The shortest: enough for a server on this machine or network to read
/// the Close frame before the TCP connection ends (a Close followed too
/// closely by the end of the stream is logged as a protocol error).
const CLOSE_GRACE_MIN: Duration = Duration::from_millis(100);

/// A frame connection: send client frames, receive server frames, as JSON text.
pub enum FrameConn {
    /// A WebSocket to a server.
    Ws(Box<WsConn>),
    /// A session held by a node, through an MQTT broker.
    Mqtt(Box<MqttConn>),
    /// A session of an engine running in this process.
    Embedded(Box<EmbeddedConn>),
}

impl FrameConn {
    /// Sends one client frame.
    pub async fn send(&mut self, text: String) -> Result<()> {
        match self {
            Self::Ws(conn) => conn.send(text).await,
            Self::Mqtt(conn) => conn.send(text).await,
            Self::Embedded(conn) => conn.send(text).await,
        }
    }

    /// The next server frame; `None` once the connection has ended (see
    /// [`FrameConn::close_reason`]). Cancel-safe: no frame is lost when the
    /// future is dropped before it completes.
    pub async fn recv(&mut self) -> Option<String> {
        match self {
            Self::Ws(conn) => conn.recv().await,
            Self::Mqtt(conn) => conn.recv().await,
            Self::Embedded(conn) => conn.recv().await,
        }
    }

    /// What this connection is connected to, for messages.
    pub fn endpoint(&self) -> &str {
        match self {
            Self::Ws(conn) => &conn.url,
            Self::Mqtt(conn) => &conn.url,
            Self::Embedded(conn) => &conn.database,
        }
    }

    /// Why the connection ended, when it did and the reason is known.
    pub fn close_reason(&self) -> Option<&str> {
        match self {
            Self::Ws(conn) => conn.close_reason.as_deref(),
            Self::Mqtt(conn) => conn.close_reason.as_deref(),
            Self::Embedded(conn) => conn.close_reason.as_deref(),
        }
    }

    /// Closes the connection; for an embedded engine, shuts the engine down.
    pub async fn close(self) {
        match self {
            Self::Ws(conn) => conn.close().await,
            Self::Mqtt(conn) => conn.close().await,
            Self::Embedded(conn) => conn.close().await,
        }
    }
}

/// A WebSocket connection to a server.
pub struct WsConn {
    url: String,
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    close_reason: Option<String>,
    /// How long the opening handshake took: a measure of the round trip.
    handshake: Duration,
}

impl WsConn {
    /// Opens a WebSocket to `url` (already normalised); a `wss://` server's
    /// certificate must verify against `trust`.
    pub async fn connect(url: &str, trust: &Trust) -> Result<Self> {
        let started = std::time::Instant::now();
        // `true`: TCP_NODELAY, so a typed line leaves at once (with Nagle on,
        // back-to-back frames wait for the server's delayed ACK, ~40 ms).
        let (stream, _response) =
            tokio_tungstenite::connect_async_tls_with_config(url, None, true, trust.connector())
                .await
                .map_err(|e| match e {
                    WsError::Tls(e) => anyhow!("{}", tls::handshake_failed(url, &e)),
                    // A TLS server drops a plain handshake without a word.
                    WsError::Io(e) if url.starts_with("ws://") && tls::dropped(&e) => {
                        anyhow!("IO error: {e} (if the server serves TLS, use wss://)")
                    }
                    e => anyhow!("{e}"),
                })?;
        Ok(Self {
            url: url.to_string(),
            stream,
            close_reason: None,
            handshake: started.elapsed(),
        })
    }

    async fn send(&mut self, text: String) -> Result<()> {
        self.stream
            .send(Message::text(text))
            .await
            .with_context(|| format!("sending to {}", self.url))
    }

    async fn recv(&mut self) -> Option<String> {
        if self.close_reason.is_some() {
            return None;
        }
        loop {
            match self.stream.next().await {
                Some(Ok(Message::Text(text))) => return Some(text.as_str().to_string()),
                Some(Ok(Message::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                    Ok(text) => return Some(text),
                    Err(_) => continue,
                },
                Some(Ok(Message::Close(frame))) => {
                    self.close_reason = Some(match frame {
                        Some(frame) if !frame.reason.is_empty() => format!(
                            "closed by the server ({}: {})",
                            u16::from(frame.code),
                            frame.reason.as_str()
                        ),
                        Some(frame) => {
                            format!("closed by the server ({})", u16::from(frame.code))
                        }
                        None => "closed by the server".to_string(),
                    });
                    return None;
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    self.close_reason = Some(e.to_string());
                    return None;
                }
                None => {
                    self.close_reason = Some("the connection ended".to_string());
                    return None;
                }
            }
        }
    }

    /// The WebSocket close handshake: sends a Close frame (or, when the
    /// server closed first, the reply to its Close), then reads until the
    /// server's Close or the end of the stream, so that the server sees a
    /// clean close rather than the connection vanishing. The wait is
    /// bounded by [`close_grace`]; a failed or slow close changes nothing
    /// for the user: the command is done.
    async fn close(mut self) {
        let handshake = async {
            let close = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            if self.stream.close(Some(close)).await.is_err() {
                return;
            }
            // Frames still on their way, then the server's Close, then the end.
            while let Some(Ok(message)) = self.stream.next().await {
                if matches!(message, Message::Close(_)) {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(close_grace(self.handshake), handshake).await;
    }
}

/// How long to wait for the server's Close: twice the opening handshake's
/// time (a round trip or two), within [`CLOSE_GRACE_MIN`] and
/// [`CLOSE_GRACE_MAX`].
fn close_grace(handshake: Duration) -> Duration {
    (handshake * 2).clamp(CLOSE_GRACE_MIN, CLOSE_GRACE_MAX)
}

/// A session of a [`neuralchat_core::Engine`] running in this process.
pub struct EmbeddedConn {
    database: String,
    engine: Engine,
    link: SessionLink,
    /// Whether `link.closed` has fired (a oneshot must not be polled again).
    closed_fired: bool,
    close_reason: Option<String>,
}

impl EmbeddedConn {
    /// Starts an engine on `database` (a SQLite path or a database URL) and
    /// opens one session on it.
    pub async fn start(database: &str) -> Result<Self> {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let engine = Engine::builder(EngineConfig::default())
            .database(database)
            .logger(logger)
            .build()
            .await
            .map_err(|e| anyhow!("starting the embedded engine on {database}: {e}"))?;
        let link = engine.connect("embedded", "cli".into());
        Ok(Self {
            database: format!("embedded:{database}"),
            engine,
            link,
            closed_fired: false,
            close_reason: None,
        })
    }

    async fn send(&mut self, text: String) -> Result<()> {
        self.link
            .session
            .send(Inbound(text))
            .await
            .map_err(|e| anyhow!("the embedded session is gone: {e}"))?;
        Ok(())
    }

    async fn recv(&mut self) -> Option<String> {
        if self.closed_fired {
            // The engine closed the session: hand out what it queued before that.
            return self.link.frames.try_recv().ok().map(|f| f.to_string());
        }
        tokio::select! {
            biased;
            frame = self.link.frames.recv() => {
                if frame.is_none() && self.close_reason.is_none() {
                    self.close_reason = Some("the engine ended the session".to_string());
                }
                frame.map(|f| f.to_string())
            }
            reason = &mut self.link.closed => {
                self.closed_fired = true;
                self.close_reason = Some(match reason {
                    Ok(reason) => format!("closed by the engine ({}: {})", reason.code, reason.message),
                    Err(_) => "the engine ended the session".to_string(),
                });
                self.link.frames.try_recv().ok().map(|f| f.to_string())
            }
        }
    }

    async fn close(self) {
        let Self { engine, link, .. } = self;
        link.session.do_send(Disconnect);
        drop(link);
        engine.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn the_close_grace_follows_the_round_trip_within_bounds() {
        assert_eq!(close_grace(Duration::from_millis(1)), CLOSE_GRACE_MIN);
        assert_eq!(
            close_grace(Duration::from_millis(200)),
            Duration::from_millis(400)
        );
        assert_eq!(close_grace(Duration::from_secs(3)), CLOSE_GRACE_MAX);
    }

    /// The client answers the server's Close and sends its own, waiting
    /// for the server's before it goes.
    #[tokio::test]
    async fn close_performs_the_websocket_handshake() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let first = ws.next().await;
            // Answer the Close (tungstenite replies by itself on the next poll).
            let rest = ws.next().await;
            (first, rest.is_none() || matches!(rest, Some(Err(_))))
        });
        let conn = WsConn::connect(&format!("ws://{addr}/ws"), &Trust::default())
            .await
            .unwrap();
        let started = std::time::Instant::now();
        conn.close().await;
        assert!(
            started.elapsed() < CLOSE_GRACE_MAX,
            "{:?}",
            started.elapsed()
        );
        let (first, ended) = server.await.unwrap();
        match first {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Normal),
            other => panic!("the server got {other:?} instead of a Close"),
        }
        assert!(ended);
    }

    /// The CLI's own socket has Nagle's algorithm off, read back from the
    /// kernel on a real connection.
    #[tokio::test]
    async fn websocket_connections_have_tcp_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio_tungstenite::accept_async(tcp).await.unwrap()
        });
        let conn = WsConn::connect(&format!("ws://{addr}/ws"), &Trust::default())
            .await
            .unwrap();
        let _server_side = server.await.unwrap();
        match conn.stream.get_ref() {
            MaybeTlsStream::Plain(tcp) => assert!(tcp.nodelay().unwrap()),
            _ => panic!("a ws:// URL is a plain TCP stream"),
        }
    }
}
