//! When a maintenance window runs: AWS's `cron(…)`, `rate(…)` and `at(…)` expressions,
//! evaluated in an IANA time zone with `ScheduleOffset`, `StartDate` and `EndDate`, and
//! AWS's way of printing the resulting times.
//!
//! Everything here is a pure function of its inputs: "now" is always a parameter, never
//! read from a clock, so every rule is testable to the millisecond.

mod cron;
mod error;
mod expr;
mod format;
mod window;
mod zone;

pub use cron::Cron;
pub use error::ScheduleError;
pub use expr::{Rate, Schedule};
pub use format::{format_execution_time, parse_date_time};
pub use window::WindowSchedule;
pub use zone::{parse_zone, to_instant};
