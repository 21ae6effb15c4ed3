//! What an unprivileged user can do to every surface of a root tracer
//! (issue 16, item 7), done as that user ("nobody", through `setpriv`) where
//! the kernel lets a user do it, and as root where only the bytes matter
//! (cgroup names need a delegated subtree; root makes them here):
//!
//! * hostile bytes (ESC, CR, newline, BEL, a C1 CSI, a bidi override,
//!   invalid UTF-8) in every text column and note: the process name (a file
//!   named so, or `prctl`), the parent's name, argv, the working directory,
//!   the cgroup, the environment, a memfd's name, a `#!` interpreter's path,
//!   exit lines, `--wait` rows, the `--summary` table, and in what stderr
//!   says (a COMMAND that cannot run, clap's and our own usage errors):
//!   never raw on a terminal, and in JSON exactly the bytes, one valid line
//!   per record;
//! * a uid without a name under `--names`;
//! * the ftrace source's text stream: a file name with newlines that held
//!   a whole forged exec line (of pid 1, "/usr/bin/sudo"), and process
//!   names that cut or mimic trace lines; its tracefs instances, which
//!   nobody cannot reach;
//! * the cgroup resolver: thousands of cgroups and an exec in a new one
//!   each time (which made every exec walk the whole tree), cgroups removed
//!   right after their exec;
//! * one user's resource abuse: thousands of process names for
//!   `--summary`, a storm of short-lived processes into a small ring
//!   buffer, arguments far beyond the capture cap.
//!
//! Root and BPF (and tracefs): `#[ignore]`d by default; run with
//! `--include-ignored` as root. The usage-error cases need nothing.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    Background, Finished, TempCgroup, TempDir, Tracer, assert_error_exit, bin, decode_bytes, json_argv, json_u64,
    marker, root_test, run_capture, run_tool,
};
use serde_json::Value;

/// Every kind of byte a terminal or a log reader may act on: ESC and a CSI
/// sequence, CR, newline, an RLO bidi override, a C1 CSI (U+009B), BEL and a
/// byte that is not UTF-8. 13 bytes: it fits in a process name whole.
const HOSTILE: &[u8] = b"\x1b[2J\r\n\xe2\x80\xae\xc2\x9b\x07\xff";
/// Its escaped form (`src/escape.rs`).
const HOSTILE_ESC: &str = "\\x1b[2J\\r\\n\\u{202e}\\u{9b}\\x07\\xff";
/// The same without the newline, for the places the kernel refuses one (a
/// cgroup's name, a `#!` line).
const HOSTILE_NL: &[u8] = b"\x1b[2J\r\xe2\x80\xae\xc2\x9b\x07\xff";
const HOSTILE_NL_ESC: &str = "\\x1b[2J\\r\\u{202e}\\u{9b}\\x07\\xff";

/// `setpriv` arguments that make the rest run as nobody.
const NOBODY: [&str; 3] = ["--reuid=65534", "--regid=65534", "--clear-groups"];

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A command run as nobody.
fn as_nobody() -> Command {
    let mut c = Command::new(crate::support::tool("setpriv"));
    c.args(NOBODY);
    c
}

/// The one text row with `needle` that is not setpriv's (whose arguments
/// are the command it runs).
fn one_row(f: &Finished, needle: &str) -> String {
    let rows: Vec<String> = f.rows_with(needle).into_iter().filter(|r| !r.contains("setpriv")).collect();
    assert_eq!(rows.len(), 1, "one row with {needle:?}: {rows:#?}\n{}", f.dump());
    rows.into_iter().next().unwrap()
}

fn run_ok(cmd: &mut Command) -> (u32, Finished) {
    let (pid, f) = run_capture(cmd);
    assert!(f.status.success(), "\n{}", f.dump());
    (pid, f)
}

/// Code points that must never reach a terminal raw, besides controls.
fn dangerous(c: char) -> bool {
    matches!(c, '\u{61c}' | '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// What a terminal gets is safe: valid UTF-8, no control character but the
/// newline that ends each line, no bidi override or line separator.
fn assert_terminal_safe(what: &str, out: &[u8], f: &Finished) {
    let text = std::str::from_utf8(out).unwrap_or_else(|e| panic!("{what} is not UTF-8 ({e})\n{}", f.dump()));
    for (n, line) in text.lines().enumerate() {
        if let Some(c) = line.chars().find(|&c| (c.is_control() && c != '\n') || dangerous(c)) {
            panic!("{what} line {} holds {c:?} raw: {line:?}\n{}", n + 1, f.dump());
        }
    }
}

/// A cgroup with a hostile name below a temporary one, removed on drop
/// (before the parent, which is declared first).
struct HostileCgroup {
    dir: PathBuf,
    /// Its path from the root of the hierarchy, as /proc/PID/cgroup says it.
    rel: Vec<u8>,
}

impl HostileCgroup {
    fn new(parent: &TempCgroup, name: &[u8]) -> HostileCgroup {
        let dir = parent.path.join(os(name));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {dir:?}: {e}"));
        HostileCgroup { dir, rel: cat(&[parent.rel.as_bytes(), b"/", name]) }
    }
}

impl Drop for HostileCgroup {
    fn drop(&mut self) {
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The hostile things a user puts in front of the tracer, made and run.
struct Workload {
    dir: TempDir,
    mark: String,
    /// A copy of /bin/sh named HOSTILE, run in `cwd` in `cgroup`, which
    /// runs `/bin/true MARK sh` and exits 3.
    sh: PathBuf,
    cwd: PathBuf,
    /// prctl'ed name of the python that forks `/bin/true MARK prctl`.
    prctl_name: Vec<u8>,
    /// A `#!` script whose interpreter's path is hostile.
    script: PathBuf,
    interp: PathBuf,
    long_arg: String,
}

/// The name python gives itself with prctl (a `/` too, which no file name
/// can give a process).
const PRCTL_NAME: &[u8] = b"/\x1b]0;t\x07\n\xe2\x80\xae\xc2\x9b\xfe";
const PRCTL_ESC: &str = "/\\x1b]0;t\\x07\\n\\u{202e}\\u{9b}\\xfe";

const PY_PRCTL: &str = r#"
import ctypes, os, sys
ctypes.CDLL(None).prctl(15, os.fsencode(sys.argv[1]), 0, 0, 0)
pid = os.fork()
if pid == 0:
    os.execv("/bin/true", ["true", sys.argv[2], "prctl"])
os.waitpid(pid, 0)
"#;

/// The same, with a child that lives long enough for /proc to be read.
const PY_PRCTL_SLEEP: &str = r#"
import ctypes, os, sys
ctypes.CDLL(None).prctl(15, os.fsencode(sys.argv[1]), 0, 0, 0)
pid = os.fork()
if pid == 0:
    os.execv("/bin/sleep", ["sleep", "0.2", sys.argv[2]])
os.waitpid(pid, 0)
"#;

const PY_MEMFD: &str = r#"
import os, sys
fd = os.memfd_create(sys.argv[1], 0)
os.write(fd, open("/bin/true", "rb").read())
os.execve(fd, [sys.argv[1], sys.argv[2], "memfd"], {})
"#;

impl Workload {
    fn prepare() -> Workload {
        let dir = TempDir::new("attack");
        let mark = marker("atk");
        let sh = dir.path.join(os(HOSTILE));
        std::fs::copy("/bin/sh", &sh).unwrap();
        let cwd = dir.path.join(os(&cat(&[b"d", HOSTILE])));
        std::fs::create_dir(&cwd).unwrap();
        std::fs::set_permissions(&cwd, std::fs::Permissions::from_mode(0o755)).unwrap();
        let interp = dir.path.join(os(&cat(&[b"i", HOSTILE_NL])));
        std::fs::copy("/bin/sh", &interp).unwrap();
        let script = dir.path.join("script");
        std::fs::write(&script, cat(&[b"#!", interp.as_os_str().as_bytes(), b"\nexit 0\n"])).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Workload { dir, mark, sh, cwd, prctl_name: PRCTL_NAME.to_vec(), script, interp, long_arg: "a".repeat(100_000) }
    }

    /// Run it all as nobody; the hostile shell in `cgroup` (as root, the
    /// shell moves itself there first, then drops to nobody).
    fn run(&self, cgroup: &Path) {
        let py = crate::support::python("ctypes");
        let script = format!("/bin/true {} sh; exit 3", self.mark);
        let mut sh = Command::new("/bin/sh");
        sh.args(["-c", r#"echo 0 > "$1/cgroup.procs" && cd "$2" && shift 2 && exec "$@""#, "sh"])
            .arg(cgroup)
            .arg(&self.cwd)
            .arg(crate::support::tool("setpriv"))
            .args(NOBODY)
            .arg(&self.sh)
            .args(["-c", &script])
            .env("HOSTILE_VAR", os(HOSTILE));
        let (_, f) = run_capture(&mut sh);
        assert_eq!(f.status.code(), Some(3), "the hostile shell ran and exited 3\n{}", f.dump());
        run_ok(as_nobody().arg(&py).args(["-c", PY_PRCTL]).arg(os(&self.prctl_name)).arg(&self.mark));
        run_ok(as_nobody().arg(&py).args(["-c", PY_MEMFD]).arg(os(HOSTILE)).arg(&self.mark));
        run_ok(as_nobody().arg(&self.script).args([&self.mark, "script"]));
        run_ok(as_nobody().args(["/bin/true", &self.mark, "long", &self.long_arg]));
        // A uid with no name in /etc/passwd.
        run_ok(Command::new(crate::support::tool("setpriv")).args([
            "--reuid=4242",
            "--regid=4242",
            "--clear-groups",
            "/bin/true",
            &self.mark,
            "noname",
        ]));
        // Let the records of the last ones arrive.
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Every text column and note, with every option that adds one, holds
/// hostile bytes escaped (and only escaped: the rows still say what the
/// bytes were), and nothing on stdout or stderr is unsafe for a terminal;
/// at the same time, JSON has exactly the bytes, each record one valid line.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn hostile_bytes_in_every_column_are_escaped_in_text_and_exact_in_json() {
    let _g = root_test();
    let w = Workload::prepare();
    let parent = TempCgroup::new("atk");
    let cg = HostileCgroup::new(&parent, &cat(&[b"g", HOSTILE_NL]));
    let text = Tracer::start(&[
        "-t",
        "-U",
        "--names",
        "-M",
        "--print-cgroup",
        "--print-container",
        "--cwd",
        "--env",
        "-e",
        "-l",
        &w.mark,
    ]);
    let json = Tracer::start(&[
        "--json",
        "--print-cgroup",
        "--cwd",
        "--env",
        "--context",
        "--ancestry",
        "4",
        "-e",
        "-l",
        &w.mark,
    ]);
    w.run(&cg.dir);
    let t = text.stop(libc::SIGINT);
    let j = json.stop(libc::SIGINT);
    t.assert_clean_end();
    j.assert_clean_end();
    assert_terminal_safe("stdout", &t.stdout, &t);
    assert_terminal_safe("stderr", t.stderr.as_bytes(), &t);
    assert_terminal_safe("stderr", j.stderr.as_bytes(), &j);

    // Text. The shell named HOSTILE: its argv[0] (the path), its directory,
    // cgroup and environment, its user by name.
    let sh_args = format!("{}/{HOSTILE_ESC} -c /bin/true {} sh; exit 3", w.dir.path.display(), w.mark);
    let row = one_row(&t, &format!("{sh_args} [env:"));
    let cwd = format!("{}/d{HOSTILE_ESC}", w.dir.path.display());
    let cgroup = format!("{}/g{HOSTILE_NL_ESC}", parent.rel);
    assert!(row.contains(&format!(" {cgroup} - ")), "CGROUP and CONTAINER columns: {row}");
    assert!(row.contains(&format!(" {cwd} {sh_args}")), "CWD column: {row}");
    assert!(row.contains(&format!("HOSTILE_VAR={HOSTILE_ESC}")), "env note: {row}");
    assert!(row.split_whitespace().nth(1) == Some("nobody"), "UID by name: {row}");
    // Its child: the parent's name (PCOMM) is HOSTILE; and its exit line.
    let child = one_row(&t, &format!(" /bin/true {} sh [env:", w.mark));
    assert!(child.contains(&format!(" {HOSTILE_ESC} ")), "PCOMM column: {child}");
    let exits: Vec<String> =
        t.rows_with(&format!("] {HOSTILE_ESC}")).into_iter().filter(|r| r.contains("[exit: code 3,")).collect();
    assert_eq!(exits.len(), 1, "the exit line names it\n{}", t.dump());
    // prctl: the child's PCOMM, and python's exit line under that name.
    let child = one_row(&t, &format!("true {} prctl [env:", w.mark));
    assert!(child.contains(&format!(" {PRCTL_ESC} ")), "PCOMM after prctl: {child}");
    assert_eq!(t.rows_with(&format!("] {PRCTL_ESC}")).len(), 1, "\n{}", t.dump());
    // A memfd named HOSTILE run with fexecve: argv[0] and the file behind
    // the descriptor.
    let row = one_row(&t, &format!("{HOSTILE_ESC} {} memfd", w.mark));
    assert!(row.contains(&format!(" [exe=/memfd:{HOSTILE_ESC}")), "{row}");
    // The #! interpreter, as the kernel put it in argv[0].
    let interp = format!("{}/i{HOSTILE_NL_ESC}", w.dir.path.display());
    one_row(&t, &format!("{interp} {} {} script", w.script.display(), w.mark));
    // Arguments beyond the capture cap: cut, and marked once.
    let long = one_row(&t, &format!("{} long a", w.mark));
    let long = &long[..long.rfind(" [env:").unwrap_or(long.len())];
    assert!(long.ends_with("a [...]") && long.matches("[...]").count() == 1, "{:.200}", long);
    // A uid without a name shows as its number.
    let noname = one_row(&t, &format!("{} noname", w.mark));
    assert_eq!(noname.split_whitespace().nth(1), Some("4242"), "{noname}");

    // JSON: one object per line (f.json() parses every line), the bytes.
    let recs = j.json();
    let exec_of = |last: &str| -> Value {
        let found: Vec<&Value> = recs
            .iter()
            .filter(|v| v["type"] == "exec" && json_argv(v).last().is_some_and(|a| a == last.as_bytes()))
            .filter(|v| json_argv(v).iter().any(|a| a == w.mark.as_bytes()))
            .filter(|v| !json_argv(v).iter().any(|a| a.ends_with(b"setpriv")))
            .collect();
        assert_eq!(found.len(), 1, "one exec ending in {last:?}: {found:#?}\n{}", j.dump());
        found[0].clone()
    };
    let sh: &Value = recs
        .iter()
        .find(|v| v["type"] == "exec" && decode_bytes(&v["comm"]) == HOSTILE)
        .unwrap_or_else(|| panic!("no exec named HOSTILE\n{}", j.dump()));
    assert_eq!(decode_bytes(&sh["filename"]), w.sh.as_os_str().as_bytes());
    assert_eq!(json_argv(sh)[0], w.sh.as_os_str().as_bytes());
    assert_eq!(decode_bytes(&sh["cwd"]), w.cwd.as_os_str().as_bytes());
    assert_eq!(decode_bytes(&sh["cgroup"]), cg.rel);
    let env: Vec<Vec<u8>> = sh["env"].as_array().unwrap().iter().map(decode_bytes).collect();
    assert!(env.contains(&cat(&[b"HOSTILE_VAR=", HOSTILE])), "{sh}");
    let child = exec_of("sh");
    assert_eq!(decode_bytes(&child["pcomm"]), HOSTILE);
    assert_eq!(decode_bytes(&child["ancestry"][0]["comm"]), HOSTILE, "{child}");
    let x = recs
        .iter()
        .find(|v| v["type"] == "exit" && decode_bytes(&v["comm"]) == HOSTILE)
        .unwrap_or_else(|| panic!("no exit named HOSTILE\n{}", j.dump()));
    assert_eq!(x["exit_code"], 3);
    assert_eq!(decode_bytes(&exec_of("prctl")["pcomm"]), PRCTL_NAME);
    let memfd = exec_of("memfd");
    assert!(decode_bytes(&memfd["filename"]).starts_with(&cat(&[b"/memfd:", HOSTILE])), "{memfd}");
    assert_eq!((memfd["fileless"].clone(), json_argv(&memfd)[0].clone()), (Value::Bool(true), HOSTILE.to_vec()));
    let script = exec_of("script");
    assert_eq!(decode_bytes(&script["interp"]), w.interp.as_os_str().as_bytes());
    assert_eq!(decode_bytes(&script["filename"]), w.script.as_os_str().as_bytes());
    let long = recs
        .iter()
        .find(|v| v["type"] == "exec" && json_argv(v).get(2).is_some_and(|a| a == b"long"))
        .unwrap_or_else(|| panic!("no long exec\n{}", j.dump()));
    assert_eq!(long["args_truncated"], true);
    assert!(json_u64(long, "args_size") > 100_000, "{:.300}", long.to_string());
}

/// `--wait` rows and the `--summary` table with hostile names, and a user
/// who gives 5,000 processes 5,000 names: the table keeps 4,096 rows of
/// their own and one `(other commands)` row (JSON `other`), the totals
/// whole; JSON valid against the schema.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn wait_rows_and_the_summary_hold_hostile_and_countless_names() {
    let python = crate::support::python("jsonschema");
    let _g = root_test();
    let w = Workload::prepare();
    let names = crate::support::compile_c("names", NAMES_C);
    std::fs::set_permissions(names.path.parent().unwrap(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let parent = TempCgroup::new("atksum");
    let uid = ["-u", "65534"];
    let wait = Tracer::start(&[&uid[..], &["--wait", "-M"]].concat());
    let summary = Tracer::start(&[&uid[..], &["--summary"]].concat());
    let jsummary = Tracer::start(&[&uid[..], &["--summary", "--json"]].concat());
    w.run(&parent.path);
    let n = 5000;
    run_ok(as_nobody().arg(&names.path).arg(n.to_string()));
    std::thread::sleep(Duration::from_millis(300));
    let (wt, st, jt) = (wait.stop(libc::SIGINT), summary.stop(libc::SIGINT), jsummary.stop(libc::SIGINT));
    for f in [&wt, &st, &jt] {
        f.assert_clean_end();
        assert_terminal_safe("stderr", f.stderr.as_bytes(), f);
    }
    assert_terminal_safe("stdout", &wt.stdout, &wt);
    assert_terminal_safe("stdout", &st.stdout, &st);

    // --wait: the shell's row, with its exit code, and its child's.
    let row = wt.one_row_with(&format!("/{HOSTILE_ESC} -c /bin/true {} sh; exit 3", w.mark));
    assert!(row.contains(" 3 "), "EXIT 3: {row}");
    let child = wt.one_row_ending(&format!("/bin/true {} sh", w.mark));
    assert!(child.starts_with(&format!("{HOSTILE_ESC} ")), "PCOMM first: {child}");

    // The text table: HOSTILE escaped, at most 4096 rows of names, then
    // the other commands, then TOTAL.
    let out = st.stdout_str();
    let table: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("COMMAND ")).collect();
    assert!(table.iter().any(|l| l.starts_with(HOSTILE_ESC)), "{:.2000}", out);
    let other = table.iter().position(|l| l.starts_with("(other commands) ")).expect("an (other commands) row");
    assert_eq!(other, table.len() - 2, "before TOTAL");
    assert!(table.len() - 3 <= 4096, "{} rows of names", table.len() - 3);
    assert!(table[table.len() - 1].starts_with("TOTAL "));

    let recs = jt.json();
    let s = recs.iter().find(|v| v["type"] == "summary").unwrap_or_else(|| panic!("no summary\n{}", jt.dump()));
    let commands = s["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 4096, "rows of their own, at most");
    assert!(commands.iter().any(|c| decode_bytes(&c["comm"]) == HOSTILE));
    let sum = |key: &str| commands.iter().map(|c| json_u64(c, key)).sum::<u64>() + json_u64(&s["other"], key);
    assert_eq!(sum("exits"), json_u64(&s["total"], "exits"));
    assert_eq!(sum("cpu_ns"), json_u64(&s["total"], "cpu_ns"));
    assert!(json_u64(&s["total"], "exits") >= n, "every named child's end is in the table: {}", s["total"]);
    // Valid against the schema: the summary with `other`, and the rest.
    let dir = TempDir::new("atkschema");
    let input = dir.path.join("records.jsonl");
    std::fs::write(&input, jt.stdout_str()).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/execsnoop.schema.json");
    let f = run_tool(Command::new(&python).arg("-c").arg(crate::support::VALIDATE_PY).arg(&schema).arg(&input));
    assert!(f.status.success(), "records the schema rejects:\n{}", f.dump());
}

/// `names N`: N children, each renamed (`nm000001`, ...) before it exits.
const NAMES_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 0;
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            char name[16];
            snprintf(name, sizeof name, "nm%06ld", i);
            prctl(PR_SET_NAME, name, 0, 0, 0);
            _exit(0);
        }
        if (p < 0 || waitpid(p, NULL, 0) != p)
            return 1;
    }
    return 0;
}
"#;


/// Where the tracer finds (or mounts) tracefs.
fn tracefs() -> PathBuf {
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("trace_pipe").exists())
        .unwrap_or_else(|| PathBuf::from("/sys/kernel/tracing"))
}

/// The ftrace source reads text the kernel prints raw. A file name with
/// newlines held a whole exec line of its own, forged: "pid 1 exec'd
/// /usr/bin/sudo", with init's arguments read from /proc. Now such an exec
/// never reaches the text: it is counted (lost kind newline-filename), and
/// nothing forged appears. Names made with prctl that cut lines, or read as
/// the start of a header, change nothing either: the exits are joined back
/// and nothing is counted as malformed. Nobody cannot reach the instances.
#[test]
#[ignore = "needs root: creates tracefs instances"]
fn ftrace_lines_cannot_be_forged_by_names() {
    let _g = root_test();
    let py = crate::support::python("ctypes");
    let mark = marker("ftr");
    let dir = TempDir::new("ftrace-forge");
    // The directories of a path that, printed after `filename=`, reads:
    //   <the real line's start>.../d
    //              sudo-1       [000] .....     1.000000: sched_process_exec: filename=/usr/bin/sudo pid=1 old_pid=1
    //   x pid=<real> old_pid=<real>
    let fake = "           sudo-1       [000] .....     1.000000: sched_process_exec: filename=";
    let bin_dir = dir.path.join(format!("d\n{fake}")).join("usr/bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let forged = bin_dir.join("sudo pid=1 old_pid=1\nx");
    std::fs::copy("/bin/true", &forged).unwrap();
    let mut p = bin_dir.clone();
    while p != dir.path {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.pop();
    }
    let t = Tracer::start(&["--source", "ftrace", "--json", "-e"]);
    let pid = t.pid();
    // Nobody can see neither tracefs nor our instances, let alone switch
    // them off.
    let inst = tracefs().join("instances").join(format!("execsnoop-{pid}"));
    assert!(inst.is_dir(), "our instance {inst:?}\n{}", t.dump());
    let (_, ls) = run_capture(as_nobody().arg("/bin/ls").arg(&inst));
    assert!(!ls.status.success(), "nobody lists our instance\n{}", ls.dump());
    let (_, off) = run_capture(as_nobody().args(["/bin/sh", "-c", r#"echo 0 > "$1/tracing_on""#, "sh"]).arg(&inst));
    assert!(!off.status.success(), "nobody switches our instance off\n{}", off.dump());

    run_ok(as_nobody().arg(&forged).arg(&mark));
    // Names with newlines, and one that reads as a header's start
    // (`-1 [0] 1: e:`), given with prctl before forking an exec.
    let sleep = crate::support::sleep_marker();
    for name in [&b"a\nb"[..], b"\n-1 [0] 1: e:", b"x\n\ny\nz"] {
        run_ok(as_nobody().arg(&py).args(["-c", PY_PRCTL_SLEEP]).arg(os(name)).arg(&sleep));
    }
    std::thread::sleep(Duration::from_millis(500));
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let recs = f.json();
    let forgeries: Vec<&Value> = recs
        .iter()
        .filter(|v| v["type"] == "exec" && (v["pid"] == 1 || decode_bytes(&v["filename"]).ends_with(b"/usr/bin/sudo")))
        .collect();
    assert!(forgeries.is_empty(), "forged records: {forgeries:#?}");
    let lost = |kind: &str| -> u64 {
        recs.iter().filter(|v| v["type"] == "lost" && v["kind"] == kind).map(|v| json_u64(v, "count")).sum()
    };
    assert_eq!(lost("newline-filename"), 1, "the exec of the forging name is counted\n{}", f.dump());
    assert_eq!(lost("malformed"), 0, "no line left unparsed\n{}", f.dump());
    // The three pythons' children ran; the pythons' exits carry their names.
    assert_eq!(
        recs.iter()
            .filter(|v| v["type"] == "exec" && v["filename"] == "/bin/sleep")
            .filter(|v| json_argv(v).iter().any(|a| a == sleep.as_bytes()))
            .count(),
        3,
        "\n{}",
        f.dump()
    );
    for name in [&b"a\nb"[..], b"\n-1 [0] 1: e:", b"x\n\ny\nz"] {
        assert!(
            recs.iter().any(|v| v["type"] == "exit" && decode_bytes(&v["comm"]) == name),
            "an exit named {:?}\n{}",
            String::from_utf8_lossy(name),
            f.dump()
        );
    }
    // Text mode says it on stderr, safely.
    let t = Tracer::start(&["--source", "ftrace"]);
    run_ok(as_nobody().arg(&forged).arg(&mark));
    std::thread::sleep(Duration::from_millis(300));
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    assert!(f.stderr.contains("WARNING: lost 1 events (execs with a newline in their file name"), "\n{}", f.dump());
    let pid1: Vec<String> =
        f.stdout_str().lines().filter(|l| l.split_whitespace().next() == Some("1")).map(str::to_string).collect();
    assert!(pid1.is_empty(), "a row of pid 1: {pid1:#?}");
    assert_terminal_safe("stdout", &f.stdout, &f);
}

/// `cgwalk DIR N TAG`: N times make DIR/nI, move into it, remove the one
/// before (empty now) if its number is odd, and run `/bin/true TAG-I`
/// there: every exec is in a cgroup new to the tracer, and every other one
/// is gone right after; the rest are removed at the end.
const CGWALK_C: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
static int enter(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s/cgroup.procs", dir);
    int fd = open(p, O_WRONLY);
    if (fd < 0) return -1;
    int ok = write(fd, "0", 1) == 1;
    close(fd);
    return ok ? 0 : -1;
}
int main(int argc, char **argv) {
    if (argc != 4) return 2;
    long n = atol(argv[2]);
    char cur[4096], prev[4096] = "", arg[256];
    for (long i = 0; i < n; i++) {
        snprintf(cur, sizeof cur, "%s/n%ld", argv[1], i);
        if (mkdir(cur, 0755) != 0 || enter(cur) != 0) { perror(cur); return 3; }
        if (i % 2 == 0 && prev[0] && rmdir(prev) != 0) { perror(prev); return 4; }
        snprintf(arg, sizeof arg, "%s-%ld", argv[3], i);
        pid_t p = fork();
        if (p == 0) { execl("/bin/true", "true", arg, (char *)NULL); _exit(127); }
        if (p < 0 || waitpid(p, NULL, 0) != p) return 5;
        strcpy(prev, cur);
    }
    if (enter(argv[1]) != 0) return 6;
    for (long i = 0; i < n; i += 2) {
        snprintf(cur, sizeof cur, "%s/n%ld", argv[1], i);
        if (rmdir(cur) != 0) { perror(cur); return 7; }
    }
    if (n % 2 == 0) {
        snprintf(cur, sizeof cur, "%s/n%ld", argv[1], n - 1);
        if (rmdir(cur) != 0) { perror(cur); return 8; }
    }
    return 0;
}
"#;

/// CPU time (user + system) of a process so far, from /proc/PID/stat.
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = after.split(' ').map(|x| x.parse().unwrap_or(0)).collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis((f[11] + f[12]) * 1000 / hz)
}

/// With 4,000 cgroups, execs each in a cgroup made just before (every other
/// one removed just after): each was a first miss that walked the whole
/// tree at once, so the tracer spent its time walking (tens of ms a walk)
/// and fell behind. Now a new id is opened by handle (no walk), and walks,
/// where handles do not work, are paid from a budget: the tracer's CPU
/// stays small, every exec arrives, the cgroups still there are found, and
/// a path shown is always the right one (`null` for one removed before it
/// was looked up, never a wrong one).
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn execs_in_ever_new_cgroups_cannot_keep_the_tracer_walking() {
    let _g = root_test();
    let prog = crate::support::compile_c("cgwalk", CGWALK_C);
    let mut parent = TempCgroup::new("atkwalk");
    let fill = parent.child("fill");
    // Under emulation (the VM matrix) cgroup operations are slow: fewer.
    let many = if crate::support::in_vm() { 200 } else { 4000 };
    let started = Instant::now();
    for i in 0..many {
        std::fs::create_dir(fill.join(format!("c{i}"))).unwrap();
    }
    struct Fill(PathBuf, usize);
    impl Drop for Fill {
        fn drop(&mut self) {
            for i in 0..self.1 {
                let _ = std::fs::remove_dir(self.0.join(format!("c{i}")));
            }
        }
    }
    let _fill = Fill(fill.clone(), many);
    eprintln!("{many} cgroups made in {:?}", started.elapsed());
    let tag = marker("walk");
    let tag_arg = format!("{tag}-");
    let t = Tracer::start(&["--json", "--print-cgroup", "-l", &tag_arg]);
    let before = cpu_of(t.pid());
    let n = if crate::support::in_vm() { 40 } else { 300 };
    let took = Instant::now();
    let (_, out) = run_capture(Command::new(&prog.path).arg(&parent.path).arg(n.to_string()).arg(&tag));
    assert!(out.status.success(), "\n{}", out.dump());
    let took = took.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let cpu = cpu_of(t.pid()) - before;
    let f = t.stop(libc::SIGINT);
    let (_, shown, lost) = f.assert_clean_end();
    assert_eq!((shown, lost), (n, 0), "every exec, none lost\n{}", f.dump());
    let (mut unknown, mut kept_unknown) = (0, 0);
    for v in f.json().iter().filter(|v| v["type"] == "exec") {
        let arg = String::from_utf8(json_argv(v)[1].clone()).unwrap();
        let i: u64 = arg.rsplit('-').next().unwrap().parse().unwrap();
        match &v["cgroup"] {
            Value::Null if i.is_multiple_of(2) => kept_unknown += 1,
            Value::Null => unknown += 1,
            c => assert_eq!(decode_bytes(c), format!("{}/n{i}", parent.rel).as_bytes(), "{v}"),
        }
    }
    eprintln!(
        "{n} execs in new cgroups in {took:?}: tracer CPU {cpu:?}; unknown: {kept_unknown} of the kept, {unknown} of the removed"
    );
    assert!(kept_unknown <= n / 20, "{kept_unknown} of the cgroups still there not found");
    // Unbounded, this was a walk of the whole tree per exec: seconds.
    assert!(cpu < took / 2 + Duration::from_millis(300), "tracer CPU {cpu:?} over {took:?}");
}

/// A storm of short-lived processes from one user into the smallest ring
/// buffer, with every table on (exits, summary, ancestry): no crash, a
/// clean end, and every exec either shown or counted as lost.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn a_storm_from_one_user_is_survived_and_counted() {
    let _g = root_test();
    let storm = crate::support::compile_storm();
    std::fs::set_permissions(storm.path.parent().unwrap(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tag = marker("storm");
    let total = if crate::support::in_vm() { 200 } else { 4000 };
    let mut driver = Background::spawn(as_nobody().arg(&storm.path).args([&total.to_string(), "4", "1", &tag]));
    let d = driver.pid().to_string();
    let t = Tracer::start(&[
        "--json",
        "--buffer-kib",
        "4",
        "-e",
        "--summary",
        "--context",
        "--ancestry",
        "8",
        "-u",
        "65534",
        "-l",
        &tag,
    ]);
    driver.send(b"go");
    let out = driver.wait(Duration::from_secs(120));
    assert!(out.status.success(), "storm driver {d}\n{}", out.dump());
    assert_eq!(out.stdout_str().trim(), total.to_string());
    std::thread::sleep(Duration::from_millis(300));
    let f = t.stop(libc::SIGINT);
    let (_, shown, lost) = f.assert_clean_end();
    let rows = f.json().iter().filter(|v| v["type"] == "exec").count() as u64;
    assert_eq!(rows, shown);
    assert!(shown + lost >= total as u64, "{shown} shown + {lost} lost < {total}\n{}", f.dump());
    eprintln!("storm of {total}: {shown} shown, {lost} lost (all kinds)");
}

/// What stderr says quotes the user's bytes escaped: a COMMAND that cannot
/// run, a `-c` path, and clap's own errors, which quote a bad value as
/// given (a CR, a C1 CSI, a bidi override raw; a newline cut the message).
/// No root needed: all of it is refused before tracing starts.
#[test]
fn usage_errors_quote_bad_values_escaped_on_one_line() {
    let cases: [(Vec<&OsStr>, &str); 6] = [
        (
            vec![os(b"-a"), os(b"3\r\xc2\x9b2J\xe2\x80\xaeZ")],
            "invalid value '3\\r\\u{9b}2J\\u{202e}Z' for '--argc <ARGC>'",
        ),
        (vec![os(b"-a"), os(b"1\nfake line")], "invalid value '1\\nfake line' for '--argc <ARGC>'"),
        (vec![os(b"--source"), os(b"\rbpf")], "[possible values: auto, bpf, ftrace, netlink, procfs]"),
        (vec![os(b"--bogus\xe2\x80\xae")], "unexpected argument '--bogus\\u{202e}' found"),
        (vec![os(b"-c"), os(b"/tmp/\x1b[2J\nx")], "--cgroup /tmp/\\x1b[2J\\nx: No such file or directory"),
        (vec![os(b"-u"), os(b"x\x1b]0;t\x07")], "unknown user \"x\\u{1b}]0;t\\u{7}\""),
    ];
    for (args, want) in cases {
        let f = run_tool(Command::new(bin()).args(&args));
        assert_error_exit(&f, 2, true);
        assert_terminal_safe("stderr", f.stderr.as_bytes(), &f);
        assert!(f.stderr.contains(want), "{args:?}: expected {want:?}\n{}", f.dump());
    }
}

/// `-- COMMAND` that cannot run names the command escaped (it printed the
/// bytes as given: an ESC clearing the screen), status 127.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn a_command_that_cannot_run_is_named_escaped() {
    let _g = root_test();
    let f = run_tool(Command::new(bin()).arg("--").arg(os(&cat(&[b"/nonexistent/", HOSTILE]))));
    assert_eq!(f.status.code(), Some(127), "\n{}", f.dump());
    assert_terminal_safe("stderr", f.stderr.as_bytes(), &f);
    assert!(
        f.stderr.contains(&format!("execsnoop: cannot run /nonexistent/{HOSTILE_ESC}: No such file or directory")),
        "\n{}",
        f.dump()
    );
}
