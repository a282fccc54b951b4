//! What the layers hand each other (FreeBSD's `protosw` contract): the
//! received IP header's addresses ([`L3`]), the IP payload on its way up
//! ([`IpIn`]), what input finally delivers ([`Input`]), and output's MTU rule.
//! Below every protocol file, so none of them imports another's input.

use std::net::{IpAddr, SocketAddr};

use nic_abi::cksum;
use nic_tcp::{TcpOptions, TcpRepr};

use super::error::{DropReason, OutputError};
use crate::mbuf::Mbuf;

/// A UDP datagram delivered by input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpDatagram {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// The payload (headers stripped), with the packet header as received.
    pub m: Mbuf,
}

/// A TCP segment delivered by input (no connection state here: that is `tcp_input`'s caller).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSegment {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// `TH_*` flags.
    pub flags: u8,
    /// Window (unscaled).
    pub win: u16,
    /// TCP options, decoded once here (no allocation per segment).
    pub options: TcpOptions,
    /// The payload (headers stripped).
    pub m: Mbuf,
}

impl TcpSegment {
    /// The segment as `nic-tcp`'s representation, its payload borrowed from the mbuf: what the
    /// connection's input takes.
    pub fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src.port(),
            dst_port: self.dst.port(),
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.win,
            options: self.options,
            payload: self.m.data(),
        }
    }
}

/// A datagram of an IP protocol this stack does not implement (ICMP, …), for a raw-socket-like consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpDatagram {
    /// IP protocol / next header.
    pub proto: u8,
    /// Sender.
    pub src: IpAddr,
    /// Receiver.
    pub dst: IpAddr,
    /// TTL / hop limit as received (neighbour discovery accepts only 255).
    pub hlim: u8,
    /// The payload after the IP header (and extension headers).
    pub m: Mbuf,
}

/// What input did with a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A UDP datagram with a good (or, over IPv4, absent) checksum.
    Udp(UdpDatagram),
    /// A TCP segment with a good checksum.
    Tcp(TcpSegment),
    /// Another IP protocol.
    Ip(IpDatagram),
    /// Dropped, and counted.
    Dropped(DropReason),
}

/// The network-layer addresses a transport checksum covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3 {
    /// IPv4 source and destination.
    V4 {
        /// Source.
        src: [u8; 4],
        /// Destination.
        dst: [u8; 4],
    },
    /// IPv6 source and *final* destination (RFC 8200 §8.1: the last address of a routing header).
    V6 {
        /// Source.
        src: [u8; 16],
        /// Final destination.
        dst: [u8; 16],
    },
}

impl L3 {
    /// The pseudo-header sum (folded, not complemented) for `proto` with L4 length `len`.
    pub fn pseudo(&self, proto: u8, len: u32) -> u16 {
        match *self {
            L3::V4 { src, dst } => cksum::pseudo_v4(src, dst, proto, len),
            L3::V6 { src, dst } => cksum::pseudo_v6(src, dst, proto, len),
        }
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        match *self {
            L3::V4 { src, .. } => IpAddr::from(src),
            L3::V6 { src, .. } => IpAddr::from(src),
        }
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        match *self {
            L3::V4 { dst, .. } => IpAddr::from(dst),
            L3::V6 { dst, .. } => IpAddr::from(dst),
        }
    }

    /// Whether this is IPv6 (UDP's zero-checksum rule differs).
    pub fn is_v6(&self) -> bool {
        matches!(self, L3::V6 { .. })
    }
}

/// The MTU check of `ip_output` / `ip6_output` for transport data `m` behind an IP header of
/// `hlen` bytes: a TSO burst is checked by the size of the segments it will become, anything
/// else whole (EMSGSIZE: this stack does not fragment). Returns whether `m` is a TSO burst.
pub(crate) fn fits_mtu(ifp: &crate::ifnet::Ifnet, m: &Mbuf, hlen: usize) -> Result<bool, OutputError> {
    let tso = m.pkthdr.csum_flags & nic_abi::csum::CSUM_TSO != 0;
    let len = if tso { hlen + m.pkthdr.l4hlen as usize + m.pkthdr.tso_segsz as usize } else { hlen + m.len() };
    if len > ifp.if_mtu as usize {
        return Err(OutputError::MsgSize { len, mtu: ifp.if_mtu });
    }
    Ok(tso)
}

/// An IP packet that passed `ip_input` / `ip6_input`: its addresses, transport protocol, hop
/// limit as received, and the payload after the IP header (and extension headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpIn {
    /// Source and destination.
    pub l3: L3,
    /// Transport protocol / last next-header.
    pub proto: u8,
    /// TTL / hop limit as received.
    pub hlim: u8,
    /// The transport payload.
    pub m: Mbuf,
}

/// A transport endpoint pair as sockets see it.
pub(crate) fn sockaddrs(l3: &L3, sport: u16, dport: u16) -> (SocketAddr, SocketAddr) {
    (SocketAddr::new(l3.src(), sport), SocketAddr::new(l3.dst(), dport))
}
