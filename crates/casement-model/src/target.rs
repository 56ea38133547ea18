//! Window targets: which managed nodes (or resource groups) a window acts on.

use serde::{Deserialize, Serialize};

use crate::{WindowId, WindowTargetId};

/// One `Key=…,Values=…` selector: `InstanceIds`, `tag:<key>`, `tag-key`,
/// `resource-groups:Name`, `resource-groups:ResourceTypeFilters`, or (in tasks)
/// `WindowTargetIds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

impl Target {
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or("")
    }
    pub fn values(&self) -> &[String] {
        self.values.as_deref().unwrap_or(&[])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WindowTarget {
    pub window_id: WindowId,
    pub window_target_id: WindowTargetId,
    pub resource_type: String,
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_information: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}
