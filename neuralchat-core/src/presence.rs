//! Who is online on other nodes: each node of a mesh tells the others, now
//! and then, which users it has in which rooms; what a node was told
//! expires unless it is said again, so a dead node's users go offline.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rooms and the users online in each, as one node reports them.
pub type RoomsOnline = HashMap<String, Vec<String>>;

/// One node's report: until when it holds, and each room's online users.
#[derive(Debug)]
struct Report {
    /// It counts until then.
    until: Instant,
    /// Room -> users.
    rooms: HashMap<String, HashSet<String>>,
}

/// What other nodes said about their users.
#[derive(Debug, Default)]
pub struct RemotePresence {
    /// The latest report of each node.
    nodes: Mutex<HashMap<String, Report>>,
}

impl RemotePresence {
    fn nodes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Report>> {
        match self.nodes.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Takes node `node`'s report, valid for `ttl`.
    pub fn report(&self, node: &str, rooms: RoomsOnline, ttl: Duration) {
        let rooms = rooms
            .into_iter()
            .map(|(room, users)| (room, users.into_iter().collect()))
            .collect();
        let until = Instant::now() + ttl;
        self.nodes()
            .insert(node.to_owned(), Report { until, rooms });
    }

    /// Forgets node `node` (it said it is gone).
    pub fn forget(&self, node: &str) {
        self.nodes().remove(node);
    }

    /// Whether `user` is online in `room` on some other node now.
    pub fn is_online(&self, room: &str, user: &str) -> bool {
        let now = Instant::now();
        let mut nodes = self.nodes();
        nodes.retain(|_, report| report.until > now);
        nodes.values().any(|report| {
            report
                .rooms
                .get(room)
                .is_some_and(|users| users.contains(user))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_expire_and_can_be_withdrawn() {
        let presence = RemotePresence::default();
        let rooms: RoomsOnline = [("r".to_owned(), vec!["bob".to_owned()])].into();
        presence.report("b", rooms.clone(), Duration::from_secs(60));
        assert!(presence.is_online("r", "bob"));
        assert!(!presence.is_online("r", "carol"));
        assert!(!presence.is_online("s", "bob"));
        presence.forget("b");
        assert!(!presence.is_online("r", "bob"));
        presence.report("b", rooms, Duration::ZERO);
        assert!(
            !presence.is_online("r", "bob"),
            "an expired report counts for nothing"
        );
    }
}
