//! # pipeline: what user space costs per record, without the kernel
//!
//! `cargo bench --bench pipeline` (no root needed; `PIPELINE_RECORDS=N`
//! changes how many records each measured pass takes, 200,000 by default;
//! `PIPELINE_CASE="json -e"` runs one case).
//!
//! It replays synthetic ring-buffer records, laid out exactly as
//! `bpf/execsnoop.bpf.c` writes them (the wire format of `bpf/execsnoop.h`:
//! an argument piece, then the exec record with its filename; an exit
//! record per process with `-e`), for the exec storm of `cargo bench --bench
//! storm`: argv `noop storm <w> <seq> <40-byte filler>`, comm `noop`, the
//! storm's pcomm and filename, 4 workers over 2 CPUs. They go through what
//! the run loop does with each drain of the ring buffer, in the library's
//! own code (`execsnoop::source::Replay` and `execsnoop::run::Pipeline`):
//! decode (the bpf source's assembler) → enrich → select → redact →
//! observers → sink, the JSON or text sink writing into a 64 KiB buffer in
//! front of a writer that only counts bytes (what `main` puts in front of
//! stdout), a batch of 512 ring records per drain.
//!
//! For each case (json, json -x, json -e, text, text -e, json --env with
//! the storm's ~600-byte environment) it prints the median time per record
//! over 7 passes (and the spread), allocations per record (a counting
//! global allocator: every alloc, alloc_zeroed and realloc during the
//! passes), output bytes per record, and the records per second that rate
//! sustains on one thread. Then, against the default ring buffer: how many
//! execs of this size it holds, how long the pipeline takes to empty a full
//! one, and the highest exec rate with zero loss that user space allows
//! (item 7 of issue 18): the loop sleeps 4 ms after each batch and then
//! empties the ring while more comes, so at A execs/s the ring must hold
//! what arrives in 4 ms plus the time to drain it: A ≤ holds / (4 ms +
//! holds × cost per exec), below the pipeline's own rate.
//!
//! It prints figures; it asserts nothing about time. It fails only when a
//! case cannot run at all (a record that does not decode, a configuration
//! that does not parse).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clap::Parser;
use execsnoop::cli::Args;
use execsnoop::config::Config;
use execsnoop::loss::OutputLoss;
use execsnoop::run::{COALESCE, Pipeline};
use execsnoop::sink::{self, Clock};
use execsnoop::source::{Replay, Source, SourceKind, SyntheticExec, SyntheticExit};

/// Counts every allocation (and reallocation) made through it.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged (so its contract is the caller's); the counter is an
// atomic and allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is; see the impl.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is; see the impl.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is; see the impl.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; see the impl.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[path = "../storm_env.rs"]
mod storm_env;
use storm_env::STORM_ENV;

const FILLER_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const WORKERS: usize = 4;
/// Distinct execs replayed (then again, cyclically).
const EXECS: usize = 4096;
/// Ring records per drain.
const BATCH: usize = 512;
const PASSES: usize = 7;
/// Failed attempts with `-x`: one per this many execs, as in the storm.
const FAIL_EVERY: usize = 100;

/// The storm's filler for (worker, seq) (`bench/storm/storm.rs`).
fn filler(w: usize, s: usize) -> String {
    (0..40).map(|i| FILLER_ALPHABET[(w * 7919 + s * 31 + i * 17) % FILLER_ALPHABET.len()] as char).collect()
}

struct Case {
    name: &'static str,
    flags: &'static [&'static str],
    exits: bool,
    fails: bool,
    env: bool,
}

const CASES: &[Case] = &[
    Case { name: "json", flags: &["--json"], exits: false, fails: false, env: false },
    Case { name: "json -x", flags: &["--json", "-x"], exits: false, fails: true, env: false },
    Case { name: "json -e", flags: &["--json", "-e"], exits: true, fails: false, env: false },
    Case { name: "text", flags: &[], exits: false, fails: false, env: false },
    Case { name: "text -e", flags: &["-e"], exits: true, fails: false, env: false },
    Case { name: "json --env", flags: &["--json", "--env"], exits: false, fails: false, env: true },
];

/// The records of one case's storm.
fn storm(case: &Case) -> io::Result<(Replay, usize)> {
    let mut r = Replay::new(BATCH)?;
    let env: Vec<u8> = STORM_ENV.iter().flat_map(|v| v.bytes().chain([0])).collect();
    let filename = b"/tmp/execsnoop-storm.k3Xq9a/noop";
    let missing = b"/tmp/execsnoop-storm.k3Xq9a/missing-noop";
    let mut ts = 5_000_000_000_000u64;
    let mut execs = 0;
    for i in 0..EXECS {
        let (w, s) = (i % WORKERS, i / WORKERS);
        let pid = 20_000 + i as u32;
        let cpu = (w % 2) as u32;
        let worker = format!("storm-{w}");
        if case.fails && s % FAIL_EVERY == FAIL_EVERY / 2 {
            let args: Vec<u8> = [&missing[..], b"storm-fail", w.to_string().as_bytes(), s.to_string().as_bytes()]
                .iter()
                .flat_map(|a| a.iter().copied().chain([0]))
                .collect();
            ts += 3_000;
            r.push_exec(&SyntheticExec {
                ts_ns: ts,
                cpu,
                pid: 4000,
                ppid: 3999,
                ret: -2,
                cgroup_id: 7429,
                comm: worker.as_bytes(),
                pcomm: b"bash",
                filename: missing,
                args: &args,
                ..SyntheticExec::default()
            });
            execs += 1;
        }
        let args: Vec<u8> = ["noop".into(), "storm".into(), w.to_string(), s.to_string(), filler(w, s)]
            .iter()
            .flat_map(|a| a.bytes().chain([0]))
            .collect();
        ts += 25_000;
        r.push_exec(&SyntheticExec {
            ts_ns: ts,
            cpu,
            pid,
            ppid: 4000,
            cgroup_id: 7429,
            comm: b"noop",
            pcomm: b"storm-9f2c41e07",
            filename,
            args: &args,
            env: if case.env { &env } else { b"" },
            ..SyntheticExec::default()
        });
        execs += 1;
        if case.exits {
            r.push_exit(&SyntheticExit {
                ts_ns: ts + 180_000,
                exec_ts_ns: ts,
                pid,
                ppid: 4000,
                status: 0,
                cpu_ns: 310_000,
                comm: b"noop",
                ..SyntheticExit::default()
            });
        }
    }
    Ok((r, execs))
}

/// A writer that keeps nothing and counts what it was given.
#[derive(Default)]
struct Count(Arc<AtomicU64>);

impl Write for Count {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.fetch_add(b.len() as u64, Ordering::Relaxed);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Figures {
    ns: Vec<f64>,
    allocs_per_record: f64,
    bytes_per_record: f64,
    records_per_exec: f64,
    ring_bytes_per_exec: f64,
    ring_bytes: u32,
}

fn measure(case: &Case, per_pass: usize) -> Result<Figures, String> {
    let argv = std::iter::once("execsnoop").chain(case.flags.iter().copied());
    let args = Args::try_parse_from(argv).map_err(|e| format!("{}: {e}", case.name))?;
    let config = Config::from_args(&args).map_err(|e| format!("{}: {e}", case.name))?;
    let (mut source, execs) = storm(case).map_err(|e| e.to_string())?;
    let written = Arc::new(AtomicU64::new(0));
    let out = BufWriter::with_capacity(64 * 1024, Count(written.clone()));
    let mut sink = sink::build(&config.sink_request(), Clock::now(), out, io::sink(), Arc::new(OutputLoss::default()))
        .map_err(|e| e.to_string())?;
    let mut pipe = Pipeline::new(&config, SourceKind::Bpf).map_err(|e| e.to_string())?;
    let fail = |e: io::Error| e.to_string();

    // Warm up: twice through the records (buffers, tables, caches).
    let mut warm = 0;
    while warm < 2 * source.records() {
        pipe.drain(&mut source, &mut *sink).map_err(fail)?;
        warm += BATCH;
    }
    let (mut ns, mut records, mut allocs) = (Vec::new(), 0u64, 0u64);
    let bytes0 = written.load(Ordering::Relaxed);
    for _ in 0..PASSES {
        let (a0, t0) = (ALLOCS.load(Ordering::Relaxed), Instant::now());
        let mut n = 0;
        while n < per_pass {
            n += pipe.drain(&mut source, &mut *sink).map_err(fail)?;
        }
        let t = t0.elapsed();
        allocs += ALLOCS.load(Ordering::Relaxed) - a0;
        records += n as u64;
        ns.push(t.as_nanos() as f64 / n as f64);
    }
    sink.flush().map_err(fail)?;
    let bytes = written.load(Ordering::Relaxed) - bytes0;
    source.stop();
    pipe.finish(&mut source, &mut *sink).map_err(fail)?;
    if source.malformed() > 0 {
        return Err(format!("{}: {} records did not decode", case.name, source.malformed()));
    }
    ns.sort_by(f64::total_cmp);
    let per_exec_records = (execs + if case.exits { EXECS } else { 0 }) as f64 / execs as f64;
    Ok(Figures {
        ns,
        allocs_per_record: allocs as f64 / records as f64,
        bytes_per_record: bytes as f64 / records as f64,
        records_per_exec: per_exec_records,
        ring_bytes_per_exec: source.ring_bytes() as f64 / execs as f64,
        ring_bytes: config.ring_bytes,
    })
}

fn main() {
    let per_pass = std::env::var("PIPELINE_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000usize);
    println!(
        "pipeline: {} distinct storm execs replayed, {per_pass} records per pass, {PASSES} passes, one thread",
        EXECS
    );
    println!(
        "{:<12} {:>10} {:>16} {:>14} {:>11} {:>13}",
        "case", "ns/record", "spread (min-max)", "allocs/record", "bytes out", "records/s"
    );
    let only = std::env::var("PIPELINE_CASE").ok();
    let mut rows = Vec::new();
    for case in CASES.iter().filter(|c| only.as_deref().is_none_or(|o| o == c.name)) {
        match measure(case, per_pass) {
            Ok(f) => {
                let med = f.ns[f.ns.len() / 2];
                println!(
                    "{:<12} {:>10.0} {:>16} {:>14.3} {:>11.0} {:>13.0}",
                    case.name,
                    med,
                    format!("{:.0}-{:.0}", f.ns[0], f.ns[f.ns.len() - 1]),
                    f.allocs_per_record,
                    f.bytes_per_record,
                    1e9 / med
                );
                rows.push((case, f, med));
            }
            Err(e) => {
                eprintln!("pipeline: {e}");
                std::process::exit(1);
            }
        }
    }
    println!();
    println!(
        "Against the default ring buffer (user space only: the kernel's own cost per exec, and the rate this \
         machine can exec at, are not in these figures):"
    );
    println!(
        "{:<12} {:>12} {:>11} {:>13} {:>15} {:>18}",
        "case", "ring B/exec", "ring holds", "empty a full", "pipeline exec/s", "zero-loss execs/s"
    );
    for (case, f, med) in rows {
        let holds = f64::from(f.ring_bytes) / f.ring_bytes_per_exec;
        let ns_per_exec = med * f.records_per_exec;
        let execs_per_s = 1e9 / ns_per_exec;
        // The loop pauses COALESCE after each batch, then drains what came
        // meanwhile, while more comes: at A execs/s a batch's window W is
        // COALESCE + A*W*cost, so W = COALESCE / (1 - A*cost), and the ring
        // must hold A*W: A <= holds / (COALESCE + holds*cost).
        let full_ns = holds * ns_per_exec;
        let zero_loss = holds / (COALESCE.as_secs_f64() + full_ns / 1e9);
        println!(
            "{:<12} {:>12.0} {:>11.0} {:>10.2} ms {:>15.0} {:>18.0}",
            case.name,
            f.ring_bytes_per_exec,
            holds,
            full_ns / 1e6,
            execs_per_s,
            zero_loss
        );
    }
    println!(
        "(ring: {} KiB by default. Zero loss: the loop sleeps {} ms after each batch, then empties the ring while \
         more comes; execs arriving faster than the last column, sustained, overflow it)",
        execsnoop::config::RING_DEFAULT_BYTES / 1024,
        COALESCE.as_millis()
    );
}
