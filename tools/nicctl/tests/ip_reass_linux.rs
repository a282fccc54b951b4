//! IP reassembly against Linux, as root: Linux's own fragmenter cuts UDP datagrams larger than
//! the TAP's MTU (IPv4 and IPv6), and the stack's UDP socket must receive each one whole and byte
//! for byte, the reassembly counters saying so. Before reassembly every one of them was dropped.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::netns::{require_or_skip, tap_stack, PeerNet};
use common::up::serial;

/// The bytes of a datagram of `n` bytes, as the Python sender makes them.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + n) % 251) as u8).collect()
}

#[test]
fn udp_datagrams_linux_cut_into_fragments_arrive_whole_v4_v6() {
    if !require_or_skip("udp_datagrams_linux_cut_into_fragments_arrive_whole_v4_v6") {
        return;
    }
    let _g = serial();
    let net = PeerNet::tap("sfrag", "tapsfrag", "10.0.0.1/24", "fd00::1/64").unwrap();
    let nic = tap_stack(&net);
    let sizes = [3000usize, 8000, 20_000, 64_900];
    for (stack, port, family) in [("10.0.0.2", 7731u16, "AF_INET"), ("fd00::2", 7732, "AF_INET6")] {
        let mut sock = nic.stack.udp_bind(SocketAddr::new(stack.parse().unwrap(), port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(30)));
        let list = sizes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        let script = format!(
            "import socket\ns = socket.socket(socket.{family}, socket.SOCK_DGRAM)\n\
             for n in ({list},):\n    s.sendto(bytes((i * 7 + n) % 251 for i in range(n)), ('{stack}', {port}))\n"
        );
        net.ns.run(&["python3", "-c", &script]).expect("Linux sends the datagrams");
        let mut buf = vec![0u8; 1 << 17];
        for n in sizes {
            let (got, from) = sock.recv_from(&mut buf).unwrap_or_else(|e| panic!("{stack}: the {n}-byte datagram: {e}"));
            assert_eq!(got, n, "{stack}: a datagram of {n} bytes from {from}");
            assert!(buf[..got] == pattern(n)[..], "{stack}: the {n}-byte datagram's bytes");
        }
    }
    let (st, r) = (nic.stack.net_stats(), nic.stack.reass_stats());
    assert_eq!((st.ip.ips_reassembled, st.ip6.ip6s_reassembled), (4, 4), "{r:?}");
    assert_eq!((r.overlaps, r.bad, r.limited, r.timed_out), (0, 0, 0, 0), "{r:?}");
}
