//! The OMNO flow: `POST /public/payout` (payoutId stored the moment it arrives; a lost answer is
//! parked, never resent, since OMNO does not dedupe `orderId`) → `submitted` → confirm, right
//! away (`approval: auto`) or after `POST …/approve` (`manual`, `four_eyes`) → status reads until
//! final. A confirm whose answer was lost is settled by reading the payout: still waiting for
//! confirmation means it did not apply. Webhooks only make the next read due now.

use crate::driver::{Driver, OmnoSetup, StepReport, park_entry};
use crate::flow::{Action, PayoutApi, ProviderFlow, accepted, read_answer};
use crate::schedule::{equal_jitter, exponential, full_jitter};
use cashout_core::{
    Approval, Cashout, Disposition, HistoryEntry, HistoryKind, ParkReason, Provider, Recipient,
    State,
};
use cashout_providers::omno::CreatePayout;
use cashout_providers::{Operation, PayoutOutcome, PollPolicy, ProviderError, Reading};
use cashout_store::{Change, Modified, StoreError};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tracing::{info, warn};

/// OMNO's flow over its configured adapter.
pub(crate) struct OmnoFlow<'a>(pub(crate) &'a OmnoSetup);

impl ProviderFlow for OmnoFlow<'_> {
    fn provider(&self) -> Provider {
        Provider::Omno
    }

    fn next(&self, rec: &Cashout) -> Action {
        if !matches!(rec.order.recipient, Recipient::Omno(_)) {
            return Action::park(
                ParkReason::ProviderContract,
                "an omno cashout without an omno recipient",
            );
        }
        match (
            rec.state,
            rec.provider_ref.clone(),
            rec.submit_intent.is_some(),
        ) {
            (State::Created, None, false) => Action::Submit,
            (State::Created, None, true) => Action::park(
                ParkReason::OutcomeUnknown,
                "the create's answer was lost; OMNO has no lookup by orderId and does not \
                 dedupe it: check OMNO, then resolve or discard",
            ),
            (State::Submitted, Some(reference), _)
                if rec.confirmed_at.is_some() || rec.confirm_intent.is_some() =>
            {
                Action::Read { reference }
            }
            (State::Submitted, Some(reference), _)
                if rec.order.approval == Approval::Auto || rec.approved =>
            {
                Action::Confirm { reference }
            }
            // Waiting for an operator's approve or revoke: nothing is due.
            (State::Submitted, Some(_), _) => Action::Wait,
            (state, reference, intent) => Action::inconsistent(state, reference.is_some(), intent),
        }
    }

    async fn submit(&self, driver: &Driver, rec: Cashout) -> Result<StepReport, StoreError> {
        driver.submit_once(self, rec).await
    }

    async fn read(
        &self,
        driver: &Driver,
        rec: Cashout,
        reference: String,
    ) -> Result<StepReport, StoreError> {
        driver.read_once(self, rec, &reference).await
    }

    async fn special(
        &self,
        driver: &Driver,
        rec: Cashout,
        action: Action,
    ) -> Result<StepReport, StoreError> {
        match action {
            Action::Confirm { reference } => self.confirm(driver, rec, reference).await,
            other => driver.no_such_step(rec, format!("{other:?}")).await,
        }
    }
}

impl PayoutApi for OmnoFlow<'_> {
    fn poll(&self) -> &PollPolicy {
        &self.0.config.poll
    }

    fn submit_cause(&self, rec: &Cashout) -> String {
        format!("creating omno payout for order {}", rec.external_reference)
    }

    async fn create(&self, rec: &Cashout) -> Result<Reading, ProviderError> {
        let Recipient::Omno(recipient) = &rec.order.recipient else {
            // `next` parks such a record before any create; nothing leaves.
            return Err(ProviderError::Connect("not an omno recipient".to_owned()));
        };
        let req = CreatePayout::new(
            &rec.external_reference,
            rec.order.amount,
            rec.order.currency,
            recipient,
        );
        self.0.client.create(&req).await.map(|c| Reading::from(&c))
    }

    async fn fetch(&self, reference: &str) -> Result<Reading, ProviderError> {
        self.0
            .client
            .get(reference)
            .await
            .map(|p| Reading::omno(reference, &p))
    }

    fn read_label(&self) -> &'static str {
        "omno"
    }

    /// Reads that settle a lost confirm are retried a fixed number of times; reads after the
    /// confirm until the polling deadline.
    fn read_deadline(&self, rec: &Cashout) -> Option<Duration> {
        rec.confirmed_at.map(|_| self.0.config.poll.deadline())
    }

    fn on_created(
        &self,
        r: &mut Cashout,
        reading: &Reading,
        now: DateTime<Utc>,
    ) -> Option<Vec<HistoryEntry>> {
        accepted(r, reading, now, |r| {
            if r.order.approval.is_manual() && !r.approved {
                r.next_action_at = None;
                vec![r.entry(
                    now,
                    HistoryKind::Note,
                    None,
                    None,
                    "waiting for approval (manual)",
                )]
            } else {
                r.next_action_at = Some(now);
                Vec::new()
            }
        })
    }

    fn on_read(
        &self,
        r: &mut Cashout,
        reading: &Reading,
        now: DateTime<Utc>,
    ) -> Option<Vec<HistoryEntry>> {
        on_payout_read(r, reading, self.poll(), now)
    }
}

/// Pure: a read of the payout. Before the confirm is known to have applied (its answer was
/// lost), the read settles it: still awaiting confirmation means it did not apply, so confirm
/// again; anything else means it did. Then the reading is decided as every provider's is.
pub(crate) fn on_payout_read(
    r: &mut Cashout,
    reading: &Reading,
    poll: &PollPolicy,
    now: DateTime<Utc>,
) -> Option<Vec<HistoryEntry>> {
    if r.state != State::Submitted {
        return None;
    }
    let mut entries = Vec::new();
    if r.confirmed_at.is_none() {
        if reading.outcome == PayoutOutcome::AwaitingConfirmation {
            r.confirm_intent = None;
            r.next_action_at = Some(now);
            let cause = format!("omno still {}: the confirm did not apply", reading.status);
            return Some(vec![r.entry(now, HistoryKind::Note, None, None, cause)]);
        }
        r.confirm_intent = None;
        r.confirmed_at = Some(now);
        r.polling_since = Some(now);
        let cause = format!("omno {}: the confirm had applied", reading.status);
        entries.push(r.entry(now, HistoryKind::Confirm, None, None, cause));
    }
    entries.extend(read_answer(r, reading, "omno", poll, now)?);
    Some(entries)
}

impl OmnoFlow<'_> {
    /// Confirms a created payout: its own intent first (`confirm_intent`), so a lost answer is
    /// settled by reading the payout rather than by confirming blindly again.
    async fn confirm(
        &self,
        driver: &Driver,
        rec: Cashout,
        payout_id: String,
    ) -> Result<StepReport, StoreError> {
        let setup = self.0;
        // Admitted under the provider's limits before the intent (see `limits`).
        let _permit = driver.admit(Provider::Omno).await?;
        let token = Driver::token();
        let lease = driver.config().lease();
        let res = driver
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
            return driver
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
        driver
            .update_step(&rec.id, move |r, now| {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::tests::{poll, reading};
    use cashout_core::CashoutOrder;
    use serde_json::json;

    fn setup() -> OmnoSetup {
        let config = cashout_providers::omno::OmnoConfig {
            token: "t".to_owned().into(),
            ..Default::default()
        };
        OmnoSetup {
            client: cashout_providers::omno::OmnoClient::new(&config).unwrap(),
            config,
        }
    }

    fn cashout(approval: &str) -> Cashout {
        let order = CashoutOrder::parse(&json!({
            "idempotency_key": "k-1", "provider": "omno", "amount": 10_000, "currency": "USD",
            "approval": approval,
            "recipient": {
                "external_user_id": "u-1", "first_name": "John", "last_name": "Doe",
                "email": "john.doe@example.com", "phone_number": "1 1234567890",
                "date_of_birth": "1990-12-01", "kyc_verified": false,
                "billing": {"address": "123 Main St", "city": "Atlanta", "state": "GA",
                            "country_code": "US", "postal_code": "30308"}
            }
        }))
        .unwrap();
        Cashout::new(order, cashout_core::TraceId::generate(), Utc::now())
    }

    fn created(flow: &OmnoFlow<'_>, approval: &str) -> Cashout {
        let mut r = cashout(approval);
        let now = Utc::now();
        crate::flow::intent(&mut r, "t", Duration::from_secs(1), now).unwrap();
        flow.on_created(
            &mut r,
            &reading("p-1", "CREATED", PayoutOutcome::AwaitingConfirmation),
            now,
        )
        .unwrap();
        r
    }

    #[test]
    fn next_confirms_at_once_or_after_an_approve() {
        let s = setup();
        let flow = OmnoFlow(&s);
        assert_eq!(flow.next(&cashout("auto")), Action::Submit);
        let confirm = Action::Confirm {
            reference: "p-1".into(),
        };
        assert_eq!(flow.next(&created(&flow, "auto")), confirm);
        let mut manual = created(&flow, "manual");
        assert_eq!(flow.next(&manual), Action::Wait);
        assert_eq!(manual.next_action_at, None, "nothing due until an approve");
        manual.approved = true;
        assert_eq!(flow.next(&manual), confirm);
        assert_eq!(flow.next(&created(&flow, "four_eyes")), Action::Wait);
        // A confirm sent (answer unknown) or applied: read the payout, never confirm blindly.
        manual.confirm_intent = Some("c".into());
        assert_eq!(
            flow.next(&manual),
            Action::Read {
                reference: "p-1".into()
            }
        );
        // A create in doubt: OMNO does not dedupe orderId, so it is never sent again.
        let mut lost = cashout("auto");
        crate::flow::intent(&mut lost, "t", Duration::from_secs(1), Utc::now()).unwrap();
        assert!(matches!(
            flow.next(&lost),
            Action::Park {
                reason: ParkReason::OutcomeUnknown,
                ..
            }
        ));
    }

    #[test]
    fn a_read_settles_a_lost_confirm() {
        let s = setup();
        let flow = OmnoFlow(&s);
        let now = Utc::now();
        // Still waiting for confirmation: the confirm did not apply; confirm again now.
        let mut r = created(&flow, "auto");
        r.confirm_intent = Some("c".into());
        let waiting = reading(
            "p-1",
            "WAITING_FOR_CONFIRMATION",
            PayoutOutcome::AwaitingConfirmation,
        );
        on_payout_read(&mut r, &waiting, &poll(), now).unwrap();
        assert_eq!(r.confirm_intent, None);
        assert_eq!(r.confirmed_at, None);
        assert_eq!(r.next_action_at, Some(now));
        // Anything else: it had applied, and the reading is decided as usual.
        let mut r = created(&flow, "auto");
        r.confirm_intent = Some("c".into());
        let paid = reading("p-1", "SUCCESS", PayoutOutcome::Succeeded);
        on_payout_read(&mut r, &paid, &poll(), now).unwrap();
        assert_eq!(r.confirmed_at, Some(now));
        assert_eq!(r.state, State::Confirmed);
        let mut r = created(&flow, "auto");
        r.confirmed_at = Some(now);
        let declined = reading("p-1", "DECLINED", PayoutOutcome::Failed);
        on_payout_read(&mut r, &declined, &poll(), now).unwrap();
        assert_eq!(r.state, State::Failed);
    }
}
