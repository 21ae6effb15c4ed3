//! The aggregation behind `--top`: an observer in the pipe, fed every
//! record that passed the filters (execs, failed attempts, exits), adding
//! up per key.
//!
//! **One table per key kind.** A live switch of the key (`k`) cannot be
//! rebuilt from another key's aggregates, and a ring of recent execs holds
//! only the recent past, so the model keeps the seven tables at once
//! ([`By::ALL`]), each bounded: a record adds to one row of each (seven
//! hash lookups; the keys are made once per exec). A switch then shows
//! totals since the start, exactly as if that key had been chosen first.
//!
//! **Bounded**: each table gives a row of its own to its first
//! `--top-keys N` keys (default 10,000); every later key adds to the
//! table's one "(other)" row, so the totals stay whole and the memory is
//! at most 7 × N rows (a row is about 250 bytes, with its lifetime
//! histogram). A simpler rule than the space-saving table of
//! `--metrics-commands` (src/metrics/top.rs): rows never move, so a running
//! process can keep the index of its rows.
//!
//! **Running now**: a shown exec adds one to its rows' running count and
//! is remembered by pid (at most [`LIVE_MAX`] at once, the running table's
//! bound; beyond, an exec is counted but not as running); its exit, or a
//! later exec of the same pid (the program was replaced), takes it off.
//! An exit counts under the rows of its exec. A forked child that never
//! exec'd counts under its name and user, and under its parent's exec's
//! rows for the other keys when the parent's exec was seen (it runs the
//! parent's program, in its cgroup); else under a blank key.
//!
//! **Lifetimes** go into a small histogram per row (power-of-two buckets of
//! microseconds, [`Hist`]): the mean is exact, the 95th percentile is
//! interpolated inside its bucket (within a factor of two of the truth,
//! never above the longest seen).
//!
//! **Recent execs** (the view's `e` log): a ring of the last [`RECENT_MAX`]
//! shown execs with their arguments (at most [`RECENT_ARGS_MAX`] bytes
//! each, marked when cut) and the rows they count in.
//!
//! What a source cannot give stays blank, not zero: CPU without a source
//! that reads it ([`Snapshot`] fields are `None`), exit kinds without one
//! that knows the status.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::By;
use crate::event::{Exec, Exit, ExitStatus};

/// Running processes remembered at most (the running table's bound).
pub const LIVE_MAX: usize = 65_536;
/// Recent execs kept for the log.
pub const RECENT_MAX: usize = 2048;
/// Argument bytes kept per recent exec.
pub const RECENT_ARGS_MAX: usize = 4096;
/// Exec-rate history kept for the sparkline, in intervals.
pub const HISTORY_MAX: usize = 240;
/// The slot of the "(other)" row.
const OTHER: u32 = u32::MAX;
/// Buckets of the lifetime histogram: bucket `i` holds lifetimes of
/// `[2^i, 2^(i+1))` µs (bucket 0 also the shorter ones), the last one all
/// longer (2^39 µs is over 6 days).
const BUCKETS: usize = 40;

/// Lifetimes of one row.
#[derive(Debug, Clone, Default)]
pub struct Hist {
    counts: Option<Box<[u32; BUCKETS]>>,
    max_ns: u64,
}

impl Hist {
    fn add(&mut self, ns: u64) {
        let us = ns / 1000;
        let b = if us < 2 { 0 } else { (63 - us.leading_zeros() as usize).min(BUCKETS - 1) };
        let counts = self.counts.get_or_insert_with(|| Box::new([0; BUCKETS]));
        counts[b] = counts[b].saturating_add(1);
        self.max_ns = self.max_ns.max(ns);
    }

    /// The `q` quantile (0..1), ns; `None` with nothing added.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let counts = self.counts.as_ref()?;
        let n: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        if n == 0 {
            return None;
        }
        let want = (q * n as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &c) in counts.iter().enumerate() {
            let c = u64::from(c);
            if c > 0 && seen + c >= want {
                let lo = if i == 0 { 0.0 } else { (1u64 << i) as f64 * 1000.0 };
                let hi = (1u64 << (i + 1)) as f64 * 1000.0;
                let at = lo + (hi - lo) * ((want - seen) as f64 / c as f64);
                return Some((at as u64).min(self.max_ns));
            }
            seen += c;
        }
        Some(self.max_ns)
    }
}

/// What one key added up.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// The key's bytes (blank: none, e.g. no container).
    pub key: Vec<u8>,
    /// Successful execs since the start.
    pub execs: u64,
    /// Execs in the interval numbered `tick` (see [`Model::roll`]).
    cur: u64,
    tick: u64,
    /// Failed attempts (`-x`).
    pub failed: u64,
    /// Exits by kind: code 0, another code, a signal, status unknown.
    pub exit_ok: u64,
    pub exit_err: u64,
    pub exit_sig: u64,
    pub exit_unknown: u64,
    /// CPU of the exits whose source read it, and how many did.
    pub cpu_ns: u64,
    pub cpu_n: u64,
    /// Lifetimes of the exits whose start is known, and how many.
    pub life_ns: u64,
    pub life_n: u64,
    pub hist: Hist,
    /// Shown execs whose process has not ended.
    pub running: u64,
}

impl Row {
    fn exec(&mut self, tick: u64) {
        self.execs += 1;
        if self.tick != tick {
            self.tick = tick;
            self.cur = 0;
        }
        self.cur += 1;
    }

    fn exit(&mut self, x: &Exit) {
        match x.status {
            ExitStatus::Code(0) => self.exit_ok += 1,
            ExitStatus::Code(_) => self.exit_err += 1,
            ExitStatus::Signal { .. } => self.exit_sig += 1,
            ExitStatus::Unknown => self.exit_unknown += 1,
        }
        if let Some(c) = x.cpu_ns {
            self.cpu_ns += c;
            self.cpu_n += 1;
        }
        if let Some(l) = x.lifetime_ns() {
            self.life_ns += l;
            self.life_n += 1;
            self.hist.add(l);
        }
    }

    /// Exits of any kind.
    pub fn exits(&self) -> u64 {
        self.exit_ok + self.exit_err + self.exit_sig + self.exit_unknown
    }

    /// Execs in interval `tick`.
    pub fn in_interval(&self, tick: u64) -> u64 {
        if self.tick == tick { self.cur } else { 0 }
    }
}

/// One key kind's rows.
#[derive(Debug, Default)]
struct Table {
    index: HashMap<Vec<u8>, u32>,
    rows: Vec<Row>,
    other: Row,
    cap: usize,
}

impl Table {
    /// The slot of `key`, a new row while there is room, else [`OTHER`].
    fn slot(&mut self, key: &[u8]) -> u32 {
        if let Some(&s) = self.index.get(key) {
            return s;
        }
        if self.rows.len() >= self.cap {
            return OTHER;
        }
        let s = self.rows.len() as u32;
        self.rows.push(Row { key: key.to_vec(), ..Row::default() });
        self.index.insert(key.to_vec(), s);
        s
    }

    fn row(&mut self, slot: u32) -> &mut Row {
        match self.rows.get_mut(slot as usize) {
            Some(r) => r,
            None => &mut self.other,
        }
    }

    fn row_ref(&self, slot: u32) -> &Row {
        self.rows.get(slot as usize).unwrap_or(&self.other)
    }
}

/// The rows of one exec, one per key kind.
type Slots = [u32; 7];

#[derive(Debug, Clone, Copy)]
struct Live {
    exec_ts: u64,
    slots: Slots,
}

/// A shown exec, for the log of recent execs.
#[derive(Debug, Clone)]
pub struct Recent {
    pub ts_ns: u64,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    /// 0, or -errno for a failed attempt.
    pub ret: i32,
    /// The argument area (NUL-separated), at most [`RECENT_ARGS_MAX`] bytes.
    pub args: Vec<u8>,
    /// Whether `args` was cut (here or by the source).
    pub args_cut: bool,
    slots: Slots,
}

/// One row as a refresh shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowView {
    /// The key's bytes; empty for a blank key.
    pub key: Vec<u8>,
    /// The "(other)" row.
    pub other: bool,
    pub execs: u64,
    pub execs_total: u64,
    /// Execs per second over the interval.
    pub rate: f64,
    pub failed: u64,
    pub exit_ok: u64,
    pub exit_err: u64,
    pub exit_sig: u64,
    /// Exits whose status the source did not know.
    pub exit_unknown: u64,
    /// `None` when no exit of it had a CPU time (the source has none, or
    /// none ended yet).
    pub cpu_ns: Option<u64>,
    pub cpu_mean_ns: Option<u64>,
    pub life_mean_ns: Option<u64>,
    pub life_p95_ns: Option<u64>,
    pub running: u64,
    /// The key kind's slot, for [`Model::recent_of`].
    slot: u32,
}

impl RowView {
    fn of(row: &Row, slot: u32, tick: u64, secs: f64) -> RowView {
        let execs = row.in_interval(tick);
        RowView {
            key: row.key.clone(),
            other: slot == OTHER,
            execs,
            execs_total: row.execs,
            rate: if secs > 0.0 { execs as f64 / secs } else { 0.0 },
            failed: row.failed,
            exit_ok: row.exit_ok,
            exit_err: row.exit_err,
            exit_sig: row.exit_sig,
            exit_unknown: row.exit_unknown,
            cpu_ns: (row.cpu_n > 0).then_some(row.cpu_ns),
            cpu_mean_ns: (row.cpu_n > 0).then(|| row.cpu_ns / row.cpu_n),
            life_mean_ns: (row.life_n > 0).then(|| row.life_ns / row.life_n),
            life_p95_ns: row.hist.quantile(0.95),
            running: row.running,
            slot,
        }
    }

    /// Exits of any kind.
    pub fn exits(&self) -> u64 {
        self.exit_ok + self.exit_err + self.exit_sig + self.exit_unknown
    }
}

/// The whole picture at the end of one interval.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub by: By,
    /// Rows in no order (the view sorts), "(other)" last when it has
    /// anything.
    pub rows: Vec<RowView>,
    /// The interval's length and the time since the start.
    pub interval: Duration,
    pub elapsed: Duration,
    /// Execs (successful) in the interval and since the start.
    pub execs: u64,
    pub execs_total: u64,
    pub failed_total: u64,
    pub exits_total: u64,
    /// Keys of this kind seen (with a row of their own), and whether more
    /// were folded into "(other)".
    pub keys: usize,
    pub folded: bool,
    /// Execs counted but not as running ([`LIVE_MAX`] was reached).
    pub untracked: u64,
}

impl Snapshot {
    /// Execs per second in the interval.
    pub fn rate_now(&self) -> f64 {
        per_sec(self.execs, self.interval)
    }

    /// Execs per second since the start.
    pub fn rate_avg(&self) -> f64 {
        per_sec(self.execs_total, self.elapsed)
    }
}

fn per_sec(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

/// The model; see the module docs.
#[derive(Debug)]
pub struct Model {
    tables: [Table; 7],
    live: HashMap<u32, Live>,
    recent: VecDeque<Recent>,
    /// The interval being counted, and when it began.
    tick: u64,
    tick_start: Instant,
    start: Instant,
    execs_tick: u64,
    execs_total: u64,
    failed_total: u64,
    exits_total: u64,
    untracked: u64,
    /// Execs per interval, newest last.
    history: VecDeque<u64>,
    users: HashMap<u32, Vec<u8>>,
    /// Reused for the keys of one record.
    keys: [Vec<u8>; 7],
}

impl Model {
    /// A model giving at most `cap` keys of each kind a row of their own.
    pub fn new(cap: usize) -> Model {
        Model::with_users(cap, read_users())
    }

    /// As [`Model::new`], with these user names (tests, benchmarks).
    pub fn with_users(cap: usize, users: HashMap<u32, Vec<u8>>) -> Model {
        let now = Instant::now();
        Model {
            tables: std::array::from_fn(|_| Table { cap: cap.max(1), ..Table::default() }),
            live: HashMap::new(),
            recent: VecDeque::new(),
            tick: 1,
            tick_start: now,
            start: now,
            execs_tick: 0,
            execs_total: 0,
            failed_total: 0,
            exits_total: 0,
            untracked: 0,
            history: VecDeque::new(),
            users,
            keys: Default::default(),
        }
    }

    fn user_key(&mut self, uid: u32, k: usize) {
        let out = &mut self.keys[k];
        out.clear();
        match self.users.get(&uid) {
            Some(name) => out.extend_from_slice(name),
            None => out.extend_from_slice(uid.to_string().as_bytes()),
        }
    }

    /// The slots of `e`'s keys, new rows made where there is room.
    fn slots_of(&mut self, e: &Exec) -> Slots {
        for k in &mut self.keys {
            k.clear();
        }
        let comm: &[u8] = if e.ret < 0 { comm_of_path(&e.filename) } else { &e.comm };
        self.keys[By::Comm.index()].extend_from_slice(comm);
        self.keys[By::Exe.index()].extend_from_slice(&e.filename);
        self.user_key(e.uid, By::User.index());
        self.keys[By::Parent.index()].extend_from_slice(&e.pcomm);
        if let Some(c) = &e.container {
            self.keys[By::Container.index()].extend_from_slice(&c.id.as_bytes()[..c.id.len().min(12)]);
        }
        if let Some(path) = &e.cgroup {
            self.keys[By::Unit.index()].extend_from_slice(unit_of(path));
            self.keys[By::Cgroup.index()].extend_from_slice(path);
        }
        let mut slots = [OTHER; 7];
        for (i, t) in self.tables.iter_mut().enumerate() {
            slots[i] = t.slot(&self.keys[i]);
        }
        slots
    }

    /// An exec or failed attempt that passed the filters.
    pub fn exec(&mut self, e: &Exec) {
        let slots = self.slots_of(e);
        let failed = e.ret < 0;
        for (t, &s) in self.tables.iter_mut().zip(&slots) {
            let row = t.row(s);
            if failed {
                row.failed += 1;
            } else {
                row.exec(self.tick);
            }
        }
        if failed {
            self.failed_total += 1;
        } else {
            self.execs_total += 1;
            self.execs_tick += 1;
            // A later exec of the pid replaced the program that ran.
            if let Some(old) = self.live.remove(&e.pid) {
                self.ended(old.slots);
            }
            if self.live.len() < LIVE_MAX {
                self.live.insert(e.pid, Live { exec_ts: e.ts_ns, slots });
                for (t, &s) in self.tables.iter_mut().zip(&slots) {
                    t.row(s).running += 1;
                }
            } else {
                self.untracked += 1;
            }
        }
        if self.recent.len() >= RECENT_MAX {
            self.recent.pop_front();
        }
        let cut = e.args.len() > RECENT_ARGS_MAX;
        self.recent.push_back(Recent {
            ts_ns: e.ts_ns,
            pid: e.pid,
            ppid: e.ppid,
            uid: e.uid,
            ret: e.ret,
            args: e.args[..e.args.len().min(RECENT_ARGS_MAX)].to_vec(),
            args_cut: cut || e.args_incomplete(),
            slots,
        });
    }

    fn ended(&mut self, slots: Slots) {
        for (t, &s) in self.tables.iter_mut().zip(&slots) {
            let r = t.row(s);
            r.running = r.running.saturating_sub(1);
        }
    }

    /// An exit that passed the filters.
    pub fn exit(&mut self, x: &Exit) {
        self.exits_total += 1;
        let slots = match self.live.get(&x.pid) {
            Some(l) if x.exec_ts_ns == 0 || l.exec_ts == x.exec_ts_ns => {
                let slots = l.slots;
                self.live.remove(&x.pid);
                self.ended(slots);
                slots
            }
            _ => self.slots_of_fork(x),
        };
        for (t, &s) in self.tables.iter_mut().zip(&slots) {
            t.row(s).exit(x);
        }
    }

    /// The rows of an exit without a seen exec (see the module docs).
    fn slots_of_fork(&mut self, x: &Exit) -> Slots {
        let parent = self.live.get(&x.ppid).map(|l| l.slots);
        for k in &mut self.keys {
            k.clear();
        }
        self.keys[By::Comm.index()].extend_from_slice(&x.comm);
        if let Some(uid) = x.uid {
            self.user_key(uid, By::User.index());
        }
        // The parent's name is its comm row's key.
        let parent_name = parent.map(|p| self.tables[By::Comm.index()].row_ref(p[By::Comm.index()]).key.clone());
        let mut slots = [OTHER; 7];
        for (i, slot) in slots.iter_mut().enumerate() {
            *slot = match (By::ALL[i], parent) {
                (By::Comm, _) | (By::User, _) | (_, None) => self.tables[i].slot(&self.keys[i]),
                (By::Parent, Some(_)) => self.tables[i].slot(parent_name.as_deref().unwrap_or_default()),
                (_, Some(p)) => p[i],
            };
        }
        slots
    }

    /// The rows of `by` at the end of the interval being counted, "(other)"
    /// last when it has anything. Call [`Model::roll`] after.
    pub fn snapshot(&self, by: By) -> Snapshot {
        let now = Instant::now();
        let interval = now.saturating_duration_since(self.tick_start);
        let secs = interval.as_secs_f64();
        let t = &self.tables[by.index()];
        let mut rows: Vec<RowView> =
            t.rows.iter().enumerate().map(|(i, r)| RowView::of(r, i as u32, self.tick, secs)).collect();
        let folded = t.other.execs > 0 || t.other.failed > 0 || t.other.exits() > 0;
        if folded {
            rows.push(RowView::of(&t.other, OTHER, self.tick, secs));
        }
        Snapshot {
            by,
            rows,
            interval,
            elapsed: now.saturating_duration_since(self.start),
            execs: self.execs_tick,
            execs_total: self.execs_total,
            failed_total: self.failed_total,
            exits_total: self.exits_total,
            keys: t.rows.len(),
            folded,
            untracked: self.untracked,
        }
    }

    /// End the interval: its exec count joins the history, the next one
    /// starts.
    pub fn roll(&mut self) {
        if self.history.len() >= HISTORY_MAX {
            self.history.pop_front();
        }
        self.history.push_back(self.execs_tick);
        self.execs_tick = 0;
        self.tick += 1;
        self.tick_start = Instant::now();
    }

    /// Execs per interval, oldest first.
    pub fn history(&self) -> impl Iterator<Item = u64> + '_ {
        self.history.iter().copied()
    }

    /// The recent execs counted in `row` (of `by`), oldest first.
    pub fn recent_of<'a>(&'a self, by: By, row: &'a RowView) -> impl Iterator<Item = &'a Recent> + 'a {
        let i = by.index();
        self.recent.iter().filter(move |r| r.slots[i] == row.slot)
    }

    /// Rows kept over all key kinds, and processes remembered as running
    /// (the memory bound).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.tables.iter().map(|t| t.rows.len()).sum(), self.live.len(), self.recent.len())
    }
}

/// The systemd unit of a cgroup path: its deepest `.service` or `.scope`
/// component (`/system.slice/nginx.service` → `nginx.service`); empty
/// when none.
pub fn unit_of(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').find(|c| c.ends_with(b".service") || c.ends_with(b".scope")).unwrap_or(&[])
}

/// The last path component, cut to a comm's 15 bytes (as `--summary`
/// names a failed attempt).
fn comm_of_path(path: &[u8]) -> &[u8] {
    let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    &base[..base.len().min(15)]
}

/// User names by uid from `/etc/passwd`, read once and never through NSS
/// (as the text sink's `--names`): a directory service cannot block the
/// loop; uids not there show as numbers.
fn read_users() -> HashMap<u32, Vec<u8>> {
    let text = std::fs::read("/etc/passwd").unwrap_or_default();
    text.split(|&b| b == b'\n')
        .filter_map(|l| {
            let mut f = l.split(|&b| b == b':');
            let name = f.next()?;
            let uid = std::str::from_utf8(f.nth(1)?).ok()?.parse().ok()?;
            Some((uid, name.to_vec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(pid: u32, ts: u64, comm: &str) -> Exec {
        Exec {
            pid,
            ts_ns: ts,
            ppid: 1,
            comm: comm.as_bytes().to_vec(),
            pcomm: b"bash".to_vec(),
            filename: format!("/usr/bin/{comm}").into_bytes(),
            args: format!("{comm}\0-x\0").into_bytes(),
            args_size: comm.len() as u32 + 4,
            cgroup: Some(b"/system.slice/nginx.service".to_vec()),
            ..Exec::default()
        }
    }

    fn exit(pid: u32, exec_ts: u64, life_us: u64, status: ExitStatus, cpu: Option<u64>) -> Exit {
        Exit {
            pid,
            ppid: 1,
            exec_ts_ns: exec_ts,
            start_ts_ns: exec_ts,
            ts_ns: exec_ts + life_us * 1000,
            status,
            cpu_ns: cpu,
            comm: b"ignored".to_vec(),
            ..Exit::default()
        }
    }

    fn model() -> Model {
        Model::with_users(100, HashMap::from([(0, b"root".to_vec())]))
    }

    fn row<'a>(s: &'a Snapshot, key: &str) -> &'a RowView {
        s.rows.iter().find(|r| r.key == key.as_bytes()).unwrap_or_else(|| panic!("no row {key}"))
    }

    #[test]
    fn adds_up_per_key_and_counts_running() {
        let mut m = model();
        m.exec(&exec(10, 100, "cc1"));
        m.exec(&exec(11, 101, "cc1"));
        m.exec(&exec(12, 102, "ld"));
        m.exit(&exit(10, 100, 1000, ExitStatus::Code(0), Some(5_000)));
        m.exit(&exit(11, 101, 3000, ExitStatus::Code(1), Some(7_000)));
        let failed = Exec { ret: -2, filename: b"/nope/gcc".to_vec(), ..exec(13, 103, "make") };
        m.exec(&failed);
        let s = m.snapshot(By::Comm);
        let cc1 = row(&s, "cc1");
        assert_eq!((cc1.execs, cc1.execs_total, cc1.exit_ok, cc1.exit_err, cc1.running), (2, 2, 1, 1, 0));
        assert_eq!((cc1.cpu_ns, cc1.cpu_mean_ns), (Some(12_000), Some(6_000)));
        assert_eq!(cc1.life_mean_ns, Some(2_000_000));
        let p95 = cc1.life_p95_ns.unwrap();
        assert!((2_000_000..=3_000_000).contains(&p95), "{p95}");
        assert_eq!(row(&s, "ld").running, 1);
        assert_eq!(row(&s, "ld").cpu_ns, None, "nothing ended: blank, not 0");
        assert_eq!(row(&s, "gcc").failed, 1);
        assert_eq!((s.execs, s.execs_total, s.failed_total, s.exits_total), (3, 3, 1, 2));
        // Every key kind saw the same records.
        let u = m.snapshot(By::User);
        assert_eq!(row(&u, "root").execs_total, 3);
        assert_eq!(row(&u, "root").failed, 1);
        assert_eq!(row(&m.snapshot(By::Unit), "nginx.service").exits(), 2);
        assert_eq!(row(&m.snapshot(By::Parent), "bash").running, 1);
        assert_eq!(row(&m.snapshot(By::Exe), "/usr/bin/cc1").execs, 2);
        assert_eq!(row(&m.snapshot(By::Container), "").execs_total, 3, "the host: a blank key");
    }

    #[test]
    fn intervals_roll_and_totals_stay() {
        let mut m = model();
        m.exec(&exec(1, 1, "a"));
        m.roll();
        m.exec(&exec(2, 2, "b"));
        let s = m.snapshot(By::Comm);
        assert_eq!((row(&s, "a").execs, row(&s, "a").execs_total), (0, 1));
        assert_eq!(row(&s, "b").execs, 1);
        assert_eq!(m.history().collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn a_reexec_replaces_and_an_exit_counts_under_its_exec() {
        let mut m = model();
        m.exec(&exec(5, 10, "env"));
        m.exec(&exec(5, 11, "bash"));
        m.exit(&exit(5, 11, 10, ExitStatus::Signal { signo: 9, core_dumped: false }, None));
        let s = m.snapshot(By::Comm);
        assert_eq!(row(&s, "env").running, 0, "replaced");
        assert_eq!(row(&s, "env").exits(), 0, "a replacement is not an exit");
        assert_eq!((row(&s, "bash").exit_sig, row(&s, "bash").running), (1, 0));
        assert_eq!(row(&s, "bash").cpu_ns, None, "a source without CPU: blank");
    }

    #[test]
    fn a_fork_counts_under_its_parents_exec() {
        let mut m = model();
        m.exec(&exec(5, 10, "sh"));
        let fork = Exit { ppid: 5, comm: b"sh".to_vec(), uid: Some(0), ..exit(6, 0, 10, ExitStatus::Code(0), None) };
        let fork = Exit { start_ts_ns: 5, ts_ns: 10_005, ..fork };
        m.exit(&fork);
        assert_eq!(row(&m.snapshot(By::Comm), "sh").exits(), 1);
        assert_eq!(row(&m.snapshot(By::Exe), "/usr/bin/sh").exits(), 1);
        assert_eq!(row(&m.snapshot(By::Parent), "sh").exits(), 1);
        assert_eq!(row(&m.snapshot(By::User), "root").exits(), 1);
        assert_eq!(row(&m.snapshot(By::Comm), "sh").running, 1, "the parent still runs");
    }

    #[test]
    fn keys_beyond_the_cap_share_the_other_row() {
        let mut m = Model::with_users(10, HashMap::new());
        for i in 0..25u32 {
            m.exec(&exec(i + 1, u64::from(i), &format!("n{i}")));
        }
        let s = m.snapshot(By::Comm);
        assert_eq!(s.keys, 10);
        assert!(s.folded);
        let other = s.rows.last().unwrap();
        assert!(other.other);
        assert_eq!((other.execs_total, other.running), (15, 15));
        assert_eq!(s.rows.iter().map(|r| r.execs_total).sum::<u64>(), 25, "totals stay whole");
        assert_eq!(m.sizes().0, 10 + 10 + 5, "ten of comm and exe, one of each other kind");
    }

    #[test]
    fn the_log_keeps_recent_execs_of_a_row() {
        let mut m = model();
        for i in 0..(RECENT_MAX as u32 + 10) {
            m.exec(&exec(i + 1, u64::from(i), if i % 2 == 0 { "even" } else { "odd" }));
        }
        let s = m.snapshot(By::Comm);
        let odd = row(&s, "odd");
        let log: Vec<&Recent> = m.recent_of(By::Comm, odd).collect();
        assert_eq!(log.len(), RECENT_MAX / 2);
        assert!(log.iter().all(|r| r.pid % 2 == 0), "odd i is an even pid");
        assert_eq!(log[0].args, b"odd\0-x\0");
    }

    #[test]
    fn units_from_cgroup_paths() {
        assert_eq!(unit_of(b"/system.slice/nginx.service"), b"nginx.service");
        assert_eq!(unit_of(b"/user.slice/user-1000.slice/user@1000.service"), b"user@1000.service");
        assert_eq!(unit_of(b"/user.slice/user-1000.slice/session-3.scope"), b"session-3.scope");
        assert_eq!(unit_of(b"/user.slice/user-1000.slice/user@1000.service/app.slice/x.service"), b"x.service");
        assert_eq!(unit_of(b"/"), b"");
        assert_eq!(unit_of(b"/machine.slice"), b"");
    }

    #[test]
    fn p95_is_inside_its_bucket_and_never_above_the_longest() {
        let mut h = Hist::default();
        assert_eq!(h.quantile(0.95), None);
        for _ in 0..99 {
            h.add(1_000_000); // 1 ms
        }
        h.add(50_000_000);
        let p = h.quantile(0.95).unwrap();
        assert!((512_000..=1_024_000).contains(&p), "{p}");
        let mut one = Hist::default();
        one.add(3_000);
        assert_eq!(one.quantile(0.95), Some(3_000));
    }
}
