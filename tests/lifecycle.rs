//! End-to-end tests of following processes to their end: exit records (`-e`,
//! `--wait`), CPU and lifetime, `--summary`, `-p PID`, `-- COMMAND` and
//! `--tree`.
//!
//! The tracing tests need root and BPF, so each one is `#[ignore]`d by
//! default and fails with a clear message when run without root (run
//! `cargo test --release -- --include-ignored` as root; CI does). They run
//! one at a time and look only at processes carrying their own marker.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Background, Tracer, compile_c, json_u64, marker, root_test, run_marked, run_tool};

const SLOW: Duration = Duration::from_secs(10);

/// `nap SECONDS MARK`: sleep, with a marker in argv (sleep(1) would take the
/// marker for a duration).
fn nap() -> crate::support::CProgram {
    compile_c(
        "nap",
        r#"
#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv) {
    double s = argc > 1 ? atof(argv[1]) : 0;
    struct timespec t = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
    nanosleep(&t, 0);
    return 0;
}
"#,
    )
}

/// The exit record of `pid` that ends exec record `exec`.
fn exit_of<'a>(records: &'a [Value], exec: &Value) -> &'a Value {
    let pid = json_u64(exec, "pid");
    let ts = json_u64(exec, "ts_ns");
    let hits: Vec<&Value> =
        records.iter().filter(|r| r["type"] == "exit" && r["pid"] == pid && r["exec_ts_ns"] == ts).collect();
    assert_eq!(hits.len(), 1, "one exit record for pid {pid} exec {ts}: {hits:?}");
    hits[0]
}

/// The one exec record whose argv has `mark`.
fn exec_with<'a>(records: &'a [Value], mark: &str, argv0: &str) -> &'a Value {
    let hits: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["type"] == "exec"
                && r["argv"].as_array().is_some_and(|a| a.iter().any(|x| x.as_str().is_some_and(|s| s.contains(mark))))
                && r["argv"][0] == argv0
        })
        .collect();
    assert_eq!(hits.len(), 1, "one {argv0} exec with {mark}: {hits:?}");
    hits[0]
}

/// `sh -c 'exit 3'` reports code 3; a process killed by SIGKILL reports the
/// signal; every field of the exit record is there.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn exit_code_and_killing_signal() {
    let _g = root_test();
    let nap = nap();
    let mark = marker("exit");
    let t = Tracer::start(&["-e", "--json"]);
    let _ = run_tool(Command::new("sh").args(["-c", &format!("exit 3 # {mark}")]));
    let victim = Background::spawn(Command::new(&nap.path).args(["30", &mark]));
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill takes a pid and a signal number.
    unsafe { libc::kill(victim.pid() as i32, libc::SIGKILL) };
    let killed = victim.wait(SLOW);
    assert!(!killed.status.success());
    std::thread::sleep(Duration::from_millis(200));
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let recs = f.json();

    let sh = exec_with(&recs, &mark, "sh");
    let x = exit_of(&recs, sh);
    assert_eq!(x["exit_code"], 3, "{x}");
    assert_eq!(x["signal"], Value::Null, "{x}");
    assert_eq!(x["comm"], "sh", "{x}");
    assert!(json_u64(x, "ts_ns") >= json_u64(sh, "ts_ns"), "{x}");
    assert_eq!(json_u64(x, "lifetime_ns"), json_u64(x, "ts_ns") - json_u64(sh, "ts_ns"), "{x}");
    assert!(x["cpu_ns"].is_u64(), "{x}");
    assert_eq!(x["source"], "bpf");

    let sleep = exec_with(&recs, &mark, nap.path.to_str().unwrap());
    let x = exit_of(&recs, sleep);
    assert_eq!(x["signal"], 9, "{x}");
    assert_eq!(x["signal_name"], "SIGKILL", "{x}");
    assert_eq!(x["exit_code"], Value::Null, "{x}");
    assert_eq!(x["core_dumped"], false, "{x}");
}

/// A process that burns 0.3 s of CPU reports 0.3 s (within 20 %); one that
/// sleeps 0.3 s reports about 0 CPU and 0.3 s of lifetime. The busy one runs
/// a second thread for part of the time: CPU counts all threads.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn cpu_time_and_lifetime() {
    let _g = root_test();
    let busy = compile_c(
        "busy",
        r#"
#include <pthread.h>
#include <time.h>
static double cpu(void) {
    struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
static void *spin(void *a) { volatile unsigned long n = 0; while (cpu() < 0.1) n++; return a; }
int main(int argc, char **argv) {
    (void)argc; (void)argv;
    pthread_t th; pthread_create(&th, 0, spin, 0); pthread_join(th, 0);
    volatile unsigned long n = 0;
    while (cpu() < 0.3) n++;
    return 0;
}
"#,
    );
    let nap = nap();
    let mark = marker("cpu");
    let t = Tracer::start(&["-e", "--json"]);
    run_marked(&busy.path, &[mark.as_str()]);
    run_marked(&nap.path, &["0.3", mark.as_str()]);
    std::thread::sleep(Duration::from_millis(200));
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let recs = f.json();

    let b = exec_with(&recs, &mark, busy.path.to_str().unwrap());
    let x = exit_of(&recs, b);
    let cpu = json_u64(x, "cpu_ns") as f64 / 1e9;
    assert!((0.24..=0.36).contains(&cpu), "busy loop of 0.3 s CPU reported {cpu} s\n{x}");
    assert_eq!(x["exit_code"], 0);
    let exits_of_busy = recs.iter().filter(|r| r["type"] == "exit" && r["pid"] == b["pid"]).count();
    assert_eq!(exits_of_busy, 1, "the thread's end is not a process end");

    let s = exec_with(&recs, &mark, nap.path.to_str().unwrap());
    let x = exit_of(&recs, s);
    let cpu = json_u64(x, "cpu_ns") as f64 / 1e9;
    let life = json_u64(x, "lifetime_ns") as f64 / 1e9;
    // Under emulation (the VM matrix) starting a process costs far more.
    let (cpu_max, life_max) = if crate::support::in_vm() { (0.2, 2.0) } else { (0.03, 0.5) };
    assert!(cpu < cpu_max, "sleep 0.3 used {cpu} s of CPU\n{x}");
    assert!((0.29..=life_max).contains(&life), "sleep 0.3 lived {life} s\n{x}");
}

/// `-- COMMAND`: every exec of its tree is shown from the first, nothing
/// outside it, and execsnoop exits with the command's status.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn command_is_traced_from_its_first_exec_and_sets_the_status() {
    let _g = root_test();
    let mark = marker("cmd");
    let outside = marker("outside");
    // Something outside the tree execs all the while.
    let noise = Background::spawn(
        Command::new("sh").args(["-c", &format!("while :; do /bin/echo {outside} >/dev/null; sleep 0.01; done")]),
    );
    let script = format!("sh -c \"/bin/true {mark}; /bin/true {mark}\"; sleep 0.2; exit 7");
    let f = run_tool(Command::new(crate::support::bin()).args(["--json", "--", "sh", "-c", &script]));
    // SAFETY: kill takes a pid and a signal number.
    unsafe { libc::kill(noise.pid() as i32, libc::SIGKILL) };
    let _ = noise.wait(SLOW);

    assert_eq!(f.status.code(), Some(7), "exits with the command's status\n{}", f.dump());
    let recs = f.json();
    let execs: Vec<&Value> = recs.iter().filter(|r| r["type"] == "exec").collect();
    let argv0: Vec<String> = execs.iter().map(|r| r["argv"][0].as_str().unwrap_or("?").to_string()).collect();
    assert_eq!(argv0, ["sh", "sh", "/bin/true", "/bin/true", "sleep"], "the whole tree, in order\n{}", f.dump());
    assert_eq!(crate::support::json_argv(execs[0])[2], script.as_bytes(), "the first exec is the command itself");
    assert!(!f.stdout_str().contains(&outside), "nothing outside the tree\n{}", f.dump());
    let depths: Vec<u64> = execs.iter().map(|r| json_u64(r, "depth")).collect();
    assert_eq!(depths, [0, 1, 2, 2, 1], "depth below the command");

    // A command killed by a signal: 128 + signal.
    let f = run_tool(Command::new(crate::support::bin()).args(["--", "sh", "-c", "kill -TERM $$"]));
    assert_eq!(f.status.code(), Some(128 + 15), "{}", f.dump());
    // A command that cannot run: one line, no output, and the status a
    // shell (or env, timeout, nohup) gives: 127 when it is not found, 126
    // when it is found but cannot be executed.
    let f = run_tool(Command::new(crate::support::bin()).args(["--", "/nonexistent/execsnoop-test-command"]));
    crate::support::assert_error_exit(&f, 127, true);
    assert!(f.stderr.contains("cannot run /nonexistent/execsnoop-test-command"), "{}", f.dump());
    let f = run_tool(Command::new(crate::support::bin()).args(["--", "execsnoop-test-no-such-command-on-path"]));
    crate::support::assert_error_exit(&f, 127, true);
    for not_executable in ["/etc/passwd", "/tmp"] {
        let f = run_tool(Command::new(crate::support::bin()).args(["--", not_executable]));
        crate::support::assert_error_exit(&f, 126, true);
        assert!(f.stderr.contains(&format!("cannot run {not_executable}")), "{}", f.dump());
    }
}

/// `-p PID` follows a running shell's tree: a grandchild forked after
/// tracing started is caught, and a process outside the tree is not.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn pid_follows_descendants_forked_later() {
    let _g = root_test();
    let mark = marker("desc");
    let go = std::env::temp_dir().join(format!("execsnoop-test-go-{mark}"));
    let _ = std::fs::remove_file(&go);
    // The shell waits for the go file, then starts a grandchild via a child sh.
    let script = format!(
        "while [ ! -e {go} ]; do sleep 0.02; done; sh -c 'sleep 0.1; /bin/echo {mark} inner'; /bin/echo {mark} outer",
        go = go.display()
    );
    let shell = Background::spawn(Command::new("sh").args(["-c", &script]));
    let pid = shell.pid().to_string();
    let t = Tracer::start(&["-p", &pid, "--json", "--tree"]);
    run_marked("/bin/echo", &[mark.as_str(), "stranger"]);
    std::fs::write(&go, b"").expect("create go file");
    let done = shell.wait(SLOW);
    assert!(done.status.success(), "{}", done.dump());
    let _ = std::fs::remove_file(&go);
    std::thread::sleep(Duration::from_millis(100));
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let recs = f.json();
    let echoes: Vec<&Value> = recs
        .iter()
        .filter(|r| r["type"] == "exec" && r["argv"][0] == "/bin/echo" && r["argv"][1] == mark.as_str())
        .collect();
    let words: Vec<&str> = echoes.iter().map(|r| r["argv"][2].as_str().unwrap_or("")).collect();
    assert_eq!(words, ["inner", "outer"], "both descendants, not the stranger\n{}", f.dump());
    // The shell is depth 0; its sh child 1; the grandchild echo 2.
    assert_eq!(json_u64(echoes[0], "depth"), 2, "{}", echoes[0]);
    assert_eq!(json_u64(echoes[1], "depth"), 1, "{}", echoes[1]);
}

/// `--summary` with JSON: its totals are exactly the sums over the exit
/// records, commands are sorted by CPU, and a subshell (fork without exec)
/// counts toward its parent's command.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn summary_totals_equal_the_exit_records() {
    let _g = root_test();
    let script = "for i in 1 2 3; do /bin/true; done; (i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done); exit 0";
    let f = run_tool(Command::new(crate::support::bin()).args(["--summary", "--json", "--", "sh", "-c", script]));
    assert_eq!(f.status.code(), Some(0), "{}", f.dump());
    let recs = f.json();
    let exits: Vec<&Value> = recs.iter().filter(|r| r["type"] == "exit").collect();
    let summaries: Vec<&Value> = recs.iter().filter(|r| r["type"] == "summary").collect();
    assert_eq!(summaries.len(), 1, "{}", f.dump());
    let s = summaries[0];
    assert_eq!(recs.last().map(|r| r["type"].clone()), Some(Value::from("end")), "summary before end");
    let cpu: u64 = exits.iter().map(|x| json_u64(x, "cpu_ns")).sum();
    let life: u64 = exits.iter().map(|x| json_u64(x, "lifetime_ns")).sum();
    assert_eq!(json_u64(&s["total"], "cpu_ns"), cpu, "{s}");
    assert_eq!(json_u64(&s["total"], "lifetime_ns"), life, "{s}");
    assert_eq!(json_u64(&s["total"], "exits"), exits.len() as u64, "{s}");
    let cmds = s["commands"].as_array().expect("commands");
    let cpus: Vec<u64> = cmds.iter().map(|c| json_u64(c, "cpu_ns")).collect();
    assert!(cpus.windows(2).all(|w| w[0] >= w[1]), "sorted by CPU: {cpus:?}");
    let sh = cmds.iter().find(|c| c["comm"] == "sh").expect("sh in the summary");
    assert_eq!(json_u64(sh, "execs"), 1, "{sh}");
    assert!(json_u64(sh, "forks") >= 1, "the subshell counts toward sh: {sh}");
    let t = cmds.iter().find(|c| c["comm"] == "true").expect("true in the summary");
    assert_eq!((json_u64(t, "execs"), json_u64(t, "exits"), json_u64(t, "running")), (3, 3, 0), "{t}");
    assert_eq!(t["failed"], Value::Null, "no FAILED without -x");
}

/// Text forms: `-e` adds an exit line; `--wait` prints one row per process
/// when it ends with EXIT, TIME(s) and CPU(s); `--tree` indents by depth;
/// `--summary` ends with a table.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn text_exit_lines_wait_rows_tree_and_summary_table() {
    let _g = root_test();
    let script = "sh -c 'sleep 0.2'; exit 5";
    let f = run_tool(Command::new(crate::support::bin()).args(["-e", "--tree", "--", "sh", "-c", script]));
    assert_eq!(f.status.code(), Some(5), "{}", f.dump());
    let out = f.stdout_str();
    let lines: Vec<&str> = out.lines().collect();
    assert!(crate::support::is_header(lines[0]), "{out}");
    assert!(lines[1].ends_with(&format!(" sh -c {script}")), "depth 0, no indent: {out}");
    assert!(lines[2].ends_with("   sh -c sleep 0.2"), "depth 1, indented: {out}");
    assert!(lines[3].ends_with("     sleep 0.2"), "depth 2: {out}");
    let sleep_exit = if crate::support::in_vm() { "     [exit: code 0, lifetime " } else { "     [exit: code 0, lifetime 0.2" };
    assert!(lines[4].contains(sleep_exit), "exit line of sleep: {out}");
    assert!(lines.iter().any(|l| l.contains("[exit: code 5, lifetime ") && l.ends_with("] sh")), "{out}");

    let f = run_tool(Command::new(crate::support::bin()).args(["--wait", "--summary", "--", "sh", "-c", "sleep 0.3; exit 2"]));
    assert_eq!(f.status.code(), Some(2), "{}", f.dump());
    let out = f.stdout_str();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "   PID   PPID EXIT      TIME(s)   CPU(s) ARGS", "{out}");
    let sleep_row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&sleep_row[2..], ["0", sleep_row[3], sleep_row[4], "sleep", "0.3"], "{out}");
    let life: f64 = sleep_row[3].parse().expect("TIME(s) is a number");
    assert!((0.29..0.6).contains(&life), "{out}");
    let sh_row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(sh_row[2], "2", "sh ends last, with code 2: {out}");
    let table = out.split("\n\n").nth(1).expect("a table after a blank line");
    assert!(table.starts_with("COMMAND "), "{out}");
    assert!(table.lines().any(|l| l.starts_with("sleep ")), "{out}");
    assert!(table.lines().last().is_some_and(|l| l.starts_with("TOTAL ")), "{out}");
}

/// `--wait --json`: each exec record is written when its process ends,
/// just before its exit record (the --wait stage holds it; JSON renders a
/// held exec as the exec record, then the exit record); a program replaced
/// by a later exec of its process is written when that exec comes, with no
/// exit of its own; one still running when tracing ends is written then.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn json_wait_writes_each_exec_with_its_exit() {
    let _g = root_test();
    // The background sleep outlives the command (by far, even under TCG),
    // away from the output pipe that run_tool reads to its end.
    let script = "sleep 1 >/dev/null 2>&1 & sh -c 'exit 3'; exec env sleep 0.1";
    let f = run_tool(Command::new(crate::support::bin()).args(["--wait", "--json", "--", "sh", "-c", script]));
    assert_eq!(f.status.code(), Some(0), "{}", f.dump());
    let recs = f.json();
    let kinds: Vec<String> = recs
        .iter()
        .filter(|r| r["type"] == "exec" || r["type"] == "exit")
        .map(|r| format!("{} {}", r["type"].as_str().unwrap(), r["comm"].as_str().unwrap_or("?")))
        .collect();
    // sh -c 'exit 3' ends first, with its exit; the outer sh is replaced by
    // env, env by sleep 0.1, which ends; the background sleep 1 outlives
    // the command and is written at the end, running.
    let want = ["exec sh", "exit sh", "exec sh", "exec env", "exec sleep", "exit sleep", "exec sleep"];
    assert_eq!(kinds, want, "{}", f.dump());
    let execs: Vec<&Value> = recs.iter().filter(|r| r["type"] == "exec").collect();
    let exits: Vec<&Value> = recs.iter().filter(|r| r["type"] == "exit").collect();
    assert_eq!(exits[0]["exit_code"], 3, "{}", f.dump());
    assert_eq!(json_u64(exits[0], "exec_ts_ns"), json_u64(execs[0], "ts_ns"), "the exit follows its own exec");
    assert_eq!(json_u64(exits[1], "exec_ts_ns"), json_u64(execs[3], "ts_ns"), "{}", f.dump());
    assert_eq!(execs[4]["argv"][1], "1", "the background sleep, last: {}", f.dump());
}
