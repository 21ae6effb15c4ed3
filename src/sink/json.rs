//! The JSON sink (`--json`): the writer of the machine-readable format.
//!
//! This module owns the writer: every record becomes one JSON object on one
//! line, ending in `\n`, written with the fields in their fixed order, `type`
//! first. Each object is built in one buffer reused for every record, so
//! steady state does no allocation per record; numbers and the RFC 3339
//! `time` (its date and second formatted once per second) come from
//! [`crate::format`], errno and signal names from their
//! modules. It also owns the byte-string encoding (`push_bytes`): bytes
//! that are valid UTF-8 go out as a JSON string (control characters, `"`
//! and `\` escaped by a table, byte for byte as serde_json would),
//! anything else as `{"bytes":"<base64>"}` (standard base64
//! with padding, encoded in place). The syslog sink sends each of these lines
//! as a message.
//!
//! The format — every record type and field, in order — is described once,
//! in `schema/execsnoop.schema.json`; a test checks this writer's output
//! against it (field order included).

use std::io::{self, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::errno;
use crate::event::{Exec, Exit, ExitStatus, Lost, Totals};
use crate::format::{Rfc3339, push_i64, push_u64};
use crate::sink::{Clock, Sink};
use crate::summary::{CommandCost, Summary};

/// Which groups of context fields exec records carry (each asked for by
/// its option; see the schema, `schema/execsnoop.schema.json`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ContextFields {
    pub cwd: bool,
    pub env: bool,
    pub context: bool,
    pub ancestry: bool,
    pub containers: bool,
    /// `--redact`: the `args_redacted` field (kept for compatibility).
    pub args_redacted: bool,
    /// Redaction on (not `--no-redact`): the `redacted` field, last.
    pub redacted: bool,
}

/// Writes records as newline-delimited JSON to `out`.
pub struct JsonSink<W> {
    out: W,
    clock: Clock,
    /// `--print-cgroup`: a `cgroup` field.
    cgroups: bool,
    /// The context fields asked for (written after `cgroup`).
    fields: ContextFields,
    /// Reused for every record, so steady state does no allocation.
    buf: Vec<u8>,
    /// The `time` of the last second, reused while records share it.
    time: Rfc3339,
}

impl<W: Write> JsonSink<W> {
    /// A sink writing JSON lines to `out`.
    pub fn new(out: W, clock: Clock) -> Self {
        JsonSink {
            out,
            clock,
            cgroups: false,
            fields: ContextFields::default(),
            buf: Vec::with_capacity(4096),
            time: Rfc3339::default(),
        }
    }

    /// Add the context fields asked for.
    pub fn with_context(mut self, fields: ContextFields) -> Self {
        self.fields = fields;
        self
    }

    /// The writer, for a sink that sends each record on (syslog).
    pub(super) fn out_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Add a `cgroup` field (the paths [`crate::enrich`] filled in).
    pub fn with_cgroups(mut self, cgroups: bool) -> Self {
        self.cgroups = cgroups;
        self
    }

    /// The writer back, e.g. to inspect what was written.
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn header(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn exec(&mut self, e: &Exec) -> io::Result<()> {
        let b = &mut self.buf;
        push_head(b, "exec", self.clock.wall_ns(e.ts_ns), e.ts_ns, &mut self.time);
        b.extend_from_slice(b",\"pid\":");
        push_u64(b, e.pid.into());
        b.extend_from_slice(b",\"old_pid\":");
        push_u64(b, e.old_pid.into());
        b.extend_from_slice(b",\"ppid\":");
        push_u64(b, e.ppid.into());
        b.extend_from_slice(b",\"uid\":");
        push_u64(b, e.uid.into());
        b.extend_from_slice(b",\"cgroup_id\":");
        push_u64(b, e.cgroup_id);
        b.extend_from_slice(b",\"comm\":");
        push_bytes(b, &e.comm)?;
        b.extend_from_slice(b",\"filename\":");
        push_bytes(b, &e.filename)?;
        b.extend_from_slice(b",\"argv\":[");
        for (i, arg) in e.args().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            push_bytes(b, arg)?;
        }
        b.extend_from_slice(b"],\"args_size\":");
        push_u64(b, e.args_size.into());
        let read_failed = e.flags.args_read_failed;
        push_bool(b, b",\"args_truncated\":", e.args_incomplete() && !read_failed);
        push_bool(b, b",\"args_read_failed\":", read_failed);
        push_bool(b, b",\"filename_truncated\":", e.flags.filename_truncated);
        push_bool(b, b",\"filename_failed\":", e.flags.filename_failed);
        push_bool(b, b",\"argv0_empty\":", e.argv0_empty());
        b.extend_from_slice(b",\"pcomm\":");
        push_bytes(b, &e.pcomm)?;
        b.extend_from_slice(b",\"interp\":");
        push_nonempty_bytes(b, &e.interp)?;
        b.extend_from_slice(b",\"ret\":");
        push_i64(b, e.ret.into());
        b.extend_from_slice(b",\"errno\":");
        if e.ret < 0 {
            b.push(b'"');
            errno::push_name(b, e.ret.wrapping_neg());
            b.push(b'"');
        } else {
            b.extend_from_slice(b"null");
        }
        push_bool(b, b",\"fileless\":", e.flags.fileless);
        push_bool(b, b",\"interp_truncated\":", e.flags.interp_truncated);
        b.extend_from_slice(b",\"source\":\"");
        b.extend_from_slice(e.source.as_str().as_bytes());
        b.extend_from_slice(b"\",\"args_from\":\"");
        b.extend_from_slice(e.args_from.as_str().as_bytes());
        b.extend_from_slice(b"\",\"depth\":");
        push_opt_u64(b, e.depth.map(u64::from));
        b.extend_from_slice(b",\"fd_path\":");
        push_nonempty_bytes(b, &e.fd_path)?;
        push_bool(b, b",\"parts_lost\":", e.flags.parts_lost);
        if self.cgroups {
            b.extend_from_slice(b",\"cgroup\":");
            match &e.cgroup {
                Some(path) => push_bytes(b, path)?,
                None => b.extend_from_slice(b"null"),
            }
        }
        push_context(b, e, self.fields)?;
        if self.fields.redacted {
            push_bool(b, b",\"redacted\":", e.redacted());
        }
        b.extend_from_slice(b"}\n");
        self.out.write_all(b)
    }

    fn exit(&mut self, x: &Exit) -> io::Result<()> {
        let b = &mut self.buf;
        push_head(b, "exit", self.clock.wall_ns(x.ts_ns), x.ts_ns, &mut self.time);
        b.extend_from_slice(b",\"pid\":");
        push_u64(b, x.pid.into());
        b.extend_from_slice(b",\"ppid\":");
        push_u64(b, x.ppid.into());
        b.extend_from_slice(b",\"comm\":");
        push_bytes(b, &x.comm)?;
        b.extend_from_slice(b",\"exec_ts_ns\":");
        push_opt_u64(b, x.execed().then_some(x.exec_ts_ns));
        b.extend_from_slice(b",\"exit_code\":");
        let (code, signo, core) = match x.status {
            ExitStatus::Code(c) => (Some(u64::from(c)), None, false),
            ExitStatus::Signal { signo, core_dumped } => (None, Some(signo), core_dumped),
            ExitStatus::Unknown => (None, None, false),
        };
        push_opt_u64(b, code);
        b.extend_from_slice(b",\"signal\":");
        push_opt_u64(b, signo.map(u64::from));
        b.extend_from_slice(b",\"signal_name\":");
        match signo {
            Some(n) => {
                b.push(b'"');
                b.extend_from_slice(crate::signal::name(n.into()).as_bytes());
                b.push(b'"');
            }
            None => b.extend_from_slice(b"null"),
        }
        push_bool(b, b",\"core_dumped\":", core);
        b.extend_from_slice(b",\"lifetime_ns\":");
        push_opt_u64(b, x.lifetime_ns());
        b.extend_from_slice(b",\"cpu_ns\":");
        push_opt_u64(b, x.cpu_ns);
        b.extend_from_slice(b",\"depth\":");
        push_opt_u64(b, x.depth.map(u64::from));
        b.extend_from_slice(b",\"source\":\"");
        b.extend_from_slice(x.source.as_str().as_bytes());
        b.extend_from_slice(b"\"}\n");
        self.out.write_all(b)
    }

    fn lost(&mut self, l: &Lost) -> io::Result<()> {
        let b = &mut self.buf;
        push_head(b, "lost", self.clock.wall_ns(l.ts_ns), l.ts_ns, &mut self.time);
        b.extend_from_slice(b",\"kind\":\"");
        b.extend_from_slice(l.kind.as_str().as_bytes());
        b.extend_from_slice(b"\",\"count\":");
        push_u64(b, l.count);
        b.extend_from_slice(b"}\n");
        self.out.write_all(b)
    }

    fn summary(&mut self, s: &Summary) -> io::Result<()> {
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(b"{\"type\":\"summary\",\"commands\":[");
        for (i, c) in s.commands.iter().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            b.extend_from_slice(b"{\"comm\":");
            push_bytes(b, &c.comm)?;
            b.push(b',');
            push_cost(b, c, s.failed_traced);
            b.push(b'}');
        }
        b.extend_from_slice(b"],\"total\":{");
        push_cost(b, &s.total, s.failed_traced);
        b.extend_from_slice(b"},\"other\":");
        match &s.other {
            Some(c) => {
                b.push(b'{');
                push_cost(b, c, s.failed_traced);
                b.push(b'}');
            }
            None => b.extend_from_slice(b"null"),
        }
        b.extend_from_slice(b"}\n");
        self.out.write_all(b)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, totals: &Totals) -> io::Result<()> {
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(b"{\"type\":\"end\",\"received\":");
        push_u64(b, totals.received);
        b.extend_from_slice(b",\"shown\":");
        push_u64(b, totals.shown);
        b.extend_from_slice(b",\"lost\":");
        push_u64(b, totals.lost);
        b.extend_from_slice(b"}\n");
        self.out.write_all(b)?;
        self.out.flush()
    }
}

/// The context fields of an exec record, in the schema's order.
fn push_context(b: &mut Vec<u8>, e: &Exec, f: ContextFields) -> io::Result<()> {
    if f.cwd {
        b.extend_from_slice(b",\"cwd\":");
        push_nonempty_bytes(b, &e.cwd)?;
        push_bool(b, b",\"cwd_truncated\":", e.flags.cwd_truncated);
    }
    if f.env {
        b.extend_from_slice(b",\"env\":[");
        for (i, var) in crate::event::split_area(&e.env).enumerate() {
            if i > 0 {
                b.push(b',');
            }
            push_bytes(b, var)?;
        }
        b.extend_from_slice(b"],\"env_size\":");
        push_u64(b, e.env_size.into());
        push_bool(b, b",\"env_truncated\":", e.flags.env_truncated);
        push_bool(b, b",\"env_read_failed\":", e.flags.env_read_failed);
    }
    if f.args_redacted {
        push_bool(b, b",\"args_redacted\":", e.flags.args_redacted);
    }
    if f.context {
        match e.context.as_deref() {
            Some(c) => {
                for (key, v) in [(&b",\"euid\":"[..], c.euid), (b",\"gid\":", c.gid), (b",\"egid\":", c.egid)] {
                    b.extend_from_slice(key);
                    push_u64(b, v.into());
                }
                b.extend_from_slice(b",\"loginuid\":");
                push_opt_u64(b, c.loginuid.map(u64::from));
                b.extend_from_slice(b",\"sessionid\":");
                push_opt_u64(b, c.sessionid.map(u64::from));
                b.extend_from_slice(b",\"tty\":");
                push_nonempty_bytes(b, &c.tty)?;
                b.extend_from_slice(b",\"nspid\":");
                push_u64(b, c.nspid.into());
                b.extend_from_slice(b",\"namespaces\":{");
                let ns = &c.ns;
                for (i, (name, v)) in [
                    ("pid", ns.pid),
                    ("mnt", ns.mnt),
                    ("net", ns.net),
                    ("user", ns.user),
                    ("uts", ns.uts),
                    ("ipc", ns.ipc),
                    ("cgroup", ns.cgroup),
                ]
                .into_iter()
                .enumerate()
                {
                    if i > 0 {
                        b.push(b',');
                    }
                    b.push(b'"');
                    b.extend_from_slice(name.as_bytes());
                    b.extend_from_slice(b"\":");
                    push_u64(b, v.into());
                }
                b.extend_from_slice(b"},\"privilege\":[");
                for (i, p) in c.privilege.names().enumerate() {
                    if i > 0 {
                        b.push(b',');
                    }
                    b.push(b'"');
                    b.extend_from_slice(p.as_bytes());
                    b.push(b'"');
                }
                b.extend_from_slice(b"],\"cap_effective\":");
                push_u64(b, c.cap_effective);
                b.extend_from_slice(b",\"exec_id\":");
                push_nonempty_bytes(b, c.exec_id.as_bytes())?;
                b.extend_from_slice(b",\"parent_exec_id\":");
                push_nonempty_bytes(b, c.parent_exec_id.as_deref().unwrap_or("").as_bytes())?;
                if f.ancestry {
                    b.extend_from_slice(b",\"ancestry\":[");
                    for (i, a) in c.ancestry.iter().enumerate() {
                        if i > 0 {
                            b.push(b',');
                        }
                        b.extend_from_slice(b"{\"pid\":");
                        push_u64(b, a.pid.into());
                        b.extend_from_slice(b",\"comm\":");
                        push_bytes(b, &a.comm)?;
                        b.extend_from_slice(b",\"exec_id\":");
                        push_bytes(b, a.exec_id.as_bytes())?;
                        b.push(b'}');
                    }
                    b.push(b']');
                }
            }
            // A record the kernel read no context for (a failed attempt).
            None => b.extend_from_slice(b",\"exec_id\":null"),
        }
    }
    if f.containers {
        let c = e.container.as_ref();
        b.extend_from_slice(b",\"container_id\":");
        push_nonempty_bytes(b, c.map_or(&b""[..], |c| c.id.as_bytes()))?;
        b.extend_from_slice(b",\"container_runtime\":");
        push_nonempty_bytes(b, c.map_or(&b""[..], |c| c.runtime.as_bytes()))?;
        b.extend_from_slice(b",\"pod_uid\":");
        push_nonempty_bytes(b, c.and_then(|c| c.pod.as_deref()).unwrap_or("").as_bytes())?;
    }
    Ok(())
}

/// A byte string: a JSON string if it is UTF-8, else `{"bytes":"<base64>"}`.
fn push_bytes(b: &mut Vec<u8>, s: &[u8]) -> io::Result<()> {
    // The common case: ASCII with nothing to escape, copied whole.
    if s.iter().all(|&c| ESCAPE[usize::from(c)] == 0 && c < 0x80) {
        b.reserve(s.len() + 2);
        b.push(b'"');
        b.extend_from_slice(s);
        b.push(b'"');
        return Ok(());
    }
    match std::str::from_utf8(s) {
        Ok(text) => {
            push_str(b, text);
            Ok(())
        }
        Err(_) => {
            b.extend_from_slice(b"{\"bytes\":\"");
            push_base64(b, s);
            b.extend_from_slice(b"\"}");
            Ok(())
        }
    }
}

/// How each byte goes into a JSON string: 0, as it is; `u`, as `\u00XX`;
/// else `\` and this letter. Byte for byte what serde_json writes (a test
/// compares them): the short escapes where JSON has them, the other control
/// characters as `\u00XX` in lowercase hex, nothing else escaped.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// `text` as a JSON string, quotes included: the runs that need no escape
/// are copied whole.
fn push_str(b: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let s = text.as_bytes();
    b.reserve(s.len() + 2);
    b.push(b'"');
    let mut from = 0;
    for (i, &c) in s.iter().enumerate() {
        let esc = ESCAPE[usize::from(c)];
        if esc == 0 {
            continue;
        }
        b.extend_from_slice(&s[from..i]);
        if esc == b'u' {
            b.extend_from_slice(b"\\u00");
            b.push(HEX[usize::from(c >> 4)]);
            b.push(HEX[usize::from(c & 0xf)]);
        } else {
            b.push(b'\\');
            b.push(esc);
        }
        from = i + 1;
    }
    b.extend_from_slice(&s[from..]);
    b.push(b'"');
}

/// Standard base64 with padding, appended in place.
fn push_base64(b: &mut Vec<u8>, s: &[u8]) {
    // 4 output bytes per started group of 3 input bytes.
    let len = s.len().div_ceil(3) * 4;
    let start = b.len();
    b.resize(start + len, 0);
    match STANDARD.encode_slice(s, &mut b[start..]) {
        Ok(n) => b.truncate(start + n),
        // Cannot happen (the slice is exactly large enough); fall back to
        // the allocating encoder rather than panic.
        Err(_) => {
            b.truncate(start);
            b.extend_from_slice(STANDARD.encode(s).as_bytes());
        }
    }
}

/// The numbers of one summary line (after `comm`).
fn push_cost(b: &mut Vec<u8>, c: &CommandCost, failed_traced: bool) {
    b.extend_from_slice(b"\"execs\":");
    push_u64(b, c.execs);
    b.extend_from_slice(b",\"failed\":");
    push_opt_u64(b, failed_traced.then_some(c.failed));
    b.extend_from_slice(b",\"exits\":");
    push_u64(b, c.exits);
    b.extend_from_slice(b",\"forks\":");
    push_u64(b, c.forks);
    b.extend_from_slice(b",\"cpu_ns\":");
    push_u64(b, c.cpu_ns);
    b.extend_from_slice(b",\"mean_cpu_ns\":");
    push_opt_u64(b, c.mean_cpu_ns());
    b.extend_from_slice(b",\"lifetime_ns\":");
    push_u64(b, c.lifetime_ns);
    b.extend_from_slice(b",\"mean_lifetime_ns\":");
    push_opt_u64(b, c.mean_lifetime_ns());
    b.extend_from_slice(b",\"running\":");
    push_u64(b, c.running);
}

/// The start every timed record shares: `{"type":"T","ts_ns":N,"time":"..."`
/// (the buffer is cleared first), for the boot-clock `ts_ns` at `wall_ns`.
fn push_head(b: &mut Vec<u8>, typ: &str, wall_ns: i128, ts_ns: u64, time: &mut Rfc3339) {
    b.clear();
    b.extend_from_slice(b"{\"type\":\"");
    b.extend_from_slice(typ.as_bytes());
    b.extend_from_slice(b"\",\"ts_ns\":");
    push_u64(b, ts_ns);
    b.extend_from_slice(b",\"time\":\"");
    time.push(b, wall_ns);
    b.push(b'"');
}

/// A byte string, or `null` when it is empty.
fn push_nonempty_bytes(b: &mut Vec<u8>, s: &[u8]) -> io::Result<()> {
    if s.is_empty() {
        b.extend_from_slice(b"null");
        Ok(())
    } else {
        push_bytes(b, s)
    }
}

fn push_opt_u64(b: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => push_u64(b, n),
        None => b.extend_from_slice(b"null"),
    }
}

fn push_bool(b: &mut Vec<u8>, key: &[u8], v: bool) {
    b.extend_from_slice(key);
    b.extend_from_slice(if v { b"true" } else { b"false" });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ExecFlags, LostKind, split_args};
    use serde_json::Value;

    const S: i128 = 1_000_000_000;

    /// Decode a byte-string field back to bytes, per the schema's `$defs.bytes`.
    fn decode_bytes(v: &Value) -> Vec<u8> {
        match v {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Object(o) => {
                assert_eq!(o.len(), 1, "{v}");
                STANDARD.decode(o["bytes"].as_str().unwrap()).unwrap()
            }
            _ => panic!("not a byte string: {v}"),
        }
    }

    fn lines(out: Vec<u8>) -> Vec<Value> {
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n'));
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn keys(v: &Value, raw: &str) -> Vec<String> {
        // (serde_json keeps the order in tests: `preserve_order`); the order
        // on the wire is checked on the raw line too.
        // raw line instead.
        let mut order = Vec::new();
        for k in v.as_object().unwrap().keys() {
            let pos = raw.find(&format!("\"{k}\":")).unwrap();
            order.push((pos, k.clone()));
        }
        order.sort();
        order.into_iter().map(|(_, k)| k).collect()
    }

    fn sample() -> Exec {
        Exec {
            ts_ns: 5_000_000_123,
            pid: 4242,
            old_pid: 4243,
            ppid: 1,
            uid: 1000,
            cgroup_id: u64::MAX,
            comm: b"evil\x1b".to_vec(),
            filename: b"/tmp/\xffx".to_vec(),
            args: b"sh\0-c\0echo \"hi\"\n\\\0\xff\xfe\0\0\xe2\x80\xae".to_vec(),
            args_size: 400,
            flags: ExecFlags { args_truncated: true, ..ExecFlags::default() },
            ..Exec::default()
        }
    }

    #[test]
    fn strings_escape_as_serde_json_does() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é\u{202e}\u{1f600}\u{7f}\"\\x");
        for s in [all.as_str(), "", "plain", "\"", "a\nb", "\u{1b}[31m"] {
            let mut got = Vec::new();
            push_str(&mut got, s);
            assert_eq!(String::from_utf8(got).unwrap(), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn exec_round_trip() {
        let e = sample();
        let mut s = JsonSink::new(Vec::new(), Clock { realtime_offset_ns: 1_795_662_487 * S });
        s.exec(&e).unwrap();
        let out = s.into_inner();
        let raw = String::from_utf8(out.clone()).unwrap();
        assert_eq!(raw.matches('\n').count(), 1);
        let v = &lines(out)[0];

        // With no context field asked for: the schema's required ones, in
        // its order, on the wire.
        let schema: Value = serde_json::from_str(include_str!("../../schema/execsnoop.schema.json")).unwrap();
        let required: Vec<&str> =
            schema["$defs"]["exec"]["required"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(keys(v, &raw), required);
        assert_eq!(v["type"], "exec");
        assert_eq!(v["ts_ns"], 5_000_000_123u64);
        assert_eq!(v["time"], "2026-11-26T03:08:12.000000123Z");
        assert_eq!(v["pid"], 4242);
        assert_eq!(v["old_pid"], 4243);
        assert_eq!(v["ppid"], 1);
        assert_eq!(v["uid"], 1000);
        assert_eq!(v["cgroup_id"], u64::MAX);
        assert_eq!(v["comm"], "evil\u{1b}");
        assert_eq!(decode_bytes(&v["filename"]), e.filename);
        assert!(v["filename"].is_object());
        let argv: Vec<Vec<u8>> = v["argv"].as_array().unwrap().iter().map(decode_bytes).collect();
        let want: Vec<Vec<u8>> = split_args(&e.args).into_iter().map(<[u8]>::to_vec).collect();
        assert_eq!(argv, want);
        assert_eq!(argv[3], b"\xff\xfe");
        assert_eq!(v["argv"][3], serde_json::json!({"bytes": "//4="}));
        assert_eq!(v["argv"][4], "");
        assert_eq!(v["argv"][5], "\u{202e}");
        assert_eq!(v["args_size"], 400);
        assert_eq!(v["args_truncated"], true);
        assert_eq!(v["args_read_failed"], false);
        assert_eq!(v["filename_truncated"], false);
        assert_eq!(v["filename_failed"], false);
        assert_eq!(v["argv0_empty"], false);
        assert_eq!(v["pcomm"], "");
        assert_eq!(v["interp"], Value::Null);
        assert_eq!(v["ret"], 0);
        assert_eq!(v["errno"], Value::Null);
        assert_eq!(v["fileless"], false);
        assert_eq!(v["interp_truncated"], false);
        assert!(v.get("cgroup").is_none(), "cgroup only with --print-cgroup");
    }

    #[test]
    fn new_fields_failed_attempt_script_memfd() {
        let mut e = sample();
        e.pcomm = b"par\xffent".to_vec();
        e.interp = b"/bin/sh".to_vec();
        e.ret = -libc::ENOENT;
        e.flags.fileless = true;
        e.flags.interp_truncated = true;
        let mut s = JsonSink::new(Vec::new(), Clock { realtime_offset_ns: 0 });
        s.exec(&e).unwrap();
        e.ret = -4095;
        s.exec(&e).unwrap();
        e.ret = -libc::EACCES;
        e.interp.clear();
        s.exec(&e).unwrap();
        let v = lines(s.into_inner());
        assert_eq!(decode_bytes(&v[0]["pcomm"]), b"par\xffent");
        assert_eq!(v[0]["interp"], "/bin/sh");
        assert_eq!(v[0]["ret"], -2);
        assert_eq!(v[0]["errno"], "ENOENT");
        assert_eq!(v[0]["fileless"], true);
        assert_eq!(v[0]["interp_truncated"], true);
        assert_eq!(v[1]["ret"], -4095);
        assert_eq!(v[1]["errno"], "E4095");
        assert_eq!(v[2]["errno"], "EACCES");
        assert_eq!(v[2]["interp"], Value::Null);
    }

    #[test]
    fn redacted_last_unless_no_redact_and_args_redacted_with_redact() {
        let fields = ContextFields { env: true, redacted: true, ..ContextFields::default() };
        let mut s = JsonSink::new(Vec::new(), Clock { realtime_offset_ns: 0 }).with_context(fields);
        let mut e = sample();
        s.exec(&e).unwrap();
        e.flags.env_redacted = true;
        s.exec(&e).unwrap();
        e.flags = ExecFlags { args_redacted: true, ..ExecFlags::default() };
        s.exec(&e).unwrap();
        let raw = String::from_utf8(s.into_inner()).unwrap();
        let v: Vec<Value> = raw.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(keys(&v[0], raw.lines().next().unwrap()).last().map(String::as_str), Some("redacted"));
        assert_eq!([&v[0]["redacted"], &v[1]["redacted"], &v[2]["redacted"]], [false, true, true]);
        assert!(v.iter().all(|r| r.get("args_redacted").is_none()), "only with --redact");
        let fields = ContextFields { args_redacted: true, ..ContextFields::default() };
        let mut s = JsonSink::new(Vec::new(), Clock { realtime_offset_ns: 0 }).with_context(fields);
        s.exec(&e).unwrap();
        let v = lines(s.into_inner());
        assert_eq!(v[0]["args_redacted"], true);
        assert!(v[0].get("redacted").is_none(), "--no-redact: no redacted field");
    }

    #[test]
    fn cgroup_field_with_print_cgroup() {
        let mut s = JsonSink::new(Vec::new(), Clock { realtime_offset_ns: 0 }).with_cgroups(true);
        let mut e = sample();
        for path in [Some(&b"/a/b"[..]), None, Some(b"/a/\xff")] {
            e.cgroup = path.map(<[u8]>::to_vec);
            s.exec(&e).unwrap();
        }
        let raw = String::from_utf8(s.into_inner()).unwrap();
        let v: Vec<Value> = raw.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(v[0]["cgroup"], "/a/b");
        assert_eq!(v[1]["cgroup"], Value::Null);
        assert_eq!(decode_bytes(&v[2]["cgroup"]), b"/a/\xff");
        assert_eq!(keys(&v[0], raw.lines().next().unwrap()).last().map(String::as_str), Some("cgroup"));
    }

    #[test]
    fn base64_every_length() {
        for n in 0..10usize {
            let bytes: Vec<u8> = (0..n as u8).map(|i| 0xff - i * 7).collect();
            let mut b = Vec::new();
            push_base64(&mut b, &bytes);
            assert_eq!(b, STANDARD.encode(&bytes).into_bytes());
            assert_eq!(b.len() % 4, 0);
        }
    }

    #[test]
    fn flags_and_argc_zero() {
        let mut e = Exec { args: b"\0".to_vec(), args_size: 1, filename: b"/bin/x".to_vec(), ..Exec::default() };
        let mut s = JsonSink::new(Vec::new(), Clock { realtime_offset_ns: 0 });
        s.exec(&e).unwrap();
        e.args.clear();
        e.args_size = 64;
        e.flags = ExecFlags {
            args_truncated: false,
            args_read_failed: true,
            filename_truncated: true,
            filename_failed: true,
            ..ExecFlags::default()
        };
        s.exec(&e).unwrap();
        let v = lines(s.into_inner());
        assert_eq!(v[0]["argv"], serde_json::json!([""]));
        assert_eq!(v[0]["argv0_empty"], true);
        assert_eq!(v[0]["args_truncated"], false);
        assert_eq!(v[0]["time"], "1970-01-01T00:00:00.000000000Z");
        assert_eq!(v[1]["argv"], serde_json::json!([]));
        assert_eq!(v[1]["args_truncated"], false, "a read failure is not a truncation");
        assert_eq!(v[1]["args_read_failed"], true);
        assert_eq!(v[1]["filename_truncated"], true);
        assert_eq!(v[1]["filename_failed"], true);
    }

    #[test]
    fn lost_and_end() {
        let mut s = JsonSink::new(Vec::new(), Clock { realtime_offset_ns: 951_782_400 * S });
        s.header().unwrap();
        s.lost(&Lost { count: 17, kind: LostKind::Exec, ts_ns: 1_500 }).unwrap();
        s.lost(&Lost { count: 2, kind: LostKind::Malformed, ts_ns: 2_000 }).unwrap();
        s.finish(&Totals { received: 1021, shown: 980, lost: 19 }).unwrap();
        let out = s.into_inner();
        let raw = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            raw,
            "{\"type\":\"lost\",\"ts_ns\":1500,\"time\":\"2000-02-29T00:00:00.000001500Z\",\"kind\":\"exec\",\"count\":17}\n\
             {\"type\":\"lost\",\"ts_ns\":2000,\"time\":\"2000-02-29T00:00:00.000002000Z\",\"kind\":\"malformed\",\"count\":2}\n\
             {\"type\":\"end\",\"received\":1021,\"shown\":980,\"lost\":19}\n"
        );
        let v = lines(out);
        assert_eq!(v.len(), 3);
        assert_eq!(v[2]["type"], "end");
    }

    /// The schema: the one description of the format, field order included.
    const SCHEMA: &str = include_str!("../../schema/execsnoop.schema.json");

    /// A JSON value that keeps its objects' key order (serde_json's `Map`
    /// sorts), enough to compare the order on the wire with the schema's.
    enum J {
        Obj(Vec<(String, J)>),
        Arr(Vec<J>),
        Str(String),
        Other,
    }

    impl J {
        fn get(&self, key: &str) -> Option<&J> {
            match self {
                J::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        fn keys(&self) -> Vec<&str> {
            match self {
                J::Obj(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
                _ => Vec::new(),
            }
        }
    }

    fn parse_ordered(text: &str) -> J {
        fn ws(b: &[u8], i: &mut usize) {
            while *i < b.len() && b[*i].is_ascii_whitespace() {
                *i += 1;
            }
        }
        fn value(b: &[u8], i: &mut usize) -> J {
            ws(b, i);
            match b[*i] {
                open @ (b'{' | b'[') => {
                    let close = if open == b'{' { b'}' } else { b']' };
                    *i += 1;
                    let (mut m, mut a) = (Vec::new(), Vec::new());
                    loop {
                        ws(b, i);
                        if b[*i] == close {
                            *i += 1;
                            break;
                        }
                        if open == b'{' {
                            let J::Str(k) = value(b, i) else { panic!("a key at byte {i}") };
                            ws(b, i);
                            assert_eq!(b[*i], b':', "byte {i}");
                            *i += 1;
                            m.push((k, value(b, i)));
                        } else {
                            a.push(value(b, i));
                        }
                        ws(b, i);
                        if b[*i] == b',' {
                            *i += 1;
                        }
                    }
                    if open == b'{' { J::Obj(m) } else { J::Arr(a) }
                }
                b'"' => {
                    let start = *i;
                    *i += 1;
                    while b[*i] != b'"' {
                        *i += if b[*i] == b'\\' { 2 } else { 1 };
                    }
                    *i += 1;
                    J::Str(serde_json::from_slice(&b[start..*i]).unwrap())
                }
                _ => {
                    while *i < b.len() && !matches!(b[*i], b',' | b'}' | b']') && !b[*i].is_ascii_whitespace() {
                        *i += 1;
                    }
                    J::Other
                }
            }
        }
        let b = text.as_bytes();
        let mut i = 0;
        let v = value(b, &mut i);
        ws(b, &mut i);
        assert_eq!(i, b.len(), "one value");
        // The same text as serde_json reads it: the parse above is faithful.
        serde_json::from_str::<Value>(text).unwrap();
        v
    }

    /// The object schema `node` stands for: itself, what its `$ref` names,
    /// or the first branch of its `anyOf`/`oneOf` that is one.
    fn object_schema<'a>(root: &'a J, node: &'a J) -> Option<&'a J> {
        if node.get("properties").is_some() {
            return Some(node);
        }
        if let Some(J::Str(r)) = node.get("$ref") {
            let name = r.strip_prefix("#/$defs/").unwrap();
            return object_schema(root, root.get("$defs")?.get(name)?);
        }
        for alt in ["anyOf", "oneOf"] {
            if let Some(J::Arr(branches)) = node.get(alt)
                && let Some(o) = branches.iter().find_map(|b| object_schema(root, b))
            {
                return Some(o);
            }
        }
        None
    }

    /// Every object in `v`, at any depth, has only fields its schema `node`
    /// lists, in the order it lists them.
    fn check_order(root: &J, node: &J, v: &J, path: &str) {
        match v {
            J::Obj(fields) => {
                let s = object_schema(root, node)
                    .unwrap_or_else(|| panic!("{path}: an object the schema does not describe"));
                let props = s.get("properties").unwrap();
                let got = v.keys();
                let want: Vec<&str> = props.keys().into_iter().filter(|k| got.contains(k)).collect();
                assert_eq!(got, want, "{path}: fields not in the schema's order, or not in the schema");
                for (k, x) in fields {
                    check_order(root, props.get(k).unwrap(), x, &format!("{path}.{k}"));
                }
            }
            J::Arr(xs) => {
                let items =
                    node.get("items").unwrap_or_else(|| panic!("{path}: an array the schema does not describe"));
                for x in xs {
                    check_order(root, items, x, &format!("{path}[]"));
                }
            }
            J::Str(_) | J::Other => {}
        }
    }

    #[test]
    fn field_order_is_the_schemas() {
        use crate::event::{Ancestor, Container, Context, Privilege};
        let schema = parse_ordered(SCHEMA);
        let defs = schema.get("$defs").unwrap();
        let every = ContextFields {
            cwd: true,
            env: true,
            context: true,
            ancestry: true,
            containers: true,
            args_redacted: true,
            redacted: true,
        };
        let mut s = JsonSink::new(Vec::new(), Clock { realtime_offset_ns: 0 }).with_context(every).with_cgroups(true);
        let mut e = sample();
        e.cgroup = Some(b"/a/\xff".to_vec());
        e.cwd = b"/tmp".to_vec();
        e.env = b"A=1\0B=\xff\0".to_vec();
        e.env_size = 8;
        e.fd_path = b"/dev/fd/3".to_vec();
        e.interp = b"/bin/sh".to_vec();
        e.context = Some(Box::new(Context {
            tty: b"pts0".to_vec(),
            privilege: Privilege { setuid: true, setgid: true, caps: true },
            exec_id: "0123abcd-2-30-1".into(),
            parent_exec_id: Some("0123abcd-1-10-1".into()),
            ancestry: vec![Ancestor { pid: 1, comm: b"in\xffit".to_vec(), exec_id: "0123abcd-1-10-1".into() }],
            ..Context::default()
        }));
        e.container = Some(Container { id: "a".repeat(64), runtime: "kubernetes", pod: Some("p-1".into()) });
        s.exec(&e).unwrap();
        // A failed attempt: no context, so `exec_id` (null) alone of its group.
        e.context = None;
        e.ret = -libc::ENOENT;
        s.exec(&e).unwrap();
        let status = ExitStatus::Signal { signo: 9, core_dumped: true };
        s.exit(&Exit { ts_ns: 2, pid: 1, comm: b"x".to_vec(), exec_ts_ns: 1, status, ..Exit::default() }).unwrap();
        s.lost(&Lost { count: 1, kind: LostKind::Exit, ts_ns: 3 }).unwrap();
        let cost = CommandCost { comm: b"x".to_vec(), execs: 1, exits: 1, ..CommandCost::default() };
        let other = Some(CommandCost { comm: Vec::new(), ..cost.clone() });
        s.summary(&Summary { commands: vec![cost.clone()], other, total: cost, failed_traced: true }).unwrap();
        s.finish(&Totals { received: 2, shown: 2, lost: 1 }).unwrap();

        let raw = String::from_utf8(s.into_inner()).unwrap();
        let records: Vec<J> = raw.lines().map(parse_ordered).collect();
        let mut types = Vec::new();
        for (n, v) in records.iter().enumerate() {
            let Some(J::Str(t)) = v.get("type") else { panic!("line {n}: no type") };
            assert_eq!(v.keys()[0], "type", "line {n}");
            let def = defs.get(t).unwrap_or_else(|| panic!("line {n}: record type {t} not in the schema"));
            check_order(&schema, def, v, t);
            // Every record but the failed attempt carries every field its
            // type has: the whole of the schema's order was compared.
            if n != 1 {
                assert_eq!(v.keys(), def.get("properties").unwrap().keys(), "line {n}: {t}");
            }
            types.push(t.as_str());
        }
        assert_eq!(types, ["exec", "exec", "exit", "lost", "summary", "end"]);
        let failed = &records[1];
        assert!(failed.get("exec_id").is_some() && failed.get("euid").is_none());
    }

    /// `--top --json`'s record (written by crate::top::batch, checked here
    /// with the others): every field, in the schema's order, the rows and
    /// the other row too.
    #[test]
    fn interval_field_order_is_the_schemas() {
        use crate::top::batch::{Facts, write_json};
        use crate::top::{By, Model};
        let schema = parse_ordered(SCHEMA);
        let def = schema.get("$defs").unwrap().get("interval").expect("an interval record in the schema");
        let mut m = Model::with_users(1, Default::default());
        for (pid, comm) in [(1, b"a"), (2, b"b")] {
            m.exec(&Exec { pid, ts_ns: 1, comm: comm.to_vec(), ..Exec::default() });
        }
        m.exit(&Exit { pid: 1, exec_ts_ns: 1, start_ts_ns: 1, ts_ns: 5, cpu_ns: Some(2), ..Exit::default() });
        let mut out = Vec::new();
        let facts = Facts { source: "bpf", fails: true, filters: String::new() };
        write_json(&mut out, &m.snapshot(By::Comm), &Totals::default(), &facts, 0);
        let raw = String::from_utf8(out).unwrap();
        let v = parse_ordered(raw.trim_end());
        check_order(&schema, def, &v, "interval");
        assert_eq!(v.keys(), def.get("properties").unwrap().keys());
        let Some(J::Arr(rows)) = v.get("rows") else { panic!("rows: {raw}") };
        let row_def = def.get("properties").unwrap().get("rows").unwrap().get("items").unwrap();
        assert_eq!(rows[0].keys(), row_def.get("properties").unwrap().keys());
        let other_def = def.get("properties").unwrap().get("other").unwrap();
        assert_eq!(v.get("other").unwrap().keys(), other_def.get("properties").unwrap().keys(), "{raw}");
    }

    #[test]
    fn buffer_is_reused() {
        let e = sample();
        let mut s = JsonSink::new(Vec::new(), Clock { realtime_offset_ns: 0 });
        s.exec(&e).unwrap();
        let (cap, ptr) = (s.buf.capacity(), s.buf.as_ptr());
        for _ in 0..100 {
            s.exec(&e).unwrap();
        }
        assert_eq!((s.buf.capacity(), s.buf.as_ptr()), (cap, ptr));
        assert_eq!(lines(s.into_inner()).len(), 101);
    }
}
