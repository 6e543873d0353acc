//! Engine configuration. Every field has a sane default; the server fills
//! these from `neuralchat.toml`, the environment and flags.

use serde::{Deserialize, Serialize};

/// The longest token lifetime accepted: ten years.
pub const MAX_TOKEN_TTL_SECS: u64 = 10 * 365 * 24 * 3600;

/// Everything the engine needs to know, grouped as in `neuralchat.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// This node's identity.
    pub node: NodeConfig,
    /// Passwords and tokens.
    pub accounts: AccountsConfig,
    /// Sizes and rates that protect the server.
    pub limits: LimitsConfig,
    /// How much history clients get.
    pub history: HistoryConfig,
    /// The database worker pool.
    pub store: StoreConfig,
    /// Whether audit records include message bodies (off by default).
    pub log_bodies: bool,
    /// Server admins (user names): every permission in every room.
    pub admins: Vec<String>,
    /// AI bots (`[[bots]]`); by default one, Olga, on a local llama.cpp server.
    pub bots: Vec<crate::bots::BotConfig>,
}

impl EngineConfig {
    /// The most messages any bot reads as context: what a room keeps in
    /// memory for its bots (0 with no bots).
    pub fn bot_context_capacity(&self) -> usize {
        self.bots
            .iter()
            .map(|b| b.context_messages as usize)
            .max()
            .unwrap_or(0)
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            node: NodeConfig::default(),
            accounts: AccountsConfig::default(),
            limits: LimitsConfig::default(),
            history: HistoryConfig::default(),
            store: StoreConfig::default(),
            log_bodies: false,
            admins: Vec::new(),
            bots: vec![crate::bots::BotConfig::olga()],
        }
    }
}

/// This node's identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// The node id stamped on every event created here; a random one per
    /// start when unset.
    pub id: Option<String>,
}

/// Passwords and tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// bcrypt cost factor (4..=31); 12 by default.
    pub bcrypt_cost: u32,
    /// How long a log-in token stays valid, in seconds (30 days by default).
    pub token_ttl_secs: u64,
    /// The shortest password accepted, in characters.
    pub min_password_chars: usize,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            bcrypt_cost: 12,
            token_ttl_secs: 30 * 24 * 3600,
            min_password_chars: 8,
        }
    }
}

/// Sizes and rates that protect the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// The largest client frame, in bytes.
    pub max_frame_bytes: usize,
    /// The longest message, in characters.
    pub max_message_chars: usize,
    /// Frames per second a session may send, on average.
    pub frames_per_second: f64,
    /// Frames a session may send in one burst.
    pub frame_burst: f64,
    /// Messages per second a user may post, on average, over all sessions.
    pub messages_per_second: f64,
    /// Messages a user may post in one burst.
    pub message_burst: f64,
    /// Frames queued for one session before it counts as too slow and is
    /// disconnected.
    pub outbox_capacity: usize,
    /// Log-in attempts that may fail for one account within
    /// `sign_in_window_secs` (successful ones do not count).
    pub login_attempts_per_account: u32,
    /// Log-in attempts that may fail from one client address within
    /// `sign_in_window_secs`.
    pub login_attempts_per_address: u32,
    /// Accounts one client address may register within `sign_in_window_secs`.
    pub registrations_per_address: u32,
    /// The window the three limits above are counted over, in seconds
    /// (tries come back evenly over it).
    pub sign_in_window_secs: u64,
    /// Passwords hashed at once (bcrypt); 0 means half the CPU cores, at
    /// least one.
    pub password_hashing_threads: usize,
    /// Log-ins and registrations that may wait for a hashing thread; more
    /// are refused with `rate_limited`.
    pub password_queue: usize,
    /// A connection that has not logged in this many seconds after it
    /// opened is closed (`unauthenticated`); 0 never closes it.
    pub login_deadline_secs: u64,
    /// WebSocket connections one client address may hold open at once.
    pub connections_per_address: usize,
    /// MQTT client sessions one node holds at once (over all brokers); an
    /// `open` beyond it is answered `rate_limited`.
    pub mqtt_sessions: usize,
    /// Seconds a frame may wait to be written to a client that does not
    /// read before the connection is closed (`slow_consumer`).
    pub write_deadline_secs: u64,
    /// Rooms one user (not an admin) may create; direct conversations do
    /// not count.
    pub rooms_per_user: u32,
    /// A room's actor (its members, bans and live state in memory) is
    /// stopped once nobody used it for this many seconds and no session is
    /// in it; it is loaded again on next use. 0 keeps every room open.
    pub idle_room_secs: u64,
}

impl LimitsConfig {
    /// The number of passwords hashed at once.
    pub fn password_hashing_slots(&self) -> usize {
        if self.password_hashing_threads > 0 {
            return self.password_hashing_threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (cores / 2).max(1)
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            max_message_chars: 4000,
            frames_per_second: 50.0,
            frame_burst: 100.0,
            messages_per_second: 5.0,
            message_burst: 20.0,
            outbox_capacity: 1024,
            login_attempts_per_account: 10,
            login_attempts_per_address: 30,
            registrations_per_address: 20,
            sign_in_window_secs: 300,
            password_hashing_threads: 0,
            password_queue: 64,
            login_deadline_secs: 30,
            connections_per_address: 1000,
            mqtt_sessions: 10_000,
            write_deadline_secs: 10,
            rooms_per_user: 100,
            idle_room_secs: 600,
        }
    }
}

/// How much history clients get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Events sent with `joined`.
    pub join_events: u32,
    /// The largest page a client may ask for.
    pub page_max: u32,
    /// The page size when the client names none.
    pub page_default: u32,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            join_events: 50,
            page_max: 200,
            page_default: 50,
        }
    }
}

/// The database worker pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Threads running database work (each holds one pooled connection).
    pub threads: usize,
    /// Group commit: the rooms' event commits share transactions (on by
    /// default; off, each commit is a transaction of its own, as a peer
    /// for benchmarks).
    pub group_commit: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            threads: 2,
            group_commit: true,
        }
    }
}

impl EngineConfig {
    /// Checks values that types cannot, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        let a = &self.accounts;
        if !(4..=31).contains(&a.bcrypt_cost) {
            return Err(format!(
                "accounts.bcrypt_cost must be 4..=31, not {}",
                a.bcrypt_cost
            ));
        }
        if a.token_ttl_secs == 0 || a.token_ttl_secs > MAX_TOKEN_TTL_SECS {
            return Err(format!(
                "accounts.token_ttl_secs must be in 1..={MAX_TOKEN_TTL_SECS} (ten years)"
            ));
        }
        let l = &self.limits;
        if l.max_frame_bytes < 256 {
            return Err("limits.max_frame_bytes must be at least 256".into());
        }
        if l.max_message_chars == 0 {
            return Err("limits.max_message_chars must be above 0".into());
        }
        for (key, value) in [
            ("limits.frames_per_second", l.frames_per_second),
            ("limits.frame_burst", l.frame_burst),
            ("limits.messages_per_second", l.messages_per_second),
            ("limits.message_burst", l.message_burst),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("{key} must be a positive number, not {value}"));
            }
        }
        if l.outbox_capacity == 0 {
            return Err("limits.outbox_capacity must be above 0".into());
        }
        for (key, value) in [
            (
                "limits.login_attempts_per_account",
                l.login_attempts_per_account,
            ),
            (
                "limits.login_attempts_per_address",
                l.login_attempts_per_address,
            ),
            (
                "limits.registrations_per_address",
                l.registrations_per_address,
            ),
        ] {
            if value == 0 {
                return Err(format!("{key} must be above 0"));
            }
        }
        if l.connections_per_address == 0 {
            return Err("limits.connections_per_address must be above 0".into());
        }
        if l.mqtt_sessions == 0 {
            return Err("limits.mqtt_sessions must be above 0".into());
        }
        if l.write_deadline_secs == 0 {
            return Err("limits.write_deadline_secs must be above 0".into());
        }
        if l.sign_in_window_secs == 0 {
            return Err("limits.sign_in_window_secs must be above 0".into());
        }
        let h = &self.history;
        if h.page_max == 0 || h.page_default == 0 || h.page_default > h.page_max {
            return Err("history.page_default must be in 1..=history.page_max".into());
        }
        if self.store.threads == 0 {
            return Err("store.threads must be above 0".into());
        }
        let mut names = std::collections::HashSet::new();
        for (i, bot) in self.bots.iter().enumerate() {
            bot.validate(i)?;
            for name in std::iter::once(&bot.name).chain(&bot.aliases) {
                if !names.insert(crate::names::user_key(name)) {
                    return Err(format!("bots[{i}]: the name {name:?} is used twice"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(EngineConfig::default().validate(), Ok(()));
        assert_eq!(EngineConfig::default().accounts.bcrypt_cost, 12);
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut config = EngineConfig::default();
        config.accounts.bcrypt_cost = 2;
        assert!(config
            .validate()
            .unwrap_err()
            .contains("accounts.bcrypt_cost"));
        let mut config = EngineConfig::default();
        config.limits.message_burst = 0.0;
        assert!(config
            .validate()
            .unwrap_err()
            .contains("limits.message_burst"));
    }
}
