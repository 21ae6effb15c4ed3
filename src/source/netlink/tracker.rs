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
pub(super) const RECENT_EXITS: usize = 64;
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
    pub(super) args_cap: u32,
    /// Follow forks and exits (`kernel.track`, and for `-p` and `-u`).
    pub(super) track: bool,
    /// Report exits (`kernel.exits`).
    pub(super) exits: bool,
    /// `-p`: only this process and its descendants.
    pub(super) scope: Option<u32>,
    /// CLOCK_BOOTTIME − CLOCK_MONOTONIC, in ns, measured at start.
    pub(super) boot_offset: u64,
    /// The processes followed (at most [`crate::lineage::TABLE_MAX`]: beyond,
    /// counted and said as a [`LostKind::ProcTable`] record).
    pub(super) procs: Lineage<Proc>,
    pub(super) recent_exits: VecDeque<(u32, Proc)>,
    /// Records ready to hand on, in order.
    pub(super) pending: VecDeque<Record>,
    /// Messages that could not be decoded, not yet reported.
    pub(super) malformed: u64,
    /// The latest record time handed on, so loss notices sort after it.
    pub(super) last_ts: u64,
    /// Reused parse buffer.
    pub(super) events: Vec<Event>,
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
    pub(super) fn insert(&mut self, pid: u32, p: Proc) {
        self.procs.insert(pid, p);
    }

    pub(super) fn boot_ts(&self, mono_ns: u64) -> u64 {
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

    pub(super) fn on_fork(&mut self, ts: u64, parent: u32, child: u32) {
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

    pub(super) fn on_exec(&mut self, ts: u64, pid: u32, tgid: u32) {
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

    pub(super) fn on_exit(&mut self, ts: u64, tgid: u32, code: u32, parent_tgid: u32) {
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
    pub(super) fn restore_recent_exit(&mut self, tgid: u32) {
        if let Some(i) = self.recent_exits.iter().rposition(|(pid, _)| *pid == tgid)
            && let Some((pid, p)) = self.recent_exits.remove(i)
        {
            self.insert(pid, p);
        }
    }

    pub(super) fn push(&mut self, rec: Record) {
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
    pub(super) fn deliver(&mut self, sink: &mut dyn FnMut(Record) -> io::Result<()>) -> io::Result<usize> {
        let mut n = 0;
        while let Some(rec) = self.pending.pop_front() {
            sink(rec)?;
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
