//! The three schedule forms SSM accepts for a maintenance window.

use chrono::{Duration, NaiveDateTime};

use crate::{Cron, ScheduleError};

/// `rate(N unit)`: a fixed interval. AWS: "If the value is equal to 1, then the unit must
/// be singular"; larger values take the plural.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Cron(Cron),
    Rate(Rate),
    /// `at(yyyy-mm-ddThh:mm:ss)`: once, at this civil time in the window's zone.
    At(NaiveDateTime),
}

/// Intervals shorter than this are refused, as cron expressions firing faster are.
pub const MIN_RATE: Duration = Duration::minutes(5);

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let t = text.trim();
        let invalid = |why: &str| ScheduleError::new(format!("Invalid schedule expression {text}: {why}"));
        let inner = |prefix: &str| t.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
        if let Some(body) = inner("cron(") {
            return Cron::parse(body).map(Schedule::Cron).map_err(|e| invalid(&e.0));
        }
        if let Some(body) = inner("rate(") {
            return parse_rate(body).map(Schedule::Rate).map_err(|e| invalid(&e.0));
        }
        if let Some(body) = inner("at(") {
            return NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M:%S")
                .map(Schedule::At)
                .map_err(|_| invalid("at() takes a date and time as yyyy-mm-ddThh:mm:ss"));
        }
        Err(invalid("expected cron(...), rate(...) or at(...)"))
    }

    pub fn is_cron(&self) -> bool {
        matches!(self, Schedule::Cron(_))
    }
}

fn parse_rate(body: &str) -> Result<Rate, ScheduleError> {
    let mut parts = body.split(' ');
    let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ScheduleError::new("rate() takes a value and a unit, as in rate(30 minutes)"));
    };
    let value: i64 = n
        .parse()
        .ok()
        .filter(|v| *v > 0 && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ScheduleError::new(format!("'{n}' is not a positive whole number")))?;
    let (singular, plural, unit_len) = match unit {
        "minute" | "minutes" => ("minute", "minutes", Duration::minutes(1)),
        "hour" | "hours" => ("hour", "hours", Duration::hours(1)),
        "day" | "days" => ("day", "days", Duration::days(1)),
        other => return Err(ScheduleError::new(format!("'{other}' is not a unit: use minutes, hours or days"))),
    };
    if value == 1 && unit != singular {
        return Err(ScheduleError::new(format!("a value of 1 takes the singular unit: rate(1 {singular})")));
    }
    if value > 1 && unit != plural {
        return Err(ScheduleError::new(format!("a value above 1 takes the plural unit: rate({value} {plural})")));
    }
    let interval = unit_len
        .checked_mul(i32::try_from(value).map_err(|_| ScheduleError::new("the rate is too large"))?)
        .filter(|d| *d <= Duration::days(36_500))
        .ok_or_else(|| ScheduleError::new("the rate is too large"))?;
    if interval < MIN_RATE {
        return Err(ScheduleError::new("rates faster than every 5 minutes are not supported"));
    }
    Ok(Rate { interval })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert!(matches!(Schedule::parse("cron(0 2 ? * THU#3 *)"), Ok(Schedule::Cron(_))));
        assert_eq!(Schedule::parse("rate(7 days)"), Ok(Schedule::Rate(Rate { interval: Duration::days(7) })));
        assert_eq!(Schedule::parse("rate(1 hour)"), Ok(Schedule::Rate(Rate { interval: Duration::hours(1) })));
        assert!(matches!(Schedule::parse("at(2030-07-07T15:55:00)"), Ok(Schedule::At(_))));
    }

    #[test]
    fn rejections() {
        for bad in [
            "rate(1 hours)",
            "rate(5 hour)",
            "rate(0 minutes)",
            "rate(-5 minutes)",
            "rate(4 minutes)",
            "rate(1 minute)",
            "rate(5 weeks)",
            "rate(5minutes)",
            "rate(5  minutes)",
            "rate(99999999999 days)",
            "at(2030-07-07 15:55:00)",
            "at(2030-02-30T15:55:00)",
            "at(2030-07-07T15:55)",
            "cron(0 2 * * * *)",
            "cron 0 2 ? * * *",
            "every day",
            "",
            "rate(5 minutes",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
