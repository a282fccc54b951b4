//! The stack on a co-simulated NIC whose wire is a Linux TAP: what
//! `nicctl up --tap` runs, and what tests and in-process applications start.
//!
//! ```text
//!  sockets ── Stack ── Driver ── SimDevice ═ Verilator model ═ MAC ── External wire ── TapBridge ── TAP ── Linux
//!                                                               (optionally recorded by PcapTap)
//! ```

use std::path::PathBuf;

use nic_sim::tap::{TapBridge, TapCounters, TapDevice};
use nic_sim::{External, FaultConfig, Sim, SimNic};

use nic_host::stack::{IfAddrs, Stack, StackConfig};
use nic_host::ctl::CycleClock;

/// How to bring the interface up.
#[derive(Clone, Debug)]
pub struct TapNicConfig {
    /// The TAP interface (created if it does not exist).
    pub tap: String,
    /// Open the TAP from inside this network namespace (the rest of the process stays where it is).
    pub netns: Option<String>,
    /// Addresses and gateways.
    pub addrs: IfAddrs,
    /// ifconfig words applied after attach (`-txcsum`, `-tso`, …); every offload stays on otherwise.
    pub ifconfig: Vec<String>,
    /// Record the wire (both directions) here.
    pub pcap: Option<PathBuf>,
    /// IP MTU; the TAP's own MTU when `None`.
    pub mtu: Option<u32>,
    /// MAC address of the simulated NIC.
    pub lladdr: [u8; 6],
    /// `IFCAP_*` bits written to the NIC's `CAPDISABLE` before the driver attaches, as a
    /// board's firmware would strap off offloads the product does not have.
    pub capdisable: u32,
    /// Stack tunables.
    pub stack: StackConfig,
    /// Queue pairs to use (one worker each); `None`: every pair the NIC has.
    pub queues: Option<u16>,
    /// Faults the wire injects, both directions (the pcap records what survived them).
    pub faults: Option<FaultConfig>,
}

impl TapNicConfig {
    /// A TAP by name with these addresses and defaults for everything else.
    pub fn new(tap: &str, addrs: IfAddrs) -> Self {
        TapNicConfig {
            tap: tap.into(),
            netns: None,
            addrs,
            ifconfig: Vec::new(),
            pcap: None,
            mtu: None,
            lladdr: [0x02, 0x6e, 0x69, 0x63, 0x00, 0x02],
            capdisable: 0,
            stack: StackConfig::for_simulator(),
            queues: None,
            faults: None,
        }
    }
}

/// A running stack on a simulated NIC bridged to a TAP. Dropping it stops everything.
pub struct TapNic {
    /// The stack (clone it for sockets and the control socket).
    pub stack: Stack,
    /// The interface index of the NIC in the stack.
    pub ifindex: u16,
    nic: SimNic,
    bridge: TapBridge,
    // Declared last: the clock thread stops after the driver and the bridge are gone.
    _sim: Sim,
}

impl TapNic {
    /// Opens the TAP, starts the model and the bridge, attaches the driver and the stack.
    pub fn start(cfg: TapNicConfig) -> Result<TapNic, Box<dyn std::error::Error + Send + Sync>> {
        let tap = match &cfg.netns {
            Some(ns) => nic_sim::tap::open_in_netns(ns, &cfg.tap)?,
            None => TapDevice::open(&cfg.tap)?,
        };
        let mtu = match cfg.mtu {
            Some(m) => m,
            None => tap.mtu()?,
        };
        let sim = crate::sim::start_sim(External::new(1), cfg.pcap.as_deref(), cfg.faults)?;
        let nic = sim.nic(0);
        let bridge = TapBridge::start(nic.clone(), tap)?;
        if cfg.capdisable != 0 {
            nic.write32(nic_abi::regs::ctrl::CAPDISABLE, cfg.capdisable)?;
        }
        let drv = crate::sim::sim_driver(nic.clone(), cfg.lladdr, cfg.queues)?;
        drv.set_mtu(mtu);
        let words: Vec<&str> = cfg.ifconfig.iter().map(String::as_str).collect();
        drv.ifconfig(&words)?;
        let stack = Stack::new(cfg.stack);
        let ifindex = stack.attach(drv, cfg.addrs)?;
        Ok(TapNic { stack, ifindex, nic, bridge, _sim: sim })
    }

    /// Simulated cycles so far.
    pub fn cycles(&self) -> u64 {
        self.nic.cycles()
    }

    /// What the wire did: frames carried, and what the fault injector dropped, duplicated,
    /// reordered, corrupted or truncated (`None` if the simulation has stopped).
    pub fn wire_counters(&self) -> Option<nic_sim::WireCounters> {
        self._sim.stats().ok().map(|s| s.wire)
    }

    /// A clock for the control socket's simulated-time reports.
    pub fn clock(&self) -> CycleClock {
        crate::sim::sim_clock(&self.nic)
    }

    /// The wire's counters for the control socket's `status` (faults included).
    pub fn wire_stats(&self) -> nic_host::ctl::WireStats {
        crate::sim::sim_wire_stats(&self.nic)
    }

    /// Frames moved between the TAP and the NIC.
    pub fn bridge_counters(&self) -> TapCounters {
        self.bridge.counters()
    }

    /// Why the bridge stopped on its own, if it did (the TAP was deleted, …).
    pub fn bridge_error(&self) -> Option<String> {
        self.bridge.error()
    }
}

impl Drop for TapNic {
    fn drop(&mut self) {
        let _ = self.stack.detach(self.ifindex);
        self.bridge.stop();
    }
}
