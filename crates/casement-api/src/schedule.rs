//! DescribeMaintenanceWindowSchedule: the upcoming executions of one window, of every
//! window that targets the given nodes, or of all the caller's windows, merged in time
//! order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use casement_model::{Target, Window, WindowId};
use casement_protocol::ApiError;
use casement_schedule::{format_execution_time, parse_date_time, WindowSchedule};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::windows::{load, windows_by_id, windows_targeting, Filter};
use crate::{errors::internal, pagination, rules, Api, Context};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub window_id: Option<WindowId>,
    pub targets: Option<Vec<Target>>,
    pub resource_type: Option<String>,
    pub filters: Option<Vec<Filter>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduledWindowExecution {
    pub window_id: WindowId,
    pub name: String,
    pub execution_time: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub scheduled_window_executions: Vec<ScheduledWindowExecution>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ScheduledAfter` / `ScheduledBefore` (the keys AWS's CLI examples use), ISO-8601.
/// (`ScheduledAfter`, `ScheduledBefore`)
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn bounds(filters: &[Filter]) -> Result<Bounds, ApiError> {
    crate::windows::check_filter_keys(filters, &["ScheduledBefore", "ScheduledAfter"])?;
    let (mut after, mut before) = (None, None);
    for f in filters {
        let Some(value) = f.values.as_deref().and_then(|v| v.first()) else { continue };
        let t = parse_date_time(value, None).map_err(|e| ApiError::Validation(e.0))?;
        match f.key.as_deref() {
            Some("ScheduledAfter") => after = Some(t),
            _ => before = Some(t),
        }
    }
    Ok((after, before))
}

/// A page resumes after the (time, window) of the last execution served.
fn encode_cursor(t: DateTime<Utc>, id: &WindowId) -> String {
    pagination::encode(&format!("{}/{id}", t.timestamp_millis()))
}

fn decode_cursor(token: Option<&str>) -> Result<Option<(i64, String)>, ApiError> {
    let Some(key) = pagination::decode(token)? else { return Ok(None) };
    let (ms, id) =
        key.split_once('/').ok_or_else(|| ApiError::Validation("The specified NextToken is not valid.".into()))?;
    let ms = ms.parse().map_err(|_| ApiError::Validation("The specified NextToken is not valid.".into()))?;
    Ok(Some((ms, id.to_owned())))
}

pub async fn describe(api: &Api, ctx: &Context, req: Request) -> Result<Response, ApiError> {
    let (after, before) = bounds(req.filters.as_deref().unwrap_or(&[]))?;
    let cursor = decode_cursor(req.next_token.as_deref())?;
    let windows: Vec<Arc<Window>> = match (&req.window_id, &req.targets, &req.resource_type) {
        (Some(id), _, _) => vec![load(api, ctx, id).await?],
        (None, Some(targets), Some(rt)) if !targets.is_empty() => {
            windows_by_id(api, ctx, windows_targeting(api, ctx, targets, rt).await?).await?
        }
        (None, Some(targets), None) if !targets.is_empty() => {
            return Err(ApiError::Validation("Targets must be given with ResourceType.".into()))
        }
        // Neither: every window of the caller's, so an account's whole upcoming
        // schedule can be listed (a choice: AWS documents only the two forms above).
        _ => {
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = api
                    .store
                    .list_windows(&ctx.scope, &Default::default(), after.as_deref(), 1000)
                    .await
                    .map_err(internal)?;
                let Some(last) = page.last() else { break };
                after = Some(last.window_id.to_string());
                out.extend(page.into_iter().map(Arc::new));
            }
            out
        }
    };
    let now = rules::instant(ctx.now_ms);
    let start = after.map_or(now, |a| a.max(now));
    // Resume at the cursor's instant (ties broken by window ID below).
    let from = match &cursor {
        Some((ms, _)) => rules::instant(*ms - 1).max(start),
        None => start,
    };
    let size = pagination::page_size(req.max_results, 50, 1000);

    // A k-way merge: one pending occurrence per window in a heap, so a page costs about
    // (windows + page size) next-occurrence computations. Schedules come parsed from the
    // cache; names from the windows as stored now.
    let schedules: Vec<(&Window, Arc<WindowSchedule>)> =
        windows.iter().filter(|w| w.enabled).filter_map(|w| Some((&**w, api.schedules.get(w)?))).collect();
    let mut heap = BinaryHeap::new();
    for (i, (w, s)) in schedules.iter().enumerate() {
        if let Some(t) = s.next_after(from) {
            heap.push(Reverse((t, w.window_id.clone(), i)));
        }
    }
    let mut items = Vec::new();
    let mut last = None;
    while let Some(Reverse((t, id, i))) = heap.pop() {
        if before.is_some_and(|b| t >= b) {
            break;
        }
        if let Some(s) = schedules[i].1.next_after(t) {
            heap.push(Reverse((s, id.clone(), i)));
        }
        if let Some((ms, cid)) = &cursor {
            if (t.timestamp_millis(), id.as_str()) <= (*ms, cid.as_str()) {
                continue;
            }
        }
        if items.len() == size {
            // One more exists: the page is full and a next page has something.
            heap.push(Reverse((t, id, i)));
            break;
        }
        let (w, s) = &schedules[i];
        items.push(ScheduledWindowExecution {
            window_id: id.clone(),
            name: w.name.clone(),
            execution_time: format_execution_time(t, s.zone),
        });
        last = Some((t, id));
    }
    let more = items.len() == size && !heap.is_empty();
    let next_token = match (more, last) {
        (true, Some((t, id))) => Some(encode_cursor(t, &id)),
        _ => None,
    };
    Ok(Response { scheduled_window_executions: items, next_token })
}
