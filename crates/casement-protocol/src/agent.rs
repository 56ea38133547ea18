//! The agent-facing wire API, shaped like AWS's own (reference/agent-protocol.md):
//! `AmazonSSM.RegisterManagedInstance` (anonymous, with an activation) and
//! `AmazonSSM.UpdateInstanceInformation`, and the `ec2messages` message service
//! (`EC2WindowsMessageDeliveryService.GetMessages` / `AcknowledgeMessage` / `SendReply` /
//! `FailMessage` / `DeleteMessage`). Both the server and `casement agent` use these types.
//!
//! One difference from AWS: registration answers with an access key for the node (an
//! HMAC SigV4 key), where AWS's agent registers an RSA public key and signs with it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `X-Amz-Target` prefix of the message service.
pub const MESSAGES_PREFIX: &str = "EC2WindowsMessageDeliveryService.";
/// Agent operations under the SSM prefix (not in SSM's public model).
pub const REGISTER: &str = "RegisterManagedInstance";
pub const UPDATE_INFORMATION: &str = "UpdateInstanceInformation";
/// Topics of the two kinds of message.
pub const TOPIC_SEND: &str = "aws.ssm.sendCommand";
pub const TOPIC_CANCEL: &str = "aws.ssm.cancelCommand";
/// Longest a GetMessages waits for a message before answering empty.
pub const MAX_POLL_SECONDS: u64 = 20;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterManagedInstanceRequest {
    pub activation_code: String,
    pub activation_id: String,
    /// AWS's agent sends its public key; Casement issues a key instead and ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterManagedInstanceResponse {
    pub instance_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The region the node belongs to (the activation's).
    pub region: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateInstanceInformationRequest {
    pub instance_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, rename = "IPAddress", skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computer_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetMessagesRequest {
    pub destination: String,
    #[serde(default)]
    pub messages_request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility_timeout_in_seconds: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetMessagesResponse {
    pub destination: String,
    pub messages_request_id: String,
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    /// `aws.ssm.<CommandId>.<InstanceId>`; a cancel's is `aws.ssm.cancel.<CommandId>.<InstanceId>`.
    pub message_id: String,
    pub topic: String,
    pub created_date: String,
    pub destination: String,
    /// Hex SHA-256 of `payload`.
    pub payload_digest: String,
    /// JSON: a [`SendCommandPayload`] or a [`CancelCommandPayload`].
    pub payload: String,
}

/// A command for a node, in the shape AWS's agent receives it (its
/// `runcommand/contracts.SendCommandPayload`): the document's content and the parameter
/// values typed as the document declares them. The agent substitutes the parameters
/// itself, so `casement agent` and AWS's agent run the same message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendCommandPayload {
    pub parameters: serde_json::Map<String, serde_json::Value>,
    pub document_content: serde_json::Value,
    pub command_id: String,
    pub document_name: String,
    #[serde(default)]
    pub output_s3_key_prefix: String,
    #[serde(default)]
    pub output_s3_bucket_name: String,
    #[serde(default)]
    pub cloud_watch_log_group_name: String,
    /// `"true"` or `"false"`, a string as AWS's agent expects it.
    #[serde(default)]
    pub cloud_watch_output_enabled: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelCommandPayload {
    pub command_id: String,
    /// The MessageId of the command being cancelled.
    pub cancel_message_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AcknowledgeMessageRequest {
    pub message_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendReplyRequest {
    pub message_id: String,
    pub reply_id: String,
    /// JSON: a [`ReplyPayload`].
    pub payload: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailMessageRequest {
    pub message_id: String,
    #[serde(default)]
    pub failure_type: String,
}

/// SendReply's payload, in the camelCase of AWS's agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyPayload {
    #[serde(default)]
    pub additional_info: AdditionalInfo,
    /// InProgress, Success, Failed, TimedOut, Cancelled.
    pub document_status: String,
    #[serde(default)]
    pub document_trace_output: String,
    #[serde(default)]
    pub runtime_status: BTreeMap<String, PluginRuntimeStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalInfo {
    #[serde(default)]
    pub agent: AgentInfo,
    #[serde(default)]
    pub date_time: String,
    #[serde(default)]
    pub run_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub ver: String,
    #[serde(default)]
    pub os: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginRuntimeStatus {
    pub status: String,
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub output: String,
    #[serde(default)]
    pub start_date_time: String,
    #[serde(default)]
    pub end_date_time: String,
    #[serde(default)]
    pub standard_output: String,
    #[serde(default)]
    pub standard_error: String,
}

/// The MessageId of a command on a node, and of its cancel.
pub fn message_id(command_id: &str, instance_id: &str, cancel: bool) -> String {
    if cancel {
        format!("aws.ssm.cancel.{command_id}.{instance_id}")
    } else {
        format!("aws.ssm.{command_id}.{instance_id}")
    }
}

/// The (command, instance, is-cancel) a MessageId names.
pub fn parse_message_id(id: &str) -> Option<(&str, &str, bool)> {
    let rest = id.strip_prefix("aws.ssm.")?;
    let (rest, cancel) = match rest.strip_prefix("cancel.") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let (command, instance) = rest.split_once('.')?;
    (command.len() == 36 && !instance.is_empty()).then_some((command, instance, cancel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_round_trip() {
        let c = "0b6bb1e2-7c9a-4f0e-9d8e-4b0e2f1c9a11";
        assert_eq!(
            parse_message_id(&message_id(c, "mi-0123456789abcdef0", false)),
            Some((c, "mi-0123456789abcdef0", false))
        );
        assert_eq!(
            parse_message_id(&message_id(c, "mi-0123456789abcdef0", true)),
            Some((c, "mi-0123456789abcdef0", true))
        );
        assert_eq!(parse_message_id("aws.ssm.short.mi-1"), None);
        assert_eq!(parse_message_id("other"), None);
    }
}
