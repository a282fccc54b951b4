//! Shared harness of the cross-crate tests.
//!
//! [`RawNic`] drives the Verilated NIC core through its rings directly, with
//! descriptors the test writes byte for byte (the driver would refuse the
//! malformed ones these tests need), DMA memory the test owns, and an
//! external wire the test injects into and reads from. [`seed`] prepares a
//! correct frame for checksum offload the way the FreeBSD stack does, using
//! `etherparse` (not our parser) to find the headers.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use nic_abi::desc::{phase_for, Completion, RxDesc, TxDesc};
use nic_abi::regs::{ctrl, id, queue, rxq, txq};
use nic_abi::{cksum, csum, ifcap};
use nic_sim::{DmaMemory, Frame, Sim, SimConfig, SimNic, VecMemory};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zerocopy::{FromBytes, IntoBytes};

/// IOVA where the test's DMA memory starts.
pub const BASE: u64 = 0x8000_0000;
const RING_LOG2: u32 = 6;
const RING: u64 = 1 << RING_LOG2;
/// Bytes per buffer: a maximum frame, 8-aligned (also the largest piece of a chain here).
pub const BUF: u64 = 0x2400;
/// Rings and completion queues of both queue pairs in the first 0x8000 bytes, then the buffers.
const MEM: usize = (0x10000 + 4 * RING * BUF) as usize;

/// One ring the harness drives: its register block, where its descriptors, completions and
/// buffers live, and the indices the test keeps.
struct Rings {
    block: u32,
    ring: u64,
    cq: u64,
    bufs: u64,
    desc_len: u64,
    tail: u16,
    cq_head: u16,
}

impl Rings {
    /// TX (`rx` false) or RX ring of queue pair `q`, each in its own place in the test's memory.
    fn new(q: u32, rx: bool) -> Rings {
        let k = 2 * q as u64 + rx as u64;
        Rings {
            block: if rx { rxq(q) } else { txq(q) },
            ring: BASE + 0x2000 * k,
            cq: BASE + 0x2000 * k + 0x1000,
            bufs: BASE + 0x10000 + k * RING * BUF,
            desc_len: if rx { 16 } else { 32 },
            tail: 0,
            cq_head: 0,
        }
    }

    fn slot_buf(&self, index: u16) -> u64 {
        self.bufs + (index as u64 % RING) * BUF
    }

    fn slot_desc(&self, index: u16) -> u64 {
        self.ring + (index as u64 % RING) * self.desc_len
    }
}

/// The NIC core in Verilator with rings the test manages.
pub struct RawNic {
    /// The simulation (clocked by the test's thread while it waits: lockstep).
    pub sim: Sim,
    /// The NIC.
    pub nic: SimNic,
    /// DMA memory.
    pub mem: Arc<VecMemory>,
    tx: [Rings; 2],
    rx: [Rings; 2],
}

impl RawNic {
    /// A NIC on an external wire with default models.
    pub fn new() -> Self {
        Self::with_config(SimConfig::external(1))
    }

    /// A NIC with the given simulator configuration (one NIC, external wire), in lockstep: one
    /// thread drives it, so a test's seed repeats its run to the cycle.
    pub fn with_config(cfg: SimConfig) -> Self {
        let sim = Sim::start(cfg.with_lockstep()).expect("simulator starts");
        let nic = sim.nic(0);
        let mem = Arc::new(VecMemory::new(BASE, MEM));
        nic.attach_memory(mem.clone()).unwrap();
        assert_eq!(nic.read32(id::ID).unwrap(), nic_abi::NIC_ID);
        let tx = [Rings::new(0, false), Rings::new(1, false)];
        let rx = [Rings::new(0, true), Rings::new(1, true)];
        let mut n = RawNic { sim, nic, mem, tx, rx };
        n.program();
        n
    }

    fn program(&mut self) {
        let w = |off, v| self.nic.write32(off, v).unwrap();
        for r in self.tx.iter().chain(&self.rx) {
            w(r.block + queue::BASE_LO, r.ring as u32);
            w(r.block + queue::BASE_HI, (r.ring >> 32) as u32);
            w(r.block + queue::CQ_BASE_LO, r.cq as u32);
            w(r.block + queue::CQ_BASE_HI, (r.cq >> 32) as u32);
            w(r.block + queue::SIZE_LOG2, RING_LOG2);
        }
        // Queue pair 1 is there for the RSS and queue tests ([`RawNic::spread_rx`]); every other
        // test sees queue pair 0 only: every indirection-table entry names it.
        self.set_reta(|_| 0);
        w(ctrl::CAPENABLE, 0xffff_ffff);
        w(ctrl::IRQ_MASK, ctrl::IRQ_TX | ctrl::IRQ_RX);
        w(ctrl::CTRL, ctrl::CTRL_ENABLE);
    }

    /// Sets CAPENABLE (masked by the NIC to what it has).
    pub fn set_capenable(&self, v: u32) {
        self.nic.write32(ctrl::CAPENABLE, v).unwrap();
    }

    /// Soft reset, then the rings programmed again from index 0 (zeroing the completion queues).
    pub fn soft_reset(&mut self) {
        self.nic.write32(ctrl::CTRL, ctrl::CTRL_RESET).unwrap();
        // The NIC finishes its DMA in flight first (completions included): wait for the reset to
        // have happened before zeroing the queues, or a late completion could land after.
        let t0 = Instant::now();
        while self.nic.read32(ctrl::CTRL).unwrap() & ctrl::CTRL_RESET != 0
            || self.nic.read32(ctrl::STATUS).unwrap() & ctrl::STATUS_IDLE == 0
        {
            assert!(t0.elapsed() < Duration::from_secs(30), "soft reset did not complete");
        }
        for r in self.tx.iter_mut().chain(self.rx.iter_mut()) {
            self.mem.write(r.cq, &[0u8; (RING * 16) as usize]);
            r.tail = 0;
            r.cq_head = 0;
        }
        self.program();
    }

    /// Posts `frame` with descriptor `d` on TX queue 0 (its `addr` and `len` are filled in unless
    /// `keep_addr_len`).
    pub fn post_tx(&mut self, frame: &[u8], d: TxDesc, keep_addr_len: bool) {
        self.post_tx_on(0, frame, d, keep_addr_len);
    }

    /// [`RawNic::post_tx`] on TX queue `q`.
    pub fn post_tx_on(&mut self, q: usize, frame: &[u8], mut d: TxDesc, keep_addr_len: bool) {
        let r = &mut self.tx[q];
        let buf = r.slot_buf(r.tail);
        assert!(self.mem.write(buf, frame));
        if !keep_addr_len {
            d.addr = buf.into();
            d.len = (frame.len() as u32).into();
        }
        assert!(self.mem.write(r.slot_desc(r.tail), d.as_bytes()));
        r.tail = r.tail.wrapping_add(1);
        self.nic.write32(r.block + queue::TAIL, r.tail as u32).unwrap();
    }

    /// Posts one packet as a descriptor chain: piece `i` of `pkt` (lengths `cuts`) in slot `i`'s
    /// buffer, `TXD_MORE` on all but the last, `first`'s offload fields and `pkt_len` on the first;
    /// one doorbell. Returns the number of descriptors.
    pub fn post_tx_chain(&mut self, pkt: &[u8], first: TxDesc, cuts: &[usize]) -> usize {
        self.post_tx_chain_with(pkt, first, cuts, |_, _| {})
    }

    /// [`RawNic::post_tx_chain`], with `fixup(i, desc)` applied to each descriptor last (for
    /// malformed chains).
    pub fn post_tx_chain_with(
        &mut self,
        pkt: &[u8],
        first: TxDesc,
        cuts: &[usize],
        mut fixup: impl FnMut(usize, &mut TxDesc),
    ) -> usize {
        assert_eq!(cuts.iter().sum::<usize>(), pkt.len(), "cuts cover the packet");
        let r = &mut self.tx[0];
        let mut off = 0;
        for (i, &n) in cuts.iter().enumerate() {
            let buf = r.slot_buf(r.tail);
            assert!(n as u64 <= BUF, "piece of {n} bytes fits a slot buffer");
            assert!(self.mem.write(buf, &pkt[off..off + n]));
            let mut d = if i == 0 { first } else { TxDesc::default() };
            d.addr = buf.into();
            d.len = (n as u32).into();
            if i == 0 {
                d.pkt_len = (pkt.len() as u32).into();
            }
            d.flags = if i + 1 < cuts.len() { nic_abi::desc::TXD_MORE } else { 0 };
            fixup(i, &mut d);
            assert!(self.mem.write(r.slot_desc(r.tail), d.as_bytes()));
            r.tail = r.tail.wrapping_add(1);
            off += n;
        }
        self.nic.write32(r.block + queue::TAIL, r.tail as u32).unwrap();
        cuts.len()
    }

    /// The IOVA of TX queue 0's next slot buffer (for descriptors built by hand).
    pub fn next_tx_buf(&self) -> u64 {
        self.tx[0].slot_buf(self.tx[0].tail)
    }

    /// The completion at `head` of the queue at `cq`, once the NIC has written it (the phase of
    /// this lap), or `None` after `timeout`.
    fn poll_cpl(&self, cq: u64, head: u16, timeout: Duration) -> Option<Completion> {
        let deadline = self.nic.deadline(timeout);
        loop {
            let slot = head as u64 % RING;
            let raw = self.mem.get(cq + slot * 16, 16).unwrap();
            let c = Completion::read_from_bytes(&raw).unwrap();
            if (c.status & 0x80 != 0) == phase_for(head, RING_LOG2) {
                return Some(c);
            }
            if deadline.expired() {
                return None;
            }
            let _ = self.nic.wait_irq(Duration::from_millis(2));
            self.nic.write32(ctrl::IRQ_STATUS, 0xffff).unwrap();
        }
    }

    /// Waits for TX queue 0's next completion and returns it.
    pub fn tx_cpl(&mut self) -> Completion {
        self.tx_cpl_on(0)
    }

    /// Waits for TX queue `q`'s next completion and returns it.
    pub fn tx_cpl_on(&mut self, q: usize) -> Completion {
        let r = &self.tx[q];
        let head = r.cq_head;
        let c = self
            .poll_cpl(r.cq, head, Duration::from_secs(60))
            .unwrap_or_else(|| panic!("no TX queue {q} completion (index {head}) after 60 s"));
        assert_eq!(c.index.get(), head, "TX completions in order");
        let r = &mut self.tx[q];
        r.cq_head = head.wrapping_add(1);
        self.nic.write32(r.block + queue::CQ_HEAD, r.cq_head as u32).unwrap();
        c
    }

    /// Posts `n` receive buffers of `len` bytes on RX queue 0.
    pub fn post_rx(&mut self, n: usize, len: u32) {
        self.post_rx_on(0, n, len);
    }

    /// Posts `n` receive buffers of `len` bytes on RX queue `q`.
    pub fn post_rx_on(&mut self, q: usize, n: usize, len: u32) {
        for _ in 0..n {
            let addr = self.rx[q].slot_buf(self.rx[q].tail);
            self.post_rx_desc_on(q, RxDesc { addr: addr.into(), len: len.into(), rsvd: 0.into() }, false);
        }
        let r = &self.rx[q];
        self.nic.write32(r.block + queue::TAIL, r.tail as u32).unwrap();
    }

    /// Posts one hand-made receive descriptor on RX queue 0.
    pub fn post_rx_desc(&mut self, d: RxDesc) {
        self.post_rx_desc_on(0, d, true);
    }

    fn post_rx_desc_on(&mut self, q: usize, d: RxDesc, doorbell: bool) {
        let r = &mut self.rx[q];
        assert!(self.mem.write(r.slot_desc(r.tail), d.as_bytes()));
        r.tail = r.tail.wrapping_add(1);
        if doorbell {
            self.nic.write32(r.block + queue::TAIL, r.tail as u32).unwrap();
        }
    }

    /// Waits for RX queue 0's next completion; returns it with the buffer's bytes.
    pub fn rx_cpl(&mut self) -> (Completion, Vec<u8>) {
        let head = self.rx[0].cq_head;
        self.try_rx_cpl_on(0, Duration::from_secs(60))
            .unwrap_or_else(|| panic!("no RX completion (index {head}) after 60 s"))
    }

    /// RX queue 0's next completion, if one is written within `timeout`, with its bytes.
    pub fn try_rx_cpl(&mut self, timeout: Duration) -> Option<(Completion, Vec<u8>)> {
        self.try_rx_cpl_on(0, timeout)
    }

    /// RX queue `q`'s next completion, if one is written within `timeout`, with its bytes.
    pub fn try_rx_cpl_on(&mut self, q: usize, timeout: Duration) -> Option<(Completion, Vec<u8>)> {
        let r = &self.rx[q];
        let head = r.cq_head;
        let c = self.poll_cpl(r.cq, head, timeout)?;
        assert_eq!(c.index.get(), head, "RX completions in order");
        let data = self.mem.get(r.slot_buf(head), c.len.get() as usize).unwrap();
        let r = &mut self.rx[q];
        r.cq_head = head.wrapping_add(1);
        self.nic.write32(r.block + queue::CQ_HEAD, r.cq_head as u32).unwrap();
        Some((c, data))
    }

    /// Posts `d` exactly as given on TX queue `q` (whatever it holds) and rings the doorbell.
    pub fn post_tx_raw_on(&mut self, q: usize, d: &TxDesc) {
        let r = &mut self.tx[q];
        assert!(self.mem.write(r.slot_desc(r.tail), d.as_bytes()));
        r.tail = r.tail.wrapping_add(1);
        self.nic.write32(r.block + queue::TAIL, r.tail as u32).unwrap();
    }

    /// Takes every completion written so far on every ring (TX queues, then RX queues), hands
    /// their slots back, and returns their status bytes (phase bit cleared).
    pub fn drain_completions(&mut self) -> Vec<u8> {
        let mut got = Vec::new();
        for r in self.tx.iter_mut().chain(self.rx.iter_mut()) {
            let start = r.cq_head;
            loop {
                let raw = self.mem.get(r.cq + (r.cq_head as u64 % RING) * 16, 16).unwrap();
                let c = Completion::read_from_bytes(&raw).unwrap();
                if (c.status & 0x80 != 0) != phase_for(r.cq_head, RING_LOG2) {
                    break;
                }
                got.push(c.status & 0x7f);
                r.cq_head = r.cq_head.wrapping_add(1);
            }
            if r.cq_head != start {
                self.nic.write32(r.block + queue::CQ_HEAD, r.cq_head as u32).unwrap();
            }
        }
        got
    }

    /// The register blocks of every ring (TX queues, then RX queues), for tests that write
    /// their pointers by hand.
    pub fn ring_blocks(&self) -> Vec<u32> {
        self.tx.iter().chain(&self.rx).map(|r| r.block).collect()
    }

    /// Writes indirection-table entry `i` = `f(i)` for all 128 entries.
    pub fn set_reta(&self, f: impl Fn(usize) -> u8) {
        for w in 0..nic_abi::rss::RETA_SIZE / 4 {
            let v = (0..4).fold(0u32, |acc, j| acc | (f(4 * w + j) as u32) << (8 * j));
            self.nic.write32(nic_abi::regs::rss::RETA + 4 * w as u32, v).unwrap();
        }
    }

    /// Spreads received frames over RX queues 0 and 1 (entry `i` = `i % 2`).
    pub fn spread_rx(&self) {
        self.set_reta(|i| (i % 2) as u8);
    }

    /// Frames the NIC put on the wire, waiting up to `timeout` for at least `n`.
    pub fn wire(&self, n: usize, timeout: Duration) -> Vec<Frame> {
        let mut v = self.nic.take_tx();
        let deadline = self.nic.deadline(timeout);
        while v.len() < n && !deadline.expired() {
            v.extend(self.nic.wait_tx(Duration::from_millis(20)).unwrap());
        }
        v
    }

    /// Reads a counter (`regs::stats`).
    pub fn stat(&self, off: u32) -> u32 {
        self.nic.read32(off).unwrap()
    }
}

impl Default for RawNic {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`seed`] found in a frame, by `etherparse`.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Ethernet header length.
    pub l2: usize,
    /// IP header length (with IPv6 extension headers).
    pub l3: usize,
    /// IPv6.
    pub v6: bool,
    /// TCP (else UDP).
    pub tcp: bool,
}

/// Finds the headers of a TCP/UDP frame with `etherparse`; `None` for anything else (fragments included).
pub fn layout(frame: &[u8]) -> Option<Layout> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let l2 = if p.vlan.is_some() { 18 } else { 14 };
    let (l3, v6) = match &p.net {
        Some(NetSlice::Ipv4(v4)) => {
            if v4.is_payload_fragmented() {
                return None;
            }
            (v4.header().slice().len(), false)
        }
        Some(NetSlice::Ipv6(v6)) => {
            if v6.is_payload_fragmented() {
                return None;
            }
            (v6.header().slice().len() + v6.extensions().slice().len(), true)
        }
        _ => return None,
    };
    let tcp = match &p.transport {
        Some(TransportSlice::Tcp(_)) => true,
        Some(TransportSlice::Udp(_)) => false,
        _ => return None,
    };
    Some(Layout { l2, l3, v6, tcp })
}

/// Prepares a correct frame for offload as FreeBSD's stack does: IPv4 header checksum zeroed
/// (`CSUM_IP`), the L4 checksum field seeded with the pseudo-header sum, and the descriptor to match.
pub fn seed(frame: &[u8]) -> Option<(Vec<u8>, TxDesc)> {
    let lo = layout(frame)?;
    let mut f = frame.to_vec();
    let l4 = lo.l2 + lo.l3;
    let l4len = (f.len() - l4) as u32;
    let off = if lo.tcp { csum::TCP_CSUM_OFFSET } else { csum::UDP_CSUM_OFFSET } as usize;
    let (flags, pseudo) = if lo.v6 {
        let ip = &f[lo.l2..];
        let nh = if lo.tcp { 6 } else { 17 };
        let p = cksum::pseudo_v6(ip[8..24].try_into().unwrap(), ip[24..40].try_into().unwrap(), nh, l4len);
        (if lo.tcp { csum::CSUM_IP6_TCP } else { csum::CSUM_IP6_UDP }, p)
    } else {
        f[lo.l2 + 10] = 0;
        f[lo.l2 + 11] = 0;
        let ip = &f[lo.l2..];
        let p = cksum::pseudo_v4(ip[12..16].try_into().unwrap(), ip[16..20].try_into().unwrap(), ip[9], l4len);
        (csum::CSUM_IP | if lo.tcp { csum::CSUM_IP_TCP } else { csum::CSUM_IP_UDP }, p)
    };
    f[l4 + off..l4 + off + 2].copy_from_slice(&pseudo.to_be_bytes());
    let d = TxDesc {
        csum_flags: flags.into(),
        l2hlen: lo.l2 as u8,
        l3hlen: lo.l3 as u8,
        l4hlen: if lo.tcp { 20 } else { 8 },
        csum_data: (off as u16).into(),
        ..Default::default()
    };
    Some((f, d))
}

/// Checks every checksum of `frame` with `etherparse`'s own arithmetic; `Err` names the bad one.
pub fn verify(frame: &[u8]) -> Result<(), String> {
    let p = SlicedPacket::from_ethernet(frame).map_err(|e| format!("etherparse cannot parse: {e}"))?;
    let (src4, dst4, src6, dst6) = match &p.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header().to_header();
            if h.calc_header_checksum() != h.header_checksum {
                return Err(format!("IPv4 header checksum {:#06x}, want {:#06x}", h.header_checksum, h.calc_header_checksum()));
            }
            (Some(h.source), Some(h.destination), None, None)
        }
        Some(NetSlice::Ipv6(v6)) => (None, None, Some(v6.header().source()), Some(v6.header().destination())),
        _ => return Ok(()),
    };
    match &p.transport {
        Some(TransportSlice::Udp(u)) => {
            let h = u.to_header();
            let want = if let (Some(s), Some(d)) = (src4, dst4) {
                h.calc_checksum_ipv4_raw(s, d, u.payload()).map_err(|e| e.to_string())?
            } else {
                h.calc_checksum_ipv6_raw(src6.unwrap(), dst6.unwrap(), u.payload()).map_err(|e| e.to_string())?
            };
            if h.checksum != want {
                return Err(format!("UDP checksum {:#06x}, want {want:#06x}", h.checksum));
            }
        }
        Some(TransportSlice::Tcp(t)) => {
            let h = t.to_header();
            let want = if let (Some(s), Some(d)) = (src4, dst4) {
                h.calc_checksum_ipv4_raw(s, d, t.payload()).map_err(|e| e.to_string())?
            } else {
                h.calc_checksum_ipv6_raw(src6.unwrap(), dst6.unwrap(), t.payload()).map_err(|e| e.to_string())?
            };
            if h.checksum != want {
                return Err(format!("TCP checksum {:#06x}, want {want:#06x}", h.checksum));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Every checksum capability the NIC has.
pub const ALL_CSUM: u32 = ifcap::IFCAP_HWCSUM | ifcap::IFCAP_HWCSUM_IPV6;
