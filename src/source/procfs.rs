//! The procfs source (not built yet: being written).

use std::io;
use std::os::fd::BorrowedFd;

use super::{Source, SourceError};
use crate::config::Config;
use crate::event::Record;

/// Placeholder until the procfs source lands.
pub struct ProcfsSource {
    _never: std::convert::Infallible,
}

impl ProcfsSource {
    /// Always fails for now.
    pub fn open(_config: &Config) -> Result<ProcfsSource, SourceError> {
        Err(SourceError::Unsupported("the procfs source is not built yet".into()))
    }
}

impl Source for ProcfsSource {
    fn name(&self) -> &'static str {
        "procfs"
    }
    fn fd(&self) -> BorrowedFd<'_> {
        match self._never {}
    }
    fn drain(&mut self, _sink: &mut dyn FnMut(Record) -> io::Result<()>) -> io::Result<usize> {
        match self._never {}
    }
    fn stop(&mut self) {}
}
