//! Guards on the expensive, guessable doors: log-in and registration.
//! Each attempt takes a token from the account's bucket and from the
//! client address's bucket (a log-in that succeeds gives them back, so
//! only failures count); an empty bucket answers `rate_limited` with the
//! time until the next try, before any password is hashed. Password
//! hashing itself (bcrypt, deliberately slow) runs a bounded number at a
//! time, so a storm of log-ins cannot take every core from the chat.

use crate::config::LimitsConfig;
use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::rate::TokenBucket;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Buckets kept per map before the full (idle) ones are dropped.
const PRUNE_AT: usize = 4096;

/// Token buckets by key, pruned of idle ones as the map grows.
struct Buckets {
    /// Tokens a key may spend in one burst.
    burst: f64,
    /// Tokens given back per second.
    per_second: f64,
    /// The buckets.
    map: Mutex<HashMap<String, TokenBucket>>,
}

impl Buckets {
    fn new(per_window: u32, window_secs: u64) -> Self {
        let burst = f64::from(per_window.max(1));
        Self {
            burst,
            per_second: burst / window_secs.max(1) as f64,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`, or says how long until there is one.
    fn take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PRUNE_AT {
            map.retain(|_, bucket| !bucket.is_full_at(now));
        }
        map.entry(key.to_owned())
            .or_insert_with(|| TokenBucket::new(self.per_second, self.burst))
            .take_or_wait_at(now)
    }

    fn give_back(&self, key: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = map.get_mut(key) {
            bucket.give_back();
        }
    }
}

/// The error for an empty bucket: `rate_limited`, with the wait.
fn limited(what: &str, wait: Duration) -> ChatError {
    let secs = wait.as_secs_f64().ceil().max(1.0);
    ChatError::new(
        ErrorCode::RateLimited,
        format!("too many {what}; try again in {secs:.0} s"),
    )
    .retry_after(wait)
}

/// Who is knocking: the account name's key and the client's address
/// (`None` for in-process callers, which have no address).
#[derive(Debug, Clone, Copy)]
pub struct Knock<'a> {
    /// The user name's unique key.
    pub account: &'a str,
    /// The client's IP address, without the port.
    pub address: Option<&'a str>,
}

/// The log-in and registration guards of one node.
pub struct SignInThrottle {
    /// Log-in attempts per account.
    per_account: Buckets,
    /// Log-in attempts per client address.
    per_address: Buckets,
    /// Registrations per client address.
    registrations: Buckets,
    /// Password hashes computed at once.
    hashing: Semaphore,
    /// Attempts waiting for a hashing slot now.
    waiting: AtomicUsize,
    /// Attempts allowed to wait before more are refused.
    max_waiting: usize,
}

/// A log-in attempt let through: it holds a hashing slot, and tells the
/// throttle how it went.
pub struct Attempt<'a> {
    /// The throttle it came through.
    throttle: &'a SignInThrottle,
    /// Who knocked.
    knock: Knock<'a>,
    /// The hashing slot, held until the attempt is over.
    _slot: SemaphorePermit<'a>,
}

impl Attempt<'_> {
    /// The password matched: this attempt does not count against anyone.
    pub fn succeeded(self) {
        self.throttle.per_account.give_back(self.knock.account);
        if let Some(address) = self.knock.address {
            self.throttle.per_address.give_back(address);
        }
    }
}

impl SignInThrottle {
    /// Guards sized by `limits`.
    pub fn new(limits: &LimitsConfig) -> Self {
        let window = limits.sign_in_window_secs;
        Self {
            per_account: Buckets::new(limits.login_attempts_per_account, window),
            per_address: Buckets::new(limits.login_attempts_per_address, window),
            registrations: Buckets::new(limits.registrations_per_address, window),
            hashing: Semaphore::new(limits.password_hashing_slots()),
            waiting: AtomicUsize::new(0),
            max_waiting: limits.password_queue,
        }
    }

    /// Lets a log-in attempt through, or refuses it with `rate_limited`.
    pub async fn login<'a>(&'a self, knock: Knock<'a>) -> ChatResult<Attempt<'a>> {
        self.per_account
            .take(knock.account)
            .map_err(|wait| limited("failed log-ins for this account", wait))?;
        if let Some(address) = knock.address {
            if let Err(wait) = self.per_address.take(address) {
                self.per_account.give_back(knock.account);
                return Err(limited("failed log-ins from this address", wait));
            }
        }
        let slot = self.hashing_slot().await?;
        Ok(Attempt {
            throttle: self,
            knock,
            _slot: slot,
        })
    }

    /// Lets a registration through (holding a hashing slot while the
    /// password is hashed), or refuses it with `rate_limited`.
    pub async fn register(&self, address: Option<&str>) -> ChatResult<SemaphorePermit<'_>> {
        if let Some(address) = address {
            self.registrations
                .take(address)
                .map_err(|wait| limited("registrations from this address", wait))?;
        }
        self.hashing_slot().await
    }

    /// Waits for a hashing slot, unless too many attempts wait already.
    async fn hashing_slot(&self) -> ChatResult<SemaphorePermit<'_>> {
        if let Ok(slot) = self.hashing.try_acquire() {
            return Ok(slot);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(limited(
                "log-ins at once; the server is busy",
                Duration::from_secs(1),
            ));
        }
        // Counted out on drop, so an attempt abandoned while it waits (its
        // request cancelled) does not shrink the queue for good.
        let _waiting = Waiting(&self.waiting);
        // The semaphore is never closed.
        self.hashing
            .acquire()
            .await
            .map_err(|_| ChatError::internal())
    }
}

/// One attempt counted as waiting for a hashing slot, until dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures_util::FutureExt;

    fn limits() -> LimitsConfig {
        LimitsConfig {
            login_attempts_per_account: 3,
            login_attempts_per_address: 5,
            registrations_per_address: 2,
            sign_in_window_secs: 300,
            password_hashing_threads: 1,
            password_queue: 1,
            ..LimitsConfig::default()
        }
    }

    fn knock<'a>(account: &'a str, address: &'a str) -> Knock<'a> {
        Knock {
            account,
            address: Some(address),
        }
    }

    #[tokio::test]
    async fn failures_count_per_account_successes_do_not() {
        let throttle = SignInThrottle::new(&limits());
        for _ in 0..10 {
            throttle
                .login(knock("alice", "10.0.0.1"))
                .await
                .unwrap()
                .succeeded();
        }
        for _ in 0..3 {
            drop(throttle.login(knock("alice", "10.0.0.1")).await.unwrap());
        }
        let Err(refused) = throttle.login(knock("alice", "10.0.0.2")).await else {
            panic!("a fourth failure in the window must be refused");
        };
        assert_eq!(refused.code, ErrorCode::RateLimited);
        // One try back every 100 s (3 per 300 s).
        let wait = refused.retry_after_ms.unwrap();
        assert!((99_000..=100_000).contains(&wait), "{wait}");
        assert!(refused.message.contains("100 s"), "{}", refused.message);
        // Another account is not affected.
        assert!(throttle.login(knock("bob", "10.0.0.3")).await.is_ok());
    }

    #[tokio::test]
    async fn failures_count_per_address() {
        let throttle = SignInThrottle::new(&limits());
        for i in 0..5 {
            drop(
                throttle
                    .login(knock(&format!("user{i}"), "10.0.0.9"))
                    .await
                    .unwrap(),
            );
        }
        let refused = throttle
            .login(knock("user9", "10.0.0.9"))
            .await
            .err()
            .unwrap();
        assert!(refused.message.contains("address"), "{}", refused.message);
        // The refused attempt did not use up user9's own tries.
        assert!(throttle.login(knock("user9", "10.0.0.10")).await.is_ok());
    }

    #[tokio::test]
    async fn registrations_count_per_address() {
        let throttle = SignInThrottle::new(&limits());
        drop(throttle.register(Some("10.0.0.1")).await.unwrap());
        drop(throttle.register(Some("10.0.0.1")).await.unwrap());
        assert_eq!(
            throttle
                .register(Some("10.0.0.1"))
                .await
                .err()
                .unwrap()
                .code,
            ErrorCode::RateLimited
        );
        assert!(throttle.register(None).await.is_ok());
    }

    #[tokio::test]
    async fn hashing_is_bounded_and_the_queue_too() {
        let throttle = SignInThrottle::new(&limits());
        let first = throttle.register(None).await.unwrap();
        // One may wait for the single slot; a third is refused at once.
        let waiting = throttle.register(None);
        tokio::pin!(waiting);
        assert!(waiting.as_mut().now_or_never().is_none());
        let refused = throttle.register(None).await.err().unwrap();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        drop(first);
        assert!(waiting.await.is_ok());
    }

    #[tokio::test]
    async fn an_abandoned_wait_gives_its_queue_place_back() {
        let throttle = SignInThrottle::new(&limits());
        let _held = throttle.register(None).await.unwrap();
        for _ in 0..3 {
            // Waits, then is dropped (a cancelled request): the next one
            // may still wait instead of being refused.
            let mut waiting = Box::pin(throttle.register(None));
            assert!(waiting.as_mut().now_or_never().is_none());
            drop(waiting);
        }
        let mut waiting = Box::pin(throttle.register(None));
        assert!(waiting.as_mut().now_or_never().is_none());
    }
}
