//! 1,000 simulated agents long-poll one server; one SendCommand goes to all of them.
//! Measured per agent, from just before SendCommand is sent: when its GetMessages
//! returned the command, and when the server accepted its first reply (InProgress).
//!
//! usage: agents_delivery ENDPOINT AKID SECRET [agents] [rounds]
//! (the server must serve that key; ulimit -n must allow 2 sockets per agent)

use std::sync::Arc;
use std::time::{Duration, Instant};

use casement_agent::{Client, Identity};
use casement_protocol::agent::{
    AcknowledgeMessageRequest, GetMessagesRequest, GetMessagesResponse, ReplyPayload, SendReplyRequest, MESSAGES_PREFIX,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tokio::sync::Notify;

/// Where the simulated agents leave their (receipt, first reply accepted) instants: a
/// vector and a count, and one wake-up when the round's last agent reports (a channel
/// would wake the collecting task once per agent, CPU taken from the system measured).
struct Results {
    agents: usize,
    times: Mutex<Vec<(Instant, Instant)>>,
    count: AtomicUsize,
    done: Notify,
}

impl Results {
    fn new(agents: usize) -> Self {
        Self { agents, times: Mutex::new(Vec::with_capacity(agents)), count: AtomicUsize::new(0), done: Notify::new() }
    }

    fn report(&self, t: (Instant, Instant)) {
        self.times.lock().unwrap().push(t);
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.agents {
            self.done.notify_one();
        }
    }

    /// Before a round: nothing reported yet.
    fn clear(&self) {
        self.times.lock().unwrap().clear();
        self.count.store(0, Ordering::Release);
    }

    /// Every agent's report for the round. A wake-up left from a round whose collector
    /// did not need it is only a spurious one.
    async fn all(&self) -> Vec<(Instant, Instant)> {
        while self.count.load(Ordering::Acquire) < self.agents {
            tokio::time::timeout(Duration::from_secs(60), self.done.notified()).await.expect("all delivered");
        }
        std::mem::take(&mut *self.times.lock().unwrap())
    }
}

/// This process's CPU time (user + system), in clock ticks: the simulated fleet shares
/// the host with the server, so what it burns is taken from the server measured.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after ") ".
    let fields: Vec<&str> = stat.rsplit_once(") ").map_or(vec![], |(_, rest)| rest.split(' ').collect());
    fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let endpoint = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:4593".into());
    let akid = args.get(2).cloned().unwrap_or_default();
    let secret = args.get(3).cloned().unwrap_or_default();
    let n: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(3);
    let admin = Client::new(
        &endpoint,
        Identity {
            instance_id: String::new(),
            access_key_id: akid,
            secret_access_key: secret,
            region: "us-east-1".into(),
        },
    )
    .expect("client");
    let call = |target: &str, body: Value| {
        let admin = admin.clone();
        let target = format!("AmazonSSM.{target}");
        async move { admin.call::<Value, Value>(&target, &body, Duration::from_secs(60)).await.expect("admin call") }
    };

    let act = call("CreateActivation", json!({"IamRole": "bench", "RegistrationLimit": n})).await;
    let (code, id) =
        (act["ActivationCode"].as_str().unwrap().to_owned(), act["ActivationId"].as_str().unwrap().to_owned());
    let t = Instant::now();
    let mut agents = Vec::with_capacity(n);
    for _ in 0..n {
        let identity = casement_agent::register(&endpoint, &code, &id, "us-east-1").await.expect("register");
        call(
            "AddTagsToResource",
            json!({"ResourceType": "ManagedInstance", "ResourceId": identity.instance_id, "Tags": [{"Key": "fleet", "Value": "bench"}]}),
        )
        .await;
        agents.push(Client::new(&endpoint, identity).expect("agent client"));
    }
    eprintln!("registered and tagged {n} nodes in {:.1} s", t.elapsed().as_secs_f64());

    // Each simulated agent: long-poll; on a command, acknowledge and reply InProgress, then
    // report (receipt, first reply accepted) as instants.
    let results = Arc::new(Results::new(n));
    let get = format!("{MESSAGES_PREFIX}GetMessages");
    for agent in agents {
        let (results, get) = (results.clone(), get.clone());
        tokio::spawn(async move {
            loop {
                let req = GetMessagesRequest {
                    destination: agent.identity.instance_id.clone(),
                    messages_request_id: uuid::Uuid::new_v4().to_string(),
                    visibility_timeout_in_seconds: Some(10),
                };
                let resp = match agent.call::<_, GetMessagesResponse>(&get, &req, Duration::from_secs(30)).await {
                    Ok(resp) => resp,
                    Err(e) => {
                        // Said, not hidden: a failed poll costs its agent half a second.
                        eprintln!("{}: GetMessages failed: {e}", agent.identity.instance_id);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                for m in resp.messages {
                    let received = Instant::now();
                    let payload = ReplyPayload { document_status: "InProgress".into(), ..Default::default() };
                    let reply = SendReplyRequest {
                        message_id: m.message_id.clone(),
                        reply_id: m.message_id.clone(),
                        payload: serde_json::to_string(&payload).unwrap(),
                    };
                    let _: Value = agent
                        .call(&format!("{MESSAGES_PREFIX}SendReply"), &reply, Duration::from_secs(30))
                        .await
                        .expect("reply");
                    let replied = Instant::now();
                    let ack = AcknowledgeMessageRequest { message_id: m.message_id };
                    let _: Value = agent
                        .call(&format!("{MESSAGES_PREFIX}AcknowledgeMessage"), &ack, Duration::from_secs(30))
                        .await
                        .expect("ack");
                    results.report((received, replied));
                }
            }
        });
    }
    let call = Arc::new(call);
    let ticks_before = cpu_ticks();
    for round in 1..=rounds {
        // Let every agent settle into its long poll.
        tokio::time::sleep(Duration::from_secs(2)).await;
        results.clear();
        let start = Instant::now();
        let sent = call(
            "SendCommand",
            json!({"DocumentName": "AWS-RunShellScript", "Targets": [{"Key": "tag:fleet", "Values": ["bench"]}],
                   "MaxConcurrency": "100%", "Parameters": {"commands": ["true"]}}),
        )
        .await;
        let send_ms = start.elapsed().as_secs_f64() * 1e3;
        assert_eq!(sent["Command"]["TargetCount"].as_i64(), Some(n as i64), "{sent}");
        let (mut recv, mut reply) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (r, p) in results.all().await {
            recv.push((r - start).as_secs_f64() * 1e3);
            reply.push((p - start).as_secs_f64() * 1e3);
        }
        recv.sort_by(f64::total_cmp);
        reply.sort_by(f64::total_cmp);
        // The shape, not only the ends: whether replies complete as the command arrives or
        // only after the whole fleet has it.
        let deciles =
            |v: &[f64]| (1..10).map(|i| format!("{:.0}", pct(v, f64::from(i) / 10.0))).collect::<Vec<_>>().join(" ");
        println!("DECILES round {round} received_ms [{}] first_reply_ms [{}]", deciles(&recv), deciles(&reply));
        println!(
            "RESULT round {round} agents={n} send_command_ms={send_ms:.1} received_p50_ms={:.1} received_p99_ms={:.1} first_reply_p50_ms={:.1} first_reply_p99_ms={:.1} first_reply_max_ms={:.1}",
            pct(&recv, 0.5),
            pct(&recv, 0.99),
            pct(&reply, 0.5),
            pct(&reply, 0.99),
            reply[n - 1]
        );
    }
    // Ticks are 1/100 s on Linux (`getconf CLK_TCK`).
    println!("RESULT agents-cpu rounds={rounds} cpu_ms={}", (cpu_ticks() - ticks_before) * 10);
}
