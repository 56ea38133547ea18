//! The SSM operations Casement serves, one module per operation group, each handler
//! reading like its page in the API reference: parse → validate → store → respond.
//!
//! Requests reach a handler already authenticated and already checked against SSM's
//! model (types and member constraints, in `casement-protocol`); handlers add the
//! cross-member rules SSM enforces and do the work.

pub mod activations;
pub mod agent;
pub mod automation;
pub mod commands;
mod dispatch;
pub mod documents;
mod errors;
pub mod executions;
pub mod nodes;
mod pagination;
pub mod rules;
pub mod schedule;
pub mod tags;
pub mod targets;
pub mod tasks;
pub mod windows;

use std::sync::Arc;

use casement_engine::automation::Automations;
use casement_engine::{RunCommand, Signals};
use casement_model::Scope;
use casement_store::Store;

pub use dispatch::{dispatch, is_served, not_served};
pub use errors::internal;

/// Settings that change how operations answer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Enforce AWS's published quotas (windows per account, targets and tasks per window).
    pub aws_quotas: bool,
    /// A node not heard from for this long shows PingStatus `ConnectionLost`.
    pub connection_lost_ms: i64,
    /// Longest an agent's GetMessages is held open waiting for a message.
    pub max_poll: std::time::Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self { aws_quotas: false, connection_lost_ms: 120_000, max_poll: std::time::Duration::from_secs(20) }
    }
}

/// What every handler can reach.
pub struct Api {
    pub store: Arc<dyn Store>,
    pub config: ApiConfig,
    pub schedules: rules::ScheduleCache,
    /// Nudges for the engine: a schedule changed, a cancel was requested.
    pub signals: Arc<Signals>,
    /// Run Command, shared with the engine's RUN_COMMAND runner.
    pub run_command: Arc<RunCommand>,
    /// Automation, shared with the engine's AUTOMATION runner.
    pub automations: Arc<Automations>,
    /// Nodes' keys and pings, for the agent operations.
    pub nodes: agent::NodeCache,
    /// Finished invocations' GetMaintenanceWindowExecutionTaskInvocation answers.
    pub rendered_invocations: executions::RenderedInvocations,
}

impl Api {
    pub fn new(
        store: Arc<dyn Store>,
        config: ApiConfig,
        signals: Arc<Signals>,
        run_command: Arc<RunCommand>,
        automations: Arc<Automations>,
    ) -> Self {
        Self {
            store,
            config,
            schedules: Default::default(),
            signals,
            run_command,
            automations,
            nodes: Default::default(),
            rendered_invocations: Default::default(),
        }
    }
}

/// The caller of one request: whose resources, in which region.
#[derive(Debug, Clone)]
pub struct Context {
    pub scope: Scope,
    /// The access key the request was signed with (a node's key for agent calls).
    pub principal: String,
    /// Milliseconds since the epoch when the request arrived; handlers never read the clock.
    pub now_ms: i64,
}
