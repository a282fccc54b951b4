//! Seeded fault injection over any wire: drop, corrupt one byte, truncate,
//! duplicate, reorder.
//!
//! Each frame is judged once, in that order: dropped with probability
//! `drop`, else corrupted with probability `corrupt` (one byte XORed with a
//! non-zero value), else truncated with probability `truncate` (to a random
//! length of at least one byte, shorter than it was); then, whatever it
//! became, delivered twice with probability `dup`, or held back with
//! probability `reorder` until the next frame from the same sender has gone
//! (an adjacent swap), or until the simulation goes idle, whichever comes
//! first. The same seed and the same frames give the same faults.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::wire::{Endpoint, Wire, WireCounters};
use crate::Frame;

/// Which faults, how often (probabilities per frame, `0.0..=1.0`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Seed of the fault pattern.
    pub seed: u64,
    /// Drop the frame.
    pub drop: f64,
    /// Flip bits in one byte.
    pub corrupt: f64,
    /// Cut the frame short.
    pub truncate: f64,
    /// Deliver the frame twice.
    pub dup: f64,
    /// Deliver the frame after the sender's next one.
    pub reorder: f64,
}

impl FaultConfig {
    /// Parses `drop=P,dup=P,reorder=P,corrupt=P,truncate=P,seed=N` (any subset, any order;
    /// probabilities in `0..=1`), the form `nicctl` takes on every wire.
    pub fn parse(spec: &str) -> Result<FaultConfig, String> {
        let mut c = FaultConfig::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| format!("fault {item:?}: write it as NAME=VALUE, e.g. drop=0.01"))?;
            if k == "seed" {
                c.seed = v.parse().map_err(|_| format!("fault seed {v:?}: a whole number, e.g. seed=7"))?;
                continue;
            }
            let p: f64 = v.parse().map_err(|_| format!("fault {k}={v}: a probability, e.g. {k}=0.01"))?;
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("fault {k}={v}: a probability is between 0 and 1"));
            }
            match k {
                "drop" => c.drop = p,
                "dup" => c.dup = p,
                "reorder" => c.reorder = p,
                "corrupt" => c.corrupt = p,
                "truncate" => c.truncate = p,
                _ => return Err(format!("fault {k:?}: known are drop, dup, reorder, corrupt, truncate, seed")),
            }
        }
        Ok(c)
    }
}

/// Damages frames before `inner` carries them.
pub struct Faults<W> {
    inner: W,
    cfg: FaultConfig,
    rng: SmallRng,
    dropped: u64,
    corrupted: u64,
    truncated: u64,
    duplicated: u64,
    reordered: u64,
    /// A frame held back per sender, until that sender's next frame has gone.
    held: Vec<(Endpoint, Frame)>,
}

impl<W: Wire> Faults<W> {
    /// Wraps `inner` with the faults of `cfg`.
    pub fn new(cfg: FaultConfig, inner: W) -> Self {
        Self {
            inner,
            rng: SmallRng::seed_from_u64(cfg.seed),
            cfg,
            dropped: 0,
            corrupted: 0,
            truncated: 0,
            duplicated: 0,
            reordered: 0,
            held: Vec::new(),
        }
    }

    fn hit(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen_bool(p.min(1.0))
    }
}

impl<W: Wire> Wire for Faults<W> {
    fn nics(&self) -> usize {
        self.inner.nics()
    }
    fn is_external(&self) -> bool {
        self.inner.is_external()
    }
    fn carry(
        &mut self,
        from: Endpoint,
        mut frame: Frame,
        deliver: &mut dyn FnMut(Endpoint, Frame),
    ) {
        if self.hit(self.cfg.drop) {
            self.dropped += 1;
            return;
        }
        if !frame.data.is_empty() && self.hit(self.cfg.corrupt) {
            let i = self.rng.gen_range(0..frame.data.len());
            frame.data[i] ^= self.rng.gen_range(1..=255u8);
            self.corrupted += 1;
        } else if frame.data.len() > 1 && self.hit(self.cfg.truncate) {
            let n = self.rng.gen_range(1..frame.data.len());
            frame.data.truncate(n);
            self.truncated += 1;
        }
        let held = self.held.iter().position(|(e, _)| *e == from).map(|i| self.held.swap_remove(i).1);
        if held.is_none() && self.hit(self.cfg.reorder) {
            self.reordered += 1;
            self.held.push((from, frame));
            return;
        }
        if self.hit(self.cfg.dup) {
            self.duplicated += 1;
            self.inner.carry(from, frame.clone(), deliver);
        }
        self.inner.carry(from, frame, deliver);
        if let Some(f) = held {
            self.inner.carry(from, f, deliver);
        }
    }
    fn counters(&self, c: &mut WireCounters) {
        c.dropped += self.dropped;
        c.corrupted += self.corrupted;
        c.truncated += self.truncated;
        c.duplicated += self.duplicated;
        c.reordered += self.reordered;
        self.inner.counters(c);
    }
    fn flush(&mut self) {
        self.inner.flush();
    }
    fn release(&mut self, deliver: &mut dyn FnMut(Endpoint, Frame)) {
        for (from, f) in std::mem::take(&mut self.held) {
            self.inner.carry(from, f, deliver);
        }
        self.inner.release(deliver);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{tests::carry_all, Loopback};

    fn frames() -> Vec<Frame> {
        (0..1000u32)
            .map(|i| Frame {
                data: vec![(i % 251) as u8; 64],
                errored: false,
                cycle: i as u64,
            })
            .collect()
    }

    fn run(cfg: FaultConfig) -> (Vec<(Endpoint, Frame)>, WireCounters) {
        let mut w = Faults::new(cfg, Loopback::new());
        let out = carry_all(&mut w, Endpoint::Nic(0), frames());
        let mut c = WireCounters::default();
        w.counters(&mut c);
        (out, c)
    }

    #[test]
    fn faults_are_seeded_and_counted() {
        let cfg = FaultConfig {
            seed: 42,
            drop: 0.1,
            corrupt: 0.1,
            truncate: 0.1,
            ..Default::default()
        };
        let (a, ca) = run(cfg);
        let (b, cb) = run(cfg);
        assert_eq!(a, b, "same seed, same faults");
        assert_eq!(ca, cb);
        assert_eq!(ca.frames as usize, a.len());
        assert_eq!(ca.frames + ca.dropped, 1000);
        for (c, lo, hi) in [
            (ca.dropped, 50, 150),
            (ca.corrupted, 50, 150),
            (ca.truncated, 50, 150),
        ] {
            assert!((lo..hi).contains(&c), "{ca:?}");
        }
        // Every delivered frame is intact, corrupted in exactly one byte, or a true prefix.
        let orig = frames();
        let (mut corrupted, mut truncated) = (0, 0);
        for (_, f) in &a {
            let o = &orig[f.cycle as usize];
            if f.data.len() < o.data.len() {
                assert!(!f.data.is_empty() && o.data.starts_with(&f.data));
                truncated += 1;
            } else {
                let diff = f.data.iter().zip(&o.data).filter(|(x, y)| x != y).count();
                assert!(diff <= 1);
                corrupted += diff;
            }
        }
        assert_eq!(
            (corrupted as u64, truncated as u64),
            (ca.corrupted, ca.truncated)
        );
        let (_, other) = run(FaultConfig { seed: 43, ..cfg });
        assert_ne!(other, ca, "another seed, another pattern");
    }

    #[test]
    fn no_faults_is_transparent() {
        let (out, c) = run(FaultConfig::default());
        assert_eq!(out.into_iter().map(|x| x.1).collect::<Vec<_>>(), frames());
        assert_eq!((c.dropped, c.corrupted, c.truncated), (0, 0, 0));
    }

    #[test]
    fn duplicates_and_swaps_are_seeded_counted_and_lose_nothing() {
        let cfg = FaultConfig { seed: 9, dup: 0.05, reorder: 0.05, ..Default::default() };
        let (out, c) = run(cfg);
        assert!((20..80).contains(&c.duplicated) && (20..80).contains(&c.reordered), "{c:?}");
        // Every frame arrives, the duplicates once more; the last may still be held.
        let mut seen = vec![0u32; 1000];
        for (_, f) in &out {
            seen[f.cycle as usize] += 1;
        }
        let missing = seen.iter().filter(|n| **n == 0).count();
        assert!(missing <= 1, "{missing} frames lost");
        assert_eq!(out.len() as u64 + missing as u64, 1000 + c.duplicated);
        // A held frame comes right after the one that overtook it.
        let order: Vec<u64> = out.iter().map(|(_, f)| f.cycle).collect();
        let swaps = order.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(swaps as u64 >= c.reordered - 1 && swaps as u64 <= c.reordered, "{swaps} swaps, {c:?}");
        assert!(order.windows(2).all(|w| w[1] + 1 >= w[0]), "only adjacent swaps");
    }

    #[test]
    fn the_spec_parses_and_says_what_is_wrong() {
        let c = FaultConfig::parse("drop=0.01,dup=0.005,reorder=0.01,corrupt=0.002,seed=7").unwrap();
        assert_eq!(
            c,
            FaultConfig { seed: 7, drop: 0.01, dup: 0.005, reorder: 0.01, corrupt: 0.002, truncate: 0.0 }
        );
        assert!(FaultConfig::parse("drop=2").unwrap_err().contains("between 0 and 1"));
        assert!(FaultConfig::parse("lose=0.1").unwrap_err().contains("known are"));
        assert!(FaultConfig::parse("drop").unwrap_err().contains("NAME=VALUE"));
    }
}
