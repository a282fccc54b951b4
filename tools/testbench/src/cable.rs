//! Two stacks on two co-simulated NICs joined by a cable: TCP between two
//! instances of this stack, every byte through the RTL both ways. What the
//! demo, the benchmarks and nic-host's `stack_queues` tests run; no root, TAP
//! or Linux needed.

use std::path::PathBuf;

use nic_sim::{Cable, FaultConfig, Sim, SimNic};

use nic_host::stack::{IfAddrs, Stack, StackConfig};
use nic_host::ctl::CycleClock;

/// Two stacks, one interface (`nic0`) each, on NIC 0 and NIC 1 of one simulation.
pub struct CablePair {
    /// The stack on NIC 0.
    pub a: Stack,
    /// The stack on NIC 1.
    pub b: Stack,
    nic: SimNic,
    // Last: the clock thread outlives the drivers.
    _sim: Sim,
}

impl CablePair {
    /// Starts the model pair (recording the cable to `pcap` if given) and attaches a stack to each
    /// NIC with `a_addrs` / `b_addrs`, every offload the NIC has switched on.
    pub fn start(
        a_addrs: IfAddrs,
        b_addrs: IfAddrs,
        pcap: Option<PathBuf>,
    ) -> Result<CablePair, Box<dyn std::error::Error + Send + Sync>> {
        Self::start_with_queues(a_addrs, b_addrs, pcap, None)
    }

    /// [`CablePair::start`] with each driver using `queues` queue pairs (one worker each;
    /// `None`: all the NIC has), for comparing one worker with several.
    pub fn start_with_queues(
        a_addrs: IfAddrs,
        b_addrs: IfAddrs,
        pcap: Option<PathBuf>,
        queues: Option<u16>,
    ) -> Result<CablePair, Box<dyn std::error::Error + Send + Sync>> {
        Self::start_with(a_addrs, b_addrs, pcap, queues, StackConfig::for_simulator(), None)
    }

    /// [`CablePair::start`] on a faulty cable (`faults`, both directions; the pcap records
    /// what survived them).
    pub fn start_faulty(
        a_addrs: IfAddrs,
        b_addrs: IfAddrs,
        pcap: Option<PathBuf>,
        faults: FaultConfig,
    ) -> Result<CablePair, Box<dyn std::error::Error + Send + Sync>> {
        Self::start_with(a_addrs, b_addrs, pcap, None, StackConfig::for_simulator(), Some(faults))
    }

    /// [`CablePair::start_with_queues`] with both stacks built from `cfg`, and `faults` on the
    /// cable if given.
    pub fn start_with(
        a_addrs: IfAddrs,
        b_addrs: IfAddrs,
        pcap: Option<PathBuf>,
        queues: Option<u16>,
        cfg: StackConfig,
        faults: Option<FaultConfig>,
    ) -> Result<CablePair, Box<dyn std::error::Error + Send + Sync>> {
        let sim = crate::sim::start_sim(Cable::new(), pcap.as_deref(), faults)?;
        let mut stacks = Vec::new();
        for (i, addrs) in [a_addrs, b_addrs].into_iter().enumerate() {
            let drv = crate::sim::sim_driver(sim.nic(i), [0x02, 0x6e, 0x69, 0x63, 0x01, i as u8 + 1], queues)?;
            let s = Stack::new(cfg.clone());
            s.attach(drv, addrs)?;
            stacks.push(s);
        }
        let b = stacks.pop().ok_or("no stack")?;
        let a = stacks.pop().ok_or("no stack")?;
        Ok(CablePair { a, b, nic: sim.nic(0), _sim: sim })
    }

    /// Simulated cycles so far.
    pub fn cycles(&self) -> u64 {
        self.nic.cycles()
    }

    /// A clock for the control socket's simulated-time reports.
    pub fn clock(&self) -> CycleClock {
        crate::sim::sim_clock(&self.nic)
    }

    /// The cable's counters (faults included) for the control socket's `status`.
    pub fn wire_stats(&self) -> nic_host::ctl::WireStats {
        crate::sim::sim_wire_stats(&self.nic)
    }
}

impl Drop for CablePair {
    fn drop(&mut self) {
        for s in [&self.a, &self.b] {
            for (i, _) in s.interfaces() {
                let _ = s.detach(i);
            }
        }
    }
}
