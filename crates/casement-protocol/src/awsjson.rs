//! awsJson 1.1 framing: the one `POST /` endpoint, the `X-Amz-Target` header naming the
//! operation, and request bodies that may be empty.

use serde_json::Value;

use crate::ApiError;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const TARGET_PREFIX: &str = "AmazonSSM.";
/// The largest request body accepted. SSM's largest inputs (a task with 4 KiB Lambda
/// payloads and parameters) stay far below this.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The operation named by `X-Amz-Target`, if it is one of SSM's.
pub fn operation_from_target(target: Option<&str>) -> Result<&str, ApiError> {
    let op = target.and_then(|t| t.strip_prefix(TARGET_PREFIX)).ok_or(ApiError::UnknownOperation(None))?;
    if crate::validate::model().has_operation(op) {
        Ok(op)
    } else {
        Err(ApiError::UnknownOperation(None))
    }
}

/// Parse a request body: empty means `{}`; anything else must be one JSON value.
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Serialization(format!("Could not parse request body into json: {e}")))
}
