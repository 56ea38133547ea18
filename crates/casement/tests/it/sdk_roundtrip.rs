//! Every served operation, driven with the AWS SDK for Rust, round-tripping every member.

use aws_sdk_ssm::primitives::Blob;
use aws_sdk_ssm::types::{
    Alarm, AlarmConfiguration, CloudWatchOutputConfig, LoggingInfo, MaintenanceWindowAutomationParameters,
    MaintenanceWindowFilter, MaintenanceWindowLambdaParameters, MaintenanceWindowResourceType,
    MaintenanceWindowRunCommandParameters, MaintenanceWindowStepFunctionsParameters,
    MaintenanceWindowTaskCutoffBehavior, MaintenanceWindowTaskInvocationParameters,
    MaintenanceWindowTaskParameterValueExpression, MaintenanceWindowTaskType, NotificationConfig, NotificationEvent,
    NotificationType, ResourceTypeForTagging, Tag, Target,
};

use crate::common::{code, Server};

fn target(key: &str, values: &[&str]) -> Target {
    Target::builder().key(key).set_values(Some(values.iter().map(|v| v.to_string()).collect())).build()
}

async fn window(c: &aws_sdk_ssm::Client, name: &str, unassociated: bool) -> String {
    crate::common::create_window(c, name, "rate(1 day)", unassociated).await
}

#[tokio::test]
async fn window_lifecycle_round_trips_every_member() {
    let s = Server::start();
    let c = s.sdk();
    let created = c
        .create_maintenance_window()
        .name("Patch-Tuesday_1.0")
        .description("second Tuesday patching")
        .start_date("2030-01-01T00:00:00Z")
        .end_date("2031-01-01T00:00:00Z")
        .schedule("cron(0 2 ? * TUE#2 *)")
        .schedule_timezone("America/Los_Angeles")
        .schedule_offset(2)
        .duration(4)
        .cutoff(1)
        .allow_unassociated_targets(true)
        .client_token("token-1")
        .tags(Tag::builder().key("Env").value("prod").build().unwrap())
        .send()
        .await
        .expect("create");
    let id = created.window_id().unwrap().to_owned();
    assert!(id.starts_with("mw-") && id.len() == 20, "{id}");

    let got = c.get_maintenance_window().window_id(&id).send().await.expect("get");
    assert_eq!(got.window_id(), Some(id.as_str()));
    assert_eq!(got.name(), Some("Patch-Tuesday_1.0"));
    assert_eq!(got.description(), Some("second Tuesday patching"));
    assert_eq!(got.start_date(), Some("2030-01-01T00:00:00Z"));
    assert_eq!(got.end_date(), Some("2031-01-01T00:00:00Z"));
    assert_eq!(got.schedule(), Some("cron(0 2 ? * TUE#2 *)"));
    assert_eq!(got.schedule_timezone(), Some("America/Los_Angeles"));
    assert_eq!(got.schedule_offset(), Some(2));
    assert_eq!(got.duration(), Some(4));
    assert_eq!(got.cutoff(), 1);
    assert!(got.allow_unassociated_targets());
    assert!(got.enabled());
    let created_at = got.created_date().expect("CreatedDate").secs();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - created_at).abs() < 60, "CreatedDate {created_at} vs now {now}");
    assert!(got.modified_date().is_some());

    // Partial update: only the given members change.
    let upd =
        c.update_maintenance_window().window_id(&id).description("moved").enabled(false).send().await.expect("update");
    assert_eq!(upd.description(), Some("moved"));
    assert_eq!(upd.name(), Some("Patch-Tuesday_1.0"));
    assert!(!upd.enabled());
    assert_eq!(upd.schedule_offset(), Some(2));

    // Replace: optional members not given are cleared.
    let rep = c
        .update_maintenance_window()
        .window_id(&id)
        .name("replaced")
        .schedule("rate(7 days)")
        .duration(3)
        .cutoff(0)
        .allow_unassociated_targets(false)
        .replace(true)
        .send()
        .await
        .expect("replace");
    assert_eq!(rep.name(), Some("replaced"));
    assert_eq!(rep.description(), None);
    assert_eq!(rep.schedule_timezone(), None);
    assert_eq!(rep.schedule_offset(), None);
    assert_eq!(rep.start_date(), None);
    let got = c.get_maintenance_window().window_id(&id).send().await.unwrap();
    assert_eq!(got.schedule(), Some("rate(7 days)"));
    assert_eq!(got.cutoff(), 0);

    // Replace without a required member is refused and changes nothing.
    let err = c.update_maintenance_window().window_id(&id).name("x-y-z").replace(true).send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert_eq!(c.get_maintenance_window().window_id(&id).send().await.unwrap().name(), Some("replaced"));

    c.delete_maintenance_window().window_id(&id).send().await.expect("delete");
    let err = c.get_maintenance_window().window_id(&id).send().await.unwrap_err();
    assert_eq!(code(&err), "DoesNotExistException");
    assert_eq!(
        err.into_service_error().meta().message(),
        Some(format!("Maintenance window {id} does not exist").as_str())
    );
    // SSM models no DoesNotExistException for DeleteMaintenanceWindow: deleting again succeeds.
    let again = c.delete_maintenance_window().window_id(&id).send().await.expect("delete again");
    assert_eq!(again.window_id(), Some(id.as_str()));
}

#[tokio::test]
async fn describe_windows_filters_and_pages() {
    let s = Server::start();
    let c = s.sdk();
    let mut ids = Vec::new();
    for i in 0..23 {
        ids.push(window(&c, &format!("{}-{i:02}", if i < 15 { "web" } else { "db" }), false).await);
    }
    let disabled = ids[0].clone();
    c.update_maintenance_window().window_id(&disabled).enabled(false).send().await.unwrap();

    // Pages of 10 cover every window exactly once.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = c.describe_maintenance_windows().max_results(10).set_next_token(token).send().await.unwrap();
        assert!(page.window_identities().len() <= 10);
        seen.extend(page.window_identities().iter().map(|w| w.window_id().unwrap().to_owned()));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    ids.sort();
    seen.sort();
    assert_eq!(seen, ids);

    let name = |k: &str, v: &str| MaintenanceWindowFilter::builder().key(k).values(v).build();
    let db = c.describe_maintenance_windows().filters(name("Name", "db")).max_results(100).send().await.unwrap();
    assert_eq!(db.window_identities().len(), 8);
    assert!(db.window_identities().iter().all(|w| w.name().unwrap().starts_with("db")));
    let off = c.describe_maintenance_windows().filters(name("Enabled", "False")).send().await.unwrap();
    assert_eq!(off.window_identities().len(), 1);
    assert_eq!(off.window_identities()[0].window_id(), Some(disabled.as_str()));
    let both = c
        .describe_maintenance_windows()
        .filters(name("Name", "web"))
        .filters(name("Enabled", "true"))
        .max_results(100)
        .send()
        .await
        .unwrap();
    assert_eq!(both.window_identities().len(), 14);

    let err = c.describe_maintenance_windows().filters(name("Colour", "red")).send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = c.describe_maintenance_windows().next_token("garbage").send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
}

#[tokio::test]
async fn targets_round_trip_and_safe_deregistration() {
    let s = Server::start();
    let c = s.sdk();
    let w = window(&c, "targets", false).await;
    let reg = c
        .register_target_with_maintenance_window()
        .window_id(&w)
        .resource_type(MaintenanceWindowResourceType::Instance)
        .targets(target("tag:Env", &["prod", "stage"]))
        .targets(target("InstanceIds", &["mi-0123456789abcdef0"]))
        .owner_information("team-a")
        .name("web-nodes")
        .description("all web nodes")
        .client_token("t-1")
        .send()
        .await
        .expect("register target");
    let tid = reg.window_target_id().unwrap().to_owned();
    assert_eq!(tid.len(), 36);
    let second = c
        .register_target_with_maintenance_window()
        .window_id(&w)
        .resource_type(MaintenanceWindowResourceType::ResourceGroup)
        .targets(target("resource-groups:Name", &["rg-1"]))
        .send()
        .await
        .unwrap()
        .window_target_id()
        .unwrap()
        .to_owned();

    let all = c.describe_maintenance_window_targets().window_id(&w).send().await.unwrap();
    assert_eq!(all.targets().len(), 2);
    let mine = all.targets().iter().find(|t| t.window_target_id() == Some(tid.as_str())).unwrap();
    assert_eq!(mine.window_id(), Some(w.as_str()));
    assert_eq!(mine.resource_type(), Some(&MaintenanceWindowResourceType::Instance));
    assert_eq!(
        mine.targets(),
        &[target("tag:Env", &["prod", "stage"]), target("InstanceIds", &["mi-0123456789abcdef0"])]
    );
    assert_eq!(mine.owner_information(), Some("team-a"));
    assert_eq!(mine.name(), Some("web-nodes"));
    assert_eq!(mine.description(), Some("all web nodes"));

    let f = |k: &str, v: &str| MaintenanceWindowFilter::builder().key(k).values(v).build();
    let by_type = c
        .describe_maintenance_window_targets()
        .window_id(&w)
        .filters(f("Type", "RESOURCE_GROUP"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_type.targets().len(), 1);
    assert_eq!(by_type.targets()[0].window_target_id(), Some(second.as_str()));
    let by_owner = c
        .describe_maintenance_window_targets()
        .window_id(&w)
        .filters(f("OwnerInformation", "team-a"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_owner.targets().len(), 1);
    let by_id = c
        .describe_maintenance_window_targets()
        .window_id(&w)
        .filters(f("WindowTargetId", &second))
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.targets()[0].window_target_id(), Some(second.as_str()));

    let upd = c
        .update_maintenance_window_target()
        .window_id(&w)
        .window_target_id(&tid)
        .owner_information("team-b")
        .send()
        .await
        .unwrap();
    assert_eq!(upd.owner_information(), Some("team-b"));
    assert_eq!(upd.name(), Some("web-nodes"));
    assert_eq!(upd.targets().len(), 2);
    let rep = c
        .update_maintenance_window_target()
        .window_id(&w)
        .window_target_id(&tid)
        .targets(target("tag-key", &["Patch"]))
        .replace(true)
        .send()
        .await
        .unwrap();
    assert_eq!(rep.targets(), &[target("tag-key", &["Patch"])]);
    assert_eq!(rep.owner_information(), None);
    assert_eq!(rep.name(), None);

    // A task names the target: Safe deregistration refuses, plain deregistration works.
    c.register_task_with_maintenance_window()
        .window_id(&w)
        .task_arn("AWS-RunShellScript")
        .task_type(MaintenanceWindowTaskType::RunCommand)
        .targets(target("WindowTargetIds", &[&tid]))
        .max_concurrency("1")
        .max_errors("0")
        .send()
        .await
        .unwrap();
    let err = c
        .deregister_target_from_maintenance_window()
        .window_id(&w)
        .window_target_id(&tid)
        .safe(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "TargetInUseException");
    let out = c.deregister_target_from_maintenance_window().window_id(&w).window_target_id(&tid).send().await.unwrap();
    assert_eq!(out.window_target_id(), Some(tid.as_str()));
    let err =
        c.deregister_target_from_maintenance_window().window_id(&w).window_target_id(&tid).send().await.unwrap_err();
    assert_eq!(code(&err), "DoesNotExistException");
    let err = c
        .register_target_with_maintenance_window()
        .window_id("mw-0000000000000000f")
        .resource_type(MaintenanceWindowResourceType::Instance)
        .targets(target("tag:a", &["b"]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DoesNotExistException");
}

#[tokio::test]
async fn tasks_of_every_type_round_trip() {
    let s = Server::start();
    let c = s.sdk();
    let w = window(&c, "tasks", true).await;
    let tid = c
        .register_target_with_maintenance_window()
        .window_id(&w)
        .resource_type(MaintenanceWindowResourceType::Instance)
        .targets(target("tag:Role", &["web"]))
        .send()
        .await
        .unwrap()
        .window_target_id()
        .unwrap()
        .to_owned();

    let run_command = MaintenanceWindowTaskInvocationParameters::builder()
        .run_command(
            MaintenanceWindowRunCommandParameters::builder()
                .comment("patch {{WINDOW_ID}}")
                .cloud_watch_output_config(
                    CloudWatchOutputConfig::builder()
                        .cloud_watch_log_group_name("lg")
                        .cloud_watch_output_enabled(true)
                        .build(),
                )
                .document_hash("abc")
                .document_hash_type(aws_sdk_ssm::types::DocumentHashType::Sha256)
                .document_version("$LATEST")
                .notification_config(
                    NotificationConfig::builder()
                        .notification_arn("arn:aws:sns:us-east-1:111122223333:topic")
                        .notification_events(NotificationEvent::Failed)
                        .notification_type(NotificationType::Command)
                        .build(),
                )
                .output_s3_bucket_name("bucket")
                .output_s3_key_prefix("prefix")
                .parameters("commands", vec!["echo hello".into(), "uptime".into()])
                .service_role_arn("arn:aws:iam::111122223333:role/r")
                .timeout_seconds(600)
                .build(),
        )
        .build();
    let alarm = AlarmConfiguration::builder()
        .ignore_poll_alarm_failure(true)
        .alarms(Alarm::builder().name("cpu-high").build().unwrap())
        .build()
        .unwrap();
    let logging =
        LoggingInfo::builder().s3_bucket_name("logs").s3_key_prefix("mw").s3_region("us-east-1").build().unwrap();
    let rc = c
        .register_task_with_maintenance_window()
        .window_id(&w)
        .targets(target("WindowTargetIds", &[&tid]))
        .task_arn("AWS-RunShellScript")
        .service_role_arn("arn:aws:iam::111122223333:role/mw")
        .task_type(MaintenanceWindowTaskType::RunCommand)
        .task_parameters("legacy", MaintenanceWindowTaskParameterValueExpression::builder().values("v").build())
        .task_invocation_parameters(run_command.clone())
        .priority(0)
        .max_concurrency("50%")
        .max_errors("1")
        .logging_info(logging.clone())
        .name("patch")
        .description("run patch")
        .client_token("rc-1")
        .cutoff_behavior(MaintenanceWindowTaskCutoffBehavior::CancelTask)
        .alarm_configuration(alarm.clone())
        .send()
        .await
        .expect("register run command task")
        .window_task_id()
        .unwrap()
        .to_owned();
    let got = c.get_maintenance_window_task().window_id(&w).window_task_id(&rc).send().await.unwrap();
    assert_eq!(got.window_id(), Some(w.as_str()));
    assert_eq!(got.window_task_id(), Some(rc.as_str()));
    assert_eq!(got.targets(), &[target("WindowTargetIds", &[&tid])]);
    assert_eq!(got.task_arn(), Some("AWS-RunShellScript"));
    assert_eq!(got.service_role_arn(), Some("arn:aws:iam::111122223333:role/mw"));
    assert_eq!(got.task_type(), Some(&MaintenanceWindowTaskType::RunCommand));
    assert_eq!(got.task_parameters().unwrap()["legacy"].values(), &["v".to_string()]);
    assert_eq!(got.task_invocation_parameters(), Some(&run_command));
    assert_eq!(got.priority(), 0);
    assert_eq!(got.max_concurrency(), Some("50%"));
    assert_eq!(got.max_errors(), Some("1"));
    assert_eq!(got.logging_info(), Some(&logging));
    assert_eq!(got.name(), Some("patch"));
    assert_eq!(got.description(), Some("run patch"));
    assert_eq!(got.cutoff_behavior(), Some(&MaintenanceWindowTaskCutoffBehavior::CancelTask));
    assert_eq!(got.alarm_configuration(), Some(&alarm));

    // Targetless LAMBDA, STEP_FUNCTIONS and AUTOMATION tasks.
    let lambda = MaintenanceWindowTaskInvocationParameters::builder()
        .lambda(
            MaintenanceWindowLambdaParameters::builder()
                .client_context("eyJhIjoxfQ==")
                .qualifier("$LATEST")
                .payload(Blob::new(br#"{"window":"{{WINDOW_ID}}"}"#.to_vec()))
                .build(),
        )
        .build();
    let sfn = MaintenanceWindowTaskInvocationParameters::builder()
        .step_functions(MaintenanceWindowStepFunctionsParameters::builder().input("{}").name("exec-1").build())
        .build();
    let auto = MaintenanceWindowTaskInvocationParameters::builder()
        .automation(
            MaintenanceWindowAutomationParameters::builder()
                .document_version("1")
                .parameters("InstanceId", vec!["{{RESOURCE_ID}}".into()])
                .build(),
        )
        .build();
    for (ty, arn, params, prio) in [
        (MaintenanceWindowTaskType::Lambda, "arn:aws:lambda:us-east-1:111122223333:function:f", lambda, 2),
        (MaintenanceWindowTaskType::StepFunctions, "arn:aws:states:us-east-1:111122223333:stateMachine:s", sfn, 3),
        (MaintenanceWindowTaskType::Automation, "AWS-RestartEC2Instance", auto, 4),
    ] {
        let id = c
            .register_task_with_maintenance_window()
            .window_id(&w)
            .task_arn(arn)
            .task_type(ty.clone())
            .task_invocation_parameters(params.clone())
            .priority(prio)
            .send()
            .await
            .unwrap_or_else(|e| panic!("register {ty:?}: {e:?}"))
            .window_task_id()
            .unwrap()
            .to_owned();
        let got = c.get_maintenance_window_task().window_id(&w).window_task_id(&id).send().await.unwrap();
        assert_eq!(got.task_type(), Some(&ty));
        assert_eq!(got.task_invocation_parameters(), Some(&params));
        assert!(got.targets().is_empty());
        assert_eq!(got.max_concurrency(), None);
    }

    let f = |k: &str, v: &str| MaintenanceWindowFilter::builder().key(k).values(v).build();
    let all = c.describe_maintenance_window_tasks().window_id(&w).send().await.unwrap();
    assert_eq!(all.tasks().len(), 4);
    let item = all.tasks().iter().find(|t| t.window_task_id() == Some(rc.as_str())).unwrap();
    assert_eq!(item.r#type(), Some(&MaintenanceWindowTaskType::RunCommand));
    assert_eq!(item.priority(), 0);
    assert_eq!(item.alarm_configuration(), Some(&alarm));
    let lambdas =
        c.describe_maintenance_window_tasks().window_id(&w).filters(f("TaskType", "LAMBDA")).send().await.unwrap();
    assert_eq!(lambdas.tasks().len(), 1);
    let p3 = c.describe_maintenance_window_tasks().window_id(&w).filters(f("Priority", "3")).send().await.unwrap();
    assert_eq!(p3.tasks()[0].r#type(), Some(&MaintenanceWindowTaskType::StepFunctions));
    let by_arn = c
        .describe_maintenance_window_tasks()
        .window_id(&w)
        .filters(f("TaskArn", "AWS-RunShellScript"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.tasks().len(), 1);

    let upd = c
        .update_maintenance_window_task()
        .window_id(&w)
        .window_task_id(&rc)
        .priority(5)
        .max_errors("10%")
        .send()
        .await
        .unwrap();
    assert_eq!(upd.priority(), 5);
    assert_eq!(upd.max_errors(), Some("10%"));
    assert_eq!(upd.name(), Some("patch"));
    assert_eq!(upd.task_invocation_parameters(), Some(&run_command));
    let rep = c
        .update_maintenance_window_task()
        .window_id(&w)
        .window_task_id(&rc)
        .task_arn("AWS-RunPowerShellScript")
        .targets(target("InstanceIds", &["mi-0123456789abcdef0"]))
        .max_concurrency("1")
        .max_errors("1")
        .replace(true)
        .send()
        .await
        .unwrap();
    assert_eq!(rep.task_arn(), Some("AWS-RunPowerShellScript"));
    assert_eq!(rep.name(), None);
    assert_eq!(rep.task_invocation_parameters(), None);
    assert_eq!(rep.alarm_configuration(), None);

    c.deregister_task_from_maintenance_window().window_id(&w).window_task_id(&rc).send().await.unwrap();
    let err = c.get_maintenance_window_task().window_id(&w).window_task_id(&rc).send().await.unwrap_err();
    assert_eq!(code(&err), "DoesNotExistException");
    let err = c.deregister_task_from_maintenance_window().window_id(&w).window_task_id(&rc).send().await.unwrap_err();
    assert_eq!(code(&err), "DoesNotExistException");
}

#[tokio::test]
async fn task_rules_match_ssm() {
    let s = Server::start();
    let c = s.sdk();
    let strict = window(&c, "strict", false).await;
    let msg = |e: aws_sdk_ssm::error::SdkError<_, _>| {
        let e: aws_sdk_ssm::operation::register_task_with_maintenance_window::RegisterTaskWithMaintenanceWindowError =
            e.into_service_error();
        (e.meta().code().unwrap_or("").to_owned(), e.meta().message().unwrap_or("").to_owned())
    };
    // Targetless tasks take neither MaxConcurrency nor MaxErrors (SSM's own message).
    let e = c
        .register_task_with_maintenance_window()
        .window_id(&strict)
        .task_arn("arn:aws:lambda:us-east-1:111122223333:function:f")
        .task_type(MaintenanceWindowTaskType::Lambda)
        .max_concurrency("1")
        .max_errors("1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        msg(e),
        (
            "ValidationException".into(),
            "Maintenance window tasks without targets do not support MaxErrors values. Maintenance window tasks without targets do not support MaxConcurrency values.".into()
        )
    );
    let run_command_on = |t: Target| {
        c.register_task_with_maintenance_window()
            .window_id(&strict)
            .task_arn("AWS-RunShellScript")
            .task_type(MaintenanceWindowTaskType::RunCommand)
            .targets(t)
            .max_concurrency("1")
            .max_errors("1")
            .send()
    };
    // Node IDs as task targets need AllowUnassociatedTargets.
    let e = run_command_on(target("InstanceIds", &["mi-0123456789abcdef0"])).await.unwrap_err();
    assert_eq!(msg(e).0, "ValidationException");
    // Unknown window target.
    let e = run_command_on(target("WindowTargetIds", &["11111111-2222-3333-4444-555555555555"])).await.unwrap_err();
    assert_eq!(msg(e).0, "DoesNotExistException");
    // Invocation parameters of another task type.
    let e = c
        .register_task_with_maintenance_window()
        .window_id(&strict)
        .task_arn("arn:aws:lambda:us-east-1:111122223333:function:f")
        .task_type(MaintenanceWindowTaskType::Lambda)
        .task_invocation_parameters(
            MaintenanceWindowTaskInvocationParameters::builder()
                .step_functions(MaintenanceWindowStepFunctionsParameters::builder().name("n").build())
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(msg(e).0, "ValidationException");
    // Run Command tasks need targets; tasks with targets need MaxConcurrency and MaxErrors.
    let e = c
        .register_task_with_maintenance_window()
        .window_id(&strict)
        .task_arn("AWS-RunShellScript")
        .task_type(MaintenanceWindowTaskType::RunCommand)
        .send()
        .await
        .unwrap_err();
    assert_eq!(msg(e).0, "ValidationException");
    // Cutoff must be below Duration, with SSM's message.
    let e = c
        .create_maintenance_window()
        .name("bad-cutoff")
        .schedule("rate(1 day)")
        .duration(6)
        .cutoff(12)
        .allow_unassociated_targets(false)
        .send()
        .await
        .unwrap_err();
    let e = e.into_service_error();
    assert_eq!(e.meta().code(), Some("ValidationException"));
    assert_eq!(e.meta().message(), Some("Cuttoff was 12 but must be smaller than 5 (Duration - 1 )"));
    // ScheduleOffset only with cron.
    let e = c
        .create_maintenance_window()
        .name("bad-offset")
        .schedule("rate(1 day)")
        .schedule_offset(2)
        .duration(2)
        .cutoff(1)
        .allow_unassociated_targets(false)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    // Nothing half-written survived the failures.
    let tasks = c.describe_maintenance_window_tasks().window_id(&strict).send().await.unwrap();
    assert!(tasks.tasks().is_empty());
    assert_eq!(c.describe_maintenance_windows().send().await.unwrap().window_identities().len(), 1);
}

#[tokio::test]
async fn client_tokens_are_idempotent() {
    let s = Server::start();
    let c = s.sdk();
    let create = |name: &'static str| {
        c.create_maintenance_window()
            .name(name)
            .schedule("rate(1 day)")
            .duration(2)
            .cutoff(1)
            .allow_unassociated_targets(false)
            .client_token("same-token")
            .send()
    };
    let a = create("idem").await.unwrap().window_id().unwrap().to_owned();
    let b = create("idem").await.unwrap().window_id().unwrap().to_owned();
    assert_eq!(a, b);
    let err = create("different").await.unwrap_err();
    assert_eq!(code(&err), "IdempotentParameterMismatch");
    assert_eq!(c.describe_maintenance_windows().send().await.unwrap().window_identities().len(), 1);
}

#[tokio::test]
async fn tags_on_windows() {
    let s = Server::start();
    let c = s.sdk();
    let w = c
        .create_maintenance_window()
        .name("tagged")
        .schedule("rate(1 day)")
        .duration(2)
        .cutoff(1)
        .allow_unassociated_targets(false)
        .tags(Tag::builder().key("Env").value("prod").build().unwrap())
        .send()
        .await
        .unwrap()
        .window_id()
        .unwrap()
        .to_owned();
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    c.add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::MaintenanceWindow)
        .resource_id(&w)
        .tags(tag("Owner", "ops"))
        .tags(tag("Env", "stage"))
        .send()
        .await
        .unwrap();
    let list = c
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::MaintenanceWindow)
        .resource_id(&w)
        .send()
        .await
        .unwrap();
    assert_eq!(list.tag_list(), &[tag("Env", "stage"), tag("Owner", "ops")]);
    c.remove_tags_from_resource()
        .resource_type(ResourceTypeForTagging::MaintenanceWindow)
        .resource_id(&w)
        .tag_keys("Env")
        .send()
        .await
        .unwrap();
    let list = c
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::MaintenanceWindow)
        .resource_id(&w)
        .send()
        .await
        .unwrap();
    assert_eq!(list.tag_list(), &[tag("Owner", "ops")]);

    let mut many = c.add_tags_to_resource().resource_type(ResourceTypeForTagging::MaintenanceWindow).resource_id(&w);
    for i in 0..50 {
        many = many.tags(tag(&format!("k{i}"), "v"));
    }
    assert_eq!(code(&many.send().await.unwrap_err()), "TooManyTagsError");
    let list = c
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::MaintenanceWindow)
        .resource_id(&w)
        .send()
        .await
        .unwrap();
    assert_eq!(list.tag_list().len(), 1, "a refused AddTagsToResource adds nothing");

    let err = c
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::MaintenanceWindow)
        .resource_id("mw-0000000000000000f")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidResourceId");
    let err = c
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id("p")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidResourceType");
}

#[tokio::test]
async fn windows_for_target() {
    let s = Server::start();
    let c = s.sdk();
    let a = window(&c, "alpha", false).await;
    let b = window(&c, "beta", false).await;
    window(&c, "gamma", false).await;
    for (w, t) in [
        (&a, target("InstanceIds", &["mi-0aaaaaaaaaaaaaaaa", "mi-0bbbbbbbbbbbbbbbb"])),
        (&b, target("InstanceIds", &["mi-0bbbbbbbbbbbbbbbb"])),
    ] {
        c.register_target_with_maintenance_window()
            .window_id(w)
            .resource_type(MaintenanceWindowResourceType::Instance)
            .targets(t)
            .send()
            .await
            .unwrap();
    }
    let out = c
        .describe_maintenance_windows_for_target()
        .targets(target("InstanceIds", &["mi-0bbbbbbbbbbbbbbbb"]))
        .resource_type(MaintenanceWindowResourceType::Instance)
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = out.window_identities().iter().map(|w| w.name().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["alpha", "beta"]);
    let out = c
        .describe_maintenance_windows_for_target()
        .targets(target("InstanceIds", &["mi-0aaaaaaaaaaaaaaaa"]))
        .resource_type(MaintenanceWindowResourceType::Instance)
        .send()
        .await
        .unwrap();
    assert_eq!(out.window_identities().len(), 1);
    assert_eq!(out.window_identities()[0].window_id(), Some(a.as_str()));
}

#[tokio::test]
async fn aws_quotas_are_opt_in() {
    let s = Server::start_with(&["--aws-quotas"]);
    let c = s.sdk();
    let w = window(&c, "quota", true).await;
    for i in 0..20 {
        c.register_task_with_maintenance_window()
            .window_id(&w)
            .task_arn(format!("arn:aws:lambda:us-east-1:111122223333:function:f{i}"))
            .task_type(MaintenanceWindowTaskType::Lambda)
            .send()
            .await
            .unwrap();
    }
    let err = c
        .register_task_with_maintenance_window()
        .window_id(&w)
        .task_arn("arn:aws:lambda:us-east-1:111122223333:function:one-too-many")
        .task_type(MaintenanceWindowTaskType::Lambda)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceLimitExceededException");
}
