//! execsnoop: trace every exec() on the machine.
//!
//! The flow is one direction: a [`source`] delivers [`event::Record`]s, the
//! [`filter`] keeps what the user asked for, a [`sink`] writes them. [`run`]
//! owns the loop, the signals and the buffering policy; [`config`] is the only
//! thing that has read the command line.

pub mod cgroup;
pub mod cli;
pub mod command;
pub mod config;
pub mod errno;
pub mod escape;
pub mod event;
pub mod filter;
pub mod run;
pub mod signal;
pub mod sink;
pub mod source;

