//! The driver: attach, rings, doorbells, completions. Mbufs in and out.
//!
//! Written once over [`Device`]; it runs unchanged on the Verilator model and
//! on VFIO. Every section of the init sequence names the block of the
//! register map (`nic_abi::regs`) it follows. Ownership: each ring slot owns
//! one DMA buffer for the driver's lifetime (frames are copied in on TX and
//! out on RX), so whatever the device writes, no buffer is lost and none is
//! handed up with a length the device made up.
//!
//! Queue pairs (ABI 2.0): the driver attaches every queue pair the ID block's
//! `NUM_QUEUES` reports (or fewer, [`DriverConfig::queues`]), each with its own
//! TX ring, RX ring, completion queues, doorbells, counters and locks, and
//! spreads received flows over them with RSS ([`Driver::rss`]). One worker
//! thread per queue drives it through [`Driver::queue`]; nothing a queue's
//! worker does waits for another queue's. Every method takes `&self`, so an
//! `Arc<Driver>` is shared by workers, senders and the control plane; never
//! call back into the stack from inside the driver.
//!
//! The single-queue calls of the first ABI remain, meaning "queue 0" for
//! transmit ([`Driver::tx`], [`Driver::tx_batch`]) and "every queue" for
//! receive, reclaim and waits ([`Driver::rx_burst`], [`Driver::poll`],
//! [`Driver::tx_reclaim`], [`Driver::wait`]), for tools that drive one NIC
//! from one thread.

mod cpl;
mod irq;
mod queue;
mod ring;
mod rss;

pub use cpl::{validate, CompletionError, Dir, Expect, Valid};
pub use queue::{Queue, TxProgress};
pub use rss::{key_hex, parse_key, parse_reta, parse_types, type_names, RssConfig};

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use nic_abi::csum::{
    CSUM_DELAY_DATA, CSUM_DELAY_DATA_IPV6, CSUM_IP, CSUM_IP6_TCP, CSUM_IP6_TSO, CSUM_IP6_UDP, CSUM_IP_TCP,
    CSUM_IP_TSO, CSUM_IP_UDP, CSUM_TSO, TX_SUPPORTED,
};
use nic_abi::ifcap::{IFCAP_TSO, IFCAP_TXCSUM, IFCAP_TXCSUM_IPV6, IFCAP_VLAN_HWCSUM, IFCAP_VLAN_HWTSO};
use nic_abi::regs::{self, ctrl, id, queue as qreg, rxq, txq};
use nic_abi::{ABI_MAJOR, ABI_MINOR, MAX_FRAME, MAX_QUEUES, MIN_TX_FRAME, NIC_ID, RING_MAX_LOG2, RING_MIN_LOG2};

use crate::dev::{DevError, Device, DeviceExt};
use crate::ifnet::{CapError, Ifnet};
use crate::mbuf::Mbuf;
use crate::net::ipv4::{IP_HDR_LEN, IP_MAX_HDR_LEN};
use queue::{QueuePair, RxQueue, TxQueue};

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
    /// TX/RX queue pairs the NIC has (the driver may use fewer: [`Driver::num_queues`]).
    pub num_queues: u32,
    /// RSS indirection-table entries (0: no RSS in this build).
    pub rss_reta_size: u32,
    /// RSS key bytes (0: no RSS in this build).
    pub rss_key_size: u32,
    /// RSS hash types the NIC computes (`RSS_HASHTYPE_*` bits).
    pub rss_hashtypes: u32,
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
    /// The driver was shut down (the interface departed): its rings are gone.
    Detached,
    /// A [`DriverConfig`] value the driver cannot honour.
    Config(String),
    /// An RSS request the NIC or the driver cannot honour; says why and what is allowed.
    Rss(String),
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
            Error::Detached => write!(f, "the driver was detached and its rings freed; attach the device again"),
            Error::Config(why) => write!(f, "driver configuration: {why}"),
            Error::Rss(why) => write!(f, "RSS: {why}"),
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
    /// The driver was shut down (the interface departed); the frame was not sent.
    Detached,
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
            TxReject::Detached => write!(f, "the driver was detached; attach the device again"),
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

/// Driver counters, for netstat and for tests that prove nothing was lost: per queue pair
/// ([`Queue::counters`]) or summed over the queues ([`Driver::counters`]).
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
    /// … of which an invalid RSS hash (the frame was delivered without it).
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

    /// Adds `o` to these (summing queues' counters).
    pub fn merge(&mut self, o: &Counters) {
        let Counters {
            tx_enqueued,
            tx_tso_bursts,
            tx_packets,
            tx_bytes,
            tx_doorbells,
            tx_rejected,
            tx_ring_full,
            tx_status,
            rx_packets,
            rx_bytes,
            rx_status,
            bad_completions,
            bad_index,
            bad_len,
            bad_flags,
            bad_status,
            bad_rss,
            irq_wakeups,
            wait_timeouts,
        } = o;
        self.tx_enqueued += tx_enqueued;
        self.tx_tso_bursts += tx_tso_bursts;
        self.tx_packets += tx_packets;
        self.tx_bytes += tx_bytes;
        self.tx_doorbells += tx_doorbells;
        self.tx_rejected += tx_rejected;
        self.tx_ring_full += tx_ring_full;
        for (k, v) in tx_status {
            *self.tx_status.entry(*k).or_default() += v;
        }
        self.rx_packets += rx_packets;
        self.rx_bytes += rx_bytes;
        for (k, v) in rx_status {
            *self.rx_status.entry(*k).or_default() += v;
        }
        self.bad_completions += bad_completions;
        self.bad_index += bad_index;
        self.bad_len += bad_len;
        self.bad_flags += bad_flags;
        self.bad_status += bad_status;
        self.bad_rss += bad_rss;
        self.irq_wakeups += irq_wakeups;
        self.wait_timeouts += wait_timeouts;
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

/// What one [`Driver::poll`] or [`Queue::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollResult {
    /// TX completions reclaimed.
    pub tx_reclaimed: usize,
    /// Frames received.
    pub rx: usize,
}

/// Poison-tolerant lock: the driver's data is consistent at every unlock point, so a panic
/// elsewhere must not take every queue down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An attached NIC: its queue pairs, its interface, RSS, its counters.
pub struct Driver {
    dev: Arc<dyn Device>,
    info: DeviceInfo,
    ifnet: RwLock<Ifnet>,
    /// The queue pairs in use, `num_queues()` of them. Each ring's DMA memory is freed only once
    /// the NIC is known to be quiet ([`Driver::shutdown`]).
    queues: Box<[QueuePair]>,
    /// Interrupt vectors in use (`min(backend's, queues)`); queue `q` waits on `q % len`.
    vectors: Box<[irq::Vector]>,
    irq: AtomicBool,
    /// Set when a completion's index says the device and the driver disagree on a ring.
    wedged: OnceLock<String>,
    /// The RSS block as programmed (the shadow software consults to place flows).
    rss: RwLock<RssConfig>,
    /// Serialises configuration changes (capabilities, RSS, shutdown) so their register
    /// writes never interleave.
    config: Mutex<()>,
    /// Set by [`Driver::shutdown`]: configuration changes are refused from then on.
    stopped: AtomicBool,
    /// Where the next [`Driver::rx_burst`] starts, so no queue starves the others.
    rx_next: AtomicUsize,
    /// How long register waits (reset, idle) may take.
    reg_timeout: Duration,
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
    /// Attaches with [`DriverConfig::default`].
    pub fn attach(dev: Arc<dyn Device>) -> Result<Driver, Error> {
        Driver::attach_with(dev, DriverConfig::default())
    }

    /// Reads the ID block, refuses a NIC it does not speak to, resets it, sets up the queue
    /// pairs, RSS and interrupts, and enables it.
    pub fn attach_with(dev: Arc<dyn Device>, cfg: DriverConfig) -> Result<Driver, Error> {
        let info = read_id_block(&*dev)?;
        for (which, asked) in [("TX", cfg.tx_ring_log2), ("RX", cfg.rx_ring_log2)] {
            if asked < info.ring_min_log2 || asked > info.ring_max_log2 {
                return Err(Error::RingSize { which, asked, min: info.ring_min_log2, max: info.ring_max_log2 });
            }
        }
        let nq = match cfg.queues {
            None => info.num_queues,
            Some(0) => {
                return Err(Error::Config("queues = Some(0): ask for at least one queue pair (None: all)".into()))
            }
            Some(n) => (n as u32).min(info.num_queues),
        };
        let max_frame = info.max_frame as usize;
        let rx_buf_len = cfg.rx_buf_len.unwrap_or(max_frame);
        if rx_buf_len == 0 || rx_buf_len > u32::MAX as usize {
            return Err(Error::Layout(format!("RX buffer length {rx_buf_len} unusable")));
        }

        // CTRL block (0x100): quiesce and soft reset; every queue's indices read zero after it.
        let t = cfg.reg_timeout;
        quiesce_nic(&*dev, t)?;
        for q in 0..nq {
            for reg in [txq(q) + qreg::HEAD, txq(q) + qreg::CQ_TAIL, rxq(q) + qreg::HEAD, rxq(q) + qreg::CQ_TAIL] {
                let value = dev.read32(reg)?;
                if value != 0 {
                    return Err(Error::ResetIncomplete { reg, value });
                }
            }
        }

        // Rings, completion queues and buffers in the device's DMA memory; queue blocks at
        // 0x800 + 0x100*q (TXQ) and +0x80 (RXQ): bases, sizes, indices.
        let dma = Arc::clone(dev.dma());
        let mut queues = Vec::with_capacity(nq as usize);
        for q in 0..nq {
            let tx = TxQueue::new(&dma, q, cfg.tx_ring_log2, max_frame)?;
            let rx = RxQueue::new(&dma, q, cfg.rx_ring_log2, rx_buf_len)?;
            tx.program(&*dev)?;
            rx.program(&*dev)?;
            queues.push(QueuePair {
                tx: Mutex::new(Some(tx)),
                rx: Mutex::new(Some(rx)),
                irq_wakeups: Default::default(),
                wait_timeouts: Default::default(),
            });
        }

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

        // RSS block (0x300): the default key, every type both the NIC and this driver know, the
        // table spread over the queues in use (so no frame goes to a queue without buffers).
        let rss = RssConfig::initial(&info, nq as u16);
        if rss.present {
            rss::program(&*dev, &rss)?;
        }

        // Interrupts: probe the backend; clear stale causes (write 1 to clear) of every queue the
        // NIC has; enable those of the queues in use.
        let irq = cfg.use_irq
            && match dev.wait_irq(Duration::ZERO) {
                Ok(_) => true,
                Err(DevError::NoInterrupts) => false,
                Err(e) => return Err(e.into()),
            };
        let all_causes = (0..info.num_queues).fold(0, |m, q| m | ctrl::irq_pair(q));
        let used_causes = (0..nq).fold(0, |m, q| m | ctrl::irq_pair(q));
        dev.write32(ctrl::IRQ_STATUS, all_causes)?;
        dev.write32(ctrl::IRQ_MASK, if irq { used_causes } else { 0 })?;
        let nvec = dev.irq_vectors().clamp(1, nq);

        let d = Driver {
            dev,
            info,
            ifnet: RwLock::new(ifnet),
            queues: queues.into_boxed_slice(),
            vectors: (0..nvec).map(|_| irq::Vector::default()).collect(),
            irq: AtomicBool::new(irq),
            wedged: OnceLock::new(),
            rss: RwLock::new(rss),
            config: Mutex::new(()),
            stopped: AtomicBool::new(false),
            rx_next: AtomicUsize::new(0),
            reg_timeout: t,
        };
        // Post every RX buffer of every queue, then run.
        for p in d.queues.iter() {
            if let Some(rx) = lock(&p.rx).as_mut() {
                rx.fill(&*d.dev)?;
            }
        }
        d.dev.write32(ctrl::CTRL, ctrl::CTRL_ENABLE)?;
        log::info!(
            "{}: {} attached, ABI {}.{}, {} of {} queue pairs on {} interrupt vector(s), RSS {}, caps {}",
            cfg.if_name,
            d.info.describe,
            d.info.abi_major,
            d.info.abi_minor,
            nq,
            d.info.num_queues,
            nvec,
            if d.rss().present { "on" } else { "absent" },
            crate::ifnet::format_caps("options", caps)
        );
        Ok(d)
    }

    /// What the ID block said.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The interface this NIC is, as it is now (capabilities change under ifconfig).
    pub fn ifnet(&self) -> Ifnet {
        self.ifnet_read().clone()
    }

    fn ifnet_read(&self) -> std::sync::RwLockReadGuard<'_, Ifnet> {
        self.ifnet.read().unwrap_or_else(|e| e.into_inner())
    }

    fn ifnet_write(&self) -> std::sync::RwLockWriteGuard<'_, Ifnet> {
        self.ifnet.write().unwrap_or_else(|e| e.into_inner())
    }

    fn hwassist(&self) -> u32 {
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

    fn ifname(&self) -> String {
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

    fn vector_of(&self, q: u16) -> u32 {
        q as u32 % self.vectors.len() as u32
    }

    /// Queue pair `q`, for the thread that drives it. A `q` at or beyond [`Driver::num_queues`]
    /// means queue 0, as the NIC treats an indirection-table entry naming a queue it lacks.
    pub fn queue(&self, q: u16) -> Queue<'_> {
        Queue { drv: self, q: if (q as usize) < self.queues.len() { q } else { 0 } }
    }

    /// Every queue pair, in order.
    pub fn queues(&self) -> impl Iterator<Item = Queue<'_>> {
        (0..self.num_queues()).map(move |q| self.queue(q))
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

    fn interrupts_unavailable(&self) {
        if self.irq.swap(false, Ordering::Relaxed) {
            log::info!("{}: backend has no interrupts; polling", self.ifname());
        }
    }

    /// Records that a ring's state is unknown and stops every queue.
    fn wedge(&self, e: &CompletionError) -> Error {
        let why = self.wedged.get_or_init(|| e.to_string());
        Error::Wedged(why.clone())
    }

    /// Clears the causes among `mask` that are set (write 1 to clear: other queues' bits are
    /// untouched); returns them.
    fn ack_queues(&self, mask: u32) -> Result<u32, Error> {
        let causes = self.dev.read32(ctrl::IRQ_STATUS)? & mask;
        if causes != 0 {
            self.dev.write32(ctrl::IRQ_STATUS, causes)?;
        }
        Ok(causes)
    }

    /// Clears the causes of every queue on vector `v` (the waiter that took its interrupt does
    /// this for all of them before waking them).
    fn ack_vector(&self, v: u32) -> Result<(), Error> {
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
            let until = Instant::now() + self.reg_timeout;
            for t in rings.iter_mut().filter_map(|g| g.as_mut()) {
                while t.outstanding() > 0 && Instant::now() < until {
                    if t.reclaim(self).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(50));
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
        // One vector: sleep on it through its sharers' fanout (taking its generation before
        // looking at the queues, so no interrupt is lost).
        let since = self.vectors[0].generation();
        if self.work_pending()? {
            return Ok(true);
        }
        let start = Instant::now();
        if self.uses_interrupts() {
            let r = if self.vectors.len() == 1 {
                self.vectors[0].wait_since(|t| self.dev.wait_irq_vector(0, t), since, timeout, || {
                    if let Err(e) = self.ack_vector(0) {
                        log::warn!("{}: acknowledging interrupt vector 0: {e}", self.ifname());
                    }
                })
            } else {
                self.dev.wait_irq(timeout).and_then(|fired| {
                    if fired {
                        self.ack_interrupt().map_err(|e| match e {
                            Error::Dev(d) => d,
                            other => DevError::Gone(other.to_string()),
                        })?;
                    }
                    Ok(fired)
                })
            };
            return self.end_wait(r, &self.queues[0], start, timeout, || self.work_pending());
        }
        self.end_wait(Err(DevError::NoInterrupts), &self.queues[0], start, timeout, || self.work_pending())
    }

    /// How every wait ends, once the interrupt wait returned `irq` (`NoInterrupts`: no
    /// interrupts in use): woken (counted), timed out (counted unless work showed up anyway),
    /// or, without interrupts, polling `pending` with a pause growing to 1 ms until `timeout`
    /// from `start`.
    fn end_wait(
        &self,
        irq: Result<bool, DevError>,
        pair: &QueuePair,
        start: Instant,
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
            let waited = start.elapsed();
            if waited >= timeout {
                pair.wait_timeouts.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
            std::thread::sleep(pause.min(timeout - waited));
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
        // The device must stop DMA before the buffers go back to the region; a driver already
        // shut down has nothing left to free.
        let _ = self.shutdown();
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
    use nic_abi::desc::{IP4_HLEN_MIN, IP6_HLEN_MIN, TSO_L4HLEN_ALIGN, TSO_L4HLEN_MAX, TSO_L4HLEN_MIN};
    let l3_min = if v4 { IP4_HLEN_MIN } else { IP6_HLEN_MIN } as usize;
    if !(TSO_L4HLEN_MIN as usize..=TSO_L4HLEN_MAX as usize).contains(&l4)
        || l4 % TSO_L4HLEN_ALIGN as usize != 0
        || l3 < l3_min
        || l2 % 2 != 0
        || l3 % 2 != 0
    {
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

// A driver is shared by its queues' workers, its senders and the control plane.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Driver>();
};

/// Reads and checks the ID block (0x000).
fn read_id_block(dev: &dyn Device) -> Result<DeviceInfo, Error> {
    let describe = dev.describe();
    let found = dev.read32(id::ID)?;
    if found != NIC_ID {
        return Err(Error::WrongId { device: describe, found, expected: NIC_ID });
    }
    let ver = dev.read32(id::VERSION)?;
    let (found_major, found_minor) = (id::VERSION_MAJOR.get(ver) as u16, id::VERSION_MINOR.get(ver) as u16);
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
    let ring_max_log2 = id::RING_MAX_LOG2.get(limits).min(RING_MAX_LOG2);
    let ring_min_log2 = id::RING_MIN_LOG2.get(limits).max(RING_MIN_LOG2);
    let tso_segs = dev.read32(id::TSO_SEGS)?;
    let rss_info = dev.read32(id::RSS_INFO)?;
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
        tso_max_segs: id::TSO_MAX_SEGCOUNT.get(tso_segs) as u16,
        tso_max_segsize: id::TSO_MAX_SEGSIZE.get(tso_segs) as u16,
        toe_contexts: dev.read32(id::TOE_CONTEXTS)?,
        num_queues: dev.read32(id::NUM_QUEUES)?,
        rss_reta_size: id::RSS_RETA_SIZE.get(rss_info),
        rss_key_size: id::RSS_KEY_SIZE.get(rss_info),
        rss_hashtypes: dev.read32(id::RSS_HASHTYPES)?,
    };
    if info.num_queues == 0 || info.num_queues > MAX_QUEUES {
        return Err(Error::Layout(format!(
            "the NIC reports {} queue pairs, this ABI allows 1..={MAX_QUEUES}",
            info.num_queues
        )));
    }
    let (reta, key) = (nic_abi::rss::RETA_SIZE as u32, nic_abi::rss::KEY_SIZE as u32);
    if rss_info != 0 && (info.rss_reta_size != reta || info.rss_key_size != key) {
        return Err(Error::Layout(format!(
            "RSS_INFO 0x{rss_info:x}: {} table entries and {}-byte key, this ABI has {reta} and {key}",
            info.rss_reta_size, info.rss_key_size
        )));
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
    dev.write32(q + qreg::BASE_LO, ring as u32)?;
    dev.write32(q + qreg::BASE_HI, (ring >> 32) as u32)?;
    dev.write32(q + qreg::SIZE_LOG2, size_log2)?;
    dev.write32(q + qreg::CQ_BASE_LO, cq as u32)?;
    dev.write32(q + qreg::CQ_BASE_HI, (cq >> 32) as u32)?;
    dev.write32(q + qreg::CQ_HEAD, 0)?;
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
        use nic_testbench::traffic::{self, Kind};
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

    /// A completion with a hash the ABI does not define is counted in `bad_rss` and
    /// `bad_completions`; the frame itself still goes up (without the hash: the validator strips
    /// it, `cpl::tests::hashes_of_known_types_pass_and_others_are_stripped`). The RTL never
    /// writes such a hash, so no test on the Verilator model can produce one: the receive path's
    /// two halves are pinned here, as pure functions.
    #[test]
    fn a_bad_hash_is_counted_as_a_bad_completion() {
        let mut c = Counters::default();
        let e = CompletionError::Rss { index: 7, flowid: 5, rsstype: 0x88 };
        for _ in 0..10 {
            c.count_bad(&e);
        }
        assert_eq!((c.bad_rss, c.bad_completions), (10, 10));
        assert_eq!((c.bad_index, c.bad_len, c.bad_flags, c.bad_status), (0, 0, 0, 0));
    }
}
