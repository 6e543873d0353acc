//! An in-process client for engine tests: a session opened with
//! `Engine::connect`, exchanging real frames.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use neuralchat_core::{Engine, EngineConfig, Inbound, SessionLink};
use serde_json::{json, Value};
use std::time::Duration;
use tempfile::TempDir;

pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn fast_config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.accounts.bcrypt_cost = 4;
    config
}

pub async fn engine(dir: &TempDir, config: EngineConfig) -> Engine {
    let db = dir.path().join("chat.db");
    Engine::builder(config)
        .database(db.to_string_lossy().to_string())
        .build()
        .await
        .unwrap()
}

/// One in-process client.
pub struct Client {
    /// The session's link.
    pub link: SessionLink,
    /// The last ref used.
    pub next_ref: u64,
}

impl Client {
    pub async fn connect(engine: &Engine) -> Client {
        let mut client = Client {
            link: engine.connect("test", "local".into()),
            next_ref: 0,
        };
        let hello = client.recv().await;
        assert_eq!(hello["type"], "hello");
        assert_eq!(hello["protocol"], "neuralchat/1");
        client
    }

    pub async fn recv(&mut self) -> Value {
        let frame = tokio::time::timeout(DEADLINE, self.link.frames.recv())
            .await
            .expect("no frame before the deadline")
            .expect("session closed");
        serde_json::from_str(&frame).unwrap()
    }

    pub async fn recv_until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let frame = self.recv().await;
            if pred(&frame) {
                return frame;
            }
        }
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.link
            .session
            .send(Inbound(text.to_owned()))
            .await
            .unwrap();
    }

    /// Sends a frame with a fresh ref and returns the answer carrying it.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        self.next_ref += 1;
        let reference = format!("r{}", self.next_ref);
        frame["ref"] = json!(reference);
        self.send_raw(&frame.to_string()).await;
        self.recv_until(|f| f["ref"] == json!(reference)).await
    }

    pub async fn sign_up(&mut self, name: &str) {
        let answer = self
            .request(json!({"type":"register","username":name,"password":"password1"}))
            .await;
        assert_eq!(answer["type"], "registered", "{answer}");
        let answer = self
            .request(json!({"type":"login","username":name,"password":"password1"}))
            .await;
        assert_eq!(answer["type"], "logged_in", "{answer}");
    }
}
