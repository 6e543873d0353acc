//! Server configuration: defaults < `neuralchat.toml` (or `--config FILE`)
//! < `NEURALCHAT_*` environment (nested keys joined by `__`) < flags.

use crate::tls::TlsConfig;
use clap::Parser;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use neuralchat_core::bots::BotConfig;
use neuralchat_core::config::{
    AccountsConfig, HistoryConfig, LimitsConfig, NodeConfig, StoreConfig,
};
use neuralchat_core::EngineConfig;
use neuralchat_mesh::MeshConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Command-line flags; each overrides the matching config key.
#[derive(Debug, Parser)]
#[command(
    name = "neuralchat-server",
    version,
    about = "NeuralChat server: WebSocket, REST API, history"
)]
pub struct Args {
    /// Config file (default: ./neuralchat.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (key `bind`).
    #[arg(long, value_name = "HOST:PORT")]
    pub bind: Option<String>,
    /// Database URL: sqlite://PATH, a file path, or postgres://... (key `database`).
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// This node's id (key `node.id`).
    #[arg(long, value_name = "ID")]
    pub node_id: Option<String>,
    /// Log format: terminal or json (key `log.format`).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Terminal,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// terminal or json.
    pub format: LogFormat,
    /// The lowest level written: trace, debug, info, warning, error, critical.
    pub level: String,
    /// Whether audit records include message bodies.
    pub bodies: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Terminal,
            level: "info".into(),
            bodies: false,
        }
    }
}

/// The whole server configuration, as in `neuralchat.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: String,
    /// Database URL.
    pub database: String,
    /// Logging.
    pub log: LogConfig,
    /// Node identity.
    pub node: NodeConfig,
    /// Passwords and tokens.
    pub accounts: AccountsConfig,
    /// Sizes and rates.
    pub limits: LimitsConfig,
    /// History sizes.
    pub history: HistoryConfig,
    /// Database workers.
    pub store: StoreConfig,
    /// Server admins (user names): every permission in every room.
    pub admins: Vec<String>,
    /// AI bots (`[[bots]]`).
    pub bots: Vec<BotConfig>,
    /// The mesh: other nodes, through MQTT brokers (`[mesh]`, `[[mesh.brokers]]`).
    pub mesh: MeshConfig,
    /// Who may open WebSockets (`[websocket]`).
    pub websocket: WebSocketConfig,
    /// HTTPS and WSS (`[tls]`: `cert` and `key`, PEM files); plain HTTP without it.
    pub tls: Option<TlsConfig>,
}

/// WebSocket upgrade and heartbeat settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketConfig {
    /// Origins (`https://chat.example.org`) whose pages may open a
    /// WebSocket; empty (the default) allows any. Clients that send no
    /// `Origin` header (not browsers) are always allowed.
    pub allowed_origins: Vec<String>,
    /// Seconds between the server's pings (the first goes out at connect).
    pub ping_secs: u64,
    /// A client that sends nothing, not even a pong, for this many seconds
    /// is closed with 1001.
    pub silence_secs: u64,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            ping_secs: 30,
            silence_secs: 90,
        }
    }
}

impl WebSocketConfig {
    fn validate(&self) -> Result<(), String> {
        if self.ping_secs == 0 {
            return Err("websocket.ping_secs: must be at least 1".into());
        }
        if self.silence_secs <= self.ping_secs {
            return Err(format!(
                "websocket.silence_secs: must be more than websocket.ping_secs ({})",
                self.ping_secs
            ));
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            database: "sqlite://neuralchat.db".into(),
            log: LogConfig::default(),
            node: NodeConfig::default(),
            accounts: AccountsConfig::default(),
            limits: LimitsConfig::default(),
            history: HistoryConfig::default(),
            store: StoreConfig::default(),
            admins: Vec::new(),
            bots: vec![BotConfig::olga()],
            mesh: MeshConfig::default(),
            websocket: WebSocketConfig::default(),
            tls: None,
        }
    }
}

/// Top-level keys the environment may set; other `NEURALCHAT_*` variables
/// (the CLI's `NEURALCHAT_HOME`, `NEURALCHAT_PASSWORD`, ...) are not ours.
const SECTIONS: &[&str] = &[
    "bind",
    "database",
    "log",
    "node",
    "accounts",
    "limits",
    "history",
    "store",
    "admins",
    "bots",
    "mesh",
    "websocket",
    "tls",
];

/// The configuration file read when `--config` is not given, if it exists
/// in the working directory.
const DEFAULT_FILE: &str = "neuralchat.toml";

/// `NEURALCHAT_*` variables other tools of this project read: not the
/// server's, and not worth a warning.
const OTHER_TOOLS: &[&str] = &[
    // The CLI's.
    "home",
    "password",
    "server",
    "mqtt",
    "ca",
    // The scripts', examples' and benches'.
    "cache",
    "server_bin",
    "cli_bin",
    "mesh_dir",
    "example_timeout",
    "bot_url",
    "bot_backend",
    "bot_model",
    "bench_bare_server",
];

/// The `NEURALCHAT_*` variables in the environment that name no section of
/// the server's configuration (a misspelt section, say) and are ignored.
pub fn ignored_env_vars() -> Vec<String> {
    ignored(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))
}

/// The names among `names` that start with `NEURALCHAT_` and are neither
/// the server's nor another tool's.
fn ignored(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut ignored: Vec<String> = names
        .filter(|name| {
            name.strip_prefix("NEURALCHAT_").is_some_and(|key| {
                !ours(key) && !OTHER_TOOLS.contains(&key.to_ascii_lowercase().as_str())
            })
        })
        .collect();
    ignored.sort();
    ignored
}

fn ours(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECTIONS
        .iter()
        .any(|s| key == *s || key.starts_with(&format!("{s}__")))
}

impl ServerConfig {
    /// Loads the configuration from every source, in order of precedence.
    pub fn load(args: &Args) -> Result<Self, String> {
        let mut figment = Figment::from(Serialized::defaults(ServerConfig::default()));
        match &args.config {
            Some(path) if !path.exists() => {
                return Err(format!("config file {} does not exist", path.display()))
            }
            // `file_exact`: `Toml::file` would also search every parent
            // directory and read the first `neuralchat.toml` it met.
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_FILE).is_file() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_FILE));
            }
            None => {}
        }
        figment = figment.merge(
            Env::prefixed("NEURALCHAT_")
                .filter(|k| ours(k.as_str()))
                .split("__"),
        );
        let flags = [
            ("bind", &args.bind),
            ("database", &args.database),
            ("node.id", &args.node_id),
            ("log.format", &args.log_format),
        ];
        for (key, value) in flags {
            if let Some(value) = value {
                figment = figment.merge(Serialized::default(key, value));
            }
        }
        let config: ServerConfig = figment.extract().map_err(|e| {
            e.into_iter()
                // figment names keys with their profile ("default.limits...");
                // name them as the user writes them.
                .map(|e| e.to_string().replace("\"default.", "\""))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        config.engine().validate()?;
        config.mesh.validate()?;
        config.websocket.validate()?;
        if config.mesh.enabled() && config.node.id.is_none() {
            return Err("node.id: a stable node id is required once mesh.brokers are set".into());
        }
        if let Some(tls) = &config.tls {
            for (key, path) in [("cert", &tls.cert), ("key", &tls.key)] {
                if path.as_os_str().is_empty() {
                    return Err(format!("tls.{key}: the path of a PEM file is needed"));
                }
            }
        }
        if config.log.level.parse::<slog::Level>().is_err() {
            return Err(format!(
                "log.level {:?} is not a level (trace, debug, info, warning, error, critical)",
                config.log.level
            ));
        }
        if config.bind.parse::<std::net::SocketAddr>().is_err() && !config.bind.contains(':') {
            return Err(format!("bind {:?} is not HOST:PORT", config.bind));
        }
        Ok(config)
    }

    /// The engine's part of the configuration.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            node: self.node.clone(),
            accounts: self.accounts.clone(),
            limits: self.limits.clone(),
            history: self.history.clone(),
            store: self.store.clone(),
            log_bodies: self.log.bodies,
            admins: self.admins.clone(),
            bots: self.bots.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["neuralchat-server"];
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    #[test]
    fn variables_naming_no_section_are_listed_as_ignored() {
        let names = [
            "NEURALCHAT_LIMITS__MAX_FRAME_BYTES",
            "NEURALCHAT_LIMIT__MAX_FRAME_BYTES",
            "NEURALCHAT_HOME",
            "NEURALCHAT_BIND",
            "NEURALCHAT_DATABSE",
            "PATH",
        ]
        .map(String::from);
        assert_eq!(
            ignored(names.into_iter()),
            ["NEURALCHAT_DATABSE", "NEURALCHAT_LIMIT__MAX_FRAME_BYTES"]
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure returns figment::Error.
    fn the_default_file_is_read_from_the_working_directory_only() {
        figment::Jail::expect_with(|jail| {
            // A bad file one directory up is not read.
            jail.create_file("neuralchat.toml", "[limitz]\nx = 1\n")?;
            jail.create_dir("below")?;
            jail.change_dir("below")?;
            let config = ServerConfig::load(&args(&[])).map_err(|e| e.to_string())?;
            assert_eq!(config.bind, ServerConfig::default().bind);
            jail.create_file("neuralchat.toml", "bind = \"127.0.0.1:9999\"\n")?;
            let config = ServerConfig::load(&args(&[])).map_err(|e| e.to_string())?;
            assert_eq!(config.bind, "127.0.0.1:9999");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure returns figment::Error.
    fn layers_in_order_and_names_bad_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "bind = \"127.0.0.1:9000\"\n[limits]\nmax_message_chars = 100\n",
            )?;
            jail.set_env("NEURALCHAT_LIMITS__MAX_MESSAGE_CHARS", "200");
            jail.set_env("NEURALCHAT_HOME", "/elsewhere");
            let config =
                ServerConfig::load(&args(&["--config", "c.toml", "--bind", "127.0.0.1:9100"]))
                    .map_err(figment::Error::from)?;
            assert_eq!(config.bind, "127.0.0.1:9100");
            assert_eq!(config.limits.max_message_chars, 200);
            assert_eq!(config.accounts.bcrypt_cost, 12);

            jail.set_env("NEURALCHAT_LIMITS__MAX_FRAME_BYTES", "lots");
            let err = ServerConfig::load(&args(&[])).unwrap_err();
            assert!(
                err.to_lowercase().contains("\"limits.max_frame_bytes\""),
                "{err}"
            );
            assert!(!err.contains("default."), "{err}");

            jail.set_env("NEURALCHAT_LIMITS__MAX_FRAME_BYTES", "4096");
            jail.create_file("neuralchat.toml", "[limitz]\nx = 1\n")?;
            let err = ServerConfig::load(&args(&[])).unwrap_err();
            assert!(err.contains("limitz"), "{err}");

            jail.create_file("neuralchat.toml", "[accounts]\nbcrypt_cost = 99\n")?;
            let err = ServerConfig::load(&args(&[])).unwrap_err();
            assert!(err.contains("accounts.bcrypt_cost"), "{err}");

            jail.create_file("neuralchat.toml", "")?;
            assert_eq!(
                ServerConfig::load(&args(&[]))
                    .map_err(figment::Error::from)?
                    .tls,
                None
            );
            jail.create_file(
                "neuralchat.toml",
                "[tls]\ncert = \"/etc/c.pem\"\nkey = \"/etc/k.pem\"\n",
            )?;
            let tls = ServerConfig::load(&args(&[]))
                .map_err(figment::Error::from)?
                .tls;
            assert_eq!(
                tls,
                Some(TlsConfig {
                    cert: "/etc/c.pem".into(),
                    key: "/etc/k.pem".into()
                })
            );
            jail.set_env("NEURALCHAT_TLS__KEY", "/env/k.pem");
            let tls = ServerConfig::load(&args(&[]))
                .map_err(figment::Error::from)?
                .tls;
            assert_eq!(tls.map(|t| t.key), Some("/env/k.pem".into()));
            jail.set_env("NEURALCHAT_TLS__KEY", "");
            let err = ServerConfig::load(&args(&[])).unwrap_err();
            assert!(err.starts_with("tls.key"), "{err}");
            Ok(())
        });
    }
}
