//! The one place records are selected: every filter the source did not
//! apply itself is applied here, to every record kind, so that what is shown
//! (exec rows, failed attempts, exit lines, `--wait` rows, summary counts)
//! always agrees. Filters answer keep or drop; they never format or print.
//!
//! * `-P PID` and `-u USER`, for sources that do not apply them themselves
//!   (all but bpf, which filters in the kernel; see
//!   [`crate::source::SourceInfo::applies`]): on the record's `ppid` and `uid`.
//! * name (`NAME`, `-n`): an unanchored search in the process name after
//!   exec (comm).
//! * line (`-l`): an unanchored search in the command line, that is the
//!   arguments as captured (argv\[0\] included) joined by single spaces, as
//!   raw bytes. Not the process name: `-l` finds what a process was told to
//!   do, whatever it is called.
//! * `-c` and `-p`/COMMAND are applied by the sources (only bpf can do `-c`;
//!   the others refuse it; every source follows the `-p` tree).
//!
//! An exit record (`-e`, `--wait`, `--summary`) of a process that exec'd
//! while traced is kept when that exec was kept (the running table,
//! [`crate::running`], remembers which were) (whichever stage filtered
//! it, the kernel or this one). One of a process that did not exec while
//! traced (a forked child running its parent's program, or one running when
//! tracing started) is kept when it passes the filters itself: `-P` on its
//! parent, `-u` on its user (dropped when the source does not know it), the
//! name on its program's name, and never with `-l` (it has no command line
//! of its own). With no filter at all, every exit is kept.

use regex::bytes::Regex;

use crate::config::UserFilter;
use crate::event::{Exec, Exit};
use crate::running::Running;
use crate::source::{Applies, KernelFilter};

/// The selection of one run.
#[derive(Debug, Clone, Default)]
pub struct Select {
    name: Option<Regex>,
    line: Option<Regex>,
    /// `-P` and `-u` when the source does not apply them to execs.
    ppid: Option<u32>,
    uid: Option<u32>,
    /// `-P` and `-u` as given, for exits of processes that did not exec.
    any_ppid: Option<u32>,
    any_uid: Option<u32>,
    /// `--container`: the start of a container id.
    container: Option<String>,
    /// Exit records will come.
    exits: bool,
    /// The joined command line, reused for every record (no allocation in
    /// steady state).
    joined: Vec<u8>,
    /// With exit records and any filter: an exit is shown only when its
    /// exec was (asked of the running table).
    joins_exits: bool,
}

impl Select {
    /// Also only execs in a container whose id starts with `prefix`
    /// (`--container`; the id is read off the cgroup path, in user space).
    pub fn with_container(mut self, prefix: Option<String>) -> Select {
        if prefix.is_some() && self.exits {
            self.joins_exits = true;
        }
        self.container = prefix;
        self
    }

    /// Select what `user` and `kernel` ask for, of records from a source
    /// that applies `applies` itself; `exits`: exit records will come.
    pub fn new(user: &UserFilter, kernel: &KernelFilter, applies: Applies, exits: bool) -> Select {
        let active = user.name.is_some()
            || user.line.is_some()
            || kernel.ppid.is_some()
            || kernel.uid.is_some()
            || kernel.cgroup.is_some();
        Select {
            name: user.name.clone(),
            line: user.line.clone(),
            ppid: kernel.ppid.filter(|_| !applies.ppid),
            uid: kernel.uid.filter(|_| !applies.uid),
            any_ppid: kernel.ppid,
            any_uid: kernel.uid,
            container: None,
            exits,
            joined: Vec::new(),
            joins_exits: exits && active,
        }
    }

    /// Whether an exit's visibility depends on its exec's (the running
    /// table must remember which execs were kept).
    pub fn joins_exits(&self) -> bool {
        self.joins_exits
    }

    /// Whether an exec record (or a failed attempt) should be shown.
    pub fn keep(&mut self, e: &Exec) -> bool {
        self.matches(e)
    }

    /// Whether an exit record should be shown; `running` says whether its
    /// exec was kept.
    pub fn keep_exit(&self, x: &Exit, running: &Running) -> bool {
        if !self.joins_exits {
            return true;
        }
        if x.execed() {
            return running.of_exit(x).is_some_and(|p| p.kept);
        }
        // Its container is not known: with --container, not shown.
        self.line.is_none()
            && self.container.is_none()
            && self.any_ppid.is_none_or(|p| p == x.ppid)
            && self.any_uid.is_none_or(|u| x.uid == Some(u))
            && self.name.as_ref().is_none_or(|re| re.is_match(&x.comm))
    }

    fn matches(&mut self, e: &Exec) -> bool {
        if self.ppid.is_some_and(|p| p != e.ppid) || self.uid.is_some_and(|u| u != e.uid) {
            return false;
        }
        if !self.name.as_ref().is_none_or(|re| re.is_match(&e.comm)) {
            return false;
        }
        if let Some(prefix) = &self.container
            && !e.container.as_ref().is_some_and(|c| c.id.starts_with(prefix.as_str()))
        {
            return false;
        }
        let Some(re) = &self.line else { return true };
        // The argument area is NUL-separated with a trailing NUL: the
        // command line is the same bytes with NUL as space, minus that NUL.
        let area = e.args.strip_suffix(&[0]).unwrap_or(&e.args);
        self.joined.clear();
        self.joined.extend(area.iter().map(|&b| if b == 0 { b' ' } else { b }));
        re.is_match(&self.joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(comm: &[u8]) -> Exec {
        Exec { comm: comm.to_vec(), ..Exec::default() }
    }

    fn with_args(comm: &[u8], args: &[u8]) -> Exec {
        Exec { comm: comm.to_vec(), args: args.to_vec(), args_size: args.len() as u32, ..Exec::default() }
    }

    /// A selection with only user-space regexes, from a source that
    /// applies nothing itself.
    fn user(name: Option<&str>, line: Option<&str>, exits: bool) -> Select {
        let user =
            UserFilter { name: name.map(|r| Regex::new(r).unwrap()), line: line.map(|r| Regex::new(r).unwrap()) };
        Select::new(&user, &kernel(None, None), Applies::default(), exits)
    }

    fn kernel(ppid: Option<u32>, uid: Option<u32>) -> KernelFilter {
        KernelFilter { args_cap: 1, ppid, uid, cgroup: None, fails: false, track: false, exits: false, pid: None }
    }

    /// A selection with the running table beside it, as the pipe plays
    /// them: the table takes every exec and remembers whether it was kept;
    /// an exit is judged, then ends its entry.
    struct Piped {
        f: Select,
        running: Running,
    }

    impl Piped {
        fn new(f: Select) -> Piped {
            let on = f.joins_exits();
            Piped { f, running: Running::new(on, false) }
        }
        fn keep(&mut self, e: &Exec) -> bool {
            self.running.exec(e, None, &mut Vec::new());
            let keep = self.f.keep(e);
            if let Some(p) = self.running.of_exec_mut(e.pid, e.ts_ns) {
                p.kept = keep;
            }
            keep
        }
        fn keep_exit(&mut self, x: &Exit) -> bool {
            let keep = self.f.keep_exit(x, &self.running);
            self.running.exit(x);
            keep
        }
    }

    fn names(re: &str) -> Select {
        user(Some(re), None, false)
    }

    fn lines(re: &str) -> Select {
        user(None, Some(re), false)
    }

    #[test]
    fn exits_follow_their_exec() {
        let mut f = Piped::new(user(Some("^sl"), None, true));
        let sleep = Exec { pid: 5, ts_ns: 100, comm: b"sleep".to_vec(), ..Exec::default() };
        let ls = Exec { pid: 6, ts_ns: 101, comm: b"ls".to_vec(), ..Exec::default() };
        assert!(f.keep(&sleep));
        assert!(!f.keep(&ls));
        let exit = |pid, exec_ts_ns, comm: &[u8]| Exit { pid, exec_ts_ns, comm: comm.to_vec(), ..Exit::default() };
        assert!(f.keep_exit(&exit(5, 100, b"sleep")));
        assert!(!f.keep_exit(&exit(5, 100, b"sleep")), "an exit joins its exec once");
        assert!(!f.keep_exit(&exit(6, 101, b"ls")));
        assert!(f.keep_exit(&exit(9, 0, b"sleepy")), "fork-only child of a kept program");
        assert!(!f.keep_exit(&exit(9, 0, b"bash")));
        let mut all = Piped::new(user(None, None, true));
        assert!(all.keep_exit(&exit(1, 0, b"x")));
    }

    #[test]
    fn no_filter_keeps_all() {
        assert!({
            let mut f = Select::default();
            f.keep(&exec(b"anything"))
        });
    }

    #[test]
    fn name_is_unanchored_search_on_comm() {
        let mut f = names("ash");
        assert!(f.keep(&exec(b"bash")));
        assert!(f.keep(&exec(b"ashes")));
        assert!(!f.keep(&exec(b"zsh")));
    }

    #[test]
    fn name_matches_non_utf8_comm() {
        assert!(names("^a").keep(&exec(b"a\xff")));
    }

    #[test]
    fn line_searches_the_joined_arguments_not_the_name() {
        let mut f = lines("push origin");
        assert!(f.keep(&with_args(b"git", b"git\0push\0origin\0main\0")));
        assert!(!f.keep(&with_args(b"git", b"git\0pull\0origin\0")));
        let mut f = lines("^/bin/echo hi$");
        assert!(f.keep(&with_args(b"echo", b"/bin/echo\0hi\0")));
        assert!(!f.keep(&with_args(b"echo", b"/bin/echo\0hi\0there\0")));
        // The process name alone does not match.
        let mut f = lines("secretname");
        assert!(!f.keep(&with_args(b"secretname", b"other\0arg\0")));
        assert!(f.keep(&with_args(b"x", b"x\0secretname\0")));
    }

    #[test]
    fn line_joins_empty_and_partial_arguments() {
        let mut f = lines("^a  b$");
        assert!(f.keep(&with_args(b"a", b"a\0\0b\0")), "an empty argument between two spaces");
        let mut f = lines("^a bc$");
        assert!(f.keep(&with_args(b"a", b"a\0bc")), "a cut last argument as captured");
        assert!(!lines(".").keep(&with_args(b"a", b"")), "no arguments: an empty line");
    }

    #[test]
    fn line_matches_raw_bytes() {
        let mut f = user(None, Some(r"(?-u)\xff\x1b"), false);
        assert!(f.keep(&with_args(b"x", b"x\0\xff\x1b\0")));
    }

    #[test]
    fn both_must_match() {
        let mut f = user(Some("^git$"), Some("push"), false);
        assert!(f.keep(&with_args(b"git", b"git\0push\0")));
        assert!(!f.keep(&with_args(b"git", b"git\0pull\0")));
        assert!(!f.keep(&with_args(b"hg", b"hg\0push\0")));
    }

    #[test]
    fn buffer_is_reused() {
        let mut f = lines("zz");
        let e = with_args(b"x", b"aaaa\0bbbb\0");
        f.keep(&e);
        let (cap, ptr) = (f.joined.capacity(), f.joined.as_ptr());
        for _ in 0..100 {
            f.keep(&e);
        }
        assert_eq!((f.joined.capacity(), f.joined.as_ptr()), (cap, ptr));
    }

    /// -P and -u hold for every record kind: execs of a source that does not
    /// filter them itself, and exits, whichever source: an exit whose exec
    /// was filtered out (here or in the kernel, never seen) is dropped; one
    /// of a process that never exec'd is judged on its own parent and user.
    #[test]
    fn ppid_and_uid_hold_for_execs_and_exits() {
        let k = kernel(Some(7), Some(65534));
        let mut user_space = Piped::new(Select::new(&UserFilter::default(), &k, Applies::default(), true));
        let e = |pid, ppid, uid, ts_ns| Exec { pid, ppid, uid, ts_ns, ..Exec::default() };
        assert!(user_space.keep(&e(10, 7, 65534, 1)));
        assert!(!user_space.keep(&e(11, 7, 0, 2)), "root's exec");
        assert!(!user_space.keep(&e(12, 8, 65534, 3)), "another parent's child");
        let x = |pid, ppid, uid, exec_ts_ns| Exit { pid, ppid, uid, exec_ts_ns, ..Exit::default() };
        assert!(user_space.keep_exit(&x(10, 7, Some(65534), 1)));
        assert!(!user_space.keep_exit(&x(11, 7, Some(0), 2)), "the exit of a dropped exec");
        assert!(user_space.keep_exit(&x(20, 7, Some(65534), 0)), "a fork-only child that passes");
        assert!(!user_space.keep_exit(&x(21, 7, Some(0), 0)), "a fork-only child of root");
        assert!(!user_space.keep_exit(&x(22, 7, None, 0)), "user unknown: not shown");
        assert!(!user_space.keep_exit(&x(23, 9, Some(65534), 0)), "another parent");

        // The bpf source filtered execs in the kernel: root's exec never
        // arrives, so its exit (which the kernel does not send either) would
        // not be joined; execs that arrive are not judged again.
        let all = Applies { ppid: true, uid: true, cgroup: true, tree: true };
        let mut kernel_side = Piped::new(Select::new(&UserFilter::default(), &k, all, true));
        assert!(kernel_side.keep(&e(30, 1, 0, 5)), "already filtered by the source");
        assert!(!kernel_side.keep_exit(&x(31, 7, Some(0), 6)), "an exec never seen");
        assert!(kernel_side.keep_exit(&x(30, 1, Some(0), 5)));
    }
}
