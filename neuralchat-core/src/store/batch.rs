//! Group commit: the rooms' commit jobs (one per event) run in batches, many
//! to one database transaction, on a thread of their own. Each job runs in
//! a savepoint of its own, so a job that fails takes back only its own
//! writes; every job of a batch is answered once the batch's transaction
//! has committed (or, if the commit fails, every one of them fails: nothing
//! is acknowledged that is not stored). A batch is whatever is waiting when
//! the thread comes back for more, up to [`MAX_BATCH`] jobs: under load
//! batches grow by themselves, and a lone job waits for no one.

use super::{Conn, Db, StoreError};
use std::sync::mpsc;
use std::sync::Arc;
use tokio::sync::oneshot;

/// The most jobs in one transaction.
pub const MAX_BATCH: usize = 256;

/// Answers a job's caller once its batch's fate is known.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A job waiting for a batch: runs its work in the batch's transaction (in
/// a savepoint when `true`: it shares the transaction) and returns whether
/// it succeeded and how to answer.
type Entry = Box<dyn FnOnce(&mut Conn<'_>, bool) -> (bool, Reply) + Send>;

/// The handle to the group-commit thread.
#[derive(Clone)]
pub(super) struct Batcher {
    /// Jobs for the thread.
    queue: mpsc::Sender<Entry>,
    /// Batches committed and jobs in them, for `/metrics`.
    pub(super) stats: Arc<BatchStats>,
}

/// Counts of the batches committed.
#[derive(Debug, Default)]
pub(super) struct BatchStats {
    /// Transactions run.
    pub batches: std::sync::atomic::AtomicU64,
    /// Jobs run in them.
    pub jobs: std::sync::atomic::AtomicU64,
}

impl Batcher {
    /// Starts the thread over `db`. It ends when every handle is dropped.
    pub(super) fn start(db: Arc<Db>) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Entry>();
        let stats = Arc::new(BatchStats::default());
        let counted = stats.clone();
        std::thread::Builder::new()
            .name("store-commit".into())
            .spawn(move || run(&db, &jobs, &counted))?;
        Ok(Self { queue, stats })
    }

    /// Runs `work` in the next batch; the answer comes once that batch has
    /// committed.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (entry, answered) = entry(work);
        self.queue.send(entry).map_err(|_| StoreError::Stopped)?;
        answered.await.map_err(|_| StoreError::Stopped)?
    }
}

/// `work` as a batch entry, and where its answer will come.
fn entry<T, F>(work: F) -> (Entry, oneshot::Receiver<Result<T, StoreError>>)
where
    T: Send + 'static,
    F: FnOnce(&mut Conn<'_>) -> Result<T, StoreError> + Send + 'static,
{
    let (answer, answered) = oneshot::channel();
    let entry: Entry = Box::new(move |conn, shared| {
        // Alone in its transaction, a job needs no savepoint: if it fails,
        // the transaction rolls back only its writes anyway.
        let result = if shared {
            conn.savepoint(work)
        } else {
            work(conn)
        };
        let ok = result.is_ok();
        let reply: Reply = Box::new(move |fate: Result<(), String>| {
            // A job that failed says why (its writes are gone either way);
            // one that worked counts only if its transaction committed.
            let _ = answer.send(match (fate, result) {
                (_, Err(e)) => Err(e),
                (Ok(()), Ok(value)) => Ok(value),
                (Err(why), Ok(_)) => Err(StoreError::Batch(why)),
            });
        });
        (ok, reply)
    });
    (entry, answered)
}

/// The thread: takes what waits, runs it in one transaction, answers.
fn run(db: &Db, jobs: &mpsc::Receiver<Entry>, stats: &BatchStats) {
    use std::sync::atomic::Ordering::Relaxed;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        let count = batch.len();
        let shared = count > 1;
        let mut replies = Vec::with_capacity(count);
        let fate = db
            .run(|conn| {
                for entry in batch.drain(..) {
                    let (ok, reply) = entry(conn, shared);
                    replies.push(reply);
                    if !ok && !shared {
                        // A lone job's failure is its transaction's: roll back.
                        return Err(StoreError::Batch("the commit failed".into()));
                    }
                }
                Ok(())
            })
            .map_err(|e| e.to_string());
        // Jobs the transaction never reached (it could not begin) are
        // dropped unanswered: their callers see an error too.
        drop(batch);
        stats.batches.fetch_add(1, Relaxed);
        stats.jobs.fetch_add(count as u64, Relaxed);
        for reply in replies {
            reply(fate.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    /// Three commits waiting together run as one batch; the one that fails
    /// after writing takes back only its own write.
    #[test]
    fn a_failing_commit_takes_back_only_its_own_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("batch.db").display().to_string(), 1).unwrap();
        let (queue, jobs) = mpsc::channel();
        let mut answers = Vec::new();
        for (name, fails) in [("ann", false), ("bea", true), ("cid", false)] {
            let (entry, answer) = entry(move |c: &mut Conn<'_>| {
                c.create_user(name, name, "hash", 1)?;
                if fails {
                    return Err(StoreError::Conflict("refused by the test".into()));
                }
                Ok(())
            });
            queue.send(entry).unwrap();
            answers.push(answer);
        }
        drop(queue);
        let stats = BatchStats::default();
        run(&db, &jobs, &stats);
        assert_eq!(
            (stats.batches.load(Relaxed), stats.jobs.load(Relaxed)),
            (1, 3)
        );
        let answered: Vec<bool> = answers
            .into_iter()
            .map(|mut a| a.try_recv().unwrap().is_ok())
            .collect();
        assert_eq!(answered, [true, false, true]);
        let stored: Vec<bool> = ["ann", "bea", "cid"]
            .iter()
            .map(|name| db.run(|c| c.find_user(name)).unwrap().is_some())
            .collect();
        assert_eq!(stored, [true, false, true]);
    }

    /// A job alone in its transaction runs without a savepoint; when it
    /// fails, the transaction rolls back and the caller gets its own error.
    #[test]
    fn a_lone_failing_commit_is_rolled_back_with_its_own_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("lone.db").display().to_string(), 1).unwrap();
        let (queue, jobs) = mpsc::channel();
        let (entry, mut answer) = entry(|c: &mut Conn<'_>| -> Result<(), StoreError> {
            c.create_user("dan", "dan", "hash", 1)?;
            Err(StoreError::Conflict("refused by the test".into()))
        });
        queue.send(entry).unwrap();
        drop(queue);
        run(&db, &jobs, &BatchStats::default());
        assert!(matches!(
            answer.try_recv().unwrap(),
            Err(StoreError::Conflict(_))
        ));
        assert!(db.run(|c| c.find_user("dan")).unwrap().is_none());
    }
}
