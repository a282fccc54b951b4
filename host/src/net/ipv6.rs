//! IPv6: extension-header walking, `ip6_output`, `ip6_input`.
//!
//! The walk follows hop-by-hop options (first only), routing, destination
//! options and fragment headers to the upper-layer header, because the
//! checksum engine needs `l3hlen` to cover all of them and the pseudo-header
//! needs the upper-layer length *without* them and the *final* destination
//! (RFC 8200 §8.1).

use std::net::Ipv6Addr;

use nic_abi::csum::{CSUM_DELAY_DATA_IPV6, CSUM_TSO};
use nic_abi::ifcap::IFCAP_RXCSUM_IPV6;
use smoltcp::wire::{IpProtocol, Ipv6Packet};

use super::ip_reass::IpReass;
use crate::sync::lock;
use std::sync::Mutex;
use super::error::{need, DropReason, OutputError, ParseError};
use super::ipv4::finish_in_software;
use super::protosw::{fits_mtu, IpIn, L3};
use super::stats::NetStats;
use crate::ifnet::Ifnet;
use crate::mbuf::Mbuf;

/// Length of the fixed IPv6 header.
pub const IP6_HDR_LEN: usize = nic_abi::desc::IP6_HLEN_MIN as usize;
/// Routing type 0 (deprecated source route): final destination is the last address.
pub const IPV6_RTHDR_TYPE_0: u8 = 0;
/// Routing type 2 (Mobile IPv6): one address, the final destination.
pub const IPV6_RTHDR_TYPE_2: u8 = 2;
/// Routing type 4 (Segment Routing Header): Segment List\[0\] is the final destination.
pub const IPV6_RTHDR_TYPE_SRH: u8 = 4;

/// A fragment header's position in the original datagram, and in the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Frag {
    /// Fragment offset in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// Where the fragment header starts in the packet.
    pub at: usize,
    /// Where the next-header field that names the fragment header is (6: the fixed header's).
    pub prev_nh: usize,
}

impl Ipv6Frag {
    /// An atomic fragment (offset 0, no more): the whole datagram, processed as such (RFC 6946).
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// A parsed IPv6 header and extension-header chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Info {
    /// Fixed header plus every extension header: where the upper layer starts.
    pub hlen: usize,
    /// The payload length field (extension headers + upper layer).
    pub payload_len: usize,
    /// The upper-layer protocol (or the header where the walk stopped).
    pub upper: u8,
    /// Source address.
    pub src: [u8; 16],
    /// Destination address in the fixed header.
    pub dst: [u8; 16],
    /// The final destination the pseudo-header covers; `None` for a routing
    /// header type whose final destination this walk cannot tell.
    pub final_dst: Option<[u8; 16]>,
    /// The fragment header, if any.
    pub fragment: Option<Ipv6Frag>,
    /// Routing header type and segments left, if any.
    pub routing: Option<(u8, u8)>,
    /// Hop limit (neighbour discovery accepts only 255).
    pub hop_limit: u8,
}

impl Ipv6Info {
    /// The upper-layer length for the pseudo-header (payload minus extension headers).
    pub fn upper_len(&self) -> usize {
        self.payload_len + IP6_HDR_LEN - self.hlen
    }
}

/// Parses the fixed header and walks the extension headers of `pkt` (which may
/// carry trailing link padding past the payload length).
pub fn parse(pkt: &[u8]) -> Result<Ipv6Info, ParseError> {
    const L: &str = "ipv6";
    need(L, IP6_HDR_LEN, pkt.len())?;
    let p = Ipv6Packet::new_unchecked(pkt);
    if p.version() != 6 {
        return Err(ParseError::Malformed { layer: L, why: "version is not 6" });
    }
    let payload_len = p.payload_len() as usize;
    if payload_len == 0 && p.next_header() == IpProtocol::HopByHop {
        return Err(ParseError::Malformed { layer: L, why: "jumbograms are not supported" });
    }
    let end = IP6_HDR_LEN + payload_len;
    need(L, end, pkt.len())?;
    let pkt = &pkt[..end];
    let src = p.src_addr().octets();
    let dst = p.dst_addr().octets();
    let mut info = Ipv6Info {
        hlen: IP6_HDR_LEN,
        payload_len,
        upper: u8::from(p.next_header()),
        src,
        dst,
        final_dst: Some(dst),
        fragment: None,
        routing: None,
        hop_limit: p.hop_limit(),
    };
    let mut off = IP6_HDR_LEN;
    let mut prev_nh = 6;
    loop {
        let kind = IpProtocol::from(info.upper);
        let len = match kind {
            IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts => {
                need("ipv6 extension header", off + 2, pkt.len())?;
                (pkt[off + 1] as usize + 1) * 8
            }
            IpProtocol::Ipv6Frag => 8,
            _ => break,
        };
        need("ipv6 extension header", off + len, pkt.len())?;
        let h = &pkt[off..off + len];
        match kind {
            IpProtocol::HopByHop if off != IP6_HDR_LEN => {
                return Err(ParseError::Malformed { layer: L, why: "hop-by-hop options not first" });
            }
            IpProtocol::Ipv6Route => {
                let (rtype, left) = (h[2], h[3]);
                info.routing = Some((rtype, left));
                if left > 0 {
                    info.final_dst = routing_final_dst(h);
                }
            }
            IpProtocol::Ipv6Frag => {
                let fo = u16::from_be_bytes([h[2], h[3]]);
                let frag = Ipv6Frag { offset: fo & !7, more: fo & 1 != 0, at: off, prev_nh };
                info.fragment = Some(frag);
                if frag.offset != 0 {
                    // What follows is the middle of a datagram, not a header.
                    info.upper = h[0];
                    info.hlen = off + len;
                    return Ok(info);
                }
            }
            _ => {}
        }
        info.upper = h[0];
        prev_nh = off;
        off += len;
        info.hlen = off;
    }
    Ok(info)
}

/// The final destination named by a routing header `h` (whole header) with segments left.
fn routing_final_dst(h: &[u8]) -> Option<[u8; 16]> {
    let addr_at = |o: usize| h.get(o..o + 16).and_then(|s| <[u8; 16]>::try_from(s).ok());
    match h[2] {
        IPV6_RTHDR_TYPE_0 => {
            let n = h[1] as usize / 2;
            if n == 0 {
                return None;
            }
            addr_at(8 + 16 * (n - 1))
        }
        IPV6_RTHDR_TYPE_2 | IPV6_RTHDR_TYPE_SRH => addr_at(8),
        _ => None,
    }
}

/// One extension header for output: its type and the bytes after its
/// next-header and length octets (so `2 + body.len()` must be a multiple of 8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Ext {
    /// `IpProtocol::HopByHop`, `Ipv6Route` or `Ipv6Opts`.
    pub kind: IpProtocol,
    /// Header body.
    pub body: Vec<u8>,
}

/// What `ip6_output` puts in the IPv6 header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Out {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address in the fixed header (the first hop when there is a routing header).
    pub dst: Ipv6Addr,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Extension headers, in order (hop-by-hop first if present).
    pub ext: Vec<Ipv6Ext>,
}

impl Ipv6Out {
    /// A header with FreeBSD's default hop limit (64) and no extension headers.
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr) -> Self {
        Ipv6Out { src, dst, hop_limit: 64, traffic_class: 0, flow_label: 0, ext: Vec::new() }
    }

    /// The fixed header and extension headers for an upper layer of `upper_len` bytes.
    fn header(&self, upper: IpProtocol, upper_len: usize) -> Result<Vec<u8>, OutputError> {
        let mut ext = Vec::new();
        for (i, e) in self.ext.iter().enumerate() {
            if !matches!(e.kind, IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts) {
                return Err(OutputError::BadOptions("only hop-by-hop, routing and destination options are sent"));
            }
            if e.kind == IpProtocol::HopByHop && i != 0 {
                return Err(OutputError::BadOptions("hop-by-hop options must come first"));
            }
            let len = 2 + e.body.len();
            if len % 8 != 0 || len > 2048 {
                return Err(OutputError::BadOptions("extension header length must be a multiple of 8, at most 2048"));
            }
            let next = self.ext.get(i + 1).map_or(upper, |n| n.kind);
            ext.push(u8::from(next));
            ext.push((len / 8 - 1) as u8);
            ext.extend_from_slice(&e.body);
        }
        let payload_len = ext.len() + upper_len;
        if payload_len > u16::MAX as usize {
            return Err(OutputError::TooLong(payload_len));
        }
        let mut h = vec![0u8; IP6_HDR_LEN];
        let mut p = Ipv6Packet::new_unchecked(&mut h[..]);
        p.set_version(6);
        p.set_traffic_class(self.traffic_class);
        p.set_flow_label(self.flow_label & 0xf_ffff);
        p.set_payload_len(payload_len as u16);
        p.set_next_header(self.ext.first().map_or(upper, |e| e.kind));
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        h.extend_from_slice(&ext);
        Ok(h)
    }

    /// The addresses the transport pseudo-header covers (final destination
    /// when a routing header has segments left).
    pub fn l3(&self) -> Result<L3, OutputError> {
        let h = self.header(IpProtocol::Ipv6NoNxt, 0)?;
        let info = parse(&h).map_err(|_| OutputError::BadOptions("extension headers do not parse"))?;
        let dst = info
            .final_dst
            .ok_or(OutputError::BadOptions("routing header type without a known final destination"))?;
        Ok(L3::V6 { src: info.src, dst })
    }
}

/// `ip6_output`: prepends the IPv6 header and extension headers, settles the
/// L4 checksum against `if_hwassist` (software when the interface will not,
/// or when the headers are too long for the descriptor's `l3hlen`), then
/// returns the IP packet, its link header left to whoever resolves the next hop, as
/// [`super::ip_output`] does.
pub fn ip6_output(
    ifp: &Ifnet,
    mut m: Mbuf,
    upper: IpProtocol,
    ip: &Ipv6Out,
    vlan: Option<u16>,
    stats: &mut NetStats,
) -> Result<Mbuf, OutputError> {
    let hdr = ip.header(upper, m.len())?;
    let hlen = hdr.len();
    let tso = fits_mtu(ifp, &m, hlen)?;
    m.prepend(hlen).copy_from_slice(&hdr);
    if tso {
        // Per-segment checksums: the NIC's, or GSO's (`offload::tso_or_gso`).
        m.pkthdr.l3hlen = u8::try_from(hlen).map_err(|_| OutputError::TooLong(hlen))?;
        stats.csum.tx_hw += (m.pkthdr.csum_flags & ifp.hwassist(vlan.is_some()) & !CSUM_TSO).count_ones() as u64;
        stats.ip6.ip6s_localout += 1;
        return Ok(m);
    }
    let mut hwassist = ifp.hwassist(vlan.is_some());
    match u8::try_from(hlen) {
        Ok(l) => m.pkthdr.l3hlen = l,
        Err(_) => {
            // The descriptor cannot express where L4 starts: checksum here.
            m.pkthdr.l3hlen = 0;
            hwassist = 0;
        }
    }
    let sw = m.pkthdr.csum_flags & !hwassist & CSUM_DELAY_DATA_IPV6;
    let hw = m.pkthdr.csum_flags & hwassist;
    let csum_data = m.pkthdr.csum_data;
    if finish_in_software(m.data_mut(), 0, hlen, sw, csum_data).is_err() {
        return Err(OutputError::BadOptions("checksum offsets outside the packet"));
    }
    stats.csum.tx_sw += sw.count_ones() as u64;
    stats.csum.tx_hw += hw.count_ones() as u64;
    m.pkthdr.csum_flags = hw;
    if hw == 0 {
        m.pkthdr.csum_data = 0;
    }
    stats.ip6.ip6s_localout += 1;
    Ok(m)
}

/// `ip6_input`: validates the header and the extension-header chain, trims
/// link padding, hands fragments to reassembly (`reass`; without it they are
/// dropped) and takes up the datagram once whole, drops packets that ask to be
/// forwarded, and returns the upper layer for `input` to hand to UDP, TCP or a
/// raw consumer.
pub fn ip6_input(ifp: &Ifnet, mut m: Mbuf, stats: &mut NetStats, reass: Option<&Mutex<IpReass>>) -> Result<IpIn, DropReason> {
    if ifp.if_capenable & IFCAP_RXCSUM_IPV6 == 0 {
        // `-rxcsum6` holds for every IPv6 packet taken up from now on (see `ip_input`).
        m.pkthdr.csum_flags = 0;
    }
    let st = &mut stats.ip6;
    st.ip6s_total += 1;
    let info = match parse(m.data()) {
        Ok(i) => i,
        Err(e) => {
            match &e {
                ParseError::Truncated { .. } => st.ip6s_tooshort += 1,
                ParseError::Malformed { why: "version is not 6", .. } => st.ip6s_badvers += 1,
                ParseError::Malformed { .. } => st.ip6s_badoptions += 1,
            }
            return Err(DropReason::Parse(e));
        }
    };
    if let Some(f) = info.fragment.filter(|f| !f.is_atomic()) {
        st.ip6s_fragments += 1;
        let Some(r) = reass else { return Err(DropReason::Fragment) };
        let whole = lock(r).input_v6(&m.data()[..IP6_HDR_LEN + info.payload_len], f.at, f.prev_nh);
        let whole = whole.ok_or(DropReason::Reassembling)?;
        st.ip6s_reassembled += 1;
        // The NIC's verdicts were for one fragment: the whole is checked in software.
        let mut w = Mbuf::from_vec(whole);
        w.pkthdr.rcvif = m.pkthdr.rcvif;
        return ip6_input(ifp, w, stats, None);
    }
    if info.routing.is_some_and(|(_, left)| left > 0) {
        st.ip6s_badoptions += 1;
        return Err(DropReason::Ip6BadOptions("routing header with segments left (no forwarding)"));
    }
    let l3 = L3::V6 { src: info.src, dst: info.dst };
    m.trim(IP6_HDR_LEN + info.payload_len);
    m.adj_front(info.hlen);
    st.ip6s_delivered += 1;
    Ok(IpIn { l3, proto: info.upper, hlim: info.hop_limit, m })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr_with(ext: &[u8], first: u8) -> Vec<u8> {
        let mut h = vec![0u8; 40];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&((ext.len() + 8) as u16).to_be_bytes());
        h[6] = first;
        h[8..24].copy_from_slice(&[0x20; 16]);
        h[24..40].copy_from_slice(&[0x30; 16]);
        h.extend_from_slice(ext);
        h.extend_from_slice(&[0u8; 8]); // an 8-byte upper-layer stub (UDP header size)
        h
    }

    #[test]
    fn walks_all_four_extension_headers() {
        let mut ext = Vec::new();
        ext.extend_from_slice(&[43, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop (PadN) -> routing
        ext.extend_from_slice(&[60, 2, IPV6_RTHDR_TYPE_2, 0, 0, 0, 0, 0]); // type 2, 0 left -> dstopts
        ext.extend_from_slice(&[0x11; 16]);
        ext.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]); // dstopts -> fragment
        ext.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 1]); // atomic fragment -> UDP
        let pkt = hdr_with(&ext, 0);
        let i = parse(&pkt).unwrap();
        assert_eq!(i.hlen, 40 + ext.len());
        assert_eq!(i.upper, 17);
        assert_eq!(i.upper_len(), 8);
        assert_eq!(i.fragment.map(|f| (f.offset, f.more)), Some((0, false)));
        assert_eq!(i.final_dst, Some([0x30; 16]), "segments left 0: the header's destination");
    }

    #[test]
    fn routing_header_names_the_final_destination() {
        let mut ext = vec![17, 4, IPV6_RTHDR_TYPE_0, 2, 0, 0, 0, 0];
        ext.extend_from_slice(&[0x41; 16]);
        ext.extend_from_slice(&[0x42; 16]);
        let i = parse(&hdr_with(&ext, 43)).unwrap();
        assert_eq!(i.final_dst, Some([0x42; 16]));
        ext[2] = 3; // RPL source route: compressed, not followed
        assert_eq!(parse(&hdr_with(&ext, 43)).unwrap().final_dst, None);
    }

    #[test]
    fn chain_errors_are_reported() {
        // hop-by-hop after destination options
        let ext = [0, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0];
        assert!(matches!(parse(&hdr_with(&ext, 60)), Err(ParseError::Malformed { .. })));
        // extension header length running past the payload
        let ext = [17, 9, 1, 4, 0, 0, 0, 0];
        assert!(matches!(parse(&hdr_with(&ext, 60)), Err(ParseError::Truncated { .. })));
        // non-first fragment: walk stops there
        let ext = [17, 0, 0, 8, 0, 0, 0, 1];
        let i = parse(&hdr_with(&ext, 44)).unwrap();
        assert_eq!(i.fragment.map(|f| (f.offset, f.more)), Some((8, false)));
    }
}
