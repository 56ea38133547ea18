//! awsJson 1.1 framing: the one `POST /` endpoint, the `X-Amz-Target` header naming the
//! operation, and request bodies that may be empty.

use serde_json::Value;

use crate::ApiError;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const TARGET_PREFIX: &str = "AmazonSSM.";
/// The largest request body accepted. SSM's largest inputs (a task with 4 KiB Lambda
/// payloads and parameters) stay far below this.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The operation named by `X-Amz-Target`, if it is one this server knows (in its model).
/// Another `AmazonSSM.` operation is answered as one this server does not serve.
pub fn operation_from_target(target: Option<&str>) -> Result<&str, ApiError> {
    let op = target.and_then(|t| t.strip_prefix(TARGET_PREFIX)).ok_or(ApiError::UnknownOperation(None))?;
    if crate::validate::model().has_operation(op) {
        Ok(op)
    } else if !op.is_empty() && op.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Err(not_served(op))
    } else {
        Err(ApiError::UnknownOperation(None))
    }
}

/// What an SSM operation this server does not serve answers: AWS's answer for an
/// operation it does not have, saying which and why.
pub fn not_served(op: &str) -> ApiError {
    ApiError::UnknownOperation(Some(format!(
        "Operation {op} is not supported by this server: Casement serves SSM's Maintenance Windows, Run Command, managed node, Documents and Automation operations (see its README)."
    )))
}

/// Parse a request body: empty means `{}`; anything else must be one JSON value.
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    parse_typed(body)
}

/// A request body straight into its type (empty means `{}`), for requests not checked
/// against the SSM model (the agents' calls): one parse instead of a `Value` and a
/// conversion. Malformed JSON and a wrong member type are both `SerializationException`,
/// worded as AWS's (a `Value` accepts any JSON, so it only ever gets the first wording).
pub fn parse_typed<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::Serialization(match e.classify() {
            serde_json::error::Category::Data => format!("Invalid request: {e}"),
            _ => format!("Could not parse request body into json: {e}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Req {
        #[serde(default)]
        destination: String,
    }

    /// An empty body is `{}`; broken JSON and a wrong member type are both
    /// SerializationException, each with its own wording.
    #[test]
    fn typed_bodies() {
        assert_eq!(parse_typed::<Req>(b"").unwrap(), Req { destination: String::new() });
        assert_eq!(parse_typed::<Req>(br#"{"Destination":"mi-1"}"#).unwrap().destination, "mi-1");
        let broken = parse_typed::<Req>(b"{\"Destination\":").unwrap_err();
        assert_eq!(broken.code(), "SerializationException");
        assert!(broken.message().unwrap().starts_with("Could not parse request body into json"));
        let wrong = parse_typed::<Req>(br#"{"Destination":7}"#).unwrap_err();
        assert_eq!(wrong.code(), "SerializationException");
        assert!(wrong.message().unwrap().starts_with("Invalid request"));
    }
}
