//! The full-screen `--top` view: ratatui draws, crossterm puts the terminal
//! in raw mode on the alternate screen and reads keys and resizes. A
//! header (execs/s now and averaged, failed, exits, lost, source, key,
//! filters, elapsed) beside a sparkline of the exec rate, the table, a
//! status line; with `e`, the log of the selected row's recent execs.
//!
//! Keys: `c` `n` `f` `l` sort by CPU, execs, failures, lifetime; `<` `>`
//! move the sort column; `k` (or `t`) switches the key; `/` filters rows
//! with a regex typed in the status line (Enter applies, an empty one
//! clears, Esc cancels; a bad one is shown there); `p` pauses the display
//! (tracing and counting go on); Up/Down (PgUp/PgDn, Home/End) select a
//! row; `e` toggles the log; `q` or Ctrl-C end (status 0; a COMMAND still
//! running gets the SIGINT that Ctrl-C sends outside raw mode).
//!
//! The terminal is restored on every exit path: [`View`]'s drop (a `q`, a
//! signal, the end of `-d` or of the COMMAND, an error), and a panic hook
//! installed by [`View::new`] that restores before the process aborts (the
//! release profile is `panic = "abort"`). Restoring twice does nothing.
//! A resize (SIGWINCH, which also wakes the run loop through a pipe)
//! redraws at the new size. Everything from the traced processes is
//! escaped ([`crate::escape`]): no control byte reaches the terminal.

use std::io::{self, Stdout};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table, TableState};
use regex::Regex;

use super::batch::{COLUMNS, Facts, cells, human_ns};
use super::model::{Model, RowView, Snapshot};
use super::{By, TopOptions};
use crate::event::Totals;
use crate::interactive::{Control, Interactive};

/// Whether the terminal is in the view's state (raw, alternate screen).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Clear the screen and make the next draw write every cell, at the
/// terminal's current size. Not `Terminal::clear`, which asks the terminal
/// where its cursor is and fails when no answer comes within 2 s (a busy
/// machine, a slow multiplexer): the size comes from the kernel
/// (TIOCGWINSZ), and a full-screen resize clears without asking.
fn redraw_all(terminal: &mut Terminal<CrosstermBackend<Stdout>>) -> io::Result<()> {
    let size = terminal.size()?;
    terminal.resize(Rect::new(0, 0, size.width, size.height))
}

/// Put the terminal back as it was: cooked mode, main screen, cursor
/// shown. Safe to call from a panic hook, and more than once.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    }
}

/// Columns `c`, `n`, `f`, `l` sort by.
const SORT_CPU: usize = 8;
const SORT_EXECS: usize = 1;
const SORT_FAILED: usize = 4;
const SORT_LIFE: usize = 10;

/// The view; see the module docs.
pub struct View {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    winch: UnixStream,
    interval: Duration,
    next: Instant,
    by: By,
    facts: Facts,
    /// A COMMAND shares the terminal: redraw all of it every tick.
    full_redraw: bool,
    sort: usize,
    filter: Option<Regex>,
    /// The `/` line being typed, and the last error.
    typing: Option<String>,
    error: Option<String>,
    paused: bool,
    log: bool,
    /// Index in `rows` of the selected row, and of the first one shown.
    selected: usize,
    offset: usize,
    snap: Option<Snapshot>,
    /// The snapshot's rows, filtered and sorted.
    rows: Vec<RowView>,
    history: Vec<u64>,
    lost: u64,
}

impl View {
    /// Take the terminal (raw mode, alternate screen, cursor hidden) and
    /// install the panic hook and the resize pipe.
    pub fn new(opts: &TopOptions, facts: Facts, full_redraw: bool) -> io::Result<View> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGWINCH, write)?;
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            prev(info);
        }));
        ACTIVE.store(true, Ordering::SeqCst);
        enable_raw_mode()?;
        execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        redraw_all(&mut terminal)?;
        Ok(View {
            terminal,
            winch: read,
            interval: opts.interval,
            // The first picture at once (an empty table), then every interval.
            next: Instant::now(),
            by: opts.by,
            facts,
            full_redraw,
            sort: SORT_EXECS,
            filter: None,
            typing: None,
            error: None,
            paused: false,
            log: false,
            selected: 0,
            offset: 0,
            snap: None,
            rows: Vec::new(),
            history: Vec::new(),
            lost: 0,
        })
    }

    /// The snapshot's rows through the filter, in the sort order.
    fn arrange(&mut self) {
        let Some(s) = &self.snap else { return };
        self.rows = arrange(&s.rows, self.filter.as_ref(), self.sort);
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }

    fn refresh(&mut self, model: &Model) {
        self.snap = Some(model.snapshot(self.by));
        self.history = model.history().collect();
        self.arrange();
    }

    fn draw(&mut self, model: &Model) -> io::Result<()> {
        let log = if self.log { self.log_lines(model) } else { Vec::new() };
        let header = header_lines(self.snap.as_ref(), self.lost, &self.facts, self.by, self.paused);
        let status = self.status_line();
        let sort = self.sort;
        let fails = self.facts.fails;
        let show_log = self.log;
        let View { terminal, rows, history, selected, offset, .. } = self;
        let selected = *selected;
        terminal.draw(|f| {
            let area = f.area();
            let parts = Layout::default()
                .direction(Direction::Vertical)
                .constraints([Constraint::Length(4), Constraint::Min(3), Constraint::Length(1)])
                .split(area);
            let top = Layout::default()
                .direction(Direction::Horizontal)
                .constraints([Constraint::Min(40), Constraint::Length(32)])
                .split(parts[0]);
            f.render_widget(Paragraph::new(header), top[0]);
            // The newest rates that fit, right-aligned.
            let width = usize::from(top[1].width.saturating_sub(2));
            let data: Vec<u64> = history.iter().rev().take(width).rev().copied().collect();
            f.render_widget(
                Sparkline::default().block(Block::default().borders(Borders::ALL).title("execs/interval")).data(&data),
                top[1],
            );
            let (table_area, log_area) = if show_log {
                let halves = Layout::default()
                    .direction(Direction::Vertical)
                    .constraints([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .split(parts[1]);
                (halves[0], Some(halves[1]))
            } else {
                (parts[1], None)
            };
            // Only the rows that fit are formatted (a refresh with 10,000
            // keys formats a screenful), scrolled to keep the selected one.
            let height = usize::from(table_area.height.saturating_sub(1)).max(1);
            if selected < *offset {
                *offset = selected;
            } else if selected >= *offset + height {
                *offset = selected + 1 - height;
            }
            *offset = (*offset).min(rows.len().saturating_sub(height));
            let end = (*offset + height).min(rows.len());
            let shown = &rows[(*offset).min(end)..end];
            draw_table(f, table_area, shown, selected.saturating_sub(*offset), sort, fails);
            if let Some(a) = log_area {
                let height = usize::from(a.height.saturating_sub(2));
                let shown: Vec<Line> = log.iter().rev().take(height).rev().map(|l| Line::from(l.clone())).collect();
                let title = match rows.get(selected) {
                    Some(r) => format!("recent execs of {}", super::batch::key_text(r)),
                    None => "recent execs".into(),
                };
                f.render_widget(Paragraph::new(shown).block(Block::default().borders(Borders::ALL).title(title)), a);
            }
            f.render_widget(Paragraph::new(status), parts[2]);
        })?;
        Ok(())
    }

    /// The log of the selected row: one line per recent exec, escaped.
    fn log_lines(&self, model: &Model) -> Vec<String> {
        let Some(row) = self.rows.get(self.selected) else { return Vec::new() };
        model
            .recent_of(self.by, row)
            .map(|r| {
                let mut line = format!("{:>7} {:>7} ", r.pid, r.ppid);
                if r.ret < 0 {
                    let name = crate::errno::name(-r.ret).unwrap_or("?");
                    line.push_str(&format!("[{name}] "));
                }
                let args: Vec<String> = crate::event::split_area(&r.args).map(crate::escape::escape).collect();
                line.push_str(&args.join(" "));
                if r.args_cut {
                    line.push_str(" [...]");
                }
                line
            })
            .collect()
    }

    fn status_line(&self) -> String {
        if let Some(t) = &self.typing {
            return match &self.error {
                Some(e) => format!("/{t}   error: {e}"),
                None => format!("/{t}"),
            };
        }
        let filter = match &self.filter {
            Some(re) => format!("  filter /{}/", crate::escape::escape(re.as_str().as_bytes())),
            None => String::new(),
        };
        format!(
            "sort {} | c n f l sort  < > column  k key  / filter  p pause  e log  Up/Down select  q quit{filter}",
            COLUMNS[self.sort]
        )
    }

    /// One key, or a resize.
    fn event(&mut self, ev: Event, model: &Model) -> Control {
        let key = match ev {
            Event::Key(k) if k.kind != KeyEventKind::Release => k,
            _ => return Control::Go,
        };
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Control::End;
        }
        if let Some(t) = &mut self.typing {
            match key.code {
                KeyCode::Esc => {
                    self.typing = None;
                    self.error = None;
                }
                KeyCode::Enter => {
                    if t.is_empty() {
                        self.filter = None;
                        self.typing = None;
                        self.error = None;
                    } else {
                        match Regex::new(t) {
                            Ok(re) => {
                                self.filter = Some(re);
                                self.typing = None;
                                self.error = None;
                            }
                            Err(e) => self.error = Some(one_line(&e.to_string())),
                        }
                    }
                    self.arrange();
                }
                KeyCode::Backspace => {
                    t.pop();
                }
                KeyCode::Char(c) => t.push(c),
                _ => {}
            }
            return Control::Go;
        }
        match key.code {
            KeyCode::Char('q') => return Control::End,
            KeyCode::Char('c') => self.sort = SORT_CPU,
            KeyCode::Char('n') => self.sort = SORT_EXECS,
            KeyCode::Char('f') => self.sort = SORT_FAILED,
            KeyCode::Char('l') => self.sort = SORT_LIFE,
            KeyCode::Char('<') => self.sort = (self.sort + COLUMNS.len() - 1) % COLUMNS.len(),
            KeyCode::Char('>') => self.sort = (self.sort + 1) % COLUMNS.len(),
            KeyCode::Char('k') | KeyCode::Char('t') => {
                self.by = self.by.next();
                self.selected = 0;
                // A new key is a new picture, paused or not.
                self.refresh(model);
                return Control::Go;
            }
            KeyCode::Char('/') => {
                self.typing = Some(String::new());
                self.error = None;
            }
            KeyCode::Char('p') => self.paused = !self.paused,
            KeyCode::Char('e') => self.log = !self.log,
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down => self.selected += 1,
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::PageDown => self.selected += 10,
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.selected = usize::MAX,
            _ => {}
        }
        self.arrange();
        Control::Go
    }
}

impl Drop for View {
    fn drop(&mut self) {
        restore();
    }
}

impl Interactive<Model> for View {
    fn fds(&self) -> [RawFd; 2] {
        [io::stdin().as_raw_fd(), self.winch.as_raw_fd()]
    }

    fn next_deadline(&self) -> Option<Instant> {
        Some(self.next)
    }

    fn on_ready(&mut self, model: &mut Model, totals: &Totals) -> io::Result<Control> {
        self.lost = totals.lost;
        let mut buf = [0u8; 64];
        let mut resized = false;
        while let Ok(n) = io::Read::read(&mut &self.winch, &mut buf) {
            if n == 0 {
                break;
            }
            resized = true;
        }
        if resized {
            // A full redraw at the new size.
            redraw_all(&mut self.terminal)?;
        }
        while event::poll(Duration::ZERO)? {
            let ev = event::read()?;
            if self.event(ev, model) == Control::End {
                return Ok(Control::End);
            }
        }
        if self.snap.is_none() {
            self.refresh(model);
        }
        self.draw(model)?;
        Ok(Control::Go)
    }

    fn on_tick(&mut self, model: &mut Model, totals: &Totals) -> io::Result<Control> {
        let now = Instant::now();
        while self.next <= now {
            self.next += self.interval;
        }
        if !self.paused {
            self.lost = totals.lost;
            self.refresh(model);
        }
        model.roll();
        if !self.paused {
            // With the interval just ended.
            self.history = model.history().collect();
            if self.full_redraw {
                redraw_all(&mut self.terminal)?;
            }
            self.draw(model)?;
        }
        Ok(Control::Go)
    }

    fn on_end(&mut self, _: &mut Model, _: &Totals) -> io::Result<()> {
        Ok(())
    }
}

/// The rows the view shows: those whose key (as text) `filter` matches,
/// sorted by column `sort` of [`COLUMNS`] (the key ascending, a number
/// largest first, a blank last), "(other)" last.
pub fn arrange(rows: &[RowView], filter: Option<&Regex>, sort: usize) -> Vec<RowView> {
    let mut rows: Vec<RowView> = match filter {
        Some(re) => rows.iter().filter(|r| re.is_match(&super::batch::key_text(r))).cloned().collect(),
        None => rows.to_vec(),
    };
    rows.sort_by(|a, b| {
        a.other.cmp(&b.other).then_with(|| {
            if sort == 0 {
                a.key.cmp(&b.key)
            } else {
                sort_value(b, sort).total_cmp(&sort_value(a, sort)).then(a.key.cmp(&b.key))
            }
        })
    });
    rows
}

/// What column `col` sorts by (larger first); a blank sorts last.
fn sort_value(r: &RowView, col: usize) -> f64 {
    let opt = |v: Option<u64>| v.map_or(-1.0, |v| v as f64);
    match col {
        1 => r.execs as f64,
        2 => r.execs_total as f64,
        3 => r.rate,
        4 => r.failed as f64,
        5 => r.exit_ok as f64,
        6 => r.exit_err as f64,
        7 => r.exit_sig as f64,
        8 => opt(r.cpu_ns),
        9 => opt(r.cpu_mean_ns),
        10 => opt(r.life_mean_ns),
        11 => opt(r.life_p95_ns),
        _ => r.running as f64,
    }
}

fn header_lines(s: Option<&Snapshot>, lost: u64, facts: &Facts, by: By, paused: bool) -> Vec<Line<'static>> {
    let Some(s) = s else {
        return vec![Line::from(format!(
            "execsnoop --top: source {}, by {}: waiting for the first interval",
            facts.source,
            by.as_str()
        ))];
    };
    let mut first = format!(
        "execsnoop --top  source {}  by {}  elapsed {}",
        facts.source,
        by.as_str(),
        human_ns(s.elapsed.as_nanos() as u64)
    );
    if paused {
        first.push_str("  [PAUSED]");
    }
    let failed = if facts.fails { s.failed_total.to_string() } else { "-".into() };
    let second = format!(
        "execs/s {:.1} now, {:.1} avg  execs {}  failed {}  exits {}  lost {}  keys {}{}",
        s.rate_now(),
        s.rate_avg(),
        s.execs_total,
        failed,
        s.exits_total,
        lost,
        s.keys,
        if s.folded { " (+other)" } else { "" }
    );
    let third =
        if facts.filters.is_empty() { "filters: none".to_string() } else { format!("filters: {}", facts.filters) };
    let mut lines = vec![Line::from(first), Line::from(second), Line::from(third)];
    if s.untracked > 0 {
        lines.push(Line::from(format!("{} execs not counted as running (too many at once)", s.untracked)));
    }
    lines
}

fn draw_table(f: &mut ratatui::Frame<'_>, area: Rect, rows: &[RowView], selected: usize, sort: usize, fails: bool) {
    let data: Vec<[String; 13]> = rows.iter().map(|r| cells(r, fails)).collect();
    let mut widths: Vec<u16> = COLUMNS.iter().map(|c| c.len() as u16 + 1).collect();
    for c in &data {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count() as u16);
        }
    }
    // The key takes what the numbers leave, at least 8 columns.
    let numbers: u16 = widths[1..].iter().sum::<u16>() + 12;
    widths[0] = widths[0].min(area.width.saturating_sub(numbers).max(8));
    let header = Row::new(COLUMNS.iter().enumerate().map(|(i, c)| {
        let label = if i == sort { format!("{c}*") } else { (*c).to_string() };
        if i == 0 { Cell::from(label) } else { Cell::from(Line::from(label).right_aligned()) }
    }))
    .style(Style::default().add_modifier(Modifier::REVERSED));
    // Numbers right-aligned, the key left.
    let body = data.into_iter().map(|c| {
        Row::new(
            c.into_iter()
                .enumerate()
                .map(|(i, s)| if i == 0 { Cell::from(s) } else { Cell::from(Line::from(s).right_aligned()) }),
        )
    });
    let table = Table::new(body, widths.iter().map(|&w| Constraint::Length(w)))
        .header(header)
        .row_highlight_style(Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED));
    let mut state = TableState::default();
    if !rows.is_empty() {
        state.select(Some(selected.min(rows.len() - 1)));
    }
    f.render_stateful_widget(table, area, &mut state);
}

fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let last = lines.last().copied().unwrap_or("invalid regex");
    crate::escape::escape(last.strip_prefix("error: ").unwrap_or(last).as_bytes())
}
