//! The delivery layer: one apalis-redis queue per provider. A job carries only a cashout id and
//! its trace id; the record in Redis says what to do. Delivery is at least once, so every consumer
//! must treat a job as "look at this cashout", never as "do this step".

use crate::keys::Keys;
use crate::store::{StoreError, TRIM_DONE};
use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_redis::{Config, RedisStorage};
use cashout_core::{CashoutId, Provider};
use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a job carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashoutJob {
    /// The cashout to look at.
    pub cashout_id: CashoutId,
    /// The trace it belongs to.
    pub trace_id: String,
    /// W3C `traceparent` of the enqueue span, so the worker's spans join the same trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl CashoutJob {
    /// The job that looks at `cashout`.
    pub fn for_cashout(cashout: &cashout_core::Cashout) -> Self {
        Self {
            cashout_id: cashout.id,
            trace_id: cashout.trace_id.to_string(),
            traceparent: cashout.traceparent.clone(),
        }
    }
}

/// apalis-redis settings that decide liveness and pickup.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// How often a worker heartbeats (and looks for dead workers' jobs).
    pub heartbeat_interval_ms: u64,
    /// Missed heartbeats before a worker is dead and its in-flight jobs are re-enqueued:
    /// orphan recovery takes `heartbeat_interval_ms × missed_heartbeats` (default 5 s × 6 = 30 s).
    pub missed_heartbeats: usize,
    /// Jobs fetched per poll.
    pub batch_size: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 5_000,
            missed_heartbeats: 6,
            batch_size: 10,
        }
    }
}

impl QueueConfig {
    /// `heartbeat × missed`: how long a dead worker's jobs wait before another worker takes them.
    pub fn orphan_recovery(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
            .saturating_mul(u32::try_from(self.missed_heartbeats).unwrap_or(u32::MAX))
    }
}

/// Pushes jobs onto the per-provider queues.
#[derive(Clone)]
pub struct JobQueue {
    conn: ConnectionManager,
    keys: Keys,
    config: QueueConfig,
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue")
            .field("keys", &self.keys)
            .finish()
    }
}

impl JobQueue {
    /// Queues under the store's prefix.
    pub fn new(conn: ConnectionManager, keys: Keys, config: QueueConfig) -> Self {
        Self { conn, keys, config }
    }

    /// The apalis-redis config of a provider's queue.
    pub fn apalis_config(&self, provider: Provider) -> Config {
        Config::default()
            .queue(self.keys.queue(provider))
            .heartbeat_interval(Duration::from_millis(self.config.heartbeat_interval_ms))
            .missed_heartbeats(self.config.missed_heartbeats)
            .batch_size(self.config.batch_size.max(1))
            .emit_events(false)
    }

    /// An apalis storage for a provider's queue (for workers).
    pub fn storage(&self, provider: Provider) -> RedisStorage<CashoutJob> {
        RedisStorage::new(self.conn.clone()).with_config(self.apalis_config(provider))
    }

    /// Enqueues a job to run at `at` (or now, when `at` is in the past). apalis-redis schedules
    /// in whole seconds and runs a job once its second has started, so we round *up*: a job never
    /// runs before its time.
    pub async fn push(
        &self,
        provider: Provider,
        job: CashoutJob,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let secs = u64::try_from((at.timestamp_millis() + 999).div_euclid(1000)).unwrap_or(0);
        let task = TaskBuilder::new(job).run_at_timestamp(secs).build();
        let mut storage = self.storage(provider);
        storage
            .push_task(task)
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))
    }

    /// Deletes the data of finished apalis tasks older than `cutoff` (looking at up to `sample`
    /// of them). Returns how many were removed.
    pub async fn trim_done(
        &self,
        provider: Provider,
        cutoff: DateTime<Utc>,
        sample: usize,
    ) -> Result<u64, StoreError> {
        let cfg = self.apalis_config(provider);
        let mut c = self.conn.clone();
        let n: u64 = TRIM_DONE
            .key(cfg.done_jobs_set())
            .key(cfg.job_data_hash())
            .arg(cfg.job_meta_hash())
            .arg(cutoff.timestamp())
            .arg(sample)
            .invoke_async(&mut c)
            .await?;
        Ok(n)
    }

    /// Jobs waiting (active + scheduled) on a provider's queue.
    pub async fn depth(&self, provider: Provider) -> Result<u64, StoreError> {
        let cfg = self.apalis_config(provider);
        let mut c = self.conn.clone();
        let (a, s): (u64, u64) = redis::pipe()
            .cmd("LLEN")
            .arg(cfg.active_jobs_list())
            .cmd("ZCARD")
            .arg(cfg.scheduled_jobs_set())
            .query_async(&mut c)
            .await?;
        Ok(a + s)
    }
}
