//! The engine: builds the actor system (store, hub, rooms) and is the one
//! entry point for transports and embedders. Every rule lives behind these
//! methods, whatever the transport.

mod commands;
mod health;
mod relay;
mod rooms;
mod sign_in;

pub(crate) use commands::message_text;
pub use commands::{CommandOutput, Effect, Submitted};
pub use health::DatabaseHealth;
pub(crate) use health::HealthProbe;
pub(crate) use rooms::parse_cursor;
pub use rooms::{JoinedRoom, RoomsPage, ROOMS_PAGE_DEFAULT, ROOMS_PAGE_MAX};
pub use sign_in::client_address;

use crate::accounts::{Accounts, LoginGrant};
use crate::bots::{Bot, BotConfig, BotNames, LlmClient};
use crate::config::EngineConfig;
use crate::error::ChatResult;
use crate::event::{EventIdGen, EventSource};
use crate::hub::Hub;
use crate::outbox::outbox;
use crate::protocol::Limits;
use crate::session::{Session, SessionLink};
use crate::shared::Shared;
use crate::store::{Db, Store, StoreError};
use crate::throttle::SignInThrottle;
use actix::prelude::*;
use relay::COMMITTED_BUFFER;
use slog::{info, o, warn, Logger};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A configuration value is out of range (the text names the key).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A start-up step failed inside the engine.
    #[error("engine start failed: {0}")]
    Start(String),
    /// [`EngineBuilder::build`] was called outside an actix `System`. The
    /// engine is made of actix actors: run it under `#[actix_rt::main]`,
    /// `#[actix_web::main]`, `#[actix_rt::test]` or inside
    /// `actix_rt::System::new().block_on(...)` (a bare `#[tokio::main]` is
    /// not enough).
    #[error(
        "no actix System is running: the engine is made of actix actors; build it inside \
         `actix_rt::System::new().block_on(...)`, or under `#[actix_rt::main]` / \
         `#[actix_web::main]` (`#[actix_rt::test]` in tests), not a bare `#[tokio::main]`"
    )]
    NoActixSystem,
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    /// The configuration.
    config: EngineConfig,
    /// The database URL.
    database: String,
    /// The root logger.
    log: Logger,
}

impl EngineBuilder {
    /// The database URL: `sqlite://PATH`, a file path, or `postgres://...`.
    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.database = url.into();
        self
    }

    /// The logger for operations and audit records.
    pub fn logger(mut self, log: Logger) -> Self {
        self.log = log;
        self
    }

    /// Opens the database (off the async threads), starts the actors.
    ///
    /// # Errors
    ///
    /// - [`EngineError::NoActixSystem`] when called outside an actix
    ///   `System` (see [`Engine::builder`]);
    /// - [`EngineError::Config`] when the configuration does not validate;
    /// - [`EngineError::Store`] when the database cannot be opened or
    ///   migrated;
    /// - [`EngineError::Start`] when another start-up step fails.
    pub async fn build(self) -> Result<Engine, EngineError> {
        // Starting actors outside an actix System panics; refuse instead.
        if actix::System::try_current().is_none() {
            return Err(EngineError::NoActixSystem);
        }
        self.config.validate().map_err(EngineError::Config)?;
        let node = self.config.node.id.clone().unwrap_or_else(random_node_id);
        let log = self.log.new(o!("node" => node.clone()));
        let (url, threads) = (self.database.clone(), self.config.store.threads);
        let group_commit = self.config.store.group_commit;
        // One connection more than workers: the group-commit thread's.
        let db = tokio::task::spawn_blocking(move || Db::open(&url, threads as u32 + 1))
            .await
            .map_err(|e| EngineError::Start(e.to_string()))??;
        info!(log, "store opened"; "backend" => ?db.backend(), "threads" => threads);
        let store = Store::start(
            db,
            threads,
            group_commit,
            log.new(o!("component" => "store")),
        )?;
        let events = EventSource {
            node: node.clone(),
            ids: Arc::new(EventIdGen::new()),
        };
        let committed = tokio::sync::broadcast::channel(COMMITTED_BUFFER).0;
        let accounts = Accounts::new(
            store.clone(),
            self.config.accounts.clone(),
            events.clone(),
            committed.clone(),
        )
        .await
        .map_err(|e| EngineError::Start(e.to_string()))?;
        let shared = Arc::new(Shared {
            node,
            store,
            accounts,
            events,
            audit: log.new(o!("stream" => "audit")),
            log,
            user_rates: Mutex::new(HashMap::new()),
            throttle: SignInThrottle::new(&self.config.limits),
            health: Default::default(),
            bot_health: Default::default(),
            metrics: Default::default(),
            next_session: AtomicU64::new(1),
            shutting_down: tokio::sync::watch::channel(false).0,
            committed,
            replies: tokio::sync::broadcast::channel(COMMITTED_BUFFER).0,
            remote_presence: Default::default(),
            stops: tokio::sync::broadcast::channel(64).0,
            config: self.config,
        });
        warn_of_unregistered_admins(&shared).await;
        let hub = Hub::new(shared.clone()).start();
        let bots = start_bots(&shared, &hub)?;
        Ok(Engine {
            shared,
            hub,
            bot_names: Arc::new(
                bots.iter()
                    .map(|b| BotNames::new(b.config.name.clone(), b.config.aliases.clone()))
                    .collect(),
            ),
            bots: Arc::new(bots),
        })
    }
}

/// An admin name from the config that nobody registered yet could be
/// registered by anyone, who would then be an admin: say so at start.
async fn warn_of_unregistered_admins(shared: &Arc<Shared>) {
    for admin in &shared.config.admins {
        let key = crate::names::user_key(admin);
        let found = shared
            .store
            .read("find_admin", move |db| db.find_user(&key))
            .await;
        if matches!(found, Ok(None)) {
            warn!(shared.log, "a configured admin has no account: whoever registers the name first is an admin";
                "admin" => admin, "fix" => "register it now, or list only registered names in `admins`");
        }
    }
}

/// Starts one actor per configured bot.
fn start_bots(shared: &Arc<Shared>, hub: &Addr<Hub>) -> Result<Vec<BotEntry>, EngineError> {
    let mut bots = Vec::new();
    for config in &shared.config.bots {
        let client = LlmClient::for_bot(config)
            .map_err(|e| EngineError::Config(format!("bot {}: {e}", config.name)))?;
        shared.bot_health.track(&config.name, config.location());
        actix::spawn(probe_model_server(
            shared.clone(),
            config.clone(),
            client.clone(),
        ));
        let addr = Bot::new(config.clone(), client, shared.clone(), hub.clone()).start();
        bots.push(BotEntry {
            addr,
            config: config.clone(),
        });
    }
    Ok(bots)
}

/// Asks a bot's model server whether it is there, once at start: "bot
/// ready" only when it answers, otherwise a warning with the URL and the fix.
async fn probe_model_server(shared: Arc<Shared>, config: BotConfig, client: LlmClient) {
    let outcome = client.probe().await;
    shared
        .bot_health
        .record(&config.name, outcome.as_ref().map(|_| ()));
    match outcome {
        Ok(()) => info!(shared.log, "bot ready"; "bot" => &config.name,
            "backend" => config.backend.as_str(), "model" => &config.model, "url" => config.location()),
        Err(e) => warn!(shared.log, "bot model server not reachable"; "bot" => &config.name,
            "url" => config.location(), "error" => %e,
            "fix" => crate::bots::health::unreachable_hint(&client)),
    }
}

/// A running bot.
pub(crate) struct BotEntry {
    /// Its actor.
    pub addr: Addr<Bot>,
    /// Its configuration.
    pub config: BotConfig,
}

fn random_node_id() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("node-{}", &id[id.len() - 8..])
}

/// The running engine; cheap to clone, shareable across threads.
#[derive(Clone)]
pub struct Engine {
    /// State shared with the actors.
    shared: Arc<Shared>,
    /// The room directory.
    hub: Addr<Hub>,
    /// The bots, in configuration order.
    bots: Arc<Vec<BotEntry>>,
    /// The bots' names, in the same order (what addressing matches against).
    bot_names: Arc<Vec<BotNames>>,
}

impl Engine {
    /// Starts building an engine with this configuration. The database is
    /// `sqlite://neuralchat.db` (in the working directory) unless
    /// [`EngineBuilder::database`] names another; the log is discarded
    /// unless [`EngineBuilder::logger`] gives one.
    ///
    /// # Runtime
    ///
    /// The engine is made of actix actors, so [`EngineBuilder::build`] and
    /// everything after it must run inside an actix `System`: under
    /// `#[actix_rt::main]` or `#[actix_web::main]`, `#[actix_rt::test]` in
    /// tests, or in `actix_rt::System::new().block_on(...)`. A bare
    /// `#[tokio::main]` runtime is not enough: there `build` returns
    /// [`EngineError::NoActixSystem`].
    ///
    /// ```
    /// use neuralchat_core::{Engine, EngineConfig, EngineError};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // A plain tokio runtime, as `#[tokio::main]` makes: no actix System.
    /// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    /// let built = runtime.block_on(Engine::builder(EngineConfig::default()).build());
    /// assert!(matches!(built, Err(EngineError::NoActixSystem)));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// See the crate documentation for a complete example.
    pub fn builder(config: EngineConfig) -> EngineBuilder {
        EngineBuilder {
            config,
            database: "sqlite://neuralchat.db".into(),
            log: Logger::root(slog::Discard, o!()),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.shared.node
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// The operational logger (transports log through it too).
    pub fn logger(&self) -> &Logger {
        &self.shared.log
    }

    /// The limits announced to clients.
    pub fn limits(&self) -> Limits {
        let config = &self.shared.config;
        Limits {
            max_frame_bytes: config.limits.max_frame_bytes,
            max_message_chars: config.limits.max_message_chars,
            history_page_max: config.history.page_max,
            frames_per_second: config.limits.frames_per_second,
            frame_burst: config.limits.frame_burst,
            messages_per_second: config.limits.messages_per_second,
            message_burst: config.limits.message_burst,
            login_deadline_secs: config.limits.login_deadline_secs,
        }
    }

    /// Opens a session for a new client connection. The transport feeds it
    /// client frames ([`crate::Inbound`]) and writes what comes out of
    /// `link.frames`, until `link.closed` fires or the client goes away
    /// (then it sends [`crate::Disconnect`]).
    pub fn connect(&self, transport: &'static str, peer: String) -> SessionLink {
        let id = self.shared.next_session.fetch_add(1, Ordering::Relaxed);
        let (out, receiver) = outbox(self.shared.config.limits.outbox_capacity);
        let session = Session::new(id, self.clone(), out, transport, peer).start();
        SessionLink {
            session,
            frames: receiver.frames,
            closed: receiver.closed,
        }
    }

    /// Whether each bot's model server answered last (at start, then at
    /// every call), for `/healthz`.
    pub fn bot_health(&self) -> Vec<crate::bots::BotStatus> {
        self.shared.bot_health.snapshot()
    }

    pub(crate) fn bots(&self) -> &[BotEntry] {
        &self.bots
    }

    pub(crate) fn bot_names(&self) -> &[BotNames] {
        &self.bot_names
    }

    pub(crate) fn hub(&self) -> &Addr<Hub> {
        &self.hub
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn audit(&self) -> &Logger {
        &self.shared.audit
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shared.shutting_down.borrow()
    }

    /// Creates an account. A bot's name or alias is refused
    /// (`invalid_username`), and so is a name that looks like one
    /// (`name_confusable`).
    pub async fn register(&self, username: &str, password: &str) -> ChatResult<String> {
        self.register_from(username, password, None).await
    }

    /// Why `username` (as a client wrote it) may not be registered: being
    /// a bot's name or alias, or looking like one, or looking like (without
    /// being) a configured admin's name.
    pub(crate) fn reserved_name_conflict(&self, username: &str) -> Option<crate::error::ChatError> {
        use crate::error::{ChatError, ErrorCode};
        use crate::names::{look_alike, normalize_username, user_key};
        let name = normalize_username(username);
        let key = user_key(&name);
        let bot_names = || {
            self.bots
                .iter()
                .flat_map(|b| std::iter::once(&b.config.name).chain(&b.config.aliases))
        };
        if bot_names().any(|n| user_key(n) == key) {
            Some(ChatError::new(
                ErrorCode::InvalidUsername,
                "that name belongs to a bot",
            ))
        } else if bot_names().any(|n| look_alike(n, &name)) {
            Some(ChatError::new(
                ErrorCode::NameConfusable,
                "that user name looks like a bot's name",
            ))
        } else if self
            .config()
            .admins
            .iter()
            .map(|admin| normalize_username(admin))
            .any(|admin| user_key(&admin) != key && look_alike(&admin, &name))
        {
            Some(ChatError::new(
                ErrorCode::NameConfusable,
                "that user name looks like an administrator's",
            ))
        } else {
            None
        }
    }

    /// Logs in with a password (an in-process caller: no client address).
    pub async fn login(&self, username: &str, password: &str) -> ChatResult<LoginGrant> {
        self.login_from(username, password, None).await
    }

    /// The user a token belongs to.
    pub async fn authenticate(&self, token: &str) -> ChatResult<String> {
        let result = self.shared.accounts.authenticate(token).await;
        match &result {
            Ok(user) => info!(self.audit(), "token auth ok"; "action" => "auth_ok", "user" => user),
            Err(e) => {
                warn!(self.audit(), "token auth failed"; "action" => "auth_failed", "code" => %e.code)
            }
        }
        result
    }

    /// Revokes a token.
    pub async fn logout(&self, token: &str) -> ChatResult<()> {
        let user = self.shared.accounts.logout(token).await?;
        info!(self.audit(), "logout"; "action" => "logout", "user" => &user);
        Ok(())
    }

    /// Starts shutting down: new frames are refused with `shutting_down`,
    /// and transports watching [`Engine::closing`] close their connections.
    pub fn begin_shutdown(&self) {
        self.shared.shutting_down.send_replace(true);
    }

    /// Becomes true when shutdown begins; transports close their
    /// connections then.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shared.shutting_down.subscribe()
    }

    /// Stops taking work and waits (up to 10 s) for database writes in flight.
    pub async fn shutdown(&self) {
        self.begin_shutdown();
        let drained = self.shared.store.drain(Duration::from_secs(10)).await;
        info!(self.shared.log, "engine stopped"; "writes_drained" => drained);
    }
}
