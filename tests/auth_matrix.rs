#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every REST route and every client frame type, tried without a token,
//! with an unknown or revoked token, and by a user without rights in the
//! room: each refused with the one code docs/PROTOCOL.md documents.
//!
//! Generated, so that nothing new can be forgotten here:
//! - the routes are those the server's code mounts (read from the
//!   `.route(...)` calls in `neuralchat-server/src`), checked equal to the
//!   document's REST table, so an undocumented route fails this test and
//!   so does a documented one the server lacks;
//! - the frame types are the decoder's ([`CLIENT_TYPES`]), the room-scoped
//!   ones being those that do not decode without a `room`;
//! - the moderation commands are the registry's ([`COMMANDS`]) that need
//!   the moderator or owner role, plus the forms that need more than their
//!   command does (`/topic TEXT`, `/clear history`).

use neuralchat_core::commands::{Needs, COMMANDS};
use neuralchat_core::protocol::{decode, CLIENT_TYPES};
use neuralchat_testkit::{HttpClient, ServerOptions, ServerProcess, WsClient};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

type Route = (String, String);

/// (method, path) of every route in docs/PROTOCOL.md's REST table, query
/// dropped.
fn documented_routes() -> BTreeSet<Route> {
    let doc = include_str!("../docs/PROTOCOL.md");
    doc.lines()
        .filter_map(|line| {
            let cell = line.strip_prefix("| `")?.split('`').next()?;
            let (method, path) = cell.split_once(' ')?;
            let is_method = !method.is_empty() && method.chars().all(|c| c.is_ascii_uppercase());
            if !is_method || !path.starts_with('/') {
                return None;
            }
            let path = path.split('?').next()?;
            Some((method.to_owned(), path.to_owned()))
        })
        .collect()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The string literal `text` starts with (after `"`), and what follows it.
fn literal(text: &str) -> (&str, &str) {
    let end = text.find('"').unwrap();
    (&text[..end], &text[end + 1..])
}

/// (method, path) of every route neuralchat-server's code mounts: each
/// `.route("PATH", web::METHOD()...)` call in its sources, under the
/// `web::scope("PREFIX")` of its file. Ways of mounting routes that this
/// reader does not understand fail the test rather than hide a route.
fn mounted_routes() -> BTreeSet<Route> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("neuralchat-server/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut routes = BTreeSet::new();
    for path in files {
        let source = fs::read_to_string(&path).unwrap();
        let file = path.display();
        for unread in [
            "web::resource(",
            "web::route(",
            "web::method(",
            "Route::new(",
            "#[get(",
            "#[post(",
            "#[put(",
            "#[patch(",
            "#[delete(",
            "#[route(",
            "#[routes]",
        ] {
            assert!(
                !source.contains(unread),
                "{file}: `{unread}` mounts routes this test cannot read: teach mounted_routes() about it"
            );
        }
        for (at, _) in source.match_indices(".service(") {
            let next = source[at + ".service(".len()..].trim_start();
            assert!(
                next.starts_with("web::scope(\""),
                "{file}: a `.service(...)` that is not a web::scope: teach mounted_routes() about it"
            );
        }
        let scopes: Vec<&str> = source
            .match_indices("web::scope(\"")
            .map(|(at, m)| literal(&source[at + m.len()..]).0)
            .collect();
        assert!(
            scopes.len() <= 1,
            "{file}: several scopes: teach mounted_routes() which route is in which"
        );
        let prefix = scopes.first().copied().unwrap_or("");
        for (at, m) in source.match_indices(".route(\"") {
            let (route, rest) = literal(&source[at + m.len()..]);
            let rest = rest.trim_start_matches([',', ' ', '\n']);
            let method = rest
                .strip_prefix("web::")
                .and_then(|r| r.split_once('('))
                .map(|(method, _)| method.to_ascii_uppercase())
                .unwrap_or_else(|| {
                    panic!("{file}: route {route:?} is not `web::METHOD()`: teach mounted_routes() about it")
                });
            routes.insert((method, format!("{prefix}{route}")));
        }
    }
    routes
}

/// A route's path with its parameters filled in.
fn concrete(path: &str, room: &str) -> String {
    let path = path.replace("{room}", room);
    assert!(
        !path.contains('{'),
        "{path}: a path parameter this test has no value for"
    );
    path
}

/// Routes anyone may use: outside the API (health, metrics, the WebSocket
/// upgrade), and `register` and `login` ("Send `Authorization: Bearer
/// TOKEN` on every call but `register` and `login`").
fn public_route(path: &str) -> bool {
    !path.starts_with("/api/") || path.ends_with("/register") || path.ends_with("/login")
}

/// Frames anyone may send: those that sign in, and `ping`.
fn public_frame(kind: &str) -> bool {
    ["register", "login", "auth", "ping"].contains(&kind)
}

/// Frame types that name a room: they decode with a `room` and do not
/// without one.
fn room_scoped(kind: &str) -> bool {
    let mut frame =
        json!({"type": kind, "username": "u", "password": "p", "token": "t", "text": "x"});
    let without = decode(&frame.to_string(), 65_536);
    frame["room"] = json!("r");
    let with = decode(&frame.to_string(), 65_536);
    assert!(with.is_ok(), "{kind} does not decode: {with:?}");
    without.is_err()
}

/// The frame a REST route under `/rooms/{room}/` does the work of.
fn frame_of_route(method: &str, path: &str) -> &'static str {
    let last = path.rsplit('/').next().unwrap_or("");
    match (method, last) {
        ("POST", "join") => "join",
        ("POST", "leave") => "leave",
        ("GET", "members") => "who",
        ("GET", "messages") => "history",
        ("POST", "messages") => "send",
        _ => panic!("{method} {path}: say which frame this room route does the work of"),
    }
}

/// The code docs/PROTOCOL.md gives a logged-in user who is not a member of
/// a private room (and has no invitation), for each room-scoped frame.
fn outsider_code(kind: &str) -> &'static str {
    match kind {
        // `invite_only`: "the room is private and you have no invitation".
        "join" => "invite_only",
        // who: "Private rooms and direct conversations answer `invite_only`
        // to non-members (for `who` and `history`)".
        "who" | "history" => "invite_only",
        // send: "The user must be a member of the room"; leave "ends the
        // membership"; `not_member`: "join the room first".
        "send" | "leave" => "not_member",
        _ => panic!(
            "room-scoped frame {kind:?}: add the code docs/PROTOCOL.md gives a non-member of a private room"
        ),
    }
}

/// Commands a plain member may not run, as sent: every registry command
/// that needs the moderator or owner role, its arguments filled in from
/// its usage, and the forms that need more than their command
/// (`/topic TEXT` sets, `/clear history` deletes).
fn moderation_commands(target: &str) -> Vec<String> {
    let mut commands: Vec<String> = COMMANDS
        .iter()
        .filter(|c| matches!(c.needs, Needs::Moderator | Needs::Owner))
        .map(|c| {
            c.usage
                .split_whitespace()
                .map(|word| match word {
                    "USER" => target,
                    "on|off" => "on",
                    _ if word.starts_with('/') => word,
                    _ => panic!("{}: fill in {word:?}", c.usage),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    commands.push("/topic new topic".to_owned());
    commands.push("/clear history".to_owned());
    for needed in ["/kick", "/ban", "/unban", "/op", "/deop", "/private"] {
        assert!(
            commands
                .iter()
                .any(|c| c.starts_with(&format!("{needed} "))),
            "{needed} is missing from {commands:?}"
        );
    }
    commands
}

/// Sends `method path` with `token` and returns (status, code).
async fn call(http: &HttpClient, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let body = json!({"text": "hi"});
    let r = http.send(method, path, token, Some(&body)).await.unwrap();
    (r.status, r.json()["code"].clone())
}

#[test]
fn the_documented_routes_are_the_mounted_routes() {
    let documented = documented_routes();
    let mounted = mounted_routes();
    assert!(
        documented.len() >= 10,
        "the REST table was not found: {documented:?}"
    );
    // The WebSocket endpoint is documented under Connection, not in the table.
    assert!(include_str!("../docs/PROTOCOL.md").contains("`ws://HOST:PORT/ws`"));
    let mut expected = documented.clone();
    expected.insert(("GET".to_owned(), "/ws".to_owned()));
    let undocumented: Vec<_> = mounted.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&mounted).collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "routes the server mounts but docs/PROTOCOL.md does not list: {undocumented:?}; \
         listed but not mounted: {missing:?}"
    );
}

#[tokio::test]
async fn every_route_and_frame_refuses_the_unauthorised() {
    let server = ServerProcess::start(ServerOptions::new().relaxed_limits())
        .await
        .unwrap();
    // alice owns the private room "secret" and the public room "lobby".
    let mut alice = WsClient::connect(&server.ws_url()).await.unwrap();
    alice
        .register_and_login("alice", "password-123")
        .await
        .unwrap();
    alice.join("secret").await.unwrap();
    alice
        .request_ok(
            json!({"type":"send","room":"secret","text":"/private on"}),
            "command",
        )
        .await
        .unwrap();
    alice.join("lobby").await.unwrap();
    // bob is no member of "secret" and a plain member of "lobby", as is dave.
    let mut bob = WsClient::connect(&server.ws_url()).await.unwrap();
    let bob_token = bob.register_and_login("bob", "password-123").await.unwrap();
    bob.join("lobby").await.unwrap();
    let mut dave = WsClient::connect(&server.ws_url()).await.unwrap();
    dave.register_and_login("dave", "password-123")
        .await
        .unwrap();
    dave.join("lobby").await.unwrap();
    // carol's token is revoked by logging out over the WebSocket (her
    // session is anonymous again), erin's by logging out over REST.
    let mut carol = WsClient::connect(&server.ws_url()).await.unwrap();
    let revoked = carol
        .register_and_login("carol", "password-123")
        .await
        .unwrap();
    carol
        .request_ok(json!({"type":"logout"}), "logged_out")
        .await
        .unwrap();
    let http = server.http();
    let (status, _) = http
        .post(
            "/api/v1/register",
            None,
            &json!({"username":"erin","password":"password-123"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    let (status, login) = http
        .post(
            "/api/v1/login",
            None,
            &json!({"username":"erin","password":"password-123"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{login}");
    let revoked_by_rest = login["token"].as_str().unwrap().to_owned();
    let (status, _) = http
        .post_empty("/api/v1/logout", Some(&revoked_by_rest))
        .await
        .unwrap();
    assert_eq!(status, 204);
    let unknown = "x".repeat(43);

    // Every route, as the code mounts it.
    let routes = mounted_routes();
    for (method, path) in &routes {
        if public_route(path) {
            continue;
        }
        let concrete_path = concrete(path, "secret");
        let what = format!("{method} {concrete_path}");
        assert_eq!(
            call(&http, method, &concrete_path, None).await,
            (401, json!("unauthenticated")),
            "{what} without a token"
        );
        for (token, which) in [
            (revoked.as_str(), "revoked by the logout frame"),
            (revoked_by_rest.as_str(), "revoked by POST /api/v1/logout"),
            (unknown.as_str(), "unknown"),
        ] {
            assert_eq!(
                call(&http, method, &concrete_path, Some(token)).await,
                (401, json!("invalid_token")),
                "{what} with a token {which}"
            );
        }
        if path.contains("/rooms/{room}/") {
            let code = outsider_code(frame_of_route(method, path));
            assert_eq!(
                call(&http, method, &concrete_path, Some(&bob_token)).await,
                (403, json!(code)),
                "{what} by a non-member"
            );
        }
    }

    // Every frame type, as the decoder knows them.
    let mut anonymous = WsClient::connect(&server.ws_url()).await.unwrap();
    let mut checked_room_frames = 0;
    for kind in CLIENT_TYPES {
        let frame = json!({"type": kind, "room": "secret", "text": "hi"});
        if !public_frame(kind) {
            for (client, who) in [
                (&mut anonymous, "never logged in"),
                (&mut carol, "logged out"),
            ] {
                let answer = client.request(frame.clone()).await.unwrap();
                assert_eq!(
                    answer["code"], "unauthenticated",
                    "{kind} by a session {who}: {answer}"
                );
            }
        }
        if room_scoped(kind) {
            checked_room_frames += 1;
            let answer = bob.request(frame).await.unwrap();
            assert_eq!(
                answer["code"],
                outsider_code(kind),
                "{kind} by a non-member: {answer}"
            );
        }
    }
    assert!(
        checked_room_frames >= 5,
        "room-scoped frames: {checked_room_frames}"
    );
    for (token, which) in [
        (&revoked, "revoked by the logout frame"),
        (&revoked_by_rest, "revoked by POST /api/v1/logout"),
        (&unknown, "unknown"),
    ] {
        let answer = anonymous
            .request(json!({"type":"auth","token": token}))
            .await
            .unwrap();
        assert_eq!(answer["code"], "invalid_token", "auth with a token {which}");
    }

    // Moderation commands by a plain member ("your role does not allow
    // it": `forbidden`), over the WebSocket and REST, and by a non-member
    // of a private room (a command is a `send`: `not_member`).
    let post_route = routes
        .iter()
        .find(|(method, path)| {
            path.contains("/rooms/{room}/") && frame_of_route(method, path) == "send"
        })
        .map(|(_, path)| path.clone())
        .unwrap();
    for command in moderation_commands("dave") {
        let answer = bob
            .request(json!({"type":"send","room":"lobby","text": command}))
            .await
            .unwrap();
        assert_eq!(
            answer["code"], "forbidden",
            "{command} by a member: {answer}"
        );
        let r = http
            .send(
                "POST",
                &concrete(&post_route, "lobby"),
                Some(&bob_token),
                Some(&json!({"text": command})),
            )
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (403, json!("forbidden")),
            "{command} by a member over REST"
        );
        let answer = bob
            .request(json!({"type":"send","room":"secret","text": command}))
            .await
            .unwrap();
        assert_eq!(
            answer["code"], "not_member",
            "{command} by a non-member: {answer}"
        );
    }

    // Nothing bob, carol or the anonymous client tried reached a room.
    let history = alice
        .request_ok(json!({"type":"history","room":"secret"}), "history")
        .await
        .unwrap();
    let events = history["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .all(|e| e["author"] == "alice" && e["kind"] != "message"),
        "{history}"
    );
    let history = alice
        .request_ok(json!({"type":"history","room":"lobby"}), "history")
        .await
        .unwrap();
    let kinds: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["join", "join", "join"], "{history}");
    let who = alice
        .request_ok(json!({"type":"who","room":"lobby"}), "members")
        .await
        .unwrap();
    let mut roles: Vec<(String, String)> = who["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        [
            ("alice".to_owned(), "owner".to_owned()),
            ("bob".to_owned(), "member".to_owned()),
            ("dave".to_owned(), "member".to_owned()),
        ],
        "{who}"
    );
}
