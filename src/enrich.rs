//! Enrichment: the pipeline stage that adds to each record what its source
//! did not carry and a sink should not look up itself, before the records
//! are selected (a filter may need it) and formatted.
//!
//! * `--print-cgroup`: the cgroup v2 path of an exec, from its cgroup id,
//!   through [`crate::cgroup::Resolver`] (which walks the cgroup2 tree once at
//!   start and again on a miss, at most every so often).
//! * Containers (`--print-container`, `--container`, `--context`): the
//!   container an exec runs in, read off that cgroup path ([`container_of`]:
//!   docker, podman/libpod, containerd, CRI-O, Kubernetes pods).
//! * Exec ids (`--context`): every exec is named
//!   `BOOT-PID-START-N`: the first 8 hex digits of the boot id
//!   (`/proc/sys/kernel/random/boot_id`), the process id, its task's start
//!   time (ns since boot, `task->start_boottime`) and its exec count
//!   (`task->self_exec_id`, which every exec increments), all read by the
//!   kernel: the same for every tracer on the machine, unique for the boot
//!   (a pid reused later has another start time).
//! * `parent_exec_id` and `--ancestry N`: from the running table
//!   ([`crate::running`]: the last exec of each process, its id, name and
//!   parent); a parent counts only if it is the same process (same start
//!   time), not a later one with its pid. The table is bounded; what it
//!   forgets it counts and says (a chain that stops early may have stopped
//!   there).

use crate::cgroup::Resolver;
use crate::config::Config;
use crate::event::{Ancestor, Container, Exec};
use crate::running::{Ids, Running};

/// What the run adds to records.
pub struct Enrich {
    /// cgroup id to path: `--print-cgroup`, or containers.
    cgroups: Option<Resolver>,
    print_cgroup: bool,
    containers: bool,
    /// Exec ids are formed (the kernel read the context).
    ids: bool,
    boot: String,
    ancestry: usize,
}

impl Enrich {
    /// The enrichment `config` asks for. Indexing the cgroup tree happens
    /// here, once, before tracing is live.
    pub fn new(config: &Config) -> Enrich {
        let c = &config.context;
        let hierarchy = config.print_cgroup.clone().or_else(|| c.hierarchy.clone());
        Enrich {
            cgroups: hierarchy.map(Resolver::new),
            // --top keys rows by cgroup, unit and container.
            print_cgroup: config.print_cgroup.is_some() || config.top.is_some(),
            containers: c.containers() || config.top.is_some(),
            ids: c.kernel_context(),
            boot: boot_id_prefix(),
            ancestry: c.ancestry,
        }
    }

    /// Whether exec ids are formed (the running table then keeps the
    /// parents they are looked up in).
    pub fn forms_ids(&self) -> bool {
        self.ids
    }

    /// Fill in what `e` is selected and shown with, looking its parents up
    /// in `running`; returns the ids the running table keeps of it.
    pub fn exec(&mut self, e: &mut Exec, running: &Running) -> Option<Ids> {
        if let Some(r) = &mut self.cgroups {
            // One lookup serves both (a known id allocates nothing here).
            let path = r.lookup(e.cgroup_id);
            if self.containers {
                e.container = path.and_then(container_of);
            }
            if self.print_cgroup {
                e.cgroup = path.map(<[u8]>::to_vec);
            }
        }
        if !self.ids {
            return None;
        }
        let ctx = e.context.as_deref_mut()?;
        ctx.exec_id = format!("{}-{}-{}-{}", self.boot, e.pid, ctx.start_boottime, ctx.self_exec_id);
        // Each ancestor must be the process its child's record says (by
        // start time), not a later one with a reused pid.
        let same = |pid: u32, start: u64| {
            running.get(pid).and_then(|p| p.ids.as_ref().filter(|i| i.start == start).map(|i| (p, i)))
        };
        ctx.parent_exec_id = same(e.ppid, ctx.parent_start_boottime).map(|(_, i)| i.exec_id.clone());
        let (mut pid, mut start) = (e.ppid, ctx.parent_start_boottime);
        while ctx.ancestry.len() < self.ancestry {
            let Some((a, ids)) = same(pid, start) else { break };
            ctx.ancestry.push(Ancestor { pid, comm: a.comm.as_bytes().to_vec(), exec_id: ids.exec_id.clone() });
            (pid, start) = (a.ppid, ids.parent_start);
        }
        (e.ret == 0).then(|| Ids {
            exec_id: ctx.exec_id.clone(),
            start: ctx.start_boottime,
            parent_start: ctx.parent_start_boottime,
        })
    }
}

/// The first 8 hex digits of this boot's id; `00000000` if unreadable.
fn boot_id_prefix() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().chars().filter(char::is_ascii_hexdigit).take(8).collect::<String>())
        .filter(|s| s.len() == 8)
        .unwrap_or_else(|| "00000000".into())
}

/// The container a cgroup path belongs to, for the layouts the common
/// runtimes make (cgroupfs or systemd driver, cgroup v1 or v2):
///
/// * docker: `/docker/<id>`, `/system.slice/docker-<id>.scope`
/// * podman: `/libpod_parent/libpod-<id>`, `/machine.slice/libpod-<id>.scope`
///   (also with a `/container` child)
/// * containerd (CRI): `cri-containerd-<id>.scope`, `/kubepods/.../<id>`
/// * CRI-O: `crio-<id>.scope`
/// * a Kubernetes pod: `kubepods...pod<uid>` (`_` for `-` with systemd),
///   kept as `pod` beside the container id of the level below it.
///
/// An id is 64 hex digits. `None` on the host.
pub fn container_of(path: &[u8]) -> Option<Container> {
    let path = std::str::from_utf8(path).ok()?;
    let mut found: Option<Container> = None;
    let mut pod: Option<String> = None;
    for part in path.split('/') {
        let name = part.strip_suffix(".scope").or_else(|| part.strip_suffix(".slice")).unwrap_or(part);
        if let Some(uid) = pod_uid(name) {
            pod = Some(uid);
            continue;
        }
        let (runtime, rest) = if let Some(r) = name.strip_prefix("docker-") {
            ("docker", r)
        } else if let Some(r) = name.strip_prefix("libpod-") {
            ("podman", r)
        } else if let Some(r) = name.strip_prefix("cri-containerd-") {
            ("containerd", r)
        } else if let Some(r) = name.strip_prefix("crio-") {
            ("cri-o", r)
        } else if is_id(name) {
            // A bare id: below /docker, or below a kubepods pod.
            let runtime = if path.contains("/docker/") {
                "docker"
            } else if pod.is_some() {
                "containerd"
            } else {
                continue;
            };
            (runtime, name)
        } else {
            continue;
        };
        if is_id(rest) {
            found = Some(Container { id: rest.to_string(), runtime, pod: None });
        }
    }
    match (found, pod) {
        (Some(mut c), pod) => {
            c.pod = pod;
            Some(c)
        }
        (None, Some(pod)) => Some(Container { id: String::new(), runtime: "kubernetes", pod: Some(pod) }),
        (None, None) => None,
    }
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `pod<uid>` or `kubepods-besteffort-pod<uid_with_underscores>`: the uid.
fn pod_uid(name: &str) -> Option<String> {
    let at = name.rfind("pod")?;
    if !name.starts_with("kubepods") && !name.starts_with("pod") {
        return None;
    }
    let uid = name[at + 3..].replace('_', "-");
    (uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')).then_some(uid)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::event::Context;

    const ID: &str = "d163bfaf99652b5f8e1c0c4fd5d0a4d0b3f3e6d2a1b0c9d8e7f6a5b4c3d2c97c";

    #[test]
    fn containers_from_cgroup_paths() {
        let c = |p: &str| container_of(p.as_bytes()).map(|c| (c.runtime, c.id, c.pod));
        assert_eq!(c(&format!("/libpod_parent/libpod-{ID}")), Some(("podman", ID.into(), None)));
        assert_eq!(c(&format!("/machine.slice/libpod-{ID}.scope/container")), Some(("podman", ID.into(), None)));
        assert_eq!(c(&format!("/docker/{ID}")), Some(("docker", ID.into(), None)));
        assert_eq!(c(&format!("/system.slice/docker-{ID}.scope")), Some(("docker", ID.into(), None)));
        assert_eq!(c(&format!("/system.slice/crio-{ID}.scope")), Some(("cri-o", ID.into(), None)));
        let uid = "0c8d2a4e-1f3b-4c5d-9e7f-a1b2c3d4e5f6";
        let sd = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID}.scope",
            uid.replace('-', "_")
        );
        assert_eq!(c(&sd), Some(("containerd", ID.into(), Some(uid.into()))));
        assert_eq!(
            c(&format!("/kubepods/besteffort/pod{uid}/{ID}")),
            Some(("containerd", ID.into(), Some(uid.into())))
        );
        assert_eq!(c(&format!("/kubepods/besteffort/pod{uid}")), Some(("kubernetes", String::new(), Some(uid.into()))));
        for host in ["/", "/user.slice/user-0.slice/session-1.scope", "/system.slice/cron.service", "/docker"] {
            assert_eq!(c(host), None, "{host}");
        }
    }

    fn ctx(start: u64, n: u64, parent_start: u64) -> Option<Box<Context>> {
        Some(Box::new(Context {
            start_boottime: start,
            self_exec_id: n,
            parent_start_boottime: parent_start,
            ..Context::default()
        }))
    }

    /// The pipe's part: enrich, then the running table takes the exec.
    fn run(en: &mut Enrich, running: &mut Running, e: &mut Exec) {
        let ids = en.exec(e, running);
        running.exec(e, ids, &mut Vec::new());
    }

    /// Exec ids from the kernel's facts; the parent's when its exec was
    /// seen and it is the same process; the chain as far as it was seen,
    /// through ancestors that have ended.
    #[test]
    fn exec_ids_parents_and_ancestry() {
        let mut config = crate::config::for_tests(&["--context", "--ancestry", "5"]);
        config.context.hierarchy = None;
        let mut en = Enrich::new(&config);
        en.cgroups = None;
        let mut running = Running::new(true, en.forms_ids());
        let boot = en.boot.clone();
        let mut sh = Exec { pid: 10, ppid: 1, comm: b"sh".to_vec(), context: ctx(100, 1, 5), ..Exec::default() };
        run(&mut en, &mut running, &mut sh);
        let sh_ctx = sh.context.clone().unwrap();
        assert_eq!(sh_ctx.exec_id, format!("{boot}-10-100-1"));
        assert_eq!(sh_ctx.parent_exec_id, None, "pid 1's exec was not seen");
        let mut inner = Exec { pid: 11, ppid: 10, comm: b"sh".to_vec(), context: ctx(200, 1, 100), ..Exec::default() };
        run(&mut en, &mut running, &mut inner);
        // The outer shell ends before its grandchild execs.
        running.exit(&crate::event::Exit { pid: 10, exec_ts_ns: 0, ..Default::default() });
        let mut t = Exec { pid: 12, ppid: 11, comm: b"true".to_vec(), context: ctx(300, 1, 200), ..Exec::default() };
        run(&mut en, &mut running, &mut t);
        let c = t.context.unwrap();
        assert_eq!(c.parent_exec_id.as_deref(), Some(format!("{boot}-11-200-1").as_str()));
        let chain: Vec<(u32, String)> = c.ancestry.iter().map(|a| (a.pid, a.exec_id.clone())).collect();
        assert_eq!(chain, [(11, format!("{boot}-11-200-1")), (10, format!("{boot}-10-100-1"))]);
        // A later process with a reused pid 11 is not the parent seen.
        let mut other = Exec { pid: 13, ppid: 11, comm: b"x".to_vec(), context: ctx(400, 1, 999), ..Exec::default() };
        run(&mut en, &mut running, &mut other);
        assert_eq!(other.context.unwrap().parent_exec_id, None);
    }

    /// The table of parents is bounded: beyond RUNNING_MAX processes the
    /// oldest are forgotten, and counted; the newest keep their chains.
    #[test]
    fn the_table_of_parents_is_bounded_and_counts_what_it_forgets() {
        let mut config = crate::config::for_tests(&["--context", "--ancestry", "3"]);
        config.context.hierarchy = None;
        let mut en = Enrich::new(&config);
        en.cgroups = None;
        let mut running = Running::new(true, true);
        let n = crate::running::RUNNING_MAX as u32 + 10;
        for pid in 1..=n {
            let mut e = Exec {
                pid,
                ppid: pid - 1,
                ts_ns: u64::from(pid),
                comm: b"x".to_vec(),
                context: ctx(u64::from(pid), 1, u64::from(pid) - 1),
                ..Exec::default()
            };
            run(&mut en, &mut running, &mut e);
        }
        assert_eq!(running.iter().count(), crate::running::RUNNING_MAX);
        assert_eq!(running.forgotten(), 10);
        let mut e = Exec { pid: n + 1, ppid: n, context: ctx(u64::from(n) + 1, 1, u64::from(n)), ..Exec::default() };
        run(&mut en, &mut running, &mut e);
        assert_eq!(e.context.unwrap().ancestry.len(), 3);
    }

    /// The path of each cgroup id, from the tree as it is; an id that is no
    /// directory has none.
    #[test]
    fn cgroup_paths_from_ids() {
        let dir = std::env::temp_dir().join(format!("execsnoop-enrich-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sys.slice/a\x1bb")).unwrap();
        std::fs::create_dir_all(dir.join(format!("libpod_parent/libpod-{ID}"))).unwrap();
        let mut config = crate::config::for_tests(&[]);
        config.print_cgroup = Some(crate::cgroup::Hierarchy { mount_point: dir.clone(), root: b"/".to_vec() });
        config.context.print_container = true;
        let mut enrich = Enrich::new(&config);
        let id = |rel: &str| std::fs::metadata(dir.join(rel)).unwrap().ino();
        let mut e = Exec::default();
        for (cgroup_id, want) in [
            (id("sys.slice"), Some(&b"/sys.slice"[..])),
            (id("sys.slice/a\x1bb"), Some(b"/sys.slice/a\x1bb")),
            (id(""), Some(b"/")),
            (u64::MAX, None),
        ] {
            e.cgroup_id = cgroup_id;
            enrich.exec(&mut e, &Running::default());
            assert_eq!(e.cgroup.as_deref(), want);
            assert_eq!(e.container, None);
        }
        e.cgroup_id = id(&format!("libpod_parent/libpod-{ID}"));
        enrich.exec(&mut e, &Running::default());
        assert_eq!(e.container.as_ref().map(|c| (c.runtime, c.id.as_str())), Some(("podman", ID)));
        let _ = std::fs::remove_dir_all(&dir);
        // Not asked for: nothing is looked up.
        let mut none = Enrich::new(&crate::config::for_tests(&[]));
        e.cgroup = None;
        e.container = None;
        none.exec(&mut e, &Running::default());
        assert_eq!((e.cgroup, e.container), (None, None));
    }
}
