//! Reading exact decimals: text (`"12.345"`, `"-1.5e3"`) and integers into the unscaled
//! integer of a `decimal(precision, scale)` column, as Spark's and Flink's casts read them
//! (for the sources' decoders, and for decimals inside nested values).
//!
//! A value with more digits after the point than the scale is rounded half up (away from
//! zero), as Spark's `CAST` and Flink's JSON format do: `1.005` in a `decimal(5, 2)` is
//! `1.01`, `-1.005` is `-1.01`. A value with more digits before the point than
//! `precision - scale` does not fit: it is an error, which makes its record a dead letter
//! (Spark's ANSI mode fails the query, Flink reads a null).

/// The unscaled value of `text` in a `decimal(precision, scale)`:
/// `parse("12.345", 10, 2) == Ok(1235)`.
///
/// # Errors
/// A sentence saying why `text` is not such a decimal.
pub fn parse(text: &str, precision: u8, scale: u8) -> Result<i128, String> {
    let not_a_number = || format!("{:?} is not a decimal number", excerpt(text));
    let t = text.trim();
    let (negative, unsigned) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => {
            let exponent = &unsigned[i + 1..];
            let digits = exponent.trim_start_matches(['+', '-']);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_number());
            }
            // Beyond any decimal's 38 digits either way; the clamp keeps the arithmetic
            // in range.
            let e: i64 = exponent.parse().unwrap_or(if exponent.starts_with('-') {
                -1000
            } else {
                1000
            });
            (&unsigned[..i], e.clamp(-1000, 1000))
        }
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !is_digits(whole) || !is_digits(fraction) {
        return Err(not_a_number());
    }
    // value = digits × 10^(exponent - fraction digits), so value × 10^scale is
    // digits × 10^shift.
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let shift = exponent - fraction.len() as i64 + i64::from(scale);
    let too_large = || {
        format!(
            "{:?} does not fit decimal({precision}, {scale}): at most {} digits before the point",
            excerpt(text),
            precision - scale
        )
    };
    // The digits kept, and whether the first digit dropped rounds them up.
    let (kept, round_up) = if shift >= 0 {
        (digits, false)
    } else {
        let dropped = usize::try_from(-shift).unwrap_or(usize::MAX);
        match digits.len().checked_sub(dropped) {
            Some(keep) => (&digits[..keep], digits.as_bytes()[keep] >= b'5'),
            None => ("", false),
        }
    };
    let zeros = usize::try_from(shift.max(0)).unwrap_or(usize::MAX);
    if kept.len().saturating_add(zeros) > 38 {
        return Err(too_large());
    }
    let mut value: i128 = 0;
    for b in kept.bytes() {
        value = value * 10 + i128::from(b - b'0');
    }
    value = value * 10i128.pow(zeros as u32) + i128::from(round_up);
    if !fits(value, precision) {
        return Err(too_large());
    }
    Ok(if negative { -value } else { value })
}

/// The unscaled value of the integer `v` in a `decimal(precision, scale)`.
///
/// # Errors
/// When `v` has more than `precision - scale` digits.
pub fn from_integer(v: i128, precision: u8, scale: u8) -> Result<i128, String> {
    v.checked_mul(10i128.pow(u32::from(scale)))
        .filter(|u| fits(*u, precision))
        .ok_or_else(|| {
            format!(
                "{v} does not fit decimal({precision}, {scale}): at most {} digits before the \
                 point",
                precision - scale
            )
        })
}

/// The text of the unscaled value `v` of a decimal of `scale` places: `text(-1235, 2)`
/// is `-12.35`.
pub fn text(v: i128, scale: u8) -> String {
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    let scale = usize::from(scale);
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

/// Whether the unscaled value `v` has at most `precision` digits.
pub fn fits(v: i128, precision: u8) -> bool {
    v.unsigned_abs() < 10u128.pow(u32::from(precision))
}

/// Shortens a value for an error message.
pub fn excerpt(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_scaled_and_rounded_half_up() {
        let cases: &[(&str, u8, u8, i128)] = &[
            ("12.345", 10, 2, 1235),
            ("12.344", 10, 2, 1234),
            ("-12.345", 10, 2, -1235),
            ("1.005", 5, 2, 101),
            ("-0.005", 5, 2, -1),
            ("0.004", 5, 2, 0),
            ("7", 5, 2, 700),
            ("+7.", 5, 2, 700),
            (".5", 5, 0, 1),
            ("  0012.50 ", 4, 2, 1250),
            ("1.5e3", 10, 2, 150_000),
            ("1.5E-3", 10, 4, 15),
            ("15e-4", 10, 3, 2),
            ("9.999", 4, 2, 1000),
            ("1e-1000", 10, 2, 0),
            ("0.000", 1, 0, 0),
            (
                "99999999999999999999999999999999999999",
                38,
                0,
                10i128.pow(38) - 1,
            ),
            (
                "0.12345678901234567890123456789012345678",
                38,
                38,
                12345678901234567890123456789012345678,
            ),
        ];
        for &(text, p, s, want) in cases {
            assert_eq!(parse(text, p, s), Ok(want), "{text} as decimal({p}, {s})");
        }
    }

    #[test]
    fn what_does_not_fit_or_is_no_number_is_refused() {
        let refused = |text: &str, p, s| parse(text, p, s).unwrap_err();
        assert!(refused("100", 4, 2).contains("at most 2 digits before the point"));
        // Rounding up may carry into a digit the precision has no room for.
        assert!(refused("99.995", 4, 2).contains("does not fit decimal(4, 2)"));
        assert!(refused("1e39", 38, 0).contains("does not fit"));
        assert!(refused("1e1000000000000", 38, 0).contains("does not fit"));
        for bad in [
            "", "-", ".", "1.2.3", "abc", "1e", "1e+", "e5", "1,5", "0x10", "1 2", "NaN",
        ] {
            assert!(
                refused(bad, 10, 2).contains("is not a decimal number"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unscaled_values_are_written_as_text() {
        assert_eq!(text(-1235, 2), "-12.35");
        assert_eq!(text(5, 3), "0.005");
        assert_eq!(text(-5, 1), "-0.5");
        assert_eq!(text(0, 2), "0.00");
        assert_eq!(text(42, 0), "42");
        for (t, p, s) in [("12.345", 10, 3), ("-0.01", 5, 2), ("99999", 5, 0)] {
            assert_eq!(text(parse(t, p, s).unwrap(), s), t);
        }
    }

    #[test]
    fn integers_are_scaled_and_checked() {
        assert_eq!(from_integer(42, 10, 2), Ok(4200));
        assert_eq!(from_integer(-42, 4, 2), Ok(-4200));
        assert!(
            from_integer(100, 4, 2)
                .unwrap_err()
                .contains("at most 2 digits")
        );
        assert!(from_integer(i128::from(i64::MAX), 38, 38).is_err());
    }
}
