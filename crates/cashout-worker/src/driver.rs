//! One delivery of a cashout job: claim the record (read, due check, lease and delivery count in
//! one script), do the next step, write the outcome with a compare-and-set that also schedules
//! the next delivery, gives the lease back and acknowledges the entry. A duplicate or early
//! delivery finds nothing due and does nothing.

use crate::config::WorkerConfig;
use crate::schedule::{exponential, full_jitter};
use cashout_core::HistoryKind;
use cashout_core::{
    Cashout, CashoutId, Disposition, Event, HistoryEntry, ParkReason, Provider, State,
};
use cashout_providers::camoo::CamooClient;
use cashout_providers::{Operation, PollPolicy, ProviderError, RetryPolicy};
use cashout_store::{
    CashoutJob, Change, Claim, JobQueue, Modified, Peek, Store, StoreError, WriteMode, delivery,
};
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::{Instrument, debug, error, info, info_span, warn};

/// A job may arrive this much before its record says the step is due (clock skew between
/// processes); anything earlier is a stale duplicate.
const EARLY_TOLERANCE: Duration = Duration::from_millis(500);

/// The longest `Retry-After` we honour; a larger one is capped (and would overflow a time).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);

/// Camoo's client and policies.
#[derive(Debug, Clone)]
pub struct CamooSetup {
    /// The HTTP client.
    pub client: CamooClient,
    /// The verify schedule.
    pub poll: PollPolicy,
    /// Retries of retryable errors.
    pub retry: RetryPolicy,
    /// Rate and concurrency limits on calls, across all workers.
    pub limits: cashout_providers::CallLimits,
}

/// OMT's client and settings.
#[derive(Debug, Clone)]
pub struct OmtSetup {
    /// The HTTP client.
    pub client: cashout_providers::omt::OmtClient,
    /// Guard thresholds, lock expiry, retries.
    pub config: cashout_providers::omt::OmtConfig,
}

/// OMNO's client and settings.
#[derive(Debug, Clone)]
pub struct OmnoSetup {
    /// The HTTP client.
    pub client: cashout_providers::omno::OmnoClient,
    /// Polls, retries.
    pub config: cashout_providers::omno::OmnoConfig,
}

/// The configured provider adapters.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    /// Camoo.
    pub camoo: Option<CamooSetup>,
    /// OMT.
    pub omt: Option<OmtSetup>,
    /// OMNO.
    pub omno: Option<OmnoSetup>,
}

impl Providers {
    pub(crate) fn retry(&self, provider: Provider) -> RetryPolicy {
        match provider {
            Provider::Camoo => self
                .camoo
                .as_ref()
                .map(|c| c.retry.clone())
                .unwrap_or_default(),
            Provider::Omt => self
                .omt
                .as_ref()
                .map(|o| o.config.retry.clone())
                .unwrap_or_default(),
            Provider::Omno => self
                .omno
                .as_ref()
                .map(|o| o.config.retry.clone())
                .unwrap_or_default(),
        }
    }
}

impl Providers {
    /// The providers that have an adapter configured, hence a queue to consume.
    pub fn enabled(&self) -> Vec<Provider> {
        let mut v = Vec::new();
        if self.camoo.is_some() {
            v.push(Provider::Camoo);
        }
        if self.omt.is_some() {
            v.push(Provider::Omt);
        }
        if self.omno.is_some() {
            v.push(Provider::Omno);
        }
        v
    }
}

/// What one delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepReport {
    /// No such cashout (expired or never existed).
    Missing,
    /// Terminal, parked, or not due yet: a duplicate or early delivery.
    NotDue,
    /// Another worker holds the cashout.
    Busy,
    /// The record changed under us; the next delivery decides again.
    Conflict,
    /// The record cannot be decoded: parked `corrupt_record` as found, the delivery acknowledged.
    Corrupt,
    /// A step was done and the cashout is now in this state, due again at this time (if ever).
    Progressed {
        /// The state after the step.
        state: State,
        /// Parked, if the step parked it.
        parked: Option<ParkReason>,
    },
}

/// Drives cashouts. One per process, shared by all its workers.
#[derive(Debug)]
pub struct Driver {
    store: Store,
    queue: JobQueue,
    providers: Providers,
    config: WorkerConfig,
    owner: String,
    shutting_down: AtomicBool,
}

impl Driver {
    /// A driver. `owner` names this process in leases (host + pid + random).
    pub fn new(
        store: Store,
        queue: JobQueue,
        providers: Providers,
        config: WorkerConfig,
        owner: String,
    ) -> Self {
        Self {
            store,
            queue,
            providers,
            config,
            owner,
            shutting_down: AtomicBool::new(false),
        }
    }

    /// From now on no new retry is scheduled as a job: the record keeps when it is due, and the
    /// sweeper of a live process enqueues it.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// True once [`Driver::begin_shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// A fresh random token (leases, intents).
    pub(crate) fn token() -> String {
        format!("{:016x}", rand::random::<u64>())
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The queues.
    pub fn queue(&self) -> &JobQueue {
        &self.queue
    }

    /// The settings.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The adapters.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// This process's name.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Handles one delivery of `job`: claims the cashout (one script: read, due check, lease,
    /// delivery count), performs its next step, and gives the lease back unless the step's
    /// last write already did.
    pub async fn handle(&self, job: &CashoutJob) -> Result<StepReport, StoreError> {
        if delivery::in_scope() {
            self.handle_inner(job).await
        } else {
            delivery::scope(None, self.handle_inner(job)).await.0
        }
    }

    async fn handle_inner(&self, job: &CashoutJob) -> Result<StepReport, StoreError> {
        let id = job.cashout_id;
        let token = format!("{}:{}", self.owner, rand::random::<u64>());
        // A first delivery from a stream reads the record with one GET; the claim script is for
        // redeliveries (counted: a crash loop ends as poison) and for whatever the read finds
        // not ready (not due, leased, undecodable).
        // OMT's GETCTI counts against the account's attempts: it runs under the cashout's lease
        // (the claim), so two deliveries of one cashout never spend two attempts.
        let fresh = job
            .entry
            .as_ref()
            .filter(|e| !e.redelivered && e.provider != Provider::Omt);
        let peeked = if let Some(entry) = fresh {
            match self
                .store
                .peek(
                    &id,
                    entry.provider,
                    &token,
                    self.config.lease(),
                    EARLY_TOLERANCE,
                )
                .await?
            {
                Peek::Ready(rec) => Some(*rec),
                Peek::Claim => None,
            }
        } else {
            None
        };
        let (rec, deliveries) = if let Some(rec) = peeked {
            (rec, 0)
        } else {
            match self
                .store
                .claim(
                    &id,
                    job.entry.as_ref().map(|e| e.provider),
                    &token,
                    self.config.lease(),
                    EARLY_TOLERANCE,
                )
                .await?
            {
                Claim::Missing => return Ok(StepReport::Missing),
                Claim::NotDue => return Ok(StepReport::NotDue),
                Claim::Busy => return Ok(StepReport::Busy),
                Claim::Corrupt(error) => {
                    warn!(cashout_id = %id, %error,
                    "the record cannot be decoded; parked as corrupt_record, kept as found");
                    return Ok(StepReport::Corrupt);
                }
                Claim::Claimed(rec, n) => (*rec, n),
            }
        };
        let span = info_span!(
            "drive",
            cashout_id = %id,
            trace_id = %rec.trace_id,
            provider = rec.order.provider.as_str(),
            attempt = rec.attempts + 1
        );
        if let Some(tp) = rec.traceparent.as_ref().or(job.traceparent.as_ref()) {
            // Continue the enqueue's trace: this delivery (and every poll and retry) is a child
            // of the span that accepted the cashout.
            use tracing_opentelemetry::OpenTelemetrySpanExt;
            let carrier = std::collections::HashMap::from([("traceparent".to_owned(), tp.clone())]);
            let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
            let _ = span.set_parent(parent);
        }
        async {
            // The lease is renewed every third of its length while the step runs, so it can
            // be short (a dead worker's cashouts come back soon) whatever the call timeouts.
            let lease = self.config.lease();
            let step = self.steps(rec, deliveries);
            tokio::pin!(step);
            let result = loop {
                tokio::select! {
                    r = &mut step => break r,
                    _ = tokio::time::sleep(lease / 3) => {
                        if delivery::holds_lease() {
                            // Boxed: a renewal is rare; its future need not widen every
                            // delivery's, of which a worker holds up to its concurrency.
                            match Box::pin(self.store.renew_lease(&id, &token, lease)).await {
                                Ok(true) => {}
                                Ok(false) => warn!("the cashout's lease was lost during the step"),
                                Err(e) => warn!(error = %e, "could not renew the lease"),
                            }
                        }
                    }
                }
            };
            if delivery::holds_lease()
                && let Err(e) = self.store.release_lease(&id, &token).await
            {
                warn!(error = %e, "could not release the lease; it expires by itself");
            }
            match result {
                // Read without a lease, and an operator took it meanwhile: the holder's write
                // schedules what follows.
                Err(StoreError::Leased) => Ok(StepReport::Busy),
                other => other,
            }
        }
        .instrument(span)
        .await
    }

    /// The steps of one delivery: the next step of the claimed cashout and, while each step's
    /// completing write leaves the next one due within `worker.continue_within_ms`, that one
    /// too, up to `worker.max_steps_per_delivery` (a Camoo verify right after its create): each
    /// saves the next delivery's ack, stream entry and claim.
    async fn steps(&self, mut rec: Cashout, deliveries: u32) -> Result<StepReport, StoreError> {
        let within = Duration::from_millis(self.config.continue_within_ms);
        let mut left = self.config.max_steps_per_delivery.max(1);
        let mut deliveries = deliveries;
        let mut continued = false;
        loop {
            left -= 1;
            if left > 0 && !within.is_zero() && !self.is_shutting_down() {
                delivery::allow_continue(within);
            }
            let id = rec.id;
            let report = if continued {
                // A step continued in this delivery: a span of its own, as a delivery's.
                let span = info_span!(
                    "drive",
                    cashout_id = %id,
                    trace_id = %rec.trace_id,
                    provider = rec.order.provider.as_str(),
                    attempt = rec.attempts + 1,
                    continued = true
                );
                self.step(rec, 0).instrument(span).await?
            } else {
                self.step(rec, deliveries).await?
            };
            let Some(at) = delivery::take_continue() else {
                return Ok(report);
            };
            let Some(next) = delivery::cached(&id) else {
                // Cannot happen (the continuing write remembers its record); the pending entry
                // brings the cashout back after the claim idle time.
                warn!("continued delivery lost its record copy");
                return Ok(report);
            };
            if let Ok(wait) = (at - Utc::now()).to_std() {
                tokio::time::sleep(wait).await;
            }
            rec = next;
            deliveries = 0;
            continued = true;
        }
    }

    /// The next step of a claimed cashout.
    async fn step(&self, rec: Cashout, deliveries: u32) -> Result<StepReport, StoreError> {
        if deliveries > self.config.max_deliveries {
            let detail =
                format!("delivered {deliveries} times without completing a step (crash loop?)");
            return self.park(&rec.id, ParkReason::Poison, detail).await;
        }
        // Each provider's step boxed: a delivery holds only its own provider's step (OMT's,
        // the largest, would otherwise size every delivery's future).
        match rec.order.provider {
            Provider::Camoo => match &self.providers.camoo {
                Some(setup) => Box::pin(self.drive(&crate::camoo::CamooFlow(setup), rec)).await,
                None => self.not_configured(rec).await,
            },
            Provider::Omt => match &self.providers.omt {
                Some(setup) => Box::pin(self.drive(&crate::omt::OmtFlow(setup), rec)).await,
                None => self.not_configured(rec).await,
            },
            Provider::Omno => match &self.providers.omno {
                Some(setup) => Box::pin(self.drive(&crate::omno::OmnoFlow(setup), rec)).await,
                None => self.not_configured(rec).await,
            },
        }
    }

    /// A cashout of a provider this process has no adapter for.
    async fn not_configured(&self, rec: Cashout) -> Result<StepReport, StoreError> {
        let detail = format!("{} is not configured", rec.order.provider);
        self.park(&rec.id, ParkReason::ProviderContract, detail)
            .await
    }

    /// Decides what a provider error means for the cashout, by its classification only.
    /// `intent` is the token of the create attempt that failed (creates only); a write about a
    /// create applies only while that attempt's intent is still on the record. `read_deadline`
    /// is the polling deadline for status reads: reads are safe, so they are retried until it
    /// passes rather than a fixed number of times.
    pub(crate) async fn after_error(
        &self,
        rec: &Cashout,
        err: ProviderError,
        op: Operation,
        intent: Option<&str>,
        read_deadline: Option<Duration>,
    ) -> Result<StepReport, StoreError> {
        let retry = self.providers.retry(rec.order.provider);
        let disposition = err.disposition_with(op, &retry.refused_statuses);
        let detail = format!("{op}: {err}");
        warn!(error = %detail, ?disposition, "provider call failed");
        let shutting_down = self.is_shutting_down();
        let intent = intent.map(str::to_owned);
        let seen = crate::flow::intents_of(rec);
        self.update_step_with(&rec.id, !shutting_down, move |r, now| {
            if op == Operation::Read && crate::flow::intents_of(r) != seen {
                // A read runs without the lease: another delivery wrote or settled an intent
                // since it was sent, and schedules what follows; this failure says nothing
                // about that call.
                return None;
            }
            if op == Operation::CreatePayout {
                let ours = !r.state.is_terminal()
                    && r.submit_intent
                        .as_ref()
                        .is_some_and(|i| Some(&i.token) == intent.as_ref());
                if !ours {
                    // Another attempt (or an answer) has taken over since this call started.
                    let cause =
                        format!("late answer of an earlier create attempt ignored: {detail}");
                    return Some(vec![r.entry(now, HistoryKind::Note, None, None, cause)]);
                }
            }
            r.last_error = Some(detail.clone());
            let entries = match &disposition {
                Disposition::Retryable { retry_after } => {
                    if op == Operation::CreatePayout {
                        // The request never left, or was refused before anything was done.
                        r.submit_intent = None;
                    } else {
                        r.attempts += 1;
                    }
                    let since = r.polling_since.or(r.submitted_at).unwrap_or(r.created_at);
                    let past_deadline = read_deadline
                        .is_some_and(|dl| (now - since).to_std().is_ok_and(|d| d >= dl));
                    if past_deadline {
                        let detail = format!("{detail}; polling deadline passed");
                        vec![park_entry(r, ParkReason::DeadlineExceeded, detail, now)]
                    } else if read_deadline.is_none() && r.attempts >= retry.max_attempts {
                        vec![park_entry(
                            r,
                            ParkReason::RetriesExhausted,
                            detail.clone(),
                            now,
                        )]
                    } else {
                        let backoff = full_jitter(exponential(
                            Duration::from_millis(retry.first_delay_ms),
                            retry.factor,
                            Duration::from_millis(retry.max_delay_ms),
                            r.attempts.saturating_sub(1),
                        ));
                        let asked = retry_after.map(|ra| ra.min(MAX_RETRY_AFTER));
                        let delay = asked.map_or(backoff, |ra| ra.max(backoff));
                        r.next_action_at = Some(now + delay);
                        let cause = format!("{detail}; retry in {} ms", delay.as_millis());
                        vec![r.entry(now, HistoryKind::Retry, None, None, cause)]
                    }
                }
                Disposition::OutcomeUnknown if r.hinted_provider_ref.is_some() => {
                    // A signed notification already named a payment: check it now.
                    r.next_action_at = Some(now);
                    let cause = format!("{detail}; a notified payment will be checked");
                    vec![r.entry(now, HistoryKind::Note, None, None, cause)]
                }
                Disposition::OutcomeUnknown => {
                    vec![park_entry(
                        r,
                        ParkReason::OutcomeUnknown,
                        detail.clone(),
                        now,
                    )]
                }
                Disposition::Rejected | Disposition::Locked if op == Operation::CreatePayout => {
                    r.submit_intent = None;
                    apply(r, refusal(r.state), detail.clone(), now)
                }
                Disposition::NeedsOperator(reason) if op == Operation::CreatePayout => {
                    // Refused before executing (credentials, balance, wrong endpoint): the
                    // attempt is given back, and nothing is in doubt.
                    r.submit_intent = None;
                    r.attempts = r.attempts.saturating_sub(1);
                    vec![park_entry(r, *reason, detail.clone(), now)]
                }
                Disposition::NeedsOperator(reason) => {
                    vec![park_entry(r, *reason, detail.clone(), now)]
                }
                // Reads are never classified as refusals; if one were, a person must look.
                Disposition::Rejected | Disposition::Locked => {
                    vec![park_entry(
                        r,
                        ParkReason::ProviderContract,
                        detail.clone(),
                        now,
                    )]
                }
            };
            Some(entries)
        })
        .await
        .inspect(|_| {
            if shutting_down {
                info!(
                    "shutting down: no retry job scheduled; the sweeper will enqueue it when due"
                );
            }
        })
    }

    pub(crate) async fn park(
        &self,
        id: &CashoutId,
        reason: ParkReason,
        detail: String,
    ) -> Result<StepReport, StoreError> {
        self.update_step(id, move |r, now| {
            Some(vec![park_entry(r, reason, detail.clone(), now)])
        })
        .await
    }

    /// An update that completes a step (and schedules the next one), reported as such.
    pub(crate) async fn update_step<F>(
        &self,
        id: &CashoutId,
        f: F,
    ) -> Result<StepReport, StoreError>
    where
        F: FnMut(&mut Cashout, DateTime<Utc>) -> Option<Vec<HistoryEntry>>,
    {
        self.update_step_with(id, true, f).await
    }

    /// [`Driver::update_step`], scheduling the next job only when `push` is set.
    pub(crate) async fn update_step_with<F>(
        &self,
        id: &CashoutId,
        push: bool,
        mut f: F,
    ) -> Result<StepReport, StoreError>
    where
        F: FnMut(&mut Cashout, DateTime<Utc>) -> Option<Vec<HistoryEntry>>,
    {
        let res = self
            .update(id, true, push, |r, now| match f(r, now) {
                Some(entries) => Change::Write { entries, value: () },
                None => Change::Skip(()),
            })
            .await?;
        Ok(match res {
            Modified::Written(r, _, ()) => StepReport::Progressed {
                state: r.state,
                parked: r.parked.map(|p| p.reason),
            },
            Modified::Skipped(..) | Modified::NotFound => StepReport::Conflict,
        })
    }

    /// Applies `f` to the freshest record with [`Store::modify`] (compare-and-set, re-applied on
    /// a conflict) and retries Redis errors with a short backoff: an answer from a provider must
    /// not be lost to a transient write failure. Each logical write carries an id, so one whose
    /// reply was lost is recognised on the next try instead of being applied twice. The same
    /// script delivers the next step when `push` is set (onto the stream when due now, into the
    /// due zset otherwise) and, for a write that completes the step, gives the lease back and
    /// acknowledges the stream entry.
    pub(crate) async fn update<T, F>(
        &self,
        id: &CashoutId,
        completes_step: bool,
        push: bool,
        mut f: F,
    ) -> Result<Modified<T>, StoreError>
    where
        T: Clone,
        F: FnMut(&mut Cashout, DateTime<Utc>) -> Change<T>,
    {
        const TRIES: u32 = 8;
        let write_id = format!("{:016x}", rand::random::<u64>());
        let mut sent: Option<T> = None;
        let mut last_err = None;
        for attempt in 0..TRIES {
            if attempt > 0 {
                tokio::time::sleep(exponential(
                    Duration::from_millis(50),
                    2.0,
                    Duration::from_secs(2),
                    attempt - 1,
                ))
                .await;
            }
            let res = self
                .store
                .modify_with(
                    id,
                    WriteMode {
                        completes_step,
                        push,
                    },
                    |r, now| {
                        if r.last_write.as_deref() == Some(write_id.as_str()) {
                            // Our previous try was written; only its reply was lost. If it was
                            // to take the lease (an intent of a delivery read without one), it
                            // did: renew and give back as after a claim.
                            if !completes_step {
                                delivery::lease_taken(id);
                            }
                            return Change::Skip(None);
                        }
                        match f(r, now) {
                            Change::Write { entries, value } => {
                                r.last_write = Some(write_id.clone());
                                sent = Some(value.clone());
                                Change::Write {
                                    entries,
                                    value: Some(value),
                                }
                            }
                            Change::Skip(v) => Change::Skip(Some(v)),
                        }
                    },
                )
                .await;
            let (next, entries, value) = match res {
                Ok(Modified::Written(next, entries, value)) => (next, entries, value),
                Ok(Modified::Skipped(cur, None)) => (cur, Vec::new(), None),
                Ok(Modified::Skipped(cur, Some(v))) => return Ok(Modified::Skipped(cur, v)),
                Ok(Modified::NotFound) => return Ok(Modified::NotFound),
                Err(StoreError::Leased) => return Err(StoreError::Leased),
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let Some(value) = value.or_else(|| sent.clone()) else {
                last_err = Some(StoreError::Contention);
                continue;
            };
            log_entries(&next, &entries);
            return Ok(Modified::Written(next, entries, value));
        }
        let err = last_err.unwrap_or(StoreError::Contention);
        error!(error = %err, "could not record a step; the sweeper will look again");
        Err(err)
    }
}

/// The event for "the provider said no": a refusal before acceptance, a failure after.
pub(crate) fn refusal(state: State) -> Event {
    match state {
        State::Created => Event::ProviderRefused,
        State::Submitted | State::Confirmed | State::Revoked | State::Failed => {
            Event::ProviderFailed
        }
    }
}

/// Applies an event through the transition table; an illegal one is recorded, not applied.
pub(crate) fn apply(
    r: &mut Cashout,
    event: Event,
    cause: String,
    now: DateTime<Utc>,
) -> Vec<HistoryEntry> {
    match r.apply(event, cause.clone(), now) {
        Ok(entry) => entry.into_iter().collect(),
        Err(illegal) => {
            error!(%illegal, "refused an illegal transition");
            vec![r.entry(
                now,
                HistoryKind::Note,
                None,
                None,
                format!("refused: {illegal} ({cause})"),
            )]
        }
    }
}

/// Parks a cashout in its current state.
pub(crate) fn park_entry(
    r: &mut Cashout,
    reason: ParkReason,
    detail: String,
    now: DateTime<Utc>,
) -> HistoryEntry {
    r.park(reason, detail, now)
}

fn log_entries(r: &Cashout, entries: &[HistoryEntry]) {
    let provider = r.order.provider.as_str();
    for e in entries {
        match e.kind {
            HistoryKind::Transition => {
                if let (Some(from), Some(to)) = (e.from, e.to) {
                    metrics::counter!("cashout_transitions_total",
                        "provider" => provider, "from" => from.as_str(), "to" => to.as_str())
                    .increment(1);
                }
                info!(
                    cashout_id = %r.id,
                    provider = %r.order.provider,
                    from = ?e.from,
                    to = ?e.to,
                    cause = %e.cause,
                    "transition"
                );
            }
            HistoryKind::Parked => {
                let reason = r.parked.as_ref().map_or("unknown", |p| p.reason.as_str());
                metrics::counter!("cashout_parked_total", "provider" => provider, "reason" => reason)
                    .increment(1);
                warn!(cashout_id = %r.id, provider = %r.order.provider, cause = %e.cause, "parked");
            }
            HistoryKind::Retry => {
                metrics::counter!("cashout_retries_total", "provider" => provider).increment(1);
                debug!(cashout_id = %r.id, kind = %e.kind, cause = %e.cause, "history");
            }
            HistoryKind::Created
            | HistoryKind::Submit
            | HistoryKind::ProviderStatus
            | HistoryKind::Confirm
            | HistoryKind::Unparked
            | HistoryKind::Replayed
            | HistoryKind::Operator
            | HistoryKind::Note => {
                debug!(cashout_id = %r.id, kind = %e.kind, cause = %e.cause, "history");
            }
        }
    }
}
