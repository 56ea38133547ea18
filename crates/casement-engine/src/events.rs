//! The events a window's life emits, shaped as EventBridge delivers AWS's (`source:
//! aws.ssm`, the `detail-type`s and detail fields of the SSM user guide). They are
//! written to the store's outbox in the transaction of the change they report.

use casement_model::{ExecutionStatus, Scope, TaskExecution, TaskInvocation, TaskType, WindowExecution, WindowId};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn window_arn(scope: &Scope, window: &WindowId) -> String {
    format!("arn:aws:ssm:{}:{}:maintenancewindow/{}", scope.region, scope.account, window)
}

/// One event, enveloped as EventBridge delivers it.
pub fn envelope(scope: &Scope, now_ms: i64, detail_type: &str, resources: Vec<String>, detail: Value) -> String {
    json!({
        "version": "0",
        "id": casement_model::ids::new_uuid(),
        "detail-type": detail_type,
        "source": "aws.ssm",
        "account": scope.account,
        "time": DateTime::<Utc>::from_timestamp_millis(now_ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": scope.region,
        "resources": resources,
        "detail": detail,
    })
    .to_string()
}

fn times(detail: &mut Map<String, Value>, start_ms: i64, end_ms: Option<i64>) {
    detail.insert("start-time".into(), iso(start_ms).into());
    if let Some(end) = end_ms {
        detail.insert("end-time".into(), iso(end).into());
    }
}

pub fn execution(scope: &Scope, now_ms: i64, e: &WindowExecution) -> String {
    let mut d = Map::new();
    times(&mut d, e.start_ms, e.end_ms);
    d.insert("window-id".into(), e.window_id.as_str().into());
    d.insert("window-execution-id".into(), e.window_execution_id.clone().into());
    d.insert("status".into(), e.status.as_str().into());
    envelope(
        scope,
        now_ms,
        "Maintenance Window Execution State-change Notification",
        vec![window_arn(scope, &e.window_id)],
        Value::Object(d),
    )
}

pub fn task(scope: &Scope, now_ms: i64, window: &WindowId, t: &TaskExecution) -> String {
    let mut d = Map::new();
    times(&mut d, t.start_ms, t.end_ms);
    d.insert("task-execution-id".into(), t.task_execution_id.clone().into());
    d.insert("window-id".into(), window.as_str().into());
    d.insert("window-execution-id".into(), t.window_execution_id.clone().into());
    d.insert("status".into(), t.status.as_str().into());
    envelope(
        scope,
        now_ms,
        "Maintenance Window Task Execution State-change Notification",
        vec![window_arn(scope, window)],
        Value::Object(d),
    )
}

/// AWS reports Automation, Lambda and Step Functions invocations only as `IN_PROGRESS`
/// and then `COMPLETE`, whatever the outcome; Run Command invocations with their status.
pub fn invocation(scope: &Scope, now_ms: i64, window: &WindowId, i: &TaskInvocation) -> String {
    let status = match (i.task_type, i.status) {
        (TaskType::RunCommand, s) => s.as_str(),
        (_, ExecutionStatus::InProgress | ExecutionStatus::Pending) => "IN_PROGRESS",
        (_, _) => "COMPLETE",
    };
    let mut d = Map::new();
    times(&mut d, i.start_ms, i.end_ms);
    d.insert("window-id".into(), window.as_str().into());
    d.insert("window-execution-id".into(), i.window_execution_id.clone().into());
    d.insert("task-execution-id".into(), i.task_execution_id.clone().into());
    if let Some(t) = &i.window_target_id {
        d.insert("window-target-id".into(), t.clone().into());
    }
    d.insert("status".into(), status.into());
    if let Some(o) = &i.owner_information {
        d.insert("owner-information".into(), o.clone().into());
    }
    envelope(
        scope,
        now_ms,
        "Maintenance Window Task Target Invocation State-change Notification",
        vec![window_arn(scope, window)],
        Value::Object(d),
    )
}

/// What a registration event is about.
#[derive(Debug, Clone, Copy)]
pub enum Registered {
    Target,
    Task,
}

/// A target or task `REGISTERED`, `DEREGISTERED` or `UPDATED`.
pub fn registration(scope: &Scope, now_ms: i64, window: &WindowId, what: Registered, id: &str, status: &str) -> String {
    let (detail_type, arn_kind, id_field) = match what {
        Registered::Target => {
            ("Maintenance Window Target Registration Notification", "windowtarget", "window-target-id")
        }
        Registered::Task => ("Maintenance Window Task Registration Notification", "windowtask", "window-task-id"),
    };
    envelope(
        scope,
        now_ms,
        detail_type,
        vec![window_arn(scope, window), format!("arn:aws:ssm:{}:{}:{arn_kind}/{id}", scope.region, scope.account)],
        json!({ id_field: id, "window-id": window.as_str(), "status": status }),
    )
}

/// `ENABLED` or `DISABLED`.
pub fn window_state(scope: &Scope, now_ms: i64, window: &WindowId, enabled: bool) -> String {
    envelope(
        scope,
        now_ms,
        "Maintenance Window State-change Notification",
        vec![window_arn(scope, window)],
        json!({ "window-id": window.as_str(), "status": if enabled { "ENABLED" } else { "DISABLED" } }),
    )
}
