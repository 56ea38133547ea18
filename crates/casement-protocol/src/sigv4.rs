//! AWS Signature Version 4 verification (header form), as boto3, the AWS CLI and the
//! AWS SDK for Rust send it, and signing for Casement's own outbound calls and tests.
//!
//! None of those clients sends `x-amz-content-sha256` for JSON protocols, so the payload
//! hash is always computed from the exact body bytes received.

use std::sync::RwLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ApiError;

type HmacSha256 = Hmac<Sha256>;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
static X_AMZ_DATE: http::HeaderName = http::HeaderName::from_static("x-amz-date");
/// SSM rejects requests whose `X-Amz-Date` is more than five minutes from its clock
/// (unlike the fifteen minutes of most services): seen in real SSM error messages.
pub const MAX_SKEW_SECS: i64 = 5 * 60;
/// A session token, sent (and signed) by clients using temporary credentials.
static X_AMZ_SECURITY_TOKEN: http::HeaderName = http::HeaderName::from_static("x-amz-security-token");
const AMZ_DATE_FMT: &str = "%Y%m%dT%H%M%SZ";

/// Where an access key ID's secret and owning account come from.
pub trait CredentialStore: Send + Sync {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
}

/// An in-memory credential table: what the server loads from env, file or its data dir.
#[derive(Debug, Default, Clone)]
pub struct StaticCredentials {
    keys: crate::FastMap<String, Credential>,
}

impl StaticCredentials {
    pub fn new(creds: impl IntoIterator<Item = Credential>) -> Self {
        Self { keys: creds.into_iter().map(|c| (c.access_key_id.clone(), c)).collect() }
    }
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl CredentialStore for StaticCredentials {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
        self.keys.get(access_key_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Recompute and compare every signature.
    Verify,
    /// Local-emulator mode: any well-formed `Authorization` header is accepted; unknown
    /// keys act for `default_account`.
    AcceptAny,
}

/// Who made a verified request, and for which region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account_id: String,
    pub region: String,
    /// The access key that signed: who the caller is, for approvals.
    pub access_key_id: String,
}

/// The parsed `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The whole header value, as AWS quotes it in its error messages.
    pub value: &'a str,
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// The `SignedHeaders` list as sent (`;`-separated, checked well-formed): kept as
    /// one slice, and split where it is read, since it also goes into the canonical
    /// request exactly as it is (lower-cased).
    pub signed_headers: &'a str,
    pub signature: &'a str,
}

/// More signed headers than any AWS client sends; beyond it a request is refused.
pub const MAX_SIGNED_HEADERS: usize = 32;

impl<'a> Authorization<'a> {
    pub fn parse(value: &'a str) -> Result<Self, ApiError> {
        let incomplete = |why: &str| ApiError::IncompleteSignature(format!("{why} Authorization={value}"));
        let rest = match value.strip_prefix(ALGORITHM) {
            Some(r) if r.starts_with(' ') => r,
            _ => {
                let alg = value.split_whitespace().next().unwrap_or("");
                return Err(ApiError::IncompleteSignature(format!(
                    "Unsupported AWS 'algorithm': '{alg}'. Supported algorithms: [{ALGORITHM}]"
                )));
            }
        };
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in split_ascii(rest, b',') {
            if let Some((k, v)) = part.split_once('=') {
                match k.trim_ascii() {
                    "Credential" => credential = Some(v.trim_ascii()),
                    "SignedHeaders" => signed = Some(v.trim_ascii()),
                    "Signature" => signature = Some(v.trim_ascii()),
                    _ => {}
                }
            }
        }
        let mut missing = Vec::new();
        if credential.is_none() {
            missing.push("Authorization header requires 'Credential' parameter.");
        }
        if signature.is_none() {
            missing.push("Authorization header requires 'Signature' parameter.");
        }
        if signed.is_none() {
            missing.push("Authorization header requires 'SignedHeaders' parameter.");
        }
        if !missing.is_empty() {
            return Err(incomplete(&missing.join(" ")));
        }
        let (credential, signed, signature) =
            (credential.unwrap_or_default(), signed.unwrap_or_default(), signature.unwrap_or_default());
        let mut scope = [""; 5];
        let mut parts = 0;
        for (i, part) in split_ascii(credential, b'/').enumerate() {
            if i < 5 {
                scope[i] = part;
            }
            parts += 1;
        }
        if parts != 5 || scope.iter().any(|s| s.is_empty()) {
            return Err(incomplete(&format!(
                "Credential should be scoped to a valid region. Credential={credential}."
            )));
        }
        if scope[4] != "aws4_request" {
            return Err(ApiError::IncompleteSignature(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
                scope[4]
            )));
        }
        if signature.is_empty() || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(incomplete("Signature must be a hexadecimal string."));
        }
        for (count, name) in split_ascii(signed, b';').enumerate() {
            if name.is_empty() {
                return Err(incomplete("SignedHeaders must be a list of header names separated by ';'."));
            }
            if count == MAX_SIGNED_HEADERS {
                return Err(incomplete(&format!("SignedHeaders may name at most {MAX_SIGNED_HEADERS} headers.")));
            }
        }
        Ok(Authorization {
            value,
            access_key_id: scope[0],
            date: scope[1],
            region: scope[2],
            service: scope[3],
            signed_headers: signed,
            signature,
        })
    }
}

/// `s` split at every `sep` (an ASCII byte), as `str::split` does: the header is short
/// and ASCII, and a byte scan costs a fraction of the general pattern searcher.
fn split_ascii(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.bytes().position(|b| b == sep) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Caches signing keys per (key, date, region, service), already loaded into an HMAC state:
/// deriving one costs four HMACs and keying the final one two more compressions, and a
/// client reuses the same scope for a whole day.
#[derive(Default)]
pub struct SigningKeyCache {
    keys: RwLock<crate::FastMap<String, HmacSha256>>,
}

impl SigningKeyCache {
    /// The pre-keyed signing HMAC for a scope, derived on first use.
    pub fn get(&self, secret: &str, akid: &str, date: &str, region: &str, service: &str) -> HmacSha256 {
        let mut id = String::with_capacity(akid.len() + date.len() + region.len() + service.len() + 3);
        for part in [akid, "\n", date, "\n", region, "\n", service] {
            id.push_str(part);
        }
        if let Ok(map) = self.keys.read() {
            if let Some(k) = map.get(&id) {
                return k.clone();
            }
        }
        let key = signing_key(secret, date, region, service);
        let mac = keyed(&key);
        if let Ok(mut map) = self.keys.write() {
            if map.len() > 4096 {
                map.clear();
            }
            map.insert(id, mac.clone());
        }
        mac
    }
}

/// The verifier: credential source, mode and key cache.
pub struct Verifier<C> {
    pub credentials: C,
    pub mode: AuthMode,
    pub default_account: String,
    /// The Regions this server serves (`None`: any well-formed Region name). A scope
    /// outside them is refused as AWS refuses a Region it does not serve, rather than
    /// opening an empty namespace for a typo.
    regions: Option<std::collections::HashSet<String>>,
    cache: SigningKeyCache,
}

/// AWS's commercial Regions: what `casement serve` serves unless told otherwise.
pub const COMMERCIAL_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

impl<C: CredentialStore> Verifier<C> {
    pub fn new(credentials: C, mode: AuthMode, default_account: String) -> Self {
        Self { credentials, mode, default_account, regions: None, cache: SigningKeyCache::default() }
    }

    /// Serve only these Regions.
    pub fn with_regions(mut self, regions: impl IntoIterator<Item = String>) -> Self {
        self.regions = Some(regions.into_iter().collect());
        self
    }

    /// Verify one request. `path` is the raw (still percent-encoded) request path.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Caller, ApiError> {
        let auth = Authorization::parse(authorization_header(headers)?)?;
        let known = self.credentials.lookup(auth.access_key_id);
        self.check(method, path, query, headers, body, now, &auth, &["ssm"], known)
    }

    /// Verify a managed node's request against the key issued to it at registration:
    /// the caller parsed `auth` from the request and found `credential` by its access key
    /// ID. Agent calls are scoped to `ssm` or, for the message service, `ec2messages`, as
    /// AWS's agent signs.
    #[allow(clippy::too_many_arguments)]
    pub fn verify_node(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
        auth: &Authorization<'_>,
        credential: &Credential,
    ) -> Result<Caller, ApiError> {
        self.check(method, path, query, headers, body, now, auth, &["ssm", "ec2messages"], Some(credential))
    }

    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
        auth: &Authorization<'_>,
        services: &[&str],
        known: Option<&Credential>,
    ) -> Result<Caller, ApiError> {
        let auth_value = auth.value;
        let amz_date = headers
            .get(&X_AMZ_DATE)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::IncompleteSignature(format!(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth_value}"
                ))
            })?;
        let when = parse_amz_date(amz_date).ok_or_else(|| {
            ApiError::IncompleteSignature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })?;
        if !services.contains(&auth.service) {
            return Err(ApiError::InvalidSignature(format!(
                "Credential should be scoped to correct service: '{}'. ",
                services[0]
            )));
        }
        if !valid_region(auth.region) || self.regions.as_ref().is_some_and(|r| !r.contains(auth.region)) {
            return Err(ApiError::InvalidSignature(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                auth.region
            )));
        }
        if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
            return Err(ApiError::InvalidSignature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                auth.date,
                &amz_date[..8.min(amz_date.len())],
                amz_date
            )));
        }
        if !split_ascii(auth.signed_headers, b';').any(|h| h.eq_ignore_ascii_case("host")) {
            return Err(ApiError::IncompleteSignature(format!(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization. Authorization={auth_value}"
            )));
        }

        if self.mode == AuthMode::AcceptAny {
            return Ok(Caller {
                account_id: known.map(|c| c.account_id.clone()).unwrap_or_else(|| self.default_account.clone()),
                region: auth.region.to_owned(),
                access_key_id: auth.access_key_id.to_owned(),
            });
        }
        let Some(cred) = known else {
            return Err(ApiError::UnrecognizedClient("The security token included in the request is invalid.".into()));
        };
        // Casement issues no session credentials (yet): any security token is one it did
        // not issue, which AWS refuses whether or not it is signed.
        if headers.contains_key(&X_AMZ_SECURITY_TOKEN) {
            return Err(ApiError::UnrecognizedClient("The security token included in the request is invalid.".into()));
        }

        // In milliseconds: a date 300.5 s away is outside the five minutes.
        let skew_ms = (now - when).num_milliseconds();
        let max_ms = MAX_SKEW_SECS * 1000;
        if skew_ms > max_ms {
            let floor = now - chrono::Duration::seconds(MAX_SKEW_SECS);
            return Err(ApiError::InvalidSignature(format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
                floor.format(AMZ_DATE_FMT),
                now.format(AMZ_DATE_FMT)
            )));
        }
        if skew_ms < -max_ms {
            let ceil = now + chrono::Duration::seconds(MAX_SKEW_SECS);
            return Err(ApiError::InvalidSignature(format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
                ceil.format(AMZ_DATE_FMT),
                now.format(AMZ_DATE_FMT)
            )));
        }

        let canonical_hash = canonical_request_hash(method, path, query, headers, auth.signed_headers, body);
        let key = self.cache.get(&cred.secret_access_key, auth.access_key_id, auth.date, auth.region, auth.service);
        let expected = signature(key, amz_date, (auth.date, auth.region, auth.service), &canonical_hash);
        // Compare the 32 raw bytes, in constant time.
        let mut given = [0u8; 32];
        // AWS compares the lower-case hex it computes: upper-case hex does not match.
        let lower_hex = auth.signature.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let decoded =
            auth.signature.len() == 64 && lower_hex && hex::decode_to_slice(auth.signature, &mut given).is_ok();
        if decoded && bool::from(expected.as_slice().ct_eq(given.as_slice())) {
            Ok(Caller {
                account_id: cred.account_id.clone(),
                region: auth.region.to_owned(),
                access_key_id: auth.access_key_id.to_owned(),
            })
        } else {
            Err(ApiError::InvalidSignature(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            ))
        }
    }
}

/// The request's `Authorization` header as text, or AWS's answer to its absence.
pub fn authorization_header(headers: &HeaderMap) -> Result<&str, ApiError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Err(ApiError::MissingAuthenticationToken("Missing Authentication Token".into()));
    };
    value.to_str().map_err(|_| ApiError::IncompleteSignature("Authorization header is not valid ASCII.".into()))
}

/// `YYYYMMDDTHHMMSSZ`, parsed by hand: chrono's format-string parser showed in profiles.
fn parse_amz_date(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?)?;
    let time = chrono::NaiveTime::from_hms_opt(num(9..11)?, num(11..13)?, num(13..15)?)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// Region names look like `us-east-1`, `eu-central-2`, `us-gov-west-1`, `local-1`.
fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !r.starts_with('-')
        && !r.ends_with('-')
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The signature of a request: HMAC of the string to sign (algorithm, date, credential
/// scope, canonical-request hash), fed straight into `key`, the pre-keyed signing HMAC.
fn signature(
    key: HmacSha256,
    amz_date: &str,
    (date, region, service): (&str, &str, &str),
    canonical_hash: &[u8; 64],
) -> [u8; 32] {
    let mut buf = [0u8; 256];
    let mut out = Feed::new(key, &mut buf);
    for part in [ALGORITHM.as_bytes(), b"\n", amz_date.as_bytes(), b"\n", date.as_bytes(), b"/", region.as_bytes()] {
        out.put(part);
    }
    for part in [b"/".as_slice(), service.as_bytes(), b"/aws4_request\n", canonical_hash] {
        out.put(part);
    }
    out.finish().finalize().into_bytes().into()
}

fn keyed(key: &[u8; 32]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// RFC 3986 unreserved characters stay; everything else is `%XX` (upper-case hex).
fn uri_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Non-S3 services encode each path segment once more on top of the encoding already
/// on the wire (aws-sigv4's `PercentEncodingMode::Double`).
fn canonical_uri(path: &str) -> String {
    if path.is_empty() || path == "/" {
        return "/".into();
    }
    let mut out = String::with_capacity(path.len() + 8);
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(seg, &mut out);
    }
    out
}

fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let (mut ek, mut ev) = (String::new(), String::new());
            uri_encode(&percent_decode(k), &mut ek);
            uri_encode(&percent_decode(v), &mut ev);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lower-case hex of 32 bytes, without allocating.
fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
    out
}

/// Bytes on their way into a SHA-256 (the canonical request's hash, the signature's HMAC),
/// gathered in the caller's stack buffer first: both come in many small pieces, and each
/// hasher call costs more than copying a piece. (The buffer is borrowed so that the feed
/// moves cheaply.)
struct Feed<'b, H> {
    hash: H,
    buf: &'b mut [u8],
    len: usize,
}

impl<'b, H: sha2::digest::Update> Feed<'b, H> {
    fn new(hash: H, buf: &'b mut [u8]) -> Self {
        Self { hash, buf, len: 0 }
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buf.len() {
            H::update(&mut self.hash, &self.buf[..self.len]);
            self.len = 0;
            if bytes.len() > self.buf.len() {
                H::update(&mut self.hash, bytes);
                return;
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Header names go in lower case.
    fn put_lower(&mut self, name: &str) {
        for chunk in name.as_bytes().chunks(64) {
            let mut lower = [0u8; 64];
            for (d, s) in lower.iter_mut().zip(chunk) {
                *d = s.to_ascii_lowercase();
            }
            self.put(&lower[..chunk.len()]);
        }
    }

    /// The hasher with every byte fed.
    fn finish(mut self) -> H {
        H::update(&mut self.hash, &self.buf[..self.len]);
        self.hash
    }
}

/// The hex SHA-256 of SigV4's canonical request, hashed as it is produced: no buffer is
/// allocated on the request path.
pub fn canonical_request_hash(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    signed_headers: &str,
    body: &[u8],
) -> [u8; 64] {
    let mut buf = [0u8; 768];
    let mut out = Feed::new(Sha256::new(), &mut buf);
    out.put(method.as_bytes());
    out.put(b"\n");
    if path.is_empty() || path == "/" {
        out.put(b"/");
    } else {
        out.put(canonical_uri(path).as_bytes());
    }
    out.put(b"\n");
    if !query.is_empty() {
        out.put(canonical_query(query).as_bytes());
    }
    out.put(b"\n");
    for name in split_ascii(signed_headers, b';') {
        out.put_lower(name);
        out.put(b":");
        for (i, v) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                out.put(b",");
            }
            // Trim, and collapse runs of spaces to one: most values have none, and
            // are written in one piece.
            let v = v.as_bytes().trim_ascii();
            let mut start = 0;
            let mut j = 0;
            while j < v.len() {
                if v[j] == b' ' || v[j] == b'\t' {
                    out.put(&v[start..j]);
                    out.put(b" ");
                    while j < v.len() && (v[j] == b' ' || v[j] == b'\t') {
                        j += 1;
                    }
                    start = j;
                } else {
                    j += 1;
                }
            }
            out.put(&v[start..]);
        }
        out.put(b"\n");
    }
    out.put(b"\n");
    out.put_lower(signed_headers);
    out.put(b"\n");
    out.put(&hex32(&Sha256::digest(body).into()));
    hex32(&out.finish().finalize().into())
}

/// Who signs, for which scope, at what time.
pub struct SigningParams<'a> {
    pub credential: &'a Credential,
    pub region: &'a str,
    pub service: &'a str,
    pub time: DateTime<Utc>,
}

/// Sign a request the way the SDKs do: adds `x-amz-date` and `authorization` to `headers`,
/// signing every header present (names sorted). Used by Casement's tests and benchmarks.
pub fn sign(method: &str, path: &str, headers: &mut HeaderMap, body: &[u8], p: &SigningParams<'_>) {
    sign_with(method, path, headers, body, p, None)
}

/// [`sign`], taking the signing key from `keys` when it holds the day's key: a client
/// that signs every call (an agent's polls and replies) derives it once a day instead of
/// with four HMACs per request.
pub fn sign_with(
    method: &str,
    path: &str,
    headers: &mut HeaderMap,
    body: &[u8],
    p: &SigningParams<'_>,
    keys: Option<&SigningKeyCache>,
) {
    let (cred, region, service, now) = (p.credential, p.region, p.service, p.time);
    let amz_date = now.format(AMZ_DATE_FMT).to_string();
    let date = &amz_date[..8];
    headers.insert("x-amz-date", amz_date.parse().expect("a formatted date is a valid header"));
    let mut names: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
    names.sort();
    names.dedup();
    let signed = names.join(";");
    let canonical_hash = canonical_request_hash(method, path, "", headers, &signed, body);
    let key = match keys {
        Some(keys) => keys.get(&cred.secret_access_key, &cred.access_key_id, date, region, service),
        None => keyed(&signing_key(&cred.secret_access_key, date, region, service)),
    };
    let sig = hex::encode(signature(key, &amz_date, (date, region, service), &canonical_hash));
    let value = format!(
        "{ALGORITHM} Credential={}/{date}/{region}/{service}/aws4_request, SignedHeaders={}, Signature={sig}",
        cred.access_key_id, signed
    );
    headers.insert(http::header::AUTHORIZATION, value.parse().expect("an ASCII header value"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_cred() -> Credential {
        Credential {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            account_id: "123456789012".into(),
        }
    }

    /// The byte splitter cuts exactly where `str::split` does, empty pieces included.
    #[test]
    fn split_ascii_is_str_split() {
        for s in ["", ",", "a", "a,b", ",a,,b,", "Credential=x/y, Signature=z", "é,ü,", ",,,"] {
            assert_eq!(split_ascii(s, b',').collect::<Vec<_>>(), s.split(',').collect::<Vec<_>>(), "{s:?}");
        }
    }

    /// The botocore-generated vector from reference/api.md §2.6.
    #[test]
    fn botocore_vector_verifies() {
        let body = br#"{"WindowExecutionId": "8b2d1c2e-1111-2222-3333-444455556666", "TaskId": "0e2c3a1f-aaaa-bbbb-cccc-ddddeeeeffff", "InvocationId": "c0ffee00-1234-5678-9abc-def012345678"}"#;
        let mut h = HeaderMap::new();
        h.insert("host", "ssm.us-east-1.amazonaws.com".parse().unwrap());
        h.insert("x-amz-target", "AmazonSSM.GetMaintenanceWindowExecutionTaskInvocation".parse().unwrap());
        h.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
        h.insert("x-amz-date", "20260102T030405Z".parse().unwrap());
        h.insert("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-east-1/ssm/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=bf39968d4c70a7ec1cec2692e1bd99683f5f2f1b9f3c6dbfae1aa395198646e2".parse().unwrap());
        let v = Verifier::new(StaticCredentials::new([example_cred()]), AuthMode::Verify, "000000000000".into());
        let now = "2026-01-02T03:06:00Z".parse().unwrap();
        let caller = v.verify("POST", "/", "", &h, body, now).expect("vector verifies");
        assert_eq!(caller.region, "us-east-1");
        assert_eq!(caller.account_id, "123456789012");
        // One byte of the body changed: the signature no longer matches.
        let mut tampered = body.to_vec();
        tampered[10] = b'X';
        let err = v.verify("POST", "/", "", &h, &tampered, now).unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        // Seven minutes later the signature has expired.
        let late = "2026-01-02T03:11:06Z".parse().unwrap();
        let err = v.verify("POST", "/", "", &h, body, late).unwrap_err();
        assert!(err.message().unwrap().starts_with("Signature expired: 20260102T030405Z is now earlier than"));
    }

    #[test]
    fn amz_dates_parse_strictly() {
        assert_eq!(parse_amz_date("20260102T030405Z"), Some("2026-01-02T03:04:05Z".parse().unwrap()));
        for bad in ["20260102T030405", "2026-01-02T03:04:05Z", "20261302T030405Z", "2026010xT030405Z", ""] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:4580".parse().unwrap());
        h.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
        h.insert("x-amz-meta-spaced", "  a   b \t c  ".parse().unwrap());
        let now = Utc::now();
        let cred = example_cred();
        sign(
            "POST",
            "/",
            &mut h,
            b"{}",
            &SigningParams { credential: &cred, region: "eu-west-1", service: "ssm", time: now },
        );
        let v = Verifier::new(StaticCredentials::new([example_cred()]), AuthMode::Verify, "0".into());
        assert_eq!(v.verify("POST", "/", "", &h, b"{}", now).unwrap().region, "eu-west-1");
    }

    /// The same access key ID with two secrets (two servers in one process): on one
    /// thread, each verifier still checks against its own secret, whichever ran last.
    #[test]
    fn a_cached_key_is_never_another_secrets() {
        let now = Utc::now();
        let mut other = example_cred();
        other.secret_access_key = "another-secret".into();
        let (a, b) = (
            Verifier::new(StaticCredentials::new([example_cred()]), AuthMode::Verify, "0".into()),
            Verifier::new(StaticCredentials::new([other.clone()]), AuthMode::Verify, "0".into()),
        );
        let signed = |cred: &Credential| {
            let mut h = HeaderMap::new();
            h.insert("host", "127.0.0.1:4580".parse().unwrap());
            let params = SigningParams { credential: cred, region: "us-east-1", service: "ssm", time: now };
            sign("POST", "/", &mut h, b"{}", &params);
            h
        };
        let (with_a, with_b) = (signed(&example_cred()), signed(&other));
        for _ in 0..2 {
            assert!(a.verify("POST", "/", "", &with_a, b"{}", now).is_ok());
            assert_eq!(b.verify("POST", "/", "", &with_a, b"{}", now).unwrap_err().code(), "InvalidSignatureException");
            assert!(b.verify("POST", "/", "", &with_b, b"{}", now).is_ok());
            assert_eq!(a.verify("POST", "/", "", &with_b, b"{}", now).unwrap_err().code(), "InvalidSignatureException");
        }
    }

    #[test]
    fn malformed_headers_are_incomplete_signatures() {
        for bad in [
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=A/20260102/us-east-1/ssm/aws4_request",
            "AWS4-HMAC-SHA256 Credential=A/x, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=A/20260102/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=zz",
            "Basic dXNlcjpwYXNz",
        ] {
            let err = Authorization::parse(bad).unwrap_err();
            assert_eq!(err.code(), "IncompleteSignatureException", "{bad}");
        }
    }
}
