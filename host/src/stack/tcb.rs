//! One TCP connection's state machine (FreeBSD's `tcpcb`), with no I/O and
//! no clock of its own: segments go in through [`Tcb::input`], timers fire
//! through [`Tcb::on_timer`], and [`Tcb::output`] returns the segments to send
//! now. The stack around it owns sockets, lookup, routing and the wire; this
//! file owns RFC 9293's rules, which is what lets unit tests run two of them
//! against each other through a lossy pipe.
//!
//! What it implements: the three-way handshake (and simultaneous open) with
//! the MSS and window-scale options (RFC 7323 §2), sliding windows in both
//! directions with out-of-order reassembly, Nagle's rule, zero-window probes,
//! the retransmission timer of RFC 6298 (Karn's rule, exponential backoff),
//! fast retransmit and NewReno recovery (RFC 5681, RFC 6582) with the window
//! arithmetic behind [`super::cc::CongestionControl`], delayed ACKs (every
//! second full segment or after `delack`), FIN handling in every state,
//! TIME_WAIT for 2·MSL, RFC 5961's challenge ACKs for in-window RST and SYN,
//! path-MTU changes ([`Tcb::mtu_changed`]), and TSO bursts sized like
//! FreeBSD's `tcp_output` ([`crate::net::tcp::tcp_tso_plan`]).
//!
//! Not implemented (and never sent in our SYNs, so peers do not use them):
//! SACK, timestamps, ECN, urgent data.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nic_tcp::options::{TcpOptions, TCP_MAX_WINSHIFT};
use nic_tcp::repr::TCP_HDR_LEN;
use nic_tcp::RttEstimator;

use super::cc::{self, CcVars, CongSignal, CongestionControl};
use crate::net::tcp::{tso_plan, TH_ACK, TH_FIN, TH_PUSH, TH_RST, TH_SYN};

pub use nic_tcp::seq::{seq_ge, seq_gt, seq_le, seq_lt};

/// Connection states, with netstat's names ([`fmt::Display`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// No connection (also: ended).
    Closed,
    /// SYN sent, waiting for SYN-ACK.
    SynSent,
    /// SYN received and answered, waiting for the ACK.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// The peer closed; we may still send.
    CloseWait,
    /// We closed; our FIN is not yet acknowledged.
    FinWait1,
    /// Both closed at once; waiting for our FIN's ACK.
    Closing,
    /// We closed after the peer; waiting for our FIN's ACK.
    LastAck,
    /// Our FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// Both FINs acknowledged; absorbing stray segments for 2·MSL.
    TimeWait,
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpState::Closed => "CLOSED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynReceived => "SYN_RCVD",
            TcpState::Established => "ESTABLISHED",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::FinWait1 => "FIN_WAIT_1",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST_ACK",
            TcpState::FinWait2 => "FIN_WAIT_2",
            TcpState::TimeWait => "TIME_WAIT",
        })
    }
}

/// How a connection ended abnormally; sockets turn it into an `io::Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpError {
    /// ECONNREFUSED: the peer answered our SYN with a reset.
    Refused,
    /// ECONNRESET: the peer reset an established connection.
    Reset,
    /// ETIMEDOUT: retransmissions went unanswered.
    TimedOut,
    /// ENETDOWN: the interface the connection used departed.
    NetDown,
    /// ECONNABORTED: this side aborted (close with unread data, or an explicit abort).
    Aborted,
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpError::Refused => "connection refused by the peer (RST in answer to SYN)",
            TcpError::Reset => "connection reset by the peer",
            TcpError::TimedOut => "connection timed out (retransmissions unanswered)",
            TcpError::NetDown => "the interface departed; the connection is gone",
            TcpError::Aborted => "connection aborted by this side",
        })
    }
}

/// Per-connection tunables (sysctls in FreeBSD).
#[derive(Clone, Debug)]
pub struct TcbConfig {
    /// Send buffer, bytes (`SO_SNDBUF`).
    pub sndbuf: usize,
    /// Receive buffer, bytes (`SO_RCVBUF`); also sets the window-scale shift.
    pub rcvbuf: usize,
    /// RFC 6298 lower bound on RTO. The RFC's 1 s is a SHOULD; Linux uses 200 ms, FreeBSD 30 ms.
    pub rto_min: Duration,
    /// Upper bound on RTO (RFC 6298 (2.5) allows ≥ 60 s).
    pub rto_max: Duration,
    /// RTO before the first RTT sample (RFC 6298 (2.1)).
    pub rto_initial: Duration,
    /// Delayed-ACK timeout (RFC 5681 §4.2: under 500 ms; FreeBSD 100 ms, Linux 40 ms).
    pub delack: Duration,
    /// Maximum segment lifetime; TIME_WAIT lasts twice this.
    pub msl: Duration,
    /// SYN retransmissions before ETIMEDOUT.
    pub syn_retries: u32,
    /// Data retransmissions (backoffs) before ETIMEDOUT.
    pub data_retries: u32,
    /// How long an orphaned FIN_WAIT_2 waits for the peer's FIN.
    pub fin_wait_2: Duration,
    /// Nagle's algorithm (off: `TCP_NODELAY`).
    pub nagle: bool,
}

impl Default for TcbConfig {
    fn default() -> Self {
        TcbConfig {
            sndbuf: 512 << 10,
            rcvbuf: 256 << 10,
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(60),
            rto_initial: Duration::from_secs(1),
            delack: Duration::from_millis(40),
            msl: Duration::from_secs(30),
            syn_retries: 6,
            data_retries: 12,
            fin_wait_2: Duration::from_secs(60),
            nagle: true,
        }
    }
}

/// What the route and interface allow this connection (refreshed on every output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathInfo {
    /// Path MTU (interface MTU, lowered by path-MTU discovery).
    pub mtu: u32,
    /// IP header length (20 or 40).
    pub ip_hlen: u32,
    /// Link header length (for `if_hw_tsomax`, which counts it).
    pub link_hlen: u32,
    /// TSO allowed now (`if_hwassist` has it for this family); GSO stands in when it is not.
    pub tso: bool,
    /// `if_hw_tsomax`.
    pub tso_max: u32,
}

/// A received segment, headers parsed.
#[derive(Clone, Copy, Debug)]
pub struct SegIn<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// `TH_*` flags.
    pub flags: u8,
    /// Window field (unscaled).
    pub win: u16,
    /// TCP options.
    pub options: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
}

/// A segment (or TSO burst) to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegOut {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (valid with `TH_ACK`).
    pub ack: u32,
    /// `TH_*` flags.
    pub flags: u8,
    /// Window field (already scaled down).
    pub win: u16,
    /// Options, padded to a multiple of 4.
    pub options: Vec<u8>,
    /// Payload.
    pub payload: Vec<u8>,
    /// Non-zero: a TSO burst of segments of this many payload bytes.
    pub tso_segsz: u16,
}

/// Counters one connection keeps (summed into the stack's `tcpstat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcbStats {
    /// Segments (or bursts) sent.
    pub segs_out: u64,
    /// Segments received.
    pub segs_in: u64,
    /// Payload bytes sent for the first time.
    pub bytes_out: u64,
    /// Payload bytes delivered in order.
    pub bytes_in: u64,
    /// Segments retransmitted (timeouts, fast retransmits, partial ACKs).
    pub rexmit_segs: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Fast retransmits (three duplicate ACKs).
    pub fast_rexmits: u64,
    /// Duplicate ACKs received.
    pub dupacks: u64,
    /// Segments received out of order (queued for reassembly).
    pub ooo_segs: u64,
    /// Segments or bytes outside the window, dropped.
    pub out_of_window: u64,
    /// TSO bursts sent.
    pub tso_bursts: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Segments dropped (and answered with an ACK) because they acknowledge data never sent
    /// (FreeBSD `tcps_rcvacktoomuch`; RFC 9293 §3.10.7.4). Their payload is never delivered: a
    /// blind attacker who guesses the sequence number cannot also guess SND.MAX.
    pub rcvacktoomuch: u64,
    /// Segments dropped (and answered with an ACK) because their ACK lies more than the largest
    /// window the peer ever offered below SND.UNA (FreeBSD `tcps_rcvacktooold`; RFC 5961 §5.2).
    pub rcvacktooold: u64,
    /// Path-MTU reductions applied.
    pub pmtu_changes: u64,
    /// Zero-window probes sent.
    pub window_probes: u64,
}

/// A snapshot for `netstat` and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    /// State.
    pub state: TcpState,
    /// Sender MSS (payload bytes per segment).
    pub t_maxseg: u32,
    /// Path MTU in use.
    pub pmtu: u32,
    /// Congestion window.
    pub cwnd: u32,
    /// Slow-start threshold.
    pub ssthresh: u32,
    /// Peer's window (scaled).
    pub snd_wnd: u32,
    /// Smoothed RTT, if measured.
    pub srtt: Option<Duration>,
    /// Current retransmission timeout.
    pub rto: Duration,
    /// Bytes queued to send (Send-Q).
    pub snd_q: usize,
    /// Bytes received, not yet read (Recv-Q).
    pub rcv_q: usize,
    /// Our window-scale shift and the peer's (`None`: not negotiated).
    pub wscale: Option<(u8, u8)>,
    /// Congestion-control algorithm.
    pub cc: &'static str,
    /// Counters.
    pub stats: TcbStats,
}

/// RFC 9293 §3.7.1: the MSS assumed without the option.
const DEFAULT_MSS_V4: u32 = 536;
/// RFC 8200 §5: 1280 - 40 - 20.
const DEFAULT_MSS_V6: u32 = 1220;
/// Out-of-order segments queued at most (FreeBSD `net.inet.tcp.reass.maxqueuelen` is per connection too).
const REASS_MAX_SEGS: usize = 256;

/// The options of a SYN we understand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynOptions {
    /// MSS option.
    pub mss: Option<u16>,
    /// Window-scale option (already capped at 14).
    pub wscale: Option<u8>,
}

/// Parses MSS and window scale from `opts` ([`TcpOptions::parse`]: unknown options skipped,
/// a malformed list ends the walk with what was found so far).
pub fn parse_syn_options(opts: &[u8]) -> SynOptions {
    let o = TcpOptions::parse(opts);
    SynOptions { mss: o.mss, wscale: o.window_scale }
}

/// One connection.
pub struct Tcb {
    /// Tunables.
    pub cfg: TcbConfig,
    state: TcpState,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    passive: bool,

    iss: u32,
    snd_una: u32,
    snd_nxt: u32,
    snd_max: u32,
    snd_wnd: u32,
    snd_wl1: u32,
    snd_wl2: u32,
    /// Shift applied to the peer's window field.
    snd_scale: u8,
    /// Shift we apply to our window field.
    rcv_scale: u8,
    /// Whether window scaling was agreed (both SYNs carried the option).
    ws_ok: bool,
    /// The shift we offer in our SYN.
    rcv_scale_offer: u8,

    irs: u32,
    rcv_nxt: u32,
    rcv_adv: u32,

    peer_mss: u32,
    pmtu: u32,
    ip_hlen: u32,
    t_maxseg: u32,

    /// Data from `snd_buf_seq` on: unacknowledged, then unsent.
    sndbuf: VecDeque<u8>,
    snd_buf_seq: u32,
    /// The application shut down writing: FIN follows the data.
    snd_fin: bool,

    rcvbuf: VecDeque<u8>,
    /// Out-of-order segments (sequence, bytes), sorted, non-overlapping.
    reass: Vec<(u32, Vec<u8>)>,
    reass_bytes: usize,
    /// The peer's FIN arrived out of order at this sequence number.
    rcv_fin_seq: Option<u32>,
    /// The peer's FIN was received in order (reads return EOF after the data).
    rcv_fin: bool,
    /// The application closed the socket: no one reads any more.
    app_closed: bool,

    /// RFC 6298's estimator (SRTT, RTTVAR, RTO).
    rtt: RttEstimator,
    rtt_timed: Option<(u32, Instant)>,
    rxtshift: u32,

    t_rexmt: Option<Instant>,
    t_persist: Option<Instant>,
    t_delack: Option<Instant>,
    t_2msl: Option<Instant>,

    dupacks: u32,
    in_recovery: bool,
    recover: u32,
    rexmit_one: bool,
    force_one: bool,
    /// The largest window the peer ever offered (RFC 9293 §3.8.6.2.1's sender SWS rule).
    max_sndwnd: u32,
    /// The peer answered since the last retransmission timeout (a zero window is an answer).
    peer_answered: bool,
    /// A RST the next output sends first (data after close, an unacceptable ACK during the handshake).
    pending_rst: Option<SegOut>,
    /// The handshake completed at some point (connect/accept succeeded).
    established: bool,

    cc: Box<dyn CongestionControl<Instant>>,
    ccv: CcVars,

    ack_now: bool,
    delack_segs: u32,
    /// The window we last advertised, right edge minus `rcv_nxt` (for window updates after reads).
    last_wnd: u32,

    error: Option<TcpError>,
    stats: TcbStats,
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

fn mss_floor(v6: bool) -> u32 {
    if v6 {
        DEFAULT_MSS_V6
    } else {
        DEFAULT_MSS_V4
    }
}

impl Tcb {
    fn new(
        cfg: TcbConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: u32,
        path: &PathInfo,
        cc_algo: Box<dyn CongestionControl<Instant>>,
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
        cc_algo: Box<dyn CongestionControl<Instant>>,
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
        cc_algo: Box<dyn CongestionControl<Instant>>,
        syn: &SegIn<'_>,
    ) -> Tcb {
        let mut t = Tcb::new(cfg, local, remote, iss, path, cc_algo, true);
        t.state = TcpState::SynReceived;
        t.irs = syn.seq;
        t.rcv_nxt = syn.seq.wrapping_add(1);
        t.rcv_adv = t.rcv_nxt;
        t.take_syn_options(syn);
        t.snd_wnd = syn.win as u32; // never scaled in a SYN (RFC 7323 §2.2)
        t.snd_wl1 = syn.seq;
        t.snd_wl2 = syn.ack;
        t
    }

    fn take_syn_options(&mut self, syn: &SegIn<'_>) {
        let o = parse_syn_options(syn.options);
        if let Some(ws) = o.wscale {
            self.ws_ok = true;
            self.snd_scale = ws;
            self.rcv_scale = self.rcv_scale_offer;
        }
        self.peer_mss = o.mss.map_or(mss_floor(self.remote.is_ipv6()), |m| (m as u32).max(64));
        self.update_maxseg();
        self.ccv.cwnd = cc::initial_window(self.t_maxseg);
    }

    fn update_maxseg(&mut self) {
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
            win: 0,
            options: Vec::new(),
            payload: Vec::new(),
            tso_segsz: 0,
        }
    }

    fn clear_timers(&mut self) {
        self.t_rexmt = None;
        self.t_persist = None;
        self.t_delack = None;
        self.t_2msl = None;
    }

    /// Whether the application can no longer see this connection and it can be forgotten once closed.
    pub fn app_closed(&self) -> bool {
        self.app_closed
    }

    fn rcv_space(&self) -> usize {
        self.cfg.rcvbuf.saturating_sub(self.rcvbuf.len() + self.reass_bytes)
    }

    /// The window field for the next segment (RFC 7323: scaled; never shrinking the right edge).
    fn window_field(&mut self) -> u16 {
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

    /// The earliest pending timer.
    pub fn next_timer(&self) -> Option<Instant> {
        [self.t_rexmt, self.t_persist, self.t_delack, self.t_2msl].into_iter().flatten().min()
    }

    fn start_rexmt(&mut self, now: Instant) {
        self.t_rexmt = Some(now + self.rtt.rto());
    }

    fn backoff_rto(&self) -> Duration {
        self.rtt.backoff(self.rxtshift)
    }

    /// RFC 6298 §2: a new RTT sample.
    fn rtt_sample(&mut self, r: Duration) {
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

    fn rexmt_timeout(&mut self, now: Instant) {
        let limit = match self.state {
            TcpState::SynSent | TcpState::SynReceived => self.cfg.syn_retries,
            _ => self.cfg.data_retries,
        };
        // A peer that keeps answering our zero-window probes is alive: probing goes on
        // (RFC 1122 §4.2.2.17), only the backoff grows.
        let probing = self.snd_wnd == 0 && std::mem::take(&mut self.peer_answered);
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

    /// The interface or a "packet too big" message says the path carries at
    /// most `mtu` bytes: shrink the segment size and resend what is in flight
    /// at the new size (FreeBSD `tcp_mtudisc`). Only ever lowers the size, so
    /// a repeated or forged message cannot make it loop. Returns whether anything changed.
    pub fn mtu_changed(&mut self, mtu: u32) -> bool {
        let mtu = mtu.max(super::min_mtu(self.remote.is_ipv6()));
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
                self.snd_wnd = (seg.win as u32) << self.snd_scale;
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

    fn input_syn_sent(&mut self, seg: &SegIn<'_>, now: Instant) {
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
            self.snd_wnd = seg.win as u32;
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
            self.snd_wnd = seg.win as u32;
        }
    }

    fn fin_seq(&self) -> Option<u32> {
        self.snd_fin.then(|| self.snd_buf_seq.wrapping_add(self.sndbuf.len() as u32))
    }

    fn fin_acked(&self) -> bool {
        self.fin_seq().is_some_and(|f| seq_gt(self.snd_una, f))
    }

    /// The ACK field's part of input; `false` when the whole segment must be dropped (its data
    /// and FIN too), after an ACK has been scheduled in answer.
    fn process_ack(&mut self, seg: &SegIn<'_>, now: Instant) -> bool {
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
        let win = (seg.win as u32) << self.snd_scale;
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

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = TcpState::TimeWait;
        self.clear_timers();
        self.t_2msl = Some(now + 2 * self.cfg.msl);
    }

    fn on_dupack(&mut self, now: Instant) {
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

    fn on_new_ack(&mut self, ack: u32, now: Instant) {
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

    fn process_data(&mut self, seg: &SegIn<'_>, now: Instant) {
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

    fn queue_data(&mut self, seq: u32, payload: &[u8], now: Instant) {
        // Trim what we already have.
        let (mut seq, mut data) = (seq, payload);
        if seq_lt(seq, self.rcv_nxt) {
            let skip = self.rcv_nxt.wrapping_sub(seq) as usize;
            if skip >= data.len() {
                self.ack_now = true;
                return;
            }
            data = &data[skip..];
            seq = self.rcv_nxt;
        }
        // Trim to the buffer (queued out-of-order bytes already lie inside it).
        let room_end = self.rcv_nxt.wrapping_add(self.cfg.rcvbuf.saturating_sub(self.rcvbuf.len()) as u32);
        let fits = room_end.wrapping_sub(seq) as usize;
        if seq_ge(seq, room_end) {
            self.stats.out_of_window += 1;
            self.ack_now = true;
            return;
        }
        if data.len() > fits {
            data = &data[..fits];
        }
        if seq == self.rcv_nxt {
            self.rcvbuf.extend(data);
            self.rcv_nxt = self.rcv_nxt.wrapping_add(data.len() as u32);
            self.stats.bytes_in += data.len() as u64;
            let had_holes = !self.reass.is_empty();
            self.pull_reass();
            if had_holes {
                // Filling a hole: acknowledge at once (RFC 5681 §4.2).
                self.ack_now = true;
            } else {
                self.delack_segs += 1;
                if self.delack_segs >= 2 {
                    self.ack_now = true;
                } else if self.t_delack.is_none() {
                    self.t_delack = Some(now + self.cfg.delack);
                }
            }
        } else {
            self.stats.ooo_segs += 1;
            // Bounded, as FreeBSD's tcp_reass is: a peer cannot make every insert walk a huge queue.
            if self.reass.len() >= REASS_MAX_SEGS {
                self.stats.out_of_window += 1;
                self.ack_now = true;
                return;
            }
            self.insert_reass(seq, data);
            // A duplicate ACK at once so the sender can fast-retransmit.
            self.ack_now = true;
        }
    }

    fn insert_reass(&mut self, seq: u32, data: &[u8]) {
        // Keep the queue sorted and non-overlapping: cut the new piece around existing ones.
        let mut pieces = vec![(seq, data.to_vec())];
        for &(s, ref d) in &self.reass {
            let e = s.wrapping_add(d.len() as u32);
            let mut next = Vec::new();
            for (ps, pd) in pieces {
                let pe = ps.wrapping_add(pd.len() as u32);
                if seq_le(pe, s) || seq_ge(ps, e) {
                    next.push((ps, pd));
                    continue;
                }
                if seq_lt(ps, s) {
                    next.push((ps, pd[..s.wrapping_sub(ps) as usize].to_vec()));
                }
                if seq_gt(pe, e) {
                    next.push((e, pd[e.wrapping_sub(ps) as usize..].to_vec()));
                }
            }
            pieces = next;
        }
        for (ps, pd) in pieces {
            if pd.is_empty() {
                continue;
            }
            self.reass_bytes += pd.len();
            let at = self.reass.partition_point(|(s, _)| seq_lt(*s, ps));
            self.reass.insert(at, (ps, pd));
        }
    }

    fn pull_reass(&mut self) {
        while let Some((s, _)) = self.reass.first() {
            let s = *s;
            if seq_gt(s, self.rcv_nxt) {
                break;
            }
            let (s, d) = self.reass.remove(0);
            self.reass_bytes -= d.len();
            let skip = self.rcv_nxt.wrapping_sub(s) as usize;
            if skip < d.len() {
                self.rcvbuf.extend(&d[skip..]);
                self.rcv_nxt = self.rcv_nxt.wrapping_add((d.len() - skip) as u32);
                self.stats.bytes_in += (d.len() - skip) as u64;
            }
        }
    }

    fn syn_options(&self) -> Vec<u8> {
        let mss = self.pmtu.saturating_sub(self.ip_hlen + TCP_HDR_LEN as u32).min(65535) as u16;
        // Offer scaling in a SYN; in a SYN-ACK only when the peer offered it (RFC 7323 §2.2).
        let ws = self.state == TcpState::SynSent || self.ws_ok;
        let o = TcpOptions { mss: Some(mss), window_scale: ws.then_some(self.rcv_scale_offer), ..Default::default() };
        o.emit().as_slice().to_vec()
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
                out.push(SegOut { seq: self.snd_nxt, ack: self.rcv_nxt, flags: TH_ACK, win, ..Tcb::empty() });
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
                        win,
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
            let forced = std::mem::take(&mut self.force_one);
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
                win,
                options: Vec::new(),
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
    fn arm_persist(&mut self, avail: usize, now: Instant) {
        if avail > 0 && self.snd_una == self.snd_max && self.t_rexmt.is_none() && self.t_persist.is_none() {
            self.t_persist = Some(now + self.backoff_rto().max(self.cfg.rto_min));
        }
    }

    fn ack_done(&mut self) {
        self.ack_now = false;
        self.delack_segs = 0;
        self.t_delack = None;
    }

    /// A segment of up to `len` payload bytes at `seq` (with FIN when it reaches the end after shutdown).
    fn data_segment(&mut self, seq: u32, len: usize) -> Option<SegOut> {
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
        Some(SegOut { seq, ack: self.rcv_nxt, flags, win, options: Vec::new(), payload, tso_segsz: 0 })
    }

    fn push_seg(&mut self, out: &mut Vec<SegOut>, s: SegOut, now: Instant) {
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

    fn empty() -> SegOut {
        SegOut { seq: 0, ack: 0, flags: 0, win: 0, options: Vec::new(), payload: Vec::new(), tso_segsz: 0 }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn path(mtu: u32, tso: bool) -> PathInfo {
        PathInfo { mtu, ip_hlen: 20, link_hlen: 14, tso, tso_max: 65535 }
    }

    fn pair(cfg: TcbConfig, now: Instant) -> (Tcb, Tcb) {
        let a: SocketAddr = "10.0.0.2:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:5001".parse().unwrap();
        let p = path(1500, false);
        let mut ta = Tcb::connect(cfg.clone(), a, b, 1000, &p, cc::by_name("newreno").unwrap());
        let syn = ta.output(now, &p);
        assert_eq!(syn.len(), 1);
        assert_eq!(syn[0].flags, TH_SYN);
        let s = &syn[0];
        let sin = SegIn { seq: s.seq, ack: s.ack, flags: s.flags, win: s.win, options: &s.options, payload: &[] };
        let tb = Tcb::accept_syn(cfg, b, a, 0xffff_ff00, &p, cc::by_name("newreno").unwrap(), &sin);
        (ta, tb)
    }

    /// Carries segments between two connections with a seeded loss rate and a
    /// fixed one-way delay, on a virtual clock, until both are quiet.
    fn run(ta: &mut Tcb, tb: &mut Tcb, loss: f64, data: &[u8], t0: Instant) -> (Vec<u8>, Instant) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let p = path(1500, false);
        let mut now = t0;
        let mut fly: Vec<(Instant, bool, SegOut)> = Vec::new();
        let mut got = Vec::new();
        let mut sent = 0;
        let delay = Duration::from_millis(5);
        for _ in 0..2_000_000 {
            if sent < data.len() {
                sent += ta.send(&data[sent..]).unwrap();
                if sent == data.len() {
                    ta.shutdown_write();
                }
            }
            let mut progressed = false;
            for (to_b, t) in [(true, &mut *ta), (false, &mut *tb)] {
                t.on_timer(now);
                for s in t.output(now, &p) {
                    progressed = true;
                    if !rng.gen_bool(loss) {
                        fly.push((now + delay, to_b, s));
                    }
                }
            }
            let mut buf = [0u8; 65536];
            let n = tb.recv(&mut buf);
            got.extend_from_slice(&buf[..n]);
            if tb.at_eof() && tb.state() == TcpState::CloseWait {
                tb.shutdown_write();
            }
            fly.sort_by_key(|f| f.0);
            let due: Vec<_> = fly.iter().take_while(|f| f.0 <= now).cloned().collect();
            fly.drain(..due.len());
            progressed |= !due.is_empty();
            for (_, to_b, s) in due {
                let sin = SegIn {
                    seq: s.seq,
                    ack: s.ack,
                    flags: s.flags,
                    win: s.win,
                    options: &s.options,
                    payload: &s.payload,
                };
                // As the stack does: output right after each input (one duplicate ACK per segment).
                let (t, back) = if to_b { (&mut *tb, false) } else { (&mut *ta, true) };
                t.input(&sin, now);
                for s in t.output(now, &p) {
                    if !rng.gen_bool(loss) {
                        fly.push((now + delay, back, s));
                    }
                }
            }
            let quiet = fly.is_empty() && ta.is_closed() || (ta.state() == TcpState::TimeWait && tb.is_closed());
            if quiet && fly.is_empty() {
                break;
            }
            if progressed {
                continue;
            }
            let next = [fly.first().map(|f| f.0), ta.next_timer(), tb.next_timer()].into_iter().flatten().min();
            now = match next {
                Some(t) if t > now => t,
                _ => now + Duration::from_micros(100),
            };
        }
        (got, now)
    }

    #[test]
    fn transfer_and_close_without_loss() {
        let t0 = Instant::now();
        let (mut a, mut b) = pair(TcbConfig::default(), t0);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let (got, _) = run(&mut a, &mut b, 0.0, &data, t0);
        assert!(got == data, "received {} of {} bytes, or different bytes", got.len(), data.len());
        assert_eq!(a.state(), TcpState::TimeWait, "the active closer waits 2 MSL");
        assert_eq!(b.state(), TcpState::Closed);
        assert_eq!(a.info().stats.rexmit_segs, 0);
        // MSS 1460 both ways (1500 - 40), window scaling agreed (256 KiB buffer: shift 3).
        assert_eq!(a.info().t_maxseg, 1460);
        assert_eq!(a.info().wscale, Some((3, 3)));
        assert!(b.info().srtt.is_some(), "{:?}", b.info());
    }

    #[test]
    fn transfer_survives_five_percent_loss() {
        let t0 = Instant::now();
        let (mut a, mut b) = pair(TcbConfig::default(), t0);
        let data: Vec<u8> = (0..400_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
        let (got, _) = run(&mut a, &mut b, 0.05, &data, t0);
        assert!(got == data, "received {} of {} bytes, or different bytes", got.len(), data.len());
        let st = a.info().stats;
        assert!(st.rexmit_segs > 0 && st.fast_rexmits > 0, "{st:?}");
    }

    // RFC 5681 §3.2 / RFC 6582 §3.2 (2): the third duplicate ACK retransmits
    // the first unacknowledged segment at once and sets cwnd = ssthresh + 3 MSS.
    #[test]
    fn third_duplicate_ack_fast_retransmits() {
        let t0 = Instant::now();
        let (mut a, mut b) = pair(TcbConfig::default(), t0);
        let p = path(1500, false);
        let deliver = |from: &mut Tcb, to: &mut Tcb, now| {
            for s in from.output(now, &p) {
                let sin = SegIn { seq: s.seq, ack: s.ack, flags: s.flags, win: s.win, options: &s.options, payload: &s.payload };
                to.input(&sin, now);
            }
        };
        deliver(&mut b, &mut a, t0); // SYN-ACK
        deliver(&mut a, &mut b, t0); // ACK
        assert_eq!((a.state(), b.state()), (TcpState::Established, TcpState::Established));
        a.send(&vec![1u8; 10 * 1460]).unwrap();
        let segs = a.output(t0, &p);
        assert_eq!(segs.len(), 10, "initial window of 10 segments (RFC 6928)");
        let una = segs[0].seq;
        let flight = 10 * 1460;
        // Lose the first; the next ones each draw a duplicate ACK (the first of
        // them also updates the window from the SYN's unscaled one, so it does not count).
        for s in &segs[1..5] {
            let sin = SegIn { seq: s.seq, ack: s.ack, flags: s.flags, win: s.win, options: &s.options, payload: &s.payload };
            b.input(&sin, t0);
            let acks = b.output(t0, &p);
            assert_eq!(acks.len(), 1);
            assert_eq!(acks[0].ack, una, "a duplicate ACK for the hole");
            let k = &acks[0];
            let sin = SegIn { seq: k.seq, ack: k.ack, flags: k.flags, win: k.win, options: &[], payload: &[] };
            a.input(&sin, t0);
        }
        let r = a.output(t0, &p);
        assert_eq!(r[0].seq, una, "the first unacknowledged segment again");
        assert_eq!(r[0].payload.len(), 1460);
        let i = a.info();
        assert_eq!(i.stats.fast_rexmits, 1);
        assert_eq!(i.ssthresh, flight / 2);
        assert_eq!(i.cwnd, flight / 2 + 3 * 1460);
    }

    // RFC 6298 (2.2)/(2.3): SRTT = R, RTTVAR = R/2 first; then the smoothed updates; RTO = SRTT + 4 RTTVAR.
    #[test]
    fn rto_follows_rfc6298() {
        let t0 = Instant::now();
        let (mut a, _) = pair(TcbConfig { rto_min: Duration::from_millis(1), ..Default::default() }, t0);
        a.rtt_sample(Duration::from_millis(100));
        assert_eq!((a.rtt.srtt(), a.rtt.rttvar(), a.rtt.rto()), (Some(Duration::from_millis(100)), Duration::from_millis(50), Duration::from_millis(300)));
        a.rtt_sample(Duration::from_millis(200));
        // RTTVAR = 3/4 * 50 + 1/4 * 100 = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5; RTO = 112.5 + 250 = 362.5 ms.
        assert_eq!(a.rtt.rttvar(), Duration::from_micros(62_500));
        assert_eq!(a.rtt.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(a.rtt.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn smaller_mtu_shrinks_segments_and_resends() {
        let t0 = Instant::now();
        let (mut a, mut b) = pair(TcbConfig::default(), t0);
        let p = path(1500, false);
        for s in b.output(t0, &p) {
            let sin = SegIn { seq: s.seq, ack: s.ack, flags: s.flags, win: s.win, options: &s.options, payload: &[] };
            a.input(&sin, t0);
        }
        a.send(&vec![0u8; 5000]).unwrap();
        let first = a.output(t0, &p);
        assert_eq!(first[0].payload.len(), 1460);
        assert!(a.mtu_changed(1400));
        assert!(!a.mtu_changed(1400), "the same size again changes nothing (no loop)");
        assert!(!a.mtu_changed(9000), "never raised by a message");
        let again = a.output(t0, &path(1400, false));
        assert_eq!(again[0].seq, first[0].seq, "resent from the oldest unacknowledged byte");
        assert_eq!(again[0].payload.len(), 1360);
    }

    #[test]
    fn segment_without_connection_gets_the_rfc_reset() {
        let s = SegIn { seq: 100, ack: 0, flags: TH_SYN, win: 0, options: &[], payload: &[] };
        let r = Tcb::rst_for(&s).unwrap();
        assert_eq!((r.seq, r.ack, r.flags), (0, 101, TH_RST | TH_ACK));
        let s = SegIn { seq: 100, ack: 555, flags: TH_ACK, win: 0, options: &[], payload: &[1, 2] };
        let r = Tcb::rst_for(&s).unwrap();
        assert_eq!((r.seq, r.flags), (555, TH_RST));
        assert!(Tcb::rst_for(&SegIn { flags: TH_RST, ..s }).is_none());
    }

    fn deliver_all(from: &mut Tcb, to: &mut Tcb, now: Instant, p: &PathInfo) -> usize {
        let segs = from.output(now, p);
        for s in &segs {
            let sin = SegIn { seq: s.seq, ack: s.ack, flags: s.flags, win: s.win, options: &s.options, payload: &s.payload };
            to.input(&sin, now);
        }
        segs.len()
    }

    // The window closes when the application stops reading, whatever the peer's ISS
    // (here one in the upper half of sequence space, where a zero right edge would look "ahead").
    #[test]
    fn the_window_closes_when_nobody_reads_and_probes_reopen_it() {
        let t0 = Instant::now();
        let a: SocketAddr = "10.0.0.2:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:5001".parse().unwrap();
        let p = path(1500, false);
        let cfg = TcbConfig { rcvbuf: 64 << 10, ..Default::default() };
        let mut ta = Tcb::connect(cfg.clone(), a, b, 0x9000_0000, &p, cc::by_name("newreno").unwrap());
        let syn = ta.output(t0, &p).remove(0);
        let sin = SegIn { seq: syn.seq, ack: 0, flags: syn.flags, win: syn.win, options: &syn.options, payload: &[] };
        let mut tb = Tcb::accept_syn(cfg, b, a, 0xc000_0000, &p, cc::by_name("newreno").unwrap(), &sin);
        deliver_all(&mut tb, &mut ta, t0, &p);
        deliver_all(&mut ta, &mut tb, t0, &p);
        ta.send(&vec![7u8; 200 << 10]).unwrap();
        let mut now = t0;
        for _ in 0..2000 {
            now += Duration::from_millis(1);
            ta.on_timer(now);
            tb.on_timer(now);
            deliver_all(&mut ta, &mut tb, now, &p);
            deliver_all(&mut tb, &mut ta, now, &p);
        }
        let full = 64 << 10;
        // Filled to within one segment; the sender then waits (sender SWS avoidance) and the
        // persist timer's override send fills the rest: the window closes completely.
        assert_eq!(tb.readable(), full, "the receive buffer filled exactly");
        assert_eq!(ta.info().snd_wnd, 0, "and the sender saw the window close");
        // The reader wakes up; even if its window update were lost, the sender's probe finds the open window.
        let mut sink = vec![0u8; 64 << 10];
        tb.recv(&mut sink);
        let _lost_update = tb.output(now, &p);
        let probes_before = ta.info().stats.window_probes + ta.info().stats.timeouts;
        for _ in 0..100 {
            now += Duration::from_millis(50);
            ta.on_timer(now);
            deliver_all(&mut ta, &mut tb, now, &p);
            deliver_all(&mut tb, &mut ta, now, &p);
        }
        assert!(ta.info().stats.window_probes + ta.info().stats.timeouts > probes_before, "a probe went out");
        assert!(tb.readable() > 0, "and data flows again");
        assert!(ta.error().is_none());
    }

    // RFC 1337: TIME_WAIT is not cut short by a RST (a stray one answering a late duplicate).
    #[test]
    fn time_wait_ignores_a_reset() {
        let t0 = Instant::now();
        let (mut a, mut b) = pair(TcbConfig::default(), t0);
        let (got, now) = run(&mut a, &mut b, 0.0, b"bye", t0);
        assert_eq!((got.as_slice(), a.state()), (&b"bye"[..], TcpState::TimeWait));
        let i = a.info();
        let rst = SegIn { seq: a.rcv_nxt, ack: 0, flags: TH_RST, win: 0, options: &[], payload: &[] };
        a.input(&rst, now);
        assert_eq!(a.state(), TcpState::TimeWait, "{i:?}");
        // A new SYN beyond the old connection's sequence space may recycle it; an old duplicate may not.
        let syn = |seq| SegIn { seq, ack: 0, flags: TH_SYN, win: 1000, options: &[], payload: &[] };
        assert!(a.syn_recycles(&syn(a.rcv_nxt.wrapping_add(100_000))));
        assert!(!a.syn_recycles(&syn(a.rcv_nxt.wrapping_sub(1))));
        a.on_timer(now + 2 * a.cfg.msl);
        assert_eq!(a.state(), TcpState::Closed, "2 MSL later it ends");
    }

    // A blind attacker who guesses RCV.NXT but not SND.MAX (RFC 9293 §3.10.7.4), or who sends an
    // ACK far below SND.UNA (RFC 5961 §5.2): the segment is dropped, payload and FIN too, and
    // answered with an ACK that still names the real RCV.NXT. An ACK inside the range is still
    // taken with its data, so the check is not simply "drop everything".
    #[test]
    fn data_under_an_unacceptable_ack_is_dropped_and_answered() {
        let t0 = Instant::now();
        let p = path(1500, false);
        let (mut a, mut b) = pair(TcbConfig::default(), t0);
        deliver_all(&mut b, &mut a, t0, &p);
        deliver_all(&mut a, &mut b, t0, &p);
        // b sends some data so that its SND.UNA has moved and MAX.SND.WND is known.
        b.send(&[1u8; 3000]).unwrap();
        let mut now = t0;
        for _ in 0..10 {
            now += Duration::from_millis(50);
            a.on_timer(now);
            b.on_timer(now);
            deliver_all(&mut b, &mut a, now, &p);
            deliver_all(&mut a, &mut b, now, &p);
        }
        assert_eq!(b.info().snd_q, 0, "b's data was acknowledged");
        let t0 = now;
        let (rcv_nxt, snd_una, max_wnd) = (b.rcv_nxt, b.snd_una, b.max_sndwnd);
        assert!(max_wnd > 0);
        let forged = |ack: u32, flags: u8| SegIn {
            seq: rcv_nxt,
            ack,
            flags: TH_ACK | flags,
            win: 1000,
            options: &[],
            payload: b"forged bytes",
        };
        for (ack, what) in [
            (b.snd_max.wrapping_add(100), "ahead of SND.MAX"),
            (snd_una.wrapping_sub(max_wnd).wrapping_sub(1), "below SND.UNA - MAX.SND.WND"),
        ] {
            b.input(&forged(ack, TH_FIN), t0);
            assert_eq!(b.readable(), 0, "{what}: no payload delivered");
            assert!(!b.at_eof(), "{what}: no FIN taken");
            assert_eq!(b.state(), TcpState::Established, "{what}");
            let out = b.output(t0, &p);
            assert_eq!(out.len(), 1, "{what}: answered with one segment");
            assert_eq!((out[0].flags & TH_ACK, out[0].ack, out[0].payload.len()), (TH_ACK, rcv_nxt, 0), "{what}");
        }
        let st = b.info().stats;
        assert_eq!((st.rcvacktoomuch, st.rcvacktooold), (1, 1));
        // The lowest acceptable ACK (SND.UNA - MAX.SND.WND) carries data in.
        b.input(&forged(snd_una.wrapping_sub(max_wnd), 0), t0);
        assert_eq!(b.readable(), 12, "an old but acceptable ACK's data is delivered");
    }
}
