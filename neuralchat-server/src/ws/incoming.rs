//! The client's frames, decoded from the upgraded socket's bytes
//! with actix-http's WebSocket codec (which checks masking, opcodes, the
//! frame size and the order of fragments). A message sent in fragments is
//! joined here, bounded like a single frame.

use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame, Item, ProtocolError};
use actix_web::error::PayloadError;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// The largest WebSocket frame header: 2 bytes, an 8-byte length, a mask.
const MAX_HEADER: usize = 14;
/// An empty read buffer holding more room than this is given back.
const KEPT_CAPACITY: usize = 4 * 1024;

/// One message from the client.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Incoming {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping, with its payload.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// The client's close frame.
    Close,
}

/// Why the client's frames cannot be read on.
#[derive(Debug)]
pub(super) enum IncomingError {
    /// A frame, or a message joined from fragments, over the limit.
    TooLarge,
    /// The byte stream ended inside a frame: the client hung up.
    ClientLeft,
    /// Anything else the codec or the connection refused.
    Protocol(String),
}

/// The client's side of a WebSocket: its bytes, decoded into messages.
pub(super) struct ClientFrames<S> {
    /// The client's bytes, as read from the socket.
    payload: S,
    /// Bytes read and not yet decoded.
    buf: BytesMut,
    /// Decodes (and bounds) one frame at a time.
    codec: Codec,
    /// A fragmented message being joined: whether it is text, and its bytes.
    joining: Option<(bool, BytesMut)>,
    /// The largest frame or joined message, in bytes.
    max_bytes: usize,
    /// Whether the byte stream ended.
    ended: bool,
}

impl<S> ClientFrames<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    /// Reads `payload`, refusing frames and messages over `max_bytes`.
    pub(super) fn new(payload: S, max_bytes: usize) -> Self {
        ClientFrames {
            payload,
            buf: BytesMut::new(),
            codec: Codec::new().max_size(max_bytes),
            joining: None,
            max_bytes,
            ended: false,
        }
    }

    /// Starts with `bytes` already read (what came with the upgrade
    /// request, past its end).
    pub(super) fn with_buffered(mut self, bytes: BytesMut) -> Self {
        if !bytes.is_empty() {
            self.buf = bytes;
        }
        self
    }

    /// The next message; `None` once the client's stream has ended cleanly.
    /// Safe to cancel: what was read stays buffered.
    pub(super) async fn next(&mut self) -> Option<Result<Incoming, IncomingError>> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => match self.message(frame) {
                    Ok(Some(message)) => return Some(Ok(message)),
                    Ok(None) => continue,
                    Err(e) => return Some(Err(e)),
                },
                // The frame at the front is incomplete. The codec refuses
                // one over the limit only once all of it has come, so a
                // client declaring a huge frame would make this buffer grow
                // without end: a frame's header is at most 14 bytes, so
                // more than that past the limit is a frame over it.
                Ok(None) if self.buf.len() > self.max_bytes.saturating_add(MAX_HEADER) => {
                    return Some(Err(IncomingError::TooLarge))
                }
                Ok(None) => {}
                Err(ProtocolError::Overflow) => return Some(Err(IncomingError::TooLarge)),
                Err(e) => return Some(Err(IncomingError::Protocol(e.to_string()))),
            }
            if self.ended {
                // Bytes left over are a frame the client never finished.
                return (!self.buf.is_empty()).then_some(Err(IncomingError::ClientLeft));
            }
            if self.buf.is_empty() && self.buf.capacity() > KEPT_CAPACITY {
                // Do not keep a large frame's room on an idle connection.
                self.buf = BytesMut::new();
            }
            match self.payload.next().await {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(PayloadError::Incomplete(_))) => {
                    return Some(Err(IncomingError::ClientLeft))
                }
                Some(Err(e)) => return Some(Err(IncomingError::Protocol(e.to_string()))),
                None => self.ended = true,
            }
        }
    }

    /// The message a frame completes, if any.
    fn message(&mut self, frame: Frame) -> Result<Option<Incoming>, IncomingError> {
        Ok(Some(match frame {
            Frame::Text(bytes) => Incoming::Text(text(&bytes)?),
            Frame::Binary(bytes) => Incoming::Binary(bytes),
            Frame::Ping(bytes) => Incoming::Ping(bytes),
            Frame::Pong(_) => Incoming::Pong,
            Frame::Close(_) => Incoming::Close,
            Frame::Continuation(item) => return self.join(item),
        }))
    }

    /// Adds a fragment; returns the message once its last fragment came.
    /// (The codec has already refused fragments out of order.)
    fn join(&mut self, item: Item) -> Result<Option<Incoming>, IncomingError> {
        let (bytes, last) = match item {
            Item::FirstText(bytes) => {
                self.joining = Some((true, BytesMut::new()));
                (bytes, false)
            }
            Item::FirstBinary(bytes) => {
                self.joining = Some((false, BytesMut::new()));
                (bytes, false)
            }
            Item::Continue(bytes) => (bytes, false),
            Item::Last(bytes) => (bytes, true),
        };
        let Some((text, joined)) = self.joining.as_mut() else {
            return Err(IncomingError::Protocol(
                "continuation without a first fragment".into(),
            ));
        };
        if joined.len() + bytes.len() > self.max_bytes {
            self.joining = None;
            return Err(IncomingError::TooLarge);
        }
        joined.extend_from_slice(&bytes);
        if !last {
            return Ok(None);
        }
        let text = *text;
        let joined = std::mem::take(joined).freeze();
        self.joining = None;
        Ok(Some(if text {
            Incoming::Text(self::text(&joined)?)
        } else {
            Incoming::Binary(joined)
        }))
    }
}

/// A text message's bytes as text: RFC 6455 fails the connection when
/// they are not UTF-8.
fn text(bytes: &[u8]) -> Result<String, IncomingError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| IncomingError::Protocol("a text frame is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_http::ws::{OpCode, Parser};
    use futures_util::stream;

    /// A client frame (masked, as clients must send them).
    fn frame(op: OpCode, fin: bool, payload: &[u8]) -> Bytes {
        let mut buf = BytesMut::new();
        Parser::write_message(&mut buf, payload, op, fin, true);
        buf.freeze()
    }

    fn frames(
        chunks: Vec<Result<Bytes, PayloadError>>,
        max: usize,
    ) -> ClientFrames<impl Stream<Item = Result<Bytes, PayloadError>> + Unpin> {
        ClientFrames::new(stream::iter(chunks), max)
    }

    #[tokio::test]
    async fn frames_split_across_reads_and_fragments_are_joined() {
        let mut all = BytesMut::new();
        all.extend_from_slice(&frame(OpCode::Text, false, b"hel"));
        all.extend_from_slice(&frame(OpCode::Ping, true, b"p"));
        all.extend_from_slice(&frame(OpCode::Continue, false, b"l"));
        all.extend_from_slice(&frame(OpCode::Continue, true, b"o"));
        all.extend_from_slice(&frame(OpCode::Close, true, b""));
        let all = all.freeze();
        // Delivered in reads of 3 bytes, cutting through every frame.
        let chunks = all
            .chunks(3)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut frames = frames(chunks, 100);
        assert_eq!(
            frames.next().await.unwrap().unwrap(),
            Incoming::Ping(Bytes::from_static(b"p"))
        );
        assert_eq!(
            frames.next().await.unwrap().unwrap(),
            Incoming::Text("hello".into())
        );
        assert_eq!(frames.next().await.unwrap().unwrap(), Incoming::Close);
        assert!(frames.next().await.is_none());
    }

    #[tokio::test]
    async fn a_frame_or_a_joined_message_over_the_limit_is_too_large() {
        let mut big = frames(vec![Ok(frame(OpCode::Text, true, &[b'a'; 11]))], 10);
        assert!(matches!(
            big.next().await,
            Some(Err(IncomingError::TooLarge))
        ));
        let mut joined = BytesMut::new();
        joined.extend_from_slice(&frame(OpCode::Binary, false, &[1; 6]));
        joined.extend_from_slice(&frame(OpCode::Continue, true, &[2; 6]));
        let mut joined = frames(vec![Ok(joined.freeze())], 10);
        assert!(matches!(
            joined.next().await,
            Some(Err(IncomingError::TooLarge))
        ));
    }

    #[tokio::test]
    async fn a_huge_declared_frame_is_refused_before_it_is_all_read() {
        // A header declaring 2^40 bytes, then junk that never ends.
        let mut header = vec![0x81, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        let junk = futures_util::stream::repeat_with(|| Ok(Bytes::from_static(&[b'x'; 1024])));
        let payload = stream::iter(vec![Ok(Bytes::from(header))]).chain(junk);
        let mut frames = ClientFrames::new(Box::pin(payload), 10_000);
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), frames.next());
        let refused = next.await.expect("still reading the huge frame");
        assert!(matches!(refused, Some(Err(IncomingError::TooLarge))));
        assert!(
            frames.buf.len() <= 10_000 + MAX_HEADER + 1024,
            "{}",
            frames.buf.len()
        );
    }

    #[tokio::test]
    async fn a_stream_ending_inside_a_frame_is_a_client_leaving() {
        let half = frame(OpCode::Text, true, b"hello").slice(..4);
        let mut cut = frames(vec![Ok(half)], 100);
        assert!(matches!(
            cut.next().await,
            Some(Err(IncomingError::ClientLeft))
        ));
        let mut incomplete = frames(vec![Err(PayloadError::Incomplete(None))], 100);
        assert!(matches!(
            incomplete.next().await,
            Some(Err(IncomingError::ClientLeft))
        ));
    }

    #[tokio::test]
    async fn unmasked_frames_and_stray_continuations_are_protocol_errors() {
        let mut unmasked = BytesMut::new();
        Parser::write_message(&mut unmasked, b"x", OpCode::Text, true, false);
        let mut unmasked = frames(vec![Ok(unmasked.freeze())], 100);
        assert!(matches!(
            unmasked.next().await,
            Some(Err(IncomingError::Protocol(_)))
        ));
        let mut stray = frames(vec![Ok(frame(OpCode::Continue, true, b"x"))], 100);
        assert!(matches!(
            stray.next().await,
            Some(Err(IncomingError::Protocol(_)))
        ));
        let mut latin1 = frames(vec![Ok(frame(OpCode::Text, true, b"caf\xe9"))], 100);
        assert!(matches!(
            latin1.next().await,
            Some(Err(IncomingError::Protocol(_)))
        ));
    }
}
