//! Timestamps (RFC 3339, and Flink's and Spark's JSON forms) and `YYYY-MM-DD` dates,
//! parsed without allocation for the JSON decoder's hot path, and for timestamps and
//! dates inside nested values.

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The number made of the ASCII digits `b[range]`, if they are all digits.
fn digits(b: &[u8], range: std::ops::Range<usize>) -> Option<u32> {
    b.get(range)?.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Days since the Unix epoch of `YYYY-MM-DD` at the start of `b`.
fn date_prefix(b: &[u8]) -> Option<i64> {
    let (year, month, day) = (digits(b, 0..4)?, digits(b, 5..7)?, digits(b, 8..10)?);
    if b[4] != b'-' || b[7] != b'-' || !(1..=12).contains(&month) {
        return None;
    }
    let year = i64::from(year);
    (1..=days_in_month(year, month))
        .contains(&day)
        .then(|| days_from_civil(year, month, day))
}

/// Parses a `YYYY-MM-DD` date into days since the Unix epoch.
pub fn parse_date_days(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 {
        return None;
    }
    i32::try_from(date_prefix(b)?).ok()
}

/// Parses a timestamp into µs since the Unix epoch: RFC 3339 (`2026-01-01T00:00:01.230Z`,
/// `...+02:00`; `t`, `z` and a space separator accepted; fractions beyond microseconds
/// truncated), and the forms Flink's and Spark's JSON readers take: no zone (UTC, as
/// Flink's default `yyyy-MM-dd HH:mm:ss.SSS` is read in a UTC session), an offset as
/// `+0200` or `+02`, and a date alone (its midnight, UTC).
pub fn parse_timestamp_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() == 10 {
        return Some(date_prefix(b)? * 86_400_000_000);
    }
    if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let days = date_prefix(b)?;
    let (hour, minute, second) = (digits(b, 11..13)?, digits(b, 14..16)?, digits(b, 17..19)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut pos = 19;
    let mut micros = 0i64;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            if pos - start < 6 {
                micros = micros * 10 + i64::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let n = pos - start;
        if n == 0 || n > 9 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let (sign, h, m) = match b.get(pos..)? {
        [] | [b'Z' | b'z'] => (b'+', 0, 0),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => (
            *sign,
            digits(b, pos + 1..pos + 3)?,
            digits(b, pos + 4..pos + 6)?,
        ),
        [sign @ (b'+' | b'-'), _, _, _, _] => (
            *sign,
            digits(b, pos + 1..pos + 3)?,
            digits(b, pos + 3..pos + 5)?,
        ),
        [sign @ (b'+' | b'-'), _, _] => (*sign, digits(b, pos + 1..pos + 3)?, 0),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    let offset = i64::from(h * 3600 + m * 60);
    let offset_seconds = if sign == b'-' { -offset } else { offset };
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_seconds;
    Some(seconds * 1_000_000 + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded random timestamps, formatted by chrono in several RFC 3339 shapes.
    #[test]
    fn timestamps_agree_with_chrono() {
        use chrono::{FixedOffset, SecondsFormat, TimeZone, Utc};
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let formats = [
            SecondsFormat::Secs,
            SecondsFormat::Millis,
            SecondsFormat::Micros,
            SecondsFormat::Nanos,
        ];
        for _ in 0..20_000 {
            // 0001-01-01 to 9999-12-31
            let us = -62_135_596_800_000_000 + (next() % 315_537_897_599_000_000) as i64;
            let offset = FixedOffset::east_opt(((next() % 1439) as i32 - 719) * 60).unwrap();
            let t = Utc.timestamp_micros(us).unwrap().with_timezone(&offset);
            let format = formats[(next() % 4) as usize];
            let s = t.to_rfc3339_opts(format, next() % 2 == 0);
            let expected = chrono::DateTime::parse_from_rfc3339(&s)
                .unwrap()
                .timestamp_micros();
            assert_eq!(parse_timestamp_micros(&s), Some(expected), "{s}");
        }
        for bad in [
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+01:0",
            "2026-01-01T00:00:00+1",
            "2026-01-01T00:00:00Zx",
            "2025-02-29T00:00:00Z",
            "2025-02-29",
            "2026-01-01T00:00",
            "２026-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_timestamp_micros(bad), None, "{bad}");
        }
        // Flink's and Spark's forms: no zone is UTC; +HHMM and +HH offsets; a date alone.
        let utc = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_micros()
        };
        for (text, rfc3339) in [
            ("2026-01-01 00:00:03", "2026-01-01T00:00:03Z"),
            ("2026-01-01 00:00:03.123", "2026-01-01T00:00:03.123Z"),
            ("2026-01-01T00:00:03", "2026-01-01T00:00:03Z"),
            ("2026-01-01T00:00:03.5+0100", "2026-01-01T00:00:03.5+01:00"),
            ("2026-01-01T00:00:03-05", "2026-01-01T00:00:03-05:00"),
            ("2026-01-01", "2026-01-01T00:00:00Z"),
        ] {
            assert_eq!(parse_timestamp_micros(text), Some(utc(rfc3339)), "{text}");
        }
        assert_eq!(
            parse_timestamp_micros("2024-02-29 12:00:00.1234567z"),
            Some(1_709_208_000_123_456)
        );
        assert_eq!(parse_date_days("2024-02-29"), Some(19_782));
        assert_eq!(parse_date_days("1969-12-31"), Some(-1));
    }
}
