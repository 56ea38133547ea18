//! Delivers the outbox to the configured sinks, at least once and in order: each sink
//! reads past its own cursor, delivers, and only then moves the cursor. A sink that
//! fails is retried with backoff, holding back later events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::config::Region;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncWriteExt;

use crate::runner::AwsClients;
use crate::Inner;

#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// A stable name: the store keeps this sink's cursor under it.
    fn name(&self) -> String;
    /// Deliver these events (JSON strings, oldest first), all or nothing.
    async fn deliver(&self, events: &[String]) -> Result<(), String>;
}

/// Appends each event as one line of JSON.
pub struct FileSink {
    pub path: PathBuf,
}

#[async_trait]
impl Sink for FileSink {
    fn name(&self) -> String {
        format!("file:{}", self.path.display())
    }

    async fn deliver(&self, events: &[String]) -> Result<(), String> {
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = String::new();
        for e in events {
            buf.push_str(e);
            buf.push('\n');
        }
        f.write_all(buf.as_bytes()).await.map_err(|e| e.to_string())?;
        f.sync_data().await.map_err(|e| e.to_string())
    }
}

/// POSTs each event as `application/json`; any 2xx is delivered.
pub struct WebhookSink {
    url: http::Uri,
    client: Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>>,
}

impl WebhookSink {
    pub fn new(url: &str) -> Result<Self, String> {
        let url: http::Uri = url.parse().map_err(|e| format!("bad webhook URL {url:?}: {e}"))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("loading TLS roots: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self { url, client: Client::builder(TokioExecutor::new()).build(https) })
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> String {
        format!("webhook:{}", self.url)
    }

    async fn deliver(&self, events: &[String]) -> Result<(), String> {
        for e in events {
            let req = http::Request::post(self.url.clone())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(e.clone())))
                .map_err(|e| e.to_string())?;
            let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
                .await
                .map_err(|_| "timed out".to_string())?
                .map_err(|e| e.to_string())?;
            let status = resp.status();
            let _ = resp.into_body().collect().await;
            if !status.is_success() {
                return Err(format!("webhook answered {status}"));
            }
        }
        Ok(())
    }
}

/// EventBridge `PutEvents` (ten entries per call), at the configured endpoint.
pub struct EventBridgeSink {
    client: aws_sdk_eventbridge::Client,
    bus: Option<String>,
    endpoint: String,
}

impl EventBridgeSink {
    pub fn new(aws: &AwsClients, region: &str, endpoint: Option<String>, bus: Option<String>) -> Self {
        let mut conf = aws_sdk_eventbridge::config::Builder::from(&aws.sdk).region(Region::new(region.to_owned()));
        if let Some(url) = &endpoint {
            conf = conf.endpoint_url(url);
        }
        Self {
            client: aws_sdk_eventbridge::Client::from_conf(conf.build()),
            bus,
            endpoint: endpoint.unwrap_or_else(|| format!("events.{region}")),
        }
    }
}

#[async_trait]
impl Sink for EventBridgeSink {
    fn name(&self) -> String {
        format!("eventbridge:{}:{}", self.endpoint, self.bus.as_deref().unwrap_or("default"))
    }

    async fn deliver(&self, events: &[String]) -> Result<(), String> {
        for chunk in events.chunks(10) {
            let mut call = self.client.put_events();
            for e in chunk {
                let v: serde_json::Value = serde_json::from_str(e).map_err(|e| e.to_string())?;
                let resources = v["resources"].as_array().cloned().unwrap_or_default();
                call = call.entries(
                    PutEventsRequestEntry::builder()
                        .source("aws.ssm")
                        .detail_type(v["detail-type"].as_str().unwrap_or_default())
                        .detail(v["detail"].to_string())
                        .set_resources(Some(resources.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect()))
                        .set_event_bus_name(self.bus.clone())
                        .build(),
                );
            }
            let out = call.send().await.map_err(|e| aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string())?;
            if out.failed_entry_count() > 0 {
                return Err(format!("PutEvents failed for {} entries", out.failed_entry_count()));
            }
        }
        Ok(())
    }
}

pub(crate) async fn deliver(inner: Arc<Inner>, sink: Arc<dyn Sink>) {
    let name = sink.name();
    let mut cursor = loop {
        match inner.store.event_cursor(&name).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "reading the event cursor failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut backoff = Duration::from_millis(100);
    loop {
        let batch = match inner.store.events_after(cursor, 100).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "reading the outbox failed");
                Vec::new()
            }
        };
        let Some(&(last, _)) = batch.last() else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let bodies: Vec<String> = batch.into_iter().map(|(_, b)| b).collect();
        match sink.deliver(&bodies).await {
            Ok(()) => {
                backoff = Duration::from_millis(100);
                cursor = last;
                if let Err(e) = inner.store.set_event_cursor(&name, last).await {
                    tracing::warn!(sink = %name, error = %e, "saving the event cursor failed (events may repeat)");
                }
            }
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "delivering events failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
