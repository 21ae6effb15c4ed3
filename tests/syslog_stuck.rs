//! `--syslog` against a daemon that does not behave: a socket that never
//! reads must not hold the tracer (a signal ends tracing within a second or
//! so, status 0), and what could not be sent is counted the same way on
//! stderr, in the closing line and in `--metrics`; a daemon that restarts
//! (its socket replaced at the same path) gets the records that follow.
//!
//! Root and BPF: `#[ignore]`d by default; run with `--include-ignored`.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::support::{TempDir, Tracer, marker, root_test};

/// Every datagram waiting on `sock`, without blocking.
fn read_all(sock: &UnixDatagram) -> Vec<String> {
    sock.set_nonblocking(true).unwrap();
    let mut buf = vec![0u8; 1 << 17];
    let mut out = Vec::new();
    while let Ok(n) = sock.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

/// The `execsnoop_lost_total{kind="syslog"}` value of a scrape.
fn lost_syslog(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("execsnoop_lost_total{kind=\"syslog\"} "))
        .unwrap_or_else(|| panic!("no syslog lost series\n{metrics}"))
        .parse()
        .unwrap()
}

#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn a_socket_that_never_reads_does_not_hold_the_tracer() {
    let _g = root_test();
    let dir = TempDir::new("syslog-stuck");
    let path = dir.path.join("log");
    // Bound, never read: its queue (net.unix.max_dgram_qlen) fills at once.
    let receiver = UnixDatagram::bind(&path).unwrap();
    let port = crate::support::free_port();
    let tag = marker("stuck");
    let addr = format!("127.0.0.1:{port}");
    let t = Tracer::start(&["--syslog", "--syslog-socket", path.to_str().unwrap(), "--metrics", &addr, "-l", &tag]);
    // More records than the socket's queue and ours (QUEUE_MAX) hold, on
    // the host; a few in the VM (the counts must agree there too).
    let n = if crate::support::in_vm() { 40 } else { 1300 };
    for i in 0..n {
        crate::support::run_marked("/bin/true", &[format!("{tag}-{i}")]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let during = lost_syslog(&crate::support::http_get(port, "/metrics"));
    if !crate::support::in_vm() {
        assert!(during > 0, "records beyond the queue are counted as lost while tracing: {during}");
    }
    let asked = Instant::now();
    let f = t.stop(libc::SIGTERM);
    let took = asked.elapsed();
    let bound = if crate::support::in_vm() { Duration::from_secs(15) } else { Duration::from_secs(3) };
    assert!(took < bound, "SIGTERM took {took:?} to end tracing with a socket that never reads\n{}", f.dump());
    let (_, shown, _) = f.assert_clean_end();
    assert_eq!(shown, n, "{}", f.dump());
    let re = regex::Regex::new(r"WARNING: (\d+) records could not be sent to syslog").unwrap();
    let dropped: u64 = re.captures(&f.stderr).unwrap_or_else(|| panic!("the loss is said on stderr\n{}", f.dump()))[1]
        .parse()
        .unwrap();
    assert!(dropped >= during, "the count only grows: {during} during, {dropped} at the end");
    assert!(f.stderr.contains(&format!("WARNING: {dropped} not sent to syslog")), "closing line\n{}", f.dump());
    // What did arrive, plus what was counted, is every record: the execs
    // and the end record.
    let got = read_all(&receiver);
    assert!(!got.is_empty(), "the socket's queue took the first messages");
    assert_eq!(
        got.len() as u64 + dropped,
        shown + 1,
        "received {} + lost {dropped} = records\n{}",
        got.len(),
        f.dump()
    );
}

#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn records_flow_again_after_the_daemon_restarts() {
    let _g = root_test();
    let dir = TempDir::new("syslog-restart");
    let path = dir.path.join("log");
    let first = UnixDatagram::bind(&path).unwrap();
    let tag = marker("restart");
    let t = Tracer::start(&["--syslog", "--syslog-socket", path.to_str().unwrap(), "-l", &tag]);
    let wait_for = |sock: &UnixDatagram, needle: &str| {
        let deadline = Instant::now() + crate::support::exit_timeout();
        let mut seen = Vec::new();
        while !seen.iter().any(|m: &String| m.contains(needle)) {
            assert!(Instant::now() < deadline, "{needle} never arrived: {seen:?}");
            std::thread::sleep(Duration::from_millis(20));
            seen.extend(read_all(sock));
        }
    };
    crate::support::run_marked("/bin/true", &[format!("{tag}-before")]);
    wait_for(&first, &format!("{tag}-before"));
    // The daemon restarts: its socket is replaced at the same path.
    drop(first);
    std::fs::remove_file(&path).unwrap();
    let second = UnixDatagram::bind(&path).unwrap();
    crate::support::run_marked("/bin/true", &[format!("{tag}-after")]);
    wait_for(&second, &format!("{tag}-after"));
    let f = t.stop(libc::SIGTERM);
    f.assert_clean_end();
    assert!(!f.stderr.contains("could not be sent"), "nothing lost across the restart\n{}", f.dump());
}
