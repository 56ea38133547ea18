//! Automation runbooks (schema 0.3): steps, their flow properties and the checks AWS
//! makes when the runbook is created. AWS checks the inputs of most actions only when
//! the step runs; the flow (names, step references, branch operators) and
//! `aws:runCommand`'s input names are checked here.

use serde_json::{Map, Value};

use crate::{invalid, ContentError};

/// Every action a runbook may name. Which of them Casement runs is the engine's matter:
/// the rest are accepted here and fail their step when it runs, saying why.
pub const ACTIONS: &[&str] = &[
    "aws:approve",
    "aws:assertAwsResourceProperty",
    "aws:branch",
    "aws:changeInstanceState",
    "aws:copyImage",
    "aws:createImage",
    "aws:createStack",
    "aws:createTags",
    "aws:deleteImage",
    "aws:deleteStack",
    "aws:executeAutomation",
    "aws:executeAwsApi",
    "aws:executeScript",
    "aws:executeStateMachine",
    "aws:invokeLambdaFunction",
    "aws:invokeWebhook",
    "aws:loop",
    "aws:pause",
    "aws:runCommand",
    "aws:runInstances",
    "aws:sleep",
    "aws:updateVariable",
    "aws:waitForAwsResourceProperty",
];

const RUN_COMMAND_INPUTS: &[&str] = &[
    "DocumentName",
    "InstanceIds",
    "Targets",
    "Parameters",
    "CloudWatchOutputConfig",
    "Comment",
    "DocumentHash",
    "DocumentHashType",
    "DocumentVersion",
    "MaxConcurrency",
    "MaxErrors",
    "NotificationConfig",
    "OutputS3BucketName",
    "OutputS3KeyPrefix",
    "ServiceRoleArn",
    "TimeoutSeconds",
];

/// The automation variables a runbook may reference besides its parameters and steps.
const VARIABLES: &[&str] = &[
    "global:ACCOUNT_ID",
    "global:REGION",
    "global:DATE",
    "global:DATE_TIME",
    "global:AWS_PARTITION",
    "automation:EXECUTION_ID",
];

/// Where a step goes when it fails (`onFailure`) or is cancelled (`onCancel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailure {
    Abort,
    Continue,
    Step(String),
}

/// One declared step output: `Name`, a JSONPath `Selector` into the action's result, and
/// its `Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutput {
    pub name: String,
    pub selector: String,
    pub ty: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub action: String,
    pub inputs: Value,
    pub max_attempts: u32,
    pub timeout_seconds: Option<u64>,
    pub on_failure: OnFailure,
    pub on_cancel: OnFailure,
    pub is_end: bool,
    pub next_step: Option<String>,
    pub is_critical: bool,
    pub outputs: Vec<StepOutput>,
    /// An aws:loop's own steps (its `Steps` input), run in order each iteration.
    pub loop_steps: Vec<Step>,
}

/// aws:loop runs at most this many iterations.
pub const MAX_LOOP_ITERATIONS: u64 = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Runbook {
    pub assume_role: Option<String>,
    pub steps: Vec<Step>,
    /// `outputs`: `step.output` names the execution reports.
    pub outputs: Vec<String>,
}

fn flow_target(v: Option<&Value>, key: &str, step: &str, allow_continue: bool) -> Result<OnFailure, ContentError> {
    match v.and_then(Value::as_str) {
        None => Ok(OnFailure::Abort),
        Some("Abort") => Ok(OnFailure::Abort),
        Some("Continue") if allow_continue => Ok(OnFailure::Continue),
        Some(s) => match s.strip_prefix("step:") {
            Some(t) if !t.is_empty() => Ok(OnFailure::Step(t.to_owned())),
            _ => Err(invalid(format!(
                "{key} of step {step} has value {s}, which is not Abort{}, or step:<name>.",
                if allow_continue { ", Continue" } else { "" }
            ))),
        },
    }
}

fn valid_step_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn step(s: &Map<String, Value>, i: usize) -> Result<Step, ContentError> {
    let name = match s.get("name").and_then(Value::as_str) {
        Some(n) if valid_step_name(n) => n.to_owned(),
        Some(n) => return Err(invalid(format!("Step name {n} is invalid: use letters, digits and underscores."))),
        None => return Err(invalid(format!("Step {} of mainSteps has no name.", i + 1))),
    };
    let action = match s.get("action").and_then(Value::as_str) {
        Some(a) if ACTIONS.contains(&a) => a.to_owned(),
        Some(a) => return Err(invalid(format!("Action {a} in step {name} is not a valid Automation action."))),
        None => return Err(invalid(format!("Step {name} has no action."))),
    };
    let inputs = match s.get("inputs") {
        Some(v @ Value::Object(_)) => v.clone(),
        None | Some(Value::Null) if action == "aws:pause" => Value::Object(Map::new()),
        _ => return Err(invalid(format!("Step {name} has no inputs object."))),
    };
    let uint = |key: &str| -> Result<Option<u64>, ContentError> {
        match s.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
                .map(Some)
                .ok_or_else(|| invalid(format!("{key} of step {name} must be a positive integer."))),
        }
    };
    let boolean = |key: &str, default: bool| -> Result<bool, ContentError> {
        match s.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(t)) if t.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(t)) if t.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(invalid(format!("{key} of step {name} must be true or false."))),
        }
    };
    let max_attempts = match uint("maxAttempts")? {
        None => 1,
        Some(0) => return Err(invalid(format!("maxAttempts of step {name} must be at least 1."))),
        Some(n) => u32::try_from(n).map_err(|_| invalid(format!("maxAttempts of step {name} is too large.")))?,
    };
    let on_failure = flow_target(s.get("onFailure"), "onFailure", &name, true)?;
    let on_cancel = flow_target(s.get("onCancel"), "onCancel", &name, false)?;
    let outputs = match s.get("outputs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|o| {
                let field = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
                match (field("Name"), field("Selector")) {
                    (Some(n), Some(sel)) => {
                        Ok(StepOutput { name: n, selector: sel, ty: field("Type").unwrap_or_else(|| "String".into()) })
                    }
                    _ => Err(invalid(format!("Each output of step {name} needs a Name and a Selector."))),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid(format!("outputs of step {name} must be a list."))),
    };
    let critical_default = on_failure != OnFailure::Continue;
    let loop_steps = if action == "aws:loop" { loop_body(&inputs, &name)? } else { Vec::new() };
    Ok(Step {
        loop_steps,
        max_attempts,
        timeout_seconds: uint("timeoutSeconds")?,
        is_end: boolean("isEnd", false)?,
        is_critical: boolean("isCritical", critical_default)?,
        next_step: s.get("nextStep").and_then(Value::as_str).map(str::to_owned),
        on_failure,
        on_cancel,
        outputs,
        inputs,
        action,
        name,
    })
}

/// An aws:loop's steps, and the checks of its inputs: `Steps`, and either `Iterators` or
/// a `LoopCondition`, with `MaxIterations` at most 100.
fn loop_body(inputs: &Value, name: &str) -> Result<Vec<Step>, ContentError> {
    let raw = inputs.get("Steps").and_then(Value::as_array).filter(|a| !a.is_empty()).ok_or_else(|| {
        invalid(format!("Missing required input names. Required=[ [Steps] ], Provided =[ [{}] ].", input_names(inputs)))
    })?;
    match (inputs.get("Iterators"), inputs.get("LoopCondition")) {
        (Some(_), Some(_)) => {
            return Err(invalid(format!("Step {name} gives both Iterators and LoopCondition; aws:loop takes one.")))
        }
        (None, None) => {
            return Err(invalid(format!("Step {name} needs Iterators or a LoopCondition.")));
        }
        (None, Some(c)) => check_choice(c, name)?,
        (Some(_), None) => {}
    }
    if let Some(m) = inputs.get("MaxIterations") {
        let n = m.as_u64().or_else(|| m.as_str().and_then(|t| t.parse().ok()));
        if !n.is_some_and(|n| (1..=MAX_LOOP_ITERATIONS).contains(&n)) {
            return Err(invalid(format!("MaxIterations of step {name} must be from 1 to {MAX_LOOP_ITERATIONS}.")));
        }
    }
    let mut out: Vec<Step> = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let Value::Object(s) = s else {
            return Err(invalid(format!("Step {} of the loop {name} must be an object.", i + 1)));
        };
        let st = step(s, i)?;
        if st.action == "aws:loop" {
            return Err(invalid(format!("Step {} in loop {name} is a loop; loops do not nest.", st.name)));
        }
        out.push(st);
    }
    Ok(out)
}

/// Check a branch condition (a Choice, or an operand of And/Or/Not).
fn check_choice(c: &Value, step: &str) -> Result<(), ContentError> {
    let Some(o) = c.as_object() else {
        return Err(invalid(format!("Each choice in step {step} must be an object.")));
    };
    for op in ["And", "Or"] {
        if let Some(v) = o.get(op) {
            let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
            if items.len() < 2 {
                return Err(invalid(format!(
                    "Expect at lease two expressions for operator: {op} in step: {step}. Provided: {}",
                    items.len()
                )));
            }
            return items.iter().try_for_each(|i| check_choice(i, step));
        }
    }
    if let Some(v) = o.get("Not") {
        return check_choice(v, step);
    }
    if !o.contains_key("Variable") {
        return Err(invalid(format!("A choice in step {step} has no Variable.")));
    }
    const OPERATORS: &[&str] = &[
        "StringEquals",
        "EqualsIgnoreCase",
        "StartsWith",
        "EndsWith",
        "Contains",
        "NumericEquals",
        "NumericGreater",
        "NumericLesser",
        "NumericGreaterOrEquals",
        "NumericLesserOrEquals",
        "BooleanEquals",
    ];
    let ops: Vec<&String> = o.keys().filter(|k| !matches!(k.as_str(), "Variable" | "NextStep")).collect();
    match ops.as_slice() {
        [op] if OPERATORS.contains(&op.as_str()) => Ok(()),
        _ => Err(invalid(format!("A choice in step {step} needs exactly one operator of {}.", OPERATORS.join(", ")))),
    }
}

impl Runbook {
    pub(crate) fn from_content(top: &Map<String, Value>) -> Result<Self, ContentError> {
        let Some(Value::Array(raw)) = top.get("mainSteps") else {
            return Err(invalid("mainSteps is required by schema version 0.3 and must be a list."));
        };
        if raw.is_empty() {
            return Err(invalid("mainSteps must hold at least one step."));
        }
        let mut steps: Vec<Step> = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            let Value::Object(s) = s else {
                return Err(invalid(format!("Step {} of mainSteps must be an object.", i + 1)));
            };
            let st = step(s, i)?;
            let taken =
                |name: &str| steps.iter().any(|x: &Step| x.name == name || x.loop_steps.iter().any(|l| l.name == name));
            for name in std::iter::once(&st.name).chain(st.loop_steps.iter().map(|l| &l.name)) {
                if taken(name)
                    || st.loop_steps.iter().filter(|l| &l.name == name).count() + usize::from(&st.name == name) > 1
                {
                    return Err(invalid(format!("Step name {name} is used more than once.")));
                }
            }
            steps.push(st);
        }
        let rb = Runbook {
            assume_role: top.get("assumeRole").and_then(Value::as_str).map(str::to_owned),
            outputs: match top.get("outputs") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|o| o.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| invalid("outputs must be a list of step.output names."))?,
                Some(_) => return Err(invalid("outputs must be a list of step.output names.")),
            },
            steps,
        };
        rb.check_flow()?;
        rb.check_circles()?;
        Ok(rb)
    }

    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// AWS refuses a runbook that can run forever: a circle of steps each of which can
    /// only go to the next (by nextStep or by order), with no branch or end on the way.
    fn check_circles(&self) -> Result<(), ContentError> {
        let next = |i: usize| -> Option<usize> {
            let s = &self.steps[i];
            if s.is_end || s.action == "aws:branch" {
                return None;
            }
            match &s.next_step {
                Some(n) => self.steps.iter().position(|x| &x.name == n),
                None => (i + 1 < self.steps.len()).then_some(i + 1),
            }
        };
        for start in 0..self.steps.len() {
            let mut path = vec![start];
            let mut at = start;
            while let Some(n) = next(at) {
                if n == start {
                    let names: Vec<&str> =
                        path.iter().chain(std::iter::once(&start)).map(|i| self.steps[*i].name.as_str()).collect();
                    return Err(invalid(format!("Infinite loop detected: {}", names.join(" -> "))));
                }
                if path.contains(&n) || path.len() > self.steps.len() {
                    break;
                }
                path.push(n);
                at = n;
            }
        }
        Ok(())
    }

    fn check_flow(&self) -> Result<(), ContentError> {
        let exists = |target: &str, what: &str, step: &str| {
            if self.step(target).is_some() {
                Ok(())
            } else {
                Err(invalid(format!("{what} of step {step} names step {target}, which does not exist.")))
            }
        };
        for s in &self.steps {
            if let Some(n) = &s.next_step {
                exists(n, "nextStep", &s.name)?;
            }
            if let OnFailure::Step(t) = &s.on_failure {
                exists(t, "onFailure", &s.name)?;
            }
            if let OnFailure::Step(t) = &s.on_cancel {
                exists(t, "onCancel", &s.name)?;
            }
            match s.action.as_str() {
                "aws:branch" => {
                    let choices = s.inputs.get("Choices").and_then(Value::as_array).ok_or_else(|| {
                        invalid(format!(
                            "Missing required input names. Required=[ [Choices] ], Provided =[ [{}] ].",
                            input_names(&s.inputs)
                        ))
                    })?;
                    for c in choices {
                        check_choice(c, &s.name)?;
                        match c.get("NextStep").and_then(Value::as_str) {
                            Some(t) => exists(t, "A choice", &s.name)?,
                            None => return Err(invalid(format!("A choice in step {} has no NextStep.", s.name))),
                        }
                    }
                    if let Some(d) = s.inputs.get("Default").and_then(Value::as_str) {
                        exists(d, "Default", &s.name)?;
                    }
                }
                "aws:runCommand" => {
                    let provided = input_names(&s.inputs);
                    let unknown = s
                        .inputs
                        .as_object()
                        .is_some_and(|o| o.keys().any(|k| !RUN_COMMAND_INPUTS.contains(&k.as_str())));
                    if unknown {
                        return Err(invalid(format!(
                            "Unknown input names provided. Known=[ [{}] ], Provided=[ [{provided}] ].",
                            RUN_COMMAND_INPUTS.join(", ")
                        )));
                    }
                    if s.inputs.get("DocumentName").is_none() {
                        return Err(invalid(format!(
                            "Missing required input names. Required=[ [DocumentName] ], Provided =[ [{provided}] ]."
                        )));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a `{{ reference }}` that is not a parameter names something the runbook
    /// defines: an automation variable, or an output of one of its steps
    /// (`step.Output`, or an action's own outputs, which depend on the action).
    pub(crate) fn resolves(&self, r: &str) -> bool {
        if VARIABLES.contains(&r) {
            return true;
        }
        match r.split_once('.') {
            Some((step, _)) => self.any_step(step).is_some(),
            None => false,
        }
    }

    /// A step of the runbook or of one of its loops.
    pub fn any_step(&self, name: &str) -> Option<&Step> {
        self.steps
            .iter()
            .find_map(|s| if s.name == name { Some(s) } else { s.loop_steps.iter().find(|l| l.name == name) })
    }
}

fn input_names(inputs: &Value) -> String {
    inputs.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default()
}
