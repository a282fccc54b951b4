//! The driver's queue pairs, RSS and interrupt vectors on the Verilator model
//! (nic-sim: the RTL's 2 queue pairs, its Toeplitz hash and indirection
//! table, one interrupt line per queue pair). Frames built by etherparse
//! reach the NIC from the wire (`SimNic::inject` on an external wire) or from
//! the driver's own transmit (a loopback wire); the RTL hashes and steers
//! them, and each must arrive on the queue the driver's shadow of the table
//! names, with the hash the software computes.
//!
//! A completion with a hash type the ABI does not define cannot come from
//! the RTL (it never writes one); that case is pinned by unit tests of the
//! completion validator and the driver's counters (`driver::cpl`,
//! `driver::tests::a_bad_hash_is_counted_as_a_bad_completion`). The
//! edge-counted (eventfd) interrupt semantics of VFIO's MSI are pinned on the
//! vector fan-out logic alone (`driver::irq`): the model's lines are level.


use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nic_testbench::serial;
use nic_abi::regs::{queue as qreg, rxq};
use nic_abi::rss::{enable, hashtype, KEY_DEFAULT};
use nic_host::dev::sim::SimDevice;
use nic_host::dev::{DevError, Device};
use nic_host::driver::{Error, ShutdownReport, TxError, TxReject};
use nic_host::net::rss::{hash_v4, IPPROTO_UDP};
use nic_host::{Driver, DriverConfig, Mbuf};
use nic_sim::{Sim, SimConfig, SimNic};

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const DST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// A 64-byte UDP/IPv4 frame from SRC:sport to DST:dport, built (checksums included) by etherparse.
fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let b =
        etherparse::PacketBuilder::ethernet2(SRC_MAC, DST_MAC).ipv4(SRC.octets(), DST.octets(), 64).udp(sport, dport);
    let payload = [0x5au8; 22];
    let mut f = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut f, &payload).unwrap();
    assert_eq!(f.len(), 64);
    f
}

/// The UDP source port of a received frame, by etherparse.
fn sport_of(m: &Mbuf) -> u16 {
    match etherparse::SlicedPacket::from_ethernet(m.data()).unwrap().transport {
        Some(etherparse::TransportSlice::Udp(u)) => u.source_port(),
        other => panic!("not UDP: {other:?}"),
    }
}

fn flow(sport: u16, dport: u16) -> (SocketAddr, SocketAddr) {
    (SocketAddr::new(SRC.into(), sport), SocketAddr::new(DST.into(), dport))
}

/// The first `n` source ports whose flows to `dport` the table sends to RX queue `q`.
fn ports_to(d: &Driver, q: u16, dport: u16, n: usize) -> Vec<u16> {
    let rss = d.rss();
    (1u16..).filter(|p| rss.flow_queue(flow(*p, dport).0, flow(*p, dport).1, IPPROTO_UDP) == q).take(n).collect()
}

/// One NIC whose wire ends here (`SimNic::inject`), paced so the RX path keeps up: it drops
/// back-to-back 64-byte frames it cannot take (counted in `rx_drop_err`; docs/PERFORMANCE.md,
/// about 2.4 bytes per cycle at that size), and these tests are about where frames go, not
/// how fast. 40 idle cycles after each 8-cycle frame is 1.3 bytes per cycle.
fn external() -> SimConfig {
    let mut c = SimConfig::external(1);
    c.mac.ifg_cycles = 40;
    c
}

/// One simulated NIC with a driver attached. Fields drop in order: the driver shuts the NIC
/// down while the simulator still runs.
struct Rig {
    d: Arc<Driver>,
    nic: SimNic,
    _sim: Sim,
}

/// Starts a simulation of one NIC on `wire`, its interrupt lines folded into `vectors` vectors.
fn device(wire: SimConfig, vectors: u32) -> (Sim, Arc<dyn Device>) {
    let sim = Sim::start(wire).expect("simulator");
    let dev = SimDevice::new(sim.nic(0), 8 << 20).expect("DMA region").with_vectors(vectors);
    (sim, Arc::new(dev))
}

fn rig(wire: SimConfig, vectors: u32, cfg: DriverConfig) -> Rig {
    let (sim, dev) = device(wire, vectors);
    let d = Driver::attach_with(dev, cfg).expect("attach");
    Rig { d: Arc::new(d), nic: sim.nic(0), _sim: sim }
}

/// Receives on every queue (sleeping on interrupts in between) until `got` holds `n` frames in
/// all or 5 s passed.
fn receive(d: &Driver, got: &mut [Vec<Mbuf>], n: usize) {
    let until = Instant::now() + Duration::from_secs(5);
    while got.iter().map(Vec::len).sum::<usize>() < n && Instant::now() < until {
        for q in d.queues() {
            q.rx_burst(&mut got[q.index() as usize], 64).unwrap();
        }
        d.ack_interrupt().unwrap();
        if got.iter().map(Vec::len).sum::<usize>() < n {
            d.wait(Duration::from_millis(50)).unwrap();
        }
    }
}

/// Injects `frames` from the wire in batches the RX rings hold, receiving each batch before the
/// next (the wire has no flow control: a frame that finds no buffer is dropped, counted).
fn inject_and_receive(r: &Rig, frames: &[Vec<u8>]) -> Vec<Vec<Mbuf>> {
    let mut got: Vec<Vec<Mbuf>> = (0..r.d.num_queues()).map(|_| Vec::new()).collect();
    for (i, batch) in frames.chunks(32).enumerate() {
        for f in batch {
            r.nic.inject(f, false).unwrap();
        }
        receive(&r.d, &mut got, (i * 32 + batch.len()).min(frames.len()));
    }
    got
}

/// Every queue pair the NIC has is attached, each on its own vector; each frame arrives on the
/// queue the driver's shadow of the table names for its hash, with the hash and type the
/// software computes from the same key, and the NIC's per-queue counters agree.
#[test]
fn frames_arrive_on_the_queue_the_shadow_predicts() {
    let _one = serial();
    let r = rig(external(), 8, DriverConfig::default());
    let d = &r.d;
    assert_eq!((d.num_queues(), d.irq_vectors()), (2, 2));
    let rss = d.rss();
    assert!(rss.present);
    assert_eq!(d.read_rss().unwrap(), rss, "the NIC holds what the shadow says");
    let n = 200u16;
    let frames: Vec<Vec<u8>> = (0..n).map(|i| udp(1000 + i, 5001)).collect();
    let got = inject_and_receive(&r, &frames);
    assert_eq!(got.iter().map(Vec::len).sum::<usize>(), n as usize);
    for (q, frames) in got.iter().enumerate() {
        assert!(!frames.is_empty(), "queue {q} got traffic");
        for m in frames {
            let (s, t) = flow(sport_of(m), 5001);
            let (h, ty) = rss.flow(s, t, IPPROTO_UDP);
            assert_eq!((m.pkthdr.flowid, m.pkthdr.rsstype), (h, hashtype::RSS_UDP_IPV4), "the RTL's hash is ours");
            assert_eq!(ty, hashtype::RSS_UDP_IPV4);
            assert_eq!(d.rss_queue(h) as usize, q);
            assert_eq!(rss.flow_queue(s, t, IPPROTO_UDP) as usize, q);
        }
    }
    let per_queue = d.hw_queue_stats().unwrap();
    for (q, (_, rx, drops)) in per_queue.iter().enumerate() {
        assert_eq!((*rx as usize, *drops), (got[q].len(), 0), "NIC's queue {q} counters");
    }
    let stats = d.hw_stats().unwrap();
    assert!(stats.contains(&("rx_drop_err", 0)), "the wire's pace kept every frame: {stats:?}");
    assert_eq!(d.counters().rx_packets, n as u64);
}

/// Key, types and table change at run time; the NIC follows, and so does the shadow.
#[test]
fn rss_changes_reach_the_nic_and_the_shadow() {
    let _one = serial();
    let r = rig(external(), 8, DriverConfig::default());
    let d = &r.d;
    let g0 = d.rss().generation;
    let c = d.set_rss_reta(&[1]).unwrap();
    assert!(c.generation > g0);
    assert_eq!(d.read_rss().unwrap().reta, [1; 128]);
    let frames: Vec<Vec<u8>> = (0..20).map(|i| udp(2000 + i, 80)).collect();
    let got = inject_and_receive(&r, &frames);
    assert_eq!((got[0].len(), got[1].len()), (0, 20), "everything on queue 1");

    let c = d.set_rss_hashtypes(enable::RSS_IPV4).unwrap();
    assert_eq!(c.type_names(), ["ipv4"]);
    let mut key = KEY_DEFAULT;
    key[0] ^= 0xff;
    d.set_rss_key(&key).unwrap();
    d.set_rss_spread(2).unwrap();
    assert_eq!(d.read_rss().unwrap(), d.rss());
    let got = inject_and_receive(&r, &[udp(1, 2)]);
    let m = got.iter().flatten().next().expect("one frame");
    let (s, t) = flow(1, 2);
    assert_eq!(m.pkthdr.rsstype, hashtype::RSS_IPV4, "UDP off: the 2-tuple");
    assert_eq!(m.pkthdr.flowid, hash_v4(&key, SRC, DST, None), "the new key");
    assert_eq!(d.rss().flow_queue(s, t, IPPROTO_UDP) as usize, got.iter().position(|v| !v.is_empty()).unwrap());

    // Refusals say what is allowed.
    let e = d.set_rss_reta(&[0, 2]).unwrap_err();
    assert!(e.to_string().contains("queues 0..=1"), "{e}");
    let e = d.set_rss_hashtypes(1 << 5).unwrap_err();
    assert!(e.to_string().contains("tcp4"), "{e}");
    assert!(d.set_rss_reta(&[]).is_err());
    assert!(d.set_rss_spread(3).is_err());
}

/// Fewer queues than the NIC has: the table only names those, in the shadow and in the NIC,
/// whose unused queue sees no frame at all. Zero queues is refused before the NIC is touched.
#[test]
fn config_may_ask_for_fewer_queues() {
    let _one = serial();
    let (sim, dev) = device(external(), 8);
    let e = Driver::attach_with(dev.clone(), DriverConfig { queues: Some(0), ..Default::default() }).unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
    let d = Driver::attach_with(dev.clone(), DriverConfig { queues: Some(1), ..Default::default() }).expect("attach");
    let r = Rig { d: Arc::new(d), nic: sim.nic(0), _sim: sim };
    let d = &r.d;
    assert_eq!(d.num_queues(), 1);
    assert!(d.rss().reta.iter().all(|&e| e == 0));
    assert!(d.read_rss().unwrap().reta.iter().all(|&e| e == 0));
    assert_eq!(d.queue(7).index(), 0, "a queue not in use means queue 0");
    assert!(d.set_rss_reta(&[1]).is_err());
    let frames: Vec<Vec<u8>> = (0..50).map(|i| udp(3000 + i, 80)).collect();
    let got = inject_and_receive(&r, &frames);
    assert_eq!(got[0].len(), 50);
    let q1 = (dev.read32(rxq(1) + qreg::PACKETS).unwrap(), dev.read32(rxq(1) + qreg::DROPS).unwrap());
    assert_eq!(q1, (0, 0), "the NIC's queue 1 neither received nor dropped");
}

/// Polls queue `q` until one frame arrived (5 s at most).
fn rx_one(d: &Driver, q: u16) -> Vec<Mbuf> {
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while got.is_empty() && Instant::now() < until {
        d.queue(q).rx_burst(&mut got, 8).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    got
}

/// One worker thread per queue, all at once, each sending flows that the NIC steers back to
/// its own queue and waiting on its own vector: everything arrives where it should. With one
/// vector for both queues (the lines folded, as on a one-MSI board), every worker still wakes.
#[test]
fn workers_drive_their_queues_in_parallel() {
    let _one = serial();
    for vectors in [8, 1] {
        let r = rig(SimConfig::loopback(), vectors, DriverConfig::default());
        let d = r.d.clone();
        assert_eq!(d.irq_vectors(), vectors.min(2));
        let per = 300usize;
        // Frames on the way back to a queue stay within its 64 RX buffers: the loopback wire
        // drops what finds no buffer, as a real one would.
        let window = 48;
        let workers: Vec<_> = (0..d.num_queues())
            .map(|q| {
                let d = d.clone();
                let ports = ports_to(&d, q, 9, per);
                std::thread::spawn(move || {
                    let qh = d.queue(q);
                    let mut got = Vec::new();
                    let mut sent = 0;
                    let until = Instant::now() + Duration::from_secs(30);
                    while got.len() < per && Instant::now() < until {
                        while sent < per && sent - got.len() < window {
                            match qh.tx(Mbuf::from_frame(&udp(ports[sent], 9))) {
                                Ok(()) => sent += 1,
                                Err(e) if e.reason == TxReject::RingFull => break,
                                Err(e) => panic!("{e}"),
                            }
                        }
                        qh.tx_flush().unwrap();
                        qh.wait(Duration::from_millis(50)).unwrap();
                        qh.poll(&mut got, 64).unwrap();
                    }
                    (q, got)
                })
            })
            .collect();
        for w in workers {
            let (q, got) = w.join().unwrap();
            assert_eq!(got.len(), per, "queue {q} with {vectors} vector(s)");
            assert!(got.iter().all(|m| d.rss_queue(m.pkthdr.flowid) == q));
        }
        d.tx_reclaim().unwrap();
        let c = d.counters();
        assert_eq!((c.rx_packets, c.tx_packets), (per as u64 * 2, per as u64 * 2));
        assert!(d.hw_queue_stats().unwrap().iter().all(|s| s.2 == 0), "no frame found its queue without a buffer");

        // A worker asleep on its queue is woken by its own queue's interrupt, whichever
        // thread sends (here on the other queue's TX ring).
        for q in 0..d.num_queues() {
            let port = ports_to(&d, q, 9, 1)[0];
            let other = d.queue((q + 1) % 2);
            let before = d.queue(q).counters().irq_wakeups;
            let waiter = {
                let d = d.clone();
                std::thread::spawn(move || d.queue(q).wait(Duration::from_secs(20)).unwrap())
            };
            std::thread::sleep(Duration::from_millis(50));
            other.tx(Mbuf::from_frame(&udp(port, 9))).unwrap();
            other.tx_flush().unwrap();
            assert!(waiter.join().unwrap(), "queue {q} woke with work");
            assert_eq!(d.queue(q).counters().irq_wakeups, before + 1, "queue {q}, {vectors} vector(s)");
            // With one vector the wake may be the other queue's TX completion: the frame follows.
            assert_eq!(rx_one(&d, q).len(), 1, "queue {q} received it");
            d.tx_reclaim().unwrap();
            d.ack_interrupt().unwrap();
        }
    }
}

/// Shutdown through a shared reference waits for callers inside a queue, frees every ring
/// once the NIC is reset, and later calls are refused, not crashes.
#[test]
fn shutdown_frees_every_queue_and_refuses_later_calls() {
    let _one = serial();
    let r = rig(SimConfig::loopback(), 8, DriverConfig::default());
    let d = r.d.clone();
    let region = d.device().dma().clone();
    assert!(region.free_bytes() < region.size());
    let busy = {
        let d = d.clone();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut refused = 0;
            for i in 0..100_000u32 {
                let q = d.queue((i % 2) as u16);
                if let Err(TxError { reason: TxReject::Detached, .. }) = q.tx(Mbuf::from_frame(&udp(i as u16, 7))) {
                    refused += 1;
                    break;
                }
                let _ = q.tx_flush();
                if matches!(q.poll(&mut out, 16), Err(Error::Detached)) {
                    refused += 1;
                    break;
                }
                out.clear();
            }
            refused
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let rep = d.shutdown().unwrap();
    assert!(rep.tx_unconfirmed <= 2 * 64);
    assert_eq!(busy.join().unwrap(), 1, "the sender was told, once");
    assert_eq!(region.free_bytes(), region.size(), "every ring and buffer back in the region");
    assert!(matches!(d.queue(1).rx_burst(&mut Vec::new(), 1), Err(Error::Detached)));
    assert!(matches!(d.set_rss_spread(1), Err(Error::Detached)));
    assert!(d.set_capenable(0).is_err(), "no configuration change after detach");
    assert_eq!(d.shutdown().unwrap(), ShutdownReport::default(), "a second shutdown does nothing");
}

/// The one-thread calls (`wait`, `poll`) cover every queue, with a vector per queue or one for
/// both, with interrupts or polling. The frames come from the wire, so what wakes the wait is
/// the receive on the queue under test, not a transmit completion.
#[test]
fn the_one_thread_wait_sees_every_queue() {
    let _one = serial();
    for (vectors, use_irq) in [(8, true), (1, true), (1, false)] {
        let r = rig(external(), vectors, DriverConfig { use_irq, ..Default::default() });
        let d = r.d.clone();
        assert_eq!((d.irq_vectors(), d.uses_interrupts()), (vectors.min(2), use_irq));
        for q in 0..d.num_queues() {
            let port = ports_to(&d, q, 9, 1)[0];
            let waiter = {
                let d = d.clone();
                std::thread::spawn(move || d.wait(Duration::from_secs(20)).unwrap())
            };
            std::thread::sleep(Duration::from_millis(50));
            r.nic.inject(&udp(port, 9), false).unwrap();
            assert!(waiter.join().unwrap(), "{vectors} vector(s), irq {use_irq}: woke for queue {q}");
            let mut got = Vec::new();
            assert_eq!(d.poll(&mut got, 8).unwrap().rx, 1, "the completion was there when the wait returned");
            assert_eq!(d.rss_queue(got[0].pkthdr.flowid), q);
        }
        // The folded lines are the backend's only vectors.
        let n = d.device().irq_vectors();
        assert_eq!(d.device().wait_irq_vector(n, Duration::ZERO), Err(DevError::NoVector { vector: n, vectors: n }));
    }
}
