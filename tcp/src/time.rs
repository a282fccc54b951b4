//! What TCP needs from a clock: how long ago something happened.
//!
//! The state machine, the estimator and CUBIC never read a clock; they are
//! handed "now". This trait lets the host hand them `std::time::Instant` and
//! the firmware a `Duration` since boot, with the same code.

use core::time::Duration;

/// A point in time. Only differences are ever taken.
pub trait Timestamp: Copy + Ord + Send + 'static {
    /// Time from `earlier` to `self`; zero when `earlier` is not earlier (clocks never run back
    /// for TCP: a late sample must not panic or wrap).
    fn since(self, earlier: Self) -> Duration;
}

/// Time since an arbitrary origin (boot), for clocks that count ticks.
impl Timestamp for Duration {
    fn since(self, earlier: Self) -> Duration {
        self.saturating_sub(earlier)
    }
}

#[cfg(feature = "std")]
impl Timestamp for std::time::Instant {
    fn since(self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }
}
