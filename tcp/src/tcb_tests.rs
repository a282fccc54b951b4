//! The connection's state machine tested as a whole: two `Tcb`s against each
//! other through a lossy pipe on a virtual clock, and single segments checked
//! against the RFCs. Beside the files it tests, since it drives input, output
//! and timers together; host-run (`cargo test -p nic-tcp`), with `std` for
//! parsing addresses and a seeded generator of its own for the losses, so the
//! crate keeps no dependencies, not even for tests.

use std::vec;
use std::vec::Vec;

use core::net::SocketAddr;
use core::time::Duration;

use crate::cc;
use crate::options::TcpOptions;
use crate::repr::{TH_ACK, TH_FIN, TH_RST, TH_SYN};
use crate::tcb::Tcb;
use crate::time::Instant;
use crate::var::*;

/// The virtual clock's start: any point will do, since only differences are taken.
const T0: Instant = Instant::from_nanos(1_000_000_000);

/// A seeded pseudo-random sequence (SplitMix64): which segments the pipe loses, the same
/// every run.
struct Loss(u64);

impl Loss {
    fn seed(seed: u64) -> Loss {
        Loss(seed)
    }

    /// `true` with probability `p` (never for 0).
    fn gen_bool(&mut self, p: f64) -> bool {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

fn path(mtu: u32, tso: bool) -> PathInfo {
    PathInfo { mtu, ip_hlen: 20, link_hlen: 14, tso, tso_max: 65535 }
}

fn pair(cfg: TcbConfig, now: Instant) -> (Tcb, Tcb) {
    let a: SocketAddr = "10.0.0.2:40000".parse().unwrap();
    let b: SocketAddr = "10.0.0.1:5001".parse().unwrap();
    let p = path(1500, false);
    let mut ta = Tcb::connect(cfg.clone(), a, b, 1000, &p, cc::by_name("newreno").unwrap());
    let syn = ta.output(now, &p);
    assert_eq!(syn.len(), 1);
    assert_eq!(syn[0].flags, TH_SYN);
    let s = &syn[0];
    let sin = SegIn { src_port: 0, dst_port: 0, seq: s.seq, ack: s.ack, flags: s.flags, window: s.window, options: s.options, payload: &[] };
    let tb = Tcb::accept_syn(cfg, b, a, 0xffff_ff00, &p, cc::by_name("newreno").unwrap(), &sin);
    (ta, tb)
}

/// Carries segments between two connections with a seeded loss rate and a
/// fixed one-way delay, on a virtual clock, until both are quiet.
fn run(ta: &mut Tcb, tb: &mut Tcb, loss: f64, data: &[u8], t0: Instant) -> (Vec<u8>, Instant) {
    let mut rng = Loss::seed(7);
    let p = path(1500, false);
    let mut now = t0;
    let mut fly: Vec<(Instant, bool, SegOut)> = Vec::new();
    let mut got = Vec::new();
    let mut sent = 0;
    let delay = Duration::from_millis(5);
    for _ in 0..2_000_000 {
        if sent < data.len() {
            sent += ta.send(&data[sent..]).unwrap();
            if sent == data.len() {
                ta.shutdown_write();
            }
        }
        let mut progressed = false;
        for (to_b, t) in [(true, &mut *ta), (false, &mut *tb)] {
            t.on_timer(now);
            for s in t.output(now, &p) {
                progressed = true;
                if !rng.gen_bool(loss) {
                    fly.push((now + delay, to_b, s));
                }
            }
        }
        let mut buf = [0u8; 65536];
        let n = tb.recv(&mut buf);
        got.extend_from_slice(&buf[..n]);
        if tb.at_eof() && tb.state() == TcpState::CloseWait {
            tb.shutdown_write();
        }
        fly.sort_by_key(|f| f.0);
        let due: Vec<_> = fly.iter().take_while(|f| f.0 <= now).cloned().collect();
        fly.drain(..due.len());
        progressed |= !due.is_empty();
        for (_, to_b, s) in due {
            let sin = SegIn {
        src_port: 0,
        dst_port: 0,
                seq: s.seq,
                ack: s.ack,
                flags: s.flags,
                window: s.window,
                options: s.options,
                payload: &s.payload,
            };
            // As the stack does: output right after each input (one duplicate ACK per segment).
            let (t, back) = if to_b { (&mut *tb, false) } else { (&mut *ta, true) };
            t.input(&sin, now);
            for s in t.output(now, &p) {
                if !rng.gen_bool(loss) {
                    fly.push((now + delay, back, s));
                }
            }
        }
        let quiet = fly.is_empty() && ta.is_closed() || (ta.state() == TcpState::TimeWait && tb.is_closed());
        if quiet && fly.is_empty() {
            break;
        }
        if progressed {
            continue;
        }
        let next = [fly.first().map(|f| f.0), ta.next_timer(), tb.next_timer()].into_iter().flatten().min();
        now = match next {
            Some(t) if t > now => t,
            _ => now + Duration::from_micros(100),
        };
    }
    (got, now)
}

#[test]
fn transfer_and_close_without_loss() {
    let t0 = T0;
    let (mut a, mut b) = pair(TcbConfig::default(), t0);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let (got, _) = run(&mut a, &mut b, 0.0, &data, t0);
    assert!(got == data, "received {} of {} bytes, or different bytes", got.len(), data.len());
    assert_eq!(a.state(), TcpState::TimeWait, "the active closer waits 2 MSL");
    assert_eq!(b.state(), TcpState::Closed);
    assert_eq!(a.info().stats.rexmit_segs, 0);
    // MSS 1460 both ways (1500 - 40), window scaling agreed (256 KiB buffer: shift 3).
    assert_eq!(a.info().t_maxseg, 1460);
    assert_eq!(a.info().wscale, Some((3, 3)));
    assert!(b.info().srtt.is_some(), "{:?}", b.info());
}

#[test]
fn transfer_survives_five_percent_loss() {
    let t0 = T0;
    let (mut a, mut b) = pair(TcbConfig::default(), t0);
    let data: Vec<u8> = (0..400_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    let (got, _) = run(&mut a, &mut b, 0.05, &data, t0);
    assert!(got == data, "received {} of {} bytes, or different bytes", got.len(), data.len());
    let st = a.info().stats;
    assert!(st.rexmit_segs > 0 && st.fast_rexmits > 0, "{st:?}");
}

// RFC 5681 §3.2 / RFC 6582 §3.2 (2): the third duplicate ACK retransmits
// the first unacknowledged segment at once and sets cwnd = ssthresh + 3 MSS.
#[test]
fn third_duplicate_ack_fast_retransmits() {
    let t0 = T0;
    let (mut a, mut b) = pair(TcbConfig::default(), t0);
    let p = path(1500, false);
    let deliver = |from: &mut Tcb, to: &mut Tcb, now| {
        for s in from.output(now, &p) {
            let sin = SegIn { src_port: 0, dst_port: 0, seq: s.seq, ack: s.ack, flags: s.flags, window: s.window, options: s.options, payload: &s.payload };
            to.input(&sin, now);
        }
    };
    deliver(&mut b, &mut a, t0); // SYN-ACK
    deliver(&mut a, &mut b, t0); // ACK
    assert_eq!((a.state(), b.state()), (TcpState::Established, TcpState::Established));
    a.send(&vec![1u8; 10 * 1460]).unwrap();
    let segs = a.output(t0, &p);
    assert_eq!(segs.len(), 10, "initial window of 10 segments (RFC 6928)");
    let una = segs[0].seq;
    let flight = 10 * 1460;
    // Lose the first; the next ones each draw a duplicate ACK (the first of
    // them also updates the window from the SYN's unscaled one, so it does not count).
    for s in &segs[1..5] {
        let sin = SegIn { src_port: 0, dst_port: 0, seq: s.seq, ack: s.ack, flags: s.flags, window: s.window, options: s.options, payload: &s.payload };
        b.input(&sin, t0);
        let acks = b.output(t0, &p);
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].ack, una, "a duplicate ACK for the hole");
        let k = &acks[0];
        let sin = SegIn { src_port: 0, dst_port: 0, seq: k.seq, ack: k.ack, flags: k.flags, window: k.window, options: TcpOptions::default(), payload: &[] };
        a.input(&sin, t0);
    }
    let r = a.output(t0, &p);
    assert_eq!(r[0].seq, una, "the first unacknowledged segment again");
    assert_eq!(r[0].payload.len(), 1460);
    let i = a.info();
    assert_eq!(i.stats.fast_rexmits, 1);
    assert_eq!(i.ssthresh, flight / 2);
    assert_eq!(i.cwnd, flight / 2 + 3 * 1460);
}

// RFC 6298 (2.2)/(2.3): SRTT = R, RTTVAR = R/2 first; then the smoothed updates; RTO = SRTT + 4 RTTVAR.
#[test]
fn rto_follows_rfc6298() {
    let t0 = T0;
    let (mut a, _) = pair(TcbConfig { rto_min: Duration::from_millis(1), ..Default::default() }, t0);
    a.rtt_sample(Duration::from_millis(100));
    assert_eq!((a.rtt.srtt(), a.rtt.rttvar(), a.rtt.rto()), (Some(Duration::from_millis(100)), Duration::from_millis(50), Duration::from_millis(300)));
    a.rtt_sample(Duration::from_millis(200));
    // RTTVAR = 3/4 * 50 + 1/4 * 100 = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5; RTO = 112.5 + 250 = 362.5 ms.
    assert_eq!(a.rtt.rttvar(), Duration::from_micros(62_500));
    assert_eq!(a.rtt.srtt(), Some(Duration::from_micros(112_500)));
    assert_eq!(a.rtt.rto(), Duration::from_micros(362_500));
}

#[test]
fn smaller_mtu_shrinks_segments_and_resends() {
    let t0 = T0;
    let (mut a, mut b) = pair(TcbConfig::default(), t0);
    let p = path(1500, false);
    for s in b.output(t0, &p) {
        let sin = SegIn { src_port: 0, dst_port: 0, seq: s.seq, ack: s.ack, flags: s.flags, window: s.window, options: s.options, payload: &[] };
        a.input(&sin, t0);
    }
    a.send(&vec![0u8; 5000]).unwrap();
    let first = a.output(t0, &p);
    assert_eq!(first[0].payload.len(), 1460);
    assert!(a.mtu_changed(1400));
    assert!(!a.mtu_changed(1400), "the same size again changes nothing (no loop)");
    assert!(!a.mtu_changed(9000), "never raised by a message");
    let again = a.output(t0, &path(1400, false));
    assert_eq!(again[0].seq, first[0].seq, "resent from the oldest unacknowledged byte");
    assert_eq!(again[0].payload.len(), 1360);
}

#[test]
fn segment_without_connection_gets_the_rfc_reset() {
    let s = SegIn { src_port: 0, dst_port: 0, seq: 100, ack: 0, flags: TH_SYN, window: 0, options: TcpOptions::default(), payload: &[] };
    let r = Tcb::rst_for(&s).unwrap();
    assert_eq!((r.seq, r.ack, r.flags), (0, 101, TH_RST | TH_ACK));
    let s = SegIn { src_port: 0, dst_port: 0, seq: 100, ack: 555, flags: TH_ACK, window: 0, options: TcpOptions::default(), payload: &[1, 2] };
    let r = Tcb::rst_for(&s).unwrap();
    assert_eq!((r.seq, r.flags), (555, TH_RST));
    assert!(Tcb::rst_for(&SegIn { flags: TH_RST, ..s }).is_none());
}

fn deliver_all(from: &mut Tcb, to: &mut Tcb, now: Instant, p: &PathInfo) -> usize {
    let segs = from.output(now, p);
    for s in &segs {
        let sin = SegIn { src_port: 0, dst_port: 0, seq: s.seq, ack: s.ack, flags: s.flags, window: s.window, options: s.options, payload: &s.payload };
        to.input(&sin, now);
    }
    segs.len()
}

// The window closes when the application stops reading, whatever the peer's ISS
// (here one in the upper half of sequence space, where a zero right edge would look "ahead").
#[test]
fn the_window_closes_when_nobody_reads_and_probes_reopen_it() {
    let t0 = T0;
    let a: SocketAddr = "10.0.0.2:40000".parse().unwrap();
    let b: SocketAddr = "10.0.0.1:5001".parse().unwrap();
    let p = path(1500, false);
    let cfg = TcbConfig { rcvbuf: 64 << 10, ..Default::default() };
    let mut ta = Tcb::connect(cfg.clone(), a, b, 0x9000_0000, &p, cc::by_name("newreno").unwrap());
    let syn = ta.output(t0, &p).remove(0);
    let sin = SegIn { src_port: 0, dst_port: 0, seq: syn.seq, ack: 0, flags: syn.flags, window: syn.window, options: syn.options, payload: &[] };
    let mut tb = Tcb::accept_syn(cfg, b, a, 0xc000_0000, &p, cc::by_name("newreno").unwrap(), &sin);
    deliver_all(&mut tb, &mut ta, t0, &p);
    deliver_all(&mut ta, &mut tb, t0, &p);
    ta.send(&vec![7u8; 200 << 10]).unwrap();
    let mut now = t0;
    for _ in 0..2000 {
        now += Duration::from_millis(1);
        ta.on_timer(now);
        tb.on_timer(now);
        deliver_all(&mut ta, &mut tb, now, &p);
        deliver_all(&mut tb, &mut ta, now, &p);
    }
    let full = 64 << 10;
    // Filled to within one segment; the sender then waits (sender SWS avoidance) and the
    // persist timer's override send fills the rest: the window closes completely.
    assert_eq!(tb.readable(), full, "the receive buffer filled exactly");
    assert_eq!(ta.info().snd_wnd, 0, "and the sender saw the window close");
    // The reader wakes up; even if its window update were lost, the sender's probe finds the open window.
    let mut sink = vec![0u8; 64 << 10];
    tb.recv(&mut sink);
    let _lost_update = tb.output(now, &p);
    let probes_before = ta.info().stats.window_probes + ta.info().stats.timeouts;
    for _ in 0..100 {
        now += Duration::from_millis(50);
        ta.on_timer(now);
        deliver_all(&mut ta, &mut tb, now, &p);
        deliver_all(&mut tb, &mut ta, now, &p);
    }
    assert!(ta.info().stats.window_probes + ta.info().stats.timeouts > probes_before, "a probe went out");
    assert!(tb.readable() > 0, "and data flows again");
    assert!(ta.error().is_none());
}

// RFC 1337: TIME_WAIT is not cut short by a RST (a stray one answering a late duplicate).
#[test]
fn time_wait_ignores_a_reset() {
    let t0 = T0;
    let (mut a, mut b) = pair(TcbConfig::default(), t0);
    let (got, now) = run(&mut a, &mut b, 0.0, b"bye", t0);
    assert_eq!((got.as_slice(), a.state()), (&b"bye"[..], TcpState::TimeWait));
    let i = a.info();
    let rst = SegIn { src_port: 0, dst_port: 0, seq: a.rcv_nxt, ack: 0, flags: TH_RST, window: 0, options: TcpOptions::default(), payload: &[] };
    a.input(&rst, now);
    assert_eq!(a.state(), TcpState::TimeWait, "{i:?}");
    // A new SYN beyond the old connection's sequence space may recycle it; an old duplicate may not.
    let syn = |seq| SegIn { src_port: 0, dst_port: 0, seq, ack: 0, flags: TH_SYN, window: 1000, options: TcpOptions::default(), payload: &[] };
    assert!(a.syn_recycles(&syn(a.rcv_nxt.wrapping_add(100_000))));
    assert!(!a.syn_recycles(&syn(a.rcv_nxt.wrapping_sub(1))));
    a.on_timer(now + 2 * a.cfg.msl);
    assert_eq!(a.state(), TcpState::Closed, "2 MSL later it ends");
}

// A blind attacker who guesses RCV.NXT but not SND.MAX (RFC 9293 §3.10.7.4), or who sends an
// ACK far below SND.UNA (RFC 5961 §5.2): the segment is dropped, payload and FIN too, and
// answered with an ACK that still names the real RCV.NXT. An ACK inside the range is still
// taken with its data, so the check is not simply "drop everything".
#[test]
fn data_under_an_unacceptable_ack_is_dropped_and_answered() {
    let t0 = T0;
    let p = path(1500, false);
    let (mut a, mut b) = pair(TcbConfig::default(), t0);
    deliver_all(&mut b, &mut a, t0, &p);
    deliver_all(&mut a, &mut b, t0, &p);
    // b sends some data so that its SND.UNA has moved and MAX.SND.WND is known.
    b.send(&[1u8; 3000]).unwrap();
    let mut now = t0;
    for _ in 0..10 {
        now += Duration::from_millis(50);
        a.on_timer(now);
        b.on_timer(now);
        deliver_all(&mut b, &mut a, now, &p);
        deliver_all(&mut a, &mut b, now, &p);
    }
    assert_eq!(b.info().snd_q, 0, "b's data was acknowledged");
    let t0 = now;
    let (rcv_nxt, snd_una, max_wnd) = (b.rcv_nxt, b.snd_una, b.max_sndwnd);
    assert!(max_wnd > 0);
    let forged = |ack: u32, flags: u8| SegIn {
        src_port: 0,
        dst_port: 0,
        seq: rcv_nxt,
        ack,
        flags: TH_ACK | flags,
        window: 1000,
        options: TcpOptions::default(),
        payload: b"forged bytes",
    };
    for (ack, what) in [
        (b.snd_max.wrapping_add(100), "ahead of SND.MAX"),
        (snd_una.wrapping_sub(max_wnd).wrapping_sub(1), "below SND.UNA - MAX.SND.WND"),
    ] {
        b.input(&forged(ack, TH_FIN), t0);
        assert_eq!(b.readable(), 0, "{what}: no payload delivered");
        assert!(!b.at_eof(), "{what}: no FIN taken");
        assert_eq!(b.state(), TcpState::Established, "{what}");
        let out = b.output(t0, &p);
        assert_eq!(out.len(), 1, "{what}: answered with one segment");
        assert_eq!((out[0].flags & TH_ACK, out[0].ack, out[0].payload.len()), (TH_ACK, rcv_nxt, 0), "{what}");
    }
    let st = b.info().stats;
    assert_eq!((st.rcvacktoomuch, st.rcvacktooold), (1, 1));
    // The lowest acceptable ACK (SND.UNA - MAX.SND.WND) carries data in.
    b.input(&forged(snd_una.wrapping_sub(max_wnd), 0), t0);
    assert_eq!(b.readable(), 12, "an old but acceptable ACK's data is delivered");
}
