//! Raw frames in, offload requests out: what a pcap replay tool needs.
//!
//! [`prepare_tx`] takes a captured Ethernet frame and puts it in the state the
//! FreeBSD stack hands a driver: the IPv4 header checksum zeroed with
//! `CSUM_IP` requested, the pseudo-header sum seeded into the TCP/UDP checksum
//! field with the L4 flag requested, `l2hlen`/`l3hlen`/`l4hlen` and
//! `csum_data` filled in — for whatever the interface's `if_hwassist` takes;
//! the rest is computed in software right away, as `ip_output` does.
//! [`software_finish`] then produces the bytes a NIC with those offloads must
//! put on the wire, so a test can prove hardware output equals software
//! output byte for byte.
//!
//! Unoffloadable frames (fragments, protocols other than TCP/UDP, truncated
//! captures, headers the descriptor cannot describe) are refused with a
//! reason; a replay tool sends them unchanged.

use std::fmt;

use nic_abi::csum::{
    CSUM_DELAY_DATA, CSUM_DELAY_DATA_IPV6, CSUM_IP, CSUM_IP6_TCP, CSUM_IP6_UDP, CSUM_IP_TCP, CSUM_IP_UDP,
    CSUM_TSO, TCP_CSUM_OFFSET, UDP_CSUM_OFFSET,
};
use smoltcp::wire::IpProtocol;

use crate::ifnet::effective_hwassist;
use crate::mbuf::Mbuf;
use crate::net::tcp::TCP_HDR_LEN;
use crate::net::udp::UDP_HDR_LEN;
use crate::net::{ether, finish_in_software, ipv4, ipv6, ParseError, L3};

/// Why a frame cannot be handed to the NIC with offload requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unoffloadable {
    /// A header is cut short (a truncated capture) or inconsistent.
    Parse(ParseError),
    /// Not IPv4 or IPv6.
    NotIp {
        /// The ethertype found.
        ethertype: u16,
    },
    /// An IPv4 or IPv6 fragment: its L4 checksum covers bytes this frame does not carry.
    Fragment,
    /// Neither TCP nor UDP: no checksum the NIC can insert.
    Protocol(u8),
    /// An IPv4 source-route option: the pseudo-header's destination is not the header's.
    SourceRoute,
    /// An IPv6 routing header (this type) with segments left whose final destination is unknown.
    RoutingType(u8),
    /// IP headers longer than the descriptor's 8-bit `l3hlen` can say.
    HeaderTooLong(usize),
    /// The UDP length differs from the IP payload length, so the NIC's sum (to the frame's end) would be wrong.
    UdpLength {
        /// The UDP header's length field.
        udp: usize,
        /// The IP payload length.
        ip: usize,
    },
    /// The mbuf's offload state points outside the frame or asks for something no NIC of this ABI does.
    BadRequest(&'static str),
}

impl fmt::Display for Unoffloadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unoffloadable::Parse(e) => write!(f, "{e}"),
            Unoffloadable::NotIp { ethertype } => write!(f, "ethertype 0x{ethertype:04x} is not IPv4 or IPv6"),
            Unoffloadable::Fragment => write!(f, "IP fragment: the checksum covers other fragments"),
            Unoffloadable::Protocol(p) => write!(f, "IP protocol {p} has no checksum this NIC inserts"),
            Unoffloadable::SourceRoute => write!(f, "IPv4 source route: pseudo-header destination differs"),
            Unoffloadable::RoutingType(t) => write!(f, "IPv6 routing header type {t} with segments left"),
            Unoffloadable::HeaderTooLong(n) => write!(f, "IP headers of {n} bytes exceed l3hlen's 255"),
            Unoffloadable::UdpLength { udp, ip } => {
                write!(f, "UDP length {udp} differs from the IP payload length {ip}")
            }
            Unoffloadable::BadRequest(w) => write!(f, "offload request not executable: {w}"),
        }
    }
}

impl std::error::Error for Unoffloadable {}

impl From<ParseError> for Unoffloadable {
    fn from(e: ParseError) -> Self {
        Unoffloadable::Parse(e)
    }
}

/// Re-seeds a raw Ethernet frame for offload as the FreeBSD stack would, for
/// an interface with `if_hwassist` / `if_capenable` (a tagged frame is
/// offloaded only with `vlanhwcsum`).
///
/// Link padding after the IP datagram is dropped (the stack never hands
/// padding to a driver; the NIC's sum runs to the frame's end). A UDP-over-
/// IPv4 datagram sent without a checksum (zero) stays without one.
pub fn prepare_tx(frame: &[u8], if_hwassist: u32, if_capenable: u32) -> Result<Mbuf, Unoffloadable> {
    prepare(frame, if_hwassist, if_capenable, None)
}

/// Re-seeds a raw TCP frame of any length as a TSO burst with segment size
/// `mss`, as `tcp_output` hands one to a TSO driver: `CSUM_TSO` plus the TCP
/// (and for IPv4 the IP) request, the IPv4 header checksum zeroed, and the TCP
/// checksum field seeded with the pseudo-header sum *without* the length. The
/// caller sends it to a NIC with TSO on, or through [`crate::net::gso::tcp_gso`].
pub fn prepare_tso(frame: &[u8], mss: u16) -> Result<Mbuf, Unoffloadable> {
    if mss == 0 {
        return Err(Unoffloadable::BadRequest("TSO segment size 0"));
    }
    prepare(frame, 0, 0, Some(mss))
}

fn prepare(frame: &[u8], if_hwassist: u32, if_capenable: u32, tso: Option<u16>) -> Result<Mbuf, Unoffloadable> {
    let l2 = ether::parse(frame)?;
    let l2hlen = l2.hlen;
    let ip = &frame[l2hlen..];
    let (l3, l3hlen, l3len, proto, v6) = match l2.ethertype {
        ether::ETHERTYPE_IP => {
            let i = ipv4::parse(ip)?;
            if i.fragment {
                return Err(Unoffloadable::Fragment);
            }
            if i.source_route {
                return Err(Unoffloadable::SourceRoute);
            }
            (L3::V4 { src: i.src, dst: i.dst }, i.hlen, i.total_len, i.proto, false)
        }
        ether::ETHERTYPE_IPV6 => {
            let i = ipv6::parse(ip)?;
            if i.fragment.is_some_and(|f| !f.is_atomic()) {
                return Err(Unoffloadable::Fragment);
            }
            let dst = i.final_dst.ok_or(Unoffloadable::RoutingType(i.routing.map_or(0, |r| r.0)))?;
            (L3::V6 { src: i.src, dst }, i.hlen, ipv6::IP6_HDR_LEN + i.payload_len, i.upper, true)
        }
        _ => return Err(Unoffloadable::NotIp { ethertype: l2.ethertype }),
    };
    let l3hlen8 = u8::try_from(l3hlen).map_err(|_| Unoffloadable::HeaderTooLong(l3hlen))?;
    let l4len = l3len - l3hlen;
    let l4 = &ip[l3hlen..l3len];
    let (l4hlen, csum_off, l4flag, seed_it) = match IpProtocol::from(proto) {
        IpProtocol::Tcp => {
            crate::net::need("tcp", TCP_HDR_LEN, l4len)?;
            let off = ((l4[12] >> 4) as usize) * 4;
            if off < TCP_HDR_LEN || off > l4len {
                return Err(ParseError::Malformed { layer: "tcp", why: "data offset below 20 or past the segment" }
                    .into());
            }
            (off, TCP_CSUM_OFFSET, if v6 { CSUM_IP6_TCP } else { CSUM_IP_TCP }, true)
        }
        IpProtocol::Udp => {
            crate::net::need("udp", UDP_HDR_LEN, l4len)?;
            let ulen = u16::from_be_bytes([l4[4], l4[5]]) as usize;
            if ulen != l4len {
                return Err(Unoffloadable::UdpLength { udp: ulen, ip: l4len });
            }
            let none = !v6 && l4[6] == 0 && l4[7] == 0;
            (UDP_HDR_LEN, UDP_CSUM_OFFSET, if v6 { CSUM_IP6_UDP } else { CSUM_IP_UDP }, !none)
        }
        _ => return Err(Unoffloadable::Protocol(proto)),
    };

    let mut m = Mbuf::from_frame(&frame[..l2hlen + l3len]);
    m.pkthdr.l2hlen = l2hlen as u8;
    m.pkthdr.l3hlen = l3hlen8;
    m.pkthdr.l4hlen = l4hlen as u8;
    let mut req = 0;
    let l4off = l2hlen + l3hlen;
    let data = m.data_mut();
    if !v6 {
        data[l2hlen + 10..l2hlen + 12].fill(0);
        req |= CSUM_IP;
    }
    if let Some(mss) = tso {
        if l4flag & (CSUM_IP_TCP | CSUM_IP6_TCP) == 0 {
            return Err(Unoffloadable::Protocol(proto));
        }
        let seed = l3.pseudo(proto, 0);
        let f = l4off + csum_off as usize;
        data[f..f + 2].copy_from_slice(&seed.to_be_bytes());
        m.pkthdr.csum_flags = req | l4flag | CSUM_TSO;
        m.pkthdr.csum_data = csum_off as u32;
        m.pkthdr.tso_segsz = mss;
        return Ok(m);
    }
    if seed_it {
        let seed = l3.pseudo(proto, l4len as u32);
        let f = l4off + csum_off as usize;
        data[f..f + 2].copy_from_slice(&seed.to_be_bytes());
        req |= l4flag;
    }
    let hw = req & effective_hwassist(if_hwassist, if_capenable, l2.tci.is_some());
    let sw = req & !hw;
    finish_in_software(data, l2hlen, l3hlen, sw, csum_off as u32).map_err(Unoffloadable::BadRequest)?;
    m.pkthdr.csum_flags = hw;
    m.pkthdr.csum_data = if hw & (CSUM_DELAY_DATA | CSUM_DELAY_DATA_IPV6) != 0 { csum_off as u32 } else { 0 };
    Ok(m)
}

/// Hands a TSO burst (from [`prepare_tso`] or TCP output) to an interface:
/// unchanged when its `if_hwassist` takes TSO for the burst's family (a tagged
/// frame also needs `vlanhwtso`), else cut in software by
/// [`crate::net::gso::tcp_gso`] with the segments' checksums left to the NIC
/// where `if_hwassist` allows. Returns the frames for the driver and whether
/// the NIC segments them.
pub fn tso_or_gso(m: Mbuf, if_hwassist: u32, if_capenable: u32) -> Result<(Vec<Mbuf>, bool), crate::net::gso::GsoError> {
    let tagged = m.pkthdr.l2hlen as usize == ether::ETHER_HDR_LEN + 4;
    let hw = effective_hwassist(if_hwassist, if_capenable, tagged);
    let need = if m.pkthdr.csum_flags & CSUM_IP6_TCP != 0 {
        nic_abi::csum::CSUM_IP6_TSO | CSUM_IP6_TCP
    } else {
        nic_abi::csum::CSUM_IP_TSO | CSUM_IP_TCP | CSUM_IP
    };
    if m.pkthdr.csum_flags & CSUM_TSO != 0 && hw & need == need {
        return Ok((vec![m], true));
    }
    Ok((crate::net::gso::tcp_gso(&m, hw)?, false))
}

/// The frame a NIC that honours `m`'s offload requests puts on the wire: the
/// delayed-checksum path, run on a copy so the same mbuf can also go to the
/// hardware for comparison.
pub fn software_finish(m: &Mbuf) -> Result<Vec<u8>, Unoffloadable> {
    let h = &m.pkthdr;
    let known = CSUM_IP | CSUM_DELAY_DATA | CSUM_DELAY_DATA_IPV6;
    if h.csum_flags & !known != 0 {
        return Err(Unoffloadable::BadRequest("csum_flags outside the checksum requests this ABI defines"));
    }
    if h.tso_segsz != 0 {
        return Err(Unoffloadable::BadRequest("a TSO burst: its frames come from net::gso::tcp_gso"));
    }
    let mut out = m.data().to_vec();
    if h.csum_flags != 0 {
        finish_in_software(&mut out, h.l2hlen as usize, h.l3hlen as usize, h.csum_flags, h.csum_data)
            .map_err(Unoffloadable::BadRequest)?;
    }
    Ok(out)
}
