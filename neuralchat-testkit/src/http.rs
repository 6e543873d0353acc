//! A tiny HTTP/1.1 JSON client over a plain TCP stream, so REST tests need no
//! HTTP client library. One request per connection (`Connection: close`).

use crate::DEFAULT_DEADLINE;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
}

impl HttpClient {
    /// A client for the server at `base` (`http://host:port`, optionally with a
    /// trailing slash, or plain `host:port`).
    pub fn new(base: &str) -> Self {
        let rest = base.strip_prefix("http://").unwrap_or(base);
        let authority = rest.split('/').next().unwrap_or(rest).to_string();
        Self { authority }
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
            let mut stream = TcpStream::connect(&self.authority)
                .await
                .with_context(|| format!("connecting to {}", self.authority))?;
            stream.write_all(request).await?;
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await?;
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
        let mut stream = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        stream.write_all(&request).await?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .with_context(|| format!("reading the answer to {method} {path}"))?;
        parse_response(&raw).with_context(|| format!("the answer to {method} {path}"))
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
