//! Civil time to instants, with the DST rule AWS EventBridge Scheduler documents: a
//! local time that does not exist (spring forward) is skipped; a local time that occurs
//! twice (fall back) runs once, at its first occurrence.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::ScheduleError;

/// An IANA zone name as SSM accepts it (`America/Los_Angeles`, `UTC`, `Asia/Seoul`).
pub fn parse_zone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>()
        .or_else(|_| {
            // The SSM console offers `etc/UTC`; IANA spells it `Etc/UTC`.
            let mut fixed = name.to_owned();
            if let Some(rest) = name.strip_prefix("etc/") {
                fixed = format!("Etc/{rest}");
            }
            fixed.parse::<Tz>()
        })
        .map_err(|_| ScheduleError::new(format!("Invalid ScheduleTimezone: {name}. Use an IANA time zone name such as America/Los_Angeles, UTC or Asia/Seoul.")))
}

/// The instant a civil time names in `tz`, or `None` inside a spring-forward gap.
pub fn to_instant(tz: Tz, civil: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&civil) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn civil(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap()
    }

    #[test]
    fn gaps_are_skipped_and_folds_run_once() {
        let ny = parse_zone("America/New_York").unwrap();
        assert_eq!(to_instant(ny, civil("2027-03-14T02:30:00")), None);
        let fold = to_instant(ny, civil("2027-11-07T01:30:00")).unwrap();
        assert_eq!(fold.to_rfc3339(), "2027-11-07T05:30:00+00:00"); // 01:30 EDT, the first one
    }

    #[test]
    fn zone_names() {
        assert!(parse_zone("UTC").is_ok());
        assert!(parse_zone("etc/UTC").is_ok());
        assert!(parse_zone("Asia/Kolkata").is_ok());
        assert!(parse_zone("Mars/Olympus").is_err());
    }
}
