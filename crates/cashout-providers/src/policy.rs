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
