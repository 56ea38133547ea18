//! In-process cost of one API request, without the network: SigV4 verification, JSON,
//! model validation, the handler and the store. `cargo run --release --example pipeline`.

use std::time::Instant;

use bytes::Bytes;
use casement::cli::{Cli, Command};
use casement_protocol::sigv4::{self, Credential};
use clap::Parser;
use http::{HeaderMap, Method, Uri};
use http_body_util::{BodyExt, Full};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cli = Cli::parse_from([
        "casement",
        "serve",
        "--data-dir",
        dir.path().to_str().unwrap_or("."),
        "--access-key-id",
        "AKIDPIPELINE",
        "--secret-access-key",
        "secret",
    ]);
    let Command::Serve(args) = cli.command else { anyhow::bail!("expected the serve command") };
    let state = casement::server::build_state(&args).await?;
    let cred = Credential {
        access_key_id: "AKIDPIPELINE".into(),
        secret_access_key: "secret".into(),
        account_id: "000000000000".into(),
    };
    let request = |op: &str, body: &str| {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
        h.insert("x-amz-target", format!("AmazonSSM.{op}").parse().unwrap());
        h.insert("host", "127.0.0.1:4580".parse().unwrap());
        let p =
            sigv4::SigningParams { credential: &cred, region: "us-east-1", service: "ssm", time: chrono::Utc::now() };
        sigv4::sign("POST", "/", &mut h, body.as_bytes(), &p);
        (h, body.to_owned())
    };
    let call = |h: HeaderMap, b: String| {
        let mut req = http::Request::new(Full::new(Bytes::from(b)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = Uri::from_static("/");
        *req.headers_mut() = h;
        let state = state.clone();
        async move { casement::server::handle(&state, req).await }
    };
    let (h, b) = request(
        "CreateMaintenanceWindow",
        r#"{"Name":"pipe","Schedule":"rate(1 day)","Duration":2,"Cutoff":1,"AllowUnassociatedTargets":false}"#,
    );
    let resp = call(h, b).await;
    let bytes = resp.into_body().collect().await?.to_bytes();
    let id: serde_json::Value = serde_json::from_slice(&bytes)?;
    let get =
        request("GetMaintenanceWindow", &format!(r#"{{"WindowId":"{}"}}"#, id["WindowId"].as_str().unwrap_or("")));
    let create = request(
        "CreateMaintenanceWindow",
        r#"{"Name":"pipe","Schedule":"rate(1 day)","Duration":2,"Cutoff":1,"AllowUnassociatedTargets":false}"#,
    );
    for i in 0..10 {
        let (h, b) = request(
            "CreateMaintenanceWindow",
            &format!(
                r#"{{"Name":"pipe-{i}","Schedule":"rate(1 day)","Duration":2,"Cutoff":1,"AllowUnassociatedTargets":false}}"#
            ),
        );
        call(h, b).await;
    }
    let describe = request("DescribeMaintenanceWindows", r#"{"MaxResults":10}"#);
    let mut anonymous = get.clone();
    anonymous.0.remove("authorization");
    let only = std::env::var("PIPELINE_ONLY").ok();
    for (name, (h, b), n) in [
        ("GetMaintenanceWindow", get, 100_000u32),
        ("CreateMaintenanceWindow", create, 20_000),
        ("unsigned request (MissingAuthenticationToken)", anonymous, 100_000),
        ("DescribeMaintenanceWindows (a page of 10)", describe, 20_000),
    ] {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let start = Instant::now();
        for _ in 0..n {
            let resp = call(h.clone(), b.clone()).await;
            let _ = resp.into_body().collect().await?.to_bytes();
        }
        println!("{name}: {:.2} µs per request (in-process)", start.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    }
    // The pieces, one by one.
    let body = br#"{"WindowId":"mw-0123456789abcdef0"}"#;
    let n = 200_000u32;
    let start = Instant::now();
    for _ in 0..n {
        let v = casement_protocol::awsjson::parse_body(body)?;
        std::hint::black_box(&v);
    }
    println!("parse_body: {:.2} µs", start.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    let v = casement_protocol::awsjson::parse_body(body)?;
    let start = Instant::now();
    for _ in 0..n {
        casement_protocol::validate::model().validate_input("GetMaintenanceWindow", &v)?;
    }
    println!("validate_input: {:.2} µs", start.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    let verifier = casement_protocol::sigv4::Verifier::new(
        casement_protocol::sigv4::StaticCredentials::new([cred.clone()]),
        casement_protocol::sigv4::AuthMode::Verify,
        "000000000000".into(),
    );
    let (h, b) = request("GetMaintenanceWindow", std::str::from_utf8(body)?);
    let start = Instant::now();
    for _ in 0..n {
        verifier.verify("POST", "/", "", &h, b.as_bytes(), chrono::Utc::now())?;
    }
    println!("sigv4 verify: {:.2} µs", start.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    Ok(())
}
