//! Next-occurrence cost for a mix of expressions in DST zones (issue: schedules; target
//! ≤ 2 µs median). `cargo bench -p casement-schedule`.

use casement_schedule::WindowSchedule;
use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion};

const MIX: &[(&str, Option<&str>, Option<i32>)] = &[
    ("cron(0 2 ? * THU#3 *)", Some("America/New_York"), None),
    ("cron(15 10 ? * 6L *)", Some("Europe/London"), None),
    ("cron(0 2 L * ? *)", Some("Australia/Adelaide"), None),
    ("cron(0/15 * ? * MON-FRI *)", Some("America/Los_Angeles"), None),
    ("cron(30 23 ? * TUE#3 *)", Some("Asia/Kolkata"), Some(2)),
    ("cron(0 10 15W * ? *)", Some("Australia/Lord_Howe"), None),
    ("rate(7 days)", None, None),
    ("cron(24 30 09 ? * * *)", Some("America/St_Johns"), None),
];

fn bench(c: &mut Criterion) {
    let anchor: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("a date");
    let windows: Vec<WindowSchedule> =
        MIX.iter().map(|(e, z, o)| WindowSchedule::new(e, *z, *o, None, None, anchor).expect("valid")).collect();
    // Start instants spread over a year, so month ends and DST changes are crossed.
    let starts: Vec<DateTime<Utc>> = (0..64).map(|i| anchor + Duration::hours(137 * i)).collect();
    c.bench_function("next occurrence (mix of 8 expressions, DST zones)", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            let w = &windows[i % windows.len()];
            std::hint::black_box(w.next_after(starts[(i / windows.len()) % starts.len()]))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
