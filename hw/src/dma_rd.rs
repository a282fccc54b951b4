//! DMA read engine: one command (address, beats, client tag) becomes AXI4
//! INCR bursts on the read channels, and the returned beats stream out to the
//! client with the command's tag.
//!
//! Bursts are at most [`MAX_BURST`] beats and never cross a 4 KiB boundary
//! (AXI4 rule). All bursts of a command are requested back to back without
//! waiting for data, so the memory latency is paid once per command, not per
//! burst; and the next command is taken as soon as the current one's bursts
//! are all requested, so its latency overlaps the current one's data (two
//! commands in flight: the one streaming and the next). Responses arrive in
//! order (one AXI ID). A beat answered with an error response still counts;
//! `dout_err` (cumulative per command) tells the client, which completes its
//! descriptor with an error.
//!
//! ```text
//! cmd_valid ‾\__/‾\_      arvalid ‾‾\_/‾‾\_/‾\_     rvalid  __/‾‾‾‾‾‾‾‾‾‾‾‾‾\__
//! cmd_ready ‾\_/‾\_/‾     (A0)  (A1)  (B0)          dout_last ______/‾\_____/‾\__
//! ```

use rust_hdl::prelude::*;

/// Longest burst issued, in beats (256 bytes: a common PCIe max payload).
pub const MAX_BURST: u64 = 32;

/// The DMA read engine.
#[derive(LogicBlock, Default)]
pub struct DmaRead {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: abandons the command (the AXI side must be quiet).
    pub reset: Signal<In, Bit>,
    /// A command is offered.
    pub cmd_valid: Signal<In, Bit>,
    /// The engine takes the command this cycle.
    pub cmd_ready: Signal<Out, Bit>,
    /// Byte address (8-byte aligned).
    pub cmd_addr: Signal<In, Bits<64>>,
    /// Beats to read (at least 1).
    pub cmd_beats: Signal<In, Bits<16>>,
    /// Which client the command is for (returned with its beats).
    pub cmd_tag: Signal<In, Bits<2>>,
    /// The tag of the command `dout` belongs to.
    pub dout_tag: Signal<Out, Bits<2>>,
    /// Returned data.
    pub dout: Signal<Out, Bits<64>>,
    /// `dout` holds a beat.
    pub dout_valid: Signal<Out, Bit>,
    /// The client takes the beat.
    pub dout_ready: Signal<In, Bit>,
    /// This is the command's last beat.
    pub dout_last: Signal<Out, Bit>,
    /// Some beat of this command so far (this one included) had an error response; clients read it
    /// with the last beat.
    pub dout_err: Signal<Out, Bit>,
    /// Pulses once per error response, for the DMA error counter.
    pub err_pulse: Signal<Out, Bit>,
    /// A command is in progress.
    pub busy: Signal<Out, Bit>,
    /// AXI4 read address.
    pub araddr: Signal<Out, Bits<64>>,
    /// AXI4 burst length minus one.
    pub arlen: Signal<Out, Bits<8>>,
    /// AXI4 address valid.
    pub arvalid: Signal<Out, Bit>,
    /// AXI4 address ready.
    pub arready: Signal<In, Bit>,
    /// AXI4 read data.
    pub rdata: Signal<In, Bits<64>>,
    /// AXI4 read response.
    pub rresp: Signal<In, Bits<2>>,
    /// AXI4 read valid.
    pub rvalid: Signal<In, Bit>,
    /// AXI4 read ready.
    pub rready: Signal<Out, Bit>,
    ar_addr: DFF<Bits<64>>,
    ar_left: DFF<Bits<16>>,
    // The command whose beats are streaming (A) and the one queued behind it (B).
    a_v: DFF<Bit>,
    a_left: DFF<Bits<16>>,
    a_tag: DFF<Bits<2>>,
    err: DFF<Bit>,
    b_v: DFF<Bit>,
    b_left: DFF<Bits<16>>,
    b_tag: DFF<Bits<2>>,
    to4k: Signal<Local, Bits<16>>,
    blen: Signal<Local, Bits<16>>,
    fire: Signal<Local, Bit>,
    a_done: Signal<Local, Bit>,
}

impl Logic for DmaRead {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ar_addr, ar_left, a_v, a_left, a_tag, err, b_v, b_left, b_tag);
        self.cmd_ready.next = (self.ar_left.q.val() == 0) & !self.b_v.q.val();
        self.busy.next = self.a_v.q.val() | (self.ar_left.q.val() != 0);
        // Burst length: what is left, capped by MAX_BURST and by the next 4 KiB boundary.
        self.to4k.next = (bit_cast::<16, 64>(0x1000_u64.to_bits::<64>() - (self.ar_addr.q.val() & 0xfff_u64))) >> 3;
        self.blen.next = self.ar_left.q.val();
        if self.blen.val() > 32_u64 {
            self.blen.next = 32_u64.into();
        }
        if self.to4k.val() < self.blen.val() {
            self.blen.next = self.to4k.val();
        }
        self.araddr.next = self.ar_addr.q.val();
        self.arlen.next = bit_cast::<8, 16>(self.blen.val() - 1);
        self.arvalid.next = self.ar_left.q.val() != 0;
        if (self.ar_left.q.val() != 0) & self.arready.val() {
            self.ar_addr.d.next = self.ar_addr.q.val() + (bit_cast::<64, 16>(self.blen.val()) << 3);
            self.ar_left.d.next = self.ar_left.q.val() - self.blen.val();
        }
        // Data: pass beats through to command A's client; the client's ready is the bus's ready.
        self.dout.next = self.rdata.val();
        self.dout_valid.next = self.a_v.q.val() & self.rvalid.val();
        self.dout_tag.next = self.a_tag.q.val();
        self.rready.next = self.a_v.q.val() & self.dout_ready.val();
        self.dout_last.next = self.a_left.q.val() == 1;
        self.dout_err.next = self.err.q.val() | (self.rresp.val() != 0);
        self.err_pulse.next = false;
        self.fire.next = self.a_v.q.val() & self.rvalid.val() & self.dout_ready.val();
        self.a_done.next = self.fire.val() & (self.a_left.q.val() == 1);
        if self.fire.val() {
            self.a_left.d.next = self.a_left.q.val() - 1;
            if self.rresp.val() != 0 {
                self.err.d.next = true;
                self.err_pulse.next = true;
            }
        }
        if self.a_done.val() {
            // B (if any) streams next.
            self.a_v.d.next = self.b_v.q.val();
            self.a_left.d.next = self.b_left.q.val();
            self.a_tag.d.next = self.b_tag.q.val();
            self.err.d.next = false;
            self.b_v.d.next = false;
        }
        if self.cmd_valid.val() & (self.ar_left.q.val() == 0) & !self.b_v.q.val() {
            self.ar_addr.d.next = self.cmd_addr.val();
            self.ar_left.d.next = self.cmd_beats.val();
            if !self.a_v.q.val() | self.a_done.val() {
                self.a_v.d.next = true;
                self.a_left.d.next = self.cmd_beats.val();
                self.a_tag.d.next = self.cmd_tag.val();
                self.err.d.next = false;
            } else {
                self.b_v.d.next = true;
                self.b_left.d.next = self.cmd_beats.val();
                self.b_tag.d.next = self.cmd_tag.val();
            }
        }
        if self.reset.val() {
            self.a_v.d.next = false;
            self.b_v.d.next = false;
            self.ar_left.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};
    use rand::{Rng, SeedableRng};

    #[test]
    fn dma_read_lints_in_verilator() {
        let mut d = DmaRead::default();
        d.connect_all();
        lint("dma_rd", &generate_verilog(&d));
    }

    /// A small AXI4 slave in the test: memory where beat at address A holds A, random latency and gaps.
    #[test]
    fn bursts_respect_4k_and_deliver_every_beat_in_order() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let mut d = DmaRead::default();
        d.connect_all();
        for (addr, beats) in [(0x0ff8u64, 3u64), (0x1f00, 100), (0x40, 1), (0x2fe0, 40)] {
            let mut pending: std::collections::VecDeque<(u64, u64)> = Default::default();
            let mut got = vec![];
            let mut issued = false;
            let mut cycles = 0;
            let mut bursts = vec![];
            while got.len() < beats as usize {
                cycles += 1;
                assert!(cycles < 2000, "read did not finish");
                let rv = !pending.is_empty() && rng.gen_bool(0.7);
                let (ra, _) = pending.front().copied().unwrap_or((0, 0));
                d.cmd_valid.next = !issued;
                d.cmd_addr.next = addr.to_bits();
                d.cmd_beats.next = beats.to_bits();
                d.arready.next = rng.gen_bool(0.6);
                d.rvalid.next = rv;
                d.rdata.next = ra.to_bits();
                d.rresp.next = 0.into();
                d.dout_ready.next = rng.gen_bool(0.8);
                d.reset.next = false;
                clock_cycle(&mut d, |d, c| d.clock.next = Clock { clk: c }, |d| {
                    if d.cmd_valid.val() && d.cmd_ready.val() {
                        issued = true;
                    }
                    if d.arvalid.val() && d.arready.val() {
                        let a = d.araddr.val().to_u64();
                        let n = d.arlen.val().index() as u64 + 1;
                        assert!(n <= MAX_BURST);
                        assert_eq!(a / 4096, (a + n * 8 - 1) / 4096, "burst crosses 4 KiB");
                        bursts.push((a, n));
                        for i in 0..n {
                            pending.push_back((a + i * 8, 0));
                        }
                    }
                    if d.rvalid.val() && d.rready.val() {
                        assert!(d.dout_valid.val());
                        got.push(d.dout.val().to_u64());
                        assert_eq!(d.dout_last.val(), got.len() == beats as usize);
                        pending.pop_front();
                    }
                });
            }
            let want: Vec<u64> = (0..beats).map(|i| addr + i * 8).collect();
            if addr % 4096 == 0 || beats >= 100 {
                // Away from a 4 KiB edge, bursts are exactly MAX_BURST (the literal in update()).
                assert!(bursts.iter().any(|&(_, n)| n == MAX_BURST), "{bursts:?}");
            }
            assert_eq!(got, want, "beats for command at {addr:#x}");
            assert!(!bursts.is_empty());
            // Let the engine go idle.
            d.arready.next = false;
            d.rvalid.next = false;
            clock_cycle(&mut d, |d, c| d.clock.next = Clock { clk: c }, |_| {});
            assert!(!d.busy.val());
        }
    }
}
