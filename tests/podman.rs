//! A real container: podman runs a tiny image built here (busybox, no
//! registry), and the records of what runs in it name the container
//! (`container_id` as `podman inspect` gives it, runtime podman, the
//! 12-character id in the CONTAINER column), its init is pid 1 in its own pid
//! namespace, its namespaces differ from the host's, its working directory
//! is the one it sees inside, and `--container` / `--host` select it or not.
//!
//! Needs root, BPF and podman with the runc runtime (`.ci/run` installs them;
//! crun refuses this machine's hybrid cgroups). Not in the VM matrix: the
//! guest's root is the host's, read-only, and podman needs its storage.

use std::path::Path;
use std::process::Command;

use crate::support::{TempDir, Tracer, decode_bytes, json_argv, json_u64, marker, root_test, run_capture};
use serde_json::Value;

const IMAGE: &str = "localhost/execsnoop-test:latest";

/// podman with what this machine needs: runc, and ulimits it may set.
fn podman(conf: &Path) -> Command {
    let mut cmd = Command::new(crate::support::tool("podman"));
    cmd.env("CONTAINERS_CONF", conf);
    cmd
}

#[test]
#[ignore = "needs root, BPF and podman (with runc): CI installs them"]
fn podman_container_is_named_and_filtered() {
    let _g = root_test();
    assert!(Path::new("/bin/busybox").exists(), "busybox-static builds the image");
    let tmp = TempDir::new("podman");
    let conf = tmp.path.join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n[engine]\nruntime = \"runc\"\n",
    )
    .unwrap();
    // The image: busybox and its links.
    let root = tmp.path.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "work"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for a in ["sh", "true", "echo", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    let tar = tmp.path.join("rootfs.tar");
    let (_, out) = run_capture(Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg("."));
    assert!(out.status.success(), "\n{}", out.dump());
    let (_, out) = run_capture(podman(&conf).args(["import", "-q"]).arg(&tar).arg(IMAGE));
    assert!(out.status.success(), "podman import\n{}", out.dump());

    let mark = marker("pod");
    let cidfile = tmp.path.join("cid");
    let t = Tracer::start(&["--json", "--context", "--cwd", "-e"]);
    let text = Tracer::start(&["--print-container"]);
    let host = Tracer::start(&["--json", "--host"]);
    let chosen = Tracer::start(&["--json", "--containers"]);
    let (_, out) =
        run_capture(podman(&conf).args(["run", "--rm", "--network=none", "--cidfile"]).arg(&cidfile).args([
            IMAGE,
            "/bin/sh",
            "-c",
            &format!("cd /work && /bin/echo {mark} inside; :"),
        ]));
    assert!(out.status.success(), "podman run\n{}", out.dump());
    let (_, out) = run_capture(Command::new("/bin/echo").args([&mark, "outside"]));
    assert!(out.status.success());
    let id = std::fs::read_to_string(&cidfile).unwrap().trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let f = t.stop(libc::SIGINT);
    let ft = text.stop(libc::SIGINT);
    let fh = host.stop(libc::SIGINT);
    let fc = chosen.stop(libc::SIGINT);
    let _ = run_capture(podman(&conf).args(["rmi", "-f", IMAGE]));
    f.assert_clean_end();

    let recs = f.json();
    let init = recs
        .iter()
        .find(|v| v["type"] == "exec" && v["argv"][2].as_str().is_some_and(|a| a.contains(&mark)))
        .unwrap_or_else(|| panic!("no exec of the container's sh\n{}", f.dump()));
    assert_eq!(init["container_id"], id.as_str(), "{init}");
    assert_eq!(init["container_runtime"], "podman", "{init}");
    assert_eq!(json_u64(init, "nspid"), 1, "the container's init is pid 1 inside: {init}");
    let echo = recs
        .iter()
        .find(|v| {
            v["type"] == "exec"
                && json_argv(v).last().is_some_and(|a| a == b"inside")
                && v["container_id"] == id.as_str()
        })
        .unwrap_or_else(|| panic!("no exec of the echo inside\n{}", f.dump()));
    assert_eq!(decode_bytes(&echo["cwd"]), b"/work", "its own view of its directory: {echo}");
    let outside: &Value =
        recs.iter().find(|v| v["type"] == "exec" && json_argv(v).last().is_some_and(|a| a == b"outside")).unwrap();
    assert_eq!(outside["container_id"], Value::Null);
    for ns in ["pid", "mnt", "net", "uts", "ipc"] {
        assert_ne!(init["namespaces"][ns], outside["namespaces"][ns], "{ns}: {init}\n{outside}");
    }
    let row = ft.one_row_ending(&format!("/bin/echo {mark} inside"));
    assert!(row.contains(&format!(" {} /bin/echo", &id[..12])), "{row}");
    let inside = |f: &crate::support::Finished| f.stdout_str().contains(&format!("\"{mark}\",\"inside\""));
    let outside = |f: &crate::support::Finished| f.stdout_str().contains(&format!("\"{mark}\",\"outside\""));
    assert!(!inside(&fh) && outside(&fh), "--host\n{}", fh.dump());
    assert!(inside(&fc) && !outside(&fc), "--containers\n{}", fc.dump());
}
