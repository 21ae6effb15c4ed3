//! What the integration tests share, one module per concern: [`tracer`]
//! runs `execsnoop` and helper processes (with timeouts, root checks and the
//! serial lock), [`output`] parses what they printed, [`programs`] builds
//! the C helpers, [`fixtures`] sets up and takes down temporary directories,
//! cgroups and markers, [`clock`] reads the clocks timestamps are compared
//! with, [`net`] talks HTTP on the loopback, and [`tools`] finds the programs
//! `.ci/tools` lists. The names the tests use are re-exported here, so a test
//! module writes `use crate::support::{Tracer, marker}`.

pub mod clock;
pub mod fixtures;
pub mod net;
pub mod output;
pub mod programs;
pub mod tools;
pub mod tracer;

pub use clock::{boot_ns, uptime_secs, wall_ns};
pub use fixtures::{TempCgroup, TempDir, marker, my_cgroup2_id, my_cgroup2_path, nobody_uid, sleep_marker};
pub use net::{free_port, http_get};
pub use output::{
    Finished, HEADER, HEADER_T, assert_error_exit, decode_bytes, is_header, json_argv, json_u64, rfc3339_ns, row,
};
pub use programs::{CProgram, compile_c, compile_storm};
pub use tools::{VALIDATE_PY, python, tool};
pub use tracer::{
    Background, Tracer, bin, exit_timeout, in_vm, is_root, my_pid, ready_timeout, root_test, run_capture, run_marked,
    run_tool, serial, slow,
};
