//! The OMT flow and its lockout guard. OMT locks a customer's account at the 4th failed attempt,
//! and only OMT support in person can unlock it, so automation must never be the cause:
//!
//! - cashouts of one account are serialised by an account lease;
//! - before every call OMT could count as a failure (GETCTI, PAYCTI) one attempt is *reserved*
//!   in Redis, and refused when `providers.omt.max_failed_attempts` (3) are counted: the cashout
//!   is parked `omt_lockout_guard`, no call made. A reservation is given back only when OMT
//!   answered something it does not count, so a worker killed mid-call leaves it counted;
//! - a lock reported by OMT marks the account locked for `lock_ttl_secs`: its other cashouts
//!   fail at once without a call; a success resets the count;
//! - GETCTI's answer is compared with the order (amount, currency, name) before PAYCTI; a
//!   mismatch fails the cashout without PAYCTI; the OTP is forgotten once GETCTI has answered;
//! - the intent and `submitted` are written before PAYCTI; PAYCTI has no status call, so a lost
//!   answer parks the cashout `outcome_unknown` in `submitted`, never resent.

use crate::driver::{Driver, OmtSetup, StepReport, apply, park_entry, refusal};
use cashout_core::{
    Cashout, Currency, Event, OmtAccountId, OmtRecipient, ParkReason, Recipient, State,
    SubmitIntent,
};
use cashout_providers::omt::{CtiDetails, OmtAnswer, OmtFailure, PayCti};
use cashout_providers::{Operation, ProviderError};
use cashout_store::{Change, Modified, StoreError};
use std::time::Duration;
use tracing::{error, info, warn};

/// How long a cashout waits before trying again when another cashout of its account is with OMT.
const ACCOUNT_BUSY_RETRY: Duration = Duration::from_secs(1);

fn omt_currency(c: Currency) -> Option<i32> {
    match c {
        Currency::Lbp => Some(0),
        Currency::Usd => Some(1),
        Currency::Xaf | Currency::Xof | Currency::Eur => None,
    }
}

/// What differs between the order and GETCTI's answer (empty when they agree).
fn mismatches(rec: &Cashout, recipient: &OmtRecipient, d: &CtiDetails) -> Vec<&'static str> {
    let mut out = Vec::new();
    let unit = 10_i64.pow(rec.order.currency.exponent());
    if d.amount.checked_mul(unit) != Some(rec.order.amount.minor()) {
        out.push("amount");
    }
    if omt_currency(rec.order.currency) != Some(d.currency) {
        out.push("currency");
    }
    if !d.name_matches(&recipient.customer_name) {
        out.push("customer name");
    }
    out
}

impl Driver {
    pub(crate) async fn omt_step(&self, rec: Cashout) -> Result<StepReport, StoreError> {
        let Some(setup) = self.providers().omt.clone() else {
            let detail = "omt is not configured".to_owned();
            return self
                .park(&rec.id, ParkReason::ProviderContract, detail)
                .await;
        };
        let Recipient::Omt(recipient) = rec.order.recipient.clone() else {
            let detail = "an omt cashout without an omt recipient".to_owned();
            return self
                .park(&rec.id, ParkReason::ProviderContract, detail)
                .await;
        };
        if rec.submit_intent.is_some() {
            let detail = "PAYCTI was sent and its answer never recorded; OMT has no status call: \
                          check with OMT, then revoke or resolve"
                .to_owned();
            return self.park(&rec.id, ParkReason::OutcomeUnknown, detail).await;
        }
        let account = recipient.account_id;
        if let Some(reason) = self.store().omt_locked(account).await? {
            let cause = format!("omt account {account} is locked ({reason}); no call made");
            return self
                .update_step(&rec.id, move |r, now| {
                    r.scrub_secrets();
                    Some(apply(r, refusal(r.state), cause.clone(), now))
                })
                .await;
        }
        let token = Self::token();
        // Not renewed: it must outlast GETCTI and PAYCTI at their longest.
        let ttl = (self.config().lease() * 2).max(setup.config.timeouts.longest() * 3);
        if !self.store().try_omt_lease(account, &token, ttl).await? {
            // Another cashout of this account is with OMT: look again shortly. Waiting is a
            // step of its own (it resets the delivery count): it is not a crash loop.
            let res = self
                .update(&rec.id, true, true, |r, now| {
                    r.next_action_at = Some(now + ACCOUNT_BUSY_RETRY);
                    Change::Write {
                        entries: Vec::new(),
                        value: (),
                    }
                })
                .await?;
            return Ok(match res {
                Modified::Written(r, ..) => StepReport::Progressed {
                    state: r.state,
                    parked: None,
                },
                Modified::Skipped(..) | Modified::NotFound => StepReport::Conflict,
            });
        }
        let result = self.omt_under_lease(&setup, rec, recipient).await;
        if let Err(e) = self.store().release_omt_lease(account, &token).await {
            warn!(error = %e, "could not release the omt account lease; it expires by itself");
        }
        result
    }

    /// Reserves an attempt or parks the cashout with the guard's reason.
    async fn omt_reserve(
        &self,
        setup: &OmtSetup,
        rec: &Cashout,
        account: OmtAccountId,
    ) -> Result<Option<StepReport>, StoreError> {
        let max = setup.config.max_failed_attempts;
        if self
            .store()
            .omt_reserve_attempt(account, max)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        warn!(%account, "omt lockout guard refused a call");
        let detail = format!(
            "{max} failed attempts are counted for omt account {account}; one more could lock \
             the customer out (OMT locks at 4): no call made"
        );
        self.park(&rec.id, ParkReason::OmtLockoutGuard, detail)
            .await
            .map(Some)
    }

    async fn omt_under_lease(
        &self,
        setup: &OmtSetup,
        rec: Cashout,
        recipient: OmtRecipient,
    ) -> Result<StepReport, StoreError> {
        let account = recipient.account_id;
        let mut omt_name: Option<String> = None;
        if rec.state == State::Created {
            let Some(otp) = recipient.otp.clone() else {
                let detail = "the OTP is gone and GETCTI has not answered".to_owned();
                return self
                    .park(&rec.id, ParkReason::ProviderContract, detail)
                    .await;
            };
            if let Some(parked) = self.omt_reserve(setup, &rec, account).await? {
                return Ok(parked);
            }
            match setup.client.get_cti(account, &otp).await {
                Err(e) => {
                    self.release_if_not_counted(account, &e).await;
                    return self.after_error(&rec, e, Operation::Read, None, None).await;
                }
                Ok(OmtAnswer::Failed(f)) => {
                    return self
                        .omt_failed(setup, &rec, account, f, "GETCTI", None)
                        .await;
                }
                Ok(OmtAnswer::Ok(details)) => {
                    self.release_best_effort(account).await;
                    let differ = mismatches(&rec, &recipient, &details);
                    if !differ.is_empty() {
                        let cause = format!(
                            "omt GETCTI answer differs from the order ({}); PAYCTI not sent",
                            differ.join(", ")
                        );
                        return self
                            .update_step(&rec.id, move |r, now| {
                                r.scrub_secrets();
                                Some(apply(r, Event::ProviderRefused, cause.clone(), now))
                            })
                            .await;
                    }
                    omt_name = Some(if details.name.trim().is_empty() {
                        recipient.customer_name.clone()
                    } else {
                        details.name.trim().to_owned()
                    });
                }
            }
        }
        // Reserve PAYCTI's attempt before the intent says it is being sent.
        if let Some(parked) = self.omt_reserve(setup, &rec, account).await? {
            return Ok(parked);
        }
        // The intent, and `submitted`, before PAYCTI leaves.
        let token = Self::token();
        let lease = self.config().lease();
        let res = self
            .update(&rec.id, false, false, |r, now| {
                if r.state.is_terminal() || r.submit_intent.is_some() {
                    return Change::Skip(());
                }
                r.scrub_secrets();
                if let Some(n) = &omt_name {
                    r.provider_customer_name = Some(n.clone());
                }
                r.attempts += 1;
                r.submit_intent = Some(SubmitIntent {
                    attempt: r.attempts,
                    at: now,
                    token: token.clone(),
                });
                r.provider_ref = Some(r.external_reference.clone());
                r.next_action_at = Some(now + lease);
                let mut entries = Vec::new();
                if r.state == State::Created {
                    r.submitted_at = Some(now);
                    let cause = format!(
                        "omt GETCTI matched the order; sending PAYCTI with receipt {}",
                        r.external_reference
                    );
                    entries.extend(apply(r, Event::ProviderAccepted, cause, now));
                } else {
                    let cause = format!("sending PAYCTI (attempt {})", r.attempts);
                    entries.push(r.entry(now, "submit", None, None, cause));
                }
                Change::Write { entries, value: () }
            })
            .await;
        let rec = match res {
            Ok(Modified::Written(rec, _, ())) => rec,
            other => {
                // Nothing was sent: give the reservation back.
                self.release_best_effort(account).await;
                return match other {
                    Err(e) => Err(e),
                    Ok(_) => Ok(StepReport::Conflict),
                };
            }
        };
        let unit = 10_i64.pow(rec.order.currency.exponent());
        let Some(currency) = omt_currency(rec.order.currency) else {
            self.release_best_effort(account).await;
            let detail = "omt pays LBP or USD only".to_owned();
            return self
                .park(&rec.id, ParkReason::ProviderContract, detail)
                .await;
        };
        let req = PayCti {
            account_id: account.get(),
            amount: rec.order.amount.minor() / unit,
            currency,
            customer_name: rec
                .provider_customer_name
                .clone()
                .unwrap_or_else(|| recipient.customer_name.clone()),
            receipt_number: rec.external_reference.clone(),
        };
        match setup.client.pay_cti(&req).await {
            Ok(OmtAnswer::Ok(())) => {
                info!(receipt = %req.receipt_number, "omt paid the cashout");
                let report = self
                    .update_step(&rec.id, move |r, now| {
                        if r.submit_intent.as_ref().is_none_or(|i| i.token != token) {
                            error!(state = %r.state,
                                "omt PAYCTI succeeded after this attempt lost the record: check it");
                            let cause = "PAYCTI succeeded for an attempt no longer on record: \
                                         an operator must check this cashout"
                                .to_owned();
                            return Some(vec![r.entry(now, "note", None, None, cause)]);
                        }
                        r.submit_intent = None;
                        r.provider_status = Some("Cashout Success".to_owned());
                        r.last_error = None;
                        r.attempts = 0;
                        let mut entries = Vec::new();
                        if r.parked.take().is_some() {
                            entries.push(r.entry(now, "unparked", None, None, "PAYCTI answered"));
                        }
                        entries.extend(apply(
                            r,
                            Event::ProviderConfirmed,
                            "omt PAYCTI: Cashout Success".to_owned(),
                            now,
                        ));
                        Some(entries)
                    })
                    .await;
                // After the outcome is recorded: OMT's count is back at zero, so is ours.
                if let Err(e) = self.store().omt_reset_failures(account).await {
                    warn!(error = %e, "could not reset the omt failure count");
                }
                report
            }
            Ok(OmtAnswer::Failed(OmtFailure::Unknown(text))) => {
                // An answer we cannot read after PAYCTI: it may have paid. Never a failure.
                let detail = format!(
                    "PAYCTI answered an unrecognised failure ({text}); OMT has no status call: \
                     check with OMT, then revoke or resolve"
                );
                self.update_step(&rec.id, move |r, now| {
                    if r.submit_intent.as_ref().is_none_or(|i| i.token != token) {
                        return None;
                    }
                    Some(vec![park_entry(
                        r,
                        ParkReason::OutcomeUnknown,
                        detail.clone(),
                        now,
                    )])
                })
                .await
            }
            Ok(OmtAnswer::Failed(f)) => {
                self.omt_failed(setup, &rec, account, f, "PAYCTI", Some(token))
                    .await
            }
            Err(e) => {
                self.release_if_not_counted(account, &e).await;
                self.after_error(&rec, e, Operation::CreatePayout, Some(&token), None)
                    .await
            }
        }
    }

    /// Gives the reservation back when the error shows OMT never handled the request: the
    /// connection never opened, or a gateway refused it (401/403/429, a 4xx without OMT's body).
    async fn release_if_not_counted(&self, account: OmtAccountId, e: &ProviderError) {
        let not_counted = match e {
            ProviderError::Connect(_) => true,
            ProviderError::Http { status, .. } => (400..500).contains(status) && *status != 408,
            ProviderError::Timeout | ProviderError::Transport(_) | ProviderError::Decode(_) => {
                false
            }
        };
        if not_counted {
            self.release_best_effort(account).await;
        }
    }

    async fn release_best_effort(&self, account: OmtAccountId) {
        if let Err(e) = self.store().omt_release_attempt(account).await {
            warn!(error = %e, %account, "could not give an omt attempt back; it stays counted");
        }
    }

    /// OMT said no: fail the cashout first, then settle the reservation and any lock mark.
    async fn omt_failed(
        &self,
        setup: &OmtSetup,
        rec: &Cashout,
        account: OmtAccountId,
        failure: OmtFailure,
        call: &'static str,
        intent: Option<String>,
    ) -> Result<StepReport, StoreError> {
        let counted = failure.counts_as_failed_attempt();
        let cause = format!(
            "omt {call}: {failure}{}",
            if counted {
                " (counted as a failed attempt)"
            } else {
                ""
            }
        );
        warn!(%account, %failure, "omt refused");
        let status = failure.to_string();
        let report = self
            .update_step(&rec.id, move |r, now| {
                if let Some(t) = &intent
                    && r.submit_intent.as_ref().is_none_or(|i| &i.token != t)
                {
                    let cause = format!("late answer of an earlier PAYCTI ignored: {cause}");
                    return Some(vec![r.entry(now, "note", None, None, cause)]);
                }
                r.scrub_secrets();
                r.submit_intent = None;
                r.last_error = Some(cause.clone());
                r.provider_status = Some(status.clone());
                if r.state.is_terminal() {
                    return Some(vec![r.entry(now, "note", None, None, cause.clone())]);
                }
                Some(apply(r, refusal(r.state), cause.clone(), now))
            })
            .await;
        if !counted {
            self.release_best_effort(account).await;
        }
        if failure.is_lock() {
            warn!(%account, %failure, "omt reports the account locked");
            let ttl = Duration::from_secs(setup.config.lock_ttl_secs);
            if let Err(e) = self
                .store()
                .omt_mark_locked(account, &failure.to_string(), ttl)
                .await
            {
                warn!(error = %e, "could not mark the omt account locked");
            }
        }
        report
    }
}
