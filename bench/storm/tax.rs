//! The syscall tax: a 1-byte dd loop's system time with and without a
//! tracer, interleaved over rounds, as ratios against no tracer.

use super::*;

// ---------------------------------------------------------------------------
// Syscall tax: a 1-byte dd loop's system time with and without a tracer.

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum TaxTool {
    NoTracer,
    Ours,
    OursFails,
    Libbpf,
    /// auditd with the execve rule (audit.rs); these rounds run after all
    /// the others, audit last.
    Audit,
    /// No tracer, once audit has been enabled (tasks keep audit contexts).
    AfterAudit,
}

impl TaxTool {
    pub(super) fn label(self) -> &'static str {
        match self {
            TaxTool::NoTracer => "no tracer",
            TaxTool::Ours => "execsnoop",
            TaxTool::OursFails => "execsnoop -x",
            TaxTool::Libbpf => "libbpf-tools",
            TaxTool::Audit => "auditd",
            TaxTool::AfterAudit => "none, after audit",
        }
    }
}

#[derive(Clone, Copy)]
pub(super) struct DdRun {
    /// System and user CPU time of the dd process (wait4 rusage), seconds.
    pub(super) sys: f64,
    pub(super) user: f64,
    pub(super) wall: f64,
}

pub(super) fn tv_secs(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

pub(super) fn run_dd(dd: &Path, count: usize) -> Res<DdRun> {
    check_abort()?;
    let mut cmd = Command::new(dd);
    cmd.args(["if=/dev/zero", "of=/dev/null", "bs=1"])
        .arg(format!("count={count}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let t0 = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", dd.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waiting for our own child with valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if r < 0 && err.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Err(format!("wait4 dd: {err}"));
    }
    let wall = t0.elapsed().as_secs_f64();
    // dd's few lines of statistics fit in the pipe, so reading after the exit is safe.
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    drop(child);
    check_abort()?;
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("dd ended with {}: {}", describe_status(status), err.lines().next().unwrap_or("").trim()));
    }
    Ok(DdRun { sys: tv_secs(ru.ru_stime), user: tv_secs(ru.ru_utime), wall })
}

pub(super) fn push_note(notes: &mut Vec<String>, n: String) {
    if !notes.contains(&n) {
        notes.push(n);
    }
}

/// Start a tracer for the tax and wait until it is ready.
pub(super) fn spawn_tax_tracer(cfg: &Config, tool: TaxTool, out_path: &Path) -> Res<Tracer> {
    let out_file = fs::File::create(out_path).map_err(|e| format!("create {}: {e}", out_path.display()))?;
    // Ours in its default (text) mode; readiness is the stderr banner, which
    // does not depend on the header's columns.
    let (program, args, private_tracefs, ready) = match tool {
        TaxTool::NoTracer | TaxTool::Audit | TaxTool::AfterAudit => return Err("no tracer to start".into()),
        TaxTool::Ours => (cfg.execsnoop.clone(), our_args(cfg, false, false), false, Ready::Stderr(BANNER)),
        TaxTool::OursFails => (cfg.execsnoop.clone(), our_args(cfg, false, true), false, Ready::Stderr(BANNER)),
        TaxTool::Libbpf => {
            let (p, a, private) = libbpf_command(cfg)?;
            (p, a, private, libbpf_ready(cfg, out_path))
        }
    };
    let mut tr = Tracer::spawn(tool.label(), &program, &args, Stdio::from(out_file), false, private_tracefs)?;
    tr.wait_ready(&ready)?;
    Ok(tr)
}

/// The outcome of one tax measurement with a tracer running.
pub(super) enum TaxOne {
    Ok(DdRun),
    /// The measurement is void (the tracer died during it); try again next round.
    Void,
}

pub(super) fn run_tax_one(
    cfg: &Config,
    tool: TaxTool,
    dd: &Path,
    count: usize,
    dir: &Path,
    round: usize,
    notes: &mut Vec<String>,
) -> Res<TaxOne> {
    if matches!(tool, TaxTool::NoTracer | TaxTool::AfterAudit) {
        return run_dd(dd, count).map(TaxOne::Ok);
    }
    let out_path = dir.join(format!("tax-{}-{round}.txt", tool.label().replace(' ', "-")));
    let mut tr = spawn_tax_tracer(cfg, tool, &out_path)?;
    nap(TAX_SETTLE)?;
    let r = run_dd(dd, count);
    let alive = !tr.try_reap();
    let exited = tr.stop(STOP_TIMEOUT);
    let _ = fs::remove_file(&out_path);
    let r = r?;
    let tag = format!("syscall tax, {} (round {})", tool.label(), round + 1);
    let ours = tool != TaxTool::Libbpf;
    if !alive {
        push_note(
            notes,
            format!(
                "{tag}: the tracer exited ({}) while dd ran; measurement dropped; its stderr: {}",
                describe_status(exited.status),
                clip(&tr.stderr_text())
            ),
        );
        return Ok(TaxOne::Void);
    }
    if exited.killed {
        push_note(notes, format!("{tag}: did not exit within {} s of SIGINT; killed", STOP_TIMEOUT.as_secs()));
    } else if ours && !(libc::WIFEXITED(exited.status) && libc::WEXITSTATUS(exited.status) == 0) {
        push_note(notes, format!("{tag}: ended with {} after SIGINT, expected exit 0", describe_status(exited.status)));
    }
    if ours {
        for l in tr.stderr_lines() {
            let expected = l.contains(BANNER)
                || l.contains(ENDING)
                || l.starts_with("WARNING: lost ")
                || summary_lost(l).is_some()
                || l.trim().is_empty();
            if !expected {
                push_note(notes, format!("{tag}: stderr: {}", clip(l)));
            }
        }
    }
    Ok(TaxOne::Ok(r))
}

pub(super) struct TaxReport {
    pub(super) count: usize,
    pub(super) rounds: usize,
    pub(super) tools: Vec<TaxTool>,
    /// runs[tool][round]
    pub(super) runs: Vec<Vec<Option<DdRun>>>,
    /// The audit rounds ran (after everything else).
    pub(super) audit: bool,
}

/// Two significant digits, so the printed count reads well.
pub(super) fn round_2sig(n: f64) -> usize {
    if !n.is_finite() || n < 1.0 {
        return 1;
    }
    let mag = 10f64.powi(n.log10().floor() as i32 - 1);
    ((n / mag).round() * mag) as usize
}

pub(super) fn run_tax(cfg: &Config, tc: &TaxConfig, dir: &Path, notes: &mut Vec<String>) -> Res<Option<TaxReport>> {
    let Some(dd) = &tc.dd else {
        notes.push("syscall tax skipped: dd not found in PATH".into());
        return Ok(None);
    };
    // Warm up (page in dd, settle the CPU frequency), then calibrate.
    let calibrated = run_dd(dd, TAX_WARMUP_COUNT).and_then(|_| match tc.count {
        Some(n) => Ok(n),
        None => {
            let c = run_dd(dd, TAX_CALIBRATE_COUNT)?;
            let n = TAX_CALIBRATE_COUNT as f64 * tc.target.as_secs_f64() / c.wall.max(1e-3);
            Ok(round_2sig(n).clamp(10_000, 500_000_000))
        }
    });
    let count = match calibrated {
        Ok(n) => n,
        Err(e) => {
            check_abort()?;
            notes.push(format!("syscall tax skipped: {e}"));
            return Ok(None);
        }
    };
    let mut tools = vec![TaxTool::NoTracer, TaxTool::Ours, TaxTool::OursFails];
    if cfg.libbpf.is_some() {
        tools.push(TaxTool::Libbpf);
    }
    eprintln!(
        "tax: dd if=/dev/zero of=/dev/null bs=1 count={count}, {} round(s), scenarios: {}",
        tc.rounds,
        tools.iter().map(|t| t.label()).collect::<Vec<_>>().join(", ")
    );
    // runs[tool][round]: every tool gets exactly one entry per round.
    let mut runs: Vec<Vec<Option<DdRun>>> = vec![Vec::with_capacity(tc.rounds); tools.len()];
    let mut disabled = vec![false; tools.len()];
    for round in 0..tc.rounds {
        // Rotate the order every round so no scenario always runs first or last.
        let n = tools.len();
        for k in 0..n {
            let ti = (k + round) % n;
            let tool = tools[ti];
            if disabled[ti] {
                runs[ti].push(None);
                continue;
            }
            let mut got = None;
            match run_tax_one(cfg, tool, dd, count, dir, round, notes) {
                Ok(TaxOne::Ok(r)) => {
                    eprintln!(
                        "[tax {}/{}] {}: dd sys {:.3} s, user {:.3} s, wall {:.3} s",
                        round + 1,
                        tc.rounds,
                        tool.label(),
                        r.sys,
                        r.user,
                        r.wall
                    );
                    got = Some(r);
                }
                Ok(TaxOne::Void) => {
                    eprintln!("[tax {}/{}] {}: tracer died during dd; dropped", round + 1, tc.rounds, tool.label());
                }
                Err(e) if !aborted() => {
                    eprintln!("storm: syscall tax, {} failed, skipping it: {e}", tool.label());
                    notes.push(format!(
                        "syscall tax, {} (round {}): failed, skipped from then on: {e}",
                        tool.label(),
                        round + 1
                    ));
                    disabled[ti] = true;
                }
                Err(e) => return Err(e),
            }
            runs[ti].push(got);
            nap(Duration::from_millis(100))?;
        }
    }
    let report = TaxReport { count, rounds: tc.rounds, tools, runs, audit: false };
    // The default mode should cost nothing: flag it if every round says otherwise.
    if !has_fails_flag(&cfg.extra_args)
        && let Some(oi) = report.tools.iter().position(|&t| t == TaxTool::Ours)
        && let Some(min) = report.ratios(oi, |r| r.sys).into_iter().reduce(f64::min)
        && min > 1.03
    {
        notes.push(format!(
            "syscall tax: dd's system time with the default execsnoop was higher in every round (min ratio {min:.2}); \
             expected within noise of 1.00"
        ));
    }
    Ok(Some(report))
}

/// The tax with audit on, after everything else (audit last): per round,
/// dd with auditd and the rule, and dd with no tracer on this kernel that
/// has had audit enabled, in alternating order. Ratios are against the
/// same round's no-tracer run from before audit was ever enabled.
pub(super) fn run_tax_audit_rounds(
    tools: &AuditTools,
    report: &mut TaxReport,
    tc: &TaxConfig,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Res<()> {
    let Some(dd) = &tc.dd else { return Ok(()) };
    let mut audit = Vec::with_capacity(report.rounds);
    let mut after = Vec::with_capacity(report.rounds);
    let mut audit_ok = true;
    for round in 0..report.rounds {
        for k in 0..2 {
            if (k + round) % 2 == 0 {
                let got = if audit_ok {
                    match run_tax_audit(tools, dd, report.count, dir, round) {
                        Ok((r, problems)) => {
                            for p in problems {
                                push_note(
                                    notes,
                                    format!("syscall tax, auditd (round {}): restoring audit: {p}", round + 1),
                                );
                            }
                            Some(r)
                        }
                        Err(e) if !aborted() => {
                            eprintln!("storm: syscall tax, auditd failed, skipping it: {e}");
                            notes.push(format!(
                                "syscall tax, auditd (round {}): failed, skipped from then on: {e}",
                                round + 1
                            ));
                            audit_ok = false;
                            None
                        }
                        Err(e) => return Err(e),
                    }
                } else {
                    None
                };
                if let Some(r) = got {
                    eprintln!(
                        "[tax {}/{}] auditd: dd sys {:.3} s, user {:.3} s, wall {:.3} s",
                        round + 1,
                        report.rounds,
                        r.sys,
                        r.user,
                        r.wall
                    );
                }
                audit.push(got);
            } else {
                let r = run_dd(dd, report.count)?;
                eprintln!(
                    "[tax {}/{}] none, after audit: dd sys {:.3} s, user {:.3} s, wall {:.3} s",
                    round + 1,
                    report.rounds,
                    r.sys,
                    r.user,
                    r.wall
                );
                after.push(Some(r));
            }
            nap(Duration::from_millis(100))?;
        }
    }
    report.tools.extend([TaxTool::Audit, TaxTool::AfterAudit]);
    report.runs.extend([audit, after]);
    report.audit = true;
    Ok(())
}

impl TaxReport {
    /// Per-round ratios of tool `ti` against no tracer in the same round.
    pub(super) fn ratios(&self, ti: usize, f: fn(&DdRun) -> f64) -> Vec<f64> {
        let Some(bi) = self.tools.iter().position(|&t| t == TaxTool::NoTracer) else { return Vec::new() };
        (0..self.rounds)
            .filter_map(|r| match (self.runs[bi][r], self.runs[ti][r]) {
                (Some(b), Some(t)) if f(&b) > 0.0 => Some(f(&t) / f(&b)),
                _ => None,
            })
            .collect()
    }

    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nsyscall tax: dd if=/dev/zero of=/dev/null bs=1 count={} ({:.1}M read+write syscalls), {} round{} interleaved (medians)",
            self.count,
            2.0 * self.count as f64 / 1e6,
            self.rounds,
            if self.rounds == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            out,
            "{:<18}{:>8}  {:>10}  {:>8}  {:>9}  {:>11}  {:>9}  {:>10}",
            "scenario", "dd sys", "ns/syscall", "dd wall", "sys ratio", "(min-max)", "cpu ratio", "wall ratio"
        );
        for (ti, tool) in self.tools.iter().enumerate() {
            let done: Vec<DdRun> = self.runs[ti].iter().flatten().copied().collect();
            let sys = median_f(done.iter().map(|r| r.sys).collect());
            let wall = median_f(done.iter().map(|r| r.wall).collect());
            let per_call = sys.map(|s| s * 1e9 / (2.0 * self.count as f64));
            let (ratio, spread, cpu_ratio, wall_ratio) = if *tool == TaxTool::NoTracer {
                let x = if done.is_empty() { "n/a" } else { "1.00x" };
                (x.to_string(), "-".to_string(), x.to_string(), x.to_string())
            } else {
                let rs = self.ratios(ti, |r| r.sys);
                let cs = self.ratios(ti, |r| r.sys + r.user);
                let ws = self.ratios(ti, |r| r.wall);
                let spread = match (rs.iter().copied().reduce(f64::min), rs.iter().copied().reduce(f64::max)) {
                    (Some(lo), Some(hi)) => format!("({lo:.2}-{hi:.2})"),
                    _ => "n/a".into(),
                };
                let x = |v: Vec<f64>| median_f(v).map_or("n/a".into(), |x| format!("{x:.2}x"));
                (x(rs), spread, x(cs), x(ws))
            };
            let _ = writeln!(
                out,
                "{:<18}{:>8}  {:>10}  {:>8}  {:>9}  {:>11}  {:>9}  {:>10}",
                tool.label(),
                sys.map_or("n/a".into(), |s| format!("{s:.3} s")),
                per_call.map_or("n/a".into(), |n| format!("{n:.0} ns")),
                wall.map_or("n/a".into(), |s| format!("{s:.3} s")),
                ratio,
                spread,
                cpu_ratio,
                wall_ratio
            );
        }
        let _ = writeln!(
            out,
            "(dd sys = the dd process's system CPU time from wait4 rusage; ns/syscall = dd sys / (2 x count); ratios = this scenario / no tracer in the same round, median; (min-max) = range of the sys ratio over rounds; cpu ratio = the same for user+sys, which is exact where the user/sys split is tick-sampled; execsnoop runs in its default text mode; any attached syscalls:* tracepoint puts every task on the slow syscall path)"
        );
        if self.audit {
            let _ = writeln!(
                out,
                "(auditd = dd while auditd runs with the rule {}; none, after audit = dd with no tracer and audit off again, \
                 on this kernel that has had audit enabled: its new tasks keep an audit context (the audit syscall path) until \
                 reboot; both run after every other scenario, paired with that round's no-tracer run \
                 from before)",
                AUDIT_RULE.join(" ")
            );
        }
        out
    }
}
