#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Two users through the neuralchat-cli binary against a real server.

use neuralchat_testkit::{free_port, Cli, CliOutput, ServerOptions, ServerProcess, WsClient};
use serde_json::{json, Value};
use std::time::Duration;

/// Runs `cli` against `url` with `args`, the password (if any) in NEURALCHAT_PASSWORD.
async fn run(cli: &Cli, url: &str, args: &[&str], password: Option<&str>) -> CliOutput {
    let mut full = vec!["--server", url];
    full.extend_from_slice(args);
    let env: Vec<(&str, &str)> = password
        .map(|p| vec![("NEURALCHAT_PASSWORD", p)])
        .unwrap_or_default();
    cli.run_with_env(&full, &env).await.unwrap()
}

/// Like [`run`], but the command must succeed.
async fn ok(cli: &Cli, url: &str, args: &[&str], password: Option<&str>) -> CliOutput {
    let out = run(cli, url, args, password).await;
    assert!(out.success(), "neuralchat-cli {args:?} failed: {out}");
    out
}

/// Polls `who general` over WebSocket until `user` is (or is not) online.
async fn wait_online(watcher: &mut WsClient, user: &str, online: bool) {
    watcher.set_deadline(Duration::from_secs(20));
    watcher.wait_online("general", user, online).await.unwrap();
}

/// Parses a line of `--json` output as an event and checks its fields.
#[track_caller]
fn parse_event(line: &str) -> Value {
    let event: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
    for key in ["id", "room", "kind", "author", "text"] {
        assert!(event[key].is_string(), "{key} missing in {line}");
    }
    assert!(event["ts"].is_i64(), "ts missing in {line}");
    event
}

#[tokio::test]
async fn two_users_through_the_cli() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let url = server.ws_url();
    let homes = tempfile::tempdir().unwrap();
    let alice = Cli::new(homes.path().join("alice")).unwrap();
    let bob = Cli::new(homes.path().join("bob")).unwrap();
    let (alice_pw, bob_pw) = (Some("alice-password"), Some("bob-password"));

    ok(&alice, &url, &["register", "alice"], alice_pw).await;
    ok(&alice, &url, &["login", "alice"], alice_pw).await;
    ok(&alice, &url, &["join", "general"], None).await;
    ok(&bob, &url, &["register", "bob"], bob_pw).await;
    ok(&bob, &url, &["login", "bob"], bob_pw).await;
    ok(&bob, &url, &["join", "general"], None).await;

    // Bob tails general; wait until his tail is in the room before alice sends.
    let mut watcher = WsClient::connect(&url).await.unwrap();
    watcher
        .register_and_login("watcher", "watcher-password")
        .await
        .unwrap();
    wait_online(&mut watcher, "bob", false).await;
    let tail = bob
        .spawn(&[
            "--server",
            &url,
            "tail",
            "general",
            "--count",
            "1",
            "--timeout",
            "20",
            "--json",
        ])
        .unwrap();
    wait_online(&mut watcher, "bob", true).await;
    ok(&alice, &url, &["send", "general", "hello"], None).await;
    let out = tail.wait(Duration::from_secs(30)).await.unwrap();
    assert!(out.success(), "tail failed: {out}");
    let lines = out.lines();
    assert_eq!(lines.len(), 1, "tail --count 1 printed: {out}");
    let event = parse_event(lines[0]);
    assert_eq!(
        (
            &event["kind"],
            &event["author"],
            &event["text"],
            &event["room"]
        ),
        (
            &json!("message"),
            &json!("alice"),
            &json!("hello"),
            &json!("general")
        ),
        "{event}"
    );

    // History as JSON lines, oldest first, ending with the message.
    let out = ok(&alice, &url, &["history", "general", "--json"], None).await;
    let events: Vec<Value> = out.lines().into_iter().map(parse_event).collect();
    assert!(!events.is_empty(), "{out}");
    let last = events.last().unwrap();
    assert_eq!(last["id"], event["id"], "{out}");
    assert_eq!(last["text"], "hello", "{out}");
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "history is not oldest first: {out}");

    // A mention, a command and a direct message through the CLI.
    ok(&alice, &url, &["send", "general", "lunch, @Bob?"], None).await;
    let out = ok(&bob, &url, &["mentions", "--json"], None).await;
    let mentions: Vec<Value> = out.lines().into_iter().map(parse_event).collect();
    assert_eq!(mentions.len(), 1, "{out}");
    assert_eq!(
        (&mentions[0]["text"], &mentions[0]["mentions"]),
        (&json!("lunch, @Bob?"), &json!(["bob"]))
    );
    let out = ok(&bob, &url, &["mentions", "--json"], None).await;
    assert!(out.lines().is_empty(), "mentions are read once: {out}");
    let out = ok(&bob, &url, &["send", "general", "/who"], None).await;
    assert!(out.stdout.contains("alice  owner"), "{out}");
    ok(&bob, &url, &["send", "@alice", "yes!"], None).await;
    let out = ok(&alice, &url, &["history", "@bob", "--json"], None).await;
    let dm = parse_event(out.lines().last().unwrap());
    assert_eq!(
        (&dm["room"], &dm["text"]),
        (&json!("@alice+bob"), &json!("yes!"))
    );

    // Failover: a dead server first, then the real one.
    let dead = format!("ws://127.0.0.1:{}/ws", free_port());
    let out = alice
        .run(&[
            "--server", &dead, "--server", &url, "history", "general", "--json",
        ])
        .await
        .unwrap();
    assert!(out.success(), "failover failed: {out}");
    assert!(out.lines().iter().any(|l| l.contains("\"hello\"")), "{out}");
    // Only a dead server: exit status 3 (no server reachable).
    let out = alice
        .run(&["--server", &dead, "history", "general"])
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out}");

    // Wrong password: non-zero, invalid_credentials on stderr.
    let out = run(&bob, &url, &["login", "bob"], Some("wrong-password")).await;
    assert!(
        !out.success(),
        "login with a wrong password succeeded: {out}"
    );
    assert!(out.stderr.contains("invalid_credentials"), "{out}");
    assert!(
        !out.stdout.contains("token"),
        "a failed login printed something token-like: {out}"
    );
}
