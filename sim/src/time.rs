//! Simulated time: cycles of the modelled core clock ([`nic_abi::CLOCK_KHZ`]).
//!
//! The period and the conversion live in `nic-abi`; this module only adds `Duration`.

pub use nic_abi::{cycles_to_ns, CLOCK_PERIOD_PS as CYCLE_PS};

/// Simulated time after `cycles` cycles.
pub fn cycles_to_duration(cycles: u64) -> std::time::Duration {
    std::time::Duration::from_nanos(cycles_to_ns(cycles))
}

/// Cycles that cover `d` (rounded up, so a wait of `d` is never shorter), saturating.
pub fn duration_to_cycles(d: std::time::Duration) -> u64 {
    let ps = d.as_nanos().saturating_mul(1000);
    u64::try_from(ps.div_ceil(u128::from(CYCLE_PS))).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_6_4_ns() {
        assert_eq!(CYCLE_PS, 6400);
        assert_eq!(cycles_to_duration(5), std::time::Duration::from_nanos(32));
        assert_eq!(cycles_to_duration(156_250_000), std::time::Duration::from_secs(1));
        assert_eq!(duration_to_cycles(std::time::Duration::from_secs(1)), 156_250_000);
        assert_eq!(duration_to_cycles(std::time::Duration::from_nanos(7)), 2);
        assert_eq!(duration_to_cycles(std::time::Duration::MAX), u64::MAX);
    }
}
