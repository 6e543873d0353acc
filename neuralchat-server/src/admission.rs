//! Who may open a WebSocket: at most `limits.connections_per_address`
//! open at once from one client address, and, when
//! `websocket.allowed_origins` is set, only pages from those origins.

use neuralchat_core::{ChatError, ErrorCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Open WebSocket connections per client address.
#[derive(Clone, Default)]
pub struct OpenConnections(Arc<Counts>);

/// The counts behind [`OpenConnections`].
#[derive(Default)]
struct Counts {
    /// Open connections per client address (addresses with none are not
    /// kept).
    per_address: Mutex<HashMap<String, usize>>,
    /// Woken whenever the last connection closes.
    none_open: Notify,
}

impl Counts {
    /// The counts, even if a thread panicked while holding them (each
    /// change is a single step).
    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One admitted connection; dropping it frees its place.
pub struct Admitted {
    /// The counts it is part of.
    open: OpenConnections,
    /// The client address it counts for.
    address: String,
}

impl OpenConnections {
    /// Admits one more connection from `address`, or refuses it with
    /// `rate_limited` when `max` are open already.
    pub fn admit(&self, address: &str, max: usize) -> Result<Admitted, ChatError> {
        let mut counts = self.0.lock();
        let count = counts.entry(address.to_owned()).or_insert(0);
        if *count >= max {
            return Err(ChatError::new(
                ErrorCode::RateLimited,
                format!("{max} connections from this address are open already"),
            ));
        }
        *count += 1;
        Ok(Admitted {
            open: self.clone(),
            address: address.to_owned(),
        })
    }

    /// Waits until no connection is open, or `limit` has passed; returns
    /// whether none is.
    pub async fn all_closed(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, async {
            loop {
                let closed = self.0.none_open.notified();
                tokio::pin!(closed);
                // Registered before looking, so a close in between is seen.
                closed.as_mut().enable();
                if self.0.lock().is_empty() {
                    return;
                }
                closed.await;
            }
        })
        .await
        .is_ok()
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self.open.0.lock();
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
        if counts.is_empty() {
            self.open.0.none_open.notify_waiters();
        }
    }
}

/// Whether a WebSocket upgrade from a page at `origin` is allowed: an
/// empty list allows any origin (and clients that send none, which is
/// what non-browser clients do); otherwise a browser page's origin must be
/// listed exactly (`https://chat.example.org`).
pub fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    match origin {
        _ if allowed.is_empty() => true,
        None => true,
        Some(origin) => allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn counts_per_address_and_frees_on_drop() {
        let open = OpenConnections::default();
        let first = open.admit("10.0.0.1", 2).unwrap();
        let _second = open.admit("10.0.0.1", 2).unwrap();
        assert_eq!(
            open.admit("10.0.0.1", 2).err().unwrap().code,
            ErrorCode::RateLimited
        );
        assert!(open.admit("10.0.0.2", 2).is_ok());
        drop(first);
        assert!(open.admit("10.0.0.1", 2).is_ok());
    }

    #[tokio::test]
    async fn all_closed_waits_for_the_last_connection() {
        let open = OpenConnections::default();
        assert!(open.all_closed(Duration::ZERO).await);
        let first = open.admit("10.0.0.1", 2).unwrap();
        let second = open.admit("10.0.0.2", 2).unwrap();
        assert!(!open.all_closed(Duration::from_millis(20)).await);
        let waiting = tokio::spawn({
            let open = open.clone();
            async move { open.all_closed(Duration::from_secs(10)).await }
        });
        drop(first);
        drop(second);
        assert!(waiting.await.unwrap());
    }

    #[test]
    fn origins() {
        let list = vec!["https://chat.example.org".to_owned()];
        assert!(origin_allowed(&[], Some("https://evil.example")));
        assert!(origin_allowed(&list, None));
        assert!(origin_allowed(&list, Some("https://CHAT.example.org")));
        assert!(!origin_allowed(&list, Some("https://evil.example")));
        assert!(!origin_allowed(&list, Some("null")));
    }
}
