//! Transmit queues (FreeBSD's per-ring `buf_ring` in front of `if_transmit`):
//! one software queue per TX ring, frames ticketed in order so a connection
//! moving queues can wait for what it left behind, pushed to the ring in
//! batches, and finished in software when the interface's offloads changed
//! after they were built.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::iface::Iface;
use crate::sync::{bump, lock};
use super::vnet::Stack;
use crate::mbuf::Mbuf;
use crate::offload;

impl Stack {
    /// Queues finished frames that belong to no connection, each on the TX queue of its hash
    /// (queue 0 without one), and pushes what fits onto the rings.
    pub(crate) fn enqueue(&self, iface: &Iface, frames: Vec<Mbuf>) {
        let mut run: Vec<Mbuf> = Vec::new();
        let mut run_q = 0;
        for f in frames {
            let q = iface.queue_of_frame(&f);
            if q != run_q && !run.is_empty() {
                self.enqueue_on(iface, run_q, std::mem::take(&mut run));
            }
            run_q = q;
            run.push(f);
        }
        if !run.is_empty() {
            self.enqueue_on(iface, run_q, run);
        }
    }

    /// Queues `frames` on TX queue `q` (a queue not in use means 0) and pushes what fits onto
    /// its ring. Returns the ticket of the last frame queued. A departed interface frees them,
    /// counted in `purged`; a full queue drops them, counted in `txq_drops`.
    pub(crate) fn enqueue_on(&self, iface: &Iface, q: u16, frames: Vec<Mbuf>) -> Option<u64> {
        let q = if (q as usize) < iface.snd.len() { q } else { 0 };
        let ticket = {
            let mut s = lock(&iface.snd[q as usize]);
            if iface.departed.load(Ordering::SeqCst) {
                self.inner.counters.purged.fetch_add(frames.len() as u64, Ordering::Relaxed);
                return None;
            }
            let mut last = None;
            for f in frames {
                if s.frames.len() >= self.inner.cfg.txq_max {
                    bump(&self.inner.counters.txq_drops);
                    continue;
                }
                s.pushed += 1;
                let t = s.pushed;
                s.frames.push_back(f);
                s.tickets.push_back(t);
                last = Some(t);
            }
            last
        };
        self.flush_q(iface, q);
        ticket
    }

    /// Moves frames from TX queue `q` to its ring (reclaiming completions when it is full).
    /// Takes that queue's lock and its ring's, nothing common to other queues.
    pub(crate) fn flush_q(&self, iface: &Iface, q: u16) {
        let Some(snd) = iface.snd.get(q as usize) else { return };
        if iface.departed.load(Ordering::SeqCst) {
            return;
        }
        let ring = iface.drv.queue(q);
        let mut g = lock(snd);
        let s = &mut *g;
        if s.frames.is_empty() || iface.departed.load(Ordering::SeqCst) {
            return;
        }
        // Frames built before a capability change may ask for an offload that is now
        // off: finish those in software (the delayed checksum / GSO path) instead of
        // letting the driver refuse them. A burst cut in software keeps its ticket.
        let (assist, capen) = iface.drv.offload_state();
        if s.frames.iter().any(|m| m.pkthdr.csum_flags & !assist != 0) {
            let old: Vec<(Mbuf, u64)> = s.frames.drain(..).zip(s.tickets.drain(..)).collect();
            for (m, t) in old {
                let (flowid, rsstype) = (m.pkthdr.flowid, m.pkthdr.rsstype);
                let redo: Vec<Mbuf> = if m.pkthdr.csum_flags & !assist == 0 {
                    vec![m]
                } else if m.pkthdr.csum_flags & nic_abi::csum::CSUM_TSO != 0 {
                    match offload::tso_or_gso(m, assist, capen) {
                        Ok((ms, _)) => ms,
                        Err(_) => {
                            bump(&self.inner.counters.output_errors);
                            vec![]
                        }
                    }
                } else {
                    match offload::software_finish(&m) {
                        Ok(bytes) => {
                            let mut f = Mbuf::from_vec(bytes);
                            f.pkthdr.l2hlen = m.pkthdr.l2hlen;
                            vec![f]
                        }
                        Err(_) => {
                            bump(&self.inner.counters.output_errors);
                            vec![]
                        }
                    }
                };
                for mut f in redo {
                    (f.pkthdr.flowid, f.pkthdr.rsstype) = (flowid, rsstype);
                    s.frames.push_back(f);
                    s.tickets.push_back(t);
                }
            }
        }
        for _ in 0..2 {
            if s.frames.is_empty() {
                break;
            }
            let before = s.frames.len();
            let r = ring.tx_batch(&mut s.frames);
            s.tickets.drain(..before - s.frames.len());
            match r {
                Ok(_) => {}
                Err(crate::driver::Error::TxRejected(r)) => {
                    // The driver refused the frame at the front: drop it, counted, and go on.
                    log::warn!("{}: driver refused a frame: {r}", iface.name);
                    s.frames.pop_front();
                    s.tickets.pop_front();
                    bump(&self.inner.counters.output_errors);
                }
                Err(crate::driver::Error::Detached) => break,
                Err(e) => {
                    log::warn!("{}: transmit on queue {q}: {e}", iface.name);
                    bump(&self.inner.counters.driver_errors);
                    break;
                }
            }
            if s.frames.is_empty() {
                break;
            }
            if ring.tx_reclaim().is_err() {
                break;
            }
        }
    }

    /// Waits until every frame queued on TX queue `q` with a ticket up to `ticket` has left the
    /// software queue, and the NIC has completed every packet posted to ring `q` up to that
    /// moment (completions are in order, and a completed packet is in the NIC's one in-order
    /// transmit path). Then nothing of a connection whose last frame on `q` had `ticket` can be
    /// overtaken by what it sends on another queue. Flushes and reclaims `q` meanwhile (its
    /// worker may be busy); bounded by [`StackConfig::txq_move_wait`], after which it gives up,
    /// counted.
    pub(crate) fn txq_barrier(&self, iface: &Iface, q: u16, ticket: u64) {
        let Some(snd) = iface.snd.get(q as usize) else { return };
        let ring = iface.drv.queue(q);
        let wait = self.inner.cfg.txq_move_wait;
        let deadline = Instant::now() + wait;
        let pause = || std::thread::sleep(Duration::from_micros(50));
        let gone = || iface.departed.load(Ordering::SeqCst);
        let mark = loop {
            self.flush_q(iface, q);
            {
                let s = lock(snd);
                if s.tickets.front().is_none_or(|t| *t > ticket) {
                    // Read under the queue's lock: everything that left it is counted in `posted`.
                    break Some(ring.tx_progress().posted);
                }
            }
            if gone() || Instant::now() >= deadline {
                break None;
            }
            let _ = ring.tx_reclaim();
            pause();
        };
        let drained = mark.is_some_and(|mark| loop {
            if ring.tx_progress().done >= mark {
                break true;
            }
            if gone() || Instant::now() >= deadline {
                break false;
            }
            let _ = ring.tx_reclaim();
            pause();
        });
        if !drained && !gone() {
            log::warn!("{}: TX queue {q} did not drain in {wait:?} for a connection moving queues", iface.name);
            bump(&self.inner.counters.txq_move_timeouts);
        }
    }
}
