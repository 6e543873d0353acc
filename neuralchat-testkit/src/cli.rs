//! The `neuralchat-cli` binary as a child process, with its own home directory
//! (`NEURALCHAT_HOME`).

use crate::bin::find_binary;
use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

/// How long a plain [`Cli::run`] may take.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// What a finished CLI run printed.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

impl CliOutput {
    /// Whether the process exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The non-empty stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

impl std::fmt::Display for CliOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs the CLI binary with `NEURALCHAT_HOME` set to one directory.
#[derive(Debug, Clone)]
pub struct Cli {
    /// The binary.
    binary: PathBuf,
    /// The `NEURALCHAT_HOME` directory.
    home: PathBuf,
    /// Environment variables for every run.
    env: Vec<(String, String)>,
}

impl Cli {
    /// A CLI whose home (config, saved token) is `home`. Fails if the binary is
    /// not built (`NEURALCHAT_CLI_BIN`, else `target/debug/neuralchat-cli`).
    pub fn new(home: impl AsRef<Path>) -> Result<Cli> {
        let binary = find_binary("neuralchat-cli", "NEURALCHAT_CLI_BIN")?;
        let home = home.as_ref().to_path_buf();
        std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        Ok(Cli {
            binary,
            home,
            env: Vec::new(),
        })
    }

    /// Sets an environment variable for every later run.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The command with the home, the standing env and `extra_env` applied.
    /// `NEURALCHAT_PASSWORD` and `NEURALCHAT_SERVER` from the test's own
    /// environment are not passed on.
    fn command(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(args)
            .env_remove("NEURALCHAT_PASSWORD")
            .env_remove("NEURALCHAT_SERVER")
            .env("NEURALCHAT_HOME", &self.home)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra_env.iter().copied())
            .current_dir(&self.home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs the CLI with `args` to completion (60 s deadline).
    pub async fn run(&self, args: &[&str]) -> Result<CliOutput> {
        self.run_with_env(args, &[]).await
    }

    /// Runs the CLI with `args` and extra environment variables (e.g.
    /// `NEURALCHAT_PASSWORD`) to completion (60 s deadline).
    pub async fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<CliOutput> {
        let child = self
            .command(args, env)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        finish(child, args).await
    }

    /// Runs the CLI with `args` and `input` on its stdin (a pipe, closed
    /// after it; e.g. lines for `chat`) to completion (60 s deadline).
    pub async fn run_with_stdin(&self, args: &[&str], input: &str) -> Result<CliOutput> {
        let mut child = self
            .command(args, &[])
            .stdin(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .await
                .context("writing the CLI's stdin")?;
        }
        finish(child, args).await
    }

    /// Starts the CLI with `args` (e.g. `tail`) and returns the running child,
    /// whose stdout can be read line by line.
    pub fn spawn(&self, args: &[&str]) -> Result<CliChild> {
        self.spawn_with_env(args, &[])
    }

    /// Starts the CLI with `args` and extra environment variables.
    pub fn spawn_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<CliChild> {
        let mut child = self
            .command(args, env)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the child has no stdout pipe"))?;
        let mut stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow!("the child has no stderr pipe"))?;
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr_text);
        let stderr_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut text) = sink.lock() {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Ok(CliChild {
            child,
            stdout: BufReader::new(stdout).lines(),
            seen: Vec::new(),
            stderr: stderr_text,
            stderr_task: Some(stderr_task),
        })
    }
}

/// A running CLI process. Dropping it kills the process.
#[derive(Debug)]
pub struct CliChild {
    /// The process.
    child: Child,
    /// Its stdout, line by line.
    stdout: Lines<BufReader<ChildStdout>>,
    /// The stdout lines read so far.
    seen: Vec<String>,
    /// Its stderr so far.
    stderr: Arc<Mutex<String>>,
    /// The task copying stderr.
    stderr_task: Option<JoinHandle<()>>,
}

impl CliChild {
    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// The next stdout line within `deadline`; `None` at the end of stdout.
    pub async fn next_line(&mut self, deadline: Duration) -> Result<Option<String>> {
        let line = tokio::time::timeout(deadline, self.stdout.next_line())
            .await
            .map_err(|_| {
                anyhow!(
                    "no stdout line within {deadline:?}; stdout so far: {:?}; stderr so far: {:?}",
                    self.seen,
                    self.stderr_text()
                )
            })??;
        if let Some(line) = &line {
            self.seen.push(line.clone());
        }
        Ok(line)
    }

    /// Stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits (up to `deadline`) for the process to exit and returns everything
    /// it printed (stdout lines already read included).
    pub async fn wait(mut self, deadline: Duration) -> Result<CliOutput> {
        let work = async {
            let mut rest = Vec::new();
            while let Some(line) = self.stdout.next_line().await? {
                rest.push(line);
            }
            let status = self.child.wait().await?;
            if let Some(task) = self.stderr_task.take() {
                let _ = task.await;
            }
            anyhow::Ok((rest, status))
        };
        let (rest, status) = match tokio::time::timeout(deadline, work).await {
            Ok(result) => result?,
            Err(_) => {
                let _ = self.child.start_kill();
                return Err(anyhow!(
                    "neuralchat-cli did not exit within {deadline:?}; stdout so far: {:?}; stderr: {:?}",
                    self.seen,
                    self.stderr_text()
                ));
            }
        };
        let mut stdout = String::new();
        for line in self.seen.iter().chain(rest.iter()) {
            stdout.push_str(line);
            stdout.push('\n');
        }
        Ok(CliOutput {
            status,
            stdout,
            stderr: self.stderr_text(),
        })
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub async fn kill(&mut self) -> Result<()> {
        self.child.kill().await.context("killing neuralchat-cli")
    }
}

/// Waits (60 s deadline) for a CLI run with `args` to end and collects
/// its output.
async fn finish(child: tokio::process::Child, args: &[&str]) -> Result<CliOutput> {
    let out = tokio::time::timeout(RUN_DEADLINE, child.wait_with_output())
        .await
        .map_err(|_| anyhow!("neuralchat-cli {args:?} did not finish within {RUN_DEADLINE:?}"))??;
    Ok(CliOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
