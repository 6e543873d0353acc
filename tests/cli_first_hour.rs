#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Issue 10, "the first hour": what a new user meets with the CLI against a
//! real server. `send` shows the message and waits for the bot it asks;
//! reading never creates a room; the CLI closes its connections cleanly;
//! every path prints an event the same way; options go anywhere.

use neuralchat_testkit::{free_port, Cli, CliOutput, LlamaServer, ServerOptions, ServerProcess};
use serde_json::Value;
use std::time::Duration;
use tempfile::TempDir;

const PASSWORD: &str = "alice-password";

/// A server whose bots never need a model: Olga's model server is not
/// there (she answers at once that she is unavailable), and Slowa's
/// accepts connections and never answers (she starts a reply and hangs).
struct Setup {
    server: ServerProcess,
    url: String,
    alice: Cli,
    _dir: TempDir,
}

/// Accepts connections on a port of 127.0.0.1 and never answers them.
async fn silent_model_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    port
}

async fn setup() -> Setup {
    let dir = TempDir::new().unwrap();
    let config = format!(
        r#"
[[bots]]
name = "Olga"
aliases = ["Ольга"]
backend = "openai"
url = "http://127.0.0.1:{dead}"
model = "none"
system_prompt = "You are Olga."
timeout_secs = 30

[[bots]]
name = "Slowa"
backend = "openai"
url = "http://127.0.0.1:{silent}"
model = "none"
system_prompt = "You are slow."
per_user_queue = 1
timeout_secs = 120
"#,
        dead = free_port(),
        silent = silent_model_server().await,
    );
    let path = dir.path().join("neuralchat.toml");
    let server = ServerProcess::start(
        ServerOptions::new()
            .relaxed_limits()
            .config_file(&path, &config)
            .unwrap(),
    )
    .await
    .unwrap();
    let url = server.ws_url();
    let alice = Cli::new(dir.path().join("alice")).unwrap();
    let setup = Setup {
        server,
        url,
        alice,
        _dir: dir,
    };
    let pw = [("NEURALCHAT_PASSWORD", PASSWORD)];
    for args in [&["register", "alice"][..], &["login", "alice"]] {
        let out = setup.run_env(args, &pw).await;
        assert!(out.success(), "{args:?}: {out}");
    }
    setup
}

impl Setup {
    /// Runs alice's CLI against the server (`--server` first).
    async fn run(&self, args: &[&str]) -> CliOutput {
        self.run_env(args, &[]).await
    }

    async fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
        let mut full = vec!["--server", self.url.as_str()];
        full.extend_from_slice(args);
        self.alice.run_with_env(&full, env).await.unwrap()
    }

    /// Like [`Setup::run`], but the command must succeed.
    async fn ok(&self, args: &[&str]) -> CliOutput {
        let out = self.run(args).await;
        assert!(out.success(), "neuralchat-cli {args:?} failed: {out}");
        out
    }

    /// Runs `chat` with `input` on its stdin (a pipe).
    async fn chat(&self, args: &[&str], input: &str) -> CliOutput {
        let mut full = vec!["--server", self.url.as_str(), "chat"];
        full.extend_from_slice(args);
        self.alice.run_with_stdin(&full, input).await.unwrap()
    }
}

/// Waits until alice is (or is not) online in general: a `tail` or `chat`
/// of hers is in the room.
async fn wait_online(s: &Setup, online: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let who = s.ok(&["who", "general"]).await;
        if who.stdout.contains("alice  owner  online") == online {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{who}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn json_lines(out: &CliOutput) -> Vec<Value> {
    out.lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?} in {out}")))
        .collect()
}

/// Whether a line is nothing but an event id.
fn is_bare_id(line: &str) -> bool {
    let line = line.trim();
    line.len() == 36 && line.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[tokio::test]
async fn send_shows_the_message_and_waits_for_the_bots_reply() {
    let s = setup().await;
    s.ok(&["join", "general"]).await;

    let out = s.ok(&["send", "general", "Olga, tell me a joke"]).await;
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "the message, then Olga's reply: {out}");
    assert!(lines[0].starts_with('['), "{out}");
    assert!(lines[0].ends_with("] alice: Olga, tell me a joke"), "{out}");
    assert!(
        lines[1].contains("] Olga: Olga is unavailable: cannot connect"),
        "{out}"
    );
    assert!(!lines.iter().any(|l| is_bare_id(l)), "a bare id: {out}");

    // Words are joined; a message that asks no bot is shown without waiting.
    let out = s.ok(&["send", "general", "just", "saying"]).await;
    assert_eq!(out.lines().len(), 1, "{out}");
    assert!(out.lines()[0].ends_with("] alice: just saying"), "{out}");

    // --json: the ack (the only place the id is printed), then the reply event.
    let out = s
        .ok(&["send", "general", "Ольга, расскажи шутку", "--json"])
        .await;
    let frames = json_lines(&out);
    assert_eq!(frames.len(), 2, "{out}");
    assert_eq!(frames[0]["type"], "ack", "{out}");
    let question = frames[0]["id"].as_str().unwrap();
    assert_eq!(frames[1]["author"], "Olga", "{out}");
    assert_eq!(frames[1]["kind"], "message", "{out}");
    assert_eq!(frames[1]["reply_to"], question, "{out}");

    // --no-wait: only the message; the reply lands in the room all the same.
    let out = s
        .ok(&["send", "general", "Olga, are you there?", "--no-wait"])
        .await;
    assert_eq!(out.lines().len(), 1, "{out}");
    assert!(
        out.lines()[0].ends_with("alice: Olga, are you there?"),
        "{out}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let history = s.ok(&["history", "general", "--limit", "1"]).await;
        if history.stdout.contains("Olga: Olga is unavailable") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{history}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn waiting_for_a_bot_ends_at_the_timeout_or_a_refusal() {
    let s = setup().await;
    s.ok(&["join", "general"]).await;

    // Slowa starts her reply and then says nothing: exit 4 at --timeout.
    let started = std::time::Instant::now();
    let out = s
        .run(&["send", "general", "Slowa, hello?", "--timeout", "1.5"])
        .await;
    assert_eq!(out.status.code(), Some(4), "{out}");
    assert!(out.stderr.contains("error: timeout: Slowa"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(15), "{out}");
    assert!(out.lines()[0].ends_with("alice: Slowa, hello?"), "{out}");

    // She is still on that question, and takes one at a time from alice:
    // the next one is refused with bot_busy (exit 1), not waited for.
    let out = s.run(&["send", "general", "Slowa, and now?"]).await;
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(out.stderr.contains("error: bot_busy:"), "{out}");
    assert!(out.lines()[0].ends_with("alice: Slowa, and now?"), "{out}");
}

#[tokio::test]
async fn reading_never_creates_a_room_and_sending_needs_one() {
    let s = setup().await;
    for args in [
        &["history", "doesnotexist"][..],
        &["who", "doesnotexist"],
        &["tail", "doesnotexist", "--timeout", "1"],
        &["send", "nosuchroom", "hi"],
        &["send", "nosuchroom", "Olga, hi"],
    ] {
        let out = s.run(args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out}");
        assert!(
            out.stderr.contains("error: unknown_room: no room named"),
            "{args:?}: {out}"
        );
        assert!(
            out.stderr.contains("neuralchat-cli join "),
            "{args:?}: {out}"
        );
        assert!(!out.stdout.contains("joined"), "{args:?}: {out}");
    }
    let out = s.run(&["send", "nosuchroom", "hi"]).await;
    assert!(out.stderr.contains("--create"), "{out}");
    let out = s.chat(&["nosuchroom"], "hello\n").await;
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(out.stderr.contains("error: unknown_room:"), "{out}");

    let rooms = json_lines(&s.ok(&["rooms", "--json"]).await);
    assert!(rooms.is_empty(), "nothing was created: {rooms:?}");

    // Creating is explicit: join, or --create.
    s.ok(&["send", "newroom", "first!", "--create"]).await;
    s.ok(&["join", "general"]).await;
    let names: Vec<Value> = json_lines(&s.ok(&["rooms", "--json"]).await)
        .into_iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, ["general", "newroom"]);
    let history = s.ok(&["history", "newroom"]).await;
    assert!(history.stdout.contains("] alice: first!\n"), "{history}");
    // A room that exists needs no --create (and a member no new join).
    s.ok(&["send", "newroom", "second"]).await;
}

#[tokio::test]
async fn the_cli_closes_its_connections_cleanly() {
    let s = setup().await;
    s.ok(&["join", "general"]).await;
    s.ok(&["send", "general", "hello"]).await;
    s.ok(&["send", "general", "Olga, hi"]).await;
    s.ok(&["history", "general"]).await;
    s.ok(&["rooms"]).await;
    s.ok(&["who", "general"]).await;
    s.ok(&["send", "general", "/who"]).await;
    s.ok(&["mentions"]).await;
    s.ok(&["tail", "general", "--timeout", "1.5"]).await;
    assert!(!s.run(&["history", "nowhere"]).await.success());
    assert_eq!(
        s.run(&["send", "general", "Slowa, hm?", "--timeout", "1"])
            .await
            .status
            .code(),
        Some(4)
    );
    s.chat(&["general"], "from the chat\n/quit\n").await;
    // Ctrl-C stops `tail` (exit 0) and still closes the connection properly.
    wait_online(&s, false).await;
    let mut tail = s
        .alice
        .spawn(&["--server", &s.url, "tail", "general"])
        .unwrap();
    wait_online(&s, true).await;
    s.ok(&["send", "general", "to the tail"]).await;
    let line = tail.next_line(Duration::from_secs(20)).await.unwrap();
    assert!(line.is_some_and(|l| l.ends_with("alice: to the tail")));
    let pid = tail.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = tail.wait(Duration::from_secs(20)).await.unwrap();
    assert!(out.success(), "tail after Ctrl-C: {out}");
    s.ok(&["logout"]).await;

    // The log is written asynchronously.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = s.server.log_text();
    assert!(
        !log.contains("websocket protocol error"),
        "the server saw connections end without a close:\n{log}"
    );
    assert!(log.contains("session ended"), "{log}");
}

#[tokio::test]
async fn every_path_prints_an_event_the_same_way() {
    let s = setup().await;
    s.ok(&["join", "general"]).await;
    let sent = s.ok(&["send", "general", "hello there"]).await;
    let line = sent.lines()[0].to_owned();
    assert!(line.ends_with("] alice: hello there"), "{sent}");

    let history = s.ok(&["history", "general"]).await;
    assert!(history.lines().contains(&line.as_str()), "{history}");
    let joined = history.lines()[0].to_owned();
    assert!(joined.ends_with("] * alice joined #general"), "{history}");
    let command = s.ok(&["send", "general", "/history"]).await;
    assert!(command.lines().contains(&line.as_str()), "{command}");
    assert!(command.lines().contains(&joined.as_str()), "{command}");
    let chat = s.chat(&["general"], "/history 5\n").await;
    assert!(chat.success(), "{chat}");
    assert!(chat.lines().contains(&line.as_str()), "{chat}");

    // tail prints a new event as send printed it.
    wait_online(&s, false).await;
    let mut tail = s
        .alice
        .spawn(&[
            "--server",
            &s.url,
            "tail",
            "general",
            "--count",
            "1",
            "--timeout",
            "20",
        ])
        .unwrap();
    wait_online(&s, true).await;
    let sent = s.ok(&["send", "general", "to the tail"]).await;
    let tailed = tail
        .next_line(Duration::from_secs(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tailed, sent.lines()[0]);

    // Rooms and members: one format, the right plural.
    let rooms = s.ok(&["rooms"]).await;
    assert_eq!(rooms.lines(), ["general  1 member"]);
    let command = s.ok(&["send", "general", "/rooms"]).await;
    assert_eq!(command.lines(), rooms.lines());
    // (`who` is not in the room, `send` is: only "online" differs.)
    let who = s.ok(&["who", "general"]).await;
    assert_eq!(who.lines(), ["alice  owner  offline"], "{who}");
    let command = s.ok(&["send", "general", "/who"]).await;
    assert_eq!(command.lines(), ["alice  owner  online"], "{command}");

    // The chat's /help lines up its own /quit with the server's commands.
    let chat = s.chat(&["general"], "/help\n").await;
    let column = |line: &str| {
        line.find("  ")
            .map(|gap| gap + line[gap..].len() - line[gap..].trim_start().len())
    };
    let columns: Vec<Option<usize>> = chat
        .lines()
        .iter()
        .filter(|l| l.starts_with('/'))
        .map(|l| column(l))
        .collect();
    assert!(chat.stdout.contains("/quit"), "{chat}");
    assert!(
        columns.len() > 5 && columns.windows(2).all(|w| w[0] == w[1]),
        "{chat}"
    );
    // Piped: no colour, no prompt.
    assert!(
        !chat.stdout.contains('\x1b') && !chat.stdout.contains("#general>"),
        "{chat}"
    );
}

#[tokio::test]
async fn options_go_before_or_after_the_subcommand() {
    let s = setup().await;
    s.ok(&["join", "general"]).await;
    let out = s
        .alice
        .run(&[
            "history",
            "general",
            "--json",
            "--timeout",
            "5",
            "--server",
            &s.url,
        ])
        .await
        .unwrap();
    assert!(out.success(), "{out}");
    assert!(
        json_lines(&out).iter().all(|e| e["room"] == "general"),
        "{out}"
    );

    let help = s.alice.run(&["--help"]).await.unwrap();
    assert!(help.stdout.contains("ws://127.0.0.1:8080/ws"), "{help}");
    let send = s.alice.run(&["send", "--help"]).await.unwrap();
    assert!(
        send.stdout.contains("--no-wait") && send.stdout.contains("--create"),
        "{send}"
    );
    assert!(
        !send.stdout.contains("--count") && !send.stdout.contains("--limit"),
        "{send}"
    );
    let bash = s.alice.run(&["completions", "bash"]).await.unwrap();
    assert!(bash.success() && bash.stdout.contains("complete"), "{bash}");
    let usage = s.alice.run(&["send", "general"]).await.unwrap();
    assert_eq!(usage.status.code(), Some(2), "{usage}");
    // No server there: exit 3.
    let dead = format!("ws://127.0.0.1:{}/ws", free_port());
    let out = s.alice.run(&["rooms", "--server", &dead]).await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{out}");
}

/// With a real model (llama.cpp's server and the tiny test model, as in
/// tests/bots.rs): the reply streams into `send`'s output and is what the
/// room stores.
#[tokio::test]
async fn send_streams_a_real_models_reply() {
    let llama = LlamaServer::start().await.unwrap();
    let dir = TempDir::new().unwrap();
    let config = format!(
        "[[bots]]\nname = \"Olga\"\nbackend = \"openai\"\nurl = \"{}\"\nmodel = \"tiny\"\n\
         system_prompt = \"You are Olga.\"\nmax_tokens = 24\ntimeout_secs = 30\n",
        llama.url()
    );
    let path = dir.path().join("neuralchat.toml");
    let server = ServerProcess::start(
        ServerOptions::new()
            .relaxed_limits()
            .config_file(&path, &config)
            .unwrap(),
    )
    .await
    .unwrap();
    let s = Setup {
        url: server.ws_url(),
        server,
        alice: Cli::new(dir.path().join("alice")).unwrap(),
        _dir: dir,
    };
    let pw = [("NEURALCHAT_PASSWORD", PASSWORD)];
    s.run_env(&["register", "alice"], &pw).await;
    s.run_env(&["login", "alice"], &pw).await;
    s.ok(&["join", "general"]).await;

    let out = s
        .ok(&["send", "general", "Olga, tell me a joke", "--timeout", "30"])
        .await;
    assert!(
        out.lines()[0].ends_with("] alice: Olga, tell me a joke"),
        "{out}"
    );
    let history = json_lines(
        &s.ok(&["history", "general", "--json", "--limit", "1"])
            .await,
    );
    assert_eq!(history[0]["author"], "Olga");
    let stored = history[0]["text"].as_str().unwrap();
    assert!(!stored.is_empty());
    // The streamed line ends with the stored text (it may span lines).
    assert!(
        out.stdout.contains(&format!("] Olga: {stored}\n")),
        "{out}\nstored: {stored:?}"
    );
    assert!(!s.server.log_text().contains("websocket protocol error"));
}
