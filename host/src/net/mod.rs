//! The protocol layers: Ethernet (with 802.1Q), IPv4, IPv6, UDP, TCP.
//!
//! Output follows FreeBSD: the transport layer always asks for its checksum
//! (`CSUM_IP_UDP`, …, with the pseudo-header sum seeded into the checksum
//! field and `csum_data` the field's offset); `ip_output` / `ip6_output` then
//! compare the request with `if_hwassist` and compute in software ("delayed"
//! checksums) whatever the interface will not, clearing those bits. The wire
//! bytes are therefore the same with or without offload.
//!
//! Input trusts the NIC only as far as its flags say (`CSUM_L3_CALC` /
//! `CSUM_L3_VALID` for the IPv4 header, `CSUM_DATA_VALID|CSUM_PSEUDO_HDR` with
//! `csum_data` 0xffff for L4) and verifies everything else in software; bad
//! checksums are counted per protocol under FreeBSD's statistic names.
//!
//! Header views are `smoltcp::wire` packets (typed accessors over bytes);
//! every length is checked before a view is made, so no input can panic.
//! Checksum arithmetic is `nic_abi::cksum`, the same code the reference
//! models use.

pub mod arp;
pub mod ether;
pub mod gso;
pub mod icmp;
pub mod icmp6;
pub mod ipv4;
pub mod ipv6;
pub mod neigh;
pub mod rss;
pub mod tcp;
pub mod udp;

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use nic_abi::cksum;
use nic_abi::csum::{
    CSUM_DATA_VALID, CSUM_DELAY_DATA, CSUM_DELAY_DATA_IPV6, CSUM_IP, CSUM_IP6_UDP, CSUM_IP_UDP, CSUM_PSEUDO_HDR,
};

use crate::mbuf::Mbuf;

/// Protocol numbers as smoltcp names them (re-exported: [`Ipv6Ext`] and the output functions take them).
pub use smoltcp::wire::IpProtocol;

pub use ether::{ether_input, ether_output, LinkOut};
pub use ipv4::{ip_input, ip_output, Ipv4Out};
pub use ipv6::{ip6_input, ip6_output, Ipv6Ext, Ipv6Out};
pub use tcp::{tcp_input, tcp_output_segment, tcp_output_tso, TcpOut};
pub use udp::{udp_input, udp_output, IpOut};

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

/// Why input dropped a packet (each also bumps a [`NetStats`] counter).
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
    /// A fragment: this stack does not reassemble.
    Fragment,
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
            DropReason::Fragment => write!(f, "fragment (no reassembly)"),
            DropReason::Ip6BadOptions(w) => write!(f, "IPv6 extension headers: {w}"),
            DropReason::UdpBadSum => write!(f, "bad UDP checksum"),
            DropReason::Udp6NoSum => write!(f, "UDP over IPv6 with zero checksum"),
            DropReason::TcpBadSum => write!(f, "bad TCP checksum"),
        }
    }
}

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
    /// TCP options bytes.
    pub options: Vec<u8>,
    /// The payload (headers stripped).
    pub m: Mbuf,
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

/// Link-layer counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EtherStats {
    /// Frames in.
    pub ipackets: u64,
    /// Frames dropped: too short, stacked tags, stale interface (`if_ierrors`).
    pub ierrors: u64,
    /// Frames with an ethertype nobody handles (`if_noproto`).
    pub noproto: u64,
    /// Frames out.
    pub opackets: u64,
}

/// IPv4 counters, FreeBSD `struct ipstat` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpStats {
    /// Packets received.
    pub ips_total: u64,
    /// Header checksum wrong.
    pub ips_badsum: u64,
    /// Packet shorter than its header or its total length.
    pub ips_tooshort: u64,
    /// Header length field below 20 or past the packet.
    pub ips_badhlen: u64,
    /// Total length below the header length.
    pub ips_badlen: u64,
    /// Version not 4.
    pub ips_badvers: u64,
    /// Fragments received (dropped: no reassembly).
    pub ips_fragments: u64,
    /// Protocols without a handler here (delivered as [`Input::Ip`]).
    pub ips_noproto: u64,
    /// Packets passed up.
    pub ips_delivered: u64,
    /// Packets sent.
    pub ips_localout: u64,
}

/// IPv6 counters, FreeBSD `struct ip6stat` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ip6Stats {
    /// Packets received.
    pub ip6s_total: u64,
    /// Packet shorter than its header or payload length.
    pub ip6s_tooshort: u64,
    /// Version not 6.
    pub ip6s_badvers: u64,
    /// Fragments received (dropped: no reassembly).
    pub ip6s_fragments: u64,
    /// Extension header problems.
    pub ip6s_badoptions: u64,
    /// Packets passed up.
    pub ip6s_delivered: u64,
    /// Packets sent.
    pub ip6s_localout: u64,
}

/// UDP counters, FreeBSD `struct udpstat` names (IPv4 and IPv6 together, as FreeBSD counts them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpStats {
    /// Datagrams received.
    pub udps_ipackets: u64,
    /// Shorter than the UDP header.
    pub udps_hdrops: u64,
    /// Checksum wrong.
    pub udps_badsum: u64,
    /// No checksum (IPv4: accepted; IPv6: dropped).
    pub udps_nosum: u64,
    /// Length field inconsistent with the IP length.
    pub udps_badlen: u64,
    /// Datagrams sent.
    pub udps_opackets: u64,
}

/// TCP counters, FreeBSD `struct tcpstat` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Segments received.
    pub tcps_rcvtotal: u64,
    /// Checksum wrong.
    pub tcps_rcvbadsum: u64,
    /// Shorter than the TCP header.
    pub tcps_rcvshort: u64,
    /// Data offset below 5 words or past the segment.
    pub tcps_rcvbadoff: u64,
    /// Segments sent.
    pub tcps_sndtotal: u64,
}

/// How received checksums were settled: trusted from the NIC or verified in software.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsumStats {
    /// IPv4 headers settled by `CSUM_L3_CALC`.
    pub l3_hw: u64,
    /// IPv4 headers verified in software.
    pub l3_sw: u64,
    /// L4 checksums settled by `CSUM_DATA_VALID`.
    pub l4_hw: u64,
    /// L4 checksums verified in software.
    pub l4_sw: u64,
    /// Transmit checksums computed in software because the interface would not (delayed).
    pub tx_sw: u64,
    /// Transmit checksums left to the NIC.
    pub tx_hw: u64,
}

/// All protocol counters, for `netstat -s`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Link layer.
    pub ether: EtherStats,
    /// IPv4.
    pub ip: IpStats,
    /// IPv6.
    pub ip6: Ip6Stats,
    /// UDP.
    pub udp: UdpStats,
    /// TCP.
    pub tcp: TcpStats,
    /// Checksum offload use.
    pub csum: CsumStats,
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

/// Computes in software the checksums `flags` requests, exactly as the NIC
/// would: the IPv4 header checksum over `data[l3off..l3off + l3hlen]` (field
/// treated as zero) for `CSUM_IP`, and the L4 checksum from `l3off + l3hlen`
/// to the end of `data`, stored at `csum_data` past the L4 start, for the
/// TCP/UDP requests. Fails (nothing changed) when an offset lies outside.
pub(crate) fn finish_in_software(
    data: &mut [u8],
    l3off: usize,
    l3hlen: usize,
    flags: u32,
    csum_data: u32,
) -> Result<(), &'static str> {
    let l4off = l3off.checked_add(l3hlen).filter(|&o| o <= data.len()).ok_or("L3 header past the frame")?;
    let ip = flags & CSUM_IP != 0;
    let l4 = flags & (CSUM_DELAY_DATA | CSUM_DELAY_DATA_IPV6) != 0;
    if ip && !(ipv4::IP_HDR_LEN..=ipv4::IP_MAX_HDR_LEN).contains(&l3hlen) {
        return Err("CSUM_IP with an IPv4 header length outside 20..=60");
    }
    if l4 && (csum_data as usize).checked_add(l4off + 2).is_none_or(|e| e > data.len()) {
        return Err("L4 checksum field past the frame");
    }
    if l4 {
        delayed_l4_cksum(data, l4off, csum_data as usize, is_udp_request(flags));
    }
    if ip {
        ipv4::set_header_cksum(&mut data[l3off..l4off]);
    }
    Ok(())
}

/// Where output computes a delayed L4 checksum: FreeBSD's `in_delayed_cksum` /
/// `in6_delayed_cksum` over `data[l4off..]`, whose checksum field at
/// `l4off + csum_off` holds the pseudo-header seed. UDP's computed 0 becomes 0xffff.
/// Returns `false` (nothing written) when the field lies outside the data.
pub(crate) fn delayed_l4_cksum(data: &mut [u8], l4off: usize, csum_off: usize, udp: bool) -> bool {
    let Some(field) = l4off.checked_add(csum_off) else { return false };
    if field.checked_add(2).is_none_or(|end| end > data.len()) {
        return false;
    }
    let c = cksum::finish(cksum::sum(&data[l4off..], 0));
    let c = if udp { cksum::udp_wire(c) } else { c };
    data[field..field + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Whether a transmit request is a UDP one (the 0 -> 0xffff rule applies).
pub(crate) fn is_udp_request(flags: u32) -> bool {
    flags & (CSUM_IP_UDP | CSUM_IP6_UDP) != 0
}

/// The receive-side L4 decision (FreeBSD `udp_input` / `tcp_input`): trust the
/// NIC's `CSUM_DATA_VALID` (adding the pseudo-header ourselves when it did not
/// include it), else verify `seg` in software. `pseudo` is the folded
/// pseudo-header sum *with* the L4 length. `hw_usable` is false when the NIC's
/// sum cannot cover exactly `seg` (e.g. the UDP length is shorter than the IP payload).
pub(crate) fn l4_cksum_ok(m: &Mbuf, seg: &[u8], pseudo: u16, hw_usable: bool, st: &mut CsumStats) -> bool {
    let flags = m.pkthdr.csum_flags;
    if hw_usable && flags & CSUM_DATA_VALID != 0 {
        st.l4_hw += 1;
        let s = if flags & CSUM_PSEUDO_HDR != 0 {
            // FreeBSD assigns csum_data to the 16-bit th_sum/uh_sum: truncation, not folding.
            m.pkthdr.csum_data as u16
        } else {
            cksum::fold(cksum::add32(m.pkthdr.csum_data, pseudo as u32))
        };
        return s == 0xffff;
    }
    st.l4_sw += 1;
    cksum::fold(cksum::sum(seg, pseudo as u32)) == 0xffff
}
