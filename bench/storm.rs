//! # exec storm: how execsnoop holds up under a burst of exec()s
//!
//! This benchmark measures and prints figures. It asserts nothing about time.
//! It fails only when it cannot measure at all, for example when the tracer
//! never becomes ready or you are not root.
//!
//! It has two parts: the **exec storm** (how the tracers cope with many execs)
//! and the **syscall tax** (what `-x` costs every other program on the
//! machine while it is attached).
//!
//! ## Part 1: the exec storm
//!
//! It builds a tiny static no-op program (`int main(){return 0;}`, with
//! `cc -static -O2`). If that fails it falls back to `/bin/true` and says
//! so. It then runs an *exec storm*: W worker threads together run N
//! `posix_spawn` + `waitpid` of that program. Each exec gets a recognisable
//! argv, `noop storm <worker> <seq> <40-byte filler>`. The filler is
//! derived from worker and seq, so every captured row can be checked for
//! its complete, correct argv. The PID that `posix_spawn` returned and the
//! benchmark's own PID (the parent) are checked too.
//!
//! Each run goes through these scenarios, and every scenario is repeated R
//! times. The table shows medians.
//!
//! 1. **baseline**: the storm with no tracer (wall time). One baseline runs
//!    right before each tracer run.
//! 2. **execsnoop json**: `execsnoop --json`, stdout to a file.
//! 3. **execsnoop json -x**: `execsnoop --json -x`, stdout to a file. Only
//!    in this scenario (and in the baseline run just before it) the storm
//!    also makes *failing* exec attempts: every worker iteration whose seq
//!    is 50 mod 100 first `posix_spawn`s a nonexistent program
//!    (`<tmpdir>/missing-noop`) with argv
//!    `<that path> storm-fail <worker> <seq>`, which must fail with ENOENT.
//!    That is one failing attempt per 100 execs, in addition to the N.
//! 4. **execsnoop json -e**: `execsnoop --json -e`, stdout to a file: the
//!    same storm, with an exit record per process as well (what following
//!    processes to their end costs).
//! 5. **execsnoop text**: `execsnoop`, stdout to a file.
//! 6. **execsnoop text -e**: `execsnoop -e`, stdout to a file.
//! 7. **libbpf-tools**: Debian's `/usr/sbin/execsnoop`, if installed. It
//!    runs under `stdbuf -oL` so its header line can be seen. Without that,
//!    its stdout to a file is fully buffered. It needs tracefs for its
//!    syscall tracepoints; if tracefs is not mounted on the host, it runs in
//!    a private mount namespace with tracefs mounted there (nothing changes
//!    outside that namespace).
//! 8. **execsnoop --source ftrace**, **--source netlink**, **--source
//!    procfs**: `execsnoop --json --source <source>`, stdout to a file: the
//!    fallback event sources, one row each. The bpf source is what the rows
//!    above measure (`--source auto` picks it first; a record's `source`
//!    field is checked, and a row whose storm records came from another
//!    source gets a note). The fallback sources read the arguments from
//!    `/proc` after the event (ftrace does where the kernel has no kprobes),
//!    and the no-op has usually ended by then: such a record has
//!    `"args_read_failed":true` and an empty argv (its comm, filename and
//!    PPID may come from `/proc` too and are then empty or 0). It is
//!    matched to its exec by PID and counts as captured, not full-argv; only
//!    its PID is checked. Before the first run, each source is started once:
//!    one that cannot start (e.g. `procfs` while it is not built: exit 1,
//!    "not built yet") gets its row with `-` and the reason, and is skipped.
//!
//! For every tracer run the benchmark does the following:
//!
//! 1. It spawns the tracer.
//! 2. It waits until the tracer is ready, with a 10 s timeout. Ready means
//!    the stderr banner `Tracing exec()s. Ctrl-C to end.` for `--json`, and
//!    the header line in the stdout file for text mode and libbpf-tools.
//! 3. It runs the storm.
//! 4. It waits until the output file has stopped growing for 300 ms.
//! 5. It samples CPU time and peak RSS.
//! 6. It sends SIGINT and waits up to 10 s for a clean exit.
//! 7. It parses the output.
//!
//! A separate short start/stop run per repetition measures how long it takes
//! our text-mode header to reach a **pipe**. That checks it is flushed when
//! stdout is not a tty. The same run checks SIGINT handling: `Ending
//! tracing...` is printed and the exit status is 0.
//!
//! Every row but `execsnoop json` and `execsnoop text` is optional: if one
//! cannot start, that is listed under `notes:` and the row is skipped from
//! then on (with `-` and a reason in the table if it never ran).
//!
//! "Storm rows" (what step 4 waits for) are: records whose argv contains
//! `storm`; for our JSON rows also records whose `pid` is one of the storm's
//! (a record with unreadable arguments has no `storm`); and in the `-e` rows
//! the exit records of the storm's processes (by PID in JSON, by the no-op's
//! name in text mode).
//!
//! ### Columns of the storm table
//!
//! - `captured`: storm execs (distinct `worker`/`seq`) that appear as a
//!   record whose argv starts `noop storm <worker> <seq>`, or (JSON) as a
//!   record with `"args_read_failed":true` whose PID is the exec's (see the
//!   `--source` rows above).
//! - `full-argv`: of those, records with exactly the expected 5 arguments,
//!   the right filler, no truncation mark, and not `args_read_failed`.
//! - `lost`: events the tracer reported as lost. For our `--json` this is the
//!   `lost` records. For our text mode it is `WARNING: lost N` on stderr. For
//!   libbpf-tools it is `Lost N events` on stderr.
//! - `cpu/1k ev`: the tracer's CPU time from readiness until just before
//!   SIGINT, per 1,000 exec records it wrote (for `-x`, failed-attempt
//!   records count too; exit records, `-e`, do not, so the `-e` rows give
//!   the cost per exec and compare directly with the rows without `-e`).
//!   The time is the sum of `/proc/PID/task/*/schedstat`, which
//!   has ns resolution. If that is missing it falls back to utime+stime from
//!   `/proc/PID/stat`. The CPU spent starting up (loading BPF, BTF, ...) is
//!   reported on its own line.
//! - `peak RSS`: VmHWM from `/proc/PID/status` just before SIGINT.
//! - `ready`: time from spawn to readiness (see above).
//! - `slowdown`: storm wall time with the tracer running, divided by the
//!   wall time of the baseline run just before it (median of these ratios).
//!   For the `-x` row both runs include the failing attempts. On a small or
//!   shared machine, run-to-run noise of several percent can be larger than
//!   the tracer's effect. `cpu/1k ev` is the steadier cost figure.
//! - `failed` (`-x` row only): failing attempts captured / made (medians).
//!   A record counts as a failed attempt when its `ret` is negative, or,
//!   when the JSON has no `ret` field, when its `filename` is the missing
//!   program; it is matched to its attempt by the `<worker> <seq>` in its
//!   argv. Its argv, filename, `ret` (-2 when present), `errno` (`"ENOENT"`
//!   when present) and PPID (the benchmark) are checked, as are duplicates,
//!   and successful storm execs whose `ret` is present and not 0.
//! - `exits` (`-e` rows only): storm execs whose exit record was written /
//!   storm execs (median). An exit record is matched to its exec by PID (and
//!   in JSON `exec_ts_ns` must be its exec record's `ts_ns`); its exit code
//!   (0, no signal) and PPID (the benchmark) are checked, as are duplicates.
//!
//! The headline `baseline` is the median of the plain baselines (not the
//! ones with failing attempts).
//!
//! After the table:
//!
//! - `-e cost` lines, for json and text: the `-e` row's `cpu/1k ev` divided
//!   by that of the same mode without `-e`, and the same for `slowdown`
//!   (ratio of the two medians), against the target of at most 1.5x each.
//!   The slowdowns are both close to 1, so their ratio mostly shows noise;
//!   `cpu/1k ev` is the figure to watch.
//! - `per source`: captured / full-argv for bpf (the `execsnoop json` row)
//!   and each `--source` row, or `-` and why it did not run. The bpf source
//!   must stay at 100% for both; a note says so when it does not.
//!
//! ## Part 2: the syscall tax
//!
//! Attaching any `syscalls:*` tracepoint (as `-x` does, and libbpf-tools
//! always) puts every task on the machine on the slow syscall path. This part
//! measures that with a syscall-bound program: `dd if=/dev/zero of=/dev/null
//! bs=1 count=C` (two syscalls per byte). The benchmark times one warm-up dd,
//! then calibrates C so that one dd takes about 1.3 s with no tracer (0.4 s
//! with `--quick`). Each round then runs dd once in each scenario, in an order
//! rotated every round:
//!
//! 1. **no tracer**;
//! 2. **execsnoop**: our tracer in its default (text) mode, which must not
//!    attach any syscall tracepoint;
//! 3. **execsnoop -x**;
//! 4. **libbpf-tools**, if installed (as in part 1).
//!
//! A tracer is started, waited for (stderr banner for ours, header line for
//! libbpf-tools), left alone for 150 ms, then dd runs, then the tracer gets
//! SIGINT. The dd process's CPU time comes from `wait4`'s rusage.
//!
//! ### Columns of the tax table
//!
//! - `dd sys`: median system CPU time of dd; `ns/syscall`: that divided by
//!   2 x C.
//! - `dd wall`: median wall time of dd.
//! - `sys ratio`: dd's system time / that of the no-tracer run in the same
//!   round, median over rounds; `(min-max)`: the range of that ratio over
//!   the rounds, so the noise is visible. The target for the default mode
//!   is within noise of 1.00; `-x` is expected above 1.
//! - `cpu ratio`: the same for user+sys. With tick-based accounting the
//!   kernel splits a task's exact runtime into user and sys by sampling at
//!   the tick, so `sys` carries a few percent of sampling noise; user+sys is
//!   exact (but the unchanged user time dilutes the ratio).
//! - `wall ratio`: the same for wall time.
//!
//! If the default mode's sys ratio is above 1.03 in every round, a note says
//! so.
//!
//! Anything odd is listed under `notes:` after the tables. This includes lost
//! events, wrong PIDs, malformed JSON, unexpected stderr output, a non-zero
//! exit, a slow or hung shutdown, a tracer that died while dd ran, missed or
//! wrong failed-attempt or exit records, and storm records from the wrong
//! source. It also lists, per `--source` row, the source's own notice (the
//! stderr line on how far to trust it, from the first run) and how many
//! storm execs had unreadable arguments in each run.
//!
//! ## Running
//!
//! ```text
//! cargo build --release              # the tracer binary must exist
//! sudo cargo bench --bench storm     # full run: 20000 execs, 4 workers, 3 runs; tax 5 rounds
//! sudo cargo bench --bench storm -- --quick   # smoke: 2000 execs, 1 run; tax 1 short round
//! ```
//!
//! The full run takes about 6 minutes on a 2-core machine (the storm about
//! 5, of which about 1.5 for the `-e` rows and 1.5 for the `--source`
//! rows; the tax about 1); the quick one about 20 seconds. Every row,
//! the `-e` and `--source` ones included, runs in both.
//! You can also run the compiled bench binary directly:
//! `sudo target/release/deps/storm-<hash> [--quick]`.
//!
//! Environment variables:
//!
//! - `STORM_WORKERS`: number of worker threads (default 4).
//! - `STORM_EXECS`: total execs per storm (default 20000).
//! - `STORM_RUNS`: repetitions (default 3).
//! - `STORM_QUICK=1`: the same as `--quick`. Explicit `STORM_EXECS`,
//!   `STORM_RUNS`, `STORM_TAX_ROUNDS` and `STORM_TAX_COUNT` still win.
//! - `STORM_EXTRA_ARGS`: extra flags, split at whitespace, passed to our
//!   execsnoop in every run, the tax's included (e.g. `-t`). If they
//!   contain `-x`/`--fails`, every one of our rows runs with it (noted); the
//!   same for `-e`/`--exits` (noted; the rows added for `-e` then differ
//!   from the others in nothing). If they contain `--source`, the
//!   `--source` rows are skipped (noted).
//! - `STORM_EXECSNOOP`: path of the tracer to test. The default is
//!   `target/release/execsnoop` next to this bench binary.
//! - `STORM_NO_LIBBPF=1`: skip the libbpf-tools comparison (both parts).
//! - `STORM_NO_EXITS=1`: skip the `execsnoop json -e` and `text -e` rows
//!   (and the `-e cost` lines).
//! - `STORM_NO_CONTEXT=1`: skip the `execsnoop json --cwd --print-container`
//!   and `json --env` rows (and their cost lines against `execsnoop json`)
//! - `STORM_NO_FLEET=1`: skip the `execsnoop json --output`, `json --metrics`
//!   and `--syslog` rows (and their cost lines against `execsnoop json`;
//!   the syslog row's socket is read by a thread of the benchmark that writes
//!   each message's JSON to the row's output file)
//! - `STORM_NO_SOURCES=1`: skip the `--source` rows (and the `per source`
//!   line).
//! - `STORM_NO_TAX=1`: skip the syscall tax.
//! - `STORM_TAX_ROUNDS`: tax rounds (default 5, 1 with `--quick`).
//! - `STORM_TAX_COUNT`: dd's `count`, instead of calibrating it.
//!
//! It must run as root. Temporary files live in one directory under
//! `$TMPDIR`, which is removed on every exit path. The tracers run in their
//! own process group with a parent-death signal, dd with a parent-death
//! signal. They are stopped if the benchmark errors out, is interrupted with
//! Ctrl-C, or is killed.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{CStr, CString, OsStr};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

const DEFAULT_WORKERS: usize = 4;
const DEFAULT_EXECS: usize = 20_000;
const DEFAULT_RUNS: usize = 3;
const QUICK_EXECS: usize = 2_000;
const QUICK_RUNS: usize = 1;
const WARMUP_EXECS: usize = 200;
/// In the `-x` scenario, worker iteration `seq` with `seq % FAIL_EVERY ==
/// FAIL_OFFSET` first makes one exec attempt that fails (ENOENT).
const FAIL_EVERY: usize = 100;
const FAIL_OFFSET: usize = 50;
const FAIL_MARKER: &str = "storm-fail";
/// Name of the nonexistent program in the temporary directory.
const MISSING_NAME: &str = "missing-noop";

/// Issue target: with `-e`, CPU per exec and slowdown within this factor of
/// the same mode without it.
const EXITS_TARGET: f64 = 1.5;
/// `--cwd --print-container` against the plain JSON row: CPU per event.
const CWD_TARGET: f64 = 1.5;
/// `--env` against the plain JSON row: CPU per event.
const ENV_TARGET: f64 = 2.0;
/// `--output FILE` against stdout redirected to a file: no more CPU per
/// event (the 5 % is the run-to-run noise of the median).
const OUTPUT_TARGET: f64 = 1.05;
/// `--metrics` against the plain JSON row: at most 5 % more.
const METRICS_TARGET: f64 = 1.05;

const DEFAULT_TAX_ROUNDS: usize = 5;
const QUICK_TAX_ROUNDS: usize = 1;
/// Target wall time of one `dd` run without a tracer.
const TAX_TARGET: Duration = Duration::from_millis(1300);
const QUICK_TAX_TARGET: Duration = Duration::from_millis(400);
const TAX_CALIBRATE_COUNT: usize = 300_000;
const TAX_WARMUP_COUNT: usize = 100_000;
/// Pause after the tracer is ready, before `dd` starts.
const TAX_SETTLE: Duration = Duration::from_millis(150);

const READY_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const DRAIN_QUIET: Duration = Duration::from_millis(300);
const DRAIN_MAX: Duration = Duration::from_secs(30);

const BANNER: &str = "Tracing exec()s. Ctrl-C to end.";
const ENDING: &str = "Ending tracing...";
const TEXT_HEADER: &str = "   PID   PPID ARGS";
const TEXT_HEADER_RET: &str = "PID   PPID RET ARGS";
/// What starts the ARGS column of an exit line in text mode with `-e`.
const TEXT_EXIT_MARK: &str = "[exit: ";
const LIBBPF_HEADER_START: &str = "PCOMM";
const LIBBPF_PATH: &str = "/usr/sbin/execsnoop";
/// Where our Debian package's preinst diverts libbpf-tools' execsnoop.
const LIBBPF_DIVERTED: &str = "/usr/sbin/execsnoop.libbpf-tools";

/// libbpf-tools' execsnoop: diverted by our package, or at its own path when
/// dpkg says that file is libbpf-tools' (not ours, installed there).
fn libbpf_tools() -> Option<PathBuf> {
    let diverted = PathBuf::from(LIBBPF_DIVERTED);
    if is_executable(&diverted) {
        return Some(diverted);
    }
    let owner = Command::new("dpkg-query").args(["-S", LIBBPF_PATH]).output().ok()?;
    let theirs = String::from_utf8_lossy(&owner.stdout).starts_with("libbpf-tools:");
    Some(PathBuf::from(LIBBPF_PATH)).filter(|p| theirs && is_executable(p))
}

const FILLER_LEN: usize = 40;
const FILLER_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

type Res<T> = Result<T, String>;

// ---------------------------------------------------------------------------
// Interruption: Ctrl-C / SIGTERM set a flag that every loop checks, so the
// guards below always get to clean up.

static ABORT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    ABORT.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is a valid starting point; the handler
        // only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

fn aborted() -> bool {
    ABORT.load(Ordering::SeqCst)
}

fn check_abort() -> Res<()> {
    if aborted() { Err("interrupted (Ctrl-C / SIGTERM); cleaned up".into()) } else { Ok(()) }
}

/// Sleep in small slices so an interrupt is noticed quickly.
fn nap(d: Duration) -> Res<()> {
    let end = Instant::now() + d;
    loop {
        check_abort()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

// ---------------------------------------------------------------------------
// Configuration

struct Config {
    workers: usize,
    execs: usize,
    runs: usize,
    quick: bool,
    extra_args: Vec<String>,
    execsnoop: PathBuf,
    libbpf: Option<PathBuf>,
    stdbuf: Option<PathBuf>,
    /// tracefs is mounted where libbpf looks for it; if not, libbpf-tools runs
    /// in a private mount namespace with tracefs mounted there.
    tracefs_visible: bool,
    /// The `-e` rows (off with STORM_NO_EXITS=1).
    exits: bool,
    /// The `--cwd --print-container` and `--env` rows (off with STORM_NO_CONTEXT=1).
    context: bool,
    /// The `--output`, `--metrics` and `--syslog` rows (off with STORM_NO_FLEET=1).
    fleet: bool,
    /// The per-source rows (off with STORM_NO_SOURCES=1).
    sources: bool,
    /// The syscall-tax part: `None` when skipped (STORM_NO_TAX=1).
    tax: Option<TaxConfig>,
}

struct TaxConfig {
    rounds: usize,
    /// Explicit dd count (STORM_TAX_COUNT); else calibrated to `target`.
    count: Option<usize>,
    target: Duration,
    dd: Option<PathBuf>,
}

fn env_usize(name: &str) -> Res<Option<usize>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!("{name} must be a positive integer, got {v:?}")),
        },
        Err(_) => Ok(None),
    }
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn find_in_path(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(prog)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c` is a valid NUL-terminated path.
    p.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

fn locate_execsnoop() -> PathBuf {
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

fn parse_config() -> Res<Config> {
    let mut quick = env_flag("STORM_QUICK");
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--quick" => quick = true,
            "-h" | "--help" => {
                println!(
                    "exec storm benchmark for execsnoop\n\nusage: sudo cargo bench --bench storm [-- --quick]\n\
                     env: STORM_WORKERS STORM_EXECS STORM_RUNS STORM_QUICK STORM_EXTRA_ARGS STORM_EXECSNOOP STORM_NO_LIBBPF\n     \
                     STORM_NO_EXITS STORM_NO_CONTEXT STORM_NO_FLEET STORM_NO_SOURCES STORM_NO_TAX STORM_TAX_ROUNDS STORM_TAX_COUNT\n\
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
    })
}

/// Newest modification time of the sources the tracer is built from.
fn newest_source_mtime(dir: &Path) -> Option<SystemTime> {
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

// ---------------------------------------------------------------------------
// Temporary directory, removed on drop.

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Res<TempDir> {
        let base = std::env::temp_dir().join("execsnoop-storm.XXXXXX");
        let mut tmpl = base.as_os_str().as_bytes().to_vec();
        tmpl.push(0);
        // SAFETY: `tmpl` is a writable NUL-terminated template ending in XXXXXX.
        let r = unsafe { libc::mkdtemp(tmpl.as_mut_ptr().cast()) };
        if r.is_null() {
            return Err(format!("mkdtemp {}: {}", base.display(), io::Error::last_os_error()));
        }
        tmpl.pop();
        Ok(TempDir(PathBuf::from(OsStr::from_bytes(&tmpl))))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// The no-op program

struct Noop {
    path: CString,
    path_str: String,
    /// What the kernel's comm will be after exec.
    comm: String,
    /// "static" or a description of the fallback.
    kind: String,
}

fn build_noop(dir: &Path) -> Noop {
    let src = dir.join("noop.c");
    let bin = dir.join("noop");
    let why = match fs::write(&src, "int main(void){return 0;}\n") {
        Err(e) => format!("cannot write {}: {e}", src.display()),
        Ok(()) => match Command::new("cc").arg("-static").arg("-O2").arg("-o").arg(&bin).arg(&src).output() {
            Err(e) => format!("cannot run cc: {e}"),
            Ok(o) if o.status.success() && is_executable(&bin) => {
                let path_str = bin.to_string_lossy().into_owned();
                return Noop {
                    path: CString::new(path_str.clone()).unwrap_or_default(),
                    path_str,
                    comm: "noop".into(),
                    kind: "static".into(),
                };
            }
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                format!("cc -static failed ({}): {}", o.status, err.lines().next().unwrap_or("").trim())
            }
        },
    };
    let truebin =
        ["/bin/true", "/usr/bin/true"].into_iter().find(|p| is_executable(Path::new(p))).unwrap_or("/bin/true");
    eprintln!("storm: WARNING: could not build a static no-op ({why}); falling back to {truebin}");
    Noop {
        path: CString::new(truebin).unwrap_or_default(),
        path_str: truebin.into(),
        comm: "true".into(),
        kind: format!("{truebin} (fallback: static build failed)"),
    }
}

// ---------------------------------------------------------------------------
// The storm

/// Which exec belongs to which worker/seq, and what its argv must be.
struct Plan {
    workers: usize,
    per_worker: Vec<usize>,
    offsets: Vec<usize>,
    total: usize,
}

impl Plan {
    fn new(workers: usize, total: usize) -> Plan {
        let per_worker: Vec<usize> = (0..workers).map(|w| total / workers + usize::from(w < total % workers)).collect();
        let mut offsets = Vec::with_capacity(workers);
        let mut acc = 0;
        for &n in &per_worker {
            offsets.push(acc);
            acc += n;
        }
        Plan { workers, per_worker, offsets, total }
    }

    /// Global index of (worker, seq), if it is part of the plan.
    fn index(&self, w: usize, s: usize) -> Option<usize> {
        (w < self.workers && s < self.per_worker[w]).then(|| self.offsets[w] + s)
    }
}

fn filler(w: usize, s: usize) -> String {
    (0..FILLER_LEN).map(|i| FILLER_ALPHABET[(w * 7919 + s * 31 + i * 17) % FILLER_ALPHABET.len()] as char).collect()
}

fn expected_argv(tag: &str, w: usize, s: usize) -> [String; 5] {
    ["noop".into(), tag.into(), w.to_string(), s.to_string(), filler(w, s)]
}

fn expected_fail_argv(missing: &str, w: usize, s: usize) -> [String; 4] {
    [missing.into(), FAIL_MARKER.into(), w.to_string(), s.to_string()]
}

/// The nonexistent program the `-x` scenario tries to exec now and then.
struct Missing {
    path: CString,
    path_str: String,
}

impl Missing {
    fn new(dir: &Path) -> Missing {
        let path_str = dir.join(MISSING_NAME).to_string_lossy().into_owned();
        Missing { path: CString::new(path_str.clone()).unwrap_or_default(), path_str }
    }
}

struct StormOutcome {
    wall: Duration,
    /// PID of each exec by global index (0 when the spawn failed).
    pids: Vec<i32>,
    failures: u64,
    first_error: Option<String>,
    /// Failing exec attempts made (worker, seq), when the storm included them.
    fail_attempts: Vec<(usize, usize)>,
    /// Failing attempts that did not fail with ENOENT as they should.
    fail_unexpected: u64,
    fail_example: Option<String>,
}

/// What one worker did.
struct WorkerOutcome {
    pids: Vec<i32>,
    failures: u64,
    first_error: Option<String>,
    fail_attempts: Vec<(usize, usize)>,
    fail_unexpected: u64,
    fail_example: Option<String>,
}

fn run_storm(plan: &Plan, noop: &Noop, tag: &'static str, missing: Option<&Missing>) -> Res<StormOutcome> {
    check_abort()?;
    let barrier = Arc::new(Barrier::new(plan.workers + 1));
    let mut handles = Vec::with_capacity(plan.workers);
    for w in 0..plan.workers {
        let n = plan.per_worker[w];
        let path = noop.path.clone();
        let missing = missing.map(|m| (m.path.clone(), m.path_str.clone()));
        let barrier = Arc::clone(&barrier);
        let h = thread::Builder::new()
            .name(format!("storm-{w}"))
            .spawn(move || storm_worker(w, n, &path, tag, missing, &barrier))
            .map_err(|e| format!("cannot start worker thread: {e}"));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                // Let the started workers through the barrier so they can finish.
                ABORT.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
    }
    barrier.wait();
    let t0 = Instant::now();
    let mut out = StormOutcome {
        wall: Duration::ZERO,
        pids: Vec::with_capacity(plan.total),
        failures: 0,
        first_error: None,
        fail_attempts: Vec::new(),
        fail_unexpected: 0,
        fail_example: None,
    };
    for h in handles {
        match h.join() {
            Ok(r) => {
                out.pids.extend(r.pids);
                out.failures += r.failures;
                if out.first_error.is_none() {
                    out.first_error = r.first_error;
                }
                out.fail_attempts.extend(r.fail_attempts);
                out.fail_unexpected += r.fail_unexpected;
                if out.fail_example.is_none() {
                    out.fail_example = r.fail_example;
                }
            }
            Err(_) => return Err("a storm worker thread panicked".into()),
        }
    }
    out.wall = t0.elapsed();
    check_abort()?;
    Ok(out)
}

/// Wait for our own child; returns its status, or an error text.
fn wait_child(pid: libc::pid_t) -> Result<i32, String> {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Ok(status);
        }
        let err = io::Error::last_os_error();
        if r < 0 && err.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Err(format!("waitpid: {err}"));
    }
}

fn storm_worker(
    w: usize,
    n: usize,
    path: &CStr,
    tag: &str,
    missing: Option<(CString, String)>,
    barrier: &Barrier,
) -> WorkerOutcome {
    let to_c =
        |v: &[String]| -> Vec<CString> { v.iter().map(|a| CString::new(a.as_str()).unwrap_or_default()).collect() };
    let argvs: Vec<Vec<CString>> = (0..n).map(|s| to_c(&expected_argv(tag, w, s))).collect();
    // The failing attempts' argvs, indexed by seq / FAIL_EVERY.
    let fail_argvs: Vec<Vec<CString>> = match &missing {
        Some((_, m)) => {
            (0..n).filter(|s| s % FAIL_EVERY == FAIL_OFFSET).map(|s| to_c(&expected_fail_argv(m, w, s))).collect()
        }
        None => Vec::new(),
    };
    // A typical small environment (about 600 bytes, one secret-looking name
    // that --env redacts), the same for every row: only --env reads it.
    let env_vars: Vec<CString> = STORM_ENV.iter().map(|v| CString::new(*v).unwrap_or_default()).collect();
    let mut envp: Vec<*mut libc::c_char> = env_vars.iter().map(|v| v.as_ptr().cast_mut()).collect();
    envp.push(std::ptr::null_mut());
    let mut o = WorkerOutcome {
        pids: Vec::with_capacity(n),
        failures: 0,
        first_error: None,
        fail_attempts: Vec::with_capacity(fail_argvs.len()),
        fail_unexpected: 0,
        fail_example: None,
    };
    barrier.wait();
    for (s, argv) in argvs.iter().enumerate() {
        if aborted() {
            o.pids.push(0);
            continue;
        }
        if let Some((mpath, _)) = &missing
            && s % FAIL_EVERY == FAIL_OFFSET
            && let Some(fargv) = fail_argvs.get(s / FAIL_EVERY)
        {
            let mut ptrs: Vec<*mut libc::c_char> = fargv.iter().map(|a| a.as_ptr().cast_mut()).collect();
            ptrs.push(std::ptr::null_mut());
            let mut pid: libc::pid_t = 0;
            // SAFETY: as for the regular spawn below.
            let rc = unsafe {
                libc::posix_spawn(
                    &mut pid,
                    mpath.as_ptr(),
                    std::ptr::null(),
                    std::ptr::null(),
                    ptrs.as_ptr(),
                    envp.as_ptr(),
                )
            };
            o.fail_attempts.push((w, s));
            if rc != libc::ENOENT {
                o.fail_unexpected += 1;
                o.fail_example.get_or_insert_with(|| {
                    if rc == 0 {
                        "posix_spawn of the missing program succeeded".into()
                    } else {
                        format!("posix_spawn of the missing program: {}", io::Error::from_raw_os_error(rc))
                    }
                });
                if rc == 0 {
                    let _ = wait_child(pid);
                }
            }
        }
        let mut ptrs: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
        ptrs.push(std::ptr::null_mut());
        let mut pid: libc::pid_t = 0;
        // SAFETY: path, argv and envp are valid NUL-terminated arrays of
        // NUL-terminated strings that outlive the call; null file actions
        // and attributes are allowed.
        let rc = unsafe {
            libc::posix_spawn(&mut pid, path.as_ptr(), std::ptr::null(), std::ptr::null(), ptrs.as_ptr(), envp.as_ptr())
        };
        if rc != 0 {
            o.failures += 1;
            o.first_error.get_or_insert_with(|| format!("posix_spawn: {}", io::Error::from_raw_os_error(rc)));
            o.pids.push(0);
            continue;
        }
        match wait_child(pid) {
            Ok(status) if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 => {}
            Ok(status) => {
                o.failures += 1;
                o.first_error.get_or_insert_with(|| format!("noop ended with {}", describe_status(status)));
            }
            Err(e) => {
                o.failures += 1;
                o.first_error.get_or_insert(e);
            }
        }
        o.pids.push(pid);
    }
    o
}

fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status:#x}")
    }
}

// ---------------------------------------------------------------------------
// A traced process: spawned in its own process group with a parent-death
// signal, stderr (and optionally stdout) read by threads, always reaped.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stream {
    Out,
    Err,
}

struct Line {
    stream: Stream,
    at: Instant,
    text: String,
}

struct Exited {
    status: i32,
    rusage: libc::rusage,
    /// Time from SIGINT to exit.
    stop_latency: Duration,
    /// SIGINT did not end it in time; it was killed.
    killed: bool,
}

struct Tracer {
    name: String,
    pid: libc::pid_t,
    started: Instant,
    rx: Receiver<Line>,
    lines: Vec<Line>,
    exited: Option<(i32, libc::rusage)>,
}

fn spawn_reader<R: Read + Send + 'static>(r: R, stream: Stream, tx: Sender<Line>) {
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

enum Ready<'a> {
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
    fn spawn(
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

    fn pump(&mut self, wait: Duration) {
        match self.rx.recv_timeout(wait) {
            Ok(l) => self.lines.push(l),
            Err(_) => return,
        }
        while let Ok(l) = self.rx.try_recv() {
            self.lines.push(l);
        }
    }

    fn try_reap(&mut self) -> bool {
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

    fn stderr_text(&self) -> String {
        let v: Vec<&str> = self.lines.iter().filter(|l| l.stream == Stream::Err).map(|l| l.text.as_str()).collect();
        if v.is_empty() { "(nothing)".into() } else { v.join(" | ") }
    }

    /// Wait until the tracer is ready; returns the time from spawn.
    fn wait_ready(&mut self, how: &Ready) -> Res<Option<Duration>> {
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
    fn cpu_ns(&self) -> Option<u64> {
        let mut total = 0u64;
        let mut any = false;
        if let Ok(rd) = fs::read_dir(format!("/proc/{}/task", self.pid)) {
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
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Some(ticks * 1_000_000_000 / hz)
    }

    fn hwm_kib(&self) -> Option<u64> {
        let s = fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
        l.split_whitespace().nth(1)?.parse().ok()
    }

    /// SIGINT, then wait up to `timeout`; SIGKILL if it does not end.
    fn stop(&mut self, timeout: Duration) -> Exited {
        let t0 = Instant::now();
        let mut killed = false;
        if !self.try_reap() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(self.pid, libc::SIGINT) };
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

    fn kill_hard(&mut self) {
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

    fn stderr_lines(&self) -> impl Iterator<Item = &str> {
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

fn file_has_line(p: &Path, test: fn(&str) -> bool) -> bool {
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
fn is_text_header(line: &str) -> bool {
    line == TEXT_HEADER || line.ends_with(TEXT_HEADER.trim_start()) || line.ends_with(TEXT_HEADER_RET)
}

fn is_libbpf_header(line: &str) -> bool {
    line.starts_with(LIBBPF_HEADER_START)
}

/// Wait until the tracer has written every storm row, or until the number of
/// storm rows in its output has not grown for DRAIN_QUIET (and at least that
/// long has passed). Rows from unrelated execs on the machine do not count, so
/// background activity cannot keep this waiting. Returns the time from the
/// storm's end to the last new storm row, and whether DRAIN_MAX was hit.
fn wait_drained(
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

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The `"pid"` field of one of our JSON lines, without parsing all of it.
fn json_pid(line: &[u8]) -> Option<i32> {
    const KEY: &[u8] = b"\"pid\":";
    let at = line.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = &line[at..at + line[at..].iter().take_while(|b| b.is_ascii_digit()).count()];
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The `--syslog` row's daemon: a thread that receives each datagram and
/// appends its message text (the JSON record) as a line to the row's output
/// file, so the row is analysed as the JSON rows are. Stops on drop.
struct SyslogReader {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SyslogReader {
    fn start(sock: &Path, mut file: fs::File) -> Res<SyslogReader> {
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

/// The environment every storm exec gets.
const STORM_ENV: &[&str] = &[
    "HOME=/home/builder",
    "USER=builder",
    "LOGNAME=builder",
    "SHELL=/bin/bash",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
    "TERM=xterm-256color",
    "PWD=/home/builder/src/project",
    "OLDPWD=/home/builder",
    "SHLVL=2",
    "MAKEFLAGS=-j2",
    "CC=gcc",
    "CFLAGS=-O2 -g -pipe -fstack-protector-strong",
    "LDFLAGS=-Wl,-z,relro",
    "XDG_RUNTIME_DIR=/run/user/1000",
    "SSH_CONNECTION=10.0.0.2 52144 10.0.0.1 22",
    "CI=true",
    "GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyz",
    "_=/usr/bin/make",
];

// ---------------------------------------------------------------------------
// Output analysis

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    OursJson,
    /// `--json -x`, with failing exec attempts mixed into the storm.
    OursJsonFails,
    /// `--json -e`: an exit record per process as well.
    OursJsonExits,
    /// `--json --cwd --print-container`: the context a row costs most often.
    OursJsonCwd,
    /// `--json --env`: the environment block read and redacted as well.
    OursJsonEnv,
    /// `--json --output FILE` (ours writes the file) instead of stdout to it.
    OursJsonOutput,
    /// `--json --metrics 127.0.0.1:0`: counting for Prometheus as well.
    OursJsonMetrics,
    /// `--syslog` to a socket the benchmark reads (one datagram per record).
    OursSyslog,
    OursText,
    /// Text mode with `-e`.
    OursTextExits,
    Libbpf,
    /// `--json --source <fallback source>`.
    Source(Src),
}

/// The fallback event sources, each measured in a row of its own (the bpf
/// source is what the other rows of ours measure).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Src {
    Ftrace,
    Netlink,
    Procfs,
}

impl Src {
    const ALL: [Src; 3] = [Src::Ftrace, Src::Netlink, Src::Procfs];

    fn as_str(self) -> &'static str {
        match self {
            Src::Ftrace => "ftrace",
            Src::Netlink => "netlink",
            Src::Procfs => "procfs",
        }
    }
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::OursJson => "execsnoop json",
            Kind::OursJsonFails => "execsnoop json -x",
            Kind::OursJsonExits => "execsnoop json -e",
            Kind::OursJsonCwd => "execsnoop json --cwd --print-container",
            Kind::OursJsonEnv => "execsnoop json --env",
            Kind::OursJsonOutput => "execsnoop json --output",
            Kind::OursJsonMetrics => "execsnoop json --metrics",
            Kind::OursSyslog => "execsnoop --syslog",
            Kind::OursText => "execsnoop text",
            Kind::OursTextExits => "execsnoop text -e",
            Kind::Libbpf => "libbpf-tools",
            Kind::Source(Src::Ftrace) => "execsnoop --source ftrace",
            Kind::Source(Src::Netlink) => "execsnoop --source netlink",
            Kind::Source(Src::Procfs) => "execsnoop --source procfs",
        }
    }
    fn is_json(self) -> bool {
        matches!(
            self,
            Kind::OursJson
                | Kind::OursJsonFails
                | Kind::OursJsonExits
                | Kind::OursJsonCwd
                | Kind::OursJsonEnv
                | Kind::OursJsonOutput
                | Kind::OursJsonMetrics
                | Kind::OursSyslog
                | Kind::Source(_)
        )
    }
    fn is_ours(self) -> bool {
        self != Kind::Libbpf
    }
    /// Our text mode (with its header line).
    fn is_our_text(self) -> bool {
        matches!(self, Kind::OursText | Kind::OursTextExits)
    }
    /// A failure of this tool is noted and the row skipped from then on,
    /// instead of ending the benchmark.
    fn optional(self) -> bool {
        !matches!(self, Kind::OursJson | Kind::OursText)
    }
    fn with_fails(self) -> bool {
        self == Kind::OursJsonFails
    }
    fn with_exits(self) -> bool {
        matches!(self, Kind::OursJsonExits | Kind::OursTextExits)
    }
    /// The `--source` this row asks for; `None`: the default (auto, bpf first).
    fn source(self) -> Option<Src> {
        if let Kind::Source(s) = self { Some(s) } else { None }
    }
}

/// The failing exec attempts a `-x` storm made, to check the output against.
struct FailCheck<'a> {
    missing: &'a str,
    /// (worker, seq) of each attempt -> index into `seen`.
    attempts: BTreeMap<(usize, usize), usize>,
}

impl<'a> FailCheck<'a> {
    fn new(missing: &'a str, attempts: &[(usize, usize)]) -> Self {
        FailCheck { missing, attempts: attempts.iter().enumerate().map(|(i, &ws)| (ws, i)).collect() }
    }
}

#[derive(Default)]
struct Analysis {
    /// Records of any event kind. The divisor for cpu/1k ev is this minus
    /// `exit_records`.
    events: u64,
    /// Exit records (`-e`): all of them.
    exit_records: u64,
    /// Storm execs whose exit was reported (distinct), and duplicates.
    exits_captured: u64,
    exit_duplicates: u64,
    /// Exit records of storm execs with a wrong field.
    exit_bad: u64,
    exit_bad_example: Option<String>,
    /// Records for other processes named like the no-op (not a storm PID).
    exit_stray: u64,
    /// Storm execs whose record says the arguments could not be read
    /// (`args_read_failed`, the /proc-reading sources): matched by PID,
    /// captured but never full-argv.
    args_failed: u64,
    /// Storm exec records by their `source` field (JSON).
    sources: BTreeMap<String, u64>,
    captured: u64,
    full: u64,
    duplicates: u64,
    stray: u64,
    stray_example: Option<String>,
    pid_wrong: u64,
    pid_example: Option<String>,
    ppid_wrong: u64,
    comm_wrong: u64,
    comm_example: Option<String>,
    filename_wrong: u64,
    filename_example: Option<String>,
    truncated_marked: u64,
    malformed: u64,
    malformed_example: Option<String>,
    lost: u64,
    lost_by_kind: BTreeMap<String, u64>,
    end: Option<(Option<u64>, Option<u64>, Option<u64>)>,
    other_types: BTreeMap<String, u64>,
    /// Failing exec attempts (the `-x` storm): distinct attempts captured.
    fail_captured: u64,
    /// Records taken for failed attempts: by `ret` < 0, or (without a `ret`
    /// field) by the missing program's filename.
    fail_records: u64,
    fail_by_ret: u64,
    fail_by_filename: u64,
    fail_duplicates: u64,
    fail_bad: u64,
    fail_bad_example: Option<String>,
    /// Records for successful storm execs whose `ret` is present and not 0.
    ret_nonzero_ok: u64,
    /// Exec records with a numeric `ret` field at all.
    ret_present: u64,
    /// Problems seen in this run.
    notes: Vec<String>,
    /// Facts about the tool that do not depend on the run.
    info: Vec<String>,
}

enum Match {
    None,
    Stray,
    Storm { idx: usize, w: usize, s: usize, full: bool },
}

fn classify(plan: &Plan, argv: &[&str]) -> Match {
    if argv.len() < 2 || argv[0] != "noop" || argv[1] != "storm" {
        return if argv.contains(&"storm") { Match::Stray } else { Match::None };
    }
    let (Some(w), Some(s)) = (argv.get(2).and_then(|v| v.parse().ok()), argv.get(3).and_then(|v| v.parse().ok()))
    else {
        return Match::Stray;
    };
    let Some(idx) = plan.index(w, s) else { return Match::Stray };
    let full = argv.len() == 5 && argv[4] == filler(w, s);
    Match::Storm { idx, w, s, full }
}

struct Tally<'a> {
    plan: &'a Plan,
    pids: &'a [i32],
    /// Storm exec index by the PID `posix_spawn` returned.
    pid_idx: HashMap<i32, usize>,
    seen: Vec<u8>,
    /// Per storm exec: its exit was seen; the `ts_ns` of its exec record.
    exit_seen: Vec<bool>,
    exec_ts: Vec<Option<u64>>,
    a: Analysis,
}

impl<'a> Tally<'a> {
    fn new(plan: &'a Plan, pids: &'a [i32]) -> Self {
        let pid_idx = pids.iter().enumerate().filter(|(_, p)| **p > 0).map(|(i, &p)| (p, i)).collect();
        Tally {
            plan,
            pids,
            pid_idx,
            seen: vec![0; plan.total],
            exit_seen: vec![false; plan.total],
            exec_ts: vec![None; plan.total],
            a: Analysis::default(),
        }
    }

    /// The storm exec with this PID, if any.
    fn by_pid(&self, pid: Option<u64>) -> Option<usize> {
        self.pid_idx.get(&i32::try_from(pid?).ok()?).copied()
    }

    /// A storm exec whose arguments could not be read, matched by PID:
    /// captured, not full-argv.
    fn args_failed(&mut self, idx: usize) {
        self.a.args_failed += 1;
        if self.seen[idx] & 1 != 0 {
            self.a.duplicates += 1;
        } else {
            self.seen[idx] |= 1;
            self.a.captured += 1;
        }
    }

    /// One exit record for storm exec `idx`; `wrong` lists its bad fields.
    fn exit(&mut self, idx: usize, wrong: &[&str], line: &str) {
        if self.exit_seen[idx] {
            self.a.exit_duplicates += 1;
            return;
        }
        self.exit_seen[idx] = true;
        self.a.exits_captured += 1;
        if !wrong.is_empty() {
            self.a.exit_bad += 1;
            self.a.exit_bad_example.get_or_insert_with(|| format!("wrong {}: {}", wrong.join(", "), clip(line)));
        }
    }

    fn stray(&mut self, example: &str) {
        self.a.stray += 1;
        self.a.stray_example.get_or_insert_with(|| clip(example));
    }

    /// Count one record's argv; returns the storm (w, s, idx) it names, if any.
    fn argv(&mut self, argv: &[&str], truncated: bool, line: &str) -> Option<(usize, usize, usize)> {
        match classify(self.plan, argv) {
            Match::None => None,
            Match::Stray => {
                self.stray(line);
                None
            }
            Match::Storm { idx, w, s, full } => {
                if self.seen[idx] & 1 != 0 {
                    self.a.duplicates += 1;
                } else {
                    self.seen[idx] |= 1;
                    self.a.captured += 1;
                }
                if full && !truncated && self.seen[idx] & 2 == 0 {
                    self.seen[idx] |= 2;
                    self.a.full += 1;
                }
                Some((w, s, idx))
            }
        }
    }

    fn check_pids(&mut self, idx: usize, pid: Option<u64>, ppid: Option<u64>, line: &str) {
        self.check_pid(idx, pid, line);
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() } as u64;
        if ppid != Some(me) {
            self.a.ppid_wrong += 1;
        }
    }

    fn check_pid(&mut self, idx: usize, pid: Option<u64>, line: &str) {
        let want = self.pids.get(idx).copied().unwrap_or(0);
        if want > 0 && pid != Some(want as u64) {
            self.a.pid_wrong += 1;
            self.a.pid_example.get_or_insert_with(|| format!("expected pid {want}: {}", clip(line)));
        }
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 160;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Sum of every "lost N" / "Lost N" number on stderr.
fn stderr_lost(lines: &[&str]) -> u64 {
    let mut total = 0;
    for l in lines {
        let lower = l.to_ascii_lowercase();
        let mut rest = lower.as_str();
        while let Some(p) = rest.find("lost ") {
            rest = &rest[p + 5..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<u64>() {
                total += n;
            }
        }
    }
    total
}

/// The lost count of our closing stderr summary: "N execs traced, N shown, N lost",
/// or "..., WARNING: N lost (ring buffer full; ...)" when events were lost.
fn summary_lost(line: &str) -> Option<u64> {
    let after = &line[line.find(" execs traced, ")?..];
    let before_lost = &after[..after.find(" lost")?];
    before_lost.rsplit(' ').next()?.parse().ok()
}

/// A record for one of the storm's failing attempts? Counts it and returns true.
fn fail_record(t: &mut Tally, fc: &FailCheck, fail_seen: &mut [bool], v: &Value, line: &str) -> bool {
    let ret = v.get("ret").and_then(Value::as_i64);
    let filename = v.get("filename").and_then(Value::as_str);
    let argv: Option<Vec<&str>> = match v.get("argv") {
        Some(Value::Array(a)) => a.iter().map(Value::as_str).collect(),
        _ => None,
    };
    let marked = argv.as_ref().is_some_and(|a| a.get(1) == Some(&FAIL_MARKER));
    let by_ret = ret.is_some_and(|r| r < 0);
    let by_filename = ret.is_none() && filename == Some(fc.missing);
    if !(by_ret || by_filename) {
        if filename == Some(fc.missing) || marked {
            // The missing program with ret >= 0: a failed attempt reported as a success.
            t.a.fail_bad += 1;
            t.a.fail_bad_example.get_or_insert_with(|| format!("failed attempt without ret < 0: {}", clip(line)));
            return true;
        }
        return false;
    }
    if !marked && filename != Some(fc.missing) {
        return false; // some other failed exec on the machine
    }
    t.a.fail_records += 1;
    if by_ret {
        t.a.fail_by_ret += 1;
    } else {
        t.a.fail_by_filename += 1;
    }
    let ws = argv.as_ref().and_then(|a| Some((a.get(2)?.parse::<usize>().ok()?, a.get(3)?.parse::<usize>().ok()?)));
    let Some(&idx) = ws.and_then(|ws| fc.attempts.get(&ws)) else {
        t.a.fail_bad += 1;
        t.a.fail_bad_example.get_or_insert_with(|| format!("matches no attempt made: {}", clip(line)));
        return true;
    };
    let (w, s) = ws.unwrap_or_default();
    if fail_seen[idx] {
        t.a.fail_duplicates += 1;
        return true;
    }
    fail_seen[idx] = true;
    t.a.fail_captured += 1;
    let mut wrong = Vec::new();
    if argv.as_deref() != Some(&expected_fail_argv(fc.missing, w, s).iter().map(String::as_str).collect::<Vec<_>>()[..])
    {
        wrong.push("argv");
    }
    if filename != Some(fc.missing) {
        wrong.push("filename");
    }
    if ret.is_some_and(|r| r != -i64::from(libc::ENOENT)) {
        wrong.push("ret (expected -2, ENOENT)");
    }
    // The symbolic name, where the JSON has one.
    match v.get("errno") {
        None => {}
        Some(Value::String(e)) if e == "ENOENT" => {}
        Some(_) => wrong.push("errno (expected \"ENOENT\")"),
    }
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() } as u64;
    if v.get("ppid").and_then(Value::as_u64) != Some(me) {
        wrong.push("ppid");
    }
    if !wrong.is_empty() {
        t.a.fail_bad += 1;
        t.a.fail_bad_example.get_or_insert_with(|| format!("wrong {}: {}", wrong.join(", "), clip(line)));
    }
    true
}

fn analyze_json(data: &str, plan: &Plan, pids: &[i32], noop: &Noop, fails: Option<&FailCheck>) -> Analysis {
    let mut t = Tally::new(plan, pids);
    let mut fail_seen = vec![false; fails.map_or(0, |f| f.attempts.len())];
    for line in data.lines() {
        if line.is_empty() {
            continue;
        }
        let v = match serde_json::from_str::<Value>(line).map_err(|e| e.to_string()) {
            Ok(v @ Value::Object(_)) => v,
            other => {
                let e = other.err().unwrap_or_else(|| "not a JSON object".into());
                t.a.malformed += 1;
                t.a.malformed_example.get_or_insert_with(|| format!("{e}: {}", clip(line)));
                continue;
            }
        };
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("(no type)").to_owned();
        if ty != "lost" && ty != "end" {
            if v.get("ret").and_then(Value::as_i64).is_some() {
                t.a.ret_present += 1;
            }
            if let Some(fc) = fails
                && fail_record(&mut t, fc, &mut fail_seen, &v, line)
            {
                t.a.events += 1;
                if ty != "exec" {
                    *t.a.other_types.entry(ty).or_default() += 1;
                }
                continue;
            }
        }
        match ty.as_str() {
            "exec" => {
                t.a.events += 1;
                let argv_v: Option<Vec<&str>> = match v.get("argv") {
                    Some(Value::Array(a)) => a.iter().map(Value::as_str).collect(),
                    _ => None,
                };
                let Some(argv) = argv_v else {
                    let comm = v.get("comm").and_then(Value::as_str);
                    if comm == Some(noop.comm.as_str()) {
                        t.stray(line);
                    }
                    continue;
                };
                let truncated = v.get("args_truncated").and_then(Value::as_bool);
                if truncated.is_none() {
                    t.a.notes.push("exec record without a boolean args_truncated".into());
                }
                let truncated = truncated.unwrap_or(false);
                // The sources that read arguments from /proc after the event
                // find them gone when the process has already ended: such a
                // record (no or partial argv) is matched by its PID.
                // Their comm, filename and PPID come from /proc too: empty,
                // 0 or stale then, so only the PID is checked.
                let read_failed = v.get("args_read_failed").and_then(Value::as_bool) == Some(true);
                let comm = v.get("comm").and_then(Value::as_str);
                let comm_is_noop = comm == Some(noop.comm.as_str());
                let by_pid = if read_failed
                    && (comm_is_noop || comm.is_none_or(str::is_empty))
                    && !matches!(classify(plan, &argv), Match::Storm { .. })
                {
                    t.by_pid(v.get("pid").and_then(Value::as_u64))
                } else {
                    None
                };
                let before = t.a.stray;
                let hit = match by_pid {
                    Some(idx) => {
                        t.args_failed(idx);
                        Some(idx)
                    }
                    None => t.argv(&argv, truncated || read_failed, line).map(|(_, _, idx)| idx),
                };
                if hit.is_none() && t.a.stray == before && comm_is_noop && noop.comm == "noop" {
                    t.stray(line);
                }
                if let Some(idx) = hit {
                    let source = v.get("source").and_then(Value::as_str).unwrap_or("(none)");
                    *t.a.sources.entry(source.to_owned()).or_default() += 1;
                    if t.exec_ts[idx].is_none() {
                        t.exec_ts[idx] = v.get("ts_ns").and_then(Value::as_u64);
                    }
                    if truncated {
                        t.a.truncated_marked += 1;
                    }
                    if v.get("ret").and_then(Value::as_i64).is_some_and(|r| r != 0) {
                        t.a.ret_nonzero_ok += 1;
                    }
                    let pid = v.get("pid").and_then(Value::as_u64);
                    if read_failed {
                        t.check_pid(idx, pid, line);
                        continue;
                    }
                    let ppid = v.get("ppid").and_then(Value::as_u64);
                    t.check_pids(idx, pid, ppid, line);
                    if !comm_is_noop {
                        t.a.comm_wrong += 1;
                        t.a.comm_example.get_or_insert_with(|| format!("comm {comm:?}, expected {:?}", noop.comm));
                    }
                    let filename = v.get("filename").and_then(Value::as_str);
                    if filename != Some(noop.path_str.as_str()) {
                        t.a.filename_wrong += 1;
                        t.a.filename_example
                            .get_or_insert_with(|| format!("filename {filename:?}, expected {:?}", noop.path_str));
                    }
                }
            }
            "exit" => {
                t.a.events += 1;
                t.a.exit_records += 1;
                if v.get("comm").and_then(Value::as_str) != Some(noop.comm.as_str()) {
                    continue;
                }
                let Some(idx) = t.by_pid(v.get("pid").and_then(Value::as_u64)) else {
                    t.a.exit_stray += 1;
                    continue;
                };
                let mut wrong = Vec::new();
                if v.get("exit_code").and_then(Value::as_u64) != Some(0) {
                    wrong.push("exit_code (expected 0)");
                }
                if !matches!(v.get("signal"), Some(Value::Null)) {
                    wrong.push("signal (expected null)");
                }
                // SAFETY: getpid has no preconditions.
                let me = unsafe { libc::getpid() } as u64;
                if v.get("ppid").and_then(Value::as_u64) != Some(me) {
                    wrong.push("ppid");
                }
                let exec_ts = v.get("exec_ts_ns").and_then(Value::as_u64);
                if exec_ts.is_none() || t.exec_ts[idx].is_some_and(|ts| exec_ts != Some(ts)) {
                    wrong.push("exec_ts_ns (not its exec record's ts_ns)");
                }
                t.exit(idx, &wrong, line);
            }
            "lost" => {
                let n = v.get("count").and_then(Value::as_u64).unwrap_or(0);
                t.a.lost += n;
                let kind = v.get("kind").and_then(Value::as_str).unwrap_or("?").to_owned();
                *t.a.lost_by_kind.entry(kind).or_default() += n;
            }
            "end" => {
                if t.a.end.is_some() {
                    t.a.notes.push("more than one end record".into());
                }
                t.a.end = Some((
                    v.get("received").and_then(Value::as_u64),
                    v.get("shown").and_then(Value::as_u64),
                    v.get("lost").and_then(Value::as_u64),
                ));
            }
            other => {
                t.a.events += 1;
                *t.a.other_types.entry(other.to_owned()).or_default() += 1;
            }
        }
    }
    // Cross-check the closing record.
    let mut a = t.a;
    let execs = a.events - a.exit_records - a.other_types.values().sum::<u64>();
    match a.end {
        None => a.notes.push("no {\"type\":\"end\"} record at the end of the JSON output".into()),
        Some((received, shown, lost)) => {
            if shown != Some(execs) {
                a.notes.push(format!("end record shown={shown:?} but {execs} exec records were written"));
            }
            if lost != Some(a.lost) {
                a.notes.push(format!("end record lost={lost:?} but lost records add up to {}", a.lost));
            }
            if received.is_none() {
                a.notes.push("end record has no numeric received".into());
            }
        }
    }
    if let Some(last) = data.lines().rev().find(|l| !l.is_empty())
        && !last.contains("\"end\"")
    {
        a.notes.push("the last JSON line is not the end record".into());
    }
    a
}

fn analyze_text(data: &str, plan: &Plan, pids: &[i32], kind: Kind, noop: &Noop, extra_args: bool) -> Analysis {
    let mut t = Tally::new(plan, pids);
    let mut libbpf_filename_argv0 = false;
    let mut ret_nonzero = 0u64;
    let mut lines = data.lines();
    let first = lines.next().unwrap_or("");
    let ret_col = kind.is_our_text() && first.ends_with(TEXT_HEADER_RET);
    match kind {
        _ if kind.is_our_text() && !is_text_header(first) => {
            t.a.notes.push(format!("first stdout line is {:?}, expected the header {TEXT_HEADER:?}", clip(first)));
        }
        _ if kind.is_our_text() && first != TEXT_HEADER && !extra_args => {
            t.a.notes.push(format!("header is {first:?}, expected exactly {TEXT_HEADER:?}"));
        }
        Kind::Libbpf if !is_libbpf_header(first) => {
            t.a.notes.push(format!("first stdout line is {:?}, expected the PCOMM header", clip(first)));
        }
        _ => {}
    }
    for line in lines {
        if line.is_empty() {
            continue;
        }
        t.a.events += 1;
        // -e: "[TIME] PID PPID [exit: code 0, lifetime 0.000s, cpu 0.000s] COMM".
        if kind.is_our_text()
            && let Some(xpos) = line.find(TEXT_EXIT_MARK)
        {
            t.a.exit_records += 1;
            let h: Vec<&str> = line[..xpos].split_whitespace().collect();
            let comm = line[xpos..].split_once("] ").map(|(_, c)| c);
            if comm != Some(noop.comm.as_str()) {
                continue;
            }
            let pid = h.len().checked_sub(2).and_then(|i| h.get(i)).and_then(|v| v.parse().ok());
            let Some(idx) = t.by_pid(pid) else {
                t.a.exit_stray += 1;
                continue;
            };
            let mut wrong = Vec::new();
            if !line[xpos..].starts_with("[exit: code 0,") {
                wrong.push("status (expected code 0)");
            }
            // SAFETY: getpid has no preconditions.
            let me = unsafe { libc::getpid() } as u64;
            if h.last().and_then(|v| v.parse::<u64>().ok()) != Some(me) {
                wrong.push("ppid");
            }
            t.exit(idx, &wrong, line);
            continue;
        }
        let Some(spos) = line.find(" storm ") else { continue };
        // argv[0] is the token just before "storm".
        let a0_start = line[..spos].rfind(' ').map_or(0, |i| i + 1);
        let head = &line[..a0_start];
        let tail = &line[a0_start..];
        let tail = if kind == Kind::Libbpf { tail.trim_end_matches(' ') } else { tail };
        // Text mode marks cut argument lists with " [...]".
        let truncated = tail.ends_with(" [...]");
        let mut argv: Vec<&str> = tail.split(' ').collect();
        // libbpf-tools prints the exec'd filename in place of argv[0].
        if kind == Kind::Libbpf && argv[0] == noop.path_str {
            argv[0] = "noop";
            libbpf_filename_argv0 = true;
        }
        if let Some((_, _, idx)) = t.argv(&argv, truncated, line) {
            if truncated {
                t.a.truncated_marked += 1;
            }
            let h: Vec<&str> = head.split_whitespace().collect();
            let (pid, ppid) = match kind {
                // PCOMM PID PPID RET
                Kind::Libbpf => {
                    if h.get(3) != Some(&"0") {
                        ret_nonzero += 1;
                    }
                    (h.get(1), h.get(2))
                }
                // [TIME] PID PPID RET (with -x): RET just before ARGS.
                _ if ret_col => {
                    if h.last() != Some(&"0") {
                        ret_nonzero += 1;
                    }
                    (h.len().checked_sub(3).and_then(|i| h.get(i)), h.len().checked_sub(2).and_then(|i| h.get(i)))
                }
                // [TIME] PID PPID: the two columns just before ARGS.
                _ => (h.len().checked_sub(2).and_then(|i| h.get(i)), h.last()),
            };
            let pid = pid.and_then(|v| v.parse().ok());
            let ppid = ppid.and_then(|v| v.parse().ok());
            t.check_pids(idx, pid, ppid, line);
        }
    }
    if ret_nonzero > 0 {
        t.a.notes.push(format!("{ret_nonzero} storm rows with RET != 0"));
    }
    if libbpf_filename_argv0 {
        t.a.info.push("shows the exec filename instead of argv[0] (its usual behaviour); counted as argv[0]".into());
    }
    t.a
}

// ---------------------------------------------------------------------------
// Scenarios

struct TracerRun {
    ready: Option<Duration>,
    banner: Option<Duration>,
    startup_cpu_ns: Option<u64>,
    storm: StormOutcome,
    drain: Duration,
    drain_timed_out: bool,
    storm_cpu_ns: Option<u64>,
    hwm_kib: Option<u64>,
    exited: Exited,
    ending_seen: bool,
    stderr_unexpected: Vec<String>,
    analysis: Analysis,
}

fn has_fails_flag(args: &[String]) -> bool {
    args.iter().any(|a| a == "-x" || a == "--fails")
}

fn has_exits_flag(args: &[String]) -> bool {
    args.iter().any(|a| a == "-e" || a == "--exits")
}

fn has_source_flag(args: &[String]) -> bool {
    args.iter().any(|a| a == "--source" || a.starts_with("--source="))
}

/// Our arguments for a storm row: `--json`, `-x`, `-e`, `--source` as the row
/// asks (a flag already in STORM_EXTRA_ARGS is not repeated), then the extra
/// arguments.
fn kind_args(cfg: &Config, kind: Kind) -> Vec<String> {
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
        _ => {}
    }
    if let Some(src) = kind.source() {
        v.extend(["--source".to_owned(), src.as_str().to_owned()]);
    }
    v.extend(cfg.extra_args.iter().cloned());
    v
}

fn our_args(cfg: &Config, json: bool, fails: bool) -> Vec<String> {
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
fn libbpf_command(cfg: &Config) -> Res<(PathBuf, Vec<String>, bool)> {
    let lb = cfg.libbpf.clone().ok_or("libbpf-tools execsnoop not available")?;
    Ok(match &cfg.stdbuf {
        Some(sb) => (sb.clone(), vec!["-oL".into(), lb.to_string_lossy().into_owned()], !cfg.tracefs_visible),
        None => (lb, Vec::new(), !cfg.tracefs_visible),
    })
}

fn libbpf_ready<'a>(cfg: &Config, out_path: &'a Path) -> Ready<'a> {
    if cfg.stdbuf.is_some() { Ready::File(out_path, is_libbpf_header) } else { Ready::Fixed(Duration::from_secs(3)) }
}

fn run_tracer(
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
    let expected_rows = plan.total * if kind.with_exits() { 2 } else { 1 } + storm.fail_attempts.len();
    let storm_pids: HashSet<i32> = storm.pids.iter().copied().filter(|&p| p > 0).collect();
    let text_exit_end = format!("] {}", noop.comm);
    let is_storm_row = |l: &[u8]| {
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
    for l in &err_lines {
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
    let mut analysis = if kind.is_json() {
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
    })
}

/// Start a row's tracer once and stop it: `Some(reason)` when it cannot
/// start here (e.g. a source that is not built, or needs what this machine
/// lacks), with its exit status and last stderr line.
fn probe(cfg: &Config, kind: Kind) -> Res<Option<String>> {
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

struct StartStop {
    header: Duration,
    banner: Option<Duration>,
    exited: Exited,
    ending_seen: bool,
}

/// Our text mode with stdout on a pipe: is the header flushed, and does SIGINT end it cleanly?
fn run_start_stop(cfg: &Config) -> Res<StartStop> {
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

// ---------------------------------------------------------------------------
// Syscall tax: a 1-byte dd loop's system time with and without a tracer.

#[derive(Clone, Copy, PartialEq, Eq)]
enum TaxTool {
    NoTracer,
    Ours,
    OursFails,
    Libbpf,
}

impl TaxTool {
    fn label(self) -> &'static str {
        match self {
            TaxTool::NoTracer => "no tracer",
            TaxTool::Ours => "execsnoop",
            TaxTool::OursFails => "execsnoop -x",
            TaxTool::Libbpf => "libbpf-tools",
        }
    }
}

#[derive(Clone, Copy)]
struct DdRun {
    /// System and user CPU time of the dd process (wait4 rusage), seconds.
    sys: f64,
    user: f64,
    wall: f64,
}

fn tv_secs(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

fn run_dd(dd: &Path, count: usize) -> Res<DdRun> {
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

fn push_note(notes: &mut Vec<String>, n: String) {
    if !notes.contains(&n) {
        notes.push(n);
    }
}

/// Start a tracer for the tax and wait until it is ready.
fn spawn_tax_tracer(cfg: &Config, tool: TaxTool, out_path: &Path) -> Res<Tracer> {
    let out_file = fs::File::create(out_path).map_err(|e| format!("create {}: {e}", out_path.display()))?;
    // Ours in its default (text) mode; readiness is the stderr banner, which
    // does not depend on the header's columns.
    let (program, args, private_tracefs, ready) = match tool {
        TaxTool::NoTracer => return Err("no tracer to start".into()),
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
enum TaxOne {
    Ok(DdRun),
    /// The measurement is void (the tracer died during it); try again next round.
    Void,
}

fn run_tax_one(
    cfg: &Config,
    tool: TaxTool,
    dd: &Path,
    count: usize,
    dir: &Path,
    round: usize,
    notes: &mut Vec<String>,
) -> Res<TaxOne> {
    if tool == TaxTool::NoTracer {
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

struct TaxReport {
    count: usize,
    rounds: usize,
    tools: Vec<TaxTool>,
    /// runs[tool][round]
    runs: Vec<Vec<Option<DdRun>>>,
}

/// Two significant digits, so the printed count reads well.
fn round_2sig(n: f64) -> usize {
    if !n.is_finite() || n < 1.0 {
        return 1;
    }
    let mag = 10f64.powi(n.log10().floor() as i32 - 1);
    ((n / mag).round() * mag) as usize
}

fn run_tax(cfg: &Config, tc: &TaxConfig, dir: &Path, notes: &mut Vec<String>) -> Res<Option<TaxReport>> {
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
    let report = TaxReport { count, rounds: tc.rounds, tools, runs };
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

impl TaxReport {
    /// Per-round ratios of tool `ti` against no tracer in the same round.
    fn ratios(&self, ti: usize, f: fn(&DdRun) -> f64) -> Vec<f64> {
        let Some(bi) = self.tools.iter().position(|&t| t == TaxTool::NoTracer) else { return Vec::new() };
        (0..self.rounds)
            .filter_map(|r| match (self.runs[bi][r], self.runs[ti][r]) {
                (Some(b), Some(t)) if f(&b) > 0.0 => Some(f(&t) / f(&b)),
                _ => None,
            })
            .collect()
    }

    fn render(&self) -> String {
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
        out
    }
}

// ---------------------------------------------------------------------------
// Reporting helpers

fn median_f(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fmt_ms(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(x) if x < 10.0 => format!("{x:.1} ms"),
        Some(x) => format!("{x:.0} ms"),
    }
}

fn fmt_secs(d: f64) -> String {
    if d < 1.0 { format!("{:.0} ms", d * 1000.0) } else { format!("{d:.2} s") }
}

#[derive(Default)]
struct Rows {
    captured_pct: Vec<f64>,
    full_pct: Vec<f64>,
    lost: Vec<f64>,
    cpu_per_1k_ms: Vec<f64>,
    startup_cpu_ms: Vec<f64>,
    total_cpu_ms: Vec<f64>,
    rss_mib: Vec<f64>,
    ready_ms: Vec<f64>,
    storm_s: Vec<f64>,
    /// Storm wall time with the tracer / the baseline run just before it.
    slowdown: Vec<f64>,
    drain_ms: Vec<f64>,
    stop_ms: Vec<f64>,
    /// `-x` storm: failed attempts captured / made.
    fails_captured: Vec<f64>,
    fails_attempted: Vec<f64>,
    /// `-e` rows: storm execs whose exit was reported.
    exits_captured: Vec<f64>,
    /// Storm execs whose record has `args_read_failed` (matched by PID).
    args_failed: Vec<f64>,
    notes: Vec<String>,
    /// The comparison tool failed; it is skipped from then on.
    disabled: bool,
    /// Why an optional row could not run at all (shown in the table).
    skip_reason: Option<String>,
}

impl Rows {
    fn note(&mut self, n: String) {
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }
}

fn record(rows: &mut Rows, kind: Kind, plan: &Plan, r: &TracerRun, run: usize) {
    let a = &r.analysis;
    let total = plan.total as f64;
    rows.captured_pct.push(a.captured as f64 * 100.0 / total);
    rows.full_pct.push(a.full as f64 * 100.0 / total);
    rows.lost.push(a.lost as f64);
    // Per exec record (failed attempts with -x included); exit records (-e)
    // are not counted, so the -e rows compare with the others per exec.
    let exec_records = a.events - a.exit_records;
    if let Some(ns) = r.storm_cpu_ns
        && exec_records > 0
    {
        rows.cpu_per_1k_ms.push(ns as f64 / 1e6 / (exec_records as f64 / 1000.0));
    }
    if let Some(ns) = r.startup_cpu_ns {
        rows.startup_cpu_ms.push(ns as f64 / 1e6);
    }
    let ru = &r.exited.rusage;
    let tv_ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    let total_ms = tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime);
    if total_ms > 0.0 {
        rows.total_cpu_ms.push(total_ms);
    }
    // VmHWM just before SIGINT; else the kernel's ru_maxrss (KiB) from wait4.
    match r.hwm_kib {
        Some(k) => rows.rss_mib.push(k as f64 / 1024.0),
        None if ru.ru_maxrss > 0 => rows.rss_mib.push(ru.ru_maxrss as f64 / 1024.0),
        None => {}
    }
    if let Some(d) = r.ready {
        rows.ready_ms.push(ms(d));
    }
    rows.storm_s.push(r.storm.wall.as_secs_f64());
    rows.drain_ms.push(ms(r.drain));
    rows.stop_ms.push(ms(r.exited.stop_latency));

    let run_tag = format!("run {}", run + 1);
    let label = kind.label();
    if a.captured < plan.total as u64 {
        rows.note(format!(
            "{label} ({run_tag}): captured {}/{} storm execs, {} with full argv; lost reported: {}",
            a.captured, plan.total, a.full, a.lost
        ));
    } else if a.captured - a.full > a.args_failed {
        // Records with unreadable arguments are expected from the sources
        // that read /proc; they get one note of their own (see `run`).
        let besides = if a.args_failed > 0 {
            format!(" (besides {} with unreadable arguments)", a.args_failed)
        } else {
            String::new()
        };
        rows.note(format!(
            "{label} ({run_tag}): {} of {} captured rows lack the full, correct argv{besides}",
            a.captured - a.full - a.args_failed,
            a.captured
        ));
    }
    if a.lost > 0 {
        let by_kind = if a.lost_by_kind.is_empty() { String::new() } else { format!(" {:?}", a.lost_by_kind) };
        rows.note(format!("{label} ({run_tag}): reported {} lost events{by_kind}", a.lost));
    }
    if a.duplicates > 0 {
        rows.note(format!("{label} ({run_tag}): {} duplicate rows for the same exec", a.duplicates));
    }
    if a.stray > 0 {
        rows.note(format!(
            "{label} ({run_tag}): {} storm-looking rows not matching any exec, e.g. {}",
            a.stray,
            a.stray_example.clone().unwrap_or_default()
        ));
    }
    if a.truncated_marked > 0 {
        rows.note(format!(
            "{label} ({run_tag}): {} storm rows marked truncated (argv is only ~60 bytes)",
            a.truncated_marked
        ));
    }
    if a.pid_wrong > 0 {
        rows.note(format!(
            "{label} ({run_tag}): {} rows with the wrong PID, e.g. {}",
            a.pid_wrong,
            a.pid_example.clone().unwrap_or_default()
        ));
    }
    if a.ppid_wrong > 0 {
        rows.note(format!("{label} ({run_tag}): {} rows whose PPID is not the benchmark's PID", a.ppid_wrong));
    }
    if a.comm_wrong > 0 {
        rows.note(format!(
            "{label} ({run_tag}): {} rows with unexpected comm, e.g. {}",
            a.comm_wrong,
            a.comm_example.clone().unwrap_or_default()
        ));
    }
    if a.filename_wrong > 0 {
        rows.note(format!(
            "{label} ({run_tag}): {} rows with unexpected filename, e.g. {}",
            a.filename_wrong,
            a.filename_example.clone().unwrap_or_default()
        ));
    }
    if a.malformed > 0 {
        rows.note(format!(
            "{label} ({run_tag}): {} malformed JSON lines, e.g. {}",
            a.malformed,
            a.malformed_example.clone().unwrap_or_default()
        ));
    }
    if !a.other_types.is_empty() {
        rows.note(format!("{label}: other record types seen: {:?}", a.other_types));
    }
    if kind.with_fails() {
        let attempted = r.storm.fail_attempts.len() as u64;
        rows.fails_captured.push(a.fail_captured as f64);
        rows.fails_attempted.push(attempted as f64);
        if a.fail_captured < attempted {
            rows.note(format!(
                "{label} ({run_tag}): captured {}/{attempted} failed exec attempts of the missing program",
                a.fail_captured
            ));
        }
        if a.fail_by_filename > 0 {
            rows.note(format!(
                "{label}: records have no \"ret\" field yet; failed attempts recognised by the missing program's filename"
            ));
        }
        if a.fail_duplicates > 0 {
            rows.note(format!("{label} ({run_tag}): {} duplicate records for a failed attempt", a.fail_duplicates));
        }
        if a.fail_bad > 0 {
            rows.note(format!(
                "{label} ({run_tag}): {} wrong failed-attempt records, e.g. {}",
                a.fail_bad,
                a.fail_bad_example.clone().unwrap_or_default()
            ));
        }
        if r.storm.fail_unexpected > 0 {
            rows.note(format!(
                "{label} ({run_tag}): {} attempts to exec the missing program did not fail with ENOENT: {}",
                r.storm.fail_unexpected,
                r.storm.fail_example.clone().unwrap_or_default()
            ));
        }
    }
    if a.ret_nonzero_ok > 0 {
        rows.note(format!("{label} ({run_tag}): {} successful storm execs with \"ret\" != 0", a.ret_nonzero_ok));
    }
    if kind.with_exits() {
        rows.exits_captured.push(a.exits_captured as f64);
        if a.exits_captured < a.captured {
            rows.note(format!(
                "{label} ({run_tag}): exits reported for {} of the {} storm execs captured",
                a.exits_captured, a.captured
            ));
        }
        if a.exit_duplicates > 0 {
            rows.note(format!("{label} ({run_tag}): {} duplicate exit records for a storm exec", a.exit_duplicates));
        }
        if a.exit_bad > 0 {
            rows.note(format!(
                "{label} ({run_tag}): {} wrong exit records, e.g. {}",
                a.exit_bad,
                a.exit_bad_example.clone().unwrap_or_default()
            ));
        }
    }
    if a.exit_stray > 0 {
        rows.note(format!(
            "{label} ({run_tag}): {} exit records of a no-op process that is no storm exec",
            a.exit_stray
        ));
    }
    rows.args_failed.push(a.args_failed as f64);
    // Which source saw the storm: the row's own, or for the default rows bpf
    // (a fallback there would measure another source under a bpf label).
    if kind.is_json() && kind.is_ours() {
        let want = kind.source().map_or("bpf", Src::as_str);
        let other: BTreeMap<&String, &u64> = a.sources.iter().filter(|(s, _)| s.as_str() != want).collect();
        if !other.is_empty() {
            rows.note(format!("{label} ({run_tag}): storm records from another source than {want}: {other:?}"));
        }
    }
    for n in &a.notes {
        rows.note(format!("{label} ({run_tag}): {n}"));
    }
    for n in &a.info {
        rows.note(format!("{label}: {n}"));
    }
    let ours = kind.is_ours();
    if r.exited.killed {
        rows.note(format!("{label} ({run_tag}): did not exit within {} s of SIGINT; killed", STOP_TIMEOUT.as_secs()));
    } else if ours && !(libc::WIFEXITED(r.exited.status) && libc::WEXITSTATUS(r.exited.status) == 0) {
        rows.note(format!(
            "{label} ({run_tag}): ended with {} after SIGINT, expected exit 0",
            describe_status(r.exited.status)
        ));
    }
    if r.exited.stop_latency > Duration::from_secs(1) && !r.exited.killed {
        rows.note(format!(
            "{label} ({run_tag}): took {:.1} s to exit after SIGINT",
            r.exited.stop_latency.as_secs_f64()
        ));
    }
    if ours && !r.ending_seen {
        rows.note(format!("{label} ({run_tag}): no {ENDING:?} on stderr"));
    }
    if ours && r.banner.is_none() {
        rows.note(format!("{label} ({run_tag}): no banner {BANNER:?} on stderr"));
    }
    if kind.is_our_text()
        && let (Some(b), Some(h)) = (r.banner, r.ready)
        && h > b + Duration::from_millis(50)
    {
        rows.note(format!("{label} ({run_tag}): header reached the file {:.0} ms after the stderr banner", ms(h - b)));
    }
    for u in &r.stderr_unexpected {
        rows.note(format!("{label} ({run_tag}): stderr: {u}"));
    }
    if r.drain_timed_out {
        rows.note(format!("{label} ({run_tag}): storm rows still arriving {} s after the storm", DRAIN_MAX.as_secs()));
    } else if r.drain > Duration::from_secs(1) {
        rows.note(format!(
            "{label} ({run_tag}): storm rows kept arriving for {:.1} s after the storm ended",
            r.drain.as_secs_f64()
        ));
    }
    if r.storm.failures > 0 {
        rows.note(format!(
            "{label} ({run_tag}): {} storm execs failed: {}",
            r.storm.failures,
            r.storm.first_error.clone().unwrap_or_default()
        ));
    }
    // The end record's received vs shown can reveal filtering bugs.
    if let Some((Some(received), Some(shown), _)) = a.end
        && (received < exec_records || shown > received)
    {
        rows.note(format!(
            "{label} ({run_tag}): end record received={received} shown={shown} vs {exec_records} exec rows"
        ));
    }
}

// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    install_signal_handlers();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("storm: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Res<()> {
    let cfg = parse_config()?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("this benchmark must run as root (the tracers load eBPF programs): \
                    run `sudo cargo bench --bench storm`"
            .into());
    }
    if !cfg.execsnoop.is_file() {
        return Err(format!(
            "tracer binary {} not found: run `cargo build --release` first (or set STORM_EXECSNOOP)",
            cfg.execsnoop.display()
        ));
    }
    if !is_executable(&cfg.execsnoop) {
        return Err(format!("{} is not executable", cfg.execsnoop.display()));
    }
    let mut global_notes: Vec<String> = Vec::new();
    if let (Ok(bin_m), Some(src_m)) = (
        fs::metadata(&cfg.execsnoop).and_then(|m| m.modified()),
        newest_source_mtime(Path::new(env!("CARGO_MANIFEST_DIR"))),
    ) && bin_m < src_m
    {
        let msg = format!(
            "{} is older than the newest source file; run `cargo build --release` to test the current code",
            cfg.execsnoop.display()
        );
        eprintln!("storm: WARNING: {msg}");
        global_notes.push(msg);
    }

    let tmp = TempDir::new()?;
    let noop = build_noop(tmp.path());
    let plan = Plan::new(cfg.workers, cfg.execs);
    let missing = Missing::new(tmp.path());
    let mut kinds = vec![Kind::OursJson, Kind::OursJsonFails];
    if cfg.exits {
        kinds.push(Kind::OursJsonExits);
    }
    if cfg.context {
        kinds.extend([Kind::OursJsonCwd, Kind::OursJsonEnv]);
    }
    if cfg.fleet {
        kinds.extend([Kind::OursJsonOutput, Kind::OursJsonMetrics, Kind::OursSyslog]);
    }
    kinds.push(Kind::OursText);
    if cfg.exits {
        kinds.push(Kind::OursTextExits);
    }
    if cfg.libbpf.is_some() {
        kinds.push(Kind::Libbpf);
    }
    if cfg.sources && has_source_flag(&cfg.extra_args) {
        global_notes.push("STORM_EXTRA_ARGS contains --source: the per-source rows are skipped".into());
    } else if cfg.sources {
        kinds.extend(Src::ALL.map(Kind::Source));
    }
    if has_exits_flag(&cfg.extra_args) {
        global_notes.push(
            "STORM_EXTRA_ARGS contains -e/--exits: every execsnoop row runs with it (exit records are not counted \
             in cpu/1k ev)"
                .into(),
        );
    }
    if cfg.libbpf.is_some() && cfg.stdbuf.is_none() {
        global_notes.push("stdbuf not found: libbpf-tools runs fully buffered, readiness is a fixed 3 s wait".into());
    }
    if cfg.libbpf.is_some() && !cfg.tracefs_visible {
        global_notes.push(
            "tracefs is not mounted on this host: libbpf-tools runs in a private mount namespace with tracefs \
             mounted at /sys/kernel/tracing"
                .into(),
        );
    }
    if has_fails_flag(&cfg.extra_args) {
        global_notes.push(
            "STORM_EXTRA_ARGS contains -x/--fails: every execsnoop row (and the tax's default) runs with -x".into(),
        );
    }
    eprintln!(
        "storm: {} execs x {} workers, {} run(s){}; tracer {}{}",
        plan.total,
        plan.workers,
        cfg.runs,
        if cfg.quick { " (quick)" } else { "" },
        cfg.execsnoop.display(),
        if cfg.extra_args.is_empty() { String::new() } else { format!(" extra args {:?}", cfg.extra_args) }
    );

    // Warm up: page in the binary and the spawn path.
    let warm =
        run_storm(&Plan::new(cfg.workers, WARMUP_EXECS.min(plan.total.max(cfg.workers))), &noop, "warmup", None)?;
    if warm.failures > 0 {
        return Err(format!("the no-op program fails to run: {}", warm.first_error.unwrap_or_default()));
    }

    let mut baseline_s = Vec::new();
    let mut rows: Vec<(Kind, Rows)> = kinds.iter().map(|&k| (k, Rows::default())).collect();
    let mut start_stop: Vec<StartStop> = Vec::new();

    // A source that cannot start here (not built, no tracefs, ...) gets a row
    // with its reason; finding out first saves its baseline storms.
    for (kind, r) in rows.iter_mut().filter(|(k, _)| k.source().is_some()) {
        if let Some(why) = probe(&cfg, *kind)? {
            eprintln!("storm: {} cannot start, skipping it: {why}", kind.label());
            r.disabled = true;
            r.skip_reason = Some(why);
        }
    }

    for run in 0..cfg.runs {
        for (kind, r) in rows.iter_mut() {
            if r.disabled {
                continue;
            }
            // A baseline right before each tracer run: the slowdown is the
            // median of these paired ratios, which cancels slow drift in
            // background load better than one shared baseline would.
            // The -x row's baseline makes the same failing attempts.
            let base = run_storm(&plan, &noop, "storm", kind.with_fails().then_some(&missing))?;
            if base.failures > 0 {
                global_notes.push(format!(
                    "baseline run {}: {} execs failed: {}",
                    run + 1,
                    base.failures,
                    base.first_error.clone().unwrap_or_default()
                ));
            }
            eprintln!(
                "[run {}/{}] baseline: storm {} ({:.0} execs/s){}",
                run + 1,
                cfg.runs,
                fmt_secs(base.wall.as_secs_f64()),
                plan.total as f64 / base.wall.as_secs_f64(),
                if kind.with_fails() {
                    format!(", plus {} failing attempts", base.fail_attempts.len())
                } else {
                    String::new()
                }
            );
            // The headline baseline is the plain storm only.
            if !kind.with_fails() {
                baseline_s.push(base.wall.as_secs_f64());
            }
            nap(Duration::from_millis(200))?;
            let tr = match run_tracer(&cfg, *kind, &plan, &noop, &missing, tmp.path(), run) {
                Ok(tr) => tr,
                // libbpf-tools is only a comparison, and -x is an optional
                // mode: note the failure and go on without that row.
                Err(e) if kind.optional() && !aborted() => {
                    eprintln!("storm: {} failed, skipping it: {e}", kind.label());
                    r.note(format!("{} (run {}): failed, skipped from then on: {e}", kind.label(), run + 1));
                    r.disabled = true;
                    if r.captured_pct.is_empty() {
                        r.skip_reason = Some(format!("failed in run {}, see notes", run + 1));
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let a = &tr.analysis;
            eprintln!(
                "[run {}/{}] {}: ready {}, storm {}, captured {}/{}, full {}, lost {}, events {}, cpu {} (+{} startup), HWM {}, drain {:.0} ms, stop {:.0} ms {}",
                run + 1,
                cfg.runs,
                kind.label(),
                fmt_ms(tr.ready.map(ms)),
                fmt_secs(tr.storm.wall.as_secs_f64()),
                a.captured,
                plan.total,
                a.full,
                a.lost,
                a.events,
                fmt_ms(tr.storm_cpu_ns.map(|n| n as f64 / 1e6)),
                fmt_ms(tr.startup_cpu_ns.map(|n| n as f64 / 1e6)),
                tr.hwm_kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
                ms(tr.drain),
                ms(tr.exited.stop_latency),
                if tr.exited.killed { "KILLED".into() } else { describe_status(tr.exited.status) },
            );
            if kind.with_exits() || a.exit_records > 0 {
                eprintln!(
                    "[run {}/{}] {}: exit records {}, storm exits {}/{}, {} wrong, {} duplicates",
                    run + 1,
                    cfg.runs,
                    kind.label(),
                    a.exit_records,
                    a.exits_captured,
                    a.captured,
                    a.exit_bad,
                    a.exit_duplicates
                );
            }
            if a.args_failed > 0 {
                eprintln!(
                    "[run {}/{}] {}: {} storm execs with unreadable arguments (matched by PID)",
                    run + 1,
                    cfg.runs,
                    kind.label(),
                    a.args_failed
                );
            }
            if kind.with_fails() {
                eprintln!(
                    "[run {}/{}] {}: failed attempts captured {}/{} ({} by ret < 0, {} by filename), {} ret fields",
                    run + 1,
                    cfg.runs,
                    kind.label(),
                    a.fail_captured,
                    tr.storm.fail_attempts.len(),
                    a.fail_by_ret,
                    a.fail_by_filename,
                    a.ret_present
                );
            }
            record(r, *kind, &plan, &tr, run);
            r.slowdown.push(tr.storm.wall.as_secs_f64() / base.wall.as_secs_f64());
            nap(Duration::from_millis(200))?;
        }

        let ss = run_start_stop(&cfg)?;
        eprintln!(
            "[run {}/{}] text header via pipe: {}, banner {}, stop {:.0} ms {}",
            run + 1,
            cfg.runs,
            fmt_ms(Some(ms(ss.header))),
            fmt_ms(ss.banner.map(ms)),
            ms(ss.exited.stop_latency),
            if ss.exited.killed { "KILLED".into() } else { describe_status(ss.exited.status) }
        );
        start_stop.push(ss);
    }

    let tax = match &cfg.tax {
        Some(tc) => run_tax(&cfg, tc, tmp.path(), &mut global_notes)?,
        None => None,
    };

    // ---- report
    let base_med = median_f(baseline_s.clone()).unwrap_or(f64::NAN);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nexec storm: {} execs, {} workers, {} run{} (medians)   noop: {}",
        plan.total,
        plan.workers,
        cfg.runs,
        if cfg.runs == 1 { "" } else { "s" },
        noop.kind
    );
    if !cfg.extra_args.is_empty() {
        let _ = writeln!(out, "extra execsnoop args: {}", cfg.extra_args.join(" "));
    }
    let _ = writeln!(
        out,
        "baseline (no tracer): storm wall {} ({:.0} execs/s), median of all baseline runs",
        fmt_secs(base_med),
        plan.total as f64 / base_med
    );
    let w = rows.iter().map(|(k, _)| k.label().len() + 2).max().unwrap_or(0).max(18);
    let _ = writeln!(
        out,
        "{:<w$}{:>9}  {:>9}  {:>5}  {:>9}  {:>9}  {:>7}  {:>8}  {:>9}  {:>11}",
        "tool", "captured", "full-argv", "lost", "cpu/1k ev", "peak RSS", "ready", "slowdown", "failed", "exits"
    );
    for (kind, r) in &rows {
        if r.captured_pct.is_empty()
            && let Some(why) = &r.skip_reason
        {
            let _ = writeln!(
                out,
                "{:<w$}{:>9}  {:>9}  {:>5}  {:>9}  {:>9}  {:>7}  {:>8}  {:>9}  {:>11}  not run: {why}",
                kind.label(),
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-"
            );
            continue;
        }
        let pct = |v: &Vec<f64>| median_f(v.clone()).map_or("n/a".into(), |x| format!("{x:.2}%"));
        let lost = median_f(r.lost.clone()).map_or("n/a".into(), |x| format!("{x:.0}"));
        let cpu = fmt_ms(median_f(r.cpu_per_1k_ms.clone()));
        let rss = median_f(r.rss_mib.clone()).map_or("n/a".into(), |x| format!("{x:.1} MiB"));
        let ready = fmt_ms(median_f(r.ready_ms.clone()));
        let slow = median_f(r.slowdown.clone()).map_or("n/a".into(), |x| format!("{x:.2}x"));
        let failed = if kind.with_fails() {
            match (median_f(r.fails_captured.clone()), median_f(r.fails_attempted.clone())) {
                (Some(c), Some(a)) => format!("{c:.0}/{a:.0}"),
                _ => "n/a".into(),
            }
        } else {
            "-".into()
        };
        let exits = if kind.with_exits() {
            median_f(r.exits_captured.clone()).map_or("n/a".into(), |c| format!("{c:.0}/{}", plan.total))
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "{:<w$}{:>9}  {:>9}  {:>5}  {:>9}  {:>9}  {:>7}  {:>8}  {:>9}  {:>11}",
            kind.label(),
            pct(&r.captured_pct),
            pct(&r.full_pct),
            lost,
            cpu,
            rss,
            ready,
            slow,
            failed,
            exits
        );
    }
    let _ = writeln!(out);
    let row_of = |k: Kind| rows.iter().find(|(kind, _)| *kind == k).map(|(_, r)| r);
    // What -e costs: its row against the same mode without it.
    for (with, without, target, what) in [
        (Kind::OursJsonExits, Kind::OursJson, EXITS_TARGET, "-e"),
        (Kind::OursTextExits, Kind::OursText, EXITS_TARGET, "-e"),
        (Kind::OursJsonCwd, Kind::OursJson, CWD_TARGET, "--cwd --print-container"),
        (Kind::OursJsonEnv, Kind::OursJson, ENV_TARGET, "--env"),
        (Kind::OursJsonOutput, Kind::OursJson, OUTPUT_TARGET, "--output"),
        (Kind::OursJsonMetrics, Kind::OursJson, METRICS_TARGET, "--metrics"),
        (Kind::OursSyslog, Kind::OursJson, f64::INFINITY, "--syslog"),
    ] {
        let (Some(a), Some(b)) = (row_of(with), row_of(without)) else { continue };
        let ratio = |f: fn(&Rows) -> &Vec<f64>| match (median_f(f(a).clone()), median_f(f(b).clone())) {
            (Some(x), Some(y)) if y > 0.0 => Some(x / y),
            _ => None,
        };
        let cpu = ratio(|r| &r.cpu_per_1k_ms);
        let slow = ratio(|r| &r.slowdown);
        // -e: both within the target; the context options: CPU per event.
        let slow_counts = what == "-e";
        let verdict = match (cpu, slow) {
            (Some(c), Some(s)) if c <= target && (!slow_counts || s <= target) => "met",
            (Some(_), Some(_)) => "NOT met",
            _ => "n/a",
        };
        let x = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.2}x"));
        let goal = if slow_counts { "each" } else { "cpu/1k exec" };
        let target_note = if target.is_finite() {
            format!("target: {goal} within {target:.2}x: {verdict}")
        } else {
            "measured, no target".to_string()
        };
        let _ = writeln!(
            out,
            "{what} cost, {} / {}: cpu/1k exec {}, slowdown {}  ({target_note})",
            with.label(),
            without.label(),
            x(cpu),
            x(slow)
        );
    }
    // Capture and full-argv share by source; bpf is what the default json row measures.
    if rows.iter().any(|(k, _)| k.source().is_some()) {
        let share = |r: &Rows| match (median_f(r.captured_pct.clone()), median_f(r.full_pct.clone())) {
            (Some(c), Some(f)) => format!("{c:.2}% / {f:.2}%"),
            _ => match &r.skip_reason {
                Some(why) => format!("- ({why})"),
                None => "n/a".into(),
            },
        };
        let mut parts = Vec::new();
        if let Some(r) = row_of(Kind::OursJson) {
            parts.push(format!("bpf {} (the execsnoop json row)", share(r)));
        }
        for src in Src::ALL {
            if let Some(r) = row_of(Kind::Source(src)) {
                parts.push(format!("{} {}", src.as_str(), share(r)));
            }
        }
        let _ = writeln!(out, "per source, captured / full-argv: {}", parts.join(", "));
        if let Some(r) = row_of(Kind::OursJson)
            && let (Some(c), Some(f)) = (median_f(r.captured_pct.clone()), median_f(r.full_pct.clone()))
            && (c < 100.0 || f < 100.0)
        {
            global_notes.push(format!(
                "the bpf source (execsnoop json row) is below 100%: captured {c:.2}%, full-argv {f:.2}%"
            ));
        }
    }
    for (kind, r) in &rows {
        if r.captured_pct.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "{:<w$}storm wall {}, startup CPU {}, whole-life CPU {}, drain after storm {}, SIGINT->exit {}",
            kind.label(),
            median_f(r.storm_s.clone()).map_or("n/a".into(), fmt_secs),
            fmt_ms(median_f(r.startup_cpu_ms.clone())),
            fmt_ms(median_f(r.total_cpu_ms.clone())),
            fmt_ms(median_f(r.drain_ms.clone())),
            fmt_ms(median_f(r.stop_ms.clone()))
        );
    }
    let hdr = median_f(start_stop.iter().map(|s| ms(s.header)).collect());
    let ban = median_f(start_stop.iter().filter_map(|s| s.banner.map(ms)).collect());
    let clean = start_stop
        .iter()
        .filter(|s| {
            !s.exited.killed
                && libc::WIFEXITED(s.exited.status)
                && libc::WEXITSTATUS(s.exited.status) == 0
                && s.ending_seen
        })
        .count();
    let _ = writeln!(
        out,
        "execsnoop text, stdout on a pipe: header after {}, banner after {}; clean SIGINT exit {}/{}",
        fmt_ms(hdr),
        fmt_ms(ban),
        clean,
        start_stop.len()
    );
    let _ = writeln!(
        out,
        "(cpu/1k ev = tracer CPU from ready to SIGINT per 1000 exec records written: failed attempts (-x) count, exit records (-e) do not, so the -e rows compare per exec; ready = spawn -> banner (json) / header line in stdout file (text, libbpf-tools); slowdown = median of storm wall / the baseline run just before it; failed = failed exec attempts captured / made, -x row only: its storm and its baseline add one failing exec every {FAIL_EVERY} per worker; exits = storm execs whose exit record (exit code 0) was written, -e rows only; --source rows: arguments unreadable (process gone) count as captured, not full-argv)"
    );
    if let Some(t) = &tax {
        out.push_str(&t.render());
    }
    for (i, s) in start_stop.iter().enumerate() {
        if s.exited.killed {
            global_notes.push(format!(
                "text/pipe start-stop run {}: did not exit within {} s of SIGINT; killed",
                i + 1,
                STOP_TIMEOUT.as_secs()
            ));
        } else if !(libc::WIFEXITED(s.exited.status) && libc::WEXITSTATUS(s.exited.status) == 0) {
            global_notes.push(format!(
                "text/pipe start-stop run {}: ended with {}",
                i + 1,
                describe_status(s.exited.status)
            ));
        }
        if !s.ending_seen {
            global_notes.push(format!("text/pipe start-stop run {}: no {ENDING:?} on stderr", i + 1));
        }
        if s.banner.is_none() {
            global_notes.push(format!("text/pipe start-stop run {}: no banner on stderr", i + 1));
        }
    }
    for (kind, r) in rows.iter_mut() {
        if r.args_failed.iter().any(|&n| n > 0.0) {
            let by_run: Vec<String> = r.args_failed.iter().map(|n| format!("{n:.0}")).collect();
            r.note(format!(
                "{}: storm execs whose arguments could not be read (args_read_failed: the process was gone before \
                 /proc was read; matched by PID, counted captured, not full-argv), by run: {} of {}",
                kind.label(),
                by_run.join(", "),
                plan.total
            ));
        }
    }
    let all_notes: Vec<&String> = global_notes.iter().chain(rows.iter().flat_map(|(_, r)| r.notes.iter())).collect();
    if !all_notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for n in all_notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    print!("{out}");
    Ok(())
}
