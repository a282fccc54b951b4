//! Transport checksums in software (FreeBSD's `in_delayed_cksum`,
//! `in6_delayed_cksum` and the receive-side trust rule of `udp_input` /
//! `tcp_input`), over `nic_abi::cksum`'s arithmetic.

use nic_abi::cksum;
use nic_abi::csum::{CSUM_DATA_VALID, CSUM_IP6_UDP, CSUM_IP_UDP, CSUM_PSEUDO_HDR};

use super::stats::CsumStats;
use crate::mbuf::Mbuf;

/// Where output computes a delayed L4 checksum: FreeBSD's `in_delayed_cksum` /
/// `in6_delayed_cksum` over `data[l4off..]`, whose checksum field at
/// `l4off + csum_off` holds the pseudo-header seed. UDP's computed 0 becomes 0xffff.
/// Returns `false` (nothing written) when the field lies outside the data.
pub(crate) fn delayed_l4_cksum(data: &mut [u8], l4off: usize, csum_off: usize, udp: bool) -> bool {
    let Some(field) = l4off.checked_add(csum_off) else { return false };
    if field.checked_add(2).is_none_or(|end| end > data.len()) {
        return false;
    }
    let c = cksum::finish(cksum::sum(&data[l4off..], 0));
    let c = if udp { cksum::udp_wire(c) } else { c };
    data[field..field + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Whether a transmit request is a UDP one (the 0 -> 0xffff rule applies).
pub(crate) fn is_udp_request(flags: u32) -> bool {
    flags & (CSUM_IP_UDP | CSUM_IP6_UDP) != 0
}

/// The receive-side L4 decision (FreeBSD `udp_input` / `tcp_input`): trust the
/// NIC's `CSUM_DATA_VALID` (adding the pseudo-header ourselves when it did not
/// include it), else verify `seg` in software. `pseudo` is the folded
/// pseudo-header sum *with* the L4 length. `hw_usable` is false when the NIC's
/// sum cannot cover exactly `seg` (e.g. the UDP length is shorter than the IP payload).
pub(crate) fn l4_cksum_ok(m: &Mbuf, seg: &[u8], pseudo: u16, hw_usable: bool, st: &mut CsumStats) -> bool {
    let flags = m.pkthdr.csum_flags;
    if hw_usable && flags & CSUM_DATA_VALID != 0 {
        st.l4_hw += 1;
        let s = if flags & CSUM_PSEUDO_HDR != 0 {
            // FreeBSD assigns csum_data to the 16-bit th_sum/uh_sum: truncation, not folding.
            m.pkthdr.csum_data as u16
        } else {
            cksum::fold(cksum::add32(m.pkthdr.csum_data, pseudo as u32))
        };
        return s == 0xffff;
    }
    st.l4_sw += 1;
    cksum::fold(cksum::sum(seg, pseudo as u32)) == 0xffff
}
