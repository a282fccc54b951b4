//! The register map: byte offsets in BAR0 (AXI4-Lite, 32-bit registers).
//!
//! Layout, one 256-byte block each:
//!
//! ```text
//! 0x000 ID      self-describing: what this NIC is and what it can do (read-only)
//! 0x100 CTRL    enable, soft reset, offload enables, interrupts
//! 0x300 RSS     Toeplitz key, hash-type enables, indirection table
//! 0x400 STATS   free-running 32-bit counters (read-only, wrap)
//! 0x800 + 0x100*q  queue pair q (q < NUM_QUEUES, at most 8):
//!       +0x00 TXQ  transmit ring and its completion queue
//!       +0x80 RXQ  receive (buffer) ring and its completion queue
//! ```
//!
//! Queue pair `q` owns interrupt causes `irq_tx(q)` and `irq_rx(q)` and the
//! NIC's interrupt line `q` (an MSI-X vector on a board; a board with one
//! vector ORs them). Received frames are spread over the RX queues by RSS
//! (block 0x300); a TX queue is the driver's to choose.
//!
//! Ring protocol (both directions): the driver owns a ring of descriptors of
//! `1 << SIZE_LOG2` entries and a completion queue of the same size. Indices
//! are free-running 16-bit counters; the slot is `index & (size - 1)`.
//! The driver writes its producer index to `TAIL` (the doorbell); the device
//! reports its consumer index in `HEAD`, and writes one completion per
//! descriptor, in order, into the completion queue with the phase bit of
//! [`crate::desc::Completion`] set to [`crate::desc::phase_for`] of the
//! completion's free-running index. The driver returns completion slots by
//! writing its consumer index to `CQ_HEAD`; the device never overwrites an
//! unreturned completion.

/// The self-describing ID block at 0x000. Everything here is read-only.
pub mod id {
    use crate::field::Field;

    /// Magic: [`crate::NIC_ID`] ("OFLD").
    pub const ID: u32 = 0x000;
    /// ABI version: [`crate::ABI_VERSION`], fields [`VERSION_MAJOR`] and [`VERSION_MINOR`].
    pub const VERSION: u32 = 0x004;
    /// `VERSION` bits 31:16: the ABI major version ([`crate::ABI_MAJOR`]).
    pub const VERSION_MAJOR: Field = Field::new(VERSION, 16, 16);
    /// `VERSION` bits 15:0: the ABI minor version ([`crate::ABI_MINOR`]).
    pub const VERSION_MINOR: Field = Field::new(VERSION, 0, 16);
    /// Low 32 bits of the hash of the RTL source this bitstream/model was built from.
    pub const BUILD_HASH: u32 = 0x008;
    /// What the hardware can do, in `IFCAP_*` layout (FreeBSD's `if_capabilities`).
    pub const CAPS: u32 = 0x00c;
    /// Datapath width in bits ([`crate::DATAPATH_BITS`]).
    pub const DATAPATH: u32 = 0x010;
    /// Core clock in kHz ([`crate::CLOCK_KHZ`]).
    pub const CLOCK_KHZ: u32 = 0x014;
    /// Ring size limits: fields [`RING_MAX_LOG2`] and [`RING_MIN_LOG2`].
    pub const RING_LIMITS: u32 = 0x018;
    /// `RING_LIMITS` bits 7:0: log2 of the largest ring ([`crate::RING_MAX_LOG2`]).
    pub const RING_MAX_LOG2: Field = Field::new(RING_LIMITS, 0, 8);
    /// `RING_LIMITS` bits 15:8: log2 of the smallest ring ([`crate::RING_MIN_LOG2`]).
    pub const RING_MIN_LOG2: Field = Field::new(RING_LIMITS, 8, 8);
    /// Largest frame in bytes ([`crate::MAX_FRAME`]).
    pub const MAX_FRAME: u32 = 0x01c;
    /// TSO: largest burst in bytes, headers included (FreeBSD's `if_hw_tsomax`; 0: no TSO).
    pub const TSO_MAX: u32 = 0x020;
    /// Descriptor chains: fields [`TSO_MAX_SEGCOUNT`] and [`TSO_MAX_SEGSIZE`].
    pub const TSO_SEGS: u32 = 0x024;
    /// `TSO_SEGS` bits 15:0: most descriptors per packet (`if_hw_tsomaxsegcount`,
    /// [`crate::desc::TX_MAX_CHAIN`]).
    pub const TSO_MAX_SEGCOUNT: Field = Field::new(TSO_SEGS, 0, 16);
    /// `TSO_SEGS` bits 31:16: most bytes per buffer (`if_hw_tsomaxsegsize`,
    /// [`crate::desc::TX_MAX_SEGSIZE`]).
    pub const TSO_MAX_SEGSIZE: Field = Field::new(TSO_SEGS, 16, 16);
    /// TOE connection contexts (0: no TOE in this build).
    pub const TOE_CONTEXTS: u32 = 0x028;
    /// Number of TX/RX queue pairs (a build parameter, 1 to [`crate::MAX_QUEUES`]).
    pub const NUM_QUEUES: u32 = 0x02c;
    /// Offset of the next register block (0x100), so a driver can walk the map.
    pub const NEXT: u32 = 0x030;
    /// RSS (ABI 2.0): fields [`RSS_RETA_SIZE`] and [`RSS_KEY_SIZE`]; zero: no RSS in this build.
    pub const RSS_INFO: u32 = 0x034;
    /// `RSS_INFO` bits 15:0: indirection-table entries ([`crate::rss::RETA_SIZE`]).
    pub const RSS_RETA_SIZE: Field = Field::new(RSS_INFO, 0, 16);
    /// `RSS_INFO` bits 23:16: key bytes ([`crate::rss::KEY_SIZE`]).
    pub const RSS_KEY_SIZE: Field = Field::new(RSS_INFO, 16, 8);
    /// RSS hash types this build computes, `RSS_HASHTYPE_*` bits ([`crate::rss::HASHTYPES_SUPPORTED`]).
    pub const RSS_HASHTYPES: u32 = 0x038;
}

/// Control block at 0x100.
pub mod ctrl {
    /// Control: [`CTRL_ENABLE`], [`CTRL_RESET`].
    pub const CTRL: u32 = 0x100;
    /// Which offloads are on, `IFCAP_*` layout, masked by `CAPS` (FreeBSD's `if_capenable`).
    pub const CAPENABLE: u32 = 0x104;
    /// Interrupt causes, write 1 to clear: [`irq_tx`]`(q)`, [`irq_rx`]`(q)` for each queue pair.
    pub const IRQ_STATUS: u32 = 0x108;
    /// Interrupt enables, same bits as `IRQ_STATUS`.
    pub const IRQ_MASK: u32 = 0x10c;
    /// Status: [`STATUS_IDLE`].
    pub const STATUS: u32 = 0x110;
    /// Capabilities this board switches off (ABI 1.2), `IFCAP_*` layout: a strap that firmware or a
    /// board shell writes before a driver attaches (a board without a TOE memory, a product that
    /// sells without TSO). `CAPS` then reads the build's capabilities without these bits, and
    /// `CAPENABLE` cannot turn them on. Survives the soft reset; cleared by power-on reset.
    pub const CAPDISABLE: u32 = 0x114;

    /// CTRL bit: the datapaths run (rings are fetched, frames received).
    pub const CTRL_ENABLE: u32 = 1 << 0;
    /// CTRL bit: return every state machine to idle and clear the rings' indices. The NIC first lets
    /// its DMA in flight and the frame on the MAC port finish; the bit reads 1 until the reset has
    /// happened, then 0 (wait for that before freeing DMA memory).
    pub const CTRL_RESET: u32 = 1 << 1;
    /// IRQ bit: a completion was written to TX queue `q`'s completion queue (interrupt line `q`).
    pub const fn irq_tx(q: u32) -> u32 {
        1 << (2 * q)
    }
    /// IRQ bit: a completion was written to RX queue `q`'s completion queue (interrupt line `q`).
    pub const fn irq_rx(q: u32) -> u32 {
        1 << (2 * q + 1)
    }
    /// Both IRQ bits of queue pair `q`.
    pub const fn irq_pair(q: u32) -> u32 {
        irq_tx(q) | irq_rx(q)
    }
    /// Queue pair 0's TX cause.
    pub const IRQ_TX: u32 = irq_tx(0);
    /// Queue pair 0's RX cause.
    pub const IRQ_RX: u32 = irq_rx(0);
    /// STATUS bit: no frame or DMA in flight.
    pub const STATUS_IDLE: u32 = 1 << 0;
}

/// Per-queue registers, relative to a queue block ([`txq`], [`rxq`]).
pub mod queue {
    /// Descriptor ring base IOVA, low 32 bits; bits 2:0 read as zero ([`crate::DMA_ALIGN`]).
    pub const BASE_LO: u32 = 0x00;
    /// Descriptor ring base IOVA, high 32 bits.
    pub const BASE_HI: u32 = 0x04;
    /// log2 of the ring size (also the completion queue's), within `RING_LIMITS`.
    pub const SIZE_LOG2: u32 = 0x08;
    /// Producer index, written by the driver (doorbell). Free-running, 16 bits. A value more
    /// than the ring's size ahead of `HEAD` is refused (the register keeps its value) and
    /// counted in `stats::DOORBELL_ERR` (ABI 2.1): a wild doorbell must not make the NIC walk
    /// up to 65 535 slots of whatever memory follows.
    pub const TAIL: u32 = 0x0c;
    /// Consumer index, written by the device (read-only).
    pub const HEAD: u32 = 0x10;
    /// Completion queue base IOVA, low 32 bits; bits 2:0 read as zero.
    pub const CQ_BASE_LO: u32 = 0x14;
    /// Completion queue base IOVA, high 32 bits.
    pub const CQ_BASE_HI: u32 = 0x18;
    /// Completion consumer index, written by the driver when it has read completions. A value
    /// past `CQ_TAIL`, or more than the ring's size behind it, is refused and counted in
    /// `stats::DOORBELL_ERR` (ABI 2.1): it would let the NIC overwrite unread completions.
    pub const CQ_HEAD: u32 = 0x1c;
    /// Completion producer index, written by the device (read-only).
    pub const CQ_TAIL: u32 = 0x20;
    /// Free-running count (read-only, wraps): TX packets sent from this queue; RX frames
    /// delivered to it. Which queues the flows landed on, without a host in the way.
    pub const PACKETS: u32 = 0x24;
    /// Free-running count (read-only, wraps), RX only: frames RSS sent here that found no buffer
    /// posted (also counted in `RX_DROP_NOBUF`).
    pub const DROPS: u32 = 0x28;
}

/// First queue pair's block; queue pair `q` is at `QUEUES + q * QUEUE_STRIDE`.
pub const QUEUES: u32 = 0x800;
/// Bytes between queue pairs' blocks.
pub const QUEUE_STRIDE: u32 = 0x100;
/// Transmit queue `q`'s block.
pub const fn txq(q: u32) -> u32 {
    QUEUES + q * QUEUE_STRIDE
}
/// Receive queue `q`'s block.
pub const fn rxq(q: u32) -> u32 {
    QUEUES + q * QUEUE_STRIDE + 0x80
}
/// Transmit queue 0 block.
pub const TXQ0: u32 = txq(0);
/// Receive queue 0 block.
pub const RXQ0: u32 = rxq(0);

/// RSS block at 0x300 (ABI 2.0): what the NIC hashes and where each hash value sends a frame.
/// Written at run time; a frame takes the values in force when its last byte arrives. Power-on
/// reset (not soft reset) loads [`crate::rss::KEY_DEFAULT`] and every supported hash type; the
/// table is loaded with the bitstream (entry `i` = `i % NUM_QUEUES`) and kept across resets.
pub mod rss {
    /// Enabled hash types, `RSS_HASHTYPE_*` bits, masked by the ID block's `RSS_HASHTYPES`.
    /// A frame whose type is disabled falls back to the 2-tuple type of its family if that is
    /// enabled, else it gets no hash (`rsstype` 0) and goes to queue 0.
    pub const HASHTYPES: u32 = 0x300;
    /// The 40-byte key as 10 words: key byte `4i + j` in bits `31 - 8j .. 24 - 8j` of `KEY + 4i`
    /// (each word reads as the key's bytes written out in order).
    pub const KEY: u32 = 0x340;
    /// The indirection table as 32 words: entry `4i + j` (an RX queue number) in bits
    /// `8j + 7 .. 8j` of `RETA + 4i`. A frame with hash `h` goes to entry `h & 127`. An entry
    /// naming a queue the build lacks reads back as written and sends its frames to queue 0.
    pub const RETA: u32 = 0x380;
}

/// Free-running 32-bit counters at 0x400 (read-only, wrap around), over all queues.
pub mod stats {
    /// Frames put on the wire.
    pub const TX_FRAMES: u32 = 0x400;
    /// Bytes put on the wire (frame bytes, no FCS).
    pub const TX_BYTES: u32 = 0x404;
    /// IPv4 header checksums inserted.
    pub const TX_CSUM_IP: u32 = 0x408;
    /// TCP/UDP checksums inserted (v4 and v6).
    pub const TX_CSUM_L4: u32 = 0x40c;
    /// Descriptors completed with an error status (nothing sent).
    pub const TX_DESC_ERR: u32 = 0x410;
    /// Frames delivered to the host.
    pub const RX_FRAMES: u32 = 0x414;
    /// Bytes delivered to the host.
    pub const RX_BYTES: u32 = 0x418;
    /// Frames dropped because no receive buffer was posted.
    pub const RX_DROP_NOBUF: u32 = 0x41c;
    /// Frames dropped for MAC error (tuser), over-length, buffer too small or FIFO overrun.
    pub const RX_DROP_ERR: u32 = 0x420;
    /// IPv4 headers whose checksum was wrong (reported, not dropped).
    pub const RX_L3_BAD: u32 = 0x424;
    /// L4 checksums that were wrong (reported, not dropped).
    pub const RX_L4_BAD: u32 = 0x428;
    /// L4 checksums verified (good or bad).
    pub const RX_L4_CALC: u32 = 0x42c;
    /// AXI error responses seen on DMA.
    pub const DMA_ERR: u32 = 0x430;
    /// Frames put on the wire that TSO cut from a burst (also counted in `TX_FRAMES`).
    pub const TX_TSO_SEGS: u32 = 0x434;
    /// `TAIL` and `CQ_HEAD` writes refused as outside the ring (ABI 2.1), all queues.
    pub const DOORBELL_ERR: u32 = 0x438;

    /// All counters with their names, in register order.
    pub const ALL: &[(u32, &str)] = &[
        (TX_FRAMES, "tx_frames"),
        (TX_BYTES, "tx_bytes"),
        (TX_CSUM_IP, "tx_csum_ip"),
        (TX_CSUM_L4, "tx_csum_l4"),
        (TX_DESC_ERR, "tx_desc_err"),
        (RX_FRAMES, "rx_frames"),
        (RX_BYTES, "rx_bytes"),
        (RX_DROP_NOBUF, "rx_drop_nobuf"),
        (RX_DROP_ERR, "rx_drop_err"),
        (RX_L3_BAD, "rx_l3_bad"),
        (RX_L4_BAD, "rx_l4_bad"),
        (RX_L4_CALC, "rx_l4_calc"),
        (DMA_ERR, "dma_err"),
        (TX_TSO_SEGS, "tx_tso_segs"),
        (DOORBELL_ERR, "doorbell_err"),
    ];
}

/// Width of the AXI4-Lite address bus: BAR0 is `1 << AXIL_ADDR_BITS` bytes.
pub const AXIL_ADDR_BITS: u32 = 12;
/// Size of BAR0 in bytes (derived from the address width, so the two cannot disagree).
pub const BAR0_SIZE: u32 = 1 << AXIL_ADDR_BITS;

/// Whether `off` names a register: 4-byte aligned and inside BAR0.
pub const fn is_reg_offset(off: u32) -> bool {
    off.is_multiple_of(4) && off < BAR0_SIZE
}
