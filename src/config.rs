//! The validated configuration: everything after parsing reads this, never the
//! raw flags. Building it does no I/O, so every input error surfaces here, as
//! one message, before anything touches the kernel.
//!
//! It also splits the work: [`KernelFilter`] is what the BPF program enforces
//! (set as `const volatile` values before load), [`UserFilter`] is what user
//! space checks on decoded records.

use std::time::Duration;

use regex::bytes::Regex;

use crate::cli::Args;

/// Bytes of arguments captured per exec unless `--arg-bytes` says otherwise.
pub const ARGS_CAP_DEFAULT: u32 = 32 * 1024;
/// The largest `--arg-bytes`: the kernel's own ceiling on argv+envp per exec
/// (3/4 of an 8 MiB stack).
pub const ARGS_CAP_MAX: u32 = 6 * 1024 * 1024;
/// Ring buffer size unless `--buffer-kib` says otherwise.
pub const RING_DEFAULT_BYTES: u32 = 1024 * 1024;

/// A problem with the command line, reported as one line and exit status 2.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid name regex {pattern:?}: {reason}")]
    BadRegex { pattern: String, reason: String },
    #[error("invalid duration {0:?}: give a positive number of seconds, e.g. 5 or 0.5")]
    BadDuration(String),
    #[error("--arg-bytes must be between 1 and {max}, got {got}")]
    BadArgBytes { got: u64, max: u32 },
    #[error("--ppid must be a process id greater than 0")]
    BadPpid,
    #[error("--buffer-kib must be a power of two between 4 and {max_kib}, got {got}")]
    BadBuffer { got: u64, max_kib: u32 },
}

/// How records are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputFormat {
    Text(TextOptions),
    Json,
}

/// Columns and limits of the text format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// `-t`: a first column with the kernel timestamp in seconds since boot.
    pub boot_time: bool,
    /// `-a N`: at most N arguments after argv[0], then ` [...]`.
    pub max_args: Option<usize>,
}

/// What the BPF program filters before a record is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFilter {
    /// Argument bytes captured per exec.
    pub args_cap: u32,
    /// `-P`: only processes whose parent has this process id.
    pub ppid: Option<u32>,
    /// `-u`: only processes of this real user id (resolved from a name).
    pub uid: Option<u32>,
    /// `-c`: only processes in this cgroup v2 directory or below it.
    pub cgroup: Option<CgroupTarget>,
    /// `-x`: also report failed exec attempts (attaches syscall tracepoints).
    pub fails: bool,
}

/// A cgroup v2 directory as the kernel identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupTarget {
    /// The directory as given.
    pub path: std::path::PathBuf,
    /// Its cgroup id (the directory's inode number on cgroup2).
    pub id: u64,
    /// Its depth below the cgroup2 root (the root is level 0).
    pub level: u32,
}

/// What user space filters on decoded records.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Regex searched in the process name after exec.
    pub name: Option<Regex>,
}

/// Everything execsnoop needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub format: OutputFormat,
    pub kernel: KernelFilter,
    pub user: UserFilter,
    /// `-d`: collect for this long, then print in time order and exit.
    pub duration: Option<Duration>,
    /// Ring buffer size in bytes (a power of two, a multiple of the page size).
    pub ring_bytes: u32,
}

impl Config {
    /// Validate raw flags.
    pub fn from_args(args: &Args) -> Result<Config, ConfigError> {
        let name = args
            .name
            .as_deref()
            .map(|p| {
                Regex::new(p).map_err(|e| ConfigError::BadRegex {
                    pattern: p.to_string(),
                    reason: first_line(&e.to_string()),
                })
            })
            .transpose()?;

        let duration = args.duration.as_deref().map(parse_duration).transpose()?;

        let args_cap = match args.arg_bytes {
            None => ARGS_CAP_DEFAULT,
            Some(n) if n >= 1 && n <= u64::from(ARGS_CAP_MAX) => n as u32,
            Some(n) => return Err(ConfigError::BadArgBytes { got: n, max: ARGS_CAP_MAX }),
        };

        let max_kib = 1024 * 1024; // 1 GiB
        let ring_bytes = match args.buffer_kib {
            None => RING_DEFAULT_BYTES.max(ring_for_cap(args_cap)),
            Some(k) if (4..=u64::from(max_kib)).contains(&k) && k.is_power_of_two() => (k * 1024) as u32,
            Some(k) => return Err(ConfigError::BadBuffer { got: k, max_kib }),
        };

        if args.ppid == Some(0) {
            return Err(ConfigError::BadPpid);
        }

        let format = if args.json {
            OutputFormat::Json
        } else {
            OutputFormat::Text(TextOptions { boot_time: args.timestamp, max_args: args.max_args })
        };

        Ok(Config {
            format,
            kernel: KernelFilter { args_cap, ppid: args.ppid, uid: None, cgroup: None, fails: args.fails },
            user: UserFilter { name },
            duration,
            ring_bytes,
        })
    }
}

/// The smallest power-of-two ring that holds a few maximal records.
fn ring_for_cap(cap: u32) -> u32 {
    (u64::from(cap) * 4 + 8192).next_power_of_two().min(1 << 30) as u32
}

fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let secs: f64 = s.trim().parse().map_err(|_| ConfigError::BadDuration(s.to_string()))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(ConfigError::BadDuration(s.to_string()));
    }
    // Whole milliseconds: a duration that rounds to nothing is an error, not
    // an instant exit.
    let d = Duration::from_millis((secs * 1000.0).round() as u64);
    if d.is_zero() {
        return Err(ConfigError::BadDuration(s.to_string()));
    }
    Ok(d)
}

fn first_line(s: &str) -> String {
    // regex errors are multi-line with a caret diagram; keep the meaning on one line.
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.last().map(|l| l.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cfg(argv: &[&str]) -> Result<Config, ConfigError> {
        let mut v = vec!["execsnoop"];
        v.extend_from_slice(argv);
        Config::from_args(&Args::try_parse_from(v).expect("flags parse"))
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.kernel.args_cap, ARGS_CAP_DEFAULT);
        assert_eq!(c.ring_bytes, RING_DEFAULT_BYTES);
        assert!(c.duration.is_none());
        assert_eq!(c.format, OutputFormat::Text(TextOptions::default()));
    }

    #[test]
    fn bad_regex_is_one_line() {
        let e = cfg(&["a("]).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ConfigError::BadRegex { .. }));
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn durations() {
        assert_eq!(cfg(&["-d", "0.5"]).unwrap().duration, Some(Duration::from_millis(500)));
        assert!(cfg(&["-d", "0"]).is_err());
        assert!(cfg(&["-d", "-1"]).is_err());
        assert!(cfg(&["-d", "x"]).is_err());
        assert!(cfg(&["-d", "inf"]).is_err());
        assert!(cfg(&["-d", "0.0001"]).is_err(), "rounds to zero");
        assert!(cfg(&["-d", "1e-10"]).is_err(), "rounds to zero");
        assert_eq!(cfg(&["-d", "0.001"]).unwrap().duration, Some(Duration::from_millis(1)));
    }

    #[test]
    fn arg_bytes_bounds() {
        assert_eq!(cfg(&["--arg-bytes", "100"]).unwrap().kernel.args_cap, 100);
        assert!(cfg(&["--arg-bytes", "0"]).is_err());
        assert!(cfg(&["--arg-bytes", "6291457"]).is_err());
        let big = cfg(&["--arg-bytes", "6291456"]).unwrap();
        assert!(big.ring_bytes >= 4 * 6291456, "ring grows with the cap");
    }

    #[test]
    fn buffer_must_be_power_of_two() {
        assert_eq!(cfg(&["--buffer-kib", "64"]).unwrap().ring_bytes, 65536);
        assert!(cfg(&["--buffer-kib", "100"]).is_err());
        assert!(cfg(&["--buffer-kib", "2"]).is_err());
    }

    #[test]
    fn json_and_text_options() {
        assert_eq!(cfg(&["--json"]).unwrap().format, OutputFormat::Json);
        let c = cfg(&["-t", "-a", "2"]).unwrap();
        assert_eq!(c.format, OutputFormat::Text(TextOptions { boot_time: true, max_args: Some(2) }));
    }

    #[test]
    fn name_regex_searches_unanchored() {
        let c = cfg(&["sh$"]).unwrap();
        let re = c.user.name.unwrap();
        assert!(re.is_match(b"bash"));
        assert!(!re.is_match(b"shell"));
    }
}
