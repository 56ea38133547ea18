//! aws:loop: the loop step runs its own steps in order, once per item of `Iterators`
//! (for each) or while its `LoopCondition` holds after an iteration (do while), at most
//! `MaxIterations` (100) times. The loop keeps its whole state in its step's progress:
//! the iteration, which of its steps runs, that step's own execution record (so the
//! step's action resumes after a restart like any other), and the executions that
//! ended, which the API lists after the loop step with their parent's details.

use casement_documents::params;
use casement_documents::runbook::{OnFailure, Step, MAX_LOOP_ITERATIONS};
use casement_model::automation::status;
use casement_model::{AutomationExecution, Scope, StepExecution};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::actions::{self, Act};
use super::{select, Automations};

/// One execution of a step inside a loop, with the iteration it belonged to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoopChild {
    pub execution: StepExecution,
    pub iteration: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterator_value: Option<String>,
}

/// A loop step's progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LoopState {
    iteration: u64,
    /// The items of a for-each loop, read when the loop started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iterators: Option<Vec<Value>>,
    /// Which of the loop's steps runs.
    index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    child: Option<LoopChild>,
    #[serde(default)]
    done: Vec<LoopChild>,
}

/// The executions of a loop step's steps, ended and running, in order.
pub fn children(step: &StepExecution) -> Vec<LoopChild> {
    let state: LoopState = serde_json::from_value(step.progress.clone()).unwrap_or_default();
    state.done.into_iter().chain(state.child).collect()
}

/// The outputs of a step that runs inside a loop (its latest execution), for `{{ }}`.
pub fn child_outputs(e: &AutomationExecution, step: &str) -> Option<std::collections::BTreeMap<String, Vec<String>>> {
    e.steps.iter().filter(|s| s.action == "aws:loop").find_map(|l| {
        children(l).into_iter().rev().find(|c| c.execution.step_name == step).map(|c| c.execution.outputs)
    })
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn new_child(def: &Step, iteration: u64, iterator_value: Option<String>, now: i64) -> LoopChild {
    LoopChild {
        execution: StepExecution {
            step_name: def.name.clone(),
            action: def.action.clone(),
            step_execution_id: casement_model::ids::new_uuid(),
            status: status::IN_PROGRESS.into(),
            timeout_seconds: def.timeout_seconds,
            on_failure: match &def.on_failure {
                OnFailure::Continue => "Continue".into(),
                _ => "Abort".into(),
            },
            on_cancel: None,
            max_attempts: def.max_attempts,
            is_end: false,
            next_step: None,
            is_critical: def.is_critical,
            inputs: Default::default(),
            outputs: Default::default(),
            response: None,
            failure_message: None,
            failure_details: None,
            start_ms: Some(now),
            end_ms: None,
            attempts: 1,
            progress: Value::Null,
        },
        iteration,
        iterator_value,
    }
}

/// The loop step's outputs while it runs and when it ends.
fn loop_outputs(step: &mut StepExecution, state: &LoopState) {
    step.outputs.insert("CurrentIteration".into(), vec![(state.iteration + 1).to_string()]);
    let value = state.iterators.as_ref().and_then(|items| items.get(state.iteration as usize)).map(text);
    match value {
        Some(v) => step.outputs.insert("CurrentIteratorValue".into(), vec![v]),
        None => step.outputs.remove("CurrentIteratorValue"),
    };
}

/// One call of a loop step: start it, or move its current step on, or decide whether
/// to iterate again. `resolve` substitutes `{{ }}` with the execution as it stands.
pub(super) async fn step(
    svc: &Automations,
    scope: &Scope,
    e: &mut AutomationExecution,
    idx: usize,
    def: &Step,
    resolve: &(dyn Fn(&AutomationExecution, &Value) -> Value + Send + Sync),
    now: i64,
) -> Act {
    let inputs = resolve(e, &def.inputs);
    let max = inputs
        .get("MaxIterations")
        .and_then(|m| m.as_u64().or_else(|| m.as_str().and_then(|t| t.parse().ok())))
        .unwrap_or(MAX_LOOP_ITERATIONS)
        .min(MAX_LOOP_ITERATIONS);
    let mut state: LoopState = serde_json::from_value(e.steps[idx].progress.clone()).unwrap_or_default();
    if e.steps[idx].progress.is_null() {
        // The loop starts: read its items once.
        if let Some(items) = inputs.get("Iterators") {
            let items: Vec<Value> = match items {
                Value::Array(a) => a.clone(),
                Value::String(s) => {
                    serde_json::from_str::<Vec<Value>>(s).unwrap_or_else(|_| vec![Value::String(s.clone())])
                }
                other => vec![other.clone()],
            };
            if items.len() as u64 > MAX_LOOP_ITERATIONS {
                return actions::input_error(format!(
                    "Iterators has {} items; aws:loop takes at most 100",
                    items.len()
                ));
            }
            if items.is_empty() {
                return Act::Done { result: json!({}), selectable: None, next: None };
            }
            state.iterators = Some(items);
        }
        loop_outputs(&mut e.steps[idx], &state);
        e.steps[idx].progress = serde_json::to_value(&state).unwrap_or_default();
        return Act::Later { wake_ms: Some(now), waiting: false };
    }
    let Some(child_def) = def.loop_steps.get(state.index) else {
        return actions::input_error("the loop has no step to run");
    };
    let mut child = match state.child.take() {
        Some(c) => c,
        None => {
            let value = state.iterators.as_ref().and_then(|items| items.get(state.iteration as usize)).map(text);
            let mut c = new_child(child_def, state.iteration, value, now);
            let child_inputs = resolve(e, &child_def.inputs);
            c.execution.inputs = child_inputs
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
                .unwrap_or_default();
            state.child = Some(c);
            e.steps[idx].progress = serde_json::to_value(&state).unwrap_or_default();
            return Act::Later { wake_ms: Some(now), waiting: false };
        }
    };
    let child_inputs = resolve(e, &child_def.inputs);
    let snapshot = e.clone();
    let outcome = actions::act(svc, scope, &snapshot, &mut child.execution, &child_inputs, now).await;
    let failed_child = match outcome {
        Act::Later { wake_ms, waiting } => {
            child.execution.status = if waiting { status::WAITING } else { status::IN_PROGRESS }.into();
            state.child = Some(child);
            e.steps[idx].progress = serde_json::to_value(&state).unwrap_or_default();
            return Act::Later { wake_ms, waiting };
        }
        Act::Done { result, selectable, .. } => {
            let mut outs = result.as_object().cloned().unwrap_or_default();
            outs.extend(actions::declared_outputs(&child_def.outputs, selectable.as_ref().unwrap_or(&result)));
            child.execution.outputs = outs.iter().map(|(k, v)| (k.clone(), params::as_strings(v))).collect();
            child.execution.status = status::SUCCESS.into();
            None
        }
        Act::Failed { message, stage, kind } => {
            child.execution.status = status::FAILED.into();
            child.execution.failure_message = Some(message.clone());
            child.execution.failure_details = Some(casement_model::automation::FailureDetails {
                failure_stage: stage.into(),
                failure_type: kind.into(),
            });
            (child_def.on_failure != OnFailure::Continue).then_some((message, stage, kind))
        }
    };
    child.execution.end_ms = Some(now);
    state.done.push(child);
    if let Some((message, stage, kind)) = failed_child {
        e.steps[idx].progress = serde_json::to_value(&state).unwrap_or_default();
        return Act::Failed { message, stage, kind };
    }
    state.index += 1;
    if state.index < def.loop_steps.len() {
        e.steps[idx].progress = serde_json::to_value(&state).unwrap_or_default();
        return Act::Later { wake_ms: Some(now), waiting: false };
    }
    // The iteration ended: go round again?
    e.steps[idx].progress = serde_json::to_value(&state).unwrap_or_default();
    let again = match &state.iterators {
        Some(items) => (state.iteration + 1) < items.len() as u64,
        None => {
            let condition = inputs.get("LoopCondition").cloned().unwrap_or(Value::Null);
            let condition = resolve(e, &def.inputs.get("LoopCondition").cloned().unwrap_or(condition));
            select::holds(&condition)
        }
    } && state.iteration + 1 < max;
    if !again {
        let step = &mut e.steps[idx];
        loop_outputs(step, &state);
        let result = json!({
            "CurrentIteration": state.iteration + 1,
            "CurrentIteratorValue": step.outputs.get("CurrentIteratorValue").and_then(|v| v.first()).cloned().unwrap_or_default(),
        });
        return Act::Done { result, selectable: None, next: None };
    }
    state.iteration += 1;
    state.index = 0;
    loop_outputs(&mut e.steps[idx], &state);
    e.steps[idx].progress = serde_json::to_value(&state).unwrap_or_default();
    Act::Later { wake_ms: Some(now), waiting: false }
}
