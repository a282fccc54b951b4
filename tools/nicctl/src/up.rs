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

use crate::res::Res;

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
    let drv = Driver::attach_with(dev, DriverConfig::default())?;
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

/// `nicctl up --tap …`: the stack's options.
#[derive(clap::Args, Debug)]
pub struct StackArgs {
    /// Run the TCP/IP stack with this Linux TAP as the NIC's wire (created if missing; run
    /// `nicctl` inside the TAP's network namespace, e.g. `ip netns exec NS nicctl up --tap tap0 ...`).
    #[arg(long, value_name = "IFNAME")]
    pub tap: Option<String>,
    /// IPv4 address and prefix length of nic0.
    #[arg(long, value_name = "A.B.C.D/N", requires = "tap")]
    pub addr: Option<String>,
    /// IPv6 address and prefix length of nic0 (repeatable; a link-local address is always added).
    #[arg(long, value_name = "ADDR6/N", requires = "tap")]
    pub addr6: Vec<String>,
    /// IPv4 default gateway.
    #[arg(long, requires = "tap")]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// IPv6 default gateway.
    #[arg(long, requires = "tap")]
    pub gateway6: Option<std::net::Ipv6Addr>,
    /// Control socket (default: $XDG_RUNTIME_DIR/nicctl.sock or /tmp/nicctl-UID.sock).
    #[arg(long, value_name = "PATH", requires = "tap")]
    pub ctl: Option<std::path::PathBuf>,
    /// ifconfig words applied at start, comma-separated (e.g. `-txcsum,-txcsum6,-rxcsum,-rxcsum6,-tso`);
    /// every offload the NIC has is on otherwise.
    #[arg(long, value_name = "WORDS", requires = "tap", allow_hyphen_values = true)]
    pub ifconfig: Option<String>,
    /// Offloads the board lacks, comma-separated ifconfig words (`tso4,tso6`): written to the NIC's
    /// CAPDISABLE strap before the driver attaches, as a board's firmware would.
    #[arg(long, value_name = "WORDS", requires = "tap")]
    pub hw_disable: Option<String>,
    /// Record the NIC's wire (both directions) to this pcap file.
    #[arg(long, requires = "tap")]
    pub pcap: Option<std::path::PathBuf>,
    /// IP MTU (default: the TAP's MTU).
    #[arg(long, requires = "tap")]
    pub mtu: Option<u32>,
    /// Seconds between status lines.
    #[arg(long, default_value_t = 5, requires = "tap")]
    pub status_every: u64,
    /// Queue pairs to use, one worker thread each (default: every pair the NIC has); RSS spreads
    /// received flows over them.
    #[arg(long, requires = "tap")]
    pub queues: Option<u16>,
    /// Faults on the wire, both directions, seeded:
    /// `drop=P,dup=P,reorder=P,corrupt=P,truncate=P,seed=N` (probabilities per frame).
    #[arg(long, value_name = "SPEC", requires = "tap", value_parser = nic_sim::FaultConfig::parse)]
    pub faults: Option<nic_sim::FaultConfig>,
}

fn parse_cidr<T: std::str::FromStr>(s: &str, max: u8) -> Result<(T, u8), String> {
    let (a, n) = s.split_once('/').ok_or_else(|| format!("{s:?}: write ADDRESS/PREFIXLEN"))?;
    let a = a.parse::<T>().map_err(|_| format!("{a:?} is not an address"))?;
    let n: u8 = n.parse().ok().filter(|n| *n <= max).ok_or_else(|| format!("{n:?} is not a prefix length 0..={max}"))?;
    Ok((a, n))
}

/// Runs the stack on the model bridged to the TAP and serves the control socket until killed.
pub fn run_stack(a: StackArgs) -> Res {
    use nic_testbench::tapnic::{TapNic, TapNicConfig};
    use nic_host::stack::IfAddrs;
    let tap = a.tap.clone().unwrap_or_default();
    let addrs = IfAddrs {
        v4: a.addr.as_deref().map(|s| parse_cidr(s, 32)).transpose()?,
        v6: a.addr6.iter().map(|s| parse_cidr(s, 128)).collect::<Result<_, _>>()?,
        gateway4: a.gateway,
        gateway6: a.gateway6,
    };
    if addrs.v4.is_none() && addrs.v6.is_empty() {
        return Err("give nic0 an address: --addr A.B.C.D/N and/or --addr6 ADDR/N".into());
    }
    let mut cfg = TapNicConfig::new(&tap, addrs.clone());
    cfg.ifconfig = a.ifconfig.iter().flat_map(|s| s.split(',')).map(|w| w.trim().to_string()).filter(|w| !w.is_empty()).collect();
    cfg.pcap = a.pcap.clone();
    cfg.faults = a.faults;
    for w in a.hw_disable.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|w| !w.is_empty()) {
        cfg.capdisable |= nic_host::ifnet::ifcap_word(w).ok_or_else(|| nic_host::ifnet::CapError::UnknownWord(w.to_string()).to_string())?;
    }
    cfg.mtu = a.mtu;
    cfg.queues = a.queues;
    let nic = TapNic::start(cfg).map_err(|e| format!("cannot bring up the stack on TAP {tap}: {e}"))?;
    let ctl = a.ctl.clone().unwrap_or_else(nic_host::ctl::default_path);
    let ctl_cfg = nic_host::ctl::CtlConfig { clock: Some(nic.clock()), wire: Some(nic.wire_stats()), ..Default::default() };
    let server = nic_host::ctl::CtlServer::start_with(nic.stack.clone(), &ctl, ctl_cfg)?;
    let ifp = nic.stack.ifnet(nic.ifindex).ok_or("the interface vanished at start")?;
    let mac: Vec<String> = ifp.if_lladdr.iter().map(|b| format!("{b:02x}")).collect();
    println!("{}: up on TAP {tap} (Verilator model), mtu {}", ifp.if_xname, ifp.if_mtu);
    // Linux on the TAP lives in wall time, so the model must follow it: no lockstep here.
    println!("\tclock: free-running, following wall time for the Linux peer (cycle counts differ between runs)");
    println!("\t{}", ifp.options_line());
    println!("\tether {}", mac.join(":"));
    if let Some((v4, n)) = addrs.v4 {
        println!("\tinet {v4}/{n}");
    }
    for (v6, n) in &addrs.v6 {
        println!("\tinet6 {v6}/{n}");
    }
    println!("\tinet6 {}/64 (link-local)", nic_host::stack::link_local(ifp.if_lladdr));
    println!("\tcontrol socket {}", ctl.display());
    if let Some(f) = &a.faults {
        println!(
            "\twire faults (both directions, seed {}): drop {}, dup {}, reorder {}, corrupt {}, truncate {}",
            f.seed, f.drop, f.dup, f.reorder, f.corrupt, f.truncate
        );
    }
    let t0 = Instant::now();
    let mut next = t0;
    loop {
        next += Duration::from_secs(a.status_every.max(1));
        while Instant::now() < next {
            if server.shutdown_requested() {
                println!("{}: stopping (asked on the control socket)", ifp.if_xname);
                drop(nic);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(e) = nic.bridge_error() {
            return Err(format!("the TAP bridge stopped: {e}").into());
        }
        let b = nic.bridge_counters();
        let st = nic.stack.net_stats();
        let conns = nic.stack.connections().len();
        let cyc = nic.cycles();
        println!(
            "{}: {:.0} s, sim {} cycles ({:.3} s), wire in {} / out {} frames, tcp in {} / out {} segments, {} sockets",
            ifp.if_xname,
            t0.elapsed().as_secs_f64(),
            cyc,
            nic_abi::cycles_to_ns(cyc) as f64 / 1e9,
            b.frames_in,
            b.frames_out,
            st.tcp.tcps_rcvtotal,
            st.tcp.tcps_sndtotal,
            conns
        );
        if a.faults.is_some() {
            if let Some(w) = nic.wire_counters() {
                println!("\twire faults: {}", w.faults_summary());
            }
        }
    }
}
