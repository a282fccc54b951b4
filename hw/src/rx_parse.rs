//! Receive parser: walks Ethernet, 802.1Q, IPv4 (with options) and IPv6 (with
//! hop-by-hop, routing, destination-options and fragment headers) as the
//! frame streams by, one beat per cycle, without stalling it.
//!
//! Its outputs are registered: after beat `k` they describe everything in
//! beats `0..=k`. The checksum stage ([`crate::rx_csum`]) runs one beat
//! behind, so for every byte it sums it already knows which header the byte
//! belongs to: a header's length field always arrives in an earlier beat than
//! the header it locates (IPv4's IHL is at least 20 bytes before the L4 header,
//! an extension header's length at least 8 before the next).
//!
//! ```text
//! beat 1: ethertype (or 802.1Q TPID)  beat 2-3: IP version, lengths, protocol, fragment bits
//! beat 6+: IPv6 extension headers, one per beat at most, until TCP/UDP or anything else
//! ```
//! Limits, by design: one VLAN tag (TPID 0x8100); a fragment (IPv4 MF or
//! offset, or any IPv6 fragment header) gets no L4 verdict; an unknown next
//! header ends the walk with no L4 verdict.

use rust_hdl::prelude::*;

/// The receive header parser.
#[derive(LogicBlock, Default)]
pub struct RxParse {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Beat data (byte 0 in bits 7:0).
    pub data: Signal<In, Bits<64>>,
    /// Beat valid.
    pub valid: Signal<In, Bit>,
    /// Last beat of the frame.
    pub last: Signal<In, Bit>,
    /// An 802.1Q tag is present.
    pub vlan: Signal<Out, Bit>,
    /// IPv4 (version 4) follows the Ethernet header.
    pub v4: Signal<Out, Bit>,
    /// IPv6 (version 6) follows the Ethernet header.
    pub v6: Signal<Out, Bit>,
    /// Offset of the IP header (14 or 18).
    pub l3start: Signal<Out, Bits<16>>,
    /// IPv4 header length in 32-bit words.
    pub ihl: Signal<Out, Bits<4>>,
    /// One past the IP datagram's last byte, from its length field.
    pub l3end: Signal<Out, Bits<16>>,
    /// The datagram is a fragment.
    pub frag: Signal<Out, Bit>,
    /// L4 protocol (6 TCP, 17 UDP) once found.
    pub proto: Signal<Out, Bits<8>>,
    /// Offset of the TCP/UDP header, valid with `l4_known`.
    pub l4start: Signal<Out, Bits<16>>,
    /// A TCP or UDP header was located and the datagram is not a fragment.
    pub l4_known: Signal<Out, Bit>,
    /// An IPv6 routing header with Segments Left > 0: the pseudo-header's destination is not the
    /// header's, so no L4 verdict may be given (RFC 8200 §8.1).
    pub route_pending: Signal<Out, Bit>,
    b: DFF<Bits<16>>,
    vlan_q: DFF<Bit>,
    v4_q: DFF<Bit>,
    v6_q: DFF<Bit>,
    l3start_q: DFF<Bits<16>>,
    ihl_q: DFF<Bits<4>>,
    l3end_q: DFF<Bits<16>>,
    frag_q: DFF<Bit>,
    proto_q: DFF<Bits<8>>,
    l4start_q: DFF<Bits<16>>,
    l4_known_q: DFF<Bit>,
    walking: DFF<Bit>,
    hdr_off: DFF<Bits<16>>,
    nh: DFF<Bits<8>>,
    rt_chk: DFF<Bit>,
    rt_off: DFF<Bits<16>>,
    rt_nz: DFF<Bit>,
    rsh: Signal<Local, Bits<16>>,
    rt3: Signal<Local, Bits<16>>,
    rsh3: Signal<Local, Bits<16>>,
    by: [Signal<Local, Bits<8>>; 8],
    et: Signal<Local, Bits<16>>,
    et2: Signal<Local, Bits<16>>,
    f16: Signal<Local, Bits<16>>,
    v6_now: Signal<Local, Bit>,
    nh_now: Signal<Local, Bits<8>>,
    off_now: Signal<Local, Bits<16>>,
    sh0: Signal<Local, Bits<16>>,
    sh1: Signal<Local, Bits<16>>,
    nxt: Signal<Local, Bits<8>>,
    xlen: Signal<Local, Bits<8>>,
    new_off: Signal<Local, Bits<16>>,
}

impl Logic for RxParse {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, b, vlan_q, v4_q, v6_q, l3start_q, ihl_q, l3end_q, frag_q, proto_q, l4start_q, l4_known_q,
            walking, hdr_off, nh, rt_chk, rt_off, rt_nz
        );
        self.route_pending.next = self.rt_nz.q.val();
        self.vlan.next = self.vlan_q.q.val();
        self.v4.next = self.v4_q.q.val();
        self.v6.next = self.v6_q.q.val();
        self.l3start.next = self.l3start_q.q.val();
        self.ihl.next = self.ihl_q.q.val();
        self.l3end.next = self.l3end_q.q.val();
        self.frag.next = self.frag_q.q.val();
        self.proto.next = self.proto_q.q.val();
        self.l4start.next = self.l4start_q.q.val();
        self.l4_known.next = self.l4_known_q.q.val();

        self.by[0].next = self.data.val().get_bits::<8>(0);
        self.by[1].next = self.data.val().get_bits::<8>(8);
        self.by[2].next = self.data.val().get_bits::<8>(16);
        self.by[3].next = self.data.val().get_bits::<8>(24);
        self.by[4].next = self.data.val().get_bits::<8>(32);
        self.by[5].next = self.data.val().get_bits::<8>(40);
        self.by[6].next = self.data.val().get_bits::<8>(48);
        self.by[7].next = self.data.val().get_bits::<8>(56);
        self.et.next = (bit_cast::<16, 8>(self.by[4].val()) << 8) | bit_cast::<16, 8>(self.by[5].val());
        self.et2.next = (bit_cast::<16, 8>(self.by[0].val()) << 8) | bit_cast::<16, 8>(self.by[1].val());
        self.f16.next = 0.into();
        // The IPv6 next-header decision is the same with or without a tag: gather it here.
        self.v6_now.next = false;
        self.nh_now.next = 0.into();
        self.off_now.next = 0.into();
        // Extension header at a dynamic lane: next header and length bytes.
        self.sh0.next = (self.hdr_off.q.val() & 7) << 3;
        self.sh1.next = self.sh0.val() + 8;
        self.nxt.next = self.data.val().get_bits::<8>(self.sh0.val().index());
        self.xlen.next = self.data.val().get_bits::<8>(self.sh1.val().index());
        self.rt3.next = self.hdr_off.q.val() + 3;
        self.rsh3.next = (self.rt3.val() & 7) << 3;
        self.new_off.next = self.hdr_off.q.val() + ((bit_cast::<16, 8>(self.xlen.val()) + 1) << 3);

        // A routing header's Segments Left byte in this beat (its header began in the last one).
        // Before the walk below, so that a second routing header in this beat, whose byte is in
        // the next, re-arms the check rather than being cleared by it.
        self.rsh.next = (self.rt_off.q.val() & 7) << 3;
        if self.valid.val() & self.rt_chk.q.val() & (self.b.q.val() == (self.rt_off.q.val() >> 3)) {
            self.rt_chk.d.next = false;
            if self.data.val().get_bits::<8>(self.rsh.val().index()) != 0 {
                self.rt_nz.d.next = true;
            }
        }
        if self.valid.val() {
            self.b.d.next = self.b.q.val() + 1;
            if self.last.val() {
                self.b.d.next = 0.into();
            }
            if self.b.q.val() == 0 {
                self.vlan_q.d.next = false;
                self.v4_q.d.next = false;
                self.v6_q.d.next = false;
                self.l3start_q.d.next = 14.into();
                self.ihl_q.d.next = 0.into();
                self.l3end_q.d.next = 0.into();
                self.frag_q.d.next = false;
                self.proto_q.d.next = 0.into();
                self.l4start_q.d.next = 0.into();
                self.l4_known_q.d.next = false;
                self.walking.d.next = false;
                self.rt_chk.d.next = false;
                self.rt_nz.d.next = false;
            }
            if self.b.q.val() == 1 {
                if self.et.val() == 0x8100 {
                    self.vlan_q.d.next = true;
                    self.l3start_q.d.next = 18.into();
                }
                if (self.et.val() == 0x0800) & (self.by[6].val().get_bits::<4>(4) == 4) {
                    self.v4_q.d.next = true;
                    self.ihl_q.d.next = self.by[6].val().get_bits::<4>(0);
                }
                if (self.et.val() == 0x86dd) & (self.by[6].val().get_bits::<4>(4) == 6) {
                    self.v6_q.d.next = true;
                }
            }
            if self.b.q.val() == 2 {
                if self.vlan_q.q.val() {
                    if (self.et2.val() == 0x0800) & (self.by[2].val().get_bits::<4>(4) == 4) {
                        self.v4_q.d.next = true;
                        self.ihl_q.d.next = self.by[2].val().get_bits::<4>(0);
                        self.l3end_q.d.next =
                            ((bit_cast::<16, 8>(self.by[4].val()) << 8) | bit_cast::<16, 8>(self.by[5].val())) + 18;
                    }
                    if (self.et2.val() == 0x86dd) & (self.by[2].val().get_bits::<4>(4) == 6) {
                        self.v6_q.d.next = true;
                        self.l3end_q.d.next =
                            ((bit_cast::<16, 8>(self.by[6].val()) << 8) | bit_cast::<16, 8>(self.by[7].val())) + 58;
                    }
                } else {
                    if self.v4_q.q.val() {
                        self.l3end_q.d.next = self.et2.val() + 14;
                        self.f16.next = self.et.val() & 0x3fff;
                        self.frag_q.d.next = self.f16.val() != 0;
                        self.proto_q.d.next = self.by[7].val();
                        self.l4start_q.d.next = (bit_cast::<16, 4>(self.ihl_q.q.val()) << 2) + 14;
                        self.l4_known_q.d.next =
                            (self.f16.val() == 0) & ((self.by[7].val() == 6) | (self.by[7].val() == 17));
                    }
                    if self.v6_q.q.val() {
                        self.l3end_q.d.next =
                            ((bit_cast::<16, 8>(self.by[2].val()) << 8) | bit_cast::<16, 8>(self.by[3].val())) + 54;
                        self.v6_now.next = true;
                        self.nh_now.next = self.by[4].val();
                        self.off_now.next = 54.into();
                    }
                }
            }
            if (self.b.q.val() == 3) & self.vlan_q.q.val() {
                if self.v4_q.q.val() {
                    self.f16.next = self.et2.val() & 0x3fff;
                    self.frag_q.d.next = self.f16.val() != 0;
                    self.proto_q.d.next = self.by[3].val();
                    self.l4start_q.d.next = (bit_cast::<16, 4>(self.ihl_q.q.val()) << 2) + 18;
                    self.l4_known_q.d.next = (self.f16.val() == 0) & ((self.by[3].val() == 6) | (self.by[3].val() == 17));
                }
                if self.v6_q.q.val() {
                    self.v6_now.next = true;
                    self.nh_now.next = self.by[0].val();
                    self.off_now.next = 58.into();
                }
            }
            if self.v6_now.val() {
                self.hdr_off.d.next = self.off_now.val();
                self.nh.d.next = self.nh_now.val();
                if (self.nh_now.val() == 6) | (self.nh_now.val() == 17) {
                    self.proto_q.d.next = self.nh_now.val();
                    self.l4start_q.d.next = self.off_now.val();
                    self.l4_known_q.d.next = true;
                }
                if (self.nh_now.val() == 0) | (self.nh_now.val() == 43) | (self.nh_now.val() == 60) | (self.nh_now.val() == 44) {
                    self.walking.d.next = true;
                }
            }
            if self.walking.q.val() & (self.b.q.val() == (self.hdr_off.q.val() >> 3)) {
                if (self.hdr_off.q.val() & 7) == 7 {
                    self.walking.d.next = false;
                } else if self.nh.q.val() == 44 {
                    self.frag_q.d.next = true;
                    self.walking.d.next = false;
                } else {
                    if self.nh.q.val() == 43 {
                        // Segments Left is 3 bytes into the routing header: this beat or the next.
                        if (self.rt3.val() >> 3) == self.b.q.val() {
                            if self.data.val().get_bits::<8>(self.rsh3.val().index()) != 0 {
                                self.rt_nz.d.next = true;
                            }
                        } else {
                            self.rt_chk.d.next = true;
                            self.rt_off.d.next = self.rt3.val();
                        }
                    }
                    self.hdr_off.d.next = self.new_off.val();
                    self.nh.d.next = self.nxt.val();
                    if (self.nxt.val() == 6) | (self.nxt.val() == 17) {
                        self.proto_q.d.next = self.nxt.val();
                        self.l4start_q.d.next = self.new_off.val();
                        self.l4_known_q.d.next = true;
                        self.walking.d.next = false;
                    } else if !((self.nxt.val() == 0) | (self.nxt.val() == 43) | (self.nxt.val() == 60) | (self.nxt.val() == 44)) {
                        self.walking.d.next = false;
                    }
                }
            }
        }
        if self.reset.val() {
            self.b.d.next = 0.into();
            self.walking.d.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{beats, clock_cycle, frames, lint};
    use rand::{Rng, SeedableRng};

    /// A parser out of reset, and the function that drives its clock.
    fn parser() -> (RxParse, fn(&mut RxParse, bool)) {
        let mut b = RxParse::default();
        b.connect_all();
        let clk: fn(&mut RxParse, bool) = |b, c| b.clock.next = Clock { clk: c };
        b.reset.next = true;
        clock_cycle(&mut b, clk, |_| {});
        b.reset.next = false;
        (b, clk)
    }

    #[test]
    fn rx_parse_lints_in_verilator() {
        let mut b = RxParse::default();
        b.connect_all();
        lint("rx_parse", &generate_verilog(&b));
    }

    /// The parser's view after each frame's last beat matches what etherparse built (and read
    /// back): VLAN, IP version, IP header offset, IHL, datagram end, fragment, the TCP/UDP header's
    /// protocol and offset behind IPv4 options and IPv6 extension headers (walked: hop-by-hop,
    /// routing, destination options, fragment; not walked: authentication), and a routing header
    /// with segments left. Frames arrive with random gaps between beats and between frames.
    /// Found: a second routing header (Segments Left > 0) right behind one whose Segments Left
    /// byte was in the next beat lost its check (see `two_routing_headers_back_to_back`).
    /// Mutations caught: the IPv4 fragment test masking 0x1fff instead of 0x3fff (MF ignored),
    /// and the walk not treating destination options (60) as an extension header.
    #[test]
    fn rx_parse_matches_the_built_headers() {
        let seed = crate::testing::seed(0x7a95e);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let (mut b, clk) = parser();
        let mut seen = [0usize; 4];
        for n in 0..3000 {
            let f = frames::random(&mut rng, 120);
            let d = &f.desc;
            let bs = beats(&f.bytes);
            let mut i = 0;
            while i < bs.len() {
                let v = rng.gen_bool(0.7);
                b.valid.next = v;
                b.data.next = if v { bs[i].0 } else { rng.gen() }.to_bits();
                b.last.next = if v { i + 1 == bs.len() } else { rng.gen() };
                clock_cycle(&mut b, clk, |_| {});
                if v {
                    i += 1;
                }
            }
            b.valid.next = false;
            b.data.next = rng.gen::<u64>().to_bits();
            b.last.next = rng.gen();
            for _ in 0..rng.gen_range(1..3) {
                clock_cycle(&mut b, clk, |b| {
                    let ctx = format!("frame {n} {d:?} {:02x?}", f.bytes);
                    assert_eq!(b.vlan.val(), d.vlan, "{ctx}");
                    assert_eq!(b.v4.val(), d.v4, "{ctx}");
                    assert_eq!(b.v6.val(), d.v6, "{ctx}");
                    assert_eq!(b.l3start.val().index(), if d.vlan { 18 } else { 14 }, "{ctx}");
                    if d.v4 || d.v6 {
                        assert_eq!(b.l3end.val().index(), d.l3end, "{ctx}");
                    }
                    if d.v4 {
                        assert_eq!(b.ihl.val().index(), d.ihl, "{ctx}");
                    }
                    assert_eq!(b.frag.val(), d.frag, "{ctx}");
                    assert_eq!(b.l4_known.val(), d.l4.is_some(), "{ctx}");
                    if let Some((proto, off)) = d.l4 {
                        assert_eq!(b.proto.val().index(), proto as usize, "{ctx}");
                        assert_eq!(b.l4start.val().index(), off, "{ctx}");
                    }
                    assert_eq!(b.route_pending.val(), d.route_pending, "{ctx}");
                });
            }
            seen[0] += d.v6 as usize;
            seen[1] += (d.v6 && d.l4.is_some() && d.l4.unwrap().1 > d.l3start + 40) as usize;
            seen[2] += d.frag as usize;
            seen[3] += d.route_pending as usize;
        }
        println!("IPv6 {}, TCP/UDP behind extension headers {}, fragments {}, routing pending {}", seen[0], seen[1], seen[2], seen[3]);
        assert!(seen.iter().all(|&c| c > 10), "the frames covered the cases: {seen:?}");
    }

    /// Regression for the defect the random test found: IPv6, a routing header at byte 54 with
    /// Segments Left 0 (that byte is in beat 7), then at byte 62 (beat 7) a second one with
    /// Segments Left 5 (byte 65, beat 8). The first one's check in beat 7 cleared the second
    /// one's, so the frame got an L4 verdict against the wrong pseudo-header destination.
    /// Built and read back with etherparse.
    #[test]
    fn two_routing_headers_back_to_back() {
        use etherparse::{IpNumber, Ipv6Header, Ipv6RawExtHeader, TcpHeader};
        for sl in [0u8, 5] {
            let tcp = TcpHeader::new(1000, 2000, 1, 100);
            let r1 = Ipv6RawExtHeader::new_raw(IpNumber(43), &[4, 0, 0, 0, 0, 0]).unwrap();
            let r2 = Ipv6RawExtHeader::new_raw(IpNumber(6), &[4, sl, 0, 0, 0, 0]).unwrap();
            let ip = Ipv6Header {
                payload_length: (16 + tcp.header_len()) as u16,
                next_header: IpNumber(43),
                hop_limit: 64,
                source: [1; 16],
                destination: [2; 16],
                ..Default::default()
            };
            let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x86, 0xdd];
            f.extend_from_slice(&ip.to_bytes());
            f.extend_from_slice(&r1.to_bytes());
            f.extend_from_slice(&r2.to_bytes());
            f.extend_from_slice(&tcp.to_bytes());
            let p = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
            assert_eq!(p.ip_payload().unwrap().ip_number, IpNumber(6));
            let (mut b, clk) = parser();
            let bs = beats(&f);
            for (i, (w, _)) in bs.iter().enumerate() {
                b.valid.next = true;
                b.data.next = w.to_bits();
                b.last.next = i + 1 == bs.len();
                clock_cycle(&mut b, clk, |_| {});
            }
            b.valid.next = false;
            clock_cycle(&mut b, clk, |b| {
                assert!(b.l4_known.val() && b.l4start.val().index() == 70);
                assert_eq!(b.route_pending.val(), sl != 0, "segments left {sl}");
            });
        }
    }
}
