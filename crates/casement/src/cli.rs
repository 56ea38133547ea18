//! Command-line contract (DESIGN.md §3): every flag also reads `CASEMENT_<FLAG>`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "casement",
    version,
    about = "AWS Systems Manager Maintenance Windows, self-hosted",
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Parsed once per process, so the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server, the scheduler and the engine in one process.
    Serve(ServeArgs),
    /// Run the node agent: register with an activation (once), then run the commands
    /// the server sends this node.
    Agent(AgentArgs),
}

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The Casement server, e.g. http://127.0.0.1:4580.
    #[arg(long, env = "CASEMENT_AGENT_ENDPOINT")]
    pub endpoint: String,
    /// Activation code from CreateActivation (needed only until the node is registered).
    #[arg(long, env = "CASEMENT_AGENT_ACTIVATION_CODE", hide_env_values = true)]
    pub activation_code: Option<String>,
    /// Activation ID from CreateActivation.
    #[arg(long, env = "CASEMENT_AGENT_ACTIVATION_ID")]
    pub activation_id: Option<String>,
    /// Region of the activation.
    #[arg(long, env = "CASEMENT_AGENT_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Where the node keeps its identity and unsent replies.
    #[arg(long, env = "CASEMENT_AGENT_STATE_DIR", default_value = "./casement-agent")]
    pub state_dir: PathBuf,
    /// Seconds between health reports.
    #[arg(long, env = "CASEMENT_AGENT_HEARTBEAT_SECONDS", default_value_t = 60)]
    pub heartbeat_seconds: u64,
    #[arg(long, env = "CASEMENT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// Verify every SigV4 signature against the configured keys.
    Verify,
    /// Local-emulator mode: accept any well-formed signature.
    AcceptAny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncArg {
    /// Survives a crash of the process (the default).
    Normal,
    /// Also survives power loss: an fsync per write.
    Full,
}

#[derive(Debug, Clone, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "CASEMENT_LISTEN", default_value = "127.0.0.1:4580")]
    pub listen: SocketAddr,
    /// Directory for the embedded database and the generated root key.
    #[arg(long, env = "CASEMENT_DATA_DIR", default_value = "./casement-data")]
    pub data_dir: PathBuf,
    /// Database URL: `postgres://user@host:port/db` to share state between several
    /// servers, or `sqlite://PATH` (the default is SQLite in --data-dir).
    #[arg(long, env = "CASEMENT_DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL connections per server.
    #[arg(long, env = "CASEMENT_DATABASE_POOL_SIZE", default_value_t = 8)]
    pub database_pool_size: usize,
    /// TOML file of `[[credentials]]` tables (access_key_id, secret_access_key, account_id).
    #[arg(long, env = "CASEMENT_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,
    /// Access key ID of a single configured key (with --secret-access-key).
    #[arg(long, env = "CASEMENT_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,
    /// Secret of the single configured key.
    #[arg(long, env = "CASEMENT_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// Account of the single configured key, and of unknown keys in accept-any mode.
    #[arg(long, env = "CASEMENT_ACCOUNT_ID", default_value = "000000000000")]
    pub account_id: String,
    #[arg(long, env = "CASEMENT_AUTH", value_enum, default_value = "verify")]
    pub auth: AuthArg,
    /// Enforce AWS's published quotas (50 windows per account and Region, 100 targets and
    /// 20 tasks per window).
    #[arg(long, env = "CASEMENT_AWS_QUOTAS")]
    pub aws_quotas: bool,
    #[arg(long, env = "CASEMENT_SQLITE_SYNCHRONOUS", value_enum, default_value = "normal")]
    pub sqlite_synchronous: SyncArg,
    #[arg(long, env = "CASEMENT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Lambda endpoint for LAMBDA tasks (default: AWS's, for the window's region).
    /// Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID…, profiles).
    #[arg(long, env = "CASEMENT_LAMBDA_ENDPOINT")]
    pub lambda_endpoint: Option<String>,
    /// Step Functions endpoint for STEP_FUNCTIONS tasks (default: AWS's).
    #[arg(long, env = "CASEMENT_STEPFUNCTIONS_ENDPOINT")]
    pub stepfunctions_endpoint: Option<String>,
    /// How often a running Step Functions execution is polled, in milliseconds.
    #[arg(long, env = "CASEMENT_STEPFUNCTIONS_POLL_MS", default_value_t = 1000)]
    pub stepfunctions_poll_ms: u64,
    /// Append every event (EventBridge JSON) to this file, one per line.
    #[arg(long, env = "CASEMENT_EVENTS_FILE")]
    pub events_file: Option<PathBuf>,
    /// POST every event (EventBridge JSON) to this URL.
    #[arg(long, env = "CASEMENT_EVENTS_WEBHOOK")]
    pub events_webhook: Option<String>,
    /// Send events to EventBridge PutEvents at this endpoint (`aws` for AWS's own).
    #[arg(long, env = "CASEMENT_EVENTBRIDGE_ENDPOINT")]
    pub eventbridge_endpoint: Option<String>,
    /// Region of the EventBridge endpoint.
    #[arg(long, env = "CASEMENT_EVENTBRIDGE_REGION", default_value = "us-east-1")]
    pub eventbridge_region: String,
    /// Event bus for PutEvents (default: the account's default bus).
    #[arg(long, env = "CASEMENT_EVENT_BUS_NAME")]
    pub event_bus_name: Option<String>,
    /// Days of execution history kept (AWS keeps 30).
    #[arg(long, env = "CASEMENT_HISTORY_RETENTION_DAYS", default_value_t = 30)]
    pub history_retention_days: u32,
    /// How long a server's claim on a running execution lasts without renewal; with
    /// PostgreSQL, another server takes over an execution whose server stopped after this.
    #[arg(long, env = "CASEMENT_EXECUTION_LEASE_SECONDS", default_value_t = 30)]
    pub execution_lease_seconds: u32,
    /// Do not run windows: serve the API only.
    #[arg(long, env = "CASEMENT_NO_ENGINE")]
    pub no_engine: bool,
    /// The Regions served, comma-separated (`any`: every well-formed Region name). A
    /// request scoped to another Region is refused, as AWS refuses one it does not serve.
    #[arg(long, env = "CASEMENT_REGIONS", default_value = "commercial")]
    pub regions: String,
    /// Most automation executions running at once per account and Region (AWS: 100);
    /// the rest wait, Pending, until one ends.
    #[arg(long, env = "CASEMENT_AUTOMATION_CONCURRENCY", default_value_t = 100)]
    pub automation_concurrency: u32,
    /// A managed node not heard from for this many seconds shows PingStatus
    /// ConnectionLost (agents poll every 20 s and report health every minute).
    #[arg(long, env = "CASEMENT_CONNECTION_LOST_SECONDS", default_value_t = 120)]
    pub connection_lost_seconds: u32,
    /// A new connection has this long to send its first request head; one that sent
    /// part of a later head has as long to finish it.
    #[arg(long, env = "CASEMENT_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_timeout_seconds: u32,
    /// A kept-alive connection with no request in flight is closed after this long (a
    /// long poll being answered is in flight).
    #[arg(long, env = "CASEMENT_IDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    pub idle_timeout_seconds: u32,
    /// A request body must arrive within this long.
    #[arg(long, env = "CASEMENT_BODY_TIMEOUT_SECONDS", default_value_t = 30)]
    pub body_timeout_seconds: u32,
    /// Most connections open at once; more are closed as they come.
    #[arg(long, env = "CASEMENT_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: u32,
    /// Longest an agent's GetMessages long poll is held open, in seconds.
    #[arg(long, env = "CASEMENT_AGENT_POLL_SECONDS", default_value_t = 20)]
    pub agent_poll_seconds: u32,
}
