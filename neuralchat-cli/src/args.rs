//! Command-line arguments. The options that apply to every command
//! (`--server`, `--mqtt`, `--ca`, `--embedded`, `--json`, `--timeout`) are global: they may
//! come before or after the subcommand.

use crate::endpoint;
use clap::{Args, Parser, Subcommand};
use std::time::Duration;

/// How long to wait for each answer when `--timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The heading of the global options in every `--help`, below the
/// subcommand's own options.
const GLOBAL: &str = "Global options";

/// NeuralChat command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "neuralchat-cli",
    version,
    about = "NeuralChat command-line client: scriptable commands and interactive chat",
    after_help = "\
Password: `register` and `login` read it from NEURALCHAT_PASSWORD, or one line of stdin with --password-stdin.
Log-in: the token is kept in $NEURALCHAT_HOME/session.json (default: <config dir>/neuralchat).
Rooms: only `join ROOM` (or --create on `send` and `chat`) creates a room; reading never does.
Exit status: 0 ok, 1 refused by the server (or a local error), 2 bad usage, 3 no server reachable or connection lost, 4 timed out, 130 interrupted (Ctrl-C).
Errors are printed on stderr as `error: <code>: <message>`."
)]
pub struct Cli {
    /// Server to use: ws://host:port/ws, http://host:port or host:port.
    /// Repeat (or separate with commas) for failover: tried in order.
    #[arg(
        long = "server",
        value_name = "URL",
        global = true,
        help_heading = GLOBAL,
        env = "NEURALCHAT_SERVER",
        value_delimiter = ',',
        default_value = endpoint::DEFAULT_SERVER,
        value_parser = endpoint::normalize
    )]
    pub servers: Vec<String>,

    /// Talk to the nodes through this MQTT broker instead of a server's
    /// WebSocket: mqtt://host:port (or tcp://, or host:port; port 1883 by
    /// default), or mqtts:// (or ssl://) for TLS (port 8883 by default).
    /// Repeat (or separate with commas) for failover: tried in order.
    /// Replaces --server.
    #[arg(
        long = "mqtt",
        value_name = "URL",
        global = true,
        help_heading = GLOBAL,
        env = "NEURALCHAT_MQTT",
        value_delimiter = ',',
        value_parser = endpoint::normalize_broker,
        conflicts_with = "embedded"
    )]
    pub brokers: Vec<String>,

    /// A CA certificate (PEM) to trust for wss:// and https:// servers,
    /// besides the system's; for mqtts:// and ssl:// brokers, the only CA
    /// trusted. Certificates are always verified.
    #[arg(
        long,
        value_name = "FILE",
        global = true,
        help_heading = GLOBAL,
        env = "NEURALCHAT_CA"
    )]
    pub ca: Option<std::path::PathBuf>,

    /// Run the engine in this process on this database (a SQLite path or a
    /// database URL) instead of connecting to a server.
    #[arg(long, value_name = "DB", global = true, help_heading = GLOBAL)]
    pub embedded: Option<String>,

    /// Print one JSON object per line on stdout.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,

    /// Seconds to wait for the server: for each answer, and for each piece
    /// of a bot's reply that `send` waits for [default: 10]. `tail` stops
    /// after SECS only when --timeout is given.
    #[arg(
        long,
        value_name = "SECS",
        global = true,
        help_heading = GLOBAL,
        value_parser = parse_secs
    )]
    pub timeout: Option<Duration>,

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
    /// Post a message to an existing room (joining it if needed) and print
    /// it; when it asks an AI bot ("Olga, ..."), wait for the reply and
    /// print it as it streams.
    #[command(
        after_help = "Text starting with `/` runs a command and prints its output (`//` sends a literal `/`).\n\
                      `@bob` as ROOM is the direct conversation with bob.\n\
                      Waiting for a bot's reply ends at its last piece, at an error for it (bot_busy, token_budget_spent: exit 1), \
                      at --timeout without a new piece (exit 4) or at Ctrl-C (exit 0); the reply lands in the room all the same."
    )]
    Send {
        /// The room.
        room: String,
        /// The message (several words are joined with spaces).
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        /// Create the room when it does not exist (otherwise that is an error).
        #[arg(long)]
        create: bool,
        /// Do not wait for a bot's reply.
        #[arg(long)]
        no_wait: bool,
    },
    /// Print a room's history, oldest first.
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
    /// Print a room's live events as they arrive, until Ctrl-C, --count
    /// events or --timeout seconds.
    Tail {
        /// The room.
        room: String,
        /// Stop after this many events; failing (exit 4) if --timeout comes first.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
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
    /// Chat interactively in an existing room: lines from stdin are sent,
    /// events are printed; /help lists the commands, /quit leaves.
    Chat {
        /// The room.
        #[arg(default_value = "general")]
        room: String,
        /// Create the room when it does not exist (otherwise that is an error).
        #[arg(long)]
        create: bool,
    },
    /// Print a shell completion script (e.g. `neuralchat-cli completions bash > ~/.local/share/bash-completion/completions/neuralchat-cli`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
        /// The global options, which do not apply here.
        #[command(flatten)]
        unused: NotApplicable,
    },
}

/// The global options again, hidden: a subcommand that has its own
/// argument with a global one's id does not get the global one, so this
/// keeps `--server` and the like out of `completions --help`. Same ids and
/// value types as in [`Cli`] (clap hands the values up to it).
#[derive(Debug, Args)]
pub struct NotApplicable {
    #[arg(long = "server", hide = true, value_delimiter = ',', value_parser = endpoint::normalize)]
    servers: Vec<String>,
    #[arg(long = "mqtt", hide = true, value_delimiter = ',', value_parser = endpoint::normalize_broker)]
    brokers: Vec<String>,
    #[arg(long, hide = true)]
    ca: Option<std::path::PathBuf>,
    #[arg(long, hide = true)]
    embedded: Option<String>,
    #[arg(long, hide = true)]
    json: bool,
    #[arg(long, hide = true, value_parser = parse_secs)]
    timeout: Option<Duration>,
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
    /// The time to wait for each answer.
    pub fn request_timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
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

    fn parse(args: &[&str]) -> Cli {
        let mut full = vec!["neuralchat-cli"];
        full.extend_from_slice(args);
        Cli::try_parse_from(full).unwrap()
    }

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
        let cli = parse(&["--server", "a:1", "--server", "http://b:2", "rooms"]);
        assert_eq!(cli.servers, ["ws://a:1/ws", "ws://b:2/ws"]);
        assert!(Cli::try_parse_from(["neuralchat-cli", "--server", "ftp://x", "rooms"]).is_err());
    }

    #[test]
    fn the_default_server_is_used_and_shown() {
        assert_eq!(parse(&["rooms"]).servers, [endpoint::DEFAULT_SERVER]);
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains(endpoint::DEFAULT_SERVER), "{help}");
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        for args in [
            &[
                "--timeout",
                "3",
                "--json",
                "--server",
                "h:1",
                "history",
                "general",
            ][..],
            &[
                "history",
                "general",
                "--timeout",
                "3",
                "--json",
                "--server",
                "h:1",
            ],
            &[
                "--json",
                "history",
                "--timeout",
                "3",
                "general",
                "--server",
                "h:1",
            ],
        ] {
            let cli = parse(args);
            assert_eq!(cli.timeout, Some(Duration::from_secs(3)), "{args:?}");
            assert_eq!(cli.request_timeout(), Duration::from_secs(3));
            assert!(cli.json, "{args:?}");
            assert_eq!(cli.servers, ["ws://h:1/ws"], "{args:?}");
        }
        assert_eq!(parse(&["rooms"]).request_timeout(), DEFAULT_TIMEOUT);
    }

    #[test]
    fn tail_stops_at_the_timeout() {
        let cli = parse(&["tail", "general", "--count", "2", "--timeout", "1.5"]);
        assert_eq!(cli.timeout, Some(Duration::from_millis(1500)));
        assert!(matches!(cli.command, Command::Tail { count: Some(2), .. }));
    }

    #[test]
    fn send_joins_words_and_takes_its_flags() {
        let cli = parse(&["send", "general", "hello", "world", "--no-wait", "--create"]);
        match cli.command {
            Command::Send {
                room,
                text,
                create,
                no_wait,
            } => {
                assert_eq!(
                    (room.as_str(), text.join(" ")),
                    ("general", "hello world".into())
                );
                assert!(create && no_wait);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["neuralchat-cli", "send", "general"]).is_err());
    }

    #[test]
    fn completions_parse_with_or_without_global_options() {
        let cli = parse(&["completions", "zsh"]);
        assert!(matches!(cli.command, Command::Completions { .. }));
        assert_eq!(cli.servers, [endpoint::DEFAULT_SERVER]);
        parse(&[
            "--json",
            "completions",
            "bash",
            "--timeout",
            "2",
            "--server",
            "h:1",
        ]);
    }

    #[test]
    fn chat_defaults_to_general() {
        let cli = parse(&["chat"]);
        assert!(matches!(cli.command, Command::Chat { room, create: false } if room == "general"));
    }

    #[test]
    fn subcommand_help_shows_only_its_own_options() {
        let mut command = Cli::command();
        command.build();
        let help = |name: &str, command: &mut clap::Command| {
            command
                .find_subcommand_mut(name)
                .map(|c| c.render_long_help().to_string())
                .unwrap_or_default()
        };
        let send = help("send", &mut command);
        assert!(
            send.contains("--no-wait") && send.contains("--create"),
            "{send}"
        );
        assert!(
            !send.contains("--count") && !send.contains("--limit"),
            "{send}"
        );
        let history = help("history", &mut command);
        assert!(
            !history.contains("--no-wait") && !history.contains("--create"),
            "{history}"
        );
        // The global options come after the subcommand's own, under their heading.
        let own = send.find("--no-wait").unwrap();
        let global = send.find("Global options").unwrap();
        assert!(
            own < global && global < send.find("--server").unwrap(),
            "{send}"
        );
        let completions = help("completions", &mut command);
        assert!(!completions.contains("--server"), "{completions}");
        assert!(!completions.contains("--timeout"), "{completions}");
    }
}
