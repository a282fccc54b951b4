//! The stack against an independent reference: etherparse parses and checks
//! every frame the output path builds, with and without offload, and input
//! applies FreeBSD's trust rules to what a NIC reports.

mod common;

use common::*;
use nic_abi::cksum;
use nic_abi::csum::*;
use nic_abi::ifcap::*;
use nic_host::mbuf::{IfRef, Mbuf};
use nic_host::net::{ether_input, udp_output, DropReason, Input, IpOut, Ipv4Out, NetStats};
use nic_host::offload::software_finish;

#[test]
fn rfc_vectors_through_nic_abi() {
    let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(cksum::fold(cksum::sum(&bytes, 0)), 0xddf2);
    assert_eq!(cksum::finish(cksum::sum(&bytes, 0)), 0x220d);
}

/// Software-checksummed and offloaded output carry the same bytes once the
/// offloads are done; etherparse accepts every checksum.
#[test]
fn wire_bytes_are_the_same_with_and_without_offload() {
    for case in matrix() {
        let mut st = NetStats::default();
        let sw = build(&ifp(0), &case, &mut st);
        assert_eq!(sw.pkthdr.csum_flags, 0, "{case:?}: nothing left for a NIC without offloads");
        let c = etherparse_check(sw.data());
        assert_eq!((c.v6, c.tcp, c.vlan), (case.v6, case.tcp, case.vlan), "{case:?}");
        assert_eq!(c.payload, payload(case.len, case.len as u8), "{case:?}");

        let hw = build(&ifp(ALL_CAPS), &case, &mut st);
        let l4flag = match (case.v6, case.tcp) {
            (false, false) => CSUM_IP_UDP,
            (false, true) => CSUM_IP_TCP,
            (true, false) => CSUM_IP6_UDP,
            (true, true) => CSUM_IP6_TCP,
        };
        let ipflag = if case.v6 { 0 } else { CSUM_IP };
        assert_eq!(hw.pkthdr.csum_flags, l4flag | ipflag, "{case:?}");
        assert_eq!(hw.pkthdr.csum_data, if case.tcp { 16 } else { 6 }, "{case:?}");
        let (l2, l3, l4) = etherparse_offsets(sw.data());
        assert_eq!(
            (hw.pkthdr.l2hlen as usize, hw.pkthdr.l3hlen as usize, hw.pkthdr.l4hlen as usize),
            (l2, l3, l4),
            "{case:?}: header lengths as etherparse counts them"
        );
        // What the stack leaves for the NIC: IPv4 header checksum zero, L4 field the pseudo-header seed.
        let d = hw.data();
        if !case.v6 {
            assert_eq!(&d[l2 + 10..l2 + 12], &[0, 0], "{case:?}: ip_sum zeroed");
        }
        let field = l2 + l3 + hw.pkthdr.csum_data as usize;
        let seed = u16::from_be_bytes([d[field], d[field + 1]]);
        let l4len = (d.len() - l2 - l3) as u32;
        let proto = if case.tcp { 6 } else { 17 };
        // The pseudo-header sum by etherparse's own one's-complement arithmetic (folded, not complemented).
        let (src, dst) = if case.v6 { (l2 + 8..l2 + 24, l2 + 24..l2 + 40) } else { (l2 + 12..l2 + 16, l2 + 16..l2 + 20) };
        let want = !etherparse::checksum::Sum16BitWords::new()
            .add_slice(&d[src])
            .add_slice(&d[dst])
            .add_2bytes([0, proto])
            .add_4bytes(l4len.to_be_bytes())
            .ones_complement()
            .to_be(); // etherparse sums in native byte order and converts at the end
        assert_eq!(seed, want, "{case:?}: pseudo-header seed with the L4 length");

        assert_eq!(software_finish(&hw).unwrap(), sw.data(), "{case:?}: NIC output == software output");
    }
}

#[test]
fn tagged_frames_offload_only_with_vlanhwcsum() {
    let case = Case { v6: false, tcp: false, vlan: true, opts: false, len: 100 };
    let mut st = NetStats::default();
    let m = build(&ifp(ALL_CAPS & !IFCAP_VLAN_HWCSUM), &case, &mut st);
    assert_eq!(m.pkthdr.csum_flags, 0);
    etherparse_check(m.data());
    assert_eq!(st.csum.tx_hw, 0);
    let untagged = Case { vlan: false, ..case };
    let m = build(&ifp(ALL_CAPS & !IFCAP_VLAN_HWCSUM), &untagged, &mut st);
    assert_eq!(m.pkthdr.csum_flags, CSUM_IP | CSUM_IP_UDP);
}

#[test]
fn partial_hwassist_mixes_software_and_hardware() {
    // txcsum6 only: IPv4 packets are finished in software, IPv6 ones offloaded.
    let i = ifp(IFCAP_TXCSUM_IPV6);
    let mut st = NetStats::default();
    for v6 in [false, true] {
        let case = Case { v6, tcp: true, vlan: false, opts: true, len: 333 };
        let m = build(&i, &case, &mut st);
        assert_eq!(m.pkthdr.csum_flags, if v6 { CSUM_IP6_TCP } else { 0 });
        let done = software_finish(&m).unwrap();
        etherparse_check(&done);
        assert_eq!(done, build(&ifp(0), &case, &mut st).data());
    }
}

/// Finds a UDP payload whose checksum computes to 0, which must go out as 0xffff.
#[test]
fn udp_computed_zero_goes_out_as_ffff() {
    for v6 in [false, true] {
        let case = Case { v6, tcp: false, vlan: false, opts: false, len: 10 };
        let mut st = NetStats::default();
        // Build once with two zero bytes at the end of the payload, then choose
        // those bytes so that the one's-complement sum is all ones.
        let mut p = payload(10, 3);
        p[8] = 0;
        p[9] = 0;
        let m = udp_output(&ifp(0), Mbuf::from_payload(&p), &ip_out(&case), 5353, 53, vlan(&case), &mut st).unwrap();
        let frame = framed(m, &case, &mut st).into_vec();
        let (l2, l3, _) = etherparse_offsets(&frame);
        let l4 = &frame[l2 + l3..];
        let len = l4.len() as u32;
        let pseudo = if v6 {
            cksum::pseudo_v6(frame[l2 + 8..l2 + 24].try_into().unwrap(), frame[l2 + 24..l2 + 40].try_into().unwrap(), 17, len)
        } else {
            cksum::pseudo_v4(frame[l2 + 12..l2 + 16].try_into().unwrap(), frame[l2 + 16..l2 + 20].try_into().unwrap(), 17, len)
        };
        let mut hdr = l4[..8].to_vec();
        hdr[6] = 0;
        hdr[7] = 0;
        let rest = cksum::sum(&p[..8], cksum::sum(&hdr, pseudo as u32));
        let w = !cksum::fold(rest);
        p[8..10].copy_from_slice(&w.to_be_bytes());

        for caps in [0, ALL_CAPS] {
            let m = udp_output(&ifp(caps), Mbuf::from_payload(&p), &ip_out(&case), 5353, 53, vlan(&case), &mut st)
                .unwrap();
            let m = framed(m, &case, &mut st);
            let wire = software_finish(&m).unwrap();
            let c = etherparse_check(&wire);
            assert_eq!(c.l4sum, 0xffff, "v6={v6} caps={caps:x}");
        }
    }
}

fn input(frame: &[u8], flags: u32, csum_data: u32, st: &mut NetStats) -> Input {
    let mut m = Mbuf::from_frame(frame);
    m.pkthdr.csum_flags = flags;
    m.pkthdr.csum_data = csum_data;
    m.pkthdr.rcvif = Some(ifp(0).ifref());
    ether_input(&ifp(ALL_CAPS), m, st)
}

#[test]
fn input_delivers_what_output_built() {
    for case in matrix() {
        let mut st = NetStats::default();
        let frame = build(&ifp(0), &case, &mut st).into_vec();
        let mut st = NetStats::default();
        let want = payload(case.len, case.len as u8);
        match input(&frame, 0, 0, &mut st) {
            Input::Udp(d) if !case.tcp => {
                assert_eq!(d.m.data(), want, "{case:?}");
                assert_eq!((d.src.port(), d.dst.port()), (5353, 53));
            }
            Input::Tcp(s) if case.tcp => {
                assert_eq!(s.m.data(), want, "{case:?}");
                assert_eq!((s.seq, s.ack, s.win), (0xdead_beef, 0x0102_0304, 65535));
                // The 12 option bytes (NOP NOP timestamps) arrive, decoded.
                assert_eq!(s.options.emit().as_slice().len(), 12);
                assert_eq!(s.options.timestamp, Some((1, 2)));
            }
            other => panic!("{case:?}: {other:?}"),
        }
        assert_eq!(st.csum.l4_sw, 1, "no flags: verified in software");
        assert_eq!(st.csum.l3_sw, if case.v6 { 0 } else { 1 });
    }
}

fn corrupt_payload(frame: &mut [u8]) {
    let n = frame.len();
    frame[n - 1] ^= 0x5a;
}

#[test]
fn bad_l4_checksums_are_counted_per_protocol() {
    for tcp in [false, true] {
        for v6 in [false, true] {
            let case = Case { v6, tcp, vlan: false, opts: false, len: 64 };
            let mut frame = build(&ifp(0), &case, &mut NetStats::default()).into_vec();
            corrupt_payload(&mut frame);
            let mut st = NetStats::default();
            let r = input(&frame, 0, 0, &mut st);
            if tcp {
                assert_eq!(r, Input::Dropped(DropReason::TcpBadSum));
                assert_eq!(st.tcp.tcps_rcvbadsum, 1);
            } else {
                assert_eq!(r, Input::Dropped(DropReason::UdpBadSum));
                assert_eq!(st.udp.udps_badsum, 1);
            }
            // A NIC that says "valid, pseudo-header included, 0xffff" is trusted (that is the contract).
            let mut st = NetStats::default();
            let r = input(&frame, CSUM_DATA_VALID | CSUM_PSEUDO_HDR, 0xffff, &mut st);
            assert!(matches!(r, Input::Udp(_) | Input::Tcp(_)), "{r:?}");
            assert_eq!(st.csum.l4_hw, 1);
            // CSUM_PSEUDO_HDR alone (computed, not valid) means: check it yourself.
            let mut st = NetStats::default();
            assert!(matches!(input(&frame, CSUM_PSEUDO_HDR, 0x1234, &mut st), Input::Dropped(_)));
            assert_eq!(st.csum.l4_sw, 1);
        }
    }
}

#[test]
fn data_valid_without_pseudo_hdr_adds_the_pseudo_header() {
    for v6 in [false, true] {
        let case = Case { v6, tcp: true, vlan: true, opts: true, len: 99 };
        let frame = build(&ifp(0), &case, &mut NetStats::default()).into_vec();
        let (l2, l3, _) = etherparse_offsets(&frame);
        // The sum a NIC reports without the pseudo-header: the folded sum of the L4 bytes.
        let raw = cksum::fold(cksum::sum(&frame[l2 + l3..], 0)) as u32;
        let mut st = NetStats::default();
        assert!(matches!(input(&frame, CSUM_DATA_VALID, raw, &mut st), Input::Tcp(_)));
        assert_eq!(st.csum.l4_hw, 1);
        let mut st = NetStats::default();
        assert_eq!(input(&frame, CSUM_DATA_VALID, raw ^ 0x100, &mut st), Input::Dropped(DropReason::TcpBadSum));
        assert_eq!(st.tcp.tcps_rcvbadsum, 1);
    }
}

#[test]
fn ipv4_header_checksum_trust_rules() {
    let case = Case { v6: false, tcp: false, vlan: false, opts: true, len: 20 };
    let good = build(&ifp(0), &case, &mut NetStats::default()).into_vec();
    // Correct header, but the NIC says it checked and it was bad: dropped.
    let mut st = NetStats::default();
    assert_eq!(input(&good, CSUM_L3_CALC, 0, &mut st), Input::Dropped(DropReason::IpBadSum));
    assert_eq!((st.ip.ips_badsum, st.csum.l3_hw), (1, 1));
    // Wrong header checksum, no flags: software finds it.
    let mut bad = good.clone();
    bad[14 + 10] ^= 0xff;
    let mut st = NetStats::default();
    assert_eq!(input(&bad, 0, 0, &mut st), Input::Dropped(DropReason::IpBadSum));
    assert_eq!((st.ip.ips_badsum, st.csum.l3_sw), (1, 1));
    // Wrong header checksum, NIC says checked and valid: trusted.
    let mut st = NetStats::default();
    assert!(matches!(input(&bad, CSUM_L3_CALC | CSUM_L3_VALID, 0, &mut st), Input::Udp(_)));
}

#[test]
fn udp_zero_checksum_means_none_over_ipv4_and_invalid_over_ipv6() {
    for v6 in [false, true] {
        let case = Case { v6, tcp: false, vlan: false, opts: false, len: 5 };
        let mut frame = build(&ifp(0), &case, &mut NetStats::default()).into_vec();
        let (l2, l3, _) = etherparse_offsets(&frame);
        frame[l2 + l3 + 6] = 0;
        frame[l2 + l3 + 7] = 0;
        let mut st = NetStats::default();
        let r = input(&frame, 0, 0, &mut st);
        assert_eq!(st.udp.udps_nosum, 1);
        if v6 {
            assert_eq!(r, Input::Dropped(DropReason::Udp6NoSum));
        } else {
            assert!(matches!(r, Input::Udp(_)));
        }
    }
}

#[test]
fn fragments_and_departed_interfaces_are_dropped() {
    let case = Case { v6: false, tcp: false, vlan: false, opts: false, len: 20 };
    let mut frame = build(&ifp(0), &case, &mut NetStats::default()).into_vec();
    // Set MF and fix the header checksum with the RFC 1624 update.
    let old = u16::from_be_bytes([frame[20], frame[21]]);
    let new = old | 0x2000;
    let hc = u16::from_be_bytes([frame[24], frame[25]]);
    frame[20..22].copy_from_slice(&new.to_be_bytes());
    frame[24..26].copy_from_slice(&cksum::update(hc, old, new).to_be_bytes());
    let mut st = NetStats::default();
    assert_eq!(input(&frame, 0, 0, &mut st), Input::Dropped(DropReason::Fragment));
    assert_eq!(st.ip.ips_fragments, 1);
    assert_eq!(st.ip.ips_badsum, 0, "the incremental update kept the header valid");

    let good = build(&ifp(0), &case, &mut NetStats::default());
    let mut m = Mbuf::from_frame(good.data());
    m.pkthdr.rcvif = Some(IfRef { index: 1, generation: 7 });
    let mut st = NetStats::default();
    assert_eq!(ether_input(&ifp(0), m, &mut st), Input::Dropped(DropReason::StaleInterface));
}

#[test]
fn ethernet_padding_is_trimmed_on_input() {
    let case = Case { v6: false, tcp: false, vlan: false, opts: false, len: 1 };
    let mut frame = build(&ifp(0), &case, &mut NetStats::default()).into_vec();
    frame.resize(60, 0xee);
    let mut st = NetStats::default();
    match input(&frame, 0, 0, &mut st) {
        Input::Udp(d) => assert_eq!(d.m.data(), payload(1, 1)),
        other => panic!("{other:?}"),
    }
}

/// Every prefix of every frame, and byte flips everywhere: input never panics.
#[test]
fn truncated_and_corrupted_input_never_panics() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for case in matrix().into_iter().filter(|c| c.len <= 64) {
        let frame = build(&ifp(0), &case, &mut NetStats::default()).into_vec();
        let mut st = NetStats::default();
        for n in 0..frame.len() {
            let r = input(&frame[..n], 0, 0, &mut st);
            assert!(matches!(r, Input::Dropped(_)), "{case:?} prefix {n}: {r:?}");
        }
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut f = frame.clone();
            let i = (x as usize) % f.len();
            f[i] ^= (x >> 32) as u8 | 1;
            let _ = input(&f, (x >> 40) as u32 & RX_RESULT_MASK, (x >> 8) as u32 & 0xffff, &mut st);
        }
    }
}

#[test]
fn output_refuses_what_it_cannot_send() {
    let mut small = ifp(0);
    small.if_mtu = 576;
    let case = Case { v6: false, tcp: false, vlan: false, opts: false, len: 0 };
    let mut st = NetStats::default();
    let r = udp_output(&small, Mbuf::from_payload(&[0u8; 600]), &ip_out(&case), 1, 2, vlan(&case), &mut st);
    assert_eq!(r.unwrap_err(), nic_host::net::OutputError::MsgSize { len: 628, mtu: 576 });
    let mut o = Ipv4Out::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
    o.options = vec![1, 1, 1];
    let r = udp_output(&ifp(0), Mbuf::from_payload(b"x"), &IpOut::V4(o), 1, 2, vlan(&case), &mut st);
    assert!(matches!(r, Err(nic_host::net::OutputError::BadOptions(_))));
}
