//! TCP's one time type: a point on whatever clock the caller runs on.
//!
//! The state machine, the estimator and CUBIC never read a clock; they are
//! handed "now". One concrete type rather than a trait over clocks keeps the
//! connection, its timers and its congestion control free of a type
//! parameter, and lets any clock drive them: the host stack's wall clock
//! (time since the stack started), a simulator's cycle count turned into time
//! (so co-simulated runs repeat exactly), or the firmware's tick counter.
//!
//! Nanoseconds in a `u64`: as fine as `std::time::Instant` on Linux, so the
//! host's RTT samples lose nothing in the conversion, and 584 years of range
//! from any origin.

use core::ops::{Add, AddAssign, Sub, SubAssign};
use core::time::Duration;

/// A point in time: nanoseconds since an origin the clock chooses (the host
/// stack's start, a simulation's cycle 0, the firmware's boot). Only
/// differences mean anything, and only between points of one clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The clock's origin.
    pub const ZERO: Instant = Instant { nanos: 0 };

    /// `nanos` nanoseconds after the origin (a clock's raw reading).
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant { nanos }
    }

    /// `micros` microseconds after the origin (a clock that counts microseconds).
    pub const fn from_micros(micros: u64) -> Instant {
        Instant { nanos: micros.saturating_mul(1000) }
    }

    /// Nanoseconds since the origin (what a clock turns back into its own units).
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Time since the origin, as a `Duration`, for printing and for clocks built on `Duration`.
    pub const fn since_origin(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// Time from `earlier` to `self`; zero when `earlier` is not earlier (clocks never run back
    /// for TCP: a late sample must not panic or wrap). The name is `std::time::Instant`'s, so
    /// code written against either reads the same.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// `self + d`, or `None` past the end of the clock's range (an infinite timeout).
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        let d = u64::try_from(d.as_nanos()).ok()?;
        Some(Instant { nanos: self.nanos.checked_add(d)? })
    }

    /// `self - d`, or `None` before the origin.
    pub fn checked_sub(self, d: Duration) -> Option<Instant> {
        let d = u64::try_from(d.as_nanos()).ok()?;
        Some(Instant { nanos: self.nanos.checked_sub(d)? })
    }
}

/// Saturates at the end of the range rather than panicking: a deadline that far out never
/// comes, which is what an overflowing timeout means.
impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant { nanos: u64::MAX })
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

/// Saturates at the origin rather than panicking: nothing is earlier than the clock's start.
impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        self.checked_sub(d).unwrap_or(Instant::ZERO)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

/// The time between two points, zero when `earlier` is later ([`Instant::saturating_duration_since`]).
impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let t = Instant::from_micros(1500);
        assert_eq!(t.as_nanos(), 1_500_000);
        assert_eq!(t + Duration::from_micros(500), Instant::from_nanos(2_000_000));
        assert_eq!((t + Duration::from_nanos(1)) - t, Duration::from_nanos(1));
        assert_eq!(t - (t + Duration::from_secs(1)), Duration::ZERO, "a later point is zero time ago");
        assert_eq!(t - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(t.checked_sub(Duration::from_secs(1)), None);
        assert_eq!(t.checked_add(Duration::MAX), None, "an infinite timeout");
        assert_eq!(t + Duration::MAX, Instant::from_nanos(u64::MAX));
        let mut u = Instant::ZERO;
        u += Duration::from_millis(3);
        assert_eq!(u.since_origin(), Duration::from_millis(3));
        assert!(Instant::ZERO < u);
    }
}
