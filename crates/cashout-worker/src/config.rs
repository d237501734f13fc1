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
    /// How long a claimed cashout is held without a heartbeat: the step renews it every third of
    /// this while it runs, so a dead worker's cashouts can be taken again this soon after.
    pub lease_ms: u64,
    /// Deliveries without a completed step before a cashout is parked as `poison`.
    pub max_deliveries: u32,
    /// A step whose next step is due within this long (a Camoo verify right after its create,
    /// when `providers.camoo.poll.first_delay_ms` is that short) goes on in the same delivery:
    /// no ack, no new stream entry, no new claim. 0: every step is a delivery of its own.
    pub continue_within_ms: u64,
    /// At most this many steps in one delivery.
    pub max_steps_per_delivery: u32,
    /// Stream reading, claiming of dead consumers' entries, promotion and trimming.
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
            lease_ms: 10_000,
            max_deliveries: 5,
            continue_within_ms: 200,
            max_steps_per_delivery: 8,
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
