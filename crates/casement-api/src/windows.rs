//! CreateMaintenanceWindow, GetMaintenanceWindow, UpdateMaintenanceWindow,
//! DeleteMaintenanceWindow, DescribeMaintenanceWindows, DescribeMaintenanceWindowsForTarget.

use std::sync::Arc;

use casement_engine::events;
use casement_engine::window_schedule::next_fire_after;
use casement_model::{Tag, Target, Window, WindowId};
use casement_protocol::{timefmt, ApiError};
use casement_store::{Idempotency, NextFire, StoreError, WindowFilter};
use serde::{Deserialize, Serialize};

use crate::errors::{internal, on_create, window_not_found};
use crate::rules::ScheduleMembers;
use crate::{pagination, rules, Api, Context};

/// AWS's published quota: maintenance windows per account and Region.
pub const MAX_WINDOWS: usize = 50;

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    pub name: String,
    pub description: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub schedule: String,
    pub schedule_timezone: Option<String>,
    pub schedule_offset: Option<i32>,
    pub duration: i32,
    pub cutoff: i32,
    pub allow_unassociated_targets: bool,
    pub client_token: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateResult {
    pub window_id: WindowId,
}

pub async fn create(api: &Api, ctx: &Context, req: CreateRequest) -> Result<CreateResult, ApiError> {
    rules::check_cutoff(req.duration, req.cutoff)?;
    let idem = req.client_token.as_ref().map(|t| Idempotency {
        operation: "CreateMaintenanceWindow",
        token: t.clone(),
        fingerprint: rules::fingerprint(&req),
    });
    let window = Window {
        window_id: WindowId::generate(),
        name: req.name,
        description: req.description,
        start_date: req.start_date,
        end_date: req.end_date,
        schedule: req.schedule,
        schedule_timezone: req.schedule_timezone,
        schedule_offset: req.schedule_offset,
        duration: req.duration,
        cutoff: req.cutoff,
        allow_unassociated_targets: req.allow_unassociated_targets,
        enabled: true,
        created_ms: ctx.now_ms,
        modified_ms: ctx.now_ms,
        schedule_anchor_ms: Some(ctx.now_ms),
    };
    rules::window_schedule(&window)?;
    let limit = api.config.aws_quotas.then_some(MAX_WINDOWS);
    let tags = req.tags.unwrap_or_default();
    let next_fire = NextFire::from_option(next_fire_after(&window, ctx.now_ms));
    let window_id = api
        .store
        .create_window(&ctx.scope, &window, &tags, idem.as_ref(), limit, next_fire)
        .await
        .map_err(|e| on_create(e, || ApiError::Internal("window vanished".into()), "maintenance windows"))?;
    api.signals.schedule_changed();
    Ok(CreateResult { window_id })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRequest {
    pub window_id: WindowId,
}

/// GetMaintenanceWindowResult and UpdateMaintenanceWindowResult share these members;
/// only Get carries the dates (`created`/`modified` are `None` for Update). Borrowed from
/// the stored window: Get serializes straight from the store's shared copy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WindowResult<'a> {
    pub window_id: &'a WindowId,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<&'a str>,
    pub schedule: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_timezone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_offset: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_execution_time: Option<String>,
    pub duration: i32,
    pub cutoff: i32,
    pub allow_unassociated_targets: bool,
    pub enabled: bool,
    #[serde(
        rename = "CreatedDate",
        serialize_with = "timefmt::opt_epoch_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<i64>,
    #[serde(
        rename = "ModifiedDate",
        serialize_with = "timefmt::opt_epoch_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub modified: Option<i64>,
}

/// What Get and Update answer: the window (shared with the store's cache), serialized as
/// [`WindowResult`] without copying it.
#[derive(Debug)]
pub struct WindowOut {
    window: Arc<Window>,
    with_dates: bool,
    next_execution_time: Option<String>,
}

impl Serialize for WindowOut {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WindowResult::new(&self.window, self.with_dates, self.next_execution_time.as_deref()).serialize(s)
    }
}

impl<'a> WindowResult<'a> {
    fn new(w: &'a Window, with_dates: bool, next_execution_time: Option<&str>) -> Self {
        Self {
            next_execution_time: next_execution_time.map(str::to_owned),
            window_id: &w.window_id,
            name: &w.name,
            description: w.description.as_deref(),
            start_date: w.start_date.as_deref(),
            end_date: w.end_date.as_deref(),
            schedule: &w.schedule,
            schedule_timezone: w.schedule_timezone.as_deref(),
            schedule_offset: w.schedule_offset,
            duration: w.duration,
            cutoff: w.cutoff,
            allow_unassociated_targets: w.allow_unassociated_targets,
            enabled: w.enabled,
            created: with_dates.then_some(w.created_ms),
            modified: with_dates.then_some(w.modified_ms),
        }
    }
}

/// Fetch a window of the caller's, or SSM's `DoesNotExistException`.
pub(crate) async fn load(api: &Api, ctx: &Context, id: &WindowId) -> Result<Arc<Window>, ApiError> {
    api.store.get_window(&ctx.scope, id).await.map_err(internal)?.ok_or_else(|| window_not_found(id.as_str()))
}

pub async fn get(api: &Api, ctx: &Context, req: GetRequest) -> Result<WindowOut, ApiError> {
    let window = load(api, ctx, &req.window_id).await?;
    let next_execution_time = rules::next_execution_time(&api.schedules, &window, ctx.now_ms);
    Ok(WindowOut { window, with_dates: true, next_execution_time })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateRequest {
    pub window_id: WindowId,
    pub name: Option<String>,
    pub description: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub schedule: Option<String>,
    pub schedule_timezone: Option<String>,
    pub schedule_offset: Option<i32>,
    pub duration: Option<i32>,
    pub cutoff: Option<i32>,
    pub allow_unassociated_targets: Option<bool>,
    pub enabled: Option<bool>,
    pub replace: Option<bool>,
}

/// Without `Replace`, members not given keep their values. With `Replace`, the members
/// CreateMaintenanceWindow requires must be given and the optional ones not given are
/// cleared.
pub async fn update(api: &Api, ctx: &Context, req: UpdateRequest) -> Result<WindowOut, ApiError> {
    let before = load(api, ctx, &req.window_id).await?;
    let mut w = Window::clone(&before);
    if req.replace.unwrap_or(false) {
        w.name = rules::require(req.name, "name")?;
        w.schedule = rules::require(req.schedule, "schedule")?;
        w.duration = rules::require(req.duration, "duration")?;
        w.cutoff = rules::require(req.cutoff, "cutoff")?;
        w.allow_unassociated_targets = rules::require(req.allow_unassociated_targets, "allowUnassociatedTargets")?;
        w.description = req.description;
        w.start_date = req.start_date;
        w.end_date = req.end_date;
        w.schedule_timezone = req.schedule_timezone;
        w.schedule_offset = req.schedule_offset;
        w.enabled = req.enabled.unwrap_or(true);
    } else {
        macro_rules! merge {
            ($($field:ident),*) => { $( if let Some(v) = req.$field { w.$field = v; } )* };
        }
        macro_rules! merge_opt {
            ($($field:ident),*) => { $( if req.$field.is_some() { w.$field = req.$field; } )* };
        }
        merge!(name, schedule, duration, cutoff, allow_unassociated_targets, enabled);
        merge_opt!(description, start_date, end_date, schedule_timezone, schedule_offset);
    }
    rules::check_cutoff(w.duration, w.cutoff)?;
    w.modified_ms = ctx.now_ms;
    let schedule_changed = ScheduleMembers::of(&w) != ScheduleMembers::of(&before);
    if schedule_changed {
        // A new schedule counts from now: a rate restarts, a cron offset ignores firings
        // from before the change.
        w.schedule_anchor_ms = Some(ctx.now_ms);
    }
    rules::window_schedule(&w)?;
    let next_fire = if schedule_changed || w.enabled != before.enabled {
        NextFire::from_option(next_fire_after(&w, ctx.now_ms))
    } else {
        NextFire::Keep
    };
    let events: Vec<String> = (w.enabled != before.enabled)
        .then(|| events::window_state(&ctx.scope, ctx.now_ms, &w.window_id, w.enabled))
        .into_iter()
        .collect();
    api.store.update_window(&ctx.scope, &w, next_fire, &events).await.map_err(|e| match e {
        StoreError::NotFound => window_not_found(w.window_id.as_str()),
        other => internal(other),
    })?;
    if next_fire != NextFire::Keep {
        api.signals.schedule_changed();
    }
    Ok(WindowOut { window: Arc::new(w), with_dates: false, next_execution_time: None })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRequest {
    pub window_id: WindowId,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteResult {
    pub window_id: WindowId,
}

/// SSM models no `DoesNotExistException` for this operation: deleting a window that is
/// not there succeeds, which makes retries safe.
pub async fn delete(api: &Api, ctx: &Context, req: DeleteRequest) -> Result<DeleteResult, ApiError> {
    api.store.delete_window(&ctx.scope, &req.window_id).await.map_err(internal)?;
    Ok(DeleteResult { window_id: req.window_id })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    pub key: Option<String>,
    pub values: Option<Vec<String>>,
}

/// The request of the Describe operations that list what a window holds.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInWindowRequest {
    pub window_id: WindowId,
    pub filters: Option<Vec<Filter>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

/// Reject filter keys an operation does not support, naming the ones it does.
pub(crate) fn check_filter_keys(filters: &[Filter], allowed: &[&str]) -> Result<(), ApiError> {
    for f in filters {
        let key = f.key.as_deref().unwrap_or("");
        if !allowed.contains(&key) {
            return Err(ApiError::Validation(format!(
                "Invalid filter key: {key}. Valid filter keys are: {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRequest {
    pub filters: Option<Vec<Filter>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WindowIdentity {
    pub window_id: WindowId,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    pub duration: i32,
    pub cutoff: i32,
    pub schedule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_offset: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_execution_time: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeResult {
    pub window_identities: Vec<WindowIdentity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `Name` matches names starting with a value (the SSM User Guide's "names that start
/// with a certain prefix"); `Enabled` takes `true`/`false` in any case. Several filters
/// AND; several values of one filter OR.
pub async fn describe(api: &Api, ctx: &Context, req: DescribeRequest) -> Result<DescribeResult, ApiError> {
    let filters = req.filters.unwrap_or_default();
    check_filter_keys(&filters, &["Name", "Enabled"])?;
    let mut filter = WindowFilter::default();
    for f in &filters {
        let values = f.values.as_deref().unwrap_or(&[]);
        match f.key.as_deref() {
            Some("Name") => filter.name_prefixes.extend(values.iter().cloned()),
            Some("Enabled") => {
                let wanted: Vec<bool> = values
                    .iter()
                    .map(|v| match v.to_ascii_lowercase().as_str() {
                        "true" => Ok(true),
                        "false" => Ok(false),
                        _ => Err(ApiError::Validation(format!(
                            "Invalid value for filter Enabled: {v}. Valid values are true and false."
                        ))),
                    })
                    .collect::<Result<_, _>>()?;
                // `Values=[true,false]` matches everything: no constraint.
                if !(wanted.contains(&true) && wanted.contains(&false)) {
                    filter.enabled = wanted.first().copied();
                }
            }
            _ => {}
        }
    }
    let after = pagination::decode(req.next_token.as_deref())?;
    let size = pagination::page_size(req.max_results, 10, 100);
    let mut windows =
        api.store.list_windows(&ctx.scope, &filter, after.as_deref(), size + 1).await.map_err(internal)?;
    let next_token = if windows.len() > size {
        windows.truncate(size);
        windows.last().map(|w| pagination::encode(w.window_id.as_str()))
    } else {
        None
    };
    let window_identities = windows
        .into_iter()
        .map(|w| WindowIdentity {
            next_execution_time: rules::next_execution_time(&api.schedules, &w, ctx.now_ms),
            window_id: w.window_id,
            name: w.name,
            description: w.description,
            enabled: w.enabled,
            duration: w.duration,
            cutoff: w.cutoff,
            schedule: w.schedule,
            schedule_timezone: w.schedule_timezone,
            schedule_offset: w.schedule_offset,
            end_date: w.end_date,
            start_date: w.start_date,
        })
        .collect();
    Ok(DescribeResult { window_identities, next_token })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForTargetRequest {
    pub targets: Vec<Target>,
    pub resource_type: String,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WindowIdentityForTarget {
    pub window_id: WindowId,
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForTargetResult {
    pub window_identities: Vec<WindowIdentityForTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Windows with a registered target of `ResourceType` that names any of the given
/// targets (the same key and at least one common value), ordered by ID.
pub(crate) async fn windows_targeting(
    api: &Api,
    ctx: &Context,
    targets: &[Target],
    resource_type: &str,
) -> Result<Vec<WindowId>, ApiError> {
    let all = api.store.list_all_targets(&ctx.scope).await.map_err(internal)?;
    let mut ids: Vec<WindowId> = Vec::new();
    for t in all.iter().filter(|t| t.resource_type == resource_type) {
        let hit = t.targets.iter().any(|have| {
            targets
                .iter()
                .any(|want| have.key() == want.key() && have.values().iter().any(|v| want.values().contains(v)))
        });
        if hit && ids.last() != Some(&t.window_id) {
            ids.push(t.window_id.clone());
        }
    }
    Ok(ids)
}

/// The caller's windows with these IDs (those deleted meanwhile left out), in order.
pub(crate) async fn windows_by_id(api: &Api, ctx: &Context, ids: Vec<WindowId>) -> Result<Vec<Arc<Window>>, ApiError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(w) = api.store.get_window(&ctx.scope, &id).await.map_err(internal)? {
            out.push(w);
        }
    }
    Ok(out)
}

pub async fn describe_for_target(api: &Api, ctx: &Context, req: ForTargetRequest) -> Result<ForTargetResult, ApiError> {
    let ids = windows_targeting(api, ctx, &req.targets, &req.resource_type).await?;
    let after = pagination::decode(req.next_token.as_deref())?;
    let size = pagination::page_size(req.max_results, 50, 1000);
    let (page, next_token) = pagination::page(ids, |id| id.as_str(), after.as_deref(), size);
    let window_identities = windows_by_id(api, ctx, page)
        .await?
        .iter()
        .map(|w| WindowIdentityForTarget { window_id: w.window_id.clone(), name: w.name.clone() })
        .collect();
    Ok(ForTargetResult { window_identities, next_token })
}
