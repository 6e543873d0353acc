//! The client gateway: MQTT clients' sessions on this node. Every node
//! keeps a client link to every broker; a client's `open` reaches one node
//! (a shared subscription), which starts an engine session for it and
//! answers on the client's `out` topic with `hello` (naming the node); the
//! client then sends its frames to `in/{node}`. Sessions are keyed by
//! broker link and client id: the broker's ACL lets only the client with
//! that id publish there, so a frame on it comes from that client.

use crate::client_session::{self, SessionHandle, SessionParts, INBOUND_QUEUE};
use crate::client_topics::{self, ClientVerb};
use crate::link::{Link, LinkEvent};
use neuralchat_core::{ChatError, Engine, ErrorCode, ServerFrame};
use slog::{debug, info, warn, Logger};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The sessions this node holds for MQTT clients.
pub struct Gateway {
    /// The engine sessions belong to.
    engine: Engine,
    /// This node.
    node: String,
    /// The client links, one per broker.
    links: Arc<Vec<Link>>,
    /// Running sessions by (link, client id).
    sessions: HashMap<(usize, String), SessionHandle>,
    /// Numbers sessions.
    serial: u64,
    /// Where sessions report their end.
    ended: mpsc::UnboundedSender<(usize, String, u64)>,
    /// Operational log.
    log: Logger,
}

impl Gateway {
    /// Serves what arrives on the client links until they are gone.
    pub async fn run(
        engine: Engine,
        node: String,
        links: Arc<Vec<Link>>,
        mut inbox: mpsc::UnboundedReceiver<LinkEvent>,
        log: Logger,
    ) {
        let (ended, mut ended_rx) = mpsc::unbounded_channel();
        let mut gateway = Self {
            engine,
            node,
            links,
            sessions: HashMap::new(),
            serial: 0,
            ended,
            log,
        };
        loop {
            tokio::select! {
                event = inbox.recv() => match event {
                    Some(event) => gateway.handle(event),
                    None => return,
                },
                Some((link, client, serial)) = ended_rx.recv() => {
                    let key = (link, client);
                    if gateway.sessions.get(&key).is_some_and(|s| s.serial == serial) {
                        gateway.sessions.remove(&key);
                    }
                }
            }
        }
    }

    fn handle(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Up(link) => debug!(self.log, "serving mqtt clients"; "link" => link),
            LinkEvent::Down(link) => {
                // The clients on that broker cannot hear this node any more.
                let before = self.sessions.len();
                self.sessions.retain(|(l, _), _| *l != link);
                let ended = before - self.sessions.len();
                if ended > 0 {
                    info!(self.log, "mqtt sessions ended with their broker"; "link" => link, "sessions" => ended);
                }
            }
            LinkEvent::Payload(link, topic, payload) => {
                let Some((client, verb)) = client_topics::parse(&topic, &self.node) else {
                    debug!(self.log, "client topic ignored"; "topic" => topic);
                    return;
                };
                let client = client.to_owned();
                match verb {
                    ClientVerb::Open => self.open(link, client),
                    ClientVerb::Close => {
                        if self.sessions.remove(&(link, client)).is_some() {
                            debug!(self.log, "mqtt session closed by its client"; "link" => link);
                        }
                    }
                    ClientVerb::Frame => self.frame(link, client, payload),
                }
            }
        }
    }

    /// Starts a session for `client` (ending any it had on this link), if
    /// this node holds fewer than `limits.mqtt_sessions`.
    fn open(&mut self, link: usize, client: String) {
        let Some(broker) = self.links.get(link).cloned() else {
            return;
        };
        // A client opening again replaces its session: that is no new one.
        self.sessions.remove(&(link, client.clone()));
        let most = self.engine.config().limits.mqtt_sessions;
        if self.sessions.len() >= most {
            warn!(self.log, "mqtt session refused"; "code" => %ErrorCode::RateLimited,
                "sessions" => self.sessions.len());
            let error = ChatError::new(
                ErrorCode::RateLimited,
                format!("this node holds {most} MQTT sessions, its most; try again later"),
            );
            tell(&broker, &client, error);
            return;
        }
        self.serial += 1;
        let serial = self.serial;
        let (inbound, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
        let (stop, stop_rx) = oneshot::channel();
        // Peer: the client id, so log-in limits count per MQTT client.
        let peer = format!("mqtt:{client}");
        let log = self.engine.logger().new(slog::o!(
            "transport" => "mqtt", "peer" => peer.clone(), "broker" => broker.status().url));
        info!(log, "mqtt session opened");
        let parts = SessionParts {
            link: self.engine.connect("mqtt", peer),
            broker,
            client: client.clone(),
            inbound: inbound_rx,
            stop: stop_rx,
            closing: self.engine.closing(),
            max_frame_bytes: self.engine.config().limits.max_frame_bytes,
            log,
        };
        let ended = self.ended.clone();
        let key = (link, client);
        let report = key.clone();
        actix_rt::spawn(async move {
            client_session::run(parts).await;
            let _ = ended.send((report.0, report.1, serial));
        });
        self.sessions.insert(
            key,
            SessionHandle {
                serial,
                inbound,
                _stop: stop,
            },
        );
    }

    /// Hands a frame to `client`'s session, or says there is none.
    fn frame(&mut self, link: usize, client: String, payload: Vec<u8>) {
        let key = (link, client);
        let Some(session) = self.sessions.get(&key) else {
            if let Some(broker) = self.links.get(link) {
                let error = ChatError::new(
                    ErrorCode::NoSession,
                    "this node holds no session for this client: publish to open first",
                );
                tell(broker, &key.1, error);
            }
            return;
        };
        match session.inbound.try_send(payload) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(self.log, "mqtt client floods its session; closing it";
                    "code" => %ErrorCode::RateLimited, "queued" => INBOUND_QUEUE);
                if let (Some(broker), Some(_)) = (self.links.get(link), self.sessions.remove(&key))
                {
                    let error = ChatError::new(
                        ErrorCode::RateLimited,
                        "too many frames waiting: session closed",
                    );
                    tell(broker, &key.1, error);
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.sessions.remove(&key);
            }
        }
    }
}

/// Publishes an `error` frame (no `ref`) on `client`'s `out` topic.
fn tell(broker: &Link, client: &str, error: ChatError) {
    let frame = ServerFrame::error(error, None).encode();
    broker.publish(
        &client_topics::out(client),
        frame.as_bytes().to_vec(),
        false,
    );
}
