//! Simulator speed: the bare Verilated NIC clocked from Rust, and the whole
//! world (bus, DMA, MAC, wire models) kept awake.
//!
//! `cargo run --release -p nic-sim --example speed [cycles]`

use std::time::Instant;

use nic_sim::{NicIn, NicModel, NicOut, Sim, SimConfig};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);

    let mut m = NicModel::new();
    let mut inp = NicIn {
        s_axis_rx_tkeep: 0xff,
        ..Default::default()
    };
    let mut out = NicOut::default();
    let t = Instant::now();
    for c in 0..n {
        inp.reset = u64::from(c < 8);
        m.cycle(&inp, &mut out, 0, 0);
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "bare model:  {n} cycles in {s:.3} s = {:.2} Mcycles/s",
        n as f64 / s / 1e6
    );

    let sim = Sim::start(SimConfig::loopback()).expect("start");
    match sim.nic(0).read32(nic_abi::regs::id::ID) {
        Ok(id) => println!(
            "nic0 ID register: {id:#010x} (expected {:#010x})",
            nic_abi::NIC_ID
        ),
        Err(e) => println!("nic0 ID register: {e}"),
    }
    sim.run_cycles(n).expect("run");
    let st = sim.stats().expect("stats");
    println!("whole world: {st}");
}
