//! Linux audit as a peer: the `auditd` row (an execve rule, auditd's raw
//! log) and the `auditd + laurel` row (laurel as auditd's plugin, its JSON
//! lines), and audit on in the syscall tax. This module owns the audit
//! session: a private auditd configuration directory in the benchmark's
//! temporary directory (`auditd -n -c DIR`: nothing under /etc/audit or
//! /var/log/audit is touched), the rule, the kernel's audit settings, and
//! the guard that leaves audit as it was found (rules deleted, the enabled
//! flag, backlog limit and wait time restored, our auditd stopped) on every
//! exit path, an error or Ctrl-C midway included. It reads the kernel's audit
//! status over netlink (`AUDIT_GET`), so sampling it spawns no process, which
//! would be audited itself.

use super::*;

/// The rule: execve and execveat of 64-bit callers. No `arch=b32` rule: the
/// storm (a 64-bit benchmark spawning a 64-bit static no-op) makes no
/// 32-bit calls.
pub(super) const AUDIT_RULE: &[&str] = &["-a", "always,exit", "-F", "arch=b64", "-S", "execve,execveat"];
/// Debian's audit.rules (`-b 8192`, `--backlog_wait_time 60000`), set for the run.
pub(super) const AUDIT_BACKLOG: u32 = 8192;
pub(super) const AUDIT_BACKLOG_WAIT: u32 = 60000;
/// auditd flushes every 50 records and laurel buffers its writes: a longer
/// quiet period before the log counts as drained than the tracers get.
const AUDIT_DRAIN_QUIET: Duration = Duration::from_secs(2);
/// auditd's log size before rotation, raised for the run (MiB; Debian: 8).
pub(super) const AUDIT_MAX_LOG_MIB: u32 = 1024;

const AUDIT_GET: u16 = 1000;
const NETLINK_AUDIT: libc::c_int = 9;

/// The kernel's `struct audit_status` (include/uapi/linux/audit.h).
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub(super) struct AuditStatus {
    pub(super) mask: u32,
    pub(super) enabled: u32,
    pub(super) failure: u32,
    pub(super) pid: u32,
    pub(super) rate_limit: u32,
    pub(super) backlog_limit: u32,
    pub(super) lost: u32,
    pub(super) backlog: u32,
    pub(super) feature_bitmap: u32,
    pub(super) backlog_wait_time: u32,
    pub(super) backlog_wait_time_actual: u32,
}

/// The kernel's audit status (what `auditctl -s` prints), over netlink.
pub(super) fn audit_status() -> Res<AuditStatus> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: socket has no memory preconditions; the fd is owned below.
    let raw = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_AUDIT) };
    if raw < 0 {
        return Err(format!("netlink audit socket: {}", io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let tv = libc::timeval { tv_sec: 2, tv_usec: 0 };
    // SAFETY: a valid fd and a timeval of the size given.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let hdr = libc::nlmsghdr {
        nlmsg_len: std::mem::size_of::<libc::nlmsghdr>() as u32,
        nlmsg_type: AUDIT_GET,
        nlmsg_flags: libc::NLM_F_REQUEST as u16,
        nlmsg_seq: 1,
        nlmsg_pid: 0,
    };
    // SAFETY: a zeroed sockaddr_nl is valid; the kernel is pid 0.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: `hdr` and `addr` are valid for the sizes given.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            (&hdr as *const libc::nlmsghdr).cast(),
            hdr.nlmsg_len as usize,
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(format!("netlink audit AUDIT_GET: {}", io::Error::last_os_error()));
    }
    let hlen = std::mem::size_of::<libc::nlmsghdr>();
    let mut buf = [0u8; 8192];
    for _ in 0..8 {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(format!("netlink audit reply: {}", io::Error::last_os_error()));
        }
        let n = n as usize;
        let mut at = 0;
        while at + hlen <= n {
            let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
            let ty = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
            if len < hlen || at + len > n {
                break;
            }
            let body = &buf[at + hlen..at + len];
            if ty == libc::NLMSG_ERROR as u16 && body.len() >= 4 {
                let err = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                if err != 0 {
                    return Err(format!("netlink audit AUDIT_GET: {}", io::Error::from_raw_os_error(-err)));
                }
            } else if ty == AUDIT_GET {
                let mut st = AuditStatus::default();
                let size = std::mem::size_of::<AuditStatus>().min(body.len());
                // SAFETY: AuditStatus is plain u32s (any bytes are valid);
                // at most its size is copied from the reply's body.
                unsafe {
                    std::ptr::copy_nonoverlapping(body.as_ptr(), (&mut st as *mut AuditStatus).cast::<u8>(), size)
                };
                return Ok(st);
            }
            at += (len + 3) & !3;
        }
    }
    Err("netlink audit: no AUDIT_GET reply".into())
}

/// auditd, auditctl and (optionally) laurel, found on this machine.
#[derive(Clone)]
pub(super) struct AuditTools {
    pub(super) auditd: PathBuf,
    pub(super) auditctl: PathBuf,
    pub(super) laurel: Option<PathBuf>,
}

fn find_sbin(prog: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(prog))
        .find(|p| is_executable(p))
        .or_else(|| find_in_path(prog))
}

/// The audit tools, or why the audit rows cannot run. Installs nothing.
pub(super) fn find_audit() -> Result<AuditTools, String> {
    let (Some(auditd), Some(auditctl)) = (find_sbin("auditd"), find_sbin("auditctl")) else {
        return Err("auditd not installed (apt install auditd)".into());
    };
    // `cargo install laurel` puts it in ~/.cargo/bin, which sudo's PATH lacks.
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|d| d.join("bin/laurel"));
    let laurel = find_sbin("laurel").or_else(|| cargo_bin.filter(|p| is_executable(p)));
    Ok(AuditTools { auditd, auditctl, laurel })
}

fn auditctl(tools: &AuditTools, args: &[&str]) -> Res<String> {
    let o = Command::new(&tools.auditctl)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", tools.auditctl.display()))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        return Err(format!("auditctl {}: {}: {}", args.join(" "), o.status, clip(err.lines().next().unwrap_or(""))));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Why audit must be left alone here, if it must: a running audit daemon,
/// loaded rules, or a locked configuration.
pub(super) fn audit_refusal(tools: &AuditTools) -> Res<Option<String>> {
    let st = audit_status()?;
    if st.pid != 0 {
        return Ok(Some(format!("an audit daemon is already running (pid {}): not measured, left alone", st.pid)));
    }
    if st.enabled == 2 {
        return Ok(Some("audit is locked (enabled 2): not measured".into()));
    }
    let rules = auditctl(tools, &["-l"])?;
    if rules.trim() != "No rules" {
        return Ok(Some(format!(
            "audit rules are loaded ({}): not measured, left alone",
            clip(rules.lines().next().unwrap_or(""))
        )));
    }
    Ok(None)
}

/// Leaves audit as it was found: our auditd stopped, rules deleted, the
/// enabled flag, backlog limit and wait time back to their values before.
/// Runs on drop when `finish` was not called (an error or Ctrl-C midway).
struct AuditGuard {
    tools: AuditTools,
    before: AuditStatus,
    daemon: Option<Tracer>,
    done: bool,
}

impl AuditGuard {
    /// Stops auditd (SIGTERM; it ends its plugins) and restores the
    /// settings. Returns auditd's exit and what did not go back.
    fn restore(&mut self) -> (Option<Exited>, Vec<String>) {
        self.done = true;
        let mut problems = Vec::new();
        let exited = self.daemon.as_mut().map(|d| d.stop_with(libc::SIGTERM, STOP_TIMEOUT));
        let b = self.before;
        for args in [
            vec!["-D".to_string()],
            vec!["-b".into(), b.backlog_limit.to_string()],
            vec!["--backlog_wait_time".into(), b.backlog_wait_time.to_string()],
            vec!["-e".into(), b.enabled.to_string()],
        ] {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            if let Err(e) = auditctl(&self.tools, &a) {
                problems.push(e);
            }
        }
        match audit_status() {
            Ok(st) if st.enabled != b.enabled || st.pid != 0 => {
                problems.push(format!("audit status after the run: enabled {}, pid {}", st.enabled, st.pid))
            }
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
        match auditctl(&self.tools, &["-l"]) {
            Ok(l) if l.trim() != "No rules" => problems.push(format!("rules left: {}", clip(l.trim()))),
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
        (exited, problems)
    }
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        if !self.done {
            let (_, problems) = self.restore();
            for p in problems {
                eprintln!("storm: WARNING: restoring audit: {p}");
            }
        }
    }
}

/// Children of `pid` named `comm` (laurel, started by auditd).
fn child_named(pid: libc::pid_t, comm: &str) -> Option<libc::pid_t> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let p: libc::pid_t = e.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        let name = &stat[stat.find('(')? + 1..stat.rfind(')')?];
        let ppid: libc::pid_t = stat[stat.rfind(')')? + 2..].split_whitespace().nth(1)?.parse().ok()?;
        (ppid == pid && name == comm).then_some(p)
    })
}

/// The kauditd kernel thread, which sends the records to auditd.
fn kauditd_pid() -> Option<libc::pid_t> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let p: libc::pid_t = e.file_name().to_str()?.parse().ok()?;
        (fs::read_to_string(format!("/proc/{p}/comm")).ok()?.trim() == "kauditd").then_some(p)
    })
}

/// Gone, or a zombie nobody reaped yet.
fn process_gone(pid: libc::pid_t) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s.rfind(')').and_then(|i| s[i + 2..].chars().next()) == Some('Z'),
    }
}

/// One running audit setup: auditd (with laurel as its plugin, when asked)
/// and the rule, in a directory of its own.
pub(super) struct AuditSession {
    guard: AuditGuard,
    pub(super) dir: PathBuf,
    pub(super) log_dir: PathBuf,
    pub(super) laurel_dir: Option<PathBuf>,
    pub(super) auditd_pid: libc::pid_t,
    pub(super) laurel_pid: Option<libc::pid_t>,
    pub(super) kauditd_pid: Option<libc::pid_t>,
    /// Rule loaded, ready for the storm.
    pub(super) ready: Duration,
    pub(super) status_at_ready: AuditStatus,
}

fn write_private(p: &Path, text: &str) -> Res<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
        .map_err(|e| format!("create {}: {e}", p.display()))?;
    io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| format!("write {}: {e}", p.display()))
}

impl AuditSession {
    pub(super) fn start(tools: &AuditTools, laurel: bool, parent: &Path, tag: &str) -> Res<AuditSession> {
        check_abort()?;
        let started = Instant::now();
        let laurel_bin = if laurel { Some(tools.laurel.clone().ok_or("laurel not found")?) } else { None };
        if let Some(why) = audit_refusal(tools)? {
            return Err(why);
        }
        let before = audit_status()?;
        let dir = parent.join(format!("audit-{tag}"));
        let log_dir = dir.join("log");
        let plugins = dir.join("plugins.d");
        for d in [&dir, &log_dir, &plugins] {
            fs::create_dir_all(d).map_err(|e| format!("create {}: {e}", d.display()))?;
        }
        // Debian 12's auditd.conf, but for the paths, the log size before
        // rotation (raised) and no mail or TCP wrappers.
        write_private(
            &dir.join("auditd.conf"),
            &format!(
                "local_events = yes\nwrite_logs = yes\nlog_file = {}\nlog_group = root\nlog_format = ENRICHED\n\
                 flush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = {AUDIT_MAX_LOG_MIB}\nnum_logs = 5\n\
                 priority_boost = 4\nname_format = NONE\nmax_log_file_action = ROTATE\nspace_left = 75\n\
                 space_left_action = SYSLOG\nverify_email = no\naction_mail_acct = root\nadmin_space_left = 50\n\
                 admin_space_left_action = SUSPEND\ndisk_full_action = SUSPEND\ndisk_error_action = SUSPEND\n\
                 use_libwrap = no\nq_depth = 2000\noverflow_action = SYSLOG\nmax_restarts = 10\nplugin_dir = {}\n\
                 end_of_event_timeout = 2\n",
                log_dir.join("audit.log").display(),
                plugins.display()
            ),
        )?;
        let laurel_dir = match &laurel_bin {
            None => None,
            Some(bin) => {
                let ld = dir.join("laurel");
                fs::create_dir_all(&ld).map_err(|e| format!("create {}: {e}", ld.display()))?;
                let conf = dir.join("laurel.toml");
                // laurel's example config, but its directory, no rotation in
                // a run, and no user to drop to (the benchmark creates none).
                write_private(
                    &conf,
                    &format!(
                        "directory = \"{}\"\nstatusreport-period = 0\ninput = \"stdin\"\n[auditlog]\n\
                         file = \"audit.log\"\nsize = 1073741824\ngenerations = 2\n[transform]\n\
                         execve-argv = [ \"array\" ]\n",
                        ld.display()
                    ),
                )?;
                write_private(
                    &plugins.join("laurel.conf"),
                    &format!(
                        "active = yes\ndirection = out\ntype = always\nformat = string\npath = {}\nargs = --config {}\n",
                        bin.display(),
                        conf.display()
                    ),
                )?;
                Some(ld)
            }
        };
        let mut guard = AuditGuard { tools: tools.clone(), before, daemon: None, done: false };
        auditctl(tools, &["-b", &AUDIT_BACKLOG.to_string()])?;
        auditctl(tools, &["--backlog_wait_time", &AUDIT_BACKLOG_WAIT.to_string()])?;
        let conf_dir = dir.to_string_lossy().into_owned();
        let daemon =
            Tracer::spawn("auditd", &tools.auditd, &["-n".into(), "-c".into(), conf_dir], Stdio::null(), false, false)?;
        let auditd_pid = daemon.pid;
        guard.daemon = Some(daemon);
        // Ready: the kernel sends its records to our auditd (and laurel runs).
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut laurel_pid = None;
        loop {
            nap(Duration::from_millis(20))?;
            let registered = audit_status()?.pid == auditd_pid as u32;
            if laurel_bin.is_some() && laurel_pid.is_none() {
                laurel_pid = child_named(auditd_pid, "laurel");
            }
            if registered && (laurel_bin.is_none() || laurel_pid.is_some()) {
                break;
            }
            if let Some(d) = guard.daemon.as_mut()
                && d.try_reap()
            {
                let st = d.exited.map_or("unknown status".into(), |(s, _)| describe_status(s));
                return Err(format!("auditd exited ({st}) before it was ready; stderr: {}", d.stderr_text()));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "auditd was not ready within {} s (registered with the kernel: {registered}, laurel running: {})",
                    READY_TIMEOUT.as_secs(),
                    laurel_pid.is_some()
                ));
            }
        }
        auditctl(tools, AUDIT_RULE)?;
        let status_at_ready = audit_status()?;
        Ok(AuditSession {
            guard,
            dir,
            log_dir,
            laurel_dir,
            auditd_pid,
            laurel_pid,
            kauditd_pid: kauditd_pid(),
            ready: started.elapsed(),
            status_at_ready,
        })
    }

    /// CPU of auditd, kauditd and laurel (ns), each when readable.
    pub(super) fn cpu(&self) -> [Option<u64>; 3] {
        [pid_cpu_ns(self.auditd_pid), self.kauditd_pid.and_then(pid_cpu_ns), self.laurel_pid.and_then(pid_cpu_ns)]
    }

    /// Peak RSS of auditd plus laurel (KiB).
    pub(super) fn hwm_kib(&self) -> Option<u64> {
        let a = pid_hwm_kib(self.auditd_pid)?;
        Some(a + self.laurel_pid.and_then(pid_hwm_kib).unwrap_or(0))
    }

    pub(super) fn daemon_alive(&mut self) -> bool {
        self.guard.daemon.as_mut().is_some_and(|d| !d.try_reap())
    }

    /// Stop auditd, wait for laurel to write its last lines and end, and
    /// restore audit. Returns auditd's exit and what did not go back.
    pub(super) fn finish(mut self) -> (Exited, Vec<String>) {
        let (exited, mut problems) = self.guard.restore();
        if let Some(lp) = self.laurel_pid {
            let t0 = Instant::now();
            while !process_gone(lp) && t0.elapsed() < STOP_TIMEOUT {
                thread::sleep(Duration::from_millis(10));
            }
            if !process_gone(lp) {
                problems
                    .push(format!("laurel (pid {lp}) still running {} s after auditd ended", STOP_TIMEOUT.as_secs()));
                // SAFETY: signalling the laurel auditd started for us.
                unsafe { libc::kill(lp, libc::SIGKILL) };
            }
        }
        // SAFETY: a zeroed rusage is a valid value.
        let none = || Exited {
            status: -1,
            rusage: unsafe { std::mem::zeroed() },
            stop_latency: Duration::ZERO,
            killed: false,
        };
        (exited.unwrap_or_else(none), problems)
    }
}

/// Files of a log: `audit.log` and its rotations `audit.log.N`.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("audit.log")))
        .collect();
    // Oldest first: audit.log.5 .. audit.log.1, audit.log.
    v.sort_by_key(|p| std::cmp::Reverse(p.extension().and_then(|e| e.to_str()?.parse::<u32>().ok()).unwrap_or(0)));
    v
}

/// Counts storm rows across a log's files as they grow, by inode, so a
/// rotation (a rename) does not count a file twice.
struct LogCounter {
    dir: PathBuf,
    files: HashMap<u64, (u64, Vec<u8>)>,
    rows: usize,
    is_row: fn(&[u8]) -> bool,
}

impl LogCounter {
    fn poll(&mut self) -> usize {
        use std::io::{Seek, SeekFrom};
        use std::os::unix::fs::MetadataExt as _;
        for p in log_files(&self.dir) {
            let Ok(mut f) = fs::File::open(&p) else { continue };
            let Ok(md) = f.metadata() else { continue };
            let (off, carry) = self.files.entry(md.ino()).or_default();
            if md.len() <= *off || f.seek(SeekFrom::Start(*off)).is_err() {
                continue;
            }
            let mut buf = Vec::new();
            let Ok(n) = f.read_to_end(&mut buf) else { continue };
            *off += n as u64;
            carry.extend_from_slice(&buf);
            if let Some(end) = carry.iter().rposition(|&b| b == b'\n') {
                self.rows += carry[..end].split(|&b| b == b'\n').filter(|l| (self.is_row)(l)).count();
                carry.drain(..=end);
            }
        }
        self.rows
    }
}

fn raw_storm_row(l: &[u8]) -> bool {
    l.starts_with(b"type=EXECVE ") && contains(l, b" a1=\"storm\"")
}

fn laurel_storm_row(l: &[u8]) -> bool {
    contains(l, b"\"EXECVE\":") && contains(l, b"\"storm\"")
}

/// Reads the backlog (and its peak) every 20 ms while the storm runs.
struct BacklogSampler {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<u32>>,
}

impl BacklogSampler {
    fn start() -> BacklogSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::Builder::new()
            .name("audit-backlog".into())
            .spawn(move || {
                let mut peak = 0;
                while !flag.load(Ordering::Relaxed) {
                    if let Ok(st) = audit_status() {
                        peak = peak.max(st.backlog);
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                peak
            })
            .ok();
        BacklogSampler { stop, thread }
    }
    fn finish(mut self) -> Option<u32> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take()?.join().ok()
    }
}

impl Drop for BacklogSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What an audit row measured besides the usual columns.
pub(super) struct AuditExtra {
    pub(super) lost: u64,
    pub(super) backlog_peak: Option<u32>,
    pub(super) backlog_end: u32,
    /// CPU from ready to drained (ms): auditd, kauditd, laurel.
    pub(super) cpu_ms: [Option<f64>; 3],
    pub(super) problems: Vec<String>,
}

/// One run of an audit row: auditd (+ laurel) up, the storm, the drain, the
/// stop, the logs analysed.
pub(super) fn run_audit(
    tools: &AuditTools,
    kind: Kind,
    plan: &Plan,
    noop: &Noop,
    dir: &Path,
    run: usize,
) -> Res<(TracerRun, AuditExtra)> {
    let laurel = kind == Kind::AuditdLaurel;
    let mut s = AuditSession::start(tools, laurel, dir, &format!("{}-{run}", if laurel { "laurel" } else { "raw" }))?;
    let cpu0 = s.cpu();
    let sampler = BacklogSampler::start();
    let storm = run_storm(plan, noop, "storm", None);
    let backlog_peak = sampler.finish();
    let storm = storm?;
    let (log_dir, is_row) = match &s.laurel_dir {
        Some(d) => (d.clone(), laurel_storm_row as fn(&[u8]) -> bool),
        None => (s.log_dir.clone(), raw_storm_row as fn(&[u8]) -> bool),
    };
    let mut counter = LogCounter { dir: log_dir.clone(), files: HashMap::new(), rows: 0, is_row };
    let t0 = Instant::now();
    let mut last = (0, t0);
    let (drain, drain_timed_out) = loop {
        check_abort()?;
        let n = counter.poll();
        let now = Instant::now();
        if n != last.0 {
            last = (n, now);
        }
        if n >= plan.total {
            break (last.1 - t0, false);
        }
        if now - last.1 >= AUDIT_DRAIN_QUIET {
            break (last.1 - t0, false);
        }
        if now - t0 >= DRAIN_MAX {
            break (now - t0, true);
        }
        if !s.daemon_alive() {
            break (now - t0, false);
        }
        thread::sleep(Duration::from_millis(50));
    };
    let cpu1 = s.cpu();
    let hwm_kib = s.hwm_kib();
    let still_running = s.daemon_alive();
    let status_end = audit_status()?;
    let lost = u64::from(status_end.lost.wrapping_sub(s.status_at_ready.lost));
    let ready = s.ready;
    let session_dir = s.dir.clone();
    let (exited, problems) = s.finish();
    let mut data = Vec::new();
    for p in log_files(&log_dir) {
        if let Ok(mut f) = fs::File::open(&p) {
            let _ = f.read_to_end(&mut data);
        }
    }
    let _ = fs::remove_dir_all(&session_dir);
    let data = String::from_utf8_lossy(&data);
    let mut analysis = if laurel {
        analyze_laurel(&data, plan, &storm.pids, noop)
    } else {
        analyze_raw(&data, plan, &storm.pids, noop)
    };
    analysis.lost = lost;
    if !still_running {
        analysis.notes.push(format!("auditd had already exited ({}) before the stop", describe_status(exited.status)));
    }
    if exited.killed || !(libc::WIFEXITED(exited.status) && libc::WEXITSTATUS(exited.status) == 0) {
        analysis.notes.push(format!(
            "auditd ended with {} after SIGTERM",
            if exited.killed { "SIGKILL".into() } else { describe_status(exited.status) }
        ));
    }
    let delta = |i: usize| match (cpu0[i], cpu1[i]) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let parts = [delta(0), delta(1), delta(2)];
    // auditd + kauditd (+ laurel): the whole cost of the audit path in user space and its kernel thread.
    let storm_cpu_ns = parts[0].map(|a| a + parts[1].unwrap_or(0) + parts[2].unwrap_or(0));
    let startup_cpu_ns = cpu0[0].map(|a| a + cpu0[2].unwrap_or(0));
    let run = TracerRun {
        ready: Some(ready),
        banner: None,
        startup_cpu_ns,
        storm,
        drain,
        drain_timed_out,
        storm_cpu_ns,
        hwm_kib,
        exited,
        ending_seen: true,
        stderr_unexpected: Vec::new(),
        analysis,
        bpf_stats: Vec::new(),
    };
    let extra = AuditExtra {
        lost,
        backlog_peak,
        backlog_end: status_end.backlog,
        cpu_ms: parts.map(|p| p.map(|n| n as f64 / 1e6)),
        problems,
    };
    Ok((run, extra))
}

/// An audit field value: `"text"`, hex-encoded bytes, or as it is.
fn audit_value(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        return inner.to_owned();
    }
    if !v.is_empty() && v.len().is_multiple_of(2) && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: Vec<u8> =
            (0..v.len()).step_by(2).filter_map(|i| u8::from_str_radix(&v[i..i + 2], 16).ok()).collect();
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    v.to_owned()
}

/// One raw log line: its type, its event ID and its `key=value` fields.
type RawRecord<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

/// `type=X msg=audit(ID): k=v ...` → (X, ID, fields before the enriched part).
fn audit_record(line: &str) -> Option<RawRecord<'_>> {
    let rest = line.strip_prefix("type=")?;
    let (ty, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("msg=audit(")?;
    let (id, rest) = rest.split_once("):")?;
    // ENRICHED: the interpreted fields follow a 0x1d separator.
    let raw = rest.split('\x1d').next().unwrap_or("");
    Some((ty, id, raw.split_whitespace().filter_map(|kv| kv.split_once('=')).collect()))
}

/// One exec as audit saw it: from the SYSCALL and EXECVE records of one event.
#[derive(Default)]
struct AuditExec {
    pid: Option<u64>,
    ppid: Option<u64>,
    comm: Option<String>,
    exe: Option<String>,
    argv: Option<Vec<String>>,
    argc: Option<usize>,
}

fn tally_audit_execs(execs: Vec<(String, AuditExec)>, plan: &Plan, pids: &[i32], noop: &Noop) -> Analysis {
    let mut t = Tally::new(plan, pids);
    for (line, e) in execs {
        let Some(argv) = &e.argv else { continue };
        t.a.events += 1;
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let truncated = e.argc.is_some_and(|n| n != argv.len());
        let Some((_, _, idx)) = t.argv(&argv, truncated, &line) else { continue };
        if truncated {
            t.a.truncated_marked += 1;
        }
        t.check_pids(idx, e.pid, e.ppid, &line);
        if e.comm.as_deref() != Some(noop.comm.as_str()) {
            t.a.comm_wrong += 1;
            t.a.comm_example.get_or_insert_with(|| format!("comm {:?}, expected {:?}", e.comm, noop.comm));
        }
        if e.exe.as_deref() != Some(noop.path_str.as_str()) {
            t.a.filename_wrong += 1;
            t.a.filename_example.get_or_insert_with(|| format!("exe {:?}, expected {:?}", e.exe, noop.path_str));
        }
    }
    t.a
}

/// auditd's raw log: each EXECVE record joined to its event's SYSCALL record.
pub(super) fn analyze_raw(data: &str, plan: &Plan, pids: &[i32], noop: &Noop) -> Analysis {
    let mut by_id: HashMap<&str, (String, AuditExec)> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut malformed = 0u64;
    for line in data.lines() {
        if line.is_empty() {
            continue;
        }
        let Some((ty, id, fields)) = audit_record(line) else {
            malformed += 1;
            continue;
        };
        if ty != "SYSCALL" && ty != "EXECVE" {
            continue;
        }
        let (l, e) = by_id.entry(id).or_insert_with(|| {
            order.push(id);
            (String::new(), AuditExec::default())
        });
        let get = |k: &str| fields.iter().find(|(fk, _)| *fk == k).map(|(_, v)| *v);
        if ty == "SYSCALL" {
            e.pid = get("pid").and_then(|v| v.parse().ok());
            e.ppid = get("ppid").and_then(|v| v.parse().ok());
            e.comm = get("comm").map(audit_value);
            e.exe = get("exe").map(audit_value);
        } else {
            *l = line.to_owned();
            e.argc = get("argc").and_then(|v| v.parse().ok());
            let n = e.argc.unwrap_or(0);
            // a0..aN-1; a long argument comes split (aI_len, aI[0], ...): missing here, so not full-argv.
            e.argv = Some((0..n).map_while(|i| get(&format!("a{i}")).map(audit_value)).collect());
        }
    }
    let execs: Vec<(String, AuditExec)> = order.into_iter().filter_map(|id| by_id.remove(id)).collect();
    let mut a = tally_audit_execs(execs, plan, pids, noop);
    if malformed > 0 {
        a.malformed = malformed;
        a.malformed_example = Some("lines not of the form type=X msg=audit(ID): ...".into());
    }
    a
}

/// laurel's JSON lines: `EXECVE.ARGV`, `SYSCALL.{pid,ppid,comm,exe}`.
pub(super) fn analyze_laurel(data: &str, plan: &Plan, pids: &[i32], noop: &Noop) -> Analysis {
    let mut execs = Vec::new();
    let mut malformed = 0u64;
    let mut malformed_example = None;
    for line in data.lines() {
        if line.is_empty() {
            continue;
        }
        let v = match serde_json::from_str::<Value>(line) {
            Ok(v @ Value::Object(_)) => v,
            other => {
                malformed += 1;
                malformed_example
                    .get_or_insert_with(|| format!("{:?}: {}", other.err().map(|e| e.to_string()), clip(line)));
                continue;
            }
        };
        let Some(ex) = v.get("EXECVE") else { continue };
        let sc = v.get("SYSCALL");
        let field = |k: &str| sc.and_then(|s| s.get(k));
        let argv = ex
            .get("ARGV")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|x| x.as_str().unwrap_or("").to_owned()).collect());
        execs.push((
            line.to_owned(),
            AuditExec {
                pid: field("pid").and_then(Value::as_u64),
                ppid: field("ppid").and_then(Value::as_u64),
                comm: field("comm").and_then(Value::as_str).map(str::to_owned),
                exe: field("exe").and_then(Value::as_str).map(str::to_owned),
                argc: ex.get("argc").and_then(Value::as_u64).map(|n| n as usize),
                argv: Some(argv.unwrap_or_default()),
            },
        ));
    }
    let mut a = tally_audit_execs(execs, plan, pids, noop);
    a.malformed = malformed;
    a.malformed_example = malformed_example;
    a
}

/// The syscall tax with audit on: auditd running with the rule while dd runs.
pub(super) fn run_tax_audit(
    tools: &AuditTools,
    dd: &Path,
    count: usize,
    dir: &Path,
    round: usize,
) -> Res<(DdRun, Vec<String>)> {
    let s = AuditSession::start(tools, false, dir, &format!("tax-{round}"))?;
    nap(TAX_SETTLE)?;
    let r = run_dd(dd, count);
    let session_dir = s.dir.clone();
    let (_, problems) = s.finish();
    let _ = fs::remove_dir_all(&session_dir);
    Ok((r?, problems))
}
