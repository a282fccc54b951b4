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
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;
use std::time::Duration;

use nic_abi::regs::ctrl;

use super::counters::{Counters, PollResult};
use super::error::{Error, TxError, TxReject};
use super::if_ofld::Driver;
use super::qpair::{QueuePair, RxQueue, TxQueue};
use crate::mbuf::Mbuf;
use crate::sync::lock;

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

impl Driver {
    /// Queue pair `q`, for the thread that drives it. A `q` at or beyond [`Driver::num_queues`]
    /// means queue 0, as the NIC treats an indirection-table entry naming a queue it lacks.
    pub fn queue(&self, q: u16) -> Queue<'_> {
        Queue { drv: self, q: if (q as usize) < self.queues.len() { q } else { 0 } }
    }

    /// Every queue pair, in order.
    pub fn queues(&self) -> impl Iterator<Item = Queue<'_>> {
        (0..self.num_queues()).map(move |q| self.queue(q))
    }
}
