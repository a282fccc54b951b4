//! Where the stack reads "now" (FreeBSD's `getsbinuptime()`): one clock for
//! every protocol timer — TCP's, the neighbour caches', the host cache's — in
//! nic-tcp's [`Instant`], so the clock can be swapped without touching them.
//!
//! The default is the wall clock, as time since the stack started: the peer
//! across a TAP is a real kernel whose timers run on the same clock, so RTTs
//! and RTOs are measured as it sees them. A deterministic co-simulation gives
//! the stack a clock that reads the simulator's cycles instead
//! ([`Stack::with_clock`](super::Stack::with_clock)).
//!
//! Threads that wait (a socket's timeout, a worker's sleep, a queue's drain)
//! still wait in wall time: they bound how long a thread blocks, which no
//! protocol decision depends on.

use nic_tcp::time::Instant;

/// A source of "now" for the stack's protocol timers. Must never run back.
pub trait Clock: Send + Sync {
    /// The current time on this clock.
    fn now(&self) -> Instant;
}

/// The wall clock, as time since it was made: the default clock of a stack.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    origin: std::time::Instant,
}

impl WallClock {
    /// A clock whose origin is now.
    pub fn new() -> WallClock {
        WallClock { origin: std::time::Instant::now() }
    }
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock::new()
    }
}

impl Clock for WallClock {
    fn now(&self) -> Instant {
        // u64 nanoseconds last 584 years from the stack's start.
        Instant::from_nanos(self.origin.elapsed().as_nanos() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_moves_with_wall_time() {
        let c = WallClock::new();
        let a = c.now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(c.now() - a >= std::time::Duration::from_millis(2), "a sleep's time passed on it");
    }
}
