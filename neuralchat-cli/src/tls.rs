//! Trust for `wss://` servers: the system's CA certificates, plus the one
//! given with `--ca FILE` (or `NEURALCHAT_CA`). A server's certificate is
//! always verified (chain and host name); there is no way to skip that.

use crate::error::CliError;
use native_tls::{Certificate, TlsConnector};
use std::path::Path;
use tokio_tungstenite::Connector;

/// The certificates `wss://` connections trust.
#[derive(Clone, Default)]
pub struct Trust {
    /// A connector that also trusts the `--ca` certificate; `None`: the
    /// system's CAs only (tungstenite's default connector).
    connector: Option<TlsConnector>,
    /// The `--ca` file, for MQTT over TLS (paho reads the file itself).
    ca_file: Option<std::path::PathBuf>,
}

impl Trust {
    /// The system's CAs, plus the PEM certificate(s) in `ca` when given.
    /// An unreadable or malformed file is a local error naming it.
    pub fn load(ca: Option<&Path>) -> Result<Self, CliError> {
        let Some(path) = ca else {
            return Ok(Self::default());
        };
        let bad =
            |why: String| CliError::local("bad_ca", format!("--ca {}: {why}", path.display()));
        let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let mut builder = TlsConnector::builder();
        let mut found = 0;
        for block in pem_certificates(&pem) {
            let cert = Certificate::from_pem(block.as_bytes())
                .map_err(|e| bad(format!("not a PEM certificate: {e}")))?;
            builder.add_root_certificate(cert);
            found += 1;
        }
        if found == 0 {
            return Err(bad(
                "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
            ));
        }
        let connector = builder
            .build()
            .map_err(|e| bad(format!("cannot set up TLS with it: {e}")))?;
        Ok(Self {
            connector: Some(connector),
            ca_file: Some(path.to_path_buf()),
        })
    }

    /// The `--ca` file, if one was given.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The connector for tungstenite: `None` uses its default (the
    /// system's CAs), which verifies certificates all the same.
    pub fn connector(&self) -> Option<Connector> {
        self.connector.clone().map(Connector::NativeTls)
    }
}

/// The `CERTIFICATE` blocks of a PEM file, each with its armour lines.
fn pem_certificates(pem: &[u8]) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(pem);
    let mut blocks = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        blocks.push(format!("{}\n", &rest[start..end]));
        rest = &rest[end..];
    }
    blocks
}

/// A clear message for a failed TLS handshake with `url`.
pub fn handshake_failed(url: &str, error: &dyn std::fmt::Display) -> String {
    let error = error.to_string();
    let hint = if error.contains("certificate verify failed") {
        "the server's certificate is not trusted or does not name this host \
         (trust its CA with --ca FILE or NEURALCHAT_CA; certificates are always verified)"
    } else if error.contains("wrong version number") || error.contains("packet length too long") {
        "the server does not speak TLS on that port (use ws://, or give it a [tls] section)"
    } else {
        "check the server's address and its TLS settings"
    };
    format!("TLS handshake with {url} failed: {error}; {hint}")
}

/// Whether a plain connection failed the way a TLS server ends one that
/// does not start with a TLS handshake: reset or closed before answering.
pub fn dropped(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_certificate_block() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        let blocks = pem_certificates(pem.as_bytes());
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].contains("BBB") && blocks[1].ends_with("-----\n"));
        assert!(pem_certificates(b"nothing").is_empty());
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_a_local_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let Err(e) = Trust::load(Some(&missing)) else {
            panic!("a missing file was accepted");
        };
        assert_eq!((e.code.as_str(), e.exit_code()), ("bad_ca", 1));
        assert!(e.message.contains("missing.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here").unwrap();
        let Err(e) = Trust::load(Some(&empty)) else {
            panic!("a file without a certificate was accepted");
        };
        assert!(e.message.contains("no PEM certificate"), "{e}");
        assert!(Trust::load(None).is_ok_and(|t| t.connector().is_none()));
    }

    #[test]
    fn handshake_messages_say_what_to_check() {
        let url = "wss://h:1/ws";
        let m = handshake_failed(url, &"error: certificate verify failed: (self-signed)");
        assert!(m.contains("--ca FILE") && m.contains(url), "{m}");
        let m = handshake_failed(url, &"error: ssl3_get_record:wrong version number");
        assert!(m.contains("does not speak TLS"), "{m}");
    }
}
