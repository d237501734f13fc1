//! Worker settings (`CASHOUT_WORKER__…`).

use cashout_store::QueueConfig;
use serde::Deserialize;
use std::time::Duration;

/// How workers run.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Jobs handled at once per provider queue, per process.
    pub concurrency: usize,
    /// How often an idle worker asks Redis for jobs. apalis-redis has no push wake-up, so this
    /// is the pickup latency.
    pub poll_interval_ms: u64,
    /// How long one worker may hold a cashout; must exceed the longest provider call.
    pub lease_ms: u64,
    /// Deliveries without a completed step before a cashout is parked as `poison`.
    pub max_deliveries: u32,
    /// The sweeper.
    pub sweeper: SweeperConfig,
    /// apalis-redis liveness (heartbeat and orphan recovery).
    pub queue: QueueConfig,
    /// Consecutive failed restarts of a queue's worker before the process gives up on it.
    pub max_restarts: u32,
    /// Where the worker serves `GET /metrics` (`host:port`; empty: off). A port already taken
    /// (several workers on one host) is logged, not fatal.
    pub metrics_listen: String,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            poll_interval_ms: 200,
            lease_ms: 30_000,
            max_deliveries: 5,
            sweeper: SweeperConfig::default(),
            queue: QueueConfig::default(),
            max_restarts: 10,
            metrics_listen: "127.0.0.1:9464".to_owned(),
        }
    }
}

impl WorkerConfig {
    /// The lease duration.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
}

/// The sweeper: the net under every lost job.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweeperConfig {
    /// How often it runs.
    pub interval_ms: u64,
    /// A cashout is overdue once its next step is this late (so normal jobs are not doubled).
    pub grace_ms: u64,
    /// Cashouts re-enqueued per run at most.
    pub batch: usize,
    /// apalis keeps every finished job's data; the sweeper deletes it after this long.
    pub done_retention_secs: u64,
}

impl Default for SweeperConfig {
    fn default() -> Self {
        Self {
            interval_ms: 5_000,
            grace_ms: 15_000,
            batch: 500,
            done_retention_secs: 3_600,
        }
    }
}
