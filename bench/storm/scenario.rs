//! Scenarios: one tracer run per row (its arguments, its readiness, the
//! storm under it, its drain and stop), and the start/stop latency probe.

use super::*;

// ---------------------------------------------------------------------------
// Scenarios

pub(super) struct TracerRun {
    pub(super) ready: Option<Duration>,
    pub(super) banner: Option<Duration>,
    pub(super) startup_cpu_ns: Option<u64>,
    pub(super) storm: StormOutcome,
    pub(super) drain: Duration,
    pub(super) drain_timed_out: bool,
    pub(super) storm_cpu_ns: Option<u64>,
    pub(super) hwm_kib: Option<u64>,
    pub(super) exited: Exited,
    pub(super) ending_seen: bool,
    pub(super) stderr_unexpected: Vec<String>,
    pub(super) analysis: Analysis,
    /// Our tracer's `bpf_stats` lines: per program that ran, its runs and
    /// the kernel time they took (whole tracer lifetime, every exec on the
    /// machine; tail-called stages count in their caller).
    pub(super) bpf_stats: Vec<BpfStat>,
}

pub(super) struct BpfStat {
    pub(super) program: String,
    pub(super) run_cnt: u64,
    pub(super) run_time_ns: u64,
}

/// `execsnoop: bpf_stats PROGRAM run_cnt=N run_time_ns=T ns_per_run=X`.
pub(super) fn parse_bpf_stat(line: &str) -> Option<BpfStat> {
    let rest = line.strip_prefix(BPF_STATS_PREFIX)?;
    let mut it = rest.split_whitespace();
    let program = it.next()?.to_owned();
    let field = |s: Option<&str>, key: &str| s?.strip_prefix(key)?.parse::<u64>().ok();
    let run_cnt = field(it.next(), "run_cnt=")?;
    let run_time_ns = field(it.next(), "run_time_ns=")?;
    Some(BpfStat { program, run_cnt, run_time_ns })
}

pub(super) fn has_fails_flag(args: &[String]) -> bool {
    args.iter().any(|a| a == "-x" || a == "--fails")
}

pub(super) fn has_exits_flag(args: &[String]) -> bool {
    args.iter().any(|a| a == "-e" || a == "--exits")
}

pub(super) fn has_source_flag(args: &[String]) -> bool {
    args.iter().any(|a| a == "--source" || a.starts_with("--source="))
}

/// Our arguments for a storm row: `--json`, `-x`, `-e`, `--source` as the row
/// asks (a flag already in STORM_EXTRA_ARGS is not repeated), then the extra
/// arguments.
pub(super) fn kind_args(cfg: &Config, kind: Kind) -> Vec<String> {
    let mut v = Vec::new();
    if kind.is_json() {
        v.push("--json".to_owned());
    }
    if kind.with_fails() && !has_fails_flag(&cfg.extra_args) {
        v.push("-x".to_owned());
    }
    if kind.with_exits() && !has_exits_flag(&cfg.extra_args) {
        v.push("-e".to_owned());
    }
    match kind {
        Kind::OursJsonCwd => v.extend(["--cwd".to_owned(), "--print-container".to_owned()]),
        Kind::OursJsonEnv => v.push("--env".to_owned()),
        Kind::OursJsonMetrics => v.extend(["--metrics".to_owned(), "127.0.0.1:0".to_owned()]),
        Kind::OursTop => v.extend(["--top", "--json", "--interval", "0.2"].map(str::to_owned)),
        _ => {}
    }
    if let Some(src) = kind.source() {
        v.extend(["--source".to_owned(), src.as_str().to_owned()]);
    }
    v.extend(cfg.extra_args.iter().cloned());
    v
}

pub(super) fn our_args(cfg: &Config, json: bool, fails: bool) -> Vec<String> {
    let mut v = Vec::new();
    if json {
        v.push("--json".to_owned());
    }
    if fails && !has_fails_flag(&cfg.extra_args) {
        v.push("-x".to_owned());
    }
    v.extend(cfg.extra_args.iter().cloned());
    v
}

/// Program, arguments and whether it needs a private tracefs, for libbpf-tools.
pub(super) fn libbpf_command(cfg: &Config) -> Res<(PathBuf, Vec<String>, bool)> {
    let lb = cfg.libbpf.clone().ok_or("libbpf-tools execsnoop not available")?;
    Ok(match &cfg.stdbuf {
        Some(sb) => (sb.clone(), vec!["-oL".into(), lb.to_string_lossy().into_owned()], !cfg.tracefs_visible),
        None => (lb, Vec::new(), !cfg.tracefs_visible),
    })
}

pub(super) fn libbpf_ready<'a>(cfg: &Config, out_path: &'a Path) -> Ready<'a> {
    if cfg.stdbuf.is_some() { Ready::File(out_path, is_libbpf_header) } else { Ready::Fixed(Duration::from_secs(3)) }
}

pub(super) fn run_tracer(
    cfg: &Config,
    kind: Kind,
    plan: &Plan,
    noop: &Noop,
    missing: &Missing,
    dir: &Path,
    run: usize,
) -> Res<TracerRun> {
    let out_path = dir.join(format!("out-{}-{run}.txt", kind.label().replace(' ', "-")));
    let out_file = fs::File::create(&out_path).map_err(|e| format!("create {}: {e}", out_path.display()))?;
    // --output and --syslog: the records reach out_path another way.
    let mut extra: Vec<String> = Vec::new();
    let mut stdout = Stdio::from(out_file);
    let mut _syslog = None;
    if kind == Kind::OursJsonOutput {
        extra = vec!["--output".into(), out_path.to_string_lossy().into_owned()];
        stdout = Stdio::null();
    } else if kind == Kind::OursSyslog {
        let sock = dir.join(format!("syslog-{run}.sock"));
        let file = fs::OpenOptions::new().append(true).open(&out_path).map_err(|e| format!("{e}"))?;
        _syslog = Some(SyslogReader::start(&sock, file)?);
        extra = vec!["--syslog".into(), "--syslog-socket".into(), sock.to_string_lossy().into_owned()];
        stdout = Stdio::null();
    }
    let (program, args, private_tracefs, ready): (PathBuf, Vec<String>, bool, Ready) = match kind {
        Kind::Libbpf => {
            let (p, a, private) = libbpf_command(cfg)?;
            (p, a, private, libbpf_ready(cfg, &out_path))
        }
        Kind::OursTop => (cfg.execsnoop.clone(), kind_args(cfg, kind), false, Ready::Stderr(BANNER)),
        _ if kind.is_json() => {
            let mut a = kind_args(cfg, kind);
            a.extend(extra);
            (cfg.execsnoop.clone(), a, false, Ready::Stderr(BANNER))
        }
        _ => (cfg.execsnoop.clone(), kind_args(cfg, kind), false, Ready::File(&out_path, is_text_header)),
    };
    let mut tr = Tracer::spawn(kind.label(), &program, &args, stdout, false, private_tracefs)?;
    let ready_at = tr.wait_ready(&ready)?;
    let startup_cpu_ns = tr.cpu_ns();
    let storm = run_storm(plan, noop, "storm", kind.with_fails().then_some(missing))?;
    // The rows of the storm: its execs (argv with "storm", or, from a source
    // that could not read the arguments, the no-op's comm), failed attempts
    // (-x), and in the -e rows one exit record per exec (the no-op's comm;
    // not counted in other rows, where STORM_EXTRA_ARGS may add them).
    // --top: one interval record that counted them all.
    let expected_rows = if kind == Kind::OursTop {
        1
    } else {
        plan.total * if kind.with_exits() { 2 } else { 1 } + storm.fail_attempts.len()
    };
    let storm_pids: HashSet<i32> = storm.pids.iter().copied().filter(|&p| p > 0).collect();
    let text_exit_end = format!("] {}", noop.comm);
    let is_storm_row = |l: &[u8]| {
        if kind == Kind::OursTop {
            return serde_json::from_slice::<Value>(l).is_ok_and(|v| top_count(&v, &noop.comm) >= plan.total as u64);
        }
        contains(l, b"storm")
            || if kind.is_json() {
                // By PID: a record whose arguments could not be read has no "storm".
                kind.is_ours()
                    && json_pid(l).is_some_and(|p| storm_pids.contains(&p))
                    && (kind.with_exits() || !contains(l, b"\"type\":\"exit\""))
            } else {
                kind.with_exits() && contains(l, TEXT_EXIT_MARK.as_bytes()) && l.ends_with(text_exit_end.as_bytes())
            }
    };
    let (drain, drain_timed_out) = wait_drained(&out_path, &mut tr, expected_rows, &is_storm_row)?;
    let cpu_end = tr.cpu_ns();
    let hwm_kib = tr.hwm_kib();
    let still_running = !tr.try_reap();
    let exited = tr.stop(STOP_TIMEOUT);
    let mut stderr_unexpected = Vec::new();
    let err_lines: Vec<&str> = tr.stderr_lines().collect();
    let banner =
        tr.lines.iter().find(|l| l.stream == Stream::Err && l.text.contains(BANNER)).map(|l| l.at - tr.started);
    let ending_seen = err_lines.iter().any(|l| l.contains(ENDING));
    // A fallback source says once, at the start, how far to trust it.
    let notice = kind.source().map(|s| format!("execsnoop: {} source: ", s.as_str()));
    let mut notices = Vec::new();
    let mut bpf_stats = Vec::new();
    for l in &err_lines {
        if kind.is_ours() && l.starts_with(BPF_STATS_PREFIX) {
            match parse_bpf_stat(l) {
                Some(s) => bpf_stats.push(s),
                None => stderr_unexpected.push(clip(l)),
            }
            continue;
        }
        if let Some(n) = &notice
            && let Some(text) = l.strip_prefix(n.as_str())
        {
            notices.push(format!("its notice: {}", clip(text)));
            continue;
        }
        let expected = if kind.is_ours() {
            l.contains(BANNER) || l.contains(ENDING) || l.starts_with("WARNING: lost ") || summary_lost(l).is_some()
        } else {
            l.to_ascii_lowercase().contains("lost ")
        };
        if !expected && l.trim() != "" {
            stderr_unexpected.push(clip(l));
        }
    }
    let data = fs::read(&out_path).map_err(|e| format!("read {}: {e}", out_path.display()))?;
    let _ = fs::remove_file(&out_path);
    let data = String::from_utf8_lossy(&data);
    let fail_check = kind.with_fails().then(|| FailCheck::new(&missing.path_str, &storm.fail_attempts));
    let mut analysis = if kind == Kind::OursTop {
        analyze_top(&data, plan, noop)
    } else if kind.is_json() {
        analyze_json(&data, plan, &storm.pids, noop, fail_check.as_ref())
    } else {
        analyze_text(&data, plan, &storm.pids, kind, noop, !cfg.extra_args.is_empty())
    };
    if !still_running {
        analysis.notes.push(format!("had already exited ({}) before SIGINT", describe_status(exited.status)));
    }
    // Only the first run's: it can name things of that run (a PID).
    if run == 0 {
        analysis.info.extend(notices);
    }
    if !kind.is_json() {
        let warned: Vec<&str> = err_lines.iter().copied().filter(|l| summary_lost(l).is_none()).collect();
        analysis.lost = stderr_lost(&warned);
    }
    // Our closing summary ("N execs traced, N shown, N lost") must agree.
    if kind.is_ours() {
        match err_lines.iter().find_map(|l| summary_lost(l)) {
            Some(n) if n != analysis.lost => analysis
                .notes
                .push(format!("stderr summary says {n} lost, but the lost reports add up to {}", analysis.lost)),
            Some(_) => {}
            None => analysis.notes.push("no \"N execs traced, N shown, N lost\" summary on stderr".into()),
        }
    }
    let storm_cpu_ns = match (startup_cpu_ns, cpu_end) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    Ok(TracerRun {
        ready: ready_at,
        banner,
        startup_cpu_ns,
        storm,
        drain,
        drain_timed_out,
        storm_cpu_ns,
        hwm_kib,
        exited,
        ending_seen,
        stderr_unexpected,
        analysis,
        bpf_stats,
    })
}

/// Start a row's tracer once and stop it: `Some(reason)` when it cannot
/// start here (e.g. a source that is not built, or needs what this machine
/// lacks), with its exit status and last stderr line.
pub(super) fn probe(cfg: &Config, kind: Kind) -> Res<Option<String>> {
    let mut tr = match Tracer::spawn(kind.label(), &cfg.execsnoop, &kind_args(cfg, kind), Stdio::null(), false, false) {
        Ok(tr) => tr,
        Err(e) => {
            check_abort()?;
            return Ok(Some(e));
        }
    };
    match tr.wait_ready(&Ready::Stderr(BANNER)) {
        Ok(_) => {
            tr.stop(STOP_TIMEOUT);
            Ok(None)
        }
        Err(e) => {
            check_abort()?;
            if !tr.try_reap() {
                return Ok(Some(clip(&e)));
            }
            let st = tr.exited.map_or("unknown status".into(), |(s, _)| describe_status(s));
            let last = tr.stderr_lines().filter(|l| !l.trim().is_empty()).last().unwrap_or("(no stderr)");
            Ok(Some(format!("{st}: {}", clip(last.strip_prefix("execsnoop: ").unwrap_or(last)))))
        }
    }
}

pub(super) struct StartStop {
    pub(super) header: Duration,
    pub(super) banner: Option<Duration>,
    pub(super) exited: Exited,
    pub(super) ending_seen: bool,
}

/// Our text mode with stdout on a pipe: is the header flushed, and does SIGINT end it cleanly?
pub(super) fn run_start_stop(cfg: &Config) -> Res<StartStop> {
    let mut tr = Tracer::spawn(
        "execsnoop (text, stdout pipe)",
        &cfg.execsnoop,
        &our_args(cfg, false, false),
        Stdio::null(),
        true,
        false,
    )?;
    let header = tr.wait_ready(&Ready::StdoutPipe(is_text_header))?.unwrap_or_default();
    let banner = {
        // The banner may come a moment after the header; give it 500 ms.
        let t0 = Instant::now();
        loop {
            if let Some(l) = tr.lines.iter().find(|l| l.stream == Stream::Err && l.text.contains(BANNER)) {
                break Some(l.at - tr.started);
            }
            if t0.elapsed() > Duration::from_millis(500) {
                break None;
            }
            tr.pump(Duration::from_millis(5));
        }
    };
    nap(Duration::from_millis(100))?;
    let exited = tr.stop(STOP_TIMEOUT);
    let ending_seen = tr.stderr_lines().any(|l| l.contains(ENDING));
    Ok(StartStop { header, banner, exited, ending_seen })
}
