//! Enrichment: the pipeline stage between selection and the sinks that adds
//! to a kept record what its source did not carry and a sink should not
//! look up itself. Today: the cgroup v2 path of an exec (`--print-cgroup`),
//! from its cgroup id, through [`crate::cgroup::Resolver`] (which walks the
//! cgroup2 tree once at start and again on a miss, at most every so often).
//! Sinks only format [`Exec::cgroup`].

use crate::cgroup::Resolver;
use crate::config::Config;
use crate::event::Exec;

/// What the run adds to records.
pub struct Enrich {
    /// `--print-cgroup`: cgroup id to path.
    cgroups: Option<Resolver>,
}

impl Enrich {
    /// The enrichment `config` asks for. Indexing the cgroup tree happens
    /// here, once, before tracing is live.
    pub fn new(config: &Config) -> Enrich {
        Enrich { cgroups: config.print_cgroup.clone().map(Resolver::new) }
    }

    /// Fill in what `e` is shown with.
    pub fn exec(&mut self, e: &mut Exec) {
        if let Some(r) = &mut self.cgroups {
            e.cgroup = r.lookup(e.cgroup_id).map(<[u8]>::to_vec);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    /// The path of each cgroup id, from the tree as it is; an id that is no
    /// directory has none.
    #[test]
    fn cgroup_paths_from_ids() {
        let dir = std::env::temp_dir().join(format!("execsnoop-enrich-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sys.slice/a\x1bb")).unwrap();
        let mut config = crate::config::for_tests(&[]);
        config.print_cgroup = Some(crate::cgroup::Hierarchy { mount_point: dir.clone(), root: b"/".to_vec() });
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
            enrich.exec(&mut e);
            assert_eq!(e.cgroup.as_deref(), want);
        }
        let _ = std::fs::remove_dir_all(&dir);
        // Not asked for: nothing is looked up.
        let mut none = Enrich::new(&crate::config::for_tests(&[]));
        e.cgroup = None;
        none.exec(&mut e);
        assert_eq!(e.cgroup, None);
    }
}
