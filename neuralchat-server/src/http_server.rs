//! The HTTP server: actix-web's application for REST, `/healthz` and
//! `/metrics`, served by actix-http with a WebSocket upgrade hook, plain
//! or under TLS. It is set up as actix-web's `HttpServer` sets up its
//! services (the same timeouts, keep-alive, ALPN and graceful stop), with
//! the one thing `HttpServer` does not offer: requests that ask for a
//! WebSocket go to [`ws::Upgrades`] with their socket, so an open WebSocket
//! keeps no HTTP dispatcher (and none of its buffers) under it. The
//! application's `AppConfig` is the default one: nothing here reads the
//! host or scheme from it (actix-web gives no public way to set them).
//!
//! Open WebSockets are outside actix-server's count of connections per
//! worker (the hook hands them to tasks of their own); what bounds them is
//! `limits.connections_per_address` and the process's open-file limit.

use crate::connection;
use crate::ws;
use actix_http::body::{BoxBody, MessageBody};
use actix_http::{HttpService, HttpServiceBuilder, KeepAlive, Request, Response};
use actix_server::{GracefulShutdownSignal, Server};
use actix_service::{map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use openssl::ssl::{AlpnError, SslAcceptor, SslAcceptorBuilder};
use slog::Logger;
use std::any::Any;
use std::net::SocketAddr;
use std::time::Duration;

/// actix-web's defaults, which the server had while it ran on `HttpServer`.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// See [`CLIENT_REQUEST_TIMEOUT`].
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a graceful stop waits for requests in flight, in seconds.
const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

/// Serves `make_app`'s application and WebSocket upgrades on `listener`,
/// under TLS when `tls` is given; returns the server, not yet running (it
/// runs when awaited).
pub fn serve<F, I, S, B>(
    listener: std::net::TcpListener,
    tls: Option<SslAcceptorBuilder>,
    make_app: F,
    upgrades: ws::Upgrades,
    log: Logger,
) -> std::io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let builder = Server::build()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .disable_signals();
    let stopping = builder.graceful_shutdown_signal();
    let name = format!("neuralchat-{addr}");
    let builder = match tls {
        None => builder.listen(name, listener, move || {
            settings::<_, _, B>(addr, log.clone(), stopping.clone())
                .upgrade(upgrades.hook())
                .finish(app_service(make_app.clone()))
                .tcp()
        })?,
        Some(tls) => {
            let acceptor = with_alpn(tls)?;
            builder.listen(name, listener, move || {
                settings::<_, _, B>(addr, log.clone(), stopping.clone())
                    .secure()
                    .upgrade(upgrades.hook())
                    .finish(app_service(make_app.clone()))
                    .openssl(acceptor.clone())
            })?
        }
    };
    Ok(builder.run())
}

/// The HTTP settings of every connection on `addr`, plain or TLS (`T`).
/// When a graceful stop begins (`stopping`), idle keep-alive connections
/// are closed at once and responses in flight say `Connection: close`.
/// (`B` is the application's body type, which actix-http names here.)
fn settings<T, S, B>(
    addr: SocketAddr,
    log: Logger,
    stopping: GracefulShutdownSignal,
) -> HttpServiceBuilder<T, S>
where
    T: 'static,
    S: ServiceFactory<Request, Config = ()>,
    S::Response: Into<Response<B>> + 'static,
    B: MessageBody + 'static,
    S::Error: Into<Response<BoxBody>> + 'static,
    S::InitError: std::fmt::Debug,
    <S::Service as Service<Request>>::Future: 'static,
{
    HttpService::build()
        .keep_alive(KeepAlive::default())
        .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
        .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .local_addr(addr)
        .graceful_shutdown_signal(move || {
            let stopping = stopping.clone();
            async move { stopping.notified().await }
        })
        .on_connect_ext(move |io: &T, ext: _| connection::on_connect(&log, io as &dyn Any, ext))
}

/// The application as actix-http serves it: its errors turned into
/// responses, and the configuration actix-web's `HttpServer` would give
/// it (nothing in this server reads the host or scheme from it).
fn app_service<F, I, S, B>(
    make_app: F,
) -> impl ServiceFactory<
    Request,
    Config = (),
    Response = S::Response,
    Error = Response<BoxBody>,
    InitError = S::InitError,
>
where
    F: Fn() -> I,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::Response: Into<Response<B>> + 'static,
    B: MessageBody + 'static,
{
    let app = make_app()
        .into_factory()
        .map_err(|err| err.into().error_response().into());
    map_config(app, |()| AppConfig::default())
}

/// The acceptor, offering HTTP/2 and HTTP/1.1 by ALPN as actix-web's
/// `HttpServer` does (a WebSocket always comes over HTTP/1.1).
fn with_alpn(mut builder: SslAcceptorBuilder) -> std::io::Result<SslAcceptor> {
    builder.set_alpn_select_callback(|_, protocols| {
        const H2: &[u8] = b"\x02h2";
        const H11: &[u8] = b"\x08http/1.1";
        if protocols.windows(3).any(|window| window == H2) {
            Ok(b"h2")
        } else if protocols.windows(9).any(|window| window == H11) {
            Ok(b"http/1.1")
        } else {
            Err(AlpnError::NOACK)
        }
    });
    builder.set_alpn_protos(b"\x08http/1.1\x02h2")?;
    Ok(builder.build())
}
