//! Replies waiting for the server, one file each in `<state-dir>/replies`, named by a
//! sequence number so they go out in the order they were made (a command's InProgress
//! before its Success). A file is removed only once the server took the reply.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use casement_protocol::agent::{ReplyPayload, SendReplyRequest, MESSAGES_PREFIX};
use tokio::sync::Notify;

use crate::client::CallError;
use crate::identity::write_private;
use crate::{AgentError, Client};

pub struct Replies {
    dir: PathBuf,
    next: AtomicU64,
    wake: Notify,
}

impl Replies {
    pub fn open(state_dir: &std::path::Path) -> Result<Self, AgentError> {
        let dir = state_dir.join("replies");
        std::fs::create_dir_all(&dir).map_err(|e| AgentError::State(format!("{}: {e}", dir.display())))?;
        let last = Self::pending_in(&dir).last().and_then(|(n, _)| n.checked_add(1)).unwrap_or(0);
        Ok(Self { dir, next: AtomicU64::new(last), wake: Notify::new() })
    }

    fn pending_in(dir: &std::path::Path) -> Vec<(u64, PathBuf)> {
        let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                let n = p.file_stem()?.to_str()?.parse().ok()?;
                (p.extension()? == "json").then_some((n, p))
            })
            .collect();
        out.sort();
        out
    }

    /// Queue a reply (written to disk before this returns).
    pub fn push(&self, message_id: &str, payload: &ReplyPayload) -> Result<(), AgentError> {
        let req = SendReplyRequest {
            message_id: message_id.to_owned(),
            reply_id: uuid::Uuid::new_v4().to_string(),
            payload: serde_json::to_string(payload).map_err(|e| AgentError::State(e.to_string()))?,
        };
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let bytes = serde_json::to_vec(&req).map_err(|e| AgentError::State(e.to_string()))?;
        write_private(&self.dir.join(format!("{n:020}.json")), &bytes)?;
        self.wake.notify_one();
        Ok(())
    }

    /// Send queued replies in order, for ever; a failed send is retried with backoff.
    /// Returns only if the server refuses this node.
    pub async fn deliver(self: Arc<Self>, client: Client) -> AgentError {
        let mut backoff = Duration::from_millis(500);
        loop {
            let mut failed = false;
            for (_, path) in Self::pending_in(&self.dir) {
                let Ok(bytes) = std::fs::read(&path) else { continue };
                let Ok(req) = serde_json::from_slice::<SendReplyRequest>(&bytes) else {
                    let _ = std::fs::remove_file(&path);
                    continue;
                };
                let sent: Result<serde_json::Value, CallError> =
                    client.call(&format!("{MESSAGES_PREFIX}SendReply"), &req, Duration::from_secs(30)).await;
                match sent {
                    Ok(_) => {
                        let _ = std::fs::remove_file(&path);
                        backoff = Duration::from_millis(500);
                    }
                    Err(e) if e.is_refusal() => return AgentError::Deregistered(e.to_string()),
                    Err(CallError::Api(kind, msg)) => {
                        // The server will never take it (the command was purged…).
                        tracing::warn!(%kind, %msg, message = %req.message_id, "reply dropped");
                        let _ = std::fs::remove_file(&path);
                    }
                    Err(CallError::Network(e)) => {
                        tracing::warn!(error = %e, "sending a reply failed; will retry");
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            } else {
                let _ = tokio::time::timeout(Duration::from_secs(30), self.wake.notified()).await;
            }
        }
    }
}
