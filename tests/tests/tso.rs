//! TSO in the Verilated NIC, checked by a parser the project did not write.
//!
//! Bursts are built by `etherparse` (every header variant: IPv4 with and
//! without options, IPv6 with and without extension headers, with and without
//! 802.1Q, TCP options and flags), seeded for TSO by the host's
//! `offload::prepare_tso`, posted as descriptor chains cut at random places,
//! and every frame on the wire is parsed by `etherparse`: checksums, IPv4 IDs
//! and lengths, IPv6 payload lengths, sequence numbers, flags, and the
//! reassembled payload against the original. The same burst through the
//! host's software segmentation (`net::gso::tcp_gso`) must give the same
//! bytes, frame for frame.

use etherparse::{NetSlice, SlicedPacket, TcpHeader, TcpOptionElement, TransportSlice};
use nic_abi::desc::TxDesc;
use nic_abi::regs::stats;
use nic_abi::{csum, ifcap, status, MAX_FRAME};
use nic_host::mbuf::Mbuf;
use nic_host::net::gso::tcp_gso;
use nic_host::offload::prepare_tso;
use nic_testbench::traffic::{self, Kind};
use nic_sim::{DmaConfig, DmaStall, MacConfig, SimConfig};
use nic_tests::{verify, RawNic, BUF};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const TH_FIN: u8 = 0x01;
const TH_PSH: u8 = 0x08;
const TH_CWR: u8 = 0x80;

/// A burst of kind `k`: TCP with timestamps, `flags` (ACK always), sequence `seq`, IP id `id`.
fn burst(k: Kind, payload: &[u8], seq: u32, id: u16, flags: u8) -> Vec<u8> {
    let mut t = TcpHeader::new(40000, 5001, seq, 29200);
    t.acknowledgment_number = 0x1234_5678;
    t.ack = true;
    t.fin = flags & TH_FIN != 0;
    t.psh = flags & TH_PSH != 0;
    t.cwr = flags & TH_CWR != 0;
    t.ece = flags & 0x40 != 0;
    t.urg = flags & 0x20 != 0;
    if t.urg {
        t.urgent_pointer = 3;
    }
    t.set_options(&[TcpOptionElement::Noop, TcpOptionElement::Noop, TcpOptionElement::Timestamp(0xaabb_ccdd, 0x0102_0304)])
        .unwrap();
    traffic::tcp_frame(k, t, id as u32, payload)
}

/// The TSO descriptor for a seeded burst (the driver's translation of the mbuf header).
fn desc_of(m: &Mbuf) -> TxDesc {
    let h = &m.pkthdr;
    TxDesc {
        csum_flags: h.csum_flags.into(),
        l2hlen: h.l2hlen,
        l3hlen: h.l3hlen,
        l4hlen: h.l4hlen,
        csum_data: (h.csum_data as u16).into(),
        tso_segsz: h.tso_segsz.into(),
        ..Default::default()
    }
}

fn hlen(m: &Mbuf) -> usize {
    m.pkthdr.l2hlen as usize + m.pkthdr.l3hlen as usize + m.pkthdr.l4hlen as usize
}

/// Random chain cuts: at most 8 pieces of at most `BUF` bytes, all but the last multiples of 8,
/// the first holding the headers and at least one payload byte.
fn cuts(len: usize, hlen: usize, rng: &mut SmallRng) -> Vec<usize> {
    let max = BUF as usize;
    let mut v = vec![];
    let mut left = len;
    for i in 0..8 {
        let slots_after = 7 - i;
        if left <= max && (i == 7 || rng.gen_bool(0.4)) {
            v.push(left);
            return v;
        }
        let lo = if i == 0 { (hlen + 1).div_ceil(8) } else { 1 };
        let lo = lo.max(left.saturating_sub(slots_after * max).div_ceil(8));
        let hi = (max / 8).min((left - 1) / 8);
        if lo > hi {
            v.push(left);
            return v;
        }
        let n = 8 * rng.gen_range(lo..=hi);
        v.push(n);
        left -= n;
    }
    unreachable!("the eighth piece takes the rest")
}

/// Checks the wire frames of one burst with etherparse; returns nothing, panics with what differs.
fn check_segments(name: &str, orig: &[u8], mss: usize, wire: &[Vec<u8>]) {
    let p = SlicedPacket::from_ethernet(orig).unwrap();
    let Some(TransportSlice::Tcp(t0)) = &p.transport else { panic!("{name}: burst is not TCP") };
    let payload0 = t0.payload();
    let n = payload0.len().div_ceil(mss);
    assert_eq!(wire.len(), n, "{name}: {} payload bytes at MSS {mss}", payload0.len());
    let mut joined = Vec::with_capacity(payload0.len());
    for (k, f) in wire.iter().enumerate() {
        verify(f).unwrap_or_else(|e| panic!("{name}: segment {k}: {e}"));
        assert!(f.len() <= MAX_FRAME as usize, "{name}: segment {k} of {} bytes", f.len());
        let s = SlicedPacket::from_ethernet(f).unwrap();
        assert_eq!(s.vlan.is_some(), p.vlan.is_some(), "{name}: segment {k} VLAN tag");
        match (&s.net, &p.net) {
            (Some(NetSlice::Ipv4(a)), Some(NetSlice::Ipv4(b))) => {
                let (a, b) = (a.header().to_header(), b.header().to_header());
                assert_eq!(a.identification, b.identification.wrapping_add(k as u16), "{name}: segment {k} IP ID");
                assert_eq!(a.options, b.options, "{name}: segment {k} IP options");
                assert_eq!((a.time_to_live, a.dont_fragment, a.source, a.destination), (b.time_to_live, b.dont_fragment, b.source, b.destination));
            }
            (Some(NetSlice::Ipv6(a)), Some(NetSlice::Ipv6(b))) => {
                assert_eq!(a.extensions().slice(), b.extensions().slice(), "{name}: segment {k} extension headers");
                assert_eq!(a.header().source(), b.header().source());
            }
            other => panic!("{name}: segment {k}: network layers differ: {other:?}"),
        }
        // etherparse checked the IP length fields against the frame when it sliced it (lax=false).
        let Some(TransportSlice::Tcp(t)) = &s.transport else { panic!("{name}: segment {k} not TCP") };
        let last = k + 1 == n;
        assert_eq!(t.sequence_number(), t0.sequence_number().wrapping_add((k * mss) as u32), "{name}: segment {k} seq");
        assert_eq!(t.acknowledgment_number(), t0.acknowledgment_number());
        assert_eq!(t.window_size(), t0.window_size());
        assert_eq!(t.options(), t0.options(), "{name}: segment {k} options");
        assert_eq!(t.fin(), t0.fin() && last, "{name}: segment {k} FIN");
        assert_eq!(t.psh(), t0.psh() && last, "{name}: segment {k} PSH");
        assert_eq!(t.cwr(), t0.cwr() && k == 0, "{name}: segment {k} CWR");
        assert_eq!((t.ack(), t.ece(), t.urg(), t.syn(), t.rst()), (t0.ack(), t0.ece(), t0.urg(), t0.syn(), t0.rst()));
        let want = if last { payload0.len() - k * mss } else { mss };
        assert_eq!(t.payload().len(), want, "{name}: segment {k} payload length");
        joined.extend_from_slice(t.payload());
    }
    assert!(joined == payload0, "{name}: reassembled payload differs from the original");
}

/// Sends `bursts` (frame, mss) through the NIC as random chains, checks every segment, and holds
/// the NIC's frames equal to the host's software segmentation.
fn run(nic: &mut RawNic, bursts: &[(String, Vec<u8>, u16)], rng: &mut SmallRng) {
    for (name, b, mss) in bursts {
        let m = prepare_tso(b, *mss).unwrap();
        let d = desc_of(&m);
        let c = cuts(m.len(), hlen(&m), rng);
        let n = nic.post_tx_chain(m.data(), d, &c);
        for i in 0..n {
            let cpl = nic.tx_cpl();
            assert_eq!(cpl.status & 0x7f, status::OK, "{name}: descriptor {i} of {n} (cuts {c:?})");
            assert_eq!(cpl.len.get() as usize, c[i], "{name}: completion {i} length");
        }
        let segs = (m.len() - hlen(&m)).div_ceil(*mss as usize);
        let wire: Vec<Vec<u8>> = nic.wire(segs, T).into_iter().map(|f| f.data).collect();
        check_segments(name, b, *mss as usize, &wire);
        let soft: Vec<Vec<u8>> = tcp_gso(&m, 0).unwrap().into_iter().map(|s| s.data().to_vec()).collect();
        for (k, (hw, sw)) in wire.iter().zip(&soft).enumerate() {
            assert!(hw == sw, "{name}: segment {k}: the NIC's bytes differ from the host's GSO");
        }
    }
}

fn kinds() -> Vec<Kind> {
    let mut v = vec![];
    for v6 in [false, true] {
        for vlan in [false, true] {
            for ext in [false, true] {
                v.push(Kind { v6, tcp: true, vlan, ext, frag: false });
            }
        }
    }
    v
}

fn random_bursts(n: usize, seed: u64) -> Vec<(String, Vec<u8>, u16)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let kinds = kinds();
    (0..n)
        .map(|i| {
            let k = kinds[i % kinds.len()];
            let h = traffic::header_len(k) + 12; // the timestamp option
            let mss = match rng.gen_range(0..8) {
                0 => 1,
                1 => rng.gen_range(2..64),
                2 => 536,
                3 => 1448,
                4 => 1460,
                5 => 8948,
                6 => (MAX_FRAME as usize - h) as u16 as usize,
                _ => rng.gen_range(1..=MAX_FRAME as usize - h),
            };
            let limit = 65535 - h;
            let plen = if mss < 64 {
                rng.gen_range(1..=300)
            } else {
                match rng.gen_range(0..6) {
                    0 => rng.gen_range(1..=mss.min(limit)),
                    1 => (mss + 1).min(limit),
                    2 => (mss * rng.gen_range(2..=8)).min(limit),
                    3 => limit,
                    _ => rng.gen_range(1..=limit),
                }
            };
            let payload: Vec<u8> = (0..plen).map(|_| rng.gen()).collect();
            let flags = rng.gen::<u8>() & (TH_FIN | TH_PSH | TH_CWR | 0x40 | 0x20);
            let id = rng.gen::<u16>();
            let name = format!("burst {i} {k:?} mss {mss} payload {plen} flags {flags:#04x} id {id:#06x}");
            (name, burst(k, &payload, rng.gen(), id, flags), mss as u16)
        })
        .collect()
}

#[test]
fn tso_segments_are_what_the_rfcs_say_for_every_header_variant() {
    let mut nic = RawNic::new();
    assert_eq!(nic.stat(stats::TX_TSO_SEGS), 0);
    let mut rng = SmallRng::seed_from_u64(3);
    let bursts = random_bursts(48, 1);
    run(&mut nic, &bursts, &mut rng);
    assert!(nic.stat(stats::TX_TSO_SEGS) > 0, "the TSO counter moves");
}

#[test]
fn tso_edges_mss_one_exact_multiples_and_the_largest_burst() {
    let mut nic = RawNic::new();
    let mut rng = SmallRng::seed_from_u64(4);
    let k4 = Kind { v6: false, tcp: true, vlan: false, ext: false, frag: false };
    let k6 = Kind { v6: true, tcp: true, vlan: true, ext: true, frag: false };
    let mut v = vec![];
    for (k, name) in [(k4, "v4"), (k6, "v6+vlan+ext")] {
        let h = traffic::header_len(k) + 12;
        let pay = |n: usize| (0..n).map(|i| (i * 7 + 3) as u8).collect::<Vec<u8>>();
        v.push((format!("{name} mss 1, 37 bytes"), burst(k, &pay(37), 1, 0xfffe, TH_FIN | TH_PSH | TH_CWR), 1));
        v.push((format!("{name} exact multiple"), burst(k, &pay(1448 * 5), u32::MAX - 3000, 0xffff, TH_FIN), 1448));
        v.push((format!("{name} one byte over"), burst(k, &pay(1448 * 5 + 1), 7, 1, TH_PSH), 1448));
        v.push((format!("{name} largest burst"), burst(k, &pay(65535 - h), 9, 2, TH_PSH), 1448));
        v.push((format!("{name} jumbo MSS"), burst(k, &pay(65535 - h), 11, 3, 0), (MAX_FRAME as usize - h) as u16));
        v.push((format!("{name} one segment"), burst(k, &pay(100), 13, 4, TH_FIN), 1448));
    }
    run(&mut nic, &v, &mut rng);
}

#[test]
fn tso_under_mac_and_dma_back_pressure() {
    let mut cfg = SimConfig::external(1);
    cfg.mac = MacConfig { tx_backpressure: Some((9, 0.4)), ..Default::default() };
    cfg.dma = DmaConfig {
        read_latency: 40,
        stall: Some(DmaStall { seed: 5, ar: 0.3, r_gap: 0.3, aw: 0.3, w: 0.3 }),
        ..Default::default()
    };
    let mut nic = RawNic::with_config(cfg);
    let mut rng = SmallRng::seed_from_u64(5);
    run(&mut nic, &random_bursts(16, 2), &mut rng);
}

#[test]
fn invalid_tso_requests_complete_with_errors_send_nothing_and_the_nic_keeps_working() {
    let mut nic = RawNic::new();
    let mut rng = SmallRng::seed_from_u64(6);
    let k = Kind { v6: false, tcp: true, vlan: false, ext: false, frag: false };
    let b = burst(k, &[0x5a; 5000], 100, 1, 0);
    let m = prepare_tso(&b, 1448).unwrap();
    let h = hlen(&m);
    let good = || {
        let m = prepare_tso(&b, 1448).unwrap();
        (m.data().to_vec(), desc_of(&m))
    };
    let (data, d0) = good();
    type Case = (&'static str, Box<dyn Fn(&mut TxDesc, &mut Vec<u8>, &mut Vec<usize>)>, u8);
    let one = vec![data.len()];
    let cases: Vec<Case> = vec![
        ("MSS 0", Box::new(|d, _, _| d.tso_segsz = 0.into()), status::BAD_LEN),
        ("MSS past the max frame", Box::new(move |d, _, _| d.tso_segsz = ((MAX_FRAME as usize - h + 1) as u16).into()), status::BAD_LEN),
        ("burst past TSO_MAX", Box::new(|d, _, c| { *c = vec![8200; 8]; d.pkt_len = 65600.into(); }), status::BAD_LEN),
        ("headers only", Box::new(move |d, f, c| { f.truncate(h); *c = vec![h]; d.pkt_len = (h as u32).into(); }), status::BAD_LEN),
        ("tso4 off in capenable", Box::new(|_, _, _| {}), status::BAD_FLAGS),
        ("TSO with UDP", Box::new(|d, _, _| d.csum_flags = (csum::CSUM_TSO | csum::CSUM_IP_UDP).into()), status::BAD_FLAGS),
        ("TSO without TCP", Box::new(|d, _, _| d.csum_flags = (csum::CSUM_TSO | csum::CSUM_IP).into()), status::BAD_FLAGS),
        ("l4hlen disagrees with the TCP data offset", Box::new(|d, _, _| d.l4hlen = 20), status::BAD_OFFSETS),
        ("l3hlen disagrees with the IHL", Box::new(|d, _, _| d.l3hlen = 24), status::BAD_OFFSETS),
        ("IPv6 flag on an IPv4 packet", Box::new(|d, _, _| { d.csum_flags = (csum::CSUM_TSO | csum::CSUM_IP6_TCP).into(); d.l3hlen = 40; d.l4hlen = 20; }), status::BAD_OFFSETS),
        ("l4hlen not a multiple of 4", Box::new(|d, _, _| d.l4hlen = 30), status::BAD_OFFSETS),
        ("nine descriptors", Box::new(|_, f, c| { *c = vec![504; 9]; c[8] = f.len() - 8 * 504; }), status::BAD_CHAIN),
        ("pkt_len not the sum", Box::new(|d, f, c| { *c = vec![2000, f.len() - 2000]; d.pkt_len = (f.len() as u32 + 8).into(); }), status::BAD_CHAIN),
        ("a middle buffer not whole beats", Box::new(|_, f, c| *c = vec![2000, 1001, f.len() - 3001]), status::BAD_CHAIN),
        ("headers split over two buffers", Box::new(|_, f, c| *c = vec![48, f.len() - 48]), status::BAD_CHAIN),
        ("continuation with an offload request", Box::new(|_, f, c| *c = vec![2000, f.len() - 2000]), status::BAD_RSVD),
    ];
    let mut errs = 0;
    for (name, mutate, want) in cases {
        let mut d = d0;
        let mut f = data.clone();
        let mut c = one.clone();
        mutate(&mut d, &mut f, &mut c);
        if name == "tso4 off in capenable" {
            nic.set_capenable(!ifcap::IFCAP_TSO4);
        }
        let n = if name == "continuation with an offload request" {
            post_chain_with_dirty_continuation(&mut nic, &f, d, &c)
        } else if name == "burst past TSO_MAX" || name == "pkt_len not the sum" {
            post_chain_keeping_pkt_len(&mut nic, &f, d, &c)
        } else {
            nic.post_tx_chain(&f, d, &c)
        };
        for i in 0..n {
            assert_eq!(nic.tx_cpl().status & 0x7f, want, "{name}: descriptor {i} of {n}");
        }
        errs += n;
        assert!(nic.wire(1, Duration::from_millis(50)).is_empty(), "{name}: nothing on the wire");
        nic.set_capenable(0xffff_ffff);
        // The NIC keeps working: a good burst right after.
        run(&mut nic, &[(format!("after {name}"), b.clone(), 1448)], &mut rng);
    }
    assert_eq!(nic.stat(stats::TX_DESC_ERR) as usize, errs);
}

/// Like `post_tx_chain`, with the second descriptor carrying `CSUM_IP` (not allowed on a continuation).
fn post_chain_with_dirty_continuation(nic: &mut RawNic, f: &[u8], d: TxDesc, c: &[usize]) -> usize {
    nic.post_tx_chain_with(f, d, c, |i, d| {
        if i == 1 {
            d.csum_flags = csum::CSUM_IP.into();
        }
    })
}

/// Like `post_tx_chain`, with the first descriptor's `pkt_len` as the case set it, not the sum,
/// and data pieces shorter than they claim where the claim exceeds the buffer.
fn post_chain_keeping_pkt_len(nic: &mut RawNic, f: &[u8], d: TxDesc, c: &[usize]) -> usize {
    let want = d.pkt_len;
    let total: usize = c.iter().sum();
    let mut data = f.to_vec();
    data.resize(total, 0);
    nic.post_tx_chain_with(&data, d, c, |i, d| {
        if i == 0 {
            d.pkt_len = want;
        }
    })
}


/// A buffer in the middle of a chain that cannot be read (an IOMMU fault on a board): the segments
/// made wholly of earlier buffers are sent intact, nothing after the fault leaves, every descriptor
/// of the burst completes with DMA_ERROR, and the NIC keeps working.
#[test]
fn a_dma_fault_mid_burst_stops_the_burst_cleanly() {
    let mut nic = RawNic::new();
    let mut rng = SmallRng::seed_from_u64(7);
    let k = Kind { v6: true, tcp: true, vlan: false, ext: false, frag: false };
    let payload: Vec<u8> = (0..30_000).map(|i| (i % 253) as u8).collect();
    let b = burst(k, &payload, 5, 0, TH_PSH);
    let m = prepare_tso(&b, 1000).unwrap();
    let h = hlen(&m);
    let c = vec![8000, 8000, 8000, m.len() - 24_000];
    let n = nic.post_tx_chain_with(m.data(), desc_of(&m), &c, |i, d| {
        if i == 2 {
            d.addr = 0x10_0000.into();
        }
    });
    for i in 0..n {
        assert_eq!(nic.tx_cpl().status & 0x7f, status::DMA_ERROR, "descriptor {i}");
    }
    let whole = (16_000 - h) / 1000;
    let wire: Vec<Vec<u8>> = nic.wire(whole + 1, Duration::from_millis(300)).into_iter().map(|f| f.data).collect();
    assert_eq!(wire.len(), whole, "only the segments before the faulting buffer leave");
    let soft = tcp_gso(&m, 0).unwrap();
    for (i, f) in wire.iter().enumerate() {
        verify(f).unwrap();
        assert!(*f == soft[i].data(), "segment {i} intact");
    }
    run(&mut nic, &[("after the fault".into(), b.clone(), 1448)], &mut rng);
}
