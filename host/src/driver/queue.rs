//! One queue pair: a TX ring and an RX ring, each with its own completion
//! queue, doorbell, counters and lock, and [`Queue`], the handle one worker
//! thread drives it through.
//!
//! Register blocks: TX queue `q` at `regs::txq(q)`, RX queue `q` at
//! `regs::rxq(q)` (nic_abi::regs, "Ring protocol"). Interrupt causes
//! `irq_tx(q)` and `irq_rx(q)`; the queue's interrupt vector is
//! `q % vectors` of the backend.
//!
//! Locking: a queue's TX ring and its RX ring each sit behind their own
//! mutex, and nothing here takes another queue's. Lock order, where two are
//! held: a TX ring, then the driver's `Ifnet` (read); an RX ring, then the
//! `Ifnet` (read). Neither is ever held across a device interrupt wait.

use std::collections::VecDeque;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use nic_abi::csum::CSUM_TSO;
use nic_abi::desc::{Completion, RxDesc, TxDesc, STATUS_CODE, TXD_MORE};
use nic_abi::ifcap::{IFCAP_RXCSUM, IFCAP_RXCSUM_IPV6};
use nic_abi::regs::{ctrl, queue, rxq, txq};
use nic_abi::status::Status;
use zerocopy::IntoBytes;

use super::ring::{read_completion, Ring};
use super::{check_tso, check_tx, lock, validate, CompletionError, Counters, Driver, Error, Expect, PollResult};
use super::{TsoLimits, TxError, TxReject};
use crate::dev::{DevError, Device, DmaBuf, DmaRegion};
use crate::mbuf::Mbuf;

/// A TX ring with its completion queue and one DMA buffer per slot.
pub(super) struct TxQueue {
    ring: Ring,
    descs: DmaBuf,
    cq: DmaBuf,
    bufs: Vec<DmaBuf>,
    lens: Vec<u32>,
    /// The slot holds a packet's last descriptor (packets are counted there).
    eop: Vec<bool>,
    /// The last value written to TAIL.
    notified: u16,
    /// Queue number and this ring's register block.
    q: u32,
    base: u32,
    counters: Counters,
    /// Packets whose last descriptor completed, whatever the status (free-running).
    done: u64,
}

/// An RX ring with its completion queue and one DMA buffer per slot.
pub(super) struct RxQueue {
    ring: Ring,
    descs: DmaBuf,
    cq: DmaBuf,
    bufs: Vec<DmaBuf>,
    buf_len: usize,
    /// This ring's register block.
    base: u32,
    counters: Counters,
}

/// Queue pair `q`'s state in the driver. `None` in a ring's slot: the driver was shut down and
/// the ring's memory went back to the region.
pub(super) struct QueuePair {
    pub tx: Mutex<Option<TxQueue>>,
    pub rx: Mutex<Option<RxQueue>>,
    /// Waits of this queue ended by an interrupt.
    pub irq_wakeups: AtomicU64,
    /// Waits of this queue that timed out.
    pub wait_timeouts: AtomicU64,
}

/// Whether the completion at the consumer index of `cq` is this lap's (a peek, no register access).
fn ready(cq: &DmaBuf, ring: &Ring) -> Result<bool, Error> {
    let c = read_completion(cq, ring.slot(ring.cons))?;
    let phase = c.status & nic_abi::desc::STATUS_PHASE != 0;
    Ok(phase == nic_abi::desc::phase_for(ring.cons, ring.size_log2))
}

/// A ring of `1 << size_log2` descriptors of `desc_len` bytes, its completion queue (both
/// zeroed: no completion slot carries the first lap's phase) and one buffer of `buf_len` bytes
/// per slot: what a TX and an RX queue both start from.
fn alloc_ring(
    dma: &std::sync::Arc<DmaRegion>,
    size_log2: u32,
    desc_len: usize,
    buf_len: usize,
) -> Result<(Ring, DmaBuf, DmaBuf, Vec<DmaBuf>), DevError> {
    let ring = Ring::new(size_log2);
    let n = ring.size();
    let descs = dma.alloc(n * desc_len)?;
    descs.zero();
    let cq = dma.alloc(n * size_of::<Completion>())?;
    cq.zero();
    let bufs = (0..n).map(|_| dma.alloc(buf_len)).collect::<Result<Vec<_>, _>>()?;
    Ok((ring, descs, cq, bufs))
}

impl TxQueue {
    /// Ring, completion queue and buffers of `buf_len` bytes for TX queue `q`.
    pub fn new(dma: &std::sync::Arc<DmaRegion>, q: u32, size_log2: u32, buf_len: usize) -> Result<Self, DevError> {
        let (ring, descs, cq, bufs) = alloc_ring(dma, size_log2, size_of::<TxDesc>(), buf_len)?;
        let n = ring.size();
        Ok(TxQueue {
            ring,
            descs,
            cq,
            bufs,
            lens: vec![0; n],
            eop: vec![true; n],
            notified: 0,
            q,
            base: txq(q),
            counters: Counters::default(),
            done: 0,
        })
    }

    /// TXQ block: ring base, size, completion queue base, indices at zero.
    pub fn program(&self, dev: &dyn Device) -> Result<(), DevError> {
        super::attach::program_queue(dev, self.base, self.descs.iova(), self.cq.iova(), self.ring.size_log2)
    }

    pub fn outstanding(&self) -> usize {
        self.ring.outstanding()
    }

    /// Places one packet on the ring without ringing the doorbell; `hwassist` is the
    /// interface's `if_hwassist` now.
    fn post(&mut self, drv: &Driver, hwassist: u32, m: Mbuf) -> Result<(), TxError> {
        if m.pkthdr.csum_flags & CSUM_TSO != 0 {
            return self.post_tso(drv, hwassist, m);
        }
        if let Err(reason) = check_tx(&m, hwassist, drv.info.max_frame) {
            self.counters.tx_rejected += 1;
            return Err(TxError { mbuf: m, reason });
        }
        if self.ring.is_full() {
            self.counters.tx_ring_full += 1;
            return Err(TxError { mbuf: m, reason: TxReject::RingFull });
        }
        let idx = self.ring.prod;
        let slot = self.ring.slot(idx);
        let h = m.pkthdr;
        let len = m.len() as u32;
        let buf = &self.bufs[slot];
        let desc = TxDesc {
            addr: buf.iova().into(),
            len: len.into(),
            csum_flags: h.csum_flags.into(),
            l2hlen: h.l2hlen,
            l3hlen: h.l3hlen,
            l4hlen: h.l4hlen,
            flags: 0,
            csum_data: (h.csum_data as u16).into(),
            tso_segsz: 0.into(),
            pkt_len: 0.into(),
            rsvd1: 0.into(),
        };
        let r = buf
            .write_at(0, m.data())
            .and_then(|()| self.descs.write_at(slot * size_of::<TxDesc>(), desc.as_bytes()));
        if let Err(e) = r {
            self.counters.tx_rejected += 1;
            return Err(TxError { mbuf: m, reason: TxReject::Dma(e) });
        }
        self.lens[slot] = len;
        self.eop[slot] = true;
        self.ring.prod = idx.wrapping_add(1);
        self.counters.tx_enqueued += 1;
        Ok(())
    }

    /// Places one TSO burst on the ring as a descriptor chain: the burst is copied into
    /// consecutive slots' buffers (whole beats in all but the last, as the ABI requires), the
    /// first descriptor carrying the request.
    fn post_tso(&mut self, drv: &Driver, hwassist: u32, m: Mbuf) -> Result<(), TxError> {
        let info = &drv.info;
        let piece = self.bufs.first().map_or(0, |b| b.len()) & !(nic_abi::BEAT_BYTES - 1);
        let piece = piece.min(info.tso_max_segsize as usize & !(nic_abi::BEAT_BYTES - 1));
        let limits = TsoLimits {
            max_frame: info.max_frame,
            tso_max: info.tso_max,
            max_descs: (info.tso_max_segs as usize).min(self.ring.size()),
            piece,
        };
        let n = match check_tso(&m, hwassist, &limits) {
            Ok(n) => n,
            Err(reason) => {
                self.counters.tx_rejected += 1;
                return Err(TxError { mbuf: m, reason });
            }
        };
        if self.ring.size() - self.ring.outstanding() < n {
            self.counters.tx_ring_full += 1;
            return Err(TxError { mbuf: m, reason: TxReject::RingFull });
        }
        let h = m.pkthdr;
        let len = m.len();
        for (i, chunk) in m.data().chunks(piece).enumerate() {
            let idx = self.ring.prod.wrapping_add(i as u16);
            let slot = self.ring.slot(idx);
            let buf = &self.bufs[slot];
            let last = i + 1 == n;
            let mut desc = TxDesc {
                addr: buf.iova().into(),
                len: (chunk.len() as u32).into(),
                flags: if last { 0 } else { TXD_MORE },
                ..Default::default()
            };
            if i == 0 {
                desc.csum_flags = h.csum_flags.into();
                desc.l2hlen = h.l2hlen;
                desc.l3hlen = h.l3hlen;
                desc.l4hlen = h.l4hlen;
                desc.csum_data = (h.csum_data as u16).into();
                desc.tso_segsz = h.tso_segsz.into();
                desc.pkt_len = (len as u32).into();
            }
            let r = buf
                .write_at(0, chunk)
                .and_then(|()| self.descs.write_at(slot * size_of::<TxDesc>(), desc.as_bytes()));
            if let Err(e) = r {
                // Nothing is posted until the producer index moves: the slots written so far are simply reused.
                self.counters.tx_rejected += 1;
                return Err(TxError { mbuf: m, reason: TxReject::Dma(e) });
            }
            self.lens[slot] = chunk.len() as u32;
            self.eop[slot] = last;
        }
        self.ring.prod = self.ring.prod.wrapping_add(n as u16);
        self.counters.tx_enqueued += 1;
        self.counters.tx_tso_bursts += 1;
        Ok(())
    }

    /// Rings the doorbell if packets were placed since the last one.
    fn doorbell(&mut self, dev: &dyn Device) -> Result<(), Error> {
        if self.ring.prod == self.notified {
            return Ok(());
        }
        // Descriptor and data stores before the doorbell, also as seen by a device on the bus
        // (wmb before an MMIO write).
        fence(Ordering::SeqCst);
        dev.write32(self.base + queue::TAIL, self.ring.prod as u32)?;
        self.notified = self.ring.prod;
        self.counters.tx_doorbells += 1;
        Ok(())
    }

    /// Consumes completions (counting each status code) and frees their slots; see [`Queue::tx_reclaim`].
    pub fn reclaim(&mut self, drv: &Driver) -> Result<usize, Error> {
        if let Some(why) = drv.wedged.get() {
            return Err(Error::Wedged(why.clone()));
        }
        let mut n = 0;
        let mut failed: Option<Error> = None;
        while self.ring.outstanding() > 0 {
            let idx = self.ring.cons;
            let slot = self.ring.slot(idx);
            let c = match read_completion(&self.cq, slot) {
                Ok(c) => c,
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            };
            let ex = Expect::Tx { index: idx, size_log2: self.ring.size_log2, desc_len: self.lens[slot] };
            let res = validate(&c, &ex);
            if res == Err(CompletionError::NotReady) {
                break;
            }
            if let Err(e @ CompletionError::Index { .. }) = &res {
                // Which descriptor the device finished is unknown: consume nothing, reuse nothing.
                self.counters.count_bad(e);
                failed = Some(drv.wedge(e));
                break;
            }
            *self.counters.tx_status.entry(c.status & STATUS_CODE).or_default() += 1;
            match res {
                Ok(v) if v.status == Status::Ok => {
                    self.counters.tx_packets += self.eop[slot] as u64;
                    self.counters.tx_bytes += v.len as u64;
                }
                Ok(v) => log::warn!(
                    "{}: TX queue {} descriptor {idx} refused by the NIC: {}",
                    drv.ifname(),
                    self.q,
                    v.status.describe()
                ),
                Err(e) => {
                    log::warn!("{}: {e}", drv.ifname());
                    self.counters.count_bad(&e);
                    failed = Some(Error::BadCompletion(e));
                }
            }
            self.done += self.eop[slot] as u64;
            self.ring.cons = idx.wrapping_add(1);
            n += 1;
            if failed.is_some() {
                break;
            }
        }
        // Return the consumed slots whatever happened above, so the device never stalls on them.
        if n > 0 {
            drv.dev.write32(self.base + queue::CQ_HEAD, self.ring.cons as u32)?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    fn ready(&self) -> Result<bool, Error> {
        Ok(self.ring.outstanding() > 0 && ready(&self.cq, &self.ring)?)
    }
}

impl RxQueue {
    /// Ring, completion queue and buffers of `buf_len` bytes for RX queue `q`.
    pub fn new(dma: &std::sync::Arc<DmaRegion>, q: u32, size_log2: u32, buf_len: usize) -> Result<Self, DevError> {
        let (ring, descs, cq, bufs) = alloc_ring(dma, size_log2, size_of::<RxDesc>(), buf_len)?;
        Ok(RxQueue { ring, descs, cq, bufs, buf_len, base: rxq(q), counters: Counters::default() })
    }

    /// RXQ block: ring base, size, completion queue base, indices at zero.
    pub fn program(&self, dev: &dyn Device) -> Result<(), DevError> {
        super::attach::program_queue(dev, self.base, self.descs.iova(), self.cq.iova(), self.ring.size_log2)
    }

    /// Posts every buffer and rings the doorbell once (at attach).
    pub fn fill(&mut self, dev: &dyn Device) -> Result<(), DevError> {
        for _ in 0..self.ring.size() {
            self.post()?;
        }
        self.doorbell(dev)
    }

    fn post(&mut self) -> Result<(), DevError> {
        let idx = self.ring.prod;
        let slot = self.ring.slot(idx);
        let d = RxDesc { addr: self.bufs[slot].iova().into(), len: (self.buf_len as u32).into(), rsvd: 0.into() };
        self.descs.write_at(slot * size_of::<RxDesc>(), d.as_bytes())?;
        self.ring.prod = idx.wrapping_add(1);
        Ok(())
    }

    fn doorbell(&mut self, dev: &dyn Device) -> Result<(), DevError> {
        fence(Ordering::SeqCst);
        dev.write32(self.base + queue::TAIL, self.ring.prod as u32)
    }

    /// Receives up to `budget` frames into `out`; see [`Queue::rx_burst`].
    fn burst(&mut self, drv: &Driver, out: &mut Vec<Mbuf>, budget: usize) -> Result<usize, Error> {
        if let Some(why) = drv.wedged.get() {
            return Err(Error::Wedged(why.clone()));
        }
        let mut n = 0;
        let mut consumed = 0;
        let mut failed: Option<Error> = None;
        let (capenable, rcvif) = {
            let i = drv.ifnet_read();
            (i.if_capenable, i.ifref())
        };
        let rx_csum_on = capenable & (IFCAP_RXCSUM | IFCAP_RXCSUM_IPV6) != 0;
        // At most one lap per burst, so a device that keeps completing with errors cannot keep
        // the caller here forever.
        while n < budget && consumed < self.ring.size() {
            let idx = self.ring.cons;
            let slot = self.ring.slot(idx);
            let c = match read_completion(&self.cq, slot) {
                Ok(c) => c,
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            };
            let ex = Expect::Rx { index: idx, size_log2: self.ring.size_log2, buf_len: self.buf_len };
            match validate(&c, &ex) {
                Err(CompletionError::NotReady) => break,
                Err(e @ CompletionError::Index { .. }) => {
                    // Which buffer the device filled is unknown: consume nothing, repost nothing.
                    self.counters.count_bad(&e);
                    failed = Some(drv.wedge(&e));
                    break;
                }
                Ok(v) if v.status == Status::Ok => {
                    let mut data = vec![0u8; v.len as usize];
                    if let Err(e) = self.bufs[slot].read_at(0, &mut data) {
                        // Not consumed: the next burst retries this completion.
                        failed = Some(e.into());
                        break;
                    }
                    if let Some(e) = v.hash_error(idx) {
                        // The frame is good; only its hash is not: up it goes, without one.
                        log::warn!("{}: {e}", drv.ifname());
                        self.counters.count_bad(&e);
                    }
                    let mut m = Mbuf::from_vec(data);
                    let h = &mut m.pkthdr;
                    if rx_csum_on {
                        h.csum_flags = v.csum_flags;
                        h.csum_data = v.csum_data as u32;
                    }
                    h.flowid = v.flowid;
                    h.rsstype = v.rsstype;
                    h.rcvif = Some(rcvif);
                    self.counters.rx_packets += 1;
                    self.counters.rx_bytes += v.len as u64;
                    out.push(m);
                    n += 1;
                }
                Ok(v) => {
                    *self.counters.rx_status.entry(c.status & STATUS_CODE).or_default() += 1;
                    log::warn!("{}: RX completion {idx}: {}; frame dropped", drv.ifname(), v.status.describe());
                }
                Err(e) => {
                    log::warn!("{}: {e}", drv.ifname());
                    self.counters.count_bad(&e);
                    failed = Some(Error::BadCompletion(e));
                }
            }
            self.ring.cons = idx.wrapping_add(1);
            consumed += 1;
            // The buffer of the slot just consumed is free again: post it. (Buffers in flight are
            // exactly those of [cons, prod), so the slot of `prod` is always a free one, even if
            // an earlier post failed.)
            if let Err(e) = self.post() {
                failed.get_or_insert(e.into());
            }
            if failed.is_some() {
                break;
            }
        }
        if consumed > 0 {
            drv.dev.write32(self.base + queue::CQ_HEAD, self.ring.cons as u32)?;
            self.doorbell(&*drv.dev)?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    fn ready(&self) -> Result<bool, Error> {
        ready(&self.cq, &self.ring)
    }
}

/// How far a TX queue has got: packets posted and packets completed, both free-running since
/// attach. A packet posted when `posted` read `p` has been fetched by the NIC once `done >= p`
/// (completions are in order), which is what the stack waits for before a connection moves
/// to another TX queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxProgress {
    /// Packets placed on the ring (a TSO burst is one).
    pub posted: u64,
    /// Packets whose completion was consumed, whatever the status.
    pub done: u64,
}

/// Queue pair `q` of a [`Driver`]: what one worker thread (and the senders that pick this
/// queue) drives. Every method takes only this queue's TX or RX lock, so the workers of
/// different queues never wait for each other; get one with [`Driver::queue`].
#[derive(Clone, Copy)]
pub struct Queue<'a> {
    pub(super) drv: &'a Driver,
    pub(super) q: u16,
}

impl std::fmt::Debug for Queue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Queue({}/{})", self.q, self.drv.num_queues())
    }
}

impl<'a> Queue<'a> {
    fn pair(&self) -> &'a QueuePair {
        &self.drv.queues[self.q as usize]
    }

    fn tx_lock(&self) -> MutexGuard<'a, Option<TxQueue>> {
        lock(&self.pair().tx)
    }

    fn rx_lock(&self) -> MutexGuard<'a, Option<RxQueue>> {
        lock(&self.pair().rx)
    }

    /// This queue pair's number.
    pub fn index(&self) -> u16 {
        self.q
    }

    /// The interrupt vector this queue waits on (`q % vectors`).
    pub fn vector(&self) -> u32 {
        self.drv.vector_of(self.q)
    }

    /// Places one frame (or TSO burst) on this TX ring, copying it into the slots' DMA buffers,
    /// without ringing the doorbell; [`Queue::tx_flush`] rings it once per batch. A refused
    /// frame comes back in the error.
    pub fn tx(&self, m: Mbuf) -> Result<(), TxError> {
        let mut g = self.tx_lock();
        match g.as_mut() {
            Some(t) => t.post(self.drv, self.drv.hwassist(), m),
            None => Err(TxError { mbuf: m, reason: TxReject::Detached }),
        }
    }

    /// Rings this TX queue's doorbell if frames were placed since the last one.
    pub fn tx_flush(&self) -> Result<(), Error> {
        match self.tx_lock().as_mut() {
            Some(t) => t.doorbell(&*self.drv.dev),
            None => Err(Error::Detached),
        }
    }

    /// Transmits from the front of `q` until it is empty or the ring is full, with one
    /// doorbell. A refused frame stays at the front and its reason is returned (after the
    /// doorbell for the ones before it).
    pub fn tx_batch(&self, q: &mut VecDeque<Mbuf>) -> Result<usize, Error> {
        let mut g = self.tx_lock();
        let t = g.as_mut().ok_or(Error::Detached)?;
        let hwassist = self.drv.hwassist();
        let mut n = 0;
        let mut refused = None;
        while let Some(m) = q.pop_front() {
            match t.post(self.drv, hwassist, m) {
                Ok(()) => n += 1,
                Err(TxError { mbuf, reason }) => {
                    q.push_front(mbuf);
                    if reason != TxReject::RingFull {
                        refused = Some(reason);
                    }
                    break;
                }
            }
        }
        t.doorbell(&*self.drv.dev)?;
        match refused {
            Some(r) => Err(Error::TxRejected(r)),
            None => Ok(n),
        }
    }

    /// Frames on this TX ring not yet completed (0 once detached).
    pub fn tx_in_flight(&self) -> usize {
        self.tx_lock().as_ref().map_or(0, |t| t.outstanding())
    }

    /// Packets posted and completed on this TX queue so far.
    pub fn tx_progress(&self) -> TxProgress {
        self.tx_lock()
            .as_ref()
            .map_or(TxProgress::default(), |t| TxProgress { posted: t.counters.tx_enqueued, done: t.done })
    }

    /// Consumes this TX queue's completions (counting each status code) and frees their slots.
    ///
    /// A completion that fails validation is still consumed (its slot's buffer belongs to the
    /// driver, so nothing is lost), counted, and returned as [`Error::BadCompletion`] after the
    /// completions before it were handled.
    pub fn tx_reclaim(&self) -> Result<usize, Error> {
        match self.tx_lock().as_mut() {
            Some(t) => t.reclaim(self.drv),
            None => Err(Error::Detached),
        }
    }

    /// Receives up to `budget` frames of this RX queue into `out`, reposting each buffer at
    /// once (the ring stays full; one CQ_HEAD and one TAIL write per burst).
    ///
    /// Each frame's packet header carries the completion's checksum results, the RSS hash
    /// (`flowid`, `rsstype`; none when the device wrote an invalid one, which is counted in
    /// `bad_rss`) and the interface. A completion that fails validation is consumed, its
    /// buffer reposted, counted, and returned as [`Error::BadCompletion`] after the frames
    /// before it were delivered into `out`.
    pub fn rx_burst(&self, out: &mut Vec<Mbuf>, budget: usize) -> Result<usize, Error> {
        match self.rx_lock().as_mut() {
            Some(r) => r.burst(self.drv, out, budget),
            None => Err(Error::Detached),
        }
    }

    /// Reclaims this queue's TX completions, then receives up to `budget` frames.
    pub fn poll(&self, out: &mut Vec<Mbuf>, budget: usize) -> Result<PollResult, Error> {
        let tx_reclaimed = self.tx_reclaim()?;
        let rx = self.rx_burst(out, budget)?;
        Ok(PollResult { tx_reclaimed, rx })
    }

    /// Whether a completion waits in this queue pair (a peek at memory, no register access).
    pub fn work_pending(&self) -> Result<bool, Error> {
        let tx = match self.tx_lock().as_ref() {
            Some(t) => t.ready()?,
            None => return Err(Error::Detached),
        };
        if tx {
            return Ok(true);
        }
        match self.rx_lock().as_ref() {
            Some(r) => r.ready(),
            None => Err(Error::Detached),
        }
    }

    /// Clears this queue pair's interrupt causes (write 1 to clear, its own bits only) after a
    /// wait done outside the driver, so its line can fire again.
    pub fn ack_interrupt(&self) -> Result<(), Error> {
        if self.drv.uses_interrupts() {
            self.drv.ack_queues(ctrl::irq_pair(self.q as u32))?;
        }
        Ok(())
    }

    /// Waits until a completion waits in this queue pair or `timeout` passes; `Ok(true)` when
    /// there is work. Sleeps on this queue's interrupt vector (acknowledging the causes of the
    /// queues on it), without any lock of the driver held; polls memory with a growing pause
    /// when the backend has no interrupts, so an idle wait does not spin a shared core.
    pub fn wait(&self, timeout: Duration) -> Result<bool, Error> {
        self.drv.wait_vector(self.vector(), self.pair(), timeout, || self.work_pending())
    }

    /// This queue pair's counters.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        if let Some(t) = self.tx_lock().as_ref() {
            c.merge(&t.counters);
        }
        if let Some(r) = self.rx_lock().as_ref() {
            c.merge(&r.counters);
        }
        c.irq_wakeups += self.pair().irq_wakeups.load(Ordering::Relaxed);
        c.wait_timeouts += self.pair().wait_timeouts.load(Ordering::Relaxed);
        c
    }
}
