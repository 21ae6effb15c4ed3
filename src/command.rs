//! `execsnoop -- COMMAND`: start the command so that tracing is live before
//! its first exec.
//!
//! The child is forked first and waits on a pipe before it execs; the source
//! is opened with the child as the traced root (so its exec and everything it
//! starts are followed in the kernel from the start); then [`Paused::release`]
//! lets it exec. A second, close-on-exec pipe tells the parent whether the
//! exec itself failed (command not found): that is an error of ours, reported
//! in one line, not a trace. The runner waits on a pidfd, which becomes
//! readable when the child exits, and [`Running::wait`] reaps it.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use crate::event::ExitStatus;

/// A forked child that has not exec'd yet.
pub struct Paused {
    pid: libc::pid_t,
    /// Writing a byte here lets the child exec; `None` once released.
    go: Option<OwnedFd>,
    /// The child writes its errno here if the exec fails; EOF means it
    /// succeeded (the pipe is close-on-exec).
    err: OwnedFd,
}

/// A child that runs the command.
pub struct Running {
    pid: libc::pid_t,
    pidfd: OwnedFd,
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Fork a child that will run `argv` (looked up in PATH) once released.
pub fn spawn_paused(argv: &[OsString]) -> io::Result<Paused> {
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "COMMAND arguments cannot contain NUL bytes"))?;
    if args.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no COMMAND given"));
    }
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let (go_r, go_w) = pipe()?;
    let (err_r, err_w) = pipe()?;

    // SAFETY: fork is called with everything the child needs prepared
    // beforehand; the child only calls async-signal-safe functions (read,
    // execvp, write, _exit) on memory allocated before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // Child: wait for the go byte, then exec; report a failed exec.
        let mut b = 0u8;
        // SAFETY: reading one byte into a valid local; the fds are open.
        let n = unsafe { libc::read(go_r.as_raw_fd(), (&mut b as *mut u8).cast(), 1) };
        if n != 1 {
            // The tracer went away without releasing us: do not run untraced.
            // SAFETY: _exit is always safe to call.
            unsafe { libc::_exit(125) };
        }
        // SAFETY: `ptrs` is a NUL-terminated array of pointers to
        // NUL-terminated strings that outlive the call.
        unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0).to_ne_bytes();
        // SAFETY: writing 4 bytes from a valid local array, then exiting
        // without running any destructors of the parent's state.
        unsafe {
            libc::write(err_w.as_raw_fd(), errno.as_ptr().cast(), errno.len());
            libc::_exit(127);
        }
    }
    drop(go_r);
    drop(err_w);
    Ok(Paused { pid, go: Some(go_w), err: err_r })
}

impl Paused {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Let the child exec. Returns once the exec has succeeded, or the error
    /// that made it fail (the child is then reaped).
    pub fn release(mut self) -> io::Result<Running> {
        let go = self.go.take().ok_or_else(|| io::Error::other("child already released"))?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pidfd_open succeeded: `raw` is a new fd we own.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw as libc::c_int) };
        let b = 1u8;
        // SAFETY: writing one byte from a valid local to an open pipe.
        if unsafe { libc::write(go.as_raw_fd(), (&b as *const u8).cast(), 1) } != 1 {
            return Err(io::Error::last_os_error());
        }
        let mut errno = [0u8; 4];
        let mut got = 0;
        while got < errno.len() {
            // SAFETY: reading into the unfilled tail of a valid local array.
            let n = unsafe { libc::read(self.err.as_raw_fd(), errno[got..].as_mut_ptr().cast(), errno.len() - got) };
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if n <= 0 {
                break;
            }
            got += n as usize;
        }
        let running = Running { pid: self.pid, pidfd };
        if got == errno.len() {
            let _ = running.wait();
            return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)));
        }
        Ok(running)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // Never released (the source failed to open): closing the go pipe
        // makes the child exit 125 without running anything; reap it.
        if let Some(go) = self.go.take() {
            drop(go);
            let mut status = 0;
            // SAFETY: waiting for our own child, which exits at once now;
            // `status` is a valid int.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}

impl Running {
    /// A descriptor that becomes readable when the child exits.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Send it SIGINT, as Ctrl-C on a terminal in cooked mode would (`q` in
    /// `--top`'s view, whose raw mode makes Ctrl-C a key). Nothing happens
    /// if it has already exited.
    pub fn interrupt(&self) {
        // SAFETY: kill has no memory preconditions. The child is ours and not
        // reaped until `wait`/`try_wait` say it ended, so its pid cannot have
        // been reused by another process.
        unsafe { libc::kill(self.pid, libc::SIGINT) };
    }

    /// Reap the child (blocking until it exits) and return how it ended.
    pub fn wait(&self) -> io::Result<ExitStatus> {
        let mut status: libc::c_int = 0;
        loop {
            // SAFETY: waiting for our own child; `status` is a valid int.
            let rc = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if rc == self.pid {
                return Ok(ExitStatus::from_wait(status as u32));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Reap the child if it has exited, without blocking.
    pub fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        let mut status: libc::c_int = 0;
        // SAFETY: waiting for our own child; `status` is a valid int.
        let rc = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        match rc {
            0 => Ok(None),
            r if r == self.pid => Ok(Some(ExitStatus::from_wait(status as u32))),
            _ => Err(io::Error::last_os_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_after_release_and_reports_status() {
        let p = spawn_paused(&["sh".into(), "-c".into(), "exit 7".into()]).unwrap();
        let r = p.release().unwrap();
        assert_eq!(r.wait().unwrap(), ExitStatus::Code(7));
    }

    #[test]
    fn missing_command_is_an_error() {
        let p = spawn_paused(&["/nonexistent/execsnoop-no-such-command".into()]).unwrap();
        let e = p.release().err().expect("exec must fail");
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn killed_child_reports_signal() {
        let p = spawn_paused(&["sh".into(), "-c".into(), "kill -9 $$".into()]).unwrap();
        let r = p.release().unwrap();
        assert_eq!(r.wait().unwrap(), ExitStatus::Signal { signo: 9, core_dumped: false });
    }
}
