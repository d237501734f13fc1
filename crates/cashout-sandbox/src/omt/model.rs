//! OMT accounts as the simulator stores them (failed attempts, lock, the one pending cashout) and
//! the transition of each endpoint: a decision computed under the state lock, which the HTTP layer
//! turns into an answer and the audit.

use std::fmt;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::util::last3;

/// The failed attempt that locks an account (the real API: "after 4 failed attempts").
pub(crate) const MAX_FAILED_ATTEMPTS: u32 = 4;

/// `error` of a GETCTI on an unknown account or with a wrong OTP (wording as documented).
pub(crate) const GETCTI_NOT_FOUND: &str = "Account not found! Please check the info.";
/// `error` of a PAYCTI or Revoke with nothing to pay or revoke (wording as documented).
pub(crate) const NOT_FOUND: &str = "Account not found! Please check info.";
/// `error` of a PAYCTI whose amount, currency or name differ from the pending cashout.
pub(crate) const MISMATCH: &str = "Account details do not match! Please check info.";

/// Why an account is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockReason {
    /// The 4th failed attempt: `"Account is locked due to multiple failed attempts."`.
    MultipleFailures,
    /// The pending cashout expired: `"Account is locked, please contact support."`.
    Expired,
}

impl LockReason {
    /// The `error` OMT answers on a locked account.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::MultipleFailures => "Account is locked due to multiple failed attempts.",
            Self::Expired => "Account is locked, please contact support.",
        }
    }
}

/// What a PAYCTI on a pending cashout does once everything matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingOutcome {
    /// The payout is executed: `"Cashout Success"`.
    #[default]
    Success,
    /// Refused with `{"isSuccess": false, "value": "Cashout Failed"}` (a failed attempt); the
    /// cashout stays pending.
    Failed,
}

/// Where a pending cashout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingStatus {
    /// Waiting to be paid (or revoked).
    Pending,
    /// Paid by a PAYCTI (the payout is in the audit).
    Paid,
    /// Cancelled by a Revoke.
    Revoked,
}

/// OMT's currency codes: `0` LBP, `1` USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Currency {
    Lbp,
    Usd,
}

impl Currency {
    pub(crate) fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(Self::Lbp),
            1 => Some(Self::Usd),
            _ => None,
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Lbp => 0,
            Self::Usd => 1,
        }
    }

    /// `currencyName` of GETCTI, also the ISO-4217 code in the audit.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Lbp => "LBP",
            Self::Usd => "USD",
        }
    }
}

/// The `value` of a successful GETCTI: the pending cashout as OMT shows it to the agent.
///
/// `mobileNumber` is the customer's full number, as the real API returns it: never log it
/// (`Debug` shows only its last three digits).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CtiInfo {
    /// `"first middle last"`, or `"first last"` when there is no middle name.
    pub name: String,
    /// Amount in major units.
    pub amount: i64,
    /// `0` LBP, `1` USD.
    pub currency: u8,
    /// `"LBP"` or `"USD"`.
    pub currency_name: String,
    /// First name.
    pub first_name: String,
    /// Middle name, `""` when there is none.
    pub middle_name: String,
    /// Last name.
    pub last_name: String,
    /// The customer's full mobile number.
    pub mobile_number: String,
}

impl fmt::Debug for CtiInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("CtiInfo");
        d.field("name", &self.name)
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("currency_name", &self.currency_name);
        customer_fields(
            &mut d,
            [&self.first_name, &self.middle_name, &self.last_name],
            &self.mobile_number,
        )
        .finish()
    }
}

/// Adds a customer's `[first, middle, last]` names and the last 3 digits of their mobile number
/// (never the whole number) to a `Debug` output.
pub(crate) fn customer_fields<'d, 'a, 'b>(
    debug: &'d mut fmt::DebugStruct<'a, 'b>,
    [first, middle, last]: [&str; 3],
    mobile_number: &str,
) -> &'d mut fmt::DebugStruct<'a, 'b> {
    debug
        .field("first_name", &first)
        .field("middle_name", &middle)
        .field("last_name", &last)
        .field("mobile_number", &format_args!("…{}", last3(mobile_number)))
}

/// The cashout waiting on an account (holds the OTP and the full mobile number: never log them).
pub(crate) struct Pending {
    pub(crate) otp: i64,
    /// Major units.
    pub(crate) amount: i64,
    pub(crate) currency: Currency,
    pub(crate) first_name: String,
    pub(crate) middle_name: String,
    pub(crate) last_name: String,
    pub(crate) mobile_number: String,
    /// `None`: never expires (the requested lifetime overflowed the clock).
    pub(crate) expires_at: Option<Instant>,
    pub(crate) outcome: PendingOutcome,
    pub(crate) status: PendingStatus,
}

/// Lower case, runs of whitespace collapsed to one space, trimmed.
fn normalize_name(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Pending {
    /// The non-empty name parts joined with single spaces, in their original case.
    fn display_name(&self) -> String {
        [&self.first_name, &self.middle_name, &self.last_name]
            .iter()
            .flat_map(|part| part.split_whitespace())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether `given` is `"first middle last"` or `"first last"`, ignoring case and spacing.
    fn name_matches(&self, given: &str) -> bool {
        let given = normalize_name(given);
        let full = normalize_name(&format!(
            "{} {} {}",
            self.first_name, self.middle_name, self.last_name
        ));
        let short = normalize_name(&format!("{} {}", self.first_name, self.last_name));
        given == full || given == short
    }

    fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    fn info(&self) -> CtiInfo {
        CtiInfo {
            name: self.display_name(),
            amount: self.amount,
            currency: self.currency.code(),
            currency_name: self.currency.name().to_owned(),
            first_name: self.first_name.clone(),
            middle_name: self.middle_name.clone(),
            last_name: self.last_name.clone(),
            mobile_number: self.mobile_number.clone(),
        }
    }
}

/// A business failure, as OMT answers it (the HTTP status depends on the failure mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `error`: nothing to act on (the message differs between GETCTI and the others).
    NotFound(&'static str),
    /// `error`: [`MISMATCH`].
    Mismatch,
    /// `error`: the lock message.
    Locked(LockReason),
    /// `value`: `"Cashout Failed"`.
    CashoutFailed,
    /// `value`: `"Revoke Failed"`.
    RevokeFailed,
}

/// What a call decided, and whether it counted as a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decision<T> {
    pub(crate) result: Result<T, Refusal>,
    pub(crate) failed_attempt: bool,
}

impl<T> Decision<T> {
    fn ok(value: T) -> Self {
        Self {
            result: Ok(value),
            failed_attempt: false,
        }
    }

    fn refused(refusal: Refusal) -> Self {
        Self {
            result: Err(refusal),
            failed_attempt: false,
        }
    }
}

/// A PAYCTI body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PayOrder<'a> {
    pub(crate) amount: i64,
    pub(crate) currency: i64,
    pub(crate) customer_name: &'a str,
}

/// What an executed PAYCTI paid (for the audit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paid {
    pub(crate) amount: i64,
    pub(crate) currency: Currency,
    pub(crate) phone_last3: String,
}

/// One OMT account, created on first use.
#[derive(Default)]
pub(crate) struct Account {
    pub(crate) failed_attempts: u32,
    pub(crate) locked: Option<LockReason>,
    pub(crate) pending: Option<Pending>,
}

impl Account {
    /// Refuses calls on a locked account; locks it (`Expired`) when its pending cashout expired.
    /// Neither counts as a failed attempt.
    fn check_lock(&mut self, now: Instant) -> Result<(), Refusal> {
        if let Some(reason) = self.locked {
            return Err(Refusal::Locked(reason));
        }
        let expired = self
            .pending
            .as_ref()
            .is_some_and(|p| p.status == PendingStatus::Pending && p.expired(now));
        if expired {
            self.locked = Some(LockReason::Expired);
            return Err(Refusal::Locked(LockReason::Expired));
        }
        Ok(())
    }

    /// Counts a failed attempt; the [`MAX_FAILED_ATTEMPTS`]th locks the account and is answered
    /// with the lock message instead of `refusal`.
    fn failed_attempt<T>(&mut self, refusal: Refusal) -> Decision<T> {
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        let refusal = if self.failed_attempts >= MAX_FAILED_ATTEMPTS {
            self.locked = Some(LockReason::MultipleFailures);
            Refusal::Locked(LockReason::MultipleFailures)
        } else {
            refusal
        };
        Decision {
            result: Err(refusal),
            failed_attempt: true,
        }
    }

    /// The pending cashout, if it is still waiting to be paid.
    fn waiting(&self) -> Option<&Pending> {
        self.pending
            .as_ref()
            .filter(|p| p.status == PendingStatus::Pending)
    }

    /// `GETCTI`: the pending cashout if `otp` is its OTP.
    pub(crate) fn get_cti(&mut self, otp: i64, now: Instant) -> Decision<CtiInfo> {
        if let Err(refusal) = self.check_lock(now) {
            return Decision::refused(refusal);
        }
        match self.waiting() {
            Some(pending) if pending.otp == otp => Decision::ok(pending.info()),
            _ => self.failed_attempt(Refusal::NotFound(GETCTI_NOT_FOUND)),
        }
    }

    /// `PAYCTI`: pays the pending cashout if the order matches it and its outcome is success.
    pub(crate) fn pay(&mut self, order: &PayOrder<'_>, now: Instant) -> Decision<Paid> {
        if let Err(refusal) = self.check_lock(now) {
            return Decision::refused(refusal);
        }
        let Some(pending) = self.waiting() else {
            return self.failed_attempt(Refusal::NotFound(NOT_FOUND));
        };
        let matches = order.amount == pending.amount
            && order.currency == i64::from(pending.currency.code())
            && pending.name_matches(order.customer_name);
        if !matches {
            return self.failed_attempt(Refusal::Mismatch);
        }
        if pending.outcome == PendingOutcome::Failed {
            return self.failed_attempt(Refusal::CashoutFailed);
        }
        let paid = Paid {
            amount: pending.amount,
            currency: pending.currency,
            phone_last3: last3(&pending.mobile_number),
        };
        if let Some(pending) = self.pending.as_mut() {
            pending.status = PendingStatus::Paid;
        }
        self.failed_attempts = 0;
        Decision::ok(paid)
    }

    /// `Revoke`: cancels the pending cashout. Never a failed attempt.
    pub(crate) fn revoke(&mut self, now: Instant) -> Decision<()> {
        if let Err(refusal) = self.check_lock(now) {
            return Decision::refused(refusal);
        }
        let Some(pending) = self.pending.as_mut() else {
            return Decision::refused(Refusal::NotFound(NOT_FOUND));
        };
        match pending.status {
            PendingStatus::Pending => {
                pending.status = PendingStatus::Revoked;
                Decision::ok(())
            }
            PendingStatus::Paid => Decision::refused(Refusal::RevokeFailed),
            PendingStatus::Revoked => Decision::refused(Refusal::NotFound(NOT_FOUND)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pending(now: Instant) -> Pending {
        Pending {
            otp: 456_789,
            amount: 500,
            currency: Currency::Usd,
            first_name: "John".to_owned(),
            middle_name: "Doe".to_owned(),
            last_name: "Smith".to_owned(),
            mobile_number: "+96170123456".to_owned(),
            expires_at: Some(now + Duration::from_secs(60)),
            outcome: PendingOutcome::Success,
            status: PendingStatus::Pending,
        }
    }

    fn account(now: Instant) -> Account {
        Account {
            pending: Some(pending(now)),
            ..Account::default()
        }
    }

    fn order(name: &str) -> PayOrder<'_> {
        PayOrder {
            amount: 500,
            currency: 1,
            customer_name: name,
        }
    }

    #[test]
    fn names_match_ignoring_case_spacing_and_middle_name() {
        let p = pending(Instant::now());
        assert_eq!(p.display_name(), "John Doe Smith");
        for name in [
            "John Doe Smith",
            " john   DOE smith ",
            "John Smith",
            "JOHN\tSMITH",
        ] {
            assert!(p.name_matches(name), "{name}");
        }
        for name in ["John", "Smith John", "John Doe", "John D Smith", ""] {
            assert!(!p.name_matches(name), "{name}");
        }
        let no_middle = Pending {
            middle_name: String::new(),
            ..pending(Instant::now())
        };
        assert_eq!(no_middle.display_name(), "John Smith");
        assert!(no_middle.name_matches("john smith"));
    }

    #[test]
    fn fourth_failed_attempt_locks_and_locked_calls_do_not_count() {
        let now = Instant::now();
        let mut a = account(now);
        for n in 1..MAX_FAILED_ATTEMPTS {
            let d = a.get_cti(1, now);
            assert_eq!(d.result, Err(Refusal::NotFound(GETCTI_NOT_FOUND)));
            assert!(d.failed_attempt);
            assert_eq!(a.failed_attempts, n);
        }
        let locked = Refusal::Locked(LockReason::MultipleFailures);
        let fourth = a.pay(&order("Nobody"), now);
        assert_eq!((fourth.result, fourth.failed_attempt), (Err(locked), true));
        assert_eq!(a.locked, Some(LockReason::MultipleFailures));
        // Locked: even the right OTP and order are refused, and nothing counts any more.
        let d = a.get_cti(456_789, now);
        assert_eq!((d.result.err(), d.failed_attempt), (Some(locked), false));
        let d = a.pay(&order("John Smith"), now);
        assert_eq!((d.result.err(), d.failed_attempt), (Some(locked), false));
        assert_eq!(a.revoke(now), Decision::refused(locked));
        assert_eq!(a.failed_attempts, MAX_FAILED_ATTEMPTS);
        assert_eq!(a.waiting().map(|p| p.status), Some(PendingStatus::Pending));
    }

    #[test]
    fn expiry_locks_without_counting() {
        let now = Instant::now();
        let mut a = account(now);
        let later = now + Duration::from_secs(60);
        let d = a.get_cti(456_789, later);
        assert_eq!(d.result, Err(Refusal::Locked(LockReason::Expired)));
        assert!(!d.failed_attempt);
        assert_eq!(a.locked, Some(LockReason::Expired));
        assert_eq!(a.failed_attempts, 0);
    }

    #[test]
    fn pay_checks_then_executes_once_and_resets_failures() {
        let now = Instant::now();
        let mut a = account(now);
        let info = a.get_cti(456_789, now).result.expect("info");
        assert_eq!((info.amount, info.currency), (500, 1));
        assert_eq!(info.currency_name, "USD");
        assert!(!format!("{info:?}").contains("70123456"));

        for bad in [
            PayOrder {
                amount: 501,
                ..order("John Smith")
            },
            PayOrder {
                currency: 0,
                ..order("John Smith")
            },
            order("Jane Smith"),
        ] {
            let d = a.pay(&bad, now);
            assert_eq!((d.result, d.failed_attempt), (Err(Refusal::Mismatch), true));
        }
        assert_eq!(a.failed_attempts, 3);
        let paid = a.pay(&order("john doe smith"), now).result.expect("paid");
        assert_eq!(paid.phone_last3, "456");
        assert_eq!(paid.currency, Currency::Usd);
        assert_eq!(a.failed_attempts, 0);
        assert_eq!(
            a.pending.as_ref().map(|p| p.status),
            Some(PendingStatus::Paid)
        );
        // Nothing left to pay: a failed attempt; nor to revoke.
        let again = a.pay(&order("John Smith"), now);
        assert_eq!(again.result, Err(Refusal::NotFound(NOT_FOUND)));
        assert!(again.failed_attempt);
        assert_eq!(a.revoke(now), Decision::refused(Refusal::RevokeFailed));
        // A paid cashout never expires into a lock.
        assert!(
            a.get_cti(456_789, now + Duration::from_secs(3600))
                .failed_attempt
        );
        assert_eq!(a.locked, None);
    }

    #[test]
    fn failed_outcome_counts_and_stays_pending() {
        let now = Instant::now();
        let mut a = account(now);
        if let Some(p) = a.pending.as_mut() {
            p.outcome = PendingOutcome::Failed;
        }
        let d = a.pay(&order("John Smith"), now);
        assert_eq!(
            (d.result, d.failed_attempt),
            (Err(Refusal::CashoutFailed), true)
        );
        assert_eq!(a.waiting().map(|p| p.status), Some(PendingStatus::Pending));
    }

    #[test]
    fn revoke_outcomes() {
        let now = Instant::now();
        let mut none = Account::default();
        assert_eq!(
            none.revoke(now),
            Decision::refused(Refusal::NotFound(NOT_FOUND))
        );
        let mut a = account(now);
        assert_eq!(a.revoke(now), Decision::ok(()));
        assert_eq!(
            a.pending.as_ref().map(|p| p.status),
            Some(PendingStatus::Revoked)
        );
        assert_eq!(
            a.revoke(now),
            Decision::refused(Refusal::NotFound(NOT_FOUND))
        );
        assert_eq!(a.failed_attempts, 0);
    }
}
