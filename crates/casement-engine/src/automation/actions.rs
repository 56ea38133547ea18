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
    /// Finished: the action's result (its own outputs, which output selectors also read),
    /// and for a branch, the step to go to.
    Done {
        result: Value,
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
pub const SUPPORTED: &[&str] =
    &["aws:sleep", "aws:pause", "aws:approve", "aws:branch", "aws:runCommand", "aws:executeAutomation"];

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

fn input_error(detail: impl AsRef<str>) -> Act {
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
        Act::Done { result: json!({}), next: None }
    } else {
        Act::Later { wake_ms: Some(until), waiting: false }
    }
}

fn pause(step: &StepExecution) -> Act {
    if step.progress.get("resumed").and_then(Value::as_bool) == Some(true) {
        Act::Done { result: json!({}), next: None }
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
    Act::Done { result: json!({}), next }
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
        return Act::Done { result, next: None };
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
        return Act::Done { result, next: None };
    }
    let detail = format!(
        "Execution {child} ended {}{}",
        c.status,
        c.failure_message.map(|m| format!(": {m}")).unwrap_or_default()
    );
    failed(step_fails("Poll action status for completion", &detail), "Invocation", "Verification")
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
        other => input_error(format!(
            "The action {other} is not supported by Casement: this server runs {} (it has no EC2, CloudFormation or script runtime)",
            SUPPORTED.join(", ")
        )),
    }
}

/// Stop what a step started elsewhere (its command, its child automation), when the step
/// is cancelled or times out.
pub(super) async fn stop(svc: &Automations, scope: &Scope, step: &StepExecution) {
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
    (action == "aws:approve").then_some(7 * 24 * 3600)
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
