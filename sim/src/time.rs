//! Simulated time: cycles of the modelled core clock ([`nic_abi::CLOCK_KHZ`]).
//!
//! The period and the conversion live in `nic-abi`; this module only adds `Duration`.

pub use nic_abi::{cycles_to_ns, CLOCK_PERIOD_PS as CYCLE_PS};

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
        assert_eq!(cycles_to_duration(5), std::time::Duration::from_nanos(32));
        assert_eq!(cycles_to_duration(156_250_000), std::time::Duration::from_secs(1));
    }
}
