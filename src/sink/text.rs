//! The text sink: the original execsnoop's columns, one line per exec.
//!
//! This module owns the human-readable format:
//!
//! ```text
//! TIMEs               PID   PPID ARGS
//! 12345.678901       4242   4100 ls -l /tmp
//! ```
//!
//! The `TIMEs` column is there only with `-t` (seconds since boot, six
//! decimals). `ARGS` is the argument vector, each argument escaped with
//! [`crate::escape`] (so a hostile argument can neither drive the terminal nor
//! pass for something else) and joined by single spaces. Markers in brackets
//! say what is not shown as is:
//!
//! * `[argc=0]` — the process was started with no arguments at all; the
//!   filename it was given is shown in place of argv\[0\].
//! * `[argv0=""]` — argv\[0\] was empty but more arguments follow (or exist
//!   beyond what was captured); the filename is shown in its place, the other
//!   arguments after the marker. When nothing of the argument area could be
//!   read, neither marker is shown: argc is unknown.
//! * `[comm]` — in place of the filename when that is empty too.
//! * `[...]` — more arguments exist than are shown: cut by `-a`, or by the
//!   capture cap (`--arg-bytes`). It appears at most once per line.
//! * `[args unreadable]` — reading the argument area failed.
//!
//! Lost records are reported on the error stream, never mixed into the
//! columns.

use std::io::{self, Write};

use crate::config::TextOptions;
use crate::escape::escape_into;
use crate::event::{Exec, Lost, Totals};
use crate::sink::{Clock, Sink};

/// Writes execs as text columns to `out` and loss warnings to `err`.
pub struct TextSink<W, E> {
    out: W,
    err: E,
    opts: TextOptions,
    #[allow(dead_code, reason = "kept for wall-clock columns (-T), which a later change adds")]
    clock: Clock,
    /// Reused for every line, so steady state does no allocation.
    line: Vec<u8>,
}

impl<W: Write, E: Write> TextSink<W, E> {
    /// A sink writing rows to `out` and warnings to `err`.
    pub fn new(out: W, err: E, opts: TextOptions, clock: Clock) -> Self {
        TextSink { out, err, opts, clock, line: Vec::with_capacity(4096) }
    }

    /// The writers back, e.g. to inspect what was written.
    pub fn into_inner(self) -> (W, E) {
        (self.out, self.err)
    }

    /// Format one exec row into `self.line` (cleared first).
    fn format_exec(&mut self, e: &Exec) {
        let line = &mut self.line;
        line.clear();
        if self.opts.boot_time {
            let start = line.len();
            push_boot_time(line, e.ts_ns);
            pad_to(line, start, 16);
            line.push(b' ');
        }
        push_right(line, u64::from(e.pid), 6);
        line.push(b' ');
        push_right(line, u64::from(e.ppid), 6);
        line.push(b' ');

        let mut args = argv_iter(&e.args).peekable();
        if e.argv0_empty() {
            // Skip the empty argv[0] (absent when the area is empty).
            args.next();
            if e.filename.is_empty() {
                line.push(b'[');
                escape_into(line, &e.comm);
                line.push(b']');
            } else {
                escape_into(line, &e.filename);
            }
            if args.peek().is_some() {
                line.extend_from_slice(b" [argv0=\"\"]");
            } else if !e.args_incomplete() {
                line.extend_from_slice(b" [argc=0]");
            } else if !e.args.is_empty() {
                // The empty argv[0] was read but the area goes on: more
                // arguments exist that were not captured.
                line.extend_from_slice(b" [argv0=\"\"]");
            }
            // Else nothing was read at all: argc is unknown, not zero, and
            // the marker added below says so.
        } else if let Some(arg0) = args.next() {
            escape_into(line, arg0);
        }

        let mut cut = false;
        for (shown, arg) in args.enumerate() {
            if self.opts.max_args.is_some_and(|max| shown >= max) {
                cut = true;
                break;
            }
            line.push(b' ');
            escape_into(line, arg);
        }
        if cut {
            line.extend_from_slice(b" [...]");
        }

        if e.flags.args_read_failed {
            line.extend_from_slice(b" [args unreadable]");
        } else if e.args_incomplete() && !cut {
            line.extend_from_slice(b" [...]");
        }
        line.push(b'\n');
    }
}

impl<W: Write, E: Write> Sink for TextSink<W, E> {
    fn header(&mut self) -> io::Result<()> {
        self.line.clear();
        if self.opts.boot_time {
            write!(self.line, "{:<16} ", "TIMEs")?;
        }
        writeln!(self.line, "{:>6} {:>6} ARGS", "PID", "PPID")?;
        self.out.write_all(&self.line)
    }

    fn exec(&mut self, e: &Exec) -> io::Result<()> {
        self.format_exec(e);
        self.out.write_all(&self.line)
    }

    fn lost(&mut self, l: &Lost) -> io::Result<()> {
        // Rows already formatted come first, so the warning lands where the
        // loss happened when both streams go to the same terminal.
        self.out.flush()?;
        let why = l.kind.reason();
        writeln!(self.err, "WARNING: lost {} events ({why})", l.count)?;
        self.err.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _totals: &Totals) -> io::Result<()> {
        // The runner prints the closing summary itself.
        self.out.flush()
    }
}

/// The arguments of a NUL-separated area, exactly as
/// [`crate::event::split_args`] splits them, without allocating.
fn argv_iter(area: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = area.strip_suffix(&[0]).unwrap_or(area);
    (!area.is_empty()).then(|| body.split(|&b| b == 0)).into_iter().flatten()
}

/// `secs.micros` since boot, from integer arithmetic (no float rounding).
fn push_boot_time(line: &mut Vec<u8>, ts_ns: u64) {
    let secs = ts_ns / 1_000_000_000;
    let micros = (ts_ns % 1_000_000_000) / 1_000;
    push_u64(line, secs);
    line.push(b'.');
    let start = line.len();
    push_u64(line, micros);
    // Left-pad the fraction with zeros to six digits.
    let digits = line.len() - start;
    if digits < 6 {
        line.splice(start..start, std::iter::repeat_n(b'0', 6 - digits));
    }
}

/// Pad with spaces so that what was written since `start` is `width` wide.
fn pad_to(line: &mut Vec<u8>, start: usize, width: usize) {
    let written = line.len() - start;
    if written < width {
        line.resize(line.len() + (width - written), b' ');
    }
}

/// `n` right-aligned in `width` columns (like `{:>width}`).
fn push_right(line: &mut Vec<u8>, n: u64, width: usize) {
    let mut tmp = [0u8; 20];
    let digits = u64_digits(n, &mut tmp);
    if digits.len() < width {
        line.resize(line.len() + (width - digits.len()), b' ');
    }
    line.extend_from_slice(digits);
}

fn push_u64(line: &mut Vec<u8>, n: u64) {
    let mut tmp = [0u8; 20];
    line.extend_from_slice(u64_digits(n, &mut tmp));
}

/// Decimal digits of `n`, written at the end of `buf`.
fn u64_digits(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::split_args;

    fn clock() -> Clock {
        Clock { realtime_offset_ns: 0 }
    }

    fn sink(opts: TextOptions) -> TextSink<Vec<u8>, Vec<u8>> {
        TextSink::new(Vec::new(), Vec::new(), opts, clock())
    }

    fn exec(args: &[u8]) -> Exec {
        Exec {
            ts_ns: 1_234_567_890_123,
            pid: 4242,
            old_pid: 4242,
            ppid: 1,
            comm: b"ls".to_vec(),
            filename: b"/bin/ls".to_vec(),
            args: args.to_vec(),
            args_size: args.len() as u32,
            ..Exec::default()
        }
    }

    fn row(opts: TextOptions, e: &Exec) -> String {
        let mut s = sink(opts);
        s.exec(e).unwrap();
        let (out, err) = s.into_inner();
        assert!(err.is_empty());
        String::from_utf8(out).unwrap()
    }

    fn args_col(e: &Exec) -> String {
        let r = row(TextOptions::default(), e);
        r[14..].to_string()
    }

    fn max(n: usize) -> TextOptions {
        TextOptions { boot_time: false, max_args: Some(n) }
    }

    #[test]
    fn header_plain() {
        let mut s = sink(TextOptions::default());
        s.header().unwrap();
        assert_eq!(String::from_utf8(s.into_inner().0).unwrap(), "   PID   PPID ARGS\n");
    }

    #[test]
    fn header_with_boot_time() {
        let mut s = sink(TextOptions { boot_time: true, max_args: None });
        s.header().unwrap();
        assert_eq!(String::from_utf8(s.into_inner().0).unwrap(), "TIMEs               PID   PPID ARGS\n");
    }

    #[test]
    fn plain_row() {
        assert_eq!(row(TextOptions::default(), &exec(b"ls\0-l\0/tmp\0")), "  4242      1 ls -l /tmp\n");
    }

    #[test]
    fn wide_pids_are_not_cut() {
        let mut e = exec(b"x\0");
        e.pid = 4_194_304;
        e.ppid = 12_345_678;
        assert_eq!(row(TextOptions::default(), &e), "4194304 12345678 x\n");
    }

    #[test]
    fn row_with_boot_time() {
        let opts = TextOptions { boot_time: true, max_args: None };
        let want = |t: &str| format!("{:<16} {:>6} {:>6} ls\n", t, 4242, 1);
        let mut e = exec(b"ls\0");
        assert_eq!(row(opts.clone(), &e), want("1234.567890"));
        assert_eq!(row(opts.clone(), &e), "1234.567890        4242      1 ls\n");
        e.ts_ns = 5_000_001_999;
        assert_eq!(row(opts.clone(), &e), want("5.000001"));
        e.ts_ns = 0;
        assert_eq!(row(opts.clone(), &e), want("0.000000"));
        // Integer arithmetic: 0.999999999 s stays 0.999999, never rounds to 1.
        e.ts_ns = 999_999_999;
        assert_eq!(row(opts.clone(), &e), want("0.999999"));
        // Wider than the column: not cut, still one space after it.
        e.ts_ns = u64::MAX;
        assert_eq!(row(opts, &e), "18446744073.709551   4242      1 ls\n");
    }

    #[test]
    fn hostile_arguments_escaped() {
        let e = exec(b"sh\0-c\0echo \x1b[2J\nrm\\x\0\xff\xfe\0\xc2\x9b\0");
        let r = row(TextOptions::default(), &e);
        assert_eq!(r, "  4242      1 sh -c echo \\x1b[2J\\nrm\\\\x \\xff\\xfe \\u{9b}\n");
        let body = &r.as_bytes()[..r.len() - 1];
        assert!(!body.iter().any(|&b| b < 0x20 || b == 0x7f), "{r:?}");
        assert_eq!(r.matches('\n').count(), 1);
    }

    #[test]
    fn max_args_cuts_and_marks() {
        let e = exec(b"cmd\0a\0b\0c\0d\0");
        assert_eq!(args_col(&e), "cmd a b c d\n");
        assert_eq!(row(max(2), &e)[14..], *"cmd a b [...]\n");
        assert_eq!(row(max(0), &e)[14..], *"cmd [...]\n");
    }

    #[test]
    fn max_args_exactly_filled_has_no_marker() {
        // argv0 + 2 with -a 2: nothing hidden, so no marker (the original's
        // off-by-one printed one here).
        let e = exec(b"cmd\0a\0b\0");
        assert_eq!(row(max(2), &e)[14..], *"cmd a b\n");
        assert_eq!(row(max(3), &e)[14..], *"cmd a b\n");
        assert_eq!(row(max(0), &exec(b"cmd\0"))[14..], *"cmd\n");
    }

    #[test]
    fn argc_zero() {
        let e = exec(b"\0");
        assert_eq!(args_col(&e), "/bin/ls [argc=0]\n");
        let mut e = exec(b"");
        assert_eq!(args_col(&e), "/bin/ls [argc=0]\n");
        e.filename.clear();
        assert_eq!(args_col(&e), "[ls] [argc=0]\n");
        e.comm = b"a\x1bb".to_vec();
        assert_eq!(args_col(&e), "[a\\x1bb] [argc=0]\n");
    }

    #[test]
    fn empty_argv0_with_more_args() {
        let e = exec(b"\0-x\0y\0");
        assert_eq!(args_col(&e), "/bin/ls [argv0=\"\"] -x y\n");
        assert_eq!(row(max(1), &e)[14..], *"/bin/ls [argv0=\"\"] -x [...]\n");
        let mut e = e;
        e.filename = b"/tmp/\nevil".to_vec();
        assert_eq!(args_col(&e), "/tmp/\\nevil [argv0=\"\"] -x y\n");
    }

    #[test]
    fn truncated_row() {
        // Cut at the capture cap mid-argument.
        let mut e = exec(b"echo\0aaa\0bb");
        e.args_size = 100;
        assert_eq!(args_col(&e), "echo aaa bb [...]\n");
        e.flags.args_truncated = true;
        assert_eq!(args_col(&e), "echo aaa bb [...]\n");
    }

    #[test]
    fn never_two_markers() {
        let mut e = exec(b"echo\0a\0b\0c");
        e.args_size = 100;
        e.flags.args_truncated = true;
        assert_eq!(row(max(1), &e)[14..], *"echo a [...]\n");
        // -a not reached: only the truncation marker.
        assert_eq!(row(max(5), &e)[14..], *"echo a b c [...]\n");
    }

    #[test]
    fn read_failure_marked() {
        let mut e = exec(b"echo\0a");
        e.args_size = 100;
        e.flags.args_read_failed = true;
        assert_eq!(args_col(&e), "echo a [args unreadable]\n");
        assert_eq!(row(max(0), &e)[14..], *"echo [...] [args unreadable]\n");
        // Nothing read at all: argc is unknown, so no [argc=0].
        e.args.clear();
        assert_eq!(args_col(&e), "/bin/ls [args unreadable]\n");
        // The empty argv[0] was read, then the rest failed.
        e.args = b"\0".to_vec();
        assert_eq!(args_col(&e), "/bin/ls [argv0=\"\"] [args unreadable]\n");
        // ... or was cut by the cap.
        e.flags.args_read_failed = false;
        assert_eq!(args_col(&e), "/bin/ls [argv0=\"\"] [...]\n");
    }

    #[test]
    fn lost_goes_to_err() {
        let mut s = sink(TextOptions::default());
        s.lost(&Lost { count: 7, kind: LostKind::Exec, ts_ns: 1 }).unwrap();
        s.lost(&Lost { count: 1, kind: LostKind::Malformed, ts_ns: 2 }).unwrap();
        s.finish(&Totals::default()).unwrap();
        let (out, err) = s.into_inner();
        assert!(out.is_empty());
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "WARNING: lost 7 events (ring buffer full)\nWARNING: lost 1 events (malformed records)\n"
        );
    }

    #[test]
    fn line_buffer_is_reused() {
        let mut s = sink(TextOptions::default());
        let e = exec(b"a\0b\0");
        s.exec(&e).unwrap();
        let cap = s.line.capacity();
        let ptr = s.line.as_ptr();
        for _ in 0..100 {
            s.exec(&e).unwrap();
        }
        assert_eq!((s.line.capacity(), s.line.as_ptr()), (cap, ptr));
        assert_eq!(s.into_inner().0.len(), 101 * "  4242      1 a b\n".len());
    }

    #[test]
    fn argv_iter_matches_split_args() {
        let cases: &[&[u8]] = &[b"", b"\0", b"\0\0", b"a", b"a\0", b"a\0\0", b"a\0b", b"\0a\0", b"a\0\0b\0"];
        for &c in cases {
            assert_eq!(argv_iter(c).collect::<Vec<_>>(), split_args(c), "{c:?}");
        }
    }
}
