//! AWS's date-time strings. `NextExecutionTime` and `ExecutionTime` print like Java's
//! `OffsetDateTime.toString()`: `HH:mm` when seconds and fraction are zero, `HH:mm:ss`
//! when only the fraction is, `HH:mm:ss.SSS` otherwise; `Z` in UTC, else the zone's
//! offset (`2019-02-03T02:00-08:00`, `2019-05-11T16:46:16.991Z`).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::ScheduleError;

/// Print an instant in the window's zone (`None`: UTC, printed with `Z`).
pub fn format_execution_time(t: DateTime<Utc>, tz: Option<Tz>) -> String {
    let (local, offset) = match tz {
        Some(tz) => {
            let l = t.with_timezone(&tz);
            (l.naive_local(), Some(l.offset().fix()))
        }
        None => (t.naive_utc(), None),
    };
    // Written by hand, digit by digit: chrono's format strings are interpreted on every
    // call, and `write!` showed in request profiles.
    let mut out = String::with_capacity(29);
    let (secs, ms) = (local.second(), local.nanosecond() / 1_000_000);
    push_digits(&mut out, local.year().clamp(0, 9999) as u32, 4);
    out.push('-');
    push_digits(&mut out, local.month(), 2);
    out.push('-');
    push_digits(&mut out, local.day(), 2);
    out.push('T');
    push_digits(&mut out, local.hour(), 2);
    out.push(':');
    push_digits(&mut out, local.minute(), 2);
    if secs != 0 || ms != 0 {
        out.push(':');
        push_digits(&mut out, secs, 2);
    }
    if ms != 0 {
        out.push('.');
        push_digits(&mut out, ms, 3);
    }
    match offset {
        Some(o) if o.local_minus_utc() != 0 => {
            let m = o.local_minus_utc() / 60;
            out.push(if m < 0 { '-' } else { '+' });
            push_digits(&mut out, m.unsigned_abs() / 60, 2);
            out.push(':');
            push_digits(&mut out, m.unsigned_abs() % 60, 2);
        }
        _ => out.push('Z'),
    }
    out
}

/// `n` in exactly `width` decimal digits, zero-padded (`n` must fit).
fn push_digits(out: &mut String, n: u32, width: u32) {
    for i in (0..width).rev() {
        out.push(char::from(b'0' + (n / 10u32.pow(i) % 10) as u8));
    }
}

/// Parse an ISO-8601 extended date-time as SSM takes them for `StartDate`, `EndDate` and
/// schedule filters: with an offset or `Z` (`2021-04-07T14:29:00-08:00`), seconds and
/// fraction optional; without an offset the time is read in `zone` (UTC when none).
pub fn parse_date_time(s: &str, zone: Option<Tz>) -> Result<DateTime<Utc>, ScheduleError> {
    let bad =
        || ScheduleError::new(format!("'{s}' is not an ISO-8601 date and time, such as 2021-04-07T14:29:00-08:00"));
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H:%M%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::<FixedOffset>::parse_from_str(s, f) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    if let Some(body) = s.strip_suffix('Z') {
        for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S%.f"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(body, f) {
                return Ok(t.and_utc());
            }
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(civil) = NaiveDateTime::parse_from_str(s, f) {
            return match zone {
                Some(tz) => crate::zone::to_instant(tz, civil).ok_or_else(bad),
                None => Ok(Utc.from_utc_datetime(&civil)),
            };
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let civil = d.and_hms_opt(0, 0, 0).ok_or_else(bad)?;
        return match zone {
            Some(tz) => crate::zone::to_instant(tz, civil).ok_or_else(bad),
            None => Ok(Utc.from_utc_datetime(&civil)),
        };
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The strings AWS documents (semantics.md §1.7).
    #[test]
    fn formats_like_aws() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        assert_eq!(format_execution_time(utc("2019-02-03T10:00:00Z"), Some(la)), "2019-02-03T02:00-08:00");
        assert_eq!(format_execution_time(utc("2020-02-19T16:00:00Z"), None), "2020-02-19T16:00Z");
        assert_eq!(format_execution_time(utc("2019-10-04T10:10:10Z"), None), "2019-10-04T10:10:10Z");
        assert_eq!(format_execution_time(utc("2019-05-11T16:46:16.991Z"), None), "2019-05-11T16:46:16.991Z");
        assert_eq!(format_execution_time(utc("2019-10-20T12:34:56Z"), Some(la)), "2019-10-20T05:34:56-07:00");
        let utc_zone: Tz = "UTC".parse().unwrap();
        assert_eq!(format_execution_time(utc("2023-06-27T00:00:00Z"), Some(utc_zone)), "2023-06-27T00:00Z");
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        assert_eq!(format_execution_time(utc("2023-06-27T00:00:00Z"), Some(kolkata)), "2023-06-27T05:30+05:30");
    }

    #[test]
    fn parses_iso_dates() {
        assert_eq!(parse_date_time("2021-04-07T14:29:00-08:00", None).unwrap(), utc("2021-04-07T22:29:00Z"));
        assert_eq!(parse_date_time("2030-01-01T00:00:00Z", None).unwrap(), utc("2030-01-01T00:00:00Z"));
        assert_eq!(parse_date_time("2019-01-01T00:03:15+09:00", None).unwrap(), utc("2018-12-31T15:03:15Z"));
        assert_eq!(parse_date_time("2024-11-04T05:00Z", None).unwrap(), utc("2024-11-04T05:00:00Z"));
        let seoul: Tz = "Asia/Seoul".parse().unwrap();
        assert_eq!(parse_date_time("2030-01-01T09:00:00", Some(seoul)).unwrap(), utc("2030-01-01T00:00:00Z"));
        for bad in ["tomorrow", "2030-13-01T00:00:00Z", "2030-01-01T25:00:00Z", ""] {
            assert!(parse_date_time(bad, None).is_err(), "{bad}");
        }
    }
}
