//! The control socket: how tools reach a running stack (`nicctl up`), the
//! way FreeBSD's tools reach the kernel through sockets and ioctls.
//!
//! A Unix stream socket. The client writes one request line; the server
//! answers with one line, `ok …` or `err <message>`. `connect` and `listen`
//! then turn the socket into the TCP connection's data path, in frames so
//! that an orderly close, a reset and an error stay distinguishable:
//!
//! ```text
//! request  := "connect" ADDR PORT [cc=NAME] | "listen" PORT
//!           | "iperf-send" ADDR PORT BYTES SECS [cc=NAME] | "iperf-recv" PORT
//!           | "status" | "detach" IFINDEX | "shutdown"
//!           | "ifinfo" [IFNAME] | "setcap" IFNAME REQCAP | "netstat"
//!           | "rss" [IFNAME [SETTING]]
//! SETTING  := "key" HEX80 | "types" NAME[,NAME…] | "reta" Q[,Q…] | "reta" "spread" N
//! frame    := kind:u8 len:u32be bytes
//! kind     := 'D' data | 'E' end of data (FIN) | 'A' abort (client: RST) | 'X' error (server, UTF-8 text)
//! ```
//!
//! `iperf-send` / `iperf-recv` run the transfer inside the stack process
//! (the data never crosses the control socket) and answer with one JSON line
//! of bytes, wall time and simulated cycles.
//!
//! `rss` answers with a JSON array, one object per interface ([`rss_json`]):
//! key, enabled and supported hash types (`nic_abi::rss::enable` names),
//! the indirection table, whether the NIC's registers hold what the driver
//! programmed, and the NIC's per-queue counters. With a SETTING it changes
//! that one thing at run time (connections move their transmit queue after
//! it, in order: [`crate::stack`]) and answers with the interface's object.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod json;
mod server;

pub use json::rss_json;
use json::{ifinfo_json, rss_request, status_json};
pub use server::{CtlConfig, CtlCounters, CtlServer, CycleClock, WireStats};
use server::Ctx;

use crate::stack::socket::SockOpts;
use crate::stack::{Stack, TcpStream};

/// Frame kinds on the data path.
pub const FRAME_DATA: u8 = b'D';
/// The sender is done (TCP: FIN).
pub const FRAME_EOF: u8 = b'E';
/// Client to server: reset the connection.
pub const FRAME_ABORT: u8 = b'A';
/// Server to client: the connection failed; the payload says why.
pub const FRAME_ERROR: u8 = b'X';

/// Where `nicctl up` listens and the tools connect, unless told otherwise.
pub fn default_path() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
        return Path::new(&d).join("nicctl.sock");
    }
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    PathBuf::from(format!("/tmp/nicctl-{uid}.sock"))
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, kind: u8, data: &[u8]) -> io::Result<()> {
    let mut h = [0u8; 5];
    h[0] = kind;
    h[1..].copy_from_slice(&(data.len() as u32).to_be_bytes());
    w.write_all(&h)?;
    w.write_all(data)
}

/// Largest frame accepted (a peer that claims more is broken).
const MAX_FRAME: usize = 1 << 20;

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 5];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("control frame of {len} bytes")));
    }
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok(Some((h[0], data)))
}

impl CtlServer {
    /// Listens at `path` (replacing a stale socket no one answers on) with the default limits.
    pub fn start(stack: Stack, path: &Path, clock: Option<CycleClock>) -> io::Result<CtlServer> {
        Self::start_with(stack, path, CtlConfig { clock, ..Default::default() })
    }

    /// Listens at `path` with `cfg`'s limits and serves `stack`'s requests.
    pub fn start_with(stack: Stack, path: &Path, cfg: CtlConfig) -> io::Result<CtlServer> {
        Self::listen(path, cfg, move |c, ctx| {
            if let Err(e) = serve(&stack, c, ctx) {
                log::info!("control connection: {e}");
            }
        })
    }
}

/// The result of an `iperf-*` request.
#[derive(Clone, Debug, PartialEq)]
pub struct IperfReport {
    /// Payload bytes moved.
    pub bytes: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Simulated cycles elapsed (0 without a simulator).
    pub cycles: u64,
    /// Simulated nanoseconds.
    pub sim_ns: u64,
    /// Retransmitted segments (sender side).
    pub rexmits: u64,
    /// Segment size used.
    pub mss: u32,
    /// TSO bursts sent.
    pub tso_bursts: u64,
}

impl IperfReport {
    /// As one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "bytes": self.bytes, "wall_s": self.wall_s, "cycles": self.cycles, "sim_ns": self.sim_ns,
            "rexmits": self.rexmits, "mss": self.mss, "tso_bursts": self.tso_bursts,
        })
    }
}

fn parse_addr(host: &str, port: &str) -> Result<SocketAddr, String> {
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| format!("{host:?} is not an IPv4 or IPv6 address (names are not resolved)"))?;
    let port: u16 = port.parse().map_err(|_| format!("{port:?} is not a port number"))?;
    Ok(SocketAddr::new(ip, port))
}

fn opts_from(words: &[&str]) -> SockOpts {
    let cc = words.iter().find_map(|w| w.strip_prefix("cc=")).map(str::to_string);
    SockOpts { cc, tcb: None }
}

fn serve(stack: &Stack, c: UnixStream, ctx: &Ctx) -> io::Result<()> {
    let mut rd = BufReader::new(c.try_clone()?);
    let mut w = c;
    let mut line = String::new();
    let bump = |a: &std::sync::atomic::AtomicU64| a.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // A silent client gives its place back (the timeout covers every request line).
    w.set_read_timeout(Some(ctx.request_timeout))?;
    let words: Vec<String> = loop {
        line.clear();
        // One request line, bounded: a client that never sends a newline cannot grow it.
        match (&mut rd).take(4096).read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                bump(&ctx.counters.timeouts);
                return writeln!(w, "err no request line within {:?}; closing", ctx.request_timeout);
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                bump(&ctx.counters.bad_requests);
                return writeln!(w, "err a request is a line of UTF-8 text");
            }
            Err(e) => return Err(e),
        }
        if !line.ends_with('\n') {
            bump(&ctx.counters.bad_requests);
            return writeln!(w, "err a request is one line of at most 4096 bytes");
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        // Queries and settings answer one line each; a client may send several.
        match simple(stack, &words, ctx) {
            Some(r) => writeln!(w, "{r}")?,
            None => break words.iter().map(|w| w.to_string()).collect(),
        }
    };
    // Sessions (a TCP connection's data, a transfer) take as long as they take.
    w.set_read_timeout(None)?;
    let clock = &ctx.clock;
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let reply = |w: &mut UnixStream, s: String| writeln!(w, "{s}");
    match words.as_slice() {
        ["connect", host, port, rest @ ..] => {
            let dst = match parse_addr(host, port) {
                Ok(a) => a,
                Err(e) => return reply(&mut w, format!("err {e}")),
            };
            match stack.tcp_connect(dst, opts_from(rest)) {
                Ok(s) => {
                    reply(&mut w, format!("ok {} {}", s.local_addr(), s.peer_addr()))?;
                    pump(s, rd, w)
                }
                Err(e) => reply(&mut w, format!("err connect to {dst}: {e}")),
            }
        }
        ["listen", port, rest @ ..] => match accept_one(stack, port, opts_from(rest), &mut w)? {
            Some(s) => {
                reply(&mut w, format!("ok accepted {}", s.peer_addr()))?;
                pump(s, rd, w)
            }
            None => Ok(()),
        },
        ["iperf-send", host, port, bytes, secs, rest @ ..] => {
            let dst = match parse_addr(host, port) {
                Ok(a) => a,
                Err(e) => return reply(&mut w, format!("err {e}")),
            };
            let (Ok(bytes), Ok(secs)) = (bytes.parse::<u64>(), secs.parse::<f64>()) else {
                return reply(&mut w, "err iperf-send wants BYTES and SECS as numbers".into());
            };
            if !(secs.is_finite() && (0.0..=86400.0).contains(&secs)) {
                return reply(&mut w, format!("err iperf-send: {secs} s is not a duration of 0 to 86400 s"));
            }
            match iperf_send(stack, dst, bytes, secs, opts_from(rest), clock.as_ref()) {
                Ok(r) => reply(&mut w, format!("ok {}", r.to_json())),
                Err(e) => reply(&mut w, format!("err iperf to {dst}: {e}")),
            }
        }
        ["iperf-recv", port] => match accept_one(stack, port, SockOpts::default(), &mut w)? {
            Some(s) => match iperf_recv(s, clock.as_ref()) {
                Ok(r) => reply(&mut w, format!("ok {}", r.to_json())),
                Err(e) => reply(&mut w, format!("err iperf receive: {e}")),
            },
            None => Ok(()),
        },
        _ => reply(
            &mut w,
            format!("err unknown request {:?}; see nic_host::ctl for the protocol", line.trim_end()),
        ),
    }
}

/// `listen` and `iperf-recv`: listens on `[::]:port`, answers "ok listening", accepts one
/// connection and stops listening. `None` when it answered an error instead.
fn accept_one(stack: &Stack, port: &str, opts: SockOpts, w: &mut UnixStream) -> io::Result<Option<TcpStream>> {
    let Ok(port) = port.parse::<u16>() else {
        writeln!(w, "err {port:?} is not a port number")?;
        return Ok(None);
    };
    let l = match stack.tcp_listen(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port), 8, opts) {
        Ok(l) => l,
        Err(e) => {
            writeln!(w, "err listen on port {port}: {e}")?;
            return Ok(None);
        }
    };
    writeln!(w, "ok listening {}", l.local_addr())?;
    // Until a peer comes, watch the client: one that went away (killed, ^C) takes the listener
    // with it, instead of leaving the port listening for nobody (a later peer's data would be
    // accepted into a queue no one reads). The client sends nothing before "accepted".
    // (O_NONBLOCK belongs to the socket, shared with `w` and the reader: set back before return.)
    let probe = w.try_clone()?;
    probe.set_nonblocking(true)?;
    let mut early_data = false;
    let got = loop {
        match l.accept_timeout(Duration::from_millis(250)) {
            Ok(Some(s)) => break Ok(Some(s)),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        match (&probe).read(&mut [0u8; 1]) {
            Ok(0) => break Ok(None),
            Ok(_) => {
                early_data = true;
                break Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => break Ok(None),
        }
    };
    probe.set_nonblocking(false)?;
    if early_data {
        writeln!(w, "err data before the connection was accepted; wait for \"accepted\"")?;
    }
    got
}

/// The requests that answer with one line and leave the connection open for more.
fn simple(stack: &Stack, words: &[&str], ctx: &Ctx) -> Option<String> {
    let r = match words {
        ["status"] => format!("ok {}", status_json(stack, ctx)),
        ["ifinfo", rest @ ..] => {
            let names: Vec<String> = match rest {
                [] => stack.interfaces().into_iter().map(|(_, n)| n).collect(),
                [n] => vec![n.to_string()],
                _ => return Some("err ifinfo takes at most one interface name".into()),
            };
            let mut v = Vec::new();
            for n in &names {
                match ifinfo_json(stack, n) {
                    Some(j) => v.push(j),
                    None => return Some(format!("err interface {n} does not exist")),
                }
            }
            format!("ok {}", serde_json::Value::Array(v))
        }
        ["setcap", name, req] => {
            let Some(index) = stack.if_index(name) else {
                return Some(format!("err ENXIO interface {name} does not exist"));
            };
            let Some(req) = req.strip_prefix("0x").and_then(|h| u32::from_str_radix(h, 16).ok()) else {
                return Some(format!("err EINVAL {req:?} is not a hexadecimal capability word"));
            };
            // SIOCSIFCAP refuses bits the interface does not have (ifconfig masks them first).
            let unsupported = stack.ifnet(index).map_or(0, |i| req & !i.if_capabilities);
            if unsupported != 0 {
                return Some(format!("err EINVAL capabilities 0x{unsupported:x} are not supported by {name}"));
            }
            match stack.with_driver(index, |d| d.set_capenable(req)) {
                Ok(Ok(c)) => {
                    format!("ok {}", serde_json::json!({"old": c.old, "new": c.new, "messages": c.messages}))
                }
                Ok(Err(e)) => format!("err {} {e}", e.errno_name()),
                Err(e) => format!("err ENXIO {e}"),
            }
        }
        ["rss", rest @ ..] => match rss_request(stack, rest) {
            Ok(v) => format!("ok {v}"),
            Err(e) => format!("err {e}"),
        },
        ["netstat"] => {
            let rows: Vec<serde_json::Value> = stack
                .connections()
                .into_iter()
                .map(|r| {
                    serde_json::json!({"proto": r.proto, "recv_q": r.rcv_q, "send_q": r.snd_q,
                        "local": r.local.to_string(), "foreign": r.remote.to_string(), "state": r.state})
                })
                .collect();
            format!("ok {}", serde_json::Value::Array(rows))
        }
        ["shutdown"] => {
            ctx.shutdown.store(true, std::sync::atomic::Ordering::SeqCst);
            "ok stopping".into()
        }
        ["detach", idx] => match idx.parse::<u16>().map_err(|e| e.to_string()).and_then(|i| {
            stack.detach(i).map_err(|e| e.to_string())
        }) {
            Ok(r) => {
                format!("ok {}", serde_json::json!({"frames_purged": r.frames_purged, "conns_aborted": r.conns_aborted}))
            }
            Err(e) => format!("err detach {idx}: {e}"),
        },
        _ => return None,
    };
    Some(r)
}


/// Moves data between the control socket's frames and the TCP connection until both directions end.
fn pump(s: TcpStream, mut rd: BufReader<UnixStream>, mut w: UnixStream) -> io::Result<()> {
    let mut tx = s.try_clone()?;
    let up = std::thread::spawn(move || -> io::Result<()> {
        let r = pump_up(&mut rd, &mut tx);
        if r.is_err() {
            // The client is gone or broken: the connection must not wait for data that never comes.
            tx.abort();
        }
        r
    });
    fn pump_up(rd: &mut BufReader<UnixStream>, tx: &mut TcpStream) -> io::Result<()> {
        loop {
            match read_frame(rd)? {
                Some((FRAME_DATA, d)) => tx.write_all(&d)?,
                Some((FRAME_EOF, _)) => return tx.shutdown(Shutdown::Write),
                Some((FRAME_ABORT, _)) | None => {
                    tx.abort();
                    return Ok(());
                }
                Some((k, _)) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown frame kind {k}")));
                }
            }
        }
    }
    let mut rx = s;
    let mut buf = vec![0u8; 64 << 10];
    let r = loop {
        match rx.read(&mut buf) {
            Ok(0) => break write_frame(&mut w, FRAME_EOF, &[]),
            Ok(n) => {
                if let Err(e) = write_frame(&mut w, FRAME_DATA, &buf[..n]) {
                    rx.abort();
                    break Err(e);
                }
            }
            Err(e) => break write_frame(&mut w, FRAME_ERROR, e.to_string().as_bytes()),
        }
    };
    // The peer's side is done; our sending side finishes on its own (or was aborted).
    let up = up.join().unwrap_or_else(|_| Err(io::Error::other("control pump thread panicked")));
    if let Err(e) = &up {
        let _ = write_frame(&mut w, FRAME_ERROR, e.to_string().as_bytes());
    }
    // Wait for our FIN to be acknowledged so the tool exits only when everything arrived.
    let _ = rx.wait_closed(Duration::from_secs(30));
    r
}

fn cycles(clock: Option<&CycleClock>) -> u64 {
    clock.map_or(0, |c| c())
}

/// Sends `bytes` (or for `secs` when `bytes` is 0) of a repeating pattern to `dst`, then closes.
pub fn iperf_send(
    stack: &Stack,
    dst: SocketAddr,
    bytes: u64,
    secs: f64,
    opts: SockOpts,
    clock: Option<&CycleClock>,
) -> io::Result<IperfReport> {
    let mut s = stack.tcp_connect(dst, opts)?;
    let buf: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (t0, c0) = (Instant::now(), cycles(clock));
    let until = (bytes == 0).then(|| t0 + Duration::from_secs_f64(secs.max(0.1)));
    let mut sent = 0u64;
    while until.map_or(sent < bytes, |u| Instant::now() < u) {
        let n = if bytes > 0 { (bytes - sent).min(buf.len() as u64) as usize } else { buf.len() };
        s.write_all(&buf[..n])?;
        sent += n as u64;
    }
    s.shutdown(Shutdown::Write)?;
    s.wait_closed(Duration::from_secs(60))?;
    Ok(report(&s, sent, t0, c0, clock))
}

/// What an iperf run measured, from its start (`t0`, cycle `c0`) until now.
fn report(s: &TcpStream, bytes: u64, t0: Instant, c0: u64, clock: Option<&CycleClock>) -> IperfReport {
    let info = s.info();
    let cycles = cycles(clock) - c0;
    IperfReport {
        bytes,
        wall_s: t0.elapsed().as_secs_f64(),
        cycles,
        sim_ns: nic_sim_ns(cycles),
        rexmits: info.stats.rexmit_segs,
        mss: info.t_maxseg,
        tso_bursts: info.stats.tso_bursts,
    }
}

/// Counts what arrives on `s` until the peer closes.
pub fn iperf_recv(mut s: TcpStream, clock: Option<&CycleClock>) -> io::Result<IperfReport> {
    let mut buf = vec![0u8; 256 << 10];
    let (t0, c0) = (Instant::now(), cycles(clock));
    let mut got = 0u64;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    Ok(report(&s, got, t0, c0, clock))
}

/// Cycles of the core clock as nanoseconds.
fn nic_sim_ns(cycles: u64) -> u64 {
    nic_abi::cycles_to_ns(cycles)
}

/// A client's connection to a running stack.
pub struct CtlClient {
    rd: BufReader<UnixStream>,
    w: UnixStream,
}

impl CtlClient {
    /// Connects to the stack listening at `path`.
    pub fn connect(path: &Path) -> io::Result<CtlClient> {
        let s = UnixStream::connect(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "no stack answers at {} ({e}); start one with `nicctl up --tap IFNAME ...` or pass --ctl",
                    path.display()
                ),
            )
        })?;
        Ok(CtlClient { rd: BufReader::new(s.try_clone()?), w: s })
    }

    /// Sends a request line and returns the text after `ok `, or the server's error.
    pub fn request(&mut self, line: &str) -> io::Result<String> {
        writeln!(self.w, "{line}")?;
        self.reply()
    }

    /// Reads one more reply line (`listen` answers twice: listening, then accepted).
    pub fn reply(&mut self) -> io::Result<String> {
        let mut r = String::new();
        if self.rd.read_line(&mut r)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stack closed the control connection"));
        }
        let r = r.trim_end();
        match r.strip_prefix("ok") {
            Some(rest) => Ok(rest.trim_start().to_string()),
            None => Err(io::Error::other(r.strip_prefix("err ").unwrap_or(r).to_string())),
        }
    }

    /// The data path, after `connect`/`listen`: reader and writer halves.
    pub fn into_data(self) -> (BufReader<UnixStream>, UnixStream) {
        (self.rd, self.w)
    }
}

#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use crate::dev::sim::{test_serial, SimDevice};
    use crate::driver::{Driver, DriverConfig};
    use crate::stack::{IfAddrs, StackConfig};
    use std::sync::Arc;

    /// `rss` through a real control socket, on the Verilator model's RSS block (2 queue pairs):
    /// show, change each setting (read back from the NIC), refusals with errno.
    #[test]
    fn rss_requests_show_and_change_an_interface() {
        let _one = test_serial();
        let sim = nic_sim::Sim::start(nic_sim::SimConfig::loopback()).unwrap();
        let dev = SimDevice::new(sim.nic(0), 4 << 20).unwrap();
        let drv = Driver::attach_with(Arc::new(dev), DriverConfig { tx_ring_log2: 4, rx_ring_log2: 4, ..Default::default() })
            .unwrap();
        let stack = Stack::new(StackConfig::default());
        let addrs = IfAddrs { v4: Some(("10.7.0.1".parse().unwrap(), 24)), ..Default::default() };
        stack.attach(drv, addrs).unwrap();
        let path = std::env::temp_dir().join(format!("nicctl-rss-test-{}.sock", std::process::id()));
        let _srv = CtlServer::start(stack.clone(), &path, None).unwrap();
        let mut c = CtlClient::connect(&path).unwrap();

        let all: serde_json::Value = serde_json::from_str(&c.request("rss").unwrap()).unwrap();
        let i = &all[0];
        assert_eq!((i["name"].as_str(), i["queues"].as_u64(), i["present"].as_bool()), (Some("nic0"), Some(2), Some(true)));
        assert_eq!(i["key"], crate::driver::key_hex(&nic_abi::rss::KEY_DEFAULT));
        assert_eq!(i["types"].as_array().unwrap().len(), 6);
        assert_eq!((i["reta"][4].as_u64(), i["reta"][5].as_u64()), (Some(0), Some(1)));
        assert_eq!(i["in_nic"], true);
        assert_eq!(i["queue_stats"].as_array().unwrap().len(), 2);

        let v: serde_json::Value = serde_json::from_str(&c.request("rss nic0 reta spread 1").unwrap()).unwrap();
        assert_eq!((v["reta"][3].as_u64(), v["in_nic"].as_bool()), (Some(0), Some(true)));
        let v: serde_json::Value = serde_json::from_str(&c.request("rss nic0 reta 1,0").unwrap()).unwrap();
        let reta = (v["reta"][0].as_u64(), v["reta"][127].as_u64());
        assert_eq!((reta, v["in_nic"].as_bool()), ((Some(1), Some(0)), Some(true)));
        let v: serde_json::Value = serde_json::from_str(&c.request("rss nic0 types tcp4,udp6").unwrap()).unwrap();
        assert_eq!((&v["types"], v["in_nic"].as_bool()), (&serde_json::json!(["tcp4", "udp6"]), Some(true)));
        let key = "00".repeat(39) + "01";
        let v: serde_json::Value = serde_json::from_str(&c.request(&format!("rss nic0 key {key}")).unwrap()).unwrap();
        assert_eq!((v["key"].as_str(), v["in_nic"].as_bool()), (Some(key.as_str()), Some(true)));
        assert!(v["generation"].as_u64().unwrap() >= 4);

        for (req, want) in [
            ("rss nic0 reta 0,2", "EINVAL"),
            ("rss nic0 types tcp4,sctp", "EINVAL"),
            ("rss nic0 key 1234", "EINVAL"),
            ("rss nic0 reta spread 3", "EINVAL"),
            ("rss nic0 hash x", "EINVAL"),
            ("rss nic9", "ENXIO"),
            ("rss nic9 reta 0", "ENXIO"),
        ] {
            let e = c.request(req).unwrap_err().to_string();
            assert!(e.starts_with(want), "{req}: {e}");
        }
        drop(c);
        let _ = std::fs::remove_file(&path);
        stack.detach(1).unwrap();
    }
}

#[cfg(test)]
mod flood_tests {
    use super::*;
    use crate::stack::StackConfig;
    use std::sync::atomic::Ordering;

    /// 10 000 clients that connect and say nothing: the server serves at most `max_conns` of
    /// them (threads stay bounded), turns the rest away at once with the reason, drops the
    /// silent ones after the request timeout, and a tool that comes then is served, with the
    /// refusals counted in `status`. A request that is not UTF-8 gets an `err` line, not a
    /// silent close.
    #[test]
    fn ten_thousand_silent_clients_neither_exhaust_the_server_nor_keep_tools_out() {
        let stack = Stack::new(StackConfig::default());
        let path = std::env::temp_dir().join(format!("nicctl-flood-test-{}.sock", std::process::id()));
        let cfg = CtlConfig { max_conns: 64, request_timeout: Duration::from_millis(400), ..Default::default() };
        let srv = CtlServer::start_with(stack, &path, cfg).unwrap();
        let n = srv.counters();
        let mut silent = Vec::with_capacity(10_000);
        for i in 0..10_000 {
            silent.push(UnixStream::connect(&path).unwrap_or_else(|e| panic!("client {i}: {e}")));
            assert!(n.open.load(Ordering::SeqCst) <= 64, "at most max_conns served at once");
        }
        let t0 = Instant::now();
        while n.busy.load(Ordering::SeqCst) + n.served.load(Ordering::SeqCst) < 10_000 {
            assert!(t0.elapsed() < Duration::from_secs(30), "every client was taken or turned away: {n:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(n.busy.load(Ordering::SeqCst) > 9_000, "most were turned away at once: {n:?}");
        // The last one was turned away, and told why.
        let mut why = String::new();
        BufReader::new(silent.last().unwrap()).read_line(&mut why).unwrap();
        assert!(why.starts_with("err busy"), "{why}");
        // The silent ones that were taken give their places back after the timeout.
        while n.open.load(Ordering::SeqCst) > 0 {
            assert!(t0.elapsed() < Duration::from_secs(60), "silent clients were dropped: {n:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(n.timeouts.load(Ordering::SeqCst) >= 64, "{n:?}");
        drop(silent);
        // A tool now: served, and `status` says what was refused.
        let mut c = CtlClient::connect(&path).unwrap();
        let st: serde_json::Value = serde_json::from_str(&c.request("status").unwrap()).unwrap();
        assert!(st["ctl"]["busy"].as_u64().unwrap() > 9_000, "{}", st["ctl"]);
        assert!(st["ctl"]["timeouts"].as_u64().unwrap() >= 64, "{}", st["ctl"]);
        // Not UTF-8: an answer that says so, counted.
        let mut u = UnixStream::connect(&path).unwrap();
        u.write_all(b"stat\xff\xfeus\n").unwrap();
        let mut line = String::new();
        BufReader::new(&u).read_line(&mut line).unwrap();
        assert!(line.starts_with("err") && line.contains("UTF-8"), "{line}");
        assert!(n.bad_requests.load(Ordering::SeqCst) >= 1);
    }
}
