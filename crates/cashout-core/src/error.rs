//! How provider errors decide what happens next. Every adapter error maps, by an exhaustive
//! match, into one [`Disposition`]; the worker acts on the disposition alone.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// What an error allows us to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Nothing reached the provider, or the call is a read: safe to repeat after a delay.
    Retryable {
        /// The provider's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// A payout-creating request may have been executed: never resend blindly; reconcile through
    /// a status read when one exists, otherwise park for an operator.
    OutcomeUnknown,
    /// The provider said no: the cashout fails, no retry.
    Rejected,
    /// The provider reports the account locked: the cashout fails, no retry.
    Locked,
    /// Only a person can fix this (credentials, balance, …): park without burning attempts.
    NeedsOperator(ParkReason),
}

/// Why a cashout sits in the dead-letter queue. Being parked is not a state: the cashout keeps
/// its state and history, and a replay resumes from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParkReason {
    /// Retryable errors kept happening until the attempts ran out.
    RetriesExhausted,
    /// A payout-creating request may have been executed and nothing can tell us.
    OutcomeUnknown,
    /// The OMT lockout guard refused an attempt that could lock the customer's account.
    OmtLockoutGuard,
    /// The provider refused our credentials (401/403).
    ProviderAuth,
    /// The merchant balance at the provider is too low (402).
    InsufficientFunds,
    /// The provider never reported a final status before the polling deadline.
    DeadlineExceeded,
    /// Delivered too many times without completing a step (a crash loop).
    Poison,
    /// The provider answered something we cannot interpret.
    ProviderContract,
    /// Two payments exist for one cashout (a create answered one, a signed notification named
    /// another, or two notifications named two): a person must check with the provider. Never
    /// replayed; resolved or discarded only.
    PossibleDoublePayout,
    /// The stored record cannot be decoded (bad header, bad JSON, too deep). The record is kept
    /// as found for an operator; never replayed automatically.
    CorruptRecord,
}

impl ParkReason {
    /// Every reason.
    pub const ALL: [ParkReason; 10] = [
        ParkReason::RetriesExhausted,
        ParkReason::OutcomeUnknown,
        ParkReason::OmtLockoutGuard,
        ParkReason::ProviderAuth,
        ParkReason::InsufficientFunds,
        ParkReason::DeadlineExceeded,
        ParkReason::Poison,
        ParkReason::ProviderContract,
        ParkReason::PossibleDoublePayout,
        ParkReason::CorruptRecord,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ParkReason::RetriesExhausted => "retries_exhausted",
            ParkReason::OutcomeUnknown => "outcome_unknown",
            ParkReason::OmtLockoutGuard => "omt_lockout_guard",
            ParkReason::ProviderAuth => "provider_auth",
            ParkReason::InsufficientFunds => "insufficient_funds",
            ParkReason::DeadlineExceeded => "deadline_exceeded",
            ParkReason::Poison => "poison",
            ParkReason::ProviderContract => "provider_contract",
            ParkReason::PossibleDoublePayout => "possible_double_payout",
            ParkReason::CorruptRecord => "corrupt_record",
        }
    }
}

impl fmt::Display for ParkReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_match_serde() {
        for r in ParkReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    #[test]
    fn all_lists_every_reason_once() {
        // Adding a variant breaks this match until it is given a place here and in `ALL`.
        let place = |r: ParkReason| match r {
            ParkReason::RetriesExhausted => 0,
            ParkReason::OutcomeUnknown => 1,
            ParkReason::OmtLockoutGuard => 2,
            ParkReason::ProviderAuth => 3,
            ParkReason::InsufficientFunds => 4,
            ParkReason::DeadlineExceeded => 5,
            ParkReason::Poison => 6,
            ParkReason::ProviderContract => 7,
            ParkReason::PossibleDoublePayout => 8,
            ParkReason::CorruptRecord => 9,
        };
        for (i, r) in ParkReason::ALL.into_iter().enumerate() {
            assert_eq!(place(r), i, "{r}");
        }
    }
}
