//! Execution history: what running a window left behind, from the window execution down
//! to each target's invocation, and CancelMaintenanceWindowExecution.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use casement_model::task::AlarmConfiguration;
use casement_model::{insert_bounded, FastMap};
use casement_model::{ExecutionStatus, TaskExecution, TaskInvocation, TaskType, WindowExecution, WindowId};
use casement_protocol::timefmt::{epoch_seconds, opt_epoch_seconds};
use casement_protocol::ApiError;
use casement_store::ExecutionFilter;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::errors::internal;
use crate::windows::{check_filter_keys, Filter};
use crate::{pagination, Api, Context};

/// Where a window execution, task execution or invocation stands: the members all three
/// answer with.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Progress {
    pub status: ExecutionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    #[serde(serialize_with = "epoch_seconds")]
    pub start_time: i64,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_epoch_seconds")]
    pub end_time: Option<i64>,
}

impl Progress {
    fn new(status: ExecutionStatus, status_details: Option<String>, start_ms: i64, end_ms: Option<i64>) -> Self {
        Self { status, status_details, start_time: start_ms, end_time: end_ms }
    }
}

fn execution_not_found(id: &str) -> ApiError {
    ApiError::DoesNotExist(format!("Maintenance window execution {id} does not exist"))
}

fn task_execution_not_found(id: &str) -> ApiError {
    ApiError::DoesNotExist(format!("Maintenance window execution task {id} does not exist"))
}

fn invocation_not_found(id: &str) -> ApiError {
    ApiError::DoesNotExist(format!("Maintenance window execution task invocation {id} does not exist"))
}

/// The status a caller sees: a cancel request shows as CANCELLING until the driver
/// finishes the execution.
fn served_status(e: &WindowExecution) -> ExecutionStatus {
    if e.cancel_requested && !e.status.is_final() {
        ExecutionStatus::Cancelling
    } else {
        e.status
    }
}

async fn execution(api: &Api, ctx: &Context, id: &str) -> Result<WindowExecution, ApiError> {
    api.store.get_execution(&ctx.scope, id).await.map_err(internal)?.ok_or_else(|| execution_not_found(id))
}

async fn task_execution(api: &Api, ctx: &Context, exec: &str, task: &str) -> Result<TaskExecution, ApiError> {
    match api.store.get_task_execution(&ctx.scope, exec, task).await.map_err(internal)? {
        Some(t) => Ok(t),
        None => Err(missing_task(api, ctx, exec, task).await),
    }
}

/// Which ID of a task-level request is unknown: the execution's, if it is, as AWS
/// reports the outermost missing resource; else the task execution's. Asked only once a
/// lookup has come back empty, so found resources cost no extra read.
async fn missing_task(api: &Api, ctx: &Context, exec: &str, task: &str) -> ApiError {
    match execution(api, ctx, exec).await {
        Ok(_) => task_execution_not_found(task),
        Err(e) => e,
    }
}

/// `STATUS` filter values, checked against the enum (SKIPPED_OVERLAPPING is not one).
fn status_filter(filters: Option<Vec<Filter>>) -> Result<Vec<ExecutionStatus>, ApiError> {
    let filters = filters.unwrap_or_default();
    check_filter_keys(&filters, &["STATUS"])?;
    let mut out = Vec::new();
    for v in filters.iter().flat_map(|f| f.values.iter().flatten()) {
        match ExecutionStatus::parse(v).filter(|s| *s != ExecutionStatus::SkippedOverlapping) {
            Some(s) => out.push(s),
            None => {
                return Err(ApiError::Validation(format!(
                    "Invalid value for filter STATUS: {v}. Valid values are PENDING, IN_PROGRESS, SUCCESS, FAILED, \
                     TIMED_OUT, CANCELLING, CANCELLED."
                )))
            }
        }
    }
    Ok(out)
}

// ---- DescribeMaintenanceWindowExecutions ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeExecutionsRequest {
    pub window_id: WindowId,
    pub filters: Option<Vec<Filter>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WindowExecutionOut {
    pub window_id: WindowId,
    pub window_execution_id: String,
    #[serde(flatten)]
    pub progress: Progress,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeExecutionsResult {
    pub window_executions: Vec<WindowExecutionOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// A filter's time value: ISO-8601 (`2024-11-04T05:00:00Z`), as the API reference shows.
fn filter_time(key: &str, v: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_millis())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S").map(|t| t.and_utc().timestamp_millis())
        })
        .map_err(|_| {
            ApiError::Validation(format!(
                "Invalid value for filter {key}: {v}. The value must be a date and time in ISO 8601 format, such as 2024-11-04T05:00:00Z."
            ))
        })
}

/// Newest first. `ExecutedBefore` / `ExecutedAfter` bound the start time. A window
/// that does not exist (or no longer does) has no executions to list.
pub async fn describe_executions(
    api: &Api,
    ctx: &Context,
    req: DescribeExecutionsRequest,
) -> Result<DescribeExecutionsResult, ApiError> {
    let filters = req.filters.unwrap_or_default();
    check_filter_keys(&filters, &["ExecutedBefore", "ExecutedAfter"])?;
    let mut filter = ExecutionFilter::default();
    for f in &filters {
        let key = f.key.as_deref().unwrap_or("");
        for v in f.values.iter().flatten() {
            let t = filter_time(key, v)?;
            if key == "ExecutedBefore" {
                filter.started_before_ms = Some(filter.started_before_ms.map_or(t, |b: i64| b.min(t)));
            } else {
                filter.started_after_ms = Some(filter.started_after_ms.map_or(t, |a: i64| a.max(t)));
            }
        }
    }
    let after = match pagination::decode(req.next_token.as_deref())? {
        None => None,
        Some(k) => {
            let (start, id) = k
                .split_once('/')
                .and_then(|(s, id)| Some((s.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| ApiError::Validation("The specified NextToken is not valid.".into()))?;
            Some((start, id))
        }
    };
    let size = pagination::page_size(req.max_results, 10, 100);
    let mut rows = api
        .store
        .list_executions(&ctx.scope, &req.window_id, &filter, after.as_ref(), size + 1)
        .await
        .map_err(internal)?;
    let next_token = if rows.len() > size {
        rows.truncate(size);
        rows.last().map(|e| pagination::encode(&format!("{}/{}", e.start_ms, e.window_execution_id)))
    } else {
        None
    };
    let window_executions = rows
        .into_iter()
        .map(|e| WindowExecutionOut {
            progress: Progress::new(served_status(&e), e.status_details, e.start_ms, e.end_ms),
            window_id: e.window_id,
            window_execution_id: e.window_execution_id,
        })
        .collect();
    Ok(DescribeExecutionsResult { window_executions, next_token })
}

// ---- GetMaintenanceWindowExecution ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecutionRequest {
    pub window_execution_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetExecutionResult {
    pub window_execution_id: String,
    pub task_ids: Vec<String>,
    #[serde(flatten)]
    pub progress: Progress,
}

pub async fn get_execution(api: &Api, ctx: &Context, req: ExecutionRequest) -> Result<GetExecutionResult, ApiError> {
    let e = execution(api, ctx, &req.window_execution_id).await?;
    let tasks = api.store.list_task_executions(&ctx.scope, &e.window_execution_id).await.map_err(internal)?;
    Ok(GetExecutionResult {
        progress: Progress::new(served_status(&e), e.status_details, e.start_ms, e.end_ms),
        task_ids: tasks.into_iter().map(|t| t.task_execution_id).collect(),
        window_execution_id: e.window_execution_id,
    })
}

// ---- CancelMaintenanceWindowExecution ----

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelResult {
    pub window_execution_id: String,
}

/// Tasks not yet started never start; running ones finish. Cancelling a finished
/// execution changes nothing.
pub async fn cancel(api: &Api, ctx: &Context, req: ExecutionRequest) -> Result<CancelResult, ApiError> {
    let id = req.window_execution_id;
    api.store.request_cancel(&ctx.scope, &id).await.map_err(internal)?.ok_or_else(|| execution_not_found(&id))?;
    api.signals.cancel_requested();
    Ok(CancelResult { window_execution_id: id })
}

// ---- DescribeMaintenanceWindowExecutionTasks / GetMaintenanceWindowExecutionTask ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTasksRequest {
    pub window_execution_id: String,
    pub filters: Option<Vec<Filter>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskIdentity {
    pub window_execution_id: String,
    pub task_execution_id: String,
    #[serde(flatten)]
    pub progress: Progress,
    pub task_arn: String,
    pub task_type: TaskType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_configuration: Option<AlarmConfiguration>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTasksResult {
    pub window_execution_task_identities: Vec<TaskIdentity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

pub async fn describe_tasks(
    api: &Api,
    ctx: &Context,
    req: DescribeTasksRequest,
) -> Result<DescribeTasksResult, ApiError> {
    let statuses = status_filter(req.filters)?;
    let e = execution(api, ctx, &req.window_execution_id).await?;
    let tasks = api.store.list_task_executions(&ctx.scope, &e.window_execution_id).await.map_err(internal)?;
    let tasks: Vec<TaskExecution> =
        tasks.into_iter().filter(|t| statuses.is_empty() || statuses.contains(&t.status)).collect();
    let after = pagination::decode(req.next_token.as_deref())?;
    let size = pagination::page_size(req.max_results, 10, 100);
    // Task executions are few (one per task): page by position in the listed order.
    let keyed: Vec<(String, TaskExecution)> =
        tasks.into_iter().enumerate().map(|(i, t)| (format!("{i:06}"), t)).collect();
    let (page, next_token) = pagination::page(keyed, |(k, _)| k.as_str(), after.as_deref(), size);
    let window_execution_task_identities = page
        .into_iter()
        .map(|(_, t)| TaskIdentity {
            alarm_configuration: planned_task(&e, &t).and_then(|p| p.alarm_configuration.clone()),
            progress: Progress::new(t.status, t.status_details, t.start_ms, t.end_ms),
            window_execution_id: t.window_execution_id,
            task_execution_id: t.task_execution_id,
            task_arn: t.task_arn,
            task_type: t.task_type,
        })
        .collect();
    Ok(DescribeTasksResult { window_execution_task_identities, next_token })
}

fn planned_task<'a>(e: &'a WindowExecution, t: &TaskExecution) -> Option<&'a casement_model::WindowTask> {
    e.tasks.iter().flatten().find(|p| p.window_task_id == t.window_task_id)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskRequest {
    pub window_execution_id: String,
    pub task_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTaskResult {
    pub window_execution_id: String,
    pub task_execution_id: String,
    pub task_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    #[serde(rename = "Type")]
    pub task_type: TaskType,
    pub task_parameters: Vec<BTreeMap<String, Value>>,
    pub priority: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<String>,
    #[serde(flatten)]
    pub progress: Progress,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_configuration: Option<AlarmConfiguration>,
}

/// `TaskParameters` shows the resolved nodes under `aws:InstanceId`, beside the task's
/// own (deprecated) TaskParameters, as AWS's examples do.
pub async fn get_task(api: &Api, ctx: &Context, req: TaskRequest) -> Result<GetTaskResult, ApiError> {
    let e = execution(api, ctx, &req.window_execution_id).await?;
    let t = api
        .store
        .get_task_execution(&ctx.scope, &req.window_execution_id, &req.task_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| task_execution_not_found(&req.task_id))?;
    let planned = planned_task(&e, &t);
    let mut params: BTreeMap<String, Value> = BTreeMap::new();
    let nodes: Vec<&str> = t.targets.iter().map(|r| r.resource_id.as_str()).filter(|r| !r.is_empty()).collect();
    if !nodes.is_empty() {
        params.insert("aws:InstanceId".into(), json!({ "Values": nodes }));
    }
    for (k, v) in planned.and_then(|p| p.task_parameters.clone()).unwrap_or_default() {
        params.insert(k, serde_json::to_value(v).unwrap_or_default());
    }
    Ok(GetTaskResult {
        window_execution_id: t.window_execution_id,
        task_execution_id: t.task_execution_id,
        task_arn: t.task_arn,
        service_role: planned.and_then(|p| p.service_role_arn.clone()),
        task_type: t.task_type,
        task_parameters: if params.is_empty() { vec![] } else { vec![params] },
        priority: t.priority,
        max_concurrency: t.max_concurrency,
        max_errors: t.max_errors,
        progress: Progress::new(t.status, t.status_details, t.start_ms, t.end_ms),
        alarm_configuration: planned.and_then(|p| p.alarm_configuration.clone()),
    })
}

// ---- DescribeMaintenanceWindowExecutionTaskInvocations / Get…Invocation ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeInvocationsRequest {
    pub window_execution_id: String,
    pub task_id: String,
    pub filters: Option<Vec<Filter>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

/// Both the list item and GetMaintenanceWindowExecutionTaskInvocation's answer: the
/// same members, borrowed from the stored invocation (Get serves the store's shared copy
/// without cloning it: measured, the copy and its drop were 3–5 % of that call).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct InvocationResult<'a> {
    window_execution_id: &'a str,
    task_execution_id: &'a str,
    invocation_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_id: Option<&'a str>,
    task_type: TaskType,
    parameters: &'a str,
    status: ExecutionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_details: Option<&'a str>,
    #[serde(serialize_with = "epoch_seconds")]
    start_time: i64,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_epoch_seconds")]
    end_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_information: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window_target_id: Option<&'a str>,
}

impl<'a> From<&'a TaskInvocation> for InvocationResult<'a> {
    fn from(i: &'a TaskInvocation) -> Self {
        Self {
            window_execution_id: &i.window_execution_id,
            task_execution_id: &i.task_execution_id,
            invocation_id: &i.invocation_id,
            execution_id: i.execution_id.as_deref(),
            task_type: i.task_type,
            parameters: &i.parameters,
            status: i.status,
            status_details: i.status_details.as_deref(),
            start_time: i.start_ms,
            end_time: i.end_ms,
            owner_information: i.owner_information.as_deref(),
            window_target_id: i.window_target_id.as_deref(),
        }
    }
}

/// GetMaintenanceWindowExecutionTaskInvocation's answer: a finished invocation's
/// rendered JSON (it no longer changes), or the stored invocation to render.
#[derive(Debug)]
pub enum InvocationOut {
    Rendered(Rendered),
    Stored(Arc<TaskInvocation>),
}

impl Serialize for InvocationOut {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            InvocationOut::Rendered(raw) => raw.serialize(s),
            InvocationOut::Stored(i) => InvocationResult::from(&**i).serialize(s),
        }
    }
}

/// Finished invocations' answers, rendered once. A finished invocation does not change
/// until it is purged, and the busiest history read asks for the same ones again and
/// again: rendering was the largest share of that call's own work (BENCHMARKS.md). An
/// entry serves only the invocation it was rendered from: the same shared record, or one
/// equal to it (a store that reads afresh each time). It is consulted only after the
/// store found the invocation, so a purged one is never answered from here.
#[derive(Default)]
pub struct RenderedInvocations {
    map: RwLock<FastMap<String, (Arc<TaskInvocation>, Rendered)>>,
}

/// One answer's JSON, shared by every request that serves it.
type Rendered = Arc<RawValue>;

/// Beyond this many rendered answers the cache starts over (a few hundred bytes each).
const RENDERED_MAX: usize = 50_000;

impl RenderedInvocations {
    fn answer(&self, inv: Arc<TaskInvocation>) -> Result<InvocationOut, ApiError> {
        if !inv.status.is_final() {
            return Ok(InvocationOut::Stored(inv));
        }
        if let Some((cached, raw)) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(&inv.invocation_id) {
            if Arc::ptr_eq(cached, &inv) || **cached == *inv {
                return Ok(InvocationOut::Rendered(raw.clone()));
            }
        }
        let raw: Rendered = serde_json::value::to_raw_value(&InvocationResult::from(&*inv))
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .into();
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        insert_bounded(&mut map, RENDERED_MAX, inv.invocation_id.clone(), (inv, raw.clone()));
        Ok(InvocationOut::Rendered(raw))
    }
}

fn invocation_list<S: serde::Serializer>(rows: &[TaskInvocation], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(rows.iter().map(InvocationResult::from))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeInvocationsResult {
    #[serde(serialize_with = "invocation_list")]
    pub window_execution_task_invocation_identities: Vec<TaskInvocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// In launch order; a page is a seek on (task execution, position).
pub async fn describe_invocations(
    api: &Api,
    ctx: &Context,
    req: DescribeInvocationsRequest,
) -> Result<DescribeInvocationsResult, ApiError> {
    let statuses = status_filter(req.filters)?;
    let after = match pagination::decode(req.next_token.as_deref())? {
        None => None,
        Some(k) => {
            Some(k.parse::<u32>().map_err(|_| ApiError::Validation("The specified NextToken is not valid.".into()))?)
        }
    };
    let size = pagination::page_size(req.max_results, 10, 100);
    let mut rows =
        api.store.list_invocations(&ctx.scope, &req.task_id, &statuses, after, size + 1).await.map_err(internal)?;
    if rows.is_empty() || rows[0].window_execution_id != req.window_execution_id {
        // Nothing listed: say which ID is unknown, as the Get operations do.
        task_execution(api, ctx, &req.window_execution_id, &req.task_id).await?;
        rows.clear();
    }
    let next_token = if rows.len() > size {
        rows.truncate(size);
        rows.last().map(|i| pagination::encode(&i.seq.to_string()))
    } else {
        None
    };
    Ok(DescribeInvocationsResult { window_execution_task_invocation_identities: rows, next_token })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationRequest {
    pub window_execution_id: String,
    pub task_id: String,
    pub invocation_id: String,
}

/// The operation Casement grew from: one task on one target, every member of its page.
pub async fn get_invocation(api: &Api, ctx: &Context, req: InvocationRequest) -> Result<InvocationOut, ApiError> {
    match api
        .store
        .get_invocation(&ctx.scope, &req.window_execution_id, &req.task_id, &req.invocation_id)
        .await
        .map_err(internal)?
    {
        Some(i) => api.rendered_invocations.answer(i),
        None => {
            task_execution(api, ctx, &req.window_execution_id, &req.task_id).await?;
            Err(invocation_not_found(&req.invocation_id))
        }
    }
}
