//! Test support for the NeuralChat end-to-end suite: free ports, a throwaway
//! PostgreSQL, the server and CLI binaries as child processes, a WebSocket
//! test client, a tiny HTTP/1.1 JSON client (HTTPS too), Mosquitto brokers
//! (plain or TLS) and throwaway TLS certificates.
//!
//! The server and CLI helpers run the binaries built by
//! `cargo build --workspace --bins` (or the ones named by
//! `NEURALCHAT_SERVER_BIN` / `NEURALCHAT_CLI_BIN`).

#![warn(missing_docs)]

pub mod bin;
pub mod certs;
pub mod cli;
pub mod http;
pub mod llama;
pub mod mesh_node;
pub mod mosquitto;
pub mod ollama;
pub mod port;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod scenario;
pub mod server;
pub mod sqlite_lock;
pub mod ws;

pub use certs::TestCerts;
pub use cli::{Cli, CliChild, CliOutput};
pub use http::HttpClient;
pub use llama::LlamaServer;
pub use mesh_node::{links_up, MeshNode};
pub use mosquitto::Mosquitto;
pub use ollama::OllamaStandIn;
pub use port::free_port;
pub use postgres::PgFixture;
pub use proxy::RecordingProxy;
pub use server::{ServerOptions, ServerProcess, ServerTls};
pub use sqlite_lock::WriteLock;
pub use ws::WsClient;

use std::time::Duration;

/// The default deadline for waiting on a frame, an answer or a process.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
