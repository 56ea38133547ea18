//! Task runners: the services that do an invocation's work, behind one trait. LAMBDA and
//! STEP_FUNCTIONS call AWS (or whatever `--lambda-endpoint` / `--stepfunctions-endpoint`
//! point at) through the official SDK clients; task types without a runner fail their
//! invocations with a clear StatusDetails.

mod aws;
mod lambda;
mod step_functions;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use casement_model::{ExecutionStatus, Scope, TaskType};

pub use aws::AwsClients;
pub use lambda::{Invoke, Invoked, LambdaRunner};
pub use step_functions::{SfnExecution, StepFunctionsRunner};

use crate::params::Request;

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: ExecutionStatus,
    pub status_details: Option<String>,
    /// Known when the service assigned it (Lambda's request ID…).
    pub execution_id: Option<String>,
}

impl Outcome {
    pub fn success(execution_id: Option<String>) -> Self {
        Self { status: ExecutionStatus::Success, status_details: None, execution_id }
    }

    pub fn failed(details: impl Into<String>, execution_id: Option<String>) -> Self {
        Self { status: ExecutionStatus::Failed, status_details: Some(clip(details.into())), execution_id }
    }
}

/// StatusDetails holds at most 250 characters.
pub fn clip(mut s: String) -> String {
    if s.chars().count() > 250 {
        s = s.chars().take(247).collect::<String>() + "...";
    }
    s
}

/// What `start` achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// Finished within the call (Lambda's synchronous Invoke, or an error).
    Done(Outcome),
    /// Running under this ExecutionId; `follow` it to its end.
    Running(String),
}

#[async_trait]
pub trait Runner: Send + Sync + 'static {
    async fn start(&self, scope: &Scope, request: &Request) -> Started;

    /// Follow a started invocation to its end (also after a restart).
    async fn follow(&self, _scope: &Scope, _request: &Request, _execution_id: &str) -> Outcome {
        Outcome::failed("This task type cannot be followed after it started.", None)
    }

    /// Ask the service to stop a started invocation (CANCEL_TASK cutoff, a cancelled
    /// window execution). Only Run Command can; `follow` still reports how it ended.
    async fn cancel(&self, _scope: &Scope, _execution_id: &str) {}

    fn cancellable(&self) -> bool {
        false
    }

    /// Whether `start` may be sent again when a restart interrupted it before the
    /// ExecutionId was recorded (the service treats a repeat as the same request).
    fn restartable(&self) -> bool {
        false
    }
}

/// The runner for each task type.
#[derive(Clone, Default)]
pub struct Runners {
    by_type: HashMap<TaskType, Arc<dyn Runner>>,
}

impl Runners {
    pub fn with(mut self, task_type: TaskType, runner: Arc<dyn Runner>) -> Self {
        self.by_type.insert(task_type, runner);
        self
    }

    pub fn get(&self, task_type: TaskType) -> Option<&Arc<dyn Runner>> {
        self.by_type.get(&task_type)
    }

    /// StatusDetails for an invocation whose task type has no runner here.
    pub fn unsupported(task_type: TaskType) -> String {
        match task_type {
            TaskType::Automation => {
                "AUTOMATION tasks are not supported by Casement yet: the invocation was not run.".into()
            }
            other => format!("No runner is configured for {} tasks.", other.as_str()),
        }
    }
}
