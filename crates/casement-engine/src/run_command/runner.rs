//! RUN_COMMAND window tasks: each invocation is a Run Command command to its node; the
//! invocation follows the command to its end and takes its status. The CommandId is
//! derived from the invocation's ID, so a server restarted between sending the command
//! and recording its ID finds the same command instead of sending a second.

use std::sync::Arc;

use async_trait::async_trait;
use casement_model::{Command, ExecutionStatus, Scope};

use super::{RunCommand, SendCommand, SendError};
use crate::params::Request;
use crate::runner::{Outcome, Runner, Started};

pub struct RunCommandRunner {
    rc: Arc<RunCommand>,
}

impl RunCommandRunner {
    pub fn new(rc: Arc<RunCommand>) -> Self {
        Self { rc }
    }
}

/// A UUID made from the invocation's, different from it (AWS shows the two differing).
fn command_id_for(invocation_id: &str) -> String {
    match uuid::Uuid::parse_str(invocation_id) {
        Ok(u) => uuid::Uuid::from_u128(u.as_u128() ^ 0x5a5a_5a5a_0000_0000_0000_0000_5a5a_5a5a).to_string(),
        Err(_) => casement_model::ids::new_uuid(),
    }
}

fn outcome(cmd: &Command) -> Option<Outcome> {
    let status = match cmd.status.as_str() {
        "Success" => ExecutionStatus::Success,
        "Failed" => ExecutionStatus::Failed,
        "TimedOut" => ExecutionStatus::TimedOut,
        "Cancelled" => ExecutionStatus::Cancelled,
        _ => return None,
    };
    Some(Outcome {
        status,
        status_details: Some(cmd.status_details.clone()),
        execution_id: Some(cmd.command_id.clone()),
    })
}

#[async_trait]
impl Runner for RunCommandRunner {
    async fn start(&self, scope: &Scope, request: &Request) -> Started {
        let Request::RunCommand { invocation_id, instance_ids, document_name, params, max_concurrency, max_errors } =
            request
        else {
            return Started::Done(Outcome::failed("Not a RUN_COMMAND request.", None));
        };
        let send = SendCommand {
            command_id: Some(command_id_for(invocation_id)),
            instance_ids: instance_ids.clone(),
            document_name: document_name.clone(),
            document_version: params.document_version.clone(),
            comment: params.comment.clone(),
            parameters: params.parameters.clone().unwrap_or_default(),
            timeout_seconds: params.timeout_seconds.map(i64::from),
            max_concurrency: max_concurrency.clone(),
            max_errors: max_errors.clone(),
            output_s3_bucket_name: params.output_s3_bucket_name.clone(),
            output_s3_key_prefix: params.output_s3_key_prefix.clone(),
            service_role: params.service_role_arn.clone(),
            ..SendCommand::default()
        };
        match self.rc.send(scope, send).await {
            Ok(cmd) => Started::Running(cmd.command_id),
            Err(SendError::Store(e)) => {
                Started::Done(Outcome::failed(format!("Sending the command failed: {e}"), None))
            }
            Err(e) => Started::Done(Outcome::failed(e.to_string(), None)),
        }
    }

    async fn follow(&self, scope: &Scope, _request: &Request, execution_id: &str) -> Outcome {
        loop {
            let changed = self.rc.changed.notified();
            match self.rc.store.get_command(scope, execution_id).await {
                Ok(Some(cmd)) => {
                    if let Some(o) = outcome(&cmd) {
                        return o;
                    }
                }
                Ok(None) => return Outcome::failed("The command of this invocation no longer exists.", None),
                Err(e) => tracing::warn!(error = %e, "reading a command failed"),
            }
            let _ = tokio::time::timeout(self.rc.poll, changed).await;
        }
    }

    async fn cancel(&self, scope: &Scope, execution_id: &str) {
        if let Err(e) = self.rc.cancel(scope, execution_id, None).await {
            tracing::warn!(error = %e, command = execution_id, "cancelling a window's command failed");
        }
    }

    fn cancellable(&self) -> bool {
        true
    }

    fn restartable(&self) -> bool {
        true
    }
}
