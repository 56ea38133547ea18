//! The wire side of Casement: everything a request must pass through before any
//! business logic sees it, and the single place where errors become bytes.
//!
//! Nothing here knows what a maintenance window is; the operation handlers live in
//! `casement-api` and only ever see validated JSON and a verified caller.

pub mod agent;
pub mod awsjson;
pub mod error;
pub mod pattern;
pub mod sigv4;
pub mod timefmt;
pub mod validate;

pub use error::ApiError;

/// Maps consulted on every request (credentials, signing keys, the model's shapes): keyed
/// by what this server configured or checked, so the fast seeded hash is enough.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
