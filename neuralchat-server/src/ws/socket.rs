//! The upgraded connection's two directions, once actix-http has handed
//! the socket over: [`SocketBytes`] reads the client's bytes for the frame
//! decoder, and [`pump`] writes the response body's chunks, each within the
//! write deadline. Neither keeps a buffer while the connection is idle: a
//! read goes through a buffer on the stack, and a chunk is dropped once
//! written.

use actix_web::body::MessageBody;
use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The most one read takes from the socket.
const READ_BYTES: usize = 8 * 1024;

/// The client's bytes, as they arrive: a stream of chunks that ends when
/// the client closes its side.
pub(super) struct SocketBytes<R> {
    /// The connection's reading half.
    reader: R,
}

impl<R> SocketBytes<R> {
    /// Reads from `reader`.
    pub(super) fn new(reader: R) -> Self {
        SocketBytes { reader }
    }
}

impl<R: AsyncRead + Unpin> Stream for SocketBytes<R> {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // On the stack, not in the connection's state: an idle connection
        // holds no read buffer.
        let mut room = [MaybeUninit::<u8>::uninit(); READ_BYTES];
        let mut buf = ReadBuf::uninit(&mut room);
        match Pin::new(&mut self.reader).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => Poll::Ready(None),
            Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(Bytes::copy_from_slice(buf.filled())))),
            // A reset or a broken connection: the client is gone.
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(PayloadError::Incomplete(Some(e))))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Why [`pump`] stopped writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PumpEnd {
    /// The body ended: everything it had is written.
    Done,
    /// A write failed: the client is gone.
    Gone,
    /// A chunk stayed unwritten for the whole deadline: the client does
    /// not read (its socket buffer is full).
    Stalled,
}

/// Writes `body`'s chunks to `writer` until the body ends, a write fails
/// (the client is gone) or a chunk is not written within `deadline` (the
/// client stopped reading). The deadline runs from a chunk's hand-over to
/// its last byte written; an idle connection has no timer.
pub(super) async fn pump<B, W>(body: B, mut writer: W, deadline: Duration) -> PumpEnd
where
    B: MessageBody + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut body = body;
    loop {
        let chunk = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await;
        let Some(Ok(chunk)) = chunk else {
            return PumpEnd::Done;
        };
        let written = async {
            writer.write_all(&chunk).await?;
            writer.flush().await
        };
        match tokio::time::timeout(deadline, written).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return PumpEnd::Gone,
            Err(_) => return PumpEnd::Stalled,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;

    /// The write deadline in these tests.
    const DEADLINE: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn reads_chunks_until_the_client_closes() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut bytes = SocketBytes::new(server);
        client.write_all(b"abc").await.unwrap();
        assert_eq!(
            bytes.next().await.unwrap().unwrap(),
            Bytes::from_static(b"abc")
        );
        client.shutdown().await.unwrap();
        assert!(bytes.next().await.is_none());
    }

    #[tokio::test]
    async fn pump_writes_every_chunk_in_order_then_stops_when_the_body_ends() {
        let (client, server) = tokio::io::duplex(1024);
        let body = futures_util::stream::iter(vec![
            Ok::<_, std::convert::Infallible>(Bytes::from_static(b"one ")),
            Ok(Bytes::from_static(b"two")),
        ]);
        let body = actix_web::body::BodyStream::new(body);
        assert_eq!(pump(body, server, DEADLINE).await, PumpEnd::Done);
        let mut client = client;
        let mut written = Vec::new();
        client.read_to_end(&mut written).await.unwrap();
        assert_eq!(written, b"one two");
    }

    #[tokio::test]
    async fn pump_stops_when_the_client_is_gone() {
        let (client, server) = tokio::io::duplex(4);
        drop(client);
        let body = futures_util::stream::repeat(Ok::<_, std::convert::Infallible>(
            Bytes::from_static(b"more"),
        ));
        // Ends instead of writing forever.
        let end = pump(actix_web::body::BodyStream::new(body), server, DEADLINE).await;
        assert_eq!(end, PumpEnd::Gone);
    }

    #[tokio::test(start_paused = true)]
    async fn pump_gives_up_on_a_chunk_left_unwritten_for_the_deadline() {
        // The client holds its end open and reads nothing: after four
        // bytes, the write waits on a full buffer.
        let (_client, server) = tokio::io::duplex(4);
        let body = futures_util::stream::repeat(Ok::<_, std::convert::Infallible>(
            Bytes::from_static(b"more"),
        ));
        let started = tokio::time::Instant::now();
        let end = pump(actix_web::body::BodyStream::new(body), server, DEADLINE).await;
        assert_eq!(end, PumpEnd::Stalled);
        assert!(started.elapsed() >= DEADLINE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_reads_slowly_but_within_the_deadline_is_kept() {
        let (mut client, server) = tokio::io::duplex(4);
        let body = futures_util::stream::iter(vec![
            Ok::<_, std::convert::Infallible>(Bytes::from_static(b"abcd")),
            Ok(Bytes::from_static(b"efgh")),
        ]);
        let pumping = tokio::spawn(pump(
            actix_web::body::BodyStream::new(body),
            server,
            DEADLINE,
        ));
        // Each read comes just inside the deadline of the chunk waiting.
        let mut read = Vec::new();
        let mut part = [0u8; 4];
        for _ in 0..2 {
            tokio::time::sleep(DEADLINE - Duration::from_secs(1)).await;
            let n = client.read(&mut part).await.unwrap();
            read.extend_from_slice(&part[..n]);
        }
        assert_eq!(pumping.await.unwrap(), PumpEnd::Done);
        assert_eq!(read, b"abcdefgh");
    }
}
