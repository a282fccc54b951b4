//! The TCP/IP stack over the driver: interfaces, neighbours, ICMP, TCP
//! connections and sockets, modelled on FreeBSD.
//!
//! Contract and invariants (the lifecycle lessons the seeds teach):
//! - **Interfaces are referred to by index and generation** ([`IfRef`]), never
//!   by pointer. Connections keep the `IfRef` of their route; a lookup that
//!   finds the index empty or reused is a departed interface, and the
//!   connection ends with `ENETDOWN`. [`Stack::detach`] takes the interface
//!   out of the table first, stops all its workers, frees everything queued
//!   for it (every transmit queue, frames held for address resolution; frames
//!   that arrive for it later are freed on the spot), counting each, aborts
//!   its connections, and only then shuts the driver down, so nothing it
//!   owned outlives it.
//! - **No lock is held across a send.** Protocol state (a connection's
//!   `Tcb`, a neighbour cache) is locked to decide what to send, unlocked,
//!   and only then are frames handed to the driver, whose own lock never
//!   calls back into the stack.
//! - **Connection lookup is sharded by the flow hash** (the Toeplitz hash of
//!   the tuple as it arrives, under the default key): a segment takes only
//!   its shard's lock; listening sockets are found from every shard in their
//!   own table.
//! - **Offloads follow the interface**: segments ask for checksums and TSO,
//!   `ip_output` leaves to the NIC what `if_hwassist` takes and computes the
//!   rest; a TSO burst becomes software segments (GSO) when TSO is off.
//!   Received checksums are trusted as far as the NIC marked them.
//! - **One worker thread per queue pair** (FreeBSD's per-queue taskqueue):
//!   worker `q` sleeps on its queue's interrupt vector, takes the frames RSS
//!   steered to RX queue `q`, reclaims and refills TX queue `q`, and runs the
//!   timers of the connection-table shards `s` with `s % queues == q` (so the
//!   workers together scan each connection once per tick, not once each);
//!   worker 0 also ages the neighbour caches. No lock of the interface or the
//!   driver is common to two workers. Applications send from their own
//!   threads.
//! - **A connection transmits on the queue pair it receives on**: its TX
//!   queue is the RX queue the NIC's RSS gives its packets (the Toeplitz hash
//!   of the tuple as it *arrives*, remote as source, looked up in the driver's
//!   shadow of the indirection table: [`crate::driver::RssConfig`]), so its
//!   frames stay in order on one ring. Frames that belong to no connection
//!   (ARP, neighbour discovery, ICMP, UDP) go on queue 0 unless they carry a
//!   hash.
//! - **Ordering when RSS changes** (key, types or table, at run time): a
//!   connection notices the new RSS generation the next time it sends and
//!   recomputes its queue. If the queue changes, before its next frame is
//!   queued on the new one the stack waits (holding only that connection's
//!   send order) until every frame the connection queued on the old TX queue
//!   has left the software queue and the NIC has completed every packet posted
//!   to the old ring up to then. The NIC writes a TX completion only once the
//!   packet's frames have left its output stage (ABI 2.0), so the connection's
//!   frames reach the wire in the order it sent them. The
//!   wait is bounded (a stalled NIC is counted in `txq_move_timeouts` and the
//!   frame goes out anyway). Frames held for address resolution are queued,
//!   when resolved, on the queue the table names then. On receive, frames in
//!   flight during the switch may arrive on the old queue after newer ones on
//!   the new queue; TCP tolerates that reordering, and it can only affect
//!   frames already in flight.
//!
//! Time is wall-clock time ([`Instant`]): the peer across a TAP is a real
//! kernel whose timers run on the same clock, so RTTs and RTOs are measured
//! as it sees them (the simulated NIC's slowness is part of the path).
//! Fragments are dropped with a counter (no reassembly): the stack never
//! sends any, and path-MTU discovery keeps peers from needing to.

pub mod cc;
pub mod hostcache;
mod input;
#[cfg(all(test, feature = "sim"))]
mod mq_tests;
pub mod socket;
pub mod tcb;
pub mod udp;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nic_abi::csum::{CSUM_IP6_TSO, CSUM_IP_TSO};

use crate::driver::Driver;
use crate::ifnet::Ifnet;
use crate::mbuf::{IfRef, Mbuf};
use crate::net::neigh::{Hold, NeighCache, NeighConfig, NeighStats};
use crate::net::tcp::TcpOut;
use crate::net::{
    arp, icmp6, ether, tcp_output_segment, tcp_output_tso, IpOut, Ipv4Out, Ipv6Out, LinkOut, NetStats,
};
use crate::offload;

pub use socket::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use tcb::{TcbConfig, TcpError, TcpInfo, TcpState};

use hostcache::HostCache;
use tcb::{PathInfo, SegOut, Tcb};

/// Addresses and routes of one interface (what `ifconfig` and `route add default` set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfAddrs {
    /// IPv4 address and prefix length.
    pub v4: Option<(Ipv4Addr, u8)>,
    /// IPv6 addresses and prefix lengths (a link-local one is added from the MAC).
    pub v6: Vec<(Ipv6Addr, u8)>,
    /// IPv4 default gateway.
    pub gateway4: Option<Ipv4Addr>,
    /// IPv6 default gateway.
    pub gateway6: Option<Ipv6Addr>,
}

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

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// One transmit queue of an interface, in front of one TX ring (FreeBSD's per-ring
/// `buf_ring`): frames wait here while the ring is full. Each frame carries the ticket it
/// was queued with (free-running), so a connection can tell when all it queued has left.
#[derive(Default)]
struct SndQueue {
    frames: VecDeque<Mbuf>,
    /// `tickets[i]` is the ticket of `frames[i]` (a burst cut in software keeps its ticket).
    tickets: VecDeque<u64>,
    /// Tickets handed out so far (the last frame queued has this one).
    pushed: u64,
}

/// One attached interface.
pub(crate) struct Iface {
    pub(crate) ifref: IfRef,
    pub(crate) name: String,
    /// The driver, shared by the queues' workers and the senders; shut down by `detach` once
    /// every worker has stopped.
    drv: Arc<Driver>,
    pub(crate) addrs: IfAddrs,
    pub(crate) ll6: Ipv6Addr,
    arp: Mutex<NeighCache<Ipv4Addr>>,
    nd: Mutex<NeighCache<Ipv6Addr>>,
    /// One transmit queue per queue pair of the driver.
    snd: Box<[Mutex<SndQueue>]>,
    departed: AtomicBool,
    ip_id: AtomicU16,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Iface {
    fn lladdr(&self) -> [u8; 6] {
        self.drv.lladdr()
    }

    /// The interface as the protocol code reads it now (capabilities change under ifconfig).
    pub(crate) fn ifnet(&self) -> Ifnet {
        self.drv.ifnet()
    }

    /// The TX queue of a frame that belongs to no connection: the RX queue of its hash when it
    /// carries one, else queue 0.
    fn queue_of_frame(&self, m: &Mbuf) -> u16 {
        match m.pkthdr.rsstype {
            nic_abi::rss::hashtype::NONE => 0,
            _ => self.drv.rss_queue(m.pkthdr.flowid),
        }
    }

    /// Whether `a` is one of this interface's unicast addresses.
    pub(crate) fn has_addr(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => self.has_v4(a),
            IpAddr::V6(a) => self.has_v6(a),
        }
    }

    /// The IP header for a packet from `src` to `dst` (IPv4's gets the next identification);
    /// `None` when the two are of different families.
    pub(crate) fn ip_out(&self, src: IpAddr, dst: IpAddr) -> Option<IpOut> {
        match (src, dst) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mut o = Ipv4Out::new(a, b);
                o.id = self.ip_id.fetch_add(1, Ordering::Relaxed);
                Some(IpOut::V4(o))
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => Some(IpOut::V6(Ipv6Out::new(a, b))),
            _ => None,
        }
    }

    pub(crate) fn has_v4(&self, a: Ipv4Addr) -> bool {
        self.addrs.v4.is_some_and(|(x, _)| x == a)
    }

    pub(crate) fn has_v6(&self, a: Ipv6Addr) -> bool {
        a == self.ll6 || self.addrs.v6.iter().any(|(x, _)| *x == a)
    }

    /// Whether `a` is one of our addresses, or a multicast group we are in (all-nodes, our solicited-node groups).
    pub(crate) fn accepts_v6(&self, a: Ipv6Addr) -> bool {
        if self.has_v6(a) || a == Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1) {
            return true;
        }
        std::iter::once(self.ll6).chain(self.addrs.v6.iter().map(|(x, _)| *x)).any(|x| icmp6::solicited_node(x) == a)
    }
}

/// A route: the interface, our source address, and the next hop to resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) ifref: IfRef,
    pub(crate) src: IpAddr,
    pub(crate) nexthop: IpAddr,
}

/// Where a connection's frames go out: the TX queue chosen under an RSS generation, kept so
/// the choice only changes at a point where nothing of the connection is left in the old queue
/// (see the module docs, "Ordering when RSS changes").
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TxPlace {
    /// The interface and RSS generation the choice was made under; `None`: not placed yet.
    placed: Option<(IfRef, u64)>,
    /// The hash and `M_HASHTYPE` the NIC gives the connection's received packets.
    hash: u32,
    rsstype: u8,
    /// The TX queue.
    queue: u16,
    /// Ticket of the connection's last frame queued on `queue` (0: none).
    ticket: u64,
}

/// One connection as the stack holds it.
pub(crate) struct Conn {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) route: Route,
    pub(crate) tcb: Mutex<Tcb>,
    /// Signalled whenever the connection's state changes (data, window, state, error).
    pub(crate) cv: Condvar,
    /// Held from producing segments (under `tcb`) until they are queued on the interface, so two
    /// threads sending for one connection keep its segments in order on the wire, without the
    /// protocol lock being held across the send. Taken only while holding `tcb`. Holds where
    /// the connection's frames go out.
    pub(crate) txlock: Mutex<TxPlace>,
    /// The listener to hand it to once established (passive opens).
    pub(crate) listener: Option<Arc<socket::ListenShared>>,
    pub(crate) handed_over: AtomicBool,
    /// Whether an application handle exists (accepted or connected).
    pub(crate) owned: AtomicBool,
}

type ConnKey = (SocketAddr, SocketAddr);

pub(crate) struct Inner {
    pub(crate) cfg: StackConfig,
    ifaces: RwLock<Vec<Option<Arc<Iface>>>>,
    generations: Mutex<Vec<u32>>,
    shards: Vec<Mutex<HashMap<ConnKey, Arc<Conn>>>>,
    pub(crate) listeners: Mutex<HashMap<u16, Arc<socket::ListenShared>>>,
    pub(crate) udp: Mutex<HashMap<u16, Arc<udp::UdpShared>>>,
    hostcache: Mutex<HostCache>,
    next_port: Mutex<u16>,
    iss_key: std::collections::hash_map::RandomState,
    epoch: Instant,
    pub(crate) stats: Mutex<NetStats>,
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

/// A row of the connection table (netstat).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnRow {
    /// netstat's protocol column: `tcp4`, `tcp6`, `tcp46` (a listener taking both families),
    /// or `toe4`/`toe6` for a connection offloaded to the NIC's TCP engine (`TF_TOE`; this NIC
    /// has no engine yet, so none is).
    pub proto: &'static str,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address (unspecified for listeners).
    pub remote: SocketAddr,
    /// State (`LISTEN` is shown for listeners).
    pub state: String,
    /// Recv-Q.
    pub rcv_q: usize,
    /// Send-Q.
    pub snd_q: usize,
    /// Details, for established connections.
    pub info: Option<TcpInfo>,
}

/// The smallest path MTU accepted from "too big" messages: RFC 1191's 576-byte
/// datagram every IPv4 host takes (FreeBSD's `tcp_minmss` floor), IPv6's 1280.
pub(crate) fn min_mtu(v6: bool) -> u32 {
    if v6 {
        1280
    } else {
        576
    }
}

/// Protocol family's TSO bit in `if_hwassist`.
fn tso_flag(v6: bool) -> u32 {
    if v6 {
        CSUM_IP6_TSO
    } else {
        CSUM_IP_TSO
    }
}

/// The link-local address from a MAC (RFC 4291 §2.5.1 modified EUI-64).
pub fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    Ipv6Addr::from([
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5],
    ])
}

fn prefix_match(a: IpAddr, net: IpAddr, len: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len.min(32) as u32) };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if len == 0 { 0 } else { u128::MAX << (128 - len.min(128) as u32) };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

impl Default for Stack {
    fn default() -> Self {
        Stack::new(StackConfig::default())
    }
}

impl Stack {
    /// A stack with no interfaces yet.
    pub fn new(cfg: StackConfig) -> Stack {
        let shards = cfg.shards.max(1).next_power_of_two();
        let hc = HostCache::new(cfg.hostcache_max, Duration::from_secs(3600));
        Stack {
            inner: Arc::new(Inner {
                shards: (0..shards).map(|_| Mutex::new(HashMap::new())).collect(),
                cfg,
                ifaces: RwLock::new(Vec::new()),
                generations: Mutex::new(Vec::new()),
                listeners: Mutex::new(HashMap::new()),
                udp: Mutex::new(HashMap::new()),
                hostcache: Mutex::new(hc),
                next_port: Mutex::new(49152 + (std::process::id() % 10000) as u16),
                iss_key: std::collections::hash_map::RandomState::new(),
                epoch: Instant::now(),
                stats: Mutex::new(NetStats::default()),
                counters: StackCounters::default(),
            }),
        }
    }

    /// Attaches a driver as the next interface (`nic0`, `nic1`, …) with
    /// `addrs`, and starts one worker per queue pair. Returns the interface index.
    pub fn attach(&self, drv: Driver, addrs: IfAddrs) -> Result<u16, StackError> {
        let (slot, generation) = {
            let ifaces = lock_read(&self.inner.ifaces);
            let slot = ifaces.iter().position(|s| s.is_none()).unwrap_or(ifaces.len());
            let mut gens = lock(&self.inner.generations);
            if gens.len() <= slot {
                gens.resize(slot + 1, 0);
            }
            gens[slot] += 1;
            (slot, gens[slot])
        };
        let index = (slot + 1) as u16;
        let name = format!("nic{slot}");
        drv.set_ifname(&name, index, generation);
        let ll6 = link_local(drv.lladdr());
        let queues = drv.num_queues();
        let iface = Arc::new(Iface {
            ifref: IfRef { index, generation },
            name,
            drv: Arc::new(drv),
            addrs,
            ll6,
            arp: Mutex::new(NeighCache::new(self.inner.cfg.neigh)),
            nd: Mutex::new(NeighCache::new(self.inner.cfg.neigh)),
            snd: (0..queues).map(|_| Mutex::new(SndQueue::default())).collect(),
            departed: AtomicBool::new(false),
            ip_id: AtomicU16::new((std::process::id() & 0xffff) as u16),
            workers: Mutex::new(Vec::new()),
        });
        {
            let mut ifaces = lock_write(&self.inner.ifaces);
            if ifaces.len() <= slot {
                ifaces.resize(slot + 1, None);
            }
            ifaces[slot] = Some(iface.clone());
        }
        for q in 0..queues {
            let weak = Arc::downgrade(&iface);
            let stack = self.clone();
            let h = std::thread::Builder::new()
                .name(format!("{}-q{q}", iface.name))
                .spawn(move || input::worker(stack, weak, q));
            match h {
                Ok(h) => lock(&iface.workers).push(h),
                Err(e) => {
                    // Undo: the workers started so far stop, the driver shuts down.
                    drop(iface);
                    let _ = self.detach(index);
                    return Err(StackError::Thread(e));
                }
            }
        }
        Ok(index)
    }

    /// Takes interface `index` away while packets, timers and connections may
    /// still refer to it: out of the table first (new lookups fail), every
    /// worker stopped (joined), every queued frame freed and counted,
    /// connections ended with `ENETDOWN`, and only then the driver shut down
    /// (it waits for any sender still inside a ring, quiesces the NIC, frees
    /// every queue's memory). A sender that still holds the interface finds it
    /// departed and frees what it brings, counted in `purged`. Returns what was
    /// freed.
    pub fn detach(&self, index: u16) -> Result<DetachReport, StackError> {
        let iface = {
            let mut ifaces = lock_write(&self.inner.ifaces);
            let slot = (index as usize).checked_sub(1).ok_or(StackError::NoInterface(index))?;
            ifaces.get_mut(slot).and_then(Option::take).ok_or(StackError::NoInterface(index))?
        };
        iface.departed.store(true, Ordering::SeqCst);
        let workers: Vec<JoinHandle<()>> = lock(&iface.workers).drain(..).collect();
        for h in workers {
            let _ = h.join();
        }
        let mut rep = DetachReport::default();
        for q in iface.snd.iter() {
            let mut s = lock(q);
            rep.frames_purged += s.frames.len();
            s.frames.clear();
            s.tickets.clear();
        }
        rep.frames_purged += lock(&iface.arp).purge();
        rep.frames_purged += lock(&iface.nd).purge();
        self.inner.counters.purged.fetch_add(rep.frames_purged as u64, Ordering::Relaxed);
        for shard in &self.inner.shards {
            let gone: Vec<Arc<Conn>> = {
                let mut m = lock(shard);
                let keys: Vec<ConnKey> =
                    m.iter().filter(|(_, c)| c.route.ifref == iface.ifref).map(|(k, _)| *k).collect();
                keys.into_iter().filter_map(|k| m.remove(&k)).collect()
            };
            for c in gone {
                if let (Some(l), false) = (&c.listener, c.handed_over.swap(true, Ordering::SeqCst)) {
                    l.embryonic.fetch_sub(1, Ordering::SeqCst);
                }
                let mut t = lock(&c.tcb);
                rep.conns_aborted += 1;
                t.abort(TcpError::NetDown);
                drop(t);
                c.cv.notify_all();
            }
        }
        rep.tx_unconfirmed = iface.drv.shutdown().map_err(StackError::Driver)?.tx_unconfirmed;
        Ok(rep)
    }

    /// The interfaces attached now: index and name.
    pub fn interfaces(&self) -> Vec<(u16, String)> {
        lock_read(&self.inner.ifaces).iter().flatten().map(|i| (i.ifref.index, i.name.clone())).collect()
    }

    /// The interface at `index` now, whatever its generation (tools address interfaces by index).
    fn iface_at(&self, index: u16) -> Option<Arc<Iface>> {
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

    /// Every connection and listener (netstat).
    pub fn connections(&self) -> Vec<ConnRow> {
        let mut rows = Vec::new();
        for l in lock(&self.inner.listeners).values() {
            rows.push(ConnRow {
                proto: if l.addr.is_ipv6() && l.addr.ip().is_unspecified() {
                    "tcp46"
                } else if l.addr.is_ipv6() {
                    "tcp6"
                } else {
                    "tcp4"
                },
                local: l.addr,
                remote: SocketAddr::new(
                    if l.addr.is_ipv6() { Ipv6Addr::UNSPECIFIED.into() } else { Ipv4Addr::UNSPECIFIED.into() },
                    0,
                ),
                state: "LISTEN".into(),
                rcv_q: 0,
                snd_q: 0,
                info: None,
            });
        }
        for u in lock(&self.inner.udp).values() {
            let any = if u.addr.is_ipv6() { IpAddr::from(Ipv6Addr::UNSPECIFIED) } else { Ipv4Addr::UNSPECIFIED.into() };
            rows.push(ConnRow {
                proto: match (u.addr.is_ipv6(), u.addr.ip().is_unspecified()) {
                    (true, true) => "udp46",
                    (true, false) => "udp6",
                    _ => "udp4",
                },
                local: u.addr,
                remote: SocketAddr::new(any, 0),
                state: String::new(),
                rcv_q: u.queued_bytes(),
                snd_q: 0,
                info: None,
            });
        }
        for shard in &self.inner.shards {
            let conns: Vec<Arc<Conn>> = lock(shard).values().cloned().collect();
            for c in conns {
                let info = lock(&c.tcb).info();
                rows.push(ConnRow {
                    proto: if c.local.is_ipv6() { "tcp6" } else { "tcp4" },
                    local: c.local,
                    remote: c.remote,
                    state: info.state.to_string(),
                    rcv_q: info.rcv_q,
                    snd_q: info.snd_q,
                    info: Some(info),
                });
            }
        }
        rows
    }

    /// The shard of a connection, by the Toeplitz hash of the tuple as the NIC sees it arrive.
    fn shard(&self, local: SocketAddr, remote: SocketAddr) -> &Mutex<HashMap<ConnKey, Arc<Conn>>> {
        let h = crate::net::rss::flow_hash(remote, local);
        &self.inner.shards[h as usize & (self.inner.shards.len() - 1)]
    }

    /// Connections of listener `l` still in their handshake (for its close).
    pub(crate) fn embryonic_of(&self, l: &Arc<socket::ListenShared>) -> Vec<Arc<Conn>> {
        let mut v = Vec::new();
        for shard in &self.inner.shards {
            v.extend(
                lock(shard)
                    .values()
                    .filter(|c| c.listener.as_ref().is_some_and(|x| Arc::ptr_eq(x, l)))
                    .filter(|c| !c.handed_over.load(Ordering::SeqCst))
                    .cloned(),
            );
        }
        v
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
                let tcb = tcb::Tcb::connect(self.inner.cfg.tcb.clone(), local, remote, 1, &path, Box::new(cc::NewReno::default()));
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

    pub(crate) fn lookup(&self, local: SocketAddr, remote: SocketAddr) -> Option<Arc<Conn>> {
        lock(self.shard(local, remote)).get(&(local, remote)).cloned()
    }

    pub(crate) fn insert(&self, c: Arc<Conn>) -> bool {
        let mut m = lock(self.shard(c.local, c.remote));
        if m.contains_key(&(c.local, c.remote)) {
            return false;
        }
        m.insert((c.local, c.remote), c);
        true
    }

    pub(crate) fn remove(&self, c: &Conn) {
        lock(self.shard(c.local, c.remote)).remove(&(c.local, c.remote));
    }

    /// RFC 6528 initial sequence number: a 4 µs clock plus a keyed hash of the tuple.
    pub(crate) fn iss(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        let mut h = self.inner.iss_key.build_hasher();
        h.write(format!("{local}{remote}").as_bytes());
        let m = (self.inner.epoch.elapsed().as_micros() / 4) as u32;
        m.wrapping_add(h.finish() as u32)
    }

    pub(crate) fn ephemeral_port(&self, remote: SocketAddr, src: IpAddr) -> Option<u16> {
        let mut p = lock(&self.inner.next_port);
        for _ in 0..16384 {
            *p = if *p == u16::MAX { 49152 } else { *p + 1 };
            let local = SocketAddr::new(src, *p);
            if self.lookup(local, remote).is_none() && !lock(&self.inner.listeners).contains_key(&*p) {
                return Some(*p);
            }
        }
        None
    }

    /// The route to `dst`: an interface with a matching prefix (next hop: `dst`), else one with a gateway.
    pub(crate) fn route(&self, dst: IpAddr) -> Option<Route> {
        let ifaces = lock_read(&self.inner.ifaces);
        let live = ifaces.iter().flatten().filter(|i| !i.departed.load(Ordering::SeqCst));
        let mut fallback = None;
        for i in live {
            match dst {
                IpAddr::V4(d) => {
                    if let Some((a, len)) = i.addrs.v4 {
                        if prefix_match(dst, a.into(), len) {
                            return Some(Route { ifref: i.ifref, src: a.into(), nexthop: d.into() });
                        }
                        if let (Some(gw), None) = (i.addrs.gateway4, fallback) {
                            fallback = Some(Route { ifref: i.ifref, src: a.into(), nexthop: gw.into() });
                        }
                    }
                }
                IpAddr::V6(d) => {
                    if d.segments()[0] & 0xffc0 == 0xfe80 {
                        return Some(Route { ifref: i.ifref, src: i.ll6.into(), nexthop: d.into() });
                    }
                    for (a, len) in &i.addrs.v6 {
                        if prefix_match(dst, (*a).into(), *len) {
                            return Some(Route { ifref: i.ifref, src: (*a).into(), nexthop: d.into() });
                        }
                    }
                    if let (Some(gw), Some((a, _)), None) = (i.addrs.gateway6, i.addrs.v6.first(), fallback) {
                        fallback = Some(Route { ifref: i.ifref, src: (*a).into(), nexthop: gw.into() });
                    }
                }
            }
        }
        fallback
    }

    /// What the path to `remote` over `route` allows now.
    pub(crate) fn path(&self, route: &Route, remote: IpAddr) -> Option<PathInfo> {
        let ifnet = self.iface(route.ifref)?.ifnet();
        let v6 = remote.is_ipv6();
        let mut mtu = ifnet.if_mtu;
        if let Some(m) = lock(&self.inner.hostcache).mtu(remote, Instant::now()) {
            mtu = mtu.min(m.max(min_mtu(v6)));
        }
        Some(PathInfo {
            mtu,
            ip_hlen: if v6 { 40 } else { 20 },
            link_hlen: ether::ETHER_HDR_LEN as u32,
            tso: ifnet.if_hwassist & tso_flag(v6) != 0,
            tso_max: ifnet.if_hw_tsomax,
        })
    }

    /// Lets a connection produce what it has to send, then sends it — the
    /// connection's lock released before anything reaches the driver.
    pub(crate) fn conn_output(&self, c: &Conn, mut t: MutexGuard<'_, Tcb>) {
        let segs = match self.path(&c.route, c.remote.ip()) {
            Some(p) => t.output(Instant::now(), &p),
            None => {
                // The interface departed under us.
                t.abort(TcpError::NetDown);
                Vec::new()
            }
        };
        let mut place = lock(&c.txlock);
        drop(t);
        c.cv.notify_all();
        self.send_segments(&c.route, c.local, c.remote, segs, Some(&mut place));
        drop(place);
    }

    /// Sends `seg` (a RST) for `c` after whatever another thread is sending for it, releasing
    /// the connection's lock first (the order `conn_output` keeps).
    pub(crate) fn send_after(&self, c: &Conn, t: MutexGuard<'_, Tcb>, seg: Option<SegOut>) {
        let mut place = lock(&c.txlock);
        drop(t);
        c.cv.notify_all();
        if let Some(s) = seg {
            self.send_segments(&c.route, c.local, c.remote, vec![s], Some(&mut place));
        }
        drop(place);
    }

    /// Builds frames for `segs` from `local` to `remote` and queues them on the route's
    /// interface, on the TX queue of the flow's RSS queue pair. `place` is the connection's
    /// (see [`TxPlace`]); without one (a RST for no connection) the queue is computed afresh.
    pub(crate) fn send_segments(
        &self,
        route: &Route,
        local: SocketAddr,
        remote: SocketAddr,
        segs: Vec<SegOut>,
        mut place: Option<&mut TxPlace>,
    ) {
        if segs.is_empty() {
            return;
        }
        let Some(iface) = self.iface(route.ifref) else { return };
        let ifnet = iface.ifnet();
        let link = LinkOut { dst: [0; 6], src: ifnet.if_lladdr, vlan: None };
        let mut frames = Vec::new();
        for s in segs {
            let Some(ip) = iface.ip_out(local.ip(), remote.ip()) else { continue };
            let seg = TcpOut {
                sport: local.port(),
                dport: remote.port(),
                seq: s.seq,
                ack: s.ack,
                flags: s.flags,
                win: s.win,
                urp: 0,
                options: s.options,
            };
            let payload = Mbuf::from_payload(&s.payload);
            let mut st = lock(&self.inner.stats);
            let r = if s.tso_segsz > 0 {
                tcp_output_tso(&ifnet, payload, &ip, &seg, s.tso_segsz, &link, &mut st)
            } else {
                tcp_output_segment(&ifnet, payload, &ip, &seg, &link, &mut st)
            };
            drop(st);
            match r {
                Ok(m) if s.tso_segsz > 0 => match offload::tso_or_gso(m, ifnet.if_hwassist, ifnet.if_capenable) {
                    Ok((ms, _)) => frames.extend(ms),
                    Err(e) => {
                        log::warn!("{}: GSO refused a burst: {e}", iface.name);
                        bump(&self.inner.counters.output_errors);
                    }
                },
                Ok(m) => frames.push(m),
                Err(e) => {
                    log::warn!("{}: output refused a segment: {e}", iface.name);
                    bump(&self.inner.counters.output_errors);
                }
            }
        }
        let (q, hash, rsstype) = self.tx_queue_of(&iface, local, remote, place.as_deref_mut());
        for f in &mut frames {
            // FreeBSD's inp_flowid on the way out: the driver-independent record of the flow.
            f.pkthdr.flowid = hash;
            f.pkthdr.rsstype = rsstype;
        }
        if let (Some(ticket), Some(p)) = (self.l2_output_on(&iface, route.nexthop, frames, Some(q)), place) {
            p.ticket = ticket;
        }
    }

    /// The TX queue (and RSS hash and type) of the flow `local`/`remote`: the RX queue the NIC
    /// gives its packets, by the driver's RSS shadow. With the connection's `place`, the
    /// choice is remembered and recomputed only when the interface or the RSS generation
    /// changed; a change of queue first waits for the old queue to have sent what the
    /// connection queued there ([`Stack::txq_barrier`]).
    fn tx_queue_of(
        &self,
        iface: &Iface,
        local: SocketAddr,
        remote: SocketAddr,
        place: Option<&mut TxPlace>,
    ) -> (u16, u32, u8) {
        let rss = iface.drv.rss();
        let fresh = || {
            // As the NIC sees the connection's packets arrive: remote is the source.
            let (h, t) = rss.flow(remote, local, crate::net::rss::IPPROTO_TCP);
            let q = if t == nic_abi::rss::hashtype::NONE { 0 } else { rss.queue_of(h) };
            (q, h, t)
        };
        let Some(p) = place else { return fresh() };
        let now = (iface.ifref, rss.generation);
        if p.placed != Some(now) {
            let (q, h, t) = fresh();
            let moved = matches!(p.placed, Some((r, _)) if r == iface.ifref) && q != p.queue;
            if moved {
                bump(&self.inner.counters.txq_moves);
                if p.ticket != 0 {
                    self.txq_barrier(iface, p.queue, p.ticket);
                }
            }
            let same_queue = p.placed.is_some_and(|(r, _)| r == iface.ifref) && q == p.queue;
            *p = TxPlace { placed: Some(now), hash: h, rsstype: t, queue: q, ticket: if same_queue { p.ticket } else { 0 } };
        }
        (p.queue, p.hash, p.rsstype)
    }

    /// Waits until every frame queued on TX queue `q` with a ticket up to `ticket` has left the
    /// software queue, and the NIC has completed every packet posted to ring `q` up to that
    /// moment (completions are in order, and a completed packet is in the NIC's one in-order
    /// transmit path). Then nothing of a connection whose last frame on `q` had `ticket` can be
    /// overtaken by what it sends on another queue. Flushes and reclaims `q` meanwhile (its
    /// worker may be busy); bounded by [`StackConfig::txq_move_wait`], after which it gives up,
    /// counted.
    fn txq_barrier(&self, iface: &Iface, q: u16, ticket: u64) {
        let Some(snd) = iface.snd.get(q as usize) else { return };
        let ring = iface.drv.queue(q);
        let wait = self.inner.cfg.txq_move_wait;
        let deadline = Instant::now() + wait;
        let pause = || std::thread::sleep(Duration::from_micros(50));
        let gone = || iface.departed.load(Ordering::SeqCst);
        let mark = loop {
            self.flush_q(iface, q);
            {
                let s = lock(snd);
                if s.tickets.front().is_none_or(|t| *t > ticket) {
                    // Read under the queue's lock: everything that left it is counted in `posted`.
                    break Some(ring.tx_progress().posted);
                }
            }
            if gone() || Instant::now() >= deadline {
                break None;
            }
            let _ = ring.tx_reclaim();
            pause();
        };
        let drained = mark.is_some_and(|mark| loop {
            if ring.tx_progress().done >= mark {
                break true;
            }
            if gone() || Instant::now() >= deadline {
                break false;
            }
            let _ = ring.tx_reclaim();
            pause();
        });
        if !drained && !gone() {
            log::warn!("{}: TX queue {q} did not drain in {wait:?} for a connection moving queues", iface.name);
            bump(&self.inner.counters.txq_move_timeouts);
        }
    }

    /// Resolves `nexthop` and queues `frames` (Ethernet frames with a placeholder destination),
    /// each on the TX queue of its hash, else queue 0.
    pub(crate) fn l2_output(&self, iface: &Iface, nexthop: IpAddr, frames: Vec<Mbuf>) {
        self.l2_output_on(iface, nexthop, frames, None);
    }

    /// [`Stack::l2_output`] on TX queue `q` when given; returns the ticket of the last frame
    /// queued (`None` when they were held for resolution or dropped).
    fn l2_output_on(&self, iface: &Iface, nexthop: IpAddr, mut frames: Vec<Mbuf>, q: Option<u16>) -> Option<u64> {
        if frames.is_empty() {
            return None;
        }
        let now = Instant::now();
        let mac = match nexthop {
            IpAddr::V4(a) => lock(&iface.arp).lookup(a, now),
            IpAddr::V6(a) if a.is_multicast() => Some(icmp6::multicast_mac(a)),
            IpAddr::V6(a) => lock(&iface.nd).lookup(a, now),
        };
        if let Some(mac) = mac {
            for f in &mut frames {
                f.data_mut()[..6].copy_from_slice(&mac);
            }
            return match q {
                Some(q) => self.enqueue_on(iface, q, frames),
                None => {
                    self.enqueue(iface, frames);
                    None
                }
            };
        }
        let mut solicit = false;
        let mut resolved = Vec::new();
        for f in frames {
            // Checked under the cache's lock: a departing interface purges its caches after
            // setting `departed`, so a frame is either purged there or freed here, counted.
            let h = match nexthop {
                IpAddr::V4(a) => {
                    let mut c = lock(&iface.arp);
                    if iface.departed.load(Ordering::SeqCst) {
                        bump(&self.inner.counters.purged);
                        continue;
                    }
                    c.hold(a, f, now)
                }
                IpAddr::V6(a) => {
                    let mut c = lock(&iface.nd);
                    if iface.departed.load(Ordering::SeqCst) {
                        bump(&self.inner.counters.purged);
                        continue;
                    }
                    c.hold(a, f, now)
                }
            };
            match h {
                Hold::Solicit => solicit = true,
                Hold::Held => {}
                Hold::Resolved(m) => resolved.push(m),
                Hold::Dropped(_) | Hold::Full(_) => bump(&self.inner.counters.resolve_failed),
            }
        }
        if !resolved.is_empty() {
            self.enqueue(iface, resolved);
        }
        if solicit {
            self.solicit(iface, nexthop);
        }
        None
    }

    /// Sends an ARP request or a neighbour solicitation for `target`.
    pub(crate) fn solicit(&self, iface: &Iface, target: IpAddr) {
        let mac = iface.lladdr();
        match target {
            IpAddr::V4(t) => {
                let Some((src, _)) = iface.addrs.v4 else { return };
                let req = arp::request(mac, src, t);
                let mut m = Mbuf::from_payload(&arp::emit(&req));
                let link = LinkOut { dst: [0xff; 6], src: mac, vlan: None };
                ether::ether_output(&mut m, &link, arp::ETHERTYPE_ARP, &mut lock(&self.inner.stats));
                self.enqueue(iface, vec![m]);
            }
            IpAddr::V6(t) => {
                let src = self.v6_source_for(iface, t);
                let group = icmp6::solicited_node(t);
                let msg = icmp6::Icmp6Msg::NeighborSolicit { target: t, src_lladdr: Some(mac) };
                self.icmp6_output(iface, src, group, &msg, true);
            }
        }
    }

    /// Our address to send from toward `dst` over `iface`: same prefix, else link-local.
    pub(crate) fn v6_source_for(&self, iface: &Iface, dst: Ipv6Addr) -> Ipv6Addr {
        iface
            .addrs
            .v6
            .iter()
            .find(|(a, len)| prefix_match(dst.into(), (*a).into(), *len))
            .map_or(iface.ll6, |(a, _)| *a)
    }

    /// Sends an ICMPv6 message (`nd`: hop limit 255, as neighbour discovery requires).
    pub(crate) fn icmp6_output(&self, iface: &Iface, src: Ipv6Addr, dst: Ipv6Addr, msg: &icmp6::Icmp6Msg, nd: bool) {
        let body = icmp6::emit(src, dst, msg);
        let ifnet = iface.ifnet();
        let mut o = Ipv6Out::new(src, dst);
        if nd {
            o.hop_limit = icmp6::ND_HOP_LIMIT;
        }
        let link = LinkOut { dst: [0; 6], src: ifnet.if_lladdr, vlan: None };
        let r = crate::net::ip6_output(
            &ifnet,
            Mbuf::from_payload(&body),
            crate::net::IpProtocol::Icmpv6,
            &o,
            &link,
            &mut lock(&self.inner.stats),
        );
        match r {
            Ok(m) if dst.is_multicast() => {
                let mut m = m;
                m.data_mut()[..6].copy_from_slice(&icmp6::multicast_mac(dst));
                self.enqueue(iface, vec![m]);
            }
            Ok(m) => self.l2_output(iface, dst.into(), vec![m]),
            Err(e) => {
                log::warn!("{}: ICMPv6 output: {e}", iface.name);
                bump(&self.inner.counters.output_errors);
            }
        }
    }

    /// Sends an ICMP message to `dst` from `src`.
    pub(crate) fn icmp_output(&self, iface: &Iface, src: Ipv4Addr, dst: Ipv4Addr, body: Vec<u8>) {
        let ifnet = iface.ifnet();
        let mut o = Ipv4Out::new(src, dst);
        o.id = iface.ip_id.fetch_add(1, Ordering::Relaxed);
        o.df = false;
        let link = LinkOut { dst: [0; 6], src: ifnet.if_lladdr, vlan: None };
        let r = crate::net::ip_output(
            &ifnet,
            Mbuf::from_payload(&body),
            crate::net::IpProtocol::Icmp,
            &o,
            &link,
            &mut lock(&self.inner.stats),
        );
        match r {
            Ok(m) => {
                let nexthop = self.route(dst.into()).map_or(IpAddr::V4(dst), |r| r.nexthop);
                self.l2_output(iface, nexthop, vec![m]);
            }
            Err(e) => {
                log::warn!("{}: ICMP output: {e}", iface.name);
                bump(&self.inner.counters.output_errors);
            }
        }
    }

    /// Queues finished frames that belong to no connection, each on the TX queue of its hash
    /// (queue 0 without one), and pushes what fits onto the rings.
    pub(crate) fn enqueue(&self, iface: &Iface, frames: Vec<Mbuf>) {
        let mut run: Vec<Mbuf> = Vec::new();
        let mut run_q = 0;
        for f in frames {
            let q = iface.queue_of_frame(&f);
            if q != run_q && !run.is_empty() {
                self.enqueue_on(iface, run_q, std::mem::take(&mut run));
            }
            run_q = q;
            run.push(f);
        }
        if !run.is_empty() {
            self.enqueue_on(iface, run_q, run);
        }
    }

    /// Queues `frames` on TX queue `q` (a queue not in use means 0) and pushes what fits onto
    /// its ring. Returns the ticket of the last frame queued. A departed interface frees them,
    /// counted in `purged`; a full queue drops them, counted in `txq_drops`.
    pub(crate) fn enqueue_on(&self, iface: &Iface, q: u16, frames: Vec<Mbuf>) -> Option<u64> {
        let q = if (q as usize) < iface.snd.len() { q } else { 0 };
        let ticket = {
            let mut s = lock(&iface.snd[q as usize]);
            if iface.departed.load(Ordering::SeqCst) {
                self.inner.counters.purged.fetch_add(frames.len() as u64, Ordering::Relaxed);
                return None;
            }
            let mut last = None;
            for f in frames {
                if s.frames.len() >= self.inner.cfg.txq_max {
                    bump(&self.inner.counters.txq_drops);
                    continue;
                }
                s.pushed += 1;
                let t = s.pushed;
                s.frames.push_back(f);
                s.tickets.push_back(t);
                last = Some(t);
            }
            last
        };
        self.flush_q(iface, q);
        ticket
    }

    /// Moves frames from TX queue `q` to its ring (reclaiming completions when it is full).
    /// Takes that queue's lock and its ring's, nothing common to other queues.
    pub(crate) fn flush_q(&self, iface: &Iface, q: u16) {
        let Some(snd) = iface.snd.get(q as usize) else { return };
        if iface.departed.load(Ordering::SeqCst) {
            return;
        }
        let ring = iface.drv.queue(q);
        let mut g = lock(snd);
        let s = &mut *g;
        if s.frames.is_empty() || iface.departed.load(Ordering::SeqCst) {
            return;
        }
        // Frames built before a capability change may ask for an offload that is now
        // off: finish those in software (the delayed checksum / GSO path) instead of
        // letting the driver refuse them. A burst cut in software keeps its ticket.
        let (assist, capen) = iface.drv.offload_state();
        if s.frames.iter().any(|m| m.pkthdr.csum_flags & !assist != 0) {
            let old: Vec<(Mbuf, u64)> = s.frames.drain(..).zip(s.tickets.drain(..)).collect();
            for (m, t) in old {
                let (flowid, rsstype) = (m.pkthdr.flowid, m.pkthdr.rsstype);
                let redo: Vec<Mbuf> = if m.pkthdr.csum_flags & !assist == 0 {
                    vec![m]
                } else if m.pkthdr.csum_flags & nic_abi::csum::CSUM_TSO != 0 {
                    match offload::tso_or_gso(m, assist, capen) {
                        Ok((ms, _)) => ms,
                        Err(_) => {
                            bump(&self.inner.counters.output_errors);
                            vec![]
                        }
                    }
                } else {
                    match offload::software_finish(&m) {
                        Ok(bytes) => {
                            let mut f = Mbuf::from_vec(bytes);
                            f.pkthdr.l2hlen = m.pkthdr.l2hlen;
                            vec![f]
                        }
                        Err(_) => {
                            bump(&self.inner.counters.output_errors);
                            vec![]
                        }
                    }
                };
                for mut f in redo {
                    (f.pkthdr.flowid, f.pkthdr.rsstype) = (flowid, rsstype);
                    s.frames.push_back(f);
                    s.tickets.push_back(t);
                }
            }
        }
        for _ in 0..2 {
            if s.frames.is_empty() {
                break;
            }
            let before = s.frames.len();
            let r = ring.tx_batch(&mut s.frames);
            s.tickets.drain(..before - s.frames.len());
            match r {
                Ok(_) => {}
                Err(crate::driver::Error::TxRejected(r)) => {
                    // The driver refused the frame at the front: drop it, counted, and go on.
                    log::warn!("{}: driver refused a frame: {r}", iface.name);
                    s.frames.pop_front();
                    s.tickets.pop_front();
                    bump(&self.inner.counters.output_errors);
                }
                Err(crate::driver::Error::Detached) => break,
                Err(e) => {
                    log::warn!("{}: transmit on queue {q}: {e}", iface.name);
                    bump(&self.inner.counters.driver_errors);
                    break;
                }
            }
            if s.frames.is_empty() {
                break;
            }
            if ring.tx_reclaim().is_err() {
                break;
            }
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

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the stack down with it: the data is still consistent
    // at every unlock point, so a poisoned lock is used as is.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn lock_read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn lock_write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}


