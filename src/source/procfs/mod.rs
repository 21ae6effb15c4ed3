//! The procfs source: finds execs by polling `/proc`, for users without
//! privileges. It owns the poller (a periodic timerfd), the table of
//! processes seen, and the rules that decide when a process seen in `/proc`
//! counts as an exec; the records themselves are built by [`super::proc`].
//! No capabilities are needed: everything it reads is readable by any user.
//!
//! **A scan** lists `/proc` with `getdents64` and reads nothing else for a
//! process it already knows: the inode number of `/proc/PID` is new for
//! every new process, so an unchanged inode means the same process, and only
//! a changed one costs a read of `/proc/PID/stat` to compare start times
//! (field 22; another start time is pid reuse).
//!
//! **Interval and cost**, measured on a 2-core VM (kernel 6.18) shared with
//! other builds: reading one `/proc/PID/stat` costs about 10 µs, so reading
//! them all at every scan is out of the question. Listing `/proc` costs
//! about 0.6 µs per process back to back, but 2 to 2.5 µs per process when
//! done every 10 ms with caches cold (170-220 µs with 70 processes, 2 ms with
//! 1070). The interval is [`MIN_INTERVAL`], 10 ms: a tracer left running
//! with about 80 processes used 2-3% of a CPU, including the work for the
//! processes other sessions started meanwhile. It is stretched for machines
//! with many processes so that scans take at most 5% of a CPU: at start from
//! the number of processes (1080 gave 44 ms), and while running by skipping
//! ticks while the last scan's CPU time says so. The interval chosen at
//! start is what [`Source::notice`] announces.
//!
//! **What counts as an exec.** Processes running when tracing starts are not
//! reported. A process first seen later is, stamped with the time it was
//! *observed* (`CLOCK_BOOTTIME` at the scan, not the time of the exec, which
//! /proc does not keep), with its arguments read from `/proc/PID/cmdline`
//! then ([`proc::exec_from_proc`]). First sight is not the whole story: a
//! fork caught before its exec still runs its parent's program, and a
//! process may exec again (`env`, `nice`, `sh -c CMD`). So young processes
//! (first seen less than [`YOUNG_NS`] ago, at most [`FOLLOW_MAX`]; with `-p`,
//! the whole tree for as long as it lives) are followed: their stat is read
//! again at every scan for [`EAGER_NS`], every [`LATE_EVERY`]th after that,
//! and a change of *image* is a new exec, reported at once. The image is
//! the address-space layout (start of code and of stack, randomised at
//! every exec by ASLR, shared by a fork until it execs) where we may see it
//! (our own processes, or as root: ptrace read access), else the name and a
//! hash of the arguments. On first sight, a process whose image equals its
//! parent's (or, by layout, that of any process known or recently gone: a
//! fork whose parent ended) is a fork that has not exec'd: reported when
//! its image changes, never if it does not (a shell's subshell). Only when
//! neither layouts nor arguments can be compared and the names match is a
//! process held for [`HOLD_SCANS`] scans, then reported as it is. A read
//! halfway through an exec (no layout yet, or no arguments yet where the
//! layout is hidden) decides nothing; the next scan looks again.
//!
//! Measured with `sh -c` and bash loops whose children exec at once (dash)
//! or after running their parent's program for 5 to 50 ms (bash subshells),
//! each child then living 30 ms: as root, and as a plain user watching their
//! own or root's processes, every child was reported once, after its exec,
//! and no parent's copy was (12 runs of 30). With the names-only hold alone,
//! a plain user watching root's bash subshells got a stale copy (the
//! script's own arguments under the child's pid) for 28 of 30 of them.
//! While another session ran an exec storm, the CPU budget stretched the
//! interval and up to a quarter of those 30 ms children were missed.
//!
//! **What is missed.** Processes that live shorter than the interval (and
//! all but the last exec of a chain faster than it); an exec by a process
//! first seen more than [`YOUNG_NS`] earlier (`exec` at the end of a long
//! script), except in the `-p` tree; with `-p`, a descendant whose parent
//! ended before the descendant was first seen; an exec of the same program
//! with the same arguments where layouts are hidden; a fork that changes its
//! arguments (setproctitle) where layouts are hidden is reported as an exec.
//! A program run without ASLR (`setarch -R`, gdb) while another copy of it
//! runs may look like a fork of that copy; with `randomize_va_space` 0,
//! layouts are not used at all. Mounted with `hidepid=2`, `/proc` hides other
//! users' processes from a plain user, who then sees only their own; with
//! `hidepid=1` they are listed but unreadable, and never reported.
//!
//! **Exits** (`-e`): a reported process that disappears from `/proc` gives
//! an exit record stamped when that was noticed (after its parent reaped
//! it), with status unknown (we cannot wait for strangers) and no CPU time.
//!
//! **Bounds.** At most [`crate::lineage::TABLE_MAX`] processes are known at once; each one
//! beyond that is reported once as lost ([`LostKind::ProcTable`]), and so is
//! a fork that could not be followed because [`FOLLOW_MAX`] processes are
//! followed already. `-x` (a failed exec leaves nothing in /proc) and `-c`
//! are refused; `-P` and `-u` are applied to what /proc says when the exec
//! is reported.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use super::{Applies, Need, Source, SourceError, SourceInfo, SourceRequest};
use crate::clock::boot_ns as boottime_ns;
use crate::event::{ArgsFrom, Record};

/// The shortest polling interval.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The longest polling interval, however many processes there are.
const MAX_INTERVAL: Duration = Duration::from_secs(1);
/// Scans may take at most 1/this of the time (5% of a CPU).
const BUSY_FRACTION: u32 = 20;
/// CPU time to list one process in /proc with cold caches (measured: 2.5 µs
/// with 70 processes, 1.8 µs with 1070, on a 2-core VM).
const COLD_LIST_NS: u64 = 2_000;
/// A process is followed (its image re-read) for this long after it was
/// first seen.
pub const YOUNG_NS: u64 = 1_000_000_000;
/// For this long after first sight, a followed process is re-read at every
/// scan; after that at every [`LATE_EVERY`]th.
pub const EAGER_NS: u64 = 200_000_000;
/// See [`EAGER_NS`].
pub const LATE_EVERY: u64 = 8;
/// Scans a process that looks like its parent (by name only) is held before
/// it is reported as it is.
pub const HOLD_SCANS: u8 = 2;
/// Processes followed at once.
pub const FOLLOW_MAX: usize = 512;
/// Layouts of processes gone recently, for recognising forks whose parent
/// has ended.
const RECENT_MAX: usize = 1024;
/// The kernel's largest possible pid (`PID_MAX_LIMIT` on 64-bit) + 1.
const PID_LIMIT: u32 = 1 << 22;
/// `PF_KTHREAD` in the flags of `/proc/PID/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

mod sys;
mod tracker;

use sys::*;
use tracker::*;

/// No privileges: polls /proc, misses processes shorter than its interval.
pub(crate) static INFO: SourceInfo = SourceInfo {
    name: "procfs",
    args: ArgsFrom::Procfs,
    exit_status: false,
    exit_cpu: false,
    applies: Applies { ppid: false, uid: false, cgroup: false, tree: true },
    refuses: &[
        (Need::FailedExecs, "a failed exec() leaves no process behind to find in /proc"),
        (Need::Cgroup, "it does not read cgroups; use the bpf source"),
        (
            Need::Context,
            "only the bpf source reads the new process (its directory, environment, credentials, namespaces) at the exec; use --source bpf",
        ),
    ],
    poll: Some(Duration::from_millis(50)),
    open: |request| Ok(Box::new(ProcfsSource::open(request)?)),
};

/// Polls /proc at a fixed interval; see the module documentation.
pub struct ProcfsSource {
    timer: OwnedFd,
    procs: RealProcs,
    tracker: Tracker,
    pending: VecDeque<Record>,
    interval: Duration,
    scans: u64,
    last_start: Instant,
    last_cost: Duration,
    stopped: bool,
    final_scan_done: bool,
}

impl ProcfsSource {
    /// Take the baseline and start the timer. Fails for options /proc cannot
    /// honour (`-x`, `-c`), when /proc cannot be listed, or when the `-p`
    /// process does not exist.
    pub fn open(request: &SourceRequest) -> Result<ProcfsSource, SourceError> {
        let mut procs = RealProcs::open().map_err(|e| SourceError::Unsupported(format!("cannot open /proc: {e}")))?;
        let tracker = Tracker::new(request.kernel.clone(), &mut procs, boottime_ns(), tick_ns(), aslr_on())?;
        let interval = choose_interval(&mut procs);
        let timer = timerfd(interval).map_err(|e| SourceError::Other(format!("cannot create a timerfd: {e}")))?;
        Ok(ProcfsSource {
            timer,
            procs,
            tracker,
            pending: VecDeque::new(),
            interval,
            scans: 0,
            last_start: Instant::now(),
            last_cost: Duration::ZERO,
            stopped: false,
            final_scan_done: false,
        })
    }

    fn scan(&mut self) -> io::Result<()> {
        let (t, cpu) = (Instant::now(), thread_cpu());
        self.scans += 1;
        let r = self.tracker.scan(&mut self.procs, boottime_ns(), self.scans, &mut self.pending);
        self.last_start = t;
        self.last_cost = thread_cpu().saturating_sub(cpu);
        r.map_err(|e| io::Error::new(e.kind(), format!("procfs source: cannot list /proc: {e}")))
    }
}

impl Source for ProcfsSource {
    fn fd(&self) -> BorrowedFd<'_> {
        self.timer.as_fd()
    }

    fn drain(&mut self, sink: &mut dyn FnMut(&mut Record) -> io::Result<()>) -> io::Result<usize> {
        if self.stopped {
            if !self.final_scan_done {
                self.final_scan_done = true;
                self.scan()?;
            }
        } else if read_timer(self.timer.as_fd()) > 0
            && self.last_start.elapsed() >= self.last_cost.saturating_mul(BUSY_FRACTION)
        {
            self.scan()?;
        }
        let mut n = 0;
        while let Some(mut rec) = self.pending.pop_front() {
            sink(&mut rec)?;
            n += 1;
        }
        Ok(n)
    }

    fn notice(&self) -> Option<String> {
        let mut s = format!(
            "procfs source: polls /proc every {} ms; processes that live shorter than that are missed, \
             arguments are read after the fact",
            self.interval.as_millis()
        );
        if self.tracker.kernel.exits {
            s.push_str("; exit status and CPU time are unknown");
        }
        Some(s)
    }

    fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let _ = set_timer(self.timer.as_fd(), Duration::ZERO);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirents() {
        let mut buf = Vec::new();
        for (ino, name) in [(7u64, "1"), (8, "self"), (9, "4242"), (10, "0"), (11, "12a")] {
            let reclen = (19 + name.len() + 1).next_multiple_of(8);
            let start = buf.len();
            buf.extend_from_slice(&ino.to_ne_bytes());
            buf.extend_from_slice(&0i64.to_ne_bytes());
            buf.extend_from_slice(&(reclen as u16).to_ne_bytes());
            buf.push(4);
            buf.extend_from_slice(name.as_bytes());
            buf.resize(start + reclen, 0);
        }
        let mut out = Vec::new();
        parse_dirents(&buf, &mut out);
        assert_eq!(out, [(1, 7), (4242, 9)]);
        out.clear();
        parse_dirents(&buf[..30], &mut out);
        assert_eq!(out, [(1, 7)], "a cut record is ignored");
    }

    #[test]
    fn real_proc_shows_this_process() {
        let mut p = RealProcs::open().unwrap();
        let mut list = Vec::new();
        p.list(&mut list).unwrap();
        let me = std::process::id();
        assert!(list.iter().any(|&(pid, ino)| pid == me && ino > 1), "own pid listed with its inode");
        let StatRead::Found(s) = p.stat(me) else { panic!("own stat unreadable") };
        assert!(matches!(s.image.mm, Mm::Known(_)), "own layout is readable: {s:?}");
        assert!(!s.kthread && !s.unsettled());
        assert_eq!(s.ppid, std::os::unix::process::parent_id());
        assert!(p.args_hash(me).is_some_and(|h| h != EMPTY_ARGS));
        assert!(matches!(p.stat(u32::MAX - 1), StatRead::Gone));
        let kthreadd = p.stat(2);
        assert!(matches!(&kthreadd, StatRead::Found(k) if k.kthread) || matches!(kthreadd, StatRead::Gone));
    }

    #[test]
    fn timer_fires() {
        let t = timerfd(Duration::from_millis(1)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(read_timer(t.as_fd()) >= 1);
        set_timer(t.as_fd(), Duration::ZERO).unwrap();
        let _ = read_timer(t.as_fd());
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(read_timer(t.as_fd()), 0, "disarmed");
    }
}
