//! Every input saved in `fuzz/regressions/TARGET/` (seeds, and crashes a
//! fuzz run found, copied there by `scripts/fuzz.sh`) run through the
//! checks of fuzz target TARGET: `neuralchat_core::fuzzing::TARGET`, the
//! very function `fuzz/fuzz_targets/TARGET.rs` calls. So a crash, once
//! saved, is replayed by every `cargo test`, without nightly or libFuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use neuralchat_core::fuzzing::TARGETS;
use std::collections::BTreeSet;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn known_targets() -> BTreeSet<String> {
    TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect()
}

/// The files of a folder (hidden ones skipped), sorted by name.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .filter(|path| !path.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

#[test]
fn every_saved_input_passes_its_targets_checks() {
    let root = fuzz_dir().join("regressions");
    let mut failures = Vec::new();
    let mut count = 0;
    for (target, check) in TARGETS {
        let dir = root.join(target);
        let inputs = files(&dir);
        assert!(
            !inputs.is_empty(),
            "{} holds no inputs: seed it",
            dir.display()
        );
        for path in inputs {
            let data = fs::read(&path).unwrap();
            count += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                failures.push(format!("{target}: {}: {why}", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} saved fuzz inputs fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Each folder under `fuzz/regressions/` is a target's: an input saved
/// under a misspelt or renamed target would otherwise never run.
#[test]
fn every_regressions_folder_is_a_target() {
    let root = fuzz_dir().join("regressions");
    let folders: BTreeSet<String> = fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders, known_targets());
}

/// The fuzz targets are exactly `fuzzing::TARGETS`, and each calls its
/// function there: what the fuzzer checks is what this test replays.
#[test]
fn every_fuzz_target_runs_the_shared_checks() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let bins: BTreeSet<String> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|table| {
            let line = table.lines().find(|l| l.trim_start().starts_with("name"))?;
            Some(line.split('"').nth(1)?.to_owned())
        })
        .collect();
    assert_eq!(bins, known_targets(), "fuzz/Cargo.toml's [[bin]] targets");

    let sources: BTreeSet<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(sources, known_targets(), "fuzz/fuzz_targets/*.rs");

    for target in known_targets() {
        let path = fuzz_dir().join(format!("fuzz_targets/{target}.rs"));
        let source = fs::read_to_string(&path).unwrap();
        let call = format!("neuralchat_core::fuzzing::{target}(data)");
        assert!(
            source.contains(&call),
            "{} does not call {call}: its checks would differ from the replay's",
            path.display()
        );
    }
}
