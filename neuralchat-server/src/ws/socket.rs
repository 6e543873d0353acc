//! The upgraded connection's two directions, once actix-http has handed
//! the socket over: [`SocketBytes`] reads the client's bytes for the frame
//! decoder, and [`pump`] writes the response body's chunks. Neither keeps a
//! buffer while the connection is idle: a read goes through a buffer on
//! the stack, and a chunk is dropped once written.

use actix_web::body::MessageBody;
use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};
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

/// Writes `body`'s chunks to `writer` until the body ends or a write fails
/// (the client is gone). Asks the body for the next chunk only once the
/// last is written, which is what the body's write deadline watches.
pub(super) async fn pump<B, W>(body: B, mut writer: W)
where
    B: MessageBody + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut body = body;
    loop {
        let chunk = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await;
        let Some(Ok(chunk)) = chunk else { return };
        if writer.write_all(&chunk).await.is_err() || writer.flush().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;

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
        pump(body, server).await;
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
        pump(actix_web::body::BodyStream::new(body), server).await;
    }
}
