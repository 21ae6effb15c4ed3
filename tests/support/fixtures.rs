//! What tests set up on the machine and take down again: the one temporary
//! directory type of the test tree ([`TempDir`]), cgroups ([`TempCgroup`] and
//! this process's cgroup2 id, path and mount), the user `nobody`, and the
//! unique markers ([`marker`], [`sleep_marker`]) by which a test finds its
//! own processes among everything else on the machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::tracer::run_capture;

/// A token no other process on the machine will have in its arguments:
/// plain alphanumerics (no escaping, no regex meaning), short enough to sit
/// at the start of a capped argument area.
pub fn marker(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("mk{tag}{}x{n}x{nanos}", std::process::id())
}

/// The cgroup v2 id (inode of the cgroup directory) of this process, when
/// a cgroup2 hierarchy is mounted; children inherit it.
pub fn my_cgroup2_id() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?.trim_start_matches('/').to_string();
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let mnt = mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[2] == "cgroup2").then(|| f[1].to_string())
    })?;
    std::fs::metadata(Path::new(&mnt).join(rel)).ok().map(|m| m.ino())
}

/// Where the cgroup2 hierarchy is mounted (`/sys/fs/cgroup`, or
/// `/sys/fs/cgroup/unified` on a hybrid setup), if it is.
fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[2] == "cgroup2").then(|| PathBuf::from(f[1]))
    })
}

/// This process's cgroup v2 path, as `/proc/self/cgroup` gives it (`/` for
/// the root).
pub fn my_cgroup2_path() -> Option<String> {
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cg.lines().find_map(|l| l.strip_prefix("0::")).map(str::to_string)
}

/// A cgroup v2 directory created for a test (with any children made through
/// [`TempCgroup::child`]), removed on drop once its processes are gone.
pub struct TempCgroup {
    /// The directory.
    pub path: PathBuf,
    /// Its path from the root of the hierarchy, e.g. `/execsnoop-test-1-0`.
    pub rel: String,
    children: Vec<PathBuf>,
}

impl TempCgroup {
    /// Make a fresh cgroup directly below the cgroup2 root; panics when
    /// there is no cgroup2 mount or the directory cannot be made.
    pub fn new(tag: &str) -> TempCgroup {
        static N: AtomicU64 = AtomicU64::new(0);
        let mount = cgroup2_mount().expect("a cgroup2 hierarchy is mounted");
        let name = format!("execsnoop-test-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let path = mount.join(&name);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempCgroup { path, rel: format!("/{name}"), children: Vec::new() }
    }

    /// Make a child cgroup `name` below this one; returns its directory.
    pub fn child(&mut self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        self.children.push(p.clone());
        p
    }

    /// A `sh -c` script prefix that moves the shell into cgroup `dir`.
    pub fn enter_script(dir: &Path) -> String {
        format!("echo $$ > '{}/cgroup.procs' && ", dir.display())
    }
}

impl Drop for TempCgroup {
    fn drop(&mut self) {
        // A cgroup can be removed once its last process has been reaped;
        // retry briefly in case the kernel is still tearing one down.
        for dir in self.children.iter().rev().chain(std::iter::once(&self.path)) {
            for _ in 0..100 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The uid of user `nobody`, from `id -u nobody`.
pub fn nobody_uid() -> u32 {
    let (_, f) = run_capture(Command::new("id").args(["-u", "nobody"]));
    f.stdout_str().trim().parse().unwrap_or_else(|_| panic!("no user nobody?\n{}", f.dump()))
}

/// A unique argument GNU `sleep` accepts (it adds up its arguments): a few
/// nanoseconds of extra sleep, spelled with this test process's pid, a
/// counter and the time, so it doubles as a marker no other process has.
pub fn sleep_marker() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("0.0000000{}{n:03}{nanos:09}", std::process::id())
}

/// A temporary directory (mode 0755, so other users may use what is in it
/// once /tmp is), removed with everything in it on drop, also when a test
/// fails.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::os::unix::fs::PermissionsExt;
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "execsnoop-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        TempDir { path }
    }

    /// A copy of program `from` named `name` in this directory (its process
    /// name after exec is then `name`).
    pub fn copy_program(&self, from: &str, name: &str) -> PathBuf {
        let to = self.path.join(name);
        std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {from} to {}: {e}", to.display()));
        to
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
