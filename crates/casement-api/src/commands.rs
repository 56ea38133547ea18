//! Run Command: SendCommand, ListCommands, ListCommandInvocations, GetCommandInvocation,
//! CancelCommand. The work is done by the engine's `RunCommand` service; this module is
//! the wire shapes and the checks SSM makes before it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use casement_engine::run_command::{SendCommand, SendError};
use casement_model::command::{clip_chars, MAX_PLUGIN_OUTPUT_CHARS};
use casement_model::{Command, CommandInvocation, Target};
use casement_protocol::timefmt::epoch_seconds;
use casement_protocol::ApiError;
use casement_store::CommandKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::errors::internal;
use crate::tags::Empty;
use crate::{pagination, Api, Context};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendRequest {
    pub instance_ids: Option<Vec<String>>,
    pub targets: Option<Vec<Target>>,
    pub document_name: String,
    pub document_version: Option<String>,
    pub document_hash: Option<String>,
    pub document_hash_type: Option<String>,
    pub timeout_seconds: Option<i64>,
    pub comment: Option<String>,
    pub parameters: Option<BTreeMap<String, Vec<String>>>,
    pub output_s3_region: Option<String>,
    pub output_s3_bucket_name: Option<String>,
    pub output_s3_key_prefix: Option<String>,
    pub max_concurrency: Option<String>,
    pub max_errors: Option<String>,
    pub service_role_arn: Option<String>,
    pub notification_config: Option<Value>,
    pub cloud_watch_output_config: Option<Value>,
    pub alarm_configuration: Option<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommandDto {
    pub command_id: String,
    pub document_name: String,
    pub document_version: String,
    pub comment: String,
    #[serde(serialize_with = "epoch_seconds")]
    pub expires_after: i64,
    pub parameters: BTreeMap<String, Vec<String>>,
    pub instance_ids: Vec<String>,
    pub targets: Vec<Target>,
    #[serde(serialize_with = "epoch_seconds")]
    pub requested_date_time: i64,
    pub status: String,
    pub status_details: String,
    pub output_s3_region: String,
    pub output_s3_bucket_name: String,
    pub output_s3_key_prefix: String,
    pub max_concurrency: String,
    pub max_errors: String,
    pub target_count: i64,
    pub completed_count: i64,
    pub error_count: i64,
    pub delivery_timed_out_count: i64,
    pub service_role: String,
    pub notification_config: Value,
    pub cloud_watch_output_config: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_configuration: Option<Value>,
}

fn notification_config(v: &Option<Value>) -> Value {
    v.clone().unwrap_or_else(|| json!({"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""}))
}

fn cloud_watch_config(v: &Option<Value>) -> Value {
    v.clone().unwrap_or_else(|| json!({"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false}))
}

impl From<Command> for CommandDto {
    fn from(c: Command) -> Self {
        Self {
            notification_config: notification_config(&c.notification_config),
            cloud_watch_output_config: cloud_watch_config(&c.cloud_watch_output_config),
            command_id: c.command_id,
            document_name: c.document_name,
            document_version: c.document_version.unwrap_or_else(|| "$DEFAULT".into()),
            comment: c.comment.unwrap_or_default(),
            expires_after: c.expires_ms,
            parameters: c.parameters,
            instance_ids: c.instance_ids,
            targets: c.targets,
            requested_date_time: c.requested_ms,
            status: c.status,
            status_details: c.status_details,
            output_s3_region: c.output_s3_region.unwrap_or_default(),
            output_s3_bucket_name: c.output_s3_bucket_name.unwrap_or_default(),
            output_s3_key_prefix: c.output_s3_key_prefix.unwrap_or_default(),
            max_concurrency: c.max_concurrency,
            max_errors: c.max_errors,
            target_count: c.target_count,
            completed_count: c.completed_count,
            error_count: c.error_count,
            delivery_timed_out_count: c.delivery_timed_out_count,
            service_role: c.service_role.unwrap_or_default(),
            timeout_seconds: c.timeout_seconds,
            alarm_configuration: c.alarm_configuration,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendResult {
    pub command: CommandDto,
}

fn no_duplicates(ids: &[String]) -> Result<(), ApiError> {
    let mut seen = HashSet::new();
    if ids.iter().all(|i| seen.insert(i)) {
        Ok(())
    } else {
        Err(ApiError::DuplicateInstanceId)
    }
}

pub async fn send(api: &Api, ctx: &Context, req: SendRequest) -> Result<SendResult, ApiError> {
    let instance_ids = req.instance_ids.unwrap_or_default();
    let targets = req.targets.unwrap_or_default();
    match (instance_ids.is_empty(), targets.is_empty()) {
        (true, true) => {
            return Err(ApiError::Validation("Specify either InstanceIds or Targets to send a command.".into()))
        }
        (false, false) => {
            return Err(ApiError::Validation("InstanceIds and Targets cannot be specified together.".into()))
        }
        _ => {}
    }
    no_duplicates(&instance_ids)?;
    let send = SendCommand {
        command_id: None,
        instance_ids,
        targets,
        document_name: req.document_name,
        document_version: req.document_version,
        document_hash: req.document_hash,
        comment: req.comment,
        parameters: req.parameters.unwrap_or_default(),
        timeout_seconds: req.timeout_seconds,
        max_concurrency: req.max_concurrency,
        max_errors: req.max_errors,
        output_s3_region: req.output_s3_region,
        output_s3_bucket_name: req.output_s3_bucket_name,
        output_s3_key_prefix: req.output_s3_key_prefix,
        service_role: req.service_role_arn,
        notification_config: req.notification_config,
        cloud_watch_output_config: req.cloud_watch_output_config,
        alarm_configuration: req.alarm_configuration,
    };
    let command = api.run_command.send(&ctx.scope, send).await.map_err(|e| match e {
        SendError::InvalidInstanceId(m) => ApiError::InvalidInstanceId(m),
        SendError::InvalidDocument(m) => ApiError::InvalidDocument(m),
        SendError::InvalidDocumentVersion(m) => ApiError::InvalidDocumentVersion(m),
        SendError::InvalidParameters(m) => ApiError::InvalidParameters(m),
        SendError::Store(e) => internal(e),
    })?;
    Ok(SendResult { command: command.into() })
}

#[derive(Debug, Deserialize)]
pub struct CommandFilter {
    pub key: String,
    pub value: String,
}

/// ListCommands' and ListCommandInvocations' filters, checked once.
enum Check {
    After(i64),
    Before(i64),
    Status(String),
    Stage(bool),
    Document(String),
}

fn parse_time(v: &str) -> Result<i64, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc().timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).unwrap_or(0));
    }
    Err(ApiError::InvalidFilter(format!("{v} is not a valid timestamp; use ISO 8601, such as 2024-05-01T00:00:00Z.")))
}

fn checks(filters: &[CommandFilter], stage_allowed: bool) -> Result<Vec<Check>, ApiError> {
    filters
        .iter()
        .map(|f| {
            Ok(match f.key.as_str() {
                "InvokedAfter" => Check::After(parse_time(&f.value)?),
                "InvokedBefore" => Check::Before(parse_time(&f.value)?),
                "Status" => {
                    const STATUSES: [&str; 7] =
                        ["Pending", "InProgress", "Success", "Cancelled", "Failed", "TimedOut", "Cancelling"];
                    if !STATUSES.contains(&f.value.as_str()) {
                        return Err(ApiError::InvalidFilter(format!("{} is not a valid Status value.", f.value)));
                    }
                    Check::Status(f.value.clone())
                }
                "ExecutionStage" if stage_allowed => match f.value.as_str() {
                    "Executing" => Check::Stage(false),
                    "Complete" => Check::Stage(true),
                    other => {
                        return Err(ApiError::InvalidFilter(format!(
                            "{other} is not a valid ExecutionStage value: Executing or Complete."
                        )))
                    }
                },
                "DocumentName" => Check::Document(f.value.clone()),
                _ => return Err(ApiError::InvalidFilterKey),
            })
        })
        .collect()
}

fn command_final(status: &str) -> bool {
    matches!(status, "Success" | "Cancelled" | "Failed" | "TimedOut")
}

fn keep(checks: &[Check], requested_ms: i64, status: &str, document: &str) -> bool {
    checks.iter().all(|c| match c {
        Check::After(t) => requested_ms >= *t,
        Check::Before(t) => requested_ms <= *t,
        Check::Status(s) => s == status,
        Check::Stage(done) => command_final(status) == *done,
        Check::Document(d) => d == document,
    })
}

fn encode_key(k: &CommandKey) -> String {
    pagination::encode(&format!("{}|{}|{}", k.0, k.1, k.2))
}

fn decode_key(token: Option<&str>) -> Result<Option<CommandKey>, ApiError> {
    let invalid = pagination::invalid_next_token;
    let Some(raw) = pagination::decode_next_token(token)? else { return Ok(None) };
    let mut parts = raw.splitn(3, '|');
    let t = parts.next().and_then(|t| t.parse().ok()).ok_or_else(invalid)?;
    let c = parts.next().ok_or_else(invalid)?.to_owned();
    let i = parts.next().ok_or_else(invalid)?.to_owned();
    Ok(Some((t, c, i)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    pub command_id: Option<String>,
    pub instance_id: Option<String>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
    pub filters: Option<Vec<CommandFilter>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResult {
    pub commands: Vec<CommandDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

pub async fn list(api: &Api, ctx: &Context, req: ListRequest) -> Result<ListResult, ApiError> {
    let checks = checks(req.filters.as_deref().unwrap_or(&[]), true)?;
    if let Some(id) = &req.command_id {
        let cmd = api.store.get_command(&ctx.scope, id).await.map_err(internal)?.ok_or(ApiError::InvalidCommandId)?;
        let on_node = match &req.instance_id {
            None => true,
            Some(node) => api.store.get_command_invocation(&ctx.scope, id, node).await.map_err(internal)?.is_some(),
        };
        let commands = if on_node && keep(&checks, cmd.requested_ms, &cmd.status, &cmd.document_name) {
            vec![cmd.into()]
        } else {
            vec![]
        };
        return Ok(ListResult { commands, next_token: None });
    }
    let size = pagination::page_size(req.max_results, 50, 50);
    let instance = req.instance_id.as_deref();
    let checks = &checks;
    let (commands, after) = pagination::scan(
        size,
        decode_key(req.next_token.as_deref())?,
        |after, n| {
            Box::pin(
                async move { api.store.list_commands(&ctx.scope, instance, after.as_ref(), n).await.map_err(internal) },
            )
        },
        |c| (c.requested_ms, c.command_id.clone(), String::new()),
        |c| {
            Box::pin(std::future::ready(
                Ok(keep(checks, c.requested_ms, &c.status, &c.document_name).then(|| c.into())),
            ))
        },
    )
    .await?;
    Ok(ListResult { commands, next_token: after.as_ref().map(encode_key) })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInvocationsRequest {
    pub command_id: Option<String>,
    pub instance_id: Option<String>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
    pub filters: Option<Vec<CommandFilter>>,
    pub details: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginDto {
    pub name: String,
    pub status: &'static str,
    pub status_details: &'static str,
    pub response_code: i32,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_epoch")]
    pub response_start_date_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_epoch")]
    pub response_finish_date_time: Option<i64>,
    pub output: String,
    pub standard_output_url: &'static str,
    pub standard_error_url: &'static str,
    pub output_s3_region: String,
    pub output_s3_bucket_name: String,
    pub output_s3_key_prefix: String,
}

fn opt_epoch<S: serde::Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    casement_protocol::timefmt::opt_epoch_seconds(ms, s)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationDto {
    pub command_id: String,
    pub instance_id: String,
    pub instance_name: String,
    pub comment: String,
    pub document_name: String,
    pub document_version: String,
    #[serde(serialize_with = "epoch_seconds")]
    pub requested_date_time: i64,
    pub status: &'static str,
    pub status_details: &'static str,
    pub trace_output: &'static str,
    pub standard_output_url: &'static str,
    pub standard_error_url: &'static str,
    pub command_plugins: Vec<PluginDto>,
    pub service_role: String,
    pub notification_config: Value,
    pub cloud_watch_output_config: Value,
}

/// A plugin's combined output, as AWS shows it in `CommandPlugins[].Output`.
fn plugin_output(stdout: &str, stderr: &str) -> String {
    let text =
        if stderr.is_empty() { stdout.to_owned() } else { format!("{stdout}\n----------ERROR-------\n{stderr}") };
    clip_chars(&text, MAX_PLUGIN_OUTPUT_CHARS).to_owned()
}

/// How one plugin of an invocation stands.
struct PluginView {
    name: String,
    status: &'static str,
    status_details: &'static str,
    response_code: i32,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    stdout: String,
    stderr: String,
}

/// A plugin's status word in `CommandPluginStatus` terms, with its StatusDetails. A
/// plugin skipped by its precondition counts as a success (detail `Skipped`).
fn plugin_status(word: &str) -> Option<(&'static str, &'static str)> {
    Some(match word {
        "Pending" => ("Pending", "Pending"),
        "InProgress" => ("InProgress", "InProgress"),
        "Success" => ("Success", "Success"),
        "Skipped" => ("Success", "Skipped"),
        "Failed" => ("Failed", "Failed"),
        "TimedOut" => ("TimedOut", "ExecutionTimedOut"),
        "Cancelled" => ("Cancelled", "Cancelled"),
        _ => return None,
    })
}

/// Every plugin of the command's document on this node, in run order. A one-plugin
/// document shows the invocation itself (its output is that plugin's). Of several, each
/// shows what the agent reported of it, or if nothing: Pending while the invocation runs,
/// the invocation's end once it has ended.
fn plugin_views(cmd: &Command, inv: &CommandInvocation) -> Vec<PluginView> {
    let names = casement_engine::run_command::plugin_names(cmd);
    let single = names.len() == 1;
    names
        .into_iter()
        .map(|name| {
            let reported = inv.plugins.iter().find(|p| p.name == name).filter(|_| !single);
            match reported.and_then(|p| plugin_status(&p.status).map(|s| (p, s))) {
                Some((p, (status, status_details))) => PluginView {
                    name,
                    status,
                    status_details,
                    response_code: p.response_code,
                    start_ms: p.start_ms,
                    end_ms: p.end_ms,
                    stdout: p.stdout.clone(),
                    stderr: p.stderr.clone(),
                },
                None if single || inv.state.is_final() => PluginView {
                    name,
                    status: inv.state.plugin_status(),
                    status_details: inv.state.details(),
                    response_code: inv.response_code,
                    start_ms: inv.start_ms,
                    end_ms: inv.end_ms,
                    stdout: if single { inv.stdout.clone() } else { String::new() },
                    stderr: if single { inv.stderr.clone() } else { String::new() },
                },
                None => PluginView {
                    name,
                    status: "Pending",
                    status_details: "Pending",
                    response_code: -1,
                    start_ms: None,
                    end_ms: None,
                    stdout: String::new(),
                    stderr: String::new(),
                },
            }
        })
        .collect()
}

fn invocation_dto(cmd: &Command, inv: CommandInvocation, details: bool) -> InvocationDto {
    let plugins = if details {
        plugin_views(cmd, &inv)
            .into_iter()
            .map(|p| PluginDto {
                output: plugin_output(&p.stdout, &p.stderr),
                name: p.name,
                status: p.status,
                status_details: p.status_details,
                response_code: p.response_code,
                response_start_date_time: p.start_ms,
                response_finish_date_time: p.end_ms,
                standard_output_url: "",
                standard_error_url: "",
                output_s3_region: cmd.output_s3_region.clone().unwrap_or_default(),
                output_s3_bucket_name: cmd.output_s3_bucket_name.clone().unwrap_or_default(),
                output_s3_key_prefix: cmd.output_s3_key_prefix.clone().unwrap_or_default(),
            })
            .collect()
    } else {
        vec![]
    };
    InvocationDto {
        command_id: inv.command_id,
        instance_id: inv.instance_id,
        instance_name: inv.instance_name,
        comment: cmd.comment.clone().unwrap_or_default(),
        document_name: cmd.document_name.clone(),
        document_version: cmd.document_version.clone().unwrap_or_else(|| "$DEFAULT".into()),
        requested_date_time: inv.requested_ms,
        status: inv.state.status(),
        status_details: inv.state.details(),
        trace_output: "",
        standard_output_url: "",
        standard_error_url: "",
        command_plugins: plugins,
        service_role: cmd.service_role.clone().unwrap_or_default(),
        notification_config: notification_config(&cmd.notification_config),
        cloud_watch_output_config: cloud_watch_config(&cmd.cloud_watch_output_config),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInvocationsResult {
    pub command_invocations: Vec<InvocationDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

pub async fn list_invocations(
    api: &Api,
    ctx: &Context,
    req: ListInvocationsRequest,
) -> Result<ListInvocationsResult, ApiError> {
    let checks = checks(req.filters.as_deref().unwrap_or(&[]), false)?;
    if let Some(id) = &req.command_id {
        if api.store.get_command(&ctx.scope, id).await.map_err(internal)?.is_none() {
            return Err(ApiError::InvalidCommandId);
        }
    }
    let details = req.details.unwrap_or(false);
    let size = pagination::page_size(req.max_results, 50, 50);
    let (command, instance) = (req.command_id.as_deref(), req.instance_id.as_deref());
    let checks = &checks;
    let (out, after) = pagination::scan(
        size,
        decode_key(req.next_token.as_deref())?,
        // Each row comes with its command (read once per batch), which the filters and
        // the answer need.
        |after, n| {
            Box::pin(async move {
                let batch = api
                    .store
                    .list_command_invocations(&ctx.scope, command, instance, after.as_ref(), n)
                    .await
                    .map_err(internal)?;
                let mut commands: HashMap<String, Option<Arc<Command>>> = HashMap::new();
                let mut rows = Vec::with_capacity(batch.len());
                for inv in batch {
                    if !commands.contains_key(&inv.command_id) {
                        let c = api.store.get_command(&ctx.scope, &inv.command_id).await.map_err(internal)?;
                        commands.insert(inv.command_id.clone(), c.map(Arc::new));
                    }
                    let cmd = commands.get(&inv.command_id).cloned().flatten();
                    rows.push((inv, cmd));
                }
                Ok(rows)
            })
        },
        |(inv, _)| (inv.requested_ms, inv.command_id.clone(), inv.instance_id.clone()),
        |(inv, cmd)| {
            let item = cmd.filter(|c| keep(checks, inv.requested_ms, inv.state.status(), &c.document_name));
            Box::pin(std::future::ready(Ok(item.map(|c| invocation_dto(&c, inv, details)))))
        },
    )
    .await?;
    Ok(ListInvocationsResult { command_invocations: out, next_token: after.as_ref().map(encode_key) })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetInvocationRequest {
    pub command_id: String,
    pub instance_id: String,
    pub plugin_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetInvocationResult {
    pub command_id: String,
    pub instance_id: String,
    pub comment: String,
    pub document_name: String,
    pub document_version: String,
    pub plugin_name: String,
    pub response_code: i32,
    pub execution_start_date_time: String,
    pub execution_elapsed_time: String,
    pub execution_end_date_time: String,
    pub status: &'static str,
    pub status_details: &'static str,
    pub standard_output_content: String,
    pub standard_output_url: &'static str,
    pub standard_error_content: String,
    pub standard_error_url: &'static str,
    pub cloud_watch_output_config: Value,
}

fn iso(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// ISO-8601 duration, as AWS writes ExecutionElapsedTime (`PT0.043S`).
fn elapsed(start: Option<i64>, end: Option<i64>) -> String {
    match (start, end) {
        (Some(s), Some(e)) if e >= s => format!("PT{}.{:03}S", (e - s) / 1000, (e - s) % 1000),
        _ => String::new(),
    }
}

pub async fn get_invocation(
    api: &Api,
    ctx: &Context,
    req: GetInvocationRequest,
) -> Result<GetInvocationResult, ApiError> {
    let cmd = api.store.get_command(&ctx.scope, &req.command_id).await.map_err(internal)?;
    let Some(cmd) = cmd else { return Err(ApiError::InvalidCommandId) };
    let inv = api
        .store
        .get_command_invocation(&ctx.scope, &req.command_id, &req.instance_id)
        .await
        .map_err(internal)?
        .ok_or(ApiError::InvocationDoesNotExist)?;
    // AWS: a document of one step may be asked for without naming it; of several, the
    // step must be named.
    let mut views = plugin_views(&cmd, &inv);
    let single = views.len() == 1;
    let view = match &req.plugin_name {
        Some(name) => views.iter().position(|v| &v.name == name).map(|i| views.swap_remove(i)),
        None if views.len() == 1 => views.pop(),
        None => None,
    };
    let view = view.ok_or(ApiError::InvalidPluginName)?;
    // One step's view, except that a one-step document's status is the invocation's,
    // whose words (Delayed, Cancelling, DeliveryTimedOut…) are richer.
    let (status, status_details) =
        if single { (inv.state.status(), inv.state.details()) } else { (view.status, view.status_details) };
    Ok(GetInvocationResult {
        command_id: inv.command_id,
        instance_id: inv.instance_id,
        comment: cmd.comment.clone().unwrap_or_default(),
        document_name: cmd.document_name.clone(),
        document_version: cmd.document_version.clone().unwrap_or_else(|| "$DEFAULT".into()),
        plugin_name: view.name,
        response_code: view.response_code,
        execution_start_date_time: iso(view.start_ms),
        execution_elapsed_time: elapsed(view.start_ms, view.end_ms),
        execution_end_date_time: iso(view.end_ms),
        status,
        status_details,
        standard_output_content: view.stdout,
        standard_output_url: "",
        standard_error_content: view.stderr,
        standard_error_url: "",
        cloud_watch_output_config: cloud_watch_config(&cmd.cloud_watch_output_config),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelRequest {
    pub command_id: String,
    pub instance_ids: Option<Vec<String>>,
}

pub async fn cancel(api: &Api, ctx: &Context, req: CancelRequest) -> Result<Empty, ApiError> {
    let ids = req.instance_ids.filter(|i| !i.is_empty());
    if let Some(ids) = &ids {
        no_duplicates(ids)?;
        for id in ids {
            if api.store.get_command_invocation(&ctx.scope, &req.command_id, id).await.map_err(internal)?.is_none() {
                if api.store.get_command(&ctx.scope, &req.command_id).await.map_err(internal)?.is_none() {
                    return Err(ApiError::InvalidCommandId);
                }
                return Err(ApiError::InvalidInstanceId(format!("Command {} was not sent to {id}.", req.command_id)));
            }
        }
    }
    match api.run_command.cancel(&ctx.scope, &req.command_id, ids.as_deref()).await.map_err(internal)? {
        Some(_) => Ok(Empty {}),
        None => Err(ApiError::InvalidCommandId),
    }
}
