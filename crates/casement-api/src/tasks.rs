//! RegisterTaskWithMaintenanceWindow, UpdateMaintenanceWindowTask, GetMaintenanceWindowTask,
//! DeregisterTaskFromMaintenanceWindow, DescribeMaintenanceWindowTasks.

use std::collections::BTreeMap;

use casement_model::task::{AlarmConfiguration, LoggingInfo, TaskParameterValueExpression};
use casement_model::{Target, TaskInvocationParameters, TaskType, Window, WindowId, WindowTask, WindowTaskId};
use casement_protocol::ApiError;
use casement_store::{Idempotency, StoreError};
use serde::{Deserialize, Serialize};

use casement_engine::events::{self, Registered};

use crate::errors::{internal, on_create, target_not_found, task_not_found, window_not_found};
use crate::windows::check_filter_keys;
use crate::{pagination, rules, Api, Context};

/// AWS's published quota: tasks per maintenance window.
pub const MAX_TASKS_PER_WINDOW: usize = 20;
/// The priority a task gets when registered without one.
pub const DEFAULT_PRIORITY: i32 = 1;

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterRequest {
    pub window_id: WindowId,
    pub targets: Option<Vec<Target>>,
    pub task_arn: String,
    pub service_role_arn: Option<String>,
    pub task_type: TaskType,
    pub task_parameters: Option<BTreeMap<String, TaskParameterValueExpression>>,
    pub task_invocation_parameters: Option<TaskInvocationParameters>,
    pub priority: Option<i32>,
    pub max_concurrency: Option<String>,
    pub max_errors: Option<String>,
    pub logging_info: Option<LoggingInfo>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub client_token: Option<String>,
    pub cutoff_behavior: Option<String>,
    pub alarm_configuration: Option<AlarmConfiguration>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterResult {
    pub window_task_id: WindowTaskId,
}

/// The rules SSM applies to a task as a whole, on register and on update:
/// targets name registered window targets (or, where the window allows it, node IDs);
/// tasks without targets take no MaxConcurrency/MaxErrors, tasks with targets need
/// both; Run Command tasks need targets; invocation parameters match the task type.
async fn check_task(api: &Api, ctx: &Context, window: &Window, task: &WindowTask) -> Result<(), ApiError> {
    for t in &task.targets {
        match t.key() {
            "WindowTargetIds" => {
                for id in t.values() {
                    let found = api
                        .store
                        .get_target(&ctx.scope, &window.window_id, &id.as_str().into())
                        .await
                        .map_err(internal)?;
                    if found.is_none() {
                        return Err(target_not_found(id));
                    }
                }
            }
            "InstanceIds" => {
                if !window.allow_unassociated_targets {
                    return Err(ApiError::Validation(format!(
                        "Maintenance window {} does not allow unassociated targets: register the nodes as window targets and use Key=WindowTargetIds, or enable AllowUnassociatedTargets.",
                        window.window_id
                    )));
                }
            }
            other => {
                return Err(ApiError::Validation(format!(
                    "Invalid task target key: {other}. Valid keys are WindowTargetIds and InstanceIds."
                )))
            }
        }
        if t.values().is_empty() {
            return Err(ApiError::Validation(format!("Task target {} must have at least one value.", t.key())));
        }
    }
    if task.targets.is_empty() {
        if task.task_type == TaskType::RunCommand {
            return Err(ApiError::Validation("Maintenance window tasks of type RUN_COMMAND require targets.".into()));
        }
        let mut msgs = Vec::new();
        if task.max_errors.is_some() {
            msgs.push("Maintenance window tasks without targets do not support MaxErrors values.");
        }
        if task.max_concurrency.is_some() {
            msgs.push("Maintenance window tasks without targets do not support MaxConcurrency values.");
        }
        if !msgs.is_empty() {
            return Err(ApiError::Validation(msgs.join(" ")));
        }
    } else {
        let mut missing = Vec::new();
        if task.max_concurrency.is_none() {
            missing.push("Value null at 'maxConcurrency' failed to satisfy constraint: Member must not be null");
        }
        if task.max_errors.is_none() {
            missing.push("Value null at 'maxErrors' failed to satisfy constraint: Member must not be null");
        }
        if !missing.is_empty() {
            let n = missing.len();
            let noun = if n == 1 { "error" } else { "errors" };
            return Err(ApiError::Validation(format!("{n} validation {noun} detected: {}", missing.join("; "))));
        }
    }
    if let Some(p) = &task.task_invocation_parameters {
        let given = [
            (p.run_command.is_some(), "RunCommand", TaskType::RunCommand),
            (p.automation.is_some(), "Automation", TaskType::Automation),
            (p.step_functions.is_some(), "StepFunctions", TaskType::StepFunctions),
            (p.lambda.is_some(), "Lambda", TaskType::Lambda),
        ];
        for (present, member, ty) in given {
            if present && ty != task.task_type {
                return Err(ApiError::Validation(format!(
                    "TaskInvocationParameters.{member} cannot be used with a task of type {}.",
                    task.task_type.as_str()
                )));
            }
        }
    }
    Ok(())
}

pub async fn register(api: &Api, ctx: &Context, req: RegisterRequest) -> Result<RegisterResult, ApiError> {
    let window = crate::windows::load(api, ctx, &req.window_id).await?;
    let idem = req.client_token.as_ref().map(|t| Idempotency {
        operation: "RegisterTaskWithMaintenanceWindow",
        token: t.clone(),
        fingerprint: rules::fingerprint(&req),
    });
    let task = WindowTask {
        window_id: req.window_id,
        window_task_id: WindowTaskId::generate(),
        task_arn: req.task_arn,
        task_type: req.task_type,
        targets: req.targets.unwrap_or_default(),
        service_role_arn: req.service_role_arn,
        task_parameters: req.task_parameters,
        task_invocation_parameters: req.task_invocation_parameters,
        priority: req.priority.unwrap_or(DEFAULT_PRIORITY),
        max_concurrency: req.max_concurrency,
        max_errors: req.max_errors,
        logging_info: req.logging_info,
        name: req.name,
        description: req.description,
        cutoff_behavior: req.cutoff_behavior,
        alarm_configuration: req.alarm_configuration,
    };
    check_task(api, ctx, &window, &task).await?;
    let limit = api.config.aws_quotas.then_some(MAX_TASKS_PER_WINDOW);
    let ev = events::registration(
        &ctx.scope,
        ctx.now_ms,
        &task.window_id,
        Registered::Task,
        task.window_task_id.as_str(),
        "REGISTERED",
    );
    let window_task_id =
        api.store.register_task(&ctx.scope, &task, idem.as_ref(), limit, &[ev]).await.map_err(|e| {
            on_create(e, || window_not_found(task.window_id.as_str()), "tasks for this maintenance window")
        })?;
    Ok(RegisterResult { window_task_id })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdRequest {
    pub window_id: WindowId,
    pub window_task_id: WindowTaskId,
}

/// GetMaintenanceWindowTaskResult; UpdateMaintenanceWindowTaskResult is the same
/// without `TaskType` (`task_type` is `None` there).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskResult {
    pub window_id: WindowId,
    pub window_task_id: WindowTaskId,
    pub targets: Vec<Target>,
    pub task_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<TaskType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_parameters: Option<BTreeMap<String, TaskParameterValueExpression>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_invocation_parameters: Option<TaskInvocationParameters>,
    pub priority: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_info: Option<LoggingInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutoff_behavior: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_configuration: Option<AlarmConfiguration>,
}

impl TaskResult {
    fn new(t: WindowTask, with_type: bool) -> Self {
        Self {
            window_id: t.window_id,
            window_task_id: t.window_task_id,
            targets: t.targets,
            task_arn: t.task_arn,
            service_role_arn: t.service_role_arn,
            task_type: with_type.then_some(t.task_type),
            task_parameters: t.task_parameters,
            task_invocation_parameters: t.task_invocation_parameters,
            priority: t.priority,
            max_concurrency: t.max_concurrency,
            max_errors: t.max_errors,
            logging_info: t.logging_info,
            name: t.name,
            description: t.description,
            cutoff_behavior: t.cutoff_behavior,
            alarm_configuration: t.alarm_configuration,
        }
    }
}

async fn load(
    api: &Api,
    ctx: &Context,
    window: &WindowId,
    id: &WindowTaskId,
) -> Result<(std::sync::Arc<Window>, WindowTask), ApiError> {
    let w = crate::windows::load(api, ctx, window).await?;
    let t = api
        .store
        .get_task(&ctx.scope, window, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| task_not_found(id.as_str()))?;
    Ok((w, t))
}

pub async fn get(api: &Api, ctx: &Context, req: IdRequest) -> Result<TaskResult, ApiError> {
    let (_, t) = load(api, ctx, &req.window_id, &req.window_task_id).await?;
    Ok(TaskResult::new(t, true))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateRequest {
    pub window_id: WindowId,
    pub window_task_id: WindowTaskId,
    pub targets: Option<Vec<Target>>,
    pub task_arn: Option<String>,
    pub service_role_arn: Option<String>,
    pub task_parameters: Option<BTreeMap<String, TaskParameterValueExpression>>,
    pub task_invocation_parameters: Option<TaskInvocationParameters>,
    pub priority: Option<i32>,
    pub max_concurrency: Option<String>,
    pub max_errors: Option<String>,
    pub logging_info: Option<LoggingInfo>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub replace: Option<bool>,
    pub cutoff_behavior: Option<String>,
    pub alarm_configuration: Option<AlarmConfiguration>,
}

/// As with windows: without `Replace` only the given members change; with it, `TaskArn`
/// must be given and every optional member not given is cleared.
pub async fn update(api: &Api, ctx: &Context, req: UpdateRequest) -> Result<TaskResult, ApiError> {
    let (window, mut t) = load(api, ctx, &req.window_id, &req.window_task_id).await?;
    if req.replace.unwrap_or(false) {
        t.task_arn = rules::require(req.task_arn, "taskArn")?;
        t.targets = req.targets.unwrap_or_default();
        t.service_role_arn = req.service_role_arn;
        t.task_parameters = req.task_parameters;
        t.task_invocation_parameters = req.task_invocation_parameters;
        t.priority = req.priority.unwrap_or(DEFAULT_PRIORITY);
        t.max_concurrency = req.max_concurrency;
        t.max_errors = req.max_errors;
        t.logging_info = req.logging_info;
        t.name = req.name;
        t.description = req.description;
        t.cutoff_behavior = req.cutoff_behavior;
        t.alarm_configuration = req.alarm_configuration;
    } else {
        macro_rules! merge_opt {
            ($($field:ident),*) => { $( if req.$field.is_some() { t.$field = req.$field; } )* };
        }
        if let Some(v) = req.task_arn {
            t.task_arn = v;
        }
        if let Some(v) = req.targets {
            t.targets = v;
        }
        if let Some(v) = req.priority {
            t.priority = v;
        }
        merge_opt!(
            service_role_arn,
            task_parameters,
            task_invocation_parameters,
            max_concurrency,
            max_errors,
            logging_info,
            name,
            description,
            cutoff_behavior,
            alarm_configuration
        );
    }
    check_task(api, ctx, &window, &t).await?;
    let ev = events::registration(
        &ctx.scope,
        ctx.now_ms,
        &t.window_id,
        Registered::Task,
        t.window_task_id.as_str(),
        "UPDATED",
    );
    api.store.update_task(&ctx.scope, &t, &[ev]).await.map_err(|e| match e {
        StoreError::NotFound => task_not_found(t.window_task_id.as_str()),
        other => internal(other),
    })?;
    Ok(TaskResult::new(t, false))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeregisterResult {
    pub window_id: WindowId,
    pub window_task_id: WindowTaskId,
}

pub async fn deregister(api: &Api, ctx: &Context, req: IdRequest) -> Result<DeregisterResult, ApiError> {
    crate::windows::load(api, ctx, &req.window_id).await?;
    let ev = events::registration(
        &ctx.scope,
        ctx.now_ms,
        &req.window_id,
        Registered::Task,
        req.window_task_id.as_str(),
        "DEREGISTERED",
    );
    api.store.deregister_task(&ctx.scope, &req.window_id, &req.window_task_id, &[ev]).await.map_err(|e| match e {
        StoreError::NotFound => task_not_found(req.window_task_id.as_str()),
        other => internal(other),
    })?;
    Ok(DeregisterResult { window_id: req.window_id, window_task_id: req.window_task_id })
}

/// DescribeMaintenanceWindow{Targets,Tasks} take the same members.
pub type DescribeRequest = crate::windows::ListInWindowRequest;

/// The `MaintenanceWindowTask` list item: `Type`, not `TaskType`, and no invocation
/// parameters.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskItem {
    pub window_id: WindowId,
    pub window_task_id: WindowTaskId,
    pub task_arn: String,
    #[serde(rename = "Type")]
    pub task_type: TaskType,
    pub targets: Vec<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_parameters: Option<BTreeMap<String, TaskParameterValueExpression>>,
    pub priority: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_info: Option<LoggingInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutoff_behavior: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_configuration: Option<AlarmConfiguration>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeResult {
    pub tasks: Vec<TaskItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Filters `WindowTaskId`, `TaskArn`, `Priority` and `TaskType`.
pub async fn describe(api: &Api, ctx: &Context, req: DescribeRequest) -> Result<DescribeResult, ApiError> {
    let filters = req.filters.unwrap_or_default();
    check_filter_keys(&filters, &["WindowTaskId", "TaskArn", "Priority", "TaskType"])?;
    crate::windows::load(api, ctx, &req.window_id).await?;
    let after = pagination::decode(req.next_token.as_deref())?;
    let all = api.store.list_tasks(&ctx.scope, &req.window_id).await.map_err(internal)?;
    let matching: Vec<WindowTask> = all
        .into_iter()
        .filter(|t| {
            filters.iter().all(|f| {
                let values = f.values.as_deref().unwrap_or(&[]);
                let priority = t.priority.to_string();
                let field = match f.key.as_deref() {
                    Some("WindowTaskId") => t.window_task_id.as_str(),
                    Some("TaskArn") => t.task_arn.as_str(),
                    Some("Priority") => priority.as_str(),
                    _ => t.task_type.as_str(),
                };
                values.is_empty() || values.iter().any(|v| v == field)
            })
        })
        .collect();
    let size = pagination::page_size(req.max_results, 10, 100);
    let (page, next_token) = pagination::page(matching, |t| t.window_task_id.as_str(), after.as_deref(), size);
    let tasks = page
        .into_iter()
        .map(|t| TaskItem {
            window_id: t.window_id,
            window_task_id: t.window_task_id,
            task_arn: t.task_arn,
            task_type: t.task_type,
            targets: t.targets,
            task_parameters: t.task_parameters,
            priority: t.priority,
            logging_info: t.logging_info,
            service_role_arn: t.service_role_arn,
            max_concurrency: t.max_concurrency,
            max_errors: t.max_errors,
            name: t.name,
            description: t.description,
            cutoff_behavior: t.cutoff_behavior,
            alarm_configuration: t.alarm_configuration,
        })
        .collect();
    Ok(DescribeResult { tasks, next_token })
}
