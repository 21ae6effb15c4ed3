//! The execsnoop binary: parse flags, validate them into a [`Config`], open
//! the event source, run the loop, and turn every outcome into one clear
//! line and an exit status (0 on a clean end, 1 on a runtime failure, 2 on a
//! usage error). Never a panic or a backtrace for bad input.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

use clap::Parser;

use execsnoop::cli::Args;
use execsnoop::config::Config;
use execsnoop::run::{self, Ended, Signals, note};
use execsnoop::sink::{self, Clock};
use execsnoop::source;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print to stdout and succeed.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // A usage error: one line, as every other input error.
            note(&format!("execsnoop: {}", usage_error_line(&e.to_string())));
            return ExitCode::from(2);
        }
    };
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            note(&format!("execsnoop: {e}"));
            return ExitCode::from(2);
        }
    };
    match trace(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            note(&format!("execsnoop: {e:#}"));
            ExitCode::from(1)
        }
    }
}

fn trace(config: &Config) -> anyhow::Result<()> {
    let signals = Signals::install()?;
    let (mut source, fallback) = source::open(config)?;
    if let Some(why) = fallback {
        note(&format!("execsnoop: {why}"));
    }
    if let Some(n) = source.notice() {
        note(&format!("execsnoop: {n}"));
    }

    let stdout = io::stdout();
    let stdout_is_tty = stdout.is_terminal();
    let stdout_fd = stdout.as_fd().try_clone_to_owned()?;
    let out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let err = io::stderr();
    let mut sink = sink::build(config, Clock::now(), out, err);

    match config.duration {
        Some(d) => note(&format!("Tracing exec()s for {} seconds (buffered)...", fmt_secs(d.as_secs_f64()))),
        None => note("Tracing exec()s. Ctrl-C to end."),
    }
    // The header marks that tracing is live: flushed at once.
    if let Err(e) = sink.header().and_then(|()| sink.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(());
        }
        return Err(e.into());
    }

    let (ended, totals) = run::run(config, source.as_mut(), sink.as_mut(), &signals, stdout_fd.as_fd(), stdout_is_tty)?;
    drop(sink);
    if ended != Ended::OutputClosed {
        note("Ending tracing...");
    }
    let mut summary = format!("{} execs traced, {} shown", totals.received, totals.shown);
    if totals.lost > 0 {
        summary.push_str(&format!(", WARNING: {} lost (ring buffer full; try a larger --buffer-kib)", totals.lost));
    } else {
        summary.push_str(", 0 lost");
    }
    note(&summary);
    let _ = io::stderr().flush();
    Ok(())
}

/// The first line of clap's message, without its "error: " prefix, plus a
/// pointer to --help.
fn usage_error_line(msg: &str) -> String {
    let first = msg.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("invalid usage");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    format!("{first} (see execsnoop --help)")
}

fn fmt_secs(s: f64) -> String {
    let t = format!("{s:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}
