//! The JSON sink: one JSON object per line, for programs.
//!
//! This module owns the machine-readable wire format (`--json`). Every record
//! is one JSON object on one line, ending in `\n` (newline-delimited JSON,
//! "JSON Lines"); no object ever contains a raw newline. Objects are written
//! in stream order: execs and loss reports as they happen, one `end` object
//! last. There is no header object.
//!
//! Every object has a `type` field, always first, naming its record type. A
//! consumer should ignore record types and fields it does not know: later
//! versions may add them (at the end of an object), but will not remove or
//! change the meaning of the ones documented here.
//!
//! # Record types
//!
//! ## `exec`
//!
//! One successful exec(), seen after the new program is in place, or (with
//! `-x`) one failed exec attempt, whose `ret` is negative. Fields, in this
//! order:
//!
//! * `type` — the string `"exec"`.
//! * `ts_ns` — unsigned integer: kernel timestamp, nanoseconds since boot
//!   (`CLOCK_BOOTTIME`). Use it to order records and measure intervals.
//! * `time` — string: the same instant as wall-clock time, UTC, RFC 3339 with
//!   exactly nine fraction digits, e.g. `"2026-11-26T03:08:07.123456789Z"`.
//!   It is `ts_ns` plus the offset between the real-time and boot clocks
//!   measured once when tracing started, so a later change of the system
//!   clock (NTP step, manual set) does not move it.
//! * `pid` — unsigned integer: process id (thread group id) after the exec.
//! * `old_pid` — unsigned integer: id of the thread that called exec(); it
//!   differs from `pid` only when a thread other than the leader did.
//! * `ppid` — unsigned integer: process id of the real parent.
//! * `uid` — unsigned integer: real user id.
//! * `cgroup_id` — unsigned integer: cgroup v2 id of the process.
//! * `comm` — byte string (see below): the process name after the exec, as
//!   the kernel keeps it (at most 15 bytes).
//! * `filename` — byte string: the path the exec was given, as the kernel
//!   recorded it.
//! * `argv` — array of byte strings: the arguments, argv\[0\] first, exactly
//!   as captured, after redaction (see `redacted`: a secret reads
//!   `<redacted>`; the count of arguments never changes). When
//!   `args_truncated` is true the last element is the partial argument at
//!   which the capture stopped. When `argv0_empty` is true the first element
//!   is `""` (or the array is empty).
//! * `args_size` — unsigned integer: size in bytes of the whole argument area
//!   in the process (all arguments with their NUL terminators), whether or not
//!   all of it was captured. In a redacted record each hidden part counts as
//!   the `<redacted>` shown, so no size reveals a secret's length.
//! * `args_truncated` — boolean: the arguments were cut (at the capture cap,
//!   `--arg-bytes`): `argv` holds only the first part. False when
//!   `args_read_failed` is true. Redaction never sets it.
//! * `args_read_failed` — boolean: reading the argument area failed; `argv`
//!   holds what was read before the failure, possibly nothing.
//! * `filename_truncated` — boolean: `filename` was longer than could be
//!   carried and holds only its first part.
//! * `filename_failed` — boolean: the filename could not be read; `filename`
//!   is empty or partial.
//! * `argv0_empty` — boolean: the process has no usable argv\[0\] (it was
//!   started with argc 0, which the kernel turns into one empty argument, or
//!   with an empty argv\[0\]).
//! * `pcomm` — byte string: the real parent's process name.
//! * `interp` — byte string, or `null`: the interpreter the kernel ran for a
//!   `#!` script (or a binfmt_misc handler), e.g. `"/bin/sh"`; `null` when
//!   the file was run directly. `filename` is then the script, and `argv`
//!   is the argument vector the kernel built for the interpreter.
//! * `ret` — integer: 0 for a successful exec, -errno for a failed attempt
//!   (only with `-x`; without it every record has 0).
//! * `errno` — string, or `null`: the symbolic name of -`ret`, e.g.
//!   `"ENOENT"` (`"E<number>"` for a number without a name); `null` when
//!   `ret` is 0.
//! * `fileless` — boolean: the executed file has no name on disk (a memfd run
//!   with fexecve, or a deleted file); `filename` is then what the kernel
//!   calls it, e.g. `"memfd:name (deleted)"`.
//! * `interp_truncated` — boolean: `interp` was longer than could be carried
//!   and holds only its first part.
//! * `source` — string: the event source that saw the exec: `"bpf"`,
//!   `"ftrace"`, `"netlink"` or `"procfs"`.
//! * `args_from` — string: where `filename` and `argv` were read: `"exec"`
//!   (the new process's own memory, read in the kernel at the exec: exact),
//!   `"probe"` (a kprobe on the exec syscall: exact up to its argument
//!   limit), `"procfs"` (`/proc/PID/cmdline` read after the event: racy; when
//!   the process was already gone `argv` is empty and `args_read_failed` is
//!   true).
//! * `depth` — unsigned integer, or `null`: depth below the traced root (`-p`,
//!   a COMMAND) or below the first ancestor seen, when processes are followed
//!   (`-e`, `--wait`, `--summary`, `-p`, a COMMAND, `--tree`); else `null`.
//! * `fd_path` — byte string, or `null`: for an exec through a file
//!   descriptor (execveat with a directory fd or `AT_EMPTY_PATH`, fexecve),
//!   the name the kernel recorded, `"/dev/fd/N"` or `"/dev/fd/N/name"`;
//!   `filename` is then the file that really ran, found by walking its
//!   dentries up to the root: an absolute path such as `"/usr/bin/true"`;
//!   for a memfd `"/memfd:name"`, as `/proc/PID/exe` shows it, with
//!   `fileless` true. A path deeper than the walk (24 levels) lacks its
//!   leading directories (no leading `/`) and has `filename_truncated` true.
//!   `null` for an exec by path.
//! * `parts_lost` — boolean: part of what the kernel captured for this exec
//!   did not fit in the full ring buffer (bpf source): the interpreter, the
//!   file behind a descriptor or the rest of the arguments are missing
//!   (`argv` then holds what arrived, and `args_truncated` is true when it is
//!   short). The exec itself is not lost.
//! * `cgroup` — byte string, or `null`; only with `--print-cgroup`: the
//!   process's cgroup v2 path from the root of the hierarchy, as in
//!   `/proc/PID/cgroup` (e.g. `"/system.slice/cron.service"`, `"/"` for the
//!   root); `null` when no cgroup with that id could be found (it was
//!   removed, or created less than a moment ago).
//!
//! ### Context fields
//!
//! Written after `cgroup`, each group only when an option asks for it (so a
//! plain `--json` record is unchanged). All of it is read by the kernel at
//! the exec (bpf source only; the other sources refuse these options).
//!
//! With `--cwd`:
//! * `cwd` — byte string, or `null`: the working directory at the exec, in
//!   the process's own view (its root and mounts; a container's cwd is the
//!   path inside it); `null` when it could not be read.
//! * `cwd_truncated` — boolean: the path was deeper or longer than the walk
//!   (24 levels, as for `fd_path`) and lacks its leading directories (no
//!   leading `/`).
//!
//! With `--env`:
//! * `env` — array of byte strings: the environment block, `NAME=value` each,
//!   as captured, after redaction: the value of a variable whose name looks
//!   secret is `<redacted>`, and so is a secret-looking part of any value (a
//!   URL's password, a token); see `redacted` and the README's list
//!   (`--no-redact` keeps them).
//! * `env_size` — unsigned integer: size in bytes of the whole block in the
//!   process, captured or not; counted after redaction as `args_size` is.
//! * `env_truncated` — boolean: cut at `--env-bytes` (default 32 KiB); the
//!   last element is then the partial variable at which it stopped.
//! * `env_read_failed` — boolean: reading the block failed.
//!
//! With `--redact REGEX`:
//! * `args_redacted` — boolean: a part of `argv` now reads `<redacted>` (by
//!   any rule). Kept for compatibility: `redacted` says the same and more.
//!
//! With `--context` (and, of these, `exec_id`, `parent_exec_id` and
//! `ancestry` also with `--ancestry N`):
//! * `euid`, `gid`, `egid` — unsigned integers: the new program's effective
//!   user id and its real and effective group ids (`uid` is the real one).
//! * `loginuid`, `sessionid` — unsigned integer, or `null`: the audit login
//!   uid and session id (who logged in, kept across `sudo` and `su`); `null`
//!   when unset (a process never below a login, e.g. a daemon).
//! * `tty` — string, or `null`: the controlling terminal, e.g. `"pts0"`.
//! * `nspid` — unsigned integer: the pid as the process's own pid namespace
//!   sees it (`1` for a container's init; `pid` stays the host's).
//! * `namespaces` — object of unsigned integers `pid`, `mnt`, `net`, `user`,
//!   `uts`, `ipc`, `cgroup`: the namespace ids (the inode numbers
//!   `/proc/PID/ns/*` shows) of the new process.
//! * `privilege` — array of strings, empty when none: how this exec raised
//!   privileges: `"setuid"` (a set-user-ID file: `euid` differs from `uid`),
//!   `"setgid"` (likewise for groups), `"caps"` (file capabilities gave a
//!   process whose uid and euid are not 0 effective capabilities).
//! * `cap_effective` — unsigned integer: the effective capability set, as a
//!   bit mask (bit N is capability N).
//! * `exec_id` — string: this exec's id, `BOOT-PID-START-N`: the first 8 hex
//!   digits of the boot id, the pid, the task's start time in ns since boot
//!   and its exec count (every exec increments it), all read in the kernel:
//!   unique on the machine for the boot, and two tracers agree on it.
//!   `null` for a failed attempt (`-x`), which has no context (the only
//!   context field such a record carries).
//! * `parent_exec_id` — string, or `null`: the `exec_id` of the parent's
//!   current program, when that exec was seen by this run; else `null`.
//! * `ancestry` — only with `--ancestry N`: array of up to N objects
//!   `{"pid", "comm", "exec_id"}`, the parent first, as far as the execs
//!   seen by this run reach.
//!
//! With `--context`, `--print-container` or `--container`:
//! * `container_id` — string, or `null`: the 64-hex-digit id of the container
//!   the process runs in, read off its cgroup path; `null` on the host (and
//!   for a Kubernetes pod's sandbox, which has only `pod_uid`).
//! * `container_runtime` — string, or `null`: `"docker"`, `"podman"`,
//!   `"containerd"`, `"cri-o"` or `"kubernetes"` (a pod whose container
//!   level is not in the path).
//! * `pod_uid` — string, or `null`: the Kubernetes pod UID, with dashes.
//!
//! ### Redaction
//!
//! Last, in every exec record unless `--no-redact`:
//! * `redacted` — boolean: a part of `argv` or of `env` was replaced by
//!   `<redacted>` before any output saw it (default rules: secret-looking
//!   variable names, `NAME=value` arguments, options such as `--password`,
//!   and values such as a URL's password or a token; and `--redact REGEX`;
//!   see the README's list). In a record where it is false, a `<redacted>`
//!   was in the process's own arguments. Absent with `--no-redact`, which
//!   hides nothing.
//!
//! ```json
//! {"type":"exec","ts_ns":12345678901234,"time":"2026-11-26T03:08:07.123456789Z","pid":4242,"old_pid":4242,"ppid":4100,"uid":1000,"cgroup_id":7390,"comm":"ls","filename":"/usr/bin/ls","argv":["ls","-l",{"bytes":"/w=="}],"args_size":12,"args_truncated":false,"args_read_failed":false,"filename_truncated":false,"filename_failed":false,"argv0_empty":false,"pcomm":"bash","interp":null,"ret":0,"errno":null,"fileless":false,"interp_truncated":false,"source":"bpf","args_from":"exec","depth":null,"fd_path":null,"parts_lost":false,"redacted":false}
//! ```
//!
//! ## `exit`
//!
//! Only with `-e`, `--wait` or `--summary`: a process ended (its last thread;
//! threads ending are not process ends). Written for processes that exec'd
//! while traced, and for processes forked while traced that never exec'd
//! (a shell's subshells: `exec_ts_ns` is `null`, `comm` is their parent's
//! program). Fields, in this order:
//!
//! * `type` — the string `"exit"`.
//! * `ts_ns`, `time` — when it ended, as for `exec`.
//! * `pid`, `ppid`, `comm` — as for `exec`, at the time of the exit.
//! * `exec_ts_ns` — unsigned integer, or `null`: the `ts_ns` of the `exec`
//!   record this exit ends; `(pid, exec_ts_ns)` joins the two. `null` when
//!   the process did not exec while traced.
//! * `exit_code` — unsigned integer, or `null`: the code it exited with;
//!   `null` when a signal killed it or the source does not know.
//! * `signal`, `signal_name` — unsigned integer and string, or `null`: the
//!   signal that killed it, e.g. `9` and `"SIGKILL"`.
//! * `core_dumped` — boolean.
//! * `lifetime_ns` — unsigned integer, or `null`: from its exec (or its fork,
//!   for a process that never exec'd) to its end; `null` when unknown.
//! * `cpu_ns` — unsigned integer, or `null`: CPU time, user and system, all
//!   threads, used over that span (from the kernel's accounted runtime);
//!   `null` when the source cannot know it.
//! * `depth`, `source` — as for `exec`.
//!
//! ```json
//! {"type":"exit","ts_ns":12345979901234,"time":"2026-11-26T03:08:07.424456789Z","pid":4242,"ppid":4100,"comm":"ls","exec_ts_ns":12345678901234,"exit_code":0,"signal":null,"signal_name":null,"core_dumped":false,"lifetime_ns":301000000,"cpu_ns":1200000,"depth":null,"source":"bpf"}
//! ```
//!
//! ## `summary`
//!
//! Only with `--summary`: written once when tracing ends, just before `end`.
//! The commands by cost, most CPU first:
//!
//! * `type` — the string `"summary"`.
//! * `commands` — array of objects, one per command name, sorted by `cpu_ns`
//!   (most first), each with: `comm` (byte string: the name, as the kernel
//!   keeps it), `execs` (successful execs of it), `failed` (failed attempts,
//!   `-x`, counted under the last component of the path tried, cut to 15
//!   bytes; `null` without `-x`), `exits` (processes running it that ended),
//!   `forks` (of those, forked children that never exec'd and so ran this
//!   program of their parent's), `cpu_ns` and `lifetime_ns` (sums over those
//!   exits), `mean_cpu_ns` and `mean_lifetime_ns` (per exit; `null` with no
//!   exit), `running` (execs whose process had not ended).
//! * `total` — the same numbers over all commands, without `comm`. Its
//!   `cpu_ns` and `lifetime_ns` are exactly the sums of `cpu_ns` and
//!   `lifetime_ns` over the `exit` records written.
//! * `other` — object, or `null`: at most 4096 names get an entry of their
//!   own in `commands` (the traced processes choose their names, and could
//!   make the table as long as they like); the numbers of all further names
//!   are added up here, as in `total` (without `comm`). `null` when there
//!   were no more names. `total` includes it.
//!
//! ## `lost`
//!
//! Records that were dropped before they reached execsnoop. It appears at the
//! point in the stream where the loss was noticed: the lost records happened
//! after the previous record and before this one. Fields, in this order:
//!
//! * `type` — the string `"lost"`.
//! * `ts_ns` — unsigned integer: when the loss was noticed, nanoseconds since
//!   boot.
//! * `time` — string: the same instant as `ts_ns`, formatted like an exec's
//!   `time`.
//! * `kind` — string: `"exec"` for exec records the kernel could not queue
//!   because the ring buffer was full; `"failed-exec"` for failed-attempt
//!   records (`-x`) lost the same way; `"untracked-attempt"` for exec
//!   attempts (`-x`) that could not be followed because too many were in
//!   flight at once (had they failed, they would not be shown);
//!   `"malformed"` for records that arrived but could not be decoded (a bug
//!   in execsnoop; counted, never hidden); `"exit"` for exit records lost
//!   because the ring buffer was full; `"untracked-process"` for processes
//!   the kernel could not follow because its process table was full (their
//!   exits, and with `-p` their descendants, are missing); `"trace-overrun"`
//!   for events the ftrace buffer overwrote; `"newline-filename"` for execs
//!   whose file name has a newline, which the ftrace source counts and never
//!   shows (in its text stream the name could forge records);
//!   `"socket-overflow"` for times the netlink socket overflowed (`count`
//!   counts overflows: how many events each one dropped is not known).
//! * `count` — unsigned integer: how many records of that kind were lost since
//!   the previous `lost` object of that kind.
//!
//! ```json
//! {"type":"lost","ts_ns":12345678901234,"time":"2026-11-26T03:08:07.123456789Z","kind":"exec","count":17}
//! ```
//!
//! ## `end`
//!
//! Written once, last, when tracing ends normally. Fields, in this order:
//!
//! * `type` — the string `"end"`.
//! * `received` — unsigned integer: exec records received, before filtering.
//! * `shown` — unsigned integer: exec objects written (those that passed the
//!   filters).
//! * `lost` — unsigned integer: records lost over the whole run, all kinds
//!   (the sum of all `lost` counts).
//!
//! ```json
//! {"type":"end","received":1021,"shown":980,"lost":17}
//! ```
//!
//! # Byte strings
//!
//! `comm`, `pcomm`, `filename`, `interp`, `cgroup` and the elements of `argv`
//! come from the traced process or the file system
//! and are arbitrary bytes: Linux does not require them to be UTF-8. Each is
//! encoded as one of:
//!
//! * a JSON string, when the bytes are valid UTF-8. It holds exactly those
//!   characters; control characters are escaped the JSON way (`\n`,
//!   `\u001b`, ...). No other transformation is applied: bidirectional and
//!   other format characters arrive as they are, and a consumer that shows
//!   them to people must make them safe itself.
//! * an object `{"bytes":"..."}` otherwise, whose only field holds the bytes
//!   in standard base64 (RFC 4648 section 4: alphabet `A-Z a-z 0-9 + /`, with
//!   `=` padding).
//!
//! Either way every byte is recoverable exactly: decode the string as UTF-8
//! bytes, or the base64 as raw bytes. For example the argument `\xff` (one
//! byte, not UTF-8) is written `{"bytes":"/w=="}`.

use std::io::{self, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::errno;
use crate::format::{push_i64, push_rfc3339, push_u64};
use crate::event::{Exec, Exit, ExitStatus, Lost, Totals};
use crate::summary::{CommandCost, Summary};
use crate::sink::{Clock, Sink};

/// Which groups of context fields exec records carry (each asked for by
/// its option; see the module documentation).
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
}

impl<W: Write> JsonSink<W> {
    /// A sink writing JSON lines to `out`.
    pub fn new(out: W, clock: Clock) -> Self {
        JsonSink { out, clock, cgroups: false, fields: ContextFields::default(), buf: Vec::with_capacity(4096) }
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
        push_head(b, "exec", e.ts_ns, &self.clock);
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
        push_head(b, "exit", x.ts_ns, &self.clock);
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
        push_head(b, "lost", l.ts_ns, &self.clock);
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

/// The context fields of an exec record, in the order documented.
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
    match std::str::from_utf8(s) {
        Ok(text) => serde_json::to_writer(&mut *b, text).map_err(io::Error::from),
        Err(_) => {
            b.extend_from_slice(b"{\"bytes\":\"");
            push_base64(b, s);
            b.extend_from_slice(b"\"}");
            Ok(())
        }
    }
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
/// (the buffer is cleared first).
fn push_head(b: &mut Vec<u8>, typ: &str, ts_ns: u64, clock: &Clock) {
    b.clear();
    b.extend_from_slice(b"{\"type\":\"");
    b.extend_from_slice(typ.as_bytes());
    b.extend_from_slice(b"\",\"ts_ns\":");
    push_u64(b, ts_ns);
    b.extend_from_slice(b",\"time\":\"");
    push_rfc3339(b, clock.wall_ns(ts_ns), 9);
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

    /// Decode a byte-string field back to bytes, per the documented format.
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

    /// The schema (`schema/execsnoop.schema.json`) is the format's one
    /// description: every record kind the writer makes, with every field
    /// asked for, has exactly the properties the schema lists for it, in the
    /// schema's order.
    #[test]
    fn every_record_kind_has_the_schema_fields_in_the_schema_order() {
        let schema: Value = serde_json::from_str(include_str!("../../schema/execsnoop.schema.json")).unwrap();
        let all = ContextFields {
            cwd: true,
            env: true,
            context: true,
            ancestry: true,
            containers: true,
            args_redacted: true,
            redacted: true,
        };
        let mut s = JsonSink::new(Vec::new(), Clock { realtime_offset_ns: 0 }).with_cgroups(true).with_context(all);
        let mut e = sample();
        e.cgroup = Some(b"/x".to_vec());
        e.context = Some(Box::default());
        e.container = Some(crate::event::Container { runtime: "podman", id: "ab".into(), pod: None });
        s.exec(&e).unwrap();
        let x = Exit { pid: 1, exec_ts_ns: 1, ts_ns: 2, status: ExitStatus::Code(0), ..Exit::default() };
        s.exit(&x).unwrap();
        s.lost(&Lost { count: 1, kind: LostKind::Exec, ts_ns: 3 }).unwrap();
        s.summary(&Summary::default()).unwrap();
        s.finish(&Totals::default()).unwrap();
        let out = lines(s.into_inner());
        let kinds: Vec<&str> = out.iter().map(|v| v["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["exec", "exit", "lost", "summary", "end"]);
        for v in &out {
            let kind = v["type"].as_str().unwrap();
            let want: Vec<&String> = schema["$defs"][kind]["properties"].as_object().unwrap().keys().collect();
            let got: Vec<&String> = v.as_object().unwrap().keys().collect();
            assert_eq!(got, want, "{kind}: the written fields, in order, against the schema's");
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
