//! Protocol control blocks and their lookup (FreeBSD's `in_pcb.c` and
//! `struct inpcbinfo`): TCP connections in shards by the flow's Toeplitz hash,
//! listening sockets by port, bound UDP sockets by port; the initial sequence
//! number and ephemeral port that a new connection takes; the rows netstat
//! shows. What a connection *does* is the `tcp_*` files'; this file only holds
//! and finds them.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use nic_tcp::time::Instant;
use nic_tcp::{Tcb, TcbConfig, TcpInfo, TcpState};

use super::route::Route;
use crate::sync::lock;
use crate::mbuf::IfRef;

/// Where a connection's frames go out: the TX queue chosen under an RSS generation, kept so
/// the choice only changes at a point where nothing of the connection is left in the old queue
/// (see the module docs, "Ordering when RSS changes").
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TxPlace {
    /// The interface and RSS generation the choice was made under; `None`: not placed yet.
    pub(crate) placed: Option<(IfRef, u64)>,
    /// The hash and `M_HASHTYPE` the NIC gives the connection's received packets.
    pub(crate) hash: u32,
    pub(crate) rsstype: u8,
    /// The TX queue.
    pub(crate) queue: u16,
    /// Ticket of the connection's last frame queued on `queue` (0: none).
    pub(crate) ticket: u64,
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
    pub(crate) listener: Option<Arc<ListenShared>>,
    pub(crate) handed_over: AtomicBool,
    /// Whether an application handle exists (accepted or connected).
    pub(crate) owned: AtomicBool,
}

pub(crate) type ConnKey = (SocketAddr, SocketAddr);

/// A listening socket's shared half: the accept queue the stack fills.
pub(crate) struct ListenShared {
    pub(crate) addr: SocketAddr,
    pub(crate) backlog: usize,
    pub(crate) cc: String,
    pub(crate) cfg: TcbConfig,
    pub(crate) queue: Mutex<VecDeque<Arc<Conn>>>,
    pub(crate) cv: Condvar,
    /// Handshakes in progress.
    pub(crate) embryonic: AtomicUsize,
    pub(crate) closed: AtomicBool,
}

impl ListenShared {
    /// Connections queued or in handshake (the backlog counts both, as `so_qlimit` does).
    pub(crate) fn pending(&self) -> usize {
        lock(&self.queue).len() + self.embryonic.load(Ordering::SeqCst)
    }

    /// Queues an established connection for `accept`; `false` when the listener is gone.
    pub(crate) fn push(&self, c: Arc<Conn>) -> bool {
        if self.closed.load(Ordering::SeqCst) {
            return false;
        }
        lock(&self.queue).push_back(c);
        self.cv.notify_all();
        true
    }
}

/// Bytes a socket queues before it drops (`net.inet.udp.recvspace`).
const UDP_RECVSPACE: usize = 256 << 10;

/// Received datagrams with their senders, and the bytes they hold.
pub(crate) type RecvQueue = (VecDeque<(SocketAddr, Vec<u8>)>, usize);

/// A bound socket's shared half: the queue input fills.
pub(crate) struct UdpShared {
    pub(crate) addr: SocketAddr,
    pub(crate) queue: Mutex<RecvQueue>,
    pub(crate) cv: Condvar,
    /// Datagrams dropped because the queue was full.
    pub(crate) fullsock: AtomicU64,
}

impl UdpShared {
    /// Whether a datagram for `local` is this socket's (`[::]` takes both families, `0.0.0.0` IPv4).
    pub(crate) fn takes(&self, local: SocketAddr) -> bool {
        let ip = self.addr.ip();
        if ip.is_unspecified() {
            ip.is_ipv6() || local.is_ipv4()
        } else {
            ip == local.ip()
        }
    }

    pub(crate) fn deliver(&self, src: SocketAddr, data: &[u8]) {
        let mut q = lock(&self.queue);
        if q.1 + data.len() > UDP_RECVSPACE {
            self.fullsock.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.1 += data.len();
        q.0.push_back((src, data.to_vec()));
        drop(q);
        self.cv.notify_all();
    }

    /// Datagrams queued (netstat's Recv-Q counts their bytes).
    pub(crate) fn queued_bytes(&self) -> usize {
        lock(&self.queue).1
    }
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

/// The control blocks of one stack (FreeBSD's `inpcbinfo`): every table a segment or a
/// datagram is looked up in, with the state new connections draw on.
pub(crate) struct PcbInfo {
    /// Connections, sharded by the flow hash (a segment takes only its shard's lock).
    pub(crate) shards: Vec<Mutex<HashMap<ConnKey, Arc<Conn>>>>,
    /// Listening sockets by port.
    pub(crate) listeners: Mutex<HashMap<u16, Arc<ListenShared>>>,
    /// Bound UDP sockets by port.
    pub(crate) udp: Mutex<HashMap<u16, Arc<UdpShared>>>,
    next_port: Mutex<u16>,
    iss_key: RandomState,
}

impl PcbInfo {
    /// Empty tables with `shards` connection shards (rounded up to a power of two).
    pub(crate) fn new(shards: usize) -> PcbInfo {
        let shards = shards.max(1).next_power_of_two();
        PcbInfo {
            shards: (0..shards).map(|_| Mutex::new(HashMap::new())).collect(),
            listeners: Mutex::new(HashMap::new()),
            udp: Mutex::new(HashMap::new()),
            next_port: Mutex::new(49152 + (std::process::id() % 10000) as u16),
            iss_key: RandomState::new(),
        }
    }

    /// The shard of a connection, by the Toeplitz hash of the tuple as the NIC sees it arrive.
    // Inlined into the receive path: this file and its callers are different codegen units.
    #[inline]
    pub(crate) fn shard(&self, local: SocketAddr, remote: SocketAddr) -> &Mutex<HashMap<ConnKey, Arc<Conn>>> {
        let h = crate::net::rss::flow_hash(remote, local);
        &self.shards[h as usize & (self.shards.len() - 1)]
    }

    // Inlined into the receive path: this file and its callers are different codegen units.
    #[inline]
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
        // By identity, not by tuple: a connection that left the table early (reset) must not
        // take a newer one with the same tuple with it when its socket closes later.
        let mut shard = lock(self.shard(c.local, c.remote));
        let key = (c.local, c.remote);
        if shard.get(&key).is_some_and(|x| std::ptr::eq(Arc::as_ptr(x), c)) {
            shard.remove(&key);
        }
    }

    /// Active opens still in SYN_SENT on interface `ifref` through next hop `nexthop` (for a
    /// next hop that never answered address resolution).
    pub(crate) fn syn_sent_via(&self, ifref: IfRef, nexthop: IpAddr) -> Vec<Arc<Conn>> {
        let mut v = Vec::new();
        for shard in &self.shards {
            v.extend(lock(shard).values().filter(|c| c.route.ifref == ifref && c.route.nexthop == nexthop).cloned());
        }
        // The connection locks are taken after the shard's is let go (tcb before shard elsewhere).
        v.retain(|c| lock(&c.tcb).state() == TcpState::SynSent);
        v
    }

    /// Connections of listener `l` still in their handshake (for its close).
    pub(crate) fn embryonic_of(&self, l: &Arc<ListenShared>) -> Vec<Arc<Conn>> {
        let mut v = Vec::new();
        for shard in &self.shards {
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

    /// RFC 6528 initial sequence number: a 4 µs clock (the stack's, `now`) plus a keyed hash
    /// of the tuple.
    pub(crate) fn iss(&self, local: SocketAddr, remote: SocketAddr, now: Instant) -> u32 {
        let mut h = self.iss_key.build_hasher();
        h.write(format!("{local}{remote}").as_bytes());
        let m = (now.as_nanos() / 4000) as u32;
        m.wrapping_add(h.finish() as u32)
    }

    pub(crate) fn ephemeral_port(&self, remote: SocketAddr, src: IpAddr) -> Option<u16> {
        let mut p = lock(&self.next_port);
        for _ in 0..16384 {
            *p = if *p == u16::MAX { 49152 } else { *p + 1 };
            let local = SocketAddr::new(src, *p);
            if self.lookup(local, remote).is_none() && !lock(&self.listeners).contains_key(&*p) {
                return Some(*p);
            }
        }
        None
    }

    /// Every connection and listener (netstat).
    pub fn connections(&self) -> Vec<ConnRow> {
        let mut rows = Vec::new();
        for l in lock(&self.listeners).values() {
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
        for u in lock(&self.udp).values() {
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
        for shard in &self.shards {
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
}
