//! The users table's look-alike rule on SQLite and PostgreSQL: the
//! skeleton is computed by the store on every insert, relayed look-alikes
//! resolve to the earlier registration, and rows from before the column
//! existed get their skeleton when the store opens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::RunQueryDsl;
use neuralchat_core::store::{Conn, Db, NewUser};
use neuralchat_testkit::postgres::PgFixture;
use tempfile::TempDir;

/// Runs one SQL statement on either backend.
fn sql(conn: &mut Conn<'_>, statement: &str) {
    let query = diesel::sql_query(statement);
    match conn {
        Conn::Sqlite(c) => query.execute(&mut **c).unwrap(),
        Conn::Postgres(c) => query.execute(&mut **c).unwrap(),
    };
}

fn inserts_refuse_look_alikes(db: &Db) {
    db.run(|c| {
        assert_eq!(c.insert_user("alice", "alice", "h1", 10)?, NewUser::Created);
        assert_eq!(
            c.insert_user("alice", "Alice", "h2", 11)?,
            NewUser::NameTaken
        );
        // Cyrillic а: another key, the same skeleton.
        assert_eq!(
            c.insert_user("\u{430}lice", "\u{430}lice", "h3", 12)?,
            NewUser::LookAlike
        );
        assert!(!c.create_user("\u{430}lice", "\u{430}lice", "h3", 12)?);
        assert!(c.find_user("\u{430}lice")?.is_none());
        assert_eq!(c.insert_user("bob", "bob", "h4", 13)?, NewUser::Created);
        Ok(())
    })
    .unwrap();
}

fn relayed_look_alikes_keep_the_earlier(db: &Db) {
    db.run(|c| {
        // Here first, registered later than the relayed look-alike: replaced.
        c.insert_user("carol", "carol", "h5", 200)?;
        c.insert_token("carol-token", "carol", 201, i64::MAX)?;
        assert!(c.adopt_earlier_look_alike("c\u{430}rol", "c\u{430}rol", "h6", 100)?);
        assert!(c.find_user("carol")?.is_none());
        assert_eq!(c.token_user("carol-token", 300)?, None);
        assert_eq!(c.find_user("c\u{430}rol")?.unwrap().password_hash, "h6");
        // A later look-alike changes nothing.
        assert!(!c.adopt_earlier_look_alike("carol", "carol", "h5", 200)?);
        assert_eq!(c.find_user("c\u{430}rol")?.unwrap().password_hash, "h6");
        // The same moment: the smaller hash wins, whichever came first.
        c.insert_user("dan", "dan", "h9", 400)?;
        assert!(!c.adopt_earlier_look_alike("d\u{430}n", "d\u{430}n", "h9z", 400)?);
        assert!(c.adopt_earlier_look_alike("d\u{430}n", "d\u{430}n", "h1", 400)?);
        assert!(c.find_user("dan")?.is_none());
        Ok(())
    })
    .unwrap();
}

/// Rows written before the skeleton column existed (simulated by clearing
/// it and adding a look-alike pair): reopening fills them in, the earlier
/// of the pair holds the skeleton, the later stays usable.
fn reopening_backfills_skeletons(url: &str) {
    let db = Db::open(url, 1).unwrap();
    db.run(|c| {
        sql(c, "UPDATE users SET name_skeleton = NULL");
        sql(
            c,
            "INSERT INTO users (name_key, username, password_hash, created_at) \
             VALUES ('r\u{43e}\u{43e}tadmin', 'r\u{43e}\u{43e}tadmin', 'x', 2), \
                    ('rootadmin', 'rootadmin', 'y', 1)",
        );
        Ok(())
    })
    .unwrap();
    drop(db);
    let db = Db::open(url, 1).unwrap();
    db.run(|c| {
        // The earlier one holds the skeleton; the later still logs in.
        assert!(c.find_user("r\u{43e}\u{43e}tadmin")?.is_some());
        assert_eq!(c.backfill_name_skeletons()?, 1);
        assert_eq!(
            c.insert_user("r00tadmin", "r00tadmin", "z", 3)?,
            NewUser::LookAlike
        );
        // The users whose skeleton was cleared have it again.
        assert_eq!(
            c.insert_user("\u{430}lice", "\u{430}lice", "z", 3)?,
            NewUser::LookAlike
        );
        Ok(())
    })
    .unwrap();
}

fn exercise(url: &str) {
    let db = Db::open(url, 1).unwrap();
    inserts_refuse_look_alikes(&db);
    relayed_look_alikes_keep_the_earlier(&db);
    drop(db);
    reopening_backfills_skeletons(url);
}

#[test]
fn sqlite_look_alikes() {
    let dir = TempDir::new().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("l.db").display()));
}

#[test]
fn postgres_look_alikes() {
    let pg = PgFixture::start().unwrap();
    exercise(&pg.create_database("look_alike_test").unwrap());
}
