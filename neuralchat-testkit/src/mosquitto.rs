//! A real Mosquitto broker (Debian's `mosquitto` package) on a free
//! loopback port, started as a child process: tests kill it (`kill -9`) and
//! restart it on the same port. [`Mosquitto::start_tls`] runs one with a
//! TLS listener instead.

use crate::free_port;
use crate::TestCerts;
use crate::DEFAULT_DEADLINE;
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// A running (or killed) broker.
#[derive(Debug)]
pub struct Mosquitto {
    /// The child process while it runs.
    child: Option<Child>,
    /// Whether its listener is TLS.
    tls: bool,
    /// The port it listens on, kept across restarts.
    port: u16,
    /// Its configuration file.
    config: PathBuf,
    /// Its log file.
    log: PathBuf,
    /// The account nodes log in with, when the broker asks for one.
    node_login: Option<(String, String)>,
    /// Where the files live.
    _dir: TempDir,
}

/// The access control of an open broker: anyone, anything.
const OPEN: &str = "allow_anonymous true\n";

/// The account NeuralChat nodes log in with on a guarded broker
/// (`examples/mesh/passwords`).
pub const NODE_USER: &str = "neuralchat-node";
/// Its password.
pub const NODE_PASSWORD: &str = "example-node-password-change-me";

/// The broker binary: `$MOSQUITTO`, or Debian's path, or `mosquitto` on PATH.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MOSQUITTO") {
        return PathBuf::from(path);
    }
    let debian = Path::new("/usr/sbin/mosquitto");
    if debian.exists() {
        return debian.to_path_buf();
    }
    PathBuf::from("mosquitto")
}

impl Mosquitto {
    /// Starts an open broker (anonymous, no access control) on a free port
    /// and waits until it accepts connections.
    pub async fn start() -> Result<Self> {
        Self::start_with(OPEN, None, None, false).await
    }

    /// Starts a broker guarded as `examples/mesh` ships it: nodes log in
    /// ([`NODE_USER`]), anonymous clients are confined by the ACL to their
    /// own session's topics.
    pub async fn start_guarded() -> Result<Self> {
        let examples = crate::bin::workspace_root().join("examples/mesh");
        let access = format!(
            "allow_anonymous true\npassword_file {}\nacl_file {}\n",
            examples.join("passwords").display(),
            examples.join("acl").display()
        );
        let login = (NODE_USER.to_string(), NODE_PASSWORD.to_string());
        Self::start_with(&access, Some(login), None, false).await
    }

    /// Starts a broker whose only listener is TLS, with the server
    /// certificate of `certs` (clients are not asked for a certificate);
    /// [`Mosquitto::url`] is then `ssl://127.0.0.1:PORT`.
    pub async fn start_tls(certs: &TestCerts) -> Result<Self> {
        Self::start_with(OPEN, None, Some(certs), false).await
    }

    /// Like [`Mosquitto::start_tls`], but every client must present a
    /// certificate signed by the CA of `certs` (`require_certificate true`).
    pub async fn start_tls_client_certs(certs: &TestCerts) -> Result<Self> {
        Self::start_with(OPEN, None, Some(certs), true).await
    }

    /// Starts a broker with `access` (its access-control lines), the
    /// account nodes log in with, and optionally a TLS listener.
    async fn start_with(
        access: &str,
        node_login: Option<(String, String)>,
        certs: Option<&TestCerts>,
        client_certs: bool,
    ) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("nc-mosquitto-")
            .tempdir()
            .context("creating the broker's temp dir")?;
        let port = free_port();
        let config = dir.path().join("mosquitto.conf");
        let log = dir.path().join("mosquitto.log");
        // No persistence: a killed broker forgets its sessions, the worst case.
        let mut text = format!(
            "listener {port} 127.0.0.1\n{access}set_tcp_nodelay true\n\
             persistence false\nmax_queued_messages 100000\nlog_dest stderr\n"
        );
        if let Some(certs) = certs {
            text.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {client_certs}\n",
                certs.ca.display(),
                certs.server_cert.display(),
                certs.server_key.display()
            ));
        }
        std::fs::write(&config, text).context("writing mosquitto.conf")?;
        let mut broker = Self {
            child: None,
            tls: certs.is_some(),
            port,
            config,
            log,
            node_login,
            _dir: dir,
        };
        broker.restart().await?;
        Ok(broker)
    }

    /// `tcp://127.0.0.1:PORT`, or `ssl://127.0.0.1:PORT` for a TLS broker.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "ssl" } else { "tcp" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's process id while it runs (for the benches' CPU and
    /// pinning).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref()?.id()
    }

    /// The user name and password nodes log in with, if the broker asks.
    pub fn node_login(&self) -> Option<(&str, &str)> {
        self.node_login
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// Kills the broker with SIGKILL (a crash) and waits for it.
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("killing mosquitto")?;
        }
        Ok(())
    }

    /// Starts the broker (again) on its port and waits until it accepts
    /// connections.
    pub async fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("mosquitto is already running");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .context("opening mosquitto.log")?;
        let child = Command::new(binary())
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("starting mosquitto (apt-get install mosquitto)")?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    return Err(anyhow!("mosquitto exited ({status}):\n{}", self.log_text()));
                }
            }
            if started.elapsed() > DEFAULT_DEADLINE {
                bail!(
                    "mosquitto did not listen on {} in time:\n{}",
                    self.port,
                    self.log_text()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The broker's log so far.
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }
}
