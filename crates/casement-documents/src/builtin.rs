//! The AWS-owned documents Casement serves: only those its nodes can really run, with
//! the content AWS publishes for them. They belong to no account (Owner `Amazon`),
//! every account reads them, and none can change them.

use std::sync::OnceLock;

use crate::{content_hash, Document, DocumentType, Format};

/// One AWS-owned document, parsed once.
pub struct Builtin {
    pub name: &'static str,
    pub content: &'static str,
    pub hash: String,
    pub document: Document,
}

/// When AWS first published these documents; CreatedDate of their version 1.
pub const CREATED_MS: i64 = 1_478_563_200_000; // 2016-11-08T00:00:00Z

const SOURCES: &[(&str, &str)] = &[
    ("AWS-RunPowerShellScript", include_str!("../builtin/AWS-RunPowerShellScript.json")),
    ("AWS-RunShellScript", include_str!("../builtin/AWS-RunShellScript.json")),
];

/// Every AWS-owned document, ordered by name.
pub fn all() -> &'static [Builtin] {
    static ALL: OnceLock<Vec<Builtin>> = OnceLock::new();
    ALL.get_or_init(|| {
        SOURCES
            .iter()
            .filter_map(|(name, content)| {
                // The sources are compiled in and tested to parse; one that did not
                // would simply not be served.
                let document = Document::parse(content, Format::Json, DocumentType::Command).ok()?;
                Some(Builtin { name, content, hash: content_hash(content), document })
            })
            .collect()
    })
}

pub fn get(name: &str) -> Option<&'static Builtin> {
    all().iter().find(|b| b.name == name)
}

/// Names AWS reserves for its own documents: a customer document may not start with
/// them (case-insensitive).
pub fn is_reserved_name(name: &str) -> bool {
    // AWSEC2, AWSConfigRemediation and AWSSupport, also reserved, start with "aws".
    const PREFIXES: &[&str] = &["aws", "amazon", "amzn"];
    let lower = name.to_ascii_lowercase();
    PREFIXES.iter().any(|p| lower.starts_with(p))
}
