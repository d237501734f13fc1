//! The producer library: accepts a parsed order, writes the cashout and its idempotency key in
//! one atomic step, then enqueues a job. If the push fails after the write, the cashout is still
//! accepted: it sits in the due index and the sweeper enqueues it.

use crate::queue::{CashoutJob, JobQueue};
use crate::store::{CreateOutcome, Store, StoreError};
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

    /// Accepts an order. A duplicate key never creates a second cashout.
    pub async fn enqueue(
        &self,
        order: CashoutOrder,
        trace_id: Option<TraceId>,
    ) -> Result<Enqueued, StoreError> {
        let now = Utc::now();
        let cashout = Cashout::new(order, trace_id.unwrap_or_else(TraceId::generate), now);
        let entry = cashout.entry(now, "created", None, Some(State::Created), "accepted");
        match self.store.create(&cashout, &entry).await? {
            CreateOutcome::Created => {
                let job = CashoutJob {
                    cashout_id: cashout.id,
                    trace_id: cashout.trace_id.to_string(),
                };
                if let Err(e) = self.queue.push(cashout.order.provider, job, now).await {
                    tracing::warn!(cashout_id = %cashout.id, error = %e,
                        "job push failed after the cashout was stored; the sweeper will enqueue it");
                }
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
