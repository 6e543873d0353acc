//! Properties of name canonicalisation over random Unicode: nothing
//! panics; an accepted room name's canonical form is accepted again and
//! maps to itself; a user name, once NFKC-normalised and accepted, stays
//! the same and keeps a key that is itself an accepted name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use neuralchat_core::names::{
    canonical_room, name_skeleton, normalize_username, user_key, validate_username,
};
use proptest::prelude::*;

/// Characters that make names interesting: case pairs that change length,
/// compatibility forms, combining marks, look-alikes, punctuation.
const TRICKY: &[char] = &[
    'İ',
    'ı',
    'i',
    'I',
    'ß',
    'ẞ',
    'ﬁ',
    'ﬀ',
    'Ａ',
    'ａ',
    '＃',
    '#',
    'ǅ',
    'ǆ',
    'Ǆ',
    'ϴ',
    'θ',
    'Σ',
    'ς',
    'σ',
    'K',
    'Å',
    'Ω',
    '\u{307}',
    '\u{301}',
    '\u{345}',
    'ͅ',
    'ΐ',
    'ŉ',
    'ǰ',
    'ᾈ',
    'ﬓ',
    '½',
    '²',
    '①',
    'Ⓐ',
    'ⓐ',
    '㎏',
    '\u{430}',
    'а',
    'о',
    'Ѐ',
    '\u{200b}',
    '\u{200d}',
    ' ',
    '_',
    '-',
    '.',
    '@',
    '+',
    '/',
    '0',
    '9',
    '٣',
    '한',
    '가',
    '\u{1100}',
    '\u{1161}',
    'ᄀ',
    'ㄱ',
    '\u{3164}',
    '\u{fb2c}',
    '\u{1e9e}',
    '\u{2126}',
    '\u{212a}',
    '\u{2160}',
    '\u{2170}',
    '\u{1f130}',
];

fn name_strategy() -> impl Strategy<Value = String> {
    let one = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        3 => proptest::sample::select(TRICKY),
        3 => any::<char>(),
    ];
    proptest::collection::vec(one, 0..40).prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn accepted_room_names_are_canonical_fixed_points(name in name_strategy()) {
        if let Ok(canonical) = canonical_room(&name) {
            let again = canonical_room(&canonical);
            prop_assert_eq!(again.as_deref(), Ok(canonical.as_str()));
            let hashed = canonical_room(&format!("#{canonical}"));
            prop_assert_eq!(hashed.as_deref(), Ok(canonical.as_str()));
        }
    }

    #[test]
    fn normalised_user_names_are_stable(name in name_strategy()) {
        let normal = normalize_username(&name);
        let _ = name_skeleton(&name);
        if validate_username(&normal).is_ok() {
            prop_assert_eq!(&normalize_username(&normal), &normal);
            let key = user_key(&normal);
            // Direct conversations are named by keys, which must be names.
            prop_assert!(validate_username(&key).is_ok(), "key {:?}", key);
            prop_assert_eq!(&user_key(&key), &key);
            prop_assert_eq!(name_skeleton(&key), name_skeleton(&normal));
        }
    }
}

#[test]
fn known_tricky_room_names() {
    for name in ["İstanbul", "ǅemal", "ΣΊΣΥΦΟΣ", "Straße", "ﬁne", "Ⅻ", "①"] {
        if let Ok(canonical) = canonical_room(name) {
            assert_eq!(canonical_room(&canonical).unwrap(), canonical, "{name}");
        }
    }
}
