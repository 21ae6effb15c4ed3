//! Command-line tests of the `execsnoop` binary that need no root and load no
//! BPF: help, usage errors (exit 2, one clear line, never a panic) and the
//! runtime errors "not root" and "not available with this source" (exit 1).
//!
//! Every run has a timeout: a usage error that slipped through validation
//! would otherwise start tracing (when run as root) and never end.

use std::process::Command;

use crate::support::{assert_error_exit, bin, is_root, run_tool};

fn tool(args: &[&str]) -> crate::support::Finished {
    run_tool(Command::new(bin()).args(args))
}

#[test]
fn help_exits_0_and_documents_r_and_examples() {
    for flag in ["--help", "-h"] {
        let f = tool(&[flag]);
        assert_eq!(f.status.code(), Some(0), "{flag} should exit 0\n{}", f.dump());
        let out = f.stdout_str();
        assert!(out.contains("Usage: execsnoop"), "{flag}: no usage line\n{}", f.dump());
        assert!(out.contains("-r"), "{flag}: -r not listed\n{}", f.dump());
        assert!(out.contains("compatibility"), "{flag}: -r's compatibility role not explained\n{}", f.dump());
        assert!(out.contains("Examples:"), "{flag}: no examples\n{}", f.dump());
        assert!(out.contains("execsnoop -t"), "{flag}: examples should show invocations\n{}", f.dump());
        for opt in ["-a", "-d", "-P", "--json", "--arg-bytes", "--buffer-kib", "NAME"] {
            assert!(out.contains(opt), "{flag}: option {opt} not documented\n{}", f.dump());
        }
        assert!(f.stderr.is_empty(), "{flag}: nothing on stderr\n{}", f.dump());
    }
}

#[test]
fn unknown_flag_exits_2() {
    let f = tool(&["--no-such-flag"]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.starts_with("execsnoop: "), "{}", f.dump());
    assert!(f.stderr.contains("--no-such-flag"), "the message should name the flag\n{}", f.dump());
    assert!(f.stderr.contains("--help"), "the message should point to --help\n{}", f.dump());
    let f = tool(&["-z"]);
    assert_error_exit(&f, 2, true);
    let f = tool(&["-a", "x"]);
    assert_error_exit(&f, 2, true);
}

#[test]
fn extra_positional_exits_2() {
    let f = tool(&["bash", "zsh"]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.contains("zsh"), "the message should name the extra argument\n{}", f.dump());
}

#[test]
fn bad_regex_exits_2_with_one_line() {
    let f = tool(&["a("]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.starts_with("execsnoop: invalid name regex"), "{}", f.dump());
    assert!(f.stderr.contains("a("), "the message should quote the pattern\n{}", f.dump());
}

#[test]
fn bad_duration_exits_2_with_one_line() {
    for d in ["0", "abc", "-1", "inf", "nan", "", "0.0001", "1e-10"] {
        let f = tool(&["-d", d]);
        assert_error_exit(&f, 2, true);
        assert!(f.stderr.contains("invalid duration"), "-d {d:?}\n{}", f.dump());
    }
}

#[test]
fn buffer_kib_not_power_of_two_exits_2() {
    for k in ["100", "2", "0"] {
        let f = tool(&["--buffer-kib", k]);
        assert_error_exit(&f, 2, true);
        assert!(f.stderr.contains("--buffer-kib"), "--buffer-kib {k}\n{}", f.dump());
    }
}

#[test]
fn arg_bytes_out_of_range_exits_2() {
    for n in ["0", "6291457"] {
        let f = tool(&["--arg-bytes", n]);
        assert_error_exit(&f, 2, true);
        assert!(f.stderr.contains("--arg-bytes"), "--arg-bytes {n}\n{}", f.dump());
    }
}

#[test]
fn ppid_zero_exits_2() {
    let f = tool(&["-P", "0"]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.contains("--ppid"), "{}", f.dump());
}

#[test]
fn metrics_commands_past_1000_exits_2() {
    let f = tool(&["--metrics", "127.0.0.1:1", "--metrics-commands", "1001"]);
    assert_error_exit(&f, 2, true);
    assert!(f.stderr.contains("--metrics-commands must be at most 1000"), "{}", f.dump());
}

#[test]
#[ignore = "as root, needs setpriv (util-linux) to drop to nobody: run with --include-ignored"]
fn not_root_exits_1_with_need_root() {
    let f = if is_root() {
        run_tool(
            Command::new(crate::support::tool("setpriv"))
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(bin())
                .args(["--source", "bpf"]),
        )
    } else {
        run_tool(Command::new(bin()).args(["--source", "bpf"]))
    };
    assert_error_exit(&f, 1, true);
    assert!(f.stderr.starts_with("execsnoop: need root (or CAP_BPF and CAP_PERFMON)"), "{}", f.dump());
}

/// An option a source cannot honour: status 1 and one line naming the
/// option and the source, before the source is touched (so no root is
/// needed). Which source refuses what, and why, is checked from the table
/// in src/source/mod.rs (`refusals_are_derived_from_the_table`); this is
/// the binary's end of it, once per source that refuses something.
#[test]
fn refused_options_exit_1_with_one_line() {
    for (source, option) in
        [("ftrace", &["-x"][..]), ("ftrace", &["-u", "0"]), ("netlink", &["-x"]), ("procfs", &["-x"])]
    {
        let mut args = vec!["--source", source];
        args.extend(option);
        let f = tool(&args);
        assert_error_exit(&f, 1, true);
        let want = format!("execsnoop: {} is not available with the {source} source: ", option[0]);
        assert!(f.stderr.starts_with(&want), "{args:?}: expected {want:?}\n{}", f.dump());
    }
}

#[test]
fn process_following_usage_errors_exit_2() {
    for (args, needle) in [
        (&["--pid", "0"][..], "--pid must be a process id"),
        (&["-p", "1", "--", "true"][..], "either --pid or a COMMAND"),
        (&["-d", "1", "--", "true"][..], "-d cannot be combined with a COMMAND"),
        (&["--source", "carrier-pigeon"][..], "invalid value 'carrier-pigeon' for '--source <SOURCE>'"),
        (&["--source", "carrier-pigeon"][..], "[possible values: auto, bpf, ftrace, netlink, procfs]"),
        (&["-p", "x"][..], "invalid value 'x'"),
        // pid_max is at most 2^22: no such process, whatever the source.
        (&["-p", "999999999"][..], "--pid 999999999: no such process"),
        (&["-p", "999999999", "--source", "bpf"][..], "--pid 999999999: no such process"),
    ] {
        let f = tool(args);
        assert_error_exit(&f, 2, true);
        assert!(f.stderr.contains(needle), "{args:?}: expected {needle:?}\n{}", f.dump());
    }
}

#[test]
fn help_documents_process_following() {
    let out = tool(&["--help"]).stdout_str();
    for opt in ["--exits", "--wait", "--summary", "--pid", "--tree", "--source", "COMMAND"] {
        assert!(out.contains(opt), "option {opt} not documented\n{out}");
    }
}
