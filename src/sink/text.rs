//! The text sink: the original execsnoop's columns, one line per exec.
//!
//! This module owns the human-readable format:
//!
//! ```text
//! TIMEs               PID   PPID ARGS
//! 12345.678901       4242   4100 ls -l /tmp
//! ```
//!
//! Columns, in this order, each followed by one space; the optional ones
//! appear only with their option:
//!
//! | column | option | format |
//! | --- | --- | --- |
//! | `TIMEs` | `-t` | seconds since boot, six decimals, `%-16s` |
//! | `TIME` | `-T` | wall-clock `HH:MM:SS`, local time zone, of the kernel timestamp, `%-8s` |
//! | `UID` | `-U` | real user id, `%-6s` |
//! | `PCOMM` | `-M` | the parent's name, escaped, `%-16s` |
//! | `PID`, `PPID` | | `%6s` each |
//! | `RET` | `-x` | 0, or -errno for a failed attempt, `%3s` |
//! | `EXIT`, `TIME(s)`, `CPU(s)` | `--wait` | how it ended, its lifetime and CPU time |
//! | `CGROUP` | `--print-cgroup` | the cgroup v2 path, escaped; `?` when unknown |
//! | `CONTAINER` | `--print-container` | the container id (12 characters), `%-12s` |
//! | `CWD` | `--cwd` | the working directory at the exec, escaped |
//! | `ARGS` | | the arguments |
//!
//! `-t` and `-T` exclusive (the command line rejects both). Wider values are
//! never cut; they push the rest of the row right.
//!
//! `ARGS` is the argument vector, each argument escaped with
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
//! With `-q` each argument is instead quoted for a POSIX shell
//! ([`crate::escape::shell_quote_into`]), so that `ARGS` pasted into `sh`
//! runs the same argv, and the markers move to a trailing shell comment:
//! `/bin/ls 'a b' # [...]`. A substituted argv\[0\] (the filename, or the
//! process name when that is empty too, `[comm]`) is quoted like any other
//! argument.
//!
//! Lost records are reported on the error stream, never mixed into the
//! columns.

use std::io::{self, Write};

use crate::escape::{escape_into, shell_quote_into};
use std::collections::HashMap;

use crate::event::{Exec, Exit, ExitStatus, Fate, Lost, Totals};
use crate::format::{push_i64, push_secs, push_u64};
use crate::summary::Summary;
use crate::sink::column::{self, Align, Col, OnExit};
use crate::sink::{Clock, Sink};

/// How process ends appear in text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExitDisplay {
    /// Not shown.
    #[default]
    Off,
    /// `-e`: an extra line per exit.
    Lines,
    /// `--wait`: one line per process, printed when it ends.
    Wait,
}

/// Columns and limits of the text format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// `-t`: a first column with the kernel timestamp in seconds since boot.
    pub boot_time: bool,
    /// `-a N`: at most N arguments after argv[0], then ` [...]`.
    pub max_args: Option<usize>,
    /// `-T`: a first column with the wall-clock time, `HH:MM:SS` local time.
    pub wall_time: bool,
    /// `-U`: a UID column.
    pub uid: bool,
    /// `-M`: a PCOMM column (the parent's name).
    pub pcomm: bool,
    /// `-x`: a RET column (0, or -errno for a failed attempt).
    pub ret: bool,
    /// `-q`: arguments quoted for a POSIX shell instead of escaped.
    pub quote: bool,
    /// `-e` / `--wait`: how exits are shown.
    pub exits: ExitDisplay,
    /// `--tree`: indent ARGS by the process's depth.
    pub tree: bool,
    /// `--cwd`: a CWD column.
    pub cwd: bool,
    /// `--env`: a trailing `[env: ...]`.
    pub env: bool,
    /// `--print-container`: a CONTAINER column.
    pub container: bool,
    /// With the context read: `[setuid]`, `[setgid]`, `[caps]` marks.
    pub privilege: bool,
    /// `--names`: the UID column shows user names.
    pub names: bool,
}

/// Writes execs as text columns to `out` and loss warnings to `err`.
pub struct TextSink<W, E> {
    out: W,
    err: E,
    opts: TextOptions,
    clock: Clock,
    /// `--print-cgroup`: a CGROUP column.
    cgroups: bool,
    /// The columns shown, in row order (from [`column::COLUMNS`]).
    columns: Vec<Col>,
    /// `--names`: user names by uid, read once from /etc/passwd.
    users: Option<HashMap<u32, Vec<u8>>>,
    /// `-T`: the last second formatted.
    wall: WallClock,
    /// Reused for every line, so steady state does no allocation.
    line: Vec<u8>,
    /// Where the EXIT/TIME(s)/CPU(s) columns go in `line` (after RET).
    exit_cols_at: usize,
}

impl<W: Write, E: Write> TextSink<W, E> {
    /// A sink writing rows to `out` and warnings to `err`.
    pub fn new(out: W, err: E, opts: TextOptions, clock: Clock) -> Self {
        if opts.wall_time {
            init_time_zone();
        }
        let users = (opts.uid && opts.names).then(read_users);
        let columns = column::shown(&opts, false);
        TextSink {
            out,
            err,
            opts,
            clock,
            cgroups: false,
            columns,
            users,
            wall: WallClock::default(),
            line: Vec::with_capacity(4096),
            exit_cols_at: 0,
        }
    }

    /// Add a CGROUP column (the paths [`crate::enrich`] filled in).
    pub fn with_cgroups(mut self, cgroups: bool) -> Self {
        self.cgroups = cgroups;
        self.columns = column::shown(&self.opts, cgroups);
        self
    }

    /// The writers back, e.g. to inspect what was written.
    #[cfg(test)]
    pub fn into_inner(self) -> (W, E) {
        (self.out, self.err)
    }

    /// Every column but ARGS, into `self.line` (cleared first), as the
    /// table ([`column::COLUMNS`]) lays them out: an exec's values, or an
    /// exit line's (its time, pid and ppid; the rest as the table says).
    fn format_cols(&mut self, cell: Cell<'_>) {
        self.line.clear();
        for i in 0..self.columns.len() {
            let col = self.columns[i];
            let spec = column::spec(col);
            let start = self.line.len();
            if col == Col::Args {
                return;
            }
            if col == Col::Wait {
                // Filled in when the process ends.
                self.exit_cols_at = start;
                continue;
            }
            match (cell, spec.on_exit) {
                (Cell::Exit(_), OnExit::Blank) => {}
                (Cell::Exit(_), OnExit::Dash) => self.line.push(b'-'),
                _ => self.push_value(col, cell),
            }
            let line = &mut self.line;
            match (spec.align, col) {
                (Align::Left, Col::Pcomm) => pad_chars_to(line, start, spec.width),
                (Align::Left, _) => pad_to(line, start, spec.width),
                (Align::Right, _) => right_align(line, start, spec.width),
            }
            line.push(b' ');
        }
    }

    /// The value of `col` for `cell` (unpadded).
    fn push_value(&mut self, col: Col, cell: Cell<'_>) {
        let line = &mut self.line;
        match (col, cell) {
            (Col::BootTime, _) => push_boot_time(line, cell.ts_ns()),
            (Col::WallTime, _) => self.wall.push(line, self.clock.wall_ns(cell.ts_ns())),
            (Col::Pid, _) => push_u64(line, u64::from(cell.pid())),
            (Col::Ppid, _) => push_u64(line, u64::from(cell.ppid())),
            (Col::Uid, Cell::Exec(e)) => match self.users.as_ref().and_then(|u| u.get(&e.uid)) {
                Some(name) => escape_into(line, name),
                None => push_u64(line, e.uid.into()),
            },
            (Col::Pcomm, Cell::Exec(e)) => escape_into(line, &e.pcomm),
            (Col::Ret, Cell::Exec(e)) => push_i64(line, e.ret.into()),
            (Col::Cgroup, Cell::Exec(e)) => match &e.cgroup {
                Some(path) => escape_into(line, path),
                None => line.push(b'?'),
            },
            (Col::Container, Cell::Exec(e)) => match &e.container {
                Some(c) if !c.id.is_empty() => line.extend_from_slice(&c.id.as_bytes()[..c.id.len().min(12)]),
                Some(c) => line.extend_from_slice(c.runtime.as_bytes()),
                None => line.push(b'-'),
            },
            (Col::Cwd, Cell::Exec(e)) => match (&e.cwd[..], e.flags.cwd_truncated) {
                (b"", _) => line.push(b'?'),
                (cwd, true) => {
                    line.extend_from_slice(b".../");
                    escape_into(line, cwd);
                }
                (cwd, false) => escape_into(line, cwd),
            },
            // An exit's other columns follow the table's OnExit; ARGS and
            // the --wait columns are written by their callers.
            _ => {}
        }
    }

    /// Indentation for `--tree`.
    fn push_indent(&mut self, depth: Option<u32>) {
        if self.opts.tree {
            let n = depth.unwrap_or(0).min(64) as usize;
            self.line.resize(self.line.len() + 2 * n, b' ');
        }
    }

    /// Format one exec row into `self.line` (cleared first).
    fn format_exec(&mut self, e: &Exec) {
        self.format_cols(Cell::Exec(e));
        self.push_indent(e.depth);
        let line = &mut self.line;

        if e.args_unavailable() {
            // A racy source found the process gone: its name, in brackets,
            // rather than an empty or stale line.
            line.push(b'[');
            escape_into(line, &e.comm);
            line.push(b']');
            line.push(b'\n');
            return;
        }

        let quote = self.opts.quote;
        let push_arg = |line: &mut Vec<u8>, arg: &[u8]| {
            if quote { shell_quote_into(line, arg) } else { escape_into(line, arg) }
        };
        // Markers: inline when escaping; collected for a trailing comment
        // when quoting.
        let mut notes = Notes::new(quote);

        let mut args = e.args().peekable();
        if e.argv0_empty() {
            // Skip the empty argv[0] (absent when the area is empty).
            args.next();
            if e.filename.is_empty() {
                if quote {
                    push_arg(line, &e.comm);
                    notes.add(line, "[comm]");
                } else {
                    line.push(b'[');
                    escape_into(line, &e.comm);
                    line.push(b']');
                }
            } else {
                push_arg(line, &e.filename);
            }
            if args.peek().is_some() {
                notes.add(line, "[argv0=\"\"]");
            } else if !e.args_incomplete() {
                notes.add(line, "[argc=0]");
            } else if !e.args.is_empty() {
                // The empty argv[0] was read but the area goes on: more
                // arguments exist that were not captured.
                notes.add(line, "[argv0=\"\"]");
            }
            // Else nothing was read at all: argc is unknown, not zero, and
            // the marker added below says so.
        } else if let Some(arg0) = args.next() {
            push_arg(line, arg0);
        }

        let mut cut = false;
        for (shown, arg) in args.enumerate() {
            if self.opts.max_args.is_some_and(|max| shown >= max) {
                cut = true;
                break;
            }
            line.push(b' ');
            push_arg(line, arg);
        }
        if cut {
            notes.add(line, "[...]");
        }

        if !e.fd_path.is_empty() {
            // Run through a descriptor: say which file it was.
            let mut note = b"[exe=".to_vec();
            escape_into(&mut note, &e.filename);
            note.push(b']');
            notes.add_bytes(line, &note);
        }
        if e.flags.args_read_failed {
            notes.add(line, "[args unreadable]");
        } else if e.args_incomplete() && !cut {
            notes.add(line, "[...]");
        }
        if e.flags.parts_lost {
            notes.add(line, "[parts lost: ring buffer full]");
        }
        if e.redacted() {
            notes.add(line, "[redacted]");
        }
        if self.opts.privilege
            && let Some(c) = e.context.as_deref()
        {
            for p in c.privilege.names() {
                let mark = match p {
                    "setuid" => "[setuid]",
                    "setgid" => "[setgid]",
                    _ => "[caps]",
                };
                notes.add(line, mark);
            }
        }
        if self.opts.env {
            let mut note = b"[env:".to_vec();
            for var in crate::event::split_area(&e.env) {
                note.push(b' ');
                escape_into(&mut note, var);
            }
            if e.flags.env_truncated {
                note.extend_from_slice(b" ...");
            } else if e.flags.env_read_failed {
                note.extend_from_slice(b" (unreadable)");
            }
            note.push(b']');
            notes.add_bytes(line, &note);
        }
        notes.finish(line);
        line.push(b'\n');
    }
}

impl<W: Write, E: Write> Sink for TextSink<W, E> {
    fn header(&mut self) -> io::Result<()> {
        self.line.clear();
        for &col in &self.columns {
            let spec = column::spec(col);
            let start = self.line.len();
            self.line.extend_from_slice(spec.header.as_bytes());
            if col == Col::Args {
                break;
            }
            match spec.align {
                Align::Left => pad_to(&mut self.line, start, spec.width),
                Align::Right => right_align(&mut self.line, start, spec.width),
            }
            self.line.push(b' ');
        }
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    fn exec(&mut self, e: &Exec) -> io::Result<()> {
        if self.opts.exits == ExitDisplay::Wait {
            // Under --wait every exec comes with its fate (`ended`).
            return self.ended(e, if e.ret == 0 { &Fate::Running } else { &Fate::Failed });
        }
        self.format_exec(e);
        self.out.write_all(&self.line)
    }

    /// `--wait`: the exec's row with how its program ended.
    fn ended(&mut self, e: &Exec, fate: &Fate) -> io::Result<()> {
        self.format_exec(e);
        if self.opts.exits == ExitDisplay::Wait {
            let mut cols = Vec::with_capacity(32);
            match fate {
                Fate::Exited(x) => push_wait_cols(&mut cols, Some(x)),
                Fate::Running => push_wait_cols(&mut cols, None),
                Fate::Replaced => cols.extend_from_slice(WAIT_REPLACED),
                Fate::Failed => cols.extend_from_slice(WAIT_BLANK),
            }
            let at = self.exit_cols_at;
            self.line.splice(at..at, cols);
        }
        self.out.write_all(&self.line)
    }

    fn exit(&mut self, x: &Exit) -> io::Result<()> {
        match self.opts.exits {
            ExitDisplay::Off => Ok(()),
            // An exit that ends a row comes with it (`ended`); others (a
            // forked child that never exec'd) get no row of their own.
            ExitDisplay::Wait => Ok(()),
            ExitDisplay::Lines => {
                if !x.execed() {
                    // A forked child that never exec'd: counted in the
                    // summary and JSON, not worth a line of its own.
                    return Ok(());
                }
                self.format_cols(Cell::Exit(x));
                self.push_indent(x.depth);
                let line = &mut self.line;
                line.extend_from_slice(b"[exit: ");
                push_status(line, x.status);
                if let Some(l) = x.lifetime_ns() {
                    line.extend_from_slice(b", lifetime ");
                    push_secs(line, l);
                    line.push(b's');
                }
                if let Some(c) = x.cpu_ns {
                    line.extend_from_slice(b", cpu ");
                    push_secs(line, c);
                    line.push(b's');
                }
                line.extend_from_slice(b"] ");
                escape_into(line, &x.comm);
                line.push(b'\n');
                self.out.write_all(&self.line)
            }
        }
    }

    fn lost(&mut self, l: &Lost) -> io::Result<()> {
        // Rows already formatted come first, so the warning lands where the
        // loss happened when both streams go to the same terminal.
        self.out.flush()?;
        let why = l.kind.reason();
        writeln!(self.err, "WARNING: lost {} events ({why})", l.count)?;
        self.err.flush()
    }

    fn summary(&mut self, s: &Summary) -> io::Result<()> {
        let mut t = Vec::with_capacity(256 + 96 * s.commands.len());
        t.push(b'\n');
        write!(t, "{:<16} {:>6} ", "COMMAND", "EXECS")?;
        if s.failed_traced {
            write!(t, "{:>6} ", "FAILED")?;
        }
        writeln!(
            t,
            "{:>6} {:>10} {:>9} {:>10} {:>9} {:>7}",
            "EXITS", "CPU(s)", "AVG_CPU", "TIME(s)", "AVG_TIME", "RUNNING"
        )?;
        let rows = s.commands.iter().map(|c| (c, false)).chain(s.other.iter().map(|c| (c, true)));
        for (c, other) in rows.chain(std::iter::once((&s.total, false))) {
            let start = t.len();
            if other {
                // 16 characters without a `\`: no escaped name looks so.
                t.extend_from_slice(OTHER_COMMANDS.as_bytes());
            } else {
                escape_into(&mut t, &c.comm);
            }
            pad_chars_to(&mut t, start, 16);
            write!(t, " {:>6} ", c.execs)?;
            if s.failed_traced {
                write!(t, "{:>6} ", c.failed)?;
            }
            write!(t, "{:>6} ", c.exits)?;
            for (v, w) in
                [(Some(c.cpu_ns), 10), (c.mean_cpu_ns(), 9), (Some(c.lifetime_ns), 10), (c.mean_lifetime_ns(), 9usize)]
            {
                let mut n = Vec::new();
                match v {
                    Some(ns) => push_secs(&mut n, ns),
                    None => n.push(b'-'),
                }
                t.resize(t.len() + w.saturating_sub(n.len()), b' ');
                t.extend_from_slice(&n);
                t.push(b' ');
            }
            writeln!(t, "{:>7}", c.running)?;
        }
        self.out.write_all(&t)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _totals: &Totals) -> io::Result<()> {
        // The runner prints the closing summary itself.
        self.out.flush()
    }
}

/// `--summary`: the label of the row that adds up the commands beyond
/// [`crate::summary::NAMES_MAX`] names. A process name is at most 15
/// bytes, and escaped it is longer only with a `\` in it: no name can
/// print as this.
const OTHER_COMMANDS: &str = "(other commands)";

/// `--wait` columns of a failed attempt: it never ran.
pub(super) const WAIT_BLANK: &[u8] = b"-               -        - ";
/// `--wait` columns of a program replaced by a later exec of the same process.
const WAIT_REPLACED: &[u8] = b"exec            -        - ";

/// `--wait`: `EXIT TIME(s) CPU(s) ` for an exit, or for a process still
/// running (`running`, lifetime and CPU unknown: `-`).
fn push_wait_cols(cols: &mut Vec<u8>, x: Option<&Exit>) {
    let start = cols.len();
    match x {
        Some(x) => push_status_short(cols, x.status),
        None => cols.extend_from_slice(b"running"),
    }
    pad_to(cols, start, 8);
    cols.push(b' ');
    for v in [x.and_then(Exit::lifetime_ns), x.and_then(|x| x.cpu_ns)] {
        let mut tmp = Vec::with_capacity(16);
        match v {
            Some(ns) => push_secs(&mut tmp, ns),
            None => tmp.push(b'-'),
        }
        if tmp.len() < 8 {
            cols.resize(cols.len() + 8 - tmp.len(), b' ');
        }
        cols.extend_from_slice(&tmp);
        cols.push(b' ');
    }
}

/// `code 3`, `killed by SIGKILL`, `killed by SIGSEGV (core dumped)`, `unknown`.
fn push_status(line: &mut Vec<u8>, st: ExitStatus) {
    match st {
        ExitStatus::Code(c) => {
            line.extend_from_slice(b"code ");
            push_u64(line, c.into());
        }
        ExitStatus::Signal { signo, core_dumped } => {
            line.extend_from_slice(b"killed by ");
            line.extend_from_slice(crate::signal::name(signo.into()).as_bytes());
            if core_dumped {
                line.extend_from_slice(b" (core dumped)");
            }
        }
        ExitStatus::Unknown => line.extend_from_slice(b"unknown"),
    }
}

/// The EXIT column: `3`, `SIGKILL`, `SIGSEGV+c` (core dumped), `?`.
fn push_status_short(line: &mut Vec<u8>, st: ExitStatus) {
    match st {
        ExitStatus::Code(c) => push_u64(line, c.into()),
        ExitStatus::Signal { signo, core_dumped } => {
            line.extend_from_slice(crate::signal::name(signo.into()).as_bytes());
            if core_dumped {
                line.extend_from_slice(b"+c");
            }
        }
        ExitStatus::Unknown => line.push(b'?'),
    }
}

/// User names by uid from `/etc/passwd` (read once, never through NSS, so
/// it cannot block on a directory service); uids not there show as numbers.
fn read_users() -> HashMap<u32, Vec<u8>> {
    let text = std::fs::read("/etc/passwd").unwrap_or_default();
    text.split(|&b| b == b'\n')
        .filter_map(|l| {
            let mut f = l.split(|&b| b == b':');
            let name = f.next()?;
            let uid = std::str::from_utf8(f.nth(1)?).ok()?.parse().ok()?;
            Some((uid, name.to_vec()))
        })
        .collect()
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

/// The record a row is made of: an exec, or (`-e`) an exit.
#[derive(Clone, Copy)]
enum Cell<'a> {
    Exec(&'a Exec),
    Exit(&'a Exit),
}

impl Cell<'_> {
    fn ts_ns(self) -> u64 {
        match self {
            Cell::Exec(e) => e.ts_ns,
            Cell::Exit(x) => x.ts_ns,
        }
    }
    fn pid(self) -> u32 {
        match self {
            Cell::Exec(e) => e.pid,
            Cell::Exit(x) => x.pid,
        }
    }
    fn ppid(self) -> u32 {
        match self {
            Cell::Exec(e) => e.ppid,
            Cell::Exit(x) => x.ppid,
        }
    }
}

/// Right-align what was written since `start` in `width` characters.
fn right_align(line: &mut Vec<u8>, start: usize, width: usize) {
    let len = line.len() - start;
    if len < width {
        let pad = width - len;
        line.splice(start..start, std::iter::repeat_n(b' ', pad));
    }
}

/// Pad with spaces so that what was written since `start` is `width` wide.
fn pad_to(line: &mut Vec<u8>, start: usize, width: usize) {
    let written = line.len() - start;
    if written < width {
        line.resize(line.len() + (width - written), b' ');
    }
}

/// Pad with spaces so that the text written since `start` is `width`
/// characters wide (UTF-8: continuation bytes do not count).
fn pad_chars_to(line: &mut Vec<u8>, start: usize, width: usize) {
    let chars = line[start..].iter().filter(|&&b| b & 0xc0 != 0x80).count();
    if chars < width {
        line.resize(line.len() + (width - chars), b' ');
    }
}

/// The markers of one row: written in place (` [...]`) when arguments are
/// escaped, gathered into a trailing shell comment (` # [...]`) when they
/// are quoted, so that the quoted arguments stay pasteable.
struct Notes {
    quote: bool,
    held: [&'static str; 6],
    n: usize,
    /// Held notes made at run time (quoting only), each after a space.
    held_bytes: Vec<u8>,
}

impl Notes {
    fn new(quote: bool) -> Notes {
        Notes { quote, held: [""; 6], n: 0, held_bytes: Vec::new() }
    }

    /// A note made at run time, already escaped.
    fn add_bytes(&mut self, line: &mut Vec<u8>, note: &[u8]) {
        let to = if self.quote { &mut self.held_bytes } else { line };
        to.push(b' ');
        to.extend_from_slice(note);
    }

    fn add(&mut self, line: &mut Vec<u8>, note: &'static str) {
        if !self.quote {
            line.push(b' ');
            line.extend_from_slice(note.as_bytes());
        } else if let Some(slot) = self.held.get_mut(self.n) {
            *slot = note;
            self.n += 1;
        }
    }

    /// Write the held notes (quoting only).
    fn finish(self, line: &mut Vec<u8>) {
        if self.n > 0 || !self.held_bytes.is_empty() {
            line.extend_from_slice(b" #");
            line.extend_from_slice(&self.held_bytes);
            for note in &self.held[..self.n] {
                line.push(b' ');
                line.extend_from_slice(note.as_bytes());
            }
        }
    }
}

/// `-T`: `HH:MM:SS` in local time, formatted once per second.
#[derive(Default)]
struct WallClock {
    /// The second (since the epoch) `text` is for, once one was formatted.
    sec: Option<i64>,
    text: [u8; 8],
}

impl WallClock {
    fn push(&mut self, line: &mut Vec<u8>, wall_ns: i128) {
        let sec = i64::try_from(wall_ns.div_euclid(1_000_000_000)).unwrap_or(i64::MAX);
        if self.sec != Some(sec) {
            self.text = local_hms(sec);
            self.sec = Some(sec);
        }
        line.extend_from_slice(&self.text);
    }
}

/// `HH:MM:SS` of `sec` seconds since the epoch in the local time zone (TZ,
/// else /etc/localtime); `??:??:??` when the C library cannot convert it.
fn local_hms(sec: i64) -> [u8; 8] {
    #[allow(irrefutable_let_patterns, reason = "time_t is 64-bit here, 32-bit on some targets")]
    let Ok(t) = libc::time_t::try_from(sec) else { return *b"??:??:??" };
    // SAFETY: tm is plain old data; all-zero is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r writes only
    // into `tm` and is thread-safe.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return *b"??:??:??";
    }
    let two = |v: libc::c_int| {
        let v = v.clamp(0, 99) as u8;
        [b'0' + v / 10, b'0' + v % 10]
    };
    let (h, m, s) = (two(tm.tm_hour), two(tm.tm_min), two(tm.tm_sec));
    [h[0], h[1], b':', m[0], m[1], b':', s[0], s[1]]
}

unsafe extern "C" {
    /// POSIX `tzset(3)`; not exported by the `libc` crate for Linux.
    fn tzset();
}

/// Load the time zone (TZ, else /etc/localtime) once, up front, rather than
/// inside the first row's formatting.
fn init_time_zone() {
    // SAFETY: tzset has no preconditions; it only reads TZ and the zone file
    // and sets the C library's zone globals (under its own lock).
    unsafe { tzset() };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LostKind;

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
        TextOptions { max_args: Some(n), ..TextOptions::default() }
    }

    #[test]
    fn header_plain() {
        let mut s = sink(TextOptions::default());
        s.header().unwrap();
        assert_eq!(String::from_utf8(s.into_inner().0).unwrap(), "   PID   PPID ARGS\n");
    }

    #[test]
    fn header_with_boot_time() {
        let mut s = sink(TextOptions { boot_time: true, ..TextOptions::default() });
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
        let opts = TextOptions { boot_time: true, ..TextOptions::default() };
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
    fn redacted_marked_whatever_was_hidden() {
        let mut e = exec(b"mysql\0-p<redacted>\0");
        e.flags.args_redacted = true;
        assert_eq!(args_col(&e), "mysql -p<redacted> [redacted]\n", "no [...]: a redaction is not a cut");
        let mut e = exec(b"true\0");
        e.env = b"A=1\0DB_PASS=<redacted>\0".to_vec();
        e.flags.env_redacted = true;
        let opts = TextOptions { env: true, ..TextOptions::default() };
        assert_eq!(row(opts, &e)[14..], *"true [redacted] [env: A=1 DB_PASS=<redacted>]\n");
        e.flags.env_redacted = false;
        assert_eq!(args_col(&e), "true\n");
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

    fn header(opts: TextOptions, cgroups: bool) -> String {
        let mut s = sink(opts).with_cgroups(cgroups);
        s.header().unwrap();
        String::from_utf8(s.into_inner().0).unwrap()
    }

    /// The local `HH:MM:SS` of `sec`, from date(1), which reads the same
    /// TZ / /etc/localtime as the C library.
    fn date_hms(sec: i64) -> String {
        let out = std::process::Command::new("date").arg(format!("--date=@{sec}")).arg("+%H:%M:%S").output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn headers_with_every_column() {
        let all = TextOptions { wall_time: true, uid: true, pcomm: true, ret: true, ..TextOptions::default() };
        assert_eq!(
            header(all.clone(), false),
            format!("{:<8} {:<6} {:<16} {:>6} {:>6} {:>3} ARGS\n", "TIME", "UID", "PCOMM", "PID", "PPID", "RET")
        );
        assert_eq!(header(all, false), "TIME     UID    PCOMM               PID   PPID RET ARGS\n");
        assert_eq!(header(TextOptions::default(), true), "   PID   PPID CGROUP ARGS\n");
        assert_eq!(header(TextOptions { ret: true, ..TextOptions::default() }, false), "   PID   PPID RET ARGS\n");
        assert_eq!(header(TextOptions { uid: true, ..TextOptions::default() }, false), "UID       PID   PPID ARGS\n");
        assert_eq!(
            header(TextOptions { pcomm: true, ..TextOptions::default() }, false),
            "PCOMM               PID   PPID ARGS\n"
        );
    }

    #[test]
    fn wall_time_is_local_hh_mm_ss_of_the_kernel_timestamp() {
        // Kernel timestamp + offset = a known instant, not the print time.
        let base: i64 = 1_795_662_487; // 2026-11-26T03:08:07Z
        let mut s = TextSink::new(
            Vec::new(),
            Vec::new(),
            TextOptions { wall_time: true, ..TextOptions::default() },
            Clock { realtime_offset_ns: i128::from(base) * 1_000_000_000 - 5_000_000_000 },
        );
        let mut e = exec(b"ls\0");
        e.ts_ns = 5_999_999_999; // base + 0.999999999 s: still the same second
        s.exec(&e).unwrap();
        e.ts_ns = 6_000_000_000; // the next second
        s.exec(&e).unwrap();
        e.ts_ns = 3_600_000_000_000 + 5_000_000_000; // an hour later
        s.exec(&e).unwrap();
        let out = String::from_utf8(s.into_inner().0).unwrap();
        let rows: Vec<&str> = out.lines().collect();
        for (row, sec) in rows.iter().zip([base, base + 1, base + 3600]) {
            let want = date_hms(sec);
            assert_eq!(want.len(), 8);
            assert_eq!(*row, format!("{want}   4242      1 ls"));
        }
        assert_eq!(local_hms(base), date_hms(base).as_bytes());
        assert_eq!(local_hms(0), date_hms(0).as_bytes());
        assert_eq!(&local_hms(i64::MAX), b"??:??:??");
    }

    #[test]
    fn uid_pcomm_and_ret_columns() {
        let opts = TextOptions { uid: true, pcomm: true, ret: true, ..TextOptions::default() };
        let mut e = exec(b"ls\0-l\0");
        e.uid = 1000;
        e.pcomm = b"bash".to_vec();
        assert_eq!(row(opts.clone(), &e), format!("{:<6} {:<16} {:>6} {:>6} {:>3} ls -l\n", 1000, "bash", 4242, 1, 0));
        e.ret = -2;
        e.uid = 4_294_967_294;
        e.pcomm = b"ev\x1bil\xc3\xa9".to_vec();
        assert_eq!(
            row(opts.clone(), &e),
            format!("4294967294 {:<16} {:>6} {:>6}  -2 ls -l\n", "ev\\x1bil\u{e9}", 4242, 1)
        );
        e.ret = -36;
        assert!(row(opts.clone(), &e).contains("      1 -36 ls -l"));
        e.ret = i32::MIN;
        assert!(row(opts, &e).contains("      1 -2147483648 ls -l"));
    }

    #[test]
    fn quoted_arguments_and_notes_as_a_comment() {
        let q = TextOptions { quote: true, ..TextOptions::default() };
        let qa = |opts: TextOptions, e: &Exec| row(opts, e)[14..].to_string();
        assert_eq!(qa(q.clone(), &exec(b"ls\0-l\0a b\0\0it's\0")), "ls -l 'a b' '' 'it'\\''s'\n");
        assert_eq!(qa(q.clone(), &exec(b"echo\0\x1b[2J\0")), "echo \"$(printf '\\033')\"'[2J'\n");
        let cut = TextOptions { quote: true, max_args: Some(1), ..TextOptions::default() };
        assert_eq!(qa(cut, &exec(b"cmd\0a\0b\0")), "cmd a # [...]\n");
        assert_eq!(qa(q.clone(), &exec(b"\0")), "/bin/ls # [argc=0]\n");
        assert_eq!(qa(q.clone(), &exec(b"\0-x\0")), "/bin/ls -x # [argv0=\"\"]\n");
        let mut e = exec(b"");
        e.filename.clear();
        e.comm = b"a b".to_vec();
        assert_eq!(qa(q.clone(), &e), "'a b' # [comm] [argc=0]\n");
        let mut e = exec(b"echo\0a");
        e.args_size = 100;
        e.flags.args_read_failed = true;
        assert_eq!(qa(q, &e), "echo a # [args unreadable]\n");
    }

    fn wait_opts() -> TextOptions {
        TextOptions { exits: ExitDisplay::Wait, ..TextOptions::default() }
    }

    /// --wait: each row carries how its program ended, in the EXIT,
    /// TIME(s) and CPU(s) columns, under their header (the stage that
    /// holds the records is `crate::wait`).
    #[test]
    fn wait_rows_say_how_each_program_ended() {
        let mut s = sink(wait_opts());
        s.header().unwrap();
        let e = exec(b"sleep\x001\x00");
        let x = Exit {
            pid: e.pid,
            exec_ts_ns: e.ts_ns,
            ts_ns: e.ts_ns + 1_500_000_000,
            start_ts_ns: e.ts_ns,
            cpu_ns: Some(2_000_000),
            status: ExitStatus::Signal { signo: 9, core_dumped: false },
            ..Exit::default()
        };
        s.ended(&e, &Fate::Exited(x.clone())).unwrap();
        s.ended(&e, &Fate::Replaced).unwrap();
        s.ended(&e, &Fate::Running).unwrap();
        s.ended(&Exec { ret: -2, ..e.clone() }, &Fate::Failed).unwrap();
        // An exit that ends no row is not a line of its own.
        s.exit(&x).unwrap();
        s.finish(&Totals::default()).unwrap();
        let (out, _) = s.into_inner();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        let at = lines[0].find("EXIT").unwrap();
        let cols: Vec<&str> = lines[1..].iter().map(|l| l[at..].split(" sleep").next().unwrap().trim_end()).collect();
        assert_eq!(cols, ["SIGKILL     1.500    0.002", "exec            -        -", "running         -        -", "-               -        -"]);
    }

    #[test]
    fn cgroup_column() {
        let mut s = sink(TextOptions { ret: true, ..TextOptions::default() }).with_cgroups(true);
        let mut e = exec(b"ls\0");
        for path in [Some(&b"/sys.slice"[..]), Some(b"/sys.slice/a\x1bb"), Some(b"/"), None] {
            e.cgroup = path.map(<[u8]>::to_vec);
            s.exec(&e).unwrap();
        }
        let out = String::from_utf8(s.into_inner().0).unwrap();
        assert_eq!(
            out,
            "  4242      1   0 /sys.slice ls\n  4242      1   0 /sys.slice/a\\x1bb ls\n  4242      1   0 / ls\n  4242      1   0 ? ls\n"
        );
    }
}
