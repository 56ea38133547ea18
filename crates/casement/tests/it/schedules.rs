//! Schedules through the AWS SDK: NextExecutionTime, DescribeMaintenanceWindowSchedule and
//! the evaluator agree; invalid schedules are refused.

use aws_sdk_ssm::types::{MaintenanceWindowResourceType, PatchOrchestratorFilter, Target};
use casement_schedule::{format_execution_time, WindowSchedule};
use chrono::{DateTime, Utc};

use crate::common::{code, Server};

fn instant(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

#[tokio::test]
async fn next_execution_time_and_schedule_agree_with_the_evaluator() {
    let s = Server::start();
    let c = s.sdk();
    let id = c
        .create_maintenance_window()
        .name("tz-window")
        .schedule("cron(0 2 ? * THU#3 *)")
        .schedule_timezone("America/Los_Angeles")
        .schedule_offset(1)
        .duration(3)
        .cutoff(1)
        .allow_unassociated_targets(true)
        .send()
        .await
        .unwrap()
        .window_id()
        .unwrap()
        .to_owned();
    let got = c.get_maintenance_window().window_id(&id).send().await.unwrap();
    let created = got.created_date().unwrap();
    let anchor =
        DateTime::from_timestamp_millis(created.secs() * 1000 + i64::from(created.subsec_nanos() / 1_000_000)).unwrap();
    let ws =
        WindowSchedule::new("cron(0 2 ? * THU#3 *)", Some("America/Los_Angeles"), Some(1), None, None, anchor).unwrap();
    let expected: Vec<String> =
        ws.occurrences_after(anchor).take(5).map(|t| format_execution_time(t, ws.zone)).collect();
    let next = got.next_execution_time().expect("an enabled window has a NextExecutionTime");
    assert_eq!(next, expected[0]);
    assert!(next.ends_with("-08:00") || next.ends_with("-07:00"), "{next}");
    let listed = c.describe_maintenance_windows().send().await.unwrap();
    assert_eq!(listed.window_identities()[0].next_execution_time(), Some(expected[0].as_str()));

    // The schedule, two pages of 3 and 2: the same five times.
    let page1 = c.describe_maintenance_window_schedule().window_id(&id).max_results(3).send().await.unwrap();
    let token = page1.next_token().expect("more pages").to_owned();
    let page2 =
        c.describe_maintenance_window_schedule().window_id(&id).max_results(2).next_token(token).send().await.unwrap();
    let times: Vec<String> = page1
        .scheduled_window_executions()
        .iter()
        .chain(page2.scheduled_window_executions())
        .map(|e| e.execution_time().unwrap().to_owned())
        .collect();
    assert_eq!(times, expected);
    assert!(page1
        .scheduled_window_executions()
        .iter()
        .all(|e| e.window_id() == Some(id.as_str()) && e.name() == Some("tz-window")));

    // ScheduledBefore bounds the list.
    let before = ws.occurrences_after(anchor).nth(2).unwrap();
    let bounded = c
        .describe_maintenance_window_schedule()
        .window_id(&id)
        .filters(PatchOrchestratorFilter::builder().key("ScheduledBefore").values(before.to_rfc3339()).build())
        .send()
        .await
        .unwrap();
    assert_eq!(bounded.scheduled_window_executions().len(), 2);
    assert!(bounded.next_token().is_none());

    // A rename shows in the schedule (the parsed schedule is cached; the name is not).
    c.update_maintenance_window().window_id(&id).name("renamed-window").send().await.unwrap();
    let renamed = c.describe_maintenance_window_schedule().window_id(&id).max_results(1).send().await.unwrap();
    assert_eq!(renamed.scheduled_window_executions()[0].name(), Some("renamed-window"));

    // Disabled: no NextExecutionTime, nothing scheduled.
    c.update_maintenance_window().window_id(&id).enabled(false).send().await.unwrap();
    let got = c.get_maintenance_window().window_id(&id).send().await.unwrap();
    assert_eq!(got.next_execution_time(), None);
    let sched = c.describe_maintenance_window_schedule().window_id(&id).send().await.unwrap();
    assert!(sched.scheduled_window_executions().is_empty());
}

#[tokio::test]
async fn schedule_across_windows_targeting_a_node() {
    let s = Server::start();
    let c = s.sdk();
    let node = Target::builder().key("InstanceIds").values("mi-0123456789abcdef0").build();
    let mut ids = Vec::new();
    for (name, expr) in
        [("daily", "cron(0 3 ? * * *)"), ("hourly", "cron(0 * ? * * *)"), ("other", "cron(30 3 ? * * *)")]
    {
        let id = crate::common::create_window(&c, name, expr, true).await;
        if name != "other" {
            c.register_target_with_maintenance_window()
                .window_id(&id)
                .resource_type(MaintenanceWindowResourceType::Instance)
                .targets(node.clone())
                .send()
                .await
                .unwrap();
        }
        ids.push(id);
    }
    let out = c
        .describe_maintenance_window_schedule()
        .targets(node)
        .resource_type(MaintenanceWindowResourceType::Instance)
        .max_results(30)
        .send()
        .await
        .unwrap();
    let items = out.scheduled_window_executions();
    assert_eq!(items.len(), 30);
    // In time order, both targeting windows present, the other window absent.
    let times: Vec<DateTime<Utc>> =
        items.iter().map(|e| casement_schedule::parse_date_time(e.execution_time().unwrap(), None).unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(items.iter().any(|e| e.name() == Some("daily")));
    assert!(items.iter().any(|e| e.name() == Some("hourly")));
    assert!(items.iter().all(|e| e.name() != Some("other")));
    assert!(times[0] > instant(0));

    // Targets need a ResourceType.
    let err = c
        .describe_maintenance_window_schedule()
        .targets(Target::builder().key("InstanceIds").values("mi-0123456789abcdef0").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    // Neither WindowId nor Targets: every window of the account, "other" included.
    let all = c.describe_maintenance_window_schedule().max_results(100).send().await.unwrap();
    assert!(all.scheduled_window_executions().iter().any(|e| e.name() == Some("other")));
}

#[tokio::test]
async fn invalid_schedules_are_refused() {
    let s = Server::start();
    let c = s.sdk();
    let create = |schedule: &'static str,
                  zone: Option<&'static str>,
                  offset: Option<i32>,
                  start: Option<&'static str>,
                  end: Option<&'static str>| {
        c.create_maintenance_window()
            .name("bad-schedule")
            .schedule(schedule)
            .set_schedule_timezone(zone.map(str::to_owned))
            .set_schedule_offset(offset)
            .set_start_date(start.map(str::to_owned))
            .set_end_date(end.map(str::to_owned))
            .duration(2)
            .cutoff(1)
            .allow_unassociated_targets(false)
            .send()
    };
    for (schedule, zone, offset, start, end) in [
        ("cron(0 2 * * * *)", None, None, None, None),
        ("cron(0/1 * ? * * *)", None, None, None, None),
        ("rate(1 hours)", None, None, None, None),
        ("rate(5 hour)", None, None, None, None),
        ("every tuesday", None, None, None, None),
        ("cron(0 2 ? * * *)", Some("Mars/Olympus_Mons"), None, None, None),
        ("rate(1 day)", None, Some(2), None, None),
        ("cron(0 2 ? * * *)", None, None, Some("2031-01-01T00:00:00Z"), Some("2030-01-01T00:00:00Z")),
        ("cron(0 2 ? * * *)", None, None, Some("next week"), None),
    ] {
        let err = create(schedule, zone, offset, start, end).await.unwrap_err();
        assert_eq!(code(&err), "ValidationException", "{schedule} {zone:?} {offset:?} {start:?} {end:?}");
    }
    assert!(c.describe_maintenance_windows().send().await.unwrap().window_identities().is_empty());
    // A valid window cannot be updated into an invalid one.
    let id = create("rate(1 day)", None, None, None, None).await.unwrap().window_id().unwrap().to_owned();
    let err = c.update_maintenance_window().window_id(&id).schedule("rate(0 days)").send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let got = c.get_maintenance_window().window_id(&id).send().await.unwrap();
    assert_eq!(got.schedule(), Some("rate(1 day)"));
    // An at() in the past never runs: no NextExecutionTime.
    c.update_maintenance_window().window_id(&id).schedule("at(2020-01-01T00:00:00)").send().await.unwrap();
    assert_eq!(c.get_maintenance_window().window_id(&id).send().await.unwrap().next_execution_time(), None);
}
