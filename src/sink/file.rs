//! `--output PATH`: the file the records go to instead of stdout, with
//! rotation by size (`--rotate-size`, `--rotate-keep`) and reopening on
//! SIGHUP (so an external logrotate with `create` works too). It owns what
//! a root tracer must get right about a path others may share, and what a
//! full disk does to a log.
//!
//! This is a destination, not a format: the text and JSON sinks write into
//! it as they write into stdout. Both formats are line-oriented (one record,
//! or one row, per line), so the file is cut only after a newline: every
//! record lands whole in exactly one file, and a file grows past the size
//! limit only when a single line is longer than the limit (it then holds
//! that line alone).
//!
//! **Whose file.** The parent directory is opened once, and every later
//! name (the file, its reopening, the rotated `PATH.N`) is resolved relative
//! to that descriptor, never by a path string that could be swapped. The
//! directory must belong to root or to the tracer's user and must not be
//! writable by group or others unless it is sticky (as `/tmp`), as
//! logrotate demands. The file is opened with `O_NOFOLLOW|O_NONBLOCK|
//! O_NOCTTY|O_CLOEXEC` (a symbolic link is refused, a FIFO never blocks) and
//! must be a regular file with one link, owned by root or the tracer's user
//! and writable by nobody else; a new one is created with `O_EXCL`, mode
//! 0640. At start a refusal is an error (exit 2); at a SIGHUP reopening or a
//! rotation it is said on stderr and the file already open is written on.
//!
//! **Rotation** works as logrotate's numbered scheme does: `PATH.N-1`
//! becomes `PATH.N` (the oldest beyond `--rotate-keep` is removed), ...,
//! `PATH` becomes `PATH.1`, and a new, empty `PATH` is created. A `PATH.N`
//! that is not a regular file of ours (a directory, say), or a `PATH` that
//! is no longer the file being written, stops that rotation (said once,
//! tried again after another `--rotate-size`). With SIGHUP the file is
//! closed and `PATH` opened again at the next write or flush; the run loop
//! flushes at least every 100 ms, so that is prompt even when no records
//! flow. Nothing buffered is lost across either.
//!
//! **A full disk** (or any write error: ENOSPC, EDQUOT, EIO, EFBIG) never
//! stops tracing and never leaves half a line: a write that fails part-way
//! is cut back to its last whole line (`ftruncate`; if even that fails, the
//! next write starts with a newline). The lines not written are held, up to
//! [`HOLD_MAX`] bytes, and written in order once the file takes them again
//! (retried at every flush, at least every 100 ms); lines beyond the hold
//! are dropped whole and counted, a record per line whatever its type
//! ([`OutputLoss`]: `--metrics`, the closing line). When writing works again, a `lost` record (kind `output`, with the
//! count) is written at the place of the gap (JSON; the text format says it
//! on stderr), and stderr says when writing failed and when it resumed. A
//! file that does not end in a newline when opened gets one first.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::loss::OutputLoss;

/// Bytes kept before they are written (a `BufWriter`'s usual size).
const BUFFER: usize = 64 * 1024;

/// Bytes of lines held while the file cannot be written; lines beyond are
/// dropped, counted.
pub const HOLD_MAX: usize = 1024 * 1024;

/// Formats the line that says `count` records could not be written (the
/// JSON `lost` record of kind `output`).
pub type LostLine = Box<dyn FnMut(u64) -> Vec<u8>>;

/// How the file is rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate when the file would grow past this many bytes.
    pub size: u64,
    /// Rotated files kept (`PATH.1` .. `PATH.keep`); 0 keeps none.
    pub keep: u32,
}

/// An append-only file that rotates at line boundaries, reopens on
/// request, and survives a full disk.
pub struct RotatingFile {
    /// As given, for messages.
    path: PathBuf,
    /// The parent directory, opened once: every name is resolved in it.
    dir: OwnedFd,
    /// The file's name in `dir`.
    name: CString,
    file: File,
    /// Size of the file as we have written it: always the end of a whole
    /// line we wrote (or the length it had when opened).
    size: u64,
    rotation: Option<Rotation>,
    /// The size at which the next rotation is due.
    rotate_at: u64,
    /// The last rotation was refused (and said).
    rotate_refused: bool,
    /// Set by the SIGHUP handler; taken at the next write or flush.
    reopen: Arc<AtomicBool>,
    buf: Vec<u8>,
    /// Files rotated so far (for tests).
    rotations: u64,
    losses: Arc<OutputLoss>,
    lost_line: Option<LostLine>,
    /// Why writing fails now; `None` while it works.
    failing: Option<String>,
    /// Lines dropped since the last `lost` line, and where in `buf` they
    /// were (the lines before are older, those after newer).
    unreported: u64,
    gap: usize,
    /// Lines dropped since writing last failed (for the note on recovery).
    dropped_in_spell: u64,
    /// The file ends in bytes that are not a whole line: cut it back to
    /// `size` (our own failed write) or, if that cannot be, add a newline.
    ragged: Ragged,
    notes: Box<dyn Write>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ragged {
    No,
    /// A write of ours stopped part-way after `size`.
    CutBack,
    /// The file ends without a newline: one goes first.
    Newline,
}

impl RotatingFile {
    /// Open `path` for append (creating it, mode 0640), rotating as asked;
    /// `reopen` is the flag a SIGHUP sets; what cannot be written is counted
    /// in `losses`. Refuses a path that is not safe to write as root (see
    /// the module's documentation) with an error that says why.
    pub fn open(
        path: &Path,
        rotation: Option<Rotation>,
        reopen: Arc<AtomicBool>,
        losses: Arc<OutputLoss>,
    ) -> io::Result<RotatingFile> {
        let (dir, name) = open_parent(path)?;
        let (file, size, ends_line) = open_checked(&dir, &name, path, false)?;
        let rotate_at = rotation.as_ref().map_or(u64::MAX, |r| r.size);
        Ok(RotatingFile {
            path: path.to_path_buf(),
            dir,
            name,
            file,
            size,
            rotation,
            rotate_at,
            rotate_refused: false,
            reopen,
            buf: Vec::with_capacity(BUFFER),
            rotations: 0,
            losses,
            lost_line: None,
            failing: None,
            unreported: 0,
            gap: 0,
            dropped_in_spell: 0,
            ragged: if ends_line { Ragged::No } else { Ragged::Newline },
            notes: Box::new(io::stderr()),
        })
    }

    /// Write this line (a JSON `lost` record) where records were dropped,
    /// once the file takes lines again.
    pub fn with_lost_line(mut self, f: LostLine) -> Self {
        self.lost_line = Some(f);
        self
    }

    /// Where the notes go (stderr by default).
    pub fn with_notes(mut self, w: Box<dyn Write>) -> Self {
        self.notes = w;
        self
    }

    /// One line on stderr, made safe for a terminal (the path is quoted in
    /// it, and a path is any bytes).
    fn note(&mut self, msg: &str) {
        let _ = writeln!(self.notes, "execsnoop: {}", crate::escape::message(msg));
        let _ = self.notes.flush();
    }

    /// Write out the complete lines buffered (and with `all`, the rest too),
    /// rotating between lines as the size limit asks. A write error is not
    /// returned: what was not written stays buffered (see [`HOLD_MAX`]).
    fn drain(&mut self, all: bool) {
        if self.reopen.swap(false, Ordering::Relaxed) {
            self.reopen_now();
        }
        let end = if all { self.buf.len() } else { self.buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) };
        if end == 0 && self.unreported == 0 && self.ragged == Ragged::No {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        let gap = if self.unreported > 0 { self.gap.min(end) } else { end };
        // The older lines, then the line that says what was dropped, then
        // the newer ones.
        let (mut at, mut err) = self.put(&buf[..gap]);
        if err.is_none() && self.unreported > 0 {
            let mut line = match self.lost_line.as_mut() {
                Some(f) => f(self.unreported),
                None => Vec::new(),
            };
            if line.last().is_some_and(|&b| b != b'\n') {
                line.push(b'\n');
            }
            let (_, e) = self.put(&line);
            err = e;
            if err.is_none() {
                self.unreported = 0;
            }
        }
        if err.is_none() && gap < end {
            let (n, e) = self.put(&buf[gap..end]);
            at = gap + n;
            err = e;
        }
        self.buf = buf;
        self.buf.drain(..at);
        self.gap = self.gap.saturating_sub(at);
        match err {
            Some(e) => {
                if self.failing.is_none() {
                    let why = e.to_string();
                    self.note(&format!(
                        "WARNING: cannot write to {}: {why}; tracing goes on: records are held (up to {} KiB), then \
                         counted as lost, until the file can be written again",
                        self.path.display(),
                        HOLD_MAX / 1024
                    ));
                    self.failing = Some(why);
                }
                self.shed();
            }
            None if self.failing.is_some() => {
                self.failing = None;
                let n = std::mem::take(&mut self.dropped_in_spell);
                self.note(&format!(
                    "writing to {} again; {n} records could not be written{}",
                    self.path.display(),
                    if n > 0 && self.lost_line.is_some() { " (a lost record of kind output says so in the file)" } else { "" }
                ));
            }
            None => {}
        }
        self.losses.set_output_waiting(self.failing.is_some());
    }

    /// While writing fails: drop the whole lines beyond [`HOLD_MAX`]
    /// (beyond the gap, once there is one), counted.
    fn shed(&mut self) {
        if self.buf.len() <= HOLD_MAX {
            return;
        }
        let from = if self.unreported > 0 {
            self.gap
        } else {
            self.buf[..HOLD_MAX].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
        };
        let Some(to) = self.buf.iter().rposition(|&b| b == b'\n').map(|i| i + 1) else { return };
        if to <= from {
            return;
        }
        let n = self.buf[from..to].iter().filter(|&&b| b == b'\n').count() as u64;
        self.buf.drain(from..to);
        self.gap = from;
        self.unreported += n;
        self.dropped_in_spell += n;
        self.losses.add_output(n);
    }

    /// Write `data` (whole lines), rotating as the size limit asks. Returns
    /// how much was written (always up to the end of a line) and the error
    /// that stopped it, if any.
    fn put(&mut self, data: &[u8]) -> (usize, Option<io::Error>) {
        if let Err(e) = self.mend() {
            return (0, Some(e));
        }
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            let take = if self.rotation.is_none() {
                rest.len()
            } else {
                let room = self.rotate_at.saturating_sub(self.size);
                if rest.len() as u64 <= room {
                    rest.len()
                } else {
                    // The lines that still fit; none fit: rotate first, and a
                    // line longer than the limit goes alone into a file of
                    // its own.
                    match rest[..room as usize].iter().rposition(|&b| b == b'\n').map(|i| i + 1) {
                        Some(n) => n,
                        None if self.size > 0 => {
                            self.rotate_or_say();
                            continue;
                        }
                        None => rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1),
                    }
                }
            };
            let chunk = &rest[..take];
            let mut written = 0;
            while written < chunk.len() {
                match self.file.write(&chunk[written..]) {
                    Ok(0) => return self.stopped(at, chunk, written, io::ErrorKind::WriteZero.into()),
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return self.stopped(at, chunk, written, e),
                }
            }
            self.size += take as u64;
            at += take;
            if self.size >= self.rotate_at && at < data.len() {
                self.rotate_or_say();
            }
        }
        (at, None)
    }

    /// A write stopped after `written` bytes of `chunk` (which began at
    /// `at`): keep its whole lines, cut the rest back.
    fn stopped(&mut self, at: usize, chunk: &[u8], written: usize, e: io::Error) -> (usize, Option<io::Error>) {
        let keep = chunk[..written].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.size += keep as u64;
        if written > keep {
            self.ragged = Ragged::CutBack;
            let _ = self.mend();
        }
        (at + keep, Some(e))
    }

    /// Make the file end in a whole line before anything more is written.
    fn mend(&mut self) -> io::Result<()> {
        if self.ragged == Ragged::CutBack {
            match self.file.set_len(self.size) {
                Ok(()) => self.ragged = Ragged::No,
                // Cannot cut: end the partial line instead.
                Err(_) => self.ragged = Ragged::Newline,
            }
        }
        if self.ragged == Ragged::Newline {
            self.file.write_all(b"\n")?;
            self.size = self.file.metadata().map_or(self.size + 1, |m| m.len());
            self.ragged = Ragged::No;
        }
        Ok(())
    }

    fn rotate_or_say(&mut self) {
        let Some(limit) = self.rotation.as_ref().map(|r| r.size) else { return };
        match self.rotate() {
            Ok(()) => {
                self.rotate_at = limit;
                self.rotate_refused = false;
            }
            Err(e) => {
                // Tried again once the file has grown by another limit; said
                // once until a rotation works again.
                self.rotate_at = self.size.saturating_add(limit);
                if !std::mem::replace(&mut self.rotate_refused, true) {
                    self.note(&format!(
                        "WARNING: not rotating {}: {e}; writing on to the file already open (tried again at every \
                         further --rotate-size)",
                        self.path.display()
                    ));
                }
            }
        }
    }

    /// `PATH.N-1` -> `PATH.N`, ..., `PATH` -> `PATH.1`, then a new `PATH`,
    /// all relative to the directory opened at start.
    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.rotation.as_ref().map_or(0, |r| r.keep);
        let numbered = |n: u32| {
            let mut v = self.name.as_bytes().to_vec();
            v.extend_from_slice(format!(".{n}").as_bytes());
            CString::new(v).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
        };
        // Every name we are about to replace or move must be ours.
        let own = self.file.metadata()?;
        match stat_at(&self.dir, &self.name)? {
            Some(st) if st.st_dev != own.dev() || st.st_ino != own.ino() => {
                return Err(io::Error::other(format!(
                    "{} is no longer the file being written (moved or replaced by someone else)",
                    self.path.display()
                )));
            }
            _ => {}
        }
        for n in 1..=keep {
            let name = numbered(n)?;
            if let Some(st) = stat_at(&self.dir, &name)? {
                check_ours(&st, &format!("{}.{n}", self.path.display()), false)?;
            }
        }
        if keep == 0 {
            unlink_at(&self.dir, &self.name)?;
        } else {
            unlink_at(&self.dir, &numbered(keep)?)?;
            for n in (1..keep).rev() {
                rename_at(&self.dir, &numbered(n)?, &numbered(n + 1)?)?;
            }
            rename_at(&self.dir, &self.name, &numbered(1)?)?;
        }
        let (file, size, _) = open_checked(&self.dir, &self.name, &self.path, true)?;
        self.file = file;
        self.size = size;
        self.ragged = Ragged::No;
        self.rotations += 1;
        Ok(())
    }

    /// SIGHUP: open `PATH` again (an external logrotate moved it); a path
    /// that is not safe to write leaves the open file in use, said once.
    fn reopen_now(&mut self) {
        match open_checked(&self.dir, &self.name, &self.path, false) {
            Ok((file, size, ends_line)) => {
                // A partial line of ours stays in the old file: cut it there.
                let _ = self.mend();
                self.file = file;
                self.size = size;
                self.ragged = if ends_line { Ragged::No } else { Ragged::Newline };
                self.rotate_at = self.rotation.as_ref().map_or(u64::MAX, |r| r.size);
            }
            Err(e) => self.note(&format!("WARNING: not reopening {e}; writing on to the file already open")),
        }
    }
}

impl Write for RotatingFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.failing.is_some() {
            // Retried at the next flush, not at every record.
            self.shed();
            if self.reopen.load(Ordering::Relaxed) {
                self.drain(false);
            }
        } else if self.buf.len() >= BUFFER || self.reopen.load(Ordering::Relaxed) {
            self.drain(false);
        }
        Ok(data.len())
    }

    /// Never fails: a file that cannot take the lines now gets them later,
    /// or counts them.
    fn flush(&mut self) -> io::Result<()> {
        self.drain(true);
        Ok(())
    }
}

impl Drop for RotatingFile {
    fn drop(&mut self) {
        // The run loop flushed at the end already; this is the last try.
        self.drain(true);
        let mut n = self.buf.iter().filter(|&&b| b == b'\n').count() as u64;
        if self.buf.last().is_some_and(|&b| b != b'\n') {
            n += 1;
        }
        if n > 0 {
            self.losses.add_output(n);
            let total = self.dropped_in_spell + n;
            self.note(&format!(
                "WARNING: {total} records could not be written to {}: {}",
                self.path.display(),
                self.failing.as_deref().unwrap_or("the file did not take them")
            ));
        } else if self.unreported > 0 {
            let n = self.dropped_in_spell;
            self.note(&format!("WARNING: {n} records could not be written to {}", self.path.display()));
        }
    }
}

/// The directory `path` is in, opened, and the file's name in it. The
/// directory must not let others replace what is in it.
fn open_parent(path: &Path) -> io::Result<(OwnedFd, CString)> {
    let refuse = |why: String| io::Error::new(io::ErrorKind::PermissionDenied, format!("{}: {why}", path.display()));
    let name = path.file_name().ok_or_else(|| refuse("not a file name".into()))?;
    let name = CString::new(name.as_bytes()).map_err(|_| refuse("a NUL byte in the name".into()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(parent)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: directory {}: {e}", path.display(), parent.display())))?;
    let st = dir.metadata()?;
    let euid = effective_uid();
    if st.uid() != 0 && st.uid() != euid {
        return Err(refuse(format!(
            "its directory {} belongs to uid {} (only a directory of root or of this user is written in)",
            parent.display(),
            st.uid()
        )));
    }
    if st.mode() & 0o022 != 0 && st.mode() & libc::S_ISVTX == 0 {
        return Err(refuse(format!(
            "its directory {} is writable by group or others and not sticky (mode {:04o}): others could replace the file",
            parent.display(),
            st.mode() & 0o7777
        )));
    }
    Ok((OwnedFd::from(dir), name))
}

/// Open `name` in `dir` for append, or create it (with `create`: only
/// create it, `O_EXCL`), and check it is ours to write. Returns the file,
/// its size, and whether it ends in a newline (or is empty).
fn open_checked(dir: &OwnedFd, name: &CString, path: &Path, create: bool) -> io::Result<(File, u64, bool)> {
    let flags = libc::O_RDWR | libc::O_APPEND | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    let mut fd = if create { Err(io::Error::from_raw_os_error(libc::ENOENT)) } else { open_at(dir, name, flags, 0) };
    if fd.as_ref().is_err_and(|e| e.raw_os_error() == Some(libc::ENOENT)) {
        fd = open_at(dir, name, flags | libc::O_CREAT | libc::O_EXCL, 0o640);
    }
    let file = File::from(fd.map_err(|e| explain(e, path))?);
    let st = file.metadata()?;
    check_ours(&st_of(&st), &path.display().to_string(), true)?;
    let size = st.len();
    let mut last = [0u8; 1];
    let ends_line = size == 0 || (file.read_at(&mut last, size - 1).is_err() || last[0] == b'\n');
    Ok((file, size, ends_line))
}

/// The facts of a file that decide whether it is ours to write.
struct Stat {
    mode: u32,
    uid: u32,
    nlink: u64,
    st_dev: u64,
    st_ino: u64,
}

fn st_of(m: &std::fs::Metadata) -> Stat {
    Stat { mode: m.mode(), uid: m.uid(), nlink: m.nlink(), st_dev: m.dev(), st_ino: m.ino() }
}

/// A regular file of root or this user, writable by no one else (and, for
/// the file we write, with no second name elsewhere).
fn check_ours(st: &Stat, what: &str, single_link: bool) -> io::Result<()> {
    let refuse = |why: String| Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{what}: {why}")));
    let kind = st.mode & libc::S_IFMT;
    if kind != libc::S_IFREG {
        let name = match kind {
            libc::S_IFDIR => "a directory",
            libc::S_IFIFO => "a FIFO",
            libc::S_IFSOCK => "a socket",
            libc::S_IFCHR => "a character device",
            libc::S_IFBLK => "a block device",
            libc::S_IFLNK => "a symbolic link",
            _ => "not a regular file",
        };
        return refuse(format!("is {name}; only a regular file is written"));
    }
    let euid = effective_uid();
    if st.uid != 0 && st.uid != euid {
        return refuse(format!("belongs to uid {} (only a file of root or of this user is written)", st.uid));
    }
    if st.mode & 0o022 != 0 {
        return refuse(format!("is writable by group or others (mode {:04o})", st.mode & 0o7777));
    }
    if single_link && st.nlink > 1 {
        return refuse(format!("has {} hard links (another name could be someone else's file)", st.nlink));
    }
    Ok(())
}

/// What an open refusal means, in words.
fn explain(e: io::Error, path: &Path) -> io::Error {
    let why = match e.raw_os_error() {
        Some(libc::ELOOP) => "is a symbolic link (not followed)".to_string(),
        Some(libc::ENXIO) => "is a FIFO or socket with no reader (only a regular file is written)".to_string(),
        Some(libc::EEXIST) => "appeared while it was being created (not ours: not written)".to_string(),
        Some(libc::EISDIR) => "is a directory".to_string(),
        _ => e.to_string(),
    };
    io::Error::new(e.kind(), format!("{}: {why}", path.display()))
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn open_at(dir: &OwnedFd, name: &CString, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    // SAFETY: `dir` is an open directory descriptor and `name` a
    // NUL-terminated string, both alive for the call; openat does not keep
    // either.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, libc::c_uint::from(mode)) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `name` in `dir`, not following a symbolic link; `None` when absent.
fn stat_at(dir: &OwnedFd, name: &CString) -> io::Result<Option<Stat>> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: valid descriptor and NUL-terminated name; `st` is writable
    // storage for one stat struct, which fstatat fills on success.
    let rc = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOENT) { Ok(None) } else { Err(e) };
    }
    // SAFETY: fstatat succeeded, so the struct is initialised.
    let st = unsafe { st.assume_init() };
    Ok(Some(Stat { mode: st.st_mode, uid: st.st_uid, nlink: st.st_nlink, st_dev: st.st_dev, st_ino: st.st_ino }))
}

/// Remove `name` from `dir` (absent is fine).
fn unlink_at(dir: &OwnedFd, name: &CString) -> io::Result<()> {
    // SAFETY: valid descriptor and NUL-terminated name for the call.
    let rc = unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOENT) {
            return Err(e);
        }
    }
    Ok(())
}

/// Rename `from` to `to` within `dir` (an absent `from` is fine).
fn rename_at(dir: &OwnedFd, from: &CString, to: &CString) -> io::Result<()> {
    // SAFETY: valid descriptor and NUL-terminated names for the call.
    let rc = unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOENT) {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    fn dir(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("execsnoop-file-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap_or_default()
    }

    #[test]
    fn rotates_between_lines_and_keeps_every_line_once() {
        let d = dir("rotate");
        let path = d.0.join("out.log");
        let flag = Arc::new(AtomicBool::new(false));
        let mut f = RotatingFile::open(&path, Some(Rotation { size: 100, keep: 100 }), flag, Arc::default()).unwrap();
        let mut want = String::new();
        for i in 0..200 {
            let line = format!("record {i:04} {}\n", "x".repeat(i % 30));
            want.push_str(&line);
            // Written in two parts: the cut still falls after the newline.
            let (a, b) = line.split_at(line.len() / 2);
            f.write_all(a.as_bytes()).unwrap();
            f.write_all(b.as_bytes()).unwrap();
            if i % 7 == 0 {
                f.flush().unwrap();
            }
        }
        f.flush().unwrap();
        let n = f.rotations;
        assert!(n > 10, "{n} rotations");
        let mut got = String::new();
        for k in (1..=n).rev() {
            let p = d.0.join(format!("out.log.{k}"));
            let text = read(&p);
            assert!(text.len() <= 100 && text.ends_with('\n'), "{}: {text:?}", p.display());
            got.push_str(&text);
        }
        got.push_str(&read(&path));
        assert_eq!(got, want, "every line once, in order, across the files");
    }

    #[test]
    fn keeps_at_most_n_and_a_long_line_goes_alone() {
        let d = dir("keep");
        let path = d.0.join("o");
        let flag = Arc::new(AtomicBool::new(false));
        let mut f = RotatingFile::open(&path, Some(Rotation { size: 10, keep: 2 }), flag, Arc::default()).unwrap();
        for line in ["aaaa\n", "bbbb\n", "a line longer than ten\n", "cc\n", "dd\n", "eeee\n", "ff\n"] {
            f.write_all(line.as_bytes()).unwrap();
        }
        f.flush().unwrap();
        assert!(!d.0.join("o.3").exists());
        assert_eq!(read(&d.0.join("o.2")), "a line longer than ten\n");
        assert_eq!(read(&d.0.join("o.1")), "cc\ndd\n");
        assert_eq!(read(&path), "eeee\nff\n");
    }

    #[test]
    fn reopens_when_asked_as_logrotate_create_expects() {
        let d = dir("hup");
        let path = d.0.join("o");
        let flag = Arc::new(AtomicBool::new(false));
        let mut f = RotatingFile::open(&path, None, flag.clone(), Arc::default()).unwrap();
        f.write_all(b"one\n").unwrap();
        f.flush().unwrap();
        fs::rename(&path, d.0.join("o.moved")).unwrap();
        f.write_all(b"two\n").unwrap();
        f.flush().unwrap();
        flag.store(true, Ordering::Relaxed);
        f.write_all(b"three\n").unwrap();
        f.flush().unwrap();
        assert_eq!(read(&d.0.join("o.moved")), "one\ntwo\n");
        assert_eq!(read(&path), "three\n");
    }

    #[test]
    fn appends_to_what_is_there() {
        let d = dir("append");
        let path = d.0.join("o");
        fs::write(&path, "old\n").unwrap();
        let mut f = RotatingFile::open(&path, Some(Rotation { size: 8, keep: 1 }), Arc::default(), Arc::default()).unwrap();
        f.write_all(b"new1\n").unwrap();
        f.flush().unwrap();
        assert_eq!(read(&d.0.join("o.1")), "old\n");
        assert_eq!(read(&path), "new1\n");
    }

    /// Notes written by the file, for the tests to read.
    #[derive(Clone, Default)]
    struct Notes(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
    impl Write for Notes {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Notes {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.borrow()).into_owned()
        }
    }

    fn refusal(path: &Path) -> String {
        match RotatingFile::open(path, None, Arc::default(), Arc::default()) {
            Ok(_) => panic!("{} was opened", path.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn refuses_what_is_not_a_private_regular_file() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let d = dir("refuse");
        let target = d.0.join("target");
        fs::write(&target, "root's\n").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
        let link = d.0.join("link");
        symlink(&target, &link).unwrap();
        assert!(refusal(&link).contains("is a symbolic link"), "{}", refusal(&link));
        // A dangling one is not created through either.
        let dangling = d.0.join("dangling");
        symlink(d.0.join("nowhere"), &dangling).unwrap();
        assert!(refusal(&dangling).contains("symbolic link"), "{}", refusal(&dangling));
        assert!(!d.0.join("nowhere").exists());

        let fifo = d.0.join("fifo");
        let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path for the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(refusal(&fifo).contains("FIFO"), "{}", refusal(&fifo));

        let open = d.0.join("world-writable");
        fs::write(&open, "").unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(refusal(&open).contains("writable by group or others"), "{}", refusal(&open));

        let linked = d.0.join("hardlink");
        fs::hard_link(&target, &linked).unwrap();
        assert!(refusal(&linked).contains("2 hard links"), "{}", refusal(&linked));

        let sub = d.0.join("dir");
        fs::create_dir(&sub).unwrap();
        assert!(refusal(&sub).contains("is a directory"), "{}", refusal(&sub));
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o777)).unwrap();
        let r = refusal(&sub.join("out"));
        assert!(r.contains("not sticky"), "{r}");
        assert!(!sub.join("out").exists());
        // Sticky, as /tmp: files there are ours if we create them.
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o1777)).unwrap();
        let f = RotatingFile::open(&sub.join("out"), None, Arc::default(), Arc::default()).unwrap();
        let mode = fs::metadata(sub.join("out")).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777 & !0o640, 0, "{mode:o}");
        drop(f);
        assert_eq!(fs::read_to_string(&target).unwrap(), "root's\n");
    }

    #[test]
    fn a_file_owned_by_someone_else_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        if effective_uid() != 0 {
            panic!("needs root (to give a file away)");
        }
        let d = dir("owner");
        let theirs = d.0.join("theirs");
        fs::write(&theirs, "").unwrap();
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        assert!(refusal(&theirs).contains("belongs to uid 65534"), "{}", refusal(&theirs));
        let sub = d.0.join("theirs-dir");
        fs::create_dir(&sub).unwrap();
        std::os::unix::fs::chown(&sub, Some(65534), Some(65534)).unwrap();
        assert!(refusal(&sub.join("o")).contains("belongs to uid 65534"), "{}", refusal(&sub.join("o")));
    }

    #[test]
    fn a_file_without_a_final_newline_gets_one_first() {
        let d = dir("newline");
        let path = d.0.join("o");
        fs::write(&path, "{\"half\":").unwrap();
        let mut f = RotatingFile::open(&path, None, Arc::default(), Arc::default()).unwrap();
        f.write_all(b"{\"whole\":1}\n").unwrap();
        f.flush().unwrap();
        assert_eq!(read(&path), "{\"half\":\n{\"whole\":1}\n");
    }

    #[test]
    fn rotation_refused_by_a_planted_directory_keeps_writing() {
        let d = dir("planted");
        let path = d.0.join("o");
        fs::create_dir(d.0.join("o.2")).unwrap();
        let notes = Notes::default();
        let mut f = RotatingFile::open(&path, Some(Rotation { size: 10, keep: 3 }), Arc::default(), Arc::default())
            .unwrap()
            .with_notes(Box::new(notes.clone()));
        for i in 0..10 {
            f.write_all(format!("line {i}\n").as_bytes()).unwrap();
            f.flush().unwrap();
        }
        drop(f);
        assert!(notes.text().contains("not rotating") && notes.text().contains("o.2: is a directory"), "{}", notes.text());
        // Every line is somewhere, once; the directory is untouched.
        let all = read(&path) + &read(&d.0.join("o.1"));
        let mut lines: Vec<&str> = all.lines().collect();
        lines.sort();
        assert_eq!(lines.len(), 10, "{all:?}");
        assert!(d.0.join("o.2").is_dir());
    }

    #[test]
    fn a_path_swapped_for_a_symlink_is_not_reopened() {
        use std::os::unix::fs::symlink;
        let d = dir("swap");
        let path = d.0.join("o");
        let victim = d.0.join("victim");
        fs::write(&victim, "").unwrap();
        let flag = Arc::new(AtomicBool::new(false));
        let notes = Notes::default();
        let mut f =
            RotatingFile::open(&path, None, flag.clone(), Arc::default()).unwrap().with_notes(Box::new(notes.clone()));
        f.write_all(b"one\n").unwrap();
        f.flush().unwrap();
        fs::rename(&path, d.0.join("o.old")).unwrap();
        symlink(&victim, &path).unwrap();
        flag.store(true, Ordering::Relaxed);
        f.write_all(b"two\n").unwrap();
        f.flush().unwrap();
        assert_eq!(read(&victim), "");
        assert_eq!(read(&d.0.join("o.old")), "one\ntwo\n");
        assert!(notes.text().contains("not reopening") && notes.text().contains("symbolic link"), "{}", notes.text());
    }

    /// A tmpfs of `kib` KiB mounted on a new directory (root only).
    struct Tmpfs(PathBuf);
    impl Tmpfs {
        fn mount(name: &str, kib: u32) -> Tmpfs {
            if effective_uid() != 0 {
                panic!("needs root (to mount a small tmpfs)");
            }
            let d = std::env::temp_dir().join(format!("execsnoop-tmpfs-{name}-{}", std::process::id()));
            fs::create_dir_all(&d).unwrap();
            let target = CString::new(d.as_os_str().as_bytes()).unwrap();
            let opts = CString::new(format!("size={kib}k,mode=0755")).unwrap();
            // SAFETY: NUL-terminated strings alive for the call.
            let rc = unsafe {
                libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, opts.as_ptr().cast())
            };
            assert_eq!(rc, 0, "mount: {}", io::Error::last_os_error());
            Tmpfs(d)
        }
        /// Fill what is left with a file, which `free` removes.
        fn fill(&self) {
            let mut f = File::create(self.0.join("filler")).unwrap();
            let block = vec![0u8; 4096];
            while f.write_all(&block).is_ok() {}
            let _ = f.write_all(&block[..1]);
        }
        fn free(&self) {
            fs::remove_file(self.0.join("filler")).unwrap();
        }
    }
    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let target = CString::new(self.0.as_os_str().as_bytes()).unwrap();
            // SAFETY: a NUL-terminated path for the call.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
            let _ = fs::remove_dir(&self.0);
        }
    }

    #[test]
    fn a_full_disk_holds_then_counts_and_says_where_the_gap_is() {
        let t = Tmpfs::mount("full", 4096);
        let path = t.0.join("out.json");
        let losses = Arc::new(OutputLoss::default());
        let notes = Notes::default();
        let mut f = RotatingFile::open(&path, None, Arc::default(), losses.clone())
            .unwrap()
            .with_notes(Box::new(notes.clone()))
            .with_lost_line(Box::new(|n| format!("{{\"type\":\"lost\",\"kind\":\"output\",\"count\":{n}}}\n").into_bytes()));
        let line = |i: usize| format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(3000));
        // Written before the disk filled.
        f.write_all(line(0).as_bytes()).unwrap();
        f.flush().unwrap();
        t.fill();
        // Far beyond what is held: the held ones in order, the rest dropped.
        let total = 2 * HOLD_MAX / line(0).len() + 50;
        for i in 1..=total {
            f.write_all(line(i).as_bytes()).unwrap();
            if i % 10 == 0 {
                f.flush().unwrap();
            }
        }
        f.flush().unwrap();
        assert!(losses.output_waiting());
        let dropped = losses.output();
        assert!(dropped > 0 && (dropped as usize) < total, "{dropped} of {total}");
        assert!(notes.text().contains("WARNING: cannot write to") && notes.text().contains("No space left"), "{}", notes.text());
        // Never half a line on disk.
        assert!(read(&path).ends_with('\n'));
        t.free();
        for i in total + 1..total + 5 {
            f.write_all(line(i).as_bytes()).unwrap();
        }
        f.flush().unwrap();
        drop(f);
        assert!(!losses.output_waiting());
        // Lines that came while the hold was still full were dropped too.
        let dropped = losses.output();
        assert!(notes.text().contains(&format!("again; {dropped} records could not be written")), "{}", notes.text());
        // Every line parses; the numbers run in order with one gap, where
        // the lost line is, and it counts what the gap holds.
        let text = read(&path);
        let mut want = 0;
        let mut seen_gap = false;
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:.80}"));
            if v["type"] == "lost" {
                assert!(!seen_gap);
                seen_gap = true;
                want += v["count"].as_u64().unwrap() as usize;
                continue;
            }
            assert_eq!(v["n"].as_u64().unwrap() as usize, want, "{l:.40}");
            want += 1;
        }
        assert!(seen_gap);
        assert_eq!(want, total + 5);
    }

    #[test]
    fn a_disk_that_never_frees_counts_every_line_at_the_end() {
        let t = Tmpfs::mount("never", 64);
        let path = t.0.join("out.txt");
        let losses = Arc::new(OutputLoss::default());
        let notes = Notes::default();
        let mut f =
            RotatingFile::open(&path, None, Arc::default(), losses.clone()).unwrap().with_notes(Box::new(notes.clone()));
        t.fill();
        for i in 0..100 {
            f.write_all(format!("row {i} {}\n", "y".repeat(100)).as_bytes()).unwrap();
        }
        f.flush().unwrap();
        drop(f);
        assert_eq!(losses.output(), 100);
        assert!(notes.text().contains("WARNING: 100 records could not be written"), "{}", notes.text());
        let text = read(&path);
        assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
    }
}
