//! The harness that runs processes for the tests: [`Tracer`] starts
//! `execsnoop` with arguments, waits (with a timeout) until it says tracing
//! is live, stops it with a signal or lets it end by itself, and collects
//! its output; [`Background`] is a helper process fed through its stdin;
//! [`run_marked`] / [`run_capture`] run a command to completion, with a
//! timeout, returning its pid. Stdout and stderr are read on background
//! threads into shared buffers, so a test can look at them while the process
//! runs; one still running when its handle is dropped (a failed assertion, a
//! panic) is killed, so no test leaves a process behind. It also owns who may
//! trace: [`require_root`] and [`serial`] (tests that load BPF fail with a
//! clear message when not run as root, and run one at a time, because an
//! exec storm in one test would fill the ring buffers of the others), and
//! the time limits ([`slow`] widens them in the VM matrix). Every wait has a
//! timeout: nothing here can hang a test run.

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::output::{Finished, clip, is_header};

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

impl Captured {
    /// Some(true) once the process has exited (without reaping it).
    fn child_exited(&self) -> Option<bool> {
        // SAFETY: siginfo_t is plain old data (integers and a union of them):
        // all zero bytes is a valid value.
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
fn run_capture_with_stdin(cmd: &mut Command) -> (u32, Finished) {
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
