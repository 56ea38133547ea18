//! Shared set-up of the AWS SDK clients: one HTTP client (rustls), the standard
//! credential chain (environment, profiles, …), and per-region clients built on demand.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;

/// Loads the standard AWS configuration once; each runner builds its clients from it.
#[derive(Clone)]
pub struct AwsClients {
    pub(crate) sdk: SdkConfig,
}

impl AwsClients {
    pub async fn load() -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        // Each client gets the Region of the window it works for; naming one here keeps
        // the loader from looking for a default (on a machine outside AWS, the instance
        // metadata lookup would hold up the server's start). Credentials resolve lazily.
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .http_client(http)
            .load()
            .await;
        Self { sdk }
    }
}

/// Clients by region, built on first use.
pub(crate) struct PerRegion<C> {
    clients: Mutex<HashMap<String, C>>,
}

impl<C: Clone> PerRegion<C> {
    pub(crate) fn new() -> Self {
        Self { clients: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn get(&self, region: &str, build: impl FnOnce() -> C) -> C {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(region.to_owned()).or_insert_with(build).clone()
    }
}

/// An AWS SDK call's failure in words, for a StatusDetails (read by people, at most 250
/// characters): the HTTP status and the service's error code and message when the
/// service answered; the status and the start of the body when something else did (a
/// proxy's error page); what went wrong on the way when nothing answered. Never the
/// SDK's debug rendering.
pub(crate) fn sdk_error<E: aws_sdk_lambda::error::ProvideErrorMetadata>(
    call: &str,
    e: &aws_sdk_lambda::error::SdkError<E, aws_sdk_lambda::config::http::HttpResponse>,
) -> String {
    use aws_sdk_lambda::error::SdkError;
    let body_start = |r: &aws_sdk_lambda::config::http::HttpResponse| {
        let text = r.body().bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        text.chars().take(120).collect::<String>()
    };
    match e {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            match (ctx.err().code(), ctx.err().message()) {
                (Some(code), Some(message)) => format!("{call} failed: HTTP {status}, {code}: {message}"),
                (Some(code), None) => format!("{call} failed: HTTP {status}, {code}"),
                (None, _) => {
                    format!("{call} failed: HTTP {status}, not an answer of the service: {}", body_start(ctx.raw()))
                }
            }
        }
        SdkError::ResponseError(ctx) => format!(
            "{call} failed: HTTP {}, not an answer of the service: {}",
            ctx.raw().status().as_u16(),
            body_start(ctx.raw())
        ),
        SdkError::TimeoutError(_) => format!("{call} failed: the service did not answer in time"),
        SdkError::DispatchFailure(f) => {
            let why = if f.is_io() {
                "the connection failed"
            } else if f.is_timeout() {
                "the connection timed out"
            } else {
                "the request could not be sent"
            };
            let detail = f
                .as_connector_error()
                .and_then(|c| std::error::Error::source(c).map(ToString::to_string))
                .unwrap_or_default();
            format!("{call} failed: {why} ({detail})")
        }
        _ => format!("{call} failed: the request could not be built"),
    }
}
