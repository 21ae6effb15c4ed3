//! The HTTP side of `--metrics`: one thread, event-driven (poll(2) over a
//! non-blocking listener and every open connection), that answers
//! `GET /metrics` and that no client, nor any number of them, can hold.
//!
//! The limits, all counted when they cut a connection
//! (`execsnoop_metrics_dropped_connections_total{reason}`):
//!
//! * at most [`Limits::connections`] (64) connections at once; a new one
//!   when the table is full takes the place of the oldest connection that
//!   has not finished sending its request (`evicted`) — one whose answer was
//!   already sent goes first, uncounted; one being answered goes last. A
//!   scraper's request arrives with its connection and is answered at once,
//!   so connections that never finish a request cannot keep it out;
//! * the whole request (line and headers) within 2 s of the accept
//!   (`request-deadline`): a client sending a byte a second is cut at 2 s,
//!   not at each read;
//! * at most 16 KiB of request line and headers (and 64 headers): past
//!   that, `431 Request Header Fields Too Large`, then close;
//! * the answer taken within 2 s of the request (`send-deadline`): written
//!   without blocking, so a client that never reads holds only its slot,
//!   and only until then.
//!
//! `GET` (or `HEAD`) `/metrics` gets the exposition, `/` a link to it; other
//! paths 404, other methods 405, a request that does not parse 400. Every
//! answer closes the connection (`Connection: close`); after it the server
//! reads and discards what the client still sends, until it closes or the
//! deadline passes, so that the client sees the answer rather than a reset.
//!
//! Parsing is `httparse` (the parser of hyper: strict, zero-copy, fuzzed),
//! run once the request's blank line (or the 16 KiB cap) is seen, never per
//! byte. No HTTP server crate: `tiny_http` gives a thread per connection and
//! a timeout per read (the very faults this replaces), an async one would
//! bring a runtime for one URL; what is left here is the poll loop and the
//! limits above.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Dropped, Metrics};

/// The server's limits; [`Limits::DEFAULT`] in use, smaller ones in tests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once, at most.
    pub connections: usize,
    /// From accept to the end of the request's headers.
    pub request: Duration,
    /// From the end of the request to the last byte of the answer taken.
    pub send: Duration,
    /// Request line and headers, in bytes.
    pub header_bytes: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        connections: 64,
        request: Duration::from_secs(2),
        send: Duration::from_secs(2),
        header_bytes: 16 * 1024,
    };
}

/// Headers in a request, at most (more: 431).
const MAX_HEADERS: usize = 64;

/// How long a scrape waits for the tracing loop to hand over a fresh copy
/// of the per-command table before it is answered from the last one
/// (counted in `execsnoop_metrics_stale_scrapes_total`).
const SNAPSHOT_WAIT: Duration = Duration::from_millis(500);

/// How often the server looks for that copy while a scrape waits for it.
const SNAPSHOT_POLL: Duration = Duration::from_millis(5);

/// After an error accepting a connection (no file descriptors left, say),
/// the listener rests this long instead of failing in a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// After the answer, at most this much more of the request is read (and
/// discarded) before the connection is closed.
const DRAIN_MAX: usize = 64 * 1024;

enum State {
    /// Reading the request: everything so far, at most `header_bytes`.
    Reading(Vec<u8>),
    /// A `/metrics` scrape waiting for a copy of the per-command table
    /// newer than `asked` (see [`Metrics::want_snapshot`]).
    Waiting {
        head: bool,
        asked: u64,
        since: Instant,
    },
    /// Writing the answer; the connection is closed at `deadline` if the
    /// client has not taken it by then.
    Sending {
        out: Rc<[u8]>,
        pos: usize,
        deadline: Instant,
    },
    /// Answer sent and our side shut: reading until the client closes.
    Draining {
        deadline: Instant,
        drained: usize,
    },
    Closed,
}

struct Conn {
    stream: TcpStream,
    accepted: Instant,
    state: State,
}

struct Server {
    listener: TcpListener,
    metrics: Arc<Metrics>,
    limits: Limits,
    /// In the order they were accepted: the first is the oldest.
    conns: Vec<Conn>,
    /// No accepting before then (after an accept error).
    rest_until: Option<Instant>,
    /// An accept error has been said on stderr (once; the rest are counted).
    said: bool,
}

/// Serve on `listener` (made non-blocking here) from a thread of its own,
/// for as long as the process lives.
pub fn spawn(listener: TcpListener, metrics: Arc<Metrics>, limits: Limits) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let limits = Limits { connections: limits.connections.max(1), ..limits };
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        Server { listener, metrics, limits, conns: Vec::new(), rest_until: None, said: false }.run();
    })?;
    Ok(())
}

impl Server {
    fn run(mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut who: Vec<usize> = Vec::new();
        loop {
            let now = Instant::now();
            fds.clear();
            who.clear();
            let listening = self.rest_until.is_none_or(|t| now >= t);
            if listening {
                self.rest_until = None;
                fds.push(libc::pollfd { fd: self.listener.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
            for (i, c) in self.conns.iter().enumerate() {
                let events = match c.state {
                    State::Reading(_) | State::Draining { .. } => libc::POLLIN,
                    State::Sending { .. } => libc::POLLOUT,
                    State::Waiting { .. } | State::Closed => continue,
                };
                fds.push(libc::pollfd { fd: c.stream.as_raw_fd(), events, revents: 0 });
                who.push(i);
            }
            let timeout = self.timeout_ms(now);
            // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd
            // structs that outlives the call; the descriptors are ours and
            // open (poll would only flag a closed one with POLLNVAL).
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                // EINTR, or ENOMEM: look again shortly; never end the server.
                if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    std::thread::sleep(SNAPSHOT_POLL);
                }
                continue;
            }
            let now = Instant::now();
            // Connections first, so that a request that has arrived is
            // answered before any new connection could take its place.
            let conn_fds = if listening { &fds[1..] } else { &fds[..] };
            for (pfd, &i) in conn_fds.iter().zip(&who) {
                if pfd.revents != 0 {
                    self.ready(i, now);
                }
            }
            self.answer_waiting(now);
            self.expire(now);
            self.conns.retain(|c| !matches!(c.state, State::Closed));
            if listening && fds.first().is_some_and(|l| l.revents != 0) {
                self.accept(now);
            }
        }
    }

    /// Milliseconds until the next deadline (rounded up), -1 for none.
    fn timeout_ms(&self, now: Instant) -> libc::c_int {
        let mut next: Option<Instant> = self.rest_until;
        let mut earliest = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for c in &self.conns {
            match c.state {
                State::Reading(_) => earliest(c.accepted + self.limits.request),
                State::Waiting { .. } => earliest(now + SNAPSHOT_POLL),
                State::Sending { deadline, .. } | State::Draining { deadline, .. } => earliest(deadline),
                State::Closed => {}
            }
        }
        match next {
            None => -1,
            Some(t) => {
                let ms = t.saturating_duration_since(now).as_micros().div_ceil(1000);
                ms.min(1000) as libc::c_int
            }
        }
    }

    /// The connection at `i` can be read or written (or has failed).
    fn ready(&mut self, i: usize, now: Instant) {
        let limits = self.limits;
        let c = &mut self.conns[i];
        let step = match &mut c.state {
            State::Reading(buf) => read_request(&mut c.stream, buf, limits.header_bytes),
            State::Draining { drained, .. } => drain(&mut c.stream, drained),
            State::Sending { .. } => Step::Send,
            State::Waiting { .. } | State::Closed => Step::Wait,
        };
        match step {
            Step::Wait => {}
            Step::Send => self.send(i),
            Step::Route(parsed) => self.route(i, parsed, now),
            Step::Close(why) => self.close(i, why),
        }
    }

    /// A whole request (or one past the limit) at `i`: answer it.
    fn route(&mut self, i: usize, parsed: Parsed, now: Instant) {
        let (head, status, ctype, body): (bool, &str, &str, String) = match parsed {
            Parsed::Partial => return,
            Parsed::Request { method, path } => {
                let head = method == "HEAD";
                match (method.as_str(), path.as_str()) {
                    ("GET" | "HEAD", "/metrics") => match self.metrics.want_snapshot() {
                        Some(asked) => {
                            self.conns[i].state = State::Waiting { head, asked, since: now };
                            return;
                        }
                        None => (head, "200 OK", METRICS_TYPE, self.metrics.render()),
                    },
                    ("GET" | "HEAD", "/") => (
                        head,
                        "200 OK",
                        "text/html; charset=utf-8",
                        "<html><body><a href=\"/metrics\">/metrics</a></body></html>\n".into(),
                    ),
                    ("GET" | "HEAD", _) => (head, "404 Not Found", TEXT, "not found\n".into()),
                    _ => (false, "405 Method Not Allowed", TEXT, "method not allowed: GET or HEAD only\n".into()),
                }
            }
            Parsed::TooLarge => (
                false,
                "431 Request Header Fields Too Large",
                TEXT,
                format!(
                    "request header fields too large: at most {} bytes and {MAX_HEADERS} headers\n",
                    self.limits.header_bytes
                ),
            ),
            Parsed::Bad => (false, "400 Bad Request", TEXT, "bad request\n".into()),
        };
        let out = response(status, ctype, body.as_bytes(), head);
        self.start_sending(i, out, now);
    }

    /// Scrapes waiting for the tracing loop's copy of the per-command
    /// table: answered once it is there, or from the last one after
    /// [`SNAPSHOT_WAIT`]. One rendering serves all answered at once.
    fn answer_waiting(&mut self, now: Instant) {
        let mut body: Option<Rc<String>> = None;
        for i in 0..self.conns.len() {
            let State::Waiting { head, asked, since } = self.conns[i].state else { continue };
            let fresh = self.metrics.snapshot_since(asked);
            if !fresh && now.saturating_duration_since(since) < SNAPSHOT_WAIT {
                continue;
            }
            if !fresh {
                self.metrics.stale_scrape();
            }
            let text = body.get_or_insert_with(|| Rc::new(self.metrics.render())).clone();
            let out = response("200 OK", METRICS_TYPE, text.as_bytes(), head);
            self.start_sending(i, out, now);
        }
    }

    fn start_sending(&mut self, i: usize, out: Rc<[u8]>, now: Instant) {
        self.conns[i].state = State::Sending { out, pos: 0, deadline: now + self.limits.send };
        self.send(i);
    }

    /// Write what the socket takes now; when all is written, shut our side
    /// and drain.
    fn send(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let State::Sending { out, pos, deadline } = &mut c.state else { return };
        let deadline = *deadline;
        match write_out(&mut c.stream, out, pos) {
            Ok(false) => {}
            Ok(true) => {
                let _ = c.stream.shutdown(Shutdown::Write);
                c.state = State::Draining { deadline, drained: 0 };
            }
            Err(_) => self.close(i, Some(Dropped::Error)),
        }
    }

    /// Close what has run out of time.
    fn expire(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            let why = match c.state {
                State::Reading(_) if now >= c.accepted + self.limits.request => Some(Dropped::RequestDeadline),
                State::Sending { deadline, .. } if now >= deadline => Some(Dropped::SendDeadline),
                State::Draining { deadline, .. } if now >= deadline => None,
                _ => continue,
            };
            self.close(i, why);
        }
    }

    /// Take every connection waiting on the listener (up to a table's worth
    /// per round), making room by evicting when the table is full.
    fn accept(&mut self, now: Instant) {
        for _ in 0..self.limits.connections {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        self.metrics.dropped(Dropped::Error);
                        continue;
                    }
                    if self.conns.len() >= self.limits.connections {
                        self.evict();
                    }
                    self.conns.push(Conn { stream, accepted: now, state: State::Reading(Vec::new()) });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The client gave up before we took it.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {
                    self.metrics.dropped(Dropped::ClientClosed);
                }
                Err(e) => {
                    self.metrics.dropped(Dropped::Error);
                    if !self.said {
                        self.said = true;
                        crate::escape::note(&format!(
                            "execsnoop: --metrics: cannot accept a connection: {e} (said once; each is counted in \
                             execsnoop_metrics_dropped_connections_total{{reason=\"error\"}})"
                        ));
                    }
                    self.rest_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Make room for one more: close the oldest connection that has sent
    /// its answer, else the oldest still sending its request, else the
    /// oldest being answered.
    fn evict(&mut self) {
        let rank = |s: &State| match s {
            State::Closed => 0,
            State::Draining { .. } => 1,
            State::Reading(_) => 2,
            State::Waiting { .. } | State::Sending { .. } => 3,
        };
        let victim =
            self.conns.iter().enumerate().min_by_key(|(i, c)| (rank(&c.state), *i)).map(|(i, c)| (i, rank(&c.state)));
        if let Some((i, r)) = victim {
            let counted = (r >= 2).then_some(Dropped::Evicted);
            self.close(i, counted);
            self.conns.remove(i);
        }
    }

    fn close(&mut self, i: usize, why: Option<Dropped>) {
        let c = &mut self.conns[i];
        if !matches!(c.state, State::Closed) {
            if let Some(why) = why {
                self.metrics.dropped(why);
            }
            let _ = c.stream.shutdown(Shutdown::Both);
            c.state = State::Closed;
        }
    }
}

const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

fn response(status: &str, ctype: &str, body: &[u8], head: bool) -> Rc<[u8]> {
    let allow = if status.starts_with("405") { "Allow: GET, HEAD\r\n" } else { "" };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head {
        out.extend_from_slice(body);
    }
    out.into()
}

/// What to do with a connection after reading from it.
enum Step {
    /// Nothing more for now.
    Wait,
    Send,
    Route(Parsed),
    Close(Option<Dropped>),
}

/// Read what has arrived of a request into `buf` (never past `cap` bytes);
/// parse it once its blank line, or the cap, is there.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>, cap: usize) -> Step {
    let mut chunk = [0u8; 4096];
    let mut end = false;
    while !end && buf.len() < cap {
        let want = (cap - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return Step::Close(Some(Dropped::ClientClosed)),
            Ok(n) => {
                let from = buf.len();
                buf.extend_from_slice(&chunk[..n]);
                end = ends_headers(buf, from);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => return Step::Close(Some(Dropped::Error)),
        }
    }
    if end || buf.len() >= cap { Step::Route(parse(buf, cap)) } else { Step::Wait }
}

/// Write `out[*pos..]` as far as the socket takes it now: true when all
/// of it is written.
fn write_out(stream: &mut TcpStream, out: &[u8], pos: &mut usize) -> io::Result<bool> {
    while *pos < out.len() {
        match stream.write(&out[*pos..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *pos += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Read and discard what the client still sends after its answer; close
/// when it closes (or fails, or sends more than [`DRAIN_MAX`]).
fn drain(stream: &mut TcpStream, drained: &mut usize) -> Step {
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(n) if n > 0 && *drained + n <= DRAIN_MAX => *drained += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
            // Its answer was sent: not a drop.
            _ => return Step::Close(None),
        }
    }
}

/// True when the bytes from `from` on (with the 3 before them) hold the
/// blank line that ends a request's headers (`\n\n` or `\n\r\n`).
fn ends_headers(buf: &[u8], from: usize) -> bool {
    let tail = &buf[from.saturating_sub(3)..];
    tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n")
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Request {
        method: String,
        path: String,
    },
    /// The blank line is not there yet.
    Partial,
    TooLarge,
    Bad,
}

/// Parse a request head (`buf` holds its blank line, or `cap` bytes).
fn parse(buf: &[u8], cap: usize) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {
            let target = req.path.unwrap_or("");
            let path = target.split('?').next().unwrap_or("");
            Parsed::Request { method: req.method.unwrap_or("").to_string(), path: path.to_string() }
        }
        Ok(httparse::Status::Partial) if buf.len() >= cap => Parsed::TooLarge,
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::TooLarge,
        Err(_) => Parsed::Bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blank_line_is_found_across_reads() {
        let r = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for split in 1..r.len() {
            let mut buf = r[..split].to_vec();
            let early = ends_headers(&buf, 0);
            buf.extend_from_slice(&r[split..]);
            assert!(!early, "not before the end ({split})");
            assert!(ends_headers(&buf, split), "split at {split}");
        }
        assert!(ends_headers(b"GET / HTTP/1.0\n\n", 0));
        assert!(!ends_headers(b"GET / HTTP/1.0\r\nHost: x\r\n", 0));
    }

    /// A server with one accepted connection in `state` (and its client).
    fn one(state: State) -> (Server, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, _) = listener.accept().unwrap();
        let metrics = Arc::new(Metrics::new("bpf", 0, Arc::default()));
        let conn = Conn { stream, accepted: Instant::now(), state };
        let server =
            Server { listener, metrics, limits: Limits::DEFAULT, conns: vec![conn], rest_until: None, said: false };
        (server, client)
    }

    #[test]
    fn an_answer_not_taken_in_time_is_cut_and_counted() {
        let now = Instant::now();
        let out: Rc<[u8]> = vec![b'x'; 1 << 20].into();
        let (mut s, _client) = one(State::Sending { out: out.clone(), pos: 0, deadline: now + Duration::from_secs(2) });
        s.expire(now + Duration::from_millis(1999));
        assert!(matches!(s.conns[0].state, State::Sending { .. }), "not before the deadline");
        s.expire(now + Duration::from_secs(2));
        assert!(matches!(s.conns[0].state, State::Closed));
        assert!(
            s.metrics.render().contains("execsnoop_metrics_dropped_connections_total{reason=\"send-deadline\"} 1\n")
        );
        // Reading: 2 s from the accept, counted as its own reason.
        let (mut s, _client) = one(State::Reading(Vec::new()));
        let accepted = s.conns[0].accepted;
        s.expire(accepted + Duration::from_millis(1999));
        assert!(matches!(s.conns[0].state, State::Reading(_)));
        s.expire(accepted + Duration::from_secs(2));
        assert!(matches!(s.conns[0].state, State::Closed));
        assert!(s.metrics.render().contains("{reason=\"request-deadline\"} 1\n"));
    }

    #[test]
    fn eviction_takes_the_answered_then_the_oldest_unfinished() {
        let now = Instant::now();
        let (mut s, _c0) = one(State::Sending { out: vec![1u8].into(), pos: 0, deadline: now });
        let mut clients = Vec::new();
        for state in
            [State::Reading(Vec::new()), State::Draining { deadline: now, drained: 0 }, State::Reading(Vec::new())]
        {
            let (mut other, c) = one(state);
            s.conns.push(other.conns.remove(0));
            clients.push(c);
        }
        let kinds = |s: &Server| -> Vec<&'static str> {
            s.conns
                .iter()
                .map(|c| match c.state {
                    State::Reading(_) => "reading",
                    State::Sending { .. } => "sending",
                    State::Draining { .. } => "draining",
                    State::Waiting { .. } => "waiting",
                    State::Closed => "closed",
                })
                .collect()
        };
        s.evict();
        assert_eq!(kinds(&s), ["sending", "reading", "reading"], "the answered one first, uncounted");
        s.evict();
        assert_eq!(kinds(&s), ["sending", "reading"], "then the oldest still reading");
        s.evict();
        s.evict();
        assert!(s.conns.is_empty());
        let text = s.metrics.render();
        assert!(text.contains("{reason=\"evicted\"} 3\n"), "{text}");
    }

    #[test]
    fn requests_parse() {
        let ok = |m: &str, p: &str| Parsed::Request { method: m.into(), path: p.into() };
        assert_eq!(parse(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 100), ok("GET", "/metrics"));
        assert_eq!(parse(b"HEAD / HTTP/1.0\n\n", 100), ok("HEAD", "/"));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n", 100), Parsed::Partial);
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: aaaa", 26), Parsed::TooLarge);
        assert_eq!(parse(b"\x01\x02\x03 / HTTP/1.1\r\n\r\n", 100), Parsed::Bad);
        assert_eq!(parse(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 100), Parsed::Bad);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(parse(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes(), 1 << 20), Parsed::TooLarge);
    }
}
