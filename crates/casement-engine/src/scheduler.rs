//! Fires due windows. Each occurrence is claimed and its execution recorded in one store
//! transaction (the window's next fire time advances in it), so it fires once across
//! restarts and nodes.
//!
//! Missed occurrences: an occurrence found more than [`MISSED_GRACE_MS`] late (the
//! server was down when it came due) is not run late; the window's next occurrence after
//! now is. Within the grace — a restart, a failover — it still runs.

use std::sync::Arc;
use std::time::Duration;

use casement_model::{ExecutionStatus, WindowExecution};
use casement_store::{Due, Firing, NextFire};

use crate::window_schedule::next_fire_after;
use crate::{events, Inner};

/// How late an occurrence may be found and still run.
pub const MISSED_GRACE_MS: i64 = 60_000;
/// Windows claimed per transaction.
const BATCH: usize = 2_000;

/// What a due occurrence does: run, be recorded as skipped (the last run is still going),
/// or be passed over (missed while the server was down).
pub fn decide(due: Due<'_>, now_ms: i64) -> Firing {
    let w = due.window;
    let next_fire_ms = next_fire_after(w, due.due_ms.max(now_ms));
    if !w.enabled || now_ms - due.due_ms > MISSED_GRACE_MS {
        if w.enabled {
            tracing::info!(window = %w.window_id, due_ms = due.due_ms, "occurrence missed while the server was down; not run late");
        }
        return Firing { execution: None, next_fire_ms, events: vec![] };
    }
    let (status, end_ms, tasks) = if due.running {
        (ExecutionStatus::SkippedOverlapping, Some(due.due_ms), Some(vec![]))
    } else {
        (ExecutionStatus::InProgress, None, None)
    };
    let execution = WindowExecution {
        window_id: w.window_id.clone(),
        window_execution_id: casement_model::ids::new_uuid(),
        status,
        status_details: None,
        start_ms: due.due_ms,
        end_ms,
        duration: w.duration,
        cutoff: w.cutoff,
        tasks,
        cancel_requested: false,
    };
    let events = vec![events::execution(due.scope, now_ms, &execution)];
    Firing { execution: Some(execution), next_fire_ms, events }
}

/// Give windows stored before the scheduler existed their next fire time. (A window
/// whose schedule has no occurrence left gets none again: harmless to repeat.)
async fn schedule_unscheduled(inner: &Inner) {
    let windows = match inner.store.unscheduled_windows().await {
        Ok(w) => w,
        Err(e) => return tracing::warn!(error = %e, "listing unscheduled windows failed"),
    };
    let now = inner.clock.now_ms();
    for (scope, w) in windows {
        if let Some(next) = next_fire_after(&w, now) {
            if let Err(e) = inner.store.update_window(&scope, &w, NextFire::At(next), &[]).await {
                tracing::warn!(window = %w.window_id, error = %e, "scheduling a stored window failed");
            }
        }
    }
}

pub(crate) async fn run(inner: Arc<Inner>) {
    schedule_unscheduled(&inner).await;
    loop {
        let now = inner.clock.now_ms();
        let lease = now + inner.config.lease_ms;
        match inner.store.fire_due(now, BATCH, &inner.config.node_id, lease, &move |due| decide(due, now)).await {
            Ok(fired) => {
                let full = fired.len() == BATCH;
                for (scope, exec) in fired {
                    if !exec.status.is_final() {
                        inner.spawn_driver(scope, exec);
                    }
                }
                if full {
                    continue;
                }
            }
            Err(e) => tracing::error!(error = %e, "firing due windows failed; retrying"),
        }
        let now = inner.clock.now_ms();
        let next = match inner.store.next_due_ms().await {
            Ok(Some(ms)) => ms.min(now + inner.config.poll_ms),
            _ => now + inner.config.poll_ms,
        };
        tokio::select! {
            _ = crate::clock::sleep_until(&*inner.clock, next) => {}
            _ = inner.signals.schedules.notified() => {}
        }
    }
}

/// Keep leases of running executions fresh, adopt executions whose owner stopped, and
/// purge history past retention.
pub(crate) async fn housekeeping(inner: Arc<Inner>) {
    let mut last_purge: Option<i64> = None;
    loop {
        let now = inner.clock.now_ms();
        if let Err(e) = inner.store.renew_leases(&inner.config.node_id, now + inner.config.lease_ms).await {
            tracing::warn!(error = %e, "renewing execution leases failed");
        }
        match inner.store.adopt_executions(&inner.config.node_id, now, now + inner.config.lease_ms).await {
            Ok(adopted) => {
                for (scope, exec) in adopted {
                    tracing::info!(execution = %exec.window_execution_id, "resuming window execution");
                    inner.spawn_driver(scope, exec);
                }
            }
            Err(e) => tracing::warn!(error = %e, "adopting executions failed"),
        }
        if last_purge.is_none_or(|at| now - at >= 3_600_000) {
            last_purge = Some(now);
            match inner.store.purge_history(now - inner.config.retention_ms).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(executions = n, "purged execution history past retention"),
                Err(e) => tracing::warn!(error = %e, "purging history failed"),
            }
        }
        tokio::time::sleep(Duration::from_millis((inner.config.lease_ms / 3).max(100) as u64)).await;
    }
}
