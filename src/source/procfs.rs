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
//! **Bounds.** At most [`TABLE_MAX`] processes are known at once; each one
//! beyond that is reported once as lost ([`LostKind::ProcTable`]), and so is
//! a fork that could not be followed because [`FOLLOW_MAX`] processes are
//! followed already. `-x` (a failed exec leaves nothing in /proc) and `-c`
//! are refused; `-P` and `-u` are applied to what /proc says when the exec
//! is reported.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::{Applies, Need, Source, SourceError, SourceInfo, proc};
use crate::event::ArgsFrom;
use crate::config::Config;
use crate::event::{Exec, Exit, ExitStatus, Lost, LostKind, Record, SourceKind};

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
/// Processes known at once.
pub const TABLE_MAX: usize = 65536;
/// Processes followed at once.
pub const FOLLOW_MAX: usize = 512;
/// Layouts of processes gone recently, for recognising forks whose parent
/// has ended.
const RECENT_MAX: usize = 1024;
/// The kernel's largest possible pid (`PID_MAX_LIMIT` on 64-bit) + 1.
const PID_LIMIT: u32 = 1 << 22;
/// `PF_KTHREAD` in the flags of `/proc/PID/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

// ---------------------------------------------------------------------------
// What one read of /proc/PID/stat tells us.

/// Where a process's program and stack are mapped: randomised at every exec
/// (ASLR), shared with its forks until they exec. (The heap start is left
/// out: the kernel randomises it last, after the code start is set, so an
/// exec could be caught with the old one.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Layout {
    start_code: u64,
    start_stack: u64,
}

/// What `/proc/PID/stat` shows of the address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mm {
    /// Readable: we may ptrace-read the process.
    Known(Layout),
    /// The process has an address space we may not see.
    Hidden,
    /// No address space: a kernel thread, a zombie, a process exiting, or
    /// one in the middle of an exec.
    Absent,
}

/// The program a process runs, as far as /proc shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Image {
    comm: Vec<u8>,
    mm: Mm,
    /// A hash of `/proc/PID/cmdline` ([`EMPTY_ARGS`] when empty), read only
    /// when the layout does not decide; `None` when not read or unreadable.
    args: Option<u64>,
}

/// [`Image::args`] of an empty cmdline (no other cmdline hashes to it).
const EMPTY_ARGS: u64 = 0;

/// One read of `/proc/PID/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    start_ticks: u64,
    ppid: u32,
    state: u8,
    kthread: bool,
    image: Image,
}

impl Seen {
    fn zombie(&self) -> bool {
        matches!(self.state, b'Z' | b'X')
    }

    /// Halfway through an exec (the new image not set up yet) or through
    /// exiting: no address space, or (where we may not see it) no
    /// arguments yet, while neither a zombie nor a kernel thread. Nothing is
    /// decided on such a read; the next scan looks again.
    fn unsettled(&self) -> bool {
        let empty = self.image.mm == Mm::Absent || (self.image.mm == Mm::Hidden && self.image.args == Some(EMPTY_ARGS));
        empty && !self.zombie() && !self.kthread
    }
}

/// Parse `/proc/PID/stat`: the common fields through [`proc::parse_stat`]
/// (the file is read once here, not through [`proc::read_stat`], because
/// these fields come from the same read), plus the flags and the layout
/// (fields 9, 26, 27 and 28). Without ptrace read access the kernel shows
/// the code addresses as 1 and the stack as 0; with it, an exec still
/// setting up its new image shows a code start of 0 (it is set last).
fn parse_seen(buf: &[u8]) -> Option<Seen> {
    let base = proc::parse_stat(buf)?;
    let close = buf.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(buf.get(close + 1..)?).ok()?;
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let (flags, start_code, end_code, start_stack) = (field(9), field(26), field(27), field(28));
    let mm = if start_code > 1 && start_stack != 0 {
        Mm::Known(Layout { start_code, start_stack })
    } else if start_code == 1 && end_code == 1 {
        Mm::Hidden
    } else {
        Mm::Absent
    };
    Some(Seen {
        start_ticks: base.start_ticks,
        ppid: base.ppid,
        state: base.state,
        kthread: flags & PF_KTHREAD != 0,
        image: Image { comm: base.comm, mm, args: None },
    })
}

/// The result of trying to read a process's stat file.
#[derive(Debug, Clone)]
enum StatRead {
    Found(Seen),
    /// Gone (exited and reaped) before we read it.
    Gone,
    /// Listed but not readable (`hidepid=1`).
    Denied,
}

/// What the tracker reads. The real one is [`RealProcs`]; the tests use
/// fake snapshots.
trait Procs {
    /// Every process in /proc as (pid, inode number of `/proc/PID`).
    fn list(&mut self, out: &mut Vec<(u32, u64)>) -> io::Result<()>;
    /// Read `/proc/PID/stat`.
    fn stat(&mut self, pid: u32) -> StatRead;
    /// A hash of `/proc/PID/cmdline`: [`EMPTY_ARGS`] when empty, `None` when
    /// unreadable.
    fn args_hash(&mut self, pid: u32) -> Option<u64>;
    /// Build the exec record for `pid` from /proc, stamped `ts_ns`.
    fn exec(&mut self, pid: u32, ts_ns: u64, args_cap: u32) -> Exec;
}

// ---------------------------------------------------------------------------
// The decision logic, free of I/O.

/// Where a process stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Running when tracing started: reported only if seen to exec.
    Baseline,
    /// First seen while tracing, still running (as far as we can tell) its
    /// parent's program: not reported yet. `sure`: its layout equals its
    /// parent's (it certainly has not exec'd), or where layouts are hidden,
    /// its name and arguments do; not sure: only the names could be
    /// compared, and it is reported after `HOLD_SCANS` scans.
    Copy { sure: bool, held: u8 },
    /// Exec'd while traced (reported, unless filtered out).
    Execd,
    /// A sure copy that was not seen to exec while followed.
    ForkOnly,
    /// Outside the `-p` tree.
    Outside,
    /// A kernel thread.
    Kernel,
    /// Its stat file is not readable (`hidepid=1`).
    Unreadable,
}

/// One process known to the tracker.
#[derive(Debug, Clone)]
struct Entry {
    ino: u64,
    start_ticks: u64,
    ppid: u32,
    image: Image,
    phase: Phase,
    /// Depth below the `-p` root, or below the first ancestor seen; `None`
    /// for processes that were running when tracing started.
    depth: Option<u32>,
    /// In the `-p` tree (always true without `-p`).
    in_tree: bool,
    /// When first seen (for processes running at start: when they started).
    first_seen_ns: u64,
    /// In the follow list: re-read until old.
    follow: bool,
    /// Timestamp of the last exec record handed on for this process.
    reported: Option<u64>,
    /// Its user, from the last exec record handed on, when /proc said.
    uid: Option<u32>,
    /// An exec record waiting for its arguments (read while the exec was
    /// still setting them up), and how many times it was tried.
    pending: Option<(Box<Exec>, u8)>,
    /// The scan that last listed it.
    generation: u64,
}

/// How a new process compares with its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Execd,
    Copy { sure: bool },
}

/// Pids of processes not known because the table was full, each counted as
/// lost once: one bit per possible pid (512 KiB per map), made on the first
/// overflow.
struct Overflow {
    counted: Vec<u64>,
    listed: Vec<u64>,
}

impl Overflow {
    fn new() -> Overflow {
        let words = (PID_LIMIT / 64) as usize;
        Overflow { counted: vec![0; words], listed: vec![0; words] }
    }

    fn bit(pid: u32) -> Option<(usize, u64)> {
        (pid < PID_LIMIT).then(|| ((pid / 64) as usize, 1u64 << (pid % 64)))
    }

    /// Whether `pid` was counted already (and mark it listed in this scan).
    fn known(&mut self, pid: u32) -> bool {
        let Some((w, b)) = Overflow::bit(pid) else { return false };
        let known = self.counted[w] & b != 0;
        if known {
            self.listed[w] |= b;
        }
        known
    }

    /// Count `pid`; false when it was counted already.
    fn add(&mut self, pid: u32) -> bool {
        let Some((w, b)) = Overflow::bit(pid) else { return true };
        let new = self.counted[w] & b == 0;
        self.counted[w] |= b;
        self.listed[w] |= b;
        new
    }

    /// Forget the pids not listed in this scan (those processes are gone).
    fn end_scan(&mut self) {
        for (c, l) in self.counted.iter_mut().zip(self.listed.iter_mut()) {
            *c &= *l;
            *l = 0;
        }
    }
}

/// The table of processes and the rules applied at each scan.
struct Tracker {
    config: Config,
    /// Whether address-space layouts tell execs apart (ASLR is on).
    layouts: bool,
    tick_ns: u64,
    table: HashMap<u32, Entry>,
    /// Pids with `follow` set.
    follow: Vec<u32>,
    /// How many known processes have each layout.
    images: HashMap<Layout, u32>,
    /// Layouts of processes gone in the last `YOUNG_NS`.
    recent: VecDeque<(Layout, u64)>,
    overflow: Option<Overflow>,
    generation: u64,
    /// Processes not followed since the last loss report.
    lost: u64,
    listing: Vec<(u32, u64)>,
}

impl Tracker {
    /// Take the baseline: every process running now is known and not
    /// reported. Fails when the `-p` process does not exist.
    fn new(
        config: Config,
        procs: &mut dyn Procs,
        now: u64,
        tick_ns: u64,
        layouts: bool,
    ) -> Result<Tracker, SourceError> {
        let mut t = Tracker {
            config,
            layouts,
            tick_ns: tick_ns.max(1),
            table: HashMap::new(),
            follow: Vec::new(),
            images: HashMap::new(),
            recent: VecDeque::new(),
            overflow: None,
            generation: 0,
            lost: 0,
            listing: Vec::new(),
        };
        let mut listing = Vec::new();
        procs.list(&mut listing).map_err(|e| SourceError::Unsupported(format!("cannot list /proc: {e}")))?;
        for &(pid, ino) in &listing {
            let seen = match procs.stat(pid) {
                StatRead::Found(s) => s,
                StatRead::Denied => {
                    t.insert_unreadable(pid, ino, now);
                    continue;
                }
                StatRead::Gone => continue,
            };
            if t.table.len() >= TABLE_MAX {
                t.count_overflow(pid);
                continue;
            }
            let phase = if seen.kthread { Phase::Kernel } else { Phase::Baseline };
            let started = seen.start_ticks.saturating_mul(t.tick_ns);
            t.insert(pid, ino, &seen, phase, None, true, started);
        }
        if let Some(root) = t.config.kernel.pid {
            if !t.table.contains_key(&root) {
                return Err(SourceError::Other(format!("-p {root}: no such process")));
            }
            t.mark_tree(root);
        }
        // Processes that started just before tracing may be forks about to
        // exec: follow the young ones (and, with -p, the whole tree).
        let mut young: Vec<(u64, u32)> = t
            .table
            .iter()
            .filter(|(_, e)| {
                e.phase == Phase::Baseline && (t.follows_forever(e) || now.saturating_sub(e.first_seen_ns) < YOUNG_NS)
            })
            .map(|(&pid, e)| (e.first_seen_ns, pid))
            .collect();
        young.sort_unstable_by(|a, b| b.cmp(a));
        for (_, pid) in young.into_iter().take(FOLLOW_MAX) {
            if let Some(e) = t.table.get_mut(&pid) {
                e.follow = true;
                t.follow.push(pid);
            }
        }
        Ok(t)
    }

    /// With `-p`: mark the root and its descendants, with their depths.
    fn mark_tree(&mut self, root: u32) {
        let parents: HashMap<u32, u32> = self.table.iter().map(|(&p, e)| (p, e.ppid)).collect();
        let limit = self.table.len();
        for (&pid, e) in &mut self.table {
            let (mut cur, mut depth) = (pid, 0u32);
            e.in_tree = false;
            while (depth as usize) <= limit {
                if cur == root {
                    e.in_tree = true;
                    e.depth = Some(depth);
                    break;
                }
                match parents.get(&cur) {
                    Some(&pp) if pp != 0 && pp != cur => {
                        cur = pp;
                        depth += 1;
                    }
                    _ => break,
                }
            }
        }
    }

    fn follows_forever(&self, e: &Entry) -> bool {
        self.config.kernel.pid.is_some() && e.in_tree
    }

    #[allow(clippy::too_many_arguments, reason = "one call site per phase; a struct would only rename them")]
    fn insert(&mut self, pid: u32, ino: u64, s: &Seen, phase: Phase, depth: Option<u32>, in_tree: bool, seen_ns: u64) {
        if let Mm::Known(l) = s.image.mm {
            *self.images.entry(l).or_insert(0) += 1;
        }
        let e = Entry {
            ino,
            start_ticks: s.start_ticks,
            ppid: s.ppid,
            image: s.image.clone(),
            phase,
            depth,
            in_tree,
            first_seen_ns: seen_ns,
            follow: false,
            reported: None,
            uid: None,
            pending: None,
            generation: self.generation,
        };
        self.table.insert(pid, e);
    }

    fn insert_unreadable(&mut self, pid: u32, ino: u64, now: u64) {
        if self.table.len() >= TABLE_MAX {
            self.count_overflow(pid);
            return;
        }
        let s = Seen {
            start_ticks: 0,
            ppid: 0,
            state: b'?',
            kthread: false,
            image: Image { comm: Vec::new(), mm: Mm::Hidden, args: None },
        };
        self.insert(pid, ino, &s, Phase::Unreadable, None, false, now);
    }

    fn count_overflow(&mut self, pid: u32) {
        if self.overflow.get_or_insert_with(Overflow::new).add(pid) {
            self.lost += 1;
        }
    }

    /// Forget a layout; it stays recognisable for `YOUNG_NS`.
    fn forget_layout(&mut self, mm: Mm, now: u64) {
        let Mm::Known(l) = mm else { return };
        if let Some(n) = self.images.get_mut(&l) {
            *n -= 1;
            if *n == 0 {
                self.images.remove(&l);
            }
        }
        if self.recent.len() >= RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back((l, now));
    }

    /// Whether some process known now, or gone recently, has this layout.
    fn layout_known(&self, l: &Layout) -> bool {
        self.images.contains_key(l) || self.recent.iter().any(|(r, _)| r == l)
    }

    /// One scan of /proc at boot time `now`; `scan_no` counts scans.
    fn scan(&mut self, procs: &mut dyn Procs, now: u64, scan_no: u64, out: &mut VecDeque<Record>) -> io::Result<()> {
        self.generation += 1;
        let generation = self.generation;
        let mut listing = std::mem::take(&mut self.listing);
        procs.list(&mut listing)?;
        let mut fresh: Vec<(u32, u64, Seen)> = Vec::new();
        let mut rechecked: Vec<(u32, Seen)> = Vec::new();
        for &(pid, ino) in &listing {
            if let Some(e) = self.table.get_mut(&pid) {
                let due =
                    e.follow && (now.saturating_sub(e.first_seen_ns) < EAGER_NS || scan_no.is_multiple_of(LATE_EVERY));
                if e.ino == ino && !due {
                    e.generation = generation;
                    continue;
                }
                match procs.stat(pid) {
                    StatRead::Found(s) if s.start_ticks == e.start_ticks || e.phase == Phase::Unreadable => {
                        e.ino = ino;
                        e.generation = generation;
                        if e.follow {
                            rechecked.push((pid, s));
                        }
                    }
                    // Another process with the same pid: the old one is
                    // swept below, the new one admitted after that.
                    StatRead::Found(s) => fresh.push((pid, ino, s)),
                    StatRead::Denied => {
                        e.ino = ino;
                        e.generation = generation;
                    }
                    StatRead::Gone => {}
                }
            } else if self.overflow.as_mut().is_some_and(|o| o.known(pid)) {
                continue;
            } else {
                match procs.stat(pid) {
                    StatRead::Found(s) => fresh.push((pid, ino, s)),
                    StatRead::Denied => self.insert_unreadable(pid, ino, now),
                    StatRead::Gone => {}
                }
            }
        }
        self.listing = listing;
        self.sweep(now, out);

        // Fresh reads of every process read in this scan, for comparing
        // new processes with their parents.
        let mut images: HashMap<u32, Option<Seen>> = HashMap::new();
        for (pid, s) in &rechecked {
            images.insert(*pid, Some(s.clone()));
        }
        for (pid, _, s) in &fresh {
            images.insert(*pid, Some(s.clone()));
        }
        for (pid, s) in rechecked {
            self.recheck(pid, &s, procs, now, out);
        }
        self.admit_all(fresh, procs, &mut images, now, out);
        self.age(procs, now, out);
        if let Some(o) = &mut self.overflow {
            o.end_scan();
        }
        while self.recent.front().is_some_and(|&(_, t)| now.saturating_sub(t) >= YOUNG_NS) {
            self.recent.pop_front();
        }
        if self.lost > 0 {
            out.push_back(Record::Lost(Lost { count: self.lost, kind: LostKind::ProcTable, ts_ns: now }));
            self.lost = 0;
        }
        Ok(())
    }

    /// Drop the processes this scan did not list; report the exits of
    /// those whose exec was reported.
    fn sweep(&mut self, now: u64, out: &mut VecDeque<Record>) {
        let generation = self.generation;
        let mut gone: Vec<u32> =
            self.table.iter().filter(|(_, e)| e.generation != generation).map(|(&p, _)| p).collect();
        if gone.is_empty() {
            return;
        }
        gone.sort_unstable();
        let mut unfollowed = false;
        for pid in gone {
            let Some(mut e) = self.table.remove(&pid) else { continue };
            unfollowed |= e.follow;
            self.forget_layout(e.image.mm, now);
            if let Some((exec, _)) = e.pending.take() {
                // Gone before its arguments could be read: what we have.
                hand_on(&self.config, &mut e, *exec, out);
            }
            if let (true, Some(exec_ts)) = (self.config.kernel.exits, e.reported) {
                out.push_back(Record::Exit(Exit {
                    ts_ns: now,
                    pid,
                    ppid: e.ppid,
                    comm: e.image.comm,
                    exec_ts_ns: exec_ts,
                    start_ts_ns: exec_ts,
                    status: ExitStatus::Unknown,
                    cpu_ns: None,
                    depth: if self.config.kernel.track { e.depth } else { None },
                    uid: e.uid,
                    source: SourceKind::PROCFS,
                }));
            }
        }
        if unfollowed {
            let table = &self.table;
            self.follow.retain(|p| table.get(p).is_some_and(|e| e.follow));
        }
    }

    /// A followed process read again: report it if its image changed (it
    /// exec'd), or if it is a name-only copy whose hold has ended.
    fn recheck(&mut self, pid: u32, s: &Seen, procs: &mut dyn Procs, now: u64, out: &mut VecDeque<Record>) {
        let layouts = self.layouts;
        let Some(old_mm) = self.table.get(&pid).map(|e| e.image.mm) else { return };
        let mut s = s.clone();
        if !self.layout_decides(old_mm, s.image.mm) {
            self.look(procs, pid, &mut s);
        }
        let Some(e) = self.table.get_mut(&pid) else { return };
        e.ppid = s.ppid;
        if s.unsettled() || matches!(e.phase, Phase::Unreadable | Phase::Kernel | Phase::Outside) {
            return;
        }
        if image_changed(&e.image, &s.image, layouts) {
            if let Some((exec, _)) = e.pending.take() {
                // A record still waiting for its arguments, overtaken by the
                // next exec: it goes out as it is.
                hand_on(&self.config, e, *exec, out);
            }
            let old = std::mem::replace(&mut e.image, s.image.clone());
            e.phase = Phase::Execd;
            self.forget_layout(old.mm, now);
            if let Mm::Known(l) = s.image.mm {
                *self.images.entry(l).or_insert(0) += 1;
            }
            self.emit(pid, procs, now, !s.zombie(), out);
            return;
        }
        if e.pending.is_some() {
            self.emit(pid, procs, now, !s.zombie(), out);
            return;
        }
        if let (Mm::Known(l), Mm::Hidden | Mm::Absent) = (s.image.mm, e.image.mm) {
            // The layout became visible (or the exec finished setting up)
            // without a change of name: keep it for the next comparison.
            e.image.mm = s.image.mm;
            *self.images.entry(l).or_insert(0) += 1;
        }
        if e.image.args.is_none() {
            e.image.args = s.image.args;
        }
        if let Phase::Copy { sure, held } = &mut e.phase {
            if s.zombie() {
                // Ended without a visible exec.
                e.phase = Phase::ForkOnly;
            } else if !*sure {
                *held += 1;
                if *held >= HOLD_SCANS {
                    e.phase = Phase::Execd;
                    self.emit(pid, procs, now, true, out);
                }
            }
        }
    }

    /// Admit the processes seen for the first time, parents before children.
    fn admit_all(
        &mut self,
        fresh: Vec<(u32, u64, Seen)>,
        procs: &mut dyn Procs,
        images: &mut HashMap<u32, Option<Seen>>,
        now: u64,
        out: &mut VecDeque<Record>,
    ) {
        if fresh.is_empty() {
            return;
        }
        let mut order: Vec<(u64, u32)> = fresh.iter().map(|(p, _, s)| (s.start_ticks, *p)).collect();
        order.sort_unstable();
        let mut pending: HashMap<u32, (u64, Seen)> = fresh.into_iter().map(|(p, i, s)| (p, (i, s))).collect();
        for (_, pid) in order {
            // A parent first seen in the same scan is admitted first.
            let mut chain = vec![pid];
            while let Some(&top) = chain.last() {
                let Some((_, s)) = pending.get(&top) else { break };
                if pending.contains_key(&s.ppid) && !chain.contains(&s.ppid) {
                    chain.push(s.ppid);
                } else {
                    break;
                }
            }
            while let Some(p) = chain.pop() {
                if let Some((ino, s)) = pending.remove(&p) {
                    self.admit(p, ino, &s, procs, images, now, out);
                }
            }
        }
    }

    /// A process seen for the first time.
    #[allow(clippy::too_many_arguments, reason = "the scan's state, passed down")]
    fn admit(
        &mut self,
        pid: u32,
        ino: u64,
        s: &Seen,
        procs: &mut dyn Procs,
        images: &mut HashMap<u32, Option<Seen>>,
        now: u64,
        out: &mut VecDeque<Record>,
    ) {
        if self.table.len() >= TABLE_MAX {
            self.count_overflow(pid);
            return;
        }
        if s.kthread {
            self.insert(pid, ino, s, Phase::Kernel, None, false, now);
            return;
        }
        if s.unsettled() {
            // Halfway through an exec or an exit: decide at the next scan.
            return;
        }
        let parent = self.table.get(&s.ppid);
        let in_tree = self.config.kernel.pid.is_none() || parent.is_some_and(|p| p.in_tree);
        if !in_tree {
            self.insert(pid, ino, s, Phase::Outside, None, false, now);
            return;
        }
        let depth = Some(parent.and_then(|p| p.depth).map_or(0, |d| d + 1));
        let ppid = s.ppid;
        let mut parent_seen = images
            .entry(ppid)
            .or_insert_with(|| match procs.stat(ppid) {
                StatRead::Found(p) => Some(p),
                _ => None,
            })
            .clone();
        let mut s = s.clone();
        if !self.layout_decides(s.image.mm, parent_seen.as_ref().map_or(Mm::Absent, |p| p.image.mm)) {
            // Names and arguments decide: read them for both.
            self.look(procs, pid, &mut s);
            if let Some(p) = &mut parent_seen {
                self.look(procs, ppid, p);
                images.insert(ppid, Some(p.clone()));
            }
            if s.unsettled() {
                return;
            }
        }
        let s = &s;
        let class = self.classify(&s.image, parent_seen.as_ref().map(|p| &p.image));
        let phase = match class {
            Class::Execd => Phase::Execd,
            // Ended before we saw an exec: nothing to report.
            Class::Copy { .. } if s.zombie() => Phase::ForkOnly,
            Class::Copy { sure } => Phase::Copy { sure, held: 0 },
        };
        self.insert(pid, ino, s, phase, depth, true, now);
        let wants_follow = !s.zombie();
        let followed = wants_follow && self.follow.len() < FOLLOW_MAX;
        if followed {
            if let Some(e) = self.table.get_mut(&pid) {
                e.follow = true;
            }
            self.follow.push(pid);
        }
        match phase {
            Phase::Execd => self.emit(pid, procs, now, !s.zombie(), out),
            Phase::Copy { sure: true, .. } if !followed => {
                // Its exec, if any, would never be seen.
                self.lost += 1;
            }
            Phase::Copy { sure: false, .. } if !followed => {
                if let Some(e) = self.table.get_mut(&pid) {
                    e.phase = Phase::Execd;
                }
                self.emit(pid, procs, now, false, out);
            }
            _ => {}
        }
    }

    /// Whether two reads can be compared by layout alone.
    fn layout_decides(&self, a: Mm, b: Mm) -> bool {
        self.layouts && matches!((a, b), (Mm::Known(_), Mm::Known(_)))
    }

    /// Add the hash of the arguments to a read of a live process's stat.
    fn look(&self, procs: &mut dyn Procs, pid: u32, s: &mut Seen) {
        if s.image.args.is_none() && !s.zombie() && !s.kthread {
            s.image.args = procs.args_hash(pid);
        }
    }

    /// Has a new process exec'd, or is it still a copy of its parent? By
    /// layout where both are visible (or the child's is that of another
    /// process known); else by name, then by arguments.
    fn classify(&self, child: &Image, parent: Option<&Image>) -> Class {
        if self.layouts
            && let Mm::Known(k) = child.mm
        {
            if let Some(Image { mm: Mm::Known(pk), .. }) = parent {
                if k == *pk || self.layout_known(&k) {
                    return Class::Copy { sure: true };
                }
                // A readable parent with another layout: a new image.
                return Class::Execd;
            }
            if self.layout_known(&k) {
                return Class::Copy { sure: true };
            }
        }
        let Some(p) = parent else { return Class::Execd };
        if p.comm != child.comm {
            return Class::Execd;
        }
        match (child.args, p.args) {
            (Some(a), Some(b)) if a == b => Class::Copy { sure: true },
            // The same program with other arguments.
            (Some(_), Some(_)) => Class::Execd,
            _ => Class::Copy { sure: false },
        }
    }

    /// Stop following processes that are old: a name-only copy still held
    /// then is reported as it is, a record still waiting for its arguments
    /// goes out as it is, a sure copy becomes a fork-only child.
    fn age(&mut self, procs: &mut dyn Procs, now: u64, out: &mut VecDeque<Record>) {
        let mut due: Vec<u32> = Vec::new();
        let forever = self.config.kernel.pid.is_some();
        let (table, config) = (&mut self.table, &self.config);
        self.follow.retain(|pid| {
            let Some(e) = table.get_mut(pid) else { return false };
            if (forever && e.in_tree) || now.saturating_sub(e.first_seen_ns) < YOUNG_NS {
                return true;
            }
            e.follow = false;
            if let Some((exec, _)) = e.pending.take() {
                hand_on(config, e, *exec, out);
            }
            match e.phase {
                Phase::Copy { sure: true, .. } => e.phase = Phase::ForkOnly,
                Phase::Copy { sure: false, .. } => {
                    e.phase = Phase::Execd;
                    due.push(*pid);
                }
                _ => {}
            }
            false
        });
        for pid in due {
            self.emit(pid, procs, now, false, out);
        }
    }

    /// Build the exec record of `pid`, observed at `now`, and hand it on.
    /// `may_wait`: the process is alive and no zombie, so arguments that
    /// cannot be read mean its exec is still putting them in place (the
    /// kernel sets the new name first); the record then waits for the next
    /// scan, at most [`HOLD_SCANS`] times, keeping its timestamp, and goes
    /// out as it is after that or when the process ends first.
    fn emit(&mut self, pid: u32, procs: &mut dyn Procs, now: u64, may_wait: bool, out: &mut VecDeque<Record>) {
        let (cap, track) = (self.config.kernel.args_cap, self.config.kernel.track);
        let Some(entry) = self.table.get_mut(&pid) else { return };
        let (ts, tries) = entry.pending.take().map_or((now, 0), |(e, n)| (e.ts_ns, n));
        let mut e = procs.exec(pid, ts, cap);
        // Gone since we read its stat: keep what that read said.
        if e.comm.is_empty() {
            e.comm = entry.image.comm.clone();
        }
        if e.ppid == 0 {
            e.ppid = entry.ppid;
        }
        e.depth = if track { entry.depth } else { None };
        // The name as read for the record, after the arguments we compared:
        // a stat read just before the exec and an arguments read just after
        // it would otherwise leave the old name, and the next read would
        // report the same exec again.
        entry.image.comm.clone_from(&e.comm);
        if may_wait && entry.follow && e.flags.args_read_failed && tries < HOLD_SCANS {
            entry.pending = Some((Box::new(e), tries + 1));
            return;
        }
        hand_on(&self.config, entry, e, out);
    }
}

/// Hand on an exec record of a process in the `-p` tree (the pipeline
/// applies the other filters), and remember it for the process's exit.
fn hand_on(config: &Config, entry: &mut Entry, e: Exec, out: &mut VecDeque<Record>) {
    let _ = config;
    if entry.in_tree {
        entry.reported = Some(e.ts_ns);
        entry.uid = (e.uid != u32::MAX).then_some(e.uid);
        out.push_back(Record::Exec(e));
    }
}

/// Whether a followed process runs another program than when last read.
fn image_changed(old: &Image, new: &Image, layouts: bool) -> bool {
    if layouts && let (Mm::Known(a), Mm::Known(b)) = (old.mm, new.mm) {
        // The layout decides: a renamed fork (prctl) is no exec, and an exec
        // of the same program gets a new layout.
        return a != b;
    }
    old.comm != new.comm || matches!((old.args, new.args), (Some(a), Some(b)) if a != b)
}

/// The value of [`Image::args`] for a cmdline (its first bytes, and
/// whether there were more).
fn hash_args(area: &[u8], more: bool) -> u64 {
    use std::hash::{Hash, Hasher};
    if area.is_empty() {
        return EMPTY_ARGS;
    }
    let mut h = std::hash::DefaultHasher::new();
    area.hash(&mut h);
    more.hash(&mut h);
    h.finish() | 1
}

// ---------------------------------------------------------------------------
// Reading the real /proc.

/// The real /proc: a directory fd listed with getdents64, and stat files.
struct RealProcs {
    dir: File,
    dents: Vec<u8>,
    path: String,
    buf: Vec<u8>,
}

impl RealProcs {
    fn open() -> io::Result<RealProcs> {
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
        proc::exec_from_proc(pid, ts_ns, SourceKind::PROCFS, None, None, args_cap)
    }
}

/// Append the numeric entries of a getdents64 buffer as (pid, inode).
/// Layout of each record: u64 inode, i64 offset, u16 record length, u8
/// type, then the NUL-terminated name.
fn parse_dirents(buf: &[u8], out: &mut Vec<(u32, u64)>) {
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

use crate::clock::boot_ns as boottime_ns;

/// CPU time used by this thread so far (0 if unreadable: then every scan
/// looks free, and the interval stays the shortest).
fn thread_cpu() -> Duration {
    Duration::from_nanos(crate::clock::ns(libc::CLOCK_THREAD_CPUTIME_ID))
}

/// Nanoseconds per clock tick (the unit of start times in /proc).
fn tick_ns() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    1_000_000_000 / if hz > 0 { hz as u64 } else { 100 }
}

/// Whether exec'd programs get randomised layouts. Unknown counts as no:
/// a wrong yes could hide an exec, a wrong no only shows stale copies.
fn aslr_on() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/randomize_va_space").is_ok_and(|s| s.trim() != "0")
}

/// A nonblocking periodic timer on CLOCK_MONOTONIC.
fn timerfd(interval: Duration) -> io::Result<OwnedFd> {
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
fn set_timer(fd: BorrowedFd<'_>, interval: Duration) -> io::Result<()> {
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
fn read_timer(fd: BorrowedFd<'_>) -> u64 {
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
fn choose_interval(procs: &mut RealProcs) -> Duration {
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

// ---------------------------------------------------------------------------
// The source.

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
    ],
    poll: Duration::from_millis(50),
    open: |config| Ok(Box::new(ProcfsSource::open(config)?)),
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
    pub fn open(config: &Config) -> Result<ProcfsSource, SourceError> {
        let mut procs = RealProcs::open().map_err(|e| SourceError::Unsupported(format!("cannot open /proc: {e}")))?;
        let tracker = Tracker::new(config.clone(), &mut procs, boottime_ns(), tick_ns(), aslr_on())?;
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
        if self.tracker.config.kernel.exits {
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
    use std::collections::{BTreeMap, HashSet};

    use super::*;
    use crate::event::{ArgsFrom, ExecFlags};

    const MS: u64 = 1_000_000;
    /// Clock ticks of 10 ms, as with USER_HZ 100.
    const TICK: u64 = 10 * MS;

    use crate::config::for_tests as config;

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
                source: SourceKind::PROCFS,
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
            let t = Tracker::new(config(flags), &mut fake, now, TICK, layouts).expect("baseline");
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
            source: SourceKind::PROCFS,
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
        let err = Tracker::new(config(&["-p", "4242"]), &mut fake, 100_000 * MS, TICK, true).err();
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
            for pid in 10_000..10_000 + TABLE_MAX as u32 - 3 + extra {
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
