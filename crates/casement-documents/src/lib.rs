//! SSM documents as data, below the engine and the API: content parsed from JSON or
//! YAML into a typed [`Document`], checked the way CreateDocument checks it, parameters
//! declared and their values typed and checked the way SendCommand and
//! StartAutomationExecution check them, and `{{ }}` references found and substituted.
//!
//! Everything here is a pure function of its inputs, so the rules are tested without a
//! server, and the API, the engine and the agent share one reading of a document.

pub mod builtin;
pub mod command;
mod content;
pub mod interpolate;
pub mod params;
pub mod runbook;

use serde_json::Value;

pub use command::{Plugin, PluginAction};
pub use content::{content_hash, render};
pub use params::{Parameter, ParameterError, ParameterType};
pub use runbook::{Runbook, Step};

/// CreateDocument and UpdateDocument refuse content larger than this
/// (`MaxDocumentSizeExceeded`).
pub const MAX_CONTENT_BYTES: usize = 64 * 1024;

/// The document types Casement accepts: those it can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DocumentType {
    Command,
    Automation,
}

impl DocumentType {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::Command => "Command",
            DocumentType::Automation => "Automation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Command" => Some(DocumentType::Command),
            "Automation" => Some(DocumentType::Automation),
            _ => None,
        }
    }
}

/// How content is written. `TEXT` exists in the API for document types Casement does not
/// host (packages, release notes); Command and Automation content is JSON or YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Format {
    #[serde(rename = "JSON")]
    Json,
    #[serde(rename = "YAML")]
    Yaml,
    #[serde(rename = "TEXT")]
    Text,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Yaml => "YAML",
            Format::Text => "TEXT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "JSON" => Some(Format::Json),
            "YAML" => Some(Format::Yaml),
            "TEXT" => Some(Format::Text),
            _ => None,
        }
    }
}

/// Why content was refused, as the two error shapes AWS uses for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// `InvalidDocumentContent`: the message names what is wrong and where.
    #[error("{0}")]
    Content(String),
    /// `InvalidDocumentSchemaVersion`: a schema version that exists, but not for this
    /// document type.
    #[error("{0}")]
    SchemaVersion(String),
}

pub(crate) fn invalid(msg: impl Into<String>) -> ContentError {
    ContentError::Content(msg.into())
}

/// What a document does, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A Command document's plugins in the order they run (schema 1.2 `runtimeConfig`,
    /// 2.x `mainSteps`).
    Command(Vec<Plugin>),
    Automation(Runbook),
}

/// A document's content, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub doc_type: DocumentType,
    pub schema_version: String,
    pub description: Option<String>,
    /// Declared parameters, in the order the content lists them.
    pub parameters: Vec<Parameter>,
    pub body: Body,
    /// The content as data: what GetDocument renders in another format, and what a node
    /// receives as `DocumentContent`.
    pub value: Value,
}

impl Document {
    /// Parse and check `content` as a document of `doc_type` written in `format`.
    pub fn parse(content: &str, format: Format, doc_type: DocumentType) -> Result<Self, ContentError> {
        let value = content::parse(content, format)?;
        Self::from_value(value, doc_type)
    }

    /// Check content already read as data.
    pub fn from_value(value: Value, doc_type: DocumentType) -> Result<Self, ContentError> {
        let Value::Object(top) = &value else {
            return Err(invalid("Document content must be an object at its top level."));
        };
        let schema_version = match top.get("schemaVersion") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(invalid(format!("Document schema version is invalid. Value: {other}"))),
            None => return Err(invalid("Document schema version is missing: schemaVersion is required.")),
        };
        let supported: &[&str] = match doc_type {
            DocumentType::Command => &["1.2", "2.0", "2.2"],
            DocumentType::Automation => &["0.3"],
        };
        if !supported.contains(&schema_version.as_str()) {
            if KNOWN_SCHEMA_VERSIONS.contains(&schema_version.as_str()) {
                return Err(ContentError::SchemaVersion(format!(
                    "Document schema version, {schema_version}, is not supported by document type {}. Supported versions: {}.",
                    doc_type.as_str(),
                    supported.join(", ")
                )));
            }
            return Err(invalid(format!("Document schema version is invalid. Value: {schema_version}")));
        }
        let description = match top.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid("description must be a string.")),
        };
        let parameters = params::declarations(top.get("parameters"), doc_type, &schema_version)?;
        let body = match doc_type {
            DocumentType::Command => Body::Command(command::plugins(top, &schema_version)?),
            DocumentType::Automation => Body::Automation(runbook::Runbook::from_content(top)?),
        };
        let doc = Document { doc_type, schema_version, description, parameters, body, value };
        doc.check_references()?;
        Ok(doc)
    }

    /// Every `{{ name }}` in the content must name something the document can resolve:
    /// a declared parameter, or (in a runbook) a step's output or an automation variable.
    fn check_references(&self) -> Result<(), ContentError> {
        let mut refs = Vec::new();
        match &self.body {
            Body::Command(plugins) => {
                for p in plugins {
                    interpolate::references(&p.inputs, &mut refs);
                    if let Some(pre) = &p.precondition {
                        interpolate::references(pre, &mut refs);
                    }
                }
            }
            Body::Automation(rb) => {
                for s in &rb.steps {
                    interpolate::references(&s.inputs, &mut refs);
                }
                for o in &rb.outputs {
                    refs.push(o.clone());
                }
            }
        }
        for r in refs {
            if self.parameters.iter().any(|p| p.name == r) || r.starts_with("ssm:") {
                continue;
            }
            if let Body::Automation(rb) = &self.body {
                if rb.resolves(&r) {
                    continue;
                }
            }
            return Err(invalid(format!("Parameter \"{r}\" is not declared.")));
        }
        Ok(())
    }

    /// The stored record of a version made from this content.
    pub fn meta(&self, version: u32, format: Format, hash: String, created_ms: i64) -> casement_model::VersionMeta {
        casement_model::VersionMeta {
            version,
            version_name: None,
            format: format.as_str().into(),
            hash,
            created_ms,
            schema_version: self.schema_version.clone(),
            description: self.description.clone(),
            display_name: None,
            target_type: None,
            parameters: self
                .parameters
                .iter()
                .map(|p| casement_model::DocumentParameter {
                    name: p.name.clone(),
                    ty: p.ty.as_str().into(),
                    description: p.description.clone(),
                    default_value: p.default_text(),
                })
                .collect(),
            platform_types: self.platform_types().into_iter().map(str::to_owned).collect(),
        }
    }

    /// The plugins of a Command document (empty for a runbook).
    pub fn plugins(&self) -> &[Plugin] {
        match &self.body {
            Body::Command(p) => p,
            Body::Automation(_) => &[],
        }
    }

    pub fn runbook(&self) -> Option<&Runbook> {
        match &self.body {
            Body::Automation(r) => Some(r),
            Body::Command(_) => None,
        }
    }

    /// `PlatformTypes`: where the document's actions can run. A runbook runs in the
    /// service, so it is listed for every platform, as AWS lists its own runbooks.
    pub fn platform_types(&self) -> Vec<&'static str> {
        match &self.body {
            Body::Automation(_) => vec!["Windows", "Linux", "MacOS"],
            Body::Command(plugins) => {
                let mut out: Vec<&'static str> = Vec::new();
                for p in plugins {
                    for t in p.action.platforms() {
                        if !out.contains(t) {
                            out.push(t);
                        }
                    }
                }
                out
            }
        }
    }
}

/// Schema versions that exist for some SSM document type (Session, Policy, Package…).
const KNOWN_SCHEMA_VERSIONS: &[&str] = &["0.3", "1.0", "1.2", "2.0", "2.2"];

#[cfg(test)]
mod tests;
