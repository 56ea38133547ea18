//! Where access keys come from: a credentials file, one key from the environment, or
//! a root key generated on first start and kept in the data dir (mode 0600).

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use casement_protocol::sigv4::{Credential, StaticCredentials};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::cli::ServeArgs;

#[derive(Debug, Deserialize, Serialize)]
struct File {
    credentials: Vec<Entry>,
}

#[derive(Debug, Deserialize, Serialize)]
struct Entry {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default = "default_account")]
    account_id: String,
}

impl From<Entry> for Credential {
    fn from(e: Entry) -> Self {
        Credential { access_key_id: e.access_key_id, secret_access_key: e.secret_access_key, account_id: e.account_id }
    }
}

fn default_account() -> String {
    "000000000000".into()
}

const GENERATED: &str = "root-credentials.toml";

fn check_account(a: &str) -> anyhow::Result<()> {
    if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
        bail!("account ID {a:?} is not 12 digits");
    }
    Ok(())
}

fn read_file(path: &Path) -> anyhow::Result<Vec<Credential>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: File = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    file.credentials
        .into_iter()
        .map(|e| {
            check_account(&e.account_id)?;
            Ok(Credential::from(e))
        })
        .collect()
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

/// Load the configured keys, generating the root key on the first start without any.
pub fn load(args: &ServeArgs) -> anyhow::Result<StaticCredentials> {
    check_account(&args.account_id)?;
    if let Some(path) = &args.credentials_file {
        return Ok(StaticCredentials::new(read_file(path)?));
    }
    match (&args.access_key_id, &args.secret_access_key) {
        (Some(id), Some(secret)) => {
            return Ok(StaticCredentials::new([Credential {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                account_id: args.account_id.clone(),
            }]))
        }
        (Some(_), None) | (None, Some(_)) => {
            bail!("CASEMENT_ACCESS_KEY_ID and CASEMENT_SECRET_ACCESS_KEY must be set together")
        }
        (None, None) => {}
    }
    let path = args.data_dir.join(GENERATED);
    if path.exists() {
        return Ok(StaticCredentials::new(read_file(&path)?));
    }
    std::fs::create_dir_all(&args.data_dir)?;
    let entry = Entry {
        access_key_id: format!("AKCS{}", random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
        secret_access_key: random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40),
        account_id: args.account_id.clone(),
    };
    // Printed once, on the start that creates it.
    println!("Generated a root access key (kept in {}):", path.display());
    println!("  aws_access_key_id     = {}", entry.access_key_id);
    println!("  aws_secret_access_key = {}", entry.secret_access_key);
    println!("  account               = {}", entry.account_id);
    let file = File { credentials: vec![entry] };
    let text = toml::to_string(&file)?;
    write_private(&path, text.as_bytes())?;
    Ok(StaticCredentials::new(file.credentials.into_iter().map(Credential::from)))
}

/// Create a file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
