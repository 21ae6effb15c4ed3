//! The run loop: wait on the source, pass records through the filter to the
//! sink, and decide when output is flushed and when tracing ends.
//!
//! It owns the policies that belong to no single stage: signals (SIGINT,
//! SIGTERM, SIGHUP end tracing cleanly, with handlers installed explicitly
//! because a tracer started from a script inherits SIGINT ignored; with
//! `--output`, SIGHUP instead reopens the file, within 100 ms), a closed
//! stdout (ends tracing promptly, status 0, even when no record is pending),
//! flushing (every batch on a terminal, at least every 100 ms into a pipe or
//! file), and `-d` (collect, then write in time order).
//!
//! Idle, it sleeps: with a source that needs no timer (bpf) it waits on the
//! descriptors alone, and a timer runs only while output is pending (the
//! flush), for `-d`'s end, for `--metrics` (whose scrape copy is refreshed
//! every 100 ms), and for a source that polls.
//!
//! Between the source and the sink runs the pipe ([`Pipe`]): enrich →
//! select → redact → observers (metrics, summary, `--top`'s model) →
//! `--wait` → `-d` hold → sink, with the one running table
//! ([`crate::running`]) that enrichment, selection, the summary and `--wait`
//! read. Sinks only format.
//!
//! A front end beside the pipe (`--top`'s view or batch printer) hooks in
//! through [`crate::interactive::Interactive`]: the loop also waits on its
//! descriptors and until its deadline, and hands it the model.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use crate::escape::note;
use crate::config::Config;
use crate::enrich::Enrich;
use crate::event::{Fate, Record, Totals};
use crate::filter::Select;
use crate::interactive::{Control, Interactive};
use crate::loss::OutputLoss;
use crate::metrics::Metrics;
use crate::redact::Redact;
use crate::running::{Proc, Running};
use crate::sink::Sink;
use crate::source::{Source, SourceKind};
use crate::summary::Summarize;
use crate::top::Model as TopModel;
use crate::wait::{Ended as Held, Wait};

/// Longest time output may sit in the buffer while records flow.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// After a drain that found records, wait this long (still answering signals
/// and a closed stdout at once) before looking again, so that records which
/// keep coming are taken in batches: one wake-up per batch instead of one per
/// exec. It adds at most this much latency, and only while records flow; the
/// first record after a quiet spell wakes the loop at once. The ring buffer
/// (1 MiB by default) holds thousands of records, far more than arrive in
/// this time.
pub const COALESCE: Duration = Duration::from_millis(4);

/// Why tracing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// SIGINT, SIGTERM or SIGHUP.
    Signal,
    /// The `-d` duration passed.
    Duration,
    /// Nobody reads our output any more (EPIPE / POLLERR on stdout).
    OutputClosed,
    /// The COMMAND we ran exited.
    CommandExited,
    /// The user ended it from the interactive front end (`q` in `--top`).
    Quit,
}

/// A pipe that becomes readable when one of the ending signals arrives.
pub struct Signals {
    read: UnixStream,
    /// With `hup_reopens`: set by SIGHUP, taken by the output file.
    reopen: Arc<AtomicBool>,
}

impl Signals {
    /// Install handlers for SIGINT, SIGTERM and SIGHUP (replacing an
    /// inherited "ignore") that write to a pipe the loop waits on; with
    /// `hup_reopens`, SIGHUP instead sets [`Signals::reopen_flag`].
    pub fn install(hup_reopens: bool) -> io::Result<Signals> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let reopen = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
            if sig == signal_hook::consts::SIGHUP && hup_reopens {
                signal_hook::flag::register(sig, reopen.clone())?;
            } else {
                signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
            }
        }
        Ok(Signals { read, reopen })
    }

    /// The flag SIGHUP sets when it reopens the output (see `install`).
    pub fn reopen_flag(&self) -> Arc<AtomicBool> {
        self.reopen.clone()
    }

    fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }
}

/// What the loop watches besides the source and the signals.
pub struct Watch<'a> {
    /// Stdout, when the records go there: watched for the reader going away.
    pub stdout: Option<BorrowedFd<'a>>,
    /// Flush after every batch (a terminal), not every 100 ms.
    pub stdout_is_tty: bool,
    /// The COMMAND's pidfd: its exit ends tracing.
    pub command: Option<BorrowedFd<'a>>,
    /// `--metrics`: every record that passes the filters is counted.
    pub metrics: Option<Arc<Metrics>>,
    /// What the outputs could not take; while the `--output` file holds
    /// lines it could not write, every pass flushes (retries).
    pub outputs: Arc<OutputLoss>,
    /// `--top`: the front end that reads the model (its view, or the
    /// batch printer).
    pub interactive: Option<&'a mut dyn Interactive<TopModel>>,
}

/// Run until a signal, the duration, a closed output or the end of the
/// COMMAND ends tracing. Returns why it ended and the totals; write errors
/// other than a closed pipe are returned as errors.
pub fn run(
    config: &Config,
    source: &mut dyn Source,
    kind: SourceKind,
    sink: &mut dyn Sink,
    signals: &Signals,
    watch: Watch<'_>,
) -> io::Result<(Ended, Totals)> {
    let poll = kind.info().poll;
    let stdout_is_tty = watch.stdout_is_tty;
    let stdout_fd = watch.stdout.map_or(-1, |fd| fd.as_raw_fd());
    let command_fd = watch.command;
    let mut interactive = watch.interactive;
    let redact = Redact::new(&config.context).map_err(|e| io::Error::other(format!("redaction rules: {e}")))?;
    let mut pipe = Pipe::new(config, kind, watch.metrics, redact);
    let start = Instant::now();
    let deadline = config.duration.map(|d| start + d);
    let mut last_flush = Instant::now();
    let mut unflushed = false;

    let ended = loop {
        let now = Instant::now();
        if let Some(d) = deadline
            && now >= d
        {
            break Ended::Duration;
        }
        // A timer only when something needs one (see the module docs).
        let pending = unflushed || watch.outputs.output_waiting() || pipe.metrics.is_some();
        let mut timeout = match (pending, poll) {
            (true, Some(p)) => Some(FLUSH_EVERY.min(p)),
            (true, None) => Some(FLUSH_EVERY),
            (false, p) => p,
        };
        let front = interactive.as_ref().and_then(|i| i.next_deadline());
        for d in deadline.into_iter().chain(front) {
            let left = d.saturating_duration_since(now);
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        let command = command_fd.map_or(-1, |fd| fd.as_raw_fd());
        let extra = interactive.as_ref().map_or([-1, -1], |i| i.fds());
        let ready = wait(source.fd(), signals.fd(), stdout_fd, command, extra, timeout)?;
        if let Some(why) = ready.ended() {
            break why;
        }
        if ready.extra
            && let (Some(i), Some(top)) = (interactive.as_deref_mut(), pipe.top.as_mut())
        {
            match i.on_ready(top, &pipe.totals) {
                Ok(Control::Go) => {}
                Ok(Control::End) => break Ended::Quit,
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break Ended::OutputClosed,
                Err(e) => return Err(e),
            }
        }
        let delivered = match source.drain(&mut |rec: &mut Record| pipe.handle(rec, sink)) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break Ended::OutputClosed,
            Err(e) => return Err(e),
        };
        if delivered > 0 {
            unflushed = true;
        }
        if let (Some(i), Some(top)) = (interactive.as_deref_mut(), pipe.top.as_mut())
            && i.next_deadline().is_some_and(|d| Instant::now() >= d)
        {
            match i.on_tick(top, &pipe.totals) {
                Ok(Control::Go) => {}
                Ok(Control::End) => break Ended::Quit,
                // Nobody reads the tables any more (as for the records).
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break Ended::OutputClosed,
                Err(e) => return Err(e),
            }
        }
        // A scrape's copy of the per-command table (never waits).
        if let Some(m) = &pipe.metrics {
            m.tick(delivered == 0);
        }
        // A SIGHUP for the output file: the flush reopens it.
        let reopen = signals.reopen.load(Ordering::Relaxed) || watch.outputs.output_waiting();
        if reopen || (unflushed && (stdout_is_tty || last_flush.elapsed() >= FLUSH_EVERY)) {
            match sink.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break Ended::OutputClosed,
                Err(e) => return Err(e),
            }
            last_flush = Instant::now();
            unflushed = false;
        }
        if delivered > 0
            && let Some(why) = wait_quiet(signals.fd(), stdout_fd, command, COALESCE)?.ended()
        {
            break why;
        }
    };

    // Detach, then take what is still in the ring buffer and the final loss
    // count, so that shown + filtered + lost accounts for every exec.
    source.stop();
    if ended != Ended::OutputClosed {
        match pipe.finish(source, sink) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok((Ended::OutputClosed, pipe.totals)),
            Err(e) => return Err(e),
        }
        if let (Some(i), Some(top)) = (interactive, pipe.top.as_mut()) {
            match i.on_end(top, &pipe.totals) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok((Ended::OutputClosed, pipe.totals)),
                Err(e) => return Err(e),
            }
        }
    } else {
        // Nobody reads stdout, but losses still belong in the record: count
        // them for the closing line on stderr.
        let totals = &mut pipe.totals;
        let mut count = |rec: &mut Record| {
            match rec {
                Record::Lost(l) => totals.lost += l.count,
                Record::Exec(_) => totals.received += 1,
                Record::Exit(_) => {}
            }
            Ok(())
        };
        let _ = source.drain(&mut count);
    }
    Ok((ended, pipe.totals))
}

/// The pipe without the loop, for benchmarks that replay records through
/// it (`cargo bench --bench pipeline`): each drain goes through the stages
/// exactly as in [`run`], and [`Pipeline::finish`] is its end.
#[doc(hidden)]
pub struct Pipeline {
    pipe: Pipe,
}

impl Pipeline {
    /// The stages `config` asks for, for records from a source of `kind`.
    pub fn new(config: &Config, kind: SourceKind) -> io::Result<Pipeline> {
        let redact = Redact::new(&config.context).map_err(|e| io::Error::other(format!("redaction rules: {e}")))?;
        Ok(Pipeline { pipe: Pipe::new(config, kind, None, redact) })
    }

    /// One drain of `source` through the stages into `sink`.
    pub fn drain(&mut self, source: &mut dyn Source, sink: &mut dyn Sink) -> io::Result<usize> {
        let pipe = &mut self.pipe;
        source.drain(&mut |rec: &mut Record| pipe.handle(rec, sink))
    }

    /// The end of tracing (after [`Source::stop`]): the last drain, what is
    /// held, the summary and the closing record.
    pub fn finish(mut self, source: &mut dyn Source, sink: &mut dyn Sink) -> io::Result<Totals> {
        self.pipe.finish(source, sink)?;
        Ok(self.pipe.totals)
    }
}

/// The stages between the source and the sink, in order: enrich, select,
/// redact, the observers (metrics, summary), `--wait`, and `-d`'s hold;
/// with the running table they share.
struct Pipe {
    metrics: Option<Arc<Metrics>>,
    select: Select,
    enrich: Enrich,
    redact: Redact,
    totals: Totals,
    running: Running,
    summary: Option<Summarize>,
    /// `--top`: the model its front end reads.
    top: Option<TopModel>,
    wait: Option<Wait>,
    /// `-d`: what would be written, held to the end and written in time
    /// order.
    hold: Option<Vec<Out>>,
    /// Reused: entries the running table let go of, records `--wait` wrote.
    released: Vec<Proc>,
    held: Vec<Held>,
}

/// What the stages hand the sink (as large as a record: held only by `-d`).
#[allow(clippy::large_enum_variant)]
enum Out {
    Record(Record),
    Ended(Held),
}

impl Out {
    fn ts_ns(&self) -> u64 {
        match self {
            Out::Record(r) => r.ts_ns(),
            Out::Ended(h) => h.ts_ns,
        }
    }
}

impl Pipe {
    fn new(config: &Config, kind: SourceKind, metrics: Option<Arc<Metrics>>, redact: Redact) -> Pipe {
        let exits = config.kernel.exits;
        let select = Select::new(&config.user, &config.kernel, kind.info().applies, exits)
            .with_container(config.context.container.clone());
        let enrich = Enrich::new(config);
        let summary = config.summary.then(|| Summarize::new(config.kernel.fails));
        let wait = config.wait.then(Wait::default);
        // The table only when a stage reads it.
        let on = enrich.forms_ids() || (exits && (select.joins_exits() || summary.is_some() || wait.is_some()));
        Pipe {
            metrics,
            running: Running::new(on, enrich.forms_ids()),
            select,
            enrich,
            redact,
            totals: Totals::default(),
            summary,
            top: config.top.as_ref().map(|t| TopModel::new(t.keys)),
            wait,
            // --top writes nothing in time order: nothing to hold.
            hold: (config.duration.is_some() && config.top.is_none()).then(Vec::new),
            released: Vec::new(),
            held: Vec::new(),
        }
    }

    /// One record, lent by the source: what a stage keeps (`--wait`, `-d`)
    /// it moves out; the rest goes back to the source for the next record.
    fn handle(&mut self, rec: &mut Record, sink: &mut dyn Sink) -> io::Result<()> {
        match rec {
            Record::Exec(e) => {
                self.totals.received += 1;
                if let Some(m) = &self.metrics {
                    m.received();
                }
                // Before selection: a filter may need what it adds (the
                // container), and the running table takes every exec.
                let ids = self.enrich.exec(e, &self.running);
                let replaced = self.running.exec(e, ids, &mut self.released);
                let keep = self.select.keep(e);
                if keep && let Some(p) = self.running.of_exec_mut(e.pid, e.ts_ns) {
                    p.kept = true;
                }
                if let Some(w) = &mut self.wait {
                    if let Some(old) = replaced {
                        w.released(old, Fate::Replaced, e.ts_ns, &mut self.held);
                    }
                    for p in self.released.drain(..) {
                        w.released(p, Fate::Running, e.ts_ns, &mut self.held);
                    }
                } else {
                    self.released.clear();
                }
                if keep {
                    self.totals.shown += 1;
                    self.redact.exec(e);
                    if let Some(s) = &mut self.summary {
                        s.exec(e);
                    }
                    if let Some(t) = &mut self.top {
                        t.exec(e);
                    }
                    if let Some(m) = &self.metrics {
                        m.record(rec);
                    }
                    match (&mut self.wait, rec) {
                        (Some(w), Record::Exec(e)) => w.exec(Box::new(e.take()), &mut self.running, &mut self.held),
                        (_, rec) => self.out(rec, sink)?,
                    }
                }
                self.write_held(sink)
            }
            Record::Exit(x) => {
                if self.select.keep_exit(x, &self.running) {
                    if let Some(s) = &mut self.summary {
                        s.exit(x);
                    }
                    if let Some(t) = &mut self.top {
                        t.exit(x);
                    }
                    let taken = match &mut self.wait {
                        Some(w) => w.exit(x, &mut self.running, &mut self.held),
                        None => false,
                    };
                    self.running.exit(x);
                    if let Some(m) = &self.metrics {
                        m.record(rec);
                    }
                    if !taken {
                        self.out(rec, sink)?;
                    }
                    return self.write_held(sink);
                }
                self.running.exit(x);
                Ok(())
            }
            Record::Lost(l) => {
                self.totals.lost += l.count;
                if let Some(m) = &self.metrics {
                    m.record(rec);
                }
                self.out(rec, sink)
            }
        }
    }

    /// What `--wait` let go of, to the sink (or `-d`'s hold).
    fn write_held(&mut self, sink: &mut dyn Sink) -> io::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let mut held = std::mem::take(&mut self.held);
        for h in held.drain(..) {
            match &mut self.hold {
                Some(hold) => hold.push(Out::Ended(h)),
                None => write(sink, &Out::Ended(h))?,
            }
        }
        self.held = held;
        Ok(())
    }

    /// A record to the sink, or into `-d`'s hold (moved out: held).
    fn out(&mut self, rec: &mut Record, sink: &mut dyn Sink) -> io::Result<()> {
        match &mut self.hold {
            Some(hold) => {
                hold.push(Out::Record(rec.take()));
                Ok(())
            }
            None => write_record(sink, rec),
        }
    }

    /// The last drain after detaching, what `--wait` still holds, the `-d`
    /// records in time order, the summary, and the sink's closing record.
    fn finish(&mut self, source: &mut dyn Source, sink: &mut dyn Sink) -> io::Result<()> {
        source.drain(&mut |rec: &mut Record| self.handle(rec, sink))?;
        if let Some(w) = &mut self.wait {
            w.finish(&mut self.running, &mut self.held);
        }
        self.write_held(sink)?;
        if let Some(mut hold) = self.hold.take() {
            // Stable: what --wait wrote at the end stays in exec order.
            hold.sort_by_key(Out::ts_ns);
            for out in &hold {
                write(sink, out)?;
            }
        }
        if self.running.forgotten() > 0 {
            note(&format!(
                "execsnoop: WARNING: {} running processes were forgotten from the running table (their exits, \
                 parent_exec_id and --ancestry)",
                self.running.forgotten()
            ));
        }
        if let Some(s) = &self.summary {
            sink.summary(&s.table(&self.running))?;
        }
        sink.finish(&self.totals)?;
        sink.flush()
    }
}

fn write(sink: &mut dyn Sink, out: &Out) -> io::Result<()> {
    match out {
        Out::Record(rec) => write_record(sink, rec),
        Out::Ended(h) => sink.ended(&h.exec, &h.fate),
    }
}

fn write_record(sink: &mut dyn Sink, rec: &Record) -> io::Result<()> {
    match rec {
        Record::Exec(e) => sink.exec(e),
        Record::Exit(x) => sink.exit(x),
        Record::Lost(l) => sink.lost(l),
    }
}

struct Ready {
    signal: bool,
    output_closed: bool,
    command_exited: bool,
    /// One of the front end's descriptors.
    extra: bool,
}

impl Ready {
    /// Whether what happened ends tracing, and why.
    fn ended(&self) -> Option<Ended> {
        if self.signal {
            Some(Ended::Signal)
        } else if self.output_closed {
            Some(Ended::OutputClosed)
        } else if self.command_exited {
            Some(Ended::CommandExited)
        } else {
            None
        }
    }
}

/// Wait for records, a signal, a closed stdout, the command's exit or the
/// front end's descriptors, at most `timeout` (`None`: until one of them).
fn wait(
    source: BorrowedFd<'_>,
    signal: RawFd,
    stdout: RawFd,
    command: RawFd,
    extra: [RawFd; 2],
    timeout: Option<Duration>,
) -> io::Result<Ready> {
    poll_fds(source.as_raw_fd(), signal, stdout, command, extra, timeout)
}

/// Wait for a signal, a closed stdout or the command's exit only, at most
/// `timeout`.
fn wait_quiet(signal: RawFd, stdout: RawFd, command: RawFd, timeout: Duration) -> io::Result<Ready> {
    // A negative fd is ignored by poll.
    poll_fds(-1, signal, stdout, command, [-1, -1], Some(timeout))
}

fn poll_fds(
    source: RawFd,
    signal: RawFd,
    stdout: RawFd,
    command: RawFd,
    extra: [RawFd; 2],
    timeout: Option<Duration>,
) -> io::Result<Ready> {
    let mut fds = [
        libc::pollfd { fd: source, events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: signal, events: libc::POLLIN, revents: 0 },
        // events = 0: only POLLERR/POLLHUP, which a pipe's write end reports
        // once its reader is gone.
        libc::pollfd { fd: stdout, events: 0, revents: 0 },
        // A pidfd is readable once the process has exited.
        libc::pollfd { fd: command, events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: extra[0], events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: extra[1], events: libc::POLLIN, revents: 0 },
    ];
    // Rounded up, so a timer never fires early and spins.
    let ms = timeout.map_or(-1, |t| t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int);
    // SAFETY: `fds` is a valid array of initialised pollfd structs and its
    // length is passed alongside; poll only writes `revents`.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(Ready { signal: false, output_closed: false, command_exited: false, extra: false });
        }
        return Err(e);
    }
    Ok(Ready {
        signal: fds[1].revents & libc::POLLIN != 0,
        output_closed: fds[2].revents & (libc::POLLERR | libc::POLLHUP) != 0,
        command_exited: fds[3].revents & libc::POLLIN != 0,
        extra: fds[4..].iter().any(|f| f.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0),
    })
}
