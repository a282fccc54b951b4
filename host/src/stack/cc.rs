//! Congestion control behind a trait, FreeBSD's `cc_algo` split: the
//! connection (`tcb.rs`) detects the events — new data acknowledged, three
//! duplicate ACKs, a retransmission timeout, the end of a recovery — and the
//! algorithm decides what they do to `cwnd` and `ssthresh`. Loss recovery
//! itself (which segment to retransmit, NewReno's partial ACKs, RFC 6582) is
//! the connection's, as in FreeBSD's `tcp_input`, so every algorithm gets the
//! same recovery and differs only in its window arithmetic.
//!
//! Algorithms are chosen per connection by name ([`by_name`]); `newreno`
//! (RFC 5681 + RFC 6582) is the default, `cubic` (RFC 9438, without the
//! Reno-friendly region and fast convergence) the alternative.

use std::time::Instant;

/// Why the window is being cut (FreeBSD's `CC_NDUPACK` / `CC_RTO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CongSignal {
    /// Three duplicate ACKs: fast retransmit, entering recovery.
    DupAck,
    /// The retransmission timer expired.
    Rto,
}

/// The window state an algorithm works on, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CcVars {
    /// Congestion window.
    pub cwnd: u32,
    /// Slow-start threshold.
    pub ssthresh: u32,
    /// Sender maximum segment size (payload bytes).
    pub mss: u32,
    /// Bytes in flight when the event happened (`snd_max - snd_una`).
    pub flight: u32,
}

/// One congestion-control algorithm's response to the connection's events.
pub trait CongestionControl: Send {
    /// The name `by_name` knows it by (shown by netstat-like tools).
    fn name(&self) -> &'static str;
    /// `acked` bytes of new data were acknowledged outside recovery.
    fn ack_received(&mut self, v: &mut CcVars, acked: u32, now: Instant);
    /// A loss was detected: set `ssthresh` and `cwnd` for what follows.
    fn cong_signal(&mut self, v: &mut CcVars, sig: CongSignal, now: Instant);
    /// Recovery ended with a full ACK: settle `cwnd`. RFC 6582 §3.2 (5), option 1, guarded
    /// against a burst, unless an algorithm says otherwise.
    fn post_recovery(&mut self, v: &mut CcVars, _now: Instant) {
        v.cwnd = v.ssthresh.min(v.flight + v.mss).max(v.mss);
    }
}

/// Slow start below `ssthresh`, with RFC 3465's L = 2·SMSS limit per ACK; `false` (nothing
/// done) in congestion avoidance, which is each algorithm's own.
fn slow_start(v: &mut CcVars, acked: u32) -> bool {
    if v.cwnd >= v.ssthresh {
        return false;
    }
    v.cwnd = v.cwnd.saturating_add(acked.min(2 * v.mss));
    true
}

/// The window after a loss, given the new `ssthresh`: RFC 6582 §3.2 (2)'s ssthresh plus the
/// three segments that left the network on duplicate ACKs, RFC 5681 (5)'s loss window on a timeout.
fn window_after(v: &CcVars, sig: CongSignal) -> u32 {
    match sig {
        CongSignal::DupAck => v.ssthresh + 3 * v.mss,
        CongSignal::Rto => v.mss,
    }
}

/// The initial window of RFC 6928 (10 segments, capped by bytes as RFC 3390 writes it).
pub fn initial_window(mss: u32) -> u32 {
    (10 * mss).min(14600.max(2 * mss))
}

/// `max(flight / 2, 2 * MSS)`: RFC 5681 (4) for both signals.
fn half_flight(v: &CcVars) -> u32 {
    (v.flight / 2).max(2 * v.mss)
}

/// RFC 5681 slow start and congestion avoidance with RFC 6582's recovery exit.
#[derive(Clone, Debug, Default)]
pub struct NewReno {
    /// Bytes acknowledged since `cwnd` last grew in congestion avoidance (RFC 5681 §3.1's byte counting).
    bytes_acked: u32,
}

impl CongestionControl for NewReno {
    fn name(&self) -> &'static str {
        "newreno"
    }

    fn ack_received(&mut self, v: &mut CcVars, acked: u32, _now: Instant) {
        if slow_start(v, acked) {
            return;
        }
        // Congestion avoidance: one MSS per window's worth of acknowledged bytes.
        self.bytes_acked = self.bytes_acked.saturating_add(acked);
        if self.bytes_acked >= v.cwnd {
            self.bytes_acked -= v.cwnd;
            v.cwnd = v.cwnd.saturating_add(v.mss);
        }
    }

    fn cong_signal(&mut self, v: &mut CcVars, sig: CongSignal, _now: Instant) {
        v.ssthresh = half_flight(v);
        self.bytes_acked = 0;
        v.cwnd = window_after(v, sig);
    }
}

/// CUBIC (RFC 9438 §4.1–4.6): window growth as a cubic function of the time
/// since the last reduction, `beta` 0.7, `C` 0.4.
#[derive(Clone, Debug, Default)]
pub struct Cubic {
    /// Window (segments) before the last reduction.
    w_max: f64,
    /// When the current congestion-avoidance epoch began.
    epoch: Option<Instant>,
    /// Time (s) the cubic function takes to return to `w_max`.
    k: f64,
    /// Fractional segments of growth not yet applied.
    carry: f64,
}

const CUBIC_BETA: f64 = 0.7;
const CUBIC_C: f64 = 0.4;

impl CongestionControl for Cubic {
    fn name(&self) -> &'static str {
        "cubic"
    }

    fn ack_received(&mut self, v: &mut CcVars, acked: u32, now: Instant) {
        if slow_start(v, acked) {
            return;
        }
        let mss = v.mss as f64;
        let cwnd = v.cwnd as f64 / mss;
        let epoch = *self.epoch.get_or_insert_with(|| {
            if self.w_max < cwnd {
                self.w_max = cwnd;
            }
            now
        });
        if self.k == 0.0 && self.w_max > cwnd {
            self.k = ((self.w_max - cwnd) / CUBIC_C).cbrt();
        }
        let t = now.saturating_duration_since(epoch).as_secs_f64();
        let target = CUBIC_C * (t - self.k).powi(3) + self.w_max;
        // RFC 9438 §4.3: grow by (target - cwnd) / cwnd per acknowledged segment, at most 1.5x per RTT.
        let segs = acked as f64 / mss;
        let inc = ((target - cwnd) / cwnd).clamp(0.0, 0.5) * segs;
        self.carry += inc;
        let whole = self.carry.floor();
        self.carry -= whole;
        v.cwnd = v.cwnd.saturating_add((whole * mss) as u32);
    }

    fn cong_signal(&mut self, v: &mut CcVars, sig: CongSignal, _now: Instant) {
        let mss = v.mss as f64;
        self.w_max = v.cwnd as f64 / mss;
        self.epoch = None;
        self.k = 0.0;
        self.carry = 0.0;
        v.ssthresh = ((v.flight as f64 * CUBIC_BETA) as u32).max(2 * v.mss);
        v.cwnd = window_after(v, sig);
    }
}

/// The algorithms a connection may ask for.
pub const ALGORITHMS: &[&str] = &["newreno", "cubic"];

/// An algorithm by name (`net.inet.tcp.cc.algorithm` / `TCP_CONGESTION`), or `None` for an unknown name.
pub fn by_name(name: &str) -> Option<Box<dyn CongestionControl>> {
    match name {
        "newreno" => Some(Box::new(NewReno::default())),
        "cubic" => Some(Box::new(Cubic::default())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn vars(cwnd: u32, ssthresh: u32, flight: u32) -> CcVars {
        CcVars { cwnd, ssthresh, mss: 1000, flight }
    }

    // RFC 5681 §3.1: slow start grows by at most 2 MSS per ACK (RFC 3465 L=2),
    // congestion avoidance by one MSS per cwnd of acknowledged data.
    #[test]
    fn newreno_growth_follows_rfc5681() {
        let now = Instant::now();
        let mut cc = NewReno::default();
        let mut v = vars(10_000, 20_000, 0);
        cc.ack_received(&mut v, 5000, now);
        assert_eq!(v.cwnd, 12_000);
        let mut v = vars(20_000, 10_000, 0);
        for _ in 0..19 {
            cc.ack_received(&mut v, 1000, now);
        }
        assert_eq!(v.cwnd, 20_000, "one byte short of a window: no growth yet");
        cc.ack_received(&mut v, 1000, now);
        assert_eq!(v.cwnd, 21_000);
    }

    // RFC 5681 (4)/(5) and RFC 6582 §3.2: ssthresh = max(flight/2, 2 MSS);
    // cwnd = ssthresh + 3 MSS on fast retransmit, 1 MSS after a timeout.
    #[test]
    fn newreno_reductions() {
        let now = Instant::now();
        let mut cc = NewReno::default();
        let mut v = vars(30_000, 64_000, 30_000);
        cc.cong_signal(&mut v, CongSignal::DupAck, now);
        assert_eq!((v.ssthresh, v.cwnd), (15_000, 18_000));
        v.flight = 4000;
        cc.post_recovery(&mut v, now);
        assert_eq!(v.cwnd, 5000, "min(ssthresh, flight + MSS)");
        let mut v = vars(30_000, 64_000, 3000);
        cc.cong_signal(&mut v, CongSignal::Rto, now);
        assert_eq!((v.ssthresh, v.cwnd), (2000, 1000), "ssthresh never below 2 MSS");
    }

    #[test]
    fn cubic_reduces_by_beta_and_regrows_toward_wmax() {
        let t0 = Instant::now();
        let mut cc = Cubic::default();
        let mut v = vars(100_000, 50_000, 100_000);
        cc.cong_signal(&mut v, CongSignal::DupAck, t0);
        assert_eq!(v.ssthresh, 70_000);
        v.cwnd = v.ssthresh;
        // K = cbrt(30 / 0.4) ≈ 4.2 s: halfway there the window is still below w_max, later it passes it.
        let mut t = t0;
        for _ in 0..400 {
            t += Duration::from_millis(10);
            cc.ack_received(&mut v, 1000, t);
        }
        assert!(v.cwnd > 70_000 && v.cwnd < 100_000, "{}", v.cwnd);
        for _ in 0..2000 {
            t += Duration::from_millis(10);
            cc.ack_received(&mut v, 1000, t);
        }
        assert!(v.cwnd > 100_000, "{}", v.cwnd);
    }

    #[test]
    fn names() {
        for n in ALGORITHMS {
            assert_eq!(by_name(n).map(|c| c.name()), Some(*n));
        }
        assert!(by_name("vegas").is_none());
    }
}
