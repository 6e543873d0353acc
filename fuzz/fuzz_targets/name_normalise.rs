//! Any text as a room or user name: normalising never panics, an accepted
//! room name is canonical (it maps to itself), and a normalised user name
//! that validates stays the same when normalised again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuralchat_core::names::{canonical_room, normalize_username, validate_username};

fuzz_target!(|text: &str| {
    if let Ok(room) = canonical_room(text) {
        assert_eq!(canonical_room(&room).as_deref(), Ok(room.as_str()), "{text:?}");
    }
    let name = normalize_username(text);
    if validate_username(&name).is_ok() {
        assert_eq!(normalize_username(&name), name, "{text:?}");
    }
});
