//! A traced process (execsnoop or libbpf-tools): spawned in its own process
//! group with a parent-death signal, its output read by threads, its CPU and
//! peak memory read from /proc, always reaped; readiness and drain waits;
//! the `--syslog` row's datagram reader.

use super::*;

// ---------------------------------------------------------------------------
// A traced process: spawned in its own process group with a parent-death
// signal, stderr (and optionally stdout) read by threads, always reaped.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Stream {
    Out,
    Err,
}

pub(super) struct Line {
    pub(super) stream: Stream,
    pub(super) at: Instant,
    pub(super) text: String,
}

pub(super) struct Exited {
    pub(super) status: i32,
    pub(super) rusage: libc::rusage,
    /// Time from SIGINT to exit.
    pub(super) stop_latency: Duration,
    /// SIGINT did not end it in time; it was killed.
    pub(super) killed: bool,
}

pub(super) struct Tracer {
    pub(super) name: String,
    pub(super) pid: libc::pid_t,
    pub(super) started: Instant,
    pub(super) rx: Receiver<Line>,
    pub(super) lines: Vec<Line>,
    pub(super) exited: Option<(i32, libc::rusage)>,
}

pub(super) fn spawn_reader<R: Read + Send + 'static>(r: R, stream: Stream, tx: Sender<Line>) {
    let _ = thread::Builder::new().name(format!("reader-{stream:?}")).spawn(move || {
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let at = Instant::now();
                    while buf.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                        buf.pop();
                    }
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if tx.send(Line { stream, at, text }).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

pub(super) enum Ready<'a> {
    /// A stderr line containing this text.
    Stderr(&'a str),
    /// A stdout (pipe) line accepted by this test.
    StdoutPipe(fn(&str) -> bool),
    /// A complete line in the stdout file accepted by this test.
    File(&'a Path, fn(&str) -> bool),
    /// No observable signal: wait this long.
    Fixed(Duration),
}

impl Tracer {
    /// With `private_tracefs`, the child first enters a new mount namespace
    /// and mounts tracefs at /sys/kernel/tracing there (invisible outside).
    pub(super) fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        stdout: Stdio,
        pipe_stdout: bool,
        private_tracefs: bool,
    ) -> Res<Tracer> {
        check_abort()?;
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null()).stderr(Stdio::piped()).process_group(0);
        // Our tracer then prints its programs' kernel statistics when it
        // stops (`execsnoop: bpf_stats ...`); other tracers ignore it.
        cmd.env(BPF_STATS_ENV, "1");
        if pipe_stdout {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(stdout);
        }
        // SAFETY: prctl, unshare and mount are plain syscalls (async-signal-safe);
        // they run in the child between fork and exec, with static C strings,
        // and allocate nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if private_tracefs
                    && (libc::unshare(libc::CLONE_NEWNS) != 0
                        || libc::mount(
                            std::ptr::null(),
                            c"/".as_ptr(),
                            std::ptr::null(),
                            libc::MS_REC | libc::MS_PRIVATE,
                            std::ptr::null(),
                        ) != 0
                        || libc::mount(
                            c"tracefs".as_ptr(),
                            c"/sys/kernel/tracing".as_ptr(),
                            c"tracefs".as_ptr(),
                            0,
                            std::ptr::null(),
                        ) != 0)
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {name} ({}): {e}", program.display()))?;
        let pid = child.id() as libc::pid_t;
        let (tx, rx) = mpsc::channel();
        if let Some(e) = child.stderr.take() {
            spawn_reader(e, Stream::Err, tx.clone());
        }
        if let Some(o) = child.stdout.take() {
            spawn_reader(o, Stream::Out, tx.clone());
        }
        drop(tx);
        // `child` is dropped without waiting; we reap the pid ourselves with wait4.
        drop(child);
        Ok(Tracer { name: name.into(), pid, started, rx, lines: Vec::new(), exited: None })
    }

    pub(super) fn pump(&mut self, wait: Duration) {
        match self.rx.recv_timeout(wait) {
            Ok(l) => self.lines.push(l),
            Err(_) => return,
        }
        while let Ok(l) = self.rx.try_recv() {
            self.lines.push(l);
        }
    }

    pub(super) fn try_reap(&mut self) -> bool {
        if self.exited.is_some() {
            return true;
        }
        let mut status = 0;
        // SAFETY: zeroed rusage is valid; waiting for our own child.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(self.pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == self.pid {
            self.exited = Some((status, ru));
            true
        } else {
            // r < 0 with ECHILD would mean someone else reaped it; treat as gone.
            r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
        }
    }

    pub(super) fn stderr_text(&self) -> String {
        let v: Vec<&str> = self.lines.iter().filter(|l| l.stream == Stream::Err).map(|l| l.text.as_str()).collect();
        if v.is_empty() { "(nothing)".into() } else { v.join(" | ") }
    }

    /// Wait until the tracer is ready; returns the time from spawn.
    pub(super) fn wait_ready(&mut self, how: &Ready) -> Res<Option<Duration>> {
        let deadline = self.started + READY_TIMEOUT;
        let mut seen = 0;
        loop {
            check_abort()?;
            self.pump(Duration::from_millis(1));
            for l in &self.lines[seen..] {
                let hit = match how {
                    Ready::Stderr(s) => l.stream == Stream::Err && l.text.contains(s),
                    Ready::StdoutPipe(f) => l.stream == Stream::Out && f(&l.text),
                    _ => false,
                };
                if hit {
                    return Ok(Some(l.at - self.started));
                }
            }
            seen = self.lines.len();
            match how {
                Ready::File(p, f) if file_has_line(p, *f) => {
                    return Ok(Some(self.started.elapsed()));
                }
                Ready::Fixed(d) if self.started.elapsed() >= *d => {
                    return Ok(None);
                }
                _ => {}
            }
            if self.try_reap() {
                thread::sleep(Duration::from_millis(50));
                self.pump(Duration::from_millis(1));
                let st = self.exited.map_or("unknown status".into(), |(s, _)| describe_status(s));
                return Err(format!(
                    "{} exited ({st}) before it was ready; its stderr: {}",
                    self.name,
                    self.stderr_text()
                ));
            }
            if Instant::now() >= deadline {
                let what = match how {
                    Ready::Stderr(s) => format!("stderr line {s:?}"),
                    Ready::StdoutPipe(_) | Ready::File(..) => "the header line on stdout".into(),
                    Ready::Fixed(_) => "fixed wait".into(),
                };
                return Err(format!(
                    "{} was not ready within {} s (waiting for {what}); its stderr so far: {}",
                    self.name,
                    READY_TIMEOUT.as_secs(),
                    self.stderr_text()
                ));
            }
        }
    }

    /// CPU time of all live threads in ns (schedstat), or utime+stime.
    pub(super) fn cpu_ns(&self) -> Option<u64> {
        pid_cpu_ns(self.pid)
    }

    pub(super) fn hwm_kib(&self) -> Option<u64> {
        pid_hwm_kib(self.pid)
    }

    /// SIGINT, then wait up to `timeout`; SIGKILL if it does not end.
    pub(super) fn stop(&mut self, timeout: Duration) -> Exited {
        self.stop_with(libc::SIGINT, timeout)
    }

    /// `sig` (auditd ends on SIGTERM), then wait up to `timeout`; SIGKILL if
    /// it does not end.
    pub(super) fn stop_with(&mut self, sig: libc::c_int, timeout: Duration) -> Exited {
        let t0 = Instant::now();
        let mut killed = false;
        if !self.try_reap() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(self.pid, sig) };
            while !self.try_reap() {
                if t0.elapsed() >= timeout {
                    killed = true;
                    self.kill_hard();
                    break;
                }
                self.pump(Duration::from_millis(2));
            }
        }
        let stop_latency = t0.elapsed();
        // Collect the rest of its output (the pipes close when it is gone).
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match self.rx.recv_timeout(Duration::from_millis(20)) {
                Ok(l) => self.lines.push(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        // SAFETY: zeroed rusage is a valid value.
        let (status, rusage) = self.exited.unwrap_or((-1, unsafe { std::mem::zeroed() }));
        Exited { status, rusage, stop_latency, killed }
    }

    pub(super) fn kill_hard(&mut self) {
        // SAFETY: signalling our own child and its process group.
        unsafe {
            libc::kill(-self.pid, libc::SIGKILL);
            libc::kill(self.pid, libc::SIGKILL);
        }
        let t0 = Instant::now();
        while !self.try_reap() && t0.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub(super) fn stderr_lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter(|l| l.stream == Stream::Err).map(|l| l.text.as_str())
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        if self.try_reap() {
            return;
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid, libc::SIGINT) };
        let t0 = Instant::now();
        while !self.try_reap() {
            if t0.elapsed() >= Duration::from_secs(2) {
                self.kill_hard();
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// CPU time of all live threads of a process in ns (schedstat), or
/// utime+stime from /proc/PID/stat (a kernel thread such as kauditd too).
pub(super) fn pid_cpu_ns(pid: libc::pid_t) -> Option<u64> {
    let mut total = 0u64;
    let mut any = false;
    if let Ok(rd) = fs::read_dir(format!("/proc/{pid}/task")) {
        for e in rd.flatten() {
            let Ok(s) = fs::read_to_string(e.path().join("schedstat")) else { continue };
            if let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()) {
                total += ns;
                any = true;
            }
        }
    }
    if any {
        return Some(total);
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(ticks * 1_000_000_000 / hz)
}

/// VmHWM of a process in KiB.
pub(super) fn pid_hwm_kib(pid: libc::pid_t) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

pub(super) fn file_has_line(p: &Path, test: fn(&str) -> bool) -> bool {
    let Ok(f) = fs::File::open(p) else { return false };
    let mut buf = Vec::with_capacity(4096);
    if f.take(64 * 1024).read_to_end(&mut buf).is_err() {
        return false;
    }
    // Only complete lines count: the piece after the last newline may be partial.
    let complete = match buf.iter().rposition(|&b| b == b'\n') {
        Some(end) => &buf[..end],
        None => return false,
    };
    complete.split(|&b| b == b'\n').any(|l| test(&String::from_utf8_lossy(l)))
}

/// Our text header: "   PID   PPID ARGS", or with extra leading columns (-t).
/// With -x (e.g. via STORM_EXTRA_ARGS) a RET column comes before ARGS.
pub(super) fn is_text_header(line: &str) -> bool {
    line == TEXT_HEADER || line.ends_with(TEXT_HEADER.trim_start()) || line.ends_with(TEXT_HEADER_RET)
}

pub(super) fn is_libbpf_header(line: &str) -> bool {
    line.starts_with(LIBBPF_HEADER_START)
}

/// Wait until the tracer has written every storm row, or until the number of
/// storm rows in its output has not grown for DRAIN_QUIET (and at least that
/// long has passed). Rows from unrelated execs on the machine do not count, so
/// background activity cannot keep this waiting. Returns the time from the
/// storm's end to the last new storm row, and whether DRAIN_MAX was hit.
pub(super) fn wait_drained(
    p: &Path,
    t: &mut Tracer,
    expected: usize,
    is_storm_row: &dyn Fn(&[u8]) -> bool,
) -> Res<(Duration, bool)> {
    let t0 = Instant::now();
    let mut file = fs::File::open(p).map_err(|e| format!("open {}: {e}", p.display()))?;
    let mut carry: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let mut storm_rows = 0usize;
    let mut last_change = t0;
    loop {
        check_abort()?;
        // Read whatever is new and count the complete lines that are storm rows.
        let before = storm_rows;
        loop {
            let n = file.read(&mut chunk).map_err(|e| format!("read {}: {e}", p.display()))?;
            if n == 0 {
                break;
            }
            carry.extend_from_slice(&chunk[..n]);
            if let Some(end) = carry.iter().rposition(|&b| b == b'\n') {
                storm_rows += carry[..end].split(|&b| b == b'\n').filter(|l| is_storm_row(l)).count();
                carry.drain(..=end);
            }
        }
        let now = Instant::now();
        if storm_rows != before {
            last_change = now;
        }
        if storm_rows >= expected {
            return Ok((last_change - t0, false));
        }
        if now - last_change >= DRAIN_QUIET && now - t0 >= DRAIN_QUIET {
            return Ok((last_change - t0, false));
        }
        if now - t0 >= DRAIN_MAX {
            return Ok((now - t0, true));
        }
        if t.try_reap() {
            return Ok((now - t0, false));
        }
        t.pump(Duration::from_millis(20));
    }
}

pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The `"pid"` field of one of our JSON lines, without parsing all of it.
pub(super) fn json_pid(line: &[u8]) -> Option<i32> {
    const KEY: &[u8] = b"\"pid\":";
    let at = line.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = &line[at..at + line[at..].iter().take_while(|b| b.is_ascii_digit()).count()];
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The `--syslog` row's daemon: a thread that receives each datagram and
/// appends its message text (the JSON record) as a line to the row's output
/// file, so the row is analysed as the JSON rows are. Stops on drop.
pub(super) struct SyslogReader {
    pub(super) stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub(super) thread: Option<std::thread::JoinHandle<()>>,
}

impl SyslogReader {
    pub(super) fn start(sock: &Path, mut file: fs::File) -> Res<SyslogReader> {
        use std::io::Write as _;
        let _ = fs::remove_file(sock);
        let rx = std::os::unix::net::UnixDatagram::bind(sock).map_err(|e| format!("bind {}: {e}", sock.display()))?;
        rx.set_read_timeout(Some(Duration::from_millis(50))).map_err(|e| e.to_string())?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut out = std::io::BufWriter::new(&mut file);
            let mut last_flush = Instant::now();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(n) = rx.recv(&mut buf) {
                    let msg = &buf[..n];
                    if let Some(at) = msg.windows(9).position(|w| w == b"{\"type\":\"") {
                        let _ = out.write_all(&msg[at..]);
                        let _ = out.write_all(b"\n");
                        // The last record: at once (the analysis follows the exit).
                        if msg[at..].starts_with(b"{\"type\":\"end\"") {
                            let _ = out.flush();
                        }
                    }
                }
                if last_flush.elapsed() >= Duration::from_millis(20) {
                    let _ = out.flush();
                    last_flush = Instant::now();
                }
            }
            let _ = out.flush();
        });
        Ok(SyslogReader { stop, thread: Some(thread) })
    }
}

impl Drop for SyslogReader {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(super) use super::storm_env::STORM_ENV;
