//! Hybrid activations and the managed nodes registered with them.

use serde::{Deserialize, Serialize};

use crate::Scope;

/// The resource type tags of managed nodes are kept under (SSM's `ResourceTypeForTagging`),
/// which `tag:` targets resolve against.
pub const NODE_RESOURCE_TYPE: &str = "ManagedInstance";
/// The resource type an activation's tags are kept under.
pub const ACTIVATION_RESOURCE_TYPE: &str = "Activation";

/// What CreateActivation recorded. The activation code itself is never stored: only its
/// SHA-256, which registration compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    pub activation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_instance_name: Option<String>,
    pub iam_role: String,
    pub registration_limit: i64,
    pub registrations_count: i64,
    pub expiration_ms: i64,
    pub created_ms: i64,
}

impl Activation {
    /// The `ActivationId` format: a lower-case UUID.
    pub fn is_well_formed_id(s: &str) -> bool {
        s.len() == 36
            && s.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => matches!(b, b'0'..=b'9' | b'a'..=b'f'),
            })
    }
}

/// A registered node, as DescribeInstanceInformation shows it. `last_ping_ms` lives in a
/// column of its own (written on every heartbeat without rewriting the document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedNode {
    pub instance_id: String,
    pub activation_id: String,
    pub iam_role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub registration_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computer_name: Option<String>,
    #[serde(skip)]
    pub last_ping_ms: i64,
}

impl ManagedNode {
    /// A node about to register: a fresh ID; the activation's role and name, and the
    /// registration time, are filled in by the registration.
    pub fn unregistered(computer_name: Option<String>, now_ms: i64) -> Self {
        Self {
            instance_id: Self::generate_id(),
            activation_id: String::new(),
            iam_role: String::new(),
            name: None,
            registration_ms: now_ms,
            agent_version: None,
            platform_type: None,
            platform_name: None,
            platform_version: None,
            ip_address: None,
            computer_name,
            last_ping_ms: now_ms,
        }
    }

    /// `mi-` and 17 lower-case hex digits, like SSM's.
    pub fn generate_id() -> String {
        let bytes: [u8; 9] = rand::random();
        format!("mi-{}", &hex::encode(bytes)[..17])
    }

    pub fn is_well_formed_id(s: &str) -> bool {
        s.len() == 20 && s.starts_with("mi-") && s.as_bytes()[3..].iter().all(|b| b.is_ascii_hexdigit())
    }
}

/// The credentials a node signs its requests with, issued once at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeKey {
    pub scope: Scope,
    pub instance_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub deregistered: bool,
}
