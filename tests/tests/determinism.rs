//! Deterministic co-simulation: the same frames and seeds through `replay` (the engine of
//! `nicctl replay` and the demo's first part) give the same cycles, the same capture to the
//! byte (timestamps included), the same RX report and the same counters, on every run. The
//! host lives in simulated time (lockstep), so neither the machine's speed nor the scheduler
//! can move a number.
//!
//! The reference for "same frame" is the capture itself, read by the pcap-file crate: each
//! report line's bytes must be the capture's frame its number names.

use nic_sim::FaultConfig;
use nic_testbench::replay::{replay, ReplayConfig, ReplayReport};
use nic_testbench::traffic;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nic-determinism-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// The capture's records: (timestamp, bytes).
fn read_pcap(p: &Path) -> Vec<(std::time::Duration, Vec<u8>)> {
    let mut r = pcap_file::pcap::PcapReader::new(std::fs::File::open(p).unwrap()).unwrap();
    let mut v = vec![];
    while let Some(pkt) = r.next_packet() {
        let pkt = pkt.unwrap();
        v.push((pkt.timestamp, pkt.data.into_owned()));
    }
    v
}

/// Everything a run reports that simulated time decides (not the wall-clock speed).
fn fingerprint(rep: &ReplayReport) -> String {
    let rx: Vec<_> = rep
        .rx
        .iter()
        .map(|r| (r.frame, r.len, r.csum_flags, r.csum_data, r.flowid, r.rsstype, r.queue, r.data.clone()))
        .collect();
    format!(
        "cycles {} skipped {} sent {} expected {} tso {} dropped {} timed_out {}\nrx {rx:?}\nhw {:?}\nwire {:?}\ntx {:?}\nnics {:?}",
        rep.sim.cycles,
        rep.sim.skipped,
        rep.sent,
        rep.wire_expected,
        rep.tso_bursts,
        rep.dropped,
        rep.timed_out,
        rep.hw_stats,
        rep.sim.wire,
        rep.tx_status,
        rep.sim.nics.iter().map(|n| (&n.regs, &n.dma, &n.mac, n.irq)).collect::<Vec<_>>(),
    )
}

/// A mix over both RX queues, TSO bursts, and a seeded faulty wire (drops, duplicates,
/// reordering, corruption): twice, with identical results; and the report in wire order.
#[test]
fn replay_twice_gives_identical_cycles_capture_report_and_counters() {
    let mut frames = traffic::mix(500, 21);
    // The mix's flows share their ports; 64 more flows let RSS use both queues.
    for i in 0..128u16 {
        let k = traffic::Kind { v6: i % 2 == 1, tcp: true, vlan: false, ext: false, frag: false };
        let mut t = etherparse::TcpHeader::new(1000 + i % 64, 5001, u32::from(i) * 100, 65535);
        t.ack = true;
        frames.insert(usize::from(i) * 4, traffic::tcp_frame(k, t, u32::from(i), &[i as u8; 100]));
    }
    for i in 0..4u32 {
        let k = traffic::Kind { v6: i % 2 == 1, tcp: true, vlan: false, ext: false, frag: false };
        let payload: Vec<u8> = (0..20_000 + 3_000 * i).map(|j| (j * 7 + i) as u8).collect();
        frames.push(traffic::frame(k, &payload, 1000 * i));
    }
    let faults = FaultConfig { seed: 5, drop: 0.01, dup: 0.01, reorder: 0.01, corrupt: 0.01, ..Default::default() };
    let run = |name: &str| {
        let pcap = tmp(name);
        let cfg = ReplayConfig {
            cable: true,
            tso_mss: Some(1448),
            faults: Some(faults),
            wire_pcap: Some(pcap.clone()),
            ..Default::default()
        };
        let rep = replay(&frames, &cfg).expect("replay runs");
        (rep, std::fs::read(&pcap).unwrap(), pcap)
    };
    let (a, cap_a, pcap_a) = run("a.pcap");
    let (b, cap_b, _) = run("b.pcap");
    eprintln!("run a: {}", a.sim);
    assert!(!a.timed_out && a.unaccounted() == 0, "the books balance: {}", a.unaccounted());
    assert!(a.tso_bursts >= 4 && a.sim.wire.dropped > 0 && a.sim.wire.duplicated > 0, "faults and TSO took part");
    let queues: std::collections::BTreeSet<u16> = a.rx.iter().map(|r| r.queue).collect();
    assert!(queues.len() > 1, "RSS spread the mix over queues: {queues:?}");
    if cap_a != cap_b {
        let at = cap_a.iter().zip(&cap_b).position(|(x, y)| x != y).unwrap_or(cap_a.len().min(cap_b.len()));
        panic!("the captures differ from byte {at} (of {} and {}): bytes or timestamps", cap_a.len(), cap_b.len());
    }
    let (fa, fb) = (fingerprint(&a), fingerprint(&b));
    if fa != fb {
        let line = fa.lines().zip(fb.lines()).position(|(x, y)| x != y).unwrap_or(0);
        panic!("the runs differ at line {line}:\n{}\n{}", fa.lines().nth(line).unwrap_or(""), fb.lines().nth(line).unwrap_or(""));
    }

    // Wire order, against the capture: every frame the wire did not change is the capture's
    // frame its number names; numbers never go down; the changed ones (0) come last.
    let cap = read_pcap(&pcap_a);
    assert!(cap.windows(2).all(|w| w[0].0 <= w[1].0), "timestamps in order");
    let mut last = 0;
    let mut unmatched = 0;
    for r in &a.rx {
        if r.frame == 0 {
            unmatched += 1;
            continue;
        }
        assert_eq!(unmatched, 0, "a matched frame after an unmatched one");
        assert!(r.frame >= last, "report out of wire order: {} after {last}", r.frame);
        assert_eq!(r.data, cap[r.frame - 1].1, "report frame {} is not the capture's", r.frame);
        last = r.frame;
    }
    assert!(unmatched as u64 <= a.sim.wire.corrupted + a.sim.wire.truncated, "only changed frames are unmatched");
}
