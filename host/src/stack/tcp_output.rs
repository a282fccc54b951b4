//! What to send (FreeBSD's `tcp_output.c`): the connection decides its
//! segments — SYN options, data within the windows and Nagle's rule, TSO
//! bursts sized as FreeBSD sizes them, window updates, probes, FIN — and the
//! stack turns them into frames on the connection's TX queue, with the
//! connection's lock released before anything reaches the driver.

use std::net::SocketAddr;
use std::sync::MutexGuard;
use std::time::Instant;

use nic_tcp::options::TcpOptions;
use nic_tcp::repr::TCP_HDR_LEN;

use super::iface::Iface;
use super::in_pcb::{Conn, TxPlace};
use super::route::Route;
use crate::sync::{bump, lock};
use super::tcb::*;
use super::vnet::Stack;
use crate::net::tcp::{tso_plan, TH_ACK, TH_FIN, TH_PUSH, TH_SYN};
use crate::net::{tcp_output_segment, tcp_output_tso, LinkOut};
use crate::offload;

impl Stack {
    /// Lets a connection produce what it has to send, then sends it — the
    /// connection's lock released before anything reaches the driver.
    pub(crate) fn conn_output(&self, c: &Conn, mut t: MutexGuard<'_, Tcb>) {
        let segs = match self.path(&c.route, c.remote.ip()) {
            Some(p) => t.output(Instant::now(), &p),
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

    /// Builds frames for `segs` from `local` to `remote` and queues them on the route's
    /// interface, on the TX queue of the flow's RSS queue pair. `place` is the connection's
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
        let link = LinkOut { dst: [0; 6], src: ifnet.if_lladdr, vlan: None };
        let mut frames = Vec::new();
        for s in segs {
            let Some(ip) = iface.ip_out(local.ip(), remote.ip()) else { continue };
            let seg = s.repr(local.port(), remote.port());
            let mut st = lock(&self.inner.stats);
            let r = if s.tso_segsz > 0 {
                tcp_output_tso(&ifnet, &seg, &ip, s.tso_segsz, &link, &mut st)
            } else {
                tcp_output_segment(&ifnet, &seg, &ip, &link, &mut st)
            };
            drop(st);
            match r {
                Ok(m) if s.tso_segsz > 0 => match offload::tso_or_gso(m, ifnet.if_hwassist, ifnet.if_capenable) {
                    Ok((ms, _)) => frames.extend(ms),
                    Err(e) => {
                        log::warn!("{}: GSO refused a burst: {e}", iface.name);
                        bump(&self.inner.counters.output_errors);
                    }
                },
                Ok(m) => frames.push(m),
                Err(e) => {
                    log::warn!("{}: output refused a segment: {e}", iface.name);
                    bump(&self.inner.counters.output_errors);
                }
            }
        }
        let (q, hash, rsstype) = self.tx_queue_of(&iface, local, remote, place.as_deref_mut());
        for f in &mut frames {
            // FreeBSD's inp_flowid on the way out: the driver-independent record of the flow.
            f.pkthdr.flowid = hash;
            f.pkthdr.rsstype = rsstype;
        }
        if let (Some(ticket), Some(p)) = (self.l2_output_on(&iface, route.nexthop, frames, Some(q)), place) {
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

impl Tcb {
    pub(super) fn syn_options(&self) -> TcpOptions {
        let mss = self.pmtu.saturating_sub(self.ip_hlen + TCP_HDR_LEN as u32).min(65535) as u16;
        // Offer scaling in a SYN; in a SYN-ACK only when the peer offered it (RFC 7323 §2.2).
        let ws = self.state == TcpState::SynSent || self.ws_ok;
        TcpOptions { mss: Some(mss), window_scale: ws.then_some(self.rcv_scale_offer), ..Default::default() }
    }

    /// The segments to send now, given what the path allows. Updates the
    /// send state as if they were sent (the caller must send them all).
    pub fn output(&mut self, now: Instant, path: &PathInfo) -> Vec<SegOut> {
        let mut out = Vec::new();
        if let Some(r) = self.pending_rst.take() {
            out.push(r);
            if self.state == TcpState::Closed {
                return out;
            }
        }
        if path.mtu != self.pmtu && path.mtu < self.pmtu {
            self.mtu_changed(path.mtu);
        }
        match self.state {
            TcpState::Closed | TcpState::TimeWait if !self.ack_now => return out,
            TcpState::Closed => return out,
            TcpState::SynReceived if self.snd_nxt != self.iss && self.ack_now => {
                // Simultaneous open: the peer's SYN-ACK needs our ACK to finish the handshake.
                let win = self.rcv_space().min(65535) as u16;
                out.push(SegOut { seq: self.snd_nxt, ack: self.rcv_nxt, flags: TH_ACK, window: win, ..Tcb::empty() });
                self.ack_done();
                return out;
            }
            TcpState::SynSent | TcpState::SynReceived => {
                if self.snd_nxt == self.iss {
                    let mut flags = TH_SYN;
                    let mut ack = 0;
                    if self.state == TcpState::SynReceived {
                        flags |= TH_ACK;
                        ack = self.rcv_nxt;
                    }
                    // The window in a SYN is never scaled.
                    let win = self.rcv_space().min(65535) as u16;
                    out.push(SegOut {
                        seq: self.iss,
                        ack,
                        flags,
                        window: win,
                        options: self.syn_options(),
                        payload: Vec::new(),
                        tso_segsz: 0,
                    });
                    if self.snd_max != self.iss {
                        self.stats.rexmit_segs += 1;
                    } else {
                        self.rtt_timed = Some((self.iss, now));
                    }
                    self.snd_nxt = self.iss.wrapping_add(1);
                    self.snd_max = self.snd_nxt;
                    if self.t_rexmt.is_none() {
                        self.start_rexmt(now);
                    }
                    self.stats.segs_out += 1;
                }
                return out;
            }
            _ => {}
        }
        if self.rexmit_one {
            self.rexmit_one = false;
            if let Some(s) = self.data_segment(self.snd_una, self.t_maxseg as usize) {
                self.push_seg(&mut out, s, now);
            }
        }
        loop {
            let off = self.snd_nxt.wrapping_sub(self.snd_buf_seq) as usize;
            let avail = self.sndbuf.len().saturating_sub(off);
            let in_flight = self.snd_nxt.wrapping_sub(self.snd_una);
            let wnd = self.snd_wnd.min(self.ccv.cwnd);
            let mut usable = wnd.saturating_sub(in_flight) as usize;
            // A probe or the override timeout (RFC 9293 §3.8.6.2.1 (4)): send what fits, at least a byte.
            let forced = std::mem::take(&mut self.force_one);
            if forced {
                usable = usable.max(1);
            }
            let fin_pending = self.fin_seq().is_some_and(|f| seq_le(self.snd_nxt, f));
            let len = avail.min(usable);
            let mss = self.t_maxseg as usize;
            if len == 0 {
                if fin_pending && avail == 0 {
                    match self.data_segment(self.snd_nxt, 0) {
                        Some(s) => self.push_seg(&mut out, s, now),
                        None => break,
                    }
                    continue;
                }
                self.arm_persist(avail, now);
                break;
            }
            // Nagle (RFC 896 / RFC 9293 §3.7.4): a short segment waits while data is unacknowledged,
            // unless it empties the buffer with nothing in flight.
            // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): a short segment goes only
            // when it is all there is, or at least half the largest window the peer offered.
            let half_window = self.max_sndwnd > 0 && len >= (self.max_sndwnd / 2) as usize;
            if !forced && len < mss && len < avail && !half_window {
                self.arm_persist(avail, now);
                break;
            }
            if !forced && len < mss && self.cfg.nagle && in_flight > 0 && !fin_pending {
                break;
            }
            let plan = tso_plan(path.tso_max, len, mss, 0, path.link_hlen as usize, path.ip_hlen as usize, path.tso);
            let Some(mut s) = self.data_segment(self.snd_nxt, plan.len) else { break };
            if plan.tso {
                s.tso_segsz = plan.tso_segsz;
                self.stats.tso_bursts += 1;
            }
            self.push_seg(&mut out, s, now);
        }
        if out.is_empty() && self.ack_now {
            let win = self.window_field();
            out.push(SegOut {
                seq: self.snd_nxt,
                ack: self.rcv_nxt,
                flags: TH_ACK,
                window: win,
                options: TcpOptions::default(),
                payload: Vec::new(),
                tso_segsz: 0,
            });
            self.stats.segs_out += 1;
            self.ack_done();
        }
        out
    }

    /// Data waits, nothing is in flight and no timer would ever resend: the
    /// persist timer guarantees a probe (zero window) or the override send (a
    /// window too small to fill), so a lost window update cannot stall us.
    pub(super) fn arm_persist(&mut self, avail: usize, now: Instant) {
        if avail > 0 && self.snd_una == self.snd_max && self.t_rexmt.is_none() && self.t_persist.is_none() {
            self.t_persist = Some(now + self.backoff_rto().max(self.cfg.rto_min));
        }
    }

    pub(super) fn ack_done(&mut self) {
        self.ack_now = false;
        self.delack_segs = 0;
        self.t_delack = None;
    }

    /// A segment of up to `len` payload bytes at `seq` (with FIN when it reaches the end after shutdown).
    pub(super) fn data_segment(&mut self, seq: u32, len: usize) -> Option<SegOut> {
        let off = seq.wrapping_sub(self.snd_buf_seq) as usize;
        if off > self.sndbuf.len() {
            return None;
        }
        let n = len.min(self.sndbuf.len() - off);
        let payload: Vec<u8> = self.sndbuf.range(off..off + n).copied().collect();
        let end = seq.wrapping_add(n as u32);
        let mut flags = TH_ACK;
        if self.fin_seq() == Some(end) {
            flags |= TH_FIN;
        }
        if n > 0 && off + n == self.sndbuf.len() {
            flags |= TH_PUSH;
        }
        if n == 0 && flags & TH_FIN == 0 {
            return None;
        }
        let win = self.window_field();
        Some(SegOut { seq, ack: self.rcv_nxt, flags, window: win, options: TcpOptions::default(), payload, tso_segsz: 0 })
    }

    pub(super) fn push_seg(&mut self, out: &mut Vec<SegOut>, s: SegOut, now: Instant) {
        let len = s.payload.len() as u32 + (s.flags & TH_FIN != 0) as u32;
        let end = s.seq.wrapping_add(len);
        if seq_lt(s.seq, self.snd_max) {
            // Go-back after a timeout, a fast retransmit, or a partial ACK's hole.
            self.stats.rexmit_segs += 1;
        } else {
            self.stats.bytes_out += s.payload.len() as u64;
            if self.rtt_timed.is_none() && len > 0 {
                self.rtt_timed = Some((s.seq, now));
            }
        }
        if seq_le(s.seq, self.snd_nxt) && seq_gt(end, self.snd_nxt) {
            self.snd_nxt = end;
        }
        if seq_gt(self.snd_nxt, self.snd_max) {
            self.snd_max = self.snd_nxt;
        }
        if len > 0 && self.t_rexmt.is_none() {
            self.start_rexmt(now);
        }
        self.stats.segs_out += 1;
        self.ack_done();
        out.push(s);
    }

    pub(super) fn empty() -> SegOut {
        SegOut { seq: 0, ack: 0, flags: 0, window: 0, options: TcpOptions::default(), payload: Vec::new(), tso_segsz: 0 }
    }
}
