//! Benchmarks behind docs/PERFORMANCE.md.
//!
//! - `bench throughput`: TX and RX bytes per cycle through the RTL at 64, 1500
//!   and 9000-byte frames, beside the wire's limit; simulator cycles per
//!   second beside the bare Verilated model's, measured in the same run.
//! - `bench driver --frames N --size S [--offload on|off]`: the host side of
//!   N frames sent and received in loopback; run it under callgrind
//!   (`scripts/bench` does) to count the main thread's instructions per packet
//!   in `driver_loop` alone: frame generation and the simulator thread are
//!   excluded.
//!
//! `cargo run --release -p nic-host --example bench -- throughput`

use nic_abi::regs::stats;
use nic_host::dev::sim::SimDevice;
use nic_host::driver::{Driver, DriverConfig, TxReject};
use nic_host::mbuf::Mbuf;
use nic_host::net::{ether_input, Input, NetStats};
use nic_host::offload;
use nic_host::traffic::{self, Kind};
use nic_sim::{NicIn, NicModel, NicOut, Sim, SimConfig};
use rand::SeedableRng;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

const UDP4: Kind = Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false };

fn frames(n: usize, size: usize) -> Vec<Vec<u8>> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(size as u64);
    (0..n).map(|i| traffic::frame_of_len(UDP4, size, i as u32, &mut rng)).collect()
}

fn attach(sim: &Sim, i: usize) -> Driver {
    let dev = SimDevice::new(sim.nic(i), 16 << 20).expect("dma region");
    let cfg = DriverConfig { tx_ring_log2: 8, rx_ring_log2: 8, ..Default::default() };
    Driver::attach_with(Arc::new(dev), cfg).expect("attach")
}

/// Wire limit for `size`-byte frames on a 64-bit MAC: ceil(size/8) beats plus the
/// 3-cycle gap the MAC models leave (12 bytes IFG + 8 bytes preamble ≈ 20 bytes).
fn wire_limit(size: usize) -> f64 {
    size as f64 / (size.div_ceil(8) + 3) as f64
}

fn tx_bytes_per_cycle(size: usize, n: usize) -> (f64, u64) {
    let sim = Sim::start(SimConfig::external(1)).expect("sim");
    let mut d = attach(&sim, 0);
    let (hw, cap) = (d.ifnet().if_hwassist, d.ifnet().if_capenable);
    let mut q: VecDeque<Mbuf> = frames(n, size).iter().map(|f| offload::prepare_tx(f, hw, cap).unwrap()).collect();
    let nic = sim.nic(0);
    let mut wire = vec![];
    let t0 = Instant::now();
    while wire.len() < n {
        while let Some(m) = q.pop_front() {
            if let Err(e) = d.tx(m) {
                assert_eq!(e.reason, TxReject::RingFull);
                q.push_front(e.mbuf);
                break;
            }
        }
        d.tx_flush().unwrap();
        d.tx_reclaim().unwrap();
        wire.extend(nic.wait_tx(Duration::from_micros(200)).unwrap());
        assert!(t0.elapsed() < Duration::from_secs(120), "TX benchmark stalled");
    }
    // Steady state: from the end of the first frame to the end of the last.
    let bytes: usize = wire[1..].iter().map(|f| f.data.len()).sum();
    let cycles = wire[n - 1].cycle - wire[0].cycle;
    (bytes as f64 / cycles as f64, sim.stats().unwrap().cycles)
}

fn rx_bytes_per_cycle(size: usize, n: usize) -> (f64, u64, u64) {
    let sim = Sim::start(SimConfig::external(1)).expect("sim");
    let mut d = attach(&sim, 0);
    let nic = sim.nic(0);
    let fr = frames(n, size);
    let c0 = nic.cycles();
    for f in &fr {
        nic.inject(f, false).unwrap();
    }
    let mut got = 0;
    let mut out = vec![];
    let t0 = Instant::now();
    loop {
        got += d.rx_burst(&mut out, 256).unwrap();
        out.clear();
        let done = nic.read32(stats::RX_FRAMES).unwrap() as u64
            + nic.read32(stats::RX_DROP_NOBUF).unwrap() as u64
            + nic.read32(stats::RX_DROP_ERR).unwrap() as u64;
        if done >= n as u64 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "RX benchmark stalled");
    }
    let c1 = nic.cycles();
    let delivered = nic.read32(stats::RX_FRAMES).unwrap() as u64;
    let _ = got;
    let stall = sim.stats().unwrap().nics[0].mac.rx_stall_cycles;
    ((delivered as usize * size) as f64 / (c1 - c0) as f64, n as u64 - delivered, stall)
}

fn bare_model_speed(cycles: u64) -> f64 {
    let mut m = NicModel::new();
    let mut inp = NicIn { s_axis_rx_tkeep: 0xff, ..Default::default() };
    let mut out = NicOut::default();
    let t = Instant::now();
    for c in 0..cycles {
        inp.reset = u64::from(c < 8);
        m.cycle(&inp, &mut out, 0, 0);
    }
    cycles as f64 / t.elapsed().as_secs_f64()
}

fn throughput() {
    println!("| frame bytes | TX B/cycle | RX B/cycle | wire limit B/cycle | RX dropped | MAC stalls |");
    println!("|---|---|---|---|---|---|");
    let mut sim_cycles = 0;
    let t = Instant::now();
    for (size, n) in [(64usize, 2000usize), (1500, 400), (9000, 100)] {
        let (tx, c1) = tx_bytes_per_cycle(size, n);
        let (rx, dropped, stall) = rx_bytes_per_cycle(size, n);
        sim_cycles += c1;
        println!("| {size} | {tx:.2} | {rx:.2} | {:.2} | {dropped} of {n} | {stall} |", wire_limit(size));
    }
    let whole = sim_cycles as f64 / t.elapsed().as_secs_f64();
    let bare = bare_model_speed(2_000_000);
    println!();
    println!("simulator: whole NIC with driver and models {:.2} M cycles/s (TX runs only, wall time incl. host);", whole / 1e6);
    println!("           bare Verilated model, same run     {:.2} M cycles/s", bare / 1e6);
}

/// The measured region for callgrind: the stack's output (checksums seeded for the NIC, or
/// computed in software), the driver both ways, and the stack's input (NIC verdict trusted, or
/// checksums verified in software), for every frame of `fr` in loopback.
#[inline(never)]
fn driver_loop(d: &mut Driver, fr: &[Vec<u8>]) -> usize {
    let n = fr.len();
    let mut out = Vec::with_capacity(256);
    let mut st = NetStats::default();
    let mut next = 0;
    let mut pending: Option<Mbuf> = None;
    let mut got = 0;
    while got < n {
        loop {
            let m = match pending.take() {
                Some(m) => m,
                None if next < n => {
                    let (hw, cap) = (d.ifnet().if_hwassist, d.ifnet().if_capenable);
                    next += 1;
                    offload::prepare_tx(&fr[next - 1], hw, cap).unwrap()
                }
                None => break,
            };
            if let Err(e) = d.tx(m) {
                pending = Some(e.mbuf);
                break;
            }
        }
        d.tx_flush().unwrap();
        d.tx_reclaim().unwrap();
        got += d.rx_burst(&mut out, 256).unwrap();
        for m in out.drain(..) {
            match ether_input(d.ifnet(), m, &mut st) {
                Input::Udp(_) | Input::Tcp(_) => {}
                other => panic!("loopback frame not accepted: {other:?}"),
            }
        }
        if got < n {
            let _ = d.wait(Duration::from_millis(1));
        }
    }
    got
}

fn driver(args: &[String]) {
    let get = |k: &str, def: &str| -> String {
        args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned().unwrap_or(def.into())
    };
    let n: usize = get("--frames", "2000").parse().unwrap();
    let size: usize = get("--size", "1500").parse().unwrap();
    let on = get("--offload", "on") == "on";
    let sim = Sim::start(SimConfig::loopback()).expect("sim");
    let mut d = attach(&sim, 0);
    if !on {
        d.ifconfig(&["-txcsum", "-txcsum6", "-rxcsum", "-rxcsum6"]).unwrap();
    }
    let fr = frames(n, size);
    let t = Instant::now();
    let got = driver_loop(&mut d, &fr);
    println!("driver: {got} frames of {size} bytes, offload {}, {:.2} s", if on { "on" } else { "off" }, t.elapsed().as_secs_f64());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(|s| s.as_str()) {
        Some("throughput") | None => throughput(),
        Some("driver") => driver(&args[2..]),
        Some(x) => {
            eprintln!("bench: unknown mode `{x}`; use `throughput` or `driver [--frames N] [--size S] [--offload on|off]`");
            std::process::exit(2);
        }
    }
}
