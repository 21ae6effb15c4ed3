//! End-to-end tests of `--source ftrace`: execs seen through a private
//! tracefs instance with their exact file name and (here, from /proc) their
//! arguments, exits joined to execs with `-e`, the instance removed on a
//! clean end and, after a `kill -9`, by the next run; and the options it
//! refuses. Tracing tests need root (they create a tracefs instance), so they
//! are `#[ignore]`d by default: run `cargo test --release --test
//! tests source_ftrace:: -- --include-ignored` as root. The refusals need nothing.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Tracer, assert_error_exit, bin, json_argv, json_u64, root_test, run_capture, run_tool};
use serde_json::Value;

/// Where the tracer finds (or mounts) tracefs.
fn tracefs() -> PathBuf {
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("trace_pipe").exists())
        .unwrap_or_else(|| PathBuf::from("/sys/kernel/tracing"))
}

/// The instances a tracer with this pid made (`execsnoop-<pid>`, `execsnoop-<pid>-<n>`), sorted.
fn instances_of(pid: u32) -> Vec<String> {
    let exact = format!("execsnoop-{pid}");
    let prefix = format!("execsnoop-{pid}-");
    std::fs::read_dir(tracefs().join("instances"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| *n == exact || n.starts_with(&prefix))
                .collect::<Vec<String>>()
        })
        .map(|mut v| {
            v.sort();
            v
        })
        .unwrap_or_default()
}

/// What a tracer with this pid makes: its instance, and the one that counts
/// the execs whose file name has a newline (kept out of the first).
fn ours(pid: u32) -> Vec<String> {
    vec![format!("execsnoop-{pid}"), format!("execsnoop-{pid}-1")]
}

/// Whether this kernel can give arguments from a kprobe.
fn has_kprobes() -> bool {
    tracefs().join("kprobe_events").exists()
}

/// Run `/bin/sleep 0.3 MARK` with argv[0] `sleep`; returns its pid.
fn sleep_marked(mark: &str) -> u32 {
    let (pid, out) = run_capture(Command::new("/bin/sleep").arg0("sleep").args(["0.3", mark]));
    assert!(out.status.success(), "sleep failed\n{}", out.dump());
    pid
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An exec of `/bin/sleep 0.3 MARK` shows its exact file name (the path the
/// exec was given, from the event), its full argv, `"source":"ftrace"`, and
/// where the arguments came from; the instance exists while tracing and is
/// gone after SIGINT.
#[test]
#[ignore = "needs root: creates a tracefs instance"]
fn exec_seen_and_instance_removed() {
    let _g = root_test();
    let mark = crate::support::sleep_marker();
    let t = Tracer::start(&["--source", "ftrace", "--json"]);
    let pid = t.pid();
    assert_eq!(instances_of(pid), ours(pid), "instances while tracing\n{}", t.dump());
    assert!(
        t.stderr().contains(&format!("ftrace source: instance execsnoop-{pid}")),
        "notice names the instance\n{}",
        t.dump()
    );
    let sleep_pid = sleep_marked(&mark);
    assert!(t.wait_stdout_contains(&mark, Duration::from_secs(5)), "exec not seen\n{}", t.dump());
    let f = t.stop(libc::SIGINT);
    let (received, shown, lost) = f.assert_clean_end();
    assert!(received >= 1 && shown >= 1, "\n{}", f.dump());
    assert_eq!(lost, 0, "\n{}", f.dump());

    let rec = f.one_json_exec(&mark, "/bin/sleep");
    assert_eq!(json_u64(&rec, "pid"), u64::from(sleep_pid), "\n{}", f.dump());
    assert_eq!(json_argv(&rec), vec![b"sleep".to_vec(), b"0.3".to_vec(), mark.as_bytes().to_vec()], "\n{rec}");
    assert_eq!(rec["source"], "ftrace", "\n{rec}");
    assert_eq!(rec["comm"], "sleep", "\n{rec}");
    assert_eq!(rec["ppid"], Value::from(crate::support::my_pid()), "\n{rec}");
    assert_eq!(rec["args_from"], if has_kprobes() { "probe" } else { "procfs" }, "\n{rec}");
    assert_eq!(rec["args_read_failed"], false, "\n{rec}");
    // Boot-clock timestamps, like the other sources.
    let ts = json_u64(&rec, "ts_ns");
    let now = crate::support::boot_ns();
    assert!(ts <= now && now - ts < 30_000_000_000, "ts_ns {ts} is not recent boot time ({now})\n{rec}");

    assert!(
        wait_until(Duration::from_secs(2), || instances_of(pid).is_empty()),
        "instance left after a clean end: {:?}",
        instances_of(pid)
    );
}

/// The original execsnoop's method, where the kernel has kprobes (the VM
/// kernels of the test matrix do; this machine's 6.18 does not): arguments
/// come from a kprobe on the execve entry, the first 16 of them, and the rest
/// is marked as cut; a process that is gone at once still gets its parent
/// (from its fork); the probe is removed with the instance. Without kprobes
/// the same execs come with arguments from /proc, and the notice says why.
#[test]
#[ignore = "needs root: creates a tracefs instance"]
fn arguments_from_the_kprobe_and_the_rest_marked() {
    let _g = root_test();
    let in_vm = std::env::var_os("EXECSNOOP_VM").is_some();
    assert!(!in_vm || has_kprobes(), "every kernel of the VM matrix has kprobe_events");
    let mark = crate::support::sleep_marker();
    let t = Tracer::start(&["--source", "ftrace", "--json"]);
    let pid = t.pid();
    let group = format!("execsnoop_{pid}");
    let listing = || std::fs::read_to_string(tracefs().join("kprobe_events")).unwrap_or_default();
    if has_kprobes() {
        assert!(listing().contains(&group), "probe group {group} while tracing:\n{}", listing());
        assert!(t.stderr().contains("arguments from a kprobe on"), "\n{}", t.dump());
    } else {
        assert!(t.stderr().contains("no kprobes on this kernel"), "\n{}", t.dump());
    }
    // 20 arguments after argv[0]: more than the probe fetches.
    let many: Vec<String> = (0..20).map(|i| format!("{mark}-{i}")).collect();
    let (many_pid, out) = run_capture(Command::new("/bin/echo").args(&many));
    assert!(out.status.success(), "\n{}", out.dump());
    // Short-lived execs of the test process's children: /bin/true is gone
    // before /proc could be read.
    let trues: Vec<u32> = (0..5)
        .map(|_| {
            let (p, out) = run_capture(Command::new("/bin/true").arg(&mark));
            assert!(out.status.success(), "\n{}", out.dump());
            p
        })
        .collect();
    let seen = |p: u32| move |l: &str| l.contains(&format!("\"pid\":{p},")) && l.contains("\"type\":\"exec\"");
    assert!(
        wait_until(Duration::from_secs(10), || t
            .stdout_str()
            .lines()
            .filter(|l| trues.iter().any(|&p| seen(p)(l)))
            .count()
            == 5),
        "the short-lived execs were not all seen\n{}",
        t.dump()
    );
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();

    let recs = f.json();
    let exec_of = |p: u32| {
        recs.iter()
            .find(|v| v["type"] == "exec" && json_u64(v, "pid") == u64::from(p))
            .unwrap_or_else(|| panic!("no exec record for pid {p}\n{}", f.dump()))
    };
    let rec = exec_of(many_pid);
    let argv = json_argv(rec);
    if has_kprobes() {
        assert_eq!(rec["args_from"], "probe", "\n{rec}");
        assert_eq!(argv.len(), 16, "the probe's first 16 arguments\n{rec}");
        assert_eq!(argv[0], b"/bin/echo", "argv[0] as the caller passed it\n{rec}");
        for (i, a) in argv[1..].iter().enumerate() {
            assert_eq!(a, format!("{mark}-{i}").as_bytes(), "\n{rec}");
        }
        assert_eq!(rec["args_truncated"], true, "the rest is marked\n{rec}");
    } else {
        assert_eq!(rec["args_from"], "procfs", "\n{rec}");
    }
    for &p in &trues {
        let rec = exec_of(p);
        assert_eq!(rec["ppid"], Value::from(crate::support::my_pid()), "parent of a short-lived exec\n{rec}");
        if has_kprobes() {
            assert_eq!(json_argv(rec), vec![b"/bin/true".to_vec(), mark.as_bytes().to_vec()], "\n{rec}");
        }
    }
    assert!(
        wait_until(Duration::from_secs(2), || !listing().contains(&group) && instances_of(pid).is_empty()),
        "probe or instance left after a clean end:\n{}",
        listing()
    );
}

/// With `-e`, the exit of a traced process is joined to its exec: same pid,
/// `exec_ts_ns` is the exec's `ts_ns`, status unknown (the event has none).
#[test]
#[ignore = "needs root: creates a tracefs instance"]
fn exit_joined_to_exec() {
    let _g = root_test();
    let mark = crate::support::sleep_marker();
    let t = Tracer::start(&["--source", "ftrace", "--json", "-e"]);
    let sleep_pid = sleep_marked(&mark);
    let needle = "\"type\":\"exit\",";
    let seen = wait_until(Duration::from_secs(5), || {
        t.stdout_str().lines().any(|l| l.contains(needle) && l.contains(&format!("\"pid\":{sleep_pid},")))
    });
    assert!(seen, "no exit record for {sleep_pid}\n{}", t.dump());
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let exec = f.one_json_exec(&mark, "/bin/sleep");
    let exits: Vec<Value> =
        f.json().into_iter().filter(|v| v["type"] == "exit" && json_u64(v, "pid") == u64::from(sleep_pid)).collect();
    assert_eq!(exits.len(), 1, "one exit for the process\n{}", f.dump());
    let x = &exits[0];
    assert_eq!(x["exec_ts_ns"], exec["ts_ns"], "\n{x}\n{exec}");
    assert_eq!(x["comm"], "sleep", "\n{x}");
    assert_eq!(x["source"], "ftrace", "\n{x}");
    assert!(x["exit_code"].is_null() && x["signal"].is_null(), "status unknown\n{x}");
    let lifetime = json_u64(x, "lifetime_ns");
    assert!((250_000_000..5_000_000_000).contains(&lifetime), "lifetime {lifetime} for sleep 0.3\n{x}");
    assert!(json_u64(x, "ts_ns") > json_u64(&exec, "ts_ns"));
}

/// A tracer killed with SIGKILL cannot clean up: its instance stays. The
/// next run removes it (its pid is gone) and then its own.
#[test]
#[ignore = "needs root: creates a tracefs instance"]
fn stale_instance_of_killed_run_is_removed() {
    let _g = root_test();
    let killed = Tracer::start(&["--source", "ftrace", "--json"]);
    let killed_pid = killed.pid();
    assert_eq!(instances_of(killed_pid), ours(killed_pid), "\n{}", killed.dump());
    let f = killed.stop(libc::SIGKILL);
    assert_eq!(f.status.code(), None, "killed by a signal\n{}", f.dump());
    assert_eq!(instances_of(killed_pid), ours(killed_pid), "a killed tracer leaves its instances behind");

    let next = Tracer::start(&["--source", "ftrace", "--json"]);
    let next_pid = next.pid();
    assert!(instances_of(killed_pid).is_empty(), "stale instance not removed at start\n{}", next.dump());
    assert_eq!(instances_of(next_pid), ours(next_pid), "\n{}", next.dump());
    let f = next.stop(libc::SIGINT);
    f.assert_clean_end();
    assert!(
        wait_until(Duration::from_secs(2), || instances_of(next_pid).is_empty()),
        "instance left after a clean end: {:?}",
        instances_of(next_pid)
    );
}

/// Not root: one line saying so, status 1, and nothing created.
#[test]
#[ignore = "needs root: drops to user nobody to check the refusal"]
fn not_root_is_a_permission_error() {
    let _g = root_test();
    let f = run_tool(
        Command::new(crate::support::tool("setpriv"))
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(bin())
            .args(["--source", "ftrace"]),
    );
    assert_error_exit(&f, 1, true);
    assert!(f.stderr.contains("root"), "\n{}", f.dump());
}
