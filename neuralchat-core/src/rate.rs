//! Token buckets for frame and message rates.

use std::time::{Duration, Instant};

/// A token bucket: `burst` tokens at most, refilled at `per_second`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens available now.
    tokens: f64,
    /// The most tokens the bucket holds.
    burst: f64,
    /// Tokens added per second.
    per_second: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            tokens: burst,
            burst,
            per_second,
            updated: Instant::now(),
        }
    }

    /// Whether the bucket would be full at `now` (its owner has been idle
    /// long enough that forgetting the bucket changes nothing).
    pub fn is_full_at(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens + elapsed * self.per_second >= self.burst
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    /// Takes one token at the given time (for tests).
    pub fn try_take_at(&mut self, now: Instant) -> bool {
        self.take_or_wait_at(now).is_ok()
    }

    /// Takes one token at `now`, or says how long until one is available.
    pub fn take_or_wait_at(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.per_second;
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
        }
    }

    /// Returns a token taken for something that turned out not to count
    /// (a log-in that succeeded).
    pub fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_refills() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, 3.0);
        assert!((0..3).all(|_| bucket.try_take_at(start)));
        assert!(!bucket.try_take_at(start));
        assert!(bucket.try_take_at(start + Duration::from_millis(500)));
        assert!(!bucket.try_take_at(start + Duration::from_millis(500)));
        // Long idle time refills only up to the burst.
        let later = start + Duration::from_secs(60);
        assert!(bucket.is_full_at(later));
        assert!((0..3).all(|_| bucket.try_take_at(later)));
        assert!(!bucket.try_take_at(later));
        assert!(!bucket.is_full_at(later));
    }

    #[test]
    fn says_how_long_until_the_next_token_and_takes_one_back() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0.5, 1.0);
        assert_eq!(bucket.take_or_wait_at(start), Ok(()));
        assert_eq!(bucket.take_or_wait_at(start), Err(Duration::from_secs(2)));
        bucket.give_back();
        assert_eq!(bucket.take_or_wait_at(start), Ok(()));
    }
}
