//! Raw command-line flags, exactly as typed. Parsing does no I/O and no
//! validation beyond types; [`crate::config::Config::from_args`] turns these
//! into the settings everything else reads.

use clap::Parser;

const AFTER_HELP: &str = "\
Every line is a successful exec(), seen after the new program is in place and
read from its own memory: arguments are complete up to --arg-bytes (32 KiB by
default) and anything cut is marked [...]. Re-execs (a process that execs again,
e.g. env -> bash) are always shown, so -r changes nothing and is kept only for
compatibility with the original execsnoop.

Examples:
  execsnoop                # trace all new processes
  execsnoop -t             # with a timestamp column (seconds since boot)
  execsnoop -a 2           # at most 2 arguments after the command
  execsnoop -d 5           # trace for 5 seconds, then print in time order
  execsnoop 'sh$'          # only processes whose name ends in sh
  execsnoop --json | jq .  # one JSON object per line";

/// Trace new processes: one line for every exec(), with PID, PPID and arguments.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "execsnoop",
    version,
    about = "Trace new processes: one line for every exec(), with PID, PPID and arguments.",
    after_help = AFTER_HELP,
    override_usage = "execsnoop [-hrt] [-a ARGC] [-d SECS] [OPTIONS] [NAME]"
)]
pub struct Args {
    /// Show at most ARGC arguments after argv[0], then " [...]" when more exist
    /// (default: all).
    #[arg(short = 'a', long = "argc", value_name = "ARGC")]
    pub max_args: Option<usize>,

    /// Trace for SECS seconds (fractions allowed), then print what was seen in
    /// time order and exit.
    #[arg(short = 'd', long = "duration", value_name = "SECS", allow_hyphen_values = true)]
    pub duration: Option<String>,

    /// Accepted for compatibility: re-execs are always shown.
    #[arg(short = 'r', long = "reexec")]
    pub reexec: bool,

    /// Print a TIMEs column: the kernel timestamp, seconds since boot.
    #[arg(short = 't', long = "timestamp")]
    pub timestamp: bool,

    /// Also show failed exec attempts, with a RET column. Attaches the
    /// execve/execveat syscall tracepoints, which slow every syscall on the
    /// machine a little while attached, so it is off by default.
    #[arg(short = 'x', long = "fails")]
    pub fails: bool,

    /// Only processes whose parent is PID (filtered in the kernel).
    #[arg(short = 'P', long = "ppid", value_name = "PID")]
    pub ppid: Option<u32>,

    /// One JSON object per line instead of text columns.
    #[arg(long = "json")]
    pub json: bool,

    /// Capture at most BYTES of each process's arguments (default 32768,
    /// at most 6291456); longer argument lists are marked truncated.
    #[arg(long = "arg-bytes", value_name = "BYTES")]
    pub arg_bytes: Option<u64>,

    /// Ring buffer size in KiB, a power of two (default 1024, or larger to
    /// hold a few records of --arg-bytes).
    #[arg(long = "buffer-kib", value_name = "KIB")]
    pub buffer_kib: Option<u64>,

    /// Only processes whose name (after exec) matches this regular
    /// expression (unanchored search).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}
