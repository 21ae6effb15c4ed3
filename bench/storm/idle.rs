//! The idle part: what each tracer costs while nothing execs. Each runs for
//! `STORM_IDLE_SECS` (default 10 s, 3 s with `--quick`; off with
//! `STORM_NO_IDLE=1`) after it is ready and has settled, and the part prints
//! its context switches (voluntary + involuntary, summed over its threads,
//! from /proc/PID/task/*/status) and its CPU (schedstat) over that window,
//! with the records it wrote meanwhile. Every tracer runs with `-u` of a uid
//! that runs nothing ([`IDLE_UID`]; the ftrace source, which has no uid,
//! `-n` of a name nothing has), so that the machine's own execs (a
//! build, cron) produce no record: the bpf source and libbpf-tools filter
//! in the kernel and see nothing; the fallback sources filter in user space
//! and still wake for each such exec, as they would in use. Issue target for the default bpf
//! source: at most 2 context switches and 1 ms of CPU in 10 s. The fallback
//! sources and `--metrics` poll on a timer by design; their rows say what
//! that costs.

use super::*;

/// Issue target, bpf source, over 10 s: context switches and CPU.
const IDLE_SWITCHES_TARGET: u64 = 2;
const IDLE_CPU_TARGET_MS: f64 = 1.0;
/// The uid every idle tracer is limited to: no process runs as it.
const IDLE_UID: u32 = 54321;
/// The ftrace source takes no `-u`: it gets `-n` of a name nothing has.
const IDLE_NAME: &str = "^storm-idle-none$";
/// After ready, before the window: start-up's last writes and frees.
const IDLE_SETTLE: Duration = Duration::from_millis(500);

pub(super) struct IdleRow {
    label: &'static str,
    /// Context switches and CPU ns in the window, records written in it;
    /// or why the row could not run.
    result: Result<(u64, u64, usize), String>,
}

/// Context switches of all live threads of `pid`.
fn switches(pid: libc::pid_t) -> Option<u64> {
    let mut total = 0;
    for e in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let Ok(s) = fs::read_to_string(e.path().join("status")) else { continue };
        for l in s.lines() {
            if let Some(v) =
                l.strip_prefix("voluntary_ctxt_switches:").or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().ok()?;
            }
        }
    }
    Some(total)
}

fn lines_in(p: &Path) -> usize {
    fs::read(p).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

fn idle_one(cfg: &Config, kind: Kind, window: Duration, dir: &Path) -> Res<(u64, u64, usize)> {
    let out_path = dir.join(format!("idle-{}.out", kind.label().replace(' ', "_")));
    let out = fs::File::create(&out_path).map_err(|e| format!("cannot create {}: {e}", out_path.display()))?;
    let (program, args, private) =
        if kind == Kind::Libbpf { libbpf_command(cfg)? } else { (cfg.execsnoop.clone(), kind_args(cfg, kind), false) };
    let mut args = args;
    if kind == Kind::Source(Src::Ftrace) {
        // Its events carry no uid (-u is refused): a name nothing has.
        args.extend(["-n".to_owned(), IDLE_NAME.to_owned()]);
    } else {
        args.extend(["-u".to_owned(), IDLE_UID.to_string()]);
    }
    let mut tr = Tracer::spawn(kind.label(), &program, &args, Stdio::from(out), false, private)?;
    if kind == Kind::Libbpf {
        tr.wait_ready(&libbpf_ready(cfg, &out_path))?;
    } else {
        tr.wait_ready(&Ready::Stderr(BANNER))?;
    }
    nap(IDLE_SETTLE)?;
    let gone = || format!("{} ended during the idle window", kind.label());
    let (s0, c0, l0) = (switches(tr.pid).ok_or_else(gone)?, tr.cpu_ns().ok_or_else(gone)?, lines_in(&out_path));
    nap(window)?;
    let (s1, c1, l1) = (switches(tr.pid).ok_or_else(gone)?, tr.cpu_ns().ok_or_else(gone)?, lines_in(&out_path));
    tr.stop(STOP_TIMEOUT);
    Ok((s1.saturating_sub(s0), c1.saturating_sub(c0), l1.saturating_sub(l0)))
}

/// One row per tracer: ours with the bpf source, with `--metrics`, with each
/// fallback source that starts here (`disabled` lists those that cannot),
/// and libbpf-tools when it is installed.
pub(super) fn run_idle(cfg: &Config, window: Duration, dir: &Path, disabled: &[Kind]) -> Res<Vec<IdleRow>> {
    let mut kinds = vec![Kind::OursJson, Kind::OursJsonMetrics];
    kinds.extend(Src::ALL.map(Kind::Source).into_iter().filter(|k| !disabled.contains(k)));
    if cfg.libbpf.is_some() {
        kinds.push(Kind::Libbpf);
    }
    let mut rows = Vec::new();
    for kind in kinds {
        let result = match idle_one(cfg, kind, window, dir) {
            Err(e) if aborted() => return Err(e),
            r => r,
        };
        match &result {
            Ok((s, c, n)) => eprintln!(
                "idle {:.0} s: {}: {s} context switches, {:.2} ms CPU, {n} records",
                window.as_secs_f64(),
                kind.label(),
                *c as f64 / 1e6
            ),
            Err(e) => eprintln!("idle: {} failed: {e}", kind.label()),
        }
        rows.push(IdleRow { label: kind.label(), result });
    }
    Ok(rows)
}

pub(super) fn render_idle(rows: &[IdleRow], window: Duration) -> String {
    let secs = window.as_secs_f64();
    let mut out = format!(
        "\nidle, {secs:.0} s, every tracer with -u {IDLE_UID} (a uid that runs nothing; ftrace: -n {IDLE_NAME}) so no record comes; fallback sources filter in user space and still wake for the machine's own execs), ready and settled:\n"
    );
    let w = rows.iter().map(|r| r.label.len() + 2).max().unwrap_or(0).max(18);
    let _ = writeln!(out, "{:<w$}{:>10}  {:>9}  {:>9}  {:>8}", "tool", "switches", "CPU", "CPU/s", "records");
    for r in rows {
        match &r.result {
            Ok((s, c, n)) => {
                let ms = *c as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "{:<w$}{s:>10}  {:>9}  {:>9}  {n:>8}",
                    r.label,
                    format!("{ms:.2} ms"),
                    format!("{:.3} ms", ms / secs)
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "{:<w$}{:>10}  {:>9}  {:>9}  {:>8}  not run: {}",
                    r.label,
                    "-",
                    "-",
                    "-",
                    "-",
                    clip(e)
                );
            }
        }
    }
    if let Some(Ok((s, c, n))) = rows.iter().find(|r| r.label == Kind::OursJson.label()).map(|r| &r.result) {
        // The target is per 10 s; scaled to the window.
        let scale = secs / 10.0;
        let met = (*s as f64) <= IDLE_SWITCHES_TARGET as f64 * scale.max(1.0)
            && (*c as f64 / 1e6) <= IDLE_CPU_TARGET_MS * scale.max(1.0);
        let _ = writeln!(
            out,
            "idle cost, execsnoop json (bpf source): {s} switches, {:.2} ms CPU in {secs:.0} s  (target: <= {IDLE_SWITCHES_TARGET} switches and <= {IDLE_CPU_TARGET_MS} ms per 10 s: {}){}",
            *c as f64 / 1e6,
            if met { "met" } else { "NOT met" },
            if *n > 0 { format!("; {n} records came meanwhile: a process of uid {IDLE_UID}?") } else { String::new() }
        );
    }
    out
}
