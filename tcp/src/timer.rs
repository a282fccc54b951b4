//! Timers (FreeBSD's `tcp_timer.c`, the connection's half): retransmission
//! with RFC 6298's estimator and backoff, persist, delayed ACK and 2·MSL, each
//! an [`Instant`] the connection keeps; whoever holds the connection runs
//! [`Tcb::on_timer`] once [`Tcb::next_timer`] is due. Path-MTU changes are
//! here too, since they rewind what is in flight as a timeout does.

use core::time::Duration;

use crate::cc::CongSignal;
use crate::tcb::{min_mtu, Tcb};
use crate::time::Instant;
use crate::var::*;

impl Tcb {
    /// The earliest pending timer.
    pub fn next_timer(&self) -> Option<Instant> {
        [self.t_rexmt, self.t_persist, self.t_delack, self.t_2msl].into_iter().flatten().min()
    }

    pub(crate) fn start_rexmt(&mut self, now: Instant) {
        self.t_rexmt = Some(now + self.rtt.rto());
    }

    pub(crate) fn backoff_rto(&self) -> Duration {
        self.rtt.backoff(self.rxtshift)
    }

    /// RFC 6298 §2: a new RTT sample.
    pub(crate) fn rtt_sample(&mut self, r: Duration) {
        self.rtt.sample(r);
    }

    /// Runs the timers due at `now`.
    pub fn on_timer(&mut self, now: Instant) {
        if self.t_delack.is_some_and(|t| t <= now) {
            self.t_delack = None;
            self.ack_now = true;
        }
        if self.t_2msl.is_some_and(|t| t <= now) {
            self.t_2msl = None;
            if matches!(self.state, TcpState::TimeWait | TcpState::FinWait2) {
                self.state = TcpState::Closed;
                self.clear_timers();
                return;
            }
        }
        if self.t_persist.is_some_and(|t| t <= now) {
            self.t_persist = None;
            self.force_one = true;
            self.stats.window_probes += 1;
        }
        if self.t_rexmt.is_some_and(|t| t <= now) {
            self.t_rexmt = None;
            self.rexmt_timeout(now);
        }
    }

    pub(crate) fn rexmt_timeout(&mut self, now: Instant) {
        let limit = match self.state {
            TcpState::SynSent | TcpState::SynReceived => self.cfg.syn_retries,
            _ => self.cfg.data_retries,
        };
        // A peer that keeps answering our zero-window probes is alive: probing goes on
        // (RFC 1122 §4.2.2.17), only the backoff grows.
        let probing = self.snd_wnd == 0 && core::mem::take(&mut self.peer_answered);
        if self.rxtshift >= limit && !probing {
            self.error = Some(TcpError::TimedOut);
            self.state = TcpState::Closed;
            self.clear_timers();
            return;
        }
        self.stats.timeouts += 1;
        if self.rxtshift == 0 && !matches!(self.state, TcpState::SynSent | TcpState::SynReceived) {
            self.ccv.flight = self.snd_max.wrapping_sub(self.snd_una);
            self.cc.cong_signal(&mut self.ccv, CongSignal::Rto, now);
        } else if self.rxtshift > 0 {
            self.ccv.cwnd = self.t_maxseg;
        }
        self.rxtshift += 1;
        // Karn: no RTT sample from a retransmitted segment.
        self.rtt_timed = None;
        self.in_recovery = false;
        self.dupacks = 0;
        self.recover = self.snd_max;
        self.snd_nxt = self.snd_una;
        if self.snd_wnd == 0 {
            // Nothing fits the window: what goes out is a one-byte probe.
            self.force_one = true;
        }
        self.rxtshift = self.rxtshift.min(limit);
        self.t_rexmt = Some(now + self.backoff_rto());
    }

    pub(crate) fn clear_timers(&mut self) {
        self.t_rexmt = None;
        self.t_persist = None;
        self.t_delack = None;
        self.t_2msl = None;
    }

    /// The interface or a "packet too big" message says the path carries at
    /// most `mtu` bytes: shrink the segment size and resend what is in flight
    /// at the new size (FreeBSD `tcp_mtudisc`). Only ever lowers the size, so
    /// a repeated or forged message cannot make it loop. Returns whether anything changed.
    pub fn mtu_changed(&mut self, mtu: u32) -> bool {
        let mtu = mtu.max(min_mtu(self.remote.is_ipv6()));
        if mtu >= self.pmtu {
            return false;
        }
        let old = self.t_maxseg;
        self.pmtu = mtu;
        self.update_maxseg();
        if self.t_maxseg >= old {
            return false;
        }
        self.stats.pmtu_changes += 1;
        // Resend from the oldest unacknowledged byte at the new size; not a congestion signal.
        self.snd_nxt = self.snd_una;
        self.rtt_timed = None;
        self.recover = self.snd_max;
        self.in_recovery = false;
        true
    }
}
