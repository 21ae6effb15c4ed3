//! cgroup v2 for user space: where the hierarchy is mounted, what a `-c PATH`
//! directory is to the kernel (its id and level, for the in-kernel filter),
//! and which path a record's cgroup id stands for (`--print-cgroup`).
//!
//! This module owns every look at `/proc/self/mountinfo` and at the cgroup2
//! tree. On cgroup2 a directory's inode number is the kernel's cgroup id
//! (what `bpf_get_current_cgroup_id()` returns), and ids are 64-bit and never
//! reused, so an id that was once found under a path names that cgroup for
//! good (cgroup2 does not rename directories).
//!
//! Paths are shown as `/proc/PID/cgroup` shows them: from the root of the
//! hierarchy, `/` for the root itself, e.g. `/system.slice/cron.service`.
//! On a machine where cgroup2 is mounted below a cgroup namespace root or as a
//! bind mount of a subtree, the mount's root (from mountinfo) is prefixed and
//! counted in the level; inside a cgroup namespace both are relative to the
//! namespace's root, as everything else in that namespace is.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where mountinfo is read from.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// `statfs.f_type` of a cgroup2 file system.
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
/// `statfs.f_type` of a cgroup v1 file system.
const CGROUP_SUPER_MAGIC: u64 = 0x0027_e0eb;

/// A resolver walks the tree again for an unknown id at most this often.
pub const REWALK_MIN: Duration = Duration::from_millis(200);

/// More directories than this in one walk are not indexed (a bound on the
/// memory and time one walk can take; real trees have hundreds). The first
/// walk that reaches it says so on stderr, once.
const WALK_MAX_DIRS: usize = 200_000;

/// Walking is paid from a budget that grows by 1/20 of the time that
/// passes, up to [`WALK_BURST`]: a user who can make cgroups (a delegated
/// subtree) and execs in a new one each time, so that every exec is a first
/// miss, cannot keep the tracer walking more than 1/20 of the time, however
/// large they make the tree. A walk of a tree of hundreds of cgroups takes
/// a millisecond or less, so a new container's first exec still finds its
/// path at once unless such a user has just spent the budget.
const WALK_SHARE: u32 = 20;

/// The most walking time the budget holds (and holds at start).
const WALK_BURST: Duration = Duration::from_millis(50);

fn burst_ns() -> i64 {
    ns(WALK_BURST)
}

fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Paths of cgroups that were removed since they were indexed are kept (ids
/// are never reused, so they stay true: a `-d` run formats its records after
/// the fact) as long as the index holds no more than this many entries.
pub const KEEP_REMOVED_MAX: usize = 16_384;

/// A mounted cgroup2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup`.
    pub mount_point: PathBuf,
    /// The cgroup the mount shows at its top, from mountinfo's root field:
    /// `/` for a mount of the whole hierarchy.
    pub root: Vec<u8>,
}

/// A cgroup2 directory as the kernel identifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    /// The cgroup id: the directory's inode number.
    pub id: u64,
    /// Depth below the root of the hierarchy (the root is level 0).
    pub level: u32,
}

/// Every cgroup2 mount listed in a mountinfo text, in order.
pub fn parse_mountinfo(text: &[u8]) -> Vec<Hierarchy> {
    let mut found = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        // id parent major:minor root mount_point options [optional...] - fstype source super_options
        let Some(sep) = fields.iter().skip(6).position(|f| *f == b"-").map(|p| p + 6) else { continue };
        if fields.get(sep + 1) != Some(&&b"cgroup2"[..]) || fields.len() < 5 {
            continue;
        }
        let mount_point = PathBuf::from(OsStr::from_bytes(&unescape_octal(fields[4])));
        found.push(Hierarchy { mount_point, root: unescape_octal(fields[3]) });
    }
    found
}

/// Undo mountinfo's escaping of space, tab, newline and backslash (`\040`).
fn unescape_octal(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\'
            && let Some(d) = s.get(i + 1..i + 4)
            && d.iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let v = d.iter().fold(0u32, |acc, &b| acc * 8 + u32::from(b - b'0'));
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// The cgroup2 mounts of this process's mount namespace.
pub fn mounts() -> io::Result<Vec<Hierarchy>> {
    Ok(parse_mountinfo(&std::fs::read(MOUNTINFO)?))
}

/// The cgroup2 hierarchy to show paths from: the first mount of the whole
/// hierarchy, else the first cgroup2 mount; `None` when there is none.
pub fn find_hierarchy() -> io::Result<Option<Hierarchy>> {
    let all = mounts()?;
    let whole = all.iter().position(|h| h.root == b"/");
    Ok(whole.or((!all.is_empty()).then_some(0)).map(|i| all[i].clone()))
}

/// Find the cgroup2 directory `path` names (`-c PATH`): its id and level.
/// The error is one line, ready to follow the path in a message.
pub fn locate(path: &Path) -> Result<Located, String> {
    let canon = std::fs::canonicalize(path).map_err(|e| io_reason(&e))?;
    let meta = std::fs::metadata(&canon).map_err(|e| io_reason(&e))?;
    if !meta.is_dir() {
        return Err("not a directory".into());
    }
    let all = mounts().map_err(|e| format!("cannot read {MOUNTINFO}: {}", io_reason(&e)))?;
    let hint = match all.first() {
        Some(h) => format!("cgroup v2 is mounted at {}", h.mount_point.display()),
        None => "no cgroup v2 hierarchy is mounted".to_string(),
    };
    match fs_type(&canon) {
        Ok(CGROUP2_SUPER_MAGIC) => {}
        Ok(CGROUP_SUPER_MAGIC) => return Err(format!("a cgroup v1 directory; -c needs cgroup v2 ({hint})")),
        Ok(_) => return Err(format!("not a cgroup v2 directory ({hint})")),
        Err(e) => return Err(io_reason(&e)),
    }
    // The mount it is under: the longest cgroup2 mount point that is a
    // prefix of the canonical path.
    let mount = all
        .iter()
        .filter(|h| canon.starts_with(&h.mount_point))
        .max_by_key(|h| h.mount_point.components().count())
        .ok_or_else(|| format!("on cgroup v2 but under no cgroup2 mount listed in {MOUNTINFO}"))?;
    let below = canon.strip_prefix(&mount.mount_point).map(|p| p.components().count()).unwrap_or(0);
    let root_depth = mount.root.split(|&b| b == b'/').filter(|c| !c.is_empty()).count();
    let level = u32::try_from(below + root_depth).map_err(|_| "nested too deeply".to_string())?;
    Ok(Located { id: meta.ino(), level })
}

/// An I/O error without Rust's "(os error N)" suffix.
fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// `statfs(path).f_type`.
fn fs_type(path: &Path) -> io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: statfs is plain old data; all-zero is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statfs;
    // statfs writes only into `st`.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // f_type's C type differs between architectures; magic numbers are
    // positive 32-bit values on all of them.
    #[allow(clippy::unnecessary_cast, reason = "f_type is i64 on some targets, u32 on others")]
    let magic = st.f_type as u64 & 0xffff_ffff;
    Ok(magic)
}

/// Maps cgroup ids to their paths (`--print-cgroup`), from a walk of the
/// hierarchy at start. An id it does not know is asked of the kernel
/// directly where it can be ([`Resolver::by_handle`]: cgroup2 file handles
/// are cgroup ids, Linux 5.5 and later, with CAP_DAC_READ_SEARCH): one
/// system call, whatever the size of the tree, and a cgroup already
/// removed is known to be gone. Elsewhere an unknown id triggers a new
/// walk at once the first time it is asked for (a cgroup made since the
/// last walk: a container starting), and after that at most every
/// [`REWALK_MIN`], and walks are paid from a budget (see [`WALK_SHARE`]);
/// an id still unknown is reported as unknown, never guessed. An id once
/// found keeps its path after the cgroup is removed (cgroup2 never reuses
/// an id nor renames a directory), within [`KEEP_REMOVED_MAX`]. Lookups of
/// known ids allocate nothing; the index holds at most [`PATHS_MAX`] paths.
#[derive(Debug)]
pub struct Resolver {
    hierarchy: Hierarchy,
    paths: HashMap<u64, Box<[u8]>>,
    /// Ids a walk did not find (at most [`MISSED_MAX`]): asked for again,
    /// they wait for the re-walk interval.
    missed: std::collections::HashSet<u64>,
    last_walk: Instant,
    /// Walking time left in the budget, ns, as of `credit_at`; below zero
    /// after a walk that cost more than was left (paid back first).
    credit: i64,
    credit_at: Instant,
    min_interval: Duration,
    /// The walk reached [`WALK_MAX_DIRS`] (said once).
    capped: bool,
    /// The hierarchy's mount, for [`Resolver::by_handle`]; `None` when the
    /// kernel cannot open cgroups by id (then walks).
    mount: Option<std::fs::File>,
    /// A path found by handle when the index is full.
    spare: Box<[u8]>,
    /// Walks done (the first at start included).
    pub(crate) walks: u64,
}

/// Paths the index holds at most: a full walk and the removed ones kept.
pub const PATHS_MAX: usize = WALK_MAX_DIRS + KEEP_REMOVED_MAX;

/// What the kernel says of a cgroup id opened by handle.
enum ByHandle {
    Found(Box<[u8]>),
    /// No such cgroup (any more).
    Gone,
    /// Cannot tell: walk.
    Unknown,
}

/// Ids remembered as missed, at most (then forgotten at once).
const MISSED_MAX: usize = 4096;

impl Resolver {
    /// Index the hierarchy now; walk again on a miss at most every
    /// [`REWALK_MIN`].
    pub fn new(hierarchy: Hierarchy) -> Resolver {
        Resolver::with_interval(hierarchy, REWALK_MIN)
    }

    /// Like [`Resolver::new`] with another re-walk interval.
    pub fn with_interval(hierarchy: Hierarchy, min_interval: Duration) -> Resolver {
        let mut r = Resolver {
            hierarchy,
            paths: HashMap::new(),
            missed: std::collections::HashSet::new(),
            last_walk: Instant::now(),
            credit: burst_ns(),
            credit_at: Instant::now(),
            min_interval,
            capped: false,
            mount: None,
            spare: Box::default(),
            walks: 0,
        };
        r.walk();
        // The walk at start is not paid from the budget.
        r.credit = burst_ns();
        if fs_type(&r.hierarchy.mount_point).ok() == Some(CGROUP2_SUPER_MAGIC) {
            r.mount = std::fs::File::open(&r.hierarchy.mount_point).ok();
        }
        r
    }

    /// The path of cgroup `id`, or `None` when no directory has that id
    /// (the cgroup is gone, or the id was missed before and the last walk
    /// was less than the re-walk interval ago).
    pub fn lookup(&mut self, id: u64) -> Option<&[u8]> {
        if !self.paths.contains_key(&id) {
            match self.by_handle(id) {
                ByHandle::Found(path) if self.paths.len() >= PATHS_MAX => {
                    self.spare = path;
                    return Some(&self.spare);
                }
                ByHandle::Found(path) => {
                    self.paths.insert(id, path);
                }
                ByHandle::Gone => {}
                ByHandle::Unknown => self.walk_for(id),
            }
        }
        self.paths.get(&id).map(|p| &**p)
    }

    /// Ask the kernel for the cgroup with this id: a cgroup2 file handle is
    /// the id (`FILEID_KERNFS`), so `open_by_handle_at` opens its directory
    /// and `/proc/self/fd/N` names it, as this process's mount namespace
    /// sees it; the name is checked to lead to a directory with this id.
    fn by_handle(&mut self, id: u64) -> ByHandle {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let Some(mount) = &self.mount else { return ByHandle::Unknown };
        /// `struct file_handle` with the 8 bytes of a kernfs id.
        #[repr(C)]
        struct Handle {
            bytes: libc::c_uint,
            kind: libc::c_int,
            id: u64,
        }
        const FILEID_KERNFS: libc::c_int = 0xfe;
        let mut h = Handle { bytes: 8, kind: FILEID_KERNFS, id };
        // SAFETY: `h` is a valid, writable file_handle of 8 bytes of handle
        // data for the duration of the call; the mount fd is open.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_by_handle_at,
                mount.as_raw_fd(),
                &mut h as *mut Handle,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return match io::Error::last_os_error().raw_os_error() {
                Some(libc::ESTALE) | Some(libc::ENOENT) => ByHandle::Gone,
                // Not supported here (old kernel, no CAP_DAC_READ_SEARCH):
                // walk from now on.
                _ => {
                    self.mount = None;
                    ByHandle::Unknown
                }
            };
        }
        let Ok(fd) = i32::try_from(fd) else { return ByHandle::Unknown };
        // SAFETY: the kernel just returned this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let Ok(link) = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) else {
            return ByHandle::Unknown;
        };
        // The name leads to it (not a cgroup removed meanwhile, whose name
        // the kernel marks " (deleted)").
        if !std::fs::symlink_metadata(&link).is_ok_and(|m| m.is_dir() && m.ino() == id) {
            return ByHandle::Gone;
        }
        let Ok(below) = link.strip_prefix(&self.hierarchy.mount_point) else { return ByHandle::Unknown };
        let root: &[u8] = if self.hierarchy.root.is_empty() { b"/" } else { &self.hierarchy.root };
        let mut path = root.to_vec();
        for part in below.components() {
            if !path.ends_with(b"/") {
                path.push(b'/');
            }
            path.extend_from_slice(part.as_os_str().as_bytes());
        }
        ByHandle::Found(path.into())
    }

    /// An id neither indexed nor opened by handle: walk again if it is due
    /// and the budget allows.
    fn walk_for(&mut self, id: u64) {
        {
            let first_miss = !self.missed.contains(&id);
            let now = Instant::now();
            if now > self.credit_at {
                let grown = ns(now - self.credit_at) / i64::from(WALK_SHARE);
                self.credit = self.credit.saturating_add(grown).min(burst_ns());
                self.credit_at = now;
            }
            let due = first_miss || self.last_walk.elapsed() >= self.min_interval;
            if due && self.credit > 0 {
                self.walk();
                if !self.paths.contains_key(&id) {
                    if self.missed.len() >= MISSED_MAX {
                        self.missed.clear();
                    }
                    self.missed.insert(id);
                }
            }
        }
    }

    /// Index the tree afresh. Directories that vanish during the walk are
    /// skipped; those indexed before and gone now are kept while the index
    /// is small (see [`KEEP_REMOVED_MAX`]).
    fn walk(&mut self) {
        let started = Instant::now();
        self.walks += 1;
        let mut paths = HashMap::with_capacity(self.paths.len().max(64));
        let top = self.hierarchy.mount_point.clone();
        let root_name: Box<[u8]> =
            if self.hierarchy.root.is_empty() { Box::from(&b"/"[..]) } else { self.hierarchy.root.clone().into() };
        if let Ok(meta) = std::fs::metadata(&top) {
            paths.insert(meta.ino(), root_name.clone());
        }
        let mut stack: Vec<(PathBuf, Box<[u8]>)> = vec![(top, root_name)];
        while let Some((dir, shown)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                if paths.len() >= WALK_MAX_DIRS {
                    break;
                }
                let name = entry.file_name();
                let mut child = Vec::with_capacity(shown.len() + 1 + name.len());
                child.extend_from_slice(&shown);
                if !child.ends_with(b"/") {
                    child.push(b'/');
                }
                child.extend_from_slice(name.as_bytes());
                let child: Box<[u8]> = child.into();
                // On cgroup2 (kernfs) the directory entry's inode number is
                // the cgroup id, so no stat per directory is needed.
                paths.insert(entry.ino(), child.clone());
                stack.push((entry.path(), child));
            }
        }
        if paths.len() >= WALK_MAX_DIRS && !self.capped {
            self.capped = true;
            crate::escape::note(&format!(
                "execsnoop: WARNING: more than {WALK_MAX_DIRS} cgroups below {}: the paths of those beyond show as unknown",
                crate::escape::escape(self.hierarchy.mount_point.as_os_str().as_bytes())
            ));
        }
        let old = std::mem::replace(&mut self.paths, paths);
        if self.paths.len() + old.len() <= KEEP_REMOVED_MAX {
            for (id, path) in old {
                self.paths.entry(id).or_insert(path);
            }
        }
        self.last_walk = Instant::now();
        self.credit = self.credit.saturating_sub(ns(self.last_walk - started));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_hybrid_and_plain() {
        let text = b"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n\
50 23 0:38 /a\\040b /mnt/my\\040cg rw - cgroup2 none rw\n\
bogus line\n";
        let got = parse_mountinfo(text);
        assert_eq!(
            got,
            vec![
                Hierarchy { mount_point: "/sys/fs/cgroup/unified".into(), root: b"/".to_vec() },
                Hierarchy { mount_point: "/mnt/my cg".into(), root: b"/a b".to_vec() },
            ]
        );
        assert!(parse_mountinfo(b"").is_empty());
    }

    #[test]
    fn octal_escapes() {
        assert_eq!(unescape_octal(b"a\\040b\\011c\\012d\\134e"), b"a b\tc\nd\\e");
        assert_eq!(unescape_octal(b"\\09x\\"), b"\\09x\\");
        assert_eq!(unescape_octal(b"\\777"), b"\\777");
    }

    /// A temporary directory tree, removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn new(tag: &str) -> Tree {
            let p = std::env::temp_dir().join(format!("execsnoop-cgroup-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(p.join("a/b")).unwrap();
            std::fs::create_dir_all(p.join("c d")).unwrap();
            std::fs::write(p.join("a/file"), b"x").unwrap();
            Tree(p)
        }
        fn ino(&self, rel: &str) -> u64 {
            std::fs::metadata(self.0.join(rel)).unwrap().ino()
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn resolver_maps_directory_ids_to_paths() {
        let t = Tree::new("map");
        let mut r = Resolver::new(Hierarchy { mount_point: t.0.clone(), root: b"/".to_vec() });
        assert_eq!(r.lookup(t.ino("")), Some(&b"/"[..]));
        assert_eq!(r.lookup(t.ino("a")), Some(&b"/a"[..]));
        assert_eq!(r.lookup(t.ino("a/b")), Some(&b"/a/b"[..]));
        assert_eq!(r.lookup(t.ino("c d")), Some(&b"/c d"[..]));
        assert_eq!(r.lookup(t.ino("a/file")), None, "files are not cgroups");
    }

    #[test]
    fn resolver_prefixes_the_mount_root() {
        let t = Tree::new("root");
        let mut r = Resolver::new(Hierarchy { mount_point: t.0.clone(), root: b"/sub".to_vec() });
        assert_eq!(r.lookup(t.ino("")), Some(&b"/sub"[..]));
        assert_eq!(r.lookup(t.ino("a/b")), Some(&b"/sub/a/b"[..]));
    }

    #[test]
    fn resolver_rewalks_on_a_miss_but_not_too_often() {
        let t = Tree::new("rewalk");
        let h = Hierarchy { mount_point: t.0.clone(), root: b"/".to_vec() };
        let mut slow = Resolver::with_interval(h.clone(), Duration::from_secs(3600));
        let mut fast = Resolver::with_interval(h, Duration::ZERO);
        std::fs::create_dir(t.0.join("new")).unwrap();
        let id = t.ino("new");
        // The first miss of an id walks at once (a cgroup made since: a
        // container starting); a second miss waits for the interval.
        assert_eq!(slow.lookup(id), Some(&b"/new"[..]), "a new id is looked for at once");
        std::fs::create_dir(t.0.join("late")).unwrap();
        let late = t.ino("late");
        let gone = u64::MAX - 1;
        assert_eq!(slow.lookup(gone), None, "unknown, not guessed");
        assert_eq!(slow.lookup(late), Some(&b"/late"[..]), "found by the walk for the missed id");
        std::fs::create_dir(t.0.join("later")).unwrap();
        assert_eq!(slow.lookup(gone), None, "a missed id again: no walk within the interval");
        assert_eq!(slow.lookup(t.ino("later")), Some(&b"/later"[..]), "but a new one walks");
        assert_eq!(fast.lookup(id), Some(&b"/new"[..]));
        // A removed directory keeps its path (cgroup ids are never reused;
        // this tree is on tmpfs, which may reuse inode numbers, so the new
        // one is made first), and a new walk finds the ones made since.
        std::fs::create_dir(t.0.join("newer")).unwrap();
        std::fs::remove_dir(t.0.join("new")).unwrap();
        assert_eq!(fast.lookup(t.ino("newer")), Some(&b"/newer"[..]));
        assert_eq!(fast.lookup(id), Some(&b"/new"[..]));
        assert_eq!(fast.lookup(u64::MAX), None);
    }

    /// A user who execs in a new cgroup each time makes every exec a first
    /// miss: once the walking budget is spent, ids asked for are unknown,
    /// not guessed, until it has grown again; then one walk finds them all.
    #[test]
    fn new_ids_cannot_keep_the_resolver_walking() {
        let t = Tree::new("budget");
        let h = Hierarchy { mount_point: t.0.clone(), root: b"/".to_vec() };
        let mut r = Resolver::with_interval(h, Duration::ZERO);
        std::fs::create_dir(t.0.join("n1")).unwrap();
        assert_eq!(r.lookup(t.ino("n1")), Some(&b"/n1"[..]), "with budget left: at once");
        // As if long walks had spent it, and more, just now.
        r.credit = -1;
        r.credit_at = Instant::now() + Duration::from_secs(3600);
        std::fs::create_dir(t.0.join("n2")).unwrap();
        std::fs::create_dir(t.0.join("n3")).unwrap();
        assert_eq!(r.lookup(t.ino("n2")), None, "held back, unknown");
        assert_eq!(r.lookup(t.ino("n3")), None);
        // A second later the budget has 1/20 s again.
        r.credit_at = Instant::now() - Duration::from_secs(1);
        r.credit = -1;
        assert_eq!(r.lookup(t.ino("n3")), Some(&b"/n3"[..]));
        assert_eq!(r.lookup(t.ino("n2")), Some(&b"/n2"[..]), "found by the same walk");
        assert!(r.credit < burst_ns());
    }

    /// On cgroup2 an id the index does not have is opened by handle: no
    /// walk, whatever the tree; a hostile name comes back exact; a cgroup
    /// removed is gone, not guessed.
    #[test]
    #[ignore = "needs root and a cgroup2 hierarchy mounted whole: run with --include-ignored"]
    fn new_cgroups_are_found_by_handle_without_a_walk() {
        let h = find_hierarchy().ok().flatten().expect("a cgroup2 hierarchy is mounted");
        let mut r = Resolver::with_interval(h.clone(), Duration::ZERO);
        assert!(r.mount.is_some(), "cgroup2 at {:?}", h.mount_point);
        let name = format!("execsnoop-handle-{}", std::process::id());
        let top = h.mount_point.join(&name);
        let odd = top.join(OsStr::from_bytes(b"a\x1b[2J\r\xe2\x80\xae\xff"));
        std::fs::create_dir_all(&odd).unwrap();
        let id = std::fs::metadata(&odd).unwrap().ino();
        let walks = r.walks;
        let want = [format!("/{name}/").as_bytes(), b"a\x1b[2J\r\xe2\x80\xae\xff"].concat();
        assert_eq!(r.lookup(id), Some(&want[..]));
        std::fs::remove_dir(&odd).unwrap();
        assert_eq!(r.lookup(id), Some(&want[..]), "kept once found");
        let gone = std::fs::metadata(&top).unwrap().ino();
        std::fs::remove_dir(&top).unwrap();
        let mut fresh = Resolver::with_interval(h, Duration::ZERO);
        let start = fresh.walks;
        assert_eq!(fresh.lookup(gone), None, "removed: gone");
        assert_eq!((r.walks, fresh.walks), (walks, start), "no walk for either");
    }

    #[test]
    fn locate_rejects_what_is_not_cgroup2() {
        let e = locate(Path::new("/nonexistent/execsnoop")).unwrap_err();
        assert!(e.contains("No such file"), "{e}");
        let e = locate(Path::new("/etc/passwd")).unwrap_err();
        assert_eq!(e, "not a directory");
        let e = locate(&std::env::temp_dir()).unwrap_err();
        assert!(e.starts_with("not a cgroup v2 directory ("), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    #[ignore = "needs a cgroup2 hierarchy mounted whole: run with --include-ignored"]
    fn locate_the_hierarchy_root() {
        let h = find_hierarchy().ok().flatten().expect("a cgroup2 hierarchy is mounted");
        assert_eq!(h.root, b"/", "the first cgroup2 mount shows the whole hierarchy");
        let got = locate(&h.mount_point).unwrap();
        assert_eq!(got, Located { id: std::fs::metadata(&h.mount_point).unwrap().ino(), level: 0 });
        // Through a non-canonical spelling too.
        let odd = h.mount_point.join(".");
        assert_eq!(locate(&odd).unwrap(), got);
    }
}
