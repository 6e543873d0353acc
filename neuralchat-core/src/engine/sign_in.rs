//! Log-in through the sign-in throttle, audited without ever writing a
//! refused name as typed (it may be a password typed in the wrong field).

use super::Engine;
use crate::accounts::LoginGrant;
use crate::error::ChatResult;
use crate::names::{normalize_username, user_key};
use crate::throttle::Knock;
use sha2::{Digest, Sha256};
use slog::{info, warn};

/// A name that was refused, as the log may show it: a short hash of its
/// key (an operator can hash a suspected name to compare) and its length.
pub(crate) fn name_digest(name: &str) -> (String, usize) {
    let digest = Sha256::digest(user_key(name).as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    (hex, name.chars().count())
}

/// The IP part of a peer address (`"1.2.3.4:5678"` -> `"1.2.3.4"`); the
/// whole text when it is not a socket address.
pub fn client_address(peer: &str) -> String {
    match peer.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip().to_string(),
        Err(_) => peer.to_owned(),
    }
}

impl Engine {
    /// Creates an account; `address` is the client's IP address (`None`
    /// for in-process callers), counted by the throttle.
    pub async fn register_from(
        &self,
        username: &str,
        password: &str,
        address: Option<&str>,
    ) -> ChatResult<String> {
        let result = match self.reserved_name_conflict(username) {
            Some(refused) => Err(refused),
            None => match self.shared.throttle.register(address).await {
                // The hashing slot is held while the password is hashed.
                Ok(_slot) => self.shared.accounts.register(username, password).await,
                Err(refused) => Err(refused),
            },
        };
        match &result {
            Ok(user) => {
                info!(self.audit(), "register"; "action" => "register", "user" => user,
                    "address" => address)
            }
            Err(e) => {
                let (name_hash, name_chars) = name_digest(username);
                info!(self.audit(), "register refused"; "action" => "register",
                    "name_hash" => name_hash, "name_chars" => name_chars,
                    "address" => address, "code" => %e.code)
            }
        }
        result
    }

    /// Logs in with a password; `address` is the client's IP address
    /// (`None` for in-process callers), counted by the throttle.
    pub async fn login_from(
        &self,
        username: &str,
        password: &str,
        address: Option<&str>,
    ) -> ChatResult<LoginGrant> {
        let key = user_key(&normalize_username(username));
        let knock = Knock {
            account: &key,
            address,
        };
        let result = match self.shared.throttle.login(knock).await {
            Ok(attempt) => {
                let result = self.shared.accounts.login(username, password).await;
                if result.is_ok() {
                    attempt.succeeded();
                }
                result
            }
            Err(refused) => Err(refused),
        };
        match &result {
            Ok(grant) => {
                info!(self.audit(), "login ok"; "action" => "login_ok", "user" => &grant.user,
                    "address" => address)
            }
            Err(e) => {
                let (name_hash, name_chars) = name_digest(username);
                warn!(self.audit(), "login failed"; "action" => "login_failed",
                    "name_hash" => name_hash, "name_chars" => name_chars,
                    "address" => address, "code" => %e.code)
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_names_are_logged_as_a_hash_that_ignores_case() {
        let (hash, chars) = name_digest("Alice");
        assert_eq!((hash.len(), chars), (12, 5));
        assert_eq!(name_digest("alice").0, hash);
        assert_ne!(name_digest("alicf").0, hash);
    }

    #[test]
    fn addresses_drop_the_port() {
        assert_eq!(client_address("127.0.0.1:4000"), "127.0.0.1");
        assert_eq!(client_address("[::1]:4000"), "::1");
        assert_eq!(client_address("unknown"), "unknown");
    }
}
