//! A session's bounded outgoing queue. Frames are shared, pre-serialized
//! bytes; a session whose queue is full is closed as too slow rather than
//! letting the server's memory grow.

use crate::error::ErrorCode;
use bytestring::ByteString;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Why the engine closed a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// The stable code.
    pub code: ErrorCode,
    /// A human explanation.
    pub message: String,
}

/// The sending side of a session's queue; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// Frames for the transport to write.
    frames: mpsc::Sender<ByteString>,
    /// Fires once, when the engine closes the session.
    closer: Arc<Mutex<Option<oneshot::Sender<CloseReason>>>>,
}

/// The transport's side: frames to write and the close signal.
#[derive(Debug)]
pub struct OutboxReceiver {
    /// Frames to write, in order.
    pub frames: mpsc::Receiver<ByteString>,
    /// Resolves when the engine closes the session.
    pub closed: oneshot::Receiver<CloseReason>,
}

/// A queue holding at most `capacity` frames.
pub fn outbox(capacity: usize) -> (Outbox, OutboxReceiver) {
    let (frames_tx, frames_rx) = mpsc::channel(capacity.max(1));
    let (close_tx, close_rx) = oneshot::channel();
    (
        Outbox {
            frames: frames_tx,
            closer: Arc::new(Mutex::new(Some(close_tx))),
        },
        OutboxReceiver {
            frames: frames_rx,
            closed: close_rx,
        },
    )
}

/// What became of a frame pushed into an outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued for the transport.
    Queued,
    /// The queue was full: the session is now closed as a slow consumer.
    Full,
    /// The transport is gone (the client left): nothing to do.
    Gone,
}

impl Outbox {
    /// Queues a frame. A full queue closes the session as a slow consumer;
    /// returns whether the frame was queued.
    pub fn push(&self, frame: ByteString) -> bool {
        self.offer(frame) == Pushed::Queued
    }

    /// Queues a frame, saying why not when it was not: a full queue closes
    /// the session as a slow consumer.
    pub fn offer(&self, frame: ByteString) -> Pushed {
        match self.frames.try_send(frame) {
            Ok(()) => Pushed::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(CloseReason {
                    code: ErrorCode::SlowConsumer,
                    message: "the client did not read its messages fast enough".into(),
                });
                Pushed::Full
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Pushed::Gone,
        }
    }

    /// Closes the session with a reason; only the first reason counts.
    pub fn close(&self, reason: CloseReason) {
        let sender = match self.closer.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(sender) = sender {
            let _ = sender.send(reason);
        }
    }

    /// Whether the session was closed or its transport went away.
    pub fn is_closed(&self) -> bool {
        let closed = match self.closer.lock() {
            Ok(guard) => guard.is_none(),
            Err(poisoned) => poisoned.into_inner().is_none(),
        };
        closed || self.frames.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_closes_as_slow_consumer() {
        let (outbox, mut rx) = outbox(2);
        assert!(outbox.push("a".into()));
        assert!(outbox.push("b".into()));
        assert_eq!(outbox.offer("c".into()), Pushed::Full);
        assert!(outbox.is_closed());
        let reason = (&mut rx.closed).await.unwrap();
        assert_eq!(reason.code, ErrorCode::SlowConsumer);
        assert_eq!(rx.frames.recv().await.as_deref(), Some("a"));
        assert_eq!(rx.frames.recv().await.as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn a_transport_gone_is_not_a_slow_consumer() {
        let (outbox, rx) = outbox(2);
        drop(rx);
        assert_eq!(outbox.offer("a".into()), Pushed::Gone);
        assert!(outbox.is_closed());
    }
}
