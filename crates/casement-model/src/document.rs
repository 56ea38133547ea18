//! SSM documents as stored: a document (its name, type, which version is the default,
//! with whom it is shared) and its versions (the content as given, and what was read
//! from it). Reading content is `casement-documents`' work; these are the records.

use serde::{Deserialize, Serialize};

/// Tag resource type of a document.
pub const DOCUMENT_RESOURCE_TYPE: &str = "Document";
/// `AccountIdsToAdd` value that shares a document with every account.
pub const SHARE_ALL: &str = "all";

/// A document, whatever its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentInfo {
    pub name: String,
    /// `Command` or `Automation`; fixed at creation.
    pub document_type: String,
    pub created_ms: i64,
    /// The highest version that exists.
    pub latest_version: u32,
    pub default_version: u32,
    /// The highest version number ever given out: numbers are not reused after a
    /// version is deleted, so a command's DocumentVersion always names what it ran.
    #[serde(default)]
    pub issued_versions: u32,
    /// Accounts the document is shared with (`all` for every account).
    #[serde(default)]
    pub shared_with: Vec<String>,
    /// The version shared (`$DEFAULT` unless ModifyDocumentPermission named one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_version: Option<String>,
}

/// One declared parameter, as DescribeDocument lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentParameter {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
}

/// What is known of a version without its content (a listing reads only this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_name: Option<String>,
    /// `JSON` or `YAML`: as the content was given.
    pub format: String,
    /// SHA-256 of the content, hex.
    pub hash: String,
    pub created_ms: i64,
    pub schema_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    #[serde(default)]
    pub parameters: Vec<DocumentParameter>,
    #[serde(default)]
    pub platform_types: Vec<String>,
}

/// A version with its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentVersion {
    pub meta: VersionMeta,
    pub content: String,
}
