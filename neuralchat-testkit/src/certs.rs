//! Throwaway TLS certificates made with the `openssl` command line: a CA,
//! a server certificate it signed for `127.0.0.1` and `localhost`, and on
//! demand client certificates. Everything lives in a temporary directory
//! that goes away with the [`TestCerts`].

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// A CA and a server certificate (P-256 keys, valid two days).
#[derive(Debug)]
pub struct TestCerts {
    /// The CA's certificate (PEM): what clients trust.
    pub ca: PathBuf,
    /// The CA's private key.
    ca_key: PathBuf,
    /// The server certificate (PEM), for `127.0.0.1`, `::1` and `localhost`.
    pub server_cert: PathBuf,
    /// The server certificate's private key (PEM).
    pub server_key: PathBuf,
    /// Where the files live.
    dir: TempDir,
}

/// Runs `openssl` with `args` in `dir`; fails with its stderr.
fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running openssl (apt-get install openssl)")?;
    if !out.status.success() {
        bail!(
            "openssl {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Arguments for a fresh P-256 key.
const NEW_KEY: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

impl TestCerts {
    /// Makes a new CA (common name `name`) and a server certificate signed
    /// by it, in a fresh temporary directory.
    pub fn generate(name: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("nc-certs-")
            .tempdir()
            .context("creating the certificates' temp dir")?;
        let path = dir.path();
        let subject = format!("/CN={name}");
        let mut args = vec!["req", "-x509", "-nodes", "-days", "2"];
        args.extend(NEW_KEY);
        args.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(path, &args)?;
        let certs = Self {
            ca: path.join("ca.pem"),
            ca_key: path.join("ca.key"),
            server_cert: path.join("server.pem"),
            server_key: path.join("server.key"),
            dir,
        };
        certs.issue(
            "server",
            "localhost",
            "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )?;
        Ok(certs)
    }

    /// Issues a client certificate (common name `name`); returns the
    /// certificate and key files.
    pub fn client(&self, name: &str) -> Result<(PathBuf, PathBuf)> {
        let stem = format!("client-{name}");
        self.issue(&stem, name, "extendedKeyUsage=clientAuth\n")?;
        Ok((
            self.dir.path().join(format!("{stem}.pem")),
            self.dir.path().join(format!("{stem}.key")),
        ))
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Makes `STEM.key` and `STEM.pem` (subject `cn`, extensions `ext`),
    /// signed by the CA.
    fn issue(&self, stem: &str, cn: &str, ext: &str) -> Result<()> {
        let path = self.dir.path();
        let (key, csr, pem, ext_file) = (
            format!("{stem}.key"),
            format!("{stem}.csr"),
            format!("{stem}.pem"),
            format!("{stem}.ext"),
        );
        std::fs::write(
            path.join(&ext_file),
            format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n{ext}"),
        )
        .with_context(|| format!("writing {ext_file}"))?;
        let subject = format!("/CN={cn}");
        let mut args = vec!["req", "-nodes"];
        args.extend(NEW_KEY);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
        openssl(path, &args)?;
        let (ca, ca_key) = (
            self.ca.display().to_string(),
            self.ca_key.display().to_string(),
        );
        openssl(
            path,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &ext_file,
            ],
        )?;
        self.share()
    }

    /// Lets every user read the directory and its files: Mosquitto started
    /// as root drops to its own user before it loads its certificate and
    /// key. These are throwaway keys for tests.
    fn share(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.dir.path();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", dir.display()))?;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                .with_context(|| format!("chmod {}", path.display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_and_client_certificates_verify_against_the_ca_only() {
        let certs = TestCerts::generate("test CA").unwrap();
        let (client, client_key) = certs.client("node-a").unwrap();
        assert!(client_key.exists());
        let other = TestCerts::generate("other CA").unwrap();
        let verify = |ca: &Path, cert: &Path| {
            Command::new("openssl")
                .arg("verify")
                .arg("-CAfile")
                .arg(ca)
                .arg(cert)
                .output()
                .unwrap()
                .status
                .success()
        };
        assert!(verify(&certs.ca, &certs.server_cert));
        assert!(verify(&certs.ca, &client));
        assert!(!verify(&other.ca, &certs.server_cert));
    }
}
