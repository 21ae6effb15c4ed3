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
    poll: Duration::from_millis(50),
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

    fn drain(&mut self, sink: &mut dyn FnMut(Record) -> io::Result<()>) -> io::Result<usize> {
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
        while let Some(rec) = self.pending.pop_front() {
            sink(rec)?;
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
    use std::collections::{BTreeMap, HashMap, HashSet};

    use super::*;
    use crate::event::{ArgsFrom, Exec, ExecFlags, Exit, ExitStatus, LostKind, SourceKind};

    const MS: u64 = 1_000_000;
    /// Clock ticks of 10 ms, as with USER_HZ 100.
    const TICK: u64 = 10 * MS;

    /// What the sources get for these flags: the trackers read only the
    /// kernel part.
    fn kernel(flags: &[&str]) -> crate::source::KernelFilter {
        crate::config::for_tests(flags).source_request().kernel
    }

    /// A layout as a readable process shows it; `n` tells images apart.
    fn known(n: u64) -> Mm {
        Mm::Known(Layout { start_code: 0x5555_0000_0000 + n * 0x1000, start_stack: 0x7ffc_0000_0000 + n * 0x10 })
    }

    #[derive(Clone)]
    struct FakeProc {
        ino: u64,
        seen: Seen,
        args: Vec<u8>,
        uid: u32,
    }

    /// Snapshots of a pretend /proc.
    #[derive(Default)]
    struct Fake {
        procs: BTreeMap<u32, FakeProc>,
        /// Listed, but stat is refused (hidepid=1).
        denied: HashSet<u32>,
        /// cmdline cannot be read.
        no_args: HashSet<u32>,
        /// The exec record's arguments cannot be read (yet).
        args_fail: HashSet<u32>,
        /// What the next stat read of a pid returns instead of the truth.
        stale_stat: HashMap<u32, Seen>,
        next_ino: u64,
        stat_reads: usize,
    }

    impl Fake {
        fn spawn(&mut self, pid: u32, ppid: u32, start_ticks: u64, comm: &str, mm: Mm, args: &[&str]) {
            self.next_ino += 1;
            let seen = Seen {
                start_ticks,
                ppid,
                state: b'S',
                kthread: false,
                image: Image { comm: comm.as_bytes().to_vec(), mm, args: None },
            };
            self.procs.insert(pid, FakeProc { ino: self.next_ino, seen, args: area(args), uid: 1000 });
        }

        /// A fork of `ppid`: its name, layout and arguments.
        fn fork(&mut self, pid: u32, ppid: u32, start_ticks: u64) {
            let parent = self.procs[&ppid].clone();
            self.next_ino += 1;
            let mut seen = parent.seen.clone();
            seen.ppid = ppid;
            seen.start_ticks = start_ticks;
            self.procs.insert(pid, FakeProc { ino: self.next_ino, seen, args: parent.args, uid: parent.uid });
        }

        fn exec(&mut self, pid: u32, comm: &str, mm: Mm, args: &[&str]) {
            let p = self.procs.get_mut(&pid).expect("running");
            p.seen.image = Image { comm: comm.as_bytes().to_vec(), mm, args: None };
            p.args = area(args);
        }

        fn zombie(&mut self, pid: u32) {
            let p = self.procs.get_mut(&pid).expect("running");
            p.seen.state = b'Z';
            p.seen.image.mm = Mm::Absent;
            p.args.clear();
        }

        fn reap(&mut self, pid: u32) {
            self.procs.remove(&pid);
        }
    }

    fn area(args: &[&str]) -> Vec<u8> {
        args.iter().flat_map(|a| a.bytes().chain(std::iter::once(0))).collect()
    }

    impl Procs for Fake {
        fn list(&mut self, out: &mut Vec<(u32, u64)>) -> io::Result<()> {
            out.clear();
            out.extend(self.procs.iter().map(|(&pid, p)| (pid, p.ino)));
            Ok(())
        }

        fn stat(&mut self, pid: u32) -> StatRead {
            self.stat_reads += 1;
            if self.denied.contains(&pid) {
                return StatRead::Denied;
            }
            if let Some(s) = self.stale_stat.remove(&pid) {
                return StatRead::Found(s);
            }
            self.procs.get(&pid).map_or(StatRead::Gone, |p| StatRead::Found(p.seen.clone()))
        }

        fn args_hash(&mut self, pid: u32) -> Option<u64> {
            let p = self.procs.get(&pid)?;
            (!self.no_args.contains(&pid)).then(|| hash_args(&p.args, false))
        }

        fn exec(&mut self, pid: u32, ts_ns: u64, _args_cap: u32) -> Exec {
            let mut e = Exec {
                ts_ns,
                pid,
                old_pid: pid,
                source: SourceKind::Procfs,
                args_from: ArgsFrom::Procfs,
                uid: u32::MAX,
                ..Exec::default()
            };
            let Some(p) = self.procs.get(&pid) else {
                e.flags.args_read_failed = true;
                return e;
            };
            e.ppid = p.seen.ppid;
            e.uid = p.uid;
            e.comm = p.seen.image.comm.clone();
            if p.args.is_empty() || self.args_fail.contains(&pid) {
                e.flags = ExecFlags { args_read_failed: true, ..ExecFlags::default() };
            } else {
                e.args = p.args.clone();
                e.args_size = e.args.len() as u32;
            }
            e
        }
    }

    /// A tracker over a fake /proc, with a clock that moves one interval
    /// per scan.
    struct Harness {
        fake: Fake,
        t: Tracker,
        now: u64,
        scans: u64,
    }

    /// A start time in ticks for a process started at boot time `now`.
    fn ticks_at(now: u64) -> u64 {
        now / TICK
    }

    impl Harness {
        /// A /proc with init (1), a shell (100, layout 1) and a kernel
        /// thread (2), all long running, then `setup` before the baseline.
        fn new(flags: &[&str], setup: impl FnOnce(&mut Fake)) -> Harness {
            Harness::with_layouts(flags, true, setup)
        }

        fn with_layouts(flags: &[&str], layouts: bool, setup: impl FnOnce(&mut Fake)) -> Harness {
            let mut fake = Fake::default();
            fake.spawn(1, 0, 1, "init", known(100), &["/sbin/init"]);
            fake.spawn(2, 0, 1, "kthreadd", Mm::Absent, &[]);
            fake.procs.get_mut(&2).unwrap().seen.kthread = true;
            fake.spawn(100, 1, 50, "bash", known(1), &["-bash"]);
            setup(&mut fake);
            let now = 100_000 * MS;
            let t = Tracker::new(kernel(flags), &mut fake, now, TICK, layouts).expect("baseline");
            Harness { fake, t, now, scans: 0 }
        }

        fn scan(&mut self) -> Vec<Record> {
            self.now += 10 * MS;
            self.scans += 1;
            let mut out = VecDeque::new();
            self.t.scan(&mut self.fake, self.now, self.scans, &mut out).expect("scan");
            out.into()
        }

        /// Scan until `ns` have passed; every record on the way.
        fn scan_for(&mut self, ns: u64) -> Vec<Record> {
            let end = self.now + ns;
            let mut all = Vec::new();
            while self.now < end {
                all.extend(self.scan());
            }
            all
        }

        fn tick(&self) -> u64 {
            ticks_at(self.now)
        }
    }

    fn execs(recs: &[Record]) -> Vec<&Exec> {
        recs.iter().filter_map(|r| if let Record::Exec(e) = r { Some(e) } else { None }).collect()
    }

    fn exits(recs: &[Record]) -> Vec<&Exit> {
        recs.iter().filter_map(|r| if let Record::Exit(x) = r { Some(x) } else { None }).collect()
    }

    fn argv(e: &Exec) -> Vec<String> {
        e.argv().iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect()
    }

    #[test]
    fn running_processes_are_the_baseline_new_ones_are_reported() {
        let mut h = Harness::new(&[], |f| f.spawn(150, 100, 60, "vim", known(2), &["vim", "x"]));
        assert!(h.scan().is_empty(), "processes running at start are not reported");
        let tick = h.tick();
        h.fake.spawn(200, 100, tick, "ls", known(3), &["ls", "-l"]);
        let recs = h.scan();
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!((e[0].pid, e[0].ppid, e[0].ts_ns), (200, 100, h.now), "stamped when observed");
        assert_eq!(argv(e[0]), ["ls", "-l"]);
        assert_eq!(e[0].depth, None, "no depth without -p, COMMAND, --tree or exits");
        assert!(h.scan().is_empty(), "reported once");
    }

    #[test]
    fn a_known_process_costs_no_read() {
        let mut h = Harness::new(&[], |_| {});
        h.scan();
        let reads = h.fake.stat_reads;
        h.scan_for(50 * MS);
        assert_eq!(h.fake.stat_reads, reads, "same inode, same process: nothing read");
        // A new inode (the dentry was evicted) with the same start time is
        // the same process: read once, not reported.
        h.fake.procs.get_mut(&100).unwrap().ino = 999;
        assert!(h.scan().is_empty());
        assert_eq!(h.fake.stat_reads, reads + 1);
        h.scan();
        assert_eq!(h.fake.stat_reads, reads + 1);
    }

    #[test]
    fn pid_reuse_is_told_by_start_time() {
        let mut h = Harness::new(&["-e"], |_| {});
        let tick = h.tick();
        h.fake.spawn(300, 100, tick, "make", known(4), &["make"]);
        let first = h.scan();
        let exec_ts = execs(&first)[0].ts_ns;
        h.scan_for(2_000 * MS);
        // Between two scans, 300 ends and a new process gets its pid.
        h.fake.reap(300);
        let tick = h.tick();
        h.fake.spawn(300, 100, tick, "cc", known(5), &["cc", "-c", "a.c"]);
        let recs = h.scan();
        let x = exits(&recs);
        assert_eq!(x.len(), 1, "{recs:?}");
        assert_eq!((x[0].pid, x[0].exec_ts_ns, x[0].start_ts_ns), (300, exec_ts, exec_ts));
        assert_eq!(x[0].comm, b"make");
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!(argv(e[0]), ["cc", "-c", "a.c"]);
        assert!(matches!(recs[0], Record::Exit(_)), "the old process's end comes first: {recs:?}");
    }

    #[test]
    fn fork_caught_before_its_exec_is_held_until_the_exec() {
        let mut h = Harness::new(&[], |_| {});
        let tick = h.tick();
        h.fake.fork(400, 100, tick);
        assert!(h.scan().is_empty(), "bash's own copy, not an exec");
        assert!(h.scan().is_empty());
        h.fake.exec(400, "sleep", known(6), &["sleep", "1"]);
        let recs = h.scan();
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!((e[0].pid, e[0].comm.as_slice()), (400, &b"sleep"[..]));
        assert_eq!(argv(e[0]), ["sleep", "1"]);
        assert!(h.scan_for(1_500 * MS).is_empty(), "reported once");
    }

    #[test]
    fn fork_that_never_execs_is_never_reported() {
        let mut h = Harness::new(&["-e"], |_| {});
        let tick = h.tick();
        h.fake.fork(401, 100, tick);
        // A renamed fork (prctl) keeps its layout: still no exec.
        h.fake.procs.get_mut(&401).unwrap().seen.image.comm = b"(worker)".to_vec();
        assert!(h.scan_for(1_500 * MS).is_empty());
        h.fake.zombie(401);
        h.scan();
        h.fake.reap(401);
        assert!(h.scan().is_empty(), "no exec reported, so no exit either");
    }

    #[test]
    fn fork_reparented_to_init_is_still_recognised() {
        let mut h = Harness::new(&[], |_| {});
        let tick = h.tick();
        // Forked from bash, whose intermediate child ended: now under init,
        // with bash's layout.
        h.fake.fork(402, 100, tick);
        h.fake.procs.get_mut(&402).unwrap().seen.ppid = 1;
        assert!(h.scan().is_empty());
    }

    #[test]
    fn name_only_copy_is_held_then_reported() {
        // Another user's processes: no layouts, no arguments to compare.
        let mut h = Harness::new(&[], |f| {
            f.spawn(500, 1, 60, "cron", Mm::Hidden, &["/usr/sbin/cron"]);
        });
        let tick = h.tick();
        h.fake.fork(501, 500, tick);
        h.fake.no_args.extend([500, 501]);
        for scan in 1..=HOLD_SCANS {
            assert!(h.scan().is_empty(), "held at scan {scan}");
        }
        let recs = h.scan();
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "reported after the hold: {recs:?}");
        assert_eq!(argv(e[0]), ["/usr/sbin/cron"], "as it is: cron's own program, again or still");
        assert!(h.scan_for(1_500 * MS).is_empty());
    }

    #[test]
    fn name_only_copy_that_execs_during_the_hold_is_reported_once() {
        let mut h = Harness::new(&[], |f| f.spawn(500, 1, 60, "cron", Mm::Hidden, &["/usr/sbin/cron"]));
        let tick = h.tick();
        h.fake.fork(502, 500, tick);
        h.fake.no_args.extend([500, 502]);
        assert!(h.scan().is_empty());
        h.fake.exec(502, "sh", Mm::Hidden, &["/bin/sh", "-c", "job"]);
        let recs = h.scan_for(1_500 * MS);
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!(argv(e[0]), ["/bin/sh", "-c", "job"]);
    }

    #[test]
    fn hidden_layouts_compare_arguments() {
        let mut h = Harness::new(&[], |f| f.spawn(500, 1, 60, "cron", Mm::Hidden, &["/usr/sbin/cron"]));
        let tick = h.tick();
        // Same name, same arguments: a fork.
        h.fake.fork(503, 500, tick);
        // Same name, other arguments: the same program run anew.
        h.fake.spawn(504, 500, tick, "cron", Mm::Hidden, &["cron", "-f"]);
        let recs = h.scan();
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!(e[0].pid, 504);
        assert!(h.scan_for(1_500 * MS).is_empty(), "the fork is never reported unless it changes");
    }

    #[test]
    fn exec_between_the_stat_and_the_arguments_read_is_reported_once() {
        let mut h = Harness::new(&[], |f| f.spawn(500, 1, 60, "cron", Mm::Hidden, &["/usr/sbin/cron"]));
        let tick = h.tick();
        h.fake.fork(509, 500, tick);
        assert!(h.scan().is_empty());
        // The stat read still shows the fork; by the arguments read, the
        // exec is done.
        let before = h.fake.procs[&509].seen.clone();
        h.fake.exec(509, "mail", Mm::Hidden, &["mail", "-s", "x"]);
        h.fake.stale_stat.insert(509, before);
        let recs = h.scan_for(1_500 * MS);
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!(argv(e[0]), ["mail", "-s", "x"]);
    }

    #[test]
    fn hidden_exec_caught_halfway_waits_for_its_arguments() {
        let mut h = Harness::new(&[], |f| f.spawn(500, 1, 60, "cron", Mm::Hidden, &["/usr/sbin/cron"]));
        let tick = h.tick();
        // The new name is in place, the arguments are not yet.
        h.fake.spawn(505, 500, tick, "backup", Mm::Hidden, &[]);
        assert!(h.scan().is_empty(), "decided only once the exec has set up");
        h.fake.exec(505, "backup", Mm::Hidden, &["backup", "--all"]);
        let recs = h.scan();
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!(argv(e[0]), ["backup", "--all"]);
    }

    #[test]
    fn unreadable_arguments_are_retried_and_keep_the_first_timestamp() {
        let mut h = Harness::new(&[], |_| {});
        let tick = h.tick();
        h.fake.spawn(506, 100, tick, "tool", known(7), &["tool", "x"]);
        h.fake.args_fail.insert(506);
        assert!(h.scan().is_empty(), "arguments not in place yet: wait");
        let seen_at = h.now;
        h.fake.args_fail.clear();
        let recs = h.scan();
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!((argv(e[0]), e[0].ts_ns), (vec!["tool".to_string(), "x".to_string()], seen_at));
        assert!(!e[0].flags.args_read_failed);

        // Never readable: out as it is after the hold.
        let tick = h.tick();
        h.fake.spawn(507, 100, tick, "tool2", known(8), &["tool2"]);
        h.fake.args_fail.insert(507);
        let recs = h.scan_for(100 * MS);
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert!(e[0].flags.args_read_failed && e[0].comm == b"tool2");

        // Gone before the retry: what the first try read.
        let tick = h.tick();
        h.fake.spawn(508, 100, tick, "tool3", known(9), &["tool3"]);
        h.fake.args_fail.insert(508);
        assert!(h.scan().is_empty());
        h.fake.reap(508);
        let recs = h.scan();
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!((e[0].pid, e[0].comm.as_slice(), e[0].ppid), (508, &b"tool3"[..], 100));
    }

    #[test]
    fn disappearance_gives_an_exit_of_unknown_status() {
        let mut h = Harness::new(&["-e"], |_| {});
        let tick = h.tick();
        h.fake.spawn(600, 100, tick, "sleep", known(10), &["sleep", "0.3"]);
        let exec_ts = execs(&h.scan())[0].ts_ns;
        assert!(h.scan_for(300 * MS).is_empty());
        h.fake.zombie(600);
        assert!(h.scan().is_empty(), "a zombie is still listed");
        h.fake.reap(600);
        let recs = h.scan();
        let x = exits(&recs);
        assert_eq!(x.len(), 1, "{recs:?}");
        let want = Exit {
            ts_ns: h.now,
            pid: 600,
            ppid: 100,
            comm: b"sleep".to_vec(),
            exec_ts_ns: exec_ts,
            start_ts_ns: exec_ts,
            status: ExitStatus::Unknown,
            cpu_ns: None,
            depth: Some(0),
            uid: Some(1000),
            source: SourceKind::Procfs,
        };
        assert_eq!(*x[0], want);
        assert_eq!(x[0].lifetime_ns(), Some(h.now - exec_ts));
    }

    #[test]
    fn no_exit_records_without_exits() {
        let mut h = Harness::new(&[], |_| {});
        let tick = h.tick();
        h.fake.spawn(601, 100, tick, "true", known(11), &["true"]);
        assert_eq!(execs(&h.scan()).len(), 1);
        h.fake.reap(601);
        assert!(h.scan().is_empty());
    }

    #[test]
    fn exec_chain_is_reported_exec_by_exec() {
        let mut h = Harness::new(&["-e"], |_| {});
        let tick = h.tick();
        h.fake.spawn(700, 100, tick, "env", known(12), &["env", "A=1", "python3"]);
        let first = h.scan();
        h.fake.exec(700, "python3", known(13), &["python3"]);
        let second = h.scan();
        assert_eq!(execs(&first).len(), 1);
        let e = execs(&second);
        assert_eq!(e.len(), 1, "{second:?}");
        assert_eq!(argv(e[0]), ["python3"]);
        // An exec of the same program gets a new layout too.
        h.fake.exec(700, "python3", known(14), &["python3", "-c", "pass"]);
        let third = h.scan();
        assert_eq!(execs(&third).len(), 1, "{third:?}");
        let last_ts = execs(&third)[0].ts_ns;
        h.fake.reap(700);
        let recs = h.scan();
        assert_eq!(exits(&recs)[0].exec_ts_ns, last_ts, "the exit joins the last exec");
    }

    #[test]
    fn late_exec_is_seen_while_followed_not_after() {
        let mut h = Harness::new(&[], |_| {});
        let tick = h.tick();
        h.fake.spawn(710, 100, tick, "sh", known(15), &["sh", "script"]);
        assert_eq!(execs(&h.scan()).len(), 1);
        h.scan_for(500 * MS);
        h.fake.exec(710, "tar", known(16), &["tar", "x"]);
        let recs = h.scan_for(LATE_EVERY * 10 * MS);
        assert_eq!(execs(&recs).len(), 1, "seen at one of the later, sparser checks: {recs:?}");
        h.scan_for(YOUNG_NS);
        h.fake.exec(710, "gzip", known(17), &["gzip"]);
        assert!(h.scan_for(200 * MS).is_empty(), "no longer followed");
    }

    #[test]
    fn pid_option_keeps_the_tree_with_depths() {
        let mut h = Harness::new(&["-p", "100"], |f| f.spawn(150, 1, 60, "sshd", known(20), &["sshd"]));
        let tick = h.tick();
        h.fake.spawn(800, 100, tick, "make", known(21), &["make"]);
        h.fake.spawn(801, 800, tick, "cc", known(22), &["cc"]);
        h.fake.spawn(802, 150, tick, "other", known(23), &["other"]);
        let recs = h.scan();
        let e = execs(&recs);
        let got: Vec<(u32, Option<u32>)> = e.iter().map(|e| (e.pid, e.depth)).collect();
        assert_eq!(got, [(800, Some(1)), (801, Some(2))], "{recs:?}");
        // The root itself is followed: its exec is seen at any age.
        h.scan_for(3_000 * MS);
        h.fake.exec(100, "zsh", known(24), &["zsh"]);
        let recs = h.scan_for(LATE_EVERY * 10 * MS);
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!((e[0].pid, e[0].depth), (100, Some(0)));
    }

    #[test]
    fn pid_option_needs_a_running_process() {
        let mut fake = Fake::default();
        fake.spawn(1, 0, 1, "init", known(1), &["init"]);
        let err = Tracker::new(kernel(&["-p", "4242"]), &mut fake, 100_000 * MS, TICK, true).err();
        assert!(err.is_some_and(|e| e.to_string() == "-p 4242: no such process"));
    }

    /// The source hands on what /proc says (`-P` and `-u` are the
    /// pipeline's, see filter.rs): the parent and user of each exec and exit.
    #[test]
    fn execs_and_exits_carry_what_proc_says() {
        let mut h = Harness::new(&["-P", "100", "-u", "1000", "-e"], |f| {
            f.spawn(150, 1, 60, "sshd", known(20), &["sshd"]);
        });
        let tick = h.tick();
        h.fake.spawn(900, 100, tick, "a", known(30), &["a"]);
        h.fake.spawn(902, 100, tick, "c", known(32), &["c"]);
        h.fake.procs.get_mut(&902).unwrap().uid = 0;
        let recs = h.scan();
        let got: Vec<(u32, u32, u32)> = execs(&recs).iter().map(|e| (e.pid, e.ppid, e.uid)).collect();
        assert_eq!(got, [(900, 100, 1000), (902, 100, 0)], "{recs:?}");
        for pid in [900, 902] {
            h.fake.reap(pid);
        }
        let recs = h.scan();
        let got: Vec<(u32, u32, Option<u32>)> = exits(&recs).iter().map(|x| (x.pid, x.ppid, x.uid)).collect();
        assert_eq!(got, [(900, 100, Some(1000)), (902, 100, Some(0))]);
    }

    #[test]
    fn kernel_threads_and_halfway_execs() {
        let mut h = Harness::new(&[], |_| {});
        let tick = h.tick();
        h.fake.spawn(1000, 2, tick, "kworker/0:1", Mm::Absent, &[]);
        h.fake.procs.get_mut(&1000).unwrap().seen.kthread = true;
        // No address space yet, not a zombie: an exec setting up.
        h.fake.spawn(1001, 100, tick, "bash", Mm::Absent, &[]);
        h.fake.procs.get_mut(&1001).unwrap().seen.state = b'R';
        assert!(h.scan().is_empty());
        h.fake.exec(1001, "make", known(40), &["make", "all"]);
        let recs = h.scan();
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!(argv(e[0]), ["make", "all"]);
        assert!(h.scan_for(100 * MS).is_empty());
    }

    #[test]
    fn zombie_seen_first_is_reported_only_if_it_execd() {
        let mut h = Harness::new(&[], |_| {});
        let tick = h.tick();
        h.fake.spawn(1100, 100, tick, "true", known(41), &["true"]);
        h.fake.zombie(1100);
        h.fake.fork(1101, 100, tick);
        h.fake.zombie(1101);
        let recs = h.scan();
        let e = execs(&recs);
        assert_eq!(e.len(), 1, "{recs:?}");
        assert_eq!((e[0].pid, e[0].comm.as_slice()), (1100, &b"true"[..]));
        assert!(e[0].flags.args_read_failed && e[0].args.is_empty(), "what a zombie still shows: its name");
    }

    #[test]
    fn without_aslr_names_and_arguments_decide() {
        let mut h = Harness::with_layouts(&[], false, |_| {});
        let tick = h.tick();
        h.fake.fork(1200, 100, tick);
        // Same layout but other arguments: with ASLR off an exec of the
        // same program may keep its layout.
        h.fake.spawn(1201, 100, tick, "bash", known(1), &["bash", "x.sh"]);
        let recs = h.scan();
        assert_eq!(execs(&recs).iter().map(|e| e.pid).collect::<Vec<_>>(), [1201], "{recs:?}");
    }

    #[test]
    fn unreadable_processes_are_listed_never_reported() {
        let mut h = Harness::new(&[], |_| {});
        let tick = h.tick();
        h.fake.spawn(1300, 1, tick, "secret", Mm::Hidden, &["secret"]);
        h.fake.denied.insert(1300);
        assert!(h.scan().is_empty());
        let reads = h.fake.stat_reads;
        assert!(h.scan_for(50 * MS).is_empty());
        assert_eq!(h.fake.stat_reads, reads, "not read again at every scan");
    }

    #[test]
    fn full_table_loses_processes_counted_once() {
        let extra = 3u32;
        let mut h = Harness::new(&[], |f| {
            for pid in 10_000..10_000 + crate::lineage::TABLE_MAX as u32 - 3 + extra {
                f.spawn(pid, 1, 60, "w", known(u64::from(pid)), &["w"]);
            }
        });
        let lost = |recs: &[Record]| -> u64 {
            recs.iter()
                .map(|r| {
                    if let Record::Lost(l) = r {
                        assert_eq!(l.kind, LostKind::ProcTable);
                        l.count
                    } else {
                        0
                    }
                })
                .sum()
        };
        assert_eq!(lost(&h.scan()), u64::from(extra), "not followed at start");
        assert_eq!(lost(&h.scan_for(30 * MS)), 0, "each counted once");
        let tick = h.tick();
        h.fake.spawn(200_000, 100, tick, "new", known(99_999), &["new"]);
        let recs = h.scan();
        assert_eq!((lost(&recs), execs(&recs).len()), (1, 0));
        // Room again: a known process ended.
        h.fake.reap(10_000);
        h.scan();
        let tick = h.tick();
        h.fake.spawn(200_001, 100, tick, "new2", known(99_998), &["new2"]);
        let recs = h.scan();
        assert_eq!((lost(&recs), execs(&recs).len()), (0, 1), "{recs:?}");
    }

    #[test]
    fn follow_list_is_bounded() {
        let mut h = Harness::new(&[], |_| {});
        let tick = h.tick();
        let n = FOLLOW_MAX as u32 + 2;
        for pid in 0..n {
            h.fake.fork(20_000 + pid, 100, tick);
        }
        let recs = h.scan();
        let lost: u64 = recs.iter().map(|r| if let Record::Lost(l) = r { l.count } else { 0 }).sum();
        assert_eq!(lost, 2, "copies that cannot be followed are counted: {recs:?}");
        assert_eq!(h.t.follow.len(), FOLLOW_MAX);
    }

    #[test]
    fn stat_fields() {
        // Readable: code and stack addresses; flags 0x400000 (PF_FORKNOEXEC).
        let own = b"4242 (a) b) S 17 4242 4242 0 -1 4194304 100 0 0 0 12 34 0 0 20 0 1 0 98765 1000 200 \
            18446744073709551615 94000000000000 94000000100000 140720000000000 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 \
            94000000200000 94000000300000 94000001000000 140720000001000 140720000001100 140720000001100 \
            140720000002000 0\n";
        let s = parse_seen(own).unwrap();
        assert_eq!((s.ppid, s.start_ticks, s.state, s.kthread), (17, 98765, b'S', false));
        assert_eq!(s.image.comm, b"a) b");
        assert_eq!(s.image.mm, Mm::Known(Layout { start_code: 94_000_000_000_000, start_stack: 140_720_000_000_000 }));
        // Another user's process: code shown as 1, stack as 0.
        let other = b"1 (cron) S 1 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 18446744073709551615 1 1 0 0 0 0 0 \
            0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        assert_eq!(parse_seen(other).unwrap().image.mm, Mm::Hidden);
        // A kernel thread: PF_KTHREAD, no address space.
        let kthread = b"9 (kworker/0:1-events) I 2 0 0 0 -1 69238880 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 \
            18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let k = parse_seen(kthread).unwrap();
        assert!(k.kthread && k.image.mm == Mm::Absent && !k.unsettled());
        assert!(parse_seen(b"1 (x) S").is_none());
    }

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
