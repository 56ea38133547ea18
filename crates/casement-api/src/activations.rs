//! CreateActivation, DescribeActivations, DeleteActivation: hybrid activations, with
//! which `casement agent` registers a node (`agent::register`).

use casement_model::{Activation, Tag};
use casement_protocol::timefmt::epoch_seconds;
use casement_protocol::ApiError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::errors::internal;
use crate::tags::Empty;
use crate::{pagination, Api, Context};

/// AWS: an activation expires after 24 hours unless ExpirationDate says otherwise, and
/// ExpirationDate may be at most 30 days ahead.
const DEFAULT_LIFETIME_MS: i64 = 24 * 3_600_000;
const MAX_LIFETIME_MS: i64 = 30 * 24 * 3_600_000;

/// The stored form of an activation code: only its hash is kept.
pub fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// 20 random characters from an alphabet without look-alikes (the model allows 20–250).
fn new_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let bytes: [u8; 20] = rand::random();
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    pub description: Option<String>,
    pub default_instance_name: Option<String>,
    pub iam_role: String,
    pub registration_limit: Option<i64>,
    pub expiration_date: Option<f64>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateResult {
    pub activation_id: String,
    pub activation_code: String,
}

pub async fn create(api: &Api, ctx: &Context, req: CreateRequest) -> Result<CreateResult, ApiError> {
    let expiration_ms = match req.expiration_date {
        None => ctx.now_ms + DEFAULT_LIFETIME_MS,
        Some(s) => {
            let ms = (s * 1000.0) as i64;
            if ms <= ctx.now_ms || ms > ctx.now_ms + MAX_LIFETIME_MS {
                return Err(ApiError::InvalidParameters(
                    "ExpirationDate must be in the future and at most 30 days ahead.".into(),
                ));
            }
            ms
        }
    };
    let activation = Activation {
        activation_id: casement_model::ids::new_uuid(),
        description: req.description,
        default_instance_name: req.default_instance_name,
        iam_role: req.iam_role,
        registration_limit: req.registration_limit.unwrap_or(1),
        registrations_count: 0,
        expiration_ms,
        created_ms: ctx.now_ms,
    };
    let code = new_code();
    api.store
        .create_activation(&ctx.scope, &activation, &code_hash(&code), &req.tags.unwrap_or_default())
        .await
        .map_err(internal)?;
    Ok(CreateResult { activation_id: activation.activation_id, activation_code: code })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeFilter {
    pub filter_key: Option<String>,
    pub filter_values: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRequest {
    pub filters: Option<Vec<DescribeFilter>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActivationDto {
    pub activation_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_instance_name: Option<String>,
    pub iam_role: String,
    pub registration_limit: i64,
    pub registrations_count: i64,
    #[serde(serialize_with = "epoch_seconds")]
    pub expiration_date: i64,
    pub expired: bool,
    #[serde(serialize_with = "epoch_seconds")]
    pub created_date: i64,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeResult {
    pub activation_list: Vec<ActivationDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

fn matches(a: &Activation, filters: &[DescribeFilter]) -> bool {
    filters.iter().all(|f| {
        let values = f.filter_values.as_deref().unwrap_or(&[]);
        let field = match f.filter_key.as_deref() {
            Some("ActivationIds") => Some(a.activation_id.as_str()),
            Some("DefaultInstanceName") => a.default_instance_name.as_deref(),
            Some("IamRole") => Some(a.iam_role.as_str()),
            _ => return true,
        };
        values.is_empty() || field.is_some_and(|v| values.iter().any(|x| x == v))
    })
}

pub async fn describe(api: &Api, ctx: &Context, req: DescribeRequest) -> Result<DescribeResult, ApiError> {
    let filters = req.filters.unwrap_or_default();
    if filters.iter().any(|f| f.filter_key.is_none()) {
        return Err(ApiError::InvalidFilter("Each filter needs a FilterKey.".into()));
    }
    let size = pagination::page_size(req.max_results, 50, 50);
    let (page, after) = pagination::scan(
        size,
        pagination::decode_next_token(req.next_token.as_deref())?,
        |after, n| {
            Box::pin(async move { api.store.list_activations(&ctx.scope, after.as_deref(), n).await.map_err(internal) })
        },
        |a| a.activation_id.clone(),
        |a| Box::pin(std::future::ready(Ok(matches(&a, &filters).then_some(a)))),
    )
    .await?;
    // Tags are read for the page served only.
    let mut found = Vec::with_capacity(page.len());
    for a in page {
        let tags = api
            .store
            .list_tags(&ctx.scope, casement_model::node::ACTIVATION_RESOURCE_TYPE, &a.activation_id)
            .await
            .map_err(internal)?;
        found.push(ActivationDto {
            expired: ctx.now_ms >= a.expiration_ms,
            activation_id: a.activation_id,
            description: a.description,
            default_instance_name: a.default_instance_name,
            iam_role: a.iam_role,
            registration_limit: a.registration_limit,
            registrations_count: a.registrations_count,
            expiration_date: a.expiration_ms,
            created_date: a.created_ms,
            tags,
        });
    }
    Ok(DescribeResult { activation_list: found, next_token: after.as_deref().map(pagination::encode) })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRequest {
    pub activation_id: String,
}

pub async fn delete(api: &Api, ctx: &Context, req: DeleteRequest) -> Result<Empty, ApiError> {
    if api.store.delete_activation(&ctx.scope, &req.activation_id).await.map_err(internal)? {
        Ok(Empty {})
    } else {
        Err(ApiError::InvalidActivationId(format!("Activation ID {} does not exist.", req.activation_id)))
    }
}
