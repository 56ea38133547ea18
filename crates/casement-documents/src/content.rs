//! Reading and writing content in its two formats. Both are read into the same data
//! (`serde_json::Value`), so a document written in YAML and read back as JSON (GetDocument
//! with `DocumentFormat`) is the same document.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{invalid, ContentError, Format};

pub(crate) fn parse(content: &str, format: Format) -> Result<Value, ContentError> {
    match format {
        Format::Json => serde_json::from_str(content)
            .map_err(|e| invalid(format!("JSON not well-formed. at Line: {}, Column: {}", e.line(), e.column()))),
        Format::Yaml => {
            let v: Value = serde_norway::from_str(content).map_err(|e| match e.location() {
                Some(l) => invalid(format!("YAML not well-formed. at Line: {}, Column: {}", l.line(), l.column())),
                None => invalid(format!("YAML not well-formed. {e}")),
            })?;
            Ok(v)
        }
        Format::Text => Err(invalid("Document format TEXT is not valid for Command and Automation documents.")),
    }
}

/// Content rendered in `format`. JSON is pretty-printed with four spaces, as the
/// console and GetDocument show AWS's own documents; YAML as serde_norway writes it.
pub fn render(value: &Value, format: Format) -> String {
    match format {
        Format::Yaml => serde_norway::to_string(value).unwrap_or_default(),
        Format::Json | Format::Text => {
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            match serde::Serialize::serialize(value, &mut ser) {
                Ok(()) => String::from_utf8(out).unwrap_or_default(),
                Err(_) => value.to_string(),
            }
        }
    }
}

/// `Hash` (HashType `Sha256`): the SHA-256 of the content as it was given, in hex.
pub fn content_hash(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}
