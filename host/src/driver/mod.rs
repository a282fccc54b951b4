//! The driver: attach, rings, doorbells, completions. Mbufs in and out.
//!
//! Written once over [`Device`]; it runs unchanged on the Verilator model and
//! on VFIO. Every section of the init sequence names the block of the
//! register map (`nic_abi::regs`) it follows. Ownership: each ring slot owns
//! one DMA buffer for the driver's lifetime (frames are copied in on TX and
//! out on RX), so whatever the device writes, no buffer is lost and none is
//! handed up with a length the device made up.
//!
//! The driver is single-threaded by design (`&mut self`): wrap it in a mutex
//! to share it, and never hold that lock across a call that re-enters the
//! stack.

mod cpl;
mod ring;

pub use cpl::{validate, CompletionError, Dir, Expect, Valid};

use std::mem::ManuallyDrop;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nic_abi::csum::{
    CSUM_DELAY_DATA, CSUM_DELAY_DATA_IPV6, CSUM_IP, CSUM_IP6_TCP, CSUM_IP6_TSO, CSUM_IP6_UDP, CSUM_IP_TCP,
    CSUM_IP_TSO, CSUM_IP_UDP, CSUM_TSO, TX_SUPPORTED,
};
use nic_abi::desc::{Completion, RxDesc, TxDesc, STATUS_CODE, TXD_MORE};
use nic_abi::ifcap::{
    IFCAP_RXCSUM, IFCAP_RXCSUM_IPV6, IFCAP_TSO, IFCAP_TXCSUM, IFCAP_TXCSUM_IPV6, IFCAP_VLAN_HWCSUM, IFCAP_VLAN_HWTSO,
};
use nic_abi::regs::{self, ctrl, id, queue, RXQ0, TXQ0};
use nic_abi::status::Status;
use nic_abi::{ABI_MAJOR, ABI_MINOR, MAX_FRAME, MIN_TX_FRAME, NIC_ID, RING_MAX_LOG2, RING_MIN_LOG2};
use zerocopy::IntoBytes;

use crate::dev::{DevError, Device, DeviceExt, DmaBuf};
use crate::ifnet::{CapError, Ifnet};
use crate::mbuf::Mbuf;
use crate::net::ipv4::{IP_HDR_LEN, IP_MAX_HDR_LEN};
use ring::{read_completion, Ring};

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
        }
    }
}

/// The ID block, decoded: what this NIC is and can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The backend's description.
    pub describe: String,
    /// ABI major version.
    pub abi_major: u16,
    /// ABI minor version (a newer minor is compatible).
    pub abi_minor: u16,
    /// Hash of the RTL source.
    pub build_hash: u32,
    /// `IFCAP_*` the hardware has.
    pub caps: u32,
    /// Datapath width in bits.
    pub datapath_bits: u32,
    /// Core clock in kHz.
    pub clock_khz: u32,
    /// Smallest ring, log2 (at least the ABI's minimum).
    pub ring_min_log2: u32,
    /// Largest ring, log2 (at most the ABI's maximum).
    pub ring_max_log2: u32,
    /// Largest frame in bytes.
    pub max_frame: u32,
    /// TSO burst limit (0: no TSO).
    pub tso_max: u32,
    /// TSO segment count limit.
    pub tso_max_segs: u16,
    /// TSO DMA segment size limit.
    pub tso_max_segsize: u16,
    /// TOE contexts (0: no TOE).
    pub toe_contexts: u32,
    /// TX/RX queue pairs.
    pub num_queues: u32,
}

/// Why attach or an I/O call failed; `Display` says what to do.
#[derive(Debug)]
pub enum Error {
    /// The device backend failed (bus error, expired wait, DMA memory).
    Dev(DevError),
    /// BAR0 does not hold this NIC.
    WrongId {
        /// Which device.
        device: String,
        /// ID register value.
        found: u32,
        /// [`NIC_ID`].
        expected: u32,
    },
    /// The NIC speaks another ABI major version.
    WrongAbi {
        /// Which device.
        device: String,
        /// Major found.
        found_major: u16,
        /// Minor found.
        found_minor: u16,
        /// Major this driver speaks.
        expected_major: u16,
        /// Minor this driver was built with.
        expected_minor: u16,
    },
    /// The register blocks are not where this ABI puts them, or the device lacks something the driver needs.
    Layout(String),
    /// A requested ring size is outside what the device supports.
    RingSize {
        /// Which ring.
        which: &'static str,
        /// log2 asked.
        asked: u32,
        /// Device minimum log2.
        min: u32,
        /// Device maximum log2.
        max: u32,
    },
    /// After reset a queue index register was not zero.
    ResetIncomplete {
        /// Register offset.
        reg: u32,
        /// Its value.
        value: u32,
    },
    /// The device wrote a completion the ABI does not allow (consumed, counted; the driver goes on).
    BadCompletion(CompletionError),
    /// A transmit was refused (the mbuf is back at the front of the queue).
    TxRejected(TxReject),
    /// The device completed out of order: its ring state is unknown, so no buffer it may still
    /// own is reused. The queues are stopped; detach (or reset) and attach again.
    Wedged(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Dev(e) => write!(f, "{e}"),
            Error::WrongId { device, found, expected } => write!(
                f,
                "{device}: ID register reads 0x{found:08x}{}, expected 0x{expected:08x} (\"OFLD\"): {}",
                ascii_tag(*found),
                if *found == u32::MAX {
                    "the device does not answer (powered down, memory decode off, or removed); check lspci -vv"
                } else {
                    "not this NIC, or BAR0 is not mapped"
                }
            ),
            Error::WrongAbi { device, found_major, found_minor, expected_major, expected_minor } => write!(
                f,
                "{device}: NIC speaks ABI {found_major}.{found_minor}, this driver speaks \
                 {expected_major}.{expected_minor}: rebuild the driver or the bitstream from the same nic-abi"
            ),
            Error::Layout(s) => write!(f, "register layout: {s}"),
            Error::RingSize { which, asked, min, max } => write!(
                f,
                "{which} ring of 2^{asked} entries outside the device's 2^{min}..=2^{max}; choose a size within"
            ),
            Error::ResetIncomplete { reg, value } => {
                write!(f, "register 0x{reg:03x} reads {value} after reset, expected 0: the reset did not clear the rings")
            }
            Error::BadCompletion(e) => write!(f, "{e}"),
            Error::TxRejected(r) => write!(f, "transmit refused: {r}"),
            Error::Wedged(why) => write!(f, "queues stopped ({why}); detach and attach the device again"),
        }
    }
}

impl std::error::Error for Error {}

/// ` ("ABCD")` when a register value is four printable ASCII bytes (big-endian, as the ID is), else nothing.
fn ascii_tag(v: u32) -> String {
    let b = v.to_be_bytes();
    if b.iter().all(|c| c.is_ascii_graphic()) {
        format!(" (\"{}\")", String::from_utf8_lossy(&b))
    } else {
        String::new()
    }
}

impl From<DevError> for Error {
    fn from(e: DevError) -> Self {
        Error::Dev(e)
    }
}

/// Why the driver refused an mbuf for transmit (before the device saw it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxReject {
    /// Every TX slot is in flight: reclaim completions and retry.
    RingFull,
    /// Shorter than the device accepts.
    TooShort {
        /// Frame length.
        len: usize,
        /// [`MIN_TX_FRAME`].
        min: usize,
    },
    /// Longer than the device accepts.
    TooLong {
        /// Frame length.
        len: usize,
        /// The device's largest frame.
        max: usize,
    },
    /// Checksum requests the NIC does not offer, that conflict, or that `if_hwassist` does not allow.
    Flags {
        /// The requests.
        flags: u32,
        /// What was allowed.
        allowed: u32,
    },
    /// Header lengths or `csum_data` point outside the frame, or L4 starts at an odd offset.
    Offsets(&'static str),
    /// A TSO request the NIC would refuse (or `tso_segsz` without `CSUM_TSO`); says which rule.
    Tso(&'static str),
    /// The queues are stopped after an out-of-order completion ([`Error::Wedged`]).
    Wedged(String),
    /// Copying into DMA memory failed.
    Dma(DevError),
}

impl fmt::Display for TxReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxReject::RingFull => write!(f, "TX ring full; reclaim completions and retry"),
            TxReject::TooShort { len, min } => write!(f, "{len}-byte frame below the {min}-byte minimum"),
            TxReject::TooLong { len, max } => write!(f, "{len}-byte frame above the {max}-byte maximum"),
            TxReject::Flags { flags, allowed } => {
                let names: Vec<&str> = nic_abi::csum::names(*flags & !*allowed).collect();
                write!(
                    f,
                    "csum_flags 0x{flags:x} ask for {names:?}, allowed 0x{allowed:x}; check if_hwassist \
                     (ifconfig) or compute those checksums in software"
                )
            }
            TxReject::Offsets(w) => write!(f, "offload offsets: {w}"),
            TxReject::Tso(w) => write!(f, "TSO request refused: {w}"),
            TxReject::Wedged(why) => write!(f, "queues stopped ({why}); detach and attach the device again"),
            TxReject::Dma(e) => write!(f, "{e}"),
        }
    }
}

/// A refused transmit hands the mbuf back (nothing is lost).
#[derive(Debug)]
pub struct TxError {
    /// The packet, unchanged.
    pub mbuf: Mbuf,
    /// Why.
    pub reason: TxReject,
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transmit refused: {}", self.reason)
    }
}

impl std::error::Error for TxError {}

/// Driver counters, for netstat and for tests that prove nothing was lost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets placed on the TX ring (a TSO burst is one).
    pub tx_enqueued: u64,
    /// Of those, TSO bursts.
    pub tx_tso_bursts: u64,
    /// Packets whose completions say OK (a TSO burst counts once).
    pub tx_packets: u64,
    /// Bytes of those.
    pub tx_bytes: u64,
    /// TAIL doorbell writes (one per batch).
    pub tx_doorbells: u64,
    /// Frames refused before reaching the ring (invalid), by the driver.
    pub tx_rejected: u64,
    /// Transmit attempts that found the ring full.
    pub tx_ring_full: u64,
    /// TX completions per status code (every code, known or not).
    pub tx_status: BTreeMap<u8, u64>,
    /// Frames delivered up.
    pub rx_packets: u64,
    /// Bytes of those.
    pub rx_bytes: u64,
    /// RX completions with a known non-OK status, per code (frame dropped, buffer reposted).
    pub rx_status: BTreeMap<u8, u64>,
    /// Completions refused by validation, in total.
    pub bad_completions: u64,
    /// … of which out of order.
    pub bad_index: u64,
    /// … of which a bad length.
    pub bad_len: u64,
    /// … of which bad checksum flags or csum_data.
    pub bad_flags: u64,
    /// … of which an unknown status.
    pub bad_status: u64,
    /// … of which a hash without RSS.
    pub bad_rss: u64,
    /// Waits ended by an interrupt.
    pub irq_wakeups: u64,
    /// Waits that timed out.
    pub wait_timeouts: u64,
}

impl Counters {
    /// TX completions seen with `code`.
    pub fn tx_status_count(&self, code: u8) -> u64 {
        self.tx_status.get(&code).copied().unwrap_or(0)
    }

    fn count_bad(&mut self, e: &CompletionError) {
        self.bad_completions += 1;
        match e {
            CompletionError::NotReady => {}
            CompletionError::Index { .. } => self.bad_index += 1,
            CompletionError::Len { .. } => self.bad_len += 1,
            CompletionError::Flags { .. } | CompletionError::CsumData { .. } => self.bad_flags += 1,
            CompletionError::Status { .. } => self.bad_status += 1,
            CompletionError::Rss { .. } => self.bad_rss += 1,
        }
    }
}

/// What one [`Driver::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollResult {
    /// TX completions reclaimed.
    pub tx_reclaimed: usize,
    /// Frames received.
    pub rx: usize,
}

struct TxQueue {
    ring: Ring,
    descs: DmaBuf,
    cq: DmaBuf,
    bufs: Vec<DmaBuf>,
    lens: Vec<u32>,
    /// The slot holds a packet's last descriptor (packets are counted there).
    eop: Vec<bool>,
    /// The last value written to TAIL.
    notified: u16,
}

struct RxQueue {
    ring: Ring,
    descs: DmaBuf,
    cq: DmaBuf,
    bufs: Vec<DmaBuf>,
    buf_len: usize,
}

/// An attached NIC: one TX and one RX queue, its interface, its counters.
pub struct Driver {
    dev: Arc<dyn Device>,
    info: DeviceInfo,
    ifnet: Ifnet,
    /// The queues' DMA memory is freed only once the NIC is known to be quiet (see `Drop`).
    tx: ManuallyDrop<TxQueue>,
    /// As `tx`.
    rx: ManuallyDrop<RxQueue>,
    counters: Counters,
    irq: bool,
    /// Set when a completion's index says the device and the driver disagree on the ring.
    wedged: Option<String>,
    /// How long register waits (reset, idle) may take.
    reg_timeout: Duration,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").field("info", &self.info).field("counters", &self.counters).finish()
    }
}

impl Driver {
    /// Attaches with [`DriverConfig::default`].
    pub fn attach(dev: Arc<dyn Device>) -> Result<Driver, Error> {
        Driver::attach_with(dev, DriverConfig::default())
    }

    /// Reads the ID block, refuses a NIC it does not speak to, resets it,
    /// sets up both queues and enables it.
    pub fn attach_with(dev: Arc<dyn Device>, cfg: DriverConfig) -> Result<Driver, Error> {
        let info = read_id_block(&*dev)?;
        for (which, asked) in [("TX", cfg.tx_ring_log2), ("RX", cfg.rx_ring_log2)] {
            if asked < info.ring_min_log2 || asked > info.ring_max_log2 {
                return Err(Error::RingSize { which, asked, min: info.ring_min_log2, max: info.ring_max_log2 });
            }
        }
        let max_frame = info.max_frame as usize;
        let rx_buf_len = cfg.rx_buf_len.unwrap_or(max_frame);
        if rx_buf_len == 0 || rx_buf_len > u32::MAX as usize {
            return Err(Error::Layout(format!("RX buffer length {rx_buf_len} unusable")));
        }

        // CTRL block (0x100): quiesce and soft reset.
        let t = cfg.reg_timeout;
        quiesce_nic(&*dev, t)?;
        for q in [TXQ0, RXQ0] {
            for r in [queue::HEAD, queue::CQ_TAIL] {
                let value = dev.read32(q + r)?;
                if value != 0 {
                    return Err(Error::ResetIncomplete { reg: q + r, value });
                }
            }
        }

        // Rings, completion queues and buffers in the device's DMA memory.
        // Completion queues start zeroed: no slot carries the first lap's phase.
        let dma = Arc::clone(dev.dma());
        let tx = {
            let ring = Ring::new(cfg.tx_ring_log2);
            let n = ring.size();
            let descs = dma.alloc(n * size_of::<TxDesc>())?;
            descs.zero();
            let cq = dma.alloc(n * size_of::<Completion>())?;
            cq.zero();
            let bufs = (0..n).map(|_| dma.alloc(max_frame)).collect::<Result<Vec<_>, _>>()?;
            TxQueue { ring, descs, cq, bufs, lens: vec![0; n], eop: vec![true; n], notified: 0 }
        };
        let rx = {
            let ring = Ring::new(cfg.rx_ring_log2);
            let n = ring.size();
            let descs = dma.alloc(n * size_of::<RxDesc>())?;
            descs.zero();
            let cq = dma.alloc(n * size_of::<Completion>())?;
            cq.zero();
            let bufs = (0..n).map(|_| dma.alloc(rx_buf_len)).collect::<Result<Vec<_>, _>>()?;
            RxQueue { ring, descs, cq, bufs, buf_len: rx_buf_len }
        };

        // TXQ0 / RXQ0 blocks: bases, sizes, indices.
        program_queue(&*dev, TXQ0, tx.descs.iova(), tx.cq.iova(), cfg.tx_ring_log2)?;
        program_queue(&*dev, RXQ0, rx.descs.iova(), rx.cq.iova(), cfg.rx_ring_log2)?;

        // Offloads: everything the hardware has, as drivers enable at attach.
        // TSO needs the checksum offload of its family (the NIC refuses it otherwise): a board
        // that straps txcsum off has no usable TSO either, and does not advertise it.
        let mut caps = info.caps;
        if caps & IFCAP_TXCSUM == 0 {
            caps &= !nic_abi::ifcap::IFCAP_TSO4;
        }
        if caps & IFCAP_TXCSUM_IPV6 == 0 {
            caps &= !nic_abi::ifcap::IFCAP_TSO6;
        }
        if caps & IFCAP_TSO == 0 {
            caps &= !IFCAP_VLAN_HWTSO;
        }
        let mut ifnet = Ifnet::new(&cfg.if_name, cfg.if_index, caps, cfg.lladdr);
        if info.tso_max != 0 {
            // The stack sizes bursts by these (tcp_output); the driver copies a burst into its
            // own buffers, so the chain limit is the NIC's, in whole buffers of max_frame bytes.
            let piece = (max_frame & !(nic_abi::BEAT_BYTES - 1)).min(info.tso_max_segsize as usize);
            let chain = (info.tso_max_segs as usize).min(1 << cfg.tx_ring_log2);
            ifnet.if_hw_tsomax = info.tso_max.min((chain * piece) as u32);
            ifnet.if_hw_tsomaxsegcount = info.tso_max_segs as u32;
            ifnet.if_hw_tsomaxsegsize = info.tso_max_segsize as u32;
        }
        dev.write32(ctrl::CAPENABLE, ifnet.if_capenable)?;

        // Interrupts: probe the backend; clear stale causes (write 1 to clear).
        let irq = cfg.use_irq
            && match dev.wait_irq(Duration::ZERO) {
                Ok(_) => true,
                Err(DevError::NoInterrupts) => false,
                Err(e) => return Err(e.into()),
            };
        dev.write32(ctrl::IRQ_STATUS, ctrl::IRQ_TX | ctrl::IRQ_RX)?;
        dev.write32(ctrl::IRQ_MASK, if irq { ctrl::IRQ_TX | ctrl::IRQ_RX } else { 0 })?;

        let mut d = Driver {
            dev,
            info,
            ifnet,
            tx: ManuallyDrop::new(tx),
            rx: ManuallyDrop::new(rx),
            counters: Counters::default(),
            irq,
            wedged: None,
            reg_timeout: t,
        };
        // Post every RX buffer, then run.
        for _ in 0..d.rx.ring.size() {
            d.post_rx()?;
        }
        d.rx_doorbell()?;
        d.dev.write32(ctrl::CTRL, ctrl::CTRL_ENABLE)?;
        log::info!(
            "{}: {} attached, ABI {}.{}, caps {}",
            d.ifnet.if_xname,
            d.info.describe,
            d.info.abi_major,
            d.info.abi_minor,
            crate::ifnet::format_caps("options", d.ifnet.if_capenable)
        );
        Ok(d)
    }

    /// What the ID block said.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The interface this NIC is.
    pub fn ifnet(&self) -> &Ifnet {
        &self.ifnet
    }

    /// The device, for stats readers and wrappers.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }

    /// Counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether waits use interrupts (else polling).
    pub fn uses_interrupts(&self) -> bool {
        self.irq
    }

    /// Sets the IP MTU (`ifconfig mtu`): what the link beyond the NIC carries, at most
    /// the NIC's largest frame less an Ethernet header and tag. Returns the MTU in effect.
    pub fn set_mtu(&mut self, mtu: u32) -> u32 {
        let max = self.info.max_frame.saturating_sub(18).max(68);
        self.ifnet.if_mtu = mtu.clamp(68, max);
        self.ifnet.if_mtu
    }

    /// Names the interface as the stack numbers it (`nic0`, index 1, generation):
    /// received packets then carry the `rcvif` the stack checks.
    pub fn set_ifname(&mut self, name: &str, index: u16, generation: u32) {
        self.ifnet.if_xname = name.to_string();
        self.ifnet.if_index = index;
        self.ifnet.if_generation = generation;
    }

    /// Acknowledges the interrupt causes after a wait done outside the driver
    /// (a stack worker waits on the device without holding the driver), so the
    /// line can fire again.
    pub fn ack_interrupt(&mut self) -> Result<(), Error> {
        if !self.irq {
            return Ok(());
        }
        let causes = self.dev.read32(ctrl::IRQ_STATUS)?;
        if causes != 0 {
            self.dev.write32(ctrl::IRQ_STATUS, causes)?;
            self.counters.irq_wakeups += 1;
        }
        Ok(())
    }

    /// `ifconfig ofld0 <capability words>`: one [`Driver::set_capenable`] per word, as
    /// ifconfig sends one request per word. Words before a refused one stay applied (and
    /// programmed); a device error leaves the interface as it was before that word.
    pub fn ifconfig(&mut self, words: &[&str]) -> Result<Vec<String>, CapError> {
        let mut messages = Vec::new();
        for w in words {
            if let Some(req) = self.ifnet.cap_request(w)? {
                messages.extend(self.set_capenable(req)?.messages);
            }
        }
        Ok(messages)
    }

    /// `SIOCSIFCAP` with a computed request (what ifconfig sends): applies the
    /// dependency rules ([`Ifnet::set_capenable`]), all or nothing, and
    /// programs `CAPENABLE`; on a device error the interface is left as it was.
    pub fn set_capenable(&mut self, reqcap: u32) -> Result<crate::ifnet::CapChange, CapError> {
        let before = self.ifnet.clone();
        let change = self.ifnet.set_capenable(reqcap)?;
        if change.new != change.old {
            self.drain_before_disabling(change.old, change.new);
            if let Err(e) = self.dev.write32(ctrl::CAPENABLE, change.new) {
                self.ifnet = before;
                return Err(CapError::Device(e.to_string()));
            }
        }
        Ok(change)
    }

    /// Before a transmit offload is switched off in the NIC, lets the frames
    /// already on the ring (which may ask for it) complete: the NIC refuses a
    /// request for a disabled offload, and those frames would be lost. New
    /// frames cannot be posted meanwhile (`&mut self`). Bounded by the
    /// register timeout; a NIC that does not finish is left to its counters.
    fn drain_before_disabling(&mut self, old: u32, new: u32) {
        let tx_caps = IFCAP_TXCSUM | IFCAP_TXCSUM_IPV6 | IFCAP_TSO | IFCAP_VLAN_HWCSUM | IFCAP_VLAN_HWTSO;
        if old & !new & tx_caps == 0 {
            return;
        }
        let until = Instant::now() + self.reg_timeout;
        while self.tx.ring.outstanding() > 0 && Instant::now() < until {
            if self.tx_reclaim().is_err() {
                return;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// The NIC's own counters (`regs::stats`), by name.
    pub fn hw_stats(&self) -> Result<Vec<(&'static str, u32)>, Error> {
        regs::stats::ALL.iter().map(|&(off, name)| Ok((name, self.dev.read32(off)?))).collect()
    }

    /// Places one frame on the TX ring (copying it into the slot's DMA buffer)
    /// without ringing the doorbell; [`Driver::tx_flush`] rings it once per batch.
    pub fn tx(&mut self, m: Mbuf) -> Result<(), TxError> {
        if m.pkthdr.csum_flags & CSUM_TSO != 0 {
            return self.tx_tso(m);
        }
        if let Err(reason) = check_tx(&m, self.ifnet.if_hwassist, self.info.max_frame) {
            self.counters.tx_rejected += 1;
            return Err(TxError { mbuf: m, reason });
        }
        if self.tx.ring.is_full() {
            self.counters.tx_ring_full += 1;
            return Err(TxError { mbuf: m, reason: TxReject::RingFull });
        }
        let idx = self.tx.ring.prod;
        let slot = self.tx.ring.slot(idx);
        let h = m.pkthdr;
        let len = m.len() as u32;
        let buf = &self.tx.bufs[slot];
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
            .and_then(|()| self.tx.descs.write_at(slot * size_of::<TxDesc>(), desc.as_bytes()));
        if let Err(e) = r {
            self.counters.tx_rejected += 1;
            return Err(TxError { mbuf: m, reason: TxReject::Dma(e) });
        }
        self.tx.lens[slot] = len;
        self.tx.eop[slot] = true;
        self.tx.ring.prod = idx.wrapping_add(1);
        self.counters.tx_enqueued += 1;
        Ok(())
    }

    /// Places one TSO burst on the TX ring as a descriptor chain: the burst is
    /// copied into consecutive slots' buffers (whole beats in all but the
    /// last, as the ABI requires), the first descriptor carrying the request.
    fn tx_tso(&mut self, m: Mbuf) -> Result<(), TxError> {
        let piece = self.tx.bufs.first().map_or(0, |b| b.len()) & !(nic_abi::BEAT_BYTES - 1);
        let piece = piece.min(self.info.tso_max_segsize as usize & !(nic_abi::BEAT_BYTES - 1));
        let limits = TsoLimits {
            max_frame: self.info.max_frame,
            tso_max: self.info.tso_max,
            max_descs: (self.info.tso_max_segs as usize).min(self.tx.ring.size()),
            piece,
        };
        let n = match check_tso(&m, self.ifnet.if_hwassist, &limits) {
            Ok(n) => n,
            Err(reason) => {
                self.counters.tx_rejected += 1;
                return Err(TxError { mbuf: m, reason });
            }
        };
        if self.tx.ring.size() - self.tx.ring.outstanding() < n {
            self.counters.tx_ring_full += 1;
            return Err(TxError { mbuf: m, reason: TxReject::RingFull });
        }
        let h = m.pkthdr;
        let len = m.len();
        for (i, chunk) in m.data().chunks(piece).enumerate() {
            let idx = self.tx.ring.prod.wrapping_add(i as u16);
            let slot = self.tx.ring.slot(idx);
            let buf = &self.tx.bufs[slot];
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
                .and_then(|()| self.tx.descs.write_at(slot * size_of::<TxDesc>(), desc.as_bytes()));
            if let Err(e) = r {
                // Nothing is posted until the tail moves: the slots written so far are simply reused.
                self.counters.tx_rejected += 1;
                return Err(TxError { mbuf: m, reason: TxReject::Dma(e) });
            }
            self.tx.lens[slot] = chunk.len() as u32;
            self.tx.eop[slot] = last;
        }
        self.tx.ring.prod = self.tx.ring.prod.wrapping_add(n as u16);
        self.counters.tx_enqueued += 1;
        self.counters.tx_tso_bursts += 1;
        Ok(())
    }

    /// Rings the TX doorbell if frames were placed since the last one.
    pub fn tx_flush(&mut self) -> Result<(), Error> {
        if self.tx.ring.prod == self.tx.notified {
            return Ok(());
        }
        // Descriptor and data stores before the doorbell, also as seen by a
        // device on the bus (wmb before an MMIO write).
        fence(Ordering::SeqCst);
        self.dev.write32(TXQ0 + queue::TAIL, self.tx.ring.prod as u32)?;
        self.tx.notified = self.tx.ring.prod;
        self.counters.tx_doorbells += 1;
        Ok(())
    }

    /// Transmits from the front of `q` until it is empty or the ring is full,
    /// with one doorbell. A refused frame stays at the front and its reason is
    /// returned (after the doorbell for the ones before it).
    pub fn tx_batch(&mut self, q: &mut VecDeque<Mbuf>) -> Result<usize, Error> {
        let mut n = 0;
        let mut refused = None;
        while let Some(m) = q.pop_front() {
            match self.tx(m) {
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
        self.tx_flush()?;
        match refused {
            Some(r) => Err(Error::TxRejected(r)),
            None => Ok(n),
        }
    }

    /// Frames on the TX ring not yet completed.
    pub fn tx_in_flight(&self) -> usize {
        self.tx.ring.outstanding()
    }

    /// Consumes TX completions (counting each status code) and frees their slots.
    ///
    /// A completion that fails validation is still consumed (its slot's buffer
    /// belongs to the driver, so nothing is lost), counted, and returned as
    /// [`Error::BadCompletion`] after the completions before it were handled.
    pub fn tx_reclaim(&mut self) -> Result<usize, Error> {
        if let Some(why) = &self.wedged {
            return Err(Error::Wedged(why.clone()));
        }
        let mut n = 0;
        let mut failed: Option<Error> = None;
        while self.tx.ring.outstanding() > 0 {
            let idx = self.tx.ring.cons;
            let slot = self.tx.ring.slot(idx);
            let c = match read_completion(&self.tx.cq, slot) {
                Ok(c) => c,
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            };
            let ex = Expect::Tx { index: idx, size_log2: self.tx.ring.size_log2, desc_len: self.tx.lens[slot] };
            let res = validate(&c, &ex);
            if res == Err(CompletionError::NotReady) {
                break;
            }
            if let Err(e @ CompletionError::Index { .. }) = &res {
                // Which descriptor the device finished is unknown: consume nothing, reuse nothing.
                self.counters.count_bad(e);
                self.wedged = Some(e.to_string());
                failed = Some(Error::Wedged(e.to_string()));
                break;
            }
            *self.counters.tx_status.entry(c.status & STATUS_CODE).or_default() += 1;
            match res {
                Ok(v) if v.status == Status::Ok => {
                    self.counters.tx_packets += self.tx.eop[slot] as u64;
                    self.counters.tx_bytes += v.len as u64;
                }
                Ok(v) => log::warn!(
                    "{}: TX descriptor {idx} refused by the NIC: {}",
                    self.ifnet.if_xname,
                    v.status.describe()
                ),
                Err(e) => {
                    log::warn!("{}: {e}", self.ifnet.if_xname);
                    self.counters.count_bad(&e);
                    failed = Some(Error::BadCompletion(e));
                }
            }
            self.tx.ring.cons = idx.wrapping_add(1);
            n += 1;
            if failed.is_some() {
                break;
            }
        }
        // Return the consumed slots whatever happened above, so the device never stalls on them.
        if n > 0 {
            self.dev.write32(TXQ0 + queue::CQ_HEAD, self.tx.ring.cons as u32)?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    fn post_rx(&mut self) -> Result<(), DevError> {
        let idx = self.rx.ring.prod;
        let slot = self.rx.ring.slot(idx);
        let d = RxDesc { addr: self.rx.bufs[slot].iova().into(), len: (self.rx.buf_len as u32).into(), rsvd: 0.into() };
        self.rx.descs.write_at(slot * size_of::<RxDesc>(), d.as_bytes())?;
        self.rx.ring.prod = idx.wrapping_add(1);
        Ok(())
    }

    fn rx_doorbell(&mut self) -> Result<(), DevError> {
        fence(Ordering::SeqCst);
        self.dev.write32(RXQ0 + queue::TAIL, self.rx.ring.prod as u32)
    }

    /// Receives up to `budget` frames into `out`, reposting each buffer at once
    /// (the ring stays full; one CQ_HEAD and one TAIL write per burst).
    ///
    /// Each frame's packet header carries the completion's checksum results,
    /// hash and the interface. A completion that fails validation is consumed,
    /// its buffer reposted, counted, and returned as [`Error::BadCompletion`]
    /// after the frames before it were delivered into `out`.
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf>, budget: usize) -> Result<usize, Error> {
        if let Some(why) = &self.wedged {
            return Err(Error::Wedged(why.clone()));
        }
        let mut n = 0;
        let mut consumed = 0;
        let mut failed: Option<Error> = None;
        let rx_csum_on = self.ifnet.if_capenable & (IFCAP_RXCSUM | IFCAP_RXCSUM_IPV6) != 0;
        // At most one lap per burst, so a device that keeps completing with
        // errors cannot keep the caller here forever.
        while n < budget && consumed < self.rx.ring.size() {
            let idx = self.rx.ring.cons;
            let slot = self.rx.ring.slot(idx);
            let c = match read_completion(&self.rx.cq, slot) {
                Ok(c) => c,
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            };
            let ex = Expect::Rx { index: idx, size_log2: self.rx.ring.size_log2, buf_len: self.rx.buf_len };
            match validate(&c, &ex) {
                Err(CompletionError::NotReady) => break,
                Err(e @ CompletionError::Index { .. }) => {
                    // Which buffer the device filled is unknown: consume nothing, repost nothing.
                    self.counters.count_bad(&e);
                    self.wedged = Some(e.to_string());
                    failed = Some(Error::Wedged(e.to_string()));
                    break;
                }
                Ok(v) if v.status == Status::Ok => {
                    let mut data = vec![0u8; v.len as usize];
                    if let Err(e) = self.rx.bufs[slot].read_at(0, &mut data) {
                        // Not consumed: the next burst retries this completion.
                        failed = Some(e.into());
                        break;
                    }
                    let mut m = Mbuf::from_vec(data);
                    let h = &mut m.pkthdr;
                    if rx_csum_on {
                        h.csum_flags = v.csum_flags;
                        h.csum_data = v.csum_data as u32;
                    }
                    h.flowid = v.flowid;
                    h.rsstype = v.rsstype;
                    h.rcvif = Some(self.ifnet.ifref());
                    self.counters.rx_packets += 1;
                    self.counters.rx_bytes += v.len as u64;
                    out.push(m);
                    n += 1;
                }
                Ok(v) => {
                    *self.counters.rx_status.entry(c.status & STATUS_CODE).or_default() += 1;
                    log::warn!("{}: RX completion {idx}: {}; frame dropped", self.ifnet.if_xname, v.status.describe());
                }
                Err(e) => {
                    log::warn!("{}: {e}", self.ifnet.if_xname);
                    self.counters.count_bad(&e);
                    failed = Some(Error::BadCompletion(e));
                }
            }
            self.rx.ring.cons = idx.wrapping_add(1);
            consumed += 1;
            // The buffer of the slot just consumed is free again: post it. (Buffers
            // in flight are exactly those of [cons, prod), so the slot of `prod` is
            // always a free one, even if an earlier post failed.)
            if let Err(e) = self.post_rx() {
                failed.get_or_insert(e.into());
            }
            if failed.is_some() {
                break;
            }
        }
        if consumed > 0 {
            self.dev.write32(RXQ0 + queue::CQ_HEAD, self.rx.ring.cons as u32)?;
            self.rx_doorbell()?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    /// Reclaims TX completions, then receives up to `budget` frames.
    pub fn poll(&mut self, out: &mut Vec<Mbuf>, budget: usize) -> Result<PollResult, Error> {
        let tx_reclaimed = self.tx_reclaim()?;
        let rx = self.rx_burst(out, budget)?;
        Ok(PollResult { tx_reclaimed, rx })
    }

    /// Whether a completion is waiting in either queue (a peek at memory, no register access).
    pub fn work_pending(&self) -> Result<bool, Error> {
        fn ready(cq: &DmaBuf, ring: &Ring) -> Result<bool, Error> {
            let c = read_completion(cq, ring.slot(ring.cons))?;
            let phase = c.status & nic_abi::desc::STATUS_PHASE != 0;
            Ok(phase == nic_abi::desc::phase_for(ring.cons, ring.size_log2))
        }
        Ok((self.tx.ring.outstanding() > 0 && ready(&self.tx.cq, &self.tx.ring)?) || ready(&self.rx.cq, &self.rx.ring)?)
    }

    /// Waits until a completion is waiting or `timeout` passes; `Ok(true)` when there is work.
    ///
    /// Uses the interrupt when the backend has one (acknowledging it), and
    /// polls memory with a growing pause otherwise, so an idle wait does not
    /// spin a shared core.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        if self.work_pending()? {
            return Ok(true);
        }
        let start = Instant::now();
        if self.irq {
            match self.dev.wait_irq(timeout) {
                Ok(true) => {
                    let causes = self.dev.read32(ctrl::IRQ_STATUS)?;
                    self.dev.write32(ctrl::IRQ_STATUS, causes)?;
                    self.counters.irq_wakeups += 1;
                    return Ok(true);
                }
                Ok(false) => {
                    let w = self.work_pending()?;
                    if !w {
                        self.counters.wait_timeouts += 1;
                    }
                    return Ok(w);
                }
                Err(DevError::NoInterrupts) => {
                    log::info!("{}: backend has no interrupts; polling", self.ifnet.if_xname);
                    self.irq = false;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mut pause = Duration::from_micros(20);
        loop {
            if self.work_pending()? {
                return Ok(true);
            }
            let waited = start.elapsed();
            if waited >= timeout {
                self.counters.wait_timeouts += 1;
                return Ok(false);
            }
            std::thread::sleep(pause.min(timeout - waited));
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }

    /// Stops the NIC (disable, reset) so it no longer touches the buffers, then frees them.
    pub fn detach(mut self) -> Result<(), Error> {
        // Drop quiesces again; that is harmless.
        self.quiesce()
    }

    fn quiesce(&mut self) -> Result<(), Error> {
        quiesce_nic(&*self.dev, self.reg_timeout)
    }
}

/// Stops the NIC and resets it (register spec: CTRL block at 0x100): interrupts masked, datapaths
/// disabled, soft reset. CTRL_RESET reads 1 until the NIC has let its DMA in flight and the frame
/// on its MAC port finish and has reset; STATUS_IDLE then says nothing is in flight.
fn quiesce_nic(dev: &dyn Device, t: Duration) -> Result<(), Error> {
    dev.write32(ctrl::IRQ_MASK, 0)?;
    dev.write32(ctrl::CTRL, 0)?;
    dev.write32(ctrl::CTRL, ctrl::CTRL_RESET)?;
    dev.wait_clear(ctrl::CTRL, ctrl::CTRL_RESET, t)?;
    dev.wait_set(ctrl::STATUS, ctrl::STATUS_IDLE, t)?;
    Ok(())
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The device must stop DMA before the buffers go back to the region.
        match self.quiesce() {
            Ok(()) => {
                // SAFETY: `tx` and `rx` are dropped exactly once, here, and never used again
                // (this is the driver's destructor).
                unsafe {
                    ManuallyDrop::drop(&mut self.tx);
                    ManuallyDrop::drop(&mut self.rx);
                }
            }
            Err(e) => log::warn!(
                "{}: could not quiesce the NIC on detach ({e}); its rings and buffers stay allocated \
                 so a late DMA cannot land in reused memory",
                self.ifnet.if_xname
            ),
        }
    }
}

/// What the driver checks before a frame reaches the ring: what the NIC would
/// refuse with a status code is refused here with a reason and the mbuf back.
pub fn check_tx(m: &Mbuf, if_hwassist: u32, max_frame: u32) -> Result<(), TxReject> {
    let len = m.len();
    let max = (max_frame as usize).min(MAX_FRAME as usize);
    if len < MIN_TX_FRAME as usize {
        return Err(TxReject::TooShort { len, min: MIN_TX_FRAME as usize });
    }
    if len > max {
        return Err(TxReject::TooLong { len, max });
    }
    let h = &m.pkthdr;
    if h.tso_segsz != 0 || h.csum_flags & CSUM_TSO != 0 {
        return Err(TxReject::Tso("tso_segsz or CSUM_TSO on a frame sent without TSO (use check_tso)"));
    }
    let allowed = TX_SUPPORTED & if_hwassist;
    let f = h.csum_flags;
    let l4 = f & (CSUM_DELAY_DATA | CSUM_DELAY_DATA_IPV6);
    let conflicting = l4.count_ones() > 1 || (f & CSUM_IP != 0 && f & CSUM_DELAY_DATA_IPV6 != 0);
    if f & !allowed != 0 || conflicting {
        return Err(TxReject::Flags { flags: f, allowed });
    }
    let l3end = h.l2hlen as usize + h.l3hlen as usize;
    let v4hdr = IP_HDR_LEN..=IP_MAX_HDR_LEN;
    if f & CSUM_IP != 0 && (!v4hdr.contains(&(h.l3hlen as usize)) || l3end > len) {
        return Err(TxReject::Offsets("CSUM_IP needs an IPv4 header of 20..=60 bytes within the frame"));
    }
    if l4 != 0 {
        if h.l3hlen == 0 || l3end % 2 != 0 {
            return Err(TxReject::Offsets("L4 must start at a nonzero, even offset"));
        }
        let want = match l4 {
            CSUM_IP_TCP | CSUM_IP6_TCP => nic_abi::csum::TCP_CSUM_OFFSET,
            CSUM_IP_UDP | CSUM_IP6_UDP => nic_abi::csum::UDP_CSUM_OFFSET,
            _ => 0,
        };
        if h.csum_data != want as u32 {
            return Err(TxReject::Offsets("csum_data is not the TCP (16) / UDP (6) checksum offset"));
        }
        if l3end + h.csum_data as usize + 2 > len {
            return Err(TxReject::Offsets("checksum field past the frame"));
        }
    }
    Ok(())
}

/// What [`check_tso`] needs to know of the device and the driver's buffers.
#[derive(Clone, Copy, Debug)]
pub struct TsoLimits {
    /// The device's largest frame (each segment's headers plus MSS must fit).
    pub max_frame: u32,
    /// The device's `TSO_MAX` (0: no TSO).
    pub tso_max: u32,
    /// Most descriptors one packet may take.
    pub max_descs: usize,
    /// Bytes per descriptor buffer (a multiple of 8).
    pub piece: usize,
}

/// The NIC's TSO rules (nic_abi::desc, status), checked before a burst reaches the ring;
/// returns how many descriptors the burst takes.
pub fn check_tso(m: &Mbuf, if_hwassist: u32, lim: &TsoLimits) -> Result<usize, TxReject> {
    let h = &m.pkthdr;
    let f = h.csum_flags;
    let v4 = f & CSUM_IP_TCP != 0;
    let v6 = f & CSUM_IP6_TCP != 0;
    if v4 == v6 || f & (CSUM_IP_UDP | CSUM_IP6_UDP) != 0 {
        return Err(TxReject::Tso("TSO needs exactly one of CSUM_IP_TCP, CSUM_IP6_TCP"));
    }
    let need = if v4 { CSUM_IP_TSO | CSUM_IP_TCP } else { CSUM_IP6_TSO | CSUM_IP6_TCP };
    if if_hwassist & need != need || lim.tso_max == 0 {
        return Err(TxReject::Tso("TSO is off for this family (ifconfig tso4/tso6, with txcsum/txcsum6)"));
    }
    if f & !(TX_SUPPORTED & if_hwassist) != 0 {
        return Err(TxReject::Flags { flags: f, allowed: TX_SUPPORTED & if_hwassist });
    }
    let (l2, l3, l4) = (h.l2hlen as usize, h.l3hlen as usize, h.l4hlen as usize);
    let hlen = l2 + l3 + l4;
    let mss = h.tso_segsz as usize;
    if mss == 0 {
        return Err(TxReject::Tso("tso_segsz is 0"));
    }
    if !(20..=60).contains(&l4) || l4 % 4 != 0 || l3 < if v4 { 20 } else { 40 } || l2 % 2 != 0 || l3 % 2 != 0 {
        return Err(TxReject::Offsets("TSO headers: TCP 20..=60 bytes in steps of 4, IP header 20+ (v4) or 40+ (v6)"));
    }
    if h.csum_data != nic_abi::csum::TCP_CSUM_OFFSET as u32 {
        return Err(TxReject::Offsets("csum_data is not the TCP checksum offset (16)"));
    }
    if hlen > nic_abi::desc::TSO_MAX_HDR as usize || hlen + mss > lim.max_frame as usize {
        return Err(TxReject::Tso("headers plus tso_segsz exceed the largest frame"));
    }
    let len = m.len();
    if len <= hlen {
        return Err(TxReject::Tso("no payload after the headers"));
    }
    if len > lim.tso_max as usize {
        return Err(TxReject::TooLong { len, max: lim.tso_max as usize });
    }
    if lim.piece <= hlen {
        return Err(TxReject::Tso("driver buffers smaller than the TSO headers"));
    }
    let n = len.div_ceil(lim.piece);
    if n > lim.max_descs {
        return Err(TxReject::Tso("burst needs more descriptors than the NIC follows"));
    }
    Ok(n)
}

// A driver moves to the thread that polls it.
const _: () = {
    const fn send<T: Send>() {}
    send::<Driver>();
};

/// Reads and checks the ID block (0x000).
fn read_id_block(dev: &dyn Device) -> Result<DeviceInfo, Error> {
    let describe = dev.describe();
    let found = dev.read32(id::ID)?;
    if found != NIC_ID {
        return Err(Error::WrongId { device: describe, found, expected: NIC_ID });
    }
    let ver = dev.read32(id::VERSION)?;
    let (found_major, found_minor) = ((ver >> 16) as u16, ver as u16);
    if found_major != ABI_MAJOR {
        return Err(Error::WrongAbi {
            device: describe,
            found_major,
            found_minor,
            expected_major: ABI_MAJOR,
            expected_minor: ABI_MINOR,
        });
    }
    if found_minor > ABI_MINOR {
        log::info!("{describe}: NIC speaks ABI {found_major}.{found_minor}, newer than this driver's \
                    {ABI_MAJOR}.{ABI_MINOR}: compatible additions, which this driver does not use");
    }
    let next = dev.read32(id::NEXT)?;
    if next != ctrl::CTRL {
        return Err(Error::Layout(format!(
            "ID block's NEXT is 0x{next:x}, expected the CTRL block at 0x{:x}",
            ctrl::CTRL
        )));
    }
    let limits = dev.read32(id::RING_LIMITS)?;
    let ring_max_log2 = (limits & 0xff).min(RING_MAX_LOG2);
    let ring_min_log2 = ((limits >> 8) & 0xff).max(RING_MIN_LOG2);
    let tso_segs = dev.read32(id::TSO_SEGS)?;
    let info = DeviceInfo {
        describe,
        abi_major: found_major,
        abi_minor: found_minor,
        build_hash: dev.read32(id::BUILD_HASH)?,
        caps: dev.read32(id::CAPS)?,
        datapath_bits: dev.read32(id::DATAPATH)?,
        clock_khz: dev.read32(id::CLOCK_KHZ)?,
        ring_min_log2,
        ring_max_log2,
        max_frame: dev.read32(id::MAX_FRAME)?,
        tso_max: dev.read32(id::TSO_MAX)?,
        tso_max_segs: tso_segs as u16,
        tso_max_segsize: (tso_segs >> 16) as u16,
        toe_contexts: dev.read32(id::TOE_CONTEXTS)?,
        num_queues: dev.read32(id::NUM_QUEUES)?,
    };
    if info.num_queues == 0 {
        return Err(Error::Layout("the NIC reports zero queue pairs".into()));
    }
    if info.max_frame < MIN_TX_FRAME || info.max_frame > MAX_FRAME {
        return Err(Error::Layout(format!(
            "MAX_FRAME {} outside {MIN_TX_FRAME}..={MAX_FRAME}",
            info.max_frame
        )));
    }
    if ring_min_log2 > ring_max_log2 {
        return Err(Error::Layout(format!("RING_LIMITS 0x{limits:x}: no ring size is allowed")));
    }
    Ok(info)
}

/// Programs one queue block: ring base, size, completion queue base, indices at zero.
fn program_queue(dev: &dyn Device, q: u32, ring: u64, cq: u64, size_log2: u32) -> Result<(), DevError> {
    dev.write32(q + queue::BASE_LO, ring as u32)?;
    dev.write32(q + queue::BASE_HI, (ring >> 32) as u32)?;
    dev.write32(q + queue::SIZE_LOG2, size_log2)?;
    dev.write32(q + queue::CQ_BASE_LO, cq as u32)?;
    dev.write32(q + queue::CQ_BASE_HI, (cq >> 32) as u32)?;
    dev.write32(q + queue::CQ_HEAD, 0)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ifnet::hwassist_for;
    use nic_abi::ifcap::{IFCAP_HWCSUM, IFCAP_HWCSUM_IPV6};

    /// The NIC's TSO rules, applied by the driver before a burst reaches the ring.
    #[test]
    fn tso_bursts_follow_the_nics_rules() {
        use crate::traffic::{self, Kind};
        use nic_abi::ifcap::{IFCAP_TSO4, IFCAP_TSO6};
        let all = IFCAP_HWCSUM | IFCAP_HWCSUM_IPV6 | IFCAP_TSO4 | IFCAP_TSO6;
        let k = Kind { v6: false, tcp: true, vlan: false, ext: false, frag: false };
        let burst = |n: usize, mss: u16| {
            crate::offload::prepare_tso(&traffic::frame(k, &vec![7u8; n], 1), mss).unwrap()
        };
        let lim = TsoLimits { max_frame: MAX_FRAME, tso_max: 65535, max_descs: 8, piece: 9216 };
        assert_eq!(check_tso(&burst(5000, 1448), hwassist_for(all), &lim), Ok(1));
        assert_eq!(check_tso(&burst(60_000, 1448), hwassist_for(all), &lim), Ok(7));
        let refused = |m: &Mbuf, hw: u32, lim: &TsoLimits| matches!(check_tso(m, hw, lim), Err(TxReject::Tso(_)));
        assert!(refused(&burst(5000, 1448), hwassist_for(all & !IFCAP_TSO4), &lim), "tso4 off");
        assert!(refused(&burst(5000, 1448), hwassist_for(IFCAP_TSO4), &lim), "txcsum off");
        let mut m = burst(5000, 1448);
        m.pkthdr.tso_segsz = 0;
        assert!(refused(&m, hwassist_for(all), &lim), "MSS 0");
        assert!(refused(&burst(20_000, 9200), hwassist_for(all), &lim), "a segment over the max frame");
        assert!(refused(&burst(5000, 1448), hwassist_for(all), &TsoLimits { tso_max: 0, ..lim }), "no TSO in the NIC");
        assert!(refused(&burst(60_000, 1448), hwassist_for(all), &TsoLimits { max_descs: 4, ..lim }), "chain too long");
        let mut m = burst(5000, 1448);
        m.pkthdr.l4hlen = 22;
        assert!(matches!(check_tso(&m, hwassist_for(all), &lim), Err(TxReject::Offsets(_))));
        let big = crate::offload::prepare_tso(&traffic::frame(k, &vec![7u8; 65_481], 1), 1448).unwrap();
        assert_eq!(check_tso(&big, hwassist_for(all), &lim), Ok(8));
        assert!(matches!(
            check_tso(&big, hwassist_for(all), &TsoLimits { tso_max: 60_000, ..lim }),
            Err(TxReject::TooLong { .. })
        ));
    }

    /// A 60-byte UDP/IPv4 frame as `ip_output` hands it over with both checksums offloaded.
    fn udp4() -> Mbuf {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 2..14 + 4].copy_from_slice(&46u16.to_be_bytes());
        f[14 + 9] = 17;
        f[34 + 4..34 + 6].copy_from_slice(&26u16.to_be_bytes());
        let mut m = Mbuf::from_frame(&f);
        m.pkthdr.csum_flags = CSUM_IP | CSUM_IP_UDP;
        m.pkthdr.csum_data = 6;
        m.pkthdr.l2hlen = 14;
        m.pkthdr.l3hlen = 20;
        m.pkthdr.l4hlen = 8;
        m
    }

    const ALL: u32 = IFCAP_HWCSUM | IFCAP_HWCSUM_IPV6;

    #[test]
    fn a_well_formed_request_passes() {
        assert_eq!(check_tx(&udp4(), hwassist_for(ALL), MAX_FRAME), Ok(()));
        let mut m = udp4();
        m.pkthdr.csum_flags = 0;
        assert_eq!(check_tx(&m, 0, MAX_FRAME), Ok(()), "no request, no offload needed");
    }

    #[test]
    fn lengths() {
        let short = Mbuf::from_frame(&[0u8; 13]);
        assert!(matches!(check_tx(&short, 0, MAX_FRAME), Err(TxReject::TooShort { len: 13, .. })));
        let long = Mbuf::from_frame(&vec![0u8; 1519]);
        assert!(matches!(check_tx(&long, 0, 1518), Err(TxReject::TooLong { len: 1519, max: 1518 })));
    }

    #[test]
    fn flags_must_be_offered_enabled_and_consistent() {
        // -txcsum: nothing IPv4 may be requested.
        let e = check_tx(&udp4(), hwassist_for(IFCAP_HWCSUM_IPV6), MAX_FRAME).unwrap_err();
        assert!(matches!(e, TxReject::Flags { .. }));
        assert!(e.to_string().contains("CSUM_IP_UDP"), "{e}");
        let mut m = udp4();
        m.pkthdr.csum_flags |= CSUM_IP_TCP;
        assert!(matches!(check_tx(&m, hwassist_for(ALL), MAX_FRAME), Err(TxReject::Flags { .. })));
        let mut m = udp4();
        m.pkthdr.csum_flags = CSUM_IP | CSUM_IP6_UDP;
        assert!(matches!(check_tx(&m, hwassist_for(ALL), MAX_FRAME), Err(TxReject::Flags { .. })));
        let mut m = udp4();
        m.pkthdr.csum_flags |= nic_abi::csum::CSUM_IP_SCTP;
        assert!(matches!(check_tx(&m, u32::MAX, MAX_FRAME), Err(TxReject::Flags { .. })));
        let mut m = udp4();
        m.pkthdr.tso_segsz = 1448;
        assert!(matches!(check_tx(&m, u32::MAX, MAX_FRAME), Err(TxReject::Tso(_))));
    }

    #[test]
    fn offsets_must_lie_in_the_frame() {
        let hw = hwassist_for(ALL);
        let mut m = udp4();
        m.pkthdr.l3hlen = 19;
        assert!(matches!(check_tx(&m, hw, MAX_FRAME), Err(TxReject::Offsets(_))));
        let mut m = udp4();
        m.pkthdr.l2hlen = 15;
        assert!(matches!(check_tx(&m, hw, MAX_FRAME), Err(TxReject::Offsets(_))), "odd L4 start");
        let mut m = udp4();
        m.pkthdr.csum_data = 16;
        assert!(matches!(check_tx(&m, hw, MAX_FRAME), Err(TxReject::Offsets(_))), "TCP offset on UDP");
        let mut m = udp4();
        m.pkthdr.l3hlen = 44; // 14 + 44 + 6 + 2 = 66 > 60
        m.pkthdr.csum_flags = CSUM_IP6_UDP;
        assert_eq!(check_tx(&m, hw, MAX_FRAME), Err(TxReject::Offsets("checksum field past the frame")));
    }
}
