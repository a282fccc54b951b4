//! The queue workers and input below TCP (FreeBSD's `if_input`, `ether_input`,
//! `arpintr`, `icmp_input`, `icmp6_input`): frames taken from the RX rings,
//! ARP, ICMP and ICMPv6 with neighbour discovery and path-MTU messages;
//! TCP segments go on to `tcp_input`, UDP datagrams to their socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use nic_tcp::tcb::min_mtu;
use nic_tcp::time::Instant;
use nic_tcp::TcpError;


use super::iface::Iface;
use crate::sync::{bump, lock};
use super::vnet::Stack;
use crate::driver::Error as DrvError;
use crate::mbuf::Mbuf;
use crate::net::{arp, ether, ether_demux, ether_input, icmp, icmp6, Input};

/// How long a worker sleeps at most when nothing happens (timers are checked at least this often).
const IDLE_WAIT: Duration = Duration::from_millis(5);
/// Frames taken per poll.
const BUDGET: usize = 256;
/// How often neighbour caches age.
const NEIGH_TICK: Duration = Duration::from_millis(100);
/// How often a worker runs its shards' TCP timers at most (FreeBSD's callout tick at hz=1000):
/// under load it wakes per burst, and a scan per burst would cost more than the timers do.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// Queue pair `q`'s worker: sleeps on the queue's interrupt vector, receives what RSS steered
/// to RX queue `q`, runs protocol input, its shards' timers (and, for queue 0, the neighbour
/// caches' ageing), and pushes TX queue `q` to its ring, until the interface departs. It
/// shares no lock with the other queues' workers.
pub(super) fn worker(stack: Stack, weak: Weak<Iface>, q: u16) {
    let mut rx = Vec::with_capacity(BUDGET);
    let mut next_neigh = stack.now();
    let mut next_timers = stack.now();
    loop {
        let Some(iface) = weak.upgrade() else { return };
        if iface.departed.load(Ordering::SeqCst) {
            return;
        }
        let ring = iface.drv.queue(q);
        // Sleeps on the vector without any lock held, so senders use the rings meanwhile.
        match ring.wait(IDLE_WAIT) {
            Ok(_) => {}
            Err(DrvError::Detached) => return,
            Err(e @ DrvError::Dev(_)) => {
                log::error!("{}: queue {q}: device failed: {e}; the worker stops", iface.name);
                bump(&stack.inner.counters.driver_errors);
                return;
            }
            Err(e) => {
                log::warn!("{}: queue {q}: {e}", iface.name);
                bump(&stack.inner.counters.driver_errors);
            }
        }
        if let Err(e) = ring.poll(&mut rx, BUDGET) {
            match e {
                DrvError::Detached => return,
                DrvError::Wedged(_) => {
                    log::error!("{}: queue {q}: {e}; the worker stops", iface.name);
                    bump(&stack.inner.counters.driver_errors);
                    return;
                }
                _ => {
                    log::warn!("{}: queue {q}: receive: {e}", iface.name);
                    bump(&stack.inner.counters.driver_errors);
                }
            }
        }
        let now = stack.now();
        for m in rx.drain(..) {
            frame_input(&stack, &iface, m, now);
        }
        if now >= next_timers {
            next_timers = now + TIMER_TICK;
            stack.tcp_timers(&iface, q, now);
        }
        if q == 0 && now >= next_neigh {
            next_neigh = now + NEIGH_TICK;
            neigh_tick(&stack, &iface, now);
            // Datagrams whose fragments stopped coming give their memory back (and reassembly
            // learns the time its deadlines are measured from).
            lock(&stack.inner.reass).tick(now.as_nanos());
        }
        stack.flush_q(&iface, q);
    }
}

fn neigh_tick(stack: &Stack, iface: &Iface, now: Instant) {
    let t4 = lock(&iface.arp).tick(now);
    let t6 = lock(&iface.nd).tick(now);
    let dropped = t4.dropped.len() + t6.dropped.len();
    stack.inner.counters.resolve_failed.fetch_add(dropped as u64, Ordering::Relaxed);
    for a in t4.solicit {
        stack.solicit(iface, a.into());
    }
    for a in t6.solicit {
        stack.solicit(iface, a.into());
    }
    // Connects waiting on a next hop that never answered end now, with EHOSTUNREACH, rather
    // than after their SYN retransmissions run out (about two minutes) with a timeout.
    for a in t4.failed.into_iter().map(IpAddr::from).chain(t6.failed.into_iter().map(IpAddr::from)) {
        for c in stack.inner.pcb.syn_sent_via(iface.ifref, a) {
            lock(&c.tcb).abort(TcpError::HostUnreachable);
            c.cv.notify_all();
            stack.reap(&c);
        }
    }
}

fn frame_input(stack: &Stack, iface: &Iface, m: Mbuf, now: Instant) {
    let Ok(l2) = ether::parse(m.data()) else {
        // ether_input counts it.
        let _ = ether_input(&iface.ifnet(), m, &mut lock(&stack.inner.stats));
        return;
    };
    let mac = iface.lladdr();
    let multicast = l2.dst[0] & 1 != 0;
    if l2.dst != mac && !multicast {
        bump(&stack.inner.counters.not_ours_l2);
        return;
    }
    if l2.ethertype == arp::ETHERTYPE_ARP {
        arp_input(stack, iface, &m.data()[l2.hlen..], now);
        return;
    }
    // The header parsed above is the one input uses: the frame is parsed once. Fragments go to
    // the stack's reassembly (locked only for them); a datagram they complete comes out here as
    // if it came whole.
    let r = ether_demux(&iface.ifnet(), &l2, m, &mut lock(&stack.inner.stats), Some(&stack.inner.reass));
    match r {
        Input::Tcp(seg) => stack.tcp_input(iface, seg, now),
        Input::Ip(d) if d.proto == 1 => {
            if let (IpAddr::V4(src), IpAddr::V4(dst)) = (d.src, d.dst) {
                icmp_input(stack, iface, src, dst, d.m.data());
            }
        }
        Input::Ip(d) if d.proto == 58 => {
            if let (IpAddr::V6(src), IpAddr::V6(dst)) = (d.src, d.dst) {
                icmp6_input(stack, iface, src, dst, d.hlim, d.m.data(), now);
            }
        }
        Input::Udp(d) => {
            let ours = iface.has_addr(d.dst.ip());
            let sock = lock(&stack.inner.pcb.udp).get(&d.dst.port()).filter(|s| s.takes(d.dst)).cloned();
            match sock {
                Some(s) if ours => s.deliver(d.src, d.m.data()),
                _ => bump(&stack.inner.counters.udp_noport),
            }
        }
        _ => {}
    }
}

fn arp_input(stack: &Stack, iface: &Iface, payload: &[u8], now: Instant) {
    let p = match arp::parse(payload) {
        Ok(p) => p,
        Err(_) => {
            bump(&stack.inner.counters.bad_control);
            return;
        }
    };
    let Some((ours, _)) = iface.addrs.v4 else { return };
    if p.tpa != ours {
        return;
    }
    // RFC 826: the target learns the sender's binding, then answers a request.
    let released = lock(&iface.arp).update(p.spa, p.sha, now);
    stack.l2_resolved(iface, p.sha, released);
    if p.op == arp::ARPOP_REQUEST {
        let reply = arp::reply_to(&p, iface.lladdr());
        let mut m = Mbuf::from_payload(&arp::emit(&reply));
        let link = crate::net::LinkOut { dst: p.sha, src: iface.lladdr(), vlan: None };
        ether::ether_output(&mut m, &link, arp::ETHERTYPE_ARP, &mut lock(&stack.inner.stats));
        stack.enqueue(iface, vec![m]);
    }
}

fn icmp_input(stack: &Stack, iface: &Iface, src: Ipv4Addr, dst: Ipv4Addr, body: &[u8]) {
    if !iface.has_v4(dst) {
        bump(&stack.inner.counters.not_ours_l3);
        return;
    }
    let msg = match icmp::parse(body) {
        Ok(m) => m,
        Err(_) => {
            bump(&stack.inner.counters.bad_control);
            return;
        }
    };
    match msg {
        icmp::IcmpMsg::EchoRequest { id, seq, data } => {
            bump(&stack.inner.counters.echo_replies);
            let reply = icmp::emit(&icmp::IcmpMsg::EchoReply { id, seq, data });
            stack.icmp_output(iface, dst, src, reply);
        }
        icmp::IcmpMsg::Unreach { code: icmp::ICMP_UNREACH_NEEDFRAG, next_hop_mtu, quoted } => {
            bump(&stack.inner.counters.pmtu_msgs);
            if let Some(q) = icmp::quoted_transport(&quoted) {
                stack.pmtu_input(q, next_hop_mtu as u32);
            }
        }
        _ => {}
    }
}

fn icmp6_input(stack: &Stack, iface: &Iface, src: Ipv6Addr, dst: Ipv6Addr, hlim: u8, body: &[u8], now: Instant) {
    if !iface.accepts_v6(dst) {
        bump(&stack.inner.counters.not_ours_l3);
        return;
    }
    let msg = match icmp6::parse(src, dst, hlim, body) {
        Ok(m) => m,
        Err(_) => {
            bump(&stack.inner.counters.bad_control);
            return;
        }
    };
    use icmp6::Icmp6Msg as M;
    match msg {
        M::EchoRequest { id, seq, data } if !dst.is_multicast() => {
            bump(&stack.inner.counters.echo_replies);
            stack.icmp6_output(iface, dst, src, &M::EchoReply { id, seq, data }, false);
        }
        M::NeighborSolicit { target, src_lladdr } => {
            if !iface.has_v6(target) {
                return;
            }
            let unspecified = src == Ipv6Addr::UNSPECIFIED;
            if let (Some(ll), false) = (src_lladdr, unspecified) {
                let released = lock(&iface.nd).update(src, ll, now);
                stack.l2_resolved(iface, ll, released);
            }
            let na = M::NeighborAdvert {
                router: false,
                solicited: !unspecified,
                override_: true,
                target,
                tgt_lladdr: Some(iface.lladdr()),
            };
            let to = if unspecified { Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1) } else { src };
            stack.icmp6_output(iface, target, to, &na, true);
        }
        M::NeighborAdvert { target, tgt_lladdr: Some(ll), .. } => {
            let released = lock(&iface.nd).update(target, ll, now);
            stack.l2_resolved(iface, ll, released);
        }
        M::PacketTooBig { mtu, quoted } => {
            bump(&stack.inner.counters.pmtu_msgs);
            if let Some(q) = icmp6::quoted_transport6(&quoted) {
                stack.pmtu_input(q, mtu);
            }
        }
        _ => {}
    }
}

impl Stack {
    /// A "too big" message quoting one of our TCP segments: remember the MTU
    /// for the host, and shrink the connection it names if the quoted
    /// sequence number is one we have in flight (RFC 5927 §4.1's check).
    pub(crate) fn pmtu_input(&self, q: icmp::Quoted, mtu: u32) {
        if q.proto != 6 {
            return;
        }
        let local = SocketAddr::new(q.src, q.sport);
        let remote = SocketAddr::new(q.dst, q.dport);
        // Never below the family's minimum (a router's 0, a forged 68).
        let mtu = mtu.max(min_mtu(remote.is_ipv6()));
        // Only for a segment we have in flight (RFC 5927 §4.1): anything else is ignored, cache included.
        let Some(c) = self.lookup(local, remote) else { return };
        let mut t = lock(&c.tcb);
        if !q.seq.is_some_and(|seq| t.seq_in_flight(seq)) {
            return;
        }
        // The cache may refuse; the connection is updated regardless.
        lock(&self.inner.hostcache).update_mtu(remote.ip(), mtu, self.now());
        if t.mtu_changed(mtu) {
            bump(&self.inner.counters.pmtu_applied);
            self.conn_output(&c, t);
        }
    }

}
