//! Transmit checksum accumulators: the IPv4 header sum and the L4 sum of one
//! frame, 64 bits per cycle, while the frame streams into the TX FIFO.
//!
//! Each beat is four big-endian 16-bit words at even byte offsets. A byte
//! counts toward a sum when its offset lies in that sum's range; the IPv4
//! checksum field itself (`ip_ck`, even) counts as zero, as FreeBSD's
//! `CSUM_IP` semantics require. The L4 range runs to the end of the frame and
//! includes the pseudo-header seed the stack left in the L4 checksum field.
//! Ranges must start on even offsets (the TX engine refuses odd ones), so a
//! word never mixes two ranges except at an odd end, which masks one byte.
//!
//! ```text
//! start  ‾\______________      (clears both sums)
//! valid  __/‾‾‾‾‾‾‾‾‾\___      ip_sum/l4_sum: 32-bit unfolded, final one cycle after the last beat
//! ```

use rust_hdl::prelude::*;

/// The transmit checksum accumulators.
#[derive(LogicBlock, Default)]
pub struct TxCsum {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Clears both sums (start of a frame).
    pub start: Signal<In, Bit>,
    /// One beat of the frame.
    pub beat: Signal<In, Bits<64>>,
    /// `beat` is valid this cycle.
    pub valid: Signal<In, Bit>,
    /// Byte offset of `beat`'s first byte in the frame.
    pub off: Signal<In, Bits<16>>,
    /// First byte of the IPv4 header.
    pub ip_lo: Signal<In, Bits<16>>,
    /// One past the last byte of the IPv4 header.
    pub ip_hi: Signal<In, Bits<16>>,
    /// Offset of the IPv4 header checksum field (summed as zero).
    pub ip_ck: Signal<In, Bits<16>>,
    /// First byte of the L4 header.
    pub l4_lo: Signal<In, Bits<16>>,
    /// One past the last byte of the frame.
    pub l4_hi: Signal<In, Bits<16>>,
    /// Running IPv4 header sum (32-bit, unfolded).
    pub ip_sum: Signal<Out, Bits<32>>,
    /// Running L4 sum (32-bit, unfolded).
    pub l4_sum: Signal<Out, Bits<32>>,
    ip_acc: DFF<Bits<32>>,
    l4_acc: DFF<Bits<32>>,
    p: [Signal<Local, Bits<16>>; 4],
    hi: [Signal<Local, Bits<32>>; 4],
    lo: [Signal<Local, Bits<32>>; 4],
    wip: [Signal<Local, Bits<32>>; 4],
    wl4: [Signal<Local, Bits<32>>; 4],
}

impl Logic for TxCsum {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ip_acc, l4_acc);
        self.p[0].next = self.off.val();
        self.p[1].next = self.off.val() + 2;
        self.p[2].next = self.off.val() + 4;
        self.p[3].next = self.off.val() + 6;
        // Word i: byte 2i is the high half (network order), byte 2i+1 the low half (unrolled:
        // rust-hdl cannot cast inside a loop).
        self.hi[0].next = bit_cast::<32, 8>(self.beat.val().get_bits::<8>(0)) << 8;
        self.lo[0].next = bit_cast::<32, 8>(self.beat.val().get_bits::<8>(8));
        self.wip[0].next = 0.into();
        if (self.p[0].val() >= self.ip_lo.val()) & (self.p[0].val() < self.ip_hi.val()) & (self.p[0].val() != self.ip_ck.val()) {
            self.wip[0].next = self.hi[0].val() | self.lo[0].val();
        }
        self.wl4[0].next = 0.into();
        if (self.p[0].val() >= self.l4_lo.val()) & (self.p[0].val() < self.l4_hi.val()) {
            self.wl4[0].next = self.hi[0].val();
            if self.p[0].val() + 1 < self.l4_hi.val() {
                self.wl4[0].next = self.hi[0].val() | self.lo[0].val();
            }
        }
        self.hi[1].next = bit_cast::<32, 8>(self.beat.val().get_bits::<8>(16)) << 8;
        self.lo[1].next = bit_cast::<32, 8>(self.beat.val().get_bits::<8>(24));
        self.wip[1].next = 0.into();
        if (self.p[1].val() >= self.ip_lo.val()) & (self.p[1].val() < self.ip_hi.val()) & (self.p[1].val() != self.ip_ck.val()) {
            self.wip[1].next = self.hi[1].val() | self.lo[1].val();
        }
        self.wl4[1].next = 0.into();
        if (self.p[1].val() >= self.l4_lo.val()) & (self.p[1].val() < self.l4_hi.val()) {
            self.wl4[1].next = self.hi[1].val();
            if self.p[1].val() + 1 < self.l4_hi.val() {
                self.wl4[1].next = self.hi[1].val() | self.lo[1].val();
            }
        }
        self.hi[2].next = bit_cast::<32, 8>(self.beat.val().get_bits::<8>(32)) << 8;
        self.lo[2].next = bit_cast::<32, 8>(self.beat.val().get_bits::<8>(40));
        self.wip[2].next = 0.into();
        if (self.p[2].val() >= self.ip_lo.val()) & (self.p[2].val() < self.ip_hi.val()) & (self.p[2].val() != self.ip_ck.val()) {
            self.wip[2].next = self.hi[2].val() | self.lo[2].val();
        }
        self.wl4[2].next = 0.into();
        if (self.p[2].val() >= self.l4_lo.val()) & (self.p[2].val() < self.l4_hi.val()) {
            self.wl4[2].next = self.hi[2].val();
            if self.p[2].val() + 1 < self.l4_hi.val() {
                self.wl4[2].next = self.hi[2].val() | self.lo[2].val();
            }
        }
        self.hi[3].next = bit_cast::<32, 8>(self.beat.val().get_bits::<8>(48)) << 8;
        self.lo[3].next = bit_cast::<32, 8>(self.beat.val().get_bits::<8>(56));
        self.wip[3].next = 0.into();
        if (self.p[3].val() >= self.ip_lo.val()) & (self.p[3].val() < self.ip_hi.val()) & (self.p[3].val() != self.ip_ck.val()) {
            self.wip[3].next = self.hi[3].val() | self.lo[3].val();
        }
        self.wl4[3].next = 0.into();
        if (self.p[3].val() >= self.l4_lo.val()) & (self.p[3].val() < self.l4_hi.val()) {
            self.wl4[3].next = self.hi[3].val();
            if self.p[3].val() + 1 < self.l4_hi.val() {
                self.wl4[3].next = self.hi[3].val() | self.lo[3].val();
            }
        }
        if self.valid.val() {
            self.ip_acc.d.next = self.ip_acc.q.val() + self.wip[0].val() + self.wip[1].val() + self.wip[2].val() + self.wip[3].val();
            self.l4_acc.d.next = self.l4_acc.q.val() + self.wl4[0].val() + self.wl4[1].val() + self.wl4[2].val() + self.wl4[3].val();
        }
        if self.start.val() {
            self.ip_acc.d.next = 0.into();
            self.l4_acc.d.next = 0.into();
        }
        self.ip_sum.next = self.ip_acc.q.val();
        self.l4_sum.next = self.l4_acc.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};
    use nic_abi::cksum;
    use rand::{Rng, SeedableRng};

    #[test]
    fn tx_csum_lints_in_verilator() {
        let mut b = TxCsum::default();
        b.connect_all();
        lint("tx_csum", &generate_verilog(&b));
    }

    /// Random frames and ranges against the RFC 1071 software sum in `nic-abi`.
    #[test]
    fn sums_match_rfc1071_reference() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
        let mut b = TxCsum::default();
        b.connect_all();
        for _ in 0..60 {
            let len = rng.gen_range(14..400usize);
            let frame: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let ip_lo = 2 * rng.gen_range(0..=len / 4);
            let ip_hi = (ip_lo + 2 * rng.gen_range(0..30)).min(len & !1);
            let ip_ck = ip_lo + 10;
            let l4_lo = 2 * rng.gen_range(0..=len / 2);
            let set = |b: &mut TxCsum| {
                b.ip_lo.next = (ip_lo as u64).to_bits();
                b.ip_hi.next = (ip_hi as u64).to_bits();
                b.ip_ck.next = (ip_ck as u64).to_bits();
                b.l4_lo.next = (l4_lo as u64).to_bits();
                b.l4_hi.next = (len as u64).to_bits();
            };
            set(&mut b);
            b.start.next = true;
            b.valid.next = false;
            clock_cycle(&mut b, |b, c| b.clock.next = Clock { clk: c }, |_| {});
            b.start.next = false;
            for (k, chunk) in frame.chunks(8).enumerate() {
                let mut w = [0u8; 8];
                w[..chunk.len()].copy_from_slice(chunk);
                b.beat.next = u64::from_le_bytes(w).to_bits();
                b.off.next = ((k * 8) as u64).to_bits();
                b.valid.next = true;
                clock_cycle(&mut b, |b, c| b.clock.next = Clock { clk: c }, |_| {});
            }
            b.valid.next = false;
            clock_cycle(&mut b, |b, c| b.clock.next = Clock { clk: c }, |_| {});
            let mut ip_bytes = frame[ip_lo..ip_hi.max(ip_lo)].to_vec();
            if ip_ck + 2 <= ip_hi {
                ip_bytes[10] = 0;
                ip_bytes[11] = 0;
            }
            let want_ip = cksum::fold(cksum::sum(&ip_bytes, 0));
            let want_l4 = cksum::fold(cksum::sum(&frame[l4_lo..], 0));
            assert_eq!(cksum::fold(b.ip_sum.val().to_u64() as u32), want_ip, "ip range {ip_lo}..{ip_hi}");
            assert_eq!(cksum::fold(b.l4_sum.val().to_u64() as u32), want_l4, "l4 from {l4_lo} of {len}");
        }
    }
}
