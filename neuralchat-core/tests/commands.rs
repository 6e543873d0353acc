//! Commands, permissions, mentions and direct conversations, through real
//! frames on in-process sessions (the rules are the core's, whatever the
//! transport).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::{engine, fast_config, Client};
use tempfile::TempDir;

async fn client(engine: &neuralchat_core::Engine, name: &str) -> Client {
    let mut c = Client::connect(engine).await;
    c.sign_up(name).await;
    c
}

async fn say(c: &mut Client, room: &str, text: &str) -> Value {
    c.request(json!({"type":"send","room":room,"text":text}))
        .await
}

fn code(frame: &Value) -> &str {
    frame["code"].as_str().unwrap_or("")
}

#[actix_rt::test]
async fn help_usage_and_unknown_commands() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    let mut alice = client(&engine, "alice").await;
    alice.request(json!({"type":"join","room":"r"})).await;

    let help = say(&mut alice, "r", "/help").await;
    assert_eq!(
        (help["type"].as_str(), help["command"].as_str()),
        (Some("command"), Some("help"))
    );
    for spec in neuralchat_core::commands::COMMANDS {
        assert!(
            help["text"].as_str().unwrap().contains(spec.usage),
            "{} missing",
            spec.usage
        );
    }
    let one = say(&mut alice, "r", "/help kick").await;
    assert!(
        one["text"].as_str().unwrap().starts_with("/kick USER"),
        "{one}"
    );
    assert_eq!(
        code(&say(&mut alice, "r", "/help nosuch").await),
        "unknown_command"
    );

    let unknown = say(&mut alice, "r", "/hepl").await;
    assert_eq!(code(&unknown), "unknown_command");
    assert!(unknown["message"]
        .as_str()
        .unwrap()
        .contains("did you mean /help?"));
    let bad = say(&mut alice, "r", "/kick").await;
    assert_eq!(code(&bad), "bad_arguments");
    assert!(bad["message"]
        .as_str()
        .unwrap()
        .contains("usage: /kick USER"));

    // `//` sends a literal slash.
    let ack = say(&mut alice, "r", "//shrug").await;
    assert_eq!(ack["type"], "ack");
    let last = alice
        .request(json!({"type":"history","room":"r","limit":1}))
        .await;
    assert_eq!(last["events"][0]["text"], "/shrug");
}

#[actix_rt::test]
async fn me_topic_who_rooms_history_leave_and_join() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    let mut alice = client(&engine, "alice").await;
    let mut bob = client(&engine, "bob").await;
    alice.request(json!({"type":"join","room":"r"})).await;
    bob.request(json!({"type":"join","room":"r"})).await;

    assert_eq!(say(&mut alice, "r", "/me waves").await["type"], "ack");
    let action = bob
        .recv_until(|f| f["type"] == "event" && f["event"]["kind"] == "action")
        .await;
    assert_eq!(
        (
            action["event"]["author"].as_str(),
            action["event"]["text"].as_str()
        ),
        (Some("alice"), Some("waves"))
    );

    assert_eq!(
        code(&say(&mut bob, "r", "/topic mine now").await),
        "forbidden"
    );
    let set = say(&mut alice, "r", "/topic Rust and tea").await;
    assert_eq!(set["command"], "topic");
    let topic = bob
        .recv_until(|f| f["type"] == "event" && f["event"]["kind"] == "topic")
        .await;
    assert_eq!(topic["event"]["text"], "Rust and tea");
    let shown = say(&mut bob, "r", "/topic").await;
    assert_eq!(shown["data"]["topic"], "Rust and tea");

    let who = say(&mut bob, "r", "/who").await;
    assert_eq!(who["data"]["members"][0]["user"], "alice");
    assert!(who["text"]
        .as_str()
        .unwrap()
        .contains("alice (owner, online)"));
    let rooms = say(&mut bob, "r", "/rooms").await;
    assert_eq!(rooms["data"]["rooms"][0]["topic"], "Rust and tea");
    let history = say(&mut bob, "r", "/history 2").await;
    assert_eq!(history["data"]["events"].as_array().unwrap().len(), 2);

    let joined = say(&mut bob, "r", "/join other").await;
    assert_eq!(
        (joined["type"].as_str(), joined["room"].as_str()),
        (Some("joined"), Some("other"))
    );
    let left = say(&mut bob, "other", "/leave").await;
    assert_eq!(
        (left["command"].as_str(), left["room"].as_str()),
        (Some("leave"), Some("other"))
    );
    assert_eq!(
        code(&say(&mut bob, "other", "still here?").await),
        "not_member"
    );
}

#[actix_rt::test]
async fn moderation_follows_roles() {
    let dir = TempDir::new().unwrap();
    let mut config = fast_config();
    config.admins = vec!["Root".into()];
    let engine = engine(&dir, config).await;
    let mut alice = client(&engine, "alice").await; // owner
    let mut bob = client(&engine, "bob").await;
    let mut carol = client(&engine, "carol").await;
    let mut root = client(&engine, "root").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.request(json!({"type":"join","room":"r"})).await;
    }

    // Members may not moderate.
    for text in [
        "/kick carol",
        "/ban carol",
        "/op carol",
        "/private on",
        "/clear history",
    ] {
        assert_eq!(code(&say(&mut bob, "r", text).await), "forbidden", "{text}");
    }
    assert_eq!(
        code(&say(&mut alice, "r", "/kick nobody").await),
        "unknown_user"
    );

    // The owner makes bob a moderator; bob may kick carol but not the owner,
    // and may not op or deop.
    assert_eq!(say(&mut alice, "r", "/op bob").await["command"], "op");
    let role = carol
        .recv_until(|f| f["type"] == "event" && f["event"]["kind"] == "role")
        .await;
    assert_eq!(
        (
            role["event"]["target"].as_str(),
            role["event"]["text"].as_str()
        ),
        (Some("bob"), Some("moderator"))
    );
    assert_eq!(code(&say(&mut bob, "r", "/kick alice").await), "forbidden");
    assert_eq!(code(&say(&mut bob, "r", "/deop bob").await), "forbidden");
    assert_eq!(say(&mut bob, "r", "/kick carol").await["command"], "kick");
    let kicked = carol
        .recv_until(|f| f["type"] == "event" && f["event"]["kind"] == "kick")
        .await;
    assert_eq!(kicked["event"]["target"], "carol");
    assert_eq!(code(&say(&mut carol, "r", "hello?").await), "not_member");

    // Ban keeps carol out until unbanned.
    assert_eq!(
        carol.request(json!({"type":"join","room":"r"})).await["type"],
        "joined"
    );
    assert_eq!(say(&mut bob, "r", "/ban carol").await["command"], "ban");
    assert_eq!(
        code(&carol.request(json!({"type":"join","room":"r"})).await),
        "banned"
    );
    let banned_read = carol.request(json!({"type":"history","room":"r"})).await;
    assert_eq!(code(&banned_read), "banned");
    // Every change a banned user tries says why: `banned`, not `not_member`.
    for command in [
        "hello",
        "/me waves",
        "/topic mine",
        "/invite bob",
        "/kick bob",
        "/clear",
    ] {
        assert_eq!(
            code(&say(&mut carol, "r", command).await),
            "banned",
            "{command}"
        );
    }
    assert_eq!(
        code(&carol.request(json!({"type":"leave","room":"r"})).await),
        "banned"
    );
    assert_eq!(
        code(&say(&mut bob, "r", "/unban alice").await),
        "bad_arguments"
    );
    assert_eq!(say(&mut bob, "r", "/unban carol").await["command"], "unban");
    assert_eq!(
        carol.request(json!({"type":"join","room":"r"})).await["type"],
        "joined"
    );

    assert_eq!(say(&mut alice, "r", "/deop bob").await["command"], "deop");
    assert_eq!(code(&say(&mut bob, "r", "/kick carol").await), "forbidden");
    assert_eq!(
        code(&say(&mut alice, "r", "/deop alice").await),
        "forbidden"
    );

    // A server admin may do anything, even to the owner.
    root.request(json!({"type":"join","room":"r"})).await;
    assert_eq!(say(&mut root, "r", "/kick alice").await["command"], "kick");
}

#[actix_rt::test]
async fn private_rooms_need_an_invitation() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    let mut alice = client(&engine, "alice").await;
    let mut bob = client(&engine, "bob").await;
    alice.request(json!({"type":"join","room":"secret"})).await;
    assert_eq!(
        say(&mut alice, "secret", "/private on").await["command"],
        "private"
    );
    say(&mut alice, "secret", "the plans").await;

    assert_eq!(
        code(&bob.request(json!({"type":"join","room":"secret"})).await),
        "invite_only"
    );
    assert_eq!(
        code(&bob.request(json!({"type":"history","room":"secret"})).await),
        "invite_only"
    );
    assert_eq!(
        code(&bob.request(json!({"type":"who","room":"secret"})).await),
        "invite_only"
    );
    let rooms = bob.request(json!({"type":"rooms"})).await;
    assert!(rooms["rooms"].as_array().unwrap().is_empty(), "{rooms}");

    assert_eq!(
        say(&mut alice, "secret", "/invite bob").await["command"],
        "invite"
    );
    let invite = bob
        .recv_until(|f| f["type"] == "event" && f["event"]["kind"] == "invite")
        .await;
    assert_eq!(invite["event"]["room"], "secret");
    assert_eq!(
        bob.request(json!({"type":"join","room":"secret"})).await["type"],
        "joined"
    );
    // A plain member may not invite to a private room.
    let mut carol = client(&engine, "carol").await;
    assert_eq!(
        code(&say(&mut bob, "secret", "/invite carol").await),
        "forbidden"
    );
    assert_eq!(
        code(&carol.request(json!({"type":"join","room":"secret"})).await),
        "invite_only"
    );
}

#[actix_rt::test]
async fn direct_messages_reach_both_users_only() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    let mut alice = client(&engine, "alice").await;
    let mut bob = client(&engine, "Bob").await;
    let mut eve = client(&engine, "eve").await;

    // Reading a conversation nobody started shows it empty and creates nothing.
    let empty = alice.request(json!({"type":"history","room":"@bob"})).await;
    assert_eq!(
        (empty["type"].as_str(), &empty["events"]),
        (Some("history"), &json!([])),
        "{empty}"
    );
    let rooms = alice.request(json!({"type":"rooms"})).await;
    assert!(
        !rooms.to_string().contains("@alice+bob"),
        "reading created the conversation: {rooms}"
    );
    let who = alice.request(json!({"type":"who","room":"@bob"})).await;
    assert_eq!(code(&who), "unknown_room", "{who}");

    assert_eq!(
        say(&mut alice, "general", "/msg bob psst").await["type"],
        "ack"
    );
    let dm = bob.recv_until(|f| f["type"] == "event").await;
    assert_eq!(
        (dm["event"]["room"].as_str(), dm["event"]["text"].as_str()),
        (Some("@alice+bob"), Some("psst"))
    );
    // Bob answers by addressing @alice where a room is expected.
    let ack = say(&mut bob, "@alice", "hi back").await;
    assert_eq!(ack["room"], "@alice+bob");
    let back = alice
        .recv_until(|f| f["type"] == "event" && f["event"]["author"] == "Bob")
        .await;
    assert_eq!(back["event"]["text"], "hi back");

    assert_eq!(
        code(
            &eve.request(json!({"type":"history","room":"@alice+bob"}))
                .await
        ),
        "invite_only"
    );
    assert_eq!(
        code(
            &eve.request(json!({"type":"join","room":"@alice+bob"}))
                .await
        ),
        "invite_only"
    );
    let history = alice.request(json!({"type":"history","room":"@bob"})).await;
    assert_eq!(history["events"].as_array().unwrap().len(), 2);
    assert_eq!(
        code(&say(&mut alice, "@bob", "/kick bob").await),
        "forbidden"
    );
    let leave_dm = alice.request(json!({"type":"leave","room":"@bob"})).await;
    assert_eq!(code(&leave_dm), "forbidden");
    assert_eq!(
        code(&say(&mut alice, "@nobody", "hi").await),
        "unknown_user"
    );
}

#[actix_rt::test]
async fn mentions_notify_every_connection_and_stay_unread_until_seen() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    let mut alice = client(&engine, "alice").await;
    let mut bob = client(&engine, "Bob").await;
    let mut bob_phone = Client::connect(&engine).await;
    bob_phone
        .request(json!({"type":"login","username":"bob","password":"password1"}))
        .await;
    alice.request(json!({"type":"join","room":"r"})).await;

    let ack = say(
        &mut alice,
        "r",
        "hey @BOB, mail me at x@bob.org, not @nobody",
    )
    .await;
    assert_eq!(ack["type"], "ack");
    for device in [&mut bob, &mut bob_phone] {
        let note = device.recv_until(|f| f["type"] == "mention").await;
        assert_eq!(note["event"]["mentions"], json!(["Bob"]));
        assert_eq!(note["event"]["author"], "alice");
    }
    let unread = say(&mut bob, "r", "/mentions").await;
    assert_eq!(unread["data"]["mentions"].as_array().unwrap().len(), 1);
    assert!(unread["text"].as_str().unwrap().contains("hey @BOB"));
    let again = say(&mut bob, "r", "/mentions").await;
    assert_eq!(again["text"], "no unread mentions");

    // A private room's content never reaches a mentioned outsider.
    say(&mut alice, "r", "/private on").await;
    say(&mut alice, "r", "secret for @bob").await;
    let after = say(&mut bob, "r", "/mentions").await;
    assert_eq!(after["text"], "no unread mentions");
    let next = bob.request(json!({"type":"ping"})).await;
    assert_eq!(
        next["type"], "pong",
        "no mention frame arrived before the pong"
    );
}

#[actix_rt::test]
async fn clear_resets_the_view_and_clear_history_deletes() {
    let dir = TempDir::new().unwrap();
    let engine = engine(&dir, fast_config()).await;
    let mut alice = client(&engine, "alice").await;
    let mut bob = client(&engine, "bob").await;
    alice.request(json!({"type":"join","room":"r"})).await;
    bob.request(json!({"type":"join","room":"r"})).await;
    say(&mut alice, "r", "one").await;

    let clear = say(&mut bob, "r", "/clear").await;
    assert_eq!(
        (clear["command"].as_str(), clear["room"].as_str()),
        (Some("clear"), Some("r"))
    );
    let kept = bob.request(json!({"type":"history","room":"r"})).await;
    let kinds: Vec<&str> = kept["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["join", "join", "message", "context_cleared"],
        "a view clear keeps stored history and is itself an event"
    );
    // Everyone in the room sees where the bots' conversation starts again.
    let seen = alice
        .recv_until(|f| f["type"] == "event" && f["event"]["kind"] == "context_cleared")
        .await;
    assert_eq!(seen["event"]["author"], "bob");

    assert_eq!(
        code(&say(&mut bob, "r", "/clear history").await),
        "forbidden"
    );
    assert_eq!(
        say(&mut alice, "r", "/clear history").await["command"],
        "clear"
    );
    let seen = bob
        .recv_until(|f| f["type"] == "event" && f["event"]["kind"] == "history_cleared")
        .await;
    assert_eq!(seen["event"]["author"], "alice");
    let left = bob.request(json!({"type":"history","room":"r"})).await;
    let kinds: Vec<&str> = left["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["history_cleared"]);
}

#[actix_rt::test]
async fn review_regressions() {
    let dir = TempDir::new().unwrap();
    let mut config = fast_config();
    config.limits.max_message_chars = 50;
    let engine = engine(&dir, config).await;
    let mut alice = client(&engine, "alice").await;
    let mut bob = client(&engine, "bob").await;

    // An invitation is used up by joining: a kicked user cannot walk back in.
    alice.request(json!({"type":"join","room":"vault"})).await;
    say(&mut alice, "vault", "/private on").await;
    say(&mut alice, "vault", "/invite bob").await;
    assert_eq!(
        bob.request(json!({"type":"join","room":"vault"})).await["type"],
        "joined"
    );
    say(&mut alice, "vault", "/kick bob").await;
    let again = bob.request(json!({"type":"join","room":"vault"})).await;
    assert_eq!(code(&again), "invite_only");

    // The canonical name of a direct conversation works before first contact.
    let joined = alice
        .request(json!({"type":"join","room":"@alice+bob"}))
        .await;
    assert_eq!(
        (joined["type"].as_str(), joined["room"].as_str()),
        (Some("joined"), Some("@alice+bob"))
    );
    assert_eq!(
        say(&mut bob, "@bob+alice", "hi").await["room"],
        "@alice+bob"
    );
    let eve = alice
        .request(json!({"type":"join","room":"@bob+eve"}))
        .await;
    assert_eq!(code(&eve), "invite_only");

    // Topics obey the message length limit.
    alice.request(json!({"type":"join","room":"long"})).await;
    let topic = say(&mut alice, "long", &format!("/topic {}", "t".repeat(60))).await;
    assert_eq!(code(&topic), "bad_message");

    // Logging out still works when the token was revoked elsewhere.
    let grant = engine.login("bob", "password1").await.unwrap();
    let mut phone = Client::connect(&engine).await;
    phone
        .request(json!({"type":"auth","token":grant.token}))
        .await;
    engine.logout(&grant.token).await.unwrap();
    assert_eq!(
        phone.request(json!({"type":"logout"})).await["type"],
        "logged_out"
    );
    assert_eq!(
        code(&phone.request(json!({"type":"rooms"})).await),
        "unauthenticated"
    );
}
