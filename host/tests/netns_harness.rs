//! The Linux-peer harness (tests/common/netns.rs) checked against Linux
//! itself, independently of our stack: the routed topology forwards, and
//! the Python peers move 1 MiB with matching SHA-256 on both ends, over IPv4
//! and IPv6, and see a reset as `ConnectionResetError`.
//!
//! Needs root, iproute2, /dev/net/tun, python3 and ping; skips with a SKIP
//! line otherwise, fails instead when `NIC_REQUIRE_NETNS=1` (scripts/test).

mod common;

use std::time::Duration;

use common::netns::{
    python_peer_client, python_peer_server, require_or_skip, PeerMode, PeerNet, PEER_V4, PEER_V6,
    ROUTER_V4, ROUTER_V6,
};

const MIB: u64 = 1 << 20;
const WAIT: Duration = Duration::from_secs(60);

#[test]
fn routed_peer_net_carries_python_tcp_both_families() {
    if !require_or_skip("routed_peer_net_carries_python_tcp_both_families") {
        return;
    }
    let net = PeerNet::routed("nh", "tapnh0").expect("build the routed topology");
    let (router, peer) = (&net.ns, net.peer());
    for (from, to) in [
        (router, PEER_V4),
        (router, PEER_V6),
        (peer, ROUTER_V4),
        (peer, ROUTER_V6),
    ] {
        from.run(&["ping", "-c1", "-W2", to])
            .expect("ping across the veth");
    }
    // The peer reaches the TAP's addresses through its default routes.
    peer.run(&["ping", "-c1", "-W2", "10.0.0.1"])
        .expect("ping the router's TAP address");
    peer.run(&["ping", "-c1", "-W2", "fd00::1"])
        .expect("ping the router's TAP IPv6 address");

    for (addr, port) in [(PEER_V4, 5001), (PEER_V6, 5002)] {
        let sink = python_peer_server(peer, addr, port, PeerMode::Sink).unwrap();
        let source = python_peer_client(
            router,
            addr,
            port,
            PeerMode::Source {
                bytes: MIB,
                seed: 7,
            },
        )
        .unwrap();
        let sent = source.finish(WAIT).unwrap();
        let got = sink.finish(WAIT).unwrap();
        assert_eq!((sent.bytes, &sent.error), (MIB, &None), "{addr}: {sent:?}");
        assert_eq!(got, sent, "{addr}: the sink received what the source sent");
        assert_eq!(sent.sha256.len(), 64);
    }

    // The same seed gives the same bytes (the source side is reproducible).
    let sink = python_peer_server(peer, PEER_V4, 5003, PeerMode::Sink).unwrap();
    let again = python_peer_client(
        router,
        PEER_V4,
        5003,
        PeerMode::Source {
            bytes: MIB,
            seed: 7,
        },
    )
    .unwrap();
    let again = again.finish(WAIT).unwrap();
    sink.finish(WAIT).unwrap();

    // A listening source in the peer, a connecting sink in the router.
    let source = python_peer_server(
        peer,
        PEER_V6,
        5004,
        PeerMode::Source {
            bytes: MIB,
            seed: 7,
        },
    )
    .unwrap();
    let sink = python_peer_client(router, PEER_V6, 5004, PeerMode::Sink).unwrap();
    let got = sink.finish(WAIT).unwrap();
    let sent = source.finish(WAIT).unwrap();
    assert_eq!(got, sent);
    assert_eq!(
        got.sha256, again.sha256,
        "seed 7 gives the same 1 MiB every time"
    );

    // A reset: the rst peer reads 1000 bytes and aborts; the source sees ConnectionResetError.
    let rst = python_peer_server(peer, PEER_V4, 5005, PeerMode::Rst { after: 1000 }).unwrap();
    let source = python_peer_client(
        router,
        PEER_V4,
        5005,
        PeerMode::Source {
            bytes: 8 * MIB,
            seed: 1,
        },
    )
    .unwrap();
    let r = rst.finish(WAIT).unwrap();
    let s = source.finish(WAIT).unwrap();
    assert!(r.rst && r.bytes == 1000 && r.error.is_none(), "{r:?}");
    assert_eq!(s.error.as_deref(), Some("ConnectionResetError"), "{s:?}");
}

#[test]
fn router_sends_icmp_too_big_when_the_route_mtu_is_lowered() {
    // What the stack's PMTU tests rely on, checked from the peer's side: a DF
    // packet the router must forward over a smaller route MTU comes back as
    // "Frag needed" (ping prints the next-hop MTU).
    if !require_or_skip("router_sends_icmp_too_big_when_the_route_mtu_is_lowered") {
        return;
    }
    let net = PeerNet::routed("nhm", "tapnh1").expect("build the routed topology");
    let peer = net.peer();
    // Toward the TAP side (no NIC attached: the packet never needs to arrive).
    net.ns
        .ip(&[
            "route",
            "replace",
            "10.0.0.0/24",
            "dev",
            "tapnh1",
            "mtu",
            "1400",
        ])
        .unwrap();
    let out = peer.exec(&["ping", "-c1", "-W2", "-M", "do", "-s", "1472", "10.0.0.2"]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("mtu = 1400") || text.contains("mtu=1400"),
        "{text}"
    );
    // set_route_mtu toward the peer is accepted for both families.
    net.set_route_mtu(PEER_V4, 1300).unwrap();
    net.set_route_mtu(PEER_V6, 1280).unwrap();
    let routes = net.ns.ip(&["route", "get", PEER_V4]).unwrap();
    assert!(routes.contains("mtu 1300"), "{routes}");
    net.set_link_mtu(1400).unwrap();
    peer.run(&["ping", "-c1", "-W2", "-M", "do", "-s", "1372", ROUTER_V4])
        .expect("1400-byte packets still pass");
}
