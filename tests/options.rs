//! End-to-end tests of the BCC/libbpf-tools options: `-u` (by number and by
//! name, filtered in the kernel), `-U`, `-T`, `-M`, `-n`, `-l`, `-q`, `-c`,
//! `--print-cgroup` and `--max-args`, plus the usage errors of the new flags.
//!
//! The tracing tests need root and BPF, so each one is `#[ignore]`d by
//! default and fails with a clear message when run without root (run
//! `cargo test --release -- --include-ignored` as root; CI does). They run
//! one at a time ([`crate::support::serial`]) and look only at rows carrying their
//! own marker. The usage-error tests need nothing and always run.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::support::{
    TempCgroup, TempDir, Tracer, assert_error_exit, decode_bytes, json_u64, marker, my_cgroup2_path, my_pid, nobody_uid,
    root_test, row, run_capture, run_marked, run_tool,
};

/// Run `/bin/echo MARK` as user nobody (setpriv changes the ids, then execs
/// echo in the same process). Returns echo's pid.
fn echo_as_nobody(mark: &str) -> u32 {
    let uid = nobody_uid().to_string();
    let reuid = format!("--reuid={uid}");
    let regid = format!("--regid={uid}");
    run_marked(crate::support::tool("setpriv"), &[reuid.as_str(), regid.as_str(), "--clear-groups", "/bin/echo", mark])
}

/// Rows for `/bin/echo` with `mark` (not those of setpriv or sh that also
/// carry it in their arguments).
fn echo_rows(f: &crate::support::Finished, mark: &str) -> Vec<String> {
    f.rows_with(mark)
        .into_iter()
        .filter(|r| r.contains(&format!(" /bin/echo {mark}")) && !r.contains("setpriv") && !r.contains("/bin/sh -c"))
        .collect()
}

/// `-u 0` and `-u root` keep root's exec and drop a non-root user's, in the
/// kernel (the `received` count does not include it); `-u nobody` keeps only
/// nobody's. With `-U` the UID column shows who ran it.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn uid_filter_by_number_and_by_name() {
    let _g = root_test();
    let root_mark = marker("uroot");
    let nobody_mark = marker("unobody");
    let by_number = Tracer::start(&["-u", "0"]);
    let by_name = Tracer::start(&["--uid", "root", "-U"]);
    let nobody = Tracer::start(&["-u", "nobody", "-U"]);
    let root_pid = run_marked("/bin/echo", &[root_mark.as_str()]);
    let nobody_pid = echo_as_nobody(&nobody_mark);
    let fs = [by_number.stop(libc::SIGINT), by_name.stop(libc::SIGINT), nobody.stop(libc::SIGINT)];
    for f in &fs {
        let (received, shown, _) = f.assert_clean_end();
        assert_eq!(received, shown, "filtered in the kernel: nothing dropped in user space\n{}", f.dump());
    }
    let [by_number, by_name, nobody] = fs;
    let root_row = row(root_pid, my_pid(), &format!("/bin/echo {root_mark}"));
    assert_eq!(by_number.rows_with(&root_mark), vec![root_row.clone()], "-u 0 keeps root's exec\n{}", by_number.dump());
    assert!(echo_rows(&by_number, &nobody_mark).is_empty(), "-u 0 drops nobody's exec\n{}", by_number.dump());
    // setpriv itself was exec'd as root, before it changed ids.
    assert_eq!(by_number.rows_with(&nobody_mark).len(), 1, "only setpriv's row\n{}", by_number.dump());

    assert_eq!(by_name.stdout_str().lines().next(), Some("UID       PID   PPID ARGS"), "\n{}", by_name.dump());
    assert_eq!(by_name.rows_with(&root_mark), vec![format!("{:<6} {root_row}", 0)], "\n{}", by_name.dump());
    assert!(echo_rows(&by_name, &nobody_mark).is_empty(), "-u root drops nobody's exec\n{}", by_name.dump());

    let nobody_row = format!("{:<6} {}", nobody_uid(), row(nobody_pid, my_pid(), &format!("/bin/echo {nobody_mark}")));
    assert_eq!(nobody.rows_with(&nobody_mark), vec![nobody_row], "-u nobody keeps only echo\n{}", nobody.dump());
    assert!(nobody.rows_with(&root_mark).is_empty(), "-u nobody drops root's exec\n{}", nobody.dump());
    for line in nobody.stdout_str().lines().skip(1) {
        assert!(line.starts_with(&format!("{:<6} ", nobody_uid())), "a row of another user: {line:?}");
    }
}

/// `-l` searches the command line (the arguments joined by spaces), not the
/// process name: a program whose name matches but whose arguments do not is
/// not shown, and a pattern spanning two arguments matches.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn line_regex_matches_arguments_not_the_name() {
    let _g = root_test();
    let mark = marker("line");
    // A program whose name (comm) is unique and appears in no argument.
    let dir = TempDir::new("line");
    let name = format!("zq{}", std::process::id() % 100_000_000);
    let prog = dir.path.join(&name);
    std::fs::copy("/bin/true", &prog).unwrap();

    let by_name_text = Tracer::start(&["-l", &name]);
    let joined = Tracer::start(&["-l", &format!("^/bin/echo {mark} two words$")]);
    let (named_pid, out) = run_capture(Command::new(&prog).arg0("other").arg(&mark));
    assert!(out.status.success(), "\n{}", out.dump());
    let echo_pid = run_marked("/bin/echo", &[mark.as_str(), "two", "words"]);
    run_marked("/bin/echo", &[mark.as_str(), "two"]);
    let f_name = by_name_text.stop(libc::SIGINT);
    let f_joined = joined.stop(libc::SIGINT);
    f_name.assert_clean_end();
    f_joined.assert_clean_end();

    assert!(
        f_name.rows_with(&mark).is_empty(),
        "-l {name} matched process {named_pid}, whose name but no argument is {name}\n{}",
        f_name.dump()
    );
    assert_eq!(
        f_joined.rows_with(&mark),
        vec![row(echo_pid, my_pid(), &format!("/bin/echo {mark} two words"))],
        "-l matches across arguments joined by one space, and only that exec\n{}",
        f_joined.dump()
    );
}

/// `-n REGEX` is the positional NAME: a regex on the process name.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn name_option_works_like_positional_name() {
    let _g = root_test();
    let mark = marker("nopt");
    let short = Tracer::start(&["-n", "^ech"]);
    let long = Tracer::start(&["--name", "^ech"]);
    let pid = run_marked("/bin/echo", &[mark.as_str()]);
    run_marked("/bin/true", &[mark.as_str()]);
    for f in [short.stop(libc::SIGINT), long.stop(libc::SIGINT)] {
        f.assert_clean_end();
        assert_eq!(f.rows_with(&mark), vec![row(pid, my_pid(), &format!("/bin/echo {mark}"))], "\n{}", f.dump());
    }
}

/// `-q`: the ARGS part of a row, pasted into `sh -c`, gives back the argv
/// byte for byte, hostile arguments included; the row itself still holds
/// no control byte.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn quoted_args_paste_into_sh_byte_for_byte() {
    let _g = root_test();
    let mark = marker("quote");
    let hostile: Vec<&[u8]> = vec![
        b"a b",
        b"",
        b"it's",
        b"\"dq\"",
        b"$HOME",
        b"$(id)",
        b"`id`",
        b"back\\slash",
        b"*",
        b"~",
        b"#not-a-comment",
        b"A=b",
        b"\x1b[31mred\x1b[0m",
        b"new\nline",
        b"trailing\n",
        b"\n\n",
        b"\nlead",
        b"\xff\xfe\x80",
        "bidi \u{202e}txt".as_bytes(),
        "caf\u{e9}".as_bytes(),
        b"\x01\x7f\t\r",
        b"-n",
    ];
    let t = Tracer::start(&["-q"]);
    let args: Vec<&OsStr> =
        std::iter::once(OsStr::new(&mark)).chain(hostile.iter().map(|a| OsStr::from_bytes(a))).collect();
    let pid = run_marked("/bin/echo", &args);
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();

    let line = f
        .stdout
        .split(|&b| b == b'\n')
        .find(|l| l.windows(mark.len()).any(|w| w == mark.as_bytes()))
        .unwrap_or_else(|| panic!("no row with {mark}\n{}", f.dump()))
        .to_vec();
    assert!(!line.iter().any(|&b| b < 0x20 || b == 0x7f), "raw control byte in the row: {line:?}");
    assert!(std::str::from_utf8(&line).is_ok(), "row is not UTF-8: {line:?}");
    let prefix = row(pid, my_pid(), "");
    assert!(
        line.starts_with(prefix.as_bytes()),
        "row {:?} does not start with {prefix:?}",
        String::from_utf8_lossy(&line)
    );
    let quoted = std::str::from_utf8(&line[prefix.len()..]).unwrap();

    let mut want: Vec<u8> = Vec::new();
    for a in std::iter::once(&b"/bin/echo"[..]).chain(std::iter::once(mark.as_bytes())).chain(hostile.iter().copied()) {
        want.extend_from_slice(a);
        want.push(0);
    }
    for sh in ["/bin/sh", "/bin/dash", "/bin/bash"] {
        if !std::path::Path::new(sh).exists() {
            continue;
        }
        let out = Command::new(sh)
            .arg("-c")
            .arg(format!("printf '%s\\0' {quoted}"))
            .env_remove("_execsnoop_nl")
            .output()
            .unwrap_or_else(|e| panic!("run {sh}: {e}"));
        assert!(out.status.success(), "{sh} rejected {quoted:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            out.stdout.split(|&b| b == 0).map(<[u8]>::to_vec).collect::<Vec<_>>(),
            want.split(|&b| b == 0).map(<[u8]>::to_vec).collect::<Vec<_>>(),
            "{sh}: pasting {quoted:?} does not reproduce the argv"
        );
    }
}

/// The local wall-clock time `HH:MM:SS` now, from date(1).
fn date_hms() -> String {
    let (_, f) = run_capture(Command::new("date").arg("+%H:%M:%S"));
    f.stdout_str().trim().to_string()
}

/// `-T`: a TIME column, `HH:MM:SS` local time, 8 wide, within the second
/// of the exec.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn wall_time_column() {
    let _g = root_test();
    let mark = marker("wall");
    let t = Tracer::start(&["-T"]);
    let before = date_hms();
    let pid = run_marked("/bin/echo", &[mark.as_str()]);
    let after = date_hms();
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    assert_eq!(f.stdout_str().lines().next(), Some("TIME        PID   PPID ARGS"), "\n{}", f.dump());
    let got = f.one_row_with(&mark);
    let time = &got[..8];
    let b = time.as_bytes();
    assert!(
        b.len() == 8
            && b[2] == b':'
            && b[5] == b':'
            && b.iter().enumerate().all(|(i, c)| i == 2 || i == 5 || c.is_ascii_digit()),
        "not HH:MM:SS: {got:?}"
    );
    assert_eq!(got, format!("{time} {}", row(pid, my_pid(), &format!("/bin/echo {mark}"))), "\n{}", f.dump());
    // Lexical order is time order within a day; skip across midnight.
    if before <= after {
        assert!(before.as_str() <= time && time <= after.as_str(), "{time} not within [{before}, {after}]");
    }
}

/// `-M`: a PCOMM column with the parent's name.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn parent_name_column() {
    let _g = root_test();
    let mark = marker("pcomm");
    let text = Tracer::start(&["-M"]);
    let json = Tracer::start(&["--json"]);
    // `; true` keeps sh from exec'ing echo in its own place: echo is sh's child.
    let (sh_pid, out) = run_capture(Command::new("/bin/sh").args(["-c", &format!("/bin/echo {mark}; true")]));
    assert!(out.status.success(), "\n{}", out.dump());
    let ft = text.stop(libc::SIGINT);
    let fj = json.stop(libc::SIGINT);
    ft.assert_clean_end();
    fj.assert_clean_end();

    assert_eq!(ft.stdout_str().lines().next(), Some("PCOMM               PID   PPID ARGS"), "\n{}", ft.dump());
    let echo = echo_rows(&ft, &mark);
    assert_eq!(echo.len(), 1, "\n{}", ft.dump());
    assert!(echo[0].starts_with(&format!("{:<16} ", "sh")), "echo's parent is sh: {:?}", echo[0]);
    assert!(echo[0].contains(&format!(" {sh_pid:>6} /bin/echo {mark}")), "PPID is sh's pid: {:?}", echo[0]);
    // The shell's own row names this test process: the process's name (its
    // leader's comm), not the name of the test thread that spawned it.
    let sh_row = ft.one_row_with(&format!("/bin/sh -c /bin/echo {mark}; true"));
    let me = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    assert!(
        sh_row.starts_with(&format!("{:<16} ", me.trim())),
        "PCOMM is the parent process's name {me:?}: {sh_row:?}"
    );
    assert!(sh_row.ends_with(&row(sh_pid, my_pid(), &format!("/bin/sh -c /bin/echo {mark}; true"))), "{sh_row:?}");
    assert!(!sh_row.starts_with(' '), "a PCOMM first: {sh_row:?}");

    let rec = fj.one_json_exec(&mark, "/bin/echo");
    assert_eq!(rec["pcomm"], "sh", "{rec}");
    assert_eq!(json_u64(&rec, "ppid"), u64::from(sh_pid), "{rec}");
    assert_eq!(rec["ret"], 0, "{rec}");
    assert_eq!(rec["errno"], serde_json::Value::Null, "{rec}");
    assert_eq!(rec["interp"], serde_json::Value::Null, "{rec}");
    assert_eq!(rec["fileless"], false, "{rec}");
    assert!(rec.get("cgroup").is_none(), "no cgroup field without --print-cgroup: {rec}");
}

/// `-c DIR` shows only processes in that cgroup v2 directory and below it
/// (filtered in the kernel), and `--print-cgroup` shows each process's
/// cgroup path, in text and JSON.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn cgroup_filter_and_print_cgroup() {
    let _g = root_test();
    let inside = marker("cgin");
    let below = marker("cgbelow");
    let outside = marker("cgout");
    let mut cg = TempCgroup::new("opt");
    let sub = cg.child("sub");
    let dir = cg.path.to_str().unwrap().to_string();
    let mine = my_cgroup2_path().expect("this process has a cgroup v2 path");

    let filtered = Tracer::start(&["-c", &dir]);
    let printed = Tracer::start(&["--print-cgroup"]);
    let json = Tracer::start(&["--json", "--print-cgroup", "--cgroup", &dir]);
    // Each shell moves itself into the cgroup, then execs echo there.
    let run_in = |cgdir: &std::path::Path, mark: &str| -> u32 {
        let script = format!("{}exec /bin/echo {mark}", TempCgroup::enter_script(cgdir));
        let (pid, out) = run_capture(Command::new("/bin/sh").args(["-c", &script]));
        assert!(out.status.success(), "\n{}", out.dump());
        pid
    };
    let in_pid = run_in(&cg.path, &inside);
    let below_pid = run_in(&sub, &below);
    let out_pid = run_marked("/bin/echo", &[outside.as_str()]);
    let ff = filtered.stop(libc::SIGINT);
    let fp = printed.stop(libc::SIGINT);
    let fj = json.stop(libc::SIGINT);
    for f in [&ff, &fp, &fj] {
        f.assert_clean_end();
    }

    // -c: the two echos in the cgroup and below it; not the shells (they
    // exec'd before moving in) and not the echo outside.
    assert_eq!(ff.rows_with(&inside), vec![row(in_pid, my_pid(), &format!("/bin/echo {inside}"))], "\n{}", ff.dump());
    assert_eq!(ff.rows_with(&below), vec![row(below_pid, my_pid(), &format!("/bin/echo {below}"))], "\n{}", ff.dump());
    assert!(ff.rows_with(&outside).is_empty(), "an exec outside the cgroup\n{}", ff.dump());
    let (received, shown, _) = ff.summary();
    assert_eq!(received, shown, "filtered in the kernel\n{}", ff.dump());

    // --print-cgroup: a CGROUP column right before ARGS.
    assert_eq!(fp.stdout_str().lines().next(), Some("   PID   PPID CGROUP ARGS"), "\n{}", fp.dump());
    let with_cg = |pid: u32, cg: &str, args: &str| format!("{pid:>6} {:>6} {cg} {args}", my_pid());
    let in_rows = echo_rows(&fp, &inside);
    assert_eq!(in_rows, vec![with_cg(in_pid, &cg.rel, &format!("/bin/echo {inside}"))], "\n{}", fp.dump());
    let below_rows = echo_rows(&fp, &below);
    assert_eq!(below_rows, vec![with_cg(below_pid, &format!("{}/sub", cg.rel), &format!("/bin/echo {below}"))]);
    assert_eq!(fp.rows_with(&outside), vec![with_cg(out_pid, &mine, &format!("/bin/echo {outside}"))]);
    // The shells exec'd where the test runs.
    let sh_rows: Vec<String> = fp.rows_with(&inside).into_iter().filter(|r| r.contains("/bin/sh -c")).collect();
    assert_eq!(sh_rows.len(), 1, "\n{}", fp.dump());
    assert!(sh_rows[0].starts_with(&format!("{in_pid:>6} {:>6} {mine} /bin/sh", my_pid())), "{sh_rows:?}");

    // JSON: a cgroup field with the path, after the plain fields.
    let rec = fj.one_json_exec(&inside, "/bin/echo");
    assert_eq!(rec["cgroup"], cg.rel.as_str(), "{rec}");
    assert_eq!(decode_bytes(&rec["cgroup"]), cg.rel.as_bytes());
    let rec = fj.one_json_exec(&below, "/bin/echo");
    assert_eq!(rec["cgroup"], format!("{}/sub", cg.rel).as_str(), "{rec}");
    assert!(fj.json_execs_with(&outside).is_empty(), "\n{}", fj.dump());
    let raw = fj.stdout_str();
    let line = raw.lines().find(|l| l.contains(&inside) && l.contains("/bin/echo")).unwrap();
    assert!(
        line.ends_with(&format!(",\"cgroup\":\"{}\",\"redacted\":false}}", cg.rel)),
        "cgroup follows the plain fields, only redacted (added later, at the end) after it: {line}"
    );
    drop(cg);
}

/// `--max-args N` is `-a N`.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn max_args_long_form() {
    let _g = root_test();
    let mark = marker("maxa");
    let long = Tracer::start(&["--max-args", "2"]);
    let short = Tracer::start(&["-a", "2"]);
    let pid = run_marked("/bin/echo", &[mark.as_str(), "b", "c", "d"]);
    let want = vec![row(pid, my_pid(), &format!("/bin/echo {mark} b [...]"))];
    for f in [long.stop(libc::SIGINT), short.stop(libc::SIGINT)] {
        f.assert_clean_end();
        assert_eq!(f.rows_with(&mark), want, "\n{}", f.dump());
    }
}

/// The new columns together, in their documented order, and a quick check
/// that they stay aligned with the header.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn all_columns_in_order() {
    let _g = root_test();
    let mark = marker("cols");
    let t = Tracer::start(&["-T", "-U", "-M", "-x", "--print-cgroup"]);
    let (sh_pid, out) = run_capture(Command::new("/bin/sh").args(["-c", &format!("/bin/echo {mark}; true")]));
    assert!(out.status.success(), "\n{}", out.dump());
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    let header = f.stdout_str().lines().next().unwrap_or_default().to_string();
    assert_eq!(header, "TIME     UID    PCOMM               PID   PPID RET CGROUP ARGS", "\n{}", f.dump());
    let rows = echo_rows(&f, &mark);
    assert_eq!(rows.len(), 1, "\n{}", f.dump());
    let got = &rows[0];
    let mine = my_cgroup2_path().unwrap();
    let pid: u32 = got[8 + 1 + 7 + 17..].split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let rest = format!("{:<6} {:<16} {pid:>6} {sh_pid:>6} {:>3} {mine} /bin/echo {mark}", 0, "sh", 0);
    assert_eq!(&got[8..], format!(" {rest}"), "\n{}", f.dump());
    assert!(got.as_bytes()[2] == b':' && got.as_bytes()[5] == b':', "{got:?}");
}

// ---- usage errors: no root needed -------------------------------------

fn tool(args: &[&str]) -> crate::support::Finished {
    run_tool(Command::new(crate::support::bin()).args(args))
}

#[test]
fn unknown_user_is_a_usage_error() {
    let f = tool(&["-u", "no-such-user-execsnoop"]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.contains("unknown user \"no-such-user-execsnoop\""), "{}", f.dump());
    let f = tool(&["--uid", "4294967295"]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.contains("not a valid user id"), "{}", f.dump());
}

#[test]
fn bad_line_regex_is_a_usage_error() {
    let f = tool(&["-l", "a("]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.starts_with("execsnoop: invalid line regex \"a(\": "), "{}", f.dump());
}

#[test]
fn name_option_and_positional_name_together_is_a_usage_error() {
    let f = tool(&["-n", "sh", "bash"]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.contains("not both"), "{}", f.dump());
    let f = tool(&["--name", "a("]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.starts_with("execsnoop: invalid name regex"), "{}", f.dump());
}

#[test]
fn cgroup_that_is_not_cgroup2_is_a_usage_error() {
    let tmp = std::env::temp_dir();
    let f = tool(&["-c", tmp.to_str().unwrap()]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.contains("not a cgroup v2 directory"), "{}", f.dump());
    let f = tool(&["--cgroup", "/nonexistent/execsnoop-cgroup"]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.starts_with("execsnoop: --cgroup /nonexistent/execsnoop-cgroup: "), "{}", f.dump());
    let f = tool(&["-c", "/etc/passwd"]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.contains("not a directory"), "{}", f.dump());
}

#[test]
fn boot_and_wall_time_together_is_a_usage_error() {
    let f = tool(&["-t", "-T"]);
    assert_error_exit(&f, 2, true);
}

#[test]
fn help_lists_the_new_options() {
    let f = tool(&["--help"]);
    assert_eq!(f.status.code(), Some(0), "{}", f.dump());
    let out = f.stdout_str();
    for opt in [
        "--time",
        "--print-uid",
        "--uid",
        "--print-pcomm",
        "--name",
        "--line",
        "--quote",
        "--cgroup",
        "--print-cgroup",
        "--max-args",
        "--fails",
    ] {
        assert!(out.contains(opt), "{opt} not in --help\n{}", f.dump());
    }
}
