//! A window's schedule as a whole: expression, zone, offset and valid period.
//!
//! Rules (semantics.md §1, the INFERENCE points decided in docs/SEMANTICS.md):
//! * cron fires in the window's zone; `ScheduleOffset` days are added in civil time; an
//!   occurrence belongs to the cron firing that produced it, and only firings after the
//!   schedule took effect (`anchor`) count — so an offset never makes a window run for a
//!   firing from before it was created ("won't run in the period", AWS).
//! * rate counts from `StartDate` when that is in the future (first run at StartDate),
//!   otherwise from `anchor` (first run one interval later).
//! * at() runs once at its civil time in the zone, if that is after `anchor`.
//! * nothing runs before `StartDate` or after `EndDate`.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::zone::to_instant;
use crate::{parse_date_time, parse_zone, Schedule, ScheduleError};

#[derive(Debug, Clone, PartialEq)]
pub struct WindowSchedule {
    pub schedule: Schedule,
    /// `None`: UTC, and times print with `Z`.
    pub zone: Option<Tz>,
    pub offset_days: i64,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// When this schedule took effect: the window's creation, or the last change to one of
    /// its schedule members.
    pub anchor: DateTime<Utc>,
}

impl WindowSchedule {
    /// Validate a window's schedule members together, as Create/UpdateMaintenanceWindow do.
    pub fn new(
        schedule: &str,
        zone: Option<&str>,
        offset: Option<i32>,
        start: Option<&str>,
        end: Option<&str>,
        anchor: DateTime<Utc>,
    ) -> Result<WindowSchedule, ScheduleError> {
        let parsed = Schedule::parse(schedule)?;
        let zone = zone.map(parse_zone).transpose()?;
        if offset.is_some() && !parsed.is_cron() {
            return Err(ScheduleError::new("ScheduleOffset is only supported for cron expressions."));
        }
        let start = start.map(|s| parse_date_time(s, zone)).transpose()?;
        let end = end.map(|s| parse_date_time(s, zone)).transpose()?;
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                return Err(ScheduleError::new("EndDate must be later than StartDate."));
            }
        }
        Ok(WindowSchedule { schedule: parsed, zone, offset_days: i64::from(offset.unwrap_or(0)), start, end, anchor })
    }

    fn tz(&self) -> Tz {
        self.zone.unwrap_or(chrono_tz::UTC)
    }

    /// The first occurrence strictly after `after`, if the window will run again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Nothing before StartDate: search from just before it.
        let after = match self.start {
            Some(s) if s - Duration::milliseconds(1) > after => s - Duration::milliseconds(1),
            _ => after,
        };
        let next = match &self.schedule {
            Schedule::Cron(cron) => {
                let tz = self.tz();
                if self.offset_days == 0 {
                    cron.next_after(tz, after.max(self.anchor))
                } else {
                    let mut from = (after - Duration::days(self.offset_days + 1)).max(self.anchor);
                    loop {
                        let fired = cron.next_after(tz, from)?;
                        let civil = fired.with_timezone(&tz).naive_local() + Duration::days(self.offset_days);
                        if let Some(t) = to_instant(tz, civil).filter(|t| *t > after) {
                            break Some(t);
                        }
                        from = fired;
                    }
                }
            }
            Schedule::Rate(rate) => {
                let (base, first_k) = match self.start {
                    Some(s) if s > self.anchor => (s, 0),
                    _ => (self.anchor, 1),
                };
                let step = rate.interval.num_milliseconds();
                let k =
                    if after < base { first_k } else { ((after - base).num_milliseconds() / step + 1).max(first_k) };
                Some(base + Duration::milliseconds(step.checked_mul(k)?))
            }
            Schedule::At(civil) => to_instant(self.tz(), *civil).filter(|t| *t > after && *t > self.anchor),
        }?;
        match self.end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }

    /// Occurrences after `after`, in order.
    pub fn occurrences_after(&self, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let mut cursor = after;
        std::iter::from_fn(move || {
            let next = self.next_after(cursor)?;
            cursor = next;
            Some(next)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format_execution_time;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn ws(expr: &str, zone: Option<&str>, offset: Option<i32>, start: Option<&str>, anchor: &str) -> WindowSchedule {
        WindowSchedule::new(expr, zone, offset, start, None, utc(anchor)).unwrap()
    }

    fn next_n(w: &WindowSchedule, after: &str, n: usize) -> Vec<String> {
        w.occurrences_after(utc(after)).take(n).map(|t| format_execution_time(t, w.zone)).collect()
    }

    #[test]
    fn cron_in_a_zone() {
        // AWS Example 1: Wednesdays 09:00 Pacific; start date Fri 2021-01-01 00:00 PT.
        let w = ws(
            "cron(0 09 ? * WED *)",
            Some("America/Los_Angeles"),
            None,
            Some("2021-01-01T00:00:00-08:00"),
            "2020-12-01T00:00:00Z",
        );
        assert_eq!(next_n(&w, "2020-12-15T00:00:00Z", 2), ["2021-01-06T09:00-08:00", "2021-01-13T09:00-08:00"]);
    }

    #[test]
    fn rate_anchors_at_a_future_start_date() {
        // AWS Example 2: rate(7 days) from 2019-01-01T00:03:15+09:00: every seventh day from it.
        let w = ws("rate(7 days)", None, None, Some("2019-01-01T00:03:15+09:00"), "2018-12-01T00:00:00Z");
        assert_eq!(
            next_n(&w, "2018-12-20T00:00:00Z", 3),
            ["2018-12-31T15:03:15Z", "2019-01-07T15:03:15Z", "2019-01-14T15:03:15Z"]
        );
    }

    #[test]
    fn rate_without_start_counts_from_the_anchor_with_milliseconds() {
        let w = ws("rate(5 minutes)", None, None, None, "2019-05-11T16:41:16.991Z");
        assert_eq!(next_n(&w, "2019-05-11T16:42:00Z", 2), ["2019-05-11T16:46:16.991Z", "2019-05-11T16:51:16.991Z"]);
    }

    #[test]
    fn offsets_add_days_and_cross_month_ends() {
        // Third Tuesday of each month + 2 days, 23:30 UTC.
        let w = ws("cron(30 23 ? * TUE#3 *)", None, Some(2), None, "2026-11-01T00:00:00Z");
        // Third Tuesdays: 2026-11-17, 2026-12-15, 2027-01-19.
        assert_eq!(
            next_n(&w, "2026-11-01T00:00:00Z", 3),
            ["2026-11-19T23:30Z", "2026-12-17T23:30Z", "2027-01-21T23:30Z"]
        );
        // Last day of the month + 3 days crosses into the next month.
        let w = ws("cron(0 6 L * ? *)", None, Some(3), None, "2027-01-01T00:00:00Z");
        assert_eq!(next_n(&w, "2027-01-01T00:00:00Z", 2), ["2027-02-03T06:00Z", "2027-03-03T06:00Z"]);
    }

    #[test]
    fn an_offset_does_not_revive_a_firing_from_before_creation() {
        // Created Wednesday 2026-11-18; the cron fired Tuesday 11-17 (before creation):
        // with offset 2 that would be 11-19, but AWS says it won't run in that period.
        let w = ws("cron(30 23 ? * TUE#3 *)", None, Some(2), None, "2026-11-18T00:00:00Z");
        assert_eq!(next_n(&w, "2026-11-18T00:00:00Z", 1), ["2026-12-17T23:30Z"]);
    }

    #[test]
    fn at_runs_once_in_its_zone() {
        let w = ws("at(2030-07-07T15:55:00)", Some("America/Los_Angeles"), None, None, "2030-01-01T00:00:00Z");
        assert_eq!(next_n(&w, "2030-01-01T00:00:00Z", 3), ["2030-07-07T15:55-07:00"]);
        let w = ws("at(2030-07-07T15:55:00)", None, None, None, "2030-01-01T00:00:00Z");
        assert_eq!(next_n(&w, "2030-01-01T00:00:00Z", 1), ["2030-07-07T15:55Z"]);
        assert!(w.next_after(utc("2030-07-07T15:55:00Z")).is_none());
    }

    #[test]
    fn end_date_stops_the_window() {
        let w = WindowSchedule::new(
            "rate(1 day)",
            None,
            None,
            None,
            Some("2030-01-03T12:00:00Z"),
            utc("2030-01-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(w.occurrences_after(utc("2030-01-01T00:00:00Z")).count(), 2);
    }

    #[test]
    fn dst_rule() {
        // 02:30 New York daily: skipped on the spring-forward day, once on fall-back day.
        let w = ws("cron(30 2 ? * * *)", Some("America/New_York"), None, None, "2027-03-01T00:00:00Z");
        assert_eq!(next_n(&w, "2027-03-13T00:00:00Z", 2), ["2027-03-13T02:30-05:00", "2027-03-15T02:30-04:00"]);
        let w = ws("cron(30 1 ? * * *)", Some("America/New_York"), None, None, "2027-11-01T00:00:00Z");
        assert_eq!(next_n(&w, "2027-11-06T12:00:00Z", 2), ["2027-11-07T01:30-04:00", "2027-11-08T01:30-05:00"]);
    }

    #[test]
    fn member_rules() {
        let a = utc("2030-01-01T00:00:00Z");
        assert!(WindowSchedule::new("rate(1 day)", None, Some(2), None, None, a).is_err());
        assert!(WindowSchedule::new("cron(0 2 ? * * *)", Some("Nowhere/Land"), None, None, None, a).is_err());
        assert!(WindowSchedule::new(
            "cron(0 2 ? * * *)",
            None,
            None,
            Some("2030-02-01T00:00:00Z"),
            Some("2030-01-01T00:00:00Z"),
            a
        )
        .is_err());
        assert!(WindowSchedule::new("cron(0 2 ? * * *)", None, None, Some("soon"), None, a).is_err());
    }
}
