//! Any message text: finding its @mentions never panics, and every key
//! found is non-empty.
//!
//! The checks live in `neuralchat_core::fuzzing::mention_parse`, which
//! `neuralchat-core/tests/fuzz_regressions.rs` also runs on every input in
//! `fuzz/regressions/mention_parse/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| neuralchat_core::fuzzing::mention_parse(data));
