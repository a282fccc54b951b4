//! MAC models on the NIC's AXI4-Stream ports: a TX sink that turns beats
//! into frames and an RX source that turns frames into beats.
//!
//! Beat format (both directions): 64-bit `tdata`, byte `i` of the frame in
//! bits `8i+7:8i` of its beat; `tkeep` marks valid bytes (all eight on every
//! beat but the last, a contiguous low run on the last); `tlast` on the last
//! beat; `tuser` on the last beat marks an errored frame (bad FCS on a real
//! MAC). The RX source cannot be back-pressured on a real 10G MAC; here it
//! waits for `tready` and counts the stall cycles, so an RTL that drops
//! `tready` is visible in the counters instead of silently losing frames.
//!
//! ```text
//! clk     _/‾\_/‾\_/‾\_/‾\_/‾\_/‾\_/‾\_/‾\_
//! tvalid  _/‾‾‾‾‾‾‾‾‾‾‾\___________/‾‾‾‾      3 idle cycles between frames
//! tlast   _________/‾‾‾\___________/‾‾‾‾      (≈ 20 bytes IFG + preamble)
//! tkeep    ff  ff  0f
//! ```

use std::collections::VecDeque;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// One Ethernet frame on a wire (no preamble, no FCS).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// The bytes, destination MAC first.
    pub data: Vec<u8>,
    /// Marked errored (`tuser` on its last beat).
    pub errored: bool,
    /// Simulated cycle at which the frame's last beat crossed the MAC interface.
    pub cycle: u64,
}

/// A free list of frame buffers, so steady-state traffic does not allocate.
#[derive(Default)]
pub struct FramePool {
    free: Vec<Vec<u8>>,
}

impl FramePool {
    /// Buffers kept at most (the rest are freed).
    const KEEP: usize = 64;

    /// An empty buffer (with capacity for a jumbo frame when fresh).
    pub fn get(&mut self) -> Vec<u8> {
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(nic_abi::MAX_FRAME as usize + 8))
    }

    /// Returns a buffer to the pool.
    pub fn put(&mut self, mut buf: Vec<u8>) {
        if self.free.len() < Self::KEEP && buf.capacity() > 0 {
            buf.clear();
            self.free.push(buf);
        }
    }
}

/// One AXI4-Stream beat as driven by its master.
#[allow(missing_docs)] // fields are the AMBA AXI signal names
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AxisBeat {
    pub tdata: u64,
    pub tkeep: u8,
    pub tlast: bool,
    pub tuser: bool,
    pub tvalid: bool,
}

/// How the MAC models behave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MacConfig {
    /// Idle cycles the RX source leaves between frames (3 ≈ 12 bytes IFG +
    /// 8 bytes preamble at 8 bytes per cycle).
    pub ifg_cycles: u32,
    /// Seeded random `tready` low on TX: `(seed, probability per cycle)`.
    pub tx_backpressure: Option<(u64, f64)>,
}

impl Default for MacConfig {
    fn default() -> Self {
        Self {
            ifg_cycles: 3,
            tx_backpressure: None,
        }
    }
}

/// What the MAC models have seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MacCounters {
    /// Frames the NIC transmitted.
    pub tx_frames: u64,
    /// Bytes the NIC transmitted.
    pub tx_bytes: u64,
    /// Of those frames, marked errored by the NIC (`tuser`).
    pub tx_errored: u64,
    /// TX beats that broke the beat format (non-contiguous `tkeep`, partial
    /// `tkeep` before the last beat, or an empty beat).
    pub tx_bad_beats: u64,
    /// Frames delivered into the NIC.
    pub rx_frames: u64,
    /// Bytes delivered into the NIC.
    pub rx_bytes: u64,
    /// Of those frames, delivered marked errored.
    pub rx_errored: u64,
    /// Cycles the RX source had a beat but the NIC's `tready` was low.
    pub rx_stall_cycles: u64,
    /// Cycle the first frame's first beat was taken (0 before any), for rates at the MAC port.
    pub rx_first_cycle: u64,
    /// Cycle the latest frame's last beat was taken.
    pub rx_last_cycle: u64,
}

/// Receives the NIC's `m_axis_tx_*` stream and assembles frames.
pub struct TxSink {
    cur: Vec<u8>,
    tready: bool,
    rng: Option<(SmallRng, f64)>,
    counters: MacCounters,
}

impl TxSink {
    /// A sink with the back-pressure of `cfg`.
    pub fn new(cfg: &MacConfig) -> Self {
        Self {
            cur: Vec::with_capacity(nic_abi::MAX_FRAME as usize + 8),
            tready: true,
            rng: cfg
                .tx_backpressure
                .map(|(seed, p)| (SmallRng::seed_from_u64(seed), p.clamp(0.0, 1.0))),
            counters: MacCounters::default(),
        }
    }

    /// `tready` for this cycle.
    pub fn drive(&mut self) -> bool {
        self.tready = match &mut self.rng {
            Some((rng, p)) => !(*p > 0.0 && rng.gen_bool(*p)),
            None => true,
        };
        self.tready
    }

    /// A frame is partly received.
    pub fn mid_frame(&self) -> bool {
        !self.cur.is_empty()
    }

    /// Counters (TX half).
    pub fn counters(&self) -> MacCounters {
        self.counters
    }

    /// Takes this cycle's beat; returns a frame when its last beat arrived.
    /// The returned frame's buffer comes from `pool` (swapped with ours).
    pub fn update(&mut self, now: u64, beat: &AxisBeat, pool: &mut FramePool) -> Option<Frame> {
        if !(beat.tvalid && self.tready) {
            return None;
        }
        let keep = beat.tkeep;
        let n = keep.trailing_ones() as usize;
        let contiguous = (u32::from(keep) >> n) == 0;
        if !contiguous || (!beat.tlast && keep != 0xff) || keep == 0 {
            self.counters.tx_bad_beats += 1;
        }
        let bytes = beat.tdata.to_le_bytes();
        if contiguous {
            self.cur.extend_from_slice(&bytes[..n]);
        } else {
            self.cur
                .extend((0..8).filter(|i| keep & (1 << i) != 0).map(|i| bytes[i]));
        }
        if !beat.tlast {
            return None;
        }
        let data = std::mem::replace(&mut self.cur, pool.get());
        self.counters.tx_frames += 1;
        self.counters.tx_bytes += data.len() as u64;
        self.counters.tx_errored += u64::from(beat.tuser);
        Some(Frame {
            data,
            errored: beat.tuser,
            cycle: now,
        })
    }
}

/// Drives the NIC's `s_axis_rx_*` stream from a queue of frames.
pub struct RxSource {
    queue: VecDeque<Frame>,
    off: usize,
    gap: u32,
    ifg: u32,
    beat: AxisBeat,
    counters: MacCounters,
}

impl RxSource {
    /// A source with the inter-frame gap of `cfg`.
    pub fn new(cfg: &MacConfig) -> Self {
        Self {
            queue: VecDeque::with_capacity(64),
            off: 0,
            gap: 0,
            ifg: cfg.ifg_cycles,
            beat: AxisBeat::default(),
            counters: MacCounters::default(),
        }
    }

    /// Queues a frame to deliver (an empty frame is dropped: it has no beats).
    pub fn push(&mut self, frame: Frame, pool: &mut FramePool) {
        if frame.data.is_empty() {
            pool.put(frame.data);
        } else {
            self.queue.push_back(frame);
        }
    }

    /// Frames waiting or in delivery.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Counters (RX half).
    pub fn counters(&self) -> MacCounters {
        self.counters
    }

    /// The beat for this cycle.
    pub fn drive(&mut self) -> AxisBeat {
        if self.beat.tvalid {
            return self.beat; // held until the NIC takes it
        }
        if self.gap > 0 {
            self.gap -= 1;
            return self.beat;
        }
        if let Some(f) = self.queue.front() {
            let rest = &f.data[self.off..];
            let n = rest.len().min(8);
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&rest[..n]);
            let last = n == rest.len();
            self.beat = AxisBeat {
                tdata: u64::from_le_bytes(b),
                tkeep: if n == 8 { 0xff } else { (1u8 << n) - 1 },
                tlast: last,
                tuser: last && f.errored,
                tvalid: true,
            };
        }
        self.beat
    }

    /// Completes the handshake with the NIC's `tready`; a fully delivered
    /// frame's buffer goes back to `pool`.
    pub fn update(&mut self, now: u64, tready: bool, pool: &mut FramePool) {
        if !self.beat.tvalid {
            return;
        }
        if !tready {
            self.counters.rx_stall_cycles += 1;
            return;
        }
        if self.counters.rx_frames == 0 && self.off == 0 {
            self.counters.rx_first_cycle = now;
        }
        self.off += 8;
        let last = self.beat.tlast;
        self.beat = AxisBeat::default();
        if last {
            self.off = 0;
            self.gap = self.ifg;
            self.counters.rx_last_cycle = now;
            if let Some(f) = self.queue.pop_front() {
                self.counters.rx_frames += 1;
                self.counters.rx_bytes += f.data.len() as u64;
                self.counters.rx_errored += u64::from(f.errored);
                pool.put(f.data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize, seed: u8, errored: bool) -> Frame {
        Frame {
            data: (0..len)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                .collect(),
            errored,
            cycle: 0,
        }
    }

    /// Source straight into sink: frames come out as they went in.
    fn pipe(frames: &[Frame], cfg: MacConfig) -> (Vec<Frame>, Vec<u64>, MacCounters, MacCounters) {
        let mut pool = FramePool::default();
        let mut src = RxSource::new(&cfg);
        let mut sink = TxSink::new(&cfg);
        for f in frames {
            src.push(f.clone(), &mut pool);
        }
        let mut out = Vec::new();
        let mut valid_cycles = Vec::new();
        for now in 0..100_000u64 {
            let beat = src.drive();
            let ready = sink.drive();
            if beat.tvalid {
                valid_cycles.push(now);
            }
            if let Some(f) = sink.update(now, &beat, &mut pool) {
                out.push(f);
            }
            src.update(now, ready, &mut pool);
            if src.pending() == 0 && !sink.mid_frame() {
                break;
            }
        }
        (out, valid_cycles, src.counters(), sink.counters())
    }

    #[test]
    fn frames_of_every_length_survive_beats() {
        let frames: Vec<Frame> = (1..=80).map(|l| frame(l, l as u8, l % 7 == 0)).collect();
        for bp in [None, Some((5u64, 0.5))] {
            let (out, _, rx, tx) = pipe(
                &frames,
                MacConfig {
                    tx_backpressure: bp,
                    ..Default::default()
                },
            );
            assert_eq!(out.len(), frames.len());
            for (a, b) in out.iter().zip(&frames) {
                assert_eq!(a.data, b.data);
                assert_eq!(a.errored, b.errored);
            }
            assert_eq!(tx.tx_bad_beats, 0);
            assert_eq!(tx.tx_errored, 11);
            assert_eq!((rx.rx_frames, rx.rx_bytes), (80, (1..=80u64).sum()));
            if bp.is_some() {
                assert!(rx.rx_stall_cycles > 0);
            }
        }
    }

    #[test]
    fn inter_frame_gap_is_idle_cycles() {
        let frames = [frame(16, 0, false), frame(9, 1, false)];
        let (_, valid, _, _) = pipe(&frames, MacConfig::default());
        // 2 beats, 3 idle, 2 beats.
        assert_eq!(valid, vec![0, 1, 5, 6]);
        let (_, valid, _, _) = pipe(
            &frames,
            MacConfig {
                ifg_cycles: 0,
                ..Default::default()
            },
        );
        assert_eq!(valid, vec![0, 1, 2, 3]);
    }

    #[test]
    fn last_beat_tkeep_and_tuser() {
        let mut pool = FramePool::default();
        let mut src = RxSource::new(&MacConfig::default());
        src.push(frame(11, 0, true), &mut pool);
        let b0 = src.drive();
        assert_eq!((b0.tkeep, b0.tlast, b0.tuser), (0xff, false, false));
        src.update(5, false, &mut pool);
        assert_eq!(src.drive(), b0, "held while tready is low");
        src.update(6, true, &mut pool);
        let b1 = src.drive();
        assert_eq!((b1.tkeep, b1.tlast, b1.tuser), (0x07, true, true));
        assert_eq!(src.counters().rx_stall_cycles, 1);
        assert_eq!(src.counters().rx_first_cycle, 6, "the first beat taken, not the first offered");
    }

    #[test]
    fn sink_respects_tkeep_and_flags_bad_beats() {
        let mut pool = FramePool::default();
        let mut sink = TxSink::new(&MacConfig::default());
        sink.drive();
        let beat = |tdata, tkeep, tlast| AxisBeat {
            tdata,
            tkeep,
            tlast,
            tuser: false,
            tvalid: true,
        };
        assert!(sink
            .update(0, &beat(0x0807_0605_0403_0201, 0xff, false), &mut pool)
            .is_none());
        let f = sink
            .update(1, &beat(0x0000_0000_000b_0a09, 0x07, true), &mut pool)
            .unwrap();
        assert_eq!(f.data, (1..=11).collect::<Vec<u8>>());
        assert_eq!(f.cycle, 1);
        assert_eq!(sink.counters().tx_bad_beats, 0);
        // A partial beat before the last one is a format error (bytes still kept).
        sink.update(2, &beat(0x0201, 0x03, false), &mut pool);
        let f = sink.update(3, &beat(0x03, 0x01, true), &mut pool).unwrap();
        assert_eq!(f.data, vec![1, 2, 3]);
        assert_eq!(sink.counters().tx_bad_beats, 1);
    }
}
