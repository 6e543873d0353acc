//! A STAND-IN HTTP server for the client tests — not an LLM server. It
//! listens on 127.0.0.1:0, records each request, and replays a scripted
//! reply: llama.cpp-style SSE, Ollama's documented NDJSON, an HTTP error,
//! silence, or a cut connection. (The real llama-server is exercised by the
//! end-to-end tests; no Ollama server exists here, so Ollama's native
//! protocol is only ever tested against this stand-in.)

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

/// How long a test waits for the stand-in to see something.
const WAIT: Duration = Duration::from_secs(5);

/// What the stand-in answers.
#[derive(Debug, Clone)]
pub(super) enum Reply {
    /// 200 with a chunked body sent in these pieces (a short pause between
    /// them), then the end of the body.
    Stream(&'static str, Vec<Vec<u8>>),
    /// 200 and these pieces, then nothing: the connection stays open until
    /// the client closes it.
    StreamThenHold(&'static str, Vec<Vec<u8>>),
    /// 200 and these pieces, then the connection closes in the middle of
    /// the chunked body.
    StreamThenCut(&'static str, Vec<Vec<u8>>),
    /// This status and body.
    Status(u16, String),
    /// Nothing at all after reading the request; the connection stays open.
    Silent,
}

/// `text` cut into pieces of `size` bytes (cutting UTF-8 characters and
/// line ends anywhere).
pub(super) fn pieces(text: &str, size: usize) -> Vec<Vec<u8>> {
    text.as_bytes().chunks(size).map(<[u8]>::to_vec).collect()
}

/// A request as the stand-in received it.
#[derive(Debug, Clone)]
pub(super) struct Request {
    pub(super) method: String,
    pub(super) path: String,
    headers: Vec<(String, String)>,
    pub(super) body: serde_json::Value,
}

impl Request {
    /// A header's value (names compared case-insensitively).
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The running stand-in server.
pub(super) struct StandIn {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub(super) base: String,
    requests: UnboundedReceiver<Request>,
    closed: UnboundedReceiver<()>,
    task: JoinHandle<()>,
}

impl StandIn {
    /// Starts a stand-in that answers every connection with `reply`.
    pub(super) async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (req_tx, requests) = unbounded_channel();
        let (closed_tx, closed) = unbounded_channel();
        let reply = Arc::new(reply);
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (reply, req_tx, closed_tx) = (reply.clone(), req_tx.clone(), closed_tx.clone());
                tokio::spawn(serve(socket, reply, req_tx, closed_tx));
            }
        });
        Self {
            base,
            requests,
            closed,
            task,
        }
    }

    /// The next request received.
    pub(super) async fn request(&mut self) -> Request {
        tokio::time::timeout(WAIT, self.requests.recv())
            .await
            .expect("no request reached the stand-in")
            .expect("the stand-in stopped")
    }

    /// Whether the client closed a held connection (the stand-in read EOF
    /// or a reset on it) within a few seconds.
    pub(super) async fn client_closed(&mut self) -> bool {
        matches!(
            tokio::time::timeout(WAIT, self.closed.recv()).await,
            Ok(Some(()))
        )
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut socket: TcpStream,
    reply: Arc<Reply>,
    requests: UnboundedSender<Request>,
    closed: UnboundedSender<()>,
) {
    let Some(request) = read_request(&mut socket).await else {
        return;
    };
    let _ = requests.send(request);
    match &*reply {
        Reply::Stream(content_type, body) => {
            stream(&mut socket, content_type, body).await;
            let _ = socket.write_all(b"0\r\n\r\n").await;
            let _ = socket.flush().await;
            // Keep the connection until the client is done with it.
            wait_for_close(&mut socket).await;
        }
        Reply::StreamThenHold(content_type, body) => {
            stream(&mut socket, content_type, body).await;
            wait_for_close(&mut socket).await;
            let _ = closed.send(());
        }
        Reply::StreamThenCut(content_type, body) => {
            stream(&mut socket, content_type, body).await;
            let _ = socket.shutdown().await;
        }
        Reply::Status(code, body) => {
            let head = format!(
                "HTTP/1.1 {code} Stand-in\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
        Reply::Silent => {
            wait_for_close(&mut socket).await;
            let _ = closed.send(());
        }
    }
}

/// Writes a 200 head and the body pieces as HTTP chunks.
async fn stream(socket: &mut TcpStream, content_type: &str, body: &[Vec<u8>]) {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let _ = socket.write_all(head.as_bytes()).await;
    for piece in body {
        let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
        chunk.extend_from_slice(piece);
        chunk.extend_from_slice(b"\r\n");
        let _ = socket.write_all(&chunk).await;
        let _ = socket.flush().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Reads until the client closes the connection (EOF or an error).
async fn wait_for_close(socket: &mut TcpStream) {
    let mut buf = [0_u8; 1024];
    while let Ok(n) = socket.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// Reads one request: head, then a body of `content-length` bytes.
async fn read_request(socket: &mut TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0_u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(data[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut start = lines.next()?.split(' ');
    let (method, path) = (start.next()?.to_owned(), start.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let body = serde_json::from_slice(&data[head_end..head_end + length]).unwrap_or_default();
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}
