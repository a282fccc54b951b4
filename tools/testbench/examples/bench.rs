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
//! - `bench tso`: bytes per cycle on the wire while 64 KiB TSO bursts at MSS
//!   536, 1448 and 8948 leave the NIC, beside the exact bound of the MAC
//!   model and beside the same segments sent as ordinary frames (GSO).
//! - `bench send --mode tso|gso|plain --mb N`: the host side of sending N MiB
//!   of TCP payload as TSO bursts, as bursts cut by the stack's GSO, or as
//!   MSS-sized frames; under callgrind (`scripts/bench`) it counts the
//!   instructions of `send_batch` alone.
//!
//! - `bench determinism`: the demo's replay (the traffic mix and TSO bursts over a
//!   cable) in lockstep and free-running, alternately, three rounds each: wall
//!   time and cycles of both, so what determinism costs is measured beside the
//!   mode it replaced, in the same run.
//!
//! `cargo run --release -p nic-testbench --example bench -- throughput`

use nic_abi::regs::stats;
use nic_host::dev::sim::SimDevice;
use nic_host::driver::{Driver, DriverConfig, TxReject};
use nic_host::mbuf::Mbuf;
use nic_host::net::{ether_input, Input, NetStats};
use nic_host::offload;
use nic_testbench::traffic::{self, Kind};
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

/// One NIC on an external wire whose DMA answers reads `read_latency` cycles after the request,
/// in lockstep: the host reacts in no simulated time, so the figures are the RTL's and the same
/// on every run.
fn bench_sim(read_latency: u32) -> Sim {
    let mut cfg = SimConfig::external(1).with_lockstep();
    cfg.dma.read_latency = read_latency;
    Sim::start(cfg).expect("sim")
}

/// TX bytes per cycle on the wire, simulated cycles, and DMA read beats per frame (descriptors and
/// data, counted by the DMA model: the read channel carries one beat a cycle, so this bounds TX).
fn tx_bytes_per_cycle(size: usize, n: usize, read_latency: u32) -> (f64, u64, f64) {
    let sim = bench_sim(read_latency);
    let d = attach(&sim, 0);
    let (hw, cap) = (d.ifnet().if_hwassist, d.ifnet().if_capenable);
    let pkts: Vec<Mbuf> = frames(n, size).iter().map(|f| offload::prepare_tx(f, hw, cap).unwrap()).collect();
    let nic = sim.nic(0);
    let wire = send_all(&d, &nic, pkts, n);
    let st = sim.stats().unwrap();
    (rate(&wire), st.cycles, st.nics[0].dma.read_beats as f64 / n as f64)
}

/// Frames of `size` bytes from 64 UDP flows (source ports 1000..1063; the UDP checksum left
/// out, as IPv4 allows), which RSS spreads over the queues.
fn spread(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .enumerate()
        .map(|(i, mut f)| {
            f[34..36].copy_from_slice(&(1000 + (i % 64) as u16).to_be_bytes());
            f[40..42].copy_from_slice(&[0, 0]);
            f
        })
        .collect()
}

fn rx_bytes_per_cycle(size: usize, n: usize, read_latency: u32, flows: bool) -> (f64, String, u64) {
    let sim = bench_sim(read_latency);
    // A buffer posted for every frame before the first arrives: the figure is the RTL's, not how
    // fast this host thread (real time) refills a ring behind a simulator (simulated time).
    let ring_log2 = n.next_power_of_two().trailing_zeros().max(8);
    let buf = size.next_multiple_of(64);
    let dev = SimDevice::new(sim.nic(0), ((2 * buf) << ring_log2) + (16 << 20)).expect("dma region"); // both queue pairs, and TX
    let cfg = DriverConfig { tx_ring_log2: 8, rx_ring_log2: ring_log2, rx_buf_len: Some(buf), ..Default::default() };
    let d = Driver::attach_with(Arc::new(dev), cfg).expect("attach");
    let nic = sim.nic(0);
    let fr = if flows { spread(frames(n, size)) } else { frames(n, size) };
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
    let delivered = nic.read32(stats::RX_FRAMES).unwrap() as u64;
    let _ = got;
    // From the MAC handing the first frame's first beat to the NIC to the last DMA write (the
    // last frame's completion): every frame's bytes over the span the NIC needed for them.
    let st = sim.stats().unwrap();
    let (dma, mac) = (&st.nics[0].dma, &st.nics[0].mac);
    let span = dma.last_write_cycle - mac.rx_first_cycle;
    let nobuf = nic.read32(stats::RX_DROP_NOBUF).unwrap();
    let err = nic.read32(stats::RX_DROP_ERR).unwrap();
    let mut dropped = format!("{} of {n} (no buffer {nobuf}, no room {err})", n as u64 - delivered);
    if flows {
        let per_q: Vec<String> = (0..2u32)
            .map(|q| nic.read32(nic_abi::regs::rxq(q) + nic_abi::regs::queue::PACKETS).unwrap().to_string())
            .collect();
        dropped += &format!("; per queue {}", per_q.join("/"));
    }
    ((delivered as usize * size) as f64 / span as f64, dropped, mac.rx_stall_cycles)
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
    let mut sim_cycles = 0;
    let t = Instant::now();
    for lat in [16u32, 150] {
        println!("DMA read latency {lat} cycles:");
        println!();
        println!("| frame bytes | TX B/cycle | RX B/cycle | wire limit B/cycle | TX % | RX % | RX dropped | MAC stalls | RX, 64 flows over 2 queues % | its drops | TX DMA read beats per frame | TX % of min(wire, read channel) |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (size, n) in [(64usize, 2000usize), (128, 2000), (256, 1000), (512, 1000), (1500, 400), (9000, 400)] {
            let (tx, c1, rbeats) = tx_bytes_per_cycle(size, n, lat);
            let (rx, dropped, stall) = rx_bytes_per_cycle(size, n, lat, false);
            let (rx2, dropped2, _) = rx_bytes_per_cycle(size, n, lat, true);
            sim_cycles += c1;
            let lim = wire_limit(size);
            // The read channel moves one 8-byte beat a cycle; a frame needs its descriptor's beats
            // besides its own, so below some size the channel, not the wire, is what TX can reach.
            let read_bound = size as f64 / rbeats;
            println!(
                "| {size} | {tx:.2} | {rx:.2} | {lim:.2} | {:.1} | {:.1} | {dropped} | {stall} | {:.1} | {dropped2} | {rbeats:.2} | {:.1} |",
                100.0 * tx / lim,
                100.0 * rx / lim,
                100.0 * rx2 / lim,
                100.0 * tx / lim.min(read_bound)
            );
        }
        println!();
    }
    let whole = sim_cycles as f64 / t.elapsed().as_secs_f64();
    let bare = bare_model_speed(2_000_000);
    // Wall-clock speed on stderr: standard output is the same on every run.
    eprintln!("simulator: whole NIC with driver and models {:.2} M cycles/s (TX runs only, wall time incl. host);", whole / 1e6);
    eprintln!("           bare Verilated model, same run     {:.2} M cycles/s", bare / 1e6);
}

/// The measured region for callgrind: the stack's output (checksums seeded for the NIC, or
/// computed in software), the driver both ways, and the stack's input (NIC verdict trusted, or
/// checksums verified in software), for every frame of `fr` in loopback.
#[inline(never)]
fn driver_loop(d: &Driver, fr: &[Vec<u8>]) -> usize {
    let n = fr.len();
    let mut out = Vec::with_capacity(256);
    let mut st = NetStats::default();
    let mut next = 0;
    let mut pending: Option<Mbuf> = None;
    let mut got = 0;
    // The interface does not change during the run: one snapshot, not a copy per frame.
    let ifp = d.ifnet();
    while got < n {
        loop {
            let m = match pending.take() {
                Some(m) => m,
                None if next < n => {
                    let (hw, cap) = (ifp.if_hwassist, ifp.if_capenable);
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
            match ether_input(&ifp, m, &mut st) {
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

/// The value after flag `k` in `args`, or `def`.
fn opt(args: &[String], k: &str, def: &str) -> String {
    args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned().unwrap_or(def.into())
}

fn driver(args: &[String]) {
    let get = |k: &str, def: &str| opt(args, k, def);
    let n: usize = get("--frames", "2000").parse().unwrap();
    let size: usize = get("--size", "1500").parse().unwrap();
    let on = get("--offload", "on") == "on";
    let sim = Sim::start(SimConfig::loopback()).expect("sim");
    let d = attach(&sim, 0);
    if !on {
        d.ifconfig(&["-txcsum", "-txcsum6", "-rxcsum", "-rxcsum6"]).unwrap();
    }
    let fr = frames(n, size);
    let t = Instant::now();
    let got = driver_loop(&d, &fr);
    println!("driver: {got} frames of {size} bytes, offload {}, {:.2} s", if on { "on" } else { "off" }, t.elapsed().as_secs_f64());
}

/// A 64 KiB TCP/IPv4 burst (no options: 54 header bytes), payload `seed`-dependent.
fn burst(seed: usize) -> Vec<u8> {
    let k = Kind { v6: false, tcp: true, vlan: false, ext: false, frag: false };
    let mut t = etherparse::TcpHeader::new(40000, 5001, (seed * 65481) as u32, 65535);
    t.ack = true;
    let payload: Vec<u8> = (0..65535 - 54).map(|i| (i * 7 + seed) as u8).collect();
    traffic::tcp_frame(k, t, seed as u32, &payload)
}

/// The MAC model's bound for frames of these lengths: each takes ceil(len/8) beats plus the
/// 3-cycle gap; bytes over cycles, first frame excluded (as the measurement).
fn wire_bound(lens: &[usize]) -> f64 {
    let b: usize = lens[1..].iter().sum();
    let c: usize = lens[1..].iter().map(|l| l.div_ceil(8) + 3).sum();
    b as f64 / c as f64
}

/// Sends `pkts` (TSO bursts or plain frames) and returns the wire frames with their cycles.
fn send_all(d: &Driver, nic: &nic_sim::SimNic, pkts: Vec<Mbuf>, frames: usize) -> Vec<nic_sim::Frame> {
    let mut q: VecDeque<Mbuf> = pkts.into();
    let mut wire = vec![];
    let t0 = Instant::now();
    while wire.len() < frames {
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
        assert!(t0.elapsed() < Duration::from_secs(300), "TX benchmark stalled");
    }
    wire
}

/// Steady state: bytes from the end of the first frame to the end of the last, per cycle.
fn rate(wire: &[nic_sim::Frame]) -> f64 {
    let bytes: usize = wire[1..].iter().map(|f| f.data.len()).sum();
    bytes as f64 / (wire[wire.len() - 1].cycle - wire[0].cycle) as f64
}

fn tso() {
    println!("| MSS | segments per burst | TSO B/cycle | same segments as frames (GSO) B/cycle | bound B/cycle | TSO of bound |");
    println!("|---|---|---|---|---|---|");
    for mss in [536u16, 1448, 8948] {
        let bursts: Vec<Vec<u8>> = (0..6).map(burst).collect();
        let sim = Sim::start(SimConfig::external(1).with_lockstep()).expect("sim");
        let d = attach(&sim, 0);
        let nic = sim.nic(0);
        let tso: Vec<Mbuf> = bursts.iter().map(|b| offload::prepare_tso(b, mss).unwrap()).collect();
        let gso: Vec<Mbuf> = tso
            .iter()
            .flat_map(|m| nic_host::net::gso::tcp_gso(m, d.ifnet().if_hwassist).unwrap())
            .collect();
        let n = gso.len();
        let lens: Vec<usize> = gso.iter().map(|m| m.len()).collect();
        let w_tso = send_all(&d, &nic, tso, n);
        let w_gso = send_all(&d, &nic, gso, n);
        assert!(w_tso.iter().zip(&w_gso).all(|(a, b)| a.data == b.data), "TSO and GSO frames differ");
        let (a, b, bound) = (rate(&w_tso), rate(&w_gso), wire_bound(&lens));
        println!("| {mss} | {} | {a:.3} | {b:.3} | {bound:.3} | {:.1} % |", n / 6, 100.0 * a / bound);
    }
}

/// The measured region of `bench send`: the stack's preparation and the driver, for one batch;
/// returns packets placed plus completions reclaimed (0: nothing moved).
#[inline(never)]
fn send_batch(d: &Driver, mode: &str, input: &mut VecDeque<Vec<u8>>, q: &mut VecDeque<Mbuf>, mss: u16) -> usize {
    if q.is_empty() {
        if let Some(f) = input.pop_front() {
            let (hw, cap) = (d.ifnet().if_hwassist, d.ifnet().if_capenable);
            match mode {
                "tso" => q.push_back(offload::prepare_tso(&f, mss).unwrap()),
                "gso" => q.extend(offload::tso_or_gso(offload::prepare_tso(&f, mss).unwrap(), hw, cap).unwrap().0),
                _ => q.push_back(offload::prepare_tx(&f, hw, cap).unwrap()),
            }
        }
    }
    let mut sent = 0;
    while let Some(m) = q.pop_front() {
        if let Err(e) = d.tx(m) {
            q.push_front(e.mbuf);
            break;
        }
        sent += 1;
    }
    d.tx_flush().unwrap();
    sent + d.tx_reclaim().unwrap()
}

fn send(args: &[String]) {
    let get = |k: &str, def: &str| opt(args, k, def);
    let mode = get("--mode", "tso");
    let mb: usize = get("--mb", "2").parse().unwrap();
    let mss = 1448u16;
    let bursts = (mb << 20).div_ceil(65535 - 54);
    let sim = Sim::start(SimConfig::external(1)).expect("sim");
    let d = attach(&sim, 0);
    if mode == "gso" {
        d.ifconfig(&["-tso4", "-tso6"]).unwrap();
    }
    let nic = sim.nic(0);
    // Inputs built outside the measured region: bursts, or the same bytes as MSS-sized frames.
    let mut input: VecDeque<Vec<u8>> = (0..bursts).map(burst).collect();
    if mode == "plain" {
        input = input
            .iter()
            .flat_map(|b| {
                let m = offload::prepare_tso(b, mss).unwrap();
                nic_host::net::gso::tcp_gso(&m, 0).unwrap().into_iter().map(|s| s.data().to_vec())
            })
            .collect();
    }
    let mut q = VecDeque::new();
    let mut wire = 0usize;
    let t = Instant::now();
    while !input.is_empty() || !q.is_empty() || d.tx_in_flight() > 0 {
        if send_batch(&d, &mode, &mut input, &mut q, mss) == 0 {
            // Nothing moved: sleep until the NIC completes something (not counted: no host work).
            let _ = d.wait(Duration::from_millis(1));
        }
        wire += nic.take_tx().len();
        assert!(t.elapsed() < Duration::from_secs(600), "send benchmark stalled");
    }
    println!("send: {mode}, {bursts} bursts' worth ({mb} MiB), {wire} frames so far, {:.2} s", t.elapsed().as_secs_f64());
}

/// Connection lookup per received segment with 1, 1 000 and 100 000 connections: wall time per
/// lookup (best of 5 passes over 200 000 lookups of tuples in the table, in random order, so the
/// table does not sit in cache by luck); `lookup --n N` runs one table for callgrind.
fn lookup(args: &[String]) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let sizes: Vec<usize> = match args.iter().position(|a| a == "--n") {
        Some(i) => vec![args[i + 1].parse().expect("--n N")],
        None => vec![1, 1_000, 100_000],
    };
    println!("| connections | ns per lookup | lookups/s (one thread) | reference: one std HashMap, no shards, no hash of ours, ns |");
    println!("|---:|---:|---:|---:|");
    for n in sizes {
        let stack = nic_host::stack::Stack::new(Default::default());
        let tuples = stack.bench_fill(n);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let probes: Vec<_> = (0..200_000).map(|_| *tuples.choose(&mut rng).unwrap()).collect();
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let found = stack.bench_lookups(&probes);
            best = best.min(t.elapsed().as_secs_f64());
            assert_eq!(found, probes.len());
        }
        let ns = best * 1e9 / probes.len() as f64;
        // The same tuples in one plain map: what a lookup costs before sharding and RSS hashing.
        let plain: std::collections::HashMap<_, usize> = tuples.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let mut best_ref = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let found = probes.iter().filter(|p| plain.contains_key(*p)).count();
            best_ref = best_ref.min(t.elapsed().as_secs_f64());
            assert_eq!(found, probes.len());
        }
        println!("| {n} | {ns:.0} | {:.2} M | {:.0} |", 1e3 / ns, best_ref * 1e9 / probes.len() as f64);
    }
}

/// The stack's packet rate with one worker and with two: `flows` TCP connections between two
/// stacks on a simulated cable, each sending `mb` MiB at once, every offload on, each driver
/// using `queues` queue pairs (one worker thread per pair). Prints one table row.
fn flows(args: &[String]) {
    use nic_testbench::cable::CablePair;
    use nic_host::stack::socket::SockOpts;
    use nic_host::stack::IfAddrs;
    use std::io::{Read, Write};
    let arg = |name: &str, default: usize| {
        args.iter().position(|a| a == name).map_or(default, |i| args[i + 1].parse().expect("a number"))
    };
    let (queues, nflows, mb) = (arg("--queues", 2) as u16, arg("--flows", 8), arg("--mb", 4));
    let addrs = |last: u8| IfAddrs { v4: Some((std::net::Ipv4Addr::new(10, 0, 0, last), 24)), ..Default::default() };
    let pair = CablePair::start_with_queues(addrs(1), addrs(2), None, Some(queues)).expect("two stacks on a cable");
    let l = pair.b.tcp_listen("10.0.0.2:5001".parse().unwrap(), 64, SockOpts::default()).unwrap();
    let cycles0 = pair.cycles();
    let t = Instant::now();
    let mut senders = vec![];
    for i in 0..nflows {
        let mut s = pair.a.tcp_connect("10.0.0.2:5001".parse().unwrap(), SockOpts::default()).unwrap();
        senders.push(std::thread::spawn(move || {
            let buf = vec![i as u8; 1 << 20];
            for _ in 0..mb {
                s.write_all(&buf).unwrap();
            }
            s.shutdown(std::net::Shutdown::Write).unwrap();
        }));
    }
    let mut readers = vec![];
    for _ in 0..nflows {
        let mut s = l.accept().unwrap();
        readers.push(std::thread::spawn(move || {
            let mut n = 0usize;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match s.read(&mut buf).unwrap() {
                    0 => return n,
                    k => n += k,
                }
            }
        }));
    }
    senders.into_iter().for_each(|h| h.join().unwrap());
    let total: usize = readers.into_iter().map(|h| h.join().unwrap()).sum();
    let wall = t.elapsed().as_secs_f64();
    let cycles = pair.cycles() - cycles0;
    assert_eq!(total, (nflows * mb) << 20, "every byte arrived");
    let frames: u64 = [&pair.a, &pair.b]
        .iter()
        .map(|s| {
            let idx = s.interfaces()[0].0;
            s.with_driver(idx, |d| d.hw_queue_stats().unwrap().iter().map(|q| q.1 as u64).sum::<u64>()).unwrap()
        })
        .sum();
    let sim_s = cycles as f64 / (nic_abi::CLOCK_KHZ as f64 * 1e3);
    // CPU time of the whole process (exited threads included) and of the simulator's clock
    // thread: the rest is the two stacks (workers and the flows' threads).
    let ticks = |stat: &str| -> f64 {
        let f: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / hz
    };
    let total_cpu = ticks(&std::fs::read_to_string("/proc/self/stat").unwrap());
    let sim_cpu: f64 = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| {
            let t = t.ok()?.path();
            let name = std::fs::read_to_string(t.join("comm")).ok()?;
            (name.trim() == "nic-sim-clock").then(|| ticks(&std::fs::read_to_string(t.join("stat")).unwrap()))
        })
        .sum();
    println!(
        "| {queues} | {nflows} × {mb} MiB | {wall:.2} | {:.0} | {:.1} | {:.0} | {:.2} | {:.2} | {:.0} |",
        frames as f64 / wall,
        (total * 8) as f64 / wall / 1e6,
        frames as f64 / sim_s / 1e3,
        cycles as f64 / wall / 1e6,
        sim_cpu / wall,
        (total_cpu - sim_cpu) * 1e6 / frames as f64
    );
}

/// The demo's first part (`nicctl demo --frames 3000`: 3000 frames and 12 TCP bursts over a cable,
/// every offload on, TSO at MSS 1448) in lockstep and free-running, alternately.
fn determinism() {
    let (frames, _) = traffic::demo_mix(3000, 1);
    println!("| round | mode | cycles | wall s | cycles evaluated per wall s (M) | quiet cycles jumped |");
    println!("|---|---|---|---|---|---|");
    let (mut wall_lock, mut wall_free) = (0.0, 0.0);
    for round in 1..=3 {
        for free_running in [false, true] {
            let cfg = nic_testbench::replay::ReplayConfig { cable: true, tso_mss: Some(1448), free_running, ..Default::default() };
            let t = Instant::now();
            let rep = nic_testbench::replay::replay(&frames, &cfg).expect("replay");
            let wall = t.elapsed().as_secs_f64();
            assert_eq!(rep.unaccounted(), 0);
            *(if free_running { &mut wall_free } else { &mut wall_lock }) += wall;
            let mode = if free_running { "free-running" } else { "lockstep" };
            let evaluated = (rep.sim.cycles - rep.sim.skipped) as f64 / wall / 1e6;
            println!("| {round} | {mode} | {} | {wall:.2} | {evaluated:.2} | {} |", rep.sim.cycles, rep.sim.skipped);
        }
    }
    println!();
    println!("lockstep wall time / free-running wall time, 3 rounds each: {:.3}", wall_lock / wall_free);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(|s| s.as_str()) {
        Some("throughput") | None => throughput(),
        Some("driver") => driver(&args[2..]),
        Some("tso") => tso(),
        Some("send") => send(&args[2..]),
        Some("lookup") => lookup(&args[2..]),
        Some("flows") => flows(&args[2..]),
        Some("determinism") => determinism(),
        Some(x) => {
            eprintln!("bench: unknown mode `{x}`; use `throughput`, `tso`, `determinism`, `send [--mode tso|gso|plain] [--mb N]` `driver [--frames N] [--size S] [--offload on|off]` `lookup [--n N]` or `flows [--queues Q] [--flows F] [--mb M]`");
            std::process::exit(2);
        }
    }
}
