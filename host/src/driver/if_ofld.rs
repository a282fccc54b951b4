//! The driver proper (FreeBSD's `if_<nic>.c`): the attached NIC's state and
//! the calls every user makes — interface, offloads, transmit, receive,
//! reclaim, waits, shutdown. Attach is `attach.rs`, the per-queue handle
//! `queue.rs`, RSS control `rss_ctl.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::time::Duration;

use nic_abi::ifcap::{IFCAP_TSO, IFCAP_TXCSUM, IFCAP_TXCSUM_IPV6, IFCAP_VLAN_HWCSUM, IFCAP_VLAN_HWTSO};
use nic_abi::regs::{self, ctrl, queue as qreg, rxq, txq};

use super::counters::{Counters, PollResult};
use super::cpl::CompletionError;
use super::error::{Error, TxError};
use super::idblock::DeviceInfo;
use super::irq;
use super::qpair::{QueueHost, QueuePair};
use super::rss::RssConfig;
use crate::dev::{DevError, Device, DeviceExt};
use crate::ifnet::{CapError, Ifnet};
use crate::mbuf::Mbuf;
use crate::sync::lock;

/// How to attach: ring sizes, buffer size, interrupts, interface identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// log2 of the TX ring (and completion queue) size.
    pub tx_ring_log2: u32,
    /// log2 of the RX ring (and completion queue) size.
    pub rx_ring_log2: u32,
    /// RX buffer size; `None`: the device's largest frame, so nothing is dropped for size.
    pub rx_buf_len: Option<usize>,
    /// Use interrupts when the backend has them (else poll).
    pub use_irq: bool,
    /// How long reset and other register waits may take.
    pub reg_timeout: Duration,
    /// Interface name.
    pub if_name: String,
    /// Interface index.
    pub if_index: u16,
    /// Ethernet address (the NIC has no EEPROM; the host assigns one).
    pub lladdr: [u8; 6],
    /// Queue pairs to use: `None`, every one the NIC has (`NUM_QUEUES`); `Some(n)`, at most
    /// `n` (RSS then spreads over those). Fewer queues take less DMA memory and fewer threads.
    pub queues: Option<u16>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            // 64 slots: enough to keep a simulated NIC busy, about 1.3 MB of DMA
            // memory with jumbo-sized buffers in both directions.
            tx_ring_log2: 6,
            rx_ring_log2: 6,
            rx_buf_len: None,
            use_irq: true,
            reg_timeout: Duration::from_secs(2),
            if_name: "ofld0".into(),
            if_index: 1,
            // Locally administered, unicast.
            lladdr: [0x02, 0x00, 0x00, 0x00, 0x00, 0x01],
            queues: None,
        }
    }
}

/// An attached NIC: its queue pairs, its interface, RSS, its counters.
pub struct Driver {
    pub(super) dev: Arc<dyn Device>,
    pub(super) info: DeviceInfo,
    pub(super) ifnet: RwLock<Ifnet>,
    /// The queue pairs in use, `num_queues()` of them. Each ring's DMA memory is freed only once
    /// the NIC is known to be quiet ([`Driver::shutdown`]).
    pub(super) queues: Box<[QueuePair]>,
    /// Interrupt vectors in use (`min(backend's, queues)`); queue `q` waits on `q % len`.
    pub(super) vectors: Box<[irq::Vector]>,
    pub(super) irq: AtomicBool,
    /// Set when a completion's index says the device and the driver disagree on a ring.
    pub(super) wedged: OnceLock<String>,
    /// The RSS block as programmed (the shadow software consults to place flows).
    pub(super) rss: RwLock<RssConfig>,
    /// Serialises configuration changes (capabilities, RSS, shutdown) so their register
    /// writes never interleave.
    pub(super) config: Mutex<()>,
    /// Set by [`Driver::shutdown`]: configuration changes are refused from then on.
    pub(super) stopped: AtomicBool,
    /// Where the next [`Driver::rx_burst`] starts, so no queue starves the others.
    pub(super) rx_next: AtomicUsize,
    /// How long register waits (reset, idle) may take.
    pub(super) reg_timeout: Duration,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("info", &self.info)
            .field("queues", &self.queues.len())
            .field("counters", &self.counters())
            .finish()
    }
}

/// What [`Driver::shutdown`] found on the rings when it stopped the NIC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Packets on TX rings whose completion never came (the NIC may or may not have sent them);
    /// their buffers were freed with the rings.
    pub tx_unconfirmed: usize,
}

impl Driver {

    /// What the ID block said.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The interface this NIC is, as it is now (capabilities change under ifconfig).
    pub fn ifnet(&self) -> Ifnet {
        self.ifnet_read().clone()
    }

    pub(super) fn ifnet_read(&self) -> std::sync::RwLockReadGuard<'_, Ifnet> {
        self.ifnet.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn ifnet_write(&self) -> std::sync::RwLockWriteGuard<'_, Ifnet> {
        self.ifnet.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn hwassist(&self) -> u32 {
        self.ifnet_read().if_hwassist
    }

    /// `(if_hwassist, if_capenable)` now, without copying the whole `Ifnet` (a transmit path
    /// reads them per batch).
    pub fn offload_state(&self) -> (u32, u32) {
        let i = self.ifnet_read();
        (i.if_hwassist, i.if_capenable)
    }

    /// The interface's Ethernet address.
    pub fn lladdr(&self) -> [u8; 6] {
        self.ifnet_read().if_lladdr
    }

    pub(super) fn ifname(&self) -> String {
        self.ifnet_read().if_xname.clone()
    }

    /// The device, for stats readers and wrappers.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }

    /// Queue pairs in use (at most the NIC's `NUM_QUEUES`).
    pub fn num_queues(&self) -> u16 {
        self.queues.len() as u16
    }

    /// Interrupt vectors in use; queue `q` waits on vector `q % irq_vectors()`.
    pub fn irq_vectors(&self) -> u32 {
        self.vectors.len() as u32
    }

    pub(super) fn vector_of(&self, q: u16) -> u32 {
        q as u32 % self.vectors.len() as u32
    }

    /// Counters so far, summed over the queues.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for q in self.queues() {
            c.merge(&q.counters());
        }
        c
    }

    /// Whether waits use interrupts (else polling).
    pub fn uses_interrupts(&self) -> bool {
        self.irq.load(Ordering::Relaxed)
    }

    pub(super) fn interrupts_unavailable(&self) {
        if self.irq.swap(false, Ordering::Relaxed) {
            log::info!("{}: backend has no interrupts; polling", self.ifname());
        }
    }

    /// Records that a ring's state is unknown and stops every queue.
    pub(super) fn wedge(&self, e: &CompletionError) -> Error {
        let why = self.wedged.get_or_init(|| e.to_string());
        Error::Wedged(why.clone())
    }

    /// Clears the causes among `mask` that are set (write 1 to clear: other queues' bits are
    /// untouched); returns them.
    pub(super) fn ack_queues(&self, mask: u32) -> Result<u32, Error> {
        let causes = self.dev.read32(ctrl::IRQ_STATUS)? & mask;
        if causes != 0 {
            self.dev.write32(ctrl::IRQ_STATUS, causes)?;
        }
        Ok(causes)
    }

    /// Clears the causes of every queue on vector `v` (the waiter that took its interrupt does
    /// this for all of them before waking them).
    pub(super) fn ack_vector(&self, v: u32) -> Result<(), Error> {
        let mask = (0..self.num_queues())
            .filter(|&q| self.vector_of(q) == v)
            .fold(0, |m, q| m | ctrl::irq_pair(q as u32));
        self.ack_queues(mask).map(|_| ())
    }

    /// Sets the IP MTU (`ifconfig mtu`): what the link beyond the NIC carries, at most
    /// the NIC's largest frame less an Ethernet header and tag. Returns the MTU in effect.
    pub fn set_mtu(&self, mtu: u32) -> u32 {
        let max = self.info.max_frame.saturating_sub(18).max(68);
        let mut i = self.ifnet_write();
        i.if_mtu = mtu.clamp(68, max);
        i.if_mtu
    }

    /// Names the interface as the stack numbers it (`nic0`, index 1, generation):
    /// received packets then carry the `rcvif` the stack checks.
    pub fn set_ifname(&self, name: &str, index: u16, generation: u32) {
        let mut i = self.ifnet_write();
        i.if_xname = name.to_string();
        i.if_index = index;
        i.if_generation = generation;
    }

    /// `ifconfig ofld0 <capability words>`: one [`Driver::set_capenable`] per word, as
    /// ifconfig sends one request per word. Words before a refused one stay applied (and
    /// programmed); a device error leaves the interface as it was before that word.
    pub fn ifconfig(&self, words: &[&str]) -> Result<Vec<String>, CapError> {
        let mut messages = Vec::new();
        for w in words {
            let req = self.ifnet_read().cap_request(w)?;
            if let Some(req) = req {
                messages.extend(self.set_capenable(req)?.messages);
            }
        }
        Ok(messages)
    }

    /// `SIOCSIFCAP` with a computed request (what ifconfig sends): applies the dependency rules
    /// ([`Ifnet::set_capenable`]), all or nothing, and programs `CAPENABLE`; on a device error
    /// the interface is left as it was.
    ///
    /// Before a transmit offload is switched off in the NIC, the frames already on the TX
    /// rings (which may ask for it) are let complete: the NIC refuses a request for a disabled
    /// offload, and those frames would be lost. Every TX ring is held meanwhile, so no new
    /// frame is posted. Bounded by the register timeout; a NIC that does not finish is left to
    /// its counters.
    pub fn set_capenable(&self, reqcap: u32) -> Result<crate::ifnet::CapChange, CapError> {
        let _cfg = lock(&self.config);
        if self.stopped.load(Ordering::SeqCst) {
            return Err(CapError::Device(Error::Detached.to_string()));
        }
        let mut next = self.ifnet();
        let change = next.set_capenable(reqcap)?;
        if change.new == change.old {
            return Ok(change);
        }
        let mut rings: Vec<_> = self.queues.iter().map(|p| lock(&p.tx)).collect();
        let tx_caps = IFCAP_TXCSUM | IFCAP_TXCSUM_IPV6 | IFCAP_TSO | IFCAP_VLAN_HWCSUM | IFCAP_VLAN_HWTSO;
        if change.old & !change.new & tx_caps != 0 {
            let until = self.dev.now() + self.reg_timeout;
            for t in rings.iter_mut().filter_map(|g| g.as_mut()) {
                while t.outstanding() > 0 && self.dev.now() < until {
                    if t.reclaim(self).is_err() || self.dev.pause(Duration::from_micros(50)).is_err() {
                        break;
                    }
                }
            }
        }
        if let Err(e) = self.dev.write32(ctrl::CAPENABLE, change.new) {
            return Err(CapError::Device(e.to_string()));
        }
        *self.ifnet_write() = next;
        drop(rings);
        Ok(change)
    }

    /// The NIC's own counters (`regs::stats`), by name.
    pub fn hw_stats(&self) -> Result<Vec<(&'static str, u32)>, Error> {
        regs::stats::ALL.iter().map(|&(off, name)| Ok((name, self.dev.read32(off)?))).collect()
    }

    /// The NIC's per-queue counters (`regs::queue::PACKETS`, `DROPS`): for each queue pair in
    /// use, TX packets sent, RX frames delivered and RX frames dropped for want of a buffer.
    pub fn hw_queue_stats(&self) -> Result<Vec<(u32, u32, u32)>, Error> {
        (0..self.num_queues() as u32)
            .map(|q| {
                Ok((
                    self.dev.read32(txq(q) + qreg::PACKETS)?,
                    self.dev.read32(rxq(q) + qreg::PACKETS)?,
                    self.dev.read32(rxq(q) + qreg::DROPS)?,
                ))
            })
            .collect()
    }

    // ---- One-thread use: queue 0 for transmit, every queue for the rest. ----

    /// Places one frame on TX queue 0 without ringing the doorbell ([`Queue::tx`]);
    /// [`Driver::tx_flush`] rings it.
    pub fn tx(&self, m: Mbuf) -> Result<(), TxError> {
        self.queue(0).tx(m)
    }

    /// Rings the doorbell of every TX queue that has frames placed since its last one.
    pub fn tx_flush(&self) -> Result<(), Error> {
        self.queues().try_for_each(|q| q.tx_flush())
    }

    /// Transmits from the front of `q` on TX queue 0 until it is empty or the ring is full
    /// ([`Queue::tx_batch`]).
    pub fn tx_batch(&self, q: &mut VecDeque<Mbuf>) -> Result<usize, Error> {
        self.queue(0).tx_batch(q)
    }

    /// Frames on the TX rings not yet completed, over every queue.
    pub fn tx_in_flight(&self) -> usize {
        self.queues().map(|q| q.tx_in_flight()).sum()
    }

    /// Consumes every TX queue's completions ([`Queue::tx_reclaim`]); the first error is
    /// returned after every queue was tried.
    pub fn tx_reclaim(&self) -> Result<usize, Error> {
        let mut n = 0;
        let mut first = None;
        for q in self.queues() {
            match q.tx_reclaim() {
                Ok(k) => n += k,
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(n), Err)
    }

    /// Receives up to `budget` frames from the RX queues, taking turns so none starves
    /// ([`Queue::rx_burst`]); which queue a frame came from is not recorded (use
    /// [`Driver::queue`] for that).
    pub fn rx_burst(&self, out: &mut Vec<Mbuf>, budget: usize) -> Result<usize, Error> {
        let nq = self.queues.len();
        let start = self.rx_next.fetch_add(1, Ordering::Relaxed) % nq;
        let mut n = 0;
        for i in 0..nq {
            if n >= budget {
                break;
            }
            n += self.queue(((start + i) % nq) as u16).rx_burst(out, budget - n)?;
        }
        Ok(n)
    }

    /// Reclaims TX completions, then receives up to `budget` frames, over every queue.
    pub fn poll(&self, out: &mut Vec<Mbuf>, budget: usize) -> Result<PollResult, Error> {
        let tx_reclaimed = self.tx_reclaim()?;
        let rx = self.rx_burst(out, budget)?;
        Ok(PollResult { tx_reclaimed, rx })
    }

    /// Whether a completion waits in any queue (a peek at memory, no register access).
    pub fn work_pending(&self) -> Result<bool, Error> {
        for q in self.queues() {
            if q.work_pending()? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Acknowledges every queue's interrupt causes after a wait done outside the driver, so
    /// the lines can fire again.
    pub fn ack_interrupt(&self) -> Result<(), Error> {
        if self.uses_interrupts() {
            let all = (0..self.num_queues() as u32).fold(0, |m, q| m | ctrl::irq_pair(q));
            self.ack_queues(all)?;
        }
        Ok(())
    }

    /// Waits until a completion waits in any queue or `timeout` passes; `Ok(true)` when there
    /// is work. For one thread driving every queue; per-queue workers use [`Queue::wait`]. On
    /// a one-vector backend both sleep through the vector's shared waiter, so they may be
    /// mixed; with several vectors this waits for any line (level lines: nobody's interrupt
    /// is taken from them) and acknowledges every queue.
    pub fn wait(&self, timeout: Duration) -> Result<bool, Error> {
        if self.vectors.len() == 1 {
            // One vector: the same wait as a queue's, for work in any queue.
            return self.wait_vector(0, &self.queues[0], timeout, || self.work_pending());
        }
        // Several vectors: wait for any line, then acknowledge every queue.
        if self.work_pending()? {
            return Ok(true);
        }
        let start = self.dev.now();
        let r = match self.uses_interrupts() {
            false => Err(DevError::NoInterrupts),
            true => self.dev.wait_irq(timeout).and_then(|fired| {
                if fired {
                    self.ack_interrupt().map_err(|e| match e {
                        Error::Dev(d) => d,
                        other => DevError::Gone(other.to_string()),
                    })?;
                }
                Ok(fired)
            }),
        };
        self.end_wait(r, &self.queues[0], start, timeout, || self.work_pending())
    }

    /// The one wait on an interrupt vector, for [`Queue::wait`] and [`Driver::wait`]: sleeps on
    /// vector `v` through its sharers' fanout (its generation taken before `pending` is looked
    /// at, so no interrupt is lost), acknowledging the causes of the queues on it; polls
    /// `pending` without interrupts. Counted in `pair`.
    pub(super) fn wait_vector(
        &self,
        v: u32,
        pair: &QueuePair,
        timeout: Duration,
        pending: impl Fn() -> Result<bool, Error>,
    ) -> Result<bool, Error> {
        let vector = &self.vectors[v as usize];
        let since = vector.generation();
        if pending()? {
            return Ok(true);
        }
        let start = self.dev.now();
        let r = match self.uses_interrupts() {
            false => Err(DevError::NoInterrupts),
            true => vector.wait_since(|t| self.dev.wait_irq_vector(v, t), || self.dev.now(), since, timeout, || {
                if let Err(e) = self.ack_vector(v) {
                    log::warn!("{}: acknowledging interrupt vector {v}: {e}", self.ifname());
                }
            }),
        };
        self.end_wait(r, pair, start, timeout, pending)
    }

    /// How every wait ends, once the interrupt wait returned `irq` (`NoInterrupts`: no
    /// interrupts in use): woken (counted), timed out (counted unless work showed up anyway),
    /// or, without interrupts, polling `pending` with a pause growing to 1 ms until `timeout`
    /// from `start` (the device's time, [`DeviceExt::now`]).
    pub(super) fn end_wait(
        &self,
        irq: Result<bool, DevError>,
        pair: &QueuePair,
        start: Duration,
        timeout: Duration,
        pending: impl Fn() -> Result<bool, Error>,
    ) -> Result<bool, Error> {
        match irq {
            Ok(true) => {
                pair.irq_wakeups.fetch_add(1, Ordering::Relaxed);
                return Ok(true);
            }
            Ok(false) => {
                let w = pending()?;
                if !w {
                    pair.wait_timeouts.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(w);
            }
            Err(DevError::NoInterrupts) => {
                if self.uses_interrupts() {
                    self.interrupts_unavailable();
                }
            }
            Err(e) => return Err(e.into()),
        }
        let mut pause = Duration::from_micros(20);
        loop {
            if pending()? {
                return Ok(true);
            }
            let waited = self.dev.now().saturating_sub(start);
            if waited >= timeout {
                pair.wait_timeouts.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
            self.dev.pause(pause.min(timeout - waited))?;
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }

    /// Stops the NIC (disable, reset) so it no longer touches the buffers, then frees them.
    pub fn detach(self) -> Result<(), Error> {
        self.shutdown().map(|_| ())
    }

    /// Detach through a shared reference (the stack's interface holds an `Arc<Driver>` that
    /// senders may still have in hand): waits until no caller is inside any queue (taking
    /// every ring's lock), masks interrupts, disables and resets the NIC (CTRL block: the reset
    /// completes only after the DMA in flight), and only then frees every queue's rings and
    /// buffers. Every later call gets [`Error::Detached`] / [`TxReject::Detached`]. If the NIC
    /// does not go quiet, the memory is kept (leaked) so a late DMA cannot land in reused
    /// memory, and the error says so. A second call does nothing.
    pub fn shutdown(&self) -> Result<ShutdownReport, Error> {
        let _cfg = lock(&self.config);
        self.stopped.store(true, Ordering::SeqCst);
        let mut rings: Vec<_> = self.queues.iter().map(|p| (lock(&p.tx), lock(&p.rx))).collect();
        if rings.iter().all(|(t, r)| t.is_none() && r.is_none()) {
            return Ok(ShutdownReport::default());
        }
        // Completions already written are taken first: what is left was never confirmed.
        for t in rings.iter_mut().filter_map(|(t, _)| t.as_mut()) {
            let _ = t.reclaim(self);
        }
        let report =
            ShutdownReport { tx_unconfirmed: rings.iter().filter_map(|(t, _)| t.as_ref()).map(|t| t.outstanding()).sum() };
        match quiesce_nic(&*self.dev, self.reg_timeout) {
            Ok(()) => {
                for (t, r) in rings.iter_mut() {
                    drop(t.take());
                    drop(r.take());
                }
                Ok(report)
            }
            Err(e) => {
                log::warn!(
                    "{}: could not quiesce the NIC on detach ({e}); its rings and buffers stay allocated \
                     so a late DMA cannot land in reused memory",
                    self.ifname()
                );
                for (t, r) in rings.iter_mut() {
                    std::mem::forget(t.take());
                    std::mem::forget(r.take());
                }
                Err(e)
            }
        }
    }
}

/// Stops the NIC and resets it (register spec: CTRL block at 0x100): interrupts masked, datapaths
/// disabled, soft reset. CTRL_RESET reads 1 until the NIC has let its DMA in flight and the frame
/// on its MAC port finish and has reset; STATUS_IDLE then says nothing is in flight.
pub(super) fn quiesce_nic(dev: &dyn Device, t: Duration) -> Result<(), Error> {
    dev.write32(ctrl::IRQ_MASK, 0)?;
    dev.write32(ctrl::CTRL, 0)?;
    dev.write32(ctrl::CTRL, ctrl::CTRL_RESET)?;
    dev.wait_clear(ctrl::CTRL, ctrl::CTRL_RESET, t)?;
    dev.wait_set(ctrl::STATUS, ctrl::STATUS_IDLE, t)?;
    Ok(())
}

// A driver is shared by its queues' workers, its senders and the control plane.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Driver>();
};

impl Drop for Driver {
    fn drop(&mut self) {
        // The device must stop DMA before the buffers go back to the region; a driver already
        // shut down has nothing left to free.
        let _ = self.shutdown();
    }
}

impl QueueHost for Driver {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }
    fn dev(&self) -> &dyn Device {
        &*self.dev
    }
    fn wedged(&self) -> Option<&String> {
        self.wedged.get()
    }
    fn wedge(&self, e: &CompletionError) -> Error {
        Driver::wedge(self, e)
    }
    fn ifname(&self) -> String {
        Driver::ifname(self)
    }
    fn ifnet_read(&self) -> RwLockReadGuard<'_, Ifnet> {
        Driver::ifnet_read(self)
    }
}
