//! The SSM operations Casement serves, one module per operation group, each handler
//! reading like its page in the API reference: parse → validate → store → respond.
//!
//! Requests reach a handler already authenticated and already checked against SSM's
//! model (types and member constraints, in `casement-protocol`); handlers add the
//! cross-member rules SSM enforces and do the work.

mod dispatch;
mod errors;
pub mod executions;
mod pagination;
pub mod rules;
pub mod schedule;
pub mod tags;
pub mod targets;
pub mod tasks;
pub mod windows;

use std::sync::Arc;

use casement_engine::Signals;
use casement_model::Scope;
use casement_store::Store;

pub use dispatch::{dispatch, is_served, not_served};

/// Settings that change how operations answer.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// Enforce AWS's published quotas (windows per account, targets and tasks per window).
    pub aws_quotas: bool,
}

/// What every handler can reach.
pub struct Api {
    pub store: Arc<dyn Store>,
    pub config: ApiConfig,
    pub schedules: rules::ScheduleCache,
    /// Nudges for the engine: a schedule changed, a cancel was requested.
    pub signals: Arc<Signals>,
}

impl Api {
    pub fn new(store: Arc<dyn Store>, config: ApiConfig, signals: Arc<Signals>) -> Self {
        Self { store, config, schedules: Default::default(), signals }
    }
}

/// The caller of one request: whose resources, in which region.
#[derive(Debug, Clone)]
pub struct Context {
    pub scope: Scope,
    /// Milliseconds since the epoch when the request arrived; handlers never read the clock.
    pub now_ms: i64,
}
