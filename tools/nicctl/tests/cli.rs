//! `nicctl` as a user runs it: replay a capture through the co-simulated NIC,
//! write the Verilog. Outputs are checked with etherparse and serde_json.

use nic_testbench::traffic;
use rand::SeedableRng;
use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nicctl-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn write_pcap(path: &PathBuf, frames: &[Vec<u8>]) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = pcap_file::pcap::PcapWriter::new(f).unwrap();
    for (i, fr) in frames.iter().enumerate() {
        let p = pcap_file::pcap::PcapPacket::new(std::time::Duration::from_micros(i as u64), fr.len() as u32, fr);
        w.write_packet(&p).unwrap();
    }
}

fn read_pcap(path: &PathBuf) -> Vec<Vec<u8>> {
    let mut r = pcap_file::pcap::PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut v = vec![];
    while let Some(p) = r.next_packet() {
        v.push(p.unwrap().data.into_owned());
    }
    v
}

fn nicctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nicctl")).args(args).output().unwrap()
}

/// Checksums of a frame by etherparse (IPv4 header, TCP/UDP); fragments and non-IP pass.
fn checksums_ok(f: &[u8]) -> bool {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let Ok(p) = SlicedPacket::from_ethernet(f) else { return false };
    match (&p.net, &p.transport) {
        (Some(NetSlice::Ipv4(ip)), t) => {
            let h = ip.header().to_header();
            if h.calc_header_checksum() != h.header_checksum {
                return false;
            }
            match t {
                Some(TransportSlice::Udp(u)) => {
                    u.to_header().calc_checksum_ipv4_raw(h.source, h.destination, u.payload()).ok() == Some(u.checksum())
                }
                Some(TransportSlice::Tcp(tc)) => {
                    tc.to_header().calc_checksum_ipv4_raw(h.source, h.destination, tc.payload()).ok()
                        == Some(tc.checksum())
                }
                _ => true,
            }
        }
        (Some(NetSlice::Ipv6(ip)), t) => {
            let (s, d) = (ip.header().source(), ip.header().destination());
            match t {
                Some(TransportSlice::Udp(u)) => u.to_header().calc_checksum_ipv6_raw(s, d, u.payload()).ok() == Some(u.checksum()),
                Some(TransportSlice::Tcp(tc)) => {
                    tc.to_header().calc_checksum_ipv6_raw(s, d, tc.payload()).ok() == Some(tc.checksum())
                }
                _ => true,
            }
        }
        _ => true,
    }
}

#[test]
fn replay_offloads_fixes_checksums_reports_verdicts_and_raw_leaves_bytes_alone() {
    let mut frames = traffic::mix(60, 3);
    // A frame whose UDP checksum is wrong in the input: offload recomputes it, --raw must not.
    let mut bad = frames[0].clone();
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    frames.push(bad.clone());
    // An ARP request: nothing to offload; it still goes out, and stderr says so.
    let mut arp = vec![0xffu8; 6];
    arp.extend([2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend([0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    arp.resize(60, 0);
    frames.push(arp.clone());
    let input = tmp("in.pcap");
    write_pcap(&input, &frames);

    let (wire, rx) = (tmp("wire.pcap"), tmp("rx.jsonl"));
    let out = nicctl(&["replay", "--in", input.to_str().unwrap(), "--out", wire.to_str().unwrap(), "--rx-report", rx.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "nicctl replay failed: {stderr}");
    assert!(stderr.contains(&format!("frame {}: sent without offload", frames.len())), "stderr: {stderr}");
    let w = read_pcap(&wire);
    assert_eq!(w.len(), frames.len());
    for (i, f) in w.iter().enumerate() {
        assert!(checksums_ok(f), "wire frame {} has a bad checksum", i + 1);
    }
    assert_ne!(w[frames.len() - 2], bad, "the damaged input checksum was recomputed by the offload");
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&rx).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), frames.len());
    // The report is in wire order whatever queue RSS chose: line i is the capture's frame i.
    let queues: std::collections::BTreeSet<u64> = lines.iter().filter_map(|l| l["queue"].as_u64()).collect();
    assert!(queues.len() > 1, "the mix spreads over several RX queues: {queues:?}");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["frame"], i + 1);
        assert_eq!(l["len"].as_u64(), Some(w[i].len() as u64), "line {} against the capture's frame {}", i + 1, i + 1);
        assert!(l["csum_flags"].is_array() && l["csum_data"].is_number());
        assert!(l["flowid"].is_number() && l["queue"].as_u64().is_some_and(|q| q < 8), "{l}");
        let t = l["rsstype"].as_str().unwrap_or("");
        assert!(t == "NONE" || t.starts_with("RSS_"), "rsstype {t}");
        if t == "NONE" {
            assert_eq!((l["flowid"].as_u64(), l["queue"].as_u64()), (Some(0), Some(0)), "no hash: queue 0");
        }
    }
    let types: std::collections::BTreeSet<&str> = lines.iter().filter_map(|l| l["rsstype"].as_str()).collect();
    for t in ["NONE", "RSS_TCP_IPV4", "RSS_UDP_IPV4", "RSS_TCP_IPV6", "RSS_UDP_IPV6"] {
        assert!(types.contains(t), "a frame hashed as {t} (ARP: NONE): {types:?}");
    }
    let v4_tcp = lines.iter().filter(|l| l["csum_flags"].as_array().unwrap().len() == 4).count();
    assert!(v4_tcp > 10, "IPv4 TCP/UDP frames report L3 and L4 valid");

    // --raw: the bytes go out untouched, the bad checksum included, and the NIC reports it bad.
    let out = nicctl(&["replay", "--raw", "--in", input.to_str().unwrap(), "--out", wire.to_str().unwrap(), "--rx-report", rx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read_pcap(&wire), frames, "--raw leaves every byte as it was");
    // The damaged frame is the only one whose L4 checksum is wrong: exactly one verdict says so.
    let raw_lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&rx).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let flags_of = |l: &serde_json::Value| -> Vec<String> {
        l["csum_flags"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    };
    let bad_l4: Vec<(Vec<String>, u64)> = raw_lines
        .iter()
        .map(|l| (flags_of(l), l["len"].as_u64().unwrap()))
        .filter(|(f, _)| f.iter().any(|x| x == "CSUM_L4_CALC") && !f.iter().any(|x| x == "CSUM_L4_VALID"))
        .collect();
    assert_eq!(bad_l4.len(), 1, "bad L4 reported once: {bad_l4:?}");
    assert_eq!(bad_l4[0].1, bad.len() as u64, "... for the damaged frame");

    // --offload with only IPv6 words: IPv4 frames get software checksums, still correct.
    let out = nicctl(&["replay", "--offload", "txcsum6,rxcsum6", "--in", input.to_str().unwrap(), "--out", wire.to_str().unwrap(), "--rx-report", rx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in read_pcap(&wire) {
        assert!(checksums_ok(&f));
    }
    let out = nicctl(&["replay", "--offload", "bogus", "--in", input.to_str().unwrap(), "--out", wire.to_str().unwrap(), "--rx-report", rx.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown word"));
}

#[test]
fn verilog_is_written_and_lints_with_the_documented_waivers() {
    let dir = tmp("rtl");
    let out = nicctl(&["verilog", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = std::fs::read_to_string(dir.join("nic_core.v")).unwrap();
    assert!(v.contains("module top"));
    for port in ["s_axil_awaddr", "m_axi_araddr", "m_axis_tx_tdata", "s_axis_rx_tdata", "irq"] {
        assert!(v.contains(port), "port {port}");
    }
    match Command::new("verilator").arg("--version").output() {
        Err(_) => eprintln!("SKIP lint: verilator not installed (apt-get install verilator)"),
        Ok(_) => {
            let mut cmd = Command::new("verilator");
            cmd.args(["--lint-only", "-Wall", "--top-module", "top"]);
            cmd.args(nic_sim::LINT_WAIVER_FLAGS.split(' '));
            let o = cmd.arg(dir.join("nic_core.v")).output().unwrap();
            assert!(o.status.success(), "lint: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
}

/// `nicctl replay --tso --mss N`: bursts over the MTU leave as MSS-sized segments (1400 keeps
/// every variant, IPv6 extension headers and tag included, within a 1500 MTU) with valid
/// checksums; with tso4/tso6 off the stack's GSO cuts them instead, and the wire bytes are the same.
#[test]
fn replay_tso_cuts_bursts_on_the_wire_and_gso_gives_the_same_bytes() {
    use etherparse::{SlicedPacket, TcpHeader, TransportSlice};
    use nic_testbench::traffic::Kind;
    let mut frames = vec![];
    let mut payload_total = 0;
    for (i, (v6, vlan)) in [(false, false), (true, false), (false, true), (true, true)].into_iter().enumerate() {
        let k = Kind { v6, tcp: true, vlan, ext: i % 2 == 1, frag: false };
        let payload: Vec<u8> = (0..20_000 + i * 7_777).map(|j| (j * 31 + i) as u8).collect();
        payload_total += payload.len();
        let mut t = TcpHeader::new(40000, 5001, 1000 * i as u32, 65535);
        t.ack = true;
        t.psh = true;
        frames.push(traffic::tcp_frame(k, t, i as u32, &payload));
    }
    frames.extend(traffic::mix(10, 8).into_iter().filter(|f| f.len() <= 1514));
    let input = tmp("tso-in.pcap");
    write_pcap(&input, &frames);
    let mut wires = vec![];
    for (name, offload) in [("tso", "rxcsum,txcsum,rxcsum6,txcsum6,tso4,tso6,vlanhwcsum,vlanhwtso"), ("gso", "rxcsum,txcsum,rxcsum6,txcsum6,vlanhwcsum")] {
        let out = tmp(&format!("{name}-wire.pcap"));
        let rx = tmp(&format!("{name}-rx.json"));
        let o = nicctl(&[
            "replay", "--in", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--rx-report",
            rx.to_str().unwrap(), "--offload", offload, "--tso", "--mss", "1400",
        ]);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{name}: {}{}", stdout, String::from_utf8_lossy(&o.stderr));
        let (tso, gso) = if name == "tso" { ("4 TSO bursts", "0 segments") } else { ("0 TSO bursts", " segments cut") };
        assert!(stdout.contains(tso) && stdout.contains(gso), "{name}: {stdout}");
        let wire = read_pcap(&out);
        let mut payload = 0;
        for f in &wire {
            assert!(f.len() <= 1518, "{name}: a {}-byte frame left the NIC", f.len());
            assert!(checksums_ok(f), "{name}: bad checksum");
            if let Ok(SlicedPacket { transport: Some(TransportSlice::Tcp(t)), .. }) = SlicedPacket::from_ethernet(f) {
                if t.source_port() == 40000 && t.destination_port() == 5001 && f.len() > 1000 {
                    payload += t.payload().len();
                }
            }
        }
        assert!(payload >= payload_total, "{name}: the bursts' payload crossed the wire ({payload} of {payload_total})");
        wires.push(wire);
    }
    assert_eq!(wires[0].len(), wires[1].len(), "TSO and GSO put as many frames on the wire");
    for (i, (a, b)) in wires[0].iter().zip(&wires[1]).enumerate() {
        assert!(a == b, "wire frame {i}: the NIC's TSO and the stack's GSO differ");
    }
}

/// The demo (README's main job): the replay part, then TCP between two stacks over the cable,
/// data checked byte for byte by the demo itself; while it holds, its control socket answers
/// `nicctl ifconfig` and `nicctl netstat`, and `nicctl shutdown` ends it.
#[test]
fn demo_runs_tcp_between_two_stacks_and_serves_its_control_socket() {
    use std::io::{BufRead, BufReader};
    let dir = tmp("demo");
    std::fs::create_dir_all(&dir).unwrap();
    let ctl = dir.join("demo.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nicctl"))
        .args(["demo", "--frames", "200", "--tcp-bytes", "1048576", "--hold", "120", "--ctl"])
        .arg(&ctl)
        .arg("--pcap")
        .arg(dir.join("demo.pcap"))
        .arg("--vcd")
        .arg(dir.join("demo.vcd"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    loop {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0, "the demo ended early:\n{text}");
        text.push_str(&l);
        if l.contains("holding") {
            break;
        }
    }
    assert_eq!(text.matches("1048576 bytes intact").count(), 2, "both families:\n{text}");
    assert!(text.contains("tx_tso_segs="), "the NIC cut TSO bursts:\n{text}");
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_nicctl")).arg(args[0]).arg("--ctl").arg(&ctl).args(&args[1..]).output().unwrap();
        assert!(o.status.success(), "nicctl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let ifc = run(&["ifconfig", "-m", "nic0"]);
    assert!(ifc.contains("\tinet 10.1.0.1 netmask 0xffffff00") && ifc.contains("TSO4"), "{ifc}");
    let ns = run(&["netstat", "-a", "-n"]);
    assert!(ns.contains("10.1.0.1.") && ns.contains("fd01::1.") && ns.contains("TIME_WAIT"), "{ns}");
    run(&["shutdown"]);
    assert!(child.wait().unwrap().success());
}

/// A capture cut short names the damaged record and where it starts (so it can be cut there),
/// and a replay in which the driver refuses every frame is a failure, not a success.
#[test]
fn replay_says_where_a_capture_is_cut_and_fails_when_nothing_was_sent() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(77);
    let udp = traffic::Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false };
    let frames = vec![traffic::frame_of_len(udp, 300, 1, &mut rng), traffic::frame_of_len(udp, 400, 2, &mut rng)];
    let (input, wire, rx) = (tmp("cut.pcap"), tmp("cut-wire.pcap"), tmp("cut-rx.jsonl"));
    write_pcap(&input, &frames);
    let full = std::fs::read(&input).unwrap();
    std::fs::write(&input, &full[..full.len() - 10]).unwrap();
    let args = |i: &PathBuf| {
        vec!["replay".to_string(), "--in".into(), i.display().to_string(), "--out".into(), wire.display().to_string(), "--rx-report".into(), rx.display().to_string()]
    };
    let run = |a: Vec<String>| nicctl(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let out = run(args(&input));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a cut capture is an error");
    // The second record starts after the 24-byte file header and the first record (16 + 300).
    assert!(stderr.contains(&format!("record 2 at byte offset {}", 24 + 16 + 300)), "{stderr}");

    // Every frame over the NIC's largest frame and not TCP (nothing to segment): all refused.
    let big = vec![traffic::frame_of_len(udp, nic_abi::MAX_FRAME as usize + 200, 3, &mut rng); 2];
    let input = tmp("refused.pcap");
    write_pcap(&input, &big);
    let out = run(args(&input));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "nothing sent is a failure: {stderr}");
    assert!(stderr.contains("none of the 2 frames was sent"), "{stderr}");
}

/// `nicctl demo --faults`: the cable drops, duplicates, reorders and corrupts (seeded), the
/// replay part's books still balance, and TCP between the two stacks recovers: every byte
/// intact, with retransmissions.
#[test]
fn demo_on_a_faulty_cable_keeps_its_books_and_its_bytes() {
    let (pcap, vcd, ctl) = (tmp("fdemo.pcap"), tmp("fdemo.vcd"), tmp("fdemo.sock"));
    let out = nicctl(&[
        "demo", "--frames", "300", "--tcp-bytes", "1048576", "--pcap", pcap.to_str().unwrap(), "--vcd",
        vcd.to_str().unwrap(), "--ctl", ctl.to_str().unwrap(), "--faults", "drop=0.01,dup=0.005,reorder=0.01,corrupt=0.002,seed=3",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let faults = stdout.lines().find(|l| l.contains("cable faults")).expect("the faults are reported");
    assert!(!faults.contains(" 0 dropped"), "{faults}");
    let tcp: Vec<&str> = stdout.lines().filter(|l| l.contains("bytes intact")).collect();
    assert_eq!(tcp.len(), 2, "IPv4 and IPv6 both intact: {stdout}");
    let rexmit: u64 = tcp
        .iter()
        .map(|l| l.split(", ").find(|p| p.ends_with("retransmitted")).and_then(|p| p.split(' ').next()?.parse::<u64>().ok()).unwrap())
        .sum();
    assert!(rexmit > 0, "TCP recovered by retransmitting: {stdout}");
}
