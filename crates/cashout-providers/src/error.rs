//! Provider errors and their classification. The match in [`ProviderError::disposition`] is
//! exhaustive over errors and operations: adding a case forces a decision.

use cashout_core::{Disposition, ParkReason};
use std::fmt;
use std::time::Duration;

/// What kind of call failed: this decides whether repeating it is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A request that may move money (Camoo create, OMNO create, OMT PAYCTI).
    CreatePayout,
    /// A read (status, balance). Always safe to repeat.
    Read,
}

/// A failed provider call. Messages never carry credentials or full phone numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The connection was never established: the request did not leave.
    #[error("could not connect: {0}")]
    Connect(String),
    /// No answer in time; the request may have been received.
    #[error("timed out waiting for the provider")]
    Timeout,
    /// The connection broke after the request may have been sent.
    #[error("transport error: {0}")]
    Transport(String),
    /// The provider answered with an error status.
    #[error("HTTP {status}: {message}")]
    Http {
        /// The status code.
        status: u16,
        /// The provider's message (redacted).
        message: String,
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// A success status with a body we cannot read.
    #[error("unreadable answer: {0}")]
    Decode(String),
}

impl ProviderError {
    /// What the error allows, for this kind of call.
    pub fn disposition(&self, op: Operation) -> Disposition {
        self.disposition_with(op, &crate::policy::DEFAULT_REFUSED_STATUSES)
    }

    /// [`ProviderError::disposition`] where `refused` lists the HTTP statuses by which this
    /// provider refuses a payout-creating call before processing it (its
    /// `retry.refused_statuses`): those are retried, with `Retry-After`, never held in doubt.
    pub fn disposition_with(&self, op: Operation, refused: &[u16]) -> Disposition {
        use Operation::{CreatePayout, Read};
        if let (
            ProviderError::Http {
                status,
                retry_after,
                ..
            },
            CreatePayout,
        ) = (self, op)
            && refused.contains(status)
        {
            return Disposition::Retryable {
                retry_after: *retry_after,
            };
        }
        match (self, op) {
            (ProviderError::Connect(_), _) => Disposition::Retryable { retry_after: None },
            (ProviderError::Timeout | ProviderError::Transport(_), CreatePayout) => {
                Disposition::OutcomeUnknown
            }
            (ProviderError::Timeout | ProviderError::Transport(_), Read) => {
                Disposition::Retryable { retry_after: None }
            }
            (ProviderError::Decode(_), CreatePayout) => Disposition::OutcomeUnknown,
            (ProviderError::Decode(_), Read) => {
                Disposition::NeedsOperator(ParkReason::ProviderContract)
            }
            (
                ProviderError::Http {
                    status,
                    retry_after,
                    ..
                },
                op,
            ) => match (*status, op) {
                (401 | 403, _) => Disposition::NeedsOperator(ParkReason::ProviderAuth),
                (402, _) => Disposition::NeedsOperator(ParkReason::InsufficientFunds),
                // A rate limiter answers before doing anything: safe to repeat.
                (429, _) => Disposition::Retryable {
                    retry_after: *retry_after,
                },
                // A server error on a create may come after the payout was executed.
                (500..=599, CreatePayout) => Disposition::OutcomeUnknown,
                (500..=599, Read) => Disposition::Retryable {
                    retry_after: *retry_after,
                },
                // The provider refused the payout itself (validation).
                (400 | 422, CreatePayout) => Disposition::Rejected,
                // A conflict on a create most likely means the payout already exists.
                (409, CreatePayout) => Disposition::OutcomeUnknown,
                // Wrong endpoint or method (404/405/410), or a request the provider cannot take
                // (413/415…): nothing was executed, but every cashout would meet the same fate,
                // so a person must look instead of failing them all.
                (400..=499, CreatePayout) => {
                    Disposition::NeedsOperator(ParkReason::ProviderContract)
                }
                // A read refused (400, 404 for our own reference): our request or their
                // contract is off; a person must look.
                (400..=499, Read) => Disposition::NeedsOperator(ParkReason::ProviderContract),
                // 1xx/3xx/other: not part of any contract we know.
                (_, CreatePayout) => Disposition::OutcomeUnknown,
                (_, Read) => Disposition::NeedsOperator(ParkReason::ProviderContract),
            },
        }
    }

    /// A short label for metrics.
    pub fn kind(&self) -> String {
        match self {
            ProviderError::Connect(_) => "connect".to_owned(),
            ProviderError::Timeout => "timeout".to_owned(),
            ProviderError::Transport(_) => "transport".to_owned(),
            ProviderError::Http { status, .. } => format!("http_{status}"),
            ProviderError::Decode(_) => "decode".to_owned(),
        }
    }

    /// Builds the error for a reqwest failure, telling "never left" from "may have arrived".
    pub fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_connect() {
            ProviderError::Connect(short(e))
        } else if e.is_timeout() {
            ProviderError::Timeout
        } else if e.is_decode() {
            ProviderError::Decode(short(e))
        } else {
            ProviderError::Transport(short(e))
        }
    }
}

/// The error text without the URL (which could carry query parameters).
fn short(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::CreatePayout => "create",
            Operation::Read => "read",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> ProviderError {
        ProviderError::Http {
            status,
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn creates_are_never_blindly_repeated() {
        let op = Operation::CreatePayout;
        assert_eq!(
            ProviderError::Timeout.disposition(op),
            Disposition::OutcomeUnknown
        );
        assert_eq!(
            ProviderError::Transport("reset".into()).disposition(op),
            Disposition::OutcomeUnknown
        );
        for status in [500, 502, 504] {
            assert_eq!(http(status).disposition(op), Disposition::OutcomeUnknown);
        }
        // 503 is a refusal before processing by default, and in doubt when a provider's
        // configuration says otherwise.
        assert_eq!(
            http(503).disposition(op),
            Disposition::Retryable { retry_after: None }
        );
        assert_eq!(
            http(503).disposition_with(op, &[429]),
            Disposition::OutcomeUnknown
        );
        assert_eq!(
            ProviderError::Decode("x".into()).disposition(op),
            Disposition::OutcomeUnknown
        );
        assert_eq!(
            ProviderError::Connect("refused".into()).disposition(op),
            Disposition::Retryable { retry_after: None }
        );
        assert_eq!(http(400).disposition(op), Disposition::Rejected);
        assert_eq!(http(422).disposition(op), Disposition::Rejected);
        assert_eq!(http(409).disposition(op), Disposition::OutcomeUnknown);
        assert_eq!(http(302).disposition(op), Disposition::OutcomeUnknown);
        for status in [404, 405, 410, 413] {
            assert_eq!(
                http(status).disposition(op),
                Disposition::NeedsOperator(ParkReason::ProviderContract)
            );
        }
    }

    #[test]
    fn reads_are_retried() {
        let op = Operation::Read;
        assert_eq!(
            ProviderError::Timeout.disposition(op),
            Disposition::Retryable { retry_after: None }
        );
        assert_eq!(
            http(502).disposition(op),
            Disposition::Retryable { retry_after: None }
        );
    }

    #[test]
    fn operator_cases() {
        for op in [Operation::CreatePayout, Operation::Read] {
            assert_eq!(
                http(401).disposition(op),
                Disposition::NeedsOperator(ParkReason::ProviderAuth)
            );
            assert_eq!(
                http(402).disposition(op),
                Disposition::NeedsOperator(ParkReason::InsufficientFunds)
            );
            let ra = Some(Duration::from_secs(7));
            assert_eq!(
                ProviderError::Http {
                    status: 429,
                    message: String::new(),
                    retry_after: ra
                }
                .disposition(op),
                Disposition::Retryable { retry_after: ra }
            );
        }
    }

    #[test]
    fn refused_statuses_are_retried_with_retry_after() {
        let op = Operation::CreatePayout;
        let e = ProviderError::Http {
            status: 503,
            message: String::new(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            e.disposition(op),
            Disposition::Retryable {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        // A configured 4xx refusal too; a read is unaffected by the set.
        assert_eq!(
            http(425).disposition_with(op, &[425]),
            Disposition::Retryable { retry_after: None }
        );
        assert_eq!(
            http(404).disposition_with(Operation::Read, &[404]),
            Disposition::NeedsOperator(ParkReason::ProviderContract)
        );
    }

    #[test]
    fn only_statuses_that_prove_nothing_was_done_may_be_configured() {
        use crate::RetryPolicy;
        let with = |s: Vec<u16>| RetryPolicy {
            refused_statuses: s,
            ..RetryPolicy::default()
        };
        assert!(RetryPolicy::default().check().is_ok());
        assert!(with(vec![429, 503, 425]).check().is_ok());
        for bad in [500, 502, 504, 408, 409, 200, 302] {
            let e = with(vec![bad]).check().unwrap_err();
            assert!(e.contains(&bad.to_string()), "{e}");
        }
    }
}
