//! Raw command-line flags, exactly as typed. Parsing does no I/O and no
//! validation beyond types; [`crate::config::Config::from_args`] turns these
//! into the settings everything else reads.

use clap::Parser;

/// The text after the options in --help, before the column line.
const AFTER_HELP_INTRO: &str = "\
Every line is a successful exec(), seen after the new program is in place and
read from its own memory: arguments are complete up to --arg-bytes (32 KiB by
default) and anything cut is marked [...]. With -x, failed attempts are shown
too, with their error in a RET column. Re-execs (a process that execs again,
e.g. env -> bash) are always shown, so -r changes nothing and is kept only for
compatibility with the original execsnoop.";

/// After the column line (made from the column table: [`after_help`]).
const AFTER_HELP_EXAMPLES: &str = "\
Examples:
  execsnoop                # trace all new processes
  execsnoop -t             # with a timestamp column (seconds since boot)
  execsnoop -T             # with a wall-clock time column (HH:MM:SS)
  execsnoop -a 2           # at most 2 arguments after the command
  execsnoop -d 5           # trace for 5 seconds, then print in time order
  execsnoop 'sh$'          # only processes whose name ends in sh
  execsnoop -n 'sh$'       # the same
  execsnoop -l 'git push'  # only command lines that contain \"git push\"
  execsnoop -x             # failed exec attempts too, with a RET column
  execsnoop -u root -U     # only root's processes, with a UID column
  execsnoop -P 1 -M        # only children of init, with the parent's name
  execsnoop -q             # arguments quoted for pasting into a shell
  execsnoop -c /sys/fs/cgroup/system.slice --print-cgroup
                           # one cgroup subtree, with each process's cgroup
  execsnoop --json | jq .  # one JSON object per line
  execsnoop -e             # also a line when each process ends: status, lifetime, CPU
  execsnoop --wait         # one line per process when it ends, with EXIT/TIME/CPU
  execsnoop --summary -- make -j2
                           # run make, trace its tree, then the commands by CPU
  execsnoop -p 1234 --tree # process 1234 and its descendants, as a tree
  execsnoop --source netlink
                           # the proc connector instead of eBPF (see README)
  execsnoop --top          # a live view: commands by execs, CPU, lifetime
  execsnoop --top --top-by unit --batch -d 10
                           # ten one-second tables of systemd units";

/// Trace new processes: one line for every exec(), with PID, PPID and arguments.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "execsnoop",
    version,
    about = "Trace new processes: one line for every exec(), with PID, PPID and arguments.",
    after_help = after_help(),
    override_usage = "execsnoop [-hMqrtTUx] [-a ARGC] [-d SECS] [-u USER] [-P PID] [-c PATH] \
[-n REGEX] [-l REGEX] [-p PID] [OPTIONS] [NAME] [-- COMMAND [ARGS...]]"
)]
pub struct Args {
    /// Show at most ARGC arguments after argv[0], then " [...]" when more exist
    /// (default: all).
    #[arg(short = 'a', long = "argc", visible_alias = "max-args", value_name = "ARGC")]
    pub max_args: Option<usize>,

    /// Trace for SECS seconds (fractions allowed), then print what was seen in
    /// time order and exit.
    #[arg(short = 'd', long = "duration", value_name = "SECS", allow_hyphen_values = true)]
    pub duration: Option<String>,

    /// Accepted for compatibility: re-execs are always shown.
    #[arg(short = 'r', long = "reexec")]
    pub reexec: bool,

    /// Print a TIMEs column: the kernel timestamp, seconds since boot.
    #[arg(short = 't', long = "timestamp", conflicts_with = "time")]
    pub timestamp: bool,

    /// Print a TIME column: the wall-clock time of the exec, HH:MM:SS in the
    /// local time zone.
    #[arg(short = 'T', long = "time")]
    pub time: bool,

    /// Print a UID column: the process's real user id.
    #[arg(short = 'U', long = "print-uid")]
    pub print_uid: bool,

    /// Only processes of this user (name or number; filtered in the kernel).
    #[arg(short = 'u', long = "uid", value_name = "USER")]
    pub uid: Option<String>,

    /// Only processes whose parent is PID (filtered in the kernel).
    #[arg(short = 'P', long = "ppid", value_name = "PID")]
    pub ppid: Option<u32>,

    /// Only processes in this cgroup v2 directory or below it (filtered in
    /// the kernel).
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    pub cgroup: Option<std::path::PathBuf>,

    /// Print a CGROUP column (JSON: a cgroup field): the process's cgroup v2
    /// path, "?" when it cannot be found (removed before it was looked up).
    #[arg(long = "print-cgroup")]
    pub print_cgroup: bool,

    /// Print a PCOMM column: the parent process's name.
    #[arg(short = 'M', long = "print-pcomm")]
    pub print_pcomm: bool,

    /// Only processes whose name (after exec) matches this regular
    /// expression; the same as NAME.
    #[arg(short = 'n', long = "name", value_name = "REGEX")]
    pub name_opt: Option<String>,

    /// Only processes whose command line (the arguments, argv[0] included,
    /// joined by single spaces) matches this regular expression.
    #[arg(short = 'l', long = "line", value_name = "REGEX")]
    pub line: Option<String>,

    /// Quote the arguments so that ARGS can be pasted into a POSIX shell and
    /// run as is; notes such as [...] become a trailing # comment.
    #[arg(short = 'q', long = "quote")]
    pub quote: bool,

    /// Also show failed exec attempts, with a RET column (0 or -errno).
    /// Attaches syscall tracepoints, which slow every syscall a little.
    #[arg(short = 'x', long = "fails")]
    pub fails: bool,

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

    /// Also report each process's end: exit status (code or signal),
    /// lifetime since its exec and CPU time used since its exec.
    #[arg(short = 'e', long = "exits")]
    pub exits: bool,

    /// One line per process, printed when it ends, with EXIT, TIME(s) and
    /// CPU(s) columns (implies --exits; still-running ones are listed at
    /// the end). At most 64 MiB of rows wait: beyond, the oldest are printed
    /// at once as running, and stderr says so.
    #[arg(long = "wait")]
    pub wait: bool,

    /// When tracing ends, print a table of commands sorted by total CPU:
    /// execs, failures (-x), total and mean CPU and lifetime, still running.
    /// At most 4096 names get a row; the rest are added up in one
    /// "(other commands)" row.
    #[arg(long = "summary")]
    pub summary: bool,

    /// A live view instead of a log: one row per command (or --top-by key)
    /// with execs in the interval and in total, rate, failures (-x), exits
    /// by kind, CPU, lifetime (mean, p95) and how many still run, refreshed
    /// every --interval. Keys: c n f l sort (< > move), k switch key, /
    /// filter rows, p pause, Up/Down select, e recent execs of the row, q
    /// quit. Without a terminal (or with --batch), one table per interval;
    /// with --json, one interval record per interval.
    #[arg(long = "top", help_heading = "Top", conflicts_with_all = [
        "wait", "summary", "tree", "quote", "timestamp", "time", "print_uid", "print_pcomm", "max_args",
        "print_cgroup", "print_container", "cwd", "env", "env_bytes", "context", "ancestry", "names",
        "output", "syslog",
    ])]
    pub top: bool,

    /// With --top, what a row stands for: comm (the name), exe (the file
    /// run), user, parent (its name), container (id), unit (the systemd
    /// unit of its cgroup) or cgroup (path); default comm.
    #[arg(long = "top-by", value_name = "KEY", requires = "top", help_heading = "Top",
          value_parser = clap::builder::PossibleValuesParser::new(top_by_choices()))]
    pub top_by: Option<String>,

    /// With --top, rows of their own per key, at most (default 10000); the
    /// rest are added up in one "(other)" row.
    #[arg(long = "top-keys", value_name = "N", requires = "top", help_heading = "Top")]
    pub top_keys: Option<usize>,

    /// With --top, refresh (or print a table) every SECS seconds (default 1).
    #[arg(long = "interval", value_name = "SECS", requires = "top", help_heading = "Top",
          allow_hyphen_values = true)]
    pub interval: Option<String>,

    /// With --top, plain tables even on a terminal (as top -b).
    #[arg(long = "batch", requires = "top", help_heading = "Top")]
    pub batch: bool,

    /// Only PID and all its descendants, including those forked after
    /// tracing started (followed in the kernel from fork).
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pid: Option<u32>,

    /// Indent each row by its depth below the traced root (-p or COMMAND),
    /// or below the first ancestor seen.
    #[arg(long = "tree")]
    pub tree: bool,

    /// Where events come from: auto (the first that starts, best first),
    /// or one source by name. ftrace counts as lost, and never shows, an
    /// exec whose file name has a newline (its text could forge records).
    #[arg(long = "source", value_name = "SOURCE", default_value = "auto",
          value_parser = clap::builder::PossibleValuesParser::new(source_choices()))]
    pub source: String,

    /// A CWD column (JSON: cwd): the working directory at the exec, as the
    /// process sees it.
    #[arg(long = "cwd")]
    pub cwd: bool,

    /// Capture the environment (JSON: env; text: a trailing [env: ...]).
    /// Secrets in it are redacted unless --no-redact.
    #[arg(long = "env")]
    pub env: bool,

    /// Capture at most BYTES of each environment block (default 32768).
    #[arg(long = "env-bytes", value_name = "BYTES")]
    pub env_bytes: Option<u64>,

    /// Also redact what this regular expression matches, on the command line
    /// (the arguments joined by single spaces: a match may span arguments)
    /// and in each environment entry; with capture groups, only what they
    /// match (e.g. '(?:--pin|-P)(?:\s+|=)(\S*)'). May be given more than
    /// once. Secret-looking names, values and options are redacted by
    /// default (see the README).
    #[arg(long = "redact", value_name = "REGEX")]
    pub redact: Vec<String>,

    /// Redact nothing: show arguments and environment values as they are
    /// (the default rules off; not with --redact).
    #[arg(long = "no-redact", conflicts_with = "redact")]
    pub no_redact: bool,

    /// Who, where and which exec, in JSON (credentials, audit login and
    /// session, tty, namespaces, pid in its namespace, exec ids, container);
    /// in text, a [setuid] / [setgid] / [caps] mark where an exec raised
    /// privileges.
    #[arg(long = "context")]
    pub context: bool,

    /// A CONTAINER column: the container id (12 characters, as docker ps
    /// shows it), - on the host.
    #[arg(long = "print-container")]
    pub print_container: bool,

    /// Only processes in a container whose id starts with ID-PREFIX.
    #[arg(long = "container", value_name = "ID-PREFIX")]
    pub container: Option<String>,

    /// Only processes in the host's pid namespace.
    #[arg(long = "host", conflicts_with = "containers")]
    pub host: bool,

    /// Only processes in another pid namespace than the host's (containers).
    #[arg(long = "containers")]
    pub containers: bool,

    /// With --json, the chain of up to N ancestors (pid, comm, exec_id)
    /// of each exec, as far as their execs were seen.
    #[arg(long = "ancestry", value_name = "N")]
    pub ancestry: Option<usize>,

    /// With -U, user names instead of numbers (from /etc/passwd, read once).
    #[arg(long = "names")]
    pub names: bool,

    /// Write the records (text, or --json) to PATH instead of stdout:
    /// appended, created mode 0640; refused if it is a symbolic link, not a
    /// regular file, or writable by others (or in a directory they can
    /// write without the sticky bit); SIGHUP reopens it (for logrotate).
    #[arg(short = 'o', long = "output", value_name = "PATH", help_heading = "Output")]
    pub output: Option<std::path::PathBuf>,

    /// Rotate --output when it would grow past SIZE (bytes, or with a K, M
    /// or G suffix: KiB, MiB, GiB): PATH becomes PATH.1, PATH.1 PATH.2, ...
    #[arg(long = "rotate-size", value_name = "SIZE", requires = "output", help_heading = "Output")]
    pub rotate_size: Option<String>,

    /// Rotated files kept, PATH.1 (newest) to PATH.N (default 5; 0: none).
    #[arg(long = "rotate-keep", value_name = "N", requires = "rotate_size", help_heading = "Output")]
    pub rotate_keep: Option<u32>,

    /// Send each record to the local syslog (/dev/log) as an RFC 5424
    /// message whose text is the record's JSON.
    #[arg(long = "syslog", conflicts_with = "output", help_heading = "Output")]
    pub syslog: bool,

    /// The syslog socket (default /dev/log).
    #[arg(long = "syslog-socket", value_name = "PATH", requires = "syslog", help_heading = "Output")]
    pub syslog_socket: Option<std::path::PathBuf>,

    /// The syslog facility: kern, user, mail, daemon (default), auth,
    /// syslog, lpr, news, uucp, cron, authpriv, ftp, local0..local7.
    #[arg(long = "syslog-facility", value_name = "NAME", requires = "syslog", help_heading = "Output")]
    pub syslog_facility: Option<String>,

    /// The syslog APP-NAME (default execsnoop).
    #[arg(long = "syslog-app-name", value_name = "NAME", requires = "syslog", help_heading = "Output")]
    pub syslog_app_name: Option<String>,

    /// Largest syslog message (default 8192, rsyslog's default); a longer
    /// record is sent in parts, marked part="K" parts="N".
    #[arg(long = "syslog-max-bytes", value_name = "BYTES", requires = "syslog", help_heading = "Output")]
    pub syslog_max_bytes: Option<usize>,

    /// Serve Prometheus metrics on http://ADDR:PORT/metrics (e.g.
    /// 127.0.0.1:9432): execs, failed execs, exits, losses, source. One
    /// thread, at most 64 connections (a new one evicts the oldest that has
    /// not sent its request), 2 s for a whole request and 2 s to take the
    /// answer, headers up to 16 KiB (else 431).
    #[arg(long = "metrics", value_name = "ADDR:PORT", help_heading = "Output")]
    pub metrics: Option<String>,

    /// With --metrics, per-command exec counters for a table of N commands
    /// (at most 1000) that keeps the busiest (any with over 1/N of all
    /// execs), plus one counter for the execs of those pushed out (default:
    /// none, to keep cardinality low).
    #[arg(long = "metrics-commands", value_name = "N", requires = "metrics", help_heading = "Output")]
    pub metrics_commands: Option<usize>,

    /// Only processes whose name (after exec) matches this regular
    /// expression (unanchored search).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// Run COMMAND and trace it and its descendants from its first exec;
    /// stop when it exits and exit with its status (127: not found, 126:
    /// found but not executable, as a shell says it).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

/// The values `--top-by` takes.
pub fn top_by_choices() -> Vec<&'static str> {
    crate::top::By::ALL.iter().map(|b| b.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("execsnoop").chain(argv.iter().copied()))
    }

    #[test]
    fn short_and_long_forms() {
        let a = parse(&["-T", "-U", "-u", "root", "-M", "-q", "-x", "-n", "sh", "-l", "x y", "-c", "/cg"]).unwrap();
        assert!(a.time && a.print_uid && a.print_pcomm && a.quote && a.fails);
        assert_eq!(a.uid.as_deref(), Some("root"));
        assert_eq!(a.name_opt.as_deref(), Some("sh"));
        assert_eq!(a.line.as_deref(), Some("x y"));
        assert_eq!(a.cgroup.as_deref(), Some(std::path::Path::new("/cg")));
        let b = parse(&[
            "--time",
            "--print-uid",
            "--uid",
            "0",
            "--print-pcomm",
            "--quote",
            "--fails",
            "--name",
            "sh",
            "--line",
            "x",
            "--cgroup",
            "/cg",
            "--print-cgroup",
        ])
        .unwrap();
        assert!(b.time && b.print_uid && b.print_pcomm && b.quote && b.fails && b.print_cgroup);
        assert_eq!(b.uid.as_deref(), Some("0"));
    }

    #[test]
    fn max_args_is_an_alias_of_argc() {
        assert_eq!(parse(&["--max-args", "2"]).unwrap().max_args, Some(2));
        assert_eq!(parse(&["--argc", "3"]).unwrap().max_args, Some(3));
        assert_eq!(parse(&["-a", "4"]).unwrap().max_args, Some(4));
    }

    #[test]
    fn boot_and_wall_time_conflict() {
        assert!(parse(&["-t", "-T"]).is_err());
        assert!(parse(&["-t"]).is_ok());
        assert!(parse(&["-T"]).is_ok());
    }
}

/// The values `--source` takes: `auto`, then every source's name, best
/// first.
pub fn source_choices() -> Vec<&'static str> {
    std::iter::once("auto").chain(crate::event::SourceKind::ALL.iter().map(|k| k.as_str())).collect()
}

/// The text after the options in `--help`: what a line is, the column
/// order (from the text format's column table, so it cannot go stale) and
/// examples.
pub(crate) fn after_help() -> String {
    let line = format!("Column order: {}.", crate::sink::column::help_line());
    // Wrapped before 80 columns, as the rest of the text is.
    let mut wrapped = String::new();
    let mut width = 0;
    for word in line.split(' ') {
        if width > 0 && width + 1 + word.len() > 79 {
            wrapped.push('\n');
            width = 0;
        } else if width > 0 {
            wrapped.push(' ');
            width += 1;
        }
        wrapped.push_str(word);
        width += word.len();
    }
    format!("{AFTER_HELP_INTRO}\n\n{wrapped}\n\n{AFTER_HELP_EXAMPLES}")
}
