//! `nicctl nc` and `nicctl iperf`: traffic tools that use a running stack
//! through its control socket (`nicctl up --tap ...`), with netcat's and
//! iperf's conventions.

use std::io::{Read, Write};
use std::path::PathBuf;

use nic_host::ctl::{self, CtlClient, FRAME_DATA, FRAME_EOF, FRAME_ERROR};

use crate::res::Res;

/// `nicctl nc`.
#[derive(clap::Args, Debug)]
pub struct NcArgs {
    /// Control socket of the running stack.
    #[arg(long, value_name = "PATH")]
    ctl: Option<PathBuf>,
    /// Listen for one connection on this port (then HOST PORT are not given).
    #[arg(short = 'l', value_name = "PORT")]
    listen: Option<u16>,
    /// Congestion control for the connection (newreno, cubic).
    #[arg(long)]
    cc: Option<String>,
    /// Host (IPv4 or IPv6 address) and port to connect to.
    #[arg(num_args = 0..=2)]
    target: Vec<String>,
}

/// `nicctl iperf`.
#[derive(clap::Args, Debug)]
pub struct IperfArgs {
    /// Control socket of the running stack.
    #[arg(long, value_name = "PATH")]
    ctl: Option<PathBuf>,
    /// Server: accept one connection and count what arrives.
    #[arg(short = 's', conflicts_with = "client")]
    server: bool,
    /// Client: send to this host (IPv4 or IPv6 address).
    #[arg(short = 'c', value_name = "HOST")]
    client: Option<String>,
    /// Port.
    #[arg(short = 'p', default_value_t = 5201)]
    port: u16,
    /// Seconds to send (client), unless -n is given.
    #[arg(short = 't', default_value_t = 10.0)]
    time: f64,
    /// Bytes to send (client); e.g. 64M, 16M, 100K.
    #[arg(short = 'n', value_parser = parse_size)]
    bytes: Option<u64>,
    /// Congestion control (newreno, cubic).
    #[arg(long)]
    cc: Option<String>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().map(|n| n * mul).map_err(|_| format!("{s:?} is not a size (e.g. 64M)"))
}

fn client(p: &Option<PathBuf>) -> Result<CtlClient, Box<dyn std::error::Error>> {
    Ok(CtlClient::connect(&p.clone().unwrap_or_else(ctl::default_path))?)
}

/// Copies standard input to the connection and the connection to standard output; exits
/// when the peer has closed and everything we sent was acknowledged.
pub fn nc(a: NcArgs) -> Res {
    let mut c = client(&a.ctl)?;
    let cc = a.cc.as_ref().map(|n| format!(" cc={n}")).unwrap_or_default();
    match (a.listen, a.target.as_slice()) {
        (Some(port), []) => {
            c.request(&format!("listen {port}{cc}"))?;
            let peer = c.reply()?;
            eprintln!("nicctl nc: connection from {}", peer.trim_start_matches("accepted "));
        }
        (None, [host, port]) => {
            c.request(&format!("connect {host} {port}{cc}"))?;
        }
        _ => return Err("usage: nicctl nc HOST PORT, or nicctl nc -l PORT".into()),
    }
    let (mut rd, mut w) = c.into_data();
    let up = std::thread::spawn(move || -> std::io::Result<()> {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = stdin.read(&mut buf)?;
            if n == 0 {
                return ctl::write_frame(&mut w, FRAME_EOF, &[]);
            }
            ctl::write_frame(&mut w, FRAME_DATA, &buf[..n])?;
        }
    });
    let mut out = std::io::stdout().lock();
    let mut peer_closed = false;
    loop {
        match ctl::read_frame(&mut rd) {
            Ok(Some((FRAME_DATA, d))) => out.write_all(&d)?,
            Ok(Some((FRAME_EOF, _))) => peer_closed = true,
            Ok(Some((FRAME_ERROR, m))) => {
                // Reset, timed out, interface gone: the connection is over whatever standard
                // input still holds, so is this process (with the reason, not a success).
                out.flush()?;
                return Err(String::from_utf8_lossy(&m).into_owned().into());
            }
            Ok(Some(_)) => return Err("the stack sent an unknown frame kind".into()),
            Ok(None) => break,
            Err(e) if peer_closed => return Err(format!("the control connection failed after the peer closed: {e}").into()),
            Err(e) => return Err(format!("the stream was cut short: the control connection failed ({e})").into()),
        }
    }
    out.flush()?;
    if !peer_closed {
        // The stack went away (killed, crashed) before the peer's FIN: what arrived is a prefix.
        return Err("the stream was cut short: the stack closed the control connection before the peer closed".into());
    }
    // Standard input may still be open (an interactive terminal): the peer closed, so are we.
    if up.is_finished() {
        if let Ok(Err(e)) = up.join() {
            return Err(format!("sending standard input: {e}").into());
        }
    }
    Ok(())
}

/// Runs the transfer inside the stack process and prints throughput in simulated and wall time.
pub fn iperf(a: IperfArgs) -> Res {
    let mut c = client(&a.ctl)?;
    let cc = a.cc.as_ref().map(|n| format!(" cc={n}")).unwrap_or_default();
    let json = if a.server {
        let l = c.request(&format!("iperf-recv {}", a.port))?;
        eprintln!("nicctl iperf: {l}");
        c.reply()?
    } else if let Some(host) = &a.client {
        c.request(&format!("iperf-send {host} {} {} {}{cc}", a.port, a.bytes.unwrap_or(0), a.time))?
    } else {
        return Err("give -s (server) or -c HOST (client)".into());
    };
    let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| format!("bad report from the stack: {e}"))?;
    let bytes = v["bytes"].as_u64().unwrap_or(0);
    let wall = v["wall_s"].as_f64().unwrap_or(0.0);
    let sim_ns = v["sim_ns"].as_u64().unwrap_or(0);
    let mbit = |b: u64, s: f64| if s > 0.0 { b as f64 * 8.0 / s / 1e6 } else { 0.0 };
    println!(
        "{} {} bytes in {:.2} s wall ({:.1} Mbit/s), {} cycles = {:.3} ms simulated ({:.0} Mbit/s in simulated time); mss {}, {} retransmitted segments, {} TSO bursts",
        if a.server { "received" } else { "sent" },
        bytes,
        wall,
        mbit(bytes, wall),
        v["cycles"].as_u64().unwrap_or(0),
        sim_ns as f64 / 1e6,
        mbit(bytes, sim_ns as f64 / 1e9),
        v["mss"],
        v["rexmits"],
        v["tso_bursts"],
    );
    println!("{json}");
    Ok(())
}

/// Asks the running stack to stop.
pub fn shutdown(ctl: Option<PathBuf>) -> Res {
    client(&ctl)?.request("shutdown")?;
    Ok(())
}

/// `nicctl ifconfig`.
#[derive(clap::Args, Debug)]
pub struct IfconfigArgs {
    /// Control socket of the running stack.
    #[arg(long, value_name = "PATH")]
    ctl: Option<PathBuf>,
    /// Also print `capabilities=` (what the hardware can do).
    #[arg(short = 'm')]
    m: bool,
    /// Interface (`nic0`); every interface when omitted.
    ifname: Option<String>,
    /// Capability words (`txcsum`, `-tso4`, …), applied in order.
    #[arg(allow_hyphen_values = true)]
    words: Vec<String>,
}

/// `nicctl netstat`.
#[derive(clap::Args, Debug)]
pub struct NetstatArgs {
    /// Control socket of the running stack.
    #[arg(long, value_name = "PATH")]
    ctl: Option<PathBuf>,
    /// Numeric addresses (the stack has no resolver: always numeric; accepted for muscle memory).
    #[arg(short = 'n')]
    n: bool,
    /// Include listening sockets.
    #[arg(short = 'a')]
    a: bool,
}

fn ifinfo(c: &mut CtlClient, name: Option<&str>) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
    let r = c.request(format!("ifinfo {}", name.unwrap_or("")).trim_end())?;
    match serde_json::from_str::<serde_json::Value>(&r)? {
        serde_json::Value::Array(v) => Ok(v),
        _ => Err("bad ifinfo answer from the stack".into()),
    }
}

fn u32_of(v: &serde_json::Value) -> u32 {
    v.as_u64().unwrap_or(0) as u32
}

/// FreeBSD's ifconfig output for one interface.
fn print_if(i: &serde_json::Value, m: bool) {
    use nic_host::ifnet::format_caps;
    let name = i["name"].as_str().unwrap_or("?");
    // UP, BROADCAST, RUNNING, SIMPLEX, MULTICAST: what an attached Ethernet interface shows.
    println!("{name}: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu {}", i["mtu"]);
    println!("\t{}", format_caps("options", u32_of(&i["capenable"])));
    if m {
        println!("\t{}", format_caps("capabilities", u32_of(&i["capabilities"])));
    }
    println!("\tether {}", i["lladdr"].as_str().unwrap_or(""));
    for a in i["inet"].as_array().into_iter().flatten() {
        let (addr, len) = (a[0].as_str().unwrap_or(""), a[1].as_u64().unwrap_or(0) as u32);
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len.min(32)) };
        let ip: std::net::Ipv4Addr = addr.parse().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
        let bcast = std::net::Ipv4Addr::from(u32::from(ip) | !mask);
        println!("\tinet {addr} netmask 0x{mask:08x} broadcast {bcast}");
    }
    for a in i["inet6"].as_array().into_iter().flatten() {
        let (addr, len) = (a[0].as_str().unwrap_or(""), a[1].as_u64().unwrap_or(0));
        if addr.starts_with("fe80:") {
            println!("\tinet6 {addr}%{name} prefixlen {len} scopeid 0x{:x}", i["index"].as_u64().unwrap_or(0));
        } else {
            println!("\tinet6 {addr} prefixlen {len}");
        }
    }
    println!("\tmedia: Ethernet autoselect (co-simulated NIC)");
    println!("\tstatus: active");
}

/// Shows interfaces, or changes capabilities the way FreeBSD's ifconfig does: one
/// `SIOCSIFCAP` per word, computed from the current set, nothing sent when unchanged.
pub fn ifconfig(a: IfconfigArgs) -> Res {
    let mut c = client(&a.ctl)?;
    if a.words.is_empty() {
        for i in ifinfo(&mut c, a.ifname.as_deref())? {
            print_if(&i, a.m);
        }
        return Ok(());
    }
    let name = a.ifname.clone().unwrap_or_default();
    // Every word must be one before anything is sent.
    for w in &a.words {
        if nic_host::ifnet::ifcap_word(w.trim_start_matches('-')).is_none() {
            return Err(nic_host::ifnet::CapError::UnknownWord(w.clone()).to_string().into());
        }
    }
    for w in &a.words {
        let info = ifinfo(&mut c, Some(&name))?;
        let i = info.first().ok_or("the stack answered with no interface")?;
        let mut ifp = nic_host::ifnet::Ifnet::new(&name, 0, u32_of(&i["capabilities"]), [0; 6]);
        ifp.if_capenable = u32_of(&i["capenable"]);
        let Some(req) = ifp.cap_request(w)? else { continue };
        match c.request(&format!("setcap {name} 0x{req:x}")) {
            Ok(r) => {
                let v: serde_json::Value = serde_json::from_str(&r)?;
                for m in v["messages"].as_array().into_iter().flatten() {
                    eprintln!("{}", m.as_str().unwrap_or(""));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                let (errno, why) = msg.split_once(' ').unwrap_or(("", &msg));
                return Err(format!("{name}: SIOCSIFCAP ({w}): {errno}: {why}").into());
            }
        }
    }
    Ok(())
}

/// FreeBSD's netstat address: `a.b.c.d.port`, `v6addr.port`, `*.port`, `*.*`.
fn netstat_addr(s: &str) -> String {
    let Ok(a) = s.parse::<std::net::SocketAddr>() else { return s.to_string() };
    let host = if a.ip().is_unspecified() { "*".to_string() } else { a.ip().to_string() };
    let port = if a.port() == 0 { "*".to_string() } else { a.port().to_string() };
    format!("{host}.{port}")
}

/// Lists the stack's sockets as FreeBSD's netstat does.
pub fn netstat(a: NetstatArgs) -> Res {
    let _ = a.n;
    let mut c = client(&a.ctl)?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&c.request("netstat")?)?;
    println!("Active Internet connections{}", if a.a { " (including servers)" } else { "" });
    println!("{:<5} {:>6} {:>6} {:<22} {:<22} (state)", "Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address");
    for r in rows {
        let state = r["state"].as_str().unwrap_or("");
        // Servers: listening TCP sockets and unconnected UDP ones (FreeBSD shows both only with -a).
        if (state == "LISTEN" || r["foreign"].as_str().is_some_and(|f| f.ends_with(":0"))) && !a.a {
            continue;
        }
        println!(
            "{:<5} {:>6} {:>6} {:<22} {:<22} {}",
            r["proto"].as_str().unwrap_or(""),
            r["recv_q"].as_u64().unwrap_or(0),
            r["send_q"].as_u64().unwrap_or(0),
            netstat_addr(r["local"].as_str().unwrap_or("")),
            netstat_addr(r["foreign"].as_str().unwrap_or("")),
            state
        );
    }
    Ok(())
}

/// The demo's second part: two stacks on the cable, a TCP transfer each way per family
/// (TSO and checksum offload on), while the first stack serves its control socket.
pub fn demo_tcp(
    bytes: usize,
    pcap: &std::path::Path,
    ctl: Option<PathBuf>,
    hold: u64,
    faults: Option<nic_sim::FaultConfig>,
) -> Res {
    use nic_testbench::cable::CablePair;
    use nic_host::stack::socket::SockOpts;
    use nic_host::stack::IfAddrs;
    use std::net::{Shutdown, SocketAddr};
    use std::time::{Duration, Instant};
    let addrs = |n: u8| IfAddrs {
        v4: Some((std::net::Ipv4Addr::new(10, 1, 0, n), 24)),
        v6: vec![(format!("fd01::{n}").parse().expect("literal"), 64)],
        gateway4: None,
        gateway6: None,
    };
    let tcp_pcap = pcap.with_file_name(format!(
        "{}-tcp.pcap",
        pcap.file_stem().and_then(|s| s.to_str()).unwrap_or("demo")
    ));
    let pair = match faults {
        Some(f) => CablePair::start_faulty(addrs(1), addrs(2), Some(tcp_pcap.clone()), f),
        None => CablePair::start(addrs(1), addrs(2), Some(tcp_pcap.clone())),
    }
    .map_err(|e| e.to_string())?;
    let ctl = ctl.unwrap_or_else(nic_host::ctl::default_path);
    println!("nicctl demo, part 2: TCP between two stacks (nic0 10.1.0.1 / fd01::1 <-cable-> 10.1.0.2 / fd01::2), every offload on");
    // A demo does not fail because another stack already serves the default socket.
    let ctl_cfg = nic_host::ctl::CtlConfig { clock: Some(pair.clock()), wire: Some(pair.wire_stats()), ..Default::default() };
    let server = match nic_host::ctl::CtlServer::start_with(pair.a.clone(), &ctl, ctl_cfg) {
        Ok(s) => {
            println!("  control socket {} (try: nicctl ifconfig -m nic0; nicctl netstat -a; with --hold N)", ctl.display());
            Some(s)
        }
        Err(e) => {
            println!("  no control socket: {e}");
            None
        }
    };
    let l = pair.b.tcp_listen("[::]:5001".parse()?, 4, SockOpts::default())?;
    let payload: Vec<u8> = (0..bytes).map(|i| (i * 31 + i / 977) as u8).collect();
    for dst in ["10.1.0.2:5001", "[fd01::2]:5001"] {
        let dst: SocketAddr = dst.parse()?;
        let (t0, c0) = (Instant::now(), pair.cycles());
        let sender = {
            let (stack, payload) = (pair.a.clone(), payload.clone());
            std::thread::spawn(move || -> std::io::Result<nic_host::stack::TcpInfo> {
                let mut s = stack.tcp_connect(dst, SockOpts::default())?;
                s.write_all(&payload)?;
                s.shutdown(Shutdown::Write)?;
                s.wait_closed(Duration::from_secs(120))?;
                Ok(s.info())
            })
        };
        let mut r = l.accept_timeout(Duration::from_secs(60))?.ok_or("no connection within 60 s")?;
        let mut got = Vec::with_capacity(bytes);
        r.read_to_end(&mut got)?;
        drop(r);
        let info = sender.join().map_err(|_| "sender panicked")??;
        if got != payload {
            return Err(format!("{dst}: received {} bytes that differ from the {} sent", got.len(), bytes).into());
        }
        let (wall, cyc) = (t0.elapsed().as_secs_f64(), pair.cycles() - c0);
        println!(
            "  {dst}: {bytes} bytes intact in {wall:.2} s wall ({:.0} Mbit/s), {cyc} cycles ({:.2} ms simulated); MSS {}, {} TSO bursts, {} retransmitted",
            bytes as f64 * 8.0 / wall / 1e6,
            nic_abi::cycles_to_ns(cyc) as f64 / 1e6,
            info.t_maxseg,
            info.stats.tso_bursts,
            info.stats.rexmit_segs
        );
    }
    let st = pair.a.net_stats();
    println!(
        "  nic0's stack: checksums left to the NIC {} (TX) / trusted from it {} (RX), computed in software {} / {}",
        st.csum.tx_hw, st.csum.l4_hw, st.csum.tx_sw, st.csum.l4_sw
    );
    if let Some((i, _)) = pair.a.interfaces().first() {
        let hw = pair.a.with_driver(*i, |d| d.hw_stats())?.map_err(|e| e.to_string())?;
        let line: Vec<String> = hw.iter().filter(|(_, v)| *v != 0).map(|(n, v)| format!("{n}={v}")).collect();
        println!("  nic0 counters: {}", line.join(" "));
    }
    println!("  wrote {}", tcp_pcap.display());
    if hold > 0 {
        println!("  holding {hold} s for nicctl ifconfig / netstat (nicctl shutdown ends it) ...");
        let until = Instant::now() + Duration::from_secs(hold);
        while Instant::now() < until && !server.as_ref().is_some_and(|s| s.shutdown_requested()) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}
