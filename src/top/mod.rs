//! `--top`: a live, aggregated view of what runs, including what lives for a
//! millisecond. This module owns the option types of `--top`
//! ([`TopOptions`], [`By`]), the aggregation ([`model`]: an observer in the
//! run loop's pipe, beside the summary and the metrics), the full-screen
//! terminal view ([`view`]) and the plain outputs for when there is no
//! terminal ([`batch`]: one text table, or one JSON `interval` record, per
//! interval). The view and the batch printer are the run loop's interactive
//! front end ([`crate::interactive::Interactive`]): they read the model on
//! every tick of `--interval` and, for the view, on every key.

pub mod batch;
pub mod model;
pub mod view;

use std::time::Duration;

pub use model::Model;
/// The records the model is fed (for the benchmark that feeds it).
pub use crate::event::{Exec, Exit, ExitStatus};

/// What a row of `--top` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum By {
    /// The process name after the exec (a failed attempt: the last
    /// component of the path tried, cut to 15 bytes, as `--summary` does).
    #[default]
    Comm,
    /// The file name the exec was given.
    Exe,
    /// The real user: its name from /etc/passwd, else the number.
    User,
    /// The parent's name.
    Parent,
    /// The container id (12 characters); blank on the host.
    Container,
    /// The systemd unit from the cgroup path (the deepest `.service` or
    /// `.scope` component); blank when none.
    Unit,
    /// The cgroup v2 path.
    Cgroup,
}

impl By {
    /// Every key, in the order `k` cycles through them.
    pub const ALL: [By; 7] = [By::Comm, By::Exe, By::User, By::Parent, By::Container, By::Unit, By::Cgroup];

    /// Its name, as on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            By::Comm => "comm",
            By::Exe => "exe",
            By::User => "user",
            By::Parent => "parent",
            By::Container => "container",
            By::Unit => "unit",
            By::Cgroup => "cgroup",
        }
    }

    /// The key called `name`.
    pub fn named(name: &str) -> Option<By> {
        By::ALL.into_iter().find(|b| b.as_str() == name)
    }

    /// Its place in [`By::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The next key (`k` in the view).
    pub fn next(self) -> By {
        By::ALL[(self.index() + 1) % By::ALL.len()]
    }
}

/// How `--top` shows what it adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopMode {
    /// The full-screen view (stdin and stdout are terminals).
    View,
    /// One plain table per interval (`--batch`, or no terminal).
    Text,
    /// One JSON `interval` record per interval (`--json`).
    Json,
}

/// `--top` and its options, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopOptions {
    /// `--top-by`: the key rows start with (switched live with `k`).
    pub by: By,
    /// `--top-keys`: rows of their own per key kind, at most; the rest
    /// share one "(other)" row.
    pub keys: usize,
    /// `--interval`: how often the view refreshes, or a table is printed.
    pub interval: Duration,
    /// `--batch`: plain tables even on a terminal.
    pub batch: bool,
    /// `--json`: interval records.
    pub json: bool,
    /// The filters in force, as the header shows them (`-n sh -u 0`).
    pub filters: String,
}

/// Rows per key kind unless `--top-keys` says otherwise.
pub const KEYS_DEFAULT: usize = 10_000;
/// `--top-keys` at most.
pub const KEYS_MAX: usize = 1_000_000;

impl TopOptions {
    /// The mode, given whether stdin and stdout are terminals.
    pub fn mode(&self, terminal: bool) -> TopMode {
        if self.json {
            TopMode::Json
        } else if self.batch || !terminal {
            TopMode::Text
        } else {
            TopMode::View
        }
    }
}
