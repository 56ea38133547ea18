//! Running one script plugin (`aws:runShellScript`, `aws:runPowerShellScript`): its
//! `runCommand` as one script in `workingDirectory`, as a process group of its own, so a
//! timeout or a cancel kills everything it started.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

/// The agent keeps the first 24,000 characters of stdout and 8,000 of stderr, as AWS's.
const MAX_STDOUT: usize = 24_000;
const MAX_STDERR: usize = 8_000;
/// Exit code reported for a command killed at its executionTimeout (as `timeout(1)`).
pub const TIMED_OUT_CODE: i32 = 124;

#[derive(Debug, Clone)]
pub struct Finished {
    /// `documentStatus`: Success, Failed, TimedOut or Cancelled.
    pub status: &'static str,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub start: chrono::DateTime<chrono::Utc>,
    pub end: chrono::DateTime<chrono::Utc>,
}

pub fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

async fn read_capped(mut r: impl tokio::io::AsyncRead + Unpin, max_chars: usize) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    // Keep up to 4 bytes per character, then drain the rest.
    let cap = max_chars * 4;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    let text = String::from_utf8_lossy(&kept);
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => text[..i].to_owned(),
        None => text.into_owned(),
    }
}

/// Which program runs a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpreter {
    Sh,
    /// PowerShell 7 (`pwsh`), where the node has it.
    Pwsh,
}

/// One script to run.
pub struct Script<'a> {
    pub interpreter: Interpreter,
    pub text: &'a str,
    pub working_directory: Option<&'a str>,
    pub timeout_secs: u64,
}

/// Run a script; `started` receives the process group ID once it exists. A cancel that
/// arrives (or arrived before) ends it Cancelled.
pub async fn run(script: Script<'_>, started: impl FnOnce(i32), cancel: &mut oneshot::Receiver<()>) -> Finished {
    let start = chrono::Utc::now();
    let timeout = script.timeout_secs;
    let mut cmd = match script.interpreter {
        Interpreter::Sh => {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(script.text);
            c
        }
        Interpreter::Pwsh => {
            let mut c = tokio::process::Command::new("pwsh");
            c.args(["-NoProfile", "-NonInteractive", "-Command"]).arg(script.text);
            c
        }
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    if let Some(dir) = script.working_directory.filter(|d| !d.is_empty()) {
        cmd.current_dir(dir);
    }
    let failed = |msg: String| Finished {
        status: "Failed",
        code: 1,
        stdout: String::new(),
        stderr: msg,
        start,
        end: chrono::Utc::now(),
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("failed to run commands: {e}")),
    };
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);
    started(pgid);
    let out = tokio::spawn(read_capped(child.stdout.take().expect("piped"), MAX_STDOUT));
    let err = tokio::spawn(read_capped(child.stderr.take().expect("piped"), MAX_STDERR));
    let (status, code) = tokio::select! {
        exit = child.wait() => match exit {
            Ok(s) => {
                let code = s.code().unwrap_or(-1);
                (if code == 0 { "Success" } else { "Failed" }, code)
            }
            Err(_) => ("Failed", -1),
        },
        _ = tokio::time::sleep(Duration::from_secs(timeout)) => {
            kill_group(pgid);
            let _ = child.wait().await;
            ("TimedOut", TIMED_OUT_CODE)
        }
        _ = cancel => {
            kill_group(pgid);
            let _ = child.wait().await;
            ("Cancelled", -1)
        }
    };
    // Background processes the script left may hold the pipes open: wait a little for
    // the output, not for them.
    let grab = |h: tokio::task::JoinHandle<String>| async move {
        tokio::time::timeout(Duration::from_secs(2), h).await.ok().and_then(Result::ok).unwrap_or_default()
    };
    let (stdout, mut stderr) = (grab(out).await, grab(err).await);
    if status == "TimedOut" {
        stderr.push_str(&format!(
            "\nfailed to run commands: the command exceeded its executionTimeout of {timeout} seconds"
        ));
    }
    Finished { status, code, stdout, stderr, start, end: chrono::Utc::now() }
}
