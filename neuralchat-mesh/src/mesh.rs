//! The mesh: one [`Link`] per broker, a publisher that sends every event
//! this node makes to every broker, and a receiver that opens what arrives
//! (refusing anything not sealed with the mesh key), drops copies, hands
//! events to [`Engine::ingest`], and runs catch-up: whenever a peer is seen
//! online it is asked for the events after this node's watermark, page by
//! page, so what a node missed while it or its brokers were away is filled
//! in from the node that has it.

use crate::client_topics;
use crate::config::MeshConfig;
use crate::envelope::{Sealer, Wire};
use crate::gateway::Gateway;
use crate::link::{Link, LinkEvent, LinkSpec, LinkStatus};
use crate::topics::Topics;
use neuralchat_core::recent::Recent;
use neuralchat_core::{Engine, Event, EventId, ReplyProgress};
use serde::Serialize;
use sha2::{Digest, Sha256};
use slog::{debug, info, warn, Logger};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};

/// How often a node tells the others who is online on it.
const ONLINE_EVERY: Duration = Duration::from_secs(5);
/// How long such a report holds: a node silent this long has nobody online.
const ONLINE_TTL: Duration = Duration::from_secs(15);
/// Events per catch-up page.
const PAGE: u32 = 200;
/// Catch-up asks from this long before the newest event a node held, to
/// cover clocks that differ between nodes and events still in flight.
const CATCH_UP_WINDOW: Duration = Duration::from_secs(600);
/// A catch-up request unanswered for this long may be asked again.
const REQUEST_PATIENCE: Duration = Duration::from_secs(10);
/// Event ids remembered to drop copies arriving through several brokers.
const RECENT_EVENTS: usize = 65_536;

/// Why the mesh could not start.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// A setting is wrong (the text names the key).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The MQTT client could not be created.
    #[error("mqtt client: {0}")]
    Client(#[from] paho_mqtt::Error),
}

/// The mesh as `/healthz` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MeshStatus {
    /// This node.
    pub node: String,
    /// One entry per configured broker: the mesh links.
    pub brokers: Vec<LinkStatus>,
    /// One entry per configured broker: the links serving MQTT clients.
    pub clients: Vec<LinkStatus>,
}

/// A running mesh; cheap to clone.
#[derive(Clone)]
pub struct Mesh {
    /// This node's id.
    node: String,
    /// The broker links.
    links: Arc<Vec<Link>>,
    /// The client links, one per broker.
    client_links: Arc<Vec<Link>>,
}

/// Whether a node id can name MQTT topics: 1 to 64 letters, digits, `-`,
/// `_` or `.`.
fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Mesh {
    /// Connects to every broker (in the background: a broker that is down
    /// now is retried) and starts relaying for `engine`.
    pub async fn start(
        engine: Engine,
        config: &MeshConfig,
        log: Logger,
    ) -> Result<Self, MeshError> {
        config.validate().map_err(MeshError::Config)?;
        let node = engine.node_id().to_owned();
        if !valid_node_id(&node) {
            return Err(MeshError::Config(format!(
                "node.id: {node:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
            )));
        }
        let log = log.new(slog::o!("part" => "mesh"));
        let sealer = Sealer::new(config.key.as_bytes())
            .ok_or_else(|| MeshError::Config("mesh.key: not usable as an HMAC key".into()))?;
        let topics = Topics::new(&node);
        let presence = |online| {
            sealer.seal(&Wire::Presence {
                node: node.clone(),
                online,
            })
        };
        let (inbox, inbox_rx) = mpsc::unbounded_channel();
        let (client_inbox, client_inbox_rx) = mpsc::unbounded_channel();
        let mut links = Vec::with_capacity(config.brokers.len());
        let mut client_links = Vec::with_capacity(config.brokers.len());
        for (index, broker) in config.brokers.iter().enumerate() {
            let mesh = LinkSpec {
                // One session per node and broker, kept across restarts.
                client_id: format!("neuralchat-{node}-{index}"),
                persistent: true,
                subscriptions: topics
                    .subscriptions()
                    .into_iter()
                    .map(|t| (t, true))
                    .collect(),
                presence: Some((topics.presence.clone(), presence(true), presence(false))),
                role: "mesh link",
            };
            links.push(Link::start(
                index,
                broker,
                mesh,
                inbox.clone(),
                log.clone(),
            )?);
            // Clean: when this node is gone, its share of the clients'
            // `open` requests must go to the live nodes, not wait for it.
            let clients = LinkSpec {
                client_id: format!("neuralchat-{node}-{index}-clients"),
                persistent: false,
                subscriptions: client_topics::subscriptions(&node),
                presence: None,
                role: "client link",
            };
            client_links.push(Link::start(
                index,
                broker,
                clients,
                client_inbox.clone(),
                log.clone(),
            )?);
        }
        let links = Arc::new(links);
        let client_links = Arc::new(client_links);
        actix_rt::spawn(Gateway::run(
            engine.clone(),
            node.clone(),
            client_links.clone(),
            client_inbox_rx,
            log.new(slog::o!("part" => "gateway")),
        ));
        let watermark = engine.newest_event_id().await.ok().flatten();
        let outbound = Outbound {
            node: node.clone(),
            links: links.clone(),
            sealer: sealer.clone(),
            topics: topics.clone(),
        };
        actix_rt::spawn(publish(
            engine.clone(),
            engine.subscribe_committed(),
            outbound.clone(),
            log.clone(),
        ));
        actix_rt::spawn(publish_online(
            engine.clone(),
            outbound.clone(),
            log.clone(),
        ));
        actix_rt::spawn(publish_stops(engine.subscribe_stops(), outbound.clone()));
        actix_rt::spawn(publish_replies(
            engine.subscribe_replies(),
            outbound.clone(),
            log.clone(),
        ));
        let receiver = Receiver {
            engine,
            out: outbound,
            sealer,
            recent: Recent::new(RECENT_EVENTS),
            answered: Recent::new(1024),
            asked: HashMap::new(),
            watermark,
            next_request: 0,
            peers: HashMap::new(),
            log: log.clone(),
        };
        actix_rt::spawn(receiver.run(inbox_rx));
        info!(log, "mesh started"; "node" => &node, "brokers" => config.brokers.len());
        Ok(Self {
            node,
            links,
            client_links,
        })
    }

    /// Each link's state.
    pub fn status(&self) -> MeshStatus {
        MeshStatus {
            node: self.node.clone(),
            brokers: self.links.iter().map(Link::status).collect(),
            clients: self.client_links.iter().map(Link::status).collect(),
        }
    }
}

/// What publishes: the links, the key and the topics.
#[derive(Clone)]
struct Outbound {
    /// This node.
    node: String,
    /// Every broker link.
    links: Arc<Vec<Link>>,
    /// Seals payloads.
    sealer: Sealer,
    /// This node's topics.
    topics: Topics,
}

impl Outbound {
    /// Sends `message` on `topic` through every link that is up; returns on
    /// how many.
    fn send(&self, topic: &str, message: &Wire) -> usize {
        let payload = self.sealer.seal(message);
        self.links
            .iter()
            .filter(|link| link.publish(topic, payload.clone(), false))
            .count()
    }
}

/// Publishes every event this node stores that it made itself, to every
/// broker. Events made while no broker is reachable are not lost: peers ask
/// for them when they see this node online again (catch-up).
async fn publish(
    engine: Engine,
    mut committed: broadcast::Receiver<Event>,
    out: Outbound,
    log: Logger,
) {
    let mut last: Option<EventId> = None;
    loop {
        match committed.recv().await {
            Ok(event) => {
                if event.origin != out.node {
                    continue;
                }
                last = Some(last.map_or(event.id, |l| l.max(event.id)));
                let sent = out.send(&out.topics.events, &Wire::Event { event });
                if sent == 0 {
                    debug!(log, "no broker up; peers will catch up");
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // Read what was skipped back from the store.
                warn!(log, "mesh publisher fell behind; re-reading the store"; "missed" => missed);
                let mut after = last;
                while let Ok((events, more)) = engine.events_since(after, PAGE).await {
                    for event in events {
                        after = Some(event.id);
                        if event.origin == out.node {
                            out.send(&out.topics.events, &Wire::Event { event });
                        }
                    }
                    if !more {
                        break;
                    }
                }
                last = after;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Tells the other nodes, every few seconds, who is online on this one.
async fn publish_online(engine: Engine, out: Outbound, log: Logger) {
    let mut tick = tokio::time::interval(ONLINE_EVERY);
    loop {
        tick.tick().await;
        match engine.online_here().await {
            Ok(rooms) => {
                let node = out.node.clone();
                out.send(&out.topics.online, &Wire::Online { node, rooms });
            }
            Err(e) => debug!(log, "presence not read"; "code" => %e.code),
        }
    }
}

/// Tells the other nodes where `/stop` was asked here.
async fn publish_stops(mut stops: broadcast::Receiver<String>, out: Outbound) {
    loop {
        match stops.recv().await {
            Ok(room) => {
                let from = out.node.clone();
                out.send(&out.topics.stop, &Wire::Stop { from, room });
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Publishes the progress of replies this node's bots stream. Lossy: a
/// piece that cannot be sent is skipped, and peers show the stored reply.
async fn publish_replies(
    mut replies: broadcast::Receiver<ReplyProgress>,
    out: Outbound,
    log: Logger,
) {
    loop {
        match replies.recv().await {
            Ok(progress) => {
                let from = out.node.clone();
                out.send(&out.topics.replies, &Wire::Reply { from, progress });
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                debug!(log, "reply pieces not relayed"; "missed" => missed);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Takes in what the links receive.
struct Receiver {
    /// The engine events go to.
    engine: Engine,
    /// For answers and requests.
    out: Outbound,
    /// Opens payloads.
    sealer: Sealer,
    /// Event ids seen lately.
    recent: Recent<EventId>,
    /// Catch-up requests answered lately (they arrive once per broker).
    answered: Recent<String>,
    /// The catch-up request open with each peer, and when it was made.
    asked: HashMap<String, (String, Instant)>,
    /// The newest event this node held when its last catch-up round ended.
    watermark: Option<EventId>,
    /// Numbers requests.
    next_request: u64,
    /// Peers, and the links on which they say they are online.
    peers: HashMap<String, HashSet<usize>>,
    /// Operational log.
    log: Logger,
}

impl Receiver {
    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<LinkEvent>) {
        while let Some(event) = inbox.recv().await {
            match event {
                LinkEvent::Up(link) => debug!(self.log, "receiving"; "link" => link),
                LinkEvent::Down(link) => debug!(self.log, "not receiving"; "link" => link),
                LinkEvent::Payload(link, _topic, payload) => match self.sealer.open(&payload) {
                    Ok(message) => self.handle(message, link).await,
                    Err(e) => {
                        warn!(self.log, "mesh payload refused"; "link" => link,
                            "reason" => %e, "size" => payload.len());
                    }
                },
            }
        }
    }

    async fn handle(&mut self, message: Wire, link: usize) {
        match message {
            Wire::Event { event } => {
                if event.origin != self.out.node {
                    self.ingest(event).await;
                }
            }
            Wire::Reply { from, progress } => {
                if from != self.out.node {
                    if let Err(e) = self.engine.ingest_reply(progress).await {
                        debug!(self.log, "reply piece not shown"; "from" => from, "code" => %e.code);
                    }
                }
            }
            Wire::Stop { from, room } => {
                if from != self.out.node {
                    match self.engine.stop_replies(&room).await {
                        Ok(stopped) if !stopped.is_empty() => {
                            info!(self.log, "replies stopped for another node"; "from" => from,
                                "room" => room, "bots" => stopped.join(","));
                        }
                        Ok(_) => {}
                        Err(e) => debug!(self.log, "stop not applied"; "code" => %e.code),
                    }
                }
            }
            Wire::Online { node, rooms } => {
                if node != self.out.node {
                    self.engine.report_presence(&node, rooms, ONLINE_TTL);
                }
            }
            Wire::Presence { node, online } => {
                if node == self.out.node {
                    return;
                }
                let links = self.peers.entry(node.clone()).or_default();
                if online {
                    links.insert(link);
                    self.ask(&node, self.catch_up_from(), false);
                } else if links.remove(&link) && links.is_empty() {
                    // Gone from every broker this node hears: gone.
                    self.peer_gone(&node).await;
                }
            }
            Wire::SyncRequest {
                request,
                from,
                responder,
                after,
            } => {
                if responder == self.out.node && self.answered.insert(request.clone()) {
                    self.answer(request, from, after).await;
                }
            }
            Wire::SyncPage {
                request,
                from,
                events,
                more,
            } => {
                let open = self.asked.get(&from).is_some_and(|(id, _)| *id == request);
                if !open {
                    return;
                }
                self.asked.remove(&from);
                let last = events.last().map(|e| e.id);
                let count = events.len();
                for event in events {
                    self.ingest(event).await;
                }
                debug!(self.log, "catch-up page"; "from" => &from, "events" => count, "more" => more);
                match (more, last) {
                    (true, Some(last)) => self.ask(&from, Some(last), true),
                    _ => {
                        info!(self.log, "caught up"; "from" => &from);
                        self.watermark = self.engine.newest_event_id().await.ok().flatten();
                    }
                }
            }
        }
    }

    /// A peer is gone: its users are offline, and the one live node chosen
    /// for it (rendezvous hashing over the live nodes, this one included)
    /// has its bots answer the questions it left unanswered.
    async fn peer_gone(&mut self, gone: &str) {
        self.engine.forget_node(gone);
        let me = self.out.node.as_str();
        let live = self
            .peers
            .iter()
            .filter(|(_, links)| !links.is_empty())
            .map(|(node, _)| node.as_str())
            .chain(std::iter::once(me));
        let heir = live.min_by_key(|node| rendezvous(gone, node));
        info!(self.log, "peer gone"; "peer" => gone, "heir" => heir);
        if heir != Some(me) {
            return;
        }
        let since = chrono_now_ms() - CATCH_UP_WINDOW.as_millis() as i64;
        match self.engine.answer_orphans(gone, since).await {
            Ok(asked) => info!(self.log, "questions taken over"; "peer" => gone, "asked" => asked),
            Err(e) => {
                warn!(self.log, "questions not taken over"; "peer" => gone, "code" => %e.code)
            }
        }
    }

    /// Where a new catch-up round starts: a window before the watermark.
    fn catch_up_from(&self) -> Option<EventId> {
        self.watermark.map(|w| {
            let window = CATCH_UP_WINDOW.as_millis() as i64;
            EventId::floor_of_millis(w.millis() - window)
        })
    }

    /// Asks `peer` for the events after `after`, unless a request to it is
    /// open and recent (`next_page` continues a round regardless).
    fn ask(&mut self, peer: &str, after: Option<EventId>, next_page: bool) {
        if !next_page {
            if let Some((_, when)) = self.asked.get(peer) {
                if when.elapsed() < REQUEST_PATIENCE {
                    return;
                }
            }
        }
        self.next_request += 1;
        let request = format!(
            "{}-{}-{}",
            self.out.node,
            std::process::id(),
            self.next_request
        );
        self.asked
            .insert(peer.to_owned(), (request.clone(), Instant::now()));
        let sent = self.out.send(
            &self.out.topics.sync_request,
            &Wire::SyncRequest {
                request,
                from: self.out.node.clone(),
                responder: peer.to_owned(),
                after,
            },
        );
        debug!(self.log, "catch-up asked"; "peer" => peer, "links" => sent);
    }

    /// Answers a catch-up request with one page.
    async fn answer(&self, request: String, to: String, after: Option<EventId>) {
        let (events, more) = match self.engine.events_since(after, PAGE).await {
            Ok(page) => page,
            Err(e) => {
                warn!(self.log, "catch-up answer failed"; "to" => &to, "code" => %e.code);
                return;
            }
        };
        self.out.send(
            &Topics::answers_for(&to),
            &Wire::SyncPage {
                request,
                from: self.out.node.clone(),
                events,
                more,
            },
        );
    }

    async fn ingest(&mut self, event: Event) {
        if !self.recent.insert(event.id) {
            return;
        }
        let (id, origin) = (event.id, event.origin.clone());
        if let Err(e) = self.engine.ingest(event).await {
            warn!(self.log, "relayed event not taken"; "id" => %id, "origin" => origin, "code" => %e.code);
        }
    }
}

/// The rendezvous weight of `node` for the work `gone` left: every node
/// computes the same, so all agree on the lowest.
fn rendezvous(gone: &str, node: &str) -> [u8; 32] {
    Sha256::digest(format!("{gone}\n{node}").as_bytes()).into()
}

/// Milliseconds since the Unix epoch.
fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
