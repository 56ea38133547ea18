//! Every resource belongs to one (account, region) pair, taken from the caller's key and
//! SigV4 credential scope; one never sees another's resources.

/// Ordered by account, then region (PostgreSQL batches lock commands in that order).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Self { account: account.into(), region: region.into() }
    }

    /// `arn:aws:ssm:<region>:<account>:<resource>`
    pub fn arn(&self, resource: &str) -> String {
        format!("arn:aws:ssm:{}:{}:{resource}", self.region, self.account)
    }
}
