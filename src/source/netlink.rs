//! The netlink source (not built yet: being written).

use std::io;
use std::os::fd::BorrowedFd;

use super::{Source, SourceError};
use crate::config::Config;
use crate::event::Record;

/// Placeholder until the netlink source lands.
pub struct NetlinkSource {
    _never: std::convert::Infallible,
}

impl NetlinkSource {
    /// Always fails for now.
    pub fn open(_config: &Config) -> Result<NetlinkSource, SourceError> {
        Err(SourceError::Unsupported("the netlink source is not built yet".into()))
    }
}

impl Source for NetlinkSource {
    fn name(&self) -> &'static str {
        "netlink"
    }
    fn fd(&self) -> BorrowedFd<'_> {
        match self._never {}
    }
    fn drain(&mut self, _sink: &mut dyn FnMut(Record) -> io::Result<()>) -> io::Result<usize> {
        match self._never {}
    }
    fn stop(&mut self) {}
}
