//! Automation: StartAutomationExecution, GetAutomationExecution,
//! DescribeAutomationExecutions, DescribeAutomationStepExecutions,
//! StopAutomationExecution, SendAutomationSignal. The runbooks run in the engine
//! (`casement_engine::automation`); this module is the wire shapes and the checks made
//! before a request reaches a running execution.

use std::collections::BTreeMap;

use casement_engine::automation::{is_approver, looping, StartError, StartRequest};
use casement_model::automation::{status, AUTOMATION_RESOURCE_TYPE};
use casement_model::{AutomationExecution, AutomationSignal, StepExecution, Tag, Target};
use casement_protocol::timefmt::opt_epoch_seconds;
use casement_protocol::ApiError;
use casement_store::{ExecutionKey, Idempotency};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::internal;
use crate::tags::Empty;
use crate::{pagination, rules, Api, Context};

fn not_found(id: &str) -> ApiError {
    ApiError::AutomationExecutionNotFound(format!("Automation execution {id} does not exist."))
}

async fn execution(api: &Api, ctx: &Context, id: &str) -> Result<AutomationExecution, ApiError> {
    api.store.get_automation(&ctx.scope, id).await.map_err(internal)?.ok_or_else(|| not_found(id))
}

fn opt_epoch<S: serde::Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    opt_epoch_seconds(ms, s)
}

// ---- StartAutomationExecution ----

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartRequestDto {
    pub document_name: String,
    pub document_version: Option<String>,
    pub parameters: Option<BTreeMap<String, Vec<String>>>,
    pub client_token: Option<String>,
    pub mode: Option<String>,
    pub target_parameter_name: Option<String>,
    pub targets: Option<Vec<Target>>,
    pub target_maps: Option<Value>,
    pub max_concurrency: Option<String>,
    pub max_errors: Option<String>,
    pub target_locations: Option<Value>,
    #[serde(rename = "TargetLocationsURL")]
    pub target_locations_url: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub alarm_configuration: Option<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartResult {
    pub automation_execution_id: String,
}

/// `ExecutedBy` of an execution a caller started with an access key of this server.
fn caller_arn(ctx: &Context) -> String {
    format!("arn:aws:iam::{}:root", ctx.scope.account)
}

pub async fn start(api: &Api, ctx: &Context, req: StartRequestDto) -> Result<StartResult, ApiError> {
    let unsupported =
        |what: &str| ApiError::InvalidAutomationExecutionParameters(format!("{what} is not supported by this server."));
    if req.target_maps.as_ref().is_some_and(|m| !m.as_array().is_some_and(Vec::is_empty)) {
        return Err(unsupported("TargetMaps"));
    }
    if req.target_locations.as_ref().is_some_and(|m| !m.as_array().is_some_and(Vec::is_empty))
        || req.target_locations_url.is_some()
    {
        return Err(unsupported("Running in other accounts and Regions (TargetLocations)"));
    }
    let idempotency = req.client_token.as_ref().map(|token| Idempotency {
        operation: "StartAutomationExecution",
        token: token.clone(),
        fingerprint: rules::fingerprint(&req),
    });
    let start = StartRequest {
        execution_id: None,
        document_name: req.document_name,
        document_version: req.document_version,
        parameters: req.parameters.unwrap_or_default(),
        mode: req.mode.unwrap_or_else(|| "Auto".into()),
        idempotency,
        tags: req.tags.unwrap_or_default(),
        parent: None,
        executed_by: caller_arn(ctx),
        targets: req.targets.unwrap_or_default(),
        target_parameter_name: req.target_parameter_name,
        max_concurrency: req.max_concurrency,
        max_errors: req.max_errors,
    };
    let id = api.automations.start(&ctx.scope, start).await.map_err(|e| match e {
        StartError::DefinitionNotFound(m) => ApiError::AutomationDefinitionNotFound(m),
        StartError::VersionNotFound(m) => ApiError::AutomationDefinitionVersionNotFound(m),
        StartError::InvalidParameters(m) => ApiError::InvalidAutomationExecutionParameters(m),
        StartError::InvalidTarget(m) => ApiError::InvalidTarget(m),
        StartError::IdempotencyMismatch => {
            ApiError::IdempotentParameterMismatch("The client token was already used with different parameters.".into())
        }
        StartError::Store(e) => internal(e),
    })?;
    Ok(StartResult { automation_execution_id: id })
}

// ---- shapes of executions and steps ----

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailureDetailsDto {
    pub failure_stage: String,
    pub failure_type: String,
    pub details: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepDto {
    pub step_name: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    pub on_failure: String,
    pub max_attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_epoch")]
    pub execution_start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_epoch")]
    pub execution_end_time: Option<i64>,
    pub step_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_code: Option<String>,
    pub inputs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_details: Option<FailureDetailsDto>,
    pub step_execution_id: String,
    pub is_end: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    pub is_critical: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_step_details: Option<ParentDto>,
}

/// `ParentStepDetails` of a step that ran inside an aws:loop.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParentDto {
    pub step_execution_id: String,
    pub iteration: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterator_value: Option<String>,
    pub action: String,
    pub step_name: String,
}

/// Every step execution in order: each step, and after a loop the executions of its
/// steps, iteration by iteration.
fn all_steps(e: &AutomationExecution) -> Vec<StepDto> {
    let mut out = Vec::with_capacity(e.steps.len());
    for s in &e.steps {
        out.push(StepDto::from(s));
        if s.action == "aws:loop" {
            for c in looping::children(s) {
                let mut dto = StepDto::from(&c.execution);
                dto.parent_step_details = Some(ParentDto {
                    step_execution_id: s.step_execution_id.clone(),
                    iteration: c.iteration + 1,
                    iterator_value: c.iterator_value,
                    action: s.action.clone(),
                    step_name: s.step_name.clone(),
                });
                out.push(dto);
            }
        }
    }
    out
}

impl From<&StepExecution> for StepDto {
    fn from(s: &StepExecution) -> Self {
        Self {
            step_name: s.step_name.clone(),
            action: s.action.clone(),
            timeout_seconds: s.timeout_seconds,
            on_failure: s.on_failure.clone(),
            max_attempts: s.max_attempts,
            execution_start_time: s.start_ms,
            execution_end_time: s.end_ms,
            step_status: s.status.clone(),
            response_code: s.outputs.get("ResponseCode").and_then(|v| v.first().cloned()),
            inputs: s.inputs.clone(),
            outputs: s.outputs.clone(),
            response: s.response.clone(),
            failure_message: s.failure_message.clone(),
            failure_details: s.failure_details.as_ref().map(|d| FailureDetailsDto {
                failure_stage: d.failure_stage.clone(),
                failure_type: d.failure_type.clone(),
                details: BTreeMap::new(),
            }),
            step_execution_id: s.step_execution_id.clone(),
            is_end: s.is_end,
            next_step: s.next_step.clone(),
            is_critical: s.is_critical,
            parent_step_details: None,
        }
    }
}

/// The step running now (or, once ended, none).
fn current(e: &AutomationExecution) -> Option<&StepExecution> {
    (!e.is_final()).then(|| e.current_step()).flatten()
}

/// What `AutomationExecution` and `AutomationExecutionMetadata` both show of an
/// execution.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    pub automation_execution_id: String,
    pub document_name: String,
    pub document_version: String,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_epoch")]
    pub execution_start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_epoch")]
    pub execution_end_time: Option<i64>,
    pub automation_execution_status: String,
    pub outputs: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_automation_execution_id: Option<String>,
    pub executed_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_parameter_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_targets: Option<ResolvedTargetsDto>,
}

/// `ResolvedTargets` of a rate-controlled execution.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResolvedTargetsDto {
    pub parameter_values: Vec<String>,
    pub truncated: bool,
}

impl From<&AutomationExecution> for Summary {
    fn from(e: &AutomationExecution) -> Self {
        Self {
            automation_execution_id: e.automation_execution_id.clone(),
            document_name: e.document_name.clone(),
            document_version: e.document_version.clone(),
            execution_start_time: e.start_ms.or(Some(e.created_ms)),
            execution_end_time: e.end_ms,
            automation_execution_status: e.status.clone(),
            outputs: e.outputs.clone(),
            failure_message: e.failure_message.clone(),
            mode: e.mode.clone(),
            parent_automation_execution_id: e.parent_automation_execution_id.clone(),
            executed_by: e.executed_by.clone(),
            current_step_name: current(e).map(|s| s.step_name.clone()),
            current_action: current(e).map(|s| s.action.clone()),
            max_concurrency: e.max_concurrency.clone(),
            max_errors: e.max_errors.clone(),
            target_parameter_name: e.target_parameter_name.clone(),
            targets: e.targets.clone(),
            resolved_targets: e
                .target_parameter_name
                .as_ref()
                .map(|_| ResolvedTargetsDto { parameter_values: e.resolved_targets.clone(), truncated: false }),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecutionDto {
    #[serde(flatten)]
    pub summary: Summary,
    pub step_executions: Vec<StepDto>,
    pub step_executions_truncated: bool,
    pub parameters: BTreeMap<String, Vec<String>>,
}

impl From<&AutomationExecution> for ExecutionDto {
    fn from(e: &AutomationExecution) -> Self {
        Self {
            summary: Summary::from(e),
            step_executions: all_steps(e),
            step_executions_truncated: false,
            parameters: e.parameters.clone(),
        }
    }
}

// ---- GetAutomationExecution ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRequest {
    pub automation_execution_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetResult {
    pub automation_execution: ExecutionDto,
}

pub async fn get(api: &Api, ctx: &Context, req: GetRequest) -> Result<GetResult, ApiError> {
    let e = execution(api, ctx, &req.automation_execution_id).await?;
    Ok(GetResult { automation_execution: ExecutionDto::from(&e) })
}

// ---- DescribeAutomationExecutions ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRequest {
    pub filters: Option<Vec<Filter>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetadataDto {
    #[serde(flatten)]
    pub summary: Summary,
    pub automation_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeResult {
    pub automation_execution_metadata_list: Vec<MetadataDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

fn parse_time(v: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_millis())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S").map(|t| t.and_utc().timestamp_millis())
        })
        .map_err(|_| {
            ApiError::InvalidFilterValue(format!(
                "{v} is not a valid time; use ISO 8601, such as 2026-01-01T00:00:00Z."
            ))
        })
}

/// DescribeAutomationExecutions' filters, checked once: keys AND, a key's values OR.
struct Checks {
    prefixes: Vec<String>,
    statuses: Vec<String>,
    ids: Vec<String>,
    parents: Vec<String>,
    actions: Vec<String>,
    before: Option<i64>,
    after: Option<i64>,
    types: Vec<String>,
    tag_keys: Vec<String>,
}

impl Checks {
    fn new(filters: Vec<Filter>) -> Result<Self, ApiError> {
        let mut c = Checks {
            prefixes: vec![],
            statuses: vec![],
            ids: vec![],
            parents: vec![],
            actions: vec![],
            before: None,
            after: None,
            types: vec![],
            tag_keys: vec![],
        };
        for f in filters {
            match f.key.as_str() {
                "DocumentNamePrefix" => c.prefixes = f.values,
                "ExecutionStatus" => c.statuses = f.values,
                "ExecutionId" => c.ids = f.values,
                "ParentExecutionId" => c.parents = f.values,
                "CurrentAction" => c.actions = f.values,
                "StartTimeBefore" => c.before = f.values.first().map(|v| parse_time(v)).transpose()?,
                "StartTimeAfter" => c.after = f.values.first().map(|v| parse_time(v)).transpose()?,
                "AutomationType" => c.types = f.values,
                "TagKey" => c.tag_keys = f.values,
                // Resource groups, Change Manager and OpsCenter do not exist here: nothing
                // matches them.
                "TargetResourceGroup" | "AutomationSubtype" | "OpsItemId" => c.ids = vec![String::new()],
                _ => return Err(ApiError::InvalidFilterKey),
            }
        }
        Ok(c)
    }

    fn keeps(&self, e: &AutomationExecution, tags: &[Tag]) -> bool {
        let any = |vals: &[String], f: &dyn Fn(&str) -> bool| vals.is_empty() || vals.iter().any(|v| f(v));
        let start = e.start_ms.unwrap_or(e.created_ms);
        any(&self.prefixes, &|p| e.document_name.starts_with(p))
            && any(&self.statuses, &|s| s == e.status)
            && any(&self.ids, &|i| i == e.automation_execution_id)
            && any(&self.parents, &|p| e.parent_automation_execution_id.as_deref() == Some(p))
            && any(&self.actions, &|a| current(e).is_some_and(|s| s.action == a))
            && any(&self.types, &|t| t == "Local")
            && any(&self.tag_keys, &|k| tags.iter().any(|t| t.key == k))
            && self.before.is_none_or(|b| start < b)
            && self.after.is_none_or(|a| start > a)
    }
}

fn encode_key((t, id): &ExecutionKey) -> String {
    pagination::encode(&format!("{t}|{id}"))
}

fn decode_key(token: Option<&str>) -> Result<Option<ExecutionKey>, ApiError> {
    let Some(k) = pagination::decode_next_token(token)? else { return Ok(None) };
    let (t, id) = k.split_once('|').ok_or_else(pagination::invalid_next_token)?;
    Ok(Some((t.parse().map_err(|_| pagination::invalid_next_token())?, id.to_owned())))
}

pub async fn describe(api: &Api, ctx: &Context, req: DescribeRequest) -> Result<DescribeResult, ApiError> {
    let checks = Checks::new(req.filters.unwrap_or_default())?;
    let size = pagination::page_size(req.max_results, 50, 50);
    let checks = &checks;
    let (items, next) = pagination::scan(
        size,
        decode_key(req.next_token.as_deref())?,
        |after, n| {
            Box::pin(async move { api.store.list_automations(&ctx.scope, after.as_ref(), n).await.map_err(internal) })
        },
        |e: &AutomationExecution| (e.created_ms, e.automation_execution_id.clone()),
        |e: AutomationExecution| {
            Box::pin(async move {
                let tags = if checks.tag_keys.is_empty() {
                    Vec::new()
                } else {
                    api.store
                        .list_tags(&ctx.scope, AUTOMATION_RESOURCE_TYPE, &e.automation_execution_id)
                        .await
                        .map_err(internal)?
                };
                Ok(checks
                    .keeps(&e, &tags)
                    .then(|| MetadataDto { summary: Summary::from(&e), automation_type: "Local" }))
            })
        },
    )
    .await?;
    Ok(DescribeResult { automation_execution_metadata_list: items, next_token: next.as_ref().map(encode_key) })
}

// ---- DescribeAutomationStepExecutions ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStepsRequest {
    pub automation_execution_id: String,
    pub filters: Option<Vec<Filter>>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
    pub reverse_order: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStepsResult {
    pub step_executions: Vec<StepDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

pub async fn describe_steps(
    api: &Api,
    ctx: &Context,
    req: DescribeStepsRequest,
) -> Result<DescribeStepsResult, ApiError> {
    let e = execution(api, ctx, &req.automation_execution_id).await?;
    let mut steps: Vec<StepDto> = all_steps(&e);
    for f in req.filters.unwrap_or_default() {
        let vals = f.values;
        let times = vals.iter().map(|v| parse_time(v)).collect::<Result<Vec<_>, _>>();
        match f.key.as_str() {
            "StepExecutionStatus" => steps.retain(|s| vals.iter().any(|v| v.eq_ignore_ascii_case(&s.step_status))),
            "StepExecutionId" => steps.retain(|s| vals.contains(&s.step_execution_id)),
            "StepName" => steps.retain(|s| vals.contains(&s.step_name)),
            "Action" => steps.retain(|s| vals.contains(&s.action)),
            "StartTimeBefore" => {
                let t = times?.into_iter().next();
                steps.retain(|s| t.is_none_or(|t| s.execution_start_time.is_some_and(|st| st < t)));
            }
            "StartTimeAfter" => {
                let t = times?.into_iter().next();
                steps.retain(|s| t.is_none_or(|t| s.execution_start_time.is_some_and(|st| st > t)));
            }
            "ParentStepExecutionId" => {
                steps.retain(|s| s.parent_step_details.as_ref().is_some_and(|p| vals.contains(&p.step_execution_id)))
            }
            "ParentStepIteration" => steps
                .retain(|s| s.parent_step_details.as_ref().is_some_and(|p| vals.contains(&p.iteration.to_string()))),
            "ParentStepIteratorValue" => steps.retain(|s| {
                s.parent_step_details
                    .as_ref()
                    .is_some_and(|p| p.iterator_value.as_ref().is_some_and(|v| vals.contains(v)))
            }),
            _ => return Err(ApiError::InvalidFilterKey),
        }
    }
    if req.reverse_order.unwrap_or(false) {
        steps.reverse();
    }
    let size = pagination::page_size(req.max_results, 50, 50);
    let after = match pagination::decode_next_token(req.next_token.as_deref())? {
        None => 0,
        Some(k) => k.parse::<usize>().map_err(|_| pagination::invalid_next_token())?,
    };
    let total = steps.len();
    let page: Vec<StepDto> = steps.into_iter().skip(after).take(size).collect();
    let next = (after + size < total).then(|| pagination::encode(&(after + size).to_string()));
    Ok(DescribeStepsResult { step_executions: page, next_token: next })
}

// ---- StopAutomationExecution ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StopRequest {
    pub automation_execution_id: String,
    /// `Cancel` (the default) or `Complete`, which Casement treats as a cancel: the
    /// running step is stopped and the remaining ones do not run.
    #[serde(rename = "Type")]
    pub stop_type: Option<String>,
}

pub async fn stop(api: &Api, ctx: &Context, req: StopRequest) -> Result<Empty, ApiError> {
    let e = execution(api, ctx, &req.automation_execution_id).await?;
    if e.is_final() || e.status == status::CANCELLING {
        return Err(ApiError::InvalidAutomationStatusUpdate(format!(
            "The automation execution {} is {} and cannot be stopped.",
            e.automation_execution_id, e.status
        )));
    }
    api.automations.stop(&ctx.scope, &e.automation_execution_id).await.map_err(internal)?;
    Ok(Empty {})
}

// ---- SendAutomationSignal ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignalRequest {
    pub automation_execution_id: String,
    pub signal_type: String,
    pub payload: Option<BTreeMap<String, Vec<String>>>,
}

pub async fn signal(api: &Api, ctx: &Context, req: SignalRequest) -> Result<Empty, ApiError> {
    let e = execution(api, ctx, &req.automation_execution_id).await?;
    let payload = req.payload.unwrap_or_default();
    let refuse = |why: String| Err(ApiError::InvalidAutomationSignal(why));
    if e.is_final() {
        return refuse(format!("The automation execution is {}: it takes no more signals.", e.status));
    }
    let step = e.current_step();
    let named = |key: &str| payload.get(key).and_then(|v| v.first()).cloned();
    match req.signal_type.as_str() {
        "Approve" | "Reject" => {
            let Some(s) = step.filter(|s| s.action == "aws:approve" && s.status == status::WAITING) else {
                return refuse("The automation execution is not waiting for an approval.".into());
            };
            let approvers = s.inputs.get("Approvers").and_then(|v| serde_json::from_str::<Value>(v).ok());
            if !approvers.is_some_and(|a| is_approver(&a, &ctx.principal, &ctx.scope.account)) {
                return refuse(format!("{} is not an approver of step {}.", ctx.principal, s.step_name));
            }
        }
        "Resume" => {
            if !step.is_some_and(|s| s.action == "aws:pause" && s.status == status::WAITING) {
                return refuse("The automation execution is not paused.".into());
            }
        }
        "StartStep" => {
            let Some(name) = named("StepName") else {
                return refuse("StartStep needs the StepName in its Payload.".into());
            };
            if !e.steps.iter().any(|s| s.step_name == name) {
                return Err(ApiError::AutomationStepNotFound(format!("Step {name} does not exist.")));
            }
            if e.mode != "Interactive" || step.is_none_or(|s| s.step_name != name || s.status != status::PENDING) {
                return refuse(format!("Step {name} is not the step waiting to be started."));
            }
        }
        "StopStep" => {
            let Some(id) = named("StepExecutionId") else {
                return refuse("StopStep needs the StepExecutionId in its Payload.".into());
            };
            if !e.steps.iter().any(|s| s.step_execution_id == id) {
                return Err(ApiError::AutomationStepNotFound(format!("Step execution {id} does not exist.")));
            }
        }
        other => return refuse(format!("Signal {other} is not supported by this server.")),
    }
    let signal = AutomationSignal { signal_type: req.signal_type, payload, sender: ctx.principal.clone() };
    api.automations.signal(&ctx.scope, &e.automation_execution_id, signal).await.map_err(internal)?;
    Ok(Empty {})
}
