//! The Rust mirror of `bpf/execsnoop.h`, the one definition of the records the
//! BPF program writes into the ring buffer, and their decoding into
//! [`crate::event`] types.
//!
//! The header is the source of truth. Every struct here is `#[repr(C)]` with
//! the same fields in the same order; compile-time assertions pin their sizes
//! and offsets, and a test reads the constants and field list out of the C
//! header itself, so the two cannot drift apart unnoticed.
//!
//! Decoding never trusts lengths from the wire: a record whose declared
//! lengths do not fit its size is an error (counted and reported by the
//! source), never a panic or an out-of-bounds read.

use std::mem::{offset_of, size_of};

use crate::event::{ArgsFrom, Exec, ExecFlags, Exit, ExitStatus, SourceKind};

pub const TASK_COMM_LEN: usize = 16;

/// Record type of an exec record.
pub const EVENT_EXEC: u32 = 1;
/// Record type of an exit record.
pub const EVENT_EXIT: u32 = 2;

pub const EXEC_F_ARGS_TRUNCATED: u32 = 1 << 0;
pub const EXEC_F_ARGS_READ_FAILED: u32 = 1 << 1;
pub const EXEC_F_FILENAME_TRUNCATED: u32 = 1 << 2;
pub const EXEC_F_FILENAME_FAILED: u32 = 1 << 3;
pub const EXEC_F_NO_MM: u32 = 1 << 4;
pub const EXEC_F_FILELESS: u32 = 1 << 5;
pub const EXEC_F_INTERP_TRUNCATED: u32 = 1 << 6;
pub const EXEC_F_EXE_TRUNCATED: u32 = 1 << 7;

/// The executed file's dentry names (fd-based execs): slot size and count.
pub const EXE_SLOT: usize = 256;
pub const EXE_DEPTH: usize = 24;

pub const ARGS_CAP_DEFAULT: u32 = 32 * 1024;
pub const ARGS_CAP_MAX: u32 = 6 * 1024 * 1024;

/// Indexes of the per-CPU `counters` map.
pub const COUNTER_LOST_EXEC: u32 = 0;
pub const COUNTER_LOST_FAIL: u32 = 1;
pub const COUNTER_UNTRACKED: u32 = 2;
pub const COUNTER_LOST_EXIT: u32 = 3;
pub const COUNTER_PROC_TABLE: u32 = 4;
/// Capacity of the `pending` map of exec attempts in flight (`-x`).
pub const PENDING_MAX: u32 = 16384;
/// Number of entries in the `counters` map.
pub const COUNTER_MAX: u32 = 8;
/// Capacity of the `procs` map of followed processes.
pub const PROCS_MAX: u32 = 32768;
/// `exec_event.depth` when processes are not followed.
pub const DEPTH_NONE: u32 = u32::MAX;

/// `struct exec_event` from execsnoop.h.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecEvent {
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
    pub comm: [u8; TASK_COMM_LEN],
    pub pcomm: [u8; TASK_COMM_LEN],
}

/// `struct exit_event` from execsnoop.h.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ExitEvent {
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
    pub comm: [u8; TASK_COMM_LEN],
}

const _: () = {
    assert!(size_of::<ExitEvent>() == 72);
    assert!(offset_of!(ExitEvent, ts_ns) == 8);
    assert!(offset_of!(ExitEvent, exec_ts_ns) == 16);
    assert!(offset_of!(ExitEvent, start_ts_ns) == 24);
    assert!(offset_of!(ExitEvent, cpu_ns) == 32);
    assert!(offset_of!(ExitEvent, pid) == 40);
    assert!(offset_of!(ExitEvent, ppid) == 44);
    assert!(offset_of!(ExitEvent, status) == 48);
    assert!(offset_of!(ExitEvent, depth) == 52);
    assert!(offset_of!(ExitEvent, comm) == 56);
};

/// `struct proc_info` from execsnoop.h: the value of the `procs` map.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcInfo {
    pub start_ns: u64,
    pub exec_ns: u64,
    pub cpu_base_ns: u64,
    pub depth: u32,
    pub _pad: u32,
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

const _: () = {
    assert!(size_of::<ExecEvent>() == 104);
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
    assert!(offset_of!(ExecEvent, comm) == 72);
    assert!(offset_of!(ExecEvent, pcomm) == 88);
};

/// Why a record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is too short")]
    Short(usize),
    #[error("unknown record type {0}")]
    UnknownType(u32),
    #[error("record lengths ({declared} bytes) exceed its size ({size} bytes)")]
    Lengths { declared: u64, size: usize },
}

/// What a ring-buffer record decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Exec(Exec),
    Exit(Exit),
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

/// Decode one ring-buffer record.
pub fn decode(rec: &[u8]) -> Result<Decoded, DecodeError> {
    if rec.len() < 4 {
        return Err(DecodeError::Short(rec.len()));
    }
    match u32_at(rec, 0) {
        EVENT_EXEC => decode_exec(rec).map(Decoded::Exec),
        EVENT_EXIT => decode_exit(rec).map(Decoded::Exit),
        t => Err(DecodeError::UnknownType(t)),
    }
}

fn decode_exec(rec: &[u8]) -> Result<Exec, DecodeError> {
    const HDR: usize = size_of::<ExecEvent>();
    if rec.len() < HDR {
        return Err(DecodeError::Short(rec.len()));
    }
    let flags = u32_at(rec, offset_of!(ExecEvent, flags));
    let args_len = u32_at(rec, offset_of!(ExecEvent, args_len)) as usize;
    let filename_len = u32_at(rec, offset_of!(ExecEvent, filename_len)) as usize;
    let interp_len = u32_at(rec, offset_of!(ExecEvent, interp_len)) as usize;
    let exe_len = u32_at(rec, offset_of!(ExecEvent, exe_len)) as usize;
    let declared = HDR as u64 + args_len as u64 + filename_len as u64 + interp_len as u64 + exe_len as u64;
    if declared > rec.len() as u64 {
        return Err(DecodeError::Lengths { declared, size: rec.len() });
    }
    let comm = cstr(&rec[offset_of!(ExecEvent, comm)..offset_of!(ExecEvent, comm) + TASK_COMM_LEN]);
    let pcomm = cstr(&rec[offset_of!(ExecEvent, pcomm)..offset_of!(ExecEvent, pcomm) + TASK_COMM_LEN]);
    let fn_end = HDR + filename_len;
    let in_end = fn_end + interp_len;
    let exe_end = in_end + exe_len;
    let exe_steps = u32_at(rec, offset_of!(ExecEvent, exe_steps)) as usize;
    let exe = exe_path(&rec[in_end..exe_end], exe_steps);
    let exe_truncated = flags & EXEC_F_EXE_TRUNCATED != 0;
    // Through a descriptor, the walked path is the file that ran; the
    // kernel's "/dev/fd/N..." is kept beside it.
    let (filename, fd_path) =
        if exe.is_empty() { (rec[HDR..fn_end].to_vec(), Vec::new()) } else { (exe, rec[HDR..fn_end].to_vec()) };
    Ok(Exec {
        ts_ns: u64_at(rec, offset_of!(ExecEvent, ts_ns)),
        pid: u32_at(rec, offset_of!(ExecEvent, pid)),
        old_pid: u32_at(rec, offset_of!(ExecEvent, old_pid)),
        ppid: u32_at(rec, offset_of!(ExecEvent, ppid)),
        uid: u32_at(rec, offset_of!(ExecEvent, uid)),
        cgroup_id: u64_at(rec, offset_of!(ExecEvent, cgroup_id)),
        comm: comm.to_vec(),
        pcomm: pcomm.to_vec(),
        filename,
        interp: rec[fn_end..in_end].to_vec(),
        args: rec[exe_end..exe_end + args_len].to_vec(),
        ret: u32_at(rec, offset_of!(ExecEvent, ret)) as i32,
        args_size: u32_at(rec, offset_of!(ExecEvent, args_size)),
        flags: ExecFlags {
            args_truncated: flags & EXEC_F_ARGS_TRUNCATED != 0,
            args_read_failed: flags & (EXEC_F_ARGS_READ_FAILED | EXEC_F_NO_MM) != 0,
            filename_truncated: flags & EXEC_F_FILENAME_TRUNCATED != 0 || exe_truncated,
            filename_failed: flags & EXEC_F_FILENAME_FAILED != 0,
            fileless: flags & EXEC_F_FILELESS != 0,
            interp_truncated: flags & EXEC_F_INTERP_TRUNCATED != 0,
            exe_truncated,
        },
        fd_path,
        source: SourceKind::Bpf,
        args_from: ArgsFrom::Exec,
        depth: depth(u32_at(rec, offset_of!(ExecEvent, depth))),
    })
}

/// The executed file's path from the dentry names the kernel walked (leaf
/// first, one per [`EXE_SLOT`]-byte slot, slots `0..=steps` valid). A
/// mount's root dentry is named "/" and is skipped. When the top of the walk
/// is the root of a mount tree the path is absolute: `/usr/bin/true`, or for
/// a memfd (on the kernel's internal shm mount) `/memfd:x`, as
/// `/proc/PID/exe` shows it. A walk that did not reach the top (too deep)
/// gives the path without its leading directories and no leading `/`.
pub fn exe_path(slots: &[u8], steps: usize) -> Vec<u8> {
    let names: Vec<&[u8]> = slots.chunks(EXE_SLOT).take(steps.saturating_add(1)).map(cstr).collect();
    let Some(&top) = names.last() else { return Vec::new() };
    let mut out = Vec::new();
    for name in names.iter().rev() {
        if *name == b"/" || name.is_empty() {
            continue;
        }
        if !out.is_empty() || top == b"/" {
            out.push(b'/');
        }
        out.extend_from_slice(name);
    }
    if out.is_empty() && top == b"/" {
        out.push(b'/');
    }
    out
}

fn depth(d: u32) -> Option<u32> {
    (d != DEPTH_NONE).then_some(d)
}

fn decode_exit(rec: &[u8]) -> Result<Exit, DecodeError> {
    const LEN: usize = size_of::<ExitEvent>();
    if rec.len() < LEN {
        return Err(DecodeError::Short(rec.len()));
    }
    Ok(Exit {
        ts_ns: u64_at(rec, offset_of!(ExitEvent, ts_ns)),
        pid: u32_at(rec, offset_of!(ExitEvent, pid)),
        ppid: u32_at(rec, offset_of!(ExitEvent, ppid)),
        comm: cstr(&rec[offset_of!(ExitEvent, comm)..offset_of!(ExitEvent, comm) + TASK_COMM_LEN]).to_vec(),
        exec_ts_ns: u64_at(rec, offset_of!(ExitEvent, exec_ts_ns)),
        start_ts_ns: u64_at(rec, offset_of!(ExitEvent, start_ts_ns)),
        status: ExitStatus::from_wait(u32_at(rec, offset_of!(ExitEvent, status))),
        cpu_ns: Some(u64_at(rec, offset_of!(ExitEvent, cpu_ns))),
        depth: depth(u32_at(rec, offset_of!(ExitEvent, depth))),
        source: SourceKind::Bpf,
    })
}

/// Encode an exit record the way the BPF program lays it out (for tests).
pub fn encode_exit(h: &ExitEvent) -> Vec<u8> {
    let mut h = *h;
    h.r#type = EVENT_EXIT;
    // SAFETY: ExitEvent is #[repr(C)] plain old data with no padding (its
    // size is asserted to be the sum of its fields); viewing it as bytes
    // for its exact size is sound.
    let bytes = unsafe { std::slice::from_raw_parts((&h as *const ExitEvent).cast::<u8>(), size_of::<ExitEvent>()) };
    bytes.to_vec()
}

/// Encode an exec record the way the BPF program lays it out (for tests and
/// benchmarks that drive the pipe without the kernel).
pub fn encode_exec(h: &ExecEvent, filename: &[u8], interp: &[u8], args: &[u8]) -> Vec<u8> {
    encode_exec_with_exe(h, filename, interp, &[], args)
}

/// [`encode_exec`] with the executed file's dentry-name slots.
pub fn encode_exec_with_exe(h: &ExecEvent, filename: &[u8], interp: &[u8], exe: &[u8], args: &[u8]) -> Vec<u8> {
    let mut h = *h;
    h.r#type = EVENT_EXEC;
    h.filename_len = filename.len() as u32;
    h.interp_len = interp.len() as u32;
    h.args_len = args.len() as u32;
    h.exe_len = exe.len() as u32;
    let mut out = Vec::with_capacity(size_of::<ExecEvent>() + filename.len() + interp.len() + exe.len() + args.len());
    for v in [h.r#type, h.flags] {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    for v in [h.ts_ns, h.cgroup_id] {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    for v in [
        h.pid,
        h.old_pid,
        h.ppid,
        h.uid,
        h.args_size,
        h.args_len,
        h.filename_len,
        h.interp_len,
        h.ret as u32,
        h.depth,
        h.exe_len,
        h.exe_steps,
    ] {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    out.extend_from_slice(&h.comm);
    out.extend_from_slice(&h.pcomm);
    out.extend_from_slice(filename);
    out.extend_from_slice(interp);
    out.extend_from_slice(exe);
    out.extend_from_slice(args);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = include_str!("../bpf/execsnoop.h");

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
        assert_eq!(value("TASK_COMM_LEN"), TASK_COMM_LEN as u64);
        assert_eq!(value("EVENT_EXEC"), u64::from(EVENT_EXEC));
        assert_eq!(value("EXEC_F_ARGS_TRUNCATED"), u64::from(EXEC_F_ARGS_TRUNCATED));
        assert_eq!(value("EXEC_F_ARGS_READ_FAILED"), u64::from(EXEC_F_ARGS_READ_FAILED));
        assert_eq!(value("EXEC_F_FILENAME_TRUNCATED"), u64::from(EXEC_F_FILENAME_TRUNCATED));
        assert_eq!(value("EXEC_F_FILENAME_FAILED"), u64::from(EXEC_F_FILENAME_FAILED));
        assert_eq!(value("EXEC_F_NO_MM"), u64::from(EXEC_F_NO_MM));
        assert_eq!(value("EXEC_F_FILELESS"), u64::from(EXEC_F_FILELESS));
        assert_eq!(value("EXEC_F_INTERP_TRUNCATED"), u64::from(EXEC_F_INTERP_TRUNCATED));
        assert_eq!(value("EXEC_F_EXE_TRUNCATED"), u64::from(EXEC_F_EXE_TRUNCATED));
        assert_eq!(value("EXE_SLOT"), EXE_SLOT as u64);
        assert_eq!(value("EXE_DEPTH"), EXE_DEPTH as u64);
        assert_eq!(value("ARGS_CAP_DEFAULT"), u64::from(ARGS_CAP_DEFAULT));
        assert_eq!(value("ARGS_CAP_MAX"), u64::from(ARGS_CAP_MAX));
        assert_eq!(value("COUNTER_LOST_EXEC"), u64::from(COUNTER_LOST_EXEC));
        assert_eq!(value("COUNTER_MAX"), u64::from(COUNTER_MAX));
        assert_eq!(value("COUNTER_LOST_FAIL"), u64::from(COUNTER_LOST_FAIL));
        assert_eq!(value("COUNTER_UNTRACKED"), u64::from(COUNTER_UNTRACKED));
        assert_eq!(value("PENDING_MAX"), u64::from(PENDING_MAX));
        assert_eq!(value("EVENT_EXIT"), u64::from(EVENT_EXIT));
        assert_eq!(value("COUNTER_LOST_EXIT"), u64::from(COUNTER_LOST_EXIT));
        assert_eq!(value("COUNTER_PROC_TABLE"), u64::from(COUNTER_PROC_TABLE));
        assert_eq!(value("PROCS_MAX"), u64::from(PROCS_MAX));
        assert_eq!(define("DEPTH_NONE").split_whitespace().next(), Some("0xffffffffu"));
        assert_eq!(u64::from(ARGS_CAP_DEFAULT), u64::from(crate::config::ARGS_CAP_DEFAULT));
        assert_eq!(u64::from(ARGS_CAP_MAX), u64::from(crate::config::ARGS_CAP_MAX));
    }

    /// The fields of `struct exec_event`, in order, as the header declares them.
    #[test]
    fn exec_event_fields_match_header() {
        let body = HEADER.split("struct exec_event {").nth(1).expect("struct exec_event in header");
        let body = body.split("};").next().expect("end of struct");
        let fields: Vec<(String, String)> = body
            .lines()
            .map(|l| l.split("/*").next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| {
                let l = l.trim_end_matches(';');
                let (ty, name) = l.rsplit_once(' ').expect("type and name");
                (ty.trim().to_string(), name.trim().to_string())
            })
            .collect();
        let expect = [
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
            ("char", "comm[TASK_COMM_LEN]"),
            ("char", "pcomm[TASK_COMM_LEN]"),
        ];
        let got: Vec<(&str, &str)> = fields.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(got, expect, "execsnoop.h changed: update src/wire.rs to match");
    }

    /// The fields of a struct in the header, in order.
    fn header_fields(name: &str) -> Vec<(String, String)> {
        let body = HEADER.split(&format!("struct {name} {{")).nth(1).expect("struct in header");
        let body = body.split("};").next().expect("end of struct");
        body.lines()
            .map(|l| l.split("/*").next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (ty, name) = l.trim_end_matches(';').rsplit_once(' ').expect("type and name");
                (ty.trim().to_string(), name.trim().to_string())
            })
            .collect()
    }

    #[test]
    fn exit_event_and_proc_info_fields_match_header() {
        let got = header_fields("exit_event");
        let want = [
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
            ("char", "comm[TASK_COMM_LEN]"),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(got, want, "execsnoop.h changed: update ExitEvent in src/wire.rs");
        let got = header_fields("proc_info");
        let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let want = [
            ("__u64", "start_ns"),
            ("__u64", "exec_ns"),
            ("__u64", "cpu_base_ns"),
            ("__u32", "depth"),
            ("__u32", "_pad"),
        ];
        assert_eq!(got, want, "execsnoop.h changed: update ProcInfo in src/wire.rs");
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
        // Too deep: the top was not reached; no leading '/'.
        let s = slots(&[b"prog", b"c", b"b"]);
        assert_eq!(exe_path(&s, 2), b"b/c/prog");
        assert_eq!(exe_path(&slots(&[b"/"]), 0), b"/");
        assert_eq!(exe_path(&[], 0), b"");
        // Stale slots past `steps` are ignored.
        let s = slots(&[b"true", b"bin", b"/", b"junk"]);
        assert_eq!(exe_path(&s, 2), b"/bin/true");
    }

    #[test]
    fn exec_with_exe_slots_round_trip() {
        let mut h = sample();
        h.exe_steps = 2;
        h.flags = EXEC_F_EXE_TRUNCATED;
        let rec = encode_exec_with_exe(&h, b"/dev/fd/3", b"", &slots(&[b"true", b"bin", b"/"]), b"t\0");
        let Decoded::Exec(e) = decode(&rec).expect("decodes") else { panic!("not an exec") };
        assert_eq!(e.filename, b"/bin/true");
        assert_eq!(e.fd_path, b"/dev/fd/3");
        assert!(e.flags.exe_truncated && e.flags.filename_truncated);
        assert_eq!(e.args, b"t\0");
        assert!(decode(&rec[..rec.len() - 3]).is_err(), "lengths beyond the record");
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
        let Decoded::Exit(x) = decode(&encode_exit(&h)).unwrap() else { panic!("not an exit") };
        assert_eq!(x.status, ExitStatus::Code(3));
        assert_eq!((x.pid, x.ppid, x.exec_ts_ns, x.cpu_ns, x.depth), (7, 1, 600, Some(12), Some(2)));
        assert_eq!(x.lifetime_ns(), Some(300));
        assert_eq!(x.comm, b"sleep");
        let mut h2 = h;
        h2.depth = DEPTH_NONE;
        let Decoded::Exit(x) = decode(&encode_exit(&h2)).unwrap() else { panic!("not an exit") };
        assert_eq!(x.depth, None);
        assert!(decode(&encode_exit(&h)[..40]).is_err(), "short exit record");
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
            comm,
            pcomm: *b"bash\0\0\0\0\0\0\0\0\0\0\0\0",
            ..ExecEvent::default()
        }
    }

    #[test]
    fn round_trip() {
        let rec = encode_exec(&sample(), b"/bin/echo", b"/bin/sh", b"echo\0hi\0the");
        let Decoded::Exec(e) = decode(&rec).expect("decodes") else { panic!("not an exec") };
        assert_eq!(e.pid, 10);
        assert_eq!(e.old_pid, 11);
        assert_eq!(e.ppid, 9);
        assert_eq!(e.uid, 1000);
        assert_eq!(e.cgroup_id, 77);
        assert_eq!(e.ts_ns, 123_456_789);
        assert_eq!(e.comm, b"echo");
        assert_eq!(e.filename, b"/bin/echo");
        assert_eq!(e.interp, b"/bin/sh");
        assert_eq!(e.pcomm, b"bash");
        assert_eq!(e.ret, -2);
        assert_eq!(e.argv(), vec![&b"echo"[..], b"hi", b"the"]);
        assert!(e.flags.args_truncated);
        assert!(e.args_incomplete());
    }

    #[test]
    fn rejects_bad_lengths_without_panicking() {
        let mut rec = encode_exec(&sample(), b"/bin/echo", b"", b"echo\0");
        rec.truncate(rec.len() - 2);
        assert!(matches!(decode(&rec), Err(DecodeError::Lengths { .. })));
        assert_eq!(decode(&rec[..10]), Err(DecodeError::Short(10)));
        assert_eq!(decode(&[]), Err(DecodeError::Short(0)));
        assert_eq!(decode(&9u32.to_ne_bytes()), Err(DecodeError::UnknownType(9)));
        let mut huge = encode_exec(&sample(), b"", b"", b"");
        huge[44..48].copy_from_slice(&u32::MAX.to_ne_bytes());
        huge[48..52].copy_from_slice(&u32::MAX.to_ne_bytes());
        huge[52..56].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(decode(&huge), Err(DecodeError::Lengths { .. })));
    }

    #[test]
    fn comm_without_nul_is_kept_whole() {
        let mut h = sample();
        h.comm = *b"abcdefghijklmnop";
        let Decoded::Exec(e) = decode(&encode_exec(&h, b"", b"", b"")).expect("decodes") else { panic!("not an exec") };
        assert_eq!(e.comm, b"abcdefghijklmnop");
    }
}
