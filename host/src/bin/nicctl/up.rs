//! `nicctl up`: attach the driver to a device and report what it found.
//!
//! The device is the Verilator model (default, on a loopback wire) or a PCIe
//! function through VFIO (`--vfio 0000:01:00.0`): the same driver code either
//! way, which is the point. With `--hold N` the interface stays up N seconds,
//! receiving (and counting) what arrives, then prints the NIC's counters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nic_host::dev::Device;
use nic_host::{Driver, DriverConfig};

use super::Res;

/// Attaches, prints the interface, optionally holds it up, detaches.
pub fn run(vfio: Option<String>, hold: u64) -> Res {
    // Keeps the simulator's clock thread alive while the driver uses the model.
    let mut _sim = None;
    let dev: Arc<dyn Device> = match &vfio {
        #[cfg(all(feature = "vfio", target_os = "linux"))]
        Some(addr) => Arc::new(nic_host::dev::vfio::VfioDevice::open(addr)?),
        #[cfg(not(all(feature = "vfio", target_os = "linux")))]
        Some(_) => return Err("this nicctl was built without VFIO (Linux, feature `vfio`)".into()),
        None => {
            let sim = nic_sim::Sim::start(nic_sim::SimConfig::new(nic_sim::Loopback::new()))?;
            let dev = nic_host::dev::sim::SimDevice::new(sim.nic(0), 8 << 20)?;
            _sim = Some(sim);
            Arc::new(dev)
        }
    };
    let mut drv = Driver::attach_with(dev, DriverConfig::default())?;
    let i = drv.info().clone();
    let ifp = drv.ifnet();
    let mac: Vec<String> = ifp.if_lladdr.iter().map(|b| format!("{b:02x}")).collect();
    println!("{}: {} up", ifp.if_xname, i.describe);
    println!("\t{}", ifp.options_line());
    println!("\t{}", ifp.capabilities_line());
    println!("\tether {}", mac.join(":"));
    println!(
        "\tnic: ABI {}.{} build 0x{:08x}, {}-bit datapath at {:.2} MHz, {} queue pair(s), max frame {}",
        i.abi_major,
        i.abi_minor,
        i.build_hash,
        i.datapath_bits,
        f64::from(i.clock_khz) / 1000.0,
        i.num_queues,
        i.max_frame
    );
    println!("\tinterrupts: {}", if drv.uses_interrupts() { "on" } else { "off (polling)" });
    if hold > 0 {
        let until = Instant::now() + Duration::from_secs(hold);
        let mut got = Vec::new();
        let mut frames = 0usize;
        while Instant::now() < until {
            drv.wait(Duration::from_millis(100).min(until - Instant::now()))?;
            drv.poll(&mut got, 64)?;
            frames += got.len();
            got.clear();
        }
        println!("\treceived {frames} frame(s) in {hold} s");
        let stats: Vec<String> = drv.hw_stats()?.iter().map(|(n, v)| format!("{n}={v}")).collect();
        println!("\tcounters: {}", stats.join(" "));
    }
    drv.detach()?;
    Ok(())
}
