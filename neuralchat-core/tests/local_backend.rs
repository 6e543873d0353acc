//! `backend = "local"`: the tiny test model (scripts/llama/setup.sh, path in
//! `LLAMA_MODEL`) run in this process through llama.cpp: streaming, usage,
//! stopping by dropping the stream, and the bound on concurrent replies.
#![cfg(feature = "local-llm")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::StreamExt;
use neuralchat_core::bots::backend::LocalSettings;
use neuralchat_core::bots::{
    BackendError, BackendKind, BotConfig, ChatTurn, CompletionRequest, Delta, LlmClient,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The tiny model, or a failure saying how to get it.
fn model_path() -> PathBuf {
    neuralchat_testkit::llama::tiny_model()
}

/// One thread per generation: tests run side by side on few cores, and
/// llama.cpp's threads spin-wait for each other (two threads on a busy
/// 2-core machine ran 200 times slower than one).
const THREADS: usize = 1;

fn client(max_concurrent: usize) -> LlmClient {
    let settings = LocalSettings {
        model_path: model_path(),
        threads: Some(THREADS),
        max_concurrent,
    };
    LlmClient::local(&settings, Duration::from_secs(30)).unwrap()
}

fn request(max_tokens: u32) -> CompletionRequest {
    CompletionRequest {
        model: "tiny".into(),
        messages: vec![
            ChatTurn::system("You are Olga."),
            ChatTurn::user("alice: Olga, hi"),
        ],
        max_tokens,
        temperature: 0.7,
    }
}

async fn collect(client: &LlmClient, req: &CompletionRequest) -> Vec<Result<Delta, BackendError>> {
    client.stream(req).await.unwrap().collect().await
}

#[tokio::test]
async fn a_reply_streams_in_pieces_and_ends_with_usage() {
    let client = client(1);
    assert_eq!(client.kind(), BackendKind::Local);
    let model = client.local_model().unwrap().clone();
    assert_eq!(model.template_from_model(), None, "loaded before the probe");
    let started = Instant::now();
    client.probe().await.unwrap();
    eprintln!("model loaded in {:?}", started.elapsed());
    // The tiny model carries a ChatML template, and it is the one used.
    assert_eq!(model.template_from_model(), Some(true));
    assert_eq!(model.threads(), THREADS);

    let started = Instant::now();
    let mut stream = client.stream(&request(32)).await.unwrap();
    let mut first_piece = None;
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        first_piece.get_or_insert_with(|| started.elapsed());
        items.push(item.unwrap());
    }
    let total = started.elapsed();
    let (last, pieces) = items.split_last().unwrap();
    assert!(last.done, "{items:?}");
    assert!(last.text.is_empty());
    assert!(pieces.len() >= 3, "only {} pieces: {items:?}", pieces.len());
    assert!(pieces
        .iter()
        .all(|d| !d.done && !d.text.is_empty() && d.usage.is_none()));
    let usage = last.usage.expect("usage on the last delta");
    assert!(usage.prompt_tokens >= 5, "{usage:?}");
    assert!(
        (1..=32).contains(&usage.completion_tokens),
        "{usage:?} for max_tokens 32"
    );
    assert!(usage.completion_tokens as usize >= pieces.len() / 2);
    eprintln!(
        "tiny model: first piece after {:?}, {} tokens in {:?} ({:.0} tokens/s)",
        first_piece.unwrap(),
        usage.completion_tokens,
        total,
        f64::from(usage.completion_tokens) / total.as_secs_f64()
    );
    // A second reply reuses the loaded model.
    let again = collect(&client, &request(8)).await;
    assert!(again.last().unwrap().as_ref().unwrap().done);
}

#[tokio::test]
async fn dropping_the_stream_stops_the_generation() {
    let client = client(1);
    let model = client.local_model().unwrap().clone();
    let mut stream = client.stream(&request(400)).await.unwrap();
    for _ in 0..2 {
        let delta = stream.next().await.unwrap().unwrap();
        assert!(!delta.done, "the reply ended too early");
    }
    drop(stream);
    let started = Instant::now();
    while model.busy() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the generation did not stop"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let generated = model.generated_tokens();
    // At most what the channel holds past what was read: far from 400.
    assert!(generated < 80, "{generated} tokens generated after a stop");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(model.generated_tokens(), generated, "still generating");
    // The slot is free again: the next reply runs.
    let next = collect(&client, &request(4)).await;
    assert!(next.last().unwrap().as_ref().unwrap().done);
}

#[tokio::test]
async fn concurrent_replies_wait_for_a_slot_and_all_finish() {
    let client = client(1);
    let model = client.local_model().unwrap().clone();
    let watch = {
        let model = model.clone();
        tokio::spawn(async move {
            let mut most = 0;
            for _ in 0..400 {
                most = most.max(model.busy());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            most
        })
    };
    let req = request(16);
    let (a, b, c) = tokio::join!(
        collect(&client, &req),
        collect(&client, &req),
        collect(&client, &req),
    );
    for reply in [&a, &b, &c] {
        let last = reply.last().unwrap().as_ref().unwrap();
        assert!(last.done, "{reply:?}");
        assert!(last.usage.unwrap().completion_tokens > 0);
    }
    // A slot frees when its thread has ended, just after the last delta.
    let started = Instant::now();
    while model.busy() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a slot stayed busy"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        watch.await.unwrap() <= 1,
        "more than max_concurrent ran at once"
    );
}

#[tokio::test]
async fn a_reply_longer_than_the_model_context_is_cut_to_fit() {
    // max_tokens far past the model's context: the reply stops at the end
    // of the context instead of failing.
    let client = client(1);
    let items = collect(&client, &request(1_000_000)).await;
    let last = items.last().unwrap().as_ref().unwrap();
    assert!(last.done, "{items:?}");
}

#[test]
fn a_missing_model_file_is_a_config_error() {
    let settings = LocalSettings {
        model_path: "/nonexistent/model.gguf".into(),
        threads: None,
        max_concurrent: 1,
    };
    let error = LlmClient::local(&settings, Duration::from_secs(5)).unwrap_err();
    assert!(matches!(error, BackendError::Config(_)), "{error}");
    assert!(
        error.to_string().contains("/nonexistent/model.gguf"),
        "{error}"
    );
}

#[test]
fn local_bots_are_configured_by_model_path() {
    let config: BotConfig = serde_json::from_value(serde_json::json!({
        "name": "Olga",
        "backend": "local",
        "model_path": model_path(),
        "threads": 2,
        "max_concurrent": 2,
    }))
    .unwrap();
    config.validate(0).unwrap();
    assert_eq!(config.location(), model_path().to_str().unwrap());
    let client = LlmClient::for_bot(&config).unwrap();
    assert_eq!(client.kind(), BackendKind::Local);
    assert_eq!(client.local_model().unwrap().max_concurrent(), 2);

    let no_path = BotConfig {
        model_path: None,
        ..config.clone()
    };
    let error = no_path.validate(3).unwrap_err();
    assert!(error.contains("bots[3].model_path"), "{error}");
    for (bad, key) in [
        (
            BotConfig {
                threads: Some(0),
                ..config.clone()
            },
            "bots[0].threads",
        ),
        (
            BotConfig {
                max_concurrent: 0,
                ..config.clone()
            },
            "bots[0].max_concurrent",
        ),
        (
            BotConfig {
                backend: BackendKind::OpenAi,
                ..config.clone()
            },
            "bots[0].model_path",
        ),
    ] {
        let error = bad.validate(0).unwrap_err();
        assert!(error.contains(key), "{error}");
    }
}
