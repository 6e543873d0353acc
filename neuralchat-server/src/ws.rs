//! The WebSocket transport at `/ws`: a thin bridge between actix-ws and an
//! engine session. It only moves text frames both ways, answers pings, and
//! closes the socket when either side is done.

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use neuralchat_core::{
    ChatError, Disconnect, Engine, ErrorCode, Inbound, ServerFrame, SessionLink,
};
use slog::{debug, warn, Logger};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// How often the server pings an idle client.
const PING_EVERY: Duration = Duration::from_secs(30);
/// A client silent for this long is disconnected.
const SILENCE_LIMIT: Duration = Duration::from_secs(90);
/// WebSocket frames up to this many times the protocol's frame limit are
/// read and answered with `frame_too_large`; larger ones close the socket.
const WS_SLACK: usize = 4;

/// Upgrades the request and starts the bridge task.
pub async fn endpoint(
    req: HttpRequest,
    body: web::Payload,
    engine: web::Data<Engine>,
) -> actix_web::Result<HttpResponse> {
    let (response, socket, stream) = actix_ws::handle(&req, body)?;
    let peer = req
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".into());
    let link = engine.connect("websocket", peer);
    let max = engine.config().limits.max_frame_bytes;
    let ws_limit = max.saturating_mul(WS_SLACK);
    let stream = stream
        .max_frame_size(ws_limit)
        .aggregate_continuations()
        .max_continuation_size(ws_limit);
    let log = engine.logger().new(slog::o!("transport" => "websocket"));
    actix_web::rt::spawn(bridge(link, socket, stream, max, engine.closing(), log));
    Ok(response)
}

async fn bridge(
    link: SessionLink,
    mut socket: actix_ws::Session,
    mut stream: actix_ws::AggregatedMessageStream,
    max_frame_bytes: usize,
    mut closing: tokio::sync::watch::Receiver<bool>,
    log: Logger,
) {
    let SessionLink {
        session,
        mut frames,
        mut closed,
    } = link;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = Instant::now();
    // The client frame being handed to the session. While it waits (the
    // session handles frames one at a time), no further frame is read — the
    // client's TCP connection holds the rest back — but outgoing frames,
    // pings and closes keep flowing.
    let mut handing: Option<Handing> = None;
    let close = loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => if socket.text(frame).await.is_err() { break None },
                None => break None,
            },
            _ = closing.wait_for(|closing| *closing) => {
                let error = ChatError::new(ErrorCode::ShuttingDown, "the server is shutting down");
                let _ = socket.text(ServerFrame::error(error, None).encode()).await;
                break Some(CloseReason { code: CloseCode::Restart, description: Some("shutting_down".into()) });
            }
            reason = &mut closed => {
                let Ok(reason) = reason else { break None };
                warn!(log, "closing session"; "code" => %reason.code, "reason" => &reason.message);
                let error = ServerFrame::error(ChatError::new(reason.code, reason.message.clone()), None);
                let _ = socket.text(error.encode()).await;
                break Some(CloseReason { code: CloseCode::Policy, description: Some(reason.code.to_string()) });
            }
            handed = finish(&mut handing), if handing.is_some() => {
                handing = None;
                if handed.is_err() { break None }
            }
            message = stream.recv(), if handing.is_none() => {
                last_heard = Instant::now();
                match message {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        handing = Some(Box::pin(session.send(Inbound(text.to_string()))));
                    }
                    Some(Ok(AggregatedMessage::Binary(bytes))) => {
                        // Frames are JSON text; binary frames are read as UTF-8 text.
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        handing = Some(Box::pin(session.send(Inbound(text))));
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if socket.pong(&bytes).await.is_err() { break None }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(_))) | None => break None,
                    Some(Err(ProtocolError::Overflow)) => {
                        let error = ChatError::new(
                            ErrorCode::FrameTooLarge,
                            format!("frame over {} bytes; closing", max_frame_bytes.saturating_mul(WS_SLACK)),
                        );
                        warn!(log, "oversize websocket frame"; "code" => %error.code);
                        let _ = socket.text(ServerFrame::error(error, None).encode()).await;
                        break Some(CloseReason { code: CloseCode::Size, description: Some("frame_too_large".into()) });
                    }
                    Some(Err(e)) => {
                        warn!(log, "websocket protocol error"; "error" => %e);
                        break Some(CloseReason { code: CloseCode::Protocol, description: None });
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    debug!(log, "client silent too long; closing");
                    break Some(CloseReason { code: CloseCode::Away, description: Some("timeout".into()) });
                }
                if socket.ping(b"").await.is_err() { break None }
            }
        }
    };
    session.do_send(Disconnect);
    let _ = socket.close(close).await;
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
