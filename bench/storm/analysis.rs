//! Output analysis: the rows (kinds) the storm is measured in, and the
//! checks of every record a tracer wrote against the execs the storm made.

use super::*;

// ---------------------------------------------------------------------------
// Output analysis

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    OursJson,
    /// `--json -x`, with failing exec attempts mixed into the storm.
    OursJsonFails,
    /// `--json -e`: an exit record per process as well.
    OursJsonExits,
    /// `--json --cwd --print-container`: the context a row costs most often.
    OursJsonCwd,
    /// `--json --env`: the environment block read and redacted as well.
    OursJsonEnv,
    /// `--json --output FILE` (ours writes the file) instead of stdout to it.
    OursJsonOutput,
    /// `--json --metrics 127.0.0.1:0`: counting for Prometheus as well.
    OursJsonMetrics,
    /// `--syslog` to a socket the benchmark reads (one datagram per record).
    OursSyslog,
    OursText,
    /// Text mode with `-e`.
    OursTextExits,
    /// `--top --json --interval 0.2`: the storm added up, one interval
    /// record per 0.2 s instead of a record per exec (exits on, as --top
    /// has them).
    OursTop,
    Libbpf,
    /// `--json --source <fallback source>`.
    Source(Src),
    /// Linux audit: auditd with an execve rule, its raw log (bench/storm/audit.rs).
    Auditd,
    /// auditd with laurel as its plugin, laurel's JSON lines.
    AuditdLaurel,
}

/// The fallback event sources, each measured in a row of its own (the bpf
/// source is what the other rows of ours measure).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Src {
    Ftrace,
    Netlink,
    Procfs,
}

impl Src {
    pub(super) const ALL: [Src; 3] = [Src::Ftrace, Src::Netlink, Src::Procfs];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Src::Ftrace => "ftrace",
            Src::Netlink => "netlink",
            Src::Procfs => "procfs",
        }
    }
}

impl Kind {
    pub(super) fn label(self) -> &'static str {
        match self {
            Kind::OursJson => "execsnoop json",
            Kind::OursJsonFails => "execsnoop json -x",
            Kind::OursJsonExits => "execsnoop json -e",
            Kind::OursJsonCwd => "execsnoop json --cwd --print-container",
            Kind::OursJsonEnv => "execsnoop json --env",
            Kind::OursJsonOutput => "execsnoop json --output",
            Kind::OursJsonMetrics => "execsnoop json --metrics",
            Kind::OursSyslog => "execsnoop --syslog",
            Kind::OursText => "execsnoop text",
            Kind::OursTextExits => "execsnoop text -e",
            Kind::OursTop => "execsnoop --top --json",
            Kind::Libbpf => "libbpf-tools",
            Kind::Source(Src::Ftrace) => "execsnoop --source ftrace",
            Kind::Source(Src::Netlink) => "execsnoop --source netlink",
            Kind::Source(Src::Procfs) => "execsnoop --source procfs",
            Kind::Auditd => "auditd",
            Kind::AuditdLaurel => "auditd + laurel",
        }
    }
    pub(super) fn is_json(self) -> bool {
        matches!(
            self,
            Kind::OursJson
                | Kind::OursJsonFails
                | Kind::OursJsonExits
                | Kind::OursJsonCwd
                | Kind::OursJsonEnv
                | Kind::OursJsonOutput
                | Kind::OursJsonMetrics
                | Kind::OursSyslog
                | Kind::Source(_)
        )
    }
    pub(super) fn is_ours(self) -> bool {
        !matches!(self, Kind::Libbpf | Kind::Auditd | Kind::AuditdLaurel)
    }
    /// A Linux audit row: runs last, after the tax (see audit.rs).
    pub(super) fn is_audit(self) -> bool {
        matches!(self, Kind::Auditd | Kind::AuditdLaurel)
    }
    /// Our text mode (with its header line).
    pub(super) fn is_our_text(self) -> bool {
        matches!(self, Kind::OursText | Kind::OursTextExits)
    }
    /// A failure of this tool is noted and the row skipped from then on,
    /// instead of ending the benchmark.
    pub(super) fn optional(self) -> bool {
        !matches!(self, Kind::OursJson | Kind::OursText)
    }
    pub(super) fn with_fails(self) -> bool {
        self == Kind::OursJsonFails
    }
    pub(super) fn with_exits(self) -> bool {
        matches!(self, Kind::OursJsonExits | Kind::OursTextExits)
    }
    /// The `--source` this row asks for; `None`: the default (auto, bpf first).
    pub(super) fn source(self) -> Option<Src> {
        if let Kind::Source(s) = self { Some(s) } else { None }
    }
}

/// The failing exec attempts a `-x` storm made, to check the output against.
pub(super) struct FailCheck<'a> {
    pub(super) missing: &'a str,
    /// (worker, seq) of each attempt -> index into `seen`.
    pub(super) attempts: BTreeMap<(usize, usize), usize>,
}

impl<'a> FailCheck<'a> {
    pub(super) fn new(missing: &'a str, attempts: &[(usize, usize)]) -> Self {
        FailCheck { missing, attempts: attempts.iter().enumerate().map(|(i, &ws)| (ws, i)).collect() }
    }
}

#[derive(Default)]
pub(super) struct Analysis {
    /// Records of any event kind. The divisor for cpu/1k ev is this minus
    /// `exit_records`.
    pub(super) events: u64,
    /// Exit records (`-e`): all of them.
    pub(super) exit_records: u64,
    /// Storm execs whose exit was reported (distinct), and duplicates.
    pub(super) exits_captured: u64,
    pub(super) exit_duplicates: u64,
    /// Exit records of storm execs with a wrong field.
    pub(super) exit_bad: u64,
    pub(super) exit_bad_example: Option<String>,
    /// Records for other processes named like the no-op (not a storm PID).
    pub(super) exit_stray: u64,
    /// Storm execs whose record says the arguments could not be read
    /// (`args_read_failed`, the /proc-reading sources): matched by PID,
    /// captured but never full-argv.
    pub(super) args_failed: u64,
    /// Storm exec records by their `source` field (JSON).
    pub(super) sources: BTreeMap<String, u64>,
    pub(super) captured: u64,
    pub(super) full: u64,
    pub(super) duplicates: u64,
    pub(super) stray: u64,
    pub(super) stray_example: Option<String>,
    pub(super) pid_wrong: u64,
    pub(super) pid_example: Option<String>,
    pub(super) ppid_wrong: u64,
    pub(super) comm_wrong: u64,
    pub(super) comm_example: Option<String>,
    pub(super) filename_wrong: u64,
    pub(super) filename_example: Option<String>,
    pub(super) truncated_marked: u64,
    pub(super) malformed: u64,
    pub(super) malformed_example: Option<String>,
    pub(super) lost: u64,
    pub(super) lost_by_kind: BTreeMap<String, u64>,
    pub(super) end: Option<(Option<u64>, Option<u64>, Option<u64>)>,
    pub(super) other_types: BTreeMap<String, u64>,
    /// Failing exec attempts (the `-x` storm): distinct attempts captured.
    pub(super) fail_captured: u64,
    /// Records taken for failed attempts: by `ret` < 0, or (without a `ret`
    /// field) by the missing program's filename.
    pub(super) fail_records: u64,
    pub(super) fail_by_ret: u64,
    pub(super) fail_by_filename: u64,
    pub(super) fail_duplicates: u64,
    pub(super) fail_bad: u64,
    pub(super) fail_bad_example: Option<String>,
    /// Records for successful storm execs whose `ret` is present and not 0.
    pub(super) ret_nonzero_ok: u64,
    /// Exec records with a numeric `ret` field at all.
    pub(super) ret_present: u64,
    /// Problems seen in this run.
    pub(super) notes: Vec<String>,
    /// Facts about the tool that do not depend on the run.
    pub(super) info: Vec<String>,
}

pub(super) enum Match {
    None,
    Stray,
    Storm { idx: usize, w: usize, s: usize, full: bool },
}

pub(super) fn classify(plan: &Plan, argv: &[&str]) -> Match {
    if argv.len() < 2 || argv[0] != "noop" || argv[1] != "storm" {
        return if argv.contains(&"storm") { Match::Stray } else { Match::None };
    }
    let (Some(w), Some(s)) = (argv.get(2).and_then(|v| v.parse().ok()), argv.get(3).and_then(|v| v.parse().ok()))
    else {
        return Match::Stray;
    };
    let Some(idx) = plan.index(w, s) else { return Match::Stray };
    let full = argv.len() == 5 && argv[4] == filler(w, s);
    Match::Storm { idx, w, s, full }
}

pub(super) struct Tally<'a> {
    pub(super) plan: &'a Plan,
    pub(super) pids: &'a [i32],
    /// Storm exec index by the PID `posix_spawn` returned.
    pub(super) pid_idx: HashMap<i32, usize>,
    pub(super) seen: Vec<u8>,
    /// Per storm exec: its exit was seen; the `ts_ns` of its exec record.
    pub(super) exit_seen: Vec<bool>,
    pub(super) exec_ts: Vec<Option<u64>>,
    pub(super) a: Analysis,
}

impl<'a> Tally<'a> {
    pub(super) fn new(plan: &'a Plan, pids: &'a [i32]) -> Self {
        let pid_idx = pids.iter().enumerate().filter(|(_, p)| **p > 0).map(|(i, &p)| (p, i)).collect();
        Tally {
            plan,
            pids,
            pid_idx,
            seen: vec![0; plan.total],
            exit_seen: vec![false; plan.total],
            exec_ts: vec![None; plan.total],
            a: Analysis::default(),
        }
    }

    /// The storm exec with this PID, if any.
    pub(super) fn by_pid(&self, pid: Option<u64>) -> Option<usize> {
        self.pid_idx.get(&i32::try_from(pid?).ok()?).copied()
    }

    /// A storm exec whose arguments could not be read, matched by PID:
    /// captured, not full-argv.
    pub(super) fn args_failed(&mut self, idx: usize) {
        self.a.args_failed += 1;
        if self.seen[idx] & 1 != 0 {
            self.a.duplicates += 1;
        } else {
            self.seen[idx] |= 1;
            self.a.captured += 1;
        }
    }

    /// One exit record for storm exec `idx`; `wrong` lists its bad fields.
    pub(super) fn exit(&mut self, idx: usize, wrong: &[&str], line: &str) {
        if self.exit_seen[idx] {
            self.a.exit_duplicates += 1;
            return;
        }
        self.exit_seen[idx] = true;
        self.a.exits_captured += 1;
        if !wrong.is_empty() {
            self.a.exit_bad += 1;
            self.a.exit_bad_example.get_or_insert_with(|| format!("wrong {}: {}", wrong.join(", "), clip(line)));
        }
    }

    pub(super) fn stray(&mut self, example: &str) {
        self.a.stray += 1;
        self.a.stray_example.get_or_insert_with(|| clip(example));
    }

    /// Count one record's argv; returns the storm (w, s, idx) it names, if any.
    pub(super) fn argv(&mut self, argv: &[&str], truncated: bool, line: &str) -> Option<(usize, usize, usize)> {
        match classify(self.plan, argv) {
            Match::None => None,
            Match::Stray => {
                self.stray(line);
                None
            }
            Match::Storm { idx, w, s, full } => {
                if self.seen[idx] & 1 != 0 {
                    self.a.duplicates += 1;
                } else {
                    self.seen[idx] |= 1;
                    self.a.captured += 1;
                }
                if full && !truncated && self.seen[idx] & 2 == 0 {
                    self.seen[idx] |= 2;
                    self.a.full += 1;
                }
                Some((w, s, idx))
            }
        }
    }

    pub(super) fn check_pids(&mut self, idx: usize, pid: Option<u64>, ppid: Option<u64>, line: &str) {
        self.check_pid(idx, pid, line);
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() } as u64;
        if ppid != Some(me) {
            self.a.ppid_wrong += 1;
        }
    }

    pub(super) fn check_pid(&mut self, idx: usize, pid: Option<u64>, line: &str) {
        let want = self.pids.get(idx).copied().unwrap_or(0);
        if want > 0 && pid != Some(want as u64) {
            self.a.pid_wrong += 1;
            self.a.pid_example.get_or_insert_with(|| format!("expected pid {want}: {}", clip(line)));
        }
    }
}

pub(super) fn clip(s: &str) -> String {
    const MAX: usize = 160;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Sum of every "lost N" / "Lost N" number on stderr.
pub(super) fn stderr_lost(lines: &[&str]) -> u64 {
    let mut total = 0;
    for l in lines {
        let lower = l.to_ascii_lowercase();
        let mut rest = lower.as_str();
        while let Some(p) = rest.find("lost ") {
            rest = &rest[p + 5..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<u64>() {
                total += n;
            }
        }
    }
    total
}

/// The lost count of our closing stderr summary: "N execs traced, N shown, N lost",
/// or "..., WARNING: N lost (ring buffer full; ...)" when events were lost.
pub(super) fn summary_lost(line: &str) -> Option<u64> {
    let after = &line[line.find(" execs traced, ")?..];
    let before_lost = &after[..after.find(" lost")?];
    before_lost.rsplit(' ').next()?.parse().ok()
}

/// A record for one of the storm's failing attempts? Counts it and returns true.
pub(super) fn fail_record(t: &mut Tally, fc: &FailCheck, fail_seen: &mut [bool], v: &Value, line: &str) -> bool {
    let ret = v.get("ret").and_then(Value::as_i64);
    let filename = v.get("filename").and_then(Value::as_str);
    let argv: Option<Vec<&str>> = match v.get("argv") {
        Some(Value::Array(a)) => a.iter().map(Value::as_str).collect(),
        _ => None,
    };
    let marked = argv.as_ref().is_some_and(|a| a.get(1) == Some(&FAIL_MARKER));
    let by_ret = ret.is_some_and(|r| r < 0);
    let by_filename = ret.is_none() && filename == Some(fc.missing);
    if !(by_ret || by_filename) {
        if filename == Some(fc.missing) || marked {
            // The missing program with ret >= 0: a failed attempt reported as a success.
            t.a.fail_bad += 1;
            t.a.fail_bad_example.get_or_insert_with(|| format!("failed attempt without ret < 0: {}", clip(line)));
            return true;
        }
        return false;
    }
    if !marked && filename != Some(fc.missing) {
        return false; // some other failed exec on the machine
    }
    t.a.fail_records += 1;
    if by_ret {
        t.a.fail_by_ret += 1;
    } else {
        t.a.fail_by_filename += 1;
    }
    let ws = argv.as_ref().and_then(|a| Some((a.get(2)?.parse::<usize>().ok()?, a.get(3)?.parse::<usize>().ok()?)));
    let Some(&idx) = ws.and_then(|ws| fc.attempts.get(&ws)) else {
        t.a.fail_bad += 1;
        t.a.fail_bad_example.get_or_insert_with(|| format!("matches no attempt made: {}", clip(line)));
        return true;
    };
    let (w, s) = ws.unwrap_or_default();
    if fail_seen[idx] {
        t.a.fail_duplicates += 1;
        return true;
    }
    fail_seen[idx] = true;
    t.a.fail_captured += 1;
    let mut wrong = Vec::new();
    if argv.as_deref() != Some(&expected_fail_argv(fc.missing, w, s).iter().map(String::as_str).collect::<Vec<_>>()[..])
    {
        wrong.push("argv");
    }
    if filename != Some(fc.missing) {
        wrong.push("filename");
    }
    if ret.is_some_and(|r| r != -i64::from(libc::ENOENT)) {
        wrong.push("ret (expected -2, ENOENT)");
    }
    // The symbolic name, where the JSON has one.
    match v.get("errno") {
        None => {}
        Some(Value::String(e)) if e == "ENOENT" => {}
        Some(_) => wrong.push("errno (expected \"ENOENT\")"),
    }
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() } as u64;
    if v.get("ppid").and_then(Value::as_u64) != Some(me) {
        wrong.push("ppid");
    }
    if !wrong.is_empty() {
        t.a.fail_bad += 1;
        t.a.fail_bad_example.get_or_insert_with(|| format!("wrong {}: {}", wrong.join(", "), clip(line)));
    }
    true
}

pub(super) fn analyze_json(data: &str, plan: &Plan, pids: &[i32], noop: &Noop, fails: Option<&FailCheck>) -> Analysis {
    let mut t = Tally::new(plan, pids);
    let mut fail_seen = vec![false; fails.map_or(0, |f| f.attempts.len())];
    for line in data.lines() {
        if line.is_empty() {
            continue;
        }
        let v = match serde_json::from_str::<Value>(line).map_err(|e| e.to_string()) {
            Ok(v @ Value::Object(_)) => v,
            other => {
                let e = other.err().unwrap_or_else(|| "not a JSON object".into());
                t.a.malformed += 1;
                t.a.malformed_example.get_or_insert_with(|| format!("{e}: {}", clip(line)));
                continue;
            }
        };
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("(no type)").to_owned();
        if ty != "lost" && ty != "end" {
            if v.get("ret").and_then(Value::as_i64).is_some() {
                t.a.ret_present += 1;
            }
            if let Some(fc) = fails
                && fail_record(&mut t, fc, &mut fail_seen, &v, line)
            {
                t.a.events += 1;
                if ty != "exec" {
                    *t.a.other_types.entry(ty).or_default() += 1;
                }
                continue;
            }
        }
        match ty.as_str() {
            "exec" => {
                t.a.events += 1;
                let argv_v: Option<Vec<&str>> = match v.get("argv") {
                    Some(Value::Array(a)) => a.iter().map(Value::as_str).collect(),
                    _ => None,
                };
                let Some(argv) = argv_v else {
                    let comm = v.get("comm").and_then(Value::as_str);
                    if comm == Some(noop.comm.as_str()) {
                        t.stray(line);
                    }
                    continue;
                };
                let truncated = v.get("args_truncated").and_then(Value::as_bool);
                if truncated.is_none() {
                    t.a.notes.push("exec record without a boolean args_truncated".into());
                }
                let truncated = truncated.unwrap_or(false);
                // The sources that read arguments from /proc after the event
                // find them gone when the process has already ended: such a
                // record (no or partial argv) is matched by its PID.
                // Their comm, filename and PPID come from /proc too: empty,
                // 0 or stale then, so only the PID is checked.
                let read_failed = v.get("args_read_failed").and_then(Value::as_bool) == Some(true);
                let comm = v.get("comm").and_then(Value::as_str);
                let comm_is_noop = comm == Some(noop.comm.as_str());
                let by_pid = if read_failed
                    && (comm_is_noop || comm.is_none_or(str::is_empty))
                    && !matches!(classify(plan, &argv), Match::Storm { .. })
                {
                    t.by_pid(v.get("pid").and_then(Value::as_u64))
                } else {
                    None
                };
                let before = t.a.stray;
                let hit = match by_pid {
                    Some(idx) => {
                        t.args_failed(idx);
                        Some(idx)
                    }
                    None => t.argv(&argv, truncated || read_failed, line).map(|(_, _, idx)| idx),
                };
                if hit.is_none() && t.a.stray == before && comm_is_noop && noop.comm == "noop" {
                    t.stray(line);
                }
                if let Some(idx) = hit {
                    let source = v.get("source").and_then(Value::as_str).unwrap_or("(none)");
                    *t.a.sources.entry(source.to_owned()).or_default() += 1;
                    if t.exec_ts[idx].is_none() {
                        t.exec_ts[idx] = v.get("ts_ns").and_then(Value::as_u64);
                    }
                    if truncated {
                        t.a.truncated_marked += 1;
                    }
                    if v.get("ret").and_then(Value::as_i64).is_some_and(|r| r != 0) {
                        t.a.ret_nonzero_ok += 1;
                    }
                    let pid = v.get("pid").and_then(Value::as_u64);
                    if read_failed {
                        t.check_pid(idx, pid, line);
                        continue;
                    }
                    let ppid = v.get("ppid").and_then(Value::as_u64);
                    t.check_pids(idx, pid, ppid, line);
                    if !comm_is_noop {
                        t.a.comm_wrong += 1;
                        t.a.comm_example.get_or_insert_with(|| format!("comm {comm:?}, expected {:?}", noop.comm));
                    }
                    let filename = v.get("filename").and_then(Value::as_str);
                    if filename != Some(noop.path_str.as_str()) {
                        t.a.filename_wrong += 1;
                        t.a.filename_example
                            .get_or_insert_with(|| format!("filename {filename:?}, expected {:?}", noop.path_str));
                    }
                }
            }
            "exit" => {
                t.a.events += 1;
                t.a.exit_records += 1;
                if v.get("comm").and_then(Value::as_str) != Some(noop.comm.as_str()) {
                    continue;
                }
                let Some(idx) = t.by_pid(v.get("pid").and_then(Value::as_u64)) else {
                    t.a.exit_stray += 1;
                    continue;
                };
                let mut wrong = Vec::new();
                if v.get("exit_code").and_then(Value::as_u64) != Some(0) {
                    wrong.push("exit_code (expected 0)");
                }
                if !matches!(v.get("signal"), Some(Value::Null)) {
                    wrong.push("signal (expected null)");
                }
                // SAFETY: getpid has no preconditions.
                let me = unsafe { libc::getpid() } as u64;
                if v.get("ppid").and_then(Value::as_u64) != Some(me) {
                    wrong.push("ppid");
                }
                let exec_ts = v.get("exec_ts_ns").and_then(Value::as_u64);
                if exec_ts.is_none() || t.exec_ts[idx].is_some_and(|ts| exec_ts != Some(ts)) {
                    wrong.push("exec_ts_ns (not its exec record's ts_ns)");
                }
                t.exit(idx, &wrong, line);
            }
            "lost" => {
                let n = v.get("count").and_then(Value::as_u64).unwrap_or(0);
                t.a.lost += n;
                let kind = v.get("kind").and_then(Value::as_str).unwrap_or("?").to_owned();
                *t.a.lost_by_kind.entry(kind).or_default() += n;
            }
            "end" => {
                if t.a.end.is_some() {
                    t.a.notes.push("more than one end record".into());
                }
                t.a.end = Some((
                    v.get("received").and_then(Value::as_u64),
                    v.get("shown").and_then(Value::as_u64),
                    v.get("lost").and_then(Value::as_u64),
                ));
            }
            other => {
                t.a.events += 1;
                *t.a.other_types.entry(other.to_owned()).or_default() += 1;
            }
        }
    }
    // Cross-check the closing record.
    let mut a = t.a;
    let execs = a.events - a.exit_records - a.other_types.values().sum::<u64>();
    match a.end {
        None => a.notes.push("no {\"type\":\"end\"} record at the end of the JSON output".into()),
        Some((received, shown, lost)) => {
            if shown != Some(execs) {
                a.notes.push(format!("end record shown={shown:?} but {execs} exec records were written"));
            }
            if lost != Some(a.lost) {
                a.notes.push(format!("end record lost={lost:?} but lost records add up to {}", a.lost));
            }
            if received.is_none() {
                a.notes.push("end record has no numeric received".into());
            }
        }
    }
    if let Some(last) = data.lines().rev().find(|l| !l.is_empty())
        && !last.contains("\"end\"")
    {
        a.notes.push("the last JSON line is not the end record".into());
    }
    a
}

/// The storm's execs as `--top --json` counted them: the no-op's row in
/// the last interval record (its `execs_total`), and the losses it reports.
/// Every exec counted is "captured"; --top prints no argv, so "full argv"
/// is what was counted too (a note says so).
pub(super) fn analyze_top(data: &str, plan: &Plan, noop: &Noop) -> Analysis {
    let mut a = Analysis::default();
    let last = data
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "interval");
    let Some(last) = last else {
        a.notes.push("no interval record".into());
        return a;
    };
    let counted = top_count(&last, &noop.comm);
    a.captured = counted.min(plan.total as u64);
    a.full = a.captured;
    a.events = last["execs_total"].as_u64().unwrap_or(0);
    a.lost = last["lost"].as_u64().unwrap_or(0);
    if counted > plan.total as u64 {
        a.notes.push(format!("{counted} execs of {} counted, {} made", noop.comm, plan.total));
    }
    a.info.push("full argv: --top counts execs and prints no argv (the column shows what was counted)".into());
    a
}

/// `execs_total` of the row keyed `comm` in a `--top --json` interval record.
pub(super) fn top_count(rec: &Value, comm: &str) -> u64 {
    rec["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["key"] == comm))
        .and_then(|r| r["execs_total"].as_u64())
        .unwrap_or(0)
}

pub(super) fn analyze_text(
    data: &str,
    plan: &Plan,
    pids: &[i32],
    kind: Kind,
    noop: &Noop,
    extra_args: bool,
) -> Analysis {
    let mut t = Tally::new(plan, pids);
    let mut libbpf_filename_argv0 = false;
    let mut ret_nonzero = 0u64;
    let mut lines = data.lines();
    let first = lines.next().unwrap_or("");
    let ret_col = kind.is_our_text() && first.ends_with(TEXT_HEADER_RET);
    match kind {
        _ if kind.is_our_text() && !is_text_header(first) => {
            t.a.notes.push(format!("first stdout line is {:?}, expected the header {TEXT_HEADER:?}", clip(first)));
        }
        _ if kind.is_our_text() && first != TEXT_HEADER && !extra_args => {
            t.a.notes.push(format!("header is {first:?}, expected exactly {TEXT_HEADER:?}"));
        }
        Kind::Libbpf if !is_libbpf_header(first) => {
            t.a.notes.push(format!("first stdout line is {:?}, expected the PCOMM header", clip(first)));
        }
        _ => {}
    }
    for line in lines {
        if line.is_empty() {
            continue;
        }
        t.a.events += 1;
        // -e: "[TIME] PID PPID [exit: code 0, lifetime 0.000s, cpu 0.000s] COMM".
        if kind.is_our_text()
            && let Some(xpos) = line.find(TEXT_EXIT_MARK)
        {
            t.a.exit_records += 1;
            let h: Vec<&str> = line[..xpos].split_whitespace().collect();
            let comm = line[xpos..].split_once("] ").map(|(_, c)| c);
            if comm != Some(noop.comm.as_str()) {
                continue;
            }
            let pid = h.len().checked_sub(2).and_then(|i| h.get(i)).and_then(|v| v.parse().ok());
            let Some(idx) = t.by_pid(pid) else {
                t.a.exit_stray += 1;
                continue;
            };
            let mut wrong = Vec::new();
            if !line[xpos..].starts_with("[exit: code 0,") {
                wrong.push("status (expected code 0)");
            }
            // SAFETY: getpid has no preconditions.
            let me = unsafe { libc::getpid() } as u64;
            if h.last().and_then(|v| v.parse::<u64>().ok()) != Some(me) {
                wrong.push("ppid");
            }
            t.exit(idx, &wrong, line);
            continue;
        }
        let Some(spos) = line.find(" storm ") else { continue };
        // argv[0] is the token just before "storm".
        let a0_start = line[..spos].rfind(' ').map_or(0, |i| i + 1);
        let head = &line[..a0_start];
        let tail = &line[a0_start..];
        let tail = if kind == Kind::Libbpf { tail.trim_end_matches(' ') } else { tail };
        // Text mode marks cut argument lists with " [...]".
        let truncated = tail.ends_with(" [...]");
        let mut argv: Vec<&str> = tail.split(' ').collect();
        // libbpf-tools prints the exec'd filename in place of argv[0].
        if kind == Kind::Libbpf && argv[0] == noop.path_str {
            argv[0] = "noop";
            libbpf_filename_argv0 = true;
        }
        if let Some((_, _, idx)) = t.argv(&argv, truncated, line) {
            if truncated {
                t.a.truncated_marked += 1;
            }
            let h: Vec<&str> = head.split_whitespace().collect();
            let (pid, ppid) = match kind {
                // PCOMM PID PPID RET
                Kind::Libbpf => {
                    if h.get(3) != Some(&"0") {
                        ret_nonzero += 1;
                    }
                    (h.get(1), h.get(2))
                }
                // [TIME] PID PPID RET (with -x): RET just before ARGS.
                _ if ret_col => {
                    if h.last() != Some(&"0") {
                        ret_nonzero += 1;
                    }
                    (h.len().checked_sub(3).and_then(|i| h.get(i)), h.len().checked_sub(2).and_then(|i| h.get(i)))
                }
                // [TIME] PID PPID: the two columns just before ARGS.
                _ => (h.len().checked_sub(2).and_then(|i| h.get(i)), h.last()),
            };
            let pid = pid.and_then(|v| v.parse().ok());
            let ppid = ppid.and_then(|v| v.parse().ok());
            t.check_pids(idx, pid, ppid, line);
        }
    }
    if ret_nonzero > 0 {
        t.a.notes.push(format!("{ret_nonzero} storm rows with RET != 0"));
    }
    if libbpf_filename_argv0 {
        t.a.info.push("shows the exec filename instead of argv[0] (its usual behaviour); counted as argv[0]".into());
    }
    t.a
}
