//! The producer library: accepts a parsed order and writes the cashout, under the id its
//! idempotency key derives, in one atomic step that also puts its first delivery on the
//! provider's stream.

use crate::queue::JobQueue;
use crate::store::{Change, CreateOutcome, Modified, Store, StoreError};
use cashout_core::{Cashout, CashoutOrder, HistoryKind, ProducerName, State, TraceId};
use chrono::Utc;

/// What happened to an enqueue.
#[derive(Debug)]
pub enum Enqueued {
    /// A new cashout.
    Created(Cashout),
    /// The key was used before with the same order: the existing cashout.
    Existing(Cashout),
    /// The key was used before with a different order: refused.
    Conflict(Cashout),
}

/// Writes cashouts straight to Redis.
#[derive(Debug, Clone)]
pub struct Producer {
    store: Store,
    queue: JobQueue,
    name: ProducerName,
}

impl Producer {
    /// A producer over a store and its queues, enqueueing as the
    /// [local](ProducerName::local) producer.
    pub fn new(store: Store, queue: JobQueue) -> Self {
        Self {
            store,
            queue,
            name: ProducerName::local(),
        }
    }

    /// The same producer enqueueing as `name` (its idempotency keys are `name`'s).
    pub fn named(mut self, name: ProducerName) -> Self {
        self.name = name;
        self
    }

    /// The name [`Producer::enqueue`] enqueues as.
    pub fn name(&self) -> &ProducerName {
        &self.name
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The queues.
    pub fn queue(&self) -> &JobQueue {
        &self.queue
    }

    /// Sets the gauges read from Redis at scrape time: the DLQ size, each queue's depth, and the
    /// OMT attempts without an answer.
    pub async fn refresh_gauges(&self) -> Result<(), StoreError> {
        metrics::counter!("cashout_redis_round_trips_total").absolute(crate::conn::round_trips());
        let parked = self.store.parked_count().await?;
        metrics::gauge!("cashout_dlq_size").set(parked as f64);
        let pending = self.store.pending_count().await?;
        metrics::gauge!("cashout_pending").set(pending as f64);
        for p in cashout_core::Provider::ALL {
            let depth = self.queue.depth(p).await?;
            metrics::gauge!("cashout_queue_depth", "provider" => p.as_str()).set(depth as f64);
        }
        // OMT attempts sent and not answered (in flight now, or never answered): the lockout
        // guard counts them until an answer or an operator settles them.
        let unresolved = self.store.omt_unresolved().await?;
        let attempts: usize = unresolved.iter().map(|g| g.reservations.len()).sum();
        let stale = crate::omt::stale_attempts(&unresolved, Utc::now());
        metrics::gauge!("cashout_omt_unresolved_attempts").set(attempts as f64);
        metrics::gauge!("cashout_omt_unresolved_accounts").set(unresolved.len() as f64);
        metrics::gauge!("cashout_omt_stale_attempts").set(stale as f64);
        Ok(())
    }

    /// Accepts an order. A duplicate key never creates a second cashout.
    pub async fn enqueue(
        &self,
        order: CashoutOrder,
        trace_id: Option<TraceId>,
    ) -> Result<Enqueued, StoreError> {
        self.enqueue_traced(order, trace_id, None).await
    }

    /// [`Producer::enqueue`] with the W3C `traceparent` of the caller's span, which every later
    /// step of the cashout continues.
    pub async fn enqueue_traced(
        &self,
        order: CashoutOrder,
        trace_id: Option<TraceId>,
        traceparent: Option<String>,
    ) -> Result<Enqueued, StoreError> {
        self.enqueue_as(&self.name, order, trace_id, traceparent)
            .await
    }

    /// [`Producer::enqueue_traced`] on behalf of producer `name` (the API passes the token's
    /// name): the idempotency key is looked up in `name`'s key space only, and the cashout
    /// belongs to `name`.
    pub async fn enqueue_as(
        &self,
        name: &ProducerName,
        order: CashoutOrder,
        trace_id: Option<TraceId>,
        traceparent: Option<String>,
    ) -> Result<Enqueued, StoreError> {
        let now = Utc::now();
        let mut cashout = Cashout::new(order, trace_id.unwrap_or_else(TraceId::generate), now);
        cashout.producer = name.clone();
        cashout.traceparent = traceparent;
        self.store.place(&mut cashout);
        let entry = cashout.entry(
            now,
            HistoryKind::Created,
            None,
            Some(State::Created),
            "accepted",
        );
        match self.store.create(&cashout, &entry).await? {
            CreateOutcome::Created => {
                metrics::counter!("cashout_enqueued_total", "provider" => cashout.order.provider.as_str())
                    .increment(1);
                Ok(Enqueued::Created(cashout))
            }
            CreateOutcome::Existing(existing) => {
                // The record of the key's id: the same producer's, with the same key, unless
                // two keys hashed to one id (never seen; refused rather than answered).
                if existing.id != cashout.id
                    || existing.producer != cashout.producer
                    || existing.order.idempotency_key != cashout.order.idempotency_key
                {
                    return Err(StoreError::Corrupt {
                        key: self.store.keys().record(&cashout.id),
                        message: "the record of this idempotency key's id is another producer's \
                                  or another key's cashout"
                            .to_owned(),
                    });
                }
                if existing.fingerprint == cashout.fingerprint {
                    Ok(Enqueued::Existing(*existing))
                } else {
                    Ok(Enqueued::Conflict(*existing))
                }
            }
        }
    }
}

/// What a provider notification did to a cashout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nudge {
    /// A status read is due now (or, within the notification interval, at its end).
    Scheduled,
    /// Already final: nothing to do.
    Terminal,
    /// No such cashout of this provider.
    NotFound,
    /// This very notification was acted on before: nothing to do.
    Duplicate,
    /// Not acted on, and why.
    Ignored(String),
}

/// A provider notification about one cashout, as the API received it.
#[derive(Debug, Clone)]
pub struct Notice<'a> {
    /// The provider that sent it (its endpoint). Only that provider's cashouts are touched.
    pub provider: cashout_core::Provider,
    /// Whether its signature was checked (Camoo). An unsigned one (OMNO) only brings the next
    /// status read of a reference already on record forward; it never unparks and never plants
    /// a reference.
    pub signed: bool,
    /// The provider's reference for the payout it reports.
    pub reference: &'a str,
    /// A digest of everything it carried: the same notification twice is acted on once.
    pub digest: String,
    /// The history line's cause.
    pub cause: String,
}

impl Producer {
    /// A provider notification says something happened to payment `notice.reference` of
    /// cashout `id`. Its content is never trusted for a state change: this only makes the next
    /// status read due now (and, for a Camoo create whose answer was lost, records the signed
    /// payment id as a hint that the worker checks with a status read). A Camoo cashout parked
    /// because its outcome was unknown or its deadline passed is taken out of the dead-letter
    /// queue by a signed notification: there is news to look at.
    ///
    /// Bounded against a caller who repeats or floods: a repeated notification (same digest)
    /// does nothing; the reads notifications bring forward are at least `min_interval` apart
    /// (one within it schedules the read at the interval's end, or does nothing when a read is
    /// due by then); at most [`Cashout::MAX_NOTICE_LINES`] notifications write a history line.
    pub async fn nudge(
        &self,
        id: &cashout_core::CashoutId,
        notice: &Notice<'_>,
        min_interval: std::time::Duration,
    ) -> Result<Nudge, StoreError> {
        let min_interval =
            chrono::TimeDelta::from_std(min_interval).unwrap_or(chrono::TimeDelta::MAX);
        let res = self
            .store
            .modify(id, false, |r, now| {
                decide_nudge(r, notice, min_interval, now)
            })
            .await?;
        match res {
            // The write itself delivered the step it made due.
            Modified::Written(_, _, v) => Ok(v),
            Modified::Skipped(_, v) => Ok(v),
            Modified::NotFound => Ok(Nudge::NotFound),
        }
    }
}

/// A signed notification names payment `notice.reference` while `known` is already tied to
/// the cashout (on record, or as the hint of an earlier signed notification): two payments may
/// exist for one cashout. Parked `possible_double_payout` for a person (replay refuses it), and
/// each further payment named is written down; never acted on.
fn possible_double(
    r: &mut Cashout,
    notice: &Notice<'_>,
    known: &str,
    now: chrono::DateTime<Utc>,
) -> Change<Nudge> {
    use cashout_core::ParkReason;
    tracing::error!(cashout_id = %r.id, on_record = %known, notified = %notice.reference,
        "signed notification names another payment than the one on record: possible double payout");
    r.notices.push(notice.digest.clone());
    if r.notices.len() > Cashout::MAX_NOTICES {
        let extra = r.notices.len() - Cashout::MAX_NOTICES;
        r.notices.drain(..extra);
    }
    let detail = format!(
        "possible double payout: a signed {} notification names payment {} but payment {known} \
         is already tied to this cashout",
        notice.provider, notice.reference
    );
    // Every such payment is written down (the same notification twice is a repeat, caught
    // before this), even when the cashout is already parked for it: the operator needs every id.
    let entry = if r
        .parked
        .as_ref()
        .is_some_and(|p| p.reason == ParkReason::PossibleDoublePayout)
    {
        r.entry(now, HistoryKind::Note, None, None, detail)
    } else {
        r.park(ParkReason::PossibleDoublePayout, detail, now)
    };
    Change::Write {
        entries: vec![entry],
        value: Nudge::Ignored(
            "notification names another payment: parked for an operator (possible double payout)"
                .into(),
        ),
    }
}

/// What a notification does to a record: pure, so every rule is unit-tested.
fn decide_nudge(
    r: &mut Cashout,
    notice: &Notice<'_>,
    min_interval: chrono::TimeDelta,
    now: chrono::DateTime<Utc>,
) -> Change<Nudge> {
    use cashout_core::{ParkReason, Provider};
    if r.order.provider != notice.provider {
        // Indistinguishable from an unknown id: a provider's endpoint says nothing about
        // another provider's cashouts.
        return Change::Skip(Nudge::NotFound);
    }
    if r.state.is_terminal() {
        return Change::Skip(Nudge::Terminal);
    }
    if r.notices.contains(&notice.digest) {
        return Change::Skip(Nudge::Duplicate);
    }
    if r.order.provider == Provider::Omno && r.confirmed_at.is_none() {
        return Change::Skip(Nudge::Ignored("not confirmed yet".into()));
    }
    let mut hint = None;
    match (r.provider_ref.as_deref(), r.hinted_provider_ref.as_deref()) {
        (Some(known), _) if known == notice.reference => {}
        (Some(known), _) if notice.signed => {
            // Two payments carrying one reference: a possible double payout.
            let known = known.to_owned();
            return possible_double(r, notice, &known, now);
        }
        (Some(_), _) => {
            {
                tracing::warn!(cashout_id = %r.id,
                    "unsigned notification names another payment than the one on record; ignored");
            }
            return Change::Skip(Nudge::Ignored(
                "notification names another payment than the one on record".into(),
            ));
        }
        (None, Some(h)) if h == notice.reference => {}
        (None, Some(h)) if notice.signed => {
            let h = h.to_owned();
            return possible_double(r, notice, &h, now);
        }
        (None, Some(_)) => {
            return Change::Skip(Nudge::Ignored(
                "notification names another payment than the one already reported".into(),
            ));
        }
        (None, None)
            if notice.signed
                && r.submit_intent.is_some()
                && r.order.provider == Provider::Camoo =>
        {
            hint = Some(notice.reference.to_owned());
        }
        (None, None) => {
            return Change::Skip(Nudge::Ignored(
                "no payment with this reference is on record".into(),
            ));
        }
    }
    // Reads a notification brings forward are at least `min_interval` apart: within it, the
    // read is brought to the end of the interval (the news is kept, the provider is not
    // hammered), or nothing is done when one is due by then anyway.
    let earliest = r.nudged_at.map(|t| t + min_interval).filter(|t| *t > now);
    let due = earliest.unwrap_or(now);
    if earliest.is_some() && r.parked.is_none() && r.next_action_at.is_some_and(|t| t <= due) {
        return Change::Skip(Nudge::Ignored(
            "a status read is already due; notifications are acted on at most once per interval"
                .into(),
        ));
    }
    if hint.is_some() {
        r.hinted_provider_ref = hint;
    }
    r.nudged_at = Some(due);
    r.notices.push(notice.digest.clone());
    if r.notices.len() > Cashout::MAX_NOTICES {
        let extra = r.notices.len() - Cashout::MAX_NOTICES;
        r.notices.drain(..extra);
    }
    r.notice_count = r.notice_count.saturating_add(1);
    let may_write_line = r.notice_count <= Cashout::MAX_NOTICE_LINES;
    let mut entries = Vec::new();
    match r.parked.as_ref().map(|p| p.reason) {
        None => {}
        // Only a signed notification (Camoo) is evidence enough to take a cashout out of the
        // DLQ; an unsigned webhook (OMNO) never unparks.
        Some(ParkReason::OutcomeUnknown | ParkReason::DeadlineExceeded)
            if notice.signed && r.order.provider == Provider::Camoo =>
        {
            r.parked = None;
            if r.state == State::Submitted {
                // A new polling window: the old deadline has passed.
                r.polling_since = Some(now);
            }
            entries.push(r.entry(now, HistoryKind::Unparked, None, None, notice.cause.clone()));
        }
        Some(other) => {
            // Keep the evidence (a hint written above) for the operator's replay, but leave
            // the decision to them.
            let cause = format!("{}; parked for {other}, an operator decides", notice.cause);
            if may_write_line {
                entries.push(r.entry(now, HistoryKind::Note, None, None, cause));
            }
            return Change::Write {
                entries,
                value: Nudge::Ignored(format!("parked for {other}; an operator decides")),
            };
        }
    }
    r.next_action_at = Some(due);
    if entries.is_empty() && may_write_line {
        entries.push(r.entry(now, HistoryKind::Note, None, None, notice.cause.clone()));
    }
    Change::Write {
        entries,
        value: Nudge::Scheduled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cashout_core::{ParkReason, Provider, SubmitIntent};
    use chrono::TimeDelta;
    use serde_json::json;

    fn camoo() -> Cashout {
        let order = CashoutOrder::parse(&json!({
            "idempotency_key": "k-1", "provider": "camoo", "amount": 1500, "currency": "XAF",
            "recipient": {"phone_number": "+237650000001"}
        }))
        .unwrap();
        Cashout::new(order, TraceId::generate(), Utc::now())
    }

    fn omno() -> Cashout {
        let order = CashoutOrder::parse(&json!({
            "idempotency_key": "k-2", "provider": "omno", "amount": 10000, "currency": "USD",
            "recipient": {
                "external_user_id": "u", "first_name": "John", "last_name": "Doe",
                "email": "john.doe@example.com", "phone_number": "1 1234567890",
                "date_of_birth": "1990-12-01", "kyc_verified": false,
                "billing": {"address": "1 Main St", "city": "Atlanta", "state": "GA",
                            "country_code": "US", "postal_code": "30308"}
            }
        }))
        .unwrap();
        Cashout::new(order, TraceId::generate(), Utc::now())
    }

    fn notice(provider: Provider, signed: bool, reference: &str, digest: &str) -> Notice<'static> {
        Notice {
            provider,
            signed,
            reference: Box::leak(reference.to_owned().into_boxed_str()),
            digest: digest.to_owned(),
            cause: "test notice".to_owned(),
        }
    }

    fn in_doubt(mut c: Cashout, now: chrono::DateTime<Utc>) -> Cashout {
        c.submit_intent = Some(SubmitIntent {
            attempt: 1,
            at: now,
            token: "t".into(),
        });
        c.park(ParkReason::OutcomeUnknown, "lost answer".into(), now);
        c
    }

    const GAP: TimeDelta = TimeDelta::seconds(2);

    #[test]
    fn a_provider_endpoint_never_touches_another_providers_cashout() {
        let now = Utc::now();
        let mut c = in_doubt(camoo(), now);
        let before = c.clone();
        let n = notice(Provider::Omno, false, "PAY-1", "d1");
        assert!(matches!(
            decide_nudge(&mut c, &n, GAP, now),
            Change::Skip(Nudge::NotFound)
        ));
        assert_eq!(c, before);
    }

    #[test]
    fn an_unsigned_webhook_never_unparks_nor_plants_a_reference() {
        let now = Utc::now();
        let mut c = in_doubt(omno(), now);
        let n = notice(Provider::Omno, false, "PAY-1", "d1");
        // Not confirmed, no reference on record: nothing.
        assert!(matches!(
            decide_nudge(&mut c, &n, GAP, now),
            Change::Skip(_)
        ));
        c.confirmed_at = Some(now);
        assert!(matches!(
            decide_nudge(&mut c, &n, GAP, now),
            Change::Skip(_)
        ));
        assert!(c.hinted_provider_ref.is_none() && c.parked.is_some());
        // Its own reference on record, still parked: a note at most, never unparked.
        c.provider_ref = Some("PAY-1".into());
        let _ = decide_nudge(&mut c, &n, GAP, now);
        assert!(c.parked.is_some(), "an unsigned webhook never unparks");
        assert!(c.next_action_at.is_none());
    }

    #[test]
    fn a_signed_notification_naming_a_second_payment_parks_for_a_person() {
        let now = Utc::now();
        // A hint from a first signed notification, then a second one naming another payment.
        let mut c = in_doubt(camoo(), now);
        c.parked = None;
        c.hinted_provider_ref = Some("PAY-1".into());
        let n = notice(Provider::Camoo, true, "PAY-2", "d2");
        assert!(matches!(
            decide_nudge(&mut c, &n, GAP, now),
            Change::Write { .. }
        ));
        let p = c.parked.clone().unwrap();
        assert_eq!(p.reason, ParkReason::PossibleDoublePayout);
        assert!(
            p.detail.contains("PAY-1") && p.detail.contains("PAY-2"),
            "{p:?}"
        );
        assert_eq!(
            c.hinted_provider_ref.as_deref(),
            Some("PAY-1"),
            "evidence kept"
        );
        assert!(c.in_doubt(), "never replayed");
        // Once parked for it, a third payment is still written down; a repeat is not.
        let n3 = notice(Provider::Camoo, true, "PAY-3", "d3");
        let Change::Write { entries, .. } = decide_nudge(&mut c, &n3, GAP, now) else {
            panic!("a third payment is written down");
        };
        assert!(entries[0].cause.contains("PAY-3"), "{entries:?}");
        assert!(matches!(
            decide_nudge(&mut c, &n3, GAP, now),
            Change::Skip(Nudge::Duplicate)
        ));
        // The same with a payment on record.
        let mut c = camoo();
        c.provider_ref = Some("PAY-1".into());
        let _ = decide_nudge(&mut c, &n, GAP, now);
        assert_eq!(
            c.parked.map(|p| p.reason),
            Some(ParkReason::PossibleDoublePayout)
        );
        // An unsigned one is only ignored.
        let mut c = camoo();
        c.provider_ref = Some("PAY-1".into());
        let u = notice(Provider::Camoo, false, "PAY-2", "d4");
        assert!(matches!(
            decide_nudge(&mut c, &u, GAP, now),
            Change::Skip(_)
        ));
        assert!(c.parked.is_none());
    }

    #[test]
    fn a_signed_notification_hints_and_unparks_a_camoo_cashout_in_doubt() {
        let now = Utc::now();
        let mut c = in_doubt(camoo(), now);
        let n = notice(Provider::Camoo, true, "PAY-9", "d1");
        let Change::Write { entries, value } = decide_nudge(&mut c, &n, GAP, now) else {
            panic!("expected a write");
        };
        assert_eq!(value, Nudge::Scheduled);
        assert_eq!(entries.len(), 1);
        assert_eq!(c.hinted_provider_ref.as_deref(), Some("PAY-9"));
        assert!(c.parked.is_none() && c.next_action_at == Some(now));
        // Another payment named afterwards is not acted on: parked for a person as a possible
        // double payout; the first hint stays.
        let later = now + TimeDelta::seconds(10);
        let other = notice(Provider::Camoo, true, "PAY-10", "d2");
        assert!(matches!(
            decide_nudge(&mut c, &other, GAP, later),
            Change::Write { .. }
        ));
        assert_eq!(c.hinted_provider_ref.as_deref(), Some("PAY-9"));
        assert_eq!(
            c.parked.as_ref().map(|p| p.reason),
            Some(ParkReason::PossibleDoublePayout)
        );
    }

    #[test]
    fn repeats_and_floods_are_not_acted_on_and_lines_are_capped() {
        let now = Utc::now();
        let mut c = camoo();
        c.provider_ref = Some("PAY-1".into());
        c.state = State::Submitted;
        let n = notice(Provider::Camoo, true, "PAY-1", "same");
        assert!(matches!(
            decide_nudge(&mut c, &n, GAP, now),
            Change::Write { .. }
        ));
        let mut lines = 1;
        // The same notification again, even much later: nothing.
        let later = now + TimeDelta::hours(1);
        assert!(matches!(
            decide_nudge(&mut c, &n, GAP, later),
            Change::Skip(Nudge::Duplicate)
        ));
        // A different one within the interval: nothing.
        let soon = notice(Provider::Camoo, true, "PAY-1", "other");
        assert!(matches!(
            decide_nudge(&mut c, &soon, GAP, now + TimeDelta::milliseconds(500)),
            Change::Skip(Nudge::Ignored(_))
        ));
        // Within the interval while the next read is far off: brought to the interval's end.
        c.next_action_at = Some(now + TimeDelta::seconds(30));
        let t = now + TimeDelta::milliseconds(700);
        assert!(matches!(
            decide_nudge(&mut c, &soon, GAP, t),
            Change::Write {
                value: Nudge::Scheduled,
                ..
            }
        ));
        assert_eq!(c.next_action_at, Some(now + GAP));
        lines += 1;
        // Many distinct ones, spaced out: digests stay bounded, lines stop at the cap.
        for i in 0..100 {
            let t = now + TimeDelta::seconds(10 * (i + 1));
            let n = notice(Provider::Camoo, true, "PAY-1", &format!("d{i}"));
            match decide_nudge(&mut c, &n, GAP, t) {
                Change::Write { entries, .. } => lines += entries.len(),
                Change::Skip(v) => panic!("expected a write, got {v:?}"),
            }
            assert!(c.notices.len() <= Cashout::MAX_NOTICES);
        }
        assert_eq!(lines, Cashout::MAX_NOTICE_LINES as usize);
    }

    #[test]
    fn a_final_cashout_is_left_alone() {
        let now = Utc::now();
        let mut c = camoo();
        c.state = State::Confirmed;
        let n = notice(Provider::Camoo, true, "PAY-1", "d");
        assert!(matches!(
            decide_nudge(&mut c, &n, GAP, now),
            Change::Skip(Nudge::Terminal)
        ));
    }
}
