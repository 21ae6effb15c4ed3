//! `--output` under the faults and attacks a root tracer meets on a real
//! host: a disk that fills (and frees again), and an unprivileged user
//! ("nobody", through `setpriv`) who plants a symbolic link, a FIFO, a
//! world-writable file or a directory where the tracer will write, in a
//! shared sticky directory as `/tmp` is. The tracer must keep tracing, never
//! leave half a line, count and say what it could not write, and never
//! write where nobody pointed it.
//!
//! Root and BPF: `#[ignore]`d by default; run with `--include-ignored`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{Background, Finished, TempDir, Tracer, marker, root_test};
use serde_json::Value;

/// A tmpfs of `kib` KiB on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(tag: &str, kib: u32) -> Tmpfs {
        let dir = TempDir::new(tag);
        let f = crate::support::run_tool(Command::new(crate::support::tool("mount")).args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={kib}k,mode=0755"),
            "tmpfs",
            dir.path.to_str().unwrap(),
        ]));
        assert!(f.status.success(), "mount a {kib} KiB tmpfs\n{}", f.dump());
        Tmpfs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path.join(name)
    }

    /// Take all the space that is left.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path("filler")).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        while f.write_all(&block[..1]).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.path("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let c = CString::new(self.dir.path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path for the call.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Every line of `path`, each of which must be a whole JSON record.
fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.is_empty() || text.ends_with(b"\n"), "{} ends in half a line", path.display());
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l)
                .unwrap_or_else(|e| panic!("a line that is not JSON ({e}): {:.200}", String::from_utf8_lossy(l)))
        })
        .collect()
}

fn execs_with(recs: &[Value], tag: &str) -> usize {
    recs.iter().filter(|r| r["type"] == "exec" && r["argv"].to_string().contains(tag)).count()
}

fn lost_output(recs: &[Value]) -> u64 {
    recs.iter().filter(|r| r["type"] == "lost" && r["kind"] == "output").map(|r| r["count"].as_u64().unwrap()).sum()
}

/// `N` from the closing line's `WARNING: N not written to the output file`.
fn not_written(f: &Finished) -> u64 {
    let re = regex::Regex::new(r"WARNING: (\d+) not written to the output file").unwrap();
    re.captures(&f.stderr).map_or(0, |c| c[1].parse().unwrap())
}

/// The `execsnoop_lost_total{kind="output"}` value of a scrape.
fn scraped_lost_output(port: u16) -> u64 {
    let m = crate::support::http_get(port, "/metrics");
    m.lines()
        .find_map(|l| l.strip_prefix("execsnoop_lost_total{kind=\"output\"} "))
        .unwrap_or_else(|| panic!("no output lost series\n{m}"))
        .parse()
        .unwrap()
}

/// An argument of `n` control bytes: JSON writes each as `\u0001`, six
/// bytes, so a few execs fill a small disk.
fn control_bytes(tag: &str, i: usize, n: usize) -> String {
    format!("{tag}-{i}-{}", "\x01".repeat(n))
}

#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn a_full_disk_holds_counts_and_resumes_without_half_lines() {
    let _g = root_test();
    // Room for what is held (1 MiB) once the disk is freed.
    let fs = Tmpfs::mount("full-disk", 4096);
    let out = fs.path("execs.json");
    let tag = marker("full");
    let port = crate::support::free_port();
    let addr = format!("127.0.0.1:{port}");
    let t = Tracer::start(&["--json", "-o", out.to_str().unwrap(), "-l", &tag, "--metrics", &addr]);
    for i in 0..5 {
        crate::support::run_marked("/bin/true", &[control_bytes(&tag, i, 3000)]);
    }
    std::thread::sleep(Duration::from_millis(300));
    fs.fill();
    // About 18 KB of JSON each: well beyond the 1 MiB held.
    let storm = 150;
    for i in 5..5 + storm {
        crate::support::run_marked("/bin/true", &[control_bytes(&tag, i, 3000)]);
    }
    std::thread::sleep(Duration::from_millis(400));
    let during = scraped_lost_output(port);
    assert!(during > 0, "records beyond the hold are counted while the disk is full");
    assert!(t.stderr().contains("WARNING: cannot write to"), "{}", t.dump());
    fs.free();
    // The held records and a lost record go out at the next flush.
    std::thread::sleep(Duration::from_millis(400));
    for i in 5 + storm..10 + storm {
        crate::support::run_marked("/bin/true", &[control_bytes(&tag, i, 3000)]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let f = t.stop(libc::SIGTERM);
    let (received, shown, lost) = f.assert_clean_end();
    assert_eq!(lost, 0, "{}", f.dump());
    let recs = records(&out);
    let written = execs_with(&recs, &tag) as u64;
    let counted = not_written(&f);
    assert_eq!(shown, 10 + storm as u64, "{}", f.dump());
    assert!(received >= shown);
    assert_eq!(written + counted, shown, "written {written} + counted {counted} = shown\n{}", f.dump());
    assert!(counted >= during && counted > 0, "{counted} {during}");
    assert_eq!(lost_output(&recs), counted, "the lost record says what the closing line says\n{}", f.dump());
    assert!(f.stderr.contains("again;"), "recovery is said\n{}", f.dump());
    // The last records came after the gap: the disk works again.
    let last: Vec<&Value> = recs.iter().filter(|r| r["type"] == "exec").collect();
    assert!(last.last().unwrap()["argv"].to_string().contains(&format!("{tag}-{}-", 9 + storm)));
}

#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn a_64k_disk_that_stays_full_ends_clean_and_a_restart_appends_whole_lines() {
    let _g = root_test();
    let fs = Tmpfs::mount("small-disk", 64);
    let out = fs.path("execs.json");
    let tag = marker("small");
    let t = Tracer::start(&["--json", "-o", out.to_str().unwrap(), "-l", &tag]);
    let n = 40;
    for i in 0..n {
        crate::support::run_marked("/bin/true", &[control_bytes(&tag, i, 3000)]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let f = t.stop(libc::SIGTERM);
    let (_, shown, _) = f.assert_clean_end();
    let recs = records(&out);
    let written = execs_with(&recs, &tag) as u64;
    assert_eq!(shown, n as u64);
    assert!(written < shown, "the disk filled: {written} of {shown} written");
    // The closing `end` record is a line like the others: counted when it
    // could not be written either.
    let end_written = recs.iter().any(|r| r["type"] == "end");
    assert_eq!(written + not_written(&f), shown + u64::from(!end_written), "{}", f.dump());
    assert!(f.stderr.contains("records could not be written"), "{}", f.dump());

    // Room again, and a file that ends in half a line (as an older tracer,
    // or another writer, left it): the next record is a line of its own.
    std::fs::remove_file(&out).unwrap();
    std::fs::write(&out, b"{\"type\":\"exec\",\"half\":").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).unwrap();
    let tag2 = marker("restart");
    let t = Tracer::start(&["--json", "-o", out.to_str().unwrap(), "-l", &tag2]);
    crate::support::run_marked("/bin/true", &[&tag2]);
    std::thread::sleep(Duration::from_millis(300));
    t.stop(libc::SIGTERM).assert_clean_end();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("{\"type\":\"exec\",\"half\":"));
    let rest: Vec<Value> = lines.map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(rest.iter().filter(|r| r["argv"].to_string().contains(&tag2)).count(), 1, "{text}");
}

/// Run `argv` as nobody.
fn as_nobody(argv: &[&str]) -> Command {
    let mut c = Command::new(crate::support::tool("setpriv"));
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).args(argv);
    c
}

fn nobody(argv: &[&str]) {
    let f = crate::support::run_tool(&mut as_nobody(argv));
    assert!(f.status.success(), "as nobody: {argv:?}\n{}", f.dump());
}

/// A shared directory as /tmp is: world-writable and sticky.
fn shared_dir(tag: &str) -> TempDir {
    let d = TempDir::new(tag);
    std::fs::set_permissions(&d.path, std::fs::Permissions::from_mode(0o1777)).unwrap();
    d
}

/// A root-only file nobody would like to write into.
fn secret_file(dir: &Path) -> PathBuf {
    let p = dir.join("root-only");
    std::fs::write(&p, "root's own\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// Start a tracer on `out` that must refuse it: status 2, one line that
/// says `why`, nothing written.
fn refused(out: &Path, why: &str) {
    let f = crate::support::run_tool(Command::new(crate::support::bin()).args(["--json", "-o", out.to_str().unwrap(), "-d", "1"]));
    crate::support::assert_error_exit(&f, 2, true);
    assert!(f.stderr.contains(why), "the refusal says {why:?}\n{}", f.dump());
}

#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn nobody_cannot_point_the_output_at_a_root_file() {
    let _g = root_test();
    let d = shared_dir("output-attack");
    let secret = secret_file(&d.path);
    let out = d.path.join("execsnoop.json");
    // A symbolic link planted where root will write.
    nobody(&["ln", "-s", secret.to_str().unwrap(), out.to_str().unwrap()]);
    refused(&out, "symbolic link");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root's own\n");
    std::fs::remove_file(&out).unwrap();

    // A file of nobody's, world-readable and writable, to read root's
    // records (and their secrets) from.
    nobody(&["sh", "-c", &format!("umask 0; : > {}", out.display())]);
    refused(&out, "belongs to uid 65534");
    std::fs::remove_file(&out).unwrap();
}

#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn a_fifo_never_blocks_the_tracer_nor_gets_a_record() {
    let _g = root_test();
    let d = shared_dir("output-fifo");
    let out = d.path.join("execsnoop.json");
    nobody(&["mkfifo", "-m", "0666", out.to_str().unwrap()]);
    // No reader: the open would block without O_NONBLOCK.
    refused(&out, "FIFO");
    // With nobody reading it: opened, then refused as not a regular file.
    let got = d.path.join("got");
    let reader = Background::spawn(&mut as_nobody(&[
        "sh",
        "-c",
        &format!("cat {} > {} 2>&1", out.display(), got.display()),
    ]));
    std::thread::sleep(Duration::from_millis(200));
    refused(&out, "FIFO");
    // The reader sees the end of the FIFO, and nothing in it.
    let f = reader.wait(Duration::from_secs(5));
    assert!(f.status.success(), "{}", f.dump());
    assert_eq!(std::fs::read(&got).unwrap(), b"", "the FIFO's reader got records");
}

#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn a_symlink_planted_after_a_rotation_is_not_followed_at_sighup() {
    let _g = root_test();
    let d = shared_dir("output-hup");
    let secret = secret_file(&d.path);
    let out = d.path.join("execsnoop.json");
    let tag = marker("hup");
    let t = Tracer::start(&["--json", "-o", out.to_str().unwrap(), "-l", &tag]);
    crate::support::run_marked("/bin/true", &[format!("{tag}-before")]);
    std::thread::sleep(Duration::from_millis(300));
    // logrotate (root) moves the file away; nobody is quicker than the
    // SIGHUP and puts a link in its place.
    let moved = d.path.join("execsnoop.json.1");
    std::fs::rename(&out, &moved).unwrap();
    nobody(&["ln", "-s", secret.to_str().unwrap(), out.to_str().unwrap()]);
    t.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    crate::support::run_marked("/bin/true", &[format!("{tag}-after")]);
    std::thread::sleep(Duration::from_millis(300));
    let f = t.stop(libc::SIGTERM);
    f.assert_clean_end();
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root's own\n", "root's file was written through the link");
    assert!(f.stderr.contains("not reopening") && f.stderr.contains("symbolic link"), "{}", f.dump());
    // Both records in the file that stayed open.
    let recs = records(&moved);
    assert_eq!(execs_with(&recs, &format!("{tag}-before")), 1);
    assert_eq!(execs_with(&recs, &format!("{tag}-after")), 1);
}

#[test]
#[ignore = "needs root and BPF: run cargo test -- --include-ignored as root"]
fn a_directory_planted_at_a_rotated_name_does_not_end_tracing() {
    let _g = root_test();
    let d = shared_dir("output-rotate");
    let out = d.path.join("execsnoop.json");
    let planted = d.path.join("execsnoop.json.2");
    nobody(&["mkdir", planted.to_str().unwrap()]);
    let tag = marker("rot");
    let t = Tracer::start(&["--json", "-o", out.to_str().unwrap(), "-l", &tag, "--rotate-size", "2k", "--rotate-keep", "3"]);
    let n = 30;
    for i in 0..n {
        crate::support::run_marked("/bin/true", &[format!("{tag}-{i}-{}", "r".repeat(300))]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let f = t.stop(libc::SIGTERM);
    let (_, shown, _) = f.assert_clean_end();
    assert_eq!(shown, n as u64);
    assert!(f.stderr.contains("not rotating") && f.stderr.contains("is a directory"), "{}", f.dump());
    assert!(planted.is_dir());
    // Every record somewhere, once.
    let mut all = records(&out);
    let one = d.path.join("execsnoop.json.1");
    if one.exists() {
        all.extend(records(&one));
    }
    // Said once, not at every --rotate-size of growth.
    assert_eq!(f.stderr.matches("not rotating").count(), 1, "{}", f.dump());
    assert_eq!(execs_with(&all, &tag), n, "{}", f.dump());
}
