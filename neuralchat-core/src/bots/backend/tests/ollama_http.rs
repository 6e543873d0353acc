//! The Ollama client against the stand-in server replaying Ollama's
//! documented NDJSON stream (no real Ollama server exists here).

use futures_util::StreamExt;
use serde_json::json;

use super::super::{BackendError, BackendKind};
use super::fixtures::{ollama_deltas, request, request_messages_json, OLLAMA_NDJSON};
use super::standin::{pieces, Reply, StandIn};
use super::{client, deltas, drain};

const NDJSON: &str = "application/x-ndjson";

#[tokio::test]
async fn streams_a_documented_ollama_reply() {
    let mut server = StandIn::start(Reply::Stream(NDJSON, pieces(OLLAMA_NDJSON, 5))).await;
    let client = client(BackendKind::Ollama, &server.base);
    let stream = client.stream(&request()).await.unwrap();
    assert_eq!(deltas(stream).await, ollama_deltas());

    let sent = server.request().await;
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/api/chat");
    assert_eq!(sent.header("accept"), Some(NDJSON));
    assert_eq!(
        sent.body,
        json!({
            "model": "tiny",
            "messages": request_messages_json(),
            "stream": true,
            "options": {"num_predict": 64, "temperature": 0.5},
        })
    );
}

#[tokio::test]
async fn a_base_url_ending_in_api_works() {
    let mut server = StandIn::start(Reply::Stream(NDJSON, pieces(OLLAMA_NDJSON, 512))).await;
    let client = client(BackendKind::Ollama, &format!("{}/api", server.base));
    deltas(client.stream(&request()).await.unwrap()).await;
    assert_eq!(server.request().await.path, "/api/chat");
}

#[tokio::test]
async fn an_unknown_model_is_an_http_error() {
    // Ollama answers 404 with a JSON error for a model it does not have.
    let body = "{\"error\":\"model \\\"tiny\\\" not found, try pulling it first\"}".to_owned();
    let server = StandIn::start(Reply::Status(404, body.clone())).await;
    let client = client(BackendKind::Ollama, &server.base);
    let error = client.stream(&request()).await.err().unwrap();
    assert_eq!(error, BackendError::Status { code: 404, body });
    assert_eq!(error.reason(), "HTTP 404");
}

#[tokio::test]
async fn an_error_line_mid_stream_ends_it() {
    let body = "{\"message\":{\"content\":\"a\"},\"done\":false}\n{\"error\":\"runner crashed\"}\n";
    let server = StandIn::start(Reply::Stream(NDJSON, pieces(body, 512))).await;
    let client = client(BackendKind::Ollama, &server.base);
    let items = drain(client.stream(&request()).await.unwrap()).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[1], Err(BackendError::Server("runner crashed".into())));
}

#[tokio::test]
async fn garbage_is_malformed() {
    let server = StandIn::start(Reply::Stream(NDJSON, pieces("<html>hi</html>\n", 512))).await;
    let client = client(BackendKind::Ollama, &server.base);
    let items = drain(client.stream(&request()).await.unwrap()).await;
    assert!(
        matches!(items[..], [Err(BackendError::Malformed(_))]),
        "{items:?}"
    );
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    // The reply so far: two lines, no "done" yet.
    let partial: String = OLLAMA_NDJSON.split_inclusive('\n').take(2).collect();
    let mut server = StandIn::start(Reply::StreamThenHold(NDJSON, pieces(&partial, 512))).await;
    let client = client(BackendKind::Ollama, &server.base);
    let mut stream = client.stream(&request()).await.unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    drop(stream);
    assert!(server.client_closed().await);
}
