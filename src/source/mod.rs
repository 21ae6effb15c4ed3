//! Event sources: where records come from. A source turns its raw input into
//! [`Record`]s and hands them on; it never formats or prints anything.
//!
//! Every source has the same shape: a file descriptor to wait on, and a
//! `drain` that delivers what is ready. The runner owns the waiting, so adding
//! a source is one new file here plus one line in [`open_one`].
//!
//! Sources, best first: `bpf` (exact: arguments read in the kernel at the
//! exec), `ftrace` (the original execsnoop's method; arguments from a kprobe
//! where the kernel has them, else `/proc/PID/cmdline`), `netlink` (the
//! kernel's process connector; arguments from `/proc`), `procfs` (no
//! privileges; polls `/proc`, misses processes shorter than its interval).
//! [`open`] picks the one asked for, or with `--source auto` the first that
//! starts, and says why the better ones did not.

pub mod bpf;

pub mod ftrace;
pub mod netlink;
pub mod proc;
pub mod procfs;

use std::os::fd::BorrowedFd;

use crate::config::{Config, SourceChoice};
use crate::event::{Record, SourceKind};

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
    /// Short name, used in messages and in JSON.
    fn name(&self) -> &'static str;

    /// A descriptor that becomes readable when records are waiting.
    fn fd(&self) -> BorrowedFd<'_>;

    /// Hand every record that is ready now to `sink`, including notices of
    /// records lost since the last call. Returns how many records were handed
    /// on. An error from `sink` stops the drain and is returned as is.
    fn drain(&mut self, sink: &mut dyn FnMut(Record) -> std::io::Result<()>) -> std::io::Result<usize>;

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

/// Open the source the configuration asks for. With `--source auto`, try
/// each in order of quality and return, with the one that started, one line
/// saying which better ones failed and why (`None` when the best one started).
pub fn open(config: &Config) -> Result<(Box<dyn Source>, Option<String>), SourceError> {
    let kind = match config.source {
        SourceChoice::Auto => None,
        SourceChoice::Only(kind) => Some(kind),
    };
    if let Some(kind) = kind {
        return Ok((open_one(kind, config)?, None));
    }
    let mut failures: Vec<String> = Vec::new();
    let order = [SourceKind::Bpf, SourceKind::Ftrace, SourceKind::Netlink, SourceKind::Procfs];
    let mut last_err = None;
    for kind in order {
        match open_one(kind, config) {
            Ok(src) => {
                let note = (!failures.is_empty())
                    .then(|| format!("using the {} source: {}", kind.as_str(), failures.join("; ")));
                return Ok((src, note));
            }
            Err(e) => {
                failures.push(format!("{} failed ({})", kind.as_str(), first_line(&e.to_string())));
                last_err = Some(e);
            }
        }
    }
    Err(last_err.map_or_else(
        || SourceError::Other("no event source available".into()),
        |_| SourceError::Other(format!("no event source could start: {}", failures.join("; "))),
    ))
}

/// Open one source, after checking that it can honour every option given.
fn open_one(kind: SourceKind, config: &Config) -> Result<Box<dyn Source>, SourceError> {
    Ok(match kind {
        SourceKind::Bpf => Box::new(bpf::BpfSource::open(config)?),
        SourceKind::Ftrace => Box::new(ftrace::FtraceSource::open(config)?),
        SourceKind::Netlink => Box::new(netlink::NetlinkSource::open(config)?),
        SourceKind::Procfs => Box::new(procfs::ProcfsSource::open(config)?),
    })
}

/// An option the source cannot honour: one line naming both.
pub fn unsupported_option(option: &str, kind: SourceKind, why: &str) -> SourceError {
    SourceError::Unsupported(format!("{option} is not available with the {} source: {why}", kind.as_str()))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// For sources that cannot filter in the kernel: whether `e` passes the
/// filters the bpf source applies there (`-P`, `-u`). Data read from /proc
/// after the event can be stale, like the arguments.
pub fn passes_kernel_filter(config: &Config, e: &crate::event::Exec) -> bool {
    config.kernel.ppid.is_none_or(|p| p == e.ppid) && config.kernel.uid.is_none_or(|u| u == e.uid)
}
