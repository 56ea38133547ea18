//! Signature Version 4 over HTTP: each kind of bad request gets AWS's error.

use casement_protocol::sigv4::{self, Credential};
use http::HeaderMap;

use crate::common::{code, Server, ACCOUNT, AKID, SECRET};

fn headers(s: &Server, op: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
    h.insert("x-amz-target", format!("AmazonSSM.{op}").parse().unwrap());
    h.insert("host", s.host().parse().unwrap());
    h
}

fn sign(
    h: &mut HeaderMap,
    body: &[u8],
    cred: &Credential,
    region: &str,
    service: &str,
    time: chrono::DateTime<chrono::Utc>,
) {
    sigv4::sign("POST", "/", h, body, &sigv4::SigningParams { credential: cred, region, service, time });
}

fn cred(secret: &str) -> Credential {
    Credential { access_key_id: AKID.into(), secret_access_key: secret.into(), account_id: ACCOUNT.into() }
}

#[tokio::test]
async fn bad_signatures_get_aws_errors() {
    let s = Server::start();
    let wrong_secret = s.sdk_as(AKID, "not-the-secret", "us-east-1");
    let err = wrong_secret.describe_maintenance_windows().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidSignatureException");
    let unknown = s.sdk_as("AKIDUNKNOWN000000000", SECRET, "us-east-1");
    let err = unknown.describe_maintenance_windows().send().await.unwrap_err();
    assert_eq!(code(&err), "UnrecognizedClientException");

    let body = b"{}";
    let now = chrono::Utc::now();
    // Ten minutes skewed, either way.
    for skew in [-600, 600] {
        let mut h = headers(&s, "DescribeMaintenanceWindows");
        sign(&mut h, body, &cred(SECRET), "us-east-1", "ssm", now + chrono::Duration::seconds(skew));
        let r = s.raw("POST", "/", &h, body).await;
        assert_eq!(r.error_type().as_deref(), Some("InvalidSignatureException"));
        let m = r.message();
        assert!(m.starts_with("Signature expired") || m.starts_with("Signature not yet current"), "{m}");
    }
    // Scoped to another service, or to something that is not a region.
    let mut h = headers(&s, "DescribeMaintenanceWindows");
    sign(&mut h, body, &cred(SECRET), "us-east-1", "ec2", now);
    let r = s.raw("POST", "/", &h, body).await;
    assert_eq!(r.error_type().as_deref(), Some("InvalidSignatureException"));
    assert!(r.message().contains("correct service: 'ssm'"));
    let mut h = headers(&s, "DescribeMaintenanceWindows");
    sign(&mut h, body, &cred(SECRET), "Not_A_Region", "ssm", now);
    let r = s.raw("POST", "/", &h, body).await;
    assert_eq!(r.error_type().as_deref(), Some("InvalidSignatureException"));
    assert!(r.message().contains("valid region"));
    // No Authorization header at all.
    let r = s.raw("POST", "/", &headers(&s, "DescribeMaintenanceWindows"), body).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_type().as_deref(), Some("MissingAuthenticationTokenException"));
    // Malformed Authorization headers.
    for bad in [
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ssm/aws4_request",
        "AWS4-HMAC-SHA256 garbage",
        "Bearer token",
        "AWS4-HMAC-SHA256 Credential=A/B, SignedHeaders=host, Signature=00",
    ] {
        let mut h = headers(&s, "DescribeMaintenanceWindows");
        h.insert("x-amz-date", now.format("%Y%m%dT%H%M%SZ").to_string().parse().unwrap());
        h.insert("authorization", bad.parse().unwrap());
        let r = s.raw("POST", "/", &h, body).await;
        assert_eq!(r.error_type().as_deref(), Some("IncompleteSignatureException"), "{bad}");
    }
    // A body changed after signing.
    let mut h = headers(&s, "GetMaintenanceWindow");
    let signed = br#"{"WindowId":"mw-0123456789abcdef0"}"#;
    sign(&mut h, signed, &cred(SECRET), "us-east-1", "ssm", now);
    let tampered = br#"{"WindowId":"mw-0123456789abcdef1"}"#;
    let r = s.raw("POST", "/", &h, tampered).await;
    assert_eq!(r.error_type().as_deref(), Some("InvalidSignatureException"));
    // The same request untampered reaches the operation.
    let r = s.raw("POST", "/", &h, signed).await;
    assert_eq!(r.error_type().as_deref(), Some("DoesNotExistException"));
}

#[tokio::test]
async fn accept_any_mode_takes_any_well_formed_signature() {
    let s = Server::start_with(&["--auth", "accept-any"]);
    let anyone = s.sdk_as("AKIDWHOEVER000000000", "whatever", "ap-southeast-2");
    let out = anyone.describe_maintenance_windows().send().await.expect("accepted");
    assert!(out.window_identities().is_empty());
    // Still no anonymous requests.
    let r = s.raw("POST", "/", &headers(&s, "DescribeMaintenanceWindows"), b"{}").await;
    assert_eq!(r.error_type().as_deref(), Some("MissingAuthenticationTokenException"));
}

/// Edges a hostile client found: a security token Casement never issued, upper-case hex
/// in the signature, a date just over five minutes ahead.
#[tokio::test]
async fn tokens_case_and_skew_edges_are_refused() {
    let s = Server::start();
    let body = b"{}";
    let now = chrono::Utc::now();
    // A security token, signed with the request: refused as AWS refuses a token it did
    // not issue.
    let mut h = headers(&s, "DescribeMaintenanceWindows");
    h.insert("x-amz-security-token", "FwoGZXIvYXdzEBogus".parse().unwrap());
    sign(&mut h, body, &cred(SECRET), "us-east-1", "ssm", now);
    let r = s.raw("POST", "/", &h, body).await;
    assert_eq!(r.error_type().as_deref(), Some("UnrecognizedClientException"));
    assert_eq!(r.message(), "The security token included in the request is invalid.");

    // The right signature in upper-case hex does not match.
    let mut h = headers(&s, "DescribeMaintenanceWindows");
    sign(&mut h, body, &cred(SECRET), "us-east-1", "ssm", now);
    let auth = h.get("authorization").unwrap().to_str().unwrap().to_owned();
    let (head, sig) = auth.rsplit_once("Signature=").unwrap();
    let upper = format!("{head}Signature={}", sig.to_ascii_uppercase());
    assert_ne!(upper, auth);
    let ok = s.raw("POST", "/", &h, body).await;
    assert_eq!(ok.status, 200, "the lower-case original is accepted");
    h.insert("authorization", upper.parse().unwrap());
    let r = s.raw("POST", "/", &h, body).await;
    assert_eq!(r.error_type().as_deref(), Some("InvalidSignatureException"));

    // 301 s ahead of the server's clock, counted in milliseconds: X-Amz-Date has whole
    // seconds, so a date one second past the next whole second is between 300 and 301 s
    // ahead, which whole-second arithmetic would round down to 300 and accept.
    let whole = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap();
    let mut h = headers(&s, "DescribeMaintenanceWindows");
    sign(&mut h, body, &cred(SECRET), "us-east-1", "ssm", whole + chrono::Duration::seconds(301));
    let r = s.raw("POST", "/", &h, body).await;
    assert_eq!(r.error_type().as_deref(), Some("InvalidSignatureException"));
    assert!(r.message().starts_with("Signature not yet current"), "{}", r.message());
}

/// A well-formed Region this server does not serve is refused, not given an empty
/// namespace of its own; `--regions` names the ones served.
#[tokio::test]
async fn only_served_regions_are_accepted() {
    let s = Server::start();
    let err = s.sdk_as(AKID, SECRET, "xx-fake-1").describe_maintenance_windows().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidSignatureException");
    assert!(format!("{err:?}").contains("Credential should be scoped to a valid region, not 'xx-fake-1'"), "{err:?}");
    s.sdk_as(AKID, SECRET, "eu-west-3").describe_maintenance_windows().send().await.expect("a commercial Region");

    let only = Server::start_with(&["--regions", "xx-fake-1,us-east-1"]);
    only.sdk_as(AKID, SECRET, "xx-fake-1").describe_maintenance_windows().send().await.expect("listed");
    let err = only.sdk_as(AKID, SECRET, "eu-west-3").describe_maintenance_windows().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidSignatureException");
}
