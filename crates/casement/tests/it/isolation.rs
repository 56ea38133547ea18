//! Accounts (from the access key) and regions (from the credential scope) isolate
//! resources.

use crate::common::Server;

#[tokio::test]
async fn accounts_and_regions_do_not_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds.toml");
    std::fs::write(
        &creds,
        r#"
[[credentials]]
access_key_id = "AKIDACCOUNTA00000001"
secret_access_key = "secret-a"
account_id = "111111111111"

[[credentials]]
access_key_id = "AKIDACCOUNTB00000002"
secret_access_key = "secret-b"
account_id = "222222222222"
"#,
    )
    .unwrap();
    let s = Server::spawn(&dir.path().join("data"), &["--credentials-file", creds.to_str().unwrap()]);
    let a = s.sdk_as("AKIDACCOUNTA00000001", "secret-a", "us-east-1");
    let b = s.sdk_as("AKIDACCOUNTB00000002", "secret-b", "us-east-1");
    let a_west = s.sdk_as("AKIDACCOUNTA00000001", "secret-a", "eu-west-1");
    let id = crate::common::create_window(&a, "mine", "rate(1 day)", false).await;
    assert_eq!(a.describe_maintenance_windows().send().await.unwrap().window_identities().len(), 1);
    assert!(b.describe_maintenance_windows().send().await.unwrap().window_identities().is_empty());
    assert!(a_west.describe_maintenance_windows().send().await.unwrap().window_identities().is_empty());
    let err = b.get_maintenance_window().window_id(&id).send().await.unwrap_err();
    assert_eq!(crate::common::code(&err), "DoesNotExistException");
    let err = b.update_maintenance_window().window_id(&id).name("stolen").send().await.unwrap_err();
    assert_eq!(crate::common::code(&err), "DoesNotExistException");
    // B deleting A's window is a no-op for A.
    b.delete_maintenance_window().window_id(&id).send().await.unwrap();
    assert_eq!(a.get_maintenance_window().window_id(&id).send().await.unwrap().name(), Some("mine"));
}
