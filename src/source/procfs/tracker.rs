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
    pub(super) start_code: u64,
    pub(super) start_stack: u64,
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
    pub(super) comm: Vec<u8>,
    pub(super) mm: Mm,
    /// A hash of `/proc/PID/cmdline` ([`EMPTY_ARGS`] when empty), read only
    /// when the layout does not decide; `None` when not read or unreadable.
    pub(super) args: Option<u64>,
}

/// [`Image::args`] of an empty cmdline (no other cmdline hashes to it).
pub(super) const EMPTY_ARGS: u64 = 0;

/// One read of `/proc/PID/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    pub(super) start_ticks: u64,
    pub(super) ppid: u32,
    pub(super) state: u8,
    pub(super) kthread: bool,
    pub(super) image: Image,
}

impl Seen {
    pub(super) fn zombie(&self) -> bool {
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
pub(super) enum Phase {
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
pub(super) struct Entry {
    pub(super) ino: u64,
    pub(super) start_ticks: u64,
    pub(super) ppid: u32,
    pub(super) image: Image,
    pub(super) phase: Phase,
    /// Depth below the `-p` root, or below the first ancestor seen; `None`
    /// for processes that were running when tracing started.
    pub(super) depth: Option<u32>,
    /// In the `-p` tree (always true without `-p`).
    pub(super) in_tree: bool,
    /// When first seen (for processes running at start: when they started).
    pub(super) first_seen_ns: u64,
    /// In the follow list: re-read until old.
    pub(super) follow: bool,
    /// Timestamp of the last exec record handed on for this process.
    pub(super) reported: Option<u64>,
    /// Its user, from the last exec record handed on, when /proc said.
    pub(super) uid: Option<u32>,
    /// An exec record waiting for its arguments (read while the exec was
    /// still setting them up), and how many times it was tried.
    pub(super) pending: Option<(Box<Exec>, u8)>,
    /// The scan that last listed it.
    pub(super) generation: u64,
}

/// How a new process compares with its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Execd,
    Copy { sure: bool },
}

/// Pids of processes not known because the table was full, each counted as
/// lost once: one bit per possible pid (512 KiB per map), made on the first
/// overflow.
pub(super) struct Overflow {
    pub(super) counted: Vec<u64>,
    pub(super) listed: Vec<u64>,
}

impl Overflow {
    pub(super) fn new() -> Overflow {
        let words = (PID_LIMIT / 64) as usize;
        Overflow { counted: vec![0; words], listed: vec![0; words] }
    }

    pub(super) fn bit(pid: u32) -> Option<(usize, u64)> {
        (pid < PID_LIMIT).then(|| ((pid / 64) as usize, 1u64 << (pid % 64)))
    }

    /// Whether `pid` was counted already (and mark it listed in this scan).
    pub(super) fn known(&mut self, pid: u32) -> bool {
        let Some((w, b)) = Overflow::bit(pid) else { return false };
        let known = self.counted[w] & b != 0;
        if known {
            self.listed[w] |= b;
        }
        known
    }

    /// Count `pid`; false when it was counted already.
    pub(super) fn add(&mut self, pid: u32) -> bool {
        let Some((w, b)) = Overflow::bit(pid) else { return true };
        let new = self.counted[w] & b == 0;
        self.counted[w] |= b;
        self.listed[w] |= b;
        new
    }

    /// Forget the pids not listed in this scan (those processes are gone).
    pub(super) fn end_scan(&mut self) {
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
    pub(super) layouts: bool,
    pub(super) tick_ns: u64,
    /// The processes known (the lineage table: one bound for every source).
    pub(super) table: Lineage<Entry>,
    /// Pids with `follow` set.
    pub(super) follow: Vec<u32>,
    /// How many known processes have each layout.
    pub(super) images: HashMap<Layout, u32>,
    /// Layouts of processes gone in the last `YOUNG_NS`.
    pub(super) recent: VecDeque<(Layout, u64)>,
    pub(super) overflow: Option<Overflow>,
    pub(super) generation: u64,
    /// Processes not followed since the last loss report.
    pub(super) lost: u64,
    pub(super) listing: Vec<(u32, u64)>,
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
    pub(super) fn mark_tree(&mut self, root: u32) {
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

    pub(super) fn follows_forever(&self, e: &Entry) -> bool {
        self.kernel.pid.is_some() && e.in_tree
    }

    #[allow(clippy::too_many_arguments, reason = "one call site per phase; a struct would only rename them")]
    pub(super) fn insert(
        &mut self,
        pid: u32,
        ino: u64,
        s: &Seen,
        phase: Phase,
        depth: Option<u32>,
        in_tree: bool,
        seen_ns: u64,
    ) {
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

    pub(super) fn insert_unreadable(&mut self, pid: u32, ino: u64, now: u64) {
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

    pub(super) fn count_overflow(&mut self, pid: u32) {
        if self.overflow.get_or_insert_with(Overflow::new).add(pid) {
            self.lost += 1;
        }
    }

    /// Forget a layout; it stays recognisable for `YOUNG_NS`.
    pub(super) fn forget_layout(&mut self, mm: Mm, now: u64) {
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
    pub(super) fn layout_known(&self, l: &Layout) -> bool {
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
    pub(super) fn sweep(&mut self, now: u64, out: &mut VecDeque<Record>) {
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
    pub(super) fn recheck(&mut self, pid: u32, s: &Seen, procs: &mut dyn Procs, now: u64, out: &mut VecDeque<Record>) {
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
    pub(super) fn admit_all(
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
    pub(super) fn admit(
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
    pub(super) fn layout_decides(&self, a: Mm, b: Mm) -> bool {
        self.layouts && matches!((a, b), (Mm::Known(_), Mm::Known(_)))
    }

    /// Add the hash of the arguments to a read of a live process's stat.
    pub(super) fn look(&self, procs: &mut dyn Procs, pid: u32, s: &mut Seen) {
        if s.image.args.is_none() && !s.zombie() && !s.kthread {
            s.image.args = procs.args_hash(pid);
        }
    }

    /// Has a new process exec'd, or is it still a copy of its parent? By
    /// layout where both are visible (or the child's is that of another
    /// process known); else by name, then by arguments.
    pub(super) fn classify(&self, child: &Image, parent: Option<&Image>) -> Class {
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
    pub(super) fn age(&mut self, procs: &mut dyn Procs, now: u64, out: &mut VecDeque<Record>) {
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
    pub(super) fn emit(
        &mut self,
        pid: u32,
        procs: &mut dyn Procs,
        now: u64,
        may_wait: bool,
        out: &mut VecDeque<Record>,
    ) {
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
pub(super) fn hand_on(entry: &mut Entry, e: Exec, out: &mut VecDeque<Record>) {
    if entry.in_tree {
        entry.reported = Some(e.ts_ns);
        entry.uid = (e.uid != u32::MAX).then_some(e.uid);
        out.push_back(Record::Exec(e));
    }
}

/// Whether a followed process runs another program than when last read.
pub(super) fn image_changed(old: &Image, new: &Image, layouts: bool) -> bool {
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
