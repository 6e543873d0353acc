//! NeuralChat's mesh: any number of nodes exchange events through several
//! MQTT brokers at once (paho-mqtt, MQTT v5, persistent sessions, QoS 1).
//! Every node publishes the events it makes to every broker and reads from
//! all of them; copies are dropped by event id; a node that was away asks
//! its peers for what it missed. Every payload is sealed with an HMAC of
//! the shared `[mesh] key`. This crate is the only place with MQTT types:
//! the core only offers `Engine::subscribe_committed` and `Engine::ingest`.

#![warn(missing_docs)]

mod client_session;
pub mod client_topics;
pub mod config;
pub mod envelope;
mod gateway;
mod link;
mod mesh;
pub mod topics;

pub use config::{BrokerConfig, MeshConfig};
pub use link::LinkStatus;
pub use mesh::{Mesh, MeshError, MeshStatus};
