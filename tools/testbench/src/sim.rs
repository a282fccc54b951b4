//! The glue between a simulated NIC and a stack: a driver sized for a stack,
//! and the NIC's cycle count as the control socket's clock.

use std::sync::Arc;

use nic_host::ctl::CycleClock;
use nic_sim::{FaultConfig, Faults, PcapTap, Sim, SimConfig, SimError, Wire};
use nic_host::dev::sim::SimDevice;
use nic_host::{Driver, DriverConfig};

/// A driver on a simulated NIC, sized for a stack (256-slot rings, every queue pair the build
/// has, 48 MiB of lazily mapped DMA memory: 4.7 MB per queue pair): what the TAP interface and
/// the demo's cable pair both attach.
pub fn sim_driver(
    nic: nic_sim::SimNic,
    lladdr: [u8; 6],
    queues: Option<u16>,
) -> Result<Driver, Box<dyn std::error::Error + Send + Sync>> {
    let dev = Arc::new(SimDevice::new(nic, 48 << 20)?);
    let cfg = DriverConfig { tx_ring_log2: 8, rx_ring_log2: 8, lladdr, queues, ..Default::default() };
    Ok(Driver::attach_with(dev, cfg)?)
}

/// Starts a simulation on `inner`, recorded to `pcap` if given (its directory made) and with
/// `faults` on top if given, so the capture holds what survived them: what the TAP interface
/// and the demo's cable pair both run on.
pub fn start_sim(
    inner: impl Wire + 'static,
    pcap: Option<&std::path::Path>,
    faults: Option<FaultConfig>,
) -> Result<Sim, SimError> {
    let wire: Box<dyn Wire> = match pcap {
        Some(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| SimError::Io { what: "pcap directory", source })?;
            }
            Box::new(PcapTap::create(p, inner)?)
        }
        None => Box::new(inner),
    };
    match faults {
        Some(f) => Sim::start(SimConfig::new(Faults::new(f, wire))),
        None => Sim::start(SimConfig::new(wire)),
    }
}

/// The simulated wire's counters (faults included) for the control socket's `status`.
pub fn sim_wire_stats(nic: &nic_sim::SimNic) -> nic_host::ctl::WireStats {
    let nic = nic.clone();
    Arc::new(move || nic.sim_stats().map(|s| s.wire.named()).unwrap_or_default())
}

/// The simulated NIC's cycle count as the control socket's clock (simulated-time reports).
pub fn sim_clock(nic: &nic_sim::SimNic) -> CycleClock {
    let nic = nic.clone();
    Arc::new(move || nic.cycles())
}
