//! From operation name to handler. The request body was validated against the model
//! before it gets here; deserializing it into the operation's request type cannot fail
//! on anything the model allows.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use casement_protocol::ApiError;

use crate::{
    activations, automation, commands, documents, executions, nodes, schedule, tags, targets, tasks, windows, Api,
    Context,
};

async fn call<Req, Res, Fut>(body: Value, handler: impl FnOnce(Req) -> Fut) -> Result<Vec<u8>, ApiError>
where
    Req: DeserializeOwned,
    Res: Serialize,
    Fut: std::future::Future<Output = Result<Res, ApiError>>,
{
    let req: Req = serde_json::from_value(body).map_err(|e| ApiError::Serialization(e.to_string()))?;
    response_body(&handler(req).await?)
}

/// A response serialized for the wire. Most are a few hundred bytes: one allocation
/// instead of a doubling series.
pub(crate) fn response_body(res: &impl Serialize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, res).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(out)
}

pub use casement_protocol::awsjson::not_served;

/// The served operations, listed once: [`dispatch`] and [`is_served`] both come from here.
macro_rules! operations {
    ($($name:literal => $handler:path),* $(,)?) => {
        /// Run one operation and serialize its result.
        pub async fn dispatch(api: &Api, ctx: &Context, op: &str, body: Value) -> Result<Vec<u8>, ApiError> {
            match op {
                $($name => call(body, |r| $handler(api, ctx, r)).await,)*
                _ => Err(not_served(op)),
            }
        }

        /// Whether [`dispatch`] serves `op`.
        pub fn is_served(op: &str) -> bool {
            matches!(op, $($name)|*)
        }
    };
}

operations! {
    "CreateMaintenanceWindow" => windows::create,
    "GetMaintenanceWindow" => windows::get,
    "UpdateMaintenanceWindow" => windows::update,
    "DeleteMaintenanceWindow" => windows::delete,
    "DescribeMaintenanceWindows" => windows::describe,
    "DescribeMaintenanceWindowsForTarget" => windows::describe_for_target,
    "DescribeMaintenanceWindowSchedule" => schedule::describe,
    "RegisterTargetWithMaintenanceWindow" => targets::register,
    "UpdateMaintenanceWindowTarget" => targets::update,
    "DeregisterTargetFromMaintenanceWindow" => targets::deregister,
    "DescribeMaintenanceWindowTargets" => targets::describe,
    "RegisterTaskWithMaintenanceWindow" => tasks::register,
    "UpdateMaintenanceWindowTask" => tasks::update,
    "GetMaintenanceWindowTask" => tasks::get,
    "DeregisterTaskFromMaintenanceWindow" => tasks::deregister,
    "DescribeMaintenanceWindowTasks" => tasks::describe,
    "DescribeMaintenanceWindowExecutions" => executions::describe_executions,
    "GetMaintenanceWindowExecution" => executions::get_execution,
    "CancelMaintenanceWindowExecution" => executions::cancel,
    "DescribeMaintenanceWindowExecutionTasks" => executions::describe_tasks,
    "GetMaintenanceWindowExecutionTask" => executions::get_task,
    "DescribeMaintenanceWindowExecutionTaskInvocations" => executions::describe_invocations,
    "GetMaintenanceWindowExecutionTaskInvocation" => executions::get_invocation,
    "AddTagsToResource" => tags::add,
    "RemoveTagsFromResource" => tags::remove,
    "ListTagsForResource" => tags::list,
    "SendCommand" => commands::send,
    "ListCommands" => commands::list,
    "ListCommandInvocations" => commands::list_invocations,
    "GetCommandInvocation" => commands::get_invocation,
    "CancelCommand" => commands::cancel,
    "CreateActivation" => activations::create,
    "DescribeActivations" => activations::describe,
    "DeleteActivation" => activations::delete,
    "DescribeInstanceInformation" => nodes::describe,
    "DeregisterManagedInstance" => nodes::deregister,
    "CreateDocument" => documents::create,
    "GetDocument" => documents::get,
    "DescribeDocument" => documents::describe,
    "UpdateDocument" => documents::update,
    "UpdateDocumentDefaultVersion" => documents::set_default,
    "ListDocumentVersions" => documents::list_versions,
    "ListDocuments" => documents::list,
    "DeleteDocument" => documents::delete,
    "DescribeDocumentPermission" => documents::describe_permission,
    "ModifyDocumentPermission" => documents::modify_permission,
    "StartAutomationExecution" => automation::start,
    "GetAutomationExecution" => automation::get,
    "DescribeAutomationExecutions" => automation::describe,
    "DescribeAutomationStepExecutions" => automation::describe_steps,
    "StopAutomationExecution" => automation::stop,
    "SendAutomationSignal" => automation::signal,
}
