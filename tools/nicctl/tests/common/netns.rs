//! Linux as the stack's peer: network namespaces holding a TAP (the
//! co-simulated NIC's wire, see `nic_sim::tap`), an optional router in
//! front of a second host, and a small Python TCP peer (`peer.py`) to talk
//! to. Everything is created per test under a unique name and deleted on
//! drop.
//!
//! Needs root, `ip` (iproute2), `/dev/net/tun`, `python3` and `ping`
//! (`scripts/deps test` installs them). [`require_or_skip`] turns a missing
//! one into a visible SKIP line, or into a failure when `NIC_REQUIRE_NETNS=1`
//! (as `scripts/test` sets).
//!
//! Path MTU discovery in [`PeerNet::routed`] (pinned by tests/netns_harness.rs,
//! which writes DF frames into the router's TAP): when the router forwards a
//! packet larger than the MTU toward the peer, it answers the sender through
//! the TAP with ICMP "fragmentation needed" (type 3 code 4, next-hop MTU) or
//! ICMPv6 "packet too big" (type 2, MTU). Either a route MTU
//! ([`PeerNet::set_route_mtu`], `ip route replace DST dev veth-r mtu N`,
//! with or without `lock`: forwarding always honours a route's MTU) or the
//! veth's link MTU ([`PeerNet::set_link_mtu`]) triggers it. IPv4 packets
//! without DF are fragmented instead. IPv4 ICMP errors are rate-limited per
//! destination by default (one a second after a small burst), so the router
//! runs with `net.ipv4.icmp_ratelimit=0` (and the IPv6 equivalent).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why the namespace tests cannot run here (`None` if they can).
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespaces, TAP devices)".into());
    }
    let works = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works("ip", "-V") {
        return Some("no `ip` command (scripts/deps test installs iproute2)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun (load the tun module: modprobe tun)".into());
    }
    if !works("python3", "--version") {
        return Some("no python3 (scripts/deps test installs it)".into());
    }
    if !works("ping", "-V") {
        return Some("no ping (scripts/deps test installs iputils-ping)".into());
    }
    None
}

/// `true` if `test` can run. Otherwise prints `SKIP <test>: <reason>` to
/// stderr and returns `false` — or panics with the reason when
/// `NIC_REQUIRE_NETNS` is set, so CI cannot skip silently.
pub fn require_or_skip(test: &str) -> bool {
    match skip_reason() {
        None => true,
        Some(why) if std::env::var_os("NIC_REQUIRE_NETNS").is_some() => {
            panic!("{test}: {why}; NIC_REQUIRE_NETNS is set, so this is a failure, not a skip")
        }
        Some(why) => {
            eprintln!("SKIP {test}: {why}");
            false
        }
    }
}

/// Runs `cmd args`, turning a non-zero exit into an error naming the command.
fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{cmd} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A network namespace that exists for as long as this value: dropping it
/// kills what still runs inside (processes the test started there) and
/// deletes it.
#[derive(Debug)]
pub struct Netns {
    /// The name under /var/run/netns (`ip netns exec NAME ...`).
    pub name: String,
}

impl Netns {
    /// Creates `PREFIX-PID-N`, unique to this process and call.
    pub fn create(prefix: &str) -> Result<Netns, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run("ip", &["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip netns exec NAME args...`; a command that cannot be started comes
    /// back as exit status 127 with the reason on stderr.
    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .unwrap_or_else(|e| Output {
                status: ExitStatus::from_raw(127 << 8),
                stdout: Vec::new(),
                stderr: format!("cannot run ip netns exec: {e}").into_bytes(),
            })
    }

    /// [`Netns::exec`], with a failure as an error naming the command; the stdout on success.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = self.exec(args);
        if !out.status.success() {
            return Err(format!(
                "`{}` in namespace {} failed ({}): {}{}",
                args.join(" "),
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `ip -n NAME args...` (configuration without entering the namespace).
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Writes a sysctl of this namespace (`key` as under /proc/sys, with dots).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), String> {
        self.run(&["sysctl", "-qw", &format!("{key}={value}")])
            .map(|_| ())
    }

    /// Starts `args` inside the namespace with stdout and stderr piped.
    pub fn spawn(&self, args: &[&str]) -> std::io::Result<Child> {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the name does not end the processes inside; end the ones
        // this test started there, by pid, so none outlives the test.
        if let Ok(pids) = run("ip", &["netns", "pids", &self.name]) {
            for pid in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                // SAFETY: kill(2) on a pid listed as a member of our own namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if let Err(e) = run("ip", &["netns", "del", &self.name]) {
            eprintln!(
                "netns harness: {e}; delete it by hand with `ip netns del {}`",
                self.name
            );
        }
    }
}

/// The router's end of the veth in [`PeerNet::routed`].
pub const ROUTER_VETH: &str = "veth-r";
/// The peer's end of the veth in [`PeerNet::routed`].
pub const PEER_VETH: &str = "veth-p";
/// Linux's address on the TAP in [`PeerNet::routed`] (the NIC side's gateway).
pub const ROUTER_TAP_V4: &str = "10.0.0.1/24";
/// Linux's IPv6 address on the TAP in [`PeerNet::routed`].
pub const ROUTER_TAP_V6: &str = "fd00::1/64";
/// The router's address toward the peer.
pub const ROUTER_V4: &str = "10.0.1.1";
/// The router's IPv6 address toward the peer.
pub const ROUTER_V6: &str = "fd00:1::1";
/// The peer host behind the router.
pub const PEER_V4: &str = "10.0.1.2";
/// The peer host's IPv6 address.
pub const PEER_V6: &str = "fd00:1::2";

/// Linux on the far side of a TAP: either one namespace holding the TAP
/// ([`PeerNet::tap`]), or a router holding the TAP in front of a second
/// host ([`PeerNet::routed`]) for forwarding and path MTU tests.
///
/// Open the TAP from the test with
/// `nic_sim::tap::open_in_netns(&net.ns.name, &net.tap)`.
#[derive(Debug)]
pub struct PeerNet {
    /// The namespace holding the TAP (the router, in the routed topology).
    pub ns: Netns,
    /// The host behind the router (routed topology only).
    pub peer: Option<Netns>,
    /// The TAP's interface name.
    pub tap: String,
}

impl PeerNet {
    /// One namespace with TAP `tap` addressed `v4` (e.g. "10.0.0.1/24") and
    /// `v6` (e.g. "fd00::1/64", usable at once: no duplicate address
    /// detection), without router solicitations, link up.
    pub fn tap(prefix: &str, tap: &str, v4: &str, v6: &str) -> Result<PeerNet, String> {
        let ns = Netns::create(prefix)?;
        ns.ip(&["tuntap", "add", "dev", tap, "mode", "tap"])?;
        // Quiet IPv6 on the TAP: no router solicitations or autoconfiguration,
        // so a capture holds the test's frames (and MLD/ND for its addresses).
        for (key, value) in [
            ("accept_ra", "0"),
            ("router_solicitations", "0"),
            ("dad_transmits", "0"),
        ] {
            ns.sysctl(&format!("net.ipv6.conf.{tap}.{key}"), value)?;
        }
        ns.ip(&["addr", "add", v4, "dev", tap])?;
        ns.ip(&["addr", "add", v6, "dev", tap, "nodad"])?;
        ns.ip(&["link", "set", tap, "up"])?;
        Ok(PeerNet {
            ns,
            peer: None,
            tap: tap.to_string(),
        })
    }

    /// A router namespace holding TAP `tap` ([`ROUTER_TAP_V4`],
    /// [`ROUTER_TAP_V6`]) and a veth ([`ROUTER_VETH`], [`ROUTER_V4`]/24,
    /// [`ROUTER_V6`]/64) to a peer namespace ([`PEER_VETH`], [`PEER_V4`]/24,
    /// [`PEER_V6`]/64) whose default routes point at the router. The router
    /// forwards IPv4 and IPv6 and does not rate-limit ICMP errors.
    ///
    /// The NIC side should use 10.0.0.2/24 and fd00::2/64 with the router's
    /// TAP addresses as gateways.
    pub fn routed(prefix: &str, tap: &str) -> Result<PeerNet, String> {
        let mut net = PeerNet::tap(prefix, tap, ROUTER_TAP_V4, ROUTER_TAP_V6)?;
        let peer = Netns::create(&format!("{prefix}-peer"))?;
        let r = &net.ns;
        run(
            "ip",
            &[
                "link",
                "add",
                ROUTER_VETH,
                "netns",
                &r.name,
                "type",
                "veth",
                "peer",
                "name",
                PEER_VETH,
                "netns",
                &peer.name,
            ],
        )?;
        r.ip(&[
            "addr",
            "add",
            &format!("{ROUTER_V4}/24"),
            "dev",
            ROUTER_VETH,
        ])?;
        r.ip(&[
            "addr",
            "add",
            &format!("{ROUTER_V6}/64"),
            "dev",
            ROUTER_VETH,
            "nodad",
        ])?;
        r.ip(&["link", "set", ROUTER_VETH, "up"])?;
        peer.ip(&["addr", "add", &format!("{PEER_V4}/24"), "dev", PEER_VETH])?;
        peer.ip(&[
            "addr",
            "add",
            &format!("{PEER_V6}/64"),
            "dev",
            PEER_VETH,
            "nodad",
        ])?;
        peer.ip(&["link", "set", PEER_VETH, "up"])?;
        peer.ip(&["route", "add", "default", "via", ROUTER_V4])?;
        peer.ip(&["-6", "route", "add", "default", "via", ROUTER_V6])?;
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
            ("net.ipv4.icmp_ratelimit", "0"),
            ("net.ipv6.icmp.ratelimit", "0"),
        ] {
            r.sysctl(key, value)?;
        }
        net.peer = Some(peer);
        Ok(net)
    }

    /// The peer namespace of the routed topology.
    ///
    /// # Panics
    /// On a [`PeerNet::tap`] topology (a mistake in the test).
    pub fn peer(&self) -> &Netns {
        self.peer
            .as_ref()
            .expect("this PeerNet has no peer namespace: build it with PeerNet::routed")
    }

    /// Caps, on the router, the MTU of the route toward `dst` (an address —
    /// made a /32 or /128 host route — or a prefix): forwarded packets
    /// larger than `mtu` get ICMP "fragmentation needed" (DF set) or ICMPv6
    /// "packet too big" back to their sender. IPv6 needs `mtu >= 1280`.
    pub fn set_route_mtu(&self, dst: &str, mtu: u32) -> Result<(), String> {
        let v6 = dst.contains(':');
        let dst = match (dst.contains('/'), v6) {
            (true, _) => dst.to_string(),
            (false, false) => format!("{dst}/32"),
            (false, true) => format!("{dst}/128"),
        };
        let family = if v6 { "-6" } else { "-4" };
        let mtu = mtu.to_string();
        self.ns
            .ip(&[
                family,
                "route",
                "replace",
                &dst,
                "dev",
                ROUTER_VETH,
                "mtu",
                &mtu,
            ])
            .map(|_| ())
    }

    /// Sets the MTU of both ends of the router–peer veth (both, or frames
    /// from the peer larger than the router's end would be dropped silently).
    pub fn set_link_mtu(&self, mtu: u32) -> Result<(), String> {
        let mtu = mtu.to_string();
        self.ns
            .ip(&["link", "set", "dev", ROUTER_VETH, "mtu", &mtu])?;
        self.peer()
            .ip(&["link", "set", "dev", PEER_VETH, "mtu", &mtu])?;
        Ok(())
    }
}

/// What a [`python_peer_server`] / [`python_peer_client`] does once connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerMode {
    /// Read to EOF.
    Sink,
    /// Send `bytes` bytes of pseudo-random data from `seed`, shut down the
    /// write side, read until the other side closes.
    Source {
        /// How many bytes.
        bytes: u64,
        /// Python `random.Random(seed)`: the same seed, the same bytes.
        seed: u64,
    },
    /// Read `after` bytes, then close with SO_LINGER {1, 0}: the other side
    /// sees a reset.
    Rst {
        /// Bytes read before the reset.
        after: u64,
    },
}

/// The Python peer's closing report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerReport {
    /// Bytes received (sink, rst) or sent (source).
    pub bytes: u64,
    /// SHA-256 of those bytes, lower-case hex.
    pub sha256: String,
    /// The Python exception that ended the connection
    /// (`ConnectionResetError` when the other side reset it), if any.
    pub error: Option<String>,
    /// This peer reset the connection (rst mode).
    pub rst: bool,
}

impl PeerReport {
    fn parse(line: &str) -> Option<PeerReport> {
        let mut r = PeerReport::default();
        let mut seen = false;
        for kv in line.split_whitespace() {
            match kv.split_once('=')? {
                ("bytes", v) => {
                    r.bytes = v.parse().ok()?;
                    seen = true;
                }
                ("sha256", v) => r.sha256 = v.to_string(),
                ("error", v) => r.error = Some(v.to_string()),
                ("rst", v) => r.rst = v == "1",
                _ => {}
            }
        }
        seen.then_some(r)
    }
}

/// A running Python peer; dropping it kills the process if it still runs.
pub struct PeerProc {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    what: String,
}

/// The peer program (kept next to this file).
pub fn peer_py() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/peer.py")
}

fn spawn_peer(
    ns: &Netns,
    role: &str,
    addr: &str,
    port: u16,
    mode: PeerMode,
) -> Result<PeerProc, String> {
    let script = peer_py();
    let port = port.to_string();
    let mut args: Vec<String> = vec!["python3".into(), script.display().to_string()];
    let extra = match mode {
        PeerMode::Sink => vec!["sink".to_string()],
        PeerMode::Source { bytes, seed } => {
            vec![
                "source".into(),
                format!("--bytes={bytes}"),
                format!("--seed={seed}"),
            ]
        }
        PeerMode::Rst { after } => vec!["rst".into(), format!("--after={after}")],
    };
    args.push(extra[0].clone());
    args.extend([role.to_string(), addr.to_string(), port.clone()]);
    args.extend(extra[1..].iter().cloned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let what = format!("python peer `{}` in {}", argv[2..].join(" "), ns.name);
    let mut child = ns
        .spawn(&argv)
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take();
    std::thread::spawn(move || {
        if let Some(out) = stdout {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        }
    });
    let mut err = child.stderr.take();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    Ok(PeerProc {
        child,
        lines,
        stderr: Some(stderr),
        what,
    })
}

/// Starts a Python TCP peer in `ns` that listens on `bind`:`port` (IPv4 or
/// IPv6) for one connection and then behaves as `mode`; returns once it is
/// listening.
pub fn python_peer_server(
    ns: &Netns,
    bind: &str,
    port: u16,
    mode: PeerMode,
) -> Result<PeerProc, String> {
    let mut p = spawn_peer(ns, "listen", bind, port, mode)?;
    match p.lines.recv_timeout(Duration::from_secs(10)) {
        Ok(l) if l.starts_with("listening") => Ok(p),
        Ok(l) => Err(format!("{} did not start listening: {l}", p.what)),
        Err(_) => {
            let err = p.kill_and_stderr();
            Err(format!(
                "{} did not start listening in 10 s; stderr: {err}",
                p.what
            ))
        }
    }
}

/// Starts a Python TCP peer in `ns` that connects to `addr`:`port`
/// (retrying a refused connection for 30 s) and then behaves as `mode`.
pub fn python_peer_client(
    ns: &Netns,
    addr: &str,
    port: u16,
    mode: PeerMode,
) -> Result<PeerProc, String> {
    spawn_peer(ns, "connect", addr, port, mode)
}

impl PeerProc {
    fn kill_and_stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// Waits up to `timeout` for the peer to finish and returns its report;
    /// an error (with its stderr) if it hung, crashed or printed none.
    pub fn finish(mut self, timeout: Duration) -> Result<PeerReport, String> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let err = self.kill_and_stderr();
                    return Err(format!(
                        "{} still running after {timeout:?}; killed. stderr: {err}",
                        self.what
                    ));
                }
                Err(e) => return Err(format!("cannot wait for {}: {e}", self.what)),
            }
        };
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        // The stdout thread ends at EOF, after the process exited.
        let lines: Vec<String> = self.lines.iter().collect();
        let report = lines.iter().rev().find_map(|l| PeerReport::parse(l));
        match report {
            Some(r) if status.success() => Ok(r),
            _ => Err(format!(
                "{} exited {status} without a report; stdout: {lines:?}; stderr: {stderr}",
                self.what
            )),
        }
    }
}

impl Drop for PeerProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The stack linked in-process on a simulated NIC whose wire is `net`'s TAP (opened inside the
/// namespace), every offload on.
pub fn tap_stack(net: &PeerNet) -> nic_testbench::tapnic::TapNic {
    let mut cfg = nic_testbench::tapnic::TapNicConfig::new(&net.tap, super::up::addrs());
    cfg.netns = Some(net.ns.name.clone());
    nic_testbench::tapnic::TapNic::start(cfg).expect("stack on the TAP")
}
