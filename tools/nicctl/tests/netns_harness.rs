//! The Linux-peer harness (tests/common/netns.rs) checked against Linux
//! itself, independently of our stack: the routed topology forwards, and
//! the Python peers move 1 MiB with matching SHA-256 on both ends, over IPv4
//! and IPv6, and see a reset as `ConnectionResetError`; and the router
//! answers oversize DF packets with ICMP/ICMPv6 "too big" (path MTU
//! discovery), both from the peer's side and from the TAP's.
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

#[test]
fn router_answers_oversize_frames_from_the_tap_with_icmp_too_big() {
    // The direction the stack's PMTU tests use: a DF packet written into the
    // router's TAP (where the NIC sits) toward the peer, over a route whose
    // MTU was lowered with set_route_mtu, comes back out of the TAP as ICMP
    // "fragmentation needed" / ICMPv6 "packet too big" carrying that MTU.
    use etherparse::{Icmpv4Type, Icmpv6Type, PacketBuilder, SlicedPacket, TransportSlice};
    if !require_or_skip("router_answers_oversize_frames_from_the_tap_with_icmp_too_big") {
        return;
    }
    let net = PeerNet::routed("nht", "tapnh2").expect("build the routed topology");
    let tap = nic_sim::tap::open_in_netns(&net.ns.name, &net.tap).expect("open the router's TAP");
    let mac = net
        .ns
        .run(&["cat", "/sys/class/net/tapnh2/address"])
        .unwrap();
    let router_mac: Vec<u8> = mac
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    let our_mac = [0x02, 0, 0, 0, 0, 0x02];
    // The router answers 10.0.0.2 / fd00::2 without asking (nobody here answers ARP/ND).
    net.ns
        .ip(&[
            "neigh",
            "replace",
            "10.0.0.2",
            "lladdr",
            "02:00:00:00:00:02",
            "dev",
            "tapnh2",
        ])
        .unwrap();
    net.ns
        .ip(&[
            "-6",
            "neigh",
            "replace",
            "fd00::2",
            "lladdr",
            "02:00:00:00:00:02",
            "dev",
            "tapnh2",
        ])
        .unwrap();
    net.set_route_mtu(PEER_V4, 1400).unwrap();
    net.set_route_mtu(PEER_V6, 1280).unwrap();

    let payload = vec![0u8; 1500 - 20 - 8];
    let eth = || PacketBuilder::ethernet2(our_mac, router_mac[..6].try_into().unwrap());
    let mut v4 = Vec::new();
    // etherparse's IPv4 header has DF set by default.
    eth()
        .ipv4([10, 0, 0, 2], [10, 0, 1, 2], 64)
        .udp(5000, 9)
        .write(&mut v4, &payload)
        .unwrap();
    let mut v6 = Vec::new();
    let v6_src = "fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets();
    let v6_dst = PEER_V6.parse::<std::net::Ipv6Addr>().unwrap().octets();
    eth()
        .ipv6(v6_src, v6_dst, 64)
        .udp(5000, 9)
        .write(&mut v6, &payload[20..])
        .unwrap();

    for (frame, want) in [(v4, 1400u32), (v6, 1280)] {
        tap.write_frame(&frame).unwrap();
        let mut buf = vec![0u8; 2048];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut got = None;
        while got.is_none() && std::time::Instant::now() < deadline {
            let Some(n) = tap
                .read_frame(&mut buf, Duration::from_millis(100))
                .unwrap()
            else {
                continue;
            };
            let Ok(p) = SlicedPacket::from_ethernet(&buf[..n]) else {
                continue;
            };
            got = match p.transport {
                Some(TransportSlice::Icmpv4(i)) => match i.icmp_type() {
                    Icmpv4Type::DestinationUnreachable(
                        etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                            next_hop_mtu,
                        },
                    ) => Some(next_hop_mtu as u32),
                    _ => None,
                },
                Some(TransportSlice::Icmpv6(i)) => match i.icmp_type() {
                    Icmpv6Type::PacketTooBig { mtu } => Some(mtu),
                    _ => None,
                },
                _ => None,
            };
        }
        assert_eq!(
            got,
            Some(want),
            "ICMP too-big from the router through the TAP"
        );
    }
}
