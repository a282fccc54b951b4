//! The core under garbage, in Verilator, for a long seeded run: random TX
//! descriptors (wholly random, or random fields around a real buffer), random
//! RX descriptors, random frames of every length on the wire (some errored),
//! DMA errors injected on random read beats and write responses, and ring
//! pointers (tails, completion heads) written with random values.
//!
//! What must hold, from the ABI's rules rather than the RTL's logic: every
//! completion carries a status the ABI defines; after each round the core
//! returns to idle (a watchdog: not idle and no counter or completion queue
//! moving for 200 000 cycles is a hang and fails the test); and after the
//! run, a soft reset gives a NIC that sends and receives a good frame byte
//! for byte. Stricter variants hold every frame on the wire to be received
//! or counted as dropped, also with ring tails written at random.
//!
//! `NIC_GARBAGE_SEED` and `NIC_GARBAGE_ROUNDS` repeat or lengthen a run; the
//! seed is printed.

use nic_abi::desc::{RxDesc, TxDesc, TXD_MORE, TX_MAX_CHAIN};
use nic_abi::regs::{ctrl, queue, stats};
use nic_abi::status;
use nic_testbench::traffic::{self, Kind};
use nic_sim::{DmaConfig, DmaErrors, DmaMemory, SimConfig};
use nic_tests::{seed, RawNic, BASE, BUF};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use zerocopy::FromBytes;

/// Cycles without progress (no counter, no completion queue moving) while not idle: a hang.
const WATCHDOG_CYCLES: u64 = 200_000;
/// Cycles a round may take to drain at most, progress or not (a ring pointer written at random
/// can ask for 65 535 descriptors, each refused in turn).
const ROUND_LIMIT_CYCLES: u64 = 40_000_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Frames the NIC took from the wire: delivered, or dropped and counted.
fn frames_counted(nic: &RawNic) -> u64 {
    [stats::RX_FRAMES, stats::RX_DROP_NOBUF, stats::RX_DROP_ERR].iter().map(|o| u64::from(nic.stat(*o))).sum()
}

/// What moves when the core makes progress: its counters and its completion queues' tails.
fn progress(nic: &RawNic) -> Vec<u32> {
    let mut v: Vec<u32> = stats::ALL.iter().map(|(o, _)| nic.stat(*o)).collect();
    v.extend(nic.ring_blocks().iter().map(|b| nic.nic.read32(b + queue::CQ_TAIL).unwrap()));
    v
}

/// Runs the clock, handing back every completion as a driver would, until the core reports
/// idle; panics (a hang) after [`WATCHDOG_CYCLES`] without progress. With `hand_back_all`,
/// the completion queues are emptied through their registers (CQ_HEAD = CQ_TAIL), as after
/// ring pointers written at random the test's own bookkeeping no longer matches the NIC's.
fn settle(nic: &mut RawNic, statuses: &mut Vec<u8>, hand_back_all: bool, injected: u64, what: &str) {
    let start = nic.sim.cycles();
    let (mut last, mut last_at) = (progress(nic), start);
    loop {
        if hand_back_all {
            for b in nic.ring_blocks() {
                let t = nic.nic.read32(b + queue::CQ_TAIL).unwrap();
                nic.nic.write32(b + queue::CQ_HEAD, t).unwrap();
            }
        } else {
            statuses.extend(nic.drain_completions());
        }
        nic.sim.run_cycles(2_000).unwrap();
        let now = nic.sim.cycles();
        let idle = nic.nic.read32(ctrl::STATUS).unwrap() & ctrl::STATUS_IDLE != 0;
        if idle && now - start > 4_000 {
            if !hand_back_all {
                statuses.extend(nic.drain_completions());
            }
            return;
        }
        let p = progress(nic);
        if p != last {
            (last, last_at) = (p, now);
        }
        let stuck = now - last_at;
        if hand_back_all && stuck >= WATCHDOG_CYCLES {
            // Pointers written at random may leave a TX chain open on a garbage descriptor (TXD_MORE
            // on the last one posted): the engine then holds the chain's first descriptors (HEAD
            // stays before them) and waits for the host to post the rest, which is not a hang.
            // The sign: fewer than TX_MAX_CHAIN descriptors left on every TX ring. The soft reset
            // that follows must then bring every block back to idle (RawNic::soft_reset fails if
            // it does not).
            let blocks = nic.ring_blocks();
            let open_chain_only = blocks[..2].iter().all(|b| {
                let (head, tail) = (nic.nic.read32(b + queue::HEAD).unwrap(), nic.nic.read32(b + queue::TAIL).unwrap());
                (tail.wrapping_sub(head) & 0xffff) < TX_MAX_CHAIN
            });
            // And the receive side done: every frame injected so far received or counted.
            let rx_done = frames_counted(nic) == injected;
            if open_chain_only && rx_done {
                return;
            }
        }
        assert!(
            stuck < WATCHDOG_CYCLES && now - start < ROUND_LIMIT_CYCLES,
            "{what}: the core is not idle and made no progress for {stuck} cycles ({} since its inputs \
             stopped): a hang. STATUS {:#x}, rings (HEAD, TAIL, CQ_HEAD, CQ_TAIL) {:?}, stats {:?}",
            now - start,
            nic.nic.read32(ctrl::STATUS).unwrap(),
            nic.ring_blocks()
                .iter()
                .map(|b| [queue::HEAD, queue::TAIL, queue::CQ_HEAD, queue::CQ_TAIL].map(|r| nic.nic.read32(b + r).unwrap()))
                .collect::<Vec<_>>(),
            stats::ALL.iter().map(|(o, n)| (*n, nic.stat(*o))).collect::<Vec<_>>()
        );
    }
}

/// A TX descriptor: wholly random, or random fields around a real buffer holding random bytes.
fn garbage_tx(nic: &RawNic, rng: &mut SmallRng) -> TxDesc {
    let mut raw = [0u8; 32];
    rng.fill_bytes(&mut raw);
    let mut d = TxDesc::read_from_bytes(&raw).unwrap();
    if rng.gen_bool(0.7) {
        // Near-valid: a real buffer, a length that fits it, random everything else.
        let addr = nic.next_tx_buf();
        let len = rng.gen_range(0..=BUF as u32);
        let mut junk = vec![0u8; len as usize];
        rng.fill_bytes(&mut junk);
        assert!(nic.mem.write(addr, &junk));
        d.addr = (addr + if rng.gen_bool(0.1) { rng.gen_range(1..8) } else { 0 }).into();
        d.len = len.into();
        d.pkt_len = if rng.gen_bool(0.7) { len.into() } else { d.pkt_len };
        if rng.gen_bool(0.6) {
            d.rsvd1 = 0.into();
        }
        if rng.gen_bool(0.8) {
            d.flags &= !TXD_MORE;
        }
    }
    d
}

#[test]
fn garbage_everywhere_every_state_machine_returns_to_idle_and_the_nic_still_works() {
    garbage_run(false, false);
}

/// The same, holding the NIC to "every frame on the wire is received or counted as dropped".
/// This found the counters' defect: two RX engines delivering (or dropping) in the same cycle
/// were counted once, their increments ORed (1 or 2 frames of about 690 went uncounted).
#[test]
fn garbage_every_frame_is_received_or_counted() {
    garbage_run(false, true);
}

/// The same with rings' TAIL written at random too: a TX chain left open on a garbage
/// descriptor (the engine rightly waits for the host's rest of it) must still leave every frame
/// received or counted and the core able to idle after a soft reset. (Its first failures were
/// the counters' defect above.) Since ABI 2.1 a TAIL more than a ring ahead, or a CQ_HEAD
/// outside the ring, is refused and counted in DOORBELL_ERR; before, an RX ring could be
/// "posted" 43 341 descriptors deep and the NIC walked them all.
#[test]
fn garbage_with_ring_tails_written_at_random() {
    garbage_run(true, true);
}

fn garbage_run(wild_tails: bool, strict_accounting: bool) {
    let seed_v = env_u64("NIC_GARBAGE_SEED", 0x6a72_6261_6765);
    let rounds = env_u64("NIC_GARBAGE_ROUNDS", 150);
    let mut wild_writes = 0u64;
    println!("garbage run: seed {seed_v:#x}, {rounds} rounds (NIC_GARBAGE_SEED / NIC_GARBAGE_ROUNDS repeat or lengthen it)");
    let mut rng = SmallRng::seed_from_u64(seed_v);
    let mut cfg = SimConfig::external(1);
    // NIC_GARBAGE_DMA_ERRORS=0 leaves the DMA errors out (to tell their part in a failure).
    if env_u64("NIC_GARBAGE_DMA_ERRORS", 1) != 0 {
        cfg.dma = DmaConfig { errors: Some(DmaErrors { seed: seed_v, read_beat: 0.002, write_resp: 0.01 }), ..Default::default() };
    }
    let mut nic = RawNic::with_config(cfg);
    nic.spread_rx();
    let known = [
        status::OK,
        status::BAD_LEN,
        status::BAD_ALIGN,
        status::BAD_OFFSETS,
        status::BAD_FLAGS,
        status::BAD_RSVD,
        status::DMA_ERROR,
        status::BAD_CHAIN,
    ];
    let mut statuses = Vec::new();
    let mut injected = 0u64;
    let mut pointer_rounds = 0;
    for round in 0..rounds {
        // Transmit: a burst of garbage on a random queue.
        let q = rng.gen_range(0..2);
        let n = rng.gen_range(1..12);
        for i in 0..n {
            let mut d = garbage_tx(&nic, &mut rng);
            if i == n - 1 {
                // A chain left open waits for the host's next descriptor: busy, not hung.
                d.flags &= !TXD_MORE;
            }
            nic.post_tx_raw_on(q, &d);
        }
        // Receive: random descriptors (most near-valid), then frames of any length and content.
        for _ in 0..rng.gen_range(0..10) {
            let d = if rng.gen_bool(0.8) {
                RxDesc {
                    addr: (BASE + 0x4_0000 + rng.gen_range(0..64u64) * BUF + if rng.gen_bool(0.1) { 4 } else { 0 }).into(),
                    len: rng.gen_range(0..=BUF as u32).into(),
                    rsvd: (if rng.gen_bool(0.9) { 0 } else { rng.gen() }).into(),
                }
            } else {
                let mut raw = [0u8; 16];
                rng.fill_bytes(&mut raw);
                RxDesc::read_from_bytes(&raw).unwrap()
            };
            nic.post_rx_desc(d);
        }
        for _ in 0..rng.gen_range(0..10) {
            let len = match rng.gen_range(0..4) {
                0 => rng.gen_range(1..64),
                1 => rng.gen_range(64..1600),
                2 => rng.gen_range(1600..9100),
                _ => 60,
            };
            let mut f = vec![0u8; len];
            rng.fill_bytes(&mut f);
            nic.nic.inject(&f, rng.gen_bool(0.1)).unwrap();
            injected += 1;
        }
        // Now and then, ring pointers written with random values.
        let wild = rng.gen_bool(0.15) && env_u64("NIC_GARBAGE_WILD", 1) != 0;
        if wild {
            pointer_rounds += 1;
            let blocks = nic.ring_blocks();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..blocks.len());
                let reg = if wild_tails && rng.gen_bool(0.5) { queue::TAIL } else { queue::CQ_HEAD };
                wild_writes += 1;
                nic.nic.write32(blocks[i] + reg, rng.gen()).unwrap();
            }
        }
        settle(&mut nic, &mut statuses, wild, injected, &format!("round {round}"));
        if wild {
            // The rings' indices are anyone's now: start them again, as a driver would.
            nic.soft_reset();
            nic.spread_rx();
        }
    }
    settle(&mut nic, &mut statuses, false, injected, "the end of the run");
    for s in &statuses {
        assert!(known.contains(s), "a completion with status {s:#x}, which the ABI does not define");
    }
    let errors = statuses.iter().filter(|s| **s != status::OK).count();
    let rx = |o| u64::from(nic.stat(o));
    println!(
        "{} completions ({errors} with an error status), {injected} frames injected, {pointer_rounds} rounds with wild pointers; \
         TX_DESC_ERR {}, DMA_ERR {}, RX_FRAMES {}, RX_DROP_NOBUF {}, RX_DROP_ERR {}",
        statuses.len(),
        rx(stats::TX_DESC_ERR),
        rx(stats::DMA_ERR),
        rx(stats::RX_FRAMES),
        rx(stats::RX_DROP_NOBUF),
        rx(stats::RX_DROP_ERR),
    );
    assert!(errors > 0 && statuses.len() > errors, "the run exercised both refusals and good descriptors");
    // Random doorbells are refused and counted, nearly all of them (a random index lands within
    // a ring of the engine's now and then, and is taken).
    let refused = u64::from(nic.stat(stats::DOORBELL_ERR));
    println!("wild doorbell writes {wild_writes}, refused {refused}");
    assert!(refused <= wild_writes && refused * 10 >= wild_writes * 8, "DOORBELL_ERR counts the wild doorbells");
    let counted = frames_counted(&nic);
    println!("frames on the wire {injected}, received or counted as dropped {counted}");
    if strict_accounting {
        assert_eq!(counted, injected, "every frame on the wire is received or counted as dropped (counters survive soft reset)");
    }

    // Still a working NIC: a good frame out and one in, byte for byte.
    nic.soft_reset();
    let mut frng = SmallRng::seed_from_u64(seed_v ^ 1);
    let good = traffic::frame_of_len(Kind { v6: true, tcp: true, vlan: false, ext: false, frag: false }, 700, 1, &mut frng);
    let (seeded, d) = seed(&good).unwrap();
    let _ = nic.nic.take_tx();
    // DMA errors are still being injected: a try that meets one must say so (DMA_ERROR) and the
    // next try goes through, as a driver would retry.
    let mut sent = false;
    for _ in 0..20 {
        nic.post_tx(&seeded, d, false);
        match nic.tx_cpl().status & 0x7f {
            status::OK => {
                let w = nic.wire(1, std::time::Duration::from_secs(30));
                assert_eq!(w.len(), 1);
                assert_eq!(w[0].data, good, "the frame sent after the garbage is intact");
                sent = true;
                break;
            }
            s => assert_eq!(s, status::DMA_ERROR, "a good descriptor refused after the garbage"),
        }
    }
    assert!(sent, "20 tries of a good frame all met an injected DMA error");
    let mut received = false;
    for _ in 0..20 {
        nic.post_rx(1, BUF as u32);
        nic.nic.inject(&good, false).unwrap();
        let (c, data) = nic.rx_cpl();
        match c.status & 0x7f {
            status::OK => {
                assert_eq!(data, good, "the frame received after the garbage is intact");
                received = true;
                break;
            }
            s => assert_eq!(s, status::DMA_ERROR, "a good frame refused after the garbage"),
        }
    }
    assert!(received, "20 tries of a good frame all met an injected DMA error");
}
