use serde::{Deserialize, Serialize};

use crate::WindowId;

/// A maintenance window as stored. Times are epoch milliseconds; the schedule strings
/// are kept exactly as the caller gave them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Window {
    pub window_id: WindowId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    pub schedule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_offset: Option<i32>,
    pub duration: i32,
    pub cutoff: i32,
    pub allow_unassociated_targets: bool,
    pub enabled: bool,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// When the current schedule took effect: creation, or the last update that changed a
    /// schedule member. Rate schedules count from it. (`None` in documents written before
    /// it existed: creation time.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_anchor_ms: Option<i64>,
}

impl Window {
    pub fn schedule_anchor_ms(&self) -> i64 {
        self.schedule_anchor_ms.unwrap_or(self.created_ms)
    }
}
