//! What to send (FreeBSD's `tcp_output.c`, the stack's half): the connection
//! (nic-tcp's `Tcb::output`) decides its segments, and the stack turns them
//! into frames on the connection's TX queue, with the connection's lock
//! released before anything reaches the driver.

use std::net::SocketAddr;
use std::sync::MutexGuard;

use nic_tcp::{SegOut, Tcb, TcpError};

use super::iface::Iface;
use super::in_pcb::{Conn, TxPlace};
use super::route::Route;
use crate::sync::{bump, lock};
use super::vnet::Stack;
use crate::net::{tcp_output_segment, tcp_output_tso};

impl Stack {
    /// Lets a connection produce what it has to send, then sends it — the
    /// connection's lock released before anything reaches the driver.
    pub(crate) fn conn_output(&self, c: &Conn, mut t: MutexGuard<'_, Tcb>) {
        let segs = match self.path(&c.route, c.remote.ip()) {
            Some(p) => t.output(self.now(), &p),
            None => {
                // The interface departed under us.
                t.abort(TcpError::NetDown);
                Vec::new()
            }
        };
        let mut place = lock(&c.txlock);
        drop(t);
        c.cv.notify_all();
        self.send_segments(&c.route, c.local, c.remote, segs, Some(&mut place));
        drop(place);
    }

    /// Sends `seg` (a RST) for `c` after whatever another thread is sending for it, releasing
    /// the connection's lock first (the order `conn_output` keeps).
    pub(crate) fn send_after(&self, c: &Conn, t: MutexGuard<'_, Tcb>, seg: Option<SegOut>) {
        let mut place = lock(&c.txlock);
        drop(t);
        c.cv.notify_all();
        if let Some(s) = seg {
            self.send_segments(&c.route, c.local, c.remote, vec![s], Some(&mut place));
        }
        drop(place);
    }

    /// Builds IP packets for `segs` from `local` to `remote` and hands them to link output on
    /// the route's interface, for the TX queue of the flow's RSS queue pair. `place` is the connection's
    /// (see [`TxPlace`]); without one (a RST for no connection) the queue is computed afresh.
    pub(crate) fn send_segments(
        &self,
        route: &Route,
        local: SocketAddr,
        remote: SocketAddr,
        segs: Vec<SegOut>,
        mut place: Option<&mut TxPlace>,
    ) {
        if segs.is_empty() {
            return;
        }
        let Some(iface) = self.iface(route.ifref) else { return };
        let ifnet = iface.ifnet();
        let mut packets = Vec::with_capacity(segs.len());
        for s in segs {
            let Some(ip) = iface.ip_out(local.ip(), remote.ip()) else { continue };
            let seg = s.repr(local.port(), remote.port());
            let mut st = lock(&self.inner.stats);
            let r = if s.tso_segsz > 0 {
                tcp_output_tso(&ifnet, &seg, &ip, s.tso_segsz, None, &mut st)
            } else {
                tcp_output_segment(&ifnet, &seg, &ip, None, &mut st)
            };
            drop(st);
            match r {
                Ok(m) => packets.push(m),
                Err(e) => {
                    log::warn!("{}: output refused a segment: {e}", iface.name);
                    bump(&self.inner.counters.output_errors);
                }
            }
        }
        let (q, hash, rsstype) = self.tx_queue_of(&iface, local, remote, place.as_deref_mut());
        for m in &mut packets {
            // FreeBSD's inp_flowid on the way out: the driver-independent record of the flow
            // (a GSO'd burst's frames inherit it).
            m.pkthdr.flowid = hash;
            m.pkthdr.rsstype = rsstype;
        }
        if let (Some(ticket), Some(p)) = (self.l2_output_on(&iface, &ifnet, route.nexthop, packets, Some(q)), place) {
            p.ticket = ticket;
        }
    }

    /// The TX queue (and RSS hash and type) of the flow `local`/`remote`: the RX queue the NIC
    /// gives its packets, by the driver's RSS shadow. With the connection's `place`, the
    /// choice is remembered and recomputed only when the interface or the RSS generation
    /// changed; a change of queue first waits for the old queue to have sent what the
    /// connection queued there ([`Stack::txq_barrier`]).
    fn tx_queue_of(
        &self,
        iface: &Iface,
        local: SocketAddr,
        remote: SocketAddr,
        place: Option<&mut TxPlace>,
    ) -> (u16, u32, u8) {
        let rss = iface.drv.rss();
        let fresh = || {
            // As the NIC sees the connection's packets arrive: remote is the source.
            let (h, t) = rss.flow(remote, local, crate::net::rss::IPPROTO_TCP);
            let q = if t == nic_abi::rss::hashtype::NONE { 0 } else { rss.queue_of(h) };
            (q, h, t)
        };
        let Some(p) = place else { return fresh() };
        let now = (iface.ifref, rss.generation);
        if p.placed != Some(now) {
            let (q, h, t) = fresh();
            let moved = matches!(p.placed, Some((r, _)) if r == iface.ifref) && q != p.queue;
            if moved {
                bump(&self.inner.counters.txq_moves);
                if p.ticket != 0 {
                    self.txq_barrier(iface, p.queue, p.ticket);
                }
            }
            let same_queue = p.placed.is_some_and(|(r, _)| r == iface.ifref) && q == p.queue;
            *p = TxPlace { placed: Some(now), hash: h, rsstype: t, queue: q, ticket: if same_queue { p.ticket } else { 0 } };
        }
        (p.queue, p.hash, p.rsstype)
    }
}
