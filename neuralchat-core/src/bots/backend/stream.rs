//! Turning a response body into a [`TokenStream`]: a wire-format decoder,
//! an idle timeout between chunks, and a clean end.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::error::{describe, BackendError};
use super::{Delta, TokenStream};

/// A wire format (SSE, NDJSON): bytes in, deltas out.
pub(crate) trait Decoder: Send + 'static {
    /// Decodes a chunk; pushes the deltas it completes to `out`. After a
    /// delta with `done` set, the rest of the input is ignored.
    fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<Delta>) -> Result<(), BackendError>;

    /// The body ended: pushes the final delta (`done` set) to `out`, or
    /// fails if the reply was not complete.
    fn finish(&mut self, out: &mut VecDeque<Delta>) -> Result<(), BackendError>;
}

/// The stream's state between items.
struct State<B, D> {
    /// The body; `None` once the stream has ended (done, error, timeout).
    body: Option<B>,
    decoder: D,
    /// Items decoded but not yet yielded.
    pending: VecDeque<Delta>,
    /// An error to yield after `pending`, ending the stream.
    failed: Option<BackendError>,
    /// The longest wait for the next chunk.
    idle: Duration,
}

/// Decodes `body` with `decoder`. The stream yields text deltas, then one
/// delta with `done` set, then ends; or it yields one error and ends. No
/// chunk for `idle` gives [`BackendError::Timeout`]. Dropping the stream
/// drops the body, which closes the connection.
pub(crate) fn decode<B, E, D>(body: B, decoder: D, idle: Duration) -> TokenStream
where
    B: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: StdError + Send + 'static,
    D: Decoder,
{
    let state = State {
        body: Some(body),
        decoder,
        pending: VecDeque::new(),
        failed: None,
        idle,
    };
    Box::pin(futures_util::stream::unfold(state, next))
}

async fn next<B, E, D>(mut state: State<B, D>) -> Option<(Result<Delta, BackendError>, State<B, D>)>
where
    B: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: StdError + Send + 'static,
    D: Decoder,
{
    loop {
        if let Some(delta) = state.pending.pop_front() {
            if delta.done {
                state.end();
            }
            return Some((Ok(delta), state));
        }
        if let Some(error) = state.failed.take() {
            state.end();
            return Some((Err(error), state));
        }
        let body = state.body.as_mut()?;
        let result = match tokio::time::timeout(state.idle, body.next()).await {
            Err(_) => Err(BackendError::Timeout),
            Ok(Some(Ok(chunk))) => state.decoder.feed(&chunk, &mut state.pending),
            Ok(Some(Err(error))) => Err(BackendError::Interrupted(describe(&error))),
            Ok(None) => {
                state.body = None;
                state.decoder.finish(&mut state.pending)
            }
        };
        if let Err(error) = result {
            state.body = None;
            state.failed = Some(error);
        }
    }
}

impl<B, D> State<B, D> {
    /// Ends the stream: drops the body (closing the connection if it was
    /// not read to its end) and anything left to yield.
    fn end(&mut self) {
        self.body = None;
        self.pending.clear();
        self.failed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    /// A decoder for tests: every byte is a one-char delta, `!` is the end.
    struct Bytewise;

    impl Decoder for Bytewise {
        fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<Delta>) -> Result<(), BackendError> {
            for &b in chunk {
                match b {
                    b'!' => out.push_back(Delta::finished(None)),
                    b'?' => return Err(BackendError::Malformed("?".into())),
                    _ => out.push_back(Delta::text(char::from(b).to_string())),
                }
            }
            Ok(())
        }

        fn finish(&mut self, _out: &mut VecDeque<Delta>) -> Result<(), BackendError> {
            Err(BackendError::Malformed("no end".into()))
        }
    }

    type Chunk = Result<Bytes, std::io::Error>;

    async fn collect(chunks: Vec<Chunk>) -> Vec<Result<Delta, BackendError>> {
        decode(stream::iter(chunks), Bytewise, Duration::from_secs(5))
            .collect()
            .await
    }

    fn ok(text: &'static str) -> Chunk {
        Ok(Bytes::from_static(text.as_bytes()))
    }

    #[tokio::test]
    async fn yields_deltas_then_done_then_ends() {
        let items = collect(vec![ok("ab"), ok("c!ignored"), ok("more")]).await;
        let texts: Vec<_> = items
            .iter()
            .map(|d| d.as_ref().unwrap().text.as_str())
            .collect();
        assert_eq!(texts, ["a", "b", "c", ""]);
        assert!(items.last().unwrap().as_ref().unwrap().done);
    }

    #[tokio::test]
    async fn deltas_before_an_error_come_first() {
        let items = collect(vec![ok("ab?c")]).await;
        assert_eq!(items.len(), 3);
        assert_eq!(items[2], Err(BackendError::Malformed("?".into())));
    }

    #[tokio::test]
    async fn early_end_and_body_errors() {
        let items = collect(vec![ok("a")]).await;
        assert_eq!(items[1], Err(BackendError::Malformed("no end".into())));
        let cut = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let items = collect(vec![ok("a"), Err(cut), ok("b!")]).await;
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], Err(BackendError::Interrupted("reset".into())));
    }

    #[tokio::test]
    async fn silence_times_out() {
        let body = stream::iter(vec![ok("a")]).chain(stream::pending());
        let started = std::time::Instant::now();
        let items: Vec<_> = decode(Box::pin(body), Bytewise, Duration::from_millis(100))
            .collect()
            .await;
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], Err(BackendError::Timeout));
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
