//! The clocks the tool's timestamps are compared with: seconds since boot
//! (/proc/uptime), CLOCK_BOOTTIME and the wall clock, in nanoseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since boot from /proc/uptime (CLOCK_BOOTTIME, like the tool's
/// timestamps).
pub fn uptime_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/uptime").expect("read /proc/uptime");
    s.split_whitespace().next().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("bad /proc/uptime: {s:?}"))
}

/// Wall-clock nanoseconds since the Unix epoch, now.
pub fn wall_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

/// CLOCK_BOOTTIME in nanoseconds, now (the clock of `ts_ns`).
pub fn boot_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_BOOTTIME)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
