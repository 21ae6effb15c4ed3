//! The filter matrix: every filter (`-u -P -p -c -n -l NAME`, a COMMAND)
//! holds for every record kind (exec, failed exec with `-x`, exit with `-e`,
//! `--wait` rows, `--summary` counts) on every source, or is refused by that
//! source in one line. One table drives it: for each source and filter, the
//! same workload runs an "in" group, which the filter must keep, and an "out"
//! group, which it must drop, and each cell asserts which markers appear and
//! which do not.
//!
//! The workload, per cell (programs are copies, so that their names are
//! known: `fltinsh` of sh, `fltin` of sleep, `fltintrue` of true, `fltout`
//! of sleep):
//!
//! * in: `fltinsh -c 'fltin 0.3 M; fltintrue M; /nonexistent/M; true'`, run
//!   as the filter wants it kept: as user nobody (`-u`), as the exec of a
//!   helper whose pid is the `-P`/`-p` target (its children are the helper's
//!   children), in a fresh cgroup (`-c`), or as the COMMAND;
//! * out: `sh -c 'fltout 0.3 N; /nonexistent/N; true'`, run by the test
//!   process as root, outside all of that.
//!
//! `fltin` runs 0.3 s, so that even the `/proc` poller sees it; `fltintrue`
//! ends at once (the poller may miss it, by design; the others must not).
//!
//! Root and BPF; in the VM matrix only the bpf and ftrace columns run (the
//! others are the same code on every kernel, and slow under emulation).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{Background, TempCgroup, TempDir, Tracer, json_argv, json_u64, root_test};
use serde_json::Value;

/// The filters of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    Uid,
    Ppid,
    Pid,
    Cgroup,
    Name,
    NamePositional,
    Line,
    Command,
}

const FILTERS: [Filter; 8] = [
    Filter::Uid,
    Filter::Ppid,
    Filter::Pid,
    Filter::Cgroup,
    Filter::Name,
    Filter::NamePositional,
    Filter::Line,
    Filter::Command,
];

/// What a source does with a filter: applies it, or refuses it (the one
/// line must name the option and the source).
fn refused(source: &str, filter: Filter) -> Option<&'static str> {
    match (source, filter) {
        ("ftrace", Filter::Uid) => Some("-u"),
        ("ftrace" | "netlink" | "procfs", Filter::Cgroup) => Some("-c"),
        _ => None,
    }
}

/// The copies the workload runs, in a directory every user may use.
struct Programs {
    _dir: TempDir,
    insh: PathBuf,
    inprog: PathBuf,
    intrue: PathBuf,
    outprog: PathBuf,
}

impl Programs {
    fn new() -> Programs {
        let dir = TempDir::new("filters");
        Programs {
            insh: dir.copy_program("/bin/sh", "fltinsh"),
            inprog: dir.copy_program("/bin/sleep", "fltin"),
            intrue: dir.copy_program("/bin/true", "fltintrue"),
            outprog: dir.copy_program("/bin/sleep", "fltout"),
            _dir: dir,
        }
    }

    /// The in group's shell script: a 0.3 s program, a short one, a failed
    /// exec attempt, all carrying `m`.
    fn in_script(&self, m: &str) -> String {
        // The short one's pid goes to stderr: the record of a process gone
        // before /proc is read (netlink) can only be told by its pid.
        format!(
            "{} 0.3 {m}; {} {m} & echo short=$! >&2; wait; /nonexistent/{m}; true",
            self.inprog.display(),
            self.intrue.display()
        )
    }

    fn out_script(&self, n: &str) -> String {
        format!("{} 0.3 {n}; /nonexistent/{n}; true", self.outprog.display())
    }
}

/// The records one cell's tracers wrote.
struct Seen {
    json: Vec<Value>,
    wait_text: String,
    /// The pids of the short-lived program (one per run of the in group).
    short: Vec<u64>,
}

impl Seen {
    fn execs_of(&self, prog: &Path, mark: &str) -> Vec<&Value> {
        let prog = prog.to_str().unwrap_or_default();
        self.json
            .iter()
            .filter(|v| {
                v["type"] == "exec"
                    && v["ret"] == 0
                    && v["filename"] == prog
                    && json_argv(v).iter().any(|a| a == mark.as_bytes())
            })
            .collect()
    }

    fn failed_of(&self, mark: &str) -> Vec<&Value> {
        let path = format!("/nonexistent/{mark}");
        self.json.iter().filter(|v| v["type"] == "exec" && v["ret"] != 0 && v["filename"] == path.as_str()).collect()
    }

    fn exits_of(&self, exec: &Value) -> Vec<&Value> {
        self.json
            .iter()
            .filter(|v| v["type"] == "exit" && v["pid"] == exec["pid"] && v["exec_ts_ns"] == exec["ts_ns"])
            .collect()
    }

    fn summary_execs(&self, comm: &str) -> u64 {
        let s = self.json.iter().find(|v| v["type"] == "summary").expect("a summary record");
        s["commands"].as_array().into_iter().flatten().filter(|c| c["comm"] == comm).map(|c| json_u64(c, "execs")).sum()
    }
}

/// Run one cell: the in and out groups under the tracers `--json -e
/// --summary [-x]` and `--wait` with the filter's flags; or, for a refused
/// filter, check the refusal.
fn cell(source: &str, filter: Filter, progs: &Programs) {
    let m = crate::support::sleep_marker();
    let n = crate::support::sleep_marker();
    let in_script = progs.in_script(&m);
    let label = format!("--source {source}, {filter:?}");
    let mut helper: Option<Background> = None;
    let mut cgroup: Option<TempCgroup> = None;
    let flags: Vec<String> = match filter {
        Filter::Uid => vec!["-u".into(), "65534".into()],
        Filter::Ppid | Filter::Pid => {
            // The helper waits for a line, then becomes the in group: its
            // children are the in group's programs.
            let script = format!("read go; exec {} -c '{in_script}'", progs.insh.display());
            let h = Background::spawn(Command::new("/bin/sh").args(["-c", &script]));
            let flag = if filter == Filter::Ppid { "-P" } else { "-p" };
            let flags = vec![flag.into(), h.pid().to_string()];
            helper = Some(h);
            flags
        }
        Filter::Cgroup => {
            let cg = TempCgroup::new("flt");
            let flags = vec!["-c".into(), cg.path.display().to_string()];
            cgroup = Some(cg);
            flags
        }
        Filter::Name => vec!["-n".into(), "^fltin".into()],
        Filter::NamePositional => vec!["^fltin".into()],
        Filter::Line => vec!["-l".into(), m.clone()],
        Filter::Command => Vec::new(),
    };
    let mut base: Vec<String> = vec!["--source".into(), source.into()];
    base.extend(flags);
    let fails = source == "bpf";

    if let Some(option) = refused(source, filter) {
        let f = crate::support::run_tool(Command::new(crate::support::bin()).args(&base));
        crate::support::assert_error_exit(&f, 1, true);
        assert!(
            f.stderr.contains(&format!("{option} is not available with the {source} source")),
            "{label}: refused in one line\n{}",
            f.dump()
        );
        return;
    }

    let mut json_args = base.clone();
    json_args.extend(["--json", "-e", "--summary"].map(String::from));
    if fails {
        json_args.push("-x".into());
    }
    let mut wait_args = base.clone();
    wait_args.push("--wait".into());

    let seen = if filter == Filter::Command {
        // The tracer runs the in group as its COMMAND; the out group runs
        // beside it while it does.
        let run = |args: &[String]| {
            let mut cmd = Command::new(crate::support::bin());
            cmd.args(args).arg("--").arg(&progs.insh).args(["-c", &format!("sleep 0.5; {in_script}")]);
            let bg = Background::spawn(&mut cmd);
            std::thread::sleep(crate::support::slow(Duration::from_millis(300)));
            let out = crate::support::run_capture(Command::new("/bin/sh").args(["-c", &progs.out_script(&n)])).1;
            assert!(out.status.success(), "{label}: out group\n{}", out.dump());
            let f = bg.wait(crate::support::slow(Duration::from_secs(20)));
            assert_eq!(f.status.code(), Some(0), "{label}: exits as its COMMAND did\n{}", f.dump());
            f
        };
        let fj = run(&json_args);
        let fw = run(&wait_args);
        Seen { json: fj.json(), wait_text: fw.stdout_str(), short: short_pids(&fj.stderr) }
    } else {
        let tj = Tracer::start(&json_args.iter().map(String::as_str).collect::<Vec<_>>());
        let tw = Tracer::start(&wait_args.iter().map(String::as_str).collect::<Vec<_>>());
        // The in group, as the filter wants it kept.
        let in_err = match filter {
            Filter::Uid => {
                let out = crate::support::run_capture(Command::new(crate::support::tool("setpriv")).args([
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    progs.insh.to_str().unwrap_or_default(),
                    "-c",
                    &in_script,
                ]))
                .1;
                assert!(out.status.success(), "{label}: in group\n{}", out.dump());
                out.stderr
            }
            Filter::Ppid | Filter::Pid => {
                let mut h = helper.take().expect("helper");
                h.send(b"go\n");
                let f = h.wait(crate::support::slow(Duration::from_secs(10)));
                assert!(f.status.success(), "{label}: in group\n{}", f.dump());
                f.stderr
            }
            Filter::Cgroup => {
                let cg = cgroup.as_ref().expect("cgroup");
                let script =
                    format!("{}exec {} -c '{in_script}'", TempCgroup::enter_script(&cg.path), progs.insh.display());
                let out = crate::support::run_capture(Command::new("/bin/sh").args(["-c", &script])).1;
                assert!(out.status.success(), "{label}: in group\n{}", out.dump());
                out.stderr
            }
            _ => {
                let out = crate::support::run_capture(Command::new(&progs.insh).args(["-c", &in_script])).1;
                assert!(out.status.success(), "{label}: in group\n{}", out.dump());
                out.stderr
            }
        };
        let out = crate::support::run_capture(Command::new("/bin/sh").args(["-c", &progs.out_script(&n)])).1;
        assert!(out.status.success(), "{label}: out group\n{}", out.dump());
        // Let the last exits arrive (the poller sees them on its next scan).
        std::thread::sleep(crate::support::slow(Duration::from_millis(300)));
        let fj = tj.stop(libc::SIGINT);
        let fw = tw.stop(libc::SIGINT);
        fj.assert_clean_end();
        fw.assert_clean_end();
        Seen { json: fj.json(), wait_text: fw.stdout_str(), short: short_pids(&in_err) }
    };
    drop(cgroup);

    // Exec records: the in group's, not the out group's.
    let inprog = seen.execs_of(&progs.inprog, &m);
    assert_eq!(inprog.len(), 1, "{label}: the exec of fltin\n{:#?}", seen.json);
    // The short-lived program: every source but the poller must see it,
    // with whatever it could read (the exact file and arguments from bpf, the
    // exact file from ftrace, perhaps nothing but the pid from netlink).
    if short_seen(source, filter) {
        let pid = *seen.short.last().unwrap_or_else(|| panic!("{label}: no short= line from the in group"));
        let recs: Vec<&Value> =
            seen.json.iter().filter(|v| v["type"] == "exec" && json_u64(v, "pid") == pid && v["ret"] == 0).collect();
        assert_eq!(recs.len(), 1, "{label}: the short-lived exec (pid {pid})\n{:#?}", seen.json);
        if source != "netlink" {
            assert_eq!(recs[0]["filename"], progs.intrue.to_str().unwrap_or_default(), "{label}: {:#?}", recs[0]);
        }
        if source == "bpf" {
            assert_eq!(seen.execs_of(&progs.intrue, &m).len(), 1, "{label}: with its arguments\n{:#?}", recs[0]);
        }
    }
    assert!(seen.execs_of(&progs.outprog, &n).is_empty(), "{label}: the out group's exec is dropped");
    assert!(
        !seen.json.iter().any(|v| v["type"] == "exec" && json_argv(v).iter().any(|a| a == n.as_bytes())),
        "{label}: nothing of the out group"
    );
    // Failed exec attempts (-x, bpf only).
    if fails {
        assert_eq!(seen.failed_of(&m).len(), 1, "{label}: the in group's failed attempt\n{:#?}", seen.json);
        assert!(seen.failed_of(&n).is_empty(), "{label}: the out group's failed attempt is dropped");
    }
    // Exit records: the in program's, joined to its exec; none of the out
    // group's processes.
    assert_eq!(seen.exits_of(inprog[0]).len(), 1, "{label}: the exit of fltin\n{:#?}", seen.json);
    let out_exits: Vec<&Value> =
        seen.json.iter().filter(|v| v["type"] == "exit" && (v["comm"] == "fltout" || v["comm"] == "sh")).collect();
    assert!(out_exits.is_empty(), "{label}: no exit of the out group's processes\n{out_exits:#?}");
    // Summary counts: what was shown.
    assert_eq!(seen.summary_execs("fltin"), 1, "{label}: summary counts the in program");
    assert_eq!(seen.summary_execs("fltout"), 0, "{label}: summary does not count the out program");
    // --wait rows: the in program's, when it ended; not the out group's.
    let wait_rows: Vec<&str> = seen.wait_text.lines().filter(|l| l.contains(&m)).collect();
    let status_known = common_status_known(source);
    assert!(
        wait_rows.iter().any(|l| l.contains("fltin 0.3") && (!status_known || l.contains(" 0 "))),
        "{label}: the --wait row of fltin (with its exit code where the source knows it)\n{}",
        seen.wait_text
    );
    assert!(!seen.wait_text.contains(&n), "{label}: no --wait row of the out group\n{}", seen.wait_text);
}

/// Whether the source must show the short-lived program under this filter:
/// the poller may miss it (it lives less than a poll interval); the sources
/// that read /proc after the event know nothing of its arguments (ftrace
/// without kprobes, netlink) nor of its name (netlink) once it is gone, so a
/// filter on those cannot keep it.
fn short_seen(source: &str, filter: Filter) -> bool {
    match source {
        "bpf" => true,
        "ftrace" => filter != Filter::Line || Path::new("/sys/kernel/tracing/kprobe_events").exists(),
        "netlink" => !matches!(filter, Filter::Line | Filter::Name | Filter::NamePositional),
        _ => false,
    }
}

/// The pids in `short=PID` lines.
fn short_pids(stderr: &str) -> Vec<u64> {
    stderr.lines().filter_map(|l| l.strip_prefix("short=")?.trim().parse().ok()).collect()
}

/// Whether the source's exit records carry the exit status.
fn common_status_known(source: &str) -> bool {
    matches!(source, "bpf" | "netlink")
}

fn column(source: &str) {
    let _g = root_test();
    let progs = Programs::new();
    for filter in FILTERS {
        cell(source, filter, &progs);
    }
}

#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn every_filter_holds_for_every_record_kind_bpf() {
    column("bpf");
}

#[test]
#[ignore = "needs root: creates a tracefs instance"]
fn every_filter_holds_for_every_record_kind_ftrace() {
    column("ftrace");
}

#[test]
#[ignore = "needs root: listens to the proc connector as root"]
fn every_filter_holds_for_every_record_kind_netlink() {
    column("netlink");
}

#[test]
#[ignore = "needs root: runs the workload as user nobody"]
fn every_filter_holds_for_every_record_kind_procfs() {
    column("procfs");
}
