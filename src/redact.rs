//! Redaction: what is hidden before any sink sees a record. Arguments and
//! environments are attacker- and user-controlled and often carry secrets;
//! execsnoop's output goes to terminals, files and log pipelines. This module
//! owns the default rules, `--redact REGEX`, and what a redacted record says
//! about itself; `--no-redact` turns all of it off.
//!
//! Every rule finds byte ranges of the captured area (arguments or
//! environment) to hide; the ranges are merged and each becomes `<redacted>`.
//! Argument and variable boundaries survive (the NUL separators are never
//! replaced: a range that spans two arguments hides a part of each, and the
//! argument count does not change). The rules, on by default:
//!
//! * Names ([`Rules::secret_name`]), for every environment entry and every argument
//!   of the form `NAME=value` (as `env NAME=value cmd` and
//!   `sudo NAME=value cmd` pass it; NAME `[A-Za-z_][A-Za-z0-9_]*`): the value
//!   is hidden, the name kept, when the name, in any case, contains one of
//!   [`SECRET_NAMES`], or its last `_`-separated component is one of
//!   [`SECRET_SUFFIXES`] (`MYSQL_PWD`, `DB_PASS`, `SIGNING_KEY`; not `PWD`,
//!   `OLDPWD`, `KEYMAP`), or it is one of [`SECRET_WHOLE_NAMES`]
//!   (`SSHPASS`, `JWT`, `AUTHORIZATION`). A name whose last component is one
//!   of [`LOCATION_SUFFIXES`] names where a secret is, not the secret
//!   (`POSTGRES_PASSWORD_FILE=/run/secrets/pg`): it is not judged by name;
//!   `*_PUBLIC_KEY` and `*_PUB_KEY` are not secret either.
//! * Values ([`VALUE_RULES`]), anywhere in an argument or an environment
//!   entry, whatever its name: the password of a `scheme://user:pass@host`
//!   URL (scheme, user and host stay), the credentials after `Bearer` or
//!   `Basic`, the value of an `Authorization:`, `Cookie:` or API-key header
//!   (`curl -H 'Authorization: Bearer ...'`), AWS access key ids, GitHub,
//!   GitLab, npm, Slack, Stripe and Google API key shapes, the body of a
//!   PEM private key, and JWTs.
//! * Options: the value of an option whose name ends in a secret word
//!   ([`SECRET_OPTION_WORDS`]: `--password`, `--db-password`, `--token`,
//!   `--client-secret`, `--api-key`; not `--no-password` or
//!   `--password-file`), given as `--opt=value` or as the next argument
//!   (unless that looks like an option itself: `--x...` or `-X`); the
//!   single-dash words of openssl and keytool (`-pass`, `-passin`,
//!   `-storepass`, ...). After an argument naming mysql or mariadb, `-pVALUE`;
//!   after sshpass, `-p VALUE`; after curl, the password of
//!   `-u`/`--user`/`-U`/`--proxy-user USER:PASS`; after `docker login`
//!   (podman, nerdctl, buildah, skopeo), `-p VALUE`.
//! * `--redact REGEX` (any number): matched against the command line, the
//!   arguments joined by single spaces (as `-l` sees it), so one match may
//!   span arguments; and against each environment entry. A regex with
//!   capture groups hides what its groups matched (so
//!   `(?:--password|-p)(?:\s+|=)(\S*)` keeps `--password` and hides the
//!   value), one without hides the whole match.
//!
//! A record with anything hidden says so: `redacted: true` in JSON, a
//! `[redacted]` note in text. Its sizes (`args_size`, `env_size`) count the
//! bytes shown, `<redacted>` included, so they reveal no secret's length;
//! `args_truncated` stays what the capture was (a hidden secret is not a cut).
//!
//! The line filter (`-l`) sees the arguments before redaction: it selects,
//! it does not show.
//!
//! Cost: this runs on the arguments of every exec shown (and the environment
//! with `--env`). An area with no candidate costs one scan by the combined
//! value regex (which skips ahead on its literal prefixes) and a few byte
//! comparisons per argument or entry, and allocates nothing; the scratch
//! buffers are reused.

use aho_corasick::AhoCorasick;
use memchr::{memchr, memrchr};
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

/// Last `_`-separated components of a name (of two components or more)
/// that mark its value as secret, in any case: `MYSQL_PWD`, `DB_PASS`,
/// `LDAP_BIND_PW`, `ENCRYPTION_KEY`, `NPM_AUTH`, `SENTRY_DSN`.
pub const SECRET_SUFFIXES: &[&str] = &["PASS", "PWD", "PW", "KEY", "AUTH", "DSN", "JWT", "CREDS", "AUTHORIZATION"];

/// Whole names, in any case, whose value is secret.
pub const SECRET_WHOLE_NAMES: &[&str] = &["SSHPASS", "JWT", "AUTHORIZATION", "PASS", "DSN", "AUTH"];

/// Last components that make a name say where a secret is, not what it is
/// (`POSTGRES_PASSWORD_FILE`, `PASSWORD_STORE_DIR`): not judged by name
/// (the value rules still apply).
pub const LOCATION_SUFFIXES: &[&str] = &["FILE", "PATH", "DIR"];

/// Last `-`/`_`-separated words of a long option (`--db-password`) whose
/// value is secret, in any case; `api key`, `access key` and `secret key`
/// as the last two words too.
pub const SECRET_OPTION_WORDS: &[&str] =
    &["password", "passwd", "pass", "pwd", "passphrase", "token", "secret", "apikey", "credentials", "auth", "bearer"];

/// Two-word endings of long options whose value is secret.
const SECRET_OPTION_PAIRS: &[(&str, &str)] = &[("api", "key"), ("access", "key"), ("secret", "key")];

/// Single-dash options of openssl and keytool whose value is secret.
const SECRET_SINGLE_DASH: &[&str] = &[
    "pass",
    "password",
    "passwd",
    "token",
    "secret",
    "passin",
    "passout",
    "storepass",
    "keypass",
    "srcstorepass",
    "deststorepass",
    "srckeypass",
    "destkeypass",
];

/// mysql and mariadb programs, whose `-pVALUE` is the password.
const MYSQL_PROGRAMS: &[&str] = &[
    "mysql",
    "mysqldump",
    "mysqladmin",
    "mysqlimport",
    "mysqlshow",
    "mysqlcheck",
    "mysqlslap",
    "mariadb",
    "mariadb-dump",
    "mariadb-admin",
    "mariadb-import",
    "mariadb-show",
    "mariadb-check",
    "mariadb-slap",
];

/// Container tools, whose `login -p VALUE` is the password.
const CONTAINER_PROGRAMS: &[&str] = &["docker", "podman", "nerdctl", "buildah", "skopeo"];

/// The value rules: what each finds and its regex (bytes, ASCII, one capture
/// group: the part hidden). No class matches NUL, so a match never crosses
/// from one argument or entry into the next. Each starts with a literal (a
/// few spellings at most), which lets the combined regex skip ahead.
pub const VALUE_RULES: &[(&str, &str)] = &[
    ("the password of scheme://user:pass@host", r"://[^\x00\s/?#@:]*:([^\x00\s/?#]+)@"),
    (
        "an Authorization, Cookie or API-key header's value (after its scheme word)",
        r"(?:[Aa]uthorization|AUTHORIZATION|[Cc]ookie|COOKIE|[Xx]-[Aa]pi-[Kk]ey|X-API-KEY|[Aa]pi-[Kk]ey|[Pp]rivate-[Tt]oken|PRIVATE-TOKEN|[Xx]-[Aa]uth-[Tt]oken|X-AUTH-TOKEN|[Xx]-[Vv]ault-[Tt]oken|X-VAULT-TOKEN)[ \t]*:[ \t]*(?:(?:[Bb]earer|BEARER|[Bb]asic|BASIC|[Tt]oken|[Dd]igest|[Nn]egotiate)[ \t]+)?([^\x00]+)",
    ),
    ("Bearer or Basic credentials", r"(?:[Bb]earer|BEARER|Basic|BASIC)[ \t]+([A-Za-z0-9._~+/=-]{8,})"),
    ("an AWS access key id", r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b"),
    ("a GitHub token", r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})"),
    ("a GitLab token", r"\b(glpat-[A-Za-z0-9_-]{20,})"),
    ("an npm token", r"\b(npm_[A-Za-z0-9]{36})"),
    ("a Slack token", r"\b(xox[abprs]-[A-Za-z0-9-]{10,})"),
    ("a Stripe live key", r"\b((?:sk|rk)_live_[A-Za-z0-9]{16,})"),
    ("a Google API key", r"\b(AIza[0-9A-Za-z_-]{35})"),
    (
        "the body of a PEM private key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----([^\x00]*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\x00|\z)",
    ),
    ("a JWT", r"\b(eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)"),
];

/// The default rules, compiled once.
#[derive(Debug, Clone)]
struct Rules {
    /// All of [`VALUE_RULES`] as one regex (group i+1 is rule i's part).
    values: Regex,
    /// [`SECRET_NAMES`], ASCII case-insensitive.
    names: AhoCorasick,
}

impl Rules {
    fn new() -> Result<Rules, String> {
        let combined = VALUE_RULES.iter().map(|(_, re)| format!("(?:{re})")).collect::<Vec<_>>().join("|");
        let values = Regex::new(&format!("(?-u){combined}")).map_err(|e| e.to_string())?;
        let names =
            AhoCorasick::builder().ascii_case_insensitive(true).build(SECRET_NAMES).map_err(|e| e.to_string())?;
        Ok(Rules { values, names })
    }
}

/// A byte range of an area to hide.
type Span = (usize, usize);

/// The redaction of one run (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Redact {
    /// The default rules; `None` with `--no-redact`.
    rules: Option<Rules>,
    /// `--redact`.
    extra: Vec<Regex>,
    /// Scratch, reused for every record: the ranges found, the command
    /// line for `--redact`, the rebuilt area.
    spans: Vec<Span>,
    line: Vec<u8>,
    out: Vec<u8>,
    /// Environments redacted lately, with their results.
    envs: SeenEnvs,
}

impl Redact {
    /// The redaction `c` asks for. Fails only if a default rule does not
    /// compile (a bug, caught by the unit tests).
    pub fn new(c: &ContextOptions) -> Result<Redact, String> {
        let rules = if c.redact { Some(Rules::new()?) } else { None };
        Ok(Redact { rules, extra: c.redact_extra.clone(), ..Redact::default() })
    }

    /// Redact `e` in place: arguments, then the environment; mark it and
    /// make its sizes count what is shown.
    pub fn exec(&mut self, e: &mut Exec) {
        let Some(rules) = &self.rules else { return };
        if !e.args.is_empty() {
            self.spans.clear();
            arg_spans(rules, &e.args, &mut self.spans);
            if !self.extra.is_empty() {
                command_line(&e.args, &mut self.line);
                for re in &self.extra {
                    regex_spans(re, &self.line, 0, &mut self.spans);
                }
            }
            if rebuild(&e.args, &mut self.spans, &mut self.out) {
                e.args_size = resize(e.args_size, e.args.len(), self.out.len());
                std::mem::swap(&mut e.args, &mut self.out);
                e.flags.args_redacted = true;
            }
        }
        if !e.env.is_empty() {
            let redacted = match self.envs.find(&e.env) {
                Some(seen) => seen.redacted.then_some(&seen.shown),
                None => {
                    self.spans.clear();
                    env_spans(rules, &self.extra, &e.env, &mut self.spans);
                    let changed = rebuild(&e.env, &mut self.spans, &mut self.out);
                    Some(self.envs.remember(&e.env, changed, &self.out)).filter(|seen| seen.redacted).map(|seen| &seen.shown)
                }
            };
            if let Some(shown) = redacted {
                e.env_size = resize(e.env_size, e.env.len(), shown.len());
                e.env.clear();
                e.env.extend_from_slice(shown);
                e.flags.env_redacted = true;
            }
        }
    }
}

/// The environments redacted lately, with what each became: a process's
/// children mostly inherit its environment unchanged, so the same area
/// comes again and again (every exec of a build, a shell loop or a storm),
/// and finding it here (a length check, then one comparison) spares the
/// name and value rules. The result depends on the bytes alone (the rules
/// are fixed for the run), so a hit is exactly what redacting again would
/// give. Bounded: [`SeenEnvs::MAX`] areas of at most
/// [`SeenEnvs::AREA_MAX`] bytes; a new one takes the oldest one's place
/// (and buffers), so nothing is allocated once they are all in use.
#[derive(Debug, Clone, Default)]
struct SeenEnvs {
    seen: Vec<SeenEnv>,
    /// The slot the next new area takes, once all are in use.
    next: usize,
}

#[derive(Debug, Clone, Default)]
struct SeenEnv {
    area: Vec<u8>,
    /// Whether the rules hid anything; `shown` is the result when they did.
    redacted: bool,
    shown: Vec<u8>,
}

impl SeenEnvs {
    const MAX: usize = 8;
    const AREA_MAX: usize = 16 * 1024;

    fn find(&self, area: &[u8]) -> Option<&SeenEnv> {
        self.seen.iter().find(|s| s.area.len() == area.len() && s.area == area)
    }

    /// Keep `area` with its result (not kept when too large); returns the entry,
    /// or for an area too large to keep, a scratch one.
    fn remember(&mut self, area: &[u8], redacted: bool, shown: &[u8]) -> &SeenEnv {
        let slot = if self.seen.len() < Self::MAX {
            self.seen.push(SeenEnv::default());
            self.seen.len() - 1
        } else {
            let i = self.next % Self::MAX;
            self.next = i + 1;
            i
        };
        let s = &mut self.seen[slot];
        s.area.clear();
        s.shown.clear();
        s.redacted = redacted;
        if redacted {
            s.shown.extend_from_slice(shown);
        }
        if area.len() <= Self::AREA_MAX {
            s.area.extend_from_slice(area);
        } else {
            // Too large to keep: the slot holds the result for this record
            // only (an empty area matches no environment: they are not empty here).
        }
        &self.seen[slot]
    }
}

/// A size of an area after its captured part changed from `old` to `new`
/// bytes (what was not captured still counts).
fn resize(size: u32, old: usize, new: usize) -> u32 {
    let n = i64::from(size) - old as i64 + new as i64;
    n.clamp(0, i64::from(u32::MAX)) as u32
}

impl Rules {
    /// Whether a variable of this name holds a secret (see the module
    /// documentation).
    pub fn secret_name(&self, name: &[u8]) -> bool {
        if name.is_empty() {
            return false;
        }
        let (head, last) = match memrchr(b'_', name) {
            Some(i) => (Some(&name[..i]), &name[i + 1..]),
            None => (None, name),
        };
        if in_ci(last, LOCATION_SUFFIXES) {
            return false;
        }
        match head {
            Some(head) if in_ci(last, SECRET_SUFFIXES) => {
                let prev = memrchr(b'_', head).map_or(head, |i| &head[i + 1..]);
                let public = last.eq_ignore_ascii_case(b"KEY")
                    && (prev.eq_ignore_ascii_case(b"PUBLIC") || prev.eq_ignore_ascii_case(b"PUB"));
                if !public {
                    return true;
                }
            }
            Some(_) => {}
            None if in_ci(name, SECRET_WHOLE_NAMES) => return true,
            None => {}
        }
        self.names.is_match(name)
    }
}

/// `s` equals one of `set`, in any ASCII case.
fn in_ci(s: &[u8], set: &[&str]) -> bool {
    set.iter().any(|w| w.len() == s.len() && w.as_bytes().eq_ignore_ascii_case(s))
}

/// `NAME` of a `NAME=value` string when NAME is a plausible variable name.
fn var_name(s: &[u8]) -> Option<usize> {
    let eq = memchr(b'=', s)?;
    let name = &s[..eq];
    let first = *name.first()?;
    let ok =
        (first.is_ascii_alphabetic() || first == b'_') && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then_some(eq)
}

/// The strings of a NUL-separated area with their offsets (a cut last one
/// included; the terminator of the last one is not a string).
fn strings(area: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= area.len() {
            return None;
        }
        let start = pos;
        let end = memchr(0, &area[start..]).map_or(area.len(), |i| start + i);
        pos = end + 1;
        Some((start, &area[start..end]))
    })
}

/// Push `(start, end)` unless empty.
fn push(spans: &mut Vec<Span>, start: usize, end: usize) {
    if end > start {
        spans.push((start, end));
    }
}

/// What the value rules find in `area`, outside the spans already found
/// (sorted, not overlapping: those of the name and option rules, which hide
/// whole values; a value they hide is not searched again).
fn value_spans(rules: &Rules, area: &[u8], spans: &mut Vec<Span>) {
    let hidden = spans.len();
    let mut from = 0;
    for i in 0..=hidden {
        let to = if i < hidden { spans[i].0 } else { area.len() };
        if to > from {
            value_spans_in(rules, &area[..to], from, spans);
        }
        if i < hidden {
            from = from.max(spans[i].1);
        }
    }
}

/// What the value rules find in `hay` from `from` on.
fn value_spans_in(rules: &Rules, hay: &[u8], from: usize, spans: &mut Vec<Span>) {
    // The common case, nothing: one scan, no allocation.
    let Some(first) = rules.values.find_at(hay, from) else { return };
    let mut locs = rules.values.capture_locations();
    let mut at = first.start();
    while at <= hay.len() {
        let Some(m) = rules.values.captures_read_at(&mut locs, hay, at) else { break };
        if let Some((s, e)) = (1..locs.len()).find_map(|g| locs.get(g)) {
            push(spans, s, e);
        }
        at = if m.end() > m.start() { m.end() } else { m.end() + 1 };
    }
}

/// What a secret option (already lowered to its name, without dashes and
/// value) is.
fn secret_long_option(name: &[u8]) -> bool {
    if name.len() >= 3 && name[..3].eq_ignore_ascii_case(b"no-") {
        return false;
    }
    let mut words = name.rsplit(|&b| b == b'-' || b == b'_');
    let Some(last) = words.next() else { return false };
    if in_ci(last, SECRET_OPTION_WORDS) {
        return true;
    }
    let prev = words.next().unwrap_or_default();
    SECRET_OPTION_PAIRS
        .iter()
        .any(|(a, b)| prev.eq_ignore_ascii_case(a.as_bytes()) && last.eq_ignore_ascii_case(b.as_bytes()))
}

/// An argument that reads as an option rather than a value: `--x...` or
/// `-X` (a value after `--password` that is one is left alone).
fn looks_like_option(arg: &[u8]) -> bool {
    (arg.len() > 2 && arg.starts_with(b"--") && arg[2].is_ascii_alphabetic())
        || (arg.len() == 2 && arg[0] == b'-' && arg[1].is_ascii_alphabetic())
}

/// The program whose own options an argument list is in, as far as the
/// rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prog {
    Other,
    Mysql,
    /// sshpass, until its first argument that is not an option.
    Sshpass,
    Curl,
    /// A container tool (docker, podman, ...), and after its `login`.
    Containers,
    Login,
}

fn program(arg: &[u8]) -> Option<Prog> {
    let base = memrchr(b'/', arg).map_or(arg, |i| &arg[i + 1..]);
    if in_ci(base, MYSQL_PROGRAMS) {
        Some(Prog::Mysql)
    } else if base == b"sshpass" {
        Some(Prog::Sshpass)
    } else if base == b"curl" {
        Some(Prog::Curl)
    } else if in_ci(base, CONTAINER_PROGRAMS) {
        Some(Prog::Containers)
    } else {
        None
    }
}

/// What the next argument is, after an option that takes a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    No,
    /// All of it.
    Whole,
    /// What follows its first `:` (`USER:PASS`).
    AfterColon,
}

/// The spans the default rules find in an argument area.
fn arg_spans(rules: &Rules, area: &[u8], spans: &mut Vec<Span>) {
    let mut prog = Prog::Other;
    let mut next = Next::No;
    for (start, arg) in strings(area) {
        let end = start + arg.len();
        match std::mem::replace(&mut next, Next::No) {
            Next::No => {}
            _ if looks_like_option(arg) => {}
            Next::Whole => {
                push(spans, start, end);
                continue;
            }
            Next::AfterColon => {
                if let Some(c) = memchr(b':', arg) {
                    push(spans, start + c + 1, end);
                }
                continue;
            }
        }
        if let Some(rest) = arg.strip_prefix(b"--") {
            let (name, value) = match memchr(b'=', rest) {
                Some(eq) => (&rest[..eq], Some(start + 2 + eq + 1)),
                None => (rest, None),
            };
            let curl_user = prog == Prog::Curl && (name == b"user" || name == b"proxy-user");
            if curl_user || secret_long_option(name) {
                let how = if curl_user { Next::AfterColon } else { Next::Whole };
                match value {
                    Some(v) if how == Next::AfterColon => {
                        if let Some(c) = memchr(b':', &area[v..end]) {
                            push(spans, v + c + 1, end);
                        }
                    }
                    Some(v) => push(spans, v, end),
                    None => next = how,
                }
            }
            continue;
        }
        if let Some(rest) = arg.strip_prefix(b"-")
            && !rest.is_empty()
        {
            match (prog, rest[0]) {
                (Prog::Mysql, b'p') => push(spans, start + 2, end),
                (Prog::Sshpass | Prog::Login, b'p') if rest.len() > 1 => push(spans, start + 2, end),
                (Prog::Sshpass | Prog::Login, b'p') => next = Next::Whole,
                (Prog::Curl, b'u' | b'U') if rest.len() > 1 => {
                    if let Some(c) = memchr(b':', rest) {
                        push(spans, start + 1 + c + 1, end);
                    }
                }
                (Prog::Curl, b'u' | b'U') => next = Next::AfterColon,
                _ if in_ci(rest, SECRET_SINGLE_DASH) => next = Next::Whole,
                _ => {}
            }
            continue;
        }
        if let Some(eq) = var_name(arg) {
            if rules.secret_name(&arg[..eq]) {
                push(spans, start + eq + 1, end);
            }
            continue;
        }
        if prog == Prog::Sshpass {
            // sshpass's options end at its command.
            prog = Prog::Other;
        }
        if prog == Prog::Containers && arg == b"login" {
            prog = Prog::Login;
            continue;
        }
        if let Some(p) = program(arg) {
            prog = p;
        }
    }
    value_spans(rules, area, spans);
}

/// The command line `--redact` sees, into `line`: the arguments joined by
/// single spaces (a NUL becomes a space, the last terminator is dropped), so
/// an offset in it is the same offset in the area.
fn command_line(area: &[u8], line: &mut Vec<u8>) {
    let body = area.strip_suffix(&[0]).unwrap_or(area);
    line.clear();
    line.extend(body.iter().map(|&b| if b == 0 { b' ' } else { b }));
}

/// The spans of regex `re` in `hay`, moved by `offset`: its capture groups
/// when it has any, else its whole matches.
fn regex_spans(re: &Regex, hay: &[u8], offset: usize, spans: &mut Vec<Span>) {
    if re.captures_len() > 1 {
        for c in re.captures_iter(hay) {
            for m in c.iter().skip(1).flatten() {
                push(spans, offset + m.start(), offset + m.end());
            }
        }
    } else {
        for m in re.find_iter(hay) {
            push(spans, offset + m.start(), offset + m.end());
        }
    }
}

/// The spans the rules find in an environment area.
fn env_spans(rules: &Rules, extra: &[Regex], area: &[u8], spans: &mut Vec<Span>) {
    for (start, var) in strings(area) {
        if let Some(eq) = memchr(b'=', var)
            && rules.secret_name(&var[..eq])
        {
            push(spans, start + eq + 1, start + var.len());
        }
    }
    value_spans(rules, area, spans);
    if !extra.is_empty() {
        for (start, var) in strings(area) {
            for re in extra {
                regex_spans(re, var, start, spans);
            }
        }
    }
}

/// `area` with every span (merged) replaced by [`REDACTED`], into `out`;
/// the NULs inside a span are kept, each run of other bytes replaced.
/// Returns whether anything was (false leaves `out` meaningless).
fn rebuild(area: &[u8], spans: &mut [Span], out: &mut Vec<u8>) -> bool {
    if spans.is_empty() {
        return false;
    }
    spans.sort_unstable();
    out.clear();
    let mut changed = false;
    let mut pos = 0;
    let mut i = 0;
    while i < spans.len() {
        let (s, mut e) = spans[i];
        i += 1;
        while i < spans.len() && spans[i].0 <= e {
            e = e.max(spans[i].1);
            i += 1;
        }
        let (s, e) = (s.max(pos).min(area.len()), e.min(area.len()));
        if s >= e {
            continue;
        }
        out.extend_from_slice(&area[pos..s]);
        for (k, run) in area[s..e].split(|&b| b == 0).enumerate() {
            if k > 0 {
                out.push(0);
            }
            if !run.is_empty() {
                out.extend_from_slice(REDACTED);
                changed = true;
            }
        }
        pos = e;
    }
    out.extend_from_slice(&area[pos..]);
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(extra: &[&str]) -> Redact {
        let c = ContextOptions {
            redact: true,
            redact_extra: extra.iter().map(|p| Regex::new(p).unwrap()).collect(),
            ..ContextOptions::default()
        };
        Redact::new(&c).unwrap()
    }

    /// The arguments `argv` after the default rules (and `extra`).
    fn args(extra: &[&str], argv: &[&str]) -> Vec<String> {
        let mut e = Exec { args: area(argv), ..Exec::default() };
        e.args_size = e.args.len() as u32;
        on(extra).exec(&mut e);
        assert_eq!(e.args_size as usize, e.args.len(), "the size counts what is shown");
        assert_eq!(e.flags.args_redacted, e.args != area(argv), "marked exactly when changed");
        crate::event::split_area(&e.args).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
    }

    fn area(v: &[&str]) -> Vec<u8> {
        v.iter().flat_map(|s| s.bytes().chain([0])).collect()
    }

    fn env(vars: &[&str]) -> Vec<String> {
        let mut e = Exec { env: area(vars), ..Exec::default() };
        e.env_size = e.env.len() as u32;
        on(&[]).exec(&mut e);
        assert_eq!(e.env_size as usize, e.env.len(), "the size counts what is shown");
        crate::event::split_area(&e.env).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
    }

    #[test]
    fn the_default_rules_compile() {
        Rules::new().unwrap();
        for (what, re) in VALUE_RULES {
            let r = Regex::new(&format!("(?-u){re}")).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(r.captures_len(), 2, "{what}: one capture group, the part hidden");
        }
    }

    #[test]
    fn secret_names_in_any_case() {
        let rules = Rules::new().unwrap();
        for name in [
            "GITHUB_TOKEN",
            "PASSWORD",
            "db_password",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "MyApiKey",
            // Issue 16's leaks.
            "MYSQL_PWD",
            "SSHPASS",
            "AUTHORIZATION",
            "DB_PASS",
            "LDAP_BIND_PW",
            "ENCRYPTION_KEY",
            "SIGNING_KEY",
            "SENTRY_DSN",
            "NPM_AUTH",
            "JWT",
            "jwt",
            "HTTP_AUTHORIZATION",
            "Db_Pass",
            "REDISCLI_AUTH",
            "PGPASSWORD",
            "VAULT_TOKEN",
            "GOOGLE_APPLICATION_CREDENTIALS_JSON",
        ] {
            assert!(rules.secret_name(name.as_bytes()), "{name}");
        }
        for name in [
            "FOO",
            "PATH",
            "HOME",
            "LANG",
            "TERM",
            "PWD",
            "OLDPWD",
            "XAUTHORITY",
            "SSH_AUTH_SOCK",
            "KEYMAP",
            "KEY_TABLE",
            "PASSWD_FILE",
            "POSTGRES_PASSWORD_FILE",
            "PASSWORD_STORE_DIR",
            "TOKEN_PATH",
            "GIT_ASKPASS",
            "SSH_PUBLIC_KEY",
            "DEPLOY_PUB_KEY",
            "COMPASS",
            "DATABASE_URL",
            "HTTP_PROXY",
            "",
        ] {
            assert!(!rules.secret_name(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn an_environment_seen_before_gets_the_same_result() {
        let mut r = on(&[]);
        let fresh = |area: &[u8], size: u32| {
            let mut e = Exec { env: area.to_vec(), env_size: size, ..Exec::default() };
            on(&[]).exec(&mut e);
            e
        };
        let secret: &[u8] = b"A=1\0API_TOKEN=abcdef\0B=2\0";
        let plain: &[u8] = b"A=1\0B=2\0";
        // More distinct areas than are kept, each twice, in an order that
        // makes every kind of hit and miss happen.
        let mut areas: Vec<Vec<u8>> = (0..SeenEnvs::MAX + 3).map(|i| format!("N{i}=x\0").into_bytes()).collect();
        areas.extend([secret.to_vec(), plain.to_vec(), secret.to_vec(), plain.to_vec()]);
        areas.extend(areas.clone());
        for area in &areas {
            let mut e = Exec { env: area.clone(), env_size: 1000, ..Exec::default() };
            r.exec(&mut e);
            let want = fresh(area, 1000);
            assert_eq!((&e.env, e.env_size, e.flags), (&want.env, want.env_size, want.flags), "{area:?}");
        }
        assert!(r.envs.seen.len() <= SeenEnvs::MAX);
        let mut e = Exec { env: secret.to_vec(), env_size: secret.len() as u32, ..Exec::default() };
        r.exec(&mut e);
        assert_eq!(e.env, b"A=1\0API_TOKEN=<redacted>\0B=2\0".to_vec());
        assert!(e.flags.env_redacted);
    }

    #[test]
    fn env_values_of_secret_names_are_redacted_names_kept() {
        let area = b"FOO=1\0GITHUB_TOKEN=abc\0PASSWORD=x\0EMPTY=\0NOEQUALS\0PATH=/bin\0";
        let mut e = Exec { env: area.to_vec(), env_size: area.len() as u32, ..Exec::default() };
        on(&[]).exec(&mut e);
        assert_eq!(
            e.env,
            b"FOO=1\0GITHUB_TOKEN=<redacted>\0PASSWORD=<redacted>\0EMPTY=\0NOEQUALS\0PATH=/bin\0".to_vec()
        );
        assert!(e.flags.env_redacted && !e.flags.args_redacted);
        assert_eq!(e.env_size as usize, e.env.len());
        // A block cut mid-value: the part kept is redacted all the same,
        // and the part not captured still counts.
        let mut e = Exec { env: b"A=1\0API_KEY=abcd".to_vec(), env_size: 100, ..Exec::default() };
        on(&[]).exec(&mut e);
        assert_eq!(e.env, b"A=1\0API_KEY=<redacted>".to_vec());
        assert_eq!(e.env_size, 100 - 4 + 10);
        // An empty secret hides nothing: not marked.
        let mut e = Exec { env: b"TOKEN=\0".to_vec(), env_size: 7, ..Exec::default() };
        on(&[]).exec(&mut e);
        assert_eq!((e.env.as_slice(), e.env_size, e.flags.env_redacted), (&b"TOKEN=\0"[..], 7, false));
    }

    #[test]
    fn the_issues_environment() {
        let got = env(&[
            "MYSQL_PWD=hunter9",
            "SSHPASS=hunter9",
            "DATABASE_URL=postgres://app:hunter9@db.example/x",
            "HTTP_PROXY=http://user:hunter9@proxy:3128",
            "AUTHORIZATION=Bearer hunter9hunter9",
            "DB_PASS=hunter9",
            "LDAP_BIND_PW=hunter9",
            "ENCRYPTION_KEY=hunter9",
            "SIGNING_KEY=hunter9",
            "SENTRY_DSN=https://hunter9@o1.ingest.sentry.io/1",
            "NPM_AUTH=hunter9",
            "JWT=hunter9",
            "PWD=/home/a",
            "OLDPWD=/home",
            "XAUTHORITY=/run/user/1000/xauth",
        ]);
        assert_eq!(
            got,
            [
                "MYSQL_PWD=<redacted>",
                "SSHPASS=<redacted>",
                "DATABASE_URL=postgres://app:<redacted>@db.example/x",
                "HTTP_PROXY=http://user:<redacted>@proxy:3128",
                "AUTHORIZATION=<redacted>",
                "DB_PASS=<redacted>",
                "LDAP_BIND_PW=<redacted>",
                "ENCRYPTION_KEY=<redacted>",
                "SIGNING_KEY=<redacted>",
                "SENTRY_DSN=<redacted>",
                "NPM_AUTH=<redacted>",
                "JWT=<redacted>",
                "PWD=/home/a",
                "OLDPWD=/home",
                "XAUTHORITY=/run/user/1000/xauth",
            ]
        );
    }

    #[test]
    fn name_value_arguments_are_judged_like_the_environment() {
        assert_eq!(
            args(
                &[],
                &["env", "MYSQL_PWD=hunter9", "PWD=/x", "a=b=c", "1X_TOKEN=v", "--x=TOKEN", "mysql", "-e", "select 1"]
            ),
            ["env", "MYSQL_PWD=<redacted>", "PWD=/x", "a=b=c", "1X_TOKEN=v", "--x=TOKEN", "mysql", "-e", "select 1"]
        );
        assert_eq!(args(&[], &["sudo", "DB_PASS=x", "cmd"]), ["sudo", "DB_PASS=<redacted>", "cmd"]);
    }

    #[test]
    fn values_that_look_secret_in_arguments() {
        let cases: &[(&str, &str)] = &[
            ("postgres://app:hunter9@db/x", "postgres://app:<redacted>@db/x"),
            ("redis://:hunter9@cache:6379", "redis://:<redacted>@cache:6379"),
            ("https://u:p@ss@host/path", "https://u:<redacted>@host/path"),
            ("Authorization: Bearer abc.def", "Authorization: Bearer <redacted>"),
            ("authorization:Basic dXNlcjpwYXNz", "authorization:Basic <redacted>"),
            ("Cookie: session=1; id=2", "Cookie: <redacted>"),
            ("X-Api-Key: k123", "X-Api-Key: <redacted>"),
            ("x=Bearer abcdefgh12", "x=Bearer <redacted>"),
            ("AKIAIOSFODNN7EXAMPLE", "<redacted>"),
            ("id=ASIAIOSFODNN7EXAMPLE,", "id=<redacted>,"),
            ("ghp_0123456789abcdefghijklmnopqrstuvwxyz", "<redacted>"),
            ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "<redacted>"),
            ("glpat-0123456789abcdefghij", "<redacted>"),
            ("xoxb-1234567890-abcdefghij", "<redacted>"),
            ("AIzaSyA0123456789abcdefghijklmnopqrstuv", "<redacted>"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n",
                "-----BEGIN RSA PRIVATE KEY-----<redacted>-----END RSA PRIVATE KEY-----\n",
            ),
            ("-----BEGIN PRIVATE KEY-----\nMIIE cut here", "-----BEGIN PRIVATE KEY-----<redacted>"),
            ("x=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "x=<redacted>"),
        ];
        for (arg, want) in cases {
            assert_eq!(args(&[], &["cmd", arg, "next"]), ["cmd", want, "next"], "{arg}");
        }
    }

    #[test]
    fn what_the_value_rules_leave_alone() {
        for arg in [
            "https://example.com:8443/a?b=c@d",
            "ssh://git@github.com:22/x",
            "git@github.com:owner/repo.git",
            "user@host:/path",
            "Bearer token",
            "Basic usage",
            "AKIAshort",
            "XAKIAIOSFODNN7EXAMPLEX",
            "ghp_short",
            "eyJhbGciOiJIUzI1NiJ9",
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
            "Authorization:",
            "--password-file=/run/pw",
            "--no-password",
            "PWD=/home/a",
        ] {
            assert_eq!(args(&[], &["cmd", arg]), ["cmd", arg], "{arg}");
        }
    }

    #[test]
    fn secret_options_as_one_or_two_arguments() {
        assert_eq!(
            args(&[], &["psql", "--password", "hunter3", "--db-password=hunter4", "--token", "t", "--api-key", "k"]),
            [
                "psql",
                "--password",
                "<redacted>",
                "--db-password=<redacted>",
                "--token",
                "<redacted>",
                "--api-key",
                "<redacted>"
            ]
        );
        // A flag (psql -W) followed by another option: the option stays.
        assert_eq!(args(&[], &["psql", "--password", "-h", "db"]), ["psql", "--password", "-h", "db"]);
        assert_eq!(
            args(&[], &["x", "--client_secret", "s", "--no-password", "db"]),
            ["x", "--client_secret", "<redacted>", "--no-password", "db"]
        );
        assert_eq!(args(&[], &["x", "--password="]), ["x", "--password="]);
        assert_eq!(
            args(&[], &["curl", "--oauth2-bearer", "t0k", "http://h"]),
            ["curl", "--oauth2-bearer", "<redacted>", "http://h"]
        );
        assert_eq!(args(&[], &["http", "--auth", "u:p", "h"]), ["http", "--auth", "<redacted>", "h"]);
        assert_eq!(args(&[], &["mongod", "--auth", "--port", "1"]), ["mongod", "--auth", "--port", "1"]);
        assert_eq!(args(&[], &["x", "--password"]), ["x", "--password"]);
        assert_eq!(
            args(&[], &["openssl", "enc", "-pass", "pass:hunter5", "-in", "f"]),
            ["openssl", "enc", "-pass", "<redacted>", "-in", "f"]
        );
        assert_eq!(
            args(&[], &["keytool", "-storepass", "s3", "-keypass", "k3", "-alias", "a"]),
            ["keytool", "-storepass", "<redacted>", "-keypass", "<redacted>", "-alias", "a"]
        );
    }

    #[test]
    fn program_specific_options() {
        assert_eq!(
            args(&[], &["/usr/bin/mysql", "-u", "root", "-phunter6", "-p", "db"]),
            ["/usr/bin/mysql", "-u", "root", "-p<redacted>", "-p", "db"]
        );
        assert_eq!(args(&[], &["sudo", "mariadb", "-pX"]), ["sudo", "mariadb", "-p<redacted>"]);
        // Not mysql: -p is a port, or parents.
        assert_eq!(args(&[], &["ssh", "-p2222", "host"]), ["ssh", "-p2222", "host"]);
        assert_eq!(args(&[], &["mkdir", "-p", "/a/b"]), ["mkdir", "-p", "/a/b"]);
        // sshpass: its -p, not that of the command it runs.
        assert_eq!(
            args(&[], &["sshpass", "-p", "hunter7", "ssh", "-p", "22", "host"]),
            ["sshpass", "-p", "<redacted>", "ssh", "-p", "22", "host"]
        );
        assert_eq!(args(&[], &["sshpass", "-phunter7", "ssh", "h"]), ["sshpass", "-p<redacted>", "ssh", "h"]);
        assert_eq!(
            args(&[], &["curl", "-u", "bob:hunter8", "--user=al:pw", "-ucy:pw2", "-U", "px:pw3", "http://x"]),
            [
                "curl",
                "-u",
                "bob:<redacted>",
                "--user=al:<redacted>",
                "-ucy:<redacted>",
                "-U",
                "px:<redacted>",
                "http://x"
            ]
        );
        assert_eq!(args(&[], &["curl", "-u", "bob", "http://x"]), ["curl", "-u", "bob", "http://x"]);
        assert_eq!(
            args(&[], &["docker", "login", "-u", "me", "-p", "hunter9", "registry"]),
            ["docker", "login", "-u", "me", "-p", "<redacted>", "registry"]
        );
        assert_eq!(args(&[], &["podman", "login", "-phunter9"]), ["podman", "login", "-p<redacted>"]);
        // Not login: -p publishes a port.
        assert_eq!(args(&[], &["docker", "run", "-p", "8080:80", "img"]), ["docker", "run", "-p", "8080:80", "img"]);
    }

    #[test]
    fn redact_regex_across_arguments() {
        // Groups: only the value goes, in two arguments or one (--pin is
        // no default rule: this is the regex's doing).
        let pin = r"(?:--pin|-P)(?:\s+|=)(\S*)";
        assert_eq!(args(&[pin], &["prog", "--pin", "1234", "x"]), ["prog", "--pin", "<redacted>", "x"]);
        assert_eq!(args(&[pin], &["prog", "--pin=1234"]), ["prog", "--pin=<redacted>"]);
        assert_eq!(args(&[pin], &["prog", "-P", "1234"]), ["prog", "-P", "<redacted>"]);
        assert_eq!(args(&[pin], &["ls", "-P"]), ["ls", "-P"]);
        // Tetragon's own example.
        let tetragon = r"(?:--password|-p)(?:\s+|=)(\S*)";
        assert_eq!(
            args(&[tetragon], &["prog", "--password", "hunter3", "x"]),
            ["prog", "--password", "<redacted>", "x"]
        );
        // No groups: the whole match, in every argument it covers; the
        // argument count never changes.
        assert_eq!(args(&[r"secret \S+"], &["a", "secret", "value", "b"]), ["a", "<redacted>", "<redacted>", "b"]);
        assert_eq!(args(&[r"cret val"], &["a", "secret", "value"]), ["a", "se<redacted>", "<redacted>ue"]);
        // Only separators matched: nothing hidden.
        assert_eq!(args(&[r"\s"], &["a", "b"]), ["a", "b"]);
        // Anchors are those of the command line.
        assert_eq!(args(&[r"^a b$"], &["a", "b"]), ["<redacted>", "<redacted>"]);
        assert_eq!(args(&[r"^b"], &["a", "b"]), ["a", "b"]);
        // Empty arguments stay.
        assert_eq!(args(&[r"x.*y"], &["x", "", "y"]), ["<redacted>", "", "<redacted>"]);
    }

    #[test]
    fn redact_regex_applies_to_the_environment() {
        let mut e = Exec { env: area(&["MY_THING=hunter9", "HOME=/root"]), ..Exec::default() };
        e.env_size = e.env.len() as u32;
        on(&[r"hunter\S*"]).exec(&mut e);
        assert_eq!(e.env, area(&["MY_THING=<redacted>", "HOME=/root"]));
        assert!(e.flags.env_redacted);
        assert_eq!(e.env_size as usize, e.env.len());
    }

    #[test]
    fn sizes_count_what_is_shown_and_a_cut_stays_a_cut() {
        // Whole: the size is what is shown, nothing reads as cut.
        let mut e = Exec { args: area(&["x", "--password=averylongsecretvalue"]), ..Exec::default() };
        e.args_size = e.args.len() as u32;
        on(&[]).exec(&mut e);
        assert_eq!(e.args, area(&["x", "--password=<redacted>"]));
        assert_eq!(e.args_size as usize, e.args.len());
        assert!(!e.args_incomplete());
        // Cut: what was not captured still counts, the cut still shows.
        let mut e = Exec { args: b"x\0--password=abc".to_vec(), args_size: 1000, ..Exec::default() };
        e.flags.args_truncated = true;
        on(&[]).exec(&mut e);
        assert_eq!(e.args, b"x\0--password=<redacted>".to_vec());
        assert_eq!(e.args_size, 1000 - 3 + 10);
        assert!(e.args_incomplete());
    }

    #[test]
    fn rebuild_merges_and_keeps_separators() {
        let mut out = Vec::new();
        let mut spans = vec![(2, 5), (0, 3), (7, 8)];
        assert!(rebuild(b"abcde\0fgh\0", &mut spans, &mut out));
        assert_eq!(out, b"<redacted>\0f<redacted>h\0".to_vec());
        let mut spans = vec![(1, 2)];
        assert!(!rebuild(b"a\0b", &mut spans, &mut out), "a NUL alone is not a secret");
        assert!(!rebuild(b"a\0b", &mut [], &mut out));
    }

    #[test]
    fn off_with_no_redact() {
        let mut r = Redact::default();
        let mut e =
            Exec { env: b"TOKEN=x\0".to_vec(), args: b"a\0--password=x\0".to_vec(), args_size: 15, ..Exec::default() };
        r.exec(&mut e);
        assert_eq!(e.env, b"TOKEN=x\0");
        assert_eq!(e.args, b"a\0--password=x\0");
        assert!(!e.flags.args_redacted && !e.flags.env_redacted);
    }

    #[test]
    fn nothing_to_hide_changes_nothing() {
        let argv = ["/usr/bin/make", "-j2", "CC=gcc", "https://example.com/x", "--prefix=/usr"];
        assert_eq!(args(&[], &argv), argv);
        let vars = ["HOME=/root", "PATH=/usr/bin", "PWD=/src", "OLDPWD=/", "LS_COLORS=rs=0:di=01;34"];
        assert_eq!(env(&vars), vars);
    }
}
