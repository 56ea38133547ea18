//! Automation: runbooks run step by step, durably. An execution is a state machine over
//! its steps, driven by one task in one server (leased on PostgreSQL). Every transition
//! is written before the work it leads to starts: a step is InProgress (with its
//! attempt counted) before its action runs; a command's or child automation's ID is
//! written before it is sent. A server killed at any instant resumes each execution
//! where it was: a sleep sleeps its remainder, a sent command is followed, not resent.
//!
//! API calls reach a running execution through signals queued in the store (approve,
//! reject, resume, start step, stop), which its driver takes in its next write.

mod actions;
pub mod looping;
pub mod select;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use casement_documents::runbook::OnFailure;
use casement_documents::{interpolate, params, DocumentType, Runbook};
use casement_model::automation::status;
use casement_model::{AutomationExecution, AutomationSignal, FastMap, Scope, StepExecution, Tag, Target};
use casement_store::{Idempotency, Store, StoreError};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use crate::documents::{self, LookupError};
use crate::{Clock, RunCommand};

pub use actions::{is_approver, SUPPORTED as SUPPORTED_ACTIONS};

/// SSM's own API as this server answers it, for `aws:executeAwsApi` and its kin with
/// Service `ssm`: the step calls the operation as the execution's account. The API
/// layer provides it (the engine sits below the API and cannot call it directly).
#[async_trait::async_trait]
pub trait SsmApi: Send + Sync {
    /// Call `operation` with `input`; an error is SSM's error code and message.
    async fn call(&self, scope: &Scope, operation: &str, input: Value) -> Result<Value, (String, String)>;
}

/// How long a stopped execution's onCancel step may run (AWS: two minutes).
const ON_CANCEL_MS: i64 = 120_000;

/// What an output of a step that never succeeded reads as (AWS's words).
const NO_OUTPUT: &str = "No output available yet because the step is not successfully executed";

#[derive(Debug, Clone)]
pub struct AutomationConfig {
    /// Most executions running at once per account and Region; the rest wait Pending.
    pub concurrency: usize,
    /// This server's name in leases.
    pub owner: String,
    pub lease_ms: i64,
    /// How often a waiting driver looks at the store for what another server did.
    pub reread: Duration,
}

impl Default for AutomationConfig {
    fn default() -> Self {
        Self {
            concurrency: 100,
            owner: casement_model::ids::new_uuid(),
            lease_ms: 30_000,
            reread: Duration::from_secs(20),
        }
    }
}

/// StartAutomationExecution's request, as the service takes it.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    /// Set when the caller needs a known ID (a window's invocation, a parent's step), so
    /// a repeat after a restart finds the execution instead of starting a second.
    pub execution_id: Option<String>,
    pub document_name: String,
    pub document_version: Option<String>,
    pub parameters: BTreeMap<String, Vec<String>>,
    /// Auto or Interactive.
    pub mode: String,
    pub idempotency: Option<Idempotency>,
    pub tags: Vec<Tag>,
    pub parent: Option<String>,
    /// `ExecutedBy`: who started it.
    pub executed_by: String,
    pub targets: Vec<Target>,
    pub target_parameter_name: Option<String>,
    pub max_concurrency: Option<String>,
    pub max_errors: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    DefinitionNotFound(String),
    #[error("{0}")]
    VersionNotFound(String),
    #[error("{0}")]
    InvalidParameters(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("The client token was already used with different parameters.")]
    IdempotencyMismatch,
    #[error(transparent)]
    Store(StoreError),
}

/// What the driver does after a write.
enum Next {
    /// Go on at once.
    Now,
    /// Look again at this time (`None`: when signalled).
    At(Option<i64>),
    /// The execution ended.
    Done,
}

pub struct Automations {
    pub(crate) store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    pub(crate) run_command: Arc<RunCommand>,
    config: AutomationConfig,
    me: Weak<Automations>,
    /// Wake-ups of the drivers in this process, by execution ID.
    wakers: Mutex<FastMap<String, Arc<Notify>>>,
    driving: Mutex<HashSet<String>>,
    /// Rung when an execution ends: queued ones may start, followers look.
    pub finished: Notify,
    /// Admission to the running set is decided one execution at a time in this process.
    admission: tokio::sync::Mutex<()>,
    /// SSM's API for aws:executeAwsApi, set once the API exists.
    pub(crate) ssm_api: std::sync::OnceLock<Arc<dyn SsmApi>>,
    /// Lambda and Step Functions, through the same clients and endpoints as the LAMBDA
    /// and STEP_FUNCTIONS window tasks.
    pub(crate) lambda: std::sync::OnceLock<Arc<crate::runner::LambdaRunner>>,
    pub(crate) step_functions: std::sync::OnceLock<Arc<crate::runner::StepFunctionsRunner>>,
    /// Lambda steps whose call this process recorded as begun and has yet to make: a
    /// recorded call not in here was begun by a driver that is gone.
    pub(crate) invoking: Mutex<HashSet<String>>,
}

impl Automations {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        run_command: Arc<RunCommand>,
        config: AutomationConfig,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            store,
            clock,
            run_command,
            config,
            me: me.clone(),
            wakers: Mutex::default(),
            driving: Mutex::default(),
            finished: Notify::new(),
            admission: tokio::sync::Mutex::new(()),
            ssm_api: std::sync::OnceLock::new(),
            lambda: std::sync::OnceLock::new(),
            step_functions: std::sync::OnceLock::new(),
            invoking: Mutex::default(),
        })
    }

    /// Give aws:invokeLambdaFunction and aws:executeStateMachine their services.
    pub fn set_aws(
        &self,
        lambda: Arc<crate::runner::LambdaRunner>,
        step_functions: Arc<crate::runner::StepFunctionsRunner>,
    ) {
        let _ = self.lambda.set(lambda);
        let _ = self.step_functions.set(step_functions);
    }

    /// Give aws:executeAwsApi, aws:waitForAwsResourceProperty and
    /// aws:assertAwsResourceProperty SSM's API to call.
    pub fn set_ssm_api(&self, api: Arc<dyn SsmApi>) {
        let _ = self.ssm_api.set(api);
    }

    /// Take over executions a stopped server left (at start, and whenever a lease runs
    /// out), and keep this server's leases fresh.
    pub fn run_housekeeping(self: &Arc<Self>) {
        let me = self.clone();
        crate::supervise("automation housekeeping", move || me.clone().housekeeping());
    }

    async fn housekeeping(self: Arc<Self>) {
        loop {
            let now = self.clock.now_ms();
            let until = now + self.config.lease_ms;
            if let Err(e) = self.store.renew_automation_leases(&self.config.owner, until).await {
                tracing::warn!(error = %e, "renewing automation leases failed");
            }
            match self.store.adopt_automations(&self.config.owner, now, until).await {
                Ok(adopted) => {
                    for (scope, e) in adopted {
                        tracing::info!(execution = %e.automation_execution_id, "resuming an automation execution");
                        self.spawn(scope, e.automation_execution_id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "adopting automation executions failed"),
            }
            tokio::time::sleep(Duration::from_millis((self.config.lease_ms / 3).max(100) as u64)).await;
        }
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// StartAutomationExecution: resolve the runbook, check the parameters, record the
    /// execution (Pending) and start driving it.
    pub async fn start(&self, scope: &Scope, req: StartRequest) -> Result<String, StartError> {
        if let Some(id) = &req.execution_id {
            if self.store.get_automation(scope, id).await.map_err(StartError::Store)?.is_some() {
                return Ok(id.clone());
            }
        }
        let doc = documents::resolve(&*self.store, scope, &req.document_name, req.document_version.as_deref(), None)
            .await
            .map_err(|e| match e {
                LookupError::NotFound => StartError::DefinitionNotFound(format!(
                    "Automation definition {} does not exist.",
                    req.document_name
                )),
                LookupError::VersionNotFound => StartError::VersionNotFound(format!(
                    "Version {} of automation definition {} does not exist.",
                    req.document_version.as_deref().unwrap_or("$DEFAULT"),
                    req.document_name
                )),
                LookupError::Store(e) => StartError::Store(e),
            })?;
        let Some(runbook) = doc.document.runbook().filter(|_| doc.document.doc_type == DocumentType::Automation) else {
            return Err(StartError::DefinitionNotFound(format!(
                "Document {} is a {} document, not an Automation runbook.",
                doc.info.name,
                doc.document.doc_type.as_str()
            )));
        };
        let rate = self.rate_targets(scope, &req, &doc.document.parameters).await?;
        let typed = match &rate {
            // Every target's value must make good parameters, checked now rather than
            // failing children later.
            Some((name, values)) => {
                let mut typed = BTreeMap::new();
                for v in values {
                    let mut given = req.parameters.clone();
                    given.insert(name.clone(), vec![v.clone()]);
                    typed = params::resolve(&doc.document.parameters, &given)
                        .map_err(|e| StartError::InvalidParameters(e.0))?;
                }
                typed.remove(name);
                typed
            }
            None => params::resolve(&doc.document.parameters, &req.parameters)
                .map_err(|e| StartError::InvalidParameters(e.0))?,
        };
        let now = self.now();
        let id = req.execution_id.clone().unwrap_or_else(casement_model::ids::new_uuid);
        // A rate-controlled parent runs no steps itself: its children do.
        let steps = runbook
            .steps
            .iter()
            .filter(|_| rate.is_none())
            .map(|s| StepExecution {
                step_name: s.name.clone(),
                action: s.action.clone(),
                step_execution_id: casement_model::ids::new_uuid(),
                status: status::PENDING.into(),
                timeout_seconds: s.timeout_seconds,
                on_failure: match &s.on_failure {
                    OnFailure::Abort => "Abort".into(),
                    OnFailure::Continue => "Continue".into(),
                    OnFailure::Step(t) => format!("step:{t}"),
                },
                on_cancel: match &s.on_cancel {
                    OnFailure::Step(t) => Some(format!("step:{t}")),
                    _ => None,
                },
                max_attempts: s.max_attempts,
                is_end: s.is_end,
                next_step: s.next_step.clone(),
                is_critical: s.is_critical,
                inputs: BTreeMap::new(),
                outputs: BTreeMap::new(),
                response: None,
                failure_message: None,
                failure_details: None,
                start_ms: None,
                end_ms: None,
                attempts: 0,
                progress: Value::Null,
            })
            .collect();
        let execution = AutomationExecution {
            automation_execution_id: id.clone(),
            document_name: doc.info.name.clone(),
            document_version: doc.meta.version.to_string(),
            content: doc.document.value.clone(),
            status: status::PENDING.into(),
            mode: if req.mode.is_empty() { "Auto".into() } else { req.mode.clone() },
            parameters: typed.iter().map(|(k, v)| (k.clone(), params::as_strings(v))).collect(),
            typed_parameters: typed.into_iter().collect(),
            steps,
            current: 0,
            outputs: BTreeMap::new(),
            created_ms: now,
            start_ms: None,
            end_ms: None,
            failure_message: None,
            executed_by: req.executed_by.clone(),
            parent_automation_execution_id: req.parent.clone(),
            target_parameter_name: rate.as_ref().map(|(n, _)| n.clone()),
            targets: req.targets.clone(),
            max_concurrency: req.max_concurrency.clone().or_else(|| rate.as_ref().map(|_| "10".into())),
            max_errors: req.max_errors.clone().or_else(|| rate.as_ref().map(|_| "0".into())),
            resolved_targets: rate.map(|(_, v)| v).unwrap_or_default(),
            children_started: 0,
            cancel_requested: false,
            cancel_step: None,
            wake_ms: None,
        };
        let stored = self
            .store
            .create_automation(
                scope,
                &execution,
                &req.tags,
                req.idempotency.as_ref(),
                &self.config.owner,
                now + self.config.lease_ms,
            )
            .await
            .map_err(|e| match e {
                StoreError::IdempotencyMismatch => StartError::IdempotencyMismatch,
                other => StartError::Store(other),
            })?;
        if stored == id {
            if let Some(me) = self.me.upgrade() {
                me.spawn(scope.clone(), id);
            }
        }
        Ok(stored)
    }

    /// Rate control: the parameter each child gets, and the values the targets resolve
    /// to (managed nodes for `InstanceIds`, `tag:` and `tag-key`; the values themselves
    /// for `ParameterValues`).
    async fn rate_targets(
        &self,
        scope: &Scope,
        req: &StartRequest,
        declared: &[casement_documents::Parameter],
    ) -> Result<Option<(String, Vec<String>)>, StartError> {
        let name = match (&req.target_parameter_name, req.targets.is_empty()) {
            (None, true) => return Ok(None),
            (Some(n), false) => n.clone(),
            _ => {
                return Err(StartError::InvalidTarget(
                    "TargetParameterName and Targets go together: give both, or neither.".into(),
                ))
            }
        };
        if !declared.iter().any(|p| p.name == name) {
            return Err(StartError::InvalidParameters(format!(
                "TargetParameterName {name} is not a parameter of the document."
            )));
        }
        let mut values: Vec<String> = Vec::new();
        for t in &req.targets {
            let found = match t.key.as_deref() {
                Some("ParameterValues") => t.values.clone().unwrap_or_default(),
                Some("ResourceGroup") => {
                    return Err(StartError::InvalidTarget("Resource groups do not exist on this server.".into()))
                }
                _ => crate::targets::nodes(&*self.store, scope, std::slice::from_ref(t))
                    .await
                    .map_err(StartError::Store)?,
            };
            for v in found {
                if !values.contains(&v) {
                    values.push(v);
                }
            }
        }
        if values.is_empty() {
            return Err(StartError::InvalidTarget("The targets resolve to no managed nodes or values.".into()));
        }
        Ok(Some((name, values)))
    }

    /// Queue a signal for a running execution and wake its driver if it runs here.
    pub async fn signal(&self, scope: &Scope, id: &str, signal: AutomationSignal) -> Result<(), StoreError> {
        self.store.add_automation_signal(scope, id, &signal).await?;
        self.wake(id);
        Ok(())
    }

    /// StopAutomationExecution (type Cancel).
    pub async fn stop(&self, scope: &Scope, id: &str) -> Result<(), StoreError> {
        let signal = AutomationSignal { signal_type: "Cancel".into(), payload: BTreeMap::new(), sender: String::new() };
        self.signal(scope, id, signal).await
    }

    fn wake(&self, id: &str) {
        if let Some(w) = self.wakers.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            w.notify_one();
        }
    }

    fn spawn(self: &Arc<Self>, scope: Scope, id: String) {
        if !self.driving.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone()) {
            return;
        }
        let waker = Arc::new(Notify::new());
        self.wakers.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), waker.clone());
        let me = self.clone();
        tokio::spawn(async move {
            me.drive(&scope, &id, &waker).await;
            me.wakers.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            me.driving.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }

    /// Drive one execution until it ends (or another server has taken it over).
    async fn drive(self: &Arc<Self>, scope: &Scope, id: &str, waker: &Notify) {
        let mut runbook: Option<Runbook> = None;
        let mut backoff = Duration::from_millis(50);
        // The record as this driver last wrote it. Only the driver writes it (the API
        // queues signals beside it; a server that takes it over makes this driver's
        // next write fail), so it is read from the store only at the start and after a
        // failed write.
        let mut written: Option<AutomationExecution> = None;
        loop {
            let read = async {
                let e = match written.take() {
                    Some(e) => Some(e),
                    None => self.store.get_automation(scope, id).await?,
                };
                let signals = self.store.automation_signals(scope, id).await?;
                Ok::<_, StoreError>((e, signals))
            };
            let (mut e, signals) = match read.await {
                Ok((Some(e), s)) => (e, s),
                Ok((None, _)) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "reading an automation execution failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if e.is_final() {
                return;
            }
            let rb = runbook.get_or_insert_with(|| read_runbook(&e));
            let consumed = signals.last().map(|(seq, _)| *seq);
            apply_signals(&mut e, signals.into_iter().map(|(_, s)| s), &scope.account);
            let admission = if e.status == status::PENDING && !e.cancel_requested {
                Some(self.admission.lock().await)
            } else {
                None
            };
            let now = self.now();
            let before = (e.status.clone(), e.steps.iter().map(|s| s.status.clone()).collect::<Vec<_>>());
            let next = self.advance(scope, &mut e, rb, now).await;
            let events = events(scope, now, &e, &before);
            match self.store.put_automation(scope, &e, &self.config.owner, consumed, &events).await {
                Ok(()) => {
                    backoff = Duration::from_millis(50);
                    written = Some(e.clone());
                }
                Err(StoreError::Conflict) => {
                    tracing::info!(execution = id, "another server drives this automation now");
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "recording an automation step failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
            drop(admission);
            match next {
                Next::Done => {
                    self.finished.notify_waiters();
                    return;
                }
                Next::Now => {}
                Next::At(wake) => {
                    let reread = self.now() + self.config.reread.as_millis() as i64;
                    let until = wake.map_or(reread, |w| w.min(reread));
                    let sleep = crate::clock::sleep_until(&*self.clock, until);
                    // A queued execution waits for one to end; so does a parent for its
                    // children.
                    let queued = e.status == status::PENDING || e.target_parameter_name.is_some();
                    tokio::select! {
                        _ = sleep => {}
                        _ = waker.notified() => {}
                        _ = self.finished.notified(), if queued => {}
                    }
                }
            }
        }
    }

    /// Move the execution one transition on. While a stopped execution runs its onCancel
    /// step it shows Cancelling.
    async fn advance(&self, scope: &Scope, e: &mut AutomationExecution, rb: &Runbook, now: i64) -> Next {
        let next = self.transition(scope, e, rb, now).await;
        if e.cancel_step.is_some() && !e.is_final() {
            e.status = status::CANCELLING.into();
        }
        next
    }

    async fn transition(&self, scope: &Scope, e: &mut AutomationExecution, rb: &Runbook, now: i64) -> Next {
        if e.target_parameter_name.is_some() {
            return self.rate_control(scope, e, now).await;
        }
        if e.cancel_requested {
            match e.cancel_step {
                // The step's onCancel target runs, for at most ON_CANCEL_MS, and the
                // execution then ends Cancelled.
                Some((target, since)) => {
                    let ended = e.steps.get(target).is_none_or(|s| status::is_final(&s.status));
                    if ended || e.current != target || now >= since + ON_CANCEL_MS {
                        if let Some(step) = e.steps.get_mut(target).filter(|s| !status::is_final(&s.status)) {
                            actions::stop(self, scope, step).await;
                            step.status = status::CANCELLED.into();
                            step.end_ms = Some(now);
                        }
                        return self.cancelled(e, rb, now);
                    }
                }
                None => {
                    let mut on_cancel = None;
                    if let Some(step) = e.steps.get_mut(e.current) {
                        if matches!(step.status.as_str(), status::IN_PROGRESS | status::WAITING) {
                            actions::stop(self, scope, step).await;
                            step.status = status::CANCELLED.into();
                            step.end_ms = Some(now);
                            on_cancel =
                                step.on_cancel.as_deref().and_then(|t| t.strip_prefix("step:")).map(str::to_owned);
                        }
                    }
                    match on_cancel.and_then(|t| e.step_index(&t)) {
                        Some(target) => {
                            e.cancel_step = Some((target, now));
                            e.current = target;
                            e.status = status::CANCELLING.into();
                            return Next::Now;
                        }
                        None => return self.cancelled(e, rb, now),
                    }
                }
            }
        }
        if e.status == status::PENDING {
            let running = match self.store.running_automations(scope).await {
                Ok(n) => n,
                Err(err) => {
                    tracing::warn!(error = %err, "counting running automations failed");
                    return Next::At(Some(now + 1_000));
                }
            };
            if running >= self.config.concurrency {
                return Next::At(Some(now + 1_000));
            }
            e.status = status::IN_PROGRESS.into();
            e.start_ms = Some(now);
            return Next::Now;
        }
        let Some(idx) = (e.current < e.steps.len()).then_some(e.current) else {
            finish(e, rb, now);
            return Next::Done;
        };
        let Some(def) = rb.step(&e.steps[idx].step_name).cloned() else {
            finish(e, rb, now);
            return Next::Done;
        };
        let inputs = resolve_inputs(scope, e, &def.inputs, now);
        let interactive = e.mode == "Interactive";
        let step = &mut e.steps[idx];
        match step.status.as_str() {
            status::PENDING => {
                if interactive && step.progress.get("started").and_then(Value::as_bool) != Some(true) {
                    e.status = status::WAITING.into();
                    return Next::At(None);
                }
                step.status = status::IN_PROGRESS.into();
                step.start_ms = Some(now);
                step.end_ms = None;
                step.attempts += 1;
                step.inputs = inputs
                    .as_object()
                    .map(|o| o.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
                    .unwrap_or_default();
                e.status = status::IN_PROGRESS.into();
                Next::Now
            }
            status::IN_PROGRESS | status::WAITING => {
                let timeout = step.timeout_seconds.or_else(|| actions::default_timeout_secs(&step.action));
                let deadline = timeout.zip(step.start_ms).map(|(t, s)| s + t as i64 * 1000);
                if deadline.is_some_and(|d| now >= d) {
                    actions::stop(self, scope, step).await;
                    let msg = format!("Step timed out while step is verifying the {} action.", step.action);
                    return self.failed(e, rb, idx, msg, "Invocation", "Action", true, now);
                }
                if step.progress.get("stopped").and_then(Value::as_bool) == Some(true) {
                    actions::stop(self, scope, step).await;
                    step.status = status::CANCELLED.into();
                    step.end_ms = Some(now);
                    e.current = idx + 1;
                    return Next::Now;
                }
                let act = if def.action == "aws:loop" {
                    let resolve = |e: &AutomationExecution, v: &Value| resolve_inputs(scope, e, v, now);
                    looping::step(self, scope, e, idx, &def, &resolve, now).await
                } else {
                    let snapshot = e.clone();
                    actions::act(self, scope, &snapshot, &mut e.steps[idx], &inputs, now).await
                };
                let step = &mut e.steps[idx];
                match act {
                    actions::Act::Later { wake_ms, waiting } => {
                        let word = if waiting { status::WAITING } else { status::IN_PROGRESS };
                        step.status = word.into();
                        e.status = word.into();
                        let wake = match (wake_ms, deadline) {
                            (Some(w), Some(d)) => Some(w.min(d)),
                            (w, d) => w.or(d),
                        };
                        e.wake_ms = wake;
                        if wake_ms == Some(now) {
                            Next::Now
                        } else {
                            Next::At(wake)
                        }
                    }
                    actions::Act::Done { result, selectable, next } => {
                        step.status = status::SUCCESS.into();
                        step.end_ms = Some(now);
                        let mut outs: Map<String, Value> = result.as_object().cloned().unwrap_or_default();
                        outs.extend(actions::declared_outputs(&def.outputs, selectable.as_ref().unwrap_or(&result)));
                        step.outputs = outs.iter().map(|(k, v)| (k.clone(), params::as_strings(v))).collect();
                        e.status = status::IN_PROGRESS.into();
                        e.wake_ms = None;
                        e.current = match next.as_deref().or(def.next_step.as_deref()) {
                            Some(target) => e.step_index(target).unwrap_or(e.steps.len()),
                            None if def.is_end => e.steps.len(),
                            None => idx + 1,
                        };
                        Next::Now
                    }
                    actions::Act::Failed { message, stage, kind } => {
                        self.failed(e, rb, idx, message, stage, kind, false, now)
                    }
                }
            }
            // The current step already ended (an adopted execution mid-transition).
            _ => {
                e.current = idx + 1;
                Next::Now
            }
        }
    }

    /// A rate-controlled parent: start a child per target value, at most MaxConcurrency
    /// running, none after more than MaxErrors have failed; end when the started ones
    /// have. A child is counted as started (written) before it is started, and its ID is
    /// derived from the parent's and its index, so a restart starts no child twice.
    async fn rate_control(&self, scope: &Scope, e: &mut AutomationExecution, now: i64) -> Next {
        if e.status == status::PENDING {
            e.status = status::IN_PROGRESS.into();
            e.start_ms = Some(now);
            return Next::Now;
        }
        let total = e.resolved_targets.len();
        let max_concurrency = casement_model::limits::max_concurrency(e.max_concurrency.as_deref(), total);
        let max_errors = casement_model::limits::max_errors(e.max_errors.as_deref(), total);
        let (mut running, mut success, mut errors, mut cancelled) = (0, 0, 0, 0);
        for i in 0..e.children_started {
            let id = derived_id(&e.automation_execution_id, i as u32);
            let child = match self.store.get_automation(scope, &id).await {
                Ok(c) => c,
                Err(err) => {
                    tracing::warn!(error = %err, "reading a child automation failed");
                    return Next::At(Some(now + 1_000));
                }
            };
            let Some(child) = child else {
                running += 1;
                if !e.cancel_requested {
                    let mut parameters = e.parameters.clone();
                    if let (Some(name), Some(v)) = (&e.target_parameter_name, e.resolved_targets.get(i)) {
                        parameters.insert(name.clone(), vec![v.clone()]);
                    }
                    let req = StartRequest {
                        execution_id: Some(id),
                        document_name: e.document_name.clone(),
                        document_version: Some(e.document_version.clone()),
                        parameters,
                        mode: "Auto".into(),
                        parent: Some(e.automation_execution_id.clone()),
                        executed_by: e.executed_by.clone(),
                        ..StartRequest::default()
                    };
                    if let Err(err) = Box::pin(self.start(scope, req)).await {
                        tracing::warn!(error = %err, "starting a child automation failed; retrying");
                    }
                }
                continue;
            };
            match child.status.as_str() {
                status::SUCCESS => success += 1,
                status::FAILED | status::TIMED_OUT => errors += 1,
                status::CANCELLED => cancelled += 1,
                _ => {
                    running += 1;
                    if e.cancel_requested && child.status != status::CANCELLING {
                        let _ = self.stop(scope, &child.automation_execution_id).await;
                    }
                }
            }
        }
        let stopping = e.cancel_requested || errors > max_errors;
        if running == 0 && (stopping || e.children_started == total) {
            e.end_ms = Some(now);
            e.status = if e.cancel_requested {
                status::CANCELLED
            } else if success == total {
                status::SUCCESS
            } else {
                status::FAILED
            }
            .into();
            if e.status == status::FAILED {
                e.failure_message = Some(format!(
                    "{errors} of {total} targets failed{}.",
                    if cancelled > 0 { format!(" and {cancelled} were cancelled") } else { String::new() }
                ));
            }
            return Next::Done;
        }
        if e.cancel_requested {
            e.status = status::CANCELLING.into();
        } else if !stopping && running < max_concurrency && e.children_started < total {
            e.children_started += 1;
            return Next::Now;
        }
        Next::At(Some(now + 1_000))
    }

    /// End a stopped execution: Cancelled, the steps that did not run left Pending.
    fn cancelled(&self, e: &mut AutomationExecution, rb: &Runbook, now: i64) -> Next {
        e.status = status::CANCELLED.into();
        e.end_ms = Some(now);
        e.start_ms.get_or_insert(now);
        e.wake_ms = None;
        e.outputs = outputs(e, rb);
        Next::Done
    }

    /// A step failed (or timed out): try it again while attempts remain, else end it and
    /// go where its onFailure says.
    #[allow(clippy::too_many_arguments)]
    fn failed(
        &self,
        e: &mut AutomationExecution,
        rb: &Runbook,
        idx: usize,
        message: String,
        stage: &str,
        kind: &str,
        timed_out: bool,
        now: i64,
    ) -> Next {
        let step = &mut e.steps[idx];
        if step.attempts < step.max_attempts {
            step.status = status::PENDING.into();
            step.progress = Value::Null;
            return Next::Now;
        }
        let message = if step.max_attempts > 1 {
            format!("Step {} failed maximum allowed times. {message}", step.step_name)
        } else {
            message
        };
        step.status = if timed_out { status::TIMED_OUT } else { status::FAILED }.into();
        step.end_ms = Some(now);
        step.failure_message = Some(message.clone());
        step.failure_details =
            Some(casement_model::automation::FailureDetails { failure_stage: stage.into(), failure_type: kind.into() });
        e.wake_ms = None;
        let (on_failure, next_step) = (step.on_failure.clone(), step.next_step.clone());
        match on_failure.as_str() {
            "Continue" => e.current = next_step.as_deref().and_then(|n| e.step_index(n)).unwrap_or(idx + 1),
            target if target.starts_with("step:") => {
                e.current = e.step_index(&target["step:".len()..]).unwrap_or(e.steps.len());
            }
            _ => {
                e.current = e.steps.len();
                finish(e, rb, now);
                return Next::Done;
            }
        }
        e.status = status::IN_PROGRESS.into();
        Next::Now
    }
}

/// The runbook an execution runs, read once per driver. A stored runbook that no longer
/// reads (it was checked when the execution started) runs no steps and ends the
/// execution.
fn read_runbook(e: &AutomationExecution) -> Runbook {
    match casement_documents::Document::from_value(e.content.clone(), DocumentType::Automation) {
        Ok(d) => d.runbook().cloned().unwrap_or_else(empty_runbook),
        Err(err) => {
            tracing::error!(error = %err, execution = %e.automation_execution_id, "a stored runbook cannot be read");
            empty_runbook()
        }
    }
}

fn empty_runbook() -> Runbook {
    Runbook { assume_role: None, steps: Vec::new(), outputs: Vec::new() }
}

/// Take queued signals into the execution: a stop, decisions on an approval, a resume
/// of a pause, a step started or stopped (Interactive mode).
fn apply_signals(e: &mut AutomationExecution, signals: impl Iterator<Item = AutomationSignal>, account: &str) {
    for s in signals {
        let current = e.current;
        match s.signal_type.as_str() {
            "Cancel" => e.cancel_requested = true,
            "Approve" | "Reject" => {
                let Some(step) = e.steps.get_mut(current).filter(|st| st.action == "aws:approve") else { continue };
                let inputs = step.inputs.get("Approvers").and_then(|v| serde_json::from_str::<Value>(v).ok());
                if !inputs.as_ref().is_some_and(|a| actions::is_approver(a, &s.sender, account)) {
                    continue;
                }
                let decision = if s.signal_type == "Approve" { "Approved" } else { "Rejected" };
                let entry = json!({
                    "Approver": s.sender,
                    "Decision": decision,
                    "Comment": s.payload.get("Comment").and_then(|c| c.first()).cloned().unwrap_or_default(),
                });
                let mut progress = step.progress.as_object().cloned().unwrap_or_default();
                let decisions = progress.entry("decisions").or_insert_with(|| json!([]));
                if let Some(list) = decisions.as_array_mut() {
                    list.retain(|d| d["Approver"] != entry["Approver"]);
                    list.push(entry);
                }
                step.progress = Value::Object(progress);
            }
            "Resume" => {
                if let Some(step) = e.steps.get_mut(current).filter(|st| st.action == "aws:pause") {
                    set(step, "resumed");
                }
            }
            "StartStep" => {
                let name = s.payload.get("StepName").and_then(|v| v.first());
                if let Some(step) = e.steps.get_mut(current).filter(|st| Some(&st.step_name) == name) {
                    set(step, "started");
                }
            }
            "StopStep" => {
                let id = s.payload.get("StepExecutionId").and_then(|v| v.first());
                if let Some(step) = e.steps.iter_mut().find(|st| Some(&st.step_execution_id) == id) {
                    set(step, "stopped");
                }
            }
            _ => {}
        }
    }
}

fn set(step: &mut StepExecution, flag: &str) {
    let mut progress = step.progress.as_object().cloned().unwrap_or_default();
    progress.insert(flag.into(), Value::Bool(true));
    step.progress = Value::Object(progress);
}

/// A step's inputs with every `{{ }}` the execution can answer substituted: parameters,
/// earlier steps' outputs (`{{ step.Output }}`), `global:` and `automation:` variables.
fn resolve_inputs(scope: &Scope, e: &AutomationExecution, inputs: &Value, now: i64) -> Value {
    let time = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default();
    let lookup = |name: &str| -> Option<Value> {
        if let Some(v) = e.typed_parameters.get(name) {
            return Some(v.clone());
        }
        match name {
            "global:ACCOUNT_ID" => return Some(scope.account.clone().into()),
            "global:REGION" => return Some(scope.region.clone().into()),
            "global:AWS_PARTITION" => return Some("aws".into()),
            "global:DATE" => return Some(time.format("%Y-%m-%d").to_string().into()),
            "global:DATE_TIME" => return Some(time.format("%Y-%m-%d_%H.%M.%S").to_string().into()),
            "automation:EXECUTION_ID" => return Some(e.automation_execution_id.clone().into()),
            _ => {}
        }
        let (step, output) = name.split_once('.')?;
        let outputs = match e.steps.iter().find(|s| s.step_name == step) {
            Some(s) => s.outputs.clone(),
            None => looping::child_outputs(e, step)?,
        };
        let values = outputs.get(output)?;
        Some(match values.as_slice() {
            [one] => Value::String(one.clone()),
            many => json!(many),
        })
    };
    interpolate::substitute(inputs, &lookup)
}

/// The runbook's `outputs` (`step.Name`), as far as the steps produced them.
fn outputs(e: &AutomationExecution, rb: &Runbook) -> BTreeMap<String, Vec<String>> {
    rb.outputs
        .iter()
        .map(|o| {
            let value = o
                .split_once('.')
                .and_then(|(step, name)| e.steps.iter().find(|s| s.step_name == step)?.outputs.get(name).cloned())
                .unwrap_or_else(|| vec![NO_OUTPUT.into()]);
            (o.clone(), value)
        })
        .collect()
}

/// End the execution: Failed (or TimedOut) if a critical step failed, else Success.
fn finish(e: &mut AutomationExecution, rb: &Runbook, now: i64) {
    let critical =
        e.steps.iter().find(|s| s.is_critical && matches!(s.status.as_str(), status::FAILED | status::TIMED_OUT));
    match critical {
        Some(s) => {
            e.status = s.status.clone();
            e.failure_message = s.failure_message.clone();
        }
        None => e.status = status::SUCCESS.into(),
    }
    e.end_ms = Some(now);
    e.wake_ms = None;
    e.outputs = outputs(e, rb);
}

/// Events for what changed in one transition: the execution's status, and each step
/// whose status moved.
fn events(scope: &Scope, now: i64, e: &AutomationExecution, before: &(String, Vec<String>)) -> Vec<String> {
    let mut out = Vec::new();
    let arn =
        format!("arn:aws:ssm:{}:{}:automation-execution/{}", scope.region, scope.account, e.automation_execution_id);
    let definition =
        format!("arn:aws:ssm:{}:{}:automation-definition/{}", scope.region, scope.account, e.document_name);
    let iso = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    for (step, was) in e.steps.iter().zip(&before.1) {
        if &step.status != was {
            out.push(crate::events::envelope(
                scope,
                now,
                "EC2 Automation Step Status-change Notification",
                vec![arn.clone(), definition.clone()],
                json!({
                    "ExecutionId": e.automation_execution_id,
                    "Definition": e.document_name,
                    "DefinitionVersion": e.document_version,
                    "Status": step.status,
                    "StepName": step.step_name,
                    "Action": step.action,
                    "StartTime": iso(step.start_ms),
                    "EndTime": iso(step.end_ms),
                    "Time": iso(Some(now)),
                }),
            ));
        }
    }
    if e.status != before.0 {
        out.push(crate::events::envelope(
            scope,
            now,
            "EC2 Automation Execution Status-change Notification",
            vec![arn, definition],
            json!({
                "ExecutionId": e.automation_execution_id,
                "Definition": e.document_name,
                "DefinitionVersion": e.document_version,
                "Status": e.status,
                "StartTime": iso(e.start_ms),
                "EndTime": iso(e.end_ms),
                "Time": iso(Some(now)),
                "ExecutedBy": e.executed_by,
            }),
        ));
    }
    out
}

/// An ID derived from another and an attempt number, different for each attempt: what a
/// step starts elsewhere is found again, not started twice, after a restart.
pub(crate) fn derived_id(base: &str, attempt: u32) -> String {
    match uuid::Uuid::parse_str(base) {
        Ok(u) => uuid::Uuid::from_u128(u.as_u128() ^ (0xa5a5_0000_0000_0000_0000_0000_0000_0000 | u128::from(attempt)))
            .to_string(),
        Err(_) => casement_model::ids::new_uuid(),
    }
}

/// AUTOMATION window tasks: each invocation starts one automation execution (its ID
/// derived from the invocation's, so a restart finds it again) and follows it to its
/// end. A window's cancel or CANCEL_TASK cutoff starts no new automations and lets the
/// running ones finish, as AWS does.
pub struct AutomationRunner {
    automations: Arc<Automations>,
}

impl AutomationRunner {
    pub fn new(automations: Arc<Automations>) -> Self {
        Self { automations }
    }
}

/// `ExecutedBy` of an automation a window started: its service role, assumed by the
/// maintenance window service.
fn window_executor(scope: &Scope, role: Option<&str>) -> String {
    let name = role.and_then(|r| r.rsplit('/').next()).unwrap_or("AWSServiceRoleForAmazonSSM");
    format!("arn:aws:sts::{}:assumed-role/{name}/OrchestrationService", scope.account)
}

#[async_trait::async_trait]
impl crate::Runner for AutomationRunner {
    async fn start(&self, scope: &Scope, request: &crate::params::Request) -> crate::runner::Started {
        use crate::runner::{Outcome, Started};
        let crate::params::Request::Automation {
            invocation_id,
            document_name,
            document_version,
            parameters,
            service_role_arn,
        } = request
        else {
            return Started::Done(Outcome::failed("Not an AUTOMATION request.", None));
        };
        let req = StartRequest {
            execution_id: Some(derived_id(invocation_id, 0)),
            document_name: document_name.clone(),
            document_version: document_version.clone(),
            parameters: parameters.clone(),
            mode: "Auto".into(),
            executed_by: window_executor(scope, service_role_arn.as_deref()),
            ..StartRequest::default()
        };
        match self.automations.start(scope, req).await {
            Ok(id) => Started::Running(id),
            Err(StartError::Store(e)) => {
                Started::Done(Outcome::failed(format!("Starting the automation failed: {e}"), None))
            }
            Err(e) => Started::Done(Outcome::failed(e.to_string(), None)),
        }
    }

    async fn follow(&self, scope: &Scope, _request: &crate::params::Request, id: &str) -> crate::runner::Outcome {
        use crate::runner::Outcome;
        use casement_model::ExecutionStatus;
        loop {
            let finished = self.automations.finished.notified();
            match self.automations.store.get_automation(scope, id).await {
                Ok(Some(e)) if e.is_final() => {
                    let status = match e.status.as_str() {
                        status::SUCCESS => ExecutionStatus::Success,
                        status::TIMED_OUT => ExecutionStatus::TimedOut,
                        status::CANCELLED => ExecutionStatus::Cancelled,
                        _ => ExecutionStatus::Failed,
                    };
                    let details = e.failure_message.unwrap_or_else(|| e.status.clone());
                    return Outcome {
                        status,
                        status_details: Some(crate::runner::clip(details)),
                        execution_id: Some(id.to_owned()),
                    };
                }
                Ok(None) => {
                    return Outcome::failed(format!("Automation execution {id} does not exist."), Some(id.to_owned()))
                }
                Ok(Some(_)) => {}
                Err(e) => tracing::warn!(error = %e, "reading a window's automation failed; retrying"),
            }
            let _ = tokio::time::timeout(self.automations.config.reread.min(Duration::from_secs(1)), finished).await;
        }
    }

    /// The ID is derived from the invocation: a repeated start finds the first.
    fn restartable(&self) -> bool {
        true
    }
}
