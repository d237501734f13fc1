//! The OMT flow and its lockout guard. OMT locks a customer's account at the 4th failed attempt,
//! and only OMT support in person can unlock it, so automation must never be the cause:
//!
//! - cashouts of one account are serialised by an account lease;
//! - before every call OMT could count as a failure (GETCTI, PAYCTI) one attempt is *reserved*
//!   in Redis, and refused when `providers.omt.max_failed_attempts` (3) are counted: the cashout
//!   is parked `omt_lockout_guard`, no call made. Each reservation names its cashout and call
//!   and is marked *sent* just before its request leaves. OMT's answer settles it (counted or
//!   not); one never marked sent lapses after a lease (it provably never reached OMT); a sent
//!   one without an answer (timeout, reset, a worker killed mid-call) stays counted and is
//!   listed for an operator (`cashout dlq omt-reservations`). A success resets the answered
//!   failures, never the unresolved ones (such a request may still reach OMT after it);
//! - the account lease is as short as a cashout's lease and renewed while OMT is called, so a
//!   killed worker's account is free again within one lease;
//! - a lock reported by OMT marks the account locked for `lock_ttl_secs`: its other cashouts
//!   fail at once without a call; a success resets the count;
//! - GETCTI's answer is compared with the order (amount, currency, name) before PAYCTI; a
//!   mismatch fails the cashout without PAYCTI; the OTP is forgotten once GETCTI has answered;
//! - the intent and `submitted` are written before PAYCTI; PAYCTI has no status call, so a lost
//!   answer parks the cashout `outcome_unknown` in `submitted`, never resent.

use crate::driver::{Driver, OmtSetup, StepReport, apply, park_entry, refusal};
use crate::flow::{Action, ProviderFlow};
use cashout_core::HistoryKind;
use cashout_core::{
    Cashout, Event, OmtAccountId, OmtRecipient, ParkReason, Provider, Recipient, State,
};
use cashout_providers::omt::{OmtAnswer, OmtFailure, PayCti};
use cashout_providers::{Operation, ProviderError};
use cashout_store::{Change, Modified, StoreError};
use std::time::Duration;
use tracing::{error, info, warn};

/// How long a cashout waits before trying again when another cashout of its account is with OMT.
const ACCOUNT_BUSY_RETRY: Duration = Duration::from_secs(1);

/// OMT's flow over its configured adapter. OMT has no status call and its payout is two calls
/// under the lockout guard, so its submit step is its own ([`Driver::omt_submit`]).
pub(crate) struct OmtFlow<'a>(pub(crate) &'a OmtSetup);

impl ProviderFlow for OmtFlow<'_> {
    fn provider(&self) -> Provider {
        Provider::Omt
    }

    fn next(&self, rec: &Cashout) -> Action {
        let Recipient::Omt(recipient) = &rec.order.recipient else {
            return Action::park(
                ParkReason::ProviderContract,
                "an omt cashout without an omt recipient",
            );
        };
        if rec.submit_intent.is_some() {
            return Action::park(
                ParkReason::OutcomeUnknown,
                "PAYCTI was sent and its answer never recorded; OMT has no status call: check \
                 with OMT, then revoke or resolve",
            );
        }
        if rec.state == State::Created && recipient.otp.is_none() {
            return Action::park(
                ParkReason::ProviderContract,
                "the OTP is gone and GETCTI has not answered",
            );
        }
        Action::Submit
    }

    async fn submit(&self, driver: &Driver, rec: Cashout) -> Result<StepReport, StoreError> {
        driver.omt_submit(self.0, rec).await
    }
}

impl Driver {
    /// OMT's payout: under the account lease and the lockout guard, GETCTI (compared with the
    /// order), then the intent and `submitted`, then PAYCTI.
    pub(crate) async fn omt_submit(
        &self,
        setup: &OmtSetup,
        rec: Cashout,
    ) -> Result<StepReport, StoreError> {
        let Recipient::Omt(recipient) = rec.order.recipient.clone() else {
            let detail = "an omt cashout without an omt recipient".to_owned();
            return self
                .park(&rec.id, ParkReason::ProviderContract, detail)
                .await;
        };
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
        // As short as the cashout's lease and renewed every third of it while OMT is called,
        // so a dead holder's account is free again soon.
        let ttl = self.config().lease();
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
        let work = self.omt_under_lease(setup, rec, recipient, &token);
        tokio::pin!(work);
        let result = loop {
            tokio::select! {
                r = &mut work => break r,
                () = tokio::time::sleep(ttl / 3) => {
                    match self.store().renew_omt_lease(account, &token, ttl).await {
                        Ok(true) => {}
                        Ok(false) => warn!(%account, "the omt account lease was lost during the step"),
                        Err(e) => warn!(error = %e, %account, "could not renew the omt account lease"),
                    }
                }
            }
        };
        if let Err(e) = self.store().release_omt_lease(account, &token).await {
            warn!(error = %e, "could not release the omt account lease; it expires by itself");
        }
        result
    }

    /// Reserves an attempt for `call` (its token), or parks the cashout with the guard's
    /// reason.
    async fn omt_reserve(
        &self,
        setup: &OmtSetup,
        rec: &Cashout,
        account: OmtAccountId,
        call: &str,
    ) -> Result<Result<String, StepReport>, StoreError> {
        let max = setup.config.max_failed_attempts;
        let token = Self::token();
        // The holder marks it sent within moments; one still unsent after a lease never left.
        let unsent_expiry = self.config().lease().max(Duration::from_secs(2));
        if self
            .store()
            .omt_reserve_attempt(
                account,
                max,
                &token,
                &rec.id.to_string(),
                call,
                unsent_expiry,
            )
            .await?
            .is_some()
        {
            return Ok(Ok(token));
        }
        warn!(%account, "omt lockout guard refused a call");
        let guard = self.store().omt_guard(account).await?;
        let unresolved: Vec<String> = guard
            .reservations
            .iter()
            .filter(|r| r.sent)
            .map(|r| format!("{} of cashout {}", r.call, r.cashout_id))
            .collect();
        let detail = format!(
            "{max} failed attempts are counted for omt account {account} ({} answered as \
             failed; unresolved: {}); one more could lock the customer out (OMT locks at 4): \
             no call made",
            guard.failures,
            if unresolved.is_empty() {
                "none".to_owned()
            } else {
                unresolved.join(", ")
            }
        );
        self.park(&rec.id, ParkReason::OmtLockoutGuard, detail)
            .await
            .map(Err)
    }

    /// The next delivery tries again (a reservation lapsed before its request left).
    async fn again_soon(&self, id: &cashout_core::CashoutId) -> Result<StepReport, StoreError> {
        let res = self
            .update(id, true, true, |r, now| {
                r.next_action_at = Some(now + ACCOUNT_BUSY_RETRY);
                Change::Write {
                    entries: Vec::new(),
                    value: (),
                }
            })
            .await?;
        Ok(match res {
            Modified::Written(r, ..) => StepReport::Progressed {
                state: r.state,
                parked: None,
            },
            Modified::Skipped(..) | Modified::NotFound => StepReport::Conflict,
        })
    }

    async fn omt_under_lease(
        &self,
        setup: &OmtSetup,
        rec: Cashout,
        recipient: OmtRecipient,
        account_lease: &str,
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
            // Admitted under the provider's limits before the guard's reservation (which lapses
            // unsent after a while).
            let _permit = self.admit(cashout_core::Provider::Omt).await?;
            let reservation = match self.omt_reserve(setup, &rec, account, "GETCTI").await? {
                Ok(t) => t,
                Err(parked) => return Ok(parked),
            };
            if !self.store().omt_mark_sent(account, &reservation).await? {
                warn!(%account, "the GETCTI reservation lapsed before it was sent; not sent");
                return self.again_soon(&rec.id).await;
            }
            match setup.client.get_cti(account, &otp).await {
                Err(e) => {
                    self.settle_if_not_counted(account, &reservation, &e).await;
                    return self.after_error(&rec, e, Operation::Read, None, None).await;
                }
                Ok(OmtAnswer::Failed(f)) => {
                    return self
                        .omt_failed(setup, &rec, account, f, "GETCTI", reservation)
                        .await;
                }
                Ok(OmtAnswer::Ok(details)) => {
                    self.settle_best_effort(account, &reservation, false).await;
                    let differ = details.mismatches(
                        rec.order.amount,
                        rec.order.currency,
                        &recipient.customer_name,
                    );
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
        // Reserve PAYCTI's attempt before the intent says it is being sent; the intent carries
        // the reservation's token.
        let _permit = self.admit(cashout_core::Provider::Omt).await?;
        let token = match self.omt_reserve(setup, &rec, account, "PAYCTI").await? {
            Ok(t) => t,
            Err(parked) => return Ok(parked),
        };
        // The request, built before anything says it is being sent: an order OMT cannot pay
        // leaves no intent behind.
        let customer_name = omt_name
            .clone()
            .or_else(|| rec.provider_customer_name.clone())
            .unwrap_or_else(|| recipient.customer_name.clone());
        let Some(req) = PayCti::for_order(
            account.get(),
            rec.order.amount,
            rec.order.currency,
            customer_name,
            rec.external_reference.clone(),
        ) else {
            self.settle_best_effort(account, &token, false).await;
            let detail = "omt pays whole LBP or USD only".to_owned();
            return self
                .park(&rec.id, ParkReason::ProviderContract, detail)
                .await;
        };
        // The intent, and `submitted`, before PAYCTI leaves, while the freshest record still
        // calls for it.
        let flow = OmtFlow(setup);
        let res = self
            .write_intent(
                &rec,
                &token,
                |r| flow.decide(r) == Action::Submit,
                |r, attempt, now| {
                    r.scrub_secrets();
                    if let Some(n) = &omt_name {
                        r.provider_customer_name = Some(n.clone());
                    }
                    r.provider_ref = Some(r.external_reference.clone());
                    if r.state == State::Created {
                        r.submitted_at = Some(now);
                        let cause = format!(
                            "omt GETCTI matched the order; sending PAYCTI with receipt {}",
                            r.external_reference
                        );
                        apply(r, Event::ProviderAccepted, cause, now)
                    } else {
                        let cause = format!("sending PAYCTI (attempt {attempt})");
                        vec![r.entry(now, HistoryKind::Submit, None, None, cause)]
                    }
                },
            )
            .await;
        let rec = match res {
            Ok(Some(rec)) => rec,
            other => {
                // Nothing was sent: give the reservation back.
                self.settle_best_effort(account, &token, false).await;
                return other.map(|_| StepReport::Conflict);
            }
        };
        let Some(failures_when_sent) = self.store().omt_mark_sent_counting(account, &token).await?
        else {
            // The reservation lapsed (a long stall since it was taken): PAYCTI must not leave
            // uncounted. It has not left, so the intent is withdrawn and the next delivery
            // reserves and sends again.
            warn!(%account, "the PAYCTI reservation lapsed before it was sent; not sent");
            let cause = "PAYCTI not sent: its lockout-guard reservation lapsed first; trying again"
                .to_owned();
            return self
                .update_step(&rec.id, move |r, now| {
                    if r.submit_intent.as_ref().is_none_or(|i| i.token != token) {
                        return None;
                    }
                    r.submit_intent = None;
                    r.next_action_at = Some(now + ACCOUNT_BUSY_RETRY);
                    Some(vec![r.entry(
                        now,
                        HistoryKind::Note,
                        None,
                        None,
                        cause.clone(),
                    )])
                })
                .await;
        };
        match setup.client.pay_cti(&req).await {
            Ok(OmtAnswer::Ok(())) => {
                info!(receipt = %req.receipt_number, "omt paid the cashout");
                let reservation = token.clone();
                let report = self
                    .update_step(&rec.id, move |r, now| {
                        if r.submit_intent.as_ref().is_none_or(|i| i.token != token) {
                            error!(state = %r.state,
                                "omt PAYCTI succeeded after this attempt lost the record: check it");
                            let cause = "PAYCTI succeeded for an attempt no longer on record: \
                                         an operator must check this cashout"
                                .to_owned();
                            return Some(vec![r.entry(now, HistoryKind::Note, None, None, cause)]);
                        }
                        r.submit_intent = None;
                        r.provider_status = Some("Cashout Success".to_owned());
                        r.last_error = None;
                        r.attempts = 0;
                        let mut entries = Vec::new();
                        if r.parked.take().is_some() {
                            entries.push(r.entry(now, HistoryKind::Unparked, None, None, "PAYCTI answered"));
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
                // After the outcome is recorded: OMT's count is back at zero, so are the
                // failures it answered, while the account is still ours. Unresolved attempts of
                // other calls stay counted: they may still reach OMT after this success.
                let t = &setup.config.timeouts;
                let in_transit = Duration::from_secs(setup.config.max_transit_secs)
                    .checked_add(Duration::from_millis(
                        t.connect_ms.saturating_add(t.create_ms),
                    ))
                    .filter(|_| setup.config.max_transit_secs > 0)
                    .unwrap_or_default();
                match self
                    .store()
                    .omt_reset_after_success(
                        account,
                        account_lease,
                        &reservation,
                        failures_when_sent,
                        in_transit,
                    )
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => warn!(%account,
                        "the omt account lease lapsed before PAYCTI's success: failures not reset"),
                    Err(e) => {
                        warn!(error = %e, "could not reset the omt failure count");
                        // At least this attempt is answered: it must not look unresolved.
                        self.settle_best_effort(account, &reservation, false).await;
                    }
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
                self.omt_failed(setup, &rec, account, f, "PAYCTI", token)
                    .await
            }
            Err(e) => {
                self.settle_if_not_counted(account, &token, &e).await;
                self.after_error(&rec, e, Operation::CreatePayout, Some(&token), None)
                    .await
            }
        }
    }

    /// Settles the reservation as not counted when the error shows OMT never handled the
    /// request: the connection never opened, or a gateway refused it (401/403/429, a 4xx
    /// without OMT's body but 408 and 409, a status of `providers.omt.retry.refused_statuses` such as 503). Otherwise it stays, sent and unresolved: OMT may have counted it.
    async fn settle_if_not_counted(&self, account: OmtAccountId, token: &str, e: &ProviderError) {
        let refused = &self
            .providers()
            .retry(cashout_core::Provider::Omt)
            .refused_statuses;
        let not_counted = match e {
            ProviderError::Connect(_) => true,
            // 408 and 409 leave the outcome unknown (the create is in doubt): counted.
            ProviderError::Http { status, .. } => {
                ((400..500).contains(status) && *status != 408 && *status != 409)
                    || refused.contains(status)
            }
            ProviderError::Timeout | ProviderError::Transport(_) | ProviderError::Decode(_) => {
                false
            }
        };
        if not_counted {
            self.settle_best_effort(account, token, false).await;
        } else {
            warn!(%account, "an omt call without an answer: its attempt stays counted until \
                an operator clears it (cashout dlq omt-reservations)");
        }
    }

    async fn settle_best_effort(&self, account: OmtAccountId, token: &str, counted: bool) {
        if let Err(e) = self.store().omt_settle(account, token, counted).await {
            warn!(error = %e, %account, "could not settle an omt attempt; it stays counted");
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
        reservation: String,
    ) -> Result<StepReport, StoreError> {
        // PAYCTI's intent carries its reservation's token: an answer must belong to it.
        let intent = (call == "PAYCTI").then(|| reservation.clone());
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
                    return Some(vec![r.entry(now, HistoryKind::Note, None, None, cause)]);
                }
                r.scrub_secrets();
                r.submit_intent = None;
                r.last_error = Some(cause.clone());
                r.provider_status = Some(status.clone());
                if r.state.is_terminal() {
                    return Some(vec![r.entry(
                        now,
                        HistoryKind::Note,
                        None,
                        None,
                        cause.clone(),
                    )]);
                }
                Some(apply(r, refusal(r.state), cause.clone(), now))
            })
            .await;
        self.settle_best_effort(account, &reservation, counted)
            .await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use cashout_core::CashoutOrder;
    use chrono::Utc;
    use serde_json::json;

    fn setup() -> OmtSetup {
        let config = cashout_providers::omt::OmtConfig {
            username: "u".to_owned().into(),
            password: "p".to_owned().into(),
            ..Default::default()
        };
        OmtSetup {
            client: cashout_providers::omt::OmtClient::new(&config).unwrap(),
            config,
        }
    }

    fn cashout() -> Cashout {
        let order = CashoutOrder::parse(&json!({
            "idempotency_key": "k-1", "provider": "omt", "amount": 50_000, "currency": "USD",
            "recipient": {"account_id": 7, "otp": 123_456, "customer_name": "John Doe"}
        }))
        .unwrap();
        Cashout::new(order, cashout_core::TraceId::generate(), Utc::now())
    }

    #[test]
    fn next_never_resends_a_paycti_in_doubt() {
        let s = setup();
        let flow = OmtFlow(&s);
        let mut r = cashout();
        assert_eq!(flow.next(&r), Action::Submit);
        // Submitted without an intent (a PAYCTI refused before processing): send it again.
        let now = Utc::now();
        crate::flow::intent(&mut r, "t", Duration::from_secs(1), now).unwrap();
        assert!(matches!(
            flow.next(&r),
            Action::Park {
                reason: ParkReason::OutcomeUnknown,
                ..
            }
        ));
        r.submit_intent = None;
        r.scrub_secrets();
        r.apply(Event::ProviderAccepted, String::from("x"), now)
            .unwrap();
        assert_eq!(flow.next(&r), Action::Submit);
        // A created cashout whose OTP is gone cannot ask GETCTI.
        let mut gone = cashout();
        gone.scrub_secrets();
        assert!(matches!(
            flow.next(&gone),
            Action::Park {
                reason: ParkReason::ProviderContract,
                ..
            }
        ));
    }
}
