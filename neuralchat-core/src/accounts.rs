//! Registration, log-in, tokens. Passwords are bcrypt-hashed on blocking
//! threads; tokens are random and stored only as SHA-256 hashes.

use crate::config::AccountsConfig;
use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::event::{Event, EventKind, EventSource, ACCOUNTS_LOG};
use crate::names::{normalize_username, user_key, validate_username};
use crate::store::{NewUser, Store};
use crate::text::is_blank;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

/// bcrypt reads at most this many bytes; longer passwords are refused.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// A successful log-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginGrant {
    /// The user name as registered.
    pub user: String,
    /// The bearer token (only ever held by the client).
    pub token: String,
    /// Expiry, milliseconds since the epoch.
    pub expires_at: i64,
}

/// Account operations over the store.
#[derive(Clone)]
pub struct Accounts {
    /// Where users and tokens live.
    store: Store,
    /// Cost and lifetimes.
    config: AccountsConfig,
    /// Makes the accounts log's events (replicated to other nodes).
    events: EventSource,
    /// Where stored account events are announced (the mesh publishes them).
    committed: broadcast::Sender<Event>,
    /// A hash of a random password at the configured cost: unknown users are
    /// checked against it so a failed log-in takes as long either way.
    decoy_hash: String,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// SHA-256 of a token, hex; what the store keeps.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh token: 256 random bits, base64url.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn hash_password(password: String, cost: u32) -> ChatResult<String> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|_| ChatError::internal())?
        .map_err(|_| ChatError::internal())
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
        .unwrap_or(false)
}

impl Accounts {
    /// Prepares account handling (computes the decoy hash off the async threads).
    pub async fn new(
        store: Store,
        config: AccountsConfig,
        events: EventSource,
        committed: broadcast::Sender<Event>,
    ) -> ChatResult<Self> {
        let decoy_hash = hash_password(new_token(), config.bcrypt_cost).await?;
        Ok(Self {
            store,
            config,
            events,
            committed,
            decoy_hash,
        })
    }

    /// An event of the accounts log, made here.
    fn log_event(&self, kind: EventKind, user: &str, text: String) -> Event {
        self.events.make(ACCOUNTS_LOG, kind, user, text, None)
    }

    /// Announces a stored account event to other nodes.
    fn announce(&self, event: Event) {
        if self.committed.receiver_count() > 0 {
            let _ = self.committed.send(event);
        }
    }

    /// Checks a new password: at most 72 bytes, at least the configured
    /// number of characters, no NUL (bcrypt would end the password there),
    /// and not only spaces and invisible characters.
    fn check_password(&self, password: &str) -> ChatResult<()> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(ChatError::new(
                ErrorCode::PasswordTooLong,
                format!("a password has at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        if password.contains('\0') {
            return Err(ChatError::new(
                ErrorCode::InvalidPassword,
                "a password may not contain a NUL character",
            ));
        }
        if password.chars().count() < self.config.min_password_chars {
            return Err(ChatError::new(
                ErrorCode::InvalidPassword,
                format!(
                    "a password has at least {} characters",
                    self.config.min_password_chars
                ),
            ));
        }
        if is_blank(password) {
            return Err(ChatError::new(
                ErrorCode::InvalidPassword,
                "a password must have visible characters, not only spaces and invisible ones",
            ));
        }
        Ok(())
    }

    /// Creates an account; returns the user name as stored (in NFKC:
    /// `ａｌｉｃｅ` registers `alice`). A name whose key is taken answers
    /// `username_taken`; one that looks like a registered name (the same
    /// confusable skeleton) answers `name_confusable`.
    pub async fn register(&self, username: &str, password: &str) -> ChatResult<String> {
        let username = normalize_username(username);
        validate_username(&username)?;
        self.check_password(password)?;
        let hash = hash_password(password.to_owned(), self.config.bcrypt_cost).await?;
        let key = user_key(&username);
        let event = self.log_event(EventKind::AccountCreated, &username, hash);
        let stored = event.clone();
        let created = self
            .store
            .call("create_user", move |db| {
                let created = db.insert_user(&key, &stored.author, &stored.text, stored.ts)?;
                if created == NewUser::Created {
                    db.append_event(&stored)?;
                }
                Ok(created)
            })
            .await?;
        match created {
            NewUser::Created => {
                self.announce(event);
                Ok(username)
            }
            NewUser::NameTaken => Err(ChatError::new(
                ErrorCode::UsernameTaken,
                "that user name is taken",
            )),
            NewUser::LookAlike => Err(ChatError::new(
                ErrorCode::NameConfusable,
                "that user name looks like a registered user's name",
            )),
        }
    }

    /// Checks a password and issues a token.
    pub async fn login(&self, username: &str, password: &str) -> ChatResult<LoginGrant> {
        let denied =
            || ChatError::new(ErrorCode::InvalidCredentials, "wrong user name or password");
        if password.len() > MAX_PASSWORD_BYTES || password.contains('\0') {
            // Never truncate (bcrypt stops at 72 bytes and at a NUL): such a
            // password cannot match any stored hash.
            return Err(denied());
        }
        if username.chars().any(char::is_control) {
            // No registered name holds one (and PostgreSQL refuses a NUL).
            return Err(denied());
        }
        // The same name as registered: `ａｌｉｃｅ` is `alice`.
        let key = user_key(&normalize_username(username));
        let user = self
            .store
            .read("find_user", move |db| db.find_user(&key))
            .await?;
        let (hash, known) = match &user {
            Some(u) => (u.password_hash.clone(), true),
            None => (self.decoy_hash.clone(), false),
        };
        // Verify even for unknown users so both failures take the same time.
        let matches = verify_password(password.to_owned(), hash).await;
        let Some(user) = user.filter(|_| known && matches) else {
            return Err(denied());
        };
        let token = new_token();
        let ttl_ms = i64::try_from(self.config.token_ttl_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        let expires_at = now_ms().saturating_add(ttl_ms);
        let text = format!("{} {expires_at}", token_hash(&token));
        let event = self.log_event(EventKind::TokenIssued, &user.username, text);
        let stored = event.clone();
        let hash = token_hash(&token);
        self.store
            .call("insert_token", move |db| {
                db.insert_token(&hash, &stored.author, stored.ts, expires_at)?;
                db.append_event(&stored)
            })
            .await?;
        self.announce(event);
        Ok(LoginGrant {
            user: user.username,
            token,
            expires_at,
        })
    }

    /// The user a token belongs to.
    pub async fn authenticate(&self, token: &str) -> ChatResult<String> {
        let hash = token_hash(token);
        self.store
            .read("token_user", move |db| db.token_user(&hash, now_ms()))
            .await?
            .ok_or_else(|| {
                ChatError::new(
                    ErrorCode::InvalidToken,
                    "the token is unknown, revoked or expired",
                )
            })
    }

    /// Revokes a token; returns its user.
    pub async fn logout(&self, token: &str) -> ChatResult<String> {
        let user = self.authenticate(token).await?;
        let event = self.log_event(EventKind::TokenRevoked, &user, token_hash(token));
        let stored = event.clone();
        self.store
            .call("delete_token", move |db| {
                db.delete_token(&stored.text)?;
                db.append_event(&stored)
            })
            .await?;
        self.announce(event);
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).map(|v| v.len()).ok(), Some(32));
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
