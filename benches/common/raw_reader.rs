//! Light receivers for the end-to-end benches: after a member has logged
//! in and joined with a real client, its TCP stream is handed to one thread
//! that reads raw bytes and finds the message marker in them.
//!
//! Why: 999 tungstenite clients on a multi-threaded runtime cost about as
//! much CPU per delivery as the server itself, so on two cores the clients,
//! not the server, set the latency. Server frames are not masked (nor is
//! an MQTT payload encoded), so a message's JSON text lies in the byte
//! stream as sent, and the marker `"text":"busy NNNNNN"` can be found
//! without decoding frames (the server's pings go unanswered; a run is far
//! shorter than the silence limit). All readers share one current-thread
//! runtime on one thread, which the bench pins to its own core.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// A reader gives up after this long without a byte.
const READ_DEADLINE: Duration = Duration::from_secs(30);

/// What the sender and the readers share: when each message was sent and
/// how many readers have it.
pub struct Clock {
    /// The zero of every time below.
    pub base: Instant,
    /// When message `n` was sent, ns after `base`.
    pub sent_ns: Vec<AtomicU64>,
    /// How many readers have message `n`.
    pub seen: Vec<AtomicUsize>,
    /// When set (not 0), the readers there are: the reader completing a
    /// message (the last to see it) wakes `complete`.
    pub readers: AtomicUsize,
    /// Woken when a message has reached every reader.
    pub complete: tokio::sync::Notify,
}

impl Clock {
    /// A clock for messages `0..total`.
    pub fn new(total: usize) -> Arc<Clock> {
        Arc::new(Clock {
            base: Instant::now(),
            sent_ns: (0..total).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..total).map(|_| AtomicUsize::new(0)).collect(),
            readers: AtomicUsize::new(0),
            complete: tokio::sync::Notify::new(),
        })
    }

    /// Now, in ns after `base`.
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Marks message `seq` sent now.
    pub fn sent(&self, seq: usize) {
        self.sent_ns[seq].store(self.now_ns(), Ordering::Relaxed);
    }
}

/// The marker before a busy message's number.
const KEY: &[u8] = b"\"text\":\"busy ";
/// Bytes kept from the end of one read for a marker split across reads:
/// the key, six digits or `end"`.
const CARRY: usize = KEY.len() + 6;

/// One thread running every light receiver.
pub struct RawReaders {
    /// Spawns onto the readers' runtime.
    handle: tokio::runtime::Handle,
    /// Ends the thread when dropped.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl RawReaders {
    pub fn start() -> RawReaders {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("raw-readers".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the readers' runtime");
                ready_tx
                    .send(rt.handle().clone())
                    .expect("the bench waits for the readers");
                let _ = rt.block_on(stopped);
            })
            .expect("starting the readers' thread");
        let handle = ready_rx.recv().expect("the readers' thread started");
        RawReaders {
            handle,
            _stop: stop,
        }
    }

    /// Reads `tcp` on the readers' thread until the end marker; returns
    /// (message, when) for every busy message seen.
    pub fn read(
        &self,
        tcp: std::net::TcpStream,
        clock: Arc<Clock>,
    ) -> tokio::task::JoinHandle<Vec<(u32, u64)>> {
        self.handle.spawn(async move {
            let tcp = tokio::net::TcpStream::from_std(tcp).expect("registering a reader");
            read_markers(tcp, clock).await
        })
    }
}

/// Waits (at most 5 minutes) until `ready` counts `count` members of
/// `what` set up.
pub async fn wait_ready(ready: &AtomicUsize, count: usize, what: &str) {
    let waited = Instant::now();
    while ready.load(Ordering::Relaxed) < count {
        assert!(
            waited.elapsed() < Duration::from_secs(300),
            "only {} of {count} {what} members got ready",
            ready.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn read_markers(mut tcp: tokio::net::TcpStream, clock: Arc<Clock>) -> Vec<(u32, u64)> {
    let mut got = Vec::with_capacity(clock.seen.len());
    let mut buf = vec![0u8; 16 * 1024];
    let mut kept = 0;
    loop {
        let read = tokio::time::timeout(READ_DEADLINE, tcp.read(&mut buf[kept..])).await;
        let Ok(Ok(n)) = read else { break };
        if n == 0 {
            break;
        }
        let now = clock.now_ns();
        let filled = kept + n;
        let mut at = 0;
        let mut ended = false;
        while let Some(found) = memchr::memmem::find(&buf[at..filled], KEY) {
            let digits = at + found + KEY.len();
            // The end marker (`end"`, which may end the stream: an MQTT
            // payload has only `}` after it) or six digits.
            if buf[digits..filled].starts_with(b"end\"") {
                ended = true;
                break;
            }
            if filled - digits < 6 {
                break;
            }
            at = digits + 6;
            let number = std::str::from_utf8(&buf[digits..digits + 6])
                .ok()
                .and_then(|d| d.parse::<usize>().ok());
            if let Some(seq) = number.filter(|&seq| seq < clock.seen.len()) {
                got.push((seq as u32, now));
                let had = clock.seen[seq].fetch_add(1, Ordering::Relaxed);
                if had + 1 == clock.readers.load(Ordering::Relaxed) {
                    clock.complete.notify_one();
                }
            }
        }
        if ended {
            break;
        }
        // Keep the tail that may hold the start of a marker (never a
        // marker already counted).
        let from = filled.saturating_sub(CARRY).max(at);
        buf.copy_within(from..filled, 0);
        kept = filled - from;
    }
    got
}
