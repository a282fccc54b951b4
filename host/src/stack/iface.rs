//! Interfaces (FreeBSD's `if.c`): one attached driver with its addresses,
//! neighbour caches, transmit queues and workers, referred to by index and
//! generation ([`IfRef`]) so that nothing outlives its departure; and the
//! table of them.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::driver::Driver;
use crate::ifnet::Ifnet;
use crate::mbuf::{IfRef, Mbuf};
use crate::net::neigh::NeighCache;
use crate::net::{icmp6, IpOut, Ipv4Out, Ipv6Out};

/// Addresses and routes of one interface (what `ifconfig` and `route add default` set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfAddrs {
    /// IPv4 address and prefix length.
    pub v4: Option<(Ipv4Addr, u8)>,
    /// IPv6 addresses and prefix lengths (a link-local one is added from the MAC).
    pub v6: Vec<(Ipv6Addr, u8)>,
    /// IPv4 default gateway.
    pub gateway4: Option<Ipv4Addr>,
    /// IPv6 default gateway.
    pub gateway6: Option<Ipv6Addr>,
}

/// One transmit queue of an interface, in front of one TX ring (FreeBSD's per-ring
/// `buf_ring`): frames wait here while the ring is full. Each frame carries the ticket it
/// was queued with (free-running), so a connection can tell when all it queued has left.
#[derive(Default)]
pub(crate) struct SndQueue {
    pub(crate) frames: VecDeque<Mbuf>,
    /// `tickets[i]` is the ticket of `frames[i]` (a burst cut in software keeps its ticket).
    pub(crate) tickets: VecDeque<u64>,
    /// Tickets handed out so far (the last frame queued has this one).
    pub(crate) pushed: u64,
}

/// One attached interface.
pub(crate) struct Iface {
    pub(crate) ifref: IfRef,
    pub(crate) name: String,
    /// The driver, shared by the queues' workers and the senders; shut down by `detach` once
    /// every worker has stopped.
    pub(crate) drv: Arc<Driver>,
    pub(crate) addrs: IfAddrs,
    pub(crate) ll6: Ipv6Addr,
    pub(crate) arp: Mutex<NeighCache<Ipv4Addr>>,
    pub(crate) nd: Mutex<NeighCache<Ipv6Addr>>,
    /// One transmit queue per queue pair of the driver.
    pub(crate) snd: Box<[Mutex<SndQueue>]>,
    pub(crate) departed: AtomicBool,
    pub(crate) ip_id: AtomicU16,
    pub(crate) workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Iface {
    pub(crate) fn lladdr(&self) -> [u8; 6] {
        self.drv.lladdr()
    }

    /// The interface as the protocol code reads it now (capabilities change under ifconfig).
    pub(crate) fn ifnet(&self) -> Ifnet {
        self.drv.ifnet()
    }

    /// The TX queue of a frame that belongs to no connection: the RX queue of its hash when it
    /// carries one, else queue 0.
    pub(crate) fn queue_of_frame(&self, m: &Mbuf) -> u16 {
        match m.pkthdr.rsstype {
            nic_abi::rss::hashtype::NONE => 0,
            _ => self.drv.rss_queue(m.pkthdr.flowid),
        }
    }

    /// Whether `a` is one of this interface's unicast addresses.
    pub(crate) fn has_addr(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => self.has_v4(a),
            IpAddr::V6(a) => self.has_v6(a),
        }
    }

    /// The IP header for a packet from `src` to `dst` (IPv4's gets the next identification);
    /// `None` when the two are of different families.
    pub(crate) fn ip_out(&self, src: IpAddr, dst: IpAddr) -> Option<IpOut> {
        match (src, dst) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mut o = Ipv4Out::new(a, b);
                o.id = self.ip_id.fetch_add(1, Ordering::Relaxed);
                Some(IpOut::V4(o))
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => Some(IpOut::V6(Ipv6Out::new(a, b))),
            _ => None,
        }
    }

    pub(crate) fn has_v4(&self, a: Ipv4Addr) -> bool {
        self.addrs.v4.is_some_and(|(x, _)| x == a)
    }

    pub(crate) fn has_v6(&self, a: Ipv6Addr) -> bool {
        a == self.ll6 || self.addrs.v6.iter().any(|(x, _)| *x == a)
    }

    /// Whether `a` is one of our addresses, or a multicast group we are in (all-nodes, our solicited-node groups).
    pub(crate) fn accepts_v6(&self, a: Ipv6Addr) -> bool {
        if self.has_v6(a) || a == Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1) {
            return true;
        }
        std::iter::once(self.ll6).chain(self.addrs.v6.iter().map(|(x, _)| *x)).any(|x| icmp6::solicited_node(x) == a)
    }

    /// Our address to send from toward `dst` over `iface`: same prefix, else link-local.
    pub(crate) fn v6_source_for(&self, dst: Ipv6Addr) -> Ipv6Addr {
        self
            .addrs
            .v6
            .iter()
            .find(|(a, len)| prefix_match(dst.into(), (*a).into(), *len))
            .map_or(self.ll6, |(a, _)| *a)
    }
}

/// The link-local address from a MAC (RFC 4291 §2.5.1 modified EUI-64).
pub fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    Ipv6Addr::from([
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5],
    ])
}

pub(crate) fn prefix_match(a: IpAddr, net: IpAddr, len: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len.min(32) as u32) };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if len == 0 { 0 } else { u128::MAX << (128 - len.min(128) as u32) };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}
