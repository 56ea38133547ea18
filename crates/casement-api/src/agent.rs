//! The agent-facing operations (`casement-protocol::agent`): registration with an
//! activation, health reports, and the message service a node long-polls for its
//! commands. Every call but registration is made by one node with the key issued to it,
//! and may touch only that node's messages.

use std::sync::Arc;
use std::time::Duration;

use casement_documents::{builtin, params};
use casement_engine::run_command::Reply;
use casement_model::{insert_bounded, FastMap, ManagedNode, PluginResult, Scope};
use casement_protocol::agent::{
    self, AcknowledgeMessageRequest, CancelCommandPayload, FailMessageRequest, GetMessagesRequest,
    RegisterManagedInstanceRequest, RegisterManagedInstanceResponse, ReplyPayload, SendCommandPayload,
    SendReplyRequest, UpdateInstanceInformationRequest,
};
use casement_protocol::awsjson::parse_typed as parse;
use casement_protocol::sigv4::Credential;
use casement_protocol::ApiError;
use casement_store::StoreError;
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::activations::code_hash;
use crate::dispatch::response_body;
use crate::errors::internal;
use crate::{Api, Context};

/// How long a node's key is trusted from memory before the store is asked again; a node
/// deregistered through another server is refused within this time (through this one, at
/// once).
const KEY_TTL_MS: i64 = 5_000;
/// A poll records the node's ping at most this often (health reports always do).
const PING_EVERY_MS: i64 = 10_000;

/// What the agent operations keep in memory so that a poll costs no store read or write
/// on the hot path: nodes' keys, and when each node's ping was last written.
#[derive(Default)]
pub struct NodeCache {
    keys: std::sync::Mutex<FastMap<String, (Arc<NodeAuth>, i64)>>,
    pings: std::sync::Mutex<FastMap<String, i64>>,
    /// Each command's message as every node gets it, built once: a command to a fleet is
    /// the same payload (and digest) a thousand times.
    payloads: std::sync::Mutex<FastMap<String, Arc<CommandMessage>>>,
}

/// The node-independent part of a command's message. The payload is a JSON document
/// sent as a JSON string: it is kept already quoted and escaped, since escaping it was
/// most of the cost of answering a poll (BENCHMARKS.md).
pub struct CommandMessage {
    payload: Box<RawValue>,
    payload_digest: String,
    created_date: String,
}

/// A message as GetMessages answers it (the shape of `casement_protocol::agent::Message`),
/// borrowing the command's shared parts.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MessageOut<'a> {
    message_id: &'a str,
    topic: &'a str,
    created_date: &'a str,
    destination: &'a str,
    payload_digest: &'a str,
    payload: &'a RawValue,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetMessagesOut<'a> {
    destination: &'a str,
    messages_request_id: &'a str,
    messages: Vec<MessageOut<'a>>,
}

/// Beyond this many commands' messages the cache starts over.
const PAYLOAD_CACHE_MAX: usize = 10_000;

impl NodeCache {
    /// Forget a node (it was deregistered).
    pub fn forget(&self, instance_id: &str) {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, (a, _)| a.node.instance_id != instance_id);
        self.pings.lock().unwrap_or_else(|p| p.into_inner()).remove(instance_id);
    }

    /// The message of `cmd`, built on first use. A command's payload never changes after
    /// it is sent.
    fn command_message(&self, cmd: &casement_model::Command) -> Result<Arc<CommandMessage>, ApiError> {
        if let Some(m) = self.payloads.lock().unwrap_or_else(|p| p.into_inner()).get(&cmd.command_id) {
            return Ok(m.clone());
        }
        let message = Arc::new(message_parts(cmd, serde_json::to_string(&command_payload(cmd)))?);
        let mut payloads = self.payloads.lock().unwrap_or_else(|p| p.into_inner());
        insert_bounded(&mut payloads, PAYLOAD_CACHE_MAX, cmd.command_id.clone(), message.clone());
        Ok(message)
    }

    fn ping_due(&self, instance_id: &str, now_ms: i64) -> bool {
        let mut pings = self.pings.lock().unwrap_or_else(|p| p.into_inner());
        match pings.get(instance_id) {
            Some(t) if now_ms - *t < PING_EVERY_MS => false,
            _ => {
                pings.insert(instance_id.to_owned(), now_ms);
                true
            }
        }
    }
}

/// A node's key in the two forms a request needs: the credential its signature is
/// checked against, and the node it then acts as. Built once per key read, shared by
/// every request until the cache entry expires.
#[derive(Debug)]
pub struct NodeAuth {
    pub node: Node,
    pub credential: Credential,
    pub deregistered: bool,
}

impl From<casement_model::NodeKey> for NodeAuth {
    fn from(k: casement_model::NodeKey) -> Self {
        let credential = Credential {
            access_key_id: k.access_key_id,
            secret_access_key: k.secret_access_key,
            account_id: k.scope.account.clone(),
        };
        Self { node: Node { scope: k.scope, instance_id: k.instance_id }, credential, deregistered: k.deregistered }
    }
}

/// The node that owns an access key, from memory when recently read.
pub async fn node_key(api: &Api, access_key_id: &str, now_ms: i64) -> Result<Option<Arc<NodeAuth>>, ApiError> {
    if let Some((auth, at)) = api.nodes.keys.lock().unwrap_or_else(|p| p.into_inner()).get(access_key_id) {
        if now_ms - *at < KEY_TTL_MS {
            return Ok(Some(auth.clone()));
        }
    }
    let Some(key) = api.store.node_key(access_key_id).await.map_err(internal)? else { return Ok(None) };
    let auth = Arc::new(NodeAuth::from(key));
    let mut keys = api.nodes.keys.lock().unwrap_or_else(|p| p.into_inner());
    insert_bounded(&mut keys, 100_000, access_key_id.to_owned(), (auth.clone(), now_ms));
    Ok(Some(auth))
}

/// A node, authenticated by its key.
#[derive(Debug, Clone)]
pub struct Node {
    pub scope: Scope,
    pub instance_id: String,
}

/// Whether an `X-Amz-Target` names an agent operation, and which.
pub fn operation(target: &str) -> Option<&str> {
    if let Some(op) = target.strip_prefix(agent::MESSAGES_PREFIX) {
        return matches!(op, "GetMessages" | "AcknowledgeMessage" | "SendReply" | "FailMessage" | "DeleteMessage")
            .then_some(op);
    }
    let op = target.strip_prefix("AmazonSSM.")?;
    matches!(op, agent::REGISTER | agent::UPDATE_INFORMATION).then_some(op)
}

/// The empty object most agent operations answer.
fn empty() -> Result<Vec<u8>, ApiError> {
    Ok(b"{}".to_vec())
}

/// RegisterManagedInstance: anonymous; the activation code is the credential.
pub async fn register(api: &Api, now_ms: i64, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: RegisterManagedInstanceRequest = parse(body)?;
    if !casement_model::Activation::is_well_formed_id(&req.activation_id) {
        return Err(ApiError::InvalidActivationId(format!("{} is not a valid activation ID.", req.activation_id)));
    }
    let node = ManagedNode::unregistered(req.fingerprint.clone(), now_ms);
    let access_key_id = format!("ASIA{}", hex::encode_upper(rand::random::<[u8; 8]>()));
    let secret = base64_secret();
    let registered = api
        .store
        .register_node(&req.activation_id, &code_hash(&req.activation_code), now_ms, node, &access_key_id, &secret)
        .await;
    match registered {
        Ok((scope, node)) => response_body(&RegisterManagedInstanceResponse {
            instance_id: node.instance_id,
            access_key_id,
            secret_access_key: secret,
            region: scope.region,
        }),
        Err(StoreError::NotFound) => {
            Err(ApiError::InvalidActivation("Activation ID or activation code is invalid.".into()))
        }
        Err(StoreError::Refused(m)) => Err(ApiError::InvalidActivation(m)),
        Err(e) => Err(internal(e)),
    }
}

/// 40 characters, like an AWS secret key.
fn base64_secret() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 30]>())
}

/// Run one agent operation for an authenticated node.
pub async fn dispatch(api: &Api, ctx: &Context, node: &Node, op: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    match op {
        agent::UPDATE_INFORMATION => update_information(api, ctx, node, parse(body)?).await,
        "GetMessages" => get_messages(api, ctx, node, parse(body)?).await,
        "AcknowledgeMessage" => acknowledge(api, node, parse(body)?).await,
        "SendReply" => send_reply(api, node, parse(body)?).await,
        "FailMessage" => fail(api, node, parse(body)?).await,
        // DeleteMessage is for AWS's self-update flow; nothing to delete here.
        "DeleteMessage" => empty(),
        _ => Err(ApiError::UnknownOperation(None)),
    }
}

fn not_yours(what: &str) -> ApiError {
    ApiError::AccessDenied(format!("This node may not act on {what}."))
}

async fn update_information(
    api: &Api,
    ctx: &Context,
    node: &Node,
    req: UpdateInstanceInformationRequest,
) -> Result<Vec<u8>, ApiError> {
    if req.instance_id != node.instance_id {
        return Err(not_yours(&req.instance_id));
    }
    let Some(mut stored) = api.store.get_node(&node.scope, &node.instance_id).await.map_err(internal)? else {
        return Err(ApiError::InvalidInstanceId(format!("Instance {} is not registered.", node.instance_id)));
    };
    stored.agent_version = req.agent_version.or(stored.agent_version);
    stored.platform_type = req.platform_type.or(stored.platform_type);
    stored.platform_name = req.platform_name.or(stored.platform_name);
    stored.platform_version = req.platform_version.or(stored.platform_version);
    stored.ip_address = req.ip_address.or(stored.ip_address);
    stored.computer_name = req.computer_name.or(stored.computer_name);
    stored.last_ping_ms = ctx.now_ms;
    api.store.update_node(&node.scope, &stored).await.map_err(internal)?;
    empty()
}

async fn get_messages(api: &Api, ctx: &Context, node: &Node, req: GetMessagesRequest) -> Result<Vec<u8>, ApiError> {
    if req.destination != node.instance_id {
        return Err(not_yours(&req.destination));
    }
    if api.nodes.ping_due(&node.instance_id, ctx.now_ms) {
        api.store.ping_node(&node.scope, &node.instance_id, ctx.now_ms).await.map_err(internal)?;
    }
    let wait = Duration::from_secs(agent::MAX_POLL_SECONDS).min(api.config.max_poll);
    let found = api.run_command.messages(&node.scope, &node.instance_id, wait).await.map_err(internal)?;
    // Each message's parts first (the command's are shared), then the answer borrowing them.
    let mut parts = Vec::with_capacity(found.len());
    for (cmd, inv) in &found {
        let cancel = inv.cancel_pending;
        let (topic, message) = if cancel {
            let p = CancelCommandPayload {
                command_id: cmd.command_id.clone(),
                cancel_message_id: agent::message_id(&cmd.command_id, &inv.instance_id, false),
            };
            (agent::TOPIC_CANCEL, Arc::new(message_parts(cmd, serde_json::to_string(&p))?))
        } else {
            (agent::TOPIC_SEND, api.nodes.command_message(cmd)?)
        };
        let message_id = agent::message_id(&cmd.command_id, &inv.instance_id, cancel);
        parts.push((message_id, format!("{topic}.{}", node.scope.region), inv.instance_id.as_str(), message));
    }
    let messages = parts
        .iter()
        .map(|(message_id, topic, destination, m)| MessageOut {
            message_id,
            topic,
            created_date: &m.created_date,
            destination,
            payload_digest: &m.payload_digest,
            payload: &m.payload,
        })
        .collect();
    response_body(&GetMessagesOut {
        destination: &req.destination,
        messages_request_id: &req.messages_request_id,
        messages,
    })
}

/// What a node receives for a command, in the shape AWS's agent takes (one format for
/// both agents): the document's content and its parameters typed. A command of an
/// AWS-owned document carries that document's content, typed from the values given.
pub fn command_payload(cmd: &casement_model::Command) -> SendCommandPayload {
    let as_lists = || cmd.parameters.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect();
    let (document_content, parameters) = match &cmd.document {
        Some(d) => (d.content.clone(), d.parameters.clone()),
        None => match builtin::get(&cmd.document_name) {
            Some(b) => (
                b.document.value.clone(),
                params::resolve(&b.document.parameters, &cmd.parameters)
                    .map(|m| m.into_iter().collect())
                    .unwrap_or_else(|_| as_lists()),
            ),
            None => (serde_json::Value::Null, as_lists()),
        },
    };
    SendCommandPayload {
        parameters,
        document_content,
        command_id: cmd.command_id.clone(),
        document_name: cmd.document_name.clone(),
        output_s3_key_prefix: cmd.output_s3_key_prefix.clone().unwrap_or_default(),
        output_s3_bucket_name: cmd.output_s3_bucket_name.clone().unwrap_or_default(),
        cloud_watch_log_group_name: String::new(),
        cloud_watch_output_enabled: "false".into(),
    }
}

/// An agent's RFC 3339 time as epoch milliseconds.
fn agent_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}

/// A serialized payload with its digest and the command's creation time.
fn message_parts(
    cmd: &casement_model::Command,
    payload: serde_json::Result<String>,
) -> Result<CommandMessage, ApiError> {
    let internal = |e: serde_json::Error| ApiError::Internal(e.to_string());
    let payload = payload.map_err(internal)?;
    Ok(CommandMessage {
        payload_digest: hex::encode(Sha256::digest(payload.as_bytes())),
        payload: serde_json::value::to_raw_value(&payload).map_err(internal)?,
        created_date: chrono::DateTime::from_timestamp_millis(cmd.requested_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default(),
    })
}

/// The command a node's MessageId names; refused unless it is the node's own.
fn own_message<'a>(node: &Node, id: &'a str) -> Result<(&'a str, bool), ApiError> {
    let (command, instance, cancel) = agent::parse_message_id(id)
        .ok_or_else(|| ApiError::Validation(format!("MessageId {id} is not a valid message ID.")))?;
    if instance != node.instance_id {
        return Err(not_yours(id));
    }
    Ok((command, cancel))
}

/// What an agent call answers: `{}`, or that the message names nothing sent to it.
fn done(found: bool, id: &str) -> Result<Vec<u8>, ApiError> {
    if found {
        empty()
    } else {
        Err(ApiError::DoesNotExist(format!("Message {id} does not exist.")))
    }
}

async fn acknowledge(api: &Api, node: &Node, req: AcknowledgeMessageRequest) -> Result<Vec<u8>, ApiError> {
    let (command, cancel) = own_message(node, &req.message_id)?;
    let found = api.run_command.acknowledge(&node.scope, &node.instance_id, command, cancel).await.map_err(internal)?;
    done(found, &req.message_id)
}

async fn send_reply(api: &Api, node: &Node, req: SendReplyRequest) -> Result<Vec<u8>, ApiError> {
    let (command, _) = own_message(node, &req.message_id)?;
    let payload: ReplyPayload = serde_json::from_str(&req.payload)
        .map_err(|e| ApiError::Validation(format!("The reply payload is not valid: {e}")))?;
    let reply = Reply {
        status: payload.document_status.clone(),
        response_code: None,
        stdout: None,
        // A reply without plugins (an agent that could not start the document) says why
        // in its trace.
        stderr: (payload.runtime_status.is_empty() && !payload.document_trace_output.is_empty())
            .then(|| payload.document_trace_output.clone()),
        plugins: payload
            .runtime_status
            .into_iter()
            .map(|(id, p)| PluginResult {
                name: id,
                status: p.status,
                response_code: p.code,
                stdout: p.standard_output,
                stderr: p.standard_error,
                start_ms: agent_time(&p.start_date_time),
                end_ms: agent_time(&p.end_date_time),
            })
            .collect(),
    };
    let found = api.run_command.reply(&node.scope, &node.instance_id, command, reply).await.map_err(internal)?;
    done(found, &req.message_id)
}

async fn fail(api: &Api, node: &Node, req: FailMessageRequest) -> Result<Vec<u8>, ApiError> {
    let (command, _) = own_message(node, &req.message_id)?;
    let found =
        api.run_command.fail(&node.scope, &node.instance_id, command, &req.failure_type).await.map_err(internal)?;
    done(found, &req.message_id)
}
