//! The ftrace source: the original execsnoop's method, done cleanly. It owns a
//! private tracefs instance (`instances/execsnoop-<pid>`, never the global
//! buffer or anyone else's instance), the kernel's `sched_process_exec` and
//! `sched_process_fork` events in it (plus `sched_process_exit` when
//! processes are followed), the reading and parsing of its `trace_pipe`, the per-CPU
//! overrun counters, and the user-space process table that joins exits to
//! execs and implements `-p` and depth.
//!
//! Arguments: where the kernel has `kprobe_events`, a kprobe on the execve
//! (and execveat) syscall entry fetches `argv[0..16]` from the caller's
//! memory with the architecture's register layout ([`probe::probe_definition`]
//! for x86_64 and arm64), and the probe's line is joined to the exec event of
//! the same thread that follows it (`args_from: probe`). The probe's group is
//! named after the instance and is always deleted with it (kprobe_events is
//! global). **Not run here:** the test VM's kernel has no kprobes, so that path
//! is covered only by unit tests of the definition strings and of the parser
//! of the probe's lines; the arguments of a successful probe were never seen
//! end to end. Without kprobes (the usual case on this VM), each exec event
//! makes us read `/proc/PID/cmdline` at once: the file name comes from the
//! event and is exact, the arguments are racy (`args_from: procfs`; a process
//! already gone gets `args_read_failed` and no arguments, not a guess; so
//! does one that exec'd again later in the batch of lines being read, whose
//! /proc already shows the later program).
//!
//! Other things to know:
//! * The instance's `trace_clock` is set to `boot`, so timestamps are
//!   CLOCK_BOOTTIME like the other sources'. Kernels before 4.10 lack it:
//!   then `mono` (or whatever is current) is used and shifted by the
//!   difference between the boot and monotonic clocks measured at start
//!   (exact for `mono`; approximate for `local`). The text format has
//!   microsecond resolution, so `ts_ns` ends in three zeros.
//! * The instance's buffer is `--buffer-kib` per CPU (at most 16 MiB); the
//!   events it overwrote before they were read are reported as
//!   `trace-overrun` losses, from its per-CPU `stats`.
//! * The task name printed in a line's header comes from a kernel cache and is
//!   often the name *before* the exec, so an exec's `comm` is read from `/proc`
//!   (or, once the process is gone, taken from the file name as the kernel
//!   does). Exit and fork events carry their own names, which are used.
//! * The parent of an exec is read from `/proc` with its arguments; when the
//!   process is already gone, it comes from the process's fork event (for
//!   processes forked while tracing), so short-lived processes still get
//!   their PPID. For that the instance's `record-tgid` option (the `(TGID)`
//!   column) is on, which makes the kernel allocate a pid-to-tgid map of 4
//!   bytes per possible pid, which it keeps afterwards.
//! * `sched_process_exit` fires per thread and carries no exit status: a
//!   process exit is reported for a process seen exec or fork while traced (or
//!   in the `-p` tree at start), when its last thread ends (`group_dead`, on
//!   kernels that print it) or its leader does; status unknown, no CPU time.
//! * No failed execs (`-x`) and no cgroup filter (`-c`): see [`FtraceSource::open`].
//! * A stale instance of a killed run (its pid gone) is removed at start,
//!   with its probes.
//! * `trace_pipe` is text, and the kernel prints file names, arguments and
//!   task names raw. A newline in a file name would end the exec's line
//!   early and let the rest of the name read as lines of their own: a
//!   forged exec (or exit, or fork) of any pid. So an event filter keeps
//!   execs whose file name has a newline out of the instance, and a second
//!   instance (`execsnoop-<pid>-<n>`, its buffer never read) holds only
//!   those, so that they are counted from its per-CPU stats and reported as
//!   lost (`newline-filename`), never shown. The kprobe's lines are
//!   filtered the same way (such an exec then gets its arguments from
//!   /proc). A task name (at most 15 bytes) is too short to forge a header
//!   with one of our events in it; a line that a newline in a task name cut
//!   is joined again with the lines that follow it (see [`tracker`]), and
//!   of the places in a line where a header could start, the first that
//!   names one of our events wins over one that a task name made up.

mod instance;
pub mod parse;
mod probe;
mod tracker;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Applies, Need, Source, SourceError, SourceInfo, SourceRequest};
use crate::event::{ArgsFrom, Lost, LostKind, Record};
use instance::*;
use tracker::*;

/// Where tracefs lives, newest first.
const TRACEFS_DIRS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// How many arguments the kprobe fetches (the original execsnoop's default
/// was 8); more are marked truncated.
pub const PROBE_ARGS: usize = 16;

/// Probe lines waiting for their exec event, at most (a failed execve leaves
/// one behind until the thread execs again).
const PENDING_MAX: usize = 4096;

/// Largest trace buffer per CPU, in KiB. The buffer is `--buffer-kib` per
/// CPU (1 MiB by default), but the default ring grows with `--arg-bytes`,
/// which does not make trace lines longer: no more than this.
const BUFFER_KIB_MAX: u32 = 16 * 1024;

/// How often the overrun counters are read while records flow.
const LOST_CHECK: Duration = Duration::from_millis(50);

/// Bytes read from `trace_pipe` per drain at most, so that a storm cannot
/// keep one drain (and the loop's signal handling) busy forever; the rest
/// is read on the next turn.
const DRAIN_MAX_BYTES: usize = 4 << 20;

const EXEC_EVENT: &str = "events/sched/sched_process_exec/enable";
const EXEC_FILTER: &str = "events/sched/sched_process_exec/filter";
/// Execs whose file name has a newline stay out of the main instance...
const NO_NEWLINE_NAME: &str = "!(filename ~ \"*\n*\")";
/// ... and are all the counting instance holds.
const NEWLINE_NAME: &str = "filename ~ \"*\n*\"";
const FORK_EVENT: &str = "events/sched/sched_process_fork/enable";
const EXIT_EVENT: &str = "events/sched/sched_process_exit/enable";

/// The original's method: trace events, arguments by kprobe or from /proc.
pub(crate) static INFO: SourceInfo = SourceInfo {
    name: "ftrace",
    args: ArgsFrom::Probe,
    exit_status: false,
    exit_cpu: false,
    applies: Applies { ppid: false, uid: false, cgroup: false, tree: true },
    refuses: &[
        (
            Need::FailedExecs,
            "failed execs show only in the exec syscalls' events, and its sched_process_exec event fires only for \
             execs that succeed; use --source bpf",
        ),
        (Need::Cgroup, "its sched events carry no cgroup id; use --source bpf"),
        (
            Need::Context,
            "only the bpf source reads the new process (its directory, environment, credentials, namespaces) at the exec; use --source bpf",
        ),
        (
            Need::Uid,
            "its events carry no user id, and /proc is read after a short-lived process is gone; use --source bpf \
             or netlink",
        ),
    ],
    poll: Some(LOST_CHECK),
    open: |request| Ok(Box::new(FtraceSource::open(request)?)),
};

/// Running execs through a private tracefs instance.
pub struct FtraceSource {
    /// The instance's `trace_pipe`; `None` after [`Source::stop`]. Closed
    /// before the instance is removed (an open file keeps it busy).
    pipe: Option<File>,
    /// A descriptor that never becomes readable, for [`Source::fd`] after stop.
    idle: OwnedFd,
    instance: Instance,
    /// Holds only the execs whose file name has a newline, to count them.
    counter: Instance,
    tracker: Tracker,
    /// The start of a line whose end has not been read yet.
    partial: Vec<u8>,
    /// Everything left in the buffer at stop, for the final drain.
    tail: Option<Vec<u8>>,
    /// Events the kernel overwrote or dropped, total and reported.
    overrun: u64,
    overrun_reported: u64,
    /// Execs with a newline in their file name (the counter's events).
    newline: u64,
    newline_reported: u64,
    untracked_reported: u64,
    malformed_reported: u64,
    last_check: Instant,
    stopped: bool,
    notice: String,
}

impl FtraceSource {
    /// Create the instance and enable its events. When this returns, every
    /// later exec is recorded.
    ///
    /// `-x` and `-c` are refused: failed execs are only visible at the exec
    /// syscalls' entry and exit, and this source's event
    /// (`sched_process_exec`) fires only for execs that succeeded; the
    /// sched events carry no cgroup id either.
    pub fn open(request: &SourceRequest) -> Result<FtraceSource, SourceError> {
        let (root, mounted) = find_tracefs()?;
        let kprobe_events = Some(root.join("kprobe_events")).filter(|p| p.exists());
        remove_stale(&root, kprobe_events.as_deref());
        let mut instance = Instance::create(&root, std::process::id(), kprobe_events.clone(), 0)?;
        // Made (and its event on) before the main instance's: every exec
        // kept out of the main one is counted.
        let counter = Instance::create(&root, std::process::id(), None, instance.attempt + 1)?;
        let no_filter = |e: io::Error| {
            SourceError::Unsupported(format!(
                "cannot keep execs whose file name has a newline out of trace_pipe ({e}), and such a name \
                 could forge trace lines; use --source bpf"
            ))
        };
        let _ = counter.write("buffer_size_kb", "4");
        counter.write(EXEC_FILTER, NEWLINE_NAME).map_err(no_filter)?;
        counter.enable(EXEC_EVENT, "sched:sched_process_exec", "3.4")?;
        instance.write(EXEC_FILTER, NO_NEWLINE_NAME).map_err(no_filter)?;

        let (clock, clock_offset) = instance.set_boot_clock();
        // Per CPU; the kernel rounds to pages. A failure keeps its default.
        let per_cpu_kib = (request.ring_bytes / 1024).clamp(4, BUFFER_KIB_MAX);
        let _ = instance.write("buffer_size_kb", &per_cpu_kib.to_string());
        let track = request.kernel.track;
        // The fork event's (TGID) column names the parent process; without
        // it a fork line names the parent thread.
        let tgid_column = instance.write("options/record-tgid", "1").is_ok();

        let args_note = match &kprobe_events {
            None => "no kprobes on this kernel, so arguments are read from /proc after each exec \
                     (racy: a process already gone shows as [name])"
                .to_string(),
            Some(kp) => match instance.add_probes(&root, kp) {
                Ok(symbol) => format!("arguments from a kprobe on {symbol} (the first {PROBE_ARGS})"),
                Err(e) => format!(
                    "the execve kprobe could not be created ({e}), so arguments are read from /proc after each \
                     exec (racy: a process already gone shows as [name])"
                ),
            },
        };

        instance.enable(EXEC_EVENT, "sched:sched_process_exec", "3.4")?;
        // Forks always: a process that exec'd and ended before its /proc
        // entry could be read still has its parent from its fork.
        instance.enable(FORK_EVENT, "sched:sched_process_fork", "2.6.32")?;
        if track {
            instance.enable(EXIT_EVENT, "sched:sched_process_exit", "2.6.32")?;
        }
        let pipe = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(instance.dir.join("trace_pipe"))
            .map_err(|e| SourceError::Other(format!("cannot open {}/trace_pipe: {e}", instance.dir.display())))?;
        let idle = idle_fd().map_err(|e| SourceError::Other(format!("cannot create an eventfd: {e}")))?;

        let mut tracker = Tracker::new(&request.kernel, clock_offset, tgid_column);
        if let Some(pid) = request.kernel.pid {
            // After the events are on: a fork between the scan and now is
            // seen as an event, none is missed.
            tracker.seed_tree(pid, !tgid_column);
        }

        let mut notice = format!("ftrace source: instance {}", instance.name);
        if mounted {
            notice.push_str(&format!("; mounted tracefs at {}", root.display()));
        }
        if clock != "boot" {
            notice.push_str(&format!("; no boot trace clock, timestamps from the {clock} clock shifted to boot time"));
        }
        notice.push_str("; ");
        notice.push_str(&args_note);

        Ok(FtraceSource {
            pipe: Some(pipe),
            idle,
            instance,
            counter,
            tracker,
            partial: Vec::new(),
            tail: None,
            overrun: 0,
            overrun_reported: 0,
            newline: 0,
            newline_reported: 0,
            untracked_reported: 0,
            malformed_reported: 0,
            last_check: Instant::now(),
            stopped: false,
            notice,
        })
    }

    /// Handle the complete lines in `buf` (all of it when `flush`), keeping
    /// an unfinished last line in `self.partial`.
    fn lines(&mut self, buf: &[u8], flush: bool, sink: &mut dyn FnMut(&mut Record) -> io::Result<()>) -> io::Result<usize> {
        let mut data = std::mem::take(&mut self.partial);
        data.extend_from_slice(buf);
        let end = if flush { data.len() } else { data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) };
        self.partial = data[end..].to_vec();
        // Not the empty "line" after the last newline: a line that ends a
        // batch may go on in the next one (see tracker: events cut by a
        // newline in a task name).
        if end == 0 {
            return Ok(0);
        }
        let whole = data[..end].strip_suffix(b"\n").unwrap_or(&data[..end]);
        self.tracker.look_ahead(whole);
        let mut n = 0;
        for line in whole.split(|&b| b == b'\n') {
            if let Some(mut rec) = self.tracker.line(line) {
                sink(&mut rec)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Sum of the per-CPU loss counters of the instance, if readable.
    fn read_overrun(&self) -> Option<u64> {
        per_cpu_sum(&self.instance.dir, parse::parse_stats)
    }

    /// Every event the counting instance took (it is never read): the
    /// execs with a newline in their file name.
    fn read_newline(&self) -> Option<u64> {
        per_cpu_sum(&self.counter.dir, parse::parse_stats_written)
    }

    fn read_counters(&mut self) {
        if let Some(total) = self.read_overrun() {
            self.overrun = self.overrun.max(total);
        }
        if let Some(total) = self.read_newline() {
            self.newline = self.newline.max(total);
        }
    }

    fn report_losses(&mut self, sink: &mut dyn FnMut(&mut Record) -> io::Result<()>) -> io::Result<usize> {
        self.last_check = Instant::now();
        if !self.stopped {
            self.read_counters();
        }
        let ts_ns = self.tracker.now_ts();
        let mut n = 0;
        let counts = [
            (self.overrun, &mut self.overrun_reported, LostKind::TraceOverrun),
            (self.newline, &mut self.newline_reported, LostKind::NewlineName),
            (self.tracker.table.untracked(), &mut self.untracked_reported, LostKind::ProcTable),
            (self.tracker.malformed, &mut self.malformed_reported, LostKind::Malformed),
        ];
        for (total, reported, kind) in counts {
            if total > *reported {
                let count = total - *reported;
                *reported = total;
                sink(&mut Record::Lost(Lost { count, kind, ts_ns }))?;
                n += 1;
            }
        }
        Ok(n)
    }
}

impl Source for FtraceSource {
    fn fd(&self) -> BorrowedFd<'_> {
        self.pipe.as_ref().map_or(self.idle.as_fd(), |p| p.as_fd())
    }

    fn drain(&mut self, sink: &mut dyn FnMut(&mut Record) -> io::Result<()>) -> io::Result<usize> {
        let mut n = 0;
        if let Some(tail) = self.tail.take() {
            n += self.lines(&tail, true, sink)?;
            // Nothing follows: a cut event that is still held stays cut.
            self.tracker.drop_held(false);
        }
        let mut buf = vec![0u8; 64 * 1024];
        let mut read = 0usize;
        while read < DRAIN_MAX_BYTES {
            let Some(pipe) = self.pipe.as_mut() else { break };
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(got) => {
                    read += got;
                    n += self.lines(&buf[..got], false, sink)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(io::Error::new(e.kind(), format!("reading trace_pipe: {e}"))),
            }
        }
        if self.stopped || self.last_check.elapsed() >= LOST_CHECK {
            n += self.report_losses(sink)?;
        }
        Ok(n)
    }

    fn notice(&self) -> Option<String> {
        Some(self.notice.clone())
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        // Stop recording, take what is left, read the final loss counts,
        // then remove the instance: the last drain hands all of it on.
        let _ = self.instance.write("tracing_on", "0");
        let _ = self.counter.write("tracing_on", "0");
        let mut tail = Vec::new();
        if let Some(mut pipe) = self.pipe.take() {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(got) => tail.extend_from_slice(&buf[..got]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        self.tail = Some(tail);
        self.read_counters();
        self.instance.remove();
        self.counter.remove();
    }
}

impl Drop for FtraceSource {
    fn drop(&mut self) {
        self.pipe = None;
        self.instance.remove();
        self.counter.remove();
    }
}

/// `parse` of each `per_cpu/cpuN/stats` file of an instance, added up;
/// `None` when none could be read.
fn per_cpu_sum(dir: &Path, parse: fn(&str) -> Option<u64>) -> Option<u64> {
    let mut total = 0u64;
    let mut any = false;
    for entry in fs::read_dir(dir.join("per_cpu")).ok()?.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("cpu") {
            continue;
        }
        if let Some(n) = fs::read_to_string(entry.path().join("stats")).ok().as_deref().and_then(parse) {
            total = total.saturating_add(n);
            any = true;
        }
    }
    any.then_some(total)
}

/// A descriptor that is never readable (an eventfd nobody writes to).
fn idle_fd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd has no memory-safety preconditions.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by eventfd and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
