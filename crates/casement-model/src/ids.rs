//! Typed resource IDs. Their formats are SSM's: `mw-` and 17 lower-case hex digits for
//! windows; lower-case UUIDs for targets, tasks, executions and invocations.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// `mw-0123456789abcdef0`
    WindowId
);
id_type!(
    /// A window target's UUID.
    WindowTargetId
);
id_type!(
    /// A window task's UUID.
    WindowTaskId
);

impl WindowId {
    /// SSM's window ID format, `^mw-[0-9a-f]{17}$`: for places the model does not check it
    /// (a tagging call's `ResourceId` is unconstrained).
    pub fn is_well_formed(s: &str) -> bool {
        s.len() == 20
            && s.starts_with("mw-")
            && s.as_bytes()[3..].iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    pub fn generate() -> Self {
        let bytes: [u8; 9] = rand::random();
        let hex = hex::encode(bytes);
        Self(format!("mw-{}", &hex[..17]))
    }
}

/// A random (v4) UUID from the thread's userspace CSPRNG: `Uuid::new_v4` makes a
/// `getrandom` system call per ID, which showed in request profiles.
pub fn new_uuid() -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid_into(&mut buf).to_owned()
}

/// [`new_uuid`] written into `buf`, without allocating: every response carries one, as
/// its request ID.
pub fn uuid_into(buf: &mut [u8; uuid::fmt::Hyphenated::LENGTH]) -> &str {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid().hyphenated().encode_lower(buf)
}

impl WindowTargetId {
    pub fn generate() -> Self {
        Self(new_uuid())
    }
}

impl WindowTaskId {
    pub fn generate() -> Self {
        Self(new_uuid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_aws_formats() {
        let w = WindowId::generate();
        assert!(WindowId::is_well_formed(w.as_str()), "{w}");
        assert!(!WindowId::is_well_formed("mw-0123456789ABCDEF0"));
        assert!(!WindowId::is_well_formed("mw-123"));
        let t = WindowTargetId::generate();
        assert_eq!(t.as_str().len(), 36);
        assert_ne!(WindowTaskId::generate(), WindowTaskId::generate());
    }
}
