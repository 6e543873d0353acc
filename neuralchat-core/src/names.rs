//! User and room names: what is allowed and their canonical forms.

use crate::error::{ChatError, ChatResult, ErrorCode};

/// The longest user name, in characters.
pub const MAX_USERNAME_CHARS: usize = 32;
/// The longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Checks a user name: 2 to 32 letters (any script), digits, `_`, `-` or
/// `.`, starting with a letter or digit.
pub fn validate_username(name: &str) -> ChatResult<()> {
    let count = name.chars().count();
    let starts_well = name.chars().next().is_some_and(char::is_alphanumeric);
    if !(2..=MAX_USERNAME_CHARS).contains(&count) || !starts_well || !name.chars().all(allowed) {
        return Err(ChatError::new(
            ErrorCode::InvalidUsername,
            "a user name has 2 to 32 letters, digits, '_', '-' or '.', and starts with a letter or digit",
        ));
    }
    Ok(())
}

/// The key a user name is unique by: names differ only if their lower-case forms do.
pub fn user_key(name: &str) -> String {
    name.to_lowercase()
}

/// The canonical room name: lower case, an optional leading `#` dropped;
/// 1 to 64 letters, digits, `_`, `-` or `.`.
pub fn canonical_room(name: &str) -> ChatResult<String> {
    let bare = name.strip_prefix('#').unwrap_or(name);
    let count = bare.chars().count();
    if !(1..=MAX_ROOM_CHARS).contains(&count) || !bare.chars().all(allowed) {
        return Err(ChatError::new(
            ErrorCode::InvalidRoom,
            "a room name has 1 to 64 letters, digits, '_', '-' or '.'",
        ));
    }
    Ok(bare.to_lowercase())
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
}
