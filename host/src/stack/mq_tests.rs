//! The stack on several queue pairs: two stacks on two Verilator NICs joined
//! by a cable (nic-sim), every frame through the RTL's RSS, queues and
//! interrupt lines. Pins that a connection's transmit and receive share a
//! queue pair, that an RSS change at run time keeps each connection's frames
//! in order on the wire, and that detaching an interface under load from many
//! workers and senders stops every worker, frees every ring and lets no thread
//! hang or touch the departed interface.
//!
//! Library tests rather than integration tests: they look inside an interface
//! (its transmit queues, who still holds it), which the public API does not show.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::time::{Duration, Instant};

use nic_abi::regs::ctrl;
use nic_sim::{Cable, PcapTap, Sim, SimConfig, SimNic};

use super::socket::SockOpts;
use super::iface::{IfAddrs, Iface};
use crate::sync::{lock, lock_read};
use super::vnet::{Stack, StackConfig};
use crate::dev::sim::{test_serial, SimDevice};
use crate::dev::{Device, DeviceExt, DmaRegion};
use crate::driver::{Driver, DriverConfig};

const A: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
/// The interface index of each stack's one NIC.
const IF: u16 = 1;

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

/// Two stacks on NIC 0 and NIC 1 of one simulation joined by a cable (recorded to `pcap` if
/// given), each driver with 256-slot rings as a stack's are sized (the test bench's `CablePair`,
/// which works on the public API; these tests look inside the stack).
struct Pair {
    a: Stack,
    b: Stack,
    // Last: the clock thread outlives the drivers.
    _sim: Sim,
}

impl Pair {
    fn start(pcap: Option<std::path::PathBuf>, cfg: StackConfig) -> Pair {
        let sim = match pcap {
            Some(p) => Sim::start(SimConfig::new(PcapTap::create(p, Cable::new()).expect("pcap"))),
            None => Sim::start(SimConfig::cable()),
        }
        .expect("simulator");
        let (a, b) = (Stack::new(cfg.clone()), Stack::new(cfg));
        for (i, (s, ip)) in [(&a, A), (&b, B)].into_iter().enumerate() {
            let dev = SimDevice::new(sim.nic(i), 48 << 20).expect("DMA region");
            let dcfg = DriverConfig { tx_ring_log2: 8, rx_ring_log2: 8, lladdr: [2, 0, 0, 0, 0, i as u8 + 1], ..Default::default() };
            s.attach(Driver::attach_with(Arc::new(dev), dcfg).expect("attach"), addrs(ip)).unwrap();
        }
        Pair { a, b, _sim: sim }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = (self.a.detach(IF), self.b.detach(IF));
    }
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

/// Per queue of interface `i`: the driver's (tx_enqueued, rx_packets) and the NIC's own
/// (TX packets sent, RX frames delivered) from its per-queue registers.
fn queue_counts(s: &Stack, i: u16) -> Vec<(u64, u64, u32, u32)> {
    s.with_driver(i, |d| {
        let hw = d.hw_queue_stats().unwrap();
        d.queues()
            .zip(hw)
            .map(|(q, (htx, hrx, _))| (q.counters().tx_enqueued, q.counters().rx_packets, htx, hrx))
            .collect()
    })
    .unwrap()
}

/// A connection's data goes out on the TX queue of the queue pair its packets arrive on, on
/// both ends, and nowhere else: by the driver's counters and by the NIC's.
#[test]
fn a_connection_transmits_on_the_queue_it_receives_on() {
    let _one = test_serial();
    let p = Pair::start(None, StackConfig::for_simulator());
    let (sa, sb) = (&p.a, &p.b);
    let (tx, rx) = mpsc::channel();
    sink(sa, 7000, tx);
    for round in 0..6u8 {
        let mut c = sb.tcp_connect(SocketAddr::new(A.into(), 7000), SockOpts::default()).unwrap();
        let (local, remote) = (c.local_addr(), c.peer_addr());
        // The queue each end's NIC steers the connection's packets to.
        let qb = sb.with_driver(IF, |d| d.rss().flow_queue(remote, local, 6)).unwrap();
        let qa = sa.with_driver(IF, |d| d.rss().flow_queue(local, remote, 6)).unwrap();
        // Let the handshake's last ACK land before counting.
        std::thread::sleep(Duration::from_millis(20));
        let (a0, b0) = (queue_counts(sa, IF), queue_counts(sb, IF));
        let data = pattern(200_000, round);
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), data);
        c.wait_closed(Duration::from_secs(10)).unwrap();
        let (a1, b1) = (queue_counts(sa, IF), queue_counts(sb, IF));
        for (name, q_own, before, after) in [("B", qb, &b0, &b1), ("A", qa, &a0, &a1)] {
            for (q, (x0, x1)) in before.iter().zip(after).enumerate() {
                let d = (x1.0 - x0.0, x1.1 - x0.1, x1.2.wrapping_sub(x0.2), x1.3.wrapping_sub(x0.3));
                if q == q_own as usize {
                    assert!(
                        d.0 > 0 && d.1 > 0 && d.2 > 0 && d.3 > 0,
                        "round {round}: {name}'s queue {q} carried the connection (driver tx, rx; NIC tx, rx: {d:?})"
                    );
                } else {
                    assert_eq!(d, (0, 0, 0, 0), "round {round}: {name}'s queue {q} is not the connection's ({q_own})");
                }
            }
        }
    }
}

/// TCP segments from source port `sport` in a capture, in wire order: (sequence number,
/// sequence space used). Parsed by etherparse, not by the stack under test.
fn segments(frames: &[Vec<u8>], sport: u16) -> Vec<(u32, u32)> {
    use etherparse::{SlicedPacket, TransportSlice};
    let mut v = Vec::new();
    for f in frames {
        let Ok(p) = SlicedPacket::from_ethernet(f) else { continue };
        let Some(TransportSlice::Tcp(t)) = p.transport else { continue };
        if t.source_port() != sport {
            continue;
        }
        let len = t.payload().len() as u32 + (t.syn() as u32) + (t.fin() as u32);
        v.push((t.sequence_number(), len));
    }
    v
}

/// How many of `segs` (one flow's segments in wire order) were overtaken: they start below
/// the highest sequence already on the wire, and carry sequence space below it that was not
/// on the wire before. A retransmission (space seen before, however a TSO burst cut it) is
/// not overtaken, nor is a segment for what lies beyond the highest.
fn overtaken(segs: &[(u32, u32)]) -> usize {
    let Some(&(isn, _)) = segs.first() else { return 0 };
    // Sequence space seen so far, relative to the first segment's: disjoint, sorted ranges.
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let mut high = 0u64;
    let mut n = 0;
    for &(seq, len) in segs.iter().filter(|s| s.1 > 0) {
        let start = seq.wrapping_sub(isn) as u64;
        let end = start + len as u64;
        if start < high && !seen.iter().any(|&(a, b)| a <= start && end.min(high) <= b) {
            n += 1;
        }
        seen.push((start, end));
        seen.sort_unstable();
        seen = seen.into_iter().fold(Vec::new(), |mut v: Vec<(u64, u64)>, (a, b)| {
            match v.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => v.push((a, b)),
            }
            v
        });
        high = high.max(end);
    }
    n
}

/// Every frame of a capture file, in wire order.
fn read_pcap(path: &std::path::Path) -> Vec<Vec<u8>> {
    let mut r = pcap_file::pcap::PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        v.push(p.unwrap().data.into_owned());
    }
    v
}

/// The indirection table changes under running transfers: connections follow the new table
/// (counted), and each one's frames still reach the wire in the order it sent them: no
/// segment is overtaken (only retransmissions go back). The wire is the cable's capture (the
/// simulator's pcap tap), in the order the frames crossed it, after the NIC's segmentation.
#[test]
fn rss_changes_at_run_time_keep_each_connection_in_order() {
    let _one = test_serial();
    let pcap = std::env::temp_dir().join(format!("nic-host-rss-order-{}.pcap", std::process::id()));
    // Moves under load drain in some hundreds of milliseconds of wall time on the model (on a
    // board, a fraction of one); the default bound would take a slow model for a stalled one.
    let cfg = StackConfig::for_simulator();
    let p = Pair::start(Some(pcap.clone()), cfg);
    let (tx, rx) = mpsc::channel();
    sink(&p.a, 7001, tx);
    let n = 4;
    let size = 1 << 20;
    let finished = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..n)
        .map(|i| {
            let (sb, finished) = (p.b.clone(), finished.clone());
            std::thread::spawn(move || {
                let mut c = sb.tcp_connect(SocketAddr::new(A.into(), 7001), SockOpts::default()).unwrap();
                let data = pattern(size, i as u8);
                for chunk in data.chunks(16 << 10) {
                    c.write_all(chunk).unwrap();
                }
                c.shutdown(Shutdown::Write).unwrap();
                c.wait_closed(Duration::from_secs(30)).unwrap();
                finished.fetch_add(1, Ordering::SeqCst);
                (c.local_addr().port(), c.info().stats.rexmit_segs)
            })
        })
        .collect();
    // Swap the two queues' table entries while they run, until they are done.
    let moves0 = p.b.counters().txq_moves.load(Ordering::Relaxed);
    let mut changes = 0u32;
    let until = Instant::now() + Duration::from_secs(60);
    while finished.load(Ordering::SeqCst) < n && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
        let k = (changes % 2) as u8;
        p.b.with_driver(IF, |d| d.set_rss_reta(&[k, 1 - k])).unwrap().unwrap();
        changes += 1;
    }
    let done: Vec<(u16, u64)> = senders.into_iter().map(|h| h.join().unwrap()).collect();
    let mut got: Vec<Vec<u8>> = (0..n).map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap()).collect();
    got.sort_by_key(|v| v[0]);
    let mut want: Vec<Vec<u8>> = (0..n).map(|i| pattern(size, i as u8)).collect();
    want.sort_by_key(|v| v[0]);
    assert!(got == want, "every byte arrived");
    assert!(changes >= 10, "the table changed during the transfers ({changes} times)");
    assert!(p.b.counters().txq_moves.load(Ordering::Relaxed) > moves0, "connections moved queues");
    assert_eq!(p.b.counters().txq_move_timeouts.load(Ordering::Relaxed), 0);
    // Detached and stopped: the capture is complete on disk.
    drop(p);
    let wire = read_pcap(&pcap);
    let _ = std::fs::remove_file(&pcap);
    for (port, rexmits) in done {
        let segs = segments(&wire, port);
        assert!(segs.len() > (size / 9000), "port {port}: the wire log holds the transfer ({} segments)", segs.len());
        let n = overtaken(&segs);
        assert_eq!(n, 0, "port {port}: {n} segments overtaken on the wire ({rexmits} retransmissions)");
    }
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
