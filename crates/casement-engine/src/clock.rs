//! Where the engine's time comes from. Waiting is always `tokio::time`, so a test that
//! pauses tokio's clock runs a three-hour window in milliseconds; reading is this trait,
//! which maps that paused clock to epoch milliseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// Virtual time: tokio's clock (pause it with `tokio::time::pause` or
/// `#[tokio::test(start_paused = true)]`), read as epoch ms counted from `origin_ms`.
pub struct TokioClock {
    origin_ms: i64,
    origin: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(origin_ms: i64) -> Self {
        Self { origin_ms, origin: tokio::time::Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        self.origin_ms + self.origin.elapsed().as_millis() as i64
    }
}

/// Sleep until the clock reads `ms` (at once if it already has).
pub async fn sleep_until(clock: &dyn Clock, ms: i64) {
    let wait = ms - clock.now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}
