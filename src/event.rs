//! The event model: what every source produces and every sink consumes.
//!
//! A source (eBPF, or the ftrace, proc connector and /proc fallbacks) turns
//! its raw input into these types; filters and sinks never see anything source-specific.
//! Argument bytes are kept exactly as the kernel laid them out (NUL-separated),
//! so no sink has to guess what was cut: [`Exec::argv`] splits them and
//! [`Exec::args_truncated`] says whether the last one is partial.

/// One successful exec, as seen after the new program is in place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exec {
    /// Kernel timestamp, nanoseconds since boot (CLOCK_BOOTTIME).
    pub ts_ns: u64,
    /// Process id (tgid) after the exec.
    pub pid: u32,
    /// Thread id that called exec; differs from `pid` when a non-leader thread did.
    pub old_pid: u32,
    /// Real parent's process id (tgid).
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// cgroup v2 id.
    pub cgroup_id: u64,
    /// Process name after exec (the kernel's comm, at most 15 bytes, no NUL).
    pub comm: Vec<u8>,
    /// The real parent's process name.
    pub pcomm: Vec<u8>,
    /// The filename the exec was given, as the kernel recorded it.
    pub filename: Vec<u8>,
    /// The interpreter the kernel ran for a `#!` script or binfmt_misc
    /// handler; empty when the file was run directly.
    pub interp: Vec<u8>,
    /// 0 for a successful exec; -errno for a failed attempt.
    pub ret: i32,
    /// The argument area as captured: NUL-separated strings.
    pub args: Vec<u8>,
    /// Size of the whole argument area in the process (>= `args.len()`);
    /// after redaction, with each hidden part counted as the `<redacted>`
    /// that replaced it.
    pub args_size: u32,
    /// What could not be read or had to be cut.
    pub flags: ExecFlags,
    /// For an exec through a descriptor (execveat with a directory fd or
    /// `AT_EMPTY_PATH`, fexecve), the name the kernel recorded,
    /// "/dev/fd/N..."; `filename` is then the file that really ran, found
    /// by walking its dentries: an absolute path (`/usr/bin/true`; a memfd is
    /// `/memfd:NAME`, as `/proc/PID/exe` shows it). Empty otherwise.
    pub fd_path: Vec<u8>,
    /// `--print-cgroup`: the cgroup v2 path of `cgroup_id`, filled in by
    /// [`crate::enrich`]; `None` when not asked for or not found.
    pub cgroup: Option<Vec<u8>>,
    /// `--cwd`: the working directory at the exec, as the process sees it
    /// (inside a chroot, or a container's mount namespace); empty when not
    /// asked for or not known.
    pub cwd: Vec<u8>,
    /// `--env`: the environment block as captured (NUL-separated
    /// `NAME=value` strings), secrets already redacted ([`crate::redact`]);
    /// empty when not asked for.
    pub env: Vec<u8>,
    /// Size of the whole environment block in the process (`--env`),
    /// counted after redaction as `args_size` is.
    pub env_size: u32,
    /// `--context` (and the options that need it): who ran it, where, and
    /// what names this exec. `None` when not asked for, or from a source
    /// that cannot read it at the exec.
    pub context: Option<Box<Context>>,
    /// The container it runs in, from its cgroup path (when containers are
    /// asked for); `None` on the host, or not asked for.
    pub container: Option<Container>,
    /// The source that saw this exec.
    pub source: SourceKind,
    /// Where the arguments (and filename) were read from: how far to trust them.
    pub args_from: ArgsFrom,
    /// Depth below the traced root (`-p`, `-- COMMAND`) or below the first
    /// ancestor seen, when the source tracks process trees; else `None`.
    pub depth: Option<u32>,
}

/// A command name (the kernel's comm: at most 15 bytes), stored inline so
/// that keeping one (the running table, the metrics' table of commands)
/// allocates nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Comm {
    len: u8,
    bytes: [u8; Comm::MAX],
}

impl Comm {
    /// Longest name kept; the kernel's are at most 15 bytes (TASK_COMM_LEN 16).
    pub const MAX: usize = 16;

    /// None for a name longer than [`Comm::MAX`] (no kernel makes one).
    pub fn new(name: &[u8]) -> Option<Comm> {
        let mut bytes = [0u8; Comm::MAX];
        bytes.get_mut(..name.len())?.copy_from_slice(name);
        Some(Comm { len: name.len() as u8, bytes })
    }

    /// The name's first [`Comm::MAX`] bytes (all of a kernel's name).
    pub fn cut(name: &[u8]) -> Comm {
        let name = &name[..name.len().min(Comm::MAX)];
        let mut bytes = [0u8; Comm::MAX];
        bytes[..name.len()].copy_from_slice(name);
        Comm { len: name.len() as u8, bytes }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Which source produced a record: a plain value, best first. What each
/// source declares (its name's table entry: what it gives, refuses and
/// applies) is [`SourceKind::info`], in `source/`; the event model does not
/// depend on the sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SourceKind {
    #[default]
    Bpf,
    Ftrace,
    Netlink,
    Procfs,
}

impl SourceKind {
    /// Every source, best first: the order `--source auto` tries.
    pub const ALL: [SourceKind; 4] = [SourceKind::Bpf, SourceKind::Ftrace, SourceKind::Netlink, SourceKind::Procfs];

    /// Its name, as on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Bpf => "bpf",
            SourceKind::Ftrace => "ftrace",
            SourceKind::Netlink => "netlink",
            SourceKind::Procfs => "procfs",
        }
    }

    /// The source called `name`, if there is one.
    pub fn named(name: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Where an exec record's filename and arguments were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArgsFrom {
    /// The new process's own memory, read in the kernel at the exec: exact.
    #[default]
    Exec,
    /// A kprobe on the exec syscall's entry fetching argv strings (the
    /// original execsnoop's method): exact up to the probe's argument limit.
    Probe,
    /// `/proc/PID/cmdline` read after the event arrived: racy. The process
    /// may already have exited (then `flags.args_read_failed` is set and the
    /// arguments are empty) or exec'd again.
    Procfs,
}

impl ArgsFrom {
    /// Name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ArgsFrom::Exec => "exec",
            ArgsFrom::Probe => "probe",
            ArgsFrom::Procfs => "procfs",
        }
    }
}

/// The end of a process (its last thread), joined to its exec.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exit {
    /// Kernel timestamp of the exit, ns since boot.
    pub ts_ns: u64,
    /// Process id (tgid).
    pub pid: u32,
    /// Real parent's process id at exit.
    pub ppid: u32,
    /// Process name at exit.
    pub comm: Vec<u8>,
    /// Timestamp of the exec this exit ends (the `ts_ns` of its exec
    /// record); 0 when the process did not exec while traced (a forked child
    /// that ran its parent's program, or a source that cannot join them).
    pub exec_ts_ns: u64,
    /// When the span measured by `cpu_ns` and the lifetime started: the exec,
    /// or the fork for a process that never exec'd; 0 when unknown.
    pub start_ts_ns: u64,
    /// How the process ended.
    pub status: ExitStatus,
    /// CPU time (user + system, all threads) used since `start_ts_ns`, when
    /// the source knows it.
    pub cpu_ns: Option<u64>,
    /// Depth in the process tree, as for [`Exec::depth`].
    pub depth: Option<u32>,
    /// Real user id of the process, when the source knows it (for the
    /// user filter on processes that never exec'd while traced).
    pub uid: Option<u32>,
    /// The source that saw this exit.
    pub source: SourceKind,
}

impl Exit {
    /// Lifetime from exec (or fork) to exit, when the start is known.
    pub fn lifetime_ns(&self) -> Option<u64> {
        (self.start_ts_ns != 0).then(|| self.ts_ns.saturating_sub(self.start_ts_ns))
    }

    /// True when the process exec'd while traced (this exit joins an exec record).
    pub fn execed(&self) -> bool {
        self.exec_ts_ns != 0
    }
}

/// How a process ended, decoded from a wait(2) status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExitStatus {
    /// It called exit with this code.
    Code(u8),
    /// A signal killed it.
    Signal { signo: u8, core_dumped: bool },
    /// The source does not know.
    #[default]
    Unknown,
}

impl ExitStatus {
    /// Decode a wait(2) status word (`WIFEXITED`/`WIFSIGNALED` layout), as the
    /// kernel keeps it in `task->exit_code` and `signal->group_exit_code`.
    pub fn from_wait(raw: u32) -> ExitStatus {
        let sig = (raw & 0x7f) as u8;
        if sig == 0 {
            ExitStatus::Code(((raw >> 8) & 0xff) as u8)
        } else {
            ExitStatus::Signal { signo: sig, core_dumped: raw & 0x80 != 0 }
        }
    }

    /// The shell's view: the code, or 128 + signal number.
    pub fn shell_code(self) -> Option<i32> {
        match self {
            ExitStatus::Code(c) => Some(i32::from(c)),
            ExitStatus::Signal { signo, .. } => Some(128 + i32::from(signo)),
            ExitStatus::Unknown => None,
        }
    }
}

/// Marks on an [`Exec`] whose data is incomplete. Every one of them is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecFlags {
    /// The argument area was longer than the capture cap; `args` ends mid-way.
    pub args_truncated: bool,
    /// Reading the argument area failed (part or all of it is missing).
    pub args_read_failed: bool,
    /// The filename was longer than the source could carry.
    pub filename_truncated: bool,
    /// The filename could not be read.
    pub filename_failed: bool,
    /// The executed file has no name on disk (a memfd, or deleted).
    pub fileless: bool,
    /// The interpreter path was longer than the source could carry.
    pub interp_truncated: bool,
    /// `filename` was walked from a descriptor and the path was deeper than
    /// the walk could follow: its leading directories are missing (it does
    /// not start with '/'). `filename_truncated` is set too.
    pub exe_truncated: bool,
    /// Part of what the source captured did not reach user space (the bpf
    /// source's ring buffer was full mid-exec): the interpreter, the file
    /// behind a descriptor or the rest of the arguments are missing.
    pub parts_lost: bool,
    /// `--cwd`: the working directory was deeper than the walk could follow:
    /// its leading directories are missing (no leading '/').
    pub cwd_truncated: bool,
    /// `--env`: the environment block was longer than `--env-bytes`.
    pub env_truncated: bool,
    /// `--env`: reading the environment block failed.
    pub env_read_failed: bool,
    /// Parts of the arguments were replaced by `<redacted>` ([`crate::redact`]).
    pub args_redacted: bool,
    /// `--env`: parts of the environment were replaced by `<redacted>`.
    pub env_redacted: bool,
}

/// Who ran an exec, where, and what names it: read in the kernel at the
/// exec (bpf source, `--context`), then completed in user space (ids,
/// container, ancestry).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    /// Audit login uid: who logged in (it survives sudo and su); `None`
    /// when unset (a process not started from a login).
    pub loginuid: Option<u32>,
    /// Audit session id; `None` when unset.
    pub sessionid: Option<u32>,
    /// The controlling terminal's name (`pts/3`), empty when none.
    pub tty: Vec<u8>,
    /// The pid as the process's own pid namespace sees it (1 for a
    /// container's init); the PID column stays the host's.
    pub nspid: u32,
    /// Inode numbers of its namespaces, as `/proc/PID/ns/*` shows them.
    pub ns: Namespaces,
    /// What the exec raised, from the new credentials.
    pub privilege: Privilege,
    /// Effective capabilities after the exec.
    pub cap_effective: u64,
    /// When the task started (its fork), ns since boot, and how many execs
    /// it has made: with the boot id and the pid, what names this exec.
    pub start_boottime: u64,
    pub self_exec_id: u64,
    /// The real parent process's start (tells a reused pid apart).
    pub parent_start_boottime: u64,
    /// This exec's id, unique on the machine for this boot (see
    /// [`crate::enrich`] for how it is formed): the same from any tracer.
    pub exec_id: String,
    /// The exec id of the parent's program, when its exec was seen.
    pub parent_exec_id: Option<String>,
    /// `--ancestry N`: the parent, its parent, ... as far as their execs
    /// were seen, at most N.
    pub ancestry: Vec<Ancestor>,
}

/// Namespace inode numbers of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Namespaces {
    pub pid: u32,
    pub mnt: u32,
    pub net: u32,
    pub user: u32,
    pub uts: u32,
    pub ipc: u32,
    pub cgroup: u32,
}

/// What an exec raised (none, or several).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Privilege {
    /// A set-user-ID file: the effective uid differs from the real one.
    pub setuid: bool,
    /// A set-group-ID file: the effective gid differs from the real one.
    pub setgid: bool,
    /// File capabilities: effective capabilities for a non-root user.
    pub caps: bool,
}

impl Privilege {
    pub fn any(self) -> bool {
        self.setuid || self.setgid || self.caps
    }

    /// The marks, in order: `setuid`, `setgid`, `caps`.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        [(self.setuid, "setuid"), (self.setgid, "setgid"), (self.caps, "caps")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
    }
}

/// An ancestor of an exec, as its own exec was seen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ancestor {
    pub pid: u32,
    pub comm: Vec<u8>,
    pub exec_id: String,
}

/// A container, as its cgroup path names it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Container {
    /// The container id (64 hex digits for the runtimes known).
    pub id: String,
    /// Which runtime laid out the path: `docker`, `podman`, `containerd`,
    /// `cri-o`, or `kubernetes` when only the pod is known.
    pub runtime: &'static str,
    /// The Kubernetes pod UID, when the path has one.
    pub pod: Option<String>,
}

impl Exec {
    /// Move the exec out for a stage that keeps it (`--wait`, `-d`), its
    /// buffers cut to what they hold (a reused buffer may be larger), leaving
    /// an empty one.
    pub fn take(&mut self) -> Exec {
        let mut e = std::mem::take(self);
        let Exec { comm, pcomm, filename, interp, args, fd_path, cgroup, cwd, env, .. } = &mut e;
        for v in [comm, pcomm, filename, interp, args, fd_path, cwd, env].into_iter().chain(cgroup.as_mut()) {
            v.shrink_to_fit();
        }
        e
    }

    /// The arguments, split at NUL. A truncated area yields its partial last
    /// argument too; an empty area yields nothing.
    pub fn argv(&self) -> Vec<&[u8]> {
        self.args().collect()
    }

    /// The arguments one by one, as [`Exec::argv`], without allocating.
    pub fn args(&self) -> impl Iterator<Item = &[u8]> {
        split_area(&self.args)
    }

    /// Whether redaction replaced anything in the arguments or environment.
    pub fn redacted(&self) -> bool {
        self.flags.args_redacted || self.flags.env_redacted
    }

    /// True when `args` does not hold the whole argument area, for any reason.
    pub fn args_incomplete(&self) -> bool {
        self.flags.args_truncated || self.flags.args_read_failed || (self.args.len() as u64) < u64::from(self.args_size)
    }

    /// True when a source that reads the arguments after the event
    /// (`args_from: procfs`) found none to read: the process was gone, or had
    /// exec'd again. Text shows its name in brackets instead of a guess.
    pub fn args_unavailable(&self) -> bool {
        self.args_from == ArgsFrom::Procfs && self.flags.args_read_failed && self.args.is_empty()
    }

    /// True when the process has no usable argv[0] to show (argc 0, which the
    /// kernel turns into one empty argument, or an empty argv[0]).
    pub fn argv0_empty(&self) -> bool {
        self.args.first().is_none_or(|&b| b == 0)
    }
}

/// The strings of a NUL-separated area (arguments, environment): a cut
/// area yields its partial last string too; an empty one, nothing.
pub fn split_area(area: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = area.strip_suffix(&[0]).unwrap_or(area);
    (!area.is_empty()).then(|| body.split(|&b| b == 0)).into_iter().flatten()
}

/// Split a NUL-separated argument area into its strings (the tests' model
/// of [`Exec::args`]).
#[cfg(test)]
pub fn split_args(area: &[u8]) -> Vec<&[u8]> {
    if area.is_empty() {
        return Vec::new();
    }
    let body = area.strip_suffix(&[0]).unwrap_or(area);
    body.split(|&b| b == 0).collect()
}

/// Records lost before they reached user space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    /// How many records of this kind were dropped since the last report.
    pub count: u64,
    /// Which kind of record was dropped.
    pub kind: LostKind,
    /// Kernel time (ns since boot) at which the loss was noticed: the loss
    /// happened between the previous record and this point in the stream.
    pub ts_ns: u64,
}

/// The kind of record that was lost, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostKind {
    /// Exec records the kernel could not put in the full ring buffer.
    Exec,
    /// Failed-exec records (`-x`) the kernel could not put in the full ring buffer.
    FailedExec,
    /// Exec attempts (`-x`) not followed because the table of attempts in
    /// flight was full: had they failed, they would not be shown.
    Untracked,
    /// Records that arrived but could not be decoded (a bug; counted, never hidden).
    Malformed,
    /// Exit records (`-e`, `--summary`) the kernel could not put in the full ring buffer.
    Exit,
    /// Processes not followed because the kernel's process table was full:
    /// their exits (and, with `-p`, their descendants) are not reported.
    ProcTable,
    /// Events the kernel's trace buffer overwrote before they were read (ftrace).
    TraceOverrun,
    /// Times the kernel dropped events because the netlink socket's buffer
    /// was full; how many events each time is not known.
    SocketOverflow,
    /// Records the `--output` file could not take (a full disk, a quota, an
    /// I/O error); counted while it fails, said in one record when it
    /// takes records again.
    Output,
    /// Syslog messages the daemon did not take in time (`--syslog`).
    Syslog,
    /// Execs whose file name has a newline, which the ftrace source keeps
    /// out of its text stream (the newline would let the rest of the name
    /// read as trace lines of its own: forged records) and counts instead.
    NewlineName,
}

impl LostKind {
    /// Why records of this kind were lost, for people.
    pub fn reason(self) -> &'static str {
        match self {
            LostKind::Exec => "ring buffer full",
            LostKind::FailedExec => "failed-exec records, ring buffer full",
            LostKind::Untracked => "too many exec attempts in flight",
            LostKind::Malformed => "malformed records",
            LostKind::Exit => "exit records, ring buffer full",
            LostKind::ProcTable => "processes not followed, process table full",
            LostKind::TraceOverrun => "trace buffer overrun",
            LostKind::SocketOverflow => "netlink socket overflowed, event count unknown",
            LostKind::Output => "records the output file could not take",
            LostKind::Syslog => "syslog messages the daemon did not take",
            LostKind::NewlineName => "execs with a newline in their file name, which ftrace cannot carry safely",
        }
    }

    /// Short name used in text and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            LostKind::Exec => "exec",
            LostKind::FailedExec => "failed-exec",
            LostKind::Untracked => "untracked-attempt",
            LostKind::Malformed => "malformed",
            LostKind::Exit => "exit",
            LostKind::ProcTable => "untracked-process",
            LostKind::TraceOverrun => "trace-overrun",
            LostKind::SocketOverflow => "socket-overflow",
            LostKind::Output => "output",
            LostKind::Syslog => "syslog",
            LostKind::NewlineName => "newline-filename",
        }
    }
}

/// Anything a source can deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Exec(Exec),
    Exit(Exit),
    Lost(Lost),
}

impl Record {
    /// Move the record out (for a stage that keeps it: `--wait`, `-d`),
    /// leaving an empty one of the same kind in its place, which the source
    /// that lent it refills (see [`crate::source::Source::drain`]).
    pub fn take(&mut self) -> Record {
        match self {
            Record::Exec(e) => Record::Exec(e.take()),
            Record::Exit(x) => Record::Exit(std::mem::take(x)),
            Record::Lost(l) => Record::Lost(*l),
        }
    }

    /// Kernel timestamp of the record, for ordering.
    pub fn ts_ns(&self) -> u64 {
        match self {
            Record::Exec(e) => e.ts_ns,
            Record::Exit(x) => x.ts_ns,
            Record::Lost(l) => l.ts_ns,
        }
    }
}

/// `--wait`: how the program of a held exec record ended, when the record
/// is written ([`crate::wait`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Its process exited.
    Exited(Exit),
    /// The same process exec'd again (env -> bash): the program ended by
    /// being replaced, not by exiting.
    Replaced,
    /// Still running: when tracing ended, or written early (the hold's
    /// bound).
    Running,
    /// A failed attempt: it never ran.
    Failed,
}

/// Totals over a whole run, for the closing summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Exec records received from the source.
    pub received: u64,
    /// Exec records that passed the filters and were written.
    pub shown: u64,
    /// Records lost, all kinds.
    pub lost: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_plain() {
        assert_eq!(split_args(b"ls\0-l\0/tmp\0"), vec![&b"ls"[..], b"-l", b"/tmp"]);
    }

    #[test]
    fn split_keeps_empty_arguments() {
        assert_eq!(split_args(b"echo\0\0x\0"), vec![&b"echo"[..], b"", b"x"]);
        assert_eq!(split_args(b"\0"), vec![&b""[..]]);
    }

    #[test]
    fn split_partial_last() {
        assert_eq!(split_args(b"echo\0abc"), vec![&b"echo"[..], b"abc"]);
    }

    #[test]
    fn split_empty_area() {
        assert!(split_args(b"").is_empty());
    }

    #[test]
    fn args_iterator_matches_split_args() {
        let cases: &[&[u8]] = &[b"", b"\0", b"\0\0", b"a", b"a\0", b"a\0\0", b"a\0b", b"\0a\0", b"a\0\0b\0"];
        for &c in cases {
            let e = Exec { args: c.to_vec(), ..Exec::default() };
            assert_eq!(e.args().collect::<Vec<_>>(), split_args(c), "{c:?}");
        }
    }

    #[test]
    fn argv0_empty_cases() {
        let mut e = Exec { args: b"\0".to_vec(), args_size: 1, ..Exec::default() };
        assert!(e.argv0_empty());
        e.args = b"\0x\0".to_vec();
        assert!(e.argv0_empty());
        e.args = b"a\0".to_vec();
        assert!(!e.argv0_empty());
        e.args.clear();
        assert!(e.argv0_empty());
    }

    #[test]
    fn wait_status_decoding() {
        assert_eq!(ExitStatus::from_wait(3 << 8), ExitStatus::Code(3));
        assert_eq!(ExitStatus::from_wait(0), ExitStatus::Code(0));
        assert_eq!(ExitStatus::from_wait(9), ExitStatus::Signal { signo: 9, core_dumped: false });
        assert_eq!(ExitStatus::from_wait(0x80 | 11), ExitStatus::Signal { signo: 11, core_dumped: true });
        assert_eq!(ExitStatus::from_wait(9).shell_code(), Some(137));
        assert_eq!(ExitStatus::from_wait(7 << 8).shell_code(), Some(7));
        assert_eq!(ExitStatus::Unknown.shell_code(), None);
    }

    #[test]
    fn a_record_taken_is_cut_to_size_and_leaves_an_empty_one() {
        let mut args = Vec::with_capacity(4096);
        args.extend_from_slice(b"ls\0");
        let mut rec = Record::Exec(Exec { pid: 7, args, ..Exec::default() });
        let Record::Exec(e) = rec.take() else { panic!("an exec") };
        assert_eq!((e.pid, e.args.as_slice()), (7, &b"ls\0"[..]));
        assert!(e.args.capacity() < 4096, "cut to what it holds");
        assert_eq!(rec, Record::Exec(Exec::default()));
    }

    #[test]
    fn incomplete_when_short() {
        let e = Exec { args: b"ab".to_vec(), args_size: 10, ..Exec::default() };
        assert!(e.args_incomplete());
        let e = Exec { args: b"ab\0".to_vec(), args_size: 3, ..Exec::default() };
        assert!(!e.args_incomplete());
    }
}
