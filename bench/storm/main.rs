//! # exec storm: how execsnoop holds up under a burst of exec()s
//!
//! This benchmark measures and prints figures. It asserts nothing about time.
//! It fails only when it cannot measure at all, for example when the tracer
//! never becomes ready or you are not root.
//!
//! It has three parts: the **exec storm** (how the tracers cope with many execs),
//! the **syscall tax** (what `-x` costs every other program on the
//! machine while it is attached), and **idle** (what each tracer costs
//! while nothing execs: `idle.rs`).
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
//! 5. **execsnoop --top --json**: `execsnoop --top --json --interval 0.2`,
//!    stdout to a file: the storm added up by `--top` (which follows every
//!    process to its end, as -e does) instead of written; captured is the
//!    no-op's `execs_total` in the last interval record. Its CPU per exec is
//!    compared with the plain JSON row's (target: within 1.10x) and the
//!    `-e` row's.
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
//! 9. **auditd** and **auditd + laurel** (Linux audit as a peer; see
//!    audit.rs): auditd with the rule `-a always,exit -F arch=b64 -S
//!    execve,execveat` (no `arch=b32` rule: the storm and its no-op are
//!    64-bit and make no 32-bit calls), backlog 8192 and backlog wait 60000
//!    as Debian's audit.rules set them. auditd runs as `auditd -n -c DIR`
//!    with a temporary config directory in the benchmark's temporary
//!    directory (Debian's auditd.conf, but its log there and `max_log_file`
//!    raised to 1024 MiB so the raw log does not rotate in a run; records are
//!    counted across `audit.log*` anyway): nothing under /etc/audit or
//!    /var/log/audit is touched. The `auditd` row counts the storm's EXECVE
//!    records in the raw log, each joined to its event's SYSCALL record for
//!    PID, PPID, comm and exe. The `auditd + laurel` row runs a `laurel`
//!    binary (found in the sbin directories, PATH or ~/.cargo/bin) as
//!    auditd's plugin and reads its JSON lines (`EXECVE.ARGV`, `SYSCALL`).
//!    `cpu/1k ev` is auditd + the kauditd kernel thread (+ laurel) per 1000
//!    EXECVE records; `peak RSS` auditd (+ laurel); `lost` is the delta of
//!    the kernel's audit `lost` counter (read over netlink, as `auditctl -s`
//!    does); the backlog's peak (sampled every 20 ms) is in the notes. These
//!    rows run **last**, after the syscall tax: a kernel that once had audit
//!    enabled keeps giving new tasks audit contexts until reboot, so their
//!    baselines (and anything after) run on such a kernel; a line compares
//!    their storm with the baseline from before audit. They run only when no
//!    audit daemon is running and no rule is loaded (else the row says why),
//!    never install anything (`auditd not installed (apt install auditd)`,
//!    `laurel not found`), and leave audit as they found it: rules deleted,
//!    the enabled flag, backlog limit and wait time restored, auditd stopped,
//!    also when the benchmark fails or is interrupted midway (a guard).
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
//! - `kernel per exec`: for each of our rows, what the kernel side costs:
//!   every tracer runs with `EXECSNOOP_BPF_STATS=1`, so ours turns on the
//!   kernel's BPF statistics while it runs and prints each program's
//!   `run_cnt` and `run_time_ns` when it stops; the line shows each
//!   program's ns per run (median over the runs) and their sum, the cost per
//!   exec (the exec program's figure includes its tail-called stages; `-e`
//!   adds fork and exit, `-x` the syscall entry and exit), and the
//!   difference to the `execsnoop json` row. The counts cover the tracer's
//!   whole run and every exec on the machine, not only the storm's. The
//!   statistics add two clock reads per program run.
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
//! 5. **auditd** and **none, after audit**, when the audit rows run: after
//!    all other rounds (audit last), per round dd with auditd and the rule
//!    (as in part 1), and dd with no tracer on the kernel that has now had
//!    audit enabled, paired with that round's no-tracer run from before.
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
//! - `STORM_NO_AUDIT=1`: skip the Linux audit rows (both parts).
//! - `STORM_TAX_ROUNDS`: tax rounds (default 5, 1 with `--quick`).
//! - `STORM_TAX_COUNT`: dd's `count`, instead of calibrating it.
//! - `STORM_NO_IDLE=1`: skip the idle part (see `idle.rs`);
//!   `STORM_IDLE_SECS`: its window (default 10, 3 with `--quick`).
//!
//! It must run as root. Temporary files live in one directory under
//! `$TMPDIR`, which is removed on every exit path. The tracers run in their
//! own process group with a parent-death signal, dd with a parent-death
//! signal. They are stopped if the benchmark errors out, is interrupted with
//! Ctrl-C, or is killed.

use serde_json::Value;

mod analysis;
mod audit;
mod config;
mod idle;
mod report;
mod scenario;
mod storm;
#[path = "../storm_env.rs"]
mod storm_env;
mod tax;
mod tracer;

use analysis::*;
use audit::*;
use config::*;
use idle::*;
use report::*;
use scenario::*;
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
use storm::*;
use tax::*;
use tracer::*;

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
/// Set for every tracer run: ours then prints its BPF programs' kernel
/// statistics on stderr when it stops (lines starting BPF_STATS_PREFIX).
const BPF_STATS_ENV: &str = "EXECSNOOP_BPF_STATS";
const BPF_STATS_PREFIX: &str = "execsnoop: bpf_stats ";
/// Name of the nonexistent program in the temporary directory.
const MISSING_NAME: &str = "missing-noop";

/// Issue target: with `-e`, CPU per exec and slowdown within this factor of
/// the same mode without it.
const EXITS_TARGET: f64 = 1.5;
/// `--cwd --print-container` against the plain JSON row: CPU per event.
const CWD_TARGET: f64 = 1.5;
/// `--env` against the plain JSON row: CPU per event (the storm's
/// environment is about 600 bytes).
const ENV_TARGET: f64 = 1.3;
/// `--output FILE` against stdout redirected to a file: no more CPU per
/// event (the 5 % is the run-to-run noise of the median).
const OUTPUT_TARGET: f64 = 1.05;
/// `--metrics` against the plain JSON row: at most 5 % more.
const METRICS_TARGET: f64 = 1.05;
/// `--syslog` against the plain JSON row: CPU per event.
const SYSLOG_TARGET: f64 = 1.2;
/// `--top --json` against the plain JSON row: at most 10 % more CPU per
/// exec (issue 19), though it follows every process to its end.
const TOP_TARGET: f64 = 1.10;

const DEFAULT_IDLE_SECS: usize = 10;
const QUICK_IDLE_SECS: usize = 3;

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
    kinds.push(Kind::OursTop);
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
    // Linux audit, last: its rows run after the tax (see the module doc).
    if cfg.audit.is_some() {
        kinds.extend([Kind::Auditd, Kind::AuditdLaurel]);
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

    // The audit rows: not installed, no laurel, or audit in use here.
    let audit_tools = match &cfg.audit {
        Some(Ok(t)) => Some(t.clone()),
        _ => None,
    };
    let audit_refused = match &audit_tools {
        Some(t) => audit_refusal(t)?,
        None => None,
    };
    for (kind, r) in rows.iter_mut().filter(|(k, _)| k.is_audit()) {
        let why = match (&cfg.audit, &audit_refused) {
            (Some(Err(why)), _) | (_, Some(why)) => Some(why.clone()),
            (Some(Ok(t)), None) if *kind == Kind::AuditdLaurel && t.laurel.is_none() => {
                Some("laurel not found (as auditd's plugin; `cargo install laurel --locked`, needs libacl1-dev)".into())
            }
            _ => None,
        };
        if let Some(why) = why {
            eprintln!("storm: {} skipped: {why}", kind.label());
            r.disabled = true;
            r.skip_reason = Some(why);
        }
    }

    for run in 0..cfg.runs {
        for (kind, r) in rows.iter_mut() {
            // The audit rows run last, after the tax (below).
            if r.disabled || kind.is_audit() {
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

    let mut tax = match &cfg.tax {
        Some(tc) => run_tax(&cfg, tc, tmp.path(), &mut global_notes)?,
        None => None,
    };

    // Idle, before audit (see below).
    let idle = match cfg.idle {
        Some(window) => {
            let disabled: Vec<Kind> = rows.iter().filter(|(_, r)| r.disabled).map(|(k, _)| *k).collect();
            Some((run_idle(&cfg, window, tmp.path(), &disabled)?, window))
        }
        None => None,
    };

    // Linux audit, last: once audit has been enabled, the kernel gives every
    // new task an audit context until reboot (each syscall takes the audit
    // path), so nothing measured after this is on the same kernel.
    let mut audit_ran = false;
    if let Some(tools) = &audit_tools {
        for run in 0..cfg.runs {
            for (kind, r) in rows.iter_mut().filter(|(k, _)| k.is_audit()) {
                if r.disabled {
                    continue;
                }
                let base = run_storm(&plan, &noop, "storm", None)?;
                eprintln!(
                    "[run {}/{}] baseline (after audit was enabled: {audit_ran}): storm {} ({:.0} execs/s)",
                    run + 1,
                    cfg.runs,
                    fmt_secs(base.wall.as_secs_f64()),
                    plan.total as f64 / base.wall.as_secs_f64()
                );
                r.audit_base_s.push(base.wall.as_secs_f64());
                nap(Duration::from_millis(200))?;
                audit_ran = true;
                let (tr, extra) = match run_audit(tools, *kind, &plan, &noop, tmp.path(), run) {
                    Ok(x) => x,
                    Err(e) if !aborted() => {
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
                let cpu = |v: Option<f64>| fmt_ms(v);
                eprintln!(
                    "[run {}/{}] {}: ready {}, storm {}, captured {}/{}, full {}, lost {}, EXECVE records {}, cpu auditd {} + kauditd {} + laurel {}, backlog peak {}, HWM {}, drain {:.0} ms, stop {:.0} ms",
                    run + 1,
                    cfg.runs,
                    kind.label(),
                    fmt_ms(tr.ready.map(ms)),
                    fmt_secs(tr.storm.wall.as_secs_f64()),
                    a.captured,
                    plan.total,
                    a.full,
                    extra.lost,
                    a.events,
                    cpu(extra.cpu_ms[0]),
                    cpu(extra.cpu_ms[1]),
                    cpu(extra.cpu_ms[2]),
                    extra.backlog_peak.map_or("n/a".into(), |b| b.to_string()),
                    tr.hwm_kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
                    ms(tr.drain),
                    ms(tr.exited.stop_latency),
                );
                record(r, *kind, &plan, &tr, run);
                r.slowdown.push(tr.storm.wall.as_secs_f64() / base.wall.as_secs_f64());
                r.note(format!(
                    "{} (run {}): lost (auditctl -s delta) {}, backlog peak {} of {} (end {}), CPU ms auditd {} + kauditd {} + laurel {}",
                    kind.label(),
                    run + 1,
                    extra.lost,
                    extra.backlog_peak.map_or("n/a".into(), |b| b.to_string()),
                    AUDIT_BACKLOG,
                    extra.backlog_end,
                    cpu(extra.cpu_ms[0]),
                    cpu(extra.cpu_ms[1]),
                    if *kind == Kind::AuditdLaurel { cpu(extra.cpu_ms[2]) } else { "-".into() }
                ));
                for p in extra.problems {
                    global_notes.push(format!("{} (run {}): restoring audit: {p}", kind.label(), run + 1));
                }
                nap(Duration::from_millis(200))?;
            }
        }
        if let (Some(t), Some(tc)) = (tax.as_mut(), &cfg.tax) {
            run_tax_audit_rounds(tools, t, tc, tmp.path(), &mut global_notes)?;
            audit_ran = true;
        }
    }
    if audit_ran {
        global_notes.push(format!(
            "audit: rule `auditctl {}` (no arch=b32 rule: the storm and its static no-op are 64-bit and make no 32-bit \
             calls); backlog_limit {} and backlog_wait_time {} for the run (Debian's audit.rules); auditd runs with a \
             temporary config dir (auditd -n -c, Debian's auditd.conf but max_log_file {} MiB, so the raw log does not \
             rotate in a run; EXECVE records are counted across audit.log* anyway) in the benchmark's temporary \
             directory: nothing under /etc/audit or /var/log/audit is touched; laurel runs as root (no _laurel user), \
             its example config but its directory; cpu/1k ev = auditd + kauditd (+ laurel) per 1000 EXECVE records; \
             peak RSS = auditd (+ laurel); afterwards rules deleted, enabled flag, backlog limit and wait time restored, \
             auditd stopped",
            AUDIT_RULE.join(" "),
            AUDIT_BACKLOG,
            AUDIT_BACKLOG_WAIT,
            AUDIT_MAX_LOG_MIB
        ));
        global_notes.push(
            "audit ran last: a kernel that once had audit enabled keeps giving new tasks audit contexts until reboot \
             (the audit syscall path, audit off or not; the tax's `none, after audit` row measures it), so the audit rows' baselines (and anything \
             run on this machine afterwards) are on such a kernel; the audit slowdown is against those, see the \
             `vs pre-audit baseline` line"
                .into(),
        );
    }

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
        (Kind::OursTop, Kind::OursJson, TOP_TARGET, "--top"),
        (Kind::OursTop, Kind::OursJsonExits, TOP_TARGET, "--top (against -e)"),
        (Kind::OursSyslog, Kind::OursJson, SYSLOG_TARGET, "--syslog"),
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
    // The kernel side per exec: each program's ns per run (bpf_stats), and
    // their sum: the programs that run once per exec (-e: fork, exec, exit;
    // -x: the syscall entry and exit too).
    let stat_rows: Vec<_> = rows.iter().filter(|(k, r)| k.is_ours() && !r.bpf_ns.is_empty()).collect();
    if !stat_rows.is_empty() {
        let _ = writeln!(out, "kernel per exec (bpf_stats: run_time_ns / run_cnt per program, median of runs):");
        let base = row_of(Kind::OursJson).map(bpf_sum);
        for (kind, r) in stat_rows {
            let parts: Vec<String> = r
                .bpf_ns
                .iter()
                .filter_map(|(name, v)| median_f(v.clone()).map(|ns| format!("{name} {ns:.0}")))
                .collect();
            let sum = bpf_sum(r);
            let added = match base {
                Some(b) if *kind != Kind::OursJson => format!(", {:+.0} ns against execsnoop json", sum - b),
                _ => String::new(),
            };
            let _ = writeln!(out, "  {:<w$}{} = {sum:.0} ns{added}", kind.label(), parts.join(" + "));
        }
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
    for (kind, r) in rows.iter().filter(|(k, r)| k.is_audit() && !r.captured_pct.is_empty()) {
        let _ = writeln!(
            out,
            "{:<w$}vs pre-audit baseline: storm wall {} / {} = {}; its own baselines (after audit was enabled) {}",
            kind.label(),
            median_f(r.storm_s.clone()).map_or("n/a".into(), fmt_secs),
            fmt_secs(base_med),
            median_f(r.storm_s.clone()).map_or("n/a".into(), |s| format!("{:.2}x", s / base_med)),
            median_f(r.audit_base_s.clone()).map_or("n/a".into(), fmt_secs),
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
    if let Some((idle, window)) = &idle {
        out.push_str(&render_idle(idle, *window));
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
