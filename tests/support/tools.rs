//! The programs the tests run beyond a fresh machine's, found by the path
//! `.ci/tools` gives (the one CI installed and checked), never on PATH:
//! [`tool`], [`python`] (Debian's, checked to import a module), and the
//! JSON-schema validator script run with it ([`VALIDATE_PY`]).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `.ci/tools`: every program the tests run beyond a fresh machine's, with
/// the path CI installs and checks it at.
const TOOLS: &str = include_str!("../../.ci/tools");

/// The path of a program the tests need, by its name (`"prometheus"`), as
/// `.ci/tools` lists it: the same path CI checked after installing it, on the
/// host and in the VM guests. Fails the test, saying which package is
/// missing, when it is not there: a missing tool never passes quietly.
pub fn tool(name: &str) -> PathBuf {
    let (path, pkg) = tool_line(name);
    assert!(
        path.exists(),
        "{} is not installed (package {pkg}; .ci/run installs what .ci/tools lists)",
        path.display()
    );
    path
}

/// Debian's Python (never the first `python3` on PATH, which may be a
/// user-installed one with other modules), checked to import `module`.
pub fn python(module: &str) -> PathBuf {
    let py = tool("python3");
    let ok = Command::new(&py).args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    let pkg = TOOLS
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 3 && f[2] == module)
        .map_or("?", |f| f[1]);
    assert!(ok, "{} cannot import {module} (package {pkg}; .ci/run installs what .ci/tools lists)", py.display());
    py
}

fn tool_line(name: &str) -> (PathBuf, &'static str) {
    TOOLS
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?, f.next()?))
        })
        .find(|(path, _)| Path::new(path).file_name().is_some_and(|n| n == name))
        .map(|(path, pkg)| (PathBuf::from(path), pkg))
        .unwrap_or_else(|| panic!("{name} is not in .ci/tools: add it (PATH PACKAGE) so CI installs it"))
}

/// Validate every line of argv[2] against the schema argv[1] (Draft
/// 2020-12, the schema itself checked first); print the first failures.
pub const VALIDATE_PY: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
bad = 0
for n, line in enumerate(open(sys.argv[2]), 1):
    rec = json.loads(line)
    errs = list(v.iter_errors(rec))
    if errs:
        bad += 1
        if bad <= 5:
            best = jsonschema.exceptions.best_match(errs)
            print(f"line {n}: {best.message} at {list(best.absolute_path)}: {line[:300]}")
sys.exit(1 if bad else 0)
"#;
