//! Target resolution, done when a task starts (so tags are read then, not at
//! registration).
//!
//! A task names window targets (`WindowTargetIds`) or nodes (`InstanceIds`); a window
//! target names nodes by `InstanceIds`, `tag:<key>` (all tag pairs must match) or
//! `tag-key` (all keys must be present), matched against the tags of managed nodes
//! (`ResourceType=ManagedInstance`). Resource groups cannot be resolved here: they match
//! nothing. A task without targets gets one targetless invocation.

use std::collections::BTreeSet;

use casement_model::{ResolvedTarget, Scope, Target, WindowId, WindowTargetId, WindowTask};
use casement_store::{Store, StoreError};

use casement_model::node::NODE_RESOURCE_TYPE as NODE_TAGS;

pub async fn resolve(
    store: &dyn Store,
    scope: &Scope,
    window: &WindowId,
    task: &WindowTask,
) -> Result<Vec<ResolvedTarget>, StoreError> {
    if task.targets.is_empty() {
        return Ok(vec![ResolvedTarget {
            resource_id: String::new(),
            target_type: String::new(),
            window_target_id: None,
            owner_information: None,
        }]);
    }
    let mut out = Vec::new();
    for t in &task.targets {
        match t.key() {
            "WindowTargetIds" => {
                for id in t.values() {
                    let Some(wt) = store.get_target(scope, window, &WindowTargetId::from(id.as_str())).await? else {
                        continue;
                    };
                    for node in nodes(store, scope, &wt.targets).await? {
                        out.push(ResolvedTarget {
                            resource_id: node,
                            target_type: wt.resource_type.clone(),
                            window_target_id: Some(wt.window_target_id.to_string()),
                            owner_information: wt.owner_information.clone(),
                        });
                    }
                }
            }
            "InstanceIds" => out.extend(t.values().iter().map(|id| ResolvedTarget {
                resource_id: id.clone(),
                target_type: "INSTANCE".into(),
                window_target_id: None,
                owner_information: None,
            })),
            _ => {}
        }
    }
    Ok(out)
}

/// The nodes one window target's selectors match (every selector must match), sorted.
pub(crate) async fn nodes(store: &dyn Store, scope: &Scope, selectors: &[Target]) -> Result<Vec<String>, StoreError> {
    let mut matched: Option<BTreeSet<String>> = None;
    let mut narrow = |found: BTreeSet<String>| {
        matched = Some(match matched.take() {
            None => found,
            Some(m) => m.intersection(&found).cloned().collect(),
        });
    };
    for s in selectors {
        let key = s.key();
        if key == "InstanceIds" {
            narrow(s.values().iter().cloned().collect());
        } else if let Some(tag) = key.strip_prefix("tag:") {
            narrow(store.tagged_resources(scope, NODE_TAGS, tag, s.values()).await?.into_iter().collect());
        } else if key == "tag-key" {
            for k in s.values() {
                narrow(store.tagged_resources(scope, NODE_TAGS, k, &[]).await?.into_iter().collect());
            }
        } else {
            // resource-groups:*: not resolvable without a resource-groups service.
            narrow(BTreeSet::new());
        }
    }
    Ok(matched.unwrap_or_default().into_iter().collect())
}
