//! A STAND-IN for Ollama's native chat API (no Ollama server can run here):
//! answers every `POST /api/chat` by replaying the NDJSON stream Ollama's
//! documentation shows, with fixed words and token counts.

use anyhow::Result;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The words every stand-in reply is made of, one NDJSON line each.
pub const STANDIN_WORDS: [&str; 4] = ["Hello", " from", " the", " stand-in"];
/// The `prompt_eval_count` and `eval_count` it reports.
pub const STANDIN_TOKENS: (u32, u32) = (12, 4);

/// The stand-in server on 127.0.0.1.
pub struct OllamaStandIn {
    /// Its port.
    port: u16,
    /// Requests answered.
    requests: Arc<AtomicUsize>,
    /// The accept loop.
    task: tokio::task::JoinHandle<()>,
}

impl OllamaStandIn {
    /// Starts it on a free port.
    pub async fn start() -> Result<OllamaStandIn> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(AtomicUsize::new(0));
        let count = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    // Read the request head and its body (Content-Length).
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&seen).to_string();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().to_owned())
                                })
                                .and_then(|v| v.parse::<usize>().ok())
                                .unwrap_or(0);
                            if body.len() >= length {
                                break;
                            }
                        }
                    }
                    // Anything but a chat request (the server's start-up probe
                    // of `/`) is answered 200 with nothing and not counted.
                    if !String::from_utf8_lossy(&seen).starts_with("POST /api/chat") {
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                        let _ = socket.shutdown().await;
                        return;
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let mut reply = String::from(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\n",
                    );
                    for word in STANDIN_WORDS {
                        reply.push_str(
                            &serde_json::json!({
                                "model": "standin", "created_at": "2026-11-25T00:00:00Z",
                                "message": {"role": "assistant", "content": word}, "done": false
                            })
                            .to_string(),
                        );
                        reply.push('\n');
                    }
                    reply.push_str(&serde_json::json!({
                        "model": "standin", "created_at": "2026-11-25T00:00:00Z",
                        "message": {"role": "assistant", "content": ""}, "done": true,
                        "done_reason": "stop", "prompt_eval_count": STANDIN_TOKENS.0, "eval_count": STANDIN_TOKENS.1
                    }).to_string());
                    reply.push('\n');
                    let _ = socket.write_all(reply.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Ok(OllamaStandIn {
            port,
            requests,
            task,
        })
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many chat requests it answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for OllamaStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}
