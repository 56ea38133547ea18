//! The server as an operator meets it: the generated root key, health and metrics, and
//! shutdown on SIGTERM.

use crate::common::Server;

#[tokio::test]
async fn first_start_generates_a_private_root_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let (server, printed) = Server::spawn_with_env(dir.path(), &[], &[]);
    let key_line = printed.iter().find(|l| l.contains("aws_access_key_id")).expect("the key is printed");
    let secret_line = printed.iter().find(|l| l.contains("aws_secret_access_key")).expect("the secret is printed");
    let akid = key_line.split('=').nth(1).unwrap().trim().to_owned();
    let secret = secret_line.split('=').nth(1).unwrap().trim().to_owned();
    let file = dir.path().join("root-credentials.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // The printed key works.
    let c = server.sdk_as(&akid, &secret, "us-east-1");
    c.describe_maintenance_windows().send().await.expect("the generated key signs requests");
    server.kill();
    // A second start reuses it and prints nothing about it.
    let (server, printed) = Server::spawn_with_env(dir.path(), &[], &[]);
    assert!(printed.iter().all(|l| !l.contains("aws_secret_access_key")), "{printed:?}");
    server.sdk_as(&akid, &secret, "us-east-1").describe_maintenance_windows().send().await.expect("same key");
}

#[tokio::test]
async fn health_metrics_and_graceful_shutdown() {
    let mut s = Server::start();
    let h = http::HeaderMap::new();
    let health = s.raw("GET", "/health", &h, b"").await;
    assert_eq!(health.status, 200);
    assert!(health.header("x-amzn-requestid").is_some_and(|v| v.len() == 36));
    s.sdk().describe_maintenance_windows().send().await.unwrap();
    let _ = s.sdk().get_maintenance_window().window_id("mw-0123456789abcdef0").send().await;
    let metrics = s.raw("GET", "/metrics", &h, b"").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains(r#"casement_requests_total{operation="DescribeMaintenanceWindows",outcome="ok"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"casement_requests_total{operation="GetMaintenanceWindow",outcome="error"} 1"#), "{text}");
    let status = std::process::Command::new("kill").args(["-TERM", &s.pid().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = s.wait_exit(10).expect("the server stops on SIGTERM");
    assert!(exit.success(), "{exit:?}");
}

/// Logs written to a file or a pipe are plain text: no terminal colour codes.
#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_casement"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("CASEMENT_ACCESS_KEY_ID", crate::common::AKID)
        .env("CASEMENT_SECRET_ACCESS_KEY", crate::common::SECRET)
        .env("CASEMENT_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let line = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("casement listening"))
        .expect("the server logs that it listens");
    let _ = child.kill();
    let _ = child.wait();
    assert!(!line.contains('\u{1b}'), "colour codes in a piped log: {line:?}");
    assert!(line.contains("INFO"), "{line}");
}

/// SIGTERM with agents connected: their held long polls are answered at once, and the
/// server exits within 3 s (it waited for the polls before: 11.6 s).
#[tokio::test]
async fn sigterm_with_agents_polling_exits_promptly() {
    let mut s = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let (_agents, _ids) = crate::nodes::fleet(&s, 2, tmp.path()).await;
    // Let the agents settle into their long polls.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let status = std::process::Command::new("kill").args(["-TERM", &s.pid().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = s.wait_exit(10).expect("the server stops on SIGTERM");
    assert!(exit.success(), "{exit:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "took {:?}", started.elapsed());
}
