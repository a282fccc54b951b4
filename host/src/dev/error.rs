//! Why a device operation failed: the one error type of every backend.

use std::fmt;
use std::time::Duration;

/// Why a device operation failed; each variant says what to look at next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevError {
    /// A wait for register bits expired; the register's last value says what state the device was stuck in.
    Timeout {
        /// Register offset in BAR0.
        off: u32,
        /// The bits waited on.
        mask: u32,
        /// Whether the bits were awaited set (`true`) or clear (`false`).
        set: bool,
        /// The register's value when the wait gave up.
        last: u32,
        /// How long the wait lasted.
        waited: Duration,
    },
    /// A register access failed on the bus (AXI SLVERR/DECERR, a VFIO region error, a dead model).
    Bus {
        /// Register offset in BAR0.
        off: u32,
        /// What the backend reported.
        detail: String,
    },
    /// The DMA region has no free block that large; free buffers or create a larger region.
    DmaExhausted {
        /// Bytes requested (before alignment).
        requested: usize,
        /// The largest free block at the time.
        largest_free: usize,
    },
    /// A DMA region could not be created (mmap failed, bad size or IOVA base).
    DmaSetup(String),
    /// An access outside a DMA buffer or region: a driver bug, reported instead of corrupting memory.
    DmaRange {
        /// Offset or IOVA of the access.
        at: u64,
        /// Length of the access.
        len: usize,
        /// Size of the buffer or region.
        size: usize,
    },
    /// The backend has no interrupt line; poll instead.
    NoInterrupts,
    /// An interrupt vector the backend does not have (a driver bug: queue `q` waits on
    /// vector `q % vectors`).
    NoVector {
        /// The vector asked for.
        vector: u32,
        /// How many the backend has.
        vectors: u32,
    },
    /// The device is gone (surprise removal, model exited); detach and stop using it.
    Gone(String),
}

impl fmt::Display for DevError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DevError::Timeout { off, mask, set, last, waited } => write!(
                f,
                "register 0x{off:03x}: waited {waited:?} for mask 0x{mask:08x} to {}, last value 0x{last:08x}; \
                 check the device's clock and reset",
                if *set { "set" } else { "clear" }
            ),
            DevError::Bus { off, detail } => {
                write!(f, "bus error at register 0x{off:03x}: {detail}; check the register map version")
            }
            DevError::DmaExhausted { requested, largest_free } => write!(
                f,
                "DMA region exhausted: {requested} bytes requested, largest free block {largest_free}; \
                 use smaller rings or a larger region"
            ),
            DevError::DmaSetup(s) => write!(f, "cannot set up DMA memory: {s}"),
            DevError::DmaRange { at, len, size } => {
                write!(f, "DMA access of {len} bytes at 0x{at:x} outside a region of {size} bytes (driver bug)")
            }
            DevError::NoInterrupts => write!(f, "device has no interrupts; use polling"),
            DevError::NoVector { vector, vectors } => write!(
                f,
                "interrupt vector {vector} asked of a device with {vectors} (driver bug): wait on vector \
                 queue % {vectors}"
            ),
            DevError::Gone(s) => write!(f, "device gone: {s}; detach it"),
        }
    }
}

impl std::error::Error for DevError {}
