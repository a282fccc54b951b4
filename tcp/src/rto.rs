//! The retransmission timer's arithmetic (RFC 6298): smoothed RTT, its
//! variation, the timeout, and exponential backoff. The connection owns the
//! timer; this owns the numbers.

use core::time::Duration;

/// RFC 6298 §2's estimator, with the bounds the stack is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
    granularity: Duration,
}

impl RttEstimator {
    /// Before any sample: the timeout is `initial` (RFC 6298 §2.1 says 1 s), kept within
    /// `min..=max`; `granularity` is the clock's tick, G in §2.
    pub fn new(initial: Duration, min: Duration, max: Duration, granularity: Duration) -> RttEstimator {
        RttEstimator { srtt: None, rttvar: Duration::ZERO, rto: initial, min, max, granularity }
    }

    /// A round-trip measurement (Karn's rule, §3, is the caller's: never a retransmitted segment).
    pub fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                // §2.2
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                // §2.3, beta = 1/4 and alpha = 1/8, rttvar first (it uses the old srtt).
                let diff = srtt.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + diff / 4;
                self.srtt = Some(srtt * 7 / 8 + r / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        self.rto = (srtt + self.granularity.max(self.rttvar * 4)).clamp(self.min, self.max);
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The RTT variation.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// The current timeout, without backoff.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// The timeout after `shift` expirations in a row: doubled each time (§5.5), at most `max`.
    pub fn backoff(&self, shift: u32) -> Duration {
        self.rto.saturating_mul(1u32 << shift.min(16)).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    // RFC 6298 §2.2/§2.3 worked by hand: R = 100 ms gives SRTT 100, RTTVAR 50,
    // RTO 100 + 4 * 50 = 300; then R' = 200 gives RTTVAR 3/4 * 50 + 1/4 * |100 - 200| = 62.5,
    // SRTT 7/8 * 100 + 1/8 * 200 = 112.5, RTO 112.5 + 250 = 362.5 ms.
    #[test]
    fn follows_rfc6298_arithmetic() {
        let mut e = RttEstimator::new(ms(1000), ms(1), ms(60_000), ms(1));
        assert_eq!((e.srtt(), e.rto()), (None, ms(1000)));
        e.sample(ms(100));
        assert_eq!((e.srtt(), e.rttvar(), e.rto()), (Some(ms(100)), ms(50), ms(300)));
        e.sample(ms(200));
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn granularity_floors_the_variance_term_and_bounds_clamp() {
        // Equal samples drive RTTVAR towards 0: the timeout is then SRTT + G (§2.3).
        let mut e = RttEstimator::new(ms(1000), ms(1), ms(60_000), ms(10));
        for _ in 0..64 {
            e.sample(ms(40));
        }
        assert_eq!(e.rto(), ms(50));
        // §2.4: rounded up to the minimum (RFC 6298 says 1 s; the stack configures its own).
        let mut e = RttEstimator::new(ms(1000), ms(1000), ms(60_000), ms(1));
        e.sample(ms(10));
        assert_eq!(e.rto(), ms(1000));
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        // §5.5: RTO <- RTO * 2 per expiry; §2.5: a maximum may be placed on it.
        let e = RttEstimator::new(ms(1000), ms(200), ms(60_000), ms(1));
        assert_eq!(e.backoff(0), ms(1000));
        assert_eq!(e.backoff(1), ms(2000));
        assert_eq!(e.backoff(5), ms(32_000));
        assert_eq!(e.backoff(6), ms(60_000));
        assert_eq!(e.backoff(40), ms(60_000), "no overflow however long the outage");
    }
}
