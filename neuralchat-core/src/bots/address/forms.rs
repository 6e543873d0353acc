//! The ways people call someone by name besides opening with it, in the
//! two languages NeuralChat is used in, and the one way of opening with a
//! name that is not a call:
//!
//! - after a greeting or an interjection: "Hi Olga, ...", "Okay Olga ...",
//!   "Привет, Ольга!", "Доброе утро, Ольга. ...";
//! - as a vocative set off by a comma, at the end or in the middle: "tell
//!   me a joke, Olga", "расскажи шутку, Ольга!", "Слушай, Ольга, а ...";
//! - not a call: the name followed by a third-person verb, talking *about*
//!   the bot ("Olga is slow today", "Ольга сказала что-то странное").
//!
//! The rules are deterministic and lean towards silence: a bot that
//! answers a remark about it is worse than one that needs its name first.

use super::{
    best_match, fold, is_separator, is_word_char, match_prefix, Addressed, AddressedBy, BotNames,
};

/// Greetings and interjections that may come before a name, lower case,
/// longest first where one starts another.
const GREETINGS: &[&str] = &[
    "good morning",
    "good afternoon",
    "good evening",
    "good night",
    "thank you",
    "hello",
    "hey",
    "hi",
    "okay",
    "ok",
    "yo",
    "dear",
    "thanks",
    "please",
    "sorry",
    "excuse me",
    "listen",
    "доброе утро",
    "добрый день",
    "добрый вечер",
    "доброй ночи",
    "здравствуйте",
    "здравствуй",
    "привет",
    "приветик",
    "салют",
    "слушай",
    "скажи",
    "пожалуйста",
    "спасибо",
    "извини",
    "эй",
    "ну",
    "о",
];

/// Words that, right after a leading name, make the message a remark about
/// the bot rather than a call to it.
const THIRD_PERSON: &[&str] = &[
    "is",
    "was",
    "has",
    "had",
    "does",
    "did",
    "isn't",
    "wasn't",
    "hasn't",
    "doesn't",
    "didn't",
    "isnt",
    "wasnt",
    "doesnt",
    "didnt",
    "said",
    "told",
    "wrote",
    "got",
    "gave",
    "made",
    "went",
    "broke",
    "seems",
    "always",
    "never",
    "keeps",
    "will",
    "won't",
    "sucks",
    "rocks",
    // "Olga and I disagree": the name is one of the sentence's subjects.
    "and",
    "&",
    "и",
    "сказала",
    "ответила",
    "написала",
    "была",
    "будет",
    "опять",
    "снова",
    "всегда",
    "никогда",
    "тупит",
    "тормозит",
    "сломалась",
    "врёт",
    "врет",
    "молодец",
    "умница",
    "права",
    "неправа",
];

/// English words ending in "s" that are not third-person verbs.
const NOT_THIRD_PERSON_S: &[&str] = &[
    "yes", "thanks", "guess", "bless", "this", "plus", "pls", "plz",
];

/// Russian words with a verb's ending that are not verbs.
const NOT_THIRD_PERSON_RU: &[&str] = &[
    "привет",
    "ответ",
    "совет",
    "секрет",
    "пакет",
    "проект",
    "предмет",
    "момент",
    "объект",
    "бюджет",
    "рецепт",
    "салат",
    "формат",
    "результат",
    "сайт",
    "пожалуйста",
];

/// Whether `word` (as written) is a third-person verb or a word that
/// marks a remark about someone.
fn is_third_person(word: &str) -> bool {
    let word: String = word
        .trim_end_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    if THIRD_PERSON.contains(&word.as_str()) {
        return true;
    }
    let chars = word.chars().count();
    if word.is_ascii() {
        // "answers", "thinks", "answered", "crashed".
        // Contractions ("what's", "let's") are not verbs in "-s".
        let s_form = word.ends_with('s')
            && !word.ends_with("ss")
            && !word.contains(['\'', '’'])
            && chars >= 4;
        let ed_form = word.ends_with("ed") && chars >= 5;
        return (s_form && !NOT_THIRD_PERSON_S.contains(&word.as_str())) || ed_form;
    }
    // Russian: present tense "-ет/-ит/-ут/-ют/-ат/-ят" ("думает", "пишет"),
    // feminine past "-ла/-лась" ("ответила", "сломалась").
    chars >= 5
        && !NOT_THIRD_PERSON_RU.contains(&word.as_str())
        && ["ет", "ёт", "ит", "ут", "ют", "ат", "ят", "ла", "лась"]
            .iter()
            .any(|end| word.ends_with(end))
}

/// Whether what follows a name (`rest`) is whitespace and then a word that
/// makes the message a remark about the bot ("Olga is slow").
pub(super) fn talks_about(rest: &str) -> bool {
    if !rest.starts_with(char::is_whitespace) {
        return false;
    }
    rest.split_whitespace().next().is_some_and(is_third_person)
}

/// "Hi Olga, ...", "Привет, Ольга!": a greeting, optional punctuation, then
/// the name ending like a leading address.
pub(super) fn after_greeting<'a>(text: &str, bots: &'a [BotNames]) -> Option<Addressed<'a>> {
    GREETINGS.iter().find_map(|greeting| {
        let len = match_prefix(text, &fold(greeting))?;
        let rest = text.get(len..)?;
        if rest.chars().next().is_some_and(is_word_char) {
            return None; // "hint", "okapi", "привете"
        }
        let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ',' | '!'));
        let body = rest.strip_prefix('@').unwrap_or(rest);
        let (bot, name_len) = best_match(body, bots, super::ends_leading_address)?;
        let after = body.get(name_len..)?;
        if talks_about(after) {
            return None;
        }
        let question = after.trim_start_matches(|c: char| c.is_whitespace() || is_separator(c));
        Some(Addressed {
            bot,
            by: AddressedBy::Greeting,
            question: if question.is_empty() { text } else { question }.to_owned(),
        })
    })
}

/// Words that, after ", NAME,", make it one item of a list ("Anna, Olga,
/// and Boris") rather than a call.
const LIST_WORDS: &[&str] = &["and", "or", "и", "или", "а также"];

/// Whether what follows a name ends a vocative: the end of the message,
/// or `,`, `!`, `?`, `.`, `…` (not followed by a list word).
fn ends_vocative(rest: &str) -> bool {
    let rest = rest.trim_start();
    let mut chars = rest.chars();
    match chars.next() {
        None => true,
        Some(',') => {
            let next = chars.as_str().trim_start().to_lowercase();
            !LIST_WORDS
                .iter()
                .any(|w| next.starts_with(w) && !next[w.len()..].starts_with(is_word_char))
        }
        Some('!' | '?' | '.' | '…' | ';') => true,
        Some(_) => false,
    }
}

/// "..., Olga", "..., Olga?", "Слушай, Ольга, а ...": the name after a
/// comma, followed by the end or by punctuation. The question is the
/// message without ", NAME".
pub(super) fn vocative<'a>(text: &str, bots: &'a [BotNames]) -> Option<Addressed<'a>> {
    let mut prev: Option<char> = None;
    for (at, c) in text.char_indices() {
        let before = prev;
        prev = Some(c);
        if at == 0 || before.is_some_and(is_word_char) || !is_word_char(c) {
            continue;
        }
        let head = text.get(..at)?.trim_end();
        let Some(head) = head.strip_suffix(',') else {
            continue;
        };
        let Some((bot, len)) = best_match(text.get(at..)?, bots, ends_vocative) else {
            continue;
        };
        let tail = text.get(at + len..)?;
        let tail = tail.strip_prefix(',').unwrap_or(tail);
        let question = format!("{}{}", head.trim_end(), tail);
        return Some(Addressed {
            bot,
            by: AddressedBy::Vocative,
            question: question.trim().to_owned(),
        });
    }
    None
}
