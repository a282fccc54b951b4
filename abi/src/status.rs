//! Completion status codes (bits 6:0 of a completion's `status` byte).
//!
//! A descriptor the NIC refuses completes with one of these, puts nothing on
//! the wire, and leaves the NIC running. Every descriptor of a packet (a
//! chain, `TXD_MORE`) completes with the packet's one status: the first rule
//! any of its descriptors breaks, checked in ring order, or `DMA_ERROR`. A data
//! read error found mid-burst stops the rest of the burst; TSO segments
//! already on the wire stay sent (TCP retransmits them). Unknown values stay representable:
//! a driver maps them to [`Status::Unknown`] and counts, it does not panic.

/// Completed normally.
pub const OK: u8 = 0;
/// Length zero, below [`crate::MIN_TX_FRAME`], above [`crate::MAX_FRAME`], or above the buffer.
pub const BAD_LEN: u8 = 1;
/// Buffer address not [`crate::DMA_ALIGN`]-aligned.
pub const BAD_ALIGN: u8 = 2;
/// Header lengths or `csum_data` point past the frame, or the L4 start is odd.
pub const BAD_OFFSETS: u8 = 3;
/// Unknown, unsupported, conflicting or not-enabled `csum_flags`.
pub const BAD_FLAGS: u8 = 4;
/// A reserved descriptor field is not zero.
pub const BAD_RSVD: u8 = 5;
/// The DMA read of the descriptor or the data got an AXI error response.
pub const DMA_ERROR: u8 = 6;
/// A descriptor chain the NIC cannot follow: longer than [`crate::desc::TX_MAX_CHAIN`],
/// `pkt_len` not the sum of the buffers, a buffer other than the last not a multiple of
/// 8 bytes, or a TSO header not inside the first buffer with payload after it.
pub const BAD_CHAIN: u8 = 7;

/// A decoded completion status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Completed normally.
    Ok,
    /// See [`BAD_LEN`].
    BadLen,
    /// See [`BAD_ALIGN`].
    BadAlign,
    /// See [`BAD_OFFSETS`].
    BadOffsets,
    /// See [`BAD_FLAGS`].
    BadFlags,
    /// See [`BAD_RSVD`].
    BadRsvd,
    /// See [`DMA_ERROR`].
    DmaError,
    /// See [`BAD_CHAIN`].
    BadChain,
    /// A code this ABI version does not define: the device is newer, or wrote garbage.
    Unknown(u8),
}

impl From<u8> for Status {
    fn from(v: u8) -> Self {
        match v {
            OK => Status::Ok,
            BAD_LEN => Status::BadLen,
            BAD_ALIGN => Status::BadAlign,
            BAD_OFFSETS => Status::BadOffsets,
            BAD_FLAGS => Status::BadFlags,
            BAD_RSVD => Status::BadRsvd,
            DMA_ERROR => Status::DmaError,
            BAD_CHAIN => Status::BadChain,
            x => Status::Unknown(x),
        }
    }
}

impl Status {
    /// A short human description, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::BadLen => "bad length (zero, too short, over the max frame)",
            Status::BadAlign => "buffer address not 8-byte aligned",
            Status::BadOffsets => "header lengths or checksum offset outside the frame",
            Status::BadFlags => "checksum flags unknown, conflicting or not enabled",
            Status::BadRsvd => "reserved descriptor field not zero",
            Status::DmaError => "DMA error reading the descriptor or data",
            Status::BadChain => "descriptor chain too long, inconsistent, or TSO header split",
            Status::Unknown(_) => "status code unknown to this driver",
        }
    }
}
