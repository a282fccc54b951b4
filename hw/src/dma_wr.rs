//! DMA write engine: one command (address, beats, last-beat strobe) and a
//! beat stream from the client become AXI4 INCR write bursts.
//!
//! Bursts are at most [`crate::dma_rd::MAX_BURST`] beats and never cross a
//! 4 KiB boundary; addresses go out up to four bursts ahead of their data,
//! so a long write streams one beat per cycle. `done` pulses only after every write response has come
//! back, so a client that writes data and then a completion record knows the
//! data is in memory before the completion is (the ordering the driver
//! relies on). `err` reports any error response with `done`.
//!
//! ```text
//! awvalid ‾\__________/‾\___      wvalid __/‾‾‾‾‾‾\__/‾‾\__
//! wlast   _______/‾\_______/‾\    bvalid ________/‾\____/‾\    done ____________/‾\
//! ```

use rust_hdl::prelude::*;

/// The DMA write engine.
#[derive(LogicBlock, Default)]
pub struct DmaWrite {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// A command is offered.
    pub cmd_valid: Signal<In, Bit>,
    /// The engine takes the command this cycle.
    pub cmd_ready: Signal<Out, Bit>,
    /// Byte address (8-byte aligned).
    pub cmd_addr: Signal<In, Bits<64>>,
    /// Beats to write (at least 1).
    pub cmd_beats: Signal<In, Bits<16>>,
    /// Byte strobe of the command's last beat (the others are full).
    pub cmd_strb: Signal<In, Bits<8>>,
    /// Data from the client.
    pub din: Signal<In, Bits<64>>,
    /// `din` holds a beat.
    pub din_valid: Signal<In, Bit>,
    /// The engine takes the beat.
    pub din_ready: Signal<Out, Bit>,
    /// Pulses when the command is finished and all responses are in.
    pub done: Signal<Out, Bit>,
    /// With `done`: some response was an error.
    pub err: Signal<Out, Bit>,
    /// Pulses once per error response, for the DMA error counter.
    pub err_pulse: Signal<Out, Bit>,
    /// A command is in progress.
    pub busy: Signal<Out, Bit>,
    /// AXI4 write address.
    pub awaddr: Signal<Out, Bits<64>>,
    /// AXI4 burst length minus one.
    pub awlen: Signal<Out, Bits<8>>,
    /// AXI4 address valid.
    pub awvalid: Signal<Out, Bit>,
    /// AXI4 address ready.
    pub awready: Signal<In, Bit>,
    /// AXI4 write data.
    pub wdata: Signal<Out, Bits<64>>,
    /// AXI4 write strobe.
    pub wstrb: Signal<Out, Bits<8>>,
    /// AXI4 last beat of a burst.
    pub wlast: Signal<Out, Bit>,
    /// AXI4 write valid.
    pub wvalid: Signal<Out, Bit>,
    /// AXI4 write ready.
    pub wready: Signal<In, Bit>,
    /// AXI4 write response.
    pub bresp: Signal<In, Bits<2>>,
    /// AXI4 response valid.
    pub bvalid: Signal<In, Bit>,
    /// AXI4 response ready.
    pub bready: Signal<Out, Bit>,
    active: DFF<Bit>,
    aw_addr: DFF<Bits<64>>,
    aw_left: DFF<Bits<16>>,
    aw_ahead: DFF<Bits<4>>,
    w_addr: DFF<Bits<64>>,
    w_left: DFF<Bits<16>>,
    wcnt: DFF<Bits<16>>,
    outstanding: DFF<Bits<8>>,
    strb: DFF<Bits<8>>,
    errq: DFF<Bit>,
    to4k: Signal<Local, Bits<16>>,
    blen: Signal<Local, Bits<16>>,
    wto4k: Signal<Local, Bits<16>>,
    wblen: Signal<Local, Bits<16>>,
    wlen_now: Signal<Local, Bits<16>>,
    aw_fire: Signal<Local, Bit>,
    w_fire: Signal<Local, Bit>,
    wburst_done: Signal<Local, Bit>,
    b_fire: Signal<Local, Bit>,
}

/// Address bursts issued ahead of their data, at most (the literal 4 in `update()`: rust-hdl
/// cannot read a Rust constant there; the test below holds them equal).
pub const AW_AHEAD: u64 = 4;

impl Logic for DmaWrite {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, active, aw_addr, aw_left, aw_ahead, w_addr, w_left, wcnt, outstanding, strb, errq);
        self.cmd_ready.next = !self.active.q.val();
        self.busy.next = self.active.q.val();
        // Address side: bursts of at most MAX_BURST beats that do not cross 4 KiB, issued up to
        // AW_AHEAD ahead of their data so the data never waits for an address handshake.
        self.to4k.next = (bit_cast::<16, 64>(0x1000_u64.to_bits::<64>() - (self.aw_addr.q.val() & 0xfff_u64))) >> 3;
        self.blen.next = self.aw_left.q.val();
        if self.blen.val() > 32_u64 {
            self.blen.next = 32_u64.into();
        }
        if self.to4k.val() < self.blen.val() {
            self.blen.next = self.to4k.val();
        }
        self.awaddr.next = self.aw_addr.q.val();
        self.awlen.next = bit_cast::<8, 16>(self.blen.val() - 1);
        self.awvalid.next = self.active.q.val() & (self.aw_left.q.val() != 0) & (self.aw_ahead.q.val() < 4_u64);
        self.aw_fire.next = self.awvalid.val() & self.awready.val();
        if self.aw_fire.val() {
            self.aw_addr.d.next = self.aw_addr.q.val() + (bit_cast::<64, 16>(self.blen.val()) << 3);
            self.aw_left.d.next = self.aw_left.q.val() - self.blen.val();
        }
        // Data side: the same burst boundaries, computed from its own address; data flows once
        // its burst's address has been issued.
        self.wto4k.next = (bit_cast::<16, 64>(0x1000_u64.to_bits::<64>() - (self.w_addr.q.val() & 0xfff_u64))) >> 3;
        self.wblen.next = self.w_left.q.val();
        if self.wblen.val() > 32_u64 {
            self.wblen.next = 32_u64.into();
        }
        if self.wto4k.val() < self.wblen.val() {
            self.wblen.next = self.wto4k.val();
        }
        self.wlen_now.next = self.wcnt.q.val();
        if self.wcnt.q.val() == 0 {
            self.wlen_now.next = self.wblen.val();
        }
        self.wdata.next = self.din.val();
        self.wvalid.next = self.active.q.val() & (self.aw_ahead.q.val() != 0) & (self.w_left.q.val() != 0) & self.din_valid.val();
        self.din_ready.next = self.active.q.val() & (self.aw_ahead.q.val() != 0) & (self.w_left.q.val() != 0) & self.wready.val();
        self.w_fire.next = self.wvalid.val() & self.wready.val();
        self.wlast.next = self.wlen_now.val() == 1;
        self.wstrb.next = 0xff_u64.into();
        if self.w_left.q.val() == 1 {
            self.wstrb.next = self.strb.q.val();
        }
        self.wburst_done.next = self.w_fire.val() & (self.wlen_now.val() == 1);
        if self.w_fire.val() {
            self.wcnt.d.next = self.wlen_now.val() - 1;
            self.w_left.d.next = self.w_left.q.val() - 1;
            self.w_addr.d.next = self.w_addr.q.val() + 8;
        }
        if self.aw_fire.val() & !self.wburst_done.val() {
            self.aw_ahead.d.next = self.aw_ahead.q.val() + 1;
        }
        if !self.aw_fire.val() & self.wburst_done.val() {
            self.aw_ahead.d.next = self.aw_ahead.q.val() - 1;
        }
        // Responses: count them back; done when nothing is left to send or hear.
        self.bready.next = true;
        self.b_fire.next = self.active.q.val() & self.bvalid.val();
        self.err_pulse.next = self.b_fire.val() & (self.bresp.val() != 0);
        if self.b_fire.val() & (self.bresp.val() != 0) {
            self.errq.d.next = true;
        }
        if self.aw_fire.val() & !self.b_fire.val() {
            self.outstanding.d.next = self.outstanding.q.val() + 1;
        }
        if !self.aw_fire.val() & self.b_fire.val() {
            self.outstanding.d.next = self.outstanding.q.val() - 1;
        }
        self.done.next = self.active.q.val()
            & (self.aw_left.q.val() == 0)
            & (self.w_left.q.val() == 0)
            & (self.outstanding.q.val() == 0);
        self.err.next = self.errq.q.val();
        if self.done.val() {
            self.active.d.next = false;
        }
        if self.cmd_valid.val() & !self.active.q.val() {
            self.active.d.next = true;
            self.aw_addr.d.next = self.cmd_addr.val();
            self.aw_left.d.next = self.cmd_beats.val();
            self.aw_ahead.d.next = 0.into();
            self.w_addr.d.next = self.cmd_addr.val();
            self.w_left.d.next = self.cmd_beats.val();
            self.wcnt.d.next = 0.into();
            self.strb.d.next = self.cmd_strb.val();
            self.outstanding.d.next = 0.into();
            self.errq.d.next = false;
        }
        if self.reset.val() {
            self.active.d.next = false;
            self.aw_left.d.next = 0.into();
            self.w_left.d.next = 0.into();
            self.aw_ahead.d.next = 0.into();
            self.outstanding.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};
    use rand::{Rng, SeedableRng};

    #[test]
    fn dma_write_lints_in_verilator() {
        let mut d = DmaWrite::default();
        d.connect_all();
        lint("dma_wr", &generate_verilog(&d));
    }

    /// With the data side stalled, the address side runs exactly AW_AHEAD bursts ahead (the
    /// literal in update() is this constant), and every burst but the last is MAX_BURST long.
    #[test]
    fn addresses_run_exactly_aw_ahead_bursts_ahead_of_stalled_data() {
        let mut d = DmaWrite::default();
        d.connect_all();
        let mut aws = vec![];
        for cycle in 0..200 {
            d.reset.next = false;
            d.cmd_valid.next = cycle == 0;
            d.cmd_addr.next = 0x10000u64.to_bits();
            d.cmd_beats.next = 400u64.to_bits();
            d.cmd_strb.next = 0xffu64.to_bits();
            d.din_valid.next = true;
            d.din.next = 0u64.to_bits();
            d.awready.next = true;
            d.wready.next = false;
            d.bvalid.next = false;
            clock_cycle(&mut d, |d, c| d.clock.next = Clock { clk: c }, |d| {
                if d.awvalid.val() && d.awready.val() {
                    aws.push(d.awlen.val().index() as u64 + 1);
                }
            });
        }
        assert_eq!(aws.len() as u64, AW_AHEAD, "bursts issued while no data moved");
        assert!(aws.iter().all(|&n| n == crate::dma_rd::MAX_BURST));
    }

    #[test]
    fn writes_land_with_strobes_and_done_waits_for_responses() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        let mut d = DmaWrite::default();
        d.connect_all();
        for (addr, beats, strb) in [(0x0ff0u64, 5u64, 0x0fu64), (0x2000, 70, 0xff), (0x18, 1, 0x01)] {
            let mut mem = std::collections::BTreeMap::<u64, (u64, u64)>::new();
            let mut bursts: std::collections::VecDeque<(u64, u64)> = Default::default(); // (addr, beats left)
            let mut max_ahead = 0;
            let mut bq: Vec<u32> = vec![]; // cycles until each response
            let mut sent = 0u64;
            let mut issued = false;
            let mut done = false;
            let mut cycles = 0;
            while !done {
                cycles += 1;
                assert!(cycles < 3000, "write did not finish");
                let bv = bq.first().map(|c| *c == 0).unwrap_or(false);
                d.reset.next = false;
                d.cmd_valid.next = !issued;
                d.cmd_addr.next = addr.to_bits();
                d.cmd_beats.next = beats.to_bits();
                d.cmd_strb.next = strb.to_bits();
                d.din.next = (0x1000_0000 + sent).to_bits();
                d.din_valid.next = sent < beats && rng.gen_bool(0.8);
                d.awready.next = rng.gen_bool(0.5);
                d.wready.next = rng.gen_bool(0.7);
                d.bvalid.next = bv;
                d.bresp.next = 0.into();
                clock_cycle(&mut d, |d, c| d.clock.next = Clock { clk: c }, |d| {
                    if d.cmd_valid.val() && d.cmd_ready.val() {
                        issued = true;
                    }
                    if d.done.val() {
                        assert!(bq.is_empty(), "done before all responses");
                        assert_eq!(sent, beats);
                        done = true;
                    }
                    if d.wvalid.val() && d.wready.val() {
                        let (a, n) = bursts.pop_front().expect("data before its address");
                        assert_eq!(d.wlast.val(), n == 1);
                        mem.insert(a, (d.wdata.val().to_u64(), d.wstrb.val().index() as u64));
                        sent += 1;
                        if n > 1 {
                            bursts.push_front((a + 8, n - 1));
                        } else {
                            bq.push(rng.gen_range(0..5));
                        }
                    }
                    if d.awvalid.val() && d.awready.val() {
                        let a = d.awaddr.val().to_u64();
                        let n = d.awlen.val().index() as u64 + 1;
                        assert_eq!(a / 4096, (a + n * 8 - 1) / 4096, "burst crosses 4 KiB");
                        bursts.push_back((a, n));
                        max_ahead = max_ahead.max(bursts.len());
                    }
                    if bv {
                        bq.remove(0);
                    }
                });
                for c in bq.iter_mut() {
                    *c = c.saturating_sub(1);
                }
            }
            assert_eq!(mem.len() as u64, beats);
            assert!(max_ahead <= AW_AHEAD as usize, "at most {AW_AHEAD} bursts ahead");
            for i in 0..beats {
                let (v, s) = mem[&(addr + i * 8)];
                assert_eq!(v, 0x1000_0000 + i);
                assert_eq!(s, if i == beats - 1 { strb } else { 0xff });
            }
        }
    }
}
