//! The OMNO flow: `POST /public/payout` (payoutId stored the moment it arrives; a lost answer is
//! parked, never resent, since OMNO does not dedupe `orderId`) → `submitted` → confirm, right
//! away (`approval: auto`) or after `POST …/approve` (`manual`) → status reads until final.
//! A confirm whose answer was lost is settled by reading the payout: still waiting for
//! confirmation means it did not apply. Webhooks only make the next read due now.

use crate::driver::{Driver, OmnoSetup, StepReport, apply, park_entry};
use crate::schedule::{equal_jitter, exponential, full_jitter};
use cashout_core::Disposition;
use cashout_core::HistoryKind;
use cashout_core::{
    Approval, Cashout, Event, HistoryEntry, OmnoRecipient, ParkReason, Recipient, State,
    SubmitIntent,
};
use cashout_providers::omno::{CreatePayout, Payout, PayoutStatus};
use cashout_providers::{Operation, PollPolicy};
use cashout_store::{Change, Modified, StoreError};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tracing::{info, warn};

/// Applies a payout reading to a confirmed (or being-confirmed) submitted cashout.
fn apply_reading(
    r: &mut Cashout,
    p: &Payout,
    poll: &PollPolicy,
    now: DateTime<Utc>,
) -> Vec<HistoryEntry> {
    let mut entries = Vec::new();
    if r.provider_status.as_deref() != Some(p.status.as_str()) {
        let mut cause = format!("omno status {}", p.status);
        if let Some(c) = p.conversion() {
            cause.push_str(&format!(" (converted: {c})"));
        }
        entries.push(r.entry(now, HistoryKind::ProviderStatus, None, None, cause));
    }
    r.provider_status = Some(p.status.clone());
    r.attempts = 0;
    let why = p.reason().map(|x| format!(" ({x})")).unwrap_or_default();
    match p.outcome() {
        PayoutStatus::Succeeded => {
            entries.extend(apply(
                r,
                Event::ProviderConfirmed,
                format!("omno: {}", p.status),
                now,
            ));
        }
        PayoutStatus::Failed => {
            let cause = format!("omno: {}{why}", p.status);
            entries.extend(apply(r, Event::ProviderFailed, cause, now));
        }
        PayoutStatus::Rejected => {
            entries.extend(apply(
                r,
                Event::ProviderRevoked,
                format!("omno: {}", p.status),
                now,
            ));
        }
        PayoutStatus::InFlight | PayoutStatus::AwaitingConfirmation => {
            r.polls += 1;
            let since = r.polling_since.or(r.confirmed_at).unwrap_or(r.created_at);
            if (now - since).to_std().is_ok_and(|d| d >= poll.deadline()) {
                let detail = format!(
                    "no final status from omno after {}s (last: {})",
                    poll.deadline_secs, p.status
                );
                entries.push(park_entry(r, ParkReason::DeadlineExceeded, detail, now));
            } else {
                let d = equal_jitter(exponential(
                    Duration::from_millis(poll.first_delay_ms),
                    poll.factor,
                    Duration::from_millis(poll.max_delay_ms),
                    r.polls,
                ));
                r.next_action_at = Some(now + d);
            }
        }
    }
    entries
}

impl Driver {
    pub(crate) async fn omno_step(&self, rec: Cashout) -> Result<StepReport, StoreError> {
        let Some(setup) = self.providers().omno.clone() else {
            let detail = "omno is not configured".to_owned();
            return self
                .park(&rec.id, ParkReason::ProviderContract, detail)
                .await;
        };
        let Recipient::Omno(recipient) = rec.order.recipient.clone() else {
            let detail = "an omno cashout without an omno recipient".to_owned();
            return self
                .park(&rec.id, ParkReason::ProviderContract, detail)
                .await;
        };
        match (
            rec.state,
            rec.provider_ref.clone(),
            rec.submit_intent.is_some(),
        ) {
            (State::Created, None, false) => self.omno_create(&setup, rec, &recipient).await,
            (State::Created, None, true) => {
                let detail = "the create's answer was lost; OMNO has no lookup by orderId and \
                              does not dedupe it: check OMNO, then resolve or discard"
                    .to_owned();
                self.park(&rec.id, ParkReason::OutcomeUnknown, detail).await
            }
            (State::Submitted, Some(pid), _) if rec.confirmed_at.is_some() => {
                self.omno_read(&setup, rec, pid).await
            }
            (State::Submitted, Some(pid), _) if rec.confirm_intent.is_some() => {
                self.omno_read(&setup, rec, pid).await
            }
            (State::Submitted, Some(pid), _)
                if rec.order.approval == Approval::Auto || rec.approved =>
            {
                self.omno_confirm(&setup, rec, pid).await
            }
            (State::Submitted, Some(_), _) => {
                // Waiting for an operator's approve or revoke: nothing is due.
                self.update_step(&rec.id, |r, _| {
                    r.next_action_at = None;
                    Some(Vec::new())
                })
                .await
            }
            (state, pref, intent) => {
                let detail = format!(
                    "inconsistent record: state {state}, provider_ref {}, intent {intent}",
                    pref.is_some()
                );
                self.park(&rec.id, ParkReason::ProviderContract, detail)
                    .await
            }
        }
    }

    async fn omno_create(
        &self,
        setup: &OmnoSetup,
        rec: Cashout,
        recipient: &OmnoRecipient,
    ) -> Result<StepReport, StoreError> {
        // Admitted under the provider's limits before the intent (see `limits`).
        let _permit = self.admit(cashout_core::Provider::Omno).await?;
        let token = Self::token();
        let lease = self.config().lease();
        let res = self
            .update(&rec.id, false, false, |r, now| {
                if r.state != State::Created
                    || r.submit_intent.is_some()
                    || r.provider_ref.is_some()
                {
                    return Change::Skip(());
                }
                r.attempts += 1;
                r.submit_intent = Some(SubmitIntent {
                    attempt: r.attempts,
                    at: now,
                    token: token.clone(),
                });
                r.next_action_at = Some(now + lease);
                let cause = format!("creating omno payout for order {}", r.external_reference);
                Change::Write {
                    entries: vec![r.entry(now, HistoryKind::Submit, None, None, cause)],
                    value: (),
                }
            })
            .await?;
        let Modified::Written(rec, _, ()) = res else {
            return Ok(StepReport::Conflict);
        };
        let req = CreatePayout::new(
            &rec.external_reference,
            rec.order.amount,
            rec.order.currency,
            recipient,
        );
        let created = match setup.client.create(&req).await {
            Ok(c) => c,
            Err(e) => {
                return self
                    .after_error(&rec, e, Operation::CreatePayout, Some(&token), None)
                    .await;
            }
        };
        info!(payout_id = %created.payout_id, "omno created the payout");
        self.update_step(&rec.id, move |r, now| {
            if r.provider_ref.is_some() || r.state != State::Created {
                let cause = format!(
                    "omno payout {} created for an earlier attempt",
                    created.payout_id
                );
                return Some(vec![r.entry(now, HistoryKind::Note, None, None, cause)]);
            }
            r.provider_ref = Some(created.payout_id.clone());
            r.provider_status = Some(created.status.clone());
            r.submit_intent = None;
            r.submitted_at = Some(now);
            r.last_error = None;
            r.attempts = 0;
            let mut entries = Vec::new();
            if r.parked.take().is_some() {
                entries.push(r.entry(
                    now,
                    HistoryKind::Unparked,
                    None,
                    None,
                    "the create's answer arrived",
                ));
            }
            let cause = format!(
                "omno created payout {} ({})",
                created.payout_id, created.status
            );
            entries.extend(apply(r, Event::ProviderAccepted, cause, now));
            if r.order.approval.is_manual() && !r.approved {
                r.next_action_at = None;
                entries.push(r.entry(
                    now,
                    HistoryKind::Note,
                    None,
                    None,
                    "waiting for approval (manual)",
                ));
            } else {
                r.next_action_at = Some(now);
            }
            Some(entries)
        })
        .await
    }

    async fn omno_confirm(
        &self,
        setup: &OmnoSetup,
        rec: Cashout,
        payout_id: String,
    ) -> Result<StepReport, StoreError> {
        // Admitted under the provider's limits before the intent (see `limits`).
        let _permit = self.admit(cashout_core::Provider::Omno).await?;
        let token = Self::token();
        let lease = self.config().lease();
        let res = self
            .update(&rec.id, false, false, |r, now| {
                if r.confirmed_at.is_some() || r.confirm_intent.is_some() || r.state.is_terminal() {
                    return Change::Skip(());
                }
                r.confirm_intent = Some(token.clone());
                r.next_action_at = Some(now + lease);
                Change::Write {
                    entries: vec![r.entry(
                        now,
                        HistoryKind::Confirm,
                        None,
                        None,
                        "confirming the omno payout",
                    )],
                    value: (),
                }
            })
            .await?;
        let Modified::Written(rec, _, ()) = res else {
            return Ok(StepReport::Conflict);
        };
        let answer = setup.client.confirm(&payout_id).await;
        // A 409 is not taken as "already confirmed": it is an unknown outcome, settled below by
        // reading the payout.
        let confirmed = answer.is_ok();
        let poll = setup.config.poll.clone();
        let retry = setup.config.retry.clone();
        if confirmed {
            info!(%payout_id, "omno payout confirmed");
            return self
                .update_step(&rec.id, move |r, now| {
                    if r.confirm_intent.as_deref() != Some(token.as_str()) {
                        return None;
                    }
                    r.confirm_intent = None;
                    r.confirmed_at = Some(now);
                    r.polling_since = Some(now);
                    r.attempts = 0;
                    r.next_action_at =
                        Some(now + equal_jitter(Duration::from_millis(poll.first_delay_ms)));
                    Some(vec![r.entry(
                        now,
                        HistoryKind::Confirm,
                        None,
                        None,
                        "omno payout confirmed",
                    )])
                })
                .await;
        }
        let err = match answer {
            Err(e) => e,
            Ok(()) => return Ok(StepReport::Conflict),
        };
        let detail = format!("confirm: {err}");
        warn!(error = %detail, "omno confirm failed");
        let disposition = err.disposition_with(Operation::CreatePayout, &retry.refused_statuses);
        self.update_step(&rec.id, move |r, now| {
            if r.confirm_intent.as_deref() != Some(token.as_str()) {
                return None;
            }
            r.last_error = Some(detail.clone());
            r.attempts += 1;
            let delay = full_jitter(exponential(
                Duration::from_millis(retry.first_delay_ms),
                retry.factor,
                Duration::from_millis(retry.max_delay_ms),
                r.attempts.saturating_sub(1),
            ));
            Some(match &disposition {
                Disposition::NeedsOperator(reason) => {
                    r.confirm_intent = None;
                    vec![park_entry(r, *reason, detail.clone(), now)]
                }
                _ if r.attempts >= retry.max_attempts => {
                    vec![park_entry(
                        r,
                        ParkReason::RetriesExhausted,
                        detail.clone(),
                        now,
                    )]
                }
                Disposition::Retryable { .. } => {
                    // Never left: confirm again later.
                    r.confirm_intent = None;
                    r.next_action_at = Some(now + delay);
                    vec![r.entry(
                        now,
                        HistoryKind::Retry,
                        None,
                        None,
                        format!("{detail}; retry"),
                    )]
                }
                Disposition::OutcomeUnknown | Disposition::Rejected | Disposition::Locked => {
                    // Whether it applied is unknown: the next step reads the payout.
                    r.next_action_at = Some(now + delay);
                    let cause = format!("{detail}; the payout will be read to settle it");
                    vec![r.entry(now, HistoryKind::Retry, None, None, cause)]
                }
            })
        })
        .await
    }

    /// Reads the payout: after a confirm (poll), or to settle a confirm whose answer was lost.
    async fn omno_read(
        &self,
        setup: &OmnoSetup,
        rec: Cashout,
        payout_id: String,
    ) -> Result<StepReport, StoreError> {
        let deadline = setup.config.poll.deadline();
        let _permit = self.admit(cashout_core::Provider::Omno).await?;
        let payout = match setup.client.get(&payout_id).await {
            Ok(p) => p,
            Err(e) => {
                let dl = rec.confirmed_at.map(|_| deadline);
                return self.after_error(&rec, e, Operation::Read, None, dl).await;
            }
        };
        let poll = setup.config.poll.clone();
        self.update_step(&rec.id, move |r, now| {
            if r.state != State::Submitted {
                return None;
            }
            let mut entries = Vec::new();
            if r.confirmed_at.is_none() {
                if payout.outcome() == PayoutStatus::AwaitingConfirmation {
                    // The lost confirm did not apply: confirm again.
                    r.confirm_intent = None;
                    r.next_action_at = Some(now);
                    let cause = format!("omno still {}: the confirm did not apply", payout.status);
                    return Some(vec![r.entry(now, HistoryKind::Note, None, None, cause)]);
                }
                r.confirm_intent = None;
                r.confirmed_at = Some(now);
                r.polling_since = Some(now);
                let cause = format!("omno {}: the confirm had applied", payout.status);
                entries.push(r.entry(now, HistoryKind::Confirm, None, None, cause));
            }
            entries.extend(apply_reading(r, &payout, &poll, now));
            Some(entries)
        })
        .await
    }
}
