//! Frames through the co-simulated NIC the way the stack sends them: the
//! engine behind `nicctl replay` and `nicctl demo`, and the end-to-end tests.
//!
//! Each frame is re-seeded for offload ([`nic_host::offload::prepare_tx`]) with
//! the interface's `if_hwassist`, sent through the driver, the RTL's transmit
//! path, a wire (loopback, or a cable to a second NIC), the receive path and
//! back up through the driver. What crossed the wire is in the wire pcap;
//! what came back up, with the NIC's checksum verdicts and RSS hash, and the
//! RX queue RSS chose, is in [`RxRecord`]s, in wire order with each frame's
//! number in the capture. The sender transmits on queue 0; the receiver polls
//! every queue pair it has.
//!
//! The simulation runs in lockstep (the host in simulated time): the same
//! frames give the same cycles, capture (timestamps included), report and
//! counters on every run.

use nic_host::dev::sim::SimDevice;
use nic_host::driver::{Driver, DriverConfig, TxReject};
use nic_host::mbuf::Mbuf;
use nic_host::offload;
use nic_abi::regs::stats;
use nic_sim::{frame_digest, Cable, FaultConfig, Faults, Loopback, PcapTap, Sim, SimConfig, SimStats, VcdWindow, Wire, WireLog};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run a replay.
#[derive(Clone, Debug, Default)]
pub struct ReplayConfig {
    /// ifconfig words to enable (everything else off); `None`: every offload the NIC has.
    pub offload: Option<Vec<String>>,
    /// Send the bytes untouched, with no offload request.
    pub raw: bool,
    /// Write every wire frame here.
    pub wire_pcap: Option<PathBuf>,
    /// Capture a waveform window.
    pub vcd: Option<VcdWindow>,
    /// Two NICs on a cable (nic0 sends, nic1 receives) instead of one in loopback.
    pub cable: bool,
    /// Give up waiting for frames after this much simulated time without progress (the replay
    /// runs in lockstep, so quiet time costs little wall time), or as much wall time (at least
    /// a minute) if the NIC hangs busy.
    pub timeout: Option<Duration>,
    /// Damage frames on the wire (after the pcap tap records them as sent).
    pub faults: Option<FaultConfig>,
    /// Clock the simulation free-running (wall time) instead of in lockstep: results then vary
    /// from run to run; only for measuring what determinism costs.
    pub free_running: bool,
    /// TCP frames longer than the MTU go as TSO bursts of this segment size (cut
    /// by the NIC with tso4/tso6 on, by the stack's GSO otherwise).
    pub tso_mss: Option<u16>,
}

/// One frame received back from the NIC.
#[derive(Clone, Debug)]
pub struct RxRecord {
    /// The frame's number on the wire (1-based: the wire pcap's frame number), whatever RX
    /// queue took it up; matched by content. 0 when the wire changed the frame (a corrupting or
    /// truncating fault), so it matches nothing that was sent. Frames with the same bytes are
    /// matched in order, so a copy a faulty wire duplicated takes the last one's number, and
    /// when the wire dropped one of several identical frames the numbers within that group
    /// can shift: the bytes are right, the number may name an identical twin.
    pub frame: usize,
    /// Received length.
    pub len: usize,
    /// The NIC's verdict bits (`CSUM_L3_*`, `CSUM_L4_*`).
    pub csum_flags: u32,
    /// The NIC's folded L4 sum (0xffff when valid).
    pub csum_data: u32,
    /// The NIC's RSS hash (`m_pkthdr.flowid`; 0 with no hash).
    pub flowid: u32,
    /// What the hash covers (`M_HASHTYPE_*`, [`nic_abi::rss::hashtype`]; 0: none).
    pub rsstype: u8,
    /// The RX queue the frame arrived on (the one RSS chose).
    pub queue: u16,
    /// The received bytes.
    pub data: Vec<u8>,
}

/// What a replay did.
#[derive(Debug)]
pub struct ReplayReport {
    /// Packets handed to the driver (a TSO burst is one).
    pub sent: usize,
    /// Frames those packets become on the wire (a TSO burst is its segments).
    pub wire_expected: usize,
    /// TSO bursts the NIC segmented.
    pub tso_bursts: usize,
    /// Frames the stack's GSO cut (TSO off).
    pub gso_segments: usize,
    /// Frames sent without offload, with the reason (input index, reason).
    pub not_offloaded: Vec<(usize, String)>,
    /// Frames the driver refused before the NIC saw them (input index, reason).
    pub refused: Vec<(usize, String)>,
    /// Frames sent without the bytes that followed their IP packet (input index, bytes): the
    /// NIC sums a checksum to the frame's end, so what the capture held past the IP total length
    /// (link padding, junk) cannot ride along with an offload request.
    pub trimmed: Vec<(usize, usize)>,
    /// Frames that came back up, in wire order ([`RxRecord::frame`]; frames the wire changed
    /// last, in the order the driver took them up).
    pub rx: Vec<RxRecord>,
    /// The receiving interface as it was at the end (for feeding received frames to the stack).
    pub rx_ifnet: nic_host::ifnet::Ifnet,
    /// Frames the receiving NIC dropped (no buffer, FIFO overrun, MAC error), by its counters.
    pub dropped: usize,
    /// The run stopped because nothing moved for the configured time (some frames unaccounted).
    pub timed_out: bool,
    /// Offload requests sent, by FreeBSD flag name.
    pub requested: Vec<(&'static str, usize)>,
    /// The NIC's own counters (sending NIC, then receiving NIC on a cable).
    pub hw_stats: Vec<Vec<(&'static str, u32)>>,
    /// Simulator statistics.
    pub sim: SimStats,
    /// Driver TX completions per status code.
    pub tx_status: Vec<(u8, u64)>,
    /// Wall time of the whole run.
    pub wall: Duration,
}

/// Why a replay could not run.
#[derive(Debug)]
pub enum ReplayError {
    /// The simulator failed to start or died.
    Sim(nic_sim::SimError),
    /// Attaching the driver or running it failed.
    Driver(String),
    /// `--offload` named a word ifconfig does not know, or the NIC refused it.
    Offload(String),
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::Sim(e) => write!(f, "simulator: {e}"),
            ReplayError::Driver(e) => write!(f, "driver: {e}"),
            ReplayError::Offload(e) => write!(f, "--offload: {e} (words: {})", WORDS.join(" ")),
        }
    }
}

impl std::error::Error for ReplayError {}

impl From<nic_sim::SimError> for ReplayError {
    fn from(e: nic_sim::SimError) -> Self {
        ReplayError::Sim(e)
    }
}

fn drv_err(e: impl std::fmt::Display) -> ReplayError {
    ReplayError::Driver(e.to_string())
}

/// Every capability word `--offload` may name that concerns this NIC's checksums.
const WORDS: &[&str] = &["rxcsum", "txcsum", "rxcsum6", "txcsum6", "tso4", "tso6", "vlanhwcsum", "vlanhwtso"];

/// Applies `--offload`: everything off, then the listed words on.
fn apply_offload(d: &Driver, words: &Option<Vec<String>>) -> Result<(), ReplayError> {
    let Some(list) = words else { return Ok(()) };
    let off: Vec<String> = WORDS.iter().map(|w| format!("-{w}")).collect();
    let off: Vec<&str> = off.iter().map(|s| s.as_str()).collect();
    d.ifconfig(&off).map_err(|e| ReplayError::Offload(e.to_string()))?;
    for w in list {
        let w = w.trim();
        if w.is_empty() {
            continue;
        }
        if nic_host::ifnet::ifcap_word(w).is_none() {
            return Err(ReplayError::Offload(format!("unknown word `{w}`")));
        }
        d.ifconfig(&[w]).map_err(|e| ReplayError::Offload(e.to_string()))?;
    }
    Ok(())
}

/// What input frame `i` becomes for the driver, each packet with the number of wire frames it
/// makes: a TSO burst (frames over the MTU with `tso_mss`, when the interface does TSO), the
/// stack's GSO segments (when it does not), or the frame re-seeded for checksum offload (or
/// untouched: `raw`, or not offloadable, which `report` records).
fn packets_of(
    f: &[u8],
    i: usize,
    cfg: &ReplayConfig,
    hwassist: u32,
    capenable: u32,
    mtu_frame: usize,
    report: &mut ReplayReport,
) -> Vec<(Mbuf, usize)> {
    if let (Some(mss), false) = (cfg.tso_mss, cfg.raw) {
        // A frame over the MTU (a tag's 4 bytes allowed) is a burst for TSO or GSO.
        if f.len() > mtu_frame + 4 {
            let cut = offload::prepare_tso(f, mss).map_err(|e| e.to_string()).and_then(|m| {
                let hl = m.pkthdr.l2hlen as usize + m.pkthdr.l3hlen as usize + m.pkthdr.l4hlen as usize;
                let segs = (m.len() - hl).div_ceil(mss as usize);
                offload::tso_or_gso(m, hwassist, capenable).map(|r| (r, segs)).map_err(|e| e.to_string())
            });
            match cut {
                Ok(((ms, true), segs)) => {
                    report.tso_bursts += 1;
                    return ms.into_iter().map(|m| (m, segs)).collect();
                }
                Ok(((ms, false), _)) => {
                    report.gso_segments += ms.len();
                    return ms.into_iter().map(|m| (m, 1)).collect();
                }
                Err(why) => report.not_offloaded.push((i, format!("not segmented: {why}"))),
            }
        }
    }
    let m = if cfg.raw {
        Mbuf::from_frame(f)
    } else {
        offload::prepare_tx(f, hwassist, capenable).unwrap_or_else(|why| {
            report.not_offloaded.push((i, why.to_string()));
            Mbuf::from_frame(f)
        })
    };
    // Short frames' link padding (to the 60-byte minimum) is not worth a word; more is.
    if f.len() > m.len().max(60) {
        report.trimmed.push((i, f.len() - m.len()));
    }
    vec![(m, 1)]
}

/// Sends `frames` through the co-simulated NIC and collects what comes back.
pub fn replay(frames: &[Vec<u8>], cfg: &ReplayConfig) -> Result<ReplayReport, ReplayError> {
    let t0 = Instant::now();
    let mut inner: Box<dyn Wire> = if cfg.cable { Box::new(Cable::new()) } else { Box::new(Loopback::new()) };
    if let Some(f) = &cfg.faults {
        inner = Box::new(Faults::new(*f, inner));
    }
    // Logged where the pcap records (before any faults): a received frame's number is its
    // frame number in the capture.
    let (logged, wire_log) = WireLog::new(inner);
    let mut sc = match &cfg.wire_pcap {
        Some(p) => SimConfig::new(PcapTap::create(p, logged)?),
        None => SimConfig::new(logged),
    };
    sc.vcd = cfg.vcd.clone();
    // Nothing here follows wall time: the same frames give the same cycles, captures and report.
    sc.lockstep = !cfg.free_running;
    let sim = Sim::start(sc)?;
    let mk = |i: usize| -> Result<Driver, ReplayError> {
        // Room for every queue pair of the widest build (8 × 64-slot rings of jumbo buffers each
        // way); the mapping is lazy, so what a narrower build leaves unused costs nothing.
        let dev = SimDevice::new(sim.nic(i), 24 << 20).map_err(drv_err)?;
        let dc = DriverConfig { if_name: format!("nic{i}"), if_index: i as u16 + 1, ..Default::default() };
        Driver::attach_with(Arc::new(dev), dc).map_err(drv_err)
    };
    let tx_drv = mk(0)?;
    apply_offload(&tx_drv, &cfg.offload)?;
    let rx_drv_owned = if cfg.cable {
        let d = mk(1)?;
        apply_offload(&d, &cfg.offload)?;
        Some(d)
    } else {
        None
    };
    let rx_drv = rx_drv_owned.as_ref().unwrap_or(&tx_drv);

    let hwassist = tx_drv.ifnet().if_hwassist;
    let capenable = tx_drv.ifnet().if_capenable;
    let mut report = ReplayReport {
        sent: 0,
        wire_expected: 0,
        tso_bursts: 0,
        gso_segments: 0,
        not_offloaded: vec![],
        refused: vec![],
        trimmed: vec![],
        rx: vec![],
        dropped: 0,
        timed_out: false,
        rx_ifnet: tx_drv.ifnet().clone(),
        requested: vec![],
        hw_stats: vec![],
        sim: SimStats::default(),
        tx_status: vec![],
        wall: Duration::ZERO,
    };
    let mut requested = std::collections::BTreeMap::<&'static str, usize>::new();
    // Each packet with the number of wire frames it becomes.
    let mut q: VecDeque<(Mbuf, usize)> = VecDeque::new();
    let mtu_frame = tx_drv.ifnet().if_mtu as usize + nic_host::net::ether::ETHER_HDR_LEN;
    for (i, f) in frames.iter().enumerate() {
        for (m, wire_frames) in packets_of(f, i, cfg, hwassist, capenable, mtu_frame, &mut report) {
            for n in nic_abi::csum::names(m.pkthdr.csum_flags) {
                *requested.entry(n).or_default() += 1;
            }
            q.push_back((m, wire_frames));
        }
    }
    report.requested = requested.into_iter().collect();

    let timeout = cfg.timeout.unwrap_or(Duration::from_secs(60));
    let mut out = Vec::new();
    let mut index = 0usize;
    let rx_nic = if cfg.cable { sim.nic(1) } else { sim.nic(0) };
    let tx_nic = sim.nic(0);
    // In simulated time (lockstep): a hang ends after the same cycles on every run.
    let mut no_progress = tx_nic.deadline(timeout);
    loop {
        // Transmit as much as the ring takes.
        while let Some((m, frames)) = q.pop_front() {
            match tx_drv.tx(m) {
                Ok(()) => {
                    report.sent += 1;
                    report.wire_expected += frames;
                    index += 1;
                }
                Err(e) if e.reason == TxReject::RingFull => {
                    q.push_front((e.mbuf, frames));
                    break;
                }
                Err(e) => {
                    report.refused.push((index, e.reason.to_string()));
                    index += 1;
                }
            }
        }
        tx_drv.tx_flush().map_err(drv_err)?;
        let mut progressed = tx_drv.tx_reclaim().map_err(drv_err)? > 0;
        // Every RX queue, each frame recorded with the queue it came from. Frames of different
        // queues are not ordered among themselves (one flow stays on one queue, in order).
        for rxq in rx_drv.queues() {
            if rxq.rx_burst(&mut out, 64).map_err(drv_err)? > 0 {
                progressed = true;
            }
            for m in out.drain(..) {
                report.rx.push(RxRecord {
                    frame: report.rx.len() + 1,
                    len: m.len(),
                    csum_flags: m.pkthdr.csum_flags,
                    csum_data: m.pkthdr.csum_data,
                    flowid: m.pkthdr.flowid,
                    rsstype: m.pkthdr.rsstype,
                    queue: rxq.index(),
                    data: m.into_vec(),
                });
            }
        }
        if q.is_empty() && tx_drv.tx_in_flight() == 0 {
            // A TX completion means "fetched", not "sent": wait until the sending NIC has put every
            // completed frame on the wire. Then every frame the wire carried is either delivered
            // or counted as dropped by the receiving NIC: stop when the books balance and the
            // driver has taken every delivery.
            let on_wire = u64::from(tx_nic.read32(stats::TX_FRAMES)?);
            let w = sim.stats()?.wire;
            let carried = w.frames;
            let r = |off| rx_nic.read32(off).map(u64::from);
            let (got, nobuf, err) =
                (r(stats::RX_FRAMES)?, r(stats::RX_DROP_NOBUF)?, r(stats::RX_DROP_ERR)?);
            let refused: u64 = tx_drv.counters().tx_status.iter().filter(|(c, _)| **c != 0).map(|(_, n)| *n).sum();
            // The wire holds nothing back: every frame sent was delivered (a duplicate twice)
            // or dropped by a fault; a frame a reordering fault holds goes when the world idles.
            let wire_empty = carried + w.dropped >= on_wire + w.duplicated;
            if on_wire + refused >= report.wire_expected as u64
                && wire_empty
                && got + nobuf + err >= carried
                && report.rx.len() as u64 >= got
            {
                report.dropped = (nobuf + err) as usize;
                break;
            }
        }
        if progressed {
            no_progress = tx_nic.deadline(timeout);
        } else {
            if no_progress.expired() {
                report.timed_out = true;
                break;
            }
            let _ = rx_drv.wait(Duration::from_millis(5));
        }
    }
    report.tx_status = tx_drv.counters().tx_status.iter().map(|(k, v)| (*k, *v)).collect();
    report.hw_stats.push(tx_drv.hw_stats().map_err(drv_err)?);
    if let Some(d) = &rx_drv_owned {
        report.hw_stats.push(d.hw_stats().map_err(drv_err)?);
        report.rx_ifnet = d.ifnet().clone();
    }
    report.sim = sim.stats()?;
    in_wire_order(&mut report.rx, &lock_log(&wire_log));
    report.wall = t0.elapsed();
    Ok(report)
}

fn lock_log(log: &std::sync::Mutex<Vec<u64>>) -> std::sync::MutexGuard<'_, Vec<u64>> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

/// Numbers each received frame with its place on the wire (`wire`: the digests of the frames
/// sent, in order) and sorts the records by it: RSS spreads frames over queues, each queue in
/// wire order, and the driver takes the queues in turns. Identical frames are matched in order;
/// a copy beyond the sent ones (a duplicating fault) takes the last one's number; a frame the
/// wire changed matches nothing (0) and goes last.
fn in_wire_order(rx: &mut [RxRecord], wire: &[u64]) {
    use std::collections::HashMap;
    let mut sent: HashMap<u64, (VecDeque<usize>, usize)> = HashMap::new();
    for (i, d) in wire.iter().enumerate() {
        sent.entry(*d).or_default().0.push_back(i + 1);
    }
    // Per queue, frames come up in wire order: match each queue's in its own order.
    let mut order: Vec<usize> = (0..rx.len()).collect();
    order.sort_by_key(|&i| (rx[i].queue, i));
    for i in order {
        rx[i].frame = match sent.get_mut(&frame_digest(&rx[i].data)) {
            Some((left, last)) => {
                if let Some(n) = left.pop_front() {
                    *last = n;
                }
                *last
            }
            None => 0,
        };
    }
    rx.sort_by_key(|r| if r.frame == 0 { usize::MAX } else { r.frame });
}

impl ReplayReport {
    /// Wire frames expected that were neither received nor counted as dropped nor refused
    /// with a completion status: zero unless something is wrong. (The driver checks TSO
    /// bursts as the NIC does, so the NIC refuses none; refusals count one frame each.)
    pub fn unaccounted(&self) -> i64 {
        let refused_by_nic: u64 = self.tx_status.iter().filter(|(c, _)| *c != 0).map(|(_, n)| *n).sum();
        // A faulty wire (`faults`) drops some frames and carries some twice.
        let w = &self.sim.wire;
        self.wire_expected as i64 - refused_by_nic as i64 - w.dropped as i64 + w.duplicated as i64
            - self.rx.len() as i64
            - self.dropped as i64
    }
}

/// The RX report line for one frame, as `nicctl replay --rx-report` writes it: the checksum
/// verdicts, the RSS hash (`flowid`), its type by FreeBSD's name without `M_HASHTYPE_`
/// (`"RSS_TCP_IPV4"`, `"NONE"`) and the RX queue.
pub fn rx_json(r: &RxRecord) -> String {
    let names: Vec<String> = nic_abi::csum::names(r.csum_flags).map(|n| format!("\"{n}\"")).collect();
    // Validation lets only known types through; a number would still say what it was.
    let rsstype = nic_abi::rss::hashtype::name(r.rsstype).map_or_else(|| format!("0x{:02x}", r.rsstype), str::to_string);
    format!(
        "{{\"frame\": {}, \"len\": {}, \"csum_flags\": [{}], \"csum_data\": {}, \"flowid\": {}, \"rsstype\": \"{}\", \"queue\": {}}}",
        r.frame,
        r.len,
        names.join(", "),
        r.csum_data,
        r.flowid,
        rsstype,
        r.queue
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_json_carries_the_hash_its_type_and_the_queue() {
        let r = RxRecord {
            frame: 3,
            len: 60,
            csum_flags: nic_abi::csum::CSUM_L3_CALC | nic_abi::csum::CSUM_L3_VALID,
            csum_data: 0,
            flowid: 0x51cc_c178,
            rsstype: nic_abi::rss::hashtype::RSS_TCP_IPV4,
            queue: 1,
            data: vec![],
        };
        let v: serde_json::Value = serde_json::from_str(&rx_json(&r)).unwrap();
        assert_eq!(v["flowid"], 0x51cc_c178u32);
        assert_eq!(v["rsstype"], "RSS_TCP_IPV4");
        assert_eq!(v["queue"], 1);
        assert_eq!(v["csum_flags"][0], "CSUM_L3_CALC");
        let none = RxRecord { flowid: 0, rsstype: 0, ..r };
        let v: serde_json::Value = serde_json::from_str(&rx_json(&none)).unwrap();
        assert_eq!((v["rsstype"].as_str(), v["flowid"].as_u64()), (Some("NONE"), Some(0)));
    }
}
