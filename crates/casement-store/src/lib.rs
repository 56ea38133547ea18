//! Durable state behind one trait. The API and (later) the engine call only [`Store`];
//! SQLite is the embedded default, and a PostgreSQL implementation plugs in behind the
//! same trait with its own migrations. The conformance suite in [`testsuite`] runs
//! against every implementation.

mod child;
mod error;
mod group_commit;
pub mod postgres;
mod rules;
pub mod sqlite;
#[doc(hidden)]
pub mod testsuite;

use std::sync::Arc;

use async_trait::async_trait;
use casement_model::{
    Activation, AutomationExecution, AutomationSignal, Command, CommandInvocation, DocumentInfo, DocumentVersion,
    ExecutionStatus, ManagedNode, NodeKey, Scope, Tag, TaskExecution, TaskInvocation, VersionMeta, Window,
    WindowExecution, WindowId, WindowTarget, WindowTargetId, WindowTask, WindowTaskId,
};

pub use error::StoreError;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// A `ClientToken` and a fingerprint of the request that carried it. The same token with
/// a different fingerprint is `IdempotentParameterMismatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub operation: &'static str,
    pub token: String,
    pub fingerprint: String,
}

/// What DescribeMaintenanceWindows filters on, pushed down into the query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowFilter {
    /// Names starting with any of these (`Name` filter values OR together).
    pub name_prefixes: Vec<String>,
    pub enabled: Option<bool>,
}

/// How a window write moves the window's next fire time (the scheduler's index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextFire {
    /// The schedule did not change: keep what the scheduler last set.
    Keep,
    /// Fire next at this instant (epoch ms).
    At(i64),
    /// Disabled, or no occurrence left.
    Never,
}

impl NextFire {
    pub fn from_option(ms: Option<i64>) -> Self {
        ms.map_or(NextFire::Never, NextFire::At)
    }

    /// The column value to write (`Keep` writes nothing, so it has none).
    pub fn ms(self) -> Option<i64> {
        match self {
            NextFire::At(ms) => Some(ms),
            NextFire::Keep | NextFire::Never => None,
        }
    }
}

/// A due occurrence, offered to the scheduler's decision inside the claiming transaction.
pub struct Due<'a> {
    pub scope: &'a Scope,
    pub window: &'a Window,
    /// The occurrence that came due (epoch ms).
    pub due_ms: i64,
    /// Whether an earlier execution of this window is still running.
    pub running: bool,
}

/// What the scheduler decided for a due occurrence; the store records it atomically
/// with the claim.
pub struct Firing {
    /// The execution to record (none: the occurrence was missed and is not run).
    pub execution: Option<WindowExecution>,
    /// The window's next occurrence after this one.
    pub next_fire_ms: Option<i64>,
    /// Outbox events for what happened.
    pub events: Vec<String>,
}

/// The scheduler's decision function, called once per due occurrence.
pub type Decide = dyn for<'a> Fn(Due<'a>) -> Firing + Send + Sync;

/// One durable change made by the engine. A batch of them commits together.
#[derive(Debug, Clone)]
pub enum Change {
    Execution(WindowExecution),
    Task(TaskExecution),
    Invocation(TaskInvocation),
    /// An event for the outbox (EventBridge-shaped JSON).
    Event(String),
}

/// DescribeMaintenanceWindowExecutions' time filters (epoch ms, inclusive of nothing:
/// `ExecutedAfter` / `ExecutedBefore`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutionFilter {
    pub started_after_ms: Option<i64>,
    pub started_before_ms: Option<i64>,
}

/// Pagination key of executions, newest first: (start, ID).
pub type ExecutionKey = (i64, String);

/// Which invocations of a command a change applies to.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    All,
    Instances(&'a [String]),
}

/// A change to one invocation (and, through it, its command), made inside the store's
/// transaction. Returns whether it changed anything. Owned and shared, because a store
/// may apply it on another request's task, batched with other changes (the group
/// commit), and again alone if that batch fails.
///
/// Of the command it may change only what [`Command::progress`] covers (whether a cancel
/// was asked for); the rest is fixed when the command is sent, and the store decides
/// from `progress` and the invocation whether anything must be written.
pub type InvocationFn = dyn Fn(&mut Command, &mut CommandInvocation) -> bool + Send + Sync;

/// A command after a change, with what the change did.
#[derive(Debug, Clone)]
pub struct CommandUpdate {
    /// Shared, not copied per update: a thousand agents' replies to one command are a
    /// thousand updates of it. In a batch of updates (the group commit) it is the
    /// command as the whole batch left it.
    pub command: Arc<Command>,
    /// Invocations the change (or the settling after it) rewrote; those with
    /// `pending_message()` are messages for their nodes.
    pub changed: Vec<CommandInvocation>,
    /// How many invocations the change was offered (found among those it chose).
    pub matched: usize,
}

/// Pagination key of commands and command invocations, newest first:
/// (requested, command ID, instance ID — empty for commands).
pub type CommandKey = (i64, String, String);

/// Writes that change a resource take the events reporting the change (EventBridge JSON)
/// and append them to the outbox in the same transaction: the event exists if and only
/// if the change does.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Insert a window and its tags. With `limit`, fails with `LimitExceeded` when the
    /// scope already holds that many windows. Returns the ID that now exists for this
    /// request (an earlier one on an idempotent retry).
    async fn create_window(
        &self,
        scope: &Scope,
        window: &Window,
        tags: &[Tag],
        idempotency: Option<&Idempotency>,
        limit: Option<usize>,
        next_fire: NextFire,
    ) -> Result<WindowId, StoreError>;
    /// Shared, not copied: the hottest read in the API.
    async fn get_window(&self, scope: &Scope, id: &WindowId) -> Result<Option<Arc<Window>>, StoreError>;
    /// Replace a stored window; `NotFound` if it was deleted meanwhile.
    async fn update_window(
        &self,
        scope: &Scope,
        window: &Window,
        next_fire: NextFire,
        events: &[String],
    ) -> Result<(), StoreError>;
    /// Delete a window with its targets, tasks and tags (its execution history stays until
    /// retention purges it). Returns whether it existed.
    async fn delete_window(&self, scope: &Scope, id: &WindowId) -> Result<bool, StoreError>;
    /// Windows ordered by ID, strictly after `after`, at most `limit`.
    async fn list_windows(
        &self,
        scope: &Scope,
        filter: &WindowFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Window>, StoreError>;

    /// `NotFound` when the window does not exist (checked in the same transaction).
    async fn register_target(
        &self,
        scope: &Scope,
        target: &WindowTarget,
        idempotency: Option<&Idempotency>,
        limit: Option<usize>,
        events: &[String],
    ) -> Result<WindowTargetId, StoreError>;
    async fn get_target(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTargetId,
    ) -> Result<Option<WindowTarget>, StoreError>;
    async fn update_target(&self, scope: &Scope, target: &WindowTarget, events: &[String]) -> Result<(), StoreError>;
    /// With `safe`, fails with `InUse` when a task of the window names the target.
    async fn deregister_target(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTargetId,
        safe: bool,
        events: &[String],
    ) -> Result<(), StoreError>;
    /// A window's targets, ordered by ID.
    async fn list_targets(&self, scope: &Scope, window: &WindowId) -> Result<Vec<WindowTarget>, StoreError>;
    /// Every target of every window in the scope, ordered by window then target ID.
    async fn list_all_targets(&self, scope: &Scope) -> Result<Vec<WindowTarget>, StoreError>;

    async fn register_task(
        &self,
        scope: &Scope,
        task: &WindowTask,
        idempotency: Option<&Idempotency>,
        limit: Option<usize>,
        events: &[String],
    ) -> Result<WindowTaskId, StoreError>;
    async fn get_task(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTaskId,
    ) -> Result<Option<WindowTask>, StoreError>;
    async fn update_task(&self, scope: &Scope, task: &WindowTask, events: &[String]) -> Result<(), StoreError>;
    async fn deregister_task(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTaskId,
        events: &[String],
    ) -> Result<(), StoreError>;
    /// A window's tasks, ordered by ID.
    async fn list_tasks(&self, scope: &Scope, window: &WindowId) -> Result<Vec<WindowTask>, StoreError>;

    /// Add or overwrite tags; `TooManyTags` if the resource would then hold more than
    /// `max_tags`.
    async fn add_tags(
        &self,
        scope: &Scope,
        resource_type: &str,
        resource_id: &str,
        tags: &[Tag],
        max_tags: usize,
    ) -> Result<(), StoreError>;
    async fn remove_tags(
        &self,
        scope: &Scope,
        resource_type: &str,
        resource_id: &str,
        keys: &[String],
    ) -> Result<(), StoreError>;
    /// Tags ordered by key.
    async fn list_tags(&self, scope: &Scope, resource_type: &str, resource_id: &str) -> Result<Vec<Tag>, StoreError>;

    /// Resources of `resource_type` carrying tag `key`, with one of `values` (any value
    /// when `values` is empty), ordered by ID.
    async fn tagged_resources(
        &self,
        scope: &Scope,
        resource_type: &str,
        key: &str,
        values: &[String],
    ) -> Result<Vec<String>, StoreError>;

    // ---- the engine ----

    /// Enabled windows of every scope without a next fire time: those that ran out of
    /// occurrences, and those stored before the scheduler existed (which the engine
    /// schedules when it starts).
    async fn unscheduled_windows(&self) -> Result<Vec<(Scope, Window)>, StoreError>;
    /// The earliest next fire time of any window in any scope.
    async fn next_due_ms(&self) -> Result<Option<i64>, StoreError>;
    /// Claim up to `limit` windows whose next fire time is at or before `now_ms`, ask
    /// `decide` what each occurrence does, and record it — execution, next fire time,
    /// events — in the same transaction as the claim, so an occurrence fires once however
    /// often this runs and on however many nodes. Recorded executions that are not final
    /// are leased to `owner` until `lease_until_ms`.
    async fn fire_due(
        &self,
        now_ms: i64,
        limit: usize,
        owner: &str,
        lease_until_ms: i64,
        decide: &Decide,
    ) -> Result<Vec<(Scope, WindowExecution)>, StoreError>;
    /// Apply engine changes (upserts by key, outbox appends) in one transaction.
    async fn apply(&self, scope: &Scope, changes: &[Change]) -> Result<(), StoreError>;
    /// Take over running executions whose lease has expired (or, on a backend that only
    /// one process can open, every running execution not owned by `owner`).
    async fn adopt_executions(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Vec<(Scope, WindowExecution)>, StoreError>;
    /// Extend the leases `owner` holds.
    async fn renew_leases(&self, owner: &str, lease_until_ms: i64) -> Result<(), StoreError>;
    /// Ask a running execution to cancel. Returns the execution as it now stands (`None`
    /// when it does not exist).
    async fn request_cancel(&self, scope: &Scope, id: &str) -> Result<Option<WindowExecution>, StoreError>;

    async fn get_execution(&self, scope: &Scope, id: &str) -> Result<Option<WindowExecution>, StoreError>;
    /// A window's executions, newest first, strictly after `after` in that order.
    async fn list_executions(
        &self,
        scope: &Scope,
        window: &WindowId,
        filter: &ExecutionFilter,
        after: Option<&ExecutionKey>,
        limit: usize,
    ) -> Result<Vec<WindowExecution>, StoreError>;
    /// An execution's task executions, by priority then start.
    async fn list_task_executions(&self, scope: &Scope, execution: &str) -> Result<Vec<TaskExecution>, StoreError>;
    async fn get_task_execution(
        &self,
        scope: &Scope,
        execution: &str,
        task_execution: &str,
    ) -> Result<Option<TaskExecution>, StoreError>;
    /// A task execution's invocations in launch order, strictly after `after_seq`,
    /// optionally only those in `statuses`.
    async fn list_invocations(
        &self,
        scope: &Scope,
        task_execution: &str,
        statuses: &[ExecutionStatus],
        after_seq: Option<u32>,
        limit: usize,
    ) -> Result<Vec<TaskInvocation>, StoreError>;
    async fn get_invocation(
        &self,
        scope: &Scope,
        execution: &str,
        task_execution: &str,
        invocation: &str,
    ) -> Result<Option<Arc<TaskInvocation>>, StoreError>;
    /// Delete final executions (with their tasks and invocations) that ended before
    /// `before_ms`, outbox events older than it, and commands requested before it whose
    /// invocations are all final. Returns executions deleted.
    async fn purge_history(&self, before_ms: i64) -> Result<usize, StoreError>;

    // ---- managed nodes ----

    /// Record an activation; only the SHA-256 of its code is kept.
    async fn create_activation(
        &self,
        scope: &Scope,
        activation: &Activation,
        code_sha256: &str,
        tags: &[Tag],
    ) -> Result<(), StoreError>;
    async fn get_activation(&self, scope: &Scope, id: &str) -> Result<Option<Activation>, StoreError>;
    /// Activations ordered by ID, strictly after `after`.
    async fn list_activations(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Activation>, StoreError>;
    async fn delete_activation(&self, scope: &Scope, id: &str) -> Result<bool, StoreError>;
    /// Register a node with an activation, in one transaction: the code must match and
    /// the activation be unexpired and under its limit (else `Refused`, or `NotFound`
    /// for an unknown activation). The node takes the activation's role and default
    /// name. Returns the node's scope and the node as stored.
    async fn register_node(
        &self,
        activation_id: &str,
        code_sha256: &str,
        now_ms: i64,
        node: ManagedNode,
        access_key_id: &str,
        secret: &str,
    ) -> Result<(Scope, ManagedNode), StoreError>;
    /// The node that owns an access key (deregistered ones included, flagged).
    async fn node_key(&self, access_key_id: &str) -> Result<Option<NodeKey>, StoreError>;
    /// Replace what a node reported about itself; its ping time becomes `last_ping_ms`.
    async fn update_node(&self, scope: &Scope, node: &ManagedNode) -> Result<bool, StoreError>;
    /// Record that a node was heard from.
    async fn ping_node(&self, scope: &Scope, id: &str, now_ms: i64) -> Result<(), StoreError>;
    /// A registered (not deregistered) node.
    async fn get_node(&self, scope: &Scope, id: &str) -> Result<Option<ManagedNode>, StoreError>;
    /// Registered nodes ordered by ID, strictly after `after`.
    async fn list_nodes(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ManagedNode>, StoreError>;
    /// Deregister a node: its key stops working and its tags go. Returns whether it was
    /// registered.
    async fn deregister_node(&self, scope: &Scope, id: &str) -> Result<bool, StoreError>;

    // ---- documents ----

    /// Record a new document with its first version and tags; `AlreadyExists` when the
    /// scope holds a document of that name.
    async fn create_document(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        version: &DocumentVersion,
        tags: &[Tag],
    ) -> Result<(), StoreError>;
    async fn get_document(&self, scope: &Scope, name: &str) -> Result<Option<DocumentInfo>, StoreError>;
    async fn get_document_version(
        &self,
        scope: &Scope,
        name: &str,
        version: u32,
    ) -> Result<Option<DocumentVersion>, StoreError>;
    /// A document's versions (without content), oldest first, after version `after`.
    async fn list_document_versions(
        &self,
        scope: &Scope,
        name: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<VersionMeta>, StoreError>;
    /// Add a version and replace the document record, provided its latest version is
    /// still `expected_latest` (`Conflict` otherwise, `NotFound` if it was deleted): the
    /// caller checked the new version against the versions it read.
    async fn add_document_version(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        version: &DocumentVersion,
        expected_latest: u32,
    ) -> Result<(), StoreError>;
    /// Replace the document record (default version, sharing) under the same condition.
    async fn update_document(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        expected_latest: u32,
    ) -> Result<(), StoreError>;
    /// Delete a document with every version, its shares and its tags. Returns whether it
    /// existed.
    async fn delete_document(&self, scope: &Scope, name: &str) -> Result<bool, StoreError>;
    /// Delete one version and replace the document record (its latest version may move),
    /// under the same condition as [`Store::add_document_version`]. Returns whether the
    /// version existed (nothing is written when it did not).
    async fn delete_document_version(
        &self,
        scope: &Scope,
        document: &DocumentInfo,
        version: u32,
        expected_latest: u32,
    ) -> Result<bool, StoreError>;
    /// Documents ordered by name after `after`, each with its default version's record.
    async fn list_documents(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(DocumentInfo, VersionMeta)>, StoreError>;
    /// Documents of other accounts in `scope`'s region shared with `scope`'s account (or
    /// with all), ordered by (owner account, name) after `after`, each with its owner
    /// and its default version's record.
    async fn list_shared_documents(
        &self,
        scope: &Scope,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> Result<Vec<(String, DocumentInfo, VersionMeta)>, StoreError>;

    // ---- Automation ----

    /// Record a new automation execution with its tags, driven by `owner` until
    /// `lease_until_ms`. With a ClientToken, a repeat returns the first execution's ID.
    async fn create_automation(
        &self,
        scope: &Scope,
        execution: &AutomationExecution,
        tags: &[Tag],
        idempotency: Option<&Idempotency>,
        owner: &str,
        lease_until_ms: i64,
    ) -> Result<String, StoreError>;
    /// Write a driven execution with its events, and drop the signals it has consumed
    /// (sequence numbers up to `consumed`), in one transaction, provided `owner` still
    /// drives it (`Conflict` otherwise: another server took it over).
    async fn put_automation(
        &self,
        scope: &Scope,
        execution: &AutomationExecution,
        owner: &str,
        consumed: Option<i64>,
        events: &[String],
    ) -> Result<(), StoreError>;
    async fn get_automation(&self, scope: &Scope, id: &str) -> Result<Option<AutomationExecution>, StoreError>;
    /// Executions newest first (by creation, then ID), strictly after `after`.
    async fn list_automations(
        &self,
        scope: &Scope,
        after: Option<&ExecutionKey>,
        limit: usize,
    ) -> Result<Vec<AutomationExecution>, StoreError>;
    /// Queue a signal for an execution's driver.
    async fn add_automation_signal(&self, scope: &Scope, id: &str, signal: &AutomationSignal)
        -> Result<(), StoreError>;
    /// The signals waiting for an execution, oldest first, with their sequence numbers.
    async fn automation_signals(&self, scope: &Scope, id: &str) -> Result<Vec<(i64, AutomationSignal)>, StoreError>;
    /// Take over executions that are not final and whose driver's lease has run out (or,
    /// on a backend one process owns, every one not driven by `owner`).
    async fn adopt_automations(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Vec<(Scope, AutomationExecution)>, StoreError>;
    async fn renew_automation_leases(&self, owner: &str, lease_until_ms: i64) -> Result<(), StoreError>;
    /// How many executions of the scope have started and not ended (the concurrency
    /// limit counts these; Pending ones wait).
    async fn running_automations(&self, scope: &Scope) -> Result<usize, StoreError>;

    // ---- Run Command ----

    /// Record a command and its invocations, then settle it (MaxConcurrency releases the
    /// first invocations).
    async fn create_command(
        &self,
        scope: &Scope,
        command: Command,
        invocations: Vec<CommandInvocation>,
    ) -> Result<CommandUpdate, StoreError>;
    /// Apply `f` to the chosen invocations of a command, then settle
    /// the command ([`casement_model::command::settle`]): release waiting invocations,
    /// terminate them after too many errors, recompute the aggregate status. One
    /// transaction; `None` when the command does not exist.
    async fn update_invocations(
        &self,
        scope: &Scope,
        command_id: &str,
        which: Which<'_>,
        f: Arc<InvocationFn>,
    ) -> Result<Option<CommandUpdate>, StoreError>;
    async fn get_command(&self, scope: &Scope, id: &str) -> Result<Option<Command>, StoreError>;
    /// Commands newest first (only those sent to `instance`, if given), after `after`.
    async fn list_commands(
        &self,
        scope: &Scope,
        instance: Option<&str>,
        after: Option<&CommandKey>,
        limit: usize,
    ) -> Result<Vec<Command>, StoreError>;
    async fn get_command_invocation(
        &self,
        scope: &Scope,
        command_id: &str,
        instance_id: &str,
    ) -> Result<Option<CommandInvocation>, StoreError>;
    /// Invocations newest first, of one command and/or one node, after `after`.
    async fn list_command_invocations(
        &self,
        scope: &Scope,
        command: Option<&str>,
        instance: Option<&str>,
        after: Option<&CommandKey>,
        limit: usize,
    ) -> Result<Vec<CommandInvocation>, StoreError>;
    /// The messages waiting for a node: released, unacknowledged commands and cancels,
    /// oldest first, each with its command.
    async fn node_messages(
        &self,
        scope: &Scope,
        instance_id: &str,
        limit: usize,
    ) -> Result<Vec<(Command, CommandInvocation)>, StoreError>;
    /// Non-final invocations whose deadline has passed: (scope, command, instance).
    async fn due_invocations(&self, now_ms: i64, limit: usize) -> Result<Vec<(Scope, String, String)>, StoreError>;

    /// Outbox events after `after_seq`, oldest first.
    async fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<(i64, String)>, StoreError>;
    /// How far `sink` has delivered (0: nothing yet).
    async fn event_cursor(&self, sink: &str) -> Result<i64, StoreError>;
    async fn set_event_cursor(&self, sink: &str, seq: i64) -> Result<(), StoreError>;
}
