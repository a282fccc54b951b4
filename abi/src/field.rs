//! Typed register fields: a value's place inside a 32-bit register, written once.
//!
//! Several ID-block registers pack two values into one word (the ABI version's
//! major and minor, the ring limits, the descriptor-chain limits, the RSS
//! sizes). The RTL packs them with [`Field::put`] when it builds its constant
//! read values, and the driver unpacks them with [`Field::get`], so neither
//! writes a shift or a mask of its own.

/// Where a value sits in a register: the register's offset in BAR0, the lowest bit, the width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Byte offset of the register in BAR0.
    pub reg: u32,
    /// Lowest bit of the field.
    pub shift: u32,
    /// Bits in the field (1..=32).
    pub width: u32,
}

impl Field {
    /// A field of `width` bits from bit `shift` of the register at `reg`; refuses (at compile
    /// time for constants) a field that does not fit in 32 bits.
    pub const fn new(reg: u32, shift: u32, width: u32) -> Field {
        assert!(width >= 1 && shift + width <= 32, "a field must lie inside its 32-bit register");
        Field { reg, shift, width }
    }

    /// The field's value bits, not shifted.
    pub const fn max(self) -> u32 {
        if self.width == 32 { u32::MAX } else { (1 << self.width) - 1 }
    }

    /// The field's bits in place within the register.
    pub const fn mask(self) -> u32 {
        self.max() << self.shift
    }

    /// The field's value read from the register word `word`.
    pub const fn get(self, word: u32) -> u32 {
        (word >> self.shift) & self.max()
    }

    /// `value` placed in the field, for OR-ing into a register word. A value wider than the field
    /// is refused (at compile time for constants): it would silently corrupt its neighbour.
    pub const fn put(self, value: u32) -> u32 {
        assert!(value <= self.max(), "value does not fit in the register field");
        value << self.shift
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_and_put_are_inverse_and_stay_in_their_bits() {
        let lo = Field::new(0x18, 0, 8);
        let hi = Field::new(0x18, 8, 8);
        let word = lo.put(12) | hi.put(2);
        assert_eq!(word, 0x0000_020c);
        assert_eq!((lo.get(word), hi.get(word)), (12, 2));
        assert_eq!(lo.mask() & hi.mask(), 0);
        let full = Field::new(0, 0, 32);
        assert_eq!(full.get(0xdead_beef), 0xdead_beef);
        assert_eq!(full.mask(), u32::MAX);
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_value_wider_than_its_field_is_refused() {
        let _ = Field::new(0, 8, 8).put(0x100);
    }
}
