//! Per-connection socket settings. Every accepted TCP connection (plain, or
//! under TLS with `[tls]`) gets
//! `TCP_NODELAY`: a person waits on each frame, and with Nagle's algorithm
//! on, frames written back to back (`event`, `ack`, `reply_start`, `delta`s)
//! wait for the client's delayed ACK, about 40 ms each exchange.

use actix_tls::accept::openssl::TlsStream;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use slog::{debug, warn, Logger};
use std::any::Any;

/// Called by actix-http once per accepted connection, before any request is
/// read: makes sure `TCP_NODELAY` is on (actix-http was asked to set it too)
/// and logs what the socket reports, read back from the kernel.
pub fn on_connect(log: &Logger, conn: &dyn Any, _ext: &mut Extensions) {
    // Over HTTPS the connection is a TLS stream on the TCP socket; the
    // settings are the TCP socket's all the same.
    let (tcp, tls) = match conn.downcast_ref::<TcpStream>() {
        Some(tcp) => (tcp, false),
        None => match conn.downcast_ref::<TlsStream<TcpStream>>() {
            Some(tls) => (tls.get_ref(), true),
            None => {
                warn!(log, "connection of an unknown stream type: no TCP_NODELAY");
                return;
            }
        },
    };
    let peer = tcp
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "unknown".into());
    if let Err(e) = tcp.set_nodelay(true) {
        warn!(log, "cannot set TCP_NODELAY"; "peer" => &peer, "error" => %e);
    }
    match tcp.nodelay() {
        Ok(nodelay) => {
            debug!(log, "connection accepted"; "peer" => &peer, "tcp_nodelay" => nodelay, "tls" => tls)
        }
        Err(e) => warn!(log, "cannot read TCP_NODELAY"; "peer" => &peer, "error" => %e),
    }
}
