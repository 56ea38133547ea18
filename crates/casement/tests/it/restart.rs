//! Acknowledged writes survive the process being killed (SIGKILL, no shutdown).

use crate::common::Server;

#[tokio::test]
async fn kill_and_restart_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::spawn(dir.path(), &[]);
    let c = s.sdk();
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = crate::common::create_window(&c, &format!("durable-{i}"), "rate(1 day)", true).await;
        c.register_task_with_maintenance_window()
            .window_id(&id)
            .task_arn("arn:aws:lambda:us-east-1:111122223333:function:f")
            .task_type(aws_sdk_ssm::types::MaintenanceWindowTaskType::Lambda)
            .send()
            .await
            .unwrap();
        ids.push(id);
    }
    s.kill();
    let s = Server::spawn(dir.path(), &[]);
    let c = s.sdk();
    for (i, id) in ids.iter().enumerate() {
        let w = c.get_maintenance_window().window_id(id).send().await.expect("window survives");
        assert_eq!(w.name(), Some(format!("durable-{i}").as_str()));
        let tasks = c.describe_maintenance_window_tasks().window_id(id).send().await.unwrap();
        assert_eq!(tasks.tasks().len(), 1);
    }
}
