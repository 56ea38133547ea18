//! Window tasks and their invocation parameters, member for member as SSM models them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Target, WindowId, WindowTaskId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskType {
    RunCommand,
    Automation,
    StepFunctions,
    Lambda,
}

impl TaskType {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::RunCommand => "RUN_COMMAND",
            TaskType::Automation => "AUTOMATION",
            TaskType::StepFunctions => "STEP_FUNCTIONS",
            TaskType::Lambda => "LAMBDA",
        }
    }
}

macro_rules! aws_struct {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            $(
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }
    };
}

aws_struct!(TaskParameterValueExpression { values: Vec<String> });
aws_struct!(LoggingInfo { s3_bucket_name: String, s3_key_prefix: String, s3_region: String });
aws_struct!(Alarm { name: String });
aws_struct!(AlarmConfiguration { ignore_poll_alarm_failure: bool, alarms: Vec<Alarm> });
aws_struct!(CloudWatchOutputConfig { cloud_watch_log_group_name: String, cloud_watch_output_enabled: bool });
aws_struct!(NotificationConfig {
    notification_arn: String,
    notification_events: Vec<String>,
    notification_type: String,
});
aws_struct!(RunCommandParameters {
    comment: String,
    cloud_watch_output_config: CloudWatchOutputConfig,
    document_hash: String,
    document_hash_type: String,
    document_version: String,
    notification_config: NotificationConfig,
    output_s3_bucket_name: String,
    output_s3_key_prefix: String,
    parameters: BTreeMap<String, Vec<String>>,
    service_role_arn: String,
    timeout_seconds: i32,
});
aws_struct!(AutomationParameters {
    document_version: String,
    parameters: BTreeMap<String, Vec<String>>,
});
aws_struct!(StepFunctionsParameters { input: String, name: String });
aws_struct!(
    /// `Payload` stays base64 as it came on the wire, so it round-trips byte for byte.
    LambdaParameters { client_context: String, qualifier: String, payload: String }
);
aws_struct!(TaskInvocationParameters {
    run_command: RunCommandParameters,
    automation: AutomationParameters,
    step_functions: StepFunctionsParameters,
    lambda: LambdaParameters,
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WindowTask {
    pub window_id: WindowId,
    pub window_task_id: WindowTaskId,
    pub task_arn: String,
    pub task_type: TaskType,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_parameters: Option<BTreeMap<String, TaskParameterValueExpression>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_invocation_parameters: Option<TaskInvocationParameters>,
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging_info: Option<LoggingInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutoff_behavior: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_configuration: Option<AlarmConfiguration>,
}

impl WindowTask {
    /// The window target IDs this task names with `Key=WindowTargetIds`.
    pub fn window_target_ids(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().filter(|t| t.key() == "WindowTargetIds").flat_map(|t| t.values().iter().map(String::as_str))
    }
}
