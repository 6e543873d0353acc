//! A real llama.cpp `llama-server` with the tiny test model, as a child
//! process. `scripts/llama/setup.sh` builds both once and caches them; the
//! paths come from `LLAMA_SERVER` / `LLAMA_MODEL` (what that script prints)
//! or its default cache, `${NEURALCHAT_CACHE:-$HOME/.cache/neuralchat}/llama`.

use crate::http::HttpClient;
use crate::port::free_port;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How long the model may take to load.
const START_DEADLINE: Duration = Duration::from_secs(60);

fn cache_dir() -> PathBuf {
    match std::env::var_os("NEURALCHAT_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/neuralchat")
        }
    }
    .join("llama")
}

/// The llama-server binary and the tiny model, or a clear error.
pub fn llama_paths() -> Result<(PathBuf, PathBuf)> {
    let server = std::env::var_os("LLAMA_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("bin/llama-server"));
    let model = std::env::var_os("LLAMA_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("models/tiny-llama.gguf"));
    for path in [&server, &model] {
        if !path.exists() {
            bail!(
                "{} is missing: run scripts/llama/setup.sh (scripts/test.sh does)",
                path.display()
            );
        }
    }
    Ok((server, model))
}

/// The tiny test model (for `backend = "local"` tests); panics, saying how
/// to get it, when it is missing.
pub fn tiny_model() -> PathBuf {
    match llama_paths() {
        Ok((_, model)) => model,
        Err(e) => panic!("{e:#}"),
    }
}

/// A running llama-server on 127.0.0.1.
pub struct LlamaServer {
    /// The process.
    child: Option<Child>,
    /// Its port.
    port: u16,
    /// Holds its log.
    dir: TempDir,
}

impl LlamaServer {
    /// Starts llama-server with the tiny model on a free port.
    pub async fn start() -> Result<LlamaServer> {
        Self::start_on(free_port()).await
    }

    /// Starts llama-server on `port` (to restart one on the same address).
    pub async fn start_on(port: u16) -> Result<LlamaServer> {
        let (server, model) = llama_paths()?;
        let dir = TempDir::new()?;
        let log = std::fs::File::create(dir.path().join("llama.log"))?;
        let child = Command::new(&server)
            .arg("-m")
            .arg(&model)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                // Two slots of 2048 tokens each: room for the long replies
                // the stop tests need.
                "-c",
                "4096",
                "--threads",
                "1",
            ])
            .args(["--parallel", "2"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run {}", server.display()))?;
        let mut me = LlamaServer {
            child: Some(child),
            port,
            dir,
        };
        let http = HttpClient::new(&format!("http://127.0.0.1:{port}"));
        let start = Instant::now();
        loop {
            if let Ok((200, _)) = http.get("/health", None).await {
                return Ok(me);
            }
            if let Some(child) = me.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "llama-server exited ({status}) before it was ready:\n{}",
                        me.log_text()
                    );
                }
            }
            if start.elapsed() > START_DEADLINE {
                bail!(
                    "llama-server not ready after {START_DEADLINE:?}:\n{}",
                    me.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("llama.log")).unwrap_or_default()
    }

    /// Waits (up to 10 s) until its log contains `needle`.
    pub async fn wait_for_log(&self, needle: &str) -> Result<()> {
        let start = Instant::now();
        while !self.log_text().contains(needle) {
            if start.elapsed() > Duration::from_secs(10) {
                bail!("llama-server never logged {needle:?}:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Kills it (SIGKILL) and waits for it to go.
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }
}
