//! The store actor: a SyncArbiter of threads, each running [`Db`] queries,
//! and the async [`Store`] handle the rest of the engine calls.

use super::batch::Batcher;
use super::{Conn, Db, StoreError};
use crate::error::{ChatError, ChatResult};
use actix::prelude::*;
use slog::{error, Logger};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A closure of database work, run on a worker thread.
type Work<T> = Box<dyn FnOnce(&mut Conn<'_>) -> Result<T, StoreError> + Send>;

/// One unit of database work.
struct Job<T> {
    /// The work.
    work: Work<T>,
    /// It only reads ([`Db::read`]), so it never waits for a writer.
    read_only: bool,
}

impl<T: Send + 'static> Message for Job<T> {
    type Result = Result<T, StoreError>;
}

/// A worker thread's actor; all workers share the pool.
struct StoreWorker {
    /// The shared pool.
    db: Arc<Db>,
}

impl Actor for StoreWorker {
    type Context = SyncContext<Self>;
}

impl<T: Send + 'static> Handler<Job<T>> for StoreWorker {
    type Result = Result<T, StoreError>;

    fn handle(&mut self, job: Job<T>, _: &mut SyncContext<Self>) -> Self::Result {
        if job.read_only {
            self.db.read(job.work)
        } else {
            self.db.run(job.work)
        }
    }
}

/// One job counted in flight until dropped: a caller that gives up
/// waiting (its request cancelled) does not leave it counted, which would
/// hold shutdown's drain until its deadline.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn count(in_flight: &'a AtomicUsize) -> Self {
        in_flight.fetch_add(1, Ordering::SeqCst);
        Self(in_flight)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts of the jobs run through one store.
#[derive(Debug, Default)]
struct StoreStats {
    /// Jobs answered (or failed to reach a worker).
    calls: AtomicU64,
    /// Jobs that failed.
    failures: AtomicU64,
    /// Their summed time, queueing included, in microseconds.
    micros: AtomicU64,
}

/// The async handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// The worker threads.
    workers: Addr<StoreWorker>,
    /// The group-commit thread for the rooms' commits (`None`: each commit
    /// runs as a job of its own).
    batcher: Option<Batcher>,
    /// Jobs sent and not yet answered (shutdown waits for zero).
    in_flight: Arc<AtomicUsize>,
    /// Jobs run, failed, and their summed time (for `/metrics`).
    stats: Arc<StoreStats>,
    /// Where failures are logged with their detail.
    log: Logger,
}

impl Store {
    /// Starts `threads` workers and, with `group_commit`, the group-commit
    /// thread over an opened database.
    pub fn start(
        db: Db,
        threads: usize,
        group_commit: bool,
        log: Logger,
    ) -> Result<Self, StoreError> {
        let db = Arc::new(db);
        let batcher =
            if group_commit {
                Some(Batcher::start(db.clone()).map_err(|e| {
                    StoreError::Connect(format!("cannot start the commit thread: {e}"))
                })?)
            } else {
                None
            };
        let workers = SyncArbiter::start(threads.max(1), move || StoreWorker { db: db.clone() });
        Ok(Self {
            workers,
            batcher,
            in_flight: Arc::new(AtomicUsize::new(0)),
            stats: Arc::default(),
            log,
        })
    }

    /// Runs `job` on a worker thread, in one transaction. Failures are logged here, with `what`
    /// naming the operation, and reach the caller as an `internal` error.
    pub async fn call<T, F>(&self, what: &'static str, job: F) -> ChatResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(what, job, false).await
    }

    /// Like [`Store::call`], for a `job` that only reads: it sees one
    /// snapshot and never waits for the rooms' writes to commit.
    pub async fn read<T, F>(&self, what: &'static str, job: F) -> ChatResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(what, job, true).await
    }

    async fn run<T, F>(&self, what: &'static str, job: F, read_only: bool) -> ChatResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let _in_flight = InFlight::count(&self.in_flight);
        let started = Instant::now();
        let job = Job {
            work: Box::new(job),
            read_only,
        };
        let answer = self.workers.send(job).await;
        self.account(what, started, answer)
    }

    /// Runs `job` in the next group commit (see `batch.rs`): in a savepoint
    /// of a transaction shared with the other commits waiting; answered
    /// once that transaction has committed. For the rooms' event commits.
    pub async fn commit<T, F>(&self, what: &'static str, job: F) -> ChatResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let Some(batcher) = &self.batcher else {
            return self.call(what, job).await;
        };
        let _in_flight = InFlight::count(&self.in_flight);
        let started = Instant::now();
        let answer = batcher.run(job).await;
        self.account(what, started, Ok(answer))
    }

    /// Counts a finished job and turns its answer into the engine's error.
    fn account<T>(
        &self,
        what: &'static str,
        started: Instant,
        answer: Result<Result<T, StoreError>, MailboxError>,
    ) -> ChatResult<T> {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        self.stats.micros.fetch_add(micros, Ordering::Relaxed);
        if !matches!(answer, Ok(Ok(_))) {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                error!(self.log, "store operation failed"; "op" => what, "error" => %e);
                Err(ChatError::internal())
            }
            Err(e) => {
                error!(self.log, "store unreachable"; "op" => what, "error" => %e);
                Err(ChatError::from(e))
            }
        }
    }

    /// Group commits run, and the commit jobs in them.
    pub fn batch_stats(&self) -> (u64, u64) {
        self.batcher.as_ref().map_or((0, 0), |b| {
            (
                b.stats.batches.load(Ordering::Relaxed),
                b.stats.jobs.load(Ordering::Relaxed),
            )
        })
    }

    /// Jobs run, jobs failed, and their summed time in microseconds.
    pub fn stats(&self) -> (u64, u64, u64) {
        (
            self.stats.calls.load(Ordering::Relaxed),
            self.stats.failures.load(Ordering::Relaxed),
            self.stats.micros.load(Ordering::Relaxed),
        )
    }

    /// Waits, up to `deadline`, until no job is in flight; returns whether it got there.
    pub async fn drain(&self, deadline: Duration) -> bool {
        let start = Instant::now();
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            if start.elapsed() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}
