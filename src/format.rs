//! Number and time formatting that the outputs share, straight into a byte
//! buffer with no allocation: decimal integers (JSON, text, syslog, errno
//! names), seconds with three decimals (text's lifetimes and CPU times),
//! and RFC 3339 UTC timestamps from integer calendar arithmetic (JSON's
//! `time`, syslog's header), exact for any instant RFC 3339 can express.

/// A signed decimal number.
pub fn push_i64(b: &mut Vec<u8>, n: i64) {
    b.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// An unsigned decimal number.
pub fn push_u64(b: &mut Vec<u8>, n: u64) {
    b.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Append `n` as exactly `width` decimal digits (`n` must fit).
fn push_padded(b: &mut Vec<u8>, mut n: u64, width: usize) {
    let start = b.len();
    b.resize(start + width, b'0');
    for slot in b[start..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Earliest and latest instants RFC 3339 can express (years 0000..=9999), in
/// ns since the Unix epoch. Wall times outside are clamped to them.
const RFC3339_MIN_NS: i128 = -62_167_219_200 * 1_000_000_000;
const RFC3339_MAX_NS: i128 = 253_402_300_800 * 1_000_000_000 - 1;

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC) for ns since the Unix epoch, with
/// `digits` (1..=9) fraction digits, truncated: JSON's `time` has 9,
/// syslog's RFC 5424 timestamp at most 6.
pub fn push_rfc3339(b: &mut Vec<u8>, wall_ns: i128, digits: u32) {
    let ns = wall_ns.clamp(RFC3339_MIN_NS, RFC3339_MAX_NS);
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000) as u64;
    // |secs| < 2^39 after clamping, so the narrowing is lossless.
    let days = secs.div_euclid(86_400) as i64;
    let sod = secs.rem_euclid(86_400) as u64;
    let (y, m, d) = civil_from_days(days);
    // Clamping keeps the year in 0..=9999.
    push_padded(b, y.clamp(0, 9999) as u64, 4);
    b.push(b'-');
    push_padded(b, m.into(), 2);
    b.push(b'-');
    push_padded(b, d.into(), 2);
    b.push(b'T');
    push_padded(b, sod / 3600, 2);
    b.push(b':');
    push_padded(b, sod / 60 % 60, 2);
    b.push(b':');
    push_padded(b, sod % 60, 2);
    b.push(b'.');
    let digits = digits.clamp(1, 9);
    push_padded(b, frac / 10u64.pow(9 - digits), digits as usize);
    b.push(b'Z');
}

/// [`push_rfc3339`] for a stream of timestamps that mostly share their
/// second (a record's `time`): the `YYYY-MM-DDTHH:MM:SS.` of the last second
/// is kept, so only its fraction is formatted again.
#[derive(Debug, Clone, Default)]
pub struct Rfc3339 {
    /// The second of `head`, when `head` is filled.
    sec: Option<i128>,
    head: Vec<u8>,
}

impl Rfc3339 {
    /// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, as [`push_rfc3339`] with 9 digits.
    pub fn push(&mut self, b: &mut Vec<u8>, wall_ns: i128) {
        let ns = wall_ns.clamp(RFC3339_MIN_NS, RFC3339_MAX_NS);
        let sec = ns.div_euclid(1_000_000_000);
        if self.sec != Some(sec) {
            self.head.clear();
            push_rfc3339(&mut self.head, sec * 1_000_000_000, 9);
            // Keep up to the '.', drop "000000000Z".
            self.head.truncate(self.head.len() - 10);
            self.sec = Some(sec);
        }
        b.extend_from_slice(&self.head);
        push_padded(b, ns.rem_euclid(1_000_000_000) as u64, 9);
        b.push(b'Z');
    }
}

/// Proleptic Gregorian (year, month 1..=12, day 1..=31) for days since
/// 1970-01-01: Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Nanoseconds as seconds with three decimals (integer arithmetic).
pub fn push_secs(line: &mut Vec<u8>, ns: u64) {
    let ms = (ns + 500_000) / 1_000_000;
    push_u64(line, ms / 1000);
    line.push(b'.');
    let frac = ms % 1000;
    if frac < 100 {
        line.push(b'0');
    }
    if frac < 10 {
        line.push(b'0');
    }
    push_u64(line, frac);
}

#[cfg(test)]
mod tests {
    use super::{Rfc3339, civil_from_days, push_i64, push_rfc3339, push_secs, push_u64};

    fn rfc(wall_ns: i128) -> String {
        let mut b = Vec::new();
        push_rfc3339(&mut b, wall_ns, 9);
        String::from_utf8(b).unwrap()
    }

    const S: i128 = 1_000_000_000;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc(951_782_400 * S), "2000-02-29T00:00:00.000000000Z");
        assert_eq!(rfc(951_782_400 * S - 1), "2000-02-28T23:59:59.999999999Z");
        assert_eq!(rfc(1_795_662_487 * S + 123_456_789), "2026-11-26T03:08:07.123456789Z");
        assert_eq!(rfc(1_709_164_800 * S), "2024-02-29T00:00:00.000000000Z");
        assert_eq!(rfc(4_107_542_400 * S), "2100-03-01T00:00:00.000000000Z");
        assert_eq!(rfc(1_767_225_599 * S + 999_999_999), "2025-12-31T23:59:59.999999999Z");
        assert_eq!(rfc(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(rfc(i128::MAX), "9999-12-31T23:59:59.999999999Z");
        assert_eq!(rfc(i128::MIN), "0000-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn civil_round_trip_every_day_for_centuries() {
        // Walk day by day from 1900 to 2400 checking the calendar advances
        // by exactly one day each step.
        let (mut y, mut m, mut d) = civil_from_days(-25_567);
        assert_eq!((y, m, d), (1900, 1, 1));
        for z in -25_566..157_000 {
            let next = civil_from_days(z);
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m as usize - 1];
            let want = if d < len {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            assert_eq!(next, want, "day {z}");
            (y, m, d) = next;
        }
    }

    #[test]
    fn rfc3339_cache_agrees() {
        let mut c = Rfc3339::default();
        let instants = [
            0i128,
            999_999_999,
            1_000_000_000,
            1_795_662_487_000_000_123,
            1_795_662_487_999_999_999,
            1_795_662_488_000_000_000,
            -1,
            -1_000_000_001,
            i128::MAX,
            i128::MIN,
            1_795_662_488_000_000_007,
        ];
        for &t in &instants {
            let mut got = Vec::new();
            c.push(&mut got, t);
            assert_eq!(String::from_utf8(got).unwrap(), rfc(t), "{t}");
        }
    }

    #[test]
    fn integers_and_seconds() {
        let s = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = Vec::new();
            f(&mut b);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(s(&|b| push_u64(b, 0)), "0");
        assert_eq!(s(&|b| push_u64(b, u64::MAX)), "18446744073709551615");
        assert_eq!(s(&|b| push_i64(b, i64::MIN)), "-9223372036854775808");
        assert_eq!(s(&|b| push_i64(b, -36)), "-36");
        assert_eq!(s(&|b| push_secs(b, 1_500_000_000)), "1.500");
        assert_eq!(s(&|b| push_secs(b, 2_000_000)), "0.002");
        assert_eq!(s(&|b| push_secs(b, 999_500_000)), "1.000");
    }
}
