//! The small languages of runbooks: output `Selector`s (JSONPath: `$.a.b`, `$['a']`,
//! `$.list[0]`, `$..key`) with their `Type`, and `aws:branch` conditions.

use serde_json::Value;

/// The value a JSONPath selects in `v`, if any.
pub fn select(v: &Value, path: &str) -> Option<Value> {
    let rest = path.trim().strip_prefix('$')?;
    let mut cur = v.clone();
    let mut s = rest;
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix("..") {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            cur = find_key(&cur, key)?;
            s = &r[end..];
        } else if let Some(r) = s.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?.clone();
            s = &r[end..];
        } else if let Some(r) = s.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            cur = match inner.trim_matches(['\'', '"']) {
                key if inner.starts_with(['\'', '"']) => cur.get(key)?.clone(),
                index => cur.get(index.parse::<usize>().ok()?)?.clone(),
            };
            s = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(cur)
}

fn find_key(v: &Value, key: &str) -> Option<Value> {
    match v {
        Value::Object(o) => o.get(key).cloned().or_else(|| o.values().find_map(|x| find_key(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

/// A selected value read as an output `Type`. JSON text inside a string (a Lambda
/// payload) is parsed when the type asks for a structure.
pub fn as_type(v: Value, ty: &str) -> Option<Value> {
    let parsed = |v: &Value| match v {
        Value::String(s) => serde_json::from_str::<Value>(s).ok(),
        _ => None,
    };
    match ty {
        "String" => Some(match v {
            Value::String(_) => v,
            other => Value::String(other.to_string()),
        }),
        "Integer" => match &v {
            Value::Number(n) if n.is_i64() => Some(v),
            Value::String(s) => s.trim().parse::<i64>().ok().map(Value::from),
            _ => None,
        },
        "Boolean" => match &v {
            Value::Bool(_) => Some(v),
            Value::String(s) => s.parse::<bool>().ok().map(Value::Bool),
            _ => None,
        },
        "StringList" | "MapList" => match v {
            Value::Array(_) => Some(v),
            other => parsed(&other).filter(Value::is_array),
        },
        "StringMap" => match v {
            Value::Object(_) => Some(v),
            other => parsed(&other).filter(Value::is_object),
        },
        _ => Some(v),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whether one `aws:branch` choice (or an operand of And/Or/Not) holds. Its Variable
/// was substituted with the rest of the step's inputs.
pub fn holds(choice: &Value) -> bool {
    if let Some(all) = choice.get("And").and_then(Value::as_array) {
        return all.iter().all(holds);
    }
    if let Some(any) = choice.get("Or").and_then(Value::as_array) {
        return any.iter().any(holds);
    }
    if let Some(not) = choice.get("Not") {
        return !holds(not);
    }
    let Some(var) = choice.get("Variable") else { return false };
    let Some((op, want)) =
        choice.as_object().and_then(|o| o.iter().find(|(k, _)| !matches!(k.as_str(), "Variable" | "NextStep")))
    else {
        return false;
    };
    let (have, want_text) = (text(var), text(want));
    match op.as_str() {
        "StringEquals" => have == want_text,
        "EqualsIgnoreCase" => have.eq_ignore_ascii_case(&want_text),
        "StartsWith" => have.starts_with(&want_text),
        "EndsWith" => have.ends_with(&want_text),
        "Contains" => match var {
            Value::Array(items) => items.iter().any(|i| text(i) == want_text),
            _ => have.contains(&want_text),
        },
        "BooleanEquals" => {
            let b = |v: &Value| match v {
                Value::Bool(b) => Some(*b),
                other => text(other).parse::<bool>().ok(),
            };
            b(var).is_some() && b(var) == b(want)
        }
        numeric => {
            let (Some(a), Some(b)) = (number(var), number(want)) else { return false };
            match numeric {
                "NumericEquals" => a == b,
                "NumericGreater" => a > b,
                "NumericLesser" => a < b,
                "NumericGreaterOrEquals" => a >= b,
                "NumericLesserOrEquals" => a <= b,
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_walk_objects_lists_and_descendants() {
        let v = json!({"Payload": {"items": [{"id": "a"}, {"id": "b"}], "n": 3}, "Status": "ok"});
        assert_eq!(select(&v, "$.Status"), Some(json!("ok")));
        assert_eq!(select(&v, "$.Payload.items[1].id"), Some(json!("b")));
        assert_eq!(select(&v, "$['Payload']['n']"), Some(json!(3)));
        assert_eq!(select(&v, "$..id"), Some(json!("a")));
        assert_eq!(select(&v, "$.Missing"), None);
        assert_eq!(as_type(json!(3), "String"), Some(json!("3")));
        assert_eq!(as_type(json!("[1,2]"), "StringList"), Some(json!([1, 2])));
        assert_eq!(as_type(json!("x"), "Integer"), None);
    }

    #[test]
    fn branch_operators() {
        assert!(holds(&json!({"Variable": "ok then", "StartsWith": "ok"})));
        assert!(holds(&json!({"Variable": "A", "EqualsIgnoreCase": "a"})));
        assert!(holds(&json!({"Variable": "7", "NumericGreater": 5})));
        assert!(!holds(&json!({"Variable": "x", "NumericGreater": 5})));
        assert!(holds(&json!({"Variable": true, "BooleanEquals": true})));
        assert!(holds(&json!({"Variable": ["a", "b"], "Contains": "b"})));
        assert!(holds(&json!({"Not": {"Variable": "a", "StringEquals": "b"}})));
        assert!(holds(&json!({"And": [
            {"Variable": "a", "StringEquals": "a"},
            {"Or": [{"Variable": 1, "NumericEquals": 2}, {"Variable": "z", "EndsWith": "z"}]}
        ]})));
    }
}
