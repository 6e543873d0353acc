//! A `neuralchat-server` process meshed over real Mosquitto brokers: writes
//! its `[mesh]` configuration, starts it, and waits until `/healthz` shows
//! every broker link up.

use crate::{Mosquitto, ServerOptions, ServerProcess, DEFAULT_DEADLINE};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// The mesh key test nodes share.
pub const TEST_MESH_KEY: &str = "test-mesh-key-0123456789";

/// How to start one meshed node.
#[derive(Debug, Clone)]
pub struct MeshNode<'a> {
    /// Its working directory (its SQLite file lives there by default).
    pub dir: &'a Path,
    /// Its node id.
    pub id: &'a str,
    /// The brokers it connects to.
    pub brokers: &'a [&'a Mosquitto],
    /// A database URL instead of its own SQLite file.
    pub database: Option<&'a str>,
    /// More configuration (TOML placed before `[mesh]`, e.g. `[[bots]]`).
    pub extra_toml: &'a str,
    /// The CA file written as `ca_file` for every TLS (`ssl://`) broker.
    pub ca_file: Option<&'a Path>,
    /// A client certificate and its key, written as `cert_file` and
    /// `key_file` for every TLS broker.
    pub client_cert: Option<(&'a Path, &'a Path)>,
    /// The broker URLs to write instead of each broker's own (e.g. through
    /// a proxy), in the order of `brokers`.
    pub urls: Option<&'a [String]>,
}

impl<'a> MeshNode<'a> {
    /// Node `id` in `dir` over `brokers`, on its own SQLite file.
    pub fn new(dir: &'a Path, id: &'a str, brokers: &'a [&'a Mosquitto]) -> Self {
        Self {
            dir,
            id,
            brokers,
            database: None,
            extra_toml: "",
            ca_file: None,
            client_cert: None,
            urls: None,
        }
    }

    /// Starts it (relaxed rate limits) and waits for its links.
    pub async fn start(self) -> Result<ServerProcess> {
        let mut toml = format!("{}\n[mesh]\nkey = \"{TEST_MESH_KEY}\"\n", self.extra_toml);
        for (i, broker) in self.brokers.iter().enumerate() {
            let url = match self.urls.and_then(|urls| urls.get(i)) {
                Some(url) => url.clone(),
                None => broker.url(),
            };
            toml.push_str(&format!("[[mesh.brokers]]\nurl = \"{url}\"\n"));
            if let Some((user, password)) = broker.node_login() {
                toml.push_str(&format!(
                    "username = \"{user}\"\npassword = \"{password}\"\n"
                ));
            }
            if url.starts_with("ssl://") {
                let quoted = |path: &Path| format!("{:?}", path.display().to_string());
                if let Some(ca) = self.ca_file {
                    toml.push_str(&format!("ca_file = {}\n", quoted(ca)));
                }
                if let Some((cert, key)) = self.client_cert {
                    toml.push_str(&format!(
                        "cert_file = {}\nkey_file = {}\n",
                        quoted(cert),
                        quoted(key)
                    ));
                }
            }
        }
        let config = self.dir.join("mesh.toml");
        std::fs::write(&config, toml).context("writing mesh.toml")?;
        let mut options = ServerOptions::new();
        if let Some(url) = self.database {
            options = options.database(url);
        }
        let server = ServerProcess::start(
            options
                .dir(self.dir)
                .node_id(self.id)
                .relaxed_limits()
                .arg("--config")
                .arg(config.display().to_string()),
        )
        .await?;
        links_up(&server, self.brokers.len()).await?;
        Ok(server)
    }
}

/// Waits (three default deadlines) until `/healthz` shows `count` broker
/// links connected, and as many client links.
pub async fn links_up(server: &ServerProcess, count: usize) -> Result<()> {
    let deadline = DEFAULT_DEADLINE * 3;
    let started = Instant::now();
    let connected = |links: &serde_json::Value| {
        links
            .as_array()
            .map(|b| b.iter().filter(|l| l["connected"] == true).count())
            .unwrap_or(0)
    };
    loop {
        let (_, health) = server.http().get("/healthz", None).await?;
        let up = connected(&health["mesh"]["brokers"]);
        if up == count && connected(&health["mesh"]["clients"]) == count {
            return Ok(());
        }
        if started.elapsed() > deadline {
            bail!("{up} of {count} links up: {health}\n{}", server.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
