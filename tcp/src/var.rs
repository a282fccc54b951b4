//! The connection's types as its users see them (FreeBSD's `tcp_var.h`):
//! states with netstat's names, errors, tunables, what a path allows, the
//! segments going in and out, counters and the `TCP_INFO`-like snapshot.

use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use crate::options::TcpOptions;
use crate::repr::TcpRepr;

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

/// How a connection ended abnormally; the host's sockets turn it into an `io::Error`.
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
    /// EHOSTUNREACH: the next hop never answered address resolution (ARP or ND).
    HostUnreachable,
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpError::Refused => "connection refused by the peer (RST in answer to SYN)",
            TcpError::Reset => "connection reset by the peer",
            TcpError::TimedOut => "connection timed out (retransmissions unanswered)",
            TcpError::NetDown => "the interface departed; the connection is gone",
            TcpError::Aborted => "connection aborted by this side",
            TcpError::HostUnreachable => {
                "host unreachable: the next hop never answered address resolution (ARP or ND); check the address and the link"
            }
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

/// A received segment, headers parsed and options decoded: the crate's one segment
/// representation, the same one output builds ([`SegOut::repr`]).
pub type SegIn<'a> = TcpRepr<'a>;

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
    pub window: u16,
    /// Options (encoded only when the segment is built).
    pub options: TcpOptions,
    /// Payload, owned: the send buffer moves on while the segment waits for the driver.
    pub payload: Vec<u8>,
    /// Non-zero: a TSO burst of segments of this many payload bytes.
    pub tso_segsz: u16,
}

impl SegOut {
    /// The segment as the crate's one representation between ports `src_port` and `dst_port`:
    /// what the wire layer emits, and what a test's pipe hands the other connection.
    pub fn repr(&self, src_port: u16, dst_port: u16) -> TcpRepr<'_> {
        TcpRepr {
            src_port,
            dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            options: self.options,
            payload: &self.payload,
        }
    }
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
