//! One mailbox per managed node, in this server's memory: whatever gives a node a message
//! (SendCommand, MaxConcurrency releasing the next nodes, CancelCommand) puts it there and
//! wakes the node's long poll, which answers from the mailbox without reading the store.
//! The store stays the truth — a poll that finds its mailbox empty reads the node's
//! waiting messages from it, so messages created through another server, or before a
//! restart, still arrive (the poll interval later).
//!
//! Fetched messages are hidden from later polls for a visibility timeout, as AWS's
//! message service does, until the agent acknowledges them. That is this server's memory
//! too: after a restart or on another server a message may be offered again, and the
//! agent runs a command once whatever it is offered.

use std::sync::{Arc, Mutex};

use casement_model::{Command, CommandInvocation, FastMap};
use tokio::sync::Notify;

/// A message for a node: the invocation (its command or its cancel) and the command.
pub type Delivery = (Arc<Command>, CommandInvocation);

#[derive(Default)]
pub struct Mailbox {
    pub(crate) wake: Notify,
    ready: Mutex<Vec<Delivery>>,
    /// When a poll last read this node's messages from the store.
    read_at: Mutex<Option<tokio::time::Instant>>,
}

impl Mailbox {
    pub(crate) fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.ready.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether a poll should read the store now: first thing after this server started
    /// serving the node, then once every `every`. Between reads the mailbox has every
    /// message this server made; the reads find the rest.
    pub(crate) fn store_read_due(&self, now: tokio::time::Instant, every: std::time::Duration) -> bool {
        let mut at = self.read_at.lock().unwrap_or_else(|p| p.into_inner());
        if at.is_some_and(|t| now < t + every) {
            return false;
        }
        *at = Some(now);
        true
    }
}

/// Which message: (CommandId, InstanceId, is-a-cancel). The agent protocol spells it as
/// a MessageId string (`casement_protocol::agent::message_id`); the engine needs only
/// its identity.
pub type MessageKey = (String, String, bool);

/// The key of an invocation's current message (its command, or its cancel).
pub fn message_key(inv: &CommandInvocation) -> MessageKey {
    (inv.command_id.clone(), inv.instance_id.clone(), inv.cancel_pending)
}

#[derive(Default)]
pub struct Mailboxes {
    nodes: Mutex<FastMap<String, Arc<Mailbox>>>,
    /// Fetched, unacknowledged messages and when they may be offered again.
    hidden: Mutex<FastMap<MessageKey, i64>>,
}

/// Polls woken per wave when a change has messages for many nodes (measured with 1,000
/// agents: waves of 1–64 nodes, 16 gave the earliest replies; BENCHMARKS.md).
const WAKE_WAVE: usize = 16;

/// Beyond this many hidden entries, expired ones are dropped.
const HIDDEN_PRUNE_AT: usize = 100_000;

impl Mailboxes {
    pub fn get(&self, node: &str) -> Arc<Mailbox> {
        let mut map = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        mailbox_of(&mut map, node)
    }

    /// Put each message in its node's mailbox, then wake the nodes' polls (a wake with
    /// nobody waiting is kept for the next poll): at once for a few nodes, in waves for a
    /// fleet.
    ///
    /// Why waves: a thousand polls woken together are all runnable before the runtime
    /// reads anything else, so each agent's reply to its command waited until the whole
    /// fleet had been answered (the first reply accepted only after 90 % of the nodes had
    /// their command: BENCHMARKS.md). Between waves the hand-out yields, and the runtime
    /// reads the sockets first: replies from the nodes already served are taken in step
    /// with the deliveries. Nothing waits for a reply or a timer, so a slow fleet is never
    /// held back: a wave costs one trip through the scheduler.
    ///
    /// The first wave is woken before the other messages are put, so the first nodes do
    /// not wait for the rest of the fleet's mailboxes; every message is in its mailbox
    /// before this returns (a cancel that follows always finds its command there first).
    pub fn deliver(&self, deliveries: impl IntoIterator<Item = Delivery>) {
        let mut deliveries = deliveries.into_iter();
        let first = self.put(deliveries.by_ref().take(WAKE_WAVE));
        first.iter().for_each(|m| m.wake.notify_one());
        let rest = self.put(deliveries);
        if rest.is_empty() {
            return;
        }
        tokio::spawn(async move {
            for wave in rest.chunks(WAKE_WAVE) {
                tokio::task::yield_now().await;
                wave.iter().for_each(|m| m.wake.notify_one());
            }
        });
    }

    /// Put messages in their nodes' mailboxes (one lock of the map for all of them);
    /// returns the mailboxes, in order.
    fn put(&self, deliveries: impl Iterator<Item = Delivery>) -> Vec<Arc<Mailbox>> {
        let mut map = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        deliveries
            .map(|delivery| {
                let mailbox = mailbox_of(&mut map, &delivery.1.instance_id);
                mailbox.ready.lock().unwrap_or_else(|p| p.into_inner()).push(delivery);
                mailbox
            })
            .collect()
    }

    /// Whether a message may be offered now; if so, it is hidden until `until_ms`.
    pub fn offer(&self, key: MessageKey, now_ms: i64, until_ms: i64) -> bool {
        let mut hidden = self.hidden.lock().unwrap_or_else(|p| p.into_inner());
        if hidden.get(&key).is_some_and(|t| *t > now_ms) {
            return false;
        }
        if hidden.len() >= HIDDEN_PRUNE_AT {
            hidden.retain(|_, t| *t > now_ms);
        }
        hidden.insert(key, until_ms);
        true
    }

    /// Whether this server handed the message out and it is still hidden.
    pub fn fetched(&self, key: &MessageKey, now_ms: i64) -> bool {
        self.hidden.lock().unwrap_or_else(|p| p.into_inner()).get(key).is_some_and(|t| *t > now_ms)
    }

    /// The agent acknowledged it: forget it.
    pub fn acknowledged(&self, key: &MessageKey) {
        self.hidden.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// A node's mailbox, made on first use (the node's ID is copied only then).
fn mailbox_of(map: &mut FastMap<String, Arc<Mailbox>>, node: &str) -> Arc<Mailbox> {
    if let Some(m) = map.get(node) {
        return m.clone();
    }
    map.entry(node.to_owned()).or_default().clone()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A node's polls read the store on the first poll, then at most once per interval.
    #[test]
    fn the_store_is_read_once_per_interval() {
        let mailbox = Mailbox::default();
        let t0 = tokio::time::Instant::now();
        let every = Duration::from_secs(20);
        assert!(mailbox.store_read_due(t0, every));
        assert!(!mailbox.store_read_due(t0 + Duration::from_secs(1), every));
        assert!(!mailbox.store_read_due(t0 + Duration::from_millis(19_999), every));
        assert!(mailbox.store_read_due(t0 + every, every));
        assert!(!mailbox.store_read_due(t0 + every + Duration::from_secs(1), every));
    }
}
