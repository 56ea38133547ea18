//! LAMBDA tasks: one synchronous `Invoke` per invocation. A function error (the
//! `X-Amz-Function-Error` header) fails the invocation; the ExecutionId is Lambda's
//! request ID.

use async_trait::async_trait;
use aws_sdk_lambda::config::Region;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use casement_model::Scope;

use super::aws::{AwsClients, PerRegion};
use super::{Outcome, Runner, Started};
use crate::params::Request;

pub struct LambdaRunner {
    aws: AwsClients,
    endpoint: Option<String>,
    clients: PerRegion<aws_sdk_lambda::Client>,
}

impl LambdaRunner {
    pub fn new(aws: AwsClients, endpoint: Option<String>) -> Self {
        Self { aws, endpoint, clients: PerRegion::new() }
    }

    fn client(&self, region: &str) -> aws_sdk_lambda::Client {
        self.clients.get(region, || {
            let mut conf = aws_sdk_lambda::config::Builder::from(&self.aws.sdk).region(Region::new(region.to_owned()));
            if let Some(url) = &self.endpoint {
                conf = conf.endpoint_url(url);
            }
            aws_sdk_lambda::Client::from_conf(conf.build())
        })
    }
}

/// What a synchronous `Invoke` answered.
#[derive(Debug, Clone)]
pub struct Invoked {
    pub status_code: i32,
    /// `X-Amz-Function-Error` (`Handled`, `Unhandled`) when the function failed.
    pub function_error: Option<String>,
    pub log_result: Option<String>,
    pub payload: String,
    pub request_id: Option<String>,
}

/// One `Invoke` call's arguments.
#[derive(Debug, Clone, Default)]
pub struct Invoke {
    pub function_name: String,
    pub payload: Option<Vec<u8>>,
    pub qualifier: Option<String>,
    pub client_context: Option<String>,
    pub invocation_type: Option<String>,
    pub log_type: Option<String>,
}

impl LambdaRunner {
    /// Call the function in `region`; `Err` carries the failure in words, with Lambda's
    /// request ID when it answered.
    pub async fn invoke(&self, region: &str, i: Invoke) -> Result<Invoked, (String, Option<String>)> {
        let mut call = self.client(region).invoke().function_name(&i.function_name);
        if let Some(p) = i.payload {
            call = call.payload(Blob::new(p));
        }
        if let Some(q) = i.qualifier {
            call = call.qualifier(q);
        }
        if let Some(c) = i.client_context {
            call = call.client_context(c);
        }
        if let Some(t) = i.invocation_type {
            call = call.invocation_type(t.as_str().into());
        }
        if let Some(l) = i.log_type {
            call = call.log_type(l.as_str().into());
        }
        match call.send().await {
            Ok(out) => Ok(Invoked {
                status_code: out.status_code(),
                function_error: out.function_error().map(str::to_owned),
                log_result: out.log_result().map(str::to_owned),
                payload: out.payload().map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()).unwrap_or_default(),
                request_id: out.request_id().map(str::to_owned),
            }),
            Err(e) => Err((
                super::aws::sdk_error("Lambda Invoke", &e),
                e.raw_response().and_then(|r| r.headers().get("x-amzn-RequestId")).map(str::to_owned),
            )),
        }
    }
}

#[async_trait]
impl Runner for LambdaRunner {
    async fn start(&self, scope: &Scope, request: &Request) -> Started {
        let Request::Lambda { function_name, payload, qualifier, client_context } = request else {
            return Started::Done(Outcome::failed("not a LAMBDA request", None));
        };
        let call = Invoke {
            function_name: function_name.clone(),
            payload: payload.clone(),
            qualifier: qualifier.clone(),
            client_context: client_context.clone(),
            ..Invoke::default()
        };
        Started::Done(match self.invoke(&scope.region, call).await {
            Ok(out) => match out.function_error {
                Some(kind) => {
                    Outcome::failed(format!("Lambda function error ({kind}): {}", out.payload), out.request_id)
                }
                None => Outcome::success(out.request_id),
            },
            Err((message, id)) => Outcome::failed(message, id),
        })
    }
}
