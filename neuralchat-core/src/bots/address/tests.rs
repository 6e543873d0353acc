use super::*;

fn olga() -> Vec<BotNames> {
    vec![BotNames::new("Olga", ["Ольга", "Оля"])]
}

/// The bot's name and the question, or None.
fn ask(text: &str, bots: &[BotNames]) -> Option<(String, AddressedBy, String)> {
    addressed_to(text, bots).map(|a| (a.bot.name().to_owned(), a.by, a.question))
}

fn question(text: &str) -> Option<String> {
    ask(text, &olga()).map(|(_, _, q)| q)
}

#[test]
fn leading_name_with_punctuation_or_space() {
    for (text, want) in [
        ("Olga, tell me a joke", "tell me a joke"),
        ("olga: what time is it?", "what time is it?"),
        ("OLGA; hi", "hi"),
        ("Olga tell me", "tell me"),
        ("Olga\ttell me", "tell me"),
        ("Olga,tell me", "tell me"),
        ("Olga! Help!", "Help!"),
        ("Olga - are you there?", "are you there?"),
        ("Olga — are you there?", "are you there?"),
        ("Olga... are you there?", "are you there?"),
        ("Olga, ¿qué tal?", "¿qué tal?"),
        ("Olga, \"quoted\" words", "\"quoted\" words"),
        ("   Olga, leading spaces  ", "leading spaces"),
        ("\n Olga,\n  on the next line", "on the next line"),
    ] {
        assert_eq!(question(text).as_deref(), Some(want), "{text:?}");
    }
}

#[test]
fn the_name_alone_counts() {
    for text in ["Olga?", "Olga", "olga!", "  OLGA ...  ", "Ольга?", "@Olga"] {
        assert_eq!(question(text).as_deref(), Some(""), "{text:?}");
    }
}

#[test]
fn cyrillic_aliases_any_case() {
    for (text, want) in [
        ("Ольга, расскажи шутку", "расскажи шутку"),
        ("ОЛЬГА, расскажи шутку", "расскажи шутку"),
        ("ольга: который час?", "который час?"),
        ("оЛьГа привет", "привет"),
        ("Оля, привет", "привет"),
        ("ОЛЯ! привет", "привет"),
    ] {
        let got = ask(text, &olga());
        assert_eq!(
            got,
            Some(("Olga".to_owned(), AddressedBy::Name, want.to_owned())),
            "{text:?}"
        );
    }
}

#[test]
fn no_false_triggers() {
    for text in [
        "Volga is a river",
        "Olgaaa, hi",
        "Olga_fan says hi",
        "Olga2, hi",
        "Вольга, привет",
        "Ольгаа, привет",
        "Ольга_2 привет",
        "Оляля",
        "Olga's joke was bad",
        "Olga’s joke was bad",
        "Olga-style pasta",
        "olga.com is down",
        "olga@example.com wrote",
        "I told Olga about it",
        "hello world",
        "",
        "   ",
        "@",
        "Olga\u{301}, accent as a combining mark",
        "Olg, almost",
    ] {
        assert_eq!(ask(text, &olga()), None, "{text:?}");
    }
}

#[test]
fn mentions_anywhere_keep_the_whole_text() {
    for text in [
        "what do you think, @Olga?",
        "hey @olga tell me a joke",
        "(@olga) any ideas",
        "ask @OLGA, she knows",
        "ask @Olga.",
        "I asked @Olga's opinion",
        "спроси @Ольгу? нет: спроси @ольга",
        "two lines\n@Olga",
        "end with @olga",
    ] {
        let got = ask(text, &olga());
        assert_eq!(
            got,
            Some((
                "Olga".to_owned(),
                AddressedBy::Mention,
                text.trim().to_owned()
            )),
            "{text:?}"
        );
    }
}

#[test]
fn mentions_that_are_not() {
    for text in [
        "mail bob@olga.com now",
        "mail bob@Olga now",
        "see @olga.com",
        "see https://x.org/@olga",
        "a.@olga",
        "x-@olga",
        "@@olga hi",
        "@olgaaa hi",
        "@Olga_fan hi",
        "@Вольга hi",
        "@ Olga hi",
        "@Ольгу hi",
    ] {
        assert_eq!(ask(text, &olga()), None, "{text:?}");
    }
}

#[test]
fn leading_mention_is_stripped_like_a_name() {
    assert_eq!(
        ask("@Olga, tell me a joke", &olga()),
        Some((
            "Olga".to_owned(),
            AddressedBy::Name,
            "tell me a joke".to_owned()
        ))
    );
    assert_eq!(
        ask("  @ольга расскажи", &olga()),
        Some(("Olga".to_owned(), AddressedBy::Name, "расскажи".to_owned()))
    );
}

fn crew() -> Vec<BotNames> {
    vec![
        BotNames::new("Olga", ["Ольга"]),
        BotNames::new("Boris", ["Борис", "Боря"]),
        BotNames::new("Olga Petrovna", Vec::<String>::new()),
    ]
}

#[test]
fn several_bots() {
    let bots = crew();
    let name = |text: &str| ask(text, &bots).map(|(name, by, _)| (name, by));
    assert_eq!(name("Boris, hi"), Some(("Boris".into(), AddressedBy::Name)));
    assert_eq!(
        name("Боря, привет"),
        Some(("Boris".into(), AddressedBy::Name))
    );
    assert_eq!(
        name("Ольга, привет"),
        Some(("Olga".into(), AddressedBy::Name))
    );
    // The leading address wins over a mention.
    assert_eq!(
        name("Olga, ask @Boris"),
        Some(("Olga".into(), AddressedBy::Name))
    );
    // The earliest mention wins.
    assert_eq!(
        name("what do @Boris and @Olga think"),
        Some(("Boris".into(), AddressedBy::Mention))
    );
    assert_eq!(
        name("what do @olga and @boris think"),
        Some(("Olga".into(), AddressedBy::Mention))
    );
    // The longest name wins where several match.
    assert_eq!(
        ask("Olga Petrovna, hello", &bots),
        Some(("Olga Petrovna".into(), AddressedBy::Name, "hello".into()))
    );
    assert_eq!(
        ask("Olga Ivanovna, hello", &bots),
        Some(("Olga".into(), AddressedBy::Name, "Ivanovna, hello".into()))
    );
    // A longer name that is not a whole word gives way to a shorter one.
    assert_eq!(
        ask("Olga Petrovnaaa, hello", &bots),
        Some(("Olga".into(), AddressedBy::Name, "Petrovnaaa, hello".into()))
    );
    assert_eq!(name("Volga and Borisov"), None);
    assert_eq!(name("nobody here"), None);
}

#[test]
fn ties_go_to_the_first_bot() {
    let bots = [
        BotNames::new("Max", Vec::<String>::new()),
        BotNames::new("Maxine", ["max"]),
    ];
    assert_eq!(
        addressed_to("max, hi", &bots).map(|a| a.bot.name()),
        Some("Max")
    );
}

#[test]
fn names_are_normalised_on_construction() {
    let bot = BotNames::new(" Olga ", ["@Ольга", "", "  ", "OLGA"]);
    assert_eq!(bot.name(), " Olga ");
    assert_eq!(bot.aliases().len(), 4);
    let bots = [bot];
    assert!(addressed_to("olga, hi", &bots).is_some());
    assert!(addressed_to("ольга, hi", &bots).is_some());
    assert!(addressed_to(", hi", &bots).is_none());
    assert!(addressed_to("hi", &bots).is_none());
}

#[test]
fn no_bots_no_address() {
    assert_eq!(addressed_to("Olga, hi", &[]), None);
}

#[test]
fn unicode_case_folding_is_char_wise() {
    // 'İ' lower-cases to two chars ("i̇"); the match must not stop inside it.
    let bots = [BotNames::new("İlkay", Vec::<String>::new())];
    assert!(addressed_to("İLKAY, merhaba", &bots).is_some());
    assert!(addressed_to("i\u{307}lkay, merhaba", &bots).is_some());
    let bots = [BotNames::new("i", Vec::<String>::new())];
    assert!(addressed_to("İx", &bots).is_none());
    assert!(addressed_to("İ, hi", &bots).is_none());
    // Greek capitals, including a final sigma.
    let bots = [BotNames::new("Σοφίας", Vec::<String>::new())];
    assert!(addressed_to("ΣΟΦΊΑΣ, γεια", &bots).is_some());
}

#[test]
fn names_with_non_ascii_neighbours() {
    let bots = olga();
    assert!(addressed_to("Ольга。こんにちは", &bots).is_some());
    assert!(addressed_to("Ольга🙂 привет", &bots).is_some());
    assert!(addressed_to("Ольгаж", &bots).is_none());
    assert!(addressed_to("«@Ольга» привет", &bots).is_some());
}

#[test]
fn the_name_search_folds_ascii_and_other_text_alike() {
    // ASCII text is folded byte by byte; each case is also run with a
    // non-ASCII character appended, which folds it char by char.
    let bots = vec![
        BotNames::new("Olga", ["Ольга"]),
        BotNames::new("Борис", Vec::<String>::new()),
    ];
    for (text, names) in [
        ("OLGA, hi", true),
        ("the Volga flows", true),
        ("@olga", true),
        ("nobody here", false),
        ("boris, hi", false),
        ("", false),
    ] {
        assert_eq!(names_any(text, &bots), names, "{text:?}");
        let wide = format!("{text} é");
        assert_eq!(names_any(&wide, &bots), names, "{wide:?}");
    }
    assert!(names_any("Ольга, привет", &bots));
    assert!(names_any("БОРИС!", &bots));
}

#[test]
fn fast_folding_agrees_with_char_wise_folding() {
    let text: String = (0u32..0x0600).filter_map(char::from_u32).collect();
    assert_eq!(
        fold_text(&text),
        fold(&text).into_iter().collect::<String>()
    );
    assert_eq!(fold_text("ΟΔΟΣ Ольга OLGA"), "οδοσ ольга olga");
}
