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
use std::time::Duration;

use crate::dev::DevError;

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

    /// Waits until an interrupt on this vector was taken after generation `since` (`Ok(true)`)
    /// or `timeout` passes (`Ok(false)`) on the device's clock `now` (wall time, or simulated
    /// time for a model in lockstep: [`crate::dev::DeviceExt::now`]). At most one thread at a
    /// time calls `device_wait` (the device's wait on this vector, e.g.
    /// `dev.wait_irq_vector(v, t)`); the one whose wait returns an interrupt runs `ack`
    /// (clearing the vector's causes) before anyone is woken. Taking the device wait and clock
    /// as functions keeps this logic testable without a device.
    pub fn wait_since(
        &self,
        device_wait: impl Fn(Duration) -> Result<bool, DevError>,
        now: impl Fn() -> Duration,
        since: u64,
        timeout: Duration,
        ack: impl Fn(),
    ) -> Result<bool, DevError> {
        let deadline = now() + timeout;
        let mut st = self.lock();
        loop {
            if st.generation != since {
                return Ok(true);
            }
            let t = now();
            if t >= deadline {
                return Ok(false);
            }
            if st.waiting {
                // Another sharer holds the device wait and wakes us; bounded in wall time too,
                // in case the device's clock is simulated.
                st = self.cv.wait_timeout(st, deadline - t).unwrap_or_else(|e| e.into_inner()).0;
                continue;
            }
            st.waiting = true;
            drop(st);
            let r = device_wait(deadline - t);
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
    use std::sync::atomic::{AtomicU32, Ordering};
    use crate::dev::wall_time as wall;
    use std::sync::Arc;

    /// An eventfd's semantics (VFIO's MSI): each `fire` is counted, one wait consumes them all.
    /// The simulator's lines are level, so this edge behaviour is pinned here, on the logic alone.
    #[derive(Default)]
    struct EventCount {
        pending: Mutex<u32>,
        cv: Condvar,
    }

    impl EventCount {
        fn fire(&self) {
            *self.pending.lock().unwrap() += 1;
            self.cv.notify_all();
        }

        fn wait(&self, timeout: Duration) -> Result<bool, DevError> {
            let g = self.pending.lock().unwrap();
            let (mut g, _) = self.cv.wait_timeout_while(g, timeout, |p| *p == 0).unwrap();
            let fired = *g > 0;
            *g = 0;
            Ok(fired)
        }
    }

    /// One device interrupt wakes every worker sharing the vector, and the ack runs once.
    #[test]
    fn one_interrupt_wakes_every_sharer() {
        let ev = Arc::new(EventCount::default());
        let vec = Arc::new(Vector::default());
        let acks = Arc::new(AtomicU32::new(0));
        let device_waits = Arc::new(AtomicU32::new(0));
        let since = vec.generation();
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (ev, vec, acks, device_waits) = (ev.clone(), vec.clone(), acks.clone(), device_waits.clone());
                std::thread::spawn(move || {
                    let wait = |t| {
                        device_waits.fetch_add(1, Ordering::SeqCst);
                        ev.wait(t)
                    };
                    vec.wait_since(wait, wall, since, Duration::from_secs(20), || {
                        acks.fetch_add(1, Ordering::SeqCst);
                    })
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        ev.fire();
        for w in workers {
            assert_eq!(w.join().unwrap(), Ok(true));
        }
        assert_eq!(acks.load(Ordering::SeqCst), 1);
        assert_eq!(device_waits.load(Ordering::SeqCst), 1, "one thread at a time in the device wait");
        // An interrupt that fired before the wait started is still pending in the device: not lost.
        let since = vec.generation();
        ev.fire();
        assert_eq!(vec.wait_since(|t| ev.wait(t), wall, since, Duration::from_secs(5), || {}), Ok(true));
        let since = vec.generation();
        assert_eq!(vec.wait_since(|t| ev.wait(t), wall, since, Duration::from_millis(10), || {}), Ok(false));
        // A device error reaches the caller, and the next waiter takes over the device wait.
        let gone = |_: Duration| Err(DevError::Gone("test".into()));
        assert_eq!(vec.wait_since(gone, wall, since, Duration::from_secs(1), || {}), Err(DevError::Gone("test".into())));
        ev.fire();
        assert_eq!(vec.wait_since(|t| ev.wait(t), wall, since, Duration::from_secs(5), || {}), Ok(true));
    }
}
