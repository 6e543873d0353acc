//! What `/proc` says about a process, for the end-to-end benchmarks.

/// CPU seconds (user + system) process `pid` has used so far, from
/// /proc/PID/stat (Linux; 100 clock ticks per second assumed).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): utime and
    // stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Resident memory of process `pid` in bytes (`VmRSS` in /proc/PID/status).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Pins every thread of process (or thread) `pid` to the CPUs in `cpus`
/// (a `taskset` list such as `"0"` or `"0-1"`); whether it worked. The
/// benchmarks use it to keep the server and the load generator on
/// different cores.
pub fn pin(pid: u32, cpus: &str) -> bool {
    std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_used_some_cpu() {
        let mut spent = 0u64;
        for i in 0..2_000_000u64 {
            spent = spent.wrapping_add(i * i);
        }
        assert!(spent > 0);
        let secs = super::cpu_secs(std::process::id());
        assert!(secs.is_some_and(|s| s >= 0.0), "{secs:?}");
    }

    #[test]
    fn reads_this_process_resident_memory() {
        let rss = super::rss_bytes(std::process::id());
        assert!(rss.is_some_and(|b| b > 1024 * 1024), "{rss:?}");
    }
}
