//! What the tests read back: [`Finished`] (the status and output of a
//! process that ended) with parsers for the text rows, the JSON records and
//! the closing summary, [`Finished::dump`] for assertion messages, the text
//! format's headers and rows, JSON byte strings and times, and
//! [`assert_error_exit`], the shape every usage or runtime error must have.

use std::process::ExitStatus;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

/// The column header of the text format without `-t`.
pub const HEADER: &str = "   PID   PPID ARGS";
/// The column header of the text format with `-t`.
pub const HEADER_T: &str = "TIMEs               PID   PPID ARGS";

/// A text row as the tool prints it without `-t`.
pub fn row(pid: u32, ppid: u32, args: &str) -> String {
    format!("{pid:>6} {ppid:>6} {args}")
}

/// Shorten a long output for an assertion message: head and tail.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut head = max / 2;
    while !s.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = s.len() - max / 2;
    while !s.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}\n[... {} bytes left out ...]\n{}", &s[..head], tail - head, &s[tail..])
}

/// True for a text-format header line, whatever optional columns it has.
pub fn is_header(line: &str) -> bool {
    line.contains("PID   PPID ") && line.ends_with(" ARGS")
}

/// A process that has ended: its status and everything it printed.
pub struct Finished {
    pub label: String,
    pub status: ExitStatus,
    /// From spawn to exit.
    pub elapsed: Duration,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Finished {
    /// Stdout as (lossy) text.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Status, stderr and stdout (clipped), for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "--- {} exited with {:?} after {:?}; stderr:\n{}\n--- stdout:\n{}\n---",
            self.label,
            self.status,
            self.elapsed,
            clip(&self.stderr, 4000),
            clip(&self.stdout_str(), 8000)
        )
    }

    /// Assert a clean end: exit status 0, the ending notice and summary on
    /// stderr, no panic. Returns (received, shown, lost) from the summary.
    pub fn assert_clean_end(&self) -> (u64, u64, u64) {
        assert_eq!(self.status.code(), Some(0), "tracer should exit with status 0\n{}", self.dump());
        assert!(!self.stderr.contains("panicked"), "tracer panicked\n{}", self.dump());
        assert!(self.stderr.contains("Ending tracing..."), "no `Ending tracing...` on stderr\n{}", self.dump());
        self.summary()
    }

    /// (received, shown, lost) from the closing line
    /// `N execs traced, M shown, L lost` / `..., WARNING: L lost (...)`.
    pub fn summary(&self) -> (u64, u64, u64) {
        let re = regex::Regex::new(r"(?m)^(\d+) execs traced, (\d+) shown, (?:WARNING: )?(\d+) lost").unwrap();
        let c = re
            .captures(&self.stderr)
            .unwrap_or_else(|| panic!("no `N execs traced, M shown, L lost` summary on stderr\n{}", self.dump()));
        let n = |i: usize| c[i].parse::<u64>().unwrap();
        (n(1), n(2), n(3))
    }

    /// Text rows (lines of stdout) that contain `needle`.
    pub fn rows_with(&self, needle: &str) -> Vec<String> {
        self.stdout_str().lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
    }

    /// The one text row containing `needle`; panics if there is not exactly one.
    pub fn one_row_with(&self, needle: &str) -> String {
        let rows = self.rows_with(needle);
        assert_eq!(rows.len(), 1, "expected exactly one row containing {needle:?}, got {rows:#?}\n{}", self.dump());
        rows.into_iter().next().unwrap()
    }

    /// The one text row that ends with `suffix` (the end of its ARGS, and
    /// marks); panics if there is not exactly one.
    pub fn one_row_ending(&self, suffix: &str) -> String {
        let rows: Vec<String> = self.stdout_str().lines().filter(|l| l.ends_with(suffix)).map(str::to_string).collect();
        assert_eq!(rows.len(), 1, "expected exactly one row ending in {suffix:?}, got {rows:#?}\n{}", self.dump());
        rows.into_iter().next().unwrap()
    }

    /// Every stdout line parsed as JSON; panics on a line that is not.
    pub fn json(&self) -> Vec<Value> {
        self.stdout_str()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line {} is not JSON ({e}): {l:?}\n{}", i + 1, self.dump()))
            })
            .collect()
    }

    /// JSON exec records with `marker` as one of their arguments.
    pub fn json_execs_with(&self, marker: &str) -> Vec<Value> {
        self.json()
            .into_iter()
            .filter(|v| v["type"] == "exec" && v["argv"].as_array().is_some_and(|a| a.iter().any(|x| x == marker)))
            .collect()
    }

    /// The one JSON exec record with `marker` among its arguments and the
    /// given filename.
    pub fn one_json_exec(&self, marker: &str, filename: &str) -> Value {
        let recs: Vec<Value> = self.json_execs_with(marker).into_iter().filter(|v| v["filename"] == filename).collect();
        assert_eq!(
            recs.len(),
            1,
            "expected exactly one JSON exec of {filename} with argument {marker:?}, got {recs:#?}\n{}",
            self.dump()
        );
        recs.into_iter().next().unwrap()
    }
}

/// Bytes of a JSON byte-string field: a string, or `{"bytes": base64}`.
pub fn decode_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(o) if o.len() == 1 && o.contains_key("bytes") => base64::engine::general_purpose::STANDARD
            .decode(o["bytes"].as_str().unwrap_or_else(|| panic!("bytes is not a string: {v}")))
            .unwrap_or_else(|e| panic!("bad base64 in {v}: {e}")),
        _ => panic!("not a JSON byte string: {v}"),
    }
}

/// The `argv` of a JSON exec record, as bytes.
pub fn json_argv(v: &Value) -> Vec<Vec<u8>> {
    v["argv"].as_array().unwrap_or_else(|| panic!("no argv array in {v}")).iter().map(decode_bytes).collect()
}

/// An unsigned field of a JSON record.
pub fn json_u64(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("field {key:?} is not an unsigned number in {v}"))
}

/// Assert a usage or runtime error: `code`, no stdout, and (when
/// `one_line`) exactly one line on stderr that starts with `execsnoop: `.
pub fn assert_error_exit(f: &Finished, code: i32, one_line: bool) {
    assert_eq!(f.status.code(), Some(code), "expected exit status {code}\n{}", f.dump());
    assert!(
        !f.stderr.contains("panicked") && !f.stderr.contains("RUST_BACKTRACE") && !f.stderr.contains("stack backtrace"),
        "error path must not panic or print a backtrace\n{}",
        f.dump()
    );
    assert!(f.stdout.is_empty(), "nothing may be written to stdout on an error\n{}", f.dump());
    if one_line {
        let lines: Vec<&str> = f.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected a one-line message on stderr\n{}", f.dump());
        assert!(f.stderr.ends_with('\n'), "message should end with a newline\n{}", f.dump());
        assert!(lines[0].starts_with("execsnoop: "), "message should start with `execsnoop: `\n{}", f.dump());
    }
}

/// Nanoseconds since the Unix epoch for `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`
/// (the JSON `time` field); panics on anything else.
pub fn rfc3339_ns(s: &str) -> i128 {
    let b = s.as_bytes();
    let ok = b.len() == 30
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[29] == b'Z';
    assert!(ok, "not YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ: {s:?}");
    let num = |r: std::ops::Range<usize>| -> i64 {
        s[r.clone()].parse().unwrap_or_else(|_| panic!("bad digits {:?} in {s:?}", &s[r]))
    };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19);
    i128::from(secs) * 1_000_000_000 + i128::from(num(20..29))
}
