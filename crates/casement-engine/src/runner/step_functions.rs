//! STEP_FUNCTIONS tasks: `StartExecution`, then `DescribeExecution` until the execution
//! ends. The ExecutionId is the execution ARN; it is recorded as soon as it is known,
//! so after a restart the invocation is followed rather than started again.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sfn::config::Region;
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use casement_model::{ExecutionStatus, Scope};

use super::aws::{AwsClients, PerRegion};
use super::{clip, Outcome, Runner, Started};
use crate::params::Request;

pub struct StepFunctionsRunner {
    aws: AwsClients,
    endpoint: Option<String>,
    poll: Duration,
    clients: PerRegion<aws_sdk_sfn::Client>,
}

impl StepFunctionsRunner {
    pub fn new(aws: AwsClients, endpoint: Option<String>, poll: Duration) -> Self {
        Self { aws, endpoint, poll, clients: PerRegion::new() }
    }

    fn client(&self, region: &str) -> aws_sdk_sfn::Client {
        self.clients.get(region, || {
            let mut conf = aws_sdk_sfn::config::Builder::from(&self.aws.sdk).region(Region::new(region.to_owned()));
            if let Some(url) = &self.endpoint {
                conf = conf.endpoint_url(url);
            }
            aws_sdk_sfn::Client::from_conf(conf.build())
        })
    }
}

/// A state machine execution as DescribeExecution shows it.
#[derive(Debug, Clone)]
pub struct SfnExecution {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: Option<String>,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED…
    pub status: String,
    pub input: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub start_date: f64,
    pub stop_date: Option<f64>,
}

impl StepFunctionsRunner {
    /// StartExecution in `region`. The same name and input again is the same execution
    /// (Step Functions' own idempotency), which makes a repeat after a restart safe.
    pub async fn start_execution(
        &self,
        region: &str,
        state_machine_arn: &str,
        name: &str,
        input: Option<String>,
    ) -> Result<String, String> {
        let call =
            self.client(region).start_execution().state_machine_arn(state_machine_arn).name(name).set_input(input);
        match call.send().await {
            Ok(out) => Ok(out.execution_arn().to_owned()),
            Err(e) => Err(super::aws::sdk_error("Step Functions StartExecution", &e)),
        }
    }

    pub async fn describe_execution(&self, region: &str, execution_arn: &str) -> Result<SfnExecution, String> {
        match self.client(region).describe_execution().execution_arn(execution_arn).send().await {
            Ok(out) => Ok(SfnExecution {
                execution_arn: out.execution_arn().to_owned(),
                state_machine_arn: out.state_machine_arn().to_owned(),
                name: out.name().map(str::to_owned),
                status: out.status().as_str().to_owned(),
                input: out.input().map(str::to_owned),
                output: out.output().map(str::to_owned),
                error: out.error().map(str::to_owned),
                cause: out.cause().map(str::to_owned),
                start_date: out.start_date().as_secs_f64(),
                stop_date: out.stop_date().map(|d| d.as_secs_f64()),
            }),
            Err(e) => Err(super::aws::sdk_error("Step Functions DescribeExecution", &e)),
        }
    }
}

#[async_trait]
impl Runner for StepFunctionsRunner {
    async fn start(&self, scope: &Scope, request: &Request) -> Started {
        let Request::StepFunctions { state_machine_arn, input, name } = request else {
            return Started::Done(Outcome::failed("not a STEP_FUNCTIONS request", None));
        };
        let call = self
            .client(&scope.region)
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .set_input(input.clone());
        match call.send().await {
            Ok(out) => Started::Running(out.execution_arn().to_owned()),
            Err(e) => Started::Done(Outcome::failed(super::aws::sdk_error("Step Functions StartExecution", &e), None)),
        }
    }

    async fn follow(&self, scope: &Scope, _request: &Request, execution_arn: &str) -> Outcome {
        let client = self.client(&scope.region);
        let id = Some(execution_arn.to_owned());
        let mut transient_errors = 0;
        loop {
            match client.describe_execution().execution_arn(execution_arn).send().await {
                Ok(out) => {
                    transient_errors = 0;
                    let details = || {
                        let cause = [out.error(), out.cause()].into_iter().flatten().collect::<Vec<_>>().join(": ");
                        (!cause.is_empty()).then(|| clip(cause))
                    };
                    let status = match out.status() {
                        SfnStatus::Running | SfnStatus::PendingRedrive => None,
                        SfnStatus::Succeeded => Some(ExecutionStatus::Success),
                        SfnStatus::TimedOut => Some(ExecutionStatus::TimedOut),
                        SfnStatus::Aborted => Some(ExecutionStatus::Cancelled),
                        _ => Some(ExecutionStatus::Failed),
                    };
                    if let Some(status) = status {
                        let status_details = if status == ExecutionStatus::Success { None } else { details() };
                        return Outcome { status, status_details, execution_id: id };
                    }
                }
                Err(e) => {
                    transient_errors += 1;
                    if transient_errors >= 30 {
                        return Outcome::failed(super::aws::sdk_error("Step Functions DescribeExecution", &e), id);
                    }
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    fn restartable(&self) -> bool {
        true
    }
}
