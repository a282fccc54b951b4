//! `nicctl`: the toolkit's command line.
//!
//! - `nicctl demo`: the co-simulated NIC with every offload on, a traffic mix
//!   through two NICs on a cable, a summary, a pcap and a short VCD window;
//! - `nicctl replay`: a pcap through the NIC as the stack would send it;
//! - `nicctl verilog`: the RTL as Verilog for other tools;
//! - `nicctl up [--vfio BDF]`: the driver attached to the model or to a board;
//!   `nicctl up --tap IFNAME --addr A/N --addr6 A/N`: the stack on the model,
//!   its wire a Linux TAP, serving the control socket (up.rs);
//! - `nicctl nc`, `nicctl iperf`: traffic through a running stack's control socket, and
//!   `nicctl ifconfig`, `nicctl netstat`: FreeBSD's tools for it (tools.rs);
//! - `nicctl rss [IFNAME [SETTING]]`: receive-side scaling of a running stack's interfaces,
//!   shown or changed at run time (rss.rs);
//! - `nicctl bitstream build --board NAME`: the open-flow FPGA build (bitstream.rs).

use clap::{Parser, Subcommand};
use nic_testbench::replay::{self, ReplayConfig, ReplayReport};
use std::path::PathBuf;
use std::process::ExitCode;

use res::Res;

mod bitstream;
mod res;
mod rss;
mod tools;
mod up;

#[derive(Parser)]
#[command(name = "nicctl", version, about = "FPGA offload NIC co-design toolkit")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the co-simulated NIC (Verilator model, two NICs on a cable) with all offloads on and print a summary.
    Demo {
        /// Frames in the traffic mix.
        #[arg(long, default_value_t = 2000)]
        frames: usize,
        /// Where to write the wire capture.
        #[arg(long, default_value = "out/demo.pcap")]
        pcap: PathBuf,
        /// Where to write the waveform window.
        #[arg(long, default_value = "out/demo.vcd")]
        vcd: PathBuf,
        /// First cycle of the waveform window.
        #[arg(long, default_value_t = 2000)]
        vcd_start: u64,
        /// Cycles in the waveform window.
        #[arg(long, default_value_t = 3000)]
        vcd_cycles: u64,
        /// Seed of the traffic mix.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Bytes of the TCP transfer between two stacks on the cable (each family).
        #[arg(long, default_value_t = 4 << 20)]
        tcp_bytes: usize,
        /// Faults on the cable (both parts), seeded: `drop=P,dup=P,reorder=P,corrupt=P,truncate=P,seed=N`.
        #[arg(long, value_name = "SPEC", value_parser = nic_sim::FaultConfig::parse)]
        faults: Option<nic_sim::FaultConfig>,
        /// Control socket of the demo's first stack (`nicctl ifconfig`, `nicctl netstat` reach it).
        #[arg(long, value_name = "PATH")]
        ctl: Option<PathBuf>,
        /// Keep the two stacks up this many seconds after the transfer, for ifconfig/netstat.
        #[arg(long, default_value_t = 0)]
        hold: u64,
    },
    /// Send every frame of a pcap through the simulated NIC (loopback) and report what came back.
    Replay {
        /// Input capture (Ethernet).
        #[arg(long = "in")]
        input: PathBuf,
        /// Capture of what appeared on the wire.
        #[arg(long = "out")]
        output: PathBuf,
        /// One JSON object per received frame, in wire order: its `frame` number in the `--out`
        /// capture, checksum verdicts, RSS hash (`flowid`), its `rsstype` (M_HASHTYPE name) and
        /// the RX `queue` it arrived on.
        #[arg(long)]
        rx_report: PathBuf,
        /// Comma-separated ifconfig words to enable (default: every offload the NIC has).
        #[arg(long)]
        offload: Option<String>,
        /// Send the bytes untouched, with no offload request.
        #[arg(long)]
        raw: bool,
        /// Send TCP frames longer than the MTU as TSO bursts (segmented by the NIC when
        /// tso4/tso6 are on, by the stack's GSO when they are off).
        #[arg(long, conflicts_with = "raw")]
        tso: bool,
        /// TSO segment size (TCP payload bytes per segment).
        #[arg(long, default_value_t = 1448, requires = "tso", value_parser = clap::value_parser!(u16).range(1..))]
        mss: u16,
        /// Faults on the wire, seeded: `drop=P,dup=P,reorder=P,corrupt=P,truncate=P,seed=N`.
        #[arg(long, value_name = "SPEC", value_parser = nic_sim::FaultConfig::parse)]
        faults: Option<nic_sim::FaultConfig>,
    },
    /// Write the NIC core's Verilog (top module `top`).
    Verilog {
        /// Output directory.
        #[arg(long = "out")]
        out: PathBuf,
    },
    /// Attach the driver to the Verilator model or, with --vfio, to a PCIe function bound to vfio-pci;
    /// with --tap, run the TCP/IP stack on the model with a Linux TAP as its wire, until interrupted.
    Up {
        /// PCI address of the board's function (e.g. 0000:01:00.0); without it, the Verilator model.
        #[arg(long, value_name = "BDF", conflicts_with = "tap")]
        vfio: Option<String>,
        /// Stay up this many seconds, receiving, then print the NIC's counters (without --tap).
        #[arg(long, default_value_t = 0)]
        hold: u64,
        #[command(flatten)]
        stack: up::StackArgs,
    },
    /// netcat through the running stack: `nc HOST PORT` sends standard input; `nc -l PORT` writes what arrives.
    Nc(tools::NcArgs),
    /// A timed bulk TCP transfer through the running stack (server: -s, client: -c HOST).
    Iperf(tools::IperfArgs),
    /// Show interfaces or switch offloads the way FreeBSD's ifconfig does (`nicctl ifconfig nic0 -txcsum`).
    Ifconfig(tools::IfconfigArgs),
    /// List the running stack's sockets the way FreeBSD's netstat does.
    Netstat(tools::NetstatArgs),
    /// Show or change receive-side scaling (key, hash types, indirection table) of the running
    /// stack's interfaces: `nicctl rss nic0 reta spread 2`, `nicctl rss nic0 types tcp4,udp4`.
    Rss(rss::RssArgs),
    /// Stop a running stack (`nicctl up --tap`) cleanly: interface detached, control socket removed.
    Shutdown {
        /// Control socket of the running stack.
        #[arg(long, value_name = "PATH")]
        ctl: Option<PathBuf>,
    },
    /// FPGA bitstreams from the same RTL (open flow: yosys + nextpnr).
    Bitstream {
        #[command(subcommand)]
        cmd: bitstream::Cmd,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Demo { frames, pcap, vcd, vcd_start, vcd_cycles, seed, tcp_bytes, ctl, hold, faults } => {
            demo(frames, pcap.clone(), vcd, vcd_start, vcd_cycles, seed, faults)
                .and_then(|()| tools::demo_tcp(tcp_bytes, &pcap, ctl, hold, faults))
        }
        Cmd::Replay { input, output, rx_report, offload, raw, tso, mss, faults } => {
            cmd_replay(input, output, rx_report, offload, raw, tso.then_some(mss), faults)
        }
        Cmd::Verilog { out } => verilog(out),
        Cmd::Up { vfio, hold, stack } => match stack.tap.is_some() {
            true => up::run_stack(stack),
            false => up::run(vfio, hold),
        },
        Cmd::Nc(a) => tools::nc(a),
        Cmd::Iperf(a) => tools::iperf(a),
        Cmd::Shutdown { ctl } => tools::shutdown(ctl),
        Cmd::Ifconfig(a) => tools::ifconfig(a),
        Cmd::Netstat(a) => tools::netstat(a),
        Cmd::Rss(a) => rss::rss(a),
        Cmd::Bitstream { cmd } => bitstream::run(cmd),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nicctl: {e}");
            ExitCode::FAILURE
        }
    }
}


fn verilog(out: PathBuf) -> Res {
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let path = out.join("nic_core.v");
    std::fs::write(&path, nic_sim::NIC_VERILOG).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {} (top module `top`; lint with: verilator --lint-only -Wall {} {})", path.display(), nic_sim::LINT_WAIVER_FLAGS, path.display());
    Ok(())
}

fn read_pcap(path: &PathBuf) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut r = pcap_file::pcap::PcapReader::new(f).map_err(|e| format!("{} is not a pcap file: {e}", path.display()))?;
    if r.header().datalink != pcap_file::DataLink::ETHERNET {
        return Err(format!("{}: link type {:?}, only Ethernet captures can be replayed", path.display(), r.header().datalink).into());
    }
    let mut frames = vec![];
    // Where the next record starts: after the 24-byte file header, each record is a 16-byte
    // record header and its captured bytes. Said in the error, so a damaged file can be cut there.
    let mut offset = 24u64;
    while let Some(p) = r.next_packet() {
        let p = p.map_err(|e| {
            format!("{}: record {} at byte offset {offset}: {e}", path.display(), frames.len() + 1)
        })?;
        offset += 16 + p.data.len() as u64;
        frames.push(p.data.into_owned());
    }
    Ok(frames)
}

fn cmd_replay(
    input: PathBuf,
    output: PathBuf,
    rx_report: PathBuf,
    offload: Option<String>,
    raw: bool,
    tso_mss: Option<u16>,
    faults: Option<nic_sim::FaultConfig>,
) -> Res {
    let frames = read_pcap(&input)?;
    let cfg = ReplayConfig {
        offload: offload.map(|s| s.split(',').map(|w| w.trim().to_string()).collect()),
        raw,
        wire_pcap: Some(output.clone()),
        tso_mss,
        faults,
        ..Default::default()
    };
    let rep = replay::replay(&frames, &cfg)?;
    for (i, why) in &rep.not_offloaded {
        eprintln!("frame {}: sent without offload: {why}", i + 1);
    }
    for (i, why) in &rep.refused {
        eprintln!("frame {}: not sent: {why}", i + 1);
    }
    for (i, n) in &rep.trimmed {
        eprintln!("frame {}: {n} bytes after the IP packet not sent (link padding or capture junk)", i + 1);
    }
    let mut text = String::new();
    for r in &rep.rx {
        text.push_str(&replay::rx_json(r));
        text.push('\n');
    }
    std::fs::write(&rx_report, text).map_err(|e| format!("cannot write {}: {e}", rx_report.display()))?;
    // Standard output is what simulated time decides, the same on every run; the wall clock's
    // share goes to standard error.
    println!(
        "replayed {} frames: {} on the wire ({}), {} received ({}); {} cycles ({:.1} us simulated)",
        frames.len(),
        rep.sim.wire.frames,
        output.display(),
        rep.rx.len(),
        rx_report.display(),
        rep.sim.cycles,
        rep.sim.sim_ns as f64 / 1000.0,
    );
    eprintln!(
        "simulator: {:.2} s wall, {:.2} M cycles/s evaluated, {} quiet cycles jumped over",
        rep.wall.as_secs_f64(),
        rep.sim.cycles_per_sec / 1e6,
        rep.sim.skipped
    );
    println!("  {}", rx_queues_line(&rep));
    if tso_mss.is_some() {
        println!(
            "  {} TSO bursts segmented by the NIC, {} segments cut by the stack's GSO (TSO off)",
            rep.tso_bursts, rep.gso_segments
        );
    }
    if rep.dropped > 0 {
        eprintln!("{} frames dropped by the receiving NIC (no buffer or FIFO overrun); see its counters", rep.dropped);
    }
    if let Some(f) = faults {
        println!("  wire faults (seed {}): {}", f.seed, rep.sim.wire.faults_summary());
    }
    check_accounting(&rep)?;
    if rep.sent == 0 && !frames.is_empty() {
        return Err(format!("none of the {} frames was sent: every one was refused (reasons above)", frames.len()).into());
    }
    Ok(())
}

fn demo(
    frames: usize,
    pcap: PathBuf,
    vcd: PathBuf,
    vcd_start: u64,
    vcd_cycles: u64,
    seed: u64,
    faults: Option<nic_sim::FaultConfig>,
) -> Res {
    for p in [&pcap, &vcd] {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
    }
    let (mix, bursts) = nic_testbench::traffic::demo_mix(frames, seed);
    println!(
        "nicctl demo: {} frames (UDP/TCP over IPv4/IPv6, VLAN, IPv4 options, IPv6 extension headers, 60..9018 bytes) and {bursts} TCP bursts of 16..58 KB",
        frames
    );
    println!("  nic0 --cable--> nic1, Verilator model of the RTL, every offload on (TCP over the 1500 MTU as TSO, MSS 1448)");
    let cfg = ReplayConfig {
        tso_mss: Some(1448),
        cable: true,
        wire_pcap: Some(pcap.clone()),
        vcd: Some(nic_sim::VcdWindow { path: vcd.clone(), start_cycle: vcd_start, end_cycle: vcd_start + vcd_cycles, nic: 0 }),
        faults,
        ..Default::default()
    };
    let rep = replay::replay(&mix, &cfg)?;
    print_summary(&rep);
    if let Some(f) = faults {
        println!("  cable faults (seed {}): {}", f.seed, rep.sim.wire.faults_summary());
    }
    println!("  wrote {} and {} (cycles {}..{})", pcap.display(), vcd.display(), vcd_start, vcd_start + vcd_cycles);
    check_accounting(&rep)
}

/// Every frame sent is received, counted as dropped by the NIC, or refused with a status; else say so.
fn check_accounting(rep: &ReplayReport) -> Res {
    let lost = rep.unaccounted();
    if rep.timed_out {
        return Err(format!("no progress for 60 s of simulated time with {lost} frames unaccounted for: the simulated NIC stalled (run with a VCD window to see where)").into());
    }
    if lost != 0 {
        return Err(format!("{lost} frames neither received nor counted as dropped: a bug, please report it").into());
    }
    Ok(())
}

/// How RSS spread the received frames: count per RX queue, and per hash type.
fn rx_queues_line(rep: &ReplayReport) -> String {
    let mut queues = std::collections::BTreeMap::<u16, usize>::new();
    let mut types = std::collections::BTreeMap::<&str, usize>::new();
    for r in &rep.rx {
        *queues.entry(r.queue).or_default() += 1;
        *types.entry(nic_abi::rss::hashtype::name(r.rsstype).unwrap_or("?")).or_default() += 1;
    }
    let q: Vec<String> = queues.iter().map(|(q, n)| format!("q{q}={n}")).collect();
    let t: Vec<String> = types.iter().map(|(t, n)| format!("{t}={n}")).collect();
    format!("RX queues (RSS): {}; hash types: {}", q.join(" "), t.join(" "))
}

fn print_summary(rep: &ReplayReport) {
    let bytes: usize = rep.rx.iter().map(|r| r.len).sum();
    println!(
        "  frames: {} sent, {} received ({} bytes), {} dropped by the receiver (counted below)",
        rep.sent,
        rep.rx.len(),
        bytes,
        rep.dropped
    );
    println!(
        "  {} packets became {} wire frames: {} TSO bursts cut by the NIC, {} segments cut by the stack (GSO)",
        rep.sent, rep.wire_expected, rep.tso_bursts, rep.gso_segments
    );
    println!("  offload requests (TX):");
    for (n, c) in &rep.requested {
        println!("    {n:<14} {c}");
    }
    let mut verdicts = std::collections::BTreeMap::<String, usize>::new();
    for r in &rep.rx {
        let v: Vec<&str> = nic_abi::csum::names(r.csum_flags).collect();
        *verdicts.entry(if v.is_empty() { "(none)".into() } else { v.join("|") }).or_default() += 1;
    }
    println!("  {}", rx_queues_line(rep));
    println!("  RX verdicts:");
    for (v, c) in &verdicts {
        println!("    {v:<56} {c}");
    }
    for (i, s) in rep.hw_stats.iter().enumerate() {
        let line: Vec<String> = s.iter().filter(|(_, v)| *v != 0).map(|(n, v)| format!("{n}={v}")).collect();
        println!("  nic{i} counters: {}", line.join(" "));
    }
    let s = &rep.sim;
    println!(
        "  simulated: {} cycles = {:.1} us at {} MHz; wall {:.2} s ({:.2} s clocking); simulator {:.2} M cycles/s",
        s.cycles,
        s.sim_ns as f64 / 1000.0,
        nic_abi::CLOCK_MHZ,
        rep.wall.as_secs_f64(),
        s.awake.as_secs_f64(),
        s.cycles_per_sec / 1e6
    );
}
