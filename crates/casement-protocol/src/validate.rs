//! Model-driven request validation, the way the AWS front end does it before an
//! operation runs: member types first (`SerializationException`), then every modeled
//! constraint — required, length, range, pattern, enum — collected into one
//! `ValidationException` in the front end's exact message format.
//!
//! The rules come from SSM's own botocore model (`model/ssm.json`, documentation
//! stripped), so a new operation gets AWS-exact validation by being in the model.

/// The model's tables are fixed at start-up and looked up on every request; their keys
/// are the model's own names, so a fast non-keyed hash is safe here.
type Map<V> = crate::FastMap<String, V>;
use std::fmt::Write as _;
use std::sync::OnceLock;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{ApiError, Violations};
use crate::pattern::Pattern;

const MODEL_JSON: &str = include_str!("../model/ssm.json");
/// The agent-facing operations, which SSM's public model does not have.
const AGENT_MODEL_JSON: &str = include_str!("../model/agent.json");

#[derive(Deserialize)]
struct RawModel {
    operations: serde_json::Map<String, Value>,
    shapes: serde_json::Map<String, Value>,
}

#[derive(Debug)]
enum Kind {
    Structure { members: Vec<(String, String)>, required: Vec<String> },
    List { member: String },
    Map { key: String, value: String },
    String,
    Integer,
    Long,
    Double,
    Boolean,
    Timestamp,
    Blob,
}

#[derive(Debug)]
struct Shape {
    name: String,
    kind: Kind,
    min: Option<i64>,
    max: Option<i64>,
    pattern: Option<(String, Pattern)>,
    enumeration: Option<Vec<String>>,
    sensitive: bool,
}

/// The compiled SSM model: shapes with their constraints, and each operation's input.
#[derive(Debug)]
pub struct Model {
    shapes: Map<Shape>,
    inputs: Map<String>,
    outputs: Map<String>,
}

/// The model, compiled once per process.
pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::parse(MODEL_JSON).expect("the embedded SSM model is valid"))
}

/// The agents' operations, validated like every other request.
pub fn agent_model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::parse(AGENT_MODEL_JSON).expect("the embedded agent model is valid"))
}

impl Model {
    fn parse(text: &str) -> Result<Model, String> {
        let raw: RawModel = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut shapes = Map::default();
        for (name, s) in &raw.shapes {
            let ty = s["type"].as_str().ok_or_else(|| format!("{name}: no type"))?;
            let field = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_owned).unwrap_or_default();
            let kind = match ty {
                "structure" => {
                    let members = s
                        .get("members")
                        .and_then(Value::as_object)
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.clone(), v["shape"].as_str().unwrap_or_default().to_owned()))
                                .collect()
                        })
                        .unwrap_or_default();
                    let required = s
                        .get("required")
                        .and_then(Value::as_array)
                        .map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                        .unwrap_or_default();
                    Kind::Structure { members, required }
                }
                "list" => Kind::List { member: s["member"]["shape"].as_str().unwrap_or_default().to_owned() },
                "map" => Kind::Map {
                    key: s["key"]["shape"].as_str().unwrap_or_default().to_owned(),
                    value: s["value"]["shape"].as_str().unwrap_or_default().to_owned(),
                },
                "string" => Kind::String,
                "integer" => Kind::Integer,
                "long" => Kind::Long,
                "double" | "float" => Kind::Double,
                "boolean" => Kind::Boolean,
                "timestamp" => Kind::Timestamp,
                "blob" => Kind::Blob,
                other => return Err(format!("{name}: unknown type {other}")),
            };
            let pattern = match field("pattern") {
                p if p.is_empty() => None,
                p => {
                    let re = Pattern::new(&p).map_err(|e| format!("{name}: {e}"))?;
                    Some((p, re))
                }
            };
            let _ = field("type");
            shapes.insert(
                name.clone(),
                Shape {
                    name: name.clone(),
                    kind,
                    min: s.get("min").and_then(Value::as_i64),
                    max: s.get("max").and_then(Value::as_i64),
                    pattern,
                    enumeration: s
                        .get("enum")
                        .and_then(Value::as_array)
                        .map(|e| e.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()),
                    sensitive: s.get("sensitive").and_then(Value::as_bool).unwrap_or(false),
                },
            );
        }
        let mut inputs = Map::default();
        let mut outputs = Map::default();
        for (name, op) in &raw.operations {
            if let Some(i) = op["input"]["shape"].as_str() {
                inputs.insert(name.clone(), i.to_owned());
            }
            if let Some(o) = op["output"]["shape"].as_str() {
                outputs.insert(name.clone(), o.to_owned());
            }
        }
        Ok(Model { shapes, inputs, outputs })
    }

    pub fn has_operation(&self, op: &str) -> bool {
        self.inputs.contains_key(op)
    }

    pub fn operations(&self) -> impl Iterator<Item = &str> {
        self.inputs.keys().map(String::as_str)
    }

    pub fn output_shape(&self, op: &str) -> Option<&str> {
        self.outputs.get(op).map(String::as_str)
    }

    /// Validate an operation's request body (already parsed as JSON).
    pub fn validate_input(&self, op: &str, body: &Value) -> Result<(), ApiError> {
        let input = self.inputs.get(op).ok_or(ApiError::UnknownOperation(None))?;
        let shape = self.shape(input)?;
        if !body.is_object() {
            return Err(type_error(body, shape));
        }
        let mut v = Violations::default();
        self.check(shape, body, &Path::Root, &mut v)?;
        v.into_result()
    }

    fn shape(&self, name: &str) -> Result<&Shape, ApiError> {
        self.shapes.get(name).ok_or_else(|| ApiError::Internal(format!("model has no shape {name}")))
    }

    /// Type-check `value` against `shape` and collect constraint violations. A type
    /// error aborts at once: the front end cannot deserialize the request at all.
    fn check(&self, shape: &Shape, value: &Value, path: &Path<'_>, out: &mut Violations) -> Result<(), ApiError> {
        match (&shape.kind, value) {
            (Kind::Structure { members, required }, Value::Object(obj)) => {
                for (member, member_shape) in members {
                    let child_path = Path::Member(path, member);
                    match obj.get(member) {
                        None | Some(Value::Null) => {
                            if required.iter().any(|r| r == member) {
                                out.push(format!(
                                    "Value null at '{child_path}' failed to satisfy constraint: Member must not be null"
                                ));
                            }
                        }
                        Some(child) => self.check(self.shape(member_shape)?, child, &child_path, out)?,
                    }
                }
                Ok(())
            }
            (Kind::List { member }, Value::Array(items)) => {
                let ms = self.shape(member)?;
                self.length(shape, items.len() as i64, value, path, out);
                let mut inner = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    if item.is_null() {
                        continue;
                    }
                    if matches!(ms.kind, Kind::Structure { .. } | Kind::List { .. } | Kind::Map { .. }) {
                        self.check(ms, item, &Path::Item(path, i + 1), out)?;
                    } else {
                        self.scalar_type(ms, item)?;
                        for c in self.scalar_constraints(ms, item) {
                            if !inner.contains(&c) {
                                inner.push(c);
                            }
                        }
                    }
                }
                if !inner.is_empty() {
                    out.push(format!(
                        "{} at '{path}' failed to satisfy constraint: Member must satisfy constraint: [{}]",
                        self.value_phrase(shape, value),
                        inner.join(", ")
                    ));
                }
                Ok(())
            }
            (Kind::Map { key, value: vshape }, Value::Object(obj)) => {
                let (ks, vs) = (self.shape(key)?, self.shape(vshape)?);
                self.length(shape, obj.len() as i64, value, path, out);
                let (mut kinner, mut vinner) = (Vec::new(), Vec::new());
                for (k, v) in obj {
                    for c in self.scalar_constraints(ks, &Value::String(k.clone())) {
                        if !kinner.contains(&c) {
                            kinner.push(c);
                        }
                    }
                    if v.is_null() {
                        continue;
                    }
                    if matches!(vs.kind, Kind::Structure { .. } | Kind::List { .. } | Kind::Map { .. }) {
                        self.check(vs, v, &Path::Key(path, k), out)?;
                    } else {
                        self.scalar_type(vs, v)?;
                        for c in self.scalar_constraints(vs, v) {
                            if !vinner.contains(&c) {
                                vinner.push(c);
                            }
                        }
                    }
                }
                if !kinner.is_empty() {
                    out.push(format!(
                        "{} at '{path}' failed to satisfy constraint: Map keys must satisfy constraint: [{}]",
                        self.value_phrase(shape, value),
                        kinner.join(", ")
                    ));
                }
                if !vinner.is_empty() {
                    out.push(format!(
                        "{} at '{path}' failed to satisfy constraint: Map value must satisfy constraint: [{}]",
                        self.value_phrase(shape, value),
                        vinner.join(", ")
                    ));
                }
                Ok(())
            }
            (Kind::Structure { .. } | Kind::List { .. } | Kind::Map { .. }, other) => Err(type_error(other, shape)),
            (_, scalar) => {
                self.scalar_type(shape, scalar)?;
                for c in self.scalar_constraints(shape, scalar) {
                    out.push(format!(
                        "{} at '{path}' failed to satisfy constraint: {c}",
                        self.value_phrase(shape, value)
                    ));
                }
                Ok(())
            }
        }
    }

    fn length(&self, shape: &Shape, len: i64, value: &Value, path: &Path<'_>, out: &mut Violations) {
        if let Some(min) = shape.min {
            if len < min {
                out.push(format!(
                    "{} at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {min}",
                    self.value_phrase(shape, value)
                ));
            }
        }
        if let Some(max) = shape.max {
            if len > max {
                out.push(format!(
                    "{} at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}",
                    self.value_phrase(shape, value)
                ));
            }
        }
    }

    fn scalar_type(&self, shape: &Shape, v: &Value) -> Result<(), ApiError> {
        let ok = match (&shape.kind, v) {
            (Kind::String, Value::String(_)) => true,
            (Kind::Boolean, Value::Bool(_)) => true,
            (Kind::Integer, Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            (Kind::Long, Value::Number(n)) => n.as_i64().is_some(),
            (Kind::Double | Kind::Timestamp, Value::Number(_)) => true,
            (Kind::Blob, Value::String(s)) => {
                return base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map(|_| ())
                    .map_err(|_| ApiError::Serialization("Base64 encoded blob value could not be decoded".into()))
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(type_error(v, shape))
        }
    }

    /// Constraint phrases a scalar breaks, in the front end's order: length, range,
    /// pattern, enum.
    fn scalar_constraints(&self, shape: &Shape, v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        match v {
            Value::String(s) => {
                // Java counts UTF-16 code units; blobs count decoded bytes.
                let len = match shape.kind {
                    Kind::Blob => {
                        base64::engine::general_purpose::STANDARD.decode(s).map(|b| b.len()).unwrap_or(0) as i64
                    }
                    _ if s.is_ascii() => s.len() as i64,
                    _ => s.encode_utf16().count() as i64,
                };
                if let Some(min) = shape.min.filter(|m| len < *m) {
                    out.push(format!("Member must have length greater than or equal to {min}"));
                }
                if let Some(max) = shape.max.filter(|m| len > *m) {
                    out.push(format!("Member must have length less than or equal to {max}"));
                }
                if let Some((p, re)) = &shape.pattern {
                    if !re.is_match(s) {
                        out.push(format!("Member must satisfy regular expression pattern: {p}"));
                    }
                }
                if let Some(e) = &shape.enumeration {
                    if !e.iter().any(|x| x == s) {
                        out.push(format!("Member must satisfy enum value set: [{}]", e.join(", ")));
                    }
                }
            }
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(0.0);
                if matches!(shape.kind, Kind::Integer | Kind::Long | Kind::Double) {
                    if let Some(min) = shape.min.filter(|m| x < *m as f64) {
                        out.push(format!("Member must have value greater than or equal to {min}"));
                    }
                    if let Some(max) = shape.max.filter(|m| x > *m as f64) {
                        out.push(format!("Member must have value less than or equal to {max}"));
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// `Value '<rendered>'`, or `Value` alone for sensitive shapes.
    fn value_phrase(&self, shape: &Shape, v: &Value) -> String {
        if shape.sensitive {
            "Value".into()
        } else {
            let mut s = String::from("Value '");
            self.render(Some(shape), v, &mut s);
            s.push('\'');
            s
        }
    }

    /// Java `toString()` rendering, as the front end prints offending values.
    fn render(&self, shape: Option<&Shape>, v: &Value, out: &mut String) {
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Number(n) => {
                let _ = write!(out, "{n}");
            }
            Value::String(s) => out.push_str(s),
            Value::Array(items) => {
                let member = match shape.map(|s| &s.kind) {
                    Some(Kind::List { member }) => self.shapes.get(member),
                    _ => None,
                };
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.render(member, item, out);
                }
                out.push(']');
            }
            Value::Object(obj) => match shape.map(|s| (&s.kind, s)) {
                Some((Kind::Structure { members, .. }, s)) => {
                    let _ = write!(out, "{}(", s.name);
                    let mut first = true;
                    for (m, ms) in members {
                        if let Some(child) = obj.get(m).filter(|c| !c.is_null()) {
                            if !first {
                                out.push_str(", ");
                            }
                            first = false;
                            out.push_str(&lower_first(m));
                            out.push('=');
                            self.render(self.shapes.get(ms), child, out);
                        }
                    }
                    out.push(')');
                }
                other => {
                    let vshape = match other {
                        Some((Kind::Map { value, .. }, _)) => self.shapes.get(value),
                        _ => None,
                    };
                    out.push('{');
                    for (i, (k, child)) in obj.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(k);
                        out.push('=');
                        self.render(vshape, child, out);
                    }
                    out.push('}');
                }
            },
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let _ = write_lower_first(&mut out, s);
    out
}

fn write_lower_first(f: &mut impl std::fmt::Write, s: &str) -> std::fmt::Result {
    let mut c = s.chars();
    if let Some(first) = c.next() {
        for l in first.to_lowercase() {
            f.write_char(l)?;
        }
        f.write_str(c.as_str())?;
    }
    Ok(())
}

/// Where a value sits in the request, as the front end spells it in messages
/// (`windowTargetIds`, `targets.1.member.values`, `parameters.commands`). Built on the
/// stack as the walk descends and spelled only when a violation names it: most members
/// of most requests are valid.
enum Path<'a> {
    Root,
    Member(&'a Path<'a>, &'a str),
    /// A list item, counted from 1.
    Item(&'a Path<'a>, usize),
    Key(&'a Path<'a>, &'a str),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Member(Path::Root, m) => write_lower_first(f, m),
            Path::Member(parent, m) => {
                write!(f, "{parent}.")?;
                write_lower_first(f, m)
            }
            Path::Item(parent, i) => write!(f, "{parent}.{i}.member"),
            Path::Key(parent, k) => write!(f, "{parent}.{k}"),
        }
    }
}

/// The front end's deserialization messages (`STRING_VALUE can not be converted to an
/// Integer`, `Start of list found where not expected`).
fn type_error(v: &Value, expected: &Shape) -> ApiError {
    let token = match v {
        Value::String(_) => "STRING_VALUE",
        Value::Number(_) => "NUMBER_VALUE",
        Value::Bool(_) => "BOOLEAN_VALUE",
        Value::Null => "NULL_VALUE",
        Value::Array(_) => return ApiError::Serialization("Start of list found where not expected".into()),
        Value::Object(_) => {
            return ApiError::Serialization("Start of structure or map found where not expected.".into())
        }
    };
    let target = match expected.kind {
        Kind::String | Kind::Blob => "a String",
        Kind::Integer => "an Integer",
        Kind::Long => "a Long",
        Kind::Double => "a Double",
        Kind::Boolean => "a Boolean",
        Kind::Timestamp => "a Timestamp",
        Kind::Structure { .. } => "a Structure",
        Kind::List { .. } => "a List",
        Kind::Map { .. } => "a Map",
    };
    ApiError::Serialization(format!("{token} can not be converted to {target}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(op: &str, body: Value) -> ApiError {
        model().validate_input(op, &body).unwrap_err()
    }

    #[test]
    fn short_window_id_breaks_length_and_pattern() {
        let e = err("GetMaintenanceWindow", json!({"WindowId": "mw-123"}));
        assert_eq!(
            e.message().unwrap(),
            "2 validation errors detected: Value 'mw-123' at 'windowId' failed to satisfy constraint: Member must have length greater than or equal to 20; Value 'mw-123' at 'windowId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^mw-[0-9a-f]{17}$"
        );
    }

    /// Nested members are spelled as the front end spells them: list items counted from
    /// 1 with `.member`, members with a lower-case first letter.
    #[test]
    fn nested_paths() {
        let e = err(
            "RegisterTargetWithMaintenanceWindow",
            json!({"WindowId": "mw-0123456789abcdef0", "ResourceType": "INSTANCE",
                   "Targets": [{"Key": "InstanceIds", "Values": ["i-1"]}, {"Key": "", "Values": ["i-2"]}]}),
        );
        let m = e.message().unwrap();
        assert!(m.contains("Value '' at 'targets.2.member.key' failed to satisfy constraint"), "{m}");
        let e = err(
            "RegisterTaskWithMaintenanceWindow",
            json!({"WindowId": "mw-0123456789abcdef0", "TaskArn": "AWS-RunShellScript", "TaskType": "RUN_COMMAND",
                   "TaskInvocationParameters": {"RunCommand": {"TimeoutSeconds": 1}}}),
        );
        let m = e.message().unwrap();
        assert!(m.contains("at 'taskInvocationParameters.runCommand.timeoutSeconds' failed"), "{m}");
    }

    #[test]
    fn max_results_range() {
        let e = err("DescribeMaintenanceWindows", json!({"MaxResults": 5}));
        assert_eq!(
            e.message().unwrap(),
            "1 validation error detected: Value '5' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 10"
        );
    }

    #[test]
    fn missing_required_members_in_model_order() {
        let e = err("CreateMaintenanceWindow", json!({}));
        let m = e.message().unwrap();
        assert!(m.starts_with("5 validation errors detected: Value null at 'name' failed to satisfy constraint: Member must not be null"), "{m}");
        assert!(m.contains("Value null at 'allowUnassociatedTargets'"));
    }

    #[test]
    fn wrong_types_are_serialization_errors() {
        let e = err("CreateMaintenanceWindow", json!({"Duration": "3"}));
        assert_eq!(e.code(), "SerializationException");
        assert_eq!(e.message().unwrap(), "STRING_VALUE can not be converted to an Integer");
        assert_eq!(err("GetMaintenanceWindow", json!({"WindowId": ["x"]})).code(), "SerializationException");
        assert_eq!(err("GetMaintenanceWindow", json!([])).code(), "SerializationException");
    }

    #[test]
    fn nested_structure_in_list_is_rendered_like_java() {
        // The real SSM message quoted in reference/api.md §2.5.
        let targets: Vec<Value> = "abcdef"
            .chars()
            .enumerate()
            .map(|(i, c)| json!({"Key": format!("tag:{c}"), "Values": [(i + 1).to_string()]}))
            .collect();
        let body = json!({"WindowId": "mw-0123456789abcdef0", "ResourceType": "INSTANCE", "Targets": targets});
        let m = err("RegisterTargetWithMaintenanceWindow", body).message().unwrap().to_owned();
        assert_eq!(m, "1 validation error detected: Value '[Target(key=tag:a, values=[1]), Target(key=tag:b, values=[2]), Target(key=tag:c, values=[3]), Target(key=tag:d, values=[4]), Target(key=tag:e, values=[5]), Target(key=tag:f, values=[6])]' at 'targets' failed to satisfy constraint: Member must have length less than or equal to 5");
        let body = json!({"WindowId": "mw-0123456789abcdef0", "ResourceType": "INSTANCE",
            "Targets": [{"Key": "tag:a", "Values": ["1"]}, {"Key": "", "Values": ["x"]}]});
        let m = err("RegisterTargetWithMaintenanceWindow", body).message().unwrap().to_owned();
        assert_eq!(m, "1 validation error detected: Value '' at 'targets.2.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1");
    }

    #[test]
    fn sensitive_values_are_not_echoed() {
        let body = json!({"Name": "abc", "Schedule": "rate(1 day)", "Duration": 1, "Cutoff": 0,
            "AllowUnassociatedTargets": false, "Description": ""});
        let m = err("CreateMaintenanceWindow", body).message().unwrap().to_owned();
        assert_eq!(m, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length greater than or equal to 1");
    }

    #[test]
    fn every_operation_compiles() {
        assert!(model().operations().count() >= 36);
        assert!(model().has_operation("GetMaintenanceWindowExecutionTaskInvocation"));
    }
}
