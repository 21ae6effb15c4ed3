//! `--syslog`: one RFC 5424 message per record to the local syslog socket
//! (`/dev/log`, or `--syslog-socket PATH`), a datagram each.
//!
//! The message is the record's JSON object exactly as `--json` writes it
//! (without the newline; see [`super::json`] for the fields), so a syslog
//! pipeline can parse it as JSON. The header:
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [execsnoop@32473 pid="4242" ppid="4100" uid="1000"] {"type":"exec",...}
//! ```
//!
//! * `PRI`: the facility (`--syslog-facility`, default `daemon`) times 8 plus
//!   the severity: `info` (6) for every record but `lost`, which is
//!   `warning` (4).
//! * `TIMESTAMP`: the record's time (RFC 3339, UTC, microseconds: RFC 5424
//!   allows no more), not the time it was sent.
//! * `APP-NAME`: `--syslog-app-name` (default `execsnoop`); `PROCID`: the
//!   tracer's pid; `MSGID`: the record type (`exec`, `exit`, `lost`,
//!   `summary`, `end`).
//! * Structured data `execsnoop@32473` (32473 is the enterprise number RFC
//!   5612 reserves for examples; there is no registered one): `pid`, `ppid`
//!   and `uid` of an exec, `pid` and `ppid` of an exit; none for the others
//!   (`-`).
//!
//! A record longer than `--syslog-max-bytes` (default 8192, rsyslog's
//! default `maxMessageSize`) is split: several messages with the same
//! header, whose structured data adds `part="K" parts="N"`, each carrying
//! the next piece of the JSON (cut between UTF-8 characters); concatenated in
//! order they are the record. Nothing is cut silently.
//!
//! Messages are sent in batches, [`BATCH`] datagrams per `sendmmsg(2)`
//! call: when that many are queued, and at each flush (the run loop flushes
//! after every batch of records on a terminal, and at least every 100 ms
//! while output is pending), so a message waits at most that long.
//!
//! Sending never blocks the tracing loop: the socket is non-blocking, and a
//! message it does not take at once (a daemon that stopped reading, or is
//! slow) waits in a bounded queue ([`QUEUE_MAX`] messages), sent in order at
//! the next records and at each flush (at least every 100 ms), each time for
//! at most [`FLUSH_BUDGET`] of waiting. When the queue is full the newest
//! message is dropped, as rsyslog's own queues discard: what is queued stays
//! in order, and nothing already accepted is reordered. What could not be
//! sent is counted in records (a record of which any part was dropped counts
//! once): `execsnoop_lost_total{kind="syslog"}` with `--metrics`, and one
//! line on stderr when tracing ends. At the end the queue gets at most
//! [`FINISH_BUDGET`] more, so a signal ends tracing within a second whatever
//! the daemon does. A socket that went away (the daemon restarted) is
//! connected again, at most once per record.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::json::JsonSink;
use crate::format::{push_rfc3339, push_u64};
use super::{Clock, Sink};
use crate::summary::Summary;
use crate::event::{Exec, Exit, Lost, Totals};
use crate::loss::OutputLoss;

/// Messages waiting for a socket that does not take them at once.
pub const QUEUE_MAX: usize = 1024;
/// Datagrams per `sendmmsg` call, and the queue length that sends at once.
pub const BATCH: usize = 64;
/// Message buffers kept for reuse, at most (a batch's worth, and a little).
const SPARE_MAX: usize = 2 * BATCH;
/// Longest wait for the socket at one flush or batch of records.
pub const FLUSH_BUDGET: Duration = Duration::from_millis(20);
/// Longest wait for the socket when tracing ends.
pub const FINISH_BUDGET: Duration = Duration::from_millis(500);

/// Facility names (RFC 5424 table 1, as syslog.conf spells them).
pub const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// The settings of `--syslog`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogOptions {
    pub socket: PathBuf,
    pub facility: u8,
    pub app_name: String,
    /// Largest message (header included) sent in one datagram.
    pub max_bytes: usize,
}

const SEVERITY_WARNING: u8 = 4;
const SEVERITY_INFO: u8 = 6;

/// Sends each record as a syslog message.
pub struct SyslogSink<E> {
    json: JsonSink<Vec<u8>>,
    opts: SyslogOptions,
    clock: Clock,
    sock: Option<UnixDatagram>,
    /// ` HOSTNAME APP-NAME PROCID `: the same in every message.
    origin: Vec<u8>,
    err: E,
    /// Messages not taken yet, oldest first, each with its record's number.
    queue: VecDeque<(u64, Vec<u8>)>,
    /// Records handed to the sink so far (numbers the records).
    records: u64,
    /// The last record counted as not sent (so a record counts once).
    last_dropped: Option<u64>,
    /// Records not sent, counted (also in `losses`).
    dropped: u64,
    losses: Arc<OutputLoss>,
    /// Records sent in more than one part.
    split: u64,
    /// The header being built (kept for its capacity).
    head: Vec<u8>,
    /// Buffers of messages sent, for the next ones.
    spare: Vec<Vec<u8>>,
}

impl<E: Write> SyslogSink<E> {
    /// A sink sending to `opts.socket`, formatting with `json`. Fails when
    /// the socket cannot be reached at start (a clear error, not a silent
    /// run that sends nothing).
    pub fn new(
        json: JsonSink<Vec<u8>>,
        opts: SyslogOptions,
        clock: Clock,
        err: E,
        losses: Arc<OutputLoss>,
    ) -> io::Result<Self> {
        let sock = connect(&opts.socket)?;
        let origin = format!(" {} {} {} ", hostname(), opts.app_name, std::process::id()).into_bytes();
        Ok(SyslogSink {
            json,
            opts,
            clock,
            sock: Some(sock),
            origin,
            err,
            queue: VecDeque::new(),
            records: 0,
            last_dropped: None,
            dropped: 0,
            losses,
            split: 0,
            head: Vec::with_capacity(160),
            spare: Vec::new(),
        })
    }

    /// Send what the JSON sink just wrote, with this header. Nothing is
    /// allocated per record once the buffers have grown: the header is
    /// built in `head`, and each message in a buffer that a sent message
    /// gave back (`spare`).
    fn send(&mut self, msgid: &str, ts_ns: u64, severity: u8, sd: &[(&str, u32)]) -> io::Result<()> {
        let record = std::mem::take(self.json.out_mut());
        let body = record.strip_suffix(b"\n").unwrap_or(&record);
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        head.push(b'<');
        push_u64(&mut head, u64::from(self.opts.facility) * 8 + u64::from(severity));
        head.extend_from_slice(b">1 ");
        if ts_ns == 0 {
            head.push(b'-');
        } else {
            push_rfc3339(&mut head, self.clock.wall_ns(ts_ns), 6);
        }
        head.extend_from_slice(&self.origin);
        head.extend_from_slice(msgid.as_bytes());
        head.push(b' ');
        // Room for the structured data with part="K" parts="N" at most.
        let room = self.opts.max_bytes.saturating_sub(head.len() + sd_len(sd) + 32).max(64);
        let n = parts_utf8(body, room).count();
        if n > 1 {
            self.split += 1;
        }
        self.records += 1;
        let id = self.records;
        for (k, part) in parts_utf8(body, room).enumerate() {
            if self.queue.len() >= QUEUE_MAX {
                self.drop_record(id);
                continue;
            }
            let mut msg = self.spare.pop().unwrap_or_default();
            msg.clear();
            msg.extend_from_slice(&head);
            push_sd(&mut msg, sd, (n > 1).then_some((k + 1, n)));
            msg.push(b' ');
            msg.extend_from_slice(part);
            self.queue.push_back((id, msg));
        }
        self.head = head;
        if self.queue.len() >= BATCH {
            self.deliver(Duration::ZERO);
        }
        // Give the buffer back (its capacity is reused).
        let mut record = record;
        record.clear();
        *self.json.out_mut() = record;
        Ok(())
    }

    /// A sent (or dropped) message's buffer, kept for the next message.
    fn recycle(&mut self, msg: Vec<u8>) {
        if self.spare.len() < SPARE_MAX {
            self.spare.push(msg);
        }
    }

    /// Count record `id` as not sent, once however many of its parts are.
    fn drop_record(&mut self, id: u64) {
        if self.last_dropped != Some(id) {
            self.last_dropped = Some(id);
            self.dropped += 1;
            self.losses.add_syslog(1);
        }
    }

    /// Send what is queued, in order, waiting for the socket at most
    /// `budget` in all; what is left stays queued. A socket that went away
    /// (the daemon restarted) is connected again once per call; with none
    /// to connect to, the queue waits for the next call.
    fn deliver(&mut self, budget: Duration) {
        let deadline = Instant::now() + budget;
        let mut reconnected = false;
        while !self.queue.is_empty() {
            if self.sock.is_none() {
                if reconnected {
                    return;
                }
                reconnected = true;
                self.sock = connect(&self.opts.socket).ok();
            }
            let Some(sock) = &self.sock else { return };
            match send_many(sock, &self.queue) {
                Ok(n) => {
                    for _ in 0..n.clamp(1, self.queue.len()) {
                        if let Some((_, msg)) = self.queue.pop_front() {
                            self.recycle(msg);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() || !writable(sock, left) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ECONNREFUSED | libc::ENOTCONN | libc::ENOENT)) => {
                    // The daemon went away: a new socket at the same path, maybe.
                    self.sock = None;
                }
                Err(_) => {
                    // This message cannot be sent (too long for the socket,
                    // say): drop it, counted, and go on with the others.
                    if let Some((id, msg)) = self.queue.pop_front() {
                        self.drop_record(id);
                        self.recycle(msg);
                    }
                }
            }
        }
    }
}

/// Send the first messages of `queue` (at most [`BATCH`]) in one
/// `sendmmsg(2)`: how many the socket took, or the error of the first.
fn send_many(sock: &UnixDatagram, queue: &VecDeque<(u64, Vec<u8>)>) -> io::Result<usize> {
    let n = queue.len().min(BATCH);
    let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH];
    // SAFETY: mmsghdr is plain data (pointers, lengths, flags) for which
    // all-zero is a valid value: no address, no control data.
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (i, (_, msg)) in queue.iter().take(n).enumerate() {
        iov[i] = libc::iovec { iov_base: msg.as_ptr() as *mut libc::c_void, iov_len: msg.len() };
        hdrs[i].msg_hdr.msg_iov = &mut iov[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: the first `n` headers each point at one iovec that points at a
    // message of `queue`, all alive and unchanged for the call; the kernel
    // only reads them (and writes `msg_len`). The socket is connected, so
    // no address is given.
    let rc = unsafe { libc::sendmmsg(sock.as_raw_fd(), hdrs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc as usize) }
}

/// Wait until `sock` can take a datagram, at most `timeout`.
fn writable(sock: &UnixDatagram, timeout: Duration) -> bool {
    let mut fd = libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid, initialised pollfd and its count; poll only writes
    // `revents`.
    let rc = unsafe { libc::poll(&mut fd, 1, ms) };
    rc > 0 && fd.revents & libc::POLLOUT != 0
}

fn connect(path: &Path) -> io::Result<UnixDatagram> {
    let sock = UnixDatagram::unbound()?;
    sock.connect(path).map_err(|e| io::Error::new(e.kind(), format!("syslog socket {}: {e}", path.display())))?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

fn sd_len(sd: &[(&str, u32)]) -> usize {
    20 + sd.iter().map(|(k, _)| k.len() + 14).sum::<usize>()
}

/// `[execsnoop@32473 k="v" ...]`, or `-` when there is nothing to say.
fn push_sd(b: &mut Vec<u8>, sd: &[(&str, u32)], part: Option<(usize, usize)>) {
    if sd.is_empty() && part.is_none() {
        b.push(b'-');
        return;
    }
    b.extend_from_slice(b"[execsnoop@32473");
    let mut param = |k: &str, v: u64| {
        b.push(b' ');
        b.extend_from_slice(k.as_bytes());
        b.extend_from_slice(b"=\"");
        push_u64(b, v);
        b.push(b'"');
    };
    for (k, v) in sd {
        param(k, u64::from(*v));
    }
    if let Some((k, n)) = part {
        param("part", k as u64);
        param("parts", n as u64);
    }
    b.push(b']');
}

/// `body` in pieces of at most `max` bytes, each ending between UTF-8
/// characters (one piece, maybe empty, when it fits).
fn parts_utf8(body: &[u8], max: usize) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(body);
    std::iter::from_fn(move || {
        let r = rest?;
        if r.len() <= max {
            rest = None;
            return Some(r);
        }
        let mut cut = max;
        // Not inside a multi-byte character (continuation bytes are 10xxxxxx).
        while cut > 0 && r[cut] & 0xC0 == 0x80 {
            cut -= 1;
        }
        if cut == 0 {
            cut = max;
        }
        rest = Some(&r[cut..]);
        Some(&r[..cut])
    })
}

/// This machine's name, as `uname -n` says it; `-` when unknown.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length; gethostname NUL-terminates
    // within it (or truncates, and we stop at the length).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..len]) {
        // RFC 5424: printable US-ASCII, no spaces.
        Ok(s) if rc == 0 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) => s.to_string(),
        _ => "-".to_string(),
    }
}

impl<E: Write> Sink for SyslogSink<E> {
    fn header(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn exec(&mut self, e: &Exec) -> io::Result<()> {
        self.json.exec(e)?;
        self.send("exec", e.ts_ns, SEVERITY_INFO, &[("pid", e.pid), ("ppid", e.ppid), ("uid", e.uid)])
    }

    fn lost(&mut self, l: &Lost) -> io::Result<()> {
        self.json.lost(l)?;
        self.send("lost", l.ts_ns, SEVERITY_WARNING, &[])
    }

    fn exit(&mut self, x: &Exit) -> io::Result<()> {
        self.json.exit(x)?;
        self.send("exit", x.ts_ns, SEVERITY_INFO, &[("pid", x.pid), ("ppid", x.ppid)])
    }

    fn summary(&mut self, s: &Summary) -> io::Result<()> {
        self.json.summary(s)?;
        self.send("summary", crate::clock::boot_ns(), SEVERITY_INFO, &[])
    }

    fn flush(&mut self) -> io::Result<()> {
        self.deliver(FLUSH_BUDGET);
        Ok(())
    }

    fn finish(&mut self, totals: &Totals) -> io::Result<()> {
        self.json.finish(totals)?;
        self.send("end", crate::clock::boot_ns(), SEVERITY_INFO, &[])?;
        self.deliver(FINISH_BUDGET);
        // What the daemon did not take in time is lost: counted, said.
        while let Some((id, _)) = self.queue.pop_front() {
            self.drop_record(id);
        }
        if self.dropped > 0 {
            writeln!(
                self.err,
                "WARNING: {} records could not be sent to syslog at {} (the daemon did not take them in time)",
                self.dropped,
                self.opts.socket.display()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_between_characters() {
        let s = "aé€😀b".repeat(10);
        for max in 1..20 {
            let parts: Vec<&[u8]> = parts_utf8(s.as_bytes(), max.max(4)).collect();
            assert_eq!(parts.concat(), s.as_bytes());
            for p in &parts {
                assert!(p.len() <= max.max(4));
                assert!(std::str::from_utf8(p).is_ok(), "{p:?}");
            }
        }
    }

    #[test]
    fn messages_as_rfc5424_says_and_split_when_long() {
        let dir = std::env::temp_dir().join(format!("execsnoop-syslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let clock = Clock { realtime_offset_ns: 1_700_000_000_000_000_000 };
        let opts = SyslogOptions { socket: path.clone(), facility: 3, app_name: "execsnoop".into(), max_bytes: 1024 };
        let mut sink =
            SyslogSink::new(JsonSink::new(Vec::new(), clock), opts, clock, Vec::new(), Arc::default()).unwrap();
        let mut e = crate::event::Exec {
            ts_ns: 1_000_000,
            pid: 42,
            ppid: 7,
            uid: 1000,
            comm: b"true".to_vec(),
            filename: b"/bin/true".to_vec(),
            args: b"true\0".to_vec(),
            ..Default::default()
        };
        sink.exec(&e).unwrap();
        assert_eq!(sink.queue.len(), 1, "sent in batches: at a flush, or BATCH messages");
        sink.flush().unwrap();
        assert!(sink.queue.is_empty());
        let mut buf = vec![0u8; 65536];
        let n = server.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        let re = regex::Regex::new(
            r#"^<30>1 2023-11-14T22:13:20\.001000Z \S+ execsnoop \d+ exec \[execsnoop@32473 pid="42" ppid="7" uid="1000"\] (\{.*\})$"#,
        )
        .unwrap();
        let caps = re.captures(msg).unwrap_or_else(|| panic!("{msg}"));
        let v: serde_json::Value = serde_json::from_str(&caps[1]).unwrap();
        assert_eq!(v["pid"], 42);

        // A long one: parts that join to the record.
        let long = "x".repeat(3000);
        e.args = format!("true\0{long}\0").into_bytes();
        sink.exec(&e).unwrap();
        sink.flush().unwrap();
        let part = regex::Regex::new(r#"^<30>1 \S+ \S+ execsnoop \d+ exec \[execsnoop@32473 pid="42" ppid="7" uid="1000" part="(\d+)" parts="(\d+)"\] (.*)$"#).unwrap();
        let mut joined = String::new();
        let mut k = 0;
        loop {
            let n = server.recv(&mut buf).unwrap();
            assert!(n <= 1024, "a datagram of {n} bytes");
            let msg = std::str::from_utf8(&buf[..n]).unwrap();
            let c = part.captures(msg).unwrap_or_else(|| panic!("{msg}"));
            k += 1;
            assert_eq!(c[1].parse::<usize>().unwrap(), k);
            joined.push_str(&c[3]);
            if c[1] == c[2] {
                break;
            }
        }
        assert!(k >= 3, "{k} parts");
        let v: serde_json::Value = serde_json::from_str(&joined).unwrap();
        assert_eq!(v["argv"][1], long.as_str());
        assert_eq!(sink.split, 1);
        assert_eq!(sink.dropped, 0);

        // No daemon: queued while it may come back, then at the end
        // dropped, counted (the exec and the end record), said.
        drop(server);
        std::fs::remove_file(&path).unwrap();
        sink.exec(&e).unwrap();
        sink.flush().unwrap();
        assert_eq!(sink.dropped, 0);
        assert!(!sink.queue.is_empty());
        sink.finish(&Totals::default()).unwrap();
        assert_eq!(sink.dropped, 2);
        assert_eq!(sink.losses.syslog(), 2);
        let err = String::from_utf8(sink.err.clone()).unwrap();
        assert!(err.starts_with("WARNING: 2 records could not be sent to syslog"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
