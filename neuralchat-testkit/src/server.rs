//! The `neuralchat-server` binary as a child process.
//!
//! [`ServerProcess::start`] runs the server on a free port of 127.0.0.1 with
//! a cheap bcrypt cost, logs to a file in its working directory and waits
//! until `GET /healthz` answers 200. A restart is a new [`ServerProcess`] on
//! the same database (and usually the same directory).

use crate::bin::find_binary;
use crate::http::HttpClient;
use crate::port::free_port;
use crate::TestCerts;
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How long the server may take to answer `/healthz`.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd server may take to exit.
const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// How much of the log's end goes into error messages.
const LOG_TAIL_BYTES: usize = 4000;
/// How many ports a start tries before giving up.
const PORT_TRIES: usize = 3;
/// Marks a start that failed because its port was taken.
const PORT_TAKEN: &str = " (port taken)";
/// Numbers default node ids within this process.
static NEXT_NODE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How to start a server. `ServerOptions::default()` gives a server on a
/// fresh SQLite file in a fresh temporary directory.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The `--database` URL; default `sqlite://<dir>/neuralchat.db`.
    pub database: Option<String>,
    /// The `--node-id`; default `node-<port>`.
    pub node_id: Option<String>,
    /// The working directory; default a fresh temporary one the process owns.
    pub dir: Option<PathBuf>,
    /// Extra environment variables (on top of `NEURALCHAT_ACCOUNTS__BCRYPT_COST=4`).
    pub env: Vec<(String, String)>,
    /// Extra command-line arguments, after the standard ones.
    pub args: Vec<String>,
    /// HTTPS and WSS with this certificate, key and CA (set through
    /// `NEURALCHAT_TLS__CERT` and `NEURALCHAT_TLS__KEY`).
    pub tls: Option<ServerTls>,
}

/// The files of a server with `[tls]`.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA that signed it: what the test's clients trust.
    pub ca: PathBuf,
}

impl ServerOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses the database `url`.
    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.database = Some(url.into());
        self
    }

    /// Uses the node id `id`.
    pub fn node_id(mut self, id: impl Into<String>) -> Self {
        self.node_id = Some(id.into());
        self
    }

    /// Runs in `dir` (which the caller keeps alive); the default database then lives there.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Raises the frame, message and registration limits far above what a
    /// test sends, so tests that post many messages quickly (or register
    /// many users from one address) are not rate-limited.
    pub fn relaxed_limits(self) -> Self {
        self.env("NEURALCHAT_LIMITS__FRAMES_PER_SECOND", "10000")
            .env("NEURALCHAT_LIMITS__FRAME_BURST", "10000")
            .env("NEURALCHAT_LIMITS__MESSAGES_PER_SECOND", "10000")
            .env("NEURALCHAT_LIMITS__MESSAGE_BURST", "10000")
            .env("NEURALCHAT_LIMITS__REGISTRATIONS_PER_ADDRESS", "10000")
    }

    /// Serves HTTPS and WSS with the server certificate of `certs`; the
    /// readiness check and [`ServerProcess::http`] then trust its CA.
    pub fn tls(mut self, certs: &TestCerts) -> Self {
        self.tls = Some(ServerTls {
            cert: certs.server_cert.clone(),
            key: certs.server_key.clone(),
            ca: certs.ca.clone(),
        });
        self
    }

    /// Adds a command-line argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Writes `toml` to `path` and starts the server with `--config path`.
    pub fn config_file(self, path: &Path, toml: &str) -> Result<Self> {
        std::fs::write(path, toml).with_context(|| format!("writing {}", path.display()))?;
        Ok(self.arg("--config").arg(path.display().to_string()))
    }
}

/// A running server process. Dropping it kills the process (SIGKILL).
#[derive(Debug)]
pub struct ServerProcess {
    /// The child process; `None` once it has been waited for.
    child: Option<Child>,
    /// The process id.
    pid: u32,
    /// The port on 127.0.0.1.
    port: u16,
    /// The database URL it was started with.
    database: String,
    /// The node id it was started with.
    node_id: String,
    /// The working directory.
    dir: PathBuf,
    /// The log file (stdout and stderr).
    log: PathBuf,
    /// Whether it serves HTTPS and WSS.
    tls: bool,
    /// A client for its HTTP(S) API.
    http: HttpClient,
    /// The temporary directory, when the process owns it.
    _temp: Option<TempDir>,
}

impl ServerProcess {
    /// Starts the server and waits (30 s) until `GET /healthz` answers 200.
    /// Fails with the log's tail if the process exits or does not get ready.
    pub async fn start(opts: ServerOptions) -> Result<ServerProcess> {
        // A port found free may be taken by another test's server before
        // this one binds it; then this one exits (or another node answers
        // its /healthz). Such a start is retried on a new port.
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::start_once(&opts).await {
                Ok(server) => return Ok(server),
                Err(e) if tries < PORT_TRIES && e.to_string().contains(PORT_TAKEN) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn start_once(opts: &ServerOptions) -> Result<ServerProcess> {
        let binary = find_binary("neuralchat-server", "NEURALCHAT_SERVER_BIN")?;
        let (temp, dir) = match &opts.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                (None, dir.clone())
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("nc-server-")
                    .tempdir()
                    .context("creating the server's temp dir")?;
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        let port = free_port();
        let node_id = opts.node_id.clone().unwrap_or_else(|| {
            let n = NEXT_NODE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("node-{port}-{}-{n}", std::process::id())
        });
        let database = opts
            .database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("neuralchat.db").display()));
        let log = dir.join(format!("server-{node_id}-{port}.log"));
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let log_err = log_file.try_clone()?;
        let mut cmd = Command::new(&binary);
        cmd.arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--database")
            .arg(&database)
            .arg("--node-id")
            .arg(&node_id)
            .args(&opts.args)
            .current_dir(&dir)
            .env("NEURALCHAT_ACCOUNTS__BCRYPT_COST", "4")
            .envs(opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(opts.tls.iter().flat_map(|tls| {
                [
                    ("NEURALCHAT_TLS__CERT", tls.cert.as_os_str()),
                    ("NEURALCHAT_TLS__KEY", tls.key.as_os_str()),
                ]
            }))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true);
        let http = match &opts.tls {
            Some(tls) => HttpClient::https(&format!("https://127.0.0.1:{port}"), &tls.ca)?,
            None => HttpClient::new(&format!("http://127.0.0.1:{port}")),
        };
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("the server exited before its pid could be read"))?;
        let mut server = ServerProcess {
            child: Some(child),
            pid,
            port,
            database,
            node_id,
            dir,
            log,
            tls: opts.tls.is_some(),
            http,
            _temp: temp,
        };
        if let Err(e) = server.wait_healthy().await {
            server.kill().await.ok();
            return Err(e);
        }
        Ok(server)
    }

    /// Polls `GET /healthz` until it answers 200, the process exits or the deadline passes.
    async fn wait_healthy(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        let http = self.http.clone();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    let log = self.log_tail();
                    let taken = if log.contains("cannot listen") {
                        PORT_TAKEN
                    } else {
                        ""
                    };
                    bail!(
                        "neuralchat-server exited ({status}) before it got ready{taken}; log tail:\n{log}"
                    );
                }
            }
            let attempt = tokio::time::timeout(
                Duration::from_secs(2),
                http.send("GET", "/healthz", None, None),
            )
            .await;
            let last = match attempt {
                Ok(Ok(r)) if r.status == 200 && r.json()["node"] == self.node_id.as_str() => {
                    return Ok(())
                }
                Ok(Ok(r)) if r.status == 200 => {
                    bail!("another server answers on port {}{PORT_TAKEN}", self.port)
                }
                Ok(Ok(r)) => format!("/healthz answered {}: {}", r.status, r.text()),
                Ok(Err(e)) => format!("{e:#}"),
                Err(_) => "/healthz did not answer within 2 s".to_string(),
            };
            if Instant::now() >= deadline {
                bail!(
                    "neuralchat-server did not get healthy within {START_DEADLINE:?} ({last}); log tail:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The WebSocket URL: `ws://127.0.0.1:PORT/ws` (`wss://` with TLS).
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://127.0.0.1:{}/ws", self.port)
    }

    /// The HTTP base URL: `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn http_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// An [`HttpClient`] for this server (HTTPS, trusting the test CA, with TLS).
    pub fn http(&self) -> HttpClient {
        self.http.clone()
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The database URL the server was started with.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The node id the server was started with.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The server's working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The whole log (stdout and stderr) so far.
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Waits (up to 10 s) until the log contains `needle`: the server
    /// writes its log on a thread of its own, a little after the event.
    pub async fn wait_for_log(&self, needle: &str) -> Result<()> {
        let started = std::time::Instant::now();
        while !self.log_text().contains(needle) {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("the server never logged {needle:?}:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// The end of the log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let mut start = text.len().saturating_sub(LOG_TAIL_BYTES);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_string()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_))) => {
                self.child = None;
                false
            }
            Some(Err(_)) => true,
            None => false,
        }
    }

    /// Sends SIGTERM and waits (15 s) for the process to exit; returns its status.
    /// Fails (and kills it) if it does not exit in time.
    pub async fn stop(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("the server is not running");
        };
        let out = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .output()
            .context("running kill -TERM")?;
        if !out.status.success() {
            // It may have exited already; the wait below tells.
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            bail!(
                "kill -TERM {} failed: {}",
                self.pid,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        match tokio::time::timeout(STOP_DEADLINE, child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                bail!(
                    "neuralchat-server did not exit within {STOP_DEADLINE:?} of SIGTERM; log tail:\n{}",
                    self.log_tail()
                )
            }
        }
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("killing the server")?;
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}
