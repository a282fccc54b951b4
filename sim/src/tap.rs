//! A Linux TAP device as the wire of a co-simulated NIC: Linux's own stack
//! (in a network namespace, with its own tools) becomes a real peer of the
//! RTL, frame by frame.
//!
//! - [`TapDevice`] opens a TAP interface by name (`IFF_TAP | IFF_NO_PI`: whole
//!   Ethernet frames, no extra header) and brings its link up if it is down.
//! - [`TapBridge`] moves frames between a [`TapDevice`] and one NIC of a
//!   simulation whose wire is [`crate::External`] (possibly wrapped in a
//!   [`crate::PcapTap`], which records both directions): TAP → NIC with
//!   [`SimNic::inject`], NIC → TAP from [`SimNic::wait_tx`].
//!
//! Network namespaces: a TAP created with `ip tuntap add dev NAME mode tap`
//! inside a namespace is visible only from processes (threads) in that
//! namespace. Either run the whole program there
//! (`ip netns exec NS nicctl up --tap NAME`) or use [`open_in_netns`], which
//! opens it from a short-lived thread that joins the namespace; the file
//! descriptor keeps working from any thread afterwards. A TAP that does not
//! exist yet is created by the open and disappears when it is closed.

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{SimError, SimNic};

/// Shortest frame on a real Ethernet wire, without the 4-byte FCS: a sending
/// MAC pads anything shorter, so the NIC never sees less.
pub const MIN_WIRE_FRAME: usize = 60;

/// How long a bridge thread waits for a frame before it looks at its stop
/// flag again: the bound on how long [`TapBridge::stop`] takes.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Read buffer of the TAP → NIC thread: the largest frame a TAP can hand us
/// (64 KiB MTU plus Ethernet and VLAN headers), so an oversize frame is seen
/// whole and counted instead of being silently truncated by the kernel.
const READ_BUF: usize = 65536 + 18;

/// What can go wrong opening or bridging a TAP device.
#[derive(Debug)]
pub enum TapError {
    /// The interface name cannot be a Linux interface name.
    BadName {
        /// The name given.
        name: String,
        /// Why it was refused.
        why: &'static str,
    },
    /// `/dev/net/tun` could not be opened.
    OpenTun(io::Error),
    /// The kernel refused to attach to the TAP (`TUNSETIFF`).
    Attach {
        /// The interface.
        name: String,
        /// The OS error.
        source: io::Error,
    },
    /// An interface ioctl (flags, MTU) failed.
    Ioctl {
        /// The interface.
        name: String,
        /// What was being done.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The network namespace could not be entered.
    Netns {
        /// The namespace name (under `/var/run/netns`).
        netns: String,
        /// The OS error.
        source: io::Error,
    },
    /// A bridge thread could not be spawned.
    Spawn(io::Error),
    /// The simulation refused (its wire is not external, or it stopped).
    Sim(SimError),
}

impl fmt::Display for TapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TapError::BadName { name, why } => write!(
                f,
                "{name:?} is not a usable interface name ({why}); use the name shown by `ip link`, \
                 e.g. tap0"
            ),
            TapError::OpenTun(e) => write!(
                f,
                "cannot open /dev/net/tun: {e}; run as root (or with CAP_NET_ADMIN) and load the \
                 tun module (`modprobe tun`)"
            ),
            TapError::Attach { name, source } => {
                write!(f, "cannot attach to TAP {name:?}: {source}; ")?;
                match source.raw_os_error() {
                    Some(libc::EBUSY) => write!(f, "another process has it open: close that one"),
                    Some(libc::EPERM) => write!(
                        f,
                        "it belongs to another user: run as root or recreate it with \
                         `ip tuntap add dev {name} mode tap user $USER`"
                    ),
                    Some(libc::EINVAL) => write!(
                        f,
                        "an interface of that name exists but is not a TAP (a TUN, or another \
                         kind): pick another name"
                    ),
                    _ => write!(
                        f,
                        "check `ip -d link show {name}` in this network namespace"
                    ),
                }
            }
            TapError::Ioctl { name, what, source } => write!(
                f,
                "cannot {what} of {name:?}: {source}; check `ip link show {name}` in this \
                 process's network namespace"
            ),
            TapError::Netns { netns, source } => write!(
                f,
                "cannot enter network namespace {netns:?}: {source}; it must exist \
                 (`ip netns add {netns}`, listed by `ip netns list`) and this needs root"
            ),
            TapError::Spawn(e) => write!(f, "cannot spawn a TAP bridge thread: {e}"),
            TapError::Sim(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TapError::OpenTun(e) | TapError::Spawn(e) => Some(e),
            TapError::Attach { source, .. }
            | TapError::Ioctl { source, .. }
            | TapError::Netns { source, .. } => Some(source),
            TapError::Sim(e) => Some(e),
            TapError::BadName { .. } => None,
        }
    }
}

impl From<SimError> for TapError {
    fn from(e: SimError) -> Self {
        TapError::Sim(e)
    }
}

/// An open TAP interface: whole Ethernet frames in and out, no FCS.
///
/// Reads and writes take `&self`, so one thread can read while another
/// writes (the kernel allows it on one descriptor).
#[derive(Debug)]
pub struct TapDevice {
    /// `/dev/net/tun`, attached to the interface.
    fd: OwnedFd,
    /// A datagram socket for interface ioctls, created in the TAP's network
    /// namespace (a socket stays in the namespace it was made in, so the MTU
    /// can be read from any thread later).
    ctl: OwnedFd,
    name: String,
}

/// Checks `name` against the kernel's rules and returns the `ifr_name` bytes.
fn ifname(name: &str) -> Result<[libc::c_char; libc::IFNAMSIZ], TapError> {
    let bad = |why| TapError::BadName {
        name: name.to_string(),
        why,
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() >= libc::IFNAMSIZ {
        return Err(bad("longer than 15 bytes"));
    }
    if name == "." || name == ".." {
        return Err(bad("reserved"));
    }
    if name
        .bytes()
        .any(|b| b == 0 || b == b'/' || b == b'%' || b == b':' || b.is_ascii_whitespace())
    {
        // '%' would make the kernel pick a fresh name (tap%d), not open this one.
        return Err(bad("contains NUL, '/', '%', ':' or whitespace"));
    }
    let mut out = [0 as libc::c_char; libc::IFNAMSIZ];
    for (o, b) in out.iter_mut().zip(name.bytes()) {
        *o = b as libc::c_char;
    }
    Ok(out)
}

/// An `ifreq` naming the interface, with its union zeroed.
fn ifreq(name: [libc::c_char; libc::IFNAMSIZ]) -> libc::ifreq {
    // SAFETY: ifreq is a plain C struct (a name array and a union of
    // integers, sockaddrs and a pointer); all-zero bytes are a valid value.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    r.ifr_name = name;
    r
}

/// `ioctl(fd, req, &mut r)`, with errno as an `io::Error`.
fn ioctl_ifreq(fd: &OwnedFd, req: libc::c_ulong, r: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every request passed here (TUNSETIFF, SIOCGIFFLAGS,
    // SIOCSIFFLAGS, SIOCGIFMTU) reads and/or writes one `struct ifreq`, and
    // `r` is a valid, exclusively borrowed one for the duration of the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, r as *mut libc::ifreq) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl TapDevice {
    /// Attaches to the TAP interface `name` in this thread's network
    /// namespace (creating a transient one if none exists) and brings its
    /// link up if it is down.
    ///
    /// Needs root or `CAP_NET_ADMIN`. For a TAP inside a namespace, run the
    /// process there (`ip netns exec NS ...`) or use [`open_in_netns`].
    pub fn open(name: &str) -> Result<TapDevice, TapError> {
        let raw_name = ifname(name)?;
        let path = CString::new("/dev/net/tun").map_err(|e| TapError::OpenTun(e.into()))?;
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if fd < 0 {
            return Err(TapError::OpenTun(io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just returned by open() and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut r = ifreq(raw_name);
        r.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // libc types TUNSETIFF as its `Ioctl` (c_int on musl, c_ulong on glibc).
        #[allow(clippy::unnecessary_cast)]
        let tunsetiff = libc::TUNSETIFF as libc::c_ulong;
        ioctl_ifreq(&fd, tunsetiff, &mut r).map_err(|source| TapError::Attach {
            name: name.to_string(),
            source,
        })?;
        // SAFETY: plain socket(2) call with constant arguments.
        let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if s < 0 {
            return Err(TapError::Ioctl {
                name: name.to_string(),
                what: "open a control socket for the flags and MTU",
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: `s` was just returned by socket() and is owned by nobody else.
        let ctl = unsafe { OwnedFd::from_raw_fd(s) };
        let tap = TapDevice {
            fd,
            ctl,
            name: name.to_string(),
        };
        tap.ensure_up()?;
        Ok(tap)
    }

    /// Sets `IFF_UP` if it is not set: a TAP that is down drops every frame
    /// written to it, which looks like a dead wire rather than an error.
    fn ensure_up(&self) -> Result<(), TapError> {
        let err = |what| {
            move |source| TapError::Ioctl {
                name: self.name.clone(),
                what,
                source,
            }
        };
        let mut r = ifreq(ifname(&self.name)?);
        ioctl_ifreq(&self.ctl, libc::SIOCGIFFLAGS, &mut r).map_err(err("read the flags"))?;
        // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
        let flags = unsafe { r.ifr_ifru.ifru_flags };
        if flags & libc::IFF_UP as libc::c_short == 0 {
            r.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
            ioctl_ifreq(&self.ctl, libc::SIOCSIFFLAGS, &mut r).map_err(err("bring up the link"))?;
            eprintln!("nic-sim: TAP {} was down; brought its link up", self.name);
        }
        Ok(())
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface's MTU now (`SIOCGIFMTU`): Linux sends frames of at most
    /// this many bytes plus the Ethernet header.
    pub fn mtu(&self) -> Result<u32, TapError> {
        let mut r = ifreq(ifname(&self.name)?);
        ioctl_ifreq(&self.ctl, libc::SIOCGIFMTU, &mut r).map_err(|source| TapError::Ioctl {
            name: self.name.clone(),
            what: "read the MTU",
            source,
        })?;
        // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member of the union.
        Ok(unsafe { r.ifr_ifru.ifru_mtu }.max(0) as u32)
    }

    /// Waits up to `timeout` for a frame Linux sent out of the TAP and copies
    /// it into `buf`: `Ok(Some(len))`, or `Ok(None)` if none came (or a
    /// signal interrupted the wait). A frame longer than `buf` is truncated
    /// by the kernel. An error means the interface is unusable (`EBADFD`
    /// once it was deleted).
    pub fn read_frame(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `p` is one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            };
        }
        if n == 0 {
            return Ok(None);
        }
        // Readable, or an error/hang-up condition: read() says which.
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let got = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if got < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(got as usize))
    }

    /// Hands one Ethernet frame (destination MAC first, no FCS) to Linux as
    /// if it had arrived on the TAP's wire.
    pub fn write_frame(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: `frame` is valid for reads of `frame.len()` bytes.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != frame.len() {
            return Err(io::Error::other(format!(
                "the TAP took {n} of {} bytes",
                frame.len()
            )));
        }
        Ok(())
    }
}

/// Opens TAP `name` inside the network namespace `netns` (a name under
/// `/var/run/netns`, as `ip netns add` creates) without moving the calling
/// thread: a helper thread joins the namespace (`setns(CLONE_NEWNET)`
/// changes only the calling thread's namespace), opens the device and ends.
/// The returned device keeps working from any thread: its descriptors stay
/// bound to the namespace they were opened in.
pub fn open_in_netns(netns: &str, name: &str) -> Result<TapDevice, TapError> {
    if netns.is_empty() || netns.contains('/') || netns == "." || netns == ".." {
        return Err(TapError::Netns {
            netns: netns.to_string(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a namespace name"),
        });
    }
    let (netns, name) = (netns.to_string(), name.to_string());
    let t = std::thread::Builder::new()
        .name("nic-sim-netns".into())
        .spawn(move || -> Result<TapDevice, TapError> {
            let ns_err = |source| TapError::Netns {
                netns: netns.clone(),
                source,
            };
            let f = File::open(format!("/var/run/netns/{netns}")).map_err(ns_err)?;
            // SAFETY: `f` is an open namespace file; setns only reads the descriptor.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(ns_err(io::Error::last_os_error()));
            }
            TapDevice::open(&name)
        })
        .map_err(TapError::Spawn)?;
    t.join().unwrap_or_else(|_| {
        Err(TapError::Spawn(io::Error::other(
            "the namespace helper thread panicked; its message is on stderr",
        )))
    })
}

/// What a [`TapBridge`] moved. "In" is TAP → NIC (into the simulated NIC's
/// MAC), "out" is NIC → TAP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapCounters {
    /// Frames injected into the NIC.
    pub frames_in: u64,
    /// Frames written to the TAP.
    pub frames_out: u64,
    /// Bytes injected into the NIC (after padding).
    pub bytes_in: u64,
    /// Bytes written to the TAP.
    pub bytes_out: u64,
    /// Frames from the TAP shorter than 60 bytes, zero-padded to 60.
    pub runts_padded: u64,
    /// Frames from the TAP longer than [`nic_abi::MAX_FRAME`], not injected.
    pub oversize_dropped: u64,
    /// Frames the NIC marked errored (bad FCS on a real wire), not written:
    /// the receiving MAC would drop them.
    pub errored_dropped: u64,
    /// Writes to the TAP that failed (the frame is lost).
    pub write_errors: u64,
}

#[derive(Default)]
struct Counters {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    runts_padded: AtomicU64,
    oversize_dropped: AtomicU64,
    errored_dropped: AtomicU64,
    write_errors: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

struct BridgeShared {
    tap: TapDevice,
    nic: SimNic,
    stop: AtomicBool,
    counters: Counters,
    /// Why a thread ended on its own (first reason wins).
    failed: Mutex<Option<String>>,
}

impl BridgeShared {
    fn fail(&self, why: String) {
        eprintln!("nic-sim: TAP bridge on {}: {why}", self.tap.name);
        let mut f = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        f.get_or_insert(why);
    }
}

/// Makes a TAP device the wire of one simulated NIC: two threads copy frames
/// each way until [`TapBridge::stop`] or drop.
///
/// TAP → NIC: frames shorter than 60 bytes are zero-padded to 60, as the
/// sending MAC on a real Ethernet wire would (Linux hands a TAP unpadded
/// frames, e.g. 42-byte ARP); frames longer than [`nic_abi::MAX_FRAME`] are
/// dropped and counted. NIC → TAP: every frame the NIC transmits, except
/// ones it marked errored. A TAP error (the interface deleted) or a stopped
/// simulation ends the affected thread with a logged reason, readable from
/// [`TapBridge::error`].
pub struct TapBridge {
    shared: Arc<BridgeShared>,
    threads: Vec<JoinHandle<()>>,
}

impl TapBridge {
    /// Starts bridging `tap` and `nic`. The simulation's wire must be
    /// external (`SimConfig::external`, optionally inside a `PcapTap`).
    pub fn start(nic: SimNic, tap: TapDevice) -> Result<TapBridge, TapError> {
        if !nic.is_external() {
            return Err(TapError::Sim(SimError::NotExternal));
        }
        let shared = Arc::new(BridgeShared {
            tap,
            nic,
            stop: AtomicBool::new(false),
            counters: Counters::default(),
            failed: Mutex::new(None),
        });
        let mut bridge = TapBridge {
            shared,
            threads: Vec::with_capacity(2),
        };
        let name = bridge.shared.tap.name.clone();
        for (label, body) in [
            ("in", tap_to_nic as fn(&BridgeShared)),
            ("out", nic_to_tap as fn(&BridgeShared)),
        ] {
            let sh = bridge.shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("tap-{label}-{name}"))
                .spawn(move || body(&sh))
                .map_err(TapError::Spawn)?; // drop(bridge) stops the one already running
            bridge.threads.push(t);
        }
        Ok(bridge)
    }

    /// The interface being bridged.
    pub fn name(&self) -> &str {
        &self.shared.tap.name
    }

    /// What moved so far.
    pub fn counters(&self) -> TapCounters {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TapCounters {
            frames_in: g(&c.frames_in),
            frames_out: g(&c.frames_out),
            bytes_in: g(&c.bytes_in),
            bytes_out: g(&c.bytes_out),
            runts_padded: g(&c.runts_padded),
            oversize_dropped: g(&c.oversize_dropped),
            errored_dropped: g(&c.errored_dropped),
            write_errors: g(&c.write_errors),
        }
    }

    /// Why a bridge thread ended on its own (`None` while both run or after
    /// a clean [`TapBridge::stop`]).
    pub fn error(&self) -> Option<String> {
        self.shared
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops both threads and waits for them (at most about 50 ms each).
    /// Counters stay readable. Calling it again does nothing.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            // A panicking thread already printed its message; nothing to add.
            let _ = t.join();
        }
    }
}

impl Drop for TapBridge {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Zero-pads `frame` to [`MIN_WIRE_FRAME`]; `true` if it was shorter.
fn pad_runt(frame: &mut Vec<u8>) -> bool {
    if frame.len() < MIN_WIRE_FRAME {
        frame.resize(MIN_WIRE_FRAME, 0);
        true
    } else {
        false
    }
}

fn tap_to_nic(sh: &BridgeShared) {
    let mut buf = vec![0u8; READ_BUF];
    let c = &sh.counters;
    while !sh.stop.load(Ordering::Acquire) {
        let n = match sh.tap.read_frame(&mut buf, POLL_INTERVAL) {
            Ok(Some(n)) if n > 0 => n,
            Ok(_) => continue,
            Err(e) => {
                return sh.fail(format!(
                    "reading the TAP failed ({e}); the interface was probably deleted — \
                     frames from Linux no longer reach the NIC"
                ))
            }
        };
        if n > nic_abi::MAX_FRAME as usize {
            bump(&c.oversize_dropped, 1);
            continue;
        }
        let mut frame = buf[..n].to_vec();
        if pad_runt(&mut frame) {
            bump(&c.runts_padded, 1);
        }
        if let Err(e) = sh.nic.inject(&frame, false) {
            return sh.fail(format!("the simulation refused a frame: {e}"));
        }
        bump(&c.frames_in, 1);
        bump(&c.bytes_in, frame.len() as u64);
    }
}

/// errno values that mean the TAP is gone for good, not one lost frame.
fn tap_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADFD) | Some(libc::ENODEV) | Some(libc::ENXIO)
    )
}

fn nic_to_tap(sh: &BridgeShared) {
    let c = &sh.counters;
    while !sh.stop.load(Ordering::Acquire) {
        let frames = match sh.nic.wait_tx(POLL_INTERVAL) {
            Ok(f) => f,
            Err(e) => return sh.fail(format!("the simulation stopped: {e}")),
        };
        for f in frames {
            if f.errored {
                bump(&c.errored_dropped, 1);
                continue;
            }
            match sh.tap.write_frame(&f.data) {
                Ok(()) => {
                    bump(&c.frames_out, 1);
                    bump(&c.bytes_out, f.data.len() as u64);
                }
                Err(e) if tap_gone(&e) => {
                    bump(&c.write_errors, 1);
                    return sh.fail(format!(
                        "writing the TAP failed ({e}); the interface was probably deleted — \
                         frames from the NIC no longer reach Linux"
                    ));
                }
                // One lost frame (the link is down, the kernel is short of memory): count it.
                Err(_) => bump(&c.write_errors, 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{External, PcapTap, Sim, SimConfig};
    use std::process::Command;
    use std::time::Instant;

    #[test]
    fn interface_names_are_checked() {
        for bad in ["", "0123456789abcdef", "a/b", "tap%d", "a b", "..", "a:1"] {
            assert!(
                matches!(ifname(bad), Err(TapError::BadName { .. })),
                "{bad:?} accepted"
            );
        }
        let n = ifname("tap0").unwrap();
        assert_eq!(
            &n[..5],
            &[b't' as libc::c_char, b'a' as _, b'p' as _, b'0' as _, 0]
        );
        assert!(ifname("0123456789abcde").is_ok(), "15 bytes is the limit");
        let e = TapDevice::open("a/b").unwrap_err().to_string();
        assert!(e.contains("interface name"), "{e}");
        let e = open_in_netns("../x", "tap0").unwrap_err().to_string();
        assert!(e.contains("ip netns add"), "{e}");
    }

    #[test]
    fn runts_are_padded_to_the_wire_minimum() {
        let mut f = vec![0xaa; 42];
        assert!(pad_runt(&mut f));
        assert_eq!(f.len(), 60);
        assert!(f[..42].iter().all(|&b| b == 0xaa) && f[42..].iter().all(|&b| b == 0));
        let mut f = vec![1; 60];
        assert!(!pad_runt(&mut f));
        assert_eq!(f.len(), 60);
    }

    /// Why this machine cannot run the root tests, if it cannot.
    fn skip_reason() -> Option<String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("needs root (network namespaces and TAP devices)".into());
        }
        if !std::path::Path::new("/dev/net/tun").exists() {
            return Some("no /dev/net/tun (load the tun module)".into());
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return Some("no `ip` command (apt-get install iproute2)".into());
        }
        None
    }

    /// `false` (and a SKIP line) when the test cannot run here; with
    /// `NIC_REQUIRE_NETNS=1` (scripts/test) a missing prerequisite fails instead.
    fn can_run(test: &str) -> bool {
        match skip_reason() {
            None => true,
            Some(why) if std::env::var_os("NIC_REQUIRE_NETNS").is_some() => {
                panic!("{test}: {why}, and NIC_REQUIRE_NETNS is set")
            }
            Some(why) => {
                eprintln!("SKIP {test}: {why}");
                false
            }
        }
    }

    fn ip(args: &[&str]) {
        let out = Command::new("ip").args(args).output().expect("run ip");
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A network namespace with a TAP `tap0` holding 10.9.0.1/24, link left
    /// down (opening it must bring it up); deleted on drop.
    struct Ns(String);

    impl Ns {
        fn new(tag: &str) -> Ns {
            let ns = Ns(format!("nicsim-{tag}-{}", std::process::id()));
            let _ = Command::new("ip").args(["netns", "del", &ns.0]).output();
            ip(&["netns", "add", &ns.0]);
            ip(&["-n", &ns.0, "tuntap", "add", "dev", "tap0", "mode", "tap"]);
            ip(&["-n", &ns.0, "addr", "add", "10.9.0.1/24", "dev", "tap0"]);
            ns
        }
        fn sh(&self, script: &str) -> std::process::Output {
            Command::new("ip")
                .args(["netns", "exec", &self.0, "sh", "-c", script])
                .output()
                .expect("run ip netns exec")
        }
    }

    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
        }
    }

    const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

    /// An ARP request from 10.9.0.2 (`OUR_MAC`) for 10.9.0.1.
    fn arp_who_has_linux() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&OUR_MAC);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&OUR_MAC);
        f.extend_from_slice(&[10, 9, 0, 2]);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&[10, 9, 0, 1]);
        f
    }

    fn is_arp(f: &[u8], op: u8, target_ip: [u8; 4]) -> bool {
        f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[21] == op && f[38..42] == target_ip
    }

    #[test]
    fn tap_device_talks_to_linux_in_a_namespace() {
        if !can_run("tap_device_talks_to_linux_in_a_namespace") {
            return;
        }
        let ns = Ns::new("dev");
        let tap = open_in_netns(&ns.0, "tap0").expect("open the TAP in the namespace");
        assert_eq!(tap.name(), "tap0");
        assert_eq!(tap.mtu().expect("MTU"), 1500);
        let link = ns.sh("ip link show tap0");
        let link = String::from_utf8_lossy(&link.stdout);
        assert!(link.contains(",UP"), "open brought the link up: {link}");
        // Linux answers our ARP request through the TAP.
        tap.write_frame(&arp_who_has_linux()).expect("write");
        let mut buf = vec![0u8; 2048];
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut answered = false;
        while Instant::now() < deadline && !answered {
            if let Some(n) = tap
                .read_frame(&mut buf, Duration::from_millis(100))
                .expect("read")
            {
                answered = is_arp(&buf[..n], 2, [10, 9, 0, 2]) && buf[..6] == OUR_MAC;
            }
        }
        assert!(answered, "no ARP reply from Linux for 10.9.0.1");
        // Deleting the interface is an error on the descriptor, not a hang or a panic.
        ip(&["-n", &ns.0, "link", "del", "tap0"]);
        let e = tap
            .read_frame(&mut buf, Duration::from_secs(1))
            .expect_err("read after the TAP was deleted");
        assert!(tap_gone(&e), "errno {:?}: {e}", e.raw_os_error());
        let e = tap
            .write_frame(&arp_who_has_linux())
            .expect_err("write after delete");
        assert!(tap_gone(&e), "errno {:?}: {e}", e.raw_os_error());
    }

    #[test]
    fn linux_frames_reach_the_simulated_mac_through_the_bridge() {
        if !can_run("linux_frames_reach_the_simulated_mac_through_the_bridge") {
            return;
        }
        let ns = Ns::new("bridge");
        let dir = std::env::temp_dir().join(format!("nic-sim-tap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pcap = dir.join("wire.pcap");
        let sim = Sim::start(SimConfig::new(
            PcapTap::create(&pcap, External::new(1)).unwrap(),
        ))
        .unwrap();
        let tap = open_in_netns(&ns.0, "tap0").unwrap();
        let mut bridge = TapBridge::start(sim.nic(0), tap).unwrap();
        // Any IPv4 datagram to 10.9.0.2 makes Linux ask who has it (a 42-byte
        // ARP); bash's /dev/udp sends one without needing ping.
        let deadline = Instant::now() + Duration::from_secs(10);
        while bridge.counters().runts_padded == 0 && Instant::now() < deadline {
            ns.sh("bash -c 'echo x > /dev/udp/10.9.0.2/9' 2>/dev/null");
            std::thread::sleep(Duration::from_millis(200));
        }
        let c = bridge.counters();
        assert!(c.frames_in >= 1 && c.runts_padded >= 1, "{c:?}");
        assert_eq!(bridge.error(), None);
        // Deleting the TAP ends the bridge with a reason, promptly, without a panic.
        ip(&["-n", &ns.0, "link", "del", "tap0"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while bridge.error().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let why = bridge.error().expect("the bridge noticed the TAP is gone");
        assert!(why.contains("deleted"), "{why}");
        let t = Instant::now();
        bridge.stop();
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "stop took {:?}",
            t.elapsed()
        );
        let stats = sim.stats().unwrap();
        drop(sim); // flushes the capture
        let mut r = pcap_file::pcap::PcapReader::new(File::open(&pcap).unwrap()).unwrap();
        let mut seen = false;
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            seen |= p.data.len() == 60 && is_arp(&p.data, 1, [10, 9, 0, 2]);
        }
        assert!(
            seen,
            "the ARP request, padded to 60 bytes, is on the sim's wire ({} frames captured)",
            stats.wire.pcap_frames
        );
        assert!(
            stats.nics[0].mac.rx_frames >= 1,
            "the MAC model took it: {stats}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
