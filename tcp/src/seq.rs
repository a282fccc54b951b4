//! Sequence numbers compared modulo 2^32 (RFC 9293 §3.4, RFC 1982's serial
//! arithmetic): `a` is before `b` when `b - a`, taken as a signed 32-bit
//! distance, is positive. Correct for any two numbers less than 2^31 apart,
//! which TCP's windows guarantee.

/// `a < b` in sequence space.
pub const fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
/// `a <= b` in sequence space.
pub const fn seq_le(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}
/// `a > b` in sequence space.
pub const fn seq_gt(a: u32, b: u32) -> bool {
    seq_lt(b, a)
}
/// `a >= b` in sequence space.
pub const fn seq_ge(a: u32, b: u32) -> bool {
    seq_le(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 1982 §3.2 with SERIAL_BITS = 32: i1 < i2 when (i1 < i2 and i2 - i1 < 2^31) or
    // (i1 > i2 and i1 - i2 > 2^31). The cases below are that definition's, worked by hand.
    #[test]
    fn comparisons_wrap_around_2_pow_32() {
        assert!(seq_lt(0xffff_fff0, 0x0000_0010), "0x10 is 0x20 after 0xfffffff0");
        assert!(seq_gt(0x0000_0010, 0xffff_fff0));
        assert!(!seq_lt(0x0000_0010, 0xffff_fff0));
        assert!(seq_lt(0xffff_ffff, 0), "0 follows 2^32 - 1");
        assert!(seq_lt(1, 0x7fff_ffff + 1) && seq_lt(1, 0x8000_0000), "2^31 - 1 ahead: still after");
        assert!(seq_gt(1, 0x8000_0002), "2^31 + 1 ahead is 2^31 - 1 behind");
        assert!(seq_le(7, 7) && seq_ge(7, 7) && !seq_lt(7, 7) && !seq_gt(7, 7));
        assert!(seq_le(0xffff_ffff, 3) && seq_ge(3, 0xffff_ffff));
    }
}
