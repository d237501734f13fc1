//! Delay schedules, built on `backon`'s exponential backoff (the `backoff` crate is unmaintained,
//! RUSTSEC-2025-0012). Pure functions: the caller turns a delay into a delayed job.

use backon::{BackoffBuilder, ExponentialBuilder};
use rand::Rng;
use std::time::Duration;

/// The `n`-th (0-based) delay of an exponential schedule, capped, without jitter.
pub fn exponential(first: Duration, factor: f32, max: Duration, n: u32) -> Duration {
    let factor = if factor.is_finite() && factor >= 1.0 {
        factor
    } else {
        1.0
    };
    ExponentialBuilder::default()
        .with_min_delay(first)
        .with_factor(factor)
        .with_max_delay(max)
        .without_max_times()
        .build()
        .nth(n as usize)
        .unwrap_or(max)
        .min(max)
}

/// Full jitter: uniform in `[0, d]`. Spreads retries of many cashouts that failed together.
pub fn full_jitter(d: Duration) -> Duration {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::rng().random_range(0..=ns))
}

/// Equal jitter: uniform in `[d/2, d]`. For polls, which should not come much earlier than asked.
pub fn equal_jitter(d: Duration) -> Duration {
    // Nanoseconds, not milliseconds: a delay with a fraction of a millisecond must not come out
    // below half (proptest found 14 ms × 1.3015637⁴).
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::rng().random_range(ns.div_ceil(2)..=ns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grows_then_caps() {
        let s = |n| exponential(Duration::from_secs(1), 2.0, Duration::from_secs(10), n);
        assert_eq!(s(0), Duration::from_secs(1));
        assert_eq!(s(1), Duration::from_secs(2));
        assert_eq!(s(2), Duration::from_secs(4));
        assert_eq!(s(3), Duration::from_secs(8));
        assert_eq!(s(4), Duration::from_secs(10));
        assert_eq!(s(60), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_in_range_for_the_case_proptest_found() {
        let a = exponential(
            Duration::from_millis(14),
            1.301_563_7,
            Duration::from_millis(24_304),
            4,
        );
        for _ in 0..1_000 {
            let e = equal_jitter(a);
            assert!(e <= a && e >= a / 2, "{e:?} for {a:?}");
        }
    }

    proptest! {
        #[test]
        fn never_exceeds_cap_and_never_shrinks(
            first in 1u64..5_000, factor in 1.0f32..4.0, max in 1u64..120_000, n in 0u32..64
        ) {
            let (f, m) = (Duration::from_millis(first), Duration::from_millis(max));
            let a = exponential(f, factor, m, n);
            let b = exponential(f, factor, m, n + 1);
            prop_assert!(a <= m && b <= m);
            prop_assert!(b >= a);
            let j = full_jitter(a);
            prop_assert!(j <= a);
            let e = equal_jitter(a);
            prop_assert!(e <= a && e >= a / 2);
        }
    }
}
