//! DescribeInstanceInformation and DeregisterManagedInstance: the managed nodes that
//! registered through an activation, with the health their agents report.

use casement_model::{ManagedNode, Tag};
use casement_protocol::timefmt::epoch_seconds;
use casement_protocol::ApiError;
use serde::{Deserialize, Serialize};

use crate::errors::internal;
use crate::tags::Empty;
use crate::{pagination, Api, Context};

use casement_model::node::NODE_RESOURCE_TYPE as NODE_TAGS;

/// `Online` while the agent was heard from within the configured window, else
/// `ConnectionLost`.
pub fn ping_status(api: &Api, node: &ManagedNode, now_ms: i64) -> &'static str {
    if now_ms - node.last_ping_ms <= api.config.connection_lost_ms {
        "Online"
    } else {
        "ConnectionLost"
    }
}

#[derive(Debug, Deserialize)]
pub struct LegacyFilter {
    pub key: String,
    #[serde(rename = "valueSet")]
    pub value_set: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StringFilter {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRequest {
    pub instance_information_filter_list: Option<Vec<LegacyFilter>>,
    pub filters: Option<Vec<StringFilter>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceInformation {
    pub instance_id: String,
    pub ping_status: &'static str,
    #[serde(serialize_with = "epoch_seconds")]
    pub last_ping_date_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    pub activation_id: String,
    pub iam_role: String,
    #[serde(serialize_with = "epoch_seconds")]
    pub registration_date: i64,
    pub resource_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "IPAddress", skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computer_name: Option<String>,
    pub source_id: String,
    pub source_type: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeResult {
    pub instance_information_list: Vec<InstanceInformation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One filter, whichever list it came in: a node matches when the field is among the
/// values (tags: when the node carries the tag with one of the values).
enum Check {
    Field(&'static str, Vec<String>),
    Tag(String, Vec<String>),
    TagKey(Vec<String>),
}

const FIELD_KEYS: [&str; 8] = [
    "InstanceIds",
    "AgentVersion",
    "PingStatus",
    "PlatformTypes",
    "ActivationIds",
    "IamRole",
    "ResourceType",
    "AssociationStatus",
];

fn field_key(key: &str) -> Option<&'static str> {
    FIELD_KEYS.iter().copied().find(|k| *k == key)
}

fn checks(req: &DescribeRequest) -> Result<Vec<Check>, ApiError> {
    let mut out = Vec::new();
    for f in req.instance_information_filter_list.iter().flatten() {
        let key = field_key(&f.key).ok_or(ApiError::InvalidFilterKey)?;
        out.push(Check::Field(key, f.value_set.clone()));
    }
    for f in req.filters.iter().flatten() {
        if let Some(tag) = f.key.strip_prefix("tag:") {
            out.push(Check::Tag(tag.to_owned(), f.values.clone()));
        } else if f.key == "tag-key" {
            out.push(Check::TagKey(f.values.clone()));
        } else {
            let key = field_key(&f.key).ok_or(ApiError::InvalidFilterKey)?;
            out.push(Check::Field(key, f.values.clone()));
        }
    }
    for c in &out {
        if let Check::Field("PingStatus", values) = c {
            if let Some(v) = values.iter().find(|v| !matches!(v.as_str(), "Online" | "ConnectionLost" | "Inactive")) {
                return Err(ApiError::InvalidInstanceInformationFilterValue(format!(
                    "{v} is not a valid value for the filter key PingStatus."
                )));
            }
        }
    }
    Ok(out)
}

fn info(api: &Api, n: ManagedNode, now_ms: i64) -> InstanceInformation {
    InstanceInformation {
        ping_status: ping_status(api, &n, now_ms),
        last_ping_date_time: n.last_ping_ms,
        source_id: n.instance_id.clone(),
        instance_id: n.instance_id,
        agent_version: n.agent_version,
        platform_type: n.platform_type,
        platform_name: n.platform_name,
        platform_version: n.platform_version,
        activation_id: n.activation_id,
        iam_role: n.iam_role,
        registration_date: n.registration_ms,
        resource_type: NODE_TAGS,
        name: n.name,
        ip_address: n.ip_address,
        computer_name: n.computer_name,
        source_type: "AWS::SSM::ManagedInstance",
    }
}

fn field_matches(i: &InstanceInformation, key: &str, values: &[String]) -> bool {
    let field = match key {
        "InstanceIds" => Some(i.instance_id.as_str()),
        "AgentVersion" => i.agent_version.as_deref(),
        "PingStatus" => Some(i.ping_status),
        "PlatformTypes" => i.platform_type.as_deref(),
        "ActivationIds" => Some(i.activation_id.as_str()),
        "IamRole" => Some(i.iam_role.as_str()),
        "ResourceType" => Some(i.resource_type),
        // No associations run here: no node has an association status.
        _ => None,
    };
    field.is_some_and(|f| values.iter().any(|v| v == f))
}

fn tags_match(tags: &[Tag], c: &Check) -> bool {
    match c {
        Check::Tag(key, values) => tags.iter().any(|t| &t.key == key && values.contains(&t.value)),
        Check::TagKey(keys) => keys.iter().all(|k| tags.iter().any(|t| &t.key == k)),
        Check::Field(..) => true,
    }
}

pub async fn describe(api: &Api, ctx: &Context, req: DescribeRequest) -> Result<DescribeResult, ApiError> {
    let checks = checks(&req)?;
    let needs_tags = checks.iter().any(|c| !matches!(c, Check::Field(..)));
    let size = pagination::page_size(req.max_results, 10, 50);
    let checks = &checks;
    let (found, after) = pagination::scan(
        size,
        pagination::decode_next_token(req.next_token.as_deref())?,
        |after, n| {
            Box::pin(async move { api.store.list_nodes(&ctx.scope, after.as_deref(), n).await.map_err(internal) })
        },
        |n| n.instance_id.clone(),
        |n| {
            Box::pin(async move {
                let tags = if needs_tags {
                    api.store.list_tags(&ctx.scope, NODE_TAGS, &n.instance_id).await.map_err(internal)?
                } else {
                    Vec::new()
                };
                let i = info(api, n, ctx.now_ms);
                let ok = checks.iter().all(|c| match c {
                    Check::Field(key, values) => field_matches(&i, key, values),
                    other => tags_match(&tags, other),
                });
                Ok(ok.then_some(i))
            })
        },
    )
    .await?;
    Ok(DescribeResult { instance_information_list: found, next_token: after.as_deref().map(pagination::encode) })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeregisterRequest {
    pub instance_id: String,
}

pub async fn deregister(api: &Api, ctx: &Context, req: DeregisterRequest) -> Result<Empty, ApiError> {
    if api.store.deregister_node(&ctx.scope, &req.instance_id).await.map_err(internal)? {
        api.nodes.forget(&req.instance_id);
        Ok(Empty {})
    } else {
        Err(ApiError::InvalidInstanceId(format!(
            "Instance Id {} is not a registered managed instance.",
            req.instance_id
        )))
    }
}
