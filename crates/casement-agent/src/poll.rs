//! The agent's main loop: health reports, the long poll, and each message's handling —
//! the order AWS's agent uses: validate, queue the InProgress reply, acknowledge, run,
//! queue the final reply. A command's run is recorded in `<state-dir>/runs` while it
//! runs, and in `<state-dir>/done` once replied, so a redelivered message is not run
//! twice and a run cut short by an agent restart is reported instead of forgotten.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casement_protocol::agent::{
    AcknowledgeMessageRequest, AdditionalInfo, AgentInfo, CancelCommandPayload, FailMessageRequest, GetMessagesRequest,
    GetMessagesResponse, Message, PluginRuntimeStatus, ReplyPayload, SendCommandPayload,
    UpdateInstanceInformationRequest, MESSAGES_PREFIX, TOPIC_CANCEL, TOPIC_SEND, UPDATE_INFORMATION,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::client::CallError;
use crate::document;
use crate::identity::{hostname, write_private};
use crate::replies::Replies;
use crate::shell;
use crate::{AgentError, Client, Config, AGENT_NAME, AGENT_VERSION};

/// Client-side bound of one GetMessages (the server holds it at most 20 s).
const POLL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Serialize, Deserialize)]
struct RunRecord {
    message_id: String,
    pgid: i32,
}

struct Runs {
    runs: PathBuf,
    done: PathBuf,
    /// Cancel switches of the commands running now, by CommandId.
    active: Mutex<HashMap<String, oneshot::Sender<()>>>,
}

impl Runs {
    fn open(state: &Path) -> Result<Self, AgentError> {
        let (runs, done) = (state.join("runs"), state.join("done"));
        for d in [&runs, &done] {
            std::fs::create_dir_all(d).map_err(|e| AgentError::State(format!("{}: {e}", d.display())))?;
        }
        Ok(Self { runs, done, active: Mutex::new(HashMap::new()) })
    }

    fn known(&self, command_id: &str) -> bool {
        self.done.join(command_id).exists() || self.runs.join(format!("{command_id}.json")).exists()
    }

    fn record(&self, command_id: &str, rec: &RunRecord) -> Result<(), AgentError> {
        let bytes = serde_json::to_vec(rec).map_err(|e| AgentError::State(e.to_string()))?;
        write_private(&self.runs.join(format!("{command_id}.json")), &bytes)
    }

    fn finish(&self, command_id: &str) {
        let _ = std::fs::write(self.done.join(command_id), b"");
        let _ = std::fs::remove_file(self.runs.join(format!("{command_id}.json")));
        self.active.lock().unwrap_or_else(|p| p.into_inner()).remove(command_id);
    }

    /// Runs a previous agent process left unfinished: their process groups are killed
    /// and they are reported Failed.
    fn recover(&self, replies: &Replies) -> Result<(), AgentError> {
        for entry in std::fs::read_dir(&self.runs).into_iter().flatten().flatten() {
            let path = entry.path();
            let Some(command_id) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else { continue };
            let Ok(rec) = std::fs::read(&path)
                .map_err(|_| ())
                .and_then(|b| serde_json::from_slice::<RunRecord>(&b).map_err(|_| ()))
            else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            shell::kill_group(rec.pgid);
            let trace = "The agent restarted while this command was running; the command was stopped.";
            replies.push(&rec.message_id, &reply_payload("Failed", BTreeMap::new(), trace.into()))?;
            tracing::warn!(command = %command_id, "reported a command interrupted by an agent restart");
            self.finish(&command_id);
        }
        Ok(())
    }
}

fn reply_payload(status: &str, runtime_status: BTreeMap<String, PluginRuntimeStatus>, trace: String) -> ReplyPayload {
    ReplyPayload {
        additional_info: AdditionalInfo {
            agent: AgentInfo { name: AGENT_NAME.into(), ver: AGENT_VERSION.into(), os: std::env::consts::OS.into() },
            date_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            run_id: String::new(),
        },
        document_status: status.to_owned(),
        document_trace_output: trace,
        runtime_status,
    }
}

pub(crate) async fn serve(client: Client, config: &Config) -> Result<(), AgentError> {
    let replies = Arc::new(Replies::open(&config.state_dir)?);
    let runs = Arc::new(Runs::open(&config.state_dir)?);
    runs.recover(&replies)?;
    let mut delivery = tokio::spawn(replies.clone().deliver(client.clone()));
    let mut health = tokio::spawn(heartbeat(client.clone(), config.endpoint.clone(), config.heartbeat));
    tokio::spawn(crate::trim::periodically());
    let mut backoff = Duration::from_secs(1);
    let get_messages = format!("{MESSAGES_PREFIX}GetMessages");
    loop {
        let req = GetMessagesRequest {
            destination: client.identity.instance_id.clone(),
            messages_request_id: uuid::Uuid::new_v4().to_string(),
            visibility_timeout_in_seconds: Some(10),
        };
        let polled: Result<GetMessagesResponse, CallError> = tokio::select! {
            r = client.call(&get_messages, &req, POLL_TIMEOUT) => r,
            e = &mut delivery => return Err(e.unwrap_or_else(|e| AgentError::State(e.to_string()))),
            e = &mut health => return Err(e.unwrap_or_else(|e| AgentError::State(e.to_string()))),
        };
        match polled {
            Ok(resp) => {
                backoff = Duration::from_secs(1);
                for m in resp.messages {
                    handle(&client, &replies, &runs, m).await?;
                }
            }
            Err(e) if e.is_refusal() => return Err(AgentError::Deregistered(e.to_string())),
            Err(e) => {
                tracing::warn!(error = %e, "polling for messages failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn ack(client: &Client, message_id: &str) {
    let req = AcknowledgeMessageRequest { message_id: message_id.to_owned() };
    let r: Result<serde_json::Value, CallError> =
        client.call(&format!("{MESSAGES_PREFIX}AcknowledgeMessage"), &req, Duration::from_secs(30)).await;
    if let Err(e) = r {
        // Not acknowledged: the message comes back and is recognised as known.
        tracing::warn!(error = %e, message = message_id, "acknowledging failed");
    }
}

async fn fail(client: &Client, message_id: &str) {
    let req = FailMessageRequest { message_id: message_id.to_owned(), failure_type: "InternalHandlerException".into() };
    let _: Result<serde_json::Value, CallError> =
        client.call(&format!("{MESSAGES_PREFIX}FailMessage"), &req, Duration::from_secs(30)).await;
}

async fn handle(client: &Client, replies: &Arc<Replies>, runs: &Arc<Runs>, m: Message) -> Result<(), AgentError> {
    if hex::encode(Sha256::digest(m.payload.as_bytes())) != m.payload_digest {
        tracing::warn!(message = %m.message_id, "payload digest does not match; refusing the message");
        fail(client, &m.message_id).await;
        return Ok(());
    }
    if m.topic.starts_with(TOPIC_CANCEL) {
        let Ok(p) = serde_json::from_str::<CancelCommandPayload>(&m.payload) else {
            fail(client, &m.message_id).await;
            return Ok(());
        };
        let switch = runs.active.lock().unwrap_or_else(|p| p.into_inner()).remove(&p.command_id);
        match switch {
            Some(tx) => {
                let _ = tx.send(());
            }
            None if !runs.known(&p.command_id) => {
                // Cancelled before it ran here.
                replies.push(&p.cancel_message_id, &reply_payload("Cancelled", BTreeMap::new(), String::new()))?;
                runs.finish(&p.command_id);
            }
            None => {}
        }
        ack(client, &m.message_id).await;
        return Ok(());
    }
    if !m.topic.starts_with(TOPIC_SEND) {
        fail(client, &m.message_id).await;
        return Ok(());
    }
    let Ok(p) = serde_json::from_str::<SendCommandPayload>(&m.payload) else {
        fail(client, &m.message_id).await;
        return Ok(());
    };
    if runs.known(&p.command_id) {
        ack(client, &m.message_id).await;
        return Ok(());
    }
    runs.record(&p.command_id, &RunRecord { message_id: m.message_id.clone(), pgid: 0 })?;
    replies.push(&m.message_id, &reply_payload("InProgress", BTreeMap::new(), String::new()))?;
    ack(client, &m.message_id).await;
    let (tx, rx) = oneshot::channel();
    runs.active.lock().unwrap_or_else(|p| p.into_inner()).insert(p.command_id.clone(), tx);
    let (replies, runs) = (replies.clone(), runs.clone());
    tokio::spawn(async move {
        let record = |pgid: i32| {
            let _ = runs.record(&p.command_id, &RunRecord { message_id: m.message_id.clone(), pgid });
        };
        let outcome = document::run(&p, record, rx).await;
        if let Err(e) = replies.push(&m.message_id, &reply_payload(outcome.status, outcome.plugins, outcome.trace)) {
            tracing::error!(error = %e, "could not queue a reply");
        }
        runs.finish(&p.command_id);
    });
    Ok(())
}

/// UpdateInstanceInformation now and every `every`; returns only if refused.
async fn heartbeat(client: Client, endpoint: String, every: Duration) -> AgentError {
    let (platform_name, platform_version) = os_release();
    loop {
        let req = UpdateInstanceInformationRequest {
            instance_id: client.identity.instance_id.clone(),
            agent_name: Some(AGENT_NAME.into()),
            agent_version: Some(AGENT_VERSION.into()),
            agent_status: Some("Active".into()),
            platform_type: Some(document::platform_type().into()),
            platform_name: Some(platform_name.clone()),
            platform_version: Some(platform_version.clone()),
            ip_address: local_ip(&endpoint),
            computer_name: Some(hostname()),
        };
        let r: Result<serde_json::Value, CallError> =
            client.call(&format!("AmazonSSM.{UPDATE_INFORMATION}"), &req, Duration::from_secs(30)).await;
        match r {
            Err(e) if e.is_refusal() => return AgentError::Deregistered(e.to_string()),
            Err(e) => tracing::warn!(error = %e, "health report failed"),
            Ok(_) => {}
        }
        tokio::time::sleep(every).await;
    }
}

/// NAME and VERSION_ID from /etc/os-release.
fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    (field("NAME"), field("VERSION_ID"))
}

/// The local address this node reaches the server from (no packet is sent: a UDP
/// `connect` only picks the route).
fn local_ip(endpoint: &str) -> Option<String> {
    let uri: http::Uri = endpoint.parse().ok()?;
    let host = uri.host()?;
    let port = uri.port_u16().unwrap_or(443);
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect((host, port)).ok()?;
    Some(sock.local_addr().ok()?.ip().to_string())
}
