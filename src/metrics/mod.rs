//! `--metrics ADDR:PORT`: a Prometheus text-exposition endpoint, `/metrics`.
//! This module owns the counters and their rendering; [`server`] owns the
//! HTTP side (one event-driven thread, bounded in connections and time) and
//! [`top`] the bounded per-command table.
//!
//! The tracing loop never waits for a scrape. It counts each record after
//! the filters ([`Metrics::record`]) in atomics; the per-command table
//! (`--metrics-commands N`) is the loop's own (a lock nobody else takes),
//! and a scrape is answered from a copy of it that the loop hands over at
//! its next turn ([`Metrics::tick`], at least every 100 ms, at once when
//! records flow), into a slot the loop only `try_lock`s: if the server is
//! reading it, the loop hands it over at the turn after. A scrape waits at
//! most 500 ms for that copy (the loop is stuck writing to a full pipe,
//! say), then is answered from the last one, and counted
//! (`execsnoop_metrics_stale_scrapes_total`).
//!
//! The series (low cardinality by design: no per-command label unless
//! `--metrics-commands N` asks for it):
//!
//! * `execsnoop_execs_total` — counter: successful execs written (after the
//!   filters, as the output shows them).
//! * `execsnoop_failed_execs_total{errno}` — counter: failed attempts written
//!   (`-x`), by errno name (`ENOENT`, ...; `E4095` for a number without a
//!   name, `unknown` for a value outside 1..4095).
//! * `execsnoop_exits_total` — counter: exit records written (`-e`,
//!   `--wait`, `--summary`).
//! * `execsnoop_lost_total{kind}` — counter: records lost, by the kinds of
//!   the JSON `lost` record (`exec`, `failed-exec`, `exit`, ...); `exec`,
//!   `failed-exec`, `exit`, `output` and `syslog` are present from the
//!   start, at 0, the other kinds once they happen.
//! * `execsnoop_received_total` — counter: exec records received from the
//!   source, before the filters.
//! * `execsnoop_source_info{source}` — gauge, 1: the event source in use.
//! * `execsnoop_build_info{version}` — gauge, 1.
//! * `execsnoop_start_time_seconds` — gauge: when tracing started, Unix time.
//! * `execsnoop_metrics_dropped_connections_total{reason}` — counter:
//!   connections to this endpoint the server closed without an answer:
//!   `evicted` (the table of 64 was full and a newer one needed the place),
//!   `request-deadline` (no whole request within 2 s of connecting),
//!   `send-deadline` (the answer not taken within 2 s), `client-closed`
//!   (closed before a whole request), `error` (a socket error, or one
//!   accepting). All present from the start.
//! * `execsnoop_metrics_stale_scrapes_total` — counter: scrapes answered
//!   with the per-command series of an earlier moment (see above).
//! * With `--metrics-commands N` only (N at most [`MAX_COMMANDS`]):
//!   `execsnoop_command_execs_total{comm}` — counter: execs of each command
//!   in the table of N (kept by the space-saving rule, see [`top`]: a
//!   command with more than 1/N of all execs is always there), counted since
//!   it entered the table; and `execsnoop_command_execs_other_total` —
//!   counter: the execs of commands pushed out of the table, so that the
//!   per-command series plus this one add up to `execsnoop_execs_total`
//!   (which is then taken at the same moment as they are). A command pushed
//!   out and back in starts again from 1 (a counter reset, as `rate()`
//!   expects).
//!
//! Label values: the command name as the text output shows it
//! ([`crate::escape`]: `\` doubled, control bytes such as ESC and CR, DEL,
//! C1 controls, bidi overrides and bytes that are not UTF-8 written as
//! `\xNN` / `\u{N}` text), then the exposition's own escaping of `\` and
//! `"`. So two different names are always two different series, and no
//! byte of a name can reach a terminal that shows the value raw.

pub mod server;
mod top;

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use crate::event::{LostKind, Record};
use crate::loss::OutputLoss;
use top::{Comm, TopCommands};

/// `--metrics-commands N`: N at most this (each is a series).
pub const MAX_COMMANDS: usize = 1000;

/// The settings of `--metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsOptions {
    pub addr: SocketAddr,
    /// `--metrics-commands N`: per-command series for a table of N (0: none).
    pub commands: usize,
}

/// Errno values a failed exec can return: 1..=4095 (the kernel's MAX_ERRNO).
const ERRNO_SLOTS: usize = 4096;

/// Every kind of loss, in the order of their counters.
const LOST_KINDS: [LostKind; 11] = [
    LostKind::Exec,
    LostKind::FailedExec,
    LostKind::Untracked,
    LostKind::Malformed,
    LostKind::Exit,
    LostKind::ProcTable,
    LostKind::TraceOverrun,
    LostKind::SocketOverflow,
    LostKind::Output,
    LostKind::Syslog,
    LostKind::NewlineName,
];

/// The counter of a kind of loss (exhaustive: a new kind must get one).
fn lost_slot(kind: LostKind) -> usize {
    match kind {
        LostKind::Exec => 0,
        LostKind::FailedExec => 1,
        LostKind::Untracked => 2,
        LostKind::Malformed => 3,
        LostKind::Exit => 4,
        LostKind::ProcTable => 5,
        LostKind::TraceOverrun => 6,
        LostKind::SocketOverflow => 7,
        LostKind::Output => 8,
        LostKind::Syslog => 9,
        LostKind::NewlineName => 10,
    }
}

/// Why the server closed a connection without answering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    Evicted,
    RequestDeadline,
    SendDeadline,
    ClientClosed,
    Error,
}

const DROPPED: [Dropped; 5] =
    [Dropped::Evicted, Dropped::RequestDeadline, Dropped::SendDeadline, Dropped::ClientClosed, Dropped::Error];

impl Dropped {
    fn as_str(self) -> &'static str {
        match self {
            Dropped::Evicted => "evicted",
            Dropped::RequestDeadline => "request-deadline",
            Dropped::SendDeadline => "send-deadline",
            Dropped::ClientClosed => "client-closed",
            Dropped::Error => "error",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// The counters, shared by the run loop and the server thread.
pub struct Metrics {
    execs: AtomicU64,
    exits: AtomicU64,
    received: AtomicU64,
    /// Failed execs by errno; slot 0 for a value outside 1..=4095.
    failed: Box<[AtomicU64]>,
    /// Lost records by kind ([`lost_slot`]), as the stream reported them.
    lost: [AtomicU64; LOST_KINDS.len()],
    source: &'static str,
    start_secs: u64,
    commands: Option<Commands>,
    /// What the outputs could not take (`kind="output"`, `kind="syslog"`).
    outputs: Arc<OutputLoss>,
    dropped: [AtomicU64; DROPPED.len()],
    stale: AtomicU64,
}

/// The per-command table and the copy of it the server reads.
struct Commands {
    /// Locked by the tracing loop only ([`Metrics::record`], [`Metrics::tick`]):
    /// never contended.
    table: Mutex<Table>,
    /// The copy scrapes render from. The loop only `try_lock`s it.
    shared: Mutex<Snapshot>,
    /// The table's `added` after its last change (set by the loop), to tell
    /// whether `shared` is current without asking the loop.
    changed: AtomicU64,
    /// A scrape wants a newer copy.
    requested: AtomicBool,
}

struct Table {
    top: TopCommands,
    /// `top.added()` when it was last copied into `shared`.
    published: u64,
}

#[derive(Default)]
struct Snapshot {
    rows: Vec<(Comm, u64)>,
    other: u64,
    /// Execs given to the table when copied: `execsnoop_execs_total` then.
    added: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding it cannot leave the counters inconsistent in a
    // way that matters: keep counting.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// `commands`: the size of the per-command table, 0 for none (at most
    /// [`MAX_COMMANDS`]; config checks it).
    pub fn new(source: &'static str, commands: usize, outputs: Arc<OutputLoss>) -> Metrics {
        let start_secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let commands = (commands > 0).then(|| Commands {
            table: Mutex::new(Table { top: TopCommands::new(commands), published: 0 }),
            shared: Mutex::new(Snapshot { rows: Vec::with_capacity(commands), ..Snapshot::default() }),
            changed: AtomicU64::new(0),
            requested: AtomicBool::new(false),
        });
        Metrics {
            execs: AtomicU64::new(0),
            exits: AtomicU64::new(0),
            received: AtomicU64::new(0),
            failed: (0..ERRNO_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            lost: Default::default(),
            source,
            start_secs,
            commands,
            outputs,
            dropped: Default::default(),
            stale: AtomicU64::new(0),
        }
    }

    /// An exec record came from the source (before the filters).
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// A record passed the filters and goes to the sink (tracing loop).
    pub fn record(&self, rec: &Record) {
        match rec {
            Record::Exec(e) if e.ret == 0 => {
                self.execs.fetch_add(1, Ordering::Relaxed);
                if let Some(c) = &self.commands {
                    let mut t = lock(&c.table);
                    t.top.add(&e.comm);
                    c.changed.store(t.top.added(), Ordering::Release);
                }
            }
            Record::Exec(e) => {
                let errno = usize::try_from(-i64::from(e.ret)).ok().filter(|&n| n < ERRNO_SLOTS).unwrap_or(0);
                self.failed[errno].fetch_add(1, Ordering::Relaxed);
            }
            Record::Exit(_) => {
                self.exits.fetch_add(1, Ordering::Relaxed);
            }
            Record::Lost(x) => {
                self.lost[lost_slot(x.kind)].fetch_add(x.count, Ordering::Relaxed);
            }
        }
    }

    /// The tracing loop's turn (every pass of the loop; `idle`: the pass
    /// found no records): hand the server a copy of the per-command table if
    /// it asked for one, or if the table changed and records have paused
    /// (so that a scrape in a quiet spell is answered at once). Never waits.
    pub fn tick(&self, idle: bool) {
        let Some(c) = &self.commands else { return };
        let asked = c.requested.load(Ordering::Acquire);
        if !asked && !idle {
            return;
        }
        let mut t = lock(&c.table);
        if t.published == t.top.added() && !asked {
            return;
        }
        let mut s = match c.shared.try_lock() {
            Ok(s) => s,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            // The server is reading the last copy: at the next turn.
            Err(TryLockError::WouldBlock) => return,
        };
        t.top.copy_into(&mut s.rows);
        s.other = t.top.other();
        s.added = t.top.added();
        drop(s);
        t.published = t.top.added();
        c.requested.store(false, Ordering::Release);
    }

    /// Server: None when a scrape can be answered now; otherwise the table
    /// has changed since its last copy, the loop is asked for a new one, and
    /// the value to pass to [`Metrics::snapshot_since`].
    fn want_snapshot(&self) -> Option<u64> {
        let c = self.commands.as_ref()?;
        let have = lock(&c.shared).added;
        let now = c.changed.load(Ordering::Acquire);
        if have >= now {
            return None;
        }
        c.requested.store(true, Ordering::Release);
        Some(now)
    }

    /// Server: the copy holds every exec up to `asked`.
    fn snapshot_since(&self, asked: u64) -> bool {
        self.commands.as_ref().is_none_or(|c| lock(&c.shared).added >= asked)
    }

    fn dropped(&self, why: Dropped) {
        self.dropped[why.slot()].fetch_add(1, Ordering::Relaxed);
    }

    fn stale_scrape(&self) {
        self.stale.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text (format version 0.0.4).
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(4096);
        // The per-command copy, taken out of the shared slot at once.
        let commands = self.commands.as_ref().map(|c| {
            let s = lock(&c.shared);
            (s.rows.clone(), s.other, s.added)
        });
        let head = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(&mut o, "execsnoop_execs_total", "counter", "Successful execs written, after the filters.");
        // With the per-command series, at the same moment as they are.
        let execs = commands.as_ref().map_or_else(|| self.execs.load(Ordering::Relaxed), |c| c.2);
        let _ = writeln!(o, "execsnoop_execs_total {execs}");
        head(&mut o, "execsnoop_failed_execs_total", "counter", "Failed exec attempts written (-x), by errno.");
        for (errno, n) in self.failed.iter().enumerate().skip(1).chain(self.failed.iter().enumerate().take(1)) {
            let n = n.load(Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            let name = i32::try_from(errno).ok().and_then(crate::errno::name);
            match (errno, name) {
                (0, _) => {
                    let _ = writeln!(o, "execsnoop_failed_execs_total{{errno=\"unknown\"}} {n}");
                }
                (_, Some(name)) => {
                    let _ = writeln!(o, "execsnoop_failed_execs_total{{errno=\"{name}\"}} {n}");
                }
                (num, None) => {
                    let _ = writeln!(o, "execsnoop_failed_execs_total{{errno=\"E{num}\"}} {n}");
                }
            }
        }
        head(&mut o, "execsnoop_exits_total", "counter", "Exit records written.");
        let _ = writeln!(o, "execsnoop_exits_total {}", self.exits.load(Ordering::Relaxed));
        head(&mut o, "execsnoop_lost_total", "counter", "Records lost, by kind.");
        for kind in LOST_KINDS {
            let stream = self.lost[lost_slot(kind)].load(Ordering::Relaxed);
            let n = match kind {
                // Counted by the outputs, unless the stream carried them.
                LostKind::Output if stream == 0 => self.outputs.output(),
                LostKind::Syslog if stream == 0 => self.outputs.syslog(),
                LostKind::Exec | LostKind::FailedExec | LostKind::Exit | LostKind::Output | LostKind::Syslog => stream,
                _ if stream > 0 => stream,
                _ => continue,
            };
            let _ = writeln!(o, "execsnoop_lost_total{{kind=\"{}\"}} {n}", kind.as_str());
        }
        head(
            &mut o,
            "execsnoop_received_total",
            "counter",
            "Exec records received from the source, before the filters.",
        );
        let _ = writeln!(o, "execsnoop_received_total {}", self.received.load(Ordering::Relaxed));
        head(&mut o, "execsnoop_source_info", "gauge", "The event source in use.");
        let _ = writeln!(o, "execsnoop_source_info{{source=\"{}\"}} 1", self.source);
        head(&mut o, "execsnoop_build_info", "gauge", "The execsnoop build.");
        let _ = writeln!(o, "execsnoop_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        head(&mut o, "execsnoop_start_time_seconds", "gauge", "When tracing started, Unix time.");
        let _ = writeln!(o, "execsnoop_start_time_seconds {}", self.start_secs);
        head(
            &mut o,
            "execsnoop_metrics_dropped_connections_total",
            "counter",
            "Connections to this endpoint closed without an answer, by reason.",
        );
        for why in DROPPED {
            let n = self.dropped[why.slot()].load(Ordering::Relaxed);
            let _ = writeln!(o, "execsnoop_metrics_dropped_connections_total{{reason=\"{}\"}} {n}", why.as_str());
        }
        head(
            &mut o,
            "execsnoop_metrics_stale_scrapes_total",
            "counter",
            "Scrapes answered with per-command series of an earlier moment (the tracing loop was busy).",
        );
        let _ = writeln!(o, "execsnoop_metrics_stale_scrapes_total {}", self.stale.load(Ordering::Relaxed));
        if let Some((mut rows, other, _)) = commands {
            rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.as_bytes().cmp(b.0.as_bytes())));
            head(
                &mut o,
                "execsnoop_command_execs_total",
                "counter",
                "Execs of the commands in the bounded table, since each entered it.",
            );
            let mut esc = Vec::with_capacity(64);
            for (comm, n) in &rows {
                o.push_str("execsnoop_command_execs_total{comm=\"");
                push_label_value(&mut o, &mut esc, comm.as_bytes());
                let _ = writeln!(o, "\"}} {n}");
            }
            head(
                &mut o,
                "execsnoop_command_execs_other_total",
                "counter",
                "Execs of the commands pushed out of the bounded table.",
            );
            let _ = writeln!(o, "execsnoop_command_execs_other_total {other}");
        }
        o
    }
}

/// Append `b` as a label value: escaped for a terminal and injectively
/// ([`crate::escape`]), then for the exposition format (`\` and `"`; the
/// first step leaves no newline). `esc` is scratch space.
fn push_label_value(o: &mut String, esc: &mut Vec<u8>, b: &[u8]) {
    esc.clear();
    crate::escape::escape_into(esc, b);
    // Always valid UTF-8 (crate::escape's promise); lossy only so that
    // nothing here can panic.
    for c in String::from_utf8_lossy(esc).chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
}

/// Bind `addr` (at start: an address in use is an error before tracing).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("--metrics {addr}: {e}")))
}

/// Serve scrapes on `listener`, on a thread of its own, for as long as the
/// process lives. Returns the address it listens on.
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> io::Result<SocketAddr> {
    serve_with(listener, metrics, server::Limits::DEFAULT)
}

/// [`serve`] with other limits (tests).
pub fn serve_with(listener: TcpListener, metrics: Arc<Metrics>, limits: server::Limits) -> io::Result<SocketAddr> {
    let bound = listener.local_addr()?;
    server::spawn(listener, metrics, limits)?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Exec, Exit, Lost};
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    fn exec(comm: &[u8]) -> Record {
        Record::Exec(Exec { comm: comm.to_vec(), ..Exec::default() })
    }

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    }

    /// A scrape while this thread plays the tracing loop (ticking, busy).
    fn scrape_while_ticking(m: &Metrics, addr: SocketAddr) -> String {
        let t = std::thread::spawn(move || get(addr, "/metrics"));
        while !t.is_finished() {
            m.tick(false);
            std::thread::sleep(Duration::from_millis(1));
        }
        t.join().unwrap()
    }

    fn value(text: &str, series: &str) -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series}\n{text}"))
            .parse()
            .unwrap()
    }

    fn quick(connections: usize) -> server::Limits {
        server::Limits {
            connections,
            request: Duration::from_millis(300),
            send: Duration::from_millis(300),
            header_bytes: 16 * 1024,
        }
    }

    #[test]
    fn counts_and_serves() {
        let m = Arc::new(Metrics::new("bpf", 2, Arc::default()));
        for comm in ["sh", "sh", "sh", "ls", "ls", "cat"] {
            m.received();
            m.record(&exec(comm.as_bytes()));
        }
        m.record(&Record::Exec(Exec { ret: -libc::ENOENT, ..Exec::default() }));
        m.record(&Record::Exec(Exec { ret: -4095, ..Exec::default() }));
        m.record(&Record::Exec(Exec { ret: -5000, ..Exec::default() }));
        m.record(&Record::Exit(Exit::default()));
        m.record(&Record::Lost(Lost { count: 5, kind: LostKind::Exec, ts_ns: 1 }));
        m.record(&Record::Lost(Lost { count: 2, kind: LostKind::TraceOverrun, ts_ns: 1 }));
        let addr = serve(bind("127.0.0.1:0".parse().unwrap()).unwrap(), m.clone()).unwrap();
        // A scraper that connects and never speaks does not stop the others.
        let _silent = TcpStream::connect(addr).unwrap();
        let r = scrape_while_ticking(&m, addr);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4"), "{r}");
        for line in [
            "execsnoop_execs_total 6",
            "execsnoop_received_total 6",
            "execsnoop_failed_execs_total{errno=\"ENOENT\"} 1",
            "execsnoop_failed_execs_total{errno=\"E4095\"} 1",
            "execsnoop_failed_execs_total{errno=\"unknown\"} 1",
            "execsnoop_exits_total 1",
            "execsnoop_lost_total{kind=\"exec\"} 5",
            "execsnoop_lost_total{kind=\"exit\"} 0",
            "execsnoop_lost_total{kind=\"output\"} 0",
            "execsnoop_lost_total{kind=\"trace-overrun\"} 2",
            "execsnoop_source_info{source=\"bpf\"} 1",
            "execsnoop_command_execs_total{comm=\"sh\"} 3",
            // A table of 2: "cat" took the place of the smallest ("ls",
            // 2 execs, now in other), with an estimate of 3 but a count of 1.
            "execsnoop_command_execs_total{comm=\"cat\"} 1",
            "execsnoop_command_execs_other_total 2",
            "execsnoop_metrics_stale_scrapes_total 0",
            "execsnoop_metrics_dropped_connections_total{reason=\"evicted\"} 0",
        ] {
            assert!(r.lines().any(|l| l == line), "missing {line:?}\n{r}");
        }
        assert!(!r.contains("comm=\"ls\""), "{r}");
        assert!(!r.contains("kind=\"malformed\""), "kinds that never happened are left out\n{r}");
        assert!(get(addr, "/nope").starts_with("HTTP/1.1 404"));
        let head = {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"HEAD /metrics HTTP/1.0\r\n\r\n").unwrap();
            let mut s = String::new();
            c.read_to_string(&mut s).unwrap();
            s
        };
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"), "no body: {head}");
    }

    #[test]
    fn the_per_command_series_add_up_to_the_execs() {
        let m = Arc::new(Metrics::new("bpf", 5, Arc::default()));
        for i in 0..2000u32 {
            let name = if i % 3 == 0 { "sh".to_string() } else { format!("n{}", i % 50) };
            m.record(&exec(name.as_bytes()));
        }
        let addr = serve(bind("127.0.0.1:0".parse().unwrap()).unwrap(), m.clone()).unwrap();
        let r = scrape_while_ticking(&m, addr);
        let per: u64 = r
            .lines()
            .filter(|l| l.starts_with("execsnoop_command_execs_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        let rows = r.lines().filter(|l| l.starts_with("execsnoop_command_execs_total{")).count();
        assert_eq!(rows, 5, "the table holds 5\n{r}");
        assert_eq!(per + value(&r, "execsnoop_command_execs_other_total"), 2000, "{r}");
        assert_eq!(value(&r, "execsnoop_execs_total"), 2000);
        assert!(r.contains("execsnoop_command_execs_total{comm=\"sh\"} 667\n"), "a third of all: kept whole\n{r}");
    }

    #[test]
    fn a_quiet_tracer_hands_over_the_table_when_idle() {
        let m = Arc::new(Metrics::new("bpf", 3, Arc::default()));
        m.record(&exec(b"sh"));
        // The loop's idle turn copies a changed table without being asked:
        // the scrape is answered at once, without any more turns.
        m.tick(true);
        let addr = serve(bind("127.0.0.1:0".parse().unwrap()).unwrap(), m.clone()).unwrap();
        let start = Instant::now();
        let r = get(addr, "/metrics");
        assert!(start.elapsed() < Duration::from_millis(400), "{:?}", start.elapsed());
        assert!(r.contains("execsnoop_command_execs_total{comm=\"sh\"} 1\n"), "{r}");
        assert!(r.contains("execsnoop_metrics_stale_scrapes_total 0\n"), "{r}");
    }

    #[test]
    fn a_loop_that_does_not_turn_gets_a_stale_but_whole_answer() {
        let m = Arc::new(Metrics::new("bpf", 3, Arc::default()));
        m.record(&exec(b"sh"));
        m.tick(true);
        m.record(&exec(b"sh"));
        m.record(&exec(b"ls"));
        // No turn of the loop from here on (it is stuck writing, say).
        let addr = serve(bind("127.0.0.1:0".parse().unwrap()).unwrap(), m.clone()).unwrap();
        let start = Instant::now();
        let r = get(addr, "/metrics");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(3), "{took:?}");
        // The copy's moment, whole: execs 1 with sh 1, not execs 3.
        assert!(r.contains("execsnoop_execs_total 1\n"), "{r}");
        assert!(r.contains("execsnoop_command_execs_total{comm=\"sh\"} 1\n"), "{r}");
        assert!(r.contains("execsnoop_metrics_stale_scrapes_total 1\n"), "{r}");
        // The next turn hands over the rest.
        let r = scrape_while_ticking(&m, addr);
        assert!(r.contains("execsnoop_execs_total 3\n") && r.contains("comm=\"ls\"} 1\n"), "{r}");
    }

    #[test]
    fn the_loop_never_waits_for_a_scrape() {
        // The server holding the shared copy (as while rendering) does not
        // make the loop wait: its turn passes and it hands over later.
        let m = Metrics::new("bpf", 3, Arc::default());
        m.record(&exec(b"sh"));
        let c = m.commands.as_ref().unwrap();
        let held = lock(&c.shared);
        c.requested.store(true, Ordering::Release);
        let start = Instant::now();
        m.tick(false);
        m.record(&exec(b"sh"));
        assert!(start.elapsed() < Duration::from_millis(50));
        assert_eq!(held.added, 0, "nothing handed over while held");
        drop(held);
        m.tick(false);
        assert_eq!(lock(&c.shared).added, 2);
        assert!(!c.requested.load(Ordering::Acquire));
    }

    #[test]
    fn label_values_are_distinct_and_terminal_safe() {
        let label = |b: &[u8]| {
            let (mut o, mut esc) = (String::new(), Vec::new());
            push_label_value(&mut o, &mut esc, b);
            o
        };
        assert_eq!(label(b"a\"b\\c\nd"), "a\\\"b\\\\\\\\c\\\\nd");
        // ESC and CR as text, never raw; a literal backslash doubled first.
        assert_eq!(label(b"a\x1b[2J"), "a\\\\x1b[2J");
        assert_eq!(label(b"a\\x1b[2J"), "a\\\\\\\\x1b[2J");
        assert_eq!(label(b"x\ry"), "x\\\\ry");
        // Two names that are not UTF-8 stay two.
        assert_ne!(label(b"a\xff"), label(b"a\xfe"));
        assert_eq!(label(b"a\xff"), "a\\\\xff");
        assert_eq!(label("\u{202e}evil".as_bytes()), "\\\\u{202e}evil");
        for b in [&b"\x00\x7f\x9b"[..], "\u{9b}".as_bytes(), b"\xc2"] {
            assert!(label(b).chars().all(|c| !c.is_control()), "{b:?}");
        }
    }

    #[test]
    fn every_kind_of_loss_has_its_own_counter() {
        for (i, k) in LOST_KINDS.iter().enumerate() {
            assert_eq!(lost_slot(*k), i);
        }
        for (i, d) in DROPPED.iter().enumerate() {
            assert_eq!(d.slot(), i);
        }
    }

    #[test]
    fn a_full_table_evicts_the_oldest_idle_connection() {
        let m = Arc::new(Metrics::new("bpf", 0, Arc::default()));
        let addr = serve_with(bind("127.0.0.1:0".parse().unwrap()).unwrap(), m.clone(), quick(4)).unwrap();
        let mut idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        let r = get(addr, "/metrics");
        assert!(start.elapsed() < Duration::from_millis(250), "answered at once: {:?}", start.elapsed());
        assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
        // The oldest was closed to make room; the others are still open.
        idle[0].set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut b = [0u8; 1];
        assert!(matches!(idle[0].read(&mut b), Ok(0) | Err(_)), "the oldest was closed");
        idle[1].set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let e = idle[1].read(&mut b).unwrap_err();
        assert!(matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut), "{e}");
        let r = get(addr, "/metrics");
        assert!(value(&r, "execsnoop_metrics_dropped_connections_total{reason=\"evicted\"}") >= 1, "{r}");
    }

    #[test]
    fn a_slow_request_is_cut_at_the_deadline_not_per_read() {
        let m = Arc::new(Metrics::new("bpf", 0, Arc::default()));
        let addr = serve_with(bind("127.0.0.1:0".parse().unwrap()).unwrap(), m.clone(), quick(8)).unwrap();
        let mut c = TcpStream::connect(addr).unwrap();
        let start = Instant::now();
        // One byte every 50 ms, never the blank line: each read is quick,
        // the whole request is not.
        let closed_after = loop {
            std::thread::sleep(Duration::from_millis(50));
            if c.write_all(b"G").is_err() {
                break start.elapsed();
            }
            let mut b = [0u8; 1];
            c.set_nonblocking(true).unwrap();
            let r = c.read(&mut b);
            c.set_nonblocking(false).unwrap();
            if matches!(r, Ok(0)) || matches!(&r, Err(e) if e.kind() != io::ErrorKind::WouldBlock) {
                break start.elapsed();
            }
            assert!(start.elapsed() < Duration::from_secs(5), "never cut");
        };
        assert!(
            closed_after >= Duration::from_millis(280) && closed_after < Duration::from_secs(2),
            "{closed_after:?}"
        );
        let r = get(addr, "/metrics");
        assert_eq!(value(&r, "execsnoop_metrics_dropped_connections_total{reason=\"request-deadline\"}"), 1, "{r}");
    }

    #[test]
    fn oversized_headers_get_431_and_bad_requests_400_or_405() {
        let m = Arc::new(Metrics::new("bpf", 0, Arc::default()));
        let addr = serve(bind("127.0.0.1:0".parse().unwrap()).unwrap(), m).unwrap();
        let ask = |req: &[u8]| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(req).unwrap();
            let mut s = Vec::new();
            let _ = c.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        };
        let big = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", "p".repeat(20 * 1024));
        let r = ask(big.as_bytes());
        assert!(r.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{r:.200}");
        let many: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(ask(format!("GET /metrics HTTP/1.1\r\n{many}\r\n").as_bytes()).starts_with("HTTP/1.1 431 "));
        assert!(ask(b"\x16\x03\x01\x02\r\n\r\n").starts_with("HTTP/1.1 400 "));
        let r = ask(b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        assert!(r.starts_with("HTTP/1.1 405 ") && r.contains("\r\nAllow: GET, HEAD\r\n"), "{r}");
        // Just under the cap is a request like any other.
        let fits = format!("GET /metrics HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "p".repeat(16 * 1024 - 64));
        assert!(ask(fits.as_bytes()).starts_with("HTTP/1.1 200 "));
    }

    /// A client whose receive buffer is tiny (set before connecting, so the
    /// window is small from the start) and that never reads.
    fn non_reader(addr: SocketAddr) -> TcpStream {
        use std::os::fd::FromRawFd;
        let SocketAddr::V4(v4) = addr else { panic!("v4 only") };
        // SAFETY: plain socket(2); the descriptor is checked and owned below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0);
        // SAFETY: `fd` is ours and open; from here on the TcpStream owns it.
        let s = unsafe { TcpStream::from_raw_fd(fd) };
        let size: libc::c_int = 2048;
        // SAFETY: a valid c_int of the given size for SO_RCVBUF.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw const size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() },
            sin_zero: [0; 8],
        };
        // SAFETY: `sin` is a valid sockaddr_in of the given size.
        let rc = unsafe {
            libc::connect(fd, (&raw const sin).cast(), std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        s
    }

    #[test]
    fn a_client_that_never_reads_holds_only_its_slot_and_only_for_a_while() {
        let m = Arc::new(Metrics::new("bpf", MAX_COMMANDS, Arc::default()));
        for i in 0..MAX_COMMANDS {
            m.record(&exec(format!("long-name-{i:05}").as_bytes()));
        }
        m.tick(true);
        let addr = serve_with(bind("127.0.0.1:0".parse().unwrap()).unwrap(), m.clone(), quick(8)).unwrap();
        let mut stuck = non_reader(addr);
        stuck.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // Another scrape is answered meanwhile, whole.
        let start = Instant::now();
        let r = get(addr, "/metrics");
        assert!(start.elapsed() < Duration::from_millis(250), "{:?}", start.elapsed());
        assert!(r.len() > 50_000 && r.ends_with("execsnoop_command_execs_other_total 0\n"), "{}", r.len());
        // Past the 300 ms deadline the server has let go of it: what the
        // client sends now is refused (a reset), where a connection still
        // held would take it. (On loopback the kernel takes the whole answer
        // into its buffers, so this is the draining side of the deadline;
        // server::tests has the sending side.)
        std::thread::sleep(Duration::from_millis(400));
        let refused = (0..20).any(|_| {
            let r = stuck.write(b"x");
            std::thread::sleep(Duration::from_millis(20));
            r.is_err()
        });
        assert!(refused, "the server still holds the connection of a client that never reads");
    }
}
