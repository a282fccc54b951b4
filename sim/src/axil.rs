//! AXI4-Lite master bus-functional model: register reads and writes as real
//! handshakes on the NIC's `s_axil_*` slave port.
//!
//! One access at a time, in submission order. A write raises `awvalid` and
//! `wvalid` together (`wstrb` = 0xf) and drops each after its own handshake,
//! then takes the B response; a read raises `arvalid`, then takes R. `bready`
//! / `rready` are high while the response is awaited. An access not answered
//! within the timeout ends with [`SimError::RegTimeout`] (the bus is then
//! released, which breaks AXI's valid-stays-up rule: the RTL is stuck anyway).
//!
//! ```text
//! clk      _/‾\_/‾\_/‾\_/‾\_/‾\_/‾\_
//! awvalid  _/‾‾‾‾‾‾‾\___________        write: address and data together
//! awready  _____/‾‾‾\___________
//! wvalid   _/‾‾‾‾‾‾‾‾‾‾‾\_______
//! wready   _________/‾‾‾\_______
//! bvalid   _____________/‾‾‾\___
//! bready   _/‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾\___        access done at the B handshake
//! ```

use std::collections::VecDeque;

use crate::SimError;

/// One register access.
#[allow(missing_docs)] // variant fields are named for what they hold
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegOp {
    /// Read the 32-bit register at byte offset `off`.
    Read { off: u32 },
    /// Write `val` to the 32-bit register at byte offset `off`.
    Write { off: u32, val: u32 },
}

/// What the master drives (inputs of the NIC).
#[allow(missing_docs)] // fields are the AMBA AXI signal names
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AxilMasterSignals {
    pub awaddr: u32,
    pub awvalid: bool,
    pub wdata: u32,
    pub wstrb: u8,
    pub wvalid: bool,
    pub bready: bool,
    pub araddr: u32,
    pub arvalid: bool,
    pub rready: bool,
}

/// What the slave (the NIC) drives.
#[allow(missing_docs)] // fields are the AMBA AXI signal names
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AxilSlaveSignals {
    pub awready: bool,
    pub wready: bool,
    pub bresp: u8,
    pub bvalid: bool,
    pub arready: bool,
    pub rdata: u32,
    pub rresp: u8,
    pub rvalid: bool,
}

/// Register traffic seen by the master.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AxilCounters {
    /// Reads completed (any outcome).
    pub reads: u64,
    /// Writes completed (any outcome).
    pub writes: u64,
    /// Accesses that timed out.
    pub timeouts: u64,
    /// Accesses answered with an error response.
    pub errors: u64,
    /// Cycles spent in accesses (sum of latencies).
    pub busy_cycles: u64,
}

struct Active<T> {
    op: RegOp,
    tag: T,
    start: u64,
}

/// The AXI4-Lite master. `T` tags each access (the world uses the reply channel).
pub struct AxilMaster<T> {
    queue: VecDeque<(RegOp, T)>,
    cur: Option<Active<T>>,
    sig: AxilMasterSignals,
    timeout: u64,
    counters: AxilCounters,
    /// Set by the first timeout (write?, offset, cycles waited, start cycle): a late response could
    /// otherwise be taken as the answer to the next access, so every later access fails with it.
    dead: Option<(bool, u32, u64, u64)>,
}

impl<T> AxilMaster<T> {
    /// A master that gives up on an access after `timeout_cycles`.
    pub fn new(timeout_cycles: u64) -> Self {
        Self {
            queue: VecDeque::with_capacity(16),
            cur: None,
            sig: AxilMasterSignals::default(),
            timeout: timeout_cycles.max(1),
            counters: AxilCounters::default(),
            dead: None,
        }
    }

    /// Queues an access; it starts when the ones before it are done.
    pub fn submit(&mut self, op: RegOp, tag: T) {
        self.queue.push_back((op, tag));
    }

    /// An access is in progress or queued.
    pub fn busy(&self) -> bool {
        self.cur.is_some() || !self.queue.is_empty()
    }

    /// Counters so far.
    pub fn counters(&self) -> AxilCounters {
        self.counters
    }

    /// The signals for this cycle; starts the next access if `may_start`
    /// (false while the NIC is held in reset).
    pub fn drive(&mut self, now: u64, may_start: bool) -> AxilMasterSignals {
        if self.cur.is_none() && may_start && self.dead.is_none() {
            if let Some((op, tag)) = self.queue.pop_front() {
                let s = &mut self.sig;
                match op {
                    RegOp::Write { off, val } => {
                        // bready rises only once both handshakes are done, so a response
                        // the slave gives too early is never taken (it times out instead).
                        (s.awaddr, s.awvalid, s.wdata, s.wstrb, s.wvalid, s.bready) =
                            (off, true, val, 0xf, true, false);
                    }
                    RegOp::Read { off } => {
                        (s.araddr, s.arvalid, s.rready) = (off, true, true);
                    }
                }
                self.cur = Some(Active {
                    op,
                    tag,
                    start: now,
                });
            }
        }
        self.sig
    }

    /// Completes this cycle's handshakes; returns a finished access.
    pub fn update(&mut self, now: u64, s: &AxilSlaveSignals) -> Option<(T, Result<u32, SimError>)> {
        if let Some((write, off, cycles, at_cycle)) = self.dead {
            return self.queue.pop_front().map(|(_, tag)| (tag, Err(SimError::RegTimeout { write, off, cycles, at_cycle })));
        }
        let cur = self.cur.as_ref()?;
        let m = &mut self.sig;
        let result = match cur.op {
            RegOp::Write { off, .. } => {
                if m.awvalid && s.awready {
                    m.awvalid = false;
                }
                if m.wvalid && s.wready {
                    m.wvalid = false;
                }
                let answered = m.bready && s.bvalid;
                if !m.awvalid && !m.wvalid {
                    m.bready = true;
                }
                answered.then_some(match s.bresp {
                    0 | 1 => Ok(0),
                    r => Err(SimError::RegResponse {
                        write: true,
                        off,
                        resp: r,
                    }),
                })
            }
            RegOp::Read { off } => {
                if m.arvalid && s.arready {
                    m.arvalid = false;
                }
                (m.rready && s.rvalid).then_some(match s.rresp {
                    0 | 1 => Ok(s.rdata),
                    r => Err(SimError::RegResponse {
                        write: false,
                        off,
                        resp: r,
                    }),
                })
            }
        };
        let waited = now + 1 - cur.start;
        let result = match result {
            Some(r) => r,
            None if waited >= self.timeout => {
                self.counters.timeouts += 1;
                let (write, off) = match cur.op {
                    RegOp::Write { off, .. } => (true, off),
                    RegOp::Read { off } => (false, off),
                };
                self.dead = Some((write, off, waited, cur.start));
                Err(SimError::RegTimeout {
                    write,
                    off,
                    cycles: waited,
                    at_cycle: cur.start,
                })
            }
            None => return None,
        };
        let cur = self.cur.take()?;
        self.sig = AxilMasterSignals {
            awaddr: self.sig.awaddr,
            araddr: self.sig.araddr,
            ..Default::default()
        };
        match cur.op {
            RegOp::Write { .. } => self.counters.writes += 1,
            RegOp::Read { .. } => self.counters.reads += 1,
        }
        if matches!(result, Err(SimError::RegResponse { .. })) {
            self.counters.errors += 1;
        }
        self.counters.busy_cycles += waited;
        Some((cur.tag, result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A Rust AXI4-Lite slave: 1024 registers, random ready/valid delays,
    /// SLVERR above 0xf00, and it checks the master's valid-stays-up rule.
    struct Slave {
        regs: Vec<u32>,
        rng: SmallRng,
        sig: AxilSlaveSignals,
        aw: Option<u32>,
        w: Option<u32>,
        prev_m: AxilMasterSignals,
        prev_awready: bool,
        prev_wready: bool,
        prev_arready: bool,
        dead: bool,
    }

    impl Slave {
        fn new(seed: u64) -> Self {
            Self {
                regs: vec![0; 1024],
                rng: SmallRng::seed_from_u64(seed),
                sig: AxilSlaveSignals::default(),
                aw: None,
                w: None,
                prev_m: AxilMasterSignals::default(),
                prev_awready: false,
                prev_wready: false,
                prev_arready: false,
                dead: false,
            }
        }
        fn drive(&mut self) -> AxilSlaveSignals {
            if self.dead {
                return AxilSlaveSignals::default();
            }
            let s = &mut self.sig;
            s.awready = self.aw.is_none() && self.rng.gen_bool(0.5);
            s.wready = self.w.is_none() && self.rng.gen_bool(0.5);
            s.arready = !s.rvalid && self.rng.gen_bool(0.5);
            if !s.bvalid {
                if let (Some(a), Some(d)) = (self.aw, self.w) {
                    if self.rng.gen_bool(0.5) {
                        s.bvalid = true;
                        s.bresp = if a >= 0xf00 { 2 } else { 0 };
                        if a < 0xf00 {
                            self.regs[a as usize / 4] = d;
                        }
                    }
                }
            }
            *s
        }
        fn update(&mut self, m: &AxilMasterSignals) {
            let p = self.prev_m;
            // (After a timeout the master releases the bus on purpose.)
            // Master rule: a raised valid stays up, with the same payload, until its handshake.
            if p.awvalid && !self.prev_awready && !self.dead {
                assert!(m.awvalid && m.awaddr == p.awaddr, "awvalid dropped early");
            }
            if p.wvalid && !self.prev_wready && !self.dead {
                assert!(m.wvalid && m.wdata == p.wdata, "wvalid dropped early");
            }
            if p.arvalid && !self.prev_arready && !self.dead {
                assert!(m.arvalid && m.araddr == p.araddr, "arvalid dropped early");
            }
            let s = &mut self.sig;
            if m.awvalid && s.awready {
                self.aw = Some(m.awaddr);
            }
            if m.wvalid && s.wready {
                assert_eq!(m.wstrb, 0xf);
                self.w = Some(m.wdata);
            }
            if s.bvalid && m.bready {
                s.bvalid = false;
                self.aw = None;
                self.w = None;
            }
            if s.rvalid && m.rready {
                s.rvalid = false;
            }
            if m.arvalid && s.arready {
                s.rvalid = true;
                s.rresp = if m.araddr >= 0xf00 { 2 } else { 0 };
                s.rdata = if m.araddr >= 0xf00 {
                    0
                } else {
                    self.regs[m.araddr as usize / 4]
                };
            }
            self.prev_m = *m;
            (self.prev_awready, self.prev_wready, self.prev_arready) =
                (s.awready, s.wready, s.arready);
        }
    }

    fn clock(
        m: &mut AxilMaster<usize>,
        s: &mut Slave,
        now: &mut u64,
    ) -> Option<(usize, Result<u32, SimError>)> {
        let ms = m.drive(*now, true);
        let ss = s.drive();
        s.update(&ms);
        let r = m.update(*now, &ss);
        *now += 1;
        r
    }

    #[test]
    fn writes_then_reads_round_trip_in_order() {
        let mut m = AxilMaster::new(10_000);
        let mut s = Slave::new(3);
        for i in 0..50u32 {
            m.submit(
                RegOp::Write {
                    off: i * 4,
                    val: i * 0x0101_0101,
                },
                i as usize,
            );
        }
        for i in 0..50u32 {
            m.submit(RegOp::Read { off: i * 4 }, 100 + i as usize);
        }
        let mut now = 0;
        let mut done = Vec::new();
        while m.busy() {
            if let Some(r) = clock(&mut m, &mut s, &mut now) {
                done.push(r);
            }
            assert!(now < 100_000);
        }
        let tags: Vec<usize> = done.iter().map(|d| d.0).collect();
        assert_eq!(
            tags,
            (0..50).chain(100..150).collect::<Vec<_>>(),
            "in submission order"
        );
        for (t, r) in &done[50..] {
            assert_eq!(*r.as_ref().unwrap(), (*t as u32 - 100) * 0x0101_0101);
        }
        assert!(now > 200, "each access takes several cycles of handshakes");
        let c = m.counters();
        assert_eq!((c.reads, c.writes, c.timeouts, c.errors), (50, 50, 0, 0));
    }

    #[test]
    fn error_response_is_reported() {
        let mut m = AxilMaster::new(10_000);
        let mut s = Slave::new(4);
        m.submit(RegOp::Read { off: 0xf04 }, 1);
        m.submit(RegOp::Write { off: 0xf08, val: 1 }, 2);
        let mut now = 0;
        let mut done = Vec::new();
        while m.busy() {
            done.extend(clock(&mut m, &mut s, &mut now));
        }
        assert!(matches!(
            done[0].1,
            Err(SimError::RegResponse {
                write: false,
                off: 0xf04,
                resp: 2
            })
        ));
        assert!(matches!(
            done[1].1,
            Err(SimError::RegResponse {
                write: true,
                off: 0xf08,
                resp: 2
            })
        ));
        assert_eq!(m.counters().errors, 2);
    }

    #[test]
    fn a_dead_slave_times_out_instead_of_hanging() {
        let mut m = AxilMaster::new(500);
        let mut s = Slave::new(5);
        s.dead = true;
        m.submit(RegOp::Read { off: 0x10 }, 1);
        m.submit(RegOp::Write { off: 0x14, val: 2 }, 2);
        let mut now = 0;
        let mut done = Vec::new();
        while m.busy() {
            done.extend(clock(&mut m, &mut s, &mut now));
            assert!(now < 10_000);
        }
        // The second access fails at once with the first one's timeout: after a timeout a late
        // response could be mistaken for its answer, so the master never starts another.
        assert_eq!(now, 501);
        match &done[0].1 {
            Err(
                e @ SimError::RegTimeout {
                    write: false,
                    off: 0x10,
                    cycles: 500,
                    at_cycle: 0,
                },
            ) => {
                assert!(e.to_string().contains("register access timed out"));
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert_eq!(done[1].0, 2);
        assert!(matches!(
            done[1].1,
            Err(SimError::RegTimeout {
                write: false,
                off: 0x10,
                ..
            })
        ));
        assert_eq!(m.counters().timeouts, 1);
    }

    #[test]
    fn nothing_starts_while_held_in_reset() {
        let mut m: AxilMaster<()> = AxilMaster::new(100);
        m.submit(RegOp::Read { off: 0 }, ());
        assert_eq!(m.drive(0, false), AxilMasterSignals::default());
        assert!(m.drive(1, true).arvalid);
    }
}
