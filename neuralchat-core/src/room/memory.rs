//! A room's memory of its latest messages since the bots' context start:
//! what a bot reads as context for a question asked here, handed to it
//! with the question instead of read back from the database.

use crate::event::{Event, EventId, EventKind};
use std::collections::VecDeque;

/// The room's latest messages (speech only), oldest first.
#[derive(Debug)]
pub(crate) struct Memory {
    /// The messages, in id order.
    events: VecDeque<Event>,
    /// How many are kept: the most any bot reads (0 with no bots).
    capacity: usize,
    /// The bots' context starts after this event (`/clear`).
    from: Option<EventId>,
}

impl Memory {
    /// A memory of `capacity` messages holding `loaded` (the room's latest
    /// stored messages after `from`, oldest first).
    pub fn new(capacity: usize, from: Option<EventId>, loaded: Vec<Event>) -> Self {
        let mut memory = Self {
            events: VecDeque::new(),
            capacity,
            from,
        };
        for event in &loaded {
            memory.note(event);
        }
        memory
    }

    /// Follows a stored event: a message is remembered (in id order: one
    /// relayed from another node can be older than the last); `/clear` of
    /// the context forgets every message before it, a cleared history what
    /// it removed.
    pub fn note(&mut self, event: &Event) {
        match event.kind {
            EventKind::ContextCleared => {
                // One relayed late does not forget what came after it.
                self.from = self.from.max(Some(event.id));
                self.events.retain(|e| e.id > event.id);
            }
            EventKind::HistoryCleared => self.events.retain(|e| e.id >= event.id),
            _ if !event.kind.is_speech() || self.capacity == 0 => {}
            _ if self.from.is_some_and(|from| event.id <= from) => {}
            _ => {
                let at = self.events.partition_point(|e| e.id < event.id);
                if self.events.get(at).is_some_and(|e| e.id == event.id) {
                    return;
                }
                self.events.insert(at, event.clone());
                if self.events.len() > self.capacity {
                    self.events.pop_front();
                }
            }
        }
    }

    /// A bot's context for `question`: the remembered messages before it,
    /// then those of `waiting` (messages accepted but not yet stored, in
    /// order) before it, then the question.
    pub fn context_for<'a>(
        &self,
        question: &Event,
        waiting: impl IntoIterator<Item = &'a Event>,
    ) -> Vec<Event> {
        let before = self.events.partition_point(|e| e.id < question.id);
        let mut context: Vec<Event> = self.events.range(..before).cloned().collect();
        context.extend(
            waiting
                .into_iter()
                .filter(|e| e.id < question.id && e.kind.is_speech())
                .cloned(),
        );
        context.push(question.clone());
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventIdGen;

    fn event(ids: &EventIdGen, kind: EventKind, text: &str) -> Event {
        Event::sample(ids.next(), kind, "alice", text)
    }

    fn texts(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.text.as_str()).collect()
    }

    #[test]
    fn keeps_the_latest_messages_in_id_order() {
        let ids = EventIdGen::new();
        let [a, b, c, d] = ["a", "b", "c", "d"].map(|t| event(&ids, EventKind::Message, t));
        let join = event(&ids, EventKind::Join, "");
        let question = event(&ids, EventKind::Message, "q");
        let mut memory = Memory::new(3, None, vec![a]);
        memory.note(&c);
        memory.note(&join);
        // Relayed late: older than the last one remembered.
        memory.note(&b);
        memory.note(&b);
        assert_eq!(
            texts(&memory.context_for(&question, [])),
            ["a", "b", "c", "q"]
        );
        memory.note(&d);
        assert_eq!(
            texts(&memory.context_for(&question, [])),
            ["b", "c", "d", "q"]
        );
        // Only what came before the question.
        assert_eq!(texts(&memory.context_for(&c, [])), ["b", "c"]);
    }

    #[test]
    fn clearing_forgets() {
        let ids = EventIdGen::new();
        let a = event(&ids, EventKind::Message, "a");
        let b = event(&ids, EventKind::Message, "b");
        let history = event(&ids, EventKind::HistoryCleared, "");
        let c = event(&ids, EventKind::Message, "c");
        let context = event(&ids, EventKind::ContextCleared, "");
        let d = event(&ids, EventKind::Message, "d");
        let question = event(&ids, EventKind::Message, "q");
        let mut memory = Memory::new(10, None, vec![a.clone(), b]);
        memory.note(&history);
        memory.note(&c);
        assert_eq!(texts(&memory.context_for(&question, [])), ["c", "q"]);
        memory.note(&context);
        // A message from before the context start, relayed late.
        memory.note(&a);
        memory.note(&d);
        assert_eq!(texts(&memory.context_for(&question, [])), ["d", "q"]);
    }

    #[test]
    fn a_clear_relayed_late_keeps_what_came_after_it() {
        let ids = EventIdGen::new();
        let a = event(&ids, EventKind::Message, "a");
        let clear = event(&ids, EventKind::ContextCleared, "");
        let b = event(&ids, EventKind::Message, "b");
        let question = event(&ids, EventKind::Message, "q");
        let mut memory = Memory::new(10, None, vec![a, b]);
        memory.note(&clear);
        assert_eq!(texts(&memory.context_for(&question, [])), ["b", "q"]);
    }

    #[test]
    fn messages_waiting_to_be_stored_come_before_the_question() {
        let ids = EventIdGen::new();
        let a = event(&ids, EventKind::Message, "a");
        let waiting = event(&ids, EventKind::Message, "the log");
        let question = event(&ids, EventKind::Message, "q");
        let later = event(&ids, EventKind::Message, "later");
        let memory = Memory::new(10, None, vec![a]);
        let context = memory.context_for(&question, [&waiting, &later]);
        assert_eq!(texts(&context), ["a", "the log", "q"]);
    }

    #[test]
    fn no_bots_no_memory() {
        let ids = EventIdGen::new();
        let a = event(&ids, EventKind::Message, "a");
        let question = event(&ids, EventKind::Message, "q");
        let mut memory = Memory::new(0, None, Vec::new());
        memory.note(&a);
        assert_eq!(texts(&memory.context_for(&question, [])), ["q"]);
    }
}
