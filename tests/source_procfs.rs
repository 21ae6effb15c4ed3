//! End-to-end tests of the procfs source (`--source procfs`), the poller of
//! `/proc` for users without privileges: that it works as a plain user, what
//! it says about itself when it starts, the options it refuses, exit records
//! and `-p`.
//!
//! The procfs source needs no privileges, so most tests run as whoever runs
//! the suite. The one that proves it needs none switches to user nobody,
//! which takes root: it is `#[ignore]`d by default (run `cargo test --release
//! -- --include-ignored` as root; CI does). Tracing tests run one at a time
//! ([`crate::support::serial`]) and look only at records carrying their own marker.
//!
//! `sleep` rejects arguments that are not numbers, so the markers here are
//! numbers too: a unique tail of decimals that adds nothing measurable.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Background, Tracer, assert_error_exit, bin, json_u64, my_pid, run_marked, run_tool, serial};

/// The one JSON exec record whose argv is exactly `argv`.
fn one_exec_with_argv(f: &crate::support::Finished, marker: &str, argv: &[&str]) -> Value {
    let recs: Vec<Value> =
        f.json_execs_with(marker).into_iter().filter(|v| v["argv"].as_array().is_some_and(|a| a == argv)).collect();
    assert_eq!(recs.len(), 1, "expected exactly one exec record with argv {argv:?}, got {recs:#?}\n{}", f.dump());
    recs.into_iter().next().unwrap()
}

/// A field of `/proc/PID/status`, e.g. `Uid` or `CapEff`.
fn status_field(pid: u32, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

/// The binary must be reachable and runnable by any user: every directory
/// above it searchable by others, the file executable by others.
fn assert_world_runnable(path: &Path) {
    let mode =
        |p: &Path| std::fs::metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display())).permissions().mode();
    assert!(mode(path) & 0o001 != 0, "{} is not executable by other users", path.display());
    for dir in path.ancestors().skip(1).filter(|d| !d.as_os_str().is_empty()) {
        assert!(
            mode(dir) & 0o001 != 0,
            "{} is not searchable by other users, so nobody cannot run the binary",
            dir.display()
        );
    }
}

/// As user nobody, with no capabilities, the procfs source sees a command
/// that root runs: its arguments, source and where they were read from.
#[test]
#[ignore = "needs root: switches to an unprivileged user to prove no privileges are needed"]
fn works_as_an_unprivileged_user() {
    let _g = crate::support::root_test();
    assert_world_runnable(Path::new(bin()));
    let nobody = crate::support::nobody_uid();
    // What `setpriv --reuid=nobody --regid=nobody --clear-groups` does, done
    // by std in the child before the exec (setgroups([]), setgid, setuid),
    // so that the tracer's own pid is the one checked below.
    let t = Tracer::start_with(&["--source", "procfs", "--json"], |cmd| {
        cmd.uid(nobody).gid(nobody);
    });
    let uids = status_field(t.pid(), "Uid");
    assert!(uids.split_whitespace().all(|u| u == nobody.to_string()), "tracer runs as nobody: Uid {uids}");
    assert_eq!(status_field(t.pid(), "CapEff"), "0000000000000000", "tracer has no capabilities");
    assert_eq!(status_field(t.pid(), "Groups"), "", "tracer has no supplementary groups");

    let mark = crate::support::sleep_marker();
    let pid = run_marked("sleep", &["0.5", mark.as_str()]);
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let rec = one_exec_with_argv(&f, &mark, &["sleep", "0.5", &mark]);
    assert_eq!(json_u64(&rec, "pid"), u64::from(pid), "\n{}", f.dump());
    assert_eq!(json_u64(&rec, "ppid"), u64::from(my_pid()), "\n{}", f.dump());
    assert_eq!(json_u64(&rec, "uid"), 0, "root ran it\n{}", f.dump());
    assert_eq!(rec["comm"], "sleep");
    assert_eq!(rec["source"], "procfs");
    assert_eq!(rec["args_from"], "procfs");
    assert_eq!(rec["args_read_failed"], false);
}

/// With `--source auto`, a plain user gets a fallback source (netlink on
/// kernels >= 6.6, else procfs), with one line saying why the better ones
/// did not start.
#[test]
#[ignore = "needs root: switches to an unprivileged user to prove no privileges are needed"]
fn auto_falls_back_to_procfs_for_a_plain_user() {
    let _g = crate::support::root_test();
    let nobody = crate::support::nobody_uid();
    let t = Tracer::start_with(&["--json"], |cmd| {
        cmd.uid(nobody).gid(nobody);
    });
    let mark = crate::support::sleep_marker();
    run_marked("sleep", &["0.3", mark.as_str()]);
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    // Since Linux 6.6 any user may listen to the proc connector, so the
    // fallback may be netlink rather than procfs: the note names it.
    let note = f.stderr.lines().next().unwrap_or_default();
    let used = note.strip_prefix("execsnoop: using the ").and_then(|r| r.split(' ').next()).unwrap_or("");
    assert!(["netlink", "procfs"].contains(&used), "\n{}", f.dump());
    assert!(note.contains(": bpf failed (need root"), "why bpf did not start\n{}", f.dump());
    let before_banner: Vec<&str> = f.stderr.lines().take_while(|l| !l.starts_with("Tracing exec()s")).collect();
    assert_eq!(before_banner.len(), 1, "the fallback is one line, with the source's own caveat\n{}", f.dump());
    let rec = one_exec_with_argv(&f, &mark, &["sleep", "0.3", &mark]);
    assert_eq!(rec["source"], used);
}

/// When tracing starts, one line on stderr says how far to trust it: the
/// interval, that shorter processes are missed and that arguments are read
/// after the fact.
#[test]
fn says_what_it_misses() {
    let _g = serial();
    let t = Tracer::start(&["--source", "procfs"]);
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let re = regex::Regex::new(
        r"(?m)^execsnoop: procfs source: polls /proc every \d+ ms; processes that live shorter than that are missed, arguments are read after the fact$",
    )
    .unwrap();
    assert!(re.is_match(&f.stderr), "no notice line\n{}", f.dump());
    assert_eq!(f.stderr.lines().filter(|l| l.contains("procfs source")).count(), 1, "\n{}", f.dump());
}

/// `-e --json`: a process seen to start gives an exit record when it goes,
/// joined to its exec, with what the source cannot know left null.
#[test]
fn exit_records_join_their_exec() {
    let _g = serial();
    let t = Tracer::start(&["--source", "procfs", "-e", "--json"]);
    assert!(t.stderr().contains("exit status and CPU time are unknown"), "\n{}", t.dump());
    let mark = crate::support::sleep_marker();
    let pid = run_marked("sleep", &["0.3", mark.as_str()]);
    // The exit is seen at the next scan after the parent reaps it.
    std::thread::sleep(Duration::from_millis(200));
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let exec = one_exec_with_argv(&f, &mark, &["sleep", "0.3", &mark]);
    assert_eq!(json_u64(&exec, "pid"), u64::from(pid));
    let exits: Vec<Value> =
        f.json().into_iter().filter(|v| v["type"] == "exit" && v["pid"].as_u64() == Some(u64::from(pid))).collect();
    assert_eq!(exits.len(), 1, "one exit for pid {pid}: {exits:#?}\n{}", f.dump());
    let x = &exits[0];
    assert_eq!(json_u64(x, "exec_ts_ns"), json_u64(&exec, "ts_ns"), "joined to its exec\n{}", f.dump());
    assert!(json_u64(x, "ts_ns") > json_u64(&exec, "ts_ns"));
    let lifetime = json_u64(x, "lifetime_ns");
    assert!((150_000_000..3_000_000_000).contains(&lifetime), "lifetime {lifetime} ns for a 0.3 s sleep\n{}", f.dump());
    for unknown in ["exit_code", "signal", "cpu_ns"] {
        assert!(x[unknown].is_null(), "{unknown} cannot be known from /proc: {x}");
    }
    assert_eq!(x["comm"], "sleep");
    assert_eq!(x["source"], "procfs");
    assert_eq!(json_u64(x, "ppid"), u64::from(my_pid()));
}

/// `-p PID` keeps PID's descendants, with their depth below it, and drops
/// everything else.
#[test]
fn pid_option_follows_one_tree() {
    let _g = serial();
    let inside = crate::support::sleep_marker();
    let outside = crate::support::sleep_marker();
    // `true` after the sleep keeps sh from exec'ing it in place.
    let script = format!("read go; sleep 0.3 {inside}; true");
    let mut sh = Background::spawn(Command::new("sh").args(["-c", &script]));
    let root = sh.pid().to_string();
    let t = Tracer::start(&["--source", "procfs", "--json", "-p", &root]);
    run_marked("sleep", &["0.3", outside.as_str()]);
    sh.send(b"go\n");
    let done = sh.wait(Duration::from_secs(10));
    assert!(done.status.success(), "\n{}", done.dump());
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let rec = one_exec_with_argv(&f, &inside, &["sleep", "0.3", &inside]);
    assert_eq!(rec["ppid"].as_u64().map(|p| p.to_string()), Some(root), "\n{}", f.dump());
    assert_eq!(rec["depth"], 1, "a child of the -p process\n{}", f.dump());
    assert!(f.json_execs_with(&outside).is_empty(), "a process outside the tree\n{}", f.dump());
}

/// `-p` with a pid that does not exist: one line, status 1.
#[test]
fn pid_option_needs_a_process() {
    // pid_max is at most 2^22: this pid cannot exist.
    let f = run_tool(Command::new(bin()).args(["--source", "procfs", "-p", "4294967000"]));
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.contains("no such process"), "\n{}", f.dump());
}
