//! Sinks: where records end up. A sink formats records and writes them; it
//! never touches BPF or any other source, and never decides what to filter.
//!
//! Adding an output format is one new file here plus one line in [`build`].
//! Where the bytes go is a destination, also here: stdout, or
//! [`file::RotatingFile`] for `--output`; `--syslog` ([`syslog`]) is a sink
//! that formats with the JSON sink and sends each record as a message.
//! What several formats share lives here: the [`Clock`] that turns kernel
//! timestamps into wall-clock time. (Cgroup paths and containers are filled
//! in before the sinks, by [`crate::enrich`].)

pub(crate) mod column;
pub mod file;
pub(crate) mod json;
pub(crate) mod syslog;
pub(crate) mod text;

use std::io;
use std::sync::Arc;

use std::path::PathBuf;

use file::Rotation;
use syslog::SyslogOptions;
use text::TextOptions;
use crate::event::{Exec, Exit, Fate, Lost, LostKind, Totals};
use crate::summary::Summary;
use crate::loss::OutputLoss;

/// How records are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputFormat {
    Text(TextOptions),
    Json,
}

/// Where the records go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Destination {
    #[default]
    Stdout,
    /// `--output PATH`, rotated with `--rotate-size`.
    File { path: PathBuf, rotation: Option<Rotation> },
    /// `--syslog`: the JSON of each record in a syslog message.
    Syslog(SyslogOptions),
}

/// What [`build`] needs to know, made by the configuration
/// (`Config::sink_request`): the sinks do not read the command line's
/// configuration themselves.
#[derive(Debug, Clone)]
pub struct SinkRequest {
    pub destination: Destination,
    pub format: OutputFormat,
    /// `--print-cgroup`: a cgroup column / field.
    pub cgroups: bool,
    /// The JSON context fields asked for.
    pub(crate) fields: json::ContextFields,
}

/// A destination for records.
pub trait Sink {
    /// Written once, when tracing is live (the column header in text).
    fn header(&mut self) -> io::Result<()>;
    /// One exec that passed the filters.
    fn exec(&mut self, e: &Exec) -> io::Result<()>;
    /// Records that were lost; called at the point in the stream where the
    /// loss was noticed.
    fn lost(&mut self, l: &Lost) -> io::Result<()>;
    /// A process ended (only with `-e`, `--wait` or `--summary`; its exec, if
    /// it had one while traced, passed the filters).
    fn exit(&mut self, x: &Exit) -> io::Result<()>;
    /// `--wait`: an exec record held until its program ended, with how it
    /// did ([`crate::wait`]). Text writes one row; by default, the exec
    /// record and then its exit record.
    fn ended(&mut self, e: &Exec, fate: &Fate) -> io::Result<()> {
        self.exec(e)?;
        match fate {
            Fate::Exited(x) => self.exit(x),
            Fate::Replaced | Fate::Running | Fate::Failed => Ok(()),
        }
    }
    /// `--summary`: the table of commands by cost ([`crate::summary`]),
    /// written when tracing ends, just before [`Sink::finish`].
    fn summary(&mut self, s: &Summary) -> io::Result<()>;
    /// Push buffered output to its destination.
    fn flush(&mut self) -> io::Result<()>;
    /// Tracing has ended; write any closing record.
    fn finish(&mut self, totals: &Totals) -> io::Result<()>;
}

/// A sink that writes nothing: `--top` shows what its model adds up
/// instead of the records ([`crate::top`]).
pub struct Discard;

impl Sink for Discard {
    fn header(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn exec(&mut self, _: &Exec) -> io::Result<()> {
        Ok(())
    }
    fn lost(&mut self, _: &Lost) -> io::Result<()> {
        Ok(())
    }
    fn exit(&mut self, _: &Exit) -> io::Result<()> {
        Ok(())
    }
    fn summary(&mut self, _: &Summary) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, _: &Totals) -> io::Result<()> {
        Ok(())
    }
}

/// Clock facts a sink may need to turn kernel timestamps into wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// CLOCK_REALTIME minus CLOCK_BOOTTIME, in ns, measured once at start.
    pub realtime_offset_ns: i128,
}

impl Clock {
    /// Measure the offset between the wall clock and the boot clock now.
    pub fn now() -> Clock {
        let boot = i128::from(crate::clock::boot_ns());
        let real = i128::from(crate::clock::ns(libc::CLOCK_REALTIME));
        Clock { realtime_offset_ns: real - boot }
    }

    /// Wall-clock ns since the Unix epoch for a boot-clock timestamp.
    pub fn wall_ns(&self, boot_ns: u64) -> i128 {
        i128::from(boot_ns) + self.realtime_offset_ns
    }
}

/// The line `--output` writes, in JSON, where it had to drop records (a
/// full disk): a `lost` record of kind `output` with their count, stamped
/// when it is written.
pub fn json_output_lost(clock: Clock) -> file::LostLine {
    let mut json = json::JsonSink::new(Vec::new(), clock);
    Box::new(move |count| {
        let lost = Lost { count, kind: LostKind::Output, ts_ns: crate::clock::boot_ns() };
        match json.lost(&lost) {
            Ok(()) => std::mem::take(json.out_mut()),
            Err(_) => Vec::new(),
        }
    })
}

/// Build the sink the configuration asks for, writing records to `out` (for
/// stdout and `--output`; `--syslog` sends them itself) and notices (lost
/// events, in text mode) to `err`; what an output could not take is counted
/// in `losses`. Fails only when the syslog socket cannot be reached.
pub fn build<'a, W: io::Write + 'a, E: io::Write + 'a>(
    req: &SinkRequest,
    clock: Clock,
    out: W,
    err: E,
    losses: Arc<OutputLoss>,
) -> io::Result<Box<dyn Sink + 'a>> {
    let (cgroups, fields) = (req.cgroups, req.fields);
    Ok(match (&req.destination, &req.format) {
        (Destination::Syslog(opts), _) => {
            let json = json::JsonSink::new(Vec::new(), clock).with_cgroups(cgroups).with_context(fields);
            Box::new(syslog::SyslogSink::new(json, opts.clone(), clock, err, losses)?)
        }
        (_, OutputFormat::Text(opts)) => {
            Box::new(text::TextSink::new(out, err, opts.clone(), clock).with_cgroups(cgroups))
        }
        (_, OutputFormat::Json) => Box::new(json::JsonSink::new(out, clock).with_cgroups(cgroups).with_context(fields)),
    })
}
