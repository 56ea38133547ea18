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

#[async_trait]
impl Runner for LambdaRunner {
    async fn start(&self, scope: &Scope, request: &Request) -> Started {
        let Request::Lambda { function_name, payload, qualifier, client_context } = request else {
            return Started::Done(Outcome::failed("not a LAMBDA request", None));
        };
        let mut call = self.client(&scope.region).invoke().function_name(function_name);
        if let Some(p) = payload {
            call = call.payload(Blob::new(p.clone()));
        }
        if let Some(q) = qualifier {
            call = call.qualifier(q);
        }
        if let Some(c) = client_context {
            call = call.client_context(c);
        }
        Started::Done(match call.send().await {
            Ok(out) => {
                let id = out.request_id().map(str::to_owned);
                match out.function_error() {
                    Some(kind) => {
                        let body =
                            out.payload().map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()).unwrap_or_default();
                        Outcome::failed(format!("Lambda function error ({kind}): {body}"), id)
                    }
                    None => Outcome::success(id),
                }
            }
            Err(e) => Outcome::failed(
                format!("Lambda Invoke failed: {}", aws_sdk_lambda::error::DisplayErrorContext(&e)),
                e.raw_response().and_then(|r| r.headers().get("x-amzn-RequestId")).map(str::to_owned),
            ),
        })
    }
}
