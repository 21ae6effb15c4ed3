//! `--output PATH`: the file the records go to instead of stdout, with
//! rotation by size (`--rotate-size`, `--rotate-keep`) and reopening on
//! SIGHUP (so an external logrotate with `create` works too).
//!
//! This is a destination, not a format: the text and JSON sinks write into
//! it as they write into stdout. Both formats are line-oriented (one record,
//! or one row, per line), so the file is cut only after a newline: every
//! record lands whole in exactly one file, and a file grows past the size
//! limit only when a single line is longer than the limit (it then holds
//! that line alone).
//!
//! Rotation works as logrotate's numbered scheme does: `PATH.N-1` becomes
//! `PATH.N` (the oldest beyond `--rotate-keep` is removed), ..., `PATH`
//! becomes `PATH.1`, and a new, empty `PATH` is created. With SIGHUP the file
//! is closed and `PATH` opened again (created if it was moved away) at the
//! next write or flush; the run loop flushes at least every 100 ms, so that
//! is prompt even when no records flow. Nothing buffered is lost across
//! either: bytes not yet written go to the new file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes kept before they are written (a `BufWriter`'s usual size).
const BUFFER: usize = 64 * 1024;

/// How the file is rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate when the file would grow past this many bytes.
    pub size: u64,
    /// Rotated files kept (`PATH.1` .. `PATH.keep`); 0 keeps none.
    pub keep: u32,
}

/// An append-only file that rotates at line boundaries and reopens on
/// request.
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    /// Size of the file as we have written it (its length when opened plus
    /// what we wrote since).
    size: u64,
    rotation: Option<Rotation>,
    /// Set by the SIGHUP handler; taken at the next write or flush.
    reopen: Arc<AtomicBool>,
    buf: Vec<u8>,
    /// Files rotated so far (for tests and the closing line).
    rotations: u64,
}

impl RotatingFile {
    /// Open `path` for append (creating it, mode 0640), rotating as asked;
    /// `reopen` is the flag a SIGHUP sets.
    pub fn open(path: &Path, rotation: Option<Rotation>, reopen: Arc<AtomicBool>) -> io::Result<RotatingFile> {
        let (file, size) = open_append(path)?;
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
            reopen,
            buf: Vec::with_capacity(BUFFER),
            rotations: 0,
        })
    }

    /// Write out the complete lines buffered (and with `all`, the rest too),
    /// rotating between lines as the size limit asks.
    fn drain(&mut self, all: bool) -> io::Result<()> {
        if self.reopen.swap(false, Ordering::Relaxed) {
            let (file, size) = open_append(&self.path)?;
            self.file = file;
            self.size = size;
        }
        let end = if all { self.buf.len() } else { self.buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) };
        let mut at = 0;
        while at < end {
            let rest = &self.buf[at..end];
            let take = match &self.rotation {
                None => rest.len(),
                Some(r) => {
                    let room = r.size.saturating_sub(self.size);
                    if rest.len() as u64 <= room {
                        rest.len()
                    } else {
                        // The lines that still fit; none fit: rotate first,
                        // and a line longer than the limit goes alone into
                        // a file of its own.
                        let fits = rest[..room as usize].iter().rposition(|&b| b == b'\n').map(|i| i + 1);
                        match fits {
                            Some(n) => n,
                            None if self.size > 0 => {
                                self.rotate()?;
                                continue;
                            }
                            None => rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1),
                        }
                    }
                }
            };
            self.file.write_all(&rest[..take])?;
            self.size += take as u64;
            at += take;
            if let Some(r) = &self.rotation
                && self.size >= r.size
                && at < end
            {
                self.rotate()?;
            }
        }
        self.buf.drain(..end);
        Ok(())
    }

    /// `PATH.N-1` -> `PATH.N`, ..., `PATH` -> `PATH.1`, then a new `PATH`.
    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.rotation.as_ref().map_or(0, |r| r.keep);
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if keep == 0 {
            remove_if_there(&self.path)?;
        } else {
            remove_if_there(&numbered(keep))?;
            for n in (1..keep).rev() {
                rename_if_there(&numbered(n), &numbered(n + 1))?;
            }
            rename_if_there(&self.path, &numbered(1))?;
        }
        let (file, size) = open_append(&self.path)?;
        self.file = file;
        self.size = size;
        self.rotations += 1;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BUFFER || self.reopen.load(Ordering::Relaxed) {
            self.drain(false)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain(true)?;
        self.file.flush()
    }
}

impl Drop for RotatingFile {
    fn drop(&mut self) {
        // Best effort: the run loop flushed at the end already.
        let _ = self.drain(true);
    }
}

fn open_append(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new().create(true).append(true).mode(0o640).open(path).map_err(|e| with_path(e, path))?;
    let size = file.metadata()?.len();
    Ok((file, size))
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(with_path(e, path)),
        _ => Ok(()),
    }
}

fn rename_if_there(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(with_path(e, from)),
        _ => Ok(()),
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut f = RotatingFile::open(&path, Some(Rotation { size: 100, keep: 100 }), flag).unwrap();
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
        let mut f = RotatingFile::open(&path, Some(Rotation { size: 10, keep: 2 }), flag).unwrap();
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
        let mut f = RotatingFile::open(&path, None, flag.clone()).unwrap();
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
        let mut f = RotatingFile::open(&path, Some(Rotation { size: 8, keep: 1 }), Arc::default()).unwrap();
        f.write_all(b"new1\n").unwrap();
        f.flush().unwrap();
        assert_eq!(read(&d.0.join("o.1")), "old\n");
        assert_eq!(read(&path), "new1\n");
    }
}
