//! The DMA side: host memory by IOVA ([`DmaMemory`]) and an AXI4 slave model
//! ([`AxiDmaSlave`]) that answers the NIC's `m_axi_*` master from it.
//!
//! Protocol the model implements (and checks the master against):
//! - 64-bit data, `arsize`/`awsize` = 3 (8-byte beats), `INCR` bursts of
//!   `len + 1` beats; a burst must not cross a 4 KiB boundary;
//! - reads are answered in order, several may be outstanding
//!   ([`DmaConfig::max_reads`]); the first beat comes [`DmaConfig::read_latency`]
//!   cycles after the AR handshake; `rlast` on the last beat;
//! - writes: `wready` only once the burst's AW was accepted (allowed by AXI),
//!   bytes written per `wstrb`, one B response [`DmaConfig::write_latency`]
//!   cycles after the last beat;
//! - an address the memory does not map, or a burst that breaks the rules
//!   above, is answered SLVERR (2) and counted; nothing is written for an unmapped
//!   address (beats of a burst before a mid-burst rule break are already written);
//! - a valid we raise stays up with stable data until its handshake
//!   (back-pressure gaps are inserted only between beats).
//!
//! ```text
//! clk      _/‾\_/‾\_/‾\_/‾\_/‾\_/‾\_/‾\_
//! arvalid  ‾‾‾‾\______________________      AR accepted at edge 1
//! arready  ‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾
//! rvalid   ____________/‾‾‾‾‾‾‾‾‾‾‾\___    read_latency later: beats 0..len
//! rlast    ____________________/‾‾‾\___
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Host memory as the device sees it: addressed by IOVA.
///
/// Implemented by the host crate over its DMA mapping. `false` means the
/// address range is not (entirely) mapped: the DMA model then answers SLVERR
/// and counts a fault, as an IOMMU would block the access.
///
/// Called from the thread clocking the world, in the middle of a cycle: an
/// implementation must not call back into the `Sim` (a register access from
/// here would wait for the very thread it runs on).
pub trait DmaMemory: Send + Sync {
    /// Reads `buf.len()` bytes at `iova` into `buf`.
    fn read(&self, iova: u64, buf: &mut [u8]) -> bool;
    /// Writes `data` at `iova`.
    fn write(&self, iova: u64, data: &[u8]) -> bool;
}

/// A [`DmaMemory`] over one `Vec<u8>` mapped at `base`, for tests.
pub struct VecMemory {
    base: u64,
    data: Mutex<Vec<u8>>,
}

impl VecMemory {
    /// `len` zero bytes mapped at IOVA `base`.
    pub fn new(base: u64, len: usize) -> Self {
        Self {
            base,
            data: Mutex::new(vec![0; len]),
        }
    }

    /// A copy of `len` bytes at `iova` (`None` if not mapped).
    pub fn get(&self, iova: u64, len: usize) -> Option<Vec<u8>> {
        let mut v = vec![0; len];
        self.read(iova, &mut v).then_some(v)
    }

    fn range(&self, iova: u64, len: usize, have: usize) -> Option<std::ops::Range<usize>> {
        let start = usize::try_from(iova.checked_sub(self.base)?).ok()?;
        let end = start.checked_add(len)?;
        (end <= have).then_some(start..end)
    }
}

impl DmaMemory for VecMemory {
    fn read(&self, iova: u64, buf: &mut [u8]) -> bool {
        let d = self.data.lock().unwrap_or_else(|e| e.into_inner());
        match self.range(iova, buf.len(), d.len()) {
            Some(r) => {
                buf.copy_from_slice(&d[r]);
                true
            }
            None => false,
        }
    }

    fn write(&self, iova: u64, data: &[u8]) -> bool {
        let mut d = self.data.lock().unwrap_or_else(|e| e.into_inner());
        let have = d.len();
        match self.range(iova, data.len(), have) {
            Some(r) => {
                d[r].copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

/// AXI response codes.
pub mod resp {
    /// Normal access success.
    pub const OKAY: u8 = 0;
    /// Slave error: here, unmapped IOVA or a burst that breaks the rules.
    pub const SLVERR: u8 = 2;
}

/// AXI burst type INCR.
pub const BURST_INCR: u8 = 1;
/// `arsize`/`awsize` of an 8-byte beat.
pub const SIZE_8: u8 = 3;

/// What the AXI4 master (the NIC) drives, sampled before the rising edge.
#[allow(missing_docs)] // fields are the AMBA AXI signal names
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AxiMasterSignals {
    pub araddr: u64,
    pub arlen: u8,
    pub arsize: u8,
    pub arburst: u8,
    pub arvalid: bool,
    pub rready: bool,
    pub awaddr: u64,
    pub awlen: u8,
    pub awsize: u8,
    pub awburst: u8,
    pub awvalid: bool,
    pub wdata: u64,
    pub wstrb: u8,
    pub wlast: bool,
    pub wvalid: bool,
    pub bready: bool,
}

/// What the slave model drives into the master.
#[allow(missing_docs)] // fields are the AMBA AXI signal names
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AxiSlaveSignals {
    pub arready: bool,
    pub rdata: u64,
    pub rresp: u8,
    pub rlast: bool,
    pub rvalid: bool,
    pub awready: bool,
    pub wready: bool,
    pub bresp: u8,
    pub bvalid: bool,
}

/// Seeded random back-pressure, each a probability per cycle in `0.0..=1.0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DmaStall {
    /// Seed: the same seed gives the same stall pattern.
    pub seed: u64,
    /// `arready` low.
    pub ar: f64,
    /// A gap (no `rvalid`) before presenting a read beat.
    pub r_gap: f64,
    /// `awready` low.
    pub aw: f64,
    /// `wready` low.
    pub w: f64,
}

/// Seeded injected errors, each a probability in `0.0..=1.0`: a read beat or a write response
/// answered SLVERR although the memory is mapped, as a board's host bridge answers a completion
/// timeout or a poisoned TLP. A read burst stays failed from its first bad beat to its end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DmaErrors {
    /// Seed: the same seed gives the same errors for the same traffic (its own generator, so
    /// turning errors on does not change a stall pattern).
    pub seed: u64,
    /// Per read beat.
    pub read_beat: f64,
    /// Per write burst's B response.
    pub write_resp: f64,
}

/// How the DMA model behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DmaConfig {
    /// Cycles from the AR handshake to the first read beat (a PCIe read round
    /// trip is ~1 µs ≈ 156 cycles on a board; the default is shorter so tests run fast).
    pub read_latency: u32,
    /// Cycles from the last write beat to the B response.
    pub write_latency: u32,
    /// Read bursts accepted and not yet fully answered, at most (a PCIe endpoint has 32 or more
    /// read tags; the NIC's read engine keeps up to 32 commands in flight).
    pub max_reads: usize,
    /// Write bursts accepted and not yet answered with B, at most.
    pub max_writes: usize,
    /// Optional random back-pressure.
    pub stall: Option<DmaStall>,
    /// Optional injected errors.
    pub errors: Option<DmaErrors>,
}

impl Default for DmaConfig {
    fn default() -> Self {
        Self {
            read_latency: 16,
            write_latency: 4,
            max_reads: 32,
            max_writes: 8,
            stall: None,
            errors: None,
        }
    }
}

/// A rule of the DMA protocol the master broke (the burst was answered SLVERR).
#[allow(missing_docs)] // variant fields are named for what they hold
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaViolation {
    /// The burst crosses a 4 KiB boundary.
    Crosses4K { write: bool, addr: u64, len: u8 },
    /// `arsize`/`awsize` is not 3 (8 bytes).
    Size { write: bool, addr: u64, size: u8 },
    /// `arburst`/`awburst` is not INCR.
    Burst { write: bool, addr: u64, burst: u8 },
    /// `wlast` did not match the burst length.
    Wlast { addr: u64, beat: u16, len: u8 },
}

impl fmt::Display for DmaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rw = |w: &bool| if *w { "write" } else { "read" };
        match self {
            DmaViolation::Crosses4K { write, addr, len } => {
                write!(
                    f,
                    "{} burst at {addr:#x} of {} beats crosses a 4 KiB boundary",
                    rw(write),
                    *len as u32 + 1
                )
            }
            DmaViolation::Size { write, addr, size } => {
                write!(
                    f,
                    "{} burst at {addr:#x} has size {size}, expected 3 (8 bytes)",
                    rw(write)
                )
            }
            DmaViolation::Burst { write, addr, burst } => {
                write!(
                    f,
                    "{} burst at {addr:#x} has burst type {burst}, expected INCR (1)",
                    rw(write)
                )
            }
            DmaViolation::Wlast { addr, beat, len } => {
                write!(
                    f,
                    "write burst at {addr:#x} (len {len}): wlast wrong on beat {beat}"
                )
            }
        }
    }
}

/// What the DMA model has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DmaCounters {
    /// AR handshakes.
    pub read_bursts: u64,
    /// R handshakes.
    pub read_beats: u64,
    /// Write bursts accepted (AW handshakes).
    pub write_bursts: u64,
    /// W handshakes.
    pub write_beats: u64,
    /// Bytes written (strobed lanes).
    pub write_bytes: u64,
    /// Cycle of the first W handshake (0 before any), for rates measured at the DMA port.
    pub first_write_cycle: u64,
    /// Cycle of the latest W handshake.
    pub last_write_cycle: u64,
    /// Bursts answered SLVERR because memory was not mapped there.
    pub faults: u64,
    /// IOVA of the last fault.
    pub last_fault_iova: u64,
    /// Bursts that broke the protocol (also answered SLVERR).
    pub protocol_violations: u64,
    /// Read beats and write responses turned into SLVERR by [`DmaErrors`].
    pub injected_errors: u64,
    /// The first violation seen.
    pub first_violation: Option<DmaViolation>,
}

struct Burst {
    addr: u64,
    len: u8,
    next: u16,
    ready_at: u64,
    /// Broke the protocol: answer SLVERR without touching memory.
    bad: bool,
    faulted: bool,
}

/// The AXI4 slave answering the NIC's DMA master from a [`DmaMemory`].
///
/// Per cycle: [`drive`](Self::drive) gives the signals to present, then
/// [`update`](Self::update) with what the master drove in the same cycle
/// completes the handshakes at the rising edge.
pub struct AxiDmaSlave {
    cfg: DmaConfig,
    mem: Option<Arc<dyn DmaMemory>>,
    rng: Option<SmallRng>,
    /// Drives [`DmaErrors`] (its own stream, so stalls and errors do not perturb each other).
    err_rng: Option<SmallRng>,
    reads: VecDeque<Burst>,
    writes: VecDeque<Burst>,
    bq: VecDeque<(u64, u8)>,
    drv: AxiSlaveSignals,
    counters: DmaCounters,
}

fn crosses_4k(addr: u64, len: u8) -> bool {
    let last = (addr & !7).wrapping_add((len as u64 + 1) * 8 - 1);
    (addr >> 12) != (last >> 12)
}

impl AxiDmaSlave {
    /// A slave with no memory attached (every access faults until [`attach`](Self::attach)).
    pub fn new(cfg: DmaConfig) -> Self {
        Self {
            rng: cfg.stall.map(|s| SmallRng::seed_from_u64(s.seed)),
            err_rng: cfg.errors.map(|e| SmallRng::seed_from_u64(e.seed)),
            reads: VecDeque::with_capacity(cfg.max_reads.max(1)),
            writes: VecDeque::with_capacity(cfg.max_writes.max(1)),
            bq: VecDeque::with_capacity(cfg.max_writes.max(1)),
            cfg,
            mem: None,
            drv: AxiSlaveSignals::default(),
            counters: DmaCounters::default(),
        }
    }

    /// Serves DMA from `mem` from now on.
    pub fn attach(&mut self, mem: Arc<dyn DmaMemory>) {
        self.mem = Some(mem);
    }

    /// Counters so far.
    pub fn counters(&self) -> DmaCounters {
        self.counters
    }

    /// No burst in flight and no response pending.
    pub fn is_quiet(&self) -> bool {
        self.reads.is_empty()
            && self.writes.is_empty()
            && self.bq.is_empty()
            && !self.drv.rvalid
            && !self.drv.bvalid
    }

    fn chance(&mut self, p: impl Fn(&DmaStall) -> f64) -> bool {
        match (&mut self.rng, &self.cfg.stall) {
            (Some(rng), Some(s)) => {
                let p = p(s);
                p > 0.0 && rng.gen_bool(p.min(1.0))
            }
            _ => false,
        }
    }

    /// Whether to inject an error now, with the probability `p` picks from [`DmaErrors`].
    fn inject(&mut self, p: impl Fn(&DmaErrors) -> f64) -> bool {
        let hit = match (&mut self.err_rng, &self.cfg.errors) {
            (Some(rng), Some(e)) => {
                let p = p(e);
                p > 0.0 && rng.gen_bool(p.min(1.0))
            }
            _ => false,
        };
        self.counters.injected_errors += u64::from(hit);
        hit
    }

    fn violation(&mut self, v: DmaViolation) {
        self.counters.protocol_violations += 1;
        if self.counters.first_violation.is_none() {
            self.counters.first_violation = Some(v);
        }
    }

    fn fault(&mut self, iova: u64) {
        self.counters.faults += 1;
        self.counters.last_fault_iova = iova;
    }

    /// The signals to present this cycle (held valids keep their data).
    pub fn drive(&mut self, now: u64) -> AxiSlaveSignals {
        let stall_ar = self.chance(|s| s.ar);
        self.drv.arready = self.reads.len() < self.cfg.max_reads && !stall_ar;
        if !self.drv.rvalid {
            let ready = self.reads.front().is_some_and(|b| now >= b.ready_at);
            if ready && !self.chance(|s| s.r_gap) {
                self.present_read_beat();
            }
        }
        let stall_aw = self.chance(|s| s.aw);
        self.drv.awready = self.writes.len() + self.bq.len() < self.cfg.max_writes && !stall_aw;
        let stall_w = self.chance(|s| s.w);
        self.drv.wready = !self.writes.is_empty() && !stall_w;
        if !self.drv.bvalid {
            if let Some(&(at, r)) = self.bq.front() {
                if now >= at {
                    self.drv.bvalid = true;
                    self.drv.bresp = r;
                }
            }
        }
        self.drv
    }

    fn present_read_beat(&mut self) {
        let Some(b) = self.reads.front() else { return };
        let beat_addr = (b.addr & !7) + 8 * b.next as u64;
        let last = b.next == b.len as u16;
        let (bad, faulted) = (b.bad, b.faulted);
        let mut data = [0u8; 8];
        let ok = !bad
            && !faulted
            && self
                .mem
                .as_ref()
                .is_some_and(|m| m.read(beat_addr, &mut data));
        if !ok && !bad && !faulted {
            self.fault(beat_addr);
        }
        // An unmapped address or an injected error fails the rest of the burst too.
        let ok = ok && !self.inject(|e| e.read_beat);
        if !ok {
            if let Some(b) = self.reads.front_mut() {
                b.faulted = true;
            }
        }
        self.drv.rvalid = true;
        self.drv.rlast = last;
        self.drv.rresp = if ok { resp::OKAY } else { resp::SLVERR };
        self.drv.rdata = if ok { u64::from_le_bytes(data) } else { 0 };
    }

    fn check(&mut self, write: bool, addr: u64, len: u8, size: u8, burst: u8) -> bool {
        let v = if size != SIZE_8 {
            Some(DmaViolation::Size { write, addr, size })
        } else if burst != BURST_INCR {
            Some(DmaViolation::Burst { write, addr, burst })
        } else if crosses_4k(addr, len) {
            Some(DmaViolation::Crosses4K { write, addr, len })
        } else {
            None
        };
        match v {
            Some(v) => {
                self.violation(v);
                true
            }
            None => false,
        }
    }

    /// Completes this cycle's handshakes with what the master drove (`m`).
    pub fn update(&mut self, now: u64, m: &AxiMasterSignals) {
        let d = self.drv;
        if m.arvalid && d.arready {
            let bad = self.check(false, m.araddr, m.arlen, m.arsize, m.arburst);
            self.counters.read_bursts += 1;
            self.reads.push_back(Burst {
                addr: m.araddr,
                len: m.arlen,
                next: 0,
                ready_at: now + 1 + self.cfg.read_latency as u64,
                bad,
                faulted: false,
            });
        }
        if d.rvalid && m.rready {
            self.counters.read_beats += 1;
            self.drv.rvalid = false;
            self.drv.rlast = false;
            if d.rlast {
                self.reads.pop_front();
            } else if let Some(b) = self.reads.front_mut() {
                b.next += 1;
            }
        }
        if m.awvalid && d.awready {
            let bad = self.check(true, m.awaddr, m.awlen, m.awsize, m.awburst);
            self.counters.write_bursts += 1;
            self.writes.push_back(Burst {
                addr: m.awaddr,
                len: m.awlen,
                next: 0,
                ready_at: 0,
                bad,
                faulted: false,
            });
        }
        if m.wvalid && d.wready {
            self.write_beat(now, m);
        }
        if d.bvalid && m.bready {
            self.bq.pop_front();
            self.drv.bvalid = false;
        }
    }

    fn write_beat(&mut self, now: u64, m: &AxiMasterSignals) {
        if self.counters.write_beats == 0 {
            self.counters.first_write_cycle = now;
        }
        self.counters.last_write_cycle = now;
        self.counters.write_beats += 1;
        let Some(b) = self.writes.front() else { return };
        let (addr, len, next) = (b.addr, b.len, b.next);
        let is_last = next == len as u16;
        if m.wlast != is_last {
            self.violation(DmaViolation::Wlast {
                addr,
                beat: next,
                len,
            });
            if let Some(b) = self.writes.front_mut() {
                b.bad = true;
            }
        }
        let beat_addr = (addr & !7) + 8 * next as u64;
        let (bad, faulted) = self
            .writes
            .front()
            .map_or((true, false), |b| (b.bad, b.faulted));
        if !bad && !faulted && m.wstrb != 0 {
            let bytes = m.wdata.to_le_bytes();
            let mut ok = true;
            // Write each run of consecutive strobed lanes as one access.
            let mut lane = 0;
            while lane < 8 {
                if m.wstrb & (1 << lane) == 0 {
                    lane += 1;
                    continue;
                }
                let start = lane;
                while lane < 8 && m.wstrb & (1 << lane) != 0 {
                    lane += 1;
                }
                let written = self
                    .mem
                    .as_ref()
                    .is_some_and(|mem| mem.write(beat_addr + start as u64, &bytes[start..lane]));
                if written {
                    self.counters.write_bytes += (lane - start) as u64;
                } else {
                    ok = false;
                    break;
                }
            }
            if !ok {
                self.fault(beat_addr);
                if let Some(b) = self.writes.front_mut() {
                    b.faulted = true;
                }
            }
        }
        // A burst ends on wlast (or on its last beat if the master forgot wlast).
        if m.wlast || is_last {
            let (bad, faulted) = self
                .writes
                .front()
                .map_or((true, false), |b| (b.bad, b.faulted));
            self.writes.pop_front();
            let r = if bad || faulted || self.inject(|e| e.write_resp) {
                resp::SLVERR
            } else {
                resp::OKAY
            };
            self.bq
                .push_back((now + 1 + self.cfg.write_latency as u64, r));
        } else if let Some(b) = self.writes.front_mut() {
            b.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal AXI4 master in Rust: issues queued bursts through the
    /// signals, with optional seeded `rready`/`bready` back-pressure.
    /// A queued write burst: address, len, (data, strobe) per beat.
    type WriteReq = (u64, u8, Vec<(u64, u8)>);

    struct Master {
        ar: VecDeque<(u64, u8)>,
        aw: VecDeque<WriteReq>,
        w: VecDeque<(u64, u8, bool)>,
        sig: AxiMasterSignals,
        rng: SmallRng,
        ready_p: f64,
        rbeats: Vec<(u64, u8, bool)>,
        bresps: Vec<u8>,
    }

    impl Master {
        fn new(seed: u64, ready_p: f64) -> Self {
            Self {
                ar: VecDeque::new(),
                aw: VecDeque::new(),
                w: VecDeque::new(),
                sig: AxiMasterSignals::default(),
                rng: SmallRng::seed_from_u64(seed),
                ready_p,
                rbeats: Vec::new(),
                bresps: Vec::new(),
            }
        }
        fn read(&mut self, addr: u64, beats: usize) {
            self.ar.push_back((addr, (beats - 1) as u8));
        }
        fn write(&mut self, addr: u64, data: &[u64], strb: &[u8]) {
            let beats = data
                .iter()
                .copied()
                .zip(strb.iter().copied())
                .collect::<Vec<_>>();
            self.aw.push_back((addr, (beats.len() - 1) as u8, beats));
        }
        fn drive(&mut self) -> AxiMasterSignals {
            let s = &mut self.sig;
            if !s.arvalid {
                if let Some((a, l)) = self.ar.pop_front() {
                    (s.araddr, s.arlen, s.arsize, s.arburst, s.arvalid) =
                        (a, l, SIZE_8, BURST_INCR, true);
                }
            }
            if !s.awvalid {
                if let Some((a, l, beats)) = self.aw.pop_front() {
                    (s.awaddr, s.awlen, s.awsize, s.awburst, s.awvalid) =
                        (a, l, SIZE_8, BURST_INCR, true);
                    let n = beats.len();
                    for (i, (d, st)) in beats.into_iter().enumerate() {
                        self.w.push_back((d, st, i + 1 == n));
                    }
                }
            }
            if !s.wvalid {
                if let Some((d, st, last)) = self.w.pop_front() {
                    (s.wdata, s.wstrb, s.wlast, s.wvalid) = (d, st, last, true);
                }
            }
            s.rready = self.ready_p >= 1.0 || self.rng.gen_bool(self.ready_p);
            s.bready = self.ready_p >= 1.0 || self.rng.gen_bool(self.ready_p);
            *s
        }
        fn update(&mut self, d: &AxiSlaveSignals) {
            let s = &mut self.sig;
            if s.arvalid && d.arready {
                s.arvalid = false;
            }
            if s.awvalid && d.awready {
                s.awvalid = false;
            }
            if s.wvalid && d.wready {
                s.wvalid = false;
            }
            if s.rready && d.rvalid {
                self.rbeats.push((d.rdata, d.rresp, d.rlast));
            }
            if s.bready && d.bvalid {
                self.bresps.push(d.bresp);
            }
        }
        fn busy(&self) -> bool {
            !self.ar.is_empty()
                || !self.aw.is_empty()
                || !self.w.is_empty()
                || self.sig.arvalid
                || self.sig.awvalid
                || self.sig.wvalid
        }
    }

    /// Clocks master and slave together; checks the valid-stays-up rule on
    /// the slave's R and B channels every cycle.
    fn run(m: &mut Master, s: &mut AxiDmaSlave, until_quiet: bool, max: u64) -> u64 {
        let mut prev: Option<(AxiSlaveSignals, AxiMasterSignals)> = None;
        for now in 0..max {
            let ms = m.drive();
            let ss = s.drive(now);
            if let Some((pd, pm)) = prev {
                if pd.rvalid && !pm.rready {
                    assert!(
                        ss.rvalid && ss.rdata == pd.rdata && ss.rlast == pd.rlast,
                        "rvalid dropped or data changed before rready at cycle {now}"
                    );
                }
                if pd.bvalid && !pm.bready {
                    assert!(
                        ss.bvalid && ss.bresp == pd.bresp,
                        "bvalid dropped before bready at cycle {now}"
                    );
                }
            }
            s.update(now, &ms);
            m.update(&ss);
            prev = Some((ss, ms));
            if until_quiet && !m.busy() && s.is_quiet() {
                return now;
            }
        }
        max
    }

    fn beats_to_bytes(beats: &[(u64, u8, bool)]) -> Vec<u8> {
        beats.iter().flat_map(|b| b.0.to_le_bytes()).collect()
    }

    #[test]
    fn write_then_read_round_trip_through_the_signals() {
        for (seed, stall) in [
            (1u64, None),
            (
                7,
                Some(DmaStall {
                    seed: 99,
                    ar: 0.3,
                    r_gap: 0.4,
                    aw: 0.3,
                    w: 0.5,
                }),
            ),
        ] {
            let mem = Arc::new(VecMemory::new(0x10_0000, 8192));
            let mut s = AxiDmaSlave::new(DmaConfig {
                stall,
                ..Default::default()
            });
            s.attach(mem.clone());
            let mut m = Master::new(seed, if stall.is_some() { 0.6 } else { 1.0 });
            let data: Vec<u64> = (0..512u64)
                .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .collect();
            // 4 KiB as 16 bursts of 32 beats.
            for (i, chunk) in data.chunks(32).enumerate() {
                m.write(0x10_0000 + i as u64 * 256, chunk, &[0xff; 32]);
            }
            run(&mut m, &mut s, true, 100_000);
            assert_eq!(m.bresps, vec![resp::OKAY; 16]);
            let want: Vec<u8> = data.iter().flat_map(|d| d.to_le_bytes()).collect();
            assert_eq!(mem.get(0x10_0000, 4096).unwrap(), want);
            for i in 0..16 {
                m.read(0x10_0000 + i * 256, 32);
            }
            run(&mut m, &mut s, true, 100_000);
            assert_eq!(m.rbeats.len(), 512);
            assert_eq!(beats_to_bytes(&m.rbeats), want);
            assert!(m.rbeats.iter().all(|b| b.1 == resp::OKAY));
            let lasts: Vec<usize> = m
                .rbeats
                .iter()
                .enumerate()
                .filter(|(_, b)| b.2)
                .map(|(i, _)| i)
                .collect();
            assert_eq!(
                lasts,
                (0..16).map(|i| i * 32 + 31).collect::<Vec<_>>(),
                "rlast on each burst's last beat"
            );
            let c = s.counters();
            assert_eq!(
                (
                    c.read_bursts,
                    c.read_beats,
                    c.write_bursts,
                    c.write_beats,
                    c.write_bytes
                ),
                (16, 512, 16, 512, 4096)
            );
            assert_eq!((c.faults, c.protocol_violations), (0, 0));
        }
    }

    #[test]
    fn wstrb_writes_only_strobed_lanes() {
        let mem = Arc::new(VecMemory::new(0, 64));
        mem.write(0, &[0xaa; 64]);
        let mut s = AxiDmaSlave::new(DmaConfig::default());
        s.attach(mem.clone());
        let mut m = Master::new(0, 1.0);
        m.write(
            8,
            &[0x1122_3344_5566_7788, 0x99aa_bbcc_ddee_ff00],
            &[0b1111_0000, 0b0000_0101],
        );
        run(&mut m, &mut s, true, 1000);
        let got = mem.get(8, 16).unwrap();
        assert_eq!(
            got,
            [
                0xaa, 0xaa, 0xaa, 0xaa, 0x44, 0x33, 0x22, 0x11, 0x00, 0xaa, 0xee, 0xaa, 0xaa, 0xaa,
                0xaa, 0xaa
            ]
        );
        assert_eq!(s.counters().write_bytes, 6);
    }

    #[test]
    fn unmapped_address_is_slverr_and_counted() {
        let mem = Arc::new(VecMemory::new(0x1000, 4096));
        let mut s = AxiDmaSlave::new(DmaConfig::default());
        s.attach(mem.clone());
        let mut m = Master::new(0, 1.0);
        m.read(0x9000, 4);
        m.write(0x9000, &[1, 2], &[0xff, 0xff]);
        m.read(0x1000, 2);
        run(&mut m, &mut s, true, 1000);
        assert_eq!(
            m.rbeats.len(),
            6,
            "a faulting burst still delivers every beat"
        );
        assert!(m.rbeats[..4].iter().all(|b| b.1 == resp::SLVERR));
        assert!(m.rbeats[3].2, "rlast still on the last beat");
        assert!(m.rbeats[4..].iter().all(|b| b.1 == resp::OKAY));
        assert_eq!(m.bresps, vec![resp::SLVERR]);
        let c = s.counters();
        assert_eq!(c.faults, 2);
        assert_eq!(c.last_fault_iova, 0x9000);
        // No memory attached at all: everything faults.
        let mut s = AxiDmaSlave::new(DmaConfig::default());
        let mut m = Master::new(0, 1.0);
        m.read(0, 1);
        run(&mut m, &mut s, true, 1000);
        assert_eq!(m.rbeats, vec![(0, resp::SLVERR, true)]);
    }

    #[test]
    fn burst_crossing_4k_is_a_violation() {
        let mem = Arc::new(VecMemory::new(0, 16384));
        let mut s = AxiDmaSlave::new(DmaConfig::default());
        s.attach(mem.clone());
        let mut m = Master::new(0, 1.0);
        m.read(0x0f80, 16); // ends exactly at 0x1000: legal
        m.read(0x0f88, 16); // one beat into the next page
        run(&mut m, &mut s, true, 1000);
        m.write(0x1ff8, &[7, 7], &[0xff, 0xff]);
        run(&mut m, &mut s, true, 1000);
        assert!(m.rbeats[..16].iter().all(|b| b.1 == resp::OKAY));
        assert!(m.rbeats[16..].iter().all(|b| b.1 == resp::SLVERR));
        assert_eq!(m.bresps, vec![resp::SLVERR]);
        assert_eq!(
            mem.get(0x1ff8, 16).unwrap(),
            vec![0; 16],
            "a bad burst writes nothing"
        );
        let c = s.counters();
        assert_eq!(c.protocol_violations, 2);
        assert_eq!(
            c.first_violation,
            Some(DmaViolation::Crosses4K {
                write: false,
                addr: 0x0f88,
                len: 15
            })
        );
        assert_eq!(c.faults, 0);
        assert!(
            crosses_4k(0xff8, 1)
                && !crosses_4k(0xff8, 0)
                && !crosses_4k(0x800, 255)
                && crosses_4k(0x808, 255)
        );
    }

    #[test]
    fn reads_are_in_order_with_latency_and_several_outstanding() {
        let mem = Arc::new(VecMemory::new(0, 4096));
        for i in 0..512u64 {
            mem.write(i * 8, &i.to_le_bytes());
        }
        let lat = 40;
        let mut s = AxiDmaSlave::new(DmaConfig {
            read_latency: lat,
            max_reads: 4,
            ..Default::default()
        });
        s.attach(mem.clone());
        let mut m = Master::new(0, 1.0);
        for i in 0..6 {
            m.read(i * 64, 8);
        }
        // Cycle of the first R beat.
        let mut first = None;
        let mut max_outstanding = 0;
        for now in 0..2000 {
            let ms = m.drive();
            let ss = s.drive(now);
            if ss.rvalid && first.is_none() {
                first = Some(now);
            }
            s.update(now, &ms);
            m.update(&ss);
            max_outstanding = max_outstanding.max(s.reads.len());
        }
        assert!(first.unwrap() > lat as u64, "first beat after the latency");
        assert_eq!(
            max_outstanding, 4,
            "bounded by max_reads, and more than one outstanding"
        );
        let got: Vec<u64> = m.rbeats.iter().map(|b| b.0).collect();
        assert_eq!(got, (0..48).collect::<Vec<u64>>());
    }

    #[test]
    fn wrong_wlast_is_a_violation() {
        let mem = Arc::new(VecMemory::new(0, 4096));
        let mut s = AxiDmaSlave::new(DmaConfig::default());
        s.attach(mem);
        let mut m = Master::new(0, 1.0);
        m.write(0, &[1, 2, 3], &[0xff; 3]);
        // Corrupt: clear wlast on the last beat and set it on the first.
        m.drive();
        for b in m.w.iter_mut() {
            b.2 = false;
        }
        m.sig.wlast = true;
        for now in 0..100 {
            let ms = m.drive();
            let ss = s.drive(now);
            s.update(now, &ms);
            m.update(&ss);
        }
        assert!(s.counters().protocol_violations >= 1);
        assert!(matches!(
            s.counters().first_violation,
            Some(DmaViolation::Wlast { beat: 0, .. })
        ));
    }
}
