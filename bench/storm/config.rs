//! The benchmark's configuration: sizes, rows and tools from the
//! environment (see the STORM_* variables in main.rs), and where the
//! tracers are.

use super::*;

// ---------------------------------------------------------------------------
// Configuration

pub(super) struct Config {
    pub(super) workers: usize,
    pub(super) execs: usize,
    pub(super) runs: usize,
    pub(super) quick: bool,
    pub(super) extra_args: Vec<String>,
    pub(super) execsnoop: PathBuf,
    pub(super) libbpf: Option<PathBuf>,
    pub(super) stdbuf: Option<PathBuf>,
    /// tracefs is mounted where libbpf looks for it; if not, libbpf-tools runs
    /// in a private mount namespace with tracefs mounted there.
    pub(super) tracefs_visible: bool,
    /// The `-e` rows (off with STORM_NO_EXITS=1).
    pub(super) exits: bool,
    /// The `--cwd --print-container` and `--env` rows (off with STORM_NO_CONTEXT=1).
    pub(super) context: bool,
    /// The `--output`, `--metrics` and `--syslog` rows (off with STORM_NO_FLEET=1).
    pub(super) fleet: bool,
    /// The per-source rows (off with STORM_NO_SOURCES=1).
    pub(super) sources: bool,
    /// The syscall-tax part: `None` when skipped (STORM_NO_TAX=1).
    pub(super) tax: Option<TaxConfig>,
    /// The Linux audit rows, run last: `None` when skipped
    /// (STORM_NO_AUDIT=1); `Err` says why they cannot run (not installed).
    pub(super) audit: Option<Result<AuditTools, String>>,
    /// The idle part's window: `None` when skipped (STORM_NO_IDLE=1).
    pub(super) idle: Option<Duration>,
}

pub(super) struct TaxConfig {
    pub(super) rounds: usize,
    /// Explicit dd count (STORM_TAX_COUNT); else calibrated to `target`.
    pub(super) count: Option<usize>,
    pub(super) target: Duration,
    pub(super) dd: Option<PathBuf>,
}

pub(super) fn env_usize(name: &str) -> Res<Option<usize>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!("{name} must be a positive integer, got {v:?}")),
        },
        Err(_) => Ok(None),
    }
}

pub(super) fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

pub(super) fn find_in_path(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(prog)).find(|p| is_executable(p))
}

pub(super) fn is_executable(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c` is a valid NUL-terminated path.
    p.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

pub(super) fn locate_execsnoop() -> PathBuf {
    if let Some(p) = std::env::var_os("STORM_EXECSNOOP") {
        return PathBuf::from(p);
    }
    // The bench binary lives in target/<profile>/deps/; the tracer in target/<profile>/.
    if let Ok(exe) = std::env::current_exe()
        && let Some(profile_dir) = exe.parent().and_then(Path::parent)
    {
        let cand = profile_dir.join("execsnoop");
        if cand.is_file() {
            return cand;
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/execsnoop")
}

pub(super) fn parse_config() -> Res<Config> {
    let mut quick = env_flag("STORM_QUICK");
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--quick" => quick = true,
            "-h" | "--help" => {
                println!(
                    "exec storm benchmark for execsnoop\n\nusage: sudo cargo bench --bench storm [-- --quick]\n\
                     env: STORM_WORKERS STORM_EXECS STORM_RUNS STORM_QUICK STORM_EXTRA_ARGS STORM_EXECSNOOP STORM_NO_LIBBPF\n     \
                     STORM_NO_EXITS STORM_NO_CONTEXT STORM_NO_FLEET STORM_NO_SOURCES STORM_NO_TAX STORM_NO_AUDIT STORM_TAX_ROUNDS\n     STORM_TAX_COUNT STORM_NO_IDLE STORM_IDLE_SECS\n\
                     (see the module doc at the top of bench/storm.rs)"
                );
                std::process::exit(0);
            }
            // `cargo bench` passes --bench (and possibly a filter); ignore the rest.
            _ => {}
        }
    }
    let (def_execs, def_runs) = if quick { (QUICK_EXECS, QUICK_RUNS) } else { (DEFAULT_EXECS, DEFAULT_RUNS) };
    let workers = env_usize("STORM_WORKERS")?.unwrap_or(DEFAULT_WORKERS);
    let execs = env_usize("STORM_EXECS")?.unwrap_or(def_execs);
    let runs = env_usize("STORM_RUNS")?.unwrap_or(def_runs);
    let extra_args = std::env::var("STORM_EXTRA_ARGS")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let libbpf = if env_flag("STORM_NO_LIBBPF") { None } else { libbpf_tools() };
    let tax = if env_flag("STORM_NO_TAX") {
        None
    } else {
        Some(TaxConfig {
            rounds: env_usize("STORM_TAX_ROUNDS")?.unwrap_or(if quick { QUICK_TAX_ROUNDS } else { DEFAULT_TAX_ROUNDS }),
            count: env_usize("STORM_TAX_COUNT")?,
            target: if quick { QUICK_TAX_TARGET } else { TAX_TARGET },
            dd: find_in_path("dd"),
        })
    };
    Ok(Config {
        workers,
        execs,
        runs,
        quick,
        extra_args,
        execsnoop: locate_execsnoop(),
        libbpf,
        stdbuf: find_in_path("stdbuf"),
        tracefs_visible: ["/sys/kernel/tracing/events/syscalls", "/sys/kernel/debug/tracing/events/syscalls"]
            .iter()
            .any(|p| Path::new(p).is_dir()),
        exits: !env_flag("STORM_NO_EXITS"),
        context: !env_flag("STORM_NO_CONTEXT"),
        fleet: !env_flag("STORM_NO_FLEET"),
        sources: !env_flag("STORM_NO_SOURCES"),
        tax,
        audit: if env_flag("STORM_NO_AUDIT") { None } else { Some(find_audit()) },
        idle: if env_flag("STORM_NO_IDLE") {
            None
        } else {
            let secs = env_usize("STORM_IDLE_SECS")?.unwrap_or(if quick { QUICK_IDLE_SECS } else { DEFAULT_IDLE_SECS });
            Some(Duration::from_secs(secs as u64))
        },
    })
}

/// Newest modification time of the sources the tracer is built from.
pub(super) fn newest_source_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest: Option<SystemTime> = None;
    let mut stack = vec![dir.join("src"), dir.join("bpf"), dir.join("Cargo.toml")];
    while let Some(p) = stack.pop() {
        let Ok(md) = fs::metadata(&p) else { continue };
        if md.is_dir() {
            if let Ok(rd) = fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if let Ok(m) = md.modified() {
            newest = Some(newest.map_or(m, |n| n.max(m)));
        }
    }
    newest
}
