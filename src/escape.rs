//! Escaping untrusted bytes into text that is safe to show on a terminal
//! (and, quoted, to paste into a shell).
//!
//! This module owns turning attacker-controlled byte strings (process
//! arguments, file names, comm) into text that can be written to a terminal
//! without the terminal acting on it, and without two different inputs ever
//! looking the same. The text sink uses it for every field it prints.
//!
//! # The rules
//!
//! * Valid UTF-8 printable text passes through unchanged: ASCII, spaces,
//!   non-ASCII letters, emoji.
//! * `\` becomes `\\`, so every other escape below is unambiguous.
//! * Newline, tab and carriage return become `\n`, `\t` and `\r`.
//! * Every other C0 control (U+0000..U+001F, e.g. NUL → `\x00`, ESC → `\x1b`)
//!   and DEL (U+007F) becomes `\xNN`, with lowercase hex.
//! * Each byte that is not part of valid UTF-8 becomes `\xNN` on its own.
//! * Code points that are valid UTF-8 but dangerous become `\u{N}` (lowercase
//!   hex, no leading zeros), e.g. U+009B → `\u{9b}`:
//!   - C1 controls U+0080..U+009F, which a UTF-8 terminal may treat like their
//!     ESC-sequence equivalents (U+009B is CSI);
//!   - bidirectional controls, which reorder what is displayed: U+061C, U+200E,
//!     U+200F, U+202A..U+202E, U+2066..U+2069;
//!   - line and paragraph separators U+2028, U+2029;
//!   - invisible format characters that have no place in a command line and
//!     can make one argument look like another: U+180E, U+200B, U+2060..U+2064,
//!     U+206A..U+206F, U+FEFF, U+FFF9..U+FFFB, and the tag characters
//!     U+E0000..U+E007F.
//!
//!   U+200C and U+200D (zero-width non-joiner and joiner) and the variation
//!   selectors are left alone: real text in several scripts and emoji need
//!   them, and they cannot reorder or hide a whole argument.
//!
//! Because `\` itself is escaped, the output can be decoded back to exactly
//! the input bytes: `\\`, `\n`, `\t`, `\r`, `\xNN` (one byte) and `\u{N}` (one
//! code point, UTF-8 encoded) are the only escapes. So distinct inputs always
//! give distinct outputs. The output is always valid UTF-8 and never contains
//! a byte below 0x20, DEL, or any of the code points listed above.
//!
//! # Quoting for a shell
//!
//! [`shell_quote_into`] (the text sink's `-q`) serves a different reader: it
//! writes an argument so that a POSIX shell reproduces it byte for byte,
//! while keeping the same promise about the terminal: no control byte,
//! invalid UTF-8 or dangerous code point ever appears raw. Such bytes are
//! made by `printf` octal escapes inside a command substitution; see the
//! function for the rules and for the one construct trailing newlines need.
//!
//! # Speed
//!
//! This runs for every argument of every event. Runs of plain printable ASCII
//! (the overwhelming majority) are found with a byte scan and copied in one
//! go; UTF-8 validation happens only from the first byte that needs a closer
//! look.

/// Append the escaped form of `s` to `out`. See the module documentation for
/// the rules.
pub fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    // Fast path: the common argument is entirely plain ASCII.
    let plain = plain_prefix_len(s);
    out.extend_from_slice(&s[..plain]);
    let rest = &s[plain..];
    if rest.is_empty() {
        return;
    }
    out.reserve(rest.len());
    for chunk in rest.utf8_chunks() {
        escape_str(out, chunk.valid());
        for &b in chunk.invalid() {
            push_hex_byte(out, b);
        }
    }
}

/// The escaped form of `s` as a `String`, for messages that quote bytes
/// from outside (a COMMAND name, a path); sinks use [`escape_into`] on
/// their own buffers.
pub fn escape(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    escape_into(&mut out, s);
    // The escaped form is always valid UTF-8 (see the module docs); the lossy
    // fallback only exists so that no runtime path can panic.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A message for stderr made safe for a terminal: every control character
/// other than the newline between its lines (carriage return and tab
/// included), DEL and every code point [`escape_into`] escapes becomes its
/// escape; `\` is left as it is, so text that is already escaped is not
/// escaped twice. It is the last line of defence for every notice, warning
/// and error; bytes a message quotes from outside (which could hold a
/// newline too) are escaped where they are quoted, with [`escape`], which
/// keeps them exact and on one line.
pub fn message(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c != '\n' && (c.is_control() || is_dangerous(c));
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len() + 16);
    let mut buf = [0u8; 4];
    for c in s.chars() {
        if !unsafe_char(c) {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        } else {
            escape_into(&mut out, c.encode_utf8(&mut buf).as_bytes());
        }
    }
    // Escaped text is always valid UTF-8 (see the module docs).
    std::borrow::Cow::Owned(
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

/// Write a line to stderr, ignoring failure (nothing better to do with it).
/// The line is made safe for a terminal first ([`message`]): whatever a
/// message quotes, no control byte, newline or bidi control of it reaches
/// the terminal raw, and it stays one line. Every notice of the tracer goes
/// through here (the run loop, enrichment, the metrics server).
pub fn note(msg: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", message(msg));
}

/// True for a byte that is copied as is: printable ASCII other than `\`.
#[inline]
fn is_plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'\\'
}

/// Length of the leading run of plain bytes.
#[inline]
fn plain_prefix_len(s: &[u8]) -> usize {
    s.iter().position(|&b| !is_plain(b)).unwrap_or(s.len())
}

/// Escape valid UTF-8 text.
fn escape_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let run = plain_prefix_len(&bytes[i..]);
        out.extend_from_slice(&bytes[i..i + run]);
        i += run;
        let Some(&b) = bytes.get(i) else { break };
        if b < 0x80 {
            escape_ascii(out, b);
            i += 1;
            continue;
        }
        // A multi-byte character; `i` is on a char boundary because every
        // byte before it was either ASCII or part of a whole character.
        let Some(c) = s.get(i..).and_then(|t| t.chars().next()) else { break };
        let len = c.len_utf8();
        if is_dangerous(c) {
            push_unicode_escape(out, c);
        } else {
            out.extend_from_slice(&bytes[i..i + len]);
        }
        i += len;
    }
}

/// Escape one ASCII byte that is not plain (a control, DEL or `\`).
#[inline]
fn escape_ascii(out: &mut Vec<u8>, b: u8) {
    match b {
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\t' => out.extend_from_slice(b"\\t"),
        b'\r' => out.extend_from_slice(b"\\r"),
        _ => push_hex_byte(out, b),
    }
}

/// True for a non-ASCII code point that must not reach a terminal as is.
#[inline]
fn is_dangerous(c: char) -> bool {
    matches!(
        c,
        '\u{80}'..='\u{9f}'            // C1 controls (U+009B is CSI)
        | '\u{61c}'                    // ARABIC LETTER MARK (bidi)
        | '\u{180e}'                   // MONGOLIAN VOWEL SEPARATOR (invisible)
        | '\u{200b}'                   // ZERO WIDTH SPACE
        | '\u{200e}' | '\u{200f}'      // LRM, RLM
        | '\u{2028}' | '\u{2029}'      // LINE / PARAGRAPH SEPARATOR
        | '\u{202a}'..='\u{202e}'      // LRE, RLE, PDF, LRO, RLO
        | '\u{2060}'..='\u{2064}'      // WORD JOINER, invisible operators
        | '\u{2066}'..='\u{2069}'      // LRI, RLI, FSI, PDI
        | '\u{206a}'..='\u{206f}'      // deprecated format controls
        | '\u{feff}'                   // ZERO WIDTH NO-BREAK SPACE / BOM
        | '\u{fff9}'..='\u{fffb}'      // interlinear annotation controls
        | '\u{e0000}'..='\u{e007f}'    // tag characters (invisible)
    )
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `\xNN` for one byte.
#[inline]
fn push_hex_byte(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
}

/// Append `\u{N}` for one code point, lowercase hex without leading zeros.
fn push_unicode_escape(out: &mut Vec<u8>, c: char) {
    let v = u32::from(c);
    out.extend_from_slice(b"\\u{");
    let digits = ((32 - v.leading_zeros()).div_ceil(4)).max(1);
    for k in (0..digits).rev() {
        out.push(HEX[((v >> (4 * k)) & 0xf) as usize]);
    }
    out.push(b'}');
}

/// Shell variable that [`shell_quote_into`] uses to produce trailing
/// newlines (see there). Named so that it cannot clash with anything a user
/// or a shell sets.
pub const SHELL_NL_VAR: &str = "_execsnoop_nl";

/// Append `arg` quoted for a POSIX shell: pasted into `sh` (dash, bash, or
/// any other POSIX shell) it is one word that expands to exactly the bytes of
/// `arg`. The output never contains a control byte, invalid UTF-8 or any
/// of the code points [`escape_into`] escapes, so a quoted command line is
/// still one safe line on a terminal.
///
/// * A non-empty word of the characters `A-Z a-z 0-9 _ @ % + = : , . / -`
///   is written bare, unless the shell could read it as something other
///   than a plain word: an assignment (`NAME=...`), a reserved word (`if`,
///   `done`, ...), or zsh's `=cmd`.
/// * The empty argument is `''`.
/// * Otherwise printable text goes in single quotes, with each `'` written
///   as `\'` between quoted parts (so `it's` is `'it'\''s'`).
/// * Everything that must not appear raw (control bytes, DEL, invalid UTF-8,
///   dangerous code points) is produced by `printf` with octal escapes and
///   spliced in: `"$(printf '\033')"`. Command substitution strips trailing
///   newlines, so a `printf` never ends with a newline: a newline followed
///   by more of the argument takes the next character into the same
///   `printf` (`"$(printf '\nx')"`).
/// * Newlines that end the argument are the one case `printf` cannot make.
///   They come from the shell variable [`SHELL_NL_VAR`], set in passing (and
///   only if unset) to `"\n_"` and cut back to `"\n"` once per newline:
///   `"${$##*[0-9${_execsnoop_nl=$(printf '\n_')}]}${_execsnoop_nl%_}"`. The
///   first expansion matches its whole value (`$$`, always digits) away, so
///   it only sets the variable; it also works under `set -u`.
///
/// Argument strings cannot contain NUL; a NUL byte in `arg` is written as
/// `\000` for `printf`, which a shell cannot pass on (it drops it).
pub fn shell_quote_into(out: &mut Vec<u8>, arg: &[u8]) {
    if arg.is_empty() {
        out.extend_from_slice(b"''");
        return;
    }
    if is_bare_word(arg) {
        out.extend_from_slice(arg);
        return;
    }
    let tail_newlines = arg.iter().rev().take_while(|&&b| b == b'\n').count();
    let body = &arg[..arg.len() - tail_newlines];
    let mut q = Quoter { out, mode: Mode::Outside, newline_last: false };
    for chunk in body.utf8_chunks() {
        let text = chunk.valid();
        let mut i = 0;
        while i < text.len() {
            // Printable ASCII other than `'` in runs; everything else one
            // character at a time.
            let run = text.as_bytes()[i..].iter().position(|&b| !is_quotable_ascii(b)).unwrap_or(text.len() - i);
            if run > 0 {
                q.literal(&text.as_bytes()[i..i + run]);
                i += run;
                continue;
            }
            let Some(c) = text.get(i..).and_then(|t| t.chars().next()) else { break };
            let bytes = &text.as_bytes()[i..i + c.len_utf8()];
            if c == '\'' {
                q.apostrophe();
            } else if c.is_ascii() || is_dangerous(c) {
                q.printf(bytes);
            } else {
                q.literal(bytes);
            }
            i += c.len_utf8();
        }
        for &b in chunk.invalid() {
            q.printf(&[b]);
        }
    }
    q.close();
    if tail_newlines > 0 {
        let var = SHELL_NL_VAR.as_bytes();
        out.extend_from_slice(b"\"${$##*[0-9${");
        out.extend_from_slice(var);
        out.extend_from_slice(b"=$(printf '\\n_')}]}");
        for _ in 0..tail_newlines {
            out.extend_from_slice(b"${");
            out.extend_from_slice(var);
            out.extend_from_slice(b"%_}");
        }
        out.push(b'"');
    }
}

/// True for an ASCII byte that can stand in single quotes as it is.
#[inline]
fn is_quotable_ascii(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'\''
}

/// True for a byte that may appear in a bare word.
#[inline]
fn is_bare_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-')
}

/// True for a word that a POSIX shell reads back as itself, unquoted.
fn is_bare_word(w: &[u8]) -> bool {
    const RESERVED: &[&[u8]] = &[
        b"case",
        b"coproc",
        b"do",
        b"done",
        b"elif",
        b"else",
        b"esac",
        b"fi",
        b"for",
        b"function",
        b"if",
        b"in",
        b"select",
        b"then",
        b"time",
        b"until",
        b"while",
    ];
    if w.is_empty() || !w.iter().all(|&b| is_bare_byte(b)) || w[0] == b'=' || RESERVED.contains(&w) {
        return false;
    }
    // NAME=value is an assignment where a command name is expected.
    match w.iter().position(|&b| b == b'=') {
        Some(eq) => {
            !(w[0].is_ascii_alphabetic() || w[0] == b'_')
                || !w[..eq].iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => true,
    }
}

/// Where the quoter is in its output.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between parts (or before the first).
    Outside,
    /// Inside `'...'`.
    Single,
    /// Inside `"$(printf '...`.
    Printf,
}

/// Writes the parts of one quoted argument, opening and closing quotes as
/// the kind of text changes.
struct Quoter<'a> {
    out: &'a mut Vec<u8>,
    mode: Mode,
    /// The last byte given to the open `printf` is a newline: it must not
    /// be closed before another byte follows.
    newline_last: bool,
}

impl Quoter<'_> {
    /// Printable text without `'`.
    fn literal(&mut self, bytes: &[u8]) {
        if self.mode == Mode::Printf && self.newline_last {
            // Keep the newline from ending the substitution: the next
            // character goes into the same printf.
            let n = bytes.iter().skip(1).position(|&b| b & 0xc0 != 0x80).map_or(bytes.len(), |p| p + 1);
            self.printf(&bytes[..n]);
            if n == bytes.len() {
                return;
            }
            return self.literal(&bytes[n..]);
        }
        self.enter(Mode::Single);
        self.out.extend_from_slice(bytes);
    }

    /// One `'`.
    fn apostrophe(&mut self) {
        if self.mode == Mode::Printf && self.newline_last {
            self.printf(b"'");
            return;
        }
        self.enter(Mode::Outside);
        self.out.extend_from_slice(b"\\'");
    }

    /// Bytes that only printf may produce.
    fn printf(&mut self, bytes: &[u8]) {
        self.enter(Mode::Printf);
        for &b in bytes {
            self.out.extend_from_slice(&[b'\\', b'0' + (b >> 6), b'0' + ((b >> 3) & 7), b'0' + (b & 7)]);
        }
        self.newline_last = bytes.last() == Some(&b'\n');
    }

    fn enter(&mut self, mode: Mode) {
        if self.mode == mode {
            return;
        }
        self.close();
        self.out.extend_from_slice(match mode {
            Mode::Outside => b"",
            Mode::Single => b"'",
            Mode::Printf => b"\"$(printf '",
        });
        self.mode = mode;
    }

    /// Close the open part. Never called with a newline last in a printf:
    /// the argument's trailing newlines are not given to the quoter.
    fn close(&mut self) {
        self.out.extend_from_slice(match self.mode {
            Mode::Outside => b"",
            Mode::Single => b"'",
            Mode::Printf => b"')\"",
        });
        self.mode = Mode::Outside;
        self.newline_last = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stderr message: controls, C1 and bidi controls escaped, the line
    /// breaks between its lines kept, backslashes and text already escaped
    /// left as they are; a safe message is not copied.
    #[test]
    fn messages_for_stderr() {
        assert_eq!(message("cannot run /a\x1b[2J\r\u{9b}\u{202e}\tz"), "cannot run /a\\x1b[2J\\r\\u{9b}\\u{202e}\\tz");
        assert_eq!(message("line one\nline two"), "line one\nline two");
        assert_eq!(message("already \\x1b escaped, caf\u{e9}"), "already \\x1b escaped, caf\u{e9}");
        assert!(matches!(message("plain"), std::borrow::Cow::Borrowed("plain")));
        assert_eq!(escape(b"/a\x1b\n\xff"), "/a\\x1b\\n\\xff");
    }

    /// Decode an escaped string back to bytes; `None` if it is not a
    /// well-formed escaped string. Proves the escaping is unambiguous.
    fn unescape(s: &str) -> Option<Vec<u8>> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'\\' {
                out.push(b[i]);
                i += 1;
                continue;
            }
            match *b.get(i + 1)? {
                b'\\' => {
                    out.push(b'\\');
                    i += 2;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                }
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                }
                b'x' => {
                    let h = s.get(i + 2..i + 4)?;
                    out.push(u8::from_str_radix(h, 16).ok()?);
                    i += 4;
                }
                b'u' => {
                    if *b.get(i + 2)? != b'{' {
                        return None;
                    }
                    let end = i + 3 + s[i + 3..].find('}')?;
                    let v = u32::from_str_radix(&s[i + 3..end], 16).ok()?;
                    let c = char::from_u32(v)?;
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                    i = end + 1;
                }
                _ => return None,
            }
        }
        Some(out)
    }

    fn e(s: &[u8]) -> String {
        escape(s)
    }

    const ESCAPED_RANGES: &[(u32, u32)] = &[
        (0x80, 0x9f),
        (0x61c, 0x61c),
        (0x180e, 0x180e),
        (0x200b, 0x200b),
        (0x200e, 0x200f),
        (0x2028, 0x2029),
        (0x202a, 0x202e),
        (0x2060, 0x2064),
        (0x2066, 0x2069),
        (0x206a, 0x206f),
        (0xfeff, 0xfeff),
        (0xfff9, 0xfffb),
        (0xe0000, 0xe007f),
    ];

    fn must_escape(c: char) -> bool {
        let v = u32::from(c);
        ESCAPED_RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&v))
    }

    /// Every property the output must have, for any input.
    fn check_safe(input: &[u8]) {
        let mut out = Vec::new();
        escape_into(&mut out, input);
        let s = std::str::from_utf8(&out).unwrap_or_else(|_| panic!("not UTF-8 for {input:?}"));
        assert!(!out.iter().any(|&b| b < 0x20 || b == 0x7f), "raw control in {s:?} for {input:?}");
        assert!(!s.chars().any(must_escape), "dangerous char left in {s:?} for {input:?}");
        assert_eq!(unescape(s).as_deref(), Some(input), "round trip of {input:?} via {s:?}");
        assert_eq!(escape(input), s);
    }

    #[test]
    fn plain_ascii_unchanged() {
        assert_eq!(e(b""), "");
        assert_eq!(e(b"ls -l /tmp"), "ls -l /tmp");
        let all: Vec<u8> = (0x20..0x7f).filter(|&b| b != b'\\').collect();
        assert_eq!(e(&all).as_bytes(), &all[..]);
    }

    #[test]
    fn unicode_text_unchanged() {
        for s in ["héllo wörld", "日本語 テキスト", "Ελληνικά", "emoji 😀👍", "a\u{a0}b", "zwj 👨\u{200d}👩\u{200d}👧"]
        {
            assert_eq!(e(s.as_bytes()), s);
        }
    }

    #[test]
    fn backslash_doubled() {
        assert_eq!(e(b"a\\b"), "a\\\\b");
        assert_eq!(e(b"\\x1b"), "\\\\x1b");
        assert_eq!(e(b"\\"), "\\\\");
    }

    #[test]
    fn named_controls() {
        assert_eq!(e(b"a\nb\tc\rd"), "a\\nb\\tc\\rd");
    }

    #[test]
    fn other_controls_as_hex() {
        assert_eq!(e(b"\x1b[31mred"), "\\x1b[31mred");
        assert_eq!(e(b"\0"), "\\x00");
        assert_eq!(e(b"\x7f"), "\\x7f");
        assert_eq!(e(b"\x07\x08\x0b\x0c\x1f"), "\\x07\\x08\\x0b\\x0c\\x1f");
        for b in (0u8..0x20).chain([0x7f]) {
            let got = e(&[b]);
            let want = match b {
                b'\n' => "\\n".to_string(),
                b'\t' => "\\t".to_string(),
                b'\r' => "\\r".to_string(),
                _ => format!("\\x{b:02x}"),
            };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn invalid_utf8_bytewise() {
        assert_eq!(e(b"\xff"), "\\xff");
        assert_eq!(e(b"a\xc3(b"), "a\\xc3(b");
        // A truncated 3-byte sequence at the end: every byte shown.
        assert_eq!(e(b"x\xe2\x82"), "x\\xe2\\x82");
        // Overlong NUL and a surrogate encoding are invalid.
        assert_eq!(e(b"\xc0\x80"), "\\xc0\\x80");
        assert_eq!(e(b"\xed\xa0\x80"), "\\xed\\xa0\\x80");
        // A lone continuation byte between valid text.
        assert_eq!(e(b"\xc3\xa9\x80"), "é\\x80");
        assert_eq!(e(b"\x80"), "\\x80");
        // ... while the valid encoding of U+0080 is a C1 control.
        assert_eq!(e("\u{80}".as_bytes()), "\\u{80}");
    }

    #[test]
    fn c1_controls_escaped() {
        assert_eq!(e("\u{9b}31m".as_bytes()), "\\u{9b}31m");
        assert_eq!(e("\u{85}".as_bytes()), "\\u{85}");
        for v in 0x80u32..=0x9f {
            let c = char::from_u32(v).unwrap();
            assert_eq!(e(c.to_string().as_bytes()), format!("\\u{{{v:x}}}"));
        }
        // U+00A0 is printable (no-break space) and stays.
        assert_eq!(e("\u{a0}".as_bytes()), "\u{a0}");
    }

    #[test]
    fn bidi_and_format_escaped() {
        assert_eq!(e("rm \u{202e}txt.exe".as_bytes()), "rm \\u{202e}txt.exe");
        assert_eq!(e("\u{2066}x\u{2069}".as_bytes()), "\\u{2066}x\\u{2069}");
        assert_eq!(e("\u{200e}\u{200f}".as_bytes()), "\\u{200e}\\u{200f}");
        assert_eq!(e("\u{61c}".as_bytes()), "\\u{61c}");
        assert_eq!(e("\u{feff}ls".as_bytes()), "\\u{feff}ls");
        assert_eq!(e("a\u{2028}b\u{2029}".as_bytes()), "a\\u{2028}b\\u{2029}");
        assert_eq!(e("l\u{200b}s".as_bytes()), "l\\u{200b}s");
        assert_eq!(e("\u{e0041}".as_bytes()), "\\u{e0041}");
        for &(lo, hi) in ESCAPED_RANGES {
            for v in lo..=hi {
                let c = char::from_u32(v).unwrap();
                assert_eq!(e(c.to_string().as_bytes()), format!("\\u{{{v:x}}}"), "U+{v:04X}");
            }
        }
    }

    #[test]
    fn neighbours_of_escaped_ranges_pass() {
        for v in
            [0xa0u32, 0x61b, 0x61d, 0x200c, 0x200d, 0x2027, 0x202f, 0x2065, 0x2070, 0xfefe, 0xfffc, 0xfffd, 0xe0080]
        {
            let c = char::from_u32(v).unwrap();
            let s = c.to_string();
            assert_eq!(e(s.as_bytes()), s, "U+{v:04X}");
        }
    }

    #[test]
    fn appends_without_clearing() {
        let mut out = b"pre:".to_vec();
        escape_into(&mut out, b"a\nb");
        escape_into(&mut out, b"c");
        assert_eq!(out, b"pre:a\\nbc");
    }

    /// Tricky inputs that must all be safe and pairwise distinct when escaped.
    fn tricky() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\\".to_vec(),
            b"\\\\".to_vec(),
            b"\\n".to_vec(),
            b"\n".to_vec(),
            b"\\x1b".to_vec(),
            b"\x1b".to_vec(),
            b"\\x00".to_vec(),
            b"\0".to_vec(),
            b"\\u{9b}".to_vec(),
            "\u{9b}".as_bytes().to_vec(),
            b"\xc2\x9b".to_vec(),
            b"\x9b".to_vec(),
            b"\xc2".to_vec(),
            b"\\xc2".to_vec(),
            b"\\x9b".to_vec(),
            "\u{202e}".as_bytes().to_vec(),
            b"\\u{202e}".to_vec(),
            b"\xe2\x80\xae".to_vec(),
            b"\xe2\x80".to_vec(),
            b"\xe2".to_vec(),
            b"\x7f".to_vec(),
            b"\\x7f".to_vec(),
            b"\r\n".to_vec(),
            b"\\r\\n".to_vec(),
            b"\t".to_vec(),
            b"\\t".to_vec(),
            "é".as_bytes().to_vec(),
            b"\xe9".to_vec(),
            b"\\xe9".to_vec(),
            b"\xff\xfe".to_vec(),
            b"\xef\xbb\xbf".to_vec(),
            b"\xf4\x90\x80\x80".to_vec(),
            b"\xf3\xa0\x81\x81".to_vec(),
            b"\xf0\x9f\x98".to_vec(),
            "😀".as_bytes().to_vec(),
            b"a b".to_vec(),
            b"a\0b".to_vec(),
            b"\x1b]0;pwned\x07".to_vec(),
        ];
        // Every single byte value, alone and after a backslash.
        for b in 0..=255u8 {
            v.push(vec![b]);
            v.push(vec![b'\\', b]);
            v.push(vec![b, b'x']);
        }
        // Every escaped code point.
        for &(lo, hi) in ESCAPED_RANGES {
            for cp in lo..=hi {
                let c = char::from_u32(cp).unwrap();
                v.push(c.to_string().into_bytes());
            }
        }
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn tricky_inputs_safe_and_distinct() {
        let inputs = tricky();
        let mut seen = std::collections::HashMap::new();
        for input in &inputs {
            check_safe(input);
            if let Some(prev) = seen.insert(e(input), input.clone()) {
                panic!("{prev:?} and {input:?} escape to the same text");
            }
        }
    }

    #[test]
    fn pseudo_random_inputs_safe() {
        // A small xorshift generator: deterministic, no extra crates.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pieces: &[&[u8]] = &[
            b"\\",
            b"\n",
            b"\x1b",
            b"\xc2\x9b",
            b"\xe2\x80\xae",
            b"\xe2\x80",
            b"\xf0\x9f\x98\x80",
            b"\xf3\xa0\x80",
            b"abc",
            b" ",
        ];
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            let mut input = Vec::new();
            for _ in 0..len {
                let r = next();
                if r % 3 == 0 {
                    input.extend_from_slice(pieces[(r >> 8) as usize % pieces.len()]);
                } else {
                    input.push((r >> 16) as u8);
                }
            }
            check_safe(&input);
        }
    }
}

#[cfg(test)]
mod shell_tests {
    use super::*;
    use std::process::Command;

    fn q(arg: &[u8]) -> String {
        let mut out = Vec::new();
        shell_quote_into(&mut out, arg);
        String::from_utf8(out).unwrap_or_else(|e| panic!("quoted {arg:?} is not UTF-8: {e}"))
    }

    /// The shells to check against: /bin/sh (dash on Debian) always, bash
    /// in POSIX mode and normally when installed.
    fn shells() -> Vec<Vec<&'static str>> {
        let mut v = vec![vec!["/bin/sh", "-c"]];
        for s in ["/bin/dash", "/bin/bash"] {
            if std::path::Path::new(s).exists() {
                v.push(vec![s, "-c"]);
            }
        }
        if std::path::Path::new("/bin/bash").exists() {
            v.push(vec!["/bin/bash", "--posix", "-c"]);
            v.push(vec!["/bin/bash", "-u", "-c"]);
        }
        v
    }

    /// Run `printf '%s\0' <quoted>...` (the script given `repeat` times)
    /// in each shell and require exactly the arguments back.
    fn round_trip(args: &[Vec<u8>], repeat: usize) {
        let mut script = String::new();
        for _ in 0..repeat {
            script.push_str("printf '%s\\0'");
            for a in args {
                script.push(' ');
                script.push_str(&q(a));
            }
            script.push('\n');
        }
        let mut want = Vec::new();
        for _ in 0..repeat {
            for a in args {
                want.extend_from_slice(a);
                want.push(0);
            }
        }
        for sh in shells() {
            let out = Command::new(sh[0])
                .args(&sh[1..])
                .arg(&script)
                .env_remove(SHELL_NL_VAR)
                .output()
                .unwrap_or_else(|e| panic!("run {sh:?}: {e}"));
            assert!(out.status.success(), "{sh:?} failed: {}", String::from_utf8_lossy(&out.stderr));
            if out.stdout != want {
                // Find the first argument that differs, for the message.
                let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
                for (i, a) in args.iter().enumerate() {
                    assert_eq!(got.get(i).copied(), Some(&a[..]), "{sh:?}: {a:?} quoted as {}", q(a));
                }
                panic!("{sh:?}: output differs");
            }
        }
    }

    /// What the output may never contain, for any input.
    fn check_safe(arg: &[u8]) {
        let s = q(arg);
        assert!(!s.bytes().any(|b| b < 0x20 || b == 0x7f), "raw control byte in {s:?} for {arg:?}");
        assert!(!s.chars().any(|c| !c.is_ascii() && is_dangerous(c)), "dangerous char in {s:?} for {arg:?}");
    }

    fn hostile() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = [
            &b""[..],
            b"''",
            b"'",
            b"\"",
            b"\\",
            b"\\'",
            b"'\\",
            b"$HOME",
            b"${HOME}",
            b"$(id)",
            b"`id`",
            b"a b",
            b"  ",
            b"\t",
            b"*",
            b"?",
            b"[a]",
            b"~",
            b"~root",
            b"#x",
            b"a#b",
            b"!",
            b"!!",
            b"!$",
            b"%",
            b"-n",
            b"-e",
            b"--",
            b"a=b",
            b"A=b",
            b"_x=1",
            b"=cmd",
            b"--opt=v",
            b"1=2",
            b"if",
            b"done",
            b"{",
            b"}",
            b";",
            b"&",
            b"|",
            b"<",
            b">",
            b"(",
            b"\n",
            b"\nx",
            b"x\n",
            b"\n\n",
            b"x\n\n",
            b"\nx\n",
            b"\n\nx",
            b"a\nb\nc",
            b"\n'",
            b"\n'x",
            b"x\n'",
            b"\n\x1b",
            b"\x1b\n",
            b"\x1b\nx",
            b"\n\xc3\xa9",
            b"\n\xe2\x80\xae",
            b"\n\xff",
            b"\r\n",
            b"\x1b[2J\x1b]0;pwned\x07",
            b"\xff\xfe",
            b"a\xc3(b",
            b"\xe2\x82",
            b"\xc0\x80",
            b"\xed\xa0\x80",
            b"h\xc3\xa9llo w\xc3\xb6rld",
            b"\xc2\x9b31m",
            b"rm \xe2\x80\xaetxt.exe",
            b"\xef\xbb\xbfls",
            b"\xf0\x9f\x98\x80",
            b"\xf3\xa0\x81\x81",
            b"\x7f",
            b"$_execsnoop_nl",
            b"${_execsnoop_nl%_}",
            b"%s%d\\n\\0",
            b"\\033",
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect();
        // Every byte value but NUL (which no argument can hold), alone, at
        // the start, in the middle and at the end, and next to a newline.
        for b in 1..=255u8 {
            v.push(vec![b]);
            v.push(vec![b, b'x']);
            v.push(vec![b'x', b]);
            v.push(vec![b'x', b, b'y']);
            v.push(vec![b'\n', b]);
            v.push(vec![b, b'\n']);
        }
        // Every code point the terminal escaping treats as dangerous.
        for c in ['\u{80}', '\u{9f}', '\u{61c}', '\u{200b}', '\u{202e}', '\u{2066}', '\u{feff}', '\u{e0041}'] {
            v.push(c.to_string().into_bytes());
            v.push(format!("a{c}\n").into_bytes());
        }
        v
    }

    #[test]
    fn plain_words_stay_bare() {
        for w in ["ls", "-l", "/tmp/x.txt", "--color=auto", "a,b:c@d%e+f", "./a_b-c", "1=2", "-x=1"] {
            assert_eq!(q(w.as_bytes()), w);
        }
    }

    #[test]
    fn quoted_forms() {
        assert_eq!(q(b""), "''");
        assert_eq!(q(b"a b"), "'a b'");
        assert_eq!(q(b"it's"), "'it'\\''s'");
        assert_eq!(q(b"'"), "\\'");
        assert_eq!(q(b"A=b"), "'A=b'");
        assert_eq!(q(b"if"), "'if'");
        assert_eq!(q(b"=x"), "'=x'");
        assert_eq!(q("h\u{e9}".as_bytes()), "'h\u{e9}'");
        assert_eq!(q(b"\x1b[2J"), "\"$(printf '\\033')\"'[2J'");
        assert_eq!(q(b"a\nb"), "'a'\"$(printf '\\012\\142')\"");
        assert_eq!(q(b"a\nbc"), "'a'\"$(printf '\\012\\142')\"'c'");
        assert_eq!(q(b"\xff"), "\"$(printf '\\377')\"");
        assert_eq!(q(b"a\n"), "'a'\"${$##*[0-9${_execsnoop_nl=$(printf '\\n_')}]}${_execsnoop_nl%_}\"");
    }

    #[test]
    fn hostile_inputs_never_raw() {
        for a in hostile() {
            check_safe(&a);
        }
    }

    #[test]
    fn hostile_inputs_round_trip_through_sh() {
        let all = hostile();
        // In chunks: one shell per chunk keeps the run fast and a failure
        // readable.
        for chunk in all.chunks(200) {
            round_trip(chunk, 1);
        }
    }

    #[test]
    fn trailing_newlines_survive_a_second_paste() {
        // The helper variable is set by the first line; the second finds it
        // set (to the same value) and must give the same bytes.
        round_trip(&[b"x\n".to_vec(), b"\n\n".to_vec(), b"\x1b\n".to_vec()], 2);
    }

    #[test]
    fn pseudo_random_inputs_round_trip() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pieces: &[&[u8]] = &[
            b"'",
            b"\n",
            b"\x1b",
            b"\\",
            b"\"",
            b"$",
            b"`",
            b" ",
            b"\xc2\x9b",
            b"\xe2\x80\xae",
            b"\xff",
            b"ab",
            b"\xc3\xa9",
            b"%",
        ];
        let mut args = Vec::new();
        for _ in 0..400 {
            let len = (next() % 8) as usize;
            let mut a = Vec::new();
            for _ in 0..len {
                a.extend_from_slice(pieces[next() as usize % pieces.len()]);
            }
            check_safe(&a);
            args.push(a);
        }
        round_trip(&args, 1);
    }
}
