//! From operation name to handler. The request body was validated against the model
//! before it gets here; deserializing it into the operation's request type cannot fail
//! on anything the model allows.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use casement_protocol::ApiError;

use crate::{schedule, tags, targets, tasks, windows, Api, Context};

async fn call<Req, Res, Fut>(body: Value, handler: impl FnOnce(Req) -> Fut) -> Result<Vec<u8>, ApiError>
where
    Req: DeserializeOwned,
    Res: Serialize,
    Fut: std::future::Future<Output = Result<Res, ApiError>>,
{
    let req: Req = serde_json::from_value(body).map_err(|e| ApiError::Serialization(e.to_string()))?;
    let res = handler(req).await?;
    serde_json::to_vec(&res).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Run one operation and serialize its result.
pub async fn dispatch(api: &Api, ctx: &Context, op: &str, body: Value) -> Result<Vec<u8>, ApiError> {
    match op {
        "CreateMaintenanceWindow" => call(body, |r| windows::create(api, ctx, r)).await,
        "GetMaintenanceWindow" => call(body, |r| windows::get(api, ctx, r)).await,
        "UpdateMaintenanceWindow" => call(body, |r| windows::update(api, ctx, r)).await,
        "DeleteMaintenanceWindow" => call(body, |r| windows::delete(api, ctx, r)).await,
        "DescribeMaintenanceWindows" => call(body, |r| windows::describe(api, ctx, r)).await,
        "DescribeMaintenanceWindowsForTarget" => call(body, |r| windows::describe_for_target(api, ctx, r)).await,
        "DescribeMaintenanceWindowSchedule" => call(body, |r| schedule::describe(api, ctx, r)).await,
        "RegisterTargetWithMaintenanceWindow" => call(body, |r| targets::register(api, ctx, r)).await,
        "UpdateMaintenanceWindowTarget" => call(body, |r| targets::update(api, ctx, r)).await,
        "DeregisterTargetFromMaintenanceWindow" => call(body, |r| targets::deregister(api, ctx, r)).await,
        "DescribeMaintenanceWindowTargets" => call(body, |r| targets::describe(api, ctx, r)).await,
        "RegisterTaskWithMaintenanceWindow" => call(body, |r| tasks::register(api, ctx, r)).await,
        "UpdateMaintenanceWindowTask" => call(body, |r| tasks::update(api, ctx, r)).await,
        "GetMaintenanceWindowTask" => call(body, |r| tasks::get(api, ctx, r)).await,
        "DeregisterTaskFromMaintenanceWindow" => call(body, |r| tasks::deregister(api, ctx, r)).await,
        "DescribeMaintenanceWindowTasks" => call(body, |r| tasks::describe(api, ctx, r)).await,
        "AddTagsToResource" => call(body, |r| tags::add(api, ctx, r)).await,
        "RemoveTagsFromResource" => call(body, |r| tags::remove(api, ctx, r)).await,
        "ListTagsForResource" => call(body, |r| tags::list(api, ctx, r)).await,
        // In SSM's model but not served yet: answered as AWS answers an operation it
        // does not have, and listed as such in the README.
        _ => Err(ApiError::UnknownOperation(Some(format!("Operation {op} is not supported by this server yet")))),
    }
}

/// Whether [`dispatch`] serves `op`.
pub fn is_served(op: &str) -> bool {
    matches!(
        op,
        "CreateMaintenanceWindow"
            | "GetMaintenanceWindow"
            | "UpdateMaintenanceWindow"
            | "DeleteMaintenanceWindow"
            | "DescribeMaintenanceWindows"
            | "DescribeMaintenanceWindowsForTarget"
            | "DescribeMaintenanceWindowSchedule"
            | "RegisterTargetWithMaintenanceWindow"
            | "UpdateMaintenanceWindowTarget"
            | "DeregisterTargetFromMaintenanceWindow"
            | "DescribeMaintenanceWindowTargets"
            | "RegisterTaskWithMaintenanceWindow"
            | "UpdateMaintenanceWindowTask"
            | "GetMaintenanceWindowTask"
            | "DeregisterTaskFromMaintenanceWindow"
            | "DescribeMaintenanceWindowTasks"
            | "AddTagsToResource"
            | "RemoveTagsFromResource"
            | "ListTagsForResource"
    )
}
