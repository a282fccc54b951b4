//! Segment arrival (FreeBSD's `tcp_input.c`, its connection half): the
//! caller has found the connection a segment belongs to, and the connection
//! processes it — RFC 9293 §3.10.7's checks in order, acknowledgments with
//! loss detection and recovery, and the data and FIN — plus the RST that
//! answers a segment no connection takes.

use crate::cc::CongSignal;
use crate::repr::{TH_ACK, TH_FIN, TH_RST, TH_SYN};
use crate::seq::{seq_ge, seq_gt, seq_le, seq_lt};
use crate::tcb::Tcb;
use crate::time::Instant;
use crate::var::*;

impl Tcb {
    /// Processes one segment for this connection (RFC 9293 §3.10.7).
    pub fn input(&mut self, seg: &SegIn<'_>, now: Instant) {
        self.stats.segs_in += 1;
        match self.state {
            TcpState::Closed => return,
            TcpState::SynSent => {
                self.input_syn_sent(seg, now);
                return;
            }
            _ => {}
        }
        let syn = seg.flags & TH_SYN != 0;
        let fin = seg.flags & TH_FIN != 0;
        let seglen = seg.payload.len() as u32 + syn as u32 + fin as u32;
        // Acceptability test (RFC 9293 §3.10.7.4, first check).
        let wnd = self.rcv_space() as u32;
        let wnd = wnd.max(self.rcv_adv.wrapping_sub(self.rcv_nxt) * seq_gt(self.rcv_adv, self.rcv_nxt) as u32);
        let in_wnd = |s: u32| seq_le(self.rcv_nxt, s) && seq_lt(s, self.rcv_nxt.wrapping_add(wnd));
        let acceptable = if seglen == 0 {
            if wnd == 0 {
                seg.seq == self.rcv_nxt
            } else {
                in_wnd(seg.seq)
            }
        } else {
            wnd > 0 && (in_wnd(seg.seq) || in_wnd(seg.seq.wrapping_add(seglen - 1)))
        };
        if !acceptable {
            self.stats.out_of_window += 1;
            if seg.flags & TH_RST == 0 {
                self.ack_now = true;
                if self.state == TcpState::TimeWait && fin {
                    self.t_2msl = Some(now + 2 * self.cfg.msl);
                }
            }
            return;
        }
        if seg.flags & TH_RST != 0 {
            if self.state == TcpState::TimeWait {
                // RFC 1337: a RST must not cut TIME_WAIT short (FreeBSD's tcp_twcheck drops it too).
                return;
            }
            if seg.seq == self.rcv_nxt {
                let was = self.state;
                self.state = TcpState::Closed;
                self.clear_timers();
                if was != TcpState::TimeWait {
                    self.error = Some(if was == TcpState::SynReceived && !self.passive {
                        TcpError::Refused
                    } else {
                        TcpError::Reset
                    });
                }
            } else {
                // RFC 5961 §3.2: in the window but not exact: a challenge ACK.
                self.stats.challenge_acks += 1;
                self.ack_now = true;
            }
            return;
        }
        if syn {
            // RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK.
            if !(self.state == TcpState::SynReceived && seg.seq == self.irs) {
                self.stats.challenge_acks += 1;
            }
            self.ack_now = true;
            return;
        }
        if seg.flags & TH_ACK == 0 {
            return;
        }
        if self.state == TcpState::SynReceived {
            if seq_gt(seg.ack, self.snd_una) && seq_le(seg.ack, self.snd_max) {
                self.state = TcpState::Established;
                self.established = true;
                self.snd_wnd = (seg.window as u32) << self.snd_scale;
                self.max_sndwnd = self.max_sndwnd.max(self.snd_wnd);
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
                if self.snd_fin {
                    // Closed before the handshake finished.
                    self.state = TcpState::FinWait1;
                }
            } else {
                // RFC 9293 §3.10.7.4: an unacceptable ACK in SYN-RECEIVED gets <SEQ=SEG.ACK><CTL=RST>.
                self.pending_rst = Tcb::rst_for(seg);
                return;
            }
        }
        if self.state == TcpState::TimeWait {
            if fin {
                self.ack_now = true;
                self.t_2msl = Some(now + 2 * self.cfg.msl);
            }
            return;
        }
        if !self.process_ack(seg, now) || self.state == TcpState::Closed {
            return;
        }
        self.process_data(seg, now);
    }

    pub(crate) fn input_syn_sent(&mut self, seg: &SegIn<'_>, now: Instant) {
        let ack = seg.flags & TH_ACK != 0;
        if ack && (seq_le(seg.ack, self.iss) || seq_gt(seg.ack, self.snd_max)) {
            // An unacceptable ACK (RFC 9293 §3.10.7.3): <SEQ=SEG.ACK><CTL=RST>, unless it is a RST.
            self.pending_rst = Tcb::rst_for(seg);
            return;
        }
        if seg.flags & TH_RST != 0 {
            if ack {
                self.state = TcpState::Closed;
                self.error = Some(TcpError::Refused);
                self.clear_timers();
            }
            return;
        }
        if seg.flags & TH_SYN == 0 {
            return;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq.wrapping_add(1);
        self.rcv_adv = self.rcv_nxt;
        self.take_syn_options(seg);
        if ack {
            self.snd_una = seg.ack;
            self.state = TcpState::Established;
            self.established = true;
            // A SYN's window is never scaled (RFC 7323 §2.2).
            self.snd_wnd = seg.window as u32;
            self.max_sndwnd = self.max_sndwnd.max(self.snd_wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.t_rexmt = None;
            self.rxtshift = 0;
            if let Some((s, t)) = self.rtt_timed.take() {
                if seq_gt(seg.ack, s) {
                    self.rtt_sample(now.saturating_duration_since(t));
                }
            }
            self.ack_now = true;
            if self.snd_fin {
                self.state = TcpState::FinWait1;
            }
        } else {
            // Simultaneous open: answer with SYN-ACK from SYN_RCVD.
            self.state = TcpState::SynReceived;
            self.snd_nxt = self.iss;
            self.snd_wnd = seg.window as u32;
        }
    }

    pub(crate) fn fin_seq(&self) -> Option<u32> {
        self.snd_fin.then(|| self.snd_buf_seq.wrapping_add(self.sndbuf.len() as u32))
    }

    pub(crate) fn fin_acked(&self) -> bool {
        self.fin_seq().is_some_and(|f| seq_gt(self.snd_una, f))
    }

    /// The ACK field's part of input; `false` when the whole segment must be dropped (its data
    /// and FIN too), after an ACK has been scheduled in answer.
    pub(crate) fn process_ack(&mut self, seg: &SegIn<'_>, now: Instant) -> bool {
        // RFC 5961 §5.2: acceptable only in [SND.UNA - MAX.SND.WND, SND.MAX]. SND.MAX rather than
        // SND.NXT, which a retransmission moves back (FreeBSD compares with snd_max too).
        if seq_gt(seg.ack, self.snd_max) {
            self.stats.rcvacktoomuch += 1;
            self.ack_now = true;
            return false;
        }
        if seq_lt(seg.ack, self.snd_una.wrapping_sub(self.max_sndwnd)) {
            self.stats.rcvacktooold += 1;
            self.stats.challenge_acks += 1;
            self.ack_now = true;
            return false;
        }
        let win = (seg.window as u32) << self.snd_scale;
        let outstanding = self.snd_max != self.snd_una;
        if seg.ack == self.snd_una {
            let dup = seg.payload.is_empty()
                && seg.flags & (TH_FIN | TH_SYN) == 0
                && win == self.snd_wnd
                && outstanding;
            if dup {
                self.stats.dupacks += 1;
                self.dupacks += 1;
                self.on_dupack(now);
            } else {
                self.dupacks = 0;
            }
        } else if seq_gt(seg.ack, self.snd_una) {
            self.on_new_ack(seg.ack, now);
        }
        // Window update (RFC 9293 §3.10.7.4, fifth check).
        if seq_lt(self.snd_wl1, seg.seq) || (self.snd_wl1 == seg.seq && seq_le(self.snd_wl2, seg.ack)) {
            self.snd_wnd = win;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.max_sndwnd = self.max_sndwnd.max(win);
            if win > 0 {
                self.t_persist = None;
            }
        }
        self.peer_answered = true;
        let fin_acked = self.fin_acked();
        match self.state {
            TcpState::FinWait1 if fin_acked => {
                self.state = TcpState::FinWait2;
                if self.app_closed {
                    self.t_2msl = Some(now + self.cfg.fin_wait_2);
                }
            }
            TcpState::Closing if fin_acked => self.enter_time_wait(now),
            TcpState::LastAck if fin_acked => {
                self.state = TcpState::Closed;
                self.clear_timers();
            }
            _ => {}
        }
        true
    }

    pub(crate) fn enter_time_wait(&mut self, now: Instant) {
        self.state = TcpState::TimeWait;
        self.clear_timers();
        self.t_2msl = Some(now + 2 * self.cfg.msl);
    }

    pub(crate) fn on_dupack(&mut self, now: Instant) {
        if self.in_recovery {
            // RFC 6582 §3.2 (3): inflate by one segment per further duplicate.
            self.ccv.cwnd = self.ccv.cwnd.saturating_add(self.t_maxseg);
            return;
        }
        if self.dupacks == 3 {
            // RFC 6582 §3.2 (2): only for a loss past the last recovery point
            // (not for duplicates of data sent before a timeout).
            if !seq_gt(self.snd_una, self.recover) {
                return;
            }
            self.stats.fast_rexmits += 1;
            self.in_recovery = true;
            self.recover = self.snd_max;
            self.ccv.flight = self.snd_max.wrapping_sub(self.snd_una);
            self.cc.cong_signal(&mut self.ccv, CongSignal::DupAck, now);
            self.rtt_timed = None;
            self.rexmit_one = true;
            self.start_rexmt(now);
        }
    }

    pub(crate) fn on_new_ack(&mut self, ack: u32, now: Instant) {
        let mut acked = ack.wrapping_sub(self.snd_una);
        // The SYN's sequence number is not data.
        if self.snd_una == self.iss {
            acked = acked.saturating_sub(1);
        }
        let data = (ack.wrapping_sub(self.snd_buf_seq) as usize).min(self.sndbuf.len());
        if seq_gt(ack, self.snd_buf_seq) {
            self.sndbuf.drain(..data);
            self.snd_buf_seq = self.snd_buf_seq.wrapping_add(data as u32);
        }
        self.snd_una = ack;
        if seq_lt(self.snd_nxt, self.snd_una) {
            self.snd_nxt = self.snd_una;
        }
        if let Some((s, t)) = self.rtt_timed {
            if seq_gt(ack, s) {
                self.rtt_timed = None;
                self.rtt_sample(now.saturating_duration_since(t));
            }
        }
        self.rxtshift = 0;
        self.ccv.flight = self.snd_max.wrapping_sub(self.snd_una);
        if !self.in_recovery && seq_gt(self.snd_una, self.recover.wrapping_add(1)) {
            // Keep `recover` just behind `snd_una` so the comparison above survives sequence wrap.
            self.recover = self.snd_una.wrapping_sub(1);
        }
        if self.in_recovery {
            if seq_ge(ack, self.recover) {
                // Full ACK: recovery is over (RFC 6582 §3.2 (5)).
                self.in_recovery = false;
                self.cc.post_recovery(&mut self.ccv, now);
            } else {
                // Partial ACK: the next hole is lost too; retransmit it and deflate (RFC 6582 §3.2 (4)).
                self.rexmit_one = true;
                self.ccv.cwnd = self.ccv.cwnd.saturating_sub(acked).saturating_add(self.t_maxseg);
            }
        } else {
            self.cc.ack_received(&mut self.ccv, acked, now);
        }
        self.dupacks = 0;
        if self.snd_una == self.snd_max {
            self.t_rexmt = None;
        } else {
            self.start_rexmt(now);
        }
    }

    pub(crate) fn process_data(&mut self, seg: &SegIn<'_>, now: Instant) {
        let fin = seg.flags & TH_FIN != 0;
        let receiving = matches!(self.state, TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2);
        if !seg.payload.is_empty() && receiving {
            if self.app_closed {
                // Nobody will read this: reset (RFC 9293 §3.10.7.4 / RFC 2525 §2.17).
                self.abort(TcpError::Aborted);
                self.ack_now = false;
                self.pending_rst = Some(self.rst_for_abort());
                return;
            }
            self.queue_data(seg.seq, seg.payload, now);
        }
        if fin && receiving {
            let fseq = seg.seq.wrapping_add(seg.payload.len() as u32);
            self.rcv_fin_seq = Some(fseq);
        }
        if let Some(f) = self.rcv_fin_seq {
            if f == self.rcv_nxt && !self.rcv_fin {
                self.rcv_fin = true;
                self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
                self.ack_now = true;
                match self.state {
                    TcpState::Established => self.state = TcpState::CloseWait,
                    TcpState::FinWait1 => {
                        if self.fin_acked() {
                            self.enter_time_wait(now);
                        } else {
                            self.state = TcpState::Closing;
                        }
                    }
                    TcpState::FinWait2 => self.enter_time_wait(now),
                    _ => {}
                }
            }
        }
    }

    /// The RST answering a segment that has no connection (RFC 9293 §3.10.7.1);
    /// `None` for a segment that is itself a RST.
    pub fn rst_for(seg: &SegIn<'_>) -> Option<SegOut> {
        if seg.flags & TH_RST != 0 {
            return None;
        }
        let s = if seg.flags & TH_ACK != 0 {
            SegOut { seq: seg.ack, ack: 0, flags: TH_RST, ..Self::empty() }
        } else {
            let len = seg.payload.len() as u32 + (seg.flags & TH_SYN != 0) as u32 + (seg.flags & TH_FIN != 0) as u32;
            SegOut { seq: 0, ack: seg.seq.wrapping_add(len), flags: TH_RST | TH_ACK, ..Self::empty() }
        };
        Some(s)
    }
}
