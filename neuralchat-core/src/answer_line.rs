//! A session's answers to its messages, sent in the order the messages
//! came. One task per session takes the answers one at a time, each
//! finishing before the next starts, so an answer waits for the answers
//! before it without a task of its own.
//!
//! The reason is the write. A room answers a batch of messages at once,
//! from its own thread. With one task per answer, each task was woken from
//! the room's thread, and the connection's writer ran between any two of
//! them (it is woken on its own thread, which runs first), so every ack
//! went out in a write of its own. Here only the answer at the front is
//! waited on: one wake-up starts the line, and every answer whose outcome
//! has come goes out in that one turn, before the writer runs once.
//!
//! The line also counts: a place is taken when a frame is read (its
//! answer may be pushed later, once its outcome can be awaited), and the
//! line counts the answers that went out, so the session knows how many
//! wait and can wait for the ones before a frame.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use tokio::sync::{mpsc, Notify};

/// One answer: it waits for whatever it needs, then sends itself.
type Answer = Pin<Box<dyn Future<Output = ()>>>;

/// The line of a session's answers; its task starts with the first one.
#[derive(Default)]
pub(crate) struct AnswerLine {
    /// Where answers join the line; `None` until the first one, so a
    /// session that never sends a message has no task for it.
    line: Option<mpsc::UnboundedSender<Answer>>,
    /// Places taken in the line, ever.
    taken: u64,
    /// What the line's task has done, shared with it.
    progress: Rc<Progress>,
}

/// How far the line has got.
#[derive(Default)]
struct Progress {
    /// Answers that went out, ever.
    sent: Cell<u64>,
    /// Woken each time an answer went out.
    moved: Notify,
}

impl AnswerLine {
    /// Takes the next place in the line; its answer must be pushed (with
    /// [`AnswerLine::push`]) before the next place's.
    pub(crate) fn take_place(&mut self) {
        self.taken += 1;
    }

    /// How many places are taken whose answers have not gone out.
    pub(crate) fn waiting(&self) -> u64 {
        self.taken - self.progress.sent.get()
    }

    /// Resolves once at most `most` of the places taken so far are still
    /// waiting for their answers to go out (`0`: all of them went).
    pub(crate) fn until_waiting_at_most(&self, most: u64) -> impl Future<Output = ()> + 'static {
        let progress = Rc::clone(&self.progress);
        let target = self.taken.saturating_sub(most);
        async move {
            loop {
                // Made before the check, so an answer going out between
                // the two still wakes it.
                let moved = progress.moved.notified();
                if progress.sent.get() >= target {
                    return;
                }
                moved.await;
            }
        }
    }

    /// Puts the answer of the oldest place not pushed yet at the back of
    /// the line: it starts once every answer before it has finished. Must
    /// be called on the session's thread (the line's task is spawned
    /// there).
    pub(crate) fn push(&mut self, answer: impl Future<Output = ()> + 'static) {
        let line = self.line.get_or_insert_with(|| {
            let (line, mut answers) = mpsc::unbounded_channel::<Answer>();
            let progress = Rc::clone(&self.progress);
            // Ends when the session is gone and its last answer has gone.
            actix::spawn(async move {
                while let Some(answer) = answers.recv().await {
                    answer.await;
                    progress.sent.set(progress.sent.get() + 1);
                    progress.moved.notify_waiters();
                }
            });
            line
        });
        // The task lives as long as this sender, so the send cannot fail.
        let _ = line.send(Box::pin(answer));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use tokio::sync::oneshot;

    #[actix::test]
    async fn answers_go_in_the_order_pushed_whatever_order_their_outcomes_come_in() {
        let mut line = AnswerLine::default();
        let sent = Rc::new(RefCell::new(Vec::new()));
        let (first_outcome, first_waits) = oneshot::channel::<()>();
        let (second_outcome, second_waits) = oneshot::channel::<()>();
        let (all_sent, all_done) = oneshot::channel::<()>();
        for (name, waits) in [("first", first_waits), ("second", second_waits)] {
            let sent = Rc::clone(&sent);
            line.take_place();
            line.push(async move {
                let _ = waits.await;
                sent.borrow_mut().push(name);
            });
        }
        line.take_place();
        line.push(async move {
            let _ = all_sent.send(());
        });
        // The second outcome comes first; its answer still waits.
        second_outcome.send(()).unwrap();
        tokio::task::yield_now().await;
        assert!(sent.borrow().is_empty());
        first_outcome.send(()).unwrap();
        all_done.await.unwrap();
        assert_eq!(*sent.borrow(), ["first", "second"]);
    }

    #[actix::test]
    async fn answers_whose_outcomes_have_come_all_go_in_one_turn() {
        let mut line = AnswerLine::default();
        let sent = Rc::new(RefCell::new(Vec::new()));
        // The first answer wakes another task, as sending an ack wakes the
        // connection's writer: by the time that task runs, every answer
        // ready has gone.
        let (wake_writer, writer_woken) = oneshot::channel::<()>();
        let mut wake_writer = Some(wake_writer);
        let mut outcomes = Vec::new();
        for n in 0..3 {
            let (outcome, waits) = oneshot::channel::<()>();
            outcomes.push(outcome);
            let sent = Rc::clone(&sent);
            let wake = wake_writer.take();
            line.take_place();
            line.push(async move {
                let _ = waits.await;
                sent.borrow_mut().push(n);
                if let Some(wake) = wake {
                    let _ = wake.send(());
                }
            });
        }
        let seen = Rc::clone(&sent);
        let writer = actix::spawn(async move {
            writer_woken.await.unwrap();
            seen.borrow().len()
        });
        // The line now waits on the first outcome.
        tokio::task::yield_now().await;
        for outcome in outcomes {
            outcome.send(()).unwrap();
        }
        assert_eq!(writer.await.unwrap(), 3);
        assert_eq!(*sent.borrow(), [0, 1, 2]);
    }

    #[actix::test]
    async fn the_line_counts_what_waits_and_wakes_whoever_waits_for_fewer() {
        let mut line = AnswerLine::default();
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            let (outcome, waits) = oneshot::channel::<()>();
            outcomes.push(outcome);
            line.take_place();
            line.push(async move {
                let _ = waits.await;
            });
        }
        // A place taken whose answer is not pushed yet counts too.
        line.take_place();
        assert_eq!(line.waiting(), 4);
        let at_most_two = actix::spawn(line.until_waiting_at_most(2));
        let none_left = actix::spawn(line.until_waiting_at_most(0));
        let mut outcomes = outcomes.into_iter();
        outcomes.next().unwrap().send(()).unwrap();
        tokio::task::yield_now().await;
        assert_eq!(line.waiting(), 3);
        assert!(!at_most_two.is_finished());
        outcomes.next().unwrap().send(()).unwrap();
        at_most_two.await.unwrap();
        assert_eq!(line.waiting(), 2);
        outcomes.next().unwrap().send(()).unwrap();
        line.push(async {});
        none_left.await.unwrap();
        assert_eq!(line.waiting(), 0);
        // Nothing waiting: resolves at once.
        line.until_waiting_at_most(0).await;
    }
}
