//! End-to-end tests of who ran what, in the cases peers get wrong: `#!`
//! scripts (the script as filename, the interpreter in JSON, argv as the
//! kernel built it) and fileless execs (fexecve of a memfd, flagged). Root
//! and BPF: `#[ignore]`d by default, run with
//! `cargo test --release -- --include-ignored` as root (CI does).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{Tracer, compile_c, json_argv, json_u64, marker, root_test, run_capture};

/// A `#!` script: the filename is the script, `interp` is the interpreter,
/// argv is what the kernel built (interpreter, script path, arguments).
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn script_shows_script_and_interpreter() {
    let _g = root_test();
    let mark = marker("script");
    let dir = std::env::temp_dir().join(format!("execsnoop-script-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = script.to_string_lossy().to_string();

    let t = Tracer::start(&["--json"]);
    let (pid, out) = run_capture(Command::new(&script).arg(&mark));
    let f = t.stop(libc::SIGINT);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", out.dump());
    f.assert_clean_end();
    let rec = f.one_json_exec(&mark, &path);
    assert_eq!(json_u64(&rec, "pid"), u64::from(pid), "{rec}");
    assert_eq!(rec["interp"], "/bin/sh", "{rec}");
    assert_eq!(
        json_argv(&rec),
        vec![b"/bin/sh".to_vec(), path.as_bytes().to_vec(), mark.as_bytes().to_vec()],
        "argv as the kernel built it\n{rec}"
    );
    assert_eq!(rec["fileless"], false, "{rec}");
}

const MEMFD_C: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char buf[65536];
    ssize_t n;
    int in, fd;
    if (argc < 2) return 2;
    in = open("/bin/true", O_RDONLY);
    fd = memfd_create("execsnoop-test", MFD_CLOEXEC);
    if (in < 0 || fd < 0) return 3;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(fd, buf, n) != n) return 4;
    char *args[] = {"fileless", argv[1], NULL};
    char *env[] = {NULL};
    fexecve(fd, args, env);
    return 5;
}
"#;

/// fexecve of a memfd: seen, with its arguments, flagged as fileless.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn memfd_exec_is_flagged_fileless() {
    let _g = root_test();
    let mark = marker("memfd");
    let helper = compile_c("memfd", MEMFD_C);
    let t = Tracer::start(&["--json"]);
    let (pid, out) = run_capture(Command::new(&helper.path).arg(&mark));
    let f = t.stop(libc::SIGINT);
    f.assert_clean_end();
    assert!(out.status.success(), "the memfd exec ran /bin/true\n{}", out.dump());
    let recs = f.json_execs_with(&mark);
    let rec = recs
        .iter()
        .find(|v| v["argv"][0] == "fileless")
        .unwrap_or_else(|| panic!("no record of the fexecve\n{}", f.dump()));
    assert_eq!(json_u64(rec, "pid"), u64::from(pid), "{rec}");
    assert_eq!(rec["fileless"], true, "{rec}");
    assert!(rec["comm"].as_str().is_some_and(|c| c.starts_with("memfd:")), "{rec}");
    assert_eq!(json_argv(rec), vec![b"fileless".to_vec(), mark.as_bytes().to_vec()], "{rec}");
}
