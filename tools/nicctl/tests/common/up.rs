//! `nicctl up` on a TAP for the Linux-peer tests, and what they share.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nic_host::ctl::CtlClient;
use nic_host::stack::IfAddrs;

use super::netns::PeerNet;

/// One simulated NIC at a time on a two-core machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
pub const WAIT: Duration = Duration::from_secs(180);
pub const MIB: usize = 1 << 20;

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("stack_linux-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

pub fn sha256_file(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().expect("sha256sum (coreutils)");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// SHA-256 of `bytes`, lower-case hex, by coreutils' sha256sum (not our code).
pub fn sha256_bytes(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut c = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils)");
    c.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// Bytes no compressor or pattern-matcher would mistake for each other.
pub fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn addrs() -> IfAddrs {
    IfAddrs {
        v4: Some(("10.0.0.2".parse().unwrap(), 24)),
        v6: vec![("fd00::2".parse().unwrap(), 64)],
        gateway4: Some("10.0.0.1".parse().unwrap()),
        gateway6: Some("fd00::1".parse().unwrap()),
    }
}

/// `ip netns exec NS nicctl up --tap ...` in the background; killed on drop.
pub struct Up {
    child: Child,
    pub ctl: PathBuf,
    pub pcap: PathBuf,
}

impl Up {
    /// Starts it in `net`'s namespace with `extra` arguments; waits for the control socket.
    pub fn start(net: &PeerNet, tag: &str, extra: &[&str]) -> Up {
        let ctl = tmp(&format!("{tag}.sock"));
        let pcap = tmp(&format!("{tag}.pcap"));
        let log = std::fs::File::create(tmp(&format!("{tag}.log"))).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &net.ns.name, env!("CARGO_BIN_EXE_nicctl"), "up", "--tap", &net.tap]);
        cmd.args(["--addr", "10.0.0.2/24", "--addr6", "fd00::2/64", "--status-every", "2"]);
        cmd.arg("--ctl").arg(&ctl).arg("--pcap").arg(&pcap);
        cmd.args(extra);
        let child = cmd.stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("spawn nicctl up");
        let up = Up { child, ctl, pcap };
        let _ = &up.pcap;
        let t0 = Instant::now();
        while CtlClient::connect(&up.ctl).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(60), "nicctl up did not open its control socket; see {tag}.log");
            std::thread::sleep(Duration::from_millis(100));
        }
        up
    }

    pub fn status(&self) -> serde_json::Value {
        let s = CtlClient::connect(&self.ctl).unwrap().request("status").unwrap();
        serde_json::from_str(&s).unwrap()
    }

    pub fn nc(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nicctl"));
        c.arg("nc").arg("--ctl").arg(&self.ctl);
        c
    }

    /// Kills the stack process now (SIGKILL, as a crash would end it).
    #[allow(dead_code)] // not every test binary that includes this module kills its stack
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

