//! The socket API: `listen`, `accept`, `connect`, `read`, `write`,
//! `shutdown`, `close` — blocking calls over the stack's connections, with
//! `std::io::Read`/`Write` so ordinary Rust I/O code runs on them. The tools
//! (`nicctl nc`, `nicctl iperf`, the control socket) and the tests use
//! exactly this API, in-process or through the control socket.
//!
//! Errors are `std::io::Error` with the kind a BSD socket's errno maps to
//! (`ConnectionRefused`, `ConnectionReset`, `TimedOut`, `NetworkDown`,
//! `ConnectionAborted`, `AddrInUse`, `NetworkUnreachable`).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nic_tcp::cc;
use nic_tcp::{Tcb, TcbConfig, TcpError, TcpInfo, TcpState};

use super::in_pcb::{Conn, ListenShared, TxPlace};
use super::route::Route;
use crate::sync::lock;
use super::vnet::{Stack, StackError};

/// How often a blocked call re-checks for a departed interface.
const RECHECK: Duration = Duration::from_millis(50);

fn io_err(e: TcpError) -> io::Error {
    let kind = match e {
        TcpError::Refused => io::ErrorKind::ConnectionRefused,
        TcpError::Reset => io::ErrorKind::ConnectionReset,
        TcpError::TimedOut => io::ErrorKind::TimedOut,
        TcpError::NetDown => io::ErrorKind::NetworkDown,
        TcpError::HostUnreachable => io::ErrorKind::HostUnreachable,
        TcpError::Aborted => io::ErrorKind::ConnectionAborted,
    };
    io::Error::new(kind, e.to_string())
}

/// Options for a new connection or listener.
#[derive(Clone, Debug, Default)]
pub struct SockOpts {
    /// Congestion control by name (`TCP_CONGESTION`); the stack's default when `None`.
    pub cc: Option<String>,
    /// Buffer and timer tunables; the stack's defaults when `None`.
    pub tcb: Option<TcbConfig>,
}

/// A listening TCP socket.
pub struct TcpListener {
    stack: Stack,
    shared: Arc<ListenShared>,
}

/// A connected TCP socket. Dropping the last handle ([`TcpStream::try_clone`])
/// closes it (orderly, or a RST when unread data remains).
pub struct TcpStream {
    stack: Stack,
    conn: Arc<Conn>,
    read_timeout: Option<Duration>,
    _close: Arc<CloseOnDrop>,
}

/// Closes the connection when the last handle goes.
struct CloseOnDrop {
    stack: Stack,
    conn: Arc<Conn>,
}

impl TcpStream {
    fn new(stack: Stack, conn: Arc<Conn>) -> TcpStream {
        let close = Arc::new(CloseOnDrop { stack: stack.clone(), conn: conn.clone() });
        TcpStream { stack, conn, read_timeout: None, _close: close }
    }

    /// Another handle to the same connection (one thread reads while another writes).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            stack: self.stack.clone(),
            conn: self.conn.clone(),
            read_timeout: self.read_timeout,
            _close: self._close.clone(),
        })
    }
}

impl Stack {
    /// The congestion control a socket asked for (the stack's default when `None`), by name and
    /// as a fresh instance; InvalidInput naming the known ones otherwise.
    fn cc_for(&self, name: Option<String>) -> io::Result<(String, Box<dyn cc::CongestionControl>)> {
        let name = name.unwrap_or_else(|| self.inner.cfg.cc_default.clone());
        match cc::by_name(&name) {
            Some(c) => Ok((name, c)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown congestion control {name:?}; known: {}", cc::ALGORITHMS.join(", ")),
            )),
        }
    }

    /// The route to `dst` with its interface's path, as a socket call's error when there is none.
    pub(crate) fn route_to(&self, dst: IpAddr) -> io::Result<Route> {
        self.route(dst).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NetworkUnreachable, StackError::NoRoute(dst).to_string())
        })
    }

    /// Waits at most `d` for `c` to change; a departed interface ends the connection (ENETDOWN)
    /// even if no one else notices, so no blocked call outlives its interface.
    pub(crate) fn wait_conn<'a>(&self, c: &'a Conn, t: MutexGuard<'a, Tcb>, d: Duration) -> MutexGuard<'a, Tcb> {
        let mut t = c.cv.wait_timeout(t, d.min(RECHECK)).unwrap_or_else(|e| e.into_inner()).0;
        if self.iface(c.route.ifref).is_none() {
            t.abort(TcpError::NetDown);
        }
        t
    }

    /// `socket` + `bind` + `listen`: `addr` may be unspecified (`[::]:port`
    /// takes IPv4 and IPv6, `0.0.0.0:port` IPv4 only).
    pub fn tcp_listen(&self, addr: SocketAddr, backlog: usize, opts: SockOpts) -> io::Result<TcpListener> {
        let (cc, _) = self.cc_for(opts.cc)?;
        let mut ls = lock(&self.inner.pcb.listeners);
        if addr.port() == 0 || ls.contains_key(&addr.port()) {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("port {} is taken (or 0)", addr.port())));
        }
        let shared = Arc::new(ListenShared {
            addr,
            backlog: backlog.max(1),
            cc,
            cfg: opts.tcb.unwrap_or_else(|| self.inner.cfg.tcb.clone()),
            queue: Mutex::new(VecDeque::new()),
            cv: Condvar::new(),
            embryonic: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        });
        ls.insert(addr.port(), shared.clone());
        Ok(TcpListener { stack: self.clone(), shared })
    }

    /// `connect`: blocks until the handshake completes or fails (refused, timed out, no route).
    pub fn tcp_connect(&self, remote: SocketAddr, opts: SockOpts) -> io::Result<TcpStream> {
        let route = self.route_to(remote.ip())?;
        if self.iface(route.ifref).is_some_and(|i| i.has_addr(remote.ip())) {
            // FreeBSD would go through lo0; this stack has no loopback interface, and a SYN to
            // ourselves over the NIC would only time out after two minutes. Say so at once.
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{} is this stack's own address: it has no loopback interface to connect through", remote.ip()),
            ));
        }
        let path = self
            .path(&route, remote.ip())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NetworkDown, "the route's interface departed"))?;
        let (_, cc) = self.cc_for(opts.cc)?;
        let port = self
            .inner.pcb.ephemeral_port(remote, route.src)
            .ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free ephemeral port"))?;
        let local = SocketAddr::new(route.src, port);
        let cfg = opts.tcb.unwrap_or_else(|| self.inner.cfg.tcb.clone());
        let tcb = Tcb::connect(cfg, local, remote, self.inner.pcb.iss(local, remote, self.now()), &path, cc);
        let conn = Arc::new(Conn {
            local,
            remote,
            route,
            tcb: Mutex::new(tcb),
            cv: Condvar::new(),
            txlock: Mutex::new(TxPlace::default()),
            listener: None,
            handed_over: AtomicBool::new(true),
            owned: AtomicBool::new(true),
        });
        if !self.insert(conn.clone()) {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, "connection tuple in use"));
        }
        let t = lock(&conn.tcb);
        self.conn_output(&conn, t);
        let stream = TcpStream::new(self.clone(), conn);
        let mut t = lock(&stream.conn.tcb);
        loop {
            if t.is_connected() {
                break;
            }
            if let Some(e) = t.error() {
                drop(t);
                self.remove(&stream.conn);
                return Err(io_err(e));
            }
            if t.is_closed() {
                drop(t);
                self.remove(&stream.conn);
                return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "connection closed during handshake"));
            }
            t = self.wait_conn(&stream.conn, t, RECHECK);
        }
        drop(t);
        Ok(stream)
    }
}

impl TcpListener {
    /// Blocks until a connection is established.
    pub fn accept(&self) -> io::Result<TcpStream> {
        loop {
            if let Some(s) = self.accept_timeout(Duration::from_secs(3600))? {
                return Ok(s);
            }
        }
    }

    /// Waits up to `timeout` for a connection.
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<Option<TcpStream>> {
        let until = Instant::now() + timeout;
        let mut q = lock(&self.shared.queue);
        loop {
            if let Some(c) = q.pop_front() {
                c.owned.store(true, Ordering::SeqCst);
                return Ok(Some(TcpStream::new(self.stack.clone(), c)));
            }
            let now = Instant::now();
            if now >= until {
                return Ok(None);
            }
            q = self.shared.cv.wait_timeout(q, (until - now).min(RECHECK)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        {
            let mut ls = lock(&self.stack.inner.pcb.listeners);
            if ls.get(&self.shared.addr.port()).is_some_and(|l| Arc::ptr_eq(l, &self.shared)) {
                ls.remove(&self.shared.addr.port());
            }
        }
        // Connections nobody accepted are reset, as a closing listen socket's queue is:
        // the queued ones and those still in their handshake.
        let mut queued: Vec<Arc<Conn>> = lock(&self.shared.queue).drain(..).collect();
        queued.extend(self.stack.inner.pcb.embryonic_of(&self.shared));
        for c in queued {
            let mut t = lock(&c.tcb);
            let rst = t.abort(TcpError::Aborted).then(|| t.rst_for_abort());
            self.stack.send_after(&c, t, rst);
            self.stack.remove(&c);
        }
    }
}

impl TcpStream {
    /// Our address.
    pub fn local_addr(&self) -> SocketAddr {
        self.conn.local
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.conn.remote
    }

    /// State, window, RTT and counters.
    pub fn info(&self) -> TcpInfo {
        lock(&self.conn.tcb).info()
    }

    /// `SO_RCVTIMEO`: reads give up with `WouldBlock` after this long (`None`: wait forever).
    pub fn set_read_timeout(&mut self, t: Option<Duration>) {
        self.read_timeout = t;
    }

    /// `shutdown`: `Write` sends FIN after the queued data; `Read` discards further input
    /// (recorded only: data still arriving is acknowledged); `Both` does both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            let mut t = lock(&self.conn.tcb);
            if let Some(e) = t.error() {
                return Err(io_err(e));
            }
            t.shutdown_write();
            self.stack.conn_output(&self.conn, t);
        }
        Ok(())
    }

    /// Aborts with a RST (`SO_LINGER` 0 then `close`): the peer sees a reset.
    pub fn abort(&self) {
        let mut t = lock(&self.conn.tcb);
        let rst = t.abort(TcpError::Aborted).then(|| t.rst_for_abort());
        self.stack.send_after(&self.conn, t, rst);
        // The last handle's drop runs close(), which finds the connection closed.
    }

    /// Waits until everything written was acknowledged and the connection
    /// finished closing (or `timeout` passed); `Ok(true)` when it did.
    pub fn wait_closed(&self, timeout: Duration) -> io::Result<bool> {
        let until = Instant::now() + timeout;
        let mut t = lock(&self.conn.tcb);
        loop {
            if matches!(t.state(), TcpState::Closed | TcpState::TimeWait) {
                return match t.error() {
                    Some(e) => Err(io_err(e)),
                    None => Ok(true),
                };
            }
            if let Some(e) = t.error() {
                return Err(io_err(e));
            }
            let now = Instant::now();
            if now >= until {
                return Ok(false);
            }
            t = self.stack.wait_conn(&self.conn, t, until - now);
        }
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let until = self.read_timeout.map(|d| Instant::now() + d);
        let mut t = lock(&self.conn.tcb);
        loop {
            if t.readable() > 0 {
                let n = t.recv(buf);
                self.stack.conn_output(&self.conn, t);
                return Ok(n);
            }
            if t.at_eof() {
                return Ok(0);
            }
            if let Some(e) = t.error() {
                return Err(io_err(e));
            }
            if t.is_closed() {
                return Ok(0);
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "read timed out"));
            }
            t = self.stack.wait_conn(&self.conn, t, RECHECK);
        }
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut t = lock(&self.conn.tcb);
        loop {
            match t.send(buf) {
                Ok(0) => {}
                Ok(n) => {
                    self.stack.conn_output(&self.conn, t);
                    return Ok(n);
                }
                Err(e) => return Err(io_err(e)),
            }
            t = self.stack.wait_conn(&self.conn, t, RECHECK);
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let mut t = lock(&self.conn.tcb);
        let rst = t.close(self.stack.now());
        let closed = t.is_closed();
        if rst {
            let r = t.rst_for_abort();
            self.stack.send_after(&self.conn, t, Some(r));
        } else {
            self.stack.conn_output(&self.conn, t);
        }
        self.conn.owned.store(false, Ordering::SeqCst);
        if closed || rst {
            self.stack.remove(&self.conn);
        }
    }
}
