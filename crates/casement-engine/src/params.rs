//! Pseudo parameters and the invocation's `Parameters` string.
//!
//! Every task type gets `{{WINDOW_ID}}`, `{{WINDOW_TASK_ID}}`, `{{WINDOW_TARGET_ID}}`,
//! `{{WINDOW_EXECUTION_ID}}`, `{{TASK_EXECUTION_ID}}`, `{{INVOCATION_ID}}`,
//! `{{TARGET_TYPE}}`, `{{TARGET_ID}}` and `{{RESOURCE_ID}}` substituted (a targetless
//! invocation substitutes the target ones with empty strings). `Parameters` is the
//! request sent, as JSON with camelCase keys in sorted order, keys absent when unset —
//! the form AWS shows for Run Command.

use std::collections::BTreeMap;

use base64::Engine as _;
use casement_model::task::RunCommandParameters;
use casement_model::{ResolvedTarget, TaskType, WindowTask};
use serde_json::Value;

/// The values of one invocation's pseudo parameters.
pub struct PseudoParams<'a> {
    pub window_id: &'a str,
    pub window_task_id: &'a str,
    pub window_execution_id: &'a str,
    pub task_execution_id: &'a str,
    pub invocation_id: &'a str,
    pub target: &'a ResolvedTarget,
}

impl PseudoParams<'_> {
    fn value(&self, name: &str) -> Option<&str> {
        Some(match name {
            "WINDOW_ID" => self.window_id,
            "WINDOW_TASK_ID" => self.window_task_id,
            "WINDOW_TARGET_ID" => self.target.window_target_id.as_deref().unwrap_or(""),
            "WINDOW_EXECUTION_ID" => self.window_execution_id,
            "TASK_EXECUTION_ID" => self.task_execution_id,
            "INVOCATION_ID" => self.invocation_id,
            "TARGET_TYPE" => &self.target.target_type,
            "TARGET_ID" | "RESOURCE_ID" => &self.target.resource_id,
            _ => return None,
        })
    }

    /// Replace `{{NAME}}` (spaces inside the braces allowed) for every known name;
    /// anything else is left as written.
    pub fn substitute(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            match after.find("}}") {
                Some(close) => match self.value(after[..close].trim()) {
                    Some(v) => {
                        out.push_str(v);
                        rest = &after[close + 2..];
                    }
                    None => {
                        out.push_str("{{");
                        rest = after;
                    }
                },
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// What one invocation sends, pseudo parameters substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Lambda {
        function_name: String,
        payload: Option<Vec<u8>>,
        qualifier: Option<String>,
        client_context: Option<String>,
    },
    StepFunctions {
        state_machine_arn: String,
        input: Option<String>,
        name: String,
    },
    Automation {
        invocation_id: String,
        document_name: String,
        document_version: Option<String>,
        parameters: BTreeMap<String, Vec<String>>,
        /// The task's service role: the automation runs (and shows as ExecutedBy) as it.
        service_role_arn: Option<String>,
    },
    RunCommand {
        invocation_id: String,
        instance_ids: Vec<String>,
        document_name: String,
        /// The task's Run Command parameters, pseudo parameters substituted.
        params: Box<RunCommandParameters>,
        max_concurrency: Option<String>,
        max_errors: Option<String>,
    },
}

impl Request {
    pub fn build(task: &WindowTask, p: &PseudoParams<'_>) -> Request {
        let tip = task.task_invocation_parameters.clone().unwrap_or_default();
        let sub_map = |m: Option<BTreeMap<String, Vec<String>>>| -> BTreeMap<String, Vec<String>> {
            m.unwrap_or_default().into_iter().map(|(k, vs)| (k, vs.iter().map(|v| p.substitute(v)).collect())).collect()
        };
        match task.task_type {
            TaskType::Lambda => {
                let l = tip.lambda.unwrap_or_default();
                let payload = l.payload.map(|b64| {
                    let raw = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()).unwrap_or_default();
                    match String::from_utf8(raw) {
                        Ok(text) => p.substitute(&text).into_bytes(),
                        Err(e) => e.into_bytes(),
                    }
                });
                Request::Lambda {
                    function_name: task.task_arn.clone(),
                    payload,
                    qualifier: l.qualifier.map(|q| p.substitute(&q)),
                    client_context: l.client_context.map(|c| p.substitute(&c)),
                }
            }
            TaskType::StepFunctions => {
                let s = tip.step_functions.unwrap_or_default();
                Request::StepFunctions {
                    state_machine_arn: task.task_arn.clone(),
                    input: s.input.map(|i| p.substitute(&i)),
                    // Without a Name, the invocation's ID: a StartExecution retried after
                    // a restart then finds the same execution instead of starting another.
                    name: s.name.map(|n| p.substitute(&n)).unwrap_or_else(|| p.invocation_id.to_owned()),
                }
            }
            TaskType::Automation => {
                let a = tip.automation.unwrap_or_default();
                Request::Automation {
                    invocation_id: p.invocation_id.to_owned(),
                    document_name: task.task_arn.clone(),
                    document_version: a.document_version,
                    parameters: sub_map(a.parameters),
                    service_role_arn: task.service_role_arn.clone(),
                }
            }
            TaskType::RunCommand => {
                let r = tip.run_command.unwrap_or_default();
                let sub = |o: Option<String>| o.map(|v| p.substitute(&v));
                let params = RunCommandParameters {
                    parameters: Some(sub_map(r.parameters)),
                    comment: sub(r.comment),
                    output_s3_key_prefix: sub(r.output_s3_key_prefix),
                    ..r
                };
                Request::RunCommand {
                    invocation_id: p.invocation_id.to_owned(),
                    instance_ids: vec![p.target.resource_id.clone()],
                    document_name: task.task_arn.clone(),
                    params: Box::new(params),
                    max_concurrency: task.max_concurrency.clone(),
                    max_errors: task.max_errors.clone(),
                }
            }
        }
    }

    /// The invocation's `Parameters` member.
    pub fn parameters_json(&self) -> String {
        let mut m: BTreeMap<&str, Value> = BTreeMap::new();
        match self {
            Request::Lambda { function_name, payload, qualifier, client_context } => {
                m.insert("functionName", function_name.clone().into());
                if let Some(p) = payload {
                    m.insert("payload", String::from_utf8_lossy(p).into_owned().into());
                }
                if let Some(q) = qualifier {
                    m.insert("qualifier", q.clone().into());
                }
                if let Some(c) = client_context {
                    m.insert("clientContext", c.clone().into());
                }
            }
            Request::StepFunctions { state_machine_arn, input, name } => {
                m.insert("stateMachineArn", state_machine_arn.clone().into());
                m.insert("name", name.clone().into());
                if let Some(i) = input {
                    m.insert("input", i.clone().into());
                }
            }
            Request::Automation { document_name, document_version, parameters, .. } => {
                m.insert("documentName", document_name.clone().into());
                if let Some(v) = document_version {
                    m.insert("documentVersion", v.clone().into());
                }
                m.insert("parameters", serde_json::to_value(parameters).unwrap_or_default());
            }
            Request::RunCommand { instance_ids, document_name, params, max_concurrency, max_errors, .. } => {
                let mut text = |k: &'static str, v: &Option<String>| {
                    if let Some(v) = v {
                        m.insert(k, v.clone().into());
                    }
                };
                text("comment", &params.comment);
                text("documentHash", &params.document_hash);
                text("documentHashType", &params.document_hash_type);
                text("documentVersion", &params.document_version);
                text("maxConcurrency", max_concurrency);
                text("maxErrors", max_errors);
                text("outputS3BucketName", &params.output_s3_bucket_name);
                text("outputS3KeyPrefix", &params.output_s3_key_prefix);
                text("serviceRoleArn", &params.service_role_arn);
                m.insert("documentName", document_name.clone().into());
                m.insert("instanceIds", instance_ids.clone().into());
                m.insert("parameters", serde_json::to_value(&params.parameters).unwrap_or_default());
                if let Some(t) = params.timeout_seconds {
                    m.insert("timeoutSeconds", t.into());
                }
            }
        }
        serde_json::to_string(&m).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> ResolvedTarget {
        ResolvedTarget {
            resource_id: "i-0123456789abcdef0".into(),
            target_type: "INSTANCE".into(),
            window_target_id: Some("tgt".into()),
            owner_information: None,
        }
    }

    #[test]
    fn substitutes_known_names_and_keeps_the_rest() {
        let t = target();
        let p = PseudoParams {
            window_id: "mw-1",
            window_task_id: "task",
            window_execution_id: "exec",
            task_execution_id: "te",
            invocation_id: "inv",
            target: &t,
        };
        assert_eq!(
            p.substitute("{{WINDOW_ID}}/{{ TARGET_ID }}/{{WINDOW_EXECUTION_ID}}/{{OTHER}}/{{TARGET_TYPE}}/{{"),
            "mw-1/i-0123456789abcdef0/exec/{{OTHER}}/INSTANCE/{{"
        );
        assert_eq!(p.substitute("{{WINDOW_TARGET_ID}}{{INVOCATION_ID}}{{TASK_EXECUTION_ID}}"), "tgtinvte");
    }
}
