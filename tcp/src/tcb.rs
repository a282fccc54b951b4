//! One TCP connection's state machine (FreeBSD's `tcpcb`), with no I/O and
//! no clock of its own: segments go in through [`Tcb::input`], timers fire
//! through [`Tcb::on_timer`], and [`Tcb::output`] returns the segments to send
//! now, each call given "now" as a [`crate::time::Instant`]. Whoever holds the
//! connection owns sockets, lookup, routing and the wire (the host stack
//! today, the NIC's firmware later); this crate owns RFC 9293's rules, which
//! is what lets unit tests run two of them against each other through a lossy
//! pipe on a virtual clock.
//!
//! What it implements: the three-way handshake (and simultaneous open) with
//! the MSS and window-scale options (RFC 7323 §2), sliding windows in both
//! directions with out-of-order reassembly, Nagle's rule, zero-window probes,
//! the retransmission timer of RFC 6298 (Karn's rule, exponential backoff),
//! fast retransmit and NewReno recovery (RFC 5681, RFC 6582) with the window
//! arithmetic behind [`crate::cc::CongestionControl`], delayed ACKs (every
//! second full segment or after `delack`), FIN handling in every state,
//! TIME_WAIT for 2·MSL, RFC 5961's challenge ACKs for in-window RST and SYN,
//! path-MTU changes ([`Tcb::mtu_changed`]), and TSO bursts sized like
//! FreeBSD's `tcp_output` ([`crate::output::tso_plan`]).
//!
//! Not implemented (and never sent in our SYNs, so peers do not use them):
//! SACK, timestamps, ECN, urgent data.
//!
//! The connection is split by job as FreeBSD splits `tcpcb`'s code: this file
//! holds the state and the user requests (`tcp_usrreq.c`); segment arrival is
//! `input.rs`, out-of-order data `reass.rs`, what to send `output.rs`, and the
//! timers `timer.rs`; their types are `var.rs` (`tcp_var.h`).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use crate::cc::{self, CcVars, CongestionControl};
use crate::options::{TcpOptions, TCP_MAX_WINSHIFT};
use crate::repr::{TCP_HDR_LEN, TH_ACK, TH_RST, TH_SYN};
use crate::rto::RttEstimator;
use crate::seq::{seq_gt, seq_le, seq_lt};
use crate::time::Instant;
use crate::var::*;

/// RFC 9293 §3.7.1: the MSS assumed without the option.
pub(crate) const DEFAULT_MSS_V4: u32 = 536;
/// RFC 8200 §5: 1280 - 40 - 20.
pub(crate) const DEFAULT_MSS_V6: u32 = 1220;
/// Out-of-order segments queued at most (FreeBSD `net.inet.tcp.reass.maxqueuelen` is per connection too).
pub(crate) const REASS_MAX_SEGS: usize = 256;

/// One connection.
pub struct Tcb {
    /// Tunables.
    pub cfg: TcbConfig,
    pub(crate) state: TcpState,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    pub(crate) passive: bool,

    pub(crate) iss: u32,
    pub(crate) snd_una: u32,
    pub(crate) snd_nxt: u32,
    pub(crate) snd_max: u32,
    pub(crate) snd_wnd: u32,
    pub(crate) snd_wl1: u32,
    pub(crate) snd_wl2: u32,
    /// Shift applied to the peer's window field.
    pub(crate) snd_scale: u8,
    /// Shift we apply to our window field.
    pub(crate) rcv_scale: u8,
    /// Whether window scaling was agreed (both SYNs carried the option).
    pub(crate) ws_ok: bool,
    /// The shift we offer in our SYN.
    pub(crate) rcv_scale_offer: u8,

    pub(crate) irs: u32,
    pub(crate) rcv_nxt: u32,
    pub(crate) rcv_adv: u32,

    pub(crate) peer_mss: u32,
    pub(crate) pmtu: u32,
    pub(crate) ip_hlen: u32,
    pub(crate) t_maxseg: u32,

    /// Data from `snd_buf_seq` on: unacknowledged, then unsent.
    pub(crate) sndbuf: VecDeque<u8>,
    pub(crate) snd_buf_seq: u32,
    /// The application shut down writing: FIN follows the data.
    pub(crate) snd_fin: bool,

    pub(crate) rcvbuf: VecDeque<u8>,
    /// Out-of-order segments (sequence, bytes), sorted, non-overlapping.
    pub(crate) reass: Vec<(u32, Vec<u8>)>,
    pub(crate) reass_bytes: usize,
    /// The peer's FIN arrived out of order at this sequence number.
    pub(crate) rcv_fin_seq: Option<u32>,
    /// The peer's FIN was received in order (reads return EOF after the data).
    pub(crate) rcv_fin: bool,
    /// The application closed the socket: no one reads any more.
    pub(crate) app_closed: bool,

    /// RFC 6298's estimator (SRTT, RTTVAR, RTO).
    pub(crate) rtt: RttEstimator,
    pub(crate) rtt_timed: Option<(u32, Instant)>,
    pub(crate) rxtshift: u32,

    pub(crate) t_rexmt: Option<Instant>,
    pub(crate) t_persist: Option<Instant>,
    pub(crate) t_delack: Option<Instant>,
    pub(crate) t_2msl: Option<Instant>,

    pub(crate) dupacks: u32,
    pub(crate) in_recovery: bool,
    pub(crate) recover: u32,
    pub(crate) rexmit_one: bool,
    pub(crate) force_one: bool,
    /// The largest window the peer ever offered (RFC 9293 §3.8.6.2.1's sender SWS rule).
    pub(crate) max_sndwnd: u32,
    /// The peer answered since the last retransmission timeout (a zero window is an answer).
    pub(crate) peer_answered: bool,
    /// A RST the next output sends first (data after close, an unacceptable ACK during the handshake).
    pub(crate) pending_rst: Option<SegOut>,
    /// The handshake completed at some point (connect/accept succeeded).
    pub(crate) established: bool,

    pub(crate) cc: Box<dyn CongestionControl>,
    pub(crate) ccv: CcVars,

    pub(crate) ack_now: bool,
    pub(crate) delack_segs: u32,
    /// The window we last advertised, right edge minus `rcv_nxt` (for window updates after reads).
    pub(crate) last_wnd: u32,

    pub(crate) error: Option<TcpError>,
    pub(crate) stats: TcbStats,
}

impl fmt::Debug for Tcb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tcb")
            .field("state", &self.state)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("snd_una", &self.snd_una)
            .field("snd_nxt", &self.snd_nxt)
            .field("rcv_nxt", &self.rcv_nxt)
            .finish_non_exhaustive()
    }
}

/// The smallest path MTU accepted from "too big" messages: RFC 1191's 576-byte
/// datagram every IPv4 host takes (FreeBSD's `tcp_minmss` floor), IPv6's 1280. Public because
/// the stack clamps an ICMP message's MTU by it before it looks for the connection.
pub fn min_mtu(v6: bool) -> u32 {
    if v6 {
        1280
    } else {
        576
    }
}

pub(crate) fn mss_floor(v6: bool) -> u32 {
    if v6 {
        DEFAULT_MSS_V6
    } else {
        DEFAULT_MSS_V4
    }
}

impl Tcb {
    pub(crate) fn new(
        cfg: TcbConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: u32,
        path: &PathInfo,
        cc_algo: Box<dyn CongestionControl>,
        passive: bool,
    ) -> Tcb {
        let mut rcv_scale_offer = 0u8;
        while (cfg.rcvbuf >> rcv_scale_offer) > 65535 && rcv_scale_offer < TCP_MAX_WINSHIFT {
            rcv_scale_offer += 1;
        }
        let v6 = remote.is_ipv6();
        // G, the clock granularity (RFC 6298 §2): 1 ms for the timer tick here.
        let rtt = RttEstimator::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max, Duration::from_millis(1));
        let mss = mss_floor(v6);
        Tcb {
            cfg,
            state: TcpState::Closed,
            local,
            remote,
            passive,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: 0,
            snd_wl2: 0,
            snd_scale: 0,
            rcv_scale: 0,
            ws_ok: false,
            rcv_scale_offer,
            irs: 0,
            rcv_nxt: 0,
            rcv_adv: 0,
            peer_mss: mss,
            pmtu: path.mtu,
            ip_hlen: path.ip_hlen,
            t_maxseg: mss,
            sndbuf: VecDeque::new(),
            snd_buf_seq: iss.wrapping_add(1),
            snd_fin: false,
            rcvbuf: VecDeque::new(),
            reass: Vec::new(),
            reass_bytes: 0,
            rcv_fin_seq: None,
            rcv_fin: false,
            app_closed: false,
            rtt,
            rtt_timed: None,
            rxtshift: 0,
            t_rexmt: None,
            t_persist: None,
            t_delack: None,
            t_2msl: None,
            dupacks: 0,
            in_recovery: false,
            recover: iss,
            rexmit_one: false,
            force_one: false,
            max_sndwnd: 0,
            peer_answered: false,
            pending_rst: None,
            established: false,
            cc: cc_algo,
            ccv: CcVars { cwnd: cc::initial_window(mss), ssthresh: u32::MAX, mss, flight: 0 },
            ack_now: false,
            delack_segs: 0,
            last_wnd: 0,
            error: None,
            stats: TcbStats::default(),
        }
    }

    /// An active open (`connect`): the SYN goes out with the next [`Tcb::output`].
    pub fn connect(
        cfg: TcbConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: u32,
        path: &PathInfo,
        cc_algo: Box<dyn CongestionControl>,
    ) -> Tcb {
        let mut t = Tcb::new(cfg, local, remote, iss, path, cc_algo, false);
        t.state = TcpState::SynSent;
        t
    }

    /// A passive open: `syn` arrived for a listening socket; the SYN-ACK goes
    /// out with the next [`Tcb::output`].
    pub fn accept_syn(
        cfg: TcbConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: u32,
        path: &PathInfo,
        cc_algo: Box<dyn CongestionControl>,
        syn: &SegIn<'_>,
    ) -> Tcb {
        let mut t = Tcb::new(cfg, local, remote, iss, path, cc_algo, true);
        t.state = TcpState::SynReceived;
        t.irs = syn.seq;
        t.rcv_nxt = syn.seq.wrapping_add(1);
        t.rcv_adv = t.rcv_nxt;
        t.take_syn_options(syn);
        t.snd_wnd = syn.window as u32; // never scaled in a SYN (RFC 7323 §2.2)
        t.snd_wl1 = syn.seq;
        t.snd_wl2 = syn.ack;
        t
    }

    pub(crate) fn take_syn_options(&mut self, syn: &SegIn<'_>) {
        let o = syn.options;
        if let Some(ws) = o.window_scale {
            self.ws_ok = true;
            self.snd_scale = ws;
            self.rcv_scale = self.rcv_scale_offer;
        }
        self.peer_mss = o.mss.map_or(mss_floor(self.remote.is_ipv6()), |m| (m as u32).max(64));
        self.update_maxseg();
        self.ccv.cwnd = cc::initial_window(self.t_maxseg);
    }

    pub(crate) fn update_maxseg(&mut self) {
        let by_path = self.pmtu.saturating_sub(self.ip_hlen + TCP_HDR_LEN as u32).max(64);
        self.t_maxseg = self.peer_mss.min(by_path);
        self.ccv.mss = self.t_maxseg;
    }

    /// A new SYN for this tuple while in TIME_WAIT, beyond what the old connection used:
    /// the old one may be recycled for it (FreeBSD `tcp_twcheck`, RFC 9293 §3.6.1 note).
    pub fn syn_recycles(&self, seg: &SegIn<'_>) -> bool {
        self.state == TcpState::TimeWait
            && seg.flags & (TH_SYN | TH_ACK | TH_RST) == TH_SYN
            && seq_gt(seg.seq, self.rcv_nxt)
    }

    /// Whether `seq` lies in what we sent and the peer has not acknowledged
    /// (an ICMP message quoting it is plausibly about this connection).
    pub fn seq_in_flight(&self, seq: u32) -> bool {
        seq_le(self.snd_una, seq) && seq_lt(seq, self.snd_max)
    }

    /// State.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// The error that ended the connection, if any.
    pub fn error(&self) -> Option<TcpError> {
        self.error
    }

    /// Whether the connection is gone and can be removed from lookup.
    pub fn is_closed(&self) -> bool {
        self.state == TcpState::Closed
    }

    /// Whether the handshake completed (accept/connect can return).
    pub fn is_connected(&self) -> bool {
        self.established
    }

    /// Whether this was a passive open (accepted through a listener).
    pub fn is_passive(&self) -> bool {
        self.passive
    }

    /// Bytes the application may still queue.
    pub fn send_space(&self) -> usize {
        self.cfg.sndbuf.saturating_sub(self.sndbuf.len())
    }

    /// Queues application data; returns how much fit. Fails after shutdown or an error.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.snd_fin || matches!(self.state, TcpState::Closed) {
            return Err(TcpError::Aborted);
        }
        let n = data.len().min(self.send_space());
        self.sndbuf.extend(&data[..n]);
        Ok(n)
    }

    /// Bytes ready for the application.
    pub fn readable(&self) -> usize {
        self.rcvbuf.len()
    }

    /// Whether reading has reached the peer's FIN (EOF) with nothing left to read.
    pub fn at_eof(&self) -> bool {
        self.rcv_fin && self.rcvbuf.is_empty()
    }

    /// Copies received data out; opening the window may call for an ACK
    /// (a window update), which the next [`Tcb::output`] sends.
    pub fn recv(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.rcvbuf.len());
        for (d, s) in buf.iter_mut().zip(self.rcvbuf.drain(..n)) {
            *d = s;
        }
        // Window update (RFC 9293 §3.8.6.2.2 receiver SWS avoidance): once the
        // window can grow by two segments or half the buffer, say so.
        let wnd = self.rcv_space() as u32;
        let grown = wnd.saturating_sub(self.last_wnd);
        if n > 0 && (grown >= 2 * self.t_maxseg || grown as usize >= self.cfg.rcvbuf / 2) {
            self.ack_now = true;
        }
        n
    }

    /// The application shut down writing: a FIN follows the queued data.
    pub fn shutdown_write(&mut self) {
        if self.snd_fin {
            return;
        }
        match self.state {
            TcpState::SynSent => {
                // The FIN follows the handshake (FinWait1 once established).
                self.snd_fin = true;
            }
            TcpState::SynReceived => {
                // The FIN follows the handshake (FinWait1 once the ACK arrives).
                self.snd_fin = true;
            }
            TcpState::Established => {
                self.snd_fin = true;
                self.state = TcpState::FinWait1;
            }
            TcpState::CloseWait => {
                self.snd_fin = true;
                self.state = TcpState::LastAck;
            }
            _ => {}
        }
    }

    /// The application closed the socket (`close`): with unread data this is
    /// an abort (a RST, as RFC 2525 §2.17 asks); otherwise an orderly
    /// shutdown that continues without the application. Returns whether a RST
    /// must be sent (see [`Tcb::rst_for_abort`]).
    pub fn close(&mut self, now: Instant) -> bool {
        self.app_closed = true;
        if self.state == TcpState::SynSent {
            // Nothing synchronized yet: the connection just goes away (RFC 9293 CLOSE in SYN-SENT).
            self.state = TcpState::Closed;
            self.clear_timers();
            return false;
        }
        if !self.rcvbuf.is_empty() && !matches!(self.state, TcpState::Closed | TcpState::TimeWait) {
            self.abort(TcpError::Aborted);
            return true;
        }
        self.shutdown_write();
        if self.state == TcpState::FinWait2 {
            self.t_2msl = Some(now + self.cfg.fin_wait_2);
        }
        false
    }

    /// Ends the connection at once with `err` (`SO_LINGER` 0, an interface
    /// departing). Returns whether the peer should get a RST.
    pub fn abort(&mut self, err: TcpError) -> bool {
        let synced = !matches!(self.state, TcpState::Closed | TcpState::SynSent | TcpState::TimeWait);
        self.state = TcpState::Closed;
        self.error.get_or_insert(err);
        self.clear_timers();
        synced
    }

    /// The RST that tells the peer we aborted.
    pub fn rst_for_abort(&self) -> SegOut {
        SegOut {
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            flags: TH_RST | TH_ACK,
            window: 0,
            options: TcpOptions::default(),
            payload: Vec::new(),
            tso_segsz: 0,
        }
    }

    /// Whether the application can no longer see this connection and it can be forgotten once closed.
    pub fn app_closed(&self) -> bool {
        self.app_closed
    }

    pub(crate) fn rcv_space(&self) -> usize {
        self.cfg.rcvbuf.saturating_sub(self.rcvbuf.len() + self.reass_bytes)
    }

    /// The window field for the next segment (RFC 7323: scaled; never shrinking the right edge).
    pub(crate) fn window_field(&mut self) -> u16 {
        let space = self.rcv_space() as u32;
        let mut wnd = space.min(65535 << self.rcv_scale);
        // Never move the right edge left (RFC 9293 §3.8.6.2.2).
        let adv = self.rcv_adv.wrapping_sub(self.rcv_nxt);
        if seq_gt(self.rcv_adv, self.rcv_nxt) && adv > wnd {
            wnd = adv;
        }
        let field = (wnd >> self.rcv_scale).min(65535);
        let real = field << self.rcv_scale;
        let edge = self.rcv_nxt.wrapping_add(real);
        if seq_gt(edge, self.rcv_adv) {
            self.rcv_adv = edge;
        }
        self.last_wnd = real;
        field as u16
    }

    /// A snapshot for tools and tests.
    pub fn info(&self) -> TcpInfo {
        TcpInfo {
            state: self.state,
            t_maxseg: self.t_maxseg,
            pmtu: self.pmtu,
            cwnd: self.ccv.cwnd,
            ssthresh: self.ccv.ssthresh,
            snd_wnd: self.snd_wnd,
            srtt: self.rtt.srtt(),
            rto: self.rtt.rto(),
            snd_q: self.sndbuf.len(),
            rcv_q: self.rcvbuf.len(),
            wscale: self.ws_ok.then_some((self.rcv_scale, self.snd_scale)),
            cc: self.cc.name(),
            stats: self.stats,
        }
    }
}
