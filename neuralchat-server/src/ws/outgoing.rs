//! The WebSocket connection's outgoing stream, a `MessageBody` (what the
//! `101` response's body was when actix-http wrote it; `socket::pump`
//! writes it now). It reads the session's outbox itself, so a
//! frame goes from the room's fan-out straight to the connection's writer:
//! no task in between wakes up to copy it into a second channel. Frames
//! that wait together are written into one chunk, which the connection
//! writes to its socket in one go. The bridge's own frames (pongs, pings,
//! an error before a close, the close) come through a small control queue
//! and go out before the outbox's.

use actix_http::ws::{CloseReason, OpCode, Parser};
use actix_web::body::{BodySize, MessageBody};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::{mpsc, Notify};

/// How many control frames may wait. A client that leaves more than this
/// unread is not reading: further pings and pongs are dropped, and an
/// error frame or a close that does not fit cuts the connection.
const CONTROL_CAPACITY: usize = 8;
/// A chunk takes no further frames once it holds this many bytes.
const CHUNK_BYTES: usize = 16 * 1024;
/// RFC 6455: a control frame's payload is at most 125 bytes.
const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame the bridge writes itself.
#[derive(Debug)]
pub(super) enum Control {
    /// A text frame (an `error` frame the engine did not send).
    Text(ByteString),
    /// A ping with an empty payload.
    Ping,
    /// The answer to the client's ping, with its payload.
    Pong(Bytes),
    /// The close frame: the body ends once it is written.
    Close(Option<CloseReason>),
}

/// What became of a control frame handed to the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Queued {
    /// It will be written, after the control frames before it.
    Yes,
    /// The control queue is full: the client is not reading.
    Full,
    /// The body is gone: so is the connection.
    Gone,
}

/// What the bridge and the body share: one small allocation per
/// connection (a channel would allocate a block of slots up front, on
/// every idle connection).
#[derive(Debug)]
struct Link {
    /// Control frames waiting, at most [`CONTROL_CAPACITY`].
    control: Mutex<VecDeque<Control>>,
    /// Wakes the body when a control frame comes or the bridge goes.
    body_waker: AtomicWaker,
    /// Set when the bridge drops its side: the connection is over.
    bridge_gone: AtomicBool,
    /// Set when the body is dropped: nothing more will be written.
    body_gone: AtomicBool,
    /// Woken once the connection has taken the close frame (asked the body
    /// for more after it): the close is in the connection's hands.
    close_taken: Notify,
}

impl Link {
    /// The control queue, even if a thread panicked while holding it (a
    /// queue of frames stays consistent).
    fn control(&self) -> std::sync::MutexGuard<'_, VecDeque<Control>> {
        self.control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The bridge's side of the body: its control queue.
#[derive(Debug)]
pub(super) struct ControlSender(Arc<Link>);

impl ControlSender {
    /// Queues a control frame without waiting.
    pub(super) fn send(&self, control: Control) -> Queued {
        if self.0.body_gone.load(Ordering::SeqCst) {
            return Queued::Gone;
        }
        {
            let mut queue = self.0.control();
            if queue.len() >= CONTROL_CAPACITY {
                return Queued::Full;
            }
            queue.push_back(control);
        }
        self.0.body_waker.wake();
        Queued::Yes
    }

    /// Resolves once the connection has taken the close frame (a wake-up
    /// that comes before the call is kept for it).
    pub(super) async fn close_taken(&self) {
        self.0.close_taken.notified().await;
    }
}

impl Drop for ControlSender {
    fn drop(&mut self) {
        self.0.bridge_gone.store(true, Ordering::SeqCst);
        self.0.body_waker.wake();
    }
}

/// Every frame the server sends on one WebSocket connection.
pub(super) struct OutgoingBody {
    /// The session's outbox: the engine's frames, in order.
    frames: mpsc::Receiver<ByteString>,
    /// Whether the outbox may still bring frames (its senders are alive).
    frames_open: bool,
    /// Shared with the bridge: its frames, written first.
    link: Arc<Link>,
    /// Set once the close frame is in `buf`, or the bridge is gone: nothing
    /// more is encoded. The body ends when the bridge is gone; until then
    /// it waits, so that the connection stays open while the bridge reads
    /// the client's close reply.
    closing: bool,
    /// Set when the chunk holding the close frame was handed over.
    close_handed: bool,
    /// Frames encoded and not yet handed to the connection.
    buf: BytesMut,
}

impl OutgoingBody {
    /// A body writing `frames` and the bridge's control frames; returns it
    /// with the bridge's side.
    pub(super) fn new(frames: mpsc::Receiver<ByteString>) -> (Self, ControlSender) {
        let link = Arc::new(Link {
            control: Mutex::new(VecDeque::new()),
            body_waker: AtomicWaker::new(),
            bridge_gone: AtomicBool::new(false),
            body_gone: AtomicBool::new(false),
            close_taken: Notify::new(),
        });
        let body = OutgoingBody {
            frames,
            frames_open: true,
            link: Arc::clone(&link),
            closing: false,
            close_handed: false,
            buf: BytesMut::new(),
        };
        (body, ControlSender(link))
    }

    /// Encodes one control frame into `buf`; returns whether it was the
    /// close.
    fn encode_control(buf: &mut BytesMut, control: Control) -> bool {
        match control {
            Control::Text(text) => {
                Parser::write_message(buf, text.as_bytes(), OpCode::Text, true, false)
            }
            Control::Ping => Parser::write_message(buf, [], OpCode::Ping, true, false),
            Control::Pong(payload) => {
                let payload = payload.slice(..payload.len().min(MAX_CONTROL_PAYLOAD));
                Parser::write_message(buf, payload, OpCode::Pong, true, false)
            }
            Control::Close(reason) => {
                Parser::write_close(buf, reason, false);
                return true;
            }
        }
        false
    }

    /// Encodes what waits, control frames first, into `buf`.
    fn fill(&mut self, cx: &mut Context<'_>) {
        self.link.body_waker.register(cx.waker());
        let mut control = self.link.control();
        while !self.closing {
            match control.pop_front() {
                Some(frame) => self.closing = Self::encode_control(&mut self.buf, frame),
                None => break,
            }
        }
        drop(control);
        // The bridge is gone (after queueing its close, if it had one to
        // send): the connection is over.
        if self.link.bridge_gone.load(Ordering::SeqCst) {
            self.closing = true;
        }
        while !self.closing && self.frames_open && self.buf.len() < CHUNK_BYTES {
            match self.frames.poll_recv(cx) {
                Poll::Ready(Some(frame)) => Parser::write_message(
                    &mut self.buf,
                    frame.as_bytes(),
                    OpCode::Text,
                    true,
                    false,
                ),
                // The session is gone; the bridge closes the connection.
                Poll::Ready(None) => self.frames_open = false,
                Poll::Pending => break,
            }
        }
    }
}

impl Drop for OutgoingBody {
    fn drop(&mut self) {
        self.link.body_gone.store(true, Ordering::SeqCst);
    }
}

impl MessageBody for OutgoingBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.closing {
            // Asked for more after the close: the connection has it.
            if std::mem::take(&mut this.close_handed) {
                this.link.close_taken.notify_one();
            }
            this.link.body_waker.register(cx.waker());
            return if this.link.bridge_gone.load(Ordering::SeqCst) {
                Poll::Ready(None)
            } else {
                Poll::Pending
            };
        }
        this.fill(cx);
        if !this.buf.is_empty() {
            this.close_handed = this.closing;
            // A fresh buffer each time: an idle connection keeps none.
            return Poll::Ready(Some(Ok(std::mem::take(&mut this.buf).freeze())));
        }
        // Only the bridge leaving sets `closing` without a frame to write.
        if this.closing {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_http::ws::CloseCode;
    use std::future::poll_fn;

    /// The next chunk, or `None` when the body ended; panics if it waits.
    async fn next(body: &mut OutgoingBody) -> Option<Vec<u8>> {
        let polled = poll_fn(|cx| Poll::Ready(Pin::new(&mut *body).poll_next(cx))).await;
        match polled {
            Poll::Ready(Some(Ok(chunk))) => Some(chunk.to_vec()),
            Poll::Ready(None) => None,
            Poll::Pending => panic!("the body waits"),
        }
    }

    fn body() -> (OutgoingBody, mpsc::Sender<ByteString>, ControlSender) {
        let (frames_tx, frames) = mpsc::channel(16);
        let (body, control) = OutgoingBody::new(frames);
        (body, frames_tx, control)
    }

    #[tokio::test]
    async fn frames_waiting_together_go_out_in_one_chunk_after_control_frames() {
        let (mut body, frames, control) = body();
        frames.try_send("ab".into()).unwrap();
        frames.try_send("c".into()).unwrap();
        assert_eq!(
            control.send(Control::Pong(Bytes::from_static(b"p"))),
            Queued::Yes
        );
        let chunk = next(&mut body).await.unwrap();
        // Pong (0x8A) first, then two unmasked final text frames (0x81).
        assert_eq!(chunk, b"\x8a\x01p\x81\x02ab\x81\x01c");
    }

    #[tokio::test]
    async fn the_close_frame_ends_the_body_and_drops_what_is_queued_behind_it() {
        let (mut body, frames, control) = body();
        let reason = CloseReason {
            code: CloseCode::Policy,
            description: Some("slow_consumer".into()),
        };
        assert_eq!(control.send(Control::Text("{}".into())), Queued::Yes);
        assert_eq!(control.send(Control::Close(Some(reason))), Queued::Yes);
        frames.try_send("late".into()).unwrap();
        let chunk = next(&mut body).await.unwrap();
        let mut expected = b"\x81\x02{}\x88\x0f\x03\xf0".to_vec();
        expected.extend_from_slice(b"slow_consumer");
        assert_eq!(chunk, expected);
        // Asked for more: the close is taken, and the body waits for the
        // bridge (which reads the client's reply) to go.
        let polled = poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_next(cx))).await;
        assert!(polled.is_pending());
        tokio::time::timeout(std::time::Duration::from_secs(1), control.close_taken())
            .await
            .unwrap();
        drop(control);
        assert_eq!(next(&mut body).await, None);
    }

    #[tokio::test]
    async fn a_long_pong_is_cut_to_the_control_frame_limit() {
        let (mut body, _frames, control) = body();
        let payload = Bytes::from(vec![b'x'; 300]);
        assert_eq!(control.send(Control::Pong(payload)), Queued::Yes);
        let chunk = next(&mut body).await.unwrap();
        assert_eq!(chunk.len(), 2 + MAX_CONTROL_PAYLOAD);
        assert_eq!(chunk[1] as usize, MAX_CONTROL_PAYLOAD);
    }

    #[tokio::test]
    async fn a_full_control_queue_says_so_and_a_dropped_body_says_gone() {
        let (body, _frames, control) = body();
        for _ in 0..CONTROL_CAPACITY {
            assert_eq!(control.send(Control::Ping), Queued::Yes);
        }
        assert_eq!(control.send(Control::Ping), Queued::Full);
        drop(body);
        assert_eq!(control.send(Control::Ping), Queued::Gone);
    }

    #[tokio::test]
    async fn the_body_ends_when_the_bridge_is_gone() {
        let (mut body, frames, control) = body();
        frames.try_send("x".into()).unwrap();
        drop(control);
        assert_eq!(next(&mut body).await, None);
    }
}
