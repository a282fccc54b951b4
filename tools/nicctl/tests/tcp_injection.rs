//! Blind data injection, tried for real: Linux's TCP holds a connection with
//! the stack on the co-simulated NIC while an attacker in the same namespace
//! writes forged segments onto the TAP (`common/inject.py`). Each forgery has
//! the right addresses, ports, checksums and SEQ = the stack's RCV.NXT, but an
//! ACK the stack must refuse: ahead of SND.MAX (RFC 9293 §3.10.7.4) or far
//! below SND.UNA (RFC 5961 §5.2). The application must read exactly what
//! Linux sent, the forgeries must be answered with an ACK naming the real
//! RCV.NXT, and the connection's counters must say what was refused.
//!
//! Before the fix the first forgery's payload (and FIN) reached the
//! application in place of Linux's bytes.
//!
//! Beside it, the other segments an attacker or a careless peer sends that
//! must get RFC 9293's answer and no other: no SYN and no ACK to a listener
//! (dropped, §3.10.7.2; a closed port's RST+ACK is the control), a connect
//! to the stack's own address (refused at once, not timed out), and one to
//! an on-link address nobody answers for (EHOSTUNREACH once ARP or ND gives
//! up, not a timeout two minutes later).
//!
//! Needs root, iproute2, /dev/net/tun and python3; skips with a SKIP line
//! otherwise, and fails instead when `NIC_REQUIRE_NETNS=1` (scripts/test).

mod common;

use std::io::Read;
use std::net::{Shutdown, SocketAddr};
use std::path::Path;
use std::time::Duration;

use common::netns::{require_or_skip, tap_stack, PeerNet};
use common::up::serial;
use nic_host::stack::socket::SockOpts;

const BYTES: usize = 4000;

fn attack(net: &PeerNet, nic: &nic_testbench::tapnic::TapNic, linux: &str, stack: &str, port: u16) {
    let listen: SocketAddr = SocketAddr::new(stack.parse().unwrap(), port);
    let l = nic.stack.tcp_listen(listen, 4, SockOpts::default()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/inject.py");
    let script = script.display().to_string();
    let (bytes, port_s) = (BYTES.to_string(), port.to_string());
    let attacker = net
        .ns
        .spawn(&["python3", &script, &net.tap, linux, stack, &port_s, "--bytes", &bytes])
        .expect("start inject.py");
    let mut conn = l.accept_timeout(Duration::from_secs(120)).unwrap().expect("Linux connected");
    conn.set_read_timeout(Some(Duration::from_secs(180)));
    let mut got = Vec::new();
    conn.read_to_end(&mut got).expect("the stream ends with Linux's FIN, not an error");
    // Our FIN ends inject.py's wait for the close.
    conn.shutdown(Shutdown::Write).unwrap();
    let out = attacker.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "inject.py failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();

    let mut sent = vec![b'A'; BYTES];
    sent.extend(std::iter::repeat_n(b'B', BYTES));
    assert!(
        got == sent,
        "{linux} -> {stack}: the application read {} bytes that differ from Linux's {} (forged bytes: {})",
        got.len(),
        sent.len(),
        String::from_utf8_lossy(&got).contains("FORGED")
    );
    let rcv_nxt = &report["rcv_nxt"];
    assert_eq!(&report["ahead_ack"], rcv_nxt, "the forgery ahead of SND.MAX was answered with an ACK of RCV.NXT");
    assert_eq!(&report["behind_ack"], rcv_nxt, "the forgery below SND.UNA was answered with an ACK of RCV.NXT");
    let st = conn.info().stats;
    assert_eq!((st.rcvacktoomuch, st.rcvacktooold), (1, 1), "counted: {st:?}");
}

#[test]
fn forged_segments_with_unacceptable_acks_never_reach_the_application_v4_v6() {
    if !require_or_skip("forged_segments_with_unacceptable_acks_never_reach_the_application_v4_v6") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("sinj", "tapsinj", "10.0.0.1/24", "fd00::1/64").unwrap();
    let nic = tap_stack(&net);
    attack(&net, &nic, "10.0.0.1", "10.0.0.2", 7701);
    attack(&net, &nic, "fd00::1", "fd00::2", 7702);
}

/// RFC 9293 §3.10.7.2: a segment with neither SYN nor ACK (no flags, or FIN alone) to a listening
/// port is dropped without an answer, as FreeBSD and Linux do; the same to a closed port gets
/// RST+ACK (§3.10.7.1), which shows the probe reaches the stack and the test can fail.
#[test]
fn segments_without_syn_or_ack_to_a_listener_are_dropped_unanswered_v4_v6() {
    if !require_or_skip("segments_without_syn_or_ack_to_a_listener_are_dropped_unanswered_v4_v6") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("snof", "tapsnof", "10.0.0.1/24", "fd00::1/64").unwrap();
    let nic = tap_stack(&net);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/inject.py").display().to_string();
    let before = nic.stack.counters().badsyn.load(std::sync::atomic::Ordering::Relaxed);
    for (linux, stack, port) in [("10.0.0.1", "10.0.0.2", 7721u16), ("fd00::1", "fd00::2", 7722)] {
        let l = nic.stack.tcp_listen(SocketAddr::new(stack.parse().unwrap(), port), 4, SockOpts::default()).unwrap();
        let out = net
            .ns
            .exec(&["python3", &script, &net.tap, linux, stack, &port.to_string(), "--probe-flags", "7799"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "inject.py --probe-flags: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        let r: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
        assert_eq!(r["listen"], serde_json::json!([]), "{stack}: the listener answered a segment without SYN or ACK");
        // RST|ACK = 0x14, once for each probe.
        assert_eq!(r["closed"], serde_json::json!([0x14, 0x14]), "{stack}: a closed port answers with RST+ACK");
        drop(l);
    }
    let after = nic.stack.counters().badsyn.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 4, "each dropped probe is counted (badsyn)");
}

/// Connecting to the stack's own address fails at once with the reason (it waited two minutes
/// for a SYN timeout before).
#[test]
fn connecting_to_our_own_address_fails_at_once_v4_v6() {
    if !require_or_skip("connecting_to_our_own_address_fails_at_once_v4_v6") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("sown", "tapsown", "10.0.0.1/24", "fd00::1/64").unwrap();
    let nic = tap_stack(&net);
    for own in ["10.0.0.2:7730", "[fd00::2]:7731"] {
        let _l = nic.stack.tcp_listen(own.parse().unwrap(), 4, SockOpts::default()).unwrap();
        let t0 = std::time::Instant::now();
        let e = nic.stack.tcp_connect(own.parse().unwrap(), SockOpts::default()).err().expect("refused");
        assert!(t0.elapsed() < Duration::from_secs(5), "{own}: took {:?}", t0.elapsed());
        assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{own}: {e}");
        assert!(e.to_string().contains("own address"), "{e}");
    }
}

/// Connecting to an on-link address nobody answers for ends with EHOSTUNREACH once address
/// resolution gives up (ARP or ND: a few seconds), not with a timeout two minutes later.
#[test]
fn connecting_to_an_address_nobody_answers_for_fails_with_host_unreachable_v4_v6() {
    if !require_or_skip("connecting_to_an_address_nobody_answers_for_fails_with_host_unreachable_v4_v6") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("snob", "tapsnob", "10.0.0.1/24", "fd00::1/64").unwrap();
    let nic = tap_stack(&net);
    for nobody in ["10.0.0.77:7740", "[fd00::77]:7741"] {
        let t0 = std::time::Instant::now();
        let e = nic.stack.tcp_connect(nobody.parse().unwrap(), SockOpts::default()).err().expect("no connection");
        assert_eq!(e.kind(), std::io::ErrorKind::HostUnreachable, "{nobody}: {e}");
        assert!(t0.elapsed() < Duration::from_secs(30), "{nobody}: took {:?}", t0.elapsed());
    }
}
