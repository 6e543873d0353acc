//! One broker link: a paho-mqtt client (MQTT v5, QoS 1) kept connected to
//! one broker, reconnecting with backoff. A node keeps two per broker: the
//! mesh link (persistent session, presence with a last will) and the client
//! link (clean session: what MQTT clients ask, and the answers). What arrives is
//! handed to the mesh through a channel that never blocks: paho calls back
//! while holding its client lock, which the node's own publishing and
//! `is_connected` also take, so a callback waiting for the mesh to make room
//! could stall the node for good (seen under load). Nothing is dropped; what
//! waits is bounded by what the brokers send.

use crate::config::BrokerConfig;
use paho_mqtt as mqtt;
use serde::Serialize;
use slog::{info, warn, Logger};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// How long a broker keeps a node's session (and its queued QoS 1
/// messages) while the node is away.
const SESSION_EXPIRY_SECS: u32 = 3600;
/// Backoff between connection attempts: from this ...
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// ... doubling up to this.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A broker that does not answer a connect in this time is retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Keep-alive: a dead broker is noticed within about 1.5 times this.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// What a link tells its owner.
#[derive(Debug)]
pub enum LinkEvent {
    /// Link `0` is connected and subscribed.
    Up(usize),
    /// Link `0` lost its broker.
    Down(usize),
    /// A message arrived on link `0`: its topic and payload.
    Payload(usize, String, Vec<u8>),
}

/// What one link is for: its client id, session, subscriptions and
/// presence.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    /// The MQTT client id (one per node, broker and role).
    pub client_id: String,
    /// Keep the broker session (and what it queues) while away, or start
    /// clean every time.
    pub persistent: bool,
    /// Topic filters, each with whether MQTT v5 No Local applies (it may
    /// not on a shared subscription).
    pub subscriptions: Vec<(String, bool)>,
    /// A retained presence message: the topic, the payload published on
    /// every connect, and the last will the broker publishes when the node
    /// vanishes.
    pub presence: Option<(String, Vec<u8>, Vec<u8>)>,
    /// The name in the log: `mesh link` or `client link`.
    pub role: &'static str,
}

/// A link's state, for `/healthz` and the logs.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct LinkStatus {
    /// The broker's URL.
    pub url: String,
    /// Connected and subscribed now.
    pub connected: bool,
    /// How many times it connected.
    pub connects: u64,
    /// The last connection error, if any.
    pub last_error: Option<String>,
}

/// The handle the mesh keeps of one link.
#[derive(Clone)]
pub struct Link {
    /// The paho client (cheap to clone).
    client: mqtt::AsyncClient,
    /// Its state.
    status: Arc<Mutex<LinkStatus>>,
}

fn lock(status: &Mutex<LinkStatus>) -> std::sync::MutexGuard<'_, LinkStatus> {
    match status.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Link {
    /// Creates the client for broker `index` and starts keeping it
    /// connected; payloads and state changes go to `events`.
    pub fn start(
        index: usize,
        broker: &BrokerConfig,
        spec: LinkSpec,
        events: mpsc::UnboundedSender<LinkEvent>,
        log: Logger,
    ) -> Result<Self, mqtt::Error> {
        let client = mqtt::CreateOptionsBuilder::new()
            .server_uri(&broker.url)
            .client_id(&spec.client_id)
            .mqtt_version(mqtt::MQTT_VERSION_5)
            .create_client()?;
        let lost = Arc::new(Notify::new());
        let payloads = events.clone();
        client.set_message_callback(move |_, message| {
            if let Some(message) = message {
                // Runs on paho's thread, under its client lock: never block here.
                let _ = payloads.send(LinkEvent::Payload(
                    index,
                    message.topic().to_owned(),
                    message.payload().to_vec(),
                ));
            }
        });
        let on_lost = lost.clone();
        client.set_connection_lost_callback(move |_| on_lost.notify_one());
        let on_disconnect = lost.clone();
        client.set_disconnected_callback(move |_, _, _| on_disconnect.notify_one());
        let status = Arc::new(Mutex::new(LinkStatus {
            url: broker.url.clone(),
            ..LinkStatus::default()
        }));
        let link = Self {
            client: client.clone(),
            status: status.clone(),
        };
        let mut options = mqtt::ConnectOptionsBuilder::new_v5();
        options
            .keep_alive_interval(KEEP_ALIVE)
            .connect_timeout(CONNECT_TIMEOUT);
        if spec.persistent {
            // The broker keeps what it queued for this node across the
            // node's restarts.
            options.clean_start(false).properties(mqtt::properties![
                mqtt::PropertyCode::SessionExpiryInterval => SESSION_EXPIRY_SECS
            ]);
        } else {
            options.clean_start(true);
        }
        if let Some((topic, _, offline)) = &spec.presence {
            options.will_message(mqtt::Message::new_retained(
                topic.clone(),
                offline.clone(),
                mqtt::QOS_1,
            ));
        }
        if let Some(user) = &broker.username {
            options.user_name(user);
        }
        if let Some(password) = &broker.password {
            options.password(password);
        }
        if broker.is_tls() {
            options.ssl_options(ssl_options(broker)?);
        }
        let options = options.finalize();
        // paho says only "TCP/TLS connect failure" when the handshake
        // fails; say what to check.
        let tls_hint = broker.is_tls().then(|| {
            let trust = match &broker.ca_file {
                Some(ca) => format!("ca_file {}", ca.display()),
                None => "the system's CAs (no ca_file)".to_string(),
            };
            format!(
                "TLS: is the broker listening with TLS there, and does its certificate \
                 chain to {trust} and name the URL's host?"
            )
        });
        let log = log.new(slog::o!("broker" => broker.url.clone()));
        let role = spec.role;
        actix_rt::spawn(async move {
            let mut backoff = BACKOFF_MIN;
            loop {
                match connect(&client, options.clone(), &spec).await {
                    Ok(()) => {
                        backoff = BACKOFF_MIN;
                        {
                            let mut status = lock(&status);
                            status.connected = true;
                            status.connects += 1;
                        }
                        info!(log, "{role} up");
                        if events.send(LinkEvent::Up(index)).is_err() {
                            return;
                        }
                        // Checked after waiting too: the loss may have been
                        // signalled before this task waited.
                        while client.is_connected() {
                            tokio::select! {
                                _ = lost.notified() => {}
                                _ = tokio::time::sleep(KEEP_ALIVE) => {}
                            }
                        }
                        lock(&status).connected = false;
                        warn!(log, "{role} down");
                        if events.send(LinkEvent::Down(index)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let error = match &tls_hint {
                            Some(hint) => format!("{e} ({hint})"),
                            None => e.to_string(),
                        };
                        warn!(log, "{role} cannot connect"; "error" => &error,
                            "retry_in_ms" => backoff.as_millis() as u64);
                        lock(&status).last_error = Some(error);
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        });
        Ok(link)
    }

    /// Publishes `payload` on `topic` (QoS 1) if the link is up; returns
    /// whether it was handed to the client.
    pub fn publish(&self, topic: &str, payload: Vec<u8>, retained: bool) -> bool {
        if !self.client.is_connected() {
            return false;
        }
        let message = if retained {
            mqtt::Message::new_retained(topic, payload, mqtt::QOS_1)
        } else {
            mqtt::Message::new(topic, payload, mqtt::QOS_1)
        };
        self.client.try_publish(message).is_ok()
    }

    /// The link's state now.
    pub fn status(&self) -> LinkStatus {
        lock(&self.status).clone()
    }
}

/// TLS settings for an `ssl://` or `mqtts://` broker: the broker's
/// certificate is verified (chain to `ca_file`, or the system's CAs, and
/// its name or IP address against the URL's host); a client certificate
/// when configured.
fn ssl_options(broker: &BrokerConfig) -> Result<mqtt::SslOptions, mqtt::Error> {
    let mut ssl = mqtt::SslOptionsBuilder::new();
    ssl.enable_server_cert_auth(true).verify(true);
    if let Some(ca) = &broker.ca_file {
        ssl.trust_store(ca)?;
    }
    if let Some(cert) = &broker.cert_file {
        ssl.key_store(cert)?;
    }
    if let Some(key) = &broker.key_file {
        ssl.private_key(key)?;
    }
    Ok(ssl.finalize())
}

/// Connects, subscribes and, for the mesh link, says this node is online.
async fn connect(
    client: &mqtt::AsyncClient,
    options: mqtt::ConnectOptions,
    spec: &LinkSpec,
) -> Result<(), mqtt::Error> {
    client.connect(options).await?;
    let topics: Vec<&str> = spec.subscriptions.iter().map(|(t, _)| t.as_str()).collect();
    let qos = vec![mqtt::QOS_1; topics.len()];
    // No Local: a node never needs what it published itself. Without it,
    // every own event came back and was acknowledged, and paho's socket
    // (no TCP_NODELAY) then held the next publish for the broker's delayed
    // ACK (~40 ms on a third of hops, measured in benches/mesh_hop.rs).
    let options: Vec<mqtt::SubscribeOptions> = spec
        .subscriptions
        .iter()
        .map(|(_, no_local)| {
            if *no_local {
                mqtt::SubscribeOptions::with_no_local()
            } else {
                mqtt::SubscribeOptions::default()
            }
        })
        .collect();
    client
        .subscribe_many_with_options(&topics, &qos, &options, None)
        .await?;
    if let Some((topic, online, _)) = &spec.presence {
        client
            .publish(mqtt::Message::new_retained(
                topic.clone(),
                online.clone(),
                mqtt::QOS_1,
            ))
            .await?;
    }
    Ok(())
}
