//! `nic-abi`: the contract between the NIC and everything that talks to it.
//!
//! This crate is the *only* place where the register map, the descriptor and
//! completion layouts and the offload flag values are written down. The RTL
//! (`nic-hw`) takes its register offsets and field positions from here, the
//! simulator takes its port semantics from here, the driver (`nic-host`)
//! builds descriptors with these types, and `docs/ABI.md` is generated from
//! the same constants. If a number appears twice in the project, one of the
//! two places is a bug.
//!
//! Invariants:
//! - every multi-byte field is little-endian on the bus (`zerocopy`'s `LE`
//!   types make that explicit), and every record is a whole number of 64-bit
//!   beats so the 64-bit datapath never straddles a field across beats in a
//!   way this file does not state;
//! - flag values follow FreeBSD (`sys/sys/mbuf.h`, `sys/net/if.h`) bit for bit,
//!   so a FreeBSD engineer reads `csum_flags` and `if_capenable` as-is;
//! - `no_std`, no allocation: the firmware links it too.
#![no_std]
#![forbid(unsafe_code)]

pub mod cksum;
pub mod csum;
pub mod desc;
pub mod field;
pub mod ifcap;
pub mod regs;
pub mod rss;
pub mod status;

/// ABI major version: bumped on any incompatible change; the driver refuses other majors.
pub const ABI_MAJOR: u16 = 3;
/// ABI minor version: bumped on compatible additions.
pub const ABI_MINOR: u16 = 0;
/// The value of [`regs::id::VERSION`]: major in the high half, minor in the low half
/// ([`regs::id::VERSION_MAJOR`], [`regs::id::VERSION_MINOR`]).
pub const ABI_VERSION: u32 =
    regs::id::VERSION_MAJOR.put(ABI_MAJOR as u32) | regs::id::VERSION_MINOR.put(ABI_MINOR as u32);
/// The value of [`regs::id::ID`]: "OFLD" in ASCII, so a hexdump of BAR0 says what it is.
pub const NIC_ID: u32 = 0x4f46_4c44;

/// Width of the DMA and MAC datapath, in bits (one beat).
pub const DATAPATH_BITS: u32 = 64;
/// Bytes per datapath beat.
pub const BEAT_BYTES: usize = (DATAPATH_BITS / 8) as usize;
/// The modelled core clock, in kHz: 156.25 MHz, the 10GBASE-R 64-bit rate.
pub const CLOCK_KHZ: u32 = 156_250;
/// The same clock in MHz, for reports and timing targets (derived, never written again).
pub const CLOCK_MHZ: f64 = CLOCK_KHZ as f64 / 1000.0;
/// One clock period in picoseconds (exact at this clock: 6400 ps).
pub const CLOCK_PERIOD_PS: u64 = 1_000_000_000 / CLOCK_KHZ as u64;
const _: () = assert!(CLOCK_PERIOD_PS * CLOCK_KHZ as u64 == 1_000_000_000, "the period must be whole picoseconds");

/// Nanoseconds after `cycles` cycles of the core clock, rounded down: simulated time, pcap
/// timestamps and reports all convert through here so none of them restates the period.
pub const fn cycles_to_ns(cycles: u64) -> u64 {
    (cycles as u128 * 1_000_000 / CLOCK_KHZ as u128) as u64
}
/// Largest frame the NIC moves, in bytes, without FCS (jumbo 9000 MTU + Ethernet + 802.1Q, rounded up).
pub const MAX_FRAME: u32 = 9216;
/// Smallest frame the transmit path accepts (anything shorter is a descriptor error).
pub const MIN_TX_FRAME: u32 = 14;
/// log2 of the largest ring the hardware supports.
pub const RING_MAX_LOG2: u32 = 12;
/// log2 of the smallest ring the hardware supports.
pub const RING_MIN_LOG2: u32 = 2;
/// DMA buffers (TX data, RX data, rings) must start on this many bytes.
pub const DMA_ALIGN: u64 = 8;
/// Number of TX/RX queue pairs the default build has (the ID block's `NUM_QUEUES` says what a
/// given bitstream or model has).
pub const NUM_QUEUES: u32 = 2;
/// Most queue pairs the register map has room for.
pub const MAX_QUEUES: u32 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_ascii_ofld() {
        assert_eq!(&NIC_ID.to_be_bytes(), b"OFLD");
        assert_eq!(ABI_VERSION >> 16, ABI_MAJOR as u32);
        assert_eq!(ABI_VERSION & 0xffff, ABI_MINOR as u32);
    }

    #[test]
    fn the_clock_is_156_25_mhz() {
        assert_eq!(CLOCK_PERIOD_PS, 6400);
        assert_eq!(CLOCK_MHZ, 156.25);
        assert_eq!(cycles_to_ns(5), 32);
        assert_eq!(cycles_to_ns(156_250_000), 1_000_000_000);
    }
}
