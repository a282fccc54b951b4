//! The NIC core in Verilator, driven through raw rings: transmit checksum
//! insertion, receive verdicts, refused descriptors, drops and resets,
//! each checked against `etherparse` (an independent parser) or against the
//! ABI's rules, never against the RTL's own logic.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use nic_abi::desc::{RxDesc, TxDesc};
use nic_abi::regs::stats;
use nic_abi::{csum, ifcap, status};
use nic_testbench::traffic::{self, Kind};
use nic_sim::{DmaConfig, DmaStall, MacConfig, SimConfig};
use nic_tests::{layout, seed, verify, RawNic, ALL_CSUM, BUF};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn non_frag_kinds() -> Vec<Kind> {
    traffic::kinds().into_iter().filter(|k| !k.frag).collect()
}

/// Lengths that hit every last-beat fill (1..=8 bytes) and the extremes.
fn lengths(k: Kind, rng: &mut SmallRng) -> Vec<usize> {
    let min = traffic::header_len(k).max(60);
    let mut v: Vec<usize> = (0..8).map(|i| min + i).collect();
    v.extend([1514, 9018]);
    v.extend((0..4).map(|_| rng.gen_range(min..=9018)));
    v
}

fn tx_roundtrip(nic: &mut RawNic, frames: &[Vec<u8>]) {
    for (i, orig) in frames.iter().enumerate() {
        let (seeded, d) = seed(orig).expect("offloadable");
        nic.post_tx(&seeded, d, false);
        let c = nic.tx_cpl();
        assert_eq!(c.status & 0x7f, status::OK, "frame {i}: status {}", c.status & 0x7f);
        let w = nic.wire(1, T);
        assert_eq!(w.len(), 1, "frame {i}: one frame on the wire");
        let got = &w[0].data;
        if let Err(e) = verify(got) {
            panic!("frame {i} ({} bytes): {e}", got.len());
        }
        assert_eq!(got, orig, "frame {i}: wire bytes equal a correct sender's");
    }
}

#[test]
fn tx_checksums_equal_a_correct_senders_for_every_header_variant_and_length() {
    let mut rng = SmallRng::seed_from_u64(21);
    let mut nic = RawNic::new();
    let mut frames = vec![];
    for k in non_frag_kinds() {
        for len in lengths(k, &mut rng) {
            frames.push(traffic::frame_of_len(k, len, frames.len() as u32, &mut rng));
        }
    }
    tx_roundtrip(&mut nic, &frames);
    assert_eq!(nic.stat(stats::TX_FRAMES) as usize, frames.len());
    let v4 = frames.iter().filter(|f| !layout(f).unwrap().v6).count();
    assert_eq!(nic.stat(stats::TX_CSUM_IP) as usize, v4);
    assert_eq!(nic.stat(stats::TX_CSUM_L4) as usize, frames.len());
}

#[test]
fn tx_checksums_survive_mac_and_dma_back_pressure() {
    let mut cfg = SimConfig::external(1);
    cfg.mac = MacConfig { tx_backpressure: Some((9, 0.4)), ..Default::default() };
    cfg.dma = DmaConfig { read_latency: 40, stall: Some(DmaStall { seed: 5, ar: 0.3, r_gap: 0.3, aw: 0.3, w: 0.3 }), ..Default::default() };
    let mut nic = RawNic::with_config(cfg);
    let mut rng = SmallRng::seed_from_u64(22);
    let frames: Vec<Vec<u8>> = non_frag_kinds()
        .into_iter()
        .enumerate()
        .map(|(i, k)| traffic::frame_of_len(k, rng.gen_range(60..3000), i as u32, &mut rng))
        .collect();
    tx_roundtrip(&mut nic, &frames);
}

#[test]
fn udp_checksum_that_computes_to_zero_goes_out_as_ffff() {
    // Search a payload whose UDP checksum is 0: then RFC 768 says 0xffff on the wire.
    let k = Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false };
    let k6 = Kind { v6: true, ..k };
    let mut nic = RawNic::new();
    for kind in [k, k6] {
        let mut f = traffic::frame(kind, &[0u8; 32], 1);
        let l4 = traffic::header_len(kind) - 8;
        // ck = ~S (S: the sum with the field zero). Adding ck to the last word makes S' = 0xffff,
        // so the computed checksum ~S' is 0x0000 and must go out as 0xffff.
        let ck = u16::from_be_bytes([f[l4 + 6], f[l4 + 7]]);
        let n = f.len();
        let last = u16::from_be_bytes([f[n - 2], f[n - 1]]);
        let new_last = nic_abi::cksum::fold(last as u32 + ck as u32);
        f[n - 2..].copy_from_slice(&new_last.to_be_bytes());
        // The correct wire checksum for this payload is now 0xffff (the zero rule).
        f[l4 + 6..l4 + 8].copy_from_slice(&0xffffu16.to_be_bytes());
        verify(&f).expect("the constructed frame is a correct UDP frame with checksum 0xffff");
        tx_roundtrip(&mut nic, &[f]);
    }
}

/// What a correct NIC reports for `frame`, from etherparse's view of it.
fn expected_verdict(frame: &[u8], capen: u32) -> u32 {
    let Ok(p) = SlicedPacket::from_ethernet(frame) else {
        // Not a whole packet (the datagram is longer than the frame, or junk): the IPv4 header,
        // when complete, still has a verdict of its own; L4 has none.
        let Ok(lax) = etherparse::LaxSlicedPacket::from_ethernet(frame) else { return 0 };
        return match lax.net {
            Some(etherparse::LaxNetSlice::Ipv4(h)) if capen & ifcap::IFCAP_RXCSUM != 0 => {
                let hh = h.header().to_header();
                csum::CSUM_L3_CALC | if hh.calc_header_checksum() == hh.header_checksum { csum::CSUM_L3_VALID } else { 0 }
            }
            _ => 0,
        };
    };
    let mut flags = 0;
    let v4 = matches!(p.net, Some(NetSlice::Ipv4(_)));
    let on = if v4 { capen & ifcap::IFCAP_RXCSUM != 0 } else { capen & ifcap::IFCAP_RXCSUM_IPV6 != 0 };
    if !on {
        return 0;
    }
    let frag;
    let mut routed = false;
    match &p.net {
        Some(NetSlice::Ipv4(h)) => {
            flags |= csum::CSUM_L3_CALC;
            let hh = h.header().to_header();
            if hh.calc_header_checksum() == hh.header_checksum {
                flags |= csum::CSUM_L3_VALID;
            }
            frag = h.is_payload_fragmented();
        }
        Some(NetSlice::Ipv6(h)) => {
            frag = h.is_payload_fragmented();
            let (ext, _, _) = etherparse::Ipv6Extensions::from_slice(h.header().next_header(), h.extensions().slice()).unwrap();
            routed = ext.routing.map(|r| r.routing.payload()[1] != 0).unwrap_or(false);
        }
        _ => return 0,
    }
    if frag || routed {
        return flags;
    }
    let udp_none = matches!(&p.transport, Some(TransportSlice::Udp(u)) if v4 && u.checksum() == 0);
    if matches!(p.transport, Some(TransportSlice::Tcp(_)) | Some(TransportSlice::Udp(_))) && !udp_none {
        flags |= csum::CSUM_L4_CALC;
        let mut copy = frame.to_vec();
        // verify() checks every checksum; an L3 error must not hide a good L4 sum, so fix L3 first.
        if let Some(NetSlice::Ipv4(h)) = &p.net {
            let hh = h.header().to_header();
            let l2 = if p.vlan.is_some() { 18 } else { 14 };
            copy[l2 + 10..l2 + 12].copy_from_slice(&hh.calc_header_checksum().to_be_bytes());
        }
        if verify(&copy).is_ok() {
            flags |= csum::CSUM_L4_VALID;
        }
    }
    flags
}

fn rx_check(nic: &mut RawNic, frames: &[Vec<u8>], capen: u32) {
    nic.post_rx(frames.len().min(60), BUF as u32);
    let mut posted = frames.len().min(60);
    for (i, f) in frames.iter().enumerate() {
        if posted <= i {
            nic.post_rx(1, BUF as u32);
            posted += 1;
        }
        nic.nic.inject(f, false).unwrap();
        let (c, data) = nic.rx_cpl();
        assert_eq!(c.status & 0x7f, status::OK);
        assert_eq!(&data, f, "frame {i}: delivered bytes");
        let want = expected_verdict(f, capen);
        assert_eq!(
            c.csum_flags.get(),
            want,
            "frame {i} ({} bytes): got {:?}, want {:?}",
            f.len(),
            csum::names(c.csum_flags.get()).collect::<Vec<_>>(),
            csum::names(want).collect::<Vec<_>>()
        );
        if want & csum::CSUM_L4_VALID != 0 {
            assert_eq!(c.csum_data.get(), 0xffff, "frame {i}: csum_data with a valid L4 sum");
        }
    }
}

#[test]
fn rx_verdicts_match_etherparse_for_good_and_damaged_frames() {
    let mut rng = SmallRng::seed_from_u64(31);
    let mut nic = RawNic::new();
    let mut frames = vec![];
    for k in traffic::kinds() {
        for len in [60, 61, 67, 200, 1514, 9018] {
            let f = traffic::frame_of_len(k, len, frames.len() as u32, &mut rng);
            frames.push(f.clone());
            if let Some(lo) = layout(&f) {
                // Damage the IPv4 TTL (L3 bad, L4 still good: TTL is not in the pseudo-header).
                if !lo.v6 {
                    let mut g = f.clone();
                    g[lo.l2 + 8] ^= 0x01;
                    frames.push(g);
                }
                // Damage one payload byte (L4 bad).
                let mut g = f.clone();
                let at = rng.gen_range(lo.l2 + lo.l3 + if lo.tcp { 20 } else { 8 }..g.len().max(lo.l2 + lo.l3 + 21));
                if at < g.len() {
                    g[at] ^= 0x40;
                    frames.push(g);
                }
                // Damage a source address byte (pseudo-header: L4 bad; over IPv4 the header checksum too).
                let mut g = f.clone();
                let src = if lo.v6 { lo.l2 + 8 } else { lo.l2 + 12 };
                g[src + 1] ^= 0x10;
                frames.push(g);
            }
        }
    }
    // UDP over IPv4 with "no checksum", and over IPv6 with a zero field (invalid).
    for v6 in [false, true] {
        let k = Kind { v6, tcp: false, vlan: false, ext: false, frag: false };
        let mut f = traffic::frame_of_len(k, 100, 9, &mut rng);
        let l4 = traffic::header_len(k) - 8;
        f[l4 + 6] = 0;
        f[l4 + 7] = 0;
        frames.push(f);
    }
    // A routing header with Segments Left 1: no L4 verdict (the pseudo-header needs the final destination).
    let k = Kind { v6: true, tcp: true, vlan: true, ext: true, frag: false };
    let mut f = traffic::frame_of_len(k, 300, 3, &mut rng);
    f[18 + 40 + 8 + 3] = 1;
    frames.push(f);
    let mut f = traffic::frame_of_len(Kind { vlan: false, ..k }, 300, 3, &mut rng);
    f[14 + 40 + 8 + 3] = 1;
    frames.push(f);
    rx_check(&mut nic, &frames, ALL_CSUM);
    assert!(nic.stat(stats::RX_L4_BAD) > 0 && nic.stat(stats::RX_L3_BAD) > 0);
    assert_eq!(nic.stat(stats::RX_FRAMES) as usize, frames.len());
}

#[test]
fn rx_verdicts_follow_capenable() {
    let mut rng = SmallRng::seed_from_u64(32);
    let mut nic = RawNic::new();
    let frames: Vec<Vec<u8>> =
        non_frag_kinds().into_iter().map(|k| traffic::frame_of_len(k, 128, 1, &mut rng)).collect();
    for capen in [0, ifcap::IFCAP_RXCSUM, ifcap::IFCAP_RXCSUM_IPV6] {
        nic.set_capenable(capen);
        rx_check(&mut nic, &frames, capen);
    }
}

#[test]
fn refused_descriptors_complete_with_their_error_send_nothing_and_leave_the_nic_working() {
    let mut rng = SmallRng::seed_from_u64(41);
    let mut nic = RawNic::new();
    let good = traffic::frame_of_len(Kind { v6: false, tcp: true, vlan: false, ext: false, frag: false }, 200, 1, &mut rng);
    let (seeded, d) = seed(&good).unwrap();
    let base = {
        let mut d = d;
        d.addr = nic.next_tx_buf().into();
        d.len = (seeded.len() as u32).into();
        d
    };
    type Case = (&'static str, fn(&mut TxDesc), u8);
    let cases: Vec<Case> = vec![
        ("zero length", |d| d.len = 0.into(), status::BAD_LEN),
        ("13 bytes", |d| d.len = 13.into(), status::BAD_LEN),
        ("past the max frame", |d| d.len = (nic_abi::MAX_FRAME + 1).into(), status::BAD_LEN),
        ("unaligned address", |d| d.addr = (d.addr.get() + 2).into(), status::BAD_ALIGN),
        ("unknown flag (SCTP)", |d| d.csum_flags = (d.csum_flags.get() | csum::CSUM_IP_SCTP).into(), status::BAD_FLAGS),
        ("TCP and UDP at once", |d| d.csum_flags = (d.csum_flags.get() | csum::CSUM_IP_UDP).into(), status::BAD_FLAGS),
        ("v4 and v6 at once", |d| d.csum_flags = (d.csum_flags.get() | csum::CSUM_IP6_TCP).into(), status::BAD_FLAGS),
        ("TSO with MSS 0", |d| d.csum_flags = (d.csum_flags.get() | csum::CSUM_TSO).into(), status::BAD_LEN),
        ("checksum offset past the frame", |d| d.csum_data = 400.into(), status::BAD_OFFSETS),
        ("odd L4 start", |d| d.l3hlen = 21, status::BAD_OFFSETS),
        ("IP header shorter than 20", |d| d.l3hlen = 16, status::BAD_OFFSETS),
        ("headers past the frame", |d| d.l3hlen = 250, status::BAD_OFFSETS),
        ("unknown descriptor flag", |d| d.flags = 2, status::BAD_RSVD),
        ("packet length that is not the buffer's", |d| d.pkt_len = (d.len.get() + 8).into(), status::BAD_CHAIN),
        ("reserved word set", |d| d.rsvd1 = 1.into(), status::BAD_RSVD),
        ("TSO segment size set", |d| d.tso_segsz = 1448.into(), status::BAD_RSVD),
        ("checksum offset that wraps 16 bits", |d| d.csum_data = 0xfffe.into(), status::BAD_OFFSETS),
        ("a TSO buffer past TX_MAX_SEGSIZE", |d| {
            d.csum_flags = (d.csum_flags.get() | csum::CSUM_TSO).into();
            d.tso_segsz = 1448.into();
            d.len = (nic_abi::desc::TX_MAX_SEGSIZE + 4).into();
            d.pkt_len = d.len;
        }, status::BAD_LEN),
    ];
    for (name, mutate, want) in cases {
        let mut d = base;
        d.addr = nic.next_tx_buf().into();
        mutate(&mut d);
        nic.post_tx(&seeded, d, true);
        let c = nic.tx_cpl();
        assert_eq!(c.status & 0x7f, want, "{name}");
        assert!(nic.wire(1, Duration::from_millis(50)).is_empty(), "{name}: nothing on the wire");
        // The NIC keeps working: a good frame right after.
        nic.post_tx(&seeded, d_ok(&nic, &base), true);
        assert_eq!(nic.tx_cpl().status & 0x7f, status::OK, "after {name}");
        let w = nic.wire(1, T);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].data, good, "after {name}");
    }
    assert_eq!(nic.stat(stats::TX_DESC_ERR), 18);
}

fn d_ok(nic: &RawNic, base: &TxDesc) -> TxDesc {
    let mut d = *base;
    d.addr = nic.next_tx_buf().into();
    d
}

#[test]
fn offloads_switched_off_in_capenable_are_refused() {
    let mut rng = SmallRng::seed_from_u64(42);
    let mut nic = RawNic::new();
    let f4 = traffic::frame_of_len(Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false }, 100, 1, &mut rng);
    let f6 = traffic::frame_of_len(Kind { v6: true, tcp: true, vlan: false, ext: false, frag: false }, 100, 1, &mut rng);
    nic.set_capenable(ifcap::IFCAP_TXCSUM_IPV6);
    let (s4, d4) = seed(&f4).unwrap();
    nic.post_tx(&s4, d4, false);
    assert_eq!(nic.tx_cpl().status & 0x7f, status::BAD_FLAGS, "v4 request with txcsum off");
    tx_roundtrip(&mut nic, std::slice::from_ref(&f6));
    nic.set_capenable(ifcap::IFCAP_TXCSUM);
    let (s6, d6) = seed(&f6).unwrap();
    nic.post_tx(&s6, d6, false);
    assert_eq!(nic.tx_cpl().status & 0x7f, status::BAD_FLAGS, "v6 request with txcsum6 off");
    tx_roundtrip(&mut nic, &[f4]);
}

#[test]
fn frames_without_buffers_or_too_big_or_errored_are_dropped_and_counted() {
    let mut rng = SmallRng::seed_from_u64(51);
    let mut nic = RawNic::new();
    let small = traffic::frame_of_len(Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false }, 300, 1, &mut rng);
    // No buffer posted.
    nic.nic.inject(&small, false).unwrap();
    nic.sim.run_cycles(2000).unwrap();
    assert_eq!(nic.stat(stats::RX_DROP_NOBUF), 1);
    // A buffer too small for the frame: dropped, buffer kept for the next frame.
    nic.post_rx(1, 256);
    nic.nic.inject(&small, false).unwrap();
    nic.sim.run_cycles(2000).unwrap();
    assert_eq!(nic.stat(stats::RX_DROP_ERR), 1);
    // A MAC-errored frame: dropped.
    nic.nic.inject(&small[..200], true).unwrap();
    nic.sim.run_cycles(2000).unwrap();
    assert_eq!(nic.stat(stats::RX_DROP_ERR), 2);
    // The kept 256-byte buffer takes a frame that fits.
    let tiny = traffic::frame_of_len(Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false }, 100, 2, &mut rng);
    nic.nic.inject(&tiny, false).unwrap();
    let (c, data) = nic.rx_cpl();
    assert_eq!(c.status & 0x7f, status::OK);
    assert_eq!(data, tiny);
    assert_eq!(nic.stat(stats::RX_FRAMES), 1);
}

#[test]
fn bad_receive_descriptors_complete_with_an_error_and_the_next_one_is_used() {
    let mut rng = SmallRng::seed_from_u64(52);
    let mut nic = RawNic::new();
    nic.post_rx_desc(RxDesc { addr: (nic_tests::BASE + 0x20003).into(), len: 2048.into(), rsvd: 0.into() });
    let (c, _) = nic.rx_cpl();
    assert_eq!((c.status & 0x7f, c.len.get()), (status::BAD_ALIGN, 0));
    nic.post_rx_desc(RxDesc { addr: (nic_tests::BASE + 0x20000).into(), len: 2048.into(), rsvd: 7.into() });
    let (c, _) = nic.rx_cpl();
    assert_eq!(c.status & 0x7f, status::BAD_RSVD);
    nic.post_rx(1, BUF as u32);
    let f = traffic::frame_of_len(Kind { v6: true, tcp: true, vlan: false, ext: false, frag: false }, 500, 1, &mut rng);
    nic.nic.inject(&f, false).unwrap();
    let (c, data) = nic.rx_cpl();
    assert_eq!(c.status & 0x7f, status::OK);
    assert_eq!(data, f);
}

#[test]
fn soft_reset_mid_traffic_returns_every_block_to_idle() {
    let mut rng = SmallRng::seed_from_u64(61);
    let mut nic = RawNic::new();
    let frames: Vec<Vec<u8>> =
        non_frag_kinds().into_iter().map(|k| traffic::frame_of_len(k, 9018, 1, &mut rng)).collect();
    // Queue jumbo frames both ways, then reset while they are in flight.
    nic.post_rx(8, BUF as u32);
    for f in &frames[..8] {
        let (s, d) = seed(f).unwrap();
        nic.post_tx(&s, d, false);
        nic.nic.inject(f, false).unwrap();
    }
    nic.sim.run_cycles(3000).unwrap();
    nic.soft_reset();
    nic.sim.run_cycles(20_000).unwrap();
    let _ = nic.nic.take_tx();
    let st = nic.nic.read32(nic_abi::regs::ctrl::STATUS).unwrap();
    assert_eq!(st & nic_abi::regs::ctrl::STATUS_IDLE, nic_abi::regs::ctrl::STATUS_IDLE, "idle after reset");
    // Everything works again from index 0.
    tx_roundtrip(&mut nic, &frames[8..12]);
    rx_check(&mut nic, &frames[12..16], ALL_CSUM);
}

/// Regression: a soft reset stops new frames toward the MAC and waits for the DMA to go idle.
/// With read data in flight and no room for it in the TX FIFO (here a MAC that takes a beat in
/// about one cycle of thirty has let the FIFO fill), the returned beats waited for room that never
/// came, the reads never finished, and neither did the reset. The TX engines now take and drop
/// returned beats while a reset waits. (Seen first as a rare hang of the stack's detach test.)
#[test]
fn soft_reset_with_tx_reads_waiting_on_a_full_fifo_completes() {
    let mut rng = SmallRng::seed_from_u64(62);
    let mut cfg = SimConfig::external(1);
    cfg.mac = MacConfig { tx_backpressure: Some((62, 0.97)), ..Default::default() };
    let mut nic = RawNic::with_config(cfg);
    let k = Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false };
    let frames: Vec<Vec<u8>> = (0..40).map(|i| traffic::frame_of_len(k, 9018, i, &mut rng)).collect();
    for f in &frames {
        let (s, d) = seed(f).unwrap();
        nic.post_tx(&s, d, false);
    }
    nic.sim.run_cycles(10_000).unwrap();
    let st = nic.sim.stats().unwrap();
    let beats = st.nics[0].dma.read_beats;
    assert!(beats * 8 > 32 * 1024, "more read than the FIFO (32 KiB) holds, the rest waiting: {beats} beats read");
    nic.soft_reset(); // panics if the reset does not complete
    let _ = nic.nic.take_tx();
    tx_roundtrip(&mut nic, &frames[..2]);
}

#[test]
fn runts_junk_and_truncated_datagrams_of_every_length_are_delivered_with_the_right_verdicts() {
    let mut rng = SmallRng::seed_from_u64(71);
    let mut nic = RawNic::new();
    let mut frames: Vec<Vec<u8>> = (1..=80).map(|n| (0..n).map(|_| rng.gen()).collect()).collect();
    // Real headers cut short at every length: the datagram is longer than the frame.
    for k in [Kind { v6: false, tcp: true, vlan: false, ext: true, frag: false }, Kind { v6: true, tcp: false, vlan: true, ext: true, frag: false }] {
        let f = traffic::frame_of_len(k, 200, 1, &mut rng);
        for cut in (1..f.len()).step_by(7) {
            frames.push(f[..cut].to_vec());
        }
    }
    // Random bytes behind a valid Ethernet/IPv4 start, long ones too.
    for len in [100usize, 1000, 4000, 9018] {
        let mut f: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        f[12] = 0x08;
        f[13] = 0x00;
        f[14] = 0x45;
        frames.push(f);
    }
    rx_check(&mut nic, &frames, ALL_CSUM);
}

#[test]
fn a_frame_arriving_right_after_its_only_buffer_is_posted_is_delivered_not_dropped() {
    // Regression: the prefetcher had queued the buffer, but the queue still looked empty for two
    // cycles and the frame was dropped as "no buffer".
    let mut rng = SmallRng::seed_from_u64(81);
    let mut nic = RawNic::new();
    let k = Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false };
    for i in 0..100 {
        let f = traffic::frame_of_len(k, rng.gen_range(60..200), i, &mut rng);
        nic.post_rx(1, BUF as u32);
        nic.nic.inject(&f, false).unwrap();
        let (c, data) = nic.rx_cpl();
        assert_eq!((c.status & 0x7f, data), (status::OK, f), "frame {i}");
    }
    assert_eq!(nic.stat(stats::RX_DROP_NOBUF), 0);
}

#[test]
fn dma_errors_on_data_or_descriptor_reads_complete_with_dma_error_and_send_nothing() {
    use nic_abi::regs::{queue, TXQ0};
    let mut rng = SmallRng::seed_from_u64(91);
    let mut nic = RawNic::new();
    let f = traffic::frame_of_len(Kind { v6: false, tcp: true, vlan: false, ext: false, frag: false }, 300, 1, &mut rng);
    let (seeded, mut d) = seed(&f).unwrap();
    // Data at an address the DMA model does not map (an IOMMU fault on a board).
    d.addr = 0x10_0000.into();
    d.len = (seeded.len() as u32).into();
    nic.post_tx(&seeded, d, true);
    assert_eq!(nic.tx_cpl().status & 0x7f, status::DMA_ERROR, "data read fault");
    assert!(nic.wire(1, Duration::from_millis(50)).is_empty(), "the faulted frame is not sent");
    // A good frame still goes through.
    tx_roundtrip(&mut nic, std::slice::from_ref(&f));
    // The descriptor ring itself unmapped: the descriptor completes with DMA_ERROR.
    nic.nic.write32(TXQ0 + queue::BASE_LO, 0x20_0000).unwrap();
    nic.nic.write32(TXQ0 + queue::TAIL, 3).unwrap();
    assert_eq!(nic.tx_cpl().status & 0x7f, status::DMA_ERROR, "descriptor read fault");
    assert!(nic.stat(stats::DMA_ERR) >= 2);
    assert!(nic.wire(1, Duration::from_millis(50)).is_empty());
}

#[test]
fn over_length_frames_are_dropped_and_the_next_frame_is_intact() {
    // Just over MAX_FRAME, exactly at it, and past 64 KiB (16-bit lengths wrap there: such a
    // frame must still be dropped, not taken for a short one). Each is followed by a small frame,
    // which must arrive whole (a first-beat bug once cut it after any maximum-size frame).
    for (i, huge_len) in [nic_abi::MAX_FRAME as usize + 1, 10_000, 65_536 + 100].into_iter().enumerate() {
        over_length_then_small(i as u64, huge_len);
    }
    let mut rng = SmallRng::seed_from_u64(100);
    let mut nic = RawNic::new();
    let k = Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false };
    let max = traffic::frame_of_len(k, nic_abi::MAX_FRAME as usize, 1, &mut rng);
    let small = traffic::frame_of_len(k, 100, 2, &mut rng);
    rx_check(&mut nic, &[max, small], ALL_CSUM);
}

fn over_length_then_small(seed: u64, huge_len: usize) {
    let mut rng = SmallRng::seed_from_u64(101 + seed);
    let mut nic = RawNic::new();
    nic.post_rx(2, 512);
    let mut huge: Vec<u8> = (0..huge_len).map(|_| rng.gen()).collect();
    huge[12] = 0x08;
    huge[13] = 0x00;
    nic.nic.inject(&huge, false).unwrap();
    let small = traffic::frame_of_len(Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false }, 100, 1, &mut rng);
    nic.nic.inject(&small, false).unwrap();
    let (c, data) = nic.rx_cpl();
    assert_eq!((c.status & 0x7f, data), (status::OK, small), "the next frame is delivered intact");
    assert_eq!(nic.stat(stats::RX_DROP_ERR), 1, "the huge frame was dropped and counted");
    assert_eq!(nic.stat(stats::RX_FRAMES), 1);
}

#[test]
fn ring_bases_ignore_their_low_three_bits() {
    // An unaligned base would give bursts that never end; the register keeps it 8-byte aligned.
    use nic_abi::regs::{queue, TXQ0};
    let mut rng = SmallRng::seed_from_u64(102);
    let mut nic = RawNic::new();
    let base = nic.nic.read32(TXQ0 + queue::BASE_LO).unwrap();
    nic.nic.write32(TXQ0 + queue::BASE_LO, base | 5).unwrap();
    assert_eq!(nic.nic.read32(TXQ0 + queue::BASE_LO).unwrap(), base);
    let f = traffic::frame_of_len(Kind { v6: true, tcp: true, vlan: false, ext: false, frag: false }, 200, 1, &mut rng);
    tx_roundtrip(&mut nic, &[f]);
}

#[test]
fn descriptors_are_fetched_in_batches_of_desc_batch() {
    // Ties the RTL's batch size to nic_hw's constants: two batches' worth of posted buffers, two reads.
    let mut nic = RawNic::new();
    let before = nic.sim.stats().unwrap().nics[0].dma.read_bursts;
    let batch = nic_hw::rx_engine::DESC_BATCH;
    nic.post_rx(2 * batch as usize, BUF as u32);
    nic.sim.run_cycles(500).unwrap();
    let reads = nic.sim.stats().unwrap().nics[0].dma.read_bursts - before;
    assert_eq!(reads, 2, "receive descriptors per read: {batch}");
    // Transmit: 8 frames posted at once are described by two reads, plus one read per frame's data.
    let mut rng = SmallRng::seed_from_u64(103);
    let k = Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false };
    let before = nic.sim.stats().unwrap().nics[0].dma.read_bursts;
    let frames: Vec<Vec<u8>> = (0..8).map(|i| traffic::frame_of_len(k, 100, i, &mut rng)).collect();
    for f in &frames {
        let (s, d) = seed(f).unwrap();
        nic.post_tx(&s, d, false);
    }
    for _ in 0..8 {
        assert_eq!(nic.tx_cpl().status & 0x7f, status::OK);
    }
    nic.wire(8, T);
    let reads = nic.sim.stats().unwrap().nics[0].dma.read_bursts - before;
    // Doorbells come one per frame here, so batches can be smaller; never more than one read per
    // descriptor, never more than DESC_BATCH descriptors per read.
    assert!((8 + 8 / nic_hw::tx_engine::DESC_BATCH..=16).contains(&reads), "{reads} reads");
}

#[test]
fn ctrl_reset_reads_back_until_the_reset_has_happened() {
    use nic_abi::regs::ctrl;
    let mut rng = SmallRng::seed_from_u64(104);
    let mut nic = RawNic::new();
    let k = Kind { v6: false, tcp: true, vlan: false, ext: false, frag: false };
    for i in 0..4 {
        let (s, d) = seed(&traffic::frame_of_len(k, 9018, i, &mut rng)).unwrap();
        nic.post_tx(&s, d, false);
    }
    nic.sim.run_cycles(200).unwrap();
    nic.nic.write32(ctrl::CTRL, ctrl::CTRL_RESET).unwrap();
    let mut saw_pending = false;
    for _ in 0..10_000 {
        let v = nic.nic.read32(ctrl::CTRL).unwrap();
        if v & ctrl::CTRL_RESET == 0 {
            break;
        }
        saw_pending = true;
    }
    assert!(saw_pending, "a reset with DMA in flight is visibly pending");
    assert_eq!(nic.nic.read32(ctrl::CTRL).unwrap() & ctrl::CTRL_RESET, 0, "and then completes");
    assert_ne!(nic.nic.read32(ctrl::STATUS).unwrap() & ctrl::STATUS_IDLE, 0, "idle after it");
}

/// CAPDISABLE (ABI 1.2) takes capabilities away from a build: CAPS reads without them, CAPENABLE
/// cannot turn them on (and loses them when the strap is written), a soft reset keeps the strap,
/// and a request that needs a switched-off offload is refused as with CAPENABLE off.
#[test]
fn capdisable_masks_caps_and_capenable_and_survives_soft_reset() {
    use nic_abi::regs::{ctrl, id};
    let mut rng = SmallRng::seed_from_u64(77);
    let mut nic = RawNic::new();
    let build = nic.nic.read32(id::CAPS).unwrap();
    assert_ne!(build & ifcap::IFCAP_TXCSUM, 0, "the default build has txcsum");
    nic.set_capenable(build);
    let off = ifcap::IFCAP_TXCSUM | ifcap::IFCAP_TSO4;
    nic.nic.write32(ctrl::CAPDISABLE, off).unwrap();
    assert_eq!(nic.nic.read32(ctrl::CAPDISABLE).unwrap(), off);
    assert_eq!(nic.nic.read32(id::CAPS).unwrap(), build & !off, "CAPS without the strapped-off bits");
    assert_eq!(nic.nic.read32(ctrl::CAPENABLE).unwrap(), build & !off, "and CAPENABLE lost them");
    nic.nic.write32(ctrl::CAPENABLE, u32::MAX).unwrap();
    assert_eq!(nic.nic.read32(ctrl::CAPENABLE).unwrap(), build & !off, "CAPENABLE cannot turn them on");
    let f4 = traffic::frame_of_len(Kind { v6: false, tcp: true, vlan: false, ext: false, frag: false }, 200, 1, &mut rng);
    let (s4, d4) = seed(&f4).unwrap();
    nic.post_tx(&s4, d4, false);
    assert_eq!(nic.tx_cpl().status & 0x7f, status::BAD_FLAGS, "a v4 checksum request with txcsum strapped off");
    nic.soft_reset();
    assert_eq!(nic.nic.read32(id::CAPS).unwrap(), build & !off, "the strap survives a soft reset");
    nic.nic.write32(ctrl::CAPDISABLE, 0).unwrap();
    assert_eq!(nic.nic.read32(id::CAPS).unwrap(), build, "and can be lifted");
}

/// Regression: a TX completion goes out once the frames pushed before its record have left
/// (`retired` − record's `seq`, both 16-bit counts that wrap every 65 536 frames). The Verilog
/// did that subtraction at 64 bits, so a record queued just before the wrap and looked at just
/// after it waited for 65 536 more frames: the queue hung. Slow write responses keep a backlog
/// of completion records while frames go on leaving, so some records are looked at only after
/// the frame count wrapped. (rust-hdl's own simulator wraps at 16 bits: only Verilator shows it.)
#[test]
fn tx_completions_held_back_across_the_frame_counts_wrap_are_written() {
    let mut rng = SmallRng::seed_from_u64(81);
    let mut cfg = SimConfig::external(1);
    cfg.dma = DmaConfig { write_latency: 120, ..Default::default() };
    let mut nic = RawNic::with_config(cfg);
    let k = Kind { v6: false, tcp: false, vlan: false, ext: false, frag: false };
    let (s, d) = seed(&traffic::frame_of_len(k, 60, 1, &mut rng)).unwrap();
    let total: u32 = 65_536 + 256;
    let (mut posted, mut done) = (0u32, 0u32);
    while done < total {
        // Keep most of the ring posted, so completion records queue up behind slow writes.
        if posted < total && posted - done < 56 {
            nic.post_tx(&s, d, false);
            posted += 1;
        } else {
            let c = nic.tx_cpl();
            assert_eq!(c.status & 0x7f, 0, "completion {done}: status {:#x}", c.status);
            done += 1;
        }
    }
    assert_eq!(nic.stat(stats::TX_FRAMES), total, "every frame left");
}
