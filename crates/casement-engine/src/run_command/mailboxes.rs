//! One wake-up per managed node: a long-polling GetMessages waits on its node's mailbox,
//! and whatever gives the node a message (SendCommand, MaxConcurrency releasing the next
//! nodes, CancelCommand) rings it. A ring with nobody waiting is kept for the next poll,
//! so no message waits for the poll interval on this server; the interval only covers
//! messages created through another server sharing the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Default)]
pub struct Mailboxes {
    nodes: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Mailboxes {
    pub fn get(&self, node: &str) -> Arc<Notify> {
        let mut map = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(node) {
            Some(n) => n.clone(),
            None => {
                let n = Arc::new(Notify::new());
                map.insert(node.to_owned(), n.clone());
                n
            }
        }
    }

    pub fn ring(&self, node: &str) {
        let map = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get(node) {
            n.notify_one();
        }
    }
}
