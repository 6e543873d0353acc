//! Counters for operators (`GET /metrics`): plain atomics bumped where
//! things happen, read together as a [`MetricsSnapshot`].

use std::sync::atomic::{AtomicU64, Ordering};

/// The engine's counters. All only grow, except `sessions_open`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Client sessions opened since start.
    pub sessions_opened: AtomicU64,
    /// Client sessions ended since start.
    pub sessions_closed: AtomicU64,
    /// Messages (and actions) stored from this node's users.
    pub messages_in: AtomicU64,
    /// Frames queued for sessions by room fan-out (one per recipient).
    pub deliveries: AtomicU64,
    /// Sessions dropped from a room because their queue was full.
    pub slow_consumers: AtomicU64,
    /// Bot replies finished (done, stopped or failed).
    pub bot_replies: AtomicU64,
    /// Bot replies whose model server failed.
    pub bot_failures: AtomicU64,
    /// Sum of the bots' times to first token, in milliseconds.
    pub bot_first_token_ms_sum: AtomicU64,
    /// Replies that had a first token (the count for the sum above).
    pub bot_first_tokens: AtomicU64,
    /// Batches of a room's messages stored in one job.
    pub room_batches: AtomicU64,
    /// Messages stored in them (over `room_batches`: the mean batch).
    pub room_batched_messages: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            sessions_opened: get(&self.sessions_opened),
            sessions_closed: get(&self.sessions_closed),
            messages_in: get(&self.messages_in),
            deliveries: get(&self.deliveries),
            slow_consumers: get(&self.slow_consumers),
            bot_replies: get(&self.bot_replies),
            bot_failures: get(&self.bot_failures),
            bot_first_token_ms_sum: get(&self.bot_first_token_ms_sum),
            bot_first_tokens: get(&self.bot_first_tokens),
            room_batches: get(&self.room_batches),
            room_batched_messages: get(&self.room_batched_messages),
            store_calls: 0,
            store_failures: 0,
            store_micros_sum: 0,
            store_batches: 0,
            store_batched_jobs: 0,
            rooms_open: 0,
        }
    }
}

/// The counters at one moment, with the store's and the open rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Client sessions opened since start.
    pub sessions_opened: u64,
    /// Client sessions ended since start.
    pub sessions_closed: u64,
    /// Messages stored from this node's users.
    pub messages_in: u64,
    /// Frames queued for sessions by room fan-out.
    pub deliveries: u64,
    /// Sessions dropped as too slow.
    pub slow_consumers: u64,
    /// Bot replies finished.
    pub bot_replies: u64,
    /// Bot replies whose model server failed.
    pub bot_failures: u64,
    /// Sum of bot times to first token, milliseconds.
    pub bot_first_token_ms_sum: u64,
    /// Bot replies with a first token.
    pub bot_first_tokens: u64,
    /// Batches of a room's messages stored in one job.
    pub room_batches: u64,
    /// Messages stored in them.
    pub room_batched_messages: u64,
    /// Database jobs run.
    pub store_calls: u64,
    /// Database jobs that failed.
    pub store_failures: u64,
    /// Sum of database job times (queueing included), microseconds.
    pub store_micros_sum: u64,
    /// Group commits (transactions holding the rooms' event commits).
    pub store_batches: u64,
    /// Event commits run in them (divided by `store_batches`: the mean
    /// batch size).
    pub store_batched_jobs: u64,
    /// Room actors open now.
    pub rooms_open: u64,
}

impl MetricsSnapshot {
    /// Sessions open now.
    pub fn sessions_open(&self) -> u64 {
        self.sessions_opened.saturating_sub(self.sessions_closed)
    }
}
