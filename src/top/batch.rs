//! `--top` without a terminal (stdout not one, or `--batch`): one plain
//! table per interval, as `top -b` prints, or with `--json` one `interval`
//! record per interval (its fields: schema/execsnoop.schema.json), and one
//! more when tracing ends, for the part of an interval since the last one.
//! It also owns the cells of a row as text ([`cells`], [`COLUMNS`]), which
//! the view shows too.
//!
//! Rows are in the order of execs in the interval, then in total, then by
//! key; every row is printed (at most `--top-keys`, and "(other)"). A key
//! is escaped ([`crate::escape`]) in text and a byte string in JSON; a
//! blank key (no container, no unit) is `-` in text and `""` in JSON. What
//! the source cannot give is `-` in text and null in JSON: CPU, and exit
//! kinds when no exit had a known status, failures without `-x`.

use std::io::{self, Write};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::model::{Model, RowView, Snapshot};
use super::{By, TopOptions};
use crate::event::Totals;
use crate::interactive::{Control, Interactive};

/// The table's columns, in order; a row's text is [`cells`].
pub const COLUMNS: [&str; 13] =
    ["KEY", "EXECS", "TOTAL", "RATE/s", "FAILED", "OK", "ERR", "SIG", "CPU(s)", "CPU/X", "LIFE", "P95", "RUN"];

/// What the header says beside the counts.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The source's name.
    pub source: &'static str,
    /// Failed attempts are traced (`-x`).
    pub fails: bool,
    /// The filters in force, as typed.
    pub filters: String,
}

/// A duration as people read it: `850us`, `12.3ms`, `1.25s`, `3m05s`.
pub fn human_ns(ns: u64) -> String {
    let us = ns / 1000;
    if us < 1000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else if us < 60_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else {
        let s = us / 1_000_000;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// The key as text: escaped, `-` when blank, `(other)` for the rest.
pub fn key_text(r: &RowView) -> String {
    if r.other {
        "(other)".into()
    } else if r.key.is_empty() {
        "-".into()
    } else {
        crate::escape::escape(&r.key)
    }
}

/// A row's cells, in [`COLUMNS`] order.
pub fn cells(r: &RowView, fails: bool) -> [String; 13] {
    let dash = || "-".to_string();
    let known = r.exits() > r.exit_unknown;
    let kind = |n: u64| if known { n.to_string() } else { dash() };
    [
        key_text(r),
        r.execs.to_string(),
        r.execs_total.to_string(),
        format!("{:.1}", r.rate),
        if fails { r.failed.to_string() } else { dash() },
        kind(r.exit_ok),
        kind(r.exit_err),
        kind(r.exit_sig),
        r.cpu_ns.map_or_else(dash, |c| format!("{:.3}", c as f64 / 1e9)),
        r.cpu_mean_ns.map_or_else(dash, human_ns),
        r.life_mean_ns.map_or_else(dash, human_ns),
        r.life_p95_ns.map_or_else(dash, human_ns),
        r.running.to_string(),
    ]
}

/// The rows in the batch order (see the module docs).
pub fn batch_order(rows: &mut [RowView]) {
    rows.sort_by(|a, b| {
        a.other
            .cmp(&b.other)
            .then(b.execs.cmp(&a.execs))
            .then(b.execs_total.cmp(&a.execs_total))
            .then(a.key.cmp(&b.key))
    });
}

/// The header line of a table.
pub fn header_line(s: &Snapshot, totals: &Totals, facts: &Facts) -> String {
    let mut line = format!(
        "execsnoop --top: {:.1} execs/s (avg {:.1}), {} execs, {} failed, {} exits, {} lost, source {}, by {}, {} keys{}, elapsed {}",
        s.rate_now(),
        s.rate_avg(),
        s.execs_total,
        if facts.fails { s.failed_total.to_string() } else { "-".into() },
        s.exits_total,
        totals.lost,
        facts.source,
        s.by.as_str(),
        s.keys,
        if s.folded { " (+other)" } else { "" },
        human_ns(s.elapsed.as_nanos() as u64),
    );
    if !facts.filters.is_empty() {
        line.push_str(", filters: ");
        line.push_str(&facts.filters);
    }
    line
}

/// One table: the header line, the column line, the rows, a blank line.
pub fn write_table(out: &mut Vec<u8>, s: &Snapshot, totals: &Totals, facts: &Facts) {
    let mut rows = s.rows.clone();
    batch_order(&mut rows);
    let cells: Vec<[String; 13]> = rows.iter().map(|r| cells(r, facts.fails)).collect();
    let mut widths = COLUMNS.map(str::len);
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count());
        }
    }
    out.extend_from_slice(header_line(s, totals, facts).as_bytes());
    out.push(b'\n');
    let mut line = |cols: &[String]| {
        let mut l = String::new();
        for (i, (c, w)) in cols.iter().zip(&widths).enumerate() {
            if i == 0 {
                l.push_str(&format!("{c:<w$}"));
            } else {
                l.push_str(&format!("  {c:>w$}"));
            }
        }
        out.extend_from_slice(l.trim_end().as_bytes());
        out.push(b'\n');
    };
    line(&COLUMNS.map(String::from));
    for c in &cells {
        line(c);
    }
    out.push(b'\n');
}

/// A byte string as the JSON format writes one (see the schema's `bytes`).
fn push_bytes(b: &mut Vec<u8>, s: &[u8]) {
    match std::str::from_utf8(s) {
        Ok(text) => {
            if serde_json::to_writer(&mut *b, text).is_err() {
                b.extend_from_slice(b"\"\"");
            }
        }
        Err(_) => {
            b.extend_from_slice(b"{\"bytes\":\"");
            b.extend_from_slice(STANDARD.encode(s).as_bytes());
            b.extend_from_slice(b"\"}");
        }
    }
}

fn push_opt(b: &mut Vec<u8>, name: &str, v: Option<u64>) {
    b.extend_from_slice(format!(",\"{name}\":").as_bytes());
    match v {
        Some(v) => b.extend_from_slice(v.to_string().as_bytes()),
        None => b.extend_from_slice(b"null"),
    }
}

/// A row's numbers after its key, in the schema's order.
fn push_numbers(b: &mut Vec<u8>, r: &RowView, fails: bool) {
    let known = r.exits() > r.exit_unknown;
    b.extend_from_slice(format!("\"execs\":{},\"execs_total\":{}", r.execs, r.execs_total).as_bytes());
    b.extend_from_slice(format!(",\"rate\":{:.3}", r.rate).as_bytes());
    push_opt(b, "failed", fails.then_some(r.failed));
    b.extend_from_slice(format!(",\"exits\":{}", r.exits()).as_bytes());
    push_opt(b, "exits_ok", known.then_some(r.exit_ok));
    push_opt(b, "exits_error", known.then_some(r.exit_err));
    push_opt(b, "exits_signal", known.then_some(r.exit_sig));
    push_opt(b, "cpu_ns", r.cpu_ns);
    push_opt(b, "mean_cpu_ns", r.cpu_mean_ns);
    push_opt(b, "mean_lifetime_ns", r.life_mean_ns);
    push_opt(b, "p95_lifetime_ns", r.life_p95_ns);
    b.extend_from_slice(format!(",\"running\":{}", r.running).as_bytes());
}

/// One `interval` record (a line).
pub fn write_json(out: &mut Vec<u8>, s: &Snapshot, totals: &Totals, facts: &Facts, wall_ns: i128) {
    let mut rows = s.rows.clone();
    batch_order(&mut rows);
    out.extend_from_slice(b"{\"type\":\"interval\",\"time\":\"");
    crate::format::push_rfc3339(out, wall_ns, 9);
    out.extend_from_slice(b"\",\"by\":");
    push_bytes(out, s.by.as_str().as_bytes());
    out.extend_from_slice(
        format!(
            ",\"interval_ns\":{},\"elapsed_ns\":{},\"execs\":{},\"execs_total\":{}",
            s.interval.as_nanos(),
            s.elapsed.as_nanos(),
            s.execs,
            s.execs_total
        )
        .as_bytes(),
    );
    push_opt(out, "failed_total", facts.fails.then_some(s.failed_total));
    out.extend_from_slice(format!(",\"exits_total\":{},\"lost\":{}", s.exits_total, totals.lost).as_bytes());
    out.extend_from_slice(b",\"source\":");
    push_bytes(out, facts.source.as_bytes());
    out.extend_from_slice(format!(",\"keys\":{},\"rows\":[", s.keys).as_bytes());
    let mut first = true;
    for r in rows.iter().filter(|r| !r.other) {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(b"{\"key\":");
        push_bytes(out, &r.key);
        out.push(b',');
        push_numbers(out, r, facts.fails);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"other\":");
    match rows.iter().find(|r| r.other) {
        Some(r) => {
            out.push(b'{');
            push_numbers(out, r, facts.fails);
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"}\n");
}

/// The batch printer: a table or a record every interval, to `out`.
pub struct Batch<W: Write> {
    out: W,
    json: bool,
    interval: Duration,
    next: Instant,
    by: By,
    facts: Facts,
    buf: Vec<u8>,
}

impl<W: Write> Batch<W> {
    pub fn new(out: W, opts: &TopOptions, facts: Facts) -> Batch<W> {
        Batch {
            out,
            json: opts.json,
            interval: opts.interval,
            next: Instant::now() + opts.interval,
            by: opts.by,
            facts,
            buf: Vec::new(),
        }
    }

    fn print(&mut self, model: &mut Model, totals: &Totals) -> io::Result<()> {
        let s = model.snapshot(self.by);
        model.roll();
        self.buf.clear();
        if self.json {
            let wall =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128);
            write_json(&mut self.buf, &s, totals, &self.facts, wall);
        } else {
            write_table(&mut self.buf, &s, totals, &self.facts);
        }
        self.out.write_all(&self.buf)?;
        self.out.flush()
    }
}

impl<W: Write> Interactive<Model> for Batch<W> {
    fn fds(&self) -> [RawFd; 2] {
        [-1, -1]
    }

    fn next_deadline(&self) -> Option<Instant> {
        Some(self.next)
    }

    fn on_ready(&mut self, _: &mut Model, _: &Totals) -> io::Result<Control> {
        Ok(Control::Go)
    }

    fn on_tick(&mut self, model: &mut Model, totals: &Totals) -> io::Result<Control> {
        // The next deadline from this one: no drift, no catching up after a
        // stall (a missed interval is skipped, not printed twice).
        let now = Instant::now();
        while self.next <= now {
            self.next += self.interval;
        }
        self.print(model, totals)?;
        Ok(Control::Go)
    }

    fn on_end(&mut self, model: &mut Model, totals: &Totals) -> io::Result<()> {
        self.print(model, totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Exec;

    fn model() -> Model {
        let mut m = Model::with_users(3, Default::default());
        for (i, name) in ["a", "b", "b", "c", "d", "e"].iter().enumerate() {
            let e = Exec { pid: i as u32 + 1, ts_ns: 1, comm: name.as_bytes().to_vec(), ..Exec::default() };
            m.exec(&e);
        }
        m.exec(&Exec { pid: 9, comm: b"\x1b[31m".to_vec(), ..Exec::default() });
        m
    }

    fn facts() -> Facts {
        Facts { source: "bpf", fails: false, filters: "-n x".into() }
    }

    #[test]
    fn a_table_has_a_header_columns_and_rows_in_order() {
        let m = model();
        let mut out = Vec::new();
        write_table(&mut out, &m.snapshot(By::Comm), &Totals::default(), &facts());
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("execsnoop --top: "), "{}", lines[0]);
        assert!(lines[0].contains("filters: -n x") && lines[0].contains("3 keys (+other)"), "{}", lines[0]);
        assert!(lines[1].starts_with("KEY "), "{}", lines[1]);
        let keys: Vec<&str> =
            lines[2..].iter().filter(|l| !l.is_empty()).map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(keys, ["b", "a", "c", "(other)"]);
        assert!(!text.contains('\x1b'), "keys are escaped");
        assert!(text.ends_with("\n\n"));
    }

    #[test]
    fn a_json_record_keeps_other_apart_and_nulls_what_is_unknown() {
        let m = model();
        let mut out = Vec::new();
        write_json(&mut out, &m.snapshot(By::Comm), &Totals::default(), &facts(), 0);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "interval");
        assert_eq!(v["rows"].as_array().unwrap().len(), 3);
        assert_eq!(v["rows"][0]["key"], "b");
        assert_eq!(v["rows"][0]["execs"], 2);
        assert_eq!(v["rows"][0]["failed"], serde_json::Value::Null, "no -x");
        assert_eq!(v["rows"][0]["cpu_ns"], serde_json::Value::Null, "nothing ended");
        assert_eq!(v["other"]["execs_total"], 3, "d, e and the escape");
        assert!(out.ends_with(b"}\n") && out.iter().filter(|&&b| b == b'\n').count() == 1);
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(human_ns(850_000), "850us");
        assert_eq!(human_ns(12_345_000), "12.3ms");
        assert_eq!(human_ns(1_250_000_000), "1.25s");
        assert_eq!(human_ns(185_000_000_000), "3m05s");
    }
}
