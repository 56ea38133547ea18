//! What running a window leaves behind: window executions, task executions and
//! per-target invocations, with SSM's one status enum for all three.

use serde::{Deserialize, Serialize};

use crate::{TaskType, WindowId, WindowTask, WindowTaskId};

/// `MaintenanceWindowExecutionStatus`: the same values for executions, task executions and
/// invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Pending,
    InProgress,
    Success,
    Failed,
    TimedOut,
    Cancelling,
    Cancelled,
    SkippedOverlapping,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 8] = [
        Self::Pending,
        Self::InProgress,
        Self::Success,
        Self::Failed,
        Self::TimedOut,
        Self::Cancelling,
        Self::Cancelled,
        Self::SkippedOverlapping,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::InProgress => "IN_PROGRESS",
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Cancelling => "CANCELLING",
            Self::Cancelled => "CANCELLED",
            Self::SkippedOverlapping => "SKIPPED_OVERLAPPING",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Final statuses never change again; everything else is still running.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Failed | Self::TimedOut | Self::Cancelled | Self::SkippedOverlapping)
    }
}

/// One run of a window, started by its schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WindowExecution {
    pub window_id: WindowId,
    pub window_execution_id: String,
    pub status: ExecutionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    /// The occurrence this execution is for (AWS reports the scheduled time as StartTime).
    pub start_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    /// The window's Duration and Cutoff (hours) when it fired: an update during the run
    /// does not move its end.
    pub duration: i32,
    pub cutoff: i32,
    /// The window's tasks when the execution started, the plan the orchestrator walks
    /// (`None` until the orchestrator has read them). A task registered or changed
    /// during the run takes effect from the next execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<WindowTask>>,
    /// Set by CancelMaintenanceWindowExecution; the orchestrator starts nothing new.
    /// Stored in a column of its own that the orchestrator's writes never touch (so a
    /// cancel cannot be lost to a concurrent state write), not in the document.
    #[serde(skip)]
    pub cancel_requested: bool,
}

impl WindowExecution {
    /// No task group starts at or after this instant: `start + Duration − Cutoff`.
    pub fn cutoff_ms(&self) -> i64 {
        self.start_ms + i64::from(self.duration - self.cutoff) * 3_600_000
    }
}

/// A target a task resolved to when it started: one invocation each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResolvedTarget {
    /// The managed node or resource (`i-…`, `mi-…`); empty for a targetless task.
    pub resource_id: String,
    /// `INSTANCE` or `RESOURCE_GROUP`.
    pub target_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_target_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_information: Option<String>,
}

/// One task of one window execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskExecution {
    pub window_execution_id: String,
    pub task_execution_id: String,
    pub window_task_id: WindowTaskId,
    pub task_arn: String,
    pub task_type: TaskType,
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<String>,
    pub status: ExecutionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    pub start_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    /// What the targets resolved to at start, in launch order.
    #[serde(default)]
    pub targets: Vec<ResolvedTarget>,
}

/// One task on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskInvocation {
    pub window_execution_id: String,
    pub task_execution_id: String,
    pub invocation_id: String,
    /// Position in the task's resolved targets.
    pub seq: u32,
    /// The ID the service that ran it gave it: Lambda's request ID, the Step Functions
    /// execution ARN, the Run Command CommandId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    pub task_type: TaskType,
    /// The request sent, as a JSON string (pseudo parameters substituted).
    pub parameters: String,
    pub status: ExecutionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    pub start_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_information: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_target_id: Option<String>,
    pub resource_id: String,
}
