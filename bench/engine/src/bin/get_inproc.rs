//! GetMaintenanceWindowExecutionTaskInvocation through the server's request handler,
//! in process, with no sockets: the server's own work per request, without the kernel
//! and the HTTP framing. Run under `valgrind --tool=callgrind` for repeatable instruction
//! counts per request (BENCHMARKS.md), or alone for a time per request.
//!
//! usage: get_inproc DATA_DIR WINDOW_EXECUTION_ID TASK_EXECUTION_ID INVOCATION_ID [requests]
//! (the data dir and IDs as seed_invocations made and printed them)

use std::time::Instant;

use bytes::Bytes;
use casement::cli::{Cli, Command};
use casement_protocol::sigv4::{self, Credential, SigningParams};
use clap::Parser;
use http_body_util::{BodyExt, Full};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, ids @ ..] = &args[..] else { panic!("usage: get_inproc DATA_DIR EXEC TASK INVOCATION [requests]") };
    assert!(ids.len() >= 3, "usage: get_inproc DATA_DIR EXEC TASK INVOCATION [requests]");
    let n: usize = ids.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let (akid, secret) = ("AKIDBENCH0000000001", "bench-secret");
    std::env::set_var("CASEMENT_ACCESS_KEY_ID", akid);
    std::env::set_var("CASEMENT_SECRET_ACCESS_KEY", secret);
    let Command::Serve(args) = Cli::parse_from(["casement", "serve", "--no-engine", "--data-dir", dir]).command else {
        unreachable!("serve arguments")
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let state = rt.block_on(casement::server::build_state(&args)).expect("state");
    let body = format!(r#"{{"WindowExecutionId":"{}","TaskId":"{}","InvocationId":"{}"}}"#, ids[0], ids[1], ids[2]);
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "127.0.0.1:4592".parse().expect("header"));
    headers.insert("content-type", "application/x-amz-json-1.1".parse().expect("header"));
    headers.insert("x-amz-target", "AmazonSSM.GetMaintenanceWindowExecutionTaskInvocation".parse().expect("header"));
    headers.insert("content-length", body.len().to_string().parse().expect("header"));
    let credential =
        Credential { access_key_id: akid.into(), secret_access_key: secret.into(), account_id: "123456789012".into() };
    let params =
        SigningParams { credential: &credential, region: "us-east-1", service: "ssm", time: chrono::Utc::now() };
    sigv4::sign("POST", "/", &mut headers, body.as_bytes(), &params);
    let request = || {
        let mut r = http::Request::new(Full::new(Bytes::from(body.clone())));
        *r.method_mut() = http::Method::POST;
        *r.uri_mut() = "/".parse().expect("uri");
        *r.headers_mut() = headers.clone();
        r
    };
    rt.block_on(async {
        let first = casement::server::handle(&state, request()).await;
        let status = first.status();
        let text = first.into_body().collect().await.expect("body").to_bytes();
        assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&text));
        let t = Instant::now();
        for _ in 0..n {
            let r = casement::server::handle(&state, request()).await;
            assert!(r.status().is_success());
        }
        println!("RESULT get_inproc requests={n} us_per_request={:.3}", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    });
}
