//! `[mesh]` settings: the shared key and the brokers every node keeps a
//! connection to.

use serde::{Deserialize, Serialize};

/// The mesh section of the configuration. With no broker, the node runs
/// alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeshConfig {
    /// The secret every node of the mesh shares: each payload carries an
    /// HMAC-SHA256 made with it, and payloads without a valid one are
    /// refused. Required once a broker is configured; at least 16 bytes.
    pub key: String,
    /// The MQTT brokers (`[[mesh.brokers]]`), all used at the same time.
    pub brokers: Vec<BrokerConfig>,
}

/// One MQTT broker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// `tcp://HOST:PORT` (or `mqtt://`).
    pub url: String,
    /// MQTT user name, if the broker wants one.
    pub username: Option<String>,
    /// MQTT password, if the broker wants one.
    pub password: Option<String>,
}

/// The shortest key accepted.
pub const MIN_KEY_BYTES: usize = 16;

impl MeshConfig {
    /// Whether any broker is configured.
    pub fn enabled(&self) -> bool {
        !self.brokers.is_empty()
    }

    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        if self.key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "mesh.key: at least {MIN_KEY_BYTES} bytes are needed once brokers are configured"
            ));
        }
        for (i, broker) in self.brokers.iter().enumerate() {
            let ok = ["tcp://", "mqtt://"]
                .iter()
                .any(|scheme| broker.url.starts_with(scheme) && broker.url.len() > scheme.len());
            if !ok {
                return Err(format!(
                    "mesh.brokers[{i}].url: {:?} is not tcp://HOST:PORT",
                    broker.url
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_key() {
        assert!(MeshConfig::default().validate().is_ok());
        let mut config = MeshConfig {
            key: "short".into(),
            brokers: vec![BrokerConfig {
                url: "tcp://127.0.0.1:1883".into(),
                ..Default::default()
            }],
        };
        assert!(config.validate().unwrap_err().starts_with("mesh.key"));
        config.key = "0123456789abcdef".into();
        assert!(config.validate().is_ok());
        config.brokers[0].url = "http://x".into();
        assert!(config
            .validate()
            .unwrap_err()
            .starts_with("mesh.brokers[0].url"));
    }
}
