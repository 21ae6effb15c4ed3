//! The netlink source: the kernel's process connector (`NETLINK_CONNECTOR`,
//! multicast group `CN_IDX_PROC`), which sends a small message for every
//! fork, exec and exit on the machine. This module owns the socket, the few
//! kernel struct layouts it speaks (`nlmsghdr`, `cn_msg`, `proc_event`), and a
//! user-space process table that stands in for what the connector does not
//! say: which processes descend from `-p PID`, their depth, and the name and
//! start of a process when it exits.
//!
//! An exec message carries only the pid and thread id, so the record is built
//! at once from `/proc/PID` ([`proc::exec_from_proc`]): `args_from` is
//! `procfs`, and a process already gone has `args_read_failed` and empty
//! arguments (its name is kept when `/proc/PID/stat` of the zombie could still
//! be read). `-P` and `-u` are checked on that `/proc` data, in user space.
//!
//! Listening takes a control message answered by the kernel; on Linux 6.6+
//! a second one narrows what the kernel sends this socket to the kinds of
//! events needed (execs, plus forks and exits when processes are followed),
//! which older kernels ignore. Before 6.6 listening needs CAP_NET_ADMIN.
//!
//! Limitations, all inherent to the connector:
//! * no failed execs (`-x` is refused), no cgroup (`-c` is refused), no CPU
//!   times in exit records;
//! * exits are reported per thread-group leader (the connector reports every
//!   thread's exit and does not say which is the last): a leader that ends
//!   before its other threads (`pthread_exit` in `main`) is reported then, and
//!   an exec by a non-leader thread makes the kernel report the old leader's
//!   exit (status 0) just before the exec, which shows as such;
//! * exits are reported for the processes this source followed: forked or
//!   exec'd while tracing, or found below `-p PID` at the start;
//! * pids are those of the initial pid namespace, and the kernel only accepts
//!   listeners from the initial user and pid namespaces;
//! * event times are `CLOCK_MONOTONIC`, converted to `CLOCK_BOOTTIME` with the
//!   difference measured at start: a suspend while tracing shifts them;
//! * when the socket overflows the kernel drops messages without saying how
//!   many: each overflow is one [`LostKind::SocketOverflow`] record.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use super::{Applies, Need, Source, SourceError, SourceInfo, SourceRequest, proc};
use crate::clock::boot_minus_mono as boot_offset;
use crate::event::{ArgsFrom, LostKind, Record};

mod abi;
mod socket;
mod tracker;

use abi::*;
use socket::*;
use tracker::*;

/// The kernel's process connector: every exec, arguments from /proc.
pub(crate) static INFO: SourceInfo = SourceInfo {
    name: "netlink",
    args: ArgsFrom::Procfs,
    exit_status: true,
    exit_cpu: false,
    applies: Applies { ppid: false, uid: false, cgroup: false, tree: true },
    refuses: &[
        (Need::FailedExecs, "the proc connector reports only successful execs"),
        (Need::Cgroup, "the proc connector carries no cgroup"),
        (
            Need::Context,
            "only the bpf source reads the new process (its directory, environment, credentials, namespaces) at the exec; use --source bpf",
        ),
    ],
    poll: Some(Duration::from_millis(50)),
    open: |request| Ok(Box::new(NetlinkSource::open(request)?)),
};

/// The proc connector as an event source.
pub struct NetlinkSource {
    sock: Socket,
    tracker: Tracker,
    /// The kernel counts us as a listener: tell it when we go.
    listening: bool,
    stopped: bool,
    last_sweep: Instant,
}

impl NetlinkSource {
    /// Check the options, join the connector's group, ask the kernel to
    /// send process events and wait for its answer. When this returns, every
    /// later exec is reported.
    pub fn open(request: &SourceRequest) -> Result<NetlinkSource, SourceError> {
        let sock = Socket::open(request.ring_bytes.max(SOCKET_BUFFER_MIN))?;
        let tracker = Tracker::new(&request.kernel, boot_offset());
        let mut src = NetlinkSource { sock, tracker, listening: false, stopped: false, last_sweep: Instant::now() };

        let mask = if src.tracker.track {
            PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_EXIT | PROC_EVENT_UID
        } else {
            PROC_EVENT_EXEC
        };
        // The plain request first: every kernel answers it. A kernel with
        // event filters (6.6+) does not answer a filtered one (its answer is
        // an event of no kind, filtered out), so that one follows, unanswered:
        // it only narrows what an already listening socket receives, and an
        // older kernel ignores it.
        let mut early = Early::default();
        let answer = src.request(PROC_CN_MCAST_LISTEN, Form::Plain, ACK_WAIT, &mut early)?;
        match answer {
            Some(0) => src.listening = true,
            Some(err) if err == libc::EPERM as u32 => return Err(SourceError::Permission(PERMISSION.into())),
            Some(err) => {
                let e = io::Error::from_raw_os_error(err as i32);
                return Err(SourceError::Other(format!("the proc connector refused to send events: {e}")));
            }
            // The answer may have been dropped in an overflow: events flow.
            None if early.overflows > 0 => src.listening = true,
            None => {
                return Err(SourceError::Unsupported(
                    "the kernel did not answer the proc connector's listen request (it needs CONFIG_PROC_EVENTS and \
                     answers only the initial user and pid namespaces)"
                        .into(),
                ));
            }
        }

        let _ = src.sock.send(&control_message(0, next_ack(), PROC_CN_MCAST_LISTEN, Form::Filtered(mask)));

        // Listening before looking at /proc: a process forked after the scan
        // has a fork message; one forked before it is in the scan.
        if let Some(root) = request.kernel.pid {
            let tree = proc::descendants(root, crate::lineage::TABLE_MAX)
                .ok_or_else(|| SourceError::Other(format!("-p {root}: no such process")))?
                .into_iter()
                .map(|m| {
                    let uid = proc::read_uid(m.pid).ok();
                    let p = Proc { parent: m.ppid, depth: m.depth, comm: m.comm, fork_ts: 0, exec_ts: 0, uid };
                    (m.pid, p)
                })
                .collect();
            src.tracker.seed(tree);
        }
        for _ in 0..early.overflows {
            src.tracker.push_lost(LostKind::SocketOverflow, 1);
        }
        src.tracker.malformed += early.malformed;
        for ev in early.events {
            src.tracker.handle(ev);
        }
        Ok(src)
    }

    /// Send a listen or ignore request and wait up to `timeout` for the
    /// kernel's answer: `Some(errno)` (0 = done), or `None` if none came.
    /// Everything else read meanwhile is kept in `early`.
    fn request(
        &mut self,
        op: u32,
        form: Form,
        timeout: Duration,
        early: &mut Early,
    ) -> Result<Option<u32>, SourceError> {
        let ack = next_ack();
        self.sock.send(&control_message(0, ack, op, form)).map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => SourceError::Permission(PERMISSION.into()),
            _ => SourceError::Other(format!("cannot send to the proc connector: {e}")),
        })?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.sock.recv().map_err(|e| SourceError::Other(e.to_string()))? {
                Recv::Data(n) => {
                    let mut events = Vec::new();
                    early.malformed += parse_datagram(&self.sock.buf[..n], &mut events);
                    for ev in events {
                        match ev {
                            Event::Ack { ack: a, err } if a == ack.wrapping_add(1) => {
                                return Ok(Some(err));
                            }
                            Event::Ack { .. } | Event::Other => {}
                            other => early.events.push(other),
                        }
                    }
                }
                Recv::Overflow => early.overflows += 1,
                Recv::Truncated => early.malformed += 1,
                Recv::Foreign => {}
                Recv::Empty => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    self.sock.wait(left);
                }
            }
        }
    }

    /// Read and handle up to `budget` datagrams, handing records on as they
    /// come. Returns the records handed on and whether the socket was
    /// emptied.
    fn pump(&mut self, sink: &mut dyn FnMut(&mut Record) -> io::Result<()>, budget: usize) -> io::Result<(usize, bool)> {
        let mut n = 0;
        for _ in 0..budget {
            match self.sock.recv()? {
                Recv::Data(len) => self.tracker.handle_datagram(&self.sock.buf[..len]),
                Recv::Overflow => self.tracker.push_lost(LostKind::SocketOverflow, 1),
                Recv::Truncated => self.tracker.malformed += 1,
                Recv::Foreign => {}
                Recv::Empty => return Ok((n + self.tracker.deliver(sink)?, true)),
            }
            n += self.tracker.deliver(sink)?;
        }
        Ok((n, false))
    }

    /// Once the table is nearly full, forget processes that ended without an
    /// exit message (lost in an overflow). A process is reaped only after
    /// its exit message was queued, so the socket is emptied once more
    /// before anything is forgotten: no exit still queued is missed.
    fn sweep(&mut self, sink: &mut dyn FnMut(&mut Record) -> io::Result<()>) -> io::Result<usize> {
        if !self.tracker.nearly_full() || self.last_sweep.elapsed() < SWEEP_EVERY {
            return Ok(0);
        }
        self.last_sweep = Instant::now();
        let gone = self.tracker.gone();
        if gone.is_empty() {
            return Ok(0);
        }
        let (n, emptied) = self.pump(sink, DRAIN_BUDGET)?;
        if emptied {
            self.tracker.forget(&gone);
        }
        Ok(n)
    }
}

/// What was read while waiting for the kernel's answer at start.
#[derive(Default)]
struct Early {
    events: Vec<Event>,
    overflows: u64,
    malformed: u64,
}

impl Source for NetlinkSource {
    fn fd(&self) -> BorrowedFd<'_> {
        self.sock.fd.as_fd()
    }

    fn drain(&mut self, sink: &mut dyn FnMut(&mut Record) -> io::Result<()>) -> io::Result<usize> {
        let mut n = self.tracker.deliver(sink)?;
        if !self.stopped {
            let (got, emptied) = self.pump(sink, DRAIN_BUDGET)?;
            n += got;
            if emptied {
                n += self.sweep(sink)?;
            }
        }
        self.tracker.report_losses();
        n += self.tracker.deliver(sink)?;
        Ok(n)
    }

    fn notice(&self) -> Option<String> {
        Some(
            "netlink source: arguments read from /proc after each exec (racy: a process already gone shows as \
             [name], or [] once its name is gone too); no failed execs, no CPU times"
                .into(),
        )
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        let mut early = Early::default();
        if self.listening {
            // An error here only means the kernel keeps counting us until the
            // socket is closed; leaving the group stops delivery regardless.
            let _ = self.request(PROC_CN_MCAST_IGNORE, Form::Plain, Duration::ZERO, &mut early);
            self.listening = false;
        }
        self.sock.leave_group();
        for _ in 0..early.overflows {
            self.tracker.push_lost(LostKind::SocketOverflow, 1);
        }
        self.tracker.malformed += early.malformed;
        for ev in early.events {
            self.tracker.handle(ev);
        }
        // Take in what was queued before; nothing new arrives.
        loop {
            match self.sock.recv() {
                Ok(Recv::Data(len)) => self.tracker.handle_datagram(&self.sock.buf[..len]),
                Ok(Recv::Overflow) => self.tracker.push_lost(LostKind::SocketOverflow, 1),
                Ok(Recv::Truncated) => self.tracker.malformed += 1,
                Ok(Recv::Foreign) => {}
                Ok(Recv::Empty) | Err(_) => break,
            }
        }
        self.stopped = true;
    }
}

impl Drop for NetlinkSource {
    fn drop(&mut self) {
        if self.listening {
            // Tell the kernel one listener fewer (it counts them, and skips
            // building events when there are none).
            let _ = self.sock.send(&control_message(0, next_ack(), PROC_CN_MCAST_IGNORE, Form::Plain));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;
    use crate::clock::boot_ns as boot_now;

    // -- layouts ---------------------------------------------------------

    /// `struct proc_event` in full, to check the offsets against C's layout
    /// rules (the kernel's struct is 40 bytes; `event_data` at 16).
    #[repr(C)]
    #[allow(dead_code, reason = "layout mirror, only measured")]
    union EventData {
        ack: AckEvent,
        fork: ForkEvent,
        exec: ExecEvent,
        exit: ExitEvent,
        comm: ([i32; 2], [u8; 16]),
    }

    #[repr(C)]
    #[allow(dead_code, reason = "layout mirror, only measured")]
    struct ProcEvent {
        what: u32,
        cpu: u32,
        timestamp_ns: u64,
        event_data: EventData,
    }

    #[test]
    fn layouts_match_the_kernel() {
        assert_eq!(size_of::<NlMsgHdr>(), 16);
        assert_eq!(offset_of!(NlMsgHdr, kind), 4);
        assert_eq!(offset_of!(NlMsgHdr, seq), 8);
        assert_eq!(offset_of!(NlMsgHdr, pid), 12);
        assert_eq!(size_of::<CnMsg>(), 20);
        assert_eq!(offset_of!(CnMsg, seq), 8);
        assert_eq!(offset_of!(CnMsg, ack), 12);
        assert_eq!(offset_of!(CnMsg, len), 16);
        assert_eq!(offset_of!(CnMsg, flags), 18);
        assert_eq!(size_of::<ProcEvent>(), 40);
        assert_eq!(offset_of!(ProcEvent, timestamp_ns), 8);
        assert_eq!(offset_of!(ProcEvent, event_data), 16);
        assert_eq!(EVENT_DATA, 16);
        assert_eq!(size_of::<ProcEventHead>(), 16);
        assert_eq!(size_of::<ForkEvent>(), 16);
        assert_eq!(offset_of!(ForkEvent, child_tgid), 12);
        assert_eq!(size_of::<ExecEvent>(), 8);
        assert_eq!(size_of::<ExitEvent>(), 24);
        assert_eq!(offset_of!(ExitEvent, exit_code), 8);
        assert_eq!(offset_of!(ExitEvent, parent_tgid), 20);
        assert_eq!(size_of::<ProcInput>(), 8);
        // No padding anywhere (Pod): each size is the sum of its fields.
        assert_eq!(size_of::<NlMsgHdr>(), 4 + 2 + 2 + 4 + 4);
        assert_eq!(size_of::<CnMsg>(), 8 + 4 + 4 + 2 + 2);
        assert_eq!(size_of::<ProcEventHead>(), 4 + 4 + 8);
        assert_eq!(size_of::<AckEvent>(), 4);
    }

    // -- hand-built messages ---------------------------------------------

    /// One netlink message carrying a proc_event: `what`, time, and the
    /// union's words (as the kernel sends it: cn len = 40, padded union).
    fn message(what: u32, ts: u64, words: &[u32]) -> Vec<u8> {
        let mut data = Vec::new();
        push_pod(&mut data, &ProcEventHead { what, cpu: 1, timestamp_ns: ts });
        let mut union = [0u8; 24];
        for (i, w) in words.iter().enumerate() {
            union[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
        }
        data.extend_from_slice(&union);
        connector_message(CbId { idx: CN_IDX_PROC, val: CN_VAL_PROC }, 7, 0, &data)
    }

    fn connector_message(id: CbId, seq: u32, ack: u32, data: &[u8]) -> Vec<u8> {
        let total = NLMSG_HDRLEN + CN_MSG_LEN + data.len();
        let mut m = Vec::new();
        push_pod(&mut m, &NlMsgHdr { len: total as u32, kind: NLMSG_DONE, flags: 0, seq, pid: 0 });
        push_pod(&mut m, &CnMsg { id, seq, ack, len: data.len() as u16, flags: 0 });
        m.extend_from_slice(data);
        m
    }

    fn parse(buf: &[u8]) -> (Vec<Event>, u64) {
        let mut v = Vec::new();
        let bad = parse_datagram(buf, &mut v);
        (v, bad)
    }

    #[test]
    fn parses_fork_exec_exit() {
        let (v, bad) = parse(&message(PROC_EVENT_FORK, 100, &[10, 10, 11, 11]));
        assert_eq!((v, bad), (vec![Event::Fork { ts: 100, parent_tgid: 10, child_pid: 11, child_tgid: 11 }], 0));
        let (v, bad) = parse(&message(PROC_EVENT_EXEC, 200, &[12, 11]));
        assert_eq!((v, bad), (vec![Event::Exec { ts: 200, pid: 12, tgid: 11 }], 0));
        let (v, bad) = parse(&message(PROC_EVENT_EXIT, 300, &[11, 11, 3 << 8, 17, 10, 10]));
        assert_eq!((v, bad), (vec![Event::Exit { ts: 300, pid: 11, tgid: 11, code: 3 << 8, parent_tgid: 10 }], 0));
        // A uid change (real uid 65534) is; a comm change is not for us.
        assert_eq!(parse(&message(0x4, 1, &[7, 5, 65534, 0])), (vec![Event::Uid { tgid: 5, ruid: 65534 }], 0));
        assert_eq!(parse(&message(0x200, 1, &[1, 1])), (vec![Event::Other], 0));
    }

    #[test]
    fn parses_ack() {
        let mut data = Vec::new();
        push_pod(&mut data, &ProcEventHead { what: PROC_EVENT_NONE, cpu: 0, timestamp_ns: 0 });
        data.extend_from_slice(&[0u8; 24]);
        data[EVENT_DATA..EVENT_DATA + 4].copy_from_slice(&1u32.to_ne_bytes());
        let m = connector_message(CbId { idx: CN_IDX_PROC, val: CN_VAL_PROC }, 4242, 9, &data);
        assert_eq!(parse(&m), (vec![Event::Ack { ack: 9, err: 1 }], 0));
        // Another connector's message is not ours, and not malformed.
        let other = connector_message(CbId { idx: 5, val: 1 }, 1, 0, &data);
        assert_eq!(parse(&other), (vec![Event::Other], 0));
    }

    #[test]
    fn several_messages_in_one_datagram() {
        let mut buf = message(PROC_EVENT_FORK, 1, &[10, 10, 11, 11]);
        // 76 bytes: already aligned; add an unaligned NOOP to test padding.
        assert_eq!(buf.len() % NLMSG_ALIGNTO, 0);
        let mut noop = Vec::new();
        push_pod(&mut noop, &NlMsgHdr { len: 17, kind: NLMSG_NOOP, flags: 0, seq: 0, pid: 0 });
        noop.extend_from_slice(&[0xaa, 0, 0, 0]); // one byte of payload, three of padding
        buf.extend_from_slice(&noop);
        buf.extend_from_slice(&message(PROC_EVENT_EXEC, 2, &[11, 11]));
        buf.extend_from_slice(&message(PROC_EVENT_EXIT, 3, &[11, 11, 0, 17, 10, 10]));
        let (v, bad) = parse(&buf);
        assert_eq!(bad, 0);
        assert_eq!(
            v,
            vec![
                Event::Fork { ts: 1, parent_tgid: 10, child_pid: 11, child_tgid: 11 },
                Event::Exec { ts: 2, pid: 11, tgid: 11 },
                Event::Exit { ts: 3, pid: 11, tgid: 11, code: 0, parent_tgid: 10 },
            ]
        );
    }

    #[test]
    fn truncated_input_is_rejected_without_panic() {
        let whole = message(PROC_EVENT_EXIT, 3, &[11, 11, 0, 17, 10, 10]);
        for cut in 0..whole.len() {
            let (v, bad) = parse(&whole[..cut]);
            assert!(v.is_empty(), "cut at {cut}: {v:?}");
            assert_eq!(bad, u64::from(cut > 0), "cut at {cut}");
        }
        // A good message followed by a cut one: the first is kept.
        let mut buf = message(PROC_EVENT_EXEC, 2, &[11, 11]);
        buf.extend_from_slice(&whole[..30]);
        let (v, bad) = parse(&buf);
        assert_eq!((v.len(), bad), (1, 1));
        // cn_msg.len claiming more than the netlink message holds.
        let mut lying = message(PROC_EVENT_EXEC, 2, &[11, 11]);
        lying[NLMSG_HDRLEN + 16..NLMSG_HDRLEN + 18].copy_from_slice(&200u16.to_ne_bytes());
        assert_eq!(parse(&lying), (vec![], 1));
        // An event too short for its kind.
        let mut short = Vec::new();
        push_pod(&mut short, &ProcEventHead { what: PROC_EVENT_FORK, cpu: 0, timestamp_ns: 0 });
        short.extend_from_slice(&[0u8; 8]);
        let m = connector_message(CbId { idx: CN_IDX_PROC, val: CN_VAL_PROC }, 1, 0, &short);
        assert_eq!(parse(&m), (vec![], 1));
        // nlmsg_len below the header size cannot advance: stop, do not loop.
        let mut zero = Vec::new();
        push_pod(&mut zero, &NlMsgHdr { len: 0, kind: NLMSG_DONE, flags: 0, seq: 0, pid: 0 });
        assert_eq!(parse(&zero), (vec![], 1));
    }

    #[test]
    fn control_messages() {
        let m = control_message(77, 4, PROC_CN_MCAST_LISTEN, Form::Plain);
        assert_eq!(m.len(), 16 + 20 + 4);
        let h = read_pod::<NlMsgHdr>(&m, 0).unwrap();
        assert_eq!((h.len, h.kind, h.seq), (40, NLMSG_DONE, 77));
        let cn = read_pod::<CnMsg>(&m, NLMSG_HDRLEN).unwrap();
        assert_eq!((cn.id, cn.seq, cn.ack, cn.len), (CbId { idx: 1, val: 1 }, 77, 4, 4));
        assert_eq!(m[36..40], PROC_CN_MCAST_LISTEN.to_ne_bytes());
        let m = control_message(77, 4, PROC_CN_MCAST_IGNORE, Form::Filtered(PROC_EVENT_EXEC));
        assert_eq!(m.len(), 16 + 20 + 8);
        assert_eq!(
            read_pod::<ProcInput>(&m, 36),
            Some(ProcInput { mcast_op: PROC_CN_MCAST_IGNORE, event_type: PROC_EVENT_EXEC })
        );
    }

    #[test]
    fn boot_offset_is_sane() {
        let off = boot_offset();
        let mono = crate::clock::ns(libc::CLOCK_MONOTONIC);
        let boot = boot_now();
        assert!((mono + off).abs_diff(boot) < 50_000_000, "mono {mono} + {off} vs boot {boot}");
    }
}
