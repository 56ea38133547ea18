//! Drives one window execution to its end: priority groups in order, each group's tasks
//! in parallel, each task's invocations under MaxConcurrency and MaxErrors, cutoff and
//! cancellation. Every transition is written (with its event) before the work it
//! announces starts, so a driver restarted from the store picks up where the last one
//! stopped: finished work is kept, in-flight Step Functions executions are followed,
//! and only what never started is started.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use casement_model::{
    ExecutionStatus, ResolvedTarget, Scope, TaskExecution, TaskInvocation, WindowExecution, WindowTask,
};
use casement_store::Change;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::clock::sleep_until;
use crate::params::{PseudoParams, Request};
use crate::runner::{Outcome, Runners, Started};
use casement_model::limits;

use crate::{events, targets, Inner};

pub const NO_TASKS: &str = "No tasks to execute.";
pub const TASKS_FAILED: &str = "One or more tasks in the orchestration failed.";
/// A task timed out without the window reaching its cutoff (its invocations did: a node
/// that never took its command, a function that ran too long).
pub const TASKS_TIMED_OUT: &str = "One or more tasks in the orchestration timed out.";
/// CANCEL_TASK at the cutoff cancelled the task's running invocations.
pub const CANCELLED_AT_CUTOFF: &str =
    "The maintenance window reached its cutoff and the task's CANCEL_TASK behavior cancelled its running invocations.";
/// A task whose invocations failed without saying why.
pub const INVOCATIONS_FAILED: &str = "One or more invocations of this task failed.";
pub const WINDOW_TIMED_OUT: &str = "The maintenance window reached its cutoff before all tasks could run.";
pub const TASK_CUT_OFF: &str = "The maintenance window reached its cutoff before all invocations of this task started.";
pub const MAX_ERRORS_REACHED: &str = "The task exceeded its MaxErrors limit; no further invocations were started.";
pub const OUTCOME_UNKNOWN: &str = "The server stopped while this invocation ran and its outcome could not be followed.";

pub(crate) async fn drive(inner: Arc<Inner>, scope: Scope, mut exec: WindowExecution) {
    let id = exec.window_execution_id.clone();
    if exec.status.is_final() {
        return;
    }
    let tasks = match exec.tasks.clone() {
        Some(t) => t,
        None => {
            // First step of a fresh execution: fix the plan (the window's tasks now).
            let mut tasks = inner.retry(|| inner.store.list_tasks(&scope, &exec.window_id)).await;
            tasks.sort_by(|a, b| (a.priority, &a.window_task_id).cmp(&(b.priority, &b.window_task_id)));
            exec.tasks = Some(tasks.clone());
            inner.save(&scope, vec![Change::Execution(exec.clone())]).await;
            tasks
        }
    };
    if tasks.is_empty() {
        return finish(&inner, &scope, exec, ExecutionStatus::Success, Some(NO_TASKS)).await;
    }
    let mut done: HashMap<String, TaskExecution> = inner
        .retry(|| inner.store.list_task_executions(&scope, &id))
        .await
        .into_iter()
        .map(|t| (t.window_task_id.to_string(), t))
        .collect();
    let mut groups: BTreeMap<i32, Vec<WindowTask>> = BTreeMap::new();
    for t in tasks {
        groups.entry(t.priority).or_default().push(t);
    }

    let mut cut_off = false;
    for group in groups.values() {
        refresh_cancel(&inner, &scope, &mut exec).await;
        let any_started = group.iter().any(|t| done.contains_key(t.window_task_id.as_str()));
        if !any_started {
            if exec.cancel_requested {
                break;
            }
            if inner.clock.now_ms() >= exec.cutoff_ms() {
                cut_off = true;
                break;
            }
        }
        let mut running = Vec::new();
        for task in group {
            let te = match done.remove(task.window_task_id.as_str()) {
                Some(te) if te.status.is_final() => {
                    done.insert(task.window_task_id.to_string(), te);
                    continue;
                }
                Some(te) => te,
                None => start_task(&inner, &scope, &exec, task).await,
            };
            running.push(run_task(inner.clone(), scope.clone(), exec.clone(), task.clone(), te));
        }
        let mut group_run = std::pin::pin!(futures_util::future::join_all(running));
        let finished = loop {
            tokio::select! {
                finished = &mut group_run => break finished,
                _ = wait_for_cancel(&inner) => {
                    refresh_cancel(&inner, &scope, &mut exec).await;
                }
            }
        };
        for te in finished {
            done.insert(te.window_task_id.to_string(), te);
        }
    }

    refresh_cancel(&inner, &scope, &mut exec).await;
    let (status, details) = if exec.cancel_requested {
        (ExecutionStatus::Cancelled, None)
    } else if done.values().any(|t| t.status == ExecutionStatus::Failed) {
        (ExecutionStatus::Failed, Some(TASKS_FAILED))
    } else if cut_off {
        (ExecutionStatus::TimedOut, Some(WINDOW_TIMED_OUT))
    } else if done.values().any(|t| t.status == ExecutionStatus::TimedOut) {
        (ExecutionStatus::TimedOut, Some(TASKS_TIMED_OUT))
    } else {
        (ExecutionStatus::Success, None)
    };
    finish(&inner, &scope, exec, status, details).await;
}

/// Wake on a cancel nudge, or after a poll interval (a cancel sent to another node).
async fn wait_for_cancel(inner: &Inner) {
    let poll = Duration::from_millis(inner.config.poll_ms.max(1) as u64);
    let _ = tokio::time::timeout(poll, inner.signals.cancels.notified()).await;
}

/// Pick up a cancel request; the first time, the execution shows CANCELLING.
async fn refresh_cancel(inner: &Inner, scope: &Scope, exec: &mut WindowExecution) {
    if exec.cancel_requested {
        return;
    }
    let Some(stored) = inner.retry(|| inner.store.get_execution(scope, &exec.window_execution_id)).await else {
        return;
    };
    if stored.cancel_requested {
        exec.cancel_requested = true;
        exec.status = ExecutionStatus::Cancelling;
        let ev = events::execution(scope, inner.clock.now_ms(), exec);
        inner.save(scope, vec![Change::Execution(exec.clone()), Change::Event(ev)]).await;
    }
}

async fn finish(
    inner: &Inner,
    scope: &Scope,
    mut exec: WindowExecution,
    status: ExecutionStatus,
    details: Option<&str>,
) {
    exec.status = status;
    exec.status_details = details.map(str::to_owned);
    exec.end_ms = Some(inner.clock.now_ms().max(exec.start_ms));
    let ev = events::execution(scope, inner.clock.now_ms(), &exec);
    inner.save(scope, vec![Change::Execution(exec), Change::Event(ev)]).await;
}

/// Resolve the task's targets and record its execution as IN_PROGRESS.
async fn start_task(inner: &Inner, scope: &Scope, exec: &WindowExecution, task: &WindowTask) -> TaskExecution {
    let resolved = inner.retry(|| targets::resolve(&*inner.store, scope, &exec.window_id, task)).await;
    let te = TaskExecution {
        window_execution_id: exec.window_execution_id.clone(),
        task_execution_id: casement_model::ids::new_uuid(),
        window_task_id: task.window_task_id.clone(),
        task_arn: task.task_arn.clone(),
        task_type: task.task_type,
        priority: task.priority,
        max_concurrency: task.max_concurrency.clone(),
        max_errors: task.max_errors.clone(),
        status: ExecutionStatus::InProgress,
        status_details: None,
        start_ms: inner.clock.now_ms(),
        end_ms: None,
        targets: resolved,
    };
    let ev = events::task(scope, te.start_ms, &exec.window_id, &te);
    inner.save(scope, vec![Change::Task(te.clone()), Change::Event(ev)]).await;
    te
}

/// What every invocation of one task execution shares: built once per task execution
/// and shared, not copied per invocation (a task may have thousands of targets).
struct TaskRun {
    inner: Arc<Inner>,
    scope: Scope,
    exec: WindowExecution,
    task: WindowTask,
    te: TaskExecution,
}

impl TaskRun {
    /// The request an invocation sends, pseudo parameters substituted.
    fn request(&self, inv: &TaskInvocation, target: &ResolvedTarget) -> Request {
        Request::build(
            &self.task,
            &PseudoParams {
                window_id: self.exec.window_id.as_str(),
                window_task_id: self.task.window_task_id.as_str(),
                window_execution_id: &self.exec.window_execution_id,
                task_execution_id: &self.te.task_execution_id,
                invocation_id: &inv.invocation_id,
                target,
            },
        )
    }
}

/// Run one task execution's invocations to the end and record its final status.
async fn run_task(
    inner: Arc<Inner>,
    scope: Scope,
    exec: WindowExecution,
    task: WindowTask,
    te: TaskExecution,
) -> TaskExecution {
    let existing =
        inner.retry(|| inner.store.list_invocations(&scope, &te.task_execution_id, &[], None, usize::MAX)).await;
    let n = te.targets.len();
    let concurrency = limits::max_concurrency(te.max_concurrency.as_deref(), n);
    let max_errors = limits::max_errors(te.max_errors.as_deref(), n);
    let cancel_at_cutoff = task.cutoff_behavior.as_deref() == Some("CANCEL_TASK");
    let cutoff = exec.cutoff_ms();
    let run = Arc::new(TaskRun { inner, scope, exec, task, te });

    let mut finals: Vec<Ended> = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    let mut launched = existing.len();
    for inv in existing {
        if inv.status.is_final() {
            finals.push((inv.status, inv.status_details));
        } else {
            in_flight.push(invoke(run.clone(), inv, None));
        }
    }
    let errors = |finals: &[Ended]| finals.iter().filter(|(s, _)| *s != ExecutionStatus::Success).count();
    let mut stopped_by_errors = false;
    loop {
        while in_flight.len() < concurrency && launched < n {
            if errors(&finals) > max_errors {
                stopped_by_errors = true;
                break;
            }
            if cancel_at_cutoff && run.inner.clock.now_ms() >= cutoff {
                break;
            }
            let (inv, req) = new_invocation(&run, launched as u32).await;
            in_flight.push(invoke(run.clone(), inv, Some(req)));
            launched += 1;
        }
        if in_flight.is_empty() {
            break;
        }
        let more_to_start = launched < n && !stopped_by_errors;
        tokio::select! {
            Some(ended) = in_flight.next() => finals.push(ended),
            _ = sleep_until(&*run.inner.clock, cutoff), if cancel_at_cutoff && more_to_start && run.inner.clock.now_ms() < cutoff => {}
        }
    }

    let has = |status: ExecutionStatus| finals.iter().any(|(s, _)| *s == status);
    // What the first invocation that ended so said, for the task's StatusDetails.
    let said = |status: ExecutionStatus| finals.iter().find(|(s, _)| *s == status).and_then(|(_, d)| d.clone());
    let (status, details): (ExecutionStatus, Option<String>) = if has(ExecutionStatus::Cancelled) {
        // A cancelled command: the window execution was cancelled, or the cutoff
        // cancelled it (CANCEL_TASK), which AWS reports as TIMED_OUT.
        let cancelled = matches!(
            run.inner.store.get_execution(&run.scope, &run.exec.window_execution_id).await,
            Ok(Some(e)) if e.cancel_requested
        );
        if cancelled {
            (ExecutionStatus::Cancelled, None)
        } else {
            (ExecutionStatus::TimedOut, Some(CANCELLED_AT_CUTOFF.into()))
        }
    } else if stopped_by_errors {
        (ExecutionStatus::Failed, Some(MAX_ERRORS_REACHED.into()))
    } else if has(ExecutionStatus::Failed) {
        (ExecutionStatus::Failed, said(ExecutionStatus::Failed).or_else(|| Some(INVOCATIONS_FAILED.into())))
    } else if launched < n {
        (ExecutionStatus::TimedOut, Some(TASK_CUT_OFF.into()))
    } else if has(ExecutionStatus::TimedOut) {
        (ExecutionStatus::TimedOut, said(ExecutionStatus::TimedOut))
    } else if finals.iter().any(|(s, _)| *s != ExecutionStatus::Success) {
        (ExecutionStatus::Failed, Some(INVOCATIONS_FAILED.into()))
    } else {
        (ExecutionStatus::Success, None)
    };
    let inner = &run.inner;
    let mut te = run.te.clone();
    te.status = status;
    te.status_details = details;
    te.end_ms = Some(inner.clock.now_ms());
    let ev = events::task(&run.scope, inner.clock.now_ms(), &run.exec.window_id, &te);
    inner.save(&run.scope, vec![Change::Task(te.clone()), Change::Event(ev)]).await;
    te
}

/// Record a new invocation as IN_PROGRESS, before anything is sent; returns it with the
/// request it is to send.
async fn new_invocation(run: &TaskRun, seq: u32) -> (TaskInvocation, Request) {
    let (inner, te) = (&run.inner, &run.te);
    let target = &te.targets[seq as usize];
    let mut inv = TaskInvocation {
        window_execution_id: run.exec.window_execution_id.clone(),
        task_execution_id: te.task_execution_id.clone(),
        invocation_id: casement_model::ids::new_uuid(),
        seq,
        execution_id: None,
        task_type: te.task_type,
        parameters: String::new(),
        status: ExecutionStatus::InProgress,
        status_details: None,
        start_ms: inner.clock.now_ms(),
        end_ms: None,
        owner_information: target.owner_information.clone(),
        window_target_id: target.window_target_id.clone(),
        resource_id: target.resource_id.clone(),
    };
    let req = run.request(&inv, target);
    inv.parameters = req.parameters_json();
    let ev = events::invocation(&run.scope, inv.start_ms, &run.exec.window_id, &inv);
    inner.save(&run.scope, vec![Change::Invocation(inv.clone()), Change::Event(ev)]).await;
    (inv, req)
}

/// Resolves when a running invocation should be cancelled: its window execution was
/// cancelled, or the window's cutoff passed and the task says CANCEL_TASK.
async fn cancel_trigger(run: &TaskRun) {
    let inner = &run.inner;
    let cancel_at_cutoff = run.task.cutoff_behavior.as_deref() == Some("CANCEL_TASK");
    let cutoff = run.exec.cutoff_ms();
    loop {
        if cancel_at_cutoff && inner.clock.now_ms() >= cutoff {
            return;
        }
        if let Ok(Some(e)) = inner.store.get_execution(&run.scope, &run.exec.window_execution_id).await {
            if e.cancel_requested {
                return;
            }
        }
        tokio::select! {
            _ = wait_for_cancel(inner) => {}
            _ = sleep_until(&*inner.clock, cutoff), if cancel_at_cutoff => {}
        }
    }
}

/// Run one invocation — or, after a restart (`request` is `None`), pick it up — and
/// record how it ended.
/// How an invocation ended: its status and StatusDetails.
type Ended = (ExecutionStatus, Option<String>);

async fn invoke(run: Arc<TaskRun>, mut inv: TaskInvocation, request: Option<Request>) -> Ended {
    let (inner, scope, te) = (&run.inner, &run.scope, &run.te);
    let resumed = request.is_none();
    let req = request.unwrap_or_else(|| {
        let target = te.targets.get(inv.seq as usize).cloned().unwrap_or_else(|| ResolvedTarget {
            resource_id: inv.resource_id.clone(),
            target_type: String::new(),
            window_target_id: inv.window_target_id.clone(),
            owner_information: inv.owner_information.clone(),
        });
        run.request(&inv, &target)
    });
    let outcome = match inner.runners.get(te.task_type) {
        None => Outcome::failed(Runners::unsupported(te.task_type), None),
        Some(runner) => {
            let started = match (&inv.execution_id, resumed) {
                (Some(id), true) => Started::Running(id.clone()),
                (None, true) if !runner.restartable() => Started::Done(Outcome::failed(OUTCOME_UNKNOWN, None)),
                _ => runner.start(scope, &req).await,
            };
            match started {
                Started::Done(o) => o,
                Started::Running(id) => {
                    if inv.execution_id.as_deref() != Some(&id) {
                        inv.execution_id = Some(id.clone());
                        inner.save(scope, vec![Change::Invocation(inv.clone())]).await;
                    }
                    if runner.cancellable() {
                        let follow = runner.follow(scope, &req, &id);
                        let mut follow = std::pin::pin!(follow);
                        tokio::select! {
                            o = &mut follow => o,
                            _ = cancel_trigger(&run) => {
                                runner.cancel(scope, &id).await;
                                follow.await
                            }
                        }
                    } else {
                        runner.follow(scope, &req, &id).await
                    }
                }
            }
        }
    };
    inv.status = outcome.status;
    inv.status_details = outcome.status_details;
    if outcome.execution_id.is_some() {
        inv.execution_id = outcome.execution_id;
    }
    inv.end_ms = Some(inner.clock.now_ms());
    let ev = events::invocation(scope, inner.clock.now_ms(), &run.exec.window_id, &inv);
    inner.save(scope, vec![Change::Invocation(inv.clone()), Change::Event(ev)]).await;
    (inv.status, inv.status_details)
}
