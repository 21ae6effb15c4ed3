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
const JOIN_LINES_MAX: u32 = 31;

/// Bytes that may be joined to the start of a cut event, at most: what
/// follows a name in the longest body (a fork's ` pid=N child_comm=NAME
/// child_pid=N`), with room to spare.
const JOIN_BYTES_MAX: usize = 160;

/// CLOCK_BOOTTIME minus CLOCK_MONOTONIC: the time spent suspended.
pub(super) fn boot_minus_mono() -> i64 {
    i64::try_from(crate::clock::boot_minus_mono()).unwrap_or(0)
}

/// A process being followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Proc {
    depth: u32,
    /// Parent process id, as last known.
    ppid: u32,
    /// Timestamp of its exec while traced; 0 if none.
    exec_ts: u64,
    /// Its exec, else its fork; 0 if it was there before tracing started.
    start_ts: u64,
    /// A thread, not a process (found when seeding `-p` on a kernel without
    /// the tgid column): its end is not a process exit.
    thread: bool,
}

/// Turns trace lines into records: joins probe lines to exec events and
/// exits to execs, and keeps the process table.
pub(super) struct Tracker {
    /// What is followed and reported (`-p`, forks and exits, the argument cap).
    kernel: KernelFilter,
    /// Added to every trace timestamp to make it boot time.
    clock_offset: i64,
    /// The lines carry a `(TGID)` column.
    tgid_column: bool,
    /// The processes followed (one bound, the untracked count: the lineage table).
    pub(super) table: Lineage<Proc>,
    /// Probe lines by calling thread, in arrival order for eviction.
    pending: HashMap<u32, ProbeFields>,
    pending_order: VecDeque<u32>,
    /// Lines that could not be parsed.
    pub(super) malformed: u64,
    last_ts: u64,
    /// Per pid, the exec events in the batch being handled that are not
    /// handled yet: while one is left, /proc already shows a later program.
    execs_ahead: HashMap<u32, u32>,
    /// When processes are not followed: the parent of each process forked
    /// while tracing, until it execs (oldest evicted beyond [`PENDING_MAX`]),
    /// for an exec whose /proc entry is already gone.
    forked: HashMap<u32, u32>,
    forked_order: VecDeque<u32>,
    /// The start of an event a newline cut (see the module documentation),
    /// how many lines it is so far and how long its first line was.
    held: Vec<u8>,
    held_lines: u32,
    held_first: usize,
    /// What is held is a whole line that starts one of our events (not
    /// just a fragment that may start a task name).
    held_event: bool,
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
    fn insert(&mut self, pid: u32, p: Proc) -> bool {
        self.table.insert(pid, p)
    }

    fn ts(&mut self, raw: u64) -> u64 {
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

    fn on_probe(&mut self, h: &Header<'_>, p: ProbeFields) -> Option<Record> {
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

    fn on_exec(&mut self, h: &Header<'_>, f: ExecFields<'_>) -> Option<Record> {
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

    fn on_fork(&mut self, h: &Header<'_>, f: ForkFields<'_>) -> Option<Record> {
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

    fn on_exit(&mut self, h: &Header<'_>, f: ExitFields<'_>) -> Option<Record> {
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
fn is_probe_event(ev: &[u8]) -> bool {
    let name = ev.rsplit(|&b| b == b'/').next().unwrap_or(ev);
    parse::is_our_event(ev) && (name == b"execve" || name == b"execveat")
}

/// Whether `line` is one of our events, header and body.
fn is_whole(line: &[u8]) -> bool {
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
fn could_be_cut(line: &[u8]) -> bool {
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
fn is_thread_of(parent: u32, child: u32) -> bool {
    child != parent && Path::new(&format!("/proc/{parent}/task/{child}")).exists()
}

/// Replace the /proc arguments of `e` with the probe's.
fn apply_probe(e: &mut Exec, p: ProbeFields, cap: u32) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the sources get for these flags: the trackers read only the
    /// kernel part.
    fn kernel(flags: &[&str]) -> KernelFilter {
        crate::config::for_tests(flags).source_request().kernel
    }

    /// Pids above the kernel's limit (2^22): /proc has nothing for them.
    const P: u32 = 5_000_000;

    fn exec_line(pid: u32, tgid: Option<u32>, ts: &str, filename: &str) -> String {
        let col = tgid.map_or(String::new(), |t| format!("({t:>7}) "));
        format!(
            "          bash-{pid}   {col}[001] ..... {ts}: sched_process_exec: filename={filename} pid={pid} old_pid={pid}"
        )
    }

    fn fork_line(parent: u32, child: u32, ts: &str) -> String {
        format!(
            "          bash-{parent}   ({parent:>7}) [000] ..... {ts}: sched_process_fork: comm=bash pid={parent} child_comm=bash child_pid={child}"
        )
    }

    fn exit_line(pid: u32, tgid: u32, ts: &str, comm: &str, dead: &str) -> String {
        format!(
            "          {comm}-{pid}   ({tgid:>7}) [000] ..... {ts}: sched_process_exit: comm={comm} pid={pid} prio=120 group_dead={dead}"
        )
    }

    fn feed(t: &mut Tracker, lines: &[String]) -> Vec<Record> {
        lines.iter().filter_map(|l| t.line(l.as_bytes())).collect()
    }

    #[test]
    fn exec_of_a_gone_process_is_marked_not_invented() {
        let mut t = Tracker::new(&kernel(&[]), 0, false);
        let recs = feed(&mut t, &[exec_line(P, None, "100.000001", "/usr/bin/some-long-named-tool")]);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!(e.ts_ns, 100_000_001_000);
        assert_eq!(e.filename, b"/usr/bin/some-long-named-tool");
        assert_eq!(e.comm, b"some-long-named", "the kernel's name for it: basename, 15 bytes");
        assert!(e.flags.args_read_failed && e.args.is_empty());
        assert_eq!((e.source, e.args_from, e.depth), (SourceKind::Ftrace, ArgsFrom::Procfs, None));
        assert_eq!(t.malformed, 0);
    }

    #[test]
    fn exec_of_a_live_process_reads_proc() {
        let me = std::process::id();
        let mut t = Tracker::new(&kernel(&[]), 7, false);
        let recs = feed(&mut t, &[exec_line(me, None, "1.000000", "/exact/name")]);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!(e.filename, b"/exact/name", "the event's file name, not /proc/PID/exe");
        assert_eq!(e.ts_ns, 1_000_000_007, "clock offset applied");
        assert!(!e.flags.args_read_failed && !e.args.is_empty());
        assert_eq!(e.ppid, std::os::unix::process::parent_id());
    }

    /// A process that exec'd twice in one batch: /proc shows the second
    /// program, so the first row gets no arguments rather than wrong ones.
    #[test]
    fn superseded_exec_gets_no_arguments() {
        let me = std::process::id();
        let mut t = Tracker::new(&kernel(&[]), 0, false);
        let batch = format!(
            "{}\n{}\n",
            exec_line(me, None, "1.000000", "/usr/bin/env"),
            exec_line(me, None, "1.000100", "/usr/bin/bash")
        );
        t.look_ahead(batch.as_bytes());
        let recs: Vec<Record> = batch.lines().filter_map(|l| t.line(l.as_bytes())).collect();
        let [Record::Exec(first), Record::Exec(second)] = recs.as_slice() else { panic!("{recs:?}") };
        assert!(first.flags.args_read_failed && first.args.is_empty());
        assert_eq!(first.comm, b"env");
        assert!(!second.flags.args_read_failed && !second.args.is_empty(), "the last one reads /proc");
    }

    #[test]
    fn probe_line_joins_the_exec_of_the_same_thread() {
        let mut t = Tracker::new(&kernel(&[]), 0, false);
        let probe = format!(
            "            bash-{P}    [001] d.... 100.000001: execve: (__x64_sys_execve+0x0/0x50) arg0=\"ls\" arg1=\"-l\" arg2=(fault) ptr0=9 ptr1=9 ptr2=0"
        );
        let other = format!(
            "            bash-{}    [001] d.... 100.000001: execsnoop_1/execve: (__x64_sys_execve+0x0/0x50) arg0=\"no\" ptr0=9 ptr1=0",
            P + 1
        );
        let recs = feed(&mut t, &[probe, other, exec_line(P, None, "100.000002", "/bin/ls")]);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!(e.args_from, ArgsFrom::Probe);
        assert_eq!(e.argv(), vec![&b"ls"[..], b"-l"]);
        assert!(!e.flags.args_read_failed && !e.args_incomplete());
        assert_eq!(t.pending.len(), 1, "the other thread's probe line still waits");

        // A cap smaller than the arguments cuts them and says so.
        let mut t = Tracker::new(&kernel(&["--arg-bytes", "4"]), 0, false);
        let probe = format!("  sh-{P} [000] ..... 1.0: execve: (x+0/1) arg0=\"echo\" arg1=\"hi\" ptr0=1 ptr1=2 ptr2=0");
        let recs = feed(&mut t, &[probe, exec_line(P, None, "1.1", "/bin/echo")]);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!(e.args, b"echo");
        assert!(e.flags.args_truncated && e.args_incomplete());
    }

    /// Without following processes, a short-lived process gone from /proc
    /// before its exec line is read still gets its parent, from its fork;
    /// the table of forks does not outgrow its cap.
    #[test]
    fn parent_from_fork_without_following() {
        let mut t = Tracker::new(&kernel(&[]), 0, true);
        let recs =
            feed(&mut t, &[fork_line(P, P + 1, "10.000000"), exec_line(P + 1, Some(P + 1), "10.5", "/bin/true")]);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!(e.ppid, P, "parent from the fork when /proc is gone");
        assert!(t.forked.is_empty(), "used up at the exec");
        let forks: Vec<String> = (0..PENDING_MAX as u32 + 10).map(|i| fork_line(P, P + 10 + i, "11.0")).collect();
        feed(&mut t, &forks);
        assert_eq!(t.forked.len(), PENDING_MAX);
        assert_eq!(t.forked_order.len(), PENDING_MAX);
    }

    #[test]
    fn exits_join_execs_and_forks() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, true);
        let recs = feed(
            &mut t,
            &[
                fork_line(P, P + 1, "10.000000"),
                exec_line(P + 1, Some(P + 1), "10.500000", "/bin/true"),
                // A thread of P+1 (indistinguishable at fork), ending first.
                fork_line(P + 1, P + 2, "10.600000"),
                exit_line(P + 2, P + 1, "10.700000", "true", "false"),
                // The leader ends before the last thread: not yet.
                exit_line(P + 1, P + 1, "10.800000", "true", "false"),
                exit_line(P + 3, P + 1, "11.000000", "true", "true"),
                // A forked child that never exec'd.
                fork_line(P, P + 4, "12.000000"),
                exit_line(P + 4, P + 4, "12.250000", "bash", "true"),
                // A process we never saw: nothing.
                exit_line(P + 5, P + 5, "13.000000", "x", "true"),
            ],
        );
        let execs: Vec<&Exec> =
            recs.iter().filter_map(|r| if let Record::Exec(e) = r { Some(e) } else { None }).collect();
        let exits: Vec<&Exit> =
            recs.iter().filter_map(|r| if let Record::Exit(x) = r { Some(x) } else { None }).collect();
        assert_eq!(execs.len(), 1);
        assert_eq!(execs[0].depth, Some(0), "child of an unknown parent: depth 0, as in the BPF program");
        assert_eq!(execs[0].ppid, P, "parent from the fork when /proc is gone");
        assert_eq!(exits.len(), 2, "{exits:#?}");
        let x = exits[0];
        assert_eq!((x.pid, x.ppid, x.comm.as_slice()), (P + 1, P, &b"true"[..]));
        assert_eq!((x.ts_ns, x.exec_ts_ns, x.start_ts_ns), (11_000_000_000, 10_500_000_000, 10_500_000_000));
        assert_eq!((x.status, x.cpu_ns, x.depth, x.source), (ExitStatus::Unknown, None, Some(0), SourceKind::Ftrace));
        let y = exits[1];
        assert_eq!(
            (y.pid, y.exec_ts_ns, y.start_ts_ns, y.lifetime_ns()),
            (P + 4, 0, 12_000_000_000, Some(250_000_000))
        );
        assert!(t.table.is_empty(), "{:?}", t.table);
    }

    #[test]
    fn old_kernel_exit_without_group_dead_or_tgid() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, false);
        let lines = [
            format!(
                "  bash-{P}  [000] d..2  1.000000: sched_process_fork: comm=bash pid={P} child_comm=bash child_pid={}",
                P + 1
            ),
            format!("  true-{}  [000] d..2  2.000000: sched_process_exit: comm=true pid={} prio=120", P + 1, P + 1),
        ];
        let recs = feed(&mut t, &lines);
        let [Record::Exit(x)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((x.pid, x.start_ts_ns), (P + 1, 1_000_000_000));
    }

    #[test]
    fn pid_filter_follows_only_the_tree() {
        let mut t = Tracker::new(&kernel(&["-e", "-p", "1"]), 0, true);
        t.table.insert(P, Proc { depth: 0, ppid: 1, exec_ts: 0, start_ts: 0, thread: false });
        let recs = feed(
            &mut t,
            &[
                fork_line(P, P + 1, "1.0"),
                fork_line(P + 1, P + 2, "1.1"),
                exec_line(P + 2, Some(P + 2), "1.2", "/bin/deep"),
                exec_line(P + 7, Some(P + 7), "1.3", "/bin/outside"),
                fork_line(P + 7, P + 8, "1.4"),
                exit_line(P, P, "2.0", "root", "true"),
            ],
        );
        let [Record::Exec(e), Record::Exit(x)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((e.pid, e.depth), (P + 2, Some(2)));
        assert_eq!((x.pid, x.depth, x.start_ts_ns, x.exec_ts_ns), (P, Some(0), 0, 0));
        assert!(!t.table.contains_key(&(P + 8)));
    }

    #[test]
    fn seeding_finds_our_own_tree() {
        let mut t = Tracker::new(&kernel(&["-p", "1"]), 0, true);
        let me = std::process::id();
        let parent = std::os::unix::process::parent_id();
        t.seed_tree(parent, true);
        assert_eq!(t.table.get(&parent).map(|p| p.depth), Some(0));
        assert_eq!(t.table.get(&me).map(|p| (p.depth, p.ppid)), Some((1, parent)));
    }

    #[test]
    fn full_table_is_counted() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, true);
        for i in 0..crate::lineage::TABLE_MAX as u32 {
            t.table.insert(P + 10 + i, Proc { depth: 0, ppid: 0, exec_ts: 0, start_ts: 0, thread: false });
        }
        feed(&mut t, &[fork_line(P, P + 1, "1.0"), fork_line(P, P + 2, "1.0")]);
        assert_eq!(t.table.untracked(), 2);
    }

    #[test]
    fn garbage_is_counted_not_fatal() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, true);
        let recs = feed(
            &mut t,
            &[
                "garbage that is no trace line".into(),
                "# tracer: nop".into(),
                "".into(),
                "CPU:0 [LOST 5 EVENTS]".into(),
                "  a-1 [000] ..... 1.0: unknown_event: x=1".into(),
                // Held: the rest of a cut event may follow; nothing does.
                "  a-1 [000] ..... 1.0: sched_process_exec: nonsense".into(),
            ],
        );
        assert!(recs.is_empty());
        assert_eq!(t.malformed, 2);
        t.drop_held(false);
        assert_eq!(t.malformed, 3);
    }

    /// The lines a process named `a<newline>b` (prctl, or the name of the
    /// file it ran) makes of its exit: the header's task name and the body's
    /// name are both cut. They are joined back into one exit, not counted
    /// as malformed.
    #[test]
    fn an_exit_cut_by_newlines_in_its_names_is_joined() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, true);
        let lines: Vec<String> = [
            fork_line(P, P + 1, "10.000000"),
            exec_line(P + 1, Some(P + 1), "10.500000", "/bin/true"),
            exit_line(P + 1, P + 1, "11.000000", "a\nb", "true"),
        ]
        .join("\n")
        .lines()
        .map(str::to_string)
        .collect();
        assert_eq!(lines.len(), 5, "{lines:#?}");
        let recs = feed(&mut t, &lines);
        let [Record::Exec(_), Record::Exit(x)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((x.pid, x.comm.as_slice()), (P + 1, &b"a\nb"[..]));
        assert_eq!(t.malformed, 0);
    }

    /// With -p, a fork whose names hold newlines (so both names are cut)
    /// still makes the child one of the tree: a process cannot leave the
    /// traced tree by renaming itself before it forks.
    #[test]
    fn a_fork_cut_by_newlines_keeps_the_child_in_the_tree() {
        let mut t = Tracker::new(&kernel(&["-e", "-p", "1"]), 0, true);
        t.table.insert(P, Proc { depth: 0, ppid: 1, exec_ts: 0, start_ts: 0, thread: false });
        let name = "x\n\ny\nz";
        let fork = format!(
            "{name:>16}-{P}   ({P:>7}) [000] ..... 1.000000: sched_process_fork: comm={name} pid={P} child_comm={name} child_pid={}",
            P + 1
        );
        let mut lines: Vec<String> = fork.split('\n').map(str::to_string).collect();
        lines.push(exec_line(P + 1, Some(P + 1), "1.5", "/bin/deep"));
        let recs = feed(&mut t, &lines);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((e.pid, e.depth), (P + 1, Some(1)));
        assert_eq!(t.malformed, 0);
    }

    /// A cut event is never completed with a whole event that follows it
    /// (what a name cannot make up): that one stands alone, and the cut one
    /// is counted. Nor is a cut event held beyond its bounds.
    #[test]
    fn a_cut_event_never_swallows_the_next_one() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, true);
        let cut = format!("  sh-{P}   ({P:>7}) [000] ..... 2.0: sched_process_exit: comm=ab");
        let recs =
            feed(&mut t, &[fork_line(P, P + 1, "1.0"), cut.clone(), exit_line(P + 1, P + 1, "3.0", "c", "true")]);
        let [Record::Exit(x)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((x.pid, x.comm.as_slice()), (P + 1, &b"c"[..]));
        assert_eq!(t.malformed, 1);
        let mut lines = vec![cut];
        lines.extend((0..JOIN_LINES_MAX + 5).map(|_| "z".to_string()));
        feed(&mut t, &lines);
        assert!(t.held_lines <= JOIN_LINES_MAX && t.held.len() < 2 * JOIN_BYTES_MAX, "{}", t.held_lines);
        assert!(t.malformed > 1);
    }

    /// A name that reads as the start of a header (`-1 [0] 1: e:`) does not
    /// take the line: the event is the real header's, of the real pid.
    #[test]
    fn a_name_that_looks_like_a_header_changes_nothing() {
        let mut t = Tracker::new(&kernel(&[]), 0, false);
        let line = format!(
            "\n-1 [0] 1: e:-{P}   [001] ..... 5.000000: sched_process_exec: filename=/bin/x pid={P} old_pid={P}"
        );
        let lines: Vec<String> = line.split('\n').map(str::to_string).collect();
        let recs = feed(&mut t, &lines);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((e.pid, e.filename.as_slice(), e.ts_ns), (P, &b"/bin/x"[..], 5_000_000_000));
        assert_eq!(t.malformed, 0);
    }

    #[test]
    fn stale_names_and_probe_events() {
        assert!(is_probe_event(b"execve"));
        assert!(is_probe_event(b"execsnoop_12/execveat"));
        assert!(!is_probe_event(b"sched_process_exec"));
        assert!(!proc::pid_alive(u32::MAX - 1));
        assert!(proc::pid_alive(std::process::id()));
    }
}
