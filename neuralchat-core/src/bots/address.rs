//! Is a message addressed to a bot? "Olga, tell me a joke", "ольга: ...",
//! "@Olga ...", "Hi Olga, ...", "tell me a joke, Olga" are; "Volga",
//! "Olgaaa", "Olga's joke", "Olga is slow today" are not (see the `forms` module
//! for the greetings, vocatives and remarks about a bot).
//!
//! Names are compared case-insensitively, character by character after
//! `char::to_lowercase`, so any script works ("ОЛЬГА" matches "Ольга").
//! A name only matches as a whole word: the characters around it must not
//! continue a word (letters, digits, `_`, combining marks).

/// The names one bot answers to: its canonical name and its aliases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotNames {
    /// The canonical name, as configured.
    name: String,
    /// Other names, as configured (e.g. "Ольга").
    aliases: Vec<String>,
    /// Lower-cased name and aliases, longest first, empty ones left out.
    folded: Vec<Vec<char>>,
    /// `folded` as text, for finding a name in a message's folded text.
    folded_text: Vec<String>,
}

impl BotNames {
    /// A bot called `name` that also answers to `aliases`. Surrounding
    /// whitespace and a leading `@` are ignored; empty names never match.
    pub fn new<I, S>(name: impl Into<String>, aliases: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let name = name.into();
        let aliases: Vec<String> = aliases.into_iter().map(Into::into).collect();
        let mut folded: Vec<Vec<char>> = std::iter::once(&name)
            .chain(&aliases)
            .map(|n| fold(n.trim().trim_start_matches('@').trim()))
            .filter(|f| !f.is_empty())
            .collect();
        folded.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        folded.dedup();
        let folded_text = folded.iter().map(|f| f.iter().collect()).collect();
        Self {
            name,
            aliases,
            folded,
            folded_text,
        }
    }

    /// The canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The aliases, as configured.
    pub fn aliases(&self) -> &[String] {
        &self.aliases
    }

    /// The byte length of the longest of this bot's names that `text`
    /// starts with (case-insensitively) and that `ends` accepts what
    /// follows of, if any.
    fn longest_prefix(&self, text: &str, ends: fn(&str) -> bool) -> Option<usize> {
        self.folded
            .iter()
            .filter_map(|name| match_prefix(text, name))
            .filter(|&len| text.get(len..).is_some_and(ends))
            .max()
    }
}

/// How a message addressed a bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressedBy {
    /// The message starts with the bot's name or an alias, with or without
    /// `@` ("Olga, ...", "@Olga tell me ..."); the address is stripped
    /// from the question.
    Name,
    /// The message mentions `@name` somewhere after its start; the question
    /// is the whole message.
    Mention,
    /// A greeting or interjection, then the name ("Hi Olga, ...",
    /// "Привет, Ольга!"); the question is what follows (the whole message
    /// when nothing does).
    Greeting,
    /// The name set off by a comma at the end or in the middle ("tell me a
    /// joke, Olga", "Слушай, Ольга, а ..."); the question is the message
    /// without ", NAME".
    Vocative,
}

/// A message addressed to a bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressed<'a> {
    /// The bot addressed.
    pub bot: &'a BotNames,
    /// How it was addressed.
    pub by: AddressedBy,
    /// What the bot is asked: the message without a leading address and the
    /// punctuation after it ("Olga, tell me a joke" → "tell me a joke"), or
    /// the whole message (trimmed) for a mention. May be empty ("Olga?").
    pub question: String,
}

/// Which bot, if any, `text` is addressed to.
///
/// A leading address wins over mentions, mentions over a greeting, a
/// greeting over a vocative; among mentions the earliest wins;
/// where several names match at the same place, the longest wins (then the
/// first bot in `bots`).
///
/// ```
/// use neuralchat_core::bots::{addressed_to, AddressedBy, BotNames};
///
/// let bots = [BotNames::new("Olga", ["Ольга"])];
/// let hit = addressed_to("ОЛЬГА, расскажи шутку", &bots).map(|a| a.question);
/// assert_eq!(hit.as_deref(), Some("расскажи шутку"));
/// let hit = addressed_to("what do you think, @olga?", &bots).map(|a| a.by);
/// assert_eq!(hit, Some(AddressedBy::Mention));
/// assert!(addressed_to("Volga is a river", &bots).is_none());
/// ```
pub fn addressed_to<'a>(text: &str, bots: &'a [BotNames]) -> Option<Addressed<'a>> {
    let text = text.trim();
    // Every form needs a name: most messages name no bot, and are told
    // so by one pass over the text.
    if !names_any(text, bots) {
        return None;
    }
    leading(text, bots)
        .or_else(|| mention(text, bots))
        .or_else(|| forms::after_greeting(text, bots))
        .or_else(|| forms::vocative(text, bots))
}

/// "Olga, ..." or "@Olga ..." at the start of the (trimmed) text.
fn leading<'a>(text: &str, bots: &'a [BotNames]) -> Option<Addressed<'a>> {
    let (body, at) = match text.strip_prefix('@') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let (bot, len) = best_match(body, bots, ends_leading_address)?;
    let rest = body.get(len..)?;
    // "Olga is slow today" talks about her ("@Olga is slow" still calls her).
    if !at && forms::talks_about(rest) {
        return None;
    }
    let question = rest.trim_start_matches(|c: char| c.is_whitespace() || is_separator(c));
    Some(Addressed {
        bot,
        by: AddressedBy::Name,
        question: question.to_owned(),
    })
}

/// "... @Olga ..." anywhere in the text.
fn mention<'a>(text: &str, bots: &'a [BotNames]) -> Option<Addressed<'a>> {
    let mut prev: Option<char> = None;
    for (at, c) in text.char_indices() {
        let before = prev;
        prev = Some(c);
        if c != '@' || before.is_some_and(blocks_mention_before) {
            continue;
        }
        let Some(after) = text.get(at + 1..) else {
            continue;
        };
        if let Some((bot, _)) = best_match(after, bots, ends_mention) {
            return Some(Addressed {
                bot,
                by: AddressedBy::Mention,
                question: text.to_owned(),
            });
        }
    }
    None
}

/// The bot with the longest name that `text` starts with and that `ends`
/// accepts what follows of, and that name's byte length in `text`.
fn best_match<'a>(
    text: &str,
    bots: &'a [BotNames],
    ends: fn(&str) -> bool,
) -> Option<(&'a BotNames, usize)> {
    bots.iter()
        .filter_map(|bot| bot.longest_prefix(text, ends).map(|len| (bot, len)))
        .fold(
            None,
            |best: Option<(&BotNames, usize)>, (bot, len)| match best {
                Some((_, best_len)) if best_len >= len => best,
                _ => Some((bot, len)),
            },
        )
}

/// The byte length of the prefix of `text` equal to `name` (already
/// lower-cased) when lower-cased char by char; the prefix always ends on a
/// char boundary of `text`.
fn match_prefix(text: &str, name: &[char]) -> Option<usize> {
    let mut matched = 0;
    for (at, c) in text.char_indices() {
        if matched == name.len() {
            return Some(at);
        }
        for lower in fold_char(c) {
            if name.get(matched) != Some(&lower) {
                return None;
            }
            matched += 1;
        }
    }
    (matched == name.len()).then_some(text.len())
}

/// Whether one of the bots' names occurs anywhere in `text` (lower-cased
/// as names are matched, so wherever a name can match, this finds it).
fn names_any(text: &str, bots: &[BotNames]) -> bool {
    // Folded as text, a name is found with a substring search: UTF-8 text
    // matches byte for byte exactly where it matches char for char. In
    // ASCII text (most messages) only an ASCII name can occur.
    let ascii = text.is_ascii();
    let folded = fold_text(text);
    bots.iter()
        .flat_map(|bot| &bot.folded_text)
        .filter(|name| !ascii || name.is_ascii())
        .any(|name| memchr::memmem::find(folded.as_bytes(), name.as_bytes()).is_some())
}

/// `text` lower-cased as [`fold`] does, with the letters of most messages
/// (ASCII and the basic Cyrillic block) mapped without a table lookup.
fn fold_text(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            'A'..='Z' => folded.push(c.to_ascii_lowercase()),
            c if c.is_ascii() => folded.push(c),
            // А-Я and Ѐ-Џ have their lower case 0x20 and 0x50 above.
            'А'..='Я' => folded.push(char::from_u32(u32::from(c) + 0x20).unwrap_or(c)),
            'Ѐ'..='Џ' => folded.push(char::from_u32(u32::from(c) + 0x50).unwrap_or(c)),
            'а'..='я' | 'ѐ'..='џ' => folded.push(c),
            c => folded.extend(fold_char(c)),
        }
    }
    folded
}

/// Lower-cases a name char by char.
fn fold(name: &str) -> Vec<char> {
    name.chars().flat_map(fold_char).collect()
}

/// One char lower-cased; the Greek final sigma is folded to σ, since
/// char-wise lower-casing of "Σ" cannot know it ends a word.
fn fold_char(c: char) -> impl Iterator<Item = char> {
    c.to_lowercase().map(|l| if l == 'ς' { 'σ' } else { l })
}

/// Characters that continue a word: a name followed or preceded by one is
/// part of a longer word ("Olgaaa", "Olga_fan", "Вольга").
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || is_combining_mark(c)
}

/// Combining marks (accents written as separate code points) belong to the
/// letter before them: "Olga\u{301}" is not "Olga".
fn is_combining_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// Punctuation that joins words ("Olga's", "Olga-style", "olga.com",
/// "olga@host"): after a name and followed by a word character, the name is
/// part of something longer.
fn is_joiner(c: char) -> bool {
    matches!(c, '\'' | '’' | '-' | '‐' | '.' | '@')
}

/// Punctuation stripped between a leading address and the question.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ',' | ':' | ';' | '!' | '?' | '.' | '…' | '-' | '–' | '—' | '،' | '、' | '，' | '：'
    )
}

/// Whether what follows a leading name makes it an address: the end of the
/// message, whitespace, or punctuation that does not join it to more word.
fn ends_leading_address(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        None => true,
        Some(c) if c.is_whitespace() => true,
        Some(c) if is_word_char(c) => false,
        Some(c) if is_joiner(c) => !chars.next().is_some_and(is_word_char),
        Some(_) => true,
    }
}

/// Whether what follows `@name` ends the mention. Like a leading address,
/// except that an apostrophe may follow ("@Olga's answer" mentions Olga).
fn ends_mention(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        Some('\'' | '’') => true,
        _ => ends_leading_address(rest),
    }
}

/// Characters before `@` that make it part of an e-mail address, a URL or
/// a longer handle rather than a mention.
fn blocks_mention_before(c: char) -> bool {
    is_word_char(c) || matches!(c, '.' | '-' | '+' | '@' | '/' | '%')
}

mod forms;

#[cfg(test)]
mod tests;
