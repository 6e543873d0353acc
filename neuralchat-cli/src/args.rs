//! Command-line arguments.

use crate::endpoint;
use clap::{Args, Parser, Subcommand};
use std::time::Duration;

/// NeuralChat command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "neuralchat-cli",
    version,
    about = "NeuralChat command-line client: scriptable commands and interactive chat",
    after_help = "\
Password: `register` and `login` read it from NEURALCHAT_PASSWORD, or one line of stdin with --password-stdin.
Log-in: the token is kept in $NEURALCHAT_HOME/session.json (default: <config dir>/neuralchat).
Exit status: 0 success, 1 error from the server or local error, 2 usage, 3 no server reachable or connection lost, 4 timeout.
Errors are printed on stderr as `error: <code>: <message>`."
)]
pub struct Cli {
    /// Server to use: ws://host:port/ws, http://host:port or host:port.
    /// Repeat (or separate with commas) for failover: tried in order.
    #[arg(
        long = "server",
        value_name = "URL",
        global = true,
        env = "NEURALCHAT_SERVER",
        value_delimiter = ',',
        value_parser = endpoint::normalize
    )]
    pub servers: Vec<String>,

    /// Run the engine in this process on this database (a SQLite path or a
    /// database URL) instead of connecting to a server.
    #[arg(long, value_name = "DB", global = true)]
    pub embedded: Option<String>,

    /// Print one JSON object per line on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// Seconds to wait for each answer (give it before the subcommand).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub timeout: Duration,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account.
    Register(Credentials),
    /// Log in and keep the token for later commands.
    Login(Credentials),
    /// Revoke the stored token and forget it.
    Logout,
    /// Post a message to a room (joining it first).
    Send {
        /// The room.
        room: String,
        /// The message.
        text: String,
    },
    /// Print a room's history, oldest first (joining it first).
    History {
        /// The room.
        room: String,
        /// At most this many events.
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Only events older than this event id.
        #[arg(long, value_name = "ID")]
        before: Option<String>,
    },
    /// Print a room's live events as they arrive (joining it first).
    Tail {
        /// The room.
        room: String,
        /// Stop after this many events; failing if the timeout comes first.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Stop after this many seconds (successfully, unless --count is given).
        #[arg(long, value_name = "SECS", value_parser = parse_secs)]
        timeout: Option<Duration>,
    },
    /// Join a room, creating it when it does not exist.
    Join {
        /// The room.
        room: String,
    },
    /// Leave a room.
    Leave {
        /// The room.
        room: String,
    },
    /// List the rooms.
    Rooms,
    /// List your unread mentions (they are marked read).
    Mentions,
    /// List a room's members.
    Who {
        /// The room.
        room: String,
    },
    /// Chat interactively: lines from stdin are sent, events are printed.
    Chat {
        /// The room.
        #[arg(default_value = "general")]
        room: String,
    },
}

/// A user name; the password comes from the environment or stdin.
#[derive(Debug, Args)]
pub struct Credentials {
    /// The user name.
    pub name: String,
    /// Read the password from the first line of stdin (instead of NEURALCHAT_PASSWORD).
    #[arg(long)]
    pub password_stdin: bool,
}

impl Cli {
    /// The servers to try, in order: the given ones, or the default.
    pub fn server_list(&self) -> Vec<String> {
        if self.servers.is_empty() {
            vec![endpoint::DEFAULT_SERVER.to_string()]
        } else {
            self.servers.clone()
        }
    }
}

/// Parses a positive number of seconds (fractions allowed).
pub fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(format!("{text:?}: give a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_seconds() {
        assert_eq!(parse_secs("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_secs("0.5").unwrap(), Duration::from_millis(500));
        for bad in ["0", "-1", "x", "inf", "NaN"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalises_and_orders_servers() {
        let cli = Cli::try_parse_from([
            "neuralchat-cli",
            "--server",
            "a:1",
            "--server",
            "http://b:2",
            "rooms",
        ])
        .unwrap();
        assert_eq!(cli.server_list(), ["ws://a:1/ws", "ws://b:2/ws"]);
        assert!(Cli::try_parse_from(["neuralchat-cli", "--server", "ftp://x", "rooms"]).is_err());
    }

    #[test]
    fn tail_has_its_own_timeout() {
        let cli = Cli::try_parse_from([
            "neuralchat-cli",
            "--timeout",
            "3",
            "tail",
            "general",
            "--count",
            "2",
            "--timeout",
            "1.5",
            "--json",
        ])
        .unwrap();
        assert_eq!(cli.timeout, Duration::from_secs(3));
        assert!(cli.json);
        match cli.command {
            Command::Tail { count, timeout, .. } => {
                assert_eq!(count, Some(2));
                assert_eq!(timeout, Some(Duration::from_millis(1500)));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn chat_defaults_to_general() {
        let cli = Cli::try_parse_from(["neuralchat-cli", "chat"]).unwrap();
        assert!(matches!(cli.command, Command::Chat { room } if room == "general"));
    }
}
