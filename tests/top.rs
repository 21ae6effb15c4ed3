//! `--top` (issue 19): the full-screen view driven in tmux (new-session,
//! send-keys, capture-pane) — the marked commands with their exec counts,
//! sort and key switches that change the order, `/` filtering, a resize
//! redrawn, and `q`, Ctrl-C, SIGTERM and `-d` each ending with status 0
//! and the terminal restored (alternate screen left, cursor shown); the
//! batch table and the JSON interval records, parsed (and validated
//! against the schema); and the usage errors.
//!
//! The marked commands are copies of /bin/true and /bin/sleep under names
//! of their own (a comm no other process has), run by the test itself or
//! by a `-- COMMAND` script.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    TempDir, VALIDATE_PY, assert_error_exit, bin, exit_timeout, json_u64, ready_timeout, root_test, run_tool, slow,
    tool,
};

/// A comm of our own: short (comm is 15 bytes), unique on the machine.
fn name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{tag}{}{}", std::process::id() % 100_000, N.fetch_add(1, Ordering::Relaxed))
}

/// A tmux server of the test's own (its own socket), killed on drop.
struct Tmux {
    socket: String,
    tmux: PathBuf,
}

impl Tmux {
    /// A detached session of `cols` × `rows` running `command` in sh, which
    /// then prints `EXIT=status` and waits (so the pane stays readable).
    fn start(cols: u16, rows: u16, command: &str) -> Tmux {
        let t = Tmux { socket: format!("execsnoop-test-{}", name("s")), tmux: tool("tmux") };
        let script = format!("{command}; echo EXIT=$?; sleep 120");
        let out = t.cmd(&["new-session", "-d", "-s", "top", "-x", &cols.to_string(), "-y", &rows.to_string(), &script]);
        assert!(out.status.success(), "tmux new-session failed\n{}", out.dump());
        t
    }

    fn cmd(&self, args: &[&str]) -> crate::support::Finished {
        run_tool(Command::new(&self.tmux).arg("-L").arg(&self.socket).arg("-f").arg("/dev/null").args(args))
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "top"]).stdout_str()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(out.status.success(), "send-keys {keys:?}\n{}", out.dump());
        // Each key apart: crossterm reads a lone Esc only when nothing follows.
        thread::sleep(Duration::from_millis(150));
    }

    fn display(&self, format: &str) -> String {
        self.cmd(&["display", "-p", "-t", "top", format]).stdout_str().trim().to_string()
    }

    /// Wait until the screen satisfies `ok`; panics with the screen if not.
    fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; the screen:\n{s}");
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The view ended with `status` and the terminal is as before it.
    fn assert_restored(&self, status: i32) {
        let s = self.wait_for("the view to end", exit_timeout(), |s| s.contains("EXIT="));
        assert!(s.contains(&format!("EXIT={status}")), "{s}");
        assert!(s.contains("Tracing exec()s"), "the main screen is back, with what was on it: {s}");
        assert_eq!(self.display("#{alternate_on}"), "0", "the alternate screen is left: {s}");
        assert_eq!(self.display("#{cursor_flag}"), "1", "the cursor is shown: {s}");
    }

    /// The pid of the program the pane's shell runs.
    fn program_pid(&self) -> u32 {
        let sh: u32 = self.display("#{pane_pid}").parse().expect("a pane pid");
        let children = std::fs::read_to_string(format!("/proc/{sh}/task/{sh}/children")).unwrap_or_default();
        children.split_whitespace().next().and_then(|p| p.parse().ok()).expect("the pane's shell runs execsnoop")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(&self.tmux).args(["-L", &self.socket, "kill-server"]).output();
    }
}

/// The table's row whose key is `key`, split in cells.
fn row_of(screen: &str, key: &str) -> Option<Vec<String>> {
    screen
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|c| c.first().is_some_and(|k| k == key))
}

/// The keys of the table's rows, top to bottom.
fn keys_in_order(screen: &str, among: &[&str]) -> Vec<String> {
    screen
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|k| among.contains(k))
        .map(str::to_string)
        .collect()
}

/// Column `col` of the table (as COLUMNS names it: KEY EXECS TOTAL ...).
fn cell(row: &[String], col: usize) -> &str {
    row.get(col).map_or("", String::as_str)
}

fn run_times(prog: &Path, args: &[&str], n: usize) {
    for _ in 0..n {
        let st = Command::new(prog).args(args).status().expect("run a marked program");
        assert!(st.success());
    }
}

#[test]
#[ignore = "needs root, BPF and tmux: run cargo test -- --include-ignored as root"]
fn view_counts_sorts_switches_filters_resizes_and_quits() {
    let _g = root_test();
    let dir = TempDir::new("top");
    let (fast, slow_name) = (name("tpf"), name("tps"));
    let fast_p = dir.copy_program("/bin/true", &fast);
    let slow_p = dir.copy_program("/bin/sleep", &slow_name);
    let filter = format!("^({fast}|{slow_name})$");
    let t = Tmux::start(150, 40, &format!("{} --top --interval 0.3 -n '{filter}'", bin()));
    t.wait_for("the view", ready_timeout(), |s| s.contains("execsnoop --top") && s.contains("KEY"));
    assert_eq!(t.display("#{alternate_on}"), "1", "the view is on the alternate screen");
    run_times(&fast_p, &[], 7);
    run_times(&slow_p, &["0.2"], 2);
    let among = [fast.as_str(), slow_name.as_str()];
    let s = t.wait_for("both rows with their totals", slow(Duration::from_secs(5)), |s| {
        row_of(s, &fast).is_some_and(|r| cell(&r, 2) == "7")
            && row_of(s, &slow_name).is_some_and(|r| cell(&r, 2) == "2")
    });
    let f = row_of(&s, &fast).unwrap();
    assert_eq!((cell(&f, 5), cell(&f, 12)), ("7", "0"), "seven exits with code 0, none running: {s}");

    // n (execs, the default) puts the fast one first; l (lifetime) the slow one.
    t.keys(&["n"]);
    let s = t.wait_for("sort by execs", slow(Duration::from_secs(3)), |s| s.contains("EXECS*"));
    // The interval counts go to 0 once they pass: sort by TOTAL (>) to be sure.
    t.keys(&[">"]);
    let s2 = t.wait_for("sort by total", slow(Duration::from_secs(3)), |s| s.contains("TOTAL*"));
    assert_eq!(keys_in_order(&s2, &among), [fast.clone(), slow_name.clone()], "by total: {s2}\n{s}");
    t.keys(&["l"]);
    let s = t.wait_for("sort by lifetime", slow(Duration::from_secs(3)), |s| s.contains("LIFE*"));
    assert_eq!(keys_in_order(&s, &among), [slow_name.clone(), fast.clone()], "by lifetime: {s}");

    // k: by exe, the paths (copies in our directory).
    t.keys(&["k"]);
    let s = t.wait_for("by exe", slow(Duration::from_secs(3)), |s| s.contains("by exe"));
    let (fp, sp) = (fast_p.to_string_lossy().into_owned(), slow_p.to_string_lossy().into_owned());
    assert!(row_of(&s, &fp).is_some_and(|r| cell(&r, 2) == "7"), "{s}");
    assert_eq!(keys_in_order(&s, &[&fp, &sp]), [sp.clone(), fp.clone()], "still by lifetime: {s}");
    // Six more: back to comm.
    for _ in 0..6 {
        t.keys(&["k"]);
    }
    t.wait_for("by comm again", slow(Duration::from_secs(3)), |s| s.contains("by comm"));

    // /: a bad regex is an error in the status line; a good one filters.
    t.keys(&["/"]);
    t.keys(&["-l", "x("]);
    t.keys(&["Enter"]);
    t.wait_for("the regex error", slow(Duration::from_secs(3)), |s| s.contains("error: unclosed group"));
    t.keys(&["Escape"]);
    t.keys(&["/"]);
    t.keys(&["-l", &slow_name]);
    t.keys(&["Enter"]);
    let s = t.wait_for("the filter", slow(Duration::from_secs(3)), |s| {
        row_of(s, &slow_name).is_some() && row_of(s, &fast).is_none()
    });
    assert!(s.contains(&format!("filter /{slow_name}/")), "{s}");

    // e: the selected row's recent execs, with their arguments.
    t.keys(&["e"]);
    t.wait_for("the log", slow(Duration::from_secs(3)), |s| {
        s.contains(&format!("recent execs of {slow_name}")) && s.contains(&format!("{slow_name} 0.2"))
    });

    // A resize redraws at the new size: the sparkline's box ends at the
    // new right edge.
    t.cmd(&["resize-window", "-t", "top", "-x", "100", "-y", "30"]);
    let s = t.wait_for("the redraw at 100 columns", slow(Duration::from_secs(3)), |s| {
        s.lines().next().is_some_and(|l| l.chars().count() == 100 && l.ends_with('┐'))
    });
    assert!(s.lines().count() <= 30, "{s}");

    t.keys(&["q"]);
    t.assert_restored(0);
}

#[test]
#[ignore = "needs root, BPF and tmux: run cargo test -- --include-ignored as root"]
fn the_terminal_is_restored_on_ctrl_c_sigterm_and_the_end_of_d() {
    let _g = root_test();
    // Ctrl-C is a key in raw mode: it ends the view as q does.
    let t = Tmux::start(100, 30, &format!("{} --top", bin()));
    t.wait_for("the view", ready_timeout(), |s| s.contains("KEY"));
    t.keys(&["C-c"]);
    t.assert_restored(0);
    drop(t);
    // SIGTERM: the run loop ends, the view's drop restores.
    let t = Tmux::start(100, 30, &format!("{} --top", bin()));
    t.wait_for("the view", ready_timeout(), |s| s.contains("KEY"));
    let pid = t.program_pid();
    // SAFETY: kill has no memory preconditions; the pid is our pane's child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    t.assert_restored(0);
    drop(t);
    // -d: tracing ends by itself.
    let t = Tmux::start(100, 30, &format!("{} --top -d 3", bin()));
    t.wait_for("the view", ready_timeout(), |s| s.contains("KEY"));
    t.assert_restored(0);
    drop(t);
    // The end of a COMMAND (its status, as without --top).
    let t = Tmux::start(100, 30, &format!("{} --top -- sh -c 'sleep 1; exit 3'", bin()));
    t.assert_restored(3);
    drop(t);
    // q while the COMMAND runs: status 0, and the COMMAND gets the SIGINT
    // Ctrl-C would have sent it.
    let t = Tmux::start(100, 30, &format!("{} --top -- sleep 60", bin()));
    t.wait_for("the view", ready_timeout(), |s| s.contains("KEY"));
    let tracer = t.program_pid();
    let kids = std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children")).unwrap_or_default();
    let command: u32 = kids.split_whitespace().next().and_then(|p| p.parse().ok()).expect("the COMMAND");
    t.keys(&["q"]);
    t.assert_restored(0);
    assert!(!Path::new(&format!("/proc/{command}")).exists(), "the COMMAND ({command}) ended");
}

/// The batch tables of a traced COMMAND's tree (no terminal: stdout is a
/// pipe): a table per interval and one at the end, with the marked
/// command's execs, failures and exits.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn batch_tables_count_a_marked_command() {
    let _g = root_test();
    let dir = TempDir::new("topb");
    let ok = name("tbo");
    let bad = name("tbb");
    let ok_p = dir.copy_program("/bin/true", &ok);
    let bad_p = dir.copy_program("/bin/false", &bad);
    let missing = dir.path.join(name("tbm"));
    let script = format!(
        "for i in 1 2 3 4 5 6; do {ok}; done; sleep 0.7; {bad} || true; {missing} 2>/dev/null || true; exit 0",
        ok = ok_p.display(),
        bad = bad_p.display(),
        missing = missing.display()
    );
    let f = run_tool(Command::new(bin()).args(["--top", "-x", "--interval", "0.3", "--", "sh", "-c", &script]));
    assert_eq!(f.status.code(), Some(0), "{}", f.dump());
    let out = f.stdout_str();
    let tables: Vec<&str> = out.split("\n\n").filter(|t| !t.trim().is_empty()).collect();
    assert!(tables.len() >= 3, "a table every 0.3 s and one at the end: {out}");
    for t in &tables {
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("execsnoop --top: ") && lines[0].contains("source bpf"), "{t}");
        assert!(lines[0].contains("filters: -- COMMAND"), "{t}");
        assert!(lines[1].starts_with("KEY ") && lines[1].ends_with(" RUN"), "{t}");
    }
    let last = tables.last().unwrap();
    let r = row_of(last, &ok).unwrap_or_else(|| panic!("{ok} in the last table: {out}"));
    assert_eq!((cell(&r, 2), cell(&r, 4), cell(&r, 5), cell(&r, 12)), ("6", "0", "6", "0"), "{last}");
    assert_ne!(cell(&r, 8), "-", "the bpf source reads CPU: {last}");
    let b = row_of(last, &bad).unwrap_or_else(|| panic!("{bad}: {out}"));
    assert_eq!((cell(&b, 2), cell(&b, 5), cell(&b, 6)), ("1", "0", "1"), "exit code 1 is an error: {last}");
    let m = row_of(last, &missing.file_name().unwrap().to_string_lossy()).unwrap_or_else(|| panic!("{out}"));
    assert_eq!((cell(&m, 2), cell(&m, 4)), ("0", "1"), "a failed attempt, by the name it tried: {last}");
    // The intervals' counts add up to the total: each exec in one of them.
    let sum: u64 = tables.iter().filter_map(|t| row_of(t, &ok)).map(|r| cell(&r, 1).parse::<u64>().unwrap()).sum();
    assert_eq!(sum, 6, "{out}");
    assert!(f.stderr.contains("Tracing exec()s"), "{}", f.dump());
}

/// `--json`: one interval record per interval, valid against the schema,
/// by exe.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn json_intervals_are_valid_and_count_by_exe() {
    let python = crate::support::python("jsonschema");
    let _g = root_test();
    let dir = TempDir::new("topj");
    let ok_p = dir.copy_program("/bin/true", &name("tjo"));
    let script = format!("for i in 1 2 3 4; do {}; done; sleep 0.5; exit 0", ok_p.display());
    let f = run_tool(Command::new(bin()).args([
        "--top",
        "--json",
        "--top-by",
        "exe",
        "--interval",
        "0.2",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    assert_eq!(f.status.code(), Some(0), "{}", f.dump());
    let out = f.stdout_str();
    let recs: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect();
    assert!(recs.len() >= 3, "{out}");
    assert!(recs.iter().all(|r| r["type"] == "interval" && r["by"] == "exe" && r["source"] == "bpf"), "{out}");
    let path = ok_p.to_string_lossy().into_owned();
    let last = recs.last().unwrap();
    let row = last["rows"].as_array().unwrap().iter().find(|r| r["key"] == path.as_str()).expect("the row");
    assert_eq!((json_u64(row, "execs_total"), json_u64(row, "exits_ok"), json_u64(row, "running")), (4, 4, 0));
    assert!(row["cpu_ns"].is_u64() && row["p95_lifetime_ns"].is_u64(), "{row}");
    assert_eq!(row["failed"], Value::Null, "no -x");
    let sum: u64 = recs.iter().map(|r| json_u64(r, "execs")).sum();
    assert_eq!(sum, json_u64(last, "execs_total"), "the intervals add up to the total: {out}");
    let file = dir.path.join("intervals.jsonl");
    std::fs::write(&file, &out).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/execsnoop.schema.json");
    let v = run_tool(Command::new(python).arg("-c").arg(VALIDATE_PY).arg(&schema).arg(&file));
    assert!(v.status.success(), "schema validation\n{}", v.dump());
}

/// What makes no sense with --top is refused in one line, status 2.
#[test]
fn usage_errors() {
    for args in [
        &["--top", "--wait"][..],
        &["--top", "--summary"],
        &["--top", "-T"],
        &["--top", "--output", "/tmp/x"],
        &["--top-by", "comm"],
        &["--batch"],
        &["--top", "--top-by", "pid"],
        &["--top", "--interval", "0"],
        &["--top", "--interval", "x"],
        &["--top", "--top-keys", "0"],
    ] {
        let f = run_tool(Command::new(bin()).args(args));
        assert_error_exit(&f, 2, true);
    }
}

/// A reader that goes away (`| head`) ends the batch printer cleanly, as
/// it ends the log: status 0, no error line.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn a_closed_stdout_ends_the_batch_tables_cleanly() {
    use std::io::Read;
    use std::process::Stdio;
    let _g = root_test();
    let mut child = Command::new(bin())
        .args(["--top", "--interval", "0.05"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn execsnoop");
    let mut out = child.stdout.take().expect("its stdout");
    let mut first = [0u8; 16];
    out.read_exact(&mut first).expect("a first table");
    assert!(first.starts_with(b"execsnoop --top:"), "{}", String::from_utf8_lossy(&first));
    drop(out);
    let deadline = Instant::now() + exit_timeout();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "execsnoop did not end after its reader went away");
        thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child.stderr.take().expect("its stderr").read_to_string(&mut err).expect("read stderr");
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("Broken pipe") && !err.contains("error"), "{err}");
}
