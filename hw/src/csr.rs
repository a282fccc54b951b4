//! Register file behind an AXI4-Lite slave: the ID block, control and the
//! statistics counters of `nic_abi::regs`; the queue pairs' blocks
//! ([`crate::queue_regs`]) and the RSS block ([`crate::rss_regs`]) decode
//! their own offsets from the write and read ports this block hands on.
//!
//! Every offset is a `Constant` initialised from `nic-abi`, so the decode
//! cannot drift from the driver's view. Writes need all four byte strobes
//! (the registers are 32-bit); a partial write is refused with SLVERR and
//! changes nothing. Reads of unmapped offsets return 0 with OKAY, as BAR space
//! usually does. One read and one write can be in flight; a write completes
//! one cycle after its handshake, a read two (the indirection table is block
//! RAM, read a cycle after its address).
//!
//! ```text
//! awvalid+wvalid ‾\__   bvalid __/‾\__      arvalid ‾\____   rvalid ____/‾\__
//! ```

use nic_abi::regs::{block as hdr_block, ctrl, id, rss, stats};
use crate::reg_header::RegHeader;
use crate::AXIL_ADDR;
use rust_hdl::prelude::*;

macro_rules! csr_block {
    (
        ports { $( $(#[$pm:meta])* $p:ident : $pt:ty ),* $(,)? }
        consts { $( $k:ident = $v:expr ),* $(,)? }
        values { $( $vk:ident = $vv:expr ),* $(,)? }
    ) => {
        /// The register file; see the module docs.
        #[derive(LogicBlock)]
        pub struct Csr {
            $( $(#[$pm])* pub $p: $pt, )*
            $( $k: Constant<Bits<AXIL_ADDR>>, )*
            $( $vk: Constant<Bits<32>>, )*
            en_q: DFF<Bit>,
            capen: DFF<Bits<32>>,
            capdis: DFF<Bits<32>>,
            irq_status: DFF<Bits<16>>,
            irq_mask: DFF<Bits<16>>,
            ra_q: DFF<Bits<AXIL_ADDR>>,
            r1: DFF<Bit>,
            pend: Signal<Local, Bits<16>>,
            irq_clr: Signal<Local, Bits<16>>,
            ev: Signal<Local, Bits<16>>,
            c_tx_frames: DFF<Bits<32>>, c_tx_bytes: DFF<Bits<32>>, c_tx_csum_ip: DFF<Bits<32>>,
            c_tx_csum_l4: DFF<Bits<32>>, c_tx_desc_err: DFF<Bits<32>>, c_rx_frames: DFF<Bits<32>>,
            c_rx_bytes: DFF<Bits<32>>, c_rx_drop_nobuf: DFF<Bits<32>>, c_rx_drop_err: DFF<Bits<32>>,
            c_rx_l3_bad: DFF<Bits<32>>, c_rx_l4_bad: DFF<Bits<32>>, c_rx_l4_calc: DFF<Bits<32>>,
            c_dma_err: DFF<Bits<32>>, c_tx_tso: DFF<Bits<32>>, c_db_err: DFF<Bits<32>>,
            bvalid_q: DFF<Bit>, bresp_q: DFF<Bits<2>>, rvalid_q: DFF<Bit>, rdata_q: DFF<Bits<32>>,
            soft_q: DFF<Bit>,
            wfire: Signal<Local, Bit>,
            rd: Signal<Local, Bits<32>>,
            caps_k: Constant<Bits<32>>,
            hash_k: Constant<Bits<32>>,
            tso_max_k: Constant<Bits<32>>,
            tso_segs_k: Constant<Bits<32>>,
            nq_k: Constant<Bits<32>>,
            // The CTRL and STATS blocks' headers (the ID block's are its ID, VERSION and NEXT).
            hdr_ctrl: RegHeader,
            hdr_stats: RegHeader,
        }

        impl Csr {
            /// A register file reporting `caps` (IFCAP bits), `build_hash` and `num_queues` in its ID block.
            pub fn new(caps: u32, build_hash: u32, num_queues: u32) -> Self {
                Self {
                    $( $p: Default::default(), )*
                    $( $k: Constant::new((($v) as u64).to_bits()), )*
                    $( $vk: Constant::new((($vv) as u64).to_bits()), )*
                    en_q: Default::default(), capen: Default::default(), capdis: Default::default(),
                    irq_status: Default::default(),
                    irq_mask: Default::default(), ra_q: Default::default(), r1: Default::default(),
                    pend: Default::default(), irq_clr: Default::default(), ev: Default::default(),
                    c_tx_frames: Default::default(), c_tx_bytes: Default::default(), c_tx_csum_ip: Default::default(),
                    c_tx_csum_l4: Default::default(), c_tx_desc_err: Default::default(), c_rx_frames: Default::default(),
                    c_rx_bytes: Default::default(), c_rx_drop_nobuf: Default::default(), c_rx_drop_err: Default::default(),
                    c_rx_l3_bad: Default::default(), c_rx_l4_bad: Default::default(), c_rx_l4_calc: Default::default(),
                    c_dma_err: Default::default(), c_tx_tso: Default::default(), c_db_err: Default::default(), bvalid_q: Default::default(), bresp_q: Default::default(),
                    rvalid_q: Default::default(), rdata_q: Default::default(), soft_q: Default::default(),
                    wfire: Default::default(), rd: Default::default(),
                    caps_k: Constant::new((caps as u64).to_bits()),
                    hash_k: Constant::new((build_hash as u64).to_bits()),
                    // TSO_MAX is zero in a build without TSO; chains exist either way.
                    tso_max_k: Constant::new((if caps & nic_abi::ifcap::IFCAP_TSO != 0 {
                        nic_abi::desc::TSO_MAX_BYTES as u64
                    } else {
                        0
                    }).to_bits()),
                    tso_segs_k: Constant::new(
                        ((id::TSO_MAX_SEGCOUNT.put(nic_abi::desc::TX_MAX_CHAIN)
                            | id::TSO_MAX_SEGSIZE.put(nic_abi::desc::TX_MAX_SEGSIZE)) as u64)
                            .to_bits(),
                    ),
                    nq_k: Constant::new((num_queues as u64).to_bits()),
                    hdr_ctrl: RegHeader::new(ctrl::BLOCK, hdr_block::TYPE_CTRL, hdr_block::VERSION_1, stats::BLOCK),
                    hdr_stats: RegHeader::new(stats::BLOCK, hdr_block::TYPE_STATS, hdr_block::VERSION_1, rss::BLOCK),
                }
            }
        }
    };
}

csr_block! {
    ports {
        /// Clock.
        clock: Signal<In, Clock>,
        /// Power-on reset (the soft reset does not clear ring bases or counters).
        reset: Signal<In, Bit>,
        /// AXI4-Lite write address.
        awaddr: Signal<In, Bits<AXIL_ADDR>>,
        /// AXI4-Lite write address valid.
        awvalid: Signal<In, Bit>,
        /// AXI4-Lite write address ready.
        awready: Signal<Out, Bit>,
        /// AXI4-Lite write data.
        wdata: Signal<In, Bits<32>>,
        /// AXI4-Lite write strobes.
        wstrb: Signal<In, Bits<4>>,
        /// AXI4-Lite write data valid.
        wvalid: Signal<In, Bit>,
        /// AXI4-Lite write data ready.
        wready: Signal<Out, Bit>,
        /// AXI4-Lite write response.
        bresp: Signal<Out, Bits<2>>,
        /// AXI4-Lite write response valid.
        bvalid: Signal<Out, Bit>,
        /// AXI4-Lite write response ready.
        bready: Signal<In, Bit>,
        /// AXI4-Lite read address.
        araddr: Signal<In, Bits<AXIL_ADDR>>,
        /// AXI4-Lite read address valid.
        arvalid: Signal<In, Bit>,
        /// AXI4-Lite read address ready.
        arready: Signal<Out, Bit>,
        /// AXI4-Lite read data.
        rdata: Signal<Out, Bits<32>>,
        /// AXI4-Lite read response.
        rresp: Signal<Out, Bits<2>>,
        /// AXI4-Lite read valid.
        rvalid: Signal<Out, Bit>,
        /// AXI4-Lite read ready.
        rready: Signal<In, Bit>,
        /// CTRL_ENABLE.
        enable: Signal<Out, Bit>,
        /// One-cycle pulse after a CTRL_RESET write: every datapath block returns to idle.
        soft_reset: Signal<Out, Bit>,
        /// CAPENABLE, already masked by the capabilities.
        capenable: Signal<Out, Bits<32>>,
        /// Interrupt lines: line `q` is queue pair `q`'s unmasked causes.
        irq: Signal<Out, Bits<8>>,
        /// A full-width register write happens this cycle (to the queue and RSS blocks).
        wfire_o: Signal<Out, Bit>,
        /// Its address.
        waddr_o: Signal<Out, Bits<AXIL_ADDR>>,
        /// Its data.
        wdata_o: Signal<Out, Bits<32>>,
        /// Read address at the handshake (block RAM address).
        raddr_o: Signal<Out, Bits<AXIL_ADDR>>,
        /// The read address, registered: what `q_rdata`/`rss_rdata` answer.
        raddr_q: Signal<Out, Bits<AXIL_ADDR>>,
        /// The queue blocks' read data (OR; 0 where not addressed).
        q_rdata: Signal<In, Bits<32>>,
        /// The RSS block's read data (0 where not addressed).
        rss_rdata: Signal<In, Bits<32>>,
        /// No frame or DMA in flight.
        idle_in: Signal<In, Bit>,
        /// A soft reset was requested and has not happened yet (reads back as CTRL bit 1).
        reset_pending: Signal<In, Bit>,
        /// A TX completion was written, bit `q` for queue `q`.
        ev_tx: Signal<In, Bits<8>>,
        /// An RX completion was written, bit `q` for queue `q`.
        ev_rx: Signal<In, Bits<8>>,
        /// Counter increments (one per pulse).
        inc_tx_frames: Signal<In, Bit>,
        /// Bytes to add to TX_BYTES this cycle.
        add_tx_bytes: Signal<In, Bits<16>>,
        /// Counter increment.
        inc_tx_csum_ip: Signal<In, Bit>,
        /// Counter increment.
        inc_tx_csum_l4: Signal<In, Bit>,
        /// Descriptors refused this cycle (one per TX engine: two engines may refuse at once).
        inc_tx_desc_err: Signal<In, Bits<2>>,
        /// Frames delivered this cycle (the RX engines may each deliver one in the same cycle).
        inc_rx_frames: Signal<In, Bits<2>>,
        /// Bytes to add to RX_BYTES this cycle (both engines' frames).
        add_rx_bytes: Signal<In, Bits<17>>,
        /// Frames dropped for want of a buffer this cycle (per RX engine).
        inc_rx_drop_nobuf: Signal<In, Bits<2>>,
        /// Frames dropped as errored or too large this cycle (RX engines and checksum stage).
        inc_rx_drop_err: Signal<In, Bits<2>>,
        /// Counter increment.
        inc_rx_l3_bad: Signal<In, Bit>,
        /// Counter increment.
        inc_rx_l4_bad: Signal<In, Bit>,
        /// Counter increment.
        inc_rx_l4_calc: Signal<In, Bit>,
        /// DMA errors this cycle (read and write engines may both see one).
        inc_dma_err: Signal<In, Bits<2>>,
        /// Counter increment.
        inc_tx_tso: Signal<In, Bit>,
        /// Counter increment: a queue pair refused a doorbell (one register write a cycle).
        inc_db_err: Signal<In, Bit>,
    }
    consts {
        a_id = id::ID, a_version = id::VERSION, a_hash = id::BUILD_HASH, a_caps = id::CAPS,
        a_datapath = id::DATAPATH, a_clock = id::CLOCK_KHZ, a_ring_limits = id::RING_LIMITS,
        a_max_frame = id::MAX_FRAME, a_tso_max = id::TSO_MAX, a_tso_segs = id::TSO_SEGS,
        a_toe = id::TOE_CONTEXTS, a_nq = id::NUM_QUEUES, a_next = id::NEXT,
        a_rss_info = id::RSS_INFO, a_rss_types = id::RSS_HASHTYPES,
        a_ctrl = ctrl::CTRL, a_capen = ctrl::CAPENABLE, a_irq_status = ctrl::IRQ_STATUS,
        a_irq_mask = ctrl::IRQ_MASK, a_status = ctrl::STATUS, a_capdis = ctrl::CAPDISABLE,
        a_s_tx_frames = stats::TX_FRAMES, a_s_tx_bytes = stats::TX_BYTES, a_s_tx_csum_ip = stats::TX_CSUM_IP,
        a_s_tx_csum_l4 = stats::TX_CSUM_L4, a_s_tx_desc_err = stats::TX_DESC_ERR,
        a_s_rx_frames = stats::RX_FRAMES, a_s_rx_bytes = stats::RX_BYTES,
        a_s_rx_drop_nobuf = stats::RX_DROP_NOBUF, a_s_rx_drop_err = stats::RX_DROP_ERR,
        a_s_rx_l3_bad = stats::RX_L3_BAD, a_s_rx_l4_bad = stats::RX_L4_BAD,
        a_s_rx_l4_calc = stats::RX_L4_CALC, a_s_dma_err = stats::DMA_ERR, a_s_tx_tso = stats::TX_TSO_SEGS,
        a_s_db_err = stats::DOORBELL_ERR,
    }
    values {
        v_id = nic_abi::NIC_ID, v_version = nic_abi::ABI_VERSION, v_datapath = nic_abi::DATAPATH_BITS,
        v_clock = nic_abi::CLOCK_KHZ,
        v_ring_limits = id::RING_MAX_LOG2.put(nic_abi::RING_MAX_LOG2) | id::RING_MIN_LOG2.put(nic_abi::RING_MIN_LOG2),
        v_max_frame = nic_abi::MAX_FRAME, v_next = ctrl::BLOCK,
        v_rss_info = id::RSS_RETA_SIZE.put(nic_abi::rss::RETA_SIZE as u32)
            | id::RSS_KEY_SIZE.put(nic_abi::rss::KEY_SIZE as u32),
        v_rss_types = nic_abi::rss::HASHTYPES_SUPPORTED,
    }
}

impl Default for Csr {
    fn default() -> Self {
        Csr::new(crate::CAPS, 0, nic_abi::NUM_QUEUES)
    }
}

impl Logic for Csr {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, en_q, capen, capdis, irq_status, irq_mask, ra_q, r1, c_tx_frames, c_tx_bytes, c_tx_csum_ip,
            c_tx_csum_l4, c_tx_desc_err, c_rx_frames, c_rx_bytes, c_rx_drop_nobuf, c_rx_drop_err, c_rx_l3_bad,
            c_rx_l4_bad, c_rx_l4_calc, c_dma_err, c_tx_tso, c_db_err, bvalid_q, bresp_q, rvalid_q, rdata_q, soft_q
        );
        // Outputs.
        self.enable.next = self.en_q.q.val();
        self.soft_reset.next = self.soft_q.q.val();
        self.capenable.next = self.capen.q.val();
        self.pend.next = self.irq_status.q.val() & self.irq_mask.q.val();
        // Line q carries queue pair q's two causes (bits 2q and 2q + 1).
        self.irq.next = 0.into();
        for q in 0..8 {
            if self.pend.val().get_bits::<2>(2 * q) != 0 {
                self.irq.next = self.irq.val().replace_bit(q, true);
            }
        }

        // Counters.
        if self.inc_tx_frames.val() {
            self.c_tx_frames.d.next = self.c_tx_frames.q.val() + 1;
        }
        self.c_tx_bytes.d.next = self.c_tx_bytes.q.val() + bit_cast::<32, 16>(self.add_tx_bytes.val());
        if self.inc_tx_csum_ip.val() {
            self.c_tx_csum_ip.d.next = self.c_tx_csum_ip.q.val() + 1;
        }
        if self.inc_tx_csum_l4.val() {
            self.c_tx_csum_l4.d.next = self.c_tx_csum_l4.q.val() + 1;
        }
        // Events from several engines may land in one cycle: each counter adds how many.
        self.c_tx_desc_err.d.next = self.c_tx_desc_err.q.val() + bit_cast::<32, 2>(self.inc_tx_desc_err.val());
        self.c_rx_frames.d.next = self.c_rx_frames.q.val() + bit_cast::<32, 2>(self.inc_rx_frames.val());
        self.c_rx_bytes.d.next = self.c_rx_bytes.q.val() + bit_cast::<32, 17>(self.add_rx_bytes.val());
        self.c_rx_drop_nobuf.d.next = self.c_rx_drop_nobuf.q.val() + bit_cast::<32, 2>(self.inc_rx_drop_nobuf.val());
        self.c_rx_drop_err.d.next = self.c_rx_drop_err.q.val() + bit_cast::<32, 2>(self.inc_rx_drop_err.val());
        if self.inc_rx_l3_bad.val() {
            self.c_rx_l3_bad.d.next = self.c_rx_l3_bad.q.val() + 1;
        }
        if self.inc_rx_l4_bad.val() {
            self.c_rx_l4_bad.d.next = self.c_rx_l4_bad.q.val() + 1;
        }
        if self.inc_rx_l4_calc.val() {
            self.c_rx_l4_calc.d.next = self.c_rx_l4_calc.q.val() + 1;
        }
        if self.inc_tx_tso.val() {
            self.c_tx_tso.d.next = self.c_tx_tso.q.val() + 1;
        }
        if self.inc_db_err.val() {
            self.c_db_err.d.next = self.c_db_err.q.val() + 1;
        }
        self.c_dma_err.d.next = self.c_dma_err.q.val() + bit_cast::<32, 2>(self.inc_dma_err.val());
        // Write channel: address and data together, one response at a time.
        self.soft_q.d.next = false;
        self.irq_clr.next = 0.into();
        self.wfire.next = self.awvalid.val() & self.wvalid.val() & !self.bvalid_q.q.val();
        self.awready.next = self.wfire.val();
        self.wready.next = self.wfire.val();
        self.wfire_o.next = self.wfire.val() & (self.wstrb.val() == 0xf);
        self.waddr_o.next = self.awaddr.val();
        self.wdata_o.next = self.wdata.val();
        if self.wfire.val() {
            self.bvalid_q.d.next = true;
            self.bresp_q.d.next = 0.into();
            if self.wstrb.val() != 0xf {
                self.bresp_q.d.next = 2.into();
            } else if self.awaddr.val() == self.a_ctrl.val() {
                self.en_q.d.next = self.wdata.val().get_bit(0);
                self.soft_q.d.next = self.wdata.val().get_bit(1);
            } else if self.awaddr.val() == self.a_capen.val() {
                self.capen.d.next = self.wdata.val() & self.caps_k.val() & !self.capdis.q.val();
            } else if self.awaddr.val() == self.a_capdis.val() {
                self.capdis.d.next = self.wdata.val() & self.caps_k.val();
                self.capen.d.next = self.capen.q.val() & !self.wdata.val();
            } else if self.awaddr.val() == self.a_irq_status.val() {
                self.irq_clr.next = bit_cast::<16, 32>(self.wdata.val());
            } else if self.awaddr.val() == self.a_irq_mask.val() {
                self.irq_mask.d.next = bit_cast::<16, 32>(self.wdata.val());
            }
        }
        // Causes latch after a write-1-to-clear of the same cycle, so none is lost.
        // Queue q's TX cause is bit 2q, its RX cause bit 2q + 1 (nic_abi::regs::ctrl::irq_tx/irq_rx).
        self.ev.next = 0.into();
        for q in 0..8 {
            if self.ev_tx.val().get_bit(q) {
                self.ev.next = self.ev.val().replace_bit(2 * q, true);
            }
            if self.ev_rx.val().get_bit(q) {
                self.ev.next = self.ev.val().replace_bit(2 * q + 1, true);
            }
        }
        // (From registers and locals only: reading the DFF's `d` back in the same update is a
        // loop rust-hdl's simulator resolves differently from the Verilog.)
        self.irq_status.d.next = (self.irq_status.q.val() & !self.irq_clr.val()) | self.ev.val();

        if self.bvalid_q.q.val() & self.bready.val() {
            self.bvalid_q.d.next = false;
        }
        self.bvalid.next = self.bvalid_q.q.val();
        self.bresp.next = self.bresp_q.q.val();

        // Read channel.
        self.hdr_ctrl.raddr.next = self.ra_q.q.val();
        self.hdr_stats.raddr.next = self.ra_q.q.val();
        self.rd.next = self.q_rdata.val() | self.rss_rdata.val();
        if self.ra_q.q.val() == self.a_id.val() {
            self.rd.next = self.v_id.val();
        } else if self.ra_q.q.val() == self.a_version.val() {
            self.rd.next = self.v_version.val();
        } else if self.ra_q.q.val() == self.a_hash.val() {
            self.rd.next = self.hash_k.val();
        } else if self.ra_q.q.val() == self.a_caps.val() {
            self.rd.next = self.caps_k.val() & !self.capdis.q.val();
        } else if self.ra_q.q.val() == self.a_datapath.val() {
            self.rd.next = self.v_datapath.val();
        } else if self.ra_q.q.val() == self.a_clock.val() {
            self.rd.next = self.v_clock.val();
        } else if self.ra_q.q.val() == self.a_ring_limits.val() {
            self.rd.next = self.v_ring_limits.val();
        } else if self.ra_q.q.val() == self.a_max_frame.val() {
            self.rd.next = self.v_max_frame.val();
        } else if self.ra_q.q.val() == self.a_nq.val() {
            self.rd.next = self.nq_k.val();
        } else if self.ra_q.q.val() == self.a_next.val() {
            self.rd.next = self.v_next.val();
        } else if self.hdr_ctrl.hit.val() {
            self.rd.next = self.hdr_ctrl.rdata.val();
        } else if self.hdr_stats.hit.val() {
            self.rd.next = self.hdr_stats.rdata.val();
        } else if self.ra_q.q.val() == self.a_ctrl.val() {
            self.rd.next = bit_cast::<32, 1>(self.en_q.q.val().into())
                | (bit_cast::<32, 1>((self.reset_pending.val() | self.soft_q.q.val()).into()) << 1);
        } else if self.ra_q.q.val() == self.a_capen.val() {
            self.rd.next = self.capen.q.val();
        } else if self.ra_q.q.val() == self.a_irq_status.val() {
            self.rd.next = bit_cast::<32, 16>(self.irq_status.q.val());
        } else if self.ra_q.q.val() == self.a_irq_mask.val() {
            self.rd.next = bit_cast::<32, 16>(self.irq_mask.q.val());
        } else if self.ra_q.q.val() == self.a_capdis.val() {
            self.rd.next = self.capdis.q.val();
        } else if self.ra_q.q.val() == self.a_status.val() {
            self.rd.next = bit_cast::<32, 1>(self.idle_in.val().into());
        } else if self.ra_q.q.val() == self.a_s_tx_frames.val() {
            self.rd.next = self.c_tx_frames.q.val();
        } else if self.ra_q.q.val() == self.a_s_tx_bytes.val() {
            self.rd.next = self.c_tx_bytes.q.val();
        } else if self.ra_q.q.val() == self.a_s_tx_csum_ip.val() {
            self.rd.next = self.c_tx_csum_ip.q.val();
        } else if self.ra_q.q.val() == self.a_s_tx_csum_l4.val() {
            self.rd.next = self.c_tx_csum_l4.q.val();
        } else if self.ra_q.q.val() == self.a_s_tx_desc_err.val() {
            self.rd.next = self.c_tx_desc_err.q.val();
        } else if self.ra_q.q.val() == self.a_s_rx_frames.val() {
            self.rd.next = self.c_rx_frames.q.val();
        } else if self.ra_q.q.val() == self.a_s_rx_bytes.val() {
            self.rd.next = self.c_rx_bytes.q.val();
        } else if self.ra_q.q.val() == self.a_s_rx_drop_nobuf.val() {
            self.rd.next = self.c_rx_drop_nobuf.q.val();
        } else if self.ra_q.q.val() == self.a_s_rx_drop_err.val() {
            self.rd.next = self.c_rx_drop_err.q.val();
        } else if self.ra_q.q.val() == self.a_s_rx_l3_bad.val() {
            self.rd.next = self.c_rx_l3_bad.q.val();
        } else if self.ra_q.q.val() == self.a_s_rx_l4_bad.val() {
            self.rd.next = self.c_rx_l4_bad.q.val();
        } else if self.ra_q.q.val() == self.a_s_rx_l4_calc.val() {
            self.rd.next = self.c_rx_l4_calc.q.val();
        } else if self.ra_q.q.val() == self.a_s_dma_err.val() {
            self.rd.next = self.c_dma_err.q.val();
        } else if self.ra_q.q.val() == self.a_s_tx_tso.val() {
            self.rd.next = self.c_tx_tso.q.val();
        } else if self.ra_q.q.val() == self.a_s_db_err.val() {
            self.rd.next = self.c_db_err.q.val();
        } else if self.ra_q.q.val() == self.a_rss_info.val() {
            self.rd.next = self.v_rss_info.val();
        } else if self.ra_q.q.val() == self.a_rss_types.val() {
            self.rd.next = self.v_rss_types.val();
        } else if self.ra_q.q.val() == self.a_tso_max.val() {
            self.rd.next = self.tso_max_k.val();
        } else if self.ra_q.q.val() == self.a_tso_segs.val() {
            self.rd.next = self.tso_segs_k.val();
        }
        // TOE_CONTEXTS reads as zero: this build has no TOE.
        // Handshake, then one cycle for the registered address (and block RAM), then the answer.
        self.raddr_o.next = self.araddr.val();
        self.raddr_q.next = self.ra_q.q.val();
        self.arready.next = !self.rvalid_q.q.val() & !self.r1.q.val();
        self.r1.d.next = false;
        if self.arvalid.val() & !self.rvalid_q.q.val() & !self.r1.q.val() {
            self.ra_q.d.next = self.araddr.val();
            self.r1.d.next = true;
        }
        if self.r1.q.val() {
            self.rvalid_q.d.next = true;
            self.rdata_q.d.next = self.rd.val();
        }
        if self.rvalid_q.q.val() & self.rready.val() {
            self.rvalid_q.d.next = false;
        }
        self.rvalid.next = self.rvalid_q.q.val();
        self.rdata.next = self.rdata_q.q.val();
        self.rresp.next = 0.into();

        // Soft reset: stop, forget the doorbells and pending causes; keep bases and counters.
        if self.soft_q.q.val() {
            self.en_q.d.next = false;
            self.irq_status.d.next = 0.into();
        }
        if self.reset.val() {
            self.en_q.d.next = false;
            self.capen.d.next = 0.into();
            self.capdis.d.next = 0.into();
            self.irq_status.d.next = 0.into();
            self.irq_mask.d.next = 0.into();
            self.bvalid_q.d.next = false;
            self.r1.d.next = false;
            self.rvalid_q.d.next = false;
            self.soft_q.d.next = false;
            // Power-on reset clears the counters too (only the soft reset keeps them), as the
            // queue pairs' counters are cleared.
            self.c_tx_frames.d.next = 0.into();
            self.c_tx_bytes.d.next = 0.into();
            self.c_tx_csum_ip.d.next = 0.into();
            self.c_tx_csum_l4.d.next = 0.into();
            self.c_tx_desc_err.d.next = 0.into();
            self.c_rx_frames.d.next = 0.into();
            self.c_rx_bytes.d.next = 0.into();
            self.c_rx_drop_nobuf.d.next = 0.into();
            self.c_rx_drop_err.d.next = 0.into();
            self.c_rx_l3_bad.d.next = 0.into();
            self.c_rx_l4_bad.d.next = 0.into();
            self.c_rx_l4_calc.d.next = 0.into();
            self.c_dma_err.d.next = 0.into();
            self.c_tx_tso.d.next = 0.into();
            self.c_db_err.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{clock_cycle, lint};

    #[test]
    fn csr_lints_in_verilator() {
        let mut c = Csr::default();
        c.connect_all();
        lint("csr", &generate_verilog(&c));
    }

    /// The register file's state as the ABI describes it (nic_abi::regs: id, ctrl, stats).
    #[derive(Clone, Default)]
    struct Model {
        enable: bool,
        soft_pending: bool,
        capen: u32,
        capdis: u32,
        irq_status: u32,
        irq_mask: u32,
        stats: [u32; 15],
    }

    /// The register file at its own ports, against the ABI's description of the ID, control and
    /// statistics blocks: an AXI4-Lite master with random address, data and response timing
    /// (address and data of a write may come apart) writes and reads at random, with partial
    /// strobes now and then, while counter increments, interrupt causes, the idle line and the
    /// queue blocks' read data change every cycle. Each response is checked against the model
    /// (a partial write: SLVERR and nothing changed; reads: the value two cycles after the
    /// address, as the module documents), and so are the outputs: enable, the soft-reset pulse,
    /// capenable, the interrupt lines (line q: queue pair q's unmasked causes) and the write port
    /// handed to the queue and RSS blocks.
    #[test]
    fn registers_and_axi_lite_follow_the_abi() {
        use nic_abi::regs::{block as hdr_block, ctrl as c, id as i, stats as s, QUEUES};
        use rand::{Rng, SeedableRng};
        use std::collections::VecDeque;
        let stat_addrs = [
            s::TX_FRAMES, s::TX_BYTES, s::TX_CSUM_IP, s::TX_CSUM_L4, s::TX_DESC_ERR, s::RX_FRAMES, s::RX_BYTES,
            s::RX_DROP_NOBUF, s::RX_DROP_ERR, s::RX_L3_BAD, s::RX_L4_BAD, s::RX_L4_CALC, s::DMA_ERR, s::TX_TSO_SEGS,
            s::DOORBELL_ERR,
        ];
        for seed in [1u64, 2] {
            eprintln!("csr: seed {seed}");
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let caps = crate::CAPS;
            let hash: u32 = rng.gen();
            let mut b = Csr::new(caps, hash, 2);
            b.connect_all();
            let tso_max = if caps & nic_abi::ifcap::IFCAP_TSO != 0 { nic_abi::desc::TSO_MAX_BYTES } else { 0 };
            let id_value = |a: u32, m: &Model| -> Option<u32> {
                Some(match a {
                    i::ID => nic_abi::NIC_ID,
                    i::VERSION => nic_abi::ABI_VERSION,
                    i::BUILD_HASH => hash,
                    i::CAPS => caps & !m.capdis,
                    i::DATAPATH => nic_abi::DATAPATH_BITS,
                    i::CLOCK_KHZ => nic_abi::CLOCK_KHZ,
                    i::RING_LIMITS => i::RING_MAX_LOG2.put(nic_abi::RING_MAX_LOG2) | i::RING_MIN_LOG2.put(nic_abi::RING_MIN_LOG2),
                    i::MAX_FRAME => nic_abi::MAX_FRAME,
                    i::TSO_MAX => tso_max,
                    i::TSO_SEGS => i::TSO_MAX_SEGCOUNT.put(nic_abi::desc::TX_MAX_CHAIN) | i::TSO_MAX_SEGSIZE.put(nic_abi::desc::TX_MAX_SEGSIZE),
                    i::TOE_CONTEXTS => 0,
                    i::NUM_QUEUES => 2,
                    i::NEXT => c::BLOCK,
                    i::RSS_INFO => i::RSS_RETA_SIZE.put(nic_abi::rss::RETA_SIZE as u32) | i::RSS_KEY_SIZE.put(nic_abi::rss::KEY_SIZE as u32),
                    i::RSS_HASHTYPES => nic_abi::rss::HASHTYPES_SUPPORTED,
                    c::CAPENABLE => m.capen,
                    c::CAPDISABLE => m.capdis,
                    c::IRQ_STATUS => m.irq_status,
                    c::IRQ_MASK => m.irq_mask,
                    a if a == c::BLOCK + hdr_block::TYPE => hdr_block::TYPE_CTRL,
                    a if a == c::BLOCK + hdr_block::VERSION || a == s::BLOCK + hdr_block::VERSION => hdr_block::VERSION_1,
                    a if a == c::BLOCK + hdr_block::NEXT => s::BLOCK,
                    a if a == s::BLOCK + hdr_block::TYPE => hdr_block::TYPE_STATS,
                    a if a == s::BLOCK + hdr_block::NEXT => nic_abi::regs::rss::BLOCK,
                    _ => return stat_addrs.iter().position(|&x| x == a).map(|k| m.stats[k]),
                })
            };
            let mut m = Model::default();
            let mut hist: VecDeque<(Model, bool, bool, u32)> = VecDeque::new(); // (model, reset_pending, idle, q_rdata) at the start of recent cycles
            let addr = |rng: &mut rand::rngs::SmallRng| -> u32 {
                match rng.gen_range(0..10) {
                    0..=2 => [i::ID, i::VERSION, i::CAPS, i::NUM_QUEUES, i::NEXT, i::TSO_SEGS, i::RSS_INFO, i::TOE_CONTEXTS, i::BUILD_HASH, i::MAX_FRAME][rng.gen_range(0..10)],
                    3..=5 => [c::CTRL, c::CAPENABLE, c::CAPDISABLE, c::IRQ_STATUS, c::IRQ_MASK, c::STATUS][rng.gen_range(0..6)],
                    6 => [c::BLOCK, s::BLOCK].map(|b| b + [hdr_block::TYPE, hdr_block::VERSION, hdr_block::NEXT][rng.gen_range(0..3)])[rng.gen_range(0..2)],
                    7..=8 => stat_addrs[rng.gen_range(0..stat_addrs.len())],
                    _ => QUEUES + 4 * rng.gen_range(0..0x200),
                }
            };
            // The master's transactions in flight.
            let (mut aw, mut w): (Option<u32>, Option<(u32, u32)>) = (None, None); // address; (data, strobes)
            let mut write_expect: VecDeque<u32> = VecDeque::new(); // bresp expected
            let mut ar: Option<u32> = None;
            let mut read_addr: VecDeque<u32> = VecDeque::new();
            let (mut rvalid_prev, mut writes, mut reads) = (false, 0u32, 0u32);
            for cycle in 0..6000u32 {
                // New transactions.
                if aw.is_none() && w.is_none() && write_expect.is_empty() && rng.gen_bool(0.2) {
                    let a = addr(&mut rng);
                    let d: u32 = match a {
                        c::CTRL => {
                            if rng.gen_bool(0.1) {
                                rng.gen_range(0..4)
                            } else {
                                rng.gen_range(0..2)
                            }
                        }
                        _ => rng.gen(),
                    };
                    let strb = if rng.gen_bool(0.1) { rng.gen_range(0..15) } else { 0xf };
                    aw = Some(a);
                    w = Some((d, strb));
                }
                if ar.is_none() && read_addr.is_empty() && rng.gen_bool(0.3) {
                    ar = Some(addr(&mut rng));
                }
                let reset = cycle < 2;
                let raddr_q = b.raddr_q.val().index() as u32;
                let q_rdata = if raddr_q >= QUEUES { raddr_q.wrapping_mul(2654435761) } else { 0 };
                let (reset_pending, idle) = (rng.gen_bool(0.1), rng.gen_bool(0.5));
                let ev_tx: u8 = if rng.gen_bool(0.1) { rng.gen() } else { 0 };
                let ev_rx: u8 = if rng.gen_bool(0.1) { rng.gen() } else { 0 };
                let incs: Vec<u32> = (0..15)
                    .map(|k| match k {
                        1 => rng.gen_range(0..2) * rng.gen_range(0..=0xffffu32),
                        6 => rng.gen_range(0..2) * rng.gen_range(0..=0x1ffffu32),
                        4 | 5 | 7 | 8 | 12 => rng.gen_range(0..=3),
                        _ => rng.gen_range(0..=1),
                    })
                    .collect();
                let aw_valid = aw.is_some() && rng.gen_bool(0.6);
                let w_valid = w.is_some() && rng.gen_bool(0.6);
                let ar_valid = ar.is_some() && rng.gen_bool(0.6);
                let (bready, rready) = (rng.gen_bool(0.7), rng.gen_bool(0.7));
                b.reset.next = reset;
                b.awaddr.next = (aw.unwrap_or(0) as u64).to_bits();
                b.awvalid.next = aw_valid;
                b.wdata.next = (w.map_or(0, |x| x.0) as u64).to_bits();
                b.wstrb.next = (w.map_or(0, |x| x.1) as u64).to_bits();
                b.wvalid.next = w_valid;
                b.bready.next = bready;
                b.araddr.next = (ar.unwrap_or(0) as u64).to_bits();
                b.arvalid.next = ar_valid;
                b.rready.next = rready;
                b.q_rdata.next = (q_rdata as u64).to_bits();
                b.rss_rdata.next = 0u64.to_bits();
                b.idle_in.next = idle;
                b.reset_pending.next = reset_pending;
                b.ev_tx.next = (ev_tx as u64).to_bits();
                b.ev_rx.next = (ev_rx as u64).to_bits();
                b.inc_tx_frames.next = incs[0] != 0;
                b.add_tx_bytes.next = (incs[1] as u64).to_bits();
                b.inc_tx_csum_ip.next = incs[2] != 0;
                b.inc_tx_csum_l4.next = incs[3] != 0;
                b.inc_tx_desc_err.next = (incs[4] as u64).to_bits();
                b.inc_rx_frames.next = (incs[5] as u64).to_bits();
                b.add_rx_bytes.next = (incs[6] as u64).to_bits();
                b.inc_rx_drop_nobuf.next = (incs[7] as u64).to_bits();
                b.inc_rx_drop_err.next = (incs[8] as u64).to_bits();
                b.inc_rx_l3_bad.next = incs[9] != 0;
                b.inc_rx_l4_bad.next = incs[10] != 0;
                b.inc_rx_l4_calc.next = incs[11] != 0;
                b.inc_dma_err.next = (incs[12] as u64).to_bits();
                b.inc_tx_tso.next = incs[13] != 0;
                b.inc_db_err.next = incs[14] != 0;
                hist.push_front((m.clone(), reset_pending, idle, q_rdata));
                hist.truncate(3);
                let mut wrote: Option<(u32, u32, u32)> = None;
                clock_cycle(&mut b, |b, c| b.clock.next = Clock { clk: c }, |b| {
                    if reset {
                        return;
                    }
                    // Outputs from the model's state now.
                    assert_eq!(b.enable.val(), m.enable, "seed {seed} cycle {cycle}: enable");
                    assert_eq!(b.soft_reset.val(), m.soft_pending, "seed {seed} cycle {cycle}: soft reset pulse");
                    assert_eq!(b.capenable.val().index() as u32, m.capen, "seed {seed} cycle {cycle}: capenable");
                    let pend = m.irq_status & m.irq_mask;
                    let lines = (0..8).filter(|q| pend >> (2 * q) & 3 != 0).fold(0u32, |a, q| a | 1 << q);
                    assert_eq!(b.irq.val().index() as u32, lines, "seed {seed} cycle {cycle}: interrupt lines");
                    // The write handshake: address and data together.
                    if b.awready.val() && aw_valid {
                        assert!(b.wready.val() && w_valid, "seed {seed}: address taken without its data");
                        let a = aw.unwrap();
                        let (d, strb) = w.unwrap();
                        assert_eq!(b.wfire_o.val(), strb == 0xf, "seed {seed}: write handed on");
                        if strb == 0xf {
                            assert_eq!((b.waddr_o.val().index() as u32, b.wdata_o.val().index() as u32), (a, d));
                        }
                        wrote = Some((a, d, strb));
                    } else {
                        assert!(!b.wfire_o.val());
                        assert!(!(b.wready.val() && w_valid && !aw_valid), "seed {seed}: data taken without its address");
                    }
                    if b.bvalid.val() && bready {
                        let want = write_expect.pop_front().expect("a response for a write");
                        assert_eq!(b.bresp.val().index() as u32, want, "seed {seed} cycle {cycle}: write response");
                        writes += 1;
                    }
                    if b.arready.val() && ar_valid {
                        read_addr.push_back(ar.take().unwrap());
                    }
                    if b.rvalid.val() && !rvalid_prev {
                        // The value of two cycles' start ago: the handshake cycle's next cycle latched it.
                        let a = *read_addr.front().unwrap();
                        let (hm, hpend, hidle, hq) = &hist[1];
                        let want = match a {
                            c::CTRL => hm.enable as u32 | ((*hpend || hm.soft_pending) as u32) << 1,
                            c::STATUS => *hidle as u32,
                            _ => id_value(a, hm).unwrap_or(*hq),
                        };
                        assert_eq!(b.rdata.val().index() as u32, want, "seed {seed} cycle {cycle}: read of {a:#x}");
                        assert_eq!(b.rresp.val().index(), 0);
                    }
                    if b.rvalid.val() && rready {
                        read_addr.pop_front();
                        reads += 1;
                    }
                    rvalid_prev = b.rvalid.val() && !rready;
                });
                if wrote.is_some() {
                    aw = None;
                    w = None;
                }
                // The model's edge.
                let was_soft = m.soft_pending;
                m.soft_pending = false;
                for (k, inc) in incs.iter().enumerate() {
                    m.stats[k] = m.stats[k].wrapping_add(*inc);
                }
                if let Some((a, d, strb)) = wrote {
                    write_expect.push_back(if strb == 0xf { 0 } else { 2 });
                    if strb == 0xf {
                        match a {
                            c::CTRL => {
                                m.enable = d & c::CTRL_ENABLE != 0;
                                m.soft_pending = d & c::CTRL_RESET != 0;
                            }
                            c::CAPENABLE => m.capen = d & caps & !m.capdis,
                            c::CAPDISABLE => {
                                m.capdis = d & caps;
                                m.capen &= !d;
                            }
                            c::IRQ_STATUS => m.irq_status &= !(d & 0xffff),
                            c::IRQ_MASK => m.irq_mask = d & 0xffff,
                            _ => {}
                        }
                    }
                }
                for q in 0..8 {
                    if ev_tx >> q & 1 != 0 {
                        m.irq_status |= c::irq_tx(q);
                    }
                    if ev_rx >> q & 1 != 0 {
                        m.irq_status |= c::irq_rx(q);
                    }
                }
                if was_soft {
                    m.enable = false;
                    m.irq_status = 0;
                }
                if reset {
                    m = Model::default();
                    m.stats = [0; 15];
                    write_expect.clear();
                    read_addr.clear();
                    (aw, w, ar) = (None, None, None);
                }
            }
            eprintln!("  {writes} writes, {reads} reads");
            assert!(writes > 300 && reads > 300, "seed {seed}: too few transactions");
        }
    }
}
