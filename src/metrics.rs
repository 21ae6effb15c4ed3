//! `--metrics ADDR:PORT`: a Prometheus text-exposition endpoint, `/metrics`,
//! served from a thread of its own.
//!
//! The run loop counts each record after the filters ([`Metrics::record`]:
//! atomic adds, and a short lock for the few labelled counters); the server
//! thread formats a snapshot per scrape. A scraper that is slow, or never
//! reads, holds only its own connection (a thread each, at most 8 at once,
//! two-second read and write timeouts): never the lock while it writes, and
//! never the tracing.
//!
//! The series (low cardinality by design: no per-command label unless
//! `--metrics-commands N` asks for the top N):
//!
//! * `execsnoop_execs_total` — counter: successful execs written (after the
//!   filters, as the output shows them).
//! * `execsnoop_failed_execs_total{errno}` — counter: failed attempts written
//!   (`-x`), by errno name (`ENOENT`, ...).
//! * `execsnoop_exits_total` — counter: exit records written (`-e`,
//!   `--wait`, `--summary`).
//! * `execsnoop_lost_total{kind}` — counter: records lost, by the kinds of
//!   the JSON `lost` record (`exec`, `failed-exec`, `exit`, ...); every kind
//!   the source can report is present from the start, at 0.
//! * `execsnoop_received_total` — counter: exec records received from the
//!   source, before the filters.
//! * `execsnoop_source_info{source}` — gauge, 1: the event source in use.
//! * `execsnoop_build_info{version}` — gauge, 1.
//! * `execsnoop_start_time_seconds` — gauge: when tracing started, Unix time.
//! * `execsnoop_command_execs_total{comm}` — counter, only with
//!   `--metrics-commands N`: execs of the N commands with the most execs so
//!   far (names not valid UTF-8 are shown lossily; the series of a command
//!   that falls out of the top N disappears).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::event::{LostKind, Record};
use crate::loss::OutputLoss;

/// A scraper gets this long to send its request and to take the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Scrapes answered at once, at most.
const MAX_CONNECTIONS: u64 = 8;

/// The settings of `--metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsOptions {
    pub addr: SocketAddr,
    /// `--metrics-commands N`: per-command series for the top N (0: none).
    pub commands: usize,
}

/// The counters, shared by the run loop and the server thread.
pub struct Metrics {
    execs: AtomicU64,
    exits: AtomicU64,
    received: AtomicU64,
    source: &'static str,
    start_secs: u64,
    commands: usize,
    labelled: Mutex<Labelled>,
    /// What the outputs could not take (`kind="output"`, `kind="syslog"`).
    outputs: Arc<OutputLoss>,
}

#[derive(Default)]
struct Labelled {
    failed: BTreeMap<&'static str, u64>,
    /// errno numbers without a name.
    failed_other: BTreeMap<i32, u64>,
    lost: BTreeMap<&'static str, u64>,
    by_comm: HashMap<Vec<u8>, u64>,
}

impl Metrics {
    pub fn new(source: &'static str, commands: usize, outputs: Arc<OutputLoss>) -> Metrics {
        let start_secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut labelled = Labelled::default();
        for kind in [LostKind::Exec, LostKind::FailedExec, LostKind::Exit] {
            labelled.lost.insert(kind.as_str(), 0);
        }
        Metrics {
            execs: AtomicU64::new(0),
            exits: AtomicU64::new(0),
            received: AtomicU64::new(0),
            source,
            start_secs,
            commands,
            labelled: Mutex::new(labelled),
            outputs,
        }
    }

    /// An exec record came from the source (before the filters).
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// A record passed the filters and goes to the sink.
    pub fn record(&self, rec: &Record) {
        match rec {
            Record::Exec(e) if e.ret == 0 => {
                self.execs.fetch_add(1, Ordering::Relaxed);
                if self.commands > 0 {
                    let mut l = self.lock();
                    match l.by_comm.get_mut(&e.comm) {
                        Some(n) => *n += 1,
                        None => {
                            l.by_comm.insert(e.comm.clone(), 1);
                        }
                    }
                }
            }
            Record::Exec(e) => {
                let mut l = self.lock();
                match crate::errno::name(-e.ret) {
                    Some(name) => *l.failed.entry(name).or_default() += 1,
                    None => *l.failed_other.entry(-e.ret).or_default() += 1,
                }
            }
            Record::Exit(_) => {
                self.exits.fetch_add(1, Ordering::Relaxed);
            }
            Record::Lost(x) => *self.lock().lost.entry(x.kind.as_str()).or_default() += x.count,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Labelled> {
        // A panic while holding it cannot leave the counters inconsistent
        // in a way that matters: keep counting.
        self.labelled.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The exposition text (format version 0.0.4).
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(2048);
        let (failed, failed_other, lost, top) = {
            let l = self.lock();
            let mut top: Vec<(Vec<u8>, u64)> = Vec::new();
            if self.commands > 0 {
                top = l.by_comm.iter().map(|(k, v)| (k.clone(), *v)).collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                top.truncate(self.commands);
            }
            (l.failed.clone(), l.failed_other.clone(), l.lost.clone(), top)
        };
        let head = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(&mut o, "execsnoop_execs_total", "counter", "Successful execs written, after the filters.");
        let _ = writeln!(o, "execsnoop_execs_total {}", self.execs.load(Ordering::Relaxed));
        head(&mut o, "execsnoop_failed_execs_total", "counter", "Failed exec attempts written (-x), by errno.");
        for (name, n) in &failed {
            let _ = writeln!(o, "execsnoop_failed_execs_total{{errno=\"{name}\"}} {n}");
        }
        for (num, n) in &failed_other {
            let _ = writeln!(o, "execsnoop_failed_execs_total{{errno=\"E{num}\"}} {n}");
        }
        head(&mut o, "execsnoop_exits_total", "counter", "Exit records written.");
        let _ = writeln!(o, "execsnoop_exits_total {}", self.exits.load(Ordering::Relaxed));
        head(&mut o, "execsnoop_lost_total", "counter", "Records lost, by kind.");
        for (kind, n) in &lost {
            let _ = writeln!(o, "execsnoop_lost_total{{kind=\"{kind}\"}} {n}");
        }
        for (kind, n) in [(LostKind::Output, self.outputs.output()), (LostKind::Syslog, self.outputs.syslog())] {
            if !lost.contains_key(kind.as_str()) {
                let _ = writeln!(o, "execsnoop_lost_total{{kind=\"{}\"}} {n}", kind.as_str());
            }
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
        if self.commands > 0 {
            head(&mut o, "execsnoop_command_execs_total", "counter", "Execs of the commands with the most execs.");
            for (comm, n) in &top {
                let _ = writeln!(o, "execsnoop_command_execs_total{{comm=\"{}\"}} {n}", label_value(comm));
            }
        }
        o
    }
}

/// A label value as the text format wants it: `\`, `"` and newline escaped.
fn label_value(b: &[u8]) -> String {
    let mut s = String::new();
    for c in String::from_utf8_lossy(b).chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Bind `addr` (at start: an address in use is an error before tracing).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("--metrics {addr}: {e}")))
}

/// Serve scrapes on `listener`, on a thread of its own, for as long as the
/// process lives. Returns the address it listens on.
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> io::Result<SocketAddr> {
    let bound = listener.local_addr()?;
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        let busy = Arc::new(AtomicU64::new(0));
        for conn in listener.incoming() {
            // One bad connection does not end the server; each is answered
            // on a thread of its own, at most MAX_CONNECTIONS at once (more
            // are closed at once), so a stuck scraper delays nobody.
            let Ok(conn) = conn else { continue };
            if busy.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                busy.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            let (m, b) = (metrics.clone(), busy.clone());
            let spawned = std::thread::Builder::new().name("metrics-conn".into()).spawn(move || {
                let _ = answer(conn, &m);
                b.fetch_sub(1, Ordering::AcqRel);
            });
            if spawned.is_err() {
                busy.fetch_sub(1, Ordering::AcqRel);
            }
        }
    })?;
    Ok(bound)
}

/// One HTTP/1.x request: `GET /metrics` gets the text; anything else 404
/// (or 405 for another method). The connection is closed after it.
fn answer(mut conn: TcpStream, metrics: &Metrics) -> io::Result<()> {
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut req = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && !req.windows(2).any(|w| w == b"\n\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
        if req.len() > 16 * 1024 {
            break;
        }
    }
    let line = req.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics.render()),
        ("GET" | "HEAD", "/") => (
            "200 OK",
            "text/html; charset=utf-8",
            "<html><body><a href=\"/metrics\">/metrics</a></body></html>\n".to_string(),
        ),
        ("GET" | "HEAD", _) => ("404 Not Found", "text/plain; charset=utf-8", "not found\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain; charset=utf-8", "method not allowed\n".to_string()),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    conn.write_all(&out)?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Exec, Exit, Lost};

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn counts_and_serves() {
        let m = Arc::new(Metrics::new("bpf", 2, Arc::default()));
        for comm in ["sh", "sh", "sh", "ls", "ls", "cat"] {
            m.received();
            m.record(&Record::Exec(Exec { comm: comm.into(), ..Exec::default() }));
        }
        m.record(&Record::Exec(Exec { ret: -libc::ENOENT, ..Exec::default() }));
        m.record(&Record::Exec(Exec { ret: -4095, ..Exec::default() }));
        m.record(&Record::Exit(Exit::default()));
        m.record(&Record::Lost(Lost { count: 5, kind: LostKind::Exec, ts_ns: 1 }));
        let addr = serve(bind("127.0.0.1:0".parse().unwrap()).unwrap(), m.clone()).unwrap();
        // A scraper that connects and never speaks does not stop the others.
        let _silent = TcpStream::connect(addr).unwrap();
        let t = std::thread::spawn(move || get(addr, "/metrics"));
        let r = t.join().unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4"), "{r}");
        for line in [
            "execsnoop_execs_total 6",
            "execsnoop_received_total 6",
            "execsnoop_failed_execs_total{errno=\"ENOENT\"} 1",
            "execsnoop_failed_execs_total{errno=\"E4095\"} 1",
            "execsnoop_exits_total 1",
            "execsnoop_lost_total{kind=\"exec\"} 5",
            "execsnoop_lost_total{kind=\"exit\"} 0",
            "execsnoop_source_info{source=\"bpf\"} 1",
            "execsnoop_command_execs_total{comm=\"sh\"} 3",
            "execsnoop_command_execs_total{comm=\"ls\"} 2",
        ] {
            assert!(r.lines().any(|l| l == line), "missing {line:?}\n{r}");
        }
        assert!(!r.contains("comm=\"cat\""), "only the top 2\n{r}");
        assert!(get(addr, "/nope").starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn label_values_escaped() {
        assert_eq!(label_value(b"a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn an_address_in_use_is_an_error() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let e = bind(l.local_addr().unwrap()).unwrap_err();
        assert!(e.to_string().starts_with("--metrics 127.0.0.1:"), "{e}");
    }
}
