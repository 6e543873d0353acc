//! Free TCP ports on the loopback interface.

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago: binds port 0, reads
/// the port the system picked and releases it.
///
/// Another process may take the port before the caller binds it; that race is
/// accepted in tests. Panics only if the loopback interface cannot be bound at
/// all, which makes every networked test meaningless anyway.
pub fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_a_bindable_port() {
        let port = free_port();
        assert_ne!(port, 0);
        assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
    }
}
