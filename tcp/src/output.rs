//! What to send (FreeBSD's `tcp_output.c`, its connection half): the
//! connection decides its segments — SYN options, data within the windows and
//! Nagle's rule, TSO bursts sized as FreeBSD sizes them ([`tso_plan`]), window
//! updates, probes, FIN — and hands them back; turning them into frames is the
//! caller's.

use alloc::vec::Vec;

use crate::options::TcpOptions;
use crate::repr::{TCP_HDR_LEN, TH_ACK, TH_FIN, TH_PUSH, TH_SYN};
use crate::seq::{seq_gt, seq_le, seq_lt};
use crate::tcb::Tcb;
use crate::time::Instant;
use crate::var::*;

impl Tcb {
    pub(crate) fn syn_options(&self) -> TcpOptions {
        let mss = self.pmtu.saturating_sub(self.ip_hlen + TCP_HDR_LEN as u32).min(65535) as u16;
        // Offer scaling in a SYN; in a SYN-ACK only when the peer offered it (RFC 7323 §2.2).
        let ws = self.state == TcpState::SynSent || self.ws_ok;
        TcpOptions { mss: Some(mss), window_scale: ws.then_some(self.rcv_scale_offer), ..Default::default() }
    }

    /// The segments to send now, given what the path allows. Updates the
    /// send state as if they were sent (the caller must send them all).
    pub fn output(&mut self, now: Instant, path: &PathInfo) -> Vec<SegOut> {
        let mut out = Vec::new();
        if let Some(r) = self.pending_rst.take() {
            out.push(r);
            if self.state == TcpState::Closed {
                return out;
            }
        }
        if path.mtu != self.pmtu && path.mtu < self.pmtu {
            self.mtu_changed(path.mtu);
        }
        match self.state {
            TcpState::Closed | TcpState::TimeWait if !self.ack_now => return out,
            TcpState::Closed => return out,
            TcpState::SynReceived if self.snd_nxt != self.iss && self.ack_now => {
                // Simultaneous open: the peer's SYN-ACK needs our ACK to finish the handshake.
                let win = self.rcv_space().min(65535) as u16;
                out.push(SegOut { seq: self.snd_nxt, ack: self.rcv_nxt, flags: TH_ACK, window: win, ..Tcb::empty() });
                self.ack_done();
                return out;
            }
            TcpState::SynSent | TcpState::SynReceived => {
                if self.snd_nxt == self.iss {
                    let mut flags = TH_SYN;
                    let mut ack = 0;
                    if self.state == TcpState::SynReceived {
                        flags |= TH_ACK;
                        ack = self.rcv_nxt;
                    }
                    // The window in a SYN is never scaled.
                    let win = self.rcv_space().min(65535) as u16;
                    out.push(SegOut {
                        seq: self.iss,
                        ack,
                        flags,
                        window: win,
                        options: self.syn_options(),
                        payload: Vec::new(),
                        tso_segsz: 0,
                    });
                    if self.snd_max != self.iss {
                        self.stats.rexmit_segs += 1;
                    } else {
                        self.rtt_timed = Some((self.iss, now));
                    }
                    self.snd_nxt = self.iss.wrapping_add(1);
                    self.snd_max = self.snd_nxt;
                    if self.t_rexmt.is_none() {
                        self.start_rexmt(now);
                    }
                    self.stats.segs_out += 1;
                }
                return out;
            }
            _ => {}
        }
        if self.rexmit_one {
            self.rexmit_one = false;
            if let Some(s) = self.data_segment(self.snd_una, self.t_maxseg as usize) {
                self.push_seg(&mut out, s, now);
            }
        }
        loop {
            let off = self.snd_nxt.wrapping_sub(self.snd_buf_seq) as usize;
            let avail = self.sndbuf.len().saturating_sub(off);
            let in_flight = self.snd_nxt.wrapping_sub(self.snd_una);
            let wnd = self.snd_wnd.min(self.ccv.cwnd);
            let mut usable = wnd.saturating_sub(in_flight) as usize;
            // A probe or the override timeout (RFC 9293 §3.8.6.2.1 (4)): send what fits, at least a byte.
            let forced = core::mem::take(&mut self.force_one);
            if forced {
                usable = usable.max(1);
            }
            let fin_pending = self.fin_seq().is_some_and(|f| seq_le(self.snd_nxt, f));
            let len = avail.min(usable);
            let mss = self.t_maxseg as usize;
            if len == 0 {
                if fin_pending && avail == 0 {
                    match self.data_segment(self.snd_nxt, 0) {
                        Some(s) => self.push_seg(&mut out, s, now),
                        None => break,
                    }
                    continue;
                }
                self.arm_persist(avail, now);
                break;
            }
            // Nagle (RFC 896 / RFC 9293 §3.7.4): a short segment waits while data is unacknowledged,
            // unless it empties the buffer with nothing in flight.
            // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): a short segment goes only
            // when it is all there is, or at least half the largest window the peer offered.
            let half_window = self.max_sndwnd > 0 && len >= (self.max_sndwnd / 2) as usize;
            if !forced && len < mss && len < avail && !half_window {
                self.arm_persist(avail, now);
                break;
            }
            if !forced && len < mss && self.cfg.nagle && in_flight > 0 && !fin_pending {
                break;
            }
            let plan = tso_plan(path.tso_max, len, mss, 0, path.link_hlen as usize, path.ip_hlen as usize, path.tso);
            let Some(mut s) = self.data_segment(self.snd_nxt, plan.len) else { break };
            if plan.tso {
                s.tso_segsz = plan.tso_segsz;
                self.stats.tso_bursts += 1;
            }
            self.push_seg(&mut out, s, now);
        }
        if out.is_empty() && self.ack_now {
            let win = self.window_field();
            out.push(SegOut {
                seq: self.snd_nxt,
                ack: self.rcv_nxt,
                flags: TH_ACK,
                window: win,
                options: TcpOptions::default(),
                payload: Vec::new(),
                tso_segsz: 0,
            });
            self.stats.segs_out += 1;
            self.ack_done();
        }
        out
    }

    /// Data waits, nothing is in flight and no timer would ever resend: the
    /// persist timer guarantees a probe (zero window) or the override send (a
    /// window too small to fill), so a lost window update cannot stall us.
    pub(crate) fn arm_persist(&mut self, avail: usize, now: Instant) {
        if avail > 0 && self.snd_una == self.snd_max && self.t_rexmt.is_none() && self.t_persist.is_none() {
            self.t_persist = Some(now + self.backoff_rto().max(self.cfg.rto_min));
        }
    }

    pub(crate) fn ack_done(&mut self) {
        self.ack_now = false;
        self.delack_segs = 0;
        self.t_delack = None;
    }

    /// A segment of up to `len` payload bytes at `seq` (with FIN when it reaches the end after shutdown).
    pub(crate) fn data_segment(&mut self, seq: u32, len: usize) -> Option<SegOut> {
        let off = seq.wrapping_sub(self.snd_buf_seq) as usize;
        if off > self.sndbuf.len() {
            return None;
        }
        let n = len.min(self.sndbuf.len() - off);
        let payload: Vec<u8> = self.sndbuf.range(off..off + n).copied().collect();
        let end = seq.wrapping_add(n as u32);
        let mut flags = TH_ACK;
        if self.fin_seq() == Some(end) {
            flags |= TH_FIN;
        }
        if n > 0 && off + n == self.sndbuf.len() {
            flags |= TH_PUSH;
        }
        if n == 0 && flags & TH_FIN == 0 {
            return None;
        }
        let win = self.window_field();
        Some(SegOut { seq, ack: self.rcv_nxt, flags, window: win, options: TcpOptions::default(), payload, tso_segsz: 0 })
    }

    pub(crate) fn push_seg(&mut self, out: &mut Vec<SegOut>, s: SegOut, now: Instant) {
        let len = s.payload.len() as u32 + (s.flags & TH_FIN != 0) as u32;
        let end = s.seq.wrapping_add(len);
        if seq_lt(s.seq, self.snd_max) {
            // Go-back after a timeout, a fast retransmit, or a partial ACK's hole.
            self.stats.rexmit_segs += 1;
        } else {
            self.stats.bytes_out += s.payload.len() as u64;
            if self.rtt_timed.is_none() && len > 0 {
                self.rtt_timed = Some((s.seq, now));
            }
        }
        if seq_le(s.seq, self.snd_nxt) && seq_gt(end, self.snd_nxt) {
            self.snd_nxt = end;
        }
        if seq_gt(self.snd_nxt, self.snd_max) {
            self.snd_max = self.snd_nxt;
        }
        if len > 0 && self.t_rexmt.is_none() {
            self.start_rexmt(now);
        }
        self.stats.segs_out += 1;
        self.ack_done();
        out.push(s);
    }

    pub(crate) fn empty() -> SegOut {
        SegOut { seq: 0, ack: 0, flags: 0, window: 0, options: TcpOptions::default(), payload: Vec::new(), tso_segsz: 0 }
    }
}

/// What `tcp_output` sends next from `avail` bytes of send buffer: FreeBSD's
/// TSO decision (`tcp_output.c`), as a pure function the connection and the
/// host's tools share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsoPlan {
    /// Payload bytes of this send.
    pub len: usize,
    /// Sent as one TSO burst (else one segment of at most `tso_segsz`).
    pub tso: bool,
    /// Payload bytes per segment: `t_maxseg - optlen`.
    pub tso_segsz: u16,
    /// More remains to send after this one (`sendalot`).
    pub sendalot: bool,
}

/// Sizes the next send, FreeBSD's way: `tso_segsz = t_maxseg - optlen`; a
/// burst is capped so headers and payload fit `if_hw_tsomax` (which counts the
/// whole frame here, link header `linkhdr` included); a capped burst is trimmed
/// to a multiple of the segment size unless it empties the send buffer; and a
/// burst of one segment or less is not sent as TSO. `tso_ok` says whether the
/// interface and connection may use TSO at all (capability on for the family,
/// no SYN, no IP options). `if_hw_tsomax` is a number here, not an interface:
/// the connection keeps a copy of it ([`PathInfo::tso_max`]).
pub fn tso_plan(
    if_hw_tsomax: u32,
    avail: usize,
    t_maxseg: usize,
    optlen: usize,
    linkhdr: usize,
    iphdr: usize,
    tso_ok: bool,
) -> TsoPlan {
    let max_len = t_maxseg.saturating_sub(optlen).max(1);
    let hdrlen = iphdr + TCP_HDR_LEN + optlen;
    let mut len = avail;
    let mut sendalot = false;
    let tso = tso_ok && len > max_len;
    if tso {
        let cap = (if_hw_tsomax as usize).saturating_sub(hdrlen + linkhdr);
        if len > cap {
            len = cap;
            sendalot = true;
        }
        // Keep the last segment full unless this burst empties the buffer.
        if sendalot && len < avail {
            let moff = len % max_len;
            if moff != 0 {
                len -= moff;
            }
        }
        if len <= max_len {
            return TsoPlan { len: max_len.min(avail), tso: false, tso_segsz: max_len as u16, sendalot: avail > max_len };
        }
        return TsoPlan { len, tso: true, tso_segsz: max_len as u16, sendalot };
    }
    if len > max_len {
        len = max_len;
        sendalot = true;
    }
    TsoPlan { len, tso: false, tso_segsz: max_len as u16, sendalot }
}

