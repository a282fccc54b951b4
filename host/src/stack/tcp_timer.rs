//! Timers (FreeBSD's `tcp_timer.c`, the stack's half): each connection keeps
//! its deadlines (nic-tcp's `Tcb::next_timer`); the stack's workers run the
//! due ones shard by shard, at the stack clock's `now`.

use std::sync::Arc;

use nic_tcp::time::Instant;

use super::iface::Iface;
use super::in_pcb::Conn;
use crate::sync::lock;
use super::vnet::Stack;

impl Stack {
    /// Runs due timers of this interface's connections in the shards of worker `q`: shard `s`
    /// belongs to worker `s % queues`, so the interface's workers together look at each
    /// connection once per tick, and no two run the same connection's timers.
    pub(crate) fn tcp_timers(&self, iface: &Iface, q: u16, now: Instant) {
        let workers = iface.snd.len().max(1);
        let mine = self.inner.pcb.shards.iter().enumerate().filter(|(s, _)| s % workers == q as usize);
        for (_, shard) in mine {
            let due: Vec<Arc<Conn>> = lock(shard)
                .values()
                .filter(|c| c.route.ifref == iface.ifref)
                .filter(|c| lock(&c.tcb).next_timer().is_some_and(|t| t <= now))
                .cloned()
                .collect();
            for c in due {
                let mut t = lock(&c.tcb);
                t.on_timer(now);
                let closed = t.is_closed();
                self.conn_output(&c, t);
                if closed {
                    self.reap(&c);
                }
            }
        }
    }
}
