//! The `casement` binary's parts, as a library so that benchmarks and tests can drive
//! the server in-process.

pub mod cli;
pub mod conn;
pub mod credentials;
pub mod metrics;
pub mod server;
