//! The evaluator against an independent brute-force oracle: random valid expressions,
//! zones with DST and half-hour offsets, random start instants; both must give the same
//! next ten occurrences. The oracle shares no code with the evaluator: it reads each field
//! term by term, checks calendar rules by counting days, and walks civil time minute by
//! minute.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use casement_schedule::Cron;

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe", // 30-minute DST shift
    "Asia/Kolkata",        // +05:30
    "Australia/Adelaide",  // +09:30 / +10:30
    "America/St_Johns",    // -03:30 / -02:30
    "Pacific/Chatham",     // +12:45 / +13:45
    "Asia/Kathmandu",      // +05:45
    "America/Santiago",    // DST at midnight
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTH_NAMES: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

/// Does `v` satisfy a plain field (lists, ranges, steps, `*`, names)?
fn field_has(field: &str, v: u32, min: u32, max: u32, names: &[&str]) -> bool {
    let num = |s: &str| -> u32 {
        names.iter().position(|n| n.eq_ignore_ascii_case(s)).map(|i| i as u32 + 1).unwrap_or_else(|| s.parse().unwrap())
    };
    field.split(',').any(|term| {
        let (base, step) = match term.split_once('/') {
            Some((b, s)) => (b, s.parse::<u32>().unwrap()),
            None => (term, 1),
        };
        let (lo, hi) = if base == "*" {
            (min, max)
        } else if let Some((a, b)) = base.split_once('-') {
            (num(a), num(b))
        } else if term.contains('/') {
            (num(base), max)
        } else {
            (num(base), num(base))
        };
        v >= lo && v <= hi && (v - lo).is_multiple_of(step)
    })
}

fn days_in_month(d: NaiveDate) -> u32 {
    (28..=31).rev().find(|n| NaiveDate::from_ymd_opt(d.year(), d.month(), *n).is_some()).unwrap()
}

fn is_weekday(d: NaiveDate) -> bool {
    !matches!(d.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun)
}

/// The weekday of the month closest to day `n` (ties: earlier), never leaving the month.
fn closest_weekday(d: NaiveDate, n: u32) -> Option<u32> {
    if n > days_in_month(d) {
        return None;
    }
    (1..=days_in_month(d))
        .filter(|day| is_weekday(d.with_day(*day).unwrap()))
        .min_by_key(|day| ((*day as i64 - n as i64).abs(), *day))
}

fn dom_ok(f: &str, d: NaiveDate) -> bool {
    match f {
        "?" => true,
        "L" => d.day() == days_in_month(d),
        "LW" => Some(d.day()) == (1..=days_in_month(d)).rev().find(|x| is_weekday(d.with_day(*x).unwrap())),
        w if w.ends_with('W') => closest_weekday(d, w.trim_end_matches('W').parse().unwrap()) == Some(d.day()),
        plain => field_has(plain, d.day(), 1, 31, &[]),
    }
}

fn dow_ok(f: &str, d: NaiveDate) -> bool {
    let wd = d.weekday().num_days_from_sunday() + 1;
    let day_num =
        |s: &str| DAY_NAMES.iter().position(|n| *n == s).map(|i| i as u32 + 1).unwrap_or_else(|| s.parse().unwrap());
    if f == "?" {
        true
    } else if f == "L" {
        wd == 7
    } else if let Some((day, n)) = f.split_once('#') {
        // Count how many times this weekday occurred in the month up to today.
        wd == day_num(day)
            && (1..=d.day()).filter(|x| d.with_day(*x).unwrap().weekday() == d.weekday()).count() as u32
                == n.parse::<u32>().unwrap()
    } else if let Some(day) = f.strip_suffix('L') {
        wd == day_num(day) && d.day() + 7 > days_in_month(d)
    } else {
        field_has(f, wd, 1, 7, &DAY_NAMES)
    }
}

/// The next `n` instants strictly after `after`, walking civil time minute by minute.
fn oracle(expr: &str, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let mut f: Vec<&str> = expr.split(' ').collect();
    if f.len() == 6 {
        f.insert(0, "0");
    }
    let mut out = Vec::new();
    let mut day = after.with_timezone(&tz).date_naive() - Duration::days(1);
    while out.len() < n && day.year() <= 2199 {
        let date_ok = field_has(f[6], day.year() as u32, 1970, 2199, &[])
            && field_has(f[4], day.month(), 1, 12, &MONTH_NAMES)
            && dom_ok(f[3], day)
            && dow_ok(f[5], day);
        if date_ok {
            let mut t = day.and_hms_opt(0, 0, 0).unwrap();
            while t.date() == day && out.len() < n {
                if field_has(f[2], t.hour(), 0, 23, &[]) && field_has(f[1], t.minute(), 0, 59, &[]) {
                    for s in (0..60).filter(|s| field_has(f[0], *s, 0, 59, &[])) {
                        let civil: NaiveDateTime = t.with_second(s).unwrap();
                        let instant = match tz.from_local_datetime(&civil) {
                            LocalResult::Single(x) => Some(x),
                            LocalResult::Ambiguous(first, _) => Some(first),
                            LocalResult::None => None,
                        };
                        if let Some(i) = instant.map(|x| x.with_timezone(&Utc)).filter(|i| *i > after) {
                            if out.len() < n && out.last().is_none_or(|l| *l < i) {
                                out.push(i);
                            }
                        }
                    }
                }
                t += Duration::minutes(1);
            }
        }
        day = day.succ_opt().unwrap();
    }
    out
}

/// Instants in 2026–2029 where the zone's UTC offset changes, found hour by hour.
fn transitions(tz: Tz) -> Vec<i64> {
    use chrono::Offset;
    let mut out = Vec::new();
    let mut t = 1_767_225_600i64;
    let offset = |t: i64| Utc.timestamp_opt(t, 0).unwrap().with_timezone(&tz).offset().fix();
    let mut prev = offset(t);
    while t < 1_893_456_000 {
        t += 1800;
        let o = offset(t);
        if o != prev {
            out.push(t);
            prev = o;
        }
    }
    out
}

fn plain_field(min: u32, max: u32, star: bool) -> impl Strategy<Value = String> {
    let single = (min..=max).prop_map(|v| v.to_string());
    let range = (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b)));
    let step = (min..=max, 1..=(max - min + 1).max(1)).prop_map(|(a, s)| format!("{a}/{s}"));
    let list = prop::collection::btree_set(min..=max, 2..4)
        .prop_map(|s| s.into_iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
    if star {
        prop_oneof![Just("*".to_string()), single, range, step, list].boxed()
    } else {
        prop_oneof![single, range, step, list].boxed()
    }
}

fn day_fields() -> impl Strategy<Value = (String, String)> {
    let dom = prop_oneof![
        plain_field(1, 31, true),
        Just("L".to_string()),
        Just("LW".to_string()),
        (1u32..=31).prop_map(|n| format!("{n}W")),
    ];
    let dow = prop_oneof![
        plain_field(1, 7, true),
        (0usize..7, 0usize..7).prop_map(|(a, b)| format!("{}-{}", DAY_NAMES[a.min(b)], DAY_NAMES[a.max(b)])),
        Just("L".to_string()),
        (1u32..=7).prop_map(|d| format!("{d}L")),
        (0usize..7, 1u32..=5).prop_map(|(d, n)| format!("{}#{n}", DAY_NAMES[d])),
    ];
    prop_oneof![dom.prop_map(|d| (d, "?".to_string())), dow.prop_map(|w| ("?".to_string(), w))]
}

fn expression() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(None), (0u32..60).prop_map(Some)],
        plain_field(0, 59, false),
        plain_field(0, 23, true),
        day_fields(),
        prop_oneof![Just("*".to_string()), plain_field(1, 12, true)],
        prop_oneof![Just("*".to_string()), (2026u32..2030).prop_map(|y| format!("{y}-2199"))],
    )
        .prop_map(|(sec, min, hour, (dom, dow), month, year)| {
            let six = format!("{min} {hour} {dom} {month} {dow} {year}");
            match sec {
                Some(s) => format!("{s} {six}"),
                None => six,
            }
        })
}

#[test]
fn evaluator_matches_brute_force() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let compared = std::cell::Cell::new(0u32);
    // Half the start instants fall within two days before a DST transition of the zone,
    // where gaps and folds are hit.
    let near: Vec<Vec<i64>> = ZONES.iter().map(|z| transitions(z.parse().unwrap())).collect();
    let counts: Vec<usize> = near.iter().map(Vec::len).collect();
    let strategy = (
        expression(),
        0..ZONES.len(),
        any::<bool>(),
        1_767_225_600i64..1_893_456_000,
        any::<prop::sample::Index>(),
        0i64..2 * 86_400,
    )
        .prop_map(move |(expr, z, close, uniform, pick, back)| {
            let start = match (close, near[z].is_empty()) {
                (true, false) => near[z][pick.index(near[z].len())] - back,
                _ => uniform,
            };
            (expr, ZONES[z], start)
        });
    runner
        .run(&strategy, |(expr, zone, start)| {
            // Only valid expressions are compared; the generator makes some too-frequent ones.
            let Ok(cron) = Cron::parse(&expr) else { return Ok(()) };
            compared.set(compared.get() + 1);
            let tz: Tz = zone.parse().unwrap();
            let after = Utc.timestamp_opt(start, 0).unwrap();
            let expected = oracle(&expr, tz, after, 10);
            let mut got = Vec::new();
            let mut t = after;
            while got.len() < 10 {
                match cron.next_after(tz, t) {
                    Some(n) => {
                        got.push(n);
                        t = n;
                    }
                    None => break,
                }
            }
            prop_assert_eq!(got, expected, "cron({}) in {} after {}", expr, zone, after);
            Ok(())
        })
        .unwrap();
    assert!(compared.get() >= 1000, "only {} valid expressions were compared", compared.get());
    println!("compared {} expressions; DST transitions per zone: {counts:?}", compared.get());
}

/// The parser's fuzz target, run as a property: arbitrary text, and valid expressions
/// with characters changed, never panic; whatever parses evaluates without looping.
#[test]
fn parser_never_panics() {
    use casement_schedule::{Schedule, WindowSchedule};
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 4000,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let mutated = (expression(), any::<prop::sample::Index>(), "[ -~]{0,3}").prop_map(|(e, at, junk)| {
        let mut s = format!("cron({e})");
        let i = at.index(s.len());
        s.replace_range(i..(i + 1).min(s.len()), &junk);
        s
    });
    let text = prop_oneof![
        "[ -~]{0,40}",
        "(cron|rate|at)\\([ -~]{0,30}\\)",
        "rate\\([0-9]{1,12} (minutes?|hours?|days?|weeks)\\)",
        mutated,
    ];
    let anchor = Utc.timestamp_opt(1_767_225_600, 0).unwrap();
    runner
        .run(&text, |s| {
            if Schedule::parse(&s).is_ok() {
                let w = WindowSchedule::new(&s, Some("Europe/London"), None, None, None, anchor).unwrap();
                let _ = w.occurrences_after(anchor).take(3).count();
            }
            Ok(())
        })
        .unwrap();
}
