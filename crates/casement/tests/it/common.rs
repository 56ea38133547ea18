//! Spawning servers and talking to them: with the AWS SDK for Rust, and with raw signed
//! HTTP for what an SDK would never send.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use aws_credential_types::Credentials;
use aws_sdk_ssm::config::{BehaviorVersion, Region};
use casement_protocol::sigv4::{self, Credential};
use http::HeaderMap;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const AKID: &str = "AKIDCASEMENTTEST0001";
pub const SECRET: &str = "casement-test-secret-key-0001";
pub const ACCOUNT: &str = "111122223333";

/// The operations the server serves.
pub const SERVED: &[&str] = &[
    "CreateMaintenanceWindow",
    "GetMaintenanceWindow",
    "UpdateMaintenanceWindow",
    "DeleteMaintenanceWindow",
    "DescribeMaintenanceWindows",
    "DescribeMaintenanceWindowsForTarget",
    "DescribeMaintenanceWindowSchedule",
    "RegisterTargetWithMaintenanceWindow",
    "UpdateMaintenanceWindowTarget",
    "DeregisterTargetFromMaintenanceWindow",
    "DescribeMaintenanceWindowTargets",
    "RegisterTaskWithMaintenanceWindow",
    "UpdateMaintenanceWindowTask",
    "GetMaintenanceWindowTask",
    "DeregisterTaskFromMaintenanceWindow",
    "DescribeMaintenanceWindowTasks",
    "AddTagsToResource",
    "RemoveTagsFromResource",
    "ListTagsForResource",
    "DescribeMaintenanceWindowExecutions",
    "GetMaintenanceWindowExecution",
    "CancelMaintenanceWindowExecution",
    "DescribeMaintenanceWindowExecutionTasks",
    "GetMaintenanceWindowExecutionTask",
    "DescribeMaintenanceWindowExecutionTaskInvocations",
    "GetMaintenanceWindowExecutionTaskInvocation",
    "SendCommand",
    "ListCommands",
    "ListCommandInvocations",
    "GetCommandInvocation",
    "CancelCommand",
    "CreateActivation",
    "DescribeActivations",
    "DeleteActivation",
    "DescribeInstanceInformation",
    "DeregisterManagedInstance",
];

/// `at(…)` this many seconds from now, in UTC.
pub fn at_in(secs: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::seconds(secs);
    format!("at({})", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// Poll DescribeMaintenanceWindowExecutions until the window has `n` final executions.
pub async fn wait_for_executions(
    c: &aws_sdk_ssm::Client,
    window: &str,
    n: usize,
    secs: u64,
) -> Vec<aws_sdk_ssm::types::MaintenanceWindowExecution> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let out =
            c.describe_maintenance_window_executions().window_id(window).send().await.expect("describe executions");
        let done: Vec<_> = out
            .window_executions()
            .iter()
            .filter(|e| {
                !matches!(
                    e.status(),
                    Some(
                        aws_sdk_ssm::types::MaintenanceWindowExecutionStatus::InProgress
                            | aws_sdk_ssm::types::MaintenanceWindowExecutionStatus::Pending
                            | aws_sdk_ssm::types::MaintenanceWindowExecutionStatus::Cancelling
                    )
                )
            })
            .cloned()
            .collect();
        if done.len() >= n {
            return done;
        }
        assert!(std::time::Instant::now() < deadline, "window {window} did not finish: {out:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Create a window with the minimum members and return its ID.
/// An SDK client of `endpoint` (no retries: a test sees each answer).
pub fn sdk_at(endpoint: &str, akid: &str, secret: &str, region: &str) -> aws_sdk_ssm::Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let conf = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(akid, secret, None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(http)
        .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_ssm::Client::from_conf(conf)
}

/// The invocations of the first task of a window execution.
pub async fn first_task_invocations(
    c: &aws_sdk_ssm::Client,
    execution: &str,
) -> Vec<aws_sdk_ssm::types::MaintenanceWindowExecutionTaskInvocationIdentity> {
    let tasks = c.describe_maintenance_window_execution_tasks().window_execution_id(execution).send().await.unwrap();
    let task = tasks.window_execution_task_identities()[0].task_execution_id().unwrap();
    let invs = c
        .describe_maintenance_window_execution_task_invocations()
        .window_execution_id(execution)
        .task_id(task)
        .send()
        .await
        .unwrap();
    invs.window_execution_task_invocation_identities().to_vec()
}

pub async fn create_window(c: &aws_sdk_ssm::Client, name: &str, schedule: &str, unassociated: bool) -> String {
    c.create_maintenance_window()
        .name(name)
        .schedule(schedule)
        .duration(2)
        .cutoff(1)
        .allow_unassociated_targets(unassociated)
        .send()
        .await
        .expect("create window")
        .window_id()
        .expect("window id")
        .to_owned()
}

/// A running `casement serve`, killed on drop.
pub struct Server {
    child: Child,
    pub endpoint: String,
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// A server with one key (`AKID`/`SECRET` for `ACCOUNT`) and a fresh data dir.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = Self::spawn(&dir, extra);
        s._tmp = Some(tmp);
        s
    }

    /// A server over an existing data dir (for restart tests); the caller owns the dir.
    pub fn spawn(data_dir: &Path, extra: &[&str]) -> Server {
        Self::spawn_with_env(
            data_dir,
            extra,
            &[("CASEMENT_ACCESS_KEY_ID", AKID), ("CASEMENT_SECRET_ACCESS_KEY", SECRET)],
        )
        .0
    }

    /// Spawn with these extra environment variables (and no others of Casement's but
    /// the account and log level); returns the server and what it printed before listening.
    pub fn spawn_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Server, Vec<String>) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_casement"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env_remove("CASEMENT_ACCESS_KEY_ID")
            .env_remove("CASEMENT_SECRET_ACCESS_KEY")
            .env("CASEMENT_ACCOUNT_ID", ACCOUNT)
            .env("CASEMENT_LOG", "warn")
            // The engine's AWS clients read the standard chain: give them a key and keep
            // them off the instance metadata service and any real profile.
            .env("AWS_ACCESS_KEY_ID", "AKIDFAKEAWS")
            .env("AWS_SECRET_ACCESS_KEY", "fake-aws-secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn casement");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut printed = Vec::new();
        let endpoint = loop {
            let line = lines.next().expect("server exited before listening").expect("read stdout");
            if let Some(url) = line.strip_prefix("casement listening on ") {
                break url.trim().to_owned();
            }
            printed.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        (Server { child, endpoint, _tmp: None }, printed)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the process to exit on its own, up to `secs`.
    pub fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        for _ in 0..secs * 20 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }

    /// Kill with SIGKILL: no graceful shutdown, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn sdk(&self) -> aws_sdk_ssm::Client {
        self.sdk_as(AKID, SECRET, "us-east-1")
    }

    pub fn sdk_as(&self, akid: &str, secret: &str, region: &str) -> aws_sdk_ssm::Client {
        sdk_at(&self.endpoint, akid, secret, region)
    }

    /// Sign and send one request with our test key; returns (status, headers, JSON body).
    pub async fn call(&self, op: &str, body: &str) -> Response {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
        h.insert("x-amz-target", format!("AmazonSSM.{op}").parse().unwrap());
        h.insert("host", self.host().parse().unwrap());
        let cred =
            Credential { access_key_id: AKID.into(), secret_access_key: SECRET.into(), account_id: ACCOUNT.into() };
        let params =
            sigv4::SigningParams { credential: &cred, region: "us-east-1", service: "ssm", time: chrono::Utc::now() };
        sigv4::sign("POST", "/", &mut h, body.as_bytes(), &params);
        self.raw("POST", "/", &h, body.as_bytes()).await
    }

    /// An unsigned awsJson request to `target`.
    pub async fn raw_json(&self, target: &str, body: &Value) -> Response {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
        h.insert("x-amz-target", target.parse().unwrap());
        h.insert("host", self.host().parse().unwrap());
        self.raw("POST", "/", &h, body.to_string().as_bytes()).await
    }

    pub fn host(&self) -> String {
        self.endpoint.trim_start_matches("http://").to_owned()
    }

    /// Send exactly these headers and body.
    pub async fn raw(&self, method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
        let mut stream = tokio::net::TcpStream::connect(self.host()).await.expect("connect");
        let mut req = format!("{method} {path} HTTP/1.1\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{}: {}\r\n", k, String::from_utf8_lossy(v.as_bytes())));
        }
        if !headers.contains_key("content-length") {
            req.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        req.push_str("connection: close\r\n\r\n");
        // The server may answer (413) and close before a large body is fully written;
        // what matters is the answer, so write errors are not failures here.
        if stream.write_all(req.as_bytes()).await.is_ok() {
            let _ = stream.write_all(body).await;
        }
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16384];
        // Read until EOF, or until a reset after the answer already arrived.
        while let Ok(n) = stream.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Response::parse(&buf)
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn parse(buf: &[u8]) -> Response {
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let mut lines = head.lines();
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())))
            .collect();
        let mut body = buf[split + 4..].to_vec();
        if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
            body = dechunk(&body);
        }
        Response { status, headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The error's `__type`, or `None` for a success.
    pub fn error_type(&self) -> Option<String> {
        if self.status == 200 {
            return None;
        }
        self.json()["__type"].as_str().map(str::to_owned)
    }

    pub fn message(&self) -> String {
        let j = self.json();
        j["message"].as_str().or(j["Message"].as_str()).unwrap_or("").to_owned()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
    out
}

/// The SDK's error code for a failed call.
pub fn code<E, R>(err: &aws_sdk_ssm::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ssm::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err {
        aws_sdk_ssm::error::SdkError::ServiceError(e) => e.err().code().unwrap_or("").to_owned(),
        other => format!("not a service error: {other:?}"),
    }
}
