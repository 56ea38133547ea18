//! Declared parameters and the values callers give them.
//!
//! The API carries every value as strings (`map<string, list<string>>`); a document
//! declares each parameter's type, and the value is read as that type before it is
//! checked against `allowedValues`, `allowedPattern` and the length bounds. A parameter
//! without a default is required. The same rules serve SendCommand (errors answered as
//! `InvalidParameters`) and StartAutomationExecution
//! (`InvalidAutomationExecutionParametersException`), with the same messages.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::{invalid, ContentError, DocumentType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterType {
    String,
    StringList,
    Integer,
    Boolean,
    MapList,
    StringMap,
}

impl ParameterType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterType::String => "String",
            ParameterType::StringList => "StringList",
            ParameterType::Integer => "Integer",
            ParameterType::Boolean => "Boolean",
            ParameterType::MapList => "MapList",
            ParameterType::StringMap => "StringMap",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::String, Self::StringList, Self::Integer, Self::Boolean, Self::MapList, Self::StringMap]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    fn is_list(self) -> bool {
        matches!(self, ParameterType::StringList | ParameterType::MapList)
    }
}

/// One declared parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub ty: ParameterType,
    pub description: Option<String>,
    /// The default as typed data (`None`: the parameter is required).
    pub default: Option<Value>,
    pub allowed_values: Vec<String>,
    pub allowed_pattern: Option<String>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_chars: Option<u64>,
    pub max_chars: Option<u64>,
}

impl Parameter {
    pub fn required(&self) -> bool {
        self.default.is_none()
    }

    /// `DocumentParameter.DefaultValue`: a string default as it is, any other as JSON.
    pub fn default_text(&self) -> Option<String> {
        self.default.as_ref().map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

/// A value refused, with the message both APIs send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParameterError(pub String);

fn bound(p: &Map<String, Value>, key: &str, name: &str) -> Result<Option<u64>, ContentError> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} of parameter {name} must be a non-negative integer."))),
    }
}

/// Parameter names a node's agent can substitute (`{{ name }}` in its document parser).
fn valid_name(name: &str, doc_type: DocumentType) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || (c == '_' && doc_type == DocumentType::Automation))
}

/// Read the `parameters` object of a document's content.
pub(crate) fn declarations(
    v: Option<&Value>,
    doc_type: DocumentType,
    schema_version: &str,
) -> Result<Vec<Parameter>, ContentError> {
    let obj = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(invalid("parameters must be an object of parameter names to their definitions.")),
    };
    let mut out = Vec::with_capacity(obj.len());
    for (name, def) in obj {
        if !valid_name(name, doc_type) {
            return Err(invalid(format!(
                "Parameter name {name} is invalid: use letters and digits{}.",
                if doc_type == DocumentType::Automation { " and underscores" } else { "" }
            )));
        }
        let Value::Object(def) = def else {
            return Err(invalid(format!("Parameter {name} must be an object with at least a type.")));
        };
        let ty = match def.get("type").and_then(Value::as_str) {
            Some(t) => ParameterType::parse(t).ok_or_else(|| {
                invalid(format!(
                    "Parameter {name} has type {t}, which is not one of String, StringList, Integer, Boolean, MapList, StringMap."
                ))
            })?,
            None => return Err(invalid(format!("Parameter {name} has no type."))),
        };
        if schema_version == "1.2" && !matches!(ty, ParameterType::String | ParameterType::StringList) {
            return Err(invalid(format!(
                "Parameter {name} has type {}; schema version 1.2 allows String and StringList.",
                ty.as_str()
            )));
        }
        let allowed_values = match def.get("allowedValues") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(scalar_text)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid(format!("allowedValues of parameter {name} must be a list of strings.")))?,
            Some(_) => return Err(invalid(format!("allowedValues of parameter {name} must be a list of strings."))),
        };
        let allowed_pattern = match def.get("allowedPattern") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => {
                fancy_regex::Regex::new(&format!("^(?:{p})$"))
                    .map_err(|e| invalid(format!("allowedPattern of parameter {name} is not a valid pattern: {e}")))?;
                Some(p.clone())
            }
            Some(_) => return Err(invalid(format!("allowedPattern of parameter {name} must be a string."))),
        };
        let description = def.get("description").and_then(Value::as_str).map(str::to_owned);
        let mut p = Parameter {
            name: name.clone(),
            ty,
            description,
            default: None,
            allowed_values,
            allowed_pattern,
            min_items: bound(def, "minItems", name)?,
            max_items: bound(def, "maxItems", name)?,
            min_chars: bound(def, "minChars", name)?,
            max_chars: bound(def, "maxChars", name)?,
        };
        if let Some(d) = def.get("default") {
            // A default from Parameter Store is resolved when the document runs.
            let from_store = d.as_str().is_some_and(|s| s.trim_start().starts_with("{{") && s.contains("ssm:"));
            let typed = if from_store { d.clone() } else { typed_default(&p, d)? };
            if !from_store {
                check(&p, &typed).map_err(|e| invalid(format!("Default value of parameter {name} is invalid: {e}")))?;
            }
            p.default = Some(typed);
        }
        out.push(p);
    }
    Ok(out)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A default as written in the content, read as the parameter's type. YAML writes
/// `default: 3600` for a String parameter; that is the string "3600".
fn typed_default(p: &Parameter, d: &Value) -> Result<Value, ContentError> {
    let wrong = || invalid(format!("Default value of parameter {} is not a {}.", p.name, p.ty.as_str()));
    Ok(match p.ty {
        ParameterType::String => Value::String(scalar_text(d).ok_or_else(wrong)?),
        ParameterType::StringList => match d {
            Value::Array(a) => Value::Array(
                a.iter().map(|x| scalar_text(x).map(Value::String)).collect::<Option<_>>().ok_or_else(wrong)?,
            ),
            other => Value::Array(vec![Value::String(scalar_text(other).ok_or_else(wrong)?)]),
        },
        ParameterType::Integer => match d {
            Value::Number(n) if n.is_i64() => d.clone(),
            Value::String(s) => s.trim().parse::<i64>().map(Value::from).map_err(|_| wrong())?,
            _ => return Err(wrong()),
        },
        ParameterType::Boolean => match d {
            Value::Bool(_) => d.clone(),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(wrong()),
        },
        ParameterType::MapList => match d {
            Value::Array(a) if a.iter().all(Value::is_object) => d.clone(),
            _ => return Err(wrong()),
        },
        ParameterType::StringMap => match d {
            Value::Object(_) => d.clone(),
            _ => return Err(wrong()),
        },
    })
}

/// One value given through the API (a list of strings), read as the parameter's type.
fn typed_value(p: &Parameter, given: &[String]) -> Result<Value, ParameterError> {
    let name = &p.name;
    let one = || match given {
        [v] => Ok(v.as_str()),
        _ => Err(ParameterError(format!(
            "Parameter \"{name}\" is of type {} and takes one value; {} were given.",
            p.ty.as_str(),
            given.len()
        ))),
    };
    Ok(match p.ty {
        ParameterType::String => Value::String(one()?.to_owned()),
        ParameterType::StringList => Value::Array(given.iter().cloned().map(Value::String).collect()),
        ParameterType::Integer => {
            let v = one()?;
            v.trim().parse::<i64>().map(Value::from).map_err(|_| {
                ParameterError(format!("Parameter \"{name}\" has value \"{v}\", which is not an Integer."))
            })?
        }
        ParameterType::Boolean => {
            let v = one()?;
            match v.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(ParameterError(format!(
                        "Parameter \"{name}\" has value \"{v}\", which is not a Boolean (true or false)."
                    )))
                }
            }
        }
        ParameterType::MapList => Value::Array(
            given
                .iter()
                .map(|v| match serde_json::from_str::<Value>(v) {
                    Ok(m @ Value::Object(_)) => Ok(m),
                    _ => Err(ParameterError(format!(
                        "Parameter \"{name}\" has value \"{v}\", which is not a map (a JSON object)."
                    ))),
                })
                .collect::<Result<_, _>>()?,
        ),
        ParameterType::StringMap => {
            let v = one()?;
            match serde_json::from_str::<Value>(v) {
                Ok(m @ Value::Object(_)) => m,
                _ => {
                    return Err(ParameterError(format!(
                        "Parameter \"{name}\" has value \"{v}\", which is not a map (a JSON object)."
                    )))
                }
            }
        }
    })
}

fn chars(s: &str) -> u64 {
    s.chars().count() as u64
}

/// Check a typed value against the parameter's constraints.
fn check(p: &Parameter, v: &Value) -> Result<(), ParameterError> {
    let name = &p.name;
    if p.ty.is_list() {
        let n = v.as_array().map_or(0, Vec::len) as u64;
        if let Some(min) = p.min_items.filter(|m| n < *m) {
            return Err(ParameterError(format!("Parameter \"{name}\" has {n} items; at least {min} are required.")));
        }
        if let Some(max) = p.max_items.filter(|m| n > *m) {
            return Err(ParameterError(format!("Parameter \"{name}\" has {n} items; at most {max} are allowed.")));
        }
    }
    let strings: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) if p.ty == ParameterType::StringList => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for s in strings {
        if !p.allowed_values.is_empty() && !p.allowed_values.iter().any(|a| a == s) {
            return Err(ParameterError(format!(
                "Parameter \"{name}\" has value \"{s}\" not found in [{}].",
                p.allowed_values.join(", ")
            )));
        }
        if let Some(pat) = &p.allowed_pattern {
            let matched = fancy_regex::Regex::new(&format!("^(?:{pat})$")).ok().and_then(|re| re.is_match(s).ok());
            if matched != Some(true) {
                return Err(ParameterError(format!(
                    "Parameter \"{name}\" has value \"{s}\" that does not match the allowed pattern {pat}."
                )));
            }
        }
        if let Some(min) = p.min_chars.filter(|m| chars(s) < *m) {
            return Err(ParameterError(format!(
                "Parameter \"{name}\" has value \"{s}\" shorter than the minimum of {min} characters."
            )));
        }
        if let Some(max) = p.max_chars.filter(|m| chars(s) > *m) {
            return Err(ParameterError(format!(
                "Parameter \"{name}\" has a value longer than the maximum of {max} characters."
            )));
        }
    }
    Ok(())
}

/// The values a document runs with: each given value read as its declared type and
/// checked, defaults for the rest. Unknown names and missing required parameters are
/// refused.
pub fn resolve(
    decls: &[Parameter],
    given: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Value>, ParameterError> {
    for key in given.keys() {
        if !decls.iter().any(|p| &p.name == key) {
            return Err(ParameterError(format!("Parameter \"{key}\" is not declared in the document.")));
        }
    }
    let mut out = BTreeMap::new();
    for p in decls {
        let v = match (given.get(&p.name), &p.default) {
            (Some(g), _) => {
                let v = typed_value(p, g)?;
                check(p, &v)?;
                v
            }
            (None, Some(d)) => d.clone(),
            (None, None) => {
                return Err(ParameterError(format!("Missing required parameter: {} in user inputs.", p.name)))
            }
        };
        out.insert(p.name.clone(), v);
    }
    Ok(out)
}

/// A typed value as the API shows it again (`Parameters` of a command or an automation
/// execution: lists of strings).
pub fn as_strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}
