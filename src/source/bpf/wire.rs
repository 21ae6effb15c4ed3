//! The Rust mirror of `bpf/execsnoop.h`, the one definition of the records the
//! BPF program writes into the ring buffer, and their decoding into
//! [`crate::event`] types.
//!
//! The header is the source of truth. Every struct here is `#[repr(C)]` with
//! the same fields in the same order; compile-time assertions pin their sizes
//! and offsets, and a test reads the constants and field list out of the C
//! header itself, so the two cannot drift apart unnoticed.
//!
//! An exec arrives as a run of records from one CPU: pieces (interpreter,
//! executed file, argument bytes), then the exec record that closes the run
//! and says what its pieces carried. [`Assembler`] keeps one open run per CPU
//! and joins it to its exec record; the pieces of a run whose exec record was
//! lost (counted by the kernel) are dropped when the next run from that CPU
//! begins.
//!
//! Decoding never trusts lengths from the wire: a record whose declared
//! lengths do not fit its size, or an exec record whose pieces do not add up
//! to what it declares, is an error (counted and reported by the source),
//! never a panic or an out-of-bounds read.

use std::collections::HashMap;
use std::mem::{offset_of, size_of};

use crate::event::{ArgsFrom, Context, Exec, ExecFlags, Exit, ExitStatus, Namespaces, Privilege, Record, SourceKind};

pub(crate) const TASK_COMM_LEN: usize = 16;

/// Record types.
pub(crate) const EVENT_EXEC: u32 = 1;
pub(crate) const EVENT_EXIT: u32 = 2;
pub(crate) const EVENT_PIECE: u32 = 3;

/// Piece kinds.
pub(crate) const PIECE_INTERP: u32 = 1;
pub(crate) const PIECE_EXE: u32 = 2;
pub(crate) const PIECE_ARGS: u32 = 3;
pub(crate) const PIECE_CTX: u32 = 4;
pub(crate) const PIECE_CWD: u32 = 5;
pub(crate) const PIECE_ENV: u32 = 6;
/// Payload bytes a piece carries at most.
#[allow(dead_code, reason = "mirrors execsnoop.h; checked against it by a test")]
pub(crate) const PIECE_DATA: u32 = 16 * 1024;

pub(crate) const EXEC_F_ARGS_TRUNCATED: u32 = 1 << 0;
pub(crate) const EXEC_F_ARGS_READ_FAILED: u32 = 1 << 1;
pub(crate) const EXEC_F_FILENAME_TRUNCATED: u32 = 1 << 2;
pub(crate) const EXEC_F_FILENAME_FAILED: u32 = 1 << 3;
pub(crate) const EXEC_F_NO_MM: u32 = 1 << 4;
pub(crate) const EXEC_F_FILELESS: u32 = 1 << 5;
pub(crate) const EXEC_F_INTERP_TRUNCATED: u32 = 1 << 6;
pub(crate) const EXEC_F_EXE_TRUNCATED: u32 = 1 << 7;
pub(crate) const EXEC_F_PIECE_LOST: u32 = 1 << 8;
pub(crate) const EXEC_F_ENV_TRUNCATED: u32 = 1 << 9;
pub(crate) const EXEC_F_ENV_READ_FAILED: u32 = 1 << 10;
pub(crate) const EXEC_F_CWD_TRUNCATED: u32 = 1 << 11;

pub(crate) const PRIV_SETUID: u32 = 1 << 0;
pub(crate) const PRIV_SETGID: u32 = 1 << 1;
pub(crate) const PRIV_CAPS: u32 = 1 << 2;
pub(crate) const NS_COUNT: usize = 7;

/// The executed file's dentry names (fd-based execs): slot size and count.
pub(crate) const EXE_SLOT: usize = 256;
pub(crate) const EXE_DEPTH: usize = 24;

#[allow(dead_code, reason = "mirrors execsnoop.h; checked against it by a test")]
pub(crate) const ARGS_CAP_DEFAULT: u32 = 32 * 1024;
#[allow(dead_code, reason = "mirrors execsnoop.h; checked against it by a test")]
pub(crate) const ARGS_CAP_MAX: u32 = 6 * 1024 * 1024;

/// Indexes of the tail-called stages in the `stages` map.
pub(crate) const STAGE_EXE: u32 = 0;
pub(crate) const STAGE_ARGS: u32 = 1;
#[allow(dead_code, reason = "mirrors execsnoop.h; checked against it by a test")]
pub(crate) const STAGES: u32 = 2;

/// Indexes of the per-CPU `counters` map.
pub(crate) const COUNTER_LOST_EXEC: u32 = 0;
pub(crate) const COUNTER_LOST_FAIL: u32 = 1;
pub(crate) const COUNTER_UNTRACKED: u32 = 2;
pub(crate) const COUNTER_LOST_EXIT: u32 = 3;
pub(crate) const COUNTER_PROC_TABLE: u32 = 4;
/// Capacity of the `pending` map of exec attempts in flight (`-x`).
pub(crate) const PENDING_MAX: u32 = 16384;
/// Number of entries in the `counters` map.
#[allow(dead_code, reason = "mirrors execsnoop.h; checked against it by a test")]
pub(crate) const COUNTER_MAX: u32 = 8;
/// Capacity of the `procs` map of followed processes.
pub(crate) const PROCS_MAX: u32 = 32768;
/// `exec_event.depth` when processes are not followed.
pub(crate) const DEPTH_NONE: u32 = u32::MAX;

/// `struct exec_event` from execsnoop.h.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ExecEvent {
    pub r#type: u32,
    pub flags: u32,
    pub ts_ns: u64,
    pub cgroup_id: u64,
    pub pid: u32,
    pub old_pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub args_size: u32,
    pub args_len: u32,
    pub filename_len: u32,
    pub interp_len: u32,
    pub ret: i32,
    pub depth: u32,
    pub exe_len: u32,
    pub exe_steps: u32,
    pub cpu: u32,
    pub pieces: u32,
    pub env_size: u32,
    pub env_len: u32,
    pub cwd_len: u32,
    pub cwd_steps: u32,
    pub comm: [u8; TASK_COMM_LEN],
    pub pcomm: [u8; TASK_COMM_LEN],
}

const _: () = {
    assert!(size_of::<ExecEvent>() == 128);
    assert!(offset_of!(ExecEvent, r#type) == 0);
    assert!(offset_of!(ExecEvent, flags) == 4);
    assert!(offset_of!(ExecEvent, ts_ns) == 8);
    assert!(offset_of!(ExecEvent, cgroup_id) == 16);
    assert!(offset_of!(ExecEvent, pid) == 24);
    assert!(offset_of!(ExecEvent, old_pid) == 28);
    assert!(offset_of!(ExecEvent, ppid) == 32);
    assert!(offset_of!(ExecEvent, uid) == 36);
    assert!(offset_of!(ExecEvent, args_size) == 40);
    assert!(offset_of!(ExecEvent, args_len) == 44);
    assert!(offset_of!(ExecEvent, filename_len) == 48);
    assert!(offset_of!(ExecEvent, interp_len) == 52);
    assert!(offset_of!(ExecEvent, ret) == 56);
    assert!(offset_of!(ExecEvent, depth) == 60);
    assert!(offset_of!(ExecEvent, exe_len) == 64);
    assert!(offset_of!(ExecEvent, exe_steps) == 68);
    assert!(offset_of!(ExecEvent, cpu) == 72);
    assert!(offset_of!(ExecEvent, pieces) == 76);
    assert!(offset_of!(ExecEvent, env_size) == 80);
    assert!(offset_of!(ExecEvent, env_len) == 84);
    assert!(offset_of!(ExecEvent, cwd_len) == 88);
    assert!(offset_of!(ExecEvent, cwd_steps) == 92);
    assert!(offset_of!(ExecEvent, comm) == 96);
    assert!(offset_of!(ExecEvent, pcomm) == 112);
};

/// `struct exec_context` from execsnoop.h (a PIECE_CTX payload).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ExecContext {
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub loginuid: u32,
    pub sessionid: u32,
    pub nspid: u32,
    pub start_boottime: u64,
    pub self_exec_id: u64,
    pub parent_start_boottime: u64,
    pub cap_effective: u64,
    pub privilege: u32,
    pub ns: [u32; NS_COUNT],
    pub tty: [u8; TASK_COMM_LEN],
}

const _: () = {
    assert!(size_of::<ExecContext>() == 104);
    assert!(offset_of!(ExecContext, nspid) == 20);
    assert!(offset_of!(ExecContext, start_boottime) == 24);
    assert!(offset_of!(ExecContext, self_exec_id) == 32);
    assert!(offset_of!(ExecContext, parent_start_boottime) == 40);
    assert!(offset_of!(ExecContext, cap_effective) == 48);
    assert!(offset_of!(ExecContext, privilege) == 56);
    assert!(offset_of!(ExecContext, ns) == 60);
    assert!(offset_of!(ExecContext, tty) == 88);
};

/// `struct piece` from execsnoop.h.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Piece {
    pub r#type: u32,
    pub kind: u32,
    pub ts_ns: u64,
    pub cpu: u32,
    pub len: u32,
}

const _: () = {
    assert!(size_of::<Piece>() == 24);
    assert!(offset_of!(Piece, kind) == 4);
    assert!(offset_of!(Piece, ts_ns) == 8);
    assert!(offset_of!(Piece, cpu) == 16);
    assert!(offset_of!(Piece, len) == 20);
};

/// `struct exit_event` from execsnoop.h.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ExitEvent {
    pub r#type: u32,
    pub flags: u32,
    pub ts_ns: u64,
    pub exec_ts_ns: u64,
    pub start_ts_ns: u64,
    pub cpu_ns: u64,
    pub pid: u32,
    pub ppid: u32,
    pub status: u32,
    pub depth: u32,
    pub uid: u32,
    pub _pad: u32,
    pub cgroup_id: u64,
    pub comm: [u8; TASK_COMM_LEN],
}

const _: () = {
    assert!(size_of::<ExitEvent>() == 88);
    assert!(offset_of!(ExitEvent, ts_ns) == 8);
    assert!(offset_of!(ExitEvent, exec_ts_ns) == 16);
    assert!(offset_of!(ExitEvent, start_ts_ns) == 24);
    assert!(offset_of!(ExitEvent, cpu_ns) == 32);
    assert!(offset_of!(ExitEvent, pid) == 40);
    assert!(offset_of!(ExitEvent, ppid) == 44);
    assert!(offset_of!(ExitEvent, status) == 48);
    assert!(offset_of!(ExitEvent, depth) == 52);
    assert!(offset_of!(ExitEvent, uid) == 56);
    assert!(offset_of!(ExitEvent, cgroup_id) == 64);
    assert!(offset_of!(ExitEvent, comm) == 72);
};

/// `struct proc_info` from execsnoop.h: the value of the `procs` map.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcInfo {
    pub start_ns: u64,
    pub exec_ns: u64,
    pub cpu_base_ns: u64,
    pub depth: u32,
    pub visible: u32,
}

const _: () = {
    assert!(size_of::<ProcInfo>() == 32);
    assert!(offset_of!(ProcInfo, exec_ns) == 8);
    assert!(offset_of!(ProcInfo, cpu_base_ns) == 16);
    assert!(offset_of!(ProcInfo, depth) == 24);
};

// SAFETY: ProcInfo is #[repr(C)] plain old data made of integers only, with
// no padding (asserted above: 3 * 8 + 2 * 4 = 32 bytes), so every byte
// pattern is a valid value.
unsafe impl aya::Pod for ProcInfo {}

/// Why a record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum DecodeError {
    #[error("record of {0} bytes is too short")]
    Short(usize),
    #[error("unknown record type {0}")]
    UnknownType(u32),
    #[error("record lengths ({declared} bytes) exceed its size ({size} bytes)")]
    Lengths { declared: u64, size: usize },
    #[error("unknown piece kind {0}")]
    UnknownPiece(u32),
    #[error("exec record declares {declared} pieces of {bytes:?} bytes, its run has {got} of {have:?}")]
    Run { declared: u32, got: u32, bytes: [u64; 5], have: [u64; 5] },
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(a)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(a)
}

/// The bytes of a fixed-size C string field up to its first NUL.
fn cstr(field: &[u8]) -> &[u8] {
    let len = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..len]
}

/// The pieces of the run a CPU is writing. Kept per CPU from run to run:
/// its buffers are cleared, not dropped, and trade places with the exec's
/// (so steady state allocates nothing).
#[derive(Debug, Default)]
struct Run {
    /// A run is being collected (its exec record has not come).
    open: bool,
    ts_ns: u64,
    pieces: u32,
    interp: Vec<u8>,
    exe: Vec<u8>,
    args: Vec<u8>,
    ctx: Vec<u8>,
    cwd: Vec<u8>,
    env: Vec<u8>,
}

/// A buffer kept for reuse is let go above this size (a 6 MiB argument
/// area is not held on to for the execs after it).
const KEEP_BYTES: usize = 256 * 1024;

/// Empty `v` for reuse, keeping its allocation unless it is large.
fn recycle(v: &mut Vec<u8>) {
    if v.capacity() > KEEP_BYTES {
        *v = Vec::new();
    } else {
        v.clear();
    }
}

/// `v` becomes a copy of `from`, in its own allocation when it fits.
fn refill(v: &mut Vec<u8>, from: &[u8]) {
    recycle(v);
    v.extend_from_slice(from);
}

impl Run {
    /// Start the run `ts_ns`, forgetting what an earlier one collected.
    fn open(&mut self, ts_ns: u64) {
        let Run { open, ts_ns: ts, pieces, interp, exe, args, ctx, cwd, env } = self;
        (*open, *ts, *pieces) = (true, ts_ns, 0);
        for v in [interp, exe, args, ctx, cwd, env] {
            recycle(v);
        }
    }
}

/// Joins the runs of records the BPF program writes into execs. What it
/// completes it fills into records it keeps and lends out ([`Assembler::push`]).
#[derive(Debug)]
pub(crate) struct Assembler {
    /// By CPU (a small key the kernel gives: no need for a keyed hash).
    runs: HashMap<u32, Run, foldhash::fast::FixedState>,
    /// An exec record with no run of its own is checked against this one,
    /// always empty.
    none: Run,
    exec: Record,
    exit: Record,
}

impl Default for Assembler {
    fn default() -> Assembler {
        Assembler {
            runs: HashMap::default(),
            none: Run::default(),
            exec: Record::Exec(Exec::default()),
            exit: Record::Exit(Exit::default()),
        }
    }
}

impl Assembler {
    pub(crate) fn new() -> Assembler {
        Assembler::default()
    }

    /// Take one ring-buffer record. Returns what it completes: an exec (the
    /// record that closes a run), an exit, or nothing (a piece). The record
    /// returned is the assembler's, refilled by the next one of its kind: a
    /// stage that keeps it moves it out ([`Record::take`]).
    pub(crate) fn push(&mut self, rec: &[u8]) -> Result<Option<&mut Record>, DecodeError> {
        if rec.len() < 4 {
            return Err(DecodeError::Short(rec.len()));
        }
        match u32_at(rec, 0) {
            EVENT_PIECE => self.piece(rec).map(|()| None),
            EVENT_EXEC => {
                self.exec(rec)?;
                Ok(Some(&mut self.exec))
            }
            EVENT_EXIT => {
                decode_exit(rec, &mut self.exit)?;
                Ok(Some(&mut self.exit))
            }
            t => Err(DecodeError::UnknownType(t)),
        }
    }

    fn piece(&mut self, rec: &[u8]) -> Result<(), DecodeError> {
        const HDR: usize = size_of::<Piece>();
        if rec.len() < HDR {
            return Err(DecodeError::Short(rec.len()));
        }
        let len = u32_at(rec, offset_of!(Piece, len)) as usize;
        if HDR + len > rec.len() {
            return Err(DecodeError::Lengths { declared: (HDR + len) as u64, size: rec.len() });
        }
        let ts_ns = u64_at(rec, offset_of!(Piece, ts_ns));
        let run = self.runs.entry(u32_at(rec, offset_of!(Piece, cpu))).or_default();
        if !run.open || run.ts_ns != ts_ns {
            // A new run on this CPU: if the last one is still open, its exec
            // record was lost (the kernel counted it), so its pieces go.
            run.open(ts_ns);
        }
        let data = &rec[HDR..HDR + len];
        match u32_at(rec, offset_of!(Piece, kind)) {
            PIECE_INTERP => run.interp.extend_from_slice(data),
            PIECE_EXE => run.exe.extend_from_slice(data),
            PIECE_ARGS => run.args.extend_from_slice(data),
            PIECE_CTX => run.ctx.extend_from_slice(data),
            PIECE_CWD => run.cwd.extend_from_slice(data),
            PIECE_ENV => run.env.extend_from_slice(data),
            k => return Err(DecodeError::UnknownPiece(k)),
        }
        run.pieces += 1;
        Ok(())
    }

    /// Close the run of an exec record, into `self.exec`.
    fn exec(&mut self, rec: &[u8]) -> Result<(), DecodeError> {
        const HDR: usize = size_of::<ExecEvent>();
        if rec.len() < HDR {
            return Err(DecodeError::Short(rec.len()));
        }
        let filename_len = u32_at(rec, offset_of!(ExecEvent, filename_len)) as usize;
        if HDR as u64 + filename_len as u64 > rec.len() as u64 {
            return Err(DecodeError::Lengths { declared: HDR as u64 + filename_len as u64, size: rec.len() });
        }
        let ts_ns = u64_at(rec, offset_of!(ExecEvent, ts_ns));
        let cpu = u32_at(rec, offset_of!(ExecEvent, cpu));
        let run = match self.runs.get_mut(&cpu) {
            Some(run) if run.open && run.ts_ns == ts_ns => run,
            other => {
                // Whatever this CPU had open is not this exec's: it goes.
                if let Some(stale) = other {
                    stale.open = false;
                }
                &mut self.none
            }
        };
        // The run ends here, whether it adds up or not.
        run.open = false;
        let declared = u32_at(rec, offset_of!(ExecEvent, pieces));
        let bytes = [
            offset_of!(ExecEvent, interp_len),
            offset_of!(ExecEvent, exe_len),
            offset_of!(ExecEvent, args_len),
            offset_of!(ExecEvent, cwd_len),
            offset_of!(ExecEvent, env_len),
        ]
        .map(|off| u64::from(u32_at(rec, off)));
        let have = [run.interp.len(), run.exe.len(), run.args.len(), run.cwd.len(), run.env.len()].map(|n| n as u64);
        if !run.ctx.is_empty() && run.ctx.len() != size_of::<ExecContext>() {
            return Err(DecodeError::Lengths { declared: size_of::<ExecContext>() as u64, size: run.ctx.len() });
        }
        if declared != run.pieces || bytes != have {
            return Err(DecodeError::Run { declared, got: run.pieces, bytes, have });
        }
        match &mut self.exec {
            Record::Exec(e) => exec_into(rec, &rec[HDR..HDR + filename_len], run, e),
            other => {
                let mut e = Exec::default();
                exec_into(rec, &rec[HDR..HDR + filename_len], run, &mut e);
                *other = Record::Exec(e);
            }
        }
        Ok(())
    }
}

/// Fill `e` from an exec record and its run, every field of it (nothing of
/// the exec it held before stays but its buffers); the run's buffers trade
/// places with the exec's.
fn exec_into(rec: &[u8], filename: &[u8], run: &mut Run, e: &mut Exec) {
    let flags = u32_at(rec, offset_of!(ExecEvent, flags));
    let exe_truncated = flags & EXEC_F_EXE_TRUNCATED != 0;
    // Every field, by name: a field added to Exec must be decided here.
    let Exec {
        ts_ns,
        pid,
        old_pid,
        ppid,
        uid,
        cgroup_id,
        comm,
        pcomm,
        filename: file,
        interp,
        ret,
        args,
        args_size,
        flags: marks,
        fd_path,
        cgroup,
        cwd,
        env,
        env_size,
        context: ctx,
        container,
        source,
        args_from,
        depth: level,
    } = e;
    *ts_ns = u64_at(rec, offset_of!(ExecEvent, ts_ns));
    *pid = u32_at(rec, offset_of!(ExecEvent, pid));
    *old_pid = u32_at(rec, offset_of!(ExecEvent, old_pid));
    *ppid = u32_at(rec, offset_of!(ExecEvent, ppid));
    *uid = u32_at(rec, offset_of!(ExecEvent, uid));
    *cgroup_id = u64_at(rec, offset_of!(ExecEvent, cgroup_id));
    refill(comm, cstr(&rec[offset_of!(ExecEvent, comm)..offset_of!(ExecEvent, comm) + TASK_COMM_LEN]));
    refill(pcomm, cstr(&rec[offset_of!(ExecEvent, pcomm)..offset_of!(ExecEvent, pcomm) + TASK_COMM_LEN]));
    // Through a descriptor, the walked path is the file that ran; the
    // kernel's "/dev/fd/N..." is kept beside it.
    if run.exe.is_empty() {
        refill(file, filename);
        recycle(fd_path);
    } else {
        exe_path_into(file, &run.exe, u32_at(rec, offset_of!(ExecEvent, exe_steps)) as usize);
        refill(fd_path, filename);
    }
    exe_path_into(cwd, &run.cwd, u32_at(rec, offset_of!(ExecEvent, cwd_steps)) as usize);
    for (mine, theirs) in [(interp, &mut run.interp), (args, &mut run.args), (env, &mut run.env)] {
        std::mem::swap(mine, theirs);
        recycle(theirs);
    }
    *ret = u32_at(rec, offset_of!(ExecEvent, ret)) as i32;
    *args_size = u32_at(rec, offset_of!(ExecEvent, args_size));
    *marks = ExecFlags {
        args_truncated: flags & EXEC_F_ARGS_TRUNCATED != 0,
        args_read_failed: flags & (EXEC_F_ARGS_READ_FAILED | EXEC_F_NO_MM) != 0,
        filename_truncated: flags & EXEC_F_FILENAME_TRUNCATED != 0 || exe_truncated,
        filename_failed: flags & EXEC_F_FILENAME_FAILED != 0,
        fileless: flags & EXEC_F_FILELESS != 0,
        interp_truncated: flags & EXEC_F_INTERP_TRUNCATED != 0,
        exe_truncated,
        parts_lost: flags & EXEC_F_PIECE_LOST != 0,
        cwd_truncated: flags & EXEC_F_CWD_TRUNCATED != 0,
        env_truncated: flags & EXEC_F_ENV_TRUNCATED != 0,
        env_read_failed: flags & EXEC_F_ENV_READ_FAILED != 0,
        args_redacted: false,
        env_redacted: false,
    };
    *cgroup = None;
    *env_size = u32_at(rec, offset_of!(ExecEvent, env_size));
    *ctx = context(&run.ctx);
    *container = None;
    *source = SourceKind::Bpf;
    *args_from = ArgsFrom::Exec;
    *level = depth(u32_at(rec, offset_of!(ExecEvent, depth)));
}

/// The context piece, decoded (the ids, ancestry and container are the
/// enrichment stage's to fill in).
fn context(raw: &[u8]) -> Option<Box<Context>> {
    if raw.len() != size_of::<ExecContext>() {
        return None;
    }
    let at = |f: usize| u32_at(raw, f);
    let set = |v: u32| (v != u32::MAX).then_some(v);
    let ns = |i: usize| u32_at(raw, offset_of!(ExecContext, ns) + 4 * i);
    let privilege = at(offset_of!(ExecContext, privilege));
    Some(Box::new(Context {
        euid: at(offset_of!(ExecContext, euid)),
        gid: at(offset_of!(ExecContext, gid)),
        egid: at(offset_of!(ExecContext, egid)),
        loginuid: set(at(offset_of!(ExecContext, loginuid))),
        sessionid: set(at(offset_of!(ExecContext, sessionid))),
        tty: cstr(&raw[offset_of!(ExecContext, tty)..offset_of!(ExecContext, tty) + TASK_COMM_LEN]).to_vec(),
        nspid: at(offset_of!(ExecContext, nspid)),
        ns: Namespaces { pid: ns(0), mnt: ns(1), net: ns(2), user: ns(3), uts: ns(4), ipc: ns(5), cgroup: ns(6) },
        privilege: Privilege {
            setuid: privilege & PRIV_SETUID != 0,
            setgid: privilege & PRIV_SETGID != 0,
            caps: privilege & PRIV_CAPS != 0,
        },
        cap_effective: u64_at(raw, offset_of!(ExecContext, cap_effective)),
        start_boottime: u64_at(raw, offset_of!(ExecContext, start_boottime)),
        self_exec_id: u64_at(raw, offset_of!(ExecContext, self_exec_id)),
        parent_start_boottime: u64_at(raw, offset_of!(ExecContext, parent_start_boottime)),
        ..Context::default()
    }))
}

/// The executed file's path from the dentry names the kernel walked (leaf
/// first, one per [`EXE_SLOT`]-byte slot), into `out` (emptied first). The
/// walk moved `steps` times and
/// then stayed at the top: the process's root, or the root of a mount that
/// is not below it (a memfd's internal mount). Slots `0..steps` are the path
/// upwards; a mount's root dentry is named "/" and is skipped. A walk that
/// settled is absolute: `/usr/bin/true` (inside a chroot, as the process sees
/// it), or for a memfd `/memfd:x`, as `/proc/PID/exe` shows it. A walk that
/// was still moving at its last slots (too deep, `EXE_DEPTH - 1` steps or
/// more, marked by the kernel) gives the path without its leading directories
/// and no leading `/`. No slots, no path (empty).
pub(crate) fn exe_path_into(out: &mut Vec<u8>, slots: &[u8], steps: usize) {
    recycle(out);
    if slots.is_empty() {
        return;
    }
    let settled = steps < EXE_DEPTH - 1;
    let take = if settled { steps } else { steps.saturating_add(1) };
    let used = slots.len().min(take.saturating_mul(EXE_SLOT));
    for name in slots[..used].chunks(EXE_SLOT).rev().map(cstr) {
        if name == b"/" || name.is_empty() {
            continue;
        }
        if !out.is_empty() || settled {
            out.push(b'/');
        }
        out.extend_from_slice(name);
    }
    if out.is_empty() && settled {
        out.push(b'/');
    }
}

/// [`exe_path_into`] a new buffer.
#[cfg(test)]
pub(crate) fn exe_path(slots: &[u8], steps: usize) -> Vec<u8> {
    let mut out = Vec::new();
    exe_path_into(&mut out, slots, steps);
    out
}

fn depth(d: u32) -> Option<u32> {
    (d != DEPTH_NONE).then_some(d)
}

/// Decode an exit record into `slot` (its comm buffer reused).
fn decode_exit(rec: &[u8], slot: &mut Record) -> Result<(), DecodeError> {
    const LEN: usize = size_of::<ExitEvent>();
    if rec.len() < LEN {
        return Err(DecodeError::Short(rec.len()));
    }
    let mut comm = match slot {
        Record::Exit(x) => std::mem::take(&mut x.comm),
        _ => Vec::new(),
    };
    refill(&mut comm, cstr(&rec[offset_of!(ExitEvent, comm)..offset_of!(ExitEvent, comm) + TASK_COMM_LEN]));
    *slot = Record::Exit(Exit {
        ts_ns: u64_at(rec, offset_of!(ExitEvent, ts_ns)),
        pid: u32_at(rec, offset_of!(ExitEvent, pid)),
        ppid: u32_at(rec, offset_of!(ExitEvent, ppid)),
        comm,
        exec_ts_ns: u64_at(rec, offset_of!(ExitEvent, exec_ts_ns)),
        start_ts_ns: u64_at(rec, offset_of!(ExitEvent, start_ts_ns)),
        status: ExitStatus::from_wait(u32_at(rec, offset_of!(ExitEvent, status))),
        cpu_ns: Some(u64_at(rec, offset_of!(ExitEvent, cpu_ns))),
        depth: depth(u32_at(rec, offset_of!(ExitEvent, depth))),
        uid: Some(u32_at(rec, offset_of!(ExitEvent, uid))),
        source: SourceKind::Bpf,
    });
    Ok(())
}

/// Encoders that lay records out the way the BPF program does, for tests
/// and the replay source ([`super::replay`]) that drive the decoder without
/// the kernel.
pub(crate) mod encode {
    use super::*;

    /// The bytes of a `#[repr(C)]` header without padding.
    fn bytes_of<T: Copy>(h: &T) -> Vec<u8> {
        // SAFETY: every T used here is #[repr(C)] plain old data whose size
        // is asserted above to be the sum of its fields (no padding bytes),
        // so viewing it as bytes for its exact size is sound.
        unsafe { std::slice::from_raw_parts((h as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
    }

    pub(crate) fn exit(h: &ExitEvent) -> Vec<u8> {
        let mut h = *h;
        h.r#type = EVENT_EXIT;
        bytes_of(&h)
    }

    /// One piece record of `kind` for the run `(cpu, ts_ns)`.
    pub(crate) fn piece(cpu: u32, ts_ns: u64, kind: u32, data: &[u8]) -> Vec<u8> {
        let h = Piece { r#type: EVENT_PIECE, kind, ts_ns, cpu, len: data.len() as u32 };
        let mut out = bytes_of(&h);
        out.extend_from_slice(data);
        out
    }

    /// The whole run for one exec, as the kernel writes it: interpreter,
    /// executed-file slots and arguments (in pieces of at most PIECE_DATA
    /// bytes), then the exec record with the lengths filled in.
    #[cfg(test)]
    pub(crate) fn exec_run(h: &ExecEvent, filename: &[u8], interp: &[u8], exe: &[u8], args: &[u8]) -> Vec<Vec<u8>> {
        exec_run_env(h, filename, interp, exe, args, b"")
    }

    /// [`exec_run`] with an environment block too (`--env`): its pieces
    /// come after the arguments', as the argument stage writes them.
    pub(crate) fn exec_run_env(
        h: &ExecEvent,
        filename: &[u8],
        interp: &[u8],
        exe: &[u8],
        args: &[u8],
        env: &[u8],
    ) -> Vec<Vec<u8>> {
        let mut h = *h;
        let mut recs = Vec::new();
        let mut add = |kind, data: &[u8]| recs.push(piece(h.cpu, h.ts_ns, kind, data));
        if !interp.is_empty() {
            add(PIECE_INTERP, interp);
        }
        if !exe.is_empty() {
            add(PIECE_EXE, exe);
        }
        for chunk in args.chunks(PIECE_DATA as usize) {
            add(PIECE_ARGS, chunk);
        }
        for chunk in env.chunks(PIECE_DATA as usize) {
            add(PIECE_ENV, chunk);
        }
        h.r#type = EVENT_EXEC;
        h.pieces = recs.len() as u32;
        h.filename_len = filename.len() as u32;
        h.interp_len = interp.len() as u32;
        h.exe_len = exe.len() as u32;
        h.args_len = args.len() as u32;
        h.env_len = env.len() as u32;
        let mut last = bytes_of(&h);
        last.extend_from_slice(filename);
        recs.push(last);
        recs
    }
}

#[cfg(test)]
mod tests {
    use super::encode::{exec_run, exit as encode_exit, piece};
    use super::*;

    const HEADER: &str = include_str!("../../../bpf/execsnoop.h");

    fn define(name: &str) -> String {
        HEADER
            .lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("#define") && w.next() == Some(name)).then(|| w.collect::<Vec<_>>().join(" "))
            })
            .unwrap_or_else(|| panic!("{name} not in execsnoop.h"))
    }

    /// Evaluate the tiny constant expressions the header uses: `N`, `Nu`,
    /// `(Nu << K)`, `(Nu * M * ...)`, and names of other defines.
    fn value(name: &str) -> u64 {
        let expr = define(name);
        let expr = expr.split("/*").next().unwrap_or("").trim().trim_start_matches('(').trim_end_matches(')');
        let atom = |t: &str| -> u64 {
            let t = t.trim().trim_end_matches('u');
            t.parse().unwrap_or_else(|_| value(t))
        };
        if let Some((a, b)) = expr.split_once("<<") {
            atom(a) << atom(b)
        } else if let Some((a, b)) = expr.split_once('/') {
            atom(a) / atom(b)
        } else {
            expr.split('*').map(atom).product()
        }
    }

    #[test]
    fn constants_match_header() {
        let pairs: &[(&str, u64)] = &[
            ("TASK_COMM_LEN", TASK_COMM_LEN as u64),
            ("EVENT_EXEC", EVENT_EXEC.into()),
            ("EVENT_EXIT", EVENT_EXIT.into()),
            ("EVENT_PIECE", EVENT_PIECE.into()),
            ("PIECE_INTERP", PIECE_INTERP.into()),
            ("PIECE_EXE", PIECE_EXE.into()),
            ("PIECE_ARGS", PIECE_ARGS.into()),
            ("PIECE_DATA", PIECE_DATA.into()),
            ("EXEC_F_ARGS_TRUNCATED", EXEC_F_ARGS_TRUNCATED.into()),
            ("EXEC_F_ARGS_READ_FAILED", EXEC_F_ARGS_READ_FAILED.into()),
            ("EXEC_F_FILENAME_TRUNCATED", EXEC_F_FILENAME_TRUNCATED.into()),
            ("EXEC_F_FILENAME_FAILED", EXEC_F_FILENAME_FAILED.into()),
            ("EXEC_F_NO_MM", EXEC_F_NO_MM.into()),
            ("EXEC_F_FILELESS", EXEC_F_FILELESS.into()),
            ("EXEC_F_INTERP_TRUNCATED", EXEC_F_INTERP_TRUNCATED.into()),
            ("EXEC_F_EXE_TRUNCATED", EXEC_F_EXE_TRUNCATED.into()),
            ("EXEC_F_PIECE_LOST", EXEC_F_PIECE_LOST.into()),
            ("EXEC_F_ENV_TRUNCATED", EXEC_F_ENV_TRUNCATED.into()),
            ("EXEC_F_ENV_READ_FAILED", EXEC_F_ENV_READ_FAILED.into()),
            ("EXEC_F_CWD_TRUNCATED", EXEC_F_CWD_TRUNCATED.into()),
            ("PIECE_CTX", PIECE_CTX.into()),
            ("PIECE_CWD", PIECE_CWD.into()),
            ("PIECE_ENV", PIECE_ENV.into()),
            ("PRIV_SETUID", PRIV_SETUID.into()),
            ("PRIV_SETGID", PRIV_SETGID.into()),
            ("PRIV_CAPS", PRIV_CAPS.into()),
            ("NS_COUNT", NS_COUNT as u64),
            ("EXE_SLOT", EXE_SLOT as u64),
            ("EXE_DEPTH", EXE_DEPTH as u64),
            ("ARGS_CAP_DEFAULT", ARGS_CAP_DEFAULT.into()),
            ("ARGS_CAP_MAX", ARGS_CAP_MAX.into()),
            ("STAGE_EXE", STAGE_EXE.into()),
            ("STAGE_ARGS", STAGE_ARGS.into()),
            ("STAGES", STAGES.into()),
            ("COUNTER_LOST_EXEC", COUNTER_LOST_EXEC.into()),
            ("COUNTER_LOST_FAIL", COUNTER_LOST_FAIL.into()),
            ("COUNTER_UNTRACKED", COUNTER_UNTRACKED.into()),
            ("COUNTER_LOST_EXIT", COUNTER_LOST_EXIT.into()),
            ("COUNTER_PROC_TABLE", COUNTER_PROC_TABLE.into()),
            ("COUNTER_MAX", COUNTER_MAX.into()),
            ("PENDING_MAX", PENDING_MAX.into()),
            ("PROCS_MAX", PROCS_MAX.into()),
        ];
        for &(name, v) in pairs {
            assert_eq!(value(name), v, "{name}");
        }
        assert_eq!(define("DEPTH_NONE").split_whitespace().next(), Some("0xffffffffu"));
        assert_eq!(u64::from(ARGS_CAP_DEFAULT), u64::from(crate::source::ARGS_CAP_DEFAULT));
        assert_eq!(u64::from(ARGS_CAP_MAX), u64::from(crate::source::ARGS_CAP_MAX));
        // The argument stage copies STAGE_CHUNKS pieces per run and the kernel
        // allows 32 tail calls: the whole cap must fit (one call is the walk).
        let per_run = value("STAGE_CHUNKS") * u64::from(PIECE_DATA);
        assert!(u64::from(ARGS_CAP_MAX).div_ceil(per_run) < 32);
    }

    /// The fields of a struct in the header, in order.
    fn header_fields(name: &str) -> Vec<(String, String)> {
        let body = HEADER.split(&format!("struct {name} {{")).nth(1).expect("struct in header");
        let body = body.split("};").next().expect("end of struct");
        body.lines()
            .map(|l| l.split("/*").next().unwrap_or("").trim())
            .filter(|l| !l.is_empty() && !l.starts_with('*'))
            .map(|l| {
                let (ty, name) = l.trim_end_matches(';').rsplit_once(' ').expect("type and name");
                (ty.trim().to_string(), name.trim().to_string())
            })
            .collect()
    }

    fn assert_fields(name: &str, want: &[(&str, &str)]) {
        let got = header_fields(name);
        let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(got, want, "execsnoop.h changed: update struct {name} in src/source/bpf/wire.rs");
    }

    #[test]
    fn structs_match_header() {
        assert_fields(
            "exec_event",
            &[
                ("__u32", "type"),
                ("__u32", "flags"),
                ("__u64", "ts_ns"),
                ("__u64", "cgroup_id"),
                ("__u32", "pid"),
                ("__u32", "old_pid"),
                ("__u32", "ppid"),
                ("__u32", "uid"),
                ("__u32", "args_size"),
                ("__u32", "args_len"),
                ("__u32", "filename_len"),
                ("__u32", "interp_len"),
                ("__s32", "ret"),
                ("__u32", "depth"),
                ("__u32", "exe_len"),
                ("__u32", "exe_steps"),
                ("__u32", "cpu"),
                ("__u32", "pieces"),
                ("__u32", "env_size"),
                ("__u32", "env_len"),
                ("__u32", "cwd_len"),
                ("__u32", "cwd_steps"),
                ("char", "comm[TASK_COMM_LEN]"),
                ("char", "pcomm[TASK_COMM_LEN]"),
            ],
        );
        assert_fields(
            "exec_context",
            &[
                ("__u32", "euid"),
                ("__u32", "gid"),
                ("__u32", "egid"),
                ("__u32", "loginuid"),
                ("__u32", "sessionid"),
                ("__u32", "nspid"),
                ("__u64", "start_boottime"),
                ("__u64", "self_exec_id"),
                ("__u64", "parent_start_boottime"),
                ("__u64", "cap_effective"),
                ("__u32", "privilege"),
                ("__u32", "ns[NS_COUNT]"),
                ("char", "tty[TASK_COMM_LEN]"),
            ],
        );
        assert_fields(
            "piece",
            &[("__u32", "type"), ("__u32", "kind"), ("__u64", "ts_ns"), ("__u32", "cpu"), ("__u32", "len")],
        );
        assert_fields(
            "exit_event",
            &[
                ("__u32", "type"),
                ("__u32", "flags"),
                ("__u64", "ts_ns"),
                ("__u64", "exec_ts_ns"),
                ("__u64", "start_ts_ns"),
                ("__u64", "cpu_ns"),
                ("__u32", "pid"),
                ("__u32", "ppid"),
                ("__u32", "status"),
                ("__u32", "depth"),
                ("__u32", "uid"),
                ("__u32", "_pad"),
                ("__u64", "cgroup_id"),
                ("char", "comm[TASK_COMM_LEN]"),
            ],
        );
        assert_fields(
            "proc_info",
            &[
                ("__u64", "start_ns"),
                ("__u64", "exec_ns"),
                ("__u64", "cpu_base_ns"),
                ("__u32", "depth"),
                ("__u32", "visible"),
            ],
        );
    }

    fn slots(names: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0u8; EXE_SLOT * EXE_DEPTH];
        for (i, n) in names.iter().enumerate() {
            out[i * EXE_SLOT..i * EXE_SLOT + n.len()].copy_from_slice(n);
        }
        out
    }

    #[test]
    fn exe_path_from_dentry_names() {
        // /tmp/d/prog with /tmp its own mount: prog, d, "/" (tmp mount root), tmp, "/" (root).
        let s = slots(&[b"prog", b"d", b"/", b"tmp", b"/", b"/", b"/"]);
        assert_eq!(exe_path(&s, 4), b"/tmp/d/prog");
        // A memfd, as this kernel shows it: its dentry, then the root of the
        // internal shm mount.
        let s = slots(&[b"memfd:x", b"/", b"/"]);
        assert_eq!(exe_path(&s, 1), b"/memfd:x");
        // In a chroot at /mnt: the walk stops at the process's root, the
        // "mnt" directory, whose name is not part of the path.
        let s = slots(&[b"true", b"bin", b"usr", b"mnt", b"mnt", b"mnt"]);
        assert_eq!(exe_path(&s, 3), b"/usr/bin/true");
        // Too deep: the top was not reached; no leading '/'.
        let deep: Vec<Vec<u8>> = (0..EXE_DEPTH).map(|i| format!("d{i}").into_bytes()).collect();
        let names: Vec<&[u8]> = deep.iter().map(|n| n.as_slice()).collect();
        let s = slots(&names);
        let want: Vec<String> = (0..EXE_DEPTH).rev().map(|i| format!("d{i}")).collect();
        assert_eq!(exe_path(&s, EXE_DEPTH - 1), want.join("/").as_bytes());
        assert_eq!(exe_path(&slots(&[b"/"]), 0), b"/");
        assert_eq!(exe_path(&[], 0), b"");
        // Stale slots past `steps` are ignored.
        let s = slots(&[b"true", b"bin", b"/", b"junk"]);
        assert_eq!(exe_path(&s, 2), b"/bin/true");
    }

    fn sample() -> ExecEvent {
        let mut comm = [0u8; TASK_COMM_LEN];
        comm[..4].copy_from_slice(b"echo");
        ExecEvent {
            flags: EXEC_F_ARGS_TRUNCATED,
            ts_ns: 123_456_789,
            cgroup_id: 77,
            pid: 10,
            old_pid: 11,
            ppid: 9,
            uid: 1000,
            args_size: 100,
            ret: -2,
            cpu: 1,
            comm,
            pcomm: *b"bash\0\0\0\0\0\0\0\0\0\0\0\0",
            ..ExecEvent::default()
        }
    }

    /// Feed records; the completed records, in order.
    fn feed(asm: &mut Assembler, recs: &[Vec<u8>]) -> Vec<Record> {
        recs.iter().filter_map(|r| asm.push(r).expect("decodes").map(|rec| rec.clone())).collect()
    }

    fn one_exec(recs: &[Vec<u8>]) -> Exec {
        match feed(&mut Assembler::new(), recs).as_slice() {
            [Record::Exec(e)] => e.clone(),
            other => panic!("expected one exec, got {other:?}"),
        }
    }

    #[test]
    fn round_trip() {
        let e = one_exec(&exec_run(&sample(), b"/bin/echo", b"/bin/sh", &[], b"echo\0hi\0the"));
        assert_eq!((e.pid, e.old_pid, e.ppid, e.uid, e.cgroup_id, e.ts_ns), (10, 11, 9, 1000, 77, 123_456_789));
        assert_eq!(e.comm, b"echo");
        assert_eq!(e.filename, b"/bin/echo");
        assert_eq!(e.interp, b"/bin/sh");
        assert_eq!(e.pcomm, b"bash");
        assert_eq!(e.ret, -2);
        assert_eq!(e.argv(), vec![&b"echo"[..], b"hi", b"the"]);
        assert!(e.flags.args_truncated);
        assert!(!e.flags.parts_lost);
        assert!(e.args_incomplete());
    }

    /// A long argument area comes in many pieces and is joined in order.
    #[test]
    fn many_pieces_join_in_order() {
        let args: Vec<u8> = (0..PIECE_DATA as usize * 5 + 123).map(|i| (i % 251) as u8).collect();
        let recs = exec_run(&sample(), b"/bin/x", b"", &[], &args);
        assert_eq!(recs.len(), 7, "six argument pieces and the exec record");
        assert_eq!(one_exec(&recs).args, args);
    }

    /// Runs from different CPUs interleave in the ring buffer; each is
    /// joined to its own exec record.
    #[test]
    fn runs_of_two_cpus_interleave() {
        let mut a = sample();
        a.cpu = 0;
        a.pid = 100;
        let mut b = sample();
        b.cpu = 1;
        b.pid = 200;
        b.ts_ns = a.ts_ns + 1;
        let ra = exec_run(&a, b"/bin/a", b"", &[], b"a\0one\0");
        let rb = exec_run(&b, b"/bin/b", b"/bin/sh", &[], b"b\0two\0");
        let mixed = vec![rb[0].clone(), ra[0].clone(), rb[1].clone(), ra[1].clone(), rb[2].clone()];
        let out = feed(&mut Assembler::new(), &mixed);
        let execs: Vec<(u32, Vec<u8>, Vec<u8>)> = out
            .into_iter()
            .map(|d| match d {
                Record::Exec(e) => (e.pid, e.args, e.interp),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(execs, vec![(100, b"a\0one\0".to_vec(), vec![]), (200, b"b\0two\0".to_vec(), b"/bin/sh".to_vec())]);
    }

    /// Pieces whose exec record was lost are dropped when the CPU's next
    /// run starts; they never leak into the next exec.
    #[test]
    fn orphan_pieces_are_dropped() {
        let first = sample();
        let mut second = sample();
        second.ts_ns += 1000;
        let orphan = exec_run(&first, b"/bin/lost", b"", &[], b"lost\0args\0");
        let next = exec_run(&second, b"/bin/next", b"", &[], b"next\0");
        let mut asm = Assembler::new();
        assert!(feed(&mut asm, &orphan[..orphan.len() - 1]).is_empty());
        assert_eq!(one_exec_from(&mut asm, &next).args, b"next\0");
        // A run with no pieces after an orphan: nothing of the orphan either.
        assert!(feed(&mut asm, &orphan[..orphan.len() - 1]).is_empty());
        let mut bare = sample();
        bare.ts_ns += 2000;
        bare.args_size = 0;
        bare.flags = 0;
        let e = one_exec_from(&mut asm, &exec_run(&bare, b"/bin/bare", b"", &[], b""));
        assert!(e.args.is_empty() && e.interp.is_empty());
    }

    fn one_exec_from(asm: &mut Assembler, recs: &[Vec<u8>]) -> Exec {
        match feed(asm, recs).as_slice() {
            [Record::Exec(e)] => e.clone(),
            other => panic!("expected one exec, got {other:?}"),
        }
    }

    /// A run the kernel marked (a piece did not fit): what arrived is kept
    /// and the mark is carried.
    #[test]
    fn lost_piece_mark_is_carried() {
        let mut h = sample();
        h.flags = EXEC_F_PIECE_LOST;
        h.args_size = 40_000;
        let e = one_exec(&exec_run(&h, b"/bin/x", b"", &[], &[b'a'; 16384]));
        assert!(e.flags.parts_lost);
        assert!(e.args_incomplete());
    }

    /// An exec record whose pieces do not add up is an error, not a guess.
    #[test]
    fn run_that_does_not_add_up_is_an_error() {
        let recs = exec_run(&sample(), b"/bin/echo", b"", &[], b"echo\0hi\0");
        let mut asm = Assembler::new();
        // The exec record without its piece.
        assert!(matches!(asm.push(&recs[1]), Err(DecodeError::Run { declared: 1, got: 0, .. })));
        // A piece of an unknown kind.
        let bad = piece(1, 5, 99, b"x");
        assert_eq!(asm.push(&bad), Err(DecodeError::UnknownPiece(99)));
    }

    #[test]
    fn exec_with_exe_slots_round_trip() {
        let mut h = sample();
        h.exe_steps = 2;
        h.flags = EXEC_F_EXE_TRUNCATED;
        let e = one_exec(&exec_run(&h, b"/dev/fd/3", b"", &slots(&[b"true", b"bin", b"/"]), b"t\0"));
        assert_eq!(e.filename, b"/bin/true");
        assert_eq!(e.fd_path, b"/dev/fd/3");
        assert!(e.flags.exe_truncated && e.flags.filename_truncated);
        assert_eq!(e.args, b"t\0");
    }

    #[test]
    fn exit_round_trip() {
        let mut comm = [0u8; TASK_COMM_LEN];
        comm[..5].copy_from_slice(b"sleep");
        let h = ExitEvent {
            ts_ns: 900,
            exec_ts_ns: 600,
            start_ts_ns: 600,
            cpu_ns: 12,
            pid: 7,
            ppid: 1,
            status: 3 << 8,
            depth: 2,
            comm,
            ..ExitEvent::default()
        };
        let mut asm = Assembler::new();
        let Some(Record::Exit(x)) = asm.push(&encode_exit(&h)).unwrap().cloned() else { panic!("not an exit") };
        assert_eq!(x.status, ExitStatus::Code(3));
        assert_eq!((x.pid, x.ppid, x.exec_ts_ns, x.cpu_ns, x.depth), (7, 1, 600, Some(12), Some(2)));
        assert_eq!(x.lifetime_ns(), Some(300));
        assert_eq!(x.comm, b"sleep");
        let mut h2 = h;
        h2.depth = DEPTH_NONE;
        let Some(Record::Exit(x)) = asm.push(&encode_exit(&h2)).unwrap().cloned() else { panic!("not an exit") };
        assert_eq!(x.depth, None);
        assert!(asm.push(&encode_exit(&h)[..40]).is_err(), "short exit record");
    }

    #[test]
    fn rejects_bad_lengths_without_panicking() {
        let mut asm = Assembler::new();
        let recs = exec_run(&sample(), b"/bin/echo", b"", &[], b"echo\0");
        let mut last = recs[1].clone();
        last.truncate(last.len() - 2);
        assert!(matches!(asm.push(&last), Err(DecodeError::Lengths { .. })));
        let mut p = recs[0].clone();
        p.truncate(p.len() - 1);
        assert!(matches!(asm.push(&p), Err(DecodeError::Lengths { .. })));
        assert_eq!(asm.push(&recs[1][..10]), Err(DecodeError::Short(10)));
        assert_eq!(asm.push(&[]), Err(DecodeError::Short(0)));
        assert_eq!(asm.push(&9u32.to_ne_bytes()), Err(DecodeError::UnknownType(9)));
        let mut huge = recs[1].clone();
        huge[48..52].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(asm.push(&huge), Err(DecodeError::Lengths { .. })));
    }

    /// The record an exec is decoded into is reused: nothing of the one
    /// before it (nor what the pipe added to it) stays, and steady state
    /// reuses its buffers.
    #[test]
    fn a_reused_record_keeps_nothing_of_the_last() {
        let mut rich = sample();
        rich.exe_steps = 2;
        rich.env_size = 4;
        let mut recs = exec_run(&rich, b"/dev/fd/3", b"/bin/sh", &slots(&[b"true", b"bin", b"/"]), b"t\0");
        recs.extend(encode::exec_run_env(&rich, b"/bin/x", b"", &[], b"x\0", b"A=1\0"));
        let mut plain = sample();
        plain.ts_ns += 10;
        plain.pid = 99;
        plain.flags = 0;
        plain.comm = *b"ls\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        let last = exec_run(&plain, b"/bin/ls", b"", &[], b"ls\0-l\0");
        let want = one_exec(&last);
        let mut asm = Assembler::new();
        for r in &recs {
            if let Some(Record::Exec(e)) = asm.push(r).unwrap() {
                // What later stages fill in.
                e.cgroup = Some(b"/x".to_vec());
                e.container = Some(Default::default());
                e.flags.args_redacted = true;
                e.depth = Some(3);
            }
        }
        let mut got = None;
        for r in &last {
            if let Some(Record::Exec(e)) = asm.push(r).unwrap() {
                got = Some(e.clone());
            }
        }
        assert_eq!(got, Some(want));
        // A failed decode leaves the next run whole.
        assert!(asm.push(&last[1]).is_err());
        assert_eq!(one_exec_from(&mut asm, &last).pid, 99);
    }

    #[test]
    fn comm_without_nul_is_kept_whole() {
        let mut h = sample();
        h.comm = *b"abcdefghijklmnop";
        assert_eq!(one_exec(&exec_run(&h, b"", b"", &[], b"")).comm, b"abcdefghijklmnop");
    }
}
