//! Simulated time: cycles of the modelled core clock ([`nic_abi::CLOCK_KHZ`]).

use nic_abi::CLOCK_KHZ;

/// One clock period in picoseconds (6400 ps at 156.25 MHz).
pub const CYCLE_PS: u64 = 1_000_000_000 / CLOCK_KHZ as u64;

/// Simulated nanoseconds after `cycles` cycles (6.4 ns each at 156.25 MHz), rounded down.
pub fn cycles_to_ns(cycles: u64) -> u64 {
    (cycles as u128 * 1_000_000 / CLOCK_KHZ as u128) as u64
}

/// Simulated time after `cycles` cycles.
pub fn cycles_to_duration(cycles: u64) -> std::time::Duration {
    std::time::Duration::from_nanos(cycles_to_ns(cycles))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_6_4_ns() {
        assert_eq!(CYCLE_PS, 6400);
        assert_eq!(cycles_to_ns(5), 32);
        assert_eq!(cycles_to_ns(156_250_000), 1_000_000_000);
    }
}
