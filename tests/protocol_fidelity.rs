#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Where an outside client found the server and docs/PROTOCOL.md apart:
//! each case as the document now states it.

use neuralchat_testkit::{PgFixture, ServerOptions, ServerProcess, WsClient};
use serde_json::json;

#[tokio::test]
async fn hello_announces_the_limits_in_force() {
    let server = ServerProcess::start(
        ServerOptions::new().env("NEURALCHAT_LIMITS__MESSAGES_PER_SECOND", "7"),
    )
    .await
    .unwrap();
    let ws = WsClient::connect(&server.ws_url()).await.unwrap();
    let limits = &ws.hello()["limits"];
    assert_eq!(limits["messages_per_second"], 7.0, "{limits}");
    for key in [
        "max_frame_bytes",
        "max_message_chars",
        "history_page_max",
        "frames_per_second",
        "frame_burst",
        "message_burst",
        "login_deadline_secs",
    ] {
        assert!(limits[key].is_number(), "{key} missing from {limits}");
    }
}

#[tokio::test]
async fn a_banned_user_gets_banned_and_no_zero_page() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let mut owner = WsClient::connect(&server.ws_url()).await.unwrap();
    owner
        .register_and_login("owner", "password-123")
        .await
        .unwrap();
    owner.join("lounge").await.unwrap();
    let mut eve = WsClient::connect(&server.ws_url()).await.unwrap();
    eve.register_and_login("eve", "password-123").await.unwrap();
    eve.join("lounge").await.unwrap();
    owner
        .request_ok(
            json!({"type":"send","room":"lounge","text":"/ban eve"}),
            "command",
        )
        .await
        .unwrap();
    let refused = eve
        .request(json!({"type":"send","room":"lounge","text":"still here?"}))
        .await
        .unwrap();
    assert_eq!(refused["code"], "banned", "{refused}");
    let zero = owner
        .request(json!({"type":"history","room":"lounge","limit":0}))
        .await
        .unwrap();
    assert_eq!(zero["code"], "bad_frame", "{zero}");
}

#[tokio::test]
async fn a_rest_body_that_is_not_an_object_is_bad_json() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let http = server.http();
    for body in [json!([1, 2]), json!(42), json!("text")] {
        let (status, answer) = http.post("/api/v1/register", None, &body).await.unwrap();
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("bad_json")),
            "{body}"
        );
    }
    let (status, answer) = http
        .post(
            "/api/v1/register",
            None,
            &json!({"username": 5, "password": "x"}),
        )
        .await
        .unwrap();
    assert_eq!((status, answer["code"].as_str()), (400, Some("bad_frame")));
}

#[tokio::test]
async fn healthz_answers_503_while_the_database_is_down() {
    let pg = PgFixture::start().unwrap();
    let url = pg.create_database("health").unwrap();
    let server = ServerProcess::start(ServerOptions::new().database(url))
        .await
        .unwrap();
    let http = server.http();
    let (status, body) = http.get("/healthz", None).await.unwrap();
    // "degraded" at most: no model server runs for the default bot here.
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["status"], "unavailable", "{body}");
    assert_eq!(body["database"]["ok"], true);
    pg.stop_server().unwrap();
    let (status, body) = http.get("/healthz", None).await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"]["ok"], false);
    assert!(body["database"]["problem"].is_string(), "{body}");
}

#[tokio::test]
async fn rooms_are_listed_a_page_at_a_time_and_creation_is_capped() {
    let server = ServerProcess::start(
        ServerOptions::new()
            .relaxed_limits()
            .env("NEURALCHAT_LIMITS__ROOMS_PER_USER", "3"),
    )
    .await
    .unwrap();
    let mut bob = WsClient::connect(&server.ws_url()).await.unwrap();
    bob.register_and_login("bob", "password-123").await.unwrap();
    bob.join("bobs-room").await.unwrap();
    let mut alice = WsClient::connect(&server.ws_url()).await.unwrap();
    let token = alice
        .register_and_login("alice", "password-123")
        .await
        .unwrap();
    for room in ["a1", "a2", "a3"] {
        alice.join(room).await.unwrap();
    }
    let refused = alice
        .request(json!({"type":"join","room":"a4"}))
        .await
        .unwrap();
    assert_eq!(refused["code"], "forbidden", "{refused}");
    // Joining a room someone else created is not creating one.
    alice.join("bobs-room").await.unwrap();

    let first = alice
        .request(json!({"type":"rooms","limit":2}))
        .await
        .unwrap();
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["a1", "a2"], "{first}");
    assert_eq!(first["more"], true);
    let rest = alice
        .request(json!({"type":"rooms","after":"a2","limit":2}))
        .await
        .unwrap();
    assert_eq!(names(&rest), ["a3", "bobs-room"], "{rest}");
    assert_eq!(rest["more"], false);
    // The same over REST.
    let (status, page) = server
        .http()
        .get("/api/v1/rooms?after=a3&limit=5", Some(&token))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(names(&page), ["bobs-room"], "{page}");
    assert_eq!(page["more"], false);
}

#[tokio::test]
async fn a_busy_port_is_one_clear_line_before_anything_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let binary =
        neuralchat_testkit::bin::find_binary("neuralchat-server", "NEURALCHAT_SERVER_BIN").unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let out = tokio::process::Command::new(binary)
        .current_dir(dir.path())
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    // Nothing was started: no database was created.
    assert!(!dir.path().join("neuralchat.db").exists());
}

#[tokio::test]
async fn a_missing_model_server_is_reported_at_start_and_in_healthz() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("neuralchat.toml");
    let config = format!(
        "[[bots]]\nname = \"Olga\"\nbackend = \"openai\"\nurl = \"{url}\"\nmodel = \"m\"\n"
    );
    let server = ServerProcess::start(ServerOptions::new().config_file(&path, &config).unwrap())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server.log_text().contains("bot model server not reachable") {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            server.log_tail()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = server.log_text();
    assert!(!log.contains("bot ready"), "{log}");
    assert!(log.contains(&url), "the warning names the URL: {log}");
    let (status, health) = server.http().get("/healthz", None).await.unwrap();
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("degraded")),
        "{health}"
    );
    assert_eq!(health["bots"][0]["name"], "Olga");
    assert_eq!(health["bots"][0]["ok"], false);
    assert_eq!(health["bots"][0]["problem"], "cannot connect");
}
