//! A tiny HTTP/1.1 JSON client over a plain TCP stream, so REST tests need no
//! HTTP client library (HTTPS through native-tls, trusting a test CA). One
//! request per connection (`Connection: close`).

use crate::DEFAULT_DEADLINE;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::path::Path;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: its status, headers and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The raw body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON: `Value::Null` when empty, a JSON string holding the
    /// text when it is not JSON.
    pub fn json(&self) -> Value {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&self.body).unwrap_or_else(|_| Value::String(self.text()))
    }
}

/// A client for one server, e.g. `HttpClient::new("http://127.0.0.1:8080")`.
#[derive(Debug, Clone)]
pub struct HttpClient {
    /// `host:port` to connect to.
    authority: String,
    /// For HTTPS: the TLS client (trusting the test CA) and the host name
    /// the certificate must carry.
    tls: Option<(native_tls::TlsConnector, String)>,
}

/// A connection, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl HttpClient {
    /// A client for the server at `base` (`http://host:port`, optionally with a
    /// trailing slash, or plain `host:port`).
    pub fn new(base: &str) -> Self {
        let rest = base.strip_prefix("http://").unwrap_or(base);
        let authority = rest.split('/').next().unwrap_or(rest).to_string();
        Self {
            authority,
            tls: None,
        }
    }

    /// An HTTPS client for the server at `base` (`https://host:port`),
    /// trusting the CA certificate (PEM) in `ca`; the server's certificate
    /// is verified against it and the host.
    pub fn https(base: &str, ca: &Path) -> Result<Self> {
        let rest = base.strip_prefix("https://").unwrap_or(base);
        let authority = rest.split('/').next().unwrap_or(rest).to_string();
        let host = match authority.rsplit_once(':') {
            Some((host, _port)) => host,
            None => authority.as_str(),
        }
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        let connector = native_tls::TlsConnector::builder()
            .add_root_certificate(native_tls::Certificate::from_pem(&pem)?)
            .build()?;
        Ok(Self {
            authority,
            tls: Some((connector, host)),
        })
    }

    /// Connects, with the TLS handshake for HTTPS.
    async fn open(&self) -> Result<Box<dyn Stream>> {
        let tcp = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, host)) => {
                let connector = tokio_native_tls::TlsConnector::from(connector.clone());
                let tls = connector
                    .connect(host, tcp)
                    .await
                    .with_context(|| format!("TLS handshake with {}", self.authority))?;
                Ok(Box::new(tls))
            }
        }
    }

    /// `GET path`, returning the status and the JSON body.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Result<(u16, Value)> {
        let r = self.send("GET", path, bearer, None).await?;
        Ok((r.status, r.json()))
    }

    /// `POST path` with a JSON body, returning the status and the JSON body.
    pub async fn post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Result<(u16, Value)> {
        let r = self.send("POST", path, bearer, Some(body)).await?;
        Ok((r.status, r.json()))
    }

    /// `POST path` without a body, returning the status and the JSON body.
    pub async fn post_empty(&self, path: &str, bearer: Option<&str>) -> Result<(u16, Value)> {
        let r = self.send("POST", path, bearer, None).await?;
        Ok((r.status, r.json()))
    }

    /// Sends one request with an optional Bearer token and JSON body and reads
    /// the whole response, within the default deadline.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<HttpResponse> {
        let work = self.exchange(method, path, bearer, body);
        tokio::time::timeout(DEFAULT_DEADLINE, work)
            .await
            .map_err(|_| {
                anyhow!("{method} {path}: no complete answer within {DEFAULT_DEADLINE:?}")
            })?
    }

    /// Sends a raw request (written as is) and reads the response.
    pub async fn send_raw(&self, request: &[u8]) -> Result<HttpResponse> {
        let work = async {
            let mut stream = self.open().await?;
            stream.write_all(request).await?;
            let raw = read_all(&mut stream).await?;
            parse_response(&raw)
        };
        tokio::time::timeout(DEFAULT_DEADLINE, work)
            .await
            .map_err(|_| anyhow!("raw request: no complete answer within {DEFAULT_DEADLINE:?}"))?
    }

    /// One request/response exchange without a deadline.
    async fn exchange(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<HttpResponse> {
        let payload = match body {
            Some(v) => serde_json::to_vec(v)?,
            None => Vec::new(),
        };
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.authority
        );
        if let Some(token) = bearer {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", payload.len()));
        let mut request = head.into_bytes();
        request.extend_from_slice(&payload);
        let mut stream = self.open().await?;
        stream.write_all(&request).await?;
        let raw = read_all(&mut stream)
            .await
            .with_context(|| format!("reading the answer to {method} {path}"))?;
        parse_response(&raw).with_context(|| format!("the answer to {method} {path}"))
    }
}

/// Reads until the server closes. A TLS server may close the TCP
/// connection without a close_notify, which openssl reports as an error:
/// that ends an answer that already came like a plain close does.
async fn read_all(stream: &mut Box<dyn Stream>) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return Ok(raw),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) if !raw.is_empty() => return Ok(raw),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Parses a complete HTTP/1.1 response read up to EOF.
pub fn parse_response(raw: &[u8]) -> Result<HttpResponse> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no end of headers in {:?}", String::from_utf8_lossy(raw)))?;
    let head = std::str::from_utf8(&raw[..split]).context("headers are not UTF-8")?;
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let chunked = find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().context("bad Content-Length")?;
        if rest.len() < len {
            bail!("body has {} bytes, Content-Length says {len}", rest.len());
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// Decodes a chunked body.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunk size line"))?;
        let size_text = std::str::from_utf8(&data[..line_end])?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_bodies() {
        let raw = b"HTTP/1.1 201 Created\r\nContent-Length: 14\r\ncontent-type: application/json\r\n\r\n{\"user\":\"al\"}\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.json()["user"], "al");
    }

    #[test]
    fn parses_chunked_and_empty_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap().json()["a"], 1);
        let raw = b"HTTP/1.1 204 No Content\r\n\r\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 204);
        assert_eq!(r.json(), Value::Null);
    }

    #[tokio::test]
    async fn talks_to_a_real_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains("{\"x\":1}") {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"ok\":1}")
                .await
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let client = HttpClient::new(&format!("http://{addr}/"));
        let (status, body) = client
            .post("/p", Some("tok"), &serde_json::json!({"x": 1}))
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(body["ok"], 1);
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /p HTTP/1.1\r\n"));
        assert!(request.contains("Authorization: Bearer tok\r\n"));
    }
}
