//! The same store checks against SQLite (a temp file) and a throwaway
//! PostgreSQL server started for this test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use neuralchat_core::event::{Event, EventIdGen, EventKind};
use neuralchat_core::store::{Appended, Backend, Conn, Db, StoreError};
use neuralchat_testkit::postgres::PgFixture;
use tempfile::TempDir;

fn event(ids: &EventIdGen, room: &str, author: &str, text: &str, client_id: Option<&str>) -> Event {
    let id = ids.next();
    Event {
        id,
        room: room.into(),
        kind: EventKind::Message,
        author: author.into(),
        origin: "node-test".into(),
        ts: id.millis(),
        text: text.into(),
        client_id: client_id.map(str::to_owned),
        target: None,
        mentions: Vec::new(),
        reply_to: None,
        stopped: false,
        failed: false,
    }
}

/// Every check, on one database.
fn exercise(db: &mut Conn<'_>) {
    let ids = EventIdGen::new();

    // Users: unique by key, case preserved.
    assert!(db.create_user("alice", "Alice", "hash-1", 1).unwrap());
    assert!(!db.create_user("alice", "alice", "hash-2", 2).unwrap());
    let user = db.find_user("alice").unwrap().unwrap();
    assert_eq!(
        (user.username.as_str(), user.password_hash.as_str()),
        ("Alice", "hash-1")
    );
    assert!(db.find_user("nobody").unwrap().is_none());

    // Tokens: found while live, not after expiry or deletion.
    db.insert_token("t-hash", "Alice", 10, 1_000).unwrap();
    assert_eq!(
        db.token_user("t-hash", 500).unwrap().as_deref(),
        Some("Alice")
    );
    assert_eq!(db.token_user("t-hash", 1_000).unwrap(), None);
    assert!(db.delete_token("t-hash").unwrap());
    assert!(!db.delete_token("t-hash").unwrap());
    assert_eq!(db.token_user("t-hash", 500).unwrap(), None);

    // Rooms and members.
    assert!(db.ensure_room("general", "Alice", false, 1).unwrap());
    assert!(!db.ensure_room("general", "bob", true, 2).unwrap());
    let settings = db.room_settings("general").unwrap().unwrap();
    assert_eq!(
        (settings.creator.as_str(), settings.private, settings.topic),
        ("Alice", false, None)
    );
    assert_eq!(db.room_settings("missing").unwrap(), None);
    db.set_topic("general", Some("rust")).unwrap();
    db.set_private("general", true).unwrap();
    let context = ids.next();
    db.set_context_from("general", context).unwrap();
    let settings = db.room_settings("general").unwrap().unwrap();
    assert_eq!(settings.topic.as_deref(), Some("rust"));
    assert!(settings.private);
    assert_eq!(settings.context_from, Some(context));
    db.set_private("general", false).unwrap();
    assert!(db.add_member("general", "Alice", "owner", 1).unwrap());
    assert!(!db.add_member("general", "Alice", "member", 2).unwrap());
    assert!(db.add_member("general", "bob", "member", 3).unwrap());
    assert_eq!(
        db.members("general").unwrap(),
        vec![
            ("Alice".to_owned(), "owner".to_owned()),
            ("bob".to_owned(), "member".to_owned())
        ]
    );
    assert_eq!(
        db.room_names().unwrap(),
        vec![("general".to_owned(), false)]
    );
    let rooms = db.room_records(&["general".to_owned()]).unwrap();
    assert_eq!((rooms[0].name.as_str(), rooms[0].members), ("general", 2));
    assert!(db.set_role("general", "bob", "moderator").unwrap());
    assert!(!db.set_role("general", "carol", "moderator").unwrap());
    assert_eq!(db.members("general").unwrap()[1].1, "moderator");
    assert_eq!(db.member_rooms("bob").unwrap(), vec!["general".to_owned()]);
    assert!(db.remove_member("general", "bob").unwrap());
    assert!(!db.remove_member("general", "bob").unwrap());

    // Bans and invitations.
    db.ban("general", "mallory", "Alice", 5).unwrap();
    db.ban("general", "mallory", "Alice", 6).unwrap();
    assert_eq!(db.bans("general").unwrap(), vec!["mallory".to_owned()]);
    assert!(db.unban("general", "mallory").unwrap());
    assert!(!db.unban("general", "mallory").unwrap());
    assert!(!db.is_invited("general", "carol").unwrap());
    db.invite("general", "carol", "Alice", 7).unwrap();
    db.invite("general", "carol", "Alice", 8).unwrap();
    assert!(db.is_invited("general", "carol").unwrap());

    // Events: idempotent by id, findable by client id, paged newest-last.
    let first = event(&ids, "general", "Alice", "first", Some("c-1"));
    assert_eq!(db.append_event(&first).unwrap(), Appended::Stored);
    assert_eq!(
        db.append_event(&first).unwrap(),
        Appended::AlreadyStored,
        "same id twice is stored once"
    );
    // Another event with the same client id (a retry through another node)
    // is told apart from the same event, and answered with the stored one.
    let retry = event(&ids, "general", "Alice", "first again", Some("c-1"));
    assert_eq!(
        db.append_event(&retry).unwrap(),
        Appended::ClientIdTaken(Box::new(first.clone()))
    );
    assert!(db.is_member("general", "Alice").unwrap());
    assert!(!db.is_member("general", "nobody").unwrap());
    assert_eq!(
        db.event_by_client_id("general", "Alice", "c-1").unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        db.event_by_client_id("general", "bob", "c-1").unwrap(),
        None
    );
    let mut all = vec![first];
    for i in 0..24 {
        let e = event(&ids, "general", "bob", &format!("m{i}"), None);
        assert_eq!(db.append_event(&e).unwrap(), Appended::Stored);
        all.push(e);
    }
    db.append_event(&event(&ids, "other", "bob", "elsewhere", None))
        .unwrap();

    let page = db.history("general", None, 10).unwrap();
    assert!(page.more);
    assert_eq!(page.events, all[15..].to_vec());
    let page = db.history("general", Some(all[15].id), 10).unwrap();
    assert_eq!(page.events, all[5..15].to_vec());
    let page = db.history("general", Some(all[5].id), 10).unwrap();
    assert!(!page.more);
    assert_eq!(page.events, all[..5].to_vec());
    assert!(db.history("missing", None, 10).unwrap().events.is_empty());
    assert_eq!(
        db.events_after("general", Some(all[20].id), 3).unwrap(),
        all[22..25].to_vec()
    );
    assert_eq!(
        db.events_after("general", None, 2).unwrap(),
        all[23..25].to_vec()
    );
    // What a bot reads: messages only, however many other events follow.
    let mut join = event(&ids, "general", "carol", "", None);
    join.kind = EventKind::Join;
    assert_eq!(db.append_event(&join).unwrap(), Appended::Stored);
    assert_eq!(
        db.messages_after("general", Some(all[20].id), 3).unwrap(),
        all[22..25].to_vec()
    );
    assert_eq!(
        db.events_after("general", None, 1).unwrap(),
        vec![join.clone()]
    );

    // Event metadata survives the round trip.
    let mut meta = event(&ids, "general", "Alice", "hi @bob", None);
    meta.mentions = vec!["bob".into()];
    meta.target = Some("bob".into());
    meta.reply_to = Some(all[0].id);
    meta.stopped = true;
    db.append_event(&meta).unwrap();
    assert_eq!(
        db.history("general", None, 1).unwrap().events,
        vec![meta.clone()]
    );

    // Mentions: unread until taken, once.
    db.insert_mentions(meta.id, "general", &["bob".to_owned()])
        .unwrap();
    assert_eq!(
        db.take_unread_mentions("bob", 10).unwrap(),
        vec![meta.clone()]
    );
    assert!(db.take_unread_mentions("bob", 10).unwrap().is_empty());

    // Bot token usage adds up per bot, user and day.
    assert_eq!(db.bot_usage("Olga", "bob", "2026-11-25").unwrap(), 0);
    db.add_bot_usage("Olga", "bob", "2026-11-25", 30).unwrap();
    db.add_bot_usage("Olga", "bob", "2026-11-25", 12).unwrap();
    db.add_bot_usage("Olga", "bob", "2026-11-26", 5).unwrap();
    assert_eq!(db.bot_usage("Olga", "bob", "2026-11-25").unwrap(), 42);

    // Deleting a room's history up to an event leaves that event, anything
    // newer, and other rooms alone.
    let cleared = event(&ids, "general", "Alice", "", None);
    let later = event(&ids, "general", "bob", "after", None);
    db.append_event(&cleared).unwrap();
    db.append_event(&later).unwrap();
    assert_eq!(db.delete_events_before("general", cleared.id).unwrap(), 27);
    assert_eq!(
        db.history("general", None, 10).unwrap().events,
        vec![cleared, later]
    );
    assert_eq!(db.history("other", None, 10).unwrap().events.len(), 1);
}

/// Every check on a fresh database at `url`, then again after reopening it
/// (no migration runs twice; the data is kept).
fn exercise_and_reopen(url: &str, backend: Backend) {
    let db = Db::open(url, 2).unwrap();
    assert_eq!(db.backend(), backend);
    db.run(|c| {
        exercise(c);
        Ok(())
    })
    .unwrap();
    drop(db);
    let db = Db::open(url, 1).unwrap();
    let page = db.run(|c| c.history("other", None, 200)).unwrap();
    assert_eq!(page.events.len(), 1);
}

#[test]
fn sqlite_store() {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    exercise_and_reopen(&url, Backend::Sqlite);
}

#[test]
fn postgres_store() {
    let pg = PgFixture::start().unwrap();
    exercise_and_reopen(
        &pg.create_database("store_test").unwrap(),
        Backend::Postgres,
    );
}

/// A job that fails leaves nothing behind: it is one transaction.
fn a_failed_job_stores_nothing(db: &Db) {
    let failed: Result<(), StoreError> = db.run(|c| {
        c.create_user("zed", "zed", "hash", 1)?;
        Err(StoreError::Corrupt("stop here".into()))
    });
    assert!(failed.is_err());
    assert_eq!(db.run(|c| c.find_user("zed")).unwrap(), None);
}

#[test]
fn jobs_are_transactions_on_both_backends() {
    let dir = TempDir::new().unwrap();
    let sqlite = Db::open(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        1,
    )
    .unwrap();
    a_failed_job_stores_nothing(&sqlite);
    let pg = PgFixture::start().unwrap();
    let postgres = Db::open(&pg.create_database("tx_test").unwrap(), 1).unwrap();
    a_failed_job_stores_nothing(&postgres);
}

#[test]
fn unusable_urls_fail_clearly() {
    let err = Db::open("mysql://x", 1).unwrap_err();
    assert!(
        err.to_string().contains("unsupported database URL"),
        "{err}"
    );
    let err = Db::open("postgres://postgres@127.0.0.1:1/none", 1).unwrap_err();
    assert!(err.to_string().contains("connection failed"), "{err}");
}

/// A read runs while a write transaction is open on another connection (on
/// SQLite a write transaction holds the database's write lock; a read
/// taking that lock too would wait behind it, here for ever, since the
/// writer ends only after the read) and sees what was committed before it.
#[test]
fn a_read_does_not_wait_for_a_writer() {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let db = std::sync::Arc::new(Db::open(&url, 2).unwrap());
    db.run(|c| c.create_user("ann", "ann", "hash", 1)).unwrap();
    let (writing, write_open) = std::sync::mpsc::channel();
    let (read_done, may_commit) = std::sync::mpsc::channel::<()>();
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            db.run(|c| {
                c.create_user("bob", "bob", "hash", 2)?;
                writing.send(()).unwrap();
                may_commit.recv().unwrap();
                Ok(())
            })
        })
    };
    write_open.recv().unwrap();
    let (ann, bob) = db
        .read(|c| Ok((c.find_user("ann")?, c.find_user("bob")?)))
        .unwrap();
    read_done.send(()).unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(ann.map(|u| u.username).as_deref(), Some("ann"));
    assert_eq!(bob, None, "the writer had not committed");
    assert!(db.run(|c| c.find_user("bob")).unwrap().is_some());
}
