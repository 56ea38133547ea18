//! One error type for every operation, mapped to the awsJson 1.1 wire form in one place.
//!
//! The `__type` strings are SSM's shape names (or the AWS front end's framework error
//! names), because SDKs pick the exception class from that field alone.

use std::fmt;

/// Every error a caller can receive. Variants carry the message AWS would send;
/// `None` means the shape has no `Message` member and the body is only `{"__type": …}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("ValidationException: {0}")]
    Validation(String),
    #[error("SerializationException: {0}")]
    Serialization(String),
    #[error("UnknownOperationException")]
    UnknownOperation(Option<String>),
    #[error("DoesNotExistException: {0}")]
    DoesNotExist(String),
    #[error("IdempotentParameterMismatch: {0}")]
    IdempotentParameterMismatch(String),
    #[error("ResourceLimitExceededException: {0}")]
    ResourceLimitExceeded(String),
    #[error("TargetInUseException: {0}")]
    TargetInUse(String),
    #[error("FeatureNotAvailableException: {0}")]
    FeatureNotAvailable(String),
    #[error("InvalidResourceId")]
    InvalidResourceId,
    #[error("InvalidResourceType")]
    InvalidResourceType,
    #[error("TooManyTagsError")]
    TooManyTags,
    #[error("RequestEntityTooLargeException: {0}")]
    RequestEntityTooLarge(String),
    /// The request body did not arrive in time (a load balancer's 408).
    #[error("RequestTimeoutException: {0}")]
    RequestTimeout(String),
    // --- Run Command, managed nodes, activations ---
    #[error("InvalidInstanceId: {0}")]
    InvalidInstanceId(String),
    #[error("InvalidCommandId")]
    InvalidCommandId,
    #[error("InvalidDocument: {0}")]
    InvalidDocument(String),
    #[error("InvalidParameters: {0}")]
    InvalidParameters(String),
    #[error("InvocationDoesNotExist")]
    InvocationDoesNotExist,
    #[error("InvalidPluginName")]
    InvalidPluginName,
    #[error("DuplicateInstanceId")]
    DuplicateInstanceId,
    #[error("InvalidFilterKey")]
    InvalidFilterKey,
    #[error("InvalidFilter: {0}")]
    InvalidFilter(String),
    #[error("InvalidNextToken: {0}")]
    InvalidNextToken(String),
    #[error("InvalidInstanceInformationFilterValue: {0}")]
    InvalidInstanceInformationFilterValue(String),
    #[error("InvalidActivation: {0}")]
    InvalidActivation(String),
    #[error("InvalidActivationId: {0}")]
    InvalidActivationId(String),
    // --- documents ---
    #[error("DocumentAlreadyExists: {0}")]
    DocumentAlreadyExists(String),
    #[error("MaxDocumentSizeExceeded: {0}")]
    MaxDocumentSizeExceeded(String),
    #[error("InvalidDocumentContent: {0}")]
    InvalidDocumentContent(String),
    #[error("DocumentLimitExceeded: {0}")]
    DocumentLimitExceeded(String),
    #[error("InvalidDocumentSchemaVersion: {0}")]
    InvalidDocumentSchemaVersion(String),
    #[error("DuplicateDocumentContent: {0}")]
    DuplicateDocumentContent(String),
    #[error("DuplicateDocumentVersionName: {0}")]
    DuplicateDocumentVersionName(String),
    #[error("InvalidDocumentVersion: {0}")]
    InvalidDocumentVersion(String),
    #[error("DocumentVersionLimitExceeded: {0}")]
    DocumentVersionLimitExceeded(String),
    #[error("InvalidDocumentOperation: {0}")]
    InvalidDocumentOperation(String),
    #[error("DocumentPermissionLimit: {0}")]
    DocumentPermissionLimit(String),
    #[error("TooManyUpdates: {0}")]
    TooManyUpdates(String),
    // --- automation ---
    #[error("AutomationDefinitionNotFoundException: {0}")]
    AutomationDefinitionNotFound(String),
    #[error("AutomationDefinitionVersionNotFoundException: {0}")]
    AutomationDefinitionVersionNotFound(String),
    #[error("InvalidAutomationExecutionParametersException: {0}")]
    InvalidAutomationExecutionParameters(String),
    #[error("AutomationExecutionLimitExceededException: {0}")]
    AutomationExecutionLimitExceeded(String),
    #[error("InvalidTarget: {0}")]
    InvalidTarget(String),
    #[error("AutomationExecutionNotFoundException: {0}")]
    AutomationExecutionNotFound(String),
    #[error("InvalidAutomationStatusUpdateException: {0}")]
    InvalidAutomationStatusUpdate(String),
    #[error("InvalidAutomationSignalException: {0}")]
    InvalidAutomationSignal(String),
    #[error("AutomationStepNotFoundException: {0}")]
    AutomationStepNotFound(String),
    #[error("InvalidFilterValue: {0}")]
    InvalidFilterValue(String),
    /// The agent API's refusal of a node that may not do what it asked.
    #[error("AccessDeniedException: {0}")]
    AccessDenied(String),
    // --- authentication (the AWS front end's names) ---
    #[error("MissingAuthenticationTokenException: {0}")]
    MissingAuthenticationToken(String),
    #[error("IncompleteSignatureException: {0}")]
    IncompleteSignature(String),
    #[error("InvalidSignatureException: {0}")]
    InvalidSignature(String),
    #[error("UnrecognizedClientException: {0}")]
    UnrecognizedClient(String),
    #[error("InternalServerError: {0}")]
    Internal(String),
}

impl ApiError {
    /// The `__type` value: SSM's error shape name.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "ValidationException",
            ApiError::Serialization(_) => "SerializationException",
            ApiError::UnknownOperation(_) => "UnknownOperationException",
            ApiError::DoesNotExist(_) => "DoesNotExistException",
            ApiError::IdempotentParameterMismatch(_) => "IdempotentParameterMismatch",
            ApiError::ResourceLimitExceeded(_) => "ResourceLimitExceededException",
            ApiError::TargetInUse(_) => "TargetInUseException",
            ApiError::FeatureNotAvailable(_) => "FeatureNotAvailableException",
            ApiError::InvalidResourceId => "InvalidResourceId",
            ApiError::InvalidResourceType => "InvalidResourceType",
            ApiError::TooManyTags => "TooManyTagsError",
            ApiError::RequestEntityTooLarge(_) => "RequestEntityTooLargeException",
            ApiError::RequestTimeout(_) => "RequestTimeoutException",
            ApiError::InvalidInstanceId(_) => "InvalidInstanceId",
            ApiError::InvalidCommandId => "InvalidCommandId",
            ApiError::InvalidDocument(_) => "InvalidDocument",
            ApiError::InvalidParameters(_) => "InvalidParameters",
            ApiError::InvocationDoesNotExist => "InvocationDoesNotExist",
            ApiError::InvalidPluginName => "InvalidPluginName",
            ApiError::DuplicateInstanceId => "DuplicateInstanceId",
            ApiError::InvalidFilterKey => "InvalidFilterKey",
            ApiError::InvalidFilter(_) => "InvalidFilter",
            ApiError::InvalidNextToken(_) => "InvalidNextToken",
            ApiError::InvalidInstanceInformationFilterValue(_) => "InvalidInstanceInformationFilterValue",
            ApiError::InvalidActivation(_) => "InvalidActivation",
            ApiError::InvalidActivationId(_) => "InvalidActivationId",
            ApiError::DocumentAlreadyExists(_) => "DocumentAlreadyExists",
            ApiError::MaxDocumentSizeExceeded(_) => "MaxDocumentSizeExceeded",
            ApiError::InvalidDocumentContent(_) => "InvalidDocumentContent",
            ApiError::DocumentLimitExceeded(_) => "DocumentLimitExceeded",
            ApiError::InvalidDocumentSchemaVersion(_) => "InvalidDocumentSchemaVersion",
            ApiError::DuplicateDocumentContent(_) => "DuplicateDocumentContent",
            ApiError::DuplicateDocumentVersionName(_) => "DuplicateDocumentVersionName",
            ApiError::InvalidDocumentVersion(_) => "InvalidDocumentVersion",
            ApiError::DocumentVersionLimitExceeded(_) => "DocumentVersionLimitExceeded",
            ApiError::InvalidDocumentOperation(_) => "InvalidDocumentOperation",
            ApiError::DocumentPermissionLimit(_) => "DocumentPermissionLimit",
            ApiError::TooManyUpdates(_) => "TooManyUpdates",
            ApiError::AutomationDefinitionNotFound(_) => "AutomationDefinitionNotFoundException",
            ApiError::AutomationDefinitionVersionNotFound(_) => "AutomationDefinitionVersionNotFoundException",
            ApiError::InvalidAutomationExecutionParameters(_) => "InvalidAutomationExecutionParametersException",
            ApiError::AutomationExecutionLimitExceeded(_) => "AutomationExecutionLimitExceededException",
            ApiError::InvalidTarget(_) => "InvalidTarget",
            ApiError::AutomationExecutionNotFound(_) => "AutomationExecutionNotFoundException",
            ApiError::InvalidAutomationStatusUpdate(_) => "InvalidAutomationStatusUpdateException",
            ApiError::InvalidAutomationSignal(_) => "InvalidAutomationSignalException",
            ApiError::AutomationStepNotFound(_) => "AutomationStepNotFoundException",
            ApiError::InvalidFilterValue(_) => "InvalidFilterValue",
            ApiError::AccessDenied(_) => "AccessDeniedException",
            ApiError::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
            ApiError::IncompleteSignature(_) => "IncompleteSignatureException",
            ApiError::InvalidSignature(_) => "InvalidSignatureException",
            ApiError::UnrecognizedClient(_) => "UnrecognizedClientException",
            ApiError::Internal(_) => "InternalServerError",
        }
    }

    /// HTTP status. SSM's model carries no `httpError` trait, so Smithy's defaults apply:
    /// 400 for client faults, 500 only for `InternalServerError`. The authentication
    /// statuses follow the AWS "Common Errors" page.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Internal(_) => 500,
            ApiError::RequestEntityTooLarge(_) => 413,
            ApiError::RequestTimeout(_) => 408,
            ApiError::MissingAuthenticationToken(_) | ApiError::UnrecognizedClient(_) => 403,
            ApiError::InvalidSignature(_) | ApiError::IncompleteSignature(_) => 403,
            _ => 400,
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            ApiError::Validation(m)
            | ApiError::Serialization(m)
            | ApiError::DoesNotExist(m)
            | ApiError::IdempotentParameterMismatch(m)
            | ApiError::ResourceLimitExceeded(m)
            | ApiError::TargetInUse(m)
            | ApiError::FeatureNotAvailable(m)
            | ApiError::RequestEntityTooLarge(m)
            | ApiError::RequestTimeout(m)
            | ApiError::MissingAuthenticationToken(m)
            | ApiError::IncompleteSignature(m)
            | ApiError::InvalidSignature(m)
            | ApiError::UnrecognizedClient(m)
            | ApiError::Internal(m)
            | ApiError::InvalidInstanceId(m)
            | ApiError::InvalidDocument(m)
            | ApiError::InvalidParameters(m)
            | ApiError::InvalidFilter(m)
            | ApiError::InvalidNextToken(m)
            | ApiError::InvalidInstanceInformationFilterValue(m)
            | ApiError::InvalidActivation(m)
            | ApiError::InvalidActivationId(m)
            | ApiError::DocumentAlreadyExists(m)
            | ApiError::MaxDocumentSizeExceeded(m)
            | ApiError::InvalidDocumentContent(m)
            | ApiError::DocumentLimitExceeded(m)
            | ApiError::InvalidDocumentSchemaVersion(m)
            | ApiError::DuplicateDocumentContent(m)
            | ApiError::DuplicateDocumentVersionName(m)
            | ApiError::InvalidDocumentVersion(m)
            | ApiError::DocumentVersionLimitExceeded(m)
            | ApiError::InvalidDocumentOperation(m)
            | ApiError::DocumentPermissionLimit(m)
            | ApiError::TooManyUpdates(m)
            | ApiError::AutomationDefinitionNotFound(m)
            | ApiError::AutomationDefinitionVersionNotFound(m)
            | ApiError::InvalidAutomationExecutionParameters(m)
            | ApiError::AutomationExecutionLimitExceeded(m)
            | ApiError::InvalidTarget(m)
            | ApiError::AutomationExecutionNotFound(m)
            | ApiError::InvalidAutomationStatusUpdate(m)
            | ApiError::InvalidAutomationSignal(m)
            | ApiError::AutomationStepNotFound(m)
            | ApiError::InvalidFilterValue(m)
            | ApiError::AccessDenied(m) => Some(m),
            ApiError::UnknownOperation(m) => m.as_deref(),
            ApiError::InvalidResourceId
            | ApiError::InvalidResourceType
            | ApiError::TooManyTags
            | ApiError::InvalidCommandId
            | ApiError::InvocationDoesNotExist
            | ApiError::InvalidPluginName
            | ApiError::DuplicateInstanceId
            | ApiError::InvalidFilterKey => None,
        }
    }

    /// The response body. Modeled SSM errors use `Message`; the front end's framework
    /// errors (validation, serialization, authentication) use lower-case `message`, as
    /// captured from real responses. Every SDK accepts both.
    pub fn body(&self) -> Vec<u8> {
        let key = match self {
            ApiError::Validation(_)
            | ApiError::Serialization(_)
            | ApiError::UnknownOperation(_)
            | ApiError::MissingAuthenticationToken(_)
            | ApiError::IncompleteSignature(_)
            | ApiError::InvalidSignature(_)
            | ApiError::UnrecognizedClient(_)
            | ApiError::RequestEntityTooLarge(_)
            | ApiError::RequestTimeout(_)
            | ApiError::InvalidInstanceInformationFilterValue(_)
            | ApiError::AccessDenied(_) => "message",
            _ => "Message",
        };
        let mut obj = serde_json::Map::new();
        obj.insert("__type".into(), self.code().into());
        if let Some(m) = self.message() {
            obj.insert(key.into(), m.into());
        }
        serde_json::to_vec(&obj).unwrap_or_else(|_| br#"{"__type":"InternalServerError"}"#.to_vec())
    }
}

/// A list of constraint violations rendered in the AWS front end's format:
/// `N validation error(s) detected: a; b`.
#[derive(Debug, Default, Clone)]
pub struct Violations(Vec<String>);

impl Violations {
    pub fn push(&mut self, v: String) {
        self.0.push(v);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.to_string()))
        }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        let noun = if n == 1 { "error" } else { "errors" };
        write!(f, "{n} validation {noun} detected: {}", self.0.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memberless_errors_have_only_a_type() {
        assert_eq!(ApiError::InvalidResourceId.body(), br#"{"__type":"InvalidResourceId"}"#);
    }

    #[test]
    fn modeled_errors_use_capital_message() {
        let body = ApiError::DoesNotExist("x".into()).body();
        assert_eq!(body, br#"{"__type":"DoesNotExistException","Message":"x"}"#);
        assert_eq!(ApiError::Internal("x".into()).status(), 500);
        assert_eq!(ApiError::Validation("x".into()).status(), 400);
    }

    #[test]
    fn violations_count_and_join() {
        let mut v = Violations::default();
        v.push("a".into());
        assert_eq!(v.to_string(), "1 validation error detected: a");
        v.push("b".into());
        assert_eq!(v.to_string(), "2 validation errors detected: a; b");
    }
}
