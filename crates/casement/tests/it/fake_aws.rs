//! Local stand-ins for the AWS services the engine calls, speaking their wire protocols:
//! Lambda (REST-JSON `Invoke`), Step Functions (awsJson 1.0 `StartExecution` /
//! `DescribeExecution`), EventBridge (awsJson 1.1 `PutEvents`), plus a plain webhook.
//! Every request is recorded for the test to inspect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{json, Value};

#[derive(Default)]
pub struct Recorded {
    /// (function path, qualifier, client context header, payload)
    pub lambda: Vec<(String, Option<String>, Option<String>, String)>,
    /// StartExecution requests (name → body).
    pub sfn_starts: Vec<Value>,
    /// Executions by ARN: (describe calls so far, input).
    pub sfn_executions: HashMap<String, (u32, String)>,
    pub eventbridge: Vec<Value>,
    pub webhook: Vec<Value>,
}

pub struct FakeAws {
    pub url: String,
    pub seen: Arc<Mutex<Recorded>>,
    /// While false, Step Functions executions stay RUNNING.
    pub release: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeAws {
    pub async fn start() -> FakeAws {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Recorded::default()));
        let release = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (s, r) = (seen.clone(), release.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (s, r) = (s.clone(), r.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (s, r) = (s.clone(), r.clone());
                        async move { Ok::<_, std::convert::Infallible>(handle(req, &s, &r).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeAws { url, seen, release }
    }

    /// Environment that points a casement server's runners and sinks here.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("CASEMENT_LAMBDA_ENDPOINT".into(), self.url.clone()),
            ("CASEMENT_STEPFUNCTIONS_ENDPOINT".into(), self.url.clone()),
            ("CASEMENT_STEPFUNCTIONS_POLL_MS".into(), "100".into()),
            ("CASEMENT_EVENTBRIDGE_ENDPOINT".into(), self.url.clone()),
            ("CASEMENT_EVENTS_WEBHOOK".into(), format!("{}/webhook", self.url)),
        ]
    }
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reply(status: u16, headers: &[(&str, String)], body: Value) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    seen: &Mutex<Recorded>,
    release: &std::sync::atomic::AtomicBool,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let client_context = req.headers().get("x-amz-client-context").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    let request_id = casement_model::ids::new_uuid();
    if let Some(rest) = path.strip_prefix("/2015-03-31/functions/") {
        let function = percent_decode(rest.trim_end_matches("/invocations"));
        let qualifier = query.strip_prefix("Qualifier=").map(str::to_owned);
        seen.lock().unwrap().lambda.push((function, qualifier, client_context, text.clone()));
        if text.contains("html500") {
            // A proxy in front of the service failing: not the service's JSON at all.
            return Response::builder()
                .status(500)
                .header("content-type", "text/html")
                .body(Full::new(Bytes::from_static(b"<html><body><h1>500 Internal Server Error</h1></body></html>")))
                .unwrap();
        }
        if text.contains("fail") {
            return reply(
                200,
                &[("x-amzn-RequestId", request_id), ("X-Amz-Function-Error", "Unhandled".into())],
                json!({"errorMessage": "the function failed on purpose", "errorType": "Error"}),
            );
        }
        return reply(200, &[("x-amzn-RequestId", request_id)], json!({"echo": text}));
    }
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match target.as_str() {
        "AWSStepFunctions.StartExecution" => {
            let name = v["name"].as_str().unwrap_or("").to_owned();
            let arn = format!(
                "{}:{name}",
                v["stateMachineArn"].as_str().unwrap_or("").replace(":stateMachine:", ":execution:")
            );
            let mut s = seen.lock().unwrap();
            s.sfn_starts.push(v.clone());
            s.sfn_executions.entry(arn.clone()).or_insert((0, v["input"].as_str().unwrap_or("").to_owned()));
            reply(200, &[], json!({"executionArn": arn, "startDate": 1_700_000_000.0}))
        }
        "AWSStepFunctions.DescribeExecution" => {
            let arn = v["executionArn"].as_str().unwrap_or("").to_owned();
            let mut s = seen.lock().unwrap();
            let Some(entry) = s.sfn_executions.get_mut(&arn) else {
                return reply(400, &[], json!({"__type": "ExecutionDoesNotExist", "message": "no such execution"}));
            };
            entry.0 += 1;
            let released = release.load(std::sync::atomic::Ordering::SeqCst);
            let (status, extra) = if entry.0 < 2 || !released {
                ("RUNNING", json!({}))
            } else if entry.1.contains("fail") {
                ("FAILED", json!({"error": "States.TaskFailed", "cause": "the state machine failed on purpose"}))
            } else {
                ("SUCCEEDED", json!({"output": "{}"}))
            };
            let mut out = json!({
                "executionArn": arn,
                "stateMachineArn": "arn:aws:states:us-east-1:111122223333:stateMachine:sm",
                "status": status,
                "startDate": 1_700_000_000.0,
            });
            if let (Some(o), Some(e)) = (out.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            reply(200, &[], out)
        }
        "AWSEvents.PutEvents" => {
            let entries = v["Entries"].as_array().cloned().unwrap_or_default();
            let n = entries.len();
            seen.lock().unwrap().eventbridge.extend(entries);
            let ids: Vec<Value> = (0..n).map(|_| json!({"EventId": casement_model::ids::new_uuid()})).collect();
            reply(200, &[], json!({"FailedEntryCount": 0, "Entries": ids}))
        }
        _ if path == "/webhook" => {
            seen.lock().unwrap().webhook.push(v);
            reply(200, &[], json!({}))
        }
        _ => reply(404, &[], json!({"message": format!("fake AWS does not serve {path} {target}")})),
    }
}
