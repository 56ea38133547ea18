//! Connections that hold the server's file descriptors without making requests: silent
//! sockets and heads sent a byte at a time (slowloris). Under a low descriptor limit
//! they must not keep a real client out for longer than the timeouts.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{AKID, SECRET};

struct Spawned {
    child: std::process::Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server limited to 256 file descriptors, with a 1 s header timeout and the given
/// idle timeout.
fn spawn_limited(idle_seconds: u32) -> Spawned {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!(
        "ulimit -n 256 && exec '{}' serve --listen 127.0.0.1:0 --data-dir '{}' --header-timeout-seconds 1 --idle-timeout-seconds {idle_seconds}",
        env!("CARGO_BIN_EXE_casement"),
        dir.path().display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &cmd])
        .env("CASEMENT_ACCESS_KEY_ID", AKID)
        .env("CASEMENT_SECRET_ACCESS_KEY", SECRET)
        .env("CASEMENT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(url) = line.strip_prefix("casement listening on ") {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Spawned { child, endpoint, _dir: dir }
}

#[tokio::test]
async fn silent_and_trickling_sockets_do_not_keep_a_client_out() {
    // A long idle timeout: what frees the descriptors is the header timeout, which a
    // connection that never sent a request meets as one that sent half of one.
    let s = spawn_limited(60);
    let addr = s.endpoint.trim_start_matches("http://").to_owned();
    // 400 connections that never finish a request: more than the server has descriptors.
    let mut hogs = Vec::new();
    for i in 0..400 {
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        if i % 2 == 0 {
            // Half of a request head, and then nothing.
            let _ = c.write_all(b"POST / HTTP/1.1\r\nHost: casement\r\nX-Amz-Target: AmazonSSM.");
        }
        hogs.push(c);
    }
    // A real client gets its answer once the hogs are timed out (1 s): well within 8 s.
    let started = Instant::now();
    let c = crate::common::sdk_at(&s.endpoint, AKID, SECRET, "us-east-1");
    let answered = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            match c.describe_maintenance_windows().send().await {
                Ok(_) => break,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await;
    assert!(answered.is_ok(), "a real client was kept out for more than 8 s");
    assert!(started.elapsed() < Duration::from_secs(8));
    // The hogs were closed by the server: a read sees the end of the stream.
    let mut closed = 0;
    for mut h in hogs.into_iter().take(20) {
        h.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        if matches!(h.read(&mut buf), Ok(0) | Err(_)) {
            closed += 1;
        }
    }
    assert_eq!(closed, 20, "the server closes connections that send no complete request");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_but_a_long_request_is_not() {
    let s = spawn_limited(2);
    let addr = s.endpoint.trim_start_matches("http://").to_owned();
    // A health check, then nothing on the same connection: closed after the idle timeout.
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: casement\r\n\r\n").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let started = Instant::now();
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the idle connection was not closed: {e}"),
        }
    }
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    let idle = started.elapsed();
    assert!(idle >= Duration::from_millis(1_500) && idle < Duration::from_secs(5), "closed after {idle:?}");

    // A request being answered is not idle, however long it takes: a body sent over
    // three seconds (longer than the idle timeout) still gets its answer.
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.write_all(b"POST / HTTP/1.1\r\nHost: casement\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: AmazonSSM.DescribeMaintenanceWindows\r\nContent-Length: 10\r\n\r\n").unwrap();
    for b in b"{        }" {
        std::thread::sleep(Duration::from_millis(300));
        c.write_all(&[*b]).unwrap();
    }
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = c.read(&mut buf).unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("MissingAuthenticationTokenException"), "{answer}");
}
