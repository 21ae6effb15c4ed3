//! Escaping untrusted bytes into text that is safe to show on a terminal.
//!
//! This module owns one job: turning attacker-controlled byte strings (process
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

/// The escaped form of `s` as a `String`. Convenience for callers that do not
/// keep a buffer; sinks use [`escape_into`].
pub fn escape(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    escape_into(&mut out, s);
    // The escaped form is always valid UTF-8 (see the module docs); the lossy
    // fallback only exists so that no runtime path can panic.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

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
