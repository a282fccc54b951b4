//! The stack on several queue pairs: detaching an interface under load from
//! many workers and senders, on two Verilator NICs joined by a cable, stops
//! every worker, frees every ring and lets no thread hang or touch the
//! departed interface.
//!
//! A library test rather than an integration test: it looks inside an
//! interface (its transmit queues, who still holds it), which the public API
//! does not show. The tests that need only the public API (queue placement,
//! order under RSS changes) are `tests/stack_queues.rs`, on the test bench's
//! cable pair.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::time::{Duration, Instant};

use nic_abi::regs::ctrl;
use nic_sim::{Sim, SimConfig, SimNic};

use super::socket::SockOpts;
use super::iface::{IfAddrs, Iface};
use crate::sync::{lock, lock_read};
use super::vnet::{Stack, StackConfig};
use crate::dev::sim::{test_serial, SimDevice};
use crate::dev::{Device, DeviceExt, DmaRegion};
use crate::driver::{Driver, DriverConfig};

const A: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

fn addrs(a: Ipv4Addr) -> IfAddrs {
    IfAddrs { v4: Some((a, 24)), ..Default::default() }
}

/// A driver on `nic` with `2^tx_ring_log2`-slot TX rings, its interrupt lines folded into
/// `vectors` vectors; and its DMA region, to see every ring come back.
fn driver_on(nic: SimNic, mac: u8, tx_ring_log2: u32, vectors: u32) -> (Driver, Arc<DmaRegion>) {
    let dev = SimDevice::new(nic, 8 << 20).expect("DMA region").with_vectors(vectors);
    let region = dev.dma().clone();
    let cfg = DriverConfig { tx_ring_log2, rx_ring_log2: 6, lladdr: [2, 0, 0, 0, 0, mac], ..Default::default() };
    (Driver::attach_with(Arc::new(dev), cfg).expect("attach"), region)
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Accepts connections on `port` of `s` for ever, each read to its end on its own thread,
/// its bytes sent back on `got`.
fn sink(s: &Stack, port: u16, got: mpsc::Sender<Vec<u8>>) {
    let l = s.tcp_listen(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port), 64, SockOpts::default()).unwrap();
    std::thread::spawn(move || {
        while let Ok(mut c) = l.accept() {
            let got = got.clone();
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = c.read_to_end(&mut v);
                let _ = got.send(v);
            });
        }
    });
}

/// The interface's `Iface`, weakly, to see that nothing keeps a departed one alive.
fn iface_weak(s: &Stack, index: u16) -> Weak<Iface> {
    let ifaces = lock_read(&s.inner.ifaces);
    Arc::downgrade(ifaces[index as usize - 1].as_ref().unwrap())
}

/// Frames waiting in interface `i`'s transmit queues.
fn queued(s: &Stack, i: u16) -> usize {
    let ifaces = lock_read(&s.inner.ifaces);
    ifaces[i as usize - 1].as_ref().map_or(0, |f| f.snd.iter().map(|q| lock(q).frames.len()).sum())
}

/// Attach, load every queue from several sender threads, detach, round after round: every
/// detach returns, every worker has stopped (nothing holds the interface afterwards), every
/// ring's memory is back, the senders end with errors rather than hang, and the stack forgets
/// every connection of the departed interface. With a vector per queue and with one vector
/// shared by both queues (the NIC's lines folded, as a one-MSI board has them).
///
/// Every third round the sender's NIC stalls: its datapath is switched off behind the
/// driver's back (CTRL_ENABLE cleared through the simulator's register port), so the RTL
/// fetches no more TX descriptors, the 4-slot rings stay full and frames wait behind them;
/// detach must count both: the rings' packets as unconfirmed, the frames as purged.
#[test]
fn attach_and_detach_under_multi_worker_load() {
    let _one = test_serial();
    let sa = Stack::new(StackConfig::default());
    let sb = Stack::new(StackConfig::default());
    let (tx, _rx) = mpsc::channel();
    sink(&sa, 7002, tx);
    let mut purged = 0;
    for round in 0..12u32 {
        let sim = Sim::start(SimConfig::cable()).expect("simulator");
        let vectors = if round % 2 == 0 { 8 } else { 1 };
        let stuck = round % 3 == 2;
        let (da, region_a) = driver_on(sim.nic(0), 1, 6, vectors);
        // Rounds whose NIC stalls give the sender 4-slot rings, so what TCP has in flight
        // overflows them into the transmit queues.
        let (db, region_b) = driver_on(sim.nic(1), 2, if stuck { 2 } else { 6 }, vectors);
        let nqueues = db.num_queues() as usize;
        let ia = sa.attach(da, addrs(A)).unwrap();
        let ib = sb.attach(db, addrs(B)).unwrap();
        let (wa, wb) = (iface_weak(&sa, ia), iface_weak(&sb, ib));
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = mpsc::channel();
        for i in 0..6 {
            let (sb, stop, done_tx) = (sb.clone(), stop.clone(), done_tx.clone());
            std::thread::spawn(move || {
                let data = pattern(64 << 10, i);
                while !stop.load(Ordering::SeqCst) {
                    let Ok(mut c) = sb.tcp_connect(SocketAddr::new(A.into(), 7002), SockOpts::default()) else {
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    };
                    while c.write_all(&data).is_ok() && !stop.load(Ordering::SeqCst) {}
                    let _ = c.shutdown(Shutdown::Write);
                }
                let _ = done_tx.send(());
            });
        }
        std::thread::sleep(Duration::from_millis(150 + 50 * (round as u64 % 5)));
        let mut stalled_in_rings = 0;
        if stuck {
            // The sender's NIC stalls. Once it is idle nothing it fetched is left in flight, so
            // each ring keeps what it holds (its 4 slots, filled as far as the next packet fits),
            // and frames queue behind them (TCP's own if it has any in flight; 100 more per
            // queue, so the count does not depend on it).
            let dev = sb.with_driver(ib, |d| d.device().clone()).unwrap();
            dev.clear_bits(ctrl::CTRL, ctrl::CTRL_ENABLE).unwrap();
            dev.wait_set(ctrl::STATUS, ctrl::STATUS_IDLE, Duration::from_secs(5)).unwrap();
            let iface = iface_weak(&sb, ib).upgrade().unwrap();
            for q in 0..nqueues as u16 {
                let frames = (0..100).map(|_| crate::mbuf::Mbuf::from_frame(&[0xffu8; 60])).collect();
                sb.enqueue_on(&iface, q, frames);
            }
            drop(iface);
            assert!(queued(&sb, ib) >= nqueues * (100 - 4), "round {round}: frames wait behind the stalled rings");
            // Full, or nearly: a TSO burst at the head of a queue may need more slots than are left.
            stalled_in_rings = sb.with_driver(ib, |d| d.tx_in_flight()).unwrap();
            assert!(stalled_in_rings >= nqueues, "round {round}: every ring holds packets ({stalled_in_rings})");
        }
        // The premise: data crossed (more than the handshakes and ARP) before the detach.
        let a_rx = sa.with_driver(ia, |d| d.counters().rx_packets).unwrap();
        assert!(a_rx >= 20, "round {round}: only {a_rx} frames reached A before the detach");
        // Detach the sending side first on odd rounds, the receiving side on even ones.
        let (first, second) = if round % 2 == 1 { ((&sb, ib), (&sa, ia)) } else { ((&sa, ia), (&sb, ib)) };
        let t = Instant::now();
        let r1 = first.0.detach(first.1).unwrap();
        stop.store(true, Ordering::SeqCst);
        let r2 = second.0.detach(second.1).unwrap();
        purged += r1.frames_purged + r2.frames_purged;
        if stuck {
            let b = if round % 2 == 1 { r1 } else { r2 };
            assert_eq!(
                b.tx_unconfirmed, stalled_in_rings,
                "round {round}: the stalled rings' packets were counted: {b:?}"
            );
            assert!(
                b.frames_purged >= nqueues * (100 - 4),
                "round {round}: the frames behind them were freed, counted: {b:?}"
            );
        }
        for _ in 0..6 {
            done_rx.recv_timeout(Duration::from_secs(20)).expect("a sender hung after detach");
        }
        assert!(t.elapsed() < Duration::from_secs(20));
        for (name, region) in [("A", &region_a), ("B", &region_b)] {
            assert_eq!(region.free_bytes(), region.size(), "round {round}: {name}'s rings all freed");
        }
        // Workers joined, senders done: nothing may hold a departed interface any more.
        let until = Instant::now() + Duration::from_secs(5);
        while (wa.strong_count() > 0 || wb.strong_count() > 0) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!((wa.strong_count(), wb.strong_count()), (0, 0), "round {round}: an interface outlived detach");
        assert!(sb.connections().iter().all(|r| r.state == "LISTEN"), "round {round}: B forgot every connection");
        assert!(sa.connections().iter().all(|r| r.state == "LISTEN"), "round {round}: A forgot every connection");
        assert!(sa.interfaces().is_empty() && sb.interfaces().is_empty());
        drop(sim);
    }
    let counted = sa.counters().purged.load(Ordering::Relaxed) + sb.counters().purged.load(Ordering::Relaxed);
    assert!(counted >= purged as u64, "every purged frame counted");
}
