//! HTTPS and WSS: the `[tls]` section names a PEM certificate (chain) and
//! its private key, loaded here into an openssl acceptor for actix-web.
//! Every failure names the file and says what is wrong with it, so the
//! server can stop with one clear line.

use openssl::pkey::PKey;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslMethod};
use openssl::x509::X509;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `[tls]` section: with it, the server serves HTTPS and WSS only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate, PEM; intermediate certificates may follow
    /// it in the same file.
    pub cert: PathBuf,
    /// The certificate's private key, PEM (unencrypted).
    pub key: PathBuf,
}

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read tls.{key} file {}: {source}", path.display())]
    Read {
        /// The configuration key naming the file (`cert` or `key`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("tls.{key} file {} is not a PEM {what}: {reason}", path.display())]
    Parse {
        /// The configuration key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
        /// openssl's reason.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("tls.key file {} does not match the certificate in {}: {reason}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// openssl's reason.
        reason: String,
    },
    /// openssl refused to set up the acceptor.
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// openssl's reason for a failure, in a few words.
fn reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .iter()
        .filter_map(|e| e.reason())
        .next()
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string())
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// Loads the certificate and key into an acceptor builder (Mozilla's
/// "intermediate" settings: TLS 1.2 and 1.3).
pub fn acceptor(config: &TlsConfig) -> Result<SslAcceptorBuilder, TlsError> {
    let cert_pem = read("cert", &config.cert)?;
    let key_pem = read("key", &config.key)?;
    let bad_cert = |reason: String| TlsError::Parse {
        key: "cert",
        path: config.cert.clone(),
        what: "certificate",
        reason,
    };
    let chain = X509::stack_from_pem(&cert_pem).map_err(|e| bad_cert(reason(&e)))?;
    let mut chain = chain.into_iter();
    let leaf = chain
        .next()
        .ok_or_else(|| bad_cert("no certificate in it".into()))?;
    let key = PKey::private_key_from_pem(&key_pem).map_err(|e| TlsError::Parse {
        key: "key",
        path: config.key.clone(),
        what: "private key",
        reason: reason(&e),
    })?;
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .map_err(|e| TlsError::Setup(reason(&e)))?;
    builder
        .set_certificate(&leaf)
        .map_err(|e| bad_cert(reason(&e)))?;
    for extra in chain {
        builder
            .add_extra_chain_cert(extra)
            .map_err(|e| bad_cert(reason(&e)))?;
    }
    builder
        .set_private_key(&key)
        .map_err(|e| TlsError::Mismatch {
            cert: config.cert.clone(),
            key: config.key.clone(),
            reason: reason(&e),
        })?;
    builder
        .check_private_key()
        .map_err(|e| TlsError::Mismatch {
            cert: config.cert.clone(),
            key: config.key.clone(),
            reason: reason(&e),
        })?;
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_missing_or_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let config = TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
        };
        let err = acceptor(&config).err().unwrap().to_string();
        assert!(err.starts_with("cannot read tls.cert file"), "{err}");
        assert!(err.contains(&cert.display().to_string()), "{err}");

        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let err = acceptor(&config).err().unwrap().to_string();
        assert!(err.starts_with("tls.cert file"), "{err}");
        assert!(err.contains("is not a PEM certificate"), "{err}");
    }
}
