//! The engine: what makes windows run.
//!
//! * [`scheduler`] fires due windows, exactly once, into window executions;
//! * [`orchestrator`] drives each execution through its priority groups, tasks and
//!   per-target invocations, as a restartable state machine over the store;
//! * [`runner`]s do the invocations' work (Lambda, Step Functions);
//! * [`events`] are written to the store's outbox with each change, and [`outbox`]
//!   delivers them to the configured sinks.
//!
//! Time comes from a [`clock::Clock`]; tests run whole windows in virtual time.

pub mod automation;
pub mod clock;
pub mod documents;
pub mod events;

pub mod orchestrator;
pub mod outbox;
pub mod params;
pub mod run_command;
pub mod runner;
pub mod scheduler;
pub mod signals;
pub mod targets;
pub mod window_schedule;

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casement_model::{Scope, WindowExecution};
use casement_store::{Change, Store, StoreError};

pub use clock::{Clock, SystemClock, TokioClock};
pub use run_command::{RunCommand, RunCommandRunner};
pub use runner::{Runner, Runners};
pub use signals::Signals;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This process's name in execution leases (unique per running node).
    pub node_id: String,
    /// How long a node's claim on a running execution lasts without renewal; another
    /// node adopts the execution after that (PostgreSQL).
    pub lease_ms: i64,
    /// How long finished executions are kept (AWS keeps 30 days).
    pub retention_ms: i64,
    /// How often the scheduler and running executions look at the store for what they
    /// were not told about (changes made through another node). Changes made through
    /// this process wake them at once.
    pub poll_ms: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            node_id: casement_model::ids::new_uuid(),
            lease_ms: 30_000,
            retention_ms: 30 * 24 * 3_600_000,
            poll_ms: 1_000,
        }
    }
}

pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) runners: Runners,
    pub(crate) signals: Arc<Signals>,
    pub(crate) config: EngineConfig,
    /// Executions with a driver in this process (so adoption never starts a second one).
    driving: Mutex<HashSet<String>>,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        runners: Runners,
        signals: Arc<Signals>,
        config: EngineConfig,
    ) -> Self {
        Self { inner: Arc::new(Inner { store, clock, runners, signals, config, driving: Mutex::new(HashSet::new()) }) }
    }

    /// Start the scheduler, housekeeping (leases, adoption of interrupted executions,
    /// retention) and one delivery loop per sink, on the current runtime.
    pub fn start(&self, sinks: Vec<Arc<dyn outbox::Sink>>) {
        let inner = self.inner.clone();
        supervise("housekeeping", move || scheduler::housekeeping(inner.clone()));
        let inner = self.inner.clone();
        supervise("scheduler", move || scheduler::run(inner.clone()));
        for sink in sinks {
            let inner = self.inner.clone();
            supervise("event delivery", move || outbox::deliver(inner.clone(), sink.clone()));
        }
    }
}

/// Run a loop that should never end; if it panics (a bug), log it and start it again
/// rather than leave the server without a scheduler.
pub(crate) fn supervise<F, Fut>(name: &'static str, make: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match tokio::spawn(make()).await {
                Err(e) if e.is_panic() => tracing::error!(task = name, "engine task panicked; restarting it"),
                _ => tracing::error!(task = name, "engine task ended; restarting it"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

impl Inner {
    pub(crate) fn spawn_driver(self: &Arc<Self>, scope: Scope, exec: WindowExecution) {
        let id = exec.window_execution_id.clone();
        if !self.driving.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone()) {
            return;
        }
        let inner = self.clone();
        tokio::spawn(async move {
            orchestrator::drive(inner.clone(), scope, exec).await;
            inner.driving.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }

    /// Write engine changes, retrying until the store takes them: a driver cannot move on
    /// with its state unrecorded, and giving up would strand the execution.
    pub(crate) async fn save(&self, scope: &Scope, changes: Vec<Change>) {
        self.retry(|| self.store.apply(scope, &changes)).await
    }

    /// Run a store call until it succeeds, backing off between failures.
    pub(crate) async fn retry<'a, T, F, Fut>(&'a self, mut call: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + 'a,
    {
        let mut backoff = Duration::from_millis(50);
        loop {
            match call().await {
                Ok(v) => return v,
                Err(e) => {
                    tracing::warn!(error = %e, "store call failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
