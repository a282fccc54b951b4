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
