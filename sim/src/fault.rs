//! Seeded fault injection over any wire: drop, corrupt one byte, truncate.
//!
//! Each frame is judged once, in that order: dropped with probability
//! `drop`, else corrupted with probability `corrupt` (one byte XORed with a
//! non-zero value), else truncated with probability `truncate` (to a random
//! length of at least one byte, shorter than it was). The same seed and the
//! same frames give the same faults.

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
}

/// Damages frames before `inner` carries them.
pub struct Faults<W> {
    inner: W,
    cfg: FaultConfig,
    rng: SmallRng,
    dropped: u64,
    corrupted: u64,
    truncated: u64,
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
        self.inner.carry(from, frame, deliver);
    }
    fn counters(&self, c: &mut WireCounters) {
        c.dropped += self.dropped;
        c.corrupted += self.corrupted;
        c.truncated += self.truncated;
        self.inner.counters(c);
    }
    fn flush(&mut self) {
        self.inner.flush();
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
}
