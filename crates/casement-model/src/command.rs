//! Run Command: a command, its copy per managed node (the command invocation), and the
//! status rules AWS documents for both ("Understanding command statuses").
//!
//! Status moves only on what the agent reports or on a deadline passing: SendCommand
//! leaves every invocation `Pending`; the agent's first reply makes it `InProgress`; its
//! last reply makes it final. The command's aggregate status is recomputed from the
//! counts of its invocations after every change ([`settle`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::limits;
use crate::Target;

/// The documents this server can run.
pub const RUN_SHELL_SCRIPT: &str = "AWS-RunShellScript";
/// The one plugin (step) of `AWS-RunShellScript`.
pub const SHELL_PLUGIN: &str = "aws:runShellScript";
/// Delivery timeout when SendCommand gives none (AWS's default for `TimeoutSeconds`).
pub const DEFAULT_DELIVERY_TIMEOUT_SECS: i64 = 3600;
/// `executionTimeout` of AWS-RunShellScript when the parameters give none.
pub const DEFAULT_EXECUTION_TIMEOUT_SECS: i64 = 3600;
/// SendCommand's default `MaxConcurrency` and `MaxErrors`.
pub const DEFAULT_MAX_CONCURRENCY: &str = "50";
pub const DEFAULT_MAX_ERRORS: &str = "0";
/// GetCommandInvocation keeps the first 24,000 characters of stdout and 8,000 of stderr.
pub const MAX_STDOUT_CHARS: usize = 24_000;
pub const MAX_STDERR_CHARS: usize = 8_000;
/// ListCommandInvocations' `CommandPlugins[].Output` holds 2,500.
pub const MAX_PLUGIN_OUTPUT_CHARS: usize = 2_500;

/// Where one invocation stands. Serialized as its StatusDetails string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InvocationState {
    Pending,
    Delayed,
    InProgress,
    Success,
    Failed,
    ExecutionTimedOut,
    DeliveryTimedOut,
    Cancelling,
    Cancelled,
    /// The command exceeded MaxErrors before this invocation was sent.
    Terminated,
    /// The node was deregistered before the command reached it.
    Undeliverable,
}

impl InvocationState {
    pub const ALL: [InvocationState; 11] = [
        Self::Pending,
        Self::Delayed,
        Self::InProgress,
        Self::Success,
        Self::Failed,
        Self::ExecutionTimedOut,
        Self::DeliveryTimedOut,
        Self::Cancelling,
        Self::Cancelled,
        Self::Terminated,
        Self::Undeliverable,
    ];

    /// `CommandInvocationStatus`: the coarse status of the model's enum.
    pub fn status(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Delayed => "Delayed",
            Self::InProgress => "InProgress",
            Self::Success => "Success",
            Self::Failed | Self::Undeliverable => "Failed",
            Self::ExecutionTimedOut | Self::DeliveryTimedOut => "TimedOut",
            Self::Cancelling => "Cancelling",
            Self::Cancelled | Self::Terminated => "Cancelled",
        }
    }

    /// `CommandPluginStatus`, which has no Delayed or Cancelling.
    pub fn plugin_status(self) -> &'static str {
        match self {
            Self::Delayed => "Pending",
            Self::Cancelling => "InProgress",
            other => other.status(),
        }
    }

    /// `StatusDetails`.
    pub fn details(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Delayed => "Delayed",
            Self::InProgress => "InProgress",
            Self::Success => "Success",
            Self::Failed => "Failed",
            Self::ExecutionTimedOut => "ExecutionTimedOut",
            Self::DeliveryTimedOut => "DeliveryTimedOut",
            Self::Cancelling => "Cancelling",
            Self::Cancelled => "Cancelled",
            Self::Terminated => "Terminated",
            Self::Undeliverable => "Undeliverable",
        }
    }

    pub fn parse(details: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.details() == details)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Delayed | Self::InProgress | Self::Cancelling)
    }

    /// Counts against MaxErrors (delivery problems do not, AWS says).
    pub fn is_error(self) -> bool {
        matches!(self, Self::Failed | Self::ExecutionTimedOut)
    }
}

/// A Run Command command as SendCommand recorded it, with its aggregate status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub command_id: String,
    pub document_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub instance_ids: Vec<String>,
    #[serde(default)]
    pub targets: Vec<Target>,
    pub requested_ms: i64,
    /// `ExpiresAfter`: invocations not final by then are DeliveryTimedOut.
    pub expires_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    pub max_concurrency: String,
    pub max_errors: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_s3_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_s3_bucket_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_s3_key_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    /// Stored and echoed as given; Casement sends no notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_output_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_configuration: Option<Value>,
    pub status: String,
    pub status_details: String,
    pub target_count: i64,
    pub completed_count: i64,
    pub error_count: i64,
    pub delivery_timed_out_count: i64,
    #[serde(default)]
    pub cancel_requested: bool,
    /// How its invocations stand, kept up to date by every change (so settling a
    /// command after one reply costs the same whatever its size).
    #[serde(default)]
    pub counts: Counts,
    /// The document version it runs, as it was when sent (a later update or delete of the
    /// document does not change a command). `None`: the AWS-owned document
    /// `document_name`, whose content the server knows, with `parameters` as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Arc<CommandDocument>>,
}

/// What a node needs to run a customer's document: its content, the parameter values
/// typed as the document declares them, and its plugins' names in run order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandDocument {
    pub content: Value,
    pub parameters: serde_json::Map<String, Value>,
    pub plugins: Vec<String>,
}

/// One plugin's (step's) result on one node, as the agent reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginResult {
    pub name: String,
    /// `CommandPluginStatus` (Pending, InProgress, Success, Failed, TimedOut, Cancelled),
    /// or Skipped (a precondition did not hold; shown as Success).
    pub status: String,
    pub response_code: i32,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
}

impl Command {
    /// What a change to one of its invocations may alter of a command besides its
    /// status (which [`settle`] derives from these): its counts, and whether a cancel was
    /// asked for. Everything else is fixed when the command is sent.
    pub fn progress(&self) -> (Counts, bool) {
        (self.counts, self.cancel_requested)
    }

    /// A command as SendCommand records it: Pending, nothing counted yet, the optional
    /// members unset.
    pub fn new(command_id: String, document_name: String, requested_ms: i64, expires_ms: i64) -> Self {
        Self {
            command_id,
            document_name,
            document_version: None,
            comment: None,
            parameters: BTreeMap::new(),
            instance_ids: vec![],
            targets: vec![],
            requested_ms,
            expires_ms,
            timeout_seconds: None,
            max_concurrency: DEFAULT_MAX_CONCURRENCY.into(),
            max_errors: DEFAULT_MAX_ERRORS.into(),
            output_s3_region: None,
            output_s3_bucket_name: None,
            output_s3_key_prefix: None,
            service_role: None,
            notification_config: None,
            cloud_watch_output_config: None,
            alarm_configuration: None,
            status: "Pending".into(),
            status_details: "Pending".into(),
            target_count: 0,
            completed_count: 0,
            error_count: 0,
            delivery_timed_out_count: 0,
            cancel_requested: false,
            counts: Counts::default(),
            document: None,
        }
    }

    /// The invocation of this command on one node, Pending until its deadline.
    pub fn invocation(
        &self,
        instance_id: String,
        instance_name: String,
        seq: u32,
        deadline_ms: i64,
    ) -> CommandInvocation {
        CommandInvocation {
            command_id: self.command_id.clone(),
            instance_id,
            instance_name,
            seq,
            state: InvocationState::Pending,
            requested_ms: self.requested_ms,
            start_ms: None,
            end_ms: None,
            response_code: -1,
            stdout: String::new(),
            stderr: String::new(),
            released: false,
            acked: false,
            cancel_pending: false,
            deadline_ms,
            plugins: Vec::new(),
        }
    }
}

/// One command on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandInvocation {
    pub command_id: String,
    pub instance_id: String,
    /// The node's computer name when the command was sent.
    #[serde(default)]
    pub instance_name: String,
    /// Send order within the command (MaxConcurrency releases in this order).
    pub seq: u32,
    pub state: InvocationState,
    pub requested_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    /// -1 until the plugin ran.
    pub response_code: i32,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    /// MaxConcurrency let this invocation go to its node.
    pub released: bool,
    /// The agent acknowledged the command message.
    pub acked: bool,
    /// A cancel message waits for the agent.
    #[serde(default)]
    pub cancel_pending: bool,
    /// When the invocation times out if still not final: the delivery deadline until the
    /// agent acknowledges, then the command's ExpiresAfter.
    pub deadline_ms: i64,
    /// Each plugin's result, in the order the agent reported them (empty until it did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginResult>,
}

impl CommandInvocation {
    /// What [`Counts`] counts of this invocation: taken before a change and compared after
    /// it, instead of a copy of the whole invocation (its output can be 24,000 characters).
    pub fn standing(&self) -> Standing {
        Standing { state: self.state, released: self.released, acked: self.acked }
    }

    /// A message waits for the node: the command (released, not yet acknowledged) or a
    /// cancel.
    pub fn pending_message(&self) -> bool {
        self.cancel_pending || (self.released && !self.acked && !self.state.is_final())
    }

    /// Record a final state (first one wins: a late reply cannot undo a timeout).
    pub fn finish(&mut self, state: InvocationState, now_ms: i64) -> bool {
        if self.state.is_final() {
            return false;
        }
        self.state = state;
        self.end_ms = Some(now_ms);
        self.cancel_pending = false;
        true
    }
}

/// The part of an invocation that [`Counts`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub state: InvocationState,
    pub released: bool,
    pub acked: bool,
}

/// How a command's invocations stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub total: usize,
    /// Not yet released by MaxConcurrency (and not final).
    pub waiting: usize,
    /// Released and not final.
    pub in_flight: usize,
    /// Acknowledged by an agent, or final: the command reached somebody.
    pub started: usize,
    pub finished: usize,
    pub success: usize,
    pub errors: usize,
    pub delivery_timed_out: usize,
    pub cancelled: usize,
}

impl Counts {
    pub fn add(&mut self, inv: &CommandInvocation) {
        self.apply(inv.standing(), 1);
    }

    /// Account for a change of one invocation from how it stood `before` to `after`.
    pub fn change(&mut self, before: Standing, after: &CommandInvocation) {
        let after = after.standing();
        if before != after {
            self.apply(before, -1);
            self.apply(after, 1);
        }
    }

    fn apply(&mut self, inv: Standing, n: isize) {
        let bump = |v: &mut usize| *v = v.saturating_add_signed(n);
        bump(&mut self.total);
        let s = inv.state;
        if s.is_final() {
            bump(&mut self.finished);
            bump(&mut self.started);
        } else if inv.released {
            bump(&mut self.in_flight);
            if inv.acked {
                bump(&mut self.started);
            }
        } else {
            bump(&mut self.waiting);
        }
        match s {
            InvocationState::Success => bump(&mut self.success),
            InvocationState::DeliveryTimedOut => bump(&mut self.delivery_timed_out),
            InvocationState::Cancelled => bump(&mut self.cancelled),
            s if s.is_error() => bump(&mut self.errors),
            _ => {}
        }
    }
}

/// What the store must do after [`settle`]: release this many waiting invocations (in
/// send order), or end every waiting one as Terminated (MaxErrors exceeded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settle {
    pub release: usize,
    pub terminate_waiting: bool,
}

/// Recompute a command's counts and status, and say what its waiting invocations do.
///
/// Rules (AWS's, with Casement's choices where AWS says nothing — docs/SEMANTICS.md):
/// more errors than MaxErrors stops the sending (the rest are Terminated); at most
/// MaxConcurrency are in flight; once all are final the command is Success (all
/// succeeded), Cancelled (a cancel ended some), Failed (errors beyond MaxErrors),
/// TimedOut/DeliveryTimedOut (MaxErrors or more deliveries timed out, at least one),
/// otherwise Failed/Incomplete.
pub fn settle(cmd: &mut Command) -> Settle {
    let c = &cmd.counts.clone();
    let max_concurrency = limits::max_concurrency(Some(&cmd.max_concurrency), c.total);
    let max_errors = limits::max_errors(Some(&cmd.max_errors), c.total);
    cmd.target_count = c.total as i64;
    cmd.completed_count = c.finished as i64;
    cmd.error_count = c.errors as i64;
    cmd.delivery_timed_out_count = c.delivery_timed_out as i64;
    let mut out = Settle::default();
    if c.waiting > 0 && !cmd.cancel_requested {
        if c.errors > max_errors {
            out.terminate_waiting = true;
        } else {
            out.release = c.waiting.min(max_concurrency.saturating_sub(c.in_flight));
        }
    }
    let (status, details) = if c.finished < c.total {
        if cmd.cancel_requested {
            ("Cancelling", "Cancelling")
        } else if c.started > 0 {
            ("InProgress", "InProgress")
        } else {
            ("Pending", "Pending")
        }
    } else if c.success == c.total {
        ("Success", "Success")
    } else if cmd.cancel_requested && c.cancelled > 0 {
        ("Cancelled", "Cancelled")
    } else if c.errors > max_errors {
        ("Failed", "Failed")
    } else if c.delivery_timed_out > 0 && c.delivery_timed_out >= max_errors.max(1) {
        ("TimedOut", "DeliveryTimedOut")
    } else {
        ("Failed", "Incomplete")
    };
    cmd.status = status.into();
    cmd.status_details = details.into();
    out
}

/// Settle a new command before it is stored: count its invocations and release the first
/// MaxConcurrency of them (in order), so they are written once, already released.
pub fn prepare(cmd: &mut Command, invocations: &mut [CommandInvocation]) {
    cmd.counts = Counts::default();
    for inv in invocations.iter() {
        cmd.counts.add(inv);
    }
    let s = settle(cmd);
    for inv in invocations.iter_mut().filter(|i| !i.released && !i.state.is_final()).take(s.release) {
        let before = inv.standing();
        inv.released = true;
        cmd.counts.change(before, inv);
    }
    settle(cmd);
}

/// Keep the first `max` characters (output limits are in characters, not bytes).
pub fn clip_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(max_concurrency: &str, max_errors: &str) -> Command {
        let mut c = Command::new("c".into(), RUN_SHELL_SCRIPT.into(), 0, 0);
        c.max_concurrency = max_concurrency.into();
        c.max_errors = max_errors.into();
        c
    }

    /// Counting from an invocation's standing gives what recounting every invocation
    /// gives, through the whole life of a command; a change that leaves the standing as
    /// it was (an InProgress reply with output) counts nothing.
    #[test]
    fn counted_changes_match_a_recount() {
        let mut c = cmd("2", "1");
        let mut invs: Vec<_> = (0..3).map(|i| c.invocation(format!("mi-{i}"), String::new(), i, 0)).collect();
        prepare(&mut c, &mut invs);
        let recount = |invs: &[CommandInvocation]| {
            let mut n = Counts::default();
            invs.iter().for_each(|i| n.add(i));
            n
        };
        assert_eq!(c.counts, recount(&invs));
        let steps: [fn(&mut CommandInvocation); 4] = [
            |i| i.acked = true,
            |i| i.stdout = "partial output".into(),
            |i| {
                i.finish(InvocationState::Failed, 5);
            },
            |i| i.released = true,
        ];
        for (n, step) in steps.iter().enumerate() {
            let inv = &mut invs[n % 3];
            let before = inv.standing();
            step(inv);
            c.counts.change(before, inv);
            assert_eq!(c.counts, recount(&invs), "after step {n}");
        }
        assert_eq!(c.counts.errors, 1);
        assert_eq!(c.progress(), (c.counts, false));
    }

    #[test]
    fn concurrency_releases_and_errors_terminate() {
        let mut c = cmd("2", "0");
        c.counts = Counts { total: 5, waiting: 5, ..Default::default() };
        let s = settle(&mut c);
        assert_eq!(s, Settle { release: 2, terminate_waiting: false });
        assert_eq!(c.status, "Pending");
        c.counts =
            Counts { total: 5, waiting: 3, in_flight: 1, started: 2, finished: 1, errors: 1, ..Default::default() };
        let s = settle(&mut c);
        assert!(s.terminate_waiting);
        assert_eq!(c.status, "InProgress");
    }

    #[test]
    fn final_statuses() {
        let all = |success, errors, dto| Counts {
            total: 3,
            started: 3,
            finished: 3,
            success,
            errors,
            delivery_timed_out: dto,
            ..Default::default()
        };
        let mut c = cmd("50", "0");
        c.counts = all(3, 0, 0);
        settle(&mut c);
        assert_eq!((c.status.as_str(), c.status_details.as_str()), ("Success", "Success"));
        c.counts = all(2, 1, 0);
        settle(&mut c);
        assert_eq!((c.status.as_str(), c.status_details.as_str()), ("Failed", "Failed"));
        c.counts = all(2, 0, 1);
        settle(&mut c);
        assert_eq!((c.status.as_str(), c.status_details.as_str()), ("TimedOut", "DeliveryTimedOut"));
        let mut c = cmd("50", "1");
        c.counts = all(2, 1, 0);
        settle(&mut c);
        assert_eq!((c.status.as_str(), c.status_details.as_str()), ("Failed", "Incomplete"));
        assert_eq!(c.error_count, 1);
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip_chars("héllo", 2), "hé");
        assert_eq!(clip_chars("hi", 5), "hi");
    }
}
