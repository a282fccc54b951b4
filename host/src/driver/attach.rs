//! Attach (the init sequence of the register map, `nic_abi::regs`): the ID
//! block read and checked, the NIC reset and quiesced, every queue pair's rings
//! allocated and programmed, offloads and RSS set, interrupts enabled.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use nic_abi::ifcap::{IFCAP_TSO, IFCAP_TXCSUM, IFCAP_TXCSUM_IPV6, IFCAP_VLAN_HWTSO};
use nic_abi::regs::{ctrl, queue as qreg, rxq, txq};

use super::error::Error;
use super::idblock::read_id_block;
use super::if_ofld::{quiesce_nic, Driver, DriverConfig};
use super::qpair::{QueuePair, RxQueue, TxQueue};
use super::rss::{self, RssConfig};
use super::irq;
use crate::dev::{DevError, Device};
use crate::ifnet::Ifnet;
use crate::sync::lock;

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

        // Rings, completion queues and buffers in the device's DMA memory; each queue pair's
        // registers at `regs::txq(q)` and `regs::rxq(q)`: bases, sizes, indices.
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
