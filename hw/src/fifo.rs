//! Synchronous first-word-fall-through FIFO with a reset and a free-space count.
//!
//! rust-hdl's own FIFO has no reset and no fill count; the NIC needs both: a
//! soft reset must empty every queue, and the receive path decides at the
//! start of a frame whether a whole maximum frame still fits.
//!
//! ```text
//! clock  _/‾\_/‾\_/‾\_/‾\_/‾\_
//! push   __/‾‾‾\____________       one word written at edge 1
//! empty  ‾‾‾‾‾‾‾‾‾‾\________       visible two edges later (RAM read is registered)
//! dout   ----------< w0 >----      valid while !empty; pop advances it
//! ```
//! Throughput: one push and one pop per cycle, sustained.

use rust_hdl::prelude::*;

/// A FIFO of `1 << N` words of `D`; `NP1` must be `N + 1`.
#[derive(LogicBlock)]
pub struct Fifo<D: Synth, const N: usize, const NP1: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset: empties the FIFO.
    pub reset: Signal<In, Bit>,
    /// Write `din` this cycle (ignored when full).
    pub push: Signal<In, Bit>,
    /// Word to write.
    pub din: Signal<In, D>,
    /// Consume `dout` this cycle (ignored when empty).
    pub pop: Signal<In, Bit>,
    /// The oldest word, valid while `empty` is low.
    pub dout: Signal<Out, D>,
    /// No word readable.
    pub empty: Signal<Out, Bit>,
    /// No word writable.
    pub full: Signal<Out, Bit>,
    /// Words that can still be written.
    pub free: Signal<Out, Bits<NP1>>,
    ram: RAM<D, N>,
    wr_ptr: DFF<Bits<NP1>>,
    wr_vis: DFF<Bits<NP1>>,
    rd_ptr: DFF<Bits<NP1>>,
    used: Signal<Local, Bits<NP1>>,
    size: Constant<Bits<NP1>>,
}

impl<D: Synth, const N: usize, const NP1: usize> Default for Fifo<D, N, NP1> {
    fn default() -> Self {
        assert_eq!(N + 1, NP1);
        Self {
            clock: Default::default(),
            reset: Default::default(),
            push: Default::default(),
            din: Default::default(),
            pop: Default::default(),
            dout: Default::default(),
            empty: Default::default(),
            full: Default::default(),
            free: Default::default(),
            ram: Default::default(),
            wr_ptr: Default::default(),
            wr_vis: Default::default(),
            rd_ptr: Default::default(),
            used: Default::default(),
            size: Constant::new((1u64 << N).to_bits()),
        }
    }
}

impl<D: Synth, const N: usize, const NP1: usize> Logic for Fifo<D, N, NP1> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, wr_ptr, wr_vis, rd_ptr);
        self.ram.read_clock.next = self.clock.val();
        self.ram.write_clock.next = self.clock.val();
        self.used.next = self.wr_ptr.q.val() - self.rd_ptr.q.val();
        self.full.next = self.used.val() == self.size.val();
        self.free.next = self.size.val() - self.used.val();
        self.empty.next = self.rd_ptr.q.val() == self.wr_vis.q.val();
        self.ram.write_address.next = bit_cast::<N, NP1>(self.wr_ptr.q.val());
        self.ram.write_data.next = self.din.val();
        self.ram.write_enable.next = self.push.val() & !self.full.val();
        if self.push.val() & !self.full.val() {
            self.wr_ptr.d.next = self.wr_ptr.q.val() + 1;
        }
        self.wr_vis.d.next = self.wr_ptr.q.val();
        self.ram.read_address.next = bit_cast::<N, NP1>(self.rd_ptr.q.val());
        if self.pop.val() & !self.empty.val() {
            self.rd_ptr.d.next = self.rd_ptr.q.val() + 1;
            self.ram.read_address.next = bit_cast::<N, NP1>(self.rd_ptr.q.val() + 1);
        }
        self.dout.next = self.ram.read_data.val();
        if self.reset.val() {
            self.wr_ptr.d.next = 0.into();
            self.wr_vis.d.next = 0.into();
            self.rd_ptr.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};

    type F = Fifo<Bits<16>, 3, 4>;

    #[test]
    fn fifo_lints_in_verilator() {
        let mut f = F::default();
        f.connect_all();
        lint("fifo", &generate_verilog(&f));
    }

    #[test]
    fn fifo_matches_a_vecdeque_under_random_push_pop() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut f = F::default();
        f.connect_all();
        let mut model = std::collections::VecDeque::new();
        let mut next = 0u64;
        let mut popped = 0;
        for cycle in 0..2000 {
            let push = rng.gen_bool(0.5);
            let pop = rng.gen_bool(0.5);
            f.reset.next = cycle < 2;
            f.push.next = push;
            f.din.next = next.to_bits();
            f.pop.next = pop;
            clock_cycle(&mut f, |f, c| f.clock.next = Clock { clk: c }, |f| {
                if cycle < 2 {
                    return;
                }
                // Before the edge: what the FIFO shows must be the model's head (when visible).
                if !f.empty.val() {
                    assert_eq!(f.dout.val().index() as u64, *model.front().unwrap(), "cycle {cycle}");
                }
                assert!(f.free.val().index() + model.len() <= 8);
                if pop && !f.empty.val() {
                    model.pop_front();
                    popped += 1;
                }
                if push && !f.full.val() {
                    model.push_back(next);
                    next += 1;
                }
            });
        }
        assert!(popped > 500, "the test exercised the FIFO ({popped} pops)");
    }
}
