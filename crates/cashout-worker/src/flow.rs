//! One shape for every provider: a [`ProviderFlow`] makes *pure decisions* on the record — what
//! it needs next ([`ProviderFlow::next`] → [`Action`]) and what an answer means
//! ([`ProviderFlow::on_created`], [`ProviderFlow::on_read`]) — and the driver does the IO once,
//! generically: the intent before a payout-creating call ([`Driver::write_intent`]), the call
//! under the provider's limits, the compare-and-set write of the decision, the next delivery.
//!
//! Every provider's answer arrives as a [`Reading`] whose [`PayoutOutcome`] each adapter's
//! exhaustive status map converts into, so reads are decided by one function ([`read_answer`])
//! whatever the provider, and a create's answer by one other ([`accepted`]).
//!
//! Camoo and OMNO are [`PayoutApi`]s (one create, then status reads): their submit and read
//! steps are the driver's generic ones. What is specific stays with the provider: Camoo's
//! reconciliation of a notified payment and OMNO's confirm ([`ProviderFlow::special`]), OMT's
//! guarded GETCTI + PAYCTI under its account lease ([`ProviderFlow::submit`]).

use crate::driver::{Driver, StepReport, apply, park_entry};
use crate::schedule::{equal_jitter, exponential};
use cashout_core::{
    Cashout, Event, HistoryEntry, HistoryKind, ParkReason, Provider, State, SubmitIntent,
};
use cashout_providers::{Operation, PayoutOutcome, PollPolicy, ProviderError, Reading};
use cashout_store::{Change, Modified, StoreError, delivery};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::time::Duration;
use tracing::{error, info};

/// What a cashout needs next, decided from its record alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send the payout-creating call (its intent is written first).
    Submit,
    /// A signed notification named a payment while the create is in doubt: check it (Camoo).
    Reconcile {
        /// The notified payment.
        hint: String,
    },
    /// Confirm a created payout (OMNO).
    Confirm {
        /// The provider's payout id.
        reference: String,
    },
    /// Read the payout's status.
    Read {
        /// The provider's payout id.
        reference: String,
    },
    /// Nothing is due: an operator's approve or revoke comes next.
    Wait,
    /// A person must look.
    Park {
        /// Why.
        reason: ParkReason,
        /// What they need to know.
        detail: String,
    },
}

impl Action {
    /// Parks with `reason`.
    pub(crate) fn park(reason: ParkReason, detail: impl Into<String>) -> Self {
        Self::Park {
            reason,
            detail: detail.into(),
        }
    }

    /// Parks a record no step of its flow fits (a person must look).
    pub(crate) fn inconsistent(state: State, has_reference: bool, intent: bool) -> Self {
        Self::park(
            ParkReason::ProviderContract,
            format!(
                "inconsistent record: state {state}, provider_ref {has_reference}, intent {intent}"
            ),
        )
    }
}

/// One provider's flow: a pure decision of what the record needs next, and the steps that carry
/// it out. The driver runs every provider through [`Driver::drive`].
pub(crate) trait ProviderFlow: Sync {
    /// Which provider.
    fn provider(&self) -> Provider;

    /// Pure: what a cashout that is not final needs next ([`ProviderFlow::decide`] asks it).
    fn next(&self, rec: &Cashout) -> Action;

    /// Pure: what the record needs next; nothing for a final one. What the driver asks.
    fn decide(&self, rec: &Cashout) -> Action {
        if rec.state.is_terminal() {
            Action::Wait
        } else {
            self.next(rec)
        }
    }

    /// The payout-creating step ([`Action::Submit`]).
    fn submit(
        &self,
        driver: &Driver,
        rec: Cashout,
    ) -> impl Future<Output = Result<StepReport, StoreError>> + Send;

    /// A status read ([`Action::Read`]). A provider without one never asks for it; if it did,
    /// the cashout is parked for a person.
    fn read(
        &self,
        driver: &Driver,
        rec: Cashout,
        _reference: String,
    ) -> impl Future<Output = Result<StepReport, StoreError>> + Send {
        driver.no_such_step(rec, "a status read".to_owned())
    }

    /// Steps only this provider has ([`Action::Reconcile`], [`Action::Confirm`]). By default
    /// none: the cashout is parked for a person.
    fn special(
        &self,
        driver: &Driver,
        rec: Cashout,
        action: Action,
    ) -> impl Future<Output = Result<StepReport, StoreError>> + Send {
        driver.no_such_step(rec, format!("{action:?}"))
    }
}

/// A provider whose payout is one create call answered with the payout's reference, then status
/// reads until a final status (Camoo, OMNO): the adapter's calls and the pure decisions on their
/// answers. Such a provider's [`ProviderFlow::submit`] and [`ProviderFlow::read`] are the
/// driver's generic [`Driver::submit_once`] and [`Driver::read_once`].
pub(crate) trait PayoutApi: ProviderFlow {
    /// Its polling schedule and deadline.
    fn poll(&self) -> &PollPolicy;

    /// The history line of a create's intent (the attempt number is added).
    fn submit_cause(&self, rec: &Cashout) -> String;

    /// The payout-creating call (after its intent is on record).
    fn create(&self, rec: &Cashout) -> impl Future<Output = Result<Reading, ProviderError>> + Send;

    /// A status read.
    fn fetch(&self, reference: &str)
    -> impl Future<Output = Result<Reading, ProviderError>> + Send;

    /// How the history names a read (`camoo verify`, `omno`).
    fn read_label(&self) -> &'static str;

    /// The deadline after which failing reads park the cashout (`None`: retried a fixed number
    /// of times instead).
    fn read_deadline(&self, _rec: &Cashout) -> Option<Duration> {
        Some(self.poll().deadline())
    }

    /// Pure: the record after a create's answer. `None` leaves it as it is.
    fn on_created(
        &self,
        r: &mut Cashout,
        reading: &Reading,
        now: DateTime<Utc>,
    ) -> Option<Vec<HistoryEntry>>;

    /// Pure: the record after a status read. `None` leaves it as it is.
    fn on_read(
        &self,
        r: &mut Cashout,
        reading: &Reading,
        now: DateTime<Utc>,
    ) -> Option<Vec<HistoryEntry>> {
        read_answer(r, reading, self.read_label(), self.poll(), now)
    }
}

/// Pure: a create answered with `reading` — record the payout and go to `submitted`, then
/// `then` schedules what comes next (a read, a confirm, a wait for approval). A known payment is
/// never dropped: the same one again changes nothing, another one parks the cashout as a
/// possible double payout; an answer for a final cashout is only noted.
pub(crate) fn accepted(
    r: &mut Cashout,
    reading: &Reading,
    now: DateTime<Utc>,
    then: impl FnOnce(&mut Cashout) -> Vec<HistoryEntry>,
) -> Option<Vec<HistoryEntry>> {
    let provider = r.order.provider;
    let tied = r
        .provider_ref
        .as_deref()
        .or(r.hinted_provider_ref.as_deref());
    match tied {
        Some(known) if known == reading.reference && r.provider_ref.is_some() => return None,
        // A signed notification named this very payment: the create's answer confirms it.
        Some(_)
            if r.provider_ref.is_none()
                && r.hinted_provider_ref.as_deref() == Some(&reading.reference) => {}
        Some(known) => {
            error!(first = %known, second = %reading.reference,
                "two {provider} payments exist for one cashout: possible double payout");
            let detail = format!(
                "possible double payout: {provider} payments {known} and {} both belong to this \
                 cashout",
                reading.reference
            );
            return Some(vec![park_entry(
                r,
                ParkReason::PossibleDoublePayout,
                detail,
                now,
            )]);
        }
        None => {}
    }
    if r.state.is_terminal() {
        error!(payment = %reading.reference, state = %r.state,
            "{provider} accepted a cashout that is already final");
        let cause = format!(
            "{provider} accepted payment {} but the cashout is already {}",
            reading.reference, r.state
        );
        return Some(vec![r.entry(now, HistoryKind::Note, None, None, cause)]);
    }
    r.provider_ref = Some(reading.reference.clone());
    r.provider_status = Some(reading.status.clone());
    r.submit_intent = None;
    r.hinted_provider_ref = None;
    r.submitted_at = Some(now);
    r.last_error = None;
    let mut entries = Vec::new();
    if r.parked
        .as_ref()
        .is_some_and(|p| p.reason == ParkReason::OutcomeUnknown)
    {
        r.parked = None;
        entries.push(r.entry(
            now,
            HistoryKind::Unparked,
            None,
            None,
            "the create's answer arrived",
        ));
    }
    let cause = format!(
        "{provider} accepted: payment {} ({})",
        reading.reference, reading.status
    );
    entries.extend(apply(r, Event::ProviderAccepted, cause, now));
    r.attempts = 0;
    r.polls = 0;
    entries.extend(then(r));
    Some(entries)
}

/// Pure: a status read of a submitted cashout. Final outcomes move it through the transition
/// table; anything else polls again with backoff until the polling deadline, then parks it
/// `deadline_exceeded`.
pub(crate) fn read_answer(
    r: &mut Cashout,
    reading: &Reading,
    label: &str,
    poll: &PollPolicy,
    now: DateTime<Utc>,
) -> Option<Vec<HistoryEntry>> {
    if r.state != State::Submitted {
        return None;
    }
    let provider = r.order.provider;
    let mut entries = Vec::new();
    if r.provider_status.as_deref() != Some(reading.status.as_str()) {
        let mut cause = format!("{provider} status {}", reading.status);
        if let Some(c) = &reading.conversion {
            cause.push_str(&format!(" (converted: {c})"));
        }
        entries.push(r.entry(now, HistoryKind::ProviderStatus, None, None, cause));
    }
    r.provider_status = Some(reading.status.clone());
    r.attempts = 0;
    let why = reading
        .reason
        .as_ref()
        .map(|x| format!(" ({x})"))
        .unwrap_or_default();
    match reading.outcome {
        PayoutOutcome::Succeeded => {
            let cause = format!("{label}: {}", reading.status);
            entries.extend(apply(r, Event::ProviderConfirmed, cause, now));
        }
        PayoutOutcome::Failed => {
            let cause = format!("{label}: {}{why}", reading.status);
            entries.extend(apply(r, Event::ProviderFailed, cause, now));
        }
        PayoutOutcome::Rejected => {
            let cause = format!("{label}: {}", reading.status);
            entries.extend(apply(r, Event::ProviderRevoked, cause, now));
        }
        PayoutOutcome::InFlight | PayoutOutcome::AwaitingConfirmation => {
            r.polls += 1;
            let since = r
                .polling_since
                .or(r.confirmed_at)
                .or(r.submitted_at)
                .unwrap_or(r.created_at);
            if (now - since).to_std().is_ok_and(|d| d >= poll.deadline()) {
                let detail = format!(
                    "no final status from {provider} after {}s (last: {})",
                    poll.deadline_secs, reading.status
                );
                entries.push(park_entry(r, ParkReason::DeadlineExceeded, detail, now));
            } else {
                r.next_action_at = Some(now + next_poll(poll, r.polls));
            }
        }
    }
    Some(entries)
}

/// The tokens of the money calls `r` has in flight (a create's, an OMNO confirm's).
pub(crate) fn intents_of(r: &Cashout) -> (Option<String>, Option<String>) {
    (
        r.submit_intent.as_ref().map(|i| i.token.clone()),
        r.confirm_intent.clone(),
    )
}

/// Pure: the step `r` calls for next is a status read, which needs no lease: it may run in the
/// delivery that wrote `r` (see `delivery::allow_continue`).
pub(crate) fn reads_next<F: ProviderFlow>(flow: &F, r: &Cashout) -> bool {
    matches!(flow.decide(r), Action::Read { .. })
}

/// The wait before read number `polls` + 1: exponential with equal jitter.
pub(crate) fn next_poll(poll: &PollPolicy, polls: u32) -> Duration {
    equal_jitter(exponential(
        Duration::from_millis(poll.first_delay_ms),
        poll.factor,
        Duration::from_millis(poll.max_delay_ms),
        polls,
    ))
}

/// Pure: the intent of a payout-creating call, written before the request leaves (a crash from
/// then on leaves a cashout known to be in doubt, never one that looks unsent). `token` ties
/// every later write about the call to this attempt; the cashout is due again after `lease`
/// (a dead worker's attempt then parks it in doubt). `None` when another attempt or an answer
/// got there first.
pub(crate) fn intent(
    r: &mut Cashout,
    token: &str,
    lease: Duration,
    now: DateTime<Utc>,
) -> Option<u32> {
    if r.state.is_terminal() || r.submit_intent.is_some() || r.hinted_provider_ref.is_some() {
        return None;
    }
    r.attempts += 1;
    r.submit_intent = Some(SubmitIntent {
        attempt: r.attempts,
        at: now,
        token: token.to_owned(),
    });
    r.next_action_at = Some(now + lease);
    Some(r.attempts)
}

impl Driver {
    /// Drives one claimed cashout of `flow`'s provider one step.
    pub(crate) async fn drive<F: ProviderFlow>(
        &self,
        flow: &F,
        rec: Cashout,
    ) -> Result<StepReport, StoreError> {
        match flow.decide(&rec) {
            Action::Submit => flow.submit(self, rec).await,
            Action::Read { reference } => flow.read(self, rec, reference).await,
            // Decided on the claimed copy; decided again on the freshest record inside the
            // compare-and-set, so news written meanwhile (a signed notification's hint) is not
            // buried under a park.
            Action::Park { .. } => {
                self.update_step(&rec.id, |r, now| {
                    if r.state.is_terminal() || r.parked.is_some() {
                        return None;
                    }
                    match flow.decide(r) {
                        Action::Park { reason, detail } => {
                            Some(vec![park_entry(r, reason, detail, now)])
                        }
                        // Something changed: the next delivery decides afresh, when the
                        // writer that changed it said (or now).
                        Action::Submit
                        | Action::Reconcile { .. }
                        | Action::Confirm { .. }
                        | Action::Read { .. }
                        | Action::Wait => {
                            r.next_action_at.get_or_insert(now);
                            Some(Vec::new())
                        }
                    }
                })
                .await
            }
            Action::Wait => {
                self.update_step(&rec.id, |r, _| {
                    // Decided again on the freshest record: an approve written meanwhile (the
                    // record was read without a lease) made a step due, and must stay so.
                    if flow.decide(r) != Action::Wait {
                        return None;
                    }
                    r.next_action_at = None;
                    Some(Vec::new())
                })
                .await
            }
            action @ (Action::Reconcile { .. } | Action::Confirm { .. }) => {
                flow.special(self, rec, action).await
            }
        }
    }

    /// A step the cashout's provider does not have: parked for a person (a record that asks
    /// for it is inconsistent).
    pub(crate) async fn no_such_step(
        &self,
        rec: Cashout,
        step: String,
    ) -> Result<StepReport, StoreError> {
        let detail = format!("{} has no step {step}", rec.order.provider);
        self.park(&rec.id, ParkReason::ProviderContract, detail)
            .await
    }

    /// Writes the intent of a payout-creating call ([`intent`]) plus whatever `also` adds (OMT:
    /// forget the OTP, go to `submitted`), under a compare-and-set, if the freshest record
    /// `still` calls for the call. `None` when it changed so that nothing may be sent.
    pub(crate) async fn write_intent<S, G>(
        &self,
        rec: &Cashout,
        token: &str,
        still: S,
        mut also: G,
    ) -> Result<Option<Cashout>, StoreError>
    where
        S: Fn(&Cashout) -> bool + Send,
        G: FnMut(&mut Cashout, u32, DateTime<Utc>) -> Vec<HistoryEntry> + Send,
    {
        let lease = self.config().lease();
        let res = self
            .update(&rec.id, false, false, |r, now| {
                if !still(r) {
                    return Change::Skip(());
                }
                match intent(r, token, lease, now) {
                    Some(attempt) => Change::Write {
                        entries: also(r, attempt, now),
                        value: (),
                    },
                    None => Change::Skip(()),
                }
            })
            .await?;
        Ok(match res {
            Modified::Written(r, _, ()) => Some(r),
            Modified::Skipped(..) | Modified::NotFound => None,
        })
    }

    /// The generic payout-creating step: admitted under the provider's limits, the intent,
    /// the call, the answer recorded by [`ProviderFlow::on_created`] (or the error classified by
    /// [`Driver::after_error`]).
    pub(crate) async fn submit_once<F: PayoutApi>(
        &self,
        flow: &F,
        rec: Cashout,
    ) -> Result<StepReport, StoreError> {
        // Admitted before the intent: waiting leaves nothing in doubt.
        let _permit = self.admit(flow.provider()).await?;
        let token = Self::token();
        let cause = flow.submit_cause(&rec);
        let Some(rec) = self
            .write_intent(
                &rec,
                &token,
                |r| flow.decide(r) == Action::Submit,
                |r, attempt, now| {
                    let cause = format!("{cause} (attempt {attempt})");
                    vec![r.entry(now, HistoryKind::Submit, None, None, cause)]
                },
            )
            .await?
        else {
            return Ok(StepReport::Conflict);
        };
        let reading = match flow.create(&rec).await {
            Ok(reading) => reading,
            Err(e) => {
                return self
                    .after_error(&rec, e, Operation::CreatePayout, Some(&token), None)
                    .await;
            }
        };
        info!(provider_ref = %reading.reference, status = %reading.status,
            "{} accepted the cashout", flow.provider());
        self.update_step(&rec.id, move |r, now| {
            let out = flow.on_created(r, &reading, now);
            delivery::next_may_continue(reads_next(flow, r));
            out
        })
        .await
    }

    /// The generic status read: admitted, the call, the answer recorded by
    /// [`ProviderFlow::on_read`] (or the error classified, retried until the read deadline).
    pub(crate) async fn read_once<F: PayoutApi>(
        &self,
        flow: &F,
        rec: Cashout,
        reference: &str,
    ) -> Result<StepReport, StoreError> {
        let _permit = self.admit(flow.provider()).await?;
        let reading = match flow.fetch(reference).await {
            Ok(reading) => reading,
            Err(e) => {
                let deadline = flow.read_deadline(&rec);
                return self
                    .after_error(&rec, e, Operation::Read, None, deadline)
                    .await;
            }
        };
        tracing::debug!(status = %reading.status, outcome = ?reading.outcome, "{} read", flow.provider());
        // A read runs without the lease (a first delivery, a continued step), so another
        // delivery may have written an intent, or settled one, since this read was sent: the
        // reading then predates that call and says nothing about it. Leave the record to the
        // delivery that wrote it.
        let seen = intents_of(&rec);
        self.update_step(&rec.id, move |r, now| {
            if intents_of(r) != seen {
                return None;
            }
            let out = flow.on_read(r, &reading, now);
            delivery::next_may_continue(reads_next(flow, r));
            out
        })
        .await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cashout_core::{CashoutOrder, ParkReason};
    use serde_json::json;

    /// A fresh Camoo cashout.
    pub(crate) fn camoo_cashout() -> Cashout {
        let order = CashoutOrder::parse(&json!({
            "idempotency_key": "k-1",
            "provider": "camoo",
            "amount": 1500,
            "currency": "XAF",
            "recipient": {"phone_number": "+237612345671"}
        }))
        .unwrap();
        Cashout::new(order, cashout_core::TraceId::generate(), Utc::now())
    }

    pub(crate) fn reading(reference: &str, status: &str, outcome: PayoutOutcome) -> Reading {
        Reading {
            reference: reference.to_owned(),
            external_reference: None,
            status: status.to_owned(),
            outcome,
            reason: None,
            conversion: None,
        }
    }

    pub(crate) fn poll() -> PollPolicy {
        PollPolicy {
            first_delay_ms: 1_000,
            factor: 2.0,
            max_delay_ms: 60_000,
            deadline_secs: 3_600,
        }
    }

    fn submitted() -> Cashout {
        let mut r = camoo_cashout();
        let now = Utc::now();
        assert!(intent(&mut r, "t", Duration::from_secs(10), now).is_some());
        let entries = accepted(
            &mut r,
            &reading("p-1", "PENDING", PayoutOutcome::InFlight),
            now,
            |_| Vec::new(),
        );
        assert!(entries.is_some());
        r
    }

    #[test]
    fn a_read_sent_before_an_intent_is_written_or_settled_says_nothing_about_it() {
        let now = Utc::now();
        let sent = camoo_cashout();
        let seen = intents_of(&sent);
        // Nothing changed: the reading applies.
        assert_eq!(intents_of(&sent.clone()), seen);
        // Another delivery wrote a create's intent since: the reading predates that call.
        let mut r = sent.clone();
        intent(&mut r, "t-2", Duration::from_secs(1), now);
        assert_ne!(intents_of(&r), seen);
        // Another delivery wrote an OMNO confirm's intent, or settled the one the read saw.
        let mut r = sent.clone();
        r.confirm_intent = Some("c-2".into());
        assert_ne!(intents_of(&r), seen);
        let mut seen_confirm = sent;
        seen_confirm.confirm_intent = Some("c-1".into());
        let mut settled = seen_confirm.clone();
        settled.confirm_intent = None;
        assert_ne!(intents_of(&settled), intents_of(&seen_confirm));
    }

    #[test]
    fn an_intent_is_written_once_and_counts_the_attempt() {
        let mut r = camoo_cashout();
        let now = Utc::now();
        assert_eq!(intent(&mut r, "a", Duration::from_secs(10), now), Some(1));
        assert_eq!(r.submit_intent.as_ref().unwrap().token, "a");
        assert_eq!(r.next_action_at, Some(now + Duration::from_secs(10)));
        // A second attempt while the first is in doubt is refused.
        assert_eq!(intent(&mut r, "b", Duration::from_secs(10), now), None);
        // So is one while a notified payment waits to be checked.
        let mut h = camoo_cashout();
        h.hinted_provider_ref = Some("p-9".into());
        assert_eq!(intent(&mut h, "c", Duration::from_secs(10), now), None);
    }

    #[test]
    fn an_accepted_create_records_the_payment_once() {
        let r = submitted();
        assert_eq!(r.state, State::Submitted);
        assert_eq!(r.provider_ref.as_deref(), Some("p-1"));
        assert!(r.submit_intent.is_none());
        let mut again = r.clone();
        let now = Utc::now();
        // The same payment again: nothing to write.
        assert!(
            accepted(
                &mut again,
                &reading("p-1", "PENDING", PayoutOutcome::InFlight),
                now,
                |_| Vec::new()
            )
            .is_none()
        );
        // Another payment for the same cashout: a possible double payout, parked.
        let e = accepted(
            &mut again,
            &reading("p-2", "PENDING", PayoutOutcome::InFlight),
            now,
            |_| panic!("nothing is scheduled for a second payment"),
        )
        .unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(
            again.parked.as_ref().map(|p| p.reason),
            Some(ParkReason::PossibleDoublePayout)
        );
        assert!(again.in_doubt(), "never replayed");
        assert_eq!(again.provider_ref.as_deref(), Some("p-1"), "never replaced");
    }

    #[test]
    fn an_answer_naming_another_payment_than_a_notified_one_parks_it() {
        let now = Utc::now();
        let mut r = camoo_cashout();
        intent(&mut r, "t", Duration::from_secs(10), now);
        r.hinted_provider_ref = Some("p-9".into());
        let e = accepted(
            &mut r,
            &reading("p-1", "PENDING", PayoutOutcome::InFlight),
            now,
            |_| panic!("nothing is scheduled for a second payment"),
        )
        .unwrap();
        assert_eq!(e.len(), 1);
        let p = r.parked.clone().unwrap();
        assert_eq!(p.reason, ParkReason::PossibleDoublePayout);
        assert!(
            p.detail.contains("p-9") && p.detail.contains("p-1"),
            "{p:?}"
        );
        assert_eq!(
            r.hinted_provider_ref.as_deref(),
            Some("p-9"),
            "evidence kept"
        );
        // The answer naming the notified payment is simply adopted.
        let mut r = camoo_cashout();
        intent(&mut r, "t", Duration::from_secs(10), now);
        r.hinted_provider_ref = Some("p-1".into());
        accepted(
            &mut r,
            &reading("p-1", "PENDING", PayoutOutcome::InFlight),
            now,
            |_| Vec::new(),
        )
        .unwrap();
        assert_eq!(r.state, State::Submitted);
        assert!(r.parked.is_none());
    }

    #[test]
    fn an_answer_that_arrives_unparks_only_a_create_in_doubt() {
        let now = Utc::now();
        let mut r = camoo_cashout();
        intent(&mut r, "t", Duration::from_secs(10), now);
        r.park(ParkReason::OutcomeUnknown, "lost".into(), now);
        accepted(
            &mut r,
            &reading("p-1", "PENDING", PayoutOutcome::InFlight),
            now,
            |_| Vec::new(),
        );
        assert!(r.parked.is_none());
        let mut q = camoo_cashout();
        q.park(ParkReason::ProviderContract, "odd".into(), now);
        accepted(
            &mut q,
            &reading("p-1", "PENDING", PayoutOutcome::InFlight),
            now,
            |_| Vec::new(),
        );
        assert!(q.parked.is_some(), "another reason stays for a person");
    }

    #[test]
    fn final_readings_follow_the_transition_table() {
        let now = Utc::now();
        for (outcome, state) in [
            (PayoutOutcome::Succeeded, State::Confirmed),
            (PayoutOutcome::Failed, State::Failed),
            (PayoutOutcome::Rejected, State::Revoked),
        ] {
            let mut r = submitted();
            read_answer(&mut r, &reading("p-1", "X", outcome), "t", &poll(), now).unwrap();
            assert_eq!(r.state, state, "{outcome:?}");
        }
        // Nothing is decided for a cashout no longer submitted.
        let mut r = camoo_cashout();
        assert!(
            read_answer(
                &mut r,
                &reading("p-1", "SUCCESS", PayoutOutcome::Succeeded),
                "t",
                &poll(),
                now
            )
            .is_none()
        );
    }

    #[test]
    fn pending_readings_poll_with_backoff_until_the_deadline() {
        let mut r = submitted();
        let start = r.polling_since.or(r.submitted_at).unwrap();
        let p = poll();
        let pending = reading("p-1", "PENDING", PayoutOutcome::InFlight);
        let e = read_answer(&mut r, &pending, "t", &p, start).unwrap();
        assert!(e.is_empty(), "same status: no history line");
        let next = r.next_action_at.unwrap() - start;
        // Poll 1 waits between half and all of 2 s.
        assert!(next >= chrono::Duration::milliseconds(1_000), "{next}");
        assert!(next <= chrono::Duration::milliseconds(2_000), "{next}");
        let late = start + chrono::Duration::seconds(3_600);
        read_answer(&mut r, &pending, "t", &p, late).unwrap();
        assert_eq!(
            r.parked.as_ref().map(|p| p.reason),
            Some(ParkReason::DeadlineExceeded)
        );
        assert_eq!(r.state, State::Submitted);
    }
}
