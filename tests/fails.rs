//! End-to-end tests of `-x` (failed exec attempts): the syscall tracepoints
//! are attached only with `-x`, failed attempts carry `ret` = -errno and the
//! caller's arguments, a PATH search shows its failed attempts and the
//! successful one in order, and attempts from a non-leader thread keep the
//! process id and the thread id apart. Root and BPF: `#[ignore]`d by default,
//! run with `cargo test --release -- --include-ignored` as root (CI does).

use std::process::Command;

use crate::support::{Tracer, compile_c, json_argv, json_u64, marker, my_pid, root_test, run_capture};
use serde_json::Value;

/// Attachments a process holds: one per attached program (the raw
/// tracepoint, and with -x the four syscall tracepoints). A BPF link each,
/// or before Linux 5.15 (no perf links) a perf event each for the
/// tracepoints.
fn bpf_links(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path()).is_ok_and(|l| {
                        let l = l.to_string_lossy();
                        l.contains("bpf_link") || l.contains("bpf-link") || l.contains("[perf_event]")
                    })
                })
                .count()
        })
        .unwrap_or(0)
}

fn records_of(f: &crate::support::Finished, pid: u32) -> Vec<Value> {
    f.json().into_iter().filter(|v| v["type"] == "exec" && json_u64(v, "pid") == u64::from(pid)).collect()
}

/// Without -x no syscall tracepoint is attached and failed attempts are not
/// reported; with -x exactly the four execve/execveat ones are.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn syscall_tracepoints_only_with_x() {
    let _g = root_test();
    let mark = marker("nox");
    let plain = Tracer::start(&["--json"]);
    assert_eq!(bpf_links(plain.pid()), 1, "default mode attaches sched_process_exec only");
    let with_x = Tracer::start(&["--json", "-x"]);
    assert_eq!(bpf_links(with_x.pid()), 5, "-x adds sys_enter/exit of execve and execveat");
    let spawned = Command::new(format!("/nonexistent-{mark}")).arg(&mark).status();
    assert!(spawned.is_err(), "the exec must fail");
    let fp = plain.stop(libc::SIGINT);
    let fx = with_x.stop(libc::SIGINT);
    fp.assert_clean_end();
    fx.assert_clean_end();
    assert!(fp.json_execs_with(&mark).is_empty(), "a failed attempt without -x\n{}", fp.dump());
    assert_eq!(fx.json_execs_with(&mark).len(), 1, "the failed attempt with -x\n{}", fx.dump());
}

/// A failed exec is reported with ret -ENOENT, its errno name, the filename
/// and arguments the caller passed, and the caller's pid and parent.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn failed_exec_reports_ret_and_arguments() {
    let _g = root_test();
    let mark = marker("fail");
    let path = format!("/nonexistent-dir/{mark}");
    let json = Tracer::start(&["--json", "-x"]);
    let text = Tracer::start(&["-x"]);
    let err = Command::new(&path).args([mark.as_str(), "two words", ""]).status();
    assert!(err.is_err(), "the exec must fail");
    let fj = json.stop(libc::SIGINT);
    let ft = text.stop(libc::SIGINT);
    fj.assert_clean_end();
    ft.assert_clean_end();
    let rec = fj.one_json_exec(&mark, &path);
    assert_eq!(rec["ret"], -2, "{rec}");
    assert_eq!(rec["errno"], "ENOENT", "{rec}");
    assert_eq!(
        json_argv(&rec),
        vec![path.as_bytes().to_vec(), mark.as_bytes().to_vec(), b"two words".to_vec(), vec![]]
    );
    assert_eq!(json_u64(&rec, "ppid"), u64::from(my_pid()), "{rec}");
    assert_eq!(rec["args_truncated"], false, "{rec}");
    // Text: a RET column with -2 before the arguments.
    let header = ft.stdout_str().lines().next().unwrap_or_default().to_string();
    assert!(header.contains("RET"), "RET column in the header: {header:?}\n{}", ft.dump());
    let row = ft.one_row_with(&mark);
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(fields.get(2), Some(&"-2"), "PID PPID RET ARGS: {row:?}");
    assert_eq!(fields.get(3), Some(&path.as_str()), "{row:?}");
}

/// A PATH search shows each failed attempt and then the successful exec, in
/// order, all from the same process.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn path_search_shows_attempts_in_order() {
    let _g = root_test();
    let mark = marker("path");
    let t = Tracer::start(&["--json", "-x"]);
    let script = format!("PATH=/nonexistent-a:/nonexistent-b:/bin exec echo {mark}");
    let (pid, out) = run_capture(Command::new("/bin/sh").args(["-c", &script]));
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    assert!(out.status.success(), "{}", out.dump());
    let recs: Vec<(String, i64)> = records_of(&f, pid)
        .iter()
        .filter(|v| v["argv"].as_array().is_some_and(|a| a.iter().any(|x| x == mark.as_str())))
        .map(|v| (v["filename"].as_str().unwrap_or_default().to_string(), v["ret"].as_i64().unwrap_or(99)))
        .collect();
    assert_eq!(
        recs,
        vec![
            ("/nonexistent-a/echo".to_string(), -2),
            ("/nonexistent-b/echo".to_string(), -2),
            ("/bin/echo".to_string(), 0)
        ],
        "\n{}",
        f.dump()
    );
}

const THREAD_FAIL_C: &str = r#"
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
static char *mark;
static void *run(void *arg) {
    (void)arg;
    printf("%ld\n", (long)syscall(SYS_gettid));
    fflush(stdout);
    char *bad[] = {"missing", mark, NULL};
    execv("/nonexistent-thread/missing", bad);
    char *good[] = {"echo", mark, NULL};
    execv("/bin/echo", good);
    return NULL;
}
int main(int argc, char **argv) {
    pthread_t t;
    if (argc < 2) return 2;
    mark = argv[1];
    pthread_create(&t, NULL, run, NULL);
    pthread_join(t, NULL);
    return 1;
}
"#;

/// A non-leader thread's failed attempt keeps pid = the process id and
/// old_pid = the thread id; its successful exec after that is reported too.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn failed_attempt_from_thread() {
    let _g = root_test();
    let mark = marker("thrfail");
    let helper = compile_c("thread_fail", THREAD_FAIL_C);
    let t = Tracer::start(&["--json", "-x"]);
    let (pid, out) = run_capture(Command::new(&helper.path).arg(&mark));
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let tid: u64 = out.stdout_str().lines().next().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    assert!(tid != 0 && tid != u64::from(pid), "helper printed its thread id\n{}", out.dump());
    let fail = f.one_json_exec(&mark, "/nonexistent-thread/missing");
    assert_eq!(fail["ret"], -2, "{fail}");
    assert_eq!(json_u64(&fail, "pid"), u64::from(pid), "{fail}");
    assert_eq!(json_u64(&fail, "old_pid"), tid, "{fail}");
    let ok = f.one_json_exec(&mark, "/bin/echo");
    assert_eq!(ok["ret"], 0, "{ok}");
    assert_eq!(json_u64(&ok, "pid"), u64::from(pid), "{ok}");
    assert_eq!(json_u64(&ok, "old_pid"), tid, "{ok}");
}
