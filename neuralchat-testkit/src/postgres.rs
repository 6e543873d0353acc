//! A throwaway PostgreSQL server for tests.
//!
//! [`PgFixture::start`] creates a cluster in a temporary directory with
//! `initdb`, starts it with `pg_ctl` on a free port of 127.0.0.1 (trust
//! authentication, superuser `postgres`) and waits until it accepts
//! connections. Dropping the fixture stops the server and removes the
//! directory. As root, the server binaries run as the `postgres` user through
//! `runuser`, since `initdb` refuses to run as root.

use crate::port::free_port;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long the server may take to accept connections after `pg_ctl start`.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running, throwaway PostgreSQL server.
#[derive(Debug)]
pub struct PgFixture {
    /// The directory holding the cluster, the socket and the log.
    dir: TempDir,
    /// The directory of the PostgreSQL server binaries.
    bin: PathBuf,
    /// The TCP port on 127.0.0.1.
    port: u16,
    /// Whether the binaries run through `runuser -u postgres`.
    as_postgres: bool,
}

/// The highest-versioned `/usr/lib/postgresql/<N>/bin` that holds `initdb`.
fn find_bin_dir() -> Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut best: Option<(u32, PathBuf)> = None;
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(version) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let bin = entry.path().join("bin");
            let usable = bin.join("initdb").is_file() && bin.join("pg_ctl").is_file();
            if usable && best.as_ref().is_none_or(|(v, _)| version > *v) {
                best = Some((version, bin));
            }
        }
    }
    match best {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb): \
             install postgresql (e.g. apt-get install -y postgresql) to run the PostgreSQL tests"
        ),
    }
}

/// Whether this process runs as root.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The output's stdout and stderr, for error messages.
fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

impl PgFixture {
    /// Creates, starts and waits for a fresh PostgreSQL cluster.
    ///
    /// Fails with a message saying to install postgresql when the server
    /// binaries are missing.
    pub fn start() -> Result<PgFixture> {
        let bin = find_bin_dir()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("nc-pg-")
            .tempdir()
            .context("creating the PostgreSQL temp dir")?;
        if as_postgres {
            let out = Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path())
                .output()
                .context("running chown")?;
            if !out.status.success() {
                bail!(
                    "chown postgres {} failed: {}",
                    dir.path().display(),
                    describe(&out)
                );
            }
        }
        let port = free_port();
        let fixture = PgFixture {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = fixture.data_dir();
        let out = fixture
            .server_command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .output()
            .context("running initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", describe(&out));
        }
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            fixture.dir.path().display()
        );
        let log = fixture.log_path();
        let out = fixture
            .server_command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(&options)
            .arg("-l")
            .arg(&log)
            .arg("start")
            .output()
            .context("running pg_ctl start")?;
        if !out.status.success() {
            bail!(
                "pg_ctl start failed: {}\nserver log:\n{}",
                describe(&out),
                fixture.log_text()
            );
        }
        fixture.wait_ready()?;
        Ok(fixture)
    }

    /// A command for one of the server binaries, run as `postgres` when root.
    fn server_command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    /// The cluster's data directory.
    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log file.
    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The server's log so far (empty if it cannot be read).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Polls `psql -c 'select 1'` until it succeeds or the deadline passes.
    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            match self.psql_in("postgres", "select 1") {
                Ok(out) if out.trim() == "1" => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Ok(out) => bail!("PostgreSQL answered {out:?} to select 1"),
                Err(e) => bail!(
                    "PostgreSQL did not accept connections within {START_DEADLINE:?}: {e:#}\nserver log:\n{}",
                    self.log_text()
                ),
            }
        }
    }

    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the `postgres` database: `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of the database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `sql` with psql in the `postgres` database; returns the unaligned,
    /// tuples-only output (one row a line, columns separated by `|`).
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.psql_in("postgres", sql)
    }

    /// Runs `sql` with psql in database `database`; returns the unaligned,
    /// tuples-only output (one row a line, columns separated by `|`).
    pub fn psql_in(&self, database: &str, sql: &str) -> Result<String> {
        let psql = self.bin.join("psql");
        let program = if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let out = Command::new(program)
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", database, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("psql {sql:?} failed: {}", describe(&out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates a fresh database `name` (letters, digits and `_` only) and
    /// returns its URL, so each test can have its own.
    pub fn create_database(&self, name: &str) -> Result<String> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            bail!("database name {name:?} must be 1-63 letters, digits or _, not starting with a digit");
        }
        self.psql(&format!("CREATE DATABASE \"{name}\""))?;
        Ok(self.database_url(name))
    }
}

impl PgFixture {
    /// Stops the server at once (an outage; the fixture cannot restart it).
    pub fn stop_server(&self) -> Result<()> {
        let out = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .context("running pg_ctl stop")?;
        if !out.status.success() {
            bail!("pg_ctl stop failed: {}", describe(&out));
        }
        Ok(())
    }
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        let _ = self.stop_server();
        // The TempDir removes the directory when it drops, after this.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_and_creates_databases() {
        let pg = PgFixture::start().unwrap();
        assert_eq!(pg.psql("select 1").unwrap().trim(), "1");
        assert!(pg.url().starts_with("postgres://postgres@127.0.0.1:"));
        let url = pg.create_database("testkit_db").unwrap();
        assert!(url.ends_with("/testkit_db"));
        assert_eq!(
            pg.psql_in("testkit_db", "select 40 + 2").unwrap().trim(),
            "42"
        );
        assert!(pg.create_database("bad-name").is_err());
        let dir = pg.dir.path().to_path_buf();
        drop(pg);
        assert!(!dir.exists());
    }
}
