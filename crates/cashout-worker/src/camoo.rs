//! The Camoo flow: create (intent first; a lost answer waits for a signed notification or an
//! operator, never resent) → `submitted` → `verify` polled until a final status. A signed
//! notification naming a payment for an in-doubt create is adopted only after Camoo's own
//! `verify` agrees ([`Action::Reconcile`]).

use crate::driver::{CamooSetup, Driver, StepReport, park_entry};
use crate::flow::{Action, PayoutApi, ProviderFlow, accepted, next_poll};
use cashout_core::{
    Cashout, Disposition, HistoryEntry, HistoryKind, ParkReason, Provider, Recipient, State,
};
use cashout_providers::camoo::CreateCashout;
use cashout_providers::{Operation, PollPolicy, ProviderError, Reading};
use cashout_store::StoreError;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tracing::{info, warn};

/// Camoo's flow over its configured adapter.
pub(crate) struct CamooFlow<'a>(pub(crate) &'a CamooSetup);

impl ProviderFlow for CamooFlow<'_> {
    fn provider(&self) -> Provider {
        Provider::Camoo
    }

    fn next(&self, rec: &Cashout) -> Action {
        if !matches!(rec.order.recipient, Recipient::Camoo(_)) {
            return Action::park(
                ParkReason::ProviderContract,
                "a camoo cashout without a camoo recipient",
            );
        }
        match (
            rec.state,
            rec.provider_ref.clone(),
            rec.submit_intent.is_some(),
            rec.hinted_provider_ref.clone(),
        ) {
            // A signed notification named a payment: that is evidence a payout exists. Check it
            // before anything else, and never create while such evidence is unexamined.
            (State::Created, None, _, Some(hint)) => Action::Reconcile { hint },
            (State::Created, None, false, None) => Action::Submit,
            (State::Created, None, true, None) => Action::park(
                ParkReason::OutcomeUnknown,
                "a create was sent and its answer never recorded (worker died?); waiting for a \
                 signed Camoo notification or an operator",
            ),
            (State::Submitted, Some(reference), _, _) => Action::Read { reference },
            (state, reference, intent, _) => {
                Action::inconsistent(state, reference.is_some(), intent)
            }
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
            Action::Reconcile { hint } => self.reconcile(driver, rec, hint).await,
            other => driver.no_such_step(rec, format!("{other:?}")).await,
        }
    }
}

impl PayoutApi for CamooFlow<'_> {
    fn poll(&self) -> &PollPolicy {
        &self.0.poll
    }

    fn submit_cause(&self, _rec: &Cashout) -> String {
        "sending camoo create".to_owned()
    }

    async fn create(&self, rec: &Cashout) -> Result<Reading, ProviderError> {
        let Recipient::Camoo(recipient) = &rec.order.recipient else {
            // `next` parks such a record before any create; nothing leaves.
            return Err(ProviderError::Connect("not a camoo recipient".to_owned()));
        };
        let client = &self.0.client;
        let req = CreateCashout::new(
            rec.order.amount,
            rec.order.currency,
            recipient.phone_number.expose(),
            &rec.external_reference,
            client.notification_url(),
        );
        client.create(&req).await.map(|p| Reading::from(&p))
    }

    async fn fetch(&self, reference: &str) -> Result<Reading, ProviderError> {
        self.0
            .client
            .verify(reference)
            .await
            .map(|p| Reading::from(&p))
    }

    fn read_label(&self) -> &'static str {
        "camoo verify"
    }

    fn on_created(
        &self,
        r: &mut Cashout,
        reading: &Reading,
        now: DateTime<Utc>,
    ) -> Option<Vec<HistoryEntry>> {
        let first = Duration::from_millis(self.0.poll.first_delay_ms);
        accepted(r, reading, now, |r| {
            r.polling_since = Some(now);
            r.next_action_at = Some(now + crate::schedule::equal_jitter(first));
            Vec::new()
        })
    }
}

/// Pure: a verify of a notified payment `reading` for an in-doubt create. Adopted when it does
/// not name another reference than ours; otherwise the create stays in doubt.
pub(crate) fn on_reconciled(
    r: &mut Cashout,
    reading: &Reading,
    poll: &PollPolicy,
    now: DateTime<Utc>,
) -> Option<Vec<HistoryEntry>> {
    if r.state != State::Created || r.provider_ref.is_some() {
        return None;
    }
    // Decided on the record as it is now: if the hint changed while verify was out, or a second
    // payment was named meanwhile (parked as a possible double payout), nothing is adopted.
    let stale = r.hinted_provider_ref.as_deref() != Some(reading.reference.as_str())
        || r.parked
            .as_ref()
            .is_some_and(|p| p.reason == ParkReason::PossibleDoublePayout);
    if stale {
        let cause = format!(
            "camoo verify of notified payment {} ({}) not adopted: the record changed meanwhile",
            reading.reference, reading.status
        );
        return Some(vec![r.entry(now, HistoryKind::Note, None, None, cause)]);
    }
    let ours = reading
        .external_reference
        .as_deref()
        .is_none_or(|x| x == r.external_reference);
    if !ours {
        r.hinted_provider_ref = None;
        let detail = "a notification named a payment that carries another reference; create \
                      outcome still unknown"
            .to_owned();
        return Some(vec![park_entry(r, ParkReason::OutcomeUnknown, detail, now)]);
    }
    // Adopted as the create's own answer would be (unparking a create in doubt), then polled.
    accepted(r, reading, now, |r| {
        r.polling_since = Some(now);
        r.next_action_at = Some(now + next_poll(poll, 0));
        let cause = format!(
            "reconciled: camoo payment {} carries our reference",
            reading.reference
        );
        vec![r.entry(now, HistoryKind::Note, None, None, cause)]
    })
}

impl CamooFlow<'_> {
    /// An in-doubt create, and a signed notification named a payment: adopt it only if Camoo's
    /// own verify does not contradict it (the signed `trx` tied it to us; verify must not name
    /// another reference).
    async fn reconcile(
        &self,
        driver: &Driver,
        rec: Cashout,
        hint: String,
    ) -> Result<StepReport, StoreError> {
        let _permit = driver.admit(Provider::Camoo).await?;
        match self.fetch(&hint).await {
            Ok(reading) => {
                info!(provider_ref = %reading.reference, "notified payment verified");
                if reading
                    .external_reference
                    .as_deref()
                    .is_some_and(|x| x != rec.external_reference)
                {
                    warn!(payment = %reading.reference, "a notified payment carries another reference");
                }
                let poll = self.0.poll.clone();
                driver
                    .update_step(&rec.id, move |r, now| {
                        on_reconciled(r, &reading, &poll, now)
                    })
                    .await
            }
            Err(e) => match e.disposition(Operation::Read) {
                Disposition::Retryable { .. } => {
                    driver
                        .after_error(&rec, e, Operation::Read, None, None)
                        .await
                }
                Disposition::OutcomeUnknown
                | Disposition::Rejected
                | Disposition::Locked
                | Disposition::NeedsOperator(_) => {
                    let detail = format!("verify of the notified payment failed: {e}");
                    let hint = rec.hinted_provider_ref.clone();
                    driver
                        .update_step(&rec.id, move |r, now| {
                            // Read without a lease: another delivery may have adopted the
                            // payment (or another hint arrived) since; that one decides.
                            if r.state != State::Created
                                || r.provider_ref.is_some()
                                || r.hinted_provider_ref != hint
                            {
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
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::tests::{camoo_cashout, poll, reading};
    use cashout_providers::PayoutOutcome;

    fn setup() -> CamooSetup {
        CamooSetup {
            client: cashout_providers::camoo::CamooClient::new(
                &cashout_providers::camoo::CamooConfig {
                    api_key: "k".to_owned().into(),
                    api_secret: "s".to_owned().into(),
                    ..Default::default()
                },
            )
            .unwrap(),
            poll: poll(),
            retry: cashout_providers::RetryPolicy::default(),
            limits: cashout_providers::CallLimits::default(),
        }
    }

    #[test]
    fn next_follows_the_record() {
        let s = setup();
        let flow = CamooFlow(&s);
        let mut r = camoo_cashout();
        assert_eq!(flow.next(&r), Action::Submit);
        r.hinted_provider_ref = Some("p-9".into());
        assert_eq!(flow.next(&r), Action::Reconcile { hint: "p-9".into() });
        r.hinted_provider_ref = None;
        crate::flow::intent(&mut r, "t", Duration::from_secs(1), Utc::now());
        // A create in doubt is never sent again.
        assert!(matches!(
            flow.next(&r),
            Action::Park {
                reason: ParkReason::OutcomeUnknown,
                ..
            }
        ));
        let now = Utc::now();
        flow.on_created(
            &mut r,
            &reading("p-1", "PENDING", PayoutOutcome::InFlight),
            now,
        )
        .unwrap();
        assert_eq!(
            flow.next(&r),
            Action::Read {
                reference: "p-1".into()
            }
        );
        assert!(r.next_action_at.unwrap() > now, "the first verify waits");
        crate::flow::read_answer(
            &mut r,
            &reading("p-1", "SUCCESS", PayoutOutcome::Succeeded),
            "camoo verify",
            &poll(),
            now,
        )
        .unwrap();
        // A final cashout needs nothing, whatever its fields say.
        assert_eq!(r.state, State::Confirmed);
        assert_eq!(flow.decide(&r), Action::Wait);
    }

    #[test]
    fn a_notified_payment_is_adopted_only_with_our_reference() {
        let now = Utc::now();
        let mut r = camoo_cashout();
        r.hinted_provider_ref = Some("p-1".into());
        let mut theirs = reading("p-1", "SUCCESS", PayoutOutcome::Succeeded);
        theirs.external_reference = Some("someone-else".into());
        on_reconciled(&mut r, &theirs, &poll(), now).unwrap();
        assert_eq!(
            r.parked.as_ref().map(|p| p.reason),
            Some(ParkReason::OutcomeUnknown)
        );
        assert!(r.provider_ref.is_none());
        let mut r = camoo_cashout();
        r.hinted_provider_ref = Some("p-1".into());
        let mut ours = reading("p-1", "PENDING", PayoutOutcome::InFlight);
        ours.external_reference = Some(r.external_reference.clone());
        on_reconciled(&mut r, &ours, &poll(), now).unwrap();
        assert_eq!(r.state, State::Submitted);
        assert_eq!(r.provider_ref.as_deref(), Some("p-1"));
        // A second payment named while verify was out: nothing adopted, the park stays.
        let mut r = camoo_cashout();
        r.hinted_provider_ref = Some("p-1".into());
        r.park(ParkReason::PossibleDoublePayout, "p-1 and p-2".into(), now);
        on_reconciled(&mut r, &ours, &poll(), now).unwrap();
        assert!(r.provider_ref.is_none());
        assert_eq!(
            r.parked.as_ref().map(|p| p.reason),
            Some(ParkReason::PossibleDoublePayout)
        );
    }
}
