//! Shared set-up of the engine benchmarks: a store, windows, and an instant Lambda.

use std::sync::Arc;

use bytes::Bytes;
use casement_model::{Scope, Window, WindowId};
use casement_store::sqlite::{SqliteStore, Synchronous};
use casement_store::{NextFire, PgStore, Store};
use http_body_util::Full;

pub fn scope() -> Scope {
    Scope { account: "123456789012".into(), region: "us-east-1".into() }
}

/// SQLite in `dir`, or PostgreSQL when `DATABASE_URL` is set.
pub async fn store(dir: &std::path::Path) -> Arc<dyn Store> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Arc::new(PgStore::connect(&url, 8).await.expect("connect PostgreSQL")),
        Err(_) => Arc::new(SqliteStore::open(dir, Synchronous::Normal).expect("open SQLite")),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A window whose at() schedule comes due at `due_ms` (a whole second).
pub async fn due_window(store: &dyn Store, name: &str, due_ms: i64) -> WindowId {
    let secs = due_ms / 1000;
    let civil = chrono_like(secs);
    let w = Window {
        window_id: WindowId::generate(),
        name: name.into(),
        description: None,
        start_date: None,
        end_date: None,
        schedule: format!("at({civil})"),
        schedule_timezone: None,
        schedule_offset: None,
        duration: 2,
        cutoff: 1,
        allow_unassociated_targets: true,
        enabled: true,
        created_ms: now_ms(),
        modified_ms: now_ms(),
        schedule_anchor_ms: Some(now_ms()),
    };
    store.create_window(&scope(), &w, &[], None, None, NextFire::At(due_ms)).await.expect("create window")
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of epoch seconds: an at() expression's time.
fn chrono_like(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A Lambda endpoint that answers every Invoke at once; returns its URL.
pub async fn instant_lambda() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::builder()
                            .header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
                            .body(Full::new(Bytes::from_static(b"{}")))
                            .expect("response"),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    url
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_time() {
        assert_eq!(super::chrono_like(1_767_225_600), "2026-01-01T00:00:00");
        assert_eq!(super::chrono_like(951_782_400 + 3_661), "2000-02-29T01:01:01");
    }
}
