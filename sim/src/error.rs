//! The one error type of the simulator.

use std::fmt;

/// Everything that can go wrong between a caller and the co-simulation.
///
/// Each `Display` says what happened and what to do about it.
#[derive(Debug)]
pub enum SimError {
    /// A register access was not answered by the RTL's AXI4-Lite slave in time.
    RegTimeout {
        /// `true` for a write.
        write: bool,
        /// Byte offset in BAR0.
        off: u32,
        /// Simulated cycles waited.
        cycles: u64,
        /// Cycle at which the access started.
        at_cycle: u64,
    },
    /// The RTL answered a register access with an error response (SLVERR/DECERR).
    RegResponse {
        /// `true` for a write.
        write: bool,
        /// Byte offset in BAR0.
        off: u32,
        /// The AXI response code (2 = SLVERR, 3 = DECERR).
        resp: u8,
    },
    /// A register offset that is not a 32-bit aligned offset in the 4 KiB BAR.
    BadOffset(u32),
    /// `inject`/`take_tx` on a NIC whose wire is not `External`.
    NotExternal,
    /// The simulation thread is gone (the `Sim` was dropped, or its thread panicked).
    Stopped(String),
    /// An invalid `SimConfig`.
    Config(String),
    /// A file the simulator writes (VCD, pcap) could not be created or written.
    Io {
        /// What the file is for.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rw = |w: &bool| if *w { "write" } else { "read" };
        match self {
            SimError::RegTimeout { write, off, cycles, at_cycle } => write!(
                f,
                "register access timed out: {} of BAR0+{off:#05x} started at cycle {at_cycle} was not \
                 answered in {cycles} cycles; the RTL's AXI4-Lite slave is stuck or not decoding that \
                 address — capture a VCD window around cycle {at_cycle} (SimConfig::vcd)",
                rw(write)
            ),
            SimError::RegResponse { write, off, resp } => write!(
                f,
                "register {} of BAR0+{off:#05x} answered with AXI response {resp} ({}); check the \
                 offset against nic_abi::regs",
                rw(write),
                if *resp == 3 { "DECERR" } else { "SLVERR" }
            ),
            SimError::BadOffset(off) => write!(
                f,
                "register offset {off:#x} is not a 4-byte aligned offset below {:#x} (BAR0's size); use \
                 the constants in nic_abi::regs",
                nic_abi::regs::BAR0_SIZE
            ),
            SimError::NotExternal => write!(
                f,
                "frames can be injected and taken only on an External wire; start the Sim with \
                 SimConfig::external(n)"
            ),
            SimError::Stopped(why) => write!(
                f,
                "the simulation thread has stopped ({why}); start a new Sim"
            ),
            SimError::Config(why) => write!(f, "invalid simulator configuration: {why}"),
            SimError::Io { what, source } => write!(
                f,
                "cannot write the {what}: {source}; check the path exists and is writable"
            ),
        }
    }
}

impl std::error::Error for SimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SimError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
