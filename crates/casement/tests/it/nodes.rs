//! Managed nodes through real `casement agent` processes: activations, registration,
//! health, tags, deregistration, and what the agent API refuses.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ssm::types::{InstanceInformationStringFilter, ResourceTypeForTagging, Tag};
use casement_protocol::sigv4::{self, Credential};
use http::HeaderMap;
use serde_json::{json, Value};

use crate::common::{code, Response, Server};

/// A running `casement agent`, killed on drop.
pub struct Agent {
    child: Child,
    pub state_dir: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    pub fn start(endpoint: &str, code: &str, id: &str, state_dir: &Path) -> Agent {
        Self::start_with(endpoint, code, id, state_dir, &[], Stdio::inherit())
    }

    /// An agent with extra environment (say, the roots it trusts) and its log sent to `log`.
    pub fn start_with(
        endpoint: &str,
        code: &str,
        id: &str,
        state_dir: &Path,
        env: &[(&str, &Path)],
        log: Stdio,
    ) -> Agent {
        let child = Command::new(env!("CARGO_BIN_EXE_casement"))
            .args(["agent", "--endpoint", endpoint, "--activation-code", code, "--activation-id", id])
            .args(["--heartbeat-seconds", "1", "--state-dir"])
            .arg(state_dir)
            .env("CASEMENT_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn agent");
        Agent { child, state_dir: state_dir.to_owned() }
    }

    /// Wait for registration and return the node's identity file.
    pub fn identity(&self) -> Value {
        let path = self.state_dir.join("identity.json");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(b) = std::fs::read(&path) {
                if let Ok(v) = serde_json::from_slice::<Value>(&b) {
                    return v;
                }
            }
            assert!(Instant::now() < deadline, "agent did not register");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn instance_id(&self) -> String {
        self.identity()["instance_id"].as_str().expect("instance id").to_owned()
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Wait for the agent to exit on its own.
    pub fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// An activation: (code, id).
pub async fn activation(c: &aws_sdk_ssm::Client, limit: i32) -> (String, String) {
    let a = c
        .create_activation()
        .iam_role("casement-node")
        .registration_limit(limit)
        .default_instance_name("fleet")
        .send()
        .await
        .expect("create activation");
    (a.activation_code().unwrap().to_owned(), a.activation_id().unwrap().to_owned())
}

/// Start `n` agents with their own state dirs and wait until all reported health.
pub async fn fleet(s: &Server, n: usize, dir: &Path) -> (Vec<Agent>, Vec<String>) {
    let c = s.sdk();
    let (code, id) = activation(&c, n as i32).await;
    let agents: Vec<Agent> =
        (0..n).map(|i| Agent::start(&s.endpoint, &code, &id, &dir.join(format!("node{i}")))).collect();
    let ids: Vec<String> = agents.iter().map(Agent::instance_id).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = c.describe_instance_information().max_results(50).send().await.expect("describe");
        let reported = list.instance_information_list().iter().filter(|i| i.platform_type().is_some()).count();
        if reported >= n {
            break;
        }
        assert!(Instant::now() < deadline, "agents did not report health");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (agents, ids)
}

/// A request signed with a node's own key, as its agent would send it.
pub async fn node_call(s: &Server, identity: &Value, target: &str, body: &Value) -> Response {
    let cred = Credential {
        access_key_id: identity["access_key_id"].as_str().unwrap().into(),
        secret_access_key: identity["secret_access_key"].as_str().unwrap().into(),
        account_id: String::new(),
    };
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
    h.insert("x-amz-target", target.parse().unwrap());
    h.insert("host", s.host().parse().unwrap());
    let bytes = body.to_string().into_bytes();
    let params = sigv4::SigningParams {
        credential: &cred,
        region: "us-east-1",
        service: "ec2messages",
        time: chrono::Utc::now(),
    };
    sigv4::sign("POST", "/", &mut h, &bytes, &params);
    s.raw("POST", "/", &h, &bytes).await
}

#[tokio::test]
async fn agents_register_report_health_and_carry_tags() {
    let s = Server::start_with(&["--connection-lost-seconds", "3"]);
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (agents, ids) = fleet(&s, 2, tmp.path()).await;

    // The identity is private to the agent's user.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(agents[0].state_dir.join("identity.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let list = c.describe_instance_information().send().await.unwrap();
    let infos = list.instance_information_list();
    assert_eq!(infos.len(), 2);
    for i in infos {
        assert!(ids.contains(&i.instance_id().unwrap().to_owned()));
        assert_eq!(i.ping_status().unwrap().as_str(), "Online");
        assert_eq!(i.resource_type().unwrap().as_str(), "ManagedInstance");
        assert_eq!(i.iam_role(), Some("casement-node"));
        assert_eq!(i.name(), Some("fleet"));
        assert_eq!(i.platform_type().unwrap().as_str(), "Linux");
        assert!(i.agent_version().is_some() && i.computer_name().is_some() && i.ip_address().is_some());
        assert!(i.last_ping_date_time().is_some() && i.registration_date().is_some());
    }
    // The activation counts its registrations; the limit is used up.
    let acts = c.describe_activations().send().await.unwrap();
    let a = &acts.activation_list()[0];
    assert_eq!((a.registrations_count(), a.registration_limit(), a.expired()), (Some(2), Some(2), false));

    // Tags on a node, and the tag filter.
    c.add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::ManagedInstance)
        .resource_id(&ids[0])
        .tags(Tag::builder().key("role").value("web").build().unwrap())
        .send()
        .await
        .unwrap();
    let tagged = c
        .describe_instance_information()
        .filters(InstanceInformationStringFilter::builder().key("tag:role").values("web").build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tagged.instance_information_list().len(), 1);
    assert_eq!(tagged.instance_information_list()[0].instance_id(), Some(ids[0].as_str()));
    let bad = c
        .describe_instance_information()
        .filters(InstanceInformationStringFilter::builder().key("Nope").values("x").build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad), "InvalidFilterKey");

    // A stopped agent goes ConnectionLost once it misses its pings.
    let mut agents = agents;
    agents.remove(1).kill();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let lost = c
        .describe_instance_information()
        .filters(InstanceInformationStringFilter::builder().key("PingStatus").values("ConnectionLost").build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(lost.instance_information_list().len(), 1);
    assert_eq!(lost.instance_information_list()[0].instance_id(), Some(ids[1].as_str()));
}

#[tokio::test]
async fn registration_is_refused_past_the_limit_or_expiry_and_after_deregistration() {
    let s = Server::start();
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (code_, id) = activation(&c, 1).await;
    let first = Agent::start(&s.endpoint, &code_, &id, &tmp.path().join("a"));
    let identity = first.identity();
    // The limit of one is used: a second node is refused, and its agent exits.
    let mut second = Agent::start(&s.endpoint, &code_, &id, &tmp.path().join("b"));
    assert!(!second.wait_exit(20).expect("refused agent exits").success());
    assert!(!tmp.path().join("b/identity.json").exists());
    let r =
        s.raw_json("AmazonSSM.RegisterManagedInstance", &json!({"ActivationCode": code_, "ActivationId": id})).await;
    assert_eq!(r.error_type().as_deref(), Some("InvalidActivation"));
    // A wrong code and an unknown activation read the same.
    let r = s
        .raw_json(
            "AmazonSSM.RegisterManagedInstance",
            &json!({"ActivationCode": "wrong-code-0000000000", "ActivationId": "0b6bb1e2-7c9a-4f0e-9d8e-4b0e2f1c9a11"}),
        )
        .await;
    assert_eq!(r.error_type().as_deref(), Some("InvalidActivation"));
    // Malformed ones do not reach the activation: AWS's agent model says how long each is.
    let r =
        s.raw_json("AmazonSSM.RegisterManagedInstance", &json!({"ActivationCode": "x", "ActivationId": "nope"})).await;
    assert_eq!(r.error_type().as_deref(), Some("ValidationException"));
    assert!(r.message().starts_with("2 validation errors detected"), "{}", r.message());

    // An activation past its expiry refuses registration.
    let exp = aws_sdk_ssm::primitives::DateTime::from_secs(chrono::Utc::now().timestamp() + 2);
    let a = c.create_activation().iam_role("r").expiration_date(exp).send().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = s
        .raw_json(
            "AmazonSSM.RegisterManagedInstance",
            &json!({"ActivationCode": a.activation_code(), "ActivationId": a.activation_id()}),
        )
        .await;
    assert_eq!(r.error_type().as_deref(), Some("InvalidActivation"));
    assert!(r.message().contains("expired"), "{}", r.message());
    let acts = c.describe_activations().send().await.unwrap();
    assert!(acts.activation_list().iter().any(|x| x.expired()));

    // Deregistered: the node's key stops working and its agent exits.
    let node = identity["instance_id"].as_str().unwrap().to_owned();
    c.deregister_managed_instance().instance_id(&node).send().await.unwrap();
    let r =
        node_call(&s, &identity, "EC2WindowsMessageDeliveryService.GetMessages", &json!({"Destination": node})).await;
    assert_eq!(r.error_type().as_deref(), Some("AccessDeniedException"));
    let mut first = first;
    assert!(!first.wait_exit(40).expect("deregistered agent exits").success());
    assert!(c.describe_instance_information().send().await.unwrap().instance_information_list().is_empty());
    let again = c.deregister_managed_instance().instance_id(&node).send().await.unwrap_err();
    assert_eq!(code(&again), "InvalidInstanceId");
    c.delete_activation().activation_id(&id).send().await.unwrap();
    let gone = c.delete_activation().activation_id(&id).send().await.unwrap_err();
    assert_eq!(code(&gone), "InvalidActivationId");
}

#[tokio::test]
async fn a_node_reaches_only_its_own_messages() {
    let s = Server::start();
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (agents, ids) = fleet(&s, 2, tmp.path()).await;
    let a = agents[0].identity();
    let b = &ids[1];
    let cmd = c
        .send_command()
        .instance_ids(b)
        .document_name("AWS-RunShellScript")
        .parameters("commands", vec!["sleep 5".into()])
        .send()
        .await
        .unwrap();
    let command_id = cmd.command().unwrap().command_id().unwrap();
    let other_message = format!("aws.ssm.{command_id}.{b}");
    let calls = [
        ("GetMessages", json!({"Destination": b, "MessagesRequestId": "5f0c2a8e-1111-4b6e-9c3d-000000000001"})),
        ("AcknowledgeMessage", json!({"MessageId": other_message})),
        (
            "SendReply",
            json!({
                "MessageId": other_message,
                "ReplyId": "5f0c2a8e-1111-4b6e-9c3d-000000000002",
                "Payload": "{\"documentStatus\":\"Success\"}"
            }),
        ),
        ("FailMessage", json!({"MessageId": other_message, "FailureType": "InternalHandlerException"})),
    ];
    for (op, body) in calls {
        let r = node_call(&s, &a, &format!("EC2WindowsMessageDeliveryService.{op}"), &body).await;
        assert_eq!(r.error_type().as_deref(), Some("AccessDeniedException"), "{op}");
    }
    let r = node_call(&s, &a, "AmazonSSM.UpdateInstanceInformation", &json!({"InstanceId": b})).await;
    assert_eq!(r.error_type().as_deref(), Some("AccessDeniedException"));
    // Malformed requests get clear errors.
    let own = a["instance_id"].as_str().unwrap();
    let r = node_call(&s, &a, "EC2WindowsMessageDeliveryService.AcknowledgeMessage", &json!({"MessageId": "garbage"}))
        .await;
    assert_eq!(r.error_type().as_deref(), Some("ValidationException"));
    let missing = format!("aws.ssm.0b6bb1e2-7c9a-4f0e-9d8e-4b0e2f1c9a11.{own}");
    let r =
        node_call(&s, &a, "EC2WindowsMessageDeliveryService.AcknowledgeMessage", &json!({"MessageId": missing})).await;
    assert_eq!(r.error_type().as_deref(), Some("DoesNotExistException"));
    let r = node_call(&s, &a, "EC2WindowsMessageDeliveryService.GetMessages", &json!({"Destination": 7})).await;
    assert_eq!(r.error_type().as_deref(), Some("SerializationException"));
    // The agents' operations are checked against their model like every request: a
    // health report with a 500,000-character computer name is refused, not stored.
    let huge = "x".repeat(500_000);
    let r = node_call(&s, &a, "AmazonSSM.UpdateInstanceInformation", &json!({"InstanceId": own, "ComputerName": huge}))
        .await;
    assert_eq!(r.error_type().as_deref(), Some("ValidationException"));
    assert!(r.message().ends_with(
        "at 'computerName' failed to satisfy constraint: Member must have length less than or equal to 255"
    ));
    let r = node_call(
        &s,
        &a,
        "AmazonSSM.UpdateInstanceInformation",
        &json!({"InstanceId": own, "AgentVersion": "latest", "PlatformType": "Plan9"}),
    )
    .await;
    assert_eq!(r.error_type().as_deref(), Some("ValidationException"));
    assert!(r.message().starts_with("2 validation errors detected"), "{}", r.message());
    let nodes = c.describe_instance_information().send().await.unwrap();
    let me = nodes.instance_information_list().iter().find(|n| n.instance_id() == Some(own)).unwrap();
    assert_ne!(me.computer_name().map(str::len), Some(500_000));
    // Unsigned, or signed with an unknown key.
    let r = s.raw_json("EC2WindowsMessageDeliveryService.GetMessages", &json!({"Destination": own})).await;
    assert_eq!(r.error_type().as_deref(), Some("MissingAuthenticationTokenException"));
    let mut forged = a.clone();
    forged["secret_access_key"] = json!("not-the-secret");
    let r = node_call(&s, &forged, "EC2WindowsMessageDeliveryService.GetMessages", &json!({"Destination": own})).await;
    assert_eq!(r.error_type().as_deref(), Some("InvalidSignatureException"));
    // The owner's agent still gets and runs its command.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let inv = c.get_command_invocation().command_id(command_id).instance_id(b).send().await.unwrap();
        if inv.status().unwrap().as_str() == "Success" {
            break;
        }
        assert!(Instant::now() < deadline, "{inv:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
