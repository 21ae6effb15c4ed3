//! `--summary`: which commands cost the most. An observer in the pipe,
//! beside the metrics: it sees every record that passed the filters and
//! adds up per command name: execs, failed attempts (`-x`), processes
//! ended, their CPU time and lifetime. When tracing ends it makes one
//! [`Summary`], sorted by total CPU, with the still-running counts taken
//! from the running table ([`crate::running`]), and the run loop hands it to
//! the output to render ([`crate::sink::Sink::summary`]) before the output's
//! own closing record.
//!
//! Attribution: an exit counts under the name of the program it ran (its
//! comm at exit). A forked child that never exec'd (a shell's subshell) runs
//! its parent's program and carries its name, so its CPU counts toward that
//! command: no CPU goes missing. The totals are exactly the sums over the
//! exit records that passed the filters.
//!
//! Bounds: names are the traced processes' to choose (a file name, or
//! `prctl(PR_SET_NAME)` before exiting), so at most [`NAMES_MAX`] names get
//! a row of their own; whatever more names bring is added up in one row,
//! [`Summary::other`] (text `(other commands)`, a label no process name can
//! be: 16 characters without a `\`), so the totals stay whole and the
//! table stays small. Still-running counts are joined to their rows through
//! the table's index (one lookup per running process).

use std::collections::HashMap;

use crate::event::{Exec, Exit};
use crate::running::Running;

/// One command's line in the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandCost {
    /// The command name (comm), as the kernel keeps it.
    pub comm: Vec<u8>,
    /// Successful execs of it.
    pub execs: u64,
    /// Failed exec attempts (`-x`), by the name they tried to run.
    pub failed: u64,
    /// Processes running it that ended (with an exit record).
    pub exits: u64,
    /// Of those, forked children that never exec'd.
    pub forks: u64,
    /// CPU time (user + system) of the ended processes, ns.
    pub cpu_ns: u64,
    /// Lifetime of the ended processes, ns.
    pub lifetime_ns: u64,
    /// Execs of it whose process had not ended when tracing ended.
    pub running: u64,
}

impl CommandCost {
    /// Mean CPU per ended process, ns.
    pub fn mean_cpu_ns(&self) -> Option<u64> {
        (self.exits > 0).then(|| self.cpu_ns / self.exits)
    }

    /// Mean lifetime per ended process, ns.
    pub fn mean_lifetime_ns(&self) -> Option<u64> {
        (self.exits > 0).then(|| self.lifetime_ns / self.exits)
    }
}

/// Command names that get a row of their own, at most; the rest share
/// [`Summary::other`].
pub const NAMES_MAX: usize = 4096;

/// The whole table, sorted by total CPU (most first), and its totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub commands: Vec<CommandCost>,
    /// The commands beyond the first [`NAMES_MAX`] names, added up (`comm`
    /// empty); `None` when there were no more.
    pub other: Option<CommandCost>,
    pub total: CommandCost,
    /// Whether failed attempts were traced (the FAILED column means something).
    pub failed_traced: bool,
}

/// Adds up the records that passed the filters.
#[derive(Debug, Default)]
pub struct Summarize {
    by_comm: HashMap<Vec<u8>, CommandCost>,
    /// What names beyond [`NAMES_MAX`] brought, and whether any did.
    other: CommandCost,
    folded: bool,
    failed_traced: bool,
}

impl Summarize {
    /// `failed_traced`: `-x` is on.
    pub fn new(failed_traced: bool) -> Self {
        Summarize { failed_traced, ..Summarize::default() }
    }

    /// The row of `comm`: its own while there is room for its name, else
    /// the shared one of the other commands.
    fn entry(&mut self, comm: &[u8]) -> &mut CommandCost {
        if !self.by_comm.contains_key(comm) && self.by_comm.len() >= NAMES_MAX {
            self.folded = true;
            return &mut self.other;
        }
        self.by_comm
            .entry(comm.to_vec())
            .or_insert_with(|| CommandCost { comm: comm.to_vec(), ..CommandCost::default() })
    }

    /// An exec (or failed attempt) that passed the filters.
    pub fn exec(&mut self, e: &Exec) {
        if e.ret < 0 {
            self.entry(comm_of_path(&e.filename)).failed += 1;
        } else {
            self.entry(&e.comm).execs += 1;
        }
    }

    /// An exit that passed the filters.
    pub fn exit(&mut self, x: &Exit) {
        let c = self.entry(&x.comm);
        c.exits += 1;
        c.forks += u64::from(!x.execed());
        c.cpu_ns += x.cpu_ns.unwrap_or(0);
        c.lifetime_ns += x.lifetime_ns().unwrap_or(0);
    }

    /// The table as it stands, with the shown execs still running in
    /// `running`.
    pub fn table(&self, running: &Running) -> Summary {
        let mut by_comm = self.by_comm.clone();
        let mut other = self.other.clone();
        for (_, p) in running.iter().filter(|(_, p)| p.kept && !p.ended) {
            // A name without a row of its own was added to the other row.
            match by_comm.get_mut(p.comm.as_bytes()) {
                Some(c) => c.running += 1,
                None => other.running += 1,
            }
        }
        let mut commands: Vec<CommandCost> = by_comm.into_values().collect();
        commands.sort_by(|a, b| b.cpu_ns.cmp(&a.cpu_ns).then(b.execs.cmp(&a.execs)).then(a.comm.cmp(&b.comm)));
        let other = self.folded.then_some(other);
        let mut total = CommandCost { comm: b"TOTAL".to_vec(), ..CommandCost::default() };
        for c in commands.iter().chain(other.iter()) {
            total.execs += c.execs;
            total.failed += c.failed;
            total.exits += c.exits;
            total.forks += c.forks;
            total.cpu_ns += c.cpu_ns;
            total.lifetime_ns += c.lifetime_ns;
            total.running += c.running;
        }
        Summary { commands, other, total, failed_traced: self.failed_traced }
    }
}

/// The last path component, cut to a comm's 15 bytes: what a failed attempt
/// would have been called had it run.
fn comm_of_path(path: &[u8]) -> &[u8] {
    let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    &base[..base.len().min(15)]
}

#[cfg(test)]
mod tests {
    use super::{CommandCost, NAMES_MAX, Summarize, Summary};
    use crate::event::{Exec, Exit, ExitStatus};
    use crate::running::Running;

    /// The pipe's part, as the run loop plays it: the running table, then
    /// the observer, for records that all passed the filters.
    struct Pipe {
        running: Running,
        sum: Summarize,
    }

    impl Pipe {
        fn new(failed_traced: bool) -> Pipe {
            Pipe { running: Running::new(true, false), sum: Summarize::new(failed_traced) }
        }
        fn exec(&mut self, e: &Exec) {
            self.running.exec(e, None, &mut Vec::new());
            if let Some(p) = self.running.of_exec_mut(e.pid, e.ts_ns) {
                p.kept = true;
            }
            self.sum.exec(e);
        }
        fn exit(&mut self, x: &Exit) {
            self.sum.exit(x);
            self.running.exit(x);
        }
        fn table(&self) -> Summary {
            self.sum.table(&self.running)
        }
    }

    fn exec(pid: u32, ts: u64, comm: &[u8]) -> Exec {
        Exec { pid, ts_ns: ts, comm: comm.to_vec(), ..Exec::default() }
    }

    fn exit(pid: u32, exec_ts: u64, start: u64, end: u64, cpu: u64, comm: &[u8]) -> Exit {
        Exit {
            pid,
            exec_ts_ns: exec_ts,
            start_ts_ns: start,
            ts_ns: end,
            cpu_ns: Some(cpu),
            comm: comm.to_vec(),
            status: ExitStatus::Code(0),
            ..Exit::default()
        }
    }

    #[test]
    fn adds_up_sorts_by_cpu_and_counts_running_and_forks() {
        let mut s = Pipe::new(true);
        s.exec(&exec(1, 10, b"cc1"));
        s.exec(&exec(2, 11, b"cc1"));
        s.exec(&exec(3, 12, b"sh"));
        s.exec(&exec(4, 13, b"sleep"));
        // A script that execs its real program: replaced, not running.
        s.exec(&exec(7, 15, b"zcat"));
        s.exec(&exec(7, 16, b"gzip"));
        s.exit(&exit(7, 16, 16, 20, 1, b"gzip"));
        let failed = Exec { ret: -2, filename: b"/usr/local/bin/gcc".to_vec(), ..exec(5, 14, b"make") };
        s.exec(&failed);
        s.exit(&exit(1, 10, 10, 110, 90, b"cc1"));
        s.exit(&exit(2, 11, 11, 61, 40, b"cc1"));
        // A subshell of sh: never exec'd, counts toward sh.
        s.exit(&exit(6, 0, 20, 30, 7, b"sh"));
        s.exit(&exit(3, 12, 12, 40, 3, b"sh"));
        let t = &s.table();
        let names: Vec<&[u8]> = t.commands.iter().map(|c| c.comm.as_slice()).collect();
        // Ties on CPU: more execs first.
        assert_eq!(names, [&b"cc1"[..], b"sh", b"gzip", b"sleep", b"zcat", b"gcc"]);
        let cc1 = &t.commands[0];
        assert_eq!((cc1.execs, cc1.exits, cc1.cpu_ns, cc1.lifetime_ns), (2, 2, 130, 150));
        assert_eq!(cc1.mean_cpu_ns(), Some(65));
        let sh = &t.commands[1];
        assert_eq!((sh.execs, sh.exits, sh.forks, sh.cpu_ns, sh.lifetime_ns), (1, 2, 1, 10, 38));
        assert_eq!(t.commands[5].failed, 1);
        assert_eq!(t.commands[3].running, 1);
        assert_eq!(t.commands[3].mean_cpu_ns(), None);
        assert_eq!(t.commands[4].running, 0, "zcat was replaced by gzip");
        assert_eq!((t.total.cpu_ns, t.total.exits, t.total.running, t.total.failed), (141, 5, 1, 1));
        assert_eq!(t.other, None, "no names beyond the cap");
    }

    /// Only shown execs count as running: one the filters dropped is in the
    /// running table (for its exit's visibility) but not in the summary.
    #[test]
    fn running_counts_only_shown_execs() {
        let mut s = Pipe::new(false);
        s.exec(&exec(1, 10, b"shown"));
        s.running.exec(&exec(2, 11, b"hidden"), None, &mut Vec::new());
        let t = s.table();
        assert_eq!(t.total.running, 1);
        assert_eq!(t.commands.len(), 1);
    }

    /// A user who gives every process a name of its own (an exec of a new
    /// file name, prctl before exiting) gets NAMES_MAX rows, then one row
    /// for all the rest: nothing goes missing from the totals, running ones
    /// included, and the table is built without a scan per running process.
    #[test]
    fn names_beyond_the_cap_share_one_row() {
        let mut s = Pipe::new(false);
        let n = NAMES_MAX as u32 + 500;
        for i in 0..n {
            let name = format!("n{i:08}");
            s.exec(&exec(i + 1, 10, name.as_bytes()));
            if i % 2 == 0 {
                s.exit(&exit(i + 1, 10, 10, 20, 3, format!("x{i:08}").as_bytes()));
            }
        }
        // One more process still running under a name beyond the cap.
        s.exec(&exec(n + 1, 11, b"late"));
        let t = &s.table();
        assert_eq!(t.commands.len(), NAMES_MAX, "rows of their own, at most");
        let other = t.other.as_ref().expect("the rest in one row");
        assert!(other.comm.is_empty());
        let sum = |f: fn(&CommandCost) -> u64| t.commands.iter().map(f).sum::<u64>() + f(other);
        assert_eq!(sum(|c| c.execs), u64::from(n) + 1);
        assert_eq!(sum(|c| c.exits), u64::from(n.div_ceil(2)));
        assert_eq!(sum(|c| c.cpu_ns), 3 * u64::from(n.div_ceil(2)));
        // Odd i never exited; exits under other names did not end them.
        assert_eq!(sum(|c| c.running), u64::from(n / 2) + 1, "every running exec counted once");
        assert!(other.running >= 1, "the late one runs under the other row");
        assert_eq!(t.total.execs, u64::from(n) + 1);
        assert_eq!(t.total.running, sum(|c| c.running));
    }
}
