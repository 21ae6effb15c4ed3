//! execsnoop: trace every exec() on the machine.
//!
//! The flow is one direction: a [`source`] delivers [`event::Record`]s, the
//! [`filter`] keeps what the user asked for, a [`sink`] writes them. [`run`]
//! owns the loop, the signals and the buffering policy; [`config`] is the only
//! thing that has read the command line.

pub(crate) mod cgroup;
pub mod cli;
mod clock;
pub mod command;
pub mod config;
pub(crate) mod enrich;
pub(crate) mod errno;
pub mod escape;
pub(crate) mod format;
pub(crate) mod event;
pub(crate) mod filter;
pub mod interactive;
pub(crate) mod lineage;
pub mod loss;
pub mod metrics;
pub(crate) mod redact;
pub(crate) mod running;
pub mod run;
pub(crate) mod signal;
pub mod sink;
pub mod source;
pub(crate) mod summary;
pub mod top;
pub(crate) mod wait;
