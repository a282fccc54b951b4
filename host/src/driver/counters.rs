//! What the driver counts per queue pair (and sums for the interface): frames,
//! bytes, offload requests, receive verdicts, refused and bad completions,
//! interrupt wake-ups. Counting here, not in the rings, keeps one definition.

use std::collections::BTreeMap;

use super::cpl::CompletionError;

/// Driver counters, for netstat and for tests that prove nothing was lost: per queue pair
/// ([`Queue::counters`](crate::driver::Queue::counters)) or summed over the queues ([`Driver::counters`](crate::driver::Driver::counters)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets placed on the TX ring (a TSO burst is one).
    pub tx_enqueued: u64,
    /// Of those, TSO bursts.
    pub tx_tso_bursts: u64,
    /// Packets whose completions say OK (a TSO burst counts once).
    pub tx_packets: u64,
    /// Bytes of those.
    pub tx_bytes: u64,
    /// TAIL doorbell writes (one per batch).
    pub tx_doorbells: u64,
    /// Frames refused before reaching the ring (invalid), by the driver.
    pub tx_rejected: u64,
    /// Transmit attempts that found the ring full.
    pub tx_ring_full: u64,
    /// TX completions per status code (every code, known or not).
    pub tx_status: BTreeMap<u8, u64>,
    /// Frames delivered up.
    pub rx_packets: u64,
    /// Bytes of those.
    pub rx_bytes: u64,
    /// RX completions with a known non-OK status, per code (frame dropped, buffer reposted).
    pub rx_status: BTreeMap<u8, u64>,
    /// Completions refused by validation, in total.
    pub bad_completions: u64,
    /// … of which out of order.
    pub bad_index: u64,
    /// … of which a bad length.
    pub bad_len: u64,
    /// … of which bad checksum flags or csum_data.
    pub bad_flags: u64,
    /// … of which an unknown status.
    pub bad_status: u64,
    /// … of which an invalid RSS hash (the frame was delivered without it).
    pub bad_rss: u64,
    /// Waits ended by an interrupt.
    pub irq_wakeups: u64,
    /// Waits that timed out.
    pub wait_timeouts: u64,
}

impl Counters {
    /// TX completions seen with `code`.
    pub fn tx_status_count(&self, code: u8) -> u64 {
        self.tx_status.get(&code).copied().unwrap_or(0)
    }

    /// Adds `o` to these (summing queues' counters).
    pub fn merge(&mut self, o: &Counters) {
        let Counters {
            tx_enqueued,
            tx_tso_bursts,
            tx_packets,
            tx_bytes,
            tx_doorbells,
            tx_rejected,
            tx_ring_full,
            tx_status,
            rx_packets,
            rx_bytes,
            rx_status,
            bad_completions,
            bad_index,
            bad_len,
            bad_flags,
            bad_status,
            bad_rss,
            irq_wakeups,
            wait_timeouts,
        } = o;
        self.tx_enqueued += tx_enqueued;
        self.tx_tso_bursts += tx_tso_bursts;
        self.tx_packets += tx_packets;
        self.tx_bytes += tx_bytes;
        self.tx_doorbells += tx_doorbells;
        self.tx_rejected += tx_rejected;
        self.tx_ring_full += tx_ring_full;
        for (k, v) in tx_status {
            *self.tx_status.entry(*k).or_default() += v;
        }
        self.rx_packets += rx_packets;
        self.rx_bytes += rx_bytes;
        for (k, v) in rx_status {
            *self.rx_status.entry(*k).or_default() += v;
        }
        self.bad_completions += bad_completions;
        self.bad_index += bad_index;
        self.bad_len += bad_len;
        self.bad_flags += bad_flags;
        self.bad_status += bad_status;
        self.bad_rss += bad_rss;
        self.irq_wakeups += irq_wakeups;
        self.wait_timeouts += wait_timeouts;
    }

    pub(super) fn count_bad(&mut self, e: &CompletionError) {
        self.bad_completions += 1;
        match e {
            CompletionError::NotReady => {}
            CompletionError::Index { .. } => self.bad_index += 1,
            CompletionError::Len { .. } => self.bad_len += 1,
            CompletionError::Flags { .. } | CompletionError::CsumData { .. } => self.bad_flags += 1,
            CompletionError::Status { .. } => self.bad_status += 1,
            CompletionError::Rss { .. } => self.bad_rss += 1,
        }
    }
}

/// What one [`Driver::poll`](crate::driver::Driver::poll) or [`Queue::poll`](crate::driver::Queue::poll) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollResult {
    /// TX completions reclaimed.
    pub tx_reclaimed: usize,
    /// Frames received.
    pub rx: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A completion with a hash the ABI does not define is counted in `bad_rss` and
    /// `bad_completions`; the frame itself still goes up (without the hash: the validator strips
    /// it, `cpl::tests::hashes_of_known_types_pass_and_others_are_stripped`). The RTL never
    /// writes such a hash, so no test on the Verilator model can produce one: the receive path's
    /// two halves are pinned here, as pure functions.
    #[test]
    fn a_bad_hash_is_counted_as_a_bad_completion() {
        let mut c = Counters::default();
        let e = CompletionError::Rss { index: 7, flowid: 5, rsstype: 0x88 };
        for _ in 0..10 {
            c.count_bad(&e);
        }
        assert_eq!((c.bad_rss, c.bad_completions), (10, 10));
        assert_eq!((c.bad_index, c.bad_len, c.bad_flags, c.bad_status), (0, 0, 0, 0));
    }
}
