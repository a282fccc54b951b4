//! TCP segments: the header-building tail of `tcp_output` and the checksum
//! and header checks of `tcp_input`. Connection state and TSO sizing are
//! nic-tcp's.

use nic_abi::csum::{CSUM_IP6_TCP, CSUM_IP_TCP, CSUM_TSO, TCP_CSUM_OFFSET};
use nic_tcp::{TcpOptions, TcpRepr};
use smoltcp::wire::{IpProtocol, TcpPacket};

use super::error::{DropReason, OutputError, ParseError};
use super::in_cksum::l4_cksum_ok;
use super::ipv4::ip_output;
use super::ipv6::ip6_output;
use super::protosw::{sockaddrs, Input, TcpSegment, L3};
use super::stats::NetStats;
use super::udp::{request_l4_cksum, IpOut};
use crate::ifnet::Ifnet;
use crate::mbuf::Mbuf;

pub use nic_tcp::output::{tso_plan, TsoPlan};
pub use nic_tcp::repr::{TCP_HDR_LEN, TCP_MAX_HDR_LEN, TH_ACK, TH_CWR, TH_ECE, TH_FIN, TH_PUSH, TH_RST, TH_SYN, TH_URG};

// The NIC's TSO header rules are TCP's own header limits. nic-abi states them for the RTL and
// nic-tcp for the protocol (nic-tcp builds alone, dependency-free, for the firmware); this
// crate reads both, so it holds them equal at compile time.
const _: () = assert!(
    nic_abi::desc::TSO_L4HLEN_MIN as usize == TCP_HDR_LEN
        && nic_abi::desc::TSO_L4HLEN_MAX as usize == TCP_MAX_HDR_LEN,
    "nic-abi's TSO header limits must be TCP's header limits (nic-tcp)"
);

/// Builds the TCP segment `seg` describes (header and options from it, its payload copied
/// into an mbuf), requests its checksum and passes it to `ip_output` / `ip6_output`.
pub fn tcp_output_segment(
    ifp: &Ifnet,
    seg: &TcpRepr<'_>,
    ip: &IpOut,
    vlan: Option<u16>,
    stats: &mut NetStats,
) -> Result<Mbuf, OutputError> {
    tcp_output_common(ifp, seg, ip, 0, vlan, stats)
}

/// Builds one TSO burst of `seg` (its payload cut into `tso_segsz`-byte segments
/// by the NIC, or by [`crate::offload::tso_or_gso`] when the interface will
/// not): `CSUM_TSO` with the TCP (and IPv4 header) request, the checksum field
/// seeded with the pseudo-header sum *without* the length (the ABI's TSO seed).
pub fn tcp_output_tso(
    ifp: &Ifnet,
    seg: &TcpRepr<'_>,
    ip: &IpOut,
    tso_segsz: u16,
    vlan: Option<u16>,
    stats: &mut NetStats,
) -> Result<Mbuf, OutputError> {
    if tso_segsz == 0 {
        return Err(OutputError::BadOptions("TSO segment size 0"));
    }
    tcp_output_common(ifp, seg, ip, tso_segsz, vlan, stats)
}

fn tcp_output_common(
    ifp: &Ifnet,
    seg: &TcpRepr<'_>,
    ip: &IpOut,
    tso_segsz: u16,
    vlan: Option<u16>,
    stats: &mut NetStats,
) -> Result<Mbuf, OutputError> {
    let mut payload = Mbuf::from_payload(seg.payload);
    // The codec emits whole 32-bit words, at most 24 bytes: always a valid header.
    let hlen = seg.header_len();
    let tlen = hlen + payload.len();
    if tso_segsz == 0 && tlen > u16::MAX as usize {
        return Err(OutputError::TooLong(tlen));
    }
    let l3 = ip.l3()?;
    // The header (urgent pointer 0: no urgent data is ever sent), checksum seeded below.
    seg.emit_header(payload.prepend(hlen)).ok_or(OutputError::BadOptions("TCP header longer than its room"))?;
    payload.pkthdr.l4hlen = hlen as u8;
    let flag = if l3.is_v6() { CSUM_IP6_TCP } else { CSUM_IP_TCP };
    if tso_segsz == 0 {
        let seed = l3.pseudo(u8::from(IpProtocol::Tcp), tlen as u32);
        request_l4_cksum(&mut payload, TCP_CSUM_OFFSET as usize, seed, flag, TCP_CSUM_OFFSET);
    } else {
        let seed = l3.pseudo(u8::from(IpProtocol::Tcp), 0);
        request_l4_cksum(&mut payload, TCP_CSUM_OFFSET as usize, seed, flag | CSUM_TSO, TCP_CSUM_OFFSET);
        payload.pkthdr.tso_segsz = tso_segsz;
    }
    stats.tcp.tcps_sndtotal += 1;
    match ip {
        IpOut::V4(o) => ip_output(ifp, payload, IpProtocol::Tcp, o, vlan, stats),
        IpOut::V6(o) => ip6_output(ifp, payload, IpProtocol::Tcp, o, vlan, stats),
    }
}

/// `tcp_input` up to the connection lookup: header length, data offset and
/// checksum (trusted from the NIC per its flags, else verified in software).
pub fn tcp_parse_input(_ifp: &Ifnet, mut m: Mbuf, l3: &L3, stats: &mut NetStats) -> Input {
    const L: &str = "tcp";
    let st = &mut stats.tcp;
    st.tcps_rcvtotal += 1;
    let tlen = m.len();
    if tlen < TCP_HDR_LEN {
        st.tcps_rcvshort += 1;
        return Input::Dropped(DropReason::Parse(ParseError::Truncated { layer: L, need: TCP_HDR_LEN, have: tlen }));
    }
    let pseudo = l3.pseudo(u8::from(IpProtocol::Tcp), tlen as u32);
    if !l4_cksum_ok(&m, m.data(), pseudo, true, &mut stats.csum) {
        stats.tcp.tcps_rcvbadsum += 1;
        return Input::Dropped(DropReason::TcpBadSum);
    }
    let t = TcpPacket::new_unchecked(m.data());
    let off = t.header_len() as usize;
    if off < TCP_HDR_LEN || off > tlen {
        stats.tcp.tcps_rcvbadoff += 1;
        return Input::Dropped(DropReason::Parse(ParseError::Malformed {
            layer: L,
            why: "data offset below 20 or past the segment",
        }));
    }
    let (sport, dport) = (t.src_port(), t.dst_port());
    let seq = t.seq_number().0 as u32;
    let ack = t.ack_number().0 as u32;
    let win = t.window_len();
    let flags = m.data()[13];
    let options = TcpOptions::parse(&m.data()[TCP_HDR_LEN..off]);
    m.adj_front(off);
    let (src, dst) = sockaddrs(l3, sport, dport);
    Input::Tcp(TcpSegment { src, dst, seq, ack, flags, win, options, m })
}

/// Sizes the next send for interface `ifp`: nic-tcp's [`tso_plan`] (FreeBSD's TSO decision,
/// which the connection makes with its copy of `if_hw_tsomax`) read from the interface itself.
pub fn tcp_tso_plan(
    ifp: &Ifnet,
    avail: usize,
    t_maxseg: usize,
    optlen: usize,
    linkhdr: usize,
    iphdr: usize,
    tso_ok: bool,
) -> TsoPlan {
    tso_plan(ifp.if_hw_tsomax, avail, t_maxseg, optlen, linkhdr, iphdr, tso_ok)
}

#[cfg(test)]
mod tso_plan_tests {
    use super::*;

    fn ifp(tsomax: u32) -> Ifnet {
        let mut i = Ifnet::new("nic0", 1, 0, [2, 0, 0, 0, 0, 1]);
        i.if_hw_tsomax = tsomax;
        i
    }

    // MSS 1460 with a 12-byte timestamp option: 1448-byte segments (FreeBSD: t_maxseg - optlen).
    #[test]
    fn segment_size_is_maxseg_minus_options() {
        let p = tcp_tso_plan(&ifp(65535), 10_000, 1460, 12, 14, 20, true);
        assert_eq!((p.len, p.tso, p.tso_segsz, p.sendalot), (10_000, true, 1448, false));
    }

    #[test]
    fn a_capped_burst_is_trimmed_to_whole_segments() {
        // 65535 - (20 + 20 + 12) - 14 = 65469 bytes fit; 45 * 1448 = 65160 is the trimmed length.
        let p = tcp_tso_plan(&ifp(65535), 1 << 20, 1460, 12, 14, 20, true);
        assert_eq!((p.len, p.tso, p.sendalot), (45 * 1448, true, true));
        assert_eq!(p.len % 1448, 0);
    }

    #[test]
    fn one_segment_or_less_is_not_tso() {
        let p = tcp_tso_plan(&ifp(65535), 1448, 1460, 12, 14, 20, true);
        assert_eq!((p.len, p.tso), (1448, false));
        let p = tcp_tso_plan(&ifp(65535), 700, 1460, 12, 14, 20, true);
        assert_eq!((p.len, p.tso, p.sendalot), (700, false, false));
        // A tiny tsomax leaves room for one segment only: no TSO, one full segment, more to come.
        let p = tcp_tso_plan(&ifp(2000), 100_000, 1460, 12, 14, 20, true);
        assert_eq!((p.len, p.tso, p.sendalot), (1448, false, true));
    }

    #[test]
    fn without_tso_one_segment_at_a_time() {
        let p = tcp_tso_plan(&ifp(65535), 100_000, 1460, 0, 14, 40, false);
        assert_eq!((p.len, p.tso, p.sendalot), (1460, false, true));
    }
}
