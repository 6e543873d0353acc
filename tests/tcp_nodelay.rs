#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every connection the server accepts has `TCP_NODELAY` on: the server
//! reads the option back from each accepted socket and logs it (debug
//! level), and this test checks that record for connections it made itself,
//! one plain HTTP request and one WebSocket.

use futures_util::{SinkExt, StreamExt};
use neuralchat_testkit::{ServerOptions, ServerProcess};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(10);

/// The `connection accepted` record for the client socket at `peer`, once
/// the server has written it.
async fn accepted_record(server: &ServerProcess, peer: SocketAddr) -> Value {
    let started = Instant::now();
    loop {
        let found = server
            .log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|r| r["msg"] == "connection accepted" && r["peer"] == peer.to_string());
        if let Some(record) = found {
            return record;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no `connection accepted` record for {peer}:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn accepted_connections_have_tcp_nodelay() {
    let server = ServerProcess::start(
        ServerOptions::new()
            .arg("--log-format")
            .arg("json")
            .env("NEURALCHAT_LOG__LEVEL", "debug"),
    )
    .await
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();

    // A plain HTTP request.
    let mut http = TcpStream::connect(addr).await.unwrap();
    http.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    http.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let http_peer = http.local_addr().unwrap();

    // A WebSocket, on a socket whose address we know.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let ws_peer = tcp.local_addr().unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(server.ws_url(), tcp)
        .await
        .unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"type":"ping"}"#,
    ))
    .await
    .unwrap();
    let reply = tokio::time::timeout(DEADLINE, ws.next()).await.unwrap();
    assert!(reply.is_some(), "the server answers on the WebSocket");

    for peer in [http_peer, ws_peer] {
        let record = accepted_record(&server, peer).await;
        assert_eq!(record["tcp_nodelay"], true, "{record}");
    }
}
