//! Test support shared by the blocks' unit tests: hand-clocking in rust-hdl's
//! own simulator (fast enough for small blocks) and a Verilator lint with the
//! project's documented waivers.

use rust_hdl::prelude::*;

/// Runs one clock cycle: settle with the clock low, call `check` (inputs applied, before the edge),
/// then raise the clock and settle (the edge).
pub fn clock_cycle<B: Block, F: FnMut(&mut B)>(uut: &mut B, set_clock: fn(&mut B, bool), mut check: F) {
    set_clock(uut, false);
    assert!(simulate(uut, 200), "logic did not settle (combinational loop?)");
    check(uut);
    set_clock(uut, true);
    assert!(simulate(uut, 200), "logic did not settle after the edge");
}

/// The test's random seed: `SEED` from the environment if set (to repeat a failure or try
/// another), else `default`; printed either way.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    println!("seed {seed}");
    seed
}

/// Lints `verilog` (top module `top`) with `verilator --lint-only -Wall` and the waivers above.
/// Skips, saying so, when Verilator is not installed.
pub fn lint(name: &str, verilog: &str) {
    let dir = std::env::temp_dir().join(format!("nic-hw-lint-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("top.v");
    std::fs::write(&path, verilog).unwrap();
    let mut cmd = std::process::Command::new("verilator");
    cmd.arg("--lint-only").arg("-Wall").arg("--top-module").arg("top");
    for (w, _) in crate::emit::LINT_WAIVERS {
        cmd.arg(format!("-Wno-{w}"));
    }
    cmd.arg(&path);
    match cmd.output() {
        Err(e) => eprintln!("SKIP lint of {name}: verilator not runnable ({e}); install it with `apt-get install verilator`"),
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && !text.contains("%Warning") && !text.contains("%Error"), "verilator lint of {name} failed:\n{text}");
        }
    }
    if std::env::var_os("KEEP_LINT").is_none() { let _ = std::fs::remove_dir_all(&dir); }
}

/// A frame as 64-bit beats (byte 0 in bits 7:0) with their byte enables.
pub fn beats(bytes: &[u8]) -> Vec<(u64, u8)> {
    bytes
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            (u64::from_le_bytes(w), ((1u16 << c.len()) - 1) as u8)
        })
        .collect()
}

/// RFC 1071: the one's-complement sum of `bytes` as big-endian 16-bit words (an odd last byte
/// padded with zero), added to `init`, folded to 16 bits.
pub fn ones_sum(init: u32, bytes: &[u8]) -> u16 {
    let mut s = init as u64;
    for c in bytes.chunks(2) {
        s += ((c[0] as u64) << 8) | *c.get(1).unwrap_or(&0) as u64;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Toeplitz hash as offloads.md §6 words it, one input bit at a time (the textbook loop: the
/// reference the hardware's parallel trees are checked against).
pub fn toeplitz(key: &[u8; 40], input: &[u8]) -> u32 {
    let mut hash = 0u32;
    for (i, byte) in input.iter().enumerate() {
        for b in 0..8 {
            if byte & (0x80 >> b) != 0 {
                let k = 8 * i + b; // the key's window starts at bit k
                let mut w = 0u32;
                for j in 0..32 {
                    let kb = k + j;
                    if kb < 320 && key[kb / 8] & (0x80 >> (kb % 8)) != 0 {
                        w |= 1 << (31 - j);
                    }
                }
                hash ^= w;
            }
        }
    }
    hash
}

/// The Toeplitz verification vectors published with the algorithm (offloads.md §6), for the
/// default key: (source, destination, source port, destination port, hash of the addresses,
/// hash with the ports). Addresses of 4 or 16 bytes.
pub const RSS_VECTORS: [(&str, &str, u16, u16, u32, u32); 4] = [
    ("66.9.149.187", "161.142.100.80", 2794, 1766, 0x323e8fc2, 0x51ccc178),
    ("199.92.111.2", "65.69.140.83", 14230, 4739, 0xd718262a, 0xc626b0ea),
    ("24.19.198.95", "12.22.207.184", 12898, 38024, 0xd2d0a5de, 0x5c2b394a),
    ("3ffe:2501:200:1fff::7", "3ffe:2501:200:3::1", 2794, 1766, 0x2cc18cd5, 0x40207d3d),
];

/// The RSS hash and `M_HASHTYPE_*` the ABI (docs/ABI.md "RSS") requires for frame `f` built as
/// `d` describes, with hash types `types` enabled and key `key`: the addresses must lie in the
/// frame, the ports in the frame and in its first 64 bytes (TCP/UDP, not a fragment); the
/// 4-tuple type when enabled, else the family's 2-tuple type when enabled, else no hash.
pub fn rss_expect(f: &[u8], d: &frames::Desc, types: u32, key: &[u8; 40]) -> (u32, u8) {
    use nic_abi::rss::{enable, hashtype};
    let (len, l3) = (f.len(), d.l3start);
    let a4 = d.v4 && d.ihl >= 5 && l3 + 20 <= len;
    let a6 = d.v6 && l3 + 40 <= len;
    let ports = d.l4.filter(|&(_, o)| o + 4 <= len && o + 4 <= 64);
    let (t4, t2, addrs) = if a4 {
        let t4 = match ports {
            Some((6, _)) => (enable::RSS_TCP_IPV4, hashtype::RSS_TCP_IPV4),
            Some(_) => (enable::RSS_UDP_IPV4, hashtype::RSS_UDP_IPV4),
            None => (0, 0),
        };
        (t4, (enable::RSS_IPV4, hashtype::RSS_IPV4), &f[l3 + 12..l3 + 20])
    } else if a6 {
        let t4 = match ports {
            Some((6, _)) => (enable::RSS_TCP_IPV6, hashtype::RSS_TCP_IPV6),
            Some(_) => (enable::RSS_UDP_IPV6, hashtype::RSS_UDP_IPV6),
            None => (0, 0),
        };
        (t4, (enable::RSS_IPV6, hashtype::RSS_IPV6), &f[l3 + 8..l3 + 40])
    } else {
        return (0, 0);
    };
    if t4.0 & types != 0 {
        let o = ports.unwrap().1;
        (toeplitz(key, &[addrs, &f[o..o + 4]].concat()), t4.1)
    } else if t2.0 & types != 0 {
        (toeplitz(key, addrs), t2.1)
    } else {
        (0, 0)
    }
}

/// Random receive frames built with etherparse, each with the description of what was built.
pub mod frames {
    use etherparse::{IpAuthHeader, IpFragOffset, IpNumber, Ipv4Header, Ipv4Options, Ipv6FragmentHeader, Ipv6Header, Ipv6RawExtHeader, SlicedPacket, TcpHeader, UdpHeader};
    use rand::Rng;

    /// Writes an IPv6 extension header given its next-header value.
    type ExtWriter = Box<dyn Fn(u8) -> Vec<u8>>;

    /// What the frame's construction put where (offsets from the frame's first byte).
    #[derive(Clone, Debug, Default)]
    pub struct Desc {
        /// An 802.1Q tag follows the MAC addresses.
        pub vlan: bool,
        /// IPv4 (ethertype 0x0800 and version 4).
        pub v4: bool,
        /// IPv6 (ethertype 0x86dd and version 6).
        pub v6: bool,
        /// First byte of the IP header.
        pub l3start: usize,
        /// IPv4 IHL (words).
        pub ihl: usize,
        /// `l3start` + the IP length field's datagram length.
        pub l3end: usize,
        /// A fragment (IPv4 MF/offset, or an IPv6 fragment header before any unknown header).
        pub frag: bool,
        /// TCP/UDP reachable through headers the NIC walks, not a fragment: (protocol, offset).
        pub l4: Option<(u8, usize)>,
        /// An IPv6 routing header with Segments Left > 0 on the walk.
        pub route_pending: bool,
        /// Source and destination addresses as in the header.
        pub addrs: Vec<u8>,
        /// Source and destination ports, when TCP/UDP was built (fragment or not).
        pub ports: Option<(u16, u16)>,
    }

    /// A frame and its description.
    #[derive(Clone, Debug)]
    pub struct Frame {
        /// The bytes on the wire (without FCS), Ethernet padding included.
        pub bytes: Vec<u8>,
        /// What was built.
        pub desc: Desc,
    }

    fn rand_bytes(rng: &mut impl Rng, n: usize) -> Vec<u8> {
        (0..n).map(|_| rng.gen()).collect()
    }

    /// A well-formed random frame (correct checksums), padded to Ethernet's 60-byte minimum
    /// and sometimes beyond with trailing bytes outside the datagram. IPv4 with random options
    /// and fragments; IPv6 with random hop-by-hop, destination-options, routing, fragment and
    /// authentication (not walked by the NIC) headers; TCP with options, UDP, or another
    /// protocol; a VLAN tag or not; some non-IP frames. `max_payload` bounds the L4 payload.
    pub fn random(rng: &mut impl Rng, max_payload: usize) -> Frame {
        let mut d = Desc::default();
        let mut f = rand_bytes(rng, 12);
        d.vlan = rng.gen_bool(0.3);
        if d.vlan {
            f.extend_from_slice(&[0x81, 0x00, rng.gen::<u8>() & 0xef, rng.gen()]);
        }
        d.l3start = f.len();
        let kind = rng.gen_range(0..10);
        if kind == 0 {
            // Not IP: ARP or LLDP ethertype, random contents.
            let et: u16 = if rng.gen() { 0x0806 } else { 0x88cc };
            f.extend_from_slice(&et.to_be_bytes());
            let n = rng.gen_range(0..80);
            f.extend(rand_bytes(rng, n));
            d.l3start = 0;
            return finish(rng, f, d);
        }
        let proto: u8 = match rng.gen_range(0..10) {
            0..=4 => 6,
            5..=8 => 17,
            _ => 253, // experimental: neither the NIC nor etherparse reads into it
        };
        let plen = rng.gen_range(0..=max_payload);
        let payload = rand_bytes(rng, plen);
        let (sport, dport) = (rng.gen::<u16>(), rng.gen::<u16>());
        let mut tcp = TcpHeader::new(sport, dport, rng.gen(), rng.gen());
        tcp.acknowledgment_number = rng.gen();
        tcp.ack = rng.gen();
        tcp.psh = rng.gen();
        let optlen = 4 * rng.gen_range(0..=10);
        if optlen > 0 {
            // Options are opaque to the NIC: NOPs with an end marker.
            let mut o = vec![1u8; optlen];
            o[optlen - 1] = 0;
            tcp.set_options_raw(&o).unwrap();
        }
        let l4len = match proto {
            6 => tcp.header_len() + plen,
            17 => 8 + plen,
            _ => plen,
        };
        let ipn = IpNumber(proto);
        if kind <= 5 {
            // IPv4.
            d.v4 = true;
            f.extend_from_slice(&[0x08, 0x00]);
            d.l3start = f.len();
            let mut ip = Ipv4Header::new(l4len as u16, rng.gen(), ipn, rng.gen(), rng.gen()).unwrap();
            ip.identification = rng.gen();
            ip.dont_fragment = rng.gen();
            let ol = 4 * rng.gen_range(0..=10usize);
            let mut opts = rand_bytes(rng, ol);
            if rng.gen_bool(0.5) {
                opts.iter_mut().for_each(|b| *b = 1);
            }
            ip.options = Ipv4Options::try_from(&opts[..]).unwrap();
            if rng.gen_bool(0.2) {
                ip.dont_fragment = false;
                // First (MF, offset 0), middle (MF, offset), or last (offset) fragment.
                let which = rng.gen_range(0..3);
                ip.more_fragments = which < 2;
                let off = if which == 0 { 0 } else { rng.gen_range(1..0x2000) };
                ip.fragment_offset = IpFragOffset::try_new(off).unwrap();
                d.frag = true;
            }
            ip.total_len = (ip.header_len() + l4len) as u16;
            ip.header_checksum = ip.calc_header_checksum();
            d.ihl = ip.header_len() / 4;
            d.l3end = d.l3start + ip.total_len as usize;
            d.addrs = [ip.source, ip.destination].concat();
            f.extend_from_slice(&ip.to_bytes());
            let l4start = f.len();
            match proto {
                6 => {
                    tcp.checksum = tcp.calc_checksum_ipv4(&ip, &payload).unwrap();
                    f.extend_from_slice(&tcp.to_bytes());
                }
                17 => {
                    let u = UdpHeader::with_ipv4_checksum(sport, dport, &ip, &payload).unwrap();
                    f.extend_from_slice(&u.to_bytes());
                }
                _ => {}
            }
            if proto != 253 {
                d.ports = Some((sport, dport));
                if !d.frag {
                    d.l4 = Some((proto, l4start));
                }
            }
            f.extend_from_slice(&payload);
        } else {
            // IPv6 with 0..=3 extension headers.
            d.v6 = true;
            f.extend_from_slice(&[0x86, 0xdd]);
            d.l3start = f.len();
            let (src, dst): ([u8; 16], [u8; 16]) = (rng.gen(), rng.gen());
            let next = rng.gen_range(0..4);
            // Each extension header: its protocol number and how to write it given its next header.
            let mut exts: Vec<(u8, ExtWriter)> = Vec::new();
            let mut walk_ok = true; // the NIC still walks (no unknown header yet)
            for i in 0..next {
                let t = rng.gen_range(0..5);
                let t = if i > 0 && t == 0 { 1 } else { t }; // hop-by-hop only first
                let body_len = 6 + 8 * rng.gen_range(0..3);
                match t {
                    0 | 1 => {
                        let mut b = vec![0u8; body_len];
                        b[0] = 1; // PadN
                        b[1] = (body_len - 2) as u8;
                        let w = move |nh: u8| Ipv6RawExtHeader::new_raw(IpNumber(nh), &b).unwrap().to_bytes().to_vec();
                        exts.push((if t == 0 { 0 } else { 60 }, Box::new(w)));
                    }
                    2 => {
                        let mut b = rand_bytes(rng, body_len);
                        b[0] = 4; // routing type (segment routing: opaque here)
                        b[1] = if rng.gen() { 0 } else { rng.gen_range(1..=255) }; // Segments Left
                        if walk_ok && b[1] != 0 {
                            d.route_pending = true;
                        }
                        let w = move |nh: u8| Ipv6RawExtHeader::new_raw(IpNumber(nh), &b).unwrap().to_bytes().to_vec();
                        exts.push((43, Box::new(w)));
                    }
                    3 => {
                        let which = rng.gen_range(0..4); // first, middle, last, atomic
                        let mf = which < 2;
                        let off = if which == 0 || which == 3 { 0 } else { rng.gen_range(1..0x2000) };
                        let id: u32 = rng.gen();
                        let w = move |nh: u8| {
                            Ipv6FragmentHeader::new(IpNumber(nh), IpFragOffset::try_new(off).unwrap(), mf, id).to_bytes().to_vec()
                        };
                        exts.push((44, Box::new(w)));
                        if walk_ok {
                            d.frag = true;
                        }
                        walk_ok = false; // a fragment ends the walk: no L4 verdict whatever follows
                    }
                    _ => {
                        let icv_len = 4 * rng.gen_range(0..3) + 4;
                        let icv = rand_bytes(rng, icv_len);
                        let (spi, sq): (u32, u32) = (rng.gen(), rng.gen());
                        let w = move |nh: u8| IpAuthHeader::new(IpNumber(nh), spi, sq, &icv).unwrap().to_bytes().to_vec();
                        exts.push((51, Box::new(w)));
                        walk_ok = false;
                    }
                }
            }
            let mut ext_bytes = Vec::new();
            for i in 0..exts.len() {
                let nh = exts.get(i + 1).map(|e| e.0).unwrap_or(proto);
                ext_bytes.extend((exts[i].1)(nh));
            }
            let first_nh = exts.first().map(|e| e.0).unwrap_or(proto);
            let ip = Ipv6Header {
                traffic_class: rng.gen(),
                flow_label: etherparse::Ipv6FlowLabel::try_new(rng.gen_range(0..0x100000)).unwrap(),
                payload_length: (ext_bytes.len() + l4len) as u16,
                next_header: IpNumber(first_nh),
                hop_limit: rng.gen(),
                source: src,
                destination: dst,
            };
            d.l3end = d.l3start + 40 + ip.payload_length as usize;
            d.addrs = [src, dst].concat();
            f.extend_from_slice(&ip.to_bytes());
            f.extend_from_slice(&ext_bytes);
            let l4start = f.len();
            match proto {
                6 => {
                    tcp.checksum = tcp.calc_checksum_ipv6(&ip, &payload).unwrap();
                    f.extend_from_slice(&tcp.to_bytes());
                }
                17 => {
                    let u = UdpHeader::with_ipv6_checksum(sport, dport, &ip, &payload).unwrap();
                    f.extend_from_slice(&u.to_bytes());
                }
                _ => {}
            }
            if proto != 253 {
                d.ports = Some((sport, dport));
                if !d.frag && walk_ok {
                    d.l4 = Some((proto, l4start));
                }
            }
            f.extend_from_slice(&payload);
        }
        // etherparse reads back what was built (the description's offsets and protocol).
        let p = SlicedPacket::from_ethernet(&f).unwrap_or_else(|e| panic!("etherparse rejects the built frame: {e:?}"));
        let ipp = p.ip_payload().unwrap();
        assert_eq!(ipp.ip_number.0, proto);
        // (etherparse calls an IPv6 fragment header with offset 0 and no MF "not fragmented"; the
        // NIC, by design, treats any fragment header as a fragment.)
        if ipp.fragmented {
            assert!(d.frag || (d.v6 && ext_fragment_behind_unknown(&f, &d)), "{d:?}");
        }
        if d.v4 {
            assert_eq!(ipp.fragmented, d.frag);
        }
        if let Some((_, off)) = d.l4 {
            assert_eq!(ipp.payload.as_ptr() as usize - f.as_ptr() as usize, off);
        }
        finish(rng, f, d)
    }

    // An IPv6 fragment header behind an authentication header: a fragment to etherparse, not
    // seen by the NIC (which stops at the unknown header).
    fn ext_fragment_behind_unknown(f: &[u8], d: &Desc) -> bool {
        let mut nh = f[d.l3start + 6];
        let mut off = d.l3start + 40;
        loop {
            match nh {
                0 | 43 | 60 => {
                    let l = (f[off + 1] as usize + 1) * 8;
                    nh = f[off];
                    off += l;
                }
                51 => {
                    let l = (f[off + 1] as usize + 2) * 4;
                    nh = f[off];
                    off += l;
                }
                44 => return true,
                _ => return false,
            }
        }
    }

    fn finish(rng: &mut impl Rng, mut f: Vec<u8>, d: Desc) -> Frame {
        while f.len() < 60 {
            f.push(rng.gen());
        }
        if rng.gen_bool(0.1) {
            let n = rng.gen_range(1..20);
            f.extend((0..n).map(|_| rng.gen::<u8>()));
        }
        Frame { bytes: f, desc: d }
    }
}

/// Models of a DMA client's surroundings, for the engines' block tests: host memory, an
/// in-order read port and the pipelined write port's contract.
pub mod dma {
    use nic_abi::desc::{phase_for, Completion};
    use rand::rngs::SmallRng;
    use rand::Rng;
    use std::collections::VecDeque;
    use zerocopy::FromBytes;

    /// Host memory: `bytes.len()` bytes from IOVA `base`.
    pub struct Mem {
        /// IOVA of `bytes[0]`.
        pub base: u64,
        /// The contents.
        pub bytes: Vec<u8>,
    }

    impl Mem {
        /// `len` zeroed bytes at `base`.
        pub fn new(base: u64, len: usize) -> Self {
            Self { base, bytes: vec![0; len] }
        }
        /// The `len` bytes at `addr`.
        pub fn at(&mut self, addr: u64, len: usize) -> &mut [u8] {
            let o = (addr - self.base) as usize;
            &mut self.bytes[o..o + len]
        }
        /// The 64-bit beat at `addr`, little-endian.
        pub fn beat(&mut self, addr: u64) -> u64 {
            u64::from_le_bytes(self.at(addr, 8).try_into().unwrap())
        }
        /// Completion `idx` of a queue of `1 << size_log2` slots at `cq`, once the device has
        /// written it (its phase bit says so).
        pub fn completion(&mut self, cq: u64, idx: u16, size_log2: u32) -> Option<Completion> {
            let slot = idx as u64 % (1 << size_log2);
            let c = Completion::read_from_bytes(self.at(cq + 16 * slot, 16)).unwrap();
            ((c.status & 0x80 != 0) == phase_for(idx, size_log2)).then_some(c)
        }
    }

    /// An in-order read port: each command answered after a random latency (2..30 cycles), its
    /// beats offered with random gaps.
    #[derive(Default)]
    pub struct ReadPort {
        reads: VecDeque<(u64, u64, u64)>,
        beat: u64,
    }

    impl ReadPort {
        /// The beat offered this cycle, if any: its address and whether it ends its command.
        pub fn offer(&self, cycle: u64, rng: &mut SmallRng) -> Option<(u64, bool)> {
            let &(at, addr, beats) = self.reads.front()?;
            (cycle >= at && rng.gen_bool(0.8)).then_some((addr + 8 * self.beat, self.beat + 1 == beats))
        }
        /// A command was taken this cycle.
        pub fn command(&mut self, cycle: u64, addr: u64, beats: u64, rng: &mut SmallRng) {
            self.reads.push_back((cycle + rng.gen_range(2..30), addr, beats));
        }
        /// The offered beat was taken.
        pub fn taken(&mut self) {
            self.beat += 1;
            if self.beat == self.reads[0].2 {
                self.reads.pop_front();
                self.beat = 0;
            }
        }
    }

    /// The pipelined DMA writer's contract ([`crate::dma_wr`]): a command waits in a slot while
    /// one streams, beats are asked for in command order (strobe on the last), and each
    /// command's `done` comes in order, a random 1..8 cycles after its last beat. `T` is what
    /// the test remembers of each command.
    pub struct WritePort<T> {
        cmds: VecDeque<(u64, u64, u64, T)>,
        beat: u64,
        dones: VecDeque<(u64, T)>,
    }

    impl<T: Clone> Default for WritePort<T> {
        fn default() -> Self {
            Self { cmds: VecDeque::new(), beat: 0, dones: VecDeque::new() }
        }
    }

    impl<T: Clone> WritePort<T> {
        /// Whether a command is taken this cycle.
        pub fn cmd_ready(&self, rng: &mut SmallRng) -> bool {
            self.cmds.len() < 2 && rng.gen_bool(0.7)
        }
        /// Whether a beat is taken this cycle.
        pub fn data_ready(&self, rng: &mut SmallRng) -> bool {
            self.cmds.front().is_some_and(|c| self.beat < c.1) && rng.gen_bool(0.8)
        }
        /// The `done` due this cycle, if any.
        pub fn done(&self, cycle: u64) -> Option<&T> {
            self.dones.front().filter(|d| cycle >= d.0).map(|d| &d.1)
        }
        /// The due `done` was given.
        pub fn done_given(&mut self) {
            self.dones.pop_front();
        }
        /// A command was taken: `beats` beats at `addr`, `strb` on the last.
        pub fn command(&mut self, addr: u64, beats: u64, strb: u64, tag: T) {
            self.cmds.push_back((addr, beats, strb, tag));
        }
        /// A beat was taken: it lands in `mem`. Returns the command's tag and the beat's bytes
        /// when it was the command's last.
        pub fn beat(&mut self, mem: &mut Mem, data: u64, cycle: u64, rng: &mut SmallRng) -> Option<(T, [u8; 8])> {
            let (addr, beats, strb, _) = self.cmds[0];
            let bytes = data.to_le_bytes();
            let last = self.beat + 1 == beats;
            for (i, b) in mem.at(addr + 8 * self.beat, 8).iter_mut().enumerate() {
                if !last || strb & (1 << i) != 0 {
                    *b = bytes[i];
                }
            }
            self.beat += 1;
            if !last {
                return None;
            }
            let (_, _, _, tag) = self.cmds.pop_front().unwrap();
            self.beat = 0;
            let due = self.dones.back().map_or(0, |d| d.0).max(cycle + rng.gen_range(1..8));
            self.dones.push_back((due, tag.clone()));
            Some((tag, bytes))
        }
    }
}
