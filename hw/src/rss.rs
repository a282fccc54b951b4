//! The Toeplitz hash of receive-side scaling (offloads.md §6) over a whole
//! tuple in one cycle: the block the receive path hashes a frame's addresses
//! and ports with, so a flow always lands on the same queue.
//!
//! For every input bit, most significant first, a set bit XORs the key's
//! current left-most 32 bits into the hash; the key then moves left one bit.
//! Since the key is a register, input bit `i` always meets the same window
//! (key bits `319 - i ..= 288 - i`), so hash bit `31 - j` is the parity of the
//! tuple ANDed with key bits `319 - j ..= 32 - j`: 32 AND-XOR trees over the
//! 288 tuple bits, no iteration, no state (written as reductions, so synthesis
//! builds trees rather than a 288-deep chain of multiplexers). The tuple is laid out as the
//! hash defines it (source address, destination address, then source and
//! destination port), first byte in bits 287..280; an IPv4 or 2-tuple input
//! leaves its unused low bits zero (a zero bit adds nothing, so a 12-byte
//! tuple simply ends early).
//!
//! The tuple is registered before the trees (so synthesis cannot fold the
//! logic that chose the tuple into each of the 32 trees, and the trees start
//! at a flip-flop), and the hash after them:
//! ```text
//! tuple, valid ‾‾\_______     hash: two cycles after valid, held until the next
//! ```

use rust_hdl::prelude::*;

/// Toeplitz hash over up to 36 bytes with a 40-byte key, two register stages.
#[derive(LogicBlock, Default)]
pub struct Toeplitz {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// The 40-byte key, its first byte in bits 319..312.
    pub key: Signal<In, Bits<320>>,
    /// The tuple, its first byte in bits 287..280, unused low bytes zero.
    pub tuple: Signal<In, Bits<288>>,
    /// Hash `tuple` this cycle.
    pub valid: Signal<In, Bit>,
    /// The hash of the last valid tuple, from two cycles after.
    pub hash: Signal<Out, Bits<32>>,
    tq: DFF<Bits<288>>,
    v1: DFF<Bit>,
    acc: DFF<Bits<32>>,
    h: Signal<Local, Bits<32>>,
}

impl Logic for Toeplitz {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, tq, v1, acc);
        self.hash.next = self.acc.q.val();
        self.v1.d.next = self.valid.val();
        if self.valid.val() {
            self.tq.d.next = self.tuple.val();
        }
        // Evaluated only in a cycle that loads the result: the same logic, but the simulator
        // skips the 32 trees in every other cycle.
        self.h.next = 0.into();
        if self.v1.q.val() {
            for j in 0..32 {
                self.h.next = self.h.val().replace_bit(31 - j, (self.tq.q.val() & self.key.val().get_bits::<288>(32 - j)).xor());
            }
            self.acc.d.next = self.h.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};

    /// offloads.md §6's default key.
    const KEY: &str = "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa";

    fn key_bits() -> Bits<320> {
        let mut k: Bits<320> = 0.into();
        for i in 0..40 {
            let b = u64::from_str_radix(&KEY[2 * i..2 * i + 2], 16).unwrap();
            k = (k << 8) | bits::<320>(b);
        }
        k
    }

    fn hash(b: &mut Toeplitz, input: &[u8]) -> u32 {
        b.key.next = key_bits();
        let mut t: Bits<288> = 0.into();
        for i in 0..36 {
            t = (t << 8) | bits::<288>(*input.get(i).unwrap_or(&0) as u64);
        }
        b.tuple.next = t;
        b.valid.next = true;
        clock_cycle(b, |b, c| b.clock.next = Clock { clk: c }, |_| {});
        b.valid.next = false;
        clock_cycle(b, |b, c| b.clock.next = Clock { clk: c }, |_| {});
        b.hash.val().index() as u32
    }

    fn v4(src: [u8; 4], dst: [u8; 4], ports: Option<(u16, u16)>) -> Vec<u8> {
        let mut v = [src, dst].concat();
        if let Some((s, d)) = ports {
            v.extend_from_slice(&s.to_be_bytes());
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn toeplitz_lints_in_verilator() {
        let mut b = Toeplitz::default();
        b.connect_all();
        lint("toeplitz", &generate_verilog(&b));
    }

    /// The published verification vectors (offloads.md §6; source first in the input).
    #[test]
    fn published_vectors_reproduce() {
        let mut b = Toeplitz::default();
        b.connect_all();
        // (source, destination, source port, destination port, hash of addresses, hash with ports)
        let cases = [
            ([66u8, 9, 149, 187], [161u8, 142, 100, 80], 2794u16, 1766u16, 0x323e8fc2u32, 0x51ccc178u32),
            ([199, 92, 111, 2], [65, 69, 140, 83], 14230, 4739, 0xd718262a, 0xc626b0ea),
            ([24, 19, 198, 95], [12, 22, 207, 184], 12898, 38024, 0xd2d0a5de, 0x5c2b394a),
        ];
        for (src, dst, sp, dp, ip, ports) in cases {
            assert_eq!(hash(&mut b, &v4(src, dst, None)), ip, "{src:?} -> {dst:?}");
            assert_eq!(hash(&mut b, &v4(src, dst, Some((sp, dp)))), ports, "{src:?}:{sp} -> {dst:?}:{dp}");
        }
        let s6: std::net::Ipv6Addr = "3ffe:2501:200:1fff::7".parse().unwrap();
        let d6: std::net::Ipv6Addr = "3ffe:2501:200:3::1".parse().unwrap();
        let mut t = [s6.octets(), d6.octets()].concat();
        assert_eq!(hash(&mut b, &t), 0x2cc18cd5);
        t.extend_from_slice(&2794u16.to_be_bytes());
        t.extend_from_slice(&1766u16.to_be_bytes());
        assert_eq!(hash(&mut b, &t), 0x40207d3d);
    }
}
