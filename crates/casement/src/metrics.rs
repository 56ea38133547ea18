//! Request counters per operation, served as Prometheus text on `GET /metrics`. The map
//! is built once from the model, so counting is a lookup and an atomic add.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    errors: AtomicU64,
}

pub struct Metrics {
    ops: BTreeMap<&'static str, Counters>,
    other: Counters,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let ops = casement_protocol::validate::model().operations().map(|op| (op, Counters::default())).collect();
        Self { ops, other: Counters::default() }
    }

    pub fn record(&self, op: Option<&str>, ok: bool) {
        let c = op.and_then(|o| self.ops.get(o)).unwrap_or(&self.other);
        if ok { &c.ok } else { &c.errors }.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::from("# HELP casement_requests_total API requests by operation and outcome.\n# TYPE casement_requests_total counter\n");
        let rows = self.ops.iter().map(|(k, v)| (*k, v)).chain([("unknown", &self.other)]);
        for (op, c) in rows {
            let (ok, err) = (c.ok.load(Ordering::Relaxed), c.errors.load(Ordering::Relaxed));
            if ok + err > 0 {
                let _ = writeln!(out, "casement_requests_total{{operation=\"{op}\",outcome=\"ok\"}} {ok}");
                let _ = writeln!(out, "casement_requests_total{{operation=\"{op}\",outcome=\"error\"}} {err}");
            }
        }
        out
    }
}
