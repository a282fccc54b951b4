//! Verilog emission: the one way the rest of the project gets the RTL as text.

use rust_hdl::prelude::*;

/// One Verilog model the simulator builds: a top module named `top`.
pub struct Model {
    /// Short name: the Verilated class becomes `V<name>`.
    pub name: &'static str,
    /// The Verilog source, top module `top`.
    pub verilog: String,
}

/// Hash of the RTL and ABI sources this crate was built from (the ID block's BUILD_HASH).
pub fn build_hash() -> u32 {
    env!("NIC_BUILD_HASH").parse().unwrap_or(0)
}

/// Verilog of the whole NIC core (`top`) with the given capabilities, as the simulator and synthesis consume it.
pub fn nic_verilog_with_caps(caps: u32) -> String {
    let mut uut = crate::nic::NicCore::with_caps(caps, build_hash());
    uut.connect_all();
    generate_verilog(&uut)
}

/// Verilog of the whole NIC core with every capability this build has.
pub fn nic_verilog() -> String {
    nic_verilog_with_caps(crate::nic::CAPS)
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
