//! A source that replays ring-buffer records from memory instead of the
//! kernel: for benchmarks of the user-space pipeline (`cargo bench --bench
//! pipeline`). It owns the records, laid out by the same encoders the wire
//! tests use (exactly what `bpf/execsnoop.bpf.c` writes), and hands them
//! through the same decoding as [`super::BpfSource`] ([`super::deliver`]),
//! a batch per drain, cycling through them until it is stopped.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use super::wire::{self, Assembler, ExecEvent, ExitEvent, TASK_COMM_LEN};
use crate::event::Record;
use crate::source::Source;

/// One exec as the kernel would report it (the fields a storm varies).
#[derive(Debug, Clone, Copy, Default)]
pub struct SyntheticExec<'a> {
    pub ts_ns: u64,
    pub cpu: u32,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub cgroup_id: u64,
    /// 0, or -errno for a failed attempt (`-x`).
    pub ret: i32,
    pub comm: &'a [u8],
    pub pcomm: &'a [u8],
    /// The filename as the kernel records it.
    pub filename: &'a [u8],
    /// The argument area, NUL-separated.
    pub args: &'a [u8],
    /// The environment block (`--env`), NUL-separated; empty without.
    pub env: &'a [u8],
}

/// One process exit (`-e`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SyntheticExit<'a> {
    pub ts_ns: u64,
    pub exec_ts_ns: u64,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    /// A wait(2) status word.
    pub status: u32,
    pub cpu_ns: u64,
    pub comm: &'a [u8],
}

/// The replaying source; see the module docs.
pub struct Replay {
    records: Vec<Vec<u8>>,
    next: usize,
    batch: usize,
    assembler: Assembler,
    malformed: u64,
    last_ts_ns: u64,
    /// After [`Source::stop`], drains deliver nothing.
    stopped: bool,
    /// What [`Source::fd`] lends: /dev/null (the replay never waits).
    null: File,
}

fn comm(name: &[u8]) -> [u8; TASK_COMM_LEN] {
    let mut c = [0u8; TASK_COMM_LEN];
    let n = name.len().min(TASK_COMM_LEN);
    c[..n].copy_from_slice(&name[..n]);
    c
}

impl Replay {
    /// An empty replay that hands on `batch` ring records per drain.
    pub fn new(batch: usize) -> io::Result<Replay> {
        Ok(Replay {
            records: Vec::new(),
            next: 0,
            batch: batch.max(1),
            assembler: Assembler::new(),
            malformed: 0,
            last_ts_ns: 0,
            stopped: false,
            null: File::open("/dev/null")?,
        })
    }

    /// Append the run of records of one exec: its argument (and
    /// environment) pieces, then its exec record.
    pub fn push_exec(&mut self, e: &SyntheticExec<'_>) {
        let h = ExecEvent {
            ts_ns: e.ts_ns,
            cgroup_id: e.cgroup_id,
            pid: e.pid,
            old_pid: e.pid,
            ppid: e.ppid,
            uid: e.uid,
            args_size: e.args.len() as u32,
            ret: e.ret,
            depth: wire::DEPTH_NONE,
            cpu: e.cpu,
            env_size: e.env.len() as u32,
            comm: comm(e.comm),
            pcomm: comm(e.pcomm),
            ..ExecEvent::default()
        };
        self.records.extend(wire::encode::exec_run_env(&h, e.filename, b"", &[], e.args, e.env));
    }

    /// Append the record of one exit.
    pub fn push_exit(&mut self, x: &SyntheticExit<'_>) {
        let h = ExitEvent {
            ts_ns: x.ts_ns,
            exec_ts_ns: x.exec_ts_ns,
            start_ts_ns: x.exec_ts_ns,
            cpu_ns: x.cpu_ns,
            pid: x.pid,
            ppid: x.ppid,
            status: x.status,
            depth: wire::DEPTH_NONE,
            uid: x.uid,
            comm: comm(x.comm),
            ..ExitEvent::default()
        };
        self.records.push(wire::encode::exit(&h));
    }

    /// Ring-buffer records held (pieces, exec and exit records).
    pub fn records(&self) -> usize {
        self.records.len()
    }

    /// The ring-buffer space they would take: each record's data after an
    /// 8-byte header, rounded up to 8 bytes (`BPF_RINGBUF_HDR_SZ`).
    pub fn ring_bytes(&self) -> usize {
        self.records.iter().map(|r| (8 + r.len()).next_multiple_of(8)).sum()
    }

    /// Records that did not decode (none, unless the encoders are wrong).
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
}

impl Source for Replay {
    fn fd(&self) -> BorrowedFd<'_> {
        self.null.as_fd()
    }

    fn drain(&mut self, sink: &mut dyn FnMut(&mut Record) -> io::Result<()>) -> io::Result<usize> {
        let mut n = 0;
        if self.records.is_empty() || self.stopped {
            return Ok(0);
        }
        for _ in 0..self.batch {
            let item = &self.records[self.next];
            self.next = (self.next + 1) % self.records.len();
            let decoded = self.assembler.push(item);
            n += super::deliver(decoded, &mut self.malformed, &mut self.last_ts_ns, sink)?;
        }
        Ok(n)
    }

    fn stop(&mut self) {
        self.stopped = true;
    }
}
