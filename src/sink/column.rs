//! The text format's columns, registered once: name, width, alignment, the
//! option that shows it and what stands in it on an exit line. The header,
//! the rows, the `-e` exit lines, `--wait`'s columns and the help's "Column
//! order" line all read this table ([`COLUMNS`]), so a column is added in
//! one place (plus how its value is written, in [`super::text`]).

use super::text::{ExitDisplay, TextOptions};

/// A text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    BootTime,
    WallTime,
    Uid,
    Pcomm,
    Pid,
    Ppid,
    Ret,
    /// `--wait`'s EXIT, TIME(s) and CPU(s), filled in when the process ends.
    Wait,
    Cgroup,
    Container,
    Cwd,
    Args,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// What an `-e` exit line shows in a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnExit {
    /// The exit's own value (its time, pid, ppid; its status in ARGS).
    Value,
    /// Nothing: spaces to the width.
    Blank,
    /// `-`, padded to the width.
    Dash,
}

/// One column of the table.
#[derive(Debug)]
pub(crate) struct Column {
    pub col: Col,
    /// Its header, laid out (`--wait`'s three sub-columns in one).
    pub header: &'static str,
    /// As the help's column line names it.
    pub help: &'static str,
    /// Values are padded to this many characters (0: not padded); wider
    /// values are never cut, they push the rest of the row right.
    pub width: usize,
    pub align: Align,
    /// Shown only with an option (in brackets in the help's line).
    pub optional: bool,
    /// Shown instead of the previous column, never with it (`-t` / `-T`).
    pub alternative: bool,
    pub on_exit: OnExit,
}

const fn column(col: Col, header: &'static str, width: usize, align: Align, on_exit: OnExit) -> Column {
    Column { col, header, help: header, width, align, optional: true, alternative: false, on_exit }
}

/// Every column, in the order of a row.
pub(crate) const COLUMNS: [Column; 12] = [
    column(Col::BootTime, "TIMEs", 16, Align::Left, OnExit::Value),
    Column { alternative: true, ..column(Col::WallTime, "TIME", 8, Align::Left, OnExit::Value) },
    column(Col::Uid, "UID", 6, Align::Left, OnExit::Blank),
    column(Col::Pcomm, "PCOMM", 16, Align::Left, OnExit::Blank),
    Column { optional: false, ..column(Col::Pid, "PID", 6, Align::Right, OnExit::Value) },
    Column { optional: false, ..column(Col::Ppid, "PPID", 6, Align::Right, OnExit::Value) },
    column(Col::Ret, "RET", 3, Align::Right, OnExit::Blank),
    // Laid out as push_wait_cols writes its values: EXIT %-8s, TIME(s) and
    // CPU(s) %8s.
    Column { help: "EXIT TIME(s) CPU(s)", ..column(Col::Wait, "EXIT      TIME(s)   CPU(s)", 0, Align::Left, OnExit::Blank) },
    column(Col::Cgroup, "CGROUP", 0, Align::Left, OnExit::Dash),
    column(Col::Container, "CONTAINER", 12, Align::Left, OnExit::Dash),
    column(Col::Cwd, "CWD", 0, Align::Left, OnExit::Dash),
    Column { optional: false, ..column(Col::Args, "ARGS", 0, Align::Left, OnExit::Value) },
];

/// The table's entry for `col`.
pub(crate) fn spec(col: Col) -> &'static Column {
    // The table is in the enum's order (a test holds this): an index, not a
    // search, on every cell of every row.
    &COLUMNS[col as usize]
}

/// The columns these options show, in row order.
pub(crate) fn shown(opts: &TextOptions, cgroups: bool) -> Vec<Col> {
    COLUMNS
        .iter()
        .map(|c| c.col)
        .filter(|&col| match col {
            Col::BootTime => opts.boot_time,
            Col::WallTime => opts.wall_time && !opts.boot_time,
            Col::Uid => opts.uid,
            Col::Pcomm => opts.pcomm,
            Col::Ret => opts.ret,
            Col::Wait => opts.exits == ExitDisplay::Wait,
            Col::Cgroup => cgroups,
            Col::Container => opts.container,
            Col::Cwd => opts.cwd,
            Col::Pid | Col::Ppid | Col::Args => true,
        })
        .collect()
}

/// The help's "Column order" list: `[TIMEs|TIME] [UID] ... ARGS`.
pub(crate) fn help_line() -> String {
    let mut out = String::new();
    for (i, c) in COLUMNS.iter().enumerate() {
        let next_is_alternative = COLUMNS.get(i + 1).is_some_and(|n| n.alternative);
        if c.alternative {
            out.push('|');
        } else if !out.is_empty() {
            out.push(' ');
        }
        if c.optional && !c.alternative {
            out.push('[');
        }
        out.push_str(c.help);
        if c.optional && !next_is_alternative {
            out.push(']');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{COLUMNS, Col, help_line, spec};

    #[test]
    fn every_column_once_args_last() {
        for (i, c) in COLUMNS.iter().enumerate() {
            assert_eq!(c.col as usize, i, "COLUMNS is in Col's order");
            assert_eq!(spec(c.col).header, c.header);
            assert_eq!(COLUMNS.iter().filter(|d| d.col == c.col).count(), 1, "{:?}", c.col);
            assert_eq!(c.col == Col::Args, i == COLUMNS.len() - 1);
        }
    }

    #[test]
    fn the_help_names_the_columns_in_order() {
        assert_eq!(
            help_line(),
            "[TIMEs|TIME] [UID] [PCOMM] PID PPID [RET] [EXIT TIME(s) CPU(s)] [CGROUP] [CONTAINER] [CWD] ARGS"
        );
        let flat = crate::cli::after_help().split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&format!("Column order: {}.", help_line())), "the --help column line is the table's");
    }

    #[test]
    fn the_wait_header_lines_up_with_its_values() {
        // The values, then a space: as wide as the header and its space.
        assert_eq!(spec(Col::Wait).header.len() + 1, super::super::text::WAIT_BLANK.len());
    }
}
