//! The RSS block's registers (`nic_abi::regs::rss`): enabled hash types, the
//! 40-byte key, and the 128-entry indirection table, with the table's lookup
//! port for the receive dispatcher.
//!
//! The table lives twice in block RAM, written together: one copy answers
//! the dispatcher (`look_hash` -> `look_q` a cycle later), the other register
//! reads, so a driver reading the table never steals a lookup cycle from a
//! frame. RAM reads take a cycle, so the register file presents the read
//! address (`raddr`) a cycle before it samples `rdata`. Power-on reset loads
//! the default key and every supported type; the table's contents are loaded
//! with the bitstream (entry `i` = `i % NUM_QUEUES`) and are not touched by
//! reset.

use nic_abi::regs::{block as hdr_block, queue_pair, rss, BAR0_SIZE};
use nic_abi::rss::{reta_default, HASHTYPES_SUPPORTED, KEY_DEFAULT, RETA_SIZE};
use crate::reg_header::RegHeader;
use crate::AXIL_ADDR;
use rust_hdl::prelude::*;

/// The RSS registers and the indirection table.
#[derive(LogicBlock)]
pub struct RssRegs {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Power-on reset.
    pub reset: Signal<In, Bit>,
    /// A full-width register write happens this cycle.
    pub wfire: Signal<In, Bit>,
    /// Its address.
    pub waddr: Signal<In, Bits<AXIL_ADDR>>,
    /// Its data.
    pub wdata: Signal<In, Bits<32>>,
    /// Read address, a cycle before `rdata` is used.
    pub raddr: Signal<In, Bits<AXIL_ADDR>>,
    /// The same address, registered (what `rdata` answers).
    pub raddr_q: Signal<In, Bits<AXIL_ADDR>>,
    /// Read data for `raddr_q`: the register if it is this block's, else 0.
    pub rdata: Signal<Out, Bits<32>>,
    /// The key, first byte in bits 319..312.
    pub key: Signal<Out, Bits<320>>,
    /// Enabled hash types (`RSS_HASHTYPE_*`), masked by what the build computes.
    pub types: Signal<Out, Bits<32>>,
    /// A hash to look up (its low 7 bits pick the entry).
    pub look_hash: Signal<In, Bits<32>>,
    /// The entry for `look_hash` of the previous cycle.
    pub look_q: Signal<Out, Bits<8>>,
    kw: [DFF<Bits<32>>; 10],
    ty: DFF<Bits<32>>,
    lsel: DFF<Bits<2>>,
    reta_look: RAM<Bits<32>, 5>,
    reta_read: RAM<Bits<32>, 5>,
    kd: [Constant<Bits<32>>; 10],
    k_types: Constant<Bits<AXIL_ADDR>>,
    k_key: Constant<Bits<AXIL_ADDR>>,
    k_reta: Constant<Bits<AXIL_ADDR>>,
    // The table's 128 bytes: the address bits above its offset inside.
    k_reta_mask: Constant<Bits<AXIL_ADDR>>,
    v_supported: Constant<Bits<32>>,
    // The block's header: type, version, next block (queue pair 0).
    hdr: RegHeader,
}

impl RssRegs {
    /// The block for a build with `num_queues` queue pairs (the table's initial spread).
    pub fn new(num_queues: u32) -> Self {
        let k12 = |v: u32| Constant::new((v as u64).to_bits());
        let words = (0..RETA_SIZE / 4).map(|w| {
            let v = (0..4).fold(0u64, |acc, j| acc | (reta_default(4 * w + j, num_queues) as u64) << (8 * j));
            v.to_bits::<32>()
        });
        let words: Vec<Bits<32>> = words.collect();
        let kd: [Constant<Bits<32>>; 10] = std::array::from_fn(|i| {
            Constant::new((u32::from_be_bytes(KEY_DEFAULT[4 * i..4 * i + 4].try_into().unwrap()) as u64).to_bits())
        });
        Self {
            clock: Default::default(),
            reset: Default::default(),
            wfire: Default::default(),
            waddr: Default::default(),
            wdata: Default::default(),
            raddr: Default::default(),
            raddr_q: Default::default(),
            rdata: Default::default(),
            key: Default::default(),
            types: Default::default(),
            look_hash: Default::default(),
            look_q: Default::default(),
            kw: Default::default(),
            ty: Default::default(),
            lsel: Default::default(),
            reta_look: words.clone().into_iter().into(),
            reta_read: words.into_iter().into(),
            kd,
            k_types: k12(rss::HASHTYPES),
            k_key: k12(rss::KEY),
            k_reta: k12(rss::RETA),
            k_reta_mask: k12((BAR0_SIZE - 1) & !(RETA_SIZE as u32 - 1)),
            v_supported: Constant::new((HASHTYPES_SUPPORTED as u64).to_bits()),
            hdr: RegHeader::new(rss::BLOCK, hdr_block::TYPE_RSS, hdr_block::VERSION_1, queue_pair(0)),
        }
    }
}

impl Logic for RssRegs {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ty, lsel);
        self.kw[0].clock.next = self.clock.val();
        self.kw[1].clock.next = self.clock.val();
        self.kw[2].clock.next = self.clock.val();
        self.kw[3].clock.next = self.clock.val();
        self.kw[4].clock.next = self.clock.val();
        self.kw[5].clock.next = self.clock.val();
        self.kw[6].clock.next = self.clock.val();
        self.kw[7].clock.next = self.clock.val();
        self.kw[8].clock.next = self.clock.val();
        self.kw[9].clock.next = self.clock.val();
        self.kw[0].d.next = self.kw[0].q.val();
        self.kw[1].d.next = self.kw[1].q.val();
        self.kw[2].d.next = self.kw[2].q.val();
        self.kw[3].d.next = self.kw[3].q.val();
        self.kw[4].d.next = self.kw[4].q.val();
        self.kw[5].d.next = self.kw[5].q.val();
        self.kw[6].d.next = self.kw[6].q.val();
        self.kw[7].d.next = self.kw[7].q.val();
        self.kw[8].d.next = self.kw[8].q.val();
        self.kw[9].d.next = self.kw[9].q.val();
        self.key.next = (bit_cast::<320, 32>(self.kw[0].q.val()) << 288)
            | (bit_cast::<320, 32>(self.kw[1].q.val()) << 256)
            | (bit_cast::<320, 32>(self.kw[2].q.val()) << 224)
            | (bit_cast::<320, 32>(self.kw[3].q.val()) << 192)
            | (bit_cast::<320, 32>(self.kw[4].q.val()) << 160)
            | (bit_cast::<320, 32>(self.kw[5].q.val()) << 128)
            | (bit_cast::<320, 32>(self.kw[6].q.val()) << 96)
            | (bit_cast::<320, 32>(self.kw[7].q.val()) << 64)
            | (bit_cast::<320, 32>(self.kw[8].q.val()) << 32)
            | bit_cast::<320, 32>(self.kw[9].q.val());
        self.types.next = self.ty.q.val();

        // The table: both copies written by one register write; entries are bytes.
        self.reta_look.write_clock.next = self.clock.val();
        self.reta_look.read_clock.next = self.clock.val();
        self.reta_read.write_clock.next = self.clock.val();
        self.reta_read.read_clock.next = self.clock.val();
        self.reta_look.write_address.next = self.waddr.val().get_bits::<5>(2);
        self.reta_read.write_address.next = self.waddr.val().get_bits::<5>(2);
        self.reta_look.write_data.next = self.wdata.val();
        self.reta_read.write_data.next = self.wdata.val();
        self.reta_look.write_enable.next =
            self.wfire.val() & ((self.waddr.val() & self.k_reta_mask.val()) == self.k_reta.val());
        self.reta_read.write_enable.next =
            self.wfire.val() & ((self.waddr.val() & self.k_reta_mask.val()) == self.k_reta.val());
        self.reta_look.read_address.next = self.look_hash.val().get_bits::<5>(2);
        self.lsel.d.next = self.look_hash.val().get_bits::<2>(0);
        self.look_q.next = self.reta_look.read_data.val().get_bits::<8>(0);
        if self.lsel.q.val() == 1 {
            self.look_q.next = self.reta_look.read_data.val().get_bits::<8>(8);
        }
        if self.lsel.q.val() == 2 {
            self.look_q.next = self.reta_look.read_data.val().get_bits::<8>(16);
        }
        if self.lsel.q.val() == 3 {
            self.look_q.next = self.reta_look.read_data.val().get_bits::<8>(24);
        }
        self.reta_read.read_address.next = self.raddr.val().get_bits::<5>(2);

        if self.wfire.val() {
            if self.waddr.val() == self.k_types.val() {
                self.ty.d.next = self.wdata.val() & self.v_supported.val();
            }
            if self.waddr.val() == self.k_key.val() {
                self.kw[0].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 4 {
                self.kw[1].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 8 {
                self.kw[2].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 12 {
                self.kw[3].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 16 {
                self.kw[4].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 20 {
                self.kw[5].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 24 {
                self.kw[6].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 28 {
                self.kw[7].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 32 {
                self.kw[8].d.next = self.wdata.val();
            }
            if self.waddr.val() == self.k_key.val() + 36 {
                self.kw[9].d.next = self.wdata.val();
            }
        }

        self.rdata.next = 0.into();
        if self.raddr_q.val() == self.k_types.val() {
            self.rdata.next = self.ty.q.val();
        }
        if self.raddr_q.val() == self.k_key.val() {
            self.rdata.next = self.kw[0].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 4 {
            self.rdata.next = self.kw[1].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 8 {
            self.rdata.next = self.kw[2].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 12 {
            self.rdata.next = self.kw[3].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 16 {
            self.rdata.next = self.kw[4].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 20 {
            self.rdata.next = self.kw[5].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 24 {
            self.rdata.next = self.kw[6].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 28 {
            self.rdata.next = self.kw[7].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 32 {
            self.rdata.next = self.kw[8].q.val();
        }
        if self.raddr_q.val() == self.k_key.val() + 36 {
            self.rdata.next = self.kw[9].q.val();
        }
        self.hdr.raddr.next = self.raddr_q.val();
        if self.hdr.hit.val() {
            self.rdata.next = self.hdr.rdata.val();
        }
        if (self.raddr_q.val() & self.k_reta_mask.val()) == self.k_reta.val() {
            self.rdata.next = self.reta_read.read_data.val();
        }

        if self.reset.val() {
            self.ty.d.next = self.v_supported.val();
            self.kw[0].d.next = self.kd[0].val();
            self.kw[1].d.next = self.kd[1].val();
            self.kw[2].d.next = self.kd[2].val();
            self.kw[3].d.next = self.kd[3].val();
            self.kw[4].d.next = self.kd[4].val();
            self.kw[5].d.next = self.kd[5].val();
            self.kw[6].d.next = self.kd[6].val();
            self.kw[7].d.next = self.kd[7].val();
            self.kw[8].d.next = self.kd[8].val();
            self.kw[9].d.next = self.kd[9].val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};
    use nic_abi::regs::AXIL_ADDR_BITS;
    use rand::{Rng, SeedableRng};

    #[test]
    fn rss_regs_lint_in_verilator() {
        let mut b = RssRegs::new(2);
        b.connect_all();
        lint("rss_regs", &generate_verilog(&b));
    }

    /// Register writes and reads (types, key words, table words, and addresses that are not
    /// this block's) and a table lookup every cycle, at random, against a model written from
    /// `nic_abi::regs::rss`'s layout: power-on reset loads `KEY_DEFAULT` and every supported type
    /// and leaves the table (loaded as `reta_default`) alone; writes to types are masked by what
    /// is supported; key byte `4i + j` in bits `31 - 8j .. 24 - 8j` of word `i` and first on the
    /// `key` port; table entry `4i + j` in bits `8j + 7 .. 8j` of word `i`; `rdata` answers the
    /// address of the cycle before, `look_q` the hash of the cycle before.
    /// Mutations caught: the lookup's byte select taken from hash bits 2:1 instead of 1:0, and the
    /// types write not masked by what is supported.
    #[test]
    fn rss_regs_match_the_abi_register_model() {
        let seed = crate::testing::seed(0x4e7a);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let nq = 3;
        let mut b = RssRegs::new(nq);
        b.connect_all();
        let clk = |b: &mut RssRegs, c| b.clock.next = Clock { clk: c };
        let key_words = |k: &[u8; 40]| -> [u32; 10] { std::array::from_fn(|i| u32::from_be_bytes(k[4 * i..4 * i + 4].try_into().unwrap())) };
        let mut ty = 0u32;
        let mut key = [0u32; 10];
        let mut reta: Vec<u8> = (0..RETA_SIZE).map(|i| reta_default(i, nq)).collect();
        let word = |reta: &[u8], w: usize| u32::from_le_bytes(reta[4 * w..4 * w + 4].try_into().unwrap());
        let mut raddr_q = 0u64;
        let mut look_prev: Option<(u32, Option<usize>)> = None; // (hash, RETA word written in that cycle, if any)
        let mut read_prev: Option<usize> = None; // a RETA word written in the read's address cycle
        let mut reads = [0usize; 4];
        // The ABI's layout: the table's 128 bytes, and the block header.
        let in_reta = |a: u64| (rss::RETA as u64..rss::RETA as u64 + RETA_SIZE as u64).contains(&a);
        let header = |a: u64| -> Option<u32> {
            let b = rss::BLOCK as u64;
            (a == b + hdr_block::TYPE as u64)
                .then_some(hdr_block::TYPE_RSS)
                .or((a == b + hdr_block::VERSION as u64).then_some(hdr_block::VERSION_1))
                .or((a == b + hdr_block::NEXT as u64).then_some(nic_abi::regs::queue_pair(0)))
        };
        let pick = |rng: &mut rand::rngs::SmallRng| -> u64 {
            match rng.gen_range(0..5) {
                4 => rss::BLOCK as u64 + [hdr_block::TYPE, hdr_block::VERSION, hdr_block::NEXT][rng.gen_range(0..3)] as u64,
                0 => rss::HASHTYPES as u64,
                1 => (rss::KEY + 4 * rng.gen_range(0..10)) as u64,
                2 => (rss::RETA + 4 * rng.gen_range(0..32)) as u64,
                _ => loop {
                    let a = 4 * rng.gen_range(0..(1u64 << AXIL_ADDR_BITS) / 4);
                    if a != rss::HASHTYPES as u64 && !(rss::KEY as u64..rss::KEY as u64 + 40).contains(&a) && !in_reta(a) && header(a).is_none() {
                        break a;
                    }
                },
            }
        };
        for cycle in 0..20000 {
            let reset = cycle == 0 || rng.gen_bool(0.002);
            let write = !reset && rng.gen_bool(0.3);
            let (waddr, wdata) = (pick(&mut rng), rng.gen::<u32>());
            let raddr = pick(&mut rng);
            let hash = rng.gen::<u32>();
            b.reset.next = reset;
            b.wfire.next = write;
            b.waddr.next = waddr.to_bits();
            b.wdata.next = (wdata as u64).to_bits();
            b.raddr.next = raddr.to_bits();
            b.raddr_q.next = raddr_q.to_bits();
            b.look_hash.next = (hash as u64).to_bits();
            let reta_w = (write && in_reta(waddr)).then_some(((waddr as usize) & 0x7f) / 4);
            clock_cycle(&mut b, clk, |b| {
                if cycle == 0 {
                    return;
                }
                // Outputs before this cycle's edge: the state after the previous cycles.
                assert_eq!(b.types.val().index() as u32, ty, "cycle {cycle}: types");
                let kb: Vec<u8> = key.iter().flat_map(|w| w.to_be_bytes()).collect();
                let kp = b.key.val();
                for i in 0..40 {
                    assert_eq!(kp.get_bits::<8>(312 - 8 * i).index() as u8, kb[i], "cycle {cycle}: key byte {i}");
                }
                let a = raddr_q;
                let want = if a == rss::HASHTYPES as u64 {
                    Some(ty)
                } else if (rss::KEY as u64..rss::KEY as u64 + 40).contains(&a) {
                    Some(key[(a as usize - rss::KEY as usize) / 4])
                } else if let Some(h) = header(a) {
                    Some(h)
                } else if in_reta(a) {
                    let w = ((a as usize) & 0x7f) / 4;
                    (read_prev != Some(w)).then(|| word(&reta, w))
                } else {
                    Some(0)
                };
                if let Some(v) = want {
                    assert_eq!(b.rdata.val().index() as u32, v, "cycle {cycle}: read of {a:#x}");
                    reads[if a == rss::HASHTYPES as u64 { 0 } else if in_reta(a) { 2 } else if v == 0 { 3 } else { 1 }] += 1;
                }
                if let Some((h, wr)) = look_prev {
                    let e = (h & 127) as usize;
                    if wr != Some(e / 4) {
                        assert_eq!(b.look_q.val().index() as u8, reta[e], "cycle {cycle}: lookup of entry {e}");
                    }
                }
            });
            // The edge: the model's state changes.
            if reset {
                ty = HASHTYPES_SUPPORTED;
                key = key_words(&KEY_DEFAULT);
            } else if write {
                if waddr == rss::HASHTYPES as u64 {
                    ty = wdata & HASHTYPES_SUPPORTED;
                } else if (rss::KEY as u64..rss::KEY as u64 + 40).contains(&waddr) {
                    key[(waddr as usize - rss::KEY as usize) / 4] = wdata;
                } else if let Some(w) = reta_w {
                    reta[4 * w..4 * w + 4].copy_from_slice(&wdata.to_le_bytes());
                }
            }
            raddr_q = raddr;
            read_prev = reta_w;
            look_prev = Some((hash, reta_w));
        }
        println!("reads: types {}, key {}, table {}, elsewhere {}", reads[0], reads[1], reads[2], reads[3]);
        assert!(reads.iter().all(|&r| r > 1000));
    }
}
