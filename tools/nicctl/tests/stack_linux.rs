//! The host stack against the Linux kernel: the co-simulated NIC's wire is
//! a TAP in a network namespace, and Linux's TCP (driven by Python sockets,
//! tests/common/peer.py) is the peer. Data is checked by SHA-256 on both
//! ends, the wire by tshark with checksum validation on.
//!
//! - 16 MiB each way over IPv4 and IPv6 through `nicctl up` + `nicctl nc`,
//!   with every offload on, and again with every offload off;
//! - handshake, orderly close and reset seen from both sides, and a refused
//!   connection (the stack linked in-process, the same socket API);
//! - path MTU: Linux as a router with a lower MTU toward the peer answers
//!   with "too big"; the connection's MSS shrinks and the transfer finishes;
//! - detaching the interface during a transfer.
//!
//! Needs root, iproute2, /dev/net/tun, python3 (and tshark for the capture
//! check); skips with a SKIP line otherwise, and fails instead when
//! `NIC_REQUIRE_NETNS=1` (scripts/test). The tests take a lock so only one
//! simulated NIC runs at a time on a two-core machine.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::netns::{
    python_peer_client, python_peer_server, require_or_skip, tap_stack, PeerMode, PeerNet, PEER_V4, PEER_V6,
};
use common::up::{data, serial, sha256_file, tmp, Up, MIB, WAIT};
use nic_host::stack::socket::SockOpts;

/// nicctl nc -> Linux sink, then Linux source -> nicctl nc -l, 16 MiB each, over `peer_ip`.
fn both_ways(up: &Up, net: &PeerNet, peer_ip: &str, port: u16, seed: u64) {
    both_ways_n(up, net, peer_ip, port, seed, 16 * MIB);
}

/// [`both_ways`] with `n` bytes each way.
fn both_ways_n(up: &Up, net: &PeerNet, peer_ip: &str, port: u16, seed: u64, n: usize) {
    let input = tmp(&format!("in-{port}"));
    std::fs::write(&input, data(n, seed)).unwrap();
    let sink = python_peer_server(&net.ns, peer_ip, port, PeerMode::Sink).unwrap();
    let st = up.nc().arg(peer_ip).arg(port.to_string()).stdin(std::fs::File::open(&input).unwrap()).status().unwrap();
    assert!(st.success(), "nicctl nc {peer_ip} {port} failed");
    let r = sink.finish(WAIT).unwrap();
    assert_eq!(r.error, None, "the Linux sink saw an error");
    assert_eq!((r.bytes as usize, r.sha256), (n, sha256_file(&input)), "Linux received what nicctl sent");

    let output = tmp(&format!("out-{port}"));
    let mut nc = up
        .nc()
        .args(["-l", &(port + 1).to_string()])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&output).unwrap())
        .spawn()
        .unwrap();
    let ours = if peer_ip.contains(':') { "fd00::2" } else { "10.0.0.2" };
    let src = python_peer_client(&net.ns, ours, port + 1, PeerMode::Source { bytes: n as u64, seed })
        .unwrap();
    let r = src.finish(WAIT).unwrap();
    assert_eq!(r.error, None, "the Linux source saw an error");
    assert!(nc.wait().unwrap().success(), "nicctl nc -l failed");
    assert_eq!(sha256_file(&output), r.sha256, "nicctl received what Linux sent");
    assert_eq!(std::fs::metadata(&output).unwrap().len(), n as u64);
}

/// tshark with checksum validation: no bad checksum in what our NIC sent, nothing over the 1500
/// MTU (1514 on the wire) either way. (Linux itself now and then sends a TCP checksum of 0xffff
/// where 0x0000 is right — RFC 1624's case; receivers accept it, tshark flags it. Those frames
/// are Linux's, counted and shown, not failures of ours.)
fn tshark_clean(pcap: &Path) {
    if Command::new("tshark").arg("-v").output().is_err() {
        eprintln!("SKIP tshark check of {}: tshark not installed", pcap.display());
        return;
    }
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"])
        .args(["-T", "fields", "-e", "frame.len", "-e", "ip.checksum.status", "-e", "tcp.checksum.status"])
        .args(["-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.checksum"])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut tcp_good = 0;
    let mut linux_ffff = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let len: usize = f[0].parse().unwrap();
        assert!(len <= 1514, "a frame of {len} bytes on a 1500-MTU wire: {line}");
        let ours = f.get(3) == Some(&"10.0.0.2") || f.get(4) == Some(&"fd00::2");
        let bad = f[1..3].contains(&"0");
        if bad && !ours && f.get(5) == Some(&"0xffff") {
            linux_ffff += 1;
            continue;
        }
        assert!(!bad, "tshark found a bad checksum ({}): {line}", if ours { "sent by our NIC" } else { "sent by Linux" });
        tcp_good += (f.get(2) == Some(&"1")) as usize;
    }
    if linux_ffff > 0 {
        eprintln!("note: {linux_ffff} frame(s) from Linux carried TCP checksum 0xffff (RFC 1624), accepted by both stacks");
    }
    assert!(tcp_good > 20_000, "tshark verified {tcp_good} TCP checksums");
}

fn transfers(tag: &str, ifconfig: Option<&str>) {
    let net = PeerNet::tap(tag, &format!("tap{tag}"), "10.0.0.1/24", "fd00::1/64").unwrap();
    let words = ifconfig.map(|w| format!("--ifconfig={w}"));
    let up = Up::start(&net, tag, &words.iter().map(String::as_str).collect::<Vec<_>>());
    both_ways(&up, &net, "10.0.0.1", 5000, 1);
    both_ways(&up, &net, "fd00::1", 5002, 2);
    let s = up.status();
    let (tx_hw, l4_hw) = (s["csum"]["tx_hw"].as_u64().unwrap(), s["csum"]["l4_hw"].as_u64().unwrap());
    let tso = s["nic"]["tx_tso_segs"].as_u64().unwrap();
    if ifconfig.is_none() {
        assert!(tx_hw > 0 && l4_hw > 0 && tso > 0, "offloads on: the NIC did the work ({s})");
    } else {
        assert_eq!((tx_hw, l4_hw, tso), (0, 0, 0), "offloads off: the stack did everything ({s})");
        assert!(s["csum"]["tx_sw"].as_u64().unwrap() > 0 && s["csum"]["l4_sw"].as_u64().unwrap() > 0);
    }
    drop(up);
    tshark_clean(&tmp(&format!("{tag}.pcap")));
}

#[test]
fn sixteen_mib_each_way_v4_v6_offloads_on() {
    if !require_or_skip("sixteen_mib_each_way_v4_v6_offloads_on") {
        return;
    }
    let _g = serial();
    transfers("son", None);
}

#[test]
fn sixteen_mib_each_way_v4_v6_offloads_off() {
    if !require_or_skip("sixteen_mib_each_way_v4_v6_offloads_off") {
        return;
    }
    let _g = serial();
    transfers("sof", Some("-txcsum,-txcsum6,-rxcsum,-rxcsum6,-tso4,-tso6"));
}

#[test]
fn handshake_close_reset_and_refusal_from_both_sides() {
    if !require_or_skip("handshake_close_reset_and_refusal_from_both_sides") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("shr", "tapshr", "10.0.0.1/24", "fd00::1/64").unwrap();
    let nic = tap_stack(&net);
    let st = &nic.stack;
    for (peer, port) in [("10.0.0.1", 7000u16), ("fd00::1", 7010)] {
        let dst: SocketAddr = SocketAddr::new(peer.parse().unwrap(), port);
        // Refused: nobody listens.
        let e = st.tcp_connect(dst, SockOpts::default()).err().expect("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");

        // Orderly close, both ways: we send and close; Linux reads to EOF (our FIN) and closes.
        let sink = python_peer_server(&net.ns, peer, port, PeerMode::Sink).unwrap();
        let mut s = st.tcp_connect(dst, SockOpts::default()).unwrap();
        s.write_all(&data(100_000, 3)).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("Linux's FIN is an orderly end of data");
        let r = sink.finish(WAIT).unwrap();
        assert_eq!((r.bytes, r.error), (100_000, None));
        assert!(s.wait_closed(Duration::from_secs(10)).unwrap(), "both FINs acknowledged");

        // Linux resets: we see ECONNRESET.
        let rst = python_peer_server(&net.ns, peer, port + 1, PeerMode::Rst { after: 50_000 }).unwrap();
        let mut s = st.tcp_connect(SocketAddr::new(dst.ip(), port + 1), SockOpts::default()).unwrap();
        let chunk = data(64 << 10, 4);
        let err = (0..100).find_map(|_| s.write_all(&chunk).err().or_else(|| {
            std::thread::sleep(Duration::from_millis(20));
            None
        }));
        let err = err.or_else(|| s.read(&mut [0u8; 16]).err()).expect("the reset reaches the application");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
        assert!(rst.finish(WAIT).unwrap().rst);
        // The reset connection leaves the table while its socket is still open (netstat no
        // longer lists it; a later segment for the tuple finds no connection and gets a RST).
        let tuple = (s.local_addr(), s.peer_addr());
        assert!(
            !st.connections().iter().any(|r| (r.local, r.remote) == tuple),
            "{peer}: a reset connection lingers in the table: {:?}",
            st.connections().iter().filter(|r| (r.local, r.remote) == tuple).map(|r| &r.state).collect::<Vec<_>>()
        );

        // We reset: Linux sees ConnectionResetError.
        let src = python_peer_server(&net.ns, peer, port + 2, PeerMode::Source { bytes: 8 << 20, seed: 5 }).unwrap();
        let mut s = st.tcp_connect(SocketAddr::new(dst.ip(), port + 2), SockOpts { cc: Some("cubic".into()), tcb: None }).unwrap();
        assert_eq!(s.info().cc, "cubic");
        let mut buf = vec![0u8; 10_000];
        s.read_exact(&mut buf).unwrap();
        s.abort();
        let r = src.finish(WAIT).unwrap();
        assert_eq!(r.error.as_deref(), Some("ConnectionResetError"), "{r:?}");
    }
    // Accept from Linux, over both families.
    let l = st.tcp_listen("[::]:7100".parse().unwrap(), 4, SockOpts::default()).unwrap();
    for ours in ["10.0.0.2", "fd00::2"] {
        let src = python_peer_client(&net.ns, ours, 7100, PeerMode::Source { bytes: 1 << 20, seed: 6 }).unwrap();
        let mut s = l.accept_timeout(Duration::from_secs(30)).unwrap().expect("accepted");
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        drop(s);
        assert_eq!(got.len(), 1 << 20);
        assert_eq!(src.finish(WAIT).unwrap().error, None);
    }
}

#[test]
fn path_mtu_shrinks_the_segment_size_and_the_transfer_finishes() {
    if !require_or_skip("path_mtu_shrinks_the_segment_size_and_the_transfer_finishes") {
        return;
    }
    let _g = serial();
    let net = PeerNet::routed("spm", "tapspm").unwrap();
    net.set_route_mtu(PEER_V4, 1400).unwrap();
    net.set_route_mtu(PEER_V6, 1280).unwrap();
    let nic = tap_stack(&net);
    for (peer, port, mss) in [(PEER_V4, 7200u16, 1400 - 40), (PEER_V6, 7201, 1280 - 60)] {
        let sink = python_peer_server(net.peer(), peer, port, PeerMode::Sink).unwrap();
        let mut s = nic.stack.tcp_connect(SocketAddr::new(peer.parse().unwrap(), port), SockOpts::default()).unwrap();
        assert_eq!(s.info().t_maxseg, 1460 - 20 * (peer == PEER_V6) as u32, "starts at the link's MSS");
        let d = data(4 * MIB, 7);
        s.write_all(&d).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert!(s.wait_closed(WAIT).unwrap());
        let i = s.info();
        assert_eq!((i.t_maxseg, i.pmtu), (mss, mss + 40 + 20 * (peer == PEER_V6) as u32), "{i:?}");
        assert!(i.stats.pmtu_changes >= 1);
        let r = sink.finish(WAIT).unwrap();
        assert_eq!(r.bytes as usize, d.len(), "the transfer finished at the smaller size");
    }
    assert!(nic.stack.counters().pmtu_applied.load(std::sync::atomic::Ordering::Relaxed) >= 2);
}

#[test]
fn detach_during_a_transfer_ends_it_with_an_error() {
    if !require_or_skip("detach_during_a_transfer_ends_it_with_an_error") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("sdt", "tapsdt", "10.0.0.1/24", "fd00::1/64").unwrap();
    let nic = tap_stack(&net);
    let sink = python_peer_server(&net.ns, "10.0.0.1", 7300, PeerMode::Sink).unwrap();
    let mut s = nic.stack.tcp_connect("10.0.0.1:7300".parse().unwrap(), SockOpts::default()).unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = data(256 << 10, 8);
        let mut sent = 0usize;
        loop {
            match s.write_all(&chunk) {
                Ok(()) => sent += chunk.len(),
                // The socket is handed back: the application still holds it while detach runs.
                Err(e) => return (sent, e, s),
            }
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let rep = nic.stack.detach(nic.ifindex).expect("detach");
    let (sent, err, mut s) = writer.join().expect("the writer did not panic");
    assert_eq!(err.kind(), std::io::ErrorKind::NetworkDown, "{err}");
    assert!(sent > 0, "the transfer was under way");
    assert_eq!(rep.conns_aborted, 1);
    assert!(nic.stack.interfaces().is_empty() && nic.stack.connections().is_empty(), "nothing left behind");
    let mut buf = [0u8; 8];
    assert_eq!(s.read(&mut buf).map_err(|e| e.kind()).err(), Some(std::io::ErrorKind::NetworkDown), "reads say so too");
    drop(s);
    assert!(nic.stack.detach(nic.ifindex).is_err(), "a departed interface cannot depart twice");
    assert_eq!(
        nic.stack.counters().purged.load(std::sync::atomic::Ordering::Relaxed),
        rep.frames_purged as u64,
        "every frame still queued was freed and counted"
    );
    drop(sink);
}

/// Linux's UDP echoes (reversed) what it gets, `count` datagrams, after printing "ready".
const UDP_ECHO: &str = r#"
import socket, sys
addr, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
print('ready', flush=True)
for _ in range(count):
    d, a = s.recvfrom(65535)
    s.sendto(d[::-1], a)
"#;

#[test]
fn udp_datagrams_to_linux_and_back_both_families() {
    if !require_or_skip("udp_datagrams_to_linux_and_back_both_families") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("sud", "tapsud", "10.0.0.1/24", "fd00::1/64").unwrap();
    let nic = tap_stack(&net);
    let mut sock = nic.stack.udp_bind("[::]:0".parse().unwrap()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)));
    for (peer, port, max) in [("10.0.0.1", 7600u16, 1500 - 28), ("fd00::1", 7601, 1500 - 48)] {
        let n = 40;
        let mut echo = net.ns.spawn(&["python3", "-c", UDP_ECHO, peer, &port.to_string(), &n.to_string()]).unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(echo.stdout.as_mut().unwrap()), &mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        let dst = SocketAddr::new(peer.parse().unwrap(), port);
        let e = sock.send_to(&vec![0u8; max + 1], dst).unwrap_err();
        assert!(e.to_string().contains("EMSGSIZE"), "one byte over the MTU is refused, not fragmented: {e}");
        for i in 0..n {
            let len = [1, max, 18, 512, 1000][i % 5] + i % 3;
            let d = data(len.min(max), i as u64 + 10);
            sock.send_to(&d, dst).unwrap();
            let mut buf = vec![0u8; 2048];
            let (got, from) = sock.recv_from(&mut buf).expect("the echo");
            assert_eq!(from, dst);
            let mut back = buf[..got].to_vec();
            back.reverse();
            assert_eq!(back, d, "datagram {i} ({} bytes) came back intact", d.len());
        }
        assert!(echo.wait().unwrap().success());
    }
    let st = nic.stack.net_stats();
    assert!(st.udp.udps_opackets >= 80 && st.udp.udps_ipackets >= 80, "{:?}", st.udp);
    assert_eq!(st.udp.udps_badsum, 0);
    assert!(st.csum.l4_hw > 0, "received UDP checksums were verified by the NIC");
}

/// Waits for `child` to exit within `limit` (a panic naming `what` otherwise); its status and
/// everything it wrote to its piped stderr.
fn exit_within(child: &mut std::process::Child, limit: Duration, what: &str) -> (std::process::ExitStatus, String) {
    let t0 = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < limit, "{what}: still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status, err)
}

/// `nicctl nc` ends with an error when the peer resets, even while its standard input is still
/// open (a terminal, or a pipe whose writer is not done): it used to wait on standard input.
#[test]
fn nc_exits_with_an_error_when_the_peer_resets_even_with_stdin_open() {
    if !require_or_skip("nc_exits_with_an_error_when_the_peer_resets_even_with_stdin_open") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("snr", "tapsnr", "10.0.0.1/24", "fd00::1/64").unwrap();
    let up = Up::start(&net, "snr", &[]);
    let rst = python_peer_server(&net.ns, "10.0.0.1", 7500, PeerMode::Rst { after: 50_000 }).unwrap();
    let mut nc = up
        .nc()
        .args(["10.0.0.1", "7500"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // More than the peer reads before it resets; the pipe stays open after it (the writer
    // thread holds it until the test ends).
    let mut stdin = nc.stdin.take().unwrap();
    let (keep_tx, keep_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data(200_000, 9));
        let _ = keep_rx.recv();
    });
    let (status, err) = exit_within(&mut nc, Duration::from_secs(120), "nicctl nc, after the peer's reset");
    assert!(!status.success(), "a reset connection is a failure, not a success: {err}");
    assert!(err.to_lowercase().contains("reset"), "the reason is said: {err}");
    assert!(rst.finish(WAIT).unwrap().rst, "Linux did reset");
    drop(keep_tx);
    writer.join().unwrap();
}

/// A listener whose client went away (`nicctl nc -l` killed before anyone connected) stops
/// listening, instead of keeping the port open for a queue nobody reads.
#[test]
fn a_listener_whose_client_went_away_stops_listening() {
    if !require_or_skip("a_listener_whose_client_went_away_stops_listening") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("sal", "tapsal", "10.0.0.1/24", "fd00::1/64").unwrap();
    let up = Up::start(&net, "sal", &[]);
    let listening = || {
        let rows = nic_host::ctl::CtlClient::connect(&up.ctl).unwrap().request("netstat").unwrap();
        let rows: serde_json::Value = serde_json::from_str(&rows).unwrap();
        rows.as_array().unwrap().iter().any(|r| r["state"] == "LISTEN" && r["local"].as_str().unwrap().ends_with(":7600"))
    };
    let wait_for = |want: bool, what: &str| {
        let t0 = std::time::Instant::now();
        while listening() != want {
            assert!(t0.elapsed() < Duration::from_secs(30), "{what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let mut nc = up.nc().args(["-l", "7600"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for(true, "nicctl nc -l 7600 never listened");
    nc.kill().unwrap();
    nc.wait().unwrap();
    wait_for(false, "port 7600 still LISTENs 30 s after its only client went away");
}

/// The software TCP on a faulty wire to Linux (`nicctl up --faults`, both directions, at the
/// reliability issue's rates: 1 % drop, 0.5 % duplicate, 1 % reorder, 0.2 % corrupt): 16 MiB
/// each way over IPv4 and IPv6 arrive intact (SHA-256) while the wire's fault counters show
/// that it dropped, duplicated and reordered.
#[test]
fn sixteen_mib_each_way_v4_v6_through_drop_1_dup_05_reorder_1_corrupt_02_percent() {
    if !require_or_skip("sixteen_mib_each_way_v4_v6_through_drop_1_dup_05_reorder_1_corrupt_02_percent") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("sfl", "tapsfl", "10.0.0.1/24", "fd00::1/64").unwrap();
    let up = Up::start(&net, "sfl", &["--faults", "drop=0.01,dup=0.005,reorder=0.01,corrupt=0.002,seed=19"]);
    both_ways_n(&up, &net, "10.0.0.1", 7800, 31, 16 * MIB);
    both_ways_n(&up, &net, "fd00::1", 7810, 32, 16 * MIB);
    // The up process prints the wire's fault counters with its status lines.
    std::thread::sleep(Duration::from_millis(2500));
    let log = std::fs::read_to_string(tmp("sfl.log")).unwrap();
    let faults = log.lines().rev().find(|l| l.contains("wire faults:")).unwrap_or_else(|| panic!("no fault line in: {log}"));
    let n = |what: &str| -> u64 {
        faults.split(", ").find(|p| p.contains(what)).and_then(|p| p.split_whitespace().find_map(|w| w.parse().ok())).unwrap()
    };
    assert!(n("dropped") > 0 && n("duplicated") > 0 && n("reordered") > 0, "{faults}");
    // The same counters through the control socket, at least as high as the log's (later).
    let w = &up.status()["wire"];
    for k in ["dropped", "duplicated", "reordered"] {
        assert!(w[k].as_u64().is_some_and(|v| v >= n(k)), "status's wire.{k} against the log's {}: {w}", n(k));
    }
}

/// A stream cut short is an error: the stack killed mid-transfer (`kill -9`), `nicctl nc -l`
/// exits non-zero instead of 0 with a prefix of the data.
#[test]
fn nc_exits_with_an_error_when_the_stack_dies_mid_transfer() {
    if !require_or_skip("nc_exits_with_an_error_when_the_stack_dies_mid_transfer") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("scut", "tapscut", "10.0.0.1/24", "fd00::1/64").unwrap();
    let mut up = Up::start(&net, "scut", &[]);
    let output = tmp("cut-out");
    let mut nc = up
        .nc()
        .args(["-l", "7900"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let src = python_peer_client(&net.ns, "10.0.0.2", 7900, PeerMode::Source { bytes: (64 * MIB) as u64, seed: 40 }).unwrap();
    let t0 = std::time::Instant::now();
    while std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0) < MIB as u64 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no data arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    up.kill();
    let (status, err) = exit_within(&mut nc, Duration::from_secs(30), "nicctl nc -l, after the stack died");
    let got = std::fs::metadata(&output).unwrap().len();
    assert!(got < (64 * MIB) as u64, "the transfer was cut ({got} bytes)");
    assert!(!status.success(), "a cut stream ({got} of {} bytes) is not a success: {err}", 64 * MIB);
    assert!(err.contains("cut short"), "the reason is said: {err}");
    drop(src);
}
