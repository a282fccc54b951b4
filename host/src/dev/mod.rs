//! The device: the one trait every backend implements, and its register vocabulary.
//!
//! A backend (the Verilator model, VFIO on a real or emulated PCIe device, or a
//! wrapper that injects faults or captures pcap) provides 32-bit register
//! access to BAR0, the DMA memory the device can reach, and interrupt waits:
//! for any interrupt, or for one vector (the NIC's interrupt line `q` belongs
//! to queue pair `q`; a backend with fewer vectors than the NIC has queues
//! serves queue `q` on vector `q % vectors`).
//! The driver is written once over this trait (ixy's `IxyDevice`, smoltcp's
//! `phy::Device`), so what passes on the model passes on the board.

mod dma;
mod error;
mod freelist;
#[cfg(all(feature = "vfio", target_os = "linux"))]
pub mod vfio;
#[cfg(feature = "sim")]
pub mod sim;

pub use dma::{DmaBuf, DmaRegion, DMA_BUF_ALIGN};
pub use error::DevError;

use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a device backend can do; the driver needs nothing else.
///
/// Register offsets are byte offsets in BAR0 from [`nic_abi::regs`]. All
/// methods take `&self` because a device is shared between the driver and
/// whoever watches it (stats readers, a control socket); backends serialise
/// bus access internally.
pub trait Device: Send + Sync {
    /// A one-line human description ("verilator model, 156.25 MHz", "vfio 0000:01:00.0"),
    /// so every error and log line can say which device it is about.
    fn describe(&self) -> String;
    /// Reads a 32-bit register; an error means the bus transaction itself failed.
    fn read32(&self, off: u32) -> Result<u32, DevError>;
    /// Writes a 32-bit register; an error means the bus transaction itself failed.
    fn write32(&self, off: u32, val: u32) -> Result<(), DevError>;
    /// The DMA memory this device reaches, so the driver allocates rings and buffers where the device can see them.
    fn dma(&self) -> &Arc<DmaRegion>;
    /// Blocks until an interrupt arrives (`Ok(true)`) or `timeout` passes (`Ok(false)`).
    ///
    /// A backend without interrupts returns [`DevError::NoInterrupts`]; the
    /// driver then falls back to polling.
    fn wait_irq(&self, timeout: Duration) -> Result<bool, DevError>;

    /// How many interrupt vectors this backend delivers separately, so each queue pair's worker
    /// can wait for its own. Queue `q` of the NIC uses vector `q % irq_vectors()`; a backend
    /// with one vector (MSI, INTx) serves every queue on vector 0. Never zero.
    fn irq_vectors(&self) -> u32 {
        1
    }

    /// Blocks until interrupt vector `vector` fires (`Ok(true)`) or `timeout` passes
    /// (`Ok(false)`), so a queue's worker sleeps without waking for another queue's traffic.
    ///
    /// The default, for one-vector backends, is [`Device::wait_irq`] on vector 0. A vector
    /// at or beyond [`Device::irq_vectors`] is [`DevError::NoVector`]; a backend without
    /// interrupts returns [`DevError::NoInterrupts`].
    fn wait_irq_vector(&self, vector: u32, timeout: Duration) -> Result<bool, DevError> {
        let vectors = self.irq_vectors();
        if vector >= vectors {
            return Err(DevError::NoVector { vector, vectors });
        }
        self.wait_irq(timeout)
    }

    /// The device's own time, when it runs in simulated time (a deterministic co-simulation):
    /// the driver then measures every timeout in it, so a run does not depend on how fast the
    /// host is. `None` (the default): the device runs in wall time.
    fn sim_time(&self) -> Option<Duration> {
        None
    }

    /// Lets `d` pass in the device's time before polling again: a sleep in wall time, or
    /// simulated cycles for a device in simulated time (sleeping would stop its clock). An
    /// error means the device's time can no longer pass (the simulation stopped): a poll
    /// loop must end rather than spin on a clock that stands still.
    fn pause(&self, d: Duration) -> Result<(), DevError> {
        std::thread::sleep(d);
        Ok(())
    }
}

/// The ixy register vocabulary, for every [`Device`] (including `dyn Device`).
///
/// Every wait has a timeout and reports register, mask and value when it
/// expires, so a hung init sequence says where it hung.
pub trait DeviceExt: Device {
    /// Read-modify-write: sets `mask` in the register at `off`.
    fn set_bits(&self, off: u32, mask: u32) -> Result<(), DevError> {
        let v = self.read32(off)?;
        self.write32(off, v | mask)
    }

    /// Read-modify-write: clears `mask` in the register at `off`.
    fn clear_bits(&self, off: u32, mask: u32) -> Result<(), DevError> {
        let v = self.read32(off)?;
        self.write32(off, v & !mask)
    }

    /// The device's time now ([`Device::sim_time`], or wall time since this process first
    /// asked): what every driver deadline is measured in.
    fn now(&self) -> Duration {
        self.sim_time().unwrap_or_else(wall_time)
    }

    /// Waits until all bits of `mask` are set at `off`; returns the register value.
    fn wait_set(&self, off: u32, mask: u32, timeout: Duration) -> Result<u32, DevError> {
        wait_bits(self, off, mask, true, timeout)
    }

    /// Waits until all bits of `mask` are clear at `off`; returns the register value.
    fn wait_clear(&self, off: u32, mask: u32, timeout: Duration) -> Result<u32, DevError> {
        wait_bits(self, off, mask, false, timeout)
    }
}

impl<T: Device + ?Sized> DeviceExt for T {}

/// Wall time since this process first asked: the clock of a device that runs in wall time.
pub fn wall_time() -> Duration {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed()
}

fn wait_bits<D: Device + ?Sized>(
    dev: &D,
    off: u32,
    mask: u32,
    set: bool,
    timeout: Duration,
) -> Result<u32, DevError> {
    let start = dev.now();
    // Short pauses first (a model answers within microseconds), then back off so
    // a long wait does not spin a core the other tests need.
    let mut pause = Duration::from_micros(10);
    loop {
        let v = dev.read32(off)?;
        let done = if set { v & mask == mask } else { v & mask == 0 };
        if done {
            return Ok(v);
        }
        let waited = dev.now().saturating_sub(start);
        if waited >= timeout {
            let e = DevError::Timeout { off, mask, set, last: v, waited };
            log::warn!("{}: {e}", dev.describe());
            return Err(e);
        }
        dev.pause(pause.min(timeout - waited))?;
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}
