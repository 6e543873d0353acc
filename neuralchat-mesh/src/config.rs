//! `[mesh]` settings: the shared key and the brokers every node keeps a
//! connection to.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// `tcp://HOST:PORT` (or `mqtt://`) in the clear; `ssl://HOST:PORT` (or
    /// `mqtts://`) over TLS, the broker's certificate always verified.
    pub url: String,
    /// MQTT user name, if the broker wants one.
    pub username: Option<String>,
    /// MQTT password, if the broker wants one.
    pub password: Option<String>,
    /// TLS only: the CA certificates (PEM) the broker's certificate must
    /// chain to; the system's trusted CAs when unset.
    pub ca_file: Option<PathBuf>,
    /// TLS only: this node's client certificate (PEM), for brokers that
    /// ask for one; it may hold the private key too.
    pub cert_file: Option<PathBuf>,
    /// TLS only: the client certificate's private key (PEM), when not in
    /// `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// URL schemes in the clear.
const PLAIN_SCHEMES: [&str; 2] = ["tcp://", "mqtt://"];
/// URL schemes over TLS.
const TLS_SCHEMES: [&str; 2] = ["ssl://", "mqtts://"];

impl BrokerConfig {
    /// Whether the link runs over TLS (`ssl://` or `mqtts://`).
    pub fn is_tls(&self) -> bool {
        TLS_SCHEMES.iter().any(|s| self.url.starts_with(s))
    }

    /// Checks this broker's settings; the error names the key, under
    /// `mesh.brokers[index]`.
    fn validate(&self, index: usize) -> Result<(), String> {
        let key = |name: &str| format!("mesh.brokers[{index}].{name}");
        let ok = PLAIN_SCHEMES
            .iter()
            .chain(TLS_SCHEMES.iter())
            .any(|scheme| self.url.starts_with(scheme) && self.url.len() > scheme.len());
        if !ok {
            return Err(format!(
                "{}: {:?} is not tcp://HOST:PORT, mqtt://, ssl:// or mqtts://",
                key("url"),
                self.url
            ));
        }
        let files = [
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ];
        for (name, file) in files {
            let Some(path) = file else { continue };
            if !self.is_tls() {
                return Err(format!(
                    "{}: only for TLS brokers (ssl:// or mqtts://), not {:?}",
                    key(name),
                    self.url
                ));
            }
            if path.to_str().is_none() {
                return Err(format!("{}: {path:?} is not a UTF-8 path", key(name)));
            }
            if let Err(e) = std::fs::File::open(path) {
                return Err(format!(
                    "{}: cannot read {}: {e}",
                    key(name),
                    path.display()
                ));
            }
        }
        if self.key_file.is_some() && self.cert_file.is_none() {
            return Err(format!(
                "{}: set only with cert_file (the certificate it belongs to)",
                key("key_file")
            ));
        }
        Ok(())
    }
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
            broker.validate(i)?;
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

    #[test]
    fn tls_brokers_take_files_that_exist() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "pem").unwrap();
        let mut config = MeshConfig {
            key: "0123456789abcdef".into(),
            brokers: vec![BrokerConfig {
                url: "ssl://127.0.0.1:8883".into(),
                ca_file: Some(ca.clone()),
                ..Default::default()
            }],
        };
        assert!(config.validate().is_ok());
        assert!(config.brokers[0].is_tls());
        config.brokers[0].url = "mqtts://127.0.0.1:8883".into();
        assert!(config.validate().is_ok());
        assert!(config.brokers[0].is_tls());

        config.brokers[0].url = "tcp://127.0.0.1:1883".into();
        let err = config.validate().unwrap_err();
        assert!(
            err.starts_with("mesh.brokers[0].ca_file: only for TLS"),
            "{err}"
        );

        config.brokers[0].url = "ssl://127.0.0.1:8883".into();
        config.brokers[0].ca_file = Some(dir.path().join("missing.pem"));
        let err = config.validate().unwrap_err();
        assert!(
            err.starts_with("mesh.brokers[0].ca_file: cannot read"),
            "{err}"
        );
        assert!(err.contains("missing.pem"), "{err}");

        config.brokers[0].ca_file = Some(ca.clone());
        config.brokers[0].key_file = Some(ca.clone());
        let err = config.validate().unwrap_err();
        assert!(err.starts_with("mesh.brokers[0].key_file"), "{err}");
        config.brokers[0].cert_file = Some(ca);
        assert!(config.validate().is_ok());
    }
}
