//! Verilog emission: the one way the rest of the project gets the RTL as text.

use rust_hdl::prelude::*;

/// One Verilog model the simulator builds: a top module named `top`.
pub struct Model {
    /// Short name: the Verilated class becomes `V<name>`.
    pub name: &'static str,
    /// The Verilog source, top module `top`.
    pub verilog: String,
}

/// Verilator warnings the project waives, each for a reason rooted in how rust-hdl emits Verilog.
pub const LINT_WAIVERS: &[(&str, &str)] = &[
    ("WIDTH", "rust-hdl emits 64-bit literals and width-changing casts as plain assignments"),
    ("UNUSEDSIGNAL", "rust-hdl declares every struct field; packed records are read in parts"),
    ("UNUSEDPARAM", "rust-hdl emits every Constant field as a localparam, used or not"),
    ("DECLFILENAME", "all modules of a design are emitted into one file"),
    ("UNOPTFLAT", "rust-hdl emits one always block per module, so Verilator sees a block's outputs as depending on all its inputs (no real loop: rust-hdl's own simulator settles)"),
    ("CASEINCOMPLETE", "rust-hdl emits matches over enums without a default arm"),
];

pub use crate::build_hash;

/// Verilog of the whole NIC core (`top`) with the given capabilities and the default number of
/// queue pairs, as the simulator and synthesis consume it.
pub fn nic_verilog_with_caps(caps: u32) -> String {
    nic_verilog_build(caps, nic_abi::NUM_QUEUES)
}

/// Verilog of the whole NIC core with the given capabilities and `num_queues` queue pairs (the
/// build parameter the ID block's `NUM_QUEUES` reports).
pub fn nic_verilog_build(caps: u32, num_queues: u32) -> String {
    let mut uut = crate::nic::NicCore::with_caps(caps, build_hash(), num_queues);
    uut.connect_all();
    generate_verilog(&uut)
}

/// Verilog of the whole NIC core with every capability this build has.
pub fn nic_verilog() -> String {
    nic_verilog_with_caps(crate::CAPS)
}

/// Every model the simulator builds: the NIC core, plus block-level models tested on their own.
pub fn models() -> Vec<Model> {
    vec![Model { name: "nic", verilog: nic_verilog() }]
}

#[cfg(test)]
mod tests {
    #[test]
    fn nic_core_lints_in_verilator() {
        let v = super::nic_verilog();
        assert!(v.contains("module top"));
        crate::testing::lint("nic", &v);
    }
}
