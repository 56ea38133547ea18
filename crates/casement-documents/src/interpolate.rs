//! `{{ name }}` references. A string that is nothing but one reference takes the
//! referenced value with its type (a StringList stays a list); a reference inside
//! longer text is replaced by the value's text (a string as it is, anything else as
//! JSON). That is how AWS's agent substitutes parameters
//! (`agent/framework/docparser/parameters`), and runbooks follow the same rule.

use serde_json::Value;

/// The name inside `{{ … }}` starting at byte `start` of `s`, with where the reference
/// ends; `None` if no well-formed reference starts there.
fn reference_at(s: &str, start: usize) -> Option<(&str, usize)> {
    let rest = s.get(start..)?.strip_prefix("{{")?;
    let close = rest.find("}}")?;
    let name = rest[..close].trim();
    if name.is_empty() || name.contains(['{', '}']) || name.chars().any(char::is_whitespace) {
        return None;
    }
    Some((name, start + 2 + close + 2))
}

/// The references in one string, in order.
pub fn references_in(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = s.get(i..).and_then(|r| r.find("{{")) {
        let at = i + off;
        match reference_at(s, at) {
            Some((name, end)) => {
                out.push(name);
                i = end;
            }
            None => i = at + 2,
        }
    }
    out
}

/// Append every reference in a value's strings (keys included) to `out`.
pub fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.extend(references_in(s).into_iter().map(str::to_owned)),
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.extend(references_in(k).into_iter().map(str::to_owned));
            references(x, out)
        }),
        _ => {}
    }
}

/// The text a value becomes inside a longer string.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Substitute references in a string. References `lookup` does not know stay as they are.
pub fn substitute_str(s: &str, lookup: &dyn Fn(&str) -> Option<Value>) -> Value {
    let trimmed = s.trim();
    if let Some((name, end)) = reference_at(trimmed, 0) {
        if end == trimmed.len() {
            if let Some(v) = lookup(name) {
                return v;
            }
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(off) = s.get(i..).and_then(|r| r.find("{{")) {
        let at = i + off;
        out.push_str(&s[i..at]);
        match reference_at(s, at) {
            Some((name, end)) => {
                match lookup(name) {
                    Some(v) => out.push_str(&as_text(&v)),
                    None => out.push_str(&s[at..end]),
                }
                i = end;
            }
            None => {
                out.push_str("{{");
                i = at + 2;
            }
        }
    }
    out.push_str(&s[i..]);
    Value::String(out)
}

/// Substitute references everywhere in a value.
pub fn substitute(v: &Value, lookup: &dyn Fn(&str) -> Option<Value>) -> Value {
    match v {
        Value::String(s) => substitute_str(s, lookup),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, lookup)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), substitute(x, lookup))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(name: &str) -> Option<Value> {
        match name {
            "commands" => Some(json!(["a", "b"])),
            "dir" => Some(json!("/tmp")),
            "n" => Some(json!(3)),
            _ => None,
        }
    }

    #[test]
    fn finds_references_with_and_without_spaces() {
        assert_eq!(references_in("{{ a }} x {{b}} {{ c.d }} {{ }} {{ e f }}"), vec!["a", "b", "c.d"]);
        assert_eq!(references_in("{{ unclosed"), Vec::<&str>::new());
    }

    #[test]
    fn a_whole_reference_keeps_its_type_and_an_embedded_one_becomes_text() {
        assert_eq!(substitute_str("{{ commands }}", &params), json!(["a", "b"]));
        assert_eq!(substitute_str(" {{n}} ", &params), json!(3));
        assert_eq!(substitute_str("cd {{ dir }} && ls {{ commands }}", &params), json!("cd /tmp && ls [\"a\",\"b\"]"));
        assert_eq!(substitute_str("{{ unknown }} {{ dir }}", &params), json!("{{ unknown }} /tmp"));
        assert_eq!(substitute_str("{{ {{ dir }}", &params), json!("{{ /tmp"));
    }
}
