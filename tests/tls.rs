#![allow(clippy::unwrap_used, clippy::expect_used)]
//! TLS on every hop, with certificates made by the test (`openssl`):
//! the server over HTTPS and WSS with the CLI trusting the test CA through
//! `--ca`; a client trusting another CA, or speaking plain ws://, gets
//! nowhere; mesh nodes linked only through Mosquitto's TLS listener
//! (`ssl://`) exchange messages and serve a CLI user over `mqtts://`, a broker that wants client certificates
//! takes only nodes with one, a node with the wrong CA stays down with the
//! error in `/healthz`, and the bytes on the broker port never show a
//! message's text. A bad certificate or key stops the server at start.

use neuralchat_testkit::{
    Cli, CliOutput, MeshNode, Mosquitto, RecordingProxy, ServerOptions, ServerProcess, TestCerts,
    WsClient, DEFAULT_DEADLINE,
};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse";

/// A text no other test sends, to look for on the wire.
fn unique_text(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{what}-{}-{nanos}", std::process::id())
}

/// A server with `[tls]` (the server certificate of `certs`), logging JSON
/// at debug level so each accepted connection is recorded.
async fn tls_server(certs: &TestCerts) -> ServerProcess {
    ServerProcess::start(
        ServerOptions::new()
            .tls(certs)
            .relaxed_limits()
            .arg("--log-format")
            .arg("json")
            .env("NEURALCHAT_LOG__LEVEL", "debug"),
    )
    .await
    .unwrap()
}

/// Runs the CLI against `url` with `args` (after `--server URL`), the
/// password in NEURALCHAT_PASSWORD.
async fn cli_run(cli: &Cli, url: &str, args: &[&str]) -> CliOutput {
    let mut full = vec!["--server", url, "--timeout", "10"];
    full.extend_from_slice(args);
    cli.run_with_env(&full, &[("NEURALCHAT_PASSWORD", PASSWORD)])
        .await
        .unwrap()
}

#[tokio::test]
async fn the_cli_chats_over_wss_trusting_the_test_ca() {
    let certs = TestCerts::generate("NeuralChat test CA").unwrap();
    let server = tls_server(&certs).await;
    let url = server.ws_url();
    assert!(url.starts_with("wss://"), "{url}");
    let home = tempfile::tempdir().unwrap();
    let cli = Cli::new(home.path()).unwrap();
    let ca = certs.ca.display().to_string();

    let out = cli_run(&cli, &url, &["--ca", &ca, "register", "alice"]).await;
    assert!(out.success(), "{out}");
    // The CA also comes from the environment.
    let out = cli
        .run_with_env(
            &["--server", &url, "login", "alice"],
            &[("NEURALCHAT_PASSWORD", PASSWORD), ("NEURALCHAT_CA", &ca)],
        )
        .await
        .unwrap();
    assert!(out.success(), "{out}");
    let text = unique_text("over wss");
    let out = cli_run(
        &cli,
        &url,
        &["--ca", &ca, "send", "general", "--create", &text],
    )
    .await;
    assert!(out.success(), "{out}");
    let out = cli_run(&cli, &url, &["--ca", &ca, "--json", "history", "general"]).await;
    assert!(out.success(), "{out}");
    let texts: Vec<String> = out
        .lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["text"].to_string())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains(&text)),
        "history lacks the message: {out}"
    );

    // HTTPS answers too, verified against the CA.
    let (status, health) = server.http().get("/healthz", None).await.unwrap();
    assert_eq!(status, 200, "{health}");

    // Every accepted connection was a TLS stream whose TCP socket got
    // TCP_NODELAY (connection.rs reaches the socket under the TLS stream).
    let records: Vec<Value> = server
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["msg"] == "connection accepted")
        .collect();
    assert!(records.len() >= 5, "{}", server.log_tail());
    for record in &records {
        assert_eq!(record["tls"], true, "{record}");
        assert_eq!(record["tcp_nodelay"], true, "{record}");
    }
    assert!(
        !server.log_text().contains("unknown stream type"),
        "{}",
        server.log_tail()
    );
}

#[tokio::test]
async fn a_cli_trusting_another_ca_is_refused() {
    let certs = TestCerts::generate("NeuralChat test CA").unwrap();
    let other = TestCerts::generate("Some other CA").unwrap();
    let server = tls_server(&certs).await;
    let url = server.ws_url();
    let home = tempfile::tempdir().unwrap();
    let cli = Cli::new(home.path()).unwrap();
    let wrong = other.ca.display().to_string();

    for args in [
        vec!["--ca", wrong.as_str(), "register", "mallory"],
        // Without --ca only the system's CAs are trusted: refused too.
        vec!["register", "mallory"],
    ] {
        let out = cli_run(&cli, &url, &args).await;
        assert_eq!(out.status.code(), Some(3), "{args:?}: {out}");
        assert!(
            out.stderr.contains("certificate verify failed"),
            "{args:?}: {out}"
        );
        assert!(out.stderr.contains("--ca FILE"), "{args:?}: {out}");
    }
    // Nothing reached the engine: the account was never created.
    assert!(
        !server.log_text().contains("\"action\":\"register\""),
        "{}",
        server.log_tail()
    );

    // An unreadable CA file is a local error naming it.
    let missing = home.path().join("missing-ca.pem");
    let missing = missing.display().to_string();
    let out = cli_run(&cli, &url, &["--ca", &missing, "register", "mallory"]).await;
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(out.stderr.contains("bad_ca"), "{out}");
    assert!(out.stderr.contains("missing-ca.pem"), "{out}");
}

#[tokio::test]
async fn plain_ws_and_http_to_the_tls_port_get_nowhere() {
    let certs = TestCerts::generate("NeuralChat test CA").unwrap();
    let server = tls_server(&certs).await;
    let plain_ws = format!("ws://127.0.0.1:{}/ws", server.port());

    let attempt = tokio::time::timeout(DEFAULT_DEADLINE, WsClient::connect(&plain_ws)).await;
    assert!(
        matches!(attempt, Ok(Err(_))),
        "a plain WebSocket to the TLS port was not refused"
    );

    let home = tempfile::tempdir().unwrap();
    let cli = Cli::new(home.path()).unwrap();
    let out = cli_run(&cli, &plain_ws, &["register", "plain"]).await;
    assert_eq!(out.status.code(), Some(3), "{out}");
    assert!(out.stderr.contains("use wss://"), "{out}");

    let plain_http = neuralchat_testkit::HttpClient::new(&format!("127.0.0.1:{}", server.port()));
    if let Ok((status, body)) = plain_http.get("/healthz", None).await {
        panic!("plain HTTP got an answer: {status} {body}");
    }
    // The same server still serves WSS.
    let ca = certs.ca.display().to_string();
    let out = cli_run(&cli, &server.ws_url(), &["--ca", &ca, "register", "plain"]).await;
    assert!(out.success(), "{out}");
}

#[tokio::test]
async fn a_bad_certificate_or_key_stops_the_server_with_one_clear_line() {
    let certs = TestCerts::generate("NeuralChat test CA").unwrap();
    let missing = certs.dir().join("missing.pem");
    let cases = [
        (
            missing.clone(),
            certs.server_key.clone(),
            "cannot read tls.cert file",
        ),
        (certs.server_cert.clone(), certs.ca.clone(), "tls.key file"),
        (
            certs.ca.clone(),
            certs.server_key.clone(),
            "does not match the certificate",
        ),
    ];
    for (cert, key, expected) in cases {
        let err = ServerProcess::start(
            ServerOptions::new()
                .env("NEURALCHAT_TLS__CERT", cert.display().to_string())
                .env("NEURALCHAT_TLS__KEY", key.display().to_string()),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("exit status: 2"), "{err}");
        assert!(err.contains(expected), "{expected}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Starts node `id` in `dir`, linked to `broker` only, trusting `ca`;
/// `url` replaces the broker's own URL (a proxy in front of it).
async fn tls_node(
    dir: &Path,
    id: &str,
    broker: &Mosquitto,
    ca: &Path,
    url: Option<&[String]>,
) -> ServerProcess {
    let brokers = [broker];
    MeshNode {
        ca_file: Some(ca),
        urls: url,
        ..MeshNode::new(dir, id, &brokers)
    }
    .start()
    .await
    .unwrap()
}

async fn user(server: &ServerProcess, name: &str) -> WsClient {
    let mut client = WsClient::connect(&server.ws_url()).await.unwrap();
    client.register_and_login(name, PASSWORD).await.unwrap();
    client
}

/// Alice on `a` creates `general`; once it has reached `b` (through the
/// broker), bob on `b` joins it.
async fn meet(a: &ServerProcess, b: &ServerProcess) -> (WsClient, WsClient) {
    let mut alice = user(a, "alice").await;
    let mut bob = user(b, "bob").await;
    alice.join("general").await.unwrap();
    let page = alice
        .request_ok(json!({"type": "history", "room": "general"}), "history")
        .await
        .unwrap();
    let first = vec![page["events"][0]["id"].as_str().unwrap().to_owned()];
    bob.history_holding("general", &first).await.unwrap();
    bob.join("general").await.unwrap();
    (alice, bob)
}

/// Sends `text` from `from`; waits until `to` receives it live.
async fn relay(from: &mut WsClient, to: &mut WsClient, text: &str) {
    from.send_message("general", text, None).await.unwrap();
    let got = to
        .recv_event(|e| e["kind"] == "message" && e["text"] == text)
        .await
        .unwrap();
    assert_eq!(got["text"], text, "{got}");
}

#[tokio::test]
async fn nodes_linked_through_a_tls_broker_exchange_messages() {
    let certs = TestCerts::generate("NeuralChat test CA").unwrap();
    let broker = Mosquitto::start_tls(&certs).await.unwrap();
    assert!(broker.url().starts_with("ssl://"), "{}", broker.url());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = tls_node(dir_a.path(), "node-a", &broker, &certs.ca, None).await;
    let b = tls_node(dir_b.path(), "node-b", &broker, &certs.ca, None).await;
    let (_, health) = a.http().get("/healthz", None).await.unwrap();
    assert_eq!(
        health["mesh"]["brokers"][0]["url"],
        broker.url(),
        "{health}"
    );
    let (mut alice, mut bob) = meet(&a, &b).await;
    relay(&mut alice, &mut bob, "hello over mqtt tls").await;
    relay(&mut bob, &mut alice, "and back").await;

    // A user on MQTT only reaches the same nodes through the TLS listener,
    // trusting the test CA; trusting another CA, the CLI is refused.
    let home = tempfile::tempdir().unwrap();
    let carol = Cli::new(home.path()).unwrap();
    let mqtts = format!("mqtts://127.0.0.1:{}", broker.port());
    let ca = certs.ca.display().to_string();
    let password = [("NEURALCHAT_PASSWORD", PASSWORD)];
    for args in [
        vec!["register", "carol"],
        vec!["login", "carol"],
        vec!["join", "general"],
        vec!["send", "general", "hello over mqtts"],
    ] {
        let mut full = vec!["--mqtt", mqtts.as_str(), "--ca", ca.as_str()];
        full.extend(args);
        let out = carol.run_with_env(&full, &password).await.unwrap();
        assert!(out.success(), "{full:?}: {out}");
    }
    bob.recv_until(|f| f["type"] == "event" && f["event"]["text"] == "hello over mqtts")
        .await
        .unwrap();
    let other = TestCerts::generate("Another CA").unwrap();
    let other_ca = other.ca.display().to_string();
    let out = carol
        .run(&["--mqtt", &mqtts, "--ca", &other_ca, "rooms"])
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out}");
}

#[tokio::test]
async fn a_broker_that_wants_client_certificates_takes_only_nodes_with_one() {
    let certs = TestCerts::generate("NeuralChat test CA").unwrap();
    let broker = Mosquitto::start_tls_client_certs(&certs).await.unwrap();
    let (cert_a, key_a) = certs.client("node-a").unwrap();
    let (cert_b, key_b) = certs.client("node-b").unwrap();
    let (dir_a, dir_b, dir_c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let brokers = [&broker];
    let a = MeshNode {
        ca_file: Some(&certs.ca),
        client_cert: Some((&cert_a, &key_a)),
        ..MeshNode::new(dir_a.path(), "node-a", &brokers)
    }
    .start()
    .await
    .unwrap();
    let b = MeshNode {
        ca_file: Some(&certs.ca),
        client_cert: Some((&cert_b, &key_b)),
        ..MeshNode::new(dir_b.path(), "node-b", &brokers)
    }
    .start()
    .await
    .unwrap();
    let (mut alice, mut bob) = meet(&a, &b).await;
    relay(&mut alice, &mut bob, "signed by the test CA").await;

    // Without a client certificate the broker refuses the node.
    let ca = format!("{:?}", certs.ca.display().to_string());
    let c = unlinked_node(
        dir_c.path(),
        "node-c",
        &broker,
        &format!("ca_file = {ca}\n"),
    )
    .await;
    let link = link_error(&c).await;
    assert_eq!(link["connects"], 0, "{link}");
    assert!(
        broker
            .log_text()
            .contains("peer did not return a certificate"),
        "{}",
        broker.log_text()
    );
}

/// Starts node `id` in `dir` with one broker (`broker`'s URL plus the
/// TOML lines `broker_toml`), without waiting for its link.
async fn unlinked_node(
    dir: &Path,
    id: &str,
    broker: &Mosquitto,
    broker_toml: &str,
) -> ServerProcess {
    let config = dir.join("mesh.toml");
    std::fs::write(
        &config,
        format!(
            "[mesh]\nkey = \"{}\"\n[[mesh.brokers]]\nurl = \"{}\"\n{broker_toml}",
            neuralchat_testkit::mesh_node::TEST_MESH_KEY,
            broker.url(),
        ),
    )
    .unwrap();
    ServerProcess::start(
        ServerOptions::new()
            .dir(dir)
            .node_id(id)
            .arg("--config")
            .arg(config.display().to_string()),
    )
    .await
    .unwrap()
}

/// Polls `/healthz` until the node's first link reports an error; checks
/// that the link is down and the node degraded, and returns the link.
async fn link_error(node: &ServerProcess) -> Value {
    let started = Instant::now();
    loop {
        let (_, health) = node.http().get("/healthz", None).await.unwrap();
        let link = health["mesh"]["brokers"][0].clone();
        if link["last_error"].is_string() {
            assert_eq!(health["status"], "degraded", "{health}");
            assert_eq!(link["connected"], false, "{link}");
            return link;
        }
        assert!(
            started.elapsed() < DEFAULT_DEADLINE * 3,
            "no link error: {health}\n{}",
            node.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_node_trusting_the_wrong_ca_stays_down_with_the_error_in_healthz() {
    let certs = TestCerts::generate("NeuralChat test CA").unwrap();
    let other = TestCerts::generate("Some other CA").unwrap();
    let broker = Mosquitto::start_tls(&certs).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wrong = format!("{:?}", other.ca.display().to_string());
    let node = unlinked_node(
        dir.path(),
        "node-wrong-ca",
        &broker,
        &format!("ca_file = {wrong}\n"),
    )
    .await;
    let link = link_error(&node).await;
    assert_eq!(link["connects"], 0, "{link}");
    let error = link["last_error"].as_str().unwrap();
    assert!(error.contains("TLS"), "{link}");
    assert!(error.contains(&other.ca.display().to_string()), "{link}");
    node.wait_for_log("mesh link cannot connect").await.unwrap();
}

#[tokio::test]
async fn the_broker_port_never_carries_message_text_in_clear() {
    let certs = TestCerts::generate("NeuralChat test CA").unwrap();
    let broker = Mosquitto::start_tls(&certs).await.unwrap();
    let proxy = RecordingProxy::start(broker.port()).await.unwrap();
    let via_proxy = [format!("ssl://127.0.0.1:{}", proxy.port())];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Node a's only way to the mesh is through the proxy.
    let a = tls_node(dir_a.path(), "node-a", &broker, &certs.ca, Some(&via_proxy)).await;
    let b = tls_node(dir_b.path(), "node-b", &broker, &certs.ca, None).await;
    let (mut alice, mut bob) = meet(&a, &b).await;
    let outbound = unique_text("alice secret");
    let inbound = unique_text("bob secret");
    relay(&mut alice, &mut bob, &outbound).await;
    relay(&mut bob, &mut alice, &inbound).await;

    let connections = proxy.all_bytes();
    let total: usize = connections.iter().map(Vec::len).sum();
    // Both messages crossed the proxy (node a has no other link), as TLS
    // records: the first byte a client sends opens a TLS handshake.
    assert!(total > 1000, "only {total} bytes crossed the proxy");
    let first = connections.iter().find(|c| !c.is_empty()).unwrap();
    assert_eq!(
        first[0],
        0x16,
        "not a TLS handshake record: {:?}",
        &first[..8.min(first.len())]
    );
    for bytes in &connections {
        for text in [&outbound, &inbound, &"general".to_string()] {
            assert!(
                !contains(bytes, text),
                "{text:?} crossed the broker port in clear"
            );
        }
    }

    // The same capture on a plain (tcp://) broker does show the text: the
    // check above would see it.
    let plain = Mosquitto::start().await.unwrap();
    let proxy = RecordingProxy::start(plain.port()).await.unwrap();
    let via_proxy = [format!("tcp://127.0.0.1:{}", proxy.port())];
    let dir_c = tempfile::tempdir().unwrap();
    let brokers = [&plain];
    let c = MeshNode {
        urls: Some(&via_proxy),
        ..MeshNode::new(dir_c.path(), "node-c", &brokers)
    }
    .start()
    .await
    .unwrap();
    let mut carol = user(&c, "carol").await;
    carol.join("general").await.unwrap();
    let clear = unique_text("carol in clear");
    carol.send_message("general", &clear, None).await.unwrap();
    let started = Instant::now();
    while !proxy.all_bytes().iter().any(|b| contains(b, &clear)) {
        assert!(
            started.elapsed() < DEFAULT_DEADLINE,
            "the plain broker's capture never showed the text"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `text` occurs in `bytes`.
fn contains(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}
