//! Any bytes as a client frame: decoding never panics, and a frame that
//! decodes is of a type the protocol lists.
//!
//! The checks live in `neuralchat_core::fuzzing::frame_decode`, which
//! `neuralchat-core/tests/fuzz_regressions.rs` also runs on every input in
//! `fuzz/regressions/frame_decode/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| neuralchat_core::fuzzing::frame_decode(data));
