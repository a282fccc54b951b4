//! Simulator speed: the bare Verilated NIC clocked from Rust, and the whole
//! world (bus, DMA, MAC, wire models) kept awake.
//!
//! `cargo run --release -p nic-sim --example speed [cycles]`
//!
//! `--anchor IDLE READS`: the workloads `scripts/bench-cocotb` runs under cocotb on the same
//! Verilog (an idle core clocked IDLE cycles; READS AXI4-Lite reads of the ID register, back to
//! back, through the world's bus model), printed as `ours idle: …` / `ours regs: …`; and the
//! reads again in lockstep, where the reading thread clocks the world itself (`ours
//! regs-lockstep: …`).

use std::time::Instant;

use nic_sim::{NicIn, NicModel, NicOut, Sim, SimConfig};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--print-id") => {
            println!("{:#010x}", nic_abi::NIC_ID);
            return;
        }
        Some("--anchor") => {
            let num = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
            anchor(num(1, 20_000), num(2, 500));
            return;
        }
        _ => {}
    }
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5_000_000);

    // The build every run uses, and beside it the build with tracing code (no trace open) that
    // only a run recording a VCD window pays for.
    for (what, mut m) in [("bare model", NicModel::new()), ("bare model, tracing build", NicModel::new_traced())] {
        let s = clock_idle(&mut m, n);
        println!("{what}: {n} cycles in {s:.3} s = {:.2} Mcycles/s", n as f64 / s / 1e6);
    }

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

/// The cocotb comparison's two workloads on this simulator.
fn anchor(idle: u64, reads: u64) {
    let s = clock_idle(&mut NicModel::new(), idle);
    println!("ours idle: {idle} cycles in {s:.3} s = {:.1} kcycles/s", idle as f64 / s / 1e3);

    for (what, cfg) in [("regs", SimConfig::loopback()), ("regs-lockstep", SimConfig::loopback().with_lockstep())] {
        let sim = Sim::start(cfg).expect("start");
        let nic = sim.nic(0);
        nic.read32(nic_abi::regs::id::ID).expect("first read");
        let c0 = sim.cycles();
        let t = Instant::now();
        for _ in 0..reads {
            let id = nic.read32(nic_abi::regs::id::ID).expect("read");
            assert_eq!(id, nic_abi::NIC_ID);
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "ours {what}: {reads} reads ({} cycles) in {s:.3} s = {:.1} reads/s",
            sim.cycles() - c0,
            reads as f64 / s
        );
    }
}

/// Clocks `m` for `n` cycles from reset with nothing to do; returns the seconds it took.
fn clock_idle(m: &mut NicModel, n: u64) -> f64 {
    let mut inp = NicIn { s_axis_rx_tkeep: 0xff, ..Default::default() };
    let mut out = NicOut::default();
    let t = Instant::now();
    for c in 0..n {
        inp.reset = u64::from(c < 8);
        m.cycle(&inp, &mut out, 0, 0);
    }
    t.elapsed().as_secs_f64()
}
