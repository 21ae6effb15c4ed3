//! User-space filters: the predicates the kernel cannot apply (regexes).
//! Filters see decoded [`Exec`] records and answer keep or drop; they never
//! format or print.
//!
//! * name (`NAME`, `-n`): an unanchored search in the process name after
//!   exec (comm).
//! * line (`-l`): an unanchored search in the command line, that is the
//!   arguments as captured (argv\[0\] included) joined by single spaces, as
//!   raw bytes. Not the process name: `-l` finds what a process was told to
//!   do, whatever it is called.
//!
//! An exit record (`-e`, `--summary`) is kept when the exec it ends was
//! kept. A forked child that never exec'd runs its parent's program: it is
//! kept when that program's name passes the name filter and no `-l` is given
//! (it has no command line of its own).

use std::cell::RefCell;
use std::collections::HashMap;

use regex::bytes::Regex;

use crate::config::UserFilter;
use crate::event::{Exec, Exit};

/// The user-space predicates of one run.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    name: Option<Regex>,
    line: Option<Regex>,
    /// The joined command line, reused for every record (no allocation in
    /// steady state). Interior mutability keeps [`Filter::keep`] `&self`.
    joined: RefCell<Vec<u8>>,
    /// With filters and exit records: pid -> exec timestamp of kept execs
    /// whose exit has not come yet (a later exec of the pid replaces it).
    kept_running: Option<HashMap<u32, u64>>,
}

impl Filter {
    /// The filters of `f`; `exits`: exit records will come and must be
    /// joined to the execs kept.
    pub fn new(f: &UserFilter, exits: bool) -> Filter {
        let active = f.name.is_some() || f.line.is_some();
        Filter {
            name: f.name.clone(),
            line: f.line.clone(),
            joined: RefCell::new(Vec::new()),
            kept_running: (exits && active).then(HashMap::new),
        }
    }

    /// Whether an exec record should be shown.
    pub fn keep(&mut self, e: &Exec) -> bool {
        let keep = self.matches(e);
        if e.ret == 0
            && let Some(map) = &mut self.kept_running
        {
            if keep {
                map.insert(e.pid, e.ts_ns);
            } else {
                map.remove(&e.pid);
            }
        }
        keep
    }

    /// Whether an exit record should be shown.
    pub fn keep_exit(&mut self, x: &Exit) -> bool {
        let Some(map) = &mut self.kept_running else { return true };
        if x.execed() {
            let joined = map.get(&x.pid) == Some(&x.exec_ts_ns);
            if joined {
                map.remove(&x.pid);
            }
            joined
        } else {
            self.line.is_none() && self.name.as_ref().is_none_or(|re| re.is_match(&x.comm))
        }
    }

    fn matches(&self, e: &Exec) -> bool {
        if !self.name.as_ref().is_none_or(|re| re.is_match(&e.comm)) {
            return false;
        }
        let Some(re) = &self.line else { return true };
        // The argument area is NUL-separated with a trailing NUL: the
        // command line is the same bytes with NUL as space, minus that NUL.
        let area = e.args.strip_suffix(&[0]).unwrap_or(&e.args);
        match self.joined.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                buf.extend(area.iter().map(|&b| if b == 0 { b' ' } else { b }));
                re.is_match(&buf)
            }
            // Not reentrant, so this cannot happen; answer without the buffer.
            Err(_) => re.is_match(&area.iter().map(|&b| if b == 0 { b' ' } else { b }).collect::<Vec<u8>>()),
        }
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

    fn names(re: &str) -> Filter {
        Filter::new(&UserFilter { name: Some(Regex::new(re).unwrap()), line: None }, false)
    }

    fn lines(re: &str) -> Filter {
        Filter::new(&UserFilter { name: None, line: Some(Regex::new(re).unwrap()) }, false)
    }

    #[test]
    fn exits_follow_their_exec() {
        let mut f = Filter::new(&UserFilter { name: Some(Regex::new("^sl").unwrap()), line: None }, true);
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
        let mut all = Filter::new(&UserFilter::default(), true);
        assert!(all.keep_exit(&exit(1, 0, b"x")));
    }

    #[test]
    fn no_filter_keeps_all() {
        assert!({
            let mut f = Filter::default();
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
        let mut f = Filter::new(&UserFilter { name: None, line: Some(Regex::new(r"(?-u)\xff\x1b").unwrap()) }, false);
        assert!(f.keep(&with_args(b"x", b"x\0\xff\x1b\0")));
    }

    #[test]
    fn both_must_match() {
        let mut f = Filter::new(
            &UserFilter { name: Some(Regex::new("^git$").unwrap()), line: Some(Regex::new("push").unwrap()) },
            false,
        );
        assert!(f.keep(&with_args(b"git", b"git\0push\0")));
        assert!(!f.keep(&with_args(b"git", b"git\0pull\0")));
        assert!(!f.keep(&with_args(b"hg", b"hg\0push\0")));
    }

    #[test]
    fn buffer_is_reused() {
        let mut f = lines("zz");
        let e = with_args(b"x", b"aaaa\0bbbb\0");
        f.keep(&e);
        let (cap, ptr) = (f.joined.borrow().capacity(), f.joined.borrow().as_ptr());
        for _ in 0..100 {
            f.keep(&e);
        }
        assert_eq!((f.joined.borrow().capacity(), f.joined.borrow().as_ptr()), (cap, ptr));
    }
}
