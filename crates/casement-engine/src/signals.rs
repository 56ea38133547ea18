//! How the API nudges the engine without depending on its internals: a window's schedule
//! changed (the scheduler re-reads its next due time), or a cancel was requested (drivers
//! re-read their execution). Both are also polled, so a nudge lost to another node is
//! only a delay.

use tokio::sync::Notify;

#[derive(Default)]
pub struct Signals {
    pub(crate) schedules: Notify,
    pub(crate) cancels: Notify,
}

impl Signals {
    pub fn schedule_changed(&self) {
        self.schedules.notify_one();
    }

    pub fn cancel_requested(&self) {
        self.cancels.notify_waiters();
    }
}
