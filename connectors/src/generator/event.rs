//! One generated event: its attributes, drawn from `(seed, partition, offset)`, and its JSON
//! payload.

use super::config::GeneratorConfig;
use super::rng::SeededRng;

/// The event types of well-formed events, with weights 30, 40, 10, 5, 15 (of 100).
pub const EVENT_TYPES: [&str; 5] = ["click", "view", "add_to_cart", "purchase", "search"];
const EVENT_TYPE_WEIGHTS: [u64; 5] = [30, 40, 10, 5, 15];
/// The event type of [`Violation::UnknownEventType`] events.
pub const UNKNOWN_EVENT_TYPE: &str = "teleport";
/// Smallest extra delay of a late event: 11 minutes.
pub const LATE_MIN_MS: i64 = 11 * 60_000;
/// Largest extra delay of a late event: 40 minutes.
pub const LATE_MAX_MS: i64 = 40 * 60_000;

/// The category of an event; every event has exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A well-formed, valid, roughly on-time event.
    Normal,
    /// A well-formed event whose time is 11 to 40 minutes further back.
    Late,
    /// A payload that a decoder must reject.
    Malformed(Malformed),
    /// A well-formed event that breaks a data-quality rule.
    Violation(Violation),
}

/// The ways a payload is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Malformed {
    /// A JSON object cut short.
    Truncated,
    /// A `key=value` log line, not JSON at all.
    NotJson,
    /// `"value":"abc"`: a string where a number belongs.
    WrongType,
    /// A JSON object without `event_time`.
    MissingEventTime,
}

impl Malformed {
    /// Every kind, in draw order.
    pub const ALL: [Malformed; 4] = [
        Malformed::Truncated,
        Malformed::NotJson,
        Malformed::WrongType,
        Malformed::MissingEventTime,
    ];
}

/// The data-quality rules a well-formed event can break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Violation {
    /// `"user_id":null`.
    NullUser,
    /// A negative `value`.
    NegativeValue,
    /// `"event_type":"teleport"`.
    UnknownEventType,
}

impl Violation {
    /// Every rule, in draw order.
    pub const ALL: [Violation; 3] = [
        Violation::NullUser,
        Violation::NegativeValue,
        Violation::UnknownEventType,
    ];
}

/// The attributes of one generated event, before encoding.
///
/// Oracle tests can use these directly instead of parsing the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The partition.
    pub partition: u32,
    /// The offset within the partition.
    pub offset: u64,
    /// The category.
    pub kind: EventKind,
    /// The user number (`user_0042` is 42), `None` for a null `user_id`.
    pub user: Option<u32>,
    /// The event type.
    pub event_type: &'static str,
    /// The event time in ms since the Unix epoch (after skew and lateness).
    pub event_time_ms: i64,
    /// The value in hundredths (`1234` is `12.34`).
    pub value_cents: i64,
    /// A spare draw that picks where a truncated payload is cut.
    noise: u64,
}

impl Event {
    /// Draws the event at `(partition, offset)` of `config`'s stream.
    ///
    /// Every event consumes the same eight draws in the same order, so the fractions only
    /// decide categories and never shift the other attributes of an event.
    pub fn generate(config: &GeneratorConfig, partition: u32, offset: u64) -> Self {
        let mut rng = SeededRng::new(config.seed, u64::from(partition), offset);
        let category = rng.unit();
        let sub = rng.next_u64();
        let user = rng.below(u64::from(config.users)) as u32;
        let type_draw = rng.below(100);
        let value_draw = rng.next_u64();
        let skew = rng.below(u64::try_from(config.skew_ms).unwrap_or(0)) as i64;
        let late_shift = LATE_MIN_MS + rng.below((LATE_MAX_MS - LATE_MIN_MS + 1) as u64) as i64;
        let noise = rng.next_u64();

        let pick = |n: u64| ((u128::from(sub) * u128::from(n)) >> 64) as usize;
        let m = config.malformed_fraction;
        let l = m + config.late_fraction;
        let v = l + config.violation_fraction;
        let kind = if category < m {
            EventKind::Malformed(Malformed::ALL[pick(4)])
        } else if category < l {
            EventKind::Late
        } else if category < v {
            EventKind::Violation(Violation::ALL[pick(3)])
        } else {
            EventKind::Normal
        };

        let mut acc = 0;
        let type_index = EVENT_TYPE_WEIGHTS
            .iter()
            .position(|w| {
                acc += w;
                type_draw < acc
            })
            .unwrap_or(0);
        let mut event_type = EVENT_TYPES[type_index];
        let span = |n: u64| ((u128::from(value_draw) * u128::from(n)) >> 64) as i64;
        let mut value_cents = if event_type == "purchase" {
            500 + span(49_500)
        } else {
            span(10_000)
        };
        let mut user = Some(user);
        let nominal = config.nominal_time_ms(config.ordinal(partition, offset));
        let mut event_time_ms = nominal.saturating_sub(skew);
        match kind {
            EventKind::Late => event_time_ms = event_time_ms.saturating_sub(late_shift),
            EventKind::Violation(Violation::NullUser) => user = None,
            EventKind::Violation(Violation::NegativeValue) => value_cents = -1 - span(10_000),
            EventKind::Violation(Violation::UnknownEventType) => event_type = UNKNOWN_EVENT_TYPE,
            EventKind::Normal | EventKind::Malformed(_) => {}
        }
        Self {
            partition,
            offset,
            kind,
            user,
            event_type,
            event_time_ms,
            value_cents,
            noise,
        }
    }

    /// The `event_id`: `<partition>-<offset>`.
    pub fn event_id(&self) -> String {
        format!("{}-{}", self.partition, self.offset)
    }

    /// The value as a float (`value_cents / 100`).
    pub fn value(&self) -> f64 {
        self.value_cents as f64 / 100.0
    }

    /// The JSON payload.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.write_json(&mut out);
        out
    }

    /// Appends the payload to `out`: a one-line JSON object, or for malformed events the
    /// broken bytes.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self.kind {
            EventKind::Malformed(Malformed::NotJson) => {
                out.extend_from_slice(b"event_id=");
                self.write_event_id(out);
                out.extend_from_slice(b" user_id=");
                self.write_user(out, false);
                out.extend_from_slice(b" event_type=");
                out.extend_from_slice(self.event_type.as_bytes());
                out.extend_from_slice(b" value=");
                write_cents(self.value_cents, out);
            }
            EventKind::Malformed(Malformed::Truncated) => {
                let start = out.len();
                self.write_object(out);
                // Any strict, non-empty prefix of an object is invalid JSON.
                let len = (out.len() - start) as u64;
                let keep = 1 + ((u128::from(self.noise) * u128::from(len - 1)) >> 64) as usize;
                out.truncate(start + keep);
            }
            _ => self.write_object(out),
        }
    }

    fn write_object(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"event_id\":\"");
        self.write_event_id(out);
        out.extend_from_slice(b"\",\"user_id\":");
        self.write_user(out, true);
        out.extend_from_slice(b",\"event_type\":\"");
        out.extend_from_slice(self.event_type.as_bytes());
        out.push(b'"');
        if self.kind != EventKind::Malformed(Malformed::MissingEventTime) {
            out.extend_from_slice(b",\"event_time\":\"");
            write_rfc3339_millis(self.event_time_ms, out);
            out.push(b'"');
        }
        out.extend_from_slice(b",\"value\":");
        if self.kind == EventKind::Malformed(Malformed::WrongType) {
            out.extend_from_slice(b"\"abc\"");
        } else {
            write_cents(self.value_cents, out);
        }
        out.push(b'}');
    }

    fn write_event_id(&self, out: &mut Vec<u8>) {
        write_u64(u64::from(self.partition), 1, out);
        out.push(b'-');
        write_u64(self.offset, 1, out);
    }

    fn write_user(&self, out: &mut Vec<u8>, quoted: bool) {
        match self.user {
            None => out.extend_from_slice(b"null"),
            Some(user) => {
                if quoted {
                    out.push(b'"');
                }
                out.extend_from_slice(b"user_");
                write_u64(u64::from(user), 4, out);
                if quoted {
                    out.push(b'"');
                }
            }
        }
    }
}

/// Appends `n` in decimal, zero-padded to at least `width` digits.
fn write_u64(mut n: u64, width: usize, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in (digits.len() - i)..width {
        out.push(b'0');
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends hundredths as a decimal with two places: `-1234` is `-12.34`.
fn write_cents(cents: i64, out: &mut Vec<u8>) {
    if cents < 0 {
        out.push(b'-');
    }
    let abs = cents.unsigned_abs();
    write_u64(abs / 100, 1, out);
    out.push(b'.');
    write_u64(abs % 100, 2, out);
}

/// The proleptic Gregorian `(year, month, day)` of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Appends `ms` (since the Unix epoch) as RFC 3339 UTC with milliseconds,
/// e.g. `2026-01-01T00:00:01.230Z`. Years outside 0..=9999 are written with more digits
/// or a sign, which is no longer RFC 3339.
pub fn write_rfc3339_millis(ms: i64, out: &mut Vec<u8>) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000) as u64;
    let (year, month, day) = civil_from_days(days);
    if year < 0 {
        out.push(b'-');
    }
    write_u64(year.unsigned_abs(), 4, out);
    out.push(b'-');
    write_u64(u64::from(month), 2, out);
    out.push(b'-');
    write_u64(u64::from(day), 2, out);
    out.push(b'T');
    write_u64(in_day / 3_600_000, 2, out);
    out.push(b':');
    write_u64(in_day / 60_000 % 60, 2, out);
    out.push(b':');
    write_u64(in_day / 1000 % 60, 2, out);
    out.push(b'.');
    write_u64(in_day % 1000, 3, out);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc3339(ms: i64) -> String {
        let mut out = Vec::new();
        write_rfc3339_millis(ms, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps_match_chrono() {
        assert_eq!(rfc3339(1_767_225_601_230), "2026-01-01T00:00:01.230Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        let mut ms = -62_135_596_800_000; // 0001-01-01
        while ms < 253_402_300_799_999 {
            let expected = chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            assert_eq!(rfc3339(ms), expected);
            ms += 86_399_999_937; // about a day, drifting through every time of day
        }
    }

    #[test]
    fn numbers_are_formatted() {
        let fmt = |c| {
            let mut out = Vec::new();
            write_cents(c, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(fmt(0), "0.00");
        assert_eq!(fmt(5), "0.05");
        assert_eq!(fmt(1234), "12.34");
        assert_eq!(fmt(-1), "-0.01");
        assert_eq!(fmt(-10_000), "-100.00");
        let mut out = Vec::new();
        write_u64(42, 4, &mut out);
        write_u64(12_345, 4, &mut out);
        assert_eq!(out, b"004212345");
    }

    #[test]
    fn normal_event_payload() {
        let config = GeneratorConfig {
            malformed_fraction: 0.0,
            late_fraction: 0.0,
            violation_fraction: 0.0,
            skew_ms: 0,
            ..Default::default()
        };
        let e = Event::generate(&config, 1, 3);
        assert_eq!(e.kind, EventKind::Normal);
        assert_eq!(e.event_time_ms, config.start_time_ms + 13 * 10);
        let json: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(json["event_id"], "1-3");
        assert_eq!(json["user_id"], format!("user_{:04}", e.user.unwrap()));
        assert_eq!(json["event_type"], e.event_type);
        assert_eq!(json["event_time"], "2026-01-01T00:00:00.130Z");
        assert_eq!(json["value"].as_f64().unwrap(), e.value());
    }
}
