//! Signed awsJson calls to the server, over HTTP/1 (TLS when the endpoint is https).

use std::sync::Arc;
use std::time::Duration;

use casement_protocol::sigv4::{self, Credential, SigningKeyCache, SigningParams};
use http::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::http::Http;
use crate::{AgentError, Identity};

/// What a call can end in besides success.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No answer (connection refused, reset, timed out): try again later.
    #[error("network: {0}")]
    Network(String),
    /// The server answered with an error: `__type` and message.
    #[error("{0}: {1}")]
    Api(String, String),
}

impl CallError {
    /// The server says this node's key is no good any more.
    pub fn is_refusal(&self) -> bool {
        matches!(self, CallError::Api(t, _) if t == "AccessDeniedException" || t == "UnrecognizedClientException")
    }
}

#[derive(Clone)]
pub struct Client {
    http: Arc<Http>,
    pub identity: Identity,
    /// The node's key as the signer takes it, built once rather than per call.
    credential: Credential,
    /// This node's signing keys (one per service and day), shared by its clones.
    keys: Arc<SigningKeyCache>,
}

/// What a node signs its calls with (registration is anonymous and has none).
pub(crate) struct Signer<'a> {
    pub credential: &'a Credential,
    pub region: &'a str,
    pub keys: &'a SigningKeyCache,
}

/// POST one awsJson request, signed when there is a `signer`: message-service targets
/// for `ec2messages`, others for `ssm`.
pub(crate) async fn post<Req: Serialize, Res: DeserializeOwned>(
    http: &Http,
    target: &str,
    body: &Req,
    signer: Option<&Signer<'_>>,
    timeout: Duration,
) -> Result<Res, CallError> {
    let bytes = serde_json::to_vec(body).map_err(|e| CallError::Network(e.to_string()))?;
    let mut headers = HeaderMap::new();
    headers.insert(http::header::HOST, http.authority().clone());
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
    headers.insert("x-amz-target", HeaderValue::from_str(target).map_err(|e| CallError::Network(e.to_string()))?);
    if let Some(s) = signer {
        let service = if target.starts_with(casement_protocol::agent::MESSAGES_PREFIX) { "ec2messages" } else { "ssm" };
        let params = SigningParams { credential: s.credential, region: s.region, service, time: chrono::Utc::now() };
        sigv4::sign_with("POST", "/", &mut headers, &bytes, &params, Some(s.keys));
    }
    let call = async {
        let resp = http.post(&headers, &bytes).await.map_err(|e| CallError::Network(e.to_string()))?;
        if (200..300).contains(&resp.status) {
            serde_json::from_slice(&resp.body).map_err(|e| CallError::Network(format!("bad response: {e}")))
        } else {
            let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
            let kind = v["__type"].as_str().unwrap_or("Error").to_owned();
            let msg = v["Message"].as_str().or(v["message"].as_str()).unwrap_or("").to_owned();
            Err(CallError::Api(kind, msg))
        }
    };
    tokio::time::timeout(timeout, call).await.map_err(|_| CallError::Network("timed out".into()))?
}

impl Client {
    pub fn new(endpoint_url: &str, identity: Identity) -> Result<Self, AgentError> {
        let credential = Credential {
            access_key_id: identity.access_key_id.clone(),
            secret_access_key: identity.secret_access_key.clone(),
            account_id: String::new(),
        };
        Ok(Self { http: Http::new(endpoint_url)?, identity, credential, keys: Arc::default() })
    }

    /// A signed call with this node's key.
    pub async fn call<Req: Serialize, Res: DeserializeOwned>(
        &self,
        target: &str,
        body: &Req,
        timeout: Duration,
    ) -> Result<Res, CallError> {
        let signer = Signer { credential: &self.credential, region: &self.identity.region, keys: &self.keys };
        post(&self.http, target, body, Some(&signer), timeout).await
    }
}
