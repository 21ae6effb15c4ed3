//! The execsnoop binary: parse flags, validate them into a [`Config`], open
//! the event source, run the loop, and turn every outcome into one clear
//! line and an exit status ([`Status`]: 0 on a clean end, 1 on a runtime
//! failure, 2 on a usage error; with a COMMAND, its own status, or 126/127
//! when it cannot run). Never a panic or a backtrace for bad input.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use execsnoop::cli::Args;
use execsnoop::command;
use execsnoop::config::{Config, Destination, OutputFormat};
use execsnoop::escape;
use execsnoop::loss::OutputLoss;
use execsnoop::metrics::{self, Metrics};
use execsnoop::run::{self, Ended, Signals, note};
use execsnoop::sink::file::RotatingFile;
use execsnoop::sink::{self, Clock};
use execsnoop::source;
use execsnoop::top::batch::{Batch, Facts};
use execsnoop::top::view::View;
use execsnoop::top::{self, TopMode};

/// How execsnoop ends: every exit status it can return, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Tracing ended cleanly (Ctrl-C, SIGTERM, SIGHUP, `-d`, a closed stdout).
    Clean,
    /// Tracing could not start or failed (one line on stderr says why).
    Failed,
    /// A usage error: bad flags or values.
    Usage,
    /// The COMMAND was found but could not be executed (as a shell says it).
    CannotExecute,
    /// The COMMAND was not found (as a shell says it).
    NotFound,
    /// The COMMAND ran: its exit code, or 128 + the signal that killed it.
    Command(u8),
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(match s {
            Status::Clean => 0,
            Status::Failed => 1,
            Status::Usage => 2,
            Status::CannotExecute => 126,
            Status::NotFound => 127,
            Status::Command(c) => c,
        })
    }
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print to stdout and succeed.
            let _ = e.print();
            return Status::Clean.into();
        }
        Err(e) => {
            // A usage error: one line, as every other input error.
            note(&format!("execsnoop: {}", usage_error_line(&e.to_string())));
            return Status::Usage.into();
        }
    };
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            note(&format!("execsnoop: {e}"));
            return Status::Usage.into();
        }
    };
    match trace(&config) {
        Ok(status) => status.into(),
        Err(e) => {
            note(&format!("execsnoop: {e:#}"));
            Status::Failed.into()
        }
    }
}

fn trace(config: &Config) -> anyhow::Result<Status> {
    let to_file = matches!(config.destination, Destination::File { .. });
    let signals = Signals::install(to_file)?;
    // What the outputs could not take: counted by them, shown by --metrics
    // and in the closing line.
    let losses = Arc::new(OutputLoss::default());
    // Where the records go, opened before anything starts, so that a path
    // that cannot be written or an address in use is the first error.
    // A path that is not safe for root to write (see sink::file) is refused
    // as bad input is: one line, status 2.
    let clock = Clock::now();
    let file = match &config.destination {
        Destination::File { path, rotation } => {
            match RotatingFile::open(path, rotation.clone(), signals.reopen_flag(), losses.clone()) {
                Ok(f) if matches!(config.format, OutputFormat::Json) => {
                    Some(f.with_lost_line(sink::json_output_lost(clock)))
                }
                Ok(f) => Some(f),
                Err(e) => {
                    note(&format!("execsnoop: --output {e}"));
                    return Ok(Status::Usage);
                }
            }
        }
        _ => None,
    };
    let listener = config.metrics.map(|m| metrics::bind(m.addr)).transpose()?;
    // A COMMAND is forked first and held before its exec, so the source can
    // follow it from its very first exec.
    let paused = match &config.command {
        Some(argv) => Some(command::spawn_paused(argv).map_err(|e| anyhow::anyhow!("cannot start COMMAND: {e}"))?),
        None => None,
    };
    let mut own;
    let config = match &paused {
        Some(p) => {
            own = config.clone();
            own.kernel.pid = Some(p.pid());
            &own
        }
        None => config,
    };
    let source::Opened { mut source, kind, fallback } = source::open(&config.source_request())?;
    // One line: why a fallback source was chosen, and how far to trust it.
    match (fallback, source.notice()) {
        (Some(why), Some(n)) => note(&format!("execsnoop: {why}. {n}")),
        (Some(line), None) | (None, Some(line)) => note(&format!("execsnoop: {line}")),
        (None, None) => {}
    }

    // Tracing is live: the command may exec now (its records wait in the
    // ring buffer). A command that cannot run is an error before any output.
    let running = match paused {
        Some(p) => match p.release() {
            Ok(r) => Some(r),
            Err(e) => {
                // As a shell, env or timeout say it: 127 when not found,
                // 126 when found but not executable.
                // The name is the user's bytes: escaped, as in the rows.
                let name = config.command.as_ref().and_then(|c| c.first()).map(|a| escape::escape(a.as_bytes()));
                note(&format!("execsnoop: cannot run {}: {e}", name.unwrap_or_default()));
                return Ok(if e.raw_os_error() == Some(libc::ENOENT) {
                    Status::NotFound
                } else {
                    Status::CannotExecute
                });
            }
        },
        None => None,
    };
    let stdout = io::stdout();
    let to_stdout = config.destination == Destination::Stdout;
    let stdout_is_tty = to_stdout && stdout.is_terminal();
    let stdout_fd = stdout.as_fd().try_clone_to_owned()?;
    let mut sink = match &config.top {
        // --top writes its own tables; the records go nowhere.
        Some(_) => Box::new(sink::Discard),
        None => {
            let out: Box<dyn Write> = match file {
                Some(f) => Box::new(f),
                None => Box::new(BufWriter::with_capacity(64 * 1024, stdout.lock())),
            };
            sink::build(&config.sink_request(), clock, out, io::stderr(), losses.clone())?
        }
    };
    let metrics = match (config.metrics, listener) {
        (Some(m), Some(l)) => {
            let metrics = Arc::new(Metrics::new(kind.info().name, m.commands, losses.clone()));
            metrics::serve(l, metrics.clone())?;
            Some(metrics)
        }
        _ => None,
    };

    match config.duration {
        Some(d) if config.top.is_some() => note(&format!("Tracing exec()s for {} seconds...", fmt_secs(d.as_secs_f64()))),
        Some(d) => note(&format!("Tracing exec()s for {} seconds (buffered)...", fmt_secs(d.as_secs_f64()))),
        None => note("Tracing exec()s. Ctrl-C to end."),
    }
    // The header marks that tracing is live: flushed at once.
    if let Err(e) = sink.header().and_then(|()| sink.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(Status::Clean);
        }
        return Err(e.into());
    }

    // --top: its view on a terminal, else its batch printer.
    let mut front: Option<Box<dyn execsnoop::interactive::Interactive<top::Model>>> = match &config.top {
        Some(t) => {
            let facts = Facts { source: kind.info().name, fails: config.kernel.fails, filters: t.filters.clone() };
            let terminal = stdout_is_tty && io::stdin().is_terminal();
            Some(match t.mode(terminal) {
                TopMode::View => Box::new(View::new(t, facts, config.command.is_some())?),
                TopMode::Text | TopMode::Json => Box::new(Batch::new(io::stdout(), t, facts)),
            })
        }
        None => None,
    };
    let watch = run::Watch {
        stdout: to_stdout.then(|| stdout_fd.as_fd()),
        stdout_is_tty,
        command: running.as_ref().map(|r| r.fd()),
        metrics,
        outputs: losses.clone(),
        // Coerced here, out of the Option: a `dyn + 'static` behind `&mut`
        // would otherwise pin the borrow to 'static.
        interactive: front.as_mut().map(|f| &mut **f as &mut dyn execsnoop::interactive::Interactive<top::Model>),
    };
    let result = run::run(config, source.as_mut(), kind, sink.as_mut(), &signals, watch);
    // The terminal back as it was before any line below (the view's drop).
    drop(front);
    let (ended, totals) = result?;
    drop(sink);
    if ended != Ended::OutputClosed {
        note("Ending tracing...");
    }
    let mut summary = format!("{} execs traced, {} shown", totals.received, totals.shown);
    if totals.lost > 0 {
        summary.push_str(&format!(", WARNING: {} lost (see the lost notices above)", totals.lost));
    } else {
        summary.push_str(", 0 lost");
    }
    for (n, what) in [(losses.output(), "not written to the output file"), (losses.syslog(), "not sent to syslog")] {
        if n > 0 {
            summary.push_str(&format!(", WARNING: {n} {what}"));
        }
    }
    note(&summary);
    let _ = io::stderr().flush();
    Ok(match running {
        None => Status::Clean,
        // q in --top: the user's clean end. The COMMAND gets the SIGINT a
        // Ctrl-C would have sent it outside raw mode, and a moment to end.
        Some(r) if ended == Ended::Quit => {
            r.interrupt();
            let _ = command_status(&r, ended);
            Status::Clean
        }
        Some(r) => command_status(&r, ended),
    })
}

/// With a COMMAND, execsnoop exits as it did: its code, or 128 + the signal
/// that killed it. Tracing that ended first (Ctrl-C reaches the command too)
/// waits a moment for it; a command still running then gives 128 + SIGINT.
fn command_status(r: &command::Running, ended: Ended) -> Status {
    let status = if ended == Ended::CommandExited {
        r.wait().ok()
    } else {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match r.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                _ => break None,
            }
        }
    };
    let code = status.and_then(|s| s.shell_code()).unwrap_or(128 + libc::SIGINT);
    Status::Command(code.clamp(0, 255) as u8)
}

/// clap's message as one line, without its "error: " prefix, plus a pointer
/// to --help. clap quotes the bad argument as it was given, so its first
/// paragraph (up to the blank line before clap's own hints) is taken whole
/// and escaped: a value with a newline stays on the line, and a control
/// byte, C1 control or bidi override in it is shown as an escape.
fn usage_error_line(msg: &str) -> String {
    let msg = msg.trim_start_matches('\n');
    let para = msg.split("\n\n").next().unwrap_or("");
    // clap puts the accepted values of an option on a line of their own.
    let (text, values) = match para.rfind("\n  [possible values:") {
        Some(at) => (&para[..at], Some(para[at..].trim())),
        None => (para, None),
    };
    let text = text.trim_end().strip_prefix("error: ").unwrap_or(text.trim_end());
    let text = if text.is_empty() { "invalid usage".to_string() } else { escape::escape(text.as_bytes()) };
    match values {
        Some(values) => format!("{text} {values} (see execsnoop --help)"),
        None => format!("{text} (see execsnoop --help)"),
    }
}

fn fmt_secs(s: f64) -> String {
    let t = format!("{s:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}
