//! Any text as a `/command`: parsing never panics, and what parses is a
//! command the registry lists.
//!
//! The checks live in `neuralchat_core::fuzzing::command_parse`, which
//! `neuralchat-core/tests/fuzz_regressions.rs` also runs on every input in
//! `fuzz/regressions/command_parse/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| neuralchat_core::fuzzing::command_parse(data));
