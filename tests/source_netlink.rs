//! End-to-end tests of the netlink source (`--source netlink`, the kernel's
//! process connector): exec rows and JSON records with arguments read from
//! /proc, exit codes and signals with `-e`, `-p` following a process tree
//! forked after tracing started, `-P` applied in user space, and the options
//! the connector cannot honour.
//!
//! Tracing tests need root (joining the connector's multicast group needs
//! CAP_NET_ADMIN), so each one is `#[ignore]`d by default and fails with a
//! clear message when run without root (run `cargo test --release --
//! --include-ignored` as root). They run one at a time and look only at
//! records carrying their own marker. The option errors need nothing and
//! always run.
//!
//! The arguments are read from /proc after the exec, so every traced command
//! here lives long enough (`sleep 0.3`) for the read to find it. `sleep`
//! rejects a word it cannot parse, so its marker is a number of seconds too
//! small to matter, made of digits no other process has.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    Finished, Tracer, assert_error_exit, bin, json_argv, json_u64, my_pid, nobody_uid, root_test, row,
    run_capture, run_marked, run_tool,
};

fn argv_strings(v: &Value) -> Vec<String> {
    json_argv(v).into_iter().map(|a| String::from_utf8_lossy(&a).into_owned()).collect()
}

/// JSON exit records of process `pid`.
fn json_exits_of(f: &Finished, pid: u32) -> Vec<Value> {
    f.json().into_iter().filter(|v| v["type"] == "exit" && v["pid"] == pid).collect()
}

/// The one JSON exec record with `mark` among its arguments.
fn one_exec(f: &Finished, mark: &str) -> Value {
    let recs = f.json_execs_with(mark);
    assert_eq!(recs.len(), 1, "expected one exec record with {mark:?}, got {recs:#?}\n{}", f.dump());
    recs.into_iter().next().unwrap()
}

/// Wait (with a timeout) for a child started with `spawn` to end.
fn wait_child(child: &mut std::process::Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child {} did not end within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The text row: pid, parent and the arguments read from /proc; the
/// notice about /proc on stderr.
#[test]
#[ignore = "needs root: the proc connector needs CAP_NET_ADMIN"]
fn text_row_for_a_marked_sleep() {
    let _g = root_test();
    let mark = crate::support::sleep_marker();
    let t = Tracer::start(&["--source", "netlink"]);
    let pid = run_marked("sleep", &["0.3", mark.as_str()]);
    let f = t.stop(libc::SIGINT);
    let (received, shown, lost) = f.assert_clean_end();
    assert!(received >= 1 && shown >= 1, "\n{}", f.dump());
    assert_eq!(lost, 0, "\n{}", f.dump());
    assert_eq!(f.rows_with(&mark), vec![row(pid, my_pid(), &format!("sleep 0.3 {mark}"))], "\n{}", f.dump());
    assert!(
        f.stderr.contains("netlink source: arguments read from /proc after each exec"),
        "the notice says how far to trust the arguments\n{}",
        f.dump()
    );
}

/// The JSON record says where it came from: `source` netlink, `args_from`
/// procfs, and carries the exact argv.
#[test]
#[ignore = "needs root: the proc connector needs CAP_NET_ADMIN"]
fn json_record_for_a_marked_sleep() {
    let _g = root_test();
    let mark = crate::support::sleep_marker();
    let t = Tracer::start(&["--source", "netlink", "--json"]);
    let pid = run_marked("sleep", &["0.3", mark.as_str()]);
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let v = one_exec(&f, &mark);
    assert_eq!(json_u64(&v, "pid"), u64::from(pid), "{v}");
    assert_eq!(json_u64(&v, "old_pid"), u64::from(pid), "{v}");
    assert_eq!(json_u64(&v, "ppid"), u64::from(my_pid()), "{v}");
    assert_eq!(argv_strings(&v), vec!["sleep".to_string(), "0.3".into(), mark.clone()], "{v}");
    assert_eq!(v["source"], "netlink", "{v}");
    assert_eq!(v["args_from"], "procfs", "{v}");
    assert_eq!(v["comm"], "sleep", "{v}");
    assert_eq!(v["args_read_failed"], false, "{v}");
    assert!(v["filename"].as_str().is_some_and(|s| s.ends_with("/sleep")), "filename from /proc/PID/exe: {v}");
    assert_eq!(v["depth"], Value::Null, "no tree without -p/--tree/-e: {v}");
    // The connector's monotonic time, turned into boot time: close to now.
    let ts = json_u64(&v, "ts_ns");
    let now = crate::support::boot_ns();
    assert!(ts < now && now - ts < 30_000_000_000, "ts_ns {ts} is boot time (now {now})");
}

/// What the kernel queued before tracing ended is still reported: the
/// tracer is stopped (SIGSTOP) while a process execs, then asked to end.
#[test]
#[ignore = "needs root: the proc connector needs CAP_NET_ADMIN"]
fn queued_events_are_delivered_at_the_end() {
    let _g = root_test();
    let mark = crate::support::sleep_marker();
    let t = Tracer::start(&["--source", "netlink"]);
    t.signal(libc::SIGSTOP);
    let mut child =
        Command::new("sleep").args(["5", mark.as_str()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    t.signal(libc::SIGINT);
    let f = t.stop(libc::SIGCONT);
    let _ = child.kill();
    let _ = child.wait();
    f.assert_clean_end();
    assert_eq!(
        f.rows_with(&mark),
        vec![row(child.id(), my_pid(), &format!("sleep 5 {mark}"))],
        "the exec queued while the tracer was stopped\n{}",
        f.dump()
    );
}

/// `-e`: the exit code of `sh -c '...; exit 3'` and the signal of a
/// SIGKILLed sleep, each joined to its exec.
#[test]
#[ignore = "needs root: the proc connector needs CAP_NET_ADMIN"]
fn exits_with_code_and_signal() {
    let _g = root_test();
    let mark = crate::support::sleep_marker();
    let kill_mark = crate::support::sleep_marker();
    let t = Tracer::start(&["--source", "netlink", "-e", "--json"]);

    let (sh_pid, out) = run_capture(Command::new("sh").args(["-c", "sleep 0.3; exit 3", mark.as_str()]));
    assert_eq!(out.status.code(), Some(3), "\n{}", out.dump());

    let mut victim = Command::new("sleep")
        .args(["30", kill_mark.as_str()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = t.wait_stdout_contains(&kill_mark, Duration::from_secs(5));
    // SAFETY: kill has no memory preconditions; the child is not reaped yet.
    unsafe { libc::kill(victim.id() as libc::pid_t, libc::SIGKILL) };
    let st = wait_child(&mut victim, Duration::from_secs(10));
    assert!(seen, "the exec of the victim was reported\n{}", t.dump());
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(libc::SIGKILL));
    std::thread::sleep(Duration::from_millis(100));
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();

    let exec = one_exec(&f, &mark);
    assert_eq!(json_u64(&exec, "pid"), u64::from(sh_pid), "{exec}");
    let exits = json_exits_of(&f, sh_pid);
    assert_eq!(exits.len(), 1, "one exit for the shell: {exits:#?}\n{}", f.dump());
    let x = &exits[0];
    assert_eq!(x["exit_code"], 3, "{x}");
    assert_eq!(x["signal"], Value::Null, "{x}");
    assert_eq!(x["source"], "netlink", "{x}");
    assert_eq!(x["cpu_ns"], Value::Null, "the connector has no CPU times: {x}");
    assert_eq!(x["comm"], "sh", "the name from the exec: {x}");
    assert_eq!(json_u64(x, "ppid"), u64::from(my_pid()), "{x}");
    assert_eq!(json_u64(x, "exec_ts_ns"), json_u64(&exec, "ts_ns"), "joined to its exec: {x}");
    let lifetime = json_u64(x, "lifetime_ns");
    assert!((250_000_000..10_000_000_000).contains(&lifetime), "lived about 0.3 s: {x}");

    let exec = one_exec(&f, &kill_mark);
    assert_eq!(json_u64(&exec, "pid"), u64::from(victim.id()), "{exec}");
    let exits = json_exits_of(&f, victim.id());
    assert_eq!(exits.len(), 1, "one exit for the victim: {exits:#?}\n{}", f.dump());
    let x = &exits[0];
    assert_eq!(x["signal"], 9, "{x}");
    assert_eq!(x["signal_name"], "SIGKILL", "{x}");
    assert_eq!(x["exit_code"], Value::Null, "{x}");
    assert_eq!(x["comm"], "sleep", "{x}");
    assert_eq!(json_u64(x, "exec_ts_ns"), json_u64(&exec, "ts_ns"), "{x}");
}

/// `-p PID` follows a tree forked after tracing started: the grandchild's
/// exec is reported with its depth; the same marker outside the tree is not.
#[test]
#[ignore = "needs root: the proc connector needs CAP_NET_ADMIN"]
fn pid_follows_a_grandchild_forked_later() {
    let _g = root_test();
    let mark = crate::support::sleep_marker();
    // `; true` after each command keeps the shells from exec'ing their last
    // command in place: the sleep is a grandchild of the root.
    let inner = format!("sleep 0.3 {mark}; true");
    let script = format!("sleep 1; sh -c '{inner}'; true");
    let mut root =
        Command::new("sh").args(["-c", &script]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let root_pid = root.id();
    let t = Tracer::start(&["--source", "netlink", "--json", "-p", &root_pid.to_string()]);
    let outside = run_marked("sleep", &["0.3", mark.as_str()]);
    let st = wait_child(&mut root, Duration::from_secs(10));
    assert!(st.success(), "the traced script failed: {st:?}");
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();

    let execs = f.json_execs_with(&mark);
    assert_eq!(execs.len(), 1, "only the sleep inside the tree: {execs:#?}\n{}", f.dump());
    let v = &execs[0];
    assert_ne!(json_u64(v, "pid"), u64::from(outside), "{v}");
    assert_eq!(argv_strings(v), vec!["sleep".to_string(), "0.3".into(), mark.clone()], "{v}");
    assert_eq!(json_u64(v, "depth"), 2, "root 0, inner shell 1, sleep 2: {v}");
    assert_eq!(v["source"], "netlink", "{v}");
    assert_eq!(v["args_from"], "procfs", "{v}");

    let shells: Vec<Value> = f
        .json()
        .into_iter()
        .filter(|r| r["type"] == "exec" && r["argv"].as_array().is_some_and(|a| a.iter().any(|x| x == inner.as_str())))
        .collect();
    assert_eq!(shells.len(), 1, "the inner shell: {shells:#?}\n{}", f.dump());
    assert_eq!(json_u64(&shells[0], "ppid"), u64::from(root_pid), "{}", shells[0]);
    assert_eq!(json_u64(&shells[0], "depth"), 1, "{}", shells[0]);
    assert_eq!(json_u64(v, "ppid"), json_u64(&shells[0], "pid"), "the sleep's parent is the inner shell");
    for r in f.json().into_iter().filter(|r| r["type"] == "exec") {
        assert!(r["depth"].as_u64().is_some(), "every record is inside the tree, with a depth: {r}");
    }
}

/// `-P` is applied in user space on the parent id read from /proc: a child
/// of this test is shown, a grandchild is not.
#[test]
#[ignore = "needs root: the proc connector needs CAP_NET_ADMIN"]
fn ppid_filter_in_user_space() {
    let _g = root_test();
    let child_mark = crate::support::sleep_marker();
    let grandchild_mark = crate::support::sleep_marker();
    let t = Tracer::start(&["--source", "netlink", "-P", &my_pid().to_string()]);
    let pid = run_marked("sleep", &["0.3", child_mark.as_str()]);
    run_marked("sh", &["-c", &format!("sleep 0.3 {grandchild_mark}; true")]);
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    assert_eq!(
        f.rows_with(&child_mark),
        vec![row(pid, my_pid(), &format!("sleep 0.3 {child_mark}"))],
        "\n{}",
        f.dump()
    );
    let rows = f.rows_with(&grandchild_mark);
    assert!(
        rows.iter().all(|r| r.contains(" sh -c ")),
        "only the shell (a child of this test) carries the marker: {rows:#?}\n{}",
        f.dump()
    );
}

/// Without root: Linux 6.6 and later let anyone listen to the connector, so
/// the source either starts (and ends cleanly) or, on an older kernel,
/// refuses in one line naming CAP_NET_ADMIN.
#[test]
#[ignore = "needs root: the proc connector needs CAP_NET_ADMIN"]
fn unprivileged_starts_or_is_refused_in_one_line() {
    let _g = root_test();
    let uid = nobody_uid().to_string();
    let f = run_tool(Command::new(crate::support::tool("setpriv")).args([
        &format!("--reuid={uid}"),
        &format!("--regid={uid}"),
        "--clear-groups",
        "--inh-caps=-all",
        bin(),
        "--source",
        "netlink",
        "-d",
        "0.2",
    ]));
    if f.status.code() == Some(0) {
        assert!(f.stderr.contains("netlink source:"), "\n{}", f.dump());
    } else {
        assert_error_exit(&f, 1, true);
        assert!(f.stderr.contains("CAP_NET_ADMIN"), "\n{}", f.dump());
    }
}
