//! User and room names: what is allowed and their canonical forms.
//!
//! A user name is registered in Unicode normalisation form NFKC
//! ([`normalize_username`]: `ａｌｉｃｅ` is `alice`), is unique by its lower
//! case ([`user_key`]) and may not look like another user's or a bot's name
//! ([`name_skeleton`], the UTS #39 confusable skeleton). A room name has one
//! canonical form ([`canonical_room`]) that is itself a valid room name.

use crate::error::{ChatError, ChatResult, ErrorCode};
use unicode_normalization::UnicodeNormalization;

/// The longest user name, in characters.
pub const MAX_USERNAME_CHARS: usize = 32;
/// The longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The form a user name is registered and shown in: NFKC, so
/// compatibility variants (fullwidth `ａ`, ligatures `ﬁ`, superscripts)
/// become their plain letters. Check the result with [`validate_username`].
pub fn normalize_username(name: &str) -> String {
    name.nfkc().collect()
}

/// Checks a user name: 2 to 32 letters (any script), digits, `_`, `-` or
/// `.`, starting with a letter or digit, whose lower case ([`user_key`]) is
/// such a name too (`İ` is refused: it lower-cases to `i` and a combining
/// dot). Names from clients are checked after [`normalize_username`].
pub fn validate_username(name: &str) -> ChatResult<()> {
    let count = name.chars().count();
    let starts_well = name.chars().next().is_some_and(char::is_alphanumeric);
    if !(2..=MAX_USERNAME_CHARS).contains(&count) || !starts_well || !name.chars().all(allowed) {
        return Err(ChatError::new(
            ErrorCode::InvalidUsername,
            "a user name has 2 to 32 letters, digits, '_', '-' or '.', and starts with a letter or digit",
        ));
    }
    let key = user_key(name);
    let key_count = key.chars().count();
    if !(2..=MAX_USERNAME_CHARS).contains(&key_count)
        || !key.chars().all(allowed)
        || user_key(&key) != key
    {
        return Err(ChatError::new(
            ErrorCode::InvalidUsername,
            "that user name changes its characters when lower-cased (write İ as I)",
        ));
    }
    Ok(())
}

/// The key a user name is unique by: names differ only if their lower-case forms do.
pub fn user_key(name: &str) -> String {
    name.to_lowercase()
}

/// The confusable skeleton of a user name (UTS #39, computed from its
/// NFKC lower-case form and lower-cased again): two names with the same
/// skeleton look alike (`alice`, `аlice` with a Cyrillic `а`, `ALICE`), and
/// only one of them may be registered. Names with the same key have the
/// same skeleton.
pub fn name_skeleton(name: &str) -> String {
    let key: String = user_key(name).nfkc().collect();
    unicode_security::skeleton(&key)
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether two user names look alike (the same [`name_skeleton`]).
pub fn look_alike(a: &str, b: &str) -> bool {
    name_skeleton(a) == name_skeleton(b)
}

/// A room name's one normalisation: NFKC, then lower case (`İ` counting as
/// `I`, so `İstanbul` is `istanbul`), then NFC.
fn fold_room(name: &str) -> String {
    let lower: String = name
        .nfkc()
        .map(|c| if c == 'İ' { 'I' } else { c })
        .flat_map(char::to_lowercase)
        .collect();
    lower.nfc().collect()
}

/// The canonical room name: an optional leading `#` dropped, then NFKC,
/// lower case (`İ` as `I`) and NFC; it must have 1 to 64 letters, digits,
/// `_`, `-` or `.`. What it returns is accepted again and maps to itself.
pub fn canonical_room(name: &str) -> ChatResult<String> {
    let bare = name.strip_prefix('#').unwrap_or(name);
    let canonical = fold_room(bare);
    let count = canonical.chars().count();
    if !(1..=MAX_ROOM_CHARS).contains(&count)
        || !canonical.chars().all(allowed)
        || fold_room(&canonical) != canonical
    {
        return Err(ChatError::new(
            ErrorCode::InvalidRoom,
            "a room name has 1 to 64 letters, digits, '_', '-' or '.'",
        ));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for good in ["alice", "Bob_2", "Ольга", "a.b-c", "x1"] {
            assert!(validate_username(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "_x", "has space", "@bob", &"x".repeat(33), "a/b"] {
            assert_eq!(
                validate_username(bad).unwrap_err().code,
                ErrorCode::InvalidUsername,
                "{bad}"
            );
        }
        assert_eq!(user_key("ОльгА"), "ольга");
    }

    #[test]
    fn usernames_are_nfkc_and_keep_their_key_valid() {
        assert_eq!(normalize_username("ａｌｉｃｅ"), "alice");
        assert_eq!(normalize_username("ﬁona"), "fiona");
        assert_eq!(normalize_username("Ольга"), "Ольга");
        // İ lower-cases to i and a combining dot: its key would be no name.
        assert_eq!(
            validate_username("İbrahim").unwrap_err().code,
            ErrorCode::InvalidUsername
        );
        assert!(validate_username("Ibrahim").is_ok());
    }

    #[test]
    fn look_alike_names_share_a_skeleton() {
        for (a, b) in [
            ("alice", "\u{430}lice"),               // Cyrillic а
            ("alice", "ALICE"),                     // case
            ("alice", "ａｌｉｃｅ"),                // fullwidth
            ("bob", "b\u{3bf}b"),                   // Greek ο
            ("rootadmin", "r\u{43e}\u{43e}tadmin"), // Cyrillic о
            ("Olga", "\u{41e}lga"),                 // Cyrillic О
            ("bill", "bi11"),
        ] {
            assert!(look_alike(a, b), "{a} / {b}");
        }
        for (a, b) in [("alice", "alicia"), ("bob", "rob"), ("Ольга", "olga")] {
            assert!(!look_alike(a, b), "{a} / {b}");
        }
    }

    #[test]
    fn rooms() {
        assert_eq!(canonical_room("#General").unwrap(), "general");
        assert_eq!(canonical_room("Кухня").unwrap(), "кухня");
        for bad in ["", "#", "a b", "@bob", "/x", &"r".repeat(65)] {
            assert_eq!(
                canonical_room(bad).unwrap_err().code,
                ErrorCode::InvalidRoom,
                "{bad}"
            );
        }
    }

    #[test]
    fn room_names_canonicalise_once_to_a_valid_name() {
        // İ used to become "i" and a combining dot: listed, then refused.
        assert_eq!(canonical_room("İstanbul").unwrap(), "istanbul");
        assert_eq!(canonical_room("istanbul").unwrap(), "istanbul");
        assert_eq!(canonical_room("#ＧＥＮＥＲＡＬ").unwrap(), "general");
        // Decomposed input is composed: one room, not two.
        assert_eq!(canonical_room("cafe\u{301}").unwrap(), "café");
        assert_eq!(canonical_room("café").unwrap(), "café");
        // A lone combining mark is no letter, before or after folding.
        assert_eq!(
            canonical_room("i\u{307}stanbul").unwrap_err().code,
            ErrorCode::InvalidRoom
        );
    }
}
