//! The engine in virtual time: tokio's clock is paused and jumps ahead whenever every
//! task is waiting, so a window's hours run in milliseconds. Invocations are run by a
//! scripted runner that takes a set (virtual) time and ends with a set status per target.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use casement_engine::params::Request;
use casement_engine::runner::{Outcome, Started};
use casement_engine::{Engine, EngineConfig, Runner, Runners, Signals, TokioClock};
use casement_model::task::{LambdaParameters, TaskInvocationParameters};
use casement_model::{
    ExecutionStatus, Scope, Tag, Target, TaskExecution, TaskInvocation, TaskType, Window, WindowExecution, WindowId,
    WindowTarget, WindowTargetId, WindowTask, WindowTaskId,
};
use casement_store::sqlite::{SqliteStore, Synchronous};
use casement_store::{ExecutionFilter, NextFire, Store};

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
/// 2026-01-01T00:00:00Z, when every test window's at() schedule comes due.
const T0: i64 = 1_767_225_600_000;

/// What the scripted runner does for one target.
#[derive(Clone, Copy)]
struct Script {
    takes_ms: i64,
    status: ExecutionStatus,
}

#[derive(Default)]
struct Trace {
    in_flight: usize,
    max_in_flight: usize,
    /// (resource, start, end) in virtual ms.
    runs: Vec<(String, i64, i64)>,
}

struct ScriptedRunner {
    clock: Arc<TokioClock>,
    scripts: Mutex<HashMap<String, Script>>,
    default: Script,
    trace: Mutex<Trace>,
}

#[async_trait]
impl Runner for ScriptedRunner {
    async fn start(&self, _scope: &Scope, request: &Request) -> Started {
        use casement_engine::Clock;
        let Request::Lambda { payload, .. } = request else { panic!("lambda only") };
        // Task payloads are "{{RESOURCE_ID}}": the substituted payload names the target.
        let resource = String::from_utf8(payload.clone().unwrap_or_default()).unwrap();
        let script = self.scripts.lock().unwrap().get(&resource).copied().unwrap_or(self.default);
        let start = self.clock.now_ms();
        {
            let mut t = self.trace.lock().unwrap();
            t.in_flight += 1;
            t.max_in_flight = t.max_in_flight.max(t.in_flight);
        }
        tokio::time::sleep(Duration::from_millis(script.takes_ms as u64)).await;
        let mut t = self.trace.lock().unwrap();
        t.in_flight -= 1;
        t.runs.push((resource.clone(), start, self.clock.now_ms()));
        Started::Done(Outcome {
            status: script.status,
            status_details: (script.status != ExecutionStatus::Success).then(|| "scripted failure".to_owned()),
            execution_id: Some(format!("req-{resource}")),
        })
    }
}

struct World {
    store: Arc<SqliteStore>,
    runner: Arc<ScriptedRunner>,
    signals: Arc<Signals>,
    clock: Arc<TokioClock>,
    scope: Scope,
    _dir: tempfile::TempDir,
}

fn ok(takes_ms: i64) -> Script {
    Script { takes_ms, status: ExecutionStatus::Success }
}

fn fail(takes_ms: i64) -> Script {
    Script { takes_ms, status: ExecutionStatus::Failed }
}

impl World {
    /// A store and an engine whose clock reads one second before T0.
    async fn new(default: Script) -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path(), Synchronous::Normal).unwrap());
        let clock = Arc::new(TokioClock::starting_at(T0 - 1_000));
        let runner = Arc::new(ScriptedRunner {
            clock: clock.clone(),
            scripts: Mutex::new(HashMap::new()),
            default,
            trace: Mutex::new(Trace::default()),
        });
        World {
            store,
            runner,
            signals: Arc::new(Signals::default()),
            clock,
            scope: Scope { account: "123456789012".into(), region: "us-east-1".into() },
            _dir: dir,
        }
    }

    fn script(&self, resource: &str, s: Script) {
        self.runner.scripts.lock().unwrap().insert(resource.to_owned(), s);
    }

    fn start(&self) {
        let runners = Runners::default().with(TaskType::Lambda, self.runner.clone());
        // One process on SQLite: every change reaches the engine as a nudge, so it need
        // not poll the store each (virtual) second.
        let config = EngineConfig { poll_ms: 60_000, lease_ms: 600_000, ..EngineConfig::default() };
        let engine = Engine::new(self.store.clone(), self.clock.clone(), runners, self.signals.clone(), config);
        engine.start(vec![]);
    }

    /// A window due at T0 (at()), with this Duration and Cutoff.
    async fn window(&self, schedule: &str, duration: i32, cutoff: i32, next_fire: i64) -> WindowId {
        let w = Window {
            window_id: WindowId::generate(),
            name: "w".into(),
            description: None,
            start_date: None,
            end_date: None,
            schedule: schedule.into(),
            schedule_timezone: None,
            schedule_offset: None,
            duration,
            cutoff,
            allow_unassociated_targets: true,
            enabled: true,
            created_ms: T0 - HOUR,
            modified_ms: T0 - HOUR,
            schedule_anchor_ms: Some(T0 - HOUR),
        };
        self.store.create_window(&self.scope, &w, &[], None, None, NextFire::At(next_fire)).await.unwrap()
    }

    async fn due_window(&self, duration: i32, cutoff: i32) -> WindowId {
        self.window("at(2026-01-01T00:00:00)", duration, cutoff, T0).await
    }

    async fn target(&self, window: &WindowId, targets: Vec<Target>, owner: Option<&str>) -> WindowTargetId {
        let t = WindowTarget {
            window_id: window.clone(),
            window_target_id: WindowTargetId::generate(),
            resource_type: "INSTANCE".into(),
            targets,
            owner_information: owner.map(str::to_owned),
            name: None,
            description: None,
        };
        self.store.register_target(&self.scope, &t, None, None, &[]).await.unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    async fn task(
        &self,
        window: &WindowId,
        task_type: TaskType,
        priority: i32,
        targets: Vec<Target>,
        max_concurrency: Option<&str>,
        max_errors: Option<&str>,
        cutoff_behavior: Option<&str>,
    ) -> WindowTaskId {
        let payload = base64::engine::general_purpose::STANDARD.encode("{{RESOURCE_ID}}");
        let t = WindowTask {
            window_id: window.clone(),
            window_task_id: WindowTaskId::generate(),
            task_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            task_type,
            targets,
            service_role_arn: None,
            task_parameters: None,
            task_invocation_parameters: Some(TaskInvocationParameters {
                lambda: Some(LambdaParameters { payload: Some(payload), ..Default::default() }),
                ..Default::default()
            }),
            priority,
            max_concurrency: max_concurrency.map(str::to_owned),
            max_errors: max_errors.map(str::to_owned),
            logging_info: None,
            name: None,
            description: None,
            cutoff_behavior: cutoff_behavior.map(str::to_owned),
            alarm_configuration: None,
        };
        self.store.register_task(&self.scope, &t, None, None, &[]).await.unwrap()
    }

    /// Let virtual time run to `ms`.
    async fn run_until(&self, ms: i64) {
        use casement_engine::Clock;
        let wait = ms - self.clock.now_ms();
        tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await;
    }

    async fn executions(&self, w: &WindowId) -> Vec<WindowExecution> {
        let mut e = self.store.list_executions(&self.scope, w, &ExecutionFilter::default(), None, 100).await.unwrap();
        e.reverse();
        e
    }

    async fn only_execution(&self, w: &WindowId) -> WindowExecution {
        let mut e = self.executions(w).await;
        assert_eq!(e.len(), 1, "{e:?}");
        e.remove(0)
    }

    async fn tasks(&self, e: &WindowExecution) -> Vec<TaskExecution> {
        self.store.list_task_executions(&self.scope, &e.window_execution_id).await.unwrap()
    }

    async fn task_of(&self, e: &WindowExecution, id: &WindowTaskId) -> TaskExecution {
        self.tasks(e).await.into_iter().find(|t| t.window_task_id == *id).expect("task execution")
    }

    async fn invocations(&self, t: &TaskExecution) -> Vec<TaskInvocation> {
        self.store.list_invocations(&self.scope, &t.task_execution_id, &[], None, 10_000).await.unwrap()
    }
}

fn instances(ids: &[&str]) -> Vec<Target> {
    vec![Target { key: Some("InstanceIds".into()), values: Some(ids.iter().map(|s| s.to_string()).collect()) }]
}

fn window_targets(ids: &[&WindowTargetId]) -> Vec<Target> {
    vec![Target { key: Some("WindowTargetIds".into()), values: Some(ids.iter().map(|s| s.to_string()).collect()) }]
}

fn nodes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("i-{i:017x}")).collect()
}

#[tokio::test(start_paused = true)]
async fn no_tasks_succeeds_at_once() {
    let w = World::new(ok(MIN)).await;
    let id = w.due_window(2, 1).await;
    w.start();
    w.run_until(T0 + MIN).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::Success);
    assert_eq!(e.status_details.as_deref(), Some("No tasks to execute."));
    assert_eq!(e.start_ms, T0, "StartTime is the scheduled occurrence");
    assert!(e.end_ms.unwrap() - T0 < 1_000, "fired within a second of its time");
    assert!(w.tasks(&e).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn priority_groups_run_in_order_and_a_group_in_parallel() {
    let w = World::new(ok(10 * MIN)).await;
    let id = w.due_window(3, 1).await;
    let a = w.task(&id, TaskType::Lambda, 0, instances(&["i-aaaaaaaaaaaaaaaaa"]), Some("1"), Some("0"), None).await;
    let b = w.task(&id, TaskType::Lambda, 0, instances(&["i-bbbbbbbbbbbbbbbbb"]), Some("1"), Some("0"), None).await;
    let c = w.task(&id, TaskType::Lambda, 5, instances(&["i-ccccccccccccccccc"]), Some("1"), Some("0"), None).await;
    w.script("i-bbbbbbbbbbbbbbbbb", ok(25 * MIN));
    w.start();
    w.run_until(T0 + 3 * HOUR).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::Success);
    assert_eq!(e.status_details, None);
    let (ta, tb, tc) = (w.task_of(&e, &a).await, w.task_of(&e, &b).await, w.task_of(&e, &c).await);
    assert_eq!(ta.start_ms, tb.start_ms, "same priority starts together");
    assert!(tc.start_ms >= tb.end_ms.unwrap(), "the next group waits for the slowest task of the last");
    assert!(tc.start_ms - tb.end_ms.unwrap() < 1_000);
    assert_eq!(ta.end_ms.unwrap() - ta.start_ms, 10 * MIN);
    for t in [&ta, &tb, &tc] {
        assert_eq!(t.status, ExecutionStatus::Success);
        let inv = w.invocations(t).await;
        assert_eq!(inv.len(), 1);
        assert_eq!(inv[0].status, ExecutionStatus::Success);
        assert!(inv[0].execution_id.as_deref().unwrap().starts_with("req-i-"));
    }
    // The whole execution took as long as its slowest path: 25 + 10 minutes.
    assert!(e.end_ms.unwrap() - e.start_ms >= 35 * MIN && e.end_ms.unwrap() - e.start_ms < 36 * MIN);
}

#[tokio::test(start_paused = true)]
async fn next_group_runs_whatever_the_last_groups_outcome() {
    let w = World::new(fail(MIN)).await;
    let id = w.due_window(2, 0).await;
    let first = w.task(&id, TaskType::Lambda, 0, instances(&["i-aaaaaaaaaaaaaaaaa"]), Some("1"), Some("0"), None).await;
    let second =
        w.task(&id, TaskType::Lambda, 1, instances(&["i-bbbbbbbbbbbbbbbbb"]), Some("1"), Some("0"), None).await;
    w.script("i-bbbbbbbbbbbbbbbbb", ok(MIN));
    w.start();
    w.run_until(T0 + 2 * HOUR).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::Failed);
    assert_eq!(e.status_details.as_deref(), Some("One or more tasks in the orchestration failed."));
    let failed = w.task_of(&e, &first).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    // A failed task says why: what its (first) failed invocation said.
    assert_eq!(failed.status_details.as_deref(), Some("scripted failure"));
    assert_eq!(w.task_of(&e, &second).await.status, ExecutionStatus::Success);
    let inv = w.invocations(&w.task_of(&e, &first).await).await;
    assert_eq!(inv[0].status_details.as_deref(), Some("scripted failure"));
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_bounds_invocations_in_flight() {
    for (mc, expected) in [("3", 3), ("30%", 3), ("5%", 1)] {
        let w = World::new(ok(MIN)).await;
        let id = w.due_window(2, 1).await;
        let ids = nodes(10);
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let t = w.task(&id, TaskType::Lambda, 0, instances(&refs), Some(mc), Some("0"), None).await;
        w.start();
        w.run_until(T0 + HOUR).await;
        let e = w.only_execution(&id).await;
        assert_eq!(e.status, ExecutionStatus::Success, "MaxConcurrency {mc}");
        assert_eq!(w.runner.trace.lock().unwrap().max_in_flight, expected, "MaxConcurrency {mc}");
        let te = w.task_of(&e, &t).await;
        let inv = w.invocations(&te).await;
        assert_eq!(inv.len(), 10);
        assert!(inv.iter().all(|i| i.status == ExecutionStatus::Success));
        let waves = 10usize.div_ceil(expected) as i64;
        assert_eq!(te.end_ms.unwrap() - te.start_ms, waves * MIN, "MaxConcurrency {mc}");
    }
}

#[tokio::test(start_paused = true)]
async fn max_errors_stops_new_invocations_once_exceeded() {
    // MaxErrors 2 (and 20% of 10): the third failure stops the task; the rest never start.
    for me in ["2", "20%"] {
        let w = World::new(fail(MIN)).await;
        let id = w.due_window(2, 1).await;
        let ids = nodes(10);
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let t = w.task(&id, TaskType::Lambda, 0, instances(&refs), Some("1"), Some(me), None).await;
        w.start();
        w.run_until(T0 + HOUR).await;
        let e = w.only_execution(&id).await;
        assert_eq!(e.status, ExecutionStatus::Failed, "MaxErrors {me}");
        let te = w.task_of(&e, &t).await;
        assert_eq!(te.status, ExecutionStatus::Failed);
        assert!(te.status_details.as_deref().unwrap().contains("MaxErrors"));
        assert_eq!(w.invocations(&te).await.len(), 3, "MaxErrors {me}: started until errors exceeded it");
    }
    // MaxErrors 0 with failures only on some targets: one failure stops it.
    let w = World::new(ok(MIN)).await;
    let id = w.due_window(2, 1).await;
    let ids = nodes(5);
    w.script(&ids[1], fail(MIN));
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let t = w.task(&id, TaskType::Lambda, 0, instances(&refs), Some("1"), Some("0"), None).await;
    w.start();
    w.run_until(T0 + HOUR).await;
    let te = w.task_of(&w.only_execution(&id).await, &t).await;
    let inv = w.invocations(&te).await;
    assert_eq!(inv.iter().map(|i| i.status).collect::<Vec<_>>(), [ExecutionStatus::Success, ExecutionStatus::Failed]);
}

#[tokio::test(start_paused = true)]
async fn cancel_task_cutoff_starts_nothing_new_and_times_out() {
    // Duration 2, Cutoff 1: nothing starts after one hour. Each invocation takes 25
    // minutes, one at a time: three start (0, 25, 50 min), the rest never do.
    let w = World::new(ok(25 * MIN)).await;
    let id = w.due_window(2, 1).await;
    let ids = nodes(6);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let t = w.task(&id, TaskType::Lambda, 0, instances(&refs), Some("1"), Some("0"), Some("CANCEL_TASK")).await;
    w.start();
    w.run_until(T0 + 4 * HOUR).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::TimedOut);
    let te = w.task_of(&e, &t).await;
    assert_eq!(te.status, ExecutionStatus::TimedOut);
    let inv = w.invocations(&te).await;
    assert_eq!(inv.len(), 3);
    assert!(inv.iter().all(|i| i.status == ExecutionStatus::Success), "running invocations finish");
    assert!(inv.iter().all(|i| i.start_ms < T0 + HOUR));
    assert_eq!(te.end_ms.unwrap(), T0 + 75 * MIN, "the last started invocation ran to its end");
}

#[tokio::test(start_paused = true)]
async fn continue_task_cutoff_finishes_the_task_but_starts_no_later_group() {
    let w = World::new(ok(25 * MIN)).await;
    let id = w.due_window(2, 1).await;
    let ids = nodes(6);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let t = w.task(&id, TaskType::Lambda, 0, instances(&refs), Some("1"), Some("0"), None).await;
    let later = w.task(&id, TaskType::Lambda, 1, instances(&["i-aaaaaaaaaaaaaaaaa"]), Some("1"), Some("0"), None).await;
    w.start();
    w.run_until(T0 + 4 * HOUR).await;
    let e = w.only_execution(&id).await;
    let te = w.task_of(&e, &t).await;
    assert_eq!(te.status, ExecutionStatus::Success);
    assert_eq!(w.invocations(&te).await.len(), 6, "CONTINUE_TASK keeps starting invocations past the cutoff");
    assert!(w.tasks(&e).await.iter().all(|x| x.window_task_id != later), "no group starts after the cutoff");
    assert_eq!(e.status, ExecutionStatus::TimedOut);
    assert!(e.status_details.as_deref().unwrap().contains("cutoff"));
}

#[tokio::test(start_paused = true)]
async fn duration_ends_the_window_when_cutoff_is_zero() {
    // Duration 1, Cutoff 0: the first group runs 70 minutes, past the window's end.
    let w = World::new(ok(70 * MIN)).await;
    let id = w.due_window(1, 0).await;
    w.task(&id, TaskType::Lambda, 0, instances(&["i-aaaaaaaaaaaaaaaaa"]), Some("1"), Some("0"), None).await;
    let second =
        w.task(&id, TaskType::Lambda, 1, instances(&["i-bbbbbbbbbbbbbbbbb"]), Some("1"), Some("0"), None).await;
    w.start();
    w.run_until(T0 + 3 * HOUR).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::TimedOut);
    assert!(w.tasks(&e).await.iter().all(|x| x.window_task_id != second));
    assert_eq!(e.end_ms.unwrap(), T0 + 70 * MIN, "started work finishes past the window's end");
}

#[tokio::test(start_paused = true)]
async fn cancel_lets_running_tasks_finish_and_starts_nothing_else() {
    let w = World::new(ok(30 * MIN)).await;
    let id = w.due_window(3, 1).await;
    let first = w.task(&id, TaskType::Lambda, 0, instances(&["i-aaaaaaaaaaaaaaaaa"]), Some("1"), Some("0"), None).await;
    let second =
        w.task(&id, TaskType::Lambda, 1, instances(&["i-bbbbbbbbbbbbbbbbb"]), Some("1"), Some("0"), None).await;
    w.start();
    w.run_until(T0 + 10 * MIN).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::InProgress);
    let asked = w.store.request_cancel(&w.scope, &e.window_execution_id).await.unwrap().unwrap();
    assert!(asked.cancel_requested);
    w.signals.cancel_requested();
    w.run_until(T0 + 11 * MIN).await;
    assert_eq!(w.only_execution(&id).await.status, ExecutionStatus::Cancelling);
    w.run_until(T0 + 3 * HOUR).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::Cancelled);
    assert_eq!(e.end_ms.unwrap(), T0 + 30 * MIN, "CANCELLED once the running task ended");
    assert_eq!(w.task_of(&e, &first).await.status, ExecutionStatus::Success);
    assert!(w.tasks(&e).await.iter().all(|x| x.window_task_id != second));
}

#[tokio::test(start_paused = true)]
async fn an_occurrence_during_a_run_is_skipped_overlapping() {
    // rate(1 hour) counting from T0 - 1h: due at T0, T0+1h, T0+2h…; each run takes 90 min.
    let w = World::new(ok(90 * MIN)).await;
    let id = w.window("rate(1 hour)", 2, 0, T0).await;
    w.task(&id, TaskType::Lambda, 0, instances(&["i-aaaaaaaaaaaaaaaaa"]), Some("1"), Some("0"), None).await;
    w.start();
    w.run_until(T0 + 2 * HOUR + 30 * MIN).await;
    let e = w.executions(&id).await;
    let statuses: Vec<_> = e.iter().map(|x| (x.start_ms - T0, x.status)).collect();
    assert_eq!(
        statuses,
        [
            (0, ExecutionStatus::Success),
            (HOUR, ExecutionStatus::SkippedOverlapping),
            (2 * HOUR, ExecutionStatus::InProgress),
        ]
    );
    assert_eq!(e[1].end_ms, Some(T0 + HOUR), "a skipped occurrence starts and ends at its time");
}

#[tokio::test(start_paused = true)]
async fn targetless_task_runs_once() {
    let w = World::new(ok(MIN)).await;
    let id = w.due_window(2, 1).await;
    let t = w.task(&id, TaskType::Lambda, 0, vec![], None, None, None).await;
    w.start();
    w.run_until(T0 + HOUR).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::Success);
    let inv = w.invocations(&w.task_of(&e, &t).await).await;
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].window_target_id, None);
    assert_eq!(inv[0].owner_information, None);
    assert_eq!(inv[0].resource_id, "");
}

#[tokio::test(start_paused = true)]
async fn tag_targets_resolve_against_node_tags_when_the_task_starts() {
    let w = World::new(ok(MIN)).await;
    let id = w.due_window(2, 1).await;
    for (node, env, role) in [
        ("mi-00000000000000001", "prod", "web"),
        ("mi-00000000000000002", "dev", "web"),
        ("mi-00000000000000003", "prod", "db"),
    ] {
        let tags = [Tag { key: "Env".into(), value: env.into() }, Tag { key: "Role".into(), value: role.into() }];
        w.store.add_tags(&w.scope, "ManagedInstance", node, &tags, 50).await.unwrap();
    }
    let prod = w
        .target(
            &id,
            vec![Target { key: Some("tag:Env".into()), values: Some(vec!["prod".into()]) }],
            Some("owner-prod"),
        )
        .await;
    let web_prod = w
        .target(
            &id,
            vec![
                Target { key: Some("tag:Env".into()), values: Some(vec!["prod".into()]) },
                Target { key: Some("tag-key".into()), values: Some(vec!["Role".into()]) },
                Target { key: Some("tag:Role".into()), values: Some(vec!["web".into()]) },
            ],
            None,
        )
        .await;
    let t = w.task(&id, TaskType::Lambda, 0, window_targets(&[&prod, &web_prod]), Some("10"), Some("0"), None).await;
    // A node tagged after registration but before the window runs is included.
    w.store
        .add_tags(
            &w.scope,
            "ManagedInstance",
            "mi-00000000000000004",
            &[Tag { key: "Env".into(), value: "prod".into() }],
            50,
        )
        .await
        .unwrap();
    w.start();
    w.run_until(T0 + HOUR).await;
    let e = w.only_execution(&id).await;
    let inv = w.invocations(&w.task_of(&e, &t).await).await;
    let got: Vec<(String, Option<String>, Option<String>)> =
        inv.iter().map(|i| (i.resource_id.clone(), i.window_target_id.clone(), i.owner_information.clone())).collect();
    let p = Some(prod.to_string());
    let o = Some("owner-prod".to_string());
    assert_eq!(
        got,
        [
            ("mi-00000000000000001".into(), p.clone(), o.clone()),
            ("mi-00000000000000003".into(), p.clone(), o.clone()),
            ("mi-00000000000000004".into(), p, o),
            ("mi-00000000000000001".into(), Some(web_prod.to_string()), None),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn pseudo_parameters_are_substituted_in_the_parameters_string() {
    let w = World::new(ok(MIN)).await;
    let id = w.due_window(2, 1).await;
    let tgt = w.target(&id, instances(&["i-0123456789abcdef0"]), None).await;
    let mut task = WindowTask {
        window_id: id.clone(),
        window_task_id: WindowTaskId::generate(),
        task_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
        task_type: TaskType::Lambda,
        targets: window_targets(&[&tgt]),
        service_role_arn: None,
        task_parameters: None,
        task_invocation_parameters: None,
        priority: 0,
        max_concurrency: Some("1".into()),
        max_errors: Some("0".into()),
        logging_info: None,
        name: None,
        description: None,
        cutoff_behavior: None,
        alarm_configuration: None,
    };
    let payload = "{{RESOURCE_ID}}";
    task.task_invocation_parameters = Some(TaskInvocationParameters {
        lambda: Some(LambdaParameters {
            payload: Some(base64::engine::general_purpose::STANDARD.encode(payload)),
            qualifier: Some("live".into()),
            client_context: Some("{{WINDOW_ID}}|{{WINDOW_EXECUTION_ID}}|{{TASK_EXECUTION_ID}}|{{INVOCATION_ID}}|{{WINDOW_TARGET_ID}}|{{TARGET_TYPE}}".into()),
        }),
        ..Default::default()
    });
    w.store.register_task(&w.scope, &task, None, None, &[]).await.unwrap();
    w.start();
    w.run_until(T0 + HOUR).await;
    let e = w.only_execution(&id).await;
    let te = w.tasks(&e).await.remove(0);
    let inv = w.invocations(&te).await.remove(0);
    let params: serde_json::Value = serde_json::from_str(&inv.parameters).unwrap();
    assert_eq!(params["payload"], "i-0123456789abcdef0");
    assert_eq!(params["qualifier"], "live");
    assert_eq!(params["functionName"], "arn:aws:lambda:us-east-1:123456789012:function:f");
    assert_eq!(
        params["clientContext"],
        format!("{id}|{}|{}|{}|{tgt}|INSTANCE", e.window_execution_id, te.task_execution_id, inv.invocation_id)
    );
    // Keys in sorted order, as AWS writes them.
    assert!(inv.parameters.starts_with(r#"{"clientContext":"#));
}

#[tokio::test(start_paused = true)]
async fn task_types_without_a_runner_fail_their_invocations_clearly() {
    let w = World::new(ok(MIN)).await;
    let id = w.due_window(2, 1).await;
    let t = w.task(&id, TaskType::Automation, 0, vec![], None, None, None).await;
    w.start();
    w.run_until(T0 + HOUR).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::Failed);
    let inv = w.invocations(&w.task_of(&e, &t).await).await;
    assert_eq!(inv[0].status, ExecutionStatus::Failed);
    assert!(inv[0].status_details.as_deref().unwrap().contains("AUTOMATION"));
}

#[tokio::test(start_paused = true)]
async fn a_missed_occurrence_is_not_run_late_but_the_next_one_is() {
    // Due an hour before the engine starts (the server was down): passed over.
    let w = World::new(ok(MIN)).await;
    let id = w.window("rate(2 hours)", 1, 0, T0 - HOUR).await;
    // Anchor T0-1h: occurrences at T0+1h, T0+3h… after the missed one.
    w.start();
    w.run_until(T0 + 30 * MIN).await;
    assert!(w.executions(&id).await.is_empty(), "not run late");
    w.run_until(T0 + HOUR + 5 * MIN).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.start_ms, T0 + HOUR);
    assert_eq!(e.status, ExecutionStatus::Success);
}

#[tokio::test(start_paused = true)]
async fn disabling_a_window_stops_it_firing() {
    let w = World::new(ok(MIN)).await;
    let id = w.window("rate(1 hour)", 1, 0, T0).await;
    w.start();
    w.run_until(T0 + 90 * MIN).await;
    assert_eq!(w.executions(&id).await.len(), 2);
    let mut win = (*w.store.get_window(&w.scope, &id).await.unwrap().unwrap()).clone();
    win.enabled = false;
    w.store.update_window(&w.scope, &win, NextFire::Never, &[]).await.unwrap();
    w.run_until(T0 + 5 * HOUR).await;
    assert_eq!(w.executions(&id).await.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn events_record_every_state_change_in_order() {
    let w = World::new(ok(MIN)).await;
    let id = w.due_window(2, 1).await;
    let tgt = w.target(&id, instances(&["i-0123456789abcdef0"]), Some("team-a")).await;
    w.task(&id, TaskType::Lambda, 0, window_targets(&[&tgt]), Some("1"), Some("0"), None).await;
    w.start();
    w.run_until(T0 + HOUR).await;
    let events = w.store.events_after(0, 100).await.unwrap();
    let parsed: Vec<serde_json::Value> = events.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    let seen: Vec<(String, String)> = parsed
        .iter()
        .map(|v| (v["detail-type"].as_str().unwrap().to_owned(), v["detail"]["status"].as_str().unwrap().to_owned()))
        .collect();
    let ex = "Maintenance Window Execution State-change Notification";
    let task = "Maintenance Window Task Execution State-change Notification";
    let inv = "Maintenance Window Task Target Invocation State-change Notification";
    let expect: Vec<(String, String)> = [
        (ex, "IN_PROGRESS"),
        (task, "IN_PROGRESS"),
        (inv, "IN_PROGRESS"),
        (inv, "COMPLETE"),
        (task, "SUCCESS"),
        (ex, "SUCCESS"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(seen, expect);
    for v in &parsed {
        assert_eq!(v["source"], "aws.ssm");
        assert_eq!(v["account"], "123456789012");
        assert_eq!(v["resources"][0], format!("arn:aws:ssm:us-east-1:123456789012:maintenancewindow/{id}"));
        assert_eq!(v["detail"]["window-id"], id.as_str());
    }
    assert_eq!(parsed[3]["detail"]["owner-information"], "team-a");
    assert_eq!(parsed[3]["detail"]["window-target-id"], tgt.as_str());
    assert!(parsed[5]["detail"]["end-time"].is_string());
}

#[tokio::test(start_paused = true)]
async fn windows_stored_without_a_fire_time_are_scheduled_at_start() {
    // A window written before the scheduler existed has no next fire time.
    let w = World::new(ok(MIN)).await;
    let id = w.window("rate(1 hour)", 1, 0, 0).await;
    let win = (*w.store.get_window(&w.scope, &id).await.unwrap().unwrap()).clone();
    w.store.update_window(&w.scope, &win, NextFire::Never, &[]).await.unwrap();
    w.start();
    w.run_until(T0 + 90 * MIN).await;
    let starts: Vec<i64> = w.executions(&id).await.iter().map(|e| e.start_ms - T0).collect();
    assert_eq!(starts, [0, HOUR]);
}

// ---- RUN_COMMAND tasks, through the Run Command service and simulated agents ----

use casement_engine::run_command::{Reply, RunCommand};
use casement_engine::RunCommandRunner;

impl World {
    /// Register `n` managed nodes (through an activation) and return their IDs.
    async fn managed_nodes(&self, n: usize) -> Vec<String> {
        let a = casement_model::Activation {
            activation_id: casement_model::ids::new_uuid(),
            description: None,
            default_instance_name: None,
            iam_role: "r".into(),
            registration_limit: n as i64,
            registrations_count: 0,
            expiration_ms: i64::MAX,
            created_ms: 0,
        };
        self.store.create_activation(&self.scope, &a, "code", &[]).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            let node = casement_model::ManagedNode::unregistered(Some(format!("host-{i}")), 0);
            let (_, node) =
                self.store.register_node(&a.activation_id, "code", 0, node, &format!("AK{i}"), "s").await.unwrap();
            ids.push(node.instance_id);
        }
        ids
    }

    /// Start the engine with a RUN_COMMAND runner, and one simulated agent per node that
    /// acknowledges each command, runs it for `takes_ms`, and replies Success — or
    /// Cancelled when a cancel message comes first.
    fn start_run_command(&self, nodes: &[String], takes_ms: i64) -> Arc<RunCommand> {
        let rc = RunCommand::new(self.store.clone(), self.clock.clone(), Duration::from_secs(60));
        rc.start();
        let runners = Runners::default().with(TaskType::RunCommand, Arc::new(RunCommandRunner::new(rc.clone())));
        let config = EngineConfig { poll_ms: 60_000, lease_ms: 600_000, ..EngineConfig::default() };
        Engine::new(self.store.clone(), self.clock.clone(), runners, self.signals.clone(), config).start(vec![]);
        for node in nodes {
            let (rc, scope, node) = (rc.clone(), self.scope.clone(), node.clone());
            tokio::spawn(async move {
                let running: Arc<Mutex<HashMap<String, tokio::task::JoinHandle<()>>>> = Default::default();
                loop {
                    let msgs = rc.messages(&scope, &node, Duration::from_secs(20)).await.unwrap();
                    for (cmd, inv) in msgs {
                        let id = cmd.command_id.clone();
                        rc.acknowledge(&scope, &node, &id, inv.cancel_pending).await.unwrap();
                        let reply = |status: &str| Reply {
                            status: status.into(),
                            response_code: Some(0),
                            stdout: Some(format!("ran on {node}")),
                            stderr: None,
                            plugins: Vec::new(),
                        };
                        if inv.cancel_pending {
                            if let Some(h) = running.lock().unwrap().remove(&id) {
                                h.abort();
                            }
                            rc.reply(&scope, &node, &id, reply("Cancelled")).await.unwrap();
                            continue;
                        }
                        rc.reply(&scope, &node, &id, reply("InProgress")).await.unwrap();
                        let (rc2, scope2, node2, id2) = (rc.clone(), scope.clone(), node.clone(), id.clone());
                        let ok = reply("Success");
                        let h = tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(takes_ms as u64)).await;
                            rc2.reply(&scope2, &node2, &id2, ok).await.unwrap();
                        });
                        running.lock().unwrap().insert(id, h);
                    }
                }
            });
        }
        rc
    }

    async fn run_command_task(
        &self,
        window: &WindowId,
        nodes: &[String],
        cutoff_behavior: Option<&str>,
    ) -> WindowTaskId {
        let mut params = std::collections::BTreeMap::new();
        params.insert("commands".to_owned(), vec!["echo {{WINDOW_EXECUTION_ID}}".to_owned()]);
        let t = WindowTask {
            window_id: window.clone(),
            window_task_id: WindowTaskId::generate(),
            task_arn: "AWS-RunShellScript".into(),
            task_type: TaskType::RunCommand,
            targets: vec![Target { key: Some("InstanceIds".into()), values: Some(nodes.to_vec()) }],
            service_role_arn: None,
            task_parameters: None,
            task_invocation_parameters: Some(TaskInvocationParameters {
                run_command: Some(casement_model::task::RunCommandParameters {
                    parameters: Some(params),
                    timeout_seconds: Some(600),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            priority: 0,
            max_concurrency: Some("10".into()),
            max_errors: Some("0".into()),
            logging_info: None,
            name: None,
            description: None,
            cutoff_behavior: cutoff_behavior.map(str::to_owned),
            alarm_configuration: None,
        };
        self.store.register_task(&self.scope, &t, None, None, &[]).await.unwrap()
    }
}

#[tokio::test(start_paused = true)]
async fn run_command_tasks_run_as_commands_on_their_nodes() {
    let w = World::new(ok(MIN)).await;
    let nodes = w.managed_nodes(2).await;
    let id = w.due_window(3, 1).await;
    let t = w.run_command_task(&id, &nodes, None).await;
    let _rc = w.start_run_command(&nodes, 10 * MIN);
    w.run_until(T0 + HOUR).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::Success, "{e:?}");
    let invs = w.invocations(&w.task_of(&e, &t).await).await;
    assert_eq!(invs.len(), 2);
    for inv in &invs {
        assert_eq!((inv.status, inv.status_details.as_deref()), (ExecutionStatus::Success, Some("Success")));
        let command_id = inv.execution_id.as_deref().expect("ExecutionId is the CommandId");
        let cmd = w.store.get_command(&w.scope, command_id).await.unwrap().expect("the command exists");
        assert_eq!(cmd.parameters["commands"], [format!("echo {}", e.window_execution_id)]);
        assert_eq!(cmd.instance_ids, std::slice::from_ref(&inv.resource_id));
        let ci = w.store.get_command_invocation(&w.scope, command_id, &inv.resource_id).await.unwrap().unwrap();
        assert_eq!(ci.stdout, format!("ran on {}", inv.resource_id));
        // The command ran for its ten (virtual) minutes.
        assert_eq!(inv.end_ms.unwrap() - inv.start_ms, 10 * MIN);
        let p: serde_json::Value = serde_json::from_str(&inv.parameters).unwrap();
        assert_eq!(p["instanceIds"], serde_json::json!([inv.resource_id]));
        assert_eq!(p["timeoutSeconds"], 600);
    }
}

#[tokio::test(start_paused = true)]
async fn run_command_tasks_are_cancelled_at_a_cancel_task_cutoff() {
    let w = World::new(ok(MIN)).await;
    let nodes = w.managed_nodes(1).await;
    // Duration 3 h, cutoff 2 h: the cutoff falls at T0 + 1 h; the command takes 2 h.
    let id = w.due_window(3, 2).await;
    let t = w.run_command_task(&id, &nodes, Some("CANCEL_TASK")).await;
    let _rc = w.start_run_command(&nodes, 2 * HOUR);
    w.run_until(T0 + 4 * HOUR).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::TimedOut, "{e:?}");
    let te = w.task_of(&e, &t).await;
    assert_eq!(te.status, ExecutionStatus::TimedOut);
    let inv = &w.invocations(&te).await[0];
    assert_eq!(inv.status, ExecutionStatus::Cancelled);
    assert_eq!(inv.end_ms, Some(T0 + HOUR), "cancelled at the cutoff");
    let cmd = w.store.get_command(&w.scope, inv.execution_id.as_deref().unwrap()).await.unwrap().unwrap();
    assert_eq!(cmd.status, "Cancelled");
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_window_cancels_its_running_commands() {
    let w = World::new(ok(MIN)).await;
    let nodes = w.managed_nodes(1).await;
    let id = w.due_window(3, 1).await;
    let t = w.run_command_task(&id, &nodes, None).await;
    let _rc = w.start_run_command(&nodes, 2 * HOUR);
    w.run_until(T0 + 10 * MIN).await;
    let running = w.only_execution(&id).await;
    w.store.request_cancel(&w.scope, &running.window_execution_id).await.unwrap();
    w.signals.cancel_requested();
    w.run_until(T0 + HOUR).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::Cancelled, "{e:?}");
    let te = w.task_of(&e, &t).await;
    assert_eq!(te.status, ExecutionStatus::Cancelled);
    let inv = &w.invocations(&te).await[0];
    assert_eq!(inv.status, ExecutionStatus::Cancelled);
    assert!(inv.end_ms.unwrap() < T0 + 11 * MIN);
}

/// A command to a fleet (more nodes than SendCommand reads one by one) reaches every
/// registered node, with its computer name; a target that names an unregistered node
/// skips it, and an InstanceIds list that names one is refused.
#[tokio::test(start_paused = true)]
async fn send_command_resolves_a_fleet() {
    use casement_engine::run_command::{SendCommand, SendError};
    let w = World::new(ok(MIN)).await;
    let nodes = w.managed_nodes(150).await;
    let rc = RunCommand::new(w.store.clone(), w.clock.clone(), Duration::from_secs(60));
    let mut params = std::collections::BTreeMap::new();
    params.insert("commands".to_owned(), vec!["true".to_owned()]);
    let send = |instance_ids: Vec<String>, targets: Vec<Target>| SendCommand {
        instance_ids,
        targets,
        document_name: "AWS-RunShellScript".into(),
        parameters: params.clone(),
        ..Default::default()
    };
    let unknown = "mi-0123456789abcdef0".to_owned();
    let mut named = nodes.clone();
    named.push(unknown.clone());
    let target = Target { key: Some("InstanceIds".into()), values: Some(named.clone()) };
    let cmd = rc.send(&w.scope, send(vec![], vec![target])).await.unwrap();
    let invs = w.store.list_command_invocations(&w.scope, Some(&cmd.command_id), None, None, 1_000).await.unwrap();
    assert_eq!(invs.len(), 150);
    let names: HashMap<&str, &str> = invs.iter().map(|i| (i.instance_id.as_str(), i.instance_name.as_str())).collect();
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(names.get(node.as_str()), Some(&format!("host-{i}").as_str()), "{node}");
    }
    let err = rc.send(&w.scope, send(named, vec![])).await.unwrap_err();
    assert!(matches!(&err, SendError::InvalidInstanceId(m) if m.contains(&unknown)), "{err:?}");
}

/// A command to a fleet wakes every node's waiting poll at once (the hand-out wakes them
/// in waves, and leaves none behind): each poll returns the command with no time passed,
/// not at the end of its wait.
#[tokio::test(start_paused = true)]
async fn a_fleet_command_wakes_every_waiting_poll() {
    use casement_engine::run_command::SendCommand;
    let w = World::new(ok(MIN)).await;
    let nodes = w.managed_nodes(100).await;
    let rc = RunCommand::new(w.store.clone(), w.clock.clone(), Duration::from_secs(60));
    let polls: Vec<_> = nodes
        .iter()
        .map(|node| {
            let (rc, scope, node) = (rc.clone(), w.scope.clone(), node.clone());
            tokio::spawn(async move {
                let msgs = rc.messages(&scope, &node, Duration::from_secs(20)).await.unwrap();
                (tokio::time::Instant::now(), node, msgs)
            })
        })
        .collect();
    // Every poll has read the store (nothing yet) and waits.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut params = std::collections::BTreeMap::new();
    params.insert("commands".to_owned(), vec!["true".to_owned()]);
    let sent_at = tokio::time::Instant::now();
    let target = Target { key: Some("InstanceIds".into()), values: Some(nodes.clone()) };
    let req = SendCommand {
        targets: vec![target],
        document_name: "AWS-RunShellScript".into(),
        parameters: params,
        max_concurrency: Some("100%".into()),
        ..Default::default()
    };
    let cmd = rc.send(&w.scope, req).await.unwrap();
    for poll in polls {
        let (at, node, msgs) = poll.await.unwrap();
        assert_eq!(at, sent_at, "{node} was answered late");
        assert_eq!(msgs.len(), 1, "{node}");
        assert_eq!(
            (msgs[0].0.command_id.as_str(), msgs[0].1.instance_id.as_str()),
            (cmd.command_id.as_str(), node.as_str())
        );
    }
}

/// A node that never takes its command: the invocation and the task say DeliveryTimedOut
/// and the window says a task timed out, not that the window reached its cutoff (it did
/// not: the delivery timeout of 10 minutes passed long before it).
#[tokio::test(start_paused = true)]
async fn a_command_never_delivered_says_so_up_to_the_window() {
    let w = World::new(ok(MIN)).await;
    let nodes = w.managed_nodes(1).await;
    let id = w.due_window(6, 1).await;
    let t = w.run_command_task(&id, &nodes, None).await;
    // No agent polls for the node.
    let _rc = w.start_run_command(&[], MIN);
    w.run_until(T0 + 2 * HOUR).await;
    let e = w.only_execution(&id).await;
    assert_eq!(e.status, ExecutionStatus::TimedOut, "{e:?}");
    assert_eq!(e.status_details.as_deref(), Some(casement_engine::orchestrator::TASKS_TIMED_OUT));
    let te = w.task_of(&e, &t).await;
    assert_eq!((te.status, te.status_details.as_deref()), (ExecutionStatus::TimedOut, Some("DeliveryTimedOut")));
    let inv = &w.invocations(&te).await[0];
    assert_eq!((inv.status, inv.status_details.as_deref()), (ExecutionStatus::TimedOut, Some("DeliveryTimedOut")));
    assert!(e.end_ms.unwrap() < T0 + HOUR, "it ended with the delivery timeout, well before the cutoff");
}
