//! The co-simulation world: every NIC model and every bus, DMA, MAC and wire
//! model, clocked together; callers talk to it through [`SimNic`] handles.
//! Free-running, a clock thread owns it; in lockstep, the host thread that
//! waits clocks it.
//!
//! Per cycle, for each NIC: the models drive its inputs, the model is
//! evaluated with the clock low, its outputs are sampled (these are what the
//! rising edge sees, so handshakes are computed from them and from what we
//! drove), the clock rises and is evaluated, and the models update. Frames
//! completed on TX go through the wire after every NIC stepped.
//!
//! When every NIC reports `idle`, no register access is queued or running,
//! DMA is quiet, no frame is on a wire and nobody asked for cycles to pass,
//! for `idle_grace_cycles` in a row, the world is quiet: a free-running
//! clock thread sleeps on a condvar instead of spinning (any request wakes
//! it; simulated time does not pass while it sleeps), and a lockstep world
//! jumps to the next deadline.
//!
//! Two ways to clock ([`SimConfig::lockstep`]):
//!
//! - **Free-running**: the clock thread steps whenever it has work, while the
//!   host computes too; a request takes effect at whatever cycle the clock
//!   reached when it noticed it. Needed where a real-time peer is attached
//!   (a Linux TAP): the world must keep up with wall time.
//! - **Lockstep** (deterministic): the host lives in simulated time. There is
//!   no clock thread: the host thread that waits on the simulation (a register
//!   access, "an interrupt or cycle T", "run N cycles") clocks the world
//!   itself until its answer is there, so the clock stands still while the
//!   host computes and every request takes effect at the cycle the host's
//!   previous wait ended, with no thread hand-off per access. When the world
//!   is quiet, the clock jumps to the earliest deadline instead of stepping
//!   idle cycles. The same inputs and seed then give the same cycles, wire
//!   bytes, timestamps and counters on every run, however fast the machine
//!   is. One host thread drives a lockstep simulation: a second one would
//!   wait for the first one's whole wait, and the order of their requests
//!   would depend on the scheduler.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::axil::{AxilCounters, AxilMaster, RegOp};
use crate::bind;
use crate::dma::{AxiDmaSlave, DmaConfig, DmaCounters, DmaMemory};
use crate::mac::{FramePool, MacConfig, MacCounters, RxSource, TxSink};
use crate::model::{NicIn, NicModel, NicOut};
use crate::time::{self, CYCLE_PS};
use crate::wire::{Cable, Endpoint, External, Loopback, Wire, WireCounters};
use crate::{Frame, SimError};

/// Capture a VCD waveform of one NIC for cycles `start_cycle..end_cycle` only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcdWindow {
    /// The VCD file (created when the simulation starts, filled in the window).
    pub path: PathBuf,
    /// First cycle traced.
    pub start_cycle: u64,
    /// First cycle no longer traced (the file is closed then).
    pub end_cycle: u64,
    /// Which NIC's model to trace.
    pub nic: usize,
}

/// How to build a simulation.
pub struct SimConfig {
    /// The wire; it also says how many NICs there are.
    pub wire: Box<dyn Wire>,
    /// DMA model behaviour (same for every NIC).
    pub dma: DmaConfig,
    /// MAC model behaviour (same for every NIC).
    pub mac: MacConfig,
    /// Cycles `reset` is held high at start.
    pub reset_cycles: u32,
    /// A register access not answered in this many cycles fails with [`SimError::RegTimeout`].
    pub reg_timeout_cycles: u64,
    /// Quiet cycles in a row before the world counts as quiet: the clock thread sleeps, or in
    /// lockstep time jumps (lets the RTL's `idle` settle after the last handshake).
    pub idle_grace_cycles: u32,
    /// Sleep when quiet (turn off only to measure raw speed). Free-running only: in lockstep
    /// the host's waits decide how far the clock goes.
    pub sleep_when_idle: bool,
    /// Deterministic: the clock advances only while the host waits on the simulation, and
    /// jumps over quiet time to the host's next deadline (see the module's doc). Off where
    /// the world must follow wall time (a Linux peer on a TAP).
    pub lockstep: bool,
    /// Optional waveform window.
    pub vcd: Option<VcdWindow>,
}

impl SimConfig {
    /// Defaults around `wire`.
    pub fn new(wire: impl Wire + 'static) -> Self {
        Self {
            wire: Box::new(wire),
            dma: DmaConfig::default(),
            mac: MacConfig::default(),
            reset_cycles: 8,
            reg_timeout_cycles: 10_000,
            idle_grace_cycles: 16,
            sleep_when_idle: true,
            lockstep: false,
            vcd: None,
        }
    }
    /// One NIC whose TX is looped into its RX.
    pub fn loopback() -> Self {
        Self::new(Loopback::new())
    }
    /// Two NICs joined by a cable.
    pub fn cable() -> Self {
        Self::new(Cable::new())
    }
    /// `nics` NICs whose wires end at the caller.
    pub fn external(nics: usize) -> Self {
        Self::new(External::new(nics))
    }
    /// Deterministic clocking ([`SimConfig::lockstep`]).
    pub fn with_lockstep(mut self) -> Self {
        self.lockstep = true;
        self
    }
    /// With a VCD window.
    pub fn with_vcd(mut self, w: VcdWindow) -> Self {
        self.vcd = Some(w);
        self
    }
}

/// Counters of one NIC's surroundings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NicStats {
    /// Register accesses.
    pub regs: AxilCounters,
    /// DMA traffic.
    pub dma: DmaCounters,
    /// MAC traffic.
    pub mac: MacCounters,
    /// The interrupt lines now (bit `q`: queue pair `q`'s line).
    pub irq: u8,
    /// The `idle` line now.
    pub idle: bool,
}

/// Where the simulation stands.
#[derive(Clone, Debug, Default)]
pub struct SimStats {
    /// Cycles simulated (simulated time, including cycles jumped over).
    pub cycles: u64,
    /// Of those, cycles jumped over while the world was quiet (lockstep only): not evaluated.
    pub skipped: u64,
    /// Simulated nanoseconds (cycles × 6.4).
    pub sim_ns: u64,
    /// Wall time since start.
    pub wall: Duration,
    /// Wall time spent clocking: the clock thread awake (free-running), or host threads inside
    /// their waits (lockstep).
    pub awake: Duration,
    /// Cycles evaluated per second of awake wall time (skipped cycles not counted).
    pub cycles_per_sec: f64,
    /// Times the clock thread went to sleep (free-running; 0 in lockstep).
    pub sleeps: u64,
    /// Per NIC.
    pub nics: Vec<NicStats>,
    /// The wire (and its wrappers).
    pub wire: WireCounters,
}

impl std::fmt::Display for SimStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cycles ({:.3} ms simulated, {} jumped over) in {:.3} s wall ({:.3} s awake, {} sleeps): {:.2} Mcycles/s",
            self.cycles,
            self.sim_ns as f64 / 1e6,
            self.skipped,
            self.wall.as_secs_f64(),
            self.awake.as_secs_f64(),
            self.sleeps,
            self.cycles_per_sec / 1e6
        )?;
        for (i, n) in self.nics.iter().enumerate() {
            write!(
                f,
                "\n  nic{i}: regs r{}/w{} ({} timeouts); dma rd {} bursts/{} beats, wr {} bursts/{} B, {} faults, {} violations; \
                 tx {} frames/{} B, rx {} frames/{} B ({} stall cycles)",
                n.regs.reads,
                n.regs.writes,
                n.regs.timeouts,
                n.dma.read_bursts,
                n.dma.read_beats,
                n.dma.write_bursts,
                n.dma.write_bytes,
                n.dma.faults,
                n.dma.protocol_violations,
                n.mac.tx_frames,
                n.mac.tx_bytes,
                n.mac.rx_frames,
                n.mac.rx_bytes,
                n.mac.rx_stall_cycles
            )?;
        }
        let w = &self.wire;
        write!(
            f,
            "\n  wire: {} frames/{} B, {} dropped, {} corrupted, {} truncated, {} in pcap",
            w.frames, w.bytes, w.dropped, w.corrupted, w.truncated, w.pcap_frames
        )
    }
}

type Reply<T> = mpsc::Sender<Result<T, SimError>>;

enum Request {
    Reg {
        nic: usize,
        op: RegOp,
        reply: Reply<u32>,
    },
    Attach {
        nic: usize,
        mem: Arc<dyn DmaMemory>,
    },
    Inject {
        nic: usize,
        frame: Frame,
    },
    /// Blocks the caller until `cond` holds or `cycles` more cycles passed.
    Wait {
        cond: WaitCond,
        cycles: u64,
        reply: mpsc::Sender<WaitEnd>,
    },
    Stats {
        reply: mpsc::Sender<SimStats>,
    },
}

/// What a host waits for in simulated time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WaitCond {
    /// Only the cycles to pass.
    Cycles,
    /// One of NIC `nic`'s interrupt lines in `mask` high.
    Irq { nic: usize, mask: u8 },
    /// A frame NIC `nic` sent waiting for the caller (External wire).
    Tx { nic: usize },
}

/// How a wait ended: whether its condition held, and the cycle.
#[derive(Clone, Copy, Debug)]
struct WaitEnd {
    met: bool,
    cycle: u64,
}

struct Waiter {
    until: u64,
    cond: WaitCond,
    reply: mpsc::Sender<WaitEnd>,
}

struct Inbox {
    reqs: Vec<Request>,
    shutdown: bool,
}

struct NicShared {
    irq: AtomicU8,
    tx: Mutex<Vec<Frame>>,
}

/// What callers and the clock thread (or, in lockstep, the world's lock) share.
struct Shared {
    inbox: Mutex<Inbox>,
    wake: Condvar,
    /// Set (under the inbox lock) when the inbox has something; the clock
    /// thread checks it every cycle without locking.
    pending: AtomicBool,
    cycles: AtomicU64,
    /// irq edges and TX frames for the caller.
    events: Mutex<()>,
    event_cv: Condvar,
    nics: Vec<NicShared>,
    external: bool,
    lockstep: bool,
    /// Lockstep: the world itself, clocked by whichever host thread waits on it (there is no
    /// clock thread). Taken out when the [`Sim`] is dropped.
    world: Mutex<Option<World>>,
    stopped: AtomicBool,
    stop_reason: Mutex<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere leaves the data consistent for our uses (queues, unit).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn submit(&self, r: Request) -> Result<(), SimError> {
        let mut ib = lock(&self.inbox);
        if ib.shutdown || self.stopped.load(Ordering::Acquire) {
            return Err(self.stopped_error());
        }
        ib.reqs.push(r);
        self.pending.store(true, Ordering::Release);
        drop(ib);
        self.wake.notify_one();
        Ok(())
    }

    fn stopped_error(&self) -> SimError {
        let why = lock(&self.stop_reason).clone();
        SimError::Stopped(if why.is_empty() {
            "the Sim was dropped".into()
        } else {
            why
        })
    }

    /// Blocks until `cond` holds or `cycles` cycles passed (simulated time).
    fn wait_sim(&self, cond: WaitCond, cycles: u64) -> Result<WaitEnd, SimError> {
        let (tx, rx) = mpsc::channel();
        self.request(Request::Wait { cond, cycles, reply: tx }, rx)
    }

    /// A request whose answer comes on `rx`: handed to the clock thread (free-running), or
    /// served by this thread, which clocks the world until the answer is there (lockstep).
    fn request<T>(&self, req: Request, rx: mpsc::Receiver<T>) -> Result<T, SimError> {
        if self.lockstep {
            let mut w = self.lockstep_world()?;
            let w = w.as_mut().ok_or_else(|| self.stopped_error())?;
            return w.serve(req, &rx);
        }
        self.submit(req)?;
        rx.recv().map_err(|_| self.stopped_error())
    }

    /// The lockstep world, unless a thread panicked while clocking it: it may be half a cycle
    /// on, so the simulation stops (every later request says why) rather than go on from there.
    fn lockstep_world(&self) -> Result<MutexGuard<'_, Option<World>>, SimError> {
        self.world.lock().map_err(|_| {
            *lock(&self.stop_reason) =
                "a thread panicked while clocking the simulation (lockstep); its message is on stderr".into();
            self.stopped.store(true, Ordering::Release);
            self.stopped_error()
        })
    }

    /// A request nobody waits for (attach memory, inject a frame): applied at the current
    /// cycle in lockstep, queued for the clock thread otherwise.
    fn post(&self, req: Request) -> Result<(), SimError> {
        if self.lockstep {
            let mut w = self.lockstep_world()?;
            w.as_mut().ok_or_else(|| self.stopped_error())?.apply(req);
            return Ok(());
        }
        self.submit(req)
    }

    fn notify_events(&self) {
        let _g = lock(&self.events);
        self.event_cv.notify_all();
    }

    /// Waits until `ready()` or `timeout`; `Ok(false)` on timeout.
    fn wait_event(&self, timeout: Duration, ready: impl Fn() -> bool) -> Result<bool, SimError> {
        let deadline = Instant::now() + timeout;
        let mut g = lock(&self.events);
        loop {
            if ready() {
                return Ok(true);
            }
            if self.stopped.load(Ordering::Acquire) {
                return Err(self.stopped_error());
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            g = self
                .event_cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A running co-simulation. Dropping it stops the clock thread (free-running), or takes the
/// world away (lockstep); either way the capture and the waveform are written out, and the
/// handles still around answer [`SimError::Stopped`].
pub struct Sim {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A handle on one simulated NIC: registers, DMA memory, interrupts, and
/// (on an `External` wire) frames. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct SimNic {
    shared: Arc<Shared>,
    index: usize,
}

impl Sim {
    /// Builds the models and starts clocking them: in a new clock thread (free-running), or
    /// whenever a host thread waits (lockstep).
    pub fn start(cfg: SimConfig) -> Result<Sim, SimError> {
        let n = cfg.wire.nics();
        if n == 0 {
            return Err(SimError::Config("the wire connects no NIC".into()));
        }
        if let Some(w) = &cfg.vcd {
            if w.nic >= n {
                return Err(SimError::Config(format!(
                    "VCD window on NIC {} but the wire has {n}",
                    w.nic
                )));
            }
            if w.end_cycle <= w.start_cycle {
                return Err(SimError::Config("VCD window ends before it starts".into()));
            }
            // Fail now, not in the window, if the file cannot be written.
            std::fs::File::create(&w.path).map_err(|source| SimError::Io {
                what: "VCD window",
                source,
            })?;
        }
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox {
                reqs: Vec::with_capacity(64),
                shutdown: false,
            }),
            wake: Condvar::new(),
            pending: AtomicBool::new(false),
            cycles: AtomicU64::new(0),
            events: Mutex::new(()),
            event_cv: Condvar::new(),
            nics: (0..n)
                .map(|_| NicShared {
                    irq: AtomicU8::new(0),
                    tx: Mutex::new(Vec::new()),
                })
                .collect(),
            external: cfg.wire.is_external(),
            lockstep: cfg.lockstep,
            world: Mutex::new(None),
            stopped: AtomicBool::new(false),
            stop_reason: Mutex::new(String::new()),
        });
        if cfg.lockstep {
            let world = World::new(cfg, shared.clone());
            *lock(&shared.world) = Some(world);
            return Ok(Sim { shared, thread: None });
        }
        let (ready_tx, ready_rx) = mpsc::channel();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("nic-sim-clock".into())
            .spawn(move || {
                let _guard = StopGuard(sh.clone());
                let mut world = World::new(cfg, sh);
                let _ = ready_tx.send(());
                world.run();
            })
            .map_err(|e| SimError::Stopped(format!("cannot spawn the clock thread: {e}")))?;
        if ready_rx.recv().is_err() {
            let _ = thread.join();
            return Err(shared.stopped_error());
        }
        Ok(Sim {
            shared,
            thread: Some(thread),
        })
    }

    /// Number of NICs.
    pub fn nics(&self) -> usize {
        self.shared.nics.len()
    }

    /// Handle on NIC `i`.
    ///
    /// # Panics
    /// If `i >= self.nics()` (a programming error: the wire fixes the count).
    pub fn nic(&self, i: usize) -> SimNic {
        assert!(
            i < self.nics(),
            "NIC {i} does not exist: this simulation has {}",
            self.nics()
        );
        SimNic {
            shared: self.shared.clone(),
            index: i,
        }
    }

    /// Cycles simulated so far.
    pub fn cycles(&self) -> u64 {
        self.shared.cycles.load(Ordering::Relaxed)
    }

    /// Whether the host lives in simulated time ([`SimConfig::lockstep`]).
    pub fn is_lockstep(&self) -> bool {
        self.shared.lockstep
    }

    /// Lets at least `n` more cycles pass even if everything is idle (in lockstep, quiet
    /// cycles are jumped over); returns the cycle count then.
    pub fn run_cycles(&self, n: u64) -> Result<u64, SimError> {
        run_cycles(&self.shared, n)
    }

    /// Counters and speed.
    pub fn stats(&self) -> Result<SimStats, SimError> {
        self.nic(0).sim_stats()
    }
}

fn run_cycles(shared: &Shared, n: u64) -> Result<u64, SimError> {
    shared.wait_sim(WaitCond::Cycles, n).map(|e| e.cycle)
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(mut world) = lock(&self.shared.world).take() {
            // Lockstep: no thread to stop; write out the capture and the waveform.
            self.shared.stopped.store(true, Ordering::Release);
            world.finish();
            return;
        }
        {
            let mut ib = lock(&self.shared.inbox);
            ib.shutdown = true;
            self.shared.pending.store(true, Ordering::Release);
        }
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl SimNic {
    /// Which NIC this is.
    pub fn index(&self) -> usize {
        self.index
    }

    fn reg(&self, op: RegOp, off: u32) -> Result<u32, SimError> {
        if !nic_abi::regs::is_reg_offset(off) {
            return Err(SimError::BadOffset(off));
        }
        let (tx, rx) = mpsc::channel();
        let req = Request::Reg {
            nic: self.index,
            op,
            reply: tx,
        };
        self.shared.request(req, rx)?
    }

    /// Reads the 32-bit register at byte offset `off` (an AXI4-Lite read on the model).
    pub fn read32(&self, off: u32) -> Result<u32, SimError> {
        self.reg(RegOp::Read { off }, off)
    }

    /// Writes the 32-bit register at byte offset `off`; returns after the B response.
    pub fn write32(&self, off: u32, val: u32) -> Result<(), SimError> {
        self.reg(RegOp::Write { off, val }, off).map(|_| ())
    }

    /// Serves this NIC's DMA from `mem` (ordered with register accesses
    /// submitted after it).
    pub fn attach_memory(&self, mem: Arc<dyn DmaMemory>) -> Result<(), SimError> {
        self.shared.post(Request::Attach {
            nic: self.index,
            mem,
        })
    }

    /// Whether any interrupt line is high now.
    pub fn irq(&self) -> bool {
        self.irq_lines() != 0
    }

    /// The interrupt lines now: bit `q` is queue pair `q`'s line (an MSI-X vector on a board).
    pub fn irq_lines(&self) -> u8 {
        self.shared.nics[self.index].irq.load(Ordering::Acquire)
    }

    /// Waits until any interrupt line is high: `Ok(true)`, or `Ok(false)` on timeout (wall
    /// time, or simulated time in lockstep).
    pub fn wait_irq(&self, timeout: Duration) -> Result<bool, SimError> {
        self.wait_irq_lines(u8::MAX, timeout)
    }

    /// Waits until one of the interrupt lines in `mask` is high: `Ok(true)`, or `Ok(false)`
    /// on timeout (wall time, or simulated time in lockstep). One waiter per queue pair, each
    /// on its own line, as a driver's per-queue interrupt handlers wait on their own MSI-X
    /// vectors.
    pub fn wait_irq_lines(&self, mask: u8, timeout: Duration) -> Result<bool, SimError> {
        if self.shared.lockstep {
            let cond = WaitCond::Irq { nic: self.index, mask };
            return self.shared.wait_sim(cond, time::duration_to_cycles(timeout)).map(|e| e.met);
        }
        let irq = &self.shared.nics[self.index].irq;
        self.shared.wait_event(timeout, || irq.load(Ordering::Acquire) & mask != 0)
    }

    /// Whether this NIC's wire ends at the caller (`inject`/`take_tx` work):
    /// lets a bridge refuse to start instead of failing on its first frame.
    pub fn is_external(&self) -> bool {
        self.shared.external
    }

    /// Sends `frame` into this NIC's MAC receive port (External wire only);
    /// `errored` marks it bad (`tuser` on its last beat).
    pub fn inject(&self, frame: &[u8], errored: bool) -> Result<(), SimError> {
        if !self.shared.external {
            return Err(SimError::NotExternal);
        }
        let frame = Frame {
            data: frame.to_vec(),
            errored,
            cycle: 0,
        };
        self.shared.post(Request::Inject {
            nic: self.index,
            frame,
        })
    }

    /// Frames this NIC transmitted since the last call (External wire only; empty otherwise).
    pub fn take_tx(&self) -> Vec<Frame> {
        std::mem::take(&mut *lock(&self.shared.nics[self.index].tx))
    }

    /// Waits until this NIC transmitted a frame, then takes them all (empty on timeout; wall
    /// time, or simulated time in lockstep).
    pub fn wait_tx(&self, timeout: Duration) -> Result<Vec<Frame>, SimError> {
        if self.shared.lockstep {
            let cond = WaitCond::Tx { nic: self.index };
            self.shared.wait_sim(cond, time::duration_to_cycles(timeout))?;
        } else {
            let q = &self.shared.nics[self.index].tx;
            self.shared.wait_event(timeout, || !lock(q).is_empty())?;
        }
        Ok(self.take_tx())
    }

    /// Cycles simulated so far.
    pub fn cycles(&self) -> u64 {
        self.shared.cycles.load(Ordering::Relaxed)
    }

    /// The simulation's counters and speed (as [`Sim::stats`]), from any handle: for a control
    /// socket that reports what the wire did.
    pub fn sim_stats(&self) -> Result<SimStats, SimError> {
        let (tx, rx) = mpsc::channel();
        self.shared.request(Request::Stats { reply: tx }, rx)
    }

    /// Whether the host lives in simulated time ([`SimConfig::lockstep`]): its waits and
    /// pauses are measured in cycles, so it should read "now" from [`SimNic::sim_time`].
    pub fn is_lockstep(&self) -> bool {
        self.shared.lockstep
    }

    /// Simulated time now, in lockstep (`None` when free-running: the host's time is wall time).
    pub fn sim_time(&self) -> Option<Duration> {
        self.shared.lockstep.then(|| time::cycles_to_duration(self.cycles()))
    }

    /// A timeout of `timeout` in the host's time from now, for a host's own give-up rules: see
    /// [`Deadline`].
    pub fn deadline(&self, timeout: Duration) -> Deadline<'_> {
        Deadline { nic: self, cycle0: self.cycles(), wall0: Instant::now(), timeout }
    }

    /// Lets `d` pass in the host's time: simulated cycles in lockstep, a sleep otherwise.
    pub fn pause(&self, d: Duration) -> Result<(), SimError> {
        if self.shared.lockstep {
            self.run_cycles(time::duration_to_cycles(d)).map(|_| ())
        } else {
            std::thread::sleep(d);
            Ok(())
        }
    }

    /// Lets at least `n` more cycles pass; returns the cycle count then.
    pub fn run_cycles(&self, n: u64) -> Result<u64, SimError> {
        run_cycles(&self.shared, n)
    }
}

/// A host's timeout ([`SimNic::deadline`]). In lockstep it is measured in simulated time, so a
/// wait that gives up does so at the same cycle on every run; with a wall-clock net of a minute
/// (or the timeout, if longer), since a NIC that hangs busy is never quiet, never jumped over,
/// and would take hours of stepping to reach it. Free-running, it is wall time.
pub struct Deadline<'a> {
    nic: &'a SimNic,
    cycle0: u64,
    wall0: Instant,
    timeout: Duration,
}

impl Deadline<'_> {
    /// Whether the timeout has passed.
    pub fn expired(&self) -> bool {
        if !self.nic.is_lockstep() {
            return self.wall0.elapsed() >= self.timeout;
        }
        time::cycles_to_duration(self.nic.cycles() - self.cycle0) >= self.timeout
            || self.wall0.elapsed() >= self.timeout.max(Duration::from_secs(60))
    }
}

/// Marks the simulation stopped when the clock thread ends, however it ends.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            *lock(&self.0.stop_reason) =
                "the clock thread panicked; its message is on stderr".into();
        }
        {
            let mut ib = lock(&self.0.inbox);
            self.0.stopped.store(true, Ordering::Release);
            ib.shutdown = true;
            // Dropping queued requests drops their reply senders: waiters see Stopped.
            ib.reqs.clear();
        }
        self.0.notify_events();
    }
}

struct NicSlot {
    model: Model,
    inp: NicIn,
    out: NicOut,
    axil: AxilMaster<Reply<u32>>,
    dma: AxiDmaSlave,
    tx: TxSink,
    rx: RxSource,
    irq: u8,
    idle: bool,
}

/// A Verilated model that may move between threads: the world's clock thread, or in lockstep
/// whichever host thread holds the world's lock.
struct Model(NicModel);

// SAFETY: `NicModel` is not `Send` because it holds a raw pointer to a C++ model. The models are
// single-threaded Verilator builds (no `--threads`), each with a `VerilatedContext` of its own;
// Verilator keeps per-thread state only for what runs inside an `eval()` (its thread-local
// context pointer, set on entry, used by `$display`/`$finish`, neither of which our RTL has), so
// a model may be clocked by one thread and then another as long as no two use it at once. The
// world guarantees that: one clock thread owns it, or the `Shared::world` mutex serialises the
// host threads.
unsafe impl Send for Model {}

impl std::ops::Deref for Model {
    type Target = NicModel;
    fn deref(&self) -> &NicModel {
        &self.0
    }
}

impl std::ops::DerefMut for Model {
    fn deref_mut(&mut self) -> &mut NicModel {
        &mut self.0
    }
}

/// Everything the clock thread owns (free-running), or the host threads in turns (lockstep).
struct World {
    shared: Arc<Shared>,
    nics: Vec<NicSlot>,
    wire: Box<dyn Wire>,
    pool: FramePool,
    tx_done: Vec<(usize, Frame)>,
    /// Register accesses finished this cycle, answered at its end.
    replies: Vec<(Reply<u32>, Result<u32, SimError>)>,
    local: Vec<Request>,
    cycle: u64,
    reset_cycles: u64,
    grace: u32,
    sleep_when_idle: bool,
    quiet_streak: u32,
    run_until: u64,
    waiters: Vec<Waiter>,
    /// The earliest deadline among `waiters` (`u64::MAX`: none).
    next_waiter: u64,
    /// An interrupt line or a frame for the caller changed this cycle: waiters look again.
    event: bool,
    /// Lockstep: no clock thread; host threads clock the world while they wait ([`World::serve`]).
    lockstep: bool,
    /// Cycles jumped over in lockstep.
    skipped: u64,
    vcd: Option<VcdWindow>,
    vcd_open: bool,
    started: Instant,
    awake: Duration,
    awake_since: Instant,
    sleeps: u64,
}

impl World {
    fn new(cfg: SimConfig, shared: Arc<Shared>) -> Self {
        let n = cfg.wire.nics();
        // Only the NIC a VCD window records pays for the build with tracing code.
        let traced = cfg.vcd.as_ref().map(|w| w.nic);
        let nics = (0..n)
            .map(|i| NicSlot {
                model: Model(if traced == Some(i) { NicModel::new_traced() } else { NicModel::new() }),
                inp: NicIn::default(),
                out: NicOut::default(),
                axil: AxilMaster::new(cfg.reg_timeout_cycles),
                dma: AxiDmaSlave::new(cfg.dma),
                tx: TxSink::new(&cfg.mac),
                rx: RxSource::new(&cfg.mac),
                irq: 0,
                idle: false,
            })
            .collect();
        let now = Instant::now();
        Self {
            shared,
            nics,
            wire: cfg.wire,
            pool: FramePool::default(),
            tx_done: Vec::with_capacity(n),
            replies: Vec::with_capacity(n),
            local: Vec::with_capacity(64),
            cycle: 0,
            reset_cycles: cfg.reset_cycles as u64,
            grace: cfg.idle_grace_cycles,
            sleep_when_idle: cfg.sleep_when_idle,
            quiet_streak: 0,
            run_until: 0,
            waiters: Vec::new(),
            next_waiter: u64::MAX,
            event: false,
            lockstep: cfg.lockstep,
            skipped: 0,
            vcd: cfg.vcd,
            vcd_open: false,
            started: now,
            awake: Duration::ZERO,
            awake_since: now,
            sleeps: 0,
        }
    }

    /// The clock thread's loop (free-running).
    fn run(&mut self) {
        loop {
            if self.shared.pending.load(Ordering::Acquire) && self.drain() {
                break;
            }
            if self.sleep_when_idle && self.quiet_streak >= self.grace && self.cycle >= self.run_until {
                if self.release_held() {
                    continue;
                }
                self.sleep();
                continue;
            }
            self.step();
        }
        self.finish();
    }

    /// Writes out what is buffered (pcap, VCD): when the simulation ends.
    fn finish(&mut self) {
        self.wire.flush();
        self.close_vcd();
    }

    /// Frames a wrapper held back (a reordering fault) go on when the world is quiet; `true`
    /// if there were any (the world has work again).
    fn release_held(&mut self) -> bool {
        let mut released = false;
        let (nics, pool, shared) = (&mut self.nics, &mut self.pool, &self.shared);
        self.wire.release(&mut |to, f| {
            released = true;
            deliver(to, f, nics, pool, shared)
        });
        if released {
            self.quiet_streak = 0;
            // A frame released to the caller may end a wait (checked after the next step).
            self.event = true;
        }
        released
    }

    /// Lockstep: the calling host thread applies `req` and clocks the world itself until
    /// `done` has its answer. Simulated time passes only here, while the host waits; when the
    /// world is quiet it jumps to the earliest deadline instead of stepping idle cycles.
    fn serve<T>(&mut self, req: Request, done: &mpsc::Receiver<T>) -> Result<T, SimError> {
        let t0 = Instant::now();
        self.apply(req);
        let r = loop {
            if let Ok(v) = done.try_recv() {
                break Ok(v);
            }
            // A VCD window is stepped through, never jumped over: its waveform is the point.
            let in_window = self.vcd.as_ref().is_some_and(|w| (w.start_cycle..w.end_cycle).contains(&self.cycle));
            if self.quiet_streak >= self.grace.max(1) && !in_window {
                if self.release_held() {
                    continue;
                }
                if self.next_waiter == u64::MAX {
                    // Every wait has a finite deadline (see `apply`): only a request nobody can
                    // answer gets here.
                    break Err(SimError::Stopped(
                        "the host waits on a quiet simulation with no deadline: nothing can ever answer it".into(),
                    ));
                }
                // Up to the next deadline, or to where a VCD window opens.
                let to = match &self.vcd {
                    Some(w) if self.cycle < w.start_cycle => self.next_waiter.min(w.start_cycle),
                    _ => self.next_waiter,
                };
                self.jump_to(to);
                continue;
            }
            self.step();
        };
        self.awake += t0.elapsed();
        r
    }

    /// Handles queued requests; `true` on shutdown.
    fn drain(&mut self) -> bool {
        let shutdown = {
            let mut ib = lock(&self.shared.inbox);
            std::mem::swap(&mut ib.reqs, &mut self.local);
            self.shared.pending.store(false, Ordering::Release);
            ib.shutdown
        };
        let mut local = std::mem::take(&mut self.local);
        for r in local.drain(..) {
            self.apply(r);
        }
        self.local = local;
        shutdown
    }

    /// Carries out one request at the current cycle.
    fn apply(&mut self, r: Request) {
        match r {
            Request::Reg { nic, op, reply } => {
                self.nics[nic].axil.submit(op, reply);
                self.quiet_streak = 0;
            }
            Request::Attach { nic, mem } => self.nics[nic].dma.attach(mem),
            Request::Inject { nic, mut frame } => {
                frame.cycle = self.cycle;
                route(
                    &mut *self.wire,
                    Endpoint::Host(nic),
                    frame,
                    &mut self.nics,
                    &mut self.pool,
                    &self.shared,
                );
                self.quiet_streak = 0;
            }
            Request::Wait { cond, cycles, reply } => {
                if cycles == 0 || self.cond_met(cond) {
                    let _ = reply.send(WaitEnd { met: self.cond_met(cond), cycle: self.cycle });
                    return;
                }
                // Below u64::MAX, which means "no deadline" in `next_waiter`.
                let until = self.cycle.saturating_add(cycles).min(u64::MAX - 1);
                if cond == WaitCond::Cycles {
                    // Free-running, the clock keeps going for these even when idle.
                    self.run_until = self.run_until.max(until);
                }
                self.next_waiter = self.next_waiter.min(until);
                self.waiters.push(Waiter { until, cond, reply });
            }
            Request::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
        }
    }

    /// Free-running, quiet world: waits for a request without stepping (simulated time
    /// stands still), after writing out the pcap and VCD buffers.
    fn sleep(&mut self) {
        self.wire.flush();
        if self.vcd_open {
            if let Some(w) = &self.vcd {
                self.nics[w.nic].model.trace_flush();
            }
        }
        self.sleeps += 1;
        self.awake += self.awake_since.elapsed();
        let mut ib = lock(&self.shared.inbox);
        while !self.shared.pending.load(Ordering::Acquire) && !ib.shutdown {
            ib = self.shared.wake.wait(ib).unwrap_or_else(|e| e.into_inner());
        }
        drop(ib);
        self.awake_since = Instant::now();
    }

    /// Lockstep, quiet world: moves simulated time to `cycle` without evaluating the models
    /// (nothing in them changes while they are idle) and wakes whoever waited for it.
    fn jump_to(&mut self, cycle: u64) {
        if cycle > self.cycle {
            self.skipped += cycle - self.cycle;
            self.cycle = cycle;
            self.shared.cycles.store(cycle, Ordering::Relaxed);
            // The world is quiet: a good moment to put what the capture holds on disk.
            self.wire.flush();
        }
        self.wake_waiters();
    }

    /// Whether a wait's condition holds now.
    fn cond_met(&self, cond: WaitCond) -> bool {
        match cond {
            WaitCond::Cycles => false,
            WaitCond::Irq { nic, mask } => self.nics.get(nic).is_some_and(|n| n.irq & mask != 0),
            WaitCond::Tx { nic } => self.shared.nics.get(nic).is_some_and(|n| !lock(&n.tx).is_empty()),
        }
    }

    fn open_vcd(&mut self) {
        if let Some(w) = &self.vcd {
            let m = &mut self.nics[w.nic].model;
            if let Err(e) = m.trace_open(&w.path, 99) {
                eprintln!("nic-sim: VCD window {}: {e}", w.path.display());
                self.vcd = None;
                return;
            }
            self.vcd_open = true;
        }
    }

    fn close_vcd(&mut self) {
        if self.vcd_open {
            if let Some(w) = &self.vcd {
                self.nics[w.nic].model.trace_close();
            }
            self.vcd_open = false;
        }
    }

    fn step(&mut self) {
        let now = self.cycle;
        if let Some(w) = &self.vcd {
            // `>=`: a lockstep jump may land inside the window.
            if now >= w.start_cycle && now < w.end_cycle && !self.vcd_open {
                self.open_vcd();
            }
        }
        let in_reset = now < self.reset_cycles;
        let (t_low, t_high) = (now * CYCLE_PS, now * CYCLE_PS + CYCLE_PS / 2);
        let mut quiet = !in_reset;
        for (i, n) in self.nics.iter_mut().enumerate() {
            let drive = bind::Drive {
                reset: in_reset,
                axil: n.axil.drive(now, !in_reset),
                dma: n.dma.drive(now),
                tx_tready: n.tx.drive(),
                rx: n.rx.drive(),
            };
            bind::inputs(&mut n.inp, &drive);
            n.model.cycle(&n.inp, &mut n.out, t_low, t_high);
            let o = &n.out;
            if let Some(done) = n.axil.update(now, &bind::axil(o)) {
                self.replies.push(done);
            }
            n.dma.update(now, &bind::dma(o));
            if let Some(f) = n.tx.update(now, &bind::tx(o), &mut self.pool) {
                self.tx_done.push((i, f));
            }
            n.rx.update(now, bind::rx_tready(o), &mut self.pool);
            let irq = bind::irq(o);
            if irq != n.irq {
                let rising = irq & !n.irq != 0;
                n.irq = irq;
                self.shared.nics[i].irq.store(irq, Ordering::Release);
                if rising {
                    self.event = true;
                    self.shared.notify_events();
                }
            }
            n.idle = bind::idle(o);
            quiet &= n.idle
                && !n.axil.busy()
                && n.dma.is_quiet()
                && !n.tx.mid_frame()
                && n.rx.pending() == 0;
        }
        // Frames for the caller (External wire) may end a lockstep host's wait.
        self.event |= self.shared.external && !self.tx_done.is_empty();
        for (i, f) in self.tx_done.drain(..) {
            route(
                &mut *self.wire,
                Endpoint::Nic(i),
                f,
                &mut self.nics,
                &mut self.pool,
                &self.shared,
            );
        }
        // A frame handed to a NIC's RX source this cycle keeps the world awake.
        if quiet && self.nics.iter().any(|n| n.rx.pending() > 0) {
            quiet = false;
        }
        self.quiet_streak = if quiet {
            self.quiet_streak.saturating_add(1)
        } else {
            0
        };
        self.cycle += 1;
        self.shared.cycles.store(self.cycle, Ordering::Relaxed);
        // Answered once the cycle is over: a host that reads the cycle count then sees where
        // it resumes (in lockstep the clock stops right here).
        for (reply, result) in self.replies.drain(..) {
            let _ = reply.send(result);
        }
        if self.vcd_open && self.vcd.as_ref().is_some_and(|w| self.cycle >= w.end_cycle) {
            self.close_vcd();
        }
        if self.cycle >= self.next_waiter || std::mem::take(&mut self.event) {
            self.wake_waiters();
        }
    }

    /// Answers every waiter whose condition holds or whose deadline came.
    fn wake_waiters(&mut self) {
        let now = self.cycle;
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            let met = self.cond_met(w.cond);
            if met || w.until <= now {
                let w = self.waiters.swap_remove(i);
                let _ = w.reply.send(WaitEnd { met, cycle: now });
            } else {
                i += 1;
            }
        }
        self.next_waiter = self.waiters.iter().map(|w| w.until).min().unwrap_or(u64::MAX);
    }

    fn stats(&self) -> SimStats {
        let wall = self.started.elapsed();
        // Free-running, the clock thread is awake now (it is answering); in lockstep, `serve`
        // counts the time spent clocking.
        let awake = if self.lockstep { self.awake } else { self.awake + self.awake_since.elapsed() };
        let mut wire = WireCounters::default();
        self.wire.counters(&mut wire);
        SimStats {
            cycles: self.cycle,
            skipped: self.skipped,
            sim_ns: time::cycles_to_ns(self.cycle),
            wall,
            awake,
            cycles_per_sec: if awake.as_secs_f64() > 0.0 {
                (self.cycle - self.skipped) as f64 / awake.as_secs_f64()
            } else {
                0.0
            },
            sleeps: self.sleeps,
            nics: self
                .nics
                .iter()
                .map(|n| {
                    let (tx, rx) = (n.tx.counters(), n.rx.counters());
                    NicStats {
                        regs: n.axil.counters(),
                        dma: n.dma.counters(),
                        mac: MacCounters {
                            rx_frames: rx.rx_frames,
                            rx_bytes: rx.rx_bytes,
                            rx_errored: rx.rx_errored,
                            rx_stall_cycles: rx.rx_stall_cycles,
                            rx_first_cycle: rx.rx_first_cycle,
                            rx_last_cycle: rx.rx_last_cycle,
                            ..tx
                        },
                        irq: n.irq,
                        idle: n.idle,
                    }
                })
                .collect(),
            wire,
        }
    }
}

/// Hands `frame` from `from` to the wire and delivers what comes out.
fn route(
    wire: &mut dyn Wire,
    from: Endpoint,
    frame: Frame,
    nics: &mut [NicSlot],
    pool: &mut FramePool,
    shared: &Shared,
) {
    wire.carry(from, frame, &mut |to, f| deliver(to, f, nics, pool, shared));
}

/// A frame the wire hands to endpoint `to`: a NIC's receive port, or the caller (External).
fn deliver(to: Endpoint, f: Frame, nics: &mut [NicSlot], pool: &mut FramePool, shared: &Shared) {
    match to {
        Endpoint::Nic(j) => match nics.get_mut(j) {
            Some(n) => n.rx.push(f, pool),
            None => pool.put(f.data),
        },
        Endpoint::Host(j) => {
            if let Some(n) = shared.nics.get(j) {
                lock(&n.tx).push(f);
                shared.notify_events();
            }
        }
    }
}
