//! AddTagsToResource, RemoveTagsFromResource, ListTagsForResource.
//!
//! Casement hosts maintenance windows (and `ManagedInstance`, `Document`, `Automation`); the
//! other taggable SSM resource types do not exist here, so SSM's own answer for them
//! is given: `InvalidResourceType`.

use casement_model::{Tag, WindowId};
use casement_protocol::ApiError;
use casement_store::StoreError;
use serde::{Deserialize, Serialize};

use crate::errors::internal;
use crate::{Api, Context};

/// SSM: "Most resources can have a maximum of 50 tags."
pub const MAX_TAGS: usize = 50;

/// Resolve the resource a tagging call names: its type must be one Casement hosts and
/// the resource must exist in the caller's scope.
async fn resolve(api: &Api, ctx: &Context, resource_type: &str, resource_id: &str) -> Result<(), ApiError> {
    match resource_type {
        "MaintenanceWindow" => {
            let id = WindowId::from(resource_id);
            if !WindowId::is_well_formed(resource_id) {
                return Err(ApiError::InvalidResourceId);
            }
            match api.store.get_window(&ctx.scope, &id).await.map_err(internal)? {
                Some(_) => Ok(()),
                None => Err(ApiError::InvalidResourceId),
            }
        }
        casement_model::document::DOCUMENT_RESOURCE_TYPE => {
            // AWS's own documents are not the caller's to tag.
            match api.store.get_document(&ctx.scope, resource_id).await.map_err(internal)? {
                Some(_) => Ok(()),
                None => Err(ApiError::InvalidResourceId),
            }
        }
        casement_model::automation::AUTOMATION_RESOURCE_TYPE => {
            match api.store.get_automation(&ctx.scope, resource_id).await.map_err(internal)? {
                Some(_) => Ok(()),
                None => Err(ApiError::InvalidResourceId),
            }
        }
        casement_model::node::NODE_RESOURCE_TYPE => {
            match api.store.get_node(&ctx.scope, resource_id).await.map_err(internal)? {
                Some(_) => Ok(()),
                None => Err(ApiError::InvalidResourceId),
            }
        }
        _ => Err(ApiError::InvalidResourceType),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddRequest {
    pub resource_type: String,
    pub resource_id: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Serialize)]
pub struct Empty {}

pub async fn add(api: &Api, ctx: &Context, req: AddRequest) -> Result<Empty, ApiError> {
    resolve(api, ctx, &req.resource_type, &req.resource_id).await?;
    api.store.add_tags(&ctx.scope, &req.resource_type, &req.resource_id, &req.tags, MAX_TAGS).await.map_err(
        |e| match e {
            StoreError::TooManyTags => ApiError::TooManyTags,
            other => internal(other),
        },
    )?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveRequest {
    pub resource_type: String,
    pub resource_id: String,
    pub tag_keys: Vec<String>,
}

pub async fn remove(api: &Api, ctx: &Context, req: RemoveRequest) -> Result<Empty, ApiError> {
    resolve(api, ctx, &req.resource_type, &req.resource_id).await?;
    api.store.remove_tags(&ctx.scope, &req.resource_type, &req.resource_id, &req.tag_keys).await.map_err(internal)?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    pub resource_type: String,
    pub resource_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResult {
    pub tag_list: Vec<Tag>,
}

pub async fn list(api: &Api, ctx: &Context, req: ListRequest) -> Result<ListResult, ApiError> {
    resolve(api, ctx, &req.resource_type, &req.resource_id).await?;
    let tag_list = api.store.list_tags(&ctx.scope, &req.resource_type, &req.resource_id).await.map_err(internal)?;
    Ok(ListResult { tag_list })
}
