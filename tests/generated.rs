//! The files generated from the clap definition, committed so that a
//! package build needs no extra step: the man page (`doc/execsnoop.8`,
//! clap_mangen) and the shell completions (`completions/`, clap_complete).
//! Each test fails when the committed file differs from what the current
//! flags generate; `make generated` (EXECSNOOP_REGENERATE=1) rewrites them.

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

fn check(rel: &str, generated: Vec<u8>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    if std::env::var_os("EXECSNOOP_REGENERATE").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&path, &generated).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(committed == generated, "{rel} is stale (or missing): run `make generated` and commit it");
}

#[test]
fn man_page_is_fresh() {
    let cmd = execsnoop::cli::Args::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).section("8").render(&mut out).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.contains("execsnoop") && text.contains("\\-\\-output"), "the page documents the flags");
    check("doc/execsnoop.8", out);
}

#[test]
fn completions_are_fresh() {
    for (shell, rel) in [
        (Shell::Bash, "completions/execsnoop.bash"),
        (Shell::Zsh, "completions/_execsnoop"),
        (Shell::Fish, "completions/execsnoop.fish"),
    ] {
        let mut cmd = execsnoop::cli::Args::command();
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd, "execsnoop", &mut out);
        assert!(String::from_utf8_lossy(&out).contains("rotate-size"), "{rel} completes the flags");
        check(rel, out);
    }
}
