//! Per-connection socket settings. Every accepted TCP connection gets
//! `TCP_NODELAY`: a person waits on each frame, and with Nagle's algorithm
//! on, frames written back to back (`event`, `ack`, `reply_start`, `delta`s)
//! wait for the client's delayed ACK, about 40 ms each exchange.

use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use slog::{debug, warn, Logger};
use std::any::Any;

/// Called by actix-web once per accepted connection, before any request is
/// read: makes sure `TCP_NODELAY` is on (actix-web was asked to set it too)
/// and logs what the socket reports, read back from the kernel.
pub fn on_connect(log: &Logger, conn: &dyn Any, _ext: &mut Extensions) {
    let Some(tcp) = conn.downcast_ref::<TcpStream>() else {
        return;
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
            debug!(log, "connection accepted"; "peer" => &peer, "tcp_nodelay" => nodelay)
        }
        Err(e) => warn!(log, "cannot read TCP_NODELAY"; "peer" => &peer, "error" => %e),
    }
}
