//! Cross-member rules SSM enforces beyond the model's per-member constraints.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use casement_model::{insert_bounded, Window};
use casement_protocol::ApiError;
use casement_schedule::WindowSchedule;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `Cutoff` must leave at least an hour of the window for starting tasks. The message,
/// typo included, is SSM's own.
pub fn check_cutoff(duration: i32, cutoff: i32) -> Result<(), ApiError> {
    if cutoff >= duration {
        return Err(ApiError::Validation(format!(
            "Cuttoff was {cutoff} but must be smaller than {} (Duration - 1 )",
            duration - 1
        )));
    }
    Ok(())
}

/// A window's schedule members, checked together (expression, zone, offset, dates), as
/// of `anchor_ms`: what Create/UpdateMaintenanceWindow refuse and what NextExecutionTime
/// and DescribeMaintenanceWindowSchedule evaluate.
pub fn window_schedule(w: &Window) -> Result<WindowSchedule, ApiError> {
    casement_engine::window_schedule::window_schedule(w).map_err(|e| ApiError::Validation(e.0))
}

pub use casement_engine::window_schedule::instant;

/// Parsed window schedules, reused while a window's schedule members are unchanged:
/// GetMaintenanceWindow and DescribeMaintenanceWindows report NextExecutionTime on every
/// call, and parsing the expression and zone each time cost more than evaluating them.
#[derive(Default)]
pub struct ScheduleCache {
    map: RwLock<HashMap<String, (ScheduleMembers, Arc<WindowSchedule>)>>,
}

/// The members a window's schedule is built from; equal members, equal schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleMembers {
    schedule: String,
    zone: Option<String>,
    offset: Option<i32>,
    start: Option<String>,
    end: Option<String>,
    anchor_ms: i64,
}

impl ScheduleMembers {
    pub fn of(w: &Window) -> Self {
        Self {
            schedule: w.schedule.clone(),
            zone: w.schedule_timezone.clone(),
            offset: w.schedule_offset,
            start: w.start_date.clone(),
            end: w.end_date.clone(),
            anchor_ms: w.schedule_anchor_ms(),
        }
    }

    /// Compared in place, without building the members of `w`.
    fn matches(&self, w: &Window) -> bool {
        self.schedule == w.schedule
            && self.zone == w.schedule_timezone
            && self.offset == w.schedule_offset
            && self.start == w.start_date
            && self.end == w.end_date
            && self.anchor_ms == w.schedule_anchor_ms()
    }
}

impl ScheduleCache {
    /// The window's parsed schedule (`None` if its stored members do not parse).
    pub fn get(&self, w: &Window) -> Option<Arc<WindowSchedule>> {
        if let Some((members, parsed)) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(w.window_id.as_str()) {
            if members.matches(w) {
                return Some(parsed.clone());
            }
        }
        let parsed = Arc::new(window_schedule(w).ok()?);
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        insert_bounded(&mut map, 100_000, w.window_id.as_str().to_owned(), (ScheduleMembers::of(w), parsed.clone()));
        Some(parsed)
    }
}

/// `NextExecutionTime`: absent for disabled windows and for windows that will not run
/// again (expired, at() already past).
pub fn next_execution_time(cache: &ScheduleCache, w: &Window, now_ms: i64) -> Option<String> {
    if !w.enabled {
        return None;
    }
    let ws = cache.get(w)?;
    ws.next_after(instant(now_ms)).map(|t| casement_schedule::format_execution_time(t, ws.zone))
}

/// A member `Replace=true` makes required, reported the way the model's own
/// required-member check reports it.
pub fn require<T>(value: Option<T>, member: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        ApiError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// A fingerprint of a request for `ClientToken` idempotency: the SHA-256 of its
/// canonical JSON (keys sorted), without the token itself.
pub fn fingerprint<T: serde::Serialize>(req: &T) -> String {
    let mut v = serde_json::to_value(req).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("ClientToken");
    }
    let mut out = String::new();
    canonical(&v, &mut out);
    hex::encode(Sha256::digest(out.as_bytes()))
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for k in keys {
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
                out.push(',');
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for x in a {
                canonical(x, out);
                out.push(',');
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cutoff_message_is_ssms() {
        assert_eq!(
            check_cutoff(6, 12).unwrap_err().message().unwrap(),
            "Cuttoff was 12 but must be smaller than 5 (Duration - 1 )"
        );
        assert!(check_cutoff(2, 1).is_ok());
        assert!(check_cutoff(2, 2).is_err());
    }

    #[test]
    fn fingerprint_ignores_key_order_and_token() {
        let a = json!({"Name": "a", "Duration": 2, "ClientToken": "x"});
        let b = json!({"Duration": 2, "Name": "a", "ClientToken": "y"});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"Name": "b", "Duration": 2})));
    }
}
