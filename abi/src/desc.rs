//! Descriptor and completion records: typed little-endian views over DMA bytes.
//!
//! Each record is a whole number of 64-bit beats. The RTL reads a field as
//! "beat `b`, bits `lsb..lsb+width`" — [`beat`] and [`lsb`] turn the byte
//! offsets below into exactly that, so the hardware's field positions come
//! from these structs and cannot drift from them.
//!
//! ```text
//! TxDesc (32 B)            RxDesc (16 B)          Completion (16 B)
//! beat0 addr[63:0]         beat0 addr[63:0]       beat0 len[15:0] index[31:16] csum_flags[63:32]
//! beat1 len csum_flags     beat1 len  rsvd        beat1 flowid[31:0] csum_data[47:32]
//! beat2 l2h l3h l4h flags                               rsstype[55:48] status[62:56] phase[63]
//!       csum_data tso_segsz
//! beat3 pkt_len rsvd1
//! ```
//!
//! A packet is one descriptor, or a chain: every descriptor but the last has
//! [`TXD_MORE`] in `flags`. The first carries the offload request (`csum_flags`,
//! header lengths, `tso_segsz`) and, for a chain, the packet's total length in
//! `pkt_len`; the others carry only `addr`, `len` and `flags`. ABI 1.0
//! descriptors (one buffer, `flags`, `pkt_len` zero) mean the same in 1.1.

use core::mem::{offset_of, size_of};
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// A transmit descriptor: one DMA buffer of a packet (see the module docs for chains).
///
/// `csum_flags` carries FreeBSD's transmit requests (`CSUM_IP`, `CSUM_IP_UDP`, …).
/// For an L4 request the stack has written the pseudo-header sum (folded, not
/// complemented, *with* the L4 length) into the checksum field; the NIC adds
/// the one's-complement sum of bytes `l2hlen + l3hlen .. len` and stores the
/// complement at `l2hlen + l3hlen + csum_data`. For `CSUM_IP` the NIC computes
/// the IPv4 header checksum over `l2hlen .. l2hlen + l3hlen`, treating the
/// checksum field as zero.
///
/// TSO (`CSUM_IP_TSO`/`CSUM_IP6_TSO`, with `CSUM_IP_TCP` or `CSUM_IP6_TCP` naming the
/// family): the first `l2hlen + l3hlen + l4hlen` bytes are the header template, the
/// rest is cut into `tso_segsz`-byte payloads, each sent behind a copy of the template
/// (offloads.md §3). The TCP checksum field holds the pseudo-header sum *without* the
/// length (FreeBSD's TSO convention, [`crate::cksum::pseudo_v4`] with length 0); the NIC
/// adds each segment's own TCP length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct TxDesc {
    /// IOVA of the frame's first byte ([`crate::DMA_ALIGN`]-aligned).
    pub addr: U64,
    /// Bytes in this buffer (the whole frame, no FCS, for a one-descriptor packet).
    pub len: U32,
    /// FreeBSD `CSUM_*` transmit requests.
    pub csum_flags: U32,
    /// Ethernet header length (14, or 18 with 802.1Q).
    pub l2hlen: u8,
    /// IP header length including IPv6 extension headers.
    pub l3hlen: u8,
    /// TCP header length with options (TSO; informational for checksums).
    pub l4hlen: u8,
    /// [`TXD_MORE`]; other bits must be zero.
    pub flags: u8,
    /// Offset of the L4 checksum field from the L4 start (TCP 16, UDP 6).
    pub csum_data: U16,
    /// TSO: TCP payload bytes per segment (FreeBSD's `tso_segsz`); zero without TSO.
    pub tso_segsz: U16,
    /// First descriptor of a chain: the packet's length over all its buffers.
    /// Zero means `len` (a one-descriptor packet).
    pub pkt_len: U32,
    /// Must be zero.
    pub rsvd1: U32,
}

/// [`TxDesc::flags`]: the packet continues in the next descriptor.
pub const TXD_MORE: u8 = 0x01;
/// Most descriptors one packet may span (the ID block's `TSO_SEGS` bits 15:0).
pub const TX_MAX_CHAIN: u32 = 8;
/// Largest packet, over all its buffers, a TSO request may carry (the ID block's `TSO_MAX`).
pub const TSO_MAX_BYTES: u32 = 65535;
/// Largest buffer in a chain (the ID block's `TSO_SEGS` bits 31:16); every buffer but a
/// packet's last must hold a multiple of [`crate::BEAT_BYTES`] bytes.
pub const TX_MAX_SEGSIZE: u32 = 0xfff8;
/// Longest TSO header template (`l2hlen + l3hlen + l4hlen`) the NIC replicates.
pub const TSO_MAX_HDR: u32 = 256;
/// Shortest TCP header (`l4hlen`) a TSO request may carry: no options.
pub const TSO_L4HLEN_MIN: u32 = 20;
/// Longest TCP header (`l4hlen`) a TSO request may carry: the data offset's limit.
pub const TSO_L4HLEN_MAX: u32 = 60;
/// A TSO request's `l4hlen` is a multiple of this (TCP's data offset counts 32-bit words).
pub const TSO_L4HLEN_ALIGN: u32 = 4;
/// Shortest IPv4 header (`l3hlen`) an IPv4 checksum or TSO request may carry.
pub const IP4_HLEN_MIN: u32 = 20;
/// Shortest IPv6 header chain (`l3hlen`) an IPv6 TSO request may carry: the fixed header.
pub const IP6_HLEN_MIN: u32 = 40;

/// A receive buffer descriptor: one empty buffer the NIC may fill.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RxDesc {
    /// IOVA of the buffer ([`crate::DMA_ALIGN`]-aligned).
    pub addr: U64,
    /// Buffer length in bytes; a frame longer than this is dropped and counted.
    pub len: U32,
    /// Must be zero.
    pub rsvd: U32,
}

/// A completion record, written by the NIC for each TX descriptor consumed and each frame received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Completion {
    /// TX: the descriptor's length (0 when the descriptor itself could not be read: `DMA_ERROR`);
    /// RX: the frame length written into the buffer.
    pub len: U16,
    /// Free-running index of the descriptor this completes.
    pub index: U16,
    /// RX: `CSUM_L3_*`/`CSUM_L4_*` results; TX: zero.
    pub csum_flags: U32,
    /// RX: the RSS hash (zero until RSS exists).
    pub flowid: U32,
    /// RX: the folded L4 sum including the pseudo-header (0xffff when valid).
    pub csum_data: U16,
    /// RX: FreeBSD `M_HASHTYPE_*` of `flowid` (zero: none).
    pub rsstype: u8,
    /// Bits 6:0 a [`crate::status`] code, bit 7 the phase ([`phase_for`]).
    pub status: u8,
}

const _: () = assert!(size_of::<TxDesc>() == 32);
const _: () = assert!(size_of::<RxDesc>() == 16);
const _: () = assert!(size_of::<Completion>() == 16);

/// Bit 7 of [`Completion::status`].
pub const STATUS_PHASE: u8 = 0x80;
/// Bits 6:0 of [`Completion::status`].
pub const STATUS_CODE: u8 = 0x7f;

/// The phase bit the device writes for the completion with free-running index `idx`
/// in a queue of `1 << size_log2` entries: 1 on the first lap, 0 on the second, and so on.
/// The driver zeroes the queue, so a slot whose phase differs from this is not yet written.
pub const fn phase_for(idx: u16, size_log2: u32) -> bool {
    (idx as u32 >> size_log2) & 1 == 0
}

/// Beat (64-bit word) holding the byte at `offset` of a record.
pub const fn beat(offset: usize) -> usize {
    offset / crate::BEAT_BYTES
}

/// Bit position within its beat of the byte at `offset` of a record.
pub const fn lsb(offset: usize) -> usize {
    (offset % crate::BEAT_BYTES) * 8
}

/// Byte offsets of the TX descriptor's fields, for the RTL.
pub mod tx {
    use super::*;
    /// Beats in a TX descriptor.
    pub const BEATS: usize = size_of::<TxDesc>() / crate::BEAT_BYTES;
    /// `addr`.
    pub const ADDR: usize = offset_of!(TxDesc, addr);
    /// `len`.
    pub const LEN: usize = offset_of!(TxDesc, len);
    /// `csum_flags`.
    pub const CSUM_FLAGS: usize = offset_of!(TxDesc, csum_flags);
    /// `l2hlen`.
    pub const L2HLEN: usize = offset_of!(TxDesc, l2hlen);
    /// `l3hlen`.
    pub const L3HLEN: usize = offset_of!(TxDesc, l3hlen);
    /// `l4hlen`.
    pub const L4HLEN: usize = offset_of!(TxDesc, l4hlen);
    /// `flags`.
    pub const FLAGS: usize = offset_of!(TxDesc, flags);
    /// `csum_data`.
    pub const CSUM_DATA: usize = offset_of!(TxDesc, csum_data);
    /// `tso_segsz`.
    pub const TSO_SEGSZ: usize = offset_of!(TxDesc, tso_segsz);
    /// `pkt_len`.
    pub const PKT_LEN: usize = offset_of!(TxDesc, pkt_len);
    /// `rsvd1`.
    pub const RSVD1: usize = offset_of!(TxDesc, rsvd1);
}

/// Byte offsets of the RX descriptor's fields, for the RTL.
pub mod rx {
    use super::*;
    /// Beats in an RX descriptor.
    pub const BEATS: usize = size_of::<RxDesc>() / crate::BEAT_BYTES;
    /// `addr`.
    pub const ADDR: usize = offset_of!(RxDesc, addr);
    /// `len`.
    pub const LEN: usize = offset_of!(RxDesc, len);
    /// `rsvd`.
    pub const RSVD: usize = offset_of!(RxDesc, rsvd);
}

/// Byte offsets of the completion's fields, for the RTL.
pub mod cpl {
    use super::*;
    /// Beats in a completion.
    pub const BEATS: usize = size_of::<Completion>() / crate::BEAT_BYTES;
    /// `len`.
    pub const LEN: usize = offset_of!(Completion, len);
    /// `index`.
    pub const INDEX: usize = offset_of!(Completion, index);
    /// `csum_flags`.
    pub const CSUM_FLAGS: usize = offset_of!(Completion, csum_flags);
    /// `flowid`.
    pub const FLOWID: usize = offset_of!(Completion, flowid);
    /// `csum_data`.
    pub const CSUM_DATA: usize = offset_of!(Completion, csum_data);
    /// `rsstype`.
    pub const RSSTYPE: usize = offset_of!(Completion, rsstype);
    /// `status`.
    pub const STATUS: usize = offset_of!(Completion, status);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_positions_are_what_the_diagram_says() {
        assert_eq!((beat(tx::LEN), lsb(tx::LEN)), (1, 0));
        assert_eq!((beat(tx::CSUM_FLAGS), lsb(tx::CSUM_FLAGS)), (1, 32));
        assert_eq!((beat(tx::L2HLEN), lsb(tx::L2HLEN)), (2, 0));
        assert_eq!((beat(tx::CSUM_DATA), lsb(tx::CSUM_DATA)), (2, 32));
        assert_eq!((beat(tx::TSO_SEGSZ), lsb(tx::TSO_SEGSZ)), (2, 48));
        assert_eq!(beat(tx::RSVD1), 3);
        assert_eq!((beat(cpl::STATUS), lsb(cpl::STATUS)), (1, 56));
        assert_eq!((beat(cpl::CSUM_FLAGS), lsb(cpl::CSUM_FLAGS)), (0, 32));
    }

    #[test]
    fn little_endian_bytes() {
        let d = TxDesc { addr: 0x1122_3344_5566_7788.into(), len: 60.into(), ..Default::default() };
        let b = d.as_bytes();
        assert_eq!(&b[0..8], &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
        assert_eq!(&b[8..12], &[60, 0, 0, 0]);
        let c = Completion::read_from_bytes(&[0u8; 16][..]).unwrap();
        assert_eq!(c.status, 0);
    }

    #[test]
    fn phase_flips_each_lap() {
        assert!(phase_for(0, 2));
        assert!(phase_for(3, 2));
        assert!(!phase_for(4, 2));
        assert!(phase_for(8, 2));
        assert!(!phase_for(0xffff, 2));
        assert!(phase_for(0, 12));
    }
}
