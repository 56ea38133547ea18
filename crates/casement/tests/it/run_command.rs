//! Run Command end to end, with real `casement agent` processes running real shell
//! commands: a maintenance window's RUN_COMMAND task on a tagged fleet, and every way a
//! command can end — success, failure, execution timeout, cancel, MaxErrors, a stopped
//! agent, an agent restarted mid-command, a server restarted mid-command.

use std::time::{Duration, Instant};

use aws_sdk_ssm::types::{
    MaintenanceWindowResourceType, MaintenanceWindowRunCommandParameters, MaintenanceWindowTaskInvocationParameters,
    MaintenanceWindowTaskType, ResourceTypeForTagging, Tag, Target,
};
use serde_json::Value;

use crate::common::{at_in, code, create_window, wait_for_executions, Server};
use crate::nodes::{activation, fleet, Agent};

pub(crate) fn shell(
    c: &aws_sdk_ssm::Client,
    nodes: &[String],
    commands: &[&str],
) -> aws_sdk_ssm::operation::send_command::builders::SendCommandFluentBuilder {
    c.send_command()
        .set_instance_ids(Some(nodes.to_vec()))
        .document_name("AWS-RunShellScript")
        .parameters("commands", commands.iter().map(|s| s.to_string()).collect())
}

/// Poll GetCommandInvocation until its status is final.
pub(crate) async fn final_invocation(
    c: &aws_sdk_ssm::Client,
    command: &str,
    node: &str,
    secs: u64,
) -> aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationOutput {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let inv =
            c.get_command_invocation().command_id(command).instance_id(node).send().await.expect("get invocation");
        if !matches!(inv.status().unwrap().as_str(), "Pending" | "InProgress" | "Delayed" | "Cancelling") {
            return inv;
        }
        assert!(Instant::now() < deadline, "invocation did not finish: {inv:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn command_status(c: &aws_sdk_ssm::Client, command: &str) -> aws_sdk_ssm::types::Command {
    c.list_commands().command_id(command).send().await.unwrap().commands()[0].clone()
}

#[tokio::test]
async fn a_window_runs_a_shell_command_on_three_tagged_nodes() {
    let s = Server::start();
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (_agents, ids) = fleet(&s, 3, tmp.path()).await;
    for id in &ids {
        c.add_tags_to_resource()
            .resource_type(ResourceTypeForTagging::ManagedInstance)
            .resource_id(id)
            .tags(Tag::builder().key("Patch").value("yes").build().unwrap())
            .send()
            .await
            .unwrap();
    }
    let window = create_window(&c, "fleet-patch", &at_in(3), false).await;
    let target = c
        .register_target_with_maintenance_window()
        .window_id(&window)
        .resource_type(MaintenanceWindowResourceType::Instance)
        .targets(Target::builder().key("tag:Patch").values("yes").build())
        .owner_information("ops")
        .send()
        .await
        .unwrap()
        .window_target_id()
        .unwrap()
        .to_owned();
    c.register_task_with_maintenance_window()
        .window_id(&window)
        .task_type(MaintenanceWindowTaskType::RunCommand)
        .task_arn("AWS-RunShellScript")
        .targets(Target::builder().key("WindowTargetIds").values(&target).build())
        .priority(0)
        .max_concurrency("2")
        .max_errors("0")
        .task_invocation_parameters(
            MaintenanceWindowTaskInvocationParameters::builder()
                .run_command(
                    MaintenanceWindowRunCommandParameters::builder()
                        .comment("patch {{WINDOW_ID}}")
                        .timeout_seconds(600)
                        .parameters("commands", vec!["echo patched by {{WINDOW_EXECUTION_ID}} in $(pwd)".into()])
                        .parameters("workingDirectory", vec!["/tmp".into()])
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let execs = wait_for_executions(&c, &window, 1, 40).await;
    let exec_id = execs[0].window_execution_id().unwrap().to_owned();
    assert_eq!(execs[0].status().unwrap().as_str(), "SUCCESS", "{execs:?}");
    let tasks = c.describe_maintenance_window_execution_tasks().window_execution_id(&exec_id).send().await.unwrap();
    let task = &tasks.window_execution_task_identities()[0];
    assert_eq!(task.status().unwrap().as_str(), "SUCCESS");
    let task_id = task.task_execution_id().unwrap();
    let invs = c
        .describe_maintenance_window_execution_task_invocations()
        .window_execution_id(&exec_id)
        .task_id(task_id)
        .send()
        .await
        .unwrap();
    let invs = invs.window_execution_task_invocation_identities();
    assert_eq!(invs.len(), 3);
    let mut seen = Vec::new();
    for inv in invs {
        let full = c
            .get_maintenance_window_execution_task_invocation()
            .window_execution_id(&exec_id)
            .task_id(task_id)
            .invocation_id(inv.invocation_id().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(full.status().unwrap().as_str(), "SUCCESS");
        assert_eq!(full.status_details(), Some("Success"));
        assert_eq!(full.owner_information(), Some("ops"));
        assert_eq!(full.window_target_id(), Some(target.as_str()));
        let params: Value = serde_json::from_str(full.parameters().unwrap()).unwrap();
        let node = params["instanceIds"][0].as_str().unwrap().to_owned();
        assert_eq!(params["documentName"], "AWS-RunShellScript");
        assert_eq!(params["comment"], format!("patch {window}"));
        assert_eq!(params["timeoutSeconds"], 600);
        // ExecutionId is the Run Command command, and the node's real output is there.
        let command_id = full.execution_id().unwrap();
        let out = c.get_command_invocation().command_id(command_id).instance_id(&node).send().await.unwrap();
        assert_eq!(out.status().unwrap().as_str(), "Success");
        assert_eq!(out.response_code(), 0);
        assert_eq!(out.standard_output_content(), Some(format!("patched by {exec_id} in /tmp\n").as_str()));
        assert_eq!(out.comment(), Some(format!("patch {window}").as_str()));
        seen.push(node);
    }
    seen.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn commands_end_in_aws_statuses() {
    let s = Server::start();
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (_agents, ids) = fleet(&s, 3, tmp.path()).await;
    let one = &ids[..1];

    // A failing command: Failed, with its exit code and stderr.
    let failed = shell(&c, one, &["echo out", "echo oops >&2", "exit 3"]).send().await.unwrap();
    let failed = failed.command().unwrap().command_id().unwrap().to_owned();
    let inv = final_invocation(&c, &failed, &ids[0], 20).await;
    assert_eq!((inv.status().unwrap().as_str(), inv.status_details()), ("Failed", Some("Failed")));
    assert_eq!(inv.response_code(), 3);
    assert_eq!(inv.standard_output_content(), Some("out\n"));
    assert_eq!(inv.standard_error_content(), Some("oops\n"));
    assert_eq!(command_status(&c, &failed).await.status().unwrap().as_str(), "Failed");

    // Past executionTimeout: killed, TimedOut / ExecutionTimedOut.
    let slow = shell(&c, one, &["echo started", "sleep 30"])
        .parameters("executionTimeout", vec!["1".into()])
        .send()
        .await
        .unwrap();
    let slow = slow.command().unwrap().command_id().unwrap().to_owned();
    let inv = final_invocation(&c, &slow, &ids[0], 20).await;
    assert_eq!((inv.status().unwrap().as_str(), inv.status_details()), ("TimedOut", Some("ExecutionTimedOut")));
    assert_eq!(inv.standard_output_content(), Some("started\n"));

    // Cancelled while running: the process group is killed (the marker never appears).
    let marker = tmp.path().join("marker");
    let long = shell(&c, one, &[&format!("sleep 3; touch {}", marker.display())]).send().await.unwrap();
    let long = long.command().unwrap().command_id().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c
        .get_command_invocation()
        .command_id(&long)
        .instance_id(&ids[0])
        .send()
        .await
        .unwrap()
        .status()
        .unwrap()
        .as_str()
        != "InProgress"
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.cancel_command().command_id(&long).send().await.unwrap();
    let inv = final_invocation(&c, &long, &ids[0], 20).await;
    assert_eq!(inv.status().unwrap().as_str(), "Cancelled");
    assert_eq!(command_status(&c, &long).await.status().unwrap().as_str(), "Cancelled");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!marker.exists(), "the cancelled command kept running");

    // MaxErrors 0, one at a time, every node fails: the first failure stops the rest.
    let all = shell(&c, &ids, &["exit 1"]).max_concurrency("1").max_errors("0").send().await.unwrap();
    let all = all.command().unwrap().command_id().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let cmd = loop {
        let cmd = command_status(&c, &all).await;
        if cmd.status().unwrap().as_str() != "InProgress" && cmd.status().unwrap().as_str() != "Pending" {
            break cmd;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (cmd.status().unwrap().as_str(), cmd.error_count(), cmd.completed_count(), cmd.target_count()),
        ("Failed", 1, 3, 3)
    );
    let invs = c.list_command_invocations().command_id(&all).details(true).send().await.unwrap();
    let mut details: Vec<&str> = invs.command_invocations().iter().map(|i| i.status_details().unwrap()).collect();
    details.sort();
    assert_eq!(details, ["Failed", "Terminated", "Terminated"]);
    let failed_one = invs.command_invocations().iter().find(|i| i.status_details() == Some("Failed")).unwrap();
    assert_eq!(failed_one.command_plugins()[0].name(), Some("aws:runShellScript"));
    assert_eq!(failed_one.command_plugins()[0].response_code(), 1);

    // Bad requests.
    let e = shell(&c, one, &["true"]).document_name("AWS-Nope").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidDocument");
    let e = c.send_command().instance_ids(&ids[0]).document_name("AWS-RunShellScript").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameters");
    let e = shell(&c, &["mi-0123456789abcdef0".into()], &["true"]).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidInstanceId");
    let e = shell(&c, &[ids[0].clone(), ids[0].clone()], &["true"]).send().await.unwrap_err();
    assert_eq!(code(&e), "DuplicateInstanceId");
    let e = c
        .get_command_invocation()
        .command_id("0b6bb1e2-7c9a-4f0e-9d8e-4b0e2f1c9a11")
        .instance_id(&ids[0])
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidCommandId");
    let e = c.get_command_invocation().command_id(&failed).instance_id(&ids[1]).send().await.unwrap_err();
    assert_eq!(code(&e), "InvocationDoesNotExist");
    let e = c
        .get_command_invocation()
        .command_id(&failed)
        .instance_id(&ids[0])
        .plugin_name("aws:other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidPluginName");
    let e = c.cancel_command().command_id("0b6bb1e2-7c9a-4f0e-9d8e-4b0e2f1c9a11").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidCommandId");

    // ListCommands by node, with filters, newest first.
    let listed = c.list_commands().instance_id(&ids[0]).send().await.unwrap();
    let listed: Vec<&str> = listed.commands().iter().map(|c| c.command_id().unwrap()).collect();
    assert_eq!(listed, [all.as_str(), long.as_str(), slow.as_str(), failed.as_str()]);
    let done = c
        .list_commands()
        .filters(aws_sdk_ssm::types::CommandFilter::builder().key("Status".into()).value("Cancelled").build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(done.commands().len(), 1);
    let page = c.list_commands().max_results(2).send().await.unwrap();
    assert_eq!(page.commands().len(), 2);
    let rest = c.list_commands().max_results(2).next_token(page.next_token().unwrap()).send().await.unwrap();
    assert_eq!(rest.commands().len(), 2);
    assert_ne!(rest.commands()[0].command_id(), page.commands()[0].command_id());
}

#[tokio::test]
async fn a_stopped_agent_times_out_delivery() {
    let s = Server::start();
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (mut agents, ids) = fleet(&s, 1, tmp.path()).await;
    agents.remove(0).kill();
    let sent = shell(&c, &ids, &["true"]).timeout_seconds(30).send().await.unwrap();
    let id = sent.command().unwrap().command_id().unwrap().to_owned();
    let pending = c.get_command_invocation().command_id(&id).instance_id(&ids[0]).send().await.unwrap();
    assert_eq!(pending.status().unwrap().as_str(), "Pending");
    assert_eq!(pending.response_code(), -1);
    let inv = final_invocation(&c, &id, &ids[0], 45).await;
    assert_eq!((inv.status().unwrap().as_str(), inv.status_details()), ("TimedOut", Some("DeliveryTimedOut")));
    let cmd = command_status(&c, &id).await;
    assert_eq!(
        (cmd.status().unwrap().as_str(), cmd.status_details(), cmd.delivery_timed_out_count()),
        ("TimedOut", Some("DeliveryTimedOut"), 1)
    );
}

#[tokio::test]
async fn an_agent_restarted_mid_command_reports_it_and_stops_it() {
    let s = Server::start();
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (code_, act) = activation(&c, 1).await;
    let dir = tmp.path().join("node");
    let agent = Agent::start(&s.endpoint, &code_, &act, &dir);
    let node = agent.instance_id();
    let marker = tmp.path().join("marker");
    let sent = shell(&c, std::slice::from_ref(&node), &[&format!("sleep 4; touch {}", marker.display())])
        .send()
        .await
        .unwrap();
    let id = sent.command().unwrap().command_id().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.get_command_invocation().command_id(&id).instance_id(&node).send().await.unwrap().status().unwrap().as_str()
        != "InProgress"
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    agent.kill();
    // Restarted from its state dir: no activation needed, same node.
    let again = Agent::start(&s.endpoint, "unused-code-0000000000", &act, &dir);
    assert_eq!(again.instance_id(), node);
    let inv = final_invocation(&c, &id, &node, 20).await;
    assert_eq!(inv.status().unwrap().as_str(), "Failed");
    assert!(inv.standard_error_content().unwrap().contains("agent restarted"), "{inv:?}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!marker.exists(), "the interrupted command kept running");
    // And the restarted agent runs new commands.
    let next = shell(&c, std::slice::from_ref(&node), &["echo again"]).send().await.unwrap();
    let inv = final_invocation(&c, next.command().unwrap().command_id().unwrap(), &node, 20).await;
    assert_eq!(inv.standard_output_content(), Some("again\n"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn a_server_restarted_mid_command_loses_no_reply() {
    let data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let s = Server::spawn(data.path(), &["--listen", &listen]);
    let c = s.sdk();
    let (code_, act) = activation(&c, 1).await;
    let agent = Agent::start(&s.endpoint, &code_, &act, &tmp.path().join("node"));
    let node = agent.instance_id();
    let sent = shell(&c, std::slice::from_ref(&node), &["sleep 2", "echo finished"]).send().await.unwrap();
    let id = sent.command().unwrap().command_id().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.get_command_invocation().command_id(&id).instance_id(&node).send().await.unwrap().status().unwrap().as_str()
        != "InProgress"
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // kill -9 while the command runs; the agent's final reply finds no server, waits on
    // disk, and goes out once the server is back.
    s.kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let s = Server::spawn(data.path(), &["--listen", &listen]);
    let c = s.sdk();
    let inv = final_invocation(&c, &id, &node, 60).await;
    assert_eq!(inv.status().unwrap().as_str(), "Success");
    assert_eq!(inv.standard_output_content(), Some("finished\n"));
}

/// Two servers on one PostgreSQL database: the agent polls one, the command is sent
/// through the other, and a window on the other runs a RUN_COMMAND task on the node.
#[tokio::test]
async fn commands_reach_agents_of_another_server_on_postgresql() {
    let Some(db) = crate::postgres::fresh_database() else {
        eprintln!("TEST_DATABASE_URL is not set: skipped");
        return;
    };
    let (dir_a, dir_b, tmp) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::spawn(dir_a.path(), &["--database-url", &db]);
    let b = Server::spawn(dir_b.path(), &["--database-url", &db]);
    let (ca, cb) = (a.sdk(), b.sdk());
    let (code_, act) = activation(&ca, 1).await;
    let agent = Agent::start(&a.endpoint, &code_, &act, &tmp.path().join("node"));
    let node = agent.instance_id();
    let sent = shell(&cb, std::slice::from_ref(&node), &["echo via b"]).send().await.unwrap();
    let inv = final_invocation(&ca, sent.command().unwrap().command_id().unwrap(), &node, 30).await;
    assert_eq!((inv.status().unwrap().as_str(), inv.standard_output_content()), ("Success", Some("via b\n")));

    let window = create_window(&cb, "pg-run-command", &at_in(2), true).await;
    cb.register_task_with_maintenance_window()
        .window_id(&window)
        .task_type(MaintenanceWindowTaskType::RunCommand)
        .task_arn("AWS-RunShellScript")
        .targets(Target::builder().key("InstanceIds").values(&node).build())
        .max_concurrency("1")
        .max_errors("0")
        .task_invocation_parameters(
            MaintenanceWindowTaskInvocationParameters::builder()
                .run_command(
                    MaintenanceWindowRunCommandParameters::builder()
                        .parameters("commands", vec!["echo {{WINDOW_ID}}".into()])
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let execs = wait_for_executions(&ca, &window, 1, 40).await;
    assert_eq!(execs[0].status().unwrap().as_str(), "SUCCESS", "{execs:?}");
    let listed = ca.list_commands().instance_id(&node).send().await.unwrap();
    assert_eq!(listed.commands().len(), 2);
    let window_cmd = listed.commands()[0].command_id().unwrap();
    let out = final_invocation(&ca, window_cmd, &node, 10).await;
    assert_eq!(out.standard_output_content(), Some(format!("{window}\n").as_str()));
}
