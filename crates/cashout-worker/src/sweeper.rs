//! The sweeper: the net under every lost job. Once per interval, in one process at a time (a
//! Redis lock), it re-enqueues non-terminal, unparked cashouts whose next step is overdue by more
//! than the grace period (each at most once per grace period), and trims apalis' finished-job
//! data.

use crate::driver::Driver;
use cashout_store::{CashoutJob, StoreError};
use chrono::{TimeDelta, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Cashouts enqueued again.
    pub requeued: usize,
    /// Finished apalis jobs whose data was deleted.
    pub trimmed: u64,
}

/// One sweep, without the lock (tests call it directly).
pub async fn sweep_once(driver: &Driver) -> Result<SweepReport, StoreError> {
    let cfg = &driver.config().sweeper;
    let store = driver.store();
    let now = Utc::now();
    let cutoff = now - TimeDelta::milliseconds(i64::try_from(cfg.grace_ms).unwrap_or(i64::MAX));
    let mut report = SweepReport::default();
    for id in store.overdue(cutoff, cfg.batch).await? {
        if store.is_leased(&id).await? {
            continue;
        }
        let rec = match store.get(&id).await {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                // The record is gone (deleted by hand, evicted): drop the stale index entry so
                // it does not take a place in every sweep.
                warn!(cashout_id = %id, "due index names a missing record; removing it");
                store.forget_due(&id).await?;
                continue;
            }
            Err(StoreError::Corrupt { key, message }) => {
                // One unreadable record must not stop the sweep for all the others.
                error!(%key, %message, "unreadable cashout record; skipped");
                continue;
            }
            Err(e) => return Err(e),
        };
        if !rec.is_due(now) {
            continue;
        }
        // Once per grace period at most: a backlog that workers have not reached yet must not
        // be pushed again on every sweep.
        if !store
            .claim_sweep(&id, Duration::from_millis(cfg.grace_ms.max(1)))
            .await?
        {
            continue;
        }
        let job = CashoutJob::for_cashout(&rec);
        driver.queue().push(rec.order.provider, job, now).await?;
        report.requeued += 1;
    }
    let done_cutoff =
        now - TimeDelta::seconds(i64::try_from(cfg.done_retention_secs).unwrap_or(i64::MAX));
    for provider in driver.providers().enabled() {
        report.trimmed += driver.queue().trim_done(provider, done_cutoff, 200).await?;
    }
    Ok(report)
}

/// Runs the sweeper until `shutdown` turns true.
pub async fn run(driver: Arc<Driver>, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(driver.config().sweeper.interval_ms.max(100));
    let owner = format!("{}:sweeper", driver.owner());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        match driver.store().try_sweeper_lock(&owner, interval * 3).await {
            Ok(true) => {
                match sweep_once(&driver).await {
                    Ok(r) if r.requeued > 0 => {
                        info!(
                            requeued = r.requeued,
                            trimmed = r.trimmed,
                            "sweeper re-enqueued overdue cashouts"
                        );
                    }
                    Ok(r) => debug!(trimmed = r.trimmed, "sweep"),
                    Err(e) => warn!(error = %e, "sweep failed"),
                }
                if let Err(e) = driver.store().release_sweeper_lock(&owner).await {
                    debug!(error = %e, "sweeper lock release failed; it expires");
                }
            }
            Ok(false) => debug!("another process is sweeping"),
            Err(e) => warn!(error = %e, "sweeper could not reach redis"),
        }
    }
}
