//! Cost of one SigV4 verification of a botocore-shaped request, in-process.
//! `cargo run --release --example verify -p casement-protocol`

use std::time::Instant;

use casement_protocol::sigv4::{self, AuthMode, Credential, StaticCredentials, Verifier};
use http::HeaderMap;

fn main() {
    let cred = Credential {
        access_key_id: "AKIDBENCH0000000001".into(),
        secret_access_key: "bench-secret".into(),
        account_id: "123456789012".into(),
    };
    let body = br#"{"WindowId":"mw-0123456789abcdef0"}"#;
    let mut h = HeaderMap::new();
    h.insert("host", "127.0.0.1:4592".parse().expect("static"));
    h.insert("content-type", "application/x-amz-json-1.1".parse().expect("static"));
    h.insert("x-amz-target", "AmazonSSM.GetMaintenanceWindow".parse().expect("static"));
    h.insert("user-agent", "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/Z,b cfg/retry-mode#legacy Botocore/1.43.11".parse().expect("static"));
    h.insert("content-length", "36".parse().expect("static"));
    let now = chrono::Utc::now();
    let p = sigv4::SigningParams { credential: &cred, region: "us-east-1", service: "ssm", time: now };
    sigv4::sign("POST", "/", &mut h, body, &p);
    let v = Verifier::new(StaticCredentials::new([cred.clone()]), AuthMode::Verify, "000000000000".into());
    let n = 500_000u32;
    for round in 0..3 {
        let start = Instant::now();
        for _ in 0..n {
            let c = v.verify("POST", "/", "", &h, body, now).expect("verifies");
            std::hint::black_box(c);
        }
        println!("round {round}: verify {:.0} ns", start.elapsed().as_secs_f64() * 1e9 / f64::from(n));
        let auth = h.get("authorization").and_then(|a| a.to_str().ok()).unwrap_or("");
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(sigv4::Authorization::parse(std::hint::black_box(auth)).expect("parses"));
        }
        println!("round {round}: parse {:.0} ns", start.elapsed().as_secs_f64() * 1e9 / f64::from(n));
        let buf = [7u8; 600];
        let start = Instant::now();
        for _ in 0..n {
            use sha2::Digest;
            std::hint::black_box(sha2::Sha256::digest(std::hint::black_box(&buf[..])));
        }
        println!("round {round}: sha256 of 600 bytes {:.0} ns", start.elapsed().as_secs_f64() * 1e9 / f64::from(n));
        let names = "content-length;content-type;host;user-agent;x-amz-date;x-amz-target";
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(sigv4::canonical_request_hash("POST", "/", "", &h, names, body));
        }
        println!("round {round}: canonical {:.0} ns", start.elapsed().as_secs_f64() * 1e9 / f64::from(n));
    }
}
