//! AWS cron expressions: `cron(Minutes Hours Day-of-month Month Day-of-week Year)`, or
//! with a leading Seconds field. Quartz semantics, as AWS's are Quartz-derived: day of
//! week 1–7 is SUN–SAT; `?` in exactly one of the two day fields; `L`, `W`, `LW` in day
//! of month; `L`, `nL`, `n#k` in day of week.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;

use crate::zone::to_instant;
use crate::ScheduleError;

pub const MIN_YEAR: i32 = 1970;
pub const MAX_YEAR: i32 = 2199;
const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayOfMonth {
    /// `?`
    Unspecified,
    /// Bits 1..=31.
    Days(u32),
    /// `L`
    Last,
    /// `LW`
    LastWeekday,
    /// `nW`: the weekday nearest day n, not leaving the month.
    NearestWeekday(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayOfWeek {
    /// `?`
    Unspecified,
    /// Bits 1..=7, 1 = Sunday.
    Days(u8),
    /// `nL`: the last weekday n of the month.
    Last(u32),
    /// `n#k`: the k-th weekday n of the month.
    Nth(u32, u32),
}

/// A parsed, validated cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u32,
    dom: DayOfMonth,
    months: u16,
    dow: DayOfWeek,
    /// Bit `y - 1970`.
    years: [u64; 4],
}

fn err(msg: String) -> ScheduleError {
    ScheduleError::new(msg)
}

/// Parse one plain field (`*`, lists, ranges, steps, names) into a bit set over min..=max.
fn parse_set(field: &str, what: &str, min: u32, max: u32, names: Option<&[&str]>) -> Result<Vec<u32>, ScheduleError> {
    let value = |s: &str| -> Result<u32, ScheduleError> {
        if let Some(names) = names {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
                return Ok(i as u32 + 1);
            }
        }
        let v: u32 = s
            .parse()
            .ok()
            .filter(|_| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| err(format!("'{s}' is not a valid value for the {what} field")))?;
        if v < min || v > max {
            return Err(err(format!("{v} is outside the range {min}-{max} of the {what} field")));
        }
        Ok(v)
    };
    let mut out = Vec::new();
    for term in field.split(',') {
        let (base, step) = match term.split_once('/') {
            Some((b, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|n| *n > 0 && s.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| err(format!("'{s}' is not a valid increment in the {what} field")))?;
                (b, Some(step))
            }
            None => (term, None),
        };
        let (lo, hi) = if base == "*" {
            (min, max)
        } else if let Some((a, b)) = base.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(err(format!("the range {base} of the {what} field runs backwards")));
            }
            (a, b)
        } else {
            let v = value(base)?;
            (v, if step.is_some() { max } else { v })
        };
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            out.push(v);
            v += step;
        }
    }
    Ok(out)
}

fn bits64(values: &[u32]) -> u64 {
    values.iter().fold(0, |acc, v| acc | (1u64 << v))
}

impl Cron {
    /// Parse the inside of `cron(…)`.
    pub fn parse(body: &str) -> Result<Cron, ScheduleError> {
        let fields: Vec<&str> = body.split_whitespace().collect();
        let fields: Vec<&str> = match fields.len() {
            6 => std::iter::once("0").chain(fields).collect(),
            7 => fields,
            n => {
                return Err(err(format!(
                    "a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), or 7 with seconds first; this one has {n}"
                )))
            }
        };
        let seconds = bits64(&parse_set(fields[0], "seconds", 0, 59, None)?);
        let minutes = bits64(&parse_set(fields[1], "minutes", 0, 59, None)?);
        let hours = bits64(&parse_set(fields[2], "hours", 0, 23, None)?) as u32;
        let months = bits64(&parse_set(fields[4], "month", 1, 12, Some(&MONTHS))?) as u16;
        let years_list = parse_set(fields[6], "year", MIN_YEAR as u32, MAX_YEAR as u32, None)?;
        let mut years = [0u64; 4];
        for y in years_list {
            let i = (y as i32 - MIN_YEAR) as usize;
            years[i / 64] |= 1 << (i % 64);
        }
        let dom = Self::parse_dom(fields[3])?;
        let dow = Self::parse_dow(fields[5])?;
        match (dom, dow) {
            (DayOfMonth::Unspecified, DayOfWeek::Unspecified) => {
                return Err(err("only one of day-of-month and day-of-week can be '?'".into()))
            }
            (DayOfMonth::Unspecified, _) | (_, DayOfWeek::Unspecified) => {}
            _ => {
                return Err(err("day-of-month and day-of-week cannot both be specified: use '?' in one of them".into()))
            }
        }
        let cron = Cron { seconds, minutes, hours, dom, months, dow, years };
        cron.check_frequency()?;
        Ok(cron)
    }

    fn parse_dom(f: &str) -> Result<DayOfMonth, ScheduleError> {
        let upper = f.to_ascii_uppercase();
        Ok(match upper.as_str() {
            "?" => DayOfMonth::Unspecified,
            "L" => DayOfMonth::Last,
            "LW" => DayOfMonth::LastWeekday,
            s if s.ends_with('W') => {
                let n: u32 =
                    s[..s.len() - 1].parse().ok().filter(|n| (1..=31).contains(n)).ok_or_else(|| {
                        err(format!("'{f}' is not a valid day-of-month: W takes a day 1-31, as in 15W"))
                    })?;
                DayOfMonth::NearestWeekday(n)
            }
            _ => {
                if f.contains('L') || f.contains('W') || f.contains('#') {
                    return Err(err(format!("'{f}' is not a valid day-of-month: L and W stand alone")));
                }
                DayOfMonth::Days(bits64(&parse_set(f, "day-of-month", 1, 31, None)?) as u32)
            }
        })
    }

    fn parse_dow(f: &str) -> Result<DayOfWeek, ScheduleError> {
        let day = |s: &str| -> Result<u32, ScheduleError> {
            parse_set(s, "day-of-week", 1, 7, Some(&DAYS)).and_then(|v| match v.as_slice() {
                [d] => Ok(*d),
                _ => Err(err(format!("'{s}' is not a single day of the week"))),
            })
        };
        if f == "?" {
            return Ok(DayOfWeek::Unspecified);
        }
        if f.eq_ignore_ascii_case("L") {
            return Ok(DayOfWeek::Days(1 << 7));
        }
        if let Some((d, n)) = f.split_once('#') {
            if f.contains(',') {
                return Err(err(format!("'{f}': a day-of-week with '#' can hold only one expression")));
            }
            let n: u32 = n
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| err(format!("'{f}': the number after '#' must be 1-5")))?;
            return Ok(DayOfWeek::Nth(day(d)?, n));
        }
        if let Some(d) = f.strip_suffix('L').or_else(|| f.strip_suffix('l')) {
            if f.contains(',') || f.contains('-') || f.contains('/') {
                return Err(err(format!("'{f}': 'L' in day-of-week follows a single day, as in 6L")));
            }
            return Ok(DayOfWeek::Last(day(d)?));
        }
        Ok(DayOfWeek::Days(bits64(&parse_set(f, "day-of-week", 1, 7, Some(&DAYS))?) as u8))
    }

    /// AWS: "Cron expressions that lead to rates faster than five (5) minute aren't
    /// supported." Two firings closer than five minutes are possible when the seconds
    /// field holds more than one value, or two allowed minutes (within an hour, or across
    /// consecutive allowed hours) are less than five minutes apart.
    fn check_frequency(&self) -> Result<(), ScheduleError> {
        let too_fast = || err("cron expressions that fire more often than every 5 minutes are not supported".into());
        if self.seconds.count_ones() > 1 {
            return Err(too_fast());
        }
        let minutes: Vec<u32> = (0..60).filter(|m| self.minutes & (1 << m) != 0).collect();
        if minutes.windows(2).any(|w| w[1] - w[0] < 5) {
            return Err(too_fast());
        }
        let consecutive_hours = (0..24).any(|h| self.hours & (1 << h) != 0 && self.hours & (1 << ((h + 1) % 24)) != 0);
        if let (Some(first), Some(last)) = (minutes.first(), minutes.last()) {
            if consecutive_hours && first + 60 - last < 5 {
                return Err(too_fast());
            }
        }
        Ok(())
    }

    fn year_ok(&self, y: i32) -> bool {
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
            return false;
        }
        let i = (y - MIN_YEAR) as usize;
        self.years[i / 64] & (1 << (i % 64)) != 0
    }

    /// Whether the date matches the day-of-month and day-of-week fields.
    fn day_ok(&self, d: NaiveDate) -> bool {
        let day = d.day();
        // Only the L and W forms need the month's length.
        let last = || last_day(d.year(), d.month());
        let dom_ok = match self.dom {
            DayOfMonth::Unspecified => true,
            DayOfMonth::Days(bits) => bits & (1 << day) != 0,
            DayOfMonth::Last => day == last(),
            DayOfMonth::LastWeekday => day >= 26 && day == nearest_weekday(d.year(), d.month(), last(), last()),
            DayOfMonth::NearestWeekday(n) => {
                day + 2 >= n && day <= n + 2 && n <= last() && day == nearest_weekday(d.year(), d.month(), n, last())
            }
        };
        if !dom_ok {
            return false;
        }
        let wd = d.weekday().number_from_sunday();
        match self.dow {
            DayOfWeek::Unspecified => true,
            DayOfWeek::Days(bits) => bits & (1 << wd) != 0,
            DayOfWeek::Last(w) => wd == w && day + 7 > last(),
            DayOfWeek::Nth(w, n) => wd == w && (day - 1) / 7 + 1 == n,
        }
    }

    /// The civil times of one day the expression names, in order.
    fn times(&self) -> impl Iterator<Item = NaiveTime> + '_ {
        (0..24u32).filter(move |h| self.hours & (1 << h) != 0).flat_map(move |h| {
            (0..60u32).filter(move |m| self.minutes & (1 << m) != 0).flat_map(move |m| {
                (0..60u32)
                    .filter(move |s| self.seconds & (1 << s) != 0)
                    .filter_map(move |s| NaiveTime::from_hms_opt(h, m, s))
            })
        })
    }

    /// The first civil time the expression names that is at or after `from`.
    pub fn next_civil(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut date = from.date();
        let mut first_day = true;
        loop {
            let y = date.year();
            if y > MAX_YEAR {
                return None;
            }
            if !self.year_ok(y) {
                date = NaiveDate::from_ymd_opt(y + 1, 1, 1)?;
                first_day = false;
                continue;
            }
            if self.months & (1 << date.month()) == 0 {
                date = first_of_next_month(date)?;
                first_day = false;
                continue;
            }
            if self.day_ok(date) {
                let floor = if first_day { from.time() } else { NaiveTime::MIN };
                if let Some(t) = self.times().find(|t| *t >= floor) {
                    return Some(date.and_time(t));
                }
            }
            date = date.succ_opt()?;
            first_day = false;
        }
    }

    /// The first instant strictly after `after` at which the expression fires in `tz`,
    /// each civil time mapped by [`to_instant`] (gaps skipped, folds once).
    pub fn next_after(&self, tz: Tz, after: chrono::DateTime<chrono::Utc>) -> Option<chrono::DateTime<chrono::Utc>> {
        // Civil-to-instant mapping never decreases (folds take their first instant), and
        // `after`'s own civil time maps to at most `after`; so no civil time before it can
        // map after `after`, and the search starts right there.
        let mut from = after.with_timezone(&tz).naive_local();
        loop {
            let civil = self.next_civil(from)?;
            if let Some(t) = to_instant(tz, civil) {
                if t > after {
                    return Some(t);
                }
            }
            from = civil + Duration::seconds(1);
        }
    }
}

fn last_day(y: i32, m: u32) -> u32 {
    let first_next = if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1) } else { NaiveDate::from_ymd_opt(y, m + 1, 1) };
    first_next.and_then(|d| d.pred_opt()).map(|d| d.day()).unwrap_or(28)
}

fn first_of_next_month(d: NaiveDate) -> Option<NaiveDate> {
    if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    }
}

/// The weekday nearest day `n` of the month, without leaving the month (Quartz `nW`).
fn nearest_weekday(y: i32, m: u32, n: u32, last: u32) -> u32 {
    let Some(d) = NaiveDate::from_ymd_opt(y, m, n) else { return 0 };
    match d.weekday().number_from_sunday() {
        7 if n == 1 => 3,        // Saturday the 1st → Monday the 3rd
        7 => n - 1,              // Saturday → Friday
        1 if n == last => n - 2, // Sunday the last → Friday
        1 => n + 1,              // Sunday → Monday
        _ => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap()
    }

    fn next_n(expr: &str, from: &str, n: usize) -> Vec<String> {
        let c = Cron::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let mut out = Vec::new();
        let mut t = at(from);
        for _ in 0..n {
            let next = c.next_civil(t).unwrap();
            out.push(next.format("%Y-%m-%dT%H:%M:%S").to_string());
            t = next + Duration::seconds(1);
        }
        out
    }

    /// Dates worked out by hand from the calendar for the AWS documentation's examples.
    #[test]
    fn aws_documentation_examples() {
        // 02:00 on the third Thursday of every month.
        assert_eq!(
            next_n("0 2 ? * THU#3 *", "2026-11-25T00:00:00", 3),
            ["2026-12-17T02:00:00", "2027-01-21T02:00:00", "2027-02-18T02:00:00"]
        );
        // 10:15 on the last Friday of every month.
        assert_eq!(
            next_n("15 10 ? * 6L *", "2026-11-25T00:00:00", 3),
            ["2026-11-27T10:15:00", "2026-12-25T10:15:00", "2027-01-29T10:15:00"]
        );
        // 02:00 on the last day of every month.
        assert_eq!(
            next_n("0 2 L * ? *", "2027-01-15T00:00:00", 3),
            ["2027-01-31T02:00:00", "2027-02-28T02:00:00", "2027-03-31T02:00:00"]
        );
        // 10:15 Monday to Friday.
        assert_eq!(
            next_n("15 10 ? * MON-FRI *", "2026-11-27T11:00:00", 2),
            ["2026-11-30T10:15:00", "2026-12-01T10:15:00"]
        );
        // Seconds field: 09:30:24 every day.
        assert_eq!(next_n("24 30 09 ? * * *", "2026-11-25T10:00:00", 1), ["2026-11-26T09:30:24"]);
        // Year field.
        assert_eq!(next_n("30 2 1 * ? 2027", "2026-11-25T00:00:00", 1), ["2027-01-01T02:30:00"]);
    }

    #[test]
    fn nearest_weekday_does_not_leave_the_month() {
        // 2027-05-15 is a Saturday → Friday the 14th; 2027-08-15 a Sunday → Monday 16th.
        assert_eq!(next_n("0 10 15W * ? *", "2027-05-01T00:00:00", 1), ["2027-05-14T10:00:00"]);
        assert_eq!(next_n("0 10 15W * ? *", "2027-08-01T00:00:00", 1), ["2027-08-16T10:00:00"]);
        // 2027-05-01 is a Saturday: 1W is Monday the 3rd, not Friday April 30th.
        assert_eq!(next_n("0 10 1W * ? *", "2027-04-20T00:00:00", 1), ["2027-05-03T10:00:00"]);
        // 2027-10-31 is a Sunday: 31W is Friday the 29th, not Monday November 1st.
        assert_eq!(next_n("0 10 31W * ? *", "2027-10-01T00:00:00", 1), ["2027-10-29T10:00:00"]);
        // LW: the last weekday. 2027-07-31 is a Saturday → Friday the 30th.
        assert_eq!(next_n("0 10 LW * ? *", "2027-07-01T00:00:00", 1), ["2027-07-30T10:00:00"]);
        // 31W skips months without a 31st.
        assert_eq!(next_n("0 10 31W * ? *", "2027-11-01T00:00:00", 1), ["2027-12-31T10:00:00"]);
    }

    #[test]
    fn rejections() {
        for bad in [
            "0 2 * * * *",     // both day fields given
            "0 2 ? * ? *",     // both '?'
            "0 2 ? *",         // too few fields
            "0 0 2 ? * * * *", // too many
            "60 2 ? * * *",    // minute out of range
            "0 24 ? * * *",    // hour out of range
            "0 2 32 * ? *",    // day out of range
            "0 2 ? 13 * *",    // month out of range
            "0 2 ? * 8 *",     // day of week out of range
            "0 2 ? * * 1969",  // year out of range
            "0 2 ? * * 2200",
            "0 2 ? * THU#6 *", // only 1-5
            "0 2 ? * 5W *",    // W is day-of-month only
            "0 2 ? * MON-FRIL *",
            "0 2 ? * 3#1,6#3 *", // one '#' expression only
            "0/1 * ? * * *",     // every minute
            "0,3 * ? * * *",     // 3 minutes apart
            "58 * ? * * *",      // fine alone…
            "*/0 2 ? * * *",     // zero step
            "0 5-2 ? * * *",     // backwards range
            "0 2 ? JANUARY * *", // bad name
            "0 2 L-3 * ? *",     // Quartz offset from last: not AWS
            "0,30 2 ? * * *",    // fine
            "1,2 0 2 ? * * *",   // two seconds values
        ] {
            let ok_expected = bad == "58 * ? * * *" || bad == "0,30 2 ? * * *";
            assert_eq!(Cron::parse(bad).is_ok(), ok_expected, "{bad}: {:?}", Cron::parse(bad));
        }
    }

    #[test]
    fn minute_wrap_across_consecutive_hours_is_too_fast() {
        assert!(Cron::parse("0,58 1-2 ? * * *").is_err()); // 01:58 → 02:00
        assert!(Cron::parse("0,58 1,3 ? * * *").is_ok()); // 01:58 → 03:00
    }
}
