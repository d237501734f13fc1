//! The producer library: accepts a parsed order, writes the cashout and its idempotency key in
//! one atomic step that also puts its first delivery on the provider's stream.

use crate::queue::JobQueue;
use crate::store::{Change, CreateOutcome, Modified, Store, StoreError};
use cashout_core::{Cashout, CashoutOrder, State, TraceId};
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
}

impl Producer {
    /// A producer over a store and its queues.
    pub fn new(store: Store, queue: JobQueue) -> Self {
        Self { store, queue }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The queues.
    pub fn queue(&self) -> &JobQueue {
        &self.queue
    }

    /// Sets the gauges read from Redis at scrape time: the DLQ size and each queue's depth.
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
        let now = Utc::now();
        let mut cashout = Cashout::new(order, trace_id.unwrap_or_else(TraceId::generate), now);
        cashout.traceparent = traceparent;
        self.store.place(&mut cashout);
        let entry = cashout.entry(now, "created", None, Some(State::Created), "accepted");
        match self.store.create(&cashout, &entry).await? {
            CreateOutcome::Created => {
                metrics::counter!("cashout_enqueued_total", "provider" => cashout.order.provider.as_str())
                    .increment(1);
                Ok(Enqueued::Created(cashout))
            }
            CreateOutcome::Existing(id) => {
                let existing = self
                    .store
                    .get(&id)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt {
                        key: self.store.keys().record(&id),
                        message: "idempotency key points to a missing record".to_owned(),
                    })?;
                if existing.fingerprint == cashout.fingerprint {
                    Ok(Enqueued::Existing(existing))
                } else {
                    Ok(Enqueued::Conflict(existing))
                }
            }
        }
    }
}

/// What a provider notification did to a cashout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nudge {
    /// A step is now due and a job was pushed.
    Scheduled,
    /// Already final: nothing to do.
    Terminal,
    /// No such cashout.
    NotFound,
    /// Not acted on, and why.
    Ignored(String),
}

impl Producer {
    /// A signed provider notification says something happened to payment `payment_id` of cashout
    /// `id`. Its content is never trusted for a state change: this only makes the next status read
    /// due now (and, for a create whose answer was lost, records the payment id as a hint that the
    /// worker checks with a status read). A cashout parked because its outcome was unknown or its
    /// deadline passed is taken out of the dead-letter queue: there is news to look at.
    pub async fn nudge(
        &self,
        id: &cashout_core::CashoutId,
        payment_id: &str,
        cause: &str,
    ) -> Result<Nudge, StoreError> {
        use cashout_core::ParkReason;
        let res = self
            .store
            .modify(id, false, |r, now| {
                if r.state.is_terminal() {
                    return Change::Skip(Nudge::Terminal);
                }
                if r.order.provider == cashout_core::Provider::Omno && r.confirmed_at.is_none() {
                    return Change::Skip(Nudge::Ignored("not confirmed yet".into()));
                }
                match r.provider_ref.as_deref() {
                    Some(known) if known == payment_id => {}
                    Some(known) => {
                        // Two payments carrying one reference: a possible double payout.
                        tracing::error!(cashout_id = %r.id, on_record = %known, notified = %payment_id,
                            "signed notification names another payment than the one on record");
                        return Change::Skip(Nudge::Ignored(
                            "notification names another payment than the one on record".into(),
                        ));
                    }
                    None if r.submit_intent.is_some()
                        && r.order.provider == cashout_core::Provider::Camoo =>
                    {
                        r.hinted_provider_ref = Some(payment_id.to_owned());
                    }
                    None => {
                        return Change::Skip(Nudge::Ignored(
                            "no create was sent for this cashout".into(),
                        ));
                    }
                }
                let mut entries = Vec::new();
                match r.parked.as_ref().map(|p| p.reason) {
                    None => {}
                    // Only a signed notification (Camoo) is evidence enough to take a cashout
                    // out of the DLQ; an unsigned webhook (OMNO) only leaves a note.
                    Some(ParkReason::OutcomeUnknown | ParkReason::DeadlineExceeded)
                        if r.order.provider == cashout_core::Provider::Camoo =>
                    {
                        r.parked = None;
                        if r.state == cashout_core::State::Submitted {
                            // A new polling window: the old deadline has passed.
                            r.polling_since = Some(now);
                        }
                        entries.push(r.entry(now, "unparked", None, None, cause.to_owned()));
                    }
                    Some(other) => {
                        // Keep the evidence (a hint written above) for the operator's replay,
                        // but leave the decision to them.
                        let cause = format!("{cause}; parked for {other}, an operator decides");
                        return Change::Write {
                            entries: vec![r.entry(now, "note", None, None, cause)],
                            value: Nudge::Ignored(format!("parked for {other}; an operator decides")),
                        };
                    }
                }
                r.next_action_at = Some(now);
                if entries.is_empty() {
                    entries.push(r.entry(now, "note", None, None, cause.to_owned()));
                }
                Change::Write {
                    entries,
                    value: Nudge::Scheduled,
                }
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
