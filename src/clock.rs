//! Reading the kernel's clocks: the one `clock_gettime` wrapper. Every
//! record's `ts_ns` is `CLOCK_BOOTTIME` (what `bpf_ktime_get_boot_ns()`
//! reads, and what the other sources convert their times to).

/// The time of `clock`, in ns; 0 if it cannot be read (it always can for
/// the clocks used here).
pub(crate) fn ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; on failure it stays zero.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// `CLOCK_BOOTTIME` now: ns since boot, suspend included.
pub(crate) fn boot_ns() -> u64 {
    ns(libc::CLOCK_BOOTTIME)
}

/// `CLOCK_BOOTTIME` minus `CLOCK_MONOTONIC` now: the time spent suspended,
/// which turns monotonic timestamps into boot-clock ones.
pub(crate) fn boot_minus_mono() -> u64 {
    let boot = boot_ns();
    boot.saturating_sub(ns(libc::CLOCK_MONOTONIC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_agree() {
        let mono = ns(libc::CLOCK_MONOTONIC);
        let boot = boot_ns();
        assert!(boot >= mono && boot > 0);
        assert!((mono + boot_minus_mono()).abs_diff(boot_ns()) < 50_000_000);
    }
}
