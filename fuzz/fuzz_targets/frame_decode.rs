//! Any bytes as a client frame: decoding never panics, and a frame that
//! decodes is of a type the protocol lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuralchat_core::protocol::{decode, CLIENT_TYPES};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(request) = decode(text, 65_536) {
        assert!(CLIENT_TYPES.contains(&request.frame.type_name()));
    }
});
