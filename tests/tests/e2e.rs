//! End to end: traffic mixes through the driver, the RTL's transmit path, a
//! wire, the RTL's receive path, the driver and the stack's input. Wire bytes
//! are checked by etherparse and by tshark (when installed), never by our own
//! parser; offload on and off must put identical bytes on the wire.

use nic_host::mbuf::Mbuf;
use nic_host::net::{ether_input, Input, NetStats};
use nic_testbench::replay::{replay, ReplayConfig};
use nic_testbench::traffic;
use nic_sim::FaultConfig;
use nic_tests::verify;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nic-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn read_pcap(p: &Path) -> Vec<Vec<u8>> {
    let mut r = pcap_file::pcap::PcapReader::new(std::fs::File::open(p).unwrap()).unwrap();
    let mut v = vec![];
    while let Some(pkt) = r.next_packet() {
        v.push(pkt.unwrap().data.into_owned());
    }
    v
}

fn words(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| s.to_string()).collect())
}

/// The same mix with every offload, with each one alone, and with none: the wire bytes are identical,
/// and every checksum on the wire is right by etherparse.
#[test]
fn offloads_on_off_and_mixed_put_identical_correct_bytes_on_the_wire() {
    let mix = traffic::mix(300, 7);
    let mut reference: Option<Vec<Vec<u8>>> = None;
    for (name, offload) in [
        ("all", None),
        ("none", words(&[])),
        ("v4 only", words(&["txcsum", "rxcsum"])),
        ("v6 only", words(&["txcsum6", "rxcsum6"])),
    ] {
        let pcap = tmp(&format!("wire-{}.pcap", name.replace(' ', "-")));
        let rep = replay(&mix, &ReplayConfig { offload, wire_pcap: Some(pcap.clone()), cable: true, ..Default::default() })
            .unwrap();
        assert!(rep.refused.is_empty(), "{name}: {:?}", rep.refused);
        let wire = read_pcap(&pcap);
        assert_eq!(wire.len(), mix.len(), "{name}: every frame on the wire");
        for (i, f) in wire.iter().enumerate() {
            if let Err(e) = verify(f) {
                panic!("{name}: wire frame {} ({} bytes): {e}", i + 1, f.len());
            }
        }
        // Correct senders agree: the wire carries exactly the frames etherparse built.
        assert_eq!(&wire, &mix, "{name}: wire bytes equal the reference frames");
        match &reference {
            None => reference = Some(wire),
            Some(r) => assert_eq!(r, &wire, "{name}: same bytes as with every offload"),
        }
        // Offload requests happened only where enabled.
        let hw_l4: u32 = rep.hw_stats[0].iter().find(|(n, _)| *n == "tx_csum_l4").unwrap().1;
        match name {
            "none" => assert_eq!(hw_l4, 0, "no L4 checksum done by the NIC with offloads off"),
            _ => assert!(hw_l4 > 0, "{name}: the NIC computed L4 checksums"),
        }
    }
}

/// With every offload on, the receive verdicts agree with etherparse, and the stack's input accepts
/// exactly the frames whose checksums are right, whether the NIC or the software decided.
#[test]
fn damaged_frames_get_the_right_verdicts_and_the_stack_drops_exactly_those() {
    let mix = traffic::mix(400, 11);
    let faults = FaultConfig { seed: 3, drop: 0.0, corrupt: 0.3, truncate: 0.05, ..Default::default() };
    for offload in [None, words(&[])] {
        let hw = offload.is_none();
        let rep = replay(&mix, &ReplayConfig { offload, cable: true, faults: Some(faults), ..Default::default() }).unwrap();
        let ifp = &rep.rx_ifnet;
        let mut st = NetStats::default();
        let (mut accepted, mut dropped) = (0, 0);
        for r in &rep.rx {
            let mut m = Mbuf::from_frame(&r.data);
            m.pkthdr.csum_flags = r.csum_flags;
            m.pkthdr.csum_data = r.csum_data;
            m.pkthdr.rcvif = Some(ifp.ifref());
            // Good: an IP packet etherparse parses whole, every checksum right.
            let good = verify(&r.data).is_ok()
                && etherparse::SlicedPacket::from_ethernet(&r.data).map(|p| p.net.is_some()).unwrap_or(false);
            match ether_input(ifp, m, &mut st) {
                Input::Udp(_) | Input::Tcp(_) | Input::Ip(_) => {
                    accepted += 1;
                    assert!(good, "frame {}: the stack accepted a frame with a bad checksum (flags {:?})", r.frame, nic_abi::csum::names(r.csum_flags).collect::<Vec<_>>());
                }
                Input::Dropped(why) => {
                    dropped += 1;
                    // A correct frame is dropped only for what this stack documents: fragments.
                    assert!(
                        !good || matches!(why, nic_host::net::DropReason::Fragment),
                        "frame {}: a correct frame was dropped: {why}",
                        r.frame
                    );
                }
            }
            if !hw {
                assert_eq!(r.csum_flags, 0, "rxcsum off: the NIC reports nothing");
            }
        }
        assert!(accepted > 100 && dropped > 10, "the faults exercised both paths ({accepted} accepted, {dropped} dropped)");
        if hw {
            assert!(st.csum.l4_hw > 0, "the stack trusted NIC verdicts");
        } else {
            assert_eq!(st.csum.l4_hw, 0);
            assert!(st.csum.l4_sw > 0, "the stack verified in software");
        }
    }
}

/// tshark, with checksum validation on, finds no bad checksum and no frame over the MTU on the wire.
#[test]
fn tshark_validates_every_checksum_on_the_wire() {
    if Command::new("tshark").arg("-v").output().is_err() {
        eprintln!("SKIP tshark_validates_every_checksum_on_the_wire: tshark not installed (apt-get install tshark)");
        return;
    }
    let pcap = tmp("tshark.pcap");
    let mix = traffic::mix(500, 5);
    replay(&mix, &ReplayConfig { wire_pcap: Some(pcap.clone()), ..Default::default() }).unwrap();
    let out = Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap(), "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"])
        .args(["-o", "ip.check_checksum:TRUE", "-T", "fields", "-e", "frame.len"])
        .args(["-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "tcp.checksum.status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (mut good, mut lines) = (0, 0);
    for line in text.lines() {
        lines += 1;
        let f: Vec<&str> = line.split('\t').collect();
        let len: usize = f[0].parse().unwrap();
        assert!(len <= 9018, "frame over the jumbo MTU: {len}");
        for s in &f[1..] {
            // 0 = bad, 1 = good, 2 = not checked
            assert_ne!(*s, "0", "tshark found a bad checksum: {line}");
            if *s == "1" {
                good += 1;
            }
        }
    }
    assert_eq!(lines, mix.len());
    assert!(good > mix.len(), "tshark checked checksums ({good} good)");
}

/// TSO bursts through the NIC: tshark, checksum validation on, finds every segment good, none over
/// the MTU, and the TCP streams' bytes in sequence (no "previous segment not captured").
#[test]
fn tshark_validates_tso_segments() {
    if Command::new("tshark").arg("-v").output().is_err() {
        eprintln!("SKIP tshark_validates_tso_segments: tshark not installed (apt-get install tshark)");
        return;
    }
    use etherparse::TcpHeader;
    let mut bursts = vec![];
    for (i, v6) in [false, true, false, true].into_iter().enumerate() {
        let k = traffic::Kind { v6, tcp: true, vlan: i >= 2, ext: false, frag: false };
        let mut t = TcpHeader::new(41000 + i as u16, 5001, 1, 65535);
        t.ack = true;
        let payload: Vec<u8> = (0..30_000 + i * 3_001).map(|j| (j % 251) as u8).collect();
        bursts.push(traffic::tcp_frame(k, t, i as u32, &payload));
    }
    let pcap = tmp("tso.pcap");
    let rep = replay(&bursts, &ReplayConfig { wire_pcap: Some(pcap.clone()), tso_mss: Some(1400), ..Default::default() }).unwrap();
    assert_eq!(rep.tso_bursts, 4);
    let out = Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap(), "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"])
        .args(["-T", "fields", "-e", "frame.len", "-e", "ip.checksum.status", "-e", "tcp.checksum.status"])
        .args(["-e", "tcp.analysis.flags"])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut n = 0;
    for line in text.lines() {
        n += 1;
        let f: Vec<&str> = line.split('\t').collect();
        assert!(f[0].parse::<usize>().unwrap() <= 1518, "frame over the MTU: {line}");
        assert_ne!(f[1], "0", "bad IPv4 header checksum: {line}");
        assert_eq!(f[2], "1", "TCP checksum not good: {line}");
        assert!(f.get(3).is_none_or(|s| s.is_empty()), "tshark's TCP analysis flagged a segment: {line}");
    }
    assert_eq!(n, rep.wire_expected, "every segment captured");
    assert!(n > 80);
}
