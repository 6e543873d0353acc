//! Synchronous queries over either backend. Each method is written once; the
//! `with_conn!` macro compiles its body for SQLite and for PostgreSQL.

use super::rows::{EventRow, MemberRow, RoomRow, TokenRow, UserRow};
use super::schema::{
    bot_usage, events, mentions, room_bans, room_invites, room_members, rooms, tokens, users,
};
use super::StoreError;
use crate::event::{Event, EventId, EventKind};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::collections::HashMap;
use std::time::Duration;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The PostgreSQL advisory lock nodes hold while migrating (any fixed
/// number unique to NeuralChat: "NCHT" in ASCII).
const MIGRATION_LOCK: i64 = 0x4E43_4854;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (WAL mode).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A pool of connections to one database.
pub enum Db {
    /// SQLite connections.
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    /// PostgreSQL connections.
    Postgres(Pool<ConnectionManager<PgConnection>>),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({:?})", self.backend())
    }
}

/// One connection of either backend, inside a transaction: what every
/// query runs on. Get one from [`Db::run`].
pub enum Conn<'a> {
    /// A SQLite connection.
    Sqlite(&'a mut SqliteConnection),
    /// A PostgreSQL connection.
    Postgres(&'a mut PgConnection),
}

/// Runs `$body` with `$conn` bound to the connection of either backend; the
/// body is compiled once per backend.
macro_rules! with_conn {
    ($source:expr, $conn:ident => $body:expr) => {
        match $source {
            Conn::Sqlite(c) => {
                let $conn = &mut **c;
                $body
            }
            Conn::Postgres(c) => {
                let $conn = &mut **c;
                $body
            }
        }
    };
}

mod insert_event;
mod user_names;
use insert_event::InsertEvent;
pub use user_names::NewUser;

/// Sets up every new SQLite connection: WAL, a busy timeout, and sane syncing.
#[derive(Debug)]
struct SqliteSetup;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteSetup {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// A user account as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user name as registered.
    pub username: String,
    /// The bcrypt hash.
    pub password_hash: String,
}

/// A room in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    /// Canonical name.
    pub name: String,
    /// Topic, if set.
    pub topic: Option<String>,
    /// Number of members.
    pub members: u64,
    /// Invite-only.
    pub private: bool,
}

/// A room's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSettings {
    /// Topic, if set.
    pub topic: Option<String>,
    /// The creator (first owner).
    pub creator: String,
    /// When it was created (ms): with `creator`, decides who created a room
    /// made on two nodes at once.
    pub created_at: i64,
    /// Invite-only.
    pub private: bool,
    /// Bots read messages after this event id (set by `/clear`).
    pub context_from: Option<EventId>,
}

/// What [`Conn::append_event`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// The event is stored now.
    Stored,
    /// An event with the same id was stored already (stored once).
    AlreadyStored,
    /// Another event by the same author in the same room holds the same
    /// client id: that one is the message; nothing new was stored.
    ClientIdTaken(Box<Event>),
}

/// A page of history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// Whether older events exist.
    pub more: bool,
}

impl Db {
    /// Opens a database by URL (`sqlite://PATH`, a bare path, or
    /// `postgres://...`) with `pool_size` connections, and migrates it.
    pub fn open(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        let size = pool_size.max(1);
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = Pool::builder()
                .max_size(size)
                .connection_timeout(Duration::from_secs(10))
                .build(ConnectionManager::<PgConnection>::new(url))
                .map_err(|e| StoreError::Connect(e.to_string()))?;
            Db::Postgres(pool)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            if path.is_empty() || path.contains("://") {
                return Err(StoreError::UnsupportedUrl(url.to_owned()));
            }
            let pool = Pool::builder()
                .max_size(size)
                .connection_timeout(Duration::from_secs(10))
                // A SQLite connection is a file handle in this process: it
                // cannot go stale, so no test query before every job (a
                // PostgreSQL connection can, and keeps the check).
                .test_on_check_out(false)
                .connection_customizer(Box::new(SqliteSetup))
                .build(ConnectionManager::<SqliteConnection>::new(path))
                .map_err(|e| StoreError::Connect(e.to_string()))?;
            Db::Sqlite(pool)
        };
        db.migrate()?;
        Ok(db)
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations, then fills in what they cannot compute
    /// (the user names' skeletons: [`Conn::backfill_name_skeletons`]).
    /// Several nodes may start at once on one database: on PostgreSQL they
    /// take turns under a session-level advisory lock; on SQLite the whole
    /// run is one `BEGIN IMMEDIATE` transaction, so a second process waits
    /// (busy timeout), then finds nothing left to do.
    fn migrate(&self) -> Result<(), StoreError> {
        fn pending<C>(conn: &mut C) -> Result<(), StoreError>
        where
            C: MigrationHarness<C::Backend> + diesel::Connection,
        {
            conn.run_pending_migrations(MIGRATIONS)
                .map(|_| ())
                .map_err(|e| StoreError::Migrate(e.to_string()))
        }
        match self {
            Db::Sqlite(pool) => pool.get()?.immediate_transaction(|c| {
                pending(c)?;
                Conn::Sqlite(c).backfill_name_skeletons().map(|_| ())
            }),
            Db::Postgres(pool) => {
                let mut conn = pool.get()?;
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .execute(&mut *conn)?;
                let done = pending(&mut *conn).and_then(|()| {
                    conn.transaction(|c| Conn::Postgres(c).backfill_name_skeletons())
                        .map(|_| ())
                });
                let unlocked =
                    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                        .execute(&mut *conn);
                done?;
                unlocked?;
                Ok(())
            }
        }
    }

    /// Runs `work` on one pooled connection inside one transaction: all of
    /// it is stored, or none. SQLite transactions take the write lock at
    /// once (`BEGIN IMMEDIATE`), so two writers wait for each other (busy
    /// timeout) instead of failing on a lock upgrade.
    pub fn run<T>(
        &self,
        work: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Db::Sqlite(pool) => pool
                .get()?
                .immediate_transaction(|c| work(&mut Conn::Sqlite(c))),
            Db::Postgres(pool) => pool.get()?.transaction(|c| work(&mut Conn::Postgres(c))),
        }
    }

    /// Runs `work`, which only reads, on one pooled connection inside one
    /// transaction that sees one snapshot. On SQLite it is a deferred
    /// transaction: in WAL mode a reader never waits for the writer (an
    /// immediate one would, and SQLite's busy handler first sleeps a whole
    /// millisecond). Writing in it could fail at once on a busy database
    /// instead of waiting: writes go through [`Db::run`].
    pub fn read<T>(
        &self,
        work: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Db::Sqlite(pool) => pool.get()?.transaction(|c| work(&mut Conn::Sqlite(c))),
            Db::Postgres(pool) => pool
                .get()?
                .build_transaction()
                .read_only()
                .repeatable_read()
                .run(|c| work(&mut Conn::Postgres(c))),
        }
    }
}

impl Conn<'_> {
    /// Runs `work` in a savepoint of the transaction this connection is in:
    /// when it fails, only its own writes are taken back.
    pub fn savepoint<T>(
        &mut self,
        work: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Conn::Sqlite(c) => c.transaction(|c| work(&mut Conn::Sqlite(c))),
            Conn::Postgres(c) => c.transaction(|c| work(&mut Conn::Postgres(c))),
        }
    }

    /// Stores an event, telling apart the two ways it can already be there:
    /// the same event (same id: a relay or a second delivery) or another
    /// event holding the same `(room, author, client_id)` (a retry that
    /// reached another node, or the same node twice at once).
    ///
    /// The insert skips conflicts on either unique key; when nothing was
    /// inserted, each key is looked up in a statement of its own. On
    /// PostgreSQL (read committed) a conflicting insert first waits for the
    /// other transaction to end, and the lookup then sees what it committed.
    pub fn append_event(&mut self, event: &Event) -> Result<Appended, StoreError> {
        let row = EventRow::from(event);
        let id = row.id.clone();
        let inserted = with_conn!(self, conn => InsertEvent(&row).execute(conn)?);
        if inserted == 1 {
            return Ok(Appended::Stored);
        }
        let same_id: i64 = with_conn!(self, conn => {
            events::table.filter(events::id.eq(&id)).count().get_result(conn)?
        });
        if same_id > 0 {
            return Ok(Appended::AlreadyStored);
        }
        if let Some(cid) = &event.client_id {
            if let Some(earlier) = self.event_by_client_id(&event.room, &event.author, cid)? {
                return Ok(Appended::ClientIdTaken(Box::new(earlier)));
            }
        }
        // The conflicting row was deleted between the insert and the lookups
        // (history cleared at that moment): nothing is stored; say so.
        Err(StoreError::Conflict(format!(
            "event {id} was neither stored nor found"
        )))
    }

    /// Puts `event` in the place of the stored event `old` (the same
    /// message stored under two ids on two nodes: one id must win
    /// everywhere); `old`'s mentions go with it.
    pub fn replace_event(&mut self, old: EventId, event: &Event) -> Result<(), StoreError> {
        let old = old.to_string();
        with_conn!(self, conn => {
            diesel::delete(mentions::table.filter(mentions::event_id.eq(&old))).execute(conn)?;
            diesel::delete(events::table.filter(events::id.eq(&old))).execute(conn)?;
        });
        match self.append_event(event)? {
            Appended::Stored | Appended::AlreadyStored => Ok(()),
            Appended::ClientIdTaken(_) => Err(StoreError::Conflict(format!(
                "event {} still conflicts after replacing {old}",
                event.id
            ))),
        }
    }

    /// The event a client already sent with this client id, if any.
    pub fn event_by_client_id(
        &mut self,
        room: &str,
        author: &str,
        client_id: &str,
    ) -> Result<Option<Event>, StoreError> {
        let row: Option<EventRow> = with_conn!(self, conn => {
            events::table
                .filter(events::room.eq(room))
                .filter(events::author.eq(author))
                .filter(events::client_id.eq(client_id))
                .select(EventRow::as_select())
                .first(conn)
                .optional()?
        });
        row.map(Event::try_from).transpose()
    }

    /// Up to `limit` events of a room older than `before` (or the newest), oldest first.
    pub fn history(
        &mut self,
        room: &str,
        before: Option<EventId>,
        limit: u32,
    ) -> Result<HistoryPage, StoreError> {
        let fetch = i64::from(limit) + 1;
        let before = before.map(|id| id.to_string());
        let rows: Vec<EventRow> = with_conn!(self, conn => {
            let mut query = events::table
                .filter(events::room.eq(room))
                .select(EventRow::as_select())
                .order(events::id.desc())
                .limit(fetch)
                .into_boxed();
            if let Some(before) = &before {
                query = query.filter(events::id.lt(before.clone()));
            }
            query.load(conn)?
        });
        let more = rows.len() > limit as usize;
        let mut events = rows
            .into_iter()
            .take(limit as usize)
            .map(Event::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        events.reverse();
        Ok(HistoryPage { events, more })
    }

    /// Up to `limit` events of a room after `after`, oldest first; `more`
    /// says whether newer ones follow (a resuming client asks again after
    /// the last one).
    pub fn history_after(
        &mut self,
        room: &str,
        after: EventId,
        limit: u32,
    ) -> Result<HistoryPage, StoreError> {
        let fetch = i64::from(limit) + 1;
        let after = after.to_string();
        let rows: Vec<EventRow> = with_conn!(self, conn => {
            events::table
                .filter(events::room.eq(room))
                .filter(events::id.gt(&after))
                .select(EventRow::as_select())
                .order(events::id.asc())
                .limit(fetch)
                .load(conn)?
        });
        let more = rows.len() > limit as usize;
        let events = rows
            .into_iter()
            .take(limit as usize)
            .map(Event::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HistoryPage { events, more })
    }

    /// What a joining client is given: the latest `latest` events, or with
    /// `since` (the last event it saw) up to `resume` events after that one.
    pub fn join_history(
        &mut self,
        room: &str,
        since: Option<EventId>,
        latest: u32,
        resume: u32,
    ) -> Result<HistoryPage, StoreError> {
        match since {
            Some(since) => self.history_after(room, since, resume),
            None => self.history(room, None, latest),
        }
    }

    /// Creates a user; returns false when the name (ignoring case) is taken
    /// or looks like a registered one ([`Conn::insert_user`] says which).
    pub fn create_user(
        &mut self,
        name_key: &str,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(self.insert_user(name_key, username, password_hash, now)? == NewUser::Created)
    }

    /// Replaces the account under `name_key` with this one if this one was
    /// registered earlier (or at the same moment with a smaller hash): the
    /// rule every node applies to the same name registered on two nodes at
    /// once. Returns whether it replaced.
    pub fn adopt_earlier_user(
        &mut self,
        name_key: &str,
        username: &str,
        password_hash: &str,
        created_at: i64,
    ) -> Result<bool, StoreError> {
        let updated = with_conn!(self, conn => {
            diesel::update(
                users::table.filter(users::name_key.eq(name_key)).filter(
                    users::created_at.gt(created_at).or(users::created_at
                        .eq(created_at)
                        .and(users::password_hash.gt(password_hash))),
                ),
            )
            .set((
                users::username.eq(username),
                users::password_hash.eq(password_hash),
                users::created_at.eq(created_at),
            ))
            .execute(conn)?
        });
        Ok(updated == 1)
    }

    /// The user with this name key, if any.
    pub fn find_user(&mut self, name_key: &str) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = with_conn!(self, conn => {
            users::table
                .find(name_key)
                .select(UserRow::as_select())
                .first(conn)
                .optional()?
        });
        Ok(row.map(|r| UserRecord {
            username: r.username,
            password_hash: r.password_hash,
        }))
    }

    /// Stores a token's hash for a user, unless it is stored (a token
    /// relayed again from another node).
    pub fn insert_token(
        &mut self,
        token_hash: &str,
        username: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let row = TokenRow {
            token_hash: token_hash.to_owned(),
            username: username.to_owned(),
            created_at: now,
            expires_at,
        };
        with_conn!(self, conn => {
            diesel::insert_into(tokens::table)
                .values(&row)
                .on_conflict_do_nothing()
                .execute(conn)?;
        });
        Ok(())
    }

    /// The user a live (unexpired) token belongs to.
    pub fn token_user(&mut self, token_hash: &str, now: i64) -> Result<Option<String>, StoreError> {
        Ok(with_conn!(self, conn => {
            tokens::table
                .find(token_hash)
                .filter(tokens::expires_at.gt(now))
                .select(tokens::username)
                .first::<String>(conn)
                .optional()?
        }))
    }

    /// Deletes a token; returns whether it existed.
    pub fn delete_token(&mut self, token_hash: &str) -> Result<bool, StoreError> {
        let deleted = with_conn!(self, conn => {
            diesel::delete(tokens::table.find(token_hash)).execute(conn)?
        });
        Ok(deleted == 1)
    }

    /// Creates a room unless it exists; returns whether it was created.
    pub fn ensure_room(
        &mut self,
        name: &str,
        creator: &str,
        private: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let row = RoomRow {
            name: name.to_owned(),
            topic: None,
            creator: creator.to_owned(),
            created_at: now,
            private,
            context_from: None,
        };
        let inserted = with_conn!(self, conn => {
            diesel::insert_into(rooms::table)
                .values(&row)
                .on_conflict_do_nothing()
                .execute(conn)?
        });
        Ok(inserted == 1)
    }

    /// A room's settings, if the room exists.
    pub fn room_settings(&mut self, name: &str) -> Result<Option<RoomSettings>, StoreError> {
        let row: Option<RoomRow> = with_conn!(self, conn => {
            rooms::table.find(name).select(RoomRow::as_select()).first(conn).optional()?
        });
        row.map(|r| {
            let context_from = r
                .context_from
                .map(|id| {
                    id.parse::<EventId>()
                        .map_err(|_| StoreError::Corrupt(format!("context_from {id:?}")))
                })
                .transpose()?;
            Ok(RoomSettings {
                topic: r.topic,
                creator: r.creator,
                created_at: r.created_at,
                private: r.private,
                context_from,
            })
        })
        .transpose()
    }

    /// Makes `creator` (who created the room at `created_at`) its creator.
    pub fn set_creator(
        &mut self,
        room: &str,
        creator: &str,
        created_at: i64,
    ) -> Result<(), StoreError> {
        with_conn!(self, conn => {
            diesel::update(rooms::table.find(room))
                .set((rooms::creator.eq(creator), rooms::created_at.eq(created_at)))
                .execute(conn)?;
        });
        Ok(())
    }

    /// Sets or clears a room's topic.
    pub fn set_topic(&mut self, room: &str, topic: Option<&str>) -> Result<(), StoreError> {
        with_conn!(self, conn => {
            diesel::update(rooms::table.find(room)).set(rooms::topic.eq(topic)).execute(conn)?;
        });
        Ok(())
    }

    /// Makes a room private (invite-only) or public.
    pub fn set_private(&mut self, room: &str, private: bool) -> Result<(), StoreError> {
        with_conn!(self, conn => {
            diesel::update(rooms::table.find(room)).set(rooms::private.eq(private)).execute(conn)?;
        });
        Ok(())
    }

    /// Bots of the room read only events after `from` from now on.
    pub fn set_context_from(&mut self, room: &str, from: EventId) -> Result<(), StoreError> {
        let from = from.to_string();
        with_conn!(self, conn => {
            diesel::update(rooms::table.find(room)).set(rooms::context_from.eq(from)).execute(conn)?;
        });
        Ok(())
    }

    /// Every room's name and whether it is invite-only: what listing
    /// filters and pages by, without topics or member counts.
    pub fn room_names(&mut self) -> Result<Vec<(String, bool)>, StoreError> {
        Ok(with_conn!(self, conn => {
            rooms::table
                .select((rooms::name, rooms::private))
                .load::<(String, bool)>(conn)?
        }))
    }

    /// The named rooms with their topics and member counts, in the order
    /// given (names that match no room are left out).
    pub fn room_records(&mut self, names: &[String]) -> Result<Vec<RoomRecord>, StoreError> {
        let mut records = Vec::with_capacity(names.len());
        // A bounded number of names per query (SQLite caps its parameters).
        for chunk in names.chunks(500) {
            let (rows, counts): (Vec<RoomRow>, Vec<(String, i64)>) = with_conn!(self, conn => {
                let rows = rooms::table
                    .filter(rooms::name.eq_any(chunk))
                    .select(RoomRow::as_select())
                    .load(conn)?;
                let counts = room_members::table
                    .filter(room_members::room.eq_any(chunk))
                    .group_by(room_members::room)
                    .select((room_members::room, diesel::dsl::count_star()))
                    .load(conn)?;
                (rows, counts)
            });
            let counts: HashMap<String, i64> = counts.into_iter().collect();
            let mut rows: HashMap<String, RoomRow> =
                rows.into_iter().map(|r| (r.name.clone(), r)).collect();
            records.extend(chunk.iter().filter_map(|name| {
                let row = rows.remove(name)?;
                Some(RoomRecord {
                    members: counts.get(name).copied().unwrap_or(0).max(0) as u64,
                    name: row.name,
                    topic: row.topic,
                    private: row.private,
                })
            }));
        }
        Ok(records)
    }

    /// Adds a member with a role; returns false if already a member.
    pub fn add_member(
        &mut self,
        room: &str,
        user: &str,
        role: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let row = MemberRow {
            room: room.to_owned(),
            username: user.to_owned(),
            role: role.to_owned(),
            joined_at: now,
        };
        let inserted = with_conn!(self, conn => {
            diesel::insert_into(room_members::table)
                .values(&row)
                .on_conflict_do_nothing()
                .execute(conn)?
        });
        Ok(inserted == 1)
    }

    /// Whether `user` is a member of `room`.
    pub fn is_member(&mut self, room: &str, user: &str) -> Result<bool, StoreError> {
        let found: i64 = with_conn!(self, conn => {
            room_members::table.find((room, user)).count().get_result(conn)?
        });
        Ok(found > 0)
    }

    /// Removes a member; returns whether they were one.
    pub fn remove_member(&mut self, room: &str, user: &str) -> Result<bool, StoreError> {
        let deleted = with_conn!(self, conn => {
            diesel::delete(room_members::table.find((room, user))).execute(conn)?
        });
        Ok(deleted == 1)
    }

    /// A room's members and their roles, by join time.
    pub fn members(&mut self, room: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(with_conn!(self, conn => {
            room_members::table
                .filter(room_members::room.eq(room))
                .order((room_members::joined_at.asc(), room_members::username.asc()))
                .select((room_members::username, room_members::role))
                .load::<(String, String)>(conn)?
        }))
    }

    /// Changes a member's role; returns whether the user is a member.
    pub fn set_role(&mut self, room: &str, user: &str, role: &str) -> Result<bool, StoreError> {
        let updated = with_conn!(self, conn => {
            diesel::update(room_members::table.find((room, user)))
                .set(room_members::role.eq(role))
                .execute(conn)?
        });
        Ok(updated == 1)
    }

    /// The rooms a user is a member of.
    pub fn member_rooms(&mut self, user: &str) -> Result<Vec<String>, StoreError> {
        Ok(with_conn!(self, conn => {
            room_members::table
                .filter(room_members::username.eq(user))
                .select(room_members::room)
                .load::<String>(conn)?
        }))
    }

    /// Bans a user from a room (idempotent).
    pub fn ban(&mut self, room: &str, user: &str, by: &str, now: i64) -> Result<(), StoreError> {
        with_conn!(self, conn => {
            diesel::insert_into(room_bans::table)
                .values((
                    room_bans::room.eq(room),
                    room_bans::username.eq(user),
                    room_bans::banned_by.eq(by),
                    room_bans::banned_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
        });
        Ok(())
    }

    /// Lifts a ban; returns whether there was one.
    pub fn unban(&mut self, room: &str, user: &str) -> Result<bool, StoreError> {
        let deleted = with_conn!(self, conn => {
            diesel::delete(room_bans::table.find((room, user))).execute(conn)?
        });
        Ok(deleted == 1)
    }

    /// The users banned from a room.
    pub fn bans(&mut self, room: &str) -> Result<Vec<String>, StoreError> {
        Ok(with_conn!(self, conn => {
            room_bans::table
                .filter(room_bans::room.eq(room))
                .select(room_bans::username)
                .load::<String>(conn)?
        }))
    }

    /// How many rooms `user` created (direct conversations not counted),
    /// and whether `room` exists.
    pub fn rooms_created(&mut self, user: &str, room: &str) -> Result<(i64, bool), StoreError> {
        Ok(with_conn!(self, conn => {
            let created = rooms::table
                .filter(rooms::creator.eq(user))
                .filter(rooms::name.not_like("@%"))
                .count()
                .get_result::<i64>(conn)?;
            let exists = rooms::table
                .filter(rooms::name.eq(room))
                .count()
                .get_result::<i64>(conn)?;
            (created, exists > 0)
        }))
    }

    /// The rooms `user` is banned from.
    pub fn banned_rooms(&mut self, user: &str) -> Result<Vec<String>, StoreError> {
        Ok(with_conn!(self, conn => {
            room_bans::table
                .filter(room_bans::username.eq(user))
                .select(room_bans::room)
                .load::<String>(conn)?
        }))
    }

    /// Invites a user to a room (idempotent).
    pub fn invite(&mut self, room: &str, user: &str, by: &str, now: i64) -> Result<(), StoreError> {
        with_conn!(self, conn => {
            diesel::insert_into(room_invites::table)
                .values((
                    room_invites::room.eq(room),
                    room_invites::username.eq(user),
                    room_invites::invited_by.eq(by),
                    room_invites::invited_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
        });
        Ok(())
    }

    /// Withdraws (or uses up) a user's invitation; returns whether there was one.
    pub fn take_invite(&mut self, room: &str, user: &str) -> Result<bool, StoreError> {
        let deleted = with_conn!(self, conn => {
            diesel::delete(room_invites::table.find((room, user))).execute(conn)?
        });
        Ok(deleted == 1)
    }

    /// Whether a user holds an invitation to a room.
    pub fn is_invited(&mut self, room: &str, user: &str) -> Result<bool, StoreError> {
        let count: i64 = with_conn!(self, conn => {
            room_invites::table
                .filter(room_invites::room.eq(room))
                .filter(room_invites::username.eq(user))
                .count()
                .get_result(conn)?
        });
        Ok(count > 0)
    }

    /// Records unread mentions of `users` by an event.
    pub fn insert_mentions(
        &mut self,
        event_id: EventId,
        room: &str,
        users: &[String],
    ) -> Result<(), StoreError> {
        let id = event_id.to_string();
        let rows: Vec<_> = users
            .iter()
            .map(|u| {
                (
                    mentions::event_id.eq(id.clone()),
                    mentions::username.eq(u.clone()),
                    mentions::room.eq(room.to_owned()),
                    mentions::seen.eq(false),
                )
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        with_conn!(self, conn => {
            diesel::insert_into(mentions::table)
                .values(&rows)
                .on_conflict_do_nothing()
                .execute(conn)?;
        });
        Ok(())
    }

    /// A user's unread mentions (oldest first, at most `limit`), marked seen.
    pub fn take_unread_mentions(
        &mut self,
        user: &str,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = with_conn!(self, conn => {
            conn.transaction(|conn| {
                let rows: Vec<EventRow> = events::table
                    .inner_join(mentions::table.on(mentions::event_id.eq(events::id)))
                    .filter(mentions::username.eq(user))
                    .filter(mentions::seen.eq(false))
                    .order(events::id.asc())
                    .limit(i64::from(limit))
                    .select(EventRow::as_select())
                    .load(conn)?;
                let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                diesel::update(
                    mentions::table
                        .filter(mentions::username.eq(user))
                        .filter(mentions::event_id.eq_any(ids)),
                )
                .set(mentions::seen.eq(true))
                .execute(conn)?;
                Ok::<_, diesel::result::Error>(rows)
            })?
        });
        rows.into_iter().map(Event::try_from).collect()
    }

    /// Up to `limit` events of every room with ids after `after` (all when
    /// `None`), oldest first: what a node catching up reads from a peer.
    pub fn events_since(
        &mut self,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let after = after.map(|id| id.to_string());
        let rows: Vec<EventRow> = with_conn!(self, conn => {
            let mut query = events::table
                .select(EventRow::as_select())
                .order(events::id.asc())
                .limit(i64::from(limit))
                .into_boxed();
            if let Some(after) = &after {
                query = query.filter(events::id.gt(after.clone()));
            }
            query.load(conn)?
        });
        rows.into_iter().map(Event::try_from).collect()
    }

    /// Up to `limit` messages made on node `origin` with ids after `after`,
    /// oldest first (questions a dead node may have left unanswered).
    pub fn messages_from_origin(
        &mut self,
        origin: &str,
        after: EventId,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let after = after.to_string();
        let rows: Vec<EventRow> = with_conn!(self, conn => {
            events::table
                .filter(events::origin.eq(origin))
                .filter(events::kind.eq("message"))
                .filter(events::id.gt(&after))
                .select(EventRow::as_select())
                .order(events::id.asc())
                .limit(i64::from(limit))
                .load(conn)?
        });
        rows.into_iter().map(Event::try_from).collect()
    }

    /// The newest event id stored, in any room.
    pub fn newest_event_id(&mut self) -> Result<Option<EventId>, StoreError> {
        let id: Option<String> = with_conn!(self, conn => {
            events::table.select(diesel::dsl::max(events::id)).first(conn)?
        });
        id.map(|id| {
            id.parse()
                .map_err(|_| StoreError::Corrupt(format!("event id {id:?}")))
        })
        .transpose()
    }

    /// Deletes a room's events older than `until` (a `history_cleared`
    /// event: it stays, and so does anything newer, wherever it was made)
    /// and their mentions; returns how many events went.
    pub fn delete_events_before(
        &mut self,
        room: &str,
        until: EventId,
    ) -> Result<usize, StoreError> {
        let until = until.to_string();
        Ok(with_conn!(self, conn => {
            diesel::delete(
                mentions::table
                    .filter(mentions::room.eq(room))
                    .filter(mentions::event_id.lt(&until)),
            )
            .execute(conn)?;
            diesel::delete(
                events::table
                    .filter(events::room.eq(room))
                    .filter(events::id.lt(&until)),
            )
            .execute(conn)?
        }))
    }

    /// The latest `limit` events of a room after `after` (exclusive), oldest first.
    pub fn events_after(
        &mut self,
        room: &str,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.latest_events(room, after, limit, false)
    }

    /// The latest `limit` messages (`message` and `action` events: what a
    /// bot reads) of a room after `after` (exclusive), oldest first.
    pub fn messages_after(
        &mut self,
        room: &str,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.latest_events(room, after, limit, true)
    }

    fn latest_events(
        &mut self,
        room: &str,
        after: Option<EventId>,
        limit: u32,
        speech_only: bool,
    ) -> Result<Vec<Event>, StoreError> {
        let after = after.map(|id| id.to_string());
        let kinds = EventKind::SPEECH;
        let speech: Vec<&str> = kinds.iter().map(EventKind::as_str).collect();
        let rows: Vec<EventRow> = with_conn!(self, conn => {
            let mut query = events::table
                .filter(events::room.eq(room))
                .select(EventRow::as_select())
                .order(events::id.desc())
                .limit(i64::from(limit))
                .into_boxed();
            if let Some(after) = &after {
                query = query.filter(events::id.gt(after.clone()));
            }
            if speech_only {
                query = query.filter(events::kind.eq_any(speech));
            }
            query.load(conn)?
        });
        let mut events = rows
            .into_iter()
            .map(Event::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        events.reverse();
        Ok(events)
    }

    /// Adds tokens to what `user` spent with `bot` on `day` (UTC, YYYY-MM-DD).
    pub fn add_bot_usage(
        &mut self,
        bot: &str,
        user: &str,
        day: &str,
        tokens: i64,
    ) -> Result<(), StoreError> {
        use diesel::upsert::excluded;
        with_conn!(self, conn => {
            diesel::insert_into(bot_usage::table)
                .values((
                    bot_usage::bot.eq(bot),
                    bot_usage::username.eq(user),
                    bot_usage::day.eq(day),
                    bot_usage::tokens.eq(tokens),
                ))
                .on_conflict((bot_usage::bot, bot_usage::username, bot_usage::day))
                .do_update()
                .set(bot_usage::tokens.eq(bot_usage::tokens + excluded(bot_usage::tokens)))
                .execute(conn)?;
        });
        Ok(())
    }

    /// Tokens `user` spent with `bot` on `day`.
    pub fn bot_usage(&mut self, bot: &str, user: &str, day: &str) -> Result<i64, StoreError> {
        Ok(with_conn!(self, conn => {
            bot_usage::table
                .find((bot, user, day))
                .select(bot_usage::tokens)
                .first::<i64>(conn)
                .optional()?
                .unwrap_or(0)
        }))
    }
}
