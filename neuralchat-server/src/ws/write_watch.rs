//! The write deadline's bookkeeping. A client that stops reading is cut
//! off once the connection has taken nothing more from the server for
//! `limits.write_deadline_secs`. The outgoing body cannot time itself out:
//! its writer (`socket::pump`) asks for the next chunk only once the last
//! is written, and a client that does not read leaves that write waiting
//! on a full socket buffer, so the body records when it last handed a
//! chunk over without being asked for more since, and the bridge watches
//! that record. The body wakes the bridge when it hands a chunk over and
//! nobody watches; the bridge then looks once per deadline and stops
//! watching when nothing is owed, so an idle connection has no timer and a
//! writing one costs a look every deadline.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What the body did last, shared with the bridge.
#[derive(Debug)]
pub(super) struct WriteProgress {
    /// The zero of `owed_since`.
    base: Instant,
    /// 0 when the connection last asked for more and nothing was waiting
    /// (or the body ended); otherwise 1 + the milliseconds from `base` to
    /// the latest chunk handed over, after which the connection has not
    /// asked for more.
    owed_since: AtomicU64,
    /// Whether the bridge is watching; the body wakes it when it is not.
    watched: AtomicBool,
    /// Wakes the bridge to start watching.
    wake: Notify,
}

/// What the bridge should do after looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Watch {
    /// A chunk has waited for the whole deadline: cut the connection.
    Stalled,
    /// Look again at this instant.
    Until(Instant),
    /// Nothing waits: stop watching until woken.
    Idle,
}

impl WriteProgress {
    /// A connection that owes nothing yet.
    pub(super) fn new() -> Self {
        WriteProgress {
            base: Instant::now(),
            owed_since: AtomicU64::new(0),
            watched: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// The body handed a chunk to the connection.
    pub(super) fn handed_chunk(&self) {
        let since = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.owed_since.store(since + 1, Ordering::SeqCst);
        if !self.watched.swap(true, Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    /// The connection asked for more and the body had nothing, or ended.
    pub(super) fn caught_up(&self) {
        self.owed_since.store(0, Ordering::SeqCst);
    }

    /// Resolves when the body wants the bridge to watch (a wake-up sent
    /// while nobody waits is kept for the next call).
    pub(super) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Since when the connection has owed a chunk, if it does.
    fn owed_since(&self) -> Option<Instant> {
        match self.owed_since.load(Ordering::SeqCst) {
            0 => None,
            since => Some(self.base + Duration::from_millis(since - 1)),
        }
    }

    /// Looks at the connection now, against `deadline`.
    pub(super) fn check(&self, deadline: Duration) -> Watch {
        if let Some(since) = self.owed_since() {
            return Self::against(since, deadline);
        }
        self.watched.store(false, Ordering::SeqCst);
        // A chunk handed over just before the line above saw `watched`
        // still set and woke nobody: look once more.
        match self.owed_since() {
            Some(since) if !self.watched.swap(true, Ordering::SeqCst) => {
                Self::against(since, deadline)
            }
            // Nothing owed, or the body set `watched` itself and woke us.
            _ => Watch::Idle,
        }
    }

    /// Stalled, or when to look again.
    fn against(since: Instant, deadline: Duration) -> Watch {
        let until = since + deadline;
        if Instant::now() >= until {
            Watch::Stalled
        } else {
            Watch::Until(until)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_chunk_left_unread_for_the_deadline_is_a_stall() {
        let progress = WriteProgress::new();
        let deadline = Duration::from_secs(10);
        progress.handed_chunk();
        // The body's hand-over woke the bridge.
        tokio::time::timeout(Duration::from_millis(1), progress.woken())
            .await
            .unwrap();
        let Watch::Until(until) = progress.check(deadline) else {
            panic!("not watching");
        };
        tokio::time::sleep_until(until).await;
        assert_eq!(progress.check(deadline), Watch::Stalled);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_asks_for_more_is_not_stalled_and_is_watched_again_later() {
        let progress = WriteProgress::new();
        let deadline = Duration::from_secs(10);
        progress.handed_chunk();
        progress.woken().await;
        progress.caught_up();
        tokio::time::advance(deadline * 2).await;
        assert_eq!(progress.check(deadline), Watch::Idle);
        // Watching stopped, so the next hand-over wakes the bridge again.
        progress.handed_chunk();
        tokio::time::timeout(Duration::from_millis(1), progress.woken())
            .await
            .unwrap();
        assert!(matches!(progress.check(deadline), Watch::Until(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hand_over_while_watching_wakes_nobody() {
        let progress = WriteProgress::new();
        progress.handed_chunk();
        progress.woken().await;
        progress.handed_chunk();
        let woken = tokio::time::timeout(Duration::from_secs(1), progress.woken()).await;
        assert!(woken.is_err(), "woken while already watching");
    }
}
