//! IPv4: `ip_output` with delayed checksums, `ip_input` with offload trust rules.

use std::net::Ipv4Addr;

use nic_abi::cksum;
use nic_abi::ifcap::IFCAP_RXCSUM;
use nic_abi::csum::{CSUM_DELAY_DATA, CSUM_DELAY_DATA_IPV6, CSUM_IP, CSUM_IP_CHECKED, CSUM_IP_VALID, CSUM_TSO};
use smoltcp::wire::{IpProtocol, Ipv4Packet};

use super::error::{need, DropReason, OutputError, ParseError};
use super::in_cksum::{delayed_l4_cksum, is_udp_request};
use super::ip_reass::IpReass;
use crate::sync::lock;
use std::sync::Mutex;
use super::protosw::{fits_mtu, IpIn, L3};
use super::stats::NetStats;
use crate::ifnet::Ifnet;
use crate::mbuf::Mbuf;

/// Length of an IPv4 header without options.
pub const IP_HDR_LEN: usize = nic_abi::desc::IP4_HLEN_MIN as usize;
/// Longest IPv4 header (IHL 15).
pub const IP_MAX_HDR_LEN: usize = 60;
/// `IP_MAXPACKET`: the total-length field's limit.
pub const IP_MAXPACKET: usize = 65535;
/// `IPOPT_LSRR`: loose source route.
pub const IPOPT_LSRR: u8 = 131;
/// `IPOPT_SSRR`: strict source route.
pub const IPOPT_SSRR: u8 = 137;

/// A parsed IPv4 header, with what offload decisions need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Info {
    /// Header length including options.
    pub hlen: usize,
    /// Total length (header + payload).
    pub total_len: usize,
    /// Protocol.
    pub proto: u8,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// More-fragments set or a fragment offset: not a whole datagram.
    pub fragment: bool,
    /// A source-route option is present: the transport pseudo-header's
    /// destination is the route's final hop, not the header's `dst`.
    pub source_route: bool,
}

/// Parses and length-checks an IPv4 header at the start of `pkt` (which may
/// carry trailing link padding past `total_len`).
pub fn parse(pkt: &[u8]) -> Result<Ipv4Info, ParseError> {
    const L: &str = "ipv4";
    need(L, IP_HDR_LEN, pkt.len())?;
    let p = Ipv4Packet::new_unchecked(pkt);
    if p.version() != 4 {
        return Err(ParseError::Malformed { layer: L, why: "version is not 4" });
    }
    let hlen = p.header_len() as usize;
    if hlen < IP_HDR_LEN {
        return Err(ParseError::Malformed { layer: L, why: "header length below 20" });
    }
    need(L, hlen, pkt.len())?;
    let total_len = p.total_len() as usize;
    if total_len < hlen {
        return Err(ParseError::Malformed { layer: L, why: "total length below header length" });
    }
    need(L, total_len, pkt.len())?;
    let source_route = scan_options(&pkt[IP_HDR_LEN..hlen])?;
    Ok(Ipv4Info {
        hlen,
        total_len,
        proto: u8::from(p.next_header()),
        src: p.src_addr().octets(),
        dst: p.dst_addr().octets(),
        fragment: p.more_frags() || p.frag_offset() != 0,
        source_route,
    })
}

/// Walks IPv4 options; `true` when a source route is among them.
fn scan_options(opts: &[u8]) -> Result<bool, ParseError> {
    let mut i = 0;
    let mut sr = false;
    while i < opts.len() {
        match opts[i] {
            0 => break,   // IPOPT_EOL
            1 => i += 1,  // IPOPT_NOP
            t => {
                let len = *opts.get(i + 1).ok_or(ParseError::Malformed { layer: "ipv4", why: "option without length" })?
                    as usize;
                if len < 2 || i + len > opts.len() {
                    return Err(ParseError::Malformed { layer: "ipv4", why: "option length outside the header" });
                }
                sr |= t == IPOPT_LSRR || t == IPOPT_SSRR;
                i += len;
            }
        }
    }
    Ok(sr)
}

/// Writes the header checksum of the IPv4 header `hdr` (all of it, options included).
pub(crate) fn set_header_cksum(hdr: &mut [u8]) {
    hdr[10..12].fill(0);
    let c = cksum::finish(cksum::sum(hdr, 0));
    hdr[10..12].copy_from_slice(&c.to_be_bytes());
}

/// What `ip_output` puts in the IPv4 header (the route's choice and the socket's options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Out {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// Type of service (DSCP and ECN).
    pub tos: u8,
    /// Identification.
    pub id: u16,
    /// Don't fragment.
    pub df: bool,
    /// Options, already encoded and padded to a multiple of 4 bytes (at most 40).
    pub options: Vec<u8>,
}

impl Ipv4Out {
    /// A header with FreeBSD's defaults (TTL 64, DF set as path-MTU discovery does).
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        Ipv4Out { src, dst, ttl: 64, tos: 0, id: 0, df: true, options: Vec::new() }
    }

    /// The addresses the transport pseudo-header covers.
    pub fn l3(&self) -> L3 {
        L3::V4 { src: self.src.octets(), dst: self.dst.octets() }
    }
}

/// `ip_output`: prepends the IPv4 header to a transport segment, settles the
/// checksums (`CSUM_IP` always requested; what `if_hwassist` will not take is
/// computed here, the rest left to the NIC). `vlan`: the tag the frame will carry, which
/// changes what the NIC offloads. The result is an IP packet: its link header is prepended
/// (`ether_output`) once the next hop is resolved, by whoever resolves it.
pub fn ip_output(
    ifp: &Ifnet,
    mut m: Mbuf,
    proto: IpProtocol,
    ip: &Ipv4Out,
    vlan: Option<u16>,
    stats: &mut NetStats,
) -> Result<Mbuf, OutputError> {
    let optlen = ip.options.len();
    if optlen % 4 != 0 || optlen > IP_MAX_HDR_LEN - IP_HDR_LEN {
        return Err(OutputError::BadOptions("IPv4 options must be a multiple of 4 bytes, at most 40"));
    }
    let hlen = IP_HDR_LEN + optlen;
    let total = hlen + m.len();
    if total > IP_MAXPACKET {
        return Err(OutputError::TooLong(total));
    }
    let tso = fits_mtu(ifp, &m, hlen)?;
    {
        let h = m.prepend(hlen);
        let mut p = Ipv4Packet::new_unchecked(&mut h[..]);
        p.set_version(4);
        p.set_header_len(hlen as u8);
        p.set_dscp(ip.tos >> 2);
        p.set_ecn(ip.tos & 3);
        p.set_total_len(total as u16);
        p.set_ident(ip.id);
        p.clear_flags();
        p.set_dont_frag(ip.df);
        p.set_frag_offset(0);
        p.set_hop_limit(ip.ttl);
        p.set_next_header(proto);
        p.set_src_addr(ip.src);
        p.set_dst_addr(ip.dst);
        p.set_checksum(0);
        h[IP_HDR_LEN..hlen].copy_from_slice(&ip.options);
    }
    m.pkthdr.l3hlen = hlen as u8;
    m.pkthdr.csum_flags |= CSUM_IP;
    if tso {
        // Every checksum of a burst is per segment: the NIC's, or GSO's (`offload::tso_or_gso`).
        stats.csum.tx_hw += (m.pkthdr.csum_flags & ifp.hwassist(vlan.is_some()) & !CSUM_TSO).count_ones() as u64;
        stats.ip.ips_localout += 1;
        return Ok(m);
    }
    let hwassist = ifp.hwassist(vlan.is_some());
    let sw = m.pkthdr.csum_flags & !hwassist & (CSUM_IP | CSUM_DELAY_DATA);
    let hw = m.pkthdr.csum_flags & hwassist;
    // The offsets were just written by this function and the transport layer:
    // they are inside the packet.
    let csum_data = m.pkthdr.csum_data;
    if finish_in_software(m.data_mut(), 0, hlen, sw, csum_data).is_err() {
        return Err(OutputError::BadOptions("checksum offsets outside the packet"));
    }
    stats.csum.tx_sw += sw.count_ones() as u64;
    stats.csum.tx_hw += hw.count_ones() as u64;
    m.pkthdr.csum_flags = hw;
    if hw & CSUM_DELAY_DATA == 0 {
        m.pkthdr.csum_data = 0;
    }
    stats.ip.ips_localout += 1;
    Ok(m)
}

/// `ip_input`: validates the header in FreeBSD's order (length, version,
/// header length, checksum, total length), trims link padding, hands fragments
/// to reassembly (`reass`; without it they are dropped) and takes up the
/// datagram once whole, and returns the payload for `input` to hand to UDP,
/// TCP or a raw consumer.
pub fn ip_input(ifp: &Ifnet, mut m: Mbuf, stats: &mut NetStats, reass: Option<&Mutex<IpReass>>) -> Result<IpIn, DropReason> {
    const L: &str = "ipv4";
    if ifp.if_capenable & IFCAP_RXCSUM == 0 {
        // `-rxcsum` holds for every IPv4 packet taken up from now on, also one the NIC checked
        // just before the change reached it (the driver's burst read the old setting).
        m.pkthdr.csum_flags = 0;
    }
    let st = &mut stats.ip;
    st.ips_total += 1;
    let len = m.len();
    if len < IP_HDR_LEN {
        st.ips_tooshort += 1;
        return Err(DropReason::Parse(ParseError::Truncated { layer: L, need: IP_HDR_LEN, have: len }));
    }
    let p = Ipv4Packet::new_unchecked(m.data());
    if p.version() != 4 {
        st.ips_badvers += 1;
        return Err(DropReason::Parse(ParseError::Malformed { layer: L, why: "version is not 4" }));
    }
    let hlen = p.header_len() as usize;
    if hlen < IP_HDR_LEN || hlen > len {
        st.ips_badhlen += 1;
        return Err(DropReason::Parse(ParseError::Malformed {
            layer: L,
            why: "header length below 20 or past the packet",
        }));
    }
    let flags = m.pkthdr.csum_flags;
    let good = if flags & CSUM_IP_CHECKED != 0 {
        stats.csum.l3_hw += 1;
        flags & CSUM_IP_VALID != 0
    } else {
        stats.csum.l3_sw += 1;
        cksum::fold(cksum::sum(&m.data()[..hlen], 0)) == 0xffff
    };
    if !good {
        st.ips_badsum += 1;
        return Err(DropReason::IpBadSum);
    }
    let total = p.total_len() as usize;
    if total < hlen {
        st.ips_badlen += 1;
        return Err(DropReason::Parse(ParseError::Malformed {
            layer: L,
            why: "total length below header length",
        }));
    }
    if total > len {
        st.ips_tooshort += 1;
        return Err(DropReason::Parse(ParseError::Truncated { layer: L, need: total, have: len }));
    }
    let fragment = p.more_frags() || p.frag_offset() != 0;
    let proto = p.next_header();
    let hlim = p.hop_limit();
    let l3 = L3::V4 { src: p.src_addr().octets(), dst: p.dst_addr().octets() };
    if fragment {
        st.ips_fragments += 1;
        let Some(r) = reass else { return Err(DropReason::Fragment) };
        let whole = lock(r).input_v4(&m.data()[..total]).ok_or(DropReason::Reassembling)?;
        st.ips_reassembled += 1;
        // The NIC's verdicts were for one fragment: the whole is checked in software.
        let mut w = Mbuf::from_vec(whole);
        w.pkthdr.rcvif = m.pkthdr.rcvif;
        return ip_input(ifp, w, stats, None);
    }
    m.trim(total);
    m.adj_front(hlen);
    st.ips_delivered += 1;
    Ok(IpIn { l3, proto: u8::from(proto), hlim, m })
}

/// Computes in software the checksums `flags` requests, exactly as the NIC
/// would: the IPv4 header checksum over `data[l3off..l3off + l3hlen]` (field
/// treated as zero) for `CSUM_IP`, and the L4 checksum from `l3off + l3hlen`
/// to the end of `data`, stored at `csum_data` past the L4 start, for the
/// TCP/UDP requests. Fails (nothing changed) when an offset lies outside.
pub fn finish_in_software(
    data: &mut [u8],
    l3off: usize,
    l3hlen: usize,
    flags: u32,
    csum_data: u32,
) -> Result<(), &'static str> {
    let l4off = l3off.checked_add(l3hlen).filter(|&o| o <= data.len()).ok_or("L3 header past the frame")?;
    let ip = flags & CSUM_IP != 0;
    let l4 = flags & (CSUM_DELAY_DATA | CSUM_DELAY_DATA_IPV6) != 0;
    if ip && !(IP_HDR_LEN..=IP_MAX_HDR_LEN).contains(&l3hlen) {
        return Err("CSUM_IP with an IPv4 header length outside 20..=60");
    }
    if l4 && (csum_data as usize).checked_add(l4off + 2).is_none_or(|e| e > data.len()) {
        return Err("L4 checksum field past the frame");
    }
    if l4 {
        delayed_l4_cksum(data, l4off, csum_data as usize, is_udp_request(flags));
    }
    if ip {
        set_header_cksum(&mut data[l3off..l4off]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_header_checksum_from_offloads_md() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xaa, 0xbb, 0xc0, 0xa8, 0x00, 0x01, 0xc0,
            0xa8, 0x00, 0xc7,
        ];
        set_header_cksum(&mut hdr);
        assert_eq!(&hdr[10..12], &[0xb8, 0x61]);
        let eh = etherparse::Ipv4HeaderSlice::from_slice(&hdr).unwrap().to_header();
        assert_eq!(eh.calc_header_checksum(), 0xb861);
    }

    #[test]
    fn parse_rejects_garbage_without_panicking() {
        assert!(matches!(parse(&[0x45; 10]), Err(ParseError::Truncated { .. })));
        let mut h = [0u8; 24];
        h[0] = 0x65;
        assert!(matches!(parse(&h), Err(ParseError::Malformed { why: "version is not 4", .. })));
        h[0] = 0x44;
        assert!(matches!(parse(&h), Err(ParseError::Malformed { .. })));
        h[0] = 0x46;
        h[2..4].copy_from_slice(&24u16.to_be_bytes());
        h[20] = 0x83; // LSRR with a length running past the header
        h[21] = 9;
        assert!(matches!(parse(&h), Err(ParseError::Malformed { .. })));
        h[20..24].copy_from_slice(&[IPOPT_LSRR, 3, 4, 0]);
        assert!(parse(&h).unwrap().source_route);
        h[2..4].copy_from_slice(&100u16.to_be_bytes());
        assert!(matches!(parse(&h), Err(ParseError::Truncated { need: 100, have: 24, .. })));
    }
}
