//! docs/ABI.md is generated from `nic-abi`; this test fails when the two differ.
//! Regenerate with `UPDATE_DOCS=1 cargo test -p nic-tests --test abi_doc`.

use nic_abi::desc::{beat, cpl, lsb, rx, tx};
use nic_abi::regs::{block, ctrl, id, queue, queue_pair, rss, rxq, stats, txq};
use nic_abi::{csum, ifcap, status};
use std::fmt::Write;

fn render() -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# NIC ABI {}.{}\n", nic_abi::ABI_MAJOR, nic_abi::ABI_MINOR);
    let _ = writeln!(w, "Generated from `abi` (`nic-abi`) by `tests/tests/abi_doc.rs`; do not edit by hand.\n");
    let _ = writeln!(w, "BAR0 is {} bytes of 32-bit registers behind AXI4-Lite. ID `{:#010x}` (\"OFLD\"), datapath {} bits, clock {} kHz, largest frame {} bytes, rings 2^{}..2^{} entries, buffers {}-byte aligned.\n",
        nic_abi::regs::BAR0_SIZE, nic_abi::NIC_ID, nic_abi::DATAPATH_BITS, nic_abi::CLOCK_KHZ, nic_abi::MAX_FRAME,
        nic_abi::RING_MIN_LOG2, nic_abi::RING_MAX_LOG2, nic_abi::DMA_ALIGN);
    let _ = writeln!(w, "## Register blocks\n");
    let _ = writeln!(w, "Every block starts with a header: TYPE at +{:#x}, VERSION at +{:#x}, NEXT (the next block's offset, 0 after the last) at +{:#x}. The ID block's TYPE is ID and its VERSION is the ABI's. A driver walks the chain from the ID block's NEXT.\n", block::TYPE, block::VERSION, block::NEXT);
    let _ = writeln!(w, "| offset | block | TYPE | VERSION |\n|---|---|---|---|");
    let _ = writeln!(w, "| `{:#06x}` | ID | `{:#010x}` | the ABI version |", 0, nic_abi::NIC_ID);
    for (off, name, ty) in [(ctrl::BLOCK, "CTRL", block::TYPE_CTRL), (stats::BLOCK, "STATS", block::TYPE_STATS), (rss::BLOCK, "RSS", block::TYPE_RSS)] {
        let _ = writeln!(w, "| `{off:#06x}` | {name} | `{ty:#x}` | {} |", block::VERSION_1);
    }
    let _ = writeln!(w, "| `{:#06x}` + {:#x}·q | queue pair q (q < NUM_QUEUES) | `{:#x}` | {} |", queue_pair(0), nic_abi::regs::QUEUE_STRIDE, block::TYPE_QUEUE_PAIR, block::VERSION_1);
    let _ = writeln!(w, "| `{:#06x}` | FW: the firmware's window (reserved, not in the chain yet) | | |", nic_abi::regs::FW_WINDOW);
    let _ = writeln!(w, "| `{:#06x}` | TOE: registers and context-RAM debug window (reserved, not in the chain yet) | | |\n", nic_abi::regs::TOE_WINDOW);
    let _ = writeln!(w, "## Registers\n\n| offset | name | access |\n|---|---|---|");
    let regs: &[(u32, &str, &str)] = &[
        (id::ID, "ID", "RO"), (id::VERSION, "VERSION (major in bits 31:16, minor in 15:0)", "RO"), (id::NEXT, "NEXT (next block)", "RO"),
        (id::CAPS, "CAPS (IFCAP_*)", "RO"), (id::DATAPATH, "DATAPATH bits", "RO"), (id::CLOCK_KHZ, "CLOCK_KHZ", "RO"),
        (id::RING_LIMITS, "RING_LIMITS (max log2 [7:0], min log2 [15:8])", "RO"), (id::MAX_FRAME, "MAX_FRAME", "RO"),
        (id::TSO_MAX, "TSO_MAX (0: no TSO)", "RO"), (id::TSO_SEGS, "TSO_SEGS", "RO"), (id::TOE_CONTEXTS, "TOE_CONTEXTS (0: no TOE)", "RO"),
        (id::NUM_QUEUES, "NUM_QUEUES (queue pairs in this build)", "RO"), (id::BUILD_HASH, "BUILD_HASH", "RO"),
        (id::RSS_INFO, "RSS_INFO (indirection entries [15:0], key bytes [23:16]; 0: no RSS)", "RO"),
        (id::RSS_HASHTYPES, "RSS_HASHTYPES (RSS_HASHTYPE_* bits computed)", "RO"),
        (ctrl::CTRL, "CTRL (bit 0 ENABLE; bit 1 RESET, reads 1 until the reset has happened)", "RW"), (ctrl::CAPENABLE, "CAPENABLE (IFCAP_*, masked by CAPS)", "RW"),
        (ctrl::IRQ_STATUS, "IRQ_STATUS (bit 2q: TX queue q, bit 2q+1: RX queue q; write 1 to clear; line q = queue pair q's unmasked bits)", "RW1C"), (ctrl::IRQ_MASK, "IRQ_MASK", "RW"),
        (ctrl::STATUS, "STATUS (bit 0 IDLE)", "RO"),
        (ctrl::CAPDISABLE, "CAPDISABLE (ABI 1.2; IFCAP bits a board straps off: CAPS reads without them, CAPENABLE cannot set them; kept by soft reset)", "RW"),
    ];
    for (off, name, acc) in regs {
        let _ = writeln!(w, "| `{off:#06x}` | {name} | {acc} |");
    }
    let _ = writeln!(w, "| `{:#06x}` | RSS.HASHTYPES (RSS_HASHTYPE_* enabled; reset: all computed) | RW |", rss::HASHTYPES);
    let _ = writeln!(w, "| `{:#06x}`..`{:#06x}` | RSS.KEY (40 bytes; byte 4i+j in bits 31-8j..24-8j of word i; reset: the default key) | RW |", rss::KEY, rss::KEY + 36);
    let _ = writeln!(w, "| `{:#06x}`..`{:#06x}` | RSS.RETA (128 entries; entry 4i+j in bits 8j+7..8j of word i; a hash h uses entry h & 127; loaded with the bitstream as i % NUM_QUEUES) | RW |", rss::RETA, rss::RETA + 124);
    for (base, q) in [(txq(0), "TXQ(q)"), (rxq(0), "RXQ(q)")] {
        for (off, name, acc) in [
            (queue::BASE_LO, "BASE_LO (bits 2:0 read 0)", "RW"), (queue::BASE_HI, "BASE_HI", "RW"), (queue::SIZE_LOG2, "SIZE_LOG2", "RW"),
            (queue::TAIL, "TAIL (doorbell; a value more than a ring ahead of the completions issued, or behind the current TAIL, is refused and counted in DOORBELL_ERR)", "RW"), (queue::HEAD, "HEAD", "RO"), (queue::CQ_BASE_LO, "CQ_BASE_LO (bits 2:0 read 0)", "RW"),
            (queue::CQ_BASE_HI, "CQ_BASE_HI", "RW"), (queue::CQ_HEAD, "CQ_HEAD (past the completions issued, or more than a ring behind them, is refused and counted in DOORBELL_ERR)", "RW"), (queue::CQ_TAIL, "CQ_TAIL", "RO"),
            (queue::PACKETS, "PACKETS (TX: frames sent from it; RX: frames delivered to it)", "RO"),
            (queue::DROPS, "DROPS (RX: frames for it that found no buffer)", "RO"),
        ] {
            if base == txq(0) && off == queue::DROPS {
                continue;
            }
            let _ = writeln!(w, "| `{:#06x}` + {:#x}·q | {q}.{name} | {acc} |", base + off, nic_abi::regs::QUEUE_STRIDE);
        }
    }
    for (off, name) in stats::ALL {
        let _ = writeln!(w, "| `{off:#06x}` | STATS.{name} | RO |");
    }
    let _ = writeln!(w, "\n## Records (little-endian; beat = 64 bits)\n");
    let _ = writeln!(w, "| record | field | byte offset | beat | bit |\n|---|---|---|---|---|");
    let fields: &[(&str, &str, usize)] = &[
        ("TxDesc", "addr", tx::ADDR), ("TxDesc", "len", tx::LEN), ("TxDesc", "csum_flags", tx::CSUM_FLAGS),
        ("TxDesc", "l2hlen", tx::L2HLEN), ("TxDesc", "l3hlen", tx::L3HLEN), ("TxDesc", "l4hlen", tx::L4HLEN),
        ("TxDesc", "flags (bit 0: TXD_MORE)", tx::FLAGS), ("TxDesc", "csum_data", tx::CSUM_DATA),
        ("TxDesc", "tso_segsz", tx::TSO_SEGSZ), ("TxDesc", "pkt_len", tx::PKT_LEN), ("TxDesc", "rsvd1", tx::RSVD1), ("RxDesc", "addr", rx::ADDR), ("RxDesc", "len", rx::LEN), ("RxDesc", "rsvd", rx::RSVD),
        ("Completion", "len", cpl::LEN), ("Completion", "index", cpl::INDEX), ("Completion", "csum_flags", cpl::CSUM_FLAGS),
        ("Completion", "flowid", cpl::FLOWID), ("Completion", "csum_data", cpl::CSUM_DATA), ("Completion", "rsstype", cpl::RSSTYPE),
        ("Completion", "status (bit 7: phase)", cpl::STATUS),
    ];
    for (r, f, off) in fields {
        let _ = writeln!(w, "| {r} | {f} | {off} | {} | {} |", beat(*off), lsb(*off));
    }
    let _ = writeln!(w, "\n## Completion status codes\n\n| code | meaning |\n|---|---|");
    for c in 0u8..=status::BAD_CHAIN {
        let _ = writeln!(w, "| {c} | {} |", status::Status::from(c).describe());
    }
    let _ = writeln!(w, "\n## csum_flags (FreeBSD `mbuf.h`)\n\n| flag | value | transmit: accepted by the NIC |\n|---|---|---|");
    for (v, n) in csum::NAMES {
        let tx = if v & csum::TX_SUPPORTED != 0 { "yes" } else if *v < 0x0100_0000 { "no (BAD_FLAGS)" } else { "receive result" };
        let _ = writeln!(w, "| {n} | `{v:#010x}` | {tx} |");
    }
    let _ = writeln!(w, "\n## Capabilities (FreeBSD `if.h`)\n\n| bit | name | this NIC |\n|---|---|---|");
    let caps = nic_hw_caps();
    for (v, n) in ifcap::NAMES {
        let _ = writeln!(w, "| {} | {n} | {} |", v.trailing_zeros(), if caps & v != 0 { "yes" } else { "" });
    }
    let _ = writeln!(w, "\n## Conventions\n");
    let _ = writeln!(w, "- Transmit L4 checksum: the stack writes the pseudo-header sum (folded, not complemented, with the L4 length) into the checksum field; the NIC sums from `l2hlen + l3hlen` to the end of the frame and stores the complement at `l2hlen + l3hlen + csum_data`. UDP: a result of 0 is sent as 0xffff.");
    let _ = writeln!(w, "- Transmit `CSUM_IP`: the NIC computes the IPv4 header checksum over `l2hlen .. l2hlen + l3hlen`, treating the checksum field as zero.");
    let _ = writeln!(w, "- Receive: `CSUM_L3_CALC` for IPv4 (with `CSUM_L3_VALID` when right); `CSUM_L4_CALC` for TCP/UDP the NIC could check (with `CSUM_L4_VALID` and `csum_data` = 0xffff when right). No L4 verdict for fragments, UDP over IPv4 with a zero checksum field, IPv6 routing headers with Segments Left > 0, or datagrams longer than the frame. Bad checksums are reported, not dropped.");
    let _ = writeln!(w, "- Packets and chains: a packet is one descriptor or a chain; every descriptor but the last has `TXD_MORE` ({:#x}) in `flags`. The first carries `csum_flags`, the header lengths, `csum_data`, `tso_segsz` and (for a chain) `pkt_len`, the sum of the chain's `len`s; the others carry only `addr`, `len` and `flags`. At most {} descriptors (TSO_SEGS bits 15:0), at most {:#x} bytes each (bits 31:16); every buffer but the last holds a multiple of {} bytes. Each descriptor gets a completion; all of a packet's carry the packet's one status.",
        nic_abi::desc::TXD_MORE, nic_abi::desc::TX_MAX_CHAIN, nic_abi::desc::TX_MAX_SEGSIZE, nic_abi::BEAT_BYTES);
    let _ = writeln!(w, "- TSO (`CSUM_IP_TSO`/`CSUM_IP6_TSO`, FreeBSD sets both, with `CSUM_IP_TCP` or `CSUM_IP6_TCP` naming the family): the first `l2hlen + l3hlen + l4hlen` bytes (at most {}, all in the first buffer with payload after them) are the template; the payload is cut into `tso_segsz`-byte segments (headers plus `tso_segsz` at most MAX_FRAME; the packet at most TSO_MAX = {} bytes). The TCP checksum field holds the pseudo-header sum **without** the length (FreeBSD's and DPDK's convention; plain checksum offload seeds *with* it); the NIC adds each segment's TCP length. Per segment: IPv4 ID +1 (wrapping), total length and header checksum recomputed (always, `CSUM_IP` or not); IPv6 payload length; TCP sequence + k·`tso_segsz`; FIN and PSH only on the last segment, CWR only on the first. A data read error stops the burst: later segments are dropped, the completions say `DMA_ERROR`.",
        nic_abi::desc::TSO_MAX_HDR, nic_abi::desc::TSO_MAX_BYTES);
    let _ = writeln!(w, "- Queue pairs (ABI 2.0): NUM_QUEUES pairs, pair q's TX block at `{:#x} + {:#x}·q` and RX block 0x80 above it; each has its own rings, completion queue, interrupt causes and line. A driver picks a frame's TX queue; TX queues take turns frame by frame at the MAC. A TX completion is written only once the packet's frames have left the NIC (sent, or discarded for an error), so a driver that moves a flow to another queue after its completions knows none of it is still inside.", nic_abi::regs::QUEUES, nic_abi::regs::QUEUE_STRIDE);
    let _ = writeln!(w, "- RSS: a received frame's completion carries `flowid` (Toeplitz hash, offloads.md §6) and `rsstype` (FreeBSD `M_HASHTYPE_*`), and goes to the RX queue RSS.RETA[flowid & 127] names (queue 0 when that entry names a queue the build lacks, or when there is no hash). What is hashed:");
    let _ = writeln!(w, "
  | frame | input | rsstype |
  |---|---|---|");
    for (f, i, t) in [
        ("IPv4 TCP, not a fragment", "src dst sport dport", nic_abi::rss::hashtype::RSS_TCP_IPV4),
        ("IPv4 UDP, not a fragment", "src dst sport dport", nic_abi::rss::hashtype::RSS_UDP_IPV4),
        ("other IPv4, and every IPv4 fragment (first or later)", "src dst", nic_abi::rss::hashtype::RSS_IPV4),
        ("IPv6 TCP, not a fragment", "src dst sport dport", nic_abi::rss::hashtype::RSS_TCP_IPV6),
        ("IPv6 UDP, not a fragment", "src dst sport dport", nic_abi::rss::hashtype::RSS_UDP_IPV6),
        ("other IPv6, and every IPv6 fragment", "src dst", nic_abi::rss::hashtype::RSS_IPV6),
        ("not IP (ARP, LLDP, ...), or an IP header the parser cannot read", "nothing: flowid 0, queue 0", nic_abi::rss::hashtype::NONE),
    ] {
        let _ = writeln!(w, "  | {f} | {i} | `{}` ({t:#04x}) |", nic_abi::rss::hashtype::name(t).unwrap_or("?"));
    }
    let _ = writeln!(w, "
  Ports are taken from the frame's first 64 bytes: more than 20 bytes of IPv4 options behind a VLAN tag, or an IPv6 extension header that pushes TCP/UDP past byte 64, hash as the 2-tuple. Addresses are as received (the `_EX` types are not computed). A type disabled in RSS.HASHTYPES falls back to its family's 2-tuple type if that is enabled, else no hash.");
    let _ = writeln!(w, "- Rings: free-running 16-bit indices; the device writes completions in order with the phase bit `1` on the first lap, `0` on the second, and so on; the driver zeroes completion queues before use.");
    s
}

fn nic_hw_caps() -> u32 {
    use ifcap::*;
    // The capability register of the built model, read from the simulator, is the authority.
    let sim = nic_sim::Sim::start(nic_sim::SimConfig::loopback()).unwrap();
    let caps = sim.nic(0).read32(id::CAPS).unwrap();
    assert_eq!(caps & IFCAP_TOE, 0);
    caps
}

#[test]
fn docs_abi_md_is_generated_from_nic_abi() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ABI.md");
    let want = render();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "docs/ABI.md is out of date: run UPDATE_DOCS=1 cargo test -p nic-tests --test abi_doc");
}
