//! Routes (FreeBSD's `route.c` and `tcp_hostcache`'s MTU): which interface,
//! source address and next hop reach a destination, and what the path allows
//! a connection (MTU, header sizes, TSO). Works on the interface table; knows
//! nothing of connections.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use nic_abi::csum::{CSUM_IP6_TSO, CSUM_IP_TSO};
use nic_tcp::tcb::min_mtu;
use nic_tcp::time::Instant;
use nic_tcp::PathInfo;

use super::hostcache::HostCache;
use super::iface::{prefix_match, Iface};
use crate::sync::lock;
use crate::mbuf::IfRef;
use crate::net::ether;

/// A route: the interface, our source address, and the next hop to resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) ifref: IfRef,
    pub(crate) src: IpAddr,
    pub(crate) nexthop: IpAddr,
}

/// Protocol family's TSO bit in `if_hwassist`.
fn tso_flag(v6: bool) -> u32 {
    if v6 {
        CSUM_IP6_TSO
    } else {
        CSUM_IP_TSO
    }
}

/// The route to `dst` over the live interfaces `ifaces`: an interface with a matching prefix
/// (next hop: `dst`), else one with a gateway.
pub(crate) fn route_lookup<'a>(ifaces: impl Iterator<Item = &'a Arc<Iface>>, dst: IpAddr) -> Option<Route> {
    let mut fallback = None;
    for i in ifaces.filter(|i| !i.departed.load(Ordering::SeqCst)) {
        match dst {
            IpAddr::V4(d) => {
                if let Some((a, len)) = i.addrs.v4 {
                    if prefix_match(dst, a.into(), len) {
                        return Some(Route { ifref: i.ifref, src: a.into(), nexthop: d.into() });
                    }
                    if let (Some(gw), None) = (i.addrs.gateway4, fallback) {
                        fallback = Some(Route { ifref: i.ifref, src: a.into(), nexthop: gw.into() });
                    }
                }
            }
            IpAddr::V6(d) => {
                if d.segments()[0] & 0xffc0 == 0xfe80 {
                    return Some(Route { ifref: i.ifref, src: i.ll6.into(), nexthop: d.into() });
                }
                for (a, len) in &i.addrs.v6 {
                    if prefix_match(dst, (*a).into(), *len) {
                        return Some(Route { ifref: i.ifref, src: (*a).into(), nexthop: d.into() });
                    }
                }
                if let (Some(gw), Some((a, _)), None) = (i.addrs.gateway6, i.addrs.v6.first(), fallback) {
                    fallback = Some(Route { ifref: i.ifref, src: (*a).into(), nexthop: gw.into() });
                }
            }
        }
    }
    fallback
}

/// What the path to `remote` over `iface` allows at `now`, the host cache's path MTU included.
pub(crate) fn path_info(iface: &Iface, hostcache: &Mutex<HostCache>, remote: IpAddr, now: Instant) -> PathInfo {
    let ifnet = iface.ifnet();
    let v6 = remote.is_ipv6();
    let mut mtu = ifnet.if_mtu;
    if let Some(m) = lock(hostcache).mtu(remote, now) {
        mtu = mtu.min(m.max(min_mtu(v6)));
    }
    PathInfo {
        mtu,
        ip_hlen: if v6 { 40 } else { 20 },
        link_hlen: ether::ETHER_HDR_LEN as u32,
        tso: ifnet.if_hwassist & tso_flag(v6) != 0,
        tso_max: ifnet.if_hw_tsomax,
    }
}
