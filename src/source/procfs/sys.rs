//! Reading the real `/proc` for the poller: listing processes (getdents on
//! one open directory), their stat, arguments and identity.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::tracker::{Procs, StatRead, hash_args, parse_seen};
use super::{BUSY_FRACTION, COLD_LIST_NS, MAX_INTERVAL, MIN_INTERVAL};
use crate::event::{Exec, SourceKind};
use crate::source::proc;

/// The real /proc: a directory fd listed with getdents64, and stat files.
pub(super) struct RealProcs {
    dir: File,
    dents: Vec<u8>,
    path: String,
    buf: Vec<u8>,
}

impl RealProcs {
    pub(super) fn open() -> io::Result<RealProcs> {
        Ok(RealProcs { dir: File::open("/proc")?, dents: vec![0; 64 * 1024], path: String::new(), buf: vec![0; 4096] })
    }
}

impl Procs for RealProcs {
    fn list(&mut self, out: &mut Vec<(u32, u64)>) -> io::Result<()> {
        out.clear();
        let fd = self.dir.as_raw_fd();
        // SAFETY: lseek on a directory fd we own has no memory effects;
        // offset 0 restarts the listing.
        if unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            // SAFETY: `dents` is a valid, writable buffer of the length
            // passed; the kernel writes at most that many bytes.
            let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, self.dents.as_mut_ptr(), self.dents.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                return Ok(());
            }
            parse_dirents(&self.dents[..(n as usize).min(self.dents.len())], out);
        }
    }

    fn stat(&mut self, pid: u32) -> StatRead {
        use std::fmt::Write as _;
        self.path.clear();
        let _ = write!(self.path, "/proc/{pid}/stat");
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return StatRead::Denied,
            Err(_) => return StatRead::Gone,
        };
        // One read returns the whole file (a seq_file of one record).
        let n = match f.read(&mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return StatRead::Denied,
            Err(_) => return StatRead::Gone,
        };
        let seen = if n < self.buf.len() {
            parse_seen(&self.buf[..n])
        } else {
            let mut all = self.buf.clone();
            if f.read_to_end(&mut all).is_err() {
                return StatRead::Gone;
            }
            parse_seen(&all)
        };
        seen.map_or(StatRead::Gone, StatRead::Found)
    }

    fn args_hash(&mut self, pid: u32) -> Option<u64> {
        // The first 4 KiB tell a fork's copy from a new program's arguments.
        proc::read_cmdline(pid, 4096).ok().map(|(area, more)| hash_args(&area, more))
    }

    fn exec(&mut self, pid: u32, ts_ns: u64, args_cap: u32) -> Exec {
        proc::exec_from_proc(pid, ts_ns, SourceKind::Procfs, None, None, args_cap)
    }
}

/// Append the numeric entries of a getdents64 buffer as (pid, inode).
/// Layout of each record: u64 inode, i64 offset, u16 record length, u8
/// type, then the NUL-terminated name.
pub(super) fn parse_dirents(buf: &[u8], out: &mut Vec<(u32, u64)>) {
    let mut off = 0usize;
    while off + 19 <= buf.len() {
        let ino = buf.get(off..off + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_ne_bytes);
        let reclen = buf.get(off + 16..off + 18).and_then(|b| b.try_into().ok()).map_or(0, u16::from_ne_bytes) as usize;
        if reclen < 19 || off + reclen > buf.len() {
            return;
        }
        let name = &buf[off + 19..off + reclen];
        let name = name.split(|&b| b == 0).next().unwrap_or(name);
        if let Some(pid) = parse_pid(name) {
            out.push((pid, ino));
        }
        off += reclen;
    }
}

fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok().filter(|&p| p > 0)
}

/// CPU time used by this thread so far (0 if unreadable: then every scan
/// looks free, and the interval stays the shortest).
pub(super) fn thread_cpu() -> Duration {
    Duration::from_nanos(crate::clock::ns(libc::CLOCK_THREAD_CPUTIME_ID))
}

/// Nanoseconds per clock tick (the unit of start times in /proc).
pub(super) fn tick_ns() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    1_000_000_000 / if hz > 0 { hz as u64 } else { 100 }
}

/// Whether exec'd programs get randomised layouts. Unknown counts as no:
/// a wrong yes could hide an exec, a wrong no only shows stale copies.
pub(super) fn aslr_on() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/randomize_va_space").is_ok_and(|s| s.trim() != "0")
}

/// A nonblocking periodic timer on CLOCK_MONOTONIC.
pub(super) fn timerfd(interval: Duration) -> io::Result<OwnedFd> {
    // SAFETY: no pointers are involved; the flags are valid.
    let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by timerfd_create and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_timer(fd.as_fd(), interval)?;
    Ok(fd)
}

/// Arm the timer to fire every `interval`; a zero interval disarms it.
pub(super) fn set_timer(fd: BorrowedFd<'_>, interval: Duration) -> io::Result<()> {
    let ts = libc::timespec { tv_sec: interval.as_secs() as libc::time_t, tv_nsec: interval.subsec_nanos() as _ };
    let spec = libc::itimerspec { it_interval: ts, it_value: ts };
    // SAFETY: `spec` is a valid itimerspec; a null old-value pointer is allowed.
    let rc = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// How many times the timer fired since the last read (0 if it did not).
pub(super) fn read_timer(fd: BorrowedFd<'_>) -> u64 {
    let mut n: u64 = 0;
    // SAFETY: `n` is 8 writable bytes, the size a timerfd read needs; the
    // fd is nonblocking, so this returns at once.
    let got = unsafe { libc::read(fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
    if got == 8 { n } else { 0 }
}

/// The interval for this machine: [`MIN_INTERVAL`], or longer where a scan
/// would take more than 1/[`BUSY_FRACTION`] of it. The cost of a listing is
/// measured in CPU time (a busy machine does not make it look dear), but
/// listings back to back find the kernel's caches warm; one every few ms
/// finds them cold and costs about [`COLD_LIST_NS`] per process, which
/// bounds the estimate from below.
pub(super) fn choose_interval(procs: &mut RealProcs) -> Duration {
    let mut listing = Vec::new();
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = thread_cpu();
        if procs.list(&mut listing).is_err() {
            return MIN_INTERVAL;
        }
        best = best.min(thread_cpu().saturating_sub(t));
    }
    let cold = Duration::from_nanos((listing.len() as u64).saturating_mul(COLD_LIST_NS));
    let wanted = best.max(cold).saturating_mul(BUSY_FRACTION);
    let ms = u64::try_from(wanted.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
    Duration::from_millis(ms).clamp(MIN_INTERVAL, MAX_INTERVAL)
}
