//! `nicctl ifconfig` and `nicctl netstat` against a running stack (`nicctl
//! up` on a TAP, Linux's TCP on the far side):
//!
//! - FreeBSD's capability rules, each asserted from the command's exit
//!   status and output, and followed into `if_capenable`/`if_hwassist` and
//!   the NIC's CAPENABLE register;
//! - offloads switched off and on while 32 MiB flow to Linux (each family): the data
//!   arrives intact and the NIC's offload counters stop and resume with them;
//! - a NIC whose board straps offloads off (CAPDISABLE) shows them missing
//!   from `capabilities=`, and ifconfig ignores them as the mask says;
//! - netstat's listing of the sockets.
//!
//! Needs root (network namespace, TAP) and python3; skips with a SKIP line
//! otherwise, and fails instead when `NIC_REQUIRE_NETNS=1` (scripts/test).

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::netns::{python_peer_server, require_or_skip, PeerMode, PeerNet};
use common::up::{data, serial, sha256_file, tmp, Up, MIB, WAIT};
use nic_abi::ifcap::*;

fn nicctl(up: &Up, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nicctl"));
    c.arg(args[0]).arg("--ctl").arg(&up.ctl).args(&args[1..]);
    c.output().expect("run nicctl")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `if_capenable`, `if_hwassist` and the NIC's CAPENABLE register, from the stack.
fn caps(up: &Up) -> (u32, u32, u32) {
    let s = nic_host::ctl::CtlClient::connect(&up.ctl).unwrap().request("ifinfo nic0").unwrap();
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    let g = |k: &str| v[0][k].as_u64().unwrap() as u32;
    (g("capenable"), g("hwassist"), g("nic_capenable"))
}

/// ifconfig with `words`: must succeed, and returns what it printed.
fn ok(up: &Up, words: &[&str]) -> String {
    let mut a = vec!["ifconfig", "nic0"];
    a.extend_from_slice(words);
    let o = nicctl(up, &a);
    assert!(o.status.success(), "ifconfig nic0 {words:?} failed: {}", text(&o));
    text(&o)
}

/// ifconfig with `words`: must fail, and returns what it printed.
fn fails(up: &Up, words: &[&str]) -> String {
    let mut a = vec!["ifconfig", "nic0"];
    a.extend_from_slice(words);
    let o = nicctl(up, &a);
    assert!(!o.status.success(), "ifconfig nic0 {words:?} should fail: {}", text(&o));
    text(&o)
}

#[test]
fn capability_rules_reach_the_stack_and_the_nic() {
    if !require_or_skip("capability_rules_reach_the_stack_and_the_nic") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("ifr", "tapifr", "10.0.0.1/24", "fd00::1/64").unwrap();
    let up = Up::start(&net, "ifr", &[]);
    let all = caps(&up).0;
    let show = text(&nicctl(&up, &["ifconfig", "-m", "nic0"]));
    assert!(show.starts_with("nic0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500"), "{show}");
    assert!(show.contains(&format!("\toptions={all:x}<RXCSUM,TXCSUM,")), "{show}");
    assert!(show.contains("\tcapabilities=") && show.contains("\tether 02:6e:69:63:00:02"), "{show}");
    assert!(show.contains("\tinet 10.0.0.2 netmask 0xffffff00 broadcast 10.0.0.255"), "{show}");
    assert!(show.contains("\tinet6 fd00::2 prefixlen 64") && show.contains("%nic0 prefixlen 64 scopeid 0x1"), "{show}");

    // -txcsum also clears TSO4, and says so; the stack's hwassist and the register follow.
    let out = ok(&up, &["-txcsum"]);
    assert!(out.contains("nic0: tso4 disabled due to -txcsum"), "{out}");
    let (cap, assist, reg) = caps(&up);
    assert_eq!(cap, all & !(IFCAP_TXCSUM | IFCAP_TSO4));
    assert_eq!(reg, cap, "CAPENABLE in the NIC");
    assert_eq!(assist & (nic_abi::csum::CSUM_IP | nic_abi::csum::CSUM_IP_TCP | nic_abi::csum::CSUM_IP_TSO), 0);
    // tso4 without txcsum: EAGAIN, nothing changes.
    let out = fails(&up, &["tso4"]);
    assert!(out.contains("EAGAIN") && out.contains("enable txcsum first"), "{out}");
    assert_eq!(caps(&up).0, cap);
    ok(&up, &["txcsum", "tso4"]);
    assert_eq!(caps(&up), (all, nic_host::ifnet::hwassist_for(all), all));
    // The same for IPv6.
    let out = ok(&up, &["-txcsum6"]);
    assert!(out.contains("nic0: tso6 disabled due to -txcsum6"), "{out}");
    let out = fails(&up, &["tso6"]);
    assert!(out.contains("EAGAIN") && out.contains("enable txcsum6 first"), "{out}");
    ok(&up, &["txcsum6", "tso6"]);
    // rxcsum and rxcsum6 toggle alone.
    ok(&up, &["-rxcsum"]);
    assert_eq!(caps(&up).0, all & !IFCAP_RXCSUM);
    ok(&up, &["-rxcsum6", "rxcsum"]);
    assert_eq!(caps(&up).0, all & !IFCAP_RXCSUM_IPV6);
    ok(&up, &["rxcsum6"]);
    // tso: both at once.
    ok(&up, &["-tso"]);
    assert_eq!(caps(&up).0, all & !IFCAP_TSO);
    ok(&up, &["tso"]);
    // A capability the hardware lacks (this NIC has no TCP offload engine, no LRO) is masked
    // away: nothing is sent, nothing changes, no error — as FreeBSD's ifconfig computes it.
    assert_eq!(all & (IFCAP_TOE | IFCAP_LRO), 0);
    assert_eq!(ok(&up, &["toe", "lro"]), "");
    assert_eq!(caps(&up).0, all);
    // SIOCSIFCAP itself refuses bits the interface lacks (EINVAL); ifconfig never sends them.
    let e = nic_host::ctl::CtlClient::connect(&up.ctl).unwrap().request("setcap nic0 0xffffffff").unwrap_err();
    assert!(e.to_string().starts_with("EINVAL"), "{e}");
    assert_eq!(caps(&up).0, all);
    // Errors a person can act on.
    let out = fails(&up, &["-txcsum", "turbo"]);
    assert!(out.contains("unknown capability 'turbo'"), "{out}");
    assert_eq!(caps(&up).0, all, "nothing applied when a word is unknown");
    let out = text(&nicctl(&up, &["ifconfig", "nic7"]));
    assert!(out.contains("interface nic7 does not exist"), "{out}");
    let o = Command::new(env!("CARGO_BIN_EXE_nicctl"))
        .args(["ifconfig", "--ctl", "/nonexistent/nicctl.sock", "nic0"])
        .output()
        .unwrap();
    assert!(!o.status.success() && text(&o).contains("no stack answers at /nonexistent/nicctl.sock"), "{}", text(&o));
}

#[test]
fn a_board_without_tso_shows_it_missing_from_capabilities() {
    if !require_or_skip("a_board_without_tso_shows_it_missing_from_capabilities") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("ifm", "tapifm", "10.0.0.1/24", "fd00::1/64").unwrap();
    let up = Up::start(&net, "ifm", &["--hw-disable=tso4,tso6"]);
    let show = text(&nicctl(&up, &["ifconfig", "-m", "nic0"]));
    let caps_line = show.lines().find(|l| l.trim_start().starts_with("capabilities=")).expect("-m prints capabilities");
    assert!(!caps_line.contains("TSO4") && !caps_line.contains("TSO6"), "{caps_line}");
    assert!(caps_line.contains("TXCSUM") && caps_line.contains("RXCSUM"), "{caps_line}");
    let without_m = text(&nicctl(&up, &["ifconfig", "nic0"]));
    assert!(!without_m.contains("capabilities="), "capabilities only with -m");
    // tso4 is masked away: accepted and ignored, exactly as (cur | TSO4) & supported says.
    assert_eq!(ok(&up, &["tso4"]), "");
    let (cap, _, reg) = caps(&up);
    assert_eq!((cap & IFCAP_TSO, reg & IFCAP_TSO), (0, 0));
}

fn hw(up: &Up, name: &str) -> u64 {
    up.status()["nic"][name].as_u64().unwrap()
}

/// Counters of the NIC (and the stack) over `d` while traffic flows.
fn moved(up: &Up, d: Duration) -> (u64, u64, u64, u64, u64) {
    let s0 = up.status();
    std::thread::sleep(d);
    let s1 = up.status();
    let diff = |a: &serde_json::Value, b: &serde_json::Value| b.as_u64().unwrap() - a.as_u64().unwrap();
    (
        diff(&s0["nic"]["tx_frames"], &s1["nic"]["tx_frames"]),
        diff(&s0["nic"]["tx_csum_l4"], &s1["nic"]["tx_csum_l4"]),
        diff(&s0["nic"]["tx_tso_segs"], &s1["nic"]["tx_tso_segs"]),
        diff(&s0["csum"]["l4_hw"], &s1["csum"]["l4_hw"]),
        diff(&s0["csum"]["tx_sw"], &s1["csum"]["tx_sw"]),
    )
}

#[test]
fn toggling_offloads_during_a_transfer_keeps_the_data_and_moves_the_counters() {
    if !require_or_skip("toggling_offloads_during_a_transfer_keeps_the_data_and_moves_the_counters") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("ift", "tapift", "10.0.0.1/24", "fd00::1/64").unwrap();
    let up = Up::start(&net, "ift", &[]);
    for (peer, port, v6) in [("10.0.0.1", 7400u16, false), ("fd00::1", 7401, true)] {
        let input = tmp(&format!("toggle-{port}"));
        std::fs::write(&input, data(32 * MIB, port as u64)).unwrap();
        let sink = python_peer_server(&net.ns, peer, port, PeerMode::Sink).unwrap();
        let mut nc = up
            .nc()
            .arg(peer)
            .arg(port.to_string())
            .stdin(std::fs::File::open(&input).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let (txcsum, tso, rxcsum) = if v6 { ("txcsum6", "tso6", "rxcsum6") } else { ("txcsum", "tso4", "rxcsum") };
        // On: the NIC checksums and segments.
        let (f, l4, segs, _, _) = moved(&up, Duration::from_millis(500));
        assert!(f > 0 && l4 > 0 && segs > 0, "{peer}: with offloads on the NIC works ({f} frames, {l4} checksums, {segs} TSO segments)");
        // TSO off alone: segments stop, checksums go on in the NIC.
        ok(&up, &[&format!("-{tso}")]);
        let (f, l4, segs, _, _) = moved(&up, Duration::from_millis(500));
        assert!(f > 0 && l4 > 0, "{peer}: data flows with -{tso}");
        assert_eq!(segs, 0, "{peer}: no TSO segment while {tso} is off");
        // Checksums off (TSO stays off with them): the stack computes them.
        let out = ok(&up, &[&format!("-{txcsum}")]);
        assert!(out.is_empty(), "tso already off: no message ({out})");
        let (f, l4, segs, _, sw) = moved(&up, Duration::from_millis(500));
        assert!(f > 0 && sw > 0, "{peer}: data flows, checksummed by the stack, with -{txcsum}");
        assert_eq!((l4, segs), (0, 0), "{peer}: the NIC computes no L4 checksum while {txcsum} is off");
        // Receive checksums off: the stack stops trusting the NIC (ACKs verified in software).
        ok(&up, &[&format!("-{rxcsum}")]);
        let (_, _, _, rx_hw, _) = moved(&up, Duration::from_millis(500));
        assert_eq!(rx_hw, 0, "{peer}: no received checksum taken from the NIC while {rxcsum} is off");
        // Everything back on: the counters move again.
        ok(&up, &[txcsum, tso, rxcsum]);
        let (f, l4, segs, rx_hw, _) = moved(&up, Duration::from_millis(500));
        assert!(f > 0 && l4 > 0 && segs > 0 && rx_hw > 0, "{peer}: offloads resume ({l4}, {segs}, {rx_hw})");
        assert!(nc.wait().unwrap().success(), "nicctl nc {peer}");
        let r = sink.finish(WAIT).unwrap();
        assert_eq!((r.bytes as usize, r.sha256), (32 * MIB, sha256_file(&input)), "{peer}: the data arrived intact");
    }
    assert!(hw(&up, "tx_desc_err") == 0, "the NIC refused no descriptor across the toggles");
}

#[test]
fn netstat_lists_sockets_like_freebsd() {
    if !require_or_skip("netstat_lists_sockets_like_freebsd") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("ifn", "tapifn", "10.0.0.1/24", "fd00::1/64").unwrap();
    let up = Up::start(&net, "ifn", &[]);
    let sink = python_peer_server(&net.ns, "fd00::1", 7500, PeerMode::Sink).unwrap();
    let mut nc = up.nc().args(["fd00::1", "7500"]).stdin(Stdio::piped()).spawn().unwrap();
    let mut lst = up.nc().args(["-l", "7501"]).stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    let listing = loop {
        let o = text(&nicctl(&up, &["netstat", "-n", "-a"]));
        if o.contains("ESTABLISHED") && o.contains("LISTEN") {
            break o;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{o}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut lines = listing.lines();
    assert_eq!(lines.next(), Some("Active Internet connections (including servers)"));
    assert_eq!(lines.next(), Some("Proto Recv-Q Send-Q Local Address          Foreign Address        (state)"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert!(
        rows.iter().any(|r| r[0] == "tcp6" && r[3].starts_with("fd00::2.") && r[4] == "fd00::1.7500" && r[5] == "ESTABLISHED"),
        "{listing}"
    );
    assert!(rows.iter().any(|r| r[0] == "tcp46" && r[3] == "*.7501" && r[4] == "*.*" && r[5] == "LISTEN"), "{listing}");
    let plain = text(&nicctl(&up, &["netstat"]));
    assert!(plain.starts_with("Active Internet connections\n") && !plain.contains("LISTEN"), "servers only with -a: {plain}");
    drop(nc.stdin.take());
    assert!(nc.wait().unwrap().success());
    sink.finish(WAIT).unwrap();
    let _ = lst.kill();
    let _ = lst.wait();
}
