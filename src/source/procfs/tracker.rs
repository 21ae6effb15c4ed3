//! The poller's decisions, free of I/O: what one read of `/proc/PID/stat`
//! tells, and the table of known processes that turns successive scans into
//! exec and exit records (through the [`Procs`] trait, which the real
//! `/proc` or the unit tests' fake implements).

use std::collections::{HashMap, VecDeque};
use std::io;

use super::{EAGER_NS, FOLLOW_MAX, HOLD_SCANS, LATE_EVERY, PF_KTHREAD, PID_LIMIT, RECENT_MAX, YOUNG_NS};
use crate::event::{Exec, Exit, ExitStatus, Lost, LostKind, Record, SourceKind};
use crate::lineage::Lineage;
use crate::source::{KernelFilter, SourceError, proc};

/// Where a process's program and stack are mapped: randomised at every exec
/// (ASLR), shared with its forks until they exec. (The heap start is left
/// out: the kernel randomises it last, after the code start is set, so an
/// exec could be caught with the old one.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Layout {
    start_code: u64,
    start_stack: u64,
}

/// What `/proc/PID/stat` shows of the address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mm {
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
pub(super) struct Image {
    comm: Vec<u8>,
    pub(super) mm: Mm,
    /// A hash of `/proc/PID/cmdline` ([`EMPTY_ARGS`] when empty), read only
    /// when the layout does not decide; `None` when not read or unreadable.
    args: Option<u64>,
}

/// [`Image::args`] of an empty cmdline (no other cmdline hashes to it).
pub(super) const EMPTY_ARGS: u64 = 0;

/// One read of `/proc/PID/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    start_ticks: u64,
    pub(super) ppid: u32,
    state: u8,
    pub(super) kthread: bool,
    pub(super) image: Image,
}

impl Seen {
    fn zombie(&self) -> bool {
        matches!(self.state, b'Z' | b'X')
    }

    /// Halfway through an exec (the new image not set up yet) or through
    /// exiting: no address space, or (where we may not see it) no
    /// arguments yet, while neither a zombie nor a kernel thread. Nothing is
    /// decided on such a read; the next scan looks again.
    pub(super) fn unsettled(&self) -> bool {
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
pub(super) fn parse_seen(buf: &[u8]) -> Option<Seen> {
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
pub(super) enum StatRead {
    Found(Seen),
    /// Gone (exited and reaped) before we read it.
    Gone,
    /// Listed but not readable (`hidepid=1`).
    Denied,
}

/// What the tracker reads. The real one is [`super::sys::RealProcs`]; the
/// tests use fake snapshots.
pub(super) trait Procs {
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
pub(super) struct Tracker {
    /// What is followed and reported (`-p`, exits, depths, the argument cap).
    pub(super) kernel: KernelFilter,
    /// Whether address-space layouts tell execs apart (ASLR is on).
    layouts: bool,
    tick_ns: u64,
    /// The processes known (the lineage table: one bound for every source).
    table: Lineage<Entry>,
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
    pub(super) fn new(
        kernel: KernelFilter,
        procs: &mut dyn Procs,
        now: u64,
        tick_ns: u64,
        layouts: bool,
    ) -> Result<Tracker, SourceError> {
        let mut t = Tracker {
            kernel,
            layouts,
            tick_ns: tick_ns.max(1),
            table: Lineage::new(),
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
            if t.table.is_full() {
                t.count_overflow(pid);
                continue;
            }
            let phase = if seen.kthread { Phase::Kernel } else { Phase::Baseline };
            let started = seen.start_ticks.saturating_mul(t.tick_ns);
            t.insert(pid, ino, &seen, phase, None, true, started);
        }
        if let Some(root) = t.kernel.pid {
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
            if let Some(e) = t.table.get_mut(pid) {
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
        for (&pid, e) in self.table.iter_mut() {
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
        self.kernel.pid.is_some() && e.in_tree
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
        if self.table.is_full() {
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
    pub(super) fn scan(
        &mut self,
        procs: &mut dyn Procs,
        now: u64,
        scan_no: u64,
        out: &mut VecDeque<Record>,
    ) -> io::Result<()> {
        self.generation += 1;
        let generation = self.generation;
        let mut listing = std::mem::take(&mut self.listing);
        procs.list(&mut listing)?;
        let mut fresh: Vec<(u32, u64, Seen)> = Vec::new();
        let mut rechecked: Vec<(u32, Seen)> = Vec::new();
        for &(pid, ino) in &listing {
            if let Some(e) = self.table.get_mut(pid) {
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
            let Some(mut e) = self.table.remove(pid) else { continue };
            unfollowed |= e.follow;
            self.forget_layout(e.image.mm, now);
            if let Some((exec, _)) = e.pending.take() {
                // Gone before its arguments could be read: what we have.
                hand_on(&mut e, *exec, out);
            }
            if let (true, Some(exec_ts)) = (self.kernel.exits, e.reported) {
                out.push_back(Record::Exit(Exit {
                    ts_ns: now,
                    pid,
                    ppid: e.ppid,
                    comm: e.image.comm,
                    exec_ts_ns: exec_ts,
                    start_ts_ns: exec_ts,
                    status: ExitStatus::Unknown,
                    cpu_ns: None,
                    depth: if self.kernel.track { e.depth } else { None },
                    uid: e.uid,
                    source: SourceKind::Procfs,
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
        let Some(e) = self.table.get_mut(pid) else { return };
        e.ppid = s.ppid;
        if s.unsettled() || matches!(e.phase, Phase::Unreadable | Phase::Kernel | Phase::Outside) {
            return;
        }
        if image_changed(&e.image, &s.image, layouts) {
            if let Some((exec, _)) = e.pending.take() {
                // A record still waiting for its arguments, overtaken by the
                // next exec: it goes out as it is.
                hand_on(e, *exec, out);
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
        if self.table.is_full() {
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
        let in_tree = self.kernel.pid.is_none() || parent.is_some_and(|p| p.in_tree);
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
            if let Some(e) = self.table.get_mut(pid) {
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
                if let Some(e) = self.table.get_mut(pid) {
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
        let forever = self.kernel.pid.is_some();
        let table = &mut self.table;
        self.follow.retain(|pid| {
            let Some(e) = table.get_mut(*pid) else { return false };
            if (forever && e.in_tree) || now.saturating_sub(e.first_seen_ns) < YOUNG_NS {
                return true;
            }
            e.follow = false;
            if let Some((exec, _)) = e.pending.take() {
                hand_on(e, *exec, out);
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
        let (cap, track) = (self.kernel.args_cap, self.kernel.track);
        let Some(entry) = self.table.get_mut(pid) else { return };
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
        hand_on(entry, e, out);
    }
}

/// Hand on an exec record of a process in the `-p` tree (the pipeline
/// applies the other filters), and remember it for the process's exit.
fn hand_on(entry: &mut Entry, e: Exec, out: &mut VecDeque<Record>) {
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
pub(super) fn hash_args(area: &[u8], more: bool) -> u64 {
    use std::hash::{Hash, Hasher};
    if area.is_empty() {
        return EMPTY_ARGS;
    }
    let mut h = std::hash::DefaultHasher::new();
    area.hash(&mut h);
    more.hash(&mut h);
    h.finish() | 1
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;
    use crate::event::{ArgsFrom, ExecFlags};

    const MS: u64 = 1_000_000;
    /// Clock ticks of 10 ms, as with USER_HZ 100.
    const TICK: u64 = 10 * MS;

    /// What the sources get for these flags: the trackers read only the
    /// kernel part.
    fn kernel(flags: &[&str]) -> KernelFilter {
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
}
