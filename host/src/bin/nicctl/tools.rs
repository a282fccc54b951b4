//! `nicctl nc` and `nicctl iperf`: traffic tools that use a running stack
//! through its control socket (`nicctl up --tap ...`), with netcat's and
//! iperf's conventions.

use std::io::{Read, Write};
use std::path::PathBuf;

use nic_host::ctl::{self, CtlClient, FRAME_DATA, FRAME_EOF, FRAME_ERROR};

use super::Res;

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
    let mut failed = None;
    loop {
        match ctl::read_frame(&mut rd)? {
            Some((FRAME_DATA, d)) => out.write_all(&d)?,
            Some((FRAME_EOF, _)) => {}
            Some((FRAME_ERROR, m)) => {
                failed = Some(String::from_utf8_lossy(&m).into_owned());
            }
            Some(_) => return Err("the stack sent an unknown frame kind".into()),
            None => break,
        }
    }
    out.flush()?;
    if let Some(m) = failed {
        return Err(m.into());
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
