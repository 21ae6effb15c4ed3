//! Event sources: where records come from. A source turns its raw input into
//! [`Record`]s and hands them on; it never formats, prints or filters beyond
//! what it declares.
//!
//! Every source has the same shape: a file descriptor to wait on, and a
//! `drain` that delivers what is ready. Each one also declares, in a static
//! [`SourceInfo`], what it can give (argument fidelity, failed execs, exit
//! status and CPU), which filters it applies itself (the bpf source applies
//! `-P -u -c -p` in the kernel; the others only follow a `-p` tree), what it
//! refuses and why, and how often it must be drained. [`SourceKind::ALL`] lists them,
//! best first; everything else is derived from that table: the values of
//! `--source`, the order `auto` tries, the one-line refusals, the poll
//! interval of the runner, and which filters the pipeline still applies
//! ([`crate::filter::Select`]). So adding a source is one new file here, with
//! its `INFO`, plus a variant of [`SourceKind`] (a plain value in the event
//! model) that [`SourceKind::info`] maps to it.
//!
//! Sources, best first: `bpf` (exact: arguments read in the kernel at the
//! exec), `ftrace` (the original execsnoop's method; arguments from a kprobe
//! where the kernel has them, else `/proc/PID/cmdline`), `netlink` (the
//! kernel's process connector; arguments from `/proc`), `procfs` (no
//! privileges; polls `/proc`, misses processes shorter than its interval).

pub(crate) mod bpf;
pub(crate) mod ftrace;
pub(crate) mod netlink;
pub(crate) mod proc;
pub(crate) mod procfs;
mod request;

use std::os::fd::BorrowedFd;
use std::time::Duration;

pub use crate::event::SourceKind;
/// The bpf source's decoding fed from memory, for benchmarks.
#[doc(hidden)]
pub use bpf::replay::{Replay, SyntheticExec, SyntheticExit};
use crate::event::{ArgsFrom, Record};
pub use request::{ARGS_CAP_DEFAULT, ARGS_CAP_MAX, Capture, CgroupTarget, KernelFilter, SourceChoice, SourceRequest};

/// What a source is and can do, declared once, next to its code.
#[derive(Debug)]
pub struct SourceInfo {
    /// Its name on the command line (`--source NAME`), in messages and in JSON.
    pub name: &'static str,
    /// Where its exec records' arguments come from, at best.
    pub args: ArgsFrom,
    /// Whether its exit records carry the exit status, and CPU time.
    pub exit_status: bool,
    pub exit_cpu: bool,
    /// The filters it applies to every record it delivers; the pipeline
    /// applies the others.
    pub applies: Applies,
    /// Options it cannot honour, with the reason (one line each).
    pub refuses: &'static [(Need, &'static str)],
    /// While tracing, the runner drains it at least this often, even when
    /// its descriptor stays quiet (loss counters, timers); `None`: only
    /// when its descriptor is ready or the loop wakes anyway (the bpf
    /// source, so that an idle tracer never wakes).
    pub poll: Option<Duration>,
    /// Start it; when this returns, every later exec is captured.
    pub open: fn(&SourceRequest) -> Result<Box<dyn Source>, SourceError>,
}

/// The filters a source applies itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applies {
    /// `-P`: only children of a process.
    pub ppid: bool,
    /// `-u`: only processes of a user.
    pub uid: bool,
    /// `-c`: only processes in a cgroup subtree.
    pub cgroup: bool,
    /// `-p` and a COMMAND: only a process and its descendants. Every source
    /// does this itself: it needs the process tree, which only sources see.
    pub tree: bool,
}

/// An option some sources cannot honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// `-x`: failed exec attempts.
    FailedExecs,
    /// `-c`: a cgroup filter.
    Cgroup,
    /// `-u`: a user filter.
    Uid,
    /// `--cwd`, `--env`, `--context`, containers and ancestry: what is read
    /// of the new process in the kernel at the exec.
    Context,
}

impl Need {
    /// What `request` asks for, of the options some sources refuse, each
    /// with the option that asks for it, as the user typed it.
    fn of(request: &SourceRequest) -> Vec<(Need, &'static str)> {
        let k = &request.kernel;
        let c = &request.capture;
        [
            (k.fails, Need::FailedExecs, "-x"),
            (k.cgroup.is_some(), Need::Cgroup, "-c"),
            (k.uid.is_some(), Need::Uid, "-u"),
            (c.cwd, Need::Context, "--cwd"),
            (c.env, Need::Context, "--env"),
            (c.context, Need::Context, "--context"),
            (c.print_container, Need::Context, "--print-container"),
            (c.container, Need::Context, "--container"),
            (c.host == Some(true), Need::Context, "--host"),
            (c.host == Some(false), Need::Context, "--containers"),
            (c.ancestry, Need::Context, "--ancestry"),
        ]
        .into_iter()
        .filter_map(|(asked, need, option)| asked.then_some((need, option)))
        .collect()
    }
}

/// What each source declares, by its kind.
impl SourceKind {
    /// What it declares (its `INFO`).
    pub fn info(self) -> &'static SourceInfo {
        match self {
            SourceKind::Bpf => &bpf::INFO,
            SourceKind::Ftrace => &ftrace::INFO,
            SourceKind::Netlink => &netlink::INFO,
            SourceKind::Procfs => &procfs::INFO,
        }
    }
}

/// Why a source could not start or stopped working. Each message is one line
/// meant for the user, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Permission(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("the kernel's BPF verifier rejected the {program} program: {reason}\n{log_tail}")]
    Verifier { program: String, reason: String, log_tail: String },
    #[error("{0}")]
    Other(String),
}

/// Something records come from.
pub trait Source {
    /// A descriptor that becomes readable when records are waiting.
    fn fd(&self) -> BorrowedFd<'_>;

    /// Hand every record that is ready now to `sink`, including notices of
    /// records lost since the last call. Returns how many records were handed
    /// on. An error from `sink` stops the drain and is returned as is.
    ///
    /// Each record is lent: a stage that keeps it moves it out
    /// ([`Record::take`]), and a source may refill what comes back for the
    /// next record, so that steady state allocates nothing (the bpf source
    /// does).
    fn drain(&mut self, sink: &mut dyn FnMut(&mut Record) -> std::io::Result<()>) -> std::io::Result<usize>;

    /// One line for the user about how far to trust this source, printed
    /// when tracing starts (e.g. the /proc poller's interval); `None` for a
    /// source with nothing to say.
    fn notice(&self) -> Option<String> {
        None
    }

    /// Stop producing records (detach from the kernel). Records already
    /// produced stay available to a final [`Source::drain`], which then also
    /// reports every loss: after stop + drain, accounting is exact.
    fn stop(&mut self);
}

/// A source that started.
pub struct Opened {
    pub source: Box<dyn Source>,
    /// Which one it is.
    pub kind: SourceKind,
    /// With `--source auto`, when a better one did not start: which, and why.
    pub fallback: Option<String>,
}

/// Open the source `request` asks for. With `--source auto`, try each in
/// order of quality and say, with the one that started, which better ones
/// failed and why.
pub fn open(request: &SourceRequest) -> Result<Opened, SourceError> {
    if let SourceChoice::Only(kind) = request.choice {
        return Ok(Opened { source: open_one(kind.info(), request)?, kind, fallback: None });
    }
    let mut failures: Vec<String> = Vec::new();
    for kind in SourceKind::ALL {
        let info = kind.info();
        match open_one(info, request) {
            Ok(source) => {
                let fallback =
                    (!failures.is_empty()).then(|| format!("using the {} source: {}", info.name, failures.join("; ")));
                return Ok(Opened { source, kind, fallback });
            }
            Err(e) => failures.push(format!("{} failed ({})", info.name, first_line(&e.to_string()))),
        }
    }
    Err(SourceError::Other(format!("no event source could start: {}", failures.join("; "))))
}

/// Open one source, after checking that it can honour every option given.
fn open_one(info: &'static SourceInfo, request: &SourceRequest) -> Result<Box<dyn Source>, SourceError> {
    for (need, option) in Need::of(request) {
        if let Some((_, why)) = info.refuses.iter().find(|(n, _)| *n == need) {
            return Err(SourceError::Unsupported(format!(
                "{option} is not available with the {} source: {why}",
                info.name
            )));
        }
    }
    (info.open)(request)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let names = crate::cli::source_choices();
        assert_eq!(names, ["auto", "bpf", "ftrace", "netlink", "procfs"]);
        for info in SourceKind::ALL.map(SourceKind::info) {
            assert_eq!(SourceKind::named(info.name).map(SourceKind::info).map(|i| i.name), Some(info.name));
        }
        assert_eq!(SourceKind::named("auto"), None);
        assert_eq!(SourceKind::default(), SourceKind::Bpf);
        assert_ne!(SourceKind::Bpf, SourceKind::Ftrace);
    }

    /// Every refusal comes from the table, as one line naming the option
    /// as the user typed it and the source, before the source is touched,
    /// for every option some source refuses; `--source NAME` reaches it
    /// through [`open`]. The sources' own tests do not repeat this; the
    /// exit status and the one line of the binary are checked once per
    /// refusing source in tests/cli.rs.
    #[test]
    fn refusals_are_derived_from_the_table() {
        let request = |flags: &[&str]| crate::config::for_tests(flags).source_request();
        // -c, --print-container and --container need a cgroup2 hierarchy to
        // validate: what they ask of the sources is set directly.
        let with = |set: fn(&mut SourceRequest)| {
            let mut r = request(&[]);
            set(&mut r);
            r
        };
        let cases = [
            (request(&["-x"]), Need::FailedExecs, "-x"),
            (request(&["-u", "0"]), Need::Uid, "-u"),
            (
                with(|r| r.kernel.cgroup = Some(CgroupTarget { path: "/sys/fs/cgroup/x".into(), id: 7, level: 1 })),
                Need::Cgroup,
                "-c",
            ),
            (request(&["--cwd"]), Need::Context, "--cwd"),
            (request(&["--env"]), Need::Context, "--env"),
            (request(&["--context"]), Need::Context, "--context"),
            (with(|r| r.capture.print_container = true), Need::Context, "--print-container"),
            (with(|r| r.capture.container = true), Need::Context, "--container"),
            (request(&["--host"]), Need::Context, "--host"),
            (request(&["--containers"]), Need::Context, "--containers"),
            (request(&["--ancestry", "2"]), Need::Context, "--ancestry"),
        ];
        assert!(Need::of(&request(&[])).is_empty(), "no option, nothing to refuse");
        let mut refused = Vec::new();
        for (request, need, option) in &cases {
            assert_eq!(Need::of(request), [(*need, *option)], "{option} asks for exactly this");
            for kind in SourceKind::ALL {
                let info = kind.info();
                let Some((_, why)) = info.refuses.iter().find(|(n, _)| n == need) else { continue };
                refused.push((info.name, *option));
                let only = SourceRequest { choice: SourceChoice::Only(kind), ..request.clone() };
                let Err(e) = open(&only) else { panic!("{option} with the {} source: not refused", info.name) };
                assert!(matches!(e, SourceError::Unsupported(_)), "{e}");
                let msg = e.to_string();
                assert_eq!(msg, format!("{option} is not available with the {} source: {why}", info.name));
                assert!(!msg.contains('\n'));
            }
        }
        let of = |name: &str| refused.iter().filter(|(n, _)| *n == name).map(|(_, o)| *o).collect::<Vec<_>>();
        let context =
            ["--cwd", "--env", "--context", "--print-container", "--container", "--host", "--containers", "--ancestry"];
        assert_eq!(of("bpf"), Vec::<&str>::new());
        assert_eq!(of("ftrace"), [&["-x", "-u", "-c"][..], &context].concat());
        assert_eq!(of("netlink"), [&["-x", "-c"][..], &context].concat());
        assert_eq!(of("procfs"), [&["-x", "-c"][..], &context].concat());
    }

    /// Only the bpf source filters in the kernel; every source follows a tree.
    #[test]
    fn declared_filters() {
        for info in SourceKind::ALL.map(SourceKind::info) {
            assert!(info.applies.tree, "{}", info.name);
            let kernel = info.applies.ppid && info.applies.uid && info.applies.cgroup;
            assert_eq!(kernel, info.name == "bpf", "{}", info.name);
            // A source that cannot filter by cgroup refuses -c.
            assert_eq!(info.applies.cgroup, !info.refuses.iter().any(|(n, _)| *n == Need::Cgroup), "{}", info.name);
        }
    }
}
