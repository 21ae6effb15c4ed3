//! Redaction: what is hidden before any sink sees a record. Arguments and
//! environments are attacker- and user-controlled and often carry secrets;
//! execsnoop's output goes to terminals, files and log pipelines.
//!
//! * Environment (`--env`), on unless `--no-redact`: the value of every
//!   variable whose name, in any case, contains one of [`SECRET_NAMES`]
//!   becomes `<redacted>` (the name stays, so it is seen that it was set):
//!   `GITHUB_TOKEN=abc` shows as `GITHUB_TOKEN=<redacted>`.
//! * Arguments, with `--redact REGEX` (any number): every match in an
//!   argument (matched on its raw bytes, each argument alone) becomes
//!   `<redacted>`, and the record says so (`args_redacted`).
//!
//! The line filter (`-l`) sees the arguments before redaction: it selects,
//! it does not show.

use regex::bytes::Regex;

use crate::config::ContextOptions;
use crate::event::Exec;

/// What replaces a secret.
pub const REDACTED: &[u8] = b"<redacted>";

/// Parts of variable names that mark a value as secret (matched in any
/// case, anywhere in the name).
pub const SECRET_NAMES: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "COOKIE",
];

/// The redaction of one run.
#[derive(Debug, Clone, Default)]
pub struct Redact {
    env: bool,
    args: Vec<Regex>,
}

impl Redact {
    pub fn new(c: &ContextOptions) -> Redact {
        Redact { env: c.redact_env, args: c.redact_args.clone() }
    }

    /// Redact `e` in place.
    pub fn exec(&self, e: &mut Exec) {
        if self.env && !e.env.is_empty() {
            e.env = redact_env(&e.env);
        }
        if !self.args.is_empty() && !e.args.is_empty() {
            let (args, changed) = redact_args(&e.args, &self.args);
            if changed {
                e.args = args;
                e.flags.args_redacted = true;
            }
        }
    }
}

/// Whether a variable of this name holds a secret.
pub fn secret_name(name: &[u8]) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAMES.iter().any(|s| upper.windows(s.len()).any(|w| w == s.as_bytes()))
}

/// An environment block (NUL-separated `NAME=value`, the last one possibly
/// cut) with the values of secret names replaced.
fn redact_env(area: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(area.len());
    for (i, var) in area.split(|&b| b == 0).enumerate() {
        if i > 0 {
            out.push(0);
        }
        match var.iter().position(|&b| b == b'=') {
            Some(eq) if secret_name(&var[..eq]) => {
                out.extend_from_slice(&var[..=eq]);
                out.extend_from_slice(REDACTED);
            }
            _ => out.extend_from_slice(var),
        }
    }
    out
}

/// The argument area with every match of `res` in each argument replaced;
/// and whether anything was.
fn redact_args(area: &[u8], res: &[Regex]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(area.len());
    let mut changed = false;
    for (i, arg) in area.split(|&b| b == 0).enumerate() {
        if i > 0 {
            out.push(0);
        }
        let mut cur = arg.to_vec();
        for re in res {
            if re.is_match(&cur) {
                cur = re.replace_all(&cur, REDACTED).into_owned();
                changed = true;
            }
        }
        out.extend_from_slice(&cur);
    }
    (out, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_in_any_case() {
        for name in
            ["GITHUB_TOKEN", "PASSWORD", "db_password", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "MyApiKey"]
        {
            assert!(secret_name(name.as_bytes()), "{name}");
        }
        for name in ["FOO", "PATH", "HOME", "LANG", "TERM"] {
            assert!(!secret_name(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn env_values_of_secret_names_are_redacted_names_kept() {
        let area = b"FOO=1\0GITHUB_TOKEN=abc\0PASSWORD=x\0EMPTY=\0NOEQUALS\0PATH=/bin\0";
        assert_eq!(
            redact_env(area),
            b"FOO=1\0GITHUB_TOKEN=<redacted>\0PASSWORD=<redacted>\0EMPTY=\0NOEQUALS\0PATH=/bin\0".to_vec()
        );
        // A block cut mid-value: the part kept is redacted all the same.
        assert_eq!(redact_env(b"A=1\0API_KEY=abcd"), b"A=1\0API_KEY=<redacted>".to_vec());
    }

    #[test]
    fn argument_matches_are_redacted() {
        let res = [Regex::new(r"--password=\S+").unwrap()];
        let (out, changed) = redact_args(b"mysql\0--user=a\0--password=hunter2\0db\0", &res);
        assert!(changed);
        assert_eq!(out, b"mysql\0--user=a\0<redacted>\0db\0".to_vec());
        let (out, changed) = redact_args(b"ls\0-l\0", &res);
        assert!(!changed);
        assert_eq!(out, b"ls\0-l\0".to_vec());
    }

    #[test]
    fn off_with_no_redact() {
        let r = Redact::default();
        let mut e = Exec { env: b"TOKEN=x\0".to_vec(), args: b"a\0".to_vec(), ..Exec::default() };
        r.exec(&mut e);
        assert_eq!(e.env, b"TOKEN=x\0");
    }
}
