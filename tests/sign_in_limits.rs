#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Log-in and registration against a hostile client: log lines cannot be
//! forged through a user name, refused names never reach the log as typed,
//! and failed log-ins are throttled per account and per address.

use neuralchat_testkit::{ServerOptions, ServerProcess, WsClient};
use serde_json::json;

const FORGED: &str = "evil\n2026-11-25T00:00:00 INFO login ok action=login_ok user=rootadmin";

#[tokio::test]
async fn a_user_name_cannot_forge_a_log_line_or_leak_into_the_log() {
    // The default (terminal) log format.
    let mut server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let mut ws = WsClient::connect(&server.ws_url()).await.unwrap();
    for frame in [
        json!({"type":"login","username":FORGED,"password":"whatever-123"}),
        json!({"type":"register","username":FORGED,"password":"whatever-123"}),
        // A password typed into the name field.
        json!({"type":"login","username":"Tr0ub4dor&3-secret","password":"x"}),
        json!({"type":"register","username":"x".repeat(65_000),"password":"whatever-123"}),
    ] {
        let answer = ws.request(frame).await.unwrap();
        assert_eq!(answer["type"], "error", "{answer}");
    }
    assert!(server.stop().await.unwrap().success());
    let log = server.log_text();
    for line in log.lines() {
        assert!(
            !line.starts_with("2026-11-25T00:00:00"),
            "a forged line reached the log: {line}"
        );
    }
    assert!(
        !log.contains("Tr0ub4dor"),
        "a refused name was logged as typed"
    );
    assert!(!log.contains("evil"), "a refused name was logged as typed");
    assert!(
        log.contains("login failed") && log.contains("name_hash="),
        "{log}"
    );
    assert!(log.len() < 64 * 1024, "the log grew by {} bytes", log.len());
}

#[tokio::test]
async fn failed_log_ins_are_throttled_per_account_and_address() {
    let server = ServerProcess::start(
        ServerOptions::new()
            .relaxed_limits()
            .env("NEURALCHAT_LIMITS__LOGIN_ATTEMPTS_PER_ACCOUNT", "3")
            .env("NEURALCHAT_LIMITS__LOGIN_ATTEMPTS_PER_ADDRESS", "5")
            .env("NEURALCHAT_LIMITS__SIGN_IN_WINDOW_SECS", "600"),
    )
    .await
    .unwrap();
    let mut alice = WsClient::connect(&server.ws_url()).await.unwrap();
    alice
        .register_and_login("alice", "right-password")
        .await
        .unwrap();
    let mut mallory = WsClient::connect(&server.ws_url()).await.unwrap();
    let guess = json!({"type":"login","username":"alice","password":"wrong-guess"});
    for _ in 0..3 {
        let answer = mallory.request(guess.clone()).await.unwrap();
        assert_eq!(answer["code"], "invalid_credentials", "{answer}");
    }
    let refused = mallory.request(guess.clone()).await.unwrap();
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    // One try comes back every 200 s (3 per 600 s).
    let wait = refused["retry_after_ms"].as_u64().unwrap();
    assert!((190_000..=200_000).contains(&wait), "{refused}");
    // Even the right password waits now: the account is locked for a while.
    let right = json!({"type":"login","username":"alice","password":"right-password"});
    assert_eq!(
        mallory.request(right).await.unwrap()["code"],
        "rate_limited"
    );

    // Over REST: the same limit, 429 with Retry-After.
    let http = server.http();
    let response = http
        .send(
            "POST",
            "/api/v1/login",
            None,
            Some(&json!({"username":"alice","password":"x"})),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 429, "{}", response.text());
    assert_eq!(response.json()["code"], "rate_limited");
    let seconds: u64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!((190..=200).contains(&seconds), "{seconds}");

    // Per address: two more failures on other accounts from this address,
    // and the address is refused for every account.
    for name in ["bob", "carol"] {
        let answer = mallory
            .request(json!({"type":"login","username":name,"password":"wrong-guess"}))
            .await
            .unwrap();
        assert_eq!(answer["code"], "invalid_credentials", "{answer}");
    }
    let answer = mallory
        .request(json!({"type":"login","username":"dave","password":"wrong-guess"}))
        .await
        .unwrap();
    assert_eq!(answer["code"], "rate_limited", "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("address"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_nul_cannot_cut_a_password_short() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let password = "p".repeat(71);
    let mut ws = WsClient::connect(&server.ws_url()).await.unwrap();
    ws.register_and_login("alice", &password).await.unwrap();
    let mut other = WsClient::connect(&server.ws_url()).await.unwrap();
    // bcrypt stops reading at a NUL: the server must not.
    let answer = other
        .request(json!({"type":"login","username":"alice","password": format!("{password}\u{0}x")}))
        .await
        .unwrap();
    assert_eq!(answer["code"], "invalid_credentials", "{answer}");
    let answer = other
        .request(json!({"type":"login","username":"ali\u{0}ce","password": password}))
        .await
        .unwrap();
    assert_eq!(answer["code"], "invalid_credentials", "{answer}");
}
