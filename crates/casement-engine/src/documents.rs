//! Which document a request names. A document is named by its name (one of the
//! caller's own, or one of AWS's) or by its ARN (`arn:aws:ssm:<region>:<account>:
//! document/<name>`; AWS's own have an empty account), which also reaches documents
//! other accounts shared with the caller. A version is `$DEFAULT` (the default), a
//! number, `$LATEST`, or a VersionName. Documents, Run Command and Automation all look
//! documents up here, so they agree on what a name means.

use std::sync::Arc;

use casement_documents::{builtin, Document, DocumentType, Format};
use casement_model::document::SHARE_ALL;
use casement_model::{DocumentInfo, Scope, VersionMeta};
use casement_store::{Store, StoreError};

/// Who owns a resolved document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// One of AWS's documents this server hosts.
    Amazon,
    /// An account's document, in its scope (the caller's, or the sharer's).
    Account(Scope),
}

impl Owner {
    /// `Owner` as the API shows it.
    pub fn name(&self) -> &str {
        match self {
            Owner::Amazon => "Amazon",
            Owner::Account(s) => &s.account,
        }
    }
}

/// A document version found, with its content read.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub owner: Owner,
    pub info: DocumentInfo,
    pub meta: VersionMeta,
    pub content: Arc<str>,
    pub document: Arc<Document>,
}

impl Resolved {
    /// The version number as the API writes it.
    pub fn version(&self) -> String {
        self.meta.version.to_string()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// `InvalidDocument`.
    #[error("The specified document does not exist.")]
    NotFound,
    /// `InvalidDocumentVersion`.
    #[error("The document version is not valid or does not exist.")]
    VersionNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A name or ARN, split into the owner it points at and the document's name.
fn locate(caller: &Scope, name_or_arn: &str) -> Option<(Option<Scope>, String)> {
    let Some(rest) = name_or_arn.strip_prefix("arn:") else {
        return Some(if builtin::get(name_or_arn).is_some() {
            (None, name_or_arn.to_owned())
        } else {
            (Some(caller.clone()), name_or_arn.to_owned())
        });
    };
    // partition:ssm:region:account:document/name
    let mut parts = rest.splitn(5, ':');
    let (_partition, service, region, account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let name = resource.strip_prefix("document/")?;
    if service != "ssm" || region != caller.region || name.is_empty() {
        return None;
    }
    if account.is_empty() {
        return builtin::get(name).map(|_| (None, name.to_owned()));
    }
    Some((Some(Scope::new(account, region)), name.to_owned()))
}

/// Whether `info`, owned by `owner`, may be read by `caller`.
fn readable(owner: &Scope, caller: &Scope, info: &DocumentInfo) -> bool {
    owner == caller || info.shared_with.iter().any(|a| a == &caller.account || a == SHARE_ALL)
}

/// The version a request selects among a document's versions.
pub enum Selector<'a> {
    Default,
    Latest,
    Number(u32),
    Name(&'a str),
}

impl<'a> Selector<'a> {
    /// From the API's `DocumentVersion` and `VersionName` members. When both are given
    /// the version selects and the name must match it ([`resolve`] checks).
    pub fn from_request(version: Option<&str>, version_name: Option<&'a str>) -> Result<Self, LookupError> {
        Ok(match (version, version_name) {
            (None, Some(n)) => Selector::Name(n),
            (None | Some("$DEFAULT"), _) => Selector::Default,
            (Some("$LATEST"), _) => Selector::Latest,
            (Some(v), _) => Selector::Number(v.parse().map_err(|_| LookupError::VersionNotFound)?),
        })
    }
}

/// Look up a document version for `caller`.
pub async fn resolve(
    store: &dyn Store,
    caller: &Scope,
    name_or_arn: &str,
    version: Option<&str>,
    version_name: Option<&str>,
) -> Result<Resolved, LookupError> {
    let (owner, name) = locate(caller, name_or_arn).ok_or(LookupError::NotFound)?;
    let selector = Selector::from_request(version, version_name)?;
    let Some(owner) = owner else {
        let b = builtin::get(&name).ok_or(LookupError::NotFound)?;
        // AWS's documents here have one version and no version names.
        let ok =
            version_name.is_none() && matches!(selector, Selector::Default | Selector::Latest | Selector::Number(1));
        if !ok {
            return Err(LookupError::VersionNotFound);
        }
        return Ok(builtin_resolved(b));
    };
    let info = store.get_document(&owner, &name).await?.ok_or(LookupError::NotFound)?;
    if !readable(&owner, caller, &info) {
        return Err(LookupError::NotFound);
    }
    let number = match selector {
        Selector::Default => info.default_version,
        Selector::Latest => info.latest_version,
        Selector::Number(n) => n,
        Selector::Name(n) => {
            let mut after = 0;
            loop {
                let page = store.list_document_versions(&owner, &name, after, 100).await?;
                if let Some(m) = page.iter().find(|m| m.version_name.as_deref() == Some(n)) {
                    break m.version;
                }
                match page.last() {
                    Some(last) if page.len() == 100 => after = last.version,
                    _ => return Err(LookupError::VersionNotFound),
                }
            }
        }
    };
    let v = store.get_document_version(&owner, &name, number).await?.ok_or(LookupError::VersionNotFound)?;
    if version_name.is_some_and(|n| v.meta.version_name.as_deref() != Some(n)) {
        return Err(LookupError::VersionNotFound);
    }
    let doc_type = DocumentType::parse(&info.document_type)
        .ok_or_else(|| StoreError::Corrupt(format!("document type {}", info.document_type)))?;
    let format = Format::parse(&v.meta.format).unwrap_or(Format::Json);
    let document = Document::parse(&v.content, format, doc_type)
        .map_err(|e| StoreError::Corrupt(format!("stored document {name} version {number}: {e}")))?;
    Ok(Resolved {
        owner: Owner::Account(owner),
        info,
        meta: v.meta,
        content: v.content.into(),
        document: Arc::new(document),
    })
}

/// An AWS-owned document as a resolved version 1.
pub fn builtin_resolved(b: &builtin::Builtin) -> Resolved {
    Resolved {
        owner: Owner::Amazon,
        info: builtin_info(b),
        meta: b.document.meta(1, Format::Json, b.hash.clone(), builtin::CREATED_MS),
        content: b.content.into(),
        document: Arc::new(b.document.clone()),
    }
}

pub fn builtin_info(b: &builtin::Builtin) -> DocumentInfo {
    DocumentInfo {
        name: b.name.to_owned(),
        document_type: b.document.doc_type.as_str().to_owned(),
        created_ms: builtin::CREATED_MS,
        latest_version: 1,
        default_version: 1,
        issued_versions: 1,
        shared_with: Vec::new(),
        shared_version: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arns_locate_their_owner() {
        let me = Scope::new("111111111111", "us-east-1");
        assert_eq!(locate(&me, "mine"), Some((Some(me.clone()), "mine".into())));
        assert_eq!(locate(&me, "AWS-RunShellScript"), Some((None, "AWS-RunShellScript".into())));
        assert_eq!(
            locate(&me, "arn:aws:ssm:us-east-1::document/AWS-RunShellScript"),
            Some((None, "AWS-RunShellScript".into()))
        );
        assert_eq!(
            locate(&me, "arn:aws:ssm:us-east-1:222222222222:document/theirs"),
            Some((Some(Scope::new("222222222222", "us-east-1")), "theirs".into()))
        );
        assert_eq!(locate(&me, "arn:aws:ssm:eu-west-1:222222222222:document/theirs"), None);
        assert_eq!(locate(&me, "arn:aws:ssm:us-east-1::document/AWS-Unknown"), None);
        assert_eq!(locate(&me, "arn:aws:s3:us-east-1:222222222222:document/x"), None);
    }
}
