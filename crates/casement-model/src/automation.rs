//! Automation executions: a runbook run, step by step. The record holds everything a
//! driver needs to go on after a restart: the runbook as it was when the execution
//! started, the parameters, each step's status, inputs, outputs and action-specific
//! progress (`StepExecution::progress`: when a sleep ends, which command was sent…).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Target;

/// Tag resource type of an automation execution.
pub const AUTOMATION_RESOURCE_TYPE: &str = "Automation";

/// Statuses of executions and steps, as AWS shows them.
pub mod status {
    pub const PENDING: &str = "Pending";
    pub const IN_PROGRESS: &str = "InProgress";
    pub const WAITING: &str = "Waiting";
    pub const SUCCESS: &str = "Success";
    pub const TIMED_OUT: &str = "TimedOut";
    pub const CANCELLING: &str = "Cancelling";
    pub const CANCELLED: &str = "Cancelled";
    pub const FAILED: &str = "Failed";

    pub fn is_final(s: &str) -> bool {
        matches!(s, SUCCESS | TIMED_OUT | CANCELLED | FAILED)
    }
}

/// Why a step failed: `FailureDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureDetails {
    /// InputValidation, PreVerification, Invocation, PostVerification.
    pub failure_stage: String,
    /// Action, Permission, Throttling, Verification, Internal.
    pub failure_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepExecution {
    pub step_name: String,
    pub action: String,
    pub step_execution_id: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    pub on_failure: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_cancel: Option<String>,
    pub max_attempts: u32,
    pub is_end: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    pub is_critical: bool,
    /// Inputs as resolved when the step started, each JSON-encoded (as AWS shows them).
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_details: Option<FailureDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    /// Attempts made so far (maxAttempts bounds them).
    #[serde(default)]
    pub attempts: u32,
    /// The action's own progress, written before the work it describes, so a restart
    /// resumes the step instead of repeating it.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub progress: Value,
}

/// A signal for a running execution (SendAutomationSignal, StopAutomationExecution),
/// queued for its driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationSignal {
    /// Approve, Reject, StartStep, StopStep, Resume, or Cancel (a stop).
    pub signal_type: String,
    #[serde(default)]
    pub payload: BTreeMap<String, Vec<String>>,
    /// Who sent it (the caller's identity), for approvals.
    #[serde(default)]
    pub sender: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomationExecution {
    pub automation_execution_id: String,
    pub document_name: String,
    pub document_version: String,
    /// The runbook as it was when the execution started.
    pub content: Value,
    pub status: String,
    /// Auto or Interactive.
    pub mode: String,
    /// Parameters as the API shows them (lists of strings), defaults included.
    #[serde(default)]
    pub parameters: BTreeMap<String, Vec<String>>,
    /// The same, typed as the runbook declares them.
    #[serde(default)]
    pub typed_parameters: Map<String, Value>,
    pub steps: Vec<StepExecution>,
    /// Index of the step running or next to run (`steps.len()`: none left).
    pub current: usize,
    #[serde(default)]
    pub outputs: BTreeMap<String, Vec<String>>,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    pub executed_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_automation_execution_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_parameter_name: Option<String>,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<String>,
    /// With rate control (TargetParameterName): the values the targets resolved to, one
    /// child execution each, and how many children have been started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_targets: Vec<String>,
    #[serde(default)]
    pub children_started: usize,
    /// Set by StopAutomationExecution; the driver ends the execution Cancelled.
    #[serde(default)]
    pub cancel_requested: bool,
    /// While a stopped execution runs a step's onCancel target: that step's index, and
    /// when the stop was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_step: Option<(usize, i64)>,
    /// When the driver must look again without a signal (a sleep's end, a poll).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_ms: Option<i64>,
}

impl AutomationExecution {
    pub fn is_final(&self) -> bool {
        status::is_final(&self.status)
    }

    pub fn current_step(&self) -> Option<&StepExecution> {
        self.steps.get(self.current)
    }

    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.step_name == name)
    }
}
