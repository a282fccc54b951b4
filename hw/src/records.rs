//! The records blocks hand each other through FIFOs, one per frame or
//! descriptor. Each is a rust-hdl `LogicStruct` (a packed bit vector in the
//! Verilog); the derive generates width/offset accessors without doc
//! comments, hence the module-wide allowance below: every field is documented.
#![allow(missing_docs)]

use rust_hdl::prelude::*;

/// Per-frame record from the receive checksum verifier (`rx_csum`) to the RX engine.
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct RxMeta {
    /// Frame length in bytes.
    pub len: Bits<16>,
    /// Beats of this frame in the data FIFO.
    pub nbeats: Bits<16>,
    /// Discard the frame (MAC error or over-length).
    pub drop: Bit,
    /// `CSUM_L3_*` / `CSUM_L4_*` result bits.
    pub flags: Bits<32>,
    /// Folded L4 sum including the pseudo-header (0xffff when valid).
    pub cdata: Bits<16>,
    /// RSS hash (`flowid`), 0 with no hash.
    pub hash: Bits<32>,
    /// Its `M_HASHTYPE_*` (0: none).
    pub htype: Bits<8>,
}

/// Per-frame record from the TX engine to the output stage (`tx_out`).
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct TxMeta {
    /// Frame length in bytes.
    pub len: Bits<16>,
    /// Discard the frame's beats instead of sending them.
    pub drop: Bit,
    /// Write `ip_ck` at byte `ip_off`.
    pub ip_en: Bit,
    /// Offset of the IPv4 header checksum (even).
    pub ip_off: Bits<16>,
    /// The IPv4 header checksum.
    pub ip_ck: Bits<16>,
    /// Write `l4_ck` at byte `l4_off`.
    pub l4_en: Bit,
    /// Offset of the TCP/UDP checksum (even).
    pub l4_off: Bits<16>,
    /// The TCP/UDP checksum (UDP zero already mapped to 0xffff).
    pub l4_ck: Bits<16>,
    /// A segment TSO cut from a burst (for the TX_TSO_SEGS counter).
    pub tso: Bit,
}

/// A prefetched receive buffer.
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct RxBuf {
    /// Buffer IOVA.
    pub addr: Bits<64>,
    /// Buffer length.
    pub len: Bits<32>,
    /// 0, or the status the descriptor completes with unused (BAD_ALIGN, BAD_RSVD, DMA_ERROR).
    pub code: Bits<7>,
}

/// A prefetched transmit descriptor, as read (checked when the frame machine takes it).
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct TxD {
    /// `addr`.
    pub addr: Bits<64>,
    /// `len`.
    pub len: Bits<32>,
    /// `csum_flags`.
    pub flags: Bits<32>,
    /// `l2hlen`.
    pub l2: Bits<8>,
    /// `l3hlen`.
    pub l3: Bits<8>,
    /// `l4hlen`.
    pub l4: Bits<8>,
    /// `flags`.
    pub dflags: Bits<8>,
    /// `csum_data`.
    pub cdata: Bits<16>,
    /// `tso_segsz`.
    pub tso: Bits<16>,
    /// `pkt_len`.
    pub plen: Bits<32>,
    /// `rsvd1` is not zero.
    pub rsvd1_nz: Bit,
    /// The read of this descriptor got an error response.
    pub err: Bit,
}

/// One buffer of the packet being sent, between the gather and data phases.
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct TxSg {
    /// Buffer IOVA.
    pub addr: Bits<64>,
    /// Bytes in the buffer.
    pub len: Bits<16>,
}

/// A completion waiting to be written.
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct TxCpl {
    /// Free-running index of the descriptor.
    pub index: Bits<16>,
    /// Its length (0 when the descriptor itself could not be read).
    pub len: Bits<16>,
    /// Status code.
    pub status: Bits<7>,
    /// Frames the engine had pushed when this was queued: written once that many have retired.
    pub seq: Bits<16>,
}

/// What the RX engine's beat streamer does next, in the order the engine decided it.
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct RxStep {
    /// 0: a frame's beats to the write DMA; 1: a frame's beats dropped; 2: a completion's two beats.
    pub kind: Bits<2>,
    /// Beats of the frame (kinds 0 and 1).
    pub nbeats: Bits<16>,
}

/// A receive completion waiting for its frame's data to be in memory, then for its own write.
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct RxCplRec {
    /// Frame length in bytes (0 with no frame).
    pub len: Bits<16>,
    /// `CSUM_*` result bits.
    pub flags: Bits<32>,
    /// Folded L4 sum.
    pub cdata: Bits<16>,
    /// RSS hash.
    pub hash: Bits<32>,
    /// Its `M_HASHTYPE_*`.
    pub htype: Bits<8>,
    /// Status (a bad descriptor's code, or OK; DMA_ERROR replaces OK if the data write failed).
    pub st: Bits<7>,
    /// A frame was written into the buffer.
    pub with_frame: Bit,
}

/// A read command whose beats are still to come back: what the read engine's return side needs.
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct RdCmd {
    /// Beats the command returns.
    pub beats: Bits<16>,
    /// Its client.
    pub tag: Bits<2>,
}

/// A transmit packet between the TX engine's front (gather, check, ask for the reads) and its
/// back (template check, segmenter, completions).
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct TxPkt {
    /// `csum_flags` of the first descriptor.
    pub flags: Bits<32>,
    /// `l2hlen`.
    pub l2: Bits<8>,
    /// `l3hlen`.
    pub l3: Bits<8>,
    /// `l4hlen`.
    pub l4: Bits<8>,
    /// `csum_data`.
    pub cdata: Bits<16>,
    /// `tso_segsz`.
    pub tso: Bits<16>,
    /// The packet's length.
    pub plen: Bits<32>,
    /// OK, or the status every descriptor of the packet completes with (no reads were asked for).
    pub st: Bits<7>,
    /// Descriptors to complete.
    pub ndesc: Bits<4>,
    /// Beats of the TSO template read (0 without TSO).
    pub hbeats: Bits<16>,
    /// Beats of the data reads, all buffers.
    pub dbeats: Bits<16>,
}

/// One packet as the transmit segmenter cuts it, presented with `go`. The segmenter keeps its own
/// copy from `go` on, so the engine may present the next packet while this one's last segment
/// still finishes.
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct SegCfg {
    /// Template length (`l2hlen + l3hlen + l4hlen`); zero without TSO.
    pub hlen: Bits<16>,
    /// Payload bytes per frame (`tso_segsz`; the packet length without TSO).
    pub mss: Bits<16>,
    /// Payload bytes in the packet after the template.
    pub paylen: Bits<32>,
    /// First payload byte's position in the first stream beat.
    pub s0: Bits<4>,
    /// `l2hlen`.
    pub l2: Bits<8>,
    /// `l3hlen`.
    pub l3: Bits<8>,
    /// `csum_data` (offset of the L4 checksum from the L4 start).
    pub cdata: Bits<16>,
    /// The packet is TSO.
    pub tso: Bit,
    /// IPv6 (TSO: which length field to patch).
    pub v6: Bit,
    /// `CSUM_IP` requested.
    pub ip_en: Bit,
    /// An L4 checksum requested.
    pub l4_en: Bit,
    /// That L4 checksum is UDP's (zero goes out as 0xffff).
    pub udp: Bit,
}

/// A transmit packet the TX engine's back is done with, waiting to be completed.
#[derive(Copy, Clone, Debug, Default, PartialEq, LogicStruct)]
pub struct TxRet {
    /// Descriptors to complete.
    pub ndesc: Bits<4>,
    /// OK, or the status the packet was refused with.
    pub st: Bits<7>,
    /// Went through the segmenter: its status waits for the segmenter's `done` (and `err`).
    pub seg: Bit,
}
