//! The Verilator backend: the same driver, talking to the RTL running in
//! `nic-sim`'s world instead of a board behind VFIO (clocked by its own thread, or
//! in lockstep by the driver's thread while it waits: then the device's time is
//! simulated time, [`Device::sim_time`]).
//!
//! Register reads and writes become AXI4-Lite transactions that take
//! simulated cycles; the model's DMA reaches this process's [`DmaRegion`] by
//! IOVA, exactly the addresses the driver programs, so no address is
//! translated twice.
//!
//! Interrupts: the model brings out one line per queue pair, and by default
//! each is a vector of its own (MSI-X on a board). [`SimDevice::with_vectors`]
//! presents them as fewer vectors, vector `v` the OR of the lines `q` with
//! `q % vectors == v`, as a board with fewer vectors than queue pairs (or one
//! MSI) wires them; so the driver's shared-vector path runs on the RTL too.

use super::{DevError, Device, DmaRegion};
use nic_sim::{DmaMemory, SimNic};
use std::sync::Arc;
use std::time::Duration;

/// Where the simulated NIC's DMA window starts: an arbitrary non-zero IOVA, so
/// a driver bug that programs a host pointer or zero faults instead of working by luck.
pub const SIM_IOVA_BASE: u64 = 0x1_0000_0000;

/// The model's view of the driver's DMA memory.
struct RegionMemory(Arc<DmaRegion>);

impl DmaMemory for RegionMemory {
    fn read(&self, iova: u64, buf: &mut [u8]) -> bool {
        self.0.read(iova, buf)
    }
    fn write(&self, iova: u64, data: &[u8]) -> bool {
        self.0.write(iova, data)
    }
}

/// One NIC of a running [`nic_sim::Sim`], as a [`Device`].
pub struct SimDevice {
    nic: SimNic,
    dma: Arc<DmaRegion>,
    /// Interrupt vectors presented (1..=[`SIM_IRQ_LINES`]).
    vectors: u32,
}

impl SimDevice {
    /// Gives NIC `nic` a DMA region of `dma_bytes` and returns it as a device.
    pub fn new(nic: SimNic, dma_bytes: usize) -> Result<Self, DevError> {
        let dma = DmaRegion::new(dma_bytes, SIM_IOVA_BASE + (nic.index() as u64) * 0x1_0000_0000)?;
        nic.attach_memory(Arc::new(RegionMemory(dma.clone())))
            .map_err(|e| DevError::Gone(format!("attaching DMA memory to the model: {e}")))?;
        Ok(Self { nic, dma, vectors: SIM_IRQ_LINES })
    }

    /// The same device with its interrupt lines folded into `vectors` vectors (clamped to 1..=8):
    /// queue pair `q`'s line fires vector `q % vectors`, as on a board with that many MSI-X
    /// vectors (1: plain MSI). Lines stay level: a vector is high while any of its lines is.
    pub fn with_vectors(self, vectors: u32) -> Self {
        Self { vectors: vectors.clamp(1, SIM_IRQ_LINES), ..self }
    }

    /// The simulator handle, for wire-level access in tests and tools.
    pub fn sim_nic(&self) -> &SimNic {
        &self.nic
    }
}

impl Device for SimDevice {
    fn describe(&self) -> String {
        format!(
            "verilator model nic{} ({} MHz, {}-bit)",
            self.nic.index(),
            nic_abi::CLOCK_MHZ,
            nic_abi::DATAPATH_BITS
        )
    }
    fn read32(&self, off: u32) -> Result<u32, DevError> {
        self.nic.read32(off).map_err(|e| DevError::Bus { off, detail: e.to_string() })
    }
    fn write32(&self, off: u32, val: u32) -> Result<(), DevError> {
        self.nic.write32(off, val).map_err(|e| DevError::Bus { off, detail: e.to_string() })
    }
    fn dma(&self) -> &Arc<DmaRegion> {
        &self.dma
    }
    fn wait_irq(&self, timeout: Duration) -> Result<bool, DevError> {
        self.nic.wait_irq(timeout).map_err(|e| DevError::Gone(e.to_string()))
    }
    /// The model brings out every interrupt line separately (bit `q` of [`SimNic::irq_lines`]),
    /// as many as the widest build has queue pairs; the NIC's `NUM_QUEUES` says which are used.
    /// Fewer when [`SimDevice::with_vectors`] folded them.
    fn irq_vectors(&self) -> u32 {
        self.vectors
    }
    fn wait_irq_vector(&self, vector: u32, timeout: Duration) -> Result<bool, DevError> {
        if vector >= self.vectors {
            return Err(DevError::NoVector { vector, vectors: self.vectors });
        }
        let lines = (0..SIM_IRQ_LINES).filter(|q| q % self.vectors == vector).fold(0u8, |m, q| m | (1 << q));
        self.nic.wait_irq_lines(lines, timeout).map_err(|e| DevError::Gone(e.to_string()))
    }
    /// Simulated time when the simulation runs in lockstep ([`nic_sim::SimConfig::lockstep`]).
    fn sim_time(&self) -> Option<Duration> {
        self.nic.sim_time()
    }
    fn pause(&self, d: Duration) -> Result<(), DevError> {
        self.nic.pause(d).map_err(|e| DevError::Gone(e.to_string()))
    }
}

/// Interrupt lines the model has: one per queue pair of the widest build (`u8` of line bits).
const SIM_IRQ_LINES: u32 = 8;
const _: () = assert!(SIM_IRQ_LINES >= nic_abi::MAX_QUEUES);

/// One simulation at a time among the library's tests: a clock thread is busy while traffic
/// flows, and several of them on a two-core machine starve each other's workers.
#[cfg(test)]
pub(crate) fn test_serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}
