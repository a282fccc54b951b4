//! DMA write engine: commands (address, beats, last-beat strobe, tag) and a
//! beat stream from the clients become AXI4 INCR write bursts.
//!
//! Bursts are at most [`crate::dma_rd::MAX_BURST`] beats and never cross a
//! 4 KiB boundary; addresses go out up to [`AW_AHEAD`] bursts ahead of their
//! data, so a long write streams one beat per cycle.
//!
//! Commands are pipelined so that many short writes (a 64-byte frame and its
//! 16-byte completion) keep the data channel busy: the engine holds one
//! command in progress and one waiting, takes the waiting one the cycle after
//! the current one's last beat, and lets that command's first beat go out
//! with its first address. A command's write responses are awaited after its
//! data, while later commands already stream: up to [`DONE_QUEUE`] commands
//! may wait for their responses.
//!
//! `done` pulses once per command, in command order, with the command's tag
//! (`done_tag`), only when every write response of that command is back; `err`
//! reports an error response among them. So a client that writes data and
//! then, after that data's `done`, a completion record knows the data is in
//! memory before the completion is (the ordering the driver relies on).
//!
//! ```text
//! cmd    <A><B>_______<C>        A: 8 beats, B: 2 beats, C: 8 beats
//! wvalid __/‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾\_  (no gap between A, B and C)
//! done   ____________/A\/B\_____/C\
//! ```

use rust_hdl::prelude::*;

/// Address bursts issued ahead of their data, at most (the literal 4 in `update()`: rust-hdl
/// cannot read a Rust constant there; the test below holds them equal).
pub const AW_AHEAD: u64 = 4;

/// Commands whose data is sent that may still wait for write responses (the packed queue of
/// four 16-bit entries in `update()`). Four cover a response latency of about twenty cycles at
/// minimum-size frames (two commands a frame); the address side waits when it is full.
pub const DONE_QUEUE: u64 = 4;

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
    /// The client's tag for the command, returned with its data turn and its `done`.
    pub cmd_tag: Signal<In, Bits<3>>,
    /// Data from the client whose command is streaming (`w_tag`).
    pub din: Signal<In, Bits<64>>,
    /// `din` holds a beat.
    pub din_valid: Signal<In, Bit>,
    /// The engine takes the beat.
    pub din_ready: Signal<Out, Bit>,
    /// Tag of the command whose beats `din` must carry (meaningful while `w_active`).
    pub w_tag: Signal<Out, Bits<3>>,
    /// A command is taking beats.
    pub w_active: Signal<Out, Bit>,
    /// Pulses when a command is finished and all its responses are in.
    pub done: Signal<Out, Bit>,
    /// With `done`: the command's tag.
    pub done_tag: Signal<Out, Bits<3>>,
    /// With `done`: some response of the command was an error.
    pub err: Signal<Out, Bit>,
    /// Pulses once per error response, for the DMA error counter.
    pub err_pulse: Signal<Out, Bit>,
    /// A command is waiting, in progress or awaiting responses.
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
    // The waiting command.
    pend_v: DFF<Bit>,
    pend_addr: DFF<Bits<64>>,
    pend_beats: DFF<Bits<16>>,
    pend_strb: DFF<Bits<8>>,
    pend_tag: DFF<Bits<3>>,
    // Its address side, which starts once the command in progress has issued all its addresses.
    pend_aw_addr: DFF<Bits<64>>,
    pend_aw_left: DFF<Bits<16>>,
    pend_ahead: DFF<Bits<4>>,
    // The command in progress.
    active: DFF<Bit>,
    tag: DFF<Bits<3>>,
    aw_addr: DFF<Bits<64>>,
    aw_left: DFF<Bits<16>>,
    aw_ahead: DFF<Bits<4>>,
    w_addr: DFF<Bits<64>>,
    w_left: DFF<Bits<16>>,
    wcnt: DFF<Bits<16>>,
    strb: DFF<Bits<8>>,
    // Commands awaiting responses: entry i in bits 16i.. is {tag (3), burst count target (8)}.
    acnt: DFF<Bits<8>>,
    rcnt: DFF<Bits<8>>,
    dq: DFF<Bits<64>>,
    dq_n: DFF<Bits<3>>,
    errq: DFF<Bit>,
    // 8-bit results of counter arithmetic: in the Verilog, `+ 1` or a comparison with a literal
    // is evaluated 32 or 64 bits wide, which would not wrap at 256.
    acnt_next: Signal<Local, Bits<8>>,
    rcnt_next: Signal<Local, Bits<8>>,
    in_flight: Signal<Local, Bits<8>>,
    // The address side works on the waiting command.
    aw_sel: Signal<Local, Bit>,
    cur_addr: Signal<Local, Bits<64>>,
    cur_left: Signal<Local, Bits<16>>,
    cur_tag: Signal<Local, Bits<3>>,
    pend_aw_addr_n: Signal<Local, Bits<64>>,
    pend_aw_left_n: Signal<Local, Bits<16>>,
    pend_ahead_n: Signal<Local, Bits<4>>,
    ahead_all: Signal<Local, Bits<4>>,
    dq_pop: Signal<Local, Bit>,
    dq_push: Signal<Local, Bit>,
    dq_mid: Signal<Local, Bits<64>>,
    dq_nmid: Signal<Local, Bits<3>>,
    to4k: Signal<Local, Bits<16>>,
    blen: Signal<Local, Bits<16>>,
    wto4k: Signal<Local, Bits<16>>,
    wblen: Signal<Local, Bits<16>>,
    wlen_now: Signal<Local, Bits<16>>,
    aw_fire: Signal<Local, Bit>,
    w_open: Signal<Local, Bit>,
    w_fire: Signal<Local, Bit>,
    wburst_done: Signal<Local, Bit>,
    b_fire: Signal<Local, Bit>,
    finishing: Signal<Local, Bit>,
}

impl Logic for DmaWrite {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, pend_v, pend_addr, pend_beats, pend_strb, pend_tag, pend_aw_addr, pend_aw_left, pend_ahead, active, tag, aw_addr, aw_left, aw_ahead,
            w_addr, w_left, wcnt, strb, acnt, rcnt, dq, dq_n, errq
        );
        // The waiting slot takes a command whenever it is free.
        self.cmd_ready.next = !self.pend_v.q.val();
        if self.cmd_valid.val() & !self.pend_v.q.val() {
            self.pend_v.d.next = true;
            self.pend_addr.d.next = self.cmd_addr.val();
            self.pend_beats.d.next = self.cmd_beats.val();
            self.pend_strb.d.next = self.cmd_strb.val();
            self.pend_tag.d.next = self.cmd_tag.val();
            self.pend_aw_addr.d.next = self.cmd_addr.val();
            self.pend_aw_left.d.next = self.cmd_beats.val();
            self.pend_ahead.d.next = 0.into();
        }
        self.busy.next = self.active.q.val() | self.pend_v.q.val() | (self.dq_n.q.val() != 0);
        self.w_tag.next = self.tag.q.val();
        self.w_active.next = self.active.q.val();

        // Address side: bursts of at most MAX_BURST beats that do not cross 4 KiB, issued up to
        // AW_AHEAD ahead of their data, for the command in progress and then for the waiting one
        // (so the next command's first beat never waits for its address). A command's last burst
        // needs a place in the done queue, and at most 128 bursts may await responses (the 8-bit
        // counters compare modulo 256).
        self.aw_sel.next = self.pend_v.q.val() & (!self.active.q.val() | (self.aw_left.q.val() == 0));
        self.cur_addr.next = self.aw_addr.q.val();
        self.cur_left.next = self.aw_left.q.val();
        self.cur_tag.next = self.tag.q.val();
        if self.aw_sel.val() {
            self.cur_addr.next = self.pend_aw_addr.q.val();
            self.cur_left.next = self.pend_aw_left.q.val();
            self.cur_tag.next = self.pend_tag.q.val();
        }
        self.to4k.next = (bit_cast::<16, 64>(0x1000_u64.to_bits::<64>() - (self.cur_addr.val() & 0xfff_u64))) >> 3;
        self.blen.next = self.cur_left.val();
        if self.blen.val() > 32_u64 {
            self.blen.next = 32_u64.into();
        }
        if self.to4k.val() < self.blen.val() {
            self.blen.next = self.to4k.val();
        }
        self.awaddr.next = self.cur_addr.val();
        self.awlen.next = bit_cast::<8, 16>(self.blen.val() - 1);
        self.acnt_next.next = self.acnt.q.val() + 1;
        self.rcnt_next.next = self.rcnt.q.val() + 1;
        self.in_flight.next = self.acnt.q.val() - self.rcnt.q.val();
        self.ahead_all.next = self.aw_ahead.q.val() + self.pend_ahead.q.val();
        self.awvalid.next = (self.aw_sel.val() | self.active.q.val())
            & (self.cur_left.val() != 0)
            & (self.ahead_all.val() < 4_u64)
            & (self.dq_n.q.val() != 4_u64)
            & (self.in_flight.val() < 128_u64);
        self.aw_fire.next = self.awvalid.val() & self.awready.val();
        self.pend_aw_addr_n.next = self.pend_aw_addr.q.val();
        self.pend_aw_left_n.next = self.pend_aw_left.q.val();
        self.pend_ahead_n.next = self.pend_ahead.q.val();
        if self.aw_fire.val() {
            self.acnt.d.next = self.acnt_next.val();
            if self.aw_sel.val() {
                self.pend_aw_addr_n.next = self.pend_aw_addr.q.val() + (bit_cast::<64, 16>(self.blen.val()) << 3);
                self.pend_aw_left_n.next = self.pend_aw_left.q.val() - self.blen.val();
                self.pend_ahead_n.next = self.pend_ahead.q.val() + 1;
            } else {
                self.aw_addr.d.next = self.aw_addr.q.val() + (bit_cast::<64, 16>(self.blen.val()) << 3);
                self.aw_left.d.next = self.aw_left.q.val() - self.blen.val();
            }
        }
        if self.pend_v.q.val() {
            self.pend_aw_addr.d.next = self.pend_aw_addr_n.val();
            self.pend_aw_left.d.next = self.pend_aw_left_n.val();
            self.pend_ahead.d.next = self.pend_ahead_n.val();
        }
        // Data side: the same burst boundaries, computed from its own address. A burst's beats
        // flow once its address is issued, the first one with the address itself.
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
        self.w_open.next = self.active.q.val()
            & (self.w_left.q.val() != 0)
            & ((self.aw_ahead.q.val() != 0) | (self.aw_fire.val() & !self.aw_sel.val()));
        self.wdata.next = self.din.val();
        self.wvalid.next = self.w_open.val() & self.din_valid.val();
        self.din_ready.next = self.w_open.val() & self.wready.val();
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
        if self.aw_fire.val() & !self.aw_sel.val() & !self.wburst_done.val() {
            self.aw_ahead.d.next = self.aw_ahead.q.val() + 1;
        }
        if !(self.aw_fire.val() & !self.aw_sel.val()) & self.wburst_done.val() {
            self.aw_ahead.d.next = self.aw_ahead.q.val() - 1;
        }

        // Responses arrive in order: the head entry is done when the response that brings the
        // count to its target arrives. Errors gather until then.
        self.bready.next = true;
        self.b_fire.next = self.bvalid.val();
        self.err_pulse.next = self.b_fire.val() & (self.bresp.val() != 0);
        if self.b_fire.val() {
            self.rcnt.d.next = self.rcnt_next.val();
        }
        self.dq_pop.next = self.b_fire.val()
            & (self.dq_n.q.val() != 0)
            & (self.rcnt_next.val() == self.dq.q.val().get_bits::<8>(3));
        self.done.next = self.dq_pop.val();
        self.done_tag.next = self.dq.q.val().get_bits::<3>(0);
        self.err.next = self.errq.q.val() | (self.bresp.val() != 0);
        if self.b_fire.val() & (self.bresp.val() != 0) {
            self.errq.d.next = true;
        }
        if self.dq_pop.val() {
            self.errq.d.next = false;
        }
        // The command's last address enters the done queue, with the count its responses reach.
        self.dq_push.next = self.aw_fire.val() & (self.cur_left.val() == self.blen.val());
        self.dq_mid.next = self.dq.q.val();
        self.dq_nmid.next = self.dq_n.q.val();
        if self.dq_pop.val() {
            self.dq_mid.next = self.dq.q.val() >> 16;
            self.dq_nmid.next = self.dq_n.q.val() - 1;
        }
        self.dq.d.next = self.dq_mid.val();
        self.dq_n.d.next = self.dq_nmid.val();
        if self.dq_push.val() {
            self.dq.d.next = self.dq_mid.val()
                | ((bit_cast::<64, 3>(self.cur_tag.val()) | (bit_cast::<64, 8>(self.acnt_next.val()) << 3))
                    << (bit_cast::<64, 3>(self.dq_nmid.val()) << 4));
            self.dq_n.d.next = self.dq_nmid.val() + 1;
        }

        // The command in progress ends with its last beat (its addresses are out by then); the
        // waiting one starts the next cycle.
        self.finishing.next = self.active.q.val()
            & ((self.aw_left.q.val() == 0) | (self.dq_push.val() & !self.aw_sel.val()))
            & ((self.w_left.q.val() == 0) | (self.w_fire.val() & (self.w_left.q.val() == 1)));
        if self.finishing.val() {
            self.active.d.next = false;
        }
        if self.pend_v.q.val() & (!self.active.q.val() | self.finishing.val()) {
            self.pend_v.d.next = false;
            self.active.d.next = true;
            self.tag.d.next = self.pend_tag.q.val();
            self.aw_addr.d.next = self.pend_aw_addr_n.val();
            self.aw_left.d.next = self.pend_aw_left_n.val();
            self.aw_ahead.d.next = self.pend_ahead_n.val();
            self.pend_ahead.d.next = 0.into();
            self.w_addr.d.next = self.pend_addr.q.val();
            self.w_left.d.next = self.pend_beats.q.val();
            self.wcnt.d.next = 0.into();
            self.strb.d.next = self.pend_strb.q.val();
        }
        if self.reset.val() {
            self.pend_v.d.next = false;
            self.active.d.next = false;
            self.aw_left.d.next = 0.into();
            self.w_left.d.next = 0.into();
            self.aw_ahead.d.next = 0.into();
            self.pend_ahead.d.next = 0.into();
            self.acnt.d.next = 0.into();
            self.rcnt.d.next = 0.into();
            self.dq_n.d.next = 0.into();
            self.errq.d.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};
    use rand::{Rng, SeedableRng};
    use std::collections::{BTreeMap, VecDeque};

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

    /// One command as the engine's environment sees it.
    #[derive(Clone, Debug)]
    struct Cmd {
        addr: u64,
        beats: u64,
        strb: u64,
        tag: u64,
    }

    /// Drives `cmds` through the engine against an AXI slave model (random ready, responses after
    /// a random delay, `bad` bursts answered SLVERR; with `w_waits_for_aw`, `wready` only once
    /// a burst's address was taken in an earlier cycle, as the simulator's DMA model and many
    /// interconnects do) and checks the AXI rules and the engine's
    /// promises independently of its logic: every beat lands once at its address with the right
    /// strobe, bursts stay inside 4 KiB and MAX_BURST, data never precedes its address, at most
    /// AW_AHEAD bursts run ahead, and each command's `done` comes once, in command order, with
    /// its tag, after the last of its own responses and with `err` exactly when one of them was
    /// an error. Returns the cycles from the first command to the last `done`.
    fn run(cmds: &[Cmd], seed: u64, busy_slave: bool, w_waits_for_aw: bool, bad: &[u64]) -> u64 {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut d = DmaWrite::default();
        d.connect_all();
        let mut mem = BTreeMap::<u64, (u64, u64)>::new();
        let mut bursts: VecDeque<(u64, u64, usize)> = VecDeque::new(); // (addr, beats left, command)
        let mut resp: Vec<(u32, usize, bool)> = vec![]; // (cycles until the response, command, error)
        let mut left_resp: Vec<u64> = vec![0; cmds.len()]; // responses each command still awaits
        let mut sent_resp_err = vec![false; cmds.len()];
        let mut aw_burst = 0u64;
        let (mut issued, mut fed, mut dones) = (0usize, 0usize, 0usize);
        let mut beat_of = 0u64; // beats fed of command `fed`
        let mut cycles = 0u64;
        let (mut started, mut last_done) = (None, 0);
        while dones < cmds.len() {
            cycles += 1;
            assert!(cycles < 20_000, "seed {seed}: the commands did not finish ({dones} of {})", cmds.len());
            let bv = resp.first().map(|r| r.0 == 0).unwrap_or(false);
            d.reset.next = cycles < 3;
            let c = cmds.get(issued).cloned().unwrap_or(Cmd { addr: 0, beats: 1, strb: 0, tag: 0 });
            d.cmd_valid.next = cycles >= 3 && issued < cmds.len() && (!busy_slave || rng.gen_bool(0.7));
            d.cmd_addr.next = c.addr.to_bits();
            d.cmd_beats.next = c.beats.to_bits();
            d.cmd_strb.next = c.strb.to_bits();
            d.cmd_tag.next = c.tag.to_bits();
            d.din.next = ((fed as u64) << 32 | beat_of).to_bits();
            d.din_valid.next = fed < issued && (!busy_slave || rng.gen_bool(0.8));
            d.awready.next = !busy_slave || rng.gen_bool(0.5);
            d.wready.next = (!busy_slave || rng.gen_bool(0.7)) && (!w_waits_for_aw || !bursts.is_empty());
            d.bvalid.next = bv;
            d.bresp.next = (if bv && resp[0].2 { 2u64 } else { 0 }).to_bits();
            clock_cycle(&mut d, |d, c| d.clock.next = Clock { clk: c }, |d| {
                if cycles < 3 {
                    return;
                }
                if d.cmd_valid.val() && d.cmd_ready.val() {
                    started.get_or_insert(cycles);
                    issued += 1;
                }
                if d.din_ready.val() && d.din_valid.val() {
                    assert_eq!(d.w_tag.val().index() as u64, cmds[fed].tag, "seed {seed}: beat asked for another tag");
                }
                if d.awvalid.val() && d.awready.val() {
                    let a = d.awaddr.val().to_u64();
                    let n = d.awlen.val().index() as u64 + 1;
                    assert!(n <= crate::dma_rd::MAX_BURST);
                    assert_eq!(a / 4096, (a + n * 8 - 1) / 4096, "seed {seed}: burst crosses 4 KiB");
                    // The command this burst belongs to: the first whose range holds it.
                    let k = (0..cmds.len())
                        .find(|&k| a >= cmds[k].addr && a < cmds[k].addr + 8 * cmds[k].beats && (k >= fed))
                        .expect("burst inside a command");
                    bursts.push_back((a, n, k));
                    left_resp[k] += 1;
                    assert!(bursts.len() as u64 <= AW_AHEAD, "seed {seed}: more than AW_AHEAD bursts ahead");
                }
                if d.wvalid.val() && d.wready.val() {
                    let (a, n, k) = bursts.pop_front().expect("data before its address");
                    assert_eq!(k, fed, "seed {seed}: beats of command {fed} under command {k}'s address");
                    assert_eq!(d.wlast.val(), n == 1);
                    assert!(mem.insert(a, (d.wdata.val().to_u64(), d.wstrb.val().index() as u64)).is_none(), "beat written twice");
                    beat_of += 1;
                    if n > 1 {
                        bursts.push_front((a + 8, n - 1, k));
                    } else {
                        let err = bad.contains(&aw_burst);
                        aw_burst += 1;
                        resp.push((rng.gen_range(0..if busy_slave { 12 } else { 4 }), k, err));
                    }
                    if beat_of == cmds[fed].beats {
                        fed += 1;
                        beat_of = 0;
                    }
                }
                if bv {
                    let (_, k, e) = resp.remove(0);
                    left_resp[k] -= 1;
                    sent_resp_err[k] |= e;
                }
                if d.done.val() {
                    let k = dones;
                    assert!(k < fed, "seed {seed}: done for command {k} before its data");
                    assert_eq!(left_resp[k], 0, "seed {seed}: done for command {k} before its responses");
                    assert!(bv, "done comes with the response that completes the command");
                    assert_eq!(d.done_tag.val().index() as u64, cmds[k].tag, "seed {seed}: done's tag");
                    assert_eq!(d.err.val(), sent_resp_err[k], "seed {seed}: err of command {k}");
                    dones += 1;
                    last_done = cycles;
                }
            });
            for r in resp.iter_mut() {
                r.0 = r.0.saturating_sub(1);
            }
        }
        for (k, c) in cmds.iter().enumerate() {
            for i in 0..c.beats {
                let (v, s) = mem[&(c.addr + i * 8)];
                assert_eq!(v, (k as u64) << 32 | i, "seed {seed}: command {k} beat {i}");
                assert_eq!(s, if i == c.beats - 1 { c.strb } else { 0xff });
            }
        }
        assert_eq!(mem.len() as u64, cmds.iter().map(|c| c.beats).sum::<u64>());
        last_done - started.unwrap()
    }

    /// Random commands (lengths 1..80 beats, addresses near 4 KiB edges, tags) under a random
    /// slave, with some error responses: the AXI rules and the per-command promises hold.
    #[test]
    fn random_commands_land_in_order_with_their_tags_and_errors() {
        for seed in 0..6u64 {
            eprintln!("dma_wr random commands: seed {seed}");
            let mut rng = rand::rngs::SmallRng::seed_from_u64(100 + seed);
            let mut next = 0x3000u64 - 8 * rng.gen_range(0..40u64);
            let cmds: Vec<Cmd> = (0..12)
                .map(|_| {
                    let beats = if rng.gen_bool(0.3) { rng.gen_range(1..3) } else { rng.gen_range(1..80) };
                    let c = Cmd { addr: next, beats, strb: rng.gen_range(1..256), tag: rng.gen_range(0..8) };
                    next += 8 * beats + 8 * rng.gen_range(0..3u64);
                    c
                })
                .collect();
            let bad: Vec<u64> = (0..3).map(|_| rng.gen_range(0..20)).collect();
            run(&cmds, seed, true, seed % 2 == 0, &bad);
        }
    }

    /// Frames and completions back to back (8 beats, then 2, repeated) with a slave that takes
    /// every address at once but data only for addresses taken before: the data channel still
    /// carries a beat every cycle (the next command's address goes out while the current one's
    /// data flows), so the whole run takes the beats plus the pipeline's fill and the last
    /// response, not a gap per command.
    #[test]
    fn short_commands_stream_without_gaps() {
        let mut cmds = vec![];
        let mut a = 0x10_000u64;
        for i in 0..20u64 {
            cmds.push(Cmd { addr: a, beats: 8, strb: 0xff, tag: 1 });
            a += 64;
            cmds.push(Cmd { addr: 0x80_000 + 16 * i, beats: 2, strb: 0xff, tag: 5 });
        }
        let beats: u64 = cmds.iter().map(|c| c.beats).sum();
        let cycles = run(&cmds, 0, false, true, &[]);
        eprintln!("{beats} beats took {cycles} cycles");
        assert!(cycles <= beats + 8, "{beats} beats took {cycles} cycles");
    }
}
