//! Trace lines to records: joins probe lines to exec events and exits to
//! execs, and keeps the process table (`-p`, depth, parents of processes
//! gone before /proc is read).
//!
//! It also puts back together the events a newline in a task name cut into
//! lines (anyone can name a process so, with `prctl(PR_SET_NAME)` or the
//! name of the file they run): the header's task name, a fork's two names
//! or an exit's name. A line that starts one of our events but whose body
//! does not parse, or a short fragment that can be the start of a header's
//! task name, is held, and the lines after it are joined to it, up to
//! [`JOIN_LINES_MAX`] lines and [`JOIN_BYTES_MAX`] bytes, until the whole
//! parses. A line that parses as one of our events by itself is never
//! joined to what is held: it is an event of its own (a name's 15 bytes
//! cannot make one up), and what was held is counted as malformed. File
//! names and arguments with a newline never reach these lines (see the
//! module documentation of [`super`]).

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::path::Path;

use super::PENDING_MAX;
use super::parse::{self, ExecFields, ExitFields, ForkFields, Header, Line, ProbeFields};
use crate::event::{ArgsFrom, Exec, ExecFlags, Exit, ExitStatus, Record, SourceKind};
use crate::lineage::{Lineage, TABLE_MAX, child_depth};
use crate::source::{KernelFilter, proc};

/// Lines one event can be cut into by newlines in task names, at most (a
/// fork line carries two names of up to 15 bytes).
pub(super) const JOIN_LINES_MAX: u32 = 31;

/// Bytes that may be joined to the start of a cut event, at most: what
/// follows a name in the longest body (a fork's ` pid=N child_comm=NAME
/// child_pid=N`), with room to spare.
pub(super) const JOIN_BYTES_MAX: usize = 160;

/// CLOCK_BOOTTIME minus CLOCK_MONOTONIC: the time spent suspended.
pub(super) fn boot_minus_mono() -> i64 {
    i64::try_from(crate::clock::boot_minus_mono()).unwrap_or(0)
}

/// A process being followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Proc {
    pub(super) depth: u32,
    /// Parent process id, as last known.
    pub(super) ppid: u32,
    /// Timestamp of its exec while traced; 0 if none.
    pub(super) exec_ts: u64,
    /// Its exec, else its fork; 0 if it was there before tracing started.
    pub(super) start_ts: u64,
    /// A thread, not a process (found when seeding `-p` on a kernel without
    /// the tgid column): its end is not a process exit.
    pub(super) thread: bool,
}

/// Turns trace lines into records: joins probe lines to exec events and
/// exits to execs, and keeps the process table.
pub(super) struct Tracker {
    /// What is followed and reported (`-p`, forks and exits, the argument cap).
    pub(super) kernel: KernelFilter,
    /// Added to every trace timestamp to make it boot time.
    pub(super) clock_offset: i64,
    /// The lines carry a `(TGID)` column.
    pub(super) tgid_column: bool,
    /// The processes followed (one bound, the untracked count: the lineage table).
    pub(super) table: Lineage<Proc>,
    /// Probe lines by calling thread, in arrival order for eviction.
    pub(super) pending: HashMap<u32, ProbeFields>,
    pub(super) pending_order: VecDeque<u32>,
    /// Lines that could not be parsed.
    pub(super) malformed: u64,
    pub(super) last_ts: u64,
    /// Per pid, the exec events in the batch being handled that are not
    /// handled yet: while one is left, /proc already shows a later program.
    pub(super) execs_ahead: HashMap<u32, u32>,
    /// When processes are not followed: the parent of each process forked
    /// while tracing, until it execs (oldest evicted beyond [`PENDING_MAX`]),
    /// for an exec whose /proc entry is already gone.
    pub(super) forked: HashMap<u32, u32>,
    pub(super) forked_order: VecDeque<u32>,
    /// The start of an event a newline cut (see the module documentation),
    /// how many lines it is so far and how long its first line was.
    pub(super) held: Vec<u8>,
    pub(super) held_lines: u32,
    pub(super) held_first: usize,
    /// What is held is a whole line that starts one of our events (not
    /// just a fragment that may start a task name).
    pub(super) held_event: bool,
}

impl Tracker {
    pub(super) fn new(kernel: &KernelFilter, clock_offset: i64, tgid_column: bool) -> Tracker {
        Tracker {
            kernel: kernel.clone(),
            clock_offset,
            tgid_column,
            table: Lineage::new(),
            pending: HashMap::new(),
            pending_order: VecDeque::new(),
            malformed: 0,
            last_ts: 0,
            execs_ahead: HashMap::new(),
            forked: HashMap::new(),
            forked_order: VecDeque::new(),
            held: Vec::new(),
            held_lines: 0,
            held_first: 0,
            held_event: false,
        }
    }

    /// `-p`: the process `root` and its descendants now, from /proc, with
    /// their threads when the trace lines will not say which process a
    /// thread belongs to.
    pub(super) fn seed_tree(&mut self, root: u32, with_threads: bool) {
        for m in proc::descendants(root, TABLE_MAX).unwrap_or_default() {
            let p = Proc { depth: m.depth, ppid: m.ppid, exec_ts: 0, start_ts: 0, thread: false };
            if !self.insert(m.pid, p) {
                continue;
            }
            if with_threads && let Ok(tasks) = fs::read_dir(format!("/proc/{}/task", m.pid)) {
                for tid in tasks.flatten().filter_map(|t| t.file_name().to_str().and_then(|s| s.parse::<u32>().ok())) {
                    if tid != m.pid {
                        self.insert(tid, Proc { thread: true, ..p });
                    }
                }
            }
        }
    }

    /// Add or replace an entry; false (and counted) when the table is full.
    pub(super) fn insert(&mut self, pid: u32, p: Proc) -> bool {
        self.table.insert(pid, p)
    }

    pub(super) fn ts(&mut self, raw: u64) -> u64 {
        let ts = raw.saturating_add_signed(self.clock_offset);
        self.last_ts = self.last_ts.max(ts);
        ts
    }

    /// A boot-clock timestamp for loss notices, never before the last record.
    pub(super) fn now_ts(&self) -> u64 {
        crate::clock::boot_ns().max(self.last_ts)
    }

    /// Count the exec events per pid in a batch of lines about to be handled.
    pub(super) fn look_ahead(&mut self, batch: &[u8]) {
        self.execs_ahead.clear();
        for line in batch.split(|&b| b == b'\n') {
            if let Line::Event(h, body) = parse::parse_line(line)
                && h.event == b"sched_process_exec"
                && let Some(f) = parse::parse_exec(body)
            {
                *self.execs_ahead.entry(f.pid).or_default() += 1;
            }
        }
    }

    /// One line of `trace_pipe`: at most one record (see the module
    /// documentation for lines that a newline in a task name cut).
    pub(super) fn line(&mut self, line: &[u8]) -> Option<Record> {
        let starts_event = starts_our_event(line);
        if self.held_lines > 0 {
            // A line that starts one of our events is an event of its own (a
            // name's 15 bytes cannot make up such a header), and the kernel
            // writes a lost-events line only between events: either ends
            // what is held.
            if starts_event || matches!(parse::parse_line(line), Line::Lost { .. }) {
                self.drop_held(starts_event);
            } else {
                let mut joined = std::mem::take(&mut self.held);
                joined.push(b'\n');
                joined.extend_from_slice(line);
                if is_whole(&joined) {
                    self.held_lines = 0;
                    return self.one(&joined);
                }
                if !self.held_event && starts_our_event(&joined) {
                    // The fragment was the start of a header's task name,
                    // and the event's body was cut too.
                    self.held_event = true;
                    self.held_first = joined.len();
                }
                let room = if self.held_event { JOIN_BYTES_MAX } else { parse::COMM_MAX + 1 };
                self.held = joined;
                self.held_lines += 1;
                if self.held_lines > JOIN_LINES_MAX || self.held.len() - self.held_first > room {
                    self.drop_held(false);
                }
                return None;
            }
        }
        if !is_whole(line) && could_be_cut(line) {
            self.held = line.to_vec();
            self.held_lines = 1;
            self.held_first = line.len();
            self.held_event = starts_event;
            return None;
        }
        self.one(line)
    }

    /// Forget what is held: counted as malformed, except a fragment that
    /// was the start of the task name of the event that follows it.
    pub(super) fn drop_held(&mut self, event_follows: bool) {
        if self.held_lines > 0 && (self.held_event || !event_follows) {
            self.malformed += u64::from(self.held_lines);
        }
        self.held.clear();
        self.held_lines = 0;
    }

    /// One complete line.
    fn one(&mut self, line: &[u8]) -> Option<Record> {
        let (h, body) = match parse::parse_line(line) {
            Line::Event(h, body) => (h, body),
            // Counted by the per-CPU stats already.
            Line::Lost { .. } | Line::Blank => return None,
            Line::Malformed => {
                self.malformed += 1;
                return None;
            }
        };
        let parsed = match h.event {
            b"sched_process_exec" => parse::parse_exec(body).map(|f| self.on_exec(&h, f)),
            b"sched_process_fork" => parse::parse_fork(body).map(|f| self.on_fork(&h, f)),
            b"sched_process_exit" => parse::parse_exit(body).map(|f| self.on_exit(&h, f)),
            ev if is_probe_event(ev) => parse::parse_probe(body).map(|p| self.on_probe(&h, p)),
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            self.malformed += 1;
            None
        })
    }

    pub(super) fn on_probe(&mut self, h: &Header<'_>, p: ProbeFields) -> Option<Record> {
        if self.pending.len() >= PENDING_MAX
            && let Some(old) = self.pending_order.pop_front()
        {
            self.pending.remove(&old);
        }
        if self.pending.insert(h.pid, p).is_none() {
            self.pending_order.push_back(h.pid);
        }
        None
    }

    pub(super) fn on_exec(&mut self, h: &Header<'_>, f: ExecFields<'_>) -> Option<Record> {
        let ts = self.ts(h.ts_ns);
        let probe = self.pending.remove(&f.old_pid);
        if probe.is_some() {
            self.pending_order.retain(|&t| t != f.old_pid);
        }
        if f.old_pid != f.pid {
            // A thread exec'd and took over the process id.
            self.table.remove(f.old_pid);
        }
        let known = self.table.get(&f.pid).copied();
        let track = self.kernel.track;
        if track && known.is_none() && self.kernel.pid.is_some() {
            return None;
        }

        // The same process exec'd again later in this batch: what /proc
        // shows now belongs to that later program, not to this one.
        let superseded = self.execs_ahead.get_mut(&f.pid).is_some_and(|n| {
            *n = n.saturating_sub(1);
            *n > 0
        });

        let cap = self.kernel.args_cap;
        let mut e = proc::exec_from_proc(f.pid, ts, SourceKind::Ftrace, None, Some(f.filename), cap);
        e.old_pid = f.old_pid;
        if superseded {
            e.args.clear();
            e.args_size = 0;
            e.flags = ExecFlags { args_read_failed: true, ..ExecFlags::default() };
            e.comm.clear();
        }
        if e.comm.is_empty() {
            e.comm = parse::comm_from_filename(f.filename);
        }
        let forked = self.forked.remove(&f.pid);
        if forked.is_some() {
            self.forked_order.retain(|&p| p != f.pid);
        }
        if e.ppid == 0
            && let Some(ppid) = known.map(|k| k.ppid).or(forked)
        {
            e.ppid = ppid;
            e.pcomm = proc::read_comm(ppid).unwrap_or_default();
        }
        if let Some(p) = probe
            && !(p.args.is_empty() && p.read_failed)
        {
            apply_probe(&mut e, p, cap);
        }
        if track {
            // Not seen before: one below its parent if that is followed.
            let depth = known.map_or_else(|| child_depth(self.table.get(&e.ppid).map(|p| p.depth)), |k| k.depth);
            e.depth = Some(depth);
            let p = Proc { depth, ppid: e.ppid, exec_ts: ts, start_ts: ts, thread: false };
            self.insert(f.pid, p);
        }
        Some(Record::Exec(e))
    }

    pub(super) fn on_fork(&mut self, h: &Header<'_>, f: ForkFields<'_>) -> Option<Record> {
        let ts = self.ts(h.ts_ns);
        let parent = h.tgid.unwrap_or(f.parent_pid);
        if !self.kernel.track {
            if h.tgid.is_some() && f.child_pid != 0 {
                if self.forked.len() >= PENDING_MAX
                    && let Some(old) = self.forked_order.pop_front()
                {
                    self.forked.remove(&old);
                }
                if self.forked.insert(f.child_pid, parent).is_none() {
                    self.forked_order.push_back(f.child_pid);
                }
            }
            return None;
        }
        let known = self.table.get(&parent).or_else(|| self.table.get(&f.parent_pid)).copied();
        if known.is_none() && self.kernel.pid.is_some() {
            return None;
        }
        // Without the tgid column a new thread looks like a new process: ask
        // /proc (only old kernels get here).
        if h.tgid.is_none() && !self.tgid_column && is_thread_of(f.parent_pid, f.child_pid) {
            return None;
        }
        let depth = child_depth(known.map(|p| p.depth));
        self.insert(f.child_pid, Proc { depth, ppid: parent, exec_ts: 0, start_ts: ts, thread: false });
        None
    }

    pub(super) fn on_exit(&mut self, h: &Header<'_>, f: ExitFields<'_>) -> Option<Record> {
        let ts = self.ts(h.ts_ns);
        if !self.kernel.track {
            return None;
        }
        // Which process ended, if any, and which thread's entry to forget.
        let (ended, thread) = match (h.tgid, f.group_dead) {
            (Some(t), Some(true)) => (Some(t), (f.pid != t).then_some(f.pid)),
            (Some(t), None) if f.pid == t => (Some(t), None),
            (Some(t), _) => (None, (f.pid != t).then_some(f.pid)),
            (None, Some(false)) => (None, None),
            (None, _) => (Some(f.pid), None),
        };
        if let Some(t) = thread {
            self.table.remove(t);
        }
        let pid = ended?;
        let p = self.table.remove(pid)?;
        if p.thread || !self.kernel.exits {
            return None;
        }
        Some(Record::Exit(Exit {
            ts_ns: ts,
            pid,
            ppid: p.ppid,
            comm: f.comm.to_vec(),
            exec_ts_ns: p.exec_ts,
            start_ts_ns: p.start_ts,
            status: ExitStatus::Unknown,
            cpu_ns: None,
            depth: Some(p.depth),
            uid: None,
            source: SourceKind::Ftrace,
        }))
    }
}

/// Our probe events print as `execve:` (or `<group>/execve:`).
pub(super) fn is_probe_event(ev: &[u8]) -> bool {
    let name = ev.rsplit(|&b| b == b'/').next().unwrap_or(ev);
    parse::is_our_event(ev) && (name == b"execve" || name == b"execveat")
}

/// Whether `line` is one of our events, header and body.
pub(super) fn is_whole(line: &[u8]) -> bool {
    let Line::Event(h, body) = parse::parse_line(line) else { return false };
    match h.event {
        b"sched_process_exec" => parse::parse_exec(body).is_some(),
        b"sched_process_fork" => parse::parse_fork(body).is_some(),
        b"sched_process_exit" => parse::parse_exit(body).is_some(),
        ev if is_probe_event(ev) => parse::parse_probe(body).is_some(),
        _ => false,
    }
}

/// Whether `line`, not whole, may be the start of an event that a newline
/// in a task name cut: one of our events whose body stops short, or a
/// fragment no longer than a header's task name (padded to 16 columns).
pub(super) fn could_be_cut(line: &[u8]) -> bool {
    match parse::parse_line(line) {
        Line::Event(h, _) => parse::is_our_event(h.event),
        Line::Malformed => line.len() <= 16,
        Line::Blank | Line::Lost { .. } => false,
    }
}

/// Whether `line` has the header of one of our events.
fn starts_our_event(line: &[u8]) -> bool {
    matches!(parse::parse_line(line), Line::Event(h, _) if parse::is_our_event(h.event))
}

/// Whether `child` is a thread of the process `parent` belongs to.
pub(super) fn is_thread_of(parent: u32, child: u32) -> bool {
    child != parent && Path::new(&format!("/proc/{parent}/task/{child}")).exists()
}

/// Replace the /proc arguments of `e` with the probe's.
pub(super) fn apply_probe(e: &mut Exec, p: ProbeFields, cap: u32) {
    let mut area = Vec::new();
    for a in &p.args {
        area.extend_from_slice(a);
        area.push(0);
    }
    let mut truncated = p.truncated;
    if area.len() > cap as usize {
        area.truncate(cap as usize);
        truncated = true;
    }
    e.args_size = u32::try_from(area.len()).unwrap_or(u32::MAX).saturating_add(u32::from(truncated));
    e.args = area;
    e.flags.args_truncated = truncated && !p.read_failed;
    e.flags.args_read_failed = p.read_failed;
    e.args_from = ArgsFrom::Probe;
}
