//! What a source is asked for: the one value [`super::open`] and every
//! source read, owned here so that the sources never read the configuration
//! (`crate::config` builds it, with `Config::source_request`, as it builds
//! the sinks' request). It holds what the kernel filters ([`KernelFilter`]:
//! `-P -u -c`, `-p` and a COMMAND's tree, failed execs, exits and forks, the
//! argument cap), what is read of the new process at the exec
//! ([`Capture`]), the ring size and which source to start
//! ([`SourceChoice`]).

use std::path::PathBuf;

use crate::event::SourceKind;

/// Bytes of arguments captured per exec unless `--arg-bytes` says otherwise.
pub const ARGS_CAP_DEFAULT: u32 = 32 * 1024;
/// The largest `--arg-bytes`: the kernel's own ceiling on argv+envp per exec
/// (3/4 of an 8 MiB stack).
pub const ARGS_CAP_MAX: u32 = 6 * 1024 * 1024;

/// Which event source to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceChoice {
    /// The best one that starts: bpf, ftrace, netlink, procfs.
    Auto,
    /// Exactly this one, or an error.
    Only(SourceKind),
}

/// What the BPF program filters before a record is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFilter {
    /// Argument bytes captured per exec.
    pub args_cap: u32,
    /// `-P`: only processes whose parent has this process id.
    pub ppid: Option<u32>,
    /// `-u`: only processes of this real user id (resolved from a name).
    pub uid: Option<u32>,
    /// `-c`: only processes in this cgroup v2 directory or below it.
    pub cgroup: Option<CgroupTarget>,
    /// `-x`: also report failed exec attempts (attaches syscall tracepoints).
    pub fails: bool,
    /// Follow processes from fork to exit in the kernel (attaches the
    /// `sched_process_fork` and `sched_process_exit` tracepoints): needed for
    /// exits, the summary, `-p`, a COMMAND and `--tree`.
    pub track: bool,
    /// Report process ends (exit records).
    pub exits: bool,
    /// `-p`: only this process and its descendants.
    pub pid: Option<u32>,
}

/// A cgroup v2 directory as the kernel identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupTarget {
    /// The directory as given.
    pub path: PathBuf,
    /// Its cgroup id (the directory's inode number on cgroup2).
    pub id: u64,
    /// Its depth below the cgroup2 root (the root is level 0).
    pub level: u32,
}

/// What is read of the new process at the exec, beyond the exec itself,
/// each flag as the option that asks for it (the sources that cannot read
/// it there refuse the option by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    /// `--cwd`: the working directory.
    pub cwd: bool,
    /// `--env`: the environment block, at most `env_cap` bytes.
    pub env: bool,
    pub env_cap: u32,
    /// `--context`: credentials, namespaces and ids, read in the kernel.
    pub context: bool,
    /// `--ancestry N` (N > 0): reads the same context as `--context`.
    pub ancestry: bool,
    /// `--print-container`: container ids, from the cgroup at the exec.
    pub print_container: bool,
    /// `--container`: only some containers, from the cgroup at the exec.
    pub container: bool,
    /// `--host` (`Some(true)`) or `--containers` (`Some(false)`): by pid
    /// namespace, in the kernel.
    pub host: Option<bool>,
}

impl Capture {
    /// The context the kernel must read at the exec (PIECE_CTX).
    pub fn kernel_context(&self) -> bool {
        self.context || self.ancestry
    }
}

/// Everything a source is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRequest {
    /// `--source`.
    pub choice: SourceChoice,
    /// What is filtered (in the kernel, by the sources that can) and followed.
    pub kernel: KernelFilter,
    /// What is read at each exec.
    pub capture: Capture,
    /// Ring buffer size in bytes (a power of two, a multiple of the page
    /// size); the sources without one size their buffers from it.
    pub ring_bytes: u32,
}
