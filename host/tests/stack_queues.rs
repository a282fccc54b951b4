//! The stack on several queue pairs: two stacks on two Verilator NICs joined
//! by a cable (the test bench's `CablePair`), every frame through the RTL's
//! RSS, queues and interrupt lines. Pins that a connection's transmit and
//! receive share a queue pair, and that an RSS change at run time keeps each
//! connection's frames in order on the wire. Through the public API only;
//! what needs to look inside the stack (detach under load) is the library's
//! `stack::mq_tests`.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::payload;
use nic_host::stack::socket::SockOpts;
use nic_host::stack::{IfAddrs, Stack, StackConfig};
use nic_testbench::cable::CablePair;
use nic_testbench::serial;

const A: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
/// The interface index of each stack's one NIC.
const IF: u16 = 1;

fn addrs(a: Ipv4Addr) -> IfAddrs {
    IfAddrs { v4: Some((a, 24)), ..Default::default() }
}

/// Stack A on NIC 0 and stack B on NIC 1 of one simulation, joined by a cable (recorded to
/// `pcap` if given), configured for the simulator.
fn pair(pcap: Option<std::path::PathBuf>) -> CablePair {
    CablePair::start_with(addrs(A), addrs(B), pcap, None, StackConfig::for_simulator(), None).expect("two stacks on a cable")
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
    let _one = serial();
    let p = pair(None);
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
        let data = payload(200_000, round);
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
    let _one = serial();
    let pcap = std::env::temp_dir().join(format!("nic-host-rss-order-{}.pcap", std::process::id()));
    // Moves under load drain in some hundreds of milliseconds of wall time on the model (on a
    // board, a fraction of one); the default bound would take a slow model for a stalled one.
    let p = pair(Some(pcap.clone()));
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
                let data = payload(size, i as u8);
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
    let mut want: Vec<Vec<u8>> = (0..n).map(|i| payload(size, i as u8)).collect();
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
