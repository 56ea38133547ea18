//! Custom Command documents run by real `casement agent` processes: a document of
//! several steps with typed, checked parameters, through SendCommand and through a
//! maintenance window's RUN_COMMAND task, each step's result on its own.

use aws_sdk_ssm::types::{
    DocumentFormat, DocumentType, MaintenanceWindowResourceType, MaintenanceWindowRunCommandParameters,
    MaintenanceWindowTaskInvocationParameters, MaintenanceWindowTaskType, Target,
};
use serde_json::Value;

use crate::common::{at_in, code, create_window, first_task_invocations, wait_for_executions, Server};
use crate::nodes::fleet;

/// Two steps that run on Linux, one that only runs on Windows, and a parameter with
/// allowed values.
const RESTART: &str = r#"
schemaVersion: "2.2"
description: Restart a service, then show what it printed
parameters:
  service:
    type: String
    allowedValues: [nginx, cron]
  lines:
    type: String
    default: "3"
    allowedPattern: "^[0-9]+$"
  fail:
    type: String
    default: "0"
mainSteps:
  - action: aws:runShellScript
    name: restart
    inputs:
      runCommand:
        - echo restarting {{ service }}
        - exit {{ fail }}
  - action: aws:runPowerShellScript
    name: windowsOnly
    precondition:
      StringEquals: [platformType, Windows]
    inputs:
      runCommand: [Write-Output never]
  - action: aws:runShellScript
    name: showLog
    inputs:
      workingDirectory: /tmp
      runCommand: ["echo last {{ lines }} lines of {{ service }} in $(pwd)"]
"#;

async fn create_restart(c: &aws_sdk_ssm::Client) {
    c.create_document()
        .name("restart-service")
        .content(RESTART)
        .document_type(DocumentType::Command)
        .document_format(DocumentFormat::Yaml)
        .send()
        .await
        .expect("create document");
}

fn plugin<'a>(inv: &'a aws_sdk_ssm::types::CommandInvocation, name: &str) -> &'a aws_sdk_ssm::types::CommandPlugin {
    inv.command_plugins().iter().find(|p| p.name() == Some(name)).unwrap_or_else(|| panic!("no plugin {name}"))
}

#[tokio::test]
async fn send_command_runs_a_custom_document_step_by_step() {
    let s = Server::start();
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (_agents, ids) = fleet(&s, 1, tmp.path()).await;
    create_restart(&c).await;
    let send = |params: &[(&str, &str)]| {
        let mut b = c.send_command().instance_ids(&ids[0]).document_name("restart-service");
        for (k, v) in params {
            b = b.parameters(*k, vec![v.to_string()]);
        }
        b
    };

    // Parameters are checked against the document before anything is sent.
    let e = send(&[]).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameters");
    let e = send(&[("service", "apache")]).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameters");
    assert!(
        format!("{e:?}").contains(r#"Parameter \"service\" has value \"apache\" not found in [nginx, cron]."#),
        "{e:?}"
    );
    let e = send(&[("service", "cron"), ("colour", "red")]).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameters");
    let e = c.send_command().instance_ids(&ids[0]).document_name("no-such-doc").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidDocument");

    let sent = send(&[("service", "cron")]).send().await.unwrap();
    let id = sent.command().unwrap().command_id().unwrap().to_owned();
    let inv = final_invocation_of(&c, &id, &ids[0], "restart").await;
    assert_eq!(inv.plugin_name(), Some("restart"));
    assert_eq!(inv.status().unwrap().as_str(), "Success");
    // GetCommandInvocation needs PluginName: the document has several steps.
    let e = c.get_command_invocation().command_id(&id).instance_id(&ids[0]).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidPluginName");
    assert_eq!(inv.standard_output_content(), Some("restarting cron\n"));
    let log =
        c.get_command_invocation().command_id(&id).instance_id(&ids[0]).plugin_name("showLog").send().await.unwrap();
    assert_eq!(log.standard_output_content(), Some("last 3 lines of cron in /tmp\n"));
    assert_eq!(log.response_code(), 0);
    let e = c
        .get_command_invocation()
        .command_id(&id)
        .instance_id(&ids[0])
        .plugin_name("noSuchStep")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidPluginName");

    let listed = c.list_command_invocations().command_id(&id).details(true).send().await.unwrap();
    let listed = &listed.command_invocations()[0];
    assert_eq!(listed.status().unwrap().as_str(), "Success");
    let names: Vec<&str> = listed.command_plugins().iter().filter_map(|p| p.name()).collect();
    assert_eq!(names, ["restart", "windowsOnly", "showLog"]);
    let skipped = plugin(listed, "windowsOnly");
    assert_eq!((skipped.status().unwrap().as_str(), skipped.status_details()), ("Success", Some("Skipped")));
    assert_eq!(plugin(listed, "showLog").output(), Some("last 3 lines of cron in /tmp\n"));

    // A failing step fails the document; the steps after it still run.
    let sent = send(&[("service", "nginx"), ("fail", "4"), ("lines", "7")]).send().await.unwrap();
    let id = sent.command().unwrap().command_id().unwrap().to_owned();
    let restart = final_invocation_of(&c, &id, &ids[0], "restart").await;
    assert_eq!(restart.status().unwrap().as_str(), "Failed");
    assert_eq!(restart.response_code(), 4);
    let log = final_invocation_of(&c, &id, &ids[0], "showLog").await;
    assert_eq!(log.status().unwrap().as_str(), "Success");
    assert_eq!(log.standard_output_content(), Some("last 7 lines of nginx in /tmp\n"));
    let cmd = c.list_commands().command_id(&id).send().await.unwrap();
    assert_eq!(cmd.commands()[0].status().unwrap().as_str(), "Failed");
}

async fn final_invocation_of(
    c: &aws_sdk_ssm::Client,
    command: &str,
    node: &str,
    plugin: &str,
) -> aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationOutput {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let inv = c
            .get_command_invocation()
            .command_id(command)
            .instance_id(node)
            .plugin_name(plugin)
            .send()
            .await
            .expect("get invocation");
        if !matches!(inv.status().unwrap().as_str(), "Pending" | "InProgress") {
            return inv;
        }
        assert!(std::time::Instant::now() < deadline, "step {plugin} did not finish: {inv:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_window_task_runs_a_custom_document_by_arn_and_version() {
    let s = Server::start();
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (_agents, ids) = fleet(&s, 1, tmp.path()).await;
    create_restart(&c).await;
    // Version 2 says something else; the task asks for version 1.
    c.update_document()
        .name("restart-service")
        .content(RESTART.replace("echo restarting", "echo version two restarting"))
        .document_format(DocumentFormat::Yaml)
        .document_version("$LATEST")
        .send()
        .await
        .unwrap();
    let account = c.describe_document().name("restart-service").send().await.unwrap();
    let owner = account.document().unwrap().owner().unwrap().to_owned();
    let arn = format!("arn:aws:ssm:us-east-1:{owner}:document/restart-service");

    let window = create_window(&c, "custom-doc", &at_in(3), false).await;
    let target = c
        .register_target_with_maintenance_window()
        .window_id(&window)
        .resource_type(MaintenanceWindowResourceType::Instance)
        .targets(Target::builder().key("InstanceIds").values(&ids[0]).build())
        .send()
        .await
        .unwrap()
        .window_target_id()
        .unwrap()
        .to_owned();
    c.register_task_with_maintenance_window()
        .window_id(&window)
        .task_type(MaintenanceWindowTaskType::RunCommand)
        .task_arn(&arn)
        .targets(Target::builder().key("WindowTargetIds").values(&target).build())
        .max_concurrency("1")
        .max_errors("0")
        .task_invocation_parameters(
            MaintenanceWindowTaskInvocationParameters::builder()
                .run_command(
                    MaintenanceWindowRunCommandParameters::builder()
                        .document_version("1")
                        .parameters("service", vec!["nginx".into()])
                        .parameters("lines", vec!["{{WINDOW_EXECUTION_ID}}".into()])
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let execs = wait_for_executions(&c, &window, 1, 40).await;
    let exec = execs[0].window_execution_id().unwrap().to_owned();
    // The pseudo parameter makes `lines` fail the document's allowedPattern: the task
    // fails with the reason, as SendCommand would have refused it.
    assert_eq!(execs[0].status().unwrap().as_str(), "FAILED", "{execs:?}");
    let invs = first_task_invocations(&c, &exec).await;
    let inv = &invs[0];
    assert_eq!(inv.status().unwrap().as_str(), "FAILED");
    assert!(inv.status_details().unwrap_or_default().contains("allowed pattern"), "{inv:?}");

    // With a valid value, the window's command runs version 1 of the document.
    let task_id = c.describe_maintenance_window_tasks().window_id(&window).send().await.unwrap().tasks()[0]
        .window_task_id()
        .unwrap()
        .to_owned();
    c.update_maintenance_window_task()
        .window_id(&window)
        .window_task_id(&task_id)
        .task_invocation_parameters(
            MaintenanceWindowTaskInvocationParameters::builder()
                .run_command(
                    MaintenanceWindowRunCommandParameters::builder()
                        .document_version("1")
                        .parameters("service", vec!["nginx".into()])
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.update_maintenance_window().window_id(&window).schedule(at_in(3)).send().await.unwrap();
    let execs = wait_for_executions(&c, &window, 2, 40).await;
    let newest = execs.iter().find(|e| e.window_execution_id() != Some(exec.as_str())).unwrap();
    assert_eq!(newest.status().unwrap().as_str(), "SUCCESS", "{execs:?}");
    let exec = newest.window_execution_id().unwrap().to_owned();
    let invs = first_task_invocations(&c, &exec).await;
    let inv = &invs[0];
    let params: Value = serde_json::from_str(inv.parameters().unwrap()).unwrap();
    assert_eq!(params["documentName"], arn);
    let command = inv.execution_id().unwrap();
    let out = final_invocation_of(&c, command, &ids[0], "restart").await;
    assert_eq!(out.document_name(), Some("restart-service"));
    assert_eq!(out.document_version(), Some("1"));
    assert_eq!(out.standard_output_content(), Some("restarting nginx\n"));
}
