//! Tests of the backend clients: decoders fed real-looking streams split
//! anywhere, and the HTTP clients against a stand-in server.

mod config;
mod decoders;
mod failures;
mod fixtures;
mod ollama_http;
mod openai_http;
mod standin;

use std::time::Duration;

use futures_util::StreamExt;

use super::{BackendError, BackendKind, Delta, LlmClient, TokenStream};

/// A client with a short timeout, for tests.
fn client(kind: BackendKind, base: &str) -> LlmClient {
    LlmClient::new(kind, base, Duration::from_secs(5)).unwrap()
}

/// Everything a stream yields.
async fn drain(stream: TokenStream) -> Vec<Result<Delta, BackendError>> {
    stream.collect().await
}

/// The deltas of a stream that must succeed.
async fn deltas(stream: TokenStream) -> Vec<Delta> {
    drain(stream)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap()
}
