//! The HTTP front: one `POST /` endpoint for every operation (awsJson 1.1), plus
//! `GET /health` and `GET /metrics`. Every request passes the same gates in AWS's order
//! — size, signature, operation, JSON, model validation — before its handler runs, and
//! every failure leaves here in AWS's error shape.
//!
//! This is hyper with a `service_fn`, no web framework: the API has a single route, and
//! a router's per-request work (matching, extensions, boxed bodies) measured as a large
//! share of a small request's cost (BENCHMARKS.md).

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use casement_api::{Api, ApiConfig, Context};
use casement_engine::automation::{AutomationConfig, AutomationRunner, Automations, SsmApi};
use casement_engine::outbox::{EventBridgeSink, FileSink, Sink, WebhookSink};
use casement_engine::runner::{AwsClients, LambdaRunner, StepFunctionsRunner};
use casement_engine::{Engine, EngineConfig, RunCommand, RunCommandRunner, Runners, Signals, SystemClock};
use casement_model::{Scope, TaskType};
use casement_protocol::awsjson::{self, CONTENT_TYPE, MAX_BODY_BYTES};
use casement_protocol::sigv4::{self, AuthMode, Authorization, StaticCredentials, Verifier};
use casement_protocol::{validate, ApiError};
use casement_store::sqlite::{SqliteStore, Synchronous};
use casement_store::{PgStore, Store};
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};

use crate::cli::{AuthArg, ServeArgs, SyncArg};
use crate::conn;
use crate::metrics::Metrics;

/// Header names used on every request, built once (a `&str` lookup parses the name).
static X_AMZ_TARGET: http::HeaderName = http::HeaderName::from_static("x-amz-target");
static X_AMZN_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-amzn-requestid");
static X_AMZN_ERROR_TYPE: http::HeaderName = http::HeaderName::from_static("x-amzn-errortype");

pub struct AppState {
    api: Api,
    verifier: Verifier<StaticCredentials>,
    metrics: Metrics,
    /// How long a request body may take to arrive.
    body_timeout: std::time::Duration,
}

/// Open the store and load the credentials the arguments name.
pub async fn build_state(args: &ServeArgs) -> anyhow::Result<Arc<AppState>> {
    let credentials = crate::credentials::load(args)?;
    let store: Arc<dyn Store> = match args.database_url.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Arc::new(
            PgStore::connect(url, args.database_pool_size)
                .await
                .context("connecting to PostgreSQL (--database-url)")?,
        ),
        other => {
            let dir = match other {
                None => args.data_dir.clone(),
                Some(url) if url.starts_with("sqlite://") => url["sqlite://".len()..].into(),
                Some(url) => bail!("unsupported --database-url {url:?}: expected postgres://… or sqlite://PATH"),
            };
            let sync = if args.sqlite_synchronous == SyncArg::Full { Synchronous::Full } else { Synchronous::Normal };
            Arc::new(SqliteStore::open(&dir, sync).with_context(|| format!("opening the store in {}", dir.display()))?)
        }
    };
    let mode = if args.auth == AuthArg::AcceptAny { AuthMode::AcceptAny } else { AuthMode::Verify };
    // Compile the model before the first request rather than during it.
    let _ = validate::model();
    let signals = Arc::new(Signals::default());
    // Run Command serves agents even with --no-engine; only windows stop running.
    // Waits (agents' polls, RUN_COMMAND invocations) re-read the store for changes made
    // through another server: each second on PostgreSQL. On SQLite this process makes every
    // change and wakes its waiters itself, so idle agents cost no reads.
    let shared_store = args.database_url.as_deref().is_some_and(|u| u.starts_with("postgres"));
    let reread = std::time::Duration::from_secs(if shared_store { 1 } else { 20 });
    let run_command = RunCommand::new(store.clone(), Arc::new(SystemClock), reread);
    run_command.start();
    // Automations started through the API run with or without the window engine.
    let automations = Automations::new(
        store.clone(),
        Arc::new(SystemClock),
        run_command.clone(),
        AutomationConfig {
            concurrency: args.automation_concurrency.max(1) as usize,
            lease_ms: i64::from(args.execution_lease_seconds.max(1)) * 1_000,
            reread,
            ..AutomationConfig::default()
        },
    );
    automations.run_housekeeping();
    if !args.no_engine {
        start_engine(args, store.clone(), signals.clone(), run_command.clone(), automations.clone()).await?;
    }
    let config = ApiConfig {
        aws_quotas: args.aws_quotas,
        connection_lost_ms: i64::from(args.connection_lost_seconds.max(1)) * 1_000,
        max_poll: std::time::Duration::from_secs(u64::from(args.agent_poll_seconds.max(1))),
    };
    let state = Arc::new(AppState {
        body_timeout: std::time::Duration::from_secs(u64::from(args.body_timeout_seconds.max(1))),
        api: Api::new(store, config, signals, run_command, automations),
        verifier: match args.regions.as_str() {
            "any" => Verifier::new(credentials, mode, args.account_id.clone()),
            "commercial" => Verifier::new(credentials, mode, args.account_id.clone())
                .with_regions(sigv4::COMMERCIAL_REGIONS.iter().map(|r| r.to_string())),
            list => Verifier::new(credentials, mode, args.account_id.clone())
                .with_regions(list.split(',').map(|r| r.trim().to_owned()).filter(|r| !r.is_empty())),
        },
        metrics: Metrics::new(),
    });
    state.api.automations.set_ssm_api(Arc::new(LocalSsm { state: Arc::downgrade(&state) }));
    Ok(state)
}

/// SSM's API as runbooks call it (aws:executeAwsApi and its kin): the model's validation
/// and the same handlers as a request, acting as the execution's account.
struct LocalSsm {
    state: std::sync::Weak<AppState>,
}

#[async_trait::async_trait]
impl SsmApi for LocalSsm {
    async fn call(
        &self,
        scope: &Scope,
        op: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, (String, String)> {
        let wire = |e: ApiError| (e.code().to_owned(), e.message().unwrap_or_default().to_owned());
        let state = self
            .state
            .upgrade()
            .ok_or_else(|| ("InternalServerError".to_owned(), "The server is stopping.".to_owned()))?;
        if !casement_api::is_served(op) {
            return Err(wire(casement_api::not_served(op)));
        }
        validate::model().validate_input(op, &input).map_err(wire)?;
        let ctx =
            Context { scope: scope.clone(), principal: String::new(), now_ms: chrono::Utc::now().timestamp_millis() };
        let bytes = casement_api::dispatch(&state.api, &ctx, op, input).await.map_err(wire)?;
        serde_json::from_slice(&bytes).map_err(|e| ("InternalServerError".to_owned(), e.to_string()))
    }
}

/// Start the scheduler, orchestrator and event delivery on this runtime.
async fn start_engine(
    args: &ServeArgs,
    store: Arc<dyn Store>,
    signals: Arc<Signals>,
    run_command: Arc<RunCommand>,
    automations: Arc<Automations>,
) -> anyhow::Result<()> {
    let aws = AwsClients::load().await;
    let lambda = Arc::new(LambdaRunner::new(aws.clone(), args.lambda_endpoint.clone()));
    let step_functions = Arc::new(StepFunctionsRunner::new(
        aws.clone(),
        args.stepfunctions_endpoint.clone(),
        std::time::Duration::from_millis(args.stepfunctions_poll_ms.max(10)),
    ));
    automations.set_aws(lambda.clone(), step_functions.clone());
    let runners = Runners::default()
        .with(TaskType::RunCommand, Arc::new(RunCommandRunner::new(run_command)))
        .with(TaskType::Automation, Arc::new(AutomationRunner::new(automations)))
        .with(TaskType::Lambda, lambda)
        .with(TaskType::StepFunctions, step_functions);
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    if let Some(path) = &args.events_file {
        sinks.push(Arc::new(FileSink { path: path.clone() }));
    }
    if let Some(url) = &args.events_webhook {
        sinks.push(Arc::new(WebhookSink::new(url).map_err(anyhow::Error::msg)?));
    }
    if let Some(endpoint) = &args.eventbridge_endpoint {
        let endpoint = (endpoint != "aws").then(|| endpoint.clone());
        sinks.push(Arc::new(EventBridgeSink::new(
            &aws,
            &args.eventbridge_region,
            endpoint,
            args.event_bus_name.clone(),
        )));
    }
    let config = EngineConfig {
        retention_ms: i64::from(args.history_retention_days) * 24 * 3_600_000,
        lease_ms: i64::from(args.execution_lease_seconds.max(1)) * 1_000,
        ..EngineConfig::default()
    };
    let engine = Engine::new(store, Arc::new(SystemClock), runners, signals, config);
    engine.start(sinks);
    Ok(())
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let state = build_state(&args).await?;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %args.data_dir.display(), auth = ?args.auth, "casement listening");
    // Tests and scripts read the bound address from this line.
    println!("casement listening on http://{addr}");
    let limits = conn::Limits {
        header_timeout: std::time::Duration::from_secs(u64::from(args.header_timeout_seconds.max(1))),
        idle_timeout: std::time::Duration::from_secs(u64::from(args.idle_timeout_seconds.max(1))),
        body_timeout: state.body_timeout,
        max_connections: args.max_connections.max(1) as usize,
    };
    accept_loop(listener, state, limits).await;
    tracing::info!("casement stopped");
    Ok(())
}

/// Serve connections until SIGTERM/SIGINT, then let in-flight requests finish (up to
/// 10 s). A hand-written loop over hyper's HTTP/1 connection rather than `axum::serve`:
/// measured, `axum::serve` (hyper-util's auto builder) cost a third of the throughput of
/// small requests on this machine (see BENCHMARKS.md). Each connection is watched
/// (`conn`): trickled heads, idle keep-alive and the connection cap.
async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<AppState>, limits: conn::Limits) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    let open = Arc::new(conn::Count::default());
    let mut backoff = std::time::Duration::from_millis(10);
    let mut failing = false;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => {
                        backoff = std::time::Duration::from_millis(10);
                        failing = false;
                        stream
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off (up to a second)
                        // rather than spin, and say so once rather than per attempt.
                        if !failing {
                            tracing::warn!(error = %e, "accept failed; backing off until it succeeds");
                            failing = true;
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                        continue;
                    }
                };
                // Past the cap, a new connection is closed at once: the ones being served
                // keep their descriptors.
                let Some(slot) = open.take(limits.max_connections) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let activity = conn::Activity::new();
                let state = state.clone();
                let served = activity.clone();
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    let in_flight = served.begin();
                    async move {
                        let response = handle(&state, req).await;
                        drop(in_flight);
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                // Head and body copied into one buffer and sent with one plain write: our
                // answers are small, and the copy cost less than a two-part writev
                // (A/B in BENCHMARKS.md).
                let io = hyper_util::rt::TokioIo::new(conn::Watched::new(stream, activity.clone()));
                let conn = hyper::server::conn::http1::Builder::new().writev(false).serve_connection(io, service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _slot = slot;
                    tokio::select! {
                        _ = conn => {}
                        _ = activity.expired(limits) => {}
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    // Agents' held polls answer now (empty): stopping waits only for real work.
    state.api.run_command.stop_polls();
    if tokio::time::timeout(std::time::Duration::from_secs(10), graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after 10 s; exiting anyway");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Answer one HTTP request. Generic over the body so benchmarks and tests can call it
/// in-process.
pub async fn handle<B>(state: &AppState, request: Request<B>) -> Response<Full<Bytes>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let mut id_buf = [0u8; 36];
    let request_id = casement_model::ids::uuid_into(&mut id_buf);
    match (&method, uri.path()) {
        (&Method::GET, "/health") => {
            let ok = state.api.store.ping().await.is_ok();
            let (status, text) =
                if ok { (StatusCode::OK, "ok\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n") };
            return plain(status, request_id, text.into());
        }
        (&Method::GET, "/metrics") => return plain(StatusCode::OK, request_id, state.metrics.render()),
        _ => {}
    }
    // Parsed once: the metrics count it even when the request fails before dispatch.
    let op = awsjson::operation_from_target(headers.get(&X_AMZ_TARGET).and_then(|v| v.to_str().ok()));
    let result = AssertUnwindSafe(api_call(state, &method, &uri, &headers, body, op.clone()))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!(%request_id, "handler panicked");
            Err(ApiError::Internal("An internal error occurred.".into()))
        });
    let op = op.ok();
    state.metrics.record(op, result.is_ok());
    match result {
        Ok(bytes) => json_response(StatusCode::OK, request_id, bytes, None),
        Err(e) => {
            tracing::debug!(%request_id, op = op.unwrap_or("-"), error = %e, "request failed");
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            json_response(status, request_id, e.body(), Some(e.code()))
        }
    }
}

async fn api_call<B>(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: B,
    op: Result<&str, ApiError>,
) -> Result<Vec<u8>, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large =
        || ApiError::RequestEntityTooLarge(format!("Request body exceeds the limit of {MAX_BODY_BYTES} bytes"));
    let declared =
        headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let collected =
        tokio::time::timeout(state.body_timeout, Limited::new(body, MAX_BODY_BYTES).collect()).await.map_err(|_| {
            ApiError::RequestTimeout(format!(
                "The request body did not arrive within {} seconds.",
                state.body_timeout.as_secs()
            ))
        })?;
    let body = collected.map_err(|_| too_large())?.to_bytes();

    let now = chrono::Utc::now();
    if let Some(agent_op) = agent_operation(headers) {
        return agent_call(state, method, uri, headers, &body, now, agent_op).await;
    }
    let caller = state.verifier.verify(method.as_str(), uri.path(), uri.query().unwrap_or(""), headers, &body, now)?;
    if method != Method::POST || uri.path() != "/" {
        return Err(ApiError::UnknownOperation(None));
    }
    // After authentication, as AWS orders its answers.
    let op = op?;
    if !casement_api::is_served(op) {
        return Err(casement_api::not_served(op));
    }
    let json = awsjson::parse_body(&body)?;
    validate::model().validate_input(op, &json)?;
    let ctx = Context {
        scope: Scope::new(caller.account_id, caller.region),
        principal: caller.access_key_id,
        now_ms: now.timestamp_millis(),
    };
    casement_api::dispatch(&state.api, &ctx, op, json).await
}

/// The agent operation an `X-Amz-Target` names, if it names one.
fn agent_operation(headers: &HeaderMap) -> Option<&str> {
    headers.get(&X_AMZ_TARGET).and_then(|v| v.to_str().ok()).and_then(casement_api::agent::operation)
}

/// An agent's request: registration is anonymous (the activation code is the secret);
/// everything else is signed with the key the node got at registration, and the node is
/// whoever that key belongs to.
#[allow(clippy::too_many_arguments)]
async fn agent_call(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
    op: &str,
) -> Result<Vec<u8>, ApiError> {
    if method != Method::POST || uri.path() != "/" {
        return Err(ApiError::UnknownOperation(None));
    }
    let api = &state.api;
    if op == casement_protocol::agent::REGISTER {
        validate_agent(op, body)?;
        return casement_api::agent::register(api, now.timestamp_millis(), body).await;
    }
    let auth = Authorization::parse(sigv4::authorization_header(headers)?)?;
    let node = casement_api::agent::node_key(api, auth.access_key_id, now.timestamp_millis())
        .await?
        .ok_or_else(|| ApiError::UnrecognizedClient("The security token included in the request is invalid.".into()))?;
    if node.deregistered {
        return Err(ApiError::AccessDenied(format!("Managed node {} is deregistered.", node.node.instance_id)));
    }
    state.verifier.verify_node(
        method.as_str(),
        uri.path(),
        uri.query().unwrap_or(""),
        headers,
        body,
        now,
        &auth,
        &node.credential,
    )?;
    validate_agent(op, body)?;
    let ctx = Context {
        scope: node.node.scope.clone(),
        principal: node.node.instance_id.clone(),
        now_ms: now.timestamp_millis(),
    };
    casement_api::agent::dispatch(api, &ctx, &node.node, op, body).await
}

/// An agent's request checked against the agent operations' model, as every other
/// request is against SSM's (an operation the model lacks is dispatch's to refuse).
fn validate_agent(op: &str, body: &[u8]) -> Result<(), ApiError> {
    let model = validate::agent_model();
    if !model.has_operation(op) {
        return Ok(());
    }
    model.validate_input(op, &awsjson::parse_body(body)?)
}

fn json_response(
    status: StatusCode,
    request_id: &str,
    body: Vec<u8>,
    error_type: Option<&str>,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(X_AMZN_REQUEST_ID.clone(), v);
    }
    if let Some(t) = error_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert(X_AMZN_ERROR_TYPE.clone(), t);
    }
    resp
}

fn plain(status: StatusCode, request_id: &str, text: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert(X_AMZN_REQUEST_ID.clone(), v);
    }
    resp
}
