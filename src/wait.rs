//! `--wait`: one row per process, written when it ends. The stage holds
//! each shown exec record in its entry of the running table
//! ([`crate::running::Proc::held`]) until the process exits, is replaced by
//! a later exec, or tracing ends, then hands the record and its [`Fate`] on
//! (to `-d`'s hold, then the output, which formats both as one row in text,
//! or as the exec record followed by its exit record in JSON).
//!
//! Bound: each held record can carry all of a process's arguments and
//! environment, and any user can keep many processes running, so at most
//! [`HOLD_MAX`] bytes of records are held; beyond, the oldest are written at
//! once as running (their ends are not shown), and stderr says so when it
//! first happens and how many at the end. A record the running table itself
//! forgets (its bound) is written at once as running too.
//!
//! Exits that end no held record (a forked child that never exec'd) pass on
//! as exit records: text shows none under `--wait`, JSON shows them all.

use std::collections::VecDeque;

use crate::event::{Exec, Exit, Fate};
use crate::running::{Proc, Running};

/// Bytes of held records, at most.
pub const HOLD_MAX: usize = 64 << 20;

/// A held record, written now.
#[derive(Debug)]
pub struct Ended {
    /// When it was written (for `-d`'s ordering): the exit's, or the
    /// record's that ended it; `u64::MAX` at the end of tracing.
    pub ts_ns: u64,
    pub exec: Box<Exec>,
    pub fate: Fate,
}

/// The stage's state beside the running table: the bound.
#[derive(Debug)]
pub struct Wait {
    bytes: usize,
    hold_max: usize,
    /// Written early, as running, because of the bound.
    early: u64,
    /// `(pid, exec ts)` of held records, oldest first (some gone: skipped
    /// when met; rebuilt when they outgrow the records held).
    order: VecDeque<(u32, u64)>,
    held: usize,
}

impl Default for Wait {
    fn default() -> Self {
        Wait::with_hold_max(HOLD_MAX)
    }
}

/// What a held record costs: itself and what it owns.
fn size(e: &Exec) -> usize {
    std::mem::size_of::<Exec>()
        + e.args.capacity()
        + e.env.capacity()
        + e.filename.capacity()
        + e.cwd.capacity()
        + e.interp.capacity()
        + e.fd_path.capacity()
        + e.comm.capacity()
        + e.pcomm.capacity()
        + e.cgroup.as_ref().map_or(0, Vec::capacity)
        + e.context.as_ref().map_or(0, |_| 512)
}

impl Wait {
    pub fn with_hold_max(hold_max: usize) -> Wait {
        Wait { bytes: 0, hold_max, early: 0, order: VecDeque::new(), held: 0 }
    }

    /// A shown exec: held in its running entry (a failed attempt is written
    /// at once).
    pub fn exec(&mut self, e: Box<Exec>, running: &mut Running, out: &mut Vec<Ended>) {
        let ts = e.ts_ns;
        if e.ret != 0 {
            out.push(Ended { ts_ns: ts, exec: e, fate: Fate::Failed });
            return;
        }
        let Some(p) = running.of_exec_mut(e.pid, ts) else {
            // Not in the table (it could not keep it): nothing to wait with.
            out.push(Ended { ts_ns: ts, exec: e, fate: Fate::Running });
            return;
        };
        self.bytes += size(&e);
        self.held += 1;
        self.order.push_back((e.pid, ts));
        p.held = Some(e);
        while self.bytes > self.hold_max {
            let Some((pid, exec_ts)) = self.order.pop_front() else { break };
            let Some(e) = running.of_exec_mut(pid, exec_ts).and_then(|p| p.held.take()) else { continue };
            self.bytes = self.bytes.saturating_sub(size(&e));
            self.held = self.held.saturating_sub(1);
            if self.early == 0 {
                crate::escape::note(&format!(
                    "execsnoop: WARNING: --wait holds at most {} MiB of records of running processes: the oldest are \
                     written now, as running, and their ends are not shown",
                    self.hold_max >> 20
                ));
            }
            self.early += 1;
            out.push(Ended { ts_ns: ts, exec: e, fate: Fate::Running });
        }
        if self.order.len() > 2 * self.held + 1024 {
            let mut order: Vec<(u32, u64)> =
                running.iter().filter(|(_, p)| p.held.is_some()).map(|(&pid, p)| (pid, p.exec_ts)).collect();
            order.sort_by_key(|&(_, ts)| ts);
            self.order = order.into();
        }
    }

    /// Entries the running table let go of (replaced by a later exec at
    /// `ts`, or forgotten): what they held is written.
    pub fn released(&mut self, p: Proc, fate: Fate, ts: u64, out: &mut Vec<Ended>) {
        if let Some(e) = p.held {
            self.bytes = self.bytes.saturating_sub(size(&e));
            self.held = self.held.saturating_sub(1);
            out.push(Ended { ts_ns: ts, exec: e, fate });
        }
    }

    /// An exit that passed the filters: the held record it ends, if any,
    /// is written with it (true); else the exit passes on as it is.
    pub fn exit(&mut self, x: &Exit, running: &mut Running, out: &mut Vec<Ended>) -> bool {
        let Some(e) = running.of_exit_mut(x).and_then(|p| p.held.take()) else { return false };
        self.bytes = self.bytes.saturating_sub(size(&e));
        self.held = self.held.saturating_sub(1);
        out.push(Ended { ts_ns: x.ts_ns, exec: e, fate: Fate::Exited(x.clone()) });
        true
    }

    /// Tracing ended: every record still held, in exec order, as running.
    pub fn finish(&mut self, running: &mut Running, out: &mut Vec<Ended>) {
        if self.early > 0 {
            crate::escape::note(&format!(
                "execsnoop: WARNING: {} --wait records were written before their process ended, as running (more \
                 than {} MiB of records were held)",
                self.early,
                self.hold_max >> 20
            ));
        }
        for e in running.take_held() {
            out.push(Ended { ts_ns: u64::MAX, exec: e, fate: Fate::Running });
        }
        self.bytes = 0;
        self.held = 0;
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::{Ended, Wait};
    use crate::event::{Exec, Exit, Fate};
    use crate::running::Running;

    fn exec(pid: u32, ts: u64) -> Exec {
        Exec { pid, ts_ns: ts, comm: b"x".to_vec(), args: vec![b'a'; 1000], ..Exec::default() }
    }

    /// The pipe's part: the table takes the exec, then the stage holds it.
    fn play(w: &mut Wait, t: &mut Running, e: Exec, out: &mut Vec<Ended>) {
        let mut gone = Vec::new();
        if let Some(old) = t.exec(&e, None, &mut gone) {
            w.released(old, Fate::Replaced, e.ts_ns, out);
        }
        for p in gone {
            w.released(p, Fate::Running, e.ts_ns, out);
        }
        w.exec(Box::new(e), t, out);
    }

    fn fates(out: &[Ended]) -> Vec<(u32, &'static str)> {
        out.iter()
            .map(|d| {
                let f = match d.fate {
                    Fate::Exited(_) => "exited",
                    Fate::Replaced => "replaced",
                    Fate::Running => "running",
                    Fate::Failed => "failed",
                };
                (d.exec.pid, f)
            })
            .collect()
    }

    #[test]
    fn held_until_the_end_replaced_or_running_at_the_end() {
        let (mut w, mut t, mut out) = (Wait::default(), Running::new(true, false), Vec::new());
        play(&mut w, &mut t, exec(1, 10), &mut out);
        play(&mut w, &mut t, exec(2, 11), &mut out);
        play(&mut w, &mut t, Exec { ret: -2, ..exec(3, 12) }, &mut out);
        assert_eq!(fates(&out), [(3, "failed")], "a failed attempt at once; the others held");
        play(&mut w, &mut t, exec(1, 13), &mut out);
        assert_eq!(fates(&out)[1], (1, "replaced"));
        let x = Exit { pid: 2, exec_ts_ns: 11, ts_ns: 20, ..Exit::default() };
        assert!(w.exit(&x, &mut t, &mut out));
        t.exit(&x);
        assert_eq!((fates(&out)[2], out[2].ts_ns), ((2, "exited"), 20));
        let fork = Exit { pid: 9, exec_ts_ns: 0, ts_ns: 21, ..Exit::default() };
        assert!(!w.exit(&fork, &mut t, &mut out), "ends nothing held: passes on");
        w.finish(&mut t, &mut out);
        assert_eq!((fates(&out)[3], out[3].ts_ns), ((1, "running"), u64::MAX));
        assert_eq!(out.len(), 4);
        assert_eq!(w.bytes, 0);
    }

    #[test]
    fn the_hold_is_bounded_oldest_written_first_as_running() {
        let one = super::size(&exec(0, 0));
        let (mut w, mut t, mut out) = (Wait::with_hold_max(3 * one), Running::new(true, false), Vec::new());
        for pid in 1..=5 {
            play(&mut w, &mut t, exec(pid, u64::from(pid)), &mut out);
        }
        assert_eq!(fates(&out), [(1, "running"), (2, "running")]);
        assert_eq!(w.early, 2);
        assert!(w.bytes <= 3 * one);
        // Their exits, when they come, end nothing held.
        let x = Exit { pid: 1, exec_ts_ns: 1, ts_ns: 9, ..Exit::default() };
        assert!(!w.exit(&x, &mut t, &mut out));
        w.finish(&mut t, &mut out);
        assert_eq!(fates(&out)[2..], [(3, "running"), (4, "running"), (5, "running")]);
    }

    #[test]
    fn what_the_table_forgets_is_written_not_dropped() {
        let (mut w, mut t, mut out) = (Wait::default(), Running::with_cap(true, false, 2), Vec::new());
        for pid in 1..=3 {
            play(&mut w, &mut t, exec(pid, u64::from(pid)), &mut out);
        }
        assert_eq!(fates(&out), [(1, "running")]);
        assert_eq!(t.forgotten(), 1);
    }
}
