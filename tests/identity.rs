//! End-to-end tests of who ran what, in the cases peers get wrong: `#!`
//! scripts (the script as filename, the interpreter in JSON, argv as the
//! kernel built it), fileless execs (fexecve of a memfd, flagged) and execs
//! through a descriptor (execveat with a directory fd or AT_EMPTY_PATH: the
//! real file, not "/dev/fd/N"). Root
//! and BPF: `#[ignore]`d by default, run with
//! `cargo test --release -- --include-ignored` as root (CI does).

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::{TempDir, Tracer, compile_c, json_argv, json_u64, marker, root_test, run_capture};

/// A `#!` script: the filename is the script, `interp` is the interpreter,
/// argv is what the kernel built (interpreter, script path, arguments).
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn script_shows_script_and_interpreter() {
    let _g = root_test();
    let mark = marker("script");
    let dir = TempDir::new("script");
    let script = dir.path.join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = script.to_string_lossy().to_string();

    let t = Tracer::start(&["--json"]);
    let (pid, out) = run_capture(Command::new(&script).arg(&mark));
    let f = t.stop(libc::SIGINT);
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
    // The kernel's own name for it: since 6.x the file's name; before, the
    // last part of "/dev/fd/N", the descriptor's number.
    assert!(rec["comm"].as_str().is_some_and(|c| c.starts_with("memfd:") || c.parse::<u32>().is_ok()), "{rec}");
    assert_eq!(json_argv(rec), vec![b"fileless".to_vec(), mark.as_bytes().to_vec()], "{rec}");
    assert_eq!(rec["filename"], "/memfd:execsnoop-test", "the memfd's name, as /proc/PID/exe shows it\n{rec}");
    assert!(rec["fd_path"].as_str().is_some_and(|p| p.starts_with("/dev/fd/")), "{rec}");
}

const EXECVEAT_C: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
/* execveat MODE DIR NAME MARK: mode "dirfd" opens DIR and runs NAME
 * relative to it; mode "empty" opens DIR/NAME and runs it with
 * AT_EMPTY_PATH. */
int main(int argc, char **argv) {
    char path[4096];
    char *args[] = {"viafd", argv[4], NULL};
    char *env[] = {NULL};
    int fd;
    if (argc < 5) return 2;
    if (strcmp(argv[1], "dirfd") == 0) {
        fd = open(argv[2], O_RDONLY | O_DIRECTORY);
        if (fd < 0) return 3;
        syscall(SYS_execveat, fd, argv[3], args, env, 0);
    } else {
        strcpy(path, argv[2]);
        strcat(path, "/");
        strcat(path, argv[3]);
        fd = open(path, O_RDONLY);
        if (fd < 0) return 3;
        syscall(SYS_execveat, fd, "", args, env, AT_EMPTY_PATH);
    }
    return 5;
}
"#;

/// execveat with a directory fd and with AT_EMPTY_PATH: the record names
/// the file that ran (not "/dev/fd/N..."), keeps the kernel's name in
/// `fd_path`, and the text row says `[exe=...]`. A path in a directory tree
/// on another mount (/tmp may be one) is walked across the mount.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn execveat_through_a_descriptor_names_the_real_file() {
    let _g = root_test();
    let helper = compile_c("execveat", EXECVEAT_C);
    // A copy of /bin/true a few directories down, next to the helper.
    let deep = helper.path.parent().expect("helper dir").join("d1/d2/d3");
    std::fs::create_dir_all(&deep).expect("mkdir");
    std::fs::copy("/bin/true", deep.join("tru")).expect("copy true");
    let bin_true = std::fs::canonicalize("/bin/true").expect("resolve /bin/true");
    let (bin_dir, bin_name) = (bin_true.parent().expect("dir"), bin_true.file_name().expect("name"));
    let deep_file = std::fs::canonicalize(deep.join("tru")).expect("resolve copy");

    let marks = [marker("dirfd"), marker("empty"), marker("deep")];
    let t = Tracer::start(&["--json"]);
    let text = Tracer::start(&[]);
    let cases = [
        ("dirfd", bin_dir, bin_name.to_str().expect("utf-8"), &marks[0]),
        ("empty", bin_dir, bin_name.to_str().expect("utf-8"), &marks[1]),
        ("dirfd", deep.parent().and_then(|p| p.parent()).expect("d1"), "d2/d3/tru", &marks[2]),
    ];
    for (mode, dir, name, mark) in &cases {
        let (_, out) = run_capture(Command::new(&helper.path).args([*mode, dir.to_str().expect("utf-8"), name, mark]));
        assert!(out.status.success(), "{mode}: the exec ran true\n{}", out.dump());
    }
    let f = t.stop(libc::SIGINT);
    let ft = text.stop(libc::SIGINT);
    f.assert_clean_end();
    let want = [bin_true.clone(), bin_true.clone(), deep_file.clone()];
    // "/dev/fd/N/NAME" for a directory fd, "/dev/fd/N" for AT_EMPTY_PATH.
    let fd_path_ok = |mode: &str, name: &str, got: &str| {
        let rest = got.strip_prefix("/dev/fd/").unwrap_or("");
        let (n, tail) = rest.split_once('/').map_or((rest, None), |(n, t)| (n, Some(t)));
        n.parse::<u32>().is_ok() && tail == (mode == "dirfd").then_some(name)
    };
    for (i, (mode, _, name, mark)) in cases.iter().enumerate() {
        let recs = f.json_execs_with(mark);
        let rec =
            recs.iter().find(|v| v["argv"][0] == "viafd").unwrap_or_else(|| panic!("no {mode} exec\n{}", f.dump()));
        assert_eq!(rec["filename"], want[i].to_str().expect("utf-8"), "{mode}: the real file\n{rec}");
        assert!(fd_path_ok(mode, name, rec["fd_path"].as_str().unwrap_or("")), "{mode}: fd_path\n{rec}");
        assert_eq!(rec["filename_truncated"], false, "{rec}");
        assert_eq!(rec["fileless"], false, "{rec}");
        let rows: Vec<String> = ft.rows_with(mark).into_iter().filter(|r| r.contains(" viafd ")).collect();
        assert_eq!(rows.len(), 1, "{}", ft.dump());
        let row = &rows[0];
        assert!(row.ends_with(&format!("viafd {mark} [exe={}]", want[i].display())), "{row}");
    }
}
