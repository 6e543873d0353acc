//! The OpenAI-compatible client against the stand-in server replaying a
//! llama.cpp-style SSE stream.

use serde_json::json;

use super::super::{BackendError, BackendKind, Delta};
use super::fixtures::{llama_cpp_deltas, request, request_messages_json, LLAMA_CPP_SSE};
use super::standin::{pieces, Reply, StandIn};
use super::{client, deltas, drain};

const SSE: &str = "text/event-stream";

#[tokio::test]
async fn streams_a_llama_cpp_reply() {
    // 7-byte pieces cut UTF-8 characters and event boundaries.
    let mut server = StandIn::start(Reply::Stream(SSE, pieces(LLAMA_CPP_SSE, 7))).await;
    let client = client(BackendKind::OpenAi, &server.base);
    let stream = client.stream(&request()).await.unwrap();
    assert_eq!(deltas(stream).await, llama_cpp_deltas());

    let sent = server.request().await;
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("accept"), Some(SSE));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(
        sent.body,
        json!({
            "model": "tiny",
            "messages": request_messages_json(),
            "max_tokens": 64,
            "temperature": 0.5,
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[tokio::test]
async fn a_base_url_ending_in_v1_works() {
    let mut server = StandIn::start(Reply::Stream(SSE, pieces(LLAMA_CPP_SSE, 512))).await;
    let client = client(BackendKind::OpenAi, &format!("{}/v1/", server.base));
    let stream = client.stream(&request()).await.unwrap();
    assert_eq!(deltas(stream).await, llama_cpp_deltas());
    assert_eq!(server.request().await.path, "/v1/chat/completions");
}

#[tokio::test]
async fn sends_the_api_key() {
    let mut server = StandIn::start(Reply::Stream(SSE, pieces(LLAMA_CPP_SSE, 512))).await;
    let client = client(BackendKind::OpenAi, &server.base).with_api_key("sk-test");
    deltas(client.stream(&request()).await.unwrap()).await;
    assert_eq!(
        server.request().await.header("authorization"),
        Some("Bearer sk-test")
    );
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_it() {
    let body = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n\
                data: {\"error\":{\"code\":500,\"message\":\"out of memory\",\"type\":\"server_error\"}}\n\n";
    let server = StandIn::start(Reply::Stream(SSE, pieces(body, 512))).await;
    let client = client(BackendKind::OpenAi, &server.base);
    let items = drain(client.stream(&request()).await.unwrap()).await;
    assert_eq!(
        items,
        [
            Ok(Delta::text("Hi")),
            Err(BackendError::Server("out of memory".into()))
        ]
    );
}

#[tokio::test]
async fn one_client_serves_several_requests() {
    let server = StandIn::start(Reply::Stream(SSE, pieces(LLAMA_CPP_SSE, 64))).await;
    let client = client(BackendKind::OpenAi, &server.base);
    for _ in 0..3 {
        let stream = client.stream(&request()).await.unwrap();
        assert_eq!(deltas(stream).await, llama_cpp_deltas());
    }
}
