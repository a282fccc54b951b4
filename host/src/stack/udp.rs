//! UDP sockets: `bind`, `send_to`, `recv_from`. Datagrams go out through
//! `udp_output` (checksum left to the NIC where `if_hwassist` allows) and are
//! never fragmented: one larger than the path MTU is refused with EMSGSIZE,
//! as a socket with `IP_DONTFRAG` is. A socket's receive queue is bounded;
//! datagrams past it are dropped and counted (`udps_fullsock`).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::in_pcb::UdpShared;
use crate::sync::lock;
use super::vnet::Stack;
use crate::mbuf::Mbuf;
use crate::net::{udp_output, OutputError};

/// A bound UDP socket. Dropping it unbinds it.
pub struct UdpSocket {
    stack: Stack,
    shared: Arc<UdpShared>,
    read_timeout: Option<Duration>,
}

impl Stack {
    /// `socket(SOCK_DGRAM)` + `bind`: port 0 picks an ephemeral one; `[::]` receives both families.
    pub fn udp_bind(&self, addr: SocketAddr) -> io::Result<UdpSocket> {
        let mut t = lock(&self.inner.pcb.udp);
        let mut addr = addr;
        if addr.port() == 0 {
            let p = (49152..=u16::MAX).find(|p| !t.contains_key(p)).ok_or_else(|| {
                io::Error::new(io::ErrorKind::AddrInUse, "no free UDP port")
            })?;
            addr.set_port(p);
        }
        if t.contains_key(&addr.port()) {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("UDP port {} is bound", addr.port())));
        }
        let shared = Arc::new(UdpShared {
            addr,
            queue: Mutex::new((VecDeque::new(), 0)),
            cv: Condvar::new(),
            fullsock: AtomicU64::new(0),
        });
        t.insert(addr.port(), shared.clone());
        Ok(UdpSocket { stack: self.clone(), shared, read_timeout: None })
    }
}

impl UdpSocket {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `SO_RCVTIMEO` (`None`: wait forever); a read that times out fails with `WouldBlock`.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) {
        self.read_timeout = t;
    }

    /// Datagrams dropped because this socket's queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.fullsock.load(Ordering::Relaxed)
    }

    /// Sends one datagram; EMSGSIZE when it does not fit the path MTU (no fragmentation).
    pub fn send_to(&self, buf: &[u8], dst: SocketAddr) -> io::Result<usize> {
        let st = &self.stack;
        let route = st.route_to(dst.ip())?;
        let iface = st
            .iface(route.ifref)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NetworkDown, "the route's interface departed"))?;
        let src = if self.shared.addr.ip().is_unspecified() { route.src } else { self.shared.addr.ip() };
        let ifnet = iface.ifnet();
        let ip = iface.ip_out(src, dst.ip()).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "source and destination families differ")
        })?;
        let r = udp_output(
            &ifnet,
            Mbuf::from_payload(buf),
            &ip,
            self.shared.addr.port(),
            dst.port(),
            None,
            &mut lock(&st.inner.stats),
        );
        match r {
            Ok(m) => {
                st.l2_output(&iface, &ifnet, route.nexthop, vec![m]);
                Ok(buf.len())
            }
            Err(e @ (OutputError::MsgSize { .. } | OutputError::TooLong(_))) => {
                Err(io::Error::new(io::ErrorKind::InvalidInput, format!("EMSGSIZE: {e}")))
            }
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }

    /// Receives one datagram into `buf` (truncated if longer, as `recvfrom` does); returns its length and sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let until = self.read_timeout.map(|d| Instant::now() + d);
        let mut q = lock(&self.shared.queue);
        loop {
            if let Some((src, d)) = q.0.pop_front() {
                q.1 -= d.len();
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                return Ok((n, src));
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "receive timed out"));
            }
            q = self.shared.cv.wait_timeout(q, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let mut t = lock(&self.stack.inner.pcb.udp);
        if t.get(&self.shared.addr.port()).is_some_and(|s| Arc::ptr_eq(s, &self.shared)) {
            t.remove(&self.shared.addr.port());
        }
    }
}
