//! What user-written input the engine refuses: look-alike user names,
//! blank or NUL-holding passwords, control and bidi characters or nothing
//! visible in messages and topics, and room names that would not survive
//! their own canonical form (security review, issue 8 items 5, 6, 7, 9).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use neuralchat_core::{Engine, ErrorCode, Event, EventKind, Submitted};
use std::time::Duration;
use support::{engine, fast_config};
use tempfile::TempDir;

const PASSWORD: &str = "password1";

async fn refused_registration(engine: &Engine, name: &str, password: &str) -> ErrorCode {
    engine.register(name, password).await.unwrap_err().code
}

#[actix_rt::test]
async fn look_alike_user_names_are_refused() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    assert_eq!(engine.register("alice", PASSWORD).await.unwrap(), "alice");
    engine.register("rootadmin", PASSWORD).await.unwrap();
    engine.register("bob", PASSWORD).await.unwrap();
    for (name, code) in [
        ("\u{430}lice", ErrorCode::NameConfusable), // Cyrillic а
        ("r\u{43e}\u{43e}tadmin", ErrorCode::NameConfusable), // Cyrillic о
        ("b\u{3bf}b", ErrorCode::NameConfusable),   // Greek ο
        ("B0B", ErrorCode::NameConfusable),         // digit zero
        // Fullwidth letters are the same letters once normalised (NFKC).
        ("ａｌｉｃｅ", ErrorCode::UsernameTaken),
        ("ALICE", ErrorCode::UsernameTaken),
    ] {
        assert_eq!(
            refused_registration(&engine, name, PASSWORD).await,
            code,
            "{name}"
        );
    }
    // Log-in finds the account as before; the refused names made none.
    engine.login("Alice", PASSWORD).await.unwrap();
    // The name as the user may type it: NFKC, as at registration.
    assert_eq!(
        engine.login("ａｌｉｃｅ", PASSWORD).await.unwrap().user,
        "alice"
    );
    assert_eq!(
        engine
            .login("\u{430}lice", PASSWORD)
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidCredentials
    );
    // Names are stored in NFKC.
    assert_eq!(engine.register("ﬁona", PASSWORD).await.unwrap(), "fiona");
    engine.login("fiona", PASSWORD).await.unwrap();
    assert_eq!(ErrorCode::NameConfusable.as_str(), "name_confusable");
    assert_eq!(ErrorCode::NameConfusable.http_status(), 409);
}

#[actix_rt::test]
async fn names_that_look_like_a_bot_are_refused() {
    let dir = TempDir::new().unwrap();
    // The default configuration has the bot Olga (alias Ольга).
    let engine = engine(&dir, fast_config()).await;
    assert_eq!(
        refused_registration(&engine, "olga", PASSWORD).await,
        ErrorCode::InvalidUsername
    );
    for name in [
        "\u{41e}lga",
        "0lga",
        "ＯＬＧＡ",
        "\u{41e}\u{43b}\u{44c}\u{433}\u{430}",
    ] {
        let code = refused_registration(&engine, name, PASSWORD).await;
        assert!(
            matches!(code, ErrorCode::NameConfusable | ErrorCode::InvalidUsername),
            "{name}: {code}"
        );
    }
    assert_eq!(
        refused_registration(&engine, "\u{41e}lga", PASSWORD).await,
        ErrorCode::NameConfusable
    );
}

#[actix_rt::test]
async fn names_that_look_like_an_admin_are_refused_before_the_admin_registers() {
    let dir = TempDir::new().unwrap();
    let mut config = fast_config();
    config.admins = vec!["rootadmin".into()];
    let engine = engine(&dir, config).await;
    // Nobody registered "rootadmin" yet: a look-alike cannot take it first
    // (the admin could then not register); the name itself can be.
    assert_eq!(
        refused_registration(&engine, "r\u{43e}\u{43e}tadmin", PASSWORD).await,
        ErrorCode::NameConfusable
    );
    assert_eq!(
        engine.register("rootadmin", PASSWORD).await.unwrap(),
        "rootadmin"
    );
}

#[actix_rt::test]
async fn blank_and_nul_passwords_are_refused() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    for password in [
        " ".repeat(8),
        "\0".repeat(8),
        "\u{200b}".repeat(8),
        "\u{200c}\u{200d}\u{2060}\u{feff}\u{200b}\u{3000}\t\n".into(),
        format!("{}\0", "p".repeat(71)),
        "password\0".into(),
    ] {
        assert_eq!(
            refused_registration(&engine, "carol", &password).await,
            ErrorCode::InvalidPassword,
            "{password:?}"
        );
    }
    // A password with spaces in it is fine, as is one of 72 bytes.
    engine.register("carol", "correct horse").await.unwrap();
    engine.register("dave", &"p".repeat(72)).await.unwrap();
}

#[actix_rt::test]
async fn messages_with_controls_bidi_or_nothing_visible_are_refused() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    engine.register("erin", PASSWORD).await.unwrap();
    engine.join("erin", "general", None).await.unwrap();
    for text in [
        "nul \0 inside",
        "\u{1b}[2J\u{1b}[31mred",
        "ding\u{7}",
        "c1 \u{9b}31m",
        "carriage\rreturn",
        "evil\u{202e}txt.exe",
        "\u{2066}isolate\u{2069}",
        "\u{202a}embedding",
        "\u{200b}\u{200b}\u{200b}",
        "\u{2060}\u{feff} \u{200d}",
        "   ",
    ] {
        let err = engine
            .post("erin", "general", text, None)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BadMessage, "{text:?}");
    }
    // Direct messages take the same path.
    engine.register("frank", PASSWORD).await.unwrap();
    let err = engine
        .post("erin", "@frank", "hi\0", None)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::BadMessage);
    let err = engine
        .submit("erin", "general", "/msg frank \u{202e}olleh", None)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::BadMessage);
    // A client id may not hold control characters (a NUL is no PostgreSQL text).
    let err = engine
        .post("erin", "general", "fine", Some("c\0".into()))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::BadFrame);
    // A user name with a NUL names nobody, without a look-up.
    let err = engine
        .post("erin", "@fr\0ank", "hi", None)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownUser);
    // Ordinary text still passes: lines, tabs, other scripts, emoji joiners.
    for text in [
        "two\nlines\tand a tab",
        "שלום עולם",
        "👩\u{200d}💻 ok",
        "a\u{200b}b",
    ] {
        let event = engine.post("erin", "general", text, None).await.unwrap();
        assert_eq!(event.text, text);
    }
}

#[actix_rt::test]
async fn topics_follow_the_message_rules() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    engine.register("gina", PASSWORD).await.unwrap();
    engine.join("gina", "lobby", None).await.unwrap();
    for topic in ["\u{200b}", "\u{1b}[5mblink", "\u{202e}desrever", "a\0b"] {
        let err = engine
            .submit("gina", "lobby", &format!("/topic {topic}"), None)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BadMessage, "{topic:?}");
    }
    let set = engine
        .submit("gina", "lobby", "/topic plans for today", None)
        .await
        .unwrap();
    assert!(matches!(set, Submitted::Command(_)));
}

#[actix_rt::test]
async fn a_dotted_capital_i_room_is_listed_and_usable() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    engine.register("hale", PASSWORD).await.unwrap();
    let joined = engine.join("hale", "İstanbul", None).await.unwrap();
    assert_eq!(joined.room, "istanbul");
    let rooms = engine.rooms("hale").await.unwrap();
    let listed: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    assert!(listed.contains(&"istanbul"), "{listed:?}");
    // Every listed name can be used as it is listed.
    for name in listed {
        engine.post("hale", name, "merhaba", None).await.unwrap();
        engine.history("hale", name, None, None).await.unwrap();
    }
    engine
        .post("hale", "#İSTANBUL", "again", None)
        .await
        .unwrap();
}

/// Every event `engine` commits from now on, as they come.
fn committed(engine: &Engine) -> tokio::sync::broadcast::Receiver<Event> {
    engine.subscribe_committed()
}

/// The next `account_created` event for `user` among `events`.
async fn account_created(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    user: &str,
) -> Event {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        if event.kind == EventKind::AccountCreated && event.author == user {
            return event;
        }
    }
}

/// Two nodes each register one of two look-alike names before hearing of
/// the other; relayed both ways, they end with the same account (the
/// earlier one) and replication goes on.
#[actix_rt::test]
async fn relayed_look_alikes_resolve_to_the_earlier_registration_everywhere() {
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut config_a = fast_config();
    config_a.node.id = Some("node-a".into());
    let mut config_b = fast_config();
    config_b.node.id = Some("node-b".into());
    let (a, b) = (
        engine(&dir_a, config_a).await,
        engine(&dir_b, config_b).await,
    );
    let (mut from_a, mut from_b) = (committed(&a), committed(&b));
    a.register("alice", PASSWORD).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    b.register("\u{430}lice", "other-password").await.unwrap();
    let (made_a, made_b) = (
        account_created(&mut from_a, "alice").await,
        account_created(&mut from_b, "\u{430}lice").await,
    );
    assert!(made_a.ts < made_b.ts);
    // Relaying neither fails nor panics, in either direction.
    assert!(a.ingest(made_b.clone()).await.unwrap());
    assert!(b.ingest(made_a.clone()).await.unwrap());
    for node in [&a, &b] {
        node.login("alice", PASSWORD).await.unwrap();
        assert_eq!(
            node.login("\u{430}lice", "other-password")
                .await
                .unwrap_err()
                .code,
            ErrorCode::InvalidCredentials
        );
    }
    // A second delivery changes nothing, and later registrations relay.
    assert!(!a.ingest(made_b).await.unwrap());
    a.register("zoe", PASSWORD).await.unwrap();
    let zoe = account_created(&mut from_a, "zoe").await;
    assert!(b.ingest(zoe).await.unwrap());
    b.login("zoe", PASSWORD).await.unwrap();
}
