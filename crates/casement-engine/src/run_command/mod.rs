//! Run Command: SendCommand, the agents' message queue, their replies, cancellation and
//! deadlines. The API's Run Command and agent operations and the RUN_COMMAND runner all
//! go through [`RunCommand`], so a window's command is an ordinary command.
//!
//! Every change is one store transaction that also settles the command (MaxConcurrency
//! releases, MaxErrors terminates, aggregate status), so statuses move only as agents
//! report or deadlines pass, whichever server the report reaches.

mod mailboxes;
mod runner;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use casement_documents::{builtin, interpolate, params, Document, DocumentType};
use casement_model::command::{
    clip_chars, CommandInvocation, InvocationState, DEFAULT_DELIVERY_TIMEOUT_SECS, DEFAULT_EXECUTION_TIMEOUT_SECS,
    DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_ERRORS, MAX_STDERR_CHARS, MAX_STDOUT_CHARS,
};
use casement_model::{Command, CommandDocument, PluginResult, Scope, Target};
use casement_store::{CommandUpdate, InvocationFn, Store, StoreError, Which};
use serde_json::Value;
use tokio::sync::Notify;

pub use mailboxes::{message_key, Delivery, Mailboxes, MessageKey};
pub use runner::RunCommandRunner;

use crate::documents::{self, LookupError, Owner};
use crate::Clock;

/// How long a fetched message stays hidden from the next poll while the agent has not
/// acknowledged it (the `VisibilityTimeoutInSeconds` AWS's agent asks for).
pub const VISIBILITY_MS: i64 = 10_000;
/// How long past ExpiresAfter an acknowledged invocation may stay unfinished before the
/// server gives up on its agent (the agent enforces executionTimeout itself).
const EXECUTION_GRACE_MS: i64 = 60_000;
/// Up to this many nodes, SendCommand reads each; beyond it, it pages through them all.
const NODE_LOOKUPS: usize = 64;
/// Nodes per page when paging through a fleet.
const NODE_PAGE: usize = 1_000;
/// Most executionTimeout AWS-RunShellScript accepts (48 hours).
const MAX_EXECUTION_TIMEOUT_SECS: i64 = 172_800;

/// SendCommand's request, as the service takes it.
#[derive(Debug, Clone, Default)]
pub struct SendCommand {
    /// Set when the caller needs a known ID (a window invocation's command is derived
    /// from the invocation, so a restart finds it again).
    pub command_id: Option<String>,
    pub instance_ids: Vec<String>,
    pub targets: Vec<Target>,
    pub document_name: String,
    pub document_version: Option<String>,
    pub document_hash: Option<String>,
    pub comment: Option<String>,
    pub parameters: BTreeMap<String, Vec<String>>,
    pub timeout_seconds: Option<i64>,
    pub max_concurrency: Option<String>,
    pub max_errors: Option<String>,
    pub output_s3_region: Option<String>,
    pub output_s3_bucket_name: Option<String>,
    pub output_s3_key_prefix: Option<String>,
    pub service_role: Option<String>,
    pub notification_config: Option<Value>,
    pub cloud_watch_output_config: Option<Value>,
    pub alarm_configuration: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    InvalidInstanceId(String),
    #[error("{0}")]
    InvalidDocument(String),
    #[error("{0}")]
    InvalidDocumentVersion(String),
    #[error("{0}")]
    InvalidParameters(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an agent reported in SendReply, reduced to what the invocation records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `documentStatus`: InProgress, Success, Failed, TimedOut, Cancelled…
    pub status: String,
    pub response_code: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    /// Each plugin's result the reply carries (a document of several steps reports each).
    pub plugins: Vec<PluginResult>,
}

pub struct RunCommand {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Shared with the changes a cancel hands the store (they ask whether a message was
    /// fetched).
    pub mailboxes: Arc<Mailboxes>,
    /// Rung after every command change: RUN_COMMAND invocations waiting on their command.
    pub(crate) changed: Notify,
    /// How often a waiting poll or follower re-reads the store for changes made through
    /// another server.
    pub poll: Duration,
    /// Set when the server stops: held polls answer at once (empty, or with what they
    /// found), so shutting down does not wait for them.
    stopping: std::sync::atomic::AtomicBool,
    stop: Notify,
}

impl RunCommand {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, poll: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            clock,
            mailboxes: Arc::default(),
            changed: Notify::new(),
            poll,
            stopping: std::sync::atomic::AtomicBool::new(false),
            stop: Notify::new(),
        })
    }

    /// Start the deadline sweeper (delivery and execution timeouts) on this runtime.
    pub fn start(self: &Arc<Self>) {
        let rc = self.clone();
        crate::supervise("run command deadlines", move || rc.clone().sweep());
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Hand the messages a change created to their nodes' mailboxes, and wake whatever
    /// follows commands.
    /// Returns the command as the change left it, and how many invocations it matched.
    fn announce(&self, update: CommandUpdate) -> (Arc<Command>, usize) {
        let command = &update.command;
        self.mailboxes
            .deliver(update.changed.into_iter().filter(|i| i.pending_message()).map(|i| (command.clone(), i)));
        self.changed.notify_waiters();
        (update.command, update.matched)
    }

    /// Apply `f` to the invocation of `command_id` on `node`, and announce the change.
    /// Returns whether the command was sent to that node at all.
    async fn update_on(
        &self,
        scope: &Scope,
        node: &str,
        command_id: &str,
        f: Arc<InvocationFn>,
    ) -> Result<bool, StoreError> {
        let nodes = [node.to_owned()];
        let update = self.store.update_invocations(scope, command_id, Which::Instances(&nodes), f).await?;
        Ok(update.is_some_and(|u| self.announce(u).1 > 0))
    }

    /// SendCommand: resolve the document and check the parameters against it, resolve the
    /// nodes, record the command with one Pending invocation per node, and release the
    /// first MaxConcurrency of them to their agents.
    pub async fn send(&self, scope: &Scope, req: SendCommand) -> Result<Command, SendError> {
        if let Some(id) = &req.command_id {
            // A window's command is sent again after a restart: it is the one already sent,
            // even if its document changed since.
            if let Some(existing) = self.store.get_command(scope, id).await? {
                return Ok(existing);
            }
        }
        let doc = documents::resolve(&*self.store, scope, &req.document_name, req.document_version.as_deref(), None)
            .await
            .map_err(|e| match e {
                LookupError::NotFound => SendError::InvalidDocument(format!(
                    "Document {} does not exist in your account, or is not one of the AWS documents this server runs ({}).",
                    req.document_name,
                    builtin::all().iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
                )),
                LookupError::VersionNotFound => SendError::InvalidDocumentVersion(format!(
                    "Document {} has no version {}.",
                    req.document_name,
                    req.document_version.as_deref().unwrap_or("$DEFAULT")
                )),
                LookupError::Store(e) => SendError::Store(e),
            })?;
        if doc.document.doc_type != DocumentType::Command {
            return Err(SendError::InvalidDocument(format!(
                "Document {} is an {} document; SendCommand runs Command documents.",
                doc.info.name,
                doc.document.doc_type.as_str()
            )));
        }
        if req.document_hash.as_ref().is_some_and(|h| !h.eq_ignore_ascii_case(&doc.meta.hash)) {
            return Err(SendError::InvalidDocument(format!(
                "DocumentHash does not match version {} of document {}.",
                doc.meta.version, doc.info.name
            )));
        }
        let typed = params::resolve(&doc.document.parameters, &req.parameters)
            .map_err(|e| SendError::InvalidParameters(e.0))?;
        let execution_timeout = execution_timeout(&doc.document, &typed);
        let nodes = self.resolve(scope, &req).await?;
        let now = self.now();
        let delivery = req.timeout_seconds.unwrap_or(DEFAULT_DELIVERY_TIMEOUT_SECS);
        let command_id = req.command_id.clone().unwrap_or_else(casement_model::ids::new_uuid);
        let mut cmd = Command::new(command_id, doc.info.name.clone(), now, now + (delivery + execution_timeout) * 1000);
        if doc.owner != Owner::Amazon {
            cmd.document = Some(Arc::new(CommandDocument {
                content: doc.document.value.clone(),
                parameters: typed.into_iter().collect(),
                plugins: doc.document.plugins().iter().map(|p| p.name.clone()).collect(),
            }));
        }
        cmd.document_version = req.document_version;
        cmd.comment = req.comment;
        cmd.parameters = req.parameters;
        cmd.instance_ids = req.instance_ids;
        cmd.targets = req.targets;
        cmd.timeout_seconds = req.timeout_seconds;
        cmd.max_concurrency = req.max_concurrency.unwrap_or_else(|| DEFAULT_MAX_CONCURRENCY.into());
        cmd.max_errors = req.max_errors.unwrap_or_else(|| DEFAULT_MAX_ERRORS.into());
        cmd.output_s3_region = req.output_s3_region;
        cmd.output_s3_bucket_name = req.output_s3_bucket_name;
        cmd.output_s3_key_prefix = req.output_s3_key_prefix;
        cmd.service_role = req.service_role;
        cmd.notification_config = req.notification_config;
        cmd.cloud_watch_output_config = req.cloud_watch_output_config;
        cmd.alarm_configuration = req.alarm_configuration;
        let invocations: Vec<CommandInvocation> = nodes
            .into_iter()
            .enumerate()
            .map(|(seq, (instance_id, name))| cmd.invocation(instance_id, name, seq as u32, now + delivery * 1000))
            .collect();
        let update = self.store.create_command(scope, cmd, invocations).await?;
        Ok(Arc::unwrap_or_clone(self.announce(update).0))
    }

    /// The nodes a command goes to, with their computer names: every `InstanceIds` entry
    /// must be a registered node; `Targets` select among registered nodes.
    async fn resolve(&self, scope: &Scope, req: &SendCommand) -> Result<Vec<(String, String)>, SendError> {
        let ids = if req.instance_ids.is_empty() {
            crate::targets::nodes(&*self.store, scope, &req.targets).await?
        } else {
            req.instance_ids.clone()
        };
        // Each node's computer name, by ID. A fleet is read in one pass over the registered
        // nodes, in pages, rather than a read per node (1,000 of those were most of
        // SendCommand's time).
        let mut names: HashMap<String, String> = HashMap::with_capacity(ids.len());
        if ids.len() > NODE_LOOKUPS {
            let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
            let mut after: Option<String> = None;
            loop {
                let page = self.store.list_nodes(scope, after.as_deref(), NODE_PAGE).await?;
                after = page.last().map(|n| n.instance_id.clone());
                for node in page {
                    if wanted.contains(node.instance_id.as_str()) {
                        names.insert(node.instance_id, node.computer_name.unwrap_or_default());
                    }
                }
                if after.is_none() || names.len() == wanted.len() {
                    break;
                }
            }
        } else {
            for id in &ids {
                if let Some(node) = self.store.get_node(scope, id).await? {
                    names.insert(node.instance_id, node.computer_name.unwrap_or_default());
                }
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        let mut unknown = Vec::new();
        for id in ids {
            match names.get(&id) {
                Some(name) => out.push((id, name.clone())),
                None if !req.instance_ids.is_empty() => unknown.push(id),
                None => {}
            }
        }
        if !unknown.is_empty() {
            return Err(SendError::InvalidInstanceId(format!(
                "Instances [[{}]] not in a valid state for account {}",
                unknown.join(", "),
                scope.account
            )));
        }
        Ok(out)
    }

    /// CancelCommand (on `instances`, or everywhere): invocations no agent has taken end
    /// Cancelled at once; the others become Cancelling. Either way the node gets a cancel
    /// message (a command fetched through another server may be running there), and its
    /// agent kills the process group and replies Cancelled. `None` for an unknown command.
    pub async fn cancel(
        &self,
        scope: &Scope,
        command_id: &str,
        instances: Option<&[String]>,
    ) -> Result<Option<Command>, StoreError> {
        let now = self.now();
        let which = instances.map_or(Which::All, Which::Instances);
        let mailboxes = self.mailboxes.clone();
        let update = self
            .store
            .update_invocations(
                scope,
                command_id,
                which,
                Arc::new(move |cmd, inv| {
                    cmd.cancel_requested = true;
                    if inv.state.is_final() || inv.state == InvocationState::Cancelling {
                        return false;
                    }
                    let command_message = (inv.command_id.clone(), inv.instance_id.clone(), false);
                    if inv.acked || mailboxes.fetched(&command_message, now) {
                        inv.state = InvocationState::Cancelling;
                    } else {
                        inv.finish(InvocationState::Cancelled, now);
                    }
                    inv.cancel_pending = inv.released;
                    true
                }),
            )
            .await?;
        Ok(update.map(|u| Arc::unwrap_or_clone(self.announce(u).0)))
    }

    /// Wait up to `wait` for messages for `node` (GetMessages' long poll): from its
    /// mailbox when something was put there, else from the store (at most once per
    /// `poll` interval: an agent polls again as soon as it has answered, and what this
    /// server sends reaches the mailbox anyway); each message handed out is hidden for
    /// the visibility timeout.
    pub async fn messages(&self, scope: &Scope, node: &str, wait: Duration) -> Result<Vec<Delivery>, StoreError> {
        let mailbox = self.mailboxes.get(node);
        let until = tokio::time::Instant::now() + wait;
        loop {
            let mut found = mailbox.take();
            if found.is_empty() && mailbox.store_read_due(tokio::time::Instant::now(), self.poll) {
                found = self
                    .store
                    .node_messages(scope, node, 10)
                    .await?
                    .into_iter()
                    .map(|(c, i)| (Arc::new(c), i))
                    .collect();
            }
            let now_ms = self.now();
            found.retain(|(_, inv)| self.mailboxes.offer(message_key(inv), now_ms, now_ms + VISIBILITY_MS));
            let now = tokio::time::Instant::now();
            let stop = self.stop.notified();
            if !found.is_empty() || now >= until || self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(found);
            }
            tokio::select! {
                _ = tokio::time::timeout((until - now).min(self.poll), mailbox.wake.notified()) => {}
                _ = stop => {}
            }
        }
    }

    /// The server is stopping: answer every held poll now, and any new one at once.
    pub fn stop_polls(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        self.stop.notify_waiters();
    }

    /// AcknowledgeMessage: the agent took the command (or the cancel) for `node`. Returns
    /// whether the command was sent to that node at all.
    pub async fn acknowledge(
        &self,
        scope: &Scope,
        node: &str,
        command_id: &str,
        cancel: bool,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        self.update_on(
            scope,
            node,
            command_id,
            Arc::new(move |cmd, inv| {
                if cancel {
                    let was = inv.cancel_pending;
                    inv.cancel_pending = false;
                    return was;
                }
                if inv.acked || inv.state.is_final() {
                    return false;
                }
                inv.acked = true;
                if inv.state == InvocationState::Pending || inv.state == InvocationState::Delayed {
                    inv.state = InvocationState::InProgress;
                }
                inv.start_ms.get_or_insert(now);
                inv.deadline_ms = cmd.expires_ms.max(now) + EXECUTION_GRACE_MS;
                true
            }),
        )
        .await
    }

    /// SendReply: the agent's status for the command on `node`. Returns whether the
    /// command was sent to that node at all.
    pub async fn reply(&self, scope: &Scope, node: &str, command_id: &str, reply: Reply) -> Result<bool, StoreError> {
        let now = self.now();
        self.update_on(
            scope,
            node,
            command_id,
            Arc::new(move |cmd, inv| {
                if inv.state.is_final() {
                    return false;
                }
                if !inv.acked {
                    inv.acked = true;
                    inv.start_ms.get_or_insert(now);
                    inv.deadline_ms = cmd.expires_ms.max(now) + EXECUTION_GRACE_MS;
                }
                if let Some(code) = reply.response_code {
                    inv.response_code = code;
                }
                if let Some(out) = &reply.stdout {
                    inv.stdout = clip_chars(out, MAX_STDOUT_CHARS).to_owned();
                }
                if let Some(err) = &reply.stderr {
                    inv.stderr = clip_chars(err, MAX_STDERR_CHARS).to_owned();
                }
                if !reply.plugins.is_empty() {
                    record_plugins(cmd, inv, &reply.plugins);
                }
                match reply.status.as_str() {
                    "Success" => inv.finish(InvocationState::Success, now),
                    "Failed" => inv.finish(InvocationState::Failed, now),
                    "TimedOut" => inv.finish(InvocationState::ExecutionTimedOut, now),
                    "Cancelled" => inv.finish(InvocationState::Cancelled, now),
                    _ => {
                        if matches!(inv.state, InvocationState::Pending | InvocationState::Delayed) {
                            inv.state = InvocationState::InProgress;
                        }
                        true
                    }
                }
            }),
        )
        .await
    }

    /// FailMessage: the agent could not take the command at all.
    pub async fn fail(&self, scope: &Scope, node: &str, command_id: &str, reason: &str) -> Result<bool, StoreError> {
        let reply = Reply {
            status: "Failed".into(),
            response_code: None,
            stdout: None,
            stderr: Some(format!("The agent could not run the command: {reason}")),
            plugins: Vec::new(),
        };
        self.reply(scope, node, command_id, reply).await
    }

    /// End invocations whose deadline passed: DeliveryTimedOut if never finished by
    /// their agent (or Cancelled, if a cancel was waiting for it).
    async fn sweep(self: Arc<Self>) {
        loop {
            let now = self.now();
            match self.store.due_invocations(now, 1_000).await {
                Ok(due) => {
                    for (scope, command_id, node) in due {
                        let time_out = move |_: &mut Command, inv: &mut CommandInvocation| {
                            if inv.state.is_final() || inv.deadline_ms > now {
                                return false;
                            }
                            let end = if inv.state == InvocationState::Cancelling {
                                InvocationState::Cancelled
                            } else {
                                InvocationState::DeliveryTimedOut
                            };
                            inv.finish(end, now)
                        };
                        if let Err(e) = self.update_on(&scope, &node, &command_id, Arc::new(time_out)).await {
                            tracing::warn!(error = %e, "timing out an invocation failed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading invocation deadlines failed"),
            }
            crate::clock::sleep_until(&*self.clock, now + 1_000).await;
        }
    }
}

/// Whether a plugin status is an end (`Skipped`: its precondition did not hold).
fn plugin_finished(status: &str) -> bool {
    matches!(status, "Success" | "Failed" | "TimedOut" | "Cancelled" | "Skipped")
}

/// Merge the plugins a reply reports into the invocation, and take the invocation's own
/// ResponseCode and output from the last plugin, in run order, that ran to an end (what
/// GetCommandInvocation shows of a one-step document).
fn record_plugins(cmd: &Command, inv: &mut CommandInvocation, reported: &[PluginResult]) {
    for p in reported {
        let mut p = p.clone();
        p.stdout = clip_chars(&p.stdout, MAX_STDOUT_CHARS).to_owned();
        p.stderr = clip_chars(&p.stderr, MAX_STDERR_CHARS).to_owned();
        match inv.plugins.iter_mut().find(|x| x.name == p.name) {
            Some(x) => *x = p,
            None => inv.plugins.push(p),
        }
    }
    let ran = |p: &&PluginResult| plugin_finished(&p.status) && p.status != "Skipped";
    let last = if inv.plugins.len() == 1 {
        inv.plugins.first().filter(ran)
    } else {
        let order = plugin_names(cmd);
        order.iter().rev().filter_map(|n| inv.plugins.iter().find(|p| &p.name == n)).find(ran)
    };
    if let Some(p) = last.cloned() {
        inv.response_code = p.response_code;
        inv.stdout = p.stdout;
        inv.stderr = p.stderr;
    }
}

/// How long a node may run the document: each plugin's `timeoutSeconds` (after its
/// parameters are substituted), or AWS's default of an hour, added up.
fn execution_timeout(doc: &Document, params: &BTreeMap<String, Value>) -> i64 {
    let lookup = |name: &str| params.get(name).cloned();
    doc.plugins()
        .iter()
        .map(|p| {
            let t = p.inputs.get("timeoutSeconds").map(|v| interpolate::substitute(v, &lookup));
            let secs = match t {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            };
            secs.filter(|s| *s > 0).unwrap_or(DEFAULT_EXECUTION_TIMEOUT_SECS).min(MAX_EXECUTION_TIMEOUT_SECS)
        })
        .sum()
}

/// The names of the plugins a command's document runs, in order.
pub fn plugin_names(cmd: &Command) -> Vec<String> {
    match &cmd.document {
        Some(d) => d.plugins.clone(),
        None => builtin::get(&cmd.document_name)
            .map(|b| b.document.plugins().iter().map(|p| p.name.clone()).collect())
            .unwrap_or_default(),
    }
}
