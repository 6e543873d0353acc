//! Whether this node's database answers, for `/healthz` (one probe runs
//! at a time: while the database hangs, health checks read the last
//! answer instead of piling up work on the store's threads), and the
//! counters for `/metrics`.

use super::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a probe waits for the database.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the last database probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseHealth {
    /// The database answered.
    pub ok: bool,
    /// What went wrong, when it did not (no internal detail).
    pub problem: Option<String>,
}

/// The probe state shared by health checks.
#[derive(Default)]
pub(crate) struct HealthProbe {
    /// A probe is running now.
    running: AtomicBool,
    /// The last answer (none before the first probe ended).
    last: Mutex<Option<DatabaseHealth>>,
}

impl Engine {
    /// The engine's counters now, with the store's and the open rooms.
    pub async fn metrics(&self) -> crate::metrics::MetricsSnapshot {
        let mut snapshot = self.shared().metrics.snapshot();
        let (calls, failures, micros) = self.shared().store.stats();
        snapshot.store_calls = calls;
        snapshot.store_failures = failures;
        snapshot.store_micros_sum = micros;
        (snapshot.store_batches, snapshot.store_batched_jobs) = self.shared().store.batch_stats();
        snapshot.rooms_open = self.open_room_count().await.unwrap_or(0) as u64;
        snapshot
    }

    /// Probes the database (a one-row read), at most one probe at a time;
    /// while one runs, the previous answer is returned.
    pub async fn database_health(&self) -> DatabaseHealth {
        let probe: Arc<HealthProbe> = self.shared().health.clone();
        if probe.running.swap(true, Ordering::AcqRel) {
            let last = probe.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return last.unwrap_or(DatabaseHealth {
                ok: false,
                problem: Some("the database has not answered yet".into()),
            });
        }
        // Cleared on drop, so a probe abandoned mid-way (its request
        // cancelled) does not leave every later one answering stale.
        let _running = Running(&probe.running);
        let store = self.shared().store.clone();
        let answer = tokio::time::timeout(
            PROBE_TIMEOUT,
            store.call("health", |db| db.newest_event_id()),
        )
        .await;
        let health = match answer {
            Ok(Ok(_)) => DatabaseHealth {
                ok: true,
                problem: None,
            },
            Ok(Err(_)) => DatabaseHealth {
                ok: false,
                problem: Some("the database refused a query".into()),
            },
            Err(_) => DatabaseHealth {
                ok: false,
                problem: Some(format!(
                    "the database did not answer within {} s",
                    PROBE_TIMEOUT.as_secs()
                )),
            },
        };
        *probe.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(health.clone());
        health
    }
}

/// Marks a probe as running until dropped.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
