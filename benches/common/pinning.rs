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
        let (all, cpus) = allowed_cpus();
        if cpus.len() < 2 {
            return Pinning { cores: None, all };
        }
        let (load, server) = cpus.split_last().map_or((0, &[][..]), |(l, s)| (*l, s));
        let server: Vec<String> = server.iter().map(usize::to_string).collect();
        let (server, load) = (server.join(","), load.to_string());
        let pinned = process::pin(server_pid, &server);
        let pinned = pinned
            && (process::pin(std::process::id(), &load) || {
                // Half pinned is worse than not pinned: give the server back.
                process::pin(server_pid, &all);
                false
            });
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

/// The CPUs this process may run on (`Cpus_allowed_list` in
/// /proc/self/status, such as `0-3,8`): the list as written and each CPU.
fn allowed_cpus() -> (String, Vec<usize>) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim)
        .unwrap_or("0")
        .to_string();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let mut ends = part.splitn(2, '-').map(|n| n.trim().parse::<usize>());
        match (ends.next(), ends.next()) {
            (Some(Ok(first)), Some(Ok(last))) => cpus.extend(first..=last),
            (Some(Ok(only)), None) => cpus.push(only),
            _ => {}
        }
    }
    (list, cpus)
}
