//! A recording TCP proxy: forwards every connection to an upstream port and
//! keeps what clients sent (and what they received), so a test can read
//! the requests a bot made to its model server (the context it was given),
//! or check what crossed the wire to a broker.

use anyhow::Result;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A proxy on 127.0.0.1 in front of `upstream`.
pub struct RecordingProxy {
    /// Its port.
    port: u16,
    /// The bytes each connection sent, in order of connection.
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    /// The bytes each connection received from upstream, likewise.
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    /// The accept loop.
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    /// Starts forwarding a free port to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> Result<RecordingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = (sent.clone(), received.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let index = {
                    let mut all = record.0.lock().unwrap_or_else(|p| p.into_inner());
                    all.push(Vec::new());
                    record
                        .1
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Vec::new());
                    all.len() - 1
                };
                tokio::spawn(relay(client, upstream, record.clone(), index));
            }
        });
        Ok(RecordingProxy {
            port,
            sent,
            received,
            task,
        })
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every byte that crossed the proxy so far, both ways, per connection
    /// (what the client sent, then what it received).
    pub fn all_bytes(&self) -> Vec<Vec<u8>> {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let received = self
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        sent.into_iter().chain(received).collect()
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The JSON bodies of the requests sent through the proxy so far.
    pub fn request_bodies(&self) -> Vec<serde_json::Value> {
        let all = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .filter_map(|bytes| {
                let text = String::from_utf8_lossy(bytes);
                let body = text.split_once("\r\n\r\n")?.1;
                serde_json::from_str(body).ok()
            })
            .collect()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the proxy records: bytes sent, bytes received, per connection.
type Record = (Arc<Mutex<Vec<Vec<u8>>>>, Arc<Mutex<Vec<Vec<u8>>>>);

async fn relay(mut client: TcpStream, upstream: u16, record: Record, index: usize) {
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let upload = async {
        let mut buf = [0u8; 8192];
        loop {
            match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    record.0.lock().unwrap_or_else(|p| p.into_inner())[index]
                        .extend_from_slice(&buf[..n]);
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = server_write.shutdown().await;
    };
    let download = async {
        let mut buf = [0u8; 8192];
        loop {
            match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    record.1.lock().unwrap_or_else(|p| p.into_inner())[index]
                        .extend_from_slice(&buf[..n]);
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = client_write.shutdown().await;
    };
    // Either side closing ends the relay (a client that drops its stream
    // must close the upstream connection too, or generation goes on).
    tokio::select! {
        _ = upload => {}
        _ = download => {}
    }
}
