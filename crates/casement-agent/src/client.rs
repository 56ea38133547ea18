//! Signed awsJson calls to the server, over HTTP/1 (TLS when the endpoint is https).

use std::time::Duration;

use std::sync::Arc;

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
    uri: http::Uri,
    host: HeaderValue,
    pub identity: Identity,
    /// This node's signing keys (one per service and day), shared by its clones.
    keys: Arc<SigningKeyCache>,
}

pub(crate) fn endpoint(url: &str) -> Result<(http::Uri, HeaderValue), AgentError> {
    let uri: http::Uri = url.parse().map_err(|e| AgentError::Config(format!("--endpoint {url}: {e}")))?;
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or_else(|| AgentError::Config(format!("--endpoint {url} has no host")))?;
    let host = HeaderValue::from_str(&host).map_err(|e| AgentError::Config(e.to_string()))?;
    Ok((uri, host))
}

/// POST one awsJson request; `sign` gives the signing service, or `None` for anonymous.
pub(crate) async fn post<Req: Serialize, Res: DeserializeOwned>(
    http: &Http,
    uri: &http::Uri,
    host: &HeaderValue,
    target: &str,
    body: &Req,
    sign: Option<(&Credential, &str, &str, &SigningKeyCache)>,
    timeout: Duration,
) -> Result<Res, CallError> {
    let bytes = serde_json::to_vec(body).map_err(|e| CallError::Network(e.to_string()))?;
    let mut headers = HeaderMap::new();
    headers.insert(http::header::HOST, host.clone());
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
    headers.insert("x-amz-target", HeaderValue::from_str(target).map_err(|e| CallError::Network(e.to_string()))?);
    if let Some((credential, region, service, keys)) = sign {
        let params = SigningParams { credential, region, service, time: chrono::Utc::now() };
        sigv4::sign_with("POST", "/", &mut headers, &bytes, &params, Some(keys));
    }
    let request = request_bytes(uri, &headers, &bytes);
    let call = async {
        let resp = http.exchange(&request).await.map_err(|e| CallError::Network(e.to_string()))?;
        let body = resp.body;
        if (200..300).contains(&resp.status) {
            serde_json::from_slice(&body).map_err(|e| CallError::Network(format!("bad response: {e}")))
        } else {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let kind = v["__type"].as_str().unwrap_or("Error").to_owned();
            let msg = v["Message"].as_str().or(v["message"].as_str()).unwrap_or("").to_owned();
            Err(CallError::Api(kind, msg))
        }
    };
    tokio::time::timeout(timeout, call).await.map_err(|_| CallError::Network("timed out".into()))?
}

/// A POST to the endpoint's path: the head, then the body, in one buffer (one write).
fn request_bytes(uri: &http::Uri, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = Vec::with_capacity(256 + body.len() + headers.len() * 64);
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

impl Client {
    pub fn new(endpoint_url: &str, identity: Identity) -> Result<Self, AgentError> {
        let (uri, host) = endpoint(endpoint_url)?;
        let http = Http::new(&uri)?;
        Ok(Self { http, uri, host, identity, keys: Arc::default() })
    }

    /// A signed call; message-service targets sign for `ec2messages`, others for `ssm`.
    pub async fn call<Req: Serialize, Res: DeserializeOwned>(
        &self,
        target: &str,
        body: &Req,
        timeout: Duration,
    ) -> Result<Res, CallError> {
        let credential = Credential {
            access_key_id: self.identity.access_key_id.clone(),
            secret_access_key: self.identity.secret_access_key.clone(),
            account_id: String::new(),
        };
        let service = if target.starts_with(casement_protocol::agent::MESSAGES_PREFIX) { "ec2messages" } else { "ssm" };
        post(
            &self.http,
            &self.uri,
            &self.host,
            target,
            body,
            Some((&credential, &self.identity.region, service, &self.keys)),
            timeout,
        )
        .await
    }
}
