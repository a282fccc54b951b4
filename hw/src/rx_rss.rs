//! Receive-side scaling for one frame: which bytes of it to hash, with which
//! type (`nic_abi::rss` says the rules), and the Toeplitz hash of them.
//!
//! It runs beside the checksum verifier ([`crate::rx_csum`]), on the same
//! stage-1 beats: the first 64 bytes of the frame are kept (the addresses and
//! ports of every frame the ABI hashes with ports lie there), and when the
//! verifier's parser has seen the whole frame (`go`, with the parser's
//! registered view of it) the tuple is cut out of those bytes, its type
//! chosen from the enabled hash types, and hashed. Both results are valid two
//! cycles after `go` (and stay until the next frame's); the capture is free
//! for the next frame from `go` on, and frames may follow each other every
//! cycle (the hash is a two-stage pipeline).
//!
//! ```text
//! beats 0..7 -> cap (frame byte 0 in bits 511..504)
//! go: tuple = addresses [+ ports] out of cap, type by the enables -> Toeplitz
//! go + 2: hash, htype
//! ```

use crate::rss::Toeplitz;
use nic_abi::rss::{enable, hashtype};
use rust_hdl::prelude::*;

/// The RSS stage of the receive path.
#[derive(LogicBlock)]
pub struct RxRss {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// The key (`regs::rss::KEY`), first byte in bits 319..312.
    pub key: Signal<In, Bits<320>>,
    /// Enabled hash types (`RSS_HASHTYPE_*` bits).
    pub types: Signal<In, Bits<32>>,
    /// A stage-1 beat of the frame.
    pub data: Signal<In, Bits<64>>,
    /// `data` is valid.
    pub valid: Signal<In, Bit>,
    /// Index of the beat in its frame (0: a new frame).
    pub beat: Signal<In, Bits<16>>,
    /// The whole frame has been seen: hash it (with the parser's view below).
    pub go: Signal<In, Bit>,
    /// IPv4 (parser).
    pub v4: Signal<In, Bit>,
    /// IPv6 (parser).
    pub v6: Signal<In, Bit>,
    /// Offset of the IP header (parser).
    pub l3start: Signal<In, Bits<16>>,
    /// IPv4 header length in words (parser).
    pub ihl: Signal<In, Bits<4>>,
    /// Offset of the TCP/UDP header (parser).
    pub l4start: Signal<In, Bits<16>>,
    /// TCP/UDP located and not a fragment (parser).
    pub l4_known: Signal<In, Bit>,
    /// L4 protocol (parser).
    pub proto: Signal<In, Bits<8>>,
    /// Frame length in bytes.
    pub len: Signal<In, Bits<16>>,
    /// The hash, two cycles after `go`.
    pub hash: Signal<Out, Bits<32>>,
    /// Its `M_HASHTYPE_*` (0: no hash), two cycles after `go`.
    pub htype: Signal<Out, Bits<8>>,
    cap: DFF<Bits<512>>,
    ht: DFF<Bits<8>>,
    ht2: DFF<Bits<8>>,
    tz: Toeplitz,
    sw: Signal<Local, Bits<64>>,
    a4: Signal<Local, Bits<64>>,
    a6: Signal<Local, Bits<256>>,
    pt: Signal<Local, Bits<32>>,
    a4_ok: Signal<Local, Bit>,
    a6_ok: Signal<Local, Bit>,
    pt_ok: Signal<Local, Bit>,
    tcp: Signal<Local, Bit>,
    udp: Signal<Local, Bit>,
    t: Signal<Local, Bits<8>>,
    k_ipv4: Constant<Bits<32>>,
    k_tcp4: Constant<Bits<32>>,
    k_udp4: Constant<Bits<32>>,
    k_ipv6: Constant<Bits<32>>,
    k_tcp6: Constant<Bits<32>>,
    k_udp6: Constant<Bits<32>>,
    h_ipv4: Constant<Bits<8>>,
    h_tcp4: Constant<Bits<8>>,
    h_udp4: Constant<Bits<8>>,
    h_ipv6: Constant<Bits<8>>,
    h_tcp6: Constant<Bits<8>>,
    h_udp6: Constant<Bits<8>>,
}

impl Default for RxRss {
    fn default() -> Self {
        let k32 = |v: u32| Constant::new((v as u64).to_bits());
        let k8 = |v: u8| Constant::new((v as u64).to_bits());
        Self {
            clock: Default::default(),
            key: Default::default(),
            types: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            beat: Default::default(),
            go: Default::default(),
            v4: Default::default(),
            v6: Default::default(),
            l3start: Default::default(),
            ihl: Default::default(),
            l4start: Default::default(),
            l4_known: Default::default(),
            proto: Default::default(),
            len: Default::default(),
            hash: Default::default(),
            htype: Default::default(),
            cap: Default::default(),
            ht: Default::default(),
            ht2: Default::default(),
            tz: Default::default(),
            sw: Default::default(),
            a4: Default::default(),
            a6: Default::default(),
            pt: Default::default(),
            a4_ok: Default::default(),
            a6_ok: Default::default(),
            pt_ok: Default::default(),
            tcp: Default::default(),
            udp: Default::default(),
            t: Default::default(),
            k_ipv4: k32(enable::RSS_IPV4),
            k_tcp4: k32(enable::RSS_TCP_IPV4),
            k_udp4: k32(enable::RSS_UDP_IPV4),
            k_ipv6: k32(enable::RSS_IPV6),
            k_tcp6: k32(enable::RSS_TCP_IPV6),
            k_udp6: k32(enable::RSS_UDP_IPV6),
            h_ipv4: k8(hashtype::RSS_IPV4),
            h_tcp4: k8(hashtype::RSS_TCP_IPV4),
            h_udp4: k8(hashtype::RSS_UDP_IPV4),
            h_ipv6: k8(hashtype::RSS_IPV6),
            h_tcp6: k8(hashtype::RSS_TCP_IPV6),
            h_udp6: k8(hashtype::RSS_UDP_IPV6),
        }
    }
}

impl Logic for RxRss {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, cap, ht, ht2);
        self.tz.clock.next = self.clock.val();
        self.hash.next = self.tz.hash.val();
        self.htype.next = self.ht2.q.val();
        self.ht2.d.next = self.ht.q.val();

        // Capture: the beat's bytes in wire order, frame byte 0 at the top of `cap`.
        self.sw.next = (bit_cast::<64, 8>(self.data.val().get_bits::<8>(0)) << 56)
            | (bit_cast::<64, 8>(self.data.val().get_bits::<8>(8)) << 48)
            | (bit_cast::<64, 8>(self.data.val().get_bits::<8>(16)) << 40)
            | (bit_cast::<64, 8>(self.data.val().get_bits::<8>(24)) << 32)
            | (bit_cast::<64, 8>(self.data.val().get_bits::<8>(32)) << 24)
            | (bit_cast::<64, 8>(self.data.val().get_bits::<8>(40)) << 16)
            | (bit_cast::<64, 8>(self.data.val().get_bits::<8>(48)) << 8)
            | bit_cast::<64, 8>(self.data.val().get_bits::<8>(56));
        // Beat k fills cap bits 511 - 64k ..= 448 - 64k (a constant place per beat: no shifter);
        // beat 0 clears the rest.
        if self.valid.val() {
            if self.beat.val() == 0 {
                self.cap.d.next = bit_cast::<512, 64>(self.sw.val()) << 448;
            }
            if self.beat.val() == 1 {
                self.cap.d.next = self.cap.q.val() | (bit_cast::<512, 64>(self.sw.val()) << 384);
            }
            if self.beat.val() == 2 {
                self.cap.d.next = self.cap.q.val() | (bit_cast::<512, 64>(self.sw.val()) << 320);
            }
            if self.beat.val() == 3 {
                self.cap.d.next = self.cap.q.val() | (bit_cast::<512, 64>(self.sw.val()) << 256);
            }
            if self.beat.val() == 4 {
                self.cap.d.next = self.cap.q.val() | (bit_cast::<512, 64>(self.sw.val()) << 192);
            }
            if self.beat.val() == 5 {
                self.cap.d.next = self.cap.q.val() | (bit_cast::<512, 64>(self.sw.val()) << 128);
            }
            if self.beat.val() == 6 {
                self.cap.d.next = self.cap.q.val() | (bit_cast::<512, 64>(self.sw.val()) << 64);
            }
            if self.beat.val() == 7 {
                self.cap.d.next = self.cap.q.val() | (bit_cast::<512, 64>(self.sw.val()) << 0);
            }
        }

        // The fields, where the parser says they are (an n-byte field at byte o is
        // cap bits 511 - 8o ..= 512 - 8(o + n)).
        // The choice only matters when `go` loads it; the simulator skips it otherwise.
        self.a4.next = 0.into();
        self.a6.next = 0.into();
        self.pt.next = 0.into();
        self.a4_ok.next = false;
        self.a6_ok.next = false;
        self.pt_ok.next = false;
        self.tcp.next = false;
        self.udp.next = false;
        self.t.next = 0.into();
        self.tz.tuple.next = 0.into();
        if self.go.val() {
            // Addresses sit at one of two places (with or without an 802.1Q tag), the ports at one of
            // seven (IPv4 header lengths; IPv6 without extension headers): constant selects, no shifter.
            self.a4.next = self.cap.q.val().get_bits::<64>(240);
            self.a6.next = self.cap.q.val().get_bits::<256>(80);
            if self.l3start.val() == 18 {
                self.a4.next = self.cap.q.val().get_bits::<64>(208);
                self.a6.next = self.cap.q.val().get_bits::<256>(48);
            }
            self.pt.next = 0.into();
            if self.l4start.val() == 34 {
                self.pt.next = self.cap.q.val().get_bits::<32>(208);
            }
            if self.l4start.val() == 38 {
                self.pt.next = self.cap.q.val().get_bits::<32>(176);
            }
            if self.l4start.val() == 42 {
                self.pt.next = self.cap.q.val().get_bits::<32>(144);
            }
            if self.l4start.val() == 46 {
                self.pt.next = self.cap.q.val().get_bits::<32>(112);
            }
            if self.l4start.val() == 50 {
                self.pt.next = self.cap.q.val().get_bits::<32>(80);
            }
            if self.l4start.val() == 54 {
                self.pt.next = self.cap.q.val().get_bits::<32>(48);
            }
            if self.l4start.val() == 58 {
                self.pt.next = self.cap.q.val().get_bits::<32>(16);
            }
            self.a4_ok.next = self.v4.val()
                & ((self.l3start.val() == 14) | (self.l3start.val() == 18))
                & (self.ihl.val() >= 5)
                & (self.l3start.val() + 20 <= self.len.val())
                & (self.l3start.val() + 20 <= 64);
            self.a6_ok.next = self.v6.val() & ((self.l3start.val() == 14) | (self.l3start.val() == 18)) & (self.l3start.val() + 40 <= self.len.val()) & (self.l3start.val() + 40 <= 64);
            self.pt_ok.next = self.l4_known.val()
                & (self.l4start.val() + 4 <= self.len.val())
                & (self.l4start.val() + 4 <= 64)
                & ((self.l4start.val() & 3) == 2);
            self.tcp.next = self.pt_ok.val() & (self.proto.val() == 6);
            self.udp.next = self.pt_ok.val() & (self.proto.val() == 17);

            // The type: the 4-tuple type when enabled, else the family's 2-tuple type when enabled.
            self.t.next = 0.into();
            self.tz.tuple.next = 0.into();
            if self.a4_ok.val() {
                if self.tcp.val() & ((self.types.val() & self.k_tcp4.val()) != 0) {
                    self.t.next = self.h_tcp4.val();
                    self.tz.tuple.next = (bit_cast::<288, 64>(self.a4.val()) << 224) | (bit_cast::<288, 32>(self.pt.val()) << 192);
                } else if self.udp.val() & ((self.types.val() & self.k_udp4.val()) != 0) {
                    self.t.next = self.h_udp4.val();
                    self.tz.tuple.next = (bit_cast::<288, 64>(self.a4.val()) << 224) | (bit_cast::<288, 32>(self.pt.val()) << 192);
                } else if (self.types.val() & self.k_ipv4.val()) != 0 {
                    self.t.next = self.h_ipv4.val();
                    self.tz.tuple.next = bit_cast::<288, 64>(self.a4.val()) << 224;
                }
            }
            if self.a6_ok.val() {
                if self.tcp.val() & ((self.types.val() & self.k_tcp6.val()) != 0) {
                    self.t.next = self.h_tcp6.val();
                    self.tz.tuple.next = (bit_cast::<288, 256>(self.a6.val()) << 32) | bit_cast::<288, 32>(self.pt.val());
                } else if self.udp.val() & ((self.types.val() & self.k_udp6.val()) != 0) {
                    self.t.next = self.h_udp6.val();
                    self.tz.tuple.next = (bit_cast::<288, 256>(self.a6.val()) << 32) | bit_cast::<288, 32>(self.pt.val());
                } else if (self.types.val() & self.k_ipv6.val()) != 0 {
                    self.t.next = self.h_ipv6.val();
                    self.tz.tuple.next = bit_cast::<288, 256>(self.a6.val()) << 32;
                }
            }
        }
        self.tz.key.next = self.key.val();
        self.tz.valid.next = self.go.val();
        if self.go.val() {
            self.ht.d.next = self.t.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lint;

    #[test]
    fn rx_rss_lints_in_verilator() {
        let mut b = RxRss::default();
        b.connect_all();
        lint("rx_rss", &generate_verilog(&b));
    }
}
