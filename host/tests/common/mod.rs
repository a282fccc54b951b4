//! Shared test helpers: frame builders over the stack, and etherparse as the
//! independent reference that checks every checksum on the wire.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{NetHeaders, PacketHeaders, TransportHeader};
use nic_abi::ifcap::*;
use nic_host::ifnet::Ifnet;
use nic_host::mbuf::Mbuf;
use nic_host::net::tcp::{TH_ACK, TH_PUSH};
use nic_tcp::{TcpOptions, TcpRepr};
use nic_host::net::ether::{ETHERTYPE_IP, ETHERTYPE_IPV6};
use nic_host::net::{
    ether_output, tcp_output_segment, udp_output, IpOut, IpProtocol, Ipv4Out, Ipv6Ext, Ipv6Out, LinkOut, NetStats,
};

pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

/// Every offload this stack can request, including on tagged frames.
pub const ALL_CAPS: u32 = IFCAP_HWCSUM | IFCAP_HWCSUM_IPV6 | IFCAP_VLAN_HWCSUM | IFCAP_VLAN_MTU | IFCAP_JUMBO_MTU;

pub fn ifp(caps: u32) -> Ifnet {
    let mut i = Ifnet::new("ofld0", 1, caps, SRC_MAC);
    i.if_mtu = 9000;
    i
}

/// One frame shape of the test matrix.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub v6: bool,
    pub tcp: bool,
    pub vlan: bool,
    /// IPv4 options / IPv6 extension headers.
    pub opts: bool,
    pub len: usize,
}

pub fn matrix() -> Vec<Case> {
    let mut v = Vec::new();
    for v6 in [false, true] {
        for tcp in [false, true] {
            for vlan in [false, true] {
                for opts in [false, true] {
                    for len in [0, 1, 2, 7, 64, 1001, 1400, 8000] {
                        v.push(Case { v6, tcp, vlan, opts, len });
                    }
                }
            }
        }
    }
    v
}

pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

pub fn ip_out(case: &Case) -> IpOut {
    if case.v6 {
        let mut o = Ipv6Out::new(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0xffff, 2),
        );
        o.traffic_class = 0x28;
        o.flow_label = 0x12345;
        if case.opts {
            // hop-by-hop (PadN), routing type 2 with no segments left, destination options (PadN)
            let mut rh = vec![2, 0, 0, 0, 0, 0];
            rh.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0xffff, 2).octets());
            o.ext = vec![
                Ipv6Ext { kind: IpProtocol::HopByHop, body: vec![1, 4, 0, 0, 0, 0] },
                Ipv6Ext { kind: IpProtocol::Ipv6Route, body: rh },
                Ipv6Ext { kind: IpProtocol::Ipv6Opts, body: vec![1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
            ];
        }
        IpOut::V6(o)
    } else {
        let mut o = Ipv4Out::new(Ipv4Addr::new(192, 168, 0, 1), Ipv4Addr::new(192, 168, 0, 199));
        o.id = 0x1c46;
        o.tos = 0xb8;
        if case.opts {
            // NOP, NOP, then a record-route option (7) with room for one address, padded with EOL.
            o.options = vec![1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0];
        }
        IpOut::V4(o)
    }
}

pub fn link(case: &Case) -> LinkOut {
    LinkOut { dst: DST_MAC, src: SRC_MAC, vlan: case.vlan.then_some(0x6064) }
}

/// The tag `case`'s frame carries, as output is told it.
pub fn vlan(case: &Case) -> Option<u16> {
    link(case).vlan
}

/// The frame of an IP packet output built for `case`: its link header prepended, as the stack
/// does once the next hop is resolved.
pub fn framed(mut m: Mbuf, case: &Case, st: &mut NetStats) -> Mbuf {
    let ethertype = if case.v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IP };
    ether_output(&mut m, &link(case), ethertype, st);
    m
}

/// Builds the frame `case` describes through `udp_output` / `tcp_output_segment`, then `ether_output`.
pub fn build(ifp: &Ifnet, case: &Case, st: &mut NetStats) -> Mbuf {
    let data = payload(case.len, case.len as u8);
    let m = Mbuf::from_payload(&data);
    let ip = ip_out(case);
    if case.tcp {
        let seg = TcpRepr {
            src_port: 49152,
            dst_port: 80,
            seq: 0xdead_beef,
            ack: 0x0102_0304,
            flags: TH_ACK | TH_PUSH,
            window: 65535,
            // NOP NOP timestamps (1, 2)
            options: TcpOptions { timestamp: Some((1, 2)), ..Default::default() },
            payload: &data,
        };
        let m = tcp_output_segment(ifp, &seg, &ip, vlan(case), st).expect("tcp_output_segment");
        framed(m, case, st)
    } else {
        let m = udp_output(ifp, m, &ip, 5353, 53, vlan(case), st).expect("udp_output");
        framed(m, case, st)
    }
}

/// What etherparse found in a frame whose checksums it verified.
#[derive(Debug, PartialEq, Eq)]
pub struct Checked {
    pub v6: bool,
    pub tcp: bool,
    pub vlan: bool,
    pub payload: Vec<u8>,
    /// The L4 checksum on the wire.
    pub l4sum: u16,
}

/// Parses `frame` with etherparse and checks every checksum with etherparse's own arithmetic.
pub fn etherparse_check(frame: &[u8]) -> Checked {
    let p = PacketHeaders::from_ethernet_slice(frame).expect("etherparse parses the frame");
    let payload = p.payload.slice().to_vec();
    let vlan = p.vlan.is_some();
    match (p.net.expect("an IP header"), p.transport.expect("a TCP/UDP header")) {
        (NetHeaders::Ipv4(ip, _), TransportHeader::Udp(u)) => {
            assert_eq!(ip.header_checksum, ip.calc_header_checksum(), "IPv4 header checksum");
            assert_eq!(u.checksum, u.calc_checksum_ipv4(&ip, &payload).unwrap(), "UDP/IPv4 checksum");
            Checked { v6: false, tcp: false, vlan, payload, l4sum: u.checksum }
        }
        (NetHeaders::Ipv4(ip, _), TransportHeader::Tcp(t)) => {
            assert_eq!(ip.header_checksum, ip.calc_header_checksum(), "IPv4 header checksum");
            assert_eq!(t.checksum, t.calc_checksum_ipv4(&ip, &payload).unwrap(), "TCP/IPv4 checksum");
            Checked { v6: false, tcp: true, vlan, payload, l4sum: t.checksum }
        }
        (NetHeaders::Ipv6(ip, _), TransportHeader::Udp(u)) => {
            assert_eq!(u.checksum, u.calc_checksum_ipv6(&ip, &payload).unwrap(), "UDP/IPv6 checksum");
            Checked { v6: true, tcp: false, vlan, payload, l4sum: u.checksum }
        }
        (NetHeaders::Ipv6(ip, _), TransportHeader::Tcp(t)) => {
            assert_eq!(t.checksum, t.calc_checksum_ipv6(&ip, &payload).unwrap(), "TCP/IPv6 checksum");
            Checked { v6: true, tcp: true, vlan, payload, l4sum: t.checksum }
        }
        other => panic!("unexpected headers {other:?}"),
    }
}

/// Offsets of a frame's layers, from etherparse (not from our parser).
pub fn etherparse_offsets(frame: &[u8]) -> (usize, usize, usize) {
    let p = PacketHeaders::from_ethernet_slice(frame).unwrap();
    let l2 = 14 + if p.vlan.is_some() { 4 } else { 0 };
    let l3 = match p.net.unwrap() {
        NetHeaders::Ipv4(ip, _) => ip.header_len(),
        NetHeaders::Ipv6(_, ext) => 40 + ext.header_len(),
    };
    let l4 = match p.transport.unwrap() {
        TransportHeader::Udp(_) => 8,
        TransportHeader::Tcp(t) => t.header_len(),
        _ => unreachable!(),
    };
    (l2, l3, l4)
}
