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

use std::cell::RefCell;

use regex::bytes::Regex;

use crate::config::UserFilter;
use crate::event::Exec;

/// The user-space predicates of one run.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    name: Option<Regex>,
    line: Option<Regex>,
    /// The joined command line, reused for every record (no allocation in
    /// steady state). Interior mutability keeps [`Filter::keep`] `&self`.
    joined: RefCell<Vec<u8>>,
}

impl Filter {
    pub fn new(f: &UserFilter) -> Filter {
        Filter { name: f.name.clone(), line: f.line.clone(), joined: RefCell::new(Vec::new()) }
    }

    /// Whether a record should be shown.
    pub fn keep(&self, e: &Exec) -> bool {
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
        Filter::new(&UserFilter { name: Some(Regex::new(re).unwrap()), line: None })
    }

    fn lines(re: &str) -> Filter {
        Filter::new(&UserFilter { name: None, line: Some(Regex::new(re).unwrap()) })
    }

    #[test]
    fn no_filter_keeps_all() {
        assert!(Filter::default().keep(&exec(b"anything")));
    }

    #[test]
    fn name_is_unanchored_search_on_comm() {
        let f = names("ash");
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
        let f = lines("push origin");
        assert!(f.keep(&with_args(b"git", b"git\0push\0origin\0main\0")));
        assert!(!f.keep(&with_args(b"git", b"git\0pull\0origin\0")));
        let f = lines("^/bin/echo hi$");
        assert!(f.keep(&with_args(b"echo", b"/bin/echo\0hi\0")));
        assert!(!f.keep(&with_args(b"echo", b"/bin/echo\0hi\0there\0")));
        // The process name alone does not match.
        let f = lines("secretname");
        assert!(!f.keep(&with_args(b"secretname", b"other\0arg\0")));
        assert!(f.keep(&with_args(b"x", b"x\0secretname\0")));
    }

    #[test]
    fn line_joins_empty_and_partial_arguments() {
        let f = lines("^a  b$");
        assert!(f.keep(&with_args(b"a", b"a\0\0b\0")), "an empty argument between two spaces");
        let f = lines("^a bc$");
        assert!(f.keep(&with_args(b"a", b"a\0bc")), "a cut last argument as captured");
        assert!(!lines(".").keep(&with_args(b"a", b"")), "no arguments: an empty line");
    }

    #[test]
    fn line_matches_raw_bytes() {
        let f = Filter::new(&UserFilter { name: None, line: Some(Regex::new(r"(?-u)\xff\x1b").unwrap()) });
        assert!(f.keep(&with_args(b"x", b"x\0\xff\x1b\0")));
    }

    #[test]
    fn both_must_match() {
        let f = Filter::new(&UserFilter {
            name: Some(Regex::new("^git$").unwrap()),
            line: Some(Regex::new("push").unwrap()),
        });
        assert!(f.keep(&with_args(b"git", b"git\0push\0")));
        assert!(!f.keep(&with_args(b"git", b"git\0pull\0")));
        assert!(!f.keep(&with_args(b"hg", b"hg\0push\0")));
    }

    #[test]
    fn buffer_is_reused() {
        let f = lines("zz");
        let e = with_args(b"x", b"aaaa\0bbbb\0");
        f.keep(&e);
        let (cap, ptr) = (f.joined.borrow().capacity(), f.joined.borrow().as_ptr());
        for _ in 0..100 {
            f.keep(&e);
        }
        assert_eq!((f.joined.borrow().capacity(), f.joined.borrow().as_ptr()), (cap, ptr));
    }
}
