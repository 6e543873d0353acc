//! One MQTT client's session on this node: the same engine session a
//! WebSocket gets, with the client's frames arriving from `in/{node}` and
//! the session's frames published on `out`. It ends when the client closes
//! it, falls silent, its broker link drops, or the engine closes it.

use crate::client_topics;
use crate::link::Link;
use neuralchat_core::{ChatError, Disconnect, ErrorCode, Inbound, ServerFrame, SessionLink};
use slog::{info, warn, Logger};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// A session that hears nothing from its client for this long ends (the
/// client pings more often than that).
pub const SILENCE_LIMIT: Duration = Duration::from_secs(90);
/// Frames from the client waiting for the session; more close it.
pub const INBOUND_QUEUE: usize = 1024;
/// Client frames up to this many times the frame limit are handed to the
/// session (which answers `frame_too_large`); larger ones end it.
const SLACK: usize = 4;

/// How the gateway reaches a running session.
pub struct SessionHandle {
    /// Numbers sessions, so a late end report names the right one.
    pub serial: u64,
    /// The client's frames, in order.
    pub inbound: mpsc::Sender<Vec<u8>>,
    /// Dropped with the handle: the session ends at once, and frames still
    /// waiting in `inbound` are not handled (the client closed it, flooded
    /// it, or opened a new one).
    pub _stop: oneshot::Sender<()>,
}

/// What a session needs to run.
pub struct SessionParts {
    /// The engine session.
    pub link: SessionLink,
    /// The broker link the client is on.
    pub broker: Link,
    /// The client id.
    pub client: String,
    /// The client's frames.
    pub inbound: mpsc::Receiver<Vec<u8>>,
    /// Resolves when the gateway drops the session's handle.
    pub stop: oneshot::Receiver<()>,
    /// The engine's shutdown signal.
    pub closing: watch::Receiver<bool>,
    /// The protocol's frame limit.
    pub max_frame_bytes: usize,
    /// The session's log.
    pub log: Logger,
}

/// A client frame being handed to the session.
type Handing = Pin<Box<dyn Future<Output = Result<(), actix::MailboxError>>>>;

/// Runs the session until it ends.
pub async fn run(parts: SessionParts) {
    let SessionParts {
        link,
        broker,
        client,
        mut inbound,
        mut stop,
        mut closing,
        max_frame_bytes,
        log,
    } = parts;
    let SessionLink {
        session,
        mut frames,
        mut closed,
    } = link;
    let out = client_topics::out(&client);
    let publish = |frame: Vec<u8>| broker.publish(&out, frame, false);
    let error = |code, message: &str| {
        ServerFrame::error(ChatError::new(code, message), None)
            .encode()
            .as_bytes()
            .to_vec()
    };
    let mut last_heard = Instant::now();
    let mut silence = tokio::time::interval(SILENCE_LIMIT / 3);
    // While a frame is being handed over (the session takes one at a time),
    // the next one waits in `inbound`, but outgoing frames keep flowing.
    let mut handing: Option<Handing> = None;
    let ending = loop {
        tokio::select! {
            _ = &mut stop => break "ended by the gateway",
            frame = frames.recv() => match frame {
                Some(frame) => if !publish(frame.as_bytes().to_vec()) { break "broker link lost" },
                None => break "session ended",
            },
            reason = &mut closed => {
                if let Ok(reason) = reason {
                    warn!(log, "closing session"; "code" => %reason.code, "reason" => &reason.message);
                    publish(error(reason.code, &reason.message));
                }
                break "closed by the server";
            }
            _ = closing.wait_for(|closing| *closing) => {
                publish(error(ErrorCode::ShuttingDown, "the server is shutting down"));
                break "server shutting down";
            }
            handed = async { if let Some(h) = handing.as_mut() { h.await } else { Ok(()) } }, if handing.is_some() => {
                handing = None;
                if handed.is_err() { break "session ended" }
            }
            payload = inbound.recv(), if handing.is_none() => {
                let Some(payload) = payload else { break "client gone" };
                // A session the gateway has let go of handles nothing more,
                // not even the frames still queued for it.
                if !matches!(stop.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
                    break "ended by the gateway";
                }
                last_heard = Instant::now();
                if payload.len() > max_frame_bytes.saturating_mul(SLACK) {
                    warn!(log, "frame far too large; closing"; "bytes" => payload.len());
                    publish(error(ErrorCode::FrameTooLarge, "frame far larger than the limit; session closed"));
                    break "frame too large";
                }
                match String::from_utf8(payload) {
                    Ok(text) => handing = Some(Box::pin(session.send(Inbound(text)))),
                    Err(e) => {
                        warn!(log, "frame is not UTF-8"; "code" => %ErrorCode::BadJson, "bytes" => e.as_bytes().len());
                        publish(error(ErrorCode::BadJson, "a frame must be UTF-8 JSON text"));
                    }
                }
            }
            _ = silence.tick() => {
                if last_heard.elapsed() >= SILENCE_LIMIT {
                    publish(error(ErrorCode::NoSession, "no frame for 90 s: session closed; open a new one"));
                    break "silent client";
                }
            }
        }
    };
    session.do_send(Disconnect);
    info!(log, "mqtt session ended"; "why" => ending);
}
