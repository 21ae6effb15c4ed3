//! Reading a process's identity from `/proc`, for the sources that learn of
//! an exec from the kernel but cannot read its arguments there (ftrace
//! without kprobes, the proc connector) and for the `/proc` poller.
//!
//! Everything here is racy by nature: the process may have exited (then its
//! files are gone) or exec'd again between the event and the read. So every
//! record built here says `args_from: procfs`, and a process already gone
//! gets `args_read_failed` with empty arguments rather than a guess; the text
//! sink then shows its name in brackets, e.g. `[true]`.

use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::event::{ArgsFrom, Exec, ExecFlags, SourceKind};

/// What `/proc/PID/stat` says about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The process name (comm).
    pub comm: Vec<u8>,
    /// State letter (R, S, Z, ...).
    pub state: u8,
    /// Parent process id.
    pub ppid: u32,
    /// User and system CPU time in clock ticks.
    pub utime: u64,
    pub stime: u64,
    /// Start time after boot, in clock ticks.
    pub start_ticks: u64,
}

fn proc_path(pid: u32, file: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{file}"))
}

/// Parse the contents of `/proc/PID/stat`. The name is in parentheses and may
/// itself contain spaces and parentheses: it ends at the *last* `)`.
pub fn parse_stat(buf: &[u8]) -> Option<Stat> {
    let open = buf.iter().position(|&b| b == b'(')?;
    let close = buf.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let comm = buf[open + 1..close].to_vec();
    let rest = std::str::from_utf8(buf.get(close + 1..)?).ok()?;
    // Fields after the name, numbered from 3 (state) as in proc(5).
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| f.get(n - 3).copied();
    Some(Stat {
        comm,
        state: *field(3)?.as_bytes().first()?,
        ppid: field(4)?.parse().ok()?,
        utime: field(14)?.parse().ok()?,
        stime: field(15)?.parse().ok()?,
        start_ticks: field(22)?.parse().ok()?,
    })
}

/// `/proc/PID/stat`, parsed.
pub fn read_stat(pid: u32) -> io::Result<Stat> {
    let buf = fs::read(proc_path(pid, "stat"))?;
    parse_stat(&buf).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc/PID/stat"))
}

/// The real uid from `/proc/PID/status`.
pub fn read_uid(pid: u32) -> io::Result<u32> {
    let text = fs::read_to_string(proc_path(pid, "status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_ascii_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Uid line in /proc/PID/status"))
}

/// Up to `cap` bytes of `/proc/PID/cmdline` (the argument area, NUL-separated)
/// and whether there was more.
pub fn read_cmdline(pid: u32, cap: usize) -> io::Result<(Vec<u8>, bool)> {
    let mut f = fs::File::open(proc_path(pid, "cmdline"))?;
    let mut buf = Vec::with_capacity(cap.min(4096));
    let got = (&mut f).take(cap as u64 + 1).read_to_end(&mut buf)?;
    let more = got > cap;
    buf.truncate(cap);
    Ok((buf, more))
}

/// The path of the running executable (`/proc/PID/exe`).
pub fn read_exe(pid: u32) -> io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    Ok(fs::read_link(proc_path(pid, "exe"))?.into_os_string().into_vec())
}

/// The process name from `/proc/PID/comm`, without the newline.
pub fn read_comm(pid: u32) -> io::Result<Vec<u8>> {
    let mut c = fs::read(proc_path(pid, "comm"))?;
    if c.last() == Some(&b'\n') {
        c.pop();
    }
    Ok(c)
}

/// A process of a tree found in `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub pid: u32,
    pub ppid: u32,
    /// Below the root, which is at depth 0.
    pub depth: u32,
    pub comm: Vec<u8>,
}

/// `root` and its descendants now, root first, then breadth first, at most
/// `max` of them, from one scan of the parent ids in `/proc/*/stat`
/// (processes that vanish during the scan are skipped). `None` when `root`
/// does not exist. The one walk of a process tree that the sources (and the
/// bpf source's seeding of `-p`) share.
pub fn descendants(root: u32, max: usize) -> Option<Vec<Member>> {
    let root_stat = read_stat(root).ok()?;
    let mut children: std::collections::HashMap<u32, Vec<(u32, Vec<u8>)>> = std::collections::HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if pid == root {
                continue;
            }
            if let Ok(st) = read_stat(pid) {
                children.entry(st.ppid).or_default().push((pid, st.comm));
            }
        }
    }
    let mut out = vec![Member { pid: root, ppid: root_stat.ppid, depth: 0, comm: root_stat.comm }];
    let mut i = 0;
    while i < out.len() && out.len() < max {
        let (pid, depth) = (out[i].pid, out[i].depth);
        for (child, comm) in children.remove(&pid).unwrap_or_default() {
            if out.len() >= max {
                break;
            }
            out.push(Member { pid: child, ppid: pid, depth: depth + 1, comm });
        }
        i += 1;
    }
    Some(out)
}

/// Build an exec record for `pid` from `/proc`, at kernel time `ts_ns`.
/// `comm` is the name the event itself carried, if any (kept when `/proc`
/// is already gone); `filename` likewise. At most `cap` argument bytes are
/// kept, the rest marked truncated.
pub fn exec_from_proc(
    pid: u32,
    ts_ns: u64,
    source: SourceKind,
    comm: Option<&[u8]>,
    filename: Option<&[u8]>,
    cap: u32,
) -> Exec {
    let mut e = Exec { ts_ns, pid, old_pid: pid, source, args_from: ArgsFrom::Procfs, ..Exec::default() };
    let stat = read_stat(pid).ok();
    e.comm = match (comm, &stat) {
        (Some(c), _) => c.to_vec(),
        (None, Some(s)) => s.comm.clone(),
        (None, None) => Vec::new(),
    };
    e.ppid = stat.as_ref().map_or(0, |s| s.ppid);
    e.uid = read_uid(pid).unwrap_or(u32::MAX);
    e.filename = match filename {
        Some(f) => f.to_vec(),
        None => read_exe(pid).unwrap_or_default(),
    };
    if e.ppid != 0 {
        e.pcomm = read_comm(e.ppid).unwrap_or_default();
    }
    match read_cmdline(pid, cap as usize) {
        // A kernel thread, or a zombie: an empty cmdline is not an argv.
        Ok((args, more)) if !args.is_empty() => {
            e.args_size = args.len() as u32 + u32::from(more);
            e.args = args;
            e.flags = ExecFlags { args_truncated: more, ..ExecFlags::default() };
        }
        _ => e.flags.args_read_failed = true,
    }
    e
}

/// Whether process `pid` exists (it may belong to another user).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks whether the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_of_this_process() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        // Until the child has exec'd, it carries this thread's name.
        for _ in 0..1000 {
            if read_comm(child.id()).is_ok_and(|c| c == b"sleep") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let tree = descendants(std::process::id(), 1000).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!((tree[0].pid, tree[0].depth), (std::process::id(), 0));
        assert_eq!(tree[0].ppid, std::os::unix::process::parent_id());
        let c = tree.iter().find(|m| m.pid == child.id()).expect("child found");
        assert_eq!((c.ppid, c.depth, c.comm.as_slice()), (std::process::id(), 1, &b"sleep"[..]));
        assert_eq!(descendants(std::process::id(), 1).map(|t| t.len()), Some(1), "at most max");
        assert!(descendants(u32::MAX - 1, 1000).is_none());
    }

    #[test]
    fn stat_with_hostile_name() {
        let line = b"4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 100 0 0 0 12 34 0 0 20 0 1 0 98765 1000 200 ";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.comm, b"a) b (c)");
        assert_eq!(s.state, b'S');
        assert_eq!(s.ppid, 17);
        assert_eq!((s.utime, s.stime), (12, 34));
        assert_eq!(s.start_ticks, 98765);
        assert!(parse_stat(b"garbage").is_none());
        assert!(parse_stat(b"1 (x) S").is_none());
    }

    #[test]
    fn own_process() {
        let pid = std::process::id();
        let e = exec_from_proc(pid, 5, SourceKind::Procfs, None, None, 1 << 20);
        assert_eq!(e.pid, pid);
        assert_eq!(e.ppid, std::os::unix::process::parent_id());
        assert!(!e.flags.args_read_failed);
        assert!(!e.args.is_empty());
        assert_eq!(e.args_from, ArgsFrom::Procfs);
        assert!(!e.filename.is_empty());
        // SAFETY: getuid has no preconditions.
        assert_eq!(e.uid, unsafe { libc::getuid() });
        let cut = exec_from_proc(pid, 5, SourceKind::Procfs, Some(b"x"), Some(b"/f"), 2);
        assert_eq!(cut.args.len(), 2);
        assert!(cut.flags.args_truncated && cut.args_incomplete());
        assert_eq!((cut.comm.as_slice(), cut.filename.as_slice()), (&b"x"[..], &b"/f"[..]));
    }

    #[test]
    fn gone_process_is_marked_not_guessed() {
        // pid_max is at most 2^22: this pid cannot exist.
        let e = exec_from_proc(u32::MAX - 1, 5, SourceKind::Netlink, Some(b"true"), None, 100);
        assert!(e.flags.args_read_failed);
        assert!(e.args.is_empty());
        assert_eq!(e.comm, b"true");
    }
}
