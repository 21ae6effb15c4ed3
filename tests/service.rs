//! The files that run execsnoop as a service: `contrib/execsnoop.service`
//! (its command line runs, under exactly its capability bounding set, and
//! `systemd-analyze verify` accepts the unit without a warning) and
//! `contrib/logrotate.conf` (logrotate parses it). The BPF test is
//! `#[ignore]`d by default (root); it runs in CI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{TempDir, root_test};

fn contrib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib").join(name)
}

/// The value of `key=` in the unit (the last one, as systemd reads it).
fn unit_value(unit: &str, key: &str) -> String {
    unit.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in the unit"))
        .to_string()
}

#[test]
fn systemd_analyze_accepts_the_unit() {
    let dir = TempDir::new("unit");
    // The packaged path of the binary is /usr/sbin/execsnoop; point it at
    // the one built here, so the check does not depend on an install.
    let unit = std::fs::read_to_string(contrib("execsnoop.service")).unwrap();
    let copy = dir.path.join("execsnoop.service");
    std::fs::write(&copy, unit.replace("/usr/sbin/execsnoop", crate::support::bin())).unwrap();
    let f = crate::support::run_tool(Command::new(crate::support::tool("systemd-analyze")).args(["verify", "--man=no"]).arg(&copy));
    assert!(f.status.success(), "systemd-analyze verify rejected the unit\n{}", f.dump());
    assert!(f.stderr.trim().is_empty(), "systemd-analyze verify warned about the unit\n{}", f.dump());
}

#[test]
fn logrotate_parses_its_config() {
    let dir = TempDir::new("logrotate-conf");
    let f = crate::support::run_tool(
        Command::new(crate::support::tool("logrotate"))
            .arg("-d")
            .arg("-s")
            .arg(dir.path.join("state"))
            .arg(contrib("logrotate.conf")),
    );
    assert!(f.status.success(), "{}", f.dump());
    assert!(!f.stderr.contains("error:"), "{}", f.dump());
    assert!(f.stderr.contains("/var/log/execsnoop/execsnoop.json"), "{}", f.dump());
}

/// The unit's ExecStart, with its log path and metrics port moved into a
/// temporary directory, run under exactly its CapabilityBoundingSet: it
/// traces (an exec reaches the file), serves metrics, survives SIGHUP (the
/// unit's ExecReload) and ends cleanly on SIGTERM (systemctl stop).
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn the_units_command_line_runs_with_its_capabilities() {
    let _g = root_test();
    let unit = std::fs::read_to_string(contrib("execsnoop.service")).unwrap();
    let exec = unit_value(&unit, "ExecStart");
    let caps = unit_value(&unit, "CapabilityBoundingSet");
    let dir = TempDir::new("unit-run");
    let log = dir.path.join("execsnoop.json");
    let port = crate::support::free_port();
    let mut args: Vec<String> = exec.split_whitespace().map(str::to_string).collect();
    assert_eq!(args[0], "/usr/sbin/execsnoop");
    for a in args.iter_mut().skip(1) {
        if a == "/var/log/execsnoop/execsnoop.json" {
            *a = log.to_string_lossy().into_owned();
        } else if a == "127.0.0.1:9432" {
            *a = format!("127.0.0.1:{port}");
        }
    }
    assert!(args.contains(&log.to_string_lossy().into_owned()), "the unit writes its log file: {exec}");
    // setpriv's names: lower case, without CAP_.
    let set: Vec<String> =
        caps.split_whitespace().map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase())).collect();
    let bounding = format!("-all,{}", set.join(","));
    let mut argv: Vec<String> = vec!["--bounding-set".into(), bounding, "--".into(), crate::support::bin().into()];
    argv.extend(args.into_iter().skip(1));
    let argv_ref: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut cmd = Command::new(crate::support::tool("setpriv"));
    cmd.args(&argv_ref).stdin(std::process::Stdio::null());
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mark = crate::support::marker("unit");
    let deadline = Instant::now() + crate::support::ready_timeout();
    let seen = loop {
        // Exec until one reaches the file (tracing is live by then).
        crate::support::run_marked("/bin/true", &[&mark]);
        if std::fs::read_to_string(&log).is_ok_and(|s| s.contains(&mark)) {
            break true;
        }
        if Instant::now() >= deadline || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !seen {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("the unit's command never traced an exec: {}", String::from_utf8_lossy(&out.stderr));
    }
    let m = crate::support::http_get(port, "/metrics");
    assert!(m.contains("execsnoop_source_info{source=\"bpf\"} 1"), "the bpf source, with the unit's capabilities\n{m}");
    let pid = child.id() as i32;
    // SAFETY: kill(2) on our own child's pid, with valid signal numbers.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP (ExecReload) must not end it");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "SIGTERM ends it cleanly: {}", String::from_utf8_lossy(&out.stderr));
}
