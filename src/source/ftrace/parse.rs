//! The text formats of the ftrace source, as pure functions: the lines of
//! `trace_pipe` (header and the bodies of the three sched events and of our
//! execve kprobe), the per-CPU `stats` files and the names we give
//! instances. The kprobe's definitions are in [`super::probe`].
//!
//! Everything here works on bytes (file names and arguments need not be
//! UTF-8) and returns `None` for anything it does not recognise; nothing
//! panics on hostile input. The kernel prints task names and strings as they
//! are, unescaped, so the parsers lean on what cannot be forged: a task name
//! is at most 15 bytes, numbers are digits, and the fixed fields of each
//! event sit at the end of its line.

/// The kernel's task name limit, without the NUL.
pub const COMM_MAX: usize = 15;

/// The part every event line starts with:
/// `  <task>-<pid>  (<tgid>) [<cpu>] <flags>  <secs>.<usecs>: <event>: `
/// where the `(<tgid>)` column appears only with the `record-tgid` option and
/// the flags column (4 characters before Linux 4.19, 5 after) is absent on
/// very old kernels or with `irq-info` off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The task name as printed. The kernel looks it up in its cache of
    /// recent names when the line is formatted, not when the event fired, so
    /// it may be stale (the name before an exec) or `<...>`.
    pub task: &'a [u8],
    /// Thread id of the task the event fired in.
    pub pid: u32,
    /// Its thread group id, when the `record-tgid` column is there and known.
    pub tgid: Option<u32>,
    /// CPU number.
    pub cpu: u32,
    /// The timestamp in nanoseconds, in the instance's trace clock.
    pub ts_ns: u64,
    /// Event name, e.g. `sched_process_exec`.
    pub event: &'a [u8],
}

/// One line of `trace_pipe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// An event: its header and the rest of the line after `<event>: `.
    Event(Header<'a>, &'a [u8]),
    /// `CPU:1 [LOST 123 EVENTS]`: the reader fell behind (the same events
    /// are counted as `overrun` in the per-CPU stats).
    Lost { cpu: u32, count: u64 },
    /// Nothing to read: an empty line or a `#` comment.
    Blank,
    /// Anything else.
    Malformed,
}

/// Parse one line (without its newline).
pub fn parse_line(line: &[u8]) -> Line<'_> {
    let trimmed = trim(line);
    if trimmed.is_empty() || trimmed[0] == b'#' {
        return Line::Blank;
    }
    if let Some((cpu, count)) = parse_lost(trimmed) {
        return Line::Lost { cpu, count };
    }
    // The task name may contain anything, `[1]` included: try every `[` and
    // keep the first position from which the whole header parses with one
    // of our events, else the first from which it parses at all. A task
    // name (15 bytes) is too short to hold a header naming one of our
    // events, so one it makes up never wins over the real one after it.
    let mut first = None;
    for (i, _) in line.iter().enumerate().filter(|&(_, &b)| b == b'[') {
        if let Some((h, body)) = header_at(line, i) {
            if is_our_event(h.event) {
                return Line::Event(h, body);
            }
            first = first.or(Some((h, body)));
        }
    }
    match first {
        Some((h, body)) => Line::Event(h, body),
        None => Line::Malformed,
    }
}

/// The events our instances enable: the three sched events and our
/// kprobes (`execve:`, or `<group>/execve:`).
pub fn is_our_event(ev: &[u8]) -> bool {
    let name = ev.rsplit(|&b| b == b'/').next().unwrap_or(ev);
    matches!(name, b"sched_process_exec" | b"sched_process_fork" | b"sched_process_exit" | b"execve" | b"execveat")
}

/// The header with the `[cpu]` column starting at `open`, and the body.
fn header_at(line: &[u8], open: usize) -> Option<(Header<'_>, &[u8])> {
    let close = open + 1 + line[open + 1..].iter().position(|&b| b == b']')?;
    let cpu = parse_u32(&line[open + 1..close])?;

    // Before the CPU: `<task>-<pid>` and perhaps `(<tgid>)`.
    let mut before = trim_end(&line[..open]);
    let mut tgid = None;
    if before.last() == Some(&b')') {
        let paren = before.iter().rposition(|&b| b == b'(')?;
        let inside = trim(&before[paren + 1..before.len() - 1]);
        if inside.iter().all(|&b| b == b'-') && !inside.is_empty() {
            tgid = None;
        } else {
            tgid = Some(parse_u32(inside)?);
        }
        before = trim_end(&before[..paren]);
    }
    let digits = before.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let dash = before.len().checked_sub(digits + 1)?;
    if digits == 0 || before[dash] != b'-' {
        return None;
    }
    let pid = parse_u32(&before[dash + 1..])?;
    let task = trim_start(&before[..dash]);

    // After the CPU: optional flags, then `<timestamp>: <event>: `.
    let mut rest = trim_start(&line[close + 1..]);
    let (first, after) = split_token(rest);
    let ts_token = if first.last() == Some(&b':') {
        first
    } else {
        if first.is_empty() || first.len() > 8 {
            return None;
        }
        rest = trim_start(after);
        let (second, _) = split_token(rest);
        second
    };
    let ts_ns = parse_timestamp(ts_token.strip_suffix(b":")?)?;
    rest = &rest[ts_token.len()..];
    let rest = rest.strip_prefix(b" ")?;
    let colon = rest.iter().position(|&b| b == b':')?;
    let event = &rest[..colon];
    if event.is_empty() || !event.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/' || b == b'.') {
        return None;
    }
    let body = &rest[colon + 1..];
    let body = body.strip_prefix(b" ").unwrap_or(body);
    Some((Header { task, pid, tgid, cpu, ts_ns, event }, body))
}

/// `CPU:<n> [LOST <count> EVENTS]`.
fn parse_lost(line: &[u8]) -> Option<(u32, u64)> {
    let rest = line.strip_prefix(b"CPU:")?;
    let sp = rest.iter().position(|&b| b == b' ')?;
    let cpu = parse_u32(&rest[..sp])?;
    let inner = rest[sp + 1..].strip_prefix(b"[LOST ")?.strip_suffix(b" EVENTS]")?;
    Some((cpu, parse_u64(inner)?))
}

/// A trace timestamp, `<secs>.<fraction>` (microseconds on every kernel so
/// far) or a plain counter, to nanoseconds.
pub fn parse_timestamp(tok: &[u8]) -> Option<u64> {
    let (secs, frac) = match tok.iter().position(|&b| b == b'.') {
        Some(dot) => (&tok[..dot], &tok[dot + 1..]),
        None => return parse_u64(tok),
    };
    if frac.is_empty() || frac.len() > 9 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut ns = parse_u64(frac)?;
    for _ in frac.len()..9 {
        ns *= 10;
    }
    parse_u64(secs)?.checked_mul(1_000_000_000)?.checked_add(ns)
}

/// `sched_process_exec`: `filename=<path> pid=<pid> old_pid=<tid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecFields<'a> {
    /// The path given to exec, exactly as the kernel recorded it.
    pub filename: &'a [u8],
    /// Process id after the exec.
    pub pid: u32,
    /// The thread that called exec.
    pub old_pid: u32,
}

/// Parse a `sched_process_exec` body. The file name may contain anything,
/// ` pid=` included: the numbers are taken from the end.
pub fn parse_exec(body: &[u8]) -> Option<ExecFields<'_>> {
    let rest = body.strip_prefix(b"filename=")?;
    let (rest, old_pid) = split_last_number(rest, b" old_pid=")?;
    let (filename, pid) = split_last_number(rest, b" pid=")?;
    Some(ExecFields { filename, pid: u32::try_from(pid).ok()?, old_pid: u32::try_from(old_pid).ok()? })
}

/// `sched_process_fork`: `comm=<parent> pid=<tid> child_comm=<name> child_pid=<tid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkFields<'a> {
    pub parent_comm: &'a [u8],
    /// The forking thread.
    pub parent_pid: u32,
    pub child_comm: &'a [u8],
    /// The new task (a process, or a thread of the parent's process).
    pub child_pid: u32,
}

/// Parse a `sched_process_fork` body. Names are at most 15 bytes, so the
/// first ` pid=<digits> child_comm=` is the real one.
pub fn parse_fork(body: &[u8]) -> Option<ForkFields<'_>> {
    let rest = body.strip_prefix(b"comm=")?;
    let (rest, child_pid) = split_last_number(rest, b" child_pid=")?;
    let mut from = 0;
    while let Some(off) = find(&rest[from..], b" pid=") {
        let at = from + off;
        let num = &rest[at + 5..];
        let digits = num.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0
            && let Some(child_comm) = num[digits..].strip_prefix(b" child_comm=")
        {
            return Some(ForkFields {
                parent_comm: &rest[..at],
                parent_pid: parse_u32(&num[..digits])?,
                child_comm,
                child_pid: u32::try_from(child_pid).ok()?,
            });
        }
        from = at + 1;
    }
    None
}

/// `sched_process_exit`: `comm=<name> pid=<tid> prio=<n>` and, on newer
/// kernels, ` group_dead=true|false` (or `1|0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitFields<'a> {
    pub comm: &'a [u8],
    /// The exiting thread.
    pub pid: u32,
    /// Whether it was the last thread of its process, when the kernel says.
    pub group_dead: Option<bool>,
}

/// Parse a `sched_process_exit` body.
pub fn parse_exit(body: &[u8]) -> Option<ExitFields<'_>> {
    let mut rest = body.strip_prefix(b"comm=")?;
    let mut group_dead = None;
    if let Some(at) = rfind(rest, b" group_dead=") {
        group_dead = Some(match &rest[at + 12..] {
            b"true" | b"1" => true,
            b"false" | b"0" => false,
            _ => return None,
        });
        rest = &rest[..at];
    }
    let at = rfind(rest, b" prio=")?;
    let prio = &rest[at + 6..];
    let prio = prio.strip_prefix(b"-").unwrap_or(prio);
    parse_u32(prio)?;
    let (comm, pid) = split_last_number(&rest[..at], b" pid=")?;
    Some(ExitFields { comm, pid: u32::try_from(pid).ok()?, group_dead })
}

/// What our execve kprobe fetched: see [`probe_definition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFields {
    /// The arguments read, in order, up to the end of argv, the first one
    /// that could not be read, or the probe's limit.
    pub args: Vec<Vec<u8>>,
    /// argv has more entries than the probe fetches.
    pub truncated: bool,
    /// An argument could not be read (its memory was not resident, or the
    /// line was cut by a newline inside an argument): `args` stops before it.
    pub read_failed: bool,
}

/// Parse the body of our execve kprobe:
/// `(__x64_sys_execve+0x0/0x30) arg0="ls" arg1="-l" arg2=(fault) ... ptr0=94.. ptr1=94.. ptr2=0 ...`.
/// The strings are printed raw between quotes, so each one ends where the
/// next field's name begins; the pointer fields (digits only) come last and
/// say whether a missing string was the end of argv (a NULL pointer) or a
/// failed read.
pub fn parse_probe(body: &[u8]) -> Option<ProbeFields> {
    let body = body.strip_prefix(b"(")?;
    let close = body.iter().position(|&b| b == b')')?;
    let fields = &body[close + 1..];

    // The pointers: ` ptr0=<n> ptr1=<n> ...` at the very end.
    let (strings, ptrs) = match rfind(fields, b" ptr0=") {
        Some(at) => (&fields[..at], parse_ptrs(&fields[at..])?),
        // A line cut short (a newline inside an argument): no pointers.
        None => (fields, Vec::new()),
    };

    let mut out = ProbeFields { args: Vec::new(), truncated: false, read_failed: false };
    let mut rest = strings;
    let mut i = 0usize;
    let mut ended = false;
    loop {
        let key = format!(" arg{i}=");
        let Some(after) = rest.strip_prefix(key.as_bytes()) else { break };
        if after.starts_with(b"(fault)") {
            // Unread argument: the end of argv if its pointer is NULL.
            match ptrs.get(i) {
                Some(0) => ended = true,
                _ => out.read_failed = true,
            }
            break;
        }
        let value = after.strip_prefix(b"\"")?;
        let next = format!("\" arg{}=", i + 1);
        match find(value, next.as_bytes()) {
            Some(end) => {
                out.args.push(value[..end].to_vec());
                rest = &value[end + 1..];
            }
            None => match value.strip_suffix(b"\"") {
                Some(v) if !ptrs.is_empty() => {
                    out.args.push(v.to_vec());
                    rest = b"";
                }
                // No closing quote, or no pointer fields: the line was cut.
                _ => {
                    out.args.push(value.strip_suffix(b"\"").unwrap_or(value).to_vec());
                    out.read_failed = true;
                    return Some(out);
                }
            },
        }
        i += 1;
    }
    if ptrs.is_empty() {
        out.read_failed = true;
    } else if !ended && !out.read_failed {
        // Every fetched argument was there: more follow unless the pointer
        // after the last one is NULL.
        if out.args.len() + 1 == ptrs.len() {
            out.truncated = ptrs[out.args.len()] != 0;
        } else if out.args.len() < ptrs.len() && ptrs[out.args.len()] == 0 {
            // argv ended exactly where the strings did.
        } else {
            return None;
        }
    }
    Some(out)
}

/// ` ptr0=<n> ptr1=<n> ...` → the numbers, in order; `(fault)` reads as 1
/// (not NULL: unknown).
fn parse_ptrs(s: &[u8]) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    for (i, tok) in s.split(|&b| b == b' ').filter(|t| !t.is_empty()).enumerate() {
        let key = format!("ptr{i}=");
        let v = tok.strip_prefix(key.as_bytes())?;
        out.push(if v == b"(fault)" { 1 } else { parse_u64(v).or_else(|| parse_hex(v))? });
    }
    Some(out)
}

/// The events lost on one CPU, from its `per_cpu/cpuN/stats` file: events
/// overwritten before they were read (`overrun`), lost to nested-write
/// overflow (`commit overrun`) and refused because the buffer was full in
/// non-overwrite mode (`dropped events`).
pub fn parse_stats(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut seen = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        if matches!(key.trim(), "overrun" | "commit overrun" | "dropped events") {
            total = total.saturating_add(value.trim().parse::<u64>().ok()?);
            seen = true;
        }
    }
    seen.then_some(total)
}

/// Every event an instance that is never read took, from one CPU's
/// `stats`: those still in its buffer (`entries`) and those lost as in
/// [`parse_stats`].
pub fn parse_stats_written(text: &str) -> Option<u64> {
    let lost = parse_stats(text)?;
    let entries = text.lines().find_map(|l| l.strip_prefix("entries:"))?.trim().parse::<u64>().ok()?;
    Some(lost.saturating_add(entries))
}

/// The pid in one of our instance names: `execsnoop-<pid>` or, when that
/// name was taken, `execsnoop-<pid>-<n>`.
pub fn instance_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("execsnoop-")?;
    let pid = rest
        .split_once('-')
        .map_or(rest, |(p, n)| if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() { p } else { "" });
    parse_u32(pid.as_bytes())
}

/// The basename of a path, cut to a task name's length: the name the kernel
/// gives a process at exec when nothing better is known.
pub fn comm_from_filename(filename: &[u8]) -> Vec<u8> {
    let base = filename.rsplit(|&b| b == b'/').next().unwrap_or(filename);
    base[..base.len().min(COMM_MAX)].to_vec()
}

fn split_last_number<'a>(s: &'a [u8], key: &[u8]) -> Option<(&'a [u8], u64)> {
    let at = rfind(s, key)?;
    Some((&s[..at], parse_u64(&s[at + key.len()..])?))
}

fn split_token(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s.iter().position(|&b| b == b' ').unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn parse_hex(s: &[u8]) -> Option<u64> {
    let h = s.strip_prefix(b"0x")?;
    u64::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
}

fn parse_u32(s: &[u8]) -> Option<u32> {
    u32::try_from(parse_u64(s)?).ok()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn trim(s: &[u8]) -> &[u8] {
    trim_end(trim_start(s))
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|&&b| b == b' ' || b == b'\t' || b == b'\r').count();
    &s[..s.len() - n]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded on this project's test VM (Linux 6.18, x86_64) from a
    /// scratch instance with the three sched events on, before and after
    /// `record-tgid` was switched on.
    const RECORDED: &[&str] = &[
        "            bash-31511   [001] ..... 10541.877228: sched_process_fork: comm=bash pid=31511 child_comm=bash child_pid=31519",
        "              sh-31519   [000] ..... 10541.880592: sched_process_exec: filename=/usr/bin/sh pid=31519 old_pid=31519",
        "              ls-31520   [001] ..... 10541.885673: sched_process_exit: comm=ls pid=31520 prio=120 group_dead=true",
        "            bash-31525   [000] ..... 10542.100685: sched_process_exec: filename=/usr/bin/cat pid=31525 old_pid=31525",
        "            bash-31554   (  31554) [000] ..... 10542.315129: sched_process_fork: comm=bash pid=31554 child_comm=bash child_pid=31562",
        "         python3-31570   (  31529) [000] ..... 10542.432067: sched_process_exit: comm=python3 pid=31570 prio=120 group_dead=false",
    ];

    fn event(line: &str) -> (Header<'_>, &[u8]) {
        match parse_line(line.as_bytes()) {
            Line::Event(h, b) => (h, b),
            other => panic!("not an event: {line:?} -> {other:?}"),
        }
    }

    #[test]
    fn recorded_lines() {
        let (h, b) = event(RECORDED[0]);
        assert_eq!((h.task, h.pid, h.tgid, h.cpu), (&b"bash"[..], 31511, None, 1));
        assert_eq!(h.ts_ns, 10_541_877_228_000);
        assert_eq!(h.event, b"sched_process_fork");
        let f = parse_fork(b).unwrap();
        assert_eq!(f, ForkFields { parent_comm: b"bash", parent_pid: 31511, child_comm: b"bash", child_pid: 31519 });

        let (h, b) = event(RECORDED[1]);
        assert_eq!((h.pid, h.event), (31519, &b"sched_process_exec"[..]));
        assert_eq!(parse_exec(b).unwrap(), ExecFields { filename: b"/usr/bin/sh", pid: 31519, old_pid: 31519 });

        let (h, b) = event(RECORDED[2]);
        assert_eq!(h.event, b"sched_process_exit");
        assert_eq!(parse_exit(b).unwrap(), ExitFields { comm: b"ls", pid: 31520, group_dead: Some(true) });

        // The task column is the kernel's cached name: stale after an exec.
        let (h, b) = event(RECORDED[3]);
        assert_eq!(h.task, b"bash");
        assert_eq!(parse_exec(b).unwrap().filename, b"/usr/bin/cat");

        let (h, _) = event(RECORDED[4]);
        assert_eq!((h.pid, h.tgid, h.cpu), (31554, Some(31554), 0));

        let (h, b) = event(RECORDED[5]);
        assert_eq!((h.pid, h.tgid), (31570, Some(31529)));
        assert_eq!(parse_exit(b).unwrap().group_dead, Some(false));
    }

    #[test]
    fn old_formats() {
        // Linux 3.x-4.18: four flag characters, `group_dead` not yet printed.
        let (h, b) = event(
            "            bash-1234  [003] d..2  5678.000123: sched_process_exec: filename=/bin/ls pid=1235 old_pid=1235",
        );
        assert_eq!((h.pid, h.cpu, h.ts_ns), (1234, 3, 5_678_000_123_000));
        assert_eq!(parse_exec(b).unwrap().pid, 1235);
        let (_, b) = event("              ls-1235  [000] ....   100.5: sched_process_exit: comm=ls pid=1235 prio=120");
        assert_eq!(parse_exit(b).unwrap(), ExitFields { comm: b"ls", pid: 1235, group_dead: None });
        // Very old kernels (or irq-info off): no flags column at all.
        let (h, b) = event(
            "            bash-1234  [001]  1234.567890: sched_process_fork: comm=bash pid=1234 child_comm=bash child_pid=1235",
        );
        assert_eq!((h.pid, h.ts_ns), (1234, 1_234_567_890_000));
        assert_eq!(parse_fork(b).unwrap().child_pid, 1235);
        // `group_dead=1` style, unknown tgid, unknown task name.
        let (h, b) = event(
            "           <...>-77     (-------) [001] d..1.    9.000001: sched_process_exit: comm=x pid=77 prio=120 group_dead=1",
        );
        assert_eq!((h.task, h.pid, h.tgid), (&b"<...>"[..], 77, None));
        assert_eq!(parse_exit(b).unwrap().group_dead, Some(true));
        // A counter clock prints an integer.
        let (h, _) = event("  a-1 [000] ..... 123456789: sched_process_exit: comm=a pid=1 prio=120");
        assert_eq!(h.ts_ns, 123456789);
    }

    #[test]
    fn hostile_task_names() {
        // Spaces, dashes, brackets, a fake pid and a fake cpu in the name.
        let (h, b) =
            event(" a-1 [0] b-c-42 (  7) [001] ..... 10.000002: sched_process_exec: filename=/x pid=42 old_pid=42");
        assert_eq!((h.task, h.pid, h.tgid, h.cpu), (&b"a-1 [0] b-c"[..], 42, Some(7), 1));
        assert_eq!(h.ts_ns, 10_000_002_000);
        assert_eq!(parse_exec(b).unwrap().pid, 42);
        let (h, b) = event("x 5.0: a: -9   [001] ..... 11.000000: sched_process_exit: comm=x 5.0: a: pid=9 prio=120");
        assert_eq!((h.task, h.pid, h.ts_ns), (&b"x 5.0: a: "[..], 9, 11_000_000_000));
        assert_eq!(parse_exit(b).unwrap(), ExitFields { comm: b"x 5.0: a:", pid: 9, group_dead: None });
        let (_, b) = event(
            "  -1-2-3   [000] ..... 1.000000: sched_process_fork: comm=a pid=1 b pid=3 child_comm=q pid=5 child_comm=z child_pid=9",
        );
        let f = parse_fork(b).unwrap();
        assert_eq!(
            (f.parent_comm, f.parent_pid, f.child_comm, f.child_pid),
            (&b"a pid=1 b"[..], 3, &b"q pid=5 child_comm=z"[..], 9)
        );
        let (_, b) =
            event("  p-1 [000] ..... 1.000000: sched_process_exit: comm=a pid=2 prio=3 pid=4 prio=120 group_dead=true");
        assert_eq!(parse_exit(b).unwrap(), ExitFields { comm: b"a pid=2 prio=3", pid: 4, group_dead: Some(true) });
    }

    /// A task name with a newline in it cuts the line: what follows the
    /// newline starts with the rest of the name. Made to read as a header of
    /// its own (`-1 [0] 1: e:`, 13 bytes), it names no event of ours, so the
    /// real header after it wins.
    #[test]
    fn a_task_name_cannot_make_up_a_header() {
        let (h, b) =
            event("-1 [0] 1: e:-4242   [001] ..... 7.000000: sched_process_exec: filename=/x pid=4242 old_pid=4242");
        assert_eq!((h.task, h.pid, h.cpu, h.event), (&b"-1 [0] 1: e:"[..], 4242, 1, &b"sched_process_exec"[..]));
        assert_eq!(parse_exec(b).unwrap().pid, 4242);
        // Without one of our events anywhere, the first header still parses.
        let (h, _) = event("-1 [0] 1: e: x");
        assert_eq!((h.pid, h.event), (1, &b"e"[..]));
        assert!(is_our_event(b"execsnoop_1_2/execveat") && !is_our_event(b"sched_switch"));
    }

    #[test]
    fn hostile_file_names() {
        let (_, b) = event(
            "  sh-5 [000] ..... 1.000000: sched_process_exec: filename=/tmp/a b pid=1 old_pid=2 [001] pid=5 old_pid=5",
        );
        assert_eq!(
            parse_exec(b).unwrap(),
            ExecFields { filename: b"/tmp/a b pid=1 old_pid=2 [001]", pid: 5, old_pid: 5 }
        );
        let Line::Event(_, b) =
            parse_line(b"  sh-5 [000] ..... 1.000000: sched_process_exec: filename=/t\xff\x01 pid=7 old_pid=6")
        else {
            panic!("not an event")
        };
        assert_eq!(parse_exec(b).unwrap(), ExecFields { filename: b"/t\xff\x01", pid: 7, old_pid: 6 });
    }

    #[test]
    fn garbage_is_ignored() {
        for line in [
            &b""[..],
            b"   ",
            b"# tracer: nop",
            b"#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION",
            b"garbage",
            b"[",
            b"]",
            b"-1 [",
            b"-1 [x]",
            b"a-1 [0]",
            b"a-1 [0] ",
            b"a-1 [0] .....",
            b"a-1 [0] ..... 1.5",
            b"a-1 [0] ..... 1.5:",
            b"a-1 [0] ..... 1.5: ",
            b"a-1 [0] ..... 1.5: ev",
            b"a-1 [0] ..... x.5: ev: body",
            b"a-1 [0] ..... 1.1234567890: ev: body",
            b"a-99999999999 [0] ..... 1.5: ev: body",
            b"a-1 [99999999999] ..... 1.5: ev: body",
            b"a-1 (x) [0] ..... 1.5: ev: body",
            b"a- [0] ..... 1.5: ev: body",
            b"a-1 [0] ..... 1.5: bad event: body",
            b"\xff\xfe-1 \xff[0\xff]\xff",
            b"CPU:x [LOST 1 EVENTS]",
            b"b\" arg1=(fault) ptr0=1",
        ] {
            assert!(matches!(parse_line(line), Line::Malformed | Line::Blank), "{:?}", String::from_utf8_lossy(line));
        }
        for body in [&b""[..], b"filename=", b"filename=/x pid=1", b"filename=/x pid=a old_pid=1", b"pid=1 old_pid=1"] {
            assert!(parse_exec(body).is_none(), "{:?}", String::from_utf8_lossy(body));
        }
        for body in
            [&b""[..], b"comm=a pid=1 child_comm=b", b"comm=a pid= child_comm=b child_pid=2", b"comm=a child_pid=2"]
        {
            assert!(parse_fork(body).is_none(), "{:?}", String::from_utf8_lossy(body));
        }
        for body in [&b""[..], b"comm=a pid=1", b"comm=a pid=1 prio=x", b"comm=a pid=1 prio=120 group_dead=maybe"] {
            assert!(parse_exit(body).is_none(), "{:?}", String::from_utf8_lossy(body));
        }
        for body in [&b""[..], b"(", b"(x) arg0=ls ptr0=1", b"(x) arg0=\"a\" ptr0=x"] {
            assert!(parse_probe(body).is_none(), "{:?}", String::from_utf8_lossy(body));
        }
        // Every prefix of a real line is handled without a panic.
        let full = RECORDED[4].as_bytes();
        for n in 0..full.len() {
            let _ = parse_line(&full[..n]);
            let _ = parse_line(&full[n..]);
        }
    }

    #[test]
    fn lost_lines() {
        assert_eq!(parse_line(b"CPU:1 [LOST 123 EVENTS]"), Line::Lost { cpu: 1, count: 123 });
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp(b"0.000001"), Some(1000));
        assert_eq!(parse_timestamp(b"12.5"), Some(12_500_000_000));
        assert_eq!(parse_timestamp(b"1.123456789"), Some(1_123_456_789));
        assert_eq!(parse_timestamp(b"42"), Some(42));
        assert_eq!(parse_timestamp(b"1."), None);
        assert_eq!(parse_timestamp(b".5"), None);
        assert_eq!(parse_timestamp(b"99999999999999999999.0"), None);
    }

    /// Hand-made probe lines in the kernel's format (`trace_probe_print_args`:
    /// ` name="string"` or ` name=(fault)`, numbers in decimal).
    #[test]
    fn probe_lines() {
        let line = "            bash-4242    [001] d.... 100.000001: execve: (__x64_sys_execve+0x0/0x50) arg0=\"ls\" arg1=\"-l\" arg2=(fault) arg3=(fault) ptr0=94 ptr1=95 ptr2=0 ptr3=77 ptr4=0";
        let (h, b) = event(line);
        assert_eq!((h.pid, h.event), (4242, &b"execve"[..]));
        let p = parse_probe(b).unwrap();
        assert_eq!(p, ProbeFields { args: vec![b"ls".to_vec(), b"-l".to_vec()], truncated: false, read_failed: false });

        // The group may be printed too; quotes, spaces and `arg` inside values.
        let (h, b) = event(
            "  sh-7 [000] ..... 1.000000: execsnoop_1234/execve: (__x64_sys_execve+0x0/0x50) arg0=\"echo\" arg1=\"a \"b\" arg9=\" arg2=\"\" ptr0=1 ptr1=2 ptr2=3 ptr3=0",
        );
        assert_eq!(h.event, b"execsnoop_1234/execve");
        let p = parse_probe(b).unwrap();
        assert_eq!(p.args, vec![b"echo".to_vec(), b"a \"b\" arg9=".to_vec(), b"".to_vec()]);
        assert!(!p.truncated && !p.read_failed);

        // All fetched and argv goes on: truncated.
        let p = parse_probe(b"(sys_execve+0x0/0x50) arg0=\"a\" arg1=\"b\" ptr0=1 ptr1=2 ptr2=3").unwrap();
        assert_eq!((p.args.len(), p.truncated, p.read_failed), (2, true, false));
        // All fetched and argv ends exactly there.
        let p = parse_probe(b"(sys_execve+0x0/0x50) arg0=\"a\" arg1=\"b\" ptr0=1 ptr1=2 ptr2=0").unwrap();
        assert_eq!((p.args.len(), p.truncated, p.read_failed), (2, false, false));
        // A non-NULL pointer whose string could not be read: a failed read, not the end.
        let p = parse_probe(b"(x+0/1) arg0=\"a\" arg1=(fault) arg2=\"c\" ptr0=1 ptr1=2 ptr2=3 ptr3=0").unwrap();
        assert_eq!((p.args, p.truncated, p.read_failed), (vec![b"a".to_vec()], false, true));
        // argc 0.
        let p = parse_probe(b"(x+0/1) arg0=(fault) arg1=(fault) ptr0=0 ptr1=5 ptr2=0").unwrap();
        assert_eq!((p.args.len(), p.read_failed), (0, false));
        // A newline inside an argument cuts the line: what was read, marked failed.
        let p = parse_probe(b"(x+0/1) arg0=\"printf\" arg1=\"a").unwrap();
        assert_eq!((p.args, p.read_failed), (vec![b"printf".to_vec(), b"a".to_vec()], true));
    }

    #[test]
    fn stats_file() {
        let text = "entries: 0\noverrun: 17\ncommit overrun: 2\nbytes: 0\noldest event ts: 10562.248338\nnow ts: 10635.361297\ndropped events: 1\nread events: 2\n";
        assert_eq!(parse_stats(text), Some(20));
        assert_eq!(parse_stats_written(text), Some(20));
        assert_eq!(parse_stats_written(&text.replace("entries: 0", "entries: 5")), Some(25));
        assert_eq!(parse_stats_written("overrun: 1\n"), None);
        assert_eq!(parse_stats("entries: 5\n"), None);
        assert_eq!(parse_stats("overrun: x\n"), None);
    }

    #[test]
    fn names() {
        assert_eq!(instance_pid("execsnoop-123"), Some(123));
        assert_eq!(instance_pid("execsnoop-123-2"), Some(123));
        assert_eq!(instance_pid("execsnoop-"), None);
        assert_eq!(instance_pid("execsnoop-12a"), None);
        assert_eq!(instance_pid("execsnoop-12-"), None);
        assert_eq!(instance_pid("other-12"), None);
        assert_eq!(comm_from_filename(b"/usr/bin/a-very-long-program-name"), b"a-very-long-pro");
        assert_eq!(comm_from_filename(b"ls"), b"ls");
    }

    /// A definition's fields come back out of the probe's line: the names the
    /// parser expects are the names the definition gives.
    #[test]
    fn definition_and_parser_agree() {
        use super::super::probe::{Arch, Entry, Syscall, probe_definition};
        let d = probe_definition("g", Arch::X86_64, Entry::Wrapper, Syscall::Execve, 3, true);
        let names: Vec<&str> = d.split(' ').skip(2).filter_map(|f| f.split_once('=').map(|(n, _)| n)).collect();
        assert_eq!(names, ["arg0", "arg1", "arg2", "ptr0", "ptr1", "ptr2", "ptr3"]);
        let p =
            parse_probe(b"(__x64_sys_execve+0x0/0x30) arg0=\"a\" arg1=\"b\" arg2=\"c\" ptr0=1 ptr1=2 ptr2=3 ptr3=0")
                .unwrap();
        assert_eq!(p.args.len(), 3);
        assert!(!p.truncated);
    }
}
