//! Finding the workspace's binaries.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The target directory: `CARGO_TARGET_DIR` when set, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Finds a workspace binary: the path in the environment variable `env_var`
/// when set, else `<target>/debug/<name>`. Fails with a hint to build the
/// workspace when the file does not exist.
pub fn find_binary(name: &str, env_var: &str) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "{env_var} is set to {}, which is not a file",
            path.display()
        );
    }
    let path = target_dir().join("debug").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        bail!(
            "the {name} binary is not built ({} does not exist): \
             run cargo build --workspace first, or set {env_var}",
            path.display()
        )
    }
}

/// The server an end-to-end benchmark runs: `NEURALCHAT_SERVER_BIN` when
/// set, else the release build. Sets `NEURALCHAT_SERVER_BIN` to it, so
/// every `ServerProcess` the benchmark starts runs that binary. Fails with
/// a hint when the file does not exist.
pub fn bench_server() -> Result<PathBuf> {
    let path = std::env::var_os("NEURALCHAT_SERVER_BIN")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("release").join("neuralchat-server"));
    if !path.is_file() {
        bail!(
            "{} does not exist: run `cargo build --release -p neuralchat-server` first",
            path.display()
        );
    }
    std::env::set_var("NEURALCHAT_SERVER_BIN", &path);
    Ok(path)
}

/// A bench's setting from the environment: `key` parsed as a number, or
/// `default` when it is unset or not a number.
pub fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
    }

    #[test]
    fn missing_binary_says_how_to_build_it() {
        let err = find_binary("no-such-binary-here", "NEURALCHAT_TESTKIT_NO_SUCH_VAR")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cargo build --workspace"), "{err}");
    }
}
