//! Group commit for command updates: the agents' acknowledgements and replies, deadline
//! sweeps and cancels, on either backend.
//!
//! A thousand agents answer one command within milliseconds of each other. In a
//! transaction each, their commits (on SQLite a WAL frame for every page touched: the
//! invocation, its indexes, the command; on PostgreSQL a WAL flush each, and all of them
//! queued on the command's row lock) and the command's rewrite were most of the server's
//! store time. Instead each update joins a queue and one of the waiting requests leads:
//! it first lets the requests already runnable add theirs, then applies the whole queue
//! in one transaction, writes each command it touched once, commits once and hands every
//! request its own result.
//!
//! The leader works on its own request's task, not on a thread of its own, so the
//! runtime never looks idle while an update is pending (virtual-time tests stay exact)
//! and nothing outlives the store. A leader leads one batch and resigns — also when its
//! request is dropped mid-way — waking one waiting request to lead the next.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use casement_model::Scope;
use tokio::sync::{oneshot, Notify};

use crate::{CommandUpdate, InvocationFn, StoreError, Which};

/// One queued `update_invocations`, owned.
pub(crate) struct Update {
    pub scope: Scope,
    pub command_id: String,
    /// `None`: every invocation of the command.
    pub instances: Option<Vec<String>>,
    pub f: Arc<InvocationFn>,
}

impl Update {
    /// `Store::update_invocations`' arguments, owned for the queue.
    pub(crate) fn new(scope: &Scope, command_id: &str, which: Which<'_>, f: Arc<InvocationFn>) -> Self {
        let instances = match which {
            Which::All => None,
            Which::Instances(ids) => Some(ids.to_vec()),
        };
        Update { scope: scope.clone(), command_id: command_id.to_owned(), instances, f }
    }
}

type Outcome = Result<Option<CommandUpdate>, StoreError>;

/// Most updates one transaction takes; the rest wait for the next leader.
const MAX_BATCH: usize = 1_000;

#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Queue>,
    /// Rung (once) when a leader resigns with updates still queued.
    resigned: Notify,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(Update, oneshot::Sender<Outcome>)>,
    leading: bool,
}

/// A batch's outcomes, one per update in order; an error failed the whole transaction.
pub(crate) type Outcomes = Result<Vec<Option<CommandUpdate>>, StoreError>;

/// How a backend applies a batch of updates in one transaction.
pub(crate) trait ApplyBatch: Sync {
    fn apply_batch<'a>(&'a self, batch: &'a [Update]) -> Pin<Box<dyn Future<Output = Outcomes> + Send + 'a>>;
}

impl GroupCommit {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `update` and wait for its outcome, leading a batch whenever nobody does.
    pub(crate) async fn submit(&self, update: Update, apply: &dyn ApplyBatch) -> Outcome {
        let (tx, mut rx) = oneshot::channel();
        self.queue().waiting.push((update, tx));
        loop {
            // Registered before the queue is looked at, so a resignation in between is
            // not missed.
            let resigned = self.resigned.notified();
            tokio::pin!(resigned);
            resigned.as_mut().enable();
            if self.take_lead() {
                let resign = Resign(self);
                // Let the requests already runnable join this batch.
                tokio::task::yield_now().await;
                let batch = {
                    let mut q = self.queue();
                    let n = q.waiting.len().min(MAX_BATCH);
                    q.waiting.drain(..n).collect::<Vec<_>>()
                };
                run(batch, apply).await;
                drop(resign);
            }
            match rx.try_recv() {
                Ok(outcome) => return outcome,
                Err(oneshot::error::TryRecvError::Closed) => return Err(dropped()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            tokio::select! {
                biased;
                outcome = &mut rx => return outcome.unwrap_or_else(|_| Err(dropped())),
                _ = resigned => {}
            }
        }
    }

    fn take_lead(&self) -> bool {
        let mut q = self.queue();
        if q.leading || q.waiting.is_empty() {
            return false;
        }
        q.leading = true;
        true
    }
}

/// Ends a leadership, on every path out of it.
struct Resign<'a>(&'a GroupCommit);

impl Drop for Resign<'_> {
    fn drop(&mut self) {
        let more = {
            let mut q = self.0.queue();
            q.leading = false;
            !q.waiting.is_empty()
        };
        if more {
            self.0.resigned.notify_one();
        }
    }
}

/// An update whose outcome was never sent: its batch panicked.
fn dropped() -> StoreError {
    StoreError::Backend("the batch holding this update was abandoned".into())
}

/// Apply a batch and answer each update. If the batch fails (the transaction rolled
/// back), each update is retried alone, so one bad update cannot fail the others.
async fn run(batch: Vec<(Update, oneshot::Sender<Outcome>)>, apply: &dyn ApplyBatch) {
    let (updates, senders): (Vec<Update>, Vec<_>) = batch.into_iter().unzip();
    match apply.apply_batch(&updates).await {
        Ok(outcomes) => {
            for (tx, outcome) in senders.into_iter().zip(outcomes) {
                let _ = tx.send(Ok(outcome));
            }
        }
        Err(e) if updates.len() == 1 => {
            if let Some(tx) = senders.into_iter().next() {
                let _ = tx.send(Err(e));
            }
        }
        Err(_) => {
            for (update, tx) in updates.iter().zip(senders) {
                let outcome = apply.apply_batch(std::slice::from_ref(update)).await.map(|mut v| v.pop().flatten());
                let _ = tx.send(outcome);
            }
        }
    }
}
