//! Segment arrival (FreeBSD's `tcp_input.c`, the stack's half): the stack
//! finds the control block a segment belongs to (a connection, a listener, or
//! none: a reset), and the connection (nic-tcp's `Tcb::input`) processes it.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nic_tcp::cc;
use nic_tcp::time::Instant;
use nic_tcp::{SegIn, Tcb, TcpError};

use super::iface::Iface;
use super::in_pcb::{Conn, ListenShared, TxPlace};
use super::route::Route;
use crate::sync::{bump, lock};
use super::vnet::Stack;
use crate::net::tcp::{TH_ACK, TH_RST, TH_SYN};
use crate::net::TcpSegment;

impl Stack {
    /// Demultiplexes one TCP segment (FreeBSD `tcp_input`'s lookup half).
    pub(crate) fn tcp_input(&self, iface: &Iface, seg: TcpSegment, now: Instant) {
        if !iface.has_addr(seg.dst.ip()) {
            bump(&self.inner.counters.not_ours_l3);
            return;
        }
        let (local, remote) = (seg.dst, seg.src);
        let sin = seg.repr();
        let mut found = self.lookup(local, remote);
        if let Some(c) = found.take_if(|c| lock(&c.tcb).syn_recycles(&sin)) {
            // The peer reconnects from the same port: TIME_WAIT gives way to the new connection.
            self.remove(&c);
        }
        if let Some(c) = found {
            let mut t = lock(&c.tcb);
            t.input(&sin, now);
            let handover = t.is_passive() && t.is_connected() && !c.handed_over.load(Ordering::SeqCst);
            let closed = t.is_closed();
            self.conn_output(&c, t);
            if handover {
                self.hand_over(&c);
            }
            if closed {
                self.reap(&c);
            }
            return;
        }
        match sin.flags & (TH_SYN | TH_ACK | TH_RST) {
            TH_SYN => {
                if let Some(l) = self.listener_for(local) {
                    self.passive_open(&l, local, remote, &sin);
                    return;
                }
            }
            // LISTEN, RFC 9293 §3.10.7.2 "fourth, other data or control": no SYN and no ACK is
            // dropped unanswered (an ACK still gets the RST below, as FreeBSD and Linux do).
            0 if self.listener_for(local).is_some() => {
                bump(&self.inner.counters.badsyn);
                return;
            }
            _ => {}
        }
        // No connection: a RST (RFC 9293 §3.10.7.1), never one in answer to a RST.
        if let Some(rst) = Tcb::rst_for(&sin) {
            bump(&self.inner.counters.rst_no_conn);
            if let Some(route) = self.route(remote.ip()) {
                self.send_segments(&route, local, remote, vec![rst], None);
            }
        }
    }

    fn listener_for(&self, local: SocketAddr) -> Option<Arc<ListenShared>> {
        let l = lock(&self.inner.pcb.listeners).get(&local.port()).cloned()?;
        let ip = l.addr.ip();
        // `::` takes both families (as Linux's dual-stack default does), `0.0.0.0` IPv4 only.
        let ok = if ip.is_unspecified() { ip.is_ipv6() || local.is_ipv4() } else { ip == local.ip() };
        ok.then_some(l)
    }

    fn passive_open(
        &self,
        l: &Arc<ListenShared>,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &SegIn<'_>,
    ) {
        if l.pending() >= l.backlog {
            bump(&self.inner.counters.listen_overflows);
            return;
        }
        let Some(route) = self.route(remote.ip()) else {
            bump(&self.inner.counters.no_route);
            return;
        };
        let Some(path) = self.path(&route, remote.ip()) else { return };
        let cc = cc::by_name(&l.cc).unwrap_or_else(|| Box::new(cc::NewReno::default()));
        let tcb = Tcb::accept_syn(l.cfg.clone(), local, remote, self.inner.pcb.iss(local, remote, self.now()), &path, cc, syn);
        let route = Route { src: local.ip(), ..route };
        let c = Arc::new(Conn {
            local,
            remote,
            route,
            tcb: std::sync::Mutex::new(tcb),
            cv: std::sync::Condvar::new(),
            txlock: std::sync::Mutex::new(TxPlace::default()),
            listener: Some(l.clone()),
            handed_over: std::sync::atomic::AtomicBool::new(false),
            owned: std::sync::atomic::AtomicBool::new(false),
        });
        if !self.insert(c.clone()) {
            return;
        }
        l.embryonic.fetch_add(1, Ordering::SeqCst);
        let t = lock(&c.tcb);
        self.conn_output(&c, t);
    }

    fn hand_over(&self, c: &Arc<Conn>) {
        if c.handed_over.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(l) = &c.listener {
            l.embryonic.fetch_sub(1, Ordering::SeqCst);
            if !l.push(c.clone()) {
                // The listener closed during the handshake: nobody will accept this one.
                let mut t = lock(&c.tcb);
                let rst = t.abort(TcpError::Aborted).then(|| t.rst_for_abort());
                self.send_after(c, t, rst);
                self.remove(c);
            }
        }
    }

    /// Forgets a closed connection once no application handle needs it.
    pub(crate) fn reap(&self, c: &Arc<Conn>) {
        let unowned = !c.owned.load(Ordering::SeqCst);
        let app_done = lock(&c.tcb).app_closed();
        if unowned || app_done {
            if let (Some(l), false) = (&c.listener, c.handed_over.load(Ordering::SeqCst)) {
                l.embryonic.fetch_sub(1, Ordering::SeqCst);
                c.handed_over.store(true, Ordering::SeqCst);
            }
        }
        // A closed connection leaves the lookup table at once, owned or not (FreeBSD's
        // in_pcbdrop): later segments for its tuple find no connection and get the RST of
        // RFC 9293 §3.10.7.1, and netstat no longer lists it. Its socket keeps the error.
        self.remove(c);
    }
}
