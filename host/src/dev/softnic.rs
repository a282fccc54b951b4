//! A software model of the NIC's register and ring protocol (ABI 2.0), for
//! unit tests of the driver and the stack that need neither Verilator nor
//! root: queue pairs, RSS steering by the indirection table, per-queue
//! interrupt causes and lines, soft reset. Not the RTL: no offloads (CAPS 0),
//! no TSO, frames cross instantly inside the doorbell write; what it models
//! is what the driver's multi-queue logic depends on.
//!
//! Two models can be cabled ([`SoftNic::cable`]): what one transmits, the
//! other receives; alone, a model receives what it sends (loopback).
//!
//! Interrupts: line `v` is the OR of the unmasked causes of the queues `q`
//! with `q % vectors == v`. Level lines (the simulator's) or, with
//! `edge: true`, eventfd-like ones: each rising edge is counted and one wait
//! consumes it, as VFIO's MSI eventfd does.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use nic_abi::desc::{phase_for, Completion, RxDesc, TxDesc, STATUS_PHASE, TXD_MORE};
use nic_abi::regs::{ctrl, id, queue, rss, stats, BAR0_SIZE, QUEUES, QUEUE_STRIDE};
use nic_abi::rss::{hashtype, HASHTYPES_SUPPORTED, KEY_DEFAULT, KEY_SIZE, RETA_SIZE};
use zerocopy::{FromBytes, IntoBytes};

use super::{DevError, Device, DmaRegion};

/// How to build a model.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SoftConfig {
    /// Queue pairs (`NUM_QUEUES`).
    pub queues: u32,
    /// Interrupt vectors the "backend" has.
    pub vectors: u32,
    /// Edge-counted (eventfd) lines instead of level ones.
    pub edge: bool,
    /// Every RX completion carries this `rsstype` instead of the right one (a broken device).
    pub force_rsstype: Option<u8>,
    /// DMA region size.
    pub dma_bytes: usize,
}

impl Default for SoftConfig {
    fn default() -> Self {
        SoftConfig { queues: 4, vectors: 8, edge: false, force_rsstype: None, dma_bytes: 32 << 20 }
    }
}

#[derive(Clone, Copy, Default)]
struct Q {
    base: u64,
    size_log2: u32,
    tail: u16,
    head: u16,
    cq_base: u64,
    cq_head: u16,
    cq_tail: u16,
    packets: u32,
    drops: u32,
}

impl Q {
    fn size(&self) -> u16 {
        1u16.checked_shl(self.size_log2).unwrap_or(0)
    }
    fn cq_full(&self) -> bool {
        self.cq_tail.wrapping_sub(self.cq_head) >= self.size()
    }
}

struct Regs {
    ctrl: u32,
    capenable: u32,
    irq_status: u32,
    irq_mask: u32,
    hashtypes: u32,
    key: [u8; KEY_SIZE],
    reta: [u8; RETA_SIZE],
    tx: Vec<Q>,
    rx: Vec<Q>,
    tx_frames: u32,
    rx_frames: u32,
    rx_nobuf: u32,
    /// Rising edges not yet taken by a wait, per vector (edge mode).
    edges: Vec<u32>,
}

struct Shared {
    cfg: SoftConfig,
    dma: Arc<DmaRegion>,
    regs: Mutex<Regs>,
    cv: Condvar,
    peer: Mutex<Option<Weak<Shared>>>,
    index: usize,
    /// Every frame this model transmitted, in wire order, while recording.
    sent: Mutex<Option<Vec<Vec<u8>>>>,
    /// The one transmit path to the wire: held from taking descriptors until their frames are
    /// delivered, so a frame completed on one queue is on the wire before any frame another
    /// queue posts after seeing that completion (as the RTL's shared, in-order path does).
    txpath: Mutex<()>,
    /// The link is stuck: nothing is taken from the TX rings (so they fill up).
    paused: std::sync::atomic::AtomicBool,
}

/// A model NIC as a [`Device`].
#[derive(Clone)]
pub(crate) struct SoftNic(Arc<Shared>);

impl SoftNic {
    /// A model in loopback with its own DMA region.
    pub fn new(cfg: SoftConfig, index: usize) -> SoftNic {
        let dma = DmaRegion::new(cfg.dma_bytes, 0x1_0000_0000 * (index as u64 + 1)).expect("DMA region");
        let q = cfg.queues as usize;
        let regs = Regs {
            ctrl: 0,
            capenable: 0,
            irq_status: 0,
            irq_mask: 0,
            hashtypes: HASHTYPES_SUPPORTED,
            key: KEY_DEFAULT,
            reta: std::array::from_fn(|i| nic_abi::rss::reta_default(i, cfg.queues)),
            tx: vec![Q::default(); q],
            rx: vec![Q::default(); q],
            tx_frames: 0,
            rx_frames: 0,
            rx_nobuf: 0,
            edges: vec![0; cfg.vectors as usize],
        };
        SoftNic(Arc::new(Shared {
            cfg,
            dma,
            regs: Mutex::new(regs),
            cv: Condvar::new(),
            peer: Mutex::new(None),
            index,
            sent: Mutex::new(None),
            txpath: Mutex::new(()),
            paused: Default::default(),
        }))
    }

    /// Two models on a cable: each receives what the other sends.
    #[allow(dead_code)] // the stack's tests use it
    pub fn cable(cfg: SoftConfig) -> (SoftNic, SoftNic) {
        let (a, b) = (SoftNic::new(cfg, 0), SoftNic::new(cfg, 1));
        *a.0.peer.lock().unwrap() = Some(Arc::downgrade(&b.0));
        *b.0.peer.lock().unwrap() = Some(Arc::downgrade(&a.0));
        (a, b)
    }

    /// Starts recording the frames this model transmits (in wire order).
    #[allow(dead_code)] // the stack's tests use it
    pub fn record(&self) {
        *self.0.sent.lock().unwrap() = Some(Vec::new());
    }

    /// The frames transmitted since [`SoftNic::record`].
    #[allow(dead_code)] // the stack's tests use it
    pub fn recorded(&self) -> Vec<Vec<u8>> {
        self.0.sent.lock().unwrap().clone().unwrap_or_default()
    }

    /// Stops (or restarts) taking frames from the TX rings, as a stuck link would; the rings
    /// fill and the host's queues behind them too.
    #[allow(dead_code)] // the stack's tests use it
    pub fn pause_tx(&self, paused: bool) {
        self.0.paused.store(paused, std::sync::atomic::Ordering::SeqCst);
    }

    /// Frames received and frames dropped for want of a buffer, over all queues.
    #[allow(dead_code)] // the stack's tests use it
    pub fn rx_counts(&self) -> (u32, u32) {
        let r = self.0.lock();
        (r.rx_frames, r.rx_nobuf)
    }
}

fn vector_mask(cfg: &SoftConfig, v: u32) -> u32 {
    (0..cfg.queues).filter(|q| q % cfg.vectors == v).fold(0, |m, q| m | ctrl::irq_pair(q))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Regs> {
        self.regs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lines(&self, r: &Regs) -> Vec<bool> {
        (0..self.cfg.vectors).map(|v| r.irq_status & r.irq_mask & vector_mask(&self.cfg, v) != 0).collect()
    }

    /// Sets interrupt causes, counting rising edges of the lines.
    fn raise(&self, r: &mut Regs, causes: u32) {
        let before = self.lines(r);
        r.irq_status |= causes;
        for (v, (b, a)) in before.into_iter().zip(self.lines(r)).enumerate() {
            if a && !b {
                r.edges[v] += 1;
            }
        }
        self.cv.notify_all();
    }

    fn write_completion(&self, cq: &Q, c: &mut Completion) {
        let idx = cq.cq_tail;
        c.index = idx.into();
        c.status |= if phase_for(idx, cq.size_log2) { STATUS_PHASE } else { 0 };
        let at = cq.cq_base + (idx & (cq.size() - 1)) as u64 * 16;
        let b = c.as_bytes();
        // The word with the phase last, as the RTL writes it.
        assert!(self.dma.write(at, &b[..8]) && self.dma.write(at + 8, &b[8..]), "completion outside DMA");
    }

    /// Consumes what TX queue `q` has posted, as far as its completion queue has room;
    /// returns the frames to put on the wire.
    fn run_tx(&self, r: &mut Regs, q: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if r.ctrl & ctrl::CTRL_ENABLE == 0 || self.paused.load(std::sync::atomic::Ordering::SeqCst) {
            return out;
        }
        loop {
            let t = r.tx[q];
            // Gather one packet's descriptors (a chain ends at one without TXD_MORE).
            let mut idx = t.head;
            let mut frame = Vec::new();
            let mut lens = Vec::new();
            let complete = loop {
                if idx == t.tail {
                    break false;
                }
                let mut d = [0u8; 32];
                let at = t.base + (idx & (t.size() - 1)) as u64 * 32;
                assert!(self.dma.read(at, &mut d), "TX descriptor outside DMA");
                let d = TxDesc::read_from_bytes(&d[..]).expect("32 bytes");
                let mut data = vec![0u8; d.len.get() as usize];
                assert!(self.dma.read(d.addr.get(), &mut data), "TX buffer outside DMA");
                frame.extend_from_slice(&data);
                lens.push(d.len.get() as u16);
                idx = idx.wrapping_add(1);
                if d.flags & TXD_MORE == 0 {
                    break true;
                }
            };
            if !complete || (t.cq_tail.wrapping_sub(t.cq_head) as usize + lens.len()) > t.size() as usize {
                return out;
            }
            for len in lens {
                let mut c = Completion { len: len.into(), ..Default::default() };
                self.write_completion(&r.tx[q], &mut c);
                let t = &mut r.tx[q];
                t.head = t.head.wrapping_add(1);
                t.cq_tail = t.cq_tail.wrapping_add(1);
            }
            r.tx[q].packets = r.tx[q].packets.wrapping_add(1);
            r.tx_frames = r.tx_frames.wrapping_add(1);
            self.raise(r, ctrl::irq_tx(q as u32));
            out.push(frame);
        }
    }

    /// Receives one frame: RSS picks the queue, a posted buffer takes it.
    fn receive(&self, frame: &[u8]) {
        let mut r = self.lock();
        if r.ctrl & ctrl::CTRL_ENABLE == 0 {
            return;
        }
        let (flowid, rsstype) = rss_of(&r, frame);
        let q = match rsstype {
            hashtype::NONE => 0,
            _ => {
                let e = r.reta[flowid as usize & (RETA_SIZE - 1)] as usize;
                if e < r.rx.len() {
                    e
                } else {
                    0
                }
            }
        };
        let rq = r.rx[q];
        if rq.head == rq.tail || rq.cq_full() {
            r.rx[q].drops = r.rx[q].drops.wrapping_add(1);
            r.rx_nobuf = r.rx_nobuf.wrapping_add(1);
            return;
        }
        let mut d = [0u8; 16];
        assert!(self.dma.read(rq.base + (rq.head & (rq.size() - 1)) as u64 * 16, &mut d), "RX descriptor outside DMA");
        let d = RxDesc::read_from_bytes(&d[..]).expect("16 bytes");
        if frame.len() > d.len.get() as usize {
            r.rx[q].drops = r.rx[q].drops.wrapping_add(1);
            return;
        }
        assert!(self.dma.write(d.addr.get(), frame), "RX buffer outside DMA");
        let rsstype = self.cfg.force_rsstype.unwrap_or(rsstype);
        let mut c = Completion { len: (frame.len() as u16).into(), flowid: flowid.into(), rsstype, ..Default::default() };
        self.write_completion(&rq, &mut c);
        let rq = &mut r.rx[q];
        rq.head = rq.head.wrapping_add(1);
        rq.cq_tail = rq.cq_tail.wrapping_add(1);
        rq.packets = rq.packets.wrapping_add(1);
        r.rx_frames = r.rx_frames.wrapping_add(1);
        self.raise(&mut r, ctrl::irq_rx(q as u32));
    }

    fn wire(&self, frames: Vec<Vec<u8>>) {
        if frames.is_empty() {
            return;
        }
        if let Some(log) = self.sent.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            log.extend(frames.iter().cloned());
        }
        let peer = self.peer.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match peer {
            Some(w) => {
                if let Some(p) = w.upgrade() {
                    for f in frames {
                        p.receive(&f);
                    }
                }
            }
            None => {
                for f in frames {
                    self.receive(&f);
                }
            }
        }
    }
}

/// The hash and type the NIC computes for `frame` (nic_abi::rss's table).
fn rss_of(r: &Regs, f: &[u8]) -> (u32, u8) {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let mut l3 = 14;
    let mut et = u16::from_be_bytes([*f.get(12).unwrap_or(&0), *f.get(13).unwrap_or(&0)]);
    if et == 0x8100 && f.len() >= 18 {
        et = u16::from_be_bytes([f[16], f[17]]);
        l3 = 18;
    }
    let port = |at: usize| f.get(at..at + 4).map(|p| (u16::from_be_bytes([p[0], p[1]]), u16::from_be_bytes([p[2], p[3]])));
    let (src, dst, proto, ports) = match et {
        0x0800 if f.len() >= l3 + 20 => {
            let ihl = (f[l3] & 0xf) as usize * 4;
            let frag = u16::from_be_bytes([f[l3 + 6], f[l3 + 7]]) & 0x3fff != 0;
            let a = |o: usize| IpAddr::V4(Ipv4Addr::new(f[o], f[o + 1], f[o + 2], f[o + 3]));
            let proto = if frag { 0 } else { f[l3 + 9] };
            (a(l3 + 12), a(l3 + 16), proto, port(l3 + ihl))
        }
        0x86dd if f.len() >= l3 + 40 => {
            let a = |o: usize| IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&f[o..o + 16]).unwrap_or_default()));
            (a(l3 + 8), a(l3 + 24), f[l3 + 6], port(l3 + 40))
        }
        _ => return (0, hashtype::NONE),
    };
    let (sp, dp) = ports.unwrap_or((0, 0));
    let proto = if ports.is_some() { proto } else { 0 };
    crate::net::rss::rss_flow(&r.key, r.hashtypes, SocketAddr::new(src, sp), SocketAddr::new(dst, dp), proto)
}

impl Device for SoftNic {
    fn describe(&self) -> String {
        format!("soft NIC model {} ({} queues, {} vectors)", self.0.index, self.0.cfg.queues, self.0.cfg.vectors)
    }

    fn read32(&self, off: u32) -> Result<u32, DevError> {
        if off >= BAR0_SIZE || off % 4 != 0 {
            return Err(DevError::Bus { off, detail: "outside BAR0 or unaligned".into() });
        }
        let r = self.0.lock();
        let cfg = &self.0.cfg;
        Ok(match off {
            id::ID => nic_abi::NIC_ID,
            id::VERSION => nic_abi::ABI_VERSION,
            id::NEXT => ctrl::CTRL,
            id::RING_LIMITS => nic_abi::RING_MAX_LOG2 | nic_abi::RING_MIN_LOG2 << 8,
            id::MAX_FRAME => nic_abi::MAX_FRAME,
            id::DATAPATH => nic_abi::DATAPATH_BITS,
            id::NUM_QUEUES => cfg.queues,
            id::RSS_INFO => RETA_SIZE as u32 | (KEY_SIZE as u32) << 16,
            id::RSS_HASHTYPES => HASHTYPES_SUPPORTED,
            ctrl::CTRL => r.ctrl,
            ctrl::CAPENABLE => r.capenable,
            ctrl::IRQ_STATUS => r.irq_status,
            ctrl::IRQ_MASK => r.irq_mask,
            ctrl::STATUS => ctrl::STATUS_IDLE,
            rss::HASHTYPES => r.hashtypes,
            o if (rss::KEY..rss::KEY + KEY_SIZE as u32).contains(&o) => {
                let i = (o - rss::KEY) as usize;
                u32::from_be_bytes([r.key[i], r.key[i + 1], r.key[i + 2], r.key[i + 3]])
            }
            o if (rss::RETA..rss::RETA + RETA_SIZE as u32).contains(&o) => {
                let i = (o - rss::RETA) as usize;
                u32::from_le_bytes([r.reta[i], r.reta[i + 1], r.reta[i + 2], r.reta[i + 3]])
            }
            stats::TX_FRAMES => r.tx_frames,
            stats::RX_FRAMES => r.rx_frames,
            stats::RX_DROP_NOBUF => r.rx_nobuf,
            o if o >= QUEUES && ((o - QUEUES) / QUEUE_STRIDE) < cfg.queues => {
                let q = ((o - QUEUES) / QUEUE_STRIDE) as usize;
                let within = (o - QUEUES) % QUEUE_STRIDE;
                let x = if within < 0x80 { &r.tx[q] } else { &r.rx[q] };
                match within % 0x80 {
                    queue::BASE_LO => x.base as u32,
                    queue::BASE_HI => (x.base >> 32) as u32,
                    queue::SIZE_LOG2 => x.size_log2,
                    queue::TAIL => x.tail as u32,
                    queue::HEAD => x.head as u32,
                    queue::CQ_BASE_LO => x.cq_base as u32,
                    queue::CQ_BASE_HI => (x.cq_base >> 32) as u32,
                    queue::CQ_HEAD => x.cq_head as u32,
                    queue::CQ_TAIL => x.cq_tail as u32,
                    queue::PACKETS => x.packets,
                    queue::DROPS => x.drops,
                    _ => 0,
                }
            }
            _ => 0,
        })
    }

    fn write32(&self, off: u32, val: u32) -> Result<(), DevError> {
        if off >= BAR0_SIZE || off % 4 != 0 {
            return Err(DevError::Bus { off, detail: "outside BAR0 or unaligned".into() });
        }
        let s = &self.0;
        let _path = s.txpath.lock().unwrap_or_else(|e| e.into_inner());
        let mut r = s.lock();
        let mut frames = Vec::new();
        match off {
            ctrl::CTRL if val & ctrl::CTRL_RESET != 0 => {
                r.ctrl = 0;
                r.irq_status = 0;
                let r = &mut *r;
                for x in r.tx.iter_mut().chain(r.rx.iter_mut()) {
                    (x.tail, x.head, x.cq_head, x.cq_tail) = (0, 0, 0, 0);
                }
            }
            ctrl::CTRL => {
                r.ctrl = val;
                for q in 0..r.tx.len() {
                    frames.extend(s.run_tx(&mut r, q));
                }
            }
            ctrl::CAPENABLE => r.capenable = 0,
            ctrl::IRQ_STATUS => r.irq_status &= !val,
            ctrl::IRQ_MASK => {
                r.irq_mask = val;
                s.raise(&mut r, 0);
            }
            rss::HASHTYPES => r.hashtypes = val & HASHTYPES_SUPPORTED,
            o if (rss::KEY..rss::KEY + KEY_SIZE as u32).contains(&o) => {
                let i = (o - rss::KEY) as usize;
                r.key[i..i + 4].copy_from_slice(&val.to_be_bytes());
            }
            o if (rss::RETA..rss::RETA + RETA_SIZE as u32).contains(&o) => {
                let i = (o - rss::RETA) as usize;
                r.reta[i..i + 4].copy_from_slice(&val.to_le_bytes());
            }
            o if o >= QUEUES && ((o - QUEUES) / QUEUE_STRIDE) < s.cfg.queues => {
                let q = ((o - QUEUES) / QUEUE_STRIDE) as usize;
                let within = (o - QUEUES) % QUEUE_STRIDE;
                let is_tx = within < 0x80;
                let x = if is_tx { &mut r.tx[q] } else { &mut r.rx[q] };
                match within % 0x80 {
                    queue::BASE_LO => x.base = (x.base & !0xffff_ffff) | val as u64,
                    queue::BASE_HI => x.base = (x.base & 0xffff_ffff) | (val as u64) << 32,
                    queue::SIZE_LOG2 => x.size_log2 = val,
                    queue::TAIL => x.tail = val as u16,
                    queue::CQ_BASE_LO => x.cq_base = (x.cq_base & !0xffff_ffff) | val as u64,
                    queue::CQ_BASE_HI => x.cq_base = (x.cq_base & 0xffff_ffff) | (val as u64) << 32,
                    queue::CQ_HEAD => x.cq_head = val as u16,
                    _ => {}
                }
                if is_tx {
                    frames = s.run_tx(&mut r, q);
                }
            }
            _ => {}
        }
        drop(r);
        // Outside our lock: the peer takes its own (a cable between two models must not deadlock).
        s.wire(frames);
        Ok(())
    }

    fn dma(&self) -> &Arc<DmaRegion> {
        &self.0.dma
    }

    fn wait_irq(&self, timeout: Duration) -> Result<bool, DevError> {
        self.wait_lines((0..self.0.cfg.vectors).collect(), timeout)
    }

    fn irq_vectors(&self) -> u32 {
        self.0.cfg.vectors
    }

    fn wait_irq_vector(&self, vector: u32, timeout: Duration) -> Result<bool, DevError> {
        if vector >= self.0.cfg.vectors {
            return Err(DevError::NoVector { vector, vectors: self.0.cfg.vectors });
        }
        self.wait_lines(vec![vector], timeout)
    }
}

impl SoftNic {
    fn wait_lines(&self, vs: Vec<u32>, timeout: Duration) -> Result<bool, DevError> {
        let s = &self.0;
        let fired = |r: &mut Regs| -> bool {
            if s.cfg.edge {
                match vs.iter().find(|v| r.edges[**v as usize] > 0) {
                    Some(v) => {
                        r.edges[*v as usize] = 0;
                        true
                    }
                    None => false,
                }
            } else {
                let lines = s.lines(r);
                vs.iter().any(|v| lines[*v as usize])
            }
        };
        let mut r = s.lock();
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if fired(&mut r) {
                return Ok(true);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            r = s.cv.wait_timeout(r, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}
