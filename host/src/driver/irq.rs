//! Interrupt vectors shared by queues: one device waiter, every queue's worker woken.
//!
//! A backend may have fewer vectors than the NIC has queue pairs (VFIO with
//! one MSI vector serves them all). Queue `q` then waits on vector
//! `q % vectors`, and an interrupt on it must wake every worker of those
//! queues, while a device wait (an eventfd read) wakes only one thread. So
//! per vector one thread at a time waits on the device; when it returns with
//! an interrupt it acknowledges the causes of the vector's queues, bumps the
//! vector's generation and wakes the others, who see the new generation.
//!
//! No wakeup is lost: a worker takes the generation *before* it looks at its
//! completion queues ([`Vector::generation`]), then waits for a generation
//! after it ([`Vector::wait_since`]). An interrupt that another thread took
//! in between has bumped the generation, so the wait returns at once; one
//! that nobody took is still pending in the device and the next device wait
//! returns at once.
//!
//! ```text
//! worker A: gen=g0  peek CQ (empty)  wait_since(g0) ── device wait ─── irq ─ ack ─ g0+1 ─ notify ─▶ poll
//! worker B: gen=g0  peek CQ (empty)  wait_since(g0) ── condvar wait ─────────────────────────────▶ poll
//! ```

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::dev::{DevError, Device};

#[derive(Default)]
struct State {
    /// Interrupts taken on this vector so far.
    generation: u64,
    /// Whether a thread is in the device wait now.
    waiting: bool,
}

/// One interrupt vector as the driver's queues share it.
#[derive(Default)]
pub(crate) struct Vector {
    state: Mutex<State>,
    cv: Condvar,
}

impl Vector {
    /// Interrupts taken so far; take it before looking for work, then [`Vector::wait_since`] it.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until an interrupt on vector `v` was taken after generation `since` (`Ok(true)`)
    /// or `timeout` passes (`Ok(false)`). The thread that takes the interrupt from the device
    /// runs `ack` (clearing the vector's causes) before anyone is woken.
    pub fn wait_since(
        &self,
        dev: &dyn Device,
        v: u32,
        since: u64,
        timeout: Duration,
        ack: impl Fn(),
    ) -> Result<bool, DevError> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if st.generation != since {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            if st.waiting {
                st = self.cv.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
                continue;
            }
            st.waiting = true;
            drop(st);
            let r = dev.wait_irq_vector(v, deadline - now);
            if matches!(r, Ok(true)) {
                ack();
            }
            st = self.lock();
            st.waiting = false;
            if matches!(r, Ok(true)) {
                st.generation += 1;
            }
            // Wake the others: with the interrupt, or so one of them takes over the device wait.
            self.cv.notify_all();
            r?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::DmaRegion;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    /// A device whose one vector fires once per `fire()`, consumed by one wait (an eventfd).
    struct OneShot {
        pending: Mutex<u32>,
        cv: Condvar,
        dma: Arc<DmaRegion>,
    }

    impl OneShot {
        fn fire(&self) {
            *self.pending.lock().unwrap() += 1;
            self.cv.notify_all();
        }
    }

    impl Device for OneShot {
        fn describe(&self) -> String {
            "one-shot interrupt".into()
        }
        fn read32(&self, _: u32) -> Result<u32, DevError> {
            Ok(0)
        }
        fn write32(&self, _: u32, _: u32) -> Result<(), DevError> {
            Ok(())
        }
        fn dma(&self) -> &Arc<DmaRegion> {
            &self.dma
        }
        fn wait_irq(&self, timeout: Duration) -> Result<bool, DevError> {
            let g = self.pending.lock().unwrap();
            let (mut g, _) = self.cv.wait_timeout_while(g, timeout, |p| *p == 0).unwrap();
            if *g > 0 {
                *g = 0;
                return Ok(true);
            }
            Ok(false)
        }
    }

    /// One device interrupt wakes every worker sharing the vector, and the ack runs once.
    #[test]
    fn one_interrupt_wakes_every_sharer() {
        let dev = Arc::new(OneShot {
            pending: Mutex::new(0),
            cv: Condvar::new(),
            dma: DmaRegion::new(4096, 0x1000).unwrap(),
        });
        let vec = Arc::new(Vector::default());
        let acks = Arc::new(AtomicU32::new(0));
        let since = vec.generation();
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (dev, vec, acks) = (dev.clone(), vec.clone(), acks.clone());
                std::thread::spawn(move || {
                    vec.wait_since(&*dev, 0, since, Duration::from_secs(20), || {
                        acks.fetch_add(1, Ordering::SeqCst);
                    })
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        dev.fire();
        for w in workers {
            assert_eq!(w.join().unwrap(), Ok(true));
        }
        assert_eq!(acks.load(Ordering::SeqCst), 1);
        // An interrupt that fired before the wait started is still pending in the device: not lost.
        let since = vec.generation();
        dev.fire();
        assert_eq!(vec.wait_since(&*dev, 0, since, Duration::from_secs(5), || {}), Ok(true));
        let since = vec.generation();
        assert_eq!(vec.wait_since(&*dev, 0, since, Duration::from_millis(10), || {}), Ok(false));
        assert_eq!(
            vec.wait_since(&*dev, 1, since, Duration::from_millis(10), || {}),
            Err(DevError::NoVector { vector: 1, vectors: 1 })
        );
    }
}
