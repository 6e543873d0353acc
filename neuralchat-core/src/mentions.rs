//! Finding `@name` mentions in a message. A mention starts with `@` at the
//! start of the text or after a character that cannot end a word or an
//! address (so `bob@example.com` and `@@x` are not mentions), and takes the
//! name characters that follow, minus trailing `.`/`-` (sentence
//! punctuation). Matching is case-insensitive and Unicode-aware.

use crate::names::{user_key, MAX_USERNAME_CHARS};

fn name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The distinct user keys (lower case) mentioned in `text`, in order of
/// first appearance. Whether a user by that name exists is for the caller.
pub fn mentioned_keys(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let prev_ok = i == 0 || !(name_char(chars[i - 1]) || chars[i - 1] == '@');
        if chars[i] != '@' || !prev_ok {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < chars.len() && name_char(chars[end]) {
            end += 1;
        }
        let next = end;
        // A following '@' means this was part of an address-like token.
        let followed_by_at = chars.get(end) == Some(&'@');
        while end > start && matches!(chars[end - 1], '.' | '-') {
            end -= 1;
        }
        let name: String = chars[start..end].iter().collect();
        let count = end - start;
        let starts_well = chars.get(start).is_some_and(|c| c.is_alphanumeric());
        if !followed_by_at && starts_well && (2..=MAX_USERNAME_CHARS).contains(&count) {
            let key = user_key(&name);
            if !found.contains(&key) {
                found.push(key);
            }
        }
        i = next.max(i + 1);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mentions_with_punctuation_and_case() {
        assert_eq!(mentioned_keys("hi @Bob, and @carol."), ["bob", "carol"]);
        assert_eq!(mentioned_keys("@alice"), ["alice"]);
        assert_eq!(mentioned_keys("(@dave) @dave! @DAVE?"), ["dave"]);
        assert_eq!(mentioned_keys("ping @x_y-z.w..."), ["x_y-z.w"]);
    }

    #[test]
    fn cyrillic_names() {
        assert_eq!(mentioned_keys("привет, @Ольга!"), ["ольга"]);
        assert_eq!(mentioned_keys("@ОЛЬГА и @ольга"), ["ольга"]);
    }

    #[test]
    fn not_in_emails_words_or_doubled() {
        assert!(mentioned_keys("mail bob@example.com now").is_empty());
        assert!(mentioned_keys("@@x and @@bob").is_empty());
        assert!(mentioned_keys("a@b").is_empty());
        assert!(mentioned_keys("@ alone, @, @_x, @-y").is_empty());
        assert!(
            mentioned_keys("@a").is_empty(),
            "names have at least 2 characters"
        );
        assert!(mentioned_keys("@bob@example.com").is_empty());
    }
}
