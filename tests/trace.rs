//! End-to-end tests that load the eBPF program: they run real execs and check
//! what `execsnoop` reports for them. They need root and BPF, so each one is
//! `#[ignore]`d by default and fails with a clear message when run without
//! root (run `cargo test --release -- --include-ignored` as root; CI does).
//!
//! The tests run one at a time ([`crate::support::serial`]): an exec storm in one
//! would fill the ring buffers of tracers in the others. Other processes on
//! the machine exec too, so every test puts a unique marker in the arguments
//! it runs and looks only at rows carrying it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    Background, HEADER, HEADER_T, TempDir, Tracer, compile_c, json_argv, json_u64, marker, my_pid, root_test, row, run_capture,
    run_marked, uptime_secs,
};

/// (1) A marked exec appears once, with its exact argv, pid and ppid.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn marked_exec_has_exact_argv_pid_and_ppid() {
    let _g = root_test();
    let mark = marker("basic");
    let t = Tracer::start(&[]);
    let pid = run_marked("/bin/echo", &[mark.as_str(), "a", "b"]);
    // Rows into a pipe are flushed while tracing, not only at the end.
    let live = t.wait_stdout_contains(&mark, Duration::from_secs(2));
    assert!(live, "the row did not reach stdout within 2 s while tracing\n{}", t.dump());
    let f = t.stop(libc::SIGINT);
    let (received, shown, lost) = f.assert_clean_end();
    assert_eq!(f.stdout_str().lines().next(), Some(HEADER), "first line is the header\n{}", f.dump());
    let got = f.one_row_with(&mark);
    assert_eq!(got, row(pid, my_pid(), &format!("/bin/echo {mark} a b")), "\n{}", f.dump());
    assert_eq!(received, shown, "no filter: every exec is shown\n{}", f.dump());
    assert_eq!(lost, 0, "nothing lost in a quiet run\n{}", f.dump());
    let rows = f.stdout_str().lines().count() as u64 - 1;
    assert_eq!(rows, shown, "one row per shown exec\n{}", f.dump());
}

/// EXECSNOOP_BPF_STATS=1 (for benchmarks): when tracing ends, one stderr
/// line per loaded program with the kernel's run statistics; the exec
/// program ran at least once per exec we made, its stages (tail-called)
/// count in it. Without the variable, no such line.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn bpf_stats_counts_the_exec_program_runs() {
    let _g = root_test();
    let mark = marker("stats");
    let t = Tracer::start_with(&["--json"], |c| {
        c.env("EXECSNOOP_BPF_STATS", "1");
    });
    for _ in 0..3 {
        run_marked("/bin/echo", &[mark.as_str()]);
    }
    assert!(t.wait_stdout_contains(&mark, Duration::from_secs(5)), "no row\n{}", t.dump());
    let f = t.stop(libc::SIGINT);
    let stat = |prog: &str| -> Option<(u64, u64)> {
        let line = f.stderr.lines().find(|l| l.starts_with(&format!("execsnoop: bpf_stats {prog} ")))?;
        let field = |k: &str| line.split_whitespace().find_map(|w| w.strip_prefix(k)?.parse::<u64>().ok());
        Some((field("run_cnt=")?, field("run_time_ns=")?))
    };
    let (cnt, ns) = stat("sched_process_exec").unwrap_or_else(|| panic!("no stats line for the exec program\n{}", f.dump()));
    assert!(cnt >= 3, "run_cnt {cnt} < 3 execs\n{}", f.dump());
    assert!(ns > 0, "run_time_ns 0 after {cnt} runs\n{}", f.dump());
    let (stage_cnt, _) = stat("exec_args").unwrap_or_else(|| panic!("no stats line for exec_args\n{}", f.dump()));
    assert_eq!(stage_cnt, 0, "a tail-called stage counts in its caller\n{}", f.dump());

    let t = Tracer::start(&["--json"]);
    run_marked("/bin/echo", &[mark.as_str()]);
    let f = t.stop(libc::SIGINT);
    assert!(!f.stderr.contains("bpf_stats"), "stats without the variable\n{}", f.dump());
}

/// (2) Many arguments and one argument larger than the BPF copy chunk
/// (16 KiB) come out whole and byte-exact.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn long_arguments_come_out_whole() {
    let _g = root_test();
    let mark = marker("long");
    let mut args: Vec<String> = vec![mark.clone()];
    for i in 0..30u8 {
        // 100 bytes, different for each argument so that a reordering or a
        // shifted copy would show.
        let c = (b'A' + i % 26) as char;
        let s: String = format!("{i:02}{}", c.to_string().repeat(98));
        assert_eq!(s.len(), 100);
        args.push(s);
    }
    let big: String = (0..20 * 1024).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    args.push(big);

    let t = Tracer::start(&["--json"]);
    let pid = run_marked("/bin/echo", args.as_slice());
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let rec = f.one_json_exec(&mark, "/bin/echo");
    let mut want: Vec<Vec<u8>> = vec![b"/bin/echo".to_vec()];
    want.extend(args.iter().map(|a| a.as_bytes().to_vec()));
    let got = json_argv(&rec);
    assert_eq!(got.len(), want.len(), "argument count\n{}", clip_record(&rec));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let first_diff = g.iter().zip(w.iter()).position(|(a, b)| a != b);
        assert!(
            g == w,
            "argument {i} differs: got {} bytes, want {} bytes, first differing byte at {first_diff:?}\n{}",
            g.len(),
            w.len(),
            clip_record(&rec)
        );
    }
    let area: u64 = want.iter().map(|a| a.len() as u64 + 1).sum();
    assert_eq!(json_u64(&rec, "args_size"), area, "args_size is the whole argument area\n{rec}");
    assert_eq!(rec["args_truncated"], false, "{rec}");
    assert_eq!(rec["args_read_failed"], false, "{rec}");
    assert_eq!(json_u64(&rec, "pid"), u64::from(pid), "{rec}");
    assert_eq!(json_u64(&rec, "ppid"), u64::from(my_pid()), "{rec}");
    assert_eq!(rec["comm"], "echo", "{rec}");
}

/// (3) Control characters are escaped in text and exact in JSON; a
/// non-UTF-8 argument is `\xNN` in text and base64 in JSON.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn hostile_arguments_escaped_in_text_exact_in_json() {
    let _g = root_test();
    let mark = marker("esc");
    let hostile = "a\x1b[31mb\nc\\d";
    let raw: &[u8] = b"\xff\xfe\x80z";
    let text = Tracer::start(&[]);
    let json = Tracer::start(&["--json"]);
    let args: Vec<&OsStr> = vec![OsStr::new(&mark), OsStr::new(hostile), OsStr::from_bytes(raw)];
    let pid = run_marked("/bin/echo", &args);
    let ft = text.stop(libc::SIGINT);
    let fj = json.stop(libc::SIGINT);
    ft.assert_clean_end();
    fj.assert_clean_end();

    let got = ft.one_row_with(&mark);
    let want = row(pid, my_pid(), &format!("/bin/echo {mark} a\\x1b[31mb\\nc\\\\d \\xff\\xfe\\x80z"));
    assert_eq!(got, want, "\n{}", ft.dump());
    assert!(!ft.stdout.contains(&0x1b), "a raw ESC reached the terminal output\n{}", ft.dump());

    let rec = fj.one_json_exec(&mark, "/bin/echo");
    assert_eq!(rec["argv"][2], hostile, "UTF-8 argument is a plain, exact JSON string\n{rec}");
    assert!(rec["argv"][3].is_object(), "non-UTF-8 argument is {{\"bytes\": base64}}\n{rec}");
    assert_eq!(rec["argv"][3]["bytes"], "//6Aeg==", "{rec}");
    assert_eq!(
        json_argv(&rec),
        vec![b"/bin/echo".to_vec(), mark.as_bytes().to_vec(), hostile.as_bytes().to_vec(), raw.to_vec()],
        "{rec}"
    );
    // The raw line carries no control characters either.
    let line = fj.stdout_str().lines().find(|l| l.contains(&mark)).unwrap().to_string();
    assert!(!line.bytes().any(|b| b < 0x20), "raw control byte in JSON line: {line:?}");
}

/// A JSON record for a message, without 20 KiB of argument text.
fn clip_record(rec: &serde_json::Value) -> String {
    let s = rec.to_string();
    if s.len() > 600 { format!("{}...{}", &s[..300], &s[s.len() - 300..]) } else { s }
}

const THREAD_EXEC_C: &str = r#"
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static char *mark;

static void *run(void *arg) {
    (void)arg;
    printf("%ld\n", (long)syscall(SYS_gettid));
    fflush(stdout);
    char *argv[] = {"echo", mark, NULL};
    char *envp[] = {NULL};
    execve("/bin/echo", argv, envp);
    perror("execve");
    _exit(127);
}

int main(int argc, char **argv) {
    pthread_t t;
    if (argc != 2)
        return 2;
    mark = argv[1];
    if (pthread_create(&t, NULL, run, NULL) != 0)
        return 3;
    pthread_join(t, NULL); /* never returns: the exec replaces the process */
    return 4;
}
"#;

/// (4) An exec from a non-leader thread: the process keeps its pid (the
/// tgid), and `old_pid` is the thread that called exec.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn exec_from_non_leader_thread() {
    let _g = root_test();
    let helper = compile_c("thread_exec", THREAD_EXEC_C);
    let mark = marker("thr");
    let json = Tracer::start(&["--json"]);
    let text = Tracer::start(&[]);
    let (pid, out) = run_capture(Command::new(&helper.path).arg(&mark));
    let fj = json.stop(libc::SIGINT);
    let ft = text.stop(libc::SIGINT);
    assert!(out.status.success(), "helper failed\n{}", out.dump());
    let printed = out.stdout_str();
    let mut lines = printed.lines();
    let tid: u64 = lines.next().and_then(|l| l.parse().ok()).unwrap_or_else(|| panic!("no tid\n{}", out.dump()));
    assert_eq!(lines.next(), Some(mark.as_str()), "echo ran\n{}", out.dump());
    assert_ne!(tid, u64::from(pid), "the helper thread is not the leader");
    fj.assert_clean_end();
    ft.assert_clean_end();

    let rec = fj.one_json_exec(&mark, "/bin/echo");
    assert_eq!(json_u64(&rec, "pid"), u64::from(pid), "pid is the process id (tgid)\n{rec}");
    assert_eq!(json_u64(&rec, "old_pid"), tid, "old_pid is the thread that called exec\n{rec}");
    assert_ne!(json_u64(&rec, "old_pid"), json_u64(&rec, "pid"), "{rec}");
    assert_eq!(json_u64(&rec, "ppid"), u64::from(my_pid()), "{rec}");
    assert_eq!(json_argv(&rec), vec![b"echo".to_vec(), mark.as_bytes().to_vec()], "{rec}");

    let rows: Vec<String> = ft.rows_with(&mark).into_iter().filter(|r| r.contains(" echo ")).collect();
    assert_eq!(rows, vec![row(pid, my_pid(), &format!("echo {mark}"))], "\n{}", ft.dump());
}

/// (5) `-a 2`: more than two arguments after argv[0] are cut and marked;
/// exactly two are shown whole, with no marker.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn max_args_marks_only_real_cuts() {
    let _g = root_test();
    let over = marker("aover");
    let exact = marker("aexact");
    let t = Tracer::start(&["-a", "2"]);
    let p1 = run_marked("/bin/echo", &[over.as_str(), "b", "c", "d"]);
    let p2 = run_marked("/bin/echo", &[exact.as_str(), "b"]);
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    assert_eq!(f.one_row_with(&over), row(p1, my_pid(), &format!("/bin/echo {over} b [...]")), "\n{}", f.dump());
    assert_eq!(f.one_row_with(&exact), row(p2, my_pid(), &format!("/bin/echo {exact} b")), "\n{}", f.dump());
}

/// (6) `-t`: a TIMEs column with seconds since boot (the clock of
/// /proc/uptime), six decimals, 16 columns wide.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn timestamp_column_is_seconds_since_boot() {
    let _g = root_test();
    let mark = marker("ts");
    let t = Tracer::start(&["-t"]);
    let before = uptime_secs();
    let pid = run_marked("/bin/echo", &[mark.as_str()]);
    let after = uptime_secs();
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    assert_eq!(f.stdout_str().lines().next(), Some(HEADER_T), "-t header\n{}", f.dump());
    let got = f.one_row_with(&mark);
    let time = got.split(' ').next().unwrap().to_string();
    let (secs, frac) = time.split_once('.').unwrap_or_else(|| panic!("no decimal point in {time:?}: {got:?}"));
    assert!(secs.bytes().all(|b| b.is_ascii_digit()) && !secs.is_empty(), "{got:?}");
    assert_eq!(frac.len(), 6, "six decimals: {got:?}");
    assert_eq!(got, format!("{time:<16} {}", row(pid, my_pid(), &format!("/bin/echo {mark}"))), "\n{}", f.dump());
    let t: f64 = time.parse().unwrap();
    // /proc/uptime has 10 ms resolution.
    assert!(t >= before - 0.02 && t <= after + 0.02, "timestamp {t} not within [{before}, {after}] (uptime)");
}

/// (7) The name filter is a regex on the process name after exec (comm:
/// "echo" for /bin/echo, "true" for /bin/true).
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn name_filter_keeps_matching_comm_only() {
    let _g = root_test();
    let mark = marker("name");
    let text = Tracer::start(&["^ech"]);
    let json = Tracer::start(&["^ech", "--json"]);
    let pid = run_marked("/bin/echo", &[mark.as_str()]);
    run_marked("/bin/true", &[mark.as_str()]);
    let ft = text.stop(libc::SIGINT);
    let fj = json.stop(libc::SIGINT);
    let (received, shown, _) = ft.assert_clean_end();
    fj.assert_clean_end();
    let rows = ft.rows_with(&mark);
    assert_eq!(rows, vec![row(pid, my_pid(), &format!("/bin/echo {mark}"))], "\n{}", ft.dump());
    assert!(shown < received, "/bin/true was received but not shown: {shown} < {received}\n{}", ft.dump());
    let execs: Vec<serde_json::Value> = fj.json().into_iter().filter(|v| v["type"] == "exec").collect();
    assert!(!execs.is_empty(), "\n{}", fj.dump());
    for v in &execs {
        let comm = v["comm"].as_str().unwrap_or("");
        assert!(comm.starts_with("ech"), "JSON record whose comm does not match ^ech: {v}");
    }
    assert_eq!(fj.json_execs_with(&mark).len(), 1, "only the echo, not the true\n{}", fj.dump());
}

/// (8) `-d 1` ends by itself after about a second, status 0, and prints
/// what it saw then, in time order.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn duration_ends_by_itself_and_prints_in_time_order() {
    let _g = root_test();
    let mark = marker("dur");
    let started = Instant::now();
    let t = Tracer::start(&["-d", "1", "-t"]);
    assert!(t.stderr().contains("Tracing exec()s for 1 seconds (buffered)..."), "-d banner\n{}", t.dump());
    let pid = run_marked("/bin/echo", &[mark.as_str()]);
    let pid2 = run_marked("/bin/echo", &[mark.as_str(), "second"]);
    assert!(!t.stdout_str().contains(&mark), "-d buffers rows until the end\n{}", t.dump());
    let f = t.wait_exit(Duration::from_secs(4));
    let took = started.elapsed();
    f.assert_clean_end();
    assert!(took < Duration::from_secs(3), "-d 1 took {took:?} to end\n{}", f.dump());
    assert!(took >= Duration::from_millis(900), "-d 1 ended early, after {took:?}\n{}", f.dump());
    let rows = f.rows_with(&mark);
    assert_eq!(rows.len(), 2, "both marked execs shown\n{}", f.dump());
    assert!(rows[0].ends_with(&row(pid, my_pid(), &format!("/bin/echo {mark}"))), "{rows:#?}");
    assert!(rows[1].ends_with(&row(pid2, my_pid(), &format!("/bin/echo {mark} second"))), "{rows:#?}");
    let out = f.stdout_str();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(HEADER_T), "\n{}", f.dump());
    let times: Vec<f64> = lines
        .map(|l| l.split(' ').next().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("bad row {l:?}")))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "rows not in time order\n{}", f.dump());
}

/// (9) `execsnoop | head -1`: once head has gone, execsnoop ends promptly
/// with status 0, even with no exec to write.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn closed_stdout_ends_promptly() {
    let _g = root_test();
    let script = r#""$0" | head -1; echo "execsnoop-status=${PIPESTATUS[0]}" >&2"#;
    let started = Instant::now();
    let (_, f) = run_capture(Command::new("bash").args(["-c", script, crate::support::bin()]));
    let took = started.elapsed();
    assert_eq!(f.stdout_str(), format!("{HEADER}\n"), "head printed the header\n{}", f.dump());
    assert!(f.stderr.contains("execsnoop-status=0"), "execsnoop's own status is 0\n{}", f.dump());
    assert!(!f.stderr.contains("panicked"), "\n{}", f.dump());
    assert!(took < Duration::from_secs(3), "took {took:?}\n{}", f.dump());
}

/// (10) SIGTERM (and SIGHUP) end tracing as cleanly as Ctrl-C.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn sigterm_and_sighup_end_cleanly() {
    let _g = root_test();
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let mark = marker("term");
        let t = Tracer::start(&[]);
        let pid = run_marked("/bin/echo", &[mark.as_str()]);
        let asked = Instant::now();
        let f = t.stop(sig);
        assert!(asked.elapsed() < Duration::from_secs(2), "signal {sig}: slow to end\n{}", f.dump());
        f.assert_clean_end();
        assert_eq!(f.one_row_with(&mark), row(pid, my_pid(), &format!("/bin/echo {mark}")), "\n{}", f.dump());
        let tail: Vec<&str> = f.stderr.lines().rev().take(2).collect();
        assert!(tail[1] == "Ending tracing..." && tail[0].contains("execs traced"), "signal {sig}\n{}", f.dump());
    }
}

/// (11) Exact loss accounting under an exec storm into a tiny ring buffer:
/// every exec of the driver's children is either a record or counted lost,
/// and the `end` record agrees with the `lost` records.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn loss_accounting_is_exact() {
    // In the VM matrix a fifth of the storm: it takes as long there.
    let total: u64 = if crate::support::in_vm() { 600 } else { 3000 };
    let _g = root_test();
    let storm = crate::support::compile_storm();
    // 1500-byte argument: records of ~1.6 KiB, two fit in the 4 KiB ring.
    let mut driver = Background::spawn(Command::new(&storm.path).args([&total.to_string(), "4", "1500"]));
    let dpid = driver.pid();
    let dpid_s = dpid.to_string();
    let t = Tracer::start(&["-P", &dpid_s, "--buffer-kib", "4", "--json"]);
    // A text-mode tracer on the same storm, with its own tiny ring buffer.
    let text = Tracer::start(&["-P", &dpid_s, "--buffer-kib", "4"]);
    driver.send(b"go");
    if crate::support::in_vm() {
        // Emulated, the tracers keep up with the (slow) storm: stop them
        // for a while mid-storm so that their rings overflow for certain.
        std::thread::sleep(Duration::from_millis(500));
        t.signal(libc::SIGSTOP);
        text.signal(libc::SIGSTOP);
        std::thread::sleep(Duration::from_secs(3));
        t.signal(libc::SIGCONT);
        text.signal(libc::SIGCONT);
    }
    let d = driver.wait(Duration::from_secs(if crate::support::in_vm() { 300 } else { 30 }));
    assert!(d.status.success(), "storm driver failed\n{}", d.dump());
    assert_eq!(d.stdout_str().trim(), total.to_string(), "driver ran every exec\n{}", d.dump());
    let f = t.stop(libc::SIGINT);
    let ft = text.stop(libc::SIGINT);
    let (received, shown, summary_lost) = f.assert_clean_end();

    let recs = f.json();
    let execs: Vec<&serde_json::Value> = recs.iter().filter(|v| v["type"] == "exec").collect();
    let strangers: Vec<&&serde_json::Value> = execs.iter().filter(|v| json_u64(v, "ppid") != u64::from(dpid)).collect();
    assert!(strangers.is_empty(), "-P {dpid} let other parents through: {:#?}", &strangers[..strangers.len().min(3)]);
    // An exec whose argument piece did not fit while its record did is
    // delivered, marked: never cut silently.
    for v in &execs {
        assert_eq!(v["filename"], "/bin/true", "{v}");
        let partial = v["parts_lost"] == true;
        assert_eq!(v["args_truncated"], partial, "only a run that lost a piece is short: {v}");
        if !partial {
            assert_eq!(crate::support::json_argv(v).len(), 2, "{v}");
        }
    }
    let lost_recs: Vec<&serde_json::Value> = recs.iter().filter(|v| v["type"] == "lost").collect();
    for v in &lost_recs {
        assert_eq!(v["kind"], "exec", "only ring-buffer losses expected: {v}");
        assert!(json_u64(v, "count") > 0, "a lost record reports at least one: {v}");
    }
    let lost: u64 = lost_recs.iter().map(|v| json_u64(v, "count")).sum();
    let ends: Vec<&serde_json::Value> = recs.iter().filter(|v| v["type"] == "end").collect();
    assert_eq!(ends.len(), 1, "one end record\n{}", f.dump());
    assert_eq!(recs.last().map(|v| &v["type"]), Some(&serde_json::json!("end")), "end comes last\n{}", f.dump());
    let end = ends[0];
    let n = execs.len() as u64;
    eprintln!("storm of {total}: {n} records, {lost} lost in {} lost records", lost_recs.len());

    assert_eq!(n + lost, total, "records ({n}) + lost ({lost}) must account for every exec\n{}", f.dump());
    assert!(lost > 0, "the 4 KiB ring buffer never overflowed; the test proves nothing\n{}", f.dump());
    assert_eq!(json_u64(end, "lost"), lost, "end.lost equals the sum of lost records: {end}");
    assert_eq!(json_u64(end, "received"), n, "end.received counts the exec records: {end}");
    assert_eq!(json_u64(end, "shown"), n, "no user filter: all shown: {end}");
    assert_eq!((received, shown, summary_lost), (n, n, lost), "stderr summary agrees\n{}", f.dump());
    assert!(f.stderr.contains("WARNING:"), "losses are flagged on stderr\n{}", f.dump());

    // Text mode: rows on stdout, `WARNING: lost N events (ring buffer full)`
    // on stderr as losses happen; together they account for every exec.
    let (t_received, t_shown, t_lost) = ft.assert_clean_end();
    let out = ft.stdout_str();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(HEADER), "\n{}", ft.dump());
    let rows: Vec<&str> = lines.collect();
    let args = format!("true {}", "p".repeat(1500));
    for r in &rows {
        let (pid, rest) = r.trim_start().split_once(' ').unwrap_or_else(|| panic!("bad row {r:?}"));
        assert!(pid.parse::<u32>().is_ok(), "bad row {r:?}");
        let rest = rest.trim_start();
        if !rest.ends_with(" [parts lost: ring buffer full]") {
            assert_eq!(rest, format!("{dpid} {args}"), "every row is a child of the driver, whole or marked");
        } else {
            assert!(rest.starts_with(&format!("{dpid} ")), "every row is a child of the driver: {r:?}");
        }
    }
    let warn = regex::Regex::new(r"(?m)^WARNING: lost (\d+) events \(ring buffer full\)$").unwrap();
    let warned: u64 = warn.captures_iter(&ft.stderr).map(|c| c[1].parse::<u64>().unwrap()).sum();
    let n = rows.len() as u64;
    eprintln!("text storm of {total}: {n} rows, {warned} lost");
    assert_eq!(
        n + warned,
        total,
        "text rows ({n}) + warned losses ({warned}) must account for every exec\n{}",
        ft.dump()
    );
    assert!(warned > 0, "the text tracer's 4 KiB ring never overflowed\n{}", ft.dump());
    assert_eq!((t_received, t_shown, t_lost), (n, n, warned), "text summary agrees\n{}", ft.dump());
}

/// (12) `--arg-bytes 64` captures exactly 64 bytes of a longer argument
/// area: ` [...]` in text, `args_truncated` in JSON.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn arg_bytes_cap_truncates_and_marks() {
    let _g = root_test();
    let mark = marker("cap");
    let long = "y".repeat(100);
    let args = [mark.as_str(), long.as_str()];
    let mut area: Vec<u8> = Vec::new();
    for a in ["/bin/echo", mark.as_str(), long.as_str()] {
        area.extend_from_slice(a.as_bytes());
        area.push(0);
    }
    assert!(10 + mark.len() + 1 < 64, "marker must fit in the first 64 bytes");
    let captured = &area[..64];
    assert_ne!(captured[63], 0, "cut mid-argument");

    let text = Tracer::start(&["--arg-bytes", "64"]);
    let json = Tracer::start(&["--arg-bytes", "64", "--json"]);
    let pid = run_marked("/bin/echo", &args);
    let ft = text.stop(libc::SIGINT);
    let fj = json.stop(libc::SIGINT);
    ft.assert_clean_end();
    fj.assert_clean_end();

    let shown = String::from_utf8(captured.split(|&b| b == 0).collect::<Vec<_>>().join(&b' ')).unwrap();
    assert_eq!(ft.one_row_with(&mark), row(pid, my_pid(), &format!("{shown} [...]")), "\n{}", ft.dump());

    let rec = fj.one_json_exec(&mark, "/bin/echo");
    assert_eq!(rec["args_truncated"], true, "{rec}");
    assert_eq!(json_u64(&rec, "args_size"), area.len() as u64, "args_size is the whole area\n{rec}");
    let joined = json_argv(&rec).join(&0u8);
    assert_eq!(joined.len(), 64, "exactly 64 bytes of argument data\n{rec}");
    assert_eq!(joined, captured, "the first 64 bytes of the area\n{rec}");
}

/// (13) Without kernel BTF the tool says so in one line and exits 1.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn missing_btf_is_one_line_exit_1() {
    let _g = root_test();
    // --source bpf: with auto, a fallback source would start instead.
    let f =
        crate::support::run_tool(Command::new(crate::support::bin()).args(["--source", "bpf"]).env("EXECSNOOP_BTF", "/nonexistent"));
    crate::support::assert_error_exit(&f, 1, true);
    assert!(f.stderr.starts_with("execsnoop: kernel BTF not found at /nonexistent"), "{}", f.dump());
}

const ARGC0_C: &str = r#"
#include <stdio.h>
#include <unistd.h>

int main(void) {
    char *argv[] = {NULL};
    char *envp[] = {NULL};
    execve("/bin/true", argv, envp);
    perror("execve");
    return 127;
}
"#;

/// An exec with argc = 0 shows the filename and `[argc=0]`.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn argc_zero_shows_filename() {
    let _g = root_test();
    let helper = compile_c("argc0", ARGC0_C);
    let text = Tracer::start(&[]);
    let json = Tracer::start(&["--json"]);
    let (pid, out) = run_capture(&mut Command::new(&helper.path));
    let ft = text.stop(libc::SIGINT);
    let fj = json.stop(libc::SIGINT);
    assert!(out.status.success(), "helper failed\n{}", out.dump());
    ft.assert_clean_end();
    fj.assert_clean_end();
    let prefix = row(pid, my_pid(), "");
    let rows: Vec<String> = ft.stdout_str().lines().filter(|l| l.starts_with(&prefix)).map(String::from).collect();
    let helper_row = row(pid, my_pid(), &helper.path.display().to_string());
    assert_eq!(rows, vec![helper_row, row(pid, my_pid(), "/bin/true [argc=0]")], "\n{}", ft.dump());
    let rec = fj
        .json()
        .into_iter()
        .find(|v| v["type"] == "exec" && json_u64(v, "pid") == u64::from(pid) && v["filename"] == "/bin/true")
        .unwrap_or_else(|| panic!("no JSON record of the argc=0 exec\n{}", fj.dump()));
    assert_eq!(rec["argv0_empty"], true, "{rec}");
    assert_eq!(rec["argv"], serde_json::json!([""]), "the kernel supplies one empty argument\n{rec}");
}

/// `-P PID` shows only the children of PID.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn ppid_filter_shows_only_children() {
    let _g = root_test();
    let mark = marker("ppid");
    let me = my_pid().to_string();
    let t = Tracer::start(&["-P", &me]);
    let child = run_marked("/bin/echo", &[mark.as_str(), "child"]);
    // A grandchild: its parent is the shell, not this process.
    let sh = run_marked("/bin/sh", &["-c", &format!("/bin/echo {mark} grandchild; true")]);
    let f = t.stop(libc::SIGINT);
    let (received, _, _) = f.assert_clean_end();
    let rows = f.rows_with(&mark);
    let want = vec![
        row(child, my_pid(), &format!("/bin/echo {mark} child")),
        row(sh, my_pid(), &format!("/bin/sh -c /bin/echo {mark} grandchild; true")),
    ];
    assert_eq!(rows, want, "\n{}", f.dump());
    for l in f.stdout_str().lines().skip(1) {
        let ppid: u32 = l.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        assert_eq!(ppid, my_pid(), "row of another parent: {l:?}\n{}", f.dump());
    }
    assert!(received >= 2, "\n{}", f.dump());
}

/// Every field of a JSON exec record, for an exec run as another user.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn json_exec_record_fields() {
    let _g = root_test();
    let mark = marker("fields");
    // setpriv execs /bin/echo in place as uid 65534.
    let uid = 65534;
    let t = Tracer::start(&["--json"]);
    let (wall0, boot0) = (crate::support::wall_ns(), crate::support::boot_ns());
    let pid = run_marked(
        crate::support::tool("setpriv"),
        &["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/echo", mark.as_str()],
    );
    let (wall1, boot1) = (crate::support::wall_ns(), crate::support::boot_ns());
    let live = t.wait_stdout_contains(&mark, Duration::from_secs(2));
    assert!(live, "the record did not reach stdout within 2 s while tracing\n{}", t.dump());
    let f = t.stop(libc::SIGINT);
    let (received, shown, lost) = f.assert_clean_end();

    let raw = f.stdout_str();
    let line = raw
        .lines()
        .find(|l| l.contains(&format!("\"{mark}\"")) && l.contains("\"filename\":\"/bin/echo\""))
        .unwrap_or_else(|| panic!("no JSON line for the marked echo\n{}", f.dump()));
    // The schema is the format's one description: its required exec
    // fields, in its order.
    let schema: serde_json::Value = serde_json::from_str(include_str!("../schema/execsnoop.schema.json")).unwrap();
    let keys: Vec<&str> =
        schema["$defs"]["exec"]["required"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    let pos: Vec<usize> = keys
        .iter()
        .map(|k| line.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("no key {k:?} in {line}")))
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "keys out of the documented order: {line}");
    assert!(line.starts_with("{\"type\":\"exec\","), "{line}");

    let rec = f.one_json_exec(&mark, "/bin/echo");
    let ts = json_u64(&rec, "ts_ns");
    assert!(boot0 <= ts && ts <= boot1, "ts_ns {ts} not within [{boot0}, {boot1}] (CLOCK_BOOTTIME)\n{rec}");
    let time = crate::support::rfc3339_ns(rec["time"].as_str().unwrap_or_else(|| panic!("time is a string: {rec}")));
    let slack = 50_000_000; // the boot-to-wall offset is measured once at start
    assert!(wall0 - slack <= time && time <= wall1 + slack, "time {time} not within [{wall0}, {wall1}]\n{rec}");
    assert_eq!(json_u64(&rec, "pid"), u64::from(pid), "{rec}");
    assert_eq!(json_u64(&rec, "old_pid"), u64::from(pid), "leader exec: old_pid = pid\n{rec}");
    assert_eq!(json_u64(&rec, "ppid"), u64::from(my_pid()), "{rec}");
    assert_eq!(json_u64(&rec, "uid"), uid, "{rec}");
    let cg = crate::support::my_cgroup2_id().expect("a cgroup2 hierarchy is mounted");
    assert_eq!(json_u64(&rec, "cgroup_id"), cg, "cgroup v2 id of the test's cgroup\n{rec}");
    assert_eq!(rec["comm"], "echo", "{rec}");
    let argv0 = "/bin/echo"; // setpriv passes its arguments on as they are
    assert_eq!(rec["argv"], serde_json::json!([argv0, mark]), "{rec}");
    assert_eq!(json_u64(&rec, "args_size"), (argv0.len() + 1 + mark.len() + 1) as u64, "{rec}");
    for flag in ["args_truncated", "args_read_failed", "filename_truncated", "filename_failed", "argv0_empty"] {
        assert_eq!(rec[flag], false, "{flag}\n{rec}");
    }

    let recs = f.json();
    let end = recs.last().unwrap_or_else(|| panic!("no output\n{}", f.dump()));
    assert_eq!(end["type"], "end", "the end record comes last\n{}", f.dump());
    let execs = recs.iter().filter(|v| v["type"] == "exec").count() as u64;
    assert_eq!(
        (json_u64(end, "received"), json_u64(end, "shown"), json_u64(end, "lost")),
        (received, shown, lost),
        "end record and stderr summary agree\n{}",
        f.dump()
    );
    assert_eq!(execs, shown, "one exec record per shown exec\n{}", f.dump());
}

/// A tracer started with SIGINT ignored (as `cmd &` in a script does) still
/// ends cleanly on SIGINT.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn sigint_ends_tracing_even_if_inherited_ignored() {
    use std::os::unix::process::CommandExt;
    let _g = root_test();
    let mark = marker("ign");
    let t = Tracer::start_with(&[], |cmd| {
        // SAFETY: the closure only calls signal(2), which is
        // async-signal-safe, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                Ok(())
            });
        }
    });
    let pid = run_marked("/bin/echo", &[mark.as_str()]);
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    assert_eq!(f.one_row_with(&mark), row(pid, my_pid(), &format!("/bin/echo {mark}")), "\n{}", f.dump());
}

/// `-d` cut short by SIGINT still prints what it collected.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn duration_interrupted_prints_what_it_collected() {
    let _g = root_test();
    let mark = marker("dint");
    let t = Tracer::start(&["-d", "30"]);
    let pid = run_marked("/bin/echo", &[mark.as_str()]);
    let asked = Instant::now();
    let f = t.stop(libc::SIGINT);
    assert!(asked.elapsed() < Duration::from_secs(2), "slow to end\n{}", f.dump());
    f.assert_clean_end();
    assert_eq!(f.one_row_with(&mark), row(pid, my_pid(), &format!("/bin/echo {mark}")), "\n{}", f.dump());
}

/// The longest legal path (4095 bytes) comes out whole and is not marked cut.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn longest_filename_is_whole_and_not_marked() {
    let _g = root_test();
    let mark = marker("fnlen");
    let base = TempDir::new("fnlen");
    let mut dir = base.path.clone();
    while 4095 - dir.as_os_str().len() - 1 > 250 {
        dir.push("d".repeat(200));
    }
    std::fs::create_dir_all(&dir).expect("create deep directory");
    let name = "t".repeat(4095 - dir.as_os_str().len() - 1);
    let link = dir.join(name);
    assert_eq!(link.as_os_str().len(), 4095);
    std::os::unix::fs::symlink("/bin/true", &link).expect("symlink");
    let t = Tracer::start(&["--json"]);
    let (_pid, out) = run_capture(Command::new(&link).arg(&mark));
    let f = t.stop(libc::SIGINT);
    assert!(out.status.success(), "{}", out.dump());
    f.assert_clean_end();
    let rec = f
        .json()
        .into_iter()
        .find(|v| v["type"] == "exec" && v["argv"][1] == mark.as_str())
        .unwrap_or_else(|| panic!("no record of the long-path exec\n{}", f.dump()));
    assert_eq!(rec["filename"].as_str().map(str::len), Some(4095), "{rec}");
    assert_eq!(rec["filename_truncated"], false, "{rec}");
}

/// At the largest cap (6 MiB) the program still passes the verifier, and
/// argument areas far past the default 32 KiB come out whole: here 1 MiB in
/// eight arguments of 128 KiB - 1 (the kernel's per-string limit).
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn largest_cap_loads_and_keeps_a_megabyte() {
    let _g = root_test();
    let mark = marker("huge");
    let mut args: Vec<String> = vec![mark.clone()];
    for i in 0..8u8 {
        let c = (b'a' + i) as char;
        args.push(c.to_string().repeat(128 * 1024 - 1));
    }
    let t = Tracer::start(&["--json", "--arg-bytes", "6291456"]);
    let _pid = run_marked("/bin/true", args.as_slice());
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let rec = f.one_json_exec(&mark, "/bin/true");
    let got = json_argv(&rec);
    let mut want: Vec<Vec<u8>> = vec![b"/bin/true".to_vec()];
    want.extend(args.iter().map(|a| a.as_bytes().to_vec()));
    assert!(
        got == want,
        "argv differs: lengths {:?}\n{}",
        got.iter().map(Vec::len).collect::<Vec<_>>(),
        clip_record(&rec)
    );
    assert_eq!(rec["args_truncated"], false, "{}", clip_record(&rec));
}
