#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Runs the built `neuralchat-cli` binary with `--embedded`, so every command
//! goes through the same client code as with a server, against a real engine
//! on a temporary SQLite database.

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

const PASSWORD: &str = "correct horse battery";

/// A temporary database and CLI home.
struct Sandbox {
    dir: TempDir,
}

/// What one run of the CLI gave.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    fn failed(self) -> Self {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected a failure\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
            .collect()
    }
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn session_file(&self) -> PathBuf {
        self.dir.path().join("session.json")
    }

    /// Runs the CLI on the sandbox's database with `password` in the
    /// environment and `stdin` piped in.
    fn run(&self, args: &[&str], password: Option<&str>, stdin: &str) -> Run {
        let db = self.dir.path().join("chat.db");
        let mut command = Command::new(env!("CARGO_BIN_EXE_neuralchat-cli"));
        command
            .arg("--embedded")
            .arg(&db)
            .args(args)
            .env("NEURALCHAT_HOME", self.dir.path())
            .env_remove("NEURALCHAT_SERVER")
            .env_remove("NEURALCHAT_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(password) = password {
            command.env("NEURALCHAT_PASSWORD", password);
        }
        let mut child = command.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
        drop(input);
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().unwrap();
        Run {
            code: status.code(),
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        }
    }

    fn cli(&self, args: &[&str]) -> Run {
        self.run(args, None, "")
    }
}

#[test]
fn a_whole_session_in_embedded_mode() {
    let sandbox = Sandbox::new();

    let registered = sandbox.run(&["register", "alice"], Some(PASSWORD), "").ok();
    assert_eq!(registered.stdout.trim(), "registered alice");

    // The password from stdin this time.
    let login = sandbox
        .run(
            &["login", "alice", "--password-stdin"],
            None,
            &format!("{PASSWORD}\n"),
        )
        .ok();
    assert_eq!(login.stdout.trim(), "logged in as alice");
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(sandbox.session_file()).unwrap()).unwrap();
    assert_eq!(stored["user"], "alice");
    assert!(stored["token"].as_str().is_some_and(|t| !t.is_empty()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sandbox.session_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Reading and sending never create a room: `join` does.
    let missing = sandbox.cli(&["send", "general", "hello"]).failed();
    assert!(
        missing
            .stderr
            .contains("error: unknown_room: no room named \"general\""),
        "{}",
        missing.stderr
    );
    let missing = sandbox.cli(&["history", "general"]).failed();
    assert!(
        missing.stderr.contains("neuralchat-cli join general"),
        "{}",
        missing.stderr
    );
    assert_eq!(sandbox.cli(&["rooms"]).ok().stdout, "");
    let joined = sandbox.cli(&["join", "general"]).ok();
    assert_eq!(joined.stdout.trim(), "joined general");

    // `send` prints the message as an event line; the id only with --json.
    let ack = sandbox
        .cli(&["--json", "send", "general", "hello"])
        .ok()
        .json_lines();
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0]["type"], "ack");
    assert_eq!(ack[0]["room"], "general");
    assert!(ack[0].get("ref").is_none());
    let id = ack[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "an event id: {id:?}");
    let sent = sandbox.cli(&["send", "general", "second"]).ok();
    assert!(sent.stdout.starts_with('['), "{}", sent.stdout);
    assert!(
        sent.stdout.ends_with("] alice: second\n"),
        "{}",
        sent.stdout
    );

    let events = sandbox
        .cli(&["history", "general", "--json"])
        .ok()
        .json_lines();
    let hello = events
        .iter()
        .find(|e| e["text"] == "hello")
        .unwrap_or_else(|| panic!("no hello in {events:?}"));
    assert_eq!(hello["author"], "alice");
    assert_eq!(hello["kind"], "message");
    assert_eq!(hello["room"], "general");
    assert_eq!(hello["id"], id.as_str());
    assert!(hello["ts"].is_i64() && hello["origin"].is_string());
    let texts: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "message")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(texts, ["hello", "second"], "oldest first");

    let page = sandbox
        .cli(&["history", "general", "--limit", "1", "--json"])
        .ok();
    assert_eq!(page.json_lines().len(), 1);
    let before = sandbox
        .cli(&["history", "general", "--before", &id, "--json"])
        .ok()
        .json_lines();
    assert!(before
        .iter()
        .all(|e| e["text"] != "hello" && e["text"] != "second"));

    let human = sandbox.cli(&["history", "general"]).ok();
    assert!(human.stdout.contains(" alice: hello\n"), "{}", human.stdout);
    assert!(
        human.stdout.contains("] * alice joined #general\n"),
        "{}",
        human.stdout
    );

    let rooms = sandbox.cli(&["rooms"]).ok();
    assert!(
        rooms.stdout.lines().any(|l| l.starts_with("general ")),
        "{}",
        rooms.stdout
    );
    let rooms = sandbox.cli(&["rooms", "--json"]).ok().json_lines();
    assert!(rooms.iter().any(|r| r["name"] == "general"), "{rooms:?}");

    let who = sandbox.cli(&["who", "general"]).ok();
    assert!(
        who.stdout.lines().any(|l| l.starts_with("alice ")),
        "{}",
        who.stdout
    );
    let who = sandbox.cli(&["--json", "who", "general"]).ok().json_lines();
    assert!(who.iter().any(|m| m["user"] == "alice"), "{who:?}");

    // Interactive chat with a pipe: every line is sent, the events are shown,
    // and it ends once the last message is acknowledged.
    let chat = sandbox.run(&["chat"], None, "one\n\n//slash\ntwo\n").ok();
    assert!(chat.stdout.contains("] alice: one\n"), "{}", chat.stdout);
    assert!(chat.stdout.contains("] alice: /slash\n"), "{}", chat.stdout);
    assert!(chat.stdout.contains("] alice: two\n"), "{}", chat.stdout);
    let chat = sandbox.run(&["chat", "random"], None, "three\n").failed();
    assert!(
        chat.stderr.contains("error: unknown_room:"),
        "{}",
        chat.stderr
    );
    let chat = sandbox
        .run(
            &["chat", "random", "--create"],
            None,
            "three\n/quit\nnot sent\n",
        )
        .ok();
    assert!(chat.stdout.contains("] alice: three\n"), "{}", chat.stdout);
    let random = sandbox
        .cli(&["history", "random", "--json"])
        .ok()
        .json_lines();
    assert!(random.iter().any(|e| e["text"] == "three"));
    assert!(random.iter().all(|e| e["text"] != "not sent"));

    // Server commands: from `send` and from the chat.
    let who = sandbox.cli(&["send", "general", "/who"]).ok();
    assert!(who.stdout.contains("alice"), "{}", who.stdout);
    let who = sandbox
        .cli(&["--json", "send", "general", "/who"])
        .ok()
        .json_lines();
    assert_eq!(who[0]["type"], "command", "{who:?}");
    assert_eq!(who[0]["command"], "who", "{who:?}");
    let chat = sandbox
        .run(
            &["chat"],
            None,
            "/me waves\n/join lobby\nin the lobby\n/nope\n",
        )
        .failed();
    assert!(chat.stdout.contains("] * alice waves\n"), "{}", chat.stdout);
    assert!(chat.stdout.contains("* joined lobby\n"), "{}", chat.stdout);
    assert!(
        chat.stdout.contains("] alice: in the lobby\n"),
        "{}",
        chat.stdout
    );
    assert!(
        chat.stderr.contains("error: unknown_command:"),
        "{}",
        chat.stderr
    );
    assert!(
        chat.stderr.contains("error: send_failed:"),
        "{}",
        chat.stderr
    );
    let lobby = sandbox
        .cli(&["history", "lobby", "--json"])
        .ok()
        .json_lines();
    assert!(
        lobby.iter().any(|e| e["text"] == "in the lobby"),
        "{lobby:?}"
    );

    // Nobody else is in this process's engine: tail sees nothing.
    let tail = sandbox.cli(&["tail", "general", "--timeout", "0.5"]).ok();
    assert_eq!(tail.stdout, "");
    let tail = sandbox
        .cli(&["tail", "general", "--count", "1", "--timeout", "0.5"])
        .failed();
    assert!(tail.stderr.contains("error: timeout:"), "{}", tail.stderr);

    let wrong = sandbox
        .run(&["login", "alice"], Some("not the password"), "")
        .failed();
    assert!(
        wrong.stderr.contains("invalid_credentials"),
        "{}",
        wrong.stderr
    );
    // A failed log-in keeps the earlier session.
    assert!(sandbox.session_file().exists());

    let taken = sandbox
        .run(&["register", "alice"], Some(PASSWORD), "")
        .failed();
    assert!(
        taken.stderr.contains("error: username_taken:"),
        "{}",
        taken.stderr
    );

    let out = sandbox.cli(&["logout"]).ok();
    assert_eq!(out.stdout.trim(), "logged out alice");
    assert!(!sandbox.session_file().exists());
    let after = sandbox.cli(&["send", "general", "late"]).failed();
    assert!(after.stderr.contains("not logged in"), "{}", after.stderr);
}

#[test]
fn commands_that_need_a_log_in_say_so() {
    let sandbox = Sandbox::new();
    for args in [
        &["send", "general", "hi"][..],
        &["history", "general"],
        &["rooms"],
        &["who", "general"],
        &["logout"],
    ] {
        let run = sandbox.cli(args).failed();
        assert!(
            run.stderr
                .contains("error: not_logged_in: not logged in: run `neuralchat-cli login NAME`"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_stale_token_is_reported() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.session_file(),
        r#"{"user":"ghost","token":"no-such-token"}"#,
    )
    .unwrap();
    let run = sandbox.cli(&["rooms"]).failed();
    assert!(
        run.stderr.contains("error: invalid_token:"),
        "{}",
        run.stderr
    );
    // logout forgets a token the server no longer accepts.
    sandbox.cli(&["logout"]).ok();
    assert!(!sandbox.session_file().exists());
}

#[test]
fn a_missing_password_is_reported() {
    let sandbox = Sandbox::new();
    let run = sandbox.cli(&["register", "bob"]).failed();
    assert!(run.stderr.contains("error: no_password:"), "{}", run.stderr);
}
