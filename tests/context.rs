//! End-to-end tests of what an exec is shown with beyond its arguments, all
//! read in the kernel at the exec (bpf source): the working directory
//! (`--cwd`), the environment with redaction (`--env`, `--redact`,
//! `--no-redact`), credentials and privilege changes, exec ids and ancestry
//! (`--context`, `--ancestry`), and containers and namespaces
//! (`--print-container`, `--container`, `--host`, `--containers`), the
//! container laid out as podman lays it out here (its own pid and mount
//! namespaces, a `libpod-<id>` cgroup). Root and BPF: `#[ignore]`d by
//! default; they run in CI and in the VM matrix. (tests/podman.rs runs a
//! real podman container where podman is installed.)

use std::path::PathBuf;
use std::process::Command;

use crate::support::{TempCgroup, TempDir, Tracer, decode_bytes, json_argv, json_u64, marker, root_test, run_capture};
use serde_json::Value;

/// The JSON exec records whose argv holds `mark`.
fn execs_with<'a>(recs: &'a [Value], mark: &str) -> Vec<&'a Value> {
    recs.iter().filter(|v| v["type"] == "exec" && json_argv(v).iter().any(|a| a == mark.as_bytes())).collect()
}

fn one<'a>(recs: &'a [Value], mark: &str, filename: &str) -> &'a Value {
    let found: Vec<&Value> = execs_with(recs, mark).into_iter().filter(|v| v["filename"] == filename).collect();
    assert_eq!(found.len(), 1, "one exec of {filename} with {mark}: {found:#?}");
    found[0]
}

/// Run `script` with sh in `dir` and wait for it.
fn sh_in(dir: &std::path::Path, script: &str) {
    let (_, out) = run_capture(Command::new("/bin/sh").current_dir(dir).args(["-c", script]));
    assert!(out.status.success(), "{script}\n{}", out.dump());
}

/// The working directory as the process sees it: 3,000 bytes deep, across a
/// bind mount, and in its own root (chroot).
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn working_directory() {
    let _g = root_test();
    let tmp = TempDir::new("cwd");
    // 15 levels of 199-byte names: a path of 3,000 bytes and more.
    let mut deep = tmp.path.clone();
    for i in 0..15 {
        deep.push(format!("{i:02}{}", "d".repeat(197)));
    }
    std::fs::create_dir_all(&deep).unwrap();
    assert!(deep.as_os_str().len() > 3000);
    // A bind mount: /tmp/.../b shows /tmp/.../a.
    let (a, b) = (tmp.path.join("a"), tmp.path.join("b"));
    std::fs::create_dir_all(a.join("inner")).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let bound = Command::new("mount").arg("--bind").arg(&a).arg(&b).status().unwrap();
    assert!(bound.success(), "mount --bind");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(b.clone());

    let mark = marker("cwd");
    let t = Tracer::start(&["--json", "--cwd"]);
    let text = Tracer::start(&["--cwd"]);
    sh_in(&deep, &format!("/bin/true {mark} deep; true"));
    sh_in(&b.join("inner"), &format!("/bin/true {mark} bound; true"));
    let f = t.stop(libc::SIGINT);
    let ft = text.stop(libc::SIGINT);
    f.assert_clean_end();
    let recs = f.json();
    let true_in = |what: &str| {
        recs.iter()
            .find(|v| v["filename"] == "/bin/true" && json_argv(v).last().is_some_and(|a| a == what.as_bytes()))
            .unwrap_or_else(|| panic!("no exec of /bin/true {what}\n{}", f.dump()))
    };
    let deep_rec = true_in("deep");
    assert_eq!(decode_bytes(&deep_rec["cwd"]), deep.as_os_str().as_encoded_bytes(), "{deep_rec}");
    assert_eq!(deep_rec["cwd_truncated"], false);
    let bound_rec = true_in("bound");
    assert_eq!(decode_bytes(&bound_rec["cwd"]), b.join("inner").as_os_str().as_encoded_bytes(), "{bound_rec}");
    // Text: a CWD column before ARGS.
    let header = ft.stdout_str().lines().next().unwrap_or_default().to_string();
    assert!(header.ends_with(" CWD ARGS"), "{header}");
    let row = ft.one_row_ending(&format!(" /bin/true {mark} bound"));
    assert!(row.contains(&format!(" {} /bin/true {mark} bound", b.join("inner").display())), "{row}");
}

/// `env -i FOO=1 GITHUB_TOKEN=abc PASSWORD=x prog`: the environment is
/// captured with the secrets' values redacted (names kept, the size counting
/// what is shown); `--no-redact` shows them; `--redact` hides matches in the
/// arguments. (tests/redaction.rs tests the rules.)
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn environment_with_redaction() {
    let _g = root_test();
    let mark = marker("env");
    let run = |args: &[&str]| {
        let t = Tracer::start(args);
        let (_, out) = run_capture(Command::new("env").args([
            "-i",
            "FOO=1",
            "GITHUB_TOKEN=abc",
            "PASSWORD=x",
            "/bin/echo",
            &mark,
            "--password=hunter2",
        ]));
        assert!(out.status.success(), "\n{}", out.dump());
        let f = t.stop(libc::SIGINT);
        f.assert_clean_end();
        f
    };
    let f = run(&["--json", "--env"]);
    let recs = f.json();
    let rec = one(&recs, &mark, "/bin/echo");
    let env: Vec<Vec<u8>> = rec["env"].as_array().unwrap().iter().map(decode_bytes).collect();
    assert_eq!(env, [b"FOO=1".to_vec(), b"GITHUB_TOKEN=<redacted>".to_vec(), b"PASSWORD=<redacted>".to_vec()]);
    assert_eq!(
        json_u64(rec, "env_size"),
        "FOO=1\0GITHUB_TOKEN=<redacted>\0PASSWORD=<redacted>\0".len() as u64,
        "the size of what is shown: {rec}"
    );
    assert_eq!((rec["env_truncated"].clone(), rec["env_read_failed"].clone()), (false.into(), false.into()));
    assert!(
        json_argv(rec).iter().any(|a| a == b"--password=<redacted>"),
        "no --redact: the default rules hide a --password value: {rec}"
    );
    assert_eq!(rec["redacted"], true, "{rec}");
    assert!(rec.get("args_redacted").is_none(), "args_redacted only with --redact: {rec}");

    let f = run(&["--json", "--env", "--no-redact"]);
    let recs = f.json();
    let rec = one(&recs, &mark, "/bin/echo");
    let env: Vec<Vec<u8>> = rec["env"].as_array().unwrap().iter().map(decode_bytes).collect();
    assert_eq!(env, [b"FOO=1".to_vec(), b"GITHUB_TOKEN=abc".to_vec(), b"PASSWORD=x".to_vec()]);
    assert!(json_argv(rec).iter().any(|a| a == b"--password=hunter2"), "--no-redact: arguments as they are");
    assert!(rec.get("redacted").is_none(), "no redacted field with --no-redact: {rec}");

    let f = run(&["--json", r"--redact=--password=\S+"]);
    let recs = f.json();
    let rec = one(&recs, &mark, "/bin/echo");
    assert_eq!(json_argv(rec).last().map(Vec::as_slice), Some(&b"<redacted>"[..]), "{rec}");
    assert_eq!(rec["args_redacted"], true);
    assert!(!f.stdout_str().contains("hunter2"), "the secret reaches no sink");

    // Text: a trailing [env: ...], redacted.
    let f = run(&["--env"]);
    let rows: Vec<String> = f
        .rows_with(&mark)
        .into_iter()
        .filter(|r| r.contains(&format!(" /bin/echo {mark}")) && !r.contains("env -i"))
        .collect();
    assert_eq!(rows.len(), 1, "\n{}", f.dump());
    assert!(rows[0].ends_with(" [env: FOO=1 GITHUB_TOKEN=<redacted> PASSWORD=<redacted>]"), "{}", rows[0]);
}

/// A set-user-ID copy run by nobody: euid 0, marked; `setpriv --reuid`
/// (real and effective uid changed together) is not.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn privilege_raised_by_a_setuid_file() {
    use std::os::unix::fs::PermissionsExt;
    let _g = root_test();
    let tmp = TempDir::new("suid");
    let suid = tmp.copy_program("/usr/bin/id", "suidid");
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let mark = marker("suid");
    let t = Tracer::start(&["--json", "--context"]);
    let text = Tracer::start(&["--context"]);
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
    let (_, out) = run_capture(Command::new(crate::support::tool("setpriv")).args(nobody).arg(&suid).args(["-u", &mark]));
    // id rejects the extra operand; the exec is what counts.
    let _ = out;
    let (_, out) = run_capture(Command::new(crate::support::tool("setpriv")).args(nobody).args(["/bin/echo", &mark]));
    assert!(out.status.success(), "\n{}", out.dump());
    let f = t.stop(libc::SIGINT);
    let ft = text.stop(libc::SIGINT);
    f.assert_clean_end();
    let recs = f.json();
    let rec = one(&recs, &mark, suid.to_str().unwrap());
    assert_eq!((json_u64(rec, "uid"), json_u64(rec, "euid")), (65534, 0), "{rec}");
    assert_eq!(rec["privilege"], serde_json::json!(["setuid"]), "{rec}");
    let plain = one(&recs, &mark, "/bin/echo");
    assert_eq!((json_u64(plain, "uid"), json_u64(plain, "euid")), (65534, 65534), "{plain}");
    assert_eq!(plain["privilege"], serde_json::json!([]), "{plain}");
    ft.one_row_ending(&format!("suidid -u {mark} [setuid]"));
    let plain: Vec<String> =
        ft.rows_with(&format!("/bin/echo {mark}")).into_iter().filter(|r| !r.contains("setpriv")).collect();
    assert_eq!(plain.len(), 1, "\n{}", ft.dump());
    assert!(plain[0].ends_with(&format!(" /bin/echo {mark}")), "no mark: {}", plain[0]);
}

/// `sh -c 'sh -c "true X; :"; :'`: the inner true's parent_exec_id is the
/// inner sh's exec_id, and `--ancestry 3` lists both shells. Ids are
/// `BOOT-PID-START-N` (see src/enrich.rs): two tracers agree on them.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn exec_ids_and_ancestry() {
    let _g = root_test();
    let mark = marker("ids");
    let t = Tracer::start(&["--json", "--context", "--ancestry", "3"]);
    let other = Tracer::start(&["--json", "--context"]);
    let script = format!("/bin/sh -c '/bin/true {mark}; :'; :");
    let (_, out) = run_capture(Command::new("/bin/sh").args(["-c", &script]));
    assert!(out.status.success(), "\n{}", out.dump());
    let f = t.stop(libc::SIGINT);
    let fo = other.stop(libc::SIGINT);
    f.assert_clean_end();
    let recs = f.json();
    let truth = one(&recs, &mark, "/bin/true");
    let shells: Vec<&Value> = recs
        .iter()
        .filter(|v| v["type"] == "exec" && v["filename"] == "/bin/sh" && v["argv"][2] != Value::Null)
        .collect();
    let inner = shells
        .iter()
        .find(|v| v["argv"][2] == format!("/bin/true {mark}; :"))
        .unwrap_or_else(|| panic!("no inner sh\n{}", f.dump()));
    let outer = shells.iter().find(|v| v["argv"][2] == script).unwrap_or_else(|| panic!("no outer sh\n{}", f.dump()));
    assert_eq!(truth["parent_exec_id"], inner["exec_id"], "{truth}\n{inner}");
    assert_eq!(inner["parent_exec_id"], outer["exec_id"]);
    let boot: String = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap().chars().take(8).collect();
    let id = truth["exec_id"].as_str().unwrap();
    assert!(id.starts_with(&format!("{boot}-{}-", truth["pid"])), "{id}");
    let chain: Vec<(u64, &Value)> =
        truth["ancestry"].as_array().unwrap().iter().map(|a| (json_u64(a, "pid"), &a["exec_id"])).collect();
    assert_eq!(chain[..2], [(json_u64(inner, "pid"), &inner["exec_id"]), (json_u64(outer, "pid"), &outer["exec_id"])]);
    // Another tracer names the same execs the same.
    let orec = fo.json();
    assert_eq!(one(&orec, &mark, "/bin/true")["exec_id"], truth["exec_id"]);
}

/// A process in a container, laid out as podman lays it out here: its own
/// pid and mount namespaces (it is pid 1 there) and a `libpod-<id>` cgroup.
/// JSON names the container and the namespaces; the CONTAINER column shows
/// 12 characters (`-` on the host); `--container PREFIX`, `--host` and
/// `--containers` select, for every record kind.
#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn containers_and_namespaces() {
    let _g = root_test();
    let id: String = format!("{:x}{}", std::process::id(), "c0ffee".repeat(11)).chars().take(64).collect();
    let mut parent = TempCgroup::new("libpod_parent");
    let cg = parent.child(&format!("libpod-{id}"));
    let mark = marker("ctr");
    let in_ctr = format!(
        "{}exec unshare --pid --fork --mount --mount-proc /bin/sh -c '/bin/echo {mark} inside; /bin/true {mark}; :'",
        TempCgroup::enter_script(&cg)
    );
    let run = |args: &[&str]| {
        let t = Tracer::start(args);
        let (_, out) = run_capture(Command::new("/bin/sh").args(["-c", &in_ctr]));
        assert!(out.status.success(), "\n{}", out.dump());
        let (_, out) = run_capture(Command::new("/bin/echo").args([&mark, "outside"]));
        assert!(out.status.success());
        let f = t.stop(libc::SIGINT);
        f.assert_clean_end();
        f
    };
    let f = run(&["--json", "--context", "-e"]);
    let recs = f.json();
    let last_arg = |filename: &str, last: &str| {
        let found: Vec<&Value> = recs
            .iter()
            .filter(|v| {
                v["type"] == "exec"
                    && v["filename"] == filename
                    && json_argv(v).last().is_some_and(|a| a.ends_with(last.as_bytes()))
            })
            .collect();
        assert_eq!(found.len(), 1, "one exec of {filename} ending in {last:?}\n{}", f.dump());
        found[0]
    };
    let inside = last_arg("/bin/sh", &format!("/bin/true {mark}; :"));
    let outside = last_arg("/bin/echo", "outside");
    let echo_in = last_arg("/bin/echo", "inside");
    assert_eq!(inside["container_id"], id.as_str(), "{inside}");
    assert_eq!(inside["container_runtime"], "podman");
    assert_eq!(json_u64(inside, "nspid"), 1, "the container's init is pid 1 in its namespace: {inside}");
    assert!(json_u64(echo_in, "nspid") > 1);
    assert_eq!(outside["container_id"], Value::Null);
    assert_eq!(json_u64(outside, "nspid"), json_u64(outside, "pid"), "the host sees its own pids");
    for ns in ["pid", "mnt"] {
        assert_ne!(inside["namespaces"][ns], outside["namespaces"][ns], "{ns}: {inside}\n{outside}");
    }
    for ns in ["net", "uts", "ipc"] {
        assert_eq!(inside["namespaces"][ns], outside["namespaces"][ns], "{ns} shared");
    }

    // The CONTAINER column.
    let f = run(&["--print-container"]);
    let header = f.stdout_str().lines().next().unwrap_or_default().to_string();
    assert!(header.contains("CONTAINER    ARGS"), "{header}");
    let row = |args: &str| {
        let rows: Vec<String> = f.rows_with(args).into_iter().filter(|r| r.ends_with(&format!(" {args}"))).collect();
        assert_eq!(rows.len(), 1, "one row ending in {args:?}\n{}", f.dump());
        rows[0].clone()
    };
    assert!(row(&format!("/bin/echo {mark} inside")).contains(&format!(" {} /bin/echo", &id[..12])), "\n{}", f.dump());
    assert!(row(&format!("/bin/echo {mark} outside")).contains(" -            /bin/echo"), "\n{}", f.dump());

    // Filters, exec and exit records alike.
    for (flags, want_in, want_out) in [
        (vec!["--container", &id[..8]], true, false),
        (vec!["--containers"], true, false),
        (vec!["--host"], false, true),
    ] {
        let mut args = vec!["--json", "-e"];
        args.extend(flags.iter().copied());
        let f = run(&args);
        let recs = f.json();
        let has = |what: &str| {
            recs.iter().any(|v| v["type"] == "exec" && json_argv(v).last().is_some_and(|a| a == what.as_bytes()))
        };
        assert_eq!(has("inside"), want_in, "{flags:?}\n{}", f.dump());
        assert_eq!(has("outside"), want_out, "{flags:?}\n{}", f.dump());
        let exits: Vec<&Value> = recs.iter().filter(|v| v["type"] == "exit").collect();
        for x in exits {
            let exec =
                recs.iter().find(|e| e["type"] == "exec" && e["pid"] == x["pid"] && e["ts_ns"] == x["exec_ts_ns"]);
            assert!(exec.is_some() || x["exec_ts_ns"].is_null(), "{flags:?}: an exit of a hidden exec: {x}");
        }
    }
    drop(parent);
}
