//! Any text as a `/command`: parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = neuralchat_core::commands::parse(text);
    let _ = neuralchat_core::commands::parse(&format!("/{text}"));
});
