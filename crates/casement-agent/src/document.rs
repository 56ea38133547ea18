//! Running a Command document as AWS's agent does: the message carries the content and
//! the parameter values typed; each plugin (step) has its parameters substituted, its
//! precondition checked against this node's platform, and runs in order. A failed step
//! does not stop the next unless it says `onFailure: exit`; `onSuccess: exit` stops after
//! a success; a `finallyStep` runs whatever happened before it.

use std::collections::BTreeMap;

use casement_documents::{interpolate, Document, DocumentType, Plugin, PluginAction};
use casement_protocol::agent::{PluginRuntimeStatus, SendCommandPayload};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::shell::{self, Finished, Interpreter, Script};

/// AWS's default `timeoutSeconds` of a script plugin.
const DEFAULT_TIMEOUT_SECS: u64 = 3600;

/// What running a document produced: its status and each plugin's.
pub struct Outcome {
    /// `documentStatus`: Success, Failed, TimedOut or Cancelled.
    pub status: &'static str,
    /// Per plugin ID (the step name; a schema 1.2 plugin's name).
    pub plugins: BTreeMap<String, PluginRuntimeStatus>,
    /// Why the document did not run at all.
    pub trace: String,
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A plugin's status as the agent reports it, from how its script ended.
pub fn plugin_status(name: &str, status: &str, f: &Finished) -> PluginRuntimeStatus {
    PluginRuntimeStatus {
        status: status.to_owned(),
        code: f.code,
        name: name.to_owned(),
        output: if f.stderr.is_empty() {
            f.stdout.clone()
        } else {
            format!("{}\n----------ERROR-------\n{}", f.stdout, f.stderr)
        },
        start_date_time: rfc3339(f.start),
        end_date_time: rfc3339(f.end),
        standard_output: f.stdout.clone(),
        standard_error: f.stderr.clone(),
    }
}

fn ended(status: &'static str, code: i32, stderr: String) -> Finished {
    let now = chrono::Utc::now();
    Finished { status, code, stdout: String::new(), stderr, start: now, end: now }
}

/// This node's platform as preconditions name it.
pub fn platform_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "MacOS",
        "windows" => "Windows",
        _ => "Linux",
    }
}

fn pwsh_available() -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("pwsh").is_file()))
}

/// The script a plugin runs, from its substituted inputs.
fn script_text(inputs: &Value) -> String {
    match inputs.get("runCommand") {
        Some(Value::Array(lines)) => {
            lines.iter().map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned)).collect::<Vec<_>>().join("\n")
        }
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn timeout_secs(inputs: &Value) -> u64 {
    let secs = match inputs.get("timeoutSeconds") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    secs.filter(|s| *s > 0).unwrap_or(DEFAULT_TIMEOUT_SECS)
}

/// Run one plugin with its inputs substituted.
async fn run_plugin(
    plugin: &Plugin,
    inputs: &Value,
    started: &mut impl FnMut(i32),
    cancel: &mut oneshot::Receiver<()>,
) -> Finished {
    let interpreter = match &plugin.action {
        PluginAction::RunShellScript => Interpreter::Sh,
        PluginAction::RunPowerShellScript if pwsh_available() => Interpreter::Pwsh,
        PluginAction::RunPowerShellScript => {
            return ended(
                "Failed",
                1,
                "aws:runPowerShellScript needs PowerShell (pwsh), which this node does not have on its PATH.".into(),
            )
        }
        PluginAction::Other(action) => {
            return ended("Failed", 1, format!("The action {action} is not supported by casement agent: it runs aws:runShellScript and aws:runPowerShellScript."))
        }
    };
    let text = script_text(inputs);
    let dir = inputs.get("workingDirectory").and_then(Value::as_str);
    let script = Script { interpreter, text: &text, working_directory: dir, timeout_secs: timeout_secs(inputs) };
    shell::run(script, started, cancel).await
}

/// Run the document a command message carries. `started` is told each script's process
/// group as it starts (so an agent restart can kill it).
pub async fn run(
    payload: &SendCommandPayload,
    mut started: impl FnMut(i32),
    mut cancel: oneshot::Receiver<()>,
) -> Outcome {
    let doc = match Document::from_value(payload.document_content.clone(), DocumentType::Command) {
        Ok(d) => d,
        Err(e) => {
            return Outcome {
                status: "Failed",
                plugins: BTreeMap::new(),
                trace: format!("The document of command {} cannot be run: {e}", payload.command_id),
            }
        }
    };
    let lookup = |name: &str| payload.parameters.get(name).cloned();
    let mut plugins = BTreeMap::new();
    let (mut failed, mut timed_out, mut cancelled) = (false, false, false);
    let mut exited = false;
    for plugin in doc.plugins() {
        if cancelled {
            break;
        }
        if exited && !plugin.finally_step {
            let f = ended("Skipped", 0, String::new());
            let mut s = plugin_status(plugin.action.as_str(), "Skipped", &f);
            s.output =
                "Step execution skipped: an earlier step ended the document (onFailure or onSuccess exit).".into();
            plugins.insert(plugin.name.clone(), s);
            continue;
        }
        let precondition_holds = {
            let mut p = plugin.clone();
            p.precondition = p.precondition.as_ref().map(|c| interpolate::substitute(c, &lookup));
            p.applies_to(platform_type())
        };
        if !precondition_holds {
            let f = ended("Skipped", 0, String::new());
            let mut s = plugin_status(plugin.action.as_str(), "Skipped", &f);
            s.output = format!(
                "Step execution skipped due to unsatisfied preconditions: {} for step {}",
                plugin.precondition.as_ref().map(Value::to_string).unwrap_or_default(),
                plugin.name
            );
            plugins.insert(plugin.name.clone(), s);
            continue;
        }
        let inputs = interpolate::substitute(&plugin.inputs, &lookup);
        let f = run_plugin(plugin, &inputs, &mut started, &mut cancel).await;
        plugins.insert(plugin.name.clone(), plugin_status(plugin.action.as_str(), f.status, &f));
        match f.status {
            "Success" => {
                if plugin.on_success.as_deref() == Some("exit") {
                    exited = true;
                }
            }
            "Cancelled" => cancelled = true,
            status => match plugin.on_failure.as_deref() {
                // The step failed, and the document ends here as a success.
                Some("successAndExit") => exited = true,
                on_failure => {
                    exited |= on_failure == Some("exit");
                    failed = true;
                    timed_out |= status == "TimedOut";
                }
            },
        }
    }
    let status = if cancelled {
        "Cancelled"
    } else if timed_out {
        "TimedOut"
    } else if failed {
        "Failed"
    } else {
        "Success"
    };
    Outcome { status, plugins, trace: String::new() }
}
