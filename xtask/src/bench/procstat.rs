//! What `/proc` says of the measured processes: CPU time and resident memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The numeric fields of `/proc/<pid>/stat` after the command name (which is in parentheses):
/// index 1 is the parent pid, 11 and 12 the user and system time, 13 and 14 those of reaped
/// children, in clock ticks. Empty when the process is gone.
fn stat_fields(pid: u32) -> Vec<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .map(|stat| parse_stat(&stat))
        .unwrap_or_default()
}

fn parse_stat(stat: &str) -> Vec<u64> {
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    stat.rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default()
}

fn field(fields: &[u64], i: usize) -> u64 {
    fields.get(i).copied().unwrap_or(0)
}

fn ticks_to_us(ticks: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code)]
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * 1_000_000 / per_second
}

/// CPU time (user + system) of processes, in microseconds.
pub(super) fn cpu_us(pids: &[u32]) -> u64 {
    ticks_to_us(
        pids.iter()
            .map(|pid| {
                let f = stat_fields(*pid);
                field(&f, 11) + field(&f, 12)
            })
            .sum(),
    )
}

/// CPU time of a PostgreSQL cluster: the postmaster, its live children, and the children that
/// already exited (a backend's time is added to the postmaster's `cutime`/`cstime` when it is
/// reaped), in microseconds.
pub(super) fn postgres_cpu_us(postmaster: u32) -> u64 {
    let f = stat_fields(postmaster);
    cpu_us(&postgres_pids(postmaster)) + ticks_to_us(field(&f, 13) + field(&f, 14))
}

/// The postmaster and all its children (backends, background workers).
pub(super) fn postgres_pids(postmaster: u32) -> Vec<u32> {
    let mut pids = vec![postmaster];
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if field(&stat_fields(pid), 1) == u64::from(postmaster) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Resident memory of a process from /proc, in KiB: (current, peak).
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Samples the RSS of two processes every 5 ms until the flag is cleared; the thread returns
/// their peaks in KiB.
pub(super) fn sample_peaks(
    a: u32,
    b: u32,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<(u64, u64)>) {
    let running = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&running);
    let sampler = std::thread::spawn(move || {
        let mut peak = (0u64, 0u64);
        while flag.load(Ordering::Relaxed) {
            peak.0 = peak.0.max(rss_kib(a).0);
            peak.1 = peak.1.max(rss_kib(b).0);
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    });
    (running, sampler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_start_after_a_command_name_holding_spaces_and_parentheses() {
        let f = parse_stat("42 (pgmesh (x) y) S 7 42 42 0 -1 4194560 1 0 0 0 11 12 13 14 20 0");
        assert_eq!(field(&f, 1), 7);
        assert_eq!([11, 12, 13, 14].map(|i| field(&f, i)), [11, 12, 13, 14]);
        assert_eq!(field(&f, 99), 0);
    }

    #[test]
    fn this_process_has_a_parent_cpu_time_and_memory() {
        let me = std::process::id();
        assert_ne!(field(&stat_fields(me), 1), 0);
        // Spin until at least one clock tick of user time is charged.
        let start = std::time::Instant::now();
        while cpu_us(&[me]) == 0 && start.elapsed() < Duration::from_secs(5) {
            std::hint::black_box((0..10_000u64).sum::<u64>());
        }
        assert!(cpu_us(&[me]) > 0);
        let (rss, peak) = rss_kib(me);
        assert!(rss > 0 && peak >= rss);
    }
}
