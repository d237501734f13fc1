//! Camoo payouts as the simulator stores them: the store (balance, payouts, scheduled refunds),
//! amounts, phone helpers, the outcome chosen by the phone's last digit, and the `Payment` JSON
//! shown by `cashout` and `verify`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::config::{CamooConfig, balance_to_minor};
pub(crate) use crate::amount::Amount;
use crate::sim::Payouts;
pub(crate) use crate::util::{iso, last3};

/// Money, payouts and scheduled refunds: the Camoo part of the ledger.
pub(crate) struct Store {
    /// Remaining balance in hundredths of a major unit.
    pub(crate) balance_minor: i64,
    pub(crate) payouts: Payouts<Payout>,
    /// Failed payouts give their amount back at settle time: `(settle instant, minor amount)`.
    pub(crate) refunds: BinaryHeap<Reverse<(Instant, i64)>>,
}

impl Store {
    /// An empty store with `balance` major units (0, with a warning, when out of range).
    pub(crate) fn new(balance: i64) -> Self {
        let balance_minor = balance_to_minor(balance).unwrap_or_else(|| {
            tracing::warn!(balance, "camoo sandbox balance out of range; using 0");
            0
        });
        Self {
            balance_minor,
            payouts: Payouts::default(),
            refunds: BinaryHeap::new(),
        }
    }

    /// Credits back every failed payout that has settled by `now`.
    pub(crate) fn apply_refunds(&mut self, now: Instant) {
        while let Some(Reverse((at, minor))) = self.refunds.peek().copied() {
            if at > now {
                break;
            }
            self.refunds.pop();
            self.balance_minor = self.balance_minor.saturating_add(minor);
        }
    }

    /// Remaining balance in minor units, after due refunds.
    pub(crate) fn balance_minor(&mut self, now: Instant) -> i64 {
        self.apply_refunds(now);
        self.balance_minor
    }
}

/// Whether `phone` is E.164 (`+` and 8–15 digits) or a 9-digit national number.
pub(crate) fn valid_phone(phone: &str) -> bool {
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match phone.strip_prefix('+') {
        Some(rest) => (8..=15).contains(&rest.len()) && all_digits(rest),
        None => phone.len() == 9 && all_digits(phone),
    }
}

/// The phone with every digit but the last three replaced by `*` (a leading `+` is kept).
pub(crate) fn mask_phone(phone: &str) -> String {
    let total = phone.chars().filter(char::is_ascii_digit).count();
    let keep_from = total.saturating_sub(3);
    let mut seen = 0;
    phone
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen <= keep_from { '*' } else { c }
            } else {
                c
            }
        })
        .collect()
}

/// The mobile network of a Cameroonian number: `"orange"` for 69x, 655–659 and 686–689, else
/// `"MTN"` (casing as Camoo shows it).
pub(crate) fn network(phone: &str) -> &'static str {
    let national = match phone.strip_prefix("+237") {
        Some(rest) => rest,
        None => phone.strip_prefix('+').unwrap_or(phone),
    };
    let prefix = national.get(..3).unwrap_or("");
    let orange = prefix.starts_with("69")
        || matches!(prefix, "655" | "656" | "657" | "658" | "659")
        || matches!(prefix, "686" | "687" | "688" | "689");
    if orange { "orange" } else { "MTN" }
}

/// What happens to a payout, chosen by the last digit of its phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Any other digit: `PENDING`, then `CONFIRMED` after the settle delay.
    Confirmed,
    /// Digit 0: `PENDING`, then `FAILED` after the settle delay (amount refunded).
    Failed,
    /// Digit 8: `PENDING` forever.
    NeverSettles,
    /// Digit 9: `PENDING`, then `CONFIRMED` after the long-pending delay.
    LongPending,
    /// Digit 7: `UNDERINVESTIGATION`, then `success` after the settle delay.
    InvestigatedSuccess,
}

impl Outcome {
    /// The outcome for `phone` (by its last character).
    pub(crate) fn from_phone(phone: &str) -> Self {
        match phone.chars().last() {
            Some('0') => Self::Failed,
            Some('8') => Self::NeverSettles,
            Some('9') => Self::LongPending,
            Some('7') => Self::InvestigatedSuccess,
            _ => Self::Confirmed,
        }
    }

    /// Status shown before settling.
    fn interim_status(self) -> &'static str {
        match self {
            Self::InvestigatedSuccess => "UNDERINVESTIGATION",
            Self::Confirmed | Self::Failed | Self::LongPending | Self::NeverSettles => "PENDING",
        }
    }

    /// Status shown once settled (`None`: never settles).
    pub(crate) fn final_status(self) -> Option<&'static str> {
        match self {
            Self::Confirmed | Self::LongPending => Some("CONFIRMED"),
            Self::Failed => Some("FAILED"),
            Self::InvestigatedSuccess => Some("success"),
            Self::NeverSettles => None,
        }
    }

    /// Time from creation to the final status (`None`: never settles).
    pub(crate) fn settle_after(self, config: &CamooConfig) -> Option<Duration> {
        match self {
            Self::NeverSettles => None,
            Self::LongPending => Some(Duration::from_millis(config.long_pending_ms)),
            Self::Confirmed | Self::Failed | Self::InvestigatedSuccess => {
                Some(Duration::from_millis(config.settle_delay_ms))
            }
        }
    }

    /// Whether the amount goes back to the balance when the payout settles.
    pub(crate) fn refunds(self) -> bool {
        self == Self::Failed
    }
}

/// A payout as stored by the simulator (holds the full phone; never log it).
#[derive(Debug)]
pub(crate) struct Payout {
    pub(crate) id: String,
    pub(crate) external_reference: Option<String>,
    pub(crate) amount: Amount,
    pub(crate) currency: String,
    pub(crate) created_utc: DateTime<Utc>,
    pub(crate) created: Instant,
    pub(crate) phone: String,
    pub(crate) outcome: Outcome,
    pub(crate) settle_after: Option<Duration>,
    pub(crate) notification_url: Option<reqwest::Url>,
    pub(crate) notified_at: Option<DateTime<Utc>>,
}

impl Payout {
    /// Wall-clock time of the final status, if the payout ever settles.
    pub(crate) fn completed_utc(&self) -> Option<DateTime<Utc>> {
        let after = chrono::Duration::from_std(self.settle_after?).ok()?;
        self.created_utc.checked_add_signed(after)
    }

    /// `(status, completed_at)` as seen at `now`.
    fn status_at(&self, now: Instant) -> (&'static str, Option<DateTime<Utc>>) {
        match (self.outcome.final_status(), self.settle_after) {
            (Some(status), Some(after)) if now.saturating_duration_since(self.created) >= after => {
                (status, self.completed_utc())
            }
            _ => (self.outcome.interim_status(), None),
        }
    }

    /// The payment as `verify` shows it at `now`.
    pub(crate) fn view_at(&self, now: Instant) -> Payment {
        let (status, completed) = self.status_at(now);
        self.view(status, completed)
    }

    /// The payment as the `cashout` answer shows it: always `PENDING`.
    pub(crate) fn created_view(&self) -> Payment {
        self.view("PENDING", None)
    }

    fn view(&self, status: &str, completed: Option<DateTime<Utc>>) -> Payment {
        Payment {
            id: self.id.clone(),
            external_reference: self.external_reference.clone(),
            amount: self.amount.to_string(),
            currency: self.currency.clone(),
            created_at: self.created_utc.timestamp(),
            network: network(&self.phone).to_owned(),
            status: status.to_owned(),
            fees: "0".to_owned(),
            completed_at: completed.map(iso),
            notified_at: self.notified_at.map(iso),
            phone_number: mask_phone(&self.phone),
            country: "CM".to_owned(),
            net_amount: self.amount.to_string(),
        }
    }
}

/// The Camoo `Payment` object (the `cashOut` of a create, the `verify` of a verify).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Server id (a UUID), the key of `verify`.
    pub id: String,
    /// The client's reference, if it sent one.
    pub external_reference: Option<String>,
    /// Amount in major units, as a string.
    pub amount: String,
    /// Currency code.
    pub currency: String,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// `"MTN"` or `"orange"`.
    pub network: String,
    /// `PENDING`, `UNDERINVESTIGATION`, `CONFIRMED`, `success`, `FAILED`.
    pub status: String,
    /// Always `"0"`.
    pub fees: String,
    /// ISO-8601 time of the final status, `null` until then.
    pub completed_at: Option<String>,
    /// ISO-8601 time a notification was acknowledged with HTTP 200, else `null`.
    pub notified_at: Option<String>,
    /// Masked phone: every digit but the last three replaced by `*`.
    pub phone_number: String,
    /// Always `"CM"`.
    pub country: String,
    /// Amount minus fees, as a string.
    pub net_amount: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert!(valid_phone("+237612345678"));
        assert!(valid_phone("612345678"));
        assert!(valid_phone("+12345678"));
        assert!(!valid_phone("+1234567"));
        assert!(!valid_phone("+1234567890123456"));
        assert!(!valid_phone("61234567"));
        assert!(!valid_phone("+2376123a5678"));
        assert_eq!(mask_phone("+237612345678"), "+*********678");
        assert_eq!(mask_phone("612345678"), "******678");
        assert_eq!(last3("+237612345678"), "678");
        assert_eq!(network("+237691234567"), "orange");
        assert_eq!(network("655123456"), "orange");
        assert_eq!(network("+237671234567"), "MTN");
        assert_eq!(Outcome::from_phone("+237612345670"), Outcome::Failed);
        assert_eq!(
            Outcome::from_phone("+237612345677"),
            Outcome::InvestigatedSuccess
        );
        assert_eq!(Outcome::from_phone("+237612345678"), Outcome::NeverSettles);
        assert_eq!(Outcome::from_phone("+237612345679"), Outcome::LongPending);
        assert_eq!(Outcome::from_phone("+237612345671"), Outcome::Confirmed);
    }
}
