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
