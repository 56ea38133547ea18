//! Model-driven validation: the test reads SSM's botocore model itself (the shared
//! reference copy when present, else the repository's) and, for every served operation,
//! breaks every constrained member and leaves out every required one.

use serde_json::{json, Map, Value};

use crate::common::{Server, SERVED};

fn model() -> Value {
    let root = env!("CARGO_MANIFEST_DIR");
    let shared = format!("{root}/../../../shared/reference/ssm-model.json");
    let local = format!("{root}/../casement-protocol/model/ssm.json");
    let text = std::fs::read_to_string(&shared).or_else(|_| std::fs::read_to_string(&local)).expect("an SSM model");
    serde_json::from_str(&text).expect("model JSON")
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// A value breaking one of the shape's constraints, and the phrase the error must carry.
fn violation(shape: &Map<String, Value>) -> Option<(Value, &'static str)> {
    let (min, max) = (shape.get("min").and_then(Value::as_i64), shape.get("max").and_then(Value::as_i64));
    match shape["type"].as_str()? {
        "string" => {
            if let Some(max) = max {
                Some((json!("a".repeat(max as usize + 1)), "Member must have length less than or equal to"))
            } else if let Some(min) = min.filter(|m| *m > 0) {
                Some((json!("a".repeat(min as usize - 1)), "Member must have length greater than or equal to"))
            } else if shape.contains_key("enum") {
                Some((json!("NOT_AN_ENUM_VALUE"), "Member must satisfy enum value set"))
            } else if shape.contains_key("pattern") {
                Some((json!("\u{1}"), "Member must satisfy regular expression pattern"))
            } else {
                None
            }
        }
        "integer" | "long" => match (min, max) {
            (_, Some(max)) => Some((json!(max + 1), "Member must have value less than or equal to")),
            (Some(min), None) => Some((json!(min - 1), "Member must have value greater than or equal to")),
            _ => None,
        },
        "list" => max.map(|max| {
            let items: Vec<Value> = (0..=max).map(|_| Value::Null).collect();
            (Value::Array(items), "Member must have length less than or equal to")
        }),
        _ => None,
    }
}

#[tokio::test]
async fn every_constrained_member_is_validated() {
    let model = model();
    let shapes = model["shapes"].as_object().unwrap();
    let s = Server::start();
    let mut checked = 0;
    for op in SERVED {
        let input = model["operations"][op]["input"]["shape"].as_str().unwrap();
        let members = shapes[input]["members"].as_object().unwrap();
        for (member, spec) in members {
            let shape = shapes[spec["shape"].as_str().unwrap()].as_object().unwrap();
            let Some((bad, phrase)) = violation(shape) else { continue };
            let body = json!({ member: bad }).to_string();
            let r = s.call(op, &body).await;
            assert_eq!(r.status, 400, "{op}.{member}: {}", String::from_utf8_lossy(&r.body));
            assert_eq!(r.error_type().as_deref(), Some("ValidationException"), "{op}.{member}");
            let m = r.message();
            let path = lower_first(member);
            let needle = format!("at '{path}' failed to satisfy constraint: {phrase}");
            assert!(m.contains(&needle), "{op}.{member}: {m:?} lacks {needle:?}");
            assert!(m.contains(" validation error"), "{op}.{member}: {m}");
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} constrained members found");
}

#[tokio::test]
async fn empty_bodies_report_every_missing_required_member() {
    let model = model();
    let shapes = model["shapes"].as_object().unwrap();
    let s = Server::start();
    for op in SERVED {
        let input = model["operations"][op]["input"]["shape"].as_str().unwrap();
        let required: Vec<&str> = shapes[input]
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for body in ["", "{}"] {
            let r = s.call(op, body).await;
            if required.is_empty() {
                assert_eq!(r.status, 200, "{op} with {body:?}: {}", String::from_utf8_lossy(&r.body));
                continue;
            }
            assert_eq!(r.error_type().as_deref(), Some("ValidationException"), "{op}");
            let m = r.message();
            let n = required.len();
            let prefix = format!("{n} validation error{} detected: ", if n == 1 { "" } else { "s" });
            assert!(m.starts_with(&prefix), "{op}: {m}");
            for member in &required {
                let needle = format!(
                    "Value null at '{}' failed to satisfy constraint: Member must not be null",
                    lower_first(member)
                );
                assert!(m.contains(&needle), "{op}: {m:?} lacks {needle:?}");
            }
        }
    }
}

#[tokio::test]
async fn malformed_ids_and_wrong_types() {
    let s = Server::start();
    let r = s.call("GetMaintenanceWindow", r#"{"WindowId":"mw-123"}"#).await;
    assert_eq!(r.error_type().as_deref(), Some("ValidationException"));
    assert_eq!(
        r.message(),
        "2 validation errors detected: Value 'mw-123' at 'windowId' failed to satisfy constraint: Member must have length greater than or equal to 20; Value 'mw-123' at 'windowId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^mw-[0-9a-f]{17}$"
    );
    let r = s.call("GetMaintenanceWindow", r#"{"WindowId":"mw-0123456789abcdef0"}"#).await;
    assert_eq!(r.error_type().as_deref(), Some("DoesNotExistException"));
    assert_eq!(r.json()["Message"], "Maintenance window mw-0123456789abcdef0 does not exist");
    let r = s.call("GetMaintenanceWindowTask", r#"{"WindowId":"mw-0123456789abcdef0","WindowTaskId":"nope"}"#).await;
    assert_eq!(r.error_type().as_deref(), Some("ValidationException"));
    assert!(r.message().contains("at 'windowTaskId'"));

    let r = s
        .call(
            "CreateMaintenanceWindow",
            r#"{"Name":"n-n-n","Schedule":"rate(1 day)","Duration":"2","Cutoff":1,"AllowUnassociatedTargets":false}"#,
        )
        .await;
    assert_eq!(r.error_type().as_deref(), Some("SerializationException"));
    assert_eq!(r.message(), "STRING_VALUE can not be converted to an Integer");
    let r = s.call("GetMaintenanceWindow", r#"{"WindowId":"#).await;
    assert_eq!(r.error_type().as_deref(), Some("SerializationException"));
    let r = s.call("GetMaintenanceWindow", r#"[1,2]"#).await;
    assert_eq!(r.error_type().as_deref(), Some("SerializationException"));
    let r = s.call("NoSuchOperation", "{}").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type().as_deref(), Some("UnknownOperationException"));
    assert!(r.header("x-amzn-requestid").is_some_and(|v| v.len() == 36));
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    // An SSM operation this server does not serve says which, and that it is not served.
    let r = s.call("ListAssociations", "{}").await;
    assert_eq!(r.error_type().as_deref(), Some("UnknownOperationException"));
    assert!(r.message().starts_with("Operation ListAssociations is not supported by this server"), "{}", r.message());
}

#[tokio::test]
async fn oversized_bodies_are_refused_whole() {
    let s = Server::start();
    let big = format!(r#"{{"Name":"big","Description":"{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let r = s.call("CreateMaintenanceWindow", &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_type().as_deref(), Some("RequestEntityTooLargeException"));
}
