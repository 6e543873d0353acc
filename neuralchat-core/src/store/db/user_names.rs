//! Users and look-alike names. Every user row carries its name's confusable
//! skeleton ([`name_skeleton`], unique in the table), computed here on
//! every insert, for local registrations and relayed ones alike, and filled
//! in when the store opens for rows made before the column existed.

use super::Conn;
use crate::names::name_skeleton;
use crate::store::schema::{tokens, users};
use crate::store::StoreError;
use diesel::prelude::*;

/// What [`Conn::insert_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewUser {
    /// The user is stored.
    Created,
    /// A user with the same key (the name ignoring case) exists; nothing
    /// was stored.
    NameTaken,
    /// A user whose name looks like this one (the same skeleton) exists;
    /// nothing was stored.
    LookAlike,
}

/// The user holding a skeleton.
#[derive(Debug)]
struct Holder {
    name_key: String,
    username: String,
    password_hash: String,
    created_at: i64,
}

impl Conn<'_> {
    /// Creates a user unless one has the same key or a look-alike name.
    /// The skeleton is computed from `name_key`, so the same key always
    /// has the same skeleton.
    pub fn insert_user(
        &mut self,
        name_key: &str,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<NewUser, StoreError> {
        let skeleton = name_skeleton(name_key);
        let inserted = with_conn!(self, conn => {
            diesel::insert_into(users::table)
                .values((
                    users::name_key.eq(name_key),
                    users::username.eq(username),
                    users::password_hash.eq(password_hash),
                    users::created_at.eq(now),
                    users::name_skeleton.eq(Some(skeleton.as_str())),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?
        });
        if inserted == 1 {
            return Ok(NewUser::Created);
        }
        if self.find_user(name_key)?.is_some() {
            return Ok(NewUser::NameTaken);
        }
        if self.skeleton_holder(&skeleton)?.is_some() {
            return Ok(NewUser::LookAlike);
        }
        // The conflicting row was removed between the insert and the
        // look-ups (a look-alike resolved at that moment).
        Err(StoreError::Conflict(format!(
            "user {name_key:?} was neither stored nor found"
        )))
    }

    /// A relayed registration whose name looks like the user holding its
    /// skeleton here (two look-alike names registered on two nodes before
    /// either heard of the other, or relayed by a node that did not check).
    /// Every node applies the rule it applies to one name registered twice:
    /// the earlier registration (at the same moment: the smaller hash) keeps
    /// its name everywhere, and the other account is removed with its tokens.
    /// Returns whether this registration took the holder's place. Never
    /// fails for the conflict itself: replication goes on either way.
    pub fn adopt_earlier_look_alike(
        &mut self,
        name_key: &str,
        username: &str,
        password_hash: &str,
        created_at: i64,
    ) -> Result<bool, StoreError> {
        let skeleton = name_skeleton(name_key);
        let Some(holder) = self.skeleton_holder(&skeleton)? else {
            // The holder went meanwhile: this one may be stored now.
            let created = self.insert_user(name_key, username, password_hash, created_at)?;
            return Ok(created == NewUser::Created);
        };
        if (created_at, password_hash) >= (holder.created_at, holder.password_hash.as_str()) {
            return Ok(false);
        }
        with_conn!(self, conn => {
            diesel::delete(tokens::table.filter(tokens::username.eq(&holder.username)))
                .execute(conn)?;
            diesel::delete(users::table.filter(users::name_key.eq(&holder.name_key)))
                .execute(conn)?;
        });
        let created = self.insert_user(name_key, username, password_hash, created_at)?;
        Ok(created == NewUser::Created)
    }

    /// Fills in the skeleton of users stored before the column existed,
    /// earliest registration first: of several look-alike names the
    /// earliest gets the skeleton (and so refuses new look-alikes); the
    /// later ones keep none and stay as they were. Returns how many users
    /// were left without a skeleton.
    pub fn backfill_name_skeletons(&mut self) -> Result<usize, StoreError> {
        let keys: Vec<String> = with_conn!(self, conn => {
            users::table
                .filter(users::name_skeleton.is_null())
                .order((users::created_at.asc(), users::password_hash.asc()))
                .select(users::name_key)
                .load::<String>(conn)?
        });
        let mut left = 0;
        for key in keys {
            let skeleton = name_skeleton(&key);
            if self.skeleton_holder(&skeleton)?.is_some() {
                left += 1;
                continue;
            }
            with_conn!(self, conn => {
                diesel::update(users::table.find(&key))
                    .set(users::name_skeleton.eq(Some(skeleton.as_str())))
                    .execute(conn)?;
            });
        }
        Ok(left)
    }

    /// The user whose name has this skeleton, if any.
    fn skeleton_holder(&mut self, skeleton: &str) -> Result<Option<Holder>, StoreError> {
        let row: Option<(String, String, String, i64)> = with_conn!(self, conn => {
            users::table
                .filter(users::name_skeleton.eq(skeleton))
                .select((
                    users::name_key,
                    users::username,
                    users::password_hash,
                    users::created_at,
                ))
                .first(conn)
                .optional()?
        });
        Ok(
            row.map(|(name_key, username, password_hash, created_at)| Holder {
                name_key,
                username,
                password_hash,
                created_at,
            }),
        )
    }
}
