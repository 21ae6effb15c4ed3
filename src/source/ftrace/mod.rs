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
    poll: LOST_CHECK,
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
    fn lines(&mut self, buf: &[u8], flush: bool, sink: &mut dyn FnMut(Record) -> io::Result<()>) -> io::Result<usize> {
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
            if let Some(rec) = self.tracker.line(line) {
                sink(rec)?;
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

    fn report_losses(&mut self, sink: &mut dyn FnMut(Record) -> io::Result<()>) -> io::Result<usize> {
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
                sink(Record::Lost(Lost { count, kind, ts_ns }))?;
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

    fn drain(&mut self, sink: &mut dyn FnMut(Record) -> io::Result<()>) -> io::Result<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Exec, Exit, ExitStatus, SourceKind};
    use crate::source::proc;
    /// What the sources get for these flags: the trackers read only the
    /// kernel part.
    fn kernel(flags: &[&str]) -> crate::source::KernelFilter {
        crate::config::for_tests(flags).source_request().kernel
    }

    /// Pids above the kernel's limit (2^22): /proc has nothing for them.
    const P: u32 = 5_000_000;

    fn exec_line(pid: u32, tgid: Option<u32>, ts: &str, filename: &str) -> String {
        let col = tgid.map_or(String::new(), |t| format!("({t:>7}) "));
        format!(
            "          bash-{pid}   {col}[001] ..... {ts}: sched_process_exec: filename={filename} pid={pid} old_pid={pid}"
        )
    }

    fn fork_line(parent: u32, child: u32, ts: &str) -> String {
        format!(
            "          bash-{parent}   ({parent:>7}) [000] ..... {ts}: sched_process_fork: comm=bash pid={parent} child_comm=bash child_pid={child}"
        )
    }

    fn exit_line(pid: u32, tgid: u32, ts: &str, comm: &str, dead: &str) -> String {
        format!(
            "          {comm}-{pid}   ({tgid:>7}) [000] ..... {ts}: sched_process_exit: comm={comm} pid={pid} prio=120 group_dead={dead}"
        )
    }

    fn feed(t: &mut Tracker, lines: &[String]) -> Vec<Record> {
        lines.iter().filter_map(|l| t.line(l.as_bytes())).collect()
    }

    #[test]
    fn exec_of_a_gone_process_is_marked_not_invented() {
        let mut t = Tracker::new(&kernel(&[]), 0, false);
        let recs = feed(&mut t, &[exec_line(P, None, "100.000001", "/usr/bin/some-long-named-tool")]);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!(e.ts_ns, 100_000_001_000);
        assert_eq!(e.filename, b"/usr/bin/some-long-named-tool");
        assert_eq!(e.comm, b"some-long-named", "the kernel's name for it: basename, 15 bytes");
        assert!(e.flags.args_read_failed && e.args.is_empty());
        assert_eq!((e.source, e.args_from, e.depth), (SourceKind::Ftrace, ArgsFrom::Procfs, None));
        assert_eq!(t.malformed, 0);
    }

    #[test]
    fn exec_of_a_live_process_reads_proc() {
        let me = std::process::id();
        let mut t = Tracker::new(&kernel(&[]), 7, false);
        let recs = feed(&mut t, &[exec_line(me, None, "1.000000", "/exact/name")]);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!(e.filename, b"/exact/name", "the event's file name, not /proc/PID/exe");
        assert_eq!(e.ts_ns, 1_000_000_007, "clock offset applied");
        assert!(!e.flags.args_read_failed && !e.args.is_empty());
        assert_eq!(e.ppid, std::os::unix::process::parent_id());
    }

    /// A process that exec'd twice in one batch: /proc shows the second
    /// program, so the first row gets no arguments rather than wrong ones.
    #[test]
    fn superseded_exec_gets_no_arguments() {
        let me = std::process::id();
        let mut t = Tracker::new(&kernel(&[]), 0, false);
        let batch = format!(
            "{}\n{}\n",
            exec_line(me, None, "1.000000", "/usr/bin/env"),
            exec_line(me, None, "1.000100", "/usr/bin/bash")
        );
        t.look_ahead(batch.as_bytes());
        let recs: Vec<Record> = batch.lines().filter_map(|l| t.line(l.as_bytes())).collect();
        let [Record::Exec(first), Record::Exec(second)] = recs.as_slice() else { panic!("{recs:?}") };
        assert!(first.flags.args_read_failed && first.args.is_empty());
        assert_eq!(first.comm, b"env");
        assert!(!second.flags.args_read_failed && !second.args.is_empty(), "the last one reads /proc");
    }

    #[test]
    fn probe_line_joins_the_exec_of_the_same_thread() {
        let mut t = Tracker::new(&kernel(&[]), 0, false);
        let probe = format!(
            "            bash-{P}    [001] d.... 100.000001: execve: (__x64_sys_execve+0x0/0x50) arg0=\"ls\" arg1=\"-l\" arg2=(fault) ptr0=9 ptr1=9 ptr2=0"
        );
        let other = format!(
            "            bash-{}    [001] d.... 100.000001: execsnoop_1/execve: (__x64_sys_execve+0x0/0x50) arg0=\"no\" ptr0=9 ptr1=0",
            P + 1
        );
        let recs = feed(&mut t, &[probe, other, exec_line(P, None, "100.000002", "/bin/ls")]);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!(e.args_from, ArgsFrom::Probe);
        assert_eq!(e.argv(), vec![&b"ls"[..], b"-l"]);
        assert!(!e.flags.args_read_failed && !e.args_incomplete());
        assert_eq!(t.pending.len(), 1, "the other thread's probe line still waits");

        // A cap smaller than the arguments cuts them and says so.
        let mut t = Tracker::new(&kernel(&["--arg-bytes", "4"]), 0, false);
        let probe = format!("  sh-{P} [000] ..... 1.0: execve: (x+0/1) arg0=\"echo\" arg1=\"hi\" ptr0=1 ptr1=2 ptr2=0");
        let recs = feed(&mut t, &[probe, exec_line(P, None, "1.1", "/bin/echo")]);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!(e.args, b"echo");
        assert!(e.flags.args_truncated && e.args_incomplete());
    }

    /// Without following processes, a short-lived process gone from /proc
    /// before its exec line is read still gets its parent, from its fork;
    /// the table of forks does not outgrow its cap.
    #[test]
    fn parent_from_fork_without_following() {
        let mut t = Tracker::new(&kernel(&[]), 0, true);
        let recs =
            feed(&mut t, &[fork_line(P, P + 1, "10.000000"), exec_line(P + 1, Some(P + 1), "10.5", "/bin/true")]);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!(e.ppid, P, "parent from the fork when /proc is gone");
        assert!(t.forked.is_empty(), "used up at the exec");
        let forks: Vec<String> = (0..PENDING_MAX as u32 + 10).map(|i| fork_line(P, P + 10 + i, "11.0")).collect();
        feed(&mut t, &forks);
        assert_eq!(t.forked.len(), PENDING_MAX);
        assert_eq!(t.forked_order.len(), PENDING_MAX);
    }

    #[test]
    fn exits_join_execs_and_forks() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, true);
        let recs = feed(
            &mut t,
            &[
                fork_line(P, P + 1, "10.000000"),
                exec_line(P + 1, Some(P + 1), "10.500000", "/bin/true"),
                // A thread of P+1 (indistinguishable at fork), ending first.
                fork_line(P + 1, P + 2, "10.600000"),
                exit_line(P + 2, P + 1, "10.700000", "true", "false"),
                // The leader ends before the last thread: not yet.
                exit_line(P + 1, P + 1, "10.800000", "true", "false"),
                exit_line(P + 3, P + 1, "11.000000", "true", "true"),
                // A forked child that never exec'd.
                fork_line(P, P + 4, "12.000000"),
                exit_line(P + 4, P + 4, "12.250000", "bash", "true"),
                // A process we never saw: nothing.
                exit_line(P + 5, P + 5, "13.000000", "x", "true"),
            ],
        );
        let execs: Vec<&Exec> =
            recs.iter().filter_map(|r| if let Record::Exec(e) = r { Some(e) } else { None }).collect();
        let exits: Vec<&Exit> =
            recs.iter().filter_map(|r| if let Record::Exit(x) = r { Some(x) } else { None }).collect();
        assert_eq!(execs.len(), 1);
        assert_eq!(execs[0].depth, Some(0), "child of an unknown parent: depth 0, as in the BPF program");
        assert_eq!(execs[0].ppid, P, "parent from the fork when /proc is gone");
        assert_eq!(exits.len(), 2, "{exits:#?}");
        let x = exits[0];
        assert_eq!((x.pid, x.ppid, x.comm.as_slice()), (P + 1, P, &b"true"[..]));
        assert_eq!((x.ts_ns, x.exec_ts_ns, x.start_ts_ns), (11_000_000_000, 10_500_000_000, 10_500_000_000));
        assert_eq!((x.status, x.cpu_ns, x.depth, x.source), (ExitStatus::Unknown, None, Some(0), SourceKind::Ftrace));
        let y = exits[1];
        assert_eq!(
            (y.pid, y.exec_ts_ns, y.start_ts_ns, y.lifetime_ns()),
            (P + 4, 0, 12_000_000_000, Some(250_000_000))
        );
        assert!(t.table.is_empty(), "{:?}", t.table);
    }

    #[test]
    fn old_kernel_exit_without_group_dead_or_tgid() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, false);
        let lines = [
            format!(
                "  bash-{P}  [000] d..2  1.000000: sched_process_fork: comm=bash pid={P} child_comm=bash child_pid={}",
                P + 1
            ),
            format!("  true-{}  [000] d..2  2.000000: sched_process_exit: comm=true pid={} prio=120", P + 1, P + 1),
        ];
        let recs = feed(&mut t, &lines);
        let [Record::Exit(x)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((x.pid, x.start_ts_ns), (P + 1, 1_000_000_000));
    }

    #[test]
    fn pid_filter_follows_only_the_tree() {
        let mut t = Tracker::new(&kernel(&["-e", "-p", "1"]), 0, true);
        t.table.insert(P, Proc { depth: 0, ppid: 1, exec_ts: 0, start_ts: 0, thread: false });
        let recs = feed(
            &mut t,
            &[
                fork_line(P, P + 1, "1.0"),
                fork_line(P + 1, P + 2, "1.1"),
                exec_line(P + 2, Some(P + 2), "1.2", "/bin/deep"),
                exec_line(P + 7, Some(P + 7), "1.3", "/bin/outside"),
                fork_line(P + 7, P + 8, "1.4"),
                exit_line(P, P, "2.0", "root", "true"),
            ],
        );
        let [Record::Exec(e), Record::Exit(x)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((e.pid, e.depth), (P + 2, Some(2)));
        assert_eq!((x.pid, x.depth, x.start_ts_ns, x.exec_ts_ns), (P, Some(0), 0, 0));
        assert!(!t.table.contains_key(&(P + 8)));
    }

    #[test]
    fn seeding_finds_our_own_tree() {
        let mut t = Tracker::new(&kernel(&["-p", "1"]), 0, true);
        let me = std::process::id();
        let parent = std::os::unix::process::parent_id();
        t.seed_tree(parent, true);
        assert_eq!(t.table.get(&parent).map(|p| p.depth), Some(0));
        assert_eq!(t.table.get(&me).map(|p| (p.depth, p.ppid)), Some((1, parent)));
    }

    #[test]
    fn full_table_is_counted() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, true);
        for i in 0..crate::lineage::TABLE_MAX as u32 {
            t.table.insert(P + 10 + i, Proc { depth: 0, ppid: 0, exec_ts: 0, start_ts: 0, thread: false });
        }
        feed(&mut t, &[fork_line(P, P + 1, "1.0"), fork_line(P, P + 2, "1.0")]);
        assert_eq!(t.table.untracked(), 2);
    }

    #[test]
    fn garbage_is_counted_not_fatal() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, true);
        let recs = feed(
            &mut t,
            &[
                "garbage that is no trace line".into(),
                "# tracer: nop".into(),
                "".into(),
                "CPU:0 [LOST 5 EVENTS]".into(),
                "  a-1 [000] ..... 1.0: unknown_event: x=1".into(),
                // Held: the rest of a cut event may follow; nothing does.
                "  a-1 [000] ..... 1.0: sched_process_exec: nonsense".into(),
            ],
        );
        assert!(recs.is_empty());
        assert_eq!(t.malformed, 2);
        t.drop_held(false);
        assert_eq!(t.malformed, 3);
    }

    /// The lines a process named `a<newline>b` (prctl, or the name of the
    /// file it ran) makes of its exit: the header's task name and the body's
    /// name are both cut. They are joined back into one exit, not counted
    /// as malformed.
    #[test]
    fn an_exit_cut_by_newlines_in_its_names_is_joined() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, true);
        let lines: Vec<String> = [
            fork_line(P, P + 1, "10.000000"),
            exec_line(P + 1, Some(P + 1), "10.500000", "/bin/true"),
            exit_line(P + 1, P + 1, "11.000000", "a\nb", "true"),
        ]
        .join("\n")
        .lines()
        .map(str::to_string)
        .collect();
        assert_eq!(lines.len(), 5, "{lines:#?}");
        let recs = feed(&mut t, &lines);
        let [Record::Exec(_), Record::Exit(x)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((x.pid, x.comm.as_slice()), (P + 1, &b"a\nb"[..]));
        assert_eq!(t.malformed, 0);
    }

    /// With -p, a fork whose names hold newlines (so both names are cut)
    /// still makes the child one of the tree: a process cannot leave the
    /// traced tree by renaming itself before it forks.
    #[test]
    fn a_fork_cut_by_newlines_keeps_the_child_in_the_tree() {
        let mut t = Tracker::new(&kernel(&["-e", "-p", "1"]), 0, true);
        t.table.insert(P, Proc { depth: 0, ppid: 1, exec_ts: 0, start_ts: 0, thread: false });
        let name = "x\n\ny\nz";
        let fork = format!(
            "{name:>16}-{P}   ({P:>7}) [000] ..... 1.000000: sched_process_fork: comm={name} pid={P} child_comm={name} child_pid={}",
            P + 1
        );
        let mut lines: Vec<String> = fork.split('\n').map(str::to_string).collect();
        lines.push(exec_line(P + 1, Some(P + 1), "1.5", "/bin/deep"));
        let recs = feed(&mut t, &lines);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((e.pid, e.depth), (P + 1, Some(1)));
        assert_eq!(t.malformed, 0);
    }

    /// A cut event is never completed with a whole event that follows it
    /// (what a name cannot make up): that one stands alone, and the cut one
    /// is counted. Nor is a cut event held beyond its bounds.
    #[test]
    fn a_cut_event_never_swallows_the_next_one() {
        let mut t = Tracker::new(&kernel(&["-e"]), 0, true);
        let cut = format!("  sh-{P}   ({P:>7}) [000] ..... 2.0: sched_process_exit: comm=ab");
        let recs =
            feed(&mut t, &[fork_line(P, P + 1, "1.0"), cut.clone(), exit_line(P + 1, P + 1, "3.0", "c", "true")]);
        let [Record::Exit(x)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((x.pid, x.comm.as_slice()), (P + 1, &b"c"[..]));
        assert_eq!(t.malformed, 1);
        let mut lines = vec![cut];
        lines.extend((0..JOIN_LINES_MAX + 5).map(|_| "z".to_string()));
        feed(&mut t, &lines);
        assert!(t.held_lines <= JOIN_LINES_MAX && t.held.len() < 2 * JOIN_BYTES_MAX, "{}", t.held_lines);
        assert!(t.malformed > 1);
    }

    /// A name that reads as the start of a header (`-1 [0] 1: e:`) does not
    /// take the line: the event is the real header's, of the real pid.
    #[test]
    fn a_name_that_looks_like_a_header_changes_nothing() {
        let mut t = Tracker::new(&kernel(&[]), 0, false);
        let line = format!(
            "\n-1 [0] 1: e:-{P}   [001] ..... 5.000000: sched_process_exec: filename=/bin/x pid={P} old_pid={P}"
        );
        let lines: Vec<String> = line.split('\n').map(str::to_string).collect();
        let recs = feed(&mut t, &lines);
        let [Record::Exec(e)] = recs.as_slice() else { panic!("{recs:?}") };
        assert_eq!((e.pid, e.filename.as_slice(), e.ts_ns), (P, &b"/bin/x"[..], 5_000_000_000));
        assert_eq!(t.malformed, 0);
    }

    #[test]
    fn stale_names_and_probe_events() {
        assert!(is_probe_event(b"execve"));
        assert!(is_probe_event(b"execsnoop_12/execveat"));
        assert!(!is_probe_event(b"sched_process_exec"));
        assert!(!proc::pid_alive(u32::MAX - 1));
        assert!(proc::pid_alive(std::process::id()));
    }
}
