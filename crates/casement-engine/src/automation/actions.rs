//! What each runbook action does. An action is called again and again while its step
//! runs: it reads and writes its own progress in the step record (written to the store
//! between calls), and answers done, failed, or "call again later". Whatever it starts
//! outside (a command, a child automation) gets an ID derived from the step and
//! attempt, and is recorded before it is started, so a restarted driver finds it
//! instead of starting it twice.

use std::collections::BTreeMap;

use casement_model::automation::status;
use casement_model::{AutomationExecution, Scope, StepExecution, Target};
use serde_json::{json, Map, Value};

use super::select;
use super::{derived_id, Automations, StartRequest};
use crate::run_command::SendCommand;

/// How far a call of an action got.
pub(super) enum Act {
    /// Finished: the action's own outputs, what the step's output selectors read (the
    /// outputs themselves unless given: an API's whole answer), and for a branch, the
    /// step to go to.
    Done {
        result: Value,
        selectable: Option<Value>,
        next: Option<String>,
    },
    Failed {
        message: String,
        stage: &'static str,
        kind: &'static str,
    },
    /// Not finished: call again at `wake_ms` (`None`: only when a signal comes);
    /// `waiting` shows the step (and execution) as Waiting rather than InProgress.
    Later {
        wake_ms: Option<i64>,
        waiting: bool,
    },
}

/// Actions Casement runs. Every other action AWS has is accepted in a runbook and fails
/// its step when it runs, saying why.
pub const SUPPORTED: &[&str] = &[
    "aws:sleep",
    "aws:pause",
    "aws:approve",
    "aws:branch",
    "aws:runCommand",
    "aws:executeAutomation",
    "aws:executeAwsApi",
    "aws:waitForAwsResourceProperty",
    "aws:assertAwsResourceProperty",
    "aws:invokeLambdaFunction",
    "aws:executeStateMachine",
    "aws:loop",
];

/// How often aws:waitForAwsResourceProperty calls its API again.
const WAIT_POLL_MS: i64 = 1_000;

/// AWS's longest `aws:sleep` (just under 7 days).
const MAX_SLEEP_SECS: i64 = 604_799;
/// How often a step following a command or a child automation looks at it.
const FOLLOW_MS: i64 = 100;

fn failed(message: impl Into<String>, stage: &'static str, kind: &'static str) -> Act {
    Act::Failed { message: message.into(), stage, kind }
}

/// `Step fails when it is <phase>. <detail>. Please refer to …`: AWS's wording of a
/// step failure.
fn step_fails(phase: &str, detail: &str) -> String {
    format!(
        "Step fails when it is {phase}. {detail}. Please refer to Automation Service Troubleshooting Guide for more diagnosis details."
    )
}

pub(super) fn input_error(detail: impl AsRef<str>) -> Act {
    failed(step_fails("validating and resolving the step inputs", detail.as_ref()), "InputValidation", "Action")
}

/// An ISO 8601 duration (`PT5S`, `P1DT2H`, `PT1.5S`) in milliseconds.
pub(super) fn iso_duration_ms(s: &str) -> Option<i64> {
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut ms = 0f64;
    let mut take = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let unit = units.iter().find(|(u, _)| *u == c)?.1;
                ms += num.parse::<f64>().ok()? * unit;
                num.clear();
            }
        }
        num.is_empty().then_some(())
    };
    take(date, &[('W', 604_800_000.0), ('D', 86_400_000.0)])?;
    take(time, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1_000.0)])?;
    Some(ms as i64)
}

fn sleep(step: &mut StepExecution, inputs: &Value, now: i64) -> Act {
    let until = match step.progress.get("until").and_then(Value::as_i64) {
        Some(u) => u,
        None => {
            let until =
                match (inputs.get("Duration").and_then(Value::as_str), inputs.get("Timestamp").and_then(Value::as_str))
                {
                    (Some(d), _) => match iso_duration_ms(d) {
                        Some(ms) if ms <= MAX_SLEEP_SECS * 1000 => now + ms,
                        Some(_) => {
                            return input_error(format!(
                                "Duration {d} is longer than the most aws:sleep allows (604799 seconds)"
                            ))
                        }
                        None => return input_error(format!("Duration {d} is not an ISO 8601 duration such as PT10M")),
                    },
                    (None, Some(t)) => match chrono::DateTime::parse_from_rfc3339(t) {
                        // A time already past ends the sleep at once.
                        Ok(t) => t.timestamp_millis().max(now),
                        Err(_) => {
                            return input_error(format!(
                                "Timestamp {t} is not an ISO 8601 time such as 2026-12-24T18:00:00Z"
                            ))
                        }
                    },
                    (None, None) => return input_error("aws:sleep needs a Duration or a Timestamp"),
                };
            step.progress = json!({ "until": until });
            until
        }
    };
    if now >= until {
        Act::Done { result: json!({}), selectable: None, next: None }
    } else {
        Act::Later { wake_ms: Some(until), waiting: false }
    }
}

fn pause(step: &StepExecution) -> Act {
    if step.progress.get("resumed").and_then(Value::as_bool) == Some(true) {
        Act::Done { result: json!({}), selectable: None, next: None }
    } else {
        Act::Later { wake_ms: None, waiting: true }
    }
}

/// Whether `sender` (an access key ID of this server) is one of the Approvers (a JSON
/// list): named by its access key ID, or by an IAM ARN of its account
/// (`arn:aws:iam::<account>:…`).
pub fn is_approver(approvers: &Value, sender: &str, account: &str) -> bool {
    approvers.as_array().is_some_and(|list| {
        list.iter()
            .filter_map(Value::as_str)
            .any(|a| a == sender || a.strip_prefix("arn:aws:iam::").and_then(|r| r.split(':').next()) == Some(account))
    })
}

fn approve(step: &StepExecution, inputs: &Value) -> Act {
    let Some(approvers) = inputs.get("Approvers").and_then(Value::as_array).filter(|a| !a.is_empty()) else {
        return input_error("aws:approve needs Approvers (1 to 10 IAM ARNs or access key IDs)");
    };
    if approvers.len() > 10 {
        return input_error("aws:approve takes at most 10 Approvers");
    }
    let min = inputs
        .get("MinRequiredApprovals")
        .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .unwrap_or(1) as usize;
    let decisions: Vec<Value> = step.progress.get("decisions").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(reject) = decisions.iter().find(|d| d["Decision"] == "Rejected") {
        return failed(
            format!("The approval request was rejected by {}.", reject["Approver"].as_str().unwrap_or("an approver")),
            "Invocation",
            "Action",
        );
    }
    if decisions.len() >= min {
        return Act::Done {
            result: json!({ "ApprovalStatus": "Approved", "ApproverDecisions": decisions }),
            selectable: None,
            next: None,
        };
    }
    Act::Later { wake_ms: None, waiting: true }
}

fn branch(inputs: &Value) -> Act {
    let choices = inputs.get("Choices").and_then(Value::as_array).cloned().unwrap_or_default();
    let next = choices
        .iter()
        .find(|c| select::holds(c))
        .and_then(|c| c.get("NextStep").and_then(Value::as_str).map(str::to_owned))
        .or_else(|| inputs.get("Default").and_then(Value::as_str).map(str::to_owned));
    Act::Done { result: json!({}), selectable: None, next }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned)).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Null => vec![],
        other => vec![other.to_string()],
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, Vec<String>> {
    v.and_then(Value::as_object).map(|o| o.iter().map(|(k, x)| (k.clone(), strings(x))).collect()).unwrap_or_default()
}

fn text(inputs: &Value, key: &str) -> Option<String> {
    inputs.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
}

async fn run_command(svc: &Automations, scope: &Scope, step: &mut StepExecution, inputs: &Value, now: i64) -> Act {
    let Some(command_id) = step.progress.get("CommandId").and_then(Value::as_str).map(str::to_owned) else {
        // Record the command's ID before sending it.
        let id = derived_id(&step.step_execution_id, step.attempts);
        step.progress = json!({ "CommandId": id });
        return Act::Later { wake_ms: Some(now), waiting: false };
    };
    let Some(document) = text(inputs, "DocumentName") else {
        return input_error("aws:runCommand needs a DocumentName");
    };
    let targets: Vec<Target> = match inputs.get("Targets") {
        Some(t) => match serde_json::from_value(t.clone()) {
            Ok(t) => t,
            Err(e) => return input_error(format!("Targets is not a list of Key and Values: {e}")),
        },
        None => Vec::new(),
    };
    let send = SendCommand {
        command_id: Some(command_id.clone()),
        instance_ids: inputs.get("InstanceIds").map(strings).unwrap_or_default(),
        targets,
        document_name: document,
        document_version: text(inputs, "DocumentVersion"),
        document_hash: text(inputs, "DocumentHash"),
        comment: text(inputs, "Comment"),
        parameters: string_map(inputs.get("Parameters")),
        timeout_seconds: inputs.get("TimeoutSeconds").and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok())),
        max_concurrency: text(inputs, "MaxConcurrency"),
        max_errors: text(inputs, "MaxErrors"),
        output_s3_bucket_name: text(inputs, "OutputS3BucketName"),
        output_s3_key_prefix: text(inputs, "OutputS3KeyPrefix"),
        service_role: text(inputs, "ServiceRoleArn"),
        ..SendCommand::default()
    };
    if send.instance_ids.is_empty() && send.targets.is_empty() {
        return input_error("aws:runCommand needs InstanceIds or Targets");
    }
    // Sending again returns the command already sent under this ID.
    let cmd = match svc.run_command.send(scope, send).await {
        Ok(c) => c,
        Err(crate::run_command::SendError::Store(e)) => {
            tracing::warn!(error = %e, "sending an automation's command failed; retrying");
            return Act::Later { wake_ms: Some(now + 1_000), waiting: false };
        }
        Err(e) => return input_error(e.to_string()),
    };
    if !matches!(cmd.status.as_str(), "Success" | "Failed" | "TimedOut" | "Cancelled") {
        return Act::Later { wake_ms: Some(now + FOLLOW_MS), waiting: false };
    }
    let first = svc.store.list_command_invocations(scope, Some(&command_id), None, None, 1).await;
    let (code, output) = match first.ok().and_then(|v| v.into_iter().next()) {
        Some(inv) => (inv.response_code, inv.stdout),
        None => (-1, String::new()),
    };
    let result = json!({ "CommandId": command_id, "Status": cmd.status, "ResponseCode": code, "Output": output });
    if cmd.status == "Success" {
        return Act::Done { result, selectable: None, next: None };
    }
    let detail = format!(
        "Command {command_id} returns unexpected invocation result: \n{{Status=[{}], ResponseCode=[{code}], Output=[{output}], OutputPayload=[], CommandId=[{command_id}]}}",
        cmd.status
    );
    failed(step_fails("verifying the command has completed", &detail), "PostVerification", "Verification")
}

async fn execute_automation(
    svc: &Automations,
    scope: &Scope,
    parent: &AutomationExecution,
    step: &mut StepExecution,
    inputs: &Value,
    now: i64,
) -> Act {
    let Some(child) = step.progress.get("ExecutionId").and_then(Value::as_str).map(str::to_owned) else {
        let id = derived_id(&step.step_execution_id, step.attempts);
        step.progress = json!({ "ExecutionId": id });
        return Act::Later { wake_ms: Some(now), waiting: false };
    };
    let Some(document) = text(inputs, "DocumentName") else {
        return input_error("aws:executeAutomation needs a DocumentName");
    };
    let req = StartRequest {
        execution_id: Some(child.clone()),
        document_name: document,
        document_version: text(inputs, "DocumentVersion"),
        parameters: string_map(inputs.get("RuntimeParameters")),
        mode: "Auto".into(),
        parent: Some(parent.automation_execution_id.clone()),
        executed_by: parent.executed_by.clone(),
        ..StartRequest::default()
    };
    if let Err(e) = svc.start(scope, req).await {
        return input_error(e.to_string());
    }
    let Ok(Some(c)) = svc.store.get_automation(scope, &child).await else {
        return Act::Later { wake_ms: Some(now + 1_000), waiting: false };
    };
    if !c.is_final() {
        return Act::Later { wake_ms: Some(now + FOLLOW_MS), waiting: false };
    }
    let output = serde_json::to_string(&c.outputs).unwrap_or_default();
    let result = json!({ "ExecutionId": child, "Status": c.status, "Output": output });
    if c.status == status::SUCCESS {
        return Act::Done { result, selectable: None, next: None };
    }
    let detail = format!(
        "Execution {child} ended {}{}",
        c.status,
        c.failure_message.map(|m| format!(": {m}")).unwrap_or_default()
    );
    failed(step_fails("Poll action status for completion", &detail), "Invocation", "Verification")
}

/// `DescribeInstanceInformation` from `describe_instance_information` too (runbooks
/// name APIs either way).
fn operation_name(api: &str) -> String {
    if !api.contains('_') {
        return api.to_owned();
    }
    api.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// Call the SSM API a step names (its other inputs are the API's), as the execution's
/// account. `Err` is the step's failure.
async fn call_api(svc: &Automations, scope: &Scope, inputs: &Value, extra: &[&str]) -> Result<Value, Box<Act>> {
    let service = text(inputs, "Service").unwrap_or_default();
    if !service.eq_ignore_ascii_case("ssm") {
        return Err(Box::new(input_error(format!(
            "Service {service} cannot be called here: Casement answers aws:executeAwsApi and its kin for Service ssm only"
        ))));
    }
    let Some(api) = text(inputs, "Api") else { return Err(Box::new(input_error("the step needs an Api"))) };
    let Some(ssm) = svc.ssm_api.get() else {
        return Err(Box::new(input_error("SSM's API is not available to runbooks on this server")));
    };
    let mut input = inputs.as_object().cloned().unwrap_or_default();
    for k in ["Service", "Api"].iter().chain(extra) {
        input.remove(*k);
    }
    let op = operation_name(&api);
    ssm.call(scope, &op, Value::Object(input)).await.map_err(|(code, message)| {
        Box::new(failed(
            step_fails(
                "Execute/Invoke action",
                &format!("An error occurred ({code}) when calling the {op} operation: {message}"),
            ),
            "Invocation",
            "Action",
        ))
    })
}

/// A selected value as AWS's runbooks compare it with DesiredValues (Python's spelling
/// of booleans).
fn property_text(v: &Value) -> String {
    match v {
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether the API's answer has the property at one of the desired values; with the
/// value found, for the message when it has not.
fn property_matches(result: &Value, inputs: &Value) -> Result<(bool, String), Box<Act>> {
    let Some(selector) = text(inputs, "PropertySelector") else {
        return Err(Box::new(input_error("the step needs a PropertySelector")));
    };
    let desired = inputs.get("DesiredValues").map(strings).unwrap_or_default();
    if desired.is_empty() {
        return Err(Box::new(input_error("the step needs DesiredValues")));
    }
    let found = select::select(result, &selector);
    let values: Vec<String> = match &found {
        Some(Value::Array(items)) => items.iter().map(property_text).collect(),
        Some(v) => vec![property_text(v)],
        None => vec![],
    };
    let ok = !values.is_empty() && values.iter().all(|v| desired.contains(v));
    Ok((ok, values.join(", ")))
}

fn desired_list(inputs: &Value) -> String {
    inputs
        .get("DesiredValues")
        .map(strings)
        .unwrap_or_default()
        .iter()
        .map(|d| format!("'{d}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

const PROPERTY_INPUTS: &[&str] = &["PropertySelector", "DesiredValues"];

/// aws:invokeLambdaFunction. Lambda has no idempotency token, so the call is recorded
/// as begun before it is made: a step interrupted by a restart mid-call fails rather than
/// invoking the function a second time.
async fn invoke_lambda(svc: &Automations, scope: &Scope, step: &mut StepExecution, inputs: &Value, now: i64) -> Act {
    let Some(function) = text(inputs, "FunctionName") else {
        return input_error("aws:invokeLambdaFunction needs a FunctionName");
    };
    let Some(lambda) = svc.lambda.get() else {
        return input_error("Lambda is not available to runbooks on this server (it runs without its engine)");
    };
    let recorded_here = svc.invoking.lock().unwrap_or_else(|p| p.into_inner()).remove(&step.step_execution_id);
    if step.progress.get("invoking").and_then(Value::as_bool) == Some(true) && !recorded_here {
        // Recorded by a driver that is gone: the call may have been made.
        return failed(
            step_fails(
                "Execute/Invoke action",
                "The server stopped while the function was being invoked; it is not invoked again",
            ),
            "Invocation",
            "Internal",
        );
    }
    if !recorded_here {
        step.progress = json!({ "invoking": true });
        svc.invoking.lock().unwrap_or_else(|p| p.into_inner()).insert(step.step_execution_id.clone());
        return Act::Later { wake_ms: Some(now), waiting: false };
    }
    let payload = match (inputs.get("InputPayload"), inputs.get("Payload")) {
        (Some(map), _) => Some(map.to_string().into_bytes()),
        (None, Some(Value::String(p))) => Some(p.clone().into_bytes()),
        (None, Some(other)) => Some(other.to_string().into_bytes()),
        (None, None) => None,
    };
    let call = crate::runner::Invoke {
        function_name: function,
        payload,
        qualifier: text(inputs, "Qualifier"),
        client_context: text(inputs, "ClientContext"),
        invocation_type: text(inputs, "InvocationType"),
        log_type: text(inputs, "LogType"),
    };
    let out = lambda.invoke(&scope.region, call).await;
    step.progress = json!({ "invoked": true });
    match out {
        Ok(o) => {
            let result = json!({
                "StatusCode": o.status_code,
                "FunctionError": o.function_error.clone().unwrap_or_default(),
                "LogResult": o.log_result.unwrap_or_default(),
                "Payload": o.payload,
            });
            match o.function_error {
                Some(kind) => failed(
                    step_fails(
                        "Execute/Invoke action",
                        &format!(
                            "The function returned an error ({kind}): {}",
                            result["Payload"].as_str().unwrap_or_default()
                        ),
                    ),
                    "Invocation",
                    "Action",
                ),
                None => {
                    // Selectors read the function's answer as JSON where it is JSON.
                    let selectable = serde_json::from_str::<Value>(result["Payload"].as_str().unwrap_or_default())
                        .ok()
                        .map(|p| json!({ "Payload": p, "StatusCode": o.status_code }));
                    Act::Done { result, selectable, next: None }
                }
            }
        }
        Err((message, _)) => failed(step_fails("Execute/Invoke action", &message), "Invocation", "Action"),
    }
}

/// aws:executeStateMachine: StartExecution under a name derived from the step (so a
/// repeat after a restart is the same execution), then DescribeExecution until it ends.
async fn execute_state_machine(
    svc: &Automations,
    scope: &Scope,
    step: &mut StepExecution,
    inputs: &Value,
    now: i64,
) -> Act {
    let Some(machine) = text(inputs, "stateMachineArn") else {
        return input_error("aws:executeStateMachine needs a stateMachineArn");
    };
    let Some(sfn) = svc.step_functions.get() else {
        return input_error("Step Functions is not available to runbooks on this server (it runs without its engine)");
    };
    let arn = match step.progress.get("executionArn").and_then(Value::as_str) {
        Some(a) => a.to_owned(),
        None => {
            let name = text(inputs, "name").unwrap_or_else(|| derived_id(&step.step_execution_id, step.attempts));
            if step.progress.get("name").is_none() {
                step.progress = json!({ "name": name });
                return Act::Later { wake_ms: Some(now), waiting: false };
            }
            match sfn.start_execution(&scope.region, &machine, &name, text(inputs, "input")).await {
                Ok(arn) => {
                    step.progress = json!({ "name": name, "executionArn": arn });
                    return Act::Later { wake_ms: Some(now), waiting: false };
                }
                Err(e) => return failed(step_fails("Execute/Invoke action", &e), "Invocation", "Action"),
            }
        }
    };
    let e = match sfn.describe_execution(&scope.region, &arn).await {
        Ok(e) => e,
        Err(err) => {
            tracing::warn!(error = %err, "following a state machine failed; retrying");
            return Act::Later { wake_ms: Some(now + 1_000), waiting: false };
        }
    };
    if e.status == "RUNNING" || e.status == "PENDING_REDRIVE" {
        return Act::Later { wake_ms: Some(now + FOLLOW_MS * 5), waiting: false };
    }
    let result = json!({
        "executionArn": e.execution_arn,
        "input": e.input.unwrap_or_default(),
        "name": e.name.unwrap_or_default(),
        "output": e.output.clone().unwrap_or_default(),
        "startDate": e.start_date,
        "stateMachineArn": e.state_machine_arn,
        "status": e.status,
        "stopDate": e.stop_date,
    });
    if e.status == "SUCCEEDED" {
        return Act::Done { result, selectable: None, next: None };
    }
    let cause = [e.error, e.cause].into_iter().flatten().collect::<Vec<_>>().join(": ");
    failed(
        step_fails(
            "Poll action status for completion",
            &format!("Execution {arn} ended {}: {cause}", result["status"]),
        ),
        "Invocation",
        "Verification",
    )
}

/// Run one call of the step's action.
pub(super) async fn act(
    svc: &Automations,
    scope: &Scope,
    execution: &AutomationExecution,
    step: &mut StepExecution,
    inputs: &Value,
    now: i64,
) -> Act {
    match step.action.as_str() {
        "aws:sleep" => sleep(step, inputs, now),
        "aws:pause" => pause(step),
        "aws:approve" => approve(step, inputs),
        "aws:branch" => branch(inputs),
        "aws:runCommand" => run_command(svc, scope, step, inputs, now).await,
        "aws:executeAutomation" => execute_automation(svc, scope, execution, step, inputs, now).await,
        "aws:invokeLambdaFunction" => invoke_lambda(svc, scope, step, inputs, now).await,
        "aws:executeStateMachine" => execute_state_machine(svc, scope, step, inputs, now).await,
        "aws:executeAwsApi" => match call_api(svc, scope, inputs, &[]).await {
            Ok(result) => Act::Done { result: json!({}), selectable: Some(result), next: None },
            Err(act) => *act,
        },
        "aws:waitForAwsResourceProperty" => {
            let result = match call_api(svc, scope, inputs, PROPERTY_INPUTS).await {
                Ok(r) => r,
                Err(act) => return *act,
            };
            match property_matches(&result, inputs) {
                Ok((true, _)) => Act::Done { result: json!({}), selectable: None, next: None },
                Ok((false, _)) => Act::Later { wake_ms: Some(now + WAIT_POLL_MS), waiting: false },
                Err(act) => *act,
            }
        }
        "aws:assertAwsResourceProperty" => {
            let result = match call_api(svc, scope, inputs, PROPERTY_INPUTS).await {
                Ok(r) => r,
                Err(act) => return *act,
            };
            match property_matches(&result, inputs) {
                Ok((true, _)) => Act::Done { result: json!({}), selectable: None, next: None },
                Ok((false, found)) => failed(
                    format!(
                        "Property value '{found}' from the API output is not in the desired values. Desired values: [{}]..",
                        desired_list(inputs)
                    ),
                    "PostVerification",
                    "Verification",
                ),
                Err(act) => *act,
            }
        }
        other => input_error(format!(
            "The action {other} is not supported by Casement: this server runs {} (it has no EC2, CloudFormation or script runtime)",
            SUPPORTED.join(", ")
        )),
    }
}

/// Stop what a step started elsewhere (its command, its child automation), when the step
/// is cancelled or times out.
pub(super) async fn stop(svc: &Automations, scope: &Scope, step: &StepExecution) {
    if step.action == "aws:loop" {
        for child in super::looping::children(step).iter().filter(|c| !status::is_final(&c.execution.status)) {
            Box::pin(stop(svc, scope, &child.execution)).await;
        }
    }
    if let Some(id) = step.progress.get("CommandId").and_then(Value::as_str) {
        if let Err(e) = svc.run_command.cancel(scope, id, None).await {
            tracing::warn!(error = %e, command = id, "cancelling an automation's command failed");
        }
    }
    if let Some(id) = step.progress.get("ExecutionId").and_then(Value::as_str) {
        if let Err(e) = svc.stop(scope, id).await {
            tracing::warn!(error = %e, execution = id, "stopping a child automation failed");
        }
    }
}

/// The default step timeout of an action, where AWS has one (an approval waits 7 days).
pub(super) fn default_timeout_secs(action: &str) -> Option<u64> {
    match action {
        "aws:approve" => Some(7 * 24 * 3600),
        "aws:waitForAwsResourceProperty" => Some(3600),
        _ => None,
    }
}

/// A step's result as the `outputs` it declares (`Name`, `Selector`, `Type`), besides the
/// action's own.
pub(super) fn declared_outputs(
    declared: &[casement_documents::runbook::StepOutput],
    result: &Value,
) -> Map<String, Value> {
    let mut out = Map::new();
    for o in declared {
        if let Some(v) = select::select(result, &o.selector).and_then(|v| select::as_type(v, &o.ty)) {
            out.insert(o.name.clone(), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(iso_duration_ms("PT0S"), Some(0));
        assert_eq!(iso_duration_ms("PT1.5S"), Some(1_500));
        assert_eq!(iso_duration_ms("PT10M"), Some(600_000));
        assert_eq!(iso_duration_ms("P1DT1H"), Some(90_000_000));
        assert_eq!(iso_duration_ms("10s"), None);
        assert_eq!(iso_duration_ms("PT5X"), None);
    }

    #[test]
    fn approvers_are_keys_or_arns_of_the_account() {
        let a = json!(["AKIDONE", "arn:aws:iam::123456789012:role/Ops"]);
        assert!(is_approver(&a, "AKIDONE", "999999999999"));
        assert!(is_approver(&a, "AKIDTWO", "123456789012"));
        assert!(!is_approver(&a, "AKIDTWO", "999999999999"));
    }
}
