//! Out-of-order data (FreeBSD's `tcp_reass.c`): segments beyond `rcv_nxt`
//! wait, bounded, until the hole before them fills; then they join the
//! receive buffer in order.

use alloc::vec;
use alloc::vec::Vec;

use crate::seq::{seq_ge, seq_gt, seq_le, seq_lt};
use crate::tcb::{Tcb, REASS_MAX_SEGS};
use crate::time::Instant;

impl Tcb {
    pub(crate) fn queue_data(&mut self, seq: u32, payload: &[u8], now: Instant) {
        // Trim what we already have.
        let (mut seq, mut data) = (seq, payload);
        if seq_lt(seq, self.rcv_nxt) {
            let skip = self.rcv_nxt.wrapping_sub(seq) as usize;
            if skip >= data.len() {
                self.ack_now = true;
                return;
            }
            data = &data[skip..];
            seq = self.rcv_nxt;
        }
        // Trim to the buffer (queued out-of-order bytes already lie inside it).
        let room_end = self.rcv_nxt.wrapping_add(self.cfg.rcvbuf.saturating_sub(self.rcvbuf.len()) as u32);
        let fits = room_end.wrapping_sub(seq) as usize;
        if seq_ge(seq, room_end) {
            self.stats.out_of_window += 1;
            self.ack_now = true;
            return;
        }
        if data.len() > fits {
            data = &data[..fits];
        }
        if seq == self.rcv_nxt {
            self.rcvbuf.extend(data);
            self.rcv_nxt = self.rcv_nxt.wrapping_add(data.len() as u32);
            self.stats.bytes_in += data.len() as u64;
            let had_holes = !self.reass.is_empty();
            self.pull_reass();
            if had_holes {
                // Filling a hole: acknowledge at once (RFC 5681 §4.2).
                self.ack_now = true;
            } else {
                self.delack_segs += 1;
                if self.delack_segs >= 2 {
                    self.ack_now = true;
                } else if self.t_delack.is_none() {
                    self.t_delack = Some(now + self.cfg.delack);
                }
            }
        } else {
            self.stats.ooo_segs += 1;
            // Bounded, as FreeBSD's tcp_reass is: a peer cannot make every insert walk a huge queue.
            if self.reass.len() >= REASS_MAX_SEGS {
                self.stats.out_of_window += 1;
                self.ack_now = true;
                return;
            }
            self.insert_reass(seq, data);
            // A duplicate ACK at once so the sender can fast-retransmit.
            self.ack_now = true;
        }
    }

    pub(crate) fn insert_reass(&mut self, seq: u32, data: &[u8]) {
        // Keep the queue sorted and non-overlapping: cut the new piece around existing ones.
        let mut pieces = vec![(seq, data.to_vec())];
        for &(s, ref d) in &self.reass {
            let e = s.wrapping_add(d.len() as u32);
            let mut next = Vec::new();
            for (ps, pd) in pieces {
                let pe = ps.wrapping_add(pd.len() as u32);
                if seq_le(pe, s) || seq_ge(ps, e) {
                    next.push((ps, pd));
                    continue;
                }
                if seq_lt(ps, s) {
                    next.push((ps, pd[..s.wrapping_sub(ps) as usize].to_vec()));
                }
                if seq_gt(pe, e) {
                    next.push((e, pd[e.wrapping_sub(ps) as usize..].to_vec()));
                }
            }
            pieces = next;
        }
        for (ps, pd) in pieces {
            if pd.is_empty() {
                continue;
            }
            self.reass_bytes += pd.len();
            let at = self.reass.partition_point(|(s, _)| seq_lt(*s, ps));
            self.reass.insert(at, (ps, pd));
        }
    }

    pub(crate) fn pull_reass(&mut self) {
        while let Some((s, _)) = self.reass.first() {
            let s = *s;
            if seq_gt(s, self.rcv_nxt) {
                break;
            }
            let (s, d) = self.reass.remove(0);
            self.reass_bytes -= d.len();
            let skip = self.rcv_nxt.wrapping_sub(s) as usize;
            if skip < d.len() {
                self.rcvbuf.extend(&d[skip..]);
                self.rcv_nxt = self.rcv_nxt.wrapping_add((d.len() - skip) as u32);
                self.stats.bytes_in += (d.len() - skip) as u64;
            }
        }
    }
}
