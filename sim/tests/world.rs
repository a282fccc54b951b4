//! The world around the Verilated NIC: the bridge builds and clocks the
//! model, the clock sleeps when idle without losing requests, wires, pcap and
//! VCD windows work end to end. Nothing here depends on what the NIC's logic
//! does beyond its port contract (`idle` high when nothing is in flight).

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nic_sim::{
    Endpoint, External, FaultConfig, Faults, PcapTap, Sim, SimConfig, SimError, VcdWindow, Wire,
};
use pcap_file::pcap::PcapReader;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nic-sim-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Waits until the clock stops advancing (the world is asleep); returns the cycle count.
fn settle(sim: &Sim) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let c = sim.cycles();
        std::thread::sleep(Duration::from_millis(5));
        if sim.cycles() == c {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "the clock never went to sleep: is the NIC's `idle` output high when nothing is in flight? {}",
            sim.stats().map(|s| s.to_string()).unwrap_or_default()
        );
    }
}

/// A register access was carried out on the bus: answered, or timed out in simulated cycles.
fn processed<T: std::fmt::Debug>(r: &Result<T, SimError>) -> bool {
    matches!(
        r,
        Ok(_) | Err(SimError::RegTimeout { .. }) | Err(SimError::RegResponse { .. })
    )
}

#[test]
fn handles_are_shareable() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<nic_sim::SimNic>();
    fn sendable<T: Send + Sync>() {}
    sendable::<Sim>();
}

#[test]
fn clock_runs_then_sleeps_when_idle() {
    let sim = Sim::start(SimConfig::external(1)).unwrap();
    let c = sim.run_cycles(1000).unwrap();
    assert!(c >= 1000);
    let a = settle(&sim);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(sim.cycles(), a, "asleep: simulated time stands still");
    let s = sim.stats().unwrap();
    assert_eq!(sim.cycles(), a, "asking for stats does not advance time");
    assert!(s.sleeps >= 1);
    assert_eq!(s.cycles, a);
    assert_eq!(s.sim_ns, nic_sim::time::cycles_to_ns(a));
    assert!(s.cycles_per_sec > 0.0);
    assert_eq!(s.nics.len(), 1);
    assert!(s.to_string().contains("Mcycles/s"));
}

#[test]
fn requests_wake_a_sleeping_clock_and_none_is_lost() {
    let sim = Sim::start(SimConfig::external(1)).unwrap();
    let nic = sim.nic(0);
    for round in 0..3 {
        let before = settle(&sim);
        let handles: Vec<_> = (0..4u32)
            .map(|t| {
                let nic = nic.clone();
                std::thread::spawn(move || {
                    (0..3u32)
                        .map(|k| {
                            let off = nic_abi::regs::id::ID + 4 * ((t + k) % 8);
                            if k == 1 {
                                processed(&nic.write32(nic_abi::regs::ctrl::IRQ_MASK, 0))
                            } else {
                                processed(&nic.read32(off))
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            assert!(
                h.join().unwrap().into_iter().all(|p| p),
                "round {round}: an access was lost"
            );
        }
        assert!(sim.cycles() > before, "the accesses took simulated cycles");
        let s = sim.stats().unwrap();
        assert_eq!(
            s.nics[0].regs.reads + s.nics[0].regs.writes,
            12 * (round + 1)
        );
    }
}

/// Lockstep: the host's accesses take effect at cycles fixed by what it did before, never by how
/// long it computed in between; a wait in a quiet world jumps to its deadline.
#[test]
fn lockstep_time_moves_only_while_the_host_waits() {
    let script = |compute: Duration| {
        let sim = Sim::start(SimConfig::external(1).with_lockstep()).unwrap();
        let nic = sim.nic(0);
        assert!(nic.is_lockstep() && sim.is_lockstep());
        let mut at = vec![];
        for k in 0..5u32 {
            nic.read32(nic_abi::regs::id::ID + 4 * k).unwrap();
            at.push(sim.cycles());
            std::thread::sleep(compute); // the host computes
            assert_eq!(sim.cycles(), at[at.len() - 1], "time moved while the host computed");
        }
        nic.inject(&[0xff; 60], false).unwrap(); // no buffer posted: the NIC counts a drop
        at.push(nic.run_cycles(500).unwrap());
        let drops = nic.read32(nic_abi::regs::stats::RX_DROP_NOBUF).unwrap();
        at.push(sim.cycles());
        // Interrupts are masked: this wait ends at its deadline, jumped to, not stepped through.
        let t = Instant::now();
        assert!(!nic.wait_irq(Duration::from_secs(2)).unwrap());
        let waited = t.elapsed();
        at.push(sim.cycles());
        assert_eq!(nic.sim_time(), Some(nic_sim::time::cycles_to_duration(sim.cycles())));
        let s = sim.stats().unwrap();
        (at, drops, s.skipped, s.nics[0].regs, waited)
    };
    let (a, drops, skipped, regs, waited) = script(Duration::ZERO);
    let (b, ..) = script(Duration::from_millis(20));
    assert_eq!(a, b, "cycle of every step, with and without host compute time");
    assert_eq!(drops, 1, "the injected frame reached the NIC: {a:?}");
    let two_s = nic_sim::time::duration_to_cycles(Duration::from_secs(2));
    assert!(a[7] - a[6] >= two_s && skipped > two_s - 1000, "jumped {skipped} of {two_s} cycles");
    assert!(waited < Duration::from_secs(1), "2 s of quiet simulated time took {waited:?}");
    assert_eq!((regs.reads, regs.writes), (6, 0));
}

#[test]
fn bad_offsets_and_wrong_wire_are_errors() {
    let sim = Sim::start(SimConfig::loopback()).unwrap();
    let nic = sim.nic(0);
    assert!(matches!(nic.read32(2), Err(SimError::BadOffset(2))));
    assert!(matches!(
        nic.write32(nic_abi::regs::BAR0_SIZE, 0),
        Err(SimError::BadOffset(o)) if o == nic_abi::regs::BAR0_SIZE
    ));
    assert!(matches!(
        nic.inject(&[0; 60], false),
        Err(SimError::NotExternal)
    ));
    assert!(nic.take_tx().is_empty());
    let t = Instant::now();
    assert!(nic.wait_irq(Duration::from_millis(20)).is_ok());
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn handles_report_a_dropped_sim() {
    let sim = Sim::start(SimConfig::cable()).unwrap();
    assert_eq!(sim.nics(), 2);
    let nic1 = sim.nic(1);
    assert_eq!(nic1.index(), 1);
    assert_eq!(sim.stats().unwrap().nics.len(), 2);
    drop(sim);
    let e = nic1.read32(0).unwrap_err();
    assert!(matches!(e, SimError::Stopped(_)), "{e}");
    assert!(e.to_string().contains("start a new Sim"));
    assert!(matches!(
        nic1.wait_irq(Duration::from_secs(5)),
        Err(SimError::Stopped(_))
    ));
    assert!(matches!(nic1.run_cycles(10), Err(SimError::Stopped(_))));
}

#[test]
fn injected_frames_cross_faults_and_pcap_with_sim_time() {
    let path = tmp("inject.pcap");
    // The tap sits inside the fault injector: it records what survived.
    let wire = Faults::new(
        FaultConfig {
            seed: 9,
            drop: 0.5,
            ..Default::default()
        },
        PcapTap::create(&path, External::new(1)).unwrap(),
    );
    assert!(wire.is_external());
    let sim = Sim::start(SimConfig::new(wire)).unwrap();
    let nic = sim.nic(0);
    let frames: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 60 + i as usize]).collect();
    for f in &frames {
        nic.inject(f, false).unwrap();
        sim.run_cycles(20).unwrap();
    }
    let s = sim.stats().unwrap();
    assert_eq!(s.wire.frames + s.wire.dropped, 40);
    assert!(s.wire.dropped > 5 && s.wire.frames > 5, "{:?}", s.wire);
    assert_eq!(s.wire.pcap_frames, s.wire.frames);
    drop(sim);

    let mut r = PcapReader::new(File::open(&path).unwrap()).unwrap();
    let mut last = Duration::ZERO;
    let mut n = 0;
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let i = p.data[0] as usize;
        assert_eq!(&p.data[..], &frames[i][..]);
        assert!(p.timestamp > last, "timestamps follow simulated time");
        // Each injection is 20 cycles (128 ns) after the previous one at least.
        assert!(p.timestamp >= Duration::from_nanos(128 * i as u64));
        last = p.timestamp;
        n += 1;
    }
    assert_eq!(n as u64, s.wire.frames);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn vcd_window_is_written_and_bounded() {
    let path = tmp("window.vcd");
    let (start, end) = (100u64, 300u64);
    let cfg = SimConfig::external(1).with_vcd(VcdWindow {
        path: path.clone(),
        start_cycle: start,
        end_cycle: end,
        nic: 0,
    });
    let sim = Sim::start(cfg).unwrap();
    sim.run_cycles(5_000).unwrap();
    drop(sim);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("$enddefinitions"), "a VCD header");
    assert!(text.contains("m_axi_araddr"), "the NIC's ports are traced");
    let ts: String = text
        .split("$timescale")
        .nth(1)
        .unwrap_or("")
        .chars()
        .take(12)
        .collect();
    assert!(ts.contains("1ps"), "times are picoseconds: {ts:?}");
    let times: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter_map(|t| t.parse().ok())
        .collect();
    let cyc = nic_sim::time::CYCLE_PS;
    assert_eq!(times.first().copied(), Some(start * cyc));
    assert_eq!(times.last().copied(), Some((end - 1) * cyc + cyc / 2));
    assert!(
        times.iter().all(|t| (start * cyc..end * cyc).contains(t)),
        "nothing outside the window"
    );
    assert!(times.len() as u64 <= 2 * (end - start));
    assert!(
        text.len() < 4 << 20,
        "bounded: {} bytes for {} cycles",
        text.len(),
        end - start
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn bad_config_is_reported() {
    let e = Sim::start(SimConfig::external(0)).err().unwrap();
    assert!(matches!(e, SimError::Config(_)), "{e}");
    let bad = VcdWindow {
        path: tmp("x.vcd"),
        start_cycle: 5,
        end_cycle: 5,
        nic: 0,
    };
    assert!(matches!(
        Sim::start(SimConfig::loopback().with_vcd(bad)),
        Err(SimError::Config(_))
    ));
    let bad = VcdWindow {
        path: tmp("x.vcd"),
        start_cycle: 0,
        end_cycle: 5,
        nic: 1,
    };
    assert!(matches!(
        Sim::start(SimConfig::loopback().with_vcd(bad)),
        Err(SimError::Config(_))
    ));
    let bad = VcdWindow {
        path: "/nonexistent-dir/x.vcd".into(),
        start_cycle: 0,
        end_cycle: 5,
        nic: 0,
    };
    assert!(matches!(
        Sim::start(SimConfig::loopback().with_vcd(bad)),
        Err(SimError::Io { .. })
    ));
    // The Endpoint type is part of the public wire API.
    assert_ne!(Endpoint::Nic(0), Endpoint::Host(0));
}
