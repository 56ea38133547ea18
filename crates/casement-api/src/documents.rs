//! SSM documents: CreateDocument, GetDocument, DescribeDocument, UpdateDocument,
//! UpdateDocumentDefaultVersion, ListDocumentVersions, ListDocuments, DeleteDocument,
//! DescribeDocumentPermission, ModifyDocumentPermission.
//!
//! Content is read and checked by `casement-documents`; which document a name or ARN
//! means is `casement_engine::documents::resolve`, shared with Run Command. AWS's own
//! documents (those Casement can run) are listed with Owner `Amazon` and cannot be
//! changed.

use casement_documents::{
    builtin, content_hash, render, ContentError, Document, DocumentType, Format, MAX_CONTENT_BYTES,
};
use casement_engine::documents::{self as lookup, LookupError, Owner, Resolved};
use casement_model::document::{DOCUMENT_RESOURCE_TYPE, SHARE_ALL};
use casement_model::{DocumentInfo, DocumentVersion, Scope, Tag, VersionMeta};
use casement_protocol::timefmt::epoch_seconds;
use casement_protocol::ApiError;
use casement_store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::internal;
use crate::tags::Empty;
use crate::{pagination, Api, Context};

/// AWS: a document has at most 1,000 versions, and is shared with at most 1,000 accounts.
const MAX_VERSIONS: u32 = 1_000;
const MAX_SHARES: usize = 1_000;

// ---- errors, in AWS's words ----

fn not_found() -> ApiError {
    ApiError::InvalidDocument("The specified document does not exist.".into())
}

fn version_not_found() -> ApiError {
    ApiError::InvalidDocumentVersion("The document version is not valid or does not exist.".into())
}

pub(crate) fn lookup_error(e: LookupError) -> ApiError {
    match e {
        LookupError::NotFound => not_found(),
        LookupError::VersionNotFound => version_not_found(),
        LookupError::Store(e) => internal(e),
    }
}

fn content_error(e: ContentError) -> ApiError {
    match e {
        ContentError::Content(m) => ApiError::InvalidDocumentContent(m),
        ContentError::SchemaVersion(m) => ApiError::InvalidDocumentSchemaVersion(m),
    }
}

fn amazon_owned(what: &str) -> ApiError {
    ApiError::InvalidDocumentOperation(format!("You can't {what} a document owned by Amazon."))
}

fn concurrent() -> ApiError {
    ApiError::TooManyUpdates("There are concurrent updates for a resource that supports one update at a time.".into())
}

fn store_write_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => not_found(),
        StoreError::Conflict => concurrent(),
        other => internal(other),
    }
}

// ---- wire shapes ----

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParameterDto {
    pub name: String,
    #[serde(rename = "Type")]
    pub ty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
}

/// `DocumentDescription`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Description {
    pub hash: String,
    pub hash_type: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_name: Option<String>,
    pub owner: String,
    #[serde(serialize_with = "epoch_seconds")]
    pub created_date: i64,
    pub status: &'static str,
    pub document_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub parameters: Vec<ParameterDto>,
    pub platform_types: Vec<String>,
    pub document_type: String,
    pub schema_version: String,
    pub latest_version: String,
    pub default_version: String,
    pub document_format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    pub tags: Vec<Tag>,
}

fn description(
    owner: &str,
    info: &DocumentInfo,
    meta: &VersionMeta,
    tags: Vec<Tag>,
    status: &'static str,
) -> Description {
    Description {
        hash: meta.hash.clone(),
        hash_type: "Sha256",
        name: info.name.clone(),
        display_name: meta.display_name.clone(),
        version_name: meta.version_name.clone(),
        owner: owner.to_owned(),
        created_date: meta.created_ms,
        status,
        document_version: meta.version.to_string(),
        description: meta.description.clone(),
        parameters: meta
            .parameters
            .iter()
            .map(|p| ParameterDto {
                name: p.name.clone(),
                ty: p.ty.clone(),
                description: p.description.clone(),
                default_value: p.default_value.clone(),
            })
            .collect(),
        platform_types: meta.platform_types.clone(),
        document_type: info.document_type.clone(),
        schema_version: meta.schema_version.clone(),
        latest_version: info.latest_version.to_string(),
        default_version: info.default_version.to_string(),
        document_format: meta.format.clone(),
        target_type: meta.target_type.clone(),
        tags,
    }
}

/// The document and its checks, from content as CreateDocument and UpdateDocument take it.
fn read_content(content: &str, format: Option<&str>, doc_type: DocumentType) -> Result<(Document, Format), ApiError> {
    if content.len() > MAX_CONTENT_BYTES {
        return Err(ApiError::MaxDocumentSizeExceeded(format!(
            "The content of the document is {} bytes; the size limit of a document is 64 KB.",
            content.len()
        )));
    }
    let format = format.and_then(Format::parse).unwrap_or(Format::Json);
    let doc = Document::parse(content, format, doc_type).map_err(content_error)?;
    Ok((doc, format))
}

/// The document version a request names, as the caller may see it.
async fn resolve(
    api: &Api,
    ctx: &Context,
    name: &str,
    version: Option<&str>,
    version_name: Option<&str>,
) -> Result<Resolved, ApiError> {
    lookup::resolve(&*api.store, &ctx.scope, name, version, version_name).await.map_err(lookup_error)
}

/// The caller's own document (not AWS's, not another account's), for the operations that
/// change one.
async fn own(api: &Api, ctx: &Context, name: &str, what: &str) -> Result<DocumentInfo, ApiError> {
    if builtin::get(name).is_some() {
        return Err(amazon_owned(what));
    }
    api.store.get_document(&ctx.scope, name).await.map_err(internal)?.ok_or_else(not_found)
}

/// Every version's record of one of the caller's documents, oldest first.
async fn all_versions(api: &Api, scope: &Scope, name: &str) -> Result<Vec<VersionMeta>, ApiError> {
    let mut out: Vec<VersionMeta> = Vec::new();
    loop {
        let after = out.last().map_or(0, |m| m.version);
        let page = api.store.list_document_versions(scope, name, after, 200).await.map_err(internal)?;
        let done = page.len() < 200;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

async fn tags_of(api: &Api, ctx: &Context, r: &Resolved) -> Result<Vec<Tag>, ApiError> {
    match &r.owner {
        Owner::Account(s) if s == &ctx.scope => {
            api.store.list_tags(s, DOCUMENT_RESOURCE_TYPE, &r.info.name).await.map_err(internal)
        }
        _ => Ok(Vec::new()),
    }
}

// ---- CreateDocument ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    pub content: String,
    pub name: String,
    pub document_type: Option<String>,
    pub document_format: Option<String>,
    pub version_name: Option<String>,
    pub display_name: Option<String>,
    pub target_type: Option<String>,
    pub requires: Option<Value>,
    pub attachments: Option<Value>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescriptionResult {
    pub document_description: Description,
}

/// Members Casement does not act on are refused rather than silently dropped.
fn refuse_unsupported(requires: &Option<Value>, attachments: &Option<Value>) -> Result<(), ApiError> {
    if attachments.as_ref().is_some_and(|a| !a.as_array().is_some_and(Vec::is_empty)) {
        return Err(ApiError::Validation(
            "Attachments are not supported by this server: it has no S3 to fetch them from.".into(),
        ));
    }
    if requires.as_ref().is_some_and(|a| !a.as_array().is_some_and(Vec::is_empty)) {
        return Err(ApiError::Validation(
            "Requires is not supported by this server: it hosts Command and Automation documents only.".into(),
        ));
    }
    Ok(())
}

pub async fn create(api: &Api, ctx: &Context, req: CreateRequest) -> Result<DescriptionResult, ApiError> {
    if builtin::is_reserved_name(&req.name) {
        return Err(ApiError::Validation(format!(
            "Invalid document name {}: names starting with aws, amazon or amzn are reserved by AWS.",
            req.name
        )));
    }
    let type_name = req.document_type.as_deref().unwrap_or("Command");
    let doc_type = DocumentType::parse(type_name).ok_or_else(|| {
        ApiError::Validation(format!(
            "DocumentType {type_name} is not supported by this server: it runs Command and Automation documents."
        ))
    })?;
    refuse_unsupported(&req.requires, &req.attachments)?;
    let (doc, format) = read_content(&req.content, req.document_format.as_deref(), doc_type)?;
    let mut meta = doc.meta(1, format, content_hash(&req.content), ctx.now_ms);
    meta.version_name = req.version_name;
    meta.display_name = req.display_name;
    meta.target_type = req.target_type;
    let info = DocumentInfo {
        name: req.name.clone(),
        document_type: doc_type.as_str().into(),
        created_ms: ctx.now_ms,
        latest_version: 1,
        default_version: 1,
        issued_versions: 1,
        shared_with: Vec::new(),
        shared_version: None,
    };
    let tags = req.tags.unwrap_or_default();
    let version = DocumentVersion { meta, content: req.content };
    api.store.create_document(&ctx.scope, &info, &version, &tags).await.map_err(|e| match e {
        StoreError::AlreadyExists => {
            ApiError::DocumentAlreadyExists(format!("Document with same name {} already exists", req.name))
        }
        other => internal(other),
    })?;
    Ok(DescriptionResult {
        document_description: description(&ctx.scope.account, &info, &version.meta, tags, "Creating"),
    })
}

// ---- GetDocument ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRequest {
    pub name: String,
    pub version_name: Option<String>,
    pub document_version: Option<String>,
    pub document_format: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetResult {
    pub name: String,
    #[serde(serialize_with = "epoch_seconds")]
    pub created_date: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_name: Option<String>,
    pub document_version: String,
    pub status: &'static str,
    pub content: String,
    pub document_type: String,
    pub document_format: String,
}

pub async fn get(api: &Api, ctx: &Context, req: GetRequest) -> Result<GetResult, ApiError> {
    let r = resolve(api, ctx, &req.name, req.document_version.as_deref(), req.version_name.as_deref()).await?;
    let stored = Format::parse(&r.meta.format).unwrap_or(Format::Json);
    let wanted = req.document_format.as_deref().and_then(Format::parse).unwrap_or(stored);
    let content = if wanted == stored || wanted == Format::Text {
        r.content.to_string()
    } else {
        render(&r.document.value, wanted)
    };
    Ok(GetResult {
        name: r.info.name,
        created_date: r.meta.created_ms,
        display_name: r.meta.display_name,
        version_name: r.meta.version_name,
        document_version: r.meta.version.to_string(),
        status: "Active",
        content,
        document_type: r.info.document_type,
        document_format: if wanted == Format::Text { stored } else { wanted }.as_str().into(),
    })
}

// ---- DescribeDocument ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRequest {
    pub name: String,
    pub document_version: Option<String>,
    pub version_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeResult {
    pub document: Description,
}

pub async fn describe(api: &Api, ctx: &Context, req: DescribeRequest) -> Result<DescribeResult, ApiError> {
    let r = resolve(api, ctx, &req.name, req.document_version.as_deref(), req.version_name.as_deref()).await?;
    let tags = tags_of(api, ctx, &r).await?;
    Ok(DescribeResult { document: description(r.owner.name(), &r.info, &r.meta, tags, "Active") })
}

// ---- UpdateDocument ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateRequest {
    pub content: String,
    pub name: String,
    pub attachments: Option<Value>,
    pub display_name: Option<String>,
    pub version_name: Option<String>,
    pub document_version: Option<String>,
    pub document_format: Option<String>,
    pub target_type: Option<String>,
}

pub async fn update(api: &Api, ctx: &Context, req: UpdateRequest) -> Result<DescriptionResult, ApiError> {
    let mut info = own(api, ctx, &req.name, "update").await?;
    match req.document_version.as_deref() {
        None | Some("$LATEST") => {}
        Some(v) if v == info.latest_version.to_string() => {}
        Some(_) => {
            return Err(ApiError::InvalidDocumentVersion(
                "Only the latest version of a document can be updated: give $LATEST or the latest version number."
                    .into(),
            ))
        }
    }
    refuse_unsupported(&None, &req.attachments)?;
    let doc_type = DocumentType::parse(&info.document_type)
        .ok_or_else(|| internal(StoreError::Corrupt(format!("document type {}", info.document_type))))?;
    let (doc, format) = read_content(&req.content, req.document_format.as_deref(), doc_type)?;
    let versions = all_versions(api, &ctx.scope, &req.name).await?;
    let hash = content_hash(&req.content);
    if versions.iter().any(|m| m.hash == hash) {
        return Err(ApiError::DuplicateDocumentContent(
            "The content of the document matches another version of it. Change the content of the document and try again."
                .into(),
        ));
    }
    if let Some(n) = &req.version_name {
        if versions.iter().any(|m| m.version_name.as_ref() == Some(n)) {
            return Err(ApiError::DuplicateDocumentVersionName(
                "The version name has already been used in this document. Specify a different version name, and then try again."
                    .into(),
            ));
        }
    }
    if versions.len() as u32 >= MAX_VERSIONS {
        return Err(ApiError::DocumentVersionLimitExceeded(
            "The document has too many versions. Delete one or more document versions and try again.".into(),
        ));
    }
    let latest = versions.iter().find(|m| m.version == info.latest_version);
    let number = info.issued_versions.max(info.latest_version) + 1;
    let mut meta = doc.meta(number, format, hash, ctx.now_ms);
    meta.version_name = req.version_name;
    meta.display_name = req.display_name.or_else(|| latest.and_then(|m| m.display_name.clone()));
    meta.target_type = req.target_type.or_else(|| latest.and_then(|m| m.target_type.clone()));
    let expected = info.latest_version;
    info.latest_version = number;
    info.issued_versions = number;
    let version = DocumentVersion { meta, content: req.content };
    api.store.add_document_version(&ctx.scope, &info, &version, expected).await.map_err(store_write_error)?;
    let tags = api.store.list_tags(&ctx.scope, DOCUMENT_RESOURCE_TYPE, &info.name).await.map_err(internal)?;
    Ok(DescriptionResult {
        document_description: description(&ctx.scope.account, &info, &version.meta, tags, "Updating"),
    })
}

// ---- UpdateDocumentDefaultVersion ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetDefaultRequest {
    pub name: String,
    pub document_version: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DefaultVersionDescription {
    pub name: String,
    pub default_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_version_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetDefaultResult {
    pub description: DefaultVersionDescription,
}

pub async fn set_default(api: &Api, ctx: &Context, req: SetDefaultRequest) -> Result<SetDefaultResult, ApiError> {
    let mut info = own(api, ctx, &req.name, "change the default version of").await?;
    let number = match req.document_version.as_str() {
        "$LATEST" => info.latest_version,
        "$DEFAULT" => info.default_version,
        v => v.parse().map_err(|_| version_not_found())?,
    };
    let v = api
        .store
        .get_document_version(&ctx.scope, &req.name, number)
        .await
        .map_err(internal)?
        .ok_or_else(version_not_found)?;
    info.default_version = number;
    api.store.update_document(&ctx.scope, &info, info.latest_version).await.map_err(store_write_error)?;
    Ok(SetDefaultResult {
        description: DefaultVersionDescription {
            name: info.name,
            default_version: number.to_string(),
            default_version_name: v.meta.version_name,
        },
    })
}

// ---- ListDocumentVersions ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVersionsRequest {
    pub name: String,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionInfo {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub document_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_name: Option<String>,
    #[serde(serialize_with = "epoch_seconds")]
    pub created_date: i64,
    pub is_default_version: bool,
    pub document_format: String,
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVersionsResult {
    pub document_versions: Vec<VersionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

pub async fn list_versions(api: &Api, ctx: &Context, req: ListVersionsRequest) -> Result<ListVersionsResult, ApiError> {
    let size = pagination::page_size(req.max_results, 50, 50);
    let after: u32 = match pagination::decode_next_token(req.next_token.as_deref())? {
        None => 0,
        Some(k) => k.parse().map_err(|_| pagination::invalid_next_token())?,
    };
    // Resolving the default version checks the name and who may read it.
    let r = resolve(api, ctx, &req.name, None, None).await?;
    let mut metas = match &r.owner {
        Owner::Amazon => vec![r.meta.clone()].into_iter().filter(|m| m.version > after).collect(),
        Owner::Account(s) => {
            api.store.list_document_versions(s, &r.info.name, after, size + 1).await.map_err(internal)?
        }
    };
    let next = (metas.len() > size).then(|| {
        metas.truncate(size);
        metas.last().map(|m| pagination::encode(&m.version.to_string()))
    });
    Ok(ListVersionsResult {
        document_versions: metas
            .into_iter()
            .map(|m| VersionInfo {
                name: r.info.name.clone(),
                display_name: m.display_name,
                is_default_version: m.version == r.info.default_version,
                document_version: m.version.to_string(),
                version_name: m.version_name,
                created_date: m.created_ms,
                document_format: m.format,
                status: "Active",
            })
            .collect(),
        next_token: next.flatten(),
    })
}

// ---- DeleteDocument ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRequest {
    pub name: String,
    pub document_version: Option<String>,
    pub version_name: Option<String>,
    /// For documents associated with nodes through State Manager, which Casement does
    /// not have: no document here is ever associated, so it changes nothing.
    pub force: Option<bool>,
}

pub async fn delete(api: &Api, ctx: &Context, req: DeleteRequest) -> Result<Empty, ApiError> {
    let info = own(api, ctx, &req.name, "delete").await?;
    if !info.shared_with.is_empty() {
        return Err(ApiError::InvalidDocumentOperation(
            "The document is shared with other accounts. Stop sharing it (ModifyDocumentPermission), and then delete it."
                .into(),
        ));
    }
    if req.document_version.is_none() && req.version_name.is_none() {
        api.store.delete_document(&ctx.scope, &req.name).await.map_err(internal)?;
        return Ok(Empty {});
    }
    let r = resolve(api, ctx, &req.name, req.document_version.as_deref(), req.version_name.as_deref()).await?;
    let number = r.meta.version;
    if number == info.default_version {
        return Err(ApiError::InvalidDocumentOperation(
            "You can't delete the default version of a document. Set another version as the default, and then try again."
                .into(),
        ));
    }
    let mut updated = info.clone();
    if number == info.latest_version {
        let versions = all_versions(api, &ctx.scope, &req.name).await?;
        updated.latest_version = versions.iter().map(|m| m.version).filter(|v| *v != number).max().unwrap_or(0);
    }
    updated.issued_versions = info.issued_versions.max(info.latest_version);
    let deleted = api
        .store
        .delete_document_version(&ctx.scope, &updated, number, info.latest_version)
        .await
        .map_err(store_write_error)?;
    if !deleted {
        return Err(version_not_found());
    }
    Ok(Empty {})
}

// ---- ListDocuments ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValuesFilter {
    pub key: Option<String>,
    pub values: Option<Vec<String>>,
}

/// `DocumentFilterList` (deprecated), whose members are lower-case.
#[derive(Debug, Deserialize)]
pub struct LegacyFilter {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    pub document_filter_list: Option<Vec<LegacyFilter>>,
    pub filters: Option<Vec<KeyValuesFilter>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Identifier {
    pub name: String,
    #[serde(serialize_with = "epoch_seconds")]
    pub created_date: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_name: Option<String>,
    pub platform_types: Vec<String>,
    pub document_version: String,
    pub document_type: String,
    pub schema_version: String,
    pub document_format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResult {
    pub document_identifiers: Vec<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// The three sources a listing walks, in order: AWS's documents, the caller's, and those
/// shared with the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Amazon = 0,
    Own = 1,
    Shared = 2,
}

/// ListDocuments' filters, read once: keys AND together, a key's values OR.
#[derive(Default)]
struct Filters {
    sources: Option<Vec<Source>>,
    /// A shared document counts as `Public` only when shared with all.
    public_only: bool,
    types: Vec<String>,
    platforms: Vec<String>,
    name_prefixes: Vec<String>,
    keywords: Vec<String>,
    target_types: Vec<String>,
    tags: Vec<(String, Vec<String>)>,
}

impl Filters {
    fn add(&mut self, key: &str, values: Vec<String>) -> Result<(), ApiError> {
        match key {
            "Owner" => {
                let mut sources = Vec::new();
                for v in &values {
                    match v.as_str() {
                        "Self" => sources.push(Source::Own),
                        "Amazon" => sources.push(Source::Amazon),
                        "Private" => sources.push(Source::Shared),
                        "Public" => {
                            sources.push(Source::Shared);
                            self.public_only = true;
                        }
                        "All" => sources.extend([Source::Amazon, Source::Own, Source::Shared]),
                        // Third-party documents come from AWS Marketplace: none here.
                        _ => {}
                    }
                }
                self.sources = Some(sources);
            }
            "DocumentType" => self.types = values,
            "PlatformTypes" => self.platforms = values,
            "Name" => self.name_prefixes = values,
            "SearchKeyword" => self.keywords = values.iter().map(|v| v.to_lowercase()).collect(),
            "TargetType" => self.target_types = values,
            k => match k.strip_prefix("tag:") {
                Some(tag) if !tag.is_empty() => self.tags.push((tag.to_owned(), values)),
                _ => return Err(ApiError::InvalidFilterKey),
            },
        }
        Ok(())
    }

    fn wants(&self, s: Source) -> bool {
        self.sources.as_ref().is_none_or(|v| v.contains(&s))
    }

    fn keeps(&self, info: &DocumentInfo, meta: &VersionMeta, tags: &[Tag]) -> bool {
        let any = |vals: &[String], f: &dyn Fn(&str) -> bool| vals.is_empty() || vals.iter().any(|v| f(v));
        any(&self.types, &|t| t == info.document_type)
            && any(&self.platforms, &|p| meta.platform_types.iter().any(|x| x == p))
            && any(&self.name_prefixes, &|n| info.name.starts_with(n))
            && any(&self.keywords, &|k| info.name.to_lowercase().contains(k))
            && any(&self.target_types, &|t| meta.target_type.as_deref() == Some(t))
            && self.tags.iter().all(|(k, vals)| {
                tags.iter().any(|t| &t.key == k && (vals.is_empty() || vals.iter().any(|v| v == &t.value)))
            })
            && (!self.public_only || info.shared_with.iter().any(|a| a == SHARE_ALL))
    }
}

/// One candidate of a listing, with its position (source, owner, name).
struct Row {
    source: Source,
    owner: String,
    info: DocumentInfo,
    meta: VersionMeta,
}

type ListKey = (Source, String, String);

fn encode_key((s, owner, name): &ListKey) -> String {
    format!("{}|{owner}|{name}", *s as u8)
}

fn decode_key(k: &str) -> Option<ListKey> {
    let mut parts = k.splitn(3, '|');
    let source = match parts.next()? {
        "0" => Source::Amazon,
        "1" => Source::Own,
        "2" => Source::Shared,
        _ => return None,
    };
    Some((source, parts.next()?.to_owned(), parts.next()?.to_owned()))
}

/// Up to `n` rows after `after`, walking the sources the filters allow in order.
async fn fetch_rows(
    api: &Api,
    scope: &Scope,
    filters: &Filters,
    after: Option<ListKey>,
    n: usize,
) -> Result<Vec<Row>, ApiError> {
    let mut out = Vec::new();
    for source in [Source::Amazon, Source::Own, Source::Shared] {
        if out.len() >= n {
            break;
        }
        let from = match &after {
            Some((s, _, _)) if *s > source => continue,
            Some((s, owner, name)) if *s == source => Some((owner.clone(), name.clone())),
            _ => None,
        };
        if !filters.wants(source) {
            continue;
        }
        let want = n - out.len();
        match source {
            Source::Amazon => {
                for b in builtin::all()
                    .iter()
                    .filter(|b| from.as_ref().is_none_or(|(_, name)| b.name > name.as_str()))
                    .take(want)
                {
                    let r = lookup::builtin_resolved(b);
                    out.push(Row { source, owner: "Amazon".into(), info: r.info, meta: r.meta });
                }
            }
            Source::Own => {
                let rows = api
                    .store
                    .list_documents(scope, from.as_ref().map(|(_, n)| n.as_str()), want)
                    .await
                    .map_err(internal)?;
                out.extend(rows.into_iter().map(|(info, meta)| Row {
                    source,
                    owner: scope.account.clone(),
                    info,
                    meta,
                }));
            }
            Source::Shared => {
                let rows = api.store.list_shared_documents(scope, from.as_ref(), want).await.map_err(internal)?;
                out.extend(rows.into_iter().map(|(owner, info, meta)| Row { source, owner, info, meta }));
            }
        }
    }
    Ok(out)
}

pub async fn list(api: &Api, ctx: &Context, req: ListRequest) -> Result<ListResult, ApiError> {
    let size = pagination::page_size(req.max_results, 50, 50);
    let after = match pagination::decode_next_token(req.next_token.as_deref())? {
        None => None,
        Some(k) => Some(decode_key(&k).ok_or_else(pagination::invalid_next_token)?),
    };
    let mut filters = Filters::default();
    for f in req.filters.unwrap_or_default() {
        filters.add(f.key.as_deref().unwrap_or_default(), f.values.unwrap_or_default())?;
    }
    for f in req.document_filter_list.unwrap_or_default() {
        let key = match f.key.as_str() {
            "Name" | "Owner" | "PlatformTypes" | "DocumentType" => f.key,
            _ => return Err(ApiError::InvalidFilterKey),
        };
        filters.add(&key, vec![f.value])?;
    }
    let (filters, scope) = (&filters, &ctx.scope);
    let (items, next) = pagination::scan(
        size,
        after,
        |after, n| Box::pin(fetch_rows(api, scope, filters, after, n)),
        |r: &Row| (r.source, r.owner.clone(), r.info.name.clone()),
        |r: Row| {
            Box::pin(async move {
                let tags = match r.source {
                    Source::Own => {
                        api.store.list_tags(scope, DOCUMENT_RESOURCE_TYPE, &r.info.name).await.map_err(internal)?
                    }
                    Source::Amazon | Source::Shared => Vec::new(),
                };
                if !filters.keeps(&r.info, &r.meta, &tags) {
                    return Ok(None);
                }
                Ok(Some(Identifier {
                    name: r.info.name,
                    created_date: r.meta.created_ms,
                    display_name: r.meta.display_name,
                    owner: r.owner,
                    version_name: r.meta.version_name,
                    platform_types: r.meta.platform_types,
                    document_version: r.meta.version.to_string(),
                    document_type: r.info.document_type,
                    schema_version: r.meta.schema_version,
                    document_format: r.meta.format,
                    target_type: r.meta.target_type,
                    tags,
                }))
            })
        },
    )
    .await?;
    Ok(ListResult {
        document_identifiers: items,
        next_token: next.as_ref().map(|k| pagination::encode(&encode_key(k))),
    })
}

// ---- DescribeDocumentPermission, ModifyDocumentPermission ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribePermissionRequest {
    pub name: String,
    pub permission_type: String,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SharingInfo {
    pub account_id: String,
    pub shared_document_version: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribePermissionResult {
    pub account_ids: Vec<String>,
    pub account_sharing_info_list: Vec<SharingInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

pub async fn describe_permission(
    api: &Api,
    ctx: &Context,
    req: DescribePermissionRequest,
) -> Result<DescribePermissionResult, ApiError> {
    let info = own(api, ctx, &req.name, "share").await?;
    let size = pagination::page_size(req.max_results, 200, 200);
    let after = pagination::decode_next_token(req.next_token.as_deref())?;
    let mut accounts = info.shared_with.clone();
    accounts.sort();
    let (accounts, next) = pagination::page(accounts, |a| a.as_str(), after.as_deref(), size);
    let version = info.shared_version.clone().unwrap_or_else(|| "$DEFAULT".into());
    Ok(DescribePermissionResult {
        account_sharing_info_list: accounts
            .iter()
            .map(|a| SharingInfo { account_id: a.clone(), shared_document_version: version.clone() })
            .collect(),
        account_ids: accounts,
        next_token: next,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyPermissionRequest {
    pub name: String,
    pub permission_type: String,
    pub account_ids_to_add: Option<Vec<String>>,
    pub account_ids_to_remove: Option<Vec<String>>,
    pub shared_document_version: Option<String>,
}

pub async fn modify_permission(api: &Api, ctx: &Context, req: ModifyPermissionRequest) -> Result<Empty, ApiError> {
    let mut info = own(api, ctx, &req.name, "share").await?;
    let normal = |a: &String| if a.eq_ignore_ascii_case(SHARE_ALL) { SHARE_ALL.to_owned() } else { a.clone() };
    let remove: Vec<String> = req.account_ids_to_remove.unwrap_or_default().iter().map(normal).collect();
    info.shared_with.retain(|a| !remove.contains(a));
    for a in req.account_ids_to_add.unwrap_or_default().iter().map(normal) {
        if a != ctx.scope.account && !info.shared_with.contains(&a) {
            info.shared_with.push(a);
        }
    }
    if info.shared_with.len() > MAX_SHARES {
        return Err(ApiError::DocumentPermissionLimit(format!(
            "The document cannot be shared with more than {MAX_SHARES} accounts."
        )));
    }
    if let Some(v) = req.shared_document_version {
        if let Ok(n) = v.parse::<u32>() {
            api.store
                .get_document_version(&ctx.scope, &info.name, n)
                .await
                .map_err(internal)?
                .ok_or_else(version_not_found)?;
        }
        info.shared_version = Some(v);
    }
    api.store.update_document(&ctx.scope, &info, info.latest_version).await.map_err(store_write_error)?;
    Ok(Empty {})
}
