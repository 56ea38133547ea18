//! Generated requests, however malformed, never produce a 500, a panic or a non-AWS
//! error shape. Bounded so it fits in CI; raise `CASEMENT_FUZZ_CASES` to run longer.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use crate::common::{Server, SERVED};

const MEMBERS: &[&str] = &[
    "WindowId",
    "Name",
    "Schedule",
    "Duration",
    "Cutoff",
    "AllowUnassociatedTargets",
    "Targets",
    "Key",
    "Values",
    "TaskArn",
    "TaskType",
    "TaskInvocationParameters",
    "RunCommand",
    "Lambda",
    "Payload",
    "Parameters",
    "Filters",
    "MaxResults",
    "NextToken",
    "Tags",
    "Value",
    "ResourceType",
    "ResourceId",
    "Replace",
    "ClientToken",
    "WindowTargetId",
    "WindowTaskId",
    "Priority",
    "MaxConcurrency",
    "MaxErrors",
    "ScheduleOffset",
    "StartDate",
];

/// Every served operation, one that exists in the model but is not served, and one that
/// does not exist.
fn fuzz_ops() -> Vec<&'static str> {
    SERVED.iter().copied().chain(["GetMaintenanceWindowExecutionTaskInvocation", "Bogus"]).collect()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "[ -~]{0,40}".prop_map(Value::String),
        Just(json!("mw-0123456789abcdef0")),
        Just(json!("11111111-2222-3333-4444-555555555555")),
        Just(json!("RUN_COMMAND")),
        Just(json!("rate(1 day)")),
        Just(json!("MaintenanceWindow")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(MEMBERS), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => json_value().prop_map(|v| { let mut s = v.to_string().into_bytes(); s.truncate(s.len() / 2); s }),
    ]
}

#[test]
fn generated_requests_never_fail_the_server() {
    let cases: u32 = std::env::var("CASEMENT_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::start();
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&(prop::sample::select(fuzz_ops()), body()), |(op, body)| {
            let body = String::from_utf8_lossy(&body).into_owned();
            let r = rt.block_on(server.call(op, &body));
            prop_assert!(r.status == 200 || (400..500).contains(&r.status), "{op} {body:?} -> {}", r.status);
            let j: Value = serde_json::from_slice(&r.body).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            if r.status != 200 {
                prop_assert!(j["__type"].is_string(), "{op} {body:?} -> {j}");
            }
            Ok(())
        })
        .unwrap();
    // The server is still healthy afterwards.
    let r = rt.block_on(server.call("DescribeMaintenanceWindows", "{}"));
    assert_eq!(r.status, 200);
}

const AGENT_TARGETS: &[&str] = &[
    "AmazonSSM.RegisterManagedInstance",
    "AmazonSSM.UpdateInstanceInformation",
    "EC2WindowsMessageDeliveryService.GetMessages",
    "EC2WindowsMessageDeliveryService.AcknowledgeMessage",
    "EC2WindowsMessageDeliveryService.SendReply",
    "EC2WindowsMessageDeliveryService.FailMessage",
    "EC2WindowsMessageDeliveryService.DeleteMessage",
];

const AGENT_MEMBERS: &[&str] =
    &["ActivationCode", "ActivationId", "InstanceId", "Destination", "MessageId", "Payload", "ReplyId", "FailureType"];

fn agent_body(node: String) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,40}".prop_map(Value::String),
        Just(json!(node.clone())),
        Just(json!(format!("aws.ssm.11111111-2222-3333-4444-555555555555.{node}"))),
        Just(json!("{\"documentStatus\":\"Success\",\"runtimeStatus\":{\"p\":{\"status\":\"x\",\"code\":\"1\"}}}")),
        Just(json!("11111111-2222-3333-4444-555555555555")),
    ];
    prop::collection::vec((prop::sample::select(AGENT_MEMBERS), leaf), 0..5)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

#[test]
fn generated_agent_requests_never_fail_the_server() {
    let cases: u32 = std::env::var("CASEMENT_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::start_with(&["--agent-poll-seconds", "1"]);
    let identity: Value = rt.block_on(async {
        let act = server.call("CreateActivation", r#"{"IamRole":"fuzz","RegistrationLimit":2}"#).await.json();
        let r = server
            .raw_json(
                "AmazonSSM.RegisterManagedInstance",
                &json!({"ActivationCode": act["ActivationCode"], "ActivationId": act["ActivationId"]}),
            )
            .await
            .json();
        json!({"instance_id": r["InstanceId"], "access_key_id": r["AccessKeyId"], "secret_access_key": r["SecretAccessKey"]})
    });
    let node = identity["instance_id"].as_str().unwrap().to_owned();
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&(prop::sample::select(AGENT_TARGETS), agent_body(node)), |(target, body)| {
            let r = rt.block_on(async {
                if target.ends_with("RegisterManagedInstance") {
                    server.raw_json(target, &body).await
                } else {
                    crate::nodes::node_call(&server, &identity, target, &body).await
                }
            });
            prop_assert!(r.status == 200 || (400..500).contains(&r.status), "{target} {body} -> {}", r.status);
            let j: Value = serde_json::from_slice(&r.body).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            if r.status != 200 {
                prop_assert!(j["__type"].is_string(), "{target} {body} -> {j}");
            }
            Ok(())
        })
        .unwrap();
}
