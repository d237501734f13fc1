//! The promoter, which is also the net under every lost job. In every worker process, for each
//! consumed provider and partition, it moves cashouts whose time has come from the due zset onto
//! the stream (one script, bounded chunks), sleeping until the earliest next due time (at most
//! `worker.queue.promote_interval_ms`). Since a delivered cashout keeps a redelivery deadline in
//! the zset until a step is recorded, a job lost to a crash, a deleted stream or a bug comes
//! back by the same path. It also trims the streams. Several processes promoting at once is
//! harmless: each move is atomic.

use crate::driver::Driver;
use cashout_store::StoreError;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, warn};

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Cashouts moved onto a stream (due steps and redeliveries).
    pub promoted: u64,
    /// Stream entries trimmed.
    pub trimmed: u64,
    /// The earliest due time left (ms), if any.
    pub next_due_ms: Option<i64>,
}

/// Chunks promoted per stream per sweep at most, so one huge backlog does not starve the others
/// (the next sweep follows at once when there is more).
const MAX_CHUNKS: usize = 8;

/// One promotion pass over every consumed stream (tests call it directly).
pub async fn promote_once(driver: &Driver) -> Result<SweepReport, StoreError> {
    let queue = driver.queue();
    let chunk = queue.config().promote_chunk.max(1) as u64;
    let mut report = SweepReport::default();
    for provider in driver.providers().enabled() {
        for p in driver.store().keys().all_partitions() {
            for _ in 0..MAX_CHUNKS {
                let (moved, next) = queue.promote(provider, p).await?;
                report.promoted += moved;
                if moved < chunk {
                    report.next_due_ms = match (report.next_due_ms, next) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    break;
                }
                // More is due right now.
                report.next_due_ms = Some(0);
            }
        }
    }
    Ok(report)
}

/// One full sweep: promotion and trimming.
pub async fn sweep_once(driver: &Driver) -> Result<SweepReport, StoreError> {
    let mut report = promote_once(driver).await?;
    for provider in driver.providers().enabled() {
        for p in driver.store().keys().all_partitions() {
            report.trimmed += driver.queue().trim(provider, p).await?;
        }
    }
    Ok(report)
}

/// Runs the promoter until `shutdown` turns true.
pub async fn run(driver: Arc<Driver>, mut shutdown: watch::Receiver<bool>) {
    let cfg = driver.queue().config().clone();
    let max_sleep = Duration::from_millis(cfg.promote_interval_ms.max(1));
    let trim_every = Duration::from_millis(cfg.trim_interval_ms.max(10));
    let mut last_trim = tokio::time::Instant::now();
    let mut failures: u32 = 0;
    loop {
        let res = if last_trim.elapsed() >= trim_every {
            last_trim = tokio::time::Instant::now();
            sweep_once(&driver).await
        } else {
            promote_once(&driver).await
        };
        let sleep = match res {
            Ok(r) => {
                failures = 0;
                if r.promoted > 0 || r.trimmed > 0 {
                    debug!(promoted = r.promoted, trimmed = r.trimmed, "sweep");
                }
                let now = Utc::now().timestamp_millis();
                r.next_due_ms.map_or(max_sleep, |t| {
                    Duration::from_millis(u64::try_from(t - now).unwrap_or(0)).min(max_sleep)
                })
            }
            Err(e) => {
                failures += 1;
                warn!(error = %e, "promoter could not reach redis");
                Duration::from_millis(100u64.saturating_mul(1 << failures.min(5)))
            }
        };
        if sleep.is_zero() {
            tokio::task::yield_now().await;
            if *shutdown.borrow() {
                return;
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
    }
}
