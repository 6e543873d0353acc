//! The checks of the libFuzzer targets in `fuzz/fuzz_targets/`, here so
//! that the fuzz targets and an ordinary `cargo test` run the same
//! assertions: each target is one line calling its function, and
//! `tests/fuzz_regressions.rs` runs every input saved in
//! `fuzz/regressions/TARGET/` (crashes the fuzzer found, and seeds)
//! through the same function. Not part of the library's API.
//!
//! Each function takes the raw bytes libFuzzer hands the target (the
//! contents of a file in `fuzz/artifacts/TARGET/` or
//! `fuzz/regressions/TARGET/`) and panics when a check fails.

use crate::commands;
use crate::mentions::mentioned_keys;
use crate::names::{
    canonical_room, name_skeleton, normalize_username, user_key, validate_username,
};
use crate::protocol::{decode, CLIENT_TYPES};
use crate::text::check_message_text;

/// A fuzz target's checks: they panic when one fails.
pub type Check = fn(&[u8]);

/// Every fuzz target, by its `cargo fuzz` name, with its checks.
pub const TARGETS: &[(&str, Check)] = &[
    ("frame_decode", frame_decode),
    ("command_parse", command_parse),
    ("mention_parse", mention_parse),
    ("name_normalise", name_normalise),
];

/// The text a target that reads `&str` sees for these bytes: their longest
/// valid UTF-8 prefix, as `arbitrary` makes a `&str` from fuzzer input.
pub fn text(data: &[u8]) -> &str {
    match std::str::from_utf8(data) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).unwrap_or_default(),
    }
}

/// Any bytes as a client frame: decoding never panics, and a frame that
/// decodes is of a type the protocol lists. (Frames are text: bytes that
/// are not UTF-8 are refused before decoding.)
pub fn frame_decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(request) = decode(text, 65_536) {
        assert!(CLIENT_TYPES.contains(&request.frame.type_name()));
    }
}

/// Any text as a `/command`: parsing never panics, and a command that
/// parses is one the registry lists.
pub fn command_parse(data: &[u8]) {
    let text = text(data);
    for line in [text.to_owned(), format!("/{text}")] {
        if let Ok(command) = commands::parse(&line) {
            assert!(
                commands::find(command.name()).is_some(),
                "{line:?} parsed as {command:?}, a command the registry does not list"
            );
        }
    }
}

/// Any message text: finding its @mentions never panics, and every key
/// found is non-empty; checking the text as a message never panics.
pub fn mention_parse(data: &[u8]) {
    let text = text(data);
    for key in mentioned_keys(text) {
        assert!(!key.is_empty(), "an empty mention key from {text:?}");
        let _ = validate_username(&key);
    }
    let _ = check_message_text(text);
}

/// Any text as a room or user name: normalising never panics, an accepted
/// room name is canonical (it maps to itself), a normalised user name that
/// validates stays the same when normalised again, and the look-alike
/// skeleton never panics, is deterministic and (for an accepted name) is
/// the same for the name and its key.
///
/// The skeleton is not idempotent (the skeleton of a skeleton may differ:
/// `ߡ` → `δ` → `ẟ`, `%` → `°/₀` → `°/o`), so that is not checked.
pub fn name_normalise(data: &[u8]) {
    let text = text(data);
    if let Ok(room) = canonical_room(text) {
        assert_eq!(
            canonical_room(&room).as_deref(),
            Ok(room.as_str()),
            "{text:?}"
        );
    }
    let skeleton = name_skeleton(text);
    assert_eq!(name_skeleton(text), skeleton, "{text:?}");
    let name = normalize_username(text);
    if validate_username(&name).is_ok() {
        assert_eq!(normalize_username(&name), name, "{text:?}");
        assert_eq!(
            name_skeleton(&user_key(&name)),
            name_skeleton(&name),
            "{text:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_the_valid_utf8_prefix() {
        assert_eq!(text(b"abc"), "abc");
        assert_eq!(text(b"ab\xffc"), "ab");
        assert_eq!(text("é".as_bytes()), "é");
        assert_eq!(text(&"é".as_bytes()[..1]), "");
        assert_eq!(text(b""), "");
    }
}
