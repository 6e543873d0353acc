//! State shared by the engine's actors: config, store, ids, loggers.

use crate::accounts::Accounts;
use crate::config::EngineConfig;
use crate::event::{Event, EventKind, EventSource};
use crate::presence::RemotePresence;
use crate::rate::TokenBucket;
use crate::room::ReplyProgress;
use crate::store::Store;
use slog::Logger;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

/// How many per-user rate buckets are kept before idle ones are dropped.
const PRUNE_RATES_AT: usize = 4096;

/// What every actor of one engine needs; held in an `Arc`.
pub(crate) struct Shared {
    /// The configuration the engine was built with.
    pub config: EngineConfig,
    /// This node's id, stamped on every event created here.
    pub node: String,
    /// Makes this node's events.
    pub events: EventSource,
    /// The database.
    pub store: Store,
    /// Accounts and tokens.
    pub accounts: Accounts,
    /// Operational log.
    pub log: Logger,
    /// One record per user action (`stream=audit`).
    pub audit: Logger,
    /// Log-in and registration limits, and the password hashing slots.
    pub throttle: crate::throttle::SignInThrottle,
    /// Counters for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Whether each bot's model server answers.
    pub bot_health: crate::bots::BotHealth,
    /// The database health probe.
    pub health: std::sync::Arc<crate::engine::HealthProbe>,
    /// Per-user message rate buckets.
    pub user_rates: Mutex<HashMap<String, TokenBucket>>,
    /// Next session id.
    pub next_session: AtomicU64,
    /// Becomes true once shutdown has begun; transports watch it.
    pub shutting_down: tokio::sync::watch::Sender<bool>,
    /// Every event stored by this node, once, as it is committed (made here
    /// or relayed): what the mesh publishes. Bounded: a subscriber that
    /// falls behind is told how much it missed and reads it from the store.
    pub committed: tokio::sync::broadcast::Sender<Event>,
    /// The progress of replies this node's bots are streaming (lossy: a
    /// lagging subscriber misses pieces, never the stored reply).
    pub replies: tokio::sync::broadcast::Sender<ReplyProgress>,
    /// Rooms where a member asked (`/stop`) for the bots' replies to stop,
    /// for the mesh to tell the other nodes.
    pub stops: tokio::sync::broadcast::Sender<String>,
    /// Who is online on other nodes (reported by the mesh).
    pub remote_presence: RemotePresence,
}

impl Shared {
    /// A new event created on this node, now.
    pub fn new_event(
        &self,
        room: &str,
        kind: EventKind,
        author: &str,
        text: String,
        client_id: Option<String>,
    ) -> Event {
        self.events.make(room, kind, author, text, client_id)
    }

    /// Announces a stored event to the committed-event stream (no-op
    /// without subscribers).
    pub fn committed(&self, event: &Event) {
        if self.committed.receiver_count() > 0 {
            let _ = self.committed.send(event.clone());
        }
    }

    /// Announces a reply's progress to other nodes (no-op without
    /// subscribers).
    pub fn reply_progress(&self, progress: ReplyProgress) {
        if self.replies.receiver_count() > 0 {
            let _ = self.replies.send(progress);
        }
    }

    /// Whether `user` is a server admin (listed in the config; any case).
    pub fn is_admin(&self, user: &str) -> bool {
        let key = crate::names::user_key(user);
        self.config
            .admins
            .iter()
            .any(|a| crate::names::user_key(a) == key)
    }

    /// Takes one message token for `user`; false when the user is over the rate.
    pub fn take_message_token(&self, user: &str) -> bool {
        let limits = &self.config.limits;
        let mut rates = match self.user_rates.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Forget idle users' buckets now and then, so the map stays as big
        // as the set of recently active users.
        if rates.len() >= PRUNE_RATES_AT && !rates.contains_key(user) {
            let now = std::time::Instant::now();
            rates.retain(|_, bucket| !bucket.is_full_at(now));
        }
        rates
            .entry(user.to_owned())
            .or_insert_with(|| TokenBucket::new(limits.messages_per_second, limits.message_burst))
            .try_take()
    }
}
