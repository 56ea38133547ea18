//! An agent on https, as nodes reach a server across a network: the server behind a TLS
//! front (where a deployment puts a proxy), the agent trusting that front's certificate
//! through the system's roots (`SSL_CERT_FILE`), and refusing a server it cannot verify.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{crypto::ring, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::common::Server;
use crate::nodes::{activation, Agent};
use crate::run_command::{final_invocation, shell};

/// A TLS front on a port of its own for `localhost`, passing each connection through to
/// `backend` (the server's plain HTTP address). Returns the https endpoint and the
/// front's certificate (self-signed, PEM).
async fn tls_front(backend: String) -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                // A handshake the client abandons (it does not trust us) just ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut plain) = TcpStream::connect(&backend).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (format!("https://localhost:{port}"), certified.cert.pem())
}

// Two threads: the front runs on this runtime while the test blocks waiting for the agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_https_registers_and_runs_commands_and_refuses_an_unverified_server() {
    let s = Server::start();
    let c = s.sdk();
    let tmp = tempfile::tempdir().unwrap();
    let (endpoint, pem) = tls_front(s.host()).await;
    let roots = tmp.path().join("front.pem");
    std::fs::write(&roots, pem).unwrap();
    let (code, id) = activation(&c, 2).await;

    // A node that trusts only the system's usual roots cannot verify the front: it keeps
    // retrying registration and never registers.
    let untrusting_log = tmp.path().join("untrusting.log");
    let system_roots = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
    let untrusting = Agent::start_with(
        &endpoint,
        &code,
        &id,
        &tmp.path().join("untrusting"),
        &[("SSL_CERT_FILE", system_roots)],
        Stdio::from(std::fs::File::create(&untrusting_log).unwrap()),
    );

    // A node that trusts the front registers, reports, and runs a command over https.
    let agent = Agent::start_with(
        &endpoint,
        &code,
        &id,
        &tmp.path().join("trusting"),
        &[("SSL_CERT_FILE", &roots)],
        Stdio::inherit(),
    );
    let node = agent.instance_id();
    let sent = shell(&c, std::slice::from_ref(&node), &["echo over https"]).send().await.unwrap();
    let command = sent.command().unwrap().command_id().unwrap().to_owned();
    let inv = final_invocation(&c, &command, &node, 30).await;
    assert_eq!(inv.status().unwrap().as_str(), "Success", "{inv:?}");
    assert_eq!(inv.standard_output_content(), Some("over https\n"));

    // The untrusting node said why, and got no identity; the activation counts one node.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(&untrusting_log).unwrap_or_default();
        if log.contains("registration failed") {
            assert!(log.contains("certificate"), "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "the untrusting agent never reported its failure: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!untrusting.state_dir.join("identity.json").exists());
    let activations = c.describe_activations().send().await.unwrap();
    let ours = activations.activation_list().iter().find(|a| a.activation_id() == Some(id.as_str())).unwrap();
    assert_eq!(ours.registrations_count(), Some(1));
}
