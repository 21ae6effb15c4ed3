//! Losses after the pipe: records that passed the filters but that an output
//! could not take (a full disk under `--output`, a syslog daemon that does
//! not read). The outputs count them here, `--metrics` shows them as
//! `execsnoop_lost_total{kind="output"|"syslog"}`, and the closing line on
//! stderr says them, so that shown = written + counted here.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters shared (behind an `Arc`) by the outputs, the metrics server and
/// the closing line. The other kinds of loss travel in the stream as `lost`
/// records; these are the ones the stream itself could not carry.
#[derive(Debug, Default)]
pub struct OutputLoss {
    output: AtomicU64,
    syslog: AtomicU64,
    /// The `--output` file holds lines it could not write yet: the run loop
    /// keeps flushing (retrying) while this is set, records or not.
    output_waiting: AtomicBool,
}

impl OutputLoss {
    /// `n` records the `--output` file could not take (JSON `lost` kind `output`).
    pub fn add_output(&self, n: u64) {
        self.output.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` records (not datagrams) the syslog daemon did not take in time.
    pub fn add_syslog(&self, n: u64) {
        self.syslog.fetch_add(n, Ordering::Relaxed);
    }

    /// Records not written to the `--output` file so far.
    pub fn output(&self) -> u64 {
        self.output.load(Ordering::Relaxed)
    }

    /// Records not sent to syslog so far.
    pub fn syslog(&self) -> u64 {
        self.syslog.load(Ordering::Relaxed)
    }

    /// Whether the `--output` file holds lines it could not write yet.
    pub fn output_waiting(&self) -> bool {
        self.output_waiting.load(Ordering::Relaxed)
    }

    /// Set by the `--output` file after each attempt to write.
    pub fn set_output_waiting(&self, waiting: bool) {
        self.output_waiting.store(waiting, Ordering::Relaxed);
    }
}
