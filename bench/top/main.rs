//! # `--top`'s model: refresh time and memory
//!
//! Prints figures; asserts nothing about time (run: `cargo bench --bench
//! top`). No root, no tracing: it feeds the model (`execsnoop::top::Model`)
//! records as the pipe would.
//!
//! 1. **refresh with 10,000 keys**: 10,000 distinct command names, each
//!    exec'd and ended (so every row has CPU and a lifetime histogram);
//!    then what one refresh of the view does besides the terminal's own
//!    work: a snapshot of the key's table, the sort by CPU, and the cells of
//!    a screenful (50 rows: the view formats only the rows that fit).
//!    Median and worst of 50 refreshes; also the same with a `/` filter,
//!    and what a batch table of all 10,000 rows takes to format.
//! 2. **memory**: 20,000 execs (and exits) of 5,000 names, then 20,000 of
//!    20,000 names (twice the default `--top-keys`, so half go to
//!    "(other)"): the rows kept over the seven key kinds, the processes
//!    remembered as running, the recent-exec ring, and the growth of the
//!    resident set (each case in a process of its own, so that memory
//!    freed by another case is not counted as reused).

use std::time::{Duration, Instant};

use execsnoop::top::batch::{Facts, cells, write_table};
use execsnoop::top::view::arrange;
use execsnoop::top::{By, Exec, Exit, ExitStatus, KEYS_DEFAULT, Model};

fn exec(pid: u32, ts: u64, name: &str) -> Exec {
    Exec {
        pid,
        ts_ns: ts,
        ppid: 1,
        uid: pid % 7,
        comm: name.as_bytes().to_vec(),
        pcomm: b"make".to_vec(),
        filename: format!("/usr/lib/gcc/x86_64-linux-gnu/12/{name}").into_bytes(),
        args: format!("{name}\0-c\0src/{name}.c\0-o\0obj/{name}.o\0").into_bytes(),
        cgroup: Some(format!("/user.slice/user-1000.slice/session-{}.scope", pid % 3).into_bytes()),
        ..Exec::default()
    }
}

fn exit(pid: u32, ts: u64) -> Exit {
    Exit {
        pid,
        ppid: 1,
        exec_ts_ns: ts,
        start_ts_ns: ts,
        ts_ns: ts + 1_000_000 + u64::from(pid % 1000) * 10_000,
        status: ExitStatus::Code((pid % 2) as u8),
        cpu_ns: Some(500_000),
        ..Exit::default()
    }
}

/// Resident set size, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn feed(m: &mut Model, execs: u32, names: u32, pid0: u32) {
    for i in 0..execs {
        let pid = pid0 + i;
        let ts = u64::from(i) * 1000 + 1;
        m.exec(&exec(pid, ts, &format!("cc{:05}", i % names)));
        m.exit(&exit(pid, ts));
    }
}

/// Median and worst of 50 runs of `f`, ms.
fn time50(mut f: impl FnMut()) -> (f64, f64) {
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(times[times.len() / 2]), ms(times[times.len() - 1]))
}

fn main() {
    if let Ok(case) = std::env::var("EXECSNOOP_BENCH_TOP_MEM") {
        let mut n = case.split(',').map(|v| v.parse::<u32>().unwrap_or(0));
        memory(n.next().unwrap_or(0), n.next().unwrap_or(1).max(1));
        return;
    }
    // 1. A refresh with 10,000 keys.
    let mut m = Model::new(KEYS_DEFAULT);
    feed(&mut m, 10_000, 10_000, 1000);
    let mut refresh = |filter: Option<&regex::Regex>| {
        let s = m.snapshot(By::Comm);
        let rows = arrange(&s.rows, filter, 8);
        let shown: usize = rows.iter().take(50).map(|r| cells(r, true).iter().map(String::len).sum::<usize>()).sum();
        m.roll();
        std::hint::black_box(shown);
    };
    let (med, worst) = time50(|| refresh(None));
    println!(
        "view refresh, 10000 keys (snapshot + sort + a screenful of cells): median {med:.2} ms, worst {worst:.2} ms"
    );
    let re = regex::Regex::new("cc0[0-4]").unwrap_or_else(|e| panic!("{e}"));
    let (med, worst) = time50(|| refresh(Some(&re)));
    println!("view refresh, 10000 keys, with a / filter: median {med:.2} ms, worst {worst:.2} ms");
    let facts = Facts { source: "bpf", fails: true, filters: String::new() };
    let mut out = Vec::new();
    let (med, worst) = time50(|| {
        out.clear();
        write_table(&mut out, &m.snapshot(By::Comm), &Default::default(), &facts);
        m.roll();
    });
    println!("batch table, 10000 rows ({} KiB): median {med:.2} ms, worst {worst:.2} ms", out.len() / 1024);
    drop(m);

    // 2. Memory, each case in a process of its own.
    for (execs, names) in [(20_000, 5_000), (20_000, 20_000)] {
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
        let out = std::process::Command::new(exe)
            .env("EXECSNOOP_BENCH_TOP_MEM", format!("{execs},{names}"))
            .output()
            .unwrap_or_else(|e| panic!("run the memory case: {e}"));
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn memory(execs: u32, names: u32) {
    {
        let before = rss();
        let mut m = Model::new(KEYS_DEFAULT);
        let t = Instant::now();
        feed(&mut m, execs, names, 100_000);
        let took = t.elapsed();
        let (rows, live, recent) = m.sizes();
        let s = m.snapshot(By::Comm);
        println!(
            "{execs} execs of {names} names: {rows} rows over 7 key kinds ({} comm rows{}), {live} running, {recent} recent; \
             resident set +{:.1} MiB; {:.0} ns per exec+exit",
            s.keys,
            if s.folded { " + (other)" } else { "" },
            rss().saturating_sub(before) as f64 / (1 << 20) as f64,
            took.as_nanos() as f64 / f64::from(execs.max(1))
        );
    }
}
