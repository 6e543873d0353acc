//! The WebSocket transport at `/ws`: a thin bridge between actix-ws and an
//! engine session. It only moves text frames both ways, answers pings, and
//! closes the socket when either side is done. Every write has a deadline:
//! a client that stops reading is disconnected, its TCP connection shut
//! down, instead of holding the server's resources forever.

use crate::admission::{origin_allowed, Admitted, OpenConnections};
use crate::config::WebSocketConfig;
use crate::connection::SocketHandle;
use crate::rest::ApiError;
use actix_web::error::PayloadError;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use bytestring::ByteString;
use neuralchat_core::{
    client_address, ChatError, Disconnect, Engine, ErrorCode, Inbound, ServerFrame, SessionLink,
};
use slog::{debug, info, warn, Logger};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// WebSocket frames up to this many times the protocol's frame limit are
/// read and answered with `frame_too_large`; larger ones close the socket.
const WS_SLACK: usize = 4;
/// At most this many queued frames are written in one turn of the bridge.
const QUEUED_BATCH: usize = 32;
/// How long a closing connection waits for the client's close reply.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Upgrades the request and starts the bridge task.
pub async fn endpoint(
    req: HttpRequest,
    body: web::Payload,
    engine: web::Data<Engine>,
    open: web::Data<OpenConnections>,
    websocket: web::Data<WebSocketConfig>,
) -> actix_web::Result<HttpResponse> {
    let peer = req
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".into());
    let origin = req
        .headers()
        .get(actix_web::http::header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("(not text)"));
    if !origin_allowed(&websocket.allowed_origins, origin) {
        warn!(engine.logger(), "websocket origin refused"; "peer" => &peer, "origin" => origin);
        let error = ChatError::new(ErrorCode::Forbidden, "this page's origin may not connect");
        return Err(ApiError(error).into());
    }
    let limits = &engine.config().limits;
    let admitted = open
        .admit(&client_address(&peer), limits.connections_per_address)
        .map_err(|e| {
            warn!(engine.logger(), "websocket refused"; "peer" => &peer, "code" => %e.code);
            ApiError(e)
        })?;
    let (response, socket, stream) = actix_ws::handle(&req, body)?;
    let max = limits.max_frame_bytes;
    let ws_limit = max.saturating_mul(WS_SLACK);
    let stream = stream
        .max_frame_size(ws_limit)
        .aggregate_continuations()
        .max_continuation_size(ws_limit);
    let log = engine
        .logger()
        .new(slog::o!("transport" => "websocket", "peer" => peer.clone()));
    let writer = Writer {
        socket,
        tcp: req.conn_data::<SocketHandle>().cloned(),
        deadline: Duration::from_secs(limits.write_deadline_secs),
        log: log.clone(),
    };
    let link = engine.connect("websocket", peer);
    let closing = engine.closing();
    let heartbeat = Heartbeat {
        ping_every: Duration::from_secs(websocket.ping_secs),
        silence_limit: Duration::from_secs(websocket.silence_secs),
    };
    actix_web::rt::spawn(bridge(
        link, writer, stream, max, heartbeat, closing, admitted,
    ));
    Ok(response)
}

/// Whether `error` is the client's byte stream ending before a frame was
/// complete (actix-ws wraps the payload's `Incomplete` in an I/O error).
fn stream_ended_mid_frame(error: &ProtocolError) -> bool {
    let ProtocolError::Io(io) = error else {
        return false;
    };
    io.get_ref()
        .and_then(|inner| inner.downcast_ref::<PayloadError>())
        .is_some_and(|payload| matches!(payload, PayloadError::Incomplete(_)))
}

/// The writing side of one connection, every write bounded in time.
struct Writer {
    /// The WebSocket.
    socket: actix_ws::Session,
    /// The TCP connection under it, to cut when a write cannot finish.
    tcp: Option<SocketHandle>,
    /// How long one write may wait for the client to read.
    deadline: Duration,
    /// The connection's log.
    log: Logger,
}

/// A write that did not go through: the client left, or stopped reading.
struct Gone;

impl Writer {
    /// Writes one text frame, or gives up on the connection.
    async fn text(&mut self, frame: impl Into<ByteString>) -> Result<(), Gone> {
        match tokio::time::timeout(self.deadline, self.socket.text(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_closed)) => Err(Gone),
            Err(_elapsed) => {
                warn!(self.log, "client stopped reading; disconnecting";
                    "code" => %ErrorCode::SlowConsumer, "waited_secs" => self.deadline.as_secs());
                self.cut();
                Err(Gone)
            }
        }
    }

    /// Answers a ping (bounded like any write).
    async fn pong(&mut self, bytes: &[u8]) -> Result<(), Gone> {
        match tokio::time::timeout(self.deadline, self.socket.pong(bytes)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Gone),
        }
    }

    /// Sends a ping (bounded like any write).
    async fn ping(&mut self) -> Result<(), Gone> {
        match tokio::time::timeout(self.deadline, self.socket.ping(b"")).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Gone),
        }
    }

    /// Ends the TCP connection at once.
    fn cut(&self) {
        if let Some(tcp) = &self.tcp {
            tcp.shut_down();
        }
    }
}

/// When the server pings, and when it gives up on a silent client.
struct Heartbeat {
    /// How often the server pings (the first ping at connect).
    ping_every: Duration,
    /// A client silent for this long is closed with 1001.
    silence_limit: Duration,
}

async fn bridge(
    link: SessionLink,
    mut writer: Writer,
    mut stream: actix_ws::AggregatedMessageStream,
    max_frame_bytes: usize,
    heartbeat: Heartbeat,
    mut closing: tokio::sync::watch::Receiver<bool>,
    _admitted: Admitted,
) {
    let SessionLink {
        session,
        mut frames,
        mut closed,
    } = link;
    let log = writer.log.clone();
    let mut ping = tokio::time::interval(heartbeat.ping_every);
    let mut last_heard = Instant::now();
    // The client frame being handed to the session. While it waits (the
    // session handles frames one at a time), no further frame is read — the
    // client's TCP connection holds the rest back — but outgoing frames,
    // pings and closes keep flowing.
    let mut handing: Option<Handing> = None;
    // Made once: a fresh `wait_for` on every turn of the loop would register
    // and drop a waiter for every frame written.
    let shutting_down = closing.wait_for(|closing| *closing);
    tokio::pin!(shutting_down);
    let ending = loop {
        tokio::select! {
            // In this order: the signals that end the connection, the
            // client's side, then outgoing frames (a queue that never
            // empties cannot hold back a close or the client's next frame),
            // then the heartbeat.
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
            message = stream.recv(), if handing.is_none() => {
                last_heard = Instant::now();
                match message {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        handing = Some(Box::pin(session.send(Inbound(text.to_string()))));
                    }
                    Some(Ok(AggregatedMessage::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                        // Frames are JSON text; a binary frame is read as UTF-8 text.
                        Ok(text) => handing = Some(Box::pin(session.send(Inbound(text)))),
                        Err(_) => {
                            let error = ChatError::new(ErrorCode::BadJson, "a binary frame must hold UTF-8 JSON text");
                            warn!(log, "binary frame is not UTF-8"; "code" => %error.code, "bytes" => bytes.len());
                            if writer.text(ServerFrame::error(error, None).encode()).await.is_err() { break Ending::Gone }
                        }
                    },
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if writer.pong(&bytes).await.is_err() { break Ending::Gone }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(_))) | None => break Ending::ClientClosed,
                    Some(Err(ProtocolError::Overflow)) => {
                        let error = ChatError::new(
                            ErrorCode::FrameTooLarge,
                            format!("frame over {} bytes; closing", max_frame_bytes.saturating_mul(WS_SLACK)),
                        );
                        warn!(log, "oversize websocket frame"; "code" => %error.code);
                        break Ending::Close(Some(error), CloseCode::Size, "frame_too_large".into());
                    }
                    // A client that sends its Close and hangs up at once can
                    // have both arrive in one read; actix-ws then reports the
                    // end of the payload instead of the Close. That is a
                    // client leaving, not a protocol error.
                    Some(Err(e)) if stream_ended_mid_frame(&e) => {
                        debug!(log, "client left"; "detail" => %e);
                        break Ending::ClientClosed;
                    }
                    Some(Err(e)) => {
                        warn!(log, "websocket protocol error"; "error" => %e);
                        break Ending::Close(None, CloseCode::Protocol, String::new());
                    }
                }
            }
            frame = frames.recv() => match frame {
                Some(frame) => if writer.text(frame).await.is_err() || write_queued(&mut frames, &mut writer).await.is_err() {
                    break Ending::Gone
                },
                // The session is gone.
                None => break Ending::Close(None, CloseCode::Normal, String::new()),
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > heartbeat.silence_limit {
                    debug!(log, "client silent too long; closing");
                    break Ending::Close(None, CloseCode::Away, "timeout".into());
                }
                if writer.ping().await.is_err() { break Ending::Gone }
            }
        }
    };
    session.do_send(Disconnect);
    finish_connection(writer, stream, ending).await;
}

/// Writes the frames already queued behind the one just written, at most
/// [`QUEUED_BATCH`]: one turn of the bridge's loop (which polls every
/// branch) for a run of frames instead of one per frame, while a close, a
/// shutdown or the client's next frame still waits at most that many.
async fn write_queued(
    frames: &mut tokio::sync::mpsc::Receiver<ByteString>,
    writer: &mut Writer,
) -> Result<(), Gone> {
    for _ in 0..QUEUED_BATCH {
        let Ok(frame) = frames.try_recv() else {
            break;
        };
        writer.text(frame).await?;
    }
    Ok(())
}

/// How a connection ends.
enum Ending {
    /// The client closed it (or its stream ended).
    ClientClosed,
    /// A write failed: the connection is gone or was cut.
    Gone,
    /// The server closes it: an error frame to send first, the close code
    /// and its description.
    Close(Option<ChatError>, CloseCode, String),
}

/// Sends the last error and the close frame, waits briefly for the
/// client's close reply, and cuts the TCP connection if it does not come:
/// a closing connection never waits on a client that does not read.
async fn finish_connection(
    mut writer: Writer,
    mut stream: actix_ws::AggregatedMessageStream,
    ending: Ending,
) {
    let (error, code, description) = match ending {
        Ending::Close(error, code, description) => (error, code, description),
        Ending::ClientClosed => {
            let _ = tokio::time::timeout(CLOSE_WAIT, writer.socket.close(None)).await;
            return;
        }
        Ending::Gone => {
            writer.cut();
            return;
        }
    };
    // A closing connection waits briefly, not a whole write deadline, for
    // a client that may have stopped reading.
    writer.deadline = writer.deadline.min(CLOSE_WAIT);
    if let Some(error) = error {
        if writer
            .text(ServerFrame::error(error, None).encode())
            .await
            .is_err()
        {
            return;
        }
    }
    let description = (!description.is_empty()).then_some(description);
    let reason = CloseReason { code, description };
    let Writer {
        socket, tcp, log, ..
    } = writer;
    let closed_cleanly = tokio::time::timeout(CLOSE_WAIT, async {
        if socket.close(Some(reason)).await.is_err() {
            return;
        }
        // Read until the client's close reply (or the end of the stream).
        while let Some(Ok(message)) = stream.recv().await {
            if matches!(message, AggregatedMessage::Close(_)) {
                break;
            }
        }
    })
    .await
    .is_ok();
    if !closed_cleanly {
        info!(log, "no close reply; cutting the connection");
        if let Some(tcp) = tcp {
            tcp.shut_down();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_incomplete_payload_is_a_client_leaving() {
        let eof = ProtocolError::Io(std::io::Error::other(PayloadError::Incomplete(None)));
        assert!(stream_ended_mid_frame(&eof));
        let other_io = ProtocolError::Io(std::io::Error::other(PayloadError::Overflow));
        assert!(!stream_ended_mid_frame(&other_io));
        assert!(!stream_ended_mid_frame(&ProtocolError::BadOpCode));
    }
}
