//! The kernel ABI the proc connector speaks: `<linux/netlink.h>`,
//! `<linux/connector.h>`, `<linux/cn_proc.h>`: the struct layouts (checked by
//! the unit tests), decoding datagrams into [`Event`]s, and the control
//! messages that start and stop listening.

/// The connector index (and multicast group) of process events.
pub(super) const CN_IDX_PROC: u32 = 1;
/// The connector value of process events.
pub(super) const CN_VAL_PROC: u32 = 1;
/// `enum proc_cn_mcast_op`.
pub(super) const PROC_CN_MCAST_LISTEN: u32 = 1;
pub(super) const PROC_CN_MCAST_IGNORE: u32 = 2;
/// `enum what` of `struct proc_event` (the ones read here).
pub(super) const PROC_EVENT_NONE: u32 = 0;
pub(super) const PROC_EVENT_FORK: u32 = 0x1;
pub(super) const PROC_EVENT_EXEC: u32 = 0x2;
pub(super) const PROC_EVENT_UID: u32 = 0x4;
pub(super) const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// Netlink message types that carry no connector message.
pub(super) const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
/// The type the connector uses for its messages.
pub(super) const NLMSG_DONE: u16 = 3;
/// Netlink messages in one datagram start at multiples of this.
pub(super) const NLMSG_ALIGNTO: usize = 4;

/// Kernel structs made only of integers, without padding: any bytes are a
/// valid value, and every byte of a value is initialised.
///
/// # Safety
/// Implement only for `#[repr(C)]` structs of integer fields (or of such
/// structs) with no padding; the unit tests check each size.
pub(super) unsafe trait Pod: Copy {}

/// `struct nlmsghdr`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NlMsgHdr {
    pub(super) len: u32,
    pub(super) kind: u16,
    pub(super) flags: u16,
    pub(super) seq: u32,
    pub(super) pid: u32,
}

/// `struct cb_id`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CbId {
    pub(super) idx: u32,
    pub(super) val: u32,
}

/// `struct cn_msg`, without the trailing `data[]` (`len` bytes of it follow).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CnMsg {
    pub(super) id: CbId,
    pub(super) seq: u32,
    pub(super) ack: u32,
    pub(super) len: u16,
    pub(super) flags: u16,
}

/// The fixed head of `struct proc_event`; the `event_data` union follows at
/// [`EVENT_DATA`]. `timestamp_ns` is `CLOCK_MONOTONIC` (ktime_get_ns()).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProcEventHead {
    pub(super) what: u32,
    pub(super) cpu: u32,
    pub(super) timestamp_ns: u64,
}

/// `event_data.ack`: the answer to a control message (a positive errno, 0 = done).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AckEvent {
    err: u32,
}

/// `event_data.fork` (`struct fork_proc_event`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ForkEvent {
    parent_pid: i32,
    parent_tgid: i32,
    child_pid: i32,
    pub(super) child_tgid: i32,
}

/// `event_data.exec` (`struct exec_proc_event`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ExecEvent {
    process_pid: i32,
    process_tgid: i32,
}

/// `event_data.id` (`struct id_proc_event`) for a uid change: real and
/// effective uid.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdEvent {
    process_pid: i32,
    process_tgid: i32,
    ruid: u32,
    euid: u32,
}

/// `event_data.exit` (`struct exit_proc_event`); the parent fields are zero
/// on kernels older than 4.18.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ExitEvent {
    process_pid: i32,
    process_tgid: i32,
    pub(super) exit_code: u32,
    exit_signal: u32,
    parent_pid: i32,
    pub(super) parent_tgid: i32,
}

/// `struct proc_input` (Linux 6.6+): a listen request with the kinds of
/// events wanted, filtered in the kernel. Older kernels take only the 4-byte
/// operation.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProcInput {
    pub(super) mcast_op: u32,
    pub(super) event_type: u32,
}

// SAFETY: each is #[repr(C)] with integer fields only and no padding (sizes
// checked in the unit tests against the sum of the fields).
unsafe impl Pod for NlMsgHdr {}
// SAFETY: as above.
unsafe impl Pod for CbId {}
// SAFETY: as above.
unsafe impl Pod for CnMsg {}
// SAFETY: as above.
unsafe impl Pod for ProcEventHead {}
// SAFETY: as above.
unsafe impl Pod for AckEvent {}
// SAFETY: as above.
unsafe impl Pod for ForkEvent {}
// SAFETY: as above.
unsafe impl Pod for ExecEvent {}
// SAFETY: as above.
unsafe impl Pod for ExitEvent {}
// SAFETY: as above.
unsafe impl Pod for IdEvent {}
// SAFETY: as above.
unsafe impl Pod for ProcInput {}

pub(super) const NLMSG_HDRLEN: usize = size_of::<NlMsgHdr>();
pub(super) const CN_MSG_LEN: usize = size_of::<CnMsg>();
/// Offset of `event_data` in `struct proc_event`.
pub(super) const EVENT_DATA: usize = size_of::<ProcEventHead>();

/// A `T` read from `b` at `off`, if `b` is long enough.
pub(super) fn read_pod<T: Pod>(b: &[u8], off: usize) -> Option<T> {
    let bytes = b.get(off..off.checked_add(size_of::<T>())?)?;
    // SAFETY: `bytes` holds exactly size_of::<T>() initialised bytes; T is
    // Pod, so any bytes make a valid T; read_unaligned needs no alignment.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Append the bytes of `v`.
pub(super) fn push_pod<T: Pod>(out: &mut Vec<u8>, v: &T) {
    // SAFETY: T is Pod: no padding, so all size_of::<T>() bytes of `v` are
    // initialised; the slice lives no longer than the borrow of `v`.
    let bytes = unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) };
    out.extend_from_slice(bytes);
}

/// One message from the process connector, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// The answer to a control message: its `ack` plus one, and a positive
    /// errno (0 when it was done). The kernel numbers `seq` itself.
    Ack { ack: u32, err: u32 },
    /// A new task. `child_pid != child_tgid` for a new thread.
    Fork { ts: u64, parent_tgid: u32, child_pid: u32, child_tgid: u32 },
    /// A successful exec by thread `pid` of process `tgid`.
    Exec { ts: u64, pid: u32, tgid: u32 },
    /// A task ended; `code` is its wait(2) status word; `parent_tgid` is 0
    /// when the kernel does not say.
    Exit { ts: u64, pid: u32, tgid: u32, code: u32, parent_tgid: u32 },
    /// Thread `pid` of process `tgid` changed its credentials: `ruid` is
    /// its real uid now.
    Uid { tgid: u32, ruid: u32 },
    /// Anything else (gid, sid, comm, ptrace, coredump events; other
    /// connectors' messages).
    Other,
}

/// Decode every netlink message in one datagram into `out`. Returns how many
/// messages could not be decoded; a broken netlink header ends the datagram
/// (nothing after it can be found).
pub(super) fn parse_datagram(buf: &[u8], out: &mut Vec<Event>) -> u64 {
    let mut malformed = 0;
    let mut off = 0;
    while off < buf.len() {
        let Some(h) = read_pod::<NlMsgHdr>(buf, off) else { return malformed + 1 };
        let len = h.len as usize;
        if len < NLMSG_HDRLEN || len > buf.len() - off {
            return malformed + 1;
        }
        let body = &buf[off + NLMSG_HDRLEN..off + len];
        match h.kind {
            NLMSG_NOOP | NLMSG_ERROR => {}
            _ => match parse_connector(body) {
                Some(ev) => out.push(ev),
                None => malformed += 1,
            },
        }
        off += len.next_multiple_of(NLMSG_ALIGNTO);
    }
    malformed
}

/// Decode one connector message (the payload of a netlink message).
fn parse_connector(body: &[u8]) -> Option<Event> {
    let cn = read_pod::<CnMsg>(body, 0)?;
    let data = body.get(CN_MSG_LEN..CN_MSG_LEN + usize::from(cn.len))?;
    if cn.id != (CbId { idx: CN_IDX_PROC, val: CN_VAL_PROC }) {
        return Some(Event::Other);
    }
    let head = read_pod::<ProcEventHead>(data, 0)?;
    let ts = head.timestamp_ns;
    Some(match head.what {
        PROC_EVENT_NONE => {
            let a = read_pod::<AckEvent>(data, EVENT_DATA)?;
            Event::Ack { ack: cn.ack, err: a.err }
        }
        PROC_EVENT_FORK => {
            let f = read_pod::<ForkEvent>(data, EVENT_DATA)?;
            Event::Fork {
                ts,
                parent_tgid: f.parent_tgid as u32,
                child_pid: f.child_pid as u32,
                child_tgid: f.child_tgid as u32,
            }
        }
        PROC_EVENT_EXEC => {
            let e = read_pod::<ExecEvent>(data, EVENT_DATA)?;
            Event::Exec { ts, pid: e.process_pid as u32, tgid: e.process_tgid as u32 }
        }
        PROC_EVENT_UID => {
            let i = read_pod::<IdEvent>(data, EVENT_DATA)?;
            Event::Uid { tgid: i.process_tgid as u32, ruid: i.ruid }
        }
        PROC_EVENT_EXIT => {
            let x = read_pod::<ExitEvent>(data, EVENT_DATA)?;
            Event::Exit {
                ts,
                pid: x.process_pid as u32,
                tgid: x.process_tgid as u32,
                code: x.exit_code,
                parent_tgid: x.parent_tgid as u32,
            }
        }
        _ => Event::Other,
    })
}

/// How a control message is phrased: with a kernel-side filter on the kinds
/// of events (Linux 6.6+; older kernels ignore it), or as the plain operation
/// every kernel understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    Filtered(u32),
    Plain,
}

/// A control message (`PROC_CN_MCAST_LISTEN` / `_IGNORE`) to the connector.
pub(super) fn control_message(seq: u32, ack: u32, op: u32, form: Form) -> Vec<u8> {
    let payload = match form {
        Form::Filtered(_) => size_of::<ProcInput>(),
        Form::Plain => size_of::<u32>(),
    };
    let total = NLMSG_HDRLEN + CN_MSG_LEN + payload;
    let mut m = Vec::with_capacity(total);
    push_pod(&mut m, &NlMsgHdr { len: total as u32, kind: NLMSG_DONE, flags: 0, seq, pid: 0 });
    push_pod(
        &mut m,
        &CnMsg { id: CbId { idx: CN_IDX_PROC, val: CN_VAL_PROC }, seq, ack, len: payload as u16, flags: 0 },
    );
    match form {
        Form::Filtered(mask) => push_pod(&mut m, &ProcInput { mcast_op: op, event_type: mask }),
        Form::Plain => m.extend_from_slice(&op.to_ne_bytes()),
    }
    m
}
