//! The WebSocket transport at `/ws`: a thin bridge between an engine
//! session and the client's socket. actix-http hands the upgrade request
//! and its socket to [`upgrade`], which answers `101` and starts the
//! connection's task. In it, the outgoing side ([`outgoing`], written by
//! [`socket::pump`]) reads the session's outbox itself; the bridge reads
//! the client's frames ([`incoming`]), hands them to the session, answers
//! pings, keeps the heartbeat, and closes the socket when either side is
//! done. The writer keeps the write deadline: a client that stops reading
//! is disconnected instead of holding the server's resources forever.

mod incoming;
mod outgoing;
mod socket;
mod upgrade;

pub use upgrade::Upgrades;

use crate::admission::{origin_allowed, Admitted};
use crate::config::WebSocketConfig;
use crate::rest::ApiError;
use actix_http::ws::{CloseCode, CloseReason};
use actix_web::error::PayloadError;
use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use bytestring::ByteString;
use futures_util::Stream;
use incoming::{ClientFrames, Incoming, IncomingError};
use neuralchat_core::{
    ChatError, Disconnect, Engine, ErrorCode, Inbound, ServerFrame, SessionLink,
};
use outgoing::{Control, ControlSender, OutgoingBody, Queued};
use slog::{debug, info, warn, Logger};
use socket::{PumpEnd, SocketBytes};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use upgrade::Upgraded;

/// WebSocket frames up to this many times the protocol's frame limit are
/// read and answered with `frame_too_large`; larger ones close the socket.
const WS_SLACK: usize = 4;
/// How long a closing connection waits for the client's close reply.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// `GET /ws` without a WebSocket upgrade (a WebSocket upgrade never gets
/// here: actix-http hands it to [`Upgrades`]): refused as the upgrade would
/// be, a foreign origin with 403, anything else with the handshake's 400.
pub async fn not_upgraded(
    req: HttpRequest,
    engine: web::Data<Engine>,
    websocket: web::Data<WebSocketConfig>,
) -> actix_web::Result<HttpResponse> {
    let peer = peer_text(req.peer_addr());
    check_origin(&engine, &websocket, &peer, req.headers()).map_err(ApiError)?;
    actix_http::ws::handshake(req.head())?;
    Ok(HttpResponse::BadRequest().finish())
}

/// A client's address as the log and the engine show it.
fn peer_text(addr: Option<std::net::SocketAddr>) -> String {
    addr.map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Refuses (and logs) a WebSocket from a page whose origin (the request's
/// `Origin` header) is not allowed.
fn check_origin(
    engine: &Engine,
    websocket: &WebSocketConfig,
    peer: &str,
    headers: &HeaderMap,
) -> Result<(), ChatError> {
    let origin = headers
        .get(actix_web::http::header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("(not text)"));
    if origin_allowed(&websocket.allowed_origins, origin) {
        return Ok(());
    }
    warn!(engine.logger(), "websocket origin refused"; "peer" => peer, "origin" => origin);
    Err(ChatError::new(
        ErrorCode::Forbidden,
        "this page's origin may not connect",
    ))
}

/// Serves one upgraded connection: starts its engine session, then runs
/// the bridge and the writer side by side until the bridge is done. The
/// socket is closed when this returns.
async fn connection<T>(engine: Engine, heartbeat: Heartbeat, upgraded: Upgraded<T>)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let Upgraded {
        io,
        read: already_read,
        peer,
        admitted,
    } = upgraded;
    let limits = &engine.config().limits;
    let max = limits.max_frame_bytes;
    let (reader, socket_writer) = tokio::io::split(io);
    let stream = ClientFrames::new(SocketBytes::new(reader), max.saturating_mul(WS_SLACK))
        .with_buffered(already_read);
    let log = engine
        .logger()
        .new(slog::o!("transport" => "websocket", "peer" => peer.clone()));
    let SessionLink {
        session,
        frames,
        closed,
    } = engine.connect("websocket", peer);
    let (outgoing, control) = OutgoingBody::new(frames);
    let deadline = Duration::from_secs(limits.write_deadline_secs);
    let writer = Writer {
        control,
        log: log.clone(),
    };
    let client = Client {
        session: SessionEnd(session),
        closed,
        stream,
        max_frame_bytes: max,
    };
    let bridge = bridge(client, writer, heartbeat, engine.closing(), admitted);
    let pump = socket::pump(outgoing, socket_writer, deadline);
    tokio::pin!(bridge);
    tokio::pin!(pump);
    // The writer stops first only when a write fails (the client is gone)
    // or misses its deadline; the bridge is then dropped, and its session
    // ends with it.
    tokio::select! {
        () = &mut bridge => {}
        end = &mut pump => if end == PumpEnd::Stalled {
            warn!(log, "client stopped reading; disconnecting";
                "code" => %ErrorCode::SlowConsumer, "waited_secs" => deadline.as_secs());
        }
    }
}

/// The client's side of one connection and the session it talks to.
struct Client<S> {
    /// The engine session, ended when this is dropped.
    session: SessionEnd,
    /// Resolves when the engine closes the session.
    closed: tokio::sync::oneshot::Receiver<neuralchat_core::CloseReason>,
    /// The client's frames.
    stream: ClientFrames<S>,
    /// The protocol's frame limit.
    max_frame_bytes: usize,
}

/// The engine session of a connection: dropping it ends the session,
/// however the connection's task ends (the bridge done, or dropped when
/// the client is gone).
struct SessionEnd(actix::Addr<neuralchat_core::Session>);

impl Drop for SessionEnd {
    fn drop(&mut self) {
        self.0.do_send(Disconnect);
    }
}

/// What the bridge writes itself.
struct Writer {
    /// The response body's control queue.
    control: ControlSender,
    /// The connection's log.
    log: Logger,
}

/// A write that cannot go through: the client left, or stopped reading.
struct Gone;

impl Writer {
    /// Queues a text frame ahead of the outbox's, or gives up on the
    /// connection: a client that leaves this many of the bridge's frames
    /// unread is not reading.
    fn text(&self, frame: ByteString) -> Result<(), Gone> {
        self.must(Control::Text(frame))
    }

    /// Queues the close frame, or gives up on the connection.
    fn close(&self, reason: Option<CloseReason>) -> Result<(), Gone> {
        self.must(Control::Close(reason))
    }

    /// Queues a frame that must be written.
    fn must(&self, control: Control) -> Result<(), Gone> {
        match self.control.send(control) {
            Queued::Yes => Ok(()),
            Queued::Full | Queued::Gone => Err(Gone),
        }
    }

    /// Queues a ping or a pong; one that does not fit is dropped (the
    /// heartbeat and the writer's deadline deal with a client that does
    /// not read).
    fn control(&self, control: Control) -> Result<(), Gone> {
        match self.control.send(control) {
            Queued::Yes | Queued::Full => Ok(()),
            Queued::Gone => Err(Gone),
        }
    }
}

/// When the server pings, and when it gives up on a silent client.
#[derive(Debug, Clone, Copy)]
struct Heartbeat {
    /// How often the server pings (the first ping at connect).
    ping_every: Duration,
    /// A client silent for this long is closed with 1001.
    silence_limit: Duration,
}

async fn bridge<S>(
    client: Client<S>,
    writer: Writer,
    heartbeat: Heartbeat,
    mut closing: tokio::sync::watch::Receiver<bool>,
    _admitted: Admitted,
) where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    let Client {
        session,
        mut closed,
        mut stream,
        max_frame_bytes,
    } = client;
    let log = writer.log.clone();
    let mut ping = tokio::time::interval(heartbeat.ping_every);
    let mut last_heard = Instant::now();
    // The client frame being handed to the session. While it waits (the
    // session handles frames one at a time), no further frame is read — the
    // client's TCP connection holds the rest back — but outgoing frames,
    // pings and closes keep flowing.
    let mut handing: Option<Handing> = None;
    // Made once: a fresh `wait_for` on every turn of the loop would register
    // and drop a waiter for every frame read.
    let shutting_down = closing.wait_for(|closing| *closing);
    tokio::pin!(shutting_down);
    let ending = loop {
        tokio::select! {
            // In this order: the signals that end the connection, the
            // client's side, then the heartbeat.
            biased;
            _ = &mut shutting_down => {
                let error = ChatError::new(ErrorCode::ShuttingDown, "the server is shutting down");
                break Ending::Close(Some(error), CloseCode::Restart, "shutting_down".into());
            }
            reason = &mut closed => {
                let Ok(reason) = reason else { break Ending::Gone };
                warn!(log, "closing session"; "code" => %reason.code, "reason" => &reason.message);
                let description = reason.code.to_string();
                let error = ChatError::new(reason.code, reason.message);
                break Ending::Close(Some(error), CloseCode::Policy, description);
            }
            handed = finish(&mut handing), if handing.is_some() => {
                handing = None;
                if handed.is_err() { break Ending::Gone }
            }
            message = stream.next(), if handing.is_none() => {
                last_heard = Instant::now();
                match message {
                    Some(Ok(Incoming::Text(text))) => {
                        handing = Some(Box::pin(session.0.send(Inbound(text))));
                    }
                    Some(Ok(Incoming::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                        // Frames are JSON text; a binary frame is read as UTF-8 text.
                        Ok(text) => handing = Some(Box::pin(session.0.send(Inbound(text)))),
                        Err(_) => {
                            let error = ChatError::new(ErrorCode::BadJson, "a binary frame must hold UTF-8 JSON text");
                            warn!(log, "binary frame is not UTF-8"; "code" => %error.code, "bytes" => bytes.len());
                            if writer.text(ServerFrame::error(error, None).encode()).is_err() { break Ending::Gone }
                        }
                    },
                    Some(Ok(Incoming::Ping(bytes))) => {
                        if writer.control(Control::Pong(bytes)).is_err() { break Ending::Gone }
                    }
                    Some(Ok(Incoming::Pong)) => {}
                    Some(Ok(Incoming::Close)) | None => break Ending::ClientClosed,
                    Some(Err(IncomingError::TooLarge)) => {
                        let error = ChatError::new(
                            ErrorCode::FrameTooLarge,
                            format!("frame over {} bytes; closing", max_frame_bytes.saturating_mul(WS_SLACK)),
                        );
                        warn!(log, "oversize websocket frame"; "code" => %error.code);
                        break Ending::Close(Some(error), CloseCode::Size, "frame_too_large".into());
                    }
                    // A client that sends its Close and hangs up at once can
                    // have both arrive in one read, and the connection then
                    // reports the end of the bytes inside a frame. That is a
                    // client leaving, not a protocol error.
                    Some(Err(IncomingError::ClientLeft)) => {
                        debug!(log, "client left mid-frame");
                        break Ending::ClientClosed;
                    }
                    Some(Err(IncomingError::Protocol(e))) => {
                        warn!(log, "websocket protocol error"; "error" => e);
                        break Ending::Close(None, CloseCode::Protocol, String::new());
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > heartbeat.silence_limit {
                    debug!(log, "client silent too long; closing");
                    break Ending::Close(None, CloseCode::Away, "timeout".into());
                }
                if writer.control(Control::Ping).is_err() { break Ending::Gone }
            }
        }
    };
    // Ended before the close, so that no frame follows it.
    drop(session);
    finish_connection(writer, stream, ending).await;
}

/// How a connection ends.
enum Ending {
    /// The client closed it (or its stream ended).
    ClientClosed,
    /// Writing cannot go on: the connection is gone or was cut.
    Gone,
    /// The server closes it: an error frame to send first, the close code
    /// and its description.
    Close(Option<ChatError>, CloseCode, String),
}

/// Ends the connection: sends the last error and the close frame, and
/// waits briefly for the client's close reply (or, when the client closed,
/// for our answer to be taken); the TCP connection is closed when the
/// connection's task ends, right after. The server
/// closes the TCP connection first (RFC 6455), and a closing connection
/// never waits long on a client that does not read.
async fn finish_connection<S>(writer: Writer, mut stream: ClientFrames<S>, ending: Ending)
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    let (error, code, description) = match ending {
        Ending::Close(error, code, description) => (error, code, description),
        Ending::ClientClosed => {
            if writer.close(None).is_ok() {
                let _ = tokio::time::timeout(CLOSE_WAIT, writer.control.close_taken()).await;
            }
            return;
        }
        Ending::Gone => return,
    };
    let error_queued = match error {
        Some(error) => writer.text(ServerFrame::error(error, None).encode()),
        None => Ok(()),
    };
    let description = (!description.is_empty()).then_some(description);
    let reason = CloseReason { code, description };
    if error_queued
        .and_then(|()| writer.close(Some(reason)))
        .is_ok()
    {
        // Until the client's close reply, the end of its stream, or a frame
        // that cannot be read.
        let replied = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(message)) = stream.next().await {
                if message == Incoming::Close {
                    break;
                }
            }
        })
        .await
        .is_ok();
        if !replied {
            info!(writer.log, "no close reply; cutting the connection");
        }
    }
}

/// A frame on its way into the session's mailbox.
type Handing = Pin<Box<dyn Future<Output = Result<(), actix::MailboxError>>>>;

/// Waits for the frame being handed over (never resolves when there is none).
async fn finish(handing: &mut Option<Handing>) -> Result<(), actix::MailboxError> {
    match handing {
        Some(send) => send.await,
        None => std::future::pending().await,
    }
}
