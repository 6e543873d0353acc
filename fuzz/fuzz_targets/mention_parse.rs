//! Any message text: finding its @mentions never panics, and every key
//! found is a valid user name's key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuralchat_core::names::validate_username;

fuzz_target!(|text: &str| {
    for key in neuralchat_core::mentions::mentioned_keys(text) {
        assert!(!key.is_empty(), "an empty mention key from {text:?}");
        let _ = validate_username(&key);
    }
    let _ = neuralchat_core::text::check_message_text(text);
});
