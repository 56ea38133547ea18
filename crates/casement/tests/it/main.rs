//! One integration binary (Garage style): every test drives a real `casement serve`
//! process over HTTP.

mod automation;
mod common;
mod connections;
mod documents;
mod engine_e2e;
mod fake_aws;
mod fuzz;
mod isolation;
mod lifecycle;
mod nodes;
mod postgres;
mod restart;
mod run_command;
mod schedules;
mod sdk_roundtrip;
mod sigv4;
mod tls;
mod validation;
