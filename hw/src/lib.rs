//! `nic-hw`: the NIC described in rust-hdl, one hardware block per file.
//!
//! Contract: every block keeps one 64-bit beat per cycle on its datapath,
//! every state machine can return to idle (a synchronous `reset` input, driven
//! by the core's reset and by the soft reset in the register file), and every
//! number it uses (register offsets, descriptor field positions, flag values)
//! comes from `nic-abi`. [`emit`] turns the top ([`nic::NicCore`]) into
//! Verilog for Verilator and synthesis.
//!
//! Data flow:
//! ```text
//! TX: tx_engine (desc fetch, validate) -> dma_rd -> tx_csum (sums) -> fifo -> tx_out (patch) -> MAC
//! RX: MAC -> rx_parse (headers) -> rx_csum (verdict) -> fifo -> rx_engine -> dma_wr (data, completion)
//! ```
#![allow(clippy::needless_range_loop)]
#![warn(missing_docs)]

pub mod emit;

/// Width of the register bus address (`nic_abi::regs::AXIL_ADDR_BITS`) as a type parameter.
pub const AXIL_ADDR: usize = nic_abi::regs::AXIL_ADDR_BITS as usize;

/// What this build of the NIC can do, in `IFCAP_*` layout (the ID block's CAPS register). Here,
/// not in `nic`, because the register file reports it and the emitter builds with it: both sit
/// below the core that instantiates them.
pub const CAPS: u32 = {
    use nic_abi::ifcap::*;
    IFCAP_RXCSUM
        | IFCAP_TXCSUM
        | IFCAP_RXCSUM_IPV6
        | IFCAP_TXCSUM_IPV6
        | IFCAP_VLAN_MTU
        | IFCAP_JUMBO_MTU
        | IFCAP_VLAN_HWCSUM
        | IFCAP_TSO4
        | IFCAP_TSO6
        | IFCAP_VLAN_HWTSO
        | IFCAP_HWSTATS
};

/// Hash of the RTL and ABI sources this crate was built from (the ID block's BUILD_HASH).
pub fn build_hash() -> u32 {
    env!("NIC_BUILD_HASH").parse().unwrap_or(0)
}
pub mod arb;
pub mod csr;
pub mod desc_fetch;
pub mod dma_rd;
pub mod dma_wr;
pub mod fifo;
pub mod nic;
pub mod queue_regs;
pub mod records;
pub mod reg_header;
pub mod rx_csum;
pub mod rx_dispatch;
pub mod rx_engine;
pub mod rss;
pub mod rss_regs;
pub mod rx_parse;
pub mod rx_rss;
pub mod tx_csum;
pub mod tx_engine;
pub mod tx_out;
pub mod tx_seg;
#[cfg(test)]
pub(crate) mod testing;
