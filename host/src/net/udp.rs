//! UDP: `udp_output` (always asks for the checksum, as FreeBSD with
//! `net.inet.udp.checksum=1`) and `udp_input`.

use nic_abi::csum::{CSUM_IP6_UDP, CSUM_IP_UDP, UDP_CSUM_OFFSET};
use smoltcp::wire::{IpProtocol, UdpPacket};

use super::error::{DropReason, OutputError, ParseError};
use super::in_cksum::l4_cksum_ok;
use super::ipv4::{ip_output, Ipv4Out};
use super::ipv6::{ip6_output, Ipv6Out};
use super::protosw::{sockaddrs, Input, UdpDatagram, L3};
use super::stats::NetStats;
use crate::ifnet::Ifnet;
use crate::mbuf::Mbuf;

/// UDP header length.
pub const UDP_HDR_LEN: usize = 8;

/// The IP header a transport segment goes out with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpOut {
    /// Over IPv4.
    V4(Ipv4Out),
    /// Over IPv6.
    V6(Ipv6Out),
}

impl IpOut {
    /// The addresses the pseudo-header covers.
    pub fn l3(&self) -> Result<L3, OutputError> {
        match self {
            IpOut::V4(o) => Ok(o.l3()),
            IpOut::V6(o) => o.l3(),
        }
    }
}

/// Seeds the L4 checksum field and asks for the checksum: the transport half
/// of FreeBSD's checksum offload contract (pseudo-header sum *with* the L4
/// length, folded, not complemented; `csum_data` = the field's offset).
pub(crate) fn request_l4_cksum(m: &mut Mbuf, field: usize, seed: u16, flag: u32, csum_off: u16) {
    m.data_mut()[field..field + 2].copy_from_slice(&seed.to_be_bytes());
    m.pkthdr.csum_flags |= flag;
    m.pkthdr.csum_data = csum_off as u32;
}

/// `udp_output`: prepends the UDP header to `payload`, requests the checksum
/// and passes the datagram to `ip_output` / `ip6_output`.
pub fn udp_output(
    ifp: &Ifnet,
    mut payload: Mbuf,
    ip: &IpOut,
    sport: u16,
    dport: u16,
    vlan: Option<u16>,
    stats: &mut NetStats,
) -> Result<Mbuf, OutputError> {
    let ulen = UDP_HDR_LEN + payload.len();
    if ulen > u16::MAX as usize {
        return Err(OutputError::TooLong(ulen));
    }
    let l3 = ip.l3()?;
    {
        let h = payload.prepend(UDP_HDR_LEN);
        let mut u = UdpPacket::new_unchecked(&mut h[..]);
        u.set_src_port(sport);
        u.set_dst_port(dport);
        u.set_len(ulen as u16);
    }
    let m = &mut payload;
    m.pkthdr.l4hlen = UDP_HDR_LEN as u8;
    let seed = l3.pseudo(u8::from(IpProtocol::Udp), ulen as u32);
    let flag = if l3.is_v6() { CSUM_IP6_UDP } else { CSUM_IP_UDP };
    request_l4_cksum(m, UDP_CSUM_OFFSET as usize, seed, flag, UDP_CSUM_OFFSET);
    stats.udp.udps_opackets += 1;
    match ip {
        IpOut::V4(o) => ip_output(ifp, payload, IpProtocol::Udp, o, vlan, stats),
        IpOut::V6(o) => ip6_output(ifp, payload, IpProtocol::Udp, o, vlan, stats),
    }
}

/// `udp_input`: `m` starts at the UDP header and ends at the IP payload's end.
///
/// A zero checksum means "none" over IPv4 and is invalid over IPv6. The NIC's
/// sum is used only when the UDP length covers the whole IP payload (it is
/// what the NIC summed); otherwise the datagram is verified in software.
pub fn udp_input(_ifp: &Ifnet, mut m: Mbuf, l3: &L3, stats: &mut NetStats) -> Input {
    const L: &str = "udp";
    let st = &mut stats.udp;
    st.udps_ipackets += 1;
    let iplen = m.len();
    if iplen < UDP_HDR_LEN {
        st.udps_hdrops += 1;
        return Input::Dropped(DropReason::Parse(ParseError::Truncated { layer: L, need: UDP_HDR_LEN, have: iplen }));
    }
    let u = UdpPacket::new_unchecked(m.data());
    let (sport, dport, sum) = (u.src_port(), u.dst_port(), u.checksum());
    let ulen = u.len() as usize;
    // IPv4 allows a UDP length shorter than the IP payload (trimmed); IPv6 requires equality.
    let bad_len = ulen < UDP_HDR_LEN || ulen > iplen || (l3.is_v6() && ulen != iplen);
    if bad_len {
        st.udps_badlen += 1;
        return Input::Dropped(DropReason::Parse(ParseError::Malformed {
            layer: L,
            why: "length field inconsistent with the IP payload length",
        }));
    }
    if sum == 0 {
        st.udps_nosum += 1;
        if l3.is_v6() {
            return Input::Dropped(DropReason::Udp6NoSum);
        }
    } else {
        let pseudo = l3.pseudo(u8::from(IpProtocol::Udp), ulen as u32);
        let ok = l4_cksum_ok(&m, &m.data()[..ulen], pseudo, ulen == iplen, &mut stats.csum);
        if !ok {
            stats.udp.udps_badsum += 1;
            return Input::Dropped(DropReason::UdpBadSum);
        }
    }
    m.trim(ulen);
    m.adj_front(UDP_HDR_LEN);
    let (src, dst) = sockaddrs(l3, sport, dport);
    Input::Udp(UdpDatagram { src, dst, m })
}
