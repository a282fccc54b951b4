//! Attach (the init sequence of the register map, `nic_abi::regs`): the ID
//! block read and checked, the NIC reset and quiesced, every queue pair's rings
//! allocated and programmed, offloads and RSS set, interrupts enabled.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use nic_abi::ifcap::{IFCAP_TSO, IFCAP_TXCSUM, IFCAP_TXCSUM_IPV6, IFCAP_VLAN_HWTSO};
use nic_abi::regs::{ctrl, id, queue as qreg, rxq, txq};
use nic_abi::{ABI_MAJOR, ABI_MINOR, MAX_FRAME, MAX_QUEUES, MIN_TX_FRAME, NIC_ID, RING_MAX_LOG2, RING_MIN_LOG2};

use super::error::Error;
use super::queue::{QueuePair, RxQueue, TxQueue};
use super::rss::RssConfig;
use super::{irq, lock, quiesce_nic, rss, Driver, DriverConfig};
use crate::dev::{DevError, Device};
use crate::ifnet::Ifnet;

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
pub(super) fn program_queue(dev: &dyn Device, q: u32, ring: u64, cq: u64, size_log2: u32) -> Result<(), DevError> {
    dev.write32(q + qreg::BASE_LO, ring as u32)?;
    dev.write32(q + qreg::BASE_HI, (ring >> 32) as u32)?;
    dev.write32(q + qreg::SIZE_LOG2, size_log2)?;
    dev.write32(q + qreg::CQ_BASE_LO, cq as u32)?;
    dev.write32(q + qreg::CQ_BASE_HI, (cq >> 32) as u32)?;
    dev.write32(q + qreg::CQ_HEAD, 0)?;
    Ok(())
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
}
