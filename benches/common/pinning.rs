//! Keeping a server and the load generator on different cores.

use neuralchat_testkit::process;

/// Where the measured phase of a busy run ran: the server on every core
/// but the last, this process (the sender and the readers) on the last.
/// Nothing is pinned on a single core.
pub struct Pinning {
    /// The server's cores, this process's core; `None` when not pinned.
    cores: Option<(String, String)>,
    /// Every core, to give this process back.
    all: String,
}

impl Pinning {
    pub fn apply(server_pid: u32) -> Pinning {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let all = format!("0-{}", cores - 1);
        if cores < 2 {
            return Pinning { cores: None, all };
        }
        let server = if cores == 2 {
            "0".to_string()
        } else {
            format!("0-{}", cores - 2)
        };
        let load = (cores - 1).to_string();
        let pinned = process::pin(server_pid, &server) && process::pin(std::process::id(), &load);
        Pinning {
            cores: pinned.then_some((server, load)),
            all,
        }
    }

    /// Gives this process every core again (a child started later, like the
    /// bare server, would otherwise inherit one core).
    pub fn undo(&self) {
        process::pin(std::process::id(), &self.all);
    }

    pub fn description(&self) -> String {
        match &self.cores {
            Some((server, load)) => {
                format!("server on core {server}, sender and readers on core {load}")
            }
            None => "not pinned".into(),
        }
    }
}
