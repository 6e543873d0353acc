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
// Each bench uses the readers it needs (the MQTT QoS 1 one only here and
// there).
#![allow(dead_code)]

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
        self.spawn(tcp, clock, false)
    }

    /// [`RawReaders::read`] for an MQTT subscriber at QoS 1: its packets are
    /// parsed, and every PUBLISH is answered with its PUBACK (the broker
    /// stops sending to a subscriber with 20 unanswered).
    pub fn read_acking(
        &self,
        tcp: std::net::TcpStream,
        clock: Arc<Clock>,
    ) -> tokio::task::JoinHandle<Vec<(u32, u64)>> {
        self.spawn(tcp, clock, true)
    }

    /// Starts a reader of `tcp` on the readers' thread.
    fn spawn(
        &self,
        tcp: std::net::TcpStream,
        clock: Arc<Clock>,
        acking: bool,
    ) -> tokio::task::JoinHandle<Vec<(u32, u64)>> {
        self.handle.spawn(async move {
            let tcp = tokio::net::TcpStream::from_std(tcp).expect("registering a reader");
            if acking {
                read_publishes(tcp, clock).await
            } else {
                read_markers(tcp, clock).await
            }
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

/// Counts message `seq` read now by one reader.
fn record(clock: &Clock, got: &mut Vec<(u32, u64)>, seq: usize, now: u64) {
    got.push((seq as u32, now));
    let had = clock.seen[seq].fetch_add(1, Ordering::Relaxed);
    if had + 1 == clock.readers.load(Ordering::Relaxed) {
        clock.complete.notify_one();
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
                record(&clock, &mut got, seq, now);
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

/// One MQTT packet at the start of `buf`: where its body starts and its
/// whole length; `None` while incomplete.
fn mqtt_packet_at(buf: &[u8]) -> Option<(usize, usize)> {
    let mut remaining = 0usize;
    for i in 0..4 {
        let byte = *buf.get(1 + i)?;
        remaining |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let body_at = 2 + i;
            let len = body_at + remaining;
            return (buf.len() >= len).then_some((body_at, len));
        }
    }
    panic!("a malformed MQTT length from the broker")
}

/// Reads an MQTT QoS 1 subscriber until the end marker, answering each
/// PUBLISH with a PUBACK; returns (message, when) for every busy message.
async fn read_publishes(mut tcp: tokio::net::TcpStream, clock: Arc<Clock>) -> Vec<(u32, u64)> {
    use tokio::io::AsyncWriteExt;
    let mut got = Vec::with_capacity(clock.seen.len());
    let mut chunk = vec![0u8; 16 * 1024];
    let mut buf = Vec::with_capacity(32 * 1024);
    let mut acks = Vec::new();
    loop {
        let read = tokio::time::timeout(READ_DEADLINE, tcp.read(&mut chunk)).await;
        let Ok(Ok(n)) = read else { break };
        if n == 0 {
            break;
        }
        let now = clock.now_ns();
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        let mut ended = false;
        while let Some((body_at, len)) = mqtt_packet_at(&buf[at..]) {
            let packet = &buf[at..at + len];
            at += len;
            if packet[0] >> 4 != 3 {
                continue;
            }
            let body = &packet[body_at..];
            let mut payload_at = 2 + usize::from(u16::from_be_bytes([body[0], body[1]]));
            if (packet[0] >> 1) & 3 > 0 {
                acks.extend_from_slice(&[0x40, 2, body[payload_at], body[payload_at + 1]]);
                payload_at += 2;
            }
            let payload = &body[payload_at..];
            let Some(found) = memchr::memmem::find(payload, KEY) else {
                continue;
            };
            let digits = &payload[found + KEY.len()..];
            if digits.starts_with(b"end\"") {
                ended = true;
                continue;
            }
            let number = digits
                .get(..6)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse::<usize>().ok());
            if let Some(seq) = number.filter(|&seq| seq < clock.seen.len()) {
                record(&clock, &mut got, seq, now);
            }
        }
        buf.drain(..at);
        if !acks.is_empty() {
            if tcp.write_all(&acks).await.is_err() {
                break;
            }
            acks.clear();
        }
        if ended {
            break;
        }
    }
    got
}
