//! `casement agent`: the program that runs on each managed node.
//!
//! It registers once with a hybrid activation and keeps the identity it gets (instance
//! ID and its own key) in its state directory; then it reports health, long-polls the
//! server for messages, runs Command documents (their `aws:runShellScript` and
//! `aws:runPowerShellScript` steps) as child process groups, and
//! sends their status and output back. Replies are written to the state directory before
//! they are sent and removed once the server took them, so a server restart or a network
//! loss delays them but never loses them. The protocol is AWS's agent's
//! (`casement-protocol::agent`, reference/agent-protocol.md).

mod client;
mod document;
mod http;
mod identity;
mod poll;
mod replies;
mod shell;
mod trim;

use std::path::PathBuf;
use std::time::Duration;

pub use client::Client;
pub use identity::{register, Identity};

/// The agent's name and version in its reports.
pub const AGENT_NAME: &str = "casement-agent";
pub const AGENT_VERSION: &str = "3.3.0.0";

#[derive(Debug, Clone)]
pub struct Config {
    pub endpoint: String,
    pub activation_code: Option<String>,
    pub activation_id: Option<String>,
    pub region: String,
    pub state_dir: PathBuf,
    /// How often health (UpdateInstanceInformation) is reported.
    pub heartbeat: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("registration refused: {0}")]
    Refused(String),
    #[error("the server no longer accepts this node: {0}")]
    Deregistered(String),
    #[error("state directory: {0}")]
    State(String),
    #[error("{0}")]
    Config(String),
}

/// Register if needed, then serve until the server refuses this node.
pub async fn run(config: Config) -> Result<(), AgentError> {
    let identity = identity::load_or_register(&config).await?;
    tracing::info!(instance_id = %identity.instance_id, "agent ready");
    let client = Client::new(&config.endpoint, identity)?;
    poll::serve(client, &config).await
}
