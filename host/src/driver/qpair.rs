//! A queue pair's state (rings, completion queues, one DMA buffer per slot,
//! counters) and the work on it that needs no more of the driver than
//! [`QueueHost`]: posting frames and TSO bursts, reclaiming TX completions,
//! taking RX completions up. The per-queue handle workers use is `queue.rs`.

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Mutex, RwLockReadGuard};

use nic_abi::csum::CSUM_TSO;
use nic_abi::desc::{Completion, RxDesc, TxDesc, STATUS_CODE, TXD_MORE};
use nic_abi::ifcap::{IFCAP_RXCSUM, IFCAP_RXCSUM_IPV6};
use nic_abi::regs::{queue, queue as qreg, rxq, txq};
use nic_abi::status::Status;
use zerocopy::IntoBytes;

use super::counters::Counters;
use super::cpl::{validate, CompletionError, Expect};
use super::error::{Error, TxError, TxReject};
use super::idblock::DeviceInfo;
use super::ring::{read_completion, Ring};
use super::tx_check::{check_tso, check_tx, TsoLimits};
use crate::dev::{DevError, Device, DmaBuf, DmaRegion};
use crate::ifnet::Ifnet;
use crate::mbuf::Mbuf;

/// What a queue pair needs of its driver while it posts, reclaims and receives: the ID
/// block, the device, the interface's name and offload state, and the wedge latch. A trait so
/// this file needs nothing from the driver's own (the `Driver` implements it); monomorphised,
/// so it costs nothing.
pub(super) trait QueueHost {
    /// The ID block, decoded.
    fn info(&self) -> &DeviceInfo;
    /// The device.
    fn dev(&self) -> &dyn Device;
    /// Why the driver stopped trusting the NIC, once it has.
    fn wedged(&self) -> Option<&String>;
    /// Latches the wedge for `e` and returns the error to report.
    fn wedge(&self, e: &CompletionError) -> Error;
    /// The interface's name, for messages.
    fn ifname(&self) -> String;
    /// The interface's state now (receive offloads).
    fn ifnet_read(&self) -> RwLockReadGuard<'_, Ifnet>;
}

/// A TX ring with its completion queue and one DMA buffer per slot.
pub(super) struct TxQueue {
    pub(super) ring: Ring,
    pub(super) descs: DmaBuf,
    pub(super) cq: DmaBuf,
    pub(super) bufs: Vec<DmaBuf>,
    pub(super) lens: Vec<u32>,
    /// The slot holds a packet's last descriptor (packets are counted there).
    pub(super) eop: Vec<bool>,
    /// The last value written to TAIL.
    pub(super) notified: u16,
    /// Queue number and this ring's register block.
    pub(super) q: u32,
    pub(super) base: u32,
    pub(super) counters: Counters,
    /// Packets whose last descriptor completed, whatever the status (free-running).
    pub(super) done: u64,
}

/// An RX ring with its completion queue and one DMA buffer per slot.
pub(super) struct RxQueue {
    pub(super) ring: Ring,
    pub(super) descs: DmaBuf,
    pub(super) cq: DmaBuf,
    pub(super) bufs: Vec<DmaBuf>,
    pub(super) buf_len: usize,
    /// This ring's register block.
    pub(super) base: u32,
    pub(super) counters: Counters,
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
pub(super) fn ready(cq: &DmaBuf, ring: &Ring) -> Result<bool, Error> {
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

/// Programs one queue block: ring base, size, completion queue base, indices at zero.
pub(super) fn program_queue(dev: &dyn Device, q: u32, ring: u64, cq: u64, size_log2: u32) -> Result<(), DevError> {
    dev.write32(q + qreg::BASE_LO, ring as u32)?;
    dev.write32(q + qreg::BASE_HI, (ring >> 32) as u32)?;
    dev.write32(q + qreg::SIZE_LOG2, size_log2)?;
    dev.write32(q + qreg::CQ_BASE_LO, cq as u32)?;
    dev.write32(q + qreg::CQ_BASE_HI, (cq >> 32) as u32)?;
    dev.write32(q + qreg::CQ_HEAD, 0)?;
    Ok(())
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
        program_queue(dev, self.base, self.descs.iova(), self.cq.iova(), self.ring.size_log2)
    }

    pub fn outstanding(&self) -> usize {
        self.ring.outstanding()
    }

    /// Places one packet on the ring without ringing the doorbell; `hwassist` is the
    /// interface's `if_hwassist` now.
    pub(super) fn post<H: QueueHost>(&mut self, drv: &H, hwassist: u32, m: Mbuf) -> Result<(), TxError> {
        if m.pkthdr.csum_flags & CSUM_TSO != 0 {
            return self.post_tso(drv, hwassist, m);
        }
        if let Err(reason) = check_tx(&m, hwassist, drv.info().max_frame) {
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
    pub(super) fn post_tso<H: QueueHost>(&mut self, drv: &H, hwassist: u32, m: Mbuf) -> Result<(), TxError> {
        let info = drv.info();
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
    pub(super) fn doorbell(&mut self, dev: &dyn Device) -> Result<(), Error> {
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
    pub fn reclaim<H: QueueHost>(&mut self, drv: &H) -> Result<usize, Error> {
        if let Some(why) = drv.wedged() {
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
            drv.dev().write32(self.base + queue::CQ_HEAD, self.ring.cons as u32)?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    pub(super) fn ready(&self) -> Result<bool, Error> {
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
        program_queue(dev, self.base, self.descs.iova(), self.cq.iova(), self.ring.size_log2)
    }

    /// Posts every buffer and rings the doorbell once (at attach).
    pub fn fill(&mut self, dev: &dyn Device) -> Result<(), DevError> {
        for _ in 0..self.ring.size() {
            self.post()?;
        }
        self.doorbell(dev)
    }

    pub(super) fn post(&mut self) -> Result<(), DevError> {
        let idx = self.ring.prod;
        let slot = self.ring.slot(idx);
        let d = RxDesc { addr: self.bufs[slot].iova().into(), len: (self.buf_len as u32).into(), rsvd: 0.into() };
        self.descs.write_at(slot * size_of::<RxDesc>(), d.as_bytes())?;
        self.ring.prod = idx.wrapping_add(1);
        Ok(())
    }

    pub(super) fn doorbell(&mut self, dev: &dyn Device) -> Result<(), DevError> {
        fence(Ordering::SeqCst);
        dev.write32(self.base + queue::TAIL, self.ring.prod as u32)
    }

    /// Receives up to `budget` frames into `out`; see [`Queue::rx_burst`].
    pub(super) fn burst<H: QueueHost>(&mut self, drv: &H, out: &mut Vec<Mbuf>, budget: usize) -> Result<usize, Error> {
        if let Some(why) = drv.wedged() {
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
            drv.dev().write32(self.base + queue::CQ_HEAD, self.ring.cons as u32)?;
            self.doorbell(drv.dev())?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    pub(super) fn ready(&self) -> Result<bool, Error> {
        ready(&self.cq, &self.ring)
    }
}
