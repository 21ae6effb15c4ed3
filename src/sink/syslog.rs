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
//! A message the socket does not take within a second (a syslog daemon that
//! stopped reading), or at all (none listening: the socket is opened again
//! once per record), is dropped and counted; the count is said on stderr when
//! tracing ends, one line, like ring-buffer losses. A slow daemon otherwise
//! slows the drain, and what the ring buffer then cannot hold is counted as
//! lost there, in the stream.

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::json::{JsonSink, push_rfc3339_digits};
use super::{Clock, Sink, summary::Summary};
use crate::event::{Exec, Exit, Lost, Totals};

/// How long a send may block before the message counts as dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

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
    /// Messages (parts) the socket did not take.
    dropped: u64,
    /// Records sent in more than one part.
    split: u64,
    msg: Vec<u8>,
}

impl<E: Write> SyslogSink<E> {
    /// A sink sending to `opts.socket`, formatting with `json`. Fails when
    /// the socket cannot be reached at start (a clear error, not a silent
    /// run that sends nothing).
    pub fn new(json: JsonSink<Vec<u8>>, opts: SyslogOptions, clock: Clock, err: E) -> io::Result<Self> {
        let sock = connect(&opts.socket)?;
        let origin = format!(" {} {} {} ", hostname(), opts.app_name, std::process::id()).into_bytes();
        Ok(SyslogSink {
            json,
            opts,
            clock,
            sock: Some(sock),
            origin,
            err,
            dropped: 0,
            split: 0,
            msg: Vec::with_capacity(8192),
        })
    }

    /// Send what the JSON sink just wrote, with this header.
    fn send(&mut self, msgid: &str, ts_ns: u64, severity: u8, sd: &[(&str, u32)]) -> io::Result<()> {
        let record = std::mem::take(self.json.out_mut());
        let body = record.strip_suffix(b"\n").unwrap_or(&record);
        let mut head = Vec::with_capacity(160);
        head.push(b'<');
        head.extend_from_slice((u32::from(self.opts.facility) * 8 + u32::from(severity)).to_string().as_bytes());
        head.extend_from_slice(b">1 ");
        if ts_ns == 0 {
            head.push(b'-');
        } else {
            push_rfc3339_digits(&mut head, self.clock.wall_ns(ts_ns), 6);
        }
        head.extend_from_slice(&self.origin);
        head.extend_from_slice(msgid.as_bytes());
        head.push(b' ');
        // Room for the structured data with part="K" parts="N" at most.
        let room = self.opts.max_bytes.saturating_sub(head.len() + sd_len(sd) + 32).max(64);
        let parts = split_utf8(body, room);
        if parts.len() > 1 {
            self.split += 1;
        }
        let n = parts.len();
        for (k, part) in parts.into_iter().enumerate() {
            self.msg.clear();
            self.msg.extend_from_slice(&head);
            push_sd(&mut self.msg, sd, (n > 1).then_some((k + 1, n)));
            self.msg.push(b' ');
            self.msg.extend_from_slice(part);
            self.deliver();
        }
        // Give the buffer back (its capacity is reused).
        let mut record = record;
        record.clear();
        *self.json.out_mut() = record;
        Ok(())
    }

    /// One datagram; a socket that went away is reconnected once.
    fn deliver(&mut self) {
        for attempt in 0..2 {
            if self.sock.is_none() {
                self.sock = connect(&self.opts.socket).ok();
            }
            let Some(sock) = &self.sock else { break };
            match sock.send(&self.msg) {
                Ok(_) => return,
                Err(e)
                    if attempt == 0
                        && matches!(e.raw_os_error(), Some(libc::ECONNREFUSED | libc::ENOTCONN | libc::ENOENT)) =>
                {
                    // The daemon restarted: a new socket at the same path.
                    self.sock = None;
                }
                Err(_) => break,
            }
        }
        self.dropped += 1;
    }
}

fn connect(path: &Path) -> io::Result<UnixDatagram> {
    let sock = UnixDatagram::unbound()?;
    sock.connect(path).map_err(|e| io::Error::new(e.kind(), format!("syslog socket {}: {e}", path.display())))?;
    sock.set_write_timeout(Some(SEND_TIMEOUT))?;
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
    let mut param = |k: &str, v: String| {
        b.push(b' ');
        b.extend_from_slice(k.as_bytes());
        b.extend_from_slice(b"=\"");
        b.extend_from_slice(v.as_bytes());
        b.push(b'"');
    };
    for (k, v) in sd {
        param(k, v.to_string());
    }
    if let Some((k, n)) = part {
        param("part", k.to_string());
        param("parts", n.to_string());
    }
    b.push(b']');
}

/// `body` in pieces of at most `max` bytes, each ending between UTF-8
/// characters.
fn split_utf8(body: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    while rest.len() > max {
        let mut cut = max;
        // Not inside a multi-byte character (continuation bytes are 10xxxxxx).
        while cut > 0 && rest[cut] & 0xC0 == 0x80 {
            cut -= 1;
        }
        if cut == 0 {
            cut = max;
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    out.push(rest);
    out
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
        Ok(())
    }

    fn finish(&mut self, totals: &Totals) -> io::Result<()> {
        self.json.finish(totals)?;
        self.send("end", crate::clock::boot_ns(), SEVERITY_INFO, &[])?;
        if self.dropped > 0 {
            writeln!(
                self.err,
                "WARNING: {} syslog messages could not be sent to {} (the daemon did not take them)",
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
            let parts = split_utf8(s.as_bytes(), max.max(4));
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
        let mut sink = SyslogSink::new(JsonSink::new(Vec::new(), clock), opts, clock, Vec::new()).unwrap();
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

        // No daemon: dropped, counted, said at the end.
        drop(server);
        std::fs::remove_file(&path).unwrap();
        sink.exec(&e).unwrap();
        assert!(sink.dropped >= 1);
        sink.finish(&Totals::default()).unwrap();
        let err = String::from_utf8(sink.err.clone()).unwrap();
        assert!(err.starts_with("WARNING: ") && err.contains("syslog messages could not be sent"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
