//! The driver's errors, each with a `Display` that says what to do: why attach
//! or an I/O call failed, and why a frame was refused before it reached a ring.

use std::fmt;

use super::cpl::CompletionError;
use crate::dev::DevError;
use crate::mbuf::Mbuf;

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
        /// [`NIC_ID`](nic_abi::NIC_ID).
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
    /// A [`DriverConfig`](crate::driver::DriverConfig) value the driver cannot honour.
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
        /// [`MIN_TX_FRAME`](nic_abi::MIN_TX_FRAME).
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
