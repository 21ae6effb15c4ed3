//! User-space filters: the predicates the kernel cannot apply (regexes).
//! Filters see decoded [`Exec`] records and answer keep or drop; they never
//! format or print.

use regex::bytes::Regex;

use crate::config::UserFilter;
use crate::event::Exec;

/// The user-space predicates of one run.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    name: Option<Regex>,
}

impl Filter {
    pub fn new(f: &UserFilter) -> Filter {
        Filter { name: f.name.clone() }
    }

    /// Whether a record should be shown.
    pub fn keep(&self, e: &Exec) -> bool {
        self.name.as_ref().is_none_or(|re| re.is_match(&e.comm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(comm: &[u8]) -> Exec {
        Exec { comm: comm.to_vec(), ..Exec::default() }
    }

    #[test]
    fn no_filter_keeps_all() {
        assert!(Filter::default().keep(&exec(b"anything")));
    }

    #[test]
    fn name_is_unanchored_search_on_comm() {
        let f = Filter::new(&UserFilter { name: Some(Regex::new("ash").unwrap()) });
        assert!(f.keep(&exec(b"bash")));
        assert!(f.keep(&exec(b"ashes")));
        assert!(!f.keep(&exec(b"zsh")));
    }

    #[test]
    fn name_matches_non_utf8_comm() {
        let f = Filter::new(&UserFilter { name: Some(Regex::new("^a").unwrap()) });
        assert!(f.keep(&exec(b"a\xff")));
    }
}
