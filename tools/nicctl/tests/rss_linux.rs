//! Receive-side scaling with the Linux kernel as the peer: many TCP flows
//! over IPv4 and IPv6, both directions, through the co-simulated NIC's two
//! queue pairs and the stack's two workers. Every transfer is checked by
//! SHA-256 on both ends; the NIC's own per-queue counters (`PACKETS`) show
//! that both RX and both TX queues carried traffic, and each flow's queue
//! is the one the Toeplitz hash of its tuple and the indirection table name.
//! Then the interface departs while flows on both queues are mid-transfer.
//!
//! Needs root, iproute2, /dev/net/tun and python3; skips with a SKIP line
//! otherwise, and fails instead when `NIC_REQUIRE_NETNS=1` (scripts/test).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::Duration;

use common::netns::{python_peer_client, python_peer_server, require_or_skip, tap_stack, PeerMode, PeerNet};
use common::up::{data, serial, sha256_bytes, MIB, WAIT};
use nic_host::stack::socket::SockOpts;
use nic_testbench::tapnic::TapNic;

/// Per queue: (TX packets, RX packets, RX drops), from the NIC's registers.
fn queue_stats(nic: &TapNic) -> Vec<(u32, u32, u32)> {
    nic.stack.with_driver(nic.ifindex, |d| d.hw_queue_stats()).unwrap().unwrap()
}

/// The RX (and so TX) queue of a flow as the NIC sees it arrive: remote -> local.
fn queue_of(nic: &TapNic, local: SocketAddr, remote: SocketAddr) -> u16 {
    nic.stack.with_driver(nic.ifindex, |d| d.rss().flow_queue(remote, local, 6)).unwrap()
}

#[test]
fn many_flows_to_and_from_linux_spread_over_both_queues() {
    if !require_or_skip("many_flows_to_and_from_linux_spread_over_both_queues") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("srs", "tapsrs", "10.0.0.1/24", "fd00::1/64").unwrap();
    let nic = tap_stack(&net);
    let nq = nic.stack.with_driver(nic.ifindex, |d| d.num_queues()).unwrap();
    assert_eq!(nq, 2, "the default build has two queue pairs and the driver uses both");
    let before = queue_stats(&nic);

    // Outgoing flows (the stack sends, Linux sinks), v4 and v6, until both queues have some.
    let peers = ["10.0.0.1", "fd00::1"];
    let mut out = vec![];
    let mut used = [0usize; 2];
    for i in 0..16u16 {
        if out.len() >= 6 && used.iter().all(|&n| n >= 2) {
            break;
        }
        let peer = peers[i as usize % 2];
        let port = 7400 + i;
        let sink = python_peer_server(&net.ns, peer, port, PeerMode::Sink).unwrap();
        let remote = SocketAddr::new(peer.parse::<IpAddr>().unwrap(), port);
        let s = nic.stack.tcp_connect(remote, SockOpts::default()).unwrap();
        used[queue_of(&nic, s.local_addr(), remote) as usize] += 1;
        out.push((sink, s, i as u64));
    }
    assert!(used.iter().all(|&n| n >= 1), "outgoing flows on both queues: {used:?}");

    // Incoming flows (Linux sends), to one listener per family: Linux picks the source ports.
    let l4 = nic.stack.tcp_listen("10.0.0.2:7500".parse().unwrap(), 16, SockOpts::default()).unwrap();
    let l6 = nic.stack.tcp_listen("[fd00::2]:7501".parse().unwrap(), 16, SockOpts::default()).unwrap();
    let mut sources = vec![];
    for i in 0..6u64 {
        let (addr, port) = if i % 2 == 0 { ("10.0.0.2", 7500) } else { ("fd00::2", 7501) };
        sources.push(python_peer_client(&net.ns, addr, port, PeerMode::Source { bytes: MIB as u64, seed: 100 + i }).unwrap());
    }

    // Everything moves at once: one thread per outgoing flow, one per accepted incoming flow.
    let mut threads = vec![];
    for (_, mut s, seed) in out.iter().map(|(_, s, seed)| ((), s.try_clone().unwrap(), *seed)) {
        threads.push(std::thread::spawn(move || {
            let d = data(MIB, seed);
            s.write_all(&d).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            (String::new(), sha256_bytes(&d))
        }));
    }
    let mut in_queues = [0usize; 2];
    for i in 0..sources.len() {
        let l = if i % 2 == 0 { &l4 } else { &l6 };
        let mut s = l.accept_timeout(WAIT).unwrap().expect("Linux's connection is accepted");
        in_queues[queue_of(&nic, s.local_addr(), s.peer_addr()) as usize] += 1;
        threads.push(std::thread::spawn(move || {
            let mut got = vec![];
            s.read_to_end(&mut got).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            (format!("{}", s.peer_addr()), sha256_bytes(&got))
        }));
    }
    let results: Vec<(String, String)> = threads.into_iter().map(|t| t.join().expect("a flow thread panicked")).collect();
    let (sent, received) = results.split_at(out.len());
    for ((sink, _, _), (_, want)) in out.drain(..).zip(sent) {
        let rep = sink.finish(WAIT).unwrap();
        assert_eq!(rep.bytes, MIB as u64);
        assert_eq!(&rep.sha256, want, "what Linux received is what the stack sent");
    }
    let mut got: Vec<&String> = received.iter().map(|(_, h)| h).collect();
    let mut want = vec![];
    for src in sources {
        let rep = src.finish(WAIT).unwrap();
        assert_eq!(rep.bytes, MIB as u64);
        want.push(rep.sha256);
    }
    got.sort();
    want.sort();
    assert_eq!(got, want.iter().collect::<Vec<_>>(), "what the stack received is what Linux sent");

    let after = queue_stats(&nic);
    for q in 0..2 {
        let (tx, rx, drops) = (after[q].0 - before[q].0, after[q].1 - before[q].1, after[q].2 - before[q].2);
        eprintln!("queue {q}: TX {tx} RX {rx} drops {drops}; outgoing flows {}, incoming {}", used[q], in_queues[q]);
        assert!(tx > 100 && rx > 100, "queue {q} carried both directions' traffic: TX {tx}, RX {rx}");
    }
}

#[test]
fn detach_while_flows_on_both_queues_run() {
    if !require_or_skip("detach_while_flows_on_both_queues_run") {
        return;
    }
    let _g = serial();
    for round in 0..2u16 {
        let net = PeerNet::tap("srd", "tapsrd", "10.0.0.1/24", "fd00::1/64").unwrap();
        let nic = tap_stack(&net);
        let mut sinks = vec![];
        let mut writers = vec![];
        let mut used = [0usize; 2];
        for i in 0..6u16 {
            let port = 7600 + i;
            sinks.push(python_peer_server(&net.ns, "10.0.0.1", port, PeerMode::Sink).unwrap());
            let remote: SocketAddr = format!("10.0.0.1:{port}").parse().unwrap();
            let mut s = nic.stack.tcp_connect(remote, SockOpts::default()).unwrap();
            used[queue_of(&nic, s.local_addr(), remote) as usize] += 1;
            writers.push(std::thread::spawn(move || {
                let chunk = data(128 << 10, i as u64);
                loop {
                    if let Err(e) = s.write_all(&chunk) {
                        return e.kind();
                    }
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(1500));
        let rep = nic.stack.detach(nic.ifindex).expect("detach");
        for w in writers {
            assert_eq!(w.join().expect("no writer panics"), std::io::ErrorKind::NetworkDown, "round {round}");
        }
        // Detach aborts the connections it finds; a sender that meets the departed interface
        // first ends its own connection the same way (ENETDOWN), so some may be gone already.
        assert!(rep.conns_aborted <= 6, "round {round}: {} aborted", rep.conns_aborted);
        eprintln!("round {round}: flows per queue {used:?}, {} aborted by detach, {} frames purged", rep.conns_aborted, rep.frames_purged);
        assert!(nic.stack.interfaces().is_empty() && nic.stack.connections().is_empty(), "nothing left behind");
        assert!(nic.stack.with_driver(nic.ifindex, |_| ()).is_err(), "the departed interface is unreachable");
        drop(sinks);
    }
}
