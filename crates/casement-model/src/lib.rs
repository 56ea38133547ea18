//! Domain types of Casement, named as AWS names them.
//!
//! These types are what the store persists and what the API serves. Their serde form is
//! SSM's own (PascalCase members, `None` omitted), because the nested structures —
//! targets, task invocation parameters, alarm configuration — are exactly AWS's and
//! round-trip to clients member for member.

pub mod automation;
pub mod command;
pub mod document;
pub mod execution;
pub mod ids;
pub mod limits;
pub mod node;
pub mod scope;
pub mod tag;
pub mod target;
pub mod task;
pub mod window;

pub use automation::{AutomationExecution, AutomationSignal, StepExecution};
pub use command::{Command, CommandDocument, CommandInvocation, InvocationState, PluginResult};
pub use document::{DocumentInfo, DocumentParameter, DocumentVersion, VersionMeta};
pub use execution::{ExecutionStatus, ResolvedTarget, TaskExecution, TaskInvocation, WindowExecution};
pub use ids::{WindowId, WindowTargetId, WindowTaskId};
pub use node::{Activation, ManagedNode, NodeKey};
pub use scope::Scope;
pub use tag::Tag;
pub use target::{Target, WindowTarget};
pub use task::{TaskInvocationParameters, TaskType, WindowTask};
pub use window::Window;

/// The map for the servers' in-memory indexes (caches by ID, mailboxes, node keys): keys
/// are IDs this server issued or already checked, so the fast seeded hash is enough and
/// SipHash's cost is not paid on every request.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Insert into an in-memory cache that starts over once it holds `max` entries. Every
/// cache here holds what the store (or a recomputation) gives again, so forgetting all
/// at once is cheaper than tracking which entry was used last.
pub fn insert_bounded<K, V, S>(map: &mut std::collections::HashMap<K, V, S>, max: usize, key: K, value: V)
where
    K: Eq + std::hash::Hash,
    S: std::hash::BuildHasher,
{
    if map.len() >= max {
        map.clear();
    }
    map.insert(key, value);
}
