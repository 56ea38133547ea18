//! The node's identity: registered once with the activation, then kept in
//! `<state-dir>/identity.json`, readable by the agent's user only (mode 0600): it holds
//! the node's secret key.

use std::path::Path;
use std::time::Duration;

use casement_protocol::agent::{RegisterManagedInstanceRequest, RegisterManagedInstanceResponse, REGISTER};
use serde::{Deserialize, Serialize};

use crate::client::{post, CallError};
use crate::http::Http;
use crate::{AgentError, Config};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub instance_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
}

const FILE: &str = "identity.json";

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AgentError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| AgentError::State(format!("{}: {e}", tmp.display())))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| AgentError::State(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| AgentError::State(format!("{}: {e}", path.display())))
}

pub(crate) async fn load_or_register(config: &Config) -> Result<Identity, AgentError> {
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|e| AgentError::State(format!("{}: {e}", config.state_dir.display())))?;
    let path = config.state_dir.join(FILE);
    if let Ok(bytes) = std::fs::read(&path) {
        return serde_json::from_slice(&bytes).map_err(|e| AgentError::State(format!("{}: {e}", path.display())));
    }
    let (code, id) = match (&config.activation_code, &config.activation_id) {
        (Some(c), Some(i)) => (c.clone(), i.clone()),
        _ => {
            return Err(AgentError::Config(
                "this node is not registered yet: give --activation-code and --activation-id".into(),
            ))
        }
    };
    let identity = register(&config.endpoint, &code, &id, &config.region).await?;
    let bytes = serde_json::to_vec_pretty(&identity).map_err(|e| AgentError::State(e.to_string()))?;
    write_private(&path, &bytes)?;
    tracing::info!(instance_id = %identity.instance_id, "registered");
    Ok(identity)
}

/// Register a node with an activation (retrying while the server cannot be reached).
pub async fn register(endpoint_url: &str, code: &str, id: &str, region: &str) -> Result<Identity, AgentError> {
    let http = Http::new(endpoint_url)?;
    let req = RegisterManagedInstanceRequest {
        activation_code: code.to_owned(),
        activation_id: id.to_owned(),
        public_key: None,
        public_key_type: None,
        fingerprint: Some(hostname()),
    };
    let mut backoff = Duration::from_secs(1);
    let resp: RegisterManagedInstanceResponse = loop {
        match post(&http, &format!("AmazonSSM.{REGISTER}"), &req, None, Duration::from_secs(30)).await {
            Ok(r) => break r,
            Err(CallError::Api(kind, msg)) => return Err(AgentError::Refused(format!("{kind}: {msg}"))),
            Err(CallError::Network(e)) => {
                tracing::warn!(error = %e, "registration failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    };
    Ok(Identity {
        instance_id: resp.instance_id,
        access_key_id: resp.access_key_id,
        secret_access_key: resp.secret_access_key,
        region: if resp.region.is_empty() { region.to_owned() } else { resp.region },
    })
}

pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
