//! The run loop's hook for a front end that lives beside the pipe (the
//! `--top` view and its batch printer): up to two more descriptors to wait
//! on (keys, a resize), a deadline (the next refresh), and a say in when
//! tracing ends. It owns only the trait; the loop ([`crate::run`]) calls it,
//! and the front end gets the observer it reads (`M`, the `--top` model)
//! and the pipe's totals each time, so neither imports the other.
//!
//! Idle cost: the loop adds a timer only for [`Interactive::next_deadline`]
//! (with `--top`, one wake-up per `--interval`).

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

use crate::event::Totals;

/// What the front end tells the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on tracing.
    Go,
    /// End tracing (status 0): the user asked (`q`, Ctrl-C in raw mode).
    End,
}

/// A front end the loop drives; see the module docs.
pub trait Interactive<M> {
    /// Descriptors to wait on for reading (-1: none).
    fn fds(&self) -> [RawFd; 2];
    /// When the loop must call [`Interactive::on_tick`] next.
    fn next_deadline(&self) -> Option<Instant>;
    /// One of [`Interactive::fds`] is readable (or reports an error).
    fn on_ready(&mut self, model: &mut M, totals: &Totals) -> io::Result<Control>;
    /// The deadline passed.
    fn on_tick(&mut self, model: &mut M, totals: &Totals) -> io::Result<Control>;
    /// Tracing ended (after the last records): a last refresh, or a last
    /// table for a run too short for one.
    fn on_end(&mut self, model: &mut M, totals: &Totals) -> io::Result<()>;
}
