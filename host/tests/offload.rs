//! `prepare_tx` / `software_finish` against frames etherparse built (the
//! independent reference), and the refusals a pcap replay tool relies on.

mod common;

use common::*;
use etherparse::{PacketBuilder, TcpHeader};
use nic_abi::csum::*;
use nic_abi::ifcap::*;
use nic_host::ifnet::hwassist_for;
use nic_host::net::NetStats;
use nic_host::offload::{prepare_tx, software_finish, Unoffloadable};

const ALL: u32 = ALL_CAPS;

fn assist() -> u32 {
    hwassist_for(ALL)
}

/// Frames built by etherparse, with correct checksums.
fn reference_frames() -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for len in [0usize, 1, 3, 46, 1000, 1473] {
        let p = payload(len, 9);
        let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC).ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(1000, 2000);
        let mut f = Vec::new();
        b.write(&mut f, &p).unwrap();
        v.push((format!("udp4 {len}"), f));

        let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
            .single_vlan(etherparse::VlanId::try_new(42).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1000, 2000, 77, 4096)
            .ack(5);
        let mut f = Vec::new();
        b.write(&mut f, &p).unwrap();
        v.push((format!("tcp4 vlan {len}"), f));

        let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC).ipv6([0x20; 16], [0x30; 16], 64).udp(1000, 2000);
        let mut f = Vec::new();
        b.write(&mut f, &p).unwrap();
        v.push((format!("udp6 {len}"), f));

        let mut th = TcpHeader::new(1000, 2000, 99, 1024);
        th.syn = true;
        th.set_options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)]).unwrap();
        let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC).ipv6([0x20; 16], [0x30; 16], 64).tcp_header(th);
        let mut f = Vec::new();
        b.write(&mut f, &p).unwrap();
        v.push((format!("tcp6 {len}"), f));
    }
    // Our own output with IPv4 options and IPv6 extension headers (checked by etherparse below).
    for case in matrix().into_iter().filter(|c| c.opts && c.len < 2000) {
        let f = build(&ifp(0), &case, &mut NetStats::default()).into_vec();
        v.push((format!("{case:?}"), f));
    }
    v
}

#[test]
fn hardware_result_equals_software_result() {
    for (name, frame) in reference_frames() {
        etherparse_check(&frame);
        let m = prepare_tx(&frame, assist(), ALL).unwrap_or_else(|e| panic!("{name}: {e}"));
        let v6 = frame[12..14] == [0x86, 0xdd] || frame[16..18] == [0x86, 0xdd];
        assert_eq!(m.pkthdr.csum_flags & CSUM_IP != 0, !v6, "{name}");
        assert_ne!(m.pkthdr.csum_flags & (CSUM_DELAY_DATA | CSUM_DELAY_DATA_IPV6), 0, "{name}");
        let (l2, l3, l4) = etherparse_offsets(&frame);
        assert_eq!((m.pkthdr.l2hlen as usize, m.pkthdr.l3hlen as usize, m.pkthdr.l4hlen as usize), (l2, l3, l4));
        if !v6 {
            assert_eq!(&m.data()[l2 + 10..l2 + 12], &[0, 0], "{name}: ip_sum zeroed");
        }
        assert_ne!(m.data(), &frame[..], "{name}: the checksums were re-seeded");
        assert_eq!(software_finish(&m).unwrap(), frame, "{name}");

        // Without offloads the stack finishes everything itself: the frame comes back unchanged.
        let s = prepare_tx(&frame, 0, 0).unwrap();
        assert_eq!(s.pkthdr.csum_flags, 0, "{name}");
        assert_eq!(s.data(), &frame[..], "{name}");
        assert_eq!(software_finish(&s).unwrap(), frame, "{name}");
    }
}

#[test]
fn wrong_checksums_in_a_capture_come_out_right() {
    for (name, mut frame) in reference_frames() {
        let (l2, l3, _) = etherparse_offsets(&frame);
        let tcp = etherparse_check_proto_is_tcp(&frame);
        // Break the IPv4 header checksum (if any) and the L4 checksum.
        if frame[l2] >> 4 == 4 {
            frame[l2 + 10] ^= 0x11;
        }
        let f = l2 + l3 + if tcp { 16 } else { 6 };
        frame[f] ^= 0x22;
        for hw in [0, assist()] {
            let m = prepare_tx(&frame, hw, ALL).unwrap_or_else(|e| panic!("{name}: {e}"));
            etherparse_check(&software_finish(&m).unwrap());
        }
    }
}

fn etherparse_check_proto_is_tcp(frame: &[u8]) -> bool {
    matches!(
        etherparse::PacketHeaders::from_ethernet_slice(frame).unwrap().transport,
        Some(etherparse::TransportHeader::Tcp(_))
    )
}

#[test]
fn tagged_frames_need_vlanhwcsum() {
    let (_, frame) = reference_frames().into_iter().find(|(n, _)| n == "tcp4 vlan 46").unwrap();
    let m = prepare_tx(&frame, assist(), ALL & !IFCAP_VLAN_HWCSUM).unwrap();
    assert_eq!(m.pkthdr.csum_flags, 0);
    assert_eq!(m.data(), &frame[..]);
}

#[test]
fn link_padding_is_dropped() {
    let (_, frame) = reference_frames().into_iter().find(|(n, _)| n == "udp4 1").unwrap();
    let mut padded = frame.clone();
    padded.resize(60, 0xa5);
    let m = prepare_tx(&padded, assist(), ALL).unwrap();
    assert_eq!(m.len(), frame.len());
    assert_eq!(software_finish(&m).unwrap(), frame);
}

#[test]
fn udp4_without_checksum_stays_without() {
    let (_, mut frame) = reference_frames().into_iter().find(|(n, _)| n == "udp4 46").unwrap();
    frame[14 + 20 + 6] = 0;
    frame[14 + 20 + 7] = 0;
    let m = prepare_tx(&frame, assist(), ALL).unwrap();
    assert_eq!(m.pkthdr.csum_flags, CSUM_IP);
    let out = software_finish(&m).unwrap();
    assert_eq!(out, frame);
}

#[test]
fn routing_header_seed_uses_the_final_destination() {
    // Routing type 0 with one segment left: the pseudo-header's destination is the last address.
    let final_dst = [0x77u8; 16];
    let mut frame = vec![0u8; 14];
    frame[12..14].copy_from_slice(&[0x86, 0xdd]);
    let mut ip = vec![0x60, 0, 0, 0, 0, 0, 43, 64];
    ip.extend_from_slice(&[0x20; 16]);
    ip.extend_from_slice(&[0x30; 16]);
    let mut rh = vec![17, 2, 0, 1, 0, 0, 0, 0];
    rh.extend_from_slice(&final_dst);
    let udp = [0x03, 0xe8, 0x07, 0xd0, 0, 10, 0, 0, 0xab, 0xcd];
    let plen = (rh.len() + udp.len()) as u16;
    ip[4..6].copy_from_slice(&plen.to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&rh);
    frame.extend_from_slice(&udp);
    let m = prepare_tx(&frame, assist(), ALL).unwrap();
    let f = 14 + 40 + 24 + 6;
    let seed = u16::from_be_bytes([m.data()[f], m.data()[f + 1]]);
    // Seeded with the routing header's final destination (RFC 8200 §8.1), by etherparse's arithmetic.
    let pseudo = |dst: [u8; 16]| {
        !etherparse::checksum::Sum16BitWords::new()
            .add_slice(&[0x20; 16])
            .add_slice(&dst)
            .add_2bytes([0, 17])
            .add_4bytes(10u32.to_be_bytes())
            .ones_complement()
            .to_be() // etherparse sums in native byte order and converts at the end
    };
    assert_eq!(seed, pseudo(final_dst));
    assert_eq!(seed, 0xbcd7, "by hand: fold(8 x 0x2020 + 8 x 0x7777 + 17 + 10)");
    // Hand computation of the finished checksum over the final destination.
    let out = software_finish(&m).unwrap();
    let mut l4 = udp.to_vec();
    l4[6..8].copy_from_slice(&out[f..f + 2]);
    let mut total = etherparse::checksum::Sum16BitWords::new().add_slice(&l4);
    total = total.add_2bytes(pseudo(final_dst).to_be_bytes());
    assert_eq!(total.ones_complement(), 0, "the finished UDP checksum verifies over the final destination");
    // An unknown routing type with segments left cannot be seeded.
    let mut bad = frame.clone();
    bad[14 + 40 + 2] = 3;
    assert_eq!(prepare_tx(&bad, assist(), ALL).unwrap_err(), Unoffloadable::RoutingType(3));
}

#[test]
fn unoffloadable_frames_say_why() {
    let (_, udp4) = reference_frames().into_iter().find(|(n, _)| n == "udp4 46").unwrap();
    let (_, udp6) = reference_frames().into_iter().find(|(n, _)| n == "udp6 46").unwrap();

    // IPv4 fragment (MF).
    let mut f = udp4.clone();
    f[14 + 6] |= 0x20;
    assert_eq!(prepare_tx(&f, assist(), ALL).unwrap_err(), Unoffloadable::Fragment);
    // IPv4 later fragment (offset).
    let mut f = udp4.clone();
    f[14 + 7] = 1;
    assert_eq!(prepare_tx(&f, assist(), ALL).unwrap_err(), Unoffloadable::Fragment);

    // IPv6 fragment header, not atomic.
    let mut f = udp6[..14 + 40].to_vec();
    f[14 + 6] = 44;
    f.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 9]);
    f.extend_from_slice(&udp6[14 + 40..]);
    let plen = (f.len() - 54) as u16;
    f[14 + 4..14 + 6].copy_from_slice(&plen.to_be_bytes());
    assert_eq!(prepare_tx(&f, assist(), ALL).unwrap_err(), Unoffloadable::Fragment);
    // The same header as an atomic fragment is the whole datagram: offloadable.
    f[14 + 40 + 3] = 0;
    assert!(prepare_tx(&f, assist(), ALL).is_ok());

    // ICMP.
    let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC).ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).icmpv4_echo_request(1, 2);
    let mut icmp = Vec::new();
    b.write(&mut icmp, b"ping").unwrap();
    assert_eq!(prepare_tx(&icmp, assist(), ALL).unwrap_err(), Unoffloadable::Protocol(1));

    // ARP.
    let mut arp = vec![0u8; 42];
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(prepare_tx(&arp, assist(), ALL).unwrap_err(), Unoffloadable::NotIp { ethertype: 0x0806 });

    // Stacked VLAN tags.
    let mut q = udp4[..12].to_vec();
    q.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2]);
    q.extend_from_slice(&udp4[12..]);
    assert!(matches!(prepare_tx(&q, assist(), ALL), Err(Unoffloadable::Parse(_))));

    // UDP length shorter than the IP payload.
    let mut f = udp4.clone();
    f[14 + 20 + 5] -= 1;
    assert!(matches!(prepare_tx(&f, assist(), ALL), Err(Unoffloadable::UdpLength { .. })));

    // IPv4 loose source route.
    let mut o = nic_host::net::Ipv4Out::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
    o.options = vec![131, 7, 4, 10, 0, 0, 9, 0];
    let case = Case { v6: false, tcp: false, vlan: false, opts: false, len: 4 };
    let m = nic_host::net::udp_output(
        &ifp(0),
        nic_host::mbuf::Mbuf::from_payload(b"abcd"),
        &nic_host::net::IpOut::V4(o),
        1,
        2,
        vlan(&case),
        &mut NetStats::default(),
    )
    .unwrap();
    let m = framed(m, &case, &mut NetStats::default());
    assert_eq!(prepare_tx(m.data(), assist(), ALL).unwrap_err(), Unoffloadable::SourceRoute);
}

#[test]
fn truncated_captures_are_refused_never_panic() {
    for (name, frame) in reference_frames() {
        for n in 0..frame.len() {
            match prepare_tx(&frame[..n], assist(), ALL) {
                Err(Unoffloadable::Parse(_)) => {}
                other => panic!("{name}: prefix {n} gave {other:?}"),
            }
        }
    }
}

#[test]
fn random_frames_never_panic() {
    let mut x = 0x0123_4567_89ab_cdefu64;
    let frames = reference_frames();
    for round in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (_, base) = &frames[round % frames.len()];
        let mut f = base.clone();
        for k in 0..3 {
            let i = ((x >> (k * 16)) as usize) % f.len();
            f[i] = (x >> (k * 8 + 40)) as u8;
        }
        if let Ok(m) = prepare_tx(&f, assist(), ALL) {
            let out = software_finish(&m).unwrap();
            assert_eq!(out.len(), m.len());
        }
    }
}

#[test]
fn software_finish_refuses_impossible_requests() {
    let (_, frame) = reference_frames().into_iter().find(|(n, _)| n == "udp4 46").unwrap();
    let mut m = prepare_tx(&frame, assist(), ALL).unwrap();
    m.pkthdr.l3hlen = 250;
    assert!(matches!(software_finish(&m), Err(Unoffloadable::BadRequest(_))));
    let mut m = prepare_tx(&frame, assist(), ALL).unwrap();
    m.pkthdr.csum_flags |= CSUM_IP_TSO;
    assert!(matches!(software_finish(&m), Err(Unoffloadable::BadRequest(_))));
    let mut m = prepare_tx(&frame, assist(), ALL).unwrap();
    m.pkthdr.csum_data = 60_000;
    assert!(matches!(software_finish(&m), Err(Unoffloadable::BadRequest(_))));
}
