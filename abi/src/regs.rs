//! The register map: byte offsets in BAR0 (AXI4-Lite, 32-bit registers).
//!
//! Layout (ABI 3.0), 64 KiB. Every register block starts with the same header
//! ([`block`]: type, version, offset of the next block), so a driver walks the
//! map from the ID block and finds every block present and its version:
//!
//! ```text
//! 0x0000 ID      what this NIC is and what it can do (read-only)
//! 0x0100 CTRL    enable, soft reset, offload enables, interrupts
//! 0x0200 STATS   free-running 32-bit counters (read-only, wrap)
//! 0x0300 RSS     Toeplitz key, hash-type enables, indirection table
//! 0x1000 + 0x100*q  queue pair q (q < NUM_QUEUES, at most MAX_QUEUES):
//!       +0x00 header
//!       +0x10 TXQ  transmit ring and its completion queue
//!       +0x80 RXQ  receive (buffer) ring and its completion queue
//! 0x4000 FW      (reserved, 16 KiB) the firmware's mailbox and window
//! 0x8000 TOE     (reserved, 32 KiB) offloaded connections: registers, context-RAM debug window
//! ```
//!
//! Reserved space reads as zero and ignores writes; a block appears in the
//! chain only in a build that has it.
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

/// The header every register block starts with (offsets from the block's base). A driver reads
/// the ID block's, then follows `NEXT` until it reads 0.
pub mod block {
    /// What the block is: one of the `TYPE_*` values (the ID block's is [`crate::NIC_ID`]).
    pub const TYPE: u32 = 0x0;
    /// The block's layout version (the ID block's is the ABI version).
    pub const VERSION: u32 = 0x4;
    /// Offset in BAR0 of the next block; 0 after the last.
    pub const NEXT: u32 = 0x8;
    /// Where a block's own registers may start, after its header.
    pub const BODY: u32 = 0x10;
    /// Each block's bytes (a queue pair's included).
    pub const SIZE: u32 = 0x100;

    /// The control block ([`super::ctrl`]).
    pub const TYPE_CTRL: u32 = 0x0001;
    /// The statistics block ([`super::stats`]).
    pub const TYPE_STATS: u32 = 0x0002;
    /// The RSS block ([`super::rss`]).
    pub const TYPE_RSS: u32 = 0x0003;
    /// A queue pair's block ([`super::queue_pair`]).
    pub const TYPE_QUEUE_PAIR: u32 = 0x0010;
    /// Version of every block type above in ABI 3.0.
    pub const VERSION_1: u32 = 1;
}

/// The self-describing ID block at 0x000. Everything here is read-only.
pub mod id {
    use crate::field::Field;

    /// Magic, and the block's type: [`crate::NIC_ID`] ("OFLD").
    pub const ID: u32 = 0x000;
    /// ABI version, and the block's version: [`crate::ABI_VERSION`], fields [`VERSION_MAJOR`] and
    /// [`VERSION_MINOR`].
    pub const VERSION: u32 = 0x004;
    /// `VERSION` bits 31:16: the ABI major version ([`crate::ABI_MAJOR`]).
    pub const VERSION_MAJOR: Field = Field::new(VERSION, 16, 16);
    /// `VERSION` bits 15:0: the ABI minor version ([`crate::ABI_MINOR`]).
    pub const VERSION_MINOR: Field = Field::new(VERSION, 0, 16);
    /// Offset of the next register block ([`super::ctrl::BLOCK`]), so a driver can walk the map.
    pub const NEXT: u32 = 0x008;
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
    /// Low 32 bits of the hash of the RTL source this bitstream/model was built from.
    pub const BUILD_HASH: u32 = 0x030;
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
    use super::block;
    /// The block's base (its header: [`block`]).
    pub const BLOCK: u32 = 0x100;
    /// Control: [`CTRL_ENABLE`], [`CTRL_RESET`].
    pub const CTRL: u32 = BLOCK + block::BODY;
    /// Which offloads are on, `IFCAP_*` layout, masked by `CAPS` (FreeBSD's `if_capenable`).
    pub const CAPENABLE: u32 = CTRL + 0x4;
    /// Interrupt causes, write 1 to clear: [`irq_tx`]`(q)`, [`irq_rx`]`(q)` for each queue pair.
    pub const IRQ_STATUS: u32 = CTRL + 0x8;
    /// Interrupt enables, same bits as `IRQ_STATUS`.
    pub const IRQ_MASK: u32 = CTRL + 0xc;
    /// Status: [`STATUS_IDLE`].
    pub const STATUS: u32 = CTRL + 0x10;
    /// Capabilities this board switches off (ABI 1.2), `IFCAP_*` layout: a strap that firmware or a
    /// board shell writes before a driver attaches (a board without a TOE memory, a product that
    /// sells without TSO). `CAPS` then reads the build's capabilities without these bits, and
    /// `CAPENABLE` cannot turn them on. Survives the soft reset; cleared by power-on reset.
    pub const CAPDISABLE: u32 = CTRL + 0x14;

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
    /// than the ring's size ahead of the completions the device has issued (not `HEAD`: the
    /// device fetches ahead of its completions), or behind the current `TAIL`, is refused (the
    /// register keeps its value) and counted in `stats::DOORBELL_ERR`: a wild or stale doorbell
    /// must not make the NIC walk up to 65 535 slots of whatever memory follows, nor hand it
    /// back buffers the driver already took. The write itself is answered OKAY (a posted
    /// write on PCIe has no answer either); the counter is how a driver finds out.
    pub const TAIL: u32 = 0x0c;
    /// Consumer index, written by the device (read-only).
    pub const HEAD: u32 = 0x10;
    /// Completion queue base IOVA, low 32 bits; bits 2:0 read as zero.
    pub const CQ_BASE_LO: u32 = 0x14;
    /// Completion queue base IOVA, high 32 bits.
    pub const CQ_BASE_HI: u32 = 0x18;
    /// Completion consumer index, written by the driver when it has read completions. A value
    /// past the completions the device has issued, or more than the ring's size behind them,
    /// is refused and counted in `stats::DOORBELL_ERR`: it would let the NIC overwrite unread
    /// completions.
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

/// First queue pair's block; queue pair `q` is at [`queue_pair`]`(q)`.
pub const QUEUES: u32 = 0x1000;
/// Bytes between queue pairs' blocks.
pub const QUEUE_STRIDE: u32 = block::SIZE;
/// Queue pair `q`'s block (its header: [`block`], type [`block::TYPE_QUEUE_PAIR`]).
pub const fn queue_pair(q: u32) -> u32 {
    QUEUES + q * QUEUE_STRIDE
}
/// Transmit queue `q`'s registers ([`queue`] offsets from here).
pub const fn txq(q: u32) -> u32 {
    queue_pair(q) + block::BODY
}
/// Receive queue `q`'s registers ([`queue`] offsets from here).
pub const fn rxq(q: u32) -> u32 {
    queue_pair(q) + 0x80
}
/// The firmware's window (issue 15), reserved: 16 KiB.
pub const FW_WINDOW: u32 = 0x4000;
/// The TCP offload engine's registers and context-RAM debug window, reserved: 32 KiB.
pub const TOE_WINDOW: u32 = 0x8000;
/// Transmit queue 0 block.
pub const TXQ0: u32 = txq(0);
/// Receive queue 0 block.
pub const RXQ0: u32 = rxq(0);

/// RSS block at 0x300 (ABI 2.0): what the NIC hashes and where each hash value sends a frame.
/// Written at run time; a frame takes the values in force when its last byte arrives. Power-on
/// reset (not soft reset) loads [`crate::rss::KEY_DEFAULT`] and every supported hash type; the
/// table is loaded with the bitstream (entry `i` = `i % NUM_QUEUES`) and kept across resets.
pub mod rss {
    use super::block;
    /// The block's base (its header: [`block`]).
    pub const BLOCK: u32 = 0x300;
    /// Enabled hash types, `RSS_HASHTYPE_*` bits, masked by the ID block's `RSS_HASHTYPES`.
    /// A frame whose type is disabled falls back to the 2-tuple type of its family if that is
    /// enabled, else it gets no hash (`rsstype` 0) and goes to queue 0.
    pub const HASHTYPES: u32 = BLOCK + block::BODY;
    /// The 40-byte key as 10 words: key byte `4i + j` in bits `31 - 8j .. 24 - 8j` of `KEY + 4i`
    /// (each word reads as the key's bytes written out in order).
    pub const KEY: u32 = BLOCK + 0x40;
    /// The indirection table as 32 words: entry `4i + j` (an RX queue number) in bits
    /// `8j + 7 .. 8j` of `RETA + 4i`. A frame with hash `h` goes to entry `h & 127`. An entry
    /// naming a queue the build lacks reads back as written and sends its frames to queue 0.
    pub const RETA: u32 = BLOCK + 0x80;
}

/// Free-running 32-bit counters at 0x200 (read-only, wrap around), over all queues.
pub mod stats {
    use super::block;
    /// The block's base (its header: [`block`]).
    pub const BLOCK: u32 = 0x200;
    /// Frames put on the wire.
    pub const TX_FRAMES: u32 = BLOCK + block::BODY;
    /// Bytes put on the wire (frame bytes, no FCS).
    pub const TX_BYTES: u32 = TX_FRAMES + 0x4;
    /// IPv4 header checksums inserted.
    pub const TX_CSUM_IP: u32 = TX_FRAMES + 0x8;
    /// TCP/UDP checksums inserted (v4 and v6).
    pub const TX_CSUM_L4: u32 = TX_FRAMES + 0xc;
    /// Descriptors completed with an error status (nothing sent).
    pub const TX_DESC_ERR: u32 = TX_FRAMES + 0x10;
    /// Frames delivered to the host.
    pub const RX_FRAMES: u32 = TX_FRAMES + 0x14;
    /// Bytes delivered to the host.
    pub const RX_BYTES: u32 = TX_FRAMES + 0x18;
    /// Frames dropped because no receive buffer was posted.
    pub const RX_DROP_NOBUF: u32 = TX_FRAMES + 0x1c;
    /// Frames dropped for MAC error (tuser), over-length, buffer too small or FIFO overrun.
    pub const RX_DROP_ERR: u32 = TX_FRAMES + 0x20;
    /// IPv4 headers whose checksum was wrong (reported, not dropped).
    pub const RX_L3_BAD: u32 = TX_FRAMES + 0x24;
    /// L4 checksums that were wrong (reported, not dropped).
    pub const RX_L4_BAD: u32 = TX_FRAMES + 0x28;
    /// L4 checksums verified (good or bad).
    pub const RX_L4_CALC: u32 = TX_FRAMES + 0x2c;
    /// AXI error responses seen on DMA.
    pub const DMA_ERR: u32 = TX_FRAMES + 0x30;
    /// Frames put on the wire that TSO cut from a burst (also counted in `TX_FRAMES`).
    pub const TX_TSO_SEGS: u32 = TX_FRAMES + 0x34;
    /// `TAIL` and `CQ_HEAD` writes refused as outside the ring (ABI 2.1), all queues.
    pub const DOORBELL_ERR: u32 = TX_FRAMES + 0x38;

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

/// Width of the AXI4-Lite address bus: BAR0 is `1 << AXIL_ADDR_BITS` bytes (64 KiB since ABI
/// 3.0: room for the firmware's and the TOE's windows and 8 queue pairs).
pub const AXIL_ADDR_BITS: u32 = 16;
/// Size of BAR0 in bytes (derived from the address width, so the two cannot disagree).
pub const BAR0_SIZE: u32 = 1 << AXIL_ADDR_BITS;

/// Whether `off` names a register: 4-byte aligned and inside BAR0.
pub const fn is_reg_offset(off: u32) -> bool {
    off.is_multiple_of(4) && off < BAR0_SIZE
}

// The map's blocks fit where the layout says, without overlapping.
const _: () = {
    assert!(ctrl::CAPDISABLE < ctrl::BLOCK + block::SIZE);
    assert!(stats::BLOCK >= ctrl::BLOCK + block::SIZE && stats::DOORBELL_ERR < stats::BLOCK + block::SIZE);
    assert!(rss::BLOCK >= stats::BLOCK + block::SIZE && rss::RETA + 128 <= rss::BLOCK + block::SIZE);
    assert!(QUEUES >= rss::BLOCK + block::SIZE);
    assert!(txq(0) + queue::DROPS < rxq(0) && rxq(0) + queue::DROPS < queue_pair(1));
    assert!(queue_pair(crate::MAX_QUEUES) <= FW_WINDOW);
    assert!(FW_WINDOW + 0x4000 <= TOE_WINDOW && TOE_WINDOW + 0x8000 <= BAR0_SIZE);
};
