//! Event sources: where records come from. A source turns its raw input into
//! [`Record`]s and hands them on; it never formats or prints anything.
//!
//! Every source has the same shape: a file descriptor to wait on, and a
//! `drain` that delivers what is ready. The runner owns the waiting, so adding
//! a source (ftrace, proc connector, /proc) is one new file here plus one line
//! where it is chosen.

pub mod bpf;
pub mod btf_prune;

use std::os::fd::BorrowedFd;

use crate::event::Record;

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

    /// Stop producing records (detach from the kernel). Records already
    /// produced stay available to a final [`Source::drain`], which then also
    /// reports every loss: after stop + drain, accounting is exact.
    fn stop(&mut self);
}
