//! The command registry: the single source for names, usage, help and the
//! role each command needs.

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Any logged-in user.
    Anyone,
    /// Anyone who may read the room: everyone but banned users in a
    /// public room, members in a private room or direct conversation.
    Reader,
    /// A member of the room the command runs in.
    Member,
    /// A moderator or owner of the room (or a server admin).
    Moderator,
    /// The room's owner (or a server admin).
    Owner,
}

impl Needs {
    /// How the requirement reads in `/help`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Anyone => "anyone",
            Self::Reader => "reader",
            Self::Member => "member",
            Self::Moderator => "moderator",
            Self::Owner => "owner",
        }
    }
}

/// One command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The name, without the slash.
    pub name: &'static str,
    /// The usage line.
    pub usage: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// Who may run it.
    pub needs: Needs,
}

/// Every command, in the order `/help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec { name: "help", usage: "/help [command]", help: "list commands, or explain one", needs: Needs::Anyone },
    CommandSpec { name: "clear", usage: "/clear [history]", help: "clear your view and start a fresh conversation with the room's bots; `/clear history` deletes the room's stored history (owner)", needs: Needs::Member },
    CommandSpec { name: "join", usage: "/join ROOM", help: "join a room (created if new)", needs: Needs::Anyone },
    CommandSpec { name: "leave", usage: "/leave", help: "leave this room", needs: Needs::Member },
    CommandSpec { name: "rooms", usage: "/rooms [AFTER]", help: "list the rooms you can see (a page; the next one follows AFTER)", needs: Needs::Anyone },
    CommandSpec { name: "who", usage: "/who", help: "list this room's members", needs: Needs::Reader },
    CommandSpec { name: "topic", usage: "/topic [TEXT]", help: "show the topic (reader), or set it (moderator)", needs: Needs::Reader },
    CommandSpec { name: "me", usage: "/me ACTION", help: "say what you do (\"* alice waves\")", needs: Needs::Member },
    CommandSpec { name: "msg", usage: "/msg USER TEXT", help: "send a direct message (the conversation is @USER)", needs: Needs::Anyone },
    CommandSpec { name: "history", usage: "/history [N]", help: "show the last N events (default 20, at most 200)", needs: Needs::Reader },
    CommandSpec { name: "mentions", usage: "/mentions", help: "list your unread mentions and mark them read", needs: Needs::Anyone },
    CommandSpec { name: "kick", usage: "/kick USER", help: "remove a user from the room", needs: Needs::Moderator },
    CommandSpec { name: "ban", usage: "/ban USER", help: "remove a user and keep them out", needs: Needs::Moderator },
    CommandSpec { name: "unban", usage: "/unban USER", help: "lift a ban", needs: Needs::Moderator },
    CommandSpec { name: "op", usage: "/op USER", help: "make a member a moderator", needs: Needs::Owner },
    CommandSpec { name: "deop", usage: "/deop USER", help: "make a moderator a plain member", needs: Needs::Owner },
    CommandSpec { name: "invite", usage: "/invite USER", help: "invite a user (needed to join a private room; moderator there)", needs: Needs::Member },
    CommandSpec { name: "private", usage: "/private on|off", help: "make the room invite-only, or public again", needs: Needs::Owner },
    CommandSpec { name: "bots", usage: "/bots", help: "list the AI bots, their names and models", needs: Needs::Anyone },
    CommandSpec { name: "stop", usage: "/stop", help: "stop the bots' reply in progress in this room", needs: Needs::Member },
];

/// The command with this name (case-insensitive).
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    let name = name.to_lowercase();
    COMMANDS.iter().find(|c| c.name == name)
}

/// `/help` text: every command, or one in detail.
pub fn help_text(command: Option<&str>) -> Option<String> {
    match command {
        Some(name) => {
            let spec = find(name.trim_start_matches('/'))?;
            Some(format!(
                "{} — {} (who: {})",
                spec.usage,
                spec.help,
                spec.needs.label()
            ))
        }
        None => {
            let width = COMMANDS
                .iter()
                .map(|c| c.usage.chars().count())
                .max()
                .unwrap_or(0);
            let lines: Vec<String> = COMMANDS
                .iter()
                .map(|c| format!("{:width$}  {}", c.usage, c.help))
                .collect();
            Some(format!(
                "Commands (start a message with // to send a literal /):\n{}",
                lines.join("\n")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/PROTOCOL.md's command table: the "who" column of each command
    /// starts with the label `/help` shows.
    #[test]
    fn the_protocol_document_says_who_may_run_each_command() {
        let doc = include_str!("../../../docs/PROTOCOL.md");
        for spec in COMMANDS {
            let needle = format!("`/{}", spec.name);
            // `\|` is a literal bar inside a cell.
            let rows: Vec<String> = doc.lines().map(|l| l.replace("\\|", "/")).collect();
            let row = rows.iter().filter(|l| l.starts_with("| `/")).find(|l| {
                let first = l.split('|').nth(1).unwrap_or("");
                first.split(',').any(|c| {
                    c.trim() == format!("{needle}`") || c.trim().starts_with(&format!("{needle} "))
                })
            });
            let Some(row) = row else {
                panic!("docs/PROTOCOL.md has no row for /{}", spec.name);
            };
            let who = row.split('|').nth(2).unwrap_or("").trim();
            assert!(
                who.starts_with(spec.needs.label()),
                "/{}: /help says {:?}, the document {who:?}",
                spec.name,
                spec.needs.label()
            );
        }
    }
}
