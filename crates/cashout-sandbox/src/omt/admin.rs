//! The `/_admin/omt` routes: seeding an account's pending cashout, locking an account, showing an
//! account, call counts per account (`/calls?account_id=X`) and the failure mode (`/config`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Omt;
use super::api::Endpoint;
use super::config::{OmtConfigPatch, OmtConfigView};
use super::model::{
    Account, Currency, LockReason, Pending, PendingOutcome, PendingStatus, customer_fields,
};
use crate::sim::{Admin, CodedError, Counts, Sim};

fn default_expires_in_secs() -> u64 {
    3600
}

/// Body of `POST /_admin/omt/pending`: the cashout waiting on an account (replaces any previous
/// one; the account's failed attempts and lock are kept).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPending {
    /// The account.
    pub account_id: i64,
    /// The OTP GETCTI expects.
    pub otp: i64,
    /// Amount in major units (at least 1).
    pub amount: i64,
    /// `0` LBP, `1` USD.
    pub currency: u8,
    /// First name.
    pub first_name: String,
    /// Middle name (default `""`).
    #[serde(default)]
    pub middle_name: String,
    /// Last name.
    pub last_name: String,
    /// The customer's mobile number (GETCTI shows it in full; the audit keeps its last 3 digits).
    pub mobile_number: String,
    /// Lifetime: once it is over, the next call on the account locks it (`expired`). Default 3600.
    #[serde(default = "default_expires_in_secs")]
    pub expires_in_secs: u64,
    /// What PAYCTI does once everything matches (default `success`).
    #[serde(default)]
    pub outcome: PendingOutcome,
}

impl fmt::Debug for NewPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("NewPending");
        d.field("account_id", &self.account_id)
            .field("otp", &"<redacted>")
            .field("amount", &self.amount)
            .field("currency", &self.currency);
        let names = [&*self.first_name, &self.middle_name, &self.last_name];
        customer_fields(&mut d, names, &self.mobile_number)
            .field("expires_in_secs", &self.expires_in_secs)
            .field("outcome", &self.outcome)
            .finish()
    }
}

/// Body of `POST /_admin/omt/lock`: locks an account as OMT would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockAccount {
    /// The account.
    pub account_id: i64,
    /// Which lock, hence which message calls get.
    pub reason: LockReason,
}

/// Answer of `GET /_admin/omt/accounts/{account_id}` (also of `pending` and `lock`). An account
/// never used shows 0 failed attempts, no lock and no pending cashout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// The account.
    pub account_id: i64,
    /// Failed attempts so far (reset by a successful PAYCTI).
    pub failed_attempts: u32,
    /// Why the account is locked, `null` when it is not.
    pub locked: Option<LockReason>,
    /// Its cashout, `null` when none was seeded.
    pub pending: Option<PendingView>,
}

/// The pending cashout in [`AccountView`] (no OTP, no mobile number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingView {
    /// Amount in major units.
    pub amount: i64,
    /// `0` LBP, `1` USD.
    pub currency: u8,
    /// `pending`, `paid` or `revoked`.
    pub status: PendingStatus,
    /// What PAYCTI does with it.
    pub outcome: PendingOutcome,
}

/// Answer of `GET /_admin/omt/calls[?account_id=X]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmtCallCounts {
    /// `GET GETCTI` calls (valid or not) that passed authentication.
    pub getcti: u64,
    /// `POST PAYCTI` calls that passed authentication.
    pub paycti: u64,
    /// `POST Revoke` calls that passed authentication.
    pub revoke: u64,
    /// Calls that counted as failed attempts.
    pub failed_attempts: u64,
}

impl Counts<Endpoint> for OmtCallCounts {
    fn slot(&mut self, endpoint: Endpoint) -> &mut u64 {
        match endpoint {
            Endpoint::GetCti => &mut self.getcti,
            Endpoint::PayCti => &mut self.paycti,
            Endpoint::Revoke => &mut self.revoke,
        }
    }
}

/// Query string of `GET /_admin/omt/calls`.
#[derive(Debug, Default, Deserialize)]
struct CallsFilter {
    account_id: Option<i64>,
}

fn not_an_account_id() -> CodedError {
    CodedError::invalid("account_id", "The account_id must be an integer.")
}

impl Admin for Omt {
    type ConfigPatch = OmtConfigPatch;
    type ConfigView = OmtConfigView;

    fn config_view(sim: &Sim<Self>) -> OmtConfigView {
        OmtConfigView {
            failure_mode: sim.config().failure_mode,
        }
    }

    fn bad_patch(error: serde_json::Error) -> CodedError {
        invalid_body(&error)
    }

    fn patch_config(sim: &Sim<Self>, patch: &OmtConfigPatch) -> Result<(), CodedError> {
        patch.apply(&mut sim.config_mut());
        Ok(())
    }

    fn calls_filter(uri: &Uri) -> Result<Option<i64>, CodedError> {
        let Query(filter) =
            Query::<CallsFilter>::try_from_uri(uri).map_err(|_| not_an_account_id())?;
        Ok(filter.account_id)
    }

    fn extra_routes(router: Router<Arc<Sim<Self>>>) -> Router<Arc<Sim<Self>>> {
        router
            .route("/pending", post(post_pending))
            .route("/lock", post(post_lock))
            .route("/accounts/{account_id}", get(get_account))
    }
}

fn invalid_body(error: &serde_json::Error) -> CodedError {
    CodedError::invalid("body", format!("Invalid body: {error}"))
}

fn parse_admin<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodedError> {
    serde_json::from_slice(body).map_err(|e| invalid_body(&e))
}

/// The view of account `account_id` (an account never used shows as new).
fn view(accounts: &HashMap<i64, Account>, account_id: i64) -> AccountView {
    let account = accounts.get(&account_id);
    AccountView {
        account_id,
        failed_attempts: account.map_or(0, |a| a.failed_attempts),
        locked: account.and_then(|a| a.locked),
        pending: account
            .and_then(|a| a.pending.as_ref())
            .map(|p| PendingView {
                amount: p.amount,
                currency: p.currency.code(),
                status: p.status,
                outcome: p.outcome,
            }),
    }
}

/// `POST /_admin/omt/pending`.
async fn post_pending(
    State(sim): State<Arc<Sim<Omt>>>,
    body: Bytes,
) -> Result<(StatusCode, Json<AccountView>), CodedError> {
    let new: NewPending = parse_admin(&body)?;
    let currency = Currency::from_code(i64::from(new.currency)).ok_or_else(|| {
        CodedError::invalid("currency", "The currency must be 0 (LBP) or 1 (USD).")
    })?;
    if new.amount < 1 {
        return Err(CodedError::invalid(
            "amount",
            "The amount must be at least 1.",
        ));
    }
    let expires_at = Instant::now().checked_add(Duration::from_secs(new.expires_in_secs));
    tracing::info!(pending = ?new, "omt pending cashout seeded");
    let mut ledger = sim.ledger();
    ledger.store.entry(new.account_id).or_default().pending = Some(Pending {
        otp: new.otp,
        amount: new.amount,
        currency,
        first_name: new.first_name,
        middle_name: new.middle_name,
        last_name: new.last_name,
        mobile_number: new.mobile_number,
        expires_at,
        outcome: new.outcome,
        status: PendingStatus::Pending,
    });
    Ok((
        StatusCode::CREATED,
        Json(view(&ledger.store, new.account_id)),
    ))
}

/// `POST /_admin/omt/lock`.
async fn post_lock(
    State(sim): State<Arc<Sim<Omt>>>,
    body: Bytes,
) -> Result<Json<AccountView>, CodedError> {
    let request: LockAccount = parse_admin(&body)?;
    tracing::info!(lock = ?request, "omt account locked by the admin");
    let mut ledger = sim.ledger();
    ledger.store.entry(request.account_id).or_default().locked = Some(request.reason);
    Ok(Json(view(&ledger.store, request.account_id)))
}

/// `GET /_admin/omt/accounts/{account_id}`.
async fn get_account(
    State(sim): State<Arc<Sim<Omt>>>,
    account_id: Result<Path<i64>, PathRejection>,
) -> Result<Json<AccountView>, CodedError> {
    let Path(account_id) = account_id.map_err(|_| not_an_account_id())?;
    Ok(Json(view(&sim.ledger().store, account_id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::omt::CtiInfo;

    #[test]
    fn debug_never_shows_the_otp_or_the_whole_mobile_number() {
        let new = NewPending {
            account_id: 7,
            otp: 918_273,
            amount: 100,
            currency: 1,
            first_name: "Rima".to_owned(),
            middle_name: "K".to_owned(),
            last_name: "Haddad".to_owned(),
            mobile_number: "+961 3 123 456".to_owned(),
            expires_in_secs: 60,
            outcome: PendingOutcome::Success,
        };
        let info = CtiInfo {
            name: "Rima K Haddad".to_owned(),
            amount: 100,
            currency: 1,
            currency_name: "USD".to_owned(),
            first_name: "Rima".to_owned(),
            middle_name: "K".to_owned(),
            last_name: "Haddad".to_owned(),
            mobile_number: "+961 3 123 456".to_owned(),
        };
        for shown in [format!("{new:?}"), format!("{info:?}")] {
            assert!(shown.contains("mobile_number: …456"), "{shown}");
            assert!(shown.contains("last_name: \"Haddad\""), "{shown}");
            assert!(
                !shown.contains("918273") && !shown.contains("123 456"),
                "{shown}"
            );
        }
    }
}
