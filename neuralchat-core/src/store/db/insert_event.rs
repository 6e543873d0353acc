//! The event insert, written out as a query of its own. diesel's insert
//! builder gives an insert of a struct no fixed query id, so on every call
//! it formats the statement's whole text again just to find the prepared
//! statement in its cache (about a seventh of an append's time under
//! `perf`). This query's text never changes, so it has a fixed id: diesel
//! finds its prepared statement by type, and each call only binds values.
//! The placeholders (`?` or `$n`) are the backend's, written by diesel.

use crate::store::rows::EventRow;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryResult, RunQueryDsl};

/// `INSERT INTO events (...) VALUES (...) ON CONFLICT DO NOTHING` for one
/// row: it is skipped when its id or its `(room, author, client_id)` is
/// taken.
pub(super) struct InsertEvent<'a>(pub(super) &'a EventRow);

/// [`InsertEvent`]'s fixed query id.
pub(super) struct InsertEventId;

impl QueryId for InsertEvent<'_> {
    type QueryId = InsertEventId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for InsertEvent<'_>
where
    DB: Backend,
    String: ToSql<Text, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let row = self.0;
        out.push_sql(
            "INSERT INTO events (id, room, kind, author, origin, ts, body, client_id, meta) VALUES (",
        );
        out.push_bind_param::<Text, _>(&row.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&row.room)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&row.kind)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&row.author)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&row.origin)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&row.ts)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&row.body)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&row.client_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&row.meta)?;
        out.push_sql(") ON CONFLICT DO NOTHING");
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for InsertEvent<'_> {}
