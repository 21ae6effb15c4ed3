//! The validated configuration: everything after parsing reads this, never the
//! raw flags. Building it does only the I/O needed to resolve what the user
//! named (a user name for `-u`, a cgroup directory for `-c`, the cgroup2
//! mount for `--print-cgroup`), so every input error surfaces here, as one
//! message, before anything touches the kernel.
//!
//! It also splits the work: [`KernelFilter`] is what the BPF program enforces
//! (set as `const volatile` values before load), [`UserFilter`] is what user
//! space checks on decoded records. The stages never read it whole where they
//! need not: it builds what the sources get ([`Config::source_request`]; the
//! request's types are owned by [`crate::source`]) and what the sinks get
//! ([`Config::sink_request`]).

use std::ffi::CString;
use std::time::Duration;

use regex::bytes::Regex;

use crate::cgroup::{self, Hierarchy};
use crate::cli::Args;
use crate::event::SourceKind;
pub use crate::metrics::MetricsOptions;
pub use crate::sink::file::Rotation;
pub use crate::sink::text::{ExitDisplay, TextOptions};
pub use crate::sink::{Destination, OutputFormat, SinkRequest};
pub use crate::sink::syslog::{FACILITIES, SyslogOptions};
pub use crate::top::{By as TopBy, TopMode, TopOptions};
pub use crate::source::{
    ARGS_CAP_DEFAULT, ARGS_CAP_MAX, Capture, CgroupTarget, KernelFilter, SourceChoice, SourceRequest,
};

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
    #[error("invalid line regex {pattern:?}: {reason}")]
    BadLineRegex { pattern: String, reason: String },
    #[error("give the name regex either as NAME or with -n/--name, not both")]
    NameTwice,
    #[error("unknown user {0:?} (give a user name or a numeric uid)")]
    UnknownUser(String),
    #[error("cannot look up user {user:?}: {reason}")]
    UserLookup { user: String, reason: String },
    #[error("--uid {0:?} is not a valid user id")]
    BadUid(String),
    #[error("--cgroup {path}: {reason}")]
    Cgroup { path: String, reason: String },
    #[error("--print-cgroup: {0}")]
    PrintCgroup(String),
    #[error("unknown --source {0:?}")]
    BadSource(String),
    #[error("--pid must be a process id greater than 0")]
    BadPid,
    #[error("--pid {0}: no such process")]
    NoSuchPid(u32),
    #[error("give either --pid or a COMMAND to run, not both")]
    PidAndCommand,
    #[error("-d cannot be combined with a COMMAND: tracing ends when the command exits")]
    DurationAndCommand,
    #[error("--env-bytes must be between 1 and {max}, got {got}")]
    BadEnvBytes { got: u64, max: u32 },
    #[error("--rotate-size {0:?}: give a size in bytes, or with a K, M or G suffix, e.g. 100M")]
    BadRotateSize(String),
    #[error(
        "--syslog-facility {0:?}: give one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0..local7"
    )]
    BadFacility(String),
    #[error("--syslog-app-name {0:?}: give 1 to 48 printable ASCII characters without spaces")]
    BadAppName(String),
    #[error("--syslog-max-bytes must be between 480 and 65000, got {0}")]
    BadSyslogMax(usize),
    #[error("--metrics {0:?}: give an IP address and port, e.g. 127.0.0.1:9432 or [::1]:9432")]
    BadMetricsAddr(String),
    #[error("--metrics-commands must be at most {max} (each command is a series), got {got}")]
    TooManyMetricsCommands { got: usize, max: usize },
    #[error("invalid --redact regex {pattern:?}: {reason}")]
    BadRedact { pattern: String, reason: String },
    #[error("--container {0:?}: give the start of a container id (hexadecimal digits)")]
    BadContainer(String),
    #[error("invalid --interval {0:?}: give a positive number of seconds, e.g. 1 or 0.5")]
    BadInterval(String),
    #[error("--top-keys must be between 1 and {max}, got {got}")]
    BadTopKeys { got: usize, max: usize },
    #[error("{0} needs a cgroup v2 hierarchy to read container ids from, and none is mounted")]
    NoHierarchy(&'static str),
}

/// A path the user gave, escaped for a message ([`crate::escape::escape`]):
/// its bytes exactly, never a control byte raw.
fn escape_path(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    crate::escape::escape(path.as_os_str().as_bytes())
}

/// What user space filters on decoded records.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Regex searched in the process name after exec.
    pub name: Option<Regex>,
    /// `-l`: regex searched in the arguments joined by single spaces.
    pub line: Option<Regex>,
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
    /// `--print-cgroup`: the cgroup2 hierarchy whose paths are shown.
    pub print_cgroup: Option<Hierarchy>,
    /// `--source`.
    pub source: SourceChoice,
    /// `--summary`: a table of commands by CPU when tracing ends.
    pub summary: bool,
    /// `--wait`: each exec written when its process ends ([`crate::wait`]).
    pub wait: bool,
    /// `-- COMMAND ARGS...`: run this and trace its tree.
    pub command: Option<Vec<std::ffi::OsString>>,
    /// `--cwd`, `--env`, `--context`, containers, ancestry.
    pub context: ContextOptions,
    /// Where the records go: stdout, `--output`, `--syslog`.
    pub destination: Destination,
    /// `--metrics`.
    pub metrics: Option<MetricsOptions>,
    /// `--top`: a live view instead of the log ([`crate::top`]).
    pub top: Option<TopOptions>,
}

/// What else is read at each exec, and what is added to it, beyond the
/// exec itself (`--cwd`, `--env`, `--context`, containers, ancestry).
#[derive(Debug, Clone, Default)]
pub struct ContextOptions {
    /// `--cwd`: the working directory.
    pub cwd: bool,
    /// `--env`: the environment block, at most `env_cap` bytes.
    pub env: bool,
    pub env_cap: u32,
    /// Redact secrets in the arguments and environment with the default
    /// rules of [`crate::redact`] (on unless `--no-redact`).
    pub redact: bool,
    /// `--redact`: what else to redact, on the command line and in each
    /// environment entry.
    pub redact_extra: Vec<Regex>,
    /// `--context`: credentials, namespaces and ids, read in the kernel.
    pub context: bool,
    /// `--print-container`: a CONTAINER column.
    pub print_container: bool,
    /// `--container`: only containers whose id starts with this.
    pub container: Option<String>,
    /// `--host` (`Some(true)`) or `--containers` (`Some(false)`): by pid
    /// namespace, in the kernel.
    pub host: Option<bool>,
    /// `--ancestry N`.
    pub ancestry: usize,
    /// `--names`: user names for `-U`.
    pub names: bool,
    /// The cgroup2 hierarchy container ids are read from, when containers
    /// are asked for.
    pub hierarchy: Option<Hierarchy>,
}

impl ContextOptions {
    /// The context the kernel must read at the exec (PIECE_CTX).
    pub fn kernel_context(&self) -> bool {
        self.context || self.ancestry > 0
    }

    /// Whether containers are named (from cgroup paths).
    pub fn containers(&self) -> bool {
        self.context || self.print_container || self.container.is_some()
    }

    /// Whether any of it is asked for (the sources that cannot read it
    /// at the exec refuse it).
    pub fn any(&self) -> bool {
        self.cwd
            || self.env
            || self.kernel_context()
            || self.print_container
            || self.container.is_some()
            || self.host.is_some()
    }
}

impl Config {
    /// What the sinks are to write, and where.
    pub fn sink_request(&self) -> SinkRequest {
        let c = &self.context;
        SinkRequest {
            destination: self.destination.clone(),
            format: self.format.clone(),
            cgroups: self.print_cgroup.is_some(),
            fields: crate::sink::json::ContextFields {
                cwd: c.cwd,
                env: c.env,
                context: c.kernel_context(),
                ancestry: c.ancestry > 0,
                containers: c.containers(),
                args_redacted: !c.redact_extra.is_empty(),
                redacted: c.redact,
            },
        }
    }

    /// What the sources are to capture, filter and follow, and which one
    /// to start.
    pub fn source_request(&self) -> SourceRequest {
        let c = &self.context;
        SourceRequest {
            choice: self.source,
            kernel: self.kernel.clone(),
            capture: Capture {
                cwd: c.cwd,
                env: c.env,
                env_cap: c.env_cap,
                context: c.context,
                ancestry: c.ancestry > 0,
                print_container: c.print_container,
                container: c.container.is_some(),
                host: c.host,
            },
            ring_bytes: self.ring_bytes,
        }
    }

    /// Validate raw flags.
    pub fn from_args(args: &Args) -> Result<Config, ConfigError> {
        if args.name.is_some() && args.name_opt.is_some() {
            return Err(ConfigError::NameTwice);
        }
        let name = args
            .name
            .as_deref()
            .or(args.name_opt.as_deref())
            .map(|p| {
                Regex::new(p)
                    .map_err(|e| ConfigError::BadRegex { pattern: p.to_string(), reason: first_line(&e.to_string()) })
            })
            .transpose()?;
        let line = args
            .line
            .as_deref()
            .map(|p| {
                Regex::new(p).map_err(|e| ConfigError::BadLineRegex {
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

        let uid = args.uid.as_deref().map(resolve_user).transpose()?;

        let cgroup = match &args.cgroup {
            None => None,
            Some(path) => {
                let at =
                    cgroup::locate(path).map_err(|reason| ConfigError::Cgroup { path: escape_path(path), reason })?;
                Some(CgroupTarget { path: path.clone(), id: at.id, level: at.level })
            }
        };

        let print_cgroup = if args.print_cgroup {
            match cgroup::find_hierarchy() {
                Ok(Some(h)) => Some(h),
                Ok(None) => return Err(ConfigError::PrintCgroup("no cgroup v2 hierarchy is mounted".into())),
                Err(e) => return Err(ConfigError::PrintCgroup(format!("cannot read /proc/self/mountinfo: {e}"))),
            }
        } else {
            None
        };

        let source = match args.source.as_str() {
            "auto" => SourceChoice::Auto,
            name => {
                SourceChoice::Only(SourceKind::named(name).ok_or_else(|| ConfigError::BadSource(name.to_string()))?)
            }
        };
        match args.pid {
            Some(0) => return Err(ConfigError::BadPid),
            Some(pid) if !crate::source::proc::pid_alive(pid) => return Err(ConfigError::NoSuchPid(pid)),
            _ => {}
        }
        let command = (!args.command.is_empty()).then(|| args.command.clone());
        if command.is_some() && args.pid.is_some() {
            return Err(ConfigError::PidAndCommand);
        }
        if command.is_some() && duration.is_some() {
            return Err(ConfigError::DurationAndCommand);
        }
        let exits_shown = if args.wait {
            ExitDisplay::Wait
        } else if args.exits {
            ExitDisplay::Lines
        } else {
            ExitDisplay::Off
        };
        let exits = args.exits || args.wait || args.summary || args.top;
        let track = exits || args.pid.is_some() || command.is_some() || args.tree;

        let format = if args.json {
            OutputFormat::Json
        } else {
            OutputFormat::Text(TextOptions {
                boot_time: args.timestamp,
                max_args: args.max_args,
                wall_time: args.time,
                uid: args.print_uid,
                pcomm: args.print_pcomm,
                ret: args.fails,
                quote: args.quote,
                exits: exits_shown,
                tree: args.tree,
                cwd: args.cwd,
                env: args.env,
                container: args.print_container,
                privilege: args.context || args.ancestry.is_some(),
                names: args.names,
            })
        };

        let env_cap = match args.env_bytes {
            None => ARGS_CAP_DEFAULT,
            Some(n) if n >= 1 && n <= u64::from(ARGS_CAP_MAX) => n as u32,
            Some(n) => return Err(ConfigError::BadEnvBytes { got: n, max: ARGS_CAP_MAX }),
        };
        let redact_extra = args
            .redact
            .iter()
            .map(|p| {
                Regex::new(p)
                    .map_err(|e| ConfigError::BadRedact { pattern: p.clone(), reason: first_line(&e.to_string()) })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(c) = &args.container
            && (c.is_empty() || c.len() > 64 || !c.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ConfigError::BadContainer(c.clone()));
        }
        let mut context = ContextOptions {
            cwd: args.cwd,
            env: args.env,
            env_cap,
            redact: !args.no_redact,
            redact_extra,
            context: args.context,
            print_container: args.print_container,
            container: args.container.as_ref().map(|c| c.to_ascii_lowercase()),
            host: if args.host {
                Some(true)
            } else if args.containers {
                Some(false)
            } else {
                None
            },
            ancestry: args.ancestry.unwrap_or(0),
            names: args.names,
            hierarchy: None,
        };
        if context.containers() || args.top {
            let what = if args.container.is_some() {
                "--container"
            } else if args.print_container {
                "--print-container"
            } else {
                "--context"
            };
            let found = cgroup::find_hierarchy().ok().flatten();
            // --top's unit, cgroup and container keys stay blank without one.
            if !args.top || context.containers() {
                context.hierarchy = Some(found.ok_or(ConfigError::NoHierarchy(what))?);
            } else {
                context.hierarchy = found;
            }
        }
        let top = args.top.then(|| top_options(args)).transpose()?;

        Ok(Config {
            context,
            format,
            kernel: KernelFilter {
                args_cap,
                ppid: args.ppid,
                uid,
                cgroup,
                fails: args.fails,
                track,
                exits,
                pid: args.pid,
            },
            user: UserFilter { name, line },
            duration,
            ring_bytes,
            print_cgroup,
            source,
            summary: args.summary,
            wait: args.wait,
            command,
            destination: destination(args)?,
            metrics: args
                .metrics
                .as_deref()
                .map(|a| {
                    let addr = a.parse::<std::net::SocketAddr>().map_err(|_| ConfigError::BadMetricsAddr(a.into()))?;
                    let commands = args.metrics_commands.unwrap_or(0);
                    if commands > crate::metrics::MAX_COMMANDS {
                        return Err(ConfigError::TooManyMetricsCommands {
                            got: commands,
                            max: crate::metrics::MAX_COMMANDS,
                        });
                    }
                    Ok(MetricsOptions { addr, commands })
                })
                .transpose()?,
            top,
        })
    }
}

/// `--top` and its options; the filters in force as the header says them.
fn top_options(args: &Args) -> Result<TopOptions, ConfigError> {
    let interval = match args.interval.as_deref() {
        None => Duration::from_secs(1),
        Some(s) => parse_duration(s).map_err(|_| ConfigError::BadInterval(s.to_string()))?,
    };
    let keys = match args.top_keys {
        None => crate::top::KEYS_DEFAULT,
        Some(n) if (1..=crate::top::KEYS_MAX).contains(&n) => n,
        Some(n) => return Err(ConfigError::BadTopKeys { got: n, max: crate::top::KEYS_MAX }),
    };
    let by = args.top_by.as_deref().map_or(Some(TopBy::Comm), TopBy::named).unwrap_or_default();
    let mut f: Vec<String> = Vec::new();
    let mut flag = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            f.push(format!("{name} {}", crate::escape::escape(v.as_bytes())));
        }
    };
    flag("-u", args.uid.clone());
    flag("-P", args.ppid.map(|p| p.to_string()));
    flag("-p", args.pid.map(|p| p.to_string()));
    flag("-c", args.cgroup.as_ref().map(|c| c.display().to_string()));
    flag("-n", args.name.clone().or_else(|| args.name_opt.clone()));
    flag("-l", args.line.clone());
    flag("--container", args.container.clone());
    if args.host {
        f.push("--host".into());
    }
    if args.containers {
        f.push("--containers".into());
    }
    if !args.command.is_empty() {
        f.push("-- COMMAND".into());
    }
    Ok(TopOptions { by, keys, interval, batch: args.batch, json: args.json, filters: f.join(" ") })
}

/// `--output` (with its rotation) or `--syslog`, else stdout.
fn destination(args: &Args) -> Result<Destination, ConfigError> {
    if let Some(path) = &args.output {
        let rotation = args
            .rotate_size
            .as_deref()
            .map(|s| {
                let size = parse_size(s).ok_or_else(|| ConfigError::BadRotateSize(s.into()))?;
                Ok(Rotation { size, keep: args.rotate_keep.unwrap_or(5) })
            })
            .transpose()?;
        return Ok(Destination::File { path: path.clone(), rotation });
    }
    if args.syslog {
        let facility = match &args.syslog_facility {
            None => 3,
            Some(name) => FACILITIES
                .iter()
                .find(|(n, _)| n == name)
                .map(|&(_, f)| f)
                .ok_or_else(|| ConfigError::BadFacility(name.clone()))?,
        };
        let app_name = args.syslog_app_name.clone().unwrap_or_else(|| "execsnoop".into());
        if app_name.is_empty() || app_name.len() > 48 || !app_name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::BadAppName(app_name));
        }
        let max_bytes = args.syslog_max_bytes.unwrap_or(8192);
        if !(480..=65000).contains(&max_bytes) {
            return Err(ConfigError::BadSyslogMax(max_bytes));
        }
        let socket = args.syslog_socket.clone().unwrap_or_else(|| "/dev/log".into());
        return Ok(Destination::Syslog(SyslogOptions { socket, facility, app_name, max_bytes }));
    }
    Ok(Destination::Stdout)
}

/// `100`, `512K`, `100M`, `2G` (binary multiples); at least 1 byte.
fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num.parse().ok()?;
    n.checked_mul(mult).filter(|&v| v > 0)
}

/// `-u USER`: a number is a uid as is (it need not have a passwd entry);
/// anything else is a user name, looked up with getpwnam_r (NSS included).
fn resolve_user(user: &str) -> Result<u32, ConfigError> {
    if !user.is_empty() && user.bytes().all(|b| b.is_ascii_digit()) {
        // (uid_t)-1 means "no user" to the kernel and to the BPF filter.
        return match user.parse::<u32>() {
            Ok(n) if n != u32::MAX => Ok(n),
            _ => Err(ConfigError::BadUid(user.to_string())),
        };
    }
    match lookup_user(user) {
        Ok(Some(uid)) => Ok(uid),
        Ok(None) => Err(ConfigError::UnknownUser(user.to_string())),
        Err(reason) => Err(ConfigError::UserLookup { user: user.to_string(), reason }),
    }
}

/// The uid of user `name` from the passwd database; `None` if there is no
/// such user.
fn lookup_user(name: &str) -> Result<Option<u32>, String> {
    let Ok(cname) = CString::new(name) else { return Ok(None) };
    if name.is_empty() {
        return Ok(None);
    }
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: passwd is plain old data; all-zero is a valid value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the duration of the call: the
        // NUL-terminated name, the passwd and result slots, and `buf` with
        // its true length, into which the strings of the entry are written.
        let rc = unsafe { libc::getpwnam_r(cname.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if !found.is_null() {
            return Ok(Some(pwd.pw_uid));
        }
        // "Not found" may come back as 0 or, from some NSS modules, as one
        // of these.
        return match rc {
            0 | libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => Ok(None),
            e => Err(std::io::Error::from_raw_os_error(e).to_string()),
        };
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

/// The configuration for command-line flags, for unit tests of the stages
/// and sources. `-p PID` may name a made-up process (the trackers' tests
/// feed them fake events): it is set after validation, which wants a live one.
#[cfg(test)]
pub(crate) fn for_tests(flags: &[&str]) -> Config {
    use clap::Parser;
    let mut flags = flags.to_vec();
    let pid = flags.iter().position(|f| *f == "-p" || *f == "--pid").map(|i| {
        let pid = flags.remove(i + 1).parse::<u32>().expect("-p takes a number");
        flags.remove(i);
        pid
    });
    let argv = std::iter::once("execsnoop").chain(flags.iter().copied());
    let mut config = Config::from_args(&Args::try_parse_from(argv).expect("flags parse")).expect("valid flags");
    if pid.is_some() {
        config.kernel.pid = pid;
        config.kernel.track = true;
    }
    config
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
        assert_eq!(
            c.format,
            OutputFormat::Text(TextOptions { boot_time: true, max_args: Some(2), ..TextOptions::default() })
        );
        let c = cfg(&["-T", "-U", "-M", "-x", "-q", "--max-args", "3"]).unwrap();
        assert_eq!(
            c.format,
            OutputFormat::Text(TextOptions {
                boot_time: false,
                max_args: Some(3),
                wall_time: true,
                uid: true,
                pcomm: true,
                ret: true,
                quote: true,
                ..TextOptions::default()
            })
        );
        assert!(c.kernel.fails);
        assert!(!cfg(&[]).unwrap().kernel.fails);
    }

    #[test]
    fn users_by_number_and_name() {
        assert_eq!(cfg(&["-u", "0"]).unwrap().kernel.uid, Some(0));
        assert_eq!(cfg(&["-u", "root"]).unwrap().kernel.uid, Some(0));
        assert_eq!(cfg(&["--uid", "12345"]).unwrap().kernel.uid, Some(12345), "a uid needs no passwd entry");
        assert_eq!(cfg(&[]).unwrap().kernel.uid, None);
        let e = cfg(&["-u", "no-such-user-execsnoop"]).unwrap_err();
        assert_eq!(e, ConfigError::UnknownUser("no-such-user-execsnoop".into()));
        assert!(!e.to_string().contains('\n'));
        assert!(matches!(cfg(&["-u", ""]).unwrap_err(), ConfigError::UnknownUser(_)));
        assert!(matches!(cfg(&["-u", "4294967295"]).unwrap_err(), ConfigError::BadUid(_)));
        assert!(matches!(cfg(&["-u", "99999999999"]).unwrap_err(), ConfigError::BadUid(_)));
        assert!(matches!(cfg(&["--uid=-1"]), Err(ConfigError::UnknownUser(_))));
    }

    #[test]
    fn name_option_and_positional() {
        let re = cfg(&["-n", "sh$"]).unwrap().user.name.unwrap();
        assert!(re.is_match(b"bash"));
        assert_eq!(cfg(&["-n", "a", "b"]).unwrap_err(), ConfigError::NameTwice);
        assert!(matches!(cfg(&["--name", "a("]).unwrap_err(), ConfigError::BadRegex { .. }));
    }

    #[test]
    fn line_regex() {
        let re = cfg(&["-l", "a b"]).unwrap().user.line.unwrap();
        assert!(re.is_match(b"x a b"));
        let e = cfg(&["-l", "("]).unwrap_err();
        assert!(matches!(e, ConfigError::BadLineRegex { .. }));
        assert!(e.to_string().starts_with("invalid line regex \"(\": "), "{e}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn cgroup_errors_are_one_line() {
        let e = cfg(&["-c", "/nonexistent/cg"]).unwrap_err();
        assert!(matches!(e, ConfigError::Cgroup { .. }));
        assert!(e.to_string().starts_with("--cgroup /nonexistent/cg: "), "{e}");
        let e = cfg(&["-c", "/proc"]).unwrap_err();
        assert!(e.to_string().contains("not a cgroup v2 directory"), "{e}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    #[ignore = "needs a cgroup2 hierarchy: run with --include-ignored"]
    fn cgroup_root_and_print() {
        let h = crate::cgroup::find_hierarchy().ok().flatten().expect("a cgroup2 hierarchy is mounted");
        let c = cfg(&["-c", h.mount_point.to_str().unwrap(), "--print-cgroup"]).unwrap();
        let t = c.kernel.cgroup.unwrap();
        assert_eq!(t.path, h.mount_point);
        assert_eq!(t.level, h.root.split(|&b| b == b'/').filter(|c| !c.is_empty()).count() as u32);
        assert_eq!(c.print_cgroup, Some(h));
        assert_eq!(cfg(&[]).unwrap().print_cgroup, None);
    }

    #[test]
    fn metrics_commands_are_bounded() {
        let m = |n: &str| cfg(&["--metrics", "127.0.0.1:9432", "--metrics-commands", n]);
        assert_eq!(m("1000").unwrap().metrics.map(|o| o.commands), Some(1000));
        assert_eq!(m("0").unwrap().metrics.map(|o| o.commands), Some(0));
        let e = m("1001").unwrap_err();
        assert!(matches!(e, ConfigError::TooManyMetricsCommands { got: 1001, max: 1000 }));
        assert_eq!(e.to_string(), "--metrics-commands must be at most 1000 (each command is a series), got 1001");
    }

    #[test]
    fn name_regex_searches_unanchored() {
        let c = cfg(&["sh$"]).unwrap();
        let re = c.user.name.unwrap();
        assert!(re.is_match(b"bash"));
        assert!(!re.is_match(b"shell"));
    }
}
