//! What text a message (or a topic) may contain, and which characters show
//! nothing: the rules shared by messages, topics and passwords.

use crate::error::{ChatError, ChatResult, ErrorCode};

/// Format characters (general category Cf) and the other default-ignorable
/// code points (Unicode 16): zero-width space, joiners and non-joiners,
/// bidi marks and controls, word joiner and invisible operators, the byte
/// order mark, variation selectors, Hangul fillers, tags. Inclusive ranges.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{2800}', '\u{2800}'), // braille pattern blank: drawn as nothing
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// Whether `c` shows nothing by itself: whitespace, a control character, a
/// format character (zero-width space U+200B, joiners U+200C–U+200D, word
/// joiner U+2060, byte order mark U+FEFF, ...) or another default-ignorable
/// code point (variation selectors, Hangul fillers, ...).
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || INVISIBLE
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
}

/// Whether `text` is empty once whitespace and invisible characters are
/// removed.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_invisible)
}

/// Whether `c` is a bidirectional embedding, override or isolate control
/// (U+202A–U+202E, U+2066–U+2069): they reorder the text around them (and
/// what a client shows after it).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether a message may hold `c`: control characters (C0, DEL, C1; NUL,
/// escape, bell, carriage return...) other than line feed and tab are
/// refused, and so are bidi controls.
fn refused(c: char) -> Option<&'static str> {
    if c.is_control() && !matches!(c, '\n' | '\t') {
        Some("a control character (only line feed and tab are allowed)")
    } else if is_bidi_control(c) {
        Some("a bidirectional embedding, override or isolate control")
    } else {
        None
    }
}

/// `text` without the characters a message may not hold (for what a
/// model writes: it is not refused, only cleaned, so a NUL or an escape
/// sequence from a model never reaches the database or a terminal).
pub fn without_refused(text: &str) -> String {
    text.chars().filter(|c| refused(*c).is_none()).collect()
}

/// Checks the characters of a message or topic (its length is the
/// caller's): no control characters but `\n` and `\t`, no bidi controls,
/// and something visible. Answers `bad_message` saying what was wrong.
pub fn check_message_text(text: &str) -> ChatResult<()> {
    if let Some((c, what)) = text.chars().find_map(|c| refused(c).map(|w| (c, w))) {
        return Err(ChatError::new(
            ErrorCode::BadMessage,
            format!("a message may not contain {what}: U+{:04X}", u32::from(c)),
        ));
    }
    if is_blank(text) {
        return Err(ChatError::new(
            ErrorCode::BadMessage,
            "a message must show something: it is empty, or only spaces and invisible characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_disjoint() {
        assert!(INVISIBLE.iter().all(|(lo, hi)| lo <= hi));
        assert!(INVISIBLE.windows(2).all(|w| w[0].1 < w[1].0));
    }

    #[test]
    fn invisible_characters() {
        for c in [
            ' ',
            '\t',
            '\n',
            '\0',
            '\u{7f}',
            '\u{85}',
            '\u{a0}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{3000}',
            '\u{3164}',
            '\u{fe0f}',
            '\u{e0041}',
            '\u{2800}',
            '\u{202e}',
        ] {
            assert!(is_invisible(c), "U+{:04X}", u32::from(c));
        }
        for c in ['a', 'я', '0', '.', '😀', '中', '\u{301}'] {
            assert!(!is_invisible(c), "U+{:04X}", u32::from(c));
        }
        assert!(is_blank("\u{200b}\u{200b} \u{feff}"));
        assert!(!is_blank(" a "));
    }

    #[test]
    fn messages_refuse_controls_bidi_and_blank_text() {
        for good in [
            "hello",
            "two\nlines",
            "a\ttab",
            "שלום",
            "emoji 👩\u{200d}💻",
            "x\u{200b}y",
        ] {
            assert!(check_message_text(good).is_ok(), "{good:?}");
        }
        for bad in [
            "nul\0",
            "\u{1b}[31mred",
            "bell\u{7}",
            "c1\u{9b}",
            "cr\r\n",
            "abc\u{202e}fed",
            "\u{2066}isolated\u{2069}",
            "",
            "   ",
            "\u{200b}\u{200b}\u{200b}",
            "\u{feff}\u{2060}",
        ] {
            let err = check_message_text(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadMessage, "{bad:?}");
        }
        let err = check_message_text("x\u{1b}").unwrap_err();
        assert!(err.message.contains("U+001B"), "{}", err.message);
    }

    #[test]
    fn model_output_is_cleaned_not_refused() {
        assert_eq!(
            without_refused("a\0b\u{1b}[31mc\u{202e}d\n\te"),
            "ab[31mcd\n\te"
        );
    }
}
