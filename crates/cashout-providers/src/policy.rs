//! Polling schedules as configuration.

use serde::Deserialize;
use std::time::Duration;

/// How to poll a provider's status endpoint after submission: exponential delays with jitter,
/// capped, until an overall deadline after which the cashout is parked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollPolicy {
    /// Delay before the first status read.
    pub first_delay_ms: u64,
    /// Growth factor between reads.
    pub factor: f32,
    /// Longest delay between two reads.
    pub max_delay_ms: u64,
    /// Give up (park `deadline_exceeded`) this long after submission.
    pub deadline_secs: u64,
}

impl Default for PollPolicy {
    /// Camoo's own Android SDK polls every 3 s for 120 s; we start sooner, back off to 60 s and
    /// keep going for a day, because a mobile-money payout can settle late.
    fn default() -> Self {
        Self {
            first_delay_ms: 1_000,
            factor: 2.0,
            max_delay_ms: 60_000,
            deadline_secs: 86_400,
        }
    }
}

impl PollPolicy {
    /// The overall deadline.
    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.deadline_secs)
    }
}

/// Retries of retryable errors: exponential backoff with full jitter, then parked
/// `retries_exhausted`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Base of the first delay.
    pub first_delay_ms: u64,
    /// Growth factor.
    pub factor: f32,
    /// Cap.
    pub max_delay_ms: u64,
    /// Attempts before parking `retries_exhausted`.
    pub max_attempts: u32,
    /// HTTP statuses that mean the provider refused a payout-creating call before processing
    /// it (RFC 9110: 429 Too Many Requests, 503 Service Unavailable): retried with backoff,
    /// honouring `Retry-After`, instead of being held in doubt. 500, 502, 504, timeouts and
    /// resets stay in doubt whatever this says.
    pub refused_statuses: Vec<u16>,
}

/// The statuses [`RetryPolicy::refused_statuses`] holds by default.
pub const DEFAULT_REFUSED_STATUSES: [u16; 2] = [429, 503];

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay_ms: 1_000,
            factor: 2.0,
            max_delay_ms: 60_000,
            max_attempts: 6,
            refused_statuses: DEFAULT_REFUSED_STATUSES.to_vec(),
        }
    }
}

impl RetryPolicy {
    /// Refuses a `refused_statuses` entry that could come after a payout was executed: only
    /// 4xx other than 408 (timeout) and 409 (conflict: it may exist), and 503, are allowed.
    pub fn check(&self) -> Result<(), String> {
        for s in &self.refused_statuses {
            let allowed = (*s == 503) || ((400..500).contains(s) && *s != 408 && *s != 409);
            if !allowed {
                return Err(format!(
                    "refused_statuses: {s} may come after the payout was executed; only 503 and \
                     4xx other than 408 and 409 mean the provider refused before processing"
                ));
            }
        }
        Ok(())
    }
}

/// Client timeouts per operation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// Establishing the connection.
    pub connect_ms: u64,
    /// A payout-creating call. Past it the outcome is unknown, so it is generous.
    pub create_ms: u64,
    /// A status read.
    pub status_ms: u64,
    /// A balance read.
    pub account_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect_ms: 3_000,
            create_ms: 20_000,
            status_ms: 10_000,
            account_ms: 10_000,
        }
    }
}

impl Timeouts {
    /// The longest a call may take: the per-cashout lease must be longer.
    pub fn longest(&self) -> Duration {
        Duration::from_millis(
            self.connect_ms + self.create_ms.max(self.status_ms).max(self.account_ms),
        )
    }
}

/// Limits on the calls to one provider, shared by every worker process (enforced in Redis),
/// so that many workers together never exceed what the provider publishes
/// (`providers.<p>.limits`). Both limits are off by default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallLimits {
    /// Calls per second to this provider from all workers together (any operation); `0` is no
    /// limit. Fractions are allowed (`0.5` is one call every two seconds).
    pub requests_per_second: f64,
    /// How many calls may start back to back after a quiet spell (at least 1); the rate holds
    /// over any longer window.
    pub burst: u32,
    /// Calls in flight at once from all workers together; `0` is no limit.
    pub max_in_flight: u32,
    /// The longest a call holds its in-flight slot: the slot of a process that died mid-call
    /// is free again after this. At least the longest call (connect + the longest timeout)
    /// plus 15 s for the writes around it.
    pub hold_ms: u64,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            requests_per_second: 0.0,
            burst: 1,
            max_in_flight: 0,
            hold_ms: 60_000,
        }
    }
}

/// What a call's in-flight slot must outlast beyond the call itself: the intent and answer
/// writes around it, which retry Redis errors.
pub const HOLD_MARGIN_MS: u64 = 15_000;

impl CallLimits {
    /// True when neither limit is set (no Redis round trip before a call).
    pub fn is_unlimited(&self) -> bool {
        self.requests_per_second <= 0.0 && self.max_in_flight == 0
    }

    /// The spacing between two calls in microseconds (`0` when the rate is not limited).
    pub fn interval_us(&self) -> u64 {
        if self.requests_per_second > 0.0 {
            // At least 1 µs; a rate above a million per second is no limit in practice.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let us = (1e6 / self.requests_per_second).round().max(1.0) as u64;
            us
        } else {
            0
        }
    }

    /// Refuses what cannot work: a negative or non-finite rate, a zero burst, a hold that does
    /// not outlast a call of `timeouts`.
    pub fn validate(&self, provider: &str, timeouts: &Timeouts) -> Result<(), String> {
        if !self.requests_per_second.is_finite() || self.requests_per_second < 0.0 {
            return Err(format!(
                "providers.{provider}.limits.requests_per_second must be a number >= 0"
            ));
        }
        if self.burst == 0 {
            return Err(format!(
                "providers.{provider}.limits.burst must be at least 1"
            ));
        }
        let longest = timeouts.connect_ms
            + timeouts
                .create_ms
                .max(timeouts.status_ms)
                .max(timeouts.account_ms);
        // The slot is held from before the intent until the answer is written: the call, plus
        // the writes around it, which retry Redis errors for up to ~10 s.
        let needed = longest + HOLD_MARGIN_MS;
        if self.max_in_flight > 0 && self.hold_ms < needed {
            return Err(format!(
                "providers.{provider}.limits.hold_ms ({}) must be at least {needed} ms: connect + the longest timeout ({longest} ms) + {HOLD_MARGIN_MS} ms for the writes around the call",
                self.hold_ms
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod limits_tests {
    use super::*;

    #[test]
    fn default_limits_are_off_and_valid() {
        let l = CallLimits::default();
        assert!(l.is_unlimited());
        assert_eq!(l.interval_us(), 0);
        assert!(l.validate("camoo", &Timeouts::default()).is_ok());
    }

    #[test]
    fn interval_follows_the_rate() {
        let l = |rps| CallLimits {
            requests_per_second: rps,
            ..CallLimits::default()
        };
        assert_eq!(l(10.0).interval_us(), 100_000);
        assert_eq!(l(0.5).interval_us(), 2_000_000);
        assert_eq!(l(3.0).interval_us(), 333_333);
        assert_eq!(l(1e9).interval_us(), 1);
        assert!(!l(10.0).is_unlimited());
    }

    #[test]
    fn bad_limits_are_refused() {
        let t = Timeouts::default();
        let bad = [
            CallLimits {
                requests_per_second: -1.0,
                ..CallLimits::default()
            },
            CallLimits {
                requests_per_second: f64::NAN,
                ..CallLimits::default()
            },
            CallLimits {
                burst: 0,
                ..CallLimits::default()
            },
            CallLimits {
                max_in_flight: 4,
                hold_ms: 1_000,
                ..CallLimits::default()
            },
        ];
        for l in bad {
            assert!(l.validate("camoo", &t).is_err(), "{l:?}");
        }
        // The slot must outlast the longest call and the writes around it.
        let longest = t.connect_ms + t.create_ms.max(t.status_ms).max(t.account_ms);
        let hold = |hold_ms| CallLimits {
            max_in_flight: 2,
            hold_ms,
            ..CallLimits::default()
        };
        assert!(hold(longest + HOLD_MARGIN_MS).validate("camoo", &t).is_ok());
        assert!(
            hold(longest + HOLD_MARGIN_MS - 1)
                .validate("camoo", &t)
                .is_err()
        );
    }
}
