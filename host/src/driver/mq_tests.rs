//! The driver's queue pairs and RSS against the software NIC model
//! (dev::softnic): no Verilator, no root. What the RTL must do is pinned by
//! the end-to-end tests; these pin what the driver does with it.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nic_abi::rss::{enable, hashtype};

use super::*;
use crate::dev::softnic::{SoftConfig, SoftNic};
use crate::net::rss::IPPROTO_UDP;

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// A 64-byte UDP/IPv4 frame from SRC:sport to DST:dport (checksums zero: nothing checks them here).
fn udp(sport: u16, dport: u16) -> Mbuf {
    let mut f = vec![0u8; 64];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&SRC.octets());
    f[30..34].copy_from_slice(&DST.octets());
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[38..40].copy_from_slice(&30u16.to_be_bytes());
    Mbuf::from_frame(&f)
}

fn flow(sport: u16, dport: u16) -> (SocketAddr, SocketAddr) {
    (SocketAddr::new(SRC.into(), sport), SocketAddr::new(DST.into(), dport))
}

fn attach(cfg: SoftConfig, dc: DriverConfig) -> (SoftNic, Driver) {
    let nic = SoftNic::new(cfg, 0);
    let d = Driver::attach_with(Arc::new(nic.clone()), dc).expect("attach");
    (nic, d)
}

/// Drains every queue until `n` frames came or 5 s passed; frames per queue.
fn receive_all(d: &Driver, n: usize) -> Vec<Vec<Mbuf>> {
    let mut got: Vec<Vec<Mbuf>> = (0..d.num_queues()).map(|_| Vec::new()).collect();
    let until = Instant::now() + Duration::from_secs(5);
    while got.iter().map(Vec::len).sum::<usize>() < n && Instant::now() < until {
        d.tx_reclaim().unwrap();
        for q in d.queues() {
            q.rx_burst(&mut got[q.index() as usize], 64).unwrap();
        }
    }
    got
}

/// Every queue pair the NIC has is attached; each frame arrives on the queue the driver's
/// shadow of the table names for its hash, with the hash and type the software computes.
#[test]
fn frames_arrive_on_the_queue_the_shadow_predicts() {
    let (_nic, d) = attach(SoftConfig::default(), DriverConfig::default());
    assert_eq!((d.num_queues(), d.irq_vectors()), (4, 4));
    let rss = d.rss();
    assert!(rss.present);
    assert_eq!(d.read_rss().unwrap(), rss, "the NIC holds what the shadow says");
    let n = 200u16;
    for i in 0..n {
        // Any TX queue: what matters for RX is the hash.
        d.queue(i % 4).tx(udp(1000 + i, 5001)).unwrap();
        if i % 16 == 15 {
            d.tx_flush().unwrap();
            d.tx_reclaim().unwrap();
        }
    }
    d.tx_flush().unwrap();
    let got = receive_all(&d, n as usize);
    assert_eq!(got.iter().map(Vec::len).sum::<usize>(), n as usize);
    for (q, frames) in got.iter().enumerate() {
        assert!(!frames.is_empty(), "queue {q} got traffic");
        for m in frames {
            let sport = u16::from_be_bytes([m.data()[34], m.data()[35]]);
            let (s, t) = flow(sport, 5001);
            let (h, ty) = rss.flow(s, t, IPPROTO_UDP);
            assert_eq!((m.pkthdr.flowid, m.pkthdr.rsstype), (h, hashtype::RSS_UDP_IPV4));
            assert_eq!(d.rss_queue(h) as usize, q);
            assert_eq!(rss.flow_queue(s, t, IPPROTO_UDP) as usize, q);
            assert_eq!(ty, hashtype::RSS_UDP_IPV4);
        }
    }
    let per_queue = d.hw_queue_stats().unwrap();
    for (q, (_, rx, drops)) in per_queue.iter().enumerate() {
        assert_eq!((*rx as usize, *drops), (got[q].len(), 0), "NIC's queue {q} counters");
    }
    assert_eq!(d.counters().rx_packets, n as u64);
    assert_eq!(d.counters().tx_enqueued, n as u64);
}

/// Key, types and table change at run time; the NIC follows, and so does the shadow.
#[test]
fn rss_changes_reach_the_nic_and_the_shadow() {
    let (_nic, d) = attach(SoftConfig::default(), DriverConfig::default());
    let g0 = d.rss().generation;
    let c = d.set_rss_reta(&[3]).unwrap();
    assert!(c.generation > g0);
    assert_eq!(d.read_rss().unwrap().reta, [3; 128]);
    for i in 0..20 {
        d.tx(udp(2000 + i, 80)).unwrap();
    }
    d.tx_flush().unwrap();
    let got = receive_all(&d, 20);
    assert_eq!(got[3].len(), 20, "everything on queue 3");

    let c = d.set_rss_hashtypes(enable::RSS_IPV4).unwrap();
    assert_eq!(c.type_names(), ["ipv4"]);
    let mut key = nic_abi::rss::KEY_DEFAULT;
    key[0] ^= 0xff;
    d.set_rss_key(&key).unwrap();
    d.set_rss_spread(2).unwrap();
    assert_eq!(d.read_rss().unwrap(), d.rss());
    d.tx(udp(1, 2)).unwrap();
    d.tx_flush().unwrap();
    let got = receive_all(&d, 1);
    let m = got.iter().flatten().next().expect("one frame");
    let (s, t) = flow(1, 2);
    assert_eq!(m.pkthdr.rsstype, hashtype::RSS_IPV4, "UDP off: the 2-tuple");
    assert_eq!(m.pkthdr.flowid, crate::net::rss::hash_v4(&key, SRC, DST, None));
    assert_eq!(d.rss().flow_queue(s, t, IPPROTO_UDP) as usize, got.iter().position(|v| !v.is_empty()).unwrap());

    // Refusals say what is allowed.
    let e = d.set_rss_reta(&[0, 4]).unwrap_err();
    assert!(e.to_string().contains("queues 0..=3"), "{e}");
    let e = d.set_rss_hashtypes(1 << 5).unwrap_err();
    assert!(e.to_string().contains("tcp4"), "{e}");
    assert!(d.set_rss_reta(&[]).is_err());
    assert!(d.set_rss_spread(5).is_err());
}

/// Fewer queues than the NIC has: the table only names those.
#[test]
fn config_may_ask_for_fewer_queues() {
    let (_nic, d) = attach(SoftConfig::default(), DriverConfig { queues: Some(2), ..Default::default() });
    assert_eq!(d.num_queues(), 2);
    assert!(d.rss().reta.iter().all(|&e| e < 2));
    assert!(d.read_rss().unwrap().reta.iter().all(|&e| e < 2));
    assert_eq!(d.queue(7).index(), 0, "a queue not in use means queue 0");
    assert!(d.set_rss_reta(&[2]).is_err());
    for i in 0..50 {
        d.tx(udp(3000 + i, 80)).unwrap();
    }
    d.tx_flush().unwrap();
    let got = receive_all(&d, 50);
    assert_eq!(got[0].len() + got[1].len(), 50);
    let e = Driver::attach_with(Arc::new(SoftNic::new(SoftConfig::default(), 1)), DriverConfig {
        queues: Some(0),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
}

/// A hash type the ABI does not define is counted; the frame still arrives, without a hash.
#[test]
fn a_bad_hash_is_counted_and_the_frame_delivered() {
    let cfg = SoftConfig { force_rsstype: Some(0x88), ..Default::default() };
    let (_nic, d) = attach(cfg, DriverConfig::default());
    for i in 0..10 {
        d.tx(udp(4000 + i, 80)).unwrap();
    }
    d.tx_flush().unwrap();
    let got = receive_all(&d, 10);
    let all: Vec<&Mbuf> = got.iter().flatten().collect();
    assert_eq!(all.len(), 10);
    assert!(all.iter().all(|m| m.pkthdr.flowid == 0 && m.pkthdr.rsstype == 0));
    let c = d.counters();
    assert_eq!((c.bad_rss, c.bad_completions, c.rx_packets), (10, 10, 10));
}

/// One worker thread per queue, all at once, each sending flows that come back to its own
/// queue and waiting on its own vector: everything arrives where it should. With one
/// edge-counted vector for all queues (VFIO's MSI), every worker still wakes.
#[test]
fn workers_drive_their_queues_in_parallel() {
    for (vectors, edge) in [(8, false), (1, true), (2, true)] {
        let cfg = SoftConfig { vectors, edge, ..Default::default() };
        let (_nic, d) = attach(cfg, DriverConfig::default());
        let d = Arc::new(d);
        let rss = d.rss();
        let per = 300usize;
        let workers: Vec<_> = (0..d.num_queues())
            .map(|q| {
                let d = d.clone();
                // Source ports whose flows the table sends back to queue q.
                let ports: Vec<u16> =
                    (1u16..).filter(|p| rss.flow_queue(flow(*p, 9).0, flow(*p, 9).1, IPPROTO_UDP) == q).take(per).collect();
                std::thread::spawn(move || {
                    let qh = d.queue(q);
                    let mut got = Vec::new();
                    let mut sent = 0;
                    let until = Instant::now() + Duration::from_secs(20);
                    while got.len() < per && Instant::now() < until {
                        while sent < per {
                            match qh.tx(udp(ports[sent], 9)) {
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
        assert_eq!((c.rx_packets, c.tx_packets), (per as u64 * 4, per as u64 * 4));

        // A worker asleep on its queue is woken by its own queue's interrupt, whichever
        // thread sends.
        for q in 0..d.num_queues() {
            let port = (1u16..).find(|p| rss.flow_queue(flow(*p, 9).0, flow(*p, 9).1, IPPROTO_UDP) == q).unwrap();
            let before = d.queue(q).counters().irq_wakeups;
            let waiter = {
                let d = d.clone();
                std::thread::spawn(move || d.queue(q).wait(Duration::from_secs(20)).unwrap())
            };
            std::thread::sleep(Duration::from_millis(20));
            d.queue((q + 1) % 4).tx(udp(port, 9)).unwrap();
            d.queue((q + 1) % 4).tx_flush().unwrap();
            assert!(waiter.join().unwrap(), "queue {q} woke with work");
            assert_eq!(d.queue(q).counters().irq_wakeups, before + 1, "queue {q}, {vectors} vector(s)");
            let mut got = Vec::new();
            assert_eq!(d.queue(q).rx_burst(&mut got, 8).unwrap(), 1);
            d.tx_reclaim().unwrap();
            d.ack_interrupt().unwrap();
        }
    }
}

/// Shutdown through a shared reference waits for callers inside a queue, frees every ring
/// once the NIC is reset, and later calls are refused, not crashes.
#[test]
fn shutdown_frees_every_queue_and_refuses_later_calls() {
    let (nic, d) = attach(SoftConfig::default(), DriverConfig::default());
    let region = nic.dma().clone();
    assert!(region.free_bytes() < region.size());
    let d = Arc::new(d);
    let busy = {
        let d = d.clone();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut refused = 0;
            for i in 0..100_000u32 {
                let q = d.queue((i % 4) as u16);
                if let Err(TxError { reason: TxReject::Detached, .. }) = q.tx(udp(i as u16, 7)) {
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
    std::thread::sleep(Duration::from_millis(20));
    let rep = d.shutdown().unwrap();
    assert!(rep.tx_unconfirmed <= 4 * 64);
    assert_eq!(busy.join().unwrap(), 1, "the sender was told, once");
    assert_eq!(region.free_bytes(), region.size(), "every ring and buffer back in the region");
    assert!(matches!(d.queue(1).rx_burst(&mut Vec::new(), 1), Err(Error::Detached)));
    assert!(matches!(d.set_rss_spread(1), Err(Error::Detached)));
    assert!(d.set_capenable(0).is_err(), "no configuration change after detach");
    assert_eq!(d.shutdown().unwrap(), ShutdownReport::default(), "a second shutdown does nothing");
}

/// The one-thread calls (`wait`, `poll`) cover every queue, with one vector or several, with
/// interrupts or polling.
#[test]
fn the_one_thread_wait_sees_every_queue() {
    for (vectors, edge, use_irq) in [(8, false, true), (1, true, true), (1, true, false)] {
        let cfg = SoftConfig { vectors, edge, ..Default::default() };
        let (_nic, d) = attach(cfg, DriverConfig { use_irq, ..Default::default() });
        let d = Arc::new(d);
        let rss = d.rss();
        for q in 0..d.num_queues() {
            let port = (1u16..).find(|p| rss.flow_queue(flow(*p, 9).0, flow(*p, 9).1, IPPROTO_UDP) == q).unwrap();
            let waiter = {
                let d = d.clone();
                std::thread::spawn(move || d.wait(Duration::from_secs(20)).unwrap())
            };
            std::thread::sleep(Duration::from_millis(10));
            d.tx(udp(port, 9)).unwrap();
            d.tx_flush().unwrap();
            assert!(waiter.join().unwrap(), "{vectors} vector(s), irq {use_irq}: woke for queue {q}");
            let mut got = Vec::new();
            assert_eq!(d.poll(&mut got, 8).unwrap().rx, 1);
            assert_eq!(d.rss_queue(got[0].pkthdr.flowid), q);
        }
    }
}
