//! Durable state behind one trait. The API and (later) the engine call only [`Store`];
//! SQLite is the embedded default, and a PostgreSQL implementation plugs in behind the
//! same trait with its own migrations. The conformance suite in [`testsuite`] runs
//! against every implementation.

mod child;
mod error;
pub mod postgres;
pub mod sqlite;
#[doc(hidden)]
pub mod testsuite;

use std::sync::Arc;

use async_trait::async_trait;
use casement_model::{Scope, Tag, Window, WindowId, WindowTarget, WindowTargetId, WindowTask, WindowTaskId};

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
    ) -> Result<WindowId, StoreError>;
    /// Shared, not copied: the hottest read in the API.
    async fn get_window(&self, scope: &Scope, id: &WindowId) -> Result<Option<Arc<Window>>, StoreError>;
    /// Replace a stored window; `NotFound` if it was deleted meanwhile.
    async fn update_window(&self, scope: &Scope, window: &Window) -> Result<(), StoreError>;
    /// Delete a window with its targets, tasks and tags. Returns whether it existed.
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
    ) -> Result<WindowTargetId, StoreError>;
    async fn get_target(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTargetId,
    ) -> Result<Option<WindowTarget>, StoreError>;
    async fn update_target(&self, scope: &Scope, target: &WindowTarget) -> Result<(), StoreError>;
    /// With `safe`, fails with `InUse` when a task of the window names the target.
    async fn deregister_target(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTargetId,
        safe: bool,
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
    ) -> Result<WindowTaskId, StoreError>;
    async fn get_task(
        &self,
        scope: &Scope,
        window: &WindowId,
        id: &WindowTaskId,
    ) -> Result<Option<WindowTask>, StoreError>;
    async fn update_task(&self, scope: &Scope, task: &WindowTask) -> Result<(), StoreError>;
    async fn deregister_task(&self, scope: &Scope, window: &WindowId, id: &WindowTaskId) -> Result<(), StoreError>;
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
}
