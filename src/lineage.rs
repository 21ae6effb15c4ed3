//! The lineage table of the user-space sources: which processes are
//! followed (for `-p`, depth and exits), one bound for all of them, and the
//! one depth rule the BPF program keeps too.
//!
//! Each tracker (`source/ftrace`, `source/netlink`, `source/procfs`) keeps
//! what it alone knows about a process in its own entry type `P`; the table
//! owns the pid → entry map, its cap ([`TABLE_MAX`]) and the count of processes not followed because it was full,
//! which each source reports as a `lost` record of kind `untracked-process`
//! (the `/proc` poller, which sees a process again at every scan, counts
//! each pid once by a bitmap of its own instead).
//!
//! **Depth** ([`child_depth`]): a process whose parent is followed is one
//! deeper than its parent; one whose parent is not followed (it started
//! before tracing, or its parent's fork was not seen) is depth 0, whether it
//! is first seen at its fork or at its exec. `bpf/execsnoop.bpf.c` says the
//! same (`n.depth = pp ? pp->depth + 1 : 0`), and a test below holds the two
//! together.

use std::collections::HashMap;
use std::ops::Deref;

/// Most processes followed at once by a user-space source (the BPF
/// program's `procs` map, kernel memory, holds `PROCS_MAX`, 32768).
pub const TABLE_MAX: usize = 65536;

/// The depth of a process whose parent has `parent` depth (`None`: the
/// parent is not followed).
pub fn child_depth(parent: Option<u32>) -> u32 {
    parent.map_or(0, |d| d.saturating_add(1))
}

/// Followed processes by pid, at most `cap` of them.
#[derive(Debug, Clone)]
pub struct Lineage<P> {
    procs: HashMap<u32, P>,
    cap: usize,
    /// Processes not followed because the table was full, not yet reported.
    untracked: u64,
}

impl<P> Default for Lineage<P> {
    fn default() -> Self {
        Lineage::with_cap(TABLE_MAX)
    }
}

impl<P> Lineage<P> {
    /// An empty table of at most [`TABLE_MAX`] processes.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table of at most `cap` processes.
    pub fn with_cap(cap: usize) -> Self {
        Lineage { procs: HashMap::new(), cap, untracked: 0 }
    }

    /// Follow `pid` (or update it); when the table is full and `pid` is not
    /// in it, it is not followed, counted, and `false` returned.
    pub fn insert(&mut self, pid: u32, p: P) -> bool {
        if self.procs.len() >= self.cap && !self.procs.contains_key(&pid) {
            self.untracked += 1;
            return false;
        }
        self.procs.insert(pid, p);
        true
    }

    /// Whether a new process would not fit.
    pub fn is_full(&self) -> bool {
        self.procs.len() >= self.cap
    }

    /// Whether the table is at least 7/8 full (time to look for processes
    /// that ended unseen).
    pub fn nearly_full(&self) -> bool {
        self.procs.len() >= self.cap / 8 * 7
    }

    pub fn get_mut(&mut self, pid: u32) -> Option<&mut P> {
        self.procs.get_mut(&pid)
    }

    pub fn remove(&mut self, pid: u32) -> Option<P> {
        self.procs.remove(&pid)
    }

    /// Every followed process, to change what is known of it.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&u32, &mut P)> {
        self.procs.iter_mut()
    }

    /// Processes not followed so far, not yet reported.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// Processes not followed since the last call (for a `lost` record).
    pub fn take_untracked(&mut self) -> u64 {
        std::mem::take(&mut self.untracked)
    }
}

/// Reading goes straight to the map (`get`, `contains_key`, `len`, `iter`);
/// every change goes through the table, so the cap holds.
impl<P> Deref for Lineage<P> {
    type Target = HashMap<u32, P>;

    fn deref(&self) -> &HashMap<u32, P> {
        &self.procs
    }
}

#[cfg(test)]
mod tests {
    use super::{Lineage, TABLE_MAX, child_depth};


    #[test]
    fn full_table_counts_what_it_does_not_follow_and_still_updates() {
        let mut t = Lineage::with_cap(2);
        assert!(t.insert(1, "a"));
        assert!(t.insert(2, "b"));
        assert!(!t.insert(3, "c"));
        assert!(t.insert(2, "b2"), "a followed process is updated when full");
        assert_eq!((t.len(), t.get(&2), t.untracked()), (2, Some(&"b2"), 1));
        assert_eq!(t.take_untracked(), 1);
        assert_eq!(t.untracked(), 0);
        t.remove(1);
        assert!(t.insert(3, "c"));
    }

    #[test]
    fn depth_rule_is_the_bpf_programs() {
        assert_eq!(child_depth(None), 0);
        assert_eq!(child_depth(Some(0)), 1);
        assert_eq!(child_depth(Some(u32::MAX)), u32::MAX);
        // The kernel side: the same rule at fork and at an exec first seen.
        let bpf = include_str!("../bpf/execsnoop.bpf.c");
        assert!(bpf.contains("n.depth = pp ? pp->depth + 1 : 0;"), "the fork rule in execsnoop.bpf.c changed");
        assert!(bpf.contains("n.depth = parent ? parent->depth + 1 : 0;"), "the exec rule in execsnoop.bpf.c changed");
        assert_eq!(Lineage::<()>::new().cap, TABLE_MAX);
    }
}
