//! Link-level output (FreeBSD's `ether_output` with `arpresolve` /
//! `nd6_resolve`): finished IP packets get their next hop's MAC and then their
//! link header, or wait headerless in the neighbour cache while an ARP request
//! or a neighbour solicitation goes out, and get the header when the answer
//! comes; either way the destination is written once, when it is known. The
//! stack's own control messages (ICMP, ICMPv6 and ND) are built here too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;

use nic_abi::csum::CSUM_TSO;

use super::iface::Iface;
use crate::sync::{bump, lock};
use super::vnet::Stack;
use crate::ifnet::Ifnet;
use crate::mbuf::Mbuf;
use crate::net::neigh::Hold;
use crate::net::{arp, ether, icmp6, Ipv4Out, Ipv6Out, LinkOut};
use crate::offload;

impl Stack {
    /// Resolves `nexthop` and queues `packets` (IP packets from `ip_output` / `ip6_output`, on
    /// interface `iface` as `ifnet` describes it now) as frames, each on the TX queue of its
    /// hash, else queue 0.
    pub(crate) fn l2_output(&self, iface: &Iface, ifnet: &Ifnet, nexthop: IpAddr, packets: Vec<Mbuf>) {
        self.l2_output_on(iface, ifnet, nexthop, packets, None);
    }

    /// [`Stack::l2_output`] on TX queue `q` when given; returns the ticket of the last frame
    /// queued (`None` when they were held for resolution or dropped).
    pub(crate) fn l2_output_on(
        &self,
        iface: &Iface,
        ifnet: &Ifnet,
        nexthop: IpAddr,
        packets: Vec<Mbuf>,
        q: Option<u16>,
    ) -> Option<u64> {
        if packets.is_empty() {
            return None;
        }
        let now = self.now();
        let mac = match nexthop {
            IpAddr::V4(a) => lock(&iface.arp).lookup(a, now),
            IpAddr::V6(a) if a.is_multicast() => Some(icmp6::multicast_mac(a)),
            IpAddr::V6(a) => lock(&iface.nd).lookup(a, now),
        };
        if let Some(mac) = mac {
            let frames = self.ether_frames(iface, ifnet, mac, packets);
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
        for m in packets {
            // Checked under the cache's lock: a departing interface purges its caches after
            // setting `departed`, so a packet is either purged there or freed here, counted.
            let h = match nexthop {
                IpAddr::V4(a) => {
                    let mut c = lock(&iface.arp);
                    if iface.departed.load(Ordering::SeqCst) {
                        bump(&self.inner.counters.purged);
                        continue;
                    }
                    c.hold(a, m, now)
                }
                IpAddr::V6(a) => {
                    let mut c = lock(&iface.nd);
                    if iface.departed.load(Ordering::SeqCst) {
                        bump(&self.inner.counters.purged);
                        continue;
                    }
                    c.hold(a, m, now)
                }
            };
            match h {
                Hold::Solicit => solicit = true,
                Hold::Held => {}
                Hold::Resolved(m, mac) => resolved.push((m, mac)),
                Hold::Dropped(_) | Hold::Full(_) => bump(&self.inner.counters.resolve_failed),
            }
        }
        // Resolved by an answer that came in meanwhile: one next hop, so one MAC.
        if let Some(&(_, mac)) = resolved.first() {
            let frames = self.ether_frames(iface, ifnet, mac, resolved.into_iter().map(|(m, _)| m).collect());
            self.enqueue(iface, frames);
        }
        if solicit {
            self.solicit(iface, nexthop);
        }
        None
    }

    /// Packets the neighbour cache held for a next hop that has now answered from `mac`: their
    /// link header, then the queue.
    pub(crate) fn l2_resolved(&self, iface: &Iface, mac: [u8; 6], packets: Vec<Mbuf>) {
        if !packets.is_empty() {
            let frames = self.ether_frames(iface, &iface.ifnet(), mac, packets);
            self.enqueue(iface, frames);
        }
    }

    /// The tail of `ether_output`, the destination known: each packet's link header, and a TSO
    /// burst the interface will not segment cut into frames in software (GSO).
    fn ether_frames(&self, iface: &Iface, ifnet: &Ifnet, dst: [u8; 6], mut packets: Vec<Mbuf>) -> Vec<Mbuf> {
        let link = LinkOut { dst, src: ifnet.if_lladdr, vlan: None };
        let mut bursts = false;
        {
            let mut st = lock(&self.inner.stats);
            for m in &mut packets {
                let v6 = m.data().first().is_some_and(|b| b >> 4 == 6);
                let ethertype = if v6 { ether::ETHERTYPE_IPV6 } else { ether::ETHERTYPE_IP };
                ether::ether_output(m, &link, ethertype, &mut st);
                bursts |= m.pkthdr.csum_flags & CSUM_TSO != 0;
            }
        }
        if !bursts {
            return packets;
        }
        let mut frames = Vec::with_capacity(packets.len());
        for m in packets {
            if m.pkthdr.csum_flags & CSUM_TSO == 0 {
                frames.push(m);
                continue;
            }
            match offload::tso_or_gso(m, ifnet.if_hwassist, ifnet.if_capenable) {
                Ok((ms, _)) => frames.extend(ms),
                Err(e) => {
                    log::warn!("{}: GSO refused a burst: {e}", iface.name);
                    bump(&self.inner.counters.output_errors);
                }
            }
        }
        frames
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
        let r = crate::net::ip6_output(
            &ifnet,
            Mbuf::from_payload(&body),
            crate::net::IpProtocol::Icmpv6,
            &o,
            None,
            &mut lock(&self.inner.stats),
        );
        match r {
            // A multicast destination resolves to its mapped MAC (RFC 2464 §7), with no wait.
            Ok(m) => self.l2_output(iface, &ifnet, dst.into(), vec![m]),
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
        let r = crate::net::ip_output(
            &ifnet,
            Mbuf::from_payload(&body),
            crate::net::IpProtocol::Icmp,
            &o,
            None,
            &mut lock(&self.inner.stats),
        );
        match r {
            Ok(m) => {
                let nexthop = self.route(dst.into()).map_or(IpAddr::V4(dst), |r| r.nexthop);
                self.l2_output(iface, &ifnet, nexthop, vec![m]);
            }
            Err(e) => {
                log::warn!("{}: ICMP output: {e}", iface.name);
                bump(&self.inner.counters.output_errors);
            }
        }
    }
}
