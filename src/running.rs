//! The running table: the pipe's one record of the processes that exec'd
//! while traced, by pid, kept by the run loop and read by every stage that
//! needs to know about a process beyond its own record:
//!
//! * exit visibility ([`crate::filter::Select`]): an exit is shown when its
//!   exec was ([`Proc::kept`]);
//! * `--summary` ([`crate::summary`]): which commands are still running at
//!   the end;
//! * `--wait` ([`crate::wait`]): the exec record held until its process
//!   ends ([`Proc::held`]);
//! * enrichment's parent lookups ([`crate::enrich`]): `parent_exec_id` and
//!   `--ancestry` walk [`Proc::ppid`] / [`Proc::ids`].
//!
//! An exec of a pid replaces its entry (the earlier program is gone). An
//! exit ends it: the entry is removed, unless exec ids are formed (then it
//! is kept, marked ended, for the ancestry of its descendants, which may
//! exec after it ended). Failed attempts never enter.
//!
//! **Bound**: any user can run many processes, so the table holds at most
//! [`RUNNING_MAX`] entries; beyond, ended entries go first (oldest first),
//! then the oldest running ones. A running entry forgotten is counted
//! ([`Running::forgotten`]; stderr says so once when it first happens and at
//! the end), and handed back to the pipe so that a held `--wait` record is
//! written, never dropped. Nothing is tracked (and nothing costs) unless a
//! stage needs it ([`Running::new`]).

use std::collections::{HashMap, VecDeque};

use crate::event::{Comm, Exec, Exit};

/// Processes remembered at most (the sources' lineage tables hold as many).
pub const RUNNING_MAX: usize = crate::lineage::TABLE_MAX;

/// What the pipe knows of one process's last exec.
#[derive(Debug, Clone, Default)]
pub struct Proc {
    /// The exec's kernel timestamp (what its exit's `exec_ts_ns` names).
    pub exec_ts: u64,
    /// Its name (inline: keeping it allocates nothing).
    pub comm: Comm,
    pub ppid: u32,
    /// The exec passed the filters (its exit is shown).
    pub kept: bool,
    /// Its exit came (kept only for its descendants' ancestry).
    pub ended: bool,
    /// Exec ids, when formed (`--context`).
    pub ids: Option<Ids>,
    /// `--wait`: the exec record, until the process ends.
    pub held: Option<Box<Exec>>,
}

/// A process's exec id and what makes a pid lookup the same process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids {
    pub exec_id: String,
    /// `task->start_boottime` of the process and of its parent.
    pub start: u64,
    pub parent_start: u64,
}

/// The table; see the module docs.
#[derive(Debug, Default)]
pub struct Running {
    on: bool,
    /// Keep ended entries (exec ids are formed).
    keep_ended: bool,
    procs: HashMap<u32, Proc>,
    /// `(pid, exec_ts)` in insertion order, and of ended entries in end
    /// order: some stale (skipped when met; rebuilt when they outgrow the
    /// table).
    order: VecDeque<(u32, u64)>,
    ended: VecDeque<(u32, u64)>,
    cap: usize,
    forgotten: u64,
}

impl Running {
    /// A table that tracks when `on` (a stage needs it), keeping ended
    /// entries when `keep_ended` (exec ids are formed).
    pub fn new(on: bool, keep_ended: bool) -> Running {
        Running::with_cap(on, keep_ended, RUNNING_MAX)
    }

    pub fn with_cap(on: bool, keep_ended: bool, cap: usize) -> Running {
        Running { on, keep_ended, cap: cap.max(1), ..Running::default() }
    }

    /// The entry of `pid`, ended or not.
    pub fn get(&self, pid: u32) -> Option<&Proc> {
        self.procs.get(&pid)
    }

    /// The entry of the running exec an exit ends: same pid and exec
    /// timestamp (an exit with no exec timestamp, from a source that cannot
    /// join them, ends whatever `pid` runs).
    pub fn of_exit(&self, x: &Exit) -> Option<&Proc> {
        self.procs.get(&x.pid).filter(|p| !p.ended && (x.exec_ts_ns == 0 || p.exec_ts == x.exec_ts_ns))
    }

    pub fn of_exit_mut(&mut self, x: &Exit) -> Option<&mut Proc> {
        self.procs.get_mut(&x.pid).filter(|p| !p.ended && (x.exec_ts_ns == 0 || p.exec_ts == x.exec_ts_ns))
    }

    /// The entry of `pid` if it is the exec at `exec_ts`.
    pub fn of_exec_mut(&mut self, pid: u32, exec_ts: u64) -> Option<&mut Proc> {
        self.procs.get_mut(&pid).filter(|p| p.exec_ts == exec_ts)
    }

    /// Every entry (ended ones too).
    pub fn iter(&self) -> impl Iterator<Item = (&u32, &Proc)> {
        self.procs.iter()
    }

    /// A successful exec: its entry replaces the pid's. Returns the entry it
    /// replaced, if still running, and pushes running entries forgotten to
    /// keep the bound onto `forgotten` (to write what they held).
    pub fn exec(&mut self, e: &Exec, ids: Option<Ids>, forgotten: &mut Vec<Proc>) -> Option<Proc> {
        if !self.on || e.ret != 0 {
            return None;
        }
        let p = Proc { exec_ts: e.ts_ns, comm: Comm::cut(&e.comm), ppid: e.ppid, ids, ..Proc::default() };
        self.order.push_back((e.pid, e.ts_ns));
        let old = self.procs.insert(e.pid, p).filter(|old| !old.ended);
        while self.procs.len() > self.cap {
            match self.evict() {
                Some(p) if !p.ended => {
                    if self.forgotten == 0 {
                        crate::escape::note(&format!(
                            "execsnoop: WARNING: more than {} processes running at once: the oldest are forgotten \
                             (their exits are not joined to their execs; parent_exec_id and --ancestry of their \
                             children stop short)",
                            self.cap
                        ));
                    }
                    self.forgotten += 1;
                    forgotten.push(p);
                }
                Some(_) => {}
                None => break,
            }
        }
        self.compact();
        old
    }

    /// An exit that passed every stage: its entry ends (removed, or kept
    /// marked ended; see the module docs).
    pub fn exit(&mut self, x: &Exit) {
        let keep_ended = self.keep_ended;
        let Some(p) = self.of_exit_mut(x) else { return };
        if keep_ended {
            p.ended = true;
            p.held = None;
            let ts = p.exec_ts;
            self.ended.push_back((x.pid, ts));
        } else {
            self.procs.remove(&x.pid);
        }
    }

    /// The oldest ended entry, else the oldest running one, removed.
    fn evict(&mut self) -> Option<Proc> {
        while let Some((pid, ts)) = self.ended.pop_front() {
            if self.procs.get(&pid).is_some_and(|p| p.ended && p.exec_ts == ts) {
                return self.procs.remove(&pid);
            }
        }
        while let Some((pid, ts)) = self.order.pop_front() {
            if self.procs.get(&pid).is_some_and(|p| p.exec_ts == ts) {
                return self.procs.remove(&pid);
            }
        }
        None
    }

    /// Keep the order queues from outgrowing the table.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.procs.len() + 1024 {
            let mut order: Vec<(u32, u64)> = self.procs.iter().map(|(&pid, p)| (pid, p.exec_ts)).collect();
            order.sort_by_key(|&(_, ts)| ts);
            self.order = order.into();
        }
        if self.ended.len() > 2 * self.procs.len() + 1024 {
            let procs = &self.procs;
            self.ended.retain(|&(pid, ts)| procs.get(&pid).is_some_and(|p| p.ended && p.exec_ts == ts));
        }
    }

    /// Running entries forgotten to keep the bound.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Every running entry's held `--wait` record, in exec order (the end of
    /// tracing).
    #[allow(clippy::vec_box)] // moved on, boxed, into the records written
    pub fn take_held(&mut self) -> Vec<Box<Exec>> {
        let mut held: Vec<Box<Exec>> = self.procs.values_mut().filter_map(|p| p.held.take()).collect();
        held.sort_by_key(|e| e.ts_ns);
        held
    }
}

#[cfg(test)]
mod tests {
    use super::{Ids, Running};
    use crate::event::{Exec, Exit};

    fn exec(pid: u32, ts: u64) -> Exec {
        Exec { pid, ts_ns: ts, ppid: 1, comm: format!("c{pid}").into_bytes(), ..Exec::default() }
    }

    fn exit(pid: u32, exec_ts: u64) -> Exit {
        Exit { pid, exec_ts_ns: exec_ts, ts_ns: exec_ts + 1, ..Exit::default() }
    }

    #[test]
    fn off_tracks_nothing() {
        let mut t = Running::new(false, true);
        assert!(t.exec(&exec(5, 10), None, &mut Vec::new()).is_none());
        assert!(t.get(5).is_none());
    }

    #[test]
    fn exits_join_their_exec_and_a_later_exec_replaces() {
        let mut t = Running::new(true, false);
        let mut gone = Vec::new();
        t.exec(&exec(5, 10), None, &mut gone);
        assert!(t.of_exit(&exit(5, 9)).is_none(), "another exec's exit");
        assert!(t.of_exit(&exit(5, 10)).is_some());
        assert!(t.of_exit(&exit(5, 0)).is_some(), "a source that cannot join: the pid's exec");
        let old = t.exec(&exec(5, 20), None, &mut gone).expect("replaced");
        assert_eq!(old.exec_ts, 10);
        t.exit(&exit(5, 20));
        assert!(t.get(5).is_none(), "removed at its exit");
        let failed = Exec { ret: -2, ..exec(6, 30) };
        t.exec(&failed, None, &mut gone);
        assert!(t.get(6).is_none(), "failed attempts never enter");
        assert!(gone.is_empty());
    }

    #[test]
    fn ended_entries_stay_for_ancestry_and_go_first() {
        let mut t = Running::with_cap(true, true, 3);
        let mut gone = Vec::new();
        let ids = |n: u64| Some(Ids { exec_id: format!("id{n}"), start: n, parent_start: 0 });
        t.exec(&exec(1, 1), ids(1), &mut gone);
        t.exec(&exec(2, 2), ids(2), &mut gone);
        t.exit(&exit(2, 2));
        assert!(t.get(2).is_some_and(|p| p.ended), "kept, ended");
        assert!(t.of_exit(&exit(2, 2)).is_none(), "an ended entry ends nothing more");
        t.exec(&exec(3, 3), ids(3), &mut gone);
        t.exec(&exec(4, 4), ids(4), &mut gone);
        assert!(t.get(2).is_none(), "the ended entry went first");
        assert!(t.get(1).is_some(), "the oldest running one stayed");
        assert_eq!(t.forgotten(), 0);
        t.exec(&exec(5, 5), ids(5), &mut gone);
        assert!(t.get(1).is_none(), "then the oldest running one");
        assert_eq!((t.forgotten(), gone.len(), gone[0].exec_ts), (1, 1, 1));
    }

    #[test]
    fn a_storm_of_pids_stays_within_the_bound() {
        let mut t = Running::with_cap(true, false, 100);
        let mut gone = Vec::new();
        for i in 0..10_000u32 {
            t.exec(&exec(i, u64::from(i) + 1), None, &mut gone);
            if i % 2 == 0 {
                t.exit(&exit(i, u64::from(i) + 1));
            }
        }
        assert!(t.procs.len() <= 100);
        assert!(t.order.len() <= 2 * 100 + 1024 + 1);
        assert_eq!(t.forgotten() as usize, gone.len());
        assert_eq!(t.forgotten(), 5000 - 100);
    }
}
