//! The house's shape, checked from the sources: no top-level module of the
//! library imports one that imports it back (the flow is a pipe: source →
//! decode → enrich → filter → observers → sinks).
//!
//! A module's imports are its `crate::NAME` paths outside comments and
//! outside its `#[cfg(test)]` part; a module is a top-level file or folder
//! of `src/` (`source/bpf/wire.rs` belongs to `source`).
//!
//! And the test tree's shape: Cargo.toml turns off the discovery of
//! tests/*.rs as binaries (`autotests = false`), so a file there is compiled
//! only when tests/tests.rs declares it; every one must be.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let path_re = regex::Regex::new(r"crate::([a-z_][a-z0-9_]*)").unwrap();
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &all {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for c in path_re.captures_iter(line) {
                if c[1] != top {
                    uses.entry(top.clone()).or_default().insert(c[1].to_string());
                }
            }
        }
    }
    let mut loops = Vec::new();
    for (a, deps) in &uses {
        for b in deps {
            if a < b && uses.get(b).is_some_and(|d| d.contains(a)) {
                loops.push((a.clone(), b.clone()));
            }
        }
    }
    assert!(!uses.is_empty(), "no imports found: the scan is broken");
    // The scan sees the edges a loop would be made of.
    assert!(uses.get("config").is_some_and(|d| d.contains("source")), "config builds the sources' request");
    assert!(uses.get("source").is_some_and(|d| d.contains("event")), "the sources make event records");
    assert_eq!(loops, Vec::<(String, String)>::new(), "modules that import each other");
}

/// `mod NAME;` lines of a file.
fn declared_mods(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    text.lines()
        .filter_map(|l| l.trim().trim_start_matches("pub ").strip_prefix("mod ")?.strip_suffix(';').map(str::to_string))
        .collect()
}

/// Names (without `.rs`) of the Rust files directly in `dir`, less `skip`.
fn rs_names(dir: &Path, skip: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_string))
        .filter(|n| n != skip)
        .collect()
}

#[test]
fn every_test_file_is_a_module_of_the_one_test_binary() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut want = rs_names(&tests, "tests");
    want.insert("support".to_string());
    assert!(want.contains("layout"), "the scan of tests/ is broken: {want:?}");
    assert_eq!(declared_mods(&tests.join("tests.rs")), want, "tests/*.rs and the `mod` lines of tests/tests.rs");
    let support = tests.join("support");
    assert_eq!(
        declared_mods(&support.join("mod.rs")),
        rs_names(&support, "mod"),
        "tests/support/*.rs and the `mod` lines of tests/support/mod.rs"
    );
}
