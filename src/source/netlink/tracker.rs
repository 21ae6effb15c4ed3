//! The process table of the netlink source: connector events to records.
//! It follows processes from fork (or first exec) to exit for what the
//! connector does not say: which processes descend from `-p PID`, their
//! depth, their user (inherited at fork, changed by uid events) and the name
//! and start of a process when it exits.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use super::abi::{Event, parse_datagram};
use crate::clock::boot_ns as boot_now;
use crate::event::{Exec, Exit, ExitStatus, Lost, LostKind, Record, SourceKind};
use crate::lineage::{Lineage, child_depth};
use crate::source::{KernelFilter, proc};

/// Exits kept after the fact, to undo the exit the kernel reports for the
/// old leader when a non-leader thread execs.
const RECENT_EXITS: usize = 64;
/// How often, at most, the table is checked for processes that ended
/// unseen (their exit lost in a socket overflow) once it is nearly full.
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A process followed from its fork or exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Proc {
    /// Its parent's pid, as last known.
    pub(super) parent: u32,
    /// Depth below the `-p` root, or below the first ancestor seen.
    pub(super) depth: u32,
    /// The name after its last exec, or its parent's name at the fork; kept
    /// only when exits are reported.
    pub(super) comm: Vec<u8>,
    /// Boot-clock time of the fork; 0 when not seen.
    pub(super) fork_ts: u64,
    /// Boot-clock time of its last exec; 0 when not seen.
    pub(super) exec_ts: u64,
    /// Its real uid: from /proc when first seen, inherited at its fork,
    /// changed by the connector's uid events; `None` when never known.
    pub(super) uid: Option<u32>,
}

/// Turns connector events into records, following processes as needed.
pub(super) struct Tracker {
    /// Argument bytes read from /proc per exec, at most.
    args_cap: u32,
    /// Follow forks and exits (`kernel.track`, and for `-p` and `-u`).
    pub(super) track: bool,
    /// Report exits (`kernel.exits`).
    exits: bool,
    /// `-p`: only this process and its descendants.
    scope: Option<u32>,
    /// CLOCK_BOOTTIME − CLOCK_MONOTONIC, in ns, measured at start.
    boot_offset: u64,
    /// The processes followed (at most [`crate::lineage::TABLE_MAX`]: beyond,
    /// counted and said as a [`LostKind::ProcTable`] record).
    procs: Lineage<Proc>,
    recent_exits: VecDeque<(u32, Proc)>,
    /// Records ready to hand on, in order.
    pending: VecDeque<Record>,
    /// Messages that could not be decoded, not yet reported.
    pub(super) malformed: u64,
    /// The latest record time handed on, so loss notices sort after it.
    last_ts: u64,
    /// Reused parse buffer.
    events: Vec<Event>,
}

impl Tracker {
    pub(super) fn new(kernel: &KernelFilter, boot_offset: u64) -> Tracker {
        Tracker {
            args_cap: kernel.args_cap,
            // -u: the uid of a process gone before /proc is read comes
            // from the table (its fork, then the connector's uid events).
            track: kernel.track || kernel.pid.is_some() || kernel.uid.is_some(),
            exits: kernel.exits,
            scope: kernel.pid,
            boot_offset,
            procs: Lineage::new(),
            recent_exits: VecDeque::new(),
            pending: VecDeque::new(),
            malformed: 0,
            last_ts: 0,
            events: Vec::new(),
        }
    }

    /// `-p PID`: follow `root` and its current descendants. `tree` is what
    /// [`proc::descendants`] found.
    pub(super) fn seed(&mut self, tree: Vec<(u32, Proc)>) {
        for (pid, p) in tree {
            self.insert(pid, p);
        }
    }

    /// Follow `pid`, or count it as not followed when the table is full.
    fn insert(&mut self, pid: u32, p: Proc) {
        self.procs.insert(pid, p);
    }

    fn boot_ts(&self, mono_ns: u64) -> u64 {
        mono_ns.saturating_add(self.boot_offset)
    }

    /// Decode one datagram and act on each message in it.
    pub(super) fn handle_datagram(&mut self, bytes: &[u8]) {
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        self.malformed += parse_datagram(bytes, &mut events);
        for &ev in &events {
            self.handle(ev);
        }
        self.events = events;
    }

    pub(super) fn handle(&mut self, ev: Event) {
        match ev {
            Event::Fork { ts, parent_tgid, child_pid, child_tgid } => {
                if child_pid == child_tgid {
                    self.on_fork(self.boot_ts(ts), parent_tgid, child_tgid);
                }
            }
            Event::Exec { ts, pid, tgid } => self.on_exec(self.boot_ts(ts), pid, tgid),
            Event::Exit { ts, pid, tgid, code, parent_tgid } => {
                if pid == tgid {
                    self.on_exit(self.boot_ts(ts), tgid, code, parent_tgid);
                }
            }
            Event::Uid { tgid, ruid } => {
                if let Some(p) = self.procs.get_mut(tgid) {
                    p.uid = Some(ruid);
                }
            }
            Event::Ack { .. } | Event::Other => {}
        }
    }

    fn on_fork(&mut self, ts: u64, parent: u32, child: u32) {
        if !self.track {
            return;
        }
        let known = self.procs.get(&parent);
        if self.scope.is_some() && known.is_none() {
            return;
        }
        let depth = child_depth(known.map(|p| p.depth));
        let comm = match (self.exits, known) {
            (false, _) => Vec::new(),
            (true, Some(p)) => p.comm.clone(),
            (true, None) => proc::read_comm(parent).or_else(|_| proc::read_comm(child)).unwrap_or_default(),
        };
        // A child starts as its parent's user.
        let uid = known.and_then(|p| p.uid).or_else(|| proc::read_uid(parent).ok());
        self.insert(child, Proc { parent, depth, comm, fork_ts: ts, exec_ts: 0, uid });
    }

    fn on_exec(&mut self, ts: u64, pid: u32, tgid: u32) {
        let mut depth = None;
        if self.track {
            if !self.procs.contains_key(&tgid) && pid != tgid {
                self.restore_recent_exit(tgid);
            }
            match self.procs.get(&tgid) {
                Some(p) => depth = Some(p.depth),
                None => {
                    // Not seen being forked: it started before tracing, or
                    // its fork was lost. Follow it below a known parent if
                    // /proc still says who that is.
                    let ppid = proc::read_stat(tgid).map(|s| s.ppid).unwrap_or(0);
                    let parent_depth = self.procs.get(&ppid).map(|p| p.depth);
                    if parent_depth.is_none() && self.scope.is_some() {
                        return;
                    }
                    let d = child_depth(parent_depth);
                    depth = Some(d);
                    let uid = proc::read_uid(tgid).ok();
                    self.insert(tgid, Proc { parent: ppid, depth: d, comm: Vec::new(), fork_ts: 0, exec_ts: 0, uid });
                }
            }
        }
        let mut e: Exec = proc::exec_from_proc(tgid, ts, SourceKind::Netlink, None, None, self.args_cap);
        if pid != tgid {
            e.old_pid = pid;
        }
        e.depth = depth;
        if let Some(p) = self.procs.get_mut(tgid) {
            if e.ppid == 0 {
                e.ppid = p.parent;
            } else {
                p.parent = e.ppid;
            }
            if self.exits {
                p.comm.clone_from(&e.comm);
            }
            p.exec_ts = ts;
            // /proc said, if the process was still there; else what the
            // table knows.
            match (e.uid, p.uid) {
                (u32::MAX, Some(known)) => e.uid = known,
                (read, _) if read != u32::MAX => p.uid = Some(read),
                _ => {}
            }
        }
        self.push(Record::Exec(e));
    }

    fn on_exit(&mut self, ts: u64, tgid: u32, code: u32, parent_tgid: u32) {
        if !self.track {
            return;
        }
        let Some(p) = self.procs.remove(tgid) else { return };
        if self.exits {
            self.push(Record::Exit(Exit {
                ts_ns: ts,
                pid: tgid,
                ppid: if parent_tgid != 0 { parent_tgid } else { p.parent },
                comm: p.comm.clone(),
                exec_ts_ns: p.exec_ts,
                start_ts_ns: if p.exec_ts != 0 { p.exec_ts } else { p.fork_ts },
                status: ExitStatus::from_wait(code),
                cpu_ns: None,
                depth: Some(p.depth),
                uid: p.uid,
                source: SourceKind::Netlink,
            }));
        }
        if self.recent_exits.len() >= RECENT_EXITS {
            self.recent_exits.pop_front();
        }
        self.recent_exits.push_back((tgid, p));
    }

    /// An exec by a non-leader thread of `tgid` after the kernel reported
    /// the old leader's exit: follow the process again.
    fn restore_recent_exit(&mut self, tgid: u32) {
        if let Some(i) = self.recent_exits.iter().rposition(|(pid, _)| *pid == tgid)
            && let Some((pid, p)) = self.recent_exits.remove(i)
        {
            self.insert(pid, p);
        }
    }

    fn push(&mut self, rec: Record) {
        self.last_ts = self.last_ts.max(rec.ts_ns());
        self.pending.push_back(rec);
    }

    /// A loss notice, timed now (and never before the last record).
    pub(super) fn push_lost(&mut self, kind: LostKind, count: u64) {
        let ts = boot_now().max(self.last_ts);
        self.pending.push_back(Record::Lost(Lost { count, kind, ts_ns: ts }));
    }

    /// Turn the loss counters into records.
    pub(super) fn report_losses(&mut self) {
        let n = self.procs.take_untracked();
        if n > 0 {
            self.push_lost(LostKind::ProcTable, n);
        }
        if self.malformed > 0 {
            let n = std::mem::take(&mut self.malformed);
            self.push_lost(LostKind::Malformed, n);
        }
    }

    /// Hand every pending record to `sink`.
    pub(super) fn deliver(&mut self, sink: &mut dyn FnMut(&mut Record) -> io::Result<()>) -> io::Result<usize> {
        let mut n = 0;
        while let Some(mut rec) = self.pending.pop_front() {
            sink(&mut rec)?;
            n += 1;
        }
        Ok(n)
    }

    /// Whether the table is full enough to look for processes that ended
    /// without an exit message.
    pub(super) fn nearly_full(&self) -> bool {
        self.procs.nearly_full()
    }

    /// Followed processes that no longer exist, with what identifies the
    /// entry (so a pid reused meanwhile is not forgotten by mistake).
    pub(super) fn gone(&self) -> Vec<(u32, u64, u64)> {
        self.procs
            .iter()
            .filter(|(pid, _)| !proc::pid_alive(**pid))
            .map(|(pid, p)| (*pid, p.fork_ts, p.exec_ts))
            .collect()
    }

    pub(super) fn forget(&mut self, gone: &[(u32, u64, u64)]) {
        for &(pid, fork_ts, exec_ts) in gone {
            if self.procs.get(&pid).is_some_and(|p| p.fork_ts == fork_ts && p.exec_ts == exec_ts) {
                self.procs.remove(pid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the sources get for these flags: the trackers read only the
    /// kernel part.
    fn kernel(flags: &[&str]) -> KernelFilter {
        crate::config::for_tests(flags).source_request().kernel
    }

    /// Pids that cannot exist (pid_max is at most 2^22), so /proc reads fail.
    const P: u32 = 1 << 23;

    fn fork(ts: u64, parent: u32, child: u32) -> Event {
        Event::Fork { ts, parent_tgid: parent, child_pid: child, child_tgid: child }
    }

    fn records(t: &mut Tracker) -> Vec<Record> {
        t.pending.drain(..).collect()
    }

    fn exits(t: &mut Tracker) -> Vec<Exit> {
        records(t)
            .into_iter()
            .filter_map(|r| match r {
                Record::Exit(x) => Some(x),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn exit_joins_fork_and_exec() {
        let mut t = Tracker::new(&kernel(&["-e"]), 1000);
        t.procs.insert(P, Proc { parent: 1, depth: 0, comm: b"bash".to_vec(), fork_ts: 0, exec_ts: 0, uid: None });
        t.handle(fork(10, P, P + 1));
        t.handle(Event::Exec { ts: 20, pid: P + 1, tgid: P + 1 });
        let recs = records(&mut t);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((e.pid, e.ts_ns, e.depth, e.ppid), (P + 1, 1020, Some(1), P), "gone: ppid from the table");
        assert!(e.flags.args_read_failed && e.args.is_empty());
        assert_eq!(e.source, SourceKind::Netlink);
        // A thread ending is not the process ending.
        t.handle(Event::Exit { ts: 25, pid: P + 5, tgid: P + 1, code: 0, parent_tgid: P });
        t.handle(Event::Exit { ts: 30, pid: P + 1, tgid: P + 1, code: 9, parent_tgid: 0 });
        let x = exits(&mut t);
        assert_eq!(x.len(), 1, "{x:?}");
        assert_eq!((x[0].pid, x[0].ppid, x[0].exec_ts_ns, x[0].start_ts_ns, x[0].ts_ns), (P + 1, P, 1020, 1020, 1030));
        assert_eq!(x[0].status, ExitStatus::Signal { signo: 9, core_dumped: false });
        assert_eq!((x[0].cpu_ns, x[0].depth, x[0].comm.as_slice()), (None, Some(1), &b""[..]));
        assert!(!t.procs.contains_key(&(P + 1)));
        // Reported once.
        t.handle(Event::Exit { ts: 31, pid: P + 1, tgid: P + 1, code: 0, parent_tgid: 0 });
        assert!(exits(&mut t).is_empty());
    }

    #[test]
    fn forked_child_without_exec() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0);
        t.procs.insert(P, Proc { parent: 1, depth: 2, comm: b"make".to_vec(), fork_ts: 0, exec_ts: 0, uid: None });
        t.handle(fork(10, P, P + 1));
        // A new thread is no process.
        t.handle(Event::Fork { ts: 11, parent_tgid: P, child_pid: P + 2, child_tgid: P });
        assert!(!t.procs.contains_key(&(P + 2)));
        t.handle(Event::Exit { ts: 50, pid: P + 1, tgid: P + 1, code: 1 << 8, parent_tgid: P });
        let x = exits(&mut t);
        assert_eq!(x.len(), 1);
        assert_eq!((x[0].exec_ts_ns, x[0].start_ts_ns, x[0].comm.as_slice()), (0, 10, &b"make"[..]));
        assert_eq!((x[0].depth, x[0].status, x[0].lifetime_ns()), (Some(3), ExitStatus::Code(1), Some(40)));
    }

    #[test]
    fn pid_scope_follows_descendants_only() {
        let mut t = Tracker::new(&kernel(&["-p", "1"]), 0);
        t.scope = Some(P);
        t.seed(vec![(P, Proc { parent: 1, depth: 0, comm: Vec::new(), fork_ts: 0, exec_ts: 0, uid: None })]);
        t.handle(fork(1, P, P + 1));
        t.handle(fork(2, P + 1, P + 2));
        t.handle(fork(3, P + 50, P + 51)); // outside
        t.handle(Event::Exec { ts: 4, pid: P + 2, tgid: P + 2 });
        t.handle(Event::Exec { ts: 5, pid: P + 51, tgid: P + 51 });
        let recs = records(&mut t);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((e.pid, e.depth), (P + 2, Some(2)));
        assert!(!t.procs.contains_key(&(P + 51)));
        // -p without -e: followed, no exit records.
        t.handle(Event::Exit { ts: 6, pid: P + 2, tgid: P + 2, code: 0, parent_tgid: P + 1 });
        assert!(records(&mut t).is_empty());
        assert!(!t.procs.contains_key(&(P + 2)));
    }

    #[test]
    fn exec_by_a_thread_keeps_the_process_followed() {
        let mut t = Tracker::new(&kernel(&["-p", "1"]), 0);
        t.scope = Some(P);
        t.seed(vec![(P, Proc { parent: 1, depth: 0, comm: Vec::new(), fork_ts: 0, exec_ts: 0, uid: None })]);
        t.handle(fork(1, P, P + 1));
        // Thread P+3 of P+1 execs: the kernel first reports the old leader's exit.
        t.handle(Event::Exit { ts: 2, pid: P + 1, tgid: P + 1, code: 0, parent_tgid: P });
        t.handle(Event::Exec { ts: 3, pid: P + 3, tgid: P + 1 });
        let recs = records(&mut t);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((e.pid, e.old_pid, e.depth), (P + 1, P + 3, Some(1)));
        assert!(t.procs.contains_key(&(P + 1)));
    }

    #[test]
    fn unknown_parent_is_depth_zero_and_no_tracking_without_track() {
        let mut t = Tracker::new(&kernel(&["--tree"]), 0);
        t.handle(fork(1, P, P + 1));
        t.handle(fork(2, P + 1, P + 2));
        assert_eq!(t.procs[&(P + 1)].depth, 0);
        assert_eq!(t.procs[&(P + 2)].depth, 1);
        let mut t = Tracker::new(&kernel(&[]), 0);
        t.handle(fork(1, P, P + 1));
        t.handle(Event::Exec { ts: 2, pid: P + 1, tgid: P + 1 });
        t.handle(Event::Exit { ts: 3, pid: P + 1, tgid: P + 1, code: 0, parent_tgid: P });
        assert!(t.procs.is_empty());
        let recs = records(&mut t);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!(e.depth, None);
    }

    #[test]
    fn full_table_is_counted_not_silent() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0);
        for i in 0..crate::lineage::TABLE_MAX as u32 {
            t.procs
                .insert(P + 100 + i, Proc { parent: 1, depth: 0, comm: Vec::new(), fork_ts: 0, exec_ts: 0, uid: None });
        }
        assert!(t.nearly_full());
        t.handle(fork(1, P, P + 1));
        t.handle(fork(2, P, P + 2));
        assert!(!t.procs.contains_key(&(P + 1)));
        t.report_losses();
        let recs = records(&mut t);
        let [Record::Lost(l)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((l.kind, l.count), (LostKind::ProcTable, 2));
        // Nothing of this exists: a sweep forgets it all.
        let gone = t.gone();
        assert_eq!(gone.len(), crate::lineage::TABLE_MAX);
        t.forget(&gone);
        assert!(t.procs.is_empty());
    }

    #[test]
    fn own_process_exec_and_user_filters() {
        let me = std::process::id();
        let mut t = Tracker::new(&kernel(&[]), 0);
        t.handle(Event::Exec { ts: 5, pid: me, tgid: me });
        let recs = records(&mut t);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((e.pid, e.ppid), (me, std::os::unix::process::parent_id()));
        assert!(!e.args.is_empty());
        assert_eq!(e.args_from, crate::event::ArgsFrom::Procfs);
    }

    /// -u on a process gone before /proc is read: its user comes from the
    /// table: inherited at its fork, then changed by a uid event (as
    /// setpriv or su do before they exec).
    #[test]
    fn uid_of_a_short_lived_process_comes_from_the_table() {
        let mut t = Tracker::new(&kernel(&["-u", "65534"]), 0);
        t.procs.insert(P, Proc { parent: 1, depth: 0, comm: Vec::new(), fork_ts: 0, exec_ts: 0, uid: Some(0) });
        t.handle(fork(1, P, P + 1));
        assert_eq!(t.procs.get(&(P + 1)).and_then(|p| p.uid), Some(0), "a child starts as its parent's user");
        t.handle(Event::Uid { tgid: P + 1, ruid: 65534 });
        t.handle(Event::Exec { ts: 9, pid: P + 1, tgid: P + 1 });
        let recs = records(&mut t);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((e.pid, e.uid, e.ppid), (P + 1, 65534, P));
        assert!(e.flags.args_read_failed, "gone: no arguments, but its user and parent");
    }
}
