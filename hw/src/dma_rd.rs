//! DMA read engine: one command (address, beats, client tag) becomes AXI4
//! INCR bursts on the read channels, and the returned beats stream out to the
//! client with the command's tag.
//!
//! Bursts are at most [`MAX_BURST`] beats and never cross a 4 KiB boundary
//! (AXI4 rule). All bursts of a command are requested back to back without
//! waiting for data, so the memory latency is paid once per command, not per
//! burst; and the next command is taken as soon as the current one's bursts
//! are all requested, so its latency overlaps the earlier ones' data: up to
//! [`READS_IN_FLIGHT`] commands may be waiting for or returning data (a PCIe
//! read round trip of ~150 cycles needs many: at a 64-byte frame every 11
//! cycles, about 14; 32 let 8-beat reads stream back to back). Responses
//! arrive in order (one AXI ID), so a FIFO of the commands' lengths and tags
//! is all the return side needs. A beat answered with an error response still
//! counts; `dout_err` (cumulative per command) tells the client, which completes its
//! descriptor with an error.
//!
//! ```text
//! cmd_valid ‾\__/‾\_      arvalid ‾‾\_/‾‾\_/‾\_     rvalid  __/‾‾‾‾‾‾‾‾‾‾‾‾‾\__
//! cmd_ready ‾\_/‾\_/‾     (A0)  (A1)  (B0)          dout_last ______/‾\_____/‾\__
//! ```

use crate::fifo::Fifo;
use crate::records::RdCmd;
use rust_hdl::prelude::*;

/// Commands whose data is outstanding, at most (`Fifo<RdCmd, 5, 6>` below).
pub const READS_IN_FLIGHT: u64 = 32;

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
    // Commands in order; the head is the one whose beats are returning, `got` of them so far.
    cmds: Fifo<RdCmd, 5, 6>,
    got: DFF<Bits<16>>,
    err: DFF<Bit>,
    to4k: Signal<Local, Bits<16>>,
    blen: Signal<Local, Bits<16>>,
    fire: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
    head_v: Signal<Local, Bit>,
}

impl Logic for DmaRead {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ar_addr, ar_left, got, err);
        self.cmds.clock.next = self.clock.val();
        self.cmds.reset.next = self.reset.val();
        self.take.next = self.cmd_valid.val() & (self.ar_left.q.val() == 0) & !self.cmds.full.val();
        self.cmd_ready.next = (self.ar_left.q.val() == 0) & !self.cmds.full.val();
        self.busy.next = (self.ar_left.q.val() != 0) | (self.cmds.free.val() != 32_u64);
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
        self.cmds.push.next = self.take.val();
        self.cmds.din.next.beats = self.cmd_beats.val();
        self.cmds.din.next.tag = self.cmd_tag.val();
        if self.take.val() {
            self.ar_addr.d.next = self.cmd_addr.val();
            self.ar_left.d.next = self.cmd_beats.val();
        }
        // Data: pass beats through to the head command's client; the client's ready is the bus's
        // ready. (A beat that comes before its command is visible here waits: rready is low.)
        self.head_v.next = !self.cmds.empty.val();
        self.dout.next = self.rdata.val();
        self.dout_valid.next = self.head_v.val() & self.rvalid.val();
        self.dout_tag.next = self.cmds.dout.val().tag;
        self.rready.next = self.head_v.val() & self.dout_ready.val();
        self.dout_last.next = (self.got.q.val() + 1) == self.cmds.dout.val().beats;
        self.dout_err.next = self.err.q.val() | (self.rresp.val() != 0);
        self.err_pulse.next = false;
        self.fire.next = self.head_v.val() & self.rvalid.val() & self.dout_ready.val();
        self.cmds.pop.next = false;
        if self.fire.val() {
            self.got.d.next = self.got.q.val() + 1;
            if self.rresp.val() != 0 {
                self.err.d.next = true;
                self.err_pulse.next = true;
            }
            if self.dout_last.val() {
                self.cmds.pop.next = true;
                self.got.d.next = 0.into();
                self.err.d.next = false;
            }
        }
        if self.reset.val() {
            self.ar_left.d.next = 0.into();
            self.got.d.next = 0.into();
            self.err.d.next = false;
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

    /// Many short tagged commands against a slave with a PCIe-like latency (150 cycles) that
    /// takes every address at once: the commands' latencies overlap (up to READS_IN_FLIGHT in
    /// flight), so 64 commands of 8 beats take about the latency plus their beats, not 64
    /// latencies; every beat comes back in order with its command's tag, `dout_last` ends each
    /// command, and `dout_err` holds from a command's first error response to its end and no
    /// further.
    #[test]
    fn many_commands_overlap_their_latency_and_keep_order_tags_and_errors() {
        use std::collections::VecDeque;
        assert_eq!(READS_IN_FLIGHT, 1 << 5, "the command FIFO is Fifo<RdCmd, 5, 6>");
        let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
        let mut d = DmaRead::default();
        d.connect_all();
        const LAT: u64 = 150;
        let cmds: Vec<(u64, u64, u64)> = (0..64u64).map(|i| (0x10_0000 + 0x1000 * i, 8, rng.gen_range(0..4))).collect();
        let bad: Vec<(usize, u64)> = vec![(5, 3), (20, 0), (40, 7)]; // (command, beat) answered SLVERR
        let mut beats: VecDeque<(u64, u64)> = VecDeque::new(); // (cycle due, address)
        let (mut issued, mut got, mut cmd_k, mut beat_k) = (0usize, 0u64, 0usize, 0u64);
        let mut err_seen = false;
        let mut cycle = 0u64;
        let mut first_ar = None;
        while cmd_k < cmds.len() {
            cycle += 1;
            assert!(cycle < 4000, "reads did not finish");
            let rv = beats.front().is_some_and(|b| cycle >= b.0);
            let ra = beats.front().map_or(0, |b| b.1);
            let is_bad = rv && bad.contains(&(cmd_k, beat_k));
            let c = cmds.get(issued).copied().unwrap_or((0, 1, 0));
            d.reset.next = cycle < 2;
            d.cmd_valid.next = cycle >= 2 && issued < cmds.len();
            d.cmd_addr.next = c.0.to_bits();
            d.cmd_beats.next = c.1.to_bits();
            d.cmd_tag.next = c.2.to_bits();
            d.arready.next = true;
            d.rvalid.next = rv;
            d.rdata.next = ra.to_bits();
            d.rresp.next = (if is_bad { 2u64 } else { 0 }).to_bits();
            d.dout_ready.next = true;
            clock_cycle(&mut d, |d, c| d.clock.next = Clock { clk: c }, |d| {
                if cycle < 2 {
                    return;
                }
                if d.cmd_valid.val() && d.cmd_ready.val() {
                    issued += 1;
                }
                if d.arvalid.val() && d.arready.val() {
                    first_ar.get_or_insert(cycle);
                    let a = d.araddr.val().to_u64();
                    for i in 0..d.arlen.val().index() as u64 + 1 {
                        beats.push_back((cycle + LAT + i, a + 8 * i));
                    }
                }
                if rv && d.rready.val() {
                    let (addr, n, tag) = cmds[cmd_k];
                    assert!(d.dout_valid.val());
                    assert_eq!(d.dout.val().to_u64(), addr + 8 * beat_k, "command {cmd_k} beat {beat_k}");
                    assert_eq!(d.dout_tag.val().index() as u64, tag, "command {cmd_k}'s tag");
                    assert_eq!(d.dout_last.val(), beat_k + 1 == n);
                    err_seen |= is_bad;
                    assert_eq!(d.dout_err.val(), err_seen, "command {cmd_k} beat {beat_k}: error so far");
                    beats.pop_front();
                    got += 1;
                    beat_k += 1;
                    if beat_k == n {
                        (cmd_k, beat_k, err_seen) = (cmd_k + 1, 0, false);
                    }
                }
            });
        }
        let span = cycle - first_ar.unwrap();
        eprintln!("dma_rd: {got} beats of 64 commands in {span} cycles at latency {LAT}");
        assert!(span < LAT + got + 64, "latencies did not overlap: {span} cycles");
    }
}
