//! Internet checksum arithmetic (RFC 1071, RFC 1624), shared by every layer.
//!
//! Sums are carried as `u32` accumulators of 16-bit big-endian words and
//! folded at the end; a trailing odd byte is padded with zero on the right.
//! The RTL computes the same thing 64 bits at a time; these functions are the
//! software half the stack and the reference models use.

/// Adds the 16-bit big-endian words of `data` to `acc` (an odd last byte is the high half of a word).
pub fn sum(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc = add32(acc, u16::from_be_bytes([w[0], w[1]]) as u32);
    }
    if let [last] = chunks.remainder() {
        acc = add32(acc, (*last as u32) << 8);
    }
    acc
}

/// One's-complement addition in 32 bits (end-around carry), so the accumulator never overflows.
pub fn add32(a: u32, b: u32) -> u32 {
    let (s, c) = a.overflowing_add(b);
    s.wrapping_add(c as u32)
}

/// Folds a 32-bit accumulator to 16 bits with end-around carries.
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum to put in a header: the complement of the folded sum.
pub fn finish(acc: u32) -> u16 {
    !fold(acc)
}

/// RFC 1624 incremental update, `HC' = ~(~HC + ~m + m')`: the checksum after one 16-bit field changes from `old` to `new`.
pub fn update(hc: u16, old: u16, new: u16) -> u16 {
    !fold(!hc as u32 + !old as u32 + new as u32)
}

/// IPv4 pseudo-header sum (folded, not complemented): addresses, protocol, L4 length.
pub fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, l4len: u32) -> u16 {
    let acc = sum(&src, sum(&dst, 0));
    fold(add32(add32(acc, proto as u32), l4len))
}

/// IPv6 pseudo-header sum (RFC 8200 §8.1, folded, not complemented); `l4len` excludes extension headers.
pub fn pseudo_v6(src: [u8; 16], dst: [u8; 16], next_header: u8, l4len: u32) -> u16 {
    let acc = sum(&src, sum(&dst, 0));
    let acc = add32(acc, l4len >> 16);
    fold(add32(add32(acc, l4len & 0xffff), next_header as u32))
}

/// The UDP rule: a computed checksum of 0 is sent as 0xffff (0 means "no checksum"). TCP has no such rule.
pub fn udp_wire(csum: u16) -> u16 {
    if csum == 0 {
        0xffff
    } else {
        csum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&bytes, 0)), 0xddf2);
        assert_eq!(finish(sum(&bytes, 0)), 0x220d);
    }

    #[test]
    fn known_ipv4_header() {
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0,
            0xa8, 0x00, 0xc7,
        ];
        assert_eq!(finish(sum(&hdr, 0)), 0xb861);
        let mut with = hdr;
        with[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(fold(sum(&with, 0)), 0xffff, "a correct header sums to all ones");
    }

    #[test]
    fn rfc1624_incremental_matches_recompute() {
        // Property: the incremental update agrees with a full recompute, field after field.
        let mut words = [0x4500u16, 0x0073, 0x0000, 0x4000, 0x4011, 0x0000, 0xc0a8, 0x0001, 0xc0a8, 0x00c7];
        let csum = |w: &[u16]| {
            let mut a = 0u32;
            for x in w {
                a = add32(a, *x as u32);
            }
            finish(a)
        };
        let mut x = 0x1234u16;
        for _ in 0..10_000 {
            x = x.wrapping_mul(0x9e37).wrapping_add(0x79b9);
            let i = (x as usize) % words.len();
            if i == 5 {
                continue;
            }
            let hc = csum(&words);
            let old = words[i];
            let new = x.rotate_left(5);
            words[i] = new;
            let want = csum(&words);
            assert_eq!(update(hc, old, new), want);
        }
    }

    #[test]
    fn rfc1624_zero_case() {
        // The case RFC 1624 §3 works through: the old equation gives 0xffff, the correct one 0x0000.
        // Sum of the other words 0xcd7a, field m changes 0x5555 -> 0x3285.
        let others = 0xcd7a_u32;
        let hc = finish(add32(others, 0x5555));
        assert_eq!(hc, 0xdd2f);
        let new = update(hc, 0x5555, 0x3285);
        assert_eq!(new, finish(add32(others, 0x3285)));
        assert_eq!(new, 0x0000);
        let old_form = fold(hc as u32 + 0x5555 + !0x3285u16 as u32);
        assert_eq!(old_form, 0xffff, "the pre-RFC 1624 equation gets it wrong");
    }

    #[test]
    fn udp_zero_rule() {
        assert_eq!(udp_wire(0), 0xffff);
        assert_eq!(udp_wire(0x1234), 0x1234);
    }

    #[test]
    fn odd_length_pads_right() {
        assert_eq!(sum(&[0xab], 0), 0xab00);
        assert_eq!(fold(sum(&[0xff, 0xff, 0xff, 0xff, 0x01], 0)), 0x0100);
    }

    #[test]
    fn pseudo_headers() {
        // IPv4 192.168.0.1 -> 192.168.0.199, UDP, length 0x5f.
        let p = pseudo_v4([192, 168, 0, 1], [192, 168, 0, 199], 17, 0x5f);
        assert_eq!(p, fold(0xc0a8 + 0x0001 + 0xc0a8 + 0x00c7 + 17 + 0x5f));
        let mut a = [0u8; 16];
        a[15] = 1;
        let p6 = pseudo_v6(a, a, 6, 0x1_0002);
        assert_eq!(p6, fold(2 + 1 + 2 + 6));
    }
}
