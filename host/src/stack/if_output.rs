//! Link-level output (FreeBSD's `ether_output` with `arpresolve` /
//! `nd6_resolve`): finished IP packets get their next hop's MAC, or wait in the
//! neighbour cache while an ARP request or a neighbour solicitation goes out;
//! and the stack's own control messages (ICMP, ICMPv6 and ND) are built here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use super::iface::Iface;
use crate::sync::{bump, lock};
use super::vnet::Stack;
use crate::mbuf::Mbuf;
use crate::net::neigh::Hold;
use crate::net::{arp, ether, icmp6, Ipv4Out, Ipv6Out, LinkOut};

impl Stack {
    /// Resolves `nexthop` and queues `frames` (Ethernet frames with a placeholder destination),
    /// each on the TX queue of its hash, else queue 0.
    pub(crate) fn l2_output(&self, iface: &Iface, nexthop: IpAddr, frames: Vec<Mbuf>) {
        self.l2_output_on(iface, nexthop, frames, None);
    }

    /// [`Stack::l2_output`] on TX queue `q` when given; returns the ticket of the last frame
    /// queued (`None` when they were held for resolution or dropped).
    pub(crate) fn l2_output_on(&self, iface: &Iface, nexthop: IpAddr, mut frames: Vec<Mbuf>, q: Option<u16>) -> Option<u64> {
        if frames.is_empty() {
            return None;
        }
        let now = self.now();
        let mac = match nexthop {
            IpAddr::V4(a) => lock(&iface.arp).lookup(a, now),
            IpAddr::V6(a) if a.is_multicast() => Some(icmp6::multicast_mac(a)),
            IpAddr::V6(a) => lock(&iface.nd).lookup(a, now),
        };
        if let Some(mac) = mac {
            for f in &mut frames {
                f.data_mut()[..6].copy_from_slice(&mac);
            }
            return match q {
                Some(q) => self.enqueue_on(iface, q, frames),
                None => {
                    self.enqueue(iface, frames);
                    None
                }
            };
        }
        let mut solicit = false;
        let mut resolved = Vec::new();
        for f in frames {
            // Checked under the cache's lock: a departing interface purges its caches after
            // setting `departed`, so a frame is either purged there or freed here, counted.
            let h = match nexthop {
                IpAddr::V4(a) => {
                    let mut c = lock(&iface.arp);
                    if iface.departed.load(Ordering::SeqCst) {
                        bump(&self.inner.counters.purged);
                        continue;
                    }
                    c.hold(a, f, now)
                }
                IpAddr::V6(a) => {
                    let mut c = lock(&iface.nd);
                    if iface.departed.load(Ordering::SeqCst) {
                        bump(&self.inner.counters.purged);
                        continue;
                    }
                    c.hold(a, f, now)
                }
            };
            match h {
                Hold::Solicit => solicit = true,
                Hold::Held => {}
                Hold::Resolved(m) => resolved.push(m),
                Hold::Dropped(_) | Hold::Full(_) => bump(&self.inner.counters.resolve_failed),
            }
        }
        if !resolved.is_empty() {
            self.enqueue(iface, resolved);
        }
        if solicit {
            self.solicit(iface, nexthop);
        }
        None
    }

    /// Sends an ARP request or a neighbour solicitation for `target`.
    pub(crate) fn solicit(&self, iface: &Iface, target: IpAddr) {
        let mac = iface.lladdr();
        match target {
            IpAddr::V4(t) => {
                let Some((src, _)) = iface.addrs.v4 else { return };
                let req = arp::request(mac, src, t);
                let mut m = Mbuf::from_payload(&arp::emit(&req));
                let link = LinkOut { dst: [0xff; 6], src: mac, vlan: None };
                ether::ether_output(&mut m, &link, arp::ETHERTYPE_ARP, &mut lock(&self.inner.stats));
                self.enqueue(iface, vec![m]);
            }
            IpAddr::V6(t) => {
                let src = iface.v6_source_for(t);
                let group = icmp6::solicited_node(t);
                let msg = icmp6::Icmp6Msg::NeighborSolicit { target: t, src_lladdr: Some(mac) };
                self.icmp6_output(iface, src, group, &msg, true);
            }
        }
    }

    /// Sends an ICMPv6 message (`nd`: hop limit 255, as neighbour discovery requires).
    pub(crate) fn icmp6_output(&self, iface: &Iface, src: Ipv6Addr, dst: Ipv6Addr, msg: &icmp6::Icmp6Msg, nd: bool) {
        let body = icmp6::emit(src, dst, msg);
        let ifnet = iface.ifnet();
        let mut o = Ipv6Out::new(src, dst);
        if nd {
            o.hop_limit = icmp6::ND_HOP_LIMIT;
        }
        let link = LinkOut { dst: [0; 6], src: ifnet.if_lladdr, vlan: None };
        let r = crate::net::ip6_output(
            &ifnet,
            Mbuf::from_payload(&body),
            crate::net::IpProtocol::Icmpv6,
            &o,
            &link,
            &mut lock(&self.inner.stats),
        );
        match r {
            Ok(m) if dst.is_multicast() => {
                let mut m = m;
                m.data_mut()[..6].copy_from_slice(&icmp6::multicast_mac(dst));
                self.enqueue(iface, vec![m]);
            }
            Ok(m) => self.l2_output(iface, dst.into(), vec![m]),
            Err(e) => {
                log::warn!("{}: ICMPv6 output: {e}", iface.name);
                bump(&self.inner.counters.output_errors);
            }
        }
    }

    /// Sends an ICMP message to `dst` from `src`.
    pub(crate) fn icmp_output(&self, iface: &Iface, src: Ipv4Addr, dst: Ipv4Addr, body: Vec<u8>) {
        let ifnet = iface.ifnet();
        let mut o = Ipv4Out::new(src, dst);
        o.id = iface.ip_id.fetch_add(1, Ordering::Relaxed);
        o.df = false;
        let link = LinkOut { dst: [0; 6], src: ifnet.if_lladdr, vlan: None };
        let r = crate::net::ip_output(
            &ifnet,
            Mbuf::from_payload(&body),
            crate::net::IpProtocol::Icmp,
            &o,
            &link,
            &mut lock(&self.inner.stats),
        );
        match r {
            Ok(m) => {
                let nexthop = self.route(dst.into()).map_or(IpAddr::V4(dst), |r| r.nexthop);
                self.l2_output(iface, nexthop, vec![m]);
            }
            Err(e) => {
                log::warn!("{}: ICMP output: {e}", iface.name);
                bump(&self.inner.counters.output_errors);
            }
        }
    }
}
