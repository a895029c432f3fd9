//! Is a lock's holder still running? Only answerable on the holder's own
//! host: a record names host, PID and the process's start time, and the
//! holder is gone if no process has that PID, or the one that has it
//! started at another time (the PID was reused). Anything uncertain counts
//! as alive, so the worst case is waiting for the record to expire.

use super::LockRecord;

/// When process `pid` started, in clock ticks since boot (field 22 of
/// `/proc/PID/stat`); `None` where that cannot be read.
pub(super) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 2, the command name, is in parentheses and may hold spaces or
    // parentheses itself: count from the last ')'. Field 3 is index 0.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process's start time, for its lock records.
pub(super) fn own_start_time() -> Option<u64> {
    start_time(std::process::id())
}

/// Whether the holder of `r` is certainly gone: it ran on this host, its
/// record has a start time, and no process with its PID started then.
pub(super) fn is_dead(r: &LockRecord) -> bool {
    let Some(start) = r.start_time else {
        return false;
    };
    if r.host != crate::time::hostname() || own_start_time().is_none() {
        return false;
    }
    let Ok(pid) = i32::try_from(r.pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks whether the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    // It exists: dead only if it is provably another process.
    start_time(r.pid).is_some_and(|now| now != start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_start_time_and_tells_live_from_gone() {
        let own = own_start_time().expect("Linux /proc");
        assert!(own > 0);
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id();
        let record = |start| LockRecord {
            generation: 1,
            state: crate::format::lock::LockState::Held,
            operation: "prune".into(),
            host: crate::time::hostname(),
            pid,
            time: 0,
            expires: i64::MAX,
            token: [0; 16],
            start_time: Some(start),
        };
        let started = start_time(pid).unwrap();
        assert!(!is_dead(&record(started)), "a live holder");
        assert!(is_dead(&record(started + 1)), "a reused PID");
        let elsewhere = LockRecord {
            host: "another-host".into(),
            ..record(started + 1)
        };
        assert!(!is_dead(&elsewhere), "another host is never judged");
        let unknown = LockRecord {
            start_time: None,
            ..record(started + 1)
        };
        assert!(!is_dead(&unknown), "no start time: cannot tell");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(is_dead(&record(started)), "a holder that is gone");
    }
}
