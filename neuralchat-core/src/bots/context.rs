//! What a bot sends the model: its system prompt, then the room's recent
//! messages (since the last `/clear`) with authors named, within a size
//! budget that drops the oldest first.

use super::backend::{ChatTurn, Role};
use crate::event::{Event, EventId};

/// The conversation for one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// System prompt first, then the messages, oldest first.
    pub turns: Vec<ChatTurn>,
    /// The ids of the events sent (for the audit record).
    pub event_ids: Vec<EventId>,
}

/// Builds the model's input from the room's recent events (oldest first).
/// The bot's own replies are `assistant` turns (its failure notes left out,
/// and cut from a reply that failed half-way); everyone else's messages are
/// `user` turns prefixed with the author's name.
pub fn build(system_prompt: &str, bot: &str, events: &[Event], max_chars: usize) -> Context {
    let mut kept: Vec<(&Event, String, Role)> = Vec::new();
    let mut used = 0usize;
    for event in events
        .iter()
        .rev()
        .filter(|e| e.kind.is_speech() && !e.failed && !e.text.trim().is_empty())
    {
        let (role, content) = if event.author == bot {
            // The bot's own failure notes are for people, not the model.
            let failure = format!("{bot}{}", super::reply::FAILURE_PREFIX);
            if event.text.starts_with(&failure) {
                continue;
            }
            let said = match event.text.rfind(&format!("\n[{failure}")) {
                Some(at) => event.text[..at].to_owned(),
                None => event.text.clone(),
            };
            (Role::Assistant, said)
        } else if event.kind == crate::event::EventKind::Action {
            (Role::User, format!("* {} {}", event.author, event.text))
        } else {
            (Role::User, format!("{}: {}", event.author, event.text))
        };
        let size = content.chars().count();
        // Always keep the newest message (the question), trimmed if it must be.
        if used + size > max_chars && !kept.is_empty() {
            break;
        }
        used += size;
        kept.push((event, content, role));
    }
    kept.reverse();
    let mut turns = vec![ChatTurn::system(system_prompt)];
    let mut event_ids = Vec::with_capacity(kept.len());
    for (event, content, role) in kept {
        event_ids.push(event.id);
        turns.push(ChatTurn::new(role, content));
    }
    Context { turns, event_ids }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventIdGen, EventKind};

    fn ev(ids: &EventIdGen, kind: EventKind, author: &str, text: &str) -> Event {
        Event::sample(ids.next(), kind, author, text)
    }

    #[test]
    fn names_authors_and_keeps_the_bot_as_assistant() {
        let ids = EventIdGen::new();
        let events = vec![
            ev(&ids, EventKind::Join, "alice", ""),
            ev(&ids, EventKind::Message, "alice", "Olga, hi"),
            ev(&ids, EventKind::Message, "Olga", "Hello!"),
            ev(&ids, EventKind::Action, "bob", "waves"),
            ev(&ids, EventKind::Message, "bob", "Olga, a joke?"),
        ];
        let context = build("Be brief.", "Olga", &events, 1000);
        let contents: Vec<(Role, &str)> = context
            .turns
            .iter()
            .map(|t| (t.role, t.content.as_str()))
            .collect();
        assert_eq!(
            contents,
            [
                (Role::System, "Be brief."),
                (Role::User, "alice: Olga, hi"),
                (Role::Assistant, "Hello!"),
                (Role::User, "* bob waves"),
                (Role::User, "bob: Olga, a joke?"),
            ]
        );
        assert_eq!(
            context.event_ids,
            events[1..].iter().map(|e| e.id).collect::<Vec<_>>()
        );
    }

    #[test]
    fn drops_the_oldest_beyond_the_budget_but_keeps_the_question() {
        let ids = EventIdGen::new();
        let events = vec![
            ev(&ids, EventKind::Message, "a", &"x".repeat(50)),
            ev(&ids, EventKind::Message, "b", &"y".repeat(50)),
            ev(&ids, EventKind::Message, "c", "question"),
        ];
        let context = build("s", "Olga", &events, 70);
        assert_eq!(context.turns.len(), 3, "system + b + c");
        assert!(context.turns[1].content.starts_with("b: "));
        let tiny = build("s", "Olga", &events, 1);
        assert_eq!(tiny.turns.len(), 2, "the question is always sent");
    }

    #[test]
    fn failure_notes_stay_out_of_the_context() {
        let ids = EventIdGen::new();
        let events = vec![
            ev(&ids, EventKind::Message, "alice", "Olga, a joke?"),
            ev(
                &ids,
                EventKind::Message,
                "Olga",
                "Olga is unavailable: cannot connect (no model server answers at http://127.0.0.1:8081/ ...)",
            ),
            ev(&ids, EventKind::Message, "Olga", "Half an answer\n[Olga is unavailable: timed out]"),
            ev(&ids, EventKind::Message, "alice", "Olga, again?"),
        ];
        let context = build("sys", "Olga", &events, 10_000);
        let contents: Vec<&str> = context.turns.iter().map(|t| t.content.as_str()).collect();
        assert_eq!(
            contents,
            [
                "sys",
                "alice: Olga, a joke?",
                "Half an answer",
                "alice: Olga, again?"
            ]
        );
        assert_eq!(context.event_ids.len(), 3);
    }

    #[test]
    fn failed_replies_stay_out_of_the_context() {
        let ids = EventIdGen::new();
        let mut failed = ev(
            &ids,
            EventKind::Message,
            "Olga",
            "Half\n[Olga is unavailable: timed out]",
        );
        failed.failed = true;
        let events = vec![
            ev(&ids, EventKind::Message, "alice", "Olga, a joke?"),
            failed,
            ev(&ids, EventKind::Message, "alice", "Olga, again?"),
        ];
        let context = build("sys", "Olga", &events, 10_000);
        assert_eq!(context.turns.len(), 3);
        assert_eq!(context.event_ids.len(), 2);
    }
}
