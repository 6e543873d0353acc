//! How the clients fail: HTTP errors, garbage, silence, no server, a cut
//! connection — and that dropping a stream aborts the request.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::super::{BackendError, BackendKind, Delta, LlmClient, MAX_ERROR_BODY_CHARS};
use super::fixtures::{request, LLAMA_CPP_SSE};
use super::standin::{pieces, Reply, StandIn};
use super::{client, drain};

const SSE: &str = "text/event-stream";

/// The first `n` events of the llama.cpp stream (no end).
fn first_events(n: usize) -> String {
    LLAMA_CPP_SSE.split_inclusive("\n\n").take(n).collect()
}

#[tokio::test]
async fn http_500_is_a_status_error() {
    let body = "{\"error\":{\"code\":500,\"message\":\"failed to load model\"}}".to_owned();
    let server = StandIn::start(Reply::Status(500, body.clone())).await;
    let error = client(BackendKind::OpenAi, &server.base)
        .stream(&request())
        .await
        .err()
        .unwrap();
    assert_eq!(error, BackendError::Status { code: 500, body });
    assert_eq!(error.reason(), "HTTP 500");
}

#[tokio::test]
async fn long_error_bodies_are_cut() {
    let server = StandIn::start(Reply::Status(503, "x".repeat(10_000))).await;
    let error = client(BackendKind::OpenAi, &server.base)
        .stream(&request())
        .await
        .err()
        .unwrap();
    let BackendError::Status { code: 503, body } = error else {
        panic!("{error:?}");
    };
    assert_eq!(body.chars().count(), MAX_ERROR_BODY_CHARS + 1);
}

#[tokio::test]
async fn a_garbage_body_is_malformed() {
    for body in [
        "<html><body>It works!</body></html>\n",
        "data: {\"choices\": oops}\n\n",
    ] {
        let server = StandIn::start(Reply::Stream("text/html", pieces(body, 512))).await;
        let stream = client(BackendKind::OpenAi, &server.base)
            .stream(&request())
            .await
            .unwrap();
        let items = drain(stream).await;
        assert!(
            matches!(items[..], [Err(BackendError::Malformed(_))]),
            "{body:?}: {items:?}"
        );
        assert_eq!(items[0].as_ref().err().unwrap().reason(), "malformed reply");
    }
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let mut server = StandIn::start(Reply::Silent).await;
    let timeout = Duration::from_millis(300);
    let client = LlmClient::new(BackendKind::OpenAi, &server.base, timeout).unwrap();
    let started = Instant::now();
    let error = client.stream(&request()).await.err().unwrap();
    let waited = started.elapsed();
    assert_eq!(error, BackendError::Timeout);
    assert_eq!(error.reason(), "timed out");
    assert!(
        waited >= timeout && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // Giving up also closes the connection.
    assert!(server.client_closed().await);
}

#[tokio::test]
async fn silence_mid_stream_times_out() {
    let body = pieces(&first_events(2), 512);
    let server = StandIn::start(Reply::StreamThenHold(SSE, body)).await;
    let timeout = Duration::from_millis(300);
    let client = LlmClient::new(BackendKind::OpenAi, &server.base, timeout).unwrap();
    // A reply that streams for longer than the timeout is fine as long as
    // chunks keep coming; only a gap longer than it fails.
    let stream = client.stream(&request()).await.unwrap();
    let started = Instant::now();
    let items = drain(stream).await;
    assert_eq!(
        items,
        [Ok(Delta::text("Hello")), Err(BackendError::Timeout)]
    );
    assert!(started.elapsed() >= timeout);
}

#[tokio::test]
async fn a_slow_but_steady_stream_is_not_a_timeout() {
    // Hundreds of 5-byte pieces, each at least 1 ms after the last, with a
    // 200 ms timeout: the whole reply takes longer than the timeout, no gap
    // between chunks does.
    let server = StandIn::start(Reply::Stream(SSE, pieces(LLAMA_CPP_SSE, 5))).await;
    let timeout = Duration::from_millis(200);
    let client = LlmClient::new(BackendKind::OpenAi, &server.base, timeout).unwrap();
    let started = Instant::now();
    let items = drain(client.stream(&request()).await.unwrap()).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(items.len(), 5);
    assert!(started.elapsed() > timeout);
}

#[tokio::test]
async fn a_refused_port_is_a_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    for kind in [BackendKind::OpenAi, BackendKind::Ollama] {
        let client = client(kind, &format!("http://{addr}"));
        let error = client.stream(&request()).await.err().unwrap();
        assert!(matches!(error, BackendError::Connect(_)), "{error:?}");
        assert_eq!(error.reason(), "cannot connect");
    }
}

#[tokio::test]
async fn a_cut_connection_is_interrupted() {
    let body = pieces(&first_events(2), 512);
    let server = StandIn::start(Reply::StreamThenCut(SSE, body)).await;
    let stream = client(BackendKind::OpenAi, &server.base)
        .stream(&request())
        .await
        .unwrap();
    let items = drain(stream).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], Ok(Delta::text("Hello")));
    assert!(
        matches!(items[1], Err(BackendError::Interrupted(_))),
        "{items:?}"
    );
}

#[tokio::test]
async fn dropping_the_stream_aborts_the_request() {
    let body = pieces(&first_events(3), 512);
    let mut server = StandIn::start(Reply::StreamThenHold(SSE, body)).await;
    let mut stream = client(BackendKind::OpenAi, &server.base)
        .stream(&request())
        .await
        .unwrap();
    assert_eq!(stream.next().await, Some(Ok(Delta::text("Hello"))));
    drop(stream);
    // The stand-in reads EOF on its socket: the request is aborted.
    assert!(server.client_closed().await);
}

#[tokio::test]
async fn a_stream_kept_open_keeps_the_connection() {
    let body = pieces(&first_events(3), 512);
    let mut server = StandIn::start(Reply::StreamThenHold(SSE, body)).await;
    let mut stream = client(BackendKind::OpenAi, &server.base)
        .stream(&request())
        .await
        .unwrap();
    assert_eq!(stream.next().await, Some(Ok(Delta::text("Hello"))));
    // Control for the test above: while the stream lives, no close.
    let closed = tokio::time::timeout(Duration::from_millis(300), server.client_closed()).await;
    assert!(
        closed.is_err(),
        "the connection closed while the stream was alive"
    );
    drop(stream);
}
