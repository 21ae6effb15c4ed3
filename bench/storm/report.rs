//! Reporting: the figures of each row over the runs (medians), the notes
//! of what went wrong, and the printed table.

use super::*;

// ---------------------------------------------------------------------------
// Reporting helpers

pub(super) fn median_f(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(super) fn fmt_ms(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(x) if x < 10.0 => format!("{x:.1} ms"),
        Some(x) => format!("{x:.0} ms"),
    }
}

pub(super) fn fmt_secs(d: f64) -> String {
    if d < 1.0 { format!("{:.0} ms", d * 1000.0) } else { format!("{d:.2} s") }
}

#[derive(Default)]
pub(super) struct Rows {
    pub(super) captured_pct: Vec<f64>,
    pub(super) full_pct: Vec<f64>,
    pub(super) lost: Vec<f64>,
    pub(super) cpu_per_1k_ms: Vec<f64>,
    pub(super) startup_cpu_ms: Vec<f64>,
    pub(super) total_cpu_ms: Vec<f64>,
    pub(super) rss_mib: Vec<f64>,
    pub(super) ready_ms: Vec<f64>,
    pub(super) storm_s: Vec<f64>,
    /// Storm wall time with the tracer / the baseline run just before it.
    pub(super) slowdown: Vec<f64>,
    /// Audit rows: the wall time of those baselines (after audit was first enabled).
    pub(super) audit_base_s: Vec<f64>,
    pub(super) drain_ms: Vec<f64>,
    pub(super) stop_ms: Vec<f64>,
    /// `-x` storm: failed attempts captured / made.
    pub(super) fails_captured: Vec<f64>,
    pub(super) fails_attempted: Vec<f64>,
    /// `-e` rows: storm execs whose exit was reported.
    pub(super) exits_captured: Vec<f64>,
    /// Storm execs whose record has `args_read_failed` (matched by PID).
    pub(super) args_failed: Vec<f64>,
    /// Per BPF program that ran (by name), ns per run, one value per run.
    pub(super) bpf_ns: BTreeMap<String, Vec<f64>>,
    pub(super) notes: Vec<String>,
    /// The comparison tool failed; it is skipped from then on.
    pub(super) disabled: bool,
    /// Why an optional row could not run at all (shown in the table).
    pub(super) skip_reason: Option<String>,
}

/// The sum over a row's BPF programs of their median ns per run.
pub(super) fn bpf_sum(r: &Rows) -> f64 {
    r.bpf_ns.values().filter_map(|v| median_f(v.clone())).sum()
}

impl Rows {
    pub(super) fn note(&mut self, n: String) {
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }
}

pub(super) fn record(rows: &mut Rows, kind: Kind, plan: &Plan, r: &TracerRun, run: usize) {
    let a = &r.analysis;
    let total = plan.total as f64;
    for s in r.bpf_stats.iter().filter(|s| s.run_cnt > 0) {
        rows.bpf_ns.entry(s.program.clone()).or_default().push(s.run_time_ns as f64 / s.run_cnt as f64);
    }
    rows.captured_pct.push(a.captured as f64 * 100.0 / total);
    rows.full_pct.push(a.full as f64 * 100.0 / total);
    rows.lost.push(a.lost as f64);
    // Per exec record (failed attempts with -x included); exit records (-e)
    // are not counted, so the -e rows compare with the others per exec.
    let exec_records = a.events - a.exit_records;
    if let Some(ns) = r.storm_cpu_ns
        && exec_records > 0
    {
        rows.cpu_per_1k_ms.push(ns as f64 / 1e6 / (exec_records as f64 / 1000.0));
    }
    if let Some(ns) = r.startup_cpu_ns {
        rows.startup_cpu_ms.push(ns as f64 / 1e6);
    }
    let ru = &r.exited.rusage;
    let tv_ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    let total_ms = tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime);
    if total_ms > 0.0 {
        rows.total_cpu_ms.push(total_ms);
    }
    // VmHWM just before SIGINT; else the kernel's ru_maxrss (KiB) from wait4.
    match r.hwm_kib {
        Some(k) => rows.rss_mib.push(k as f64 / 1024.0),
        None if ru.ru_maxrss > 0 => rows.rss_mib.push(ru.ru_maxrss as f64 / 1024.0),
        None => {}
    }
    if let Some(d) = r.ready {
        rows.ready_ms.push(ms(d));
    }
    rows.storm_s.push(r.storm.wall.as_secs_f64());
    rows.drain_ms.push(ms(r.drain));
    rows.stop_ms.push(ms(r.exited.stop_latency));

    let run_tag = format!("run {}", run + 1);
    let label = kind.label();
    if a.captured < plan.total as u64 {
        rows.note(format!(
            "{label} ({run_tag}): captured {}/{} storm execs, {} with full argv; lost reported: {}",
            a.captured, plan.total, a.full, a.lost
        ));
    } else if a.captured - a.full > a.args_failed {
        // Records with unreadable arguments are expected from the sources
        // that read /proc; they get one note of their own (see `run`).
        let besides = if a.args_failed > 0 {
            format!(" (besides {} with unreadable arguments)", a.args_failed)
        } else {
            String::new()
        };
        rows.note(format!(
            "{label} ({run_tag}): {} of {} captured rows lack the full, correct argv{besides}",
            a.captured - a.full - a.args_failed,
            a.captured
        ));
    }
    if a.lost > 0 {
        let by_kind = if a.lost_by_kind.is_empty() { String::new() } else { format!(" {:?}", a.lost_by_kind) };
        rows.note(format!("{label} ({run_tag}): reported {} lost events{by_kind}", a.lost));
    }
    for c in ANOMALIES.iter().filter(|c| (c.when)(kind)) {
        let n = (c.count)(a, &r.storm);
        if n > 0 {
            let eg = (c.example)(a, &r.storm).map_or(String::new(), |e| format!(", e.g. {e}"));
            rows.note(format!("{label} ({run_tag}): {n} {}{eg}", c.what));
        }
    }
    if !a.other_types.is_empty() {
        rows.note(format!("{label}: other record types seen: {:?}", a.other_types));
    }
    if kind.with_fails() {
        let attempted = r.storm.fail_attempts.len() as u64;
        rows.fails_captured.push(a.fail_captured as f64);
        rows.fails_attempted.push(attempted as f64);
        if a.fail_captured < attempted {
            rows.note(format!(
                "{label} ({run_tag}): captured {}/{attempted} failed exec attempts of the missing program",
                a.fail_captured
            ));
        }
        if a.fail_by_filename > 0 {
            rows.note(format!(
                "{label}: records have no \"ret\" field yet; failed attempts recognised by the missing program's filename"
            ));
        }
    }
    if kind.with_exits() {
        rows.exits_captured.push(a.exits_captured as f64);
        if a.exits_captured < a.captured {
            rows.note(format!(
                "{label} ({run_tag}): exits reported for {} of the {} storm execs captured",
                a.exits_captured, a.captured
            ));
        }
    }
    rows.args_failed.push(a.args_failed as f64);
    // Which source saw the storm: the row's own, or for the default rows bpf
    // (a fallback there would measure another source under a bpf label).
    if kind.is_json() && kind.is_ours() {
        let want = kind.source().map_or("bpf", Src::as_str);
        let other: BTreeMap<&String, &u64> = a.sources.iter().filter(|(s, _)| s.as_str() != want).collect();
        if !other.is_empty() {
            rows.note(format!("{label} ({run_tag}): storm records from another source than {want}: {other:?}"));
        }
    }
    for n in &a.notes {
        rows.note(format!("{label} ({run_tag}): {n}"));
    }
    for n in &a.info {
        rows.note(format!("{label}: {n}"));
    }
    let ours = kind.is_ours();
    if r.exited.killed {
        rows.note(format!("{label} ({run_tag}): did not exit within {} s of SIGINT; killed", STOP_TIMEOUT.as_secs()));
    } else if ours && !(libc::WIFEXITED(r.exited.status) && libc::WEXITSTATUS(r.exited.status) == 0) {
        rows.note(format!(
            "{label} ({run_tag}): ended with {} after SIGINT, expected exit 0",
            describe_status(r.exited.status)
        ));
    }
    if r.exited.stop_latency > Duration::from_secs(1) && !r.exited.killed {
        rows.note(format!(
            "{label} ({run_tag}): took {:.1} s to exit after SIGINT",
            r.exited.stop_latency.as_secs_f64()
        ));
    }
    if ours && !r.ending_seen {
        rows.note(format!("{label} ({run_tag}): no {ENDING:?} on stderr"));
    }
    if ours && r.banner.is_none() {
        rows.note(format!("{label} ({run_tag}): no banner {BANNER:?} on stderr"));
    }
    if kind.is_our_text()
        && let (Some(b), Some(h)) = (r.banner, r.ready)
        && h > b + Duration::from_millis(50)
    {
        rows.note(format!("{label} ({run_tag}): header reached the file {:.0} ms after the stderr banner", ms(h - b)));
    }
    for u in &r.stderr_unexpected {
        rows.note(format!("{label} ({run_tag}): stderr: {u}"));
    }
    if r.drain_timed_out {
        rows.note(format!("{label} ({run_tag}): storm rows still arriving {} s after the storm", DRAIN_MAX.as_secs()));
    } else if r.drain > Duration::from_secs(1) {
        rows.note(format!(
            "{label} ({run_tag}): storm rows kept arriving for {:.1} s after the storm ended",
            r.drain.as_secs_f64()
        ));
    }
    if r.storm.failures > 0 {
        rows.note(format!(
            "{label} ({run_tag}): {} storm execs failed: {}",
            r.storm.failures,
            r.storm.first_error.clone().unwrap_or_default()
        ));
    }
    // The end record's received vs shown can reveal filtering bugs.
    if let Some((Some(received), Some(shown), _)) = a.end
        && (received < exec_records || shown > received)
    {
        rows.note(format!(
            "{label} ({run_tag}): end record received={received} shown={shown} vs {exec_records} exec rows"
        ));
    }
}

/// One kind of anomaly in a run's output: which rows it applies to, how
/// many there were, an example, and what it means. Each found is a note.
pub(super) struct Anomaly {
    pub(super) when: fn(Kind) -> bool,
    pub(super) count: fn(&Analysis, &StormOutcome) -> u64,
    pub(super) example: fn(&Analysis, &StormOutcome) -> Option<String>,
    pub(super) what: &'static str,
}

fn always(_: Kind) -> bool {
    true
}

fn none(_: &Analysis, _: &StormOutcome) -> Option<String> {
    None
}

/// The anomalies noted for every run (in this order).
pub(super) const ANOMALIES: &[Anomaly] = &[
    Anomaly { when: always, count: |a, _| a.duplicates, example: none, what: "duplicate rows for the same exec" },
    Anomaly {
        when: always,
        count: |a, _| a.stray,
        example: |a, _| a.stray_example.clone(),
        what: "storm-looking rows not matching any exec",
    },
    Anomaly {
        when: always,
        count: |a, _| a.truncated_marked,
        example: none,
        what: "storm rows marked truncated (argv is only ~60 bytes)",
    },
    Anomaly {
        when: always,
        count: |a, _| a.pid_wrong,
        example: |a, _| a.pid_example.clone(),
        what: "rows with the wrong PID",
    },
    Anomaly {
        when: always,
        count: |a, _| a.ppid_wrong,
        example: none,
        what: "rows whose PPID is not the benchmark's PID",
    },
    Anomaly {
        when: always,
        count: |a, _| a.comm_wrong,
        example: |a, _| a.comm_example.clone(),
        what: "rows with unexpected comm",
    },
    Anomaly {
        when: always,
        count: |a, _| a.filename_wrong,
        example: |a, _| a.filename_example.clone(),
        what: "rows with unexpected filename",
    },
    Anomaly {
        when: always,
        count: |a, _| a.malformed,
        example: |a, _| a.malformed_example.clone(),
        what: "malformed JSON lines",
    },
    Anomaly {
        when: Kind::with_fails,
        count: |a, _| a.fail_duplicates,
        example: none,
        what: "duplicate records for a failed attempt",
    },
    Anomaly {
        when: Kind::with_fails,
        count: |a, _| a.fail_bad,
        example: |a, _| a.fail_bad_example.clone(),
        what: "wrong failed-attempt records",
    },
    Anomaly {
        when: Kind::with_fails,
        count: |_, s| s.fail_unexpected,
        example: |_, s| s.fail_example.clone(),
        what: "attempts to exec the missing program that did not fail with ENOENT",
    },
    Anomaly {
        when: always,
        count: |a, _| a.ret_nonzero_ok,
        example: none,
        what: "successful storm execs with \"ret\" != 0",
    },
    Anomaly {
        when: Kind::with_exits,
        count: |a, _| a.exit_duplicates,
        example: none,
        what: "duplicate exit records for a storm exec",
    },
    Anomaly {
        when: Kind::with_exits,
        count: |a, _| a.exit_bad,
        example: |a, _| a.exit_bad_example.clone(),
        what: "wrong exit records",
    },
    Anomaly {
        when: always,
        count: |a, _| a.exit_stray,
        example: none,
        what: "exit records of a no-op process that is no storm exec",
    },
];
