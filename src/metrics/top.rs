//! The bounded per-command table of `--metrics-commands N`: at most N
//! command names, kept by the space-saving rule, with the execs of the names
//! it let go added up in one `other` count, so that the table's counts plus
//! `other` are always every exec it was given.
//!
//! Space-saving (Metwally, Agrawal, El Abbadi, 2005): each name has an
//! *estimate*; a name already in the table adds 1 to it; a new name, when
//! the table is full, takes the place of the name with the smallest
//! estimate and inherits that estimate plus 1. So a name with more than 1/N
//! of all execs can never be pushed out, whatever the other names do (a
//! storm of unique names only churns the bottom of the table). What the
//! table *shows* is exact, not the estimate: `count`, the execs of the name
//! since it (last) entered the table; the count of a name pushed out moves
//! to `other`. The smallest estimate is found with an indexed binary heap
//! (the `priority-queue` crate): O(log N) per exec, no scan.
//!
//! The table belongs to the tracing loop; the metrics server sees only the
//! copies ([`TopCommands::copy_into`]) the loop hands it.

use std::cmp::Ordering;

use priority_queue::PriorityQueue;

pub use crate::event::Comm;

/// A name's place in the heap: the one with the smallest estimate (then the
/// smallest count: the newest arrival) is the heap's top, pushed out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    estimate: u64,
    count: u64,
}

impl Ord for Slot {
    fn cmp(&self, other: &Slot) -> Ordering {
        // Reversed: PriorityQueue keeps the greatest on top.
        (other.estimate, other.count).cmp(&(self.estimate, self.count))
    }
}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Slot) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// At most `capacity` names, and the execs of all the others.
pub struct TopCommands {
    capacity: usize,
    heap: PriorityQueue<Comm, Slot>,
    /// Execs of names pushed out of the table (and of names too long to key).
    other: u64,
    /// Execs given so far: changes whenever the table does.
    added: u64,
}

impl TopCommands {
    pub fn new(capacity: usize) -> TopCommands {
        TopCommands { capacity, heap: PriorityQueue::with_capacity(capacity), other: 0, added: 0 }
    }

    /// One exec of `name`.
    pub fn add(&mut self, name: &[u8]) {
        self.added += 1;
        let Some(key) = Comm::new(name) else {
            self.other += 1;
            return;
        };
        let known = self.heap.change_priority_by(&key, |s| {
            s.estimate += 1;
            s.count += 1;
        });
        if known {
            return;
        }
        if self.heap.len() < self.capacity {
            self.heap.push(key, Slot { estimate: 1, count: 1 });
            return;
        }
        match self.heap.pop() {
            Some((_, smallest)) => {
                self.other += smallest.count;
                self.heap.push(key, Slot { estimate: smallest.estimate + 1, count: 1 });
            }
            // A table of capacity 0 keeps nothing.
            None => self.other += 1,
        }
    }

    /// Execs given so far (the table's counts plus `other`).
    pub fn added(&self) -> u64 {
        self.added
    }

    /// Execs of the names no longer (or never) in the table.
    pub fn other(&self) -> u64 {
        self.other
    }

    /// The table's names and counts, in no order, into `out` (cleared
    /// first; its capacity is reused, so this allocates nothing once `out`
    /// has held a full table).
    pub fn copy_into(&self, out: &mut Vec<(Comm, u64)>) {
        out.clear();
        out.extend(self.heap.iter().map(|(k, s)| (*k, s.count)));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(t: &TopCommands) -> Vec<(String, u64)> {
        let mut v = Vec::new();
        t.copy_into(&mut v);
        let mut v: Vec<(String, u64)> =
            v.into_iter().map(|(c, n)| (String::from_utf8_lossy(c.as_bytes()).into_owned(), n)).collect();
        v.sort();
        v
    }

    fn total(t: &TopCommands) -> u64 {
        table(t).iter().map(|(_, n)| n).sum::<u64>() + t.other()
    }

    #[test]
    fn counts_exactly_while_there_is_room() {
        let mut t = TopCommands::new(3);
        for n in ["sh", "ls", "sh", "cat", "sh", "ls"] {
            t.add(n.as_bytes());
        }
        assert_eq!(table(&t), [("cat".into(), 1), ("ls".into(), 2), ("sh".into(), 3)]);
        assert_eq!((t.other(), t.added()), (0, 6));
    }

    #[test]
    fn never_grows_past_its_capacity_and_totals_add_up() {
        let mut t = TopCommands::new(10);
        for i in 0..10_000u32 {
            t.add(format!("u{i}").as_bytes());
            assert!(t.len() <= 10);
        }
        assert_eq!(t.len(), 10);
        assert_eq!(total(&t), 10_000);
        assert_eq!(t.added(), 10_000);
        assert_eq!(t.other(), 9_990, "each of the 10 left was counted once");
    }

    #[test]
    fn a_heavy_command_survives_a_storm_of_unique_names() {
        // "sh" is 1 exec in 5 (more than 1/N of all with N = 8); 4 in 5 are
        // names never seen again. Evict-the-newest would starve it;
        // space-saving keeps it, with every exec since it entered.
        let mut t = TopCommands::new(8);
        let mut sh = 0;
        for i in 0..50_000u32 {
            if i % 5 == 0 {
                t.add(b"sh");
                sh += 1;
            } else {
                t.add(format!("x{i}").as_bytes());
            }
        }
        let rows = table(&t);
        let got = rows.iter().find(|(n, _)| n == "sh").map(|r| r.1);
        assert_eq!(got, Some(sh), "{rows:?}");
        assert_eq!(total(&t), 50_000);
    }

    #[test]
    fn a_command_past_one_nth_of_all_execs_stays_exact() {
        // make: 1000 of 2600 execs (more than 1/3); cc: 600 (less, so not
        // protected); then 1000 names seen once. make keeps every exec;
        // whatever was pushed out is in other.
        let mut t = TopCommands::new(3);
        for _ in 0..1000 {
            t.add(b"make");
        }
        for _ in 0..600 {
            t.add(b"cc");
        }
        for i in 0..1000u32 {
            t.add(format!("tmp{i}").as_bytes());
        }
        let rows = table(&t);
        assert!(rows.contains(&("make".into(), 1000)), "{rows:?}");
        assert_eq!(rows.len(), 3);
        assert_eq!(total(&t), 2600);
    }

    #[test]
    fn names_are_kept_byte_for_byte() {
        let mut t = TopCommands::new(4);
        t.add(b"a\xff");
        t.add(b"a\xfe");
        t.add(b"");
        let mut v = Vec::new();
        t.copy_into(&mut v);
        let mut names: Vec<&[u8]> = v.iter().map(|(c, _)| c.as_bytes()).collect();
        names.sort();
        assert_eq!(names, [&b""[..], b"a\xfe", b"a\xff"]);
        // Longer than any kernel's comm: not keyed (never truncated into
        // another name), counted in other.
        t.add(&[b'z'; 17]);
        assert_eq!((t.len(), t.other(), t.added()), (3, 1, 4));
        assert!(Comm::new(&[b'y'; 16]).is_some());
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut t = TopCommands::new(0);
        t.add(b"sh");
        assert_eq!((t.len(), t.other()), (0, 1));
    }
}
