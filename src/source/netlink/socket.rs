//! The netlink socket: opening it, listening to the proc connector's
//! multicast group, and reading datagrams without blocking.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::abi::CN_IDX_PROC;
use crate::source::SourceError;

/// Kernel-side receive buffer asked for (the kernel doubles it): room for
/// tens of thousands of messages, so a burst of execs is not lost while
/// /proc is read.
pub(super) const SOCKET_BUFFER_MIN: u32 = 8 << 20;
/// Datagrams read per [`crate::source::Source::drain`] before handing control back, so a
/// storm cannot keep the loop from answering signals.
pub(super) const DRAIN_BUDGET: usize = 4096;
/// How long the kernel may take to answer the listen request (it answers
/// while the request is sent, so this is only a bound).
pub(super) const ACK_WAIT: Duration = Duration::from_secs(1);

pub(super) const PERMISSION: &str = "the proc connector needs CAP_NET_ADMIN (run as root)";

/// What one receive found.
pub(super) enum Recv {
    /// A datagram of this many bytes, in the socket's buffer.
    Data(usize),
    /// The kernel dropped messages: the socket's buffer was full.
    Overflow,
    /// A datagram that was cut (longer than the buffer).
    Truncated,
    /// A datagram not from the kernel: ignored.
    Foreign,
    /// Nothing waiting.
    Empty,
}

pub(super) struct Socket {
    pub(super) fd: OwnedFd,
    pub(super) buf: Vec<u8>,
}

impl Socket {
    pub(super) fn open(rcvbuf: u32) -> Result<Socket, SourceError> {
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_CONNECTOR,
            )
        };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT) => SourceError::Unsupported(
                    "this kernel has no netlink connector (built without CONFIG_CONNECTOR)".into(),
                ),
                Some(libc::EPERM | libc::EACCES) => SourceError::Permission(PERMISSION.into()),
                _ => SourceError::Other(format!("cannot open a netlink connector socket: {e}")),
            });
        }
        // SAFETY: `raw` is a new, valid descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sock = Socket { fd, buf: vec![0; 16 * 1024] };
        sock.grow_buffer(rcvbuf);

        let mut addr = sockaddr_nl();
        addr.nl_groups = CN_IDX_PROC;
        // SAFETY: `addr` is a valid sockaddr_nl and its size is passed along.
        let rc = unsafe {
            libc::bind(
                sock.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast::<libc::sockaddr>(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => SourceError::Permission(PERMISSION.into()),
                _ => SourceError::Other(format!("cannot join the proc connector's multicast group: {e}")),
            });
        }
        Ok(sock)
    }

    /// Ask for a large receive buffer: beyond the system limit as root
    /// (SO_RCVBUFFORCE), else up to it. Failure only means a smaller buffer.
    fn grow_buffer(&self, bytes: u32) {
        let val = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: `val` is a valid c_int and its size is passed along.
            let rc = unsafe {
                libc::setsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&val as *const libc::c_int).cast::<libc::c_void>(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                return;
            }
        }
    }

    pub(super) fn send(&self, msg: &[u8]) -> io::Result<()> {
        let addr = sockaddr_nl(); // the kernel: pid 0, no group
        // SAFETY: `msg` and `addr` are valid for the lengths passed.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast::<libc::c_void>(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast::<libc::sockaddr>(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Leave the multicast group: nothing more is queued for this socket.
    pub(super) fn leave_group(&self) {
        let group = CN_IDX_PROC as libc::c_int;
        // SAFETY: `group` is a valid c_int and its size is passed along.
        unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_NETLINK,
                libc::NETLINK_DROP_MEMBERSHIP,
                (&group as *const libc::c_int).cast::<libc::c_void>(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }

    /// Receive one datagram without waiting.
    pub(super) fn recv(&mut self) -> io::Result<Recv> {
        loop {
            let mut addr = sockaddr_nl();
            let mut alen = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // SAFETY: `buf`, `addr` and `alen` are valid and writable for the
            // lengths passed; MSG_TRUNC only changes the returned length.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast::<libc::c_void>(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                    (&mut addr as *mut libc::sockaddr_nl).cast::<libc::sockaddr>(),
                    &mut alen,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => Ok(Recv::Empty),
                    Some(libc::ENOBUFS) => Ok(Recv::Overflow),
                    _ => Err(io::Error::new(e.kind(), format!("reading the proc connector: {e}"))),
                };
            }
            let n = n as usize;
            return Ok(if addr.nl_pid != 0 {
                Recv::Foreign
            } else if n > self.buf.len() {
                Recv::Truncated
            } else {
                Recv::Data(n)
            });
        }
    }

    /// Wait until readable or `timeout` passes.
    pub(super) fn wait(&self, timeout: Duration) {
        let mut fds = [libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: `fds` is a valid array of one pollfd, its length passed along.
        unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
    }
}

fn sockaddr_nl() -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain integers; all zeroes is a valid value.
    let mut a: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    a.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    a
}

/// A distinct `ack` for each control message: the kernel answers every
/// listener of the group with `ack + 1` (and its own `seq`), so the pid in
/// the high bits keeps other listeners' answers from being taken for ours.
pub(super) fn next_ack() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(2, Ordering::Relaxed) & 0x3fe;
    (std::process::id() << 10) | n
}
