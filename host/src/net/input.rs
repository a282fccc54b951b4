//! The receive dispatch (FreeBSD's `ether_demux` and the protocol switch at
//! the end of `ip_input` / `ip6_input`): the one place input climbs from one
//! layer to the next. Each protocol file only validates its own header and
//! returns what is above it, so no protocol file imports another's input.

use smoltcp::wire::IpProtocol;

use super::error::{DropReason, ParseError};
use super::ether::{self, L2};
use super::ip_reass::IpReass;
use std::sync::Mutex;
use super::protosw::{IpDatagram, IpIn};
use super::stats::NetStats;
use super::{ipv4, ipv6, tcp, udp};
use crate::ifnet::Ifnet;
use crate::mbuf::Mbuf;

pub use super::protosw::Input;

/// `ether_input`: parses the link header, then [`ether_demux`]. For callers that have not
/// looked at the frame yet; the stack, which parses it to tell ARP and foreign MACs apart,
/// calls [`ether_demux`] with what it parsed.
pub fn ether_input(ifp: &Ifnet, m: Mbuf, stats: &mut NetStats) -> Input {
    let l2 = match ether::parse(m.data()) {
        Ok(l2) => l2,
        Err(e) => {
            stats.ether.ipackets += 1;
            stats.ether.ierrors += 1;
            if stale(ifp, &m) {
                return Input::Dropped(DropReason::StaleInterface);
            }
            return Input::Dropped(match e {
                ParseError::Malformed { why: ether::STACKED, .. } => DropReason::StackedVlan,
                e => DropReason::Parse(e),
            });
        }
    };
    ether_demux(ifp, &l2, m, stats, None)
}

/// Whether `m` was received on an interface that is no longer `ifp` (departed, or reused).
fn stale(ifp: &Ifnet, m: &Mbuf) -> bool {
    m.pkthdr.rcvif.is_some_and(|r| r != ifp.ifref())
}

/// `ether_demux`: checks the packet belongs to `ifp` as it is now, strips the link header
/// `l2` (parsed once, by the caller) and hands the packet to IPv4 or IPv6 input (fragments to
/// `reass`, when given), then to UDP, TCP or a raw consumer.
pub fn ether_demux(ifp: &Ifnet, l2: &L2, mut m: Mbuf, stats: &mut NetStats, reass: Option<&Mutex<IpReass>>) -> Input {
    stats.ether.ipackets += 1;
    if stale(ifp, &m) {
        stats.ether.ierrors += 1;
        return Input::Dropped(DropReason::StaleInterface);
    }
    m.adj_front(l2.hlen);
    let (ip, v4) = match l2.ethertype {
        ether::ETHERTYPE_IP => (ipv4::ip_input(ifp, m, stats, reass), true),
        ether::ETHERTYPE_IPV6 => (ipv6::ip6_input(ifp, m, stats, reass), false),
        _ => {
            stats.ether.noproto += 1;
            return Input::Dropped(DropReason::UnknownEthertype(l2.ethertype));
        }
    };
    match ip {
        Ok(ip) => ip_demux(ifp, ip, v4, stats),
        Err(why) => Input::Dropped(why),
    }
}

/// The protocol switch after `ip_input` / `ip6_input`.
fn ip_demux(ifp: &Ifnet, ip: IpIn, v4: bool, stats: &mut NetStats) -> Input {
    let IpIn { l3, proto, hlim, m } = ip;
    match IpProtocol::from(proto) {
        IpProtocol::Udp => udp::udp_input(ifp, m, &l3, stats),
        IpProtocol::Tcp => tcp::tcp_parse_input(ifp, m, &l3, stats),
        _ => {
            if v4 {
                stats.ip.ips_noproto += 1;
            }
            Input::Ip(IpDatagram { proto, src: l3.src(), dst: l3.dst(), hlim, m })
        }
    }
}
