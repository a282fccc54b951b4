//! Round-robin choice among four requesters: which engine's command the DMA
//! engine takes next. After a grant is taken, the taken requester becomes the
//! lowest priority, so no requester waits more than three others' turns.
//!
//! ```text
//! req 1011, last 0 -> gnt 1;  taken -> last 1 -> next gnt 3
//! ```

use rust_hdl::prelude::*;

/// A four-way round-robin arbiter (combinational choice, registered rotation).
#[derive(LogicBlock, Default)]
pub struct Arb4 {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Reset: requester 0 first.
    pub reset: Signal<In, Bit>,
    /// Requests, one bit per requester.
    pub req: Signal<In, Bits<4>>,
    /// The chosen requester's grant was taken this cycle: rotate.
    pub take: Signal<In, Bit>,
    /// The chosen requester (meaningful with `any`).
    pub gnt: Signal<Out, Bits<2>>,
    /// Some requester is asking.
    pub any: Signal<Out, Bit>,
    last: DFF<Bits<2>>,
    c1: Signal<Local, Bits<2>>,
    c2: Signal<Local, Bits<2>>,
    c3: Signal<Local, Bits<2>>,
}

impl Logic for Arb4 {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, last);
        self.c1.next = self.last.q.val() + 1;
        self.c2.next = self.last.q.val() + 2;
        self.c3.next = self.last.q.val() + 3;
        self.any.next = self.req.val() != 0;
        // Lowest priority first, so the highest one's assignment stands.
        self.gnt.next = self.last.q.val();
        if self.req.val().get_bit(self.c3.val().index()) {
            self.gnt.next = self.c3.val();
        }
        if self.req.val().get_bit(self.c2.val().index()) {
            self.gnt.next = self.c2.val();
        }
        if self.req.val().get_bit(self.c1.val().index()) {
            self.gnt.next = self.c1.val();
        }
        if self.take.val() {
            self.last.d.next = self.gnt.val();
        }
        if self.reset.val() {
            self.last.d.next = 3.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};

    #[test]
    fn arb4_lints_in_verilator() {
        let mut b = Arb4::default();
        b.connect_all();
        lint("arb4", &generate_verilog(&b));
    }

    /// Every requester is served in turn while all ask; a lone requester is served at once.
    #[test]
    fn grants_rotate() {
        let mut b = Arb4::default();
        b.connect_all();
        let cyc = |b: &mut Arb4| clock_cycle(b, |b, c| b.clock.next = Clock { clk: c }, |_| {});
        b.reset.next = true;
        cyc(&mut b);
        b.reset.next = false;
        b.req.next = 0b1111.into();
        b.take.next = true;
        let mut order = vec![];
        for _ in 0..8 {
            simulate(&mut b, 50);
            order.push(b.gnt.val().index());
            cyc(&mut b);
        }
        assert_eq!(order, [0, 1, 2, 3, 0, 1, 2, 3]);
        b.req.next = 0b0100.into();
        simulate(&mut b, 50);
        assert_eq!(b.gnt.val().index(), 2);
        cyc(&mut b); // takes 2
        b.req.next = 0b1001.into();
        simulate(&mut b, 50);
        assert_eq!(b.gnt.val().index(), 3, "after 2 comes 3, then 0");
    }
}
