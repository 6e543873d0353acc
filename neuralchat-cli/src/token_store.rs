//! The stored log-in: `{user, token}` in `$NEURALCHAT_HOME/session.json`
//! (default: the platform's config directory + `neuralchat`), readable by the
//! owner only.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The environment variable naming the CLI's home directory.
pub const HOME_ENV: &str = "NEURALCHAT_HOME";

/// The file name of the stored session inside the home directory.
const FILE_NAME: &str = "session.json";

/// What `login` keeps for later commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    /// The user name.
    pub user: String,
    /// The bearer token.
    pub token: String,
    /// When the token expires, milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// The directory holding `session.json`.
#[derive(Debug, Clone)]
pub struct TokenStore {
    dir: PathBuf,
}

impl TokenStore {
    /// The store in `$NEURALCHAT_HOME`, or in the config directory.
    pub fn from_env() -> Result<Self> {
        match std::env::var_os(HOME_ENV) {
            Some(dir) if !dir.is_empty() => Ok(Self::new(dir)),
            _ => match dirs::config_dir() {
                Some(config) => Ok(Self::new(config.join("neuralchat"))),
                None => anyhow::bail!("no config directory on this system: set {HOME_ENV}"),
            },
        }
    }

    /// The store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The path of the session file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The stored session, if there is one.
    pub fn load(&self) -> Result<Option<StoredSession>> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let session = serde_json::from_str(&text).with_context(|| {
            format!("{} is damaged: delete it and log in again", path.display())
        })?;
        Ok(Some(session))
    }

    /// Stores the session, replacing any earlier one; the file is created
    /// with mode 0600 (and its directory 0700) on unix.
    pub fn save(&self, session: &StoredSession) -> Result<()> {
        create_private_dir(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.path();
        let text = serde_json::to_string_pretty(session)?;
        write_private(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))
    }

    /// Deletes the stored session; `false` when there was none.
    pub fn clear(&self) -> Result<bool> {
        let path = self.path();
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("deleting {}", path.display())),
        }
    }
}

/// Creates `dir` (and its parents); a new directory is private to the owner.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes `path` through a temporary file renamed into place, so the token is
/// never readable by others and never half written.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    #[cfg(unix)]
    {
        // The mode only applies to a new file; a leftover one may have another.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredSession {
        StoredSession {
            user: "alice".into(),
            token: "t0ken".into(),
            expires_at: Some(1_700_000_000_000),
        }
    }

    #[test]
    fn round_trips_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("nested").join("home"));
        assert_eq!(store.load().unwrap(), None);
        store.save(&sample()).unwrap();
        assert_eq!(store.load().unwrap(), Some(sample()));
        let newer = StoredSession {
            token: "other".into(),
            ..sample()
        };
        store.save(&newer).unwrap();
        assert_eq!(store.load().unwrap(), Some(newer));
        assert!(store.clear().unwrap());
        assert!(!store.clear().unwrap());
        assert_eq!(store.load().unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        store.save(&sample()).unwrap();
        let mode = fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        fs::write(store.path(), "{not json").unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
    }

    #[test]
    fn reads_a_file_without_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        fs::write(store.path(), r#"{"user":"bob","token":"x"}"#).unwrap();
        let session = store.load().unwrap().unwrap();
        assert_eq!((session.user.as_str(), session.expires_at), ("bob", None));
    }
}
