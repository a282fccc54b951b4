//! One instance of the stack (FreeBSD's VNET: the state a network stack keeps,
//! of which a host may run several): its configuration, counters, interface
//! table, control blocks and host cache, and the queries tools make of them.
//! The files beside it act on a `Stack`; this one only holds it together.

use crate::net::ip_reass::{IpReass, ReassLimits, ReassStats};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use nic_tcp::cc::NewReno;
use nic_tcp::time::Instant;
use nic_tcp::{PathInfo, Tcb, TcbConfig};

use super::clock::{Clock, WallClock};
use super::hostcache::HostCache;
use super::iface::{IfAddrs, Iface};
use super::in_pcb::{Conn, ConnRow, PcbInfo, TxPlace};
use super::route::{path_info, route_lookup, Route};
use crate::sync::{lock, lock_read};
use crate::driver::Driver;
use crate::ifnet::Ifnet;
use crate::mbuf::IfRef;
use crate::net::neigh::{NeighConfig, NeighStats};
use crate::net::NetStats;

/// Stack-wide tunables.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Defaults for new connections.
    pub tcb: TcbConfig,
    /// Congestion control for connections that do not choose (`net.inet.tcp.cc.algorithm`).
    pub cc_default: String,
    /// Connection-table shards (a power of two).
    pub shards: usize,
    /// Host-cache capacity (hosts).
    pub hostcache_max: usize,
    /// Neighbour caches.
    pub neigh: NeighConfig,
    /// Frames each of an interface's transmit queues (one per queue pair) holds while its ring
    /// is full (`ifq_maxlen`).
    pub txq_max: usize,
    /// Longest a connection moving TX queues (an RSS change) waits for its old queue to drain
    /// before sending anyway, counted in `txq_move_timeouts`: the bound for a stalled NIC. A
    /// board drains a full ring in milliseconds; the Verilator model runs some 500 times slower
    /// in wall time, so a stack on it under load needs a longer bound to tell slow from stalled.
    pub txq_move_wait: Duration,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            tcb: TcbConfig::default(),
            cc_default: "newreno".into(),
            shards: 16,
            hostcache_max: 4096,
            neigh: NeighConfig::default(),
            txq_max: 4096,
            txq_move_wait: TXQ_MOVE_WAIT,
        }
    }
}

/// Longest a connection waits for its old TX queue to drain when RSS moves it to another, by
/// default ([`StackConfig::txq_move_wait`]).
pub(crate) const TXQ_MOVE_WAIT: Duration = Duration::from_millis(500);

impl StackConfig {
    /// Defaults for a stack on the Verilator model, which drains a ring some 500 times slower in
    /// wall time than a board: a queue move waits up to 30 s before calling the NIC stalled.
    pub fn for_simulator() -> Self {
        StackConfig { txq_move_wait: Duration::from_secs(30), ..Default::default() }
    }
}

/// Why a stack operation failed; each says what to do.
#[derive(Debug)]
pub enum StackError {
    /// No interface with this index (never attached, or departed).
    NoInterface(u16),
    /// No route to the address: no interface has a matching prefix and no gateway is set.
    NoRoute(IpAddr),
    /// The driver failed.
    Driver(crate::driver::Error),
    /// Could not start a worker thread.
    Thread(std::io::Error),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::NoInterface(i) => write!(f, "no interface with index {i} (not attached, or departed)"),
            StackError::NoRoute(a) => {
                write!(f, "no route to {a}: give the interface an address on its prefix, or a gateway")
            }
            StackError::Driver(e) => write!(f, "driver: {e}"),
            StackError::Thread(e) => write!(f, "cannot start the interface's worker thread: {e}"),
        }
    }
}

impl std::error::Error for StackError {}

/// Stack-wide counters beyond the protocol ones in [`NetStats`].
#[derive(Debug, Default)]
pub struct StackCounters {
    /// Frames not for us (another MAC), dropped.
    pub not_ours_l2: AtomicU64,
    /// IP packets for an address that is not ours, dropped.
    pub not_ours_l3: AtomicU64,
    /// RSTs sent for segments without a connection (`tcps_sndrst` for closed ports).
    pub rst_no_conn: AtomicU64,
    /// Segments to a listening port with neither SYN nor ACK (nor RST), dropped without an
    /// answer as RFC 9293 §3.10.7.2 says (FreeBSD `tcps_badsyn`).
    pub badsyn: AtomicU64,
    /// SYNs dropped because the listen queue was full.
    pub listen_overflows: AtomicU64,
    /// Frames dropped because the transmit queue was full.
    pub txq_drops: AtomicU64,
    /// Frames a departing interface still held, freed by [`Stack::detach`].
    pub purged: AtomicU64,
    /// Frames dropped because address resolution failed (host unreachable).
    pub resolve_failed: AtomicU64,
    /// Packets with no route.
    pub no_route: AtomicU64,
    /// ICMP/ICMPv6 echo requests answered.
    pub echo_replies: AtomicU64,
    /// ICMP "fragmentation needed" / ICMPv6 "packet too big" received.
    pub pmtu_msgs: AtomicU64,
    /// ... of which lowered a connection's segment size.
    pub pmtu_applied: AtomicU64,
    /// ICMP/ICMPv6/ARP messages that failed to parse or validate.
    pub bad_control: AtomicU64,
    /// Output errors (a segment the IP layer refused).
    pub output_errors: AtomicU64,
    /// Driver errors seen by the worker (it keeps going).
    pub driver_errors: AtomicU64,
    /// UDP datagrams for a port nobody has bound, dropped (`udps_noport`).
    pub udp_noport: AtomicU64,
    /// Connections whose TX queue changed because RSS changed (key, types or table).
    pub txq_moves: AtomicU64,
    /// … of which the old queue did not drain in time (the NIC stalled); sent anyway.
    pub txq_move_timeouts: AtomicU64,
}

pub(crate) struct Inner {
    pub(crate) cfg: StackConfig,
    /// Where every protocol timer reads "now" ([`Stack::now`]).
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ifaces: RwLock<Vec<Option<Arc<Iface>>>>,
    pub(crate) generations: Mutex<Vec<u32>>,
    pub(crate) pcb: PcbInfo,
    pub(crate) hostcache: Mutex<HostCache>,
    pub(crate) stats: Mutex<NetStats>,
    /// IP fragments held for reassembly (both families).
    pub(crate) reass: Mutex<IpReass>,
    pub(crate) counters: StackCounters,
}

/// The stack: cheap to clone, shared by workers, sockets and the control socket.
#[derive(Clone)]
pub struct Stack {
    pub(crate) inner: Arc<Inner>,
}

/// What [`Stack::detach`] found and freed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DetachReport {
    /// Frames queued for the interface (transmit queue, held for resolution) that were freed.
    pub frames_purged: usize,
    /// Connections routed over it, ended with `ENETDOWN` (and forgotten).
    pub conns_aborted: usize,
    /// Packets already on the NIC's TX rings without a completion when the driver stopped it
    /// (sent or not, nobody can tell); their buffers were freed with the rings.
    pub tx_unconfirmed: usize,
}

impl Default for Stack {
    fn default() -> Self {
        Stack::new(StackConfig::default())
    }
}

impl Stack {
    /// A stack with no interfaces yet, its timers on the wall clock ([`WallClock`]).
    pub fn new(cfg: StackConfig) -> Stack {
        Stack::with_clock(cfg, Arc::new(WallClock::new()))
    }

    /// A stack whose protocol timers (TCP's, the neighbour caches', the host cache's) run on
    /// `clock` rather than the wall clock: the seam a deterministic co-simulation uses to put
    /// them on simulated time.
    pub fn with_clock(cfg: StackConfig, clock: Arc<dyn Clock>) -> Stack {
        let hc = HostCache::new(cfg.hostcache_max, Duration::from_secs(3600));
        Stack {
            inner: Arc::new(Inner {
                pcb: PcbInfo::new(cfg.shards),
                cfg,
                clock,
                ifaces: RwLock::new(Vec::new()),
                generations: Mutex::new(Vec::new()),
                hostcache: Mutex::new(hc),
                stats: Mutex::new(NetStats::default()),
                reass: Mutex::new(IpReass::new(ReassLimits::default())),
                counters: StackCounters::default(),
            }),
        }
    }

    /// Now, on the stack's clock: the one place protocol code reads the time.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    /// The interfaces attached now: index and name.
    pub fn interfaces(&self) -> Vec<(u16, String)> {
        lock_read(&self.inner.ifaces).iter().flatten().map(|i| (i.ifref.index, i.name.clone())).collect()
    }

    /// The interface at `index` now, whatever its generation (tools address interfaces by index).
    pub(crate) fn iface_at(&self, index: u16) -> Option<Arc<Iface>> {
        lock_read(&self.inner.ifaces).get((index as usize).checked_sub(1)?)?.clone()
    }

    /// The interface `r` refers to, if it is still that one (same generation, not departing).
    pub(crate) fn iface(&self, r: IfRef) -> Option<Arc<Iface>> {
        self.iface_at(r.index).filter(|i| i.ifref == r && !i.departed.load(Ordering::SeqCst))
    }

    /// The index of the interface called `name` (`nic0`).
    pub fn if_index(&self, name: &str) -> Option<u16> {
        lock_read(&self.inner.ifaces).iter().flatten().find(|i| i.name == name).map(|i| i.ifref.index)
    }

    /// The addresses of interface `index`, with its link-local IPv6 address.
    pub fn if_addrs(&self, index: u16) -> Option<(IfAddrs, Ipv6Addr)> {
        self.iface_at(index).map(|i| (i.addrs.clone(), i.ll6))
    }

    /// The interface's `Ifnet` as the protocol code sees it.
    pub fn ifnet(&self, index: u16) -> Option<Ifnet> {
        self.iface_at(index).map(|i| i.ifnet())
    }

    /// Runs `f` on interface `index`'s driver (counters, capability and RSS changes). The
    /// driver serialises its own configuration changes and the stack reads the interface and
    /// RSS from it, so nothing is held around `f`; an interface departing meanwhile makes the
    /// driver's calls return [`crate::driver::Error::Detached`].
    pub fn with_driver<R>(&self, index: u16, f: impl FnOnce(&Driver) -> R) -> Result<R, StackError> {
        let i = self.iface_at(index).ok_or(StackError::NoInterface(index))?;
        if i.departed.load(Ordering::SeqCst) {
            return Err(StackError::NoInterface(index));
        }
        Ok(f(&i.drv))
    }

    /// Protocol counters (`netstat -s`).
    pub fn net_stats(&self) -> NetStats {
        *lock(&self.inner.stats)
    }

    /// What IP reassembly did (fragments, datagrams completed, refusals by cause).
    pub fn reass_stats(&self) -> ReassStats {
        lock(&self.inner.reass).stats
    }

    /// Stack counters.
    pub fn counters(&self) -> &StackCounters {
        &self.inner.counters
    }

    /// Neighbour-cache counters of interface `index` (ARP, ND).
    pub fn neigh_stats(&self, index: u16) -> Option<(NeighStats, NeighStats)> {
        let i = self.iface_at(index)?;
        let r = (lock(&i.arp).stats(), lock(&i.nd).stats());
        Some(r)
    }

    /// The connection with this tuple ([`PcbInfo::lookup`]).
    // Inlined into the receive path: this file and its callers are different codegen units.
    #[inline]
    pub(crate) fn lookup(&self, local: SocketAddr, remote: SocketAddr) -> Option<Arc<Conn>> {
        self.inner.pcb.lookup(local, remote)
    }

    pub(crate) fn insert(&self, c: Arc<Conn>) -> bool {
        self.inner.pcb.insert(c)
    }

    pub(crate) fn remove(&self, c: &Conn) {
        self.inner.pcb.remove(c)
    }

    /// Every connection and listener (netstat).
    pub fn connections(&self) -> Vec<ConnRow> {
        self.inner.pcb.connections()
    }

    /// The route to `dst` over the interfaces attached now.
    pub(crate) fn route(&self, dst: IpAddr) -> Option<Route> {
        route_lookup(lock_read(&self.inner.ifaces).iter().flatten(), dst)
    }

    /// What the path to `remote` over `route` allows now (`None`: the interface departed).
    pub(crate) fn path(&self, route: &Route, remote: IpAddr) -> Option<PathInfo> {
        Some(path_info(&*self.iface(route.ifref)?, &self.inner.hostcache, remote, self.now()))
    }

    /// Benchmark hook (docs/PERFORMANCE.md, `bench lookup`): fills the connection table with `n`
    /// established-looking connections to distinct remotes (no interface behind them: they are
    /// only looked up, never sent on) and returns their `(local, remote)` tuples.
    #[doc(hidden)]
    pub fn bench_fill(&self, n: usize) -> Vec<(SocketAddr, SocketAddr)> {
        let path = PathInfo { mtu: 1500, ip_hlen: 20, link_hlen: 14, tso: false, tso_max: 0 };
        let ifref = IfRef { index: u16::MAX, generation: 0 };
        let local: SocketAddr = "10.0.0.2:443".parse().unwrap();
        (0..n)
            .map(|i| {
                let remote = SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::from(0x0a80_0000 + (i as u32 >> 14))),
                    1024 + (i as u16 & 0x3fff),
                );
                let tcb = Tcb::connect(self.inner.cfg.tcb.clone(), local, remote, 1, &path, Box::new(NewReno::default()));
                let c = Arc::new(Conn {
                    local,
                    remote,
                    route: Route { ifref, src: local.ip(), nexthop: remote.ip() },
                    tcb: Mutex::new(tcb),
                    cv: Condvar::new(),
                    txlock: Mutex::new(TxPlace::default()),
                    listener: None,
                    handed_over: AtomicBool::new(true),
                    owned: AtomicBool::new(false),
                });
                assert!(self.insert(c), "distinct tuples");
                (local, remote)
            })
            .collect()
    }

    /// Benchmark hook: the receive path's connection lookup for each tuple (what `tcp_input`
    /// does per segment before the connection's lock); returns how many were found.
    #[doc(hidden)]
    #[inline(never)]
    pub fn bench_lookups(&self, tuples: &[(SocketAddr, SocketAddr)]) -> usize {
        tuples.iter().filter(|(l, r)| self.lookup(*l, *r).is_some()).count()
    }
}
