//! A stored window's schedule members, evaluated together.

use casement_model::Window;
use casement_schedule::{ScheduleError, WindowSchedule};
use chrono::{DateTime, Utc};

/// The window's schedule as of its anchor (creation, or the last schedule change): what
/// Create/UpdateMaintenanceWindow check, NextExecutionTime reports and the scheduler fires.
pub fn window_schedule(w: &Window) -> Result<WindowSchedule, ScheduleError> {
    WindowSchedule::new(
        &w.schedule,
        w.schedule_timezone.as_deref(),
        w.schedule_offset,
        w.start_date.as_deref(),
        w.end_date.as_deref(),
        instant(w.schedule_anchor_ms()),
    )
}

pub fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The first occurrence strictly after `after_ms`, for an enabled window.
pub fn next_fire_after(w: &Window, after_ms: i64) -> Option<i64> {
    if !w.enabled {
        return None;
    }
    let ws = window_schedule(w).ok()?;
    ws.next_after(instant(after_ms)).map(|t| t.timestamp_millis())
}
