//! The private tracefs instance: finding (or mounting) tracefs, creating
//! `instances/execsnoop-<pid>`, setting its clock and buffer, adding the
//! execve kprobes (kprobe_events is global: the group is named after the
//! instance), enabling events, and removing all of it, also what a killed
//! run left behind.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::probe::{self, Arch, Entry, Syscall};
use super::tracker::boot_minus_mono;
use super::{PROBE_ARGS, TRACEFS_DIRS, parse};
use crate::source::{SourceError, proc};

/// The tracefs directory, and whether we had to mount it.
pub(super) fn find_tracefs() -> Result<(PathBuf, bool), SourceError> {
    for dir in TRACEFS_DIRS {
        match fs::metadata(Path::new(dir).join("trace_pipe")) {
            Ok(_) => return Ok((PathBuf::from(dir), false)),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(SourceError::Permission(format!(
                    "the ftrace source needs root: cannot use tracefs at {dir} ({e}); run with sudo"
                )));
            }
            Err(_) => {}
        }
    }
    let dir = TRACEFS_DIRS[0];
    let (Ok(fstype), Ok(target)) = (std::ffi::CString::new("tracefs"), std::ffi::CString::new(dir)) else {
        return Err(SourceError::Other("bad tracefs path".into()));
    };
    // SAFETY: both pointers are valid NUL-terminated strings that outlive
    // the call; no data argument is passed.
    let rc = unsafe { libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    let err = io::Error::last_os_error();
    if rc == 0 && Path::new(dir).join("trace_pipe").exists() {
        return Ok((PathBuf::from(dir), true));
    }
    match err.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => Err(SourceError::Permission(format!(
            "the ftrace source needs root: tracefs is not mounted and mounting it at {dir} failed ({err}); run with sudo"
        ))),
        _ => Err(SourceError::Unsupported(format!(
            "tracefs is not mounted (looked in {} and {}) and mounting it at {dir} failed: {err}",
            TRACEFS_DIRS[0], TRACEFS_DIRS[1]
        ))),
    }
}

fn write_file(path: &Path, value: &str) -> io::Result<()> {
    OpenOptions::new().write(true).open(path)?.write_all(value.as_bytes())
}

/// Append one command to `kprobe_events` (never truncating it: that would
/// delete every probe on the machine).
fn kprobe_command(kprobe_events: &Path, command: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().append(true).open(kprobe_events)?;
    f.write_all(format!("{command}\n").as_bytes())
}

/// Remove the instances (and probe groups) of execsnoop runs whose process
/// no longer exists, e.g. one killed with SIGKILL. Best effort.
pub(super) fn remove_stale(root: &Path, kprobe_events: Option<&Path>) {
    let me = std::process::id();
    let is_stale = |pid: u32| pid != me && !proc::pid_alive(pid);
    if let Ok(entries) = fs::read_dir(root.join("instances")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if parse::instance_pid(&name).is_some_and(is_stale) {
                let dir = entry.path();
                if fs::remove_dir(&dir).is_err() {
                    // Busy: stop its events, then try again.
                    let _ = write_file(&dir.join("tracing_on"), "0");
                    let _ = write_file(&dir.join("events/enable"), "0");
                    let _ = fs::remove_dir(&dir);
                }
            }
        }
    }
    if let Some(kp) = kprobe_events
        && let Ok(listing) = fs::read_to_string(kp)
    {
        for (group, event) in probe::kprobe_listing(&listing) {
            if probe::probe_group_pid(&group).is_some_and(is_stale) && group.starts_with("execsnoop_") {
                let _ = kprobe_command(kp, &format!("-:{group}/{event}"));
            }
        }
    }
}

/// Our tracefs instance, and the kprobes that belong to it. Removed (best
/// effort) by [`Instance::remove`] or on drop.
pub(super) struct Instance {
    pub(super) name: String,
    pub(super) dir: PathBuf,
    kprobe_events: Option<PathBuf>,
    /// `group/event` of each probe we created.
    probes: Vec<String>,
    removed: bool,
    /// Which name it got: 0 for `execsnoop-<pid>`, N for `execsnoop-<pid>-<N>`.
    pub(super) attempt: u32,
}

impl Instance {
    /// Make `instances/execsnoop-<pid>`, or the first free
    /// `execsnoop-<pid>-<n>`, trying names from `first` on (a second
    /// instance of ours starts after the first one's, never touching it).
    pub(super) fn create(
        root: &Path,
        pid: u32,
        kprobe_events: Option<PathBuf>,
        first: u32,
    ) -> Result<Instance, SourceError> {
        let instances = root.join("instances");
        if !instances.is_dir() {
            return Err(SourceError::Unsupported(format!(
                "{} has no instances directory (Linux 3.10 or later is needed for a private trace buffer)",
                root.display()
            )));
        }
        let mut last = None;
        for attempt in first..first + 8 {
            let name = if attempt == 0 { format!("execsnoop-{pid}") } else { format!("execsnoop-{pid}-{attempt}") };
            let dir = instances.join(&name);
            let mut made = fs::create_dir(&dir);
            if matches!(&made, Err(e) if e.kind() == io::ErrorKind::AlreadyExists) && fs::remove_dir(&dir).is_ok() {
                // Left by an earlier process with our pid: gone, reuse the name.
                made = fs::create_dir(&dir);
            }
            match made {
                Ok(()) => {
                    return Ok(Instance { name, dir, kprobe_events, probes: Vec::new(), removed: false, attempt });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    return Err(SourceError::Permission(format!(
                        "the ftrace source needs root: cannot create {} ({e}); run with sudo",
                        dir.display()
                    )));
                }
                Err(e) => {
                    return Err(SourceError::Other(format!("cannot create tracefs instance {}: {e}", dir.display())));
                }
            }
        }
        Err(SourceError::Other(format!(
            "cannot create a tracefs instance in {}: {}",
            instances.display(),
            last.map_or_else(|| "name taken".to_string(), |e| e.to_string())
        )))
    }

    pub(super) fn write(&self, file: &str, value: &str) -> io::Result<()> {
        write_file(&self.dir.join(file), value)
    }

    pub(super) fn enable(&self, file: &str, event: &str, since: &str) -> Result<(), SourceError> {
        let path = self.dir.join(file);
        if !path.exists() {
            return Err(SourceError::Unsupported(format!(
                "this kernel has no {event} trace event (it appeared in Linux {since})"
            )));
        }
        write_file(&path, "1").map_err(|e| SourceError::Other(format!("cannot enable {event}: {e}")))
    }

    /// Switch the trace clock to `boot` if offered, else `mono`; returns the
    /// clock in use and the offset that turns its readings into boot time.
    pub(super) fn set_boot_clock(&self) -> (String, i64) {
        let offered = fs::read_to_string(self.dir.join("trace_clock")).unwrap_or_default();
        let names: Vec<&str> = offered.split_whitespace().map(|c| c.trim_matches(|c| c == '[' || c == ']')).collect();
        for want in ["boot", "mono"] {
            if names.contains(&want) && self.write("trace_clock", want).is_ok() {
                return (want.to_string(), if want == "boot" { 0 } else { boot_minus_mono() });
            }
        }
        let current = offered
            .split_whitespace()
            .find(|c| c.starts_with('['))
            .map_or("local", |c| c.trim_matches(|c| c == '[' || c == ']'))
            .to_string();
        (current, boot_minus_mono())
    }

    /// Create the execve (and, where it exists, execveat) kprobes and enable
    /// them in this instance. Returns the probed execve function.
    pub(super) fn add_probes(&mut self, root: &Path, kprobe_events: &Path) -> Result<&'static str, String> {
        let arch = Arch::current().ok_or("no syscall register layout is known for this architecture")?;
        let readme = fs::read_to_string(root.join("README")).unwrap_or_default();
        let user_access = readme.contains("ustring");
        let group = probe::probe_group(&self.name);
        let mut symbol = None;
        for call in [Syscall::Execve, Syscall::Execveat] {
            let _ = kprobe_command(kprobe_events, &format!("-:{group}/{}", call.event()));
            let mut last_err = String::from("no candidate");
            for entry in [Entry::Wrapper, Entry::Direct] {
                let def = probe::probe_definition(&group, arch, entry, call, PROBE_ARGS, user_access);
                match kprobe_command(kprobe_events, &def) {
                    Ok(()) => {
                        self.probes.push(format!("{group}/{}", call.event()));
                        // Arguments are printed raw: a newline in one would
                        // let the rest read as trace lines of its own (a
                        // forged exec). Such lines are dropped in the kernel;
                        // their exec still comes, with arguments from /proc.
                        let filter = format!("events/{group}/{}/filter", call.event());
                        if let Err(e) = self.write(&filter, &probe::no_newline_filter(PROBE_ARGS)) {
                            self.remove_probes();
                            return Err(format!(
                                "cannot keep arguments with a newline out of the {group}/{} lines: {e}",
                                call.event()
                            ));
                        }
                        let enable = format!("events/{group}/{}/enable", call.event());
                        if let Err(e) = self.write(&enable, "1") {
                            self.remove_probes();
                            return Err(format!("cannot enable {group}/{}: {e}", call.event()));
                        }
                        if call == Syscall::Execve {
                            symbol = Some(probe::probe_symbol(arch, entry, call));
                        }
                        break;
                    }
                    Err(e) => last_err = format!("{}: {e}", probe::probe_symbol(arch, entry, call)),
                }
            }
            if call == Syscall::Execve && symbol.is_none() {
                return Err(last_err);
            }
        }
        symbol.ok_or_else(|| "no execve probe".to_string())
    }

    /// Disable and delete our probes (retrying briefly while the kernel
    /// still counts them busy).
    fn remove_probes(&mut self) {
        let Some(kp) = self.kprobe_events.clone() else { return };
        let probes = std::mem::take(&mut self.probes);
        for probe in probes {
            let _ = self.write(&format!("events/{probe}/enable"), "0");
            for _ in 0..20 {
                match kprobe_command(&kp, &format!("-:{probe}")) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(Duration::from_millis(5)),
                    Err(_) => break,
                }
            }
        }
    }

    /// Stop everything and remove the instance. Best effort, once.
    pub(super) fn remove(&mut self) {
        if self.removed {
            return;
        }
        self.removed = true;
        let _ = self.write("tracing_on", "0");
        let _ = self.write("events/enable", "0");
        self.remove_probes();
        for _ in 0..100 {
            match fs::remove_dir(&self.dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(Duration::from_millis(5)),
                _ => break,
            }
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.remove();
    }
}
