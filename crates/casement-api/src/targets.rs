//! RegisterTargetWithMaintenanceWindow, UpdateMaintenanceWindowTarget,
//! DeregisterTargetFromMaintenanceWindow, DescribeMaintenanceWindowTargets.

use casement_model::{Target, WindowId, WindowTarget, WindowTargetId};
use casement_protocol::ApiError;
use casement_store::{Idempotency, StoreError};
use serde::{Deserialize, Serialize};

use casement_engine::events::{self, Registered};

use crate::errors::{internal, on_create, target_not_found, window_not_found};
use crate::windows::check_filter_keys;
use crate::{pagination, rules, Api, Context};

/// AWS's published quota: targets per maintenance window.
pub const MAX_TARGETS_PER_WINDOW: usize = 100;

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterRequest {
    pub window_id: WindowId,
    pub resource_type: String,
    pub targets: Vec<Target>,
    pub owner_information: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub client_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterResult {
    pub window_target_id: WindowTargetId,
}

/// The keys a window target may select nodes by.
fn check_target_keys(targets: &[Target]) -> Result<(), ApiError> {
    for t in targets {
        let key = t.key();
        let ok = key == "InstanceIds"
            || key == "tag-key"
            || key == "resource-groups:Name"
            || key == "resource-groups:ResourceTypeFilters"
            || key.strip_prefix("tag:").is_some_and(|k| !k.is_empty());
        if !ok {
            return Err(ApiError::Validation(format!(
                "Invalid target key: {key}. Valid keys are InstanceIds, tag:<key>, tag-key, resource-groups:Name and resource-groups:ResourceTypeFilters."
            )));
        }
        if t.values().is_empty() {
            return Err(ApiError::Validation(format!("Target {key} must have at least one value.")));
        }
    }
    Ok(())
}

pub async fn register(api: &Api, ctx: &Context, req: RegisterRequest) -> Result<RegisterResult, ApiError> {
    check_target_keys(&req.targets)?;
    let idem = req.client_token.as_ref().map(|t| Idempotency {
        operation: "RegisterTargetWithMaintenanceWindow",
        token: t.clone(),
        fingerprint: rules::fingerprint(&req),
    });
    let target = WindowTarget {
        window_id: req.window_id,
        window_target_id: WindowTargetId::generate(),
        resource_type: req.resource_type,
        targets: req.targets,
        owner_information: req.owner_information,
        name: req.name,
        description: req.description,
    };
    let limit = api.config.aws_quotas.then_some(MAX_TARGETS_PER_WINDOW);
    let ev = events::registration(
        &ctx.scope,
        ctx.now_ms,
        &target.window_id,
        Registered::Target,
        target.window_target_id.as_str(),
        "REGISTERED",
    );
    let window_target_id =
        api.store.register_target(&ctx.scope, &target, idem.as_ref(), limit, &[ev]).await.map_err(|e| {
            on_create(e, || window_not_found(target.window_id.as_str()), "targets for this maintenance window")
        })?;
    Ok(RegisterResult { window_target_id })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateRequest {
    pub window_id: WindowId,
    pub window_target_id: WindowTargetId,
    pub targets: Option<Vec<Target>>,
    pub owner_information: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub replace: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateResult {
    pub window_id: WindowId,
    pub window_target_id: WindowTargetId,
    pub targets: Vec<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_information: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

async fn load(api: &Api, ctx: &Context, window: &WindowId, id: &WindowTargetId) -> Result<WindowTarget, ApiError> {
    crate::windows::load(api, ctx, window).await?;
    api.store.get_target(&ctx.scope, window, id).await.map_err(internal)?.ok_or_else(|| target_not_found(id.as_str()))
}

pub async fn update(api: &Api, ctx: &Context, req: UpdateRequest) -> Result<UpdateResult, ApiError> {
    let mut t = load(api, ctx, &req.window_id, &req.window_target_id).await?;
    if req.replace.unwrap_or(false) {
        t.targets = rules::require(req.targets, "targets")?;
        t.owner_information = req.owner_information;
        t.name = req.name;
        t.description = req.description;
    } else {
        if let Some(targets) = req.targets {
            t.targets = targets;
        }
        if req.owner_information.is_some() {
            t.owner_information = req.owner_information;
        }
        if req.name.is_some() {
            t.name = req.name;
        }
        if req.description.is_some() {
            t.description = req.description;
        }
    }
    check_target_keys(&t.targets)?;
    let ev = events::registration(
        &ctx.scope,
        ctx.now_ms,
        &t.window_id,
        Registered::Target,
        t.window_target_id.as_str(),
        "UPDATED",
    );
    api.store.update_target(&ctx.scope, &t, &[ev]).await.map_err(|e| match e {
        StoreError::NotFound => target_not_found(t.window_target_id.as_str()),
        other => internal(other),
    })?;
    Ok(UpdateResult {
        window_id: t.window_id,
        window_target_id: t.window_target_id,
        targets: t.targets,
        owner_information: t.owner_information,
        name: t.name,
        description: t.description,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeregisterRequest {
    pub window_id: WindowId,
    pub window_target_id: WindowTargetId,
    pub safe: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeregisterResult {
    pub window_id: WindowId,
    pub window_target_id: WindowTargetId,
}

pub async fn deregister(api: &Api, ctx: &Context, req: DeregisterRequest) -> Result<DeregisterResult, ApiError> {
    crate::windows::load(api, ctx, &req.window_id).await?;
    let ev = events::registration(
        &ctx.scope,
        ctx.now_ms,
        &req.window_id,
        Registered::Target,
        req.window_target_id.as_str(),
        "DEREGISTERED",
    );
    api.store
        .deregister_target(&ctx.scope, &req.window_id, &req.window_target_id, req.safe.unwrap_or(false), &[ev])
        .await
        .map_err(|e| match e {
            StoreError::NotFound => target_not_found(req.window_target_id.as_str()),
            StoreError::InUse => ApiError::TargetInUse(format!(
                "Target {} is being referenced by a task in maintenance window {}",
                req.window_target_id, req.window_id
            )),
            other => internal(other),
        })?;
    Ok(DeregisterResult { window_id: req.window_id, window_target_id: req.window_target_id })
}

/// DescribeMaintenanceWindow{Targets,Tasks} take the same members.
pub type DescribeRequest = crate::windows::ListInWindowRequest;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeResult {
    pub targets: Vec<WindowTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Filters `Type` (the resource type), `WindowTargetId` and `OwnerInformation`.
pub async fn describe(api: &Api, ctx: &Context, req: DescribeRequest) -> Result<DescribeResult, ApiError> {
    let filters = req.filters.unwrap_or_default();
    check_filter_keys(&filters, &["Type", "WindowTargetId", "OwnerInformation"])?;
    crate::windows::load(api, ctx, &req.window_id).await?;
    let after = pagination::decode(req.next_token.as_deref())?;
    let all = api.store.list_targets(&ctx.scope, &req.window_id).await.map_err(internal)?;
    let matching: Vec<WindowTarget> = all
        .into_iter()
        .filter(|t| {
            filters.iter().all(|f| {
                let values = f.values.as_deref().unwrap_or(&[]);
                let field = match f.key.as_deref() {
                    Some("Type") => Some(t.resource_type.as_str()),
                    Some("WindowTargetId") => Some(t.window_target_id.as_str()),
                    _ => t.owner_information.as_deref(),
                };
                values.is_empty() || field.is_some_and(|v| values.iter().any(|x| x == v))
            })
        })
        .collect();
    let size = pagination::page_size(req.max_results, 10, 100);
    let (targets, next_token) = pagination::page(matching, |t| t.window_target_id.as_str(), after.as_deref(), size);
    Ok(DescribeResult { targets, next_token })
}
