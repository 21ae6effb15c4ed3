//! Shared helpers for the integration tests of the `execsnoop` binary.
//!
//! * [`Tracer`]: start `execsnoop` with arguments, wait (with a timeout) until
//!   it says tracing is live, stop it with a signal or let it end by itself,
//!   and collect its output. Its stdout and stderr are read on background
//!   threads into shared buffers, so a test can look at them while it runs.
//!   A tracer that is still running when its handle is dropped (a failed
//!   assertion, a panic) is killed, so no test leaves a tracer behind.
//! * [`Finished`]: the output and status of a process that ended, with
//!   parsers for the text rows, the JSON records and the closing summary,
//!   and [`Finished::dump`] for assertion messages.
//! * [`run_marked`] / [`run_capture`]: run a command (usually one carrying a
//!   unique [`marker`]) to completion, with a timeout, returning its pid.
//! * [`compile_c`]: build a small C helper with `cc` into a temporary
//!   directory that is removed on drop.
//! * [`require_root`] and [`serial`]: the tests that load BPF panic with a
//!   clear message when not run as root, and run one at a time, because an
//!   exec storm in one test would fill the ring buffers of the others.
//!
//! Every wait has a timeout: nothing here can hang a test run.

#![allow(dead_code, reason = "each test binary uses a different subset of the helpers")]

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;

/// How long a tracer may take to report that tracing is live.
pub fn ready_timeout() -> Duration {
    slow(Duration::from_secs(10))
}

/// How long a process may take to exit once asked to (or once it should):
/// a helper command, a compiler run, a tracer after its signal.
pub fn exit_timeout() -> Duration {
    slow(Duration::from_secs(10))
}

/// A limit on waiting, six times longer in the VM matrix, where code runs
/// 30-50 times slower (see [`in_vm`]).
pub fn slow(limit: Duration) -> Duration {
    if in_vm() { limit * 6 } else { limit }
}

/// The column header of the text format without `-t`.
pub const HEADER: &str = "   PID   PPID ARGS";
/// The column header of the text format with `-t`.
pub const HEADER_T: &str = "TIMEs               PID   PPID ARGS";
/// The stderr banner that says tracing is live (without `-d`).
pub const BANNER: &str = "Tracing exec()s. Ctrl-C to end.";

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_execsnoop")
}

/// True when the tests run in a VM of the kernel matrix (`tests/vm/run`
/// sets `EXECSNOOP_VM` to the kernel's name). Code there runs 30-50 times
/// slower (qemu without KVM) while sleeps do not: tests that measure time
/// or run storms widen their bounds or shrink their load there, and say so.
pub fn in_vm() -> bool {
    std::env::var_os("EXECSNOOP_VM").is_some()
}

/// True when this test process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Fail the test, with instructions, unless running as root.
pub fn require_root() {
    assert!(
        is_root(),
        "this test loads BPF programs and must run as root: \
         run `sudo -E cargo test --release -- --include-ignored` (euid is {})",
        // SAFETY: as above.
        unsafe { libc::geteuid() }
    );
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Hold this while a test traces: tracing tests of one binary run one at a
/// time. A test that panicked while holding it does not block the others.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Root check plus the serial lock, the prologue of every tracing test.
pub fn root_test() -> MutexGuard<'static, ()> {
    require_root();
    serial()
}

/// A token no other process on the machine will have in its arguments:
/// plain alphanumerics (no escaping, no regex meaning), short enough to sit
/// at the start of a capped argument area.
pub fn marker(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("mk{tag}{}x{n}x{nanos}", std::process::id())
}

/// A text row as the tool prints it without `-t`.
pub fn row(pid: u32, ppid: u32, args: &str) -> String {
    format!("{pid:>6} {ppid:>6} {args}")
}

/// Pid of this test process: the parent of everything it spawns.
pub fn my_pid() -> u32 {
    std::process::id()
}

type Buf = Arc<Mutex<Vec<u8>>>;

fn reader<R: Read + Send + 'static>(mut r: R, buf: Buf) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&chunk[..n]),
            }
        }
    })
}

fn snapshot(buf: &Buf) -> Vec<u8> {
    buf.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Shorten a long output for an assertion message: head and tail.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut head = max / 2;
    while !s.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = s.len() - max / 2;
    while !s.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}\n[... {} bytes left out ...]\n{}", &s[..head], tail - head, &s[tail..])
}

/// A child process whose stdout and stderr are collected in the background;
/// killed on drop unless it was waited for.
struct Captured {
    label: String,
    child: Child,
    out: Buf,
    err: Buf,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
    reaped: bool,
}

impl Captured {
    fn spawn(label: String, cmd: &mut Command) -> Captured {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let out: Buf = Arc::default();
        let err: Buf = Arc::default();
        let readers = vec![
            reader(child.stdout.take().expect("piped stdout"), out.clone()),
            reader(child.stderr.take().expect("piped stderr"), err.clone()),
        ];
        Captured { label, child, out, err, readers, started, reaped: false }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: libc::c_int) {
        if !self.reaped {
            // SAFETY: kill has no memory preconditions; the pid is our own
            // child, not yet reaped, so it cannot have been reused.
            unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        }
    }

    /// Wait up to `timeout` for the process to exit; None if it did not.
    fn try_wait_for(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => {
                    self.reaped = true;
                    return Some(st);
                }
                Ok(None) => {}
                Err(e) => panic!("waiting for {}: {e}", self.label),
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Collect everything once the process has exited.
    fn collect(&mut self, status: ExitStatus) -> Finished {
        let elapsed = self.started.elapsed();
        // The pipes reach EOF when the process is gone; do not wait forever
        // should something else have inherited them.
        let deadline = Instant::now() + Duration::from_secs(5);
        for r in self.readers.drain(..) {
            while !r.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if r.is_finished() {
                let _ = r.join();
            }
        }
        Finished {
            label: self.label.clone(),
            status,
            elapsed,
            stdout: snapshot(&self.out),
            stderr: String::from_utf8_lossy(&snapshot(&self.err)).into_owned(),
        }
    }

    /// Wait for exit or kill it and panic, showing what it printed.
    fn finish(&mut self, timeout: Duration, what: &str) -> Finished {
        match self.try_wait_for(timeout) {
            Some(st) => self.collect(st),
            None => {
                self.signal(libc::SIGKILL);
                let st = self.try_wait_for(exit_timeout()).expect("SIGKILLed process exits");
                let f = self.collect(st);
                panic!("{} did not exit within {timeout:?} {what}; killed it.\n{}", self.label, f.dump());
            }
        }
    }

    fn dump_running(&self) -> String {
        let out = String::from_utf8_lossy(&snapshot(&self.out)).into_owned();
        let err = String::from_utf8_lossy(&snapshot(&self.err)).into_owned();
        format!(
            "--- {} (pid {}, running for {:?}) stderr:\n{}\n--- stdout:\n{}\n---",
            self.label,
            self.child.id(),
            self.started.elapsed(),
            clip(&err, 4000),
            clip(&out, 8000)
        )
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running `execsnoop`. Dropping it kills the tracer.
pub struct Tracer {
    proc: Captured,
}

impl Tracer {
    /// Start `execsnoop ARGS` and wait until tracing is live.
    pub fn start(args: &[&str]) -> Tracer {
        Tracer::start_with(args, |_| {})
    }

    /// Like [`Tracer::start`], with a chance to adjust the command (e.g. its
    /// environment) before it is spawned.
    pub fn start_with(args: &[&str], adjust: impl FnOnce(&mut Command)) -> Tracer {
        let mut cmd = Command::new(bin());
        cmd.args(args).stdin(Stdio::null());
        adjust(&mut cmd);
        let label = format!("execsnoop {}", args.join(" "));
        let t = Tracer { proc: Captured::spawn(label, &mut cmd) };
        t.wait_ready(args);
        t
    }

    /// Ready: the banner on stderr and, in text mode, the header on stdout
    /// (any header: optional columns such as RET or CGROUP may stand between
    /// PPID and ARGS).
    fn wait_ready(&self, args: &[&str]) {
        // No header on stdout in JSON, or when the records go elsewhere.
        let json = args.iter().any(|a| ["--json", "--output", "-o", "--syslog"].contains(a));
        let deadline = Instant::now() + ready_timeout();
        loop {
            let err = self.stderr();
            let banner = err.contains("Tracing exec()s");
            let header = json || self.stdout_str().lines().any(is_header);
            if banner && header {
                return;
            }
            let exited = matches!(self.proc.child_exited(), Some(true));
            if exited || Instant::now() >= deadline {
                let why =
                    if exited { "it exited".to_string() } else { format!("timed out after {:?}", ready_timeout()) };
                panic!(
                    "{} never became ready ({why}; banner seen: {banner}, header seen: {header})\n{}",
                    self.proc.label,
                    self.proc.dump_running()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// The tracer's pid.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// What it has written to stdout so far.
    pub fn stdout_bytes(&self) -> Vec<u8> {
        snapshot(&self.proc.out)
    }

    /// What it has written to stdout so far, as (lossy) text.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout_bytes()).into_owned()
    }

    /// What it has written to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&snapshot(&self.proc.err)).into_owned()
    }

    /// Wait up to `timeout` for `needle` to show up on stdout while the
    /// tracer runs (output into a pipe is flushed at least every 100 ms).
    pub fn wait_stdout_contains(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout_str().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Its output so far, for assertion messages.
    pub fn dump(&self) -> String {
        self.proc.dump_running()
    }

    /// Send a signal.
    pub fn signal(&self, sig: libc::c_int) {
        self.proc.signal(sig);
    }

    /// End it with `sig` and collect its output; panics if it does not exit
    /// within [`exit_timeout`].
    pub fn stop(mut self, sig: libc::c_int) -> Finished {
        self.proc.signal(sig);
        self.proc.finish(exit_timeout(), &format!("after signal {sig}"))
    }

    /// Wait for it to end by itself (`-d`, closed output) within `timeout`.
    pub fn wait_exit(mut self, timeout: Duration) -> Finished {
        self.proc.finish(timeout, "by itself")
    }
}

/// True for a text-format header line, whatever optional columns it has.
pub fn is_header(line: &str) -> bool {
    line.contains("PID   PPID ") && line.ends_with(" ARGS")
}

impl Captured {
    /// Some(true) once the process has exited (without reaping it).
    fn child_exited(&self) -> Option<bool> {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t; WNOWAIT leaves the
        // child to be reaped by std later.
        let rc = unsafe {
            libc::waitid(libc::P_PID, self.child.id(), &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
        };
        if rc != 0 {
            return None;
        }
        // SAFETY: waitid filled `info` (or left it zeroed: pid 0 = not exited).
        Some(unsafe { info.si_pid() } != 0)
    }
}

/// A process that has ended: its status and everything it printed.
pub struct Finished {
    pub label: String,
    pub status: ExitStatus,
    /// From spawn to exit.
    pub elapsed: Duration,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Finished {
    /// Stdout as (lossy) text.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Status, stderr and stdout (clipped), for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "--- {} exited with {:?} after {:?}; stderr:\n{}\n--- stdout:\n{}\n---",
            self.label,
            self.status,
            self.elapsed,
            clip(&self.stderr, 4000),
            clip(&self.stdout_str(), 8000)
        )
    }

    /// Assert a clean end: exit status 0, the ending notice and summary on
    /// stderr, no panic. Returns (received, shown, lost) from the summary.
    pub fn assert_clean_end(&self) -> (u64, u64, u64) {
        assert_eq!(self.status.code(), Some(0), "tracer should exit with status 0\n{}", self.dump());
        assert!(!self.stderr.contains("panicked"), "tracer panicked\n{}", self.dump());
        assert!(self.stderr.contains("Ending tracing..."), "no `Ending tracing...` on stderr\n{}", self.dump());
        self.summary()
    }

    /// (received, shown, lost) from the closing line
    /// `N execs traced, M shown, L lost` / `..., WARNING: L lost (...)`.
    pub fn summary(&self) -> (u64, u64, u64) {
        let re = regex::Regex::new(r"(?m)^(\d+) execs traced, (\d+) shown, (?:WARNING: )?(\d+) lost").unwrap();
        let c = re
            .captures(&self.stderr)
            .unwrap_or_else(|| panic!("no `N execs traced, M shown, L lost` summary on stderr\n{}", self.dump()));
        let n = |i: usize| c[i].parse::<u64>().unwrap();
        (n(1), n(2), n(3))
    }

    /// Text rows (lines of stdout) that contain `needle`.
    pub fn rows_with(&self, needle: &str) -> Vec<String> {
        self.stdout_str().lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
    }

    /// The one text row containing `needle`; panics if there is not exactly one.
    pub fn one_row_with(&self, needle: &str) -> String {
        let rows = self.rows_with(needle);
        assert_eq!(rows.len(), 1, "expected exactly one row containing {needle:?}, got {rows:#?}\n{}", self.dump());
        rows.into_iter().next().unwrap()
    }

    /// The one text row that ends with `suffix` (the end of its ARGS, and
    /// marks); panics if there is not exactly one.
    pub fn one_row_ending(&self, suffix: &str) -> String {
        let rows: Vec<String> = self.stdout_str().lines().filter(|l| l.ends_with(suffix)).map(str::to_string).collect();
        assert_eq!(rows.len(), 1, "expected exactly one row ending in {suffix:?}, got {rows:#?}\n{}", self.dump());
        rows.into_iter().next().unwrap()
    }

    /// Every stdout line parsed as JSON; panics on a line that is not.
    pub fn json(&self) -> Vec<Value> {
        self.stdout_str()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line {} is not JSON ({e}): {l:?}\n{}", i + 1, self.dump()))
            })
            .collect()
    }

    /// JSON exec records with `marker` as one of their arguments.
    pub fn json_execs_with(&self, marker: &str) -> Vec<Value> {
        self.json()
            .into_iter()
            .filter(|v| v["type"] == "exec" && v["argv"].as_array().is_some_and(|a| a.iter().any(|x| x == marker)))
            .collect()
    }

    /// The one JSON exec record with `marker` among its arguments and the
    /// given filename.
    pub fn one_json_exec(&self, marker: &str, filename: &str) -> Value {
        let recs: Vec<Value> = self.json_execs_with(marker).into_iter().filter(|v| v["filename"] == filename).collect();
        assert_eq!(
            recs.len(),
            1,
            "expected exactly one JSON exec of {filename} with argument {marker:?}, got {recs:#?}\n{}",
            self.dump()
        );
        recs.into_iter().next().unwrap()
    }
}

/// Bytes of a JSON byte-string field: a string, or `{"bytes": base64}`.
pub fn decode_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(o) if o.len() == 1 && o.contains_key("bytes") => base64::engine::general_purpose::STANDARD
            .decode(o["bytes"].as_str().unwrap_or_else(|| panic!("bytes is not a string: {v}")))
            .unwrap_or_else(|e| panic!("bad base64 in {v}: {e}")),
        _ => panic!("not a JSON byte string: {v}"),
    }
}

/// The `argv` of a JSON exec record, as bytes.
pub fn json_argv(v: &Value) -> Vec<Vec<u8>> {
    v["argv"].as_array().unwrap_or_else(|| panic!("no argv array in {v}")).iter().map(decode_bytes).collect()
}

/// An unsigned field of a JSON record.
pub fn json_u64(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("field {key:?} is not an unsigned number in {v}"))
}

/// Run a command to completion (stdin and stdout discarded, stderr kept for
/// the failure message) and require success. Returns the child's pid.
pub fn run_marked<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> u32 {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let (pid, out) = run_capture(&mut cmd);
    assert!(out.status.success(), "helper command failed\n{}", out.dump());
    pid
}

/// Run a command to completion with a timeout, capturing its output.
/// Returns the child's pid and what it printed.
pub fn run_capture(cmd: &mut Command) -> (u32, Finished) {
    cmd.stdin(Stdio::null());
    run_capture_with_stdin(cmd)
}

/// Like [`run_capture`], leaving stdin as the caller configured it.
pub fn run_capture_with_stdin(cmd: &mut Command) -> (u32, Finished) {
    let label = format!("{cmd:?}");
    let mut p = Captured::spawn(label, cmd);
    let pid = p.pid();
    let f = p.finish(exit_timeout(), "");
    (pid, f)
}

/// A process started in the background (e.g. a driver that waits for a go
/// signal on stdin); killed on drop if still running.
pub struct Background {
    proc: Captured,
    stdin: Option<ChildStdin>,
}

impl Background {
    /// Spawn `cmd` with a piped stdin the test can write to.
    pub fn spawn(cmd: &mut Command) -> Background {
        cmd.stdin(Stdio::piped());
        let mut proc = Captured::spawn(format!("{cmd:?}"), cmd);
        let stdin = proc.child.stdin.take();
        Background { proc, stdin }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Write to its stdin (and keep it open).
    pub fn send(&mut self, data: &[u8]) {
        use std::io::Write;
        let s = self.stdin.as_mut().expect("stdin still open");
        s.write_all(data).and_then(|()| s.flush()).expect("write to background process");
    }

    /// Wait for it to end within `timeout`; panics (after killing it) if not.
    pub fn wait(mut self, timeout: Duration) -> Finished {
        self.stdin = None;
        self.proc.finish(timeout, "")
    }
}

/// Run `cmd` with a timeout, for the command-line tests: the binary must
/// never start tracing for bad input, and must never hang.
pub fn run_tool(cmd: &mut Command) -> Finished {
    run_capture(cmd).1
}

/// Assert a usage or runtime error: `code`, no stdout, and (when
/// `one_line`) exactly one line on stderr that starts with `execsnoop: `.
pub fn assert_error_exit(f: &Finished, code: i32, one_line: bool) {
    assert_eq!(f.status.code(), Some(code), "expected exit status {code}\n{}", f.dump());
    assert!(
        !f.stderr.contains("panicked") && !f.stderr.contains("RUST_BACKTRACE") && !f.stderr.contains("stack backtrace"),
        "error path must not panic or print a backtrace\n{}",
        f.dump()
    );
    assert!(f.stdout.is_empty(), "nothing may be written to stdout on an error\n{}", f.dump());
    if one_line {
        let lines: Vec<&str> = f.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected a one-line message on stderr\n{}", f.dump());
        assert!(f.stderr.ends_with('\n'), "message should end with a newline\n{}", f.dump());
        assert!(lines[0].starts_with("execsnoop: "), "message should start with `execsnoop: `\n{}", f.dump());
    }
}

/// A C program compiled into its own temporary directory, removed on drop.
pub struct CProgram {
    dir: PathBuf,
    pub path: PathBuf,
}

impl Drop for CProgram {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Compile `source` with `cc -O2 -Wall -pthread`; panics with the compiler's
/// output on failure.
pub fn compile_c(name: &str, source: &str) -> CProgram {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "execsnoop-test-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let prog = CProgram { path: dir.join(name), dir };
    let src = prog.dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap_or_else(|e| panic!("write {}: {e}", src.display()));
    let mut cmd = Command::new("cc");
    cmd.args(["-O2", "-Wall", "-pthread", "-o"]).arg(&prog.path).arg(&src);
    let (_, out) = run_capture(&mut cmd);
    assert!(out.status.success(), "compiling the C helper {name} failed\n{}", out.dump());
    prog
}

/// Seconds since boot from /proc/uptime (CLOCK_BOOTTIME, like the tool's
/// timestamps).
pub fn uptime_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/uptime").expect("read /proc/uptime");
    s.split_whitespace().next().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("bad /proc/uptime: {s:?}"))
}

/// True when an executable named `name` is on PATH.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| is_file(&d.join(name)))).unwrap_or(false)
}

fn is_file(p: &Path) -> bool {
    p.is_file()
}

/// Nanoseconds since the Unix epoch for `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`
/// (the JSON `time` field); panics on anything else.
pub fn rfc3339_ns(s: &str) -> i128 {
    let b = s.as_bytes();
    let ok = b.len() == 30
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[29] == b'Z';
    assert!(ok, "not YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ: {s:?}");
    let num = |r: std::ops::Range<usize>| -> i64 {
        s[r.clone()].parse().unwrap_or_else(|_| panic!("bad digits {:?} in {s:?}", &s[r]))
    };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19);
    i128::from(secs) * 1_000_000_000 + i128::from(num(20..29))
}

/// Wall-clock nanoseconds since the Unix epoch, now.
pub fn wall_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

/// CLOCK_BOOTTIME in nanoseconds, now (the clock of `ts_ns`).
pub fn boot_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_BOOTTIME)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The cgroup v2 id (inode of the cgroup directory) of this process, when
/// a cgroup2 hierarchy is mounted; children inherit it.
pub fn my_cgroup2_id() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?.trim_start_matches('/').to_string();
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let mnt = mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[2] == "cgroup2").then(|| f[1].to_string())
    })?;
    std::fs::metadata(Path::new(&mnt).join(rel)).ok().map(|m| m.ino())
}

/// Where the cgroup2 hierarchy is mounted (`/sys/fs/cgroup`, or
/// `/sys/fs/cgroup/unified` on a hybrid setup), if it is.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[2] == "cgroup2").then(|| PathBuf::from(f[1]))
    })
}

/// This process's cgroup v2 path, as `/proc/self/cgroup` gives it (`/` for
/// the root).
pub fn my_cgroup2_path() -> Option<String> {
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cg.lines().find_map(|l| l.strip_prefix("0::")).map(str::to_string)
}

/// A cgroup v2 directory created for a test (with any children made through
/// [`TempCgroup::child`]), removed on drop once its processes are gone.
pub struct TempCgroup {
    /// The directory.
    pub path: PathBuf,
    /// Its path from the root of the hierarchy, e.g. `/execsnoop-test-1-0`.
    pub rel: String,
    children: Vec<PathBuf>,
}

impl TempCgroup {
    /// Make a fresh cgroup directly below the cgroup2 root; panics when
    /// there is no cgroup2 mount or the directory cannot be made.
    pub fn new(tag: &str) -> TempCgroup {
        static N: AtomicU64 = AtomicU64::new(0);
        let mount = cgroup2_mount().expect("a cgroup2 hierarchy is mounted");
        let name = format!("execsnoop-test-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let path = mount.join(&name);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempCgroup { path, rel: format!("/{name}"), children: Vec::new() }
    }

    /// Make a child cgroup `name` below this one; returns its directory.
    pub fn child(&mut self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        self.children.push(p.clone());
        p
    }

    /// A `sh -c` script prefix that moves the shell into cgroup `dir`.
    pub fn enter_script(dir: &Path) -> String {
        format!("echo $$ > '{}/cgroup.procs' && ", dir.display())
    }
}

impl Drop for TempCgroup {
    fn drop(&mut self) {
        // A cgroup can be removed once its last process has been reaped;
        // retry briefly in case the kernel is still tearing one down.
        for dir in self.children.iter().rev().chain(std::iter::once(&self.path)) {
            for _ in 0..100 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The uid of user `nobody`, from `id -u nobody`.
pub fn nobody_uid() -> u32 {
    let (_, f) = run_capture(Command::new("id").args(["-u", "nobody"]));
    f.stdout_str().trim().parse().unwrap_or_else(|_| panic!("no user nobody?\n{}", f.dump()))
}

/// A unique argument GNU `sleep` accepts (it adds up its arguments): a few
/// nanoseconds of extra sleep, spelled with this test process's pid, a
/// counter and the time, so it doubles as a marker no other process has.
pub fn sleep_marker() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("0.0000000{}{n:03}{nanos:09}", std::process::id())
}

/// A temporary directory (mode 0755, so other users may use what is in it
/// once /tmp is), removed with everything in it on drop, also when a test
/// fails.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::os::unix::fs::PermissionsExt;
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "execsnoop-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        TempDir { path }
    }

    /// A copy of program `from` named `name` in this directory (its process
    /// name after exec is then `name`).
    pub fn copy_program(&self, from: &str, name: &str) -> PathBuf {
        let to = self.path.join(name);
        std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {from} to {}: {e}", to.display()));
        to
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The exec storm driver (C): `storm TOTAL THREADS PADLEN [TAG]`. After one
/// byte on stdin, THREADS threads together posix_spawn + wait `/bin/true
/// ARG` TOTAL times, every one a child of the driver; ARG is PADLEN bytes
/// of `p`, or with TAG `TAG-THREAD-SEQ` (unique per exec). Prints how many
/// ran.
pub const STORM_C: &str = r#"
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static long per_thread;
static char *pad;
static const char *tag;
static long done[64];

static void *storm(void *arg) {
    long idx = (long)arg;
    char buf[256];
    char *argv[] = {"true", tag ? buf : pad, NULL};
    char *envp[] = {NULL};
    for (long i = 0; i < per_thread; i++) {
        pid_t pid;
        int st, rc;
        if (tag)
            snprintf(buf, sizeof buf, "%s-%ld-%ld", tag, idx, i);
        rc = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, envp);
        if (rc != 0) {
            fprintf(stderr, "posix_spawn: %s\n", strerror(rc));
            exit(3);
        }
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "child %d failed\n", (int)pid);
            exit(4);
        }
        done[idx]++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t t[64];
    long total, threads, padlen, sum = 0;
    char c;
    if (argc != 4 && argc != 5)
        return 2;
    total = atol(argv[1]);
    threads = atol(argv[2]);
    padlen = atol(argv[3]);
    tag = argc == 5 ? argv[4] : NULL;
    if (threads < 1 || threads > 64 || total % threads != 0 || padlen < 1)
        return 2;
    per_thread = total / threads;
    pad = malloc(padlen + 1);
    memset(pad, 'p', padlen);
    pad[padlen] = 0;
    if (read(0, &c, 1) != 1)
        return 5;
    for (long i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, storm, (void *)i) != 0)
            return 6;
    for (long i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        sum += done[i];
    }
    printf("%ld\n", sum);
    return 0;
}
"#;

/// [`STORM_C`], compiled.
pub fn compile_storm() -> CProgram {
    compile_c("storm", STORM_C)
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

/// An HTTP/1.0 GET on 127.0.0.1 (no client library needed): the body.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(c, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut s = String::new();
    let _ = c.read_to_string(&mut s);
    s.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

/// `.ci/tools`: every program the tests run beyond a fresh machine's, with
/// the path CI installs and checks it at.
const TOOLS: &str = include_str!("../../.ci/tools");

/// The path of a program the tests need, by its name (`"prometheus"`), as
/// `.ci/tools` lists it: the same path CI checked after installing it, on the
/// host and in the VM guests. Fails the test, saying which package is
/// missing, when it is not there: a missing tool never passes quietly.
pub fn tool(name: &str) -> PathBuf {
    let (path, pkg) = tool_line(name);
    assert!(
        path.exists(),
        "{} is not installed (package {pkg}; .ci/run installs what .ci/tools lists)",
        path.display()
    );
    path
}

/// Debian's Python (never the first `python3` on PATH, which may be a
/// user-installed one with other modules), checked to import `module`.
pub fn python(module: &str) -> PathBuf {
    let py = tool("python3");
    let ok = Command::new(&py).args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    let pkg = TOOLS
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 3 && f[2] == module)
        .map_or("?", |f| f[1]);
    assert!(ok, "{} cannot import {module} (package {pkg}; .ci/run installs what .ci/tools lists)", py.display());
    py
}

fn tool_line(name: &str) -> (PathBuf, &'static str) {
    TOOLS
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?, f.next()?))
        })
        .find(|(path, _)| Path::new(path).file_name().is_some_and(|n| n == name))
        .map(|(path, pkg)| (PathBuf::from(path), pkg))
        .unwrap_or_else(|| panic!("{name} is not in .ci/tools: add it (PATH PACKAGE) so CI installs it"))
}

/// Validate every line of argv[2] against the schema argv[1] (Draft
/// 2020-12, the schema itself checked first); print the first failures.
pub const VALIDATE_PY: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
bad = 0
for n, line in enumerate(open(sys.argv[2]), 1):
    rec = json.loads(line)
    errs = list(v.iter_errors(rec))
    if errs:
        bad += 1
        if bad <= 5:
            best = jsonschema.exceptions.best_match(errs)
            print(f"line {n}: {best.message} at {list(best.absolute_path)}: {line[:300]}")
sys.exit(1 if bad else 0)
"#;
