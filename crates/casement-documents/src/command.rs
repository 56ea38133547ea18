//! Command documents: what a node runs, as a list of plugins (steps).
//!
//! Schema 1.2 keys plugins by action under `runtimeConfig`; 2.0 and 2.2 list them under
//! `mainSteps` with a name each. Either way a plugin has an action, inputs, and (2.2) a
//! `precondition` on the node's platform. Actions other than the two script runners are
//! accepted in a document, as AWS accepts them, and fail on the node with a message
//! saying why; an action that is not one of AWS's is refused at create.

use serde_json::{Map, Value};

use crate::{invalid, ContentError};

/// A plugin's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginAction {
    RunShellScript,
    RunPowerShellScript,
    /// One of AWS's other plugins (`aws:runDocument`, `aws:configurePackage`…), which
    /// Casement's nodes cannot run.
    Other(String),
}

/// Actions AWS's agent has, besides the two script runners.
const OTHER_ACTIONS: &[&str] = &[
    "aws:applications",
    "aws:cloudWatch",
    "aws:configureContainers",
    "aws:configureDocker",
    "aws:configurePackage",
    "aws:domainJoin",
    "aws:downloadContent",
    "aws:psModule",
    "aws:refreshAssociation",
    "aws:runDockerAction",
    "aws:runDocument",
    "aws:softwareInventory",
    "aws:updateAgent",
    "aws:updateSsmAgent",
];

impl PluginAction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "aws:runShellScript" => Some(PluginAction::RunShellScript),
            "aws:runPowerShellScript" => Some(PluginAction::RunPowerShellScript),
            other if OTHER_ACTIONS.contains(&other) => Some(PluginAction::Other(other.to_owned())),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            PluginAction::RunShellScript => "aws:runShellScript",
            PluginAction::RunPowerShellScript => "aws:runPowerShellScript",
            PluginAction::Other(s) => s,
        }
    }

    /// Where AWS runs the action (`PlatformTypes` of a document built from it).
    pub fn platforms(&self) -> &'static [&'static str] {
        match self {
            PluginAction::RunShellScript => &["Linux", "MacOS"],
            PluginAction::RunPowerShellScript => &["Windows", "Linux"],
            PluginAction::Other(_) => &[],
        }
    }
}

/// One step of a Command document.
#[derive(Debug, Clone, PartialEq)]
pub struct Plugin {
    /// The step's name (2.x), or the action itself (1.2, where AWS names the plugin by
    /// its action).
    pub name: String,
    pub action: PluginAction,
    /// The inputs as written, `{{ }}` references unresolved.
    pub inputs: Value,
    pub precondition: Option<Value>,
    /// 2.2 `onFailure`: `exit` (skip the steps after a failed one) or `successAndExit`
    /// (skip them, and count the document a success).
    pub on_failure: Option<String>,
    /// 2.2 `onSuccess: exit`: skip the steps after this one once it succeeds.
    pub on_success: Option<String>,
    /// 2.2 `finallyStep`: the last step runs even after an exit.
    pub finally_step: bool,
}

const SCRIPT_INPUTS: &[&str] = &["id", "runCommand", "workingDirectory", "timeoutSeconds"];

fn check_inputs(action: &PluginAction, inputs: &Map<String, Value>, step: &str) -> Result<(), ContentError> {
    if matches!(action, PluginAction::Other(_)) {
        return Ok(());
    }
    let provided: Vec<&str> = inputs.keys().map(String::as_str).collect();
    let unknown: Vec<&str> = provided.iter().copied().filter(|k| !SCRIPT_INPUTS.contains(k)).collect();
    if !unknown.is_empty() {
        return Err(invalid(format!(
            "Unknown input names provided in step {step}. Known=[ [{}] ], Provided=[ [{}] ].",
            SCRIPT_INPUTS[1..].join(", "),
            provided.join(", ")
        )));
    }
    match inputs.get("runCommand") {
        None => Err(invalid(format!(
            "Missing required input names in step {step}. Required=[ [runCommand] ], Provided =[ [{}] ].",
            provided.join(", ")
        ))),
        Some(Value::String(_)) => Ok(()),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(invalid(format!("runCommand of step {step} must be a string or a list of strings."))),
    }
}

/// A 2.2 precondition: `{"StringEquals": ["platformType", "Linux"]}` (or on a
/// `{{ parameter }}`), the one form AWS supports.
fn check_precondition(v: &Value, step: &str) -> Result<(), ContentError> {
    let ok = v
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("StringEquals"))
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() == 2 && a.iter().all(Value::is_string));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "Precondition of step {step} is invalid: use {{\"StringEquals\": [\"platformType\", \"Linux\"]}}."
        )))
    }
}

fn valid_step_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

pub(crate) fn plugins(top: &Map<String, Value>, schema_version: &str) -> Result<Vec<Plugin>, ContentError> {
    let mut out = Vec::new();
    if schema_version == "1.2" {
        let Some(Value::Object(rc)) = top.get("runtimeConfig") else {
            return Err(invalid("runtimeConfig is required by schema version 1.2 and must be an object."));
        };
        for (action_name, plugin) in rc {
            let action = PluginAction::parse(action_name)
                .ok_or_else(|| invalid(format!("Action {action_name} in runtimeConfig is not a known plugin.")))?;
            let props = match plugin.get("properties") {
                Some(Value::Array(a)) => a.clone(),
                Some(o @ Value::Object(_)) => vec![o.clone()],
                _ => {
                    return Err(invalid(format!(
                        "Plugin {action_name} needs properties (an object or a list of objects)."
                    )))
                }
            };
            for p in props {
                let Value::Object(inputs) = &p else {
                    return Err(invalid(format!("Each property of plugin {action_name} must be an object.")));
                };
                check_inputs(&action, inputs, action_name)?;
                out.push(Plugin {
                    name: action_name.clone(),
                    action: action.clone(),
                    inputs: p,
                    precondition: None,
                    on_failure: None,
                    on_success: None,
                    finally_step: false,
                });
            }
        }
    } else {
        let Some(Value::Array(steps)) = top.get("mainSteps") else {
            return Err(invalid(format!(
                "mainSteps is required by schema version {schema_version} and must be a list."
            )));
        };
        for (i, step) in steps.iter().enumerate() {
            let Value::Object(s) = step else {
                return Err(invalid(format!("Step {} of mainSteps must be an object.", i + 1)));
            };
            let name = match s.get("name").and_then(Value::as_str) {
                Some(n) if valid_step_name(n) => n.to_owned(),
                Some(n) => return Err(invalid(format!("Step name {n} is invalid: use letters, digits, _, - and ."))),
                None => return Err(invalid(format!("Step {} of mainSteps has no name.", i + 1))),
            };
            if out.iter().any(|p: &Plugin| p.name == name) {
                return Err(invalid(format!("Step name {name} is used more than once.")));
            }
            let action = match s.get("action").and_then(Value::as_str) {
                Some(a) => PluginAction::parse(a)
                    .ok_or_else(|| invalid(format!("Action {a} in step {name} is not a known plugin.")))?,
                None => return Err(invalid(format!("Step {name} has no action."))),
            };
            let inputs = match s.get("inputs") {
                Some(v @ Value::Object(o)) => {
                    check_inputs(&action, o, &name)?;
                    v.clone()
                }
                _ => return Err(invalid(format!("Step {name} has no inputs object."))),
            };
            let precondition = s.get("precondition").cloned();
            if let Some(pre) = &precondition {
                if schema_version != "2.2" {
                    return Err(invalid(format!("Step {name} has a precondition, which needs schema version 2.2.")));
                }
                check_precondition(pre, &name)?;
            }
            let text = |key: &str, allowed: &[&str]| -> Result<Option<String>, ContentError> {
                match s.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(v)) if allowed.contains(&v.as_str()) => Ok(Some(v.clone())),
                    Some(v) => Err(invalid(format!(
                        "{key} of step {name} has value {v}; allowed values are {}.",
                        allowed.join(", ")
                    ))),
                }
            };
            let on_failure = text("onFailure", &["exit", "successAndExit"])?;
            let on_success = text("onSuccess", &["exit"])?;
            let finally_step = match s.get("finallyStep") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid(format!("finallyStep of step {name} must be true or false."))),
            };
            if finally_step && i + 1 != steps.len() {
                return Err(invalid(format!("Step {name} is a finallyStep, which must be the last step.")));
            }
            out.push(Plugin { name, action, inputs, precondition, on_failure, on_success, finally_step });
        }
    }
    if out.is_empty() {
        return Err(invalid("The document has no steps to run."));
    }
    Ok(out)
}

impl Plugin {
    /// Whether a 2.2 precondition lets the plugin run on a node of `platform`
    /// (`Linux`, `Windows`, `MacOS`). Only `platformType` is known on the node; a
    /// condition on anything else compares the two strings as they are.
    pub fn applies_to(&self, platform: &str) -> bool {
        let Some(args) = self.precondition.as_ref().and_then(|p| p.get("StringEquals")).and_then(Value::as_array)
        else {
            return true;
        };
        let side = |v: &Value| match v.as_str() {
            Some("platformType") => platform.to_owned(),
            Some(s) => s.to_owned(),
            None => String::new(),
        };
        match args.as_slice() {
            [a, b] => side(a) == side(b),
            _ => true,
        }
    }
}
