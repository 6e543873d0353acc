//! neuralchat-server: loads the configuration, starts the engine, serves
//! `/ws`, `/api/v1` and `/healthz` (over HTTPS and WSS when `[tls]` names a
//! certificate and key), and shuts down gracefully on SIGINT or SIGTERM
//! (WebSocket sessions are closed, the HTTP server stops accepting and
//! finishes requests in flight, then the engine waits for database writes
//! in flight).

#![warn(missing_docs)]

mod admission;
mod config;
mod connection;
mod http_server;
mod logging;
mod metrics;
mod rest;
mod tls;
mod ws;

use actix_web::{web, App, HttpResponse};
use anyhow::Context;
use clap::Parser;
use config::{Args, ServerConfig};
use neuralchat_core::Engine;
use neuralchat_mesh::Mesh;
use slog::info;

/// mimalloc instead of glibc's malloc: the server allocates a frame on one
/// thread and frees it on another all the time (a connection's thread
/// parses, the rooms' thread fans out, the store's thread writes), and
/// glibc's arenas made that about a sixth of the server's CPU per stored
/// message (docs/BENCHMARKS.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `GET /healthz`: the node, its database, each bot's model server and
/// each mesh broker link. 200 with `status` "ok" (or "degraded": a broker
/// link or a bot's model server is down, the node still serves chat); 503
/// with "unavailable" when the database does not answer.
async fn healthz(engine: web::Data<Engine>, mesh: web::Data<Option<Mesh>>) -> HttpResponse {
    let database = engine.database_health().await;
    let mut body = serde_json::json!({
        "node": engine.node_id(),
        "database": { "ok": database.ok },
    });
    if let Some(problem) = &database.problem {
        body["database"]["problem"] = problem.as_str().into();
    }
    let mut degraded = false;
    if let Some(mesh) = mesh.as_ref() {
        let status = mesh.status();
        degraded = status
            .brokers
            .iter()
            .chain(&status.clients)
            .any(|b| !b.connected);
        body["mesh"] = serde_json::json!({ "brokers": status.brokers, "clients": status.clients });
    }
    let bots = engine.bot_health();
    degraded |= bots.iter().any(|b| b.ok == Some(false));
    body["bots"] = serde_json::json!(bots);
    let (status, mut response) = match (database.ok, degraded) {
        (false, _) => ("unavailable", HttpResponse::ServiceUnavailable()),
        (true, true) => ("degraded", HttpResponse::Ok()),
        (true, false) => ("ok", HttpResponse::Ok()),
    };
    body["status"] = status.into();
    response.json(body)
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = match ServerConfig::load(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("neuralchat-server: bad configuration: {e}");
            std::process::exit(2);
        }
    };
    // The certificate and the port first: a bad file or a busy port is one
    // clear line, before the store and the bots start.
    let acceptor = match config.tls.as_ref().map(tls::acceptor).transpose() {
        Ok(acceptor) => acceptor,
        Err(e) => {
            eprintln!("neuralchat-server: {e}");
            std::process::exit(2);
        }
    };
    let listener = match listen(&config.bind) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("neuralchat-server: cannot listen on {}: {e}", config.bind);
            std::process::exit(2);
        }
    };
    let (log, _flush_on_exit) = logging::init(&config.log);
    for name in config::ignored_env_vars() {
        slog::warn!(log, "environment variable names no configuration section; ignored"; "name" => name);
    }
    if acceptor.is_none() {
        if let Some(addr) = plain_non_loopback(&listener) {
            eprintln!(
                "neuralchat-server: warning: serving plain HTTP and WebSocket on {addr}, \
                 which is not a loopback address: traffic (passwords, tokens, messages) \
                 is unencrypted; {TLS_FIX}"
            );
            slog::warn!(log, "serving plain HTTP on a non-loopback address: traffic is unencrypted";
                "addr" => %addr, "fix" => TLS_FIX);
        }
    }
    // Each connection holds a descriptor: raise the soft limit to the hard
    // one, so the default 1,024 does not cap the server at about 1,000
    // clients.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => slog::debug!(log, "open file limit"; "nofile" => limit),
        Err(e) => slog::warn!(log, "cannot raise the open file limit"; "error" => %e),
    }
    let engine = Engine::builder(config.engine())
        .database(config.database.clone())
        .logger(log.clone())
        .build()
        .await
        .with_context(|| {
            format!(
                "cannot start the engine on database {:?}",
                redact(&config.database)
            )
        })?;
    let mesh = if config.mesh.enabled() {
        let mesh = Mesh::start(engine.clone(), &config.mesh, log.clone())
            .await
            .context("cannot start the mesh")?;
        Some(mesh)
    } else {
        None
    };
    let mesh = web::Data::new(mesh);
    let data = web::Data::new(engine.clone());
    let websocket = web::Data::new(config.websocket.clone());
    let max_body = config.limits.max_frame_bytes;
    let conn_log = log.new(slog::o!("transport" => "tcp"));
    let upgraded_connections = admission::OpenConnections::default();
    let upgrades = ws::Upgrades::new(
        engine.clone(),
        upgraded_connections.clone(),
        config.websocket.clone(),
    );
    let make_app = move || {
        App::new()
            .app_data(data.clone())
            .app_data(mesh.clone())
            .app_data(websocket.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(metrics::metrics))
            .route("/ws", web::get().to(ws::not_upgraded))
            .configure(|cfg| rest::routes(cfg, max_body))
            .default_service(web::to(rest::not_found))
    };
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let addr = listener.local_addr().ok();
    let server = http_server::serve(listener, acceptor, make_app, upgrades, conn_log)
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    if let Some(addr) = addr {
        info!(log, "listening"; "addr" => %addr, "scheme" => scheme, "node" => engine.node_id());
    }
    let handle = server.handle();
    let (stopper, stop_log) = (engine.clone(), log.clone());
    let open_websockets = upgraded_connections;
    actix_web::rt::spawn(async move {
        let signal = shutdown_signal().await;
        info!(stop_log, "shutting down"; "signal" => signal);
        // Close WebSocket sessions first, and give their connections the
        // time to send the close (they run outside the HTTP server's
        // tracking, which would drop them); then finish requests in flight.
        stopper.begin_shutdown();
        if !open_websockets.all_closed(WEBSOCKETS_CLOSE_WITHIN).await {
            slog::warn!(stop_log, "websocket connections still open; stopping anyway";
                "waited_secs" => WEBSOCKETS_CLOSE_WITHIN.as_secs());
        }
        handle.stop(true).await;
    });
    server.await.context("server failed")?;
    engine.shutdown().await;
    Ok(())
}

/// How long a shutdown waits for WebSocket connections to close: each
/// waits up to a second for its client's close reply.
const WEBSOCKETS_CLOSE_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// Binds `addr` with the accept backlog actix-web would use (2,048; the
/// standard library's 128 drops connections under a burst).
fn listen(addr: &str) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    let socket = socket2::Socket::from(listener);
    socket.listen(2048)?;
    Ok(socket.into())
}

/// How to serve HTTPS and WSS, for the warning about plain HTTP.
const TLS_FIX: &str = "to serve HTTPS and WSS, add a [tls] section with \
    cert = \"PATH\" and key = \"PATH\" (PEM files) to the configuration";

/// The address `listener` serves on, when it is not a loopback address
/// (plain HTTP there deserves a warning).
fn plain_non_loopback(listener: &std::net::TcpListener) -> Option<std::net::SocketAddr> {
    let addr = listener.local_addr().ok()?;
    (!addr.ip().is_loopback()).then_some(addr)
}

/// Waits for SIGINT or SIGTERM; returns its name.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, the server runs until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_loopback_addresses_get_the_plain_http_warning() {
        let loopback = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(plain_non_loopback(&loopback), None);
        let any = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        assert!(plain_non_loopback(&any).is_some_and(|a| a.ip().is_unspecified()));
    }
}
