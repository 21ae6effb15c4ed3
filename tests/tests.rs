//! The integration tests of `execsnoop`, as one test binary (the layout of
//! ripgrep's tests/tests.rs): one module per concern, each a file beside
//! this one, and [`support`] with what they share. One binary links once
//! instead of once per file, and its tests share one serial lock for
//! tracing. Cargo.toml sets `autotests = false` and names this file as the
//! only integration test target, so a new tests/NAME.rs is a module only
//! once it is declared below (tests/layout.rs checks that every one is).
//!
//! Run one concern with `cargo test --release --test tests NAME::`, one
//! test with `cargo test --release --test tests -- --exact NAME::TEST`; the
//! root-only ones need `--include-ignored`.

mod support;

mod attacks;
mod cli;
mod context;
mod fails;
mod filters;
mod fleet;
mod generated;
mod identity;
mod layout;
mod lifecycle;
mod metrics_abuse;
mod options;
mod output_faults;
mod podman;
mod redaction;
mod service;
mod source_ftrace;
mod source_netlink;
mod source_procfs;
mod syslog_stuck;
mod top;
mod trace;
