//! An interface joins and leaves the stack (FreeBSD's `if_attach` /
//! `if_detach`): a slot and generation in the table, one worker per queue pair,
//! and on departure everything it owned freed in order (see the stack's module
//! docs on lifecycles).

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::iface::{link_local, IfAddrs, Iface, SndQueue};
use super::in_pcb::{Conn, ConnKey};
use super::input;
use crate::sync::{lock, lock_read, lock_write};
use super::vnet::{DetachReport, Stack, StackError};
use crate::driver::Driver;
use crate::mbuf::IfRef;
use crate::net::neigh::NeighCache;
use nic_tcp::TcpError;

impl Stack {
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
        for shard in &self.inner.pcb.shards {
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
}
