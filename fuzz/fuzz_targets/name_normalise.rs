//! Any text as a room or user name: normalising never panics, an accepted
//! room name is canonical (it maps to itself), a normalised user name that
//! validates stays the same when normalised again, and the look-alike
//! skeleton never panics and is deterministic.
//!
//! The checks live in `neuralchat_core::fuzzing::name_normalise`, which
//! `neuralchat-core/tests/fuzz_regressions.rs` also runs on every input in
//! `fuzz/regressions/name_normalise/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| neuralchat_core::fuzzing::name_normalise(data));
