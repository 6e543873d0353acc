//! Turning `/name args` into a [`Command`], with usage errors and a "did you
//! mean" for near misses.

use super::registry::{find, COMMANDS};
use crate::error::{ChatError, ChatResult, ErrorCode};

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/help [command]`
    Help(Option<String>),
    /// `/clear`
    Clear,
    /// `/clear history`
    ClearHistory,
    /// `/join ROOM`
    Join(String),
    /// `/leave`
    Leave,
    /// `/rooms [AFTER]`: a page of rooms, after the name given.
    Rooms(Option<String>),
    /// `/who`
    Who,
    /// `/topic [TEXT]`
    Topic(Option<String>),
    /// `/me ACTION`
    Me(String),
    /// `/msg USER TEXT`
    Msg {
        /// The recipient.
        user: String,
        /// The message.
        text: String,
    },
    /// `/history [N]`
    History(Option<u32>),
    /// `/mentions`
    Mentions,
    /// `/kick USER`
    Kick(String),
    /// `/ban USER`
    Ban(String),
    /// `/unban USER`
    Unban(String),
    /// `/op USER`
    Op(String),
    /// `/deop USER`
    Deop(String),
    /// `/invite USER`
    Invite(String),
    /// `/private on|off`
    Private(bool),
    /// `/bots`
    Bots,
    /// `/stop`
    Stop,
}

impl Command {
    /// The command's registry name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Help(_) => "help",
            Self::Clear | Self::ClearHistory => "clear",
            Self::Join(_) => "join",
            Self::Leave => "leave",
            Self::Rooms(_) => "rooms",
            Self::Who => "who",
            Self::Topic(_) => "topic",
            Self::Me(_) => "me",
            Self::Msg { .. } => "msg",
            Self::History(_) => "history",
            Self::Mentions => "mentions",
            Self::Kick(_) => "kick",
            Self::Ban(_) => "ban",
            Self::Unban(_) => "unban",
            Self::Op(_) => "op",
            Self::Deop(_) => "deop",
            Self::Invite(_) => "invite",
            Self::Private(_) => "private",
            Self::Bots => "bots",
            Self::Stop => "stop",
        }
    }
}

/// Edit distance between two short strings (for "did you mean").
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn unknown(name: &str) -> ChatError {
    let closest = COMMANDS
        .iter()
        .map(|c| (distance(name, c.name), c.name))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, _)| *d <= 2);
    let hint = match closest {
        Some((_, near)) => format!("; did you mean /{near}?"),
        None => String::new(),
    };
    ChatError::new(
        ErrorCode::UnknownCommand,
        format!("unknown command /{name}{hint} (try /help)"),
    )
}

fn usage(name: &str) -> ChatError {
    let line = find(name).map_or("", |c| c.usage);
    ChatError::new(ErrorCode::BadArguments, format!("usage: {line}"))
}

/// Parses a command line (the text after the leading `/`'s removal is done here).
pub fn parse(text: &str) -> ChatResult<Command> {
    let body = text.trim().strip_prefix('/').unwrap_or(text.trim());
    let (name, rest) = match body.split_once(char::is_whitespace) {
        Some((name, rest)) => (name.to_lowercase(), rest.trim()),
        None => (body.to_lowercase(), ""),
    };
    let args: Vec<&str> = rest.split_whitespace().collect();
    let one_word = |build: fn(String) -> Command| match args.as_slice() {
        [word] => Ok(build(word.trim_start_matches('@').to_owned())),
        _ => Err(usage(&name)),
    };
    let none = |command: Command| {
        if args.is_empty() {
            Ok(command)
        } else {
            Err(usage(&name))
        }
    };
    match name.as_str() {
        "help" => match args.as_slice() {
            [] => Ok(Command::Help(None)),
            [topic] => Ok(Command::Help(Some(
                topic.trim_start_matches('/').to_owned(),
            ))),
            _ => Err(usage(&name)),
        },
        "clear" => match args.as_slice() {
            [] => Ok(Command::Clear),
            ["history"] => Ok(Command::ClearHistory),
            _ => Err(usage(&name)),
        },
        "join" => match args.as_slice() {
            [room] => Ok(Command::Join((*room).to_owned())),
            _ => Err(usage(&name)),
        },
        "leave" => none(Command::Leave),
        "rooms" => match args.as_slice() {
            [] => Ok(Command::Rooms(None)),
            [after] => Ok(Command::Rooms(Some((*after).to_owned()))),
            _ => Err(usage(&name)),
        },
        "who" => none(Command::Who),
        "topic" => Ok(Command::Topic((!rest.is_empty()).then(|| rest.to_owned()))),
        "me" if !rest.is_empty() => Ok(Command::Me(rest.to_owned())),
        "msg" => match rest.split_once(char::is_whitespace) {
            Some((user, text)) if !text.trim().is_empty() => Ok(Command::Msg {
                user: user.trim_start_matches('@').to_owned(),
                text: text.trim().to_owned(),
            }),
            _ => Err(usage(&name)),
        },
        "history" => match args.as_slice() {
            [] => Ok(Command::History(None)),
            [n] => n
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .map(|n| Command::History(Some(n)))
                .ok_or_else(|| usage(&name)),
            _ => Err(usage(&name)),
        },
        "mentions" => none(Command::Mentions),
        "bots" => none(Command::Bots),
        "stop" => none(Command::Stop),
        "kick" => one_word(Command::Kick),
        "ban" => one_word(Command::Ban),
        "unban" => one_word(Command::Unban),
        "op" => one_word(Command::Op),
        "deop" => one_word(Command::Deop),
        "invite" => one_word(Command::Invite),
        "private" => match args.as_slice() {
            ["on"] => Ok(Command::Private(true)),
            ["off"] => Ok(Command::Private(false)),
            _ => Err(usage(&name)),
        },
        _ if find(&name).is_some() => Err(usage(&name)),
        _ => Err(unknown(&name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        assert_eq!(parse("/help").unwrap(), Command::Help(None));
        assert_eq!(
            parse("/help /kick").unwrap(),
            Command::Help(Some("kick".into()))
        );
        assert_eq!(parse("/clear").unwrap(), Command::Clear);
        assert_eq!(parse("/clear history").unwrap(), Command::ClearHistory);
        assert_eq!(parse("/JOIN #dev").unwrap(), Command::Join("#dev".into()));
        assert_eq!(parse("/leave").unwrap(), Command::Leave);
        assert_eq!(parse("/rooms").unwrap(), Command::Rooms(None));
        assert_eq!(
            parse("/rooms lobby").unwrap(),
            Command::Rooms(Some("lobby".into()))
        );
        assert_eq!(parse("/who").unwrap(), Command::Who);
        assert_eq!(parse("/topic").unwrap(), Command::Topic(None));
        assert_eq!(
            parse("/topic  Rust  talk ").unwrap(),
            Command::Topic(Some("Rust  talk".into()))
        );
        assert_eq!(parse("/me waves").unwrap(), Command::Me("waves".into()));
        assert_eq!(
            parse("/msg @bob hi there").unwrap(),
            Command::Msg {
                user: "bob".into(),
                text: "hi there".into()
            }
        );
        assert_eq!(parse("/history").unwrap(), Command::History(None));
        assert_eq!(parse("/history 5").unwrap(), Command::History(Some(5)));
        assert_eq!(parse("/mentions").unwrap(), Command::Mentions);
        assert_eq!(parse("/kick bob").unwrap(), Command::Kick("bob".into()));
        assert_eq!(parse("/ban @bob").unwrap(), Command::Ban("bob".into()));
        assert_eq!(parse("/unban bob").unwrap(), Command::Unban("bob".into()));
        assert_eq!(parse("/op bob").unwrap(), Command::Op("bob".into()));
        assert_eq!(parse("/deop bob").unwrap(), Command::Deop("bob".into()));
        assert_eq!(
            parse("/invite Ольга").unwrap(),
            Command::Invite("Ольга".into())
        );
        assert_eq!(parse("/private on").unwrap(), Command::Private(true));
        assert_eq!(parse("/private off").unwrap(), Command::Private(false));
        assert_eq!(parse("/bots").unwrap(), Command::Bots);
        assert_eq!(parse("/stop").unwrap(), Command::Stop);
    }

    #[test]
    fn every_registered_command_parses_from_its_usage_shape() {
        for spec in COMMANDS {
            let err = parse(&format!("/{} a b c d", spec.name));
            if let Err(e) = err {
                assert_eq!(e.code, ErrorCode::BadArguments, "/{}", spec.name);
                assert!(e.message.contains(spec.usage), "{}", e.message);
            }
        }
    }

    #[test]
    fn bad_arguments_show_usage() {
        for (text, usage) in [
            ("/kick", "/kick USER"),
            ("/kick a b", "/kick USER"),
            ("/private maybe", "/private on|off"),
            ("/history x", "/history [N]"),
            ("/history 0", "/history [N]"),
            ("/msg bob", "/msg USER TEXT"),
            ("/me", "/me ACTION"),
            ("/join", "/join ROOM"),
            ("/who now", "/who"),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadArguments, "{text}");
            assert!(err.message.contains(usage), "{text}: {}", err.message);
        }
    }

    #[test]
    fn unknown_commands_suggest_a_near_one() {
        let err = parse("/hepl").unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownCommand);
        assert!(
            err.message.contains("did you mean /help?"),
            "{}",
            err.message
        );
        assert!(parse("/kik bob").unwrap_err().message.contains("/kick"));
        let far = parse("/xyzzyplugh").unwrap_err();
        assert!(!far.message.contains("did you mean"), "{}", far.message);
    }
}
