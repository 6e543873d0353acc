//! Using neuralchat-core as a library: the engine needs an actix System,
//! and says so with an error (not a panic) when there is none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use neuralchat_core::{Engine, EngineConfig, EngineError};
use tempfile::TempDir;

fn config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.accounts.bcrypt_cost = 4;
    config
}

#[tokio::test]
async fn build_outside_an_actix_system_is_an_error() {
    let dir = TempDir::new().unwrap();
    let result = Engine::builder(config())
        .database(dir.path().join("chat.db").to_string_lossy())
        .build()
        .await;
    let error = match result {
        Err(error) => error,
        Ok(_) => panic!("an engine was built without an actix System"),
    };
    assert!(matches!(error, EngineError::NoActixSystem), "{error}");
    let message = error.to_string();
    assert!(message.contains("actix_rt::main"), "{message}");
    assert!(message.contains("actix_web::main"), "{message}");
    assert!(message.contains("System"), "{message}");
    // Nothing was opened: the database file was not created.
    assert!(!dir.path().join("chat.db").exists());
}

#[test]
fn build_on_a_multi_threaded_tokio_runtime_is_an_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = TempDir::new().unwrap();
    let url = dir.path().join("chat.db").to_string_lossy().into_owned();
    let result = runtime.block_on(Engine::builder(config()).database(url).build());
    assert!(matches!(result, Err(EngineError::NoActixSystem)));
}

#[actix_rt::test]
async fn build_inside_an_actix_system_works() {
    let dir = TempDir::new().unwrap();
    let engine = Engine::builder(config())
        .database(dir.path().join("chat.db").to_string_lossy())
        .build()
        .await
        .unwrap();
    let user = engine.register("libuser", "password1").await.unwrap();
    let joined = engine.join(&user, "lib", None).await.unwrap();
    assert_eq!(joined.room, "lib");
    engine.post(&user, "lib", "hello", None).await.unwrap();
    let page = engine.history(&user, "lib", None, None).await.unwrap();
    assert_eq!(page.events.last().unwrap().text, "hello");
    engine.shutdown().await;
}

#[test]
fn build_in_a_system_block_on_works() {
    let dir = TempDir::new().unwrap();
    let url = dir.path().join("chat.db").to_string_lossy().into_owned();
    actix_rt::System::new().block_on(async move {
        let engine = Engine::builder(config())
            .database(url)
            .build()
            .await
            .unwrap();
        assert!(!engine.node_id().is_empty());
        engine.shutdown().await;
    });
}
