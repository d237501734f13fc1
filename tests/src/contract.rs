//! Stepping the driver by hand, for the provider contract suite (`tests/tests/e2e/contract.rs`)
//! and any test that wants to drive a cashout without starting workers and sleeping.
//!
//! [`drive_until_settled`] plays the part of a worker for one cashout, in the manner of
//! zero2prod's `dispatch_all_pending_emails`: it reads the record, waits until its next step is
//! due (`next_action_at`, never earlier: the delays the driver chose are kept), calls
//! [`Driver::handle`] with the job a stream would carry, and repeats until the cashout is final,
//! parked, or has nothing due (an OMNO cashout waiting for an approve). Keep the delays small with
//! [`crate::Options`]' poll and retry policies.

use cashout_core::{Cashout, CashoutId, HistoryEntry, HistoryKind, State};
use cashout_store::CashoutJob;
use cashout_worker::{Driver, StepReport};
use chrono::Utc;
use std::time::{Duration, Instant};

/// Where [`drive_until_settled`] stopped.
#[derive(Debug, Clone)]
pub struct Settled {
    /// The record as it was left.
    pub record: Cashout,
    /// Its history, oldest first.
    pub history: Vec<HistoryEntry>,
    /// What every [`Driver::handle`] call of this drive reported, in order.
    pub reports: Vec<StepReport>,
}

impl Settled {
    /// The history lines of one kind.
    pub fn entries(&self, kind: HistoryKind) -> Vec<&HistoryEntry> {
        entries(&self.history, kind)
    }

    /// The transitions, as `(from, to)`.
    pub fn transitions(&self) -> Vec<(State, State)> {
        transitions(&self.history)
    }
}

/// The history lines of one kind.
pub fn entries(history: &[HistoryEntry], kind: HistoryKind) -> Vec<&HistoryEntry> {
    history.iter().filter(|e| e.kind == kind).collect()
}

/// The transitions of a history, as `(from, to)`.
pub fn transitions(history: &[HistoryEntry]) -> Vec<(State, State)> {
    history
        .iter()
        .filter(|e| e.kind == HistoryKind::Transition)
        .filter_map(|e| Some((e.from?, e.to?)))
        .collect()
}

/// The job a stream entry would carry for `id` (no entry: the driver claims by id only).
pub fn job_for(id: CashoutId) -> CashoutJob {
    CashoutJob {
        cashout_id: id,
        trace_id: String::new(),
        traceparent: None,
        entry: None,
    }
}

/// The stored record and its history.
pub async fn read(driver: &Driver, id: CashoutId) -> (Cashout, Vec<HistoryEntry>) {
    let rec = driver
        .store()
        .get(&id)
        .await
        .expect("redis")
        .unwrap_or_else(|| panic!("cashout {id} is not stored"));
    let history = driver.store().history(&rec).await.expect("redis");
    (rec, history)
}

/// True when nothing more happens to the cashout without an operator: final, parked, or
/// nothing due.
pub fn is_settled(rec: &Cashout) -> bool {
    rec.state.is_terminal() || rec.parked.is_some() || rec.next_action_at.is_none()
}

/// Steps `id` through `driver` until it is final, parked or has nothing due; waits for each due
/// time the driver recorded (so a `Retry-After` or a poll delay is kept). Panics after `limit`.
pub async fn drive_until_settled(driver: &Driver, id: CashoutId, limit: Duration) -> Settled {
    drive_with(&[driver], id, limit).await
}

/// [`drive_until_settled`] delivering every due step to all `drivers` at once (as several
/// workers handed the same job would): duplicate deliveries at every step.
pub async fn drive_concurrently(drivers: &[&Driver], id: CashoutId, limit: Duration) -> Settled {
    drive_with(drivers, id, limit).await
}

async fn drive_with(drivers: &[&Driver], id: CashoutId, limit: Duration) -> Settled {
    let first = drivers.first().expect("at least one driver");
    let start = Instant::now();
    let job = job_for(id);
    let mut reports = Vec::new();
    loop {
        let (record, history) = read(first, id).await;
        if is_settled(&record) {
            return Settled {
                record,
                history,
                reports,
            };
        }
        assert!(
            start.elapsed() < limit,
            "cashout {id} did not settle within {limit:?}: {record:#?}\nreports: {reports:?}"
        );
        if let Some(due) = record.next_action_at {
            // Never earlier than the driver asked; a little later is harmless.
            if let Ok(wait) = (due - Utc::now()).to_std() {
                tokio::time::sleep(wait.min(limit.saturating_sub(start.elapsed()))).await;
            }
        }
        let step = futures::future::join_all(drivers.iter().map(|d| d.handle(&job))).await;
        let mut busy = false;
        for report in step {
            let report = report.expect("redis");
            busy |= report == StepReport::Busy;
            reports.push(report);
        }
        if busy {
            // Another delivery holds it: look again shortly.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
