//! The WebSocket upgrade. actix-http hands every request that asks for a
//! WebSocket (an `Upgrade: websocket` header) here, with its connection,
//! before actix-web's routing. A request for `/ws` from an allowed origin,
//! from an address under its connection limit, with a valid handshake, is
//! answered `101` and its socket taken over: the connection's task then
//! reads and writes the socket itself, and no HTTP dispatcher (with its
//! two 8 KiB buffers) stays under the session. Any other is answered and
//! closed: 404 `not_found` for another path, the JSON error for a refusal
//! (403 `forbidden` origin, 429 `rate_limited`, 503 `shutting_down`), and
//! the handshake's own answer for a bad handshake (400, or 405 for a
//! method other than GET).

use super::{check_origin, connection, peer_text, Heartbeat};
use crate::admission::{Admitted, OpenConnections};
use crate::config::WebSocketConfig;
use crate::rest::ApiError;
use actix_codec::Framed;
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::h1::{Codec, Message};
use actix_http::{ConnectionType, HttpMessage, Request, Response};
use actix_service::{fn_service, ServiceFactory};
use actix_web::ResponseError;
use bytes::BytesMut;
use futures_util::SinkExt;
use neuralchat_core::{client_address, ChatError, Engine, ErrorCode};
use slog::{debug, warn};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// The path WebSockets connect to.
const PATH: &str = "/ws";
/// How long a client may take to read the answer to its upgrade request
/// (actix-http's own request timeout).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// What an upgrade needs: the engine to connect sessions to, the open
/// connections per address, and the WebSocket settings.
#[derive(Clone)]
pub struct Upgrades {
    /// The engine sessions are started on.
    engine: Engine,
    /// Open WebSocket connections per client address.
    open: OpenConnections,
    /// Heartbeat and allowed origins.
    websocket: Arc<WebSocketConfig>,
}

/// A connection taken over after its `101`.
pub(super) struct Upgraded<T> {
    /// The socket (or TLS stream).
    pub(super) io: T,
    /// Bytes the client sent after its upgrade request, already read.
    pub(super) read: BytesMut,
    /// The client's address, for the log and the engine.
    pub(super) peer: String,
    /// Its place among the address's open connections.
    pub(super) admitted: Admitted,
}

impl Upgrades {
    /// Upgrades for `engine`, counted in `open`.
    pub fn new(engine: Engine, open: OpenConnections, websocket: WebSocketConfig) -> Self {
        Upgrades {
            engine,
            open,
            websocket: Arc::new(websocket),
        }
    }

    /// The upgrade hook (an actix service) for connections of type `T`
    /// (TCP or TLS).
    pub fn hook<T>(
        &self,
    ) -> impl ServiceFactory<
        (Request, Framed<T, Codec>),
        Config = (),
        Response = (),
        Error = actix_web::Error,
        InitError = (),
    >
    where
        T: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let upgrades = self.clone();
        fn_service(move |(req, framed): (Request, Framed<T, Codec>)| {
            let upgrades = upgrades.clone();
            async move {
                upgrades.upgrade(req, framed).await;
                Ok(())
            }
        })
    }

    /// Answers one upgrade request; a connection taken over goes on in a
    /// task of its own, so the HTTP connection's task ends here. The
    /// answer is written within [`ANSWER_WITHIN`] (actix-http's timers do
    /// not run while the upgrade is ours).
    async fn upgrade<T>(self, req: Request, mut framed: Framed<T, Codec>)
    where
        T: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let peer = peer_text(req.peer_addr());
        let (admitted, accept) = match self.accept(&req, &peer) {
            Ok(accepted) => accepted,
            Err(refusal) => {
                let refused = tokio::time::timeout(ANSWER_WITHIN, refuse(&mut framed, refusal));
                if refused.await.is_err() {
                    debug!(self.engine.logger(), "client did not take its refusal"; "peer" => &peer);
                }
                return;
            }
        };
        let answered = tokio::time::timeout(
            ANSWER_WITHIN,
            framed.send(Message::Item((accept, BodySize::None))),
        );
        match answered.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(self.engine.logger(), "client left during the upgrade"; "peer" => &peer, "error" => %e);
                return;
            }
            Err(_) => {
                debug!(self.engine.logger(), "client did not take its 101"; "peer" => &peer);
                return;
            }
        }
        let parts = framed.into_parts();
        let upgraded = Upgraded {
            io: parts.io,
            read: parts.read_buf,
            peer,
            admitted,
        };
        let heartbeat = Heartbeat {
            ping_every: Duration::from_secs(self.websocket.ping_secs),
            silence_limit: Duration::from_secs(self.websocket.silence_secs),
        };
        actix_web::rt::spawn(connection(self.engine, heartbeat, upgraded));
    }

    /// The `101` for an upgrade that may go ahead, or the response that
    /// refuses it.
    fn accept(
        &self,
        req: &Request,
        peer: &str,
    ) -> Result<(Admitted, Response<()>), Response<BoxBody>> {
        let log = self.engine.logger();
        if *self.engine.closing().borrow() {
            let error = ChatError::new(ErrorCode::ShuttingDown, "the server is shutting down");
            return Err(refusal(error));
        }
        if req.path() != PATH {
            debug!(log, "websocket upgrade for another path"; "peer" => peer, "path" => req.path());
            let error = ChatError::new(ErrorCode::NotFound, "no such path or method");
            return Err(refusal(error));
        }
        check_origin(&self.engine, &self.websocket, peer, req.headers()).map_err(refusal)?;
        let limits = &self.engine.config().limits;
        let admitted = self
            .open
            .admit(&client_address(peer), limits.connections_per_address)
            .map_err(|e| {
                warn!(log, "websocket refused"; "peer" => peer, "code" => %e.code);
                refusal(e)
            })?;
        let mut accept = actix_http::ws::handshake(req.head()).map_err(|e| {
            debug!(log, "bad websocket handshake"; "peer" => peer, "error" => %e);
            Response::from(e)
        })?;
        Ok((admitted, accept.finish().drop_body()))
    }
}

/// The response refusing an upgrade with `error`: its status and JSON body,
/// as the REST API answers it.
fn refusal(error: ChatError) -> Response<BoxBody> {
    ApiError(error).error_response().into()
}

/// Writes `response` whole, in one write, and ends the connection (TLS
/// `close_notify`, then FIN).
async fn refuse<T>(framed: &mut Framed<T, Codec>, response: Response<BoxBody>)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let (mut head, body) = response.into_parts();
    head.head_mut().set_connection_type(ConnectionType::Close);
    let body = match body.size() {
        BodySize::None => None,
        _ => Some(actix_http::body::to_bytes(body).await.unwrap_or_default()),
    };
    let size = match &body {
        Some(bytes) => BodySize::Sized(bytes.len() as u64),
        None => BodySize::None,
    };
    let written = async {
        framed.feed(Message::Item((head, size))).await?;
        if let Some(bytes) = body {
            framed.feed(Message::Chunk(Some(bytes))).await?;
            framed.feed(Message::Chunk(None)).await?;
        }
        // actix-codec's close flushes the socket, not its own buffer.
        framed.flush().await?;
        framed.close().await
    };
    // A client that left before reading its refusal has nothing to lose.
    let _ = written.await;
}
