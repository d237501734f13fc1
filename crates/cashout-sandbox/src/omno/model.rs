//! OMNO payouts as the simulator stores them: the outcome chosen by the customer's
//! `externalUserId`, the status life computed from the confirm time, the currency conversion, and
//! the payout JSON shown by `GET /public/payout/{payoutId}`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Number;
use tokio::time::Instant;

use crate::amount::Amount;
use crate::util::iso;

/// Status of a payout right after `POST /public/payout` (only ever shown in that answer).
pub(crate) const CREATED: &str = "CREATED";
/// Status of a created payout as reads show it until it is confirmed or rejected.
pub(crate) const WAITING_FOR_CONFIRMATION: &str = "WAITING_FOR_CONFIRMATION";
/// Status after confirm, until the payout settles.
pub(crate) const PENDING: &str = "PENDING";
/// Final: rejected before confirm.
pub(crate) const REJECTED: &str = "REJECTED";
/// Final: paid.
pub(crate) const SUCCESS: &str = "SUCCESS";
/// Final: declined (`statusReason` says why).
pub(crate) const DECLINED: &str = "DECLINED";
/// Final: failed.
pub(crate) const FAILED: &str = "FAILED";
/// Not a documented status: shown for a while by the "unknown status" outcome.
pub(crate) const ON_HOLD: &str = "ON_HOLD";

/// `statusReason.detailedStatus` of a declined payout.
pub(crate) const NO_PROVIDER_AVAILABLE: &str = "NO_PROVIDER_AVAILABLE";

/// The fixed rate of a conversion, in tenths: 1 unit of any currency = 0.9 of the target.
const RATE_TENTHS: i64 = 9;

/// What happens to a payout once confirmed, chosen by the last character of its
/// `customer.externalUserId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Anything else: `PENDING`, then `SUCCESS` after the settle delay.
    Success,
    /// `0`: `PENDING`, then `DECLINED` (`NO_PROVIDER_AVAILABLE`) after the settle delay.
    Declined,
    /// `9`: `PENDING` forever.
    NeverSettles,
    /// `8`: `PENDING`, then `ON_HOLD` (not a documented status) for another settle delay, then
    /// `SUCCESS`.
    OnHoldThenSuccess,
    /// `7`: `PENDING`, then `FAILED` after the settle delay.
    Failed,
}

impl Outcome {
    /// The outcome for a customer (by the last character of `external_user_id`).
    pub(crate) fn from_external_user_id(external_user_id: &str) -> Self {
        match external_user_id.chars().last() {
            Some('0') => Self::Declined,
            Some('9') => Self::NeverSettles,
            Some('8') => Self::OnHoldThenSuccess,
            Some('7') => Self::Failed,
            _ => Self::Success,
        }
    }

    /// The status changes after confirm, as `(time since confirm, new status)`, in order.
    pub(crate) fn timeline(self, settle: Duration) -> Vec<(Duration, &'static str)> {
        let mut changes = vec![(Duration::ZERO, PENDING)];
        match self {
            Self::Success => changes.push((settle, SUCCESS)),
            Self::Declined => changes.push((settle, DECLINED)),
            Self::Failed => changes.push((settle, FAILED)),
            Self::NeverSettles => {}
            Self::OnHoldThenSuccess => {
                changes.push((settle, ON_HOLD));
                changes.push((settle.saturating_mul(2), SUCCESS));
            }
        }
        changes
    }
}

/// What a payout pays: the amount OMNO pays out, and the amount it was asked for (they differ
/// when the simulator converts currencies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Money {
    pub(crate) amount: Amount,
    pub(crate) currency: String,
    pub(crate) initial_amount: Amount,
    pub(crate) initial_currency: String,
}

impl Money {
    /// `value currency` as requested, converted into `convert_to` at the fixed rate 0.9 (rounded
    /// half up to the hundredth) unless that is already the currency.
    pub(crate) fn new(value: Amount, currency: &str, convert_to: Option<&str>) -> Self {
        let currency = currency.to_ascii_uppercase();
        let target = convert_to
            .map(str::to_ascii_uppercase)
            .filter(|target| *target != currency);
        let (amount, paid_currency) = match target {
            Some(target) => {
                let minor = value.minor().saturating_mul(RATE_TENTHS).saturating_add(5) / 10;
                (Amount::from_minor(minor.max(1)), target)
            }
            None => (value, currency.clone()),
        };
        Self {
            amount,
            currency: paid_currency,
            initial_amount: value,
            initial_currency: currency,
        }
    }
}

/// An amount as a JSON number in major units: an integer when whole (`100`), else a decimal
/// (`12.5`).
pub(crate) fn json_amount(amount: Amount) -> Number {
    let minor = amount.minor();
    if amount.is_whole() {
        return Number::from(minor / 100);
    }
    // Hundredths are exact enough in an f64 for any amount we accept (at most 15 integer digits
    // plus 2 decimals); never NaN nor infinite.
    #[allow(clippy::cast_precision_loss)]
    let major = minor as f64 / 100.0;
    Number::from_f64(major).unwrap_or_else(|| Number::from(minor / 100))
}

/// When a payout was confirmed, and the settle delay it got then.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Confirmation {
    pub(crate) at: Instant,
    pub(crate) at_utc: DateTime<Utc>,
    pub(crate) settle_after: Duration,
}

/// Where a payout stands, apart from the time-driven statuses after confirm.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stage {
    /// Created, neither confirmed nor rejected.
    Waiting,
    /// Rejected (final, nothing executed).
    Rejected { at_utc: DateTime<Utc> },
    /// Confirmed (executed): the status follows the outcome's timeline from then.
    Confirmed(Confirmation),
}

/// Why a confirm or reject was refused (`409`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Conflict {
    #[error("payout already confirmed")]
    AlreadyConfirmed,
    #[error("payout already rejected")]
    AlreadyRejected,
}

/// A payout as stored by the simulator. It keeps no personal data but the last 3 digits of the
/// customer's phone (for the audit).
#[derive(Debug)]
pub(crate) struct Payout {
    pub(crate) id: String,
    pub(crate) order_id: String,
    pub(crate) money: Money,
    pub(crate) phone_last3: String,
    pub(crate) outcome: Outcome,
    pub(crate) created_utc: DateTime<Utc>,
    pub(crate) stage: Stage,
}

impl Payout {
    /// Confirms a waiting payout.
    pub(crate) fn confirm(
        &mut self,
        at: Instant,
        at_utc: DateTime<Utc>,
        settle_after: Duration,
    ) -> Result<Confirmation, Conflict> {
        match self.stage {
            Stage::Waiting => {
                let confirmation = Confirmation {
                    at,
                    at_utc,
                    settle_after,
                };
                self.stage = Stage::Confirmed(confirmation);
                Ok(confirmation)
            }
            Stage::Confirmed(_) => Err(Conflict::AlreadyConfirmed),
            Stage::Rejected { .. } => Err(Conflict::AlreadyRejected),
        }
    }

    /// Rejects a waiting payout.
    pub(crate) fn reject(&mut self, at_utc: DateTime<Utc>) -> Result<(), Conflict> {
        match self.stage {
            Stage::Waiting => {
                self.stage = Stage::Rejected { at_utc };
                Ok(())
            }
            Stage::Confirmed(_) => Err(Conflict::AlreadyConfirmed),
            Stage::Rejected { .. } => Err(Conflict::AlreadyRejected),
        }
    }

    pub(crate) fn confirmed(&self) -> bool {
        matches!(self.stage, Stage::Confirmed(_))
    }

    pub(crate) fn rejected(&self) -> bool {
        matches!(self.stage, Stage::Rejected { .. })
    }

    /// `(status, time it took that status)` as seen at `now`.
    fn status_at(&self, now: Instant) -> (&'static str, DateTime<Utc>) {
        match self.stage {
            Stage::Waiting => (WAITING_FOR_CONFIRMATION, self.created_utc),
            Stage::Rejected { at_utc } => (REJECTED, at_utc),
            Stage::Confirmed(confirmation) => {
                let elapsed = now.saturating_duration_since(confirmation.at);
                let (offset, status) = self
                    .outcome
                    .timeline(confirmation.settle_after)
                    .into_iter()
                    .take_while(|(offset, _)| *offset <= elapsed)
                    .last()
                    .unwrap_or((Duration::ZERO, PENDING));
                let since = chrono::Duration::from_std(offset)
                    .ok()
                    .and_then(|offset| confirmation.at_utc.checked_add_signed(offset))
                    .unwrap_or(confirmation.at_utc);
                (status, since)
            }
        }
    }

    /// The payout as `GET /public/payout/{payoutId}` shows it at `now`.
    pub(crate) fn view_at(&self, now: Instant) -> PayoutView {
        let (status, updated) = self.status_at(now);
        let status_reason = (status == DECLINED).then(|| StatusReason {
            reason: DECLINED.to_owned(),
            detailed_status: NO_PROVIDER_AVAILABLE.to_owned(),
        });
        PayoutView {
            payout_id: self.id.clone(),
            order_id: self.order_id.clone(),
            status: status.to_owned(),
            amount: json_amount(self.money.amount),
            currency: self.money.currency.clone(),
            initial_amount: json_amount(self.money.initial_amount),
            initial_currency: self.money.initial_currency.clone(),
            status_reason,
            created_at: iso(self.created_utc),
            updated_at: iso(updated),
        }
    }
}

/// The payout as `GET /public/payout/{payoutId}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutView {
    /// OMNO's id: 32 lowercase hex digits.
    pub payout_id: String,
    /// The merchant's `orderId`.
    pub order_id: String,
    /// `WAITING_FOR_CONFIRMATION`, `PENDING`, `SUCCESS`, `DECLINED`, `FAILED`, `REJECTED`, or
    /// the undocumented `ON_HOLD`.
    pub status: String,
    /// Amount paid out, major units (converted when the simulator converts).
    pub amount: Number,
    /// Currency paid out.
    pub currency: String,
    /// Amount requested (`value`), major units.
    pub initial_amount: Number,
    /// Currency requested.
    pub initial_currency: String,
    /// Why the payout was declined; `null` otherwise.
    pub status_reason: Option<StatusReason>,
    /// Creation time, ISO-8601 UTC.
    pub created_at: String,
    /// Time of the current status, ISO-8601 UTC.
    pub updated_at: String,
}

/// The `statusReason` of a payout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReason {
    /// E.g. `DECLINED`.
    pub reason: String,
    /// E.g. `NO_PROVIDER_AVAILABLE`.
    pub detailed_status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(minor: i64) -> Amount {
        Amount::from_minor(minor)
    }

    #[test]
    fn outcomes_by_last_character() {
        assert_eq!(Outcome::from_external_user_id("u-10"), Outcome::Declined);
        assert_eq!(Outcome::from_external_user_id("9"), Outcome::NeverSettles);
        assert_eq!(
            Outcome::from_external_user_id("abc8"),
            Outcome::OnHoldThenSuccess
        );
        assert_eq!(Outcome::from_external_user_id("x7"), Outcome::Failed);
        assert_eq!(Outcome::from_external_user_id("x1"), Outcome::Success);
        assert_eq!(Outcome::from_external_user_id("user"), Outcome::Success);
        let s = Duration::from_millis(100);
        assert_eq!(
            Outcome::OnHoldThenSuccess.timeline(s),
            [
                (Duration::ZERO, PENDING),
                (s, ON_HOLD),
                (Duration::from_millis(200), SUCCESS)
            ]
        );
        assert_eq!(
            Outcome::NeverSettles.timeline(s),
            [(Duration::ZERO, PENDING)]
        );
    }

    #[test]
    fn conversion_and_json_amounts() {
        let plain = Money::new(amount(10_000), "usd", None);
        assert_eq!(
            (plain.amount, plain.currency.as_str()),
            (amount(10_000), "USD")
        );
        assert_eq!(plain.initial_currency, "USD");
        let converted = Money::new(amount(10_000), "USD", Some("eur"));
        assert_eq!(
            (converted.amount, converted.currency.as_str()),
            (amount(9_000), "EUR")
        );
        assert_eq!(
            (
                converted.initial_amount,
                converted.initial_currency.as_str()
            ),
            (amount(10_000), "USD")
        );
        // 12.34 × 0.9 = 11.106 → 11.11; 0.01 × 0.9 → 0.01.
        assert_eq!(
            Money::new(amount(1234), "USD", Some("EUR")).amount,
            amount(1111)
        );
        assert_eq!(Money::new(amount(1), "USD", Some("EUR")).amount, amount(1));
        let same = Money::new(amount(500), "EUR", Some("EUR"));
        assert_eq!((same.amount, same.currency.as_str()), (amount(500), "EUR"));

        assert_eq!(json_amount(amount(10_000)), Number::from(100));
        assert_eq!(json_amount(amount(1250)).to_string(), "12.5");
        assert_eq!(json_amount(amount(1111)).to_string(), "11.11");
    }

    #[test]
    fn stages() {
        let now = Instant::now();
        let mut payout = Payout {
            id: "p".to_owned(),
            order_id: "o".to_owned(),
            money: Money::new(amount(100), "USD", None),
            phone_last3: "890".to_owned(),
            outcome: Outcome::Declined,
            created_utc: Utc::now(),
            stage: Stage::Waiting,
        };
        assert_eq!(payout.view_at(now).status, WAITING_FOR_CONFIRMATION);
        let settle = Duration::from_millis(100);
        assert!(payout.confirm(now, Utc::now(), settle).is_ok());
        assert_eq!(
            payout.confirm(now, Utc::now(), settle).err(),
            Some(Conflict::AlreadyConfirmed)
        );
        assert_eq!(payout.reject(Utc::now()), Err(Conflict::AlreadyConfirmed));
        let pending = payout.view_at(now + Duration::from_millis(99));
        assert_eq!(
            (pending.status.as_str(), pending.status_reason),
            (PENDING, None)
        );
        let declined = payout.view_at(now + settle);
        assert_eq!(declined.status, DECLINED);
        assert_eq!(
            declined.status_reason.map(|r| r.detailed_status),
            Some(NO_PROVIDER_AVAILABLE.to_owned())
        );

        payout.stage = Stage::Waiting;
        assert_eq!(payout.reject(Utc::now()), Ok(()));
        assert_eq!(payout.reject(Utc::now()), Err(Conflict::AlreadyRejected));
        assert_eq!(
            payout.confirm(now, Utc::now(), settle).err(),
            Some(Conflict::AlreadyRejected)
        );
        assert_eq!(payout.view_at(now).status, REJECTED);
        assert!(payout.rejected() && !payout.confirmed());
    }
}
