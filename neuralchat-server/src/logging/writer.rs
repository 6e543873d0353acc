//! The log writer thread: it takes formatted lines from a bounded channel
//! and writes everything queued with one `write`, then rests a moment
//! while more gather, so a stream of records costs a few system calls, not
//! one (or fifty) per record, on the writer's side or the loggers'.

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

/// Lines queued before a logging thread waits for the writer. Waiting, not
/// dropping: an audit record is never thrown away.
const QUEUE_LINES: usize = 65_536;
/// The buffer a batch is gathered in before it is written.
const BATCH_BYTES: usize = 256 * 1024;
/// How long the writer rests after each write, letting lines gather: a
/// thread that logs while the writer rests does not have to wake it (a
/// system call per line when the writer waits on the queue), and a line
/// waits at most this long.
const GATHER: Duration = Duration::from_millis(2);

/// How long a guard waits at exit for the queue to be written.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// What travels to the writer thread.
enum Message {
    /// One formatted line, newline included.
    Line(Vec<u8>),
    /// Write everything queued before this, then answer.
    Flush(SyncSender<()>),
}

/// The logging side of the channel.
#[derive(Clone)]
pub(super) struct LineSender(SyncSender<Message>);

impl LineSender {
    /// Queues a line; waits while the queue is full. If the writer thread
    /// is gone (its output failed), the line is dropped.
    pub(super) fn send(&self, line: Vec<u8>) {
        let _ = self.0.send(Message::Line(line));
    }
}

/// Writes out everything logged so far when dropped (at exit).
pub struct FlushGuard(SyncSender<Message>);

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let (done, written) = sync_channel(1);
        if self.0.send(Message::Flush(done)).is_ok() {
            let _ = written.recv_timeout(EXIT_WAIT);
        }
    }
}

/// Starts the writer thread on `out`.
pub(super) fn start<W: Write + Send + 'static>(out: W) -> (LineSender, FlushGuard) {
    let (sender, receiver) = sync_channel(QUEUE_LINES);
    let spawned = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_batches(receiver, out));
    if let Err(e) = spawned {
        // Without a writer thread nothing can be logged; say so once.
        eprintln!("neuralchat-server: cannot start the log writer: {e}");
    }
    (LineSender(sender.clone()), FlushGuard(sender))
}

fn write_batches<W: Write>(lines: Receiver<Message>, mut out: W) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    let mut waiting = Vec::new();
    loop {
        // Block for the first message of a batch...
        let first = match lines.recv_timeout(Duration::from_secs(3600)) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut next = Some(first);
        let mut emptied = false;
        // ...then take whatever else is already queued, without blocking.
        while let Some(message) = next {
            match message {
                Message::Line(line) => batch.extend_from_slice(&line),
                Message::Flush(done) => waiting.push(done),
            }
            if batch.len() >= BATCH_BYTES {
                break;
            }
            next = lines.try_recv().ok();
            emptied = next.is_none();
        }
        if out.write_all(&batch).and_then(|()| out.flush()).is_err() {
            // The output is gone (a closed pipe); logging cannot go on.
            return;
        }
        batch.clear();
        let flushed = !waiting.is_empty();
        for done in waiting.drain(..) {
            let _ = done.try_send(());
        }
        // A backlog (a batch cut at its size) is written without a rest.
        if emptied && !flushed {
            std::thread::sleep(GATHER);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::mpsc::Receiver;
    use std::sync::{Arc, Mutex};

    /// An output that records each `write` call; its first write waits
    /// until the test opens the gate, so lines pile up behind it.
    #[derive(Clone)]
    struct Recorder {
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        gate: Arc<Mutex<Option<Receiver<()>>>>,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Some(gate) = self.gate.lock().unwrap().take() {
                let _ = gate.recv();
            }
            self.writes.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn queued_lines_go_out_in_one_write_and_the_guard_writes_the_rest() {
        let (open, gate) = sync_channel(1);
        let out = Recorder {
            writes: Arc::default(),
            gate: Arc::new(Mutex::new(Some(gate))),
        };
        let (lines, guard) = start(out.clone());
        for i in 0..10_000 {
            lines.send(format!("line {i}\n").into_bytes());
        }
        open.send(()).unwrap();
        drop(guard);
        let writes = out.writes.lock().unwrap();
        let text = String::from_utf8(writes.concat()).unwrap();
        assert_eq!(text.lines().count(), 10_000);
        assert!(text.ends_with("line 9999\n"));
        // The first batch, then everything that queued behind it (about
        // 90 KB, under one batch's size): two writes, not ten thousand.
        assert!(writes.len() <= 3, "{} writes", writes.len());
    }
}
