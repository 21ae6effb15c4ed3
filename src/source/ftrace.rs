//! The ftrace source (not built yet: being written).

use std::io;
use std::os::fd::BorrowedFd;

use super::{Source, SourceError};
use crate::config::Config;
use crate::event::Record;

/// Placeholder until the ftrace source lands.
pub struct FtraceSource {
    _never: std::convert::Infallible,
}

impl FtraceSource {
    /// Always fails for now.
    pub fn open(_config: &Config) -> Result<FtraceSource, SourceError> {
        Err(SourceError::Unsupported("the ftrace source is not built yet".into()))
    }
}

impl Source for FtraceSource {
    fn name(&self) -> &'static str {
        "ftrace"
    }
    fn fd(&self) -> BorrowedFd<'_> {
        match self._never {}
    }
    fn drain(&mut self, _sink: &mut dyn FnMut(Record) -> io::Result<()>) -> io::Result<usize> {
        match self._never {}
    }
    fn stop(&mut self) {}
}
