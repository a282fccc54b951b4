//! The stack on several queue pairs, two stacks on a cable of software NIC
//! models (dev::softnic): no Verilator, no root. Pins that a connection's
//! transmit and receive share a queue pair, that an RSS change at run time
//! keeps each connection's frames in order on the wire, and that detaching an
//! interface under load from many workers and senders stops every worker,
//! frees every ring and lets no thread hang or touch the departed interface.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::time::{Duration, Instant};

use super::socket::SockOpts;
use super::{lock_read, IfAddrs, Iface, Stack, StackConfig};
use crate::dev::softnic::{SoftConfig, SoftNic};
use crate::dev::Device;
use crate::driver::{Driver, DriverConfig};

const A: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

fn addrs(a: Ipv4Addr) -> IfAddrs {
    IfAddrs { v4: Some((a, 24)), ..Default::default() }
}

fn driver(nic: &SoftNic, mac: u8) -> Driver {
    driver_with(nic, mac, 6)
}

fn driver_with(nic: &SoftNic, mac: u8, tx_ring_log2: u32) -> Driver {
    let cfg = DriverConfig { tx_ring_log2, rx_ring_log2: 6, lladdr: [2, 0, 0, 0, 0, mac], ..Default::default() };
    Driver::attach_with(Arc::new(nic.clone()), cfg).expect("attach")
}

/// Two stacks, one interface each, on a cable of models with `cfg`.
fn pair(cfg: SoftConfig) -> (Stack, u16, SoftNic, Stack, u16, SoftNic) {
    let (na, nb) = SoftNic::cable(cfg);
    let (sa, sb) = (Stack::new(StackConfig::default()), Stack::new(StackConfig::default()));
    let ia = sa.attach(driver(&na, 1), addrs(A)).unwrap();
    let ib = sb.attach(driver(&nb, 2), addrs(B)).unwrap();
    (sa, ia, na, sb, ib, nb)
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

/// Per-queue (tx_enqueued, rx_packets) of interface `i`.
fn queue_counts(s: &Stack, i: u16) -> Vec<(u64, u64)> {
    s.with_driver(i, |d| d.queues().map(|q| q.counters()).map(|c| (c.tx_enqueued, c.rx_packets)).collect()).unwrap()
}

/// A connection's data goes out on the TX queue of the queue pair its packets arrive on, on
/// both ends, and nowhere else.
#[test]
fn a_connection_transmits_on_the_queue_it_receives_on() {
    let (sa, ia, _na, sb, ib, _nb) = pair(SoftConfig::default());
    let (tx, rx) = mpsc::channel();
    sink(&sa, 7000, tx);
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..6u8 {
        let mut c = sb.tcp_connect(SocketAddr::new(A.into(), 7000), SockOpts::default()).unwrap();
        let (local, remote) = (c.local_addr(), c.peer_addr());
        // The queue each end's NIC steers the connection's packets to.
        let qb = sb.with_driver(ib, |d| d.rss().flow_queue(remote, local, 6)).unwrap();
        let qa = sa.with_driver(ia, |d| d.rss().flow_queue(local, remote, 6)).unwrap();
        seen.insert(qb);
        // Let the handshake's last ACK land before counting.
        std::thread::sleep(Duration::from_millis(20));
        let (a0, b0) = (queue_counts(&sa, ia), queue_counts(&sb, ib));
        let data = pattern(200_000, round);
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), data);
        c.wait_closed(Duration::from_secs(10)).unwrap();
        let (a1, b1) = (queue_counts(&sa, ia), queue_counts(&sb, ib));
        for (name, q_own, before, after) in [("B", qb, &b0, &b1), ("A", qa, &a0, &a1)] {
            for (q, ((t0, r0), (t1, r1))) in before.iter().zip(after).enumerate() {
                let (dt, dr) = (t1 - t0, r1 - r0);
                if q == q_own as usize {
                    assert!(dt > 0 && dr > 0, "round {round}: {name}'s queue {q} carried the connection ({dt} tx, {dr} rx)");
                } else {
                    assert_eq!((dt, dr), (0, 0), "round {round}: {name}'s queue {q} is not the connection's ({q_own})");
                }
            }
        }
    }
    let _ = seen; // which queues the ephemeral ports landed on is up to the hash
}

/// TCP segments of one flow on the wire, in wire order: (sequence number, sequence space used).
fn segments(frames: &[Vec<u8>], sport: u16) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for f in frames {
        if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
            continue;
        }
        let ihl = (f[14] & 0xf) as usize * 4;
        let tot = u16::from_be_bytes([f[16], f[17]]) as usize;
        let t = 14 + ihl;
        if u16::from_be_bytes([f[t], f[t + 1]]) != sport {
            continue;
        }
        let seq = u32::from_be_bytes([f[t + 4], f[t + 5], f[t + 6], f[t + 7]]);
        let doff = (f[t + 12] >> 4) as usize * 4;
        let flags = f[t + 13];
        let len = (tot - ihl - doff) as u32 + (flags & 0x3 != 0) as u32;
        v.push((seq, len));
    }
    v
}

/// The indirection table changes under running transfers: connections follow the new table
/// (counted), and each one's frames still reach the wire in the order it sent them.
#[test]
fn rss_changes_at_run_time_keep_each_connection_in_order() {
    let (sa, _ia, _na, sb, ib, nb) = pair(SoftConfig::default());
    nb.record();
    let (tx, rx) = mpsc::channel();
    sink(&sa, 7001, tx);
    let n = 4;
    let size = 1 << 20;
    let senders: Vec<_> = (0..n)
        .map(|i| {
            let sb = sb.clone();
            std::thread::spawn(move || {
                let mut c = sb.tcp_connect(SocketAddr::new(A.into(), 7001), SockOpts::default()).unwrap();
                let data = pattern(size, i as u8);
                for chunk in data.chunks(16 << 10) {
                    c.write_all(chunk).unwrap();
                }
                c.shutdown(Shutdown::Write).unwrap();
                c.wait_closed(Duration::from_secs(20)).unwrap();
                (c.local_addr().port(), c.info().stats.rexmit_segs)
            })
        })
        .collect();
    // Rotate the table while they run.
    let moves0 = sb.counters().txq_moves.load(Ordering::Relaxed);
    for k in 0..20u8 {
        std::thread::sleep(Duration::from_millis(5));
        let table: Vec<u8> = (0..4).map(|j| (j + k) % 4).collect();
        sb.with_driver(ib, |d| d.set_rss_reta(&table)).unwrap().unwrap();
    }
    let done: Vec<(u16, u64)> = senders.into_iter().map(|h| h.join().unwrap()).collect();
    let mut got: Vec<Vec<u8>> = (0..n).map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap()).collect();
    got.sort_by_key(|v| v[0]);
    let mut want: Vec<Vec<u8>> = (0..n).map(|i| pattern(size, i as u8)).collect();
    want.sort_by_key(|v| v[0]);
    assert!(got == want, "every byte arrived");
    assert!(sb.counters().txq_moves.load(Ordering::Relaxed) > moves0, "connections moved queues");
    assert_eq!(sb.counters().txq_move_timeouts.load(Ordering::Relaxed), 0);
    let wire = nb.recorded();
    for (port, rexmits) in done {
        // A segment starting below the highest sequence already sent is one overtaken (or
        // sent again: only retransmissions may do that).
        let mut high: Option<u32> = None;
        let mut behind = 0u64;
        let segs = segments(&wire, port);
        assert!(segs.len() > (size / 9000), "port {port}: the wire log holds the transfer ({} segments)", segs.len());
        for (seq, len) in segs {
            if let Some(h) = high {
                if len > 0 && (seq.wrapping_sub(h) as i32) < 0 {
                    behind += 1;
                }
            }
            let end = seq.wrapping_add(len);
            if high.is_none_or(|h| (end.wrapping_sub(h) as i32) > 0) {
                high = Some(end);
            }
        }
        assert!(behind <= rexmits, "port {port}: {behind} segments behind on the wire, {rexmits} retransmitted");
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
    ifaces[i as usize - 1].as_ref().map_or(0, |f| f.snd.iter().map(|q| super::lock(q).frames.len()).sum())
}

/// Attach, load every queue from several sender threads, detach, many times: every detach
/// returns, every worker has stopped (nothing holds the interface afterwards), every ring's
/// memory is back, the senders end with errors rather than hang, and the stack forgets every
/// connection of the departed interface. With per-queue and with shared interrupt vectors.
#[test]
fn attach_and_detach_under_multi_worker_load() {
    let sa = Stack::new(StackConfig::default());
    let sb = Stack::new(StackConfig::default());
    let (tx, _rx) = mpsc::channel();
    sink(&sa, 7002, tx);
    let mut purged = 0;
    for round in 0..12u32 {
        let cfg = SoftConfig { vectors: [8, 1, 2][round as usize % 3], edge: round % 2 == 1, ..Default::default() };
        let (na, nb) = SoftNic::cable(cfg);
        let stuck = round % 3 == 2;
        let ia = sa.attach(driver(&na, 1), addrs(A)).unwrap();
        // Rounds whose link sticks give the sender 4-slot rings, so what TCP has in flight
        // overflows them into the transmit queues.
        let ib = sb.attach(driver_with(&nb, 2, if stuck { 2 } else { 6 }), addrs(B)).unwrap();
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
        std::thread::sleep(Duration::from_millis(10 + 7 * (round as u64 % 5)));
        if stuck {
            // The sender's link sticks: its rings fill, and frames wait behind them (TCP's own
            // if it has any in flight; 100 more per queue, so the count does not depend on it).
            nb.pause_tx(true);
            let iface = iface_weak(&sb, ib).upgrade().unwrap();
            for q in 0..iface.snd.len() as u16 {
                let frames = (0..100).map(|_| crate::mbuf::Mbuf::from_frame(&[0xffu8; 60])).collect();
                sb.enqueue_on(&iface, q, frames);
            }
            assert!(queued(&sb, ib) >= 4 * (100 - 4), "round {round}: frames wait behind the stuck rings");
        }
        // Detach the sending side first on odd rounds, the receiving side on even ones.
        let (first, second) = if round % 2 == 1 { ((&sb, ib), (&sa, ia)) } else { ((&sa, ia), (&sb, ib)) };
        let t = Instant::now();
        let r1 = first.0.detach(first.1).unwrap();
        stop.store(true, Ordering::SeqCst);
        let r2 = second.0.detach(second.1).unwrap();
        purged += r1.frames_purged + r2.frames_purged;
        if stuck {
            let b = if round % 2 == 1 { r1 } else { r2 };
            assert!(b.tx_unconfirmed >= 4 * 4, "round {round}: the stuck rings' packets were counted: {b:?}");
            assert!(b.frames_purged >= 4 * (100 - 4), "round {round}: the frames behind them were freed, counted: {b:?}");
        }
        for _ in 0..6 {
            done_rx.recv_timeout(Duration::from_secs(20)).expect("a sender hung after detach");
        }
        assert!(t.elapsed() < Duration::from_secs(20));
        for (name, nic) in [("A", &na), ("B", &nb)] {
            let region = nic.dma();
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
    }
    let counted = sa.counters().purged.load(Ordering::Relaxed) + sb.counters().purged.load(Ordering::Relaxed);
    assert!(counted >= purged as u64, "every purged frame counted");
}
