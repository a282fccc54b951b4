//! Why a packet was refused: a header too short or inconsistent (input), a
//! packet that cannot go out as asked (output), and what input dropped.

use std::fmt;

/// A header that is too short or inconsistent, with the layer it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than the header (or the length it declares) needs.
    Truncated {
        /// Which header.
        layer: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// A field has a value the protocol does not allow.
    Malformed {
        /// Which header.
        layer: &'static str,
        /// What is wrong.
        why: &'static str,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Truncated { layer, need, have } => {
                write!(f, "{layer}: truncated, needs {need} bytes, has {have}")
            }
            ParseError::Malformed { layer, why } => write!(f, "{layer}: malformed: {why}"),
        }
    }
}

impl std::error::Error for ParseError {}

pub(crate) fn need(layer: &'static str, need: usize, have: usize) -> Result<(), ParseError> {
    if have < need {
        Err(ParseError::Truncated { layer, need, have })
    } else {
        Ok(())
    }
}

/// Why output refused a packet; nothing was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputError {
    /// EMSGSIZE: the IP packet is larger than the MTU (this stack does not fragment); send less.
    MsgSize {
        /// IP packet length.
        len: usize,
        /// Interface MTU.
        mtu: u32,
    },
    /// The datagram exceeds what the length fields can express (65535).
    TooLong(usize),
    /// IPv4 options or IPv6 extension headers that cannot be encoded (length not a multiple of 4/8, too long).
    BadOptions(&'static str),
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::MsgSize { len, mtu } => {
                write!(f, "message too long: {len}-byte IP packet over MTU {mtu} (no fragmentation); send less")
            }
            OutputError::TooLong(n) => write!(f, "datagram of {n} bytes exceeds the 16-bit length field"),
            OutputError::BadOptions(w) => write!(f, "cannot encode IP options/extension headers: {w}"),
        }
    }
}

impl std::error::Error for OutputError {}

/// Why input dropped a packet (each also bumps a [`NetStats`](crate::net::NetStats) counter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The packet's `rcvif` is not this interface's current generation (it departed).
    StaleInterface,
    /// A header was too short or inconsistent.
    Parse(ParseError),
    /// An ethertype this stack does not handle (ARP is outside the scope of this crate).
    UnknownEthertype(u16),
    /// More than one 802.1Q/802.1ad tag.
    StackedVlan,
    /// IPv4 header checksum wrong.
    IpBadSum,
    /// A fragment, and no reassembly on this path (`ether_input` alone: the stack reassembles).
    Fragment,
    /// A fragment held for reassembly (or refused by it: see its counters); not a datagram yet.
    Reassembling,
    /// IPv6 extension headers out of order, or a routing header that asks us to forward.
    Ip6BadOptions(&'static str),
    /// UDP checksum wrong.
    UdpBadSum,
    /// UDP over IPv6 with a zero checksum (RFC 8200 §8.1: invalid).
    Udp6NoSum,
    /// TCP checksum wrong.
    TcpBadSum,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::StaleInterface => write!(f, "received on an interface that has since departed"),
            DropReason::Parse(e) => write!(f, "{e}"),
            DropReason::UnknownEthertype(t) => write!(f, "unknown ethertype 0x{t:04x}"),
            DropReason::StackedVlan => write!(f, "stacked VLAN tags are not supported"),
            DropReason::IpBadSum => write!(f, "bad IPv4 header checksum"),
            DropReason::Fragment => write!(f, "fragment (no reassembly on this path)"),
            DropReason::Reassembling => write!(f, "fragment held for reassembly"),
            DropReason::Ip6BadOptions(w) => write!(f, "IPv6 extension headers: {w}"),
            DropReason::UdpBadSum => write!(f, "bad UDP checksum"),
            DropReason::Udp6NoSum => write!(f, "UDP over IPv6 with zero checksum"),
            DropReason::TcpBadSum => write!(f, "bad TCP checksum"),
        }
    }
}
