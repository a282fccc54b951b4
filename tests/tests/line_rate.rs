//! Receive at line rate through the RTL (Verilator), as a functional check: with a buffer
//! posted for every frame, minimum-size frames arriving back to back from 64 flows (spread
//! over both queues by RSS) are all delivered, intact and in each flow's order, none dropped
//! and the MAC never stalled, at a short and at a PCIe-like DMA read latency. (The rates
//! themselves are `bench throughput`'s business, docs/PERFORMANCE.md.)

use etherparse::PacketBuilder;
use nic_abi::regs::{queue, rxq, stats};
use nic_host::dev::sim::SimDevice;
use nic_host::driver::{Driver, DriverConfig};
use nic_sim::{Sim, SimConfig};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `i`-th frame: UDP/IPv4 from port 1000 + i % 64, 60 bytes (the minimum without FCS),
/// its sequence number in the payload.
fn frame(i: u32) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(1000 + (i % 64) as u16, 9)
        .write(&mut f, &[&i.to_be_bytes()[..], &[0u8; 14]].concat())
        .unwrap();
    assert_eq!(f.len(), 60);
    f
}

fn back_to_back_minimum_frames_are_all_delivered(read_latency: u32) {
    const N: u32 = 1200;
    // Lockstep: the driver reacts in no simulated time, and the run is the same every time.
    let mut cfg = SimConfig::external(1).with_lockstep();
    cfg.dma.read_latency = read_latency;
    let sim = Sim::start(cfg).expect("simulator starts");
    let nic = sim.nic(0);
    let dev = SimDevice::new(nic.clone(), 16 << 20).expect("DMA region");
    let cfg = DriverConfig { rx_ring_log2: 11, rx_buf_len: Some(2048), ..Default::default() };
    let d = Driver::attach_with(Arc::new(dev), cfg).expect("driver attaches");
    let frames: Vec<Vec<u8>> = (0..N).map(frame).collect();
    for f in &frames {
        nic.inject(f, false).unwrap();
    }
    let mut got: Vec<Vec<u8>> = vec![];
    let mut out = vec![];
    let t0 = Instant::now();
    let dropped = || (nic.read32(stats::RX_DROP_NOBUF).unwrap(), nic.read32(stats::RX_DROP_ERR).unwrap());
    // Until every frame is accounted for: delivered here or counted as dropped.
    while t0.elapsed() < Duration::from_secs(120) {
        d.rx_burst(&mut out, 256).unwrap();
        got.extend(out.drain(..).map(|m| m.data().to_vec()));
        let (a, b) = dropped();
        if got.len() + (a + b) as usize >= N as usize {
            break;
        }
        let _ = d.wait(Duration::from_millis(1));
    }
    let drops = dropped();
    assert_eq!(drops, (0, 0), "latency {read_latency}: frames dropped (no buffer, no room) with buffers posted");
    assert_eq!(got.len(), N as usize, "latency {read_latency}: frames delivered");
    assert_eq!(sim.stats().unwrap().nics[0].mac.rx_stall_cycles, 0, "the MAC was never held off");
    // Every frame once, intact; each flow's frames in their order.
    let mut last: HashMap<u16, u32> = HashMap::new();
    let mut seen = vec![false; N as usize];
    for g in &got {
        let i = u32::from_be_bytes(g[42..46].try_into().unwrap());
        assert_eq!(g, &frames[i as usize], "frame {i} intact");
        assert!(!std::mem::replace(&mut seen[i as usize], true), "frame {i} delivered twice");
        let port = 1000 + (i % 64) as u16;
        if let Some(&prev) = last.get(&port) {
            assert!(i > prev, "flow {port}: frame {i} after {prev}");
        }
        last.insert(port, i);
    }
    let per_q: Vec<u32> = (0..2).map(|q| nic.read32(rxq(q) + queue::PACKETS).unwrap()).collect();
    assert!(per_q.iter().all(|&n| n > N / 4), "both queues carried traffic: {per_q:?}");
}

#[test]
fn back_to_back_minimum_frames_at_a_16_cycle_read_latency() {
    back_to_back_minimum_frames_are_all_delivered(16);
}

#[test]
fn back_to_back_minimum_frames_at_a_150_cycle_read_latency() {
    back_to_back_minimum_frames_are_all_delivered(150);
}
